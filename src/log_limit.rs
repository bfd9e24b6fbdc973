//! Rate-limited logging for messages a remote peer can cause over and over.
//!
//! A warning that a peer can trigger at will (a failed accept under descriptor exhaustion, a
//! receive error, a refused request) must not let that peer fill the disk or spend a core on
//! formatting: each call site owns one [`LogLimit`], which lets at most `burst` messages
//! through per `interval`, counts the rest, and reports the count with the next message it
//! lets through (`suppressed=N`: N similar messages were not written since the last one).
//!
//! ```
//! use std::time::Duration;
//! use frontdoor::log_limit::LogLimit;
//! static RECEIVE_FAILED: LogLimit = LogLimit::new(5, Duration::from_secs(10));
//! frontdoor::warn_limited!(RECEIVE_FAILED, error = "example", "udp receive failed");
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `tracing`, for [`warn_limited!`] in crates that do not name it themselves.
#[doc(hidden)]
pub use tracing as __tracing;

/// One call site's budget of log lines.
#[derive(Debug)]
pub struct LogLimit {
    burst: u32,
    interval: Duration,
    state: Mutex<WindowState>,
}

#[derive(Debug, Clone, Copy)]
struct WindowState {
    /// Start of the current window; `None` until the first message.
    started: Option<Instant>,
    /// Messages let through in the current window.
    emitted: u32,
    /// Messages held back since the last one let through.
    suppressed: u64,
}

/// What [`LogLimit::admit`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Write this message; `suppressed` similar ones were dropped since the last written one.
    Emit { suppressed: u64 },
    /// Drop this message (it is counted).
    Suppress,
}

impl LogLimit {
    /// At most `burst` messages per `interval` (a `burst` of 0 is treated as 1).
    pub const fn new(burst: u32, interval: Duration) -> Self {
        LogLimit {
            burst: if burst == 0 { 1 } else { burst },
            interval,
            state: Mutex::new(WindowState {
                started: None,
                emitted: 0,
                suppressed: 0,
            }),
        }
    }

    /// The budget used for warnings a peer can repeat: five lines per ten seconds.
    pub const fn standard() -> Self {
        Self::new(5, Duration::from_secs(10))
    }

    /// Decides whether a message occurring at `now` is written.
    pub fn admit(&self, now: Instant) -> Admission {
        // A poisoned lock only means another thread panicked while counting: the counts are
        // still usable, and logging must never panic.
        let mut state = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let window_over = state
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= self.interval);
        if window_over {
            state.started = Some(now);
            state.emitted = 0;
        }
        if state.emitted < self.burst {
            state.emitted += 1;
            let suppressed = std::mem::take(&mut state.suppressed);
            Admission::Emit { suppressed }
        } else {
            state.suppressed = state.suppressed.saturating_add(1);
            Admission::Suppress
        }
    }
}

/// `tracing::warn!` through a [`LogLimit`]: `warn_limited!(LIMIT, fields..., "message")`.
/// A line written after others were held back carries `suppressed = N`.
#[macro_export]
macro_rules! warn_limited {
    ($limit:expr, $($arg:tt)+) => {
        match $limit.admit(::std::time::Instant::now()) {
            $crate::log_limit::Admission::Emit { suppressed: 0 } => {
                $crate::log_limit::__tracing::warn!($($arg)+)
            }
            $crate::log_limit::Admission::Emit { suppressed } => {
                $crate::log_limit::__tracing::warn!(suppressed, $($arg)+)
            }
            $crate::log_limit::Admission::Suppress => {}
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_burst_through_then_counts_the_rest() {
        let limit = LogLimit::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                limit.admit(t0 + Duration::from_millis(i)),
                Admission::Emit { suppressed: 0 }
            );
        }
        for i in 3..1000 {
            assert_eq!(
                limit.admit(t0 + Duration::from_millis(i)),
                Admission::Suppress
            );
        }
        // Next window: the first line says how many were held back.
        assert_eq!(
            limit.admit(t0 + Duration::from_secs(10)),
            Admission::Emit { suppressed: 997 }
        );
        assert_eq!(
            limit.admit(t0 + Duration::from_secs(11)),
            Admission::Emit { suppressed: 0 }
        );
    }

    #[test]
    fn a_million_messages_write_a_bounded_number_of_lines() {
        let limit = LogLimit::new(5, Duration::from_secs(10));
        let t0 = Instant::now();
        let mut written = 0;
        let mut reported = 0;
        // One million messages over 60 virtual seconds.
        for i in 0..1_000_000u64 {
            if let Admission::Emit { suppressed } = limit.admit(t0 + Duration::from_micros(i * 60))
            {
                written += 1;
                reported += suppressed;
            }
        }
        assert!(written <= 5 * 6, "{written} lines written");
        // Every message is either written or counted in a later line (the last window's
        // suppressed ones are still pending).
        assert!(written + reported <= 1_000_000);
        assert!(written + reported >= 1_000_000 - 200_000);
    }

    #[test]
    fn zero_burst_still_writes_one_per_interval() {
        let limit = LogLimit::new(0, Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(limit.admit(t0), Admission::Emit { suppressed: 0 });
        assert_eq!(limit.admit(t0), Admission::Suppress);
    }

    #[test]
    fn macro_compiles_with_fields() {
        static LIMIT: LogLimit = LogLimit::new(1, Duration::from_secs(1));
        let error = "boom";
        crate::warn_limited!(LIMIT, %error, "first");
        crate::warn_limited!(LIMIT, %error, "second (suppressed)");
    }
}
