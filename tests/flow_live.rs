//! The call-flow language on a live `frontdoor serve` (no `--demo-menu`): the repo's council
//! flow driven by a baresip caller's keypad stores a discount case with the keyed account
//! number, and hot reload swaps a valid flow change in for new calls only (calls in progress
//! keep their version), rejects an invalid one with a `council.yaml:LINE:COL` diagnostic
//! while the last valid version keeps serving, and SIGHUP re-runs that check.
//!
//! The server is observed only from outside: SIP through baresip, its log, and the stored
//! records through `frontdoor records --data DIR export`.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::baresip::{Baresip, BaresipOptions};
use support::demo::repo_root;
use support::server::{ServerGuard, ServerOptions};
use support::speech::{sine, write_padded_wav};
use support::tempdir::TempDir;

/// The council's number in `call-flows/routes.yaml`.
const COUNCIL_NUMBER: &str = "01632960000";

/// Starts the server on `flows` with the repo's prompts.
fn start_council_server(flows: &Path) -> ServerGuard {
    ServerGuard::start(ServerOptions {
        flows_dir: Some(flows.to_path_buf()),
        prompts_dir: Some(repo_root().join("audio-prompts")),
        args: vec!["--max-calls".into(), "10".into()],
        ready_within: Duration::from_secs(30),
        ..ServerOptions::default()
    })
    .expect("frontdoor serve starts with the council flow")
}

/// Copies the flow files of `call-flows/` (not its `tests/`) into a fresh directory.
fn copy_council_flows(dir: &TempDir) -> PathBuf {
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows).expect("flows dir");
    let source = repo_root().join("call-flows");
    for entry in std::fs::read_dir(&source).expect("call-flows/ readable") {
        let path = entry.expect("call-flows/ entry").path();
        if path.is_file()
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, flows.join(name)).expect("copying a flow file");
        }
    }
    flows
}

/// A baresip caller whose microphone is a quiet tone padded past any call here.
fn start_caller(dir: &TempDir, label: &str) -> Baresip {
    let mic = dir.join(&format!("{label}-mic.wav"));
    write_padded_wav(&mic, &sine(200.0, 1000, 500.0), 60_000).expect("mic.wav");
    Baresip::start(&BaresipOptions::caller(&mic)).expect("baresip starts")
}

/// Dials the council and waits for the answer.
fn dial_council(phone: &mut Baresip, server: &ServerGuard) {
    phone
        .dial(&format!("sip:{COUNCIL_NUMBER}@{}", server.sip_addr()))
        .expect("dial accepted");
    phone
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", phone.log(), server.log_tail(3000)));
}

/// Hangs up the current call and waits until baresip has closed it.
fn hang_up(phone: &mut Baresip, server: &ServerGuard) {
    phone.hangup().expect("hangup accepted");
    phone
        .wait_event("CALL_CLOSED", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", phone.log(), server.log_tail(3000)));
}

/// Polls the export until `found` picks something out of it; the last export if `limit`
/// passes first.
fn wait_for_records<T>(
    server: &ServerGuard,
    limit: Duration,
    found: impl Fn(&serde_json::Value) -> Option<T>,
) -> Result<T, serde_json::Value> {
    let deadline = Instant::now() + limit;
    loop {
        let export = server.export_records();
        if let Some(value) = found(&export) {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(export);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One stored call record, as the tests look at it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CallSeen {
    started_at: String,
    flow_version: String,
    node_path: Vec<String>,
}

/// The call records, oldest first.
fn calls_by_start(export: &serde_json::Value) -> Vec<CallSeen> {
    let mut calls: Vec<CallSeen> = export
        .get("calls")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .map(|call| {
            let text = |name: &str| {
                call.get(name)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            CallSeen {
                started_at: text("started_at"),
                flow_version: text("flow_version"),
                node_path: call
                    .get("node_path")
                    .and_then(|p| p.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect(),
            }
        })
        .collect();
    // RFC 3339 UTC timestamps in one format sort as text.
    calls.sort();
    calls
}

/// Waits until the log contains `needle` at least `count` times.
fn wait_for_log(server: &ServerGuard, needle: &str, count: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while server.log().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {count}× {needle:?} in the server log within {limit:?}:\n{}",
            server.log_tail(4000)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many `council.yaml:LINE:COL` diagnostics (numeric line and column) `text` holds.
fn council_diagnostics(text: &str) -> usize {
    let number = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
    text.match_indices("council.yaml:")
        .filter(|(at, needle)| {
            let rest = text.get(at + needle.len()..).unwrap_or_default();
            let line = number(rest);
            line > 0
                && rest.get(line..line + 1) == Some(":")
                && rest.get(line + 1..).is_some_and(|col| number(col) > 0)
        })
        .count()
}

#[test]
fn council_flow_by_keypad_creates_a_case() {
    let dir = TempDir::new("flow-live-keypad").expect("temp dir");
    let flows = copy_council_flows(&dir);
    let server = start_council_server(&flows);
    let mut phone = start_caller(&dir, "resident");
    dial_council(&mut phone, &server);
    // The privacy notice (about 10.7 s) plays whole; key 1 then barges into the main menu.
    std::thread::sleep(Duration::from_secs(12));
    // 1 money, 1 council tax, 3 a change, 2 a discount, 1 single person: each barges in.
    for key in ["1", "1", "3", "2", "1"] {
        phone.send_digits(key).expect("sndcode");
        std::thread::sleep(Duration::from_millis(1200));
    }
    phone.send_digits("12345678#").expect("account number");

    let case = wait_for_records(&server, Duration::from_secs(15), |export| {
        export
            .get("cases")
            .and_then(|c| c.as_array())
            .and_then(|cases| {
                cases
                    .iter()
                    .find(|c| {
                        c.get("service").and_then(|s| s.as_str()) == Some("council_tax_discount")
                    })
                    .cloned()
            })
    })
    .unwrap_or_else(|export| {
        panic!(
            "no council_tax_discount case stored: {export:#}\n{}",
            server.log_tail(4000)
        )
    });
    let fields = case.get("fields").cloned().unwrap_or_default();
    assert_eq!(
        fields.get("discount_type").and_then(|v| v.as_str()),
        Some("single_person"),
        "case: {case:#}"
    );
    assert_eq!(
        fields.get("account_number").and_then(|v| v.as_str()),
        Some("12345678"),
        "case: {case:#}"
    );
    hang_up(&mut phone, &server);
    let _phone_dir = phone.quit();

    let calls = wait_for_records(&server, Duration::from_secs(10), |export| {
        let calls = calls_by_start(export);
        (!calls.is_empty()).then_some(calls)
    })
    .unwrap_or_else(|export| panic!("no call record: {export:#}"));
    let path = &calls[0].node_path;
    for node in [
        "privacy_notice",
        "main_menu",
        "council_tax_discount",
        "discount_account_number",
        "discount_case",
        "read_reference",
    ] {
        assert!(
            path.iter().any(|n| n == node),
            "{node} missing from the node path {path:?}"
        );
    }
}

#[test]
fn hot_reload_swaps_valid_rejects_invalid_and_keeps_calls() {
    let dir = TempDir::new("flow-live-reload").expect("temp dir");
    let flows = copy_council_flows(&dir);
    let council = flows.join("council.yaml");
    let original = std::fs::read_to_string(&council).expect("council.yaml");
    let server = start_council_server(&flows);
    let mut phone = start_caller(&dir, "short-calls");

    // Call P, before any change: the version call A must keep.
    dial_council(&mut phone, &server);
    std::thread::sleep(Duration::from_millis(500));
    hang_up(&mut phone, &server);

    // Call A: in progress across the valid change.
    let mut long_call = start_caller(&dir, "long-call");
    dial_council(&mut long_call, &server);

    let valid = original.replacen(
        "  privacy_notice:\n    say: privacy_notice\n",
        "  privacy_notice:\n    say: main_menu_no_input\n",
        1,
    );
    assert_ne!(
        valid, original,
        "the privacy_notice node moved in council.yaml"
    );
    std::fs::write(&council, &valid).expect("writing the valid change");
    wait_for_log(&server, "call flows reloaded", 1, Duration::from_secs(15));

    // Call B: after the valid change, while A still runs.
    dial_council(&mut phone, &server);
    std::thread::sleep(Duration::from_millis(500));
    hang_up(&mut phone, &server);
    hang_up(&mut long_call, &server);
    let _long_dir = long_call.quit();

    // An invalid change: a YAML syntax error (an unclosed flow sequence).
    std::fs::write(&council, format!("{valid}\n  broken: [unclosed\n"))
        .expect("writing the invalid change");
    wait_for_log(
        &server,
        "call flow change rejected",
        1,
        Duration::from_secs(15),
    );
    let diagnostics = council_diagnostics(&server.log());
    assert!(
        diagnostics > 0,
        "no council.yaml:LINE:COL diagnostic in the log:\n{}",
        server.log_tail(4000)
    );

    // Call C: the last valid version still answers.
    dial_council(&mut phone, &server);
    std::thread::sleep(Duration::from_millis(500));
    hang_up(&mut phone, &server);

    // SIGHUP re-checks the (still invalid) flows and logs the rejection again.
    let pid = libc::pid_t::try_from(server.pid()).expect("server PID fits pid_t");
    // SAFETY: kill(2) on the server child we still own (not reaped, so the PID is its own).
    unsafe {
        libc::kill(pid, libc::SIGHUP);
    }
    wait_for_log(
        &server,
        "SIGHUP: flows not reloaded",
        1,
        Duration::from_secs(10),
    );
    assert!(
        council_diagnostics(&server.log()) > diagnostics,
        "SIGHUP did not log the council.yaml diagnostic again:\n{}",
        server.log_tail(4000)
    );

    // Call D: the server keeps answering after SIGHUP.
    dial_council(&mut phone, &server);
    std::thread::sleep(Duration::from_millis(500));
    hang_up(&mut phone, &server);
    let _phone_dir = phone.quit();

    let calls = wait_for_records(&server, Duration::from_secs(10), |export| {
        let calls = calls_by_start(export);
        (calls.len() >= 5).then_some(calls)
    })
    .unwrap_or_else(|export| panic!("five call records expected: {export:#}"));
    let versions: Vec<&str> = calls.iter().map(|c| c.flow_version.as_str()).collect();
    let [p, a, b, c, d] = versions[..] else {
        panic!("five call records expected: {versions:?}");
    };
    assert!(!p.is_empty(), "calls carry a flow_version: {versions:?}");
    assert_eq!(
        a, p,
        "call A kept the version it started with: {versions:?}"
    );
    assert_ne!(b, a, "call B got the reloaded version: {versions:?}");
    assert_eq!(c, b, "call C got the last valid version: {versions:?}");
    assert_eq!(
        d, b,
        "after SIGHUP the last valid version serves: {versions:?}"
    );
    assert!(server.stop(), "the server stops cleanly");
}
