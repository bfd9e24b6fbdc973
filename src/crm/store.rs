//! [`CaseStore`]: the durable local store of cases, call records and the transactional outbox,
//! on SQLite (embedded default) or PostgreSQL (several instances sharing one store).
//!
//! A case and its outbox rows are committed in one transaction, and `create_case` returns only
//! once that commit is durable, so a reference read back to a caller always exists. This file
//! holds the backend-independent logic and calls the database through [`CaseBackend`]; the SQL
//! lives in `sqlite.rs` and `postgres.rs`, which implement it.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use super::backend::{
    CaseBackend, ExportFilter, LegacyCase, PurgeReport, RecordsExport, RetentionReport,
};
use super::case::{CaseRecord, CaseUpdate, DeadLetter, NewCase, OutboxEvent, SinkRegistration};
use super::erasure::ErasureTarget;
use super::error::CrmError;
use super::phone::PhoneNumbering;
use super::postgres::PostgresBackend;
use super::record::CallRecord;
use super::reference::DEFAULT_PREFIX;
use super::sqlite::SqliteBackend;
use crate::pii::Pii;

/// How long personal free text is kept.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// Transcripts (call turns, case excerpts) and delivered outbox payloads older than this are
    /// deleted; the rest of the record (outcome, times, path, media stats) is kept for reporting.
    pub transcripts: Duration,
}

/// What an import of the interim JSON-lines sink did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub imported: u64,
    /// Lines imported by an earlier run (the import is idempotent).
    pub already_imported: u64,
    /// Lines that were not valid cases, with their 1-based line numbers.
    pub rejected: Vec<(u64, String)>,
}

/// The durable local store. Cheap to share behind an `Arc`; every method is safe to call
/// from many calls at once, and none blocks the calling thread.
pub struct CaseStore {
    /// The database: SQLite or PostgreSQL, behind the operations the store needs of it.
    backend: Box<dyn CaseBackend>,
    sinks: RwLock<Vec<SinkRegistration>>,
    outbox_ready: Arc<Notify>,
    prefix: String,
    /// How caller numbers are normalised before they are stored or matched.
    numbering: PhoneNumbering,
}

impl CaseStore {
    /// Opens (creating and migrating if needed) the SQLite store at `path`. Cases are committed
    /// by one writer thread in groups (see `docs/storage.md`).
    /// National numbers are taken as UK ones (country code 44); see [`open_sqlite_with`].
    ///
    /// [`open_sqlite_with`]: Self::open_sqlite_with
    pub fn open_sqlite(path: &Path) -> Result<Self, CrmError> {
        Self::open_sqlite_with(path, PhoneNumbering::default())
    }

    /// Opens the SQLite store, normalising caller numbers with `numbering` (stored numbers in
    /// another form are migrated once, see `docs/storage.md`).
    pub fn open_sqlite_with(path: &Path, numbering: PhoneNumbering) -> Result<Self, CrmError> {
        Ok(Self::with_backend(
            Box::new(SqliteBackend::open(path, numbering)?),
            numbering,
        ))
    }

    /// Connects to PostgreSQL (`host=… port=… user=… dbname=…` or a `postgresql://` URL,
    /// without TLS) and migrates the schema. National numbers are taken as UK ones.
    pub async fn open_postgres(conn_str: &str) -> Result<Self, CrmError> {
        Self::open_postgres_with(conn_str, PhoneNumbering::default()).await
    }

    /// Connects to PostgreSQL, normalising caller numbers with `numbering`.
    pub async fn open_postgres_with(
        conn_str: &str,
        numbering: PhoneNumbering,
    ) -> Result<Self, CrmError> {
        Ok(Self::with_backend(
            Box::new(PostgresBackend::connect(conn_str, numbering).await?),
            numbering,
        ))
    }

    fn with_backend(backend: Box<dyn CaseBackend>, numbering: PhoneNumbering) -> Self {
        CaseStore {
            backend,
            sinks: RwLock::new(Vec::new()),
            outbox_ready: Arc::new(Notify::new()),
            prefix: DEFAULT_PREFIX.to_string(),
            numbering,
        }
    }

    /// The stored form of a caller number (E.164 when it is one; see [`PhoneNumbering`]).
    pub fn normalise_number(&self, raw: &str) -> String {
        self.numbering.normalise(raw)
    }

    fn normalise_caller(&self, caller: Option<Pii<String>>) -> Option<Pii<String>> {
        caller.map(|c| Pii::new(self.numbering.normalise(c.expose())))
    }

    /// Uses another reference prefix than `TC` (ASCII capitals only; anything else is ignored).
    pub fn with_reference_prefix(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() && prefix.bytes().all(|c| c.is_ascii_uppercase()) {
            self.prefix = prefix.to_string();
        }
        self
    }

    /// Declares a remote sink: every case event committed from now on gets an outbox row for it.
    /// Register all sinks before the first call is answered.
    pub fn register_sink(&self, name: &str, supports_erasure: bool) {
        let mut sinks = self.sinks.write().unwrap_or_else(|p| p.into_inner());
        sinks.retain(|s| s.name != name);
        sinks.push(SinkRegistration {
            name: name.to_string(),
            supports_erasure,
        });
    }

    fn sinks(&self) -> Vec<SinkRegistration> {
        self.sinks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Woken whenever new outbox rows are committed (the outbox workers wait on it).
    pub fn outbox_notifier(&self) -> Arc<Notify> {
        self.outbox_ready.clone()
    }

    fn outbox_written(&self) {
        if !self.sinks.read().map(|s| s.is_empty()).unwrap_or(true) {
            self.outbox_ready.notify_waiters();
        }
    }

    /// Stores a new case (or, with `update_of` naming an existing case, updates that case) with
    /// its outbox rows in one transaction. Returns only once the commit is durable; the returned
    /// reference may then be read to the caller.
    pub async fn create_case(&self, mut case: NewCase) -> Result<CaseRecord, CrmError> {
        case.caller = self.normalise_caller(case.caller.take());
        let now = now_millis();
        let sinks = self.sinks();
        let prefix = self.prefix.clone();
        let rec = self.backend.create_case(case, prefix, sinks, now).await?;
        self.outbox_written();
        Ok(rec)
    }

    /// Merges `fields` into a case's fields (object keys are replaced, nested objects merged,
    /// `null` keeps the old value) and queues a `case.updated` event.
    pub async fn update_case(
        &self,
        reference: &str,
        fields: serde_json::Value,
    ) -> Result<CaseRecord, CrmError> {
        self.apply_case_update(
            reference,
            CaseUpdate {
                fields,
                ..CaseUpdate::default()
            },
        )
        .await
    }

    /// The general form of [`update_case`](Self::update_case): fields, excerpts, call id, status.
    pub async fn apply_case_update(
        &self,
        reference: &str,
        update: CaseUpdate,
    ) -> Result<CaseRecord, CrmError> {
        let now = now_millis();
        let sinks = self.sinks();
        let reference = reference.to_string();
        let rec = self
            .backend
            .update_case(reference, update, sinks, now)
            .await?;
        self.outbox_written();
        Ok(rec)
    }

    /// The case with this reference, if any.
    pub async fn get_case(&self, reference: &str) -> Result<Option<CaseRecord>, CrmError> {
        self.backend.get_case(reference.to_string()).await
    }

    /// Open cases of the caller number `caller` (in any spelling: it is normalised as stored
    /// numbers are), most recently updated first.
    /// The number may be spoofed or shared: the flow must verify the caller before reading any
    /// of it out.
    pub async fn open_cases_for_caller(&self, caller: &str) -> Result<Vec<CaseRecord>, CrmError> {
        let caller = self.numbering.normalise(caller);
        self.backend.open_cases_for_caller(caller).await
    }

    /// Stores the record of a finished call (replacing an earlier record of the same Call-ID).
    pub async fn record_call(&self, mut record: CallRecord) -> Result<(), CrmError> {
        record.caller = self.normalise_caller(record.caller.take());
        self.backend.record_call(record).await
    }

    /// Cases and call records matching `filter`, oldest first.
    /// The caller filter matches the number in any spelling.
    pub async fn export_records(&self, filter: &ExportFilter) -> Result<RecordsExport, CrmError> {
        let mut filter = filter.clone();
        filter.caller = filter.caller.map(|c| self.numbering.normalise(&c));
        self.backend.export(filter).await
    }

    /// Erasure request: deletes every case and call record of `caller` (in any spelling),
    /// drops their outbox rows and dead letters, replaces the number wherever else it is
    /// written (other cases' fields, outbox payloads, transcripts) with `[erased]`, and queues
    /// `case.erased` to each registered sink that supports erasure and had an event for the
    /// case. Then the freed space is overwritten (SQLite: secure delete, `VACUUM` and a WAL
    /// checkpoint; PostgreSQL: `VACUUM`, see `docs/storage.md` for what the operator must add).
    pub async fn purge_caller(&self, caller: &str) -> Result<PurgeReport, CrmError> {
        if caller.trim().is_empty() {
            return Err(CrmError::InvalidArgument("caller number is empty".into()));
        }
        let now = now_millis();
        let sinks = self.sinks();
        let target = ErasureTarget::new(caller, &self.numbering);
        let report = self.backend.purge_caller(target, sinks, now).await?;
        self.outbox_written();
        Ok(report)
    }

    /// Deletes transcripts older than the policy allows (see [`RetentionPolicy`]).
    pub async fn apply_retention(
        &self,
        policy: RetentionPolicy,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport, CrmError> {
        let age = chrono::Duration::from_std(policy.transcripts)
            .map_err(|_| CrmError::InvalidArgument("retention period too long".into()))?;
        let cutoff = now - age;
        self.backend.apply_retention(cutoff, now).await
    }

    /// Events parked after too many failed deliveries, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, CrmError> {
        self.backend.dead_letters().await
    }

    /// Puts a dead letter back in the outbox with a fresh attempt count, due now.
    pub async fn retry_dead_letter(&self, id: i64) -> Result<(), CrmError> {
        let now = now_millis();
        self.backend.retry_dead_letter(id, now).await?;
        self.outbox_written();
        Ok(())
    }

    /// Outbox rows not yet delivered to `sink` (pending and dead).
    pub async fn outbox_backlog(&self, sink: &str) -> Result<u64, CrmError> {
        self.backend.outbox_backlog(sink.to_string()).await
    }

    /// Takes up to `limit` due events for `sink`: only the oldest undelivered event of each case
    /// (so one case's events go out in order, and a dead letter holds back only its own case),
    /// and leases them for `lease` so that another worker or instance does not take them too.
    pub(crate) async fn claim_due(
        &self,
        sink: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>, CrmError> {
        let lease_until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        self.backend
            .claim_due(sink.to_string(), now, lease_until, limit)
            .await
    }

    pub(crate) async fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> Result<(), CrmError> {
        self.backend.mark_delivered(id, now).await
    }

    /// Records a failed attempt: due again at `retry_at`, or dead when `retry_at` is `None`.
    pub(crate) async fn mark_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), CrmError> {
        self.backend.mark_failed(id, error, retry_at).await
    }

    /// When the next pending event of `sink` falls due (now or in the past if one is due).
    pub(crate) async fn next_due(&self, sink: &str) -> Result<Option<DateTime<Utc>>, CrmError> {
        self.backend.next_due(sink.to_string()).await
    }

    /// Imports the interim JSON-lines sink once (see `import_jsonl_cases`).
    pub(crate) async fn import_legacy(
        &self,
        mut items: Vec<LegacyCase>,
    ) -> Result<(u64, u64), CrmError> {
        for item in &mut items {
            item.record.caller = self.normalise_caller(item.record.caller.take());
        }
        let sinks = self.sinks();
        let now = now_millis();
        let counts = self.backend.import_legacy(items, sinks, now).await?;
        self.outbox_written();
        Ok(counts)
    }
}

/// The current time at the store's resolution (milliseconds), so that a record returned from a
/// write is equal to the same record read back.
fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
