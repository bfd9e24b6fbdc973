//! [`CaseBackend`]: what the case store asks of a database, and the types those requests carry.
//!
//! The SQLite (`sqlite.rs`) and PostgreSQL (`postgres.rs`) backends each implement the trait in
//! their own file; `store.rs` holds one of them behind the trait and adds what does not depend on
//! the database (number normalisation, sink registrations, outbox wake-ups). Neither backend
//! imports the store, and the store never names a backend's internals.
//!
//! Both backends keep the same logical schema and semantics (see `rows.rs`): a case and its
//! outbox rows commit in one transaction, and every method returns only once its work is durable.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::case::{CaseRecord, CaseUpdate, DeadLetter, NewCase, OutboxEvent, SinkRegistration};
use super::erasure::ErasureTarget;
use super::error::CrmError;
use super::record::CallRecord;

/// Tries at finding an unused reference before giving up. With 244 million values a second
/// collision in a row means the table is absurdly full or the random source is broken.
pub(crate) const REFERENCE_ATTEMPTS: usize = 8;

/// Which records an export covers.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// Only records that started (calls) or were created (cases) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only records of this caller number (subject-access request).
    pub caller: Option<String>,
}

/// The records an export found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecordsExport {
    pub cases: Vec<CaseRecord>,
    pub calls: Vec<CallRecord>,
}

/// What an erasure request removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub cases_deleted: u64,
    pub calls_deleted: u64,
    /// `case.erased` events queued to sinks that support erasure.
    pub erasures_queued: u64,
}

/// What a retention run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub calls_redacted: u64,
    pub cases_redacted: u64,
    pub outbox_rows_deleted: u64,
}

/// A case read from the interim JSON-lines file, keyed by a hash of its line.
pub(crate) struct LegacyCase {
    pub line_key: String,
    pub record: CaseRecord,
}

/// The future a backend operation returns: boxed, so the store can hold any backend as a
/// `dyn CaseBackend`, and `Send`, so calls and outbox workers can await it on any thread.
pub(crate) type BackendFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, CrmError>> + Send + 'a>>;

/// A database that stores cases, call records and the outbox. Caller numbers arrive already
/// normalised, and times at the store's millisecond resolution: a backend stores what it is
/// given. Every write commits before its future resolves.
pub(crate) trait CaseBackend: Send + Sync {
    /// Stores a new case (or updates the case `new.update_of` names, if it exists) with one
    /// outbox row per sink, under a fresh reference with `prefix`.
    fn create_case(
        &self,
        new: NewCase,
        prefix: String,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, CaseRecord>;

    /// Applies `update` to the case `reference` and queues `case.updated` to each sink.
    fn update_case(
        &self,
        reference: String,
        update: CaseUpdate,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, CaseRecord>;

    fn get_case(&self, reference: String) -> BackendFuture<'_, Option<CaseRecord>>;

    /// Open cases of the (normalised) caller number, most recently updated first.
    fn open_cases_for_caller(&self, caller: String) -> BackendFuture<'_, Vec<CaseRecord>>;

    /// Stores a call record, replacing an earlier one of the same Call-ID.
    fn record_call(&self, record: CallRecord) -> BackendFuture<'_, ()>;

    /// Cases and call records matching `filter` (caller already normalised), oldest first.
    fn export(&self, filter: ExportFilter) -> BackendFuture<'_, RecordsExport>;

    /// Deletes everything of `target`'s caller, redacts the number elsewhere, queues
    /// `case.erased` to the sinks that had the case, then overwrites the freed space.
    fn purge_caller(
        &self,
        target: ErasureTarget,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, PurgeReport>;

    /// Deletes transcripts of records older than `cutoff` and delivered outbox rows.
    fn apply_retention(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, RetentionReport>;

    /// Takes up to `limit` due events of `sink`, the oldest undelivered one of each case only,
    /// and leases them until `lease_until`.
    fn claim_due(
        &self,
        sink: String,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> BackendFuture<'_, Vec<OutboxEvent>>;

    fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> BackendFuture<'_, ()>;

    /// Records a failed attempt: due again at `retry_at`, or dead when it is `None`.
    fn mark_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> BackendFuture<'_, ()>;

    /// When the next pending event of `sink` that heads its case falls due.
    fn next_due(&self, sink: String) -> BackendFuture<'_, Option<DateTime<Utc>>>;

    fn dead_letters(&self) -> BackendFuture<'_, Vec<DeadLetter>>;

    /// Puts dead letter `id` back in the outbox, due at `now`.
    fn retry_dead_letter(&self, id: i64, now: DateTime<Utc>) -> BackendFuture<'_, ()>;

    /// Outbox rows not yet delivered to `sink` (pending and dead).
    fn outbox_backlog(&self, sink: String) -> BackendFuture<'_, u64>;

    /// Imports legacy cases not imported before; returns (imported, already imported).
    fn import_legacy(
        &self,
        items: Vec<LegacyCase>,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, (u64, u64)>;
}
