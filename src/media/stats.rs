//! Receive statistics for one RTP source: RFC 3550 A.1 sequence tracking, A.3 expected/lost and
//! fraction lost, A.8 interarrival jitter; plus the counters reported per call.
//!
//! Owns arithmetic on sequence numbers and arrival times. Does not decide what to play (that is
//! the jitter buffer) nor build packets (that is `rtcp`).

use std::time::{Duration, Instant};

/// RFC 3550 A.1: a jump larger than this ahead is a restart, not loss.
const MAX_DROPOUT: u16 = 3000;
/// RFC 3550 A.1: a packet this far behind the highest is a very late or duplicate one.
const MAX_MISORDER: u16 = 100;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// Extend a 16-bit value to 64 bits choosing the candidate nearest to `reference`
/// (the RFC 3550 A.1 idea of counting wrap-around cycles, applied to any packet).
pub fn extend_u16(reference: u64, value: u16) -> u64 {
    extend(reference, u64::from(value), 16)
}

/// Extend a 32-bit RTP timestamp to 64 bits nearest to `reference`.
pub fn extend_u32(reference: u64, value: u32) -> u64 {
    extend(reference, u64::from(value), 32)
}

fn extend(reference: u64, value: u64, bits: u32) -> u64 {
    let modulus = 1u64 << bits;
    let half = modulus / 2;
    // Start from the same cycle as the reference, then step one cycle either way if closer.
    let base = reference & !(modulus - 1);
    let candidate = base | value;
    if candidate > reference && candidate - reference > half && candidate >= modulus {
        candidate - modulus
    } else if candidate < reference && reference - candidate > half {
        candidate + modulus
    } else {
        candidate
    }
}

/// What [`ReceiveStatistics::update`] concluded about one packet's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceVerdict {
    /// Counted; the extended sequence number is given.
    Accepted(u64),
    /// A jump larger than `MAX_DROPOUT` seen once: dropped until the next packet confirms it
    /// (RFC 3550 A.1 `bad_seq`).
    Suspicious,
    /// The jump was confirmed: statistics were restarted from this packet.
    Restarted(u64),
}

/// Per-source receive statistics (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone)]
pub struct ReceiveStatistics {
    clock_rate: u32,
    epoch: Instant,
    initialised: bool,
    max_seq: u16,
    cycles: u64,
    base_seq: u64,
    bad_seq: Option<u16>,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    last_transit: Option<i64>,
    /// RFC 3550 A.8 jitter, in timestamp units, scaled by 16 for integer precision.
    jitter_q4: i64,
    bytes: u64,
}

/// The numbers a report block carries (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceptionReport {
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, clamped to the 24-bit signed field.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
}

impl ReceiveStatistics {
    /// Start statistics for a source with this RTP clock rate; `now` anchors arrival times.
    pub fn new(clock_rate: u32, now: Instant) -> Self {
        ReceiveStatistics {
            clock_rate: clock_rate.max(1),
            epoch: now,
            initialised: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: None,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            last_transit: None,
            jitter_q4: 0,
            bytes: 0,
        }
    }

    fn init_seq(&mut self, seq: u16) {
        self.initialised = true;
        self.base_seq = u64::from(seq);
        self.max_seq = seq;
        self.bad_seq = None;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.last_transit = None;
        self.jitter_q4 = 0;
    }

    /// Account for one packet (RFC 3550 A.1 `update_seq`, then A.8 jitter).
    pub fn update(
        &mut self,
        now: Instant,
        seq: u16,
        timestamp: u32,
        payload_len: usize,
    ) -> SequenceVerdict {
        let verdict;
        if !self.initialised {
            self.init_seq(seq);
            verdict = SequenceVerdict::Accepted(u64::from(seq));
        } else {
            let udelta = seq.wrapping_sub(self.max_seq);
            if udelta < MAX_DROPOUT {
                // In order, with permissible gap.
                if seq < self.max_seq {
                    self.cycles += u64::from(RTP_SEQ_MOD);
                }
                self.max_seq = seq;
                verdict = SequenceVerdict::Accepted(self.cycles + u64::from(seq));
            } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
                // A very large jump (RFC 3550 A.1).
                if self.bad_seq == Some(seq) {
                    // Two sequential packets after the jump: the other side restarted.
                    self.init_seq(seq);
                    verdict = SequenceVerdict::Restarted(u64::from(seq));
                } else {
                    self.bad_seq = Some(seq.wrapping_add(1));
                    return SequenceVerdict::Suspicious;
                }
            } else {
                // Duplicate or reordered packet (RFC 3550 A.1).
                verdict = SequenceVerdict::Accepted(extend_u16(self.extended_max(), seq));
            }
        }
        self.received += 1;
        self.bytes += payload_len as u64;
        self.update_jitter(now, timestamp);
        verdict
    }

    fn update_jitter(&mut self, now: Instant, timestamp: u32) {
        // RFC 3550 A.8: arrival time expressed in the media clock; only differences matter, so
        // the 32-bit wrap of `transit` is handled by wrapping arithmetic.
        let elapsed = now.saturating_duration_since(self.epoch);
        let arrival = (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        let transit = i64::from(arrival.wrapping_sub(timestamp) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Packets received (including duplicates, as RFC 3550 A.3 counts them).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Payload bytes received.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Highest extended sequence number seen.
    pub fn extended_max(&self) -> u64 {
        self.cycles + u64::from(self.max_seq)
    }

    /// Packets expected: RFC 3550 A.3.
    pub fn expected(&self) -> u64 {
        if !self.initialised {
            0
        } else {
            self.extended_max() + 1 - self.base_seq
        }
    }

    /// Cumulative lost packets (negative when duplicates outnumber losses): RFC 3550 A.3.
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter in timestamp units (RFC 3550 A.8).
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_nanos(
            (self.jitter_q4.max(0) as u64) * 1_000_000_000 / 16 / u64::from(self.clock_rate),
        )
    }

    /// Whether any packet has been counted.
    pub fn has_data(&self) -> bool {
        self.initialised
    }

    /// Values for a report block, advancing the interval used for the fraction lost
    /// (RFC 3550 A.3).
    pub fn take_report(&mut self) -> ReceptionReport {
        let expected = self.expected();
        let expected_interval = expected - self.expected_prior;
        let received_interval = self.received - self.received_prior;
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        ReceptionReport {
            fraction_lost,
            // RFC 3550 §6.4.1: 24-bit signed field, clamped.
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_sequence: self.extended_max() as u32,
            jitter: self.jitter(),
        }
    }

    /// Fraction of expected packets lost over the whole call, 0.0–1.0.
    pub fn loss_ratio(&self) -> f64 {
        let expected = self.expected();
        if expected == 0 {
            0.0
        } else {
            (self.lost().max(0) as f64 / expected as f64).min(1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_handles_wrap_both_ways() {
        assert_eq!(extend_u16(65_535, 0), 65_536);
        assert_eq!(extend_u16(65_536, 65_535), 65_535);
        assert_eq!(extend_u16(10, 65_530), 65_530); // early in the first cycle, nothing below 0
        assert_eq!(extend_u16(3 * 65_536 + 5, 65_534), 3 * 65_536 - 2);
        assert_eq!(extend_u32(u64::from(u32::MAX), 100), (1u64 << 32) + 100);
        assert_eq!(
            extend_u32((1u64 << 32) + 10, u32::MAX - 5),
            u64::from(u32::MAX) - 5
        );
    }

    #[test]
    fn counts_loss_across_sequence_wrap() {
        let t0 = Instant::now();
        let mut s = ReceiveStatistics::new(8000, t0);
        let mut seq = 65_500u16;
        for i in 0..100u32 {
            if i % 10 != 3 {
                s.update(
                    t0 + Duration::from_millis(u64::from(i) * 20),
                    seq,
                    i * 160,
                    160,
                );
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.expected(), 100);
        assert_eq!(s.lost(), 10);
        let r = s.take_report();
        assert_eq!(r.cumulative_lost, 10);
        assert_eq!(r.fraction_lost, (10 * 256 / 100) as u8);
        assert_eq!(r.extended_highest_sequence, 65_536 + 63);
        // Perfectly periodic arrival: no jitter.
        assert_eq!(s.jitter(), 0);
        // Second interval with nothing new: no fraction lost.
        assert_eq!(s.take_report().fraction_lost, 0);
    }

    #[test]
    fn jitter_follows_a8() {
        let t0 = Instant::now();
        let mut s = ReceiveStatistics::new(8000, t0);
        // Alternate 0 and 10 ms of extra delay: |D| = 80 timestamp units every packet.
        for i in 0..2000u64 {
            let extra = if i % 2 == 0 { 0 } else { 10 };
            s.update(
                t0 + Duration::from_millis(i * 20 + extra),
                i as u16,
                (i * 160) as u32,
                160,
            );
        }
        assert!((78..=80).contains(&s.jitter()), "jitter {}", s.jitter());
        let ms = s.jitter_duration().as_secs_f64() * 1000.0;
        assert!((9.7..=10.1).contains(&ms), "{ms}");
    }

    #[test]
    fn big_jump_needs_confirmation() {
        let t0 = Instant::now();
        let mut s = ReceiveStatistics::new(8000, t0);
        s.update(t0, 100, 0, 160);
        assert_eq!(s.update(t0, 20_000, 160, 160), SequenceVerdict::Suspicious);
        assert_eq!(
            s.update(t0, 20_001, 320, 160),
            SequenceVerdict::Restarted(20_001)
        );
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn duplicates_make_loss_negative() {
        let t0 = Instant::now();
        let mut s = ReceiveStatistics::new(8000, t0);
        for seq in [1u16, 2, 2, 3] {
            s.update(t0, seq, 0, 160);
        }
        assert_eq!(s.lost(), -1);
        assert_eq!(s.take_report().fraction_lost, 0);
    }
}
