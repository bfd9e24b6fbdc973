//! The webhook adapter and outbox worker against a real HTTP receiver inside the test that
//! verifies signatures and de-duplicates by idempotency key, as a CRM would.
//!
//! Fault cases: receiver down then up, 500s, timeouts, a poisoned case dead-lettered without
//! holding up others and delivered by the retry command, permanent rejections, restart.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use frontdoor::Pii;
use frontdoor::crm::{
    Backoff, CaseStore, NewCase, OutboxConfig, OutboxWorker, WebhookSink, dead_letter_retry_cmd,
    verify_signature,
};
use serde_json::json;

const SECRET: &[u8] = b"shared-secret-for-tests";

/// What the receiver accepted, as a CRM would store it.
#[derive(Default)]
struct Receiver {
    /// Events accepted once each: (reference, sequence, type).
    accepted: Mutex<Vec<(String, i64, String)>>,
    seen_keys: Mutex<HashSet<String>>,
    /// Requests carrying a key already accepted (answered 200, not applied again).
    duplicates: AtomicUsize,
    bad_signatures: AtomicUsize,
    requests: AtomicUsize,
    /// Answer 500 to the next N requests.
    fail_next: AtomicUsize,
    /// Accept the next N requests but answer only after the sink's timeout.
    hang_next: AtomicUsize,
    /// Answer 500 to every event of a case whose fields carry `"poison": true`, while set.
    /// (Marked in the case itself so that even its first delivery attempt is poisoned.)
    poison: std::sync::atomic::AtomicBool,
    // (Events of a case whose fields carry `"reject": true` are answered 422.)
}

impl Receiver {
    fn accepted(&self) -> Vec<(String, i64, String)> {
        self.accepted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Each case's accepted sequences, in arrival order.
    fn per_case(&self) -> BTreeMap<String, Vec<i64>> {
        let mut m: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (r, s, _) in self.accepted() {
            m.entry(r).or_default().push(s);
        }
        m
    }
}

async fn hook(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    rx.requests.fetch_add(1, Ordering::SeqCst);
    let sig = headers
        .get("x-frontdoor-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !verify_signature(SECRET, &body, sig) {
        rx.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let hang = take(&rx.hang_next);
    if !hang && take(&rx.fail_next) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let reference = v["reference"].as_str().unwrap_or("").to_string();
    if key != v["idempotency_key"] || key != format!("{reference}/{}", v["sequence"]) {
        return StatusCode::BAD_REQUEST;
    }
    if headers
        .get("x-frontdoor-event")
        .and_then(|h| h.to_str().ok())
        != v["type"].as_str()
    {
        return StatusCode::BAD_REQUEST;
    }
    if rx.poison.load(Ordering::SeqCst) && v["case"]["fields"]["poison"] == true {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if v["case"]["fields"]["reject"] == true {
        return StatusCode::UNPROCESSABLE_ENTITY;
    }
    let fresh = rx
        .seen_keys
        .lock()
        .map(|mut k| k.insert(key))
        .unwrap_or(false);
    if !fresh {
        rx.duplicates.fetch_add(1, Ordering::SeqCst);
        return StatusCode::OK;
    }
    let sequence = v["sequence"].as_i64().unwrap_or(-1);
    let kind = v["type"].as_str().unwrap_or("").to_string();
    if let Ok(mut a) = rx.accepted.lock() {
        a.push((reference, sequence, kind));
    }
    if hang {
        // Applied, but the answer comes after the sender gave up: it must retry, and the
        // retry must be recognised as a duplicate.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    StatusCode::OK
}

fn take(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A receiver on a fixed address; aborted on drop.
struct Server(tokio::task::JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve(rx: Arc<Receiver>, addr: SocketAddr) -> Server {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind receiver");
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(rx);
    Server(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

/// A free port on 127.0.0.1 with nothing listening on it (yet).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("frontdoor-hook-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    fn db(&self) -> PathBuf {
        self.0.join("store.sqlite")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(max_attempts: u32) -> OutboxConfig {
    OutboxConfig {
        max_attempts,
        backoff: Backoff {
            initial: Duration::from_millis(40),
            max: Duration::from_millis(300),
        },
        batch: 16,
        lease: Duration::from_secs(3),
        poll_interval: Duration::from_millis(200),
    }
}

fn sink(addr: SocketAddr) -> Arc<WebhookSink> {
    Arc::new(
        WebhookSink::new(
            "crm",
            &format!("http://{addr}/hook"),
            SECRET,
            Duration::from_millis(400),
        )
        .expect("sink"),
    )
}

fn case(i: usize) -> NewCase {
    NewCase {
        service: "waste".into(),
        intent: Some("missed_bin".into()),
        fields: json!({"postcode": "RM17 6SL", "house_number": i.to_string()}),
        caller: Some(Pii::new(format!("+4477009{i:05}"))),
        flow_name: "council".into(),
        flow_version: "v1".into(),
        call_id: format!("call-{i}"),
        ..NewCase::default()
    }
}

/// Waits (bounded) until `cond` holds; the bound only stops a broken test from hanging.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn assert_in_order(rx: &Receiver) {
    for (reference, seqs) in rx.per_case() {
        let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(
            seqs, expected,
            "events of {reference} out of order or missing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_arrive_once_with_the_documented_body() {
    let dir = TempDir::new("happy");
    let addr = free_addr();
    let rx = Arc::new(Receiver::default());
    let _server = serve(rx.clone(), addr).await;
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    let worker = OutboxWorker::spawn(store.clone(), sink(addr), config(10));

    let c = store.create_case(case(1)).await.expect("create");
    store
        .update_case(&c.reference, json!({"bin": "blue"}))
        .await
        .expect("update");
    eventually("2 events", || rx.accepted().len() == 2).await;
    assert_eq!(
        rx.accepted(),
        vec![
            (c.reference.clone(), 1, "case.created".into()),
            (c.reference.clone(), 2, "case.updated".into())
        ]
    );
    assert_eq!(rx.bad_signatures.load(Ordering::SeqCst), 0);
    eventually("outbox drained", || rx.requests.load(Ordering::SeqCst) == 2).await;
    worker.shutdown().await;
    assert_eq!(store.outbox_backlog("crm").await.expect("backlog"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_gets_every_event_once_in_order() {
    let dir = TempDir::new("down-up");
    let addr = free_addr();
    let rx = Arc::new(Receiver::default());
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    let worker = OutboxWorker::spawn(store.clone(), sink(addr), config(1000));

    let mut refs = Vec::new();
    for i in 0..20 {
        let c = store.create_case(case(i)).await.expect("create");
        store
            .update_case(&c.reference, json!({"step": 2}))
            .await
            .expect("update");
        store
            .update_case(&c.reference, json!({"step": 3}))
            .await
            .expect("update");
        refs.push(c.reference);
    }
    // Let the worker fail against the closed port for a while.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(rx.accepted().is_empty());
    assert_eq!(store.outbox_backlog("crm").await.expect("backlog"), 60);

    let _server = serve(rx.clone(), addr).await;
    eventually("60 events after recovery", || rx.accepted().len() == 60).await;
    worker.shutdown().await;
    assert_in_order(&rx);
    assert_eq!(
        rx.per_case().keys().cloned().collect::<HashSet<_>>(),
        refs.into_iter().collect()
    );
    assert_eq!(store.outbox_backlog("crm").await.expect("backlog"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_timeouts_are_retried_and_deduplicated() {
    let dir = TempDir::new("500s");
    let addr = free_addr();
    let rx = Arc::new(Receiver::default());
    rx.fail_next.store(7, Ordering::SeqCst);
    rx.hang_next.store(3, Ordering::SeqCst);
    let _server = serve(rx.clone(), addr).await;
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    let worker = OutboxWorker::spawn(store.clone(), sink(addr), config(1000));

    for i in 0..10 {
        let c = store.create_case(case(i)).await.expect("create");
        store
            .update_case(&c.reference, json!({"more": i}))
            .await
            .expect("update");
    }
    eventually("20 events", || rx.accepted().len() == 20).await;
    eventually("outbox drained", || {
        rx.fail_next.load(Ordering::SeqCst) == 0
    })
    .await;
    for _ in 0..100 {
        if store.outbox_backlog("crm").await.expect("backlog") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.shutdown().await;
    assert_in_order(&rx);
    assert_eq!(store.outbox_backlog("crm").await.expect("backlog"), 0);
    // The held requests were applied by the receiver after the sink gave up on them, so their
    // retries arrived as duplicates the receiver recognised by key.
    assert!(
        rx.duplicates.load(Ordering::SeqCst) >= 1,
        "timeouts should have produced retries"
    );
    assert!(rx.requests.load(Ordering::SeqCst) >= 20 + 7 + 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_does_not_block_other_cases_and_the_retry_command_delivers_it() {
    let dir = TempDir::new("dead");
    let addr = free_addr();
    let rx = Arc::new(Receiver::default());
    let _server = serve(rx.clone(), addr).await;
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    let worker = OutboxWorker::spawn(store.clone(), sink(addr), config(3));

    rx.poison.store(true, Ordering::SeqCst);
    let mut poisoned = case(0);
    poisoned.fields["poison"] = json!(true);
    let poison = store.create_case(poisoned).await.expect("create");
    store
        .update_case(&poison.reference, json!({"later": true}))
        .await
        .expect("update");
    let mut others = Vec::new();
    for i in 1..=5 {
        others.push(store.create_case(case(i)).await.expect("create").reference);
    }
    eventually("other cases delivered", || rx.accepted().len() == 5).await;
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = store.dead_letters().await.expect("dead letters");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].case_reference, poison.reference);
    assert_eq!(dead[0].sequence, 1);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].last_error.as_deref(), Some("transient: HTTP 500"));
    // The poisoned case's update waits behind its dead letter: order per case is kept.
    assert!(!rx.per_case().contains_key(&poison.reference));

    // Later cases are not held up either.
    let late = store.create_case(case(6)).await.expect("create");
    eventually("late case delivered", || {
        rx.per_case().contains_key(&late.reference)
    })
    .await;

    rx.poison.store(false, Ordering::SeqCst);
    let mut out = Vec::new();
    let n = dead_letter_retry_cmd(&store, &[], &mut out)
        .await
        .expect("retry");
    assert_eq!(n, 1);
    eventually("poisoned case delivered in order", || {
        rx.per_case()
            .get(&poison.reference)
            .is_some_and(|s| s.len() == 2)
    })
    .await;
    worker.shutdown().await;
    assert_in_order(&rx);
    assert!(store.dead_letters().await.expect("dead").is_empty());
    assert!(
        dead_letter_retry_cmd(&store, &[999_999], &mut out)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_rejection_is_parked_at_once() {
    let dir = TempDir::new("reject");
    let addr = free_addr();
    let rx = Arc::new(Receiver::default());
    let _server = serve(rx.clone(), addr).await;
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    let worker = OutboxWorker::spawn(store.clone(), sink(addr), config(10));
    let mut bad = case(0);
    bad.fields["reject"] = json!(true);
    store.create_case(bad).await.expect("create");
    let mut dead = Vec::new();
    for _ in 0..200 {
        dead = store.dead_letters().await.expect("dead letters");
        if !dead.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.shutdown().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("permanent: HTTP 422"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_a_restart() {
    let dir = TempDir::new("restart");
    let addr = free_addr();
    let rx = Arc::new(Receiver::default());
    let mut refs = HashSet::new();
    {
        // First process: commits cases, dies before delivering any.
        let store = CaseStore::open_sqlite(&dir.db()).expect("open");
        store.register_sink("crm", true);
        for i in 0..8 {
            refs.insert(store.create_case(case(i)).await.expect("create").reference);
        }
    }
    let _server = serve(rx.clone(), addr).await;
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("reopen"));
    let worker = OutboxWorker::spawn(store.clone(), sink(addr), config(10));
    eventually("8 cases after restart", || rx.accepted().len() == 8).await;
    worker.shutdown().await;
    assert_eq!(rx.per_case().keys().cloned().collect::<HashSet<_>>(), refs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_requests_reach_the_crm() {
    let dir = TempDir::new("erase");
    let addr = free_addr();
    let rx = Arc::new(Receiver::default());
    let _server = serve(rx.clone(), addr).await;
    let store = Arc::new(CaseStore::open_sqlite(&dir.db()).expect("open"));
    let worker = OutboxWorker::spawn(store.clone(), sink(addr), config(10));
    let c = store.create_case(case(3)).await.expect("create");
    eventually("created", || rx.accepted().len() == 1).await;
    let report = store.purge_caller("+447700900003").await.expect("purge");
    assert_eq!(report.erasures_queued, 1);
    eventually("erased", || rx.accepted().len() == 2).await;
    // Once the CRM has the erasure, the reference is gone from the database file and its WAL
    // too (the delivered erasure row is deleted, not kept as delivered).
    let hits = || {
        ["", "-wal"]
            .iter()
            .map(|suffix| {
                let bytes =
                    std::fs::read(format!("{}{suffix}", dir.db().display())).unwrap_or_default();
                bytes
                    .windows(c.reference.len())
                    .filter(|w| *w == c.reference.as_bytes())
                    .count()
            })
            .sum::<usize>()
    };
    let mut left = hits();
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = hits();
    }
    eprintln!("figures: case reference in db + WAL after the erasure was delivered: {left} hit(s)");
    worker.shutdown().await;
    assert_eq!(
        rx.accepted()[1],
        (c.reference.clone(), 2, "case.erased".to_string())
    );
    assert_eq!(left, 0, "the erased case's reference is left in the files");
}
