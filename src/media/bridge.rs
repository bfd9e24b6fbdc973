//! Joins the audio of two calls' media sessions (caller and advisor) without leaving sans-IO.
//!
//! Each leg's [`MediaSession`](super::MediaSession) already turns its RTP into jitter-buffered
//! 20 ms linear frames ([`MediaEvent::Frame`]) and pulls what it sends from an
//! [`AudioSource`]. The bridge connects the two: frames heard on one leg are queued for the
//! other leg's [`BridgedAudio`] source. Transcoding (PCMU on one side, PCMA on the other) is
//! implicit because frames are linear PCM; each session encodes with its own negotiated law.
//! DTMF heard on one leg is handed back as a [`BridgeAction`] to regenerate on the other (RFC
//! 4733 §2.1: events are re-originated, never copied as packets).
//!
//! Owns: the two frame queues and their drift handling. Must not touch: sockets, signalling,
//! and the sessions themselves (the call task feeds events in and applies actions).
//! Designed for warm transfer too: the call task can hold the caller on a prompt while the
//! advisor hears a whisper, then install the [`BridgedAudio`] sources to join them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::session::MediaEvent;
use super::source::AudioSource;

/// Samples in one 20 ms frame at 8 kHz.
const FRAME_SAMPLES: usize = 160;
/// Default cap of each direction's queue: 8 frames = 160 ms. The producing session's jitter
/// buffer already smooths the network; this only absorbs the two legs' clock phase and drift,
/// and a call task that wakes late and catches up several frames at once on each leg.
pub const DEFAULT_MAX_FRAMES: usize = 8;
/// Frames queued before a leg starts (or, after running dry, restarts) playing the other's
/// audio: 2 frames = 40 ms, so a late wake-up on the producing leg does not cut the audio.
pub const DEFAULT_PRIME_FRAMES: usize = 2;
/// How long a re-originated DTMF digit lasts (RFC 4733 §2.5.1.3 leaves it to the sender).
pub const DTMF_DURATION: Duration = Duration::from_millis(100);

/// One side of the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    /// The inbound call.
    Caller,
    /// The call Frontdoor placed to the advisor.
    Advisor,
}

impl Leg {
    /// The leg on the other side.
    pub fn other(self) -> Leg {
        match self {
            Leg::Caller => Leg::Advisor,
            Leg::Advisor => Leg::Caller,
        }
    }
}

/// What the call task must do for the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeAction {
    /// Send this digit on leg `to` (`MediaSession::send_dtmf`).
    SendDtmf {
        to: Leg,
        digit: char,
        duration: Duration,
    },
}

/// Counters for the call summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Frames queued towards each leg: `[to caller, to advisor]`.
    pub frames: [u64; 2],
    /// Frames dropped because a queue was full (the producer's clock runs fast).
    pub dropped: [u64; 2],
    /// Frames sent as silence because a queue was empty (gaps or a slow producer).
    pub underruns: [u64; 2],
    /// Digits forwarded: `[to caller, to advisor]`.
    pub dtmf: [u64; 2],
}

/// Frames waiting to be sent on one leg.
#[derive(Debug)]
struct FrameQueue {
    frames: VecDeque<[i16; FRAME_SAMPLES]>,
    max_frames: usize,
    prime_frames: usize,
    /// Playing from the queue; false until `prime_frames` are queued, and again after it ran dry.
    primed: bool,
    queued: u64,
    dropped: u64,
    underruns: u64,
}

type SharedQueue = Arc<Mutex<FrameQueue>>;

/// A poisoned lock only means another holder panicked mid-push; the queue is still a valid
/// VecDeque of whole frames, so keep using it rather than spreading the panic to the call.
fn lock(q: &SharedQueue) -> MutexGuard<'_, FrameQueue> {
    q.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The sans-IO bridge between two legs.
#[derive(Debug)]
pub struct Bridge {
    to_caller: SharedQueue,
    to_advisor: SharedQueue,
    dtmf: [u64; 2],
}

/// The [`AudioSource`] for one leg: plays what the other leg said. Never finishes (silence when
/// nothing is queued); the call task removes it when the bridge ends.
#[derive(Debug)]
pub struct BridgedAudio {
    queue: SharedQueue,
}

impl Bridge {
    /// A bridge whose queues hold at most `max_frames` 20 ms frames each (at least 1) and
    /// start playing once `prime_frames` are queued (at most `max_frames`). Returns the bridge
    /// and the sources to install on the caller's and the advisor's sessions.
    pub fn new(prime_frames: usize, max_frames: usize) -> (Bridge, BridgedAudio, BridgedAudio) {
        let max_frames = max_frames.max(1);
        let queue = || {
            Arc::new(Mutex::new(FrameQueue {
                frames: VecDeque::with_capacity(max_frames),
                max_frames,
                prime_frames: prime_frames.min(max_frames),
                primed: false,
                queued: 0,
                dropped: 0,
                underruns: 0,
            }))
        };
        let (to_caller, to_advisor) = (queue(), queue());
        let caller_source = BridgedAudio {
            queue: to_caller.clone(),
        };
        let advisor_source = BridgedAudio {
            queue: to_advisor.clone(),
        };
        (
            Bridge {
                to_caller,
                to_advisor,
                dtmf: [0; 2],
            },
            caller_source,
            advisor_source,
        )
    }

    /// A media event from leg `from`. Frames are copied (hand the box back to the session with
    /// `recycle_frame`); digits come back as an action for the other leg.
    pub fn on_event(&mut self, from: Leg, event: &MediaEvent) -> Option<BridgeAction> {
        match event {
            MediaEvent::Frame(frame) => {
                self.push_frame(from, frame);
                None
            }
            MediaEvent::Dtmf(digit) => {
                let to = from.other();
                self.dtmf[index(to)] += 1;
                Some(BridgeAction::SendDtmf {
                    to,
                    digit: *digit,
                    duration: DTMF_DURATION,
                })
            }
            MediaEvent::MediaTimeout | MediaEvent::SourceFinished => None,
        }
    }

    /// Queues 20 ms heard on `from` for the other leg, dropping the oldest frame when full so
    /// latency stays bounded when the two legs' clocks drift apart.
    pub fn push_frame(&mut self, from: Leg, frame: &[i16; FRAME_SAMPLES]) {
        let mut q = lock(self.queue_to(from.other()));
        if q.frames.len() >= q.max_frames {
            q.frames.pop_front();
            q.dropped += 1;
        }
        q.frames.push_back(*frame);
        q.queued += 1;
    }

    /// Counters so far.
    pub fn stats(&self) -> BridgeStats {
        let (c, a) = (lock(&self.to_caller), lock(&self.to_advisor));
        BridgeStats {
            frames: [c.queued, a.queued],
            dropped: [c.dropped, a.dropped],
            underruns: [c.underruns, a.underruns],
            dtmf: self.dtmf,
        }
    }

    fn queue_to(&self, leg: Leg) -> &SharedQueue {
        match leg {
            Leg::Caller => &self.to_caller,
            Leg::Advisor => &self.to_advisor,
        }
    }
}

fn index(leg: Leg) -> usize {
    match leg {
        Leg::Caller => 0,
        Leg::Advisor => 1,
    }
}

impl AudioSource for BridgedAudio {
    fn next_frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> bool {
        let mut q = lock(&self.queue);
        if !q.primed && q.frames.len() >= q.prime_frames {
            q.primed = true;
        }
        let next = if q.primed { q.frames.pop_front() } else { None };
        match next {
            Some(frame) => *out = frame,
            None => {
                // Only a primed queue that ran dry is a gap; waiting to prime is start-up.
                if q.primed {
                    q.underruns += 1;
                    q.primed = false;
                }
                out.fill(0);
            }
        }
        // Returning false would raise SourceFinished and drop the source: a bridge only ends
        // when the call task removes it.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::Entropy;
    use crate::media::Codec;
    use crate::media::rtp::RtpHeader;
    use crate::media::session::{MediaConfig, MediaSession};
    use std::net::SocketAddr;
    use std::time::{Instant, SystemTime};

    fn frame(value: i16) -> [i16; FRAME_SAMPLES] {
        [value; FRAME_SAMPLES]
    }

    #[test]
    fn frames_cross_to_the_other_leg_in_order() {
        let (mut bridge, mut to_caller, mut to_advisor) = Bridge::new(1, 5);
        bridge.push_frame(Leg::Caller, &frame(1));
        bridge.push_frame(Leg::Caller, &frame(2));
        bridge.push_frame(Leg::Advisor, &frame(9));
        let mut out = [0; FRAME_SAMPLES];
        assert!(to_advisor.next_frame(&mut out));
        assert_eq!(out, frame(1));
        assert!(to_advisor.next_frame(&mut out));
        assert_eq!(out, frame(2));
        assert!(to_caller.next_frame(&mut out));
        assert_eq!(out, frame(9));
    }

    #[test]
    fn empty_queue_plays_silence_and_never_finishes() {
        let (mut bridge, mut to_caller, _) = Bridge::new(1, 5);
        let mut out = frame(7);
        assert!(to_caller.next_frame(&mut out));
        assert_eq!(out, frame(0));
        assert_eq!(bridge.stats().underruns, [0, 0], "not started yet: no gap");
        bridge.push_frame(Leg::Advisor, &frame(3));
        assert!(to_caller.next_frame(&mut out));
        assert_eq!(out, frame(3));
        assert!(to_caller.next_frame(&mut out));
        assert_eq!(out, frame(0));
        assert_eq!(bridge.stats().underruns, [1, 0]);
    }

    #[test]
    fn plays_only_once_primed_and_reprimes_after_running_dry() {
        let (mut bridge, _, mut to_advisor) = Bridge::new(2, 8);
        let mut out = [0; FRAME_SAMPLES];
        bridge.push_frame(Leg::Caller, &frame(1));
        to_advisor.next_frame(&mut out);
        assert_eq!(out, frame(0), "one frame is not enough to start");
        bridge.push_frame(Leg::Caller, &frame(2));
        to_advisor.next_frame(&mut out);
        assert_eq!(out, frame(1));
        to_advisor.next_frame(&mut out);
        assert_eq!(out, frame(2));
        to_advisor.next_frame(&mut out);
        assert_eq!(out, frame(0), "ran dry");
        bridge.push_frame(Leg::Caller, &frame(3));
        to_advisor.next_frame(&mut out);
        assert_eq!(out, frame(0), "re-priming");
        bridge.push_frame(Leg::Caller, &frame(4));
        to_advisor.next_frame(&mut out);
        assert_eq!(out, frame(3));
    }

    #[test]
    fn full_queue_drops_the_oldest_to_bound_latency() {
        let (mut bridge, _, mut to_advisor) = Bridge::new(1, 3);
        for v in 1..=5 {
            bridge.push_frame(Leg::Caller, &frame(v));
        }
        let mut out = [0; FRAME_SAMPLES];
        to_advisor.next_frame(&mut out);
        assert_eq!(out, frame(3));
        assert_eq!(bridge.stats().dropped, [0, 2]);
        assert_eq!(bridge.stats().frames, [0, 5]);
    }

    #[test]
    fn dtmf_is_reoriginated_on_the_other_leg() {
        let (mut bridge, _, _) = Bridge::new(1, 5);
        assert_eq!(
            bridge.on_event(Leg::Caller, &MediaEvent::Dtmf('5')),
            Some(BridgeAction::SendDtmf {
                to: Leg::Advisor,
                digit: '5',
                duration: DTMF_DURATION
            })
        );
        assert_eq!(
            bridge.on_event(Leg::Advisor, &MediaEvent::MediaTimeout),
            None
        );
        assert_eq!(bridge.stats().dtmf, [0, 1]);
    }

    fn rtp(codec: Codec, seq: u16, samples: &[i16]) -> Vec<u8> {
        let mut out = vec![0u8; 12 + samples.len()];
        RtpHeader {
            marker: seq == 0,
            payload_type: codec.static_payload_type(),
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 0x1234,
        }
        .write(&mut out)
        .unwrap();
        codec.encode_into(samples, &mut out[12..]);
        out
    }

    /// A PCMU caller and a PCMA advisor: the advisor's packets carry the caller's audio in
    /// A-law, through two real sessions in virtual time.
    #[test]
    fn pcmu_caller_reaches_pcma_advisor_through_two_sessions() {
        let t0 = Instant::now();
        let caller_addr: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let advisor_addr: SocketAddr = "127.0.0.1:40002".parse().unwrap();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut caller = MediaSession::new(
            MediaConfig::new(Codec::Pcmu, caller_addr),
            Entropy::seeded(1),
            t0,
            wall,
        );
        let mut advisor = MediaSession::new(
            MediaConfig::new(Codec::Pcma, advisor_addr),
            Entropy::seeded(2),
            t0,
            wall,
        );
        let (mut bridge, to_caller, to_advisor) =
            Bridge::new(DEFAULT_PRIME_FRAMES, DEFAULT_MAX_FRAMES);
        caller.set_source(Some(Box::new(to_caller)));
        advisor.set_source(Some(Box::new(to_advisor)));

        // A 1 kHz sine (0.785 rad per sample at 8 kHz), loud enough that G.711 keeps its shape.
        let tone: Vec<i16> = (0..FRAME_SAMPLES)
            .map(|i| ((i as f64 * 0.785).sin() * 8000.0) as i16)
            .collect();
        let mut heard_by_advisor: Vec<i16> = Vec::new();
        for n in 0..50u16 {
            let now = t0 + Duration::from_millis(20 * u64::from(n));
            caller.handle_rtp(now, caller_addr, &rtp(Codec::Pcmu, n, &tone));
            caller.handle_timeout(now);
            while let Some(ev) = caller.poll_event() {
                bridge.on_event(Leg::Caller, &ev);
                if let MediaEvent::Frame(f) = ev {
                    caller.recycle_frame(f);
                }
            }
            advisor.handle_timeout(now);
            while let Some(t) = advisor.poll_transmit(now) {
                if t.is_rtcp {
                    continue;
                }
                let packet = crate::media::rtp::RtpPacket::parse(t.payload).unwrap();
                assert_eq!(packet.header.payload_type, 8, "advisor leg sends PCMA");
                heard_by_advisor.extend(packet.payload.iter().map(|&c| Codec::Pcma.decode(c)));
            }
            while caller.poll_transmit(now).is_some() {}
        }
        // Somewhere after the jitter buffer's start-up delay the tone arrives intact.
        let found = heard_by_advisor
            .chunks_exact(FRAME_SAMPLES)
            .any(|f| f.iter().zip(&tone).all(|(a, b)| (a - b).abs() < 300));
        assert!(found, "the caller's tone never reached the advisor leg");
        assert!(bridge.stats().frames[1] > 0);
    }
}
