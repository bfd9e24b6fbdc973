//! The SQLite backend: one connection owned by one writer thread that runs every statement,
//! committing the jobs that queue up while a commit is in flight as one group.
//!
//! Why a dedicated thread: rusqlite blocks, and no call's media or signalling task may ever wait
//! on a disk. Why group commit: with `synchronous=FULL` each commit is an fsync of the WAL;
//! sharing one fsync among all cases that arrived meanwhile is what lets a 2-core machine commit
//! thousands of cases per second. Each job runs inside its own SAVEPOINT so a failing job rolls
//! back alone, and its caller hears back only after the group's COMMIT has returned.
//!
//! Erasure (see docs/storage.md): every connection runs with `secure_delete`, so deleted rows
//! are overwritten with zeros in the page that held them; after a purge or a retention run the
//! WAL is checkpointed and truncated (its older frames still hold the rows as written) and,
//! after a purge, the file is rebuilt with `VACUUM` so no freed page keeps an old copy.
//!
//! Durability (see docs/storage.md): WAL + `synchronous=FULL` survives a process SIGKILL and an
//! OS crash or power loss (the WAL is fsynced at every commit); it does not survive the loss of
//! the disk itself.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

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

/// Most jobs committed as one group; bounds the latency one commit adds to the first job.
const MAX_GROUP: usize = 512;
/// How long one attempt to take the write lock waits for another process before we log and
/// try again. Writers retry forever: a stalled store delays cases, it never drops them.
const BUSY_TIMEOUT: Duration = Duration::from_millis(1000);
/// Attempts at a truncating WAL checkpoint after an erasure before giving up for this time
/// (each waits up to [`BUSY_TIMEOUT`] for readers of another process, e.g. the running server
/// while `records purge` runs from the CLI).
const CHECKPOINT_ATTEMPTS: u32 = 30;

/// A unit of work for the writer thread.
trait Job: Send {
    /// Runs inside the group transaction. Returns whether it succeeded (else its savepoint is
    /// rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Reports the outcome once the group has committed (`None`) or failed (`Some(reason)`).
    fn finish(self: Box<Self>, commit_error: Option<&str>);
    /// Runs alone, outside any transaction (`VACUUM` and checkpoints cannot run inside one).
    fn standalone(&self) -> bool {
        false
    }
}

struct TypedJob<F, R> {
    work: Option<F>,
    result: Option<Result<R, CrmError>>,
    reply: oneshot::Sender<Result<R, CrmError>>,
    standalone: bool,
}

impl<F, R> Job for TypedJob<F, R>
where
    F: FnOnce(&Connection) -> Result<R, CrmError> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit_error: Option<&str>) {
        let outcome = match (self.result, commit_error) {
            (Some(Err(e)), _) => Err(e),
            (_, Some(reason)) => Err(CrmError::CommitFailed(reason.to_string())),
            (Some(Ok(v)), None) => Ok(v),
            (None, None) => Err(CrmError::CommitFailed("job did not run".into())),
        };
        // The caller may have given up waiting (its call ended); the work is still committed.
        let _ = self.reply.send(outcome);
    }

    fn standalone(&self) -> bool {
        self.standalone
    }
}

pub(crate) struct SqliteBackend {
    jobs: mpsc::Sender<Box<dyn Job>>,
    reads: mpsc::Sender<Box<dyn Job>>,
    numbering: PhoneNumbering,
}

impl SqliteBackend {
    pub fn open(path: &Path, numbering: PhoneNumbering) -> Result<Self, CrmError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers run beside the writer; FULL fsyncs the WAL at every commit.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Deleted rows are overwritten with zeros, in their page and in freed pages, so an
        // erased caller cannot be read back from the file (a per-connection setting).
        conn.pragma_update(None, "secure_delete", "ON")?;
        let migrated_numbers = migrate(&mut conn, &numbering)?;
        if migrated_numbers {
            // The old spellings of the numbers were deleted before secure delete was on:
            // rebuild the file once so no freed page keeps them.
            erase_freed_space(&conn, true)?;
        }
        // A second connection for reads that may be long (exports) or frequent (returning-caller
        // lookups), so they never hold up case commits; WAL gives it a consistent snapshot.
        let reader = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(BUSY_TIMEOUT)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("frontdoor-sqlite".into())
            .spawn(move || writer_loop(conn, rx))?;
        let (read_tx, read_rx) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("frontdoor-sqlite-read".into())
            .spawn(move || reader_loop(reader, read_rx))?;
        Ok(SqliteBackend {
            jobs: tx,
            reads: read_tx,
            numbering,
        })
    }

    /// Runs read-only `work` on the reader thread, in its own read transaction.
    async fn read<R, F>(&self, work: F) -> Result<R, CrmError>
    where
        F: FnOnce(&Connection) -> Result<R, CrmError> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            work: Some(work),
            result: None,
            reply,
            standalone: false,
        });
        self.reads.send(job).map_err(|_| CrmError::StoreClosed)?;
        rx.await.map_err(|_| CrmError::StoreClosed)?
    }

    /// Runs `work` on the writer thread inside the next group transaction.
    async fn run<R, F>(&self, work: F) -> Result<R, CrmError>
    where
        F: FnOnce(&Connection) -> Result<R, CrmError> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            work: Some(work),
            result: None,
            reply,
            standalone: false,
        });
        self.jobs.send(job).map_err(|_| CrmError::StoreClosed)?;
        rx.await.map_err(|_| CrmError::StoreClosed)?
    }

    /// Overwrites what earlier jobs deleted, on the writer thread between groups (outside any
    /// transaction): a truncating WAL checkpoint, after a `VACUUM` when `rebuild`.
    async fn erase_freed(&self, rebuild: bool) -> Result<(), CrmError> {
        let (reply, rx) = oneshot::channel();
        let job = Box::new(TypedJob {
            work: Some(move |c: &Connection| erase_freed_space(c, rebuild)),
            result: None,
            reply,
            standalone: true,
        });
        self.jobs.send(job).map_err(|_| CrmError::StoreClosed)?;
        rx.await.map_err(|_| CrmError::StoreClosed)?
    }
}

impl CaseBackend for SqliteBackend {
    fn create_case(
        &self,
        new: NewCase,
        prefix: String,
        sinks: Vec<SinkRegistration>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, CaseRecord> {
        Box::pin(async move {
            self.run(move |c| {
                if let Some(existing) = new.update_of.as_deref()
                    && let Some(mut case) = load_case(c, existing)?
                {
                    apply_update(&mut case, update_from_new_case(new), now);
                    save_case(c, &case)?;
                    let rows = outbox_rows(
                        EventKind::CaseUpdated,
                        Some(&case),
                        &case.reference,
                        case.version,
                        &sinks,
                        now,
                    )?;
                    insert_outbox(c, &rows, now)?;
                    return Ok(case);
                }
                for _ in 0..REFERENCE_ATTEMPTS {
                    let reference = new_reference_with_prefix(&mut rand::rng(), &prefix);
                    if case_exists(c, &reference)? {
                        continue;
                    }
                    let case = build_case(new, reference, now);
                    insert_case(c, &case)?;
                    let rows = outbox_rows(
                        EventKind::CaseCreated,
                        Some(&case),
                        &case.reference,
                        1,
                        &sinks,
                        now,
                    )?;
                    insert_outbox(c, &rows, now)?;
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
            self.run(move |c| {
                let mut case = load_case(c, &reference)?.ok_or(CrmError::UnknownCase(reference))?;
                apply_update(&mut case, update, now);
                save_case(c, &case)?;
                let rows = outbox_rows(
                    EventKind::CaseUpdated,
                    Some(&case),
                    &case.reference,
                    case.version,
                    &sinks,
                    now,
                )?;
                insert_outbox(c, &rows, now)?;
                Ok(case)
            })
            .await
        })
    }

    fn get_case(&self, reference: String) -> BackendFuture<'_, Option<CaseRecord>> {
        Box::pin(async move { self.read(move |c| load_case(c, &reference)).await })
    }

    fn open_cases_for_caller(&self, caller: String) -> BackendFuture<'_, Vec<CaseRecord>> {
        Box::pin(async move {
            self.read(move |c| {
                query_cases(
                    c,
                    "SELECT * FROM cases WHERE caller = ?1 AND status = 'open' ORDER BY updated_at DESC",
                    params![caller],
                )
            })
            .await
        })
    }

    fn record_call(&self, record: CallRecord) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            self.run(move |c| {
                let r = CallRow::from_record(&record)?;
                c.prepare_cached(
                    "INSERT OR REPLACE INTO call_records (call_id, started_at, answered_at, ended_at, caller,
                 flow_name, flow_version, node_path, turns, outcome, survey, language, accessibility,
                 hangup_cause, packets_in, packets_out, lost, jitter_ms, case_refs, transcripts_deleted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, NULL)",
                )?
                .execute(params![
                    r.call_id,
                    r.started_at,
                    r.answered_at,
                    r.ended_at,
                    r.caller,
                    r.flow_name,
                    r.flow_version,
                    r.node_path,
                    r.turns,
                    r.outcome,
                    r.survey,
                    r.language,
                    r.accessibility,
                    r.hangup_cause,
                    r.packets_in,
                    r.packets_out,
                    r.lost,
                    r.jitter_ms,
                    r.case_refs
                ])?;
                Ok(())
            })
            .await
        })
    }

    fn export(&self, filter: ExportFilter) -> BackendFuture<'_, RecordsExport> {
        Box::pin(async move {
            self.read(move |c| {
                let since = filter.since.map(to_millis);
                let cases = query_cases(
                    c,
                    "SELECT * FROM cases WHERE (?1 IS NULL OR updated_at >= ?1) AND (?2 IS NULL OR caller = ?2)
                 ORDER BY created_at, reference",
                    params![since, filter.caller],
                )?;
                let mut stmt = c.prepare(
                    "SELECT * FROM call_records WHERE (?1 IS NULL OR started_at >= ?1) AND (?2 IS NULL OR caller = ?2)
                 ORDER BY started_at, call_id",
                )?;
                let calls = stmt
                    .query_map(params![since, filter.caller], call_row)?
                    .map(|r| r.map_err(CrmError::from).and_then(CallRow::into_record))
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
                .run(move |c| {
                    let mut report = PurgeReport::default();
                    let caller = target.stored.as_str();
                    let cases: Vec<(String, i64)> = c
                        .prepare("SELECT reference, version FROM cases WHERE caller = ?1")?
                        .query_map(params![caller], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    for (reference, version) in cases {
                        let had: Vec<String> = c
                            .prepare("SELECT DISTINCT sink FROM outbox WHERE case_ref = ?1")?
                            .query_map(params![reference], |r| r.get(0))?
                            .collect::<Result<_, _>>()?;
                        // Pending, delivered and dead rows alike: each holds the case as sent.
                        c.execute("DELETE FROM outbox WHERE case_ref = ?1", params![reference])?;
                        c.execute("DELETE FROM cases WHERE reference = ?1", params![reference])?;
                        // The import ledger keeps the line's key (so a re-import does not bring
                        // the case back) but not the reference.
                        c.execute(
                            "UPDATE legacy_imports SET reference = '' WHERE reference = ?1",
                            params![reference],
                        )?;
                        report.cases_deleted += 1;
                        let rows = erasure_rows(&reference, version + 1, &sinks, &had, now)?;
                        report.erasures_queued += rows.len() as u64;
                        insert_outbox(c, &rows, now)?;
                    }
                    report.calls_deleted = c.execute(
                        "DELETE FROM call_records WHERE caller = ?1",
                        params![caller],
                    )? as u64;
                    redact_mentions(c, &target, &numbering)?;
                    Ok(report)
                })
                .await?;
            self.erase_freed(true).await?;
            Ok(report)
        })
    }

    fn apply_retention(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> BackendFuture<'_, RetentionReport> {
        Box::pin(async move {
            let report = self.run(move |c| {
                let cutoff = to_millis(cutoff);
                let mut report = RetentionReport::default();
                let calls: Vec<(String, String)> = c
                    .prepare("SELECT call_id, turns FROM call_records WHERE started_at < ?1 AND transcripts_deleted_at IS NULL")?
                    .query_map(params![cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                for (call_id, turns) in calls {
                    let turns = strip_transcripts(&turns)?;
                    c.execute(
                        "UPDATE call_records SET turns = ?1, transcripts_deleted_at = ?2 WHERE call_id = ?3",
                        params![turns, to_millis(now), call_id],
                    )?;
                    report.calls_redacted += 1;
                }
                report.cases_redacted = c.execute(
                    "UPDATE cases SET transcript_excerpts = '[]' WHERE created_at < ?1 AND transcript_excerpts <> '[]'",
                    params![cutoff],
                )? as u64;
                report.outbox_rows_deleted = c.execute(
                    "DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ?1",
                    params![cutoff],
                )? as u64;
                Ok(report)
            })
            .await?;
            // Secure delete has zeroed the old transcripts in the file; the WAL still holds them
            // as they were written until it is checkpointed and truncated.
            if report.calls_redacted + report.cases_redacted + report.outbox_rows_deleted > 0 {
                self.erase_freed(false).await?;
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
            self.run(move |c| {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows: Vec<OutboxRow> = c
                    .prepare_cached(&format!("{DUE_SQL} ORDER BY o.id LIMIT ?3"))?
                    .query_map(params![sink, to_millis(now), limit], outbox_row)?
                    .collect::<Result<_, _>>()?;
                let mut lease =
                    c.prepare_cached("UPDATE outbox SET next_attempt_at = ?1 WHERE id = ?2")?;
                for r in &rows {
                    lease.execute(params![to_millis(lease_until), r.id])?;
                }
                rows.into_iter().map(OutboxRow::into_event).collect()
            })
            .await
        })
    }

    fn mark_delivered(&self, id: i64, now: DateTime<Utc>) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            let erasure_done = self
                .run(move |c| {
                    // A delivered erasure is the last trace of an erased case (its reference): it
                    // is deleted rather than kept as delivered.
                    let erased = c
                        .prepare_cached(
                            "DELETE FROM outbox WHERE id = ?1 AND kind = 'case.erased' AND status <> 'delivered'",
                        )?
                        .execute(params![id])?;
                    if erased > 0 {
                        return Ok(true);
                    }
                    c.prepare_cached(
                        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?1, last_error = NULL
                     WHERE id = ?2",
                    )?
                    .execute(params![to_millis(now), id])?;
                    Ok(false)
                })
                .await?;
            if erasure_done {
                self.erase_freed(false).await?;
            }
            Ok(())
        })
    }

    fn mark_failed(
        &self,
        id: i64,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    ) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            self.run(move |c| {
                c.prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?1,
                 status = CASE WHEN ?2 IS NULL THEN 'dead' ELSE 'pending' END,
                 next_attempt_at = COALESCE(?2, next_attempt_at) WHERE id = ?3",
                )?
                .execute(params![error, retry_at.map(to_millis), id])?;
                Ok(())
            })
            .await
        })
    }

    fn next_due(&self, sink: String) -> BackendFuture<'_, Option<DateTime<Utc>>> {
        Box::pin(async move {
            self.run(move |c| {
                let ms: Option<i64> = c
                    .prepare_cached(NEXT_DUE_SQL)?
                    .query_row(params![sink], |r| r.get(0))?;
                ms.map(from_millis).transpose()
            })
            .await
        })
    }

    fn dead_letters(&self) -> BackendFuture<'_, Vec<DeadLetter>> {
        Box::pin(async move {
            self.read(|c| {
                c.prepare("SELECT * FROM outbox WHERE status = 'dead' ORDER BY id")?
                    .query_map([], outbox_row)?
                    .map(|r| {
                        r.map_err(CrmError::from)
                            .and_then(OutboxRow::into_dead_letter)
                    })
                    .collect()
            })
            .await
        })
    }

    fn retry_dead_letter(&self, id: i64, now: DateTime<Utc>) -> BackendFuture<'_, ()> {
        Box::pin(async move {
            self.run(move |c| {
                let n = c.execute(
                    "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?1 WHERE id = ?2 AND status = 'dead'",
                    params![to_millis(now), id],
                )?;
                if n == 0 { Err(CrmError::UnknownDeadLetter(id)) } else { Ok(()) }
            })
            .await
        })
    }

    fn outbox_backlog(&self, sink: String) -> BackendFuture<'_, u64> {
        Box::pin(async move {
            self.read(move |c| {
                let n: i64 = c.query_row(
                    "SELECT COUNT(*) FROM outbox WHERE sink = ?1 AND status <> 'delivered'",
                    params![sink],
                    |r| r.get(0),
                )?;
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
            self.run(move |c| {
                let (mut imported, mut skipped) = (0, 0);
                for item in items {
                    let fresh = c.execute(
                        "INSERT OR IGNORE INTO legacy_imports (line_key, reference, imported_at) VALUES (?1, ?2, ?3)",
                        params![item.line_key, item.record.reference, to_millis(now)],
                    )? == 1;
                    if !fresh || case_exists(c, &item.record.reference)? {
                        skipped += 1;
                        continue;
                    }
                    insert_case(c, &item.record)?;
                    let rows = outbox_rows(
                        EventKind::CaseCreated,
                        Some(&item.record),
                        &item.record.reference,
                        item.record.version,
                        &sinks,
                        now,
                    )?;
                    insert_outbox(c, &rows, now)?;
                    imported += 1;
                }
                Ok((imported, skipped))
            })
            .await
        })
    }
}

/// Keeps only the oldest undelivered row of each case: an earlier pending or dead row of the
/// same case and sink holds later ones back, so one case's events are delivered in order.
macro_rules! head_of_case {
    () => {
        " AND NOT EXISTS (SELECT 1 FROM outbox p
            WHERE p.sink = o.sink AND p.case_ref = o.case_ref AND p.id < o.id AND p.status <> 'delivered')"
    };
}

/// Pending rows of sink ?1 due by ?2 that head their case.
const DUE_SQL: &str = concat!(
    "SELECT o.* FROM outbox o WHERE o.sink = ?1 AND o.status = 'pending' AND o.next_attempt_at <= ?2",
    head_of_case!()
);

/// When the next row of sink ?1 that heads its case falls due.
const NEXT_DUE_SQL: &str = concat!(
    "SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.sink = ?1 AND o.status = 'pending'",
    head_of_case!()
);

fn writer_loop(mut conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => break,
            },
        };
        if first.standalone() {
            run_standalone(&conn, first);
            continue;
        }
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                // A standalone job runs after this group has committed, in queue order.
                Ok(job) if job.standalone() => {
                    next = Some(job);
                    break;
                }
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let outcome = run_group(&mut conn, &mut group);
        let error = outcome.err().map(|e| e.to_string());
        for job in group {
            job.finish(error.as_deref());
        }
    }
    tracing::debug!("sqlite writer stopped: store dropped");
}

fn run_standalone(conn: &Connection, mut job: Box<dyn Job>) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)));
    job.finish(None);
}

/// Leaves no copy of deleted rows in the database file or its WAL: `VACUUM` (when `rebuild`)
/// rewrites the file from its live rows only, then a truncating checkpoint copies the WAL into
/// the file and cuts the WAL to zero bytes. The checkpoint waits for readers of other
/// processes (the running server while the CLI purges) and is retried a bounded number of
/// times; a checkpoint that cannot finish is an error, so the operator knows to run it again.
fn erase_freed_space(conn: &Connection, rebuild: bool) -> Result<(), CrmError> {
    if rebuild {
        // VACUUM needs the write lock: another process's writer (the running server committing
        // a case) is waited for, a bounded number of times.
        let mut attempt = 0;
        loop {
            match conn.execute_batch("VACUUM") {
                Ok(()) => break,
                Err(e) if is_busy(&e) && attempt < CHECKPOINT_ATTEMPTS => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    for attempt in 1..=CHECKPOINT_ATTEMPTS {
        // `busy` is 1 when another connection kept the checkpoint from completing.
        let busy: i64 = match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)) {
            Ok(b) => b,
            Err(e) if is_busy(&e) => 1,
            Err(e) => return Err(e.into()),
        };
        if busy == 0 {
            return Ok(());
        }
        tracing::debug!(attempt, "wal checkpoint after erasure waiting for readers");
        std::thread::sleep(BUSY_TIMEOUT / 10);
    }
    Err(CrmError::CommitFailed(
        "the WAL could not be checkpointed: another connection kept reading; run the purge again"
            .into(),
    ))
}

/// Replaces the erased number wherever it is written in the rows that remain (other cases'
/// fields, outbox payloads and dead letters, transcripts), in every spelling.
fn redact_mentions(
    c: &Connection,
    target: &ErasureTarget,
    numbering: &PhoneNumbering,
) -> Result<(), CrmError> {
    let Some(pattern) = target.like_pattern(numbering) else {
        return Ok(());
    };
    for table in MENTION_TABLES {
        let sql = select_mentions_sql(table, "?1", &format!("CAST({} AS TEXT)", table.key));
        let rows: Vec<Vec<Option<String>>> = c
            .prepare(&sql)?
            .query_map(params![pattern], |r| {
                (0..=table.columns.len())
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect()
            })?
            .collect::<Result<_, _>>()?;
        for row in rows {
            let Some(Some(key)) = row.first() else {
                continue;
            };
            for (column, value) in table.columns.iter().zip(row.iter().skip(1)) {
                let Some(redacted) = value.as_deref().and_then(|v| target.redact(v, numbering))
                else {
                    continue;
                };
                c.execute(
                    &format!(
                        "UPDATE {} SET {column} = ?1 WHERE CAST({} AS TEXT) = ?2",
                        table.table, table.key
                    ),
                    params![redacted, key],
                )?;
            }
        }
    }
    Ok(())
}

fn reader_loop(conn: Connection, jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(mut job) = jobs.recv() {
        // One read transaction per job: every statement of it sees the same snapshot.
        let outcome = conn.execute_batch("BEGIN DEFERRED").map(|()| {
            // As in the writer: a panicking job fails alone.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&conn)));
            let _ = conn.execute_batch("COMMIT");
        });
        let error = outcome.err().map(|e| e.to_string());
        job.finish(error.as_deref());
    }
}

/// Runs a group in one transaction. Taking the write lock is retried until it succeeds: another
/// process holding it (a backup, a supervisor's shell) stalls cases, it must not fail them.
fn run_group(conn: &mut Connection, group: &mut [Box<dyn Job>]) -> Result<(), rusqlite::Error> {
    let mut waited = 0u32;
    loop {
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => break,
            Err(e) if is_busy(&e) => {
                waited += 1;
                tracing::warn!(
                    seconds = waited,
                    "sqlite store is locked by another connection; cases are waiting"
                );
            }
            Err(e) => return Err(e),
        }
    }
    for job in group.iter_mut() {
        conn.execute_batch("SAVEPOINT job")?;
        // A panicking job (a bug) must not take the writer thread, and every later case, with
        // it: it counts as a failed job and its savepoint is rolled back.
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn)))
            .unwrap_or(false);
        if ok {
            conn.execute_batch("RELEASE job")?;
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
        }
    }
    loop {
        match conn.execute_batch("COMMIT") {
            Ok(()) => return Ok(()),
            Err(e) if is_busy(&e) => tracing::warn!("sqlite commit waiting for readers"),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Applies the migrations this build knows; returns whether an existing file was just brought
/// to normalised numbers (it then needs rebuilding once, see `erase_freed_space`).
fn migrate(conn: &mut Connection, numbering: &PhoneNumbering) -> Result<bool, CrmError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let supported = migrations::SQLITE.last().map(|(n, _)| *n).unwrap_or(0);
    if current > supported {
        return Err(CrmError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    let mut normalised = false;
    for (n, sql) in migrations::SQLITE.iter().filter(|(n, _)| *n > current) {
        tx.execute_batch(sql)?;
        if *n == migrations::NORMALISED_CALLERS {
            normalise_stored_callers(&tx, numbering)?;
            // An existing file may hold rows deleted before secure delete was on.
            normalised = current > 0;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![n, to_millis(Utc::now())],
        )?;
    }
    tx.commit()?;
    Ok(normalised)
}

/// Rewrites every stored caller number in its normalised form; returns how many distinct
/// numbers changed.
fn normalise_stored_callers(c: &Connection, numbering: &PhoneNumbering) -> Result<u64, CrmError> {
    let mut changed = 0;
    for table in ["cases", "call_records"] {
        let callers: Vec<String> = c
            .prepare(&format!(
                "SELECT DISTINCT caller FROM {table} WHERE caller IS NOT NULL"
            ))?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for old in callers {
            let new = numbering.normalise(&old);
            if new != old {
                c.execute(
                    &format!("UPDATE {table} SET caller = ?1 WHERE caller = ?2"),
                    params![new, old],
                )?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

fn case_exists(c: &Connection, reference: &str) -> Result<bool, CrmError> {
    Ok(
        c.prepare_cached("SELECT 1 FROM cases WHERE reference = ?1")?
            .exists(params![reference])?,
    )
}

fn insert_case(c: &Connection, case: &CaseRecord) -> Result<(), CrmError> {
    let r = CaseRow::from_record(case)?;
    c.prepare_cached(
        "INSERT INTO cases (reference, service, intent, fields, caller, language, accessibility, flow_name,
         flow_version, transcript_excerpts, call_ids, status, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        r.reference,
        r.service,
        r.intent,
        r.fields,
        r.caller,
        r.language,
        r.accessibility,
        r.flow_name,
        r.flow_version,
        r.transcript_excerpts,
        r.call_ids,
        r.status,
        r.version,
        r.created_at,
        r.updated_at
    ])?;
    Ok(())
}

fn save_case(c: &Connection, case: &CaseRecord) -> Result<(), CrmError> {
    let r = CaseRow::from_record(case)?;
    c.prepare_cached(
        "UPDATE cases SET fields = ?2, accessibility = ?3, transcript_excerpts = ?4, call_ids = ?5, status = ?6,
         version = ?7, updated_at = ?8 WHERE reference = ?1",
    )?
    .execute(params![
        r.reference,
        r.fields,
        r.accessibility,
        r.transcript_excerpts,
        r.call_ids,
        r.status,
        r.version,
        r.updated_at
    ])?;
    Ok(())
}

fn insert_outbox(
    c: &Connection,
    rows: &[NewOutboxRow],
    now: DateTime<Utc>,
) -> Result<(), CrmError> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO outbox (sink, case_ref, kind, sequence, payload, status, attempts, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?7)",
    )?;
    for r in rows {
        stmt.execute(params![
            r.sink,
            r.case_ref,
            r.kind.as_str(),
            r.sequence,
            r.payload,
            to_millis(now),
            r.created_at
        ])?;
    }
    Ok(())
}

fn load_case(c: &Connection, reference: &str) -> Result<Option<CaseRecord>, CrmError> {
    c.prepare_cached("SELECT * FROM cases WHERE reference = ?1")?
        .query_row(params![reference], case_row)
        .optional()?
        .map(CaseRow::into_record)
        .transpose()
}

fn query_cases(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<CaseRecord>, CrmError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(p, case_row)?;
    rows.map(|r| r.map_err(CrmError::from).and_then(CaseRow::into_record))
        .collect()
}

fn case_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaseRow> {
    CaseRow::read(r)
}

fn call_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CallRow> {
    CallRow::read(r)
}

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    OutboxRow::read(r)
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    fn text(&self, column: &str) -> rusqlite::Result<String> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> rusqlite::Result<Option<String>> {
        self.get(column)
    }
    fn int(&self, column: &str) -> rusqlite::Result<i64> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> rusqlite::Result<Option<i64>> {
        self.get(column)
    }
    fn real(&self, column: &str) -> rusqlite::Result<f64> {
        self.get(column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_writer_keeps_going() {
        let dir =
            std::env::temp_dir().join(format!("frontdoor-sqlite-panic-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let backend = SqliteBackend::open(&dir.join("s.sqlite"), PhoneNumbering::default());
        let Ok(backend) = backend else {
            let _ = std::fs::remove_dir_all(&dir);
            panic!("open failed");
        };
        let failed = backend
            .run(|_| -> Result<(), CrmError> { panic!("simulated bug in a job") })
            .await;
        assert!(
            matches!(failed, Err(CrmError::CommitFailed(_))),
            "{failed:?}"
        );
        let after = backend
            .run(|c| Ok(c.query_row("SELECT 41 + 1", [], |r| r.get::<_, i64>(0))?))
            .await;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(after.ok(), Some(42));
    }
}
