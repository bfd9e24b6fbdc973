//! Running a test inside a loopback-only network namespace (`unshare -n`), so that nothing
//! it or the server sends can leave the host — needed when messages' Via headers name
//! foreign addresses (RFC 4475 torture tests) and for `tc netem` impairment.
//!
//! The test re-executes its own binary under `unshare -n -- sh -c 'ip link set lo up && exec
//! "$@"'`, filtered to itself, with [`INSIDE_ENV`] set; the inner run does the work and the
//! outer one only checks its exit status. Needs root (CAP_SYS_ADMIN).

use std::process::{Command, Stdio};

use super::HarnessError;
use super::process::ChildGuard;

/// Set (to "1") in the environment of the inner, namespaced run.
pub const INSIDE_ENV: &str = "FRONTDOOR_TEST_IN_NETNS";

/// Whether this process is the inner run.
pub fn inside_namespace() -> bool {
    std::env::var(INSIDE_ENV).is_ok_and(|v| v == "1")
}

/// Runs `body` inside a fresh loopback-only network namespace.
///
/// Call it as the whole body of a test named `test_name` (the name as the test harness
/// prints it, e.g. `torture_messages` or `module::torture_messages`). In the outer run it
/// re-executes this test binary for exactly that test inside the namespace and panics if
/// the inner run fails; in the inner run it calls `body`.
pub fn in_loopback_namespace(test_name: &str, body: impl FnOnce()) {
    if inside_namespace() {
        body();
        return;
    }
    match run_test_in_namespace(test_name) {
        Ok(true) => {}
        Ok(false) => {
            panic!("{test_name} failed inside the loopback namespace (its output is above)")
        }
        Err(e) => panic!("could not run {test_name} in a loopback namespace: {e}"),
    }
}

/// Re-executes the current test binary for `test_name` inside `unshare -n`; returns whether
/// the inner run passed. Its output goes to this process's stdout/stderr.
pub fn run_test_in_namespace(test_name: &str) -> Result<bool, HarnessError> {
    let exe = std::env::current_exe().map_err(|e| HarnessError::io("locating test binary", e))?;
    let child = Command::new("unshare")
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            r#"ip link set lo up && exec "$@""#,
            "sh",
        ])
        .arg(&exe)
        .args([
            "--exact",
            test_name,
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(INSIDE_ENV, "1")
        .stdin(Stdio::null())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            program: "unshare".into(),
            source,
        })?;
    let mut guard = ChildGuard::new("unshare (namespaced test)", child);
    let status = guard.wait_timeout(std::time::Duration::from_secs(600))?;
    Ok(status.success())
}

/// Whether loopback-only namespaces can be created here (root with `unshare` and `ip`).
pub fn namespaces_available() -> bool {
    Command::new("unshare")
        .args(["-n", "--", "sh", "-c", "ip link set lo up"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
