//! Load test: sipp holds `FRONTDOOR_LOAD_CALLS` (default 50) concurrent
//! calls of `FRONTDOOR_LOAD_SECONDS` (default 20) with RTP both ways against `frontdoor
//! serve`, and prints attempted/completed/failed calls, Frontdoor's CPU% and RSS,
//! INVITE→200 p50/p99 and the p50/p99 deviation of its RTP send times from the 20 ms
//! schedule, computed on the packets Frontdoor sent (source ports in its RTP range, captured
//! on loopback). Asserts only that no call failed; timings are printed.
//! `scripts/load.sh N [SECONDS] [RUNS]` runs it against a release build with N calls, RUNS
//! times against one server, and prints a summary table with medians.

mod support;

use support::demo::start_demo_server_configured;
use support::load::{LoadSpec, run_load, server_warnings, sipp_media_block, summary_table};

/// Per-source limits for one source placing every call: no rate limits, the whole call cap.
const LOAD_SOURCE_LIMITS: &str = "sip_limits:\n  requests_per_second: 0\n  invites_per_second: 0\n  \
                                  max_calls_per_source_percent: 100\n";

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn concurrent_calls_with_rtp_both_ways() {
    let calls = env_u32("FRONTDOOR_LOAD_CALLS", 50);
    let seconds = env_u32("FRONTDOOR_LOAD_SECONDS", 20);
    let rate = env_u32("FRONTDOOR_LOAD_RATE", 1000);
    let runs = env_u32("FRONTDOOR_LOAD_RUNS", 1).max(1);
    // The binary may be a release build from load.sh.
    let binary = std::env::var_os("FRONTDOOR_LOAD_BINARY").map(std::path::PathBuf::from);
    // The demo menu plays prompts on every call (welcome, menu, repeats) for its 20 s.
    // All calls come from one address (sipp on 127.0.0.1) at up to 1,000 new calls a second,
    // far past what the per-source defaults allow a PBX trunk: the load sizes its own limits,
    // as docs/security.md says an operator would for such a source.
    let server =
        start_demo_server_configured(&[], calls + 10, binary.as_deref(), Some(LOAD_SOURCE_LIMITS))
            .expect("frontdoor serve starts");
    let sipp_media = sipp_media_block(calls).expect("sipp media ports");
    // Repeated runs against one server: medians, and RSS growth across runs shows in the table.
    let mut reports = Vec::new();
    for run in 1..=runs {
        let report = run_load(&LoadSpec {
            calls,
            seconds,
            rate_per_second: rate,
            target: server.sip_addr(),
            target_pid: server.pid(),
            target_rtp: server.rtp_range(),
            sipp_media_port: Some(sipp_media),
        })
        .expect("load run completes");
        println!("load run {run}: {calls} calls x {seconds} s\n{report}");
        assert_eq!(
            report.failed,
            0,
            "{}\n{}",
            report.diagnostics,
            server.log_tail(4000)
        );
        assert_eq!(report.completed, u64::from(calls), "{}", report.diagnostics);
        reports.push(report);
    }
    println!("{}", summary_table(calls, seconds, &reports));
    println!("server warnings:\n{}", server_warnings(&server.log(), 20));
}
