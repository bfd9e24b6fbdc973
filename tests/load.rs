//! Load test: sipp holds `FRONTDOOR_LOAD_CALLS` (default 50) concurrent
//! calls of `FRONTDOOR_LOAD_SECONDS` (default 20) with RTP both ways against `frontdoor
//! serve`, and prints attempted/completed/failed calls, Frontdoor's CPU% and RSS,
//! INVITE→200 p50/p99 and the p50/p99 deviation of its RTP send times from the 20 ms
//! schedule, computed on the packets Frontdoor sent (source ports in its RTP range, captured
//! on loopback). Asserts only that no call failed; timings are printed.
//! `scripts/load.sh N [SECONDS] [RUNS] [FLOW]` runs it against a release build with N calls,
//! RUNS times against one server, and prints a summary table with medians.
//!
//! `FRONTDOOR_LOAD_FLOW` picks what the calls meet: `demo` (default) is the DTMF demo menu with
//! callers streaming a warble; `council` is `call-flows/council.yaml`, the real job, with speech
//! listening on every call and callers streaming silence (voice-activity detection on every
//! frame, no-input timers and reprompts; no recognitions).

mod support;

use std::path::Path;
use std::time::Duration;

use support::demo::repo_root;
use support::demo::start_demo_server_configured;
use support::load::{
    CallerAudio, LoadSpec, run_load, server_warnings, sipp_media_block, summary_table,
};
use support::server::{ServerGuard, ServerOptions};

/// The council's number in `call-flows/routes.yaml`.
const COUNCIL_NUMBER: &str = "01632960000";

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
    let council = match std::env::var("FRONTDOOR_LOAD_FLOW").as_deref() {
        Ok("council") => true,
        Ok("demo") | Err(_) => false,
        Ok(other) => panic!("FRONTDOOR_LOAD_FLOW={other}: expected demo or council"),
    };
    // All calls come from one address (sipp on 127.0.0.1) at up to 1,000 new calls a second,
    // far past what the per-source defaults allow a PBX trunk: the load sizes its own limits,
    // as docs/security.md says an operator would for such a source.
    let server = if council {
        start_council_server(calls + 10, binary.as_deref())
    } else {
        // The demo menu plays prompts on every call (welcome, menu, repeats) for its 20 s.
        start_demo_server_configured(&[], calls + 10, binary.as_deref(), Some(LOAD_SOURCE_LIMITS))
            .expect("frontdoor serve starts")
    };
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
            service: council.then(|| COUNCIL_NUMBER.to_string()),
            caller_audio: if council {
                CallerAudio::Silence
            } else {
                CallerAudio::Warble
            },
        })
        .expect("load run completes");
        let flow = if council {
            "council.yaml, silent callers"
        } else {
            "demo menu"
        };
        println!("load run {run} ({flow}): {calls} calls x {seconds} s\n{report}");
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
    if council {
        // Listening is what this load measures: a server that fell back to keypad-only measured
        // the wrong thing.
        assert!(
            !server.log().contains("speech recognition unavailable"),
            "the council flow ran without speech:\n{}",
            server.log_tail(2000)
        );
    }
    println!("{}", summary_table(calls, seconds, &reports));
    println!("server warnings:\n{}", server_warnings(&server.log(), 20));
}

/// `frontdoor serve` on the repository's council flows and prompts, listening with the installed
/// speech model, with room for `max_calls` calls.
fn start_council_server(max_calls: u32, binary: Option<&Path>) -> ServerGuard {
    let models = repo_root().join("models");
    let model = models.join("ggml-tiny.en.bin");
    assert!(
        model.is_file(),
        "{} is missing: run set-up (frontdoor model install)",
        model.display()
    );
    // The speech models as a council would run them: recognition, and the multilingual model
    // for language detection.
    let config = format!(
        "{LOAD_SOURCE_LIMITS}asr:\n  model: \"{}\"\n  language_model: \"{}\"\n",
        model.display(),
        models.join("ggml-base.bin").display()
    );
    let options = ServerOptions {
        config_yaml: Some(config),
        flows_dir: Some(repo_root().join("call-flows")),
        prompts_dir: Some(repo_root().join("audio-prompts")),
        args: vec!["--max-calls".to_string(), max_calls.to_string()],
        rtp_ports: u16::try_from(max_calls.saturating_mul(2).saturating_add(64))
            .unwrap_or(u16::MAX - 1),
        ready_within: Duration::from_secs(60),
        ..ServerOptions::default()
    };
    match binary {
        Some(binary) => ServerGuard::start_binary(binary, options),
        None => ServerGuard::start(options),
    }
    .expect("frontdoor serve starts with the council flow")
}
