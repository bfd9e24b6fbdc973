//! The one error type of the `crm` module, and the error a remote sink reports.

use std::time::Duration;

/// Everything that can go wrong storing, reading or exporting cases and call records.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// SQLite reported an error (includes constraint violations and a full disk).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error or the connection failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A stored JSON column or an imported line did not parse.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Reading or writing a file (import, export) failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// No case has this reference.
    #[error("no case with reference {0}")]
    UnknownCase(String),
    /// No dead-letter entry has this id.
    #[error("no dead letter with id {0}")]
    UnknownDeadLetter(i64),
    /// The store's writer thread has stopped (it panicked or the store was closed).
    #[error("the case store is closed")]
    StoreClosed,
    /// A commit in the same group failed, so this one did not happen either.
    #[error("group commit failed: {0}")]
    CommitFailed(String),
    /// The database was written by a newer Frontdoor (a migration number we do not know).
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A value in the store is not one this build understands (a hand-edited row).
    #[error("corrupt row: {0}")]
    CorruptRow(String),
    /// Could not find a free reference after several tries (the reference space is nearly full).
    #[error("could not allocate a unique case reference")]
    ReferenceSpaceExhausted,
    /// A caller-supplied argument was invalid (empty caller number for a purge, bad format name).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Why a remote sink did not accept an event.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SinkError {
    /// Worth trying again later: connection refused, timeout, 5xx, 408, 429.
    /// `retry_after` is the receiver's own hint (HTTP `Retry-After`), when it gave one.
    #[error("transient: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will never succeed as sent (4xx other than 408/429, a body the CRM rejects):
    /// the event goes straight to the dead-letter list for a supervisor.
    #[error("permanent: {reason}")]
    Permanent { reason: String },
}
