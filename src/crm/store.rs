//! [`CaseStore`]: the durable local store of cases, call records and the transactional outbox,
//! on SQLite (embedded default) or PostgreSQL (several instances sharing one store).
//!
//! A case and its outbox rows are committed in one transaction, and `create_case` returns only
//! once that commit is durable, so a reference read back to a caller always exists. This file
//! holds the backend-independent logic; the SQL lives in `sqlite.rs` and `postgres.rs`.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;

use super::case::{
    CaseRecord, CaseStatus, DeadLetter, EventKind, NewCase, OutboxEvent, SinkRegistration,
    event_payload, merge_fields,
};
use super::erasure::ErasureTarget;
use super::error::CrmError;
use super::phone::PhoneNumbering;
use super::postgres::PostgresBackend;
use super::record::CallRecord;
use super::reference::DEFAULT_PREFIX;
use super::sqlite::SqliteBackend;
use crate::pii::Pii;

/// Tries at finding an unused reference before giving up. With 244 million values a second
/// collision in a row means the table is absurdly full or the random source is broken.
pub(crate) const REFERENCE_ATTEMPTS: usize = 8;

/// A change to an existing case.
#[derive(Debug, Clone, Default)]
pub struct CaseUpdate {
    /// Slots to merge in (see [`CaseStore::update_case`]).
    pub fields: serde_json::Value,
    /// Excerpts to append.
    pub transcript_excerpts: Vec<String>,
    /// The call making the update, appended to the case's call ids.
    pub call_id: Option<String>,
    /// New status, if it changes.
    pub status: Option<CaseStatus>,
    /// Accessibility flags raised in this call, added to the case's.
    pub accessibility: Vec<String>,
}

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

/// How long personal free text is kept.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    /// Transcripts (call turns, case excerpts) and delivered outbox payloads older than this are
    /// deleted; the rest of the record (outcome, times, path, media stats) is kept for reporting.
    pub transcripts: Duration,
}

/// What a retention run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub calls_redacted: u64,
    pub cases_redacted: u64,
    pub outbox_rows_deleted: u64,
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

pub(crate) enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}

/// The durable local store. Cheap to share behind an `Arc`; every method is safe to call
/// from many calls at once, and none blocks the calling thread.
pub struct CaseStore {
    backend: Backend,
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
            Backend::Sqlite(SqliteBackend::open(path, numbering)?),
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
            Backend::Postgres(PostgresBackend::connect(conn_str, numbering).await?),
            numbering,
        ))
    }

    fn with_backend(backend: Backend, numbering: PhoneNumbering) -> Self {
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
        let rec = match &self.backend {
            Backend::Sqlite(b) => b.create_case(case, prefix, sinks, now).await?,
            Backend::Postgres(b) => b.create_case(case, prefix, sinks, now).await?,
        };
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
        let rec = match &self.backend {
            Backend::Sqlite(b) => b.update_case(reference, update, sinks, now).await?,
            Backend::Postgres(b) => b.update_case(reference, update, sinks, now).await?,
        };
        self.outbox_written();
        Ok(rec)
    }

    /// The case with this reference, if any.
    pub async fn get_case(&self, reference: &str) -> Result<Option<CaseRecord>, CrmError> {
        match &self.backend {
            Backend::Sqlite(b) => b.get_case(reference.to_string()).await,
            Backend::Postgres(b) => b.get_case(reference).await,
        }
    }

    /// Open cases of the caller number `caller` (in any spelling: it is normalised as stored
    /// numbers are), most recently updated first.
    /// The number may be spoofed or shared: the flow must verify the caller before reading any
    /// of it out.
    pub async fn open_cases_for_caller(&self, caller: &str) -> Result<Vec<CaseRecord>, CrmError> {
        let caller = self.numbering.normalise(caller);
        match &self.backend {
            Backend::Sqlite(b) => b.open_cases_for_caller(caller).await,
            Backend::Postgres(b) => b.open_cases_for_caller(&caller).await,
        }
    }

    /// Stores the record of a finished call (replacing an earlier record of the same Call-ID).
    pub async fn record_call(&self, mut record: CallRecord) -> Result<(), CrmError> {
        record.caller = self.normalise_caller(record.caller.take());
        match &self.backend {
            Backend::Sqlite(b) => b.record_call(record).await,
            Backend::Postgres(b) => b.record_call(record).await,
        }
    }

    /// Cases and call records matching `filter`, oldest first.
    /// The caller filter matches the number in any spelling.
    pub async fn export_records(&self, filter: &ExportFilter) -> Result<RecordsExport, CrmError> {
        let mut filter = filter.clone();
        filter.caller = filter.caller.map(|c| self.numbering.normalise(&c));
        match &self.backend {
            Backend::Sqlite(b) => b.export(filter).await,
            Backend::Postgres(b) => b.export(&filter).await,
        }
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
        let report = match &self.backend {
            Backend::Sqlite(b) => b.purge_caller(target, sinks, now).await?,
            Backend::Postgres(b) => b.purge_caller(target, sinks, now).await?,
        };
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
        match &self.backend {
            Backend::Sqlite(b) => b.apply_retention(cutoff, now).await,
            Backend::Postgres(b) => b.apply_retention(cutoff, now).await,
        }
    }

    /// Events parked after too many failed deliveries, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, CrmError> {
        match &self.backend {
            Backend::Sqlite(b) => b.dead_letters().await,
            Backend::Postgres(b) => b.dead_letters().await,
        }
    }

    /// Puts a dead letter back in the outbox with a fresh attempt count, due now.
    pub async fn retry_dead_letter(&self, id: i64) -> Result<(), CrmError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite(b) => b.retry_dead_letter(id, now).await?,
            Backend::Postgres(b) => b.retry_dead_letter(id, now).await?,
        }
        self.outbox_written();
        Ok(())
    }

    /// Outbox rows not yet delivered to `sink` (pending and dead).
    pub async fn outbox_backlog(&self, sink: &str) -> Result<u64, CrmError> {
        match &self.backend {
            Backend::Sqlite(b) => b.outbox_backlog(sink.to_string()).await,
            Backend::Postgres(b) => b.outbox_backlog(sink).await,
        }
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
        match &self.backend {
            Backend::Sqlite(b) => b.claim_due(sink.to_string(), now, lease_until, limit).await,
            Backend::Postgres(b) => b.claim_due(sink, now, lease_until, limit).await,
        }
    }

    pub(crate) async fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> Result<(), CrmError> {
        match &self.backend {
            Backend::Sqlite(b) => b.mark_delivered(id, now).await,
            Backend::Postgres(b) => b.mark_delivered(id, now).await,
        }
    }

    /// Records a failed attempt: due again at `retry_at`, or dead when `retry_at` is `None`.
    pub(crate) async fn mark_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), CrmError> {
        match &self.backend {
            Backend::Sqlite(b) => b.mark_failed(id, error, retry_at).await,
            Backend::Postgres(b) => b.mark_failed(id, error, retry_at).await,
        }
    }

    /// When the next pending event of `sink` falls due (now or in the past if one is due).
    pub(crate) async fn next_due(&self, sink: &str) -> Result<Option<DateTime<Utc>>, CrmError> {
        match &self.backend {
            Backend::Sqlite(b) => b.next_due(sink.to_string()).await,
            Backend::Postgres(b) => b.next_due(sink).await,
        }
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
        let counts = match &self.backend {
            Backend::Sqlite(b) => b.import_legacy(items, sinks, now).await?,
            Backend::Postgres(b) => b.import_legacy(items, sinks, now).await?,
        };
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

/// A case read from the interim JSON-lines file, keyed by a hash of its line.
pub(crate) struct LegacyCase {
    pub line_key: String,
    pub record: CaseRecord,
}

/// A new case record from what the call handed in.
pub(crate) fn build_case(new: NewCase, reference: String, now: DateTime<Utc>) -> CaseRecord {
    let fields = if new.fields.is_null() {
        serde_json::json!({})
    } else {
        new.fields
    };
    CaseRecord {
        reference,
        service: new.service,
        intent: new.intent,
        fields,
        caller: new.caller,
        language: new.language,
        accessibility: new.accessibility,
        flow_name: new.flow_name,
        flow_version: new.flow_version,
        transcript_excerpts: new.transcript_excerpts,
        call_ids: if new.call_id.is_empty() {
            Vec::new()
        } else {
            vec![new.call_id]
        },
        status: CaseStatus::Open,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The update a `case` node with `update_of` makes to the existing case.
pub(crate) fn update_from_new_case(new: NewCase) -> CaseUpdate {
    CaseUpdate {
        fields: new.fields,
        transcript_excerpts: new.transcript_excerpts,
        call_id: Some(new.call_id).filter(|c| !c.is_empty()),
        status: None,
        accessibility: new.accessibility,
    }
}

/// Applies an update to a stored case and bumps its version.
pub(crate) fn apply_update(case: &mut CaseRecord, update: CaseUpdate, now: DateTime<Utc>) {
    merge_fields(&mut case.fields, update.fields);
    case.transcript_excerpts.extend(update.transcript_excerpts);
    if let Some(id) = update.call_id
        && !case.call_ids.contains(&id)
    {
        case.call_ids.push(id);
    }
    for flag in update.accessibility {
        if !case.accessibility.contains(&flag) {
            case.accessibility.push(flag);
        }
    }
    if let Some(status) = update.status {
        case.status = status;
    }
    case.version += 1;
    case.updated_at = now;
}

/// An outbox row to insert: one per sink per event.
pub(crate) struct NewOutboxRow {
    pub sink: String,
    pub case_ref: String,
    pub kind: EventKind,
    pub sequence: i64,
    pub payload: String,
    pub created_at: i64,
}

/// The erasure event rows for a purged case: one for each sink that had received the case
/// (`had`, sink names) and supports erasure, so the CRM deletes its copy too.
pub(crate) fn erasure_rows(
    reference: &str,
    sequence: i64,
    sinks: &[SinkRegistration],
    had: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<NewOutboxRow>, CrmError> {
    let targets: Vec<SinkRegistration> = sinks
        .iter()
        .filter(|s| had.contains(&s.name))
        .cloned()
        .collect();
    outbox_rows(
        EventKind::CaseErased,
        None,
        reference,
        sequence,
        &targets,
        now,
    )
}

/// The outbox rows for a case event, one per registered sink (erasures only for sinks that
/// support them and are listed in `only`).
pub(crate) fn outbox_rows(
    kind: EventKind,
    case: Option<&CaseRecord>,
    reference: &str,
    sequence: i64,
    sinks: &[SinkRegistration],
    now: DateTime<Utc>,
) -> Result<Vec<NewOutboxRow>, CrmError> {
    if sinks.is_empty() {
        return Ok(Vec::new());
    }
    let payload = serde_json::to_string(&event_payload(kind, sequence, case, reference, now))?;
    Ok(sinks
        .iter()
        .filter(|s| kind != EventKind::CaseErased || s.supports_erasure)
        .map(|s| NewOutboxRow {
            sink: s.name.clone(),
            case_ref: reference.to_string(),
            kind,
            sequence,
            payload: payload.clone(),
            created_at: now.timestamp_millis(),
        })
        .collect())
}
