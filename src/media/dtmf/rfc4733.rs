//! RFC 4733 telephone-events: payload format, a receiver that counts each key press once, and a
//! sender that produces the start/update/end packet train.
//!
//! Owns the telephone-event payload and its timing rules. RTP headers and sequence numbers are
//! the session's (events share the audio stream's SSRC and sequence space, RFC 4733 §2.1).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{digit_to_event, event_to_digit};
use crate::media::error::MediaError;

/// Payload length of one event (RFC 4733 §2.3).
pub const EVENT_PAYLOAD_LEN: usize = 4;
/// An event with no end bit yet counts once it has lasted this long (40 ms at 8 kHz).
const MIN_DURATION_SAMPLES: u16 = 320;
/// Remembered event timestamps, so late end retransmissions of older events are not recounted.
const REMEMBERED_EVENTS: usize = 8;
/// RFC 4733 §2.5.1.2: interim updates are sent every 50 ms.
const UPDATE_INTERVAL: Duration = Duration::from_millis(50);
/// RFC 4733 §2.5.1.4: the final packet is sent three times.
const END_REPEATS: u8 = 3;
/// Spacing of the end retransmissions.
const END_SPACING: Duration = Duration::from_millis(20);
/// Gap between queued digits.
const INTER_DIGIT_GAP: Duration = Duration::from_millis(60);
/// Volume field: -10 dBm0 (RFC 4733 §2.3.4 expresses it as a positive attenuation).
const VOLUME: u8 = 10;

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–15 are the DTMF digits, RFC 4733 §3.2).
    pub event: u8,
    /// End bit: the final packet(s) of the event.
    pub end: bool,
    /// Attenuation in dB below 0 dBm0 (6 bits).
    pub volume: u8,
    /// Duration so far in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parse the first event of a payload (redundant events, §2.5.1.5, are not used by peers
    /// for DTMF in practice and are ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, MediaError> {
        let b = payload
            .get(..EVENT_PAYLOAD_LEN)
            .ok_or(MediaError::ShortTelephoneEvent)?;
        Ok(TelephoneEvent {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4-byte wire form.
    pub fn to_bytes(&self) -> [u8; EVENT_PAYLOAD_LEN] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// Turns a stream of telephone-event packets into one digit per key press.
///
/// An event is identified by its RTP timestamp (RFC 4733 §2.5.2.1: all packets of one event
/// carry the event's start timestamp). It is reported once: on its first end packet, or
/// earlier once its duration reaches 40 ms (so a lost end still counts, and the digit is not
/// delayed to key-up). Later packets with that timestamp (updates, the three end
/// retransmissions, reordered stragglers) are ignored.
#[derive(Debug, Clone, Default)]
pub struct TelephoneEventReceiver {
    reported: VecDeque<u32>,
}

impl TelephoneEventReceiver {
    /// A receiver that has seen nothing.
    pub fn new() -> Self {
        TelephoneEventReceiver {
            reported: VecDeque::with_capacity(REMEMBERED_EVENTS),
        }
    }

    /// Feed one packet's timestamp and payload; returns a digit when a new press completes.
    pub fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload).ok()?;
        // Events 16+ (flash, line events) are not digits.
        let digit = event_to_digit(ev.event)?;
        if self.reported.contains(&timestamp) {
            return None;
        }
        if !ev.end && ev.duration < MIN_DURATION_SAMPLES {
            return None;
        }
        if self.reported.len() == REMEMBERED_EVENTS {
            self.reported.pop_front();
        }
        self.reported.push_back(timestamp);
        Some(digit)
    }
}

/// One telephone-event packet to send: the session adds the RTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// RFC 4733 §2.5.1.2: marker on the first packet of an event.
    pub marker: bool,
    /// The event's start timestamp (same for all its packets).
    pub timestamp: u32,
    /// The payload.
    pub event: TelephoneEvent,
}

#[derive(Debug, Clone, Copy)]
struct ActiveEvent {
    code: u8,
    timestamp: u32,
    started: Instant,
    length: Duration,
    next_at: Instant,
    sent_start: bool,
    ends_sent: u8,
}

/// Generates the packet train for queued digits (RFC 4733 §2.5.1).
#[derive(Debug, Clone, Default)]
pub struct TelephoneEventSender {
    queue: VecDeque<(u8, Duration)>,
    active: Option<ActiveEvent>,
    not_before: Option<Instant>,
}

impl TelephoneEventSender {
    /// An idle sender.
    pub fn new() -> Self {
        TelephoneEventSender::default()
    }

    /// Queue a digit to start no earlier than `now`; unknown characters are ignored (false).
    pub fn queue(&mut self, now: Instant, digit: char, length: Duration) -> bool {
        match digit_to_event(digit) {
            Some(code) => {
                if !self.is_busy() {
                    self.not_before = Some(self.not_before.map_or(now, |t| t.max(now)));
                }
                self.queue
                    .push_back((code, length.max(Duration::from_millis(40))));
                true
            }
            None => false,
        }
    }

    /// Whether an event is being sent now (audio is suppressed meanwhile, RFC 4733 §2.5.1.1).
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Whether anything is active or queued.
    pub fn is_busy(&self) -> bool {
        self.active.is_some() || !self.queue.is_empty()
    }

    /// When the next packet is due, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.active {
            Some(a) => Some(a.next_at),
            None if !self.queue.is_empty() => self.not_before,
            None => None,
        }
    }

    /// The next packet if due. `timestamp_now` is the audio stream's RTP timestamp for `now`,
    /// used as the event timestamp when a new event starts.
    pub fn poll_packet(&mut self, now: Instant, timestamp_now: u32) -> Option<EventPacket> {
        if self.active.is_none() {
            if self.not_before.is_some_and(|t| now < t) {
                return None;
            }
            let (code, length) = self.queue.pop_front()?;
            self.active = Some(ActiveEvent {
                code,
                timestamp: timestamp_now,
                started: now,
                length,
                next_at: now,
                sent_start: false,
                ends_sent: 0,
            });
        }
        let a = self.active.as_mut()?;
        if now < a.next_at {
            return None;
        }
        let elapsed = now.saturating_duration_since(a.started);
        let ending = elapsed >= a.length;
        let samples =
            (a.length.min(elapsed).as_micros() * 8 / 1000).min(u128::from(u16::MAX)) as u16;
        let packet = EventPacket {
            marker: !a.sent_start,
            timestamp: a.timestamp,
            event: TelephoneEvent {
                event: a.code,
                end: ending,
                volume: VOLUME,
                duration: samples,
            },
        };
        a.sent_start = true;
        if ending {
            a.ends_sent += 1;
            a.next_at += END_SPACING;
            if a.ends_sent >= END_REPEATS {
                self.active = None;
                self.not_before = Some(now + INTER_DIGIT_GAP);
            }
        } else {
            // Interim updates every 50 ms, and one exactly at the end.
            a.next_at = (a.next_at + UPDATE_INTERVAL).min(a.started + a.length);
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        }
        .to_bytes()
    }

    #[test]
    fn payload_round_trip_and_short_rejected() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 63,
            duration: 1234,
        };
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(MediaError::ShortTelephoneEvent)
        );
    }

    #[test]
    fn end_retransmissions_count_once() {
        let mut r = TelephoneEventReceiver::new();
        let mut got = Vec::new();
        for (dur, end) in [
            (0, false),
            (160, false),
            (400, false),
            (800, true),
            (800, true),
            (800, true),
        ] {
            got.extend(r.receive(1000, &payload(5, end, dur)));
        }
        assert_eq!(got, vec!['5']);
        // Same digit pressed again: new timestamp, counted again.
        got.extend(r.receive(5000, &payload(5, true, 800)));
        assert_eq!(got, vec!['5', '5']);
    }

    #[test]
    fn short_event_counts_at_end_and_long_event_without_end_counts_once() {
        let mut r = TelephoneEventReceiver::new();
        assert_eq!(r.receive(1, &payload(11, false, 160)), None);
        assert_eq!(r.receive(1, &payload(11, true, 240)), Some('#'));
        let mut r = TelephoneEventReceiver::new();
        let got: Vec<char> = (0..10)
            .filter_map(|i| r.receive(9, &payload(1, false, 160 * i)))
            .collect();
        assert_eq!(got, vec!['1']);
        assert_eq!(r.receive(9, &payload(16, true, 800)), None);
        assert_eq!(
            r.receive(10, &payload(16, true, 800)),
            None,
            "flash is not a digit"
        );
    }

    #[test]
    fn sender_produces_start_updates_and_three_ends() {
        let t0 = Instant::now();
        let mut s = TelephoneEventSender::new();
        assert!(s.queue(t0, '9', Duration::from_millis(120)));
        let mut packets = Vec::new();
        let mut now = t0;
        while now < t0 + Duration::from_secs(1) {
            while let Some(p) = s.poll_packet(now, 4242) {
                packets.push((now - t0, p));
            }
            now += Duration::from_millis(10);
        }
        assert!(packets[0].1.marker);
        assert!(packets[1..].iter().all(|(_, p)| !p.marker));
        assert!(
            packets
                .iter()
                .all(|(_, p)| p.timestamp == 4242 && p.event.event == 9)
        );
        let ends: Vec<_> = packets.iter().filter(|(_, p)| p.event.end).collect();
        assert_eq!(ends.len(), 3);
        assert!(ends.iter().all(|(_, p)| p.event.duration == 960));
        let starts: Vec<Duration> = packets
            .iter()
            .filter(|(_, p)| !p.event.end)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            starts,
            vec![
                Duration::ZERO,
                Duration::from_millis(50),
                Duration::from_millis(100)
            ]
        );
        assert!(!s.is_busy());
        // The receiver counts the train as exactly one digit.
        let mut r = TelephoneEventReceiver::new();
        let digits: Vec<char> = packets
            .iter()
            .filter_map(|(_, p)| r.receive(p.timestamp, &p.event.to_bytes()))
            .collect();
        assert_eq!(digits, vec!['9']);
    }
}
