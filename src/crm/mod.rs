//! Cases and call records: the `CaseSink` trait, the embedded SQLite store with its outbox,
//! PostgreSQL, and the webhook adapter.
//!
//! Runs off the media path: calls hand cases here over a channel and are told when each is durable.
//!
//! * [`CaseStore`] is the durable local store (SQLite by default, PostgreSQL for several
//!   instances). [`CaseStore::create_case`] commits the case and one outbox row per remote sink
//!   in one transaction and returns only when that is durable: the reference may then be read
//!   back. SQLite work runs on its own writer thread with group commit; PostgreSQL work is async.
//! * [`OutboxWorker`] delivers outbox rows to one [`CaseSink`] (e.g. [`WebhookSink`]): at least
//!   once, in order per case, backoff with jitter, dead letters after N attempts.
//! * [`CallRecord`]s live in the same store; retention, export and erasure are in
//!   [`CaseStore`] and, for the CLI, in [`commands`]; [`RetentionJob`] applies the retention
//!   period in the running server.
//!
//! Must not touch: sockets of calls, audio, flows. It never logs personal data in clear (values
//! are [`Pii`](crate::pii::Pii) or redacted in `Debug`).

mod backend;
mod case;
pub mod commands;
mod erasure;
mod error;
mod import;
mod migrations;
mod outbox;
mod phone;
mod postgres;
mod record;
mod reference;
mod retention;
mod rows;
mod sink;
mod sqlite;
mod store;
mod webhook;

pub use backend::{ExportFilter, PurgeReport, RecordsExport, RetentionReport};
pub use case::{
    CaseRecord, CaseStatus, CaseUpdate, DeadLetter, EventKind, NewCase, OutboxEvent,
    SinkRegistration, fields_match_caller_answers,
};
pub use commands::{
    ExportFormat, dead_letter_list_cmd, dead_letter_retry_cmd, records_export_cmd,
    records_purge_cmd, records_retention_cmd,
};
pub use error::{CrmError, SinkError};
pub use outbox::{Backoff, OutboxConfig, OutboxWorker};
pub use phone::PhoneNumbering;
pub use record::{CallRecord, MediaQuality, Outcome, Turn};
pub use reference::{
    REFERENCE_ALPHABET, is_reference, new_reference, new_reference_with_prefix, spoken_reference,
    spoken_reference_groups,
};
pub use retention::{RETENTION_INTERVAL, RetentionJob, WallClock, policy_for_days};
pub use sink::CaseSink;
pub use store::{CaseStore, ImportReport, RetentionPolicy};
pub use webhook::{
    EVENT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, WebhookSink, sign, verify_signature,
};
