//! RTP (RFC 3550) as seen on the wire: parse captured datagrams, group them into streams,
//! decode G.711 audio with gaps filled by the RTP timestamp, list RFC 4733 telephone-events,
//! measure send-time deviation from the 20 ms schedule — and build streams (audio followed by
//! DTMF events in one SSRC/sequence space) for sipp's `play_pcap_audio`.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::time::Duration;

use super::g711::Law;
use super::pcap::{PcapWriter, UdpDatagram};

/// RTP clock rate of G.711 and telephone-event (RFC 3551 §4.5.14, RFC 4733 §2.1).
pub const CLOCK_RATE: u32 = 8_000;
/// Samples in a 20 ms packet.
pub const SAMPLES_PER_PACKET: usize = 160;
/// At most this much audio is reconstructed from one stream (a garbage timestamp must not
/// allocate gigabytes).
const MAX_DECODED_SAMPLES: usize = CLOCK_RATE as usize * 60 * 15;

/// One RTP packet from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
    /// Capture time (since the Unix epoch).
    pub arrival: Duration,
}

impl RtpPacket {
    /// Parses an RTP packet (RFC 3550 §5.1); `None` for anything else, including RTCP
    /// (payload types 72–76 with the marker bit, RFC 5761 §4) and SIP (ASCII has version 1).
    pub fn parse(bytes: &[u8], arrival: Duration) -> Option<RtpPacket> {
        let first = *bytes.first()?;
        let second = *bytes.get(1)?;
        if first >> 6 != 2 {
            return None;
        }
        let payload_type = second & 0x7f;
        if (72..=76).contains(&payload_type) {
            return None;
        }
        let csrc_count = usize::from(first & 0x0f);
        let mut offset = 12 + 4 * csrc_count;
        // RFC 3550 §5.3.1: header extension.
        if first & 0x10 != 0 {
            let words = u16::from_be_bytes(bytes.get(offset + 2..offset + 4)?.try_into().ok()?);
            offset += 4 + 4 * usize::from(words);
        }
        let mut end = bytes.len();
        // RFC 3550 §5.1: the last octet counts the padding.
        if first & 0x20 != 0 {
            end = end.checked_sub(usize::from(*bytes.last()?))?;
        }
        Some(RtpPacket {
            payload_type,
            marker: second & 0x80 != 0,
            sequence: u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?),
            timestamp: u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?),
            ssrc: u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?),
            payload: bytes.get(offset..end)?.to_vec(),
            arrival,
        })
    }

    /// Serialises a minimal header (no CSRC, extension or padding) and the payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        out.push(0x80);
        out.push(self.payload_type | if self.marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

/// The packets of one SSRC sent from one address to another, in capture order.
#[derive(Debug, Clone)]
pub struct RtpStream {
    pub ssrc: u32,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub packets: Vec<RtpPacket>,
}

/// One RFC 4733 event, counted once however many packets carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// '0'-'9', '*', '#', 'A'-'D', or '?' for events beyond DTMF.
    pub digit: char,
    /// RTP timestamp of the event's start (RFC 4733 §2.5.1.1).
    pub timestamp: u32,
    /// Longest duration reported, in timestamp units.
    pub duration: u16,
    /// Whether an end packet (E bit) was seen.
    pub ended: bool,
}

/// Decoded audio of a stream at 8 kHz.
#[derive(Debug, Clone)]
pub struct DecodedAudio {
    pub samples: Vec<i16>,
    /// Capture time of the first audio packet.
    pub start: Duration,
    /// Audio packets decoded (duplicates dropped).
    pub packets: usize,
}

/// Nearest-rank percentiles of how late packets left relative to a perfect 20 ms clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    pub packets: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Deviation {
    /// Percentiles of lateness values (µs) pooled from any number of streams; `None` with
    /// fewer than two.
    pub fn from_lateness(mut lateness_us: Vec<u64>) -> Option<Deviation> {
        if lateness_us.len() < 2 {
            return None;
        }
        lateness_us.sort_unstable();
        Some(Deviation {
            packets: lateness_us.len(),
            p50: Duration::from_micros(percentile(&lateness_us, 50.0)),
            p99: Duration::from_micros(percentile(&lateness_us, 99.0)),
            max: Duration::from_micros(*lateness_us.last()?),
        })
    }
}

/// Groups the RTP packets among `datagrams` by (SSRC, source, destination).
pub fn streams(datagrams: &[UdpDatagram]) -> Vec<RtpStream> {
    let mut by_key: BTreeMap<(SocketAddrV4, SocketAddrV4, u32), Vec<RtpPacket>> = BTreeMap::new();
    for datagram in datagrams {
        if let Some(packet) = RtpPacket::parse(&datagram.payload, datagram.time) {
            by_key
                .entry((datagram.src, datagram.dst, packet.ssrc))
                .or_default()
                .push(packet);
        }
    }
    by_key
        .into_iter()
        .map(|((src, dst, ssrc), packets)| RtpStream {
            ssrc,
            src,
            dst,
            packets,
        })
        .collect()
}

/// The streams whose destination port is `port` (what a peer on that port received).
pub fn streams_to_port(datagrams: &[UdpDatagram], port: u16) -> Vec<RtpStream> {
    streams(datagrams)
        .into_iter()
        .filter(|s| s.dst.port() == port)
        .collect()
}

/// Extends 16-bit sequence numbers to a monotonic count across wrap-around (RFC 3550 A.1).
fn extended_sequences(packets: &[RtpPacket]) -> Vec<i64> {
    let mut out = Vec::with_capacity(packets.len());
    let mut last: Option<i64> = None;
    for packet in packets {
        let seq = i64::from(packet.sequence);
        let ext = match last {
            None => seq,
            Some(prev) => {
                let delta = i64::from((packet.sequence).wrapping_sub(prev as u16) as i16);
                prev + delta
            }
        };
        last = Some(ext);
        out.push(ext);
    }
    out
}

impl RtpStream {
    /// Packets carrying G.711 audio.
    pub fn audio_packets(&self) -> impl Iterator<Item = &RtpPacket> {
        self.packets
            .iter()
            .filter(|p| Law::from_payload_type(p.payload_type).is_some())
    }

    /// Decodes the G.711 packets into one 8 kHz signal placed by RTP timestamp: reordering
    /// and duplicates are undone, and lost or suppressed intervals become silence, so the
    /// result lines up with the sender's clock.
    pub fn decode_audio(&self) -> DecodedAudio {
        let audio: Vec<&RtpPacket> = self.audio_packets().collect();
        let Some(first) = audio.first() else {
            return DecodedAudio {
                samples: Vec::new(),
                start: Duration::ZERO,
                packets: 0,
            };
        };
        let base = first.timestamp;
        let mut samples: Vec<i16> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut packets = 0;
        for packet in &audio {
            let Some(law) = Law::from_payload_type(packet.payload_type) else {
                continue;
            };
            // Offsets relative to the first packet, wrap-safe; earlier (reordered) packets
            // before the first one are dropped rather than shifting everything.
            let offset = packet.timestamp.wrapping_sub(base) as i32;
            if offset < 0 || !seen.insert(packet.timestamp) {
                continue;
            }
            let offset = offset as usize;
            let end = offset + packet.payload.len();
            if end > MAX_DECODED_SAMPLES {
                continue;
            }
            if samples.len() < end {
                samples.resize(end, 0);
            }
            for (slot, code) in samples[offset..end].iter_mut().zip(&packet.payload) {
                *slot = law.decode(*code);
            }
            packets += 1;
        }
        DecodedAudio {
            samples,
            start: first.arrival,
            packets,
        }
    }

    /// RFC 4733 events carried with payload type `event_pt`, one per event start timestamp.
    pub fn telephone_events(&self, event_pt: u8) -> Vec<TelephoneEvent> {
        let mut events: Vec<TelephoneEvent> = Vec::new();
        for packet in self.packets.iter().filter(|p| p.payload_type == event_pt) {
            let Some(&[event, flags, d0, d1]) = packet.payload.get(0..4) else {
                continue;
            };
            let duration = u16::from_be_bytes([d0, d1]);
            let ended = flags & 0x80 != 0;
            // RFC 4733 §2.5.1.3: all packets of one event share its start timestamp.
            match events.iter_mut().find(|e| e.timestamp == packet.timestamp) {
                Some(existing) => {
                    existing.duration = existing.duration.max(duration);
                    existing.ended |= ended;
                }
                None => events.push(TelephoneEvent {
                    digit: event_digit(event),
                    timestamp: packet.timestamp,
                    duration,
                    ended,
                }),
            }
        }
        events
    }

    /// How late each audio packet was captured relative to a perfect clock anchored at the
    /// least-delayed packet: packet `i` is due at `t0 + (ts_i - ts_0) / 8 kHz`. The RTP
    /// timestamp (not the packet count) gives the schedule, so a deliberate gap does not
    /// count as lateness. Microseconds, in capture order.
    pub fn lateness_us(&self) -> Vec<u64> {
        let audio: Vec<&RtpPacket> = self.audio_packets().collect();
        let Some(first) = audio.first() else {
            return Vec::new();
        };
        let offsets: Vec<i128> = audio
            .iter()
            .map(|p| {
                let due_us = i128::from(p.timestamp.wrapping_sub(first.timestamp) as i32)
                    * 1_000_000
                    / i128::from(CLOCK_RATE);
                p.arrival.as_micros() as i128 - due_us
            })
            .collect();
        let baseline = offsets.iter().copied().min().unwrap_or(0);
        offsets.iter().map(|o| (o - baseline) as u64).collect()
    }

    /// Percentiles of [`RtpStream::lateness_us`]; `None` with fewer than two audio packets.
    pub fn send_deviation(&self) -> Option<Deviation> {
        Deviation::from_lateness(self.lateness_us())
    }

    /// Extended sequence numbers that never arrived between the first and last packet.
    pub fn lost_packets(&self) -> usize {
        let mut seqs = extended_sequences(&self.packets);
        seqs.sort_unstable();
        seqs.dedup();
        match (seqs.first(), seqs.last()) {
            (Some(first), Some(last)) => (last - first + 1) as usize - seqs.len(),
            _ => 0,
        }
    }
}

/// Nearest-rank percentile of sorted values (0 for an empty slice).
pub fn percentile(sorted: &[u64], pct: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The RFC 4733 §3.2 event code of a DTMF key.
pub fn digit_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        _ => None,
    }
}

fn event_digit(event: u8) -> char {
    match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + event - 12),
        _ => '?',
    }
}

/// Builds one outgoing RTP stream — G.711 audio and RFC 4733 events sharing a single SSRC,
/// sequence and timestamp space, as a real phone sends them — and writes it as a pcap whose
/// capture times pace sipp's `play_pcap_audio`.
#[derive(Debug, Clone)]
pub struct RtpStreamBuilder {
    law: Law,
    event_pt: u8,
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// Stream time of the next packet.
    clock: Duration,
    start_of_spurt: bool,
    packets: Vec<RtpPacket>,
}

impl RtpStreamBuilder {
    /// A stream in `law` with telephone-events on `event_pt` (101 in our scenarios).
    pub fn new(law: Law, event_pt: u8) -> RtpStreamBuilder {
        RtpStreamBuilder {
            law,
            event_pt,
            ssrc: 0x1357_9bdf,
            sequence: 0x1000,
            timestamp: 0x0010_0000,
            clock: Duration::from_secs(1_700_000_000),
            start_of_spurt: true,
            packets: Vec::new(),
        }
    }

    fn push(&mut self, payload_type: u8, marker: bool, timestamp: u32, payload: Vec<u8>) {
        self.packets.push(RtpPacket {
            payload_type,
            marker,
            sequence: self.sequence,
            timestamp,
            ssrc: self.ssrc,
            payload,
            arrival: self.clock,
        });
        self.sequence = self.sequence.wrapping_add(1);
        self.clock += Duration::from_millis(20);
    }

    /// Appends 8 kHz audio as 20 ms packets (the last one padded with silence). The first
    /// packet after silence or an event carries the marker bit (RFC 3551 §4.1).
    pub fn audio(&mut self, samples: &[i16]) -> &mut Self {
        for chunk in samples.chunks(SAMPLES_PER_PACKET) {
            let mut payload: Vec<u8> = chunk.iter().map(|&s| self.law.encode(s)).collect();
            payload.resize(SAMPLES_PER_PACKET, self.law.silence());
            let marker = std::mem::take(&mut self.start_of_spurt);
            self.push(self.law.payload_type(), marker, self.timestamp, payload);
            self.timestamp = self.timestamp.wrapping_add(SAMPLES_PER_PACKET as u32);
        }
        self
    }

    /// Appends `ms` of digital silence (sent, as a phone without VAD does).
    pub fn silence(&mut self, ms: u32) -> &mut Self {
        let samples = vec![0i16; (ms * CLOCK_RATE / 1000) as usize];
        self.audio(&samples)
    }

    /// Appends one RFC 4733 event of `ms` duration: the first packet has the marker bit
    /// (§2.5.1.1), updates follow every 50 ms with a growing duration and the start
    /// timestamp (§2.5.1.2), and the end packet is sent three times (§2.5.1.4). Unknown
    /// digits are ignored.
    pub fn dtmf(&mut self, digit: char, ms: u32) -> &mut Self {
        let Some(event) = digit_event(digit) else {
            return self;
        };
        let start = self.timestamp;
        let total = (ms * CLOCK_RATE / 1000).min(u32::from(u16::MAX)) as u16;
        let volume = 10; // -10 dBm0
        let step = (50 * CLOCK_RATE / 1000) as u16;
        let mut first = true;
        // Updates every 50 ms of stream time, each reporting the duration so far.
        let clock_at_start = self.clock;
        let mut update: u32 = 0;
        loop {
            let duration = (u32::from(step) * (update + 1)).min(u32::from(total)) as u16;
            if duration >= total {
                break;
            }
            self.clock = clock_at_start + Duration::from_millis(50 * u64::from(update));
            let payload = vec![event, volume, (duration >> 8) as u8, duration as u8];
            self.push(self.event_pt, first, start, payload);
            first = false;
            update += 1;
        }
        for _ in 0..3 {
            self.clock = clock_at_start + Duration::from_millis(u64::from(total) / 8);
            self.push(
                self.event_pt,
                first,
                start,
                vec![event, 0x80 | volume, (total >> 8) as u8, total as u8],
            );
            first = false;
        }
        // The audio clock resumes after the event: timestamps advance by its duration.
        self.timestamp = start.wrapping_add(u32::from(total));
        self.clock = clock_at_start + Duration::from_millis(u64::from(total) / 8 + 20);
        self.start_of_spurt = true;
        self
    }

    /// The packets built so far.
    pub fn packets(&self) -> &[RtpPacket] {
        &self.packets
    }

    /// Stream time covered so far.
    pub fn duration(&self) -> Duration {
        match self.packets.first() {
            Some(first) => self.clock - first.arrival,
            None => Duration::ZERO,
        }
    }

    /// A pcap of the stream from `src` to `dst`. sipp rewrites the ports and addresses when
    /// replaying, so any loopback values do.
    pub fn to_pcap(&self, src: SocketAddrV4, dst: SocketAddrV4) -> PcapWriter {
        let mut writer = PcapWriter::new();
        let mut packets: Vec<&RtpPacket> = self.packets.iter().collect();
        // Capture order is time order (end retransmissions share a time).
        packets.sort_by_key(|p| p.arrival);
        for packet in packets {
            writer.push(&UdpDatagram {
                time: packet.arrival,
                src,
                dst,
                payload: packet.to_bytes(),
            });
        }
        writer
    }
}
