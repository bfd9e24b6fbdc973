//! Receive-side jitter buffer for G.711: reorders packets, drops duplicates and late arrivals,
//! conceals loss, and plays out exactly one 20 ms frame (160 samples at 8 kHz) per tick.
//!
//! Owns playout timing of one received stream. Audio is stored encoded in 10 ms chunks indexed
//! by RTP timestamp, so any ptime that is a multiple of 10 ms works, and decoded only when
//! played (duplicates and late packets cost nothing). Sequence numbers and timestamps are
//! extended to 64 bits (RFC 3550 A.1 style) so wrap-around is invisible. Must not touch
//! statistics for RTCP (that is `stats`) or DTMF.
//!
//! Playout delay is adaptive between `min_delay` and `max_delay`: a late packet raises the target
//! by one frame (the next tick stalls, emitting a concealment frame without advancing); a buffer
//! that stays deeper than target + 40 ms for half a second drops one frame (this also absorbs
//! a sender clock running faster than ours). After `idle_after` without packets the buffer goes
//! idle and stops emitting; the next packet starts a fresh buffering phase.

use std::time::{Duration, Instant};

use super::g711::Codec;
use super::stats::{extend_u16, extend_u32};

/// Samples in one 10 ms storage chunk at 8 kHz.
const CHUNK: usize = 80;
/// Samples in one 20 ms output frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// Storage window: 64 chunks = 640 ms.
const SLOTS: usize = 64;
const WINDOW: u64 = (SLOTS * CHUNK) as u64;
/// Sequence numbers remembered for duplicate detection.
const SEQ_HISTORY: u64 = 128;
/// Concealment repeats the last audio for this many chunks (40 ms), then plays silence.
const CONCEAL_REPEAT_CHUNKS: u32 = 4;
/// Consecutive too-deep ticks before a frame is dropped.
const DEEP_TICKS_BEFORE_DROP: u32 = 25;

/// Playout configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Starting and minimum playout delay.
    pub min_delay: Duration,
    /// Largest delay adaptation may reach (and no more than the 640 ms window).
    pub max_delay: Duration,
    /// Stop emitting frames after this long without any packet.
    pub idle_after: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            min_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(200),
            idle_after: Duration::from_secs(1),
        }
    }
}

/// What `push` did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Kept for playout.
    Stored,
    /// Same sequence number seen before: dropped.
    Duplicate,
    /// Its playout time has passed: dropped.
    Late,
    /// The stream restarted (new SSRC or a large jump): buffer cleared, packet stored.
    Reset,
    /// Empty payload: nothing to store.
    Empty,
}

/// What one playout tick produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playout {
    /// No stream (never started, or idle): nothing written.
    Idle,
    /// Waiting for the playout delay to fill: nothing written.
    Buffering,
    /// A frame of received audio.
    Audio,
    /// A frame that was at least partly concealed (repeated or silence).
    Concealed,
}

/// Counters kept by the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Packets dropped as duplicates.
    pub duplicates: u64,
    /// Packets dropped because their playout time had passed.
    pub late: u64,
    /// 10 ms chunks concealed.
    pub concealed_chunks: u64,
    /// 20 ms frames dropped to bring the delay back down (or because the window overflowed).
    pub dropped_frames: u64,
    /// Times the stream restarted (new SSRC or large jump).
    pub resets: u64,
    /// Frames emitted (audio or concealed).
    pub frames_out: u64,
    /// Current target playout delay in milliseconds.
    pub target_delay_ms: u32,
}

#[derive(Clone, Copy)]
struct Slot {
    ts: u64,
    present: bool,
    codec: Codec,
    data: [u8; CHUNK],
}

const EMPTY_SLOT: Slot = Slot {
    ts: 0,
    present: false,
    codec: Codec::Pcmu,
    data: [0; CHUNK],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Buffering { since: Instant },
    Playing,
}

/// Jitter buffer for one 8 kHz G.711 stream.
pub struct JitterBuffer {
    config: JitterConfig,
    state: State,
    slots: Box<[Slot; SLOTS]>,
    ssrc: Option<u32>,
    /// Extended timestamp of the next chunk to play.
    play_ts: u64,
    /// One past the last sample received (extended timestamp).
    highest_end: u64,
    highest_seq: u64,
    /// Bit i set: sequence `highest_seq - i` was received.
    seen: u128,
    last_arrival: Option<Instant>,
    last_chunk: [i16; CHUNK],
    conceal_run: u32,
    target_delay: u64,
    stall_pending: bool,
    deep_ticks: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer; nothing is emitted until the first packet has waited `min_delay`.
    pub fn new(config: JitterConfig) -> Self {
        let mut b = JitterBuffer {
            config,
            state: State::Idle,
            slots: Box::new([EMPTY_SLOT; SLOTS]),
            ssrc: None,
            play_ts: 0,
            highest_end: 0,
            highest_seq: 0,
            seen: 0,
            last_arrival: None,
            last_chunk: [0; CHUNK],
            conceal_run: 0,
            target_delay: 0,
            stall_pending: false,
            deep_ticks: 0,
            stats: JitterStats::default(),
        };
        b.target_delay = b.min_delay_samples();
        b.stats.target_delay_ms = (b.target_delay / 8) as u32;
        b
    }

    fn min_delay_samples(&self) -> u64 {
        duration_to_samples(self.config.min_delay).min(WINDOW / 2)
    }

    fn max_delay_samples(&self) -> u64 {
        duration_to_samples(self.config.max_delay).clamp(self.min_delay_samples(), WINDOW / 2)
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Forget the stream: the next packet starts buffering afresh (re-INVITE, new source).
    pub fn reset(&mut self) {
        for slot in self.slots.iter_mut() {
            slot.present = false;
        }
        self.state = State::Idle;
        self.ssrc = None;
        self.seen = 0;
        self.conceal_run = 0;
        self.stall_pending = false;
        self.deep_ticks = 0;
        self.last_chunk = [0; CHUNK];
        self.target_delay = self.min_delay_samples();
    }

    /// Store one packet's G.711 payload.
    pub fn push(
        &mut self,
        now: Instant,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        codec: Codec,
        payload: &[u8],
    ) -> PushOutcome {
        if payload.is_empty() {
            return PushOutcome::Empty;
        }
        let mut outcome = PushOutcome::Stored;
        if self.ssrc.is_some_and(|s| s != ssrc) {
            self.reset();
            self.stats.resets += 1;
            outcome = PushOutcome::Reset;
        }
        let fresh = self.state == State::Idle;
        if fresh {
            self.start(now, ssrc, seq, timestamp);
        }

        // Duplicate detection on the extended sequence number.
        let ext_seq = extend_u16(self.highest_seq, seq);
        if ext_seq > self.highest_seq {
            let shift = ext_seq - self.highest_seq;
            self.seen = if shift >= 128 { 0 } else { self.seen << shift };
            self.highest_seq = ext_seq;
            self.seen |= 1;
        } else if !fresh {
            let back = self.highest_seq - ext_seq;
            if back >= SEQ_HISTORY {
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            if self.seen & (1u128 << back) != 0 {
                self.stats.duplicates += 1;
                return PushOutcome::Duplicate;
            }
            self.seen |= 1u128 << back;
        }

        let ext_ts = extend_u32(self.highest_end.max(self.play_ts), timestamp);
        // A timestamp far outside the window (either way) is a restart of the stream: RFC 3550
        // allows a source to jump, and a PBX switching streams does so without a new SSRC.
        let far_ahead = ext_ts >= self.play_ts + 2 * WINDOW;
        let far_behind = ext_ts + 2 * WINDOW < self.play_ts;
        if !fresh && (far_ahead || far_behind) {
            self.reset();
            self.stats.resets += 1;
            self.start(now, ssrc, seq, timestamp);
            return self.store(
                now,
                u64::from(timestamp),
                codec,
                payload,
                PushOutcome::Reset,
            );
        }
        if let State::Buffering { .. } = self.state {
            // Before playout starts an earlier packet may still move the start back.
            if ext_ts < self.play_ts && self.play_ts - ext_ts <= self.max_delay_samples() {
                self.play_ts = align_down(ext_ts, self.play_ts);
            }
        }
        self.store(now, ext_ts, codec, payload, outcome)
    }

    fn start(&mut self, now: Instant, ssrc: u32, seq: u16, timestamp: u32) {
        self.ssrc = Some(ssrc);
        self.state = State::Buffering { since: now };
        self.play_ts = u64::from(timestamp);
        self.highest_end = self.play_ts;
        self.highest_seq = u64::from(seq);
        self.seen = 1;
        self.conceal_run = 0;
        self.deep_ticks = 0;
        self.stall_pending = false;
    }

    fn store(
        &mut self,
        now: Instant,
        ext_ts: u64,
        codec: Codec,
        payload: &[u8],
        outcome: PushOutcome,
    ) -> PushOutcome {
        self.last_arrival = Some(now);
        let end = ext_ts + payload.len() as u64;
        if end <= self.play_ts {
            self.stats.late += 1;
            if self.state == State::Playing {
                // Lateness means the delay is too small for this network: adapt upwards.
                self.raise_target();
            }
            return PushOutcome::Late;
        }
        if end > self.play_ts + WINDOW {
            // Overflow: advance playout so the newest audio fits, dropping the oldest.
            let excess = end - (self.play_ts + WINDOW);
            let frames = excess.div_ceil(FRAME_SAMPLES as u64);
            self.advance_dropping(frames * FRAME_SAMPLES as u64);
            self.stats.dropped_frames += frames;
        }
        // Chunks are aligned to the playout grid; a misaligned sender is rounded to it.
        let offset = ext_ts as i64 - self.play_ts as i64;
        let aligned = self.play_ts as i64
            + (offset + CHUNK as i64 / 2).div_euclid(CHUNK as i64) * CHUNK as i64;
        for (i, piece) in payload.chunks(CHUNK).enumerate() {
            let chunk_ts = aligned + (i * CHUNK) as i64;
            if chunk_ts < self.play_ts as i64 {
                continue; // this part of the packet is already late
            }
            let chunk_ts = chunk_ts as u64;
            let slot = &mut self.slots[slot_index(chunk_ts)];
            slot.ts = chunk_ts;
            slot.present = true;
            slot.codec = codec;
            slot.data[..piece.len()].copy_from_slice(piece);
            slot.data[piece.len()..].fill(codec.silence_code());
            self.highest_end = self.highest_end.max(chunk_ts + CHUNK as u64);
        }
        outcome
    }

    fn raise_target(&mut self) {
        let raised = (self.target_delay + FRAME_SAMPLES as u64).min(self.max_delay_samples());
        if raised > self.target_delay {
            self.target_delay = raised;
            self.stall_pending = true;
            self.stats.target_delay_ms = (self.target_delay / 8) as u32;
        }
    }

    fn advance_dropping(&mut self, samples: u64) {
        let end = self.play_ts + samples;
        while self.play_ts < end {
            self.slots[slot_index(self.play_ts)].present = false;
            self.play_ts += CHUNK as u64;
        }
    }

    /// One playout tick: call every 20 ms. Writes a frame into `out` for `Audio`/`Concealed`.
    pub fn pop(&mut self, now: Instant, out: &mut [i16; FRAME_SAMPLES]) -> Playout {
        match self.state {
            State::Idle => return Playout::Idle,
            State::Buffering { since } => {
                let waited = now.saturating_duration_since(since);
                if waited < self.config.min_delay {
                    return Playout::Buffering;
                }
                self.state = State::Playing;
            }
            State::Playing => {}
        }
        let stopped = self
            .last_arrival
            .is_some_and(|last| now.saturating_duration_since(last) >= self.config.idle_after);
        if stopped && self.highest_end <= self.play_ts {
            self.state = State::Idle;
            return Playout::Idle;
        }
        if self.stall_pending {
            // Grow the delay by one frame: play a concealment frame without consuming audio.
            self.stall_pending = false;
            let (first, second) = out.split_at_mut(CHUNK);
            self.conceal(first);
            self.conceal(second);
            self.stats.frames_out += 1;
            return Playout::Concealed;
        }
        self.control_depth();
        let mut concealed = false;
        for half in out.chunks_exact_mut(CHUNK) {
            let idx = slot_index(self.play_ts);
            let slot = self.slots[idx];
            if slot.present && slot.ts == self.play_ts {
                slot.codec.decode_into(&slot.data, half);
                self.last_chunk.copy_from_slice(half);
                self.conceal_run = 0;
            } else {
                self.conceal(half);
                concealed = true;
            }
            self.slots[idx].present = false;
            self.play_ts += CHUNK as u64;
        }
        self.stats.frames_out += 1;
        if concealed {
            Playout::Concealed
        } else {
            Playout::Audio
        }
    }

    fn control_depth(&mut self) {
        let depth = self.highest_end.saturating_sub(self.play_ts);
        if depth > self.target_delay + 2 * FRAME_SAMPLES as u64 {
            self.deep_ticks += 1;
            if self.deep_ticks >= DEEP_TICKS_BEFORE_DROP {
                self.deep_ticks = 0;
                self.advance_dropping(FRAME_SAMPLES as u64);
                self.stats.dropped_frames += 1;
            }
        } else {
            self.deep_ticks = 0;
        }
    }

    /// Loss concealment: repeat the last chunk, halving it each time, then silence.
    fn conceal(&mut self, out: &mut [i16]) {
        self.stats.concealed_chunks += 1;
        if self.conceal_run < CONCEAL_REPEAT_CHUNKS {
            self.conceal_run += 1;
            let shift = self.conceal_run;
            for (o, &s) in out.iter_mut().zip(self.last_chunk.iter()) {
                *o = s >> shift;
            }
        } else {
            out.fill(0);
        }
    }
}

fn slot_index(ts: u64) -> usize {
    ((ts / CHUNK as u64) % SLOTS as u64) as usize
}

/// The grid point at or below `ts` on the chunk grid through `anchor`.
fn align_down(ts: u64, anchor: u64) -> u64 {
    anchor - (anchor - ts).div_ceil(CHUNK as u64) * CHUNK as u64
}

fn duration_to_samples(d: Duration) -> u64 {
    (d.as_micros() as u64) * 8 / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_millis(20);

    /// A packet whose 160 µ-law samples all encode `value`.
    fn payload(value: i16) -> [u8; 160] {
        [Codec::Pcmu.encode(value); 160]
    }

    fn level(frame: &[i16; 160]) -> i16 {
        frame[0]
    }

    #[test]
    fn plays_in_order_after_delay() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        assert_eq!(jb.pop(t0, &mut out), Playout::Idle);
        for i in 0..10u32 {
            let now = t0 + T * i;
            jb.push(
                now,
                7,
                i as u16,
                i * 160,
                Codec::Pcmu,
                &payload(1000 + i as i16 * 100),
            );
            let p = jb.pop(now, &mut out);
            if i < 2 {
                assert_eq!(p, Playout::Buffering);
            } else {
                assert_eq!(p, Playout::Audio, "tick {i}");
                let expected = Codec::Pcmu.decode(Codec::Pcmu.encode(1000 + (i as i16 - 2) * 100));
                assert_eq!(level(&out), expected);
            }
        }
    }

    #[test]
    fn reorders_drops_duplicates_and_late() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        assert_eq!(
            jb.push(t0, 1, 11, 160, Codec::Pcmu, &payload(2000)),
            PushOutcome::Stored
        );
        assert_eq!(
            jb.push(t0, 1, 10, 0, Codec::Pcmu, &payload(1000)),
            PushOutcome::Stored
        );
        assert_eq!(
            jb.push(t0, 1, 10, 0, Codec::Pcmu, &payload(1000)),
            PushOutcome::Duplicate
        );
        assert_eq!(jb.pop(t0 + 2 * T, &mut out), Playout::Audio);
        assert_eq!(level(&out), Codec::Pcmu.decode(Codec::Pcmu.encode(1000)));
        assert_eq!(jb.pop(t0 + 3 * T, &mut out), Playout::Audio);
        assert_eq!(level(&out), Codec::Pcmu.decode(Codec::Pcmu.encode(2000)));
        // Sequence 12 never came; 13 arrives; 12 arrives after its playout time.
        jb.push(t0 + 3 * T, 1, 13, 480, Codec::Pcmu, &payload(3000));
        assert_eq!(jb.pop(t0 + 4 * T, &mut out), Playout::Concealed);
        assert_eq!(
            jb.push(t0 + 4 * T, 1, 12, 320, Codec::Pcmu, &payload(9)),
            PushOutcome::Late
        );
        let s = jb.stats();
        assert_eq!((s.duplicates, s.late), (1, 1));
    }

    #[test]
    fn concealment_fades_to_silence() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        jb.push(t0, 1, 0, 0, Codec::Pcmu, &payload(8000));
        jb.pop(t0 + 2 * T, &mut out);
        let full = level(&out);
        jb.push(t0 + 3 * T, 1, 50, 50 * 160, Codec::Pcmu, &payload(8000)); // keep it alive
        assert_eq!(jb.pop(t0 + 3 * T, &mut out), Playout::Concealed);
        assert_eq!(out[0], full >> 1);
        assert_eq!(out[80], full >> 2);
        jb.pop(t0 + 4 * T, &mut out);
        jb.pop(t0 + 5 * T, &mut out);
        assert!(out.iter().all(|&s| s == 0));
    }

    #[test]
    fn wraps_sequence_and_timestamp() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        let mut audio = 0;
        for i in 0..20u32 {
            let seq = 65_530u16.wrapping_add(i as u16);
            let ts = (u32::MAX - 800).wrapping_add(i * 160);
            assert_eq!(
                jb.push(t0 + T * i, 3, seq, ts, Codec::Pcma, &payload(500)),
                PushOutcome::Stored
            );
            if jb.pop(t0 + T * i, &mut out) == Playout::Audio {
                audio += 1;
            }
        }
        assert_eq!(audio, 18);
        assert_eq!(jb.stats().concealed_chunks, 0);
    }

    #[test]
    fn ssrc_change_and_jump_reset() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(t0, 1, 0, 0, Codec::Pcmu, &payload(1));
        assert_eq!(
            jb.push(t0, 2, 500, 90_000, Codec::Pcmu, &payload(1)),
            PushOutcome::Reset
        );
        assert_eq!(
            jb.push(t0, 2, 501, 9_000_000, Codec::Pcmu, &payload(1)),
            PushOutcome::Reset
        );
        assert_eq!(jb.stats().resets, 2);
    }

    #[test]
    fn goes_idle_when_stream_stops() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        jb.push(t0, 1, 0, 0, Codec::Pcmu, &payload(1));
        assert_eq!(jb.pop(t0 + 2 * T, &mut out), Playout::Audio);
        assert_eq!(jb.pop(t0 + 3 * T, &mut out), Playout::Concealed);
        assert_eq!(jb.pop(t0 + Duration::from_secs(2), &mut out), Playout::Idle);
    }

    #[test]
    fn ten_ms_packets_fill_frames() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        for i in 0..8u32 {
            jb.push(
                t0,
                1,
                i as u16,
                i * 80,
                Codec::Pcmu,
                &[Codec::Pcmu.encode(3000); 80],
            );
        }
        for k in 2..6u32 {
            assert_eq!(jb.pop(t0 + T * k, &mut out), Playout::Audio);
        }
    }

    #[test]
    fn late_packets_raise_the_delay() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        jb.push(t0, 1, 0, 0, Codec::Pcmu, &payload(1));
        for k in 2..6u32 {
            jb.pop(t0 + T * k, &mut out);
        }
        assert_eq!(
            jb.push(t0 + T * 6, 1, 1, 160, Codec::Pcmu, &payload(1)),
            PushOutcome::Late
        );
        assert_eq!(jb.stats().target_delay_ms, 60);
    }

    #[test]
    fn fast_sender_clock_is_absorbed_by_dropping_frames() {
        // The peer's clock runs 1 % fast: 50.5 packets per second of our time for 2 minutes.
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut out = [0i16; 160];
        let mut sent = 0u32;
        for tick in 0..6000u32 {
            let now = t0 + T * tick;
            while f64::from(sent) * 20.0 / 1.01 <= f64::from(tick) * 20.0 {
                jb.push(now, 1, sent as u16, sent * 160, Codec::Pcmu, &payload(100));
                sent += 1;
            }
            jb.pop(now, &mut out);
        }
        let s = jb.stats();
        assert!(s.dropped_frames >= 40, "{s:?}");
        assert_eq!(s.late, 0);
        let depth_ms = (jb.highest_end - jb.play_ts) / 8;
        assert!(depth_ms <= 140, "delay stayed bounded: {depth_ms} ms");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_packets_never_panic_and_one_frame_per_tick(
            packets in proptest::collection::vec((proptest::num::u16::ANY, proptest::num::u32::ANY, 0u32..3, 0usize..700, 0u64..200), 1..200)
        ) {
            let t0 = Instant::now();
            let mut jb = JitterBuffer::new(JitterConfig::default());
            let mut out = [0i16; 160];
            let mut now = t0;
            for (seq, ts, ssrc, len, advance_ms) in packets {
                now += Duration::from_millis(advance_ms);
                let data = vec![0x55u8; len];
                jb.push(now, ssrc, seq, ts, Codec::Pcma, &data);
                let before = jb.stats().frames_out;
                let p = jb.pop(now, &mut out);
                let emitted = jb.stats().frames_out - before;
                proptest::prop_assert_eq!(emitted, u64::from(matches!(p, Playout::Audio | Playout::Concealed)));
            }
        }
    }
}
