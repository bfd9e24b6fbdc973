//! Gives freed heap back to the system after a burst of SIP traffic.
//!
//! glibc keeps pages that freed allocations leave behind (in every thread's arena) for reuse,
//! so after a flood of messages or TCP connections, none of which ended a call, the process
//! stays at its peak size although nothing uses the memory. (The call-end path trims after
//! calls end; a burst without calls never reaches it.) After [`BURST`] messages followed by a
//! quiet [`QUIET`], the driver shrinks its tables (a burst leaves maps sized for it) and asks
//! glibc to return the free pages (`malloc_trim`), on a blocking thread so the SIP loop does
//! not wait for it.

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
    /// Most SIP state (calls, dialogs, transactions) held since it last fell.
    held_peak: usize,
}

impl HeapTrim {
    /// One message (or accepted or closed connection) at `now`.
    pub fn note_input(&mut self, now: Instant) {
        self.since_trim = self.since_trim.saturating_add(1);
        self.last_input = Some(now);
    }

    /// The user agent's held state after a loop turn. Transactions a burst created end up to
    /// 32 s later (RFC 3261 Timers H, J): when that state falls by a burst's worth, its memory
    /// is free, and a trim follows its own quiet second.
    pub fn note_held(&mut self, held: usize, now: Instant) {
        if held >= self.held_peak {
            self.held_peak = held;
        } else if self.held_peak - held >= BURST as usize {
            self.held_peak = held;
            self.since_trim = self.since_trim.max(BURST);
            self.last_input = Some(now);
        }
    }

    /// When to trim, if a burst is waiting for its quiet second.
    pub fn due(&self) -> Option<Instant> {
        if self.since_trim < BURST {
            return None;
        }
        self.last_input.map(|at| at + QUIET)
    }

    /// Whether a trim is due at `now`; if so, the count starts again. The caller first gives
    /// back its tables' spare capacity, then calls [`release_free_memory`].
    pub fn take_due(&mut self, now: Instant) -> bool {
        if self.due().is_none_or(|at| at > now) {
            return false;
        }
        self.since_trim = 0;
        true
    }
}

/// Returns the heap's free pages to the system, on a blocking thread (it walks every arena).
pub fn release_free_memory() {
    tokio::task::spawn_blocking(trim);
}

fn trim() {
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

    #[test]
    fn trims_again_when_a_burst_state_expires() {
        let t0 = Instant::now();
        let mut trim = HeapTrim::default();
        trim.note_held(10_000, t0);
        assert!(!trim.take_due(t0 + QUIET), "nothing was freed yet");
        let expired = t0 + Duration::from_secs(32);
        trim.note_held(100, expired);
        assert_eq!(trim.due(), Some(expired + QUIET));
        assert!(trim.take_due(expired + QUIET));
        assert_eq!(trim.due(), None);
    }
}
