//! Child processes that are always stopped by PID: SIGTERM (or SIGINT where the tool flushes
//! on it), a bounded wait, then SIGKILL — on drop as well, so a panicking test leaves nothing
//! running.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use super::HarnessError;

/// Owns one child process; stops and reaps it on drop.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
    status: Option<ExitStatus>,
}

impl ChildGuard {
    /// Takes ownership of a spawned child.
    pub fn new(name: impl Into<String>, child: Child) -> ChildGuard {
        ChildGuard {
            name: name.into(),
            child: Some(child),
            status: None,
        }
    }

    /// The child's PID (0 once reaped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the guard calls the process in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status if the child has exited; does not block.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.status = Some(status);
        }
        self.status
    }

    /// Waits up to `limit` for the child to exit by itself.
    pub fn wait_timeout(&mut self, limit: Duration) -> Result<ExitStatus, HarnessError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_status() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("{} exiting", self.name),
                    seconds: limit.as_secs_f64(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` (e.g. `libc::SIGINT`) to the child if it still runs.
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.try_status().is_some() {
            return;
        }
        let pid = self.pid();
        if let Ok(pid) = libc::pid_t::try_from(pid)
            && pid > 0
        {
            // SAFETY: kill(2) with the PID of a child we have not reaped yet (so the PID
            // cannot have been reused), no memory is shared.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Sends `signal`, waits up to `grace`, then kills; always reaps. Returns the exit status.
    pub fn stop_with(&mut self, signal: libc::c_int, grace: Duration) -> Option<ExitStatus> {
        self.signal(signal);
        if let Ok(status) = self.wait_timeout(grace) {
            return Some(status);
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            if let Ok(status) = child.wait() {
                self.status = Some(status);
            }
        }
        self.status
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop_with(libc::SIGTERM, Duration::from_secs(3));
    }
}
