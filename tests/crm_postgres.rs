//! The PostgreSQL case store against a real cluster started by `scripts/pg-test-cluster.sh`
//! (own data dir, own port on 127.0.0.1), stopped by PID when the test ends.
//!
//! Covers migrations raced by two instances, cases and returning callers, group concurrency,
//! call records, retention, erasure, the outbox (order per case, dead letters, retry, two
//! instances sharing one store), the JSON-lines import, and a stalled server (SIGSTOP).

mod pg_cluster;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use frontdoor::Pii;
use frontdoor::crm::{
    Backoff, CallRecord, CaseSink, CaseStatus, CaseStore, CaseUpdate, ExportFilter, NewCase,
    OutboxConfig, OutboxEvent, OutboxWorker, Outcome, RetentionPolicy, SinkError, Turn,
};
use pg_cluster::{Cluster, PG_BIN, Resume};
use serde_json::json;

async fn create_db(cluster: &Cluster, name: &str) -> String {
    let (client, conn) = tokio_postgres::connect(&cluster.url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    drop(client);
    let _ = task.await;
    cluster.url_for(name)
}

fn case(caller: &str, i: usize) -> NewCase {
    NewCase {
        service: "waste".into(),
        intent: Some("missed_bin".into()),
        fields: json!({"postcode": "RM17 6SL", "house_number": i.to_string()}),
        caller: Some(Pii::new(caller.into())),
        language: Some("en-GB".into()),
        accessibility: vec![],
        flow_name: "council".into(),
        flow_version: "v1".into(),
        transcript_excerpts: vec!["the bin was missed".into()],
        call_id: format!("call-{i}"),
        update_of: None,
    }
}

/// A sink that records what it was given and fails the cases it is told to.
struct MemorySink {
    name: String,
    got: Mutex<Vec<(String, i64)>>,
    /// While set, events of cases whose fields carry `"poison": true` fail.
    poison: std::sync::atomic::AtomicBool,
}

impl MemorySink {
    fn new(name: &str) -> Arc<Self> {
        Arc::new(MemorySink {
            name: name.into(),
            got: Mutex::new(Vec::new()),
            poison: std::sync::atomic::AtomicBool::new(true),
        })
    }
    fn got(&self) -> Vec<(String, i64)> {
        self.got.lock().map(|g| g.clone()).unwrap_or_default()
    }
    fn per_case(&self) -> BTreeMap<String, Vec<i64>> {
        let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (r, s) in self.got() {
            m.entry(r).or_default().push(s);
        }
        m
    }
}

impl CaseSink for MemorySink {
    async fn deliver(&self, event: &OutboxEvent) -> Result<(), SinkError> {
        if self.poison.load(std::sync::atomic::Ordering::SeqCst)
            && event.payload["case"]["fields"]["poison"] == true
        {
            return Err(SinkError::Transient {
                reason: "HTTP 500".into(),
                retry_after: None,
            });
        }
        if let Ok(mut g) = self.got.lock() {
            g.push((event.case_reference.clone(), event.sequence));
        }
        Ok(())
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn supports_erasure(&self) -> bool {
        true
    }
}

fn config(max_attempts: u32) -> OutboxConfig {
    OutboxConfig {
        max_attempts,
        backoff: Backoff {
            initial: Duration::from_millis(30),
            max: Duration::from_millis(200),
        },
        batch: 16,
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(100),
    }
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_against_a_real_cluster() {
    if !std::path::Path::new(PG_BIN).exists() {
        eprintln!("skipping: PostgreSQL 15 is not installed ({PG_BIN})");
        return;
    }
    let cluster = Cluster::start();
    cases_and_returning_callers(&create_db(&cluster, "cases").await).await;
    records_retention_and_erasure(&create_db(&cluster, "records").await).await;
    erasure_by_any_spelling_and_migration(&create_db(&cluster, "erasure").await).await;
    outbox_order_dead_letters_and_two_instances(&create_db(&cluster, "outbox").await).await;
    stalled_server_delays_cases_without_losing_them(&cluster, &create_db(&cluster, "stall").await)
        .await;
}

async fn cases_and_returning_callers(url: &str) {
    // Two instances starting together both migrate safely.
    let (a, b) = tokio::join!(CaseStore::open_postgres(url), CaseStore::open_postgres(url));
    let (a, b) = (Arc::new(a.expect("open a")), b.expect("open b"));

    let first = a
        .create_case(case("+447700900123", 1))
        .await
        .expect("create");
    let got = b
        .get_case(&first.reference)
        .await
        .expect("get")
        .expect("visible to the other instance");
    assert_eq!(got, first);

    let mut again = case("+447700900123", 2);
    again.update_of = Some(first.reference.clone());
    again.fields = json!({"bin": "blue"});
    let updated = b.create_case(again).await.expect("update");
    assert_eq!(
        (updated.reference.as_str(), updated.version),
        (first.reference.as_str(), 2)
    );
    assert_eq!(updated.fields["postcode"], "RM17 6SL");
    assert_eq!(updated.fields["bin"], "blue");
    assert_eq!(updated.call_ids, vec!["call-1", "call-2"]);
    assert_eq!(
        a.open_cases_for_caller("+447700900123")
            .await
            .expect("lookup")
            .len(),
        1
    );
    a.apply_case_update(
        &first.reference,
        CaseUpdate {
            status: Some(CaseStatus::Closed),
            ..Default::default()
        },
    )
    .await
    .expect("close");
    assert!(
        a.open_cases_for_caller("+447700900123")
            .await
            .expect("lookup")
            .is_empty()
    );
    assert!(a.update_case("TC-AAAA-AA", json!({})).await.is_err());

    let mut tasks = Vec::new();
    for i in 0..200 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            a.create_case(case(&format!("+4477001{i:05}"), i)).await
        }));
    }
    let mut refs = HashSet::new();
    for t in tasks {
        refs.insert(t.await.expect("join").expect("create").reference);
    }
    assert_eq!(refs.len(), 200);

    let dir = std::env::temp_dir().join(format!("frontdoor-pg-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("cases.jsonl");
    std::fs::write(
        &path,
        "{\"reference\":\"TC-4K7Q-97\",\"intent\":\"pothole\",\"fields\":{}}\n",
    )
    .expect("write");
    let one = a.import_jsonl_cases(&path).await.expect("import");
    let two = b.import_jsonl_cases(&path).await.expect("import again");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        (one.imported, two.imported, two.already_imported),
        (1, 0, 1)
    );
    assert!(a.get_case("TC-4K7Q-97").await.expect("get").is_some());
}

async fn records_retention_and_erasure(url: &str) {
    let store = CaseStore::open_postgres(url).await.expect("open");
    store.register_sink("crm", true);
    for (id, caller, days) in [
        ("old", "+447700900123", 40),
        ("new", "+447700900123", 1),
        ("x", "+447700900999", 1),
    ] {
        let started = Utc::now() - chrono::Duration::days(days);
        let mut r = CallRecord::new(id, started, Outcome::Transferred);
        r.caller = Some(Pii::new(caller.into()));
        r.ended_at = Some(started + chrono::Duration::seconds(30));
        r.turns = vec![Turn {
            prompt: "ask".into(),
            transcript: Some(Pii::new("words".into())),
            ..Turn::default()
        }];
        store.record_call(r.clone()).await.expect("record");
        store
            .record_call(r)
            .await
            .expect("recording the same call again replaces it");
    }
    let recent = store
        .export_records(&ExportFilter {
            since: Some(Utc::now() - chrono::Duration::days(7)),
            caller: None,
        })
        .await
        .expect("export");
    assert_eq!(recent.calls.len(), 2);
    let policy = RetentionPolicy {
        transcripts: Duration::from_secs(30 * 86_400),
    };
    assert_eq!(
        store
            .apply_retention(policy, Utc::now())
            .await
            .expect("retention")
            .calls_redacted,
        1
    );
    let all = store
        .export_records(&ExportFilter::default())
        .await
        .expect("export");
    let old = all
        .calls
        .iter()
        .find(|c| c.call_id == "old")
        .expect("old kept");
    assert!(old.turns[0].transcript.is_none());
    assert_eq!(old.outcome, Outcome::Transferred);

    store
        .create_case(case("+447700900123", 1))
        .await
        .expect("case");
    let report = store.purge_caller("+447700900123").await.expect("purge");
    assert_eq!(
        (
            report.cases_deleted,
            report.calls_deleted,
            report.erasures_queued
        ),
        (1, 2, 1)
    );
    let subject = ExportFilter {
        since: None,
        caller: Some("+447700900123".into()),
    };
    let left = store.export_records(&subject).await.expect("export");
    assert!(left.cases.is_empty() && left.calls.is_empty());
}

async fn outbox_order_dead_letters_and_two_instances(url: &str) {
    let a = Arc::new(CaseStore::open_postgres(url).await.expect("open a"));
    let b = Arc::new(CaseStore::open_postgres(url).await.expect("open b"));
    let sink = MemorySink::new("crm");
    // Two instances, each with its own worker for the same sink, share the outbox.
    let wa = OutboxWorker::spawn(a.clone(), sink.clone(), config(3));
    let wb = OutboxWorker::spawn(b.clone(), sink.clone(), config(3));

    let mut poisoned = case("+447700900001", 0);
    poisoned.fields["poison"] = json!(true);
    let poison = a.create_case(poisoned).await.expect("create");
    a.update_case(&poison.reference, json!({"n": 1}))
        .await
        .expect("update");
    let mut refs = Vec::new();
    for i in 1..=30 {
        let store = if i % 2 == 0 { &a } else { &b };
        let c = store
            .create_case(case("+447700900002", i))
            .await
            .expect("create");
        store
            .update_case(&c.reference, json!({"n": 2}))
            .await
            .expect("update");
        refs.push(c.reference);
    }
    eventually("60 events of healthy cases", || sink.got().len() == 60).await;
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = a.dead_letters().await.expect("dead");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].case_reference.as_str(), dead[0].attempts),
        (poison.reference.as_str(), 3)
    );
    sink.poison
        .store(false, std::sync::atomic::Ordering::SeqCst);
    b.retry_dead_letter(dead[0].id).await.expect("retry");
    eventually("poisoned case after retry", || sink.got().len() == 62).await;
    wa.shutdown().await;
    wb.shutdown().await;

    let per_case = sink.per_case();
    assert_eq!(per_case.len(), 31);
    for (reference, seqs) in per_case {
        assert_eq!(
            seqs,
            vec![1, 2],
            "{reference}: delivered once each, in order"
        );
    }
    assert_eq!(a.outbox_backlog("crm").await.expect("backlog"), 0);
}

async fn stalled_server_delays_cases_without_losing_them(cluster: &Cluster, url: &str) {
    let store = Arc::new(CaseStore::open_postgres(url).await.expect("open"));
    store
        .create_case(case("+447700900123", 0))
        .await
        .expect("warm-up");
    let pending = {
        let resume = Resume(cluster);
        cluster.signal_all(libc::SIGSTOP);
        let pending = {
            let store = store.clone();
            tokio::spawn(async move { store.create_case(case("+447700900123", 1)).await })
        };
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(
            !pending.is_finished(),
            "a case committed while the server was stopped"
        );
        drop(resume);
        pending
    };
    let c = pending
        .await
        .expect("join")
        .expect("the case completes once the server is back");
    assert!(store.get_case(&c.reference).await.expect("get").is_some());
}

/// A direct connection for what the store does not expose (an old row, vacuum statistics).
async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
}

/// Numbers stored in one spelling are found, exported and erased by any other; the number is
/// also replaced inside another caller's case; the tables are vacuumed after the purge; and a
/// database with numbers stored before normalisation is migrated when opened.
async fn erasure_by_any_spelling_and_migration(url: &str) {
    let store = CaseStore::open_postgres(url).await.expect("open");
    let raw = raw_client(url).await;
    // A row written before numbers were normalised, in a database at schema version 1.
    store
        .create_case(case("+447700900123", 1))
        .await
        .expect("case");
    raw.batch_execute(
        "UPDATE cases SET caller = ' 07700 900123 ';
         DELETE FROM schema_migrations WHERE version > 1;",
    )
    .await
    .expect("make the database look old");
    drop(store);
    let store = CaseStore::open_postgres(url)
        .await
        .expect("an old database opens");
    let mut mine = case("sip:07700900123@pbx.council.example", 2);
    mine.fields = json!({"account_number": "88012345"});
    store.create_case(mine).await.expect("case");
    let mut r = CallRecord::new("pg-call", Utc::now(), Outcome::CaseCreated);
    r.caller = Some(Pii::new("00447700900123".into()));
    store.record_call(r).await.expect("record");
    let mut neighbour = case("+447700900999", 3);
    neighbour.fields = json!({"note": "neighbour on 07700 900123"});
    let neighbour = store.create_case(neighbour).await.expect("case");
    let mut found = Vec::new();
    for form in ["+447700900123", "07700900123", "+44 7700 900123"] {
        let open = store.open_cases_for_caller(form).await.expect("lookup");
        found.push(open.len());
    }
    eprintln!("figures: postgres look-ups by three spellings before purge: {found:?}");
    assert_eq!(found, [2, 2, 2]);

    let report = store.purge_caller("07700 900123").await.expect("purge");
    eprintln!(
        "figures: postgres purge: {} case(s), {} call(s)",
        report.cases_deleted, report.calls_deleted
    );
    assert_eq!((report.cases_deleted, report.calls_deleted), (2, 1));
    for form in [
        "+447700900123",
        "07700900123",
        "00447700900123",
        "tel:+44-7700-900123",
    ] {
        let left = store
            .export_records(&ExportFilter {
                since: None,
                caller: Some(form.into()),
            })
            .await
            .expect("export");
        assert!(left.cases.is_empty() && left.calls.is_empty(), "{form}");
        assert!(
            store
                .open_cases_for_caller(form)
                .await
                .expect("lookup")
                .is_empty()
        );
    }
    let everything = serde_json::to_string(
        &store
            .export_records(&ExportFilter::default())
            .await
            .expect("export"),
    )
    .expect("json");
    assert!(!everything.contains("7700900123"), "{everything}");
    assert!(!everything.contains("7700 900123"), "{everything}");
    assert!(!everything.contains("88012345"), "{everything}");
    let kept = store
        .get_case(&neighbour.reference)
        .await
        .expect("get")
        .expect("the other caller's case is kept");
    assert_eq!(kept.fields["note"], "neighbour on [erased]");
    // The purge vacuumed the tables it deleted from.
    let mut vacuumed = false;
    for _ in 0..50 {
        let row = raw
            .query_one(
                "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'cases'",
                &[],
            )
            .await
            .expect("stats");
        vacuumed = row.get(0);
        if vacuumed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(vacuumed, "VACUUM ran on cases after the purge");
}
