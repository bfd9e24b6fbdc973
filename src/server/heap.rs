//! Gives freed heap back to the system after a burst of SIP traffic.
//!
//! glibc keeps pages that freed allocations leave behind (in every thread's arena) for reuse,
//! so after a flood of messages or TCP connections, none of which ended a call, the process
//! stays at its peak size although nothing uses the memory. (The call-end path trims after
//! calls end; a burst without calls never reaches it.) After [`BURST`] messages followed by a
//! quiet [`QUIET`], the driver asks glibc to return the free pages (`malloc_trim`), on a
//! blocking thread so the SIP loop does not wait for it.

use std::time::{Duration, Instant};

/// Messages since the last trim that make another worthwhile.
const BURST: u64 = 256;
/// Quiet time after the last message before trimming.
const QUIET: Duration = Duration::from_secs(1);

/// Counts SIP input and says when to trim.
#[derive(Debug, Default)]
pub struct HeapTrim {
    since_trim: u64,
    last_input: Option<Instant>,
}

impl HeapTrim {
    /// One message (or accepted or closed connection) at `now`.
    pub fn note_input(&mut self, now: Instant) {
        self.since_trim = self.since_trim.saturating_add(1);
        self.last_input = Some(now);
    }

    /// When to trim, if a burst is waiting for its quiet second.
    pub fn due(&self) -> Option<Instant> {
        if self.since_trim < BURST {
            return None;
        }
        self.last_input.map(|at| at + QUIET)
    }

    /// Trims if due at `now`; returns whether it did.
    pub fn run_if_due(&mut self, now: Instant) -> bool {
        if !self.due().is_some_and(|at| at <= now) {
            return false;
        }
        self.since_trim = 0;
        tokio::task::spawn_blocking(release_free_memory);
        true
    }
}

/// Returns the heap's free pages to the system.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_burst_and_a_quiet_second_only() {
        let t0 = Instant::now();
        let mut trim = HeapTrim::default();
        trim.note_input(t0);
        assert_eq!(trim.due(), None, "a single message is not a burst");
        for i in 0..BURST {
            trim.note_input(t0 + Duration::from_millis(i));
        }
        let last = t0 + Duration::from_millis(BURST - 1);
        assert_eq!(trim.due(), Some(last + QUIET));
        // Traffic continuing pushes the trim back.
        trim.note_input(last + Duration::from_millis(500));
        assert_eq!(trim.due(), Some(last + Duration::from_millis(500) + QUIET));
    }
}
