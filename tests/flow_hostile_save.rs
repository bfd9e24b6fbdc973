//! A bad save of a huge one-line flow file into the flows directory of a running server (the
//! real binary, its log captured): the log grows by a bounded amount however large the file,
//! the problem is logged once for that save (not again for the same content), the diagnostic
//! still names `file:line:col` exactly, and the running flows keep serving. `frontdoor
//! validate` quotes the same bounded excerpt.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use frontdoor::flow::cmd::validate_cmd;
use frontdoor::flow::diag::OutputFormat;
use support::server::{ServerGuard, ServerOptions};
use support::sip_probe::wait_for_options_200;

const FLOW: &str = "flow: demo\nstart: hi\nnodes:\n  hi:\n    hangup: {text: \"version one\"}\n";
/// Size of the hostile file: one line of this many bytes.
const HUGE: usize = 50 * 1024 * 1024;
/// Most the log may grow for one bad save.
const MAX_LOG_GROWTH: u64 = 1024 * 1024;

/// A valid-looking flow in YAML flow style on one line, with a 50 MB prompt text and an unknown
/// key `nxt` at the very end: the error is at line 1, column ~52 million.
fn huge_one_line_flow() -> (String, usize) {
    let head = "{flow: big, start: hi, nodes: {hi: {hangup: {text: \"";
    let filler = HUGE.saturating_sub(head.len() + 40);
    let mut text = String::with_capacity(HUGE + 64);
    text.push_str(head);
    text.extend(std::iter::repeat_n('a', filler));
    text.push_str("\"}, ");
    let col = text.chars().count() + 1;
    text.push_str("nxt: oops}}}\n");
    (text, col)
}

fn log_len(server: &ServerGuard) -> u64 {
    std::fs::metadata(server.log_path())
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Waits until the log stops growing for `quiet` (the reload after a save is debounced and the
/// check of 50 MB takes a while in a debug build), at most `limit`.
fn wait_for_quiet_log(server: &ServerGuard, needle: &str, quiet: Duration, limit: Duration) {
    let start = Instant::now();
    let mut last = (log_len(server), Instant::now());
    while start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(200));
        let len = log_len(server);
        if len != last.0 {
            last = (len, Instant::now());
        } else if last.1.elapsed() >= quiet && server.log().contains(needle) {
            return;
        }
    }
}

#[test]
fn a_huge_one_line_flow_saved_while_serving_is_logged_once_and_briefly() {
    let mut server = ServerGuard::start(ServerOptions {
        flows: vec![("demo.yaml".into(), FLOW.into())],
        args: vec!["--max-calls".into(), "4".into()],
        ..ServerOptions::default()
    })
    .expect("frontdoor serve starts with one flow");
    let flows_dir = server.dir().join("flows");
    let (text, col) = huge_one_line_flow();
    let before = log_len(&server);
    // A bad save straight into the directory, as an editor or a copy would do it.
    std::fs::write(flows_dir.join("big.yaml"), &text).expect("write the huge flow");
    wait_for_quiet_log(
        &server,
        "big.yaml:1:",
        Duration::from_secs(3),
        Duration::from_secs(40),
    );
    let after_save = log_len(&server);
    // The same content again (SIGHUP reload): the operator asked, so the diagnostic is logged
    // again, still bounded.
    server_hup(&server);
    std::thread::sleep(Duration::from_secs(3));
    wait_for_quiet_log(
        &server,
        "SIGHUP",
        Duration::from_secs(2),
        Duration::from_secs(30),
    );
    let after_hup = log_len(&server);
    let log = server.log();
    let growth = after_save.saturating_sub(before);
    let rejected = log.matches("call flow change rejected").count();
    let position = format!("big.yaml:1:{col}:");
    eprintln!(
        "figures: log grew {growth} B for one bad save of a {} B one-line flow, then {} B on an unchanged reload; {rejected} rejection(s) logged; diagnostic names {position}: {}",
        text.len(),
        after_hup.saturating_sub(after_save),
        log.contains(&position)
    );
    let serving = wait_for_options_200(server.sip_addr(), Duration::from_secs(10), || true);
    assert!(
        growth < MAX_LOG_GROWTH,
        "log grew {growth} B for one bad save"
    );
    assert!(
        after_hup.saturating_sub(after_save) < MAX_LOG_GROWTH,
        "unchanged reload"
    );
    assert!(
        log.contains(&position),
        "the diagnostic names {position}:\n{}",
        server.log_tail(3000)
    );
    assert!(
        (1..=3).contains(&rejected),
        "one rejection per save (partial writes may add one or two): {rejected}"
    );
    assert!(
        serving.is_ok(),
        "the running flows keep serving: {serving:?}"
    );
    assert!(server.is_running());
    assert!(server.stop(), "the server stops cleanly");
}

fn server_hup(server: &ServerGuard) {
    let pid = libc::pid_t::try_from(server.pid()).unwrap_or(0);
    if pid > 0 {
        // SAFETY: signalling the test's own child process by its PID.
        unsafe {
            libc::kill(pid, libc::SIGHUP);
        }
    }
}

#[test]
fn validate_quotes_a_bounded_excerpt_with_the_exact_position() {
    let dir = support::tempdir::TempDir::new("validate-huge").expect("temp dir");
    let path = dir.join("big.yaml");
    let (text, col) = huge_one_line_flow();
    std::fs::write(&path, &text).expect("write");
    let mut out = Vec::new();
    let code = validate_cmd(std::slice::from_ref(&path), OutputFormat::Human, &mut out);
    let printed = String::from_utf8_lossy(&out);
    let position = format!("{}:1:{col}:", Path::new(&path).display());
    eprintln!(
        "figures: validate printed {} B for a {} B one-line flow; first line: {}",
        out.len(),
        text.len(),
        printed
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect::<String>()
    );
    assert_ne!(code, 0);
    assert!(
        printed.contains(&position),
        "{position}: {}",
        printed.chars().take(2000).collect::<String>()
    );
    assert!(out.len() < 4096, "validate printed {} B", out.len());
}
