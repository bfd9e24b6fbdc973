//! RFC 3261 §17 transaction timer values (table 4) and the small deadline set the state machines use.
//!
//! Owns: T1/T2/T4 and the derived Timer A..K durations, and [`Deadlines`], a tiny keyed set of
//! wake-up instants. Must not touch: what happens when a timer fires (that is the transaction's
//! or dialog's business).

use std::time::{Duration, Instant};

/// RTT estimate (RFC 3261 §17.1.1.1).
pub const T1: Duration = Duration::from_millis(500);
/// Maximum retransmit interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// Maximum duration a message will remain in the network.
pub const T4: Duration = Duration::from_secs(5);

/// Timer A: INVITE request retransmit interval, initially T1 (UDP only).
pub const TIMER_A: Duration = T1;
/// Timer B: INVITE transaction timeout, 64*T1.
pub const TIMER_B: Duration = Duration::from_secs(32);
/// Timer D: wait time for response retransmits after a non-2xx final (>32 s for UDP, 0 for TCP).
pub const TIMER_D_UDP: Duration = Duration::from_secs(32);
/// Timer E: non-INVITE request retransmit interval, initially T1 (UDP only).
pub const TIMER_E: Duration = T1;
/// Timer F: non-INVITE transaction timeout, 64*T1.
pub const TIMER_F: Duration = Duration::from_secs(32);
/// Timer G: INVITE final response retransmit interval, initially T1.
pub const TIMER_G: Duration = T1;
/// Timer H: wait time for ACK receipt, 64*T1.
pub const TIMER_H: Duration = Duration::from_secs(32);
/// Timer I: wait time for ACK retransmits, T4 for UDP (0 for TCP).
pub const TIMER_I_UDP: Duration = T4;
/// Timer J: wait time for non-INVITE request retransmits, 64*T1 for UDP (0 for TCP).
pub const TIMER_J_UDP: Duration = Duration::from_secs(32);
/// Timer K: wait time for response retransmits, T4 for UDP (0 for TCP).
pub const TIMER_K_UDP: Duration = T4;
/// 64*T1: how long a UAS retransmits its 2xx waiting for the ACK (RFC 3261 §13.3.1.4).
pub const ACK_WAIT: Duration = Duration::from_secs(32);

/// The next retransmit interval: double the previous one, capped at `cap`
/// (RFC 3261 §17.1.2.2 Timer E, §17.2.1 Timer G, §13.3.1.4 2xx retransmission).
pub fn backoff(previous: Duration, cap: Duration) -> Duration {
    (previous * 2).min(cap)
}

/// A small set of named deadlines. Keys are whatever enum the owner uses for its timers.
#[derive(Debug, Clone)]
pub struct Deadlines<K> {
    entries: Vec<(K, Instant)>,
}

impl<K: Copy + PartialEq> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            entries: Vec::new(),
        }
    }
}

impl<K: Copy + PartialEq> Deadlines<K> {
    /// Arms (or re-arms) `key` to fire at `at`.
    pub fn set(&mut self, key: K, at: Instant) {
        self.cancel(key);
        self.entries.push((key, at));
    }

    /// Disarms `key`.
    pub fn cancel(&mut self, key: K) {
        self.entries.retain(|(k, _)| *k != key);
    }

    /// When `key` fires, if armed.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, at)| *at)
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.entries.iter().map(|(_, at)| *at).min()
    }

    /// Removes and returns every key due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let mut due: Vec<(K, Instant)> = self
            .entries
            .iter()
            .copied()
            .filter(|(_, at)| *at <= now)
            .collect();
        due.sort_by_key(|(_, at)| *at);
        self.entries.retain(|(_, at)| *at > now);
        due.into_iter().map(|(k, _)| k).collect()
    }

    /// True when nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_t2() {
        let mut d = T1;
        let mut seen = vec![d];
        for _ in 0..5 {
            d = backoff(d, T2);
            seen.push(d);
        }
        let ms: Vec<u128> = seen.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 4000, 4000]);
    }

    #[test]
    fn timers_derive_from_t1() {
        assert_eq!(TIMER_B, T1 * 64);
        assert_eq!(TIMER_F, T1 * 64);
        assert_eq!(TIMER_H, T1 * 64);
        assert_eq!(TIMER_J_UDP, T1 * 64);
        assert_eq!(ACK_WAIT, T1 * 64);
    }

    #[test]
    fn deadlines_fire_in_order_and_rearm_replaces() {
        let t0 = Instant::now();
        let mut d: Deadlines<u8> = Deadlines::default();
        d.set(1, t0 + Duration::from_secs(3));
        d.set(2, t0 + Duration::from_secs(1));
        d.set(1, t0 + Duration::from_secs(2));
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(d.take_due(t0 + Duration::from_secs(2)), vec![2, 1]);
        assert!(d.is_empty());
    }
}
