//! Case store and outbox throughput, with the store's real durability settings
//! (SQLite WAL + `synchronous=FULL`; PostgreSQL defaults, `synchronous_commit=on`).
//!
//! Prints figures rather than using criterion: what matters is commits per second from many
//! concurrent calls (group commit) and the latency each call sees, not a per-iteration time.
//!
//!   cargo bench --bench crm                 (release profile)
//!   cargo test --bench crm                  (the dev profile used on the shared 2-core box)
//!
//! Env: FRONTDOOR_BENCH_CASES (default 5000), FRONTDOOR_BENCH_CALLS (concurrent, default 200).
//! PostgreSQL is measured when scripts/pg-test-cluster.sh can start a cluster.

#[path = "../tests/pg_cluster/mod.rs"]
mod pg_cluster;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use frontdoor::Pii;
use frontdoor::crm::{
    Backoff, CaseStore, NewCase, OutboxConfig, OutboxWorker, WebhookSink, verify_signature,
};
use pg_cluster::Cluster;

const SECRET: &[u8] = b"bench-secret";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn case(i: usize) -> NewCase {
    NewCase {
        service: "waste".into(),
        intent: Some("missed_bin".into()),
        fields: serde_json::json!({"postcode": "RM17 6SL", "house_number": i.to_string(), "bin": "green"}),
        caller: Some(Pii::new(format!("+4477009{:05}", i % 100_000))),
        language: Some("en-GB".into()),
        accessibility: vec![],
        flow_name: "council".into(),
        flow_version: "0123456789abcdef".into(),
        transcript_excerpts: vec!["my green bin was not collected on tuesday".into()],
        call_id: format!("bench-{i}@127.0.0.1"),
        update_of: None,
    }
}

/// Commits `total` cases from `calls` concurrent tasks; prints rate and latency percentiles.
async fn commit_burst(label: &str, store: Arc<CaseStore>, total: usize, calls: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                if let Err(e) = store.create_case(case(i)).await {
                    eprintln!("create failed: {e}");
                    break;
                }
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap_or_default());
    }
    let elapsed = start.elapsed();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{label}: {} cases from {calls} concurrent calls in {:.2} s = {:.0} commits/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

async fn outbox_rate(store: Arc<CaseStore>, total: usize) {
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => return eprintln!("cannot bind receiver: {e}"),
    };
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let received = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |axum::extract::State(n): axum::extract::State<Arc<AtomicUsize>>,
                 headers: axum::http::HeaderMap,
                 body: axum::body::Bytes| async move {
                    let sig = headers
                        .get("x-frontdoor-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if verify_signature(SECRET, &body, sig) {
                        n.fetch_add(1, Ordering::Relaxed);
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::UNAUTHORIZED
                    }
                },
            ),
        )
        .with_state(received.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    store.register_sink("bench-webhook", true);
    for i in 0..total {
        if store.create_case(case(i)).await.is_err() {
            return;
        }
    }
    let sink = match WebhookSink::new(
        "bench-webhook",
        &format!("http://{addr}/hook"),
        SECRET,
        Duration::from_secs(5),
    ) {
        Ok(s) => Arc::new(s),
        Err(e) => return eprintln!("{e}"),
    };
    let start = Instant::now();
    let config = OutboxConfig {
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
        },
        ..OutboxConfig::default()
    };
    let worker = OutboxWorker::spawn(store.clone(), sink, config);
    while received.load(Ordering::Relaxed) < total && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    worker.shutdown().await;
    server.abort();
    println!(
        "outbox -> local webhook (SQLite store): {} events in {:.2} s = {:.0} deliveries/s",
        received.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        received.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
    );
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    let total = env_usize("FRONTDOOR_BENCH_CASES", 5000);
    let calls = env_usize("FRONTDOOR_BENCH_CALLS", 200);
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    else {
        return eprintln!("no runtime");
    };
    let dir =
        TempDir(std::env::temp_dir().join(format!("frontdoor-crm-bench-{}", std::process::id())));
    if std::fs::create_dir_all(&dir.0).is_err() {
        return eprintln!("cannot create {}", dir.0.display());
    }
    rt.block_on(async {
        match CaseStore::open_sqlite(&dir.0.join("bench.sqlite")) {
            Ok(store) => {
                commit_burst(
                    "sqlite (WAL, synchronous=FULL)",
                    Arc::new(store),
                    total,
                    calls,
                )
                .await
            }
            Err(e) => eprintln!("sqlite: {e}"),
        }
        match CaseStore::open_sqlite(&dir.0.join("bench-1.sqlite")) {
            Ok(store) => {
                commit_burst(
                    "sqlite, one call at a time (no grouping)",
                    Arc::new(store),
                    total / 10,
                    1,
                )
                .await
            }
            Err(e) => eprintln!("sqlite: {e}"),
        }
        match CaseStore::open_sqlite(&dir.0.join("outbox.sqlite")) {
            Ok(store) => outbox_rate(Arc::new(store), total.min(2000)).await,
            Err(e) => eprintln!("sqlite: {e}"),
        }
        match Cluster::try_start().ok() {
            Some(cluster) => {
                match CaseStore::open_postgres(&cluster.url).await {
                    Ok(store) => {
                        commit_burst(
                            "postgres (synchronous_commit=on)",
                            Arc::new(store),
                            total,
                            calls,
                        )
                        .await
                    }
                    Err(e) => eprintln!("postgres: {e}"),
                }
                drop(cluster);
            }
            None => {
                println!("postgres: skipped (scripts/pg-test-cluster.sh could not start a cluster)")
            }
        }
    });
}
