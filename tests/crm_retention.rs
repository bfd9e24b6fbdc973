//! The retention job as the server runs it (`cases.retention_days`): against a real SQLite file,
//! with a wall clock the test sets (so "days later" is decided by the test) and runs every
//! 50 ms instead of hourly. Transcripts past the period go at start and on a later run;
//! the aggregates of every record stay; 0 days turns the job off; and `frontdoor serve` runs the
//! job at start.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use frontdoor::Pii;
use frontdoor::crm::{
    CallRecord, CaseStore, ExportFilter, MediaQuality, Outcome, RetentionJob, Turn, WallClock,
    policy_for_days,
};
use support::tempdir::TempDir;

/// The test's "today".
fn day_zero() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
        .single()
        .expect("a valid date")
}

fn call_started(call_id: &str, started: DateTime<Utc>) -> CallRecord {
    let mut r = CallRecord::new(call_id, started, Outcome::CaseCreated);
    r.answered_at = Some(started + chrono::Duration::seconds(1));
    r.ended_at = Some(started + chrono::Duration::seconds(80));
    r.caller = Some(Pii::new("+447700900123".into()));
    r.flow_name = "council".into();
    r.flow_version = "v1".into();
    r.node_path = vec!["privacy_notice".into(), "main_menu".into()];
    r.turns = vec![Turn {
        prompt: "main_menu".into(),
        transcript: Some(Pii::new("my bin was not collected".into())),
        intent: Some("missed_bin".into()),
        confidence: Some(0.9),
        dtmf: None,
        ..Turn::default()
    }];
    r.media = MediaQuality {
        packets_in: 4000,
        packets_out: 4010,
        lost: 1,
        jitter_ms: 1.5,
    };
    r
}

/// Whether each call still has its transcript, by call id.
async fn transcripts(store: &CaseStore) -> Vec<(String, bool)> {
    let mut calls: Vec<(String, bool)> = store
        .export_records(&ExportFilter::default())
        .await
        .expect("export")
        .calls
        .iter()
        .map(|c| {
            (
                c.call_id.clone(),
                c.turns.iter().any(|t| t.transcript.is_some()),
            )
        })
        .collect();
    calls.sort();
    calls
}

/// The period between runs in these tests (the server's is hourly, `RETENTION_INTERVAL`).
const EVERY: Duration = Duration::from_millis(50);

/// Polls until `want` holds (the job runs every [`EVERY`]); the last state if 10 s pass.
async fn eventually(store: &CaseStore, want: &[(&str, bool)]) -> Vec<(String, bool)> {
    let want: Vec<(String, bool)> = want.iter().map(|(c, t)| (c.to_string(), *t)).collect();
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = transcripts(store).await;
        if seen == want {
            break;
        }
        tokio::time::sleep(EVERY).await;
    }
    seen
}

#[tokio::test]
async fn the_job_runs_at_start_and_periodically_with_the_clock_it_is_given() {
    let dir = TempDir::new("retention-job").expect("temp dir");
    let store = Arc::new(CaseStore::open_sqlite(&dir.join("frontdoor.sqlite")).expect("open"));
    let now = day_zero();
    store
        .record_call(call_started("old", now - chrono::Duration::days(40)))
        .await
        .expect("record");
    store
        .record_call(call_started("recent", now - chrono::Duration::days(10)))
        .await
        .expect("record");

    let clock_now = Arc::new(Mutex::new(now));
    let read = clock_now.clone();
    let clock: WallClock = Arc::new(move || read.lock().map(|t| *t).unwrap_or_else(|_| Utc::now()));
    let policy = policy_for_days(30).expect("30 days is a policy");
    let job = RetentionJob::spawn_with(store.clone(), policy, EVERY, clock);

    // The run at start: the 40-day-old transcript goes, the 10-day-old one stays.
    assert_eq!(
        eventually(&store, &[("old", false), ("recent", true)]).await,
        [("old".to_string(), false), ("recent".to_string(), true)],
        "run at start"
    );

    // Runs go by but the calendar does not: nothing more is due.
    tokio::time::sleep(EVERY * 5).await;
    assert_eq!(
        transcripts(&store).await,
        [("old".to_string(), false), ("recent".to_string(), true)],
        "nothing is due while the clock stands still"
    );

    // 25 days later the recent call is 35 days old: the next run deletes its transcript.
    if let Ok(mut t) = clock_now.lock() {
        *t = now + chrono::Duration::days(25);
    }
    assert_eq!(
        eventually(&store, &[("old", false), ("recent", false)]).await,
        [("old".to_string(), false), ("recent".to_string(), false)],
        "a later run, 25 days on"
    );
    let export = store
        .export_records(&ExportFilter::default())
        .await
        .expect("export");
    assert_eq!(
        export.calls.len(),
        2,
        "records are kept, only transcripts go"
    );
    for call in &export.calls {
        assert!(
            call.turns.iter().all(|t| t.transcript.is_none()),
            "{} keeps a transcript after the hourly run",
            call.call_id
        );
        assert_eq!(call.outcome, Outcome::CaseCreated, "aggregates kept");
        assert_eq!(call.turns[0].intent.as_deref(), Some("missed_bin"));
        assert_eq!(call.node_path.len(), 2);
        assert_eq!(call.media.packets_in, 4000);
    }
    job.shutdown().await;
}

#[tokio::test]
async fn zero_days_keeps_transcripts_and_starts_no_job() {
    let dir = TempDir::new("retention-off").expect("temp dir");
    let store = Arc::new(CaseStore::open_sqlite(&dir.join("frontdoor.sqlite")).expect("open"));
    store
        .record_call(call_started(
            "ancient",
            Utc::now() - chrono::Duration::days(4000),
        ))
        .await
        .expect("record");
    assert!(RetentionJob::spawn(store.clone(), 0).is_none());
    assert_eq!(transcripts(&store).await, [("ancient".to_string(), true)]);
}

#[tokio::test]
async fn the_servers_job_uses_the_system_clock() {
    let dir = TempDir::new("retention-system").expect("temp dir");
    let store = Arc::new(CaseStore::open_sqlite(&dir.join("frontdoor.sqlite")).expect("open"));
    store
        .record_call(call_started("old", Utc::now() - chrono::Duration::days(91)))
        .await
        .expect("record");
    store
        .record_call(call_started("new", Utc::now() - chrono::Duration::days(89)))
        .await
        .expect("record");
    // The default retention_days; the first run is at start.
    let job = RetentionJob::spawn(store.clone(), 90).expect("90 days runs a job");
    assert_eq!(
        eventually(&store, &[("new", true), ("old", false)]).await,
        [("new".to_string(), true), ("old".to_string(), false)]
    );
    job.shutdown().await;
}

#[test]
fn the_running_server_applies_retention_at_start() {
    // The demo server keeps the default cases.retention_days (90).
    let mut server = support::demo::start_demo_server(&[]).expect("frontdoor serve starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // A second connection to the server's own store (WAL lets both use the file).
    let store = CaseStore::open_sqlite(&server.dir().join("data/frontdoor.sqlite")).expect("open");
    runtime.block_on(async {
        store
            .record_call(call_started(
                "old",
                Utc::now() - chrono::Duration::days(100),
            ))
            .await
            .expect("record");
        store
            .record_call(call_started(
                "recent",
                Utc::now() - chrono::Duration::days(80),
            ))
            .await
            .expect("record");
    });
    // The job runs at start: a restart applies it to the records written meanwhile.
    server.kill_and_restart().expect("server restarts");
    let seen = runtime.block_on(eventually(&store, &[("old", false), ("recent", true)]));
    assert_eq!(
        seen,
        [("old".to_string(), false), ("recent".to_string(), true)],
        "the server's retention job at start\n{}",
        server.log_tail(2000)
    );
    assert!(
        server
            .log()
            .contains("retention: transcripts past the retention period deleted"),
        "the server logs its retention run:\n{}",
        server.log_tail(2000)
    );
    assert!(server.stop(), "the server stops cleanly");
}

/// `grep -a -c`-style count of `needle` in the database file, its WAL and its shared-memory
/// index, by file (missing files count 0).
fn raw_hits(db: &std::path::Path, needle: &str) -> Vec<(String, usize)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let bytes = std::fs::read(format!("{}{suffix}", db.display())).unwrap_or_default();
            let n = if bytes.len() < needle.len() {
                0
            } else {
                bytes
                    .windows(needle.len())
                    .filter(|w| *w == needle.as_bytes())
                    .count()
            };
            (format!("db{suffix}"), n)
        })
        .collect()
}

#[tokio::test]
async fn a_retention_run_leaves_no_old_transcript_in_the_database_or_its_wal() {
    let dir = TempDir::new("retention-bytes").expect("temp dir");
    let db = dir.join("frontdoor.sqlite");
    let store = Arc::new(CaseStore::open_sqlite(&db).expect("open"));
    let phrase = "the fox tore open the recycling sack again";
    for (id, days) in [("old-1", 100), ("old-2", 95), ("old-3", 91)] {
        let mut r = call_started(id, day_zero() - chrono::Duration::days(days));
        r.turns[0].transcript = Some(Pii::new(format!("{phrase} ({id})")));
        store.record_call(r).await.expect("record");
    }
    let before: usize = raw_hits(&db, phrase).iter().map(|h| h.1).sum();
    // The server's job, with the test's clock, as `cases.retention_days: 90` runs it.
    let policy = policy_for_days(90).expect("90 days is a policy");
    let job = RetentionJob::spawn_with(store.clone(), policy, EVERY, Arc::new(day_zero));
    let seen = eventually(
        &store,
        &[("old-1", false), ("old-2", false), ("old-3", false)],
    )
    .await;
    job.shutdown().await;
    let open = raw_hits(&db, phrase);
    eprintln!(
        "figures: transcript phrase before retention {before} hit(s); after, store open: {open:?}"
    );
    drop(store);
    // The store's threads close their connections (the last checkpoints and removes the WAL).
    let wal = std::path::PathBuf::from(format!("{}-wal", db.display()));
    for _ in 0..5 {
        if !wal.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed = raw_hits(&db, phrase);
    eprintln!("figures: after retention, store closed: {closed:?}");
    assert!(seen.iter().all(|(_, t)| !t), "{seen:?}");
    assert!(
        open.iter().all(|h| h.1 == 0),
        "with the store open: {open:?}"
    );
    assert!(closed.iter().all(|h| h.1 == 0), "after close: {closed:?}");
}
