//! Telling the caller's speech from our own prompt coming back as echo, so that a prompt does not
//! barge in on itself.
//!
//! Line and acoustic echo returns what we sent, delayed by tens to a few hundred milliseconds
//! and attenuated: ITU-T G.168 expects an echo return loss of at least 6 dB, and a handset
//! typically gives well over 12 dB. So a received frame that is at least
//! [`EchoGuardConfig::margin_db`] quieter than the loudest frame we sent within the recent
//! [`EchoGuardConfig::window`] is *explainable* as echo and must not count as caller speech for
//! barge-in; a caller talking over a prompt is louder than that.
//!
//! Sans-IO: fed the level of each frame sent and received with `now`. Owns only the recent
//! send levels; must not touch the VAD, the player or sockets.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Level used for digital silence (dBFS).
pub const SILENCE_DBFS: f32 = -120.0;

/// Echo guard settings.
#[derive(Debug, Clone, PartialEq)]
pub struct EchoGuardConfig {
    /// How far back a sent frame can explain a received one (the echo path delay we allow).
    pub window: Duration,
    /// A received frame at least this much quieter than the loudest recent sent frame is
    /// explainable as echo.
    pub margin_db: f32,
}

impl Default for EchoGuardConfig {
    fn default() -> Self {
        EchoGuardConfig {
            window: Duration::from_millis(250),
            margin_db: 12.0,
        }
    }
}

/// Recent outgoing levels of one call.
#[derive(Debug, Clone)]
pub struct EchoGuard {
    config: EchoGuardConfig,
    /// (sent at, level dBFS) of audible frames sent within the window, oldest first.
    sent: VecDeque<(Instant, f32)>,
}

impl EchoGuard {
    pub fn new(config: EchoGuardConfig) -> Self {
        // 20 ms frames: the window plus one spare.
        let capacity = (config.window.as_millis() / 20) as usize + 2;
        EchoGuard {
            config,
            sent: VecDeque::with_capacity(capacity),
        }
    }

    /// Records a frame we sent at `now` with RMS level `dbfs` (silence need not be recorded).
    pub fn on_sent(&mut self, now: Instant, dbfs: f32) {
        self.expire(now);
        if dbfs > SILENCE_DBFS {
            self.sent.push_back((now, dbfs));
        }
    }

    /// The loudest level we sent within the window before `now`, if any.
    pub fn recent_send_level(&mut self, now: Instant) -> Option<f32> {
        self.expire(now);
        self.sent.iter().map(|&(_, l)| l).reduce(f32::max)
    }

    /// Whether a frame received at `now` with RMS level `dbfs` could be our own echo.
    pub fn explains(&mut self, now: Instant, dbfs: f32) -> bool {
        self.recent_send_level(now)
            .is_some_and(|sent| dbfs <= sent - self.config.margin_db)
    }

    fn expire(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|&(at, _)| now.saturating_duration_since(at) > self.config.window)
        {
            self.sent.pop_front();
        }
    }
}

impl Default for EchoGuard {
    fn default() -> Self {
        Self::new(EchoGuardConfig::default())
    }
}

/// RMS level of 8 kHz linear PCM in dBFS ([`SILENCE_DBFS`] for digital silence).
pub fn frame_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return SILENCE_DBFS;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let mean = sum / samples.len() as f64 / (32768.0 * 32768.0);
    if mean <= 0.0 {
        SILENCE_DBFS
    } else {
        ((10.0 * mean.log10()) as f32).max(SILENCE_DBFS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn nothing_sent_explains_nothing() {
        let mut g = EchoGuard::default();
        let t0 = Instant::now();
        assert!(!g.explains(t0, -60.0));
        g.on_sent(t0, SILENCE_DBFS);
        assert!(!g.explains(t0 + ms(20), -60.0));
    }

    #[test]
    fn quiet_return_of_a_loud_prompt_is_echo_but_talking_over_it_is_not() {
        let mut g = EchoGuard::default();
        let t0 = Instant::now();
        for i in 0..10 {
            g.on_sent(t0 + ms(20 * i), -12.0);
        }
        let now = t0 + ms(200);
        // 20 dB of echo return loss: echo.
        assert!(g.explains(now, -32.0));
        // Exactly at the margin: still echo.
        assert!(g.explains(now, -24.0));
        // The caller talking over the prompt at a normal level: not echo.
        assert!(!g.explains(now, -18.0));
    }

    #[test]
    fn send_levels_expire_after_the_window() {
        let mut g = EchoGuard::default();
        let t0 = Instant::now();
        g.on_sent(t0, -10.0);
        assert!(g.explains(t0 + ms(250), -40.0));
        assert!(!g.explains(t0 + ms(251), -40.0));
        assert_eq!(g.recent_send_level(t0 + ms(300)), None);
    }

    #[test]
    fn the_loudest_recent_frame_counts() {
        let mut g = EchoGuard::default();
        let t0 = Instant::now();
        g.on_sent(t0, -6.0);
        g.on_sent(t0 + ms(20), -30.0);
        g.on_sent(t0 + ms(40), -30.0);
        // -20 dBFS cannot come from the -30 frames, but can from the -6 one 60 ms ago.
        assert!(g.explains(t0 + ms(60), -20.0));
        // Once the loud frame is out of the window it cannot.
        assert!(!g.explains(t0 + ms(260), -20.0));
    }

    #[test]
    fn levels_of_frames() {
        assert_eq!(frame_dbfs(&[]), SILENCE_DBFS);
        assert_eq!(frame_dbfs(&[0; 160]), SILENCE_DBFS);
        let full: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { i16::MAX } else { -i16::MAX })
            .collect();
        assert!(frame_dbfs(&full).abs() < 0.01);
        let half: Vec<i16> = full.iter().map(|s| s / 2).collect();
        assert!((frame_dbfs(&half) + 6.02).abs() < 0.05);
    }
}
