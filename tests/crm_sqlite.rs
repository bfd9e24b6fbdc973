//! The SQLite case store against a real database file: durability across reopen and SIGKILL,
//! returning callers, call records, export, retention, erasure, the JSON-lines import, group
//! commit under concurrency, and a store locked by another connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use frontdoor::Pii;
use frontdoor::crm::{
    CallRecord, CaseStatus, CaseStore, CaseUpdate, ExportFilter, ExportFormat, MediaQuality,
    NewCase, Outcome, RetentionPolicy, Turn, is_reference, records_export_cmd, records_purge_cmd,
};
use serde_json::json;

/// A temp dir removed on drop (also when a test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "frontdoor-crm-{tag}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    fn db(&self) -> PathBuf {
        self.0.join("frontdoor.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

fn missed_bin(caller: &str, call_id: &str) -> NewCase {
    NewCase {
        service: "waste".into(),
        intent: Some("missed_bin".into()),
        fields: json!({"postcode": "RM17 6SL", "house_number": "12", "bin": "green"}),
        caller: Some(Pii::new(caller.to_string())),
        language: Some("en-GB".into()),
        accessibility: vec!["slow_speech".into()],
        flow_name: "council".into(),
        flow_version: "abc123".into(),
        transcript_excerpts: vec!["my green bin was not collected".into()],
        call_id: call_id.into(),
        update_of: None,
    }
}

fn call_record(call_id: &str, caller: &str, days_ago: i64) -> CallRecord {
    let started = Utc::now() - chrono::Duration::days(days_ago);
    let mut r = CallRecord::new(call_id, started, Outcome::CaseCreated);
    r.answered_at = Some(started + chrono::Duration::seconds(1));
    r.ended_at = Some(started + chrono::Duration::seconds(95));
    r.caller = Some(Pii::new(caller.into()));
    r.flow_name = "council".into();
    r.flow_version = "abc123".into();
    r.node_path = vec![
        "welcome".into(),
        "ask_need".into(),
        "case_missed_bin".into(),
    ];
    r.turns = vec![Turn {
        prompt: "ask_need".into(),
        transcript: Some(Pii::new("my bin was missed, said \"again\", really".into())),
        intent: Some("missed_bin".into()),
        confidence: Some(0.91),
        dtmf: None,
        ..Turn::default()
    }];
    r.survey = vec![("satisfaction".into(), "5".into())];
    r.language = Some("en-GB".into());
    r.hangup_cause = Some("caller_hung_up".into());
    r.media = MediaQuality {
        packets_in: 4700,
        packets_out: 4750,
        lost: 3,
        jitter_ms: 2.5,
    };
    r
}

#[tokio::test]
async fn cases_survive_reopening_with_all_their_content() {
    let dir = TempDir::new("reopen");
    let created = {
        let store = CaseStore::open_sqlite(&dir.db()).expect("open");
        store
            .create_case(missed_bin("+447700900123", "call-1"))
            .await
            .expect("create")
    };
    assert!(is_reference(&created.reference), "{}", created.reference);
    assert_eq!(created.status, CaseStatus::Open);
    assert_eq!(created.version, 1);

    let store = CaseStore::open_sqlite(&dir.db()).expect("reopen");
    let got = store
        .get_case(&created.reference)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got, created);
    assert_eq!(got.fields["postcode"], "RM17 6SL");
    assert_eq!(
        got.caller.as_ref().map(|c| c.expose().as_str()),
        Some("+447700900123")
    );
    assert_eq!(got.accessibility, vec!["slow_speech"]);
    assert_eq!(got.call_ids, vec!["call-1"]);
    assert!(store.get_case("TC-AAAA-AA").await.expect("get").is_none());
}

#[tokio::test]
async fn returning_callers_find_open_cases_and_update_instead_of_duplicating() {
    let dir = TempDir::new("returning");
    let store = CaseStore::open_sqlite(&dir.db()).expect("open");
    let first = store
        .create_case(missed_bin("+447700900123", "call-1"))
        .await
        .expect("create");
    let other = store
        .create_case(missed_bin("+447700900999", "call-2"))
        .await
        .expect("create");

    let open = store
        .open_cases_for_caller("+447700900123")
        .await
        .expect("lookup");
    assert_eq!(
        open.iter()
            .map(|c| c.reference.as_str())
            .collect::<Vec<_>>(),
        vec![first.reference.as_str()]
    );

    let mut again = missed_bin("+447700900123", "call-3");
    again.update_of = Some(first.reference.clone());
    again.fields = json!({"bin": "blue", "postcode": null});
    again.transcript_excerpts = vec!["it is still not collected".into()];
    let updated = store
        .create_case(again)
        .await
        .expect("update via case node");
    assert_eq!(updated.reference, first.reference);
    assert_eq!(updated.version, 2);
    assert_eq!(
        updated.fields,
        json!({"postcode": "RM17 6SL", "house_number": "12", "bin": "blue"})
    );
    assert_eq!(updated.call_ids, vec!["call-1", "call-3"]);
    assert_eq!(updated.transcript_excerpts.len(), 2);

    store
        .apply_case_update(
            &first.reference,
            CaseUpdate {
                status: Some(CaseStatus::Closed),
                ..Default::default()
            },
        )
        .await
        .expect("close");
    assert!(
        store
            .open_cases_for_caller("+447700900123")
            .await
            .expect("lookup")
            .is_empty()
    );
    assert_eq!(
        store
            .open_cases_for_caller("+447700900999")
            .await
            .expect("lookup")[0]
            .reference,
        other.reference
    );

    let err = store
        .update_case("TC-AAAA-AA", json!({}))
        .await
        .expect_err("unknown case");
    assert!(err.to_string().contains("TC-AAAA-AA"), "{err}");

    // A case to update that has since been erased: the caller still gets a case, a new one.
    let mut orphan = missed_bin("+447700900123", "call-4");
    orphan.update_of = Some("TC-AAAA-AA".into());
    let fresh = store.create_case(orphan).await.expect("create instead");
    assert_ne!(fresh.reference, "TC-AAAA-AA");
    assert_eq!(fresh.version, 1);
}

#[tokio::test]
async fn concurrent_calls_get_unique_durable_references() {
    let dir = TempDir::new("concurrent");
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    let mut tasks = Vec::new();
    for i in 0..400 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create_case(missed_bin(&format!("+4477009{i:05}"), &format!("call-{i}")))
                .await
        }));
    }
    let mut refs = std::collections::HashSet::new();
    for t in tasks {
        refs.insert(t.await.expect("join").expect("create").reference);
    }
    assert_eq!(refs.len(), 400);
    drop(store);
    let store = CaseStore::open_sqlite(&dir.db()).expect("reopen");
    let all = store
        .export_records(&ExportFilter::default())
        .await
        .expect("export");
    assert_eq!(all.cases.len(), 400);
}

#[tokio::test]
async fn a_store_locked_by_another_connection_delays_cases_but_does_not_fail_them() {
    let dir = TempDir::new("locked");
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    store
        .create_case(missed_bin("+447700900123", "warm-up"))
        .await
        .expect("create");

    let locker = rusqlite::Connection::open(dir.db()).expect("second connection");
    locker
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");
    let pending = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_case(missed_bin("+447700900123", "during-lock"))
                .await
        })
    };
    // Longer than the writer's busy timeout, so it has to retry.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !pending.is_finished(),
        "case committed while another connection held the lock"
    );
    locker.execute_batch("COMMIT").expect("release");
    let case = pending
        .await
        .expect("join")
        .expect("case completes once the store is back");
    assert!(
        store
            .get_case(&case.reference)
            .await
            .expect("get")
            .is_some()
    );
}

#[tokio::test]
async fn call_records_export_by_date_and_by_caller_in_json_and_csv() {
    let dir = TempDir::new("export");
    let store = CaseStore::open_sqlite(&dir.db()).expect("open");
    store
        .record_call(call_record("old", "+447700900123", 40))
        .await
        .expect("record");
    store
        .record_call(call_record("new", "+447700900123", 1))
        .await
        .expect("record");
    store
        .record_call(call_record("other", "+447700900999", 1))
        .await
        .expect("record");
    store
        .create_case(missed_bin("+447700900123", "new"))
        .await
        .expect("case");

    let since = ExportFilter {
        since: Some(Utc::now() - chrono::Duration::days(7)),
        caller: None,
    };
    let recent = store.export_records(&since).await.expect("export");
    assert_eq!(
        recent
            .calls
            .iter()
            .map(|c| c.call_id.as_str())
            .collect::<Vec<_>>(),
        vec!["new", "other"]
    );
    assert_eq!(recent.calls[0], call_record_roundtrip(&recent.calls[0]));

    let subject = ExportFilter {
        since: None,
        caller: Some("+447700900123".into()),
    };
    let mut json_out = Vec::new();
    let n = records_export_cmd(&store, &subject, ExportFormat::Json, &mut json_out)
        .await
        .expect("json");
    assert_eq!(n, 3);
    let v: serde_json::Value = serde_json::from_slice(&json_out).expect("valid json");
    assert_eq!(v["calls"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["cases"][0]["fields"]["postcode"], "RM17 6SL");
    assert_eq!(
        v["calls"][0]["turns"][0]["transcript"],
        "my bin was missed, said \"again\", really"
    );

    let mut csv_out = Vec::new();
    records_export_cmd(&store, &since, ExportFormat::Csv, &mut csv_out)
        .await
        .expect("csv");
    let csv = String::from_utf8(csv_out).expect("utf8");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("record_type,id,"))
    );
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.len(), 3, "{csv}");
    assert!(body[0].starts_with("case,TC-"), "{csv}");
    assert!(body[1].starts_with("call,new,"), "{csv}");
    assert!(body[1].contains(",case_created,"), "{csv}");
    assert!(body[1].contains(",95.000,1,4700,4750,3,2.50,"), "{csv}");
}

fn call_record_roundtrip(r: &CallRecord) -> CallRecord {
    serde_json::from_value(serde_json::to_value(r).expect("ser")).expect("de")
}

#[tokio::test]
async fn retention_deletes_old_transcripts_and_keeps_aggregates() {
    let dir = TempDir::new("retention");
    let store = CaseStore::open_sqlite(&dir.db()).expect("open");
    store
        .record_call(call_record("old", "+447700900123", 40))
        .await
        .expect("record");
    store
        .record_call(call_record("new", "+447700900123", 1))
        .await
        .expect("record");

    let policy = RetentionPolicy {
        transcripts: Duration::from_secs(30 * 86_400),
    };
    let report = store
        .apply_retention(policy, Utc::now())
        .await
        .expect("retention");
    assert_eq!(report.calls_redacted, 1);
    let again = store
        .apply_retention(policy, Utc::now())
        .await
        .expect("retention");
    assert_eq!(again.calls_redacted, 0, "second run has nothing left to do");

    let all = store
        .export_records(&ExportFilter::default())
        .await
        .expect("export");
    let old = all
        .calls
        .iter()
        .find(|c| c.call_id == "old")
        .expect("old kept");
    let new = all
        .calls
        .iter()
        .find(|c| c.call_id == "new")
        .expect("new kept");
    assert!(old.turns[0].transcript.is_none());
    assert_eq!(old.turns[0].intent.as_deref(), Some("missed_bin"));
    assert_eq!(old.outcome, Outcome::CaseCreated);
    assert_eq!(old.media.packets_in, 4700);
    assert!(new.turns[0].transcript.is_some());
}

#[tokio::test]
async fn purge_erases_a_callers_cases_and_calls_and_queues_erasure() {
    let dir = TempDir::new("purge");
    let store = CaseStore::open_sqlite(&dir.db()).expect("open");
    store.register_sink("crm", true);
    store.register_sink("no-erasure", false);
    let a = store
        .create_case(missed_bin("+447700900123", "c1"))
        .await
        .expect("case");
    store
        .create_case(missed_bin("+447700900123", "c2"))
        .await
        .expect("case");
    let keep = store
        .create_case(missed_bin("+447700900999", "c3"))
        .await
        .expect("case");
    store
        .record_call(call_record("c1", "+447700900123", 1))
        .await
        .expect("record");
    store
        .record_call(call_record("c3", "+447700900999", 1))
        .await
        .expect("record");

    let mut out = Vec::new();
    let report = records_purge_cmd(&store, "+447700900123", &mut out)
        .await
        .expect("purge");
    assert_eq!(
        (
            report.cases_deleted,
            report.calls_deleted,
            report.erasures_queued
        ),
        (2, 1, 2)
    );
    assert!(
        !String::from_utf8_lossy(&out).contains("900123"),
        "summary must not echo the number"
    );
    assert!(store.get_case(&a.reference).await.expect("get").is_none());
    assert!(
        store
            .get_case(&keep.reference)
            .await
            .expect("get")
            .is_some()
    );
    let left = store
        .export_records(&ExportFilter::default())
        .await
        .expect("export");
    assert_eq!(left.calls.len(), 1);
    // The undelivered create events of the erased cases are gone; only erasures remain for them.
    assert_eq!(store.outbox_backlog("crm").await.expect("backlog"), 3);
    assert_eq!(
        store.outbox_backlog("no-erasure").await.expect("backlog"),
        1
    );
    assert!(store.purge_caller("  ").await.is_err());
}

#[tokio::test]
async fn jsonl_import_runs_once() {
    let dir = TempDir::new("import");
    let path = dir.0.join("cases.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"reference":"TC-4K7Q-97","service":"waste","intent":"missed_bin","fields":{"postcode":"RM17 6SL"},"caller":"+447700900123","created_at":"2026-01-05T10:00:00Z"}"#,
            "\n\n",
            r#"{"intent":"pothole","location":"High Street"}"#,
            "\n",
            "this line is broken\n",
        ),
    )
    .expect("write");
    let store = CaseStore::open_sqlite(&dir.db()).expect("open");
    let first = store.import_jsonl_cases(&path).await.expect("import");
    assert_eq!(first.imported, 2);
    assert_eq!(first.rejected.len(), 1);
    assert_eq!(first.rejected[0].0, 4);
    let second = store.import_jsonl_cases(&path).await.expect("import again");
    assert_eq!((second.imported, second.already_imported), (0, 2));

    let case = store
        .get_case("TC-4K7Q-97")
        .await
        .expect("get")
        .expect("kept its reference");
    assert_eq!(case.fields["postcode"], "RM17 6SL");
    assert_eq!(case.created_at.to_rfc3339(), "2026-01-05T10:00:00+00:00");
    assert_eq!(
        store
            .open_cases_for_caller("+447700900123")
            .await
            .expect("lookup")
            .len(),
        1
    );
    assert_eq!(
        store
            .export_records(&ExportFilter::default())
            .await
            .expect("export")
            .cases
            .len(),
        2
    );
    let missing = store
        .import_jsonl_cases(&dir.0.join("nope.jsonl"))
        .await
        .expect("no file");
    assert_eq!(missing.imported, 0);
}

/// Child side of the SIGKILL test: creates cases forever, printing each reference only after
/// `create_case` returned (the moment a caller would hear it).
#[tokio::test]
async fn sigkill_child_writer() {
    let Ok(db) = std::env::var("FRONTDOOR_CRM_KILL_DB") else {
        return;
    };
    let store = Arc::new(CaseStore::open_sqlite(Path::new(&db)).expect("open"));
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0.. {
                let case = store
                    .create_case(missed_bin("+447700900123", &format!("w{worker}-{i}")))
                    .await
                    .expect("create");
                println!("HEARD {}", case.reference);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[test]
fn no_reference_a_caller_heard_is_lost_to_sigkill() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    let dir = TempDir::new("sigkill");
    let exe = std::env::current_exe().expect("test binary");
    let mut heard = Vec::new();
    for round in 0..3u64 {
        let mut child = Child(
            Command::new(&exe)
                .args([
                    "--exact",
                    "sigkill_child_writer",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("FRONTDOOR_CRM_KILL_DB", dir.db())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn child"),
        );
        let stdout = child.0.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        // Kill after a different number of heard references each round: a "random moment".
        let target = 150 + round * 97;
        let mut seen = 0;
        while seen < target {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(r) = line.strip_prefix("HEARD ") {
                heard.push(r.to_string());
                seen += 1;
            }
        }
        // SIGKILL: no destructor, no flush, no checkpoint.
        child.0.kill().expect("kill");
        // References printed before the kill landed but not yet read are heard too.
        for line in lines.map_while(Result::ok) {
            if let Some(r) = line.strip_prefix("HEARD ") {
                heard.push(r.to_string());
            }
        }
        let _ = child.0.wait();
    }
    assert!(
        heard.len() >= 150 * 3,
        "children produced too few cases: {}",
        heard.len()
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = CaseStore::open_sqlite(&dir.db()).expect("reopen after kill");
        for r in &heard {
            assert!(
                store.get_case(r).await.expect("get").is_some(),
                "case {r} was read back but is lost"
            );
        }
    });
}
