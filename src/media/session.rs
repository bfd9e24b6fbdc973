//! One call's media: sends paced RTP from an [`AudioSource`] (or silence), receives RTP through
//! the jitter buffer, detects DTMF (RFC 4733, or in-band when telephone-event was not
//! negotiated), reports with RTCP, and watches for media timeout.
//!
//! Sans-IO: fed datagrams and `now`, it returns datagrams to send ([`MediaSession::poll_transmit`]),
//! events ([`MediaSession::poll_event`]) and its next deadline ([`MediaSession::poll_timeout`]).
//! Must not touch sockets or signalling. The send path does not allocate: packets are built in
//! a buffer owned by the session and lent out by `poll_transmit`.
//!
//! Driver loop: on every datagram call `handle_rtp`/`handle_rtcp`; when `poll_timeout` passes
//! call `handle_timeout`; after either, drain `poll_transmit` and `poll_event`.
//!
//! Choices:
//! - Media is taken only from the peer: before latching, from the IP its SDP names (and, when
//!   the call allows it with [`MediaSession::accept_signalling_ip`], the IP its SIP came from,
//!   for a caller behind NAT). Symmetric RTP (RFC 4961 style): the first valid RTP packet with a
//!   negotiated payload type from such a source latches the send address and the caller's SSRC;
//!   after that only that address is heard, however long it is silent, until a new offer/answer
//!   (`set_remote`) clears the latch. Relatching to whoever spoke after a silence let a third
//!   host take a call's audio and inject its keys during a caller's pause.
//! - A packet from any other source is counted and dropped on an address compare, before any
//!   parsing: a flood from a third host costs one comparison per datagram.
//! - RTCP goes to the configured RTCP address until RTCP arrives from the peer's host, then to
//!   where it came from. RTCP from other hosts is dropped.
//! - Hold (`set_on_hold(true)`, the peer offered `sendonly` or `inactive`): we answer
//!   `recvonly`/`inactive`, so no RTP is sent and the source is not pulled (a prompt pauses);
//!   RTCP continues (RFC 3264 §5.1); the media timeout is suspended and restarts on resume.
//! - A telephone-event being sent replaces audio (RFC 4733 §2.5.1.1); the next audio packet
//!   carries the marker bit. Without telephone-event, `send_dtmf` plays in-band tones.
//! - Sending ptime is a multiple of 20 ms up to 60 ms; other values fall back to 20 ms.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use super::dtmf::{
    DtmfToneSource, InbandDtmfDetector, TelephoneEventReceiver, TelephoneEventSender,
};
use super::g711::Codec;
use super::jitter::{FRAME_SAMPLES, JitterBuffer, JitterConfig, Playout};
use super::pacer::SendSchedule;
use super::rtcp::{self, ReportBlock, SenderInfo};
use super::rtp::{RTP_HEADER_LEN, RtpHeader, RtpPacket, looks_like_rtcp};
use super::source::AudioSource;
use super::stats::{ReceiveStatistics, SequenceVerdict};
use crate::entropy::Entropy;

const CLOCK_RATE: u32 = 8000;
const FRAME: Duration = Duration::from_millis(20);
/// Largest payload we send: 60 ms of G.711.
const MAX_PAYLOAD: usize = 3 * FRAME_SAMPLES;
/// Comfort noise (RFC 3389) static payload type: counts as media activity, carries no audio.
const PT_COMFORT_NOISE: u8 = 13;
/// Session bandwidth of G.711 at 20 ms with IP/UDP/RTP headers, bytes/s; RTCP gets 5 %
/// (RFC 3550 §6.2).
const RTCP_BANDWIDTH: f64 = 10_000.0 * 0.05;
/// Overdue playout ticks beyond which the receive clock skips ahead instead of bursting.
const MAX_PLAYOUT_CATCH_UP: u32 = 10;
/// Spare decoded frames kept for reuse.
const FRAME_POOL: usize = 8;

/// Negotiated media parameters for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaConfig {
    /// The G.711 law to send and (by default) expect.
    pub codec: Codec,
    /// RTP payload type for `codec` (normally its static type).
    pub payload_type: u8,
    /// Payload type of `telephone-event/8000`, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// Sending packet time in milliseconds.
    pub ptime_ms: u32,
    /// Where to send RTP until symmetric latching finds the real source.
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP until the peer's RTCP arrives.
    pub remote_rtcp: SocketAddr,
    /// No RTP for this long (not on hold) raises [`MediaEvent::MediaTimeout`]. Default 30 s.
    pub media_timeout: Duration,
    /// Receive playout (jitter buffer) settings.
    pub jitter: JitterConfig,
}

impl MediaConfig {
    /// Defaults: static payload type, telephone-event 101, 20 ms, RTCP on the next port,
    /// 30 s media timeout.
    pub fn new(codec: Codec, remote_rtp: SocketAddr) -> Self {
        let mut remote_rtcp = remote_rtp;
        remote_rtcp.set_port(remote_rtp.port().wrapping_add(1));
        MediaConfig {
            codec,
            payload_type: codec.static_payload_type(),
            telephone_event_pt: Some(101),
            ptime_ms: 20,
            remote_rtp,
            remote_rtcp,
            media_timeout: Duration::from_secs(30),
            jitter: JitterConfig::default(),
        }
    }

    fn frames_per_packet(&self) -> usize {
        match self.ptime_ms {
            40 => 2,
            60 => 3,
            _ => 1,
        }
    }
}

/// What the session reports to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// A DTMF digit, from RFC 4733 or in-band detection.
    Dtmf(char),
    /// 20 ms of caller audio after the jitter buffer, for VAD/ASR. Hand it back with
    /// [`MediaSession::recycle_frame`] to avoid an allocation per frame.
    Frame(Box<[i16; 160]>),
    /// No RTP for the media timeout while not on hold. Raised once until RTP resumes.
    MediaTimeout,
    /// The source returned false: what was playing has finished.
    SourceFinished,
}

/// A datagram to send, lent from the session's buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct MediaTransmit<'a> {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The datagram.
    pub payload: &'a [u8],
    /// Whether it goes out on the RTCP port.
    pub is_rtcp: bool,
}

/// Per-call media statistics (RFC 3550 A.3/A.8 plus buffer counters).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MediaStats {
    /// Valid RTP packets accepted from the peer.
    pub packets_in: u64,
    /// RTP packets sent (audio and telephone-events).
    pub packets_out: u64,
    /// RTP payload octets received.
    pub bytes_in: u64,
    /// RTP payload octets sent.
    pub bytes_out: u64,
    /// Packets expected from sequence numbers (RFC 3550 A.3).
    pub expected: u64,
    /// Cumulative lost packets (may be negative with duplicates, RFC 3550 A.3); reports use
    /// [`MediaStats::lost_packets`].
    pub lost: i64,
    /// Lost / expected over the call, 0.0–1.0.
    pub fraction_lost: f64,
    /// Interarrival jitter (RFC 3550 A.8) in milliseconds.
    pub jitter_ms: f64,
    /// Duplicate packets dropped by the jitter buffer.
    pub duplicates: u64,
    /// Packets that arrived after their playout time.
    pub late: u64,
    /// Milliseconds of caller audio concealed.
    pub concealed_ms: u64,
    /// Datagrams that were not valid RTP/RTCP.
    pub invalid: u64,
    /// Datagrams from a source other than the peer (the latched address, or before latching
    /// the SDP or signalling IP), dropped unparsed.
    pub rejected_source: u64,
    /// Send slots skipped because the driver woke very late.
    pub skipped_slots: u64,
    /// DTMF digits received (either path).
    pub dtmf_in: u64,
    /// Round-trip time from RTCP, when the peer reports on us.
    pub rtt: Option<Duration>,
}

impl MediaStats {
    /// Lost packets as reported to people: never negative. RFC 3550 A.3 counts duplicates as
    /// received, so duplicated or wrapping RTP makes `lost` negative; that is not a gain.
    pub fn lost_packets(&self) -> u64 {
        u64::try_from(self.lost).unwrap_or(0)
    }
}

/// Media state of one call.
pub struct MediaSession {
    config: MediaConfig,
    schedule: SendSchedule,
    jitter: JitterBuffer,
    rx: Option<ReceiveStatistics>,
    /// Expected/lost from earlier SSRCs of this call.
    rx_prior: (u64, i64),
    te_rx: TelephoneEventReceiver,
    te_tx: TelephoneEventSender,
    inband_rx: InbandDtmfDetector,
    inband_tx: Option<DtmfToneSource>,
    source: Option<Box<dyn AudioSource + Send>>,
    talking: bool,
    marker_next: bool,
    latched: Option<(SocketAddr, u32)>,
    /// Where the peer's SIP came from, when its media may start from there (NAT).
    signalling_ip: Option<IpAddr>,
    last_rtp_at: Instant,
    rearm_timeout: bool,
    timed_out: bool,
    on_hold: bool,
    rtcp_destination: SocketAddr,
    rtcp_next: Instant,
    avg_rtcp_size: f64,
    last_sr: Option<(u32, Instant)>,
    cname: String,
    /// Where the SSRC, initial numbers, CNAME and RTCP interval randomisation come from.
    entropy: Entropy,
    /// A monotonic instant and the wall-clock time it corresponds to: RTCP NTP timestamps are
    /// derived from `now` through it, so the session never reads the OS clock.
    clock_anchor: (Instant, SystemTime),
    playout_start: Option<Instant>,
    playout_index: u64,
    events: VecDeque<MediaEvent>,
    // Boxes are kept (not arrays) because they are handed out as `MediaEvent::Frame` as-is.
    #[allow(clippy::vec_box)]
    frame_pool: Vec<Box<[i16; 160]>>,
    pcm: [i16; FRAME_SAMPLES],
    /// RMS level of the last audio packet sent (dBFS), for the echo guard.
    last_sent_dbfs: f32,
    tx: [u8; RTP_HEADER_LEN + MAX_PAYLOAD + 256],
    stats: MediaStats,
}

impl MediaSession {
    /// A session starting to send at `now`, which is the wall-clock time `wall`. The SSRC,
    /// initial sequence number and timestamp (RFC 3550 §5.1), the CNAME and the RTCP interval
    /// randomisation are drawn from `entropy`: the same seed and the same inputs give the same
    /// packets. `wall` anchors the NTP timestamps of sender reports (RFC 3550 §6.4.1).
    pub fn new(config: MediaConfig, mut entropy: Entropy, now: Instant, wall: SystemTime) -> Self {
        let ptime = FRAME * config.frames_per_packet() as u32;
        let schedule = SendSchedule::new(now, ptime, CLOCK_RATE, &mut entropy);
        // RFC 7022: a random CNAME per session, so calls are not linkable by it.
        let cname = format!("{:016x}@frontdoor", entropy.u64());
        let first_rtcp = now
            + rtcp::report_interval(
                2,
                1,
                RTCP_BANDWIDTH,
                true,
                100.0,
                true,
                rtcp_randomisation(&mut entropy),
            );
        MediaSession {
            config,
            schedule,
            jitter: JitterBuffer::new(config.jitter),
            rx: None,
            rx_prior: (0, 0),
            te_rx: TelephoneEventReceiver::new(),
            te_tx: TelephoneEventSender::new(),
            inband_rx: InbandDtmfDetector::new(),
            inband_tx: None,
            source: None,
            talking: false,
            marker_next: true,
            latched: None,
            signalling_ip: None,
            last_rtp_at: now,
            rearm_timeout: false,
            timed_out: false,
            on_hold: false,
            rtcp_destination: config.remote_rtcp,
            rtcp_next: first_rtcp,
            avg_rtcp_size: 100.0,
            last_sr: None,
            cname,
            entropy,
            // RTCP SRs carry NTP time (RFC 3550 §6.4.1); everything after is derived from `now`,
            // so virtual-time tests stay deterministic in RTT and reports.
            clock_anchor: (now, wall),
            playout_start: None,
            playout_index: 0,
            events: VecDeque::new(),
            frame_pool: Vec::new(),
            pcm: [0; FRAME_SAMPLES],
            last_sent_dbfs: super::echo::SILENCE_DBFS,
            tx: [0; RTP_HEADER_LEN + MAX_PAYLOAD + 256],
            stats: MediaStats::default(),
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.schedule.ssrc()
    }

    /// Where RTP goes now: the latched source, else the SDP address.
    pub fn rtp_destination(&self) -> SocketAddr {
        self.latched
            .map_or(self.config.remote_rtp, |(addr, _)| addr)
    }

    /// The negotiated parameters in force.
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// Also accept media that starts from `ip`, the address the peer's SIP came from (a
    /// caller behind NAT whose SDP names a private address).
    pub fn accept_signalling_ip(&mut self, ip: IpAddr) {
        self.signalling_ip = Some(ip);
    }

    /// Whether `ip` is the peer's host: its SDP addresses, or its signalling IP when allowed.
    fn is_peer_ip(&self, ip: IpAddr) -> bool {
        ip == self.config.remote_rtp.ip()
            || ip == self.config.remote_rtcp.ip()
            || self.signalling_ip == Some(ip)
    }

    /// Whether an RTP-port datagram from `source` may be looked at: the latched address once
    /// latched, else the peer's host.
    fn is_rtp_source(&self, source: SocketAddr) -> bool {
        match self.latched {
            Some((addr, _)) => addr == source,
            None => self.is_peer_ip(source.ip()),
        }
    }

    /// A datagram arrived on the RTP port.
    pub fn handle_rtp(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        // The address compare comes first: anything else costs a flood its parsing. RTCP muxed
        // onto the RTP port (RFC 5761) is held to the RTCP rule.
        let from_peer =
            self.is_rtp_source(source) || (looks_like_rtcp(data) && self.is_rtcp_source(source));
        if !from_peer {
            self.stats.rejected_source += 1;
            return;
        }
        if looks_like_rtcp(data) {
            // RFC 5761 demultiplexing: a peer that muxes RTCP onto the RTP port.
            self.handle_rtcp(now, source, data);
            return;
        }
        let Ok(packet) = RtpPacket::parse(data) else {
            self.stats.invalid += 1;
            return;
        };
        let h = packet.header;
        let te = self.config.telephone_event_pt == Some(h.payload_type);
        let codec = if h.payload_type == self.config.payload_type {
            Some(self.config.codec)
        } else {
            Codec::from_static_payload_type(h.payload_type)
        };
        if !te && codec.is_none() && h.payload_type != PT_COMFORT_NOISE {
            self.stats.invalid += 1;
            return;
        }
        if !self.accept_source(source, h.ssrc) {
            self.stats.rejected_source += 1;
            return;
        }
        self.last_rtp_at = now;
        self.timed_out = false;
        self.stats.packets_in += 1;
        self.stats.bytes_in += packet.payload.len() as u64;
        let rx = self
            .rx
            .get_or_insert_with(|| ReceiveStatistics::new(CLOCK_RATE, now));
        if rx.update(now, h.sequence, h.timestamp, packet.payload.len())
            == SequenceVerdict::Suspicious
        {
            return;
        }
        if te {
            if let Some(digit) = self.te_rx.receive(h.timestamp, packet.payload) {
                self.stats.dtmf_in += 1;
                self.events.push_back(MediaEvent::Dtmf(digit));
            }
        } else if let Some(codec) = codec {
            self.jitter
                .push(now, h.ssrc, h.sequence, h.timestamp, codec, packet.payload);
            if self.playout_start.is_none() {
                self.playout_start = Some(now);
                self.playout_index = 0;
            }
        }
    }

    /// Symmetric RTP latching; returns whether the packet is from the accepted source. Only a
    /// new offer/answer (`set_remote`) moves a latch.
    fn accept_source(&mut self, source: SocketAddr, ssrc: u32) -> bool {
        match self.latched {
            Some((addr, latched_ssrc)) if addr == source => {
                if latched_ssrc != ssrc {
                    self.new_remote_ssrc(source, ssrc);
                }
                true
            }
            Some(_) => false,
            None if self.is_peer_ip(source.ip()) => {
                self.new_remote_ssrc(source, ssrc);
                true
            }
            None => false,
        }
    }

    /// Whether RTCP from `source` is the peer's: its latched host, or before latching the peer's
    /// host.
    fn is_rtcp_source(&self, source: SocketAddr) -> bool {
        match self.latched {
            Some((addr, _)) => {
                addr.ip() == source.ip() || source.ip() == self.config.remote_rtcp.ip()
            }
            None => self.is_peer_ip(source.ip()),
        }
    }

    fn new_remote_ssrc(&mut self, source: SocketAddr, ssrc: u32) {
        if let Some(old) = self.rx.take() {
            self.rx_prior.0 += old.expected();
            self.rx_prior.1 += old.lost();
        }
        self.latched = Some((source, ssrc));
    }

    /// A datagram arrived on the RTCP port.
    pub fn handle_rtcp(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        // Only the peer's host may steer our RTCP (RFC 4961 symmetric RTCP): a third party could
        // otherwise redirect reports or fake RTT and loss.
        if !self.is_rtcp_source(source) {
            self.stats.rejected_source += 1;
            return;
        }
        let Ok(summary) = rtcp::parse_compound(data, self.ssrc()) else {
            self.stats.invalid += 1;
            return;
        };
        self.rtcp_destination = source;
        self.avg_rtcp_size = data.len() as f64 / 16.0 + self.avg_rtcp_size * 15.0 / 16.0;
        if let Some(info) = summary.sender_info {
            self.last_sr = Some((rtcp::ntp_middle(info.ntp), now));
        }
        if let Some(block) = summary.report_about_us {
            let arrival = rtcp::ntp_middle(self.ntp_at(now));
            if let Some(rtt) = rtcp::round_trip_time(arrival, &block) {
                self.stats.rtt = Some(rtt);
            }
        }
    }

    fn ntp_at(&self, now: Instant) -> u64 {
        let (anchor, wall) = self.clock_anchor;
        rtcp::ntp_timestamp(wall + now.saturating_duration_since(anchor))
    }

    /// Run timers: playout ticks (caller audio frames, in-band DTMF) and the media timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.rearm_timeout {
            self.rearm_timeout = false;
            self.last_rtp_at = self.last_rtp_at.max(now);
        }
        self.run_playout(now);
        if !self.on_hold
            && !self.timed_out
            && now.saturating_duration_since(self.last_rtp_at) >= self.config.media_timeout
        {
            self.timed_out = true;
            self.events.push_back(MediaEvent::MediaTimeout);
        }
    }

    fn playout_deadline(&self) -> Option<Instant> {
        self.playout_start
            .map(|s| s + FRAME * (self.playout_index as u32))
    }

    fn run_playout(&mut self, now: Instant) {
        let Some(start) = self.playout_start else {
            return;
        };
        let due = (now.saturating_duration_since(start).as_nanos() / FRAME.as_nanos()) as u64;
        if due >= self.playout_index + u64::from(MAX_PLAYOUT_CATCH_UP) {
            self.playout_index = due;
        }
        while self.playout_deadline().is_some_and(|d| d <= now) {
            self.playout_index += 1;
            let mut frame = self
                .frame_pool
                .pop()
                .unwrap_or_else(|| Box::new([0; FRAME_SAMPLES]));
            match self.jitter.pop(now, &mut frame) {
                Playout::Idle => {
                    self.playout_start = None;
                    self.recycle_frame(frame);
                    return;
                }
                Playout::Buffering => self.recycle_frame(frame),
                Playout::Audio | Playout::Concealed => {
                    let inband = self.config.telephone_event_pt.is_none();
                    if let Some(digit) =
                        inband.then(|| self.inband_rx.process(&frame[..])).flatten()
                    {
                        self.stats.dtmf_in += 1;
                        self.events.push_back(MediaEvent::Dtmf(digit));
                    }
                    self.events.push_back(MediaEvent::Frame(frame));
                }
            }
        }
    }

    /// RMS level (dBFS) of the last audio packet sent; [`super::echo::SILENCE_DBFS`] when it
    /// carried silence.
    pub fn last_sent_dbfs(&self) -> f32 {
        self.last_sent_dbfs
    }

    /// Give a frame from [`MediaEvent::Frame`] back for reuse.
    pub fn recycle_frame(&mut self, frame: Box<[i16; 160]>) {
        if self.frame_pool.len() < FRAME_POOL {
            self.frame_pool.push(frame);
        }
    }

    /// The next datagram to send, if one is due. Call until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<MediaTransmit<'_>> {
        if let Some(len) = self.next_event_packet(now) {
            return Some(self.lend(len, false));
        }
        while let Some(slot) = self.schedule.poll_due(now) {
            if self.on_hold || self.te_tx.is_active() {
                // Nothing is sent in this slot; the next audio starts a new talk-spurt.
                self.marker_next = true;
                self.talking = false;
                continue;
            }
            let len = self.build_audio_packet(slot.timestamp);
            return Some(self.lend(len, false));
        }
        if now >= self.rtcp_next {
            let len = self.build_rtcp(now);
            if len > 0 {
                return Some(self.lend(len, true));
            }
        }
        None
    }

    fn lend(&self, len: usize, is_rtcp: bool) -> MediaTransmit<'_> {
        let destination = if is_rtcp {
            self.rtcp_destination
        } else {
            self.rtp_destination()
        };
        MediaTransmit {
            destination,
            payload: &self.tx[..len],
            is_rtcp,
        }
    }

    fn next_event_packet(&mut self, now: Instant) -> Option<usize> {
        let pt = self.config.telephone_event_pt?;
        if self.on_hold {
            return None;
        }
        let p = self
            .te_tx
            .poll_packet(now, self.schedule.timestamp_at(now))?;
        let header = RtpHeader {
            marker: p.marker,
            payload_type: pt,
            sequence: self.schedule.next_sequence(),
            timestamp: p.timestamp,
            ssrc: self.ssrc(),
        };
        let n = header.write(&mut self.tx).ok()?;
        let bytes = p.event.to_bytes();
        self.tx[n..n + bytes.len()].copy_from_slice(&bytes);
        self.count_out(bytes.len());
        Some(n + bytes.len())
    }

    fn build_audio_packet(&mut self, timestamp: u32) -> usize {
        let frames = self.config.frames_per_packet();
        let codec = self.config.codec;
        let mut has_audio = false;
        self.last_sent_dbfs = super::echo::SILENCE_DBFS;
        for f in 0..frames {
            let audio = self.pull_frame();
            has_audio |= audio;
            let at = RTP_HEADER_LEN + f * FRAME_SAMPLES;
            let out = &mut self.tx[at..at + FRAME_SAMPLES];
            if audio {
                self.last_sent_dbfs = self.last_sent_dbfs.max(super::echo::frame_dbfs(&self.pcm));
                codec.encode_into(&self.pcm, out);
            } else {
                out.fill(codec.silence_code());
            }
        }
        // RFC 3551 §4.1: marker on the first packet of a talk-spurt (start of the stream, start of
        // a prompt after silence, after hold or a telephone-event).
        let marker = self.marker_next || (has_audio && !self.talking);
        self.marker_next = false;
        self.talking = has_audio;
        let header = RtpHeader {
            marker,
            payload_type: self.config.payload_type,
            sequence: self.schedule.next_sequence(),
            timestamp,
            ssrc: self.ssrc(),
        };
        // The buffer always holds a header (invariant: tx is larger than RTP_HEADER_LEN).
        let _ = header.write(&mut self.tx);
        let payload = frames * FRAME_SAMPLES;
        self.count_out(payload);
        RTP_HEADER_LEN + payload
    }

    /// One frame of outgoing audio into `self.pcm`; false for silence.
    fn pull_frame(&mut self) -> bool {
        let mut frame = [0i16; FRAME_SAMPLES];
        if let Some(tones) = self.inband_tx.as_mut() {
            if tones.next_frame(&mut frame) {
                self.pcm = frame;
                return true;
            }
            self.inband_tx = None;
        }
        let Some(source) = self.source.as_mut() else {
            return false;
        };
        if source.next_frame(&mut frame) {
            self.pcm = frame;
            true
        } else {
            self.source = None;
            self.events.push_back(MediaEvent::SourceFinished);
            false
        }
    }

    fn count_out(&mut self, payload_len: usize) {
        self.stats.packets_out += 1;
        self.stats.bytes_out += payload_len as u64;
    }

    fn build_rtcp(&mut self, now: Instant) -> usize {
        let sent = self.stats.packets_out > 0;
        let sender = SenderInfo {
            ntp: self.ntp_at(now),
            rtp_timestamp: self.schedule.timestamp_at(now),
            // RFC 3550 §6.4.1: the counts wrap at 32 bits.
            packet_count: self.stats.packets_out as u32,
            octet_count: self.stats.bytes_out as u32,
        };
        let block = match (self.rx.as_mut(), self.latched) {
            (Some(rx), Some((_, ssrc))) if rx.has_data() => {
                let r = rx.take_report();
                let (last_sr, delay_since_last_sr) = match self.last_sr {
                    Some((lsr, at)) => {
                        let d = now.saturating_duration_since(at);
                        (
                            lsr,
                            (d.as_micros() * 65_536 / 1_000_000).min(u128::from(u32::MAX)) as u32,
                        )
                    }
                    None => (0, 0),
                };
                Some(ReportBlock {
                    ssrc,
                    fraction_lost: r.fraction_lost,
                    cumulative_lost: r.cumulative_lost,
                    extended_highest_sequence: r.extended_highest_sequence,
                    jitter: r.jitter,
                    last_sr,
                    delay_since_last_sr,
                })
            }
            _ => None,
        };
        let ssrc = self.ssrc();
        let len = rtcp::write_compound(
            &mut self.tx,
            ssrc,
            sent.then_some(&sender),
            block.as_ref(),
            &self.cname,
        )
        .unwrap_or(0);
        self.avg_rtcp_size = (len + 28) as f64 / 16.0 + self.avg_rtcp_size * 15.0 / 16.0;
        let senders = 1 + u32::from(self.rx.is_some());
        let random = rtcp_randomisation(&mut self.entropy);
        self.rtcp_next = now
            + rtcp::report_interval(
                2,
                senders,
                RTCP_BANDWIDTH,
                sent,
                self.avg_rtcp_size,
                false,
                random,
            );
        len
    }

    /// The next events. Call until `None`.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which `handle_timeout`/`poll_transmit` has work.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self.schedule.poll_timeout().min(self.rtcp_next);
        if let Some(d) = self.te_tx.poll_timeout() {
            t = t.min(d);
        }
        if let Some(d) = self.playout_deadline() {
            t = t.min(d);
        }
        if !self.on_hold && !self.timed_out {
            t = t.min(self.last_rtp_at + self.config.media_timeout);
        }
        t
    }

    /// What to send: `None` sends silence packets (keeps NAT bindings and PBX streams alive).
    /// Replacing a source does not raise `SourceFinished` for the old one.
    pub fn set_source(&mut self, source: Option<Box<dyn AudioSource + Send>>) {
        self.source = source;
    }

    /// Whether a source is set and not yet finished.
    pub fn is_playing(&self) -> bool {
        self.source.is_some()
    }

    /// Send a digit: RFC 4733 when negotiated, else in-band tones (−10 dBFS per tone).
    pub fn send_dtmf(&mut self, digit: char, duration: Duration) {
        if self.config.telephone_event_pt.is_some() {
            // Starts at the next poll; the sender keeps its own inter-digit gap.
            self.te_tx
                .queue(self.schedule.poll_timeout(), digit, duration);
        } else {
            let mut tones = self
                .inband_tx
                .take()
                .unwrap_or_else(|| DtmfToneSource::new("", Duration::ZERO, Duration::ZERO, 0.0));
            tones.append(&DtmfToneSource::new(
                &digit.to_string(),
                duration,
                Duration::from_millis(60),
                -10.0,
            ));
            self.inband_tx = Some(tones);
        }
    }

    /// New remote addresses from a re-INVITE/UPDATE: latching starts again.
    pub fn set_remote(&mut self, rtp: SocketAddr, rtcp: SocketAddr) {
        self.config.remote_rtp = rtp;
        self.config.remote_rtcp = rtcp;
        self.rtcp_destination = rtcp;
        self.latched = None;
    }

    /// The peer put us on hold (`sendonly`/`inactive`) or resumed.
    pub fn set_on_hold(&mut self, held: bool) {
        if self.on_hold && !held {
            self.rearm_timeout = true;
            self.timed_out = false;
        }
        self.on_hold = held;
    }

    /// A renegotiated codec or telephone-event payload type.
    pub fn update_codec(&mut self, codec: Codec, payload_type: u8, telephone_event_pt: Option<u8>) {
        self.config.codec = codec;
        self.config.payload_type = payload_type;
        self.config.telephone_event_pt = telephone_event_pt;
    }

    /// Statistics so far.
    pub fn stats(&self) -> MediaStats {
        let mut s = self.stats;
        let (mut expected, mut lost) = self.rx_prior;
        if let Some(rx) = &self.rx {
            expected += rx.expected();
            lost += rx.lost();
            s.jitter_ms = rx.jitter_duration().as_secs_f64() * 1000.0;
        }
        s.expected = expected;
        s.lost = lost;
        s.fraction_lost = if expected == 0 {
            0.0
        } else {
            (lost.max(0) as f64 / expected as f64).min(1.0)
        };
        let j = self.jitter.stats();
        s.duplicates = j.duplicates;
        s.late = j.late;
        s.concealed_ms = j.concealed_chunks * 10;
        s.skipped_slots = self.schedule.skipped();
        s
    }
}

/// The factor, uniform in [0.5, 1.5), that spreads RTCP reports over time (RFC 3550 §6.3.1): the
/// top 53 bits of a draw as the fraction of an `f64`, as `rand` makes a uniform float.
fn rtcp_randomisation(entropy: &mut Entropy) -> f64 {
    const FRACTION_BITS: u32 = f64::MANTISSA_DIGITS;
    let fraction = (entropy.u64() >> (64 - FRACTION_BITS)) as f64 / (1u64 << FRACTION_BITS) as f64;
    0.5 + fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed wall-clock time for the NTP anchor (November 2023).
    fn wall() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// A session with a fixed seed and wall clock.
    fn session(config: MediaConfig, t0: Instant) -> MediaSession {
        MediaSession::new(config, Entropy::seeded(1), t0, wall())
    }

    fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    fn rtp(seq: u16, pt: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0xFFu8; 12 + len];
        let h = RtpHeader {
            marker: false,
            payload_type: pt,
            sequence: seq,
            timestamp: u32::from(seq) * 160,
            ssrc: 9,
        };
        h.write(&mut v).unwrap();
        v
    }

    #[test]
    fn invalid_and_foreign_packets_are_counted_not_fatal() {
        let t0 = Instant::now();
        let mut s = session(
            MediaConfig::new(Codec::Pcmu, addr([127, 0, 0, 1], 4000)),
            t0,
        );
        s.handle_rtp(t0, addr([127, 0, 0, 1], 4000), &[1, 2, 3]);
        s.handle_rtp(t0, addr([127, 0, 0, 1], 4000), &rtp(1, 96, 160)); // not negotiated
        s.handle_rtcp(t0, addr([127, 0, 0, 1], 4001), &[0x80, 200, 0, 40]);
        assert_eq!(s.stats().invalid, 3);
        assert_eq!(s.stats().packets_in, 0);
        s.handle_rtcp(
            t0,
            addr([127, 0, 0, 2], 4001),
            &[0x80, 201, 0, 1, 0, 0, 0, 1],
        );
        assert_eq!(s.stats().rejected_source, 1);
        s.handle_rtp(t0, addr([127, 0, 0, 1], 4000), &rtp(2, 13, 1)); // comfort noise: activity
        assert_eq!(s.stats().packets_in, 1);
    }

    fn rtp_from(ssrc: u32, seq: u16, pt: u8) -> Vec<u8> {
        let mut v = rtp(seq, pt, 160);
        v[8..12].copy_from_slice(&ssrc.to_be_bytes());
        v
    }

    #[test]
    fn media_from_a_third_host_is_dropped_before_and_after_latching() {
        let t0 = Instant::now();
        let sdp = addr([127, 0, 0, 1], 4000);
        let mut s = session(MediaConfig::new(Codec::Pcmu, sdp), t0);
        // Before any caller packet: a third host cannot latch, even first.
        s.handle_rtp(t0, addr([127, 0, 0, 2], 4000), &rtp_from(66, 1, 0));
        assert_eq!(s.stats().rejected_source, 1);
        assert_eq!(s.rtp_destination(), sdp);
        // Its RFC 4733 keys are dropped too.
        let mut key = rtp_from(66, 2, 101);
        key.truncate(12);
        key.extend_from_slice(&[9, 0x80, 0, 160]);
        s.handle_rtp(t0, addr([127, 0, 0, 2], 4000), &key);
        assert!(s.poll_event().is_none());
        // The caller's host latches (any port: NAT may move it).
        let caller = addr([127, 0, 0, 1], 5000);
        s.handle_rtp(t0, caller, &rtp_from(9, 1, 0));
        assert_eq!(s.rtp_destination(), caller);
        assert_eq!(s.stats().packets_in, 1);
    }

    #[test]
    fn a_latch_survives_silence_and_moves_only_with_a_new_offer() {
        let t0 = Instant::now();
        let mut s = session(
            MediaConfig::new(Codec::Pcmu, addr([127, 0, 0, 1], 4000)),
            t0,
        );
        let caller = addr([127, 0, 0, 1], 4000);
        s.handle_rtp(t0, caller, &rtp_from(9, 1, 0));
        // The caller is silent for 5 s; another port, and another host, speak.
        let later = t0 + Duration::from_secs(5);
        s.handle_rtp(later, addr([127, 0, 0, 1], 6000), &rtp_from(7, 1, 0));
        s.handle_rtp(later, addr([127, 0, 0, 3], 4000), &rtp_from(7, 2, 0));
        assert_eq!(s.rtp_destination(), caller, "no relatch after silence");
        assert_eq!(s.stats().rejected_source, 2);
        // A new offer/answer names a new address: latching starts again, from there.
        let moved = addr([127, 0, 0, 4], 7000);
        s.set_remote(moved, addr([127, 0, 0, 4], 7001));
        assert_eq!(s.rtp_destination(), moved);
        s.handle_rtp(later, caller, &rtp_from(9, 2, 0));
        assert_eq!(
            s.rtp_destination(),
            moved,
            "the old host is not the peer any more"
        );
        s.handle_rtp(later, addr([127, 0, 0, 4], 7002), &rtp_from(9, 3, 0));
        assert_eq!(s.rtp_destination(), addr([127, 0, 0, 4], 7002));
    }

    #[test]
    fn the_signalling_ip_is_accepted_only_when_allowed() {
        let t0 = Instant::now();
        // SDP names a private address the caller's NAT hides; RTP comes from its public IP.
        let config = MediaConfig::new(Codec::Pcmu, addr([10, 0, 0, 5], 4000));
        let public = addr([203, 0, 113, 7], 31000);
        let mut strict = session(config, t0);
        strict.handle_rtp(t0, public, &rtp_from(9, 1, 0));
        assert_eq!(strict.stats().packets_in, 0);
        let mut nat = session(config, t0);
        nat.accept_signalling_ip(public.ip());
        nat.handle_rtp(t0, public, &rtp_from(9, 1, 0));
        assert_eq!(nat.stats().packets_in, 1);
        assert_eq!(nat.rtp_destination(), public);
    }

    #[test]
    fn duplicates_never_report_negative_loss() {
        let t0 = Instant::now();
        let peer = addr([127, 0, 0, 1], 4000);
        let mut s = session(MediaConfig::new(Codec::Pcmu, peer), t0);
        for seq in [1u16, 2, 2, 3] {
            s.handle_rtp(t0, peer, &rtp_from(9, seq, 0));
        }
        let stats = s.stats();
        assert_eq!(stats.lost, -1, "RFC 3550 A.3 arithmetic");
        assert_eq!(stats.lost_packets(), 0);
        assert_eq!(stats.fraction_lost, 0.0);
    }

    #[test]
    fn ptime_40_sends_two_frames_per_packet_every_40_ms() {
        let t0 = Instant::now();
        let config = MediaConfig {
            ptime_ms: 40,
            ..MediaConfig::new(Codec::Pcma, addr([127, 0, 0, 1], 4000))
        };
        let mut s = session(config, t0);
        let first = s.poll_transmit(t0).map(|t| t.payload.len());
        assert_eq!(first, Some(12 + 320));
        assert!(s.poll_transmit(t0 + Duration::from_millis(39)).is_none());
        assert!(s.poll_transmit(t0 + Duration::from_millis(40)).is_some());
    }

    #[test]
    fn codec_update_switches_encoding_and_dtmf_path() {
        let t0 = Instant::now();
        let mut s = session(
            MediaConfig::new(Codec::Pcmu, addr([127, 0, 0, 1], 4000)),
            t0,
        );
        let p = s
            .poll_transmit(t0)
            .map(|t| (t.payload[1] & 0x7F, t.payload[12]));
        assert_eq!(p, Some((0, 0xFF)));
        s.update_codec(Codec::Pcma, 8, None);
        let p = s
            .poll_transmit(t0 + FRAME)
            .map(|t| (t.payload[1] & 0x7F, t.payload[12]));
        assert_eq!(p, Some((8, 0xD5)));
        // Without telephone-event, a digit goes out in band: audio packets, never PT 101.
        s.send_dtmf('5', Duration::from_millis(80));
        let mut now = t0 + FRAME * 2;
        for _ in 0..4 {
            let t = s
                .poll_transmit(now)
                .map(|t| (t.payload[1] & 0x7F, t.payload[12 + 5]));
            assert!(matches!(t, Some((8, code)) if code != 0xD5), "{t:?}");
            now += FRAME;
        }
    }

    #[test]
    fn telephone_event_replaces_audio_and_marks_the_return() {
        let t0 = Instant::now();
        let mut s = session(
            MediaConfig::new(Codec::Pcmu, addr([127, 0, 0, 1], 4000)),
            t0,
        );
        let mut seen = Vec::new();
        s.send_dtmf('1', Duration::from_millis(100));
        let mut now = t0;
        while now < t0 + Duration::from_millis(400) {
            while let Some(t) = s.poll_transmit(now) {
                if !t.is_rtcp {
                    let p = RtpPacket::parse(t.payload).unwrap();
                    seen.push((p.header.payload_type, p.header.marker, p.header.sequence));
                }
            }
            now += Duration::from_millis(5);
        }
        let events: Vec<_> = seen.iter().filter(|p| p.0 == 101).collect();
        assert_eq!(
            events.len(),
            2 + 3,
            "start, update at 50 ms, 3 ends at 100 ms"
        );
        let first_audio_after = seen
            .iter()
            .skip_while(|p| p.0 != 101)
            .find(|p| p.0 == 0)
            .unwrap();
        assert!(first_audio_after.1, "marker after the event");
        // One sequence space, no gaps.
        for w in seen.windows(2) {
            assert_eq!(w[1].2, w[0].2.wrapping_add(1));
        }
    }

    /// A datagram a session sent, kept for comparison.
    #[derive(Debug, PartialEq)]
    struct Sent {
        destination: SocketAddr,
        payload: Vec<u8>,
        is_rtcp: bool,
    }

    /// Runs a session for 12 s of virtual time: the peer sends audio every 20 ms and an SR at
    /// 3 s, a digit is sent at 1 s. Returns every datagram sent and every event, in order.
    fn replay(seed: u64, t0: Instant) -> (Vec<Sent>, Vec<MediaEvent>) {
        let peer = addr([127, 0, 0, 1], 4000);
        let mut s = MediaSession::new(
            MediaConfig::new(Codec::Pcmu, peer),
            Entropy::seeded(seed),
            t0,
            wall(),
        );
        let mut sent = Vec::new();
        let mut events = Vec::new();
        let step = Duration::from_millis(5);
        for tick in 0..2400u32 {
            let now = t0 + step * tick;
            if tick % 4 == 0 {
                let seq = (tick / 4) as u16;
                s.handle_rtp(now, peer, &rtp_from(9, seq, 0));
            }
            if tick == 200 {
                s.send_dtmf('7', Duration::from_millis(100));
            }
            if tick == 600 {
                let mut sr = [0u8; 28];
                sr[..4].copy_from_slice(&[0x80, 200, 0, 6]);
                sr[4..8].copy_from_slice(&9u32.to_be_bytes());
                sr[8..16].copy_from_slice(&rtcp::ntp_timestamp(wall()).to_be_bytes());
                s.handle_rtcp(now, addr([127, 0, 0, 1], 4001), &sr);
            }
            if now >= s.poll_timeout() {
                s.handle_timeout(now);
            }
            while let Some(t) = s.poll_transmit(now) {
                sent.push(Sent {
                    destination: t.destination,
                    payload: t.payload.to_vec(),
                    is_rtcp: t.is_rtcp,
                });
            }
            while let Some(event) = s.poll_event() {
                events.push(event);
            }
        }
        (sent, events)
    }

    #[test]
    fn the_same_seed_and_inputs_give_byte_identical_packets() {
        let t0 = Instant::now();
        let (a, a_events) = replay(42, t0);
        let (b, b_events) = replay(42, t0);
        assert!(a.len() > 500, "{} datagrams", a.len());
        assert!(
            a.iter().filter(|p| p.is_rtcp).count() >= 2,
            "RTCP reports were sent"
        );
        assert!(
            a.iter().any(|p| !p.is_rtcp && p.payload[1] & 0x7F == 101),
            "a telephone-event was sent"
        );
        assert!(a == b, "same seed, same inputs: the same datagrams");
        assert_eq!(a_events, b_events);
        let (c, _) = replay(43, t0);
        assert_ne!(a, c);
    }

    #[test]
    fn different_seeds_give_different_ssrcs() {
        let t0 = Instant::now();
        let config = MediaConfig::new(Codec::Pcmu, addr([127, 0, 0, 1], 4000));
        let ssrcs: Vec<u32> = (0..8)
            .map(|seed| MediaSession::new(config, Entropy::seeded(seed), t0, wall()).ssrc())
            .collect();
        for (i, a) in ssrcs.iter().enumerate() {
            assert!(ssrcs[i + 1..].iter().all(|b| b != a), "{ssrcs:?}");
        }
        let again = MediaSession::new(config, Entropy::seeded(3), t0, wall());
        assert_eq!(again.ssrc(), ssrcs[3]);
    }
}
