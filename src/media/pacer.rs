//! Send pacing for one RTP stream: packets on an absolute schedule, RTP sequence/timestamp/SSRC.
//!
//! Owns *when* a packet is due and the numbers in its header; not what it carries. Packet `n` is
//! due at `start + n * ptime`, never `last + ptime`, so a late wake-up never shifts the packets
//! after it and a 10-minute call does not drift. Its RTP timestamp is `initial + n * samples`,
//! so the timestamp always tells the true sampling instant (RFC 3550 §5.1).
//!
//! Catch-up policy when the driver wakes late: up to [`MAX_CATCH_UP`] overdue packets are all
//! returned back to back (a receiver's jitter buffer absorbs a short burst); further behind
//! than that, the older slots are skipped and sending resumes with the most recent due slot.
//! Skipped slots keep their place on the timestamp line but use no sequence numbers, so the
//! receiver sees a timestamp gap without loss, as after silence suppression.

use std::time::{Duration, Instant};

use crate::entropy::Entropy;

/// Most overdue packets sent in a burst; beyond this the older ones are skipped.
pub const MAX_CATCH_UP: u64 = 5;

/// One due packet slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSlot {
    /// Slot number since the schedule started.
    pub index: u64,
    /// When the slot was due.
    pub scheduled_at: Instant,
    /// RTP timestamp of the slot's first sample.
    pub timestamp: u32,
}

/// Absolute 20 ms (or `ptime`) schedule plus the stream's RTP numbering.
#[derive(Debug, Clone)]
pub struct SendSchedule {
    start: Instant,
    ptime: Duration,
    samples_per_packet: u32,
    next_index: u64,
    initial_timestamp: u32,
    sequence: u16,
    ssrc: u32,
    skipped: u64,
}

impl SendSchedule {
    /// A schedule starting now, with SSRC, initial sequence number and timestamp drawn from
    /// `entropy`, in that order (RFC 3550 §5.1: "the initial value ... SHOULD be random"; §8:
    /// the SSRC is chosen randomly).
    pub fn new(now: Instant, ptime: Duration, clock_rate: u32, entropy: &mut Entropy) -> Self {
        let ssrc = entropy.u32();
        let sequence = entropy.u16();
        let timestamp = entropy.u32();
        Self::with_initial(now, ptime, clock_rate, ssrc, sequence, timestamp)
    }

    /// A schedule with given initial numbers (tests, and re-anchoring).
    pub fn with_initial(
        now: Instant,
        ptime: Duration,
        clock_rate: u32,
        ssrc: u32,
        sequence: u16,
        timestamp: u32,
    ) -> Self {
        let ptime = if ptime.is_zero() {
            Duration::from_millis(20)
        } else {
            ptime
        };
        let samples = (ptime.as_micros() as u64 * u64::from(clock_rate) / 1_000_000) as u32;
        SendSchedule {
            start: now,
            ptime,
            samples_per_packet: samples.max(1),
            next_index: 0,
            initial_timestamp: timestamp,
            sequence,
            ssrc,
            skipped: 0,
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Packet interval.
    pub fn ptime(&self) -> Duration {
        self.ptime
    }

    /// Samples each packet advances the timestamp by.
    pub fn samples_per_packet(&self) -> u32 {
        self.samples_per_packet
    }

    /// Slots skipped because the driver was too far behind.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    fn deadline(&self, index: u64) -> Instant {
        let nanos = self.ptime.as_nanos() as u64;
        self.start + Duration::from_nanos(nanos.saturating_mul(index))
    }

    fn timestamp_of(&self, index: u64) -> u32 {
        // Wrapping is the RTP timestamp's nature (RFC 3550 §5.1).
        self.initial_timestamp
            .wrapping_add((index as u32).wrapping_mul(self.samples_per_packet))
    }

    /// When the next packet is due.
    pub fn poll_timeout(&self) -> Instant {
        self.deadline(self.next_index)
    }

    /// The next due slot, if `now` has reached it. Call until `None`.
    pub fn poll_due(&mut self, now: Instant) -> Option<PacketSlot> {
        if now < self.deadline(self.next_index) {
            return None;
        }
        let elapsed = now.saturating_duration_since(self.start).as_nanos() as u64;
        let latest_due = elapsed / (self.ptime.as_nanos() as u64).max(1);
        if latest_due >= self.next_index + MAX_CATCH_UP {
            // Too far behind to be worth a burst: skip to the most recent slot.
            self.skipped += latest_due - self.next_index;
            self.next_index = latest_due;
        }
        let index = self.next_index;
        self.next_index += 1;
        Some(PacketSlot {
            index,
            scheduled_at: self.deadline(index),
            timestamp: self.timestamp_of(index),
        })
    }

    /// The RTP timestamp for the sampling instant `now` (for RTCP SR, RFC 3550 §6.4.1).
    pub fn timestamp_at(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.start);
        let samples = elapsed.as_micros() as u64 * u64::from(self.samples_per_packet)
            / self.ptime.as_micros().max(1) as u64;
        self.initial_timestamp.wrapping_add(samples as u32)
    }

    /// Take the next sequence number (audio and telephone-events share the space, RFC 4733 §2.1).
    pub fn next_sequence(&mut self) -> u16 {
        let s = self.sequence;
        self.sequence = self.sequence.wrapping_add(1);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Duration = Duration::from_millis(20);

    #[test]
    fn absolute_schedule_ignores_late_wakeups() {
        let t0 = Instant::now();
        let mut s = SendSchedule::with_initial(t0, P, 8000, 1, 65_535, u32::MAX - 159);
        // Wake 7 ms late for slot 0, then exactly at slot 1.
        let a = s.poll_due(t0 + Duration::from_millis(7)).unwrap();
        assert_eq!(
            (a.index, a.scheduled_at, a.timestamp),
            (0, t0, u32::MAX - 159)
        );
        assert_eq!(s.poll_due(t0 + Duration::from_millis(7)), None);
        assert_eq!(s.poll_timeout(), t0 + P);
        let b = s.poll_due(t0 + P).unwrap();
        assert_eq!(b.timestamp, 0); // wrapped
        assert_eq!(s.next_sequence(), 65_535);
        assert_eq!(s.next_sequence(), 0);
    }

    #[test]
    fn short_lag_bursts_long_lag_skips() {
        let t0 = Instant::now();
        let mut s = SendSchedule::with_initial(t0, P, 8000, 1, 0, 0);
        let now = t0 + Duration::from_millis(65); // slots 0..=3 due
        let due: Vec<u64> = std::iter::from_fn(|| s.poll_due(now))
            .map(|p| p.index)
            .collect();
        assert_eq!(due, vec![0, 1, 2, 3]);
        let now = t0 + Duration::from_millis(1000); // slots 4..=50 due
        let due: Vec<u64> = std::iter::from_fn(|| s.poll_due(now))
            .map(|p| p.index)
            .collect();
        assert_eq!(due, vec![50]);
        assert_eq!(s.skipped(), 46);
        assert_eq!(s.poll_timeout(), t0 + P * 51);
    }

    #[test]
    fn initial_values_come_from_the_entropy_source() {
        let t0 = Instant::now();
        let mut entropy = Entropy::seeded(3);
        let a = SendSchedule::new(t0, P, 8000, &mut entropy);
        let b = SendSchedule::new(t0, P, 8000, &mut entropy);
        assert_ne!(a.ssrc(), b.ssrc());
        assert_eq!(a.samples_per_packet(), 160);
        // The same seed gives the same numbers.
        let again = SendSchedule::new(t0, P, 8000, &mut Entropy::seeded(3));
        assert_eq!(again.ssrc(), a.ssrc());
        assert_eq!(again.timestamp_at(t0), a.timestamp_at(t0));
    }

    #[test]
    fn timestamp_at_tracks_time() {
        let t0 = Instant::now();
        let s = SendSchedule::with_initial(t0, P, 8000, 1, 0, 1000);
        assert_eq!(s.timestamp_at(t0 + Duration::from_secs(1)), 9000);
    }
}
