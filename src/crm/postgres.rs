//! The PostgreSQL backend, for several Frontdoor instances sharing one store.
//!
//! Same logical schema and semantics as `sqlite.rs`. A small pool of connections carries the
//! statements; each operation is one transaction, so a case and its outbox rows commit together
//! (durable on return with the server's default `synchronous_commit = on`). Outbox claims use
//! `FOR UPDATE SKIP LOCKED` plus a lease, so two instances never deliver the same row at once.
//! A connection that dropped is reopened on next use.
//!
//! Erasure: PostgreSQL keeps deleted row versions until `VACUUM` marks their space reusable,
//! and in its WAL and base backups until they age out. After a purge or a retention run the
//! affected tables are vacuumed (plain `VACUUM`, which does not block the server's work); what
//! only the operator can do (`VACUUM (FULL)`, WAL archive and backup retention) is in
//! docs/storage.md.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row, Transaction};

use super::backend::{
    BackendFuture, CaseBackend, ExportFilter, LegacyCase, PurgeReport, REFERENCE_ATTEMPTS,
    RecordsExport, RetentionReport,
};
use super::case::{
    CaseRecord, CaseUpdate, DeadLetter, EventKind, NewCase, OutboxEvent, SinkRegistration,
    apply_update, build_case, update_from_new_case,
};
use super::erasure::{ErasureTarget, MENTION_TABLES, select_mentions_sql};
use super::error::CrmError;
use super::migrations;
use super::phone::PhoneNumbering;
use super::record::CallRecord;
use super::reference::new_reference_with_prefix;
use super::rows::{
    CallRow, CaseRow, Columns, NewOutboxRow, OutboxRow, erasure_rows, from_millis, outbox_rows,
    strip_transcripts, to_millis,
};

/// Connections in the pool: enough concurrent transactions for the server to share WAL flushes
/// between calls (4 gave ~1 100 commits/s in benches/crm.rs, 12 gave ~3 800), few enough to leave
/// the server's default 100 connection slots to several instances.
const POOL_SIZE: usize = 12;
/// Key of the advisory lock that serialises migrations between instances starting together.
const MIGRATION_LOCK: i64 = 0x4644_4352_4d01;

pub(crate) struct PostgresBackend {
    conn_str: String,
    pool: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
    numbering: PhoneNumbering,
}

/// Tables a purge or retention run deletes from, vacuumed afterwards.
const ERASED_TABLES: &str = "cases, outbox, call_records, legacy_imports";

/// Keeps only the oldest undelivered row of each case (see the SQLite backend).
macro_rules! head_of_case {
    () => {
        " AND NOT EXISTS (SELECT 1 FROM outbox p
            WHERE p.sink = o.sink AND p.case_ref = o.case_ref AND p.id < o.id AND p.status <> 'delivered')"
    };
}

impl PostgresBackend {
    pub async fn connect(conn_str: &str, numbering: PhoneNumbering) -> Result<Self, CrmError> {
        let backend = PostgresBackend {
            conn_str: conn_str.to_string(),
            pool: (0..POOL_SIZE).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            numbering,
        };
        let mut slot = backend.acquire().await?;
        let client = slot.as_mut().ok_or(CrmError::StoreClosed)?;
        migrate(client, &numbering).await?;
        drop(slot);
        Ok(backend)
    }

    /// Plain `VACUUM` of the tables an erasure touched, so the space of the deleted row
    /// versions is reclaimed and reused (it does not overwrite it at once, nor the WAL; see
    /// docs/storage.md). Outside any transaction, as `VACUUM` requires. A failure is logged:
    /// the deletion itself has committed.
    async fn vacuum_erased(&self) {
        let outcome = async {
            let slot = self.acquire().await?;
            let client = slot.as_ref().ok_or(CrmError::StoreClosed)?;
            client
                .batch_execute(&format!("VACUUM {ERASED_TABLES}"))
                .await
                .map_err(CrmError::from)
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "VACUUM after erasure failed; run it by hand (docs/storage.md)");
        }
    }

    /// A pooled connection, reconnecting it if the server closed it.
    async fn acquire(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Client>>, CrmError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut slot = None;
        for i in 0..self.pool.len() {
            if let Some(m) = self.pool.get((start + i) % self.pool.len())
                && let Ok(guard) = m.try_lock()
            {
                slot = Some(guard);
                break;
            }
        }
        let mut guard = match slot {
            Some(g) => g,
            None => {
                self.pool
                    .get(start % self.pool.len())
                    .ok_or(CrmError::StoreClosed)?
                    .lock()
                    .await
            }
        };
        if guard.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, connection) = tokio_postgres::connect(&self.conn_str, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "postgres connection closed");
                }
            });
            *guard = Some(client);
        }
        Ok(guard)
    }

    /// Runs `work` in one transaction on a pooled connection.
    async fn with_tx<R>(
        &self,
        work: impl AsyncFnOnce(&Transaction<'_>) -> Result<R, CrmError>,
    ) -> Result<R, CrmError> {
        let mut slot = self.acquire().await?;
        let client = slot.as_mut().ok_or(CrmError::StoreClosed)?;
        let tx = client.transaction().await?;
        let out = work(&tx).await?;
        tx.commit().await?;
        Ok(out)
    }
}

impl CaseBackend for PostgresBackend {
    fn create_case(
        &self,
        new: NewCase,
        prefix: String,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, CaseRecord> {
        Box::pin(async move {
            self.with_tx(async move |tx| {
                if let Some(existing) = new.update_of.as_deref()
                    && let Some(mut case) = load_case(tx, existing, true).await?
                {
                    apply_update(&mut case, update_from_new_case(new), now);
                    save_case(tx, &case).await?;
                    let rows = outbox_rows(
                        EventKind::CaseUpdated,
                        Some(&case),
                        &case.reference,
                        case.version,
                        &sinks,
                        now,
                    )?;
                    insert_outbox(tx, &rows, now).await?;
                    return Ok(case);
                }
                for _ in 0..REFERENCE_ATTEMPTS {
                    let reference = new_reference_with_prefix(&mut rand::rng(), &prefix);
                    let case = build_case(new.clone(), reference, now);
                    if !insert_case(tx, &case).await? {
                        continue;
                    }
                    let rows = outbox_rows(
                        EventKind::CaseCreated,
                        Some(&case),
                        &case.reference,
                        1,
                        &sinks,
                        now,
                    )?;
                    insert_outbox(tx, &rows, now).await?;
                    return Ok(case);
                }
                Err(CrmError::ReferenceSpaceExhausted)
            })
            .await
        })
    }

    fn update_case(
        &self,
        reference: String,
        update: CaseUpdate,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, CaseRecord> {
        Box::pin(async move {
            self.with_tx(async move |tx| {
                let mut case = load_case(tx, &reference, true)
                    .await?
                    .ok_or(CrmError::UnknownCase(reference))?;
                apply_update(&mut case, update, now);
                save_case(tx, &case).await?;
                let rows = outbox_rows(
                    EventKind::CaseUpdated,
                    Some(&case),
                    &case.reference,
                    case.version,
                    &sinks,
                    now,
                )?;
                insert_outbox(tx, &rows, now).await?;
                Ok(case)
            })
            .await
        })
    }

    fn get_case(&self, reference: String) -> BackendFuture<'_, Option<CaseRecord>> {
        Box::pin(async move {
            self.with_tx(async move |tx| load_case(tx, &reference, false).await)
                .await
        })
    }

    fn open_cases_for_caller(&self, caller: String) -> BackendFuture<'_, Vec<CaseRecord>> {
        Box::pin(async move {
            self.with_tx(async move |tx| {
                let rows = tx
                    .query(
                        "SELECT * FROM cases WHERE caller = $1 AND status = 'open' ORDER BY updated_at DESC",
                        &[&caller],
                    )
                    .await?;
                rows.iter().map(|r| case_row(r)?.into_record()).collect()
            })
            .await
        })
    }

    fn record_call(&self, record: CallRecord) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            let r = CallRow::from_record(&record)?;
            self.with_tx(async move |tx| {
                tx.execute(
                    "INSERT INTO call_records (call_id, started_at, answered_at, ended_at, caller, flow_name,
                 flow_version, node_path, turns, outcome, survey, language, accessibility, hangup_cause,
                 packets_in, packets_out, lost, jitter_ms, case_refs, transcripts_deleted_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, NULL)
                 ON CONFLICT (call_id) DO UPDATE SET started_at = EXCLUDED.started_at,
                 answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at, caller = EXCLUDED.caller,
                 flow_name = EXCLUDED.flow_name, flow_version = EXCLUDED.flow_version,
                 node_path = EXCLUDED.node_path, turns = EXCLUDED.turns, outcome = EXCLUDED.outcome,
                 survey = EXCLUDED.survey, language = EXCLUDED.language, accessibility = EXCLUDED.accessibility,
                 hangup_cause = EXCLUDED.hangup_cause, packets_in = EXCLUDED.packets_in,
                 packets_out = EXCLUDED.packets_out, lost = EXCLUDED.lost, jitter_ms = EXCLUDED.jitter_ms,
                 case_refs = EXCLUDED.case_refs, transcripts_deleted_at = NULL",
                    &[
                        &r.call_id,
                        &r.started_at,
                        &r.answered_at,
                        &r.ended_at,
                        &r.caller,
                        &r.flow_name,
                        &r.flow_version,
                        &r.node_path,
                        &r.turns,
                        &r.outcome,
                        &r.survey,
                        &r.language,
                        &r.accessibility,
                        &r.hangup_cause,
                        &r.packets_in,
                        &r.packets_out,
                        &r.lost,
                        &r.jitter_ms,
                        &r.case_refs,
                    ],
                )
                .await?;
                Ok(())
            })
            .await
        })
    }

    fn export(&self, filter: ExportFilter) -> BackendFuture<'_, RecordsExport> {
        Box::pin(async move {
            let since = filter.since.map(to_millis);
            let caller = filter.caller.clone();
            self.with_tx(async move |tx| {
                let cases = tx
                    .query(
                        "SELECT * FROM cases WHERE ($1::BIGINT IS NULL OR updated_at >= $1)
                     AND ($2::TEXT IS NULL OR caller = $2) ORDER BY created_at, reference",
                        &[&since, &caller],
                    )
                    .await?
                    .iter()
                    .map(|r| case_row(r)?.into_record())
                    .collect::<Result<Vec<_>, _>>()?;
                let calls = tx
                    .query(
                        "SELECT * FROM call_records WHERE ($1::BIGINT IS NULL OR started_at >= $1)
                     AND ($2::TEXT IS NULL OR caller = $2) ORDER BY started_at, call_id",
                        &[&since, &caller],
                    )
                    .await?
                    .iter()
                    .map(|r| call_row(r)?.into_record())
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(RecordsExport { cases, calls })
            })
            .await
        })
    }

    fn purge_caller(
        &self,
        target: ErasureTarget,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, PurgeReport> {
        Box::pin(async move {
            let numbering = self.numbering;
            let report = self
                .with_tx(async move |tx| {
                    let mut report = PurgeReport::default();
                    let caller = target.stored.as_str();
                    let cases = tx
                        .query(
                            "SELECT reference, version FROM cases WHERE caller = $1 FOR UPDATE",
                            &[&caller],
                        )
                        .await?;
                    for row in cases {
                        let reference: String = row.try_get(0)?;
                        let version: i64 = row.try_get(1)?;
                        let had: Vec<String> = tx
                            .query(
                                "SELECT DISTINCT sink FROM outbox WHERE case_ref = $1",
                                &[&reference],
                            )
                            .await?
                            .iter()
                            .map(|r| r.try_get(0))
                            .collect::<Result<_, _>>()?;
                        tx.execute("DELETE FROM outbox WHERE case_ref = $1", &[&reference])
                            .await?;
                        tx.execute("DELETE FROM cases WHERE reference = $1", &[&reference])
                            .await?;
                        // As in the SQLite backend: keep the line key, not the reference.
                        tx.execute(
                            "UPDATE legacy_imports SET reference = '' WHERE reference = $1",
                            &[&reference],
                        )
                        .await?;
                        report.cases_deleted += 1;
                        let rows = erasure_rows(&reference, version + 1, &sinks, &had, now)?;
                        report.erasures_queued += rows.len() as u64;
                        insert_outbox(tx, &rows, now).await?;
                    }
                    report.calls_deleted = tx
                        .execute("DELETE FROM call_records WHERE caller = $1", &[&caller])
                        .await?;
                    redact_mentions(tx, &target, &numbering).await?;
                    Ok(report)
                })
                .await?;
            self.vacuum_erased().await;
            Ok(report)
        })
    }

    fn apply_retention(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, RetentionReport> {
        Box::pin(async move {
            let cutoff = to_millis(cutoff);
            let now = to_millis(now);
            let report = self.with_tx(async move |tx| {
                let mut report = RetentionReport::default();
                let calls = tx
                    .query(
                        "SELECT call_id, turns FROM call_records WHERE started_at < $1 AND transcripts_deleted_at IS NULL
                     FOR UPDATE",
                        &[&cutoff],
                    )
                    .await?;
                for row in calls {
                    let call_id: String = row.try_get(0)?;
                    let turns: String = row.try_get(1)?;
                    let turns = strip_transcripts(&turns)?;
                    tx.execute(
                        "UPDATE call_records SET turns = $1, transcripts_deleted_at = $2 WHERE call_id = $3",
                        &[&turns, &now, &call_id],
                    )
                    .await?;
                    report.calls_redacted += 1;
                }
                report.cases_redacted = tx
                    .execute(
                        "UPDATE cases SET transcript_excerpts = '[]' WHERE created_at < $1 AND transcript_excerpts <> '[]'",
                        &[&cutoff],
                    )
                    .await?;
                report.outbox_rows_deleted = tx
                    .execute("DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < $1", &[&cutoff])
                    .await?;
                Ok(report)
            })
            .await?;
            if report.calls_redacted + report.cases_redacted + report.outbox_rows_deleted > 0 {
                self.vacuum_erased().await;
            }
            Ok(report)
        })
    }

    fn claim_due(
        &self,
        sink: String,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> BackendFuture<'_, Vec<OutboxEvent>> {
        Box::pin(async move {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let (now, lease_until) = (to_millis(now), to_millis(lease_until));
            self.with_tx(async move |tx| {
                let rows = tx
                    .query(
                        concat!(
                            "WITH due AS (SELECT o.id FROM outbox o
                         WHERE o.sink = $1 AND o.status = 'pending' AND o.next_attempt_at <= $2",
                            head_of_case!(),
                            " ORDER BY o.id LIMIT $3 FOR UPDATE SKIP LOCKED)
                         UPDATE outbox SET next_attempt_at = $4 FROM due WHERE outbox.id = due.id
                         RETURNING outbox.*"
                        ),
                        &[&sink, &now, &limit, &lease_until],
                    )
                    .await?;
                let mut events = rows
                    .iter()
                    .map(|r| outbox_row(r)?.into_event())
                    .collect::<Result<Vec<_>, _>>()?;
                events.sort_by_key(|e| e.id);
                Ok(events)
            })
            .await
        })
    }

    fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            let now = to_millis(now);
            self.with_tx(async move |tx| {
                // As in the SQLite backend: a delivered erasure is deleted, not kept.
                let erased = tx
                    .execute(
                        "DELETE FROM outbox WHERE id = $1 AND kind = 'case.erased' AND status <> 'delivered'",
                        &[&id],
                    )
                    .await?;
                if erased == 0 {
                    tx.execute(
                        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, last_error = NULL
                     WHERE id = $2",
                        &[&now, &id],
                    )
                    .await?;
                }
                Ok(())
            })
            .await
        })
    }

    fn mark_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            let retry_at = retry_at.map(to_millis);
            self.with_tx(async move |tx| {
                tx.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $1,
                 status = CASE WHEN $2::BIGINT IS NULL THEN 'dead' ELSE 'pending' END,
                 next_attempt_at = COALESCE($2::BIGINT, next_attempt_at) WHERE id = $3",
                    &[&error, &retry_at, &id],
                )
                .await?;
                Ok(())
            })
            .await
        })
    }

    fn next_due(&self, sink: String) -> BackendFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            self.with_tx(async move |tx| {
                let row = tx
                    .query_one(
                        concat!(
                            "SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.sink = $1 AND o.status = 'pending'",
                            head_of_case!()
                        ),
                        &[&sink],
                    )
                    .await?;
                let ms: Option<i64> = row.try_get(0)?;
                ms.map(from_millis).transpose()
            })
            .await
        })
    }

    fn dead_letters(&self) -> BackendFuture<'_, Vec<DeadLetter>> {
        Box::pin(async move {
            self.with_tx(async move |tx| {
                tx.query(
                    "SELECT * FROM outbox WHERE status = 'dead' ORDER BY id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| outbox_row(r)?.into_dead_letter())
                .collect()
            })
            .await
        })
    }

    fn retry_dead_letter(&self, id: i64, now: DateTime<Utc>) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            let now = to_millis(now);
            self.with_tx(async move |tx| {
                let n = tx
                    .execute(
                        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1
                     WHERE id = $2 AND status = 'dead'",
                        &[&now, &id],
                    )
                    .await?;
                if n == 0 {
                    Err(CrmError::UnknownDeadLetter(id))
                } else {
                    Ok(())
                }
            })
            .await
        })
    }

    fn outbox_backlog(&self, sink: String) -> BackendFuture<'_, u64> {
        Box::pin(async move {
            self.with_tx(async move |tx| {
                let n: i64 = tx
                    .query_one(
                        "SELECT COUNT(*) FROM outbox WHERE sink = $1 AND status <> 'delivered'",
                        &[&sink],
                    )
                    .await?
                    .try_get(0)?;
                Ok(u64::try_from(n).unwrap_or(0))
            })
            .await
        })
    }

    fn import_legacy(
        &self,
        items: Vec<LegacyCase>,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, (u64, u64)> {
        Box::pin(async move {
            self.with_tx(async move |tx| {
                let (mut imported, mut skipped) = (0, 0);
                for item in items {
                    let fresh = tx
                        .execute(
                            "INSERT INTO legacy_imports (line_key, reference, imported_at) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING",
                            &[&item.line_key, &item.record.reference, &to_millis(now)],
                        )
                        .await?
                        == 1;
                    if !fresh || !insert_case(tx, &item.record).await? {
                        skipped += 1;
                        continue;
                    }
                    let rows = outbox_rows(
                        EventKind::CaseCreated,
                        Some(&item.record),
                        &item.record.reference,
                        item.record.version,
                        &sinks,
                        now,
                    )?;
                    insert_outbox(tx, &rows, now).await?;
                    imported += 1;
                }
                Ok((imported, skipped))
            })
            .await
        })
    }
}

async fn migrate(client: &mut Client, numbering: &PhoneNumbering) -> Result<(), CrmError> {
    let tx = client.transaction().await?;
    // Instances starting together take turns; the second finds the work done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
            &[],
        )
        .await?
        .try_get(0)?;
    let supported = migrations::POSTGRES.last().map(|(n, _)| *n).unwrap_or(0);
    if current > supported {
        return Err(CrmError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (n, sql) in migrations::POSTGRES.iter().filter(|(n, _)| *n > current) {
        tx.batch_execute(sql).await?;
        if *n == migrations::NORMALISED_CALLERS {
            normalise_stored_callers(&tx, numbering).await?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[n, &to_millis(Utc::now())],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Inserts a case; `false` when the reference is already taken.
async fn insert_case(tx: &Transaction<'_>, case: &CaseRecord) -> Result<bool, CrmError> {
    let r = CaseRow::from_record(case)?;
    let n = tx
        .execute(
            "INSERT INTO cases (reference, service, intent, fields, caller, language, accessibility, flow_name,
             flow_version, transcript_excerpts, call_ids, status, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (reference) DO NOTHING",
            &[
                &r.reference,
                &r.service,
                &r.intent,
                &r.fields,
                &r.caller,
                &r.language,
                &r.accessibility,
                &r.flow_name,
                &r.flow_version,
                &r.transcript_excerpts,
                &r.call_ids,
                &r.status,
                &r.version,
                &r.created_at,
                &r.updated_at,
            ],
        )
        .await?;
    Ok(n == 1)
}

async fn save_case(tx: &Transaction<'_>, case: &CaseRecord) -> Result<(), CrmError> {
    let r = CaseRow::from_record(case)?;
    tx.execute(
        "UPDATE cases SET fields = $2, accessibility = $3, transcript_excerpts = $4, call_ids = $5, status = $6,
         version = $7, updated_at = $8 WHERE reference = $1",
        &[&r.reference, &r.fields, &r.accessibility, &r.transcript_excerpts, &r.call_ids, &r.status, &r.version, &r.updated_at],
    )
    .await?;
    Ok(())
}

async fn insert_outbox(
    tx: &Transaction<'_>,
    rows: &[NewOutboxRow],
    now: DateTime<Utc>,
) -> Result<(), CrmError> {
    let now = to_millis(now);
    for r in rows {
        tx.execute(
            "INSERT INTO outbox (sink, case_ref, kind, sequence, payload, status, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)",
            &[&r.sink, &r.case_ref, &r.kind.as_str(), &r.sequence, &r.payload, &now, &r.created_at],
        )
        .await?;
    }
    Ok(())
}

/// Loads a case; `lock` takes a row lock so that concurrent updates of one case serialise and
/// their events get consecutive sequence numbers in commit order.
async fn load_case(
    tx: &Transaction<'_>,
    reference: &str,
    lock: bool,
) -> Result<Option<CaseRecord>, CrmError> {
    let sql = if lock {
        "SELECT * FROM cases WHERE reference = $1 FOR UPDATE"
    } else {
        "SELECT * FROM cases WHERE reference = $1"
    };
    tx.query_opt(sql, &[&reference])
        .await?
        .map(|r| case_row(&r)?.into_record())
        .transpose()
}

fn case_row(r: &Row) -> Result<CaseRow, CrmError> {
    Ok(CaseRow::read(r)?)
}

fn call_row(r: &Row) -> Result<CallRow, CrmError> {
    Ok(CallRow::read(r)?)
}

fn outbox_row(r: &Row) -> Result<OutboxRow, CrmError> {
    Ok(OutboxRow::read(r)?)
}

impl Columns for Row {
    type Error = tokio_postgres::Error;
    fn text(&self, column: &str) -> Result<String, Self::Error> {
        self.try_get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, Self::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<i64, Self::Error> {
        self.try_get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, Self::Error> {
        self.try_get(column)
    }
    fn real(&self, column: &str) -> Result<f64, Self::Error> {
        self.try_get(column)
    }
}

/// Rewrites every stored caller number in its normalised form (see the SQLite backend).
async fn normalise_stored_callers(
    tx: &Transaction<'_>,
    numbering: &PhoneNumbering,
) -> Result<(), CrmError> {
    for table in ["cases", "call_records"] {
        let rows = tx
            .query(
                &format!("SELECT DISTINCT caller FROM {table} WHERE caller IS NOT NULL"),
                &[],
            )
            .await?;
        for row in rows {
            let old: String = row.try_get(0)?;
            let new = numbering.normalise(&old);
            if new != old {
                tx.execute(
                    &format!("UPDATE {table} SET caller = $1 WHERE caller = $2"),
                    &[&new, &old],
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Replaces the erased number wherever it is written in the rows that remain (see the SQLite
/// backend).
async fn redact_mentions(
    tx: &Transaction<'_>,
    target: &ErasureTarget,
    numbering: &PhoneNumbering,
) -> Result<(), CrmError> {
    let Some(pattern) = target.like_pattern(numbering) else {
        return Ok(());
    };
    for table in MENTION_TABLES {
        let key_text = format!("{}::TEXT", table.key);
        let sql = format!("{} FOR UPDATE", select_mentions_sql(table, "$1", &key_text));
        for row in tx.query(&sql, &[&pattern]).await? {
            let key: String = row.try_get(0)?;
            for (i, column) in table.columns.iter().enumerate() {
                let value: Option<String> = row.try_get(i + 1)?;
                let Some(redacted) = value.as_deref().and_then(|v| target.redact(v, numbering))
                else {
                    continue;
                };
                tx.execute(
                    &format!(
                        "UPDATE {} SET {column} = $1 WHERE {key_text} = $2",
                        table.table
                    ),
                    &[&redacted, &key],
                )
                .await?;
            }
        }
    }
    Ok(())
}
