//! Erasure against a real SQLite file and the real CLI binary: a caller stored under one
//! spelling of their number is erased by `records purge` given another, is gone from
//! `records export --caller` in every spelling and from returning-caller look-ups, and no byte
//! of the number (in any spelling), the account number, the case reference or the transcript is
//! left in the database file, its WAL or its shared-memory index — while a second, server-style
//! connection stays open and after it closes. A database written before numbers were
//! normalised is migrated when it is opened.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use frontdoor::Pii;
use frontdoor::crm::{CallRecord, CaseStore, ExportFilter, NewCase, Outcome, Turn};
use serde_json::json;
use support::process::ChildGuard;
use support::server::frontdoor_binary;
use support::tempdir::TempDir;

/// The caller, as the PBX presented them.
const STORED_AS: &str = "+447700900123";
/// The caller, as the operator typed the erasure request.
const PURGED_AS: &str = "07700900123";
/// Every spelling searched for in the raw files. `7700900123` is inside every contiguous one.
const NUMBER_FORMS: &[&str] = &[
    "+447700900123",
    "447700900123",
    "07700900123",
    "7700900123",
    "07700 900123",
    "7700 900123",
    "+44 7700 900123",
];
/// Spellings an export by caller is tried with.
const EXPORT_FORMS: &[&str] = &[
    "07700900123",
    "+447700900123",
    "00447700900123",
    "+44 7700 900123",
    "07700 900123",
    "tel:+44-7700-900123",
];
/// A council-tax account number the caller gave.
const ACCOUNT: &str = "88012345";
/// Something the caller said.
const PHRASE: &str = "my council tax bill went to the wrong flat";

fn db_path(data: &Path) -> PathBuf {
    data.join("frontdoor.sqlite")
}

fn case_of(caller: &str, call_id: &str, fields: serde_json::Value) -> NewCase {
    NewCase {
        service: "council_tax".into(),
        intent: Some("wrong_bill".into()),
        fields,
        caller: Some(Pii::new(caller.to_string())),
        language: Some("en-GB".into()),
        accessibility: vec![],
        flow_name: "council".into(),
        flow_version: "v1".into(),
        transcript_excerpts: vec![PHRASE.into()],
        call_id: call_id.into(),
        update_of: None,
    }
}

fn call_of(caller: &str, call_id: &str, days_ago: i64) -> CallRecord {
    let started = Utc::now() - chrono::Duration::days(days_ago);
    let mut r = CallRecord::new(call_id, started, Outcome::CaseCreated);
    r.ended_at = Some(started + chrono::Duration::seconds(60));
    r.caller = Some(Pii::new(caller.to_string()));
    r.flow_name = "council".into();
    r.flow_version = "v1".into();
    r.turns = vec![Turn {
        prompt: "ask_need".into(),
        transcript: Some(Pii::new(format!("{PHRASE}, call me on 07700 900123"))),
        intent: Some("wrong_bill".into()),
        ..Turn::default()
    }];
    r
}

/// Runs `frontdoor records --data DATA ARGS…` to completion (bounded) and returns its stdout.
fn records_cli(dir: &TempDir, data: &Path, args: &[&str]) -> String {
    let out = dir.join(&format!("cli-{}.out", rand_tag()));
    let err = dir.join(&format!("cli-{}.err", rand_tag()));
    let child = std::process::Command::new(frontdoor_binary())
        .arg("records")
        .arg("--data")
        .arg(data)
        .args(args)
        .current_dir(dir.path())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("frontdoor records starts");
    let mut guard = ChildGuard::new("frontdoor records", child);
    let status = guard
        .wait_timeout(Duration::from_secs(60))
        .expect("frontdoor records finishes within 60 s");
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.success(),
        "frontdoor records {args:?}: {status}\n{stdout}\n{stderr}"
    );
    stdout
}

fn rand_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// `grep -a -c`-style: occurrences of each needle in the database file, its WAL and its
/// shared-memory index (a missing file has none). Returns (file, needle, count) for hits only.
fn raw_hits(db: &Path, needles: &[&str]) -> Vec<(String, String, usize)> {
    let mut hits = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        for needle in needles {
            let n = count(&bytes, needle.as_bytes());
            if n > 0 {
                let name = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                hits.push((name, (*needle).to_string(), n));
            }
        }
    }
    hits
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || hay.len() < needle.len() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Waits (bounded) until the store's threads have closed their connections: the last one to
/// close checkpoints and removes the WAL.
fn wait_closed(db: &Path) {
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    // A read-only connection closing last leaves the WAL file in place: wait briefly only.
    for _ in 0..5 {
        if !wal.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn file_sizes(db: &Path) -> String {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| {
            let p = format!("{}{s}", db.display());
            let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            format!("{}{s}={len}B", "db")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_given_another_spelling_leaves_nothing_in_export_lookup_or_the_files() {
    let dir = TempDir::new("erasure").expect("temp dir");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let db = db_path(&data);
    // The server's connection: stays open while the CLI purges from another process.
    let store = CaseStore::open_sqlite(&db).expect("open store");
    store.register_sink("crm", true);
    let first = store
        .create_case(case_of(
            STORED_AS,
            "call-1",
            json!({"account_number": ACCOUNT, "callback": "07700 900123", "postcode": "RM17 6SL"}),
        ))
        .await
        .expect("case");
    let second = store
        .create_case(case_of(
            "sip:07700900123@pbx.council.example",
            "call-2",
            json!({"account_number": ACCOUNT}),
        ))
        .await
        .expect("case");
    store
        .record_call(call_of("07700 900123", "call-1", 1))
        .await
        .expect("call record");
    // Someone else's case that mentions the number (a neighbour's callback number).
    let mut neighbour = case_of(
        "+447700900999",
        "call-3",
        json!({"note": "neighbour on +44 7700 900123"}),
    );
    neighbour.transcript_excerpts = vec!["the bins on our road were missed".into()];
    let other = store.create_case(neighbour).await.expect("case");
    // One of the caller's events is parked as a dead letter (the CRM refused it).
    {
        let raw = rusqlite::Connection::open(&db).expect("raw connection");
        raw.busy_timeout(Duration::from_secs(10)).expect("busy");
        raw.execute(
            "UPDATE outbox SET status = 'dead', last_error = 'HTTP 422 for 07700 900123' WHERE case_ref = ?1",
            [&first.reference],
        )
        .expect("dead letter");
    }
    let before = raw_hits(&db, NUMBER_FORMS);
    eprintln!(
        "figures: before purge {} hit(s) of the number in the files ({})",
        before.iter().map(|h| h.2).sum::<usize>(),
        file_sizes(&db)
    );

    let said = records_cli(&dir, &data, &["purge", "--caller", PURGED_AS]);
    eprintln!("figures: purge said: {}", said.trim());

    let mut rows_left = 0;
    for form in EXPORT_FORMS {
        let json = records_cli(
            &dir,
            &data,
            &["export", "--caller", form, "--format", "json"],
        );
        let v: serde_json::Value = serde_json::from_str(&json).expect("export is JSON");
        let n =
            v["cases"].as_array().map_or(0, Vec::len) + v["calls"].as_array().map_or(0, Vec::len);
        eprintln!("figures: export --caller {form:?}: {n} record(s)");
        rows_left += n;
    }
    let csv = records_cli(
        &dir,
        &data,
        &["export", "--caller", PURGED_AS, "--format", "csv"],
    );
    let csv_rows = csv.lines().count().saturating_sub(1);
    eprintln!("figures: export --caller {PURGED_AS:?} --format csv: {csv_rows} row(s)");
    let mut open_found = 0;
    for form in [STORED_AS, PURGED_AS] {
        let found = store.open_cases_for_caller(form).await.expect("lookup");
        eprintln!(
            "figures: returning-caller look-up by {form:?}: {} case(s)",
            found.len()
        );
        open_found += found.len();
    }
    let everything = records_cli(&dir, &data, &["export", "--format", "json"]);
    let mentions: Vec<&str> = [
        "7700900123",
        "7700 900123",
        ACCOUNT,
        PHRASE,
        first.reference.as_str(),
        second.reference.as_str(),
    ]
    .into_iter()
    .filter(|s| everything.contains(s))
    .collect();
    eprintln!("figures: full export still mentions {mentions:?}");
    let needles: Vec<&str> = NUMBER_FORMS
        .iter()
        .copied()
        .chain([
            ACCOUNT,
            PHRASE,
            first.reference.as_str(),
            second.reference.as_str(),
        ])
        .collect();
    let open_hits = raw_hits(&db, &needles);
    eprintln!(
        "figures: after purge, server connection open: {} hit(s) {open_hits:?} ({})",
        open_hits.iter().map(|h| h.2).sum::<usize>(),
        file_sizes(&db)
    );
    // The other caller's case is kept, without the number.
    let kept = store.get_case(&other.reference).await.expect("get");
    drop(store);
    wait_closed(&db);
    let closed_hits = raw_hits(&db, &needles);
    eprintln!(
        "figures: after purge, all connections closed: {} hit(s) {closed_hits:?} ({})",
        closed_hits.iter().map(|h| h.2).sum::<usize>(),
        file_sizes(&db)
    );

    assert!(
        said.contains("erased 2 case(s) and 1 call record(s)"),
        "{said}"
    );
    assert_eq!(rows_left, 0, "export by caller after purge");
    assert_eq!(csv_rows, 0, "CSV export by caller after purge:\n{csv}");
    assert_eq!(open_found, 0, "returning-caller look-up after purge");
    assert!(mentions.is_empty(), "full export: {mentions:?}");
    assert!(
        open_hits.is_empty(),
        "raw bytes with the server connection open: {open_hits:?}"
    );
    assert!(
        closed_hits.is_empty(),
        "raw bytes after close: {closed_hits:?}"
    );
    let kept = kept.expect("the other caller's case is kept");
    assert!(
        kept.fields.to_string().contains("[erased]"),
        "{}",
        kept.fields
    );
}

/// Schema version 1 as released, before caller numbers were normalised.
const SCHEMA_V1: &str = "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);
    INSERT INTO schema_migrations VALUES (1, 0);
    CREATE TABLE cases (reference TEXT PRIMARY KEY, service TEXT NOT NULL, intent TEXT, fields TEXT NOT NULL,
        caller TEXT, language TEXT, accessibility TEXT NOT NULL, flow_name TEXT NOT NULL, flow_version TEXT NOT NULL,
        transcript_excerpts TEXT NOT NULL, call_ids TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE INDEX cases_by_caller ON cases(caller, status);
    CREATE INDEX cases_by_updated ON cases(updated_at);
    CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, sink TEXT NOT NULL, case_ref TEXT NOT NULL,
        kind TEXT NOT NULL, sequence INTEGER NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, last_error TEXT,
        created_at INTEGER NOT NULL, delivered_at INTEGER);
    CREATE INDEX outbox_due ON outbox(sink, status, next_attempt_at);
    CREATE INDEX outbox_by_case ON outbox(sink, case_ref, id);
    CREATE TABLE call_records (call_id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, answered_at INTEGER,
        ended_at INTEGER, caller TEXT, flow_name TEXT NOT NULL, flow_version TEXT NOT NULL, node_path TEXT NOT NULL,
        turns TEXT NOT NULL, outcome TEXT NOT NULL, survey TEXT NOT NULL, language TEXT, accessibility TEXT NOT NULL,
        hangup_cause TEXT, packets_in INTEGER NOT NULL, packets_out INTEGER NOT NULL, lost INTEGER NOT NULL,
        jitter_ms REAL NOT NULL, case_refs TEXT NOT NULL, transcripts_deleted_at INTEGER);
    CREATE INDEX call_records_by_caller ON call_records(caller);
    CREATE INDEX call_records_by_started ON call_records(started_at);
    CREATE TABLE legacy_imports (line_key TEXT PRIMARY KEY, reference TEXT NOT NULL, imported_at INTEGER NOT NULL);";

fn insert_v1_case(c: &rusqlite::Connection, reference: &str, caller: &str) {
    let now = Utc::now().timestamp_millis();
    c.execute(
        "INSERT INTO cases VALUES (?1, 'council_tax', 'wrong_bill', ?2, ?3, 'en-GB', '[]', 'council', 'v1', ?4,
         '[\"c\"]', 'open', 1, ?5, ?5)",
        rusqlite::params![
            reference,
            json!({"account_number": ACCOUNT}).to_string(),
            caller,
            json!([PHRASE]).to_string(),
            now
        ],
    )
    .expect("insert v1 case");
}

fn insert_v1_call(c: &rusqlite::Connection, call_id: &str, caller: &str) {
    let now = Utc::now().timestamp_millis();
    c.execute(
        "INSERT INTO call_records VALUES (?1, ?2, NULL, ?2, ?3, 'council', 'v1', '[]', ?4, 'case_created', '[]',
         NULL, '[]', NULL, 0, 0, 0, 0.0, '[]', NULL)",
        rusqlite::params![
            call_id,
            now,
            caller,
            json!([{"prompt": "ask", "transcript": PHRASE}]).to_string()
        ],
    )
    .expect("insert v1 call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_written_with_unnormalised_numbers_is_migrated_on_open() {
    let dir = TempDir::new("erasure-migrate").expect("temp dir");
    let db = dir.join("frontdoor.sqlite");
    {
        // Written by an earlier release: numbers as each PBX spelt them, and an erasure done
        // by that release (exact match) that left the row's bytes in the file.
        let c = rusqlite::Connection::open(&db).expect("create v1 database");
        c.pragma_update(None, "journal_mode", "WAL").expect("wal");
        c.execute_batch(SCHEMA_V1).expect("schema v1");
        insert_v1_case(&c, "TC-AAAA-97", "07700 900123");
        insert_v1_case(&c, "TC-CCCC-97", "sip:+447700900123@pbx.council.example");
        insert_v1_case(&c, "TC-DDDD-97", "+447700900999");
        insert_v1_call(&c, "old-call", "00447700900123");
        insert_v1_call(&c, "gone-call", "07700900123");
        c.execute("DELETE FROM call_records WHERE caller = '07700900123'", [])
            .expect("old purge");
    }
    let store = CaseStore::open_sqlite(&db).expect("an old database opens");
    let mut found = Vec::new();
    for form in ["+447700900123", "07700900123", "00447700900123"] {
        let open = store.open_cases_for_caller(form).await.expect("lookup");
        let export = store
            .export_records(&ExportFilter {
                since: None,
                caller: Some(form.into()),
            })
            .await
            .expect("export");
        eprintln!(
            "figures: migrated database, {form:?}: {} open case(s), export {} case(s) {} call(s)",
            open.len(),
            export.cases.len(),
            export.calls.len()
        );
        found.push((open.len(), export.cases.len(), export.calls.len()));
    }
    let other = store
        .open_cases_for_caller("+447700900999")
        .await
        .expect("lookup");
    let report = store.purge_caller("0044 7700 900123").await.expect("purge");
    eprintln!(
        "figures: purge of the migrated database: {} case(s), {} call(s)",
        report.cases_deleted, report.calls_deleted
    );
    let needles = [
        "7700900123",
        "7700 900123",
        "TC-AAAA-97",
        "TC-CCCC-97",
        "old-call",
        "gone-call",
    ];
    let hits = raw_hits(&db, &needles);
    eprintln!(
        "figures: migrated database after purge: {} hit(s) {hits:?}",
        hits.iter().map(|h| h.2).sum::<usize>()
    );
    drop(store);
    wait_closed(&db);
    let closed = raw_hits(&db, &needles);
    eprintln!(
        "figures: migrated database after close: {} hit(s) {closed:?}",
        closed.iter().map(|h| h.2).sum::<usize>()
    );

    assert_eq!(found, vec![(2, 2, 1); 3], "every spelling finds the caller");
    assert_eq!(other.len(), 1, "another caller is untouched");
    assert_eq!((report.cases_deleted, report.calls_deleted), (2, 1));
    assert!(hits.is_empty(), "{hits:?}");
    assert!(closed.is_empty(), "{closed:?}");
    let reopened = CaseStore::open_sqlite(&db).expect("reopens at the new version");
    let left = reopened
        .open_cases_for_caller("+447700900999")
        .await
        .expect("lookup");
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].caller.as_ref().map(|c| c.expose().as_str()),
        Some("+447700900999")
    );
}
