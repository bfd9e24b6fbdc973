//! An in-memory caller made of the crate's own sans-IO parts: a [`UserAgent`] that places the
//! call (UAC) and a [`MediaSession`] for its RTP, following a script (dial, wait for the answer,
//! stream audio at 20 ms, press RFC 4733 keys, hang up at a time or when something happened),
//! and recording what it got back (SIP messages, user agent events, the decoded audio's level
//! and pitch per 20 ms frame, DTMF).
//!
//! It is a [`VirtualEndpoint`], so [`super::net::Pair`] runs it against anything else that is
//! one (Frontdoor's side in [`super::endpoint`], or a stand-in answerer) over the emulated
//! network, in virtual time. The media half, [`MediaLeg`], is shared with such stand-ins.
//! Besides its script, a rehearsal steers it as the call goes: [`VirtualCaller::play_now`],
//! [`VirtualCaller::press_keys`], [`VirtualCaller::hang_up_now`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::entropy::Entropy;
use crate::media::echo::frame_dbfs;
use crate::media::{AudioSource, Codec, MediaConfig, MediaEvent, MediaSession, MediaStats};
use crate::sip::message::SipMessage;
use crate::sip::method::Method;
use crate::sip::parse::parse_datagram;
use crate::sip::sdp::{self, Direction, LocalMedia, Negotiated, SdpError, SessionDescription};
use crate::sip::ua::{
    CallHandle, OutboundTarget, TerminationCause, Transport, UaConfig, UaError, UaEvent, UserAgent,
};

use super::net::{Datagram, VirtualEndpoint, sip_start_line};

/// Whether [`new_user_agent`] hands the user agent its `Entropy`, so that its tags, branches,
/// Call-IDs and initial CSeq numbers follow the seed and traces may compare SIP bytes run to
/// run. (A user agent drawing them from the operating system would make this false.)
pub const USER_AGENT_IS_SEEDED: bool = true;

/// The one place a rehearsal's user agent is built.
pub fn new_user_agent(config: UaConfig, entropy: Entropy) -> UserAgent {
    UserAgent::new(config, entropy)
}

/// The wall-clock time virtual calls pretend to start at (it only anchors RTCP NTP
/// timestamps, RFC 3550 §6.4.1): fixed, so reports are the same run after run.
pub fn wall_clock_at(start: Instant, now: Instant) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + (now - start)
}

/// The media configuration for an offer/answer outcome (what the call runtime does too).
pub fn media_config(n: &Negotiated) -> MediaConfig {
    let codec = match n.codec {
        sdp::Codec::Pcmu => Codec::Pcmu,
        sdp::Codec::Pcma => Codec::Pcma,
    };
    let mut config = MediaConfig::new(codec, n.remote_rtp);
    config.payload_type = n.payload_type;
    config.telephone_event_pt = n.telephone_event_pt;
    config.ptime_ms = n.ptime_ms;
    config.remote_rtcp = n.remote_rtcp;
    config
}

/// Samples per 20 ms frame at 8 kHz.
const FRAME_SAMPLES: usize = 160;
const SAMPLE_RATE: f32 = 8000.0;

/// A steady sine tone at a given RMS level.
#[derive(Debug, Clone)]
pub struct ToneSource {
    step: f32,
    amplitude: f32,
    phase: f32,
}

impl ToneSource {
    /// `hz` at `dbfs` RMS (as `crate::media::echo::frame_dbfs` measures it).
    pub fn new(hz: f32, dbfs: f32) -> Self {
        ToneSource {
            step: std::f32::consts::TAU * hz / SAMPLE_RATE,
            // A sine's RMS is its peak over √2.
            amplitude: 32768.0 * 10f32.powf(dbfs / 20.0) * std::f32::consts::SQRT_2,
            phase: 0.0,
        }
    }
}

impl AudioSource for ToneSource {
    fn next_frame(&mut self, out: &mut [i16; 160]) -> bool {
        for sample in out.iter_mut() {
            *sample = (self.amplitude * self.phase.sin()).clamp(-32768.0, 32767.0) as i16;
            self.phase = (self.phase + self.step) % std::f32::consts::TAU;
        }
        true
    }
}

/// Given 8 kHz samples, played once (the last frame padded with silence).
#[derive(Debug, Clone)]
pub struct SamplesSource {
    samples: Arc<[i16]>,
    position: usize,
}

impl SamplesSource {
    pub fn new(samples: Arc<[i16]>) -> Self {
        SamplesSource {
            samples,
            position: 0,
        }
    }
}

impl AudioSource for SamplesSource {
    fn next_frame(&mut self, out: &mut [i16; 160]) -> bool {
        let rest = self.samples.get(self.position..).unwrap_or_default();
        if rest.is_empty() {
            return false;
        }
        let n = rest.len().min(FRAME_SAMPLES);
        out[..n].copy_from_slice(&rest[..n]);
        out[n..].fill(0);
        self.position += n;
        true
    }
}

/// `ms` of a sustained vowel at 8 kHz (a 140 Hz fundamental with harmonics falling off as 1/k,
/// 20 ms fades): periodic at a speaking pitch and loud, so an endpointer takes it for speech
/// where a tone or noise would not be.
pub fn speech_like(ms: usize) -> Arc<[i16]> {
    let n = ms * 8;
    let fade = 160.0;
    (0..n)
        .map(|i| {
            let edge = (i as f32 / fade).min((n - i) as f32 / fade).min(1.0);
            (vowel_sample(i) * edge) as i16
        })
        .collect()
}

/// Sample `i` of the vowel, unfaded.
fn vowel_sample(i: usize) -> f32 {
    let t = i as f32 / SAMPLE_RATE;
    let wave: f32 = (1..=12)
        .map(|k| (std::f32::consts::TAU * 140.0 * k as f32 * t).sin() / k as f32)
        .sum();
    wave / 3.0 * 0.4 * 32767.0
}

/// Sustained vowels of any length up to `longest`, computed once (a rehearsal speaks many
/// utterances; the harmonics are the costly part).
#[derive(Debug, Clone)]
pub struct Vowels {
    unfaded: Arc<[f32]>,
}

impl Vowels {
    pub fn new(longest: Duration) -> Self {
        let n = usize::try_from(longest.as_millis()).unwrap_or(0) * 8;
        Vowels {
            unfaded: (0..n).map(vowel_sample).collect(),
        }
    }

    /// `ms` of the vowel (at most the longest), faded in and out like [`speech_like`].
    pub fn clip(&self, ms: usize) -> Arc<[i16]> {
        let n = (ms * 8).min(self.unfaded.len());
        let fade = 160.0;
        self.unfaded[..n]
            .iter()
            .enumerate()
            .map(|(i, s)| (s * (i as f32 / fade).min((n - i) as f32 / fade).min(1.0)) as i16)
            .collect()
    }
}

/// One 20 ms frame of received audio, after the jitter buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceivedFrame {
    /// Virtual time since the start of the run.
    pub at: Duration,
    /// RMS level.
    pub dbfs: f32,
    /// Pitch estimated from zero crossings (a steady tone reads within a few tens of Hz).
    pub crossing_hz: f32,
}

impl ReceivedFrame {
    fn measure(at: Duration, samples: &[i16; 160]) -> Self {
        let crossings = samples
            .windows(2)
            .filter(|w| (w[0] < 0) != (w[1] < 0))
            .count();
        ReceivedFrame {
            at,
            dbfs: frame_dbfs(samples),
            // Two crossings per cycle over 20 ms.
            crossing_hz: crossings as f32 * SAMPLE_RATE / (2.0 * FRAME_SAMPLES as f32),
        }
    }
}

/// What one side's media received.
#[derive(Debug, Clone, Default)]
pub struct ReceivedMedia {
    pub frames: Vec<ReceivedFrame>,
    /// Every decoded sample, in order (frames as played out, concealment included).
    pub samples: Vec<i16>,
    /// DTMF digits with the time they were reported.
    pub dtmf: Vec<(Duration, char)>,
    pub media_timeouts: Vec<Duration>,
    pub sources_finished: Vec<Duration>,
    /// The session's statistics when it stopped (or the last time they were taken).
    pub stats: Option<MediaStats>,
    /// Media datagrams that arrived while no session was running (before the answer, after
    /// the end).
    pub without_session: u64,
    /// Whether received audio is left unrecorded (`frames` and `samples` stay empty): a
    /// rehearsal for the designer tools never looks at it, and measuring every frame of a
    /// long call costs.
    pub skip_audio: bool,
}

impl ReceivedMedia {
    /// Frames at or above `dbfs`.
    pub fn frames_above(&self, dbfs: f32) -> usize {
        self.frames.iter().filter(|f| f.dbfs >= dbfs).count()
    }

    /// The DTMF digits, in order.
    pub fn digits(&self) -> String {
        self.dtmf.iter().map(|(_, d)| *d).collect()
    }

    /// Median pitch of the frames at or above `dbfs`; `None` when there are none.
    pub fn median_hz_above(&self, dbfs: f32) -> Option<f32> {
        let mut hz: Vec<f32> = self
            .frames
            .iter()
            .filter(|f| f.dbfs >= dbfs)
            .map(|f| f.crossing_hz)
            .collect();
        hz.sort_by(f32::total_cmp);
        hz.get(hz.len() / 2).copied()
    }
}

/// A media session and the addresses it lives on, as a virtual endpoint's media half.
pub struct MediaLeg {
    pub session: MediaSession,
    rtp: SocketAddr,
    rtcp: SocketAddr,
    /// Time zero of the run, for recording.
    start: Instant,
}

impl MediaLeg {
    /// A session starting at `now`, receiving on `rtp` (and RTCP on the next port).
    pub fn new(
        config: MediaConfig,
        entropy: Entropy,
        rtp: SocketAddr,
        start: Instant,
        now: Instant,
    ) -> Self {
        MediaLeg {
            session: MediaSession::new(config, entropy, now, wall_clock_at(start, now)),
            rtp,
            rtcp: rtcp_of(rtp),
            start,
        }
    }

    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
    ) {
        if to == self.rtcp {
            self.session.handle_rtcp(now, from, bytes);
        } else {
            self.session.handle_rtp(now, from, bytes);
        }
    }

    pub fn poll_transmit(&mut self, now: Instant) -> Option<Datagram> {
        let t = self.session.poll_transmit(now)?;
        Some(Datagram {
            from: if t.is_rtcp { self.rtcp } else { self.rtp },
            to: t.destination,
            bytes: t.payload.to_vec(),
        })
    }

    /// What to play: `None` sends silence.
    pub fn play(&mut self, audio: &CallerAudio) {
        let source: Option<Box<dyn AudioSource + Send>> = match audio {
            CallerAudio::Silence => None,
            CallerAudio::Tone { hz, dbfs } => Some(Box::new(ToneSource::new(*hz, *dbfs))),
            CallerAudio::Samples(samples) => Some(Box::new(SamplesSource::new(samples.clone()))),
        };
        self.session.set_source(source);
    }

    /// Moves the session's events into `record`.
    pub fn drain_events(&mut self, now: Instant, record: &mut ReceivedMedia) {
        let at = now - self.start;
        while let Some(event) = self.session.poll_event() {
            match event {
                MediaEvent::Frame(frame) => {
                    if !record.skip_audio {
                        record.frames.push(ReceivedFrame::measure(at, &frame));
                        record.samples.extend_from_slice(&frame[..]);
                    }
                    self.session.recycle_frame(frame);
                }
                MediaEvent::Dtmf(digit) => record.dtmf.push((at, digit)),
                MediaEvent::MediaTimeout => record.media_timeouts.push(at),
                MediaEvent::SourceFinished => record.sources_finished.push(at),
            }
        }
        record.stats = Some(self.session.stats());
    }
}

/// RTCP's address: the next port (RFC 3550 §11).
pub fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    let mut rtcp = rtp;
    rtcp.set_port(rtp.port().wrapping_add(1));
    rtcp
}

/// What the caller sends from a point of the script on.
#[derive(Debug, Clone)]
pub enum CallerAudio {
    /// Silence packets (what a muted phone sends).
    Silence,
    /// A steady tone.
    Tone { hz: f32, dbfs: f32 },
    /// These 8 kHz samples once, then silence.
    Samples(Arc<[i16]>),
}

/// When the caller hangs up.
pub enum Hangup {
    /// Never: the far end ends the call, or the rehearsal stops.
    Never,
    /// At this time since the start (before the answer: a CANCEL, RFC 3261 §9.1).
    At(Duration),
    /// This long after the answer.
    AfterAnswer(Duration),
    /// As soon as this holds for what the caller has recorded (checked after every input).
    When(Box<dyn Fn(&CallRecord) -> bool>),
}

/// What the caller does, and when.
pub struct CallerScript {
    /// When to send the INVITE, since the start.
    pub dial_at: Duration,
    /// What to send from which time after the answer on (silence before the first entry).
    pub audio: Vec<(Duration, CallerAudio)>,
    /// Keys to press: time after the answer, digit, how long it is held (RFC 4733 events).
    pub keys: Vec<(Duration, char, Duration)>,
    pub hangup: Hangup,
}

impl CallerScript {
    /// Dial at once, send silence, press nothing, never hang up.
    pub fn new() -> Self {
        CallerScript {
            dial_at: Duration::ZERO,
            audio: Vec::new(),
            keys: Vec::new(),
            hangup: Hangup::Never,
        }
    }

    pub fn dial_at(mut self, at: Duration) -> Self {
        self.dial_at = at;
        self
    }

    /// From `after_answer` on, send `audio`.
    pub fn audio_at(mut self, after_answer: Duration, audio: CallerAudio) -> Self {
        self.audio.push((after_answer, audio));
        self
    }

    /// Press `digits` one after another from `after_answer` on, each held `press` and then
    /// released for `gap`.
    pub fn keys_at(
        mut self,
        after_answer: Duration,
        digits: &str,
        press: Duration,
        gap: Duration,
    ) -> Self {
        let mut at = after_answer;
        for digit in digits.chars() {
            self.keys.push((at, digit, press));
            at += press + gap;
        }
        self
    }

    pub fn hangup(mut self, hangup: Hangup) -> Self {
        self.hangup = hangup;
        self
    }
}

impl Default for CallerScript {
    fn default() -> Self {
        Self::new()
    }
}

/// A SIP message the caller sent or received.
#[derive(Debug, Clone)]
pub struct SipRecord {
    /// Virtual time since the start of the run.
    pub at: Duration,
    pub start_line: String,
    /// The parsed message (`None` if the strict parser refused it).
    pub message: Option<SipMessage>,
}

impl SipRecord {
    pub fn of(at: Duration, bytes: &[u8]) -> Self {
        SipRecord {
            at,
            start_line: sip_start_line(bytes).unwrap_or_default(),
            message: parse_datagram(bytes).ok(),
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        self.message.as_ref().and_then(SipMessage::status_code)
    }

    /// The method a request carries, or the CSeq method a response answers.
    pub fn method(&self) -> Option<String> {
        use crate::sip::ua::message_ext::UaMessageExt;
        self.message.as_ref().map(UaMessageExt::method_name)
    }

    pub fn is_request(&self, method: &str) -> bool {
        self.status().is_none() && self.method().as_deref() == Some(method)
    }

    pub fn is_response(&self, status: u16, method: &str) -> bool {
        self.status() == Some(status) && self.method().as_deref() == Some(method)
    }
}

/// Everything one side of a call saw and did (the caller's, or a stand-in answerer's).
#[derive(Debug, Clone, Default)]
pub struct CallRecord {
    pub sip_sent: Vec<SipRecord>,
    pub sip_received: Vec<SipRecord>,
    /// The user agent's events, with their time.
    pub events: Vec<(Duration, UaEvent)>,
    pub dialled_at: Option<Duration>,
    pub dial_error: Option<UaError>,
    pub answered_at: Option<Duration>,
    /// The answer's SDP could not be used (the caller hangs up).
    pub answer_error: Option<SdpError>,
    pub hung_up_at: Option<Duration>,
    pub ended: Option<(Duration, TerminationCause)>,
    /// Our SSRC, once media started.
    pub ssrc: Option<u32>,
    pub media: ReceivedMedia,
}

impl CallRecord {
    /// Whether a response `status` to `method` arrived.
    pub fn received_response(&self, status: u16, method: &str) -> bool {
        self.sip_received
            .iter()
            .any(|r| r.is_response(status, method))
    }

    /// Whether we sent a `method` request.
    pub fn sent_request(&self, method: &str) -> bool {
        self.sip_sent.iter().any(|r| r.is_request(method))
    }
}

/// Name of the single outbound target the caller's user agent may dial.
const FAR_END: &str = "far-end";

/// Where the caller lives and whom it calls.
#[derive(Debug, Clone)]
pub struct CallerConfig {
    /// Our SIP address.
    pub sip: SocketAddr,
    /// Our RTP address (even port; RTCP on the next one).
    pub rtp: SocketAddr,
    /// Where the INVITE goes.
    pub far_end: SocketAddr,
    /// The Request-URI user: the number dialled.
    pub dialled: String,
    /// Seeds the caller's identifiers and media (SSRC, sequence numbers, SDP session id).
    pub seed: u64,
    /// Whether the caller's phone follows a REFER (RFC 3515): answers 202 and reports reaching
    /// the target with one NOTIFY (`SIP/2.0 200 OK`). The crate's user agent does not take
    /// REFER (it answers 405), which is what a phone that cannot be transferred does.
    pub follows_refer: bool,
}

impl CallerConfig {
    /// A caller at `sip` with RTP on port 20000 of the same host.
    pub fn new(sip: SocketAddr, far_end: SocketAddr, dialled: &str, seed: u64) -> Self {
        CallerConfig {
            sip,
            rtp: SocketAddr::new(sip.ip(), 20_000),
            far_end,
            dialled: dialled.to_string(),
            seed,
            follows_refer: false,
        }
    }
}

/// A scripted step, due at an instant.
#[derive(Debug, Clone)]
enum Action {
    Dial,
    Play(CallerAudio),
    Key(char, Duration),
    Hangup,
}

/// The caller endpoint.
pub struct VirtualCaller {
    config: CallerConfig,
    ua: UserAgent,
    local_media: LocalMedia,
    /// The media session's entropy, until the answer starts it.
    media_entropy: Option<Entropy>,
    media: Option<MediaLeg>,
    call: Option<CallHandle>,
    script: CallerScript,
    /// Steps not yet taken, in time order (ties in script order).
    pending: Vec<(Instant, Action)>,
    start: Instant,
    /// Datagrams the caller's phone itself sends (answers to a REFER it follows).
    outbox: std::collections::VecDeque<Datagram>,
    refers: u32,
    pub record: CallRecord,
}

impl VirtualCaller {
    /// A caller whose time zero is `start`.
    pub fn new(config: CallerConfig, script: CallerScript, start: Instant) -> Self {
        let mut entropy = Entropy::seeded(config.seed);
        // Fixed draw order: the user agent's stream, the media's, then the SDP session id.
        let ua_entropy = entropy.fork();
        let media_entropy = entropy.fork();
        let mut ua_config = UaConfig::new(config.sip);
        ua_config.outbound_targets = vec![OutboundTarget {
            name: FAR_END.into(),
            uri: format!("sip:{}@{}", config.dialled, config.far_end),
            username: None,
            password: None,
        }];
        let local_media = LocalMedia {
            addr: config.rtp.ip(),
            port: config.rtp.port(),
            session_id: entropy.u64() >> 1,
            session_version: 1,
        };
        let mut caller = VirtualCaller {
            ua: new_user_agent(ua_config, ua_entropy),
            local_media,
            media_entropy: Some(media_entropy),
            media: None,
            call: None,
            pending: Vec::new(),
            start,
            outbox: std::collections::VecDeque::new(),
            refers: 0,
            record: CallRecord::default(),
            config,
            script,
        };
        caller.schedule(start + caller.script.dial_at, Action::Dial);
        if let Hangup::At(at) = caller.script.hangup {
            caller.schedule(start + at, Action::Hangup);
        }
        caller
    }

    /// The user agent (for leak checks such as `held_state`).
    pub fn user_agent(&self) -> &UserAgent {
        &self.ua
    }

    /// Whether the call has ended (for whatever reason).
    pub fn has_ended(&self) -> bool {
        self.record.ended.is_some()
    }

    /// Whether media is flowing.
    pub fn media(&self) -> Option<&MediaLeg> {
        self.media.as_ref()
    }

    fn since_start(&self, now: Instant) -> Duration {
        now - self.start
    }

    /// From `now` on, send `audio` (once the call is answered).
    pub fn play_now(&mut self, now: Instant, audio: CallerAudio) {
        self.schedule(now, Action::Play(audio));
    }

    /// Sends `audio` at `at` (not before `now`'s steps).
    pub fn play_at(&mut self, at: Instant, audio: CallerAudio) {
        self.schedule(at, Action::Play(audio));
    }

    /// Presses `digits` one after another from `now` on, each held `press` and released for
    /// `gap`; returns when the last key is released.
    pub fn press_keys(
        &mut self,
        now: Instant,
        digits: &str,
        press: Duration,
        gap: Duration,
    ) -> Instant {
        let mut at = now;
        for digit in digits.chars() {
            self.schedule(at, Action::Key(digit, press));
            at += press + gap;
        }
        at
    }

    /// How many REFERs the caller's phone followed.
    pub fn refers_followed(&self) -> u32 {
        self.refers
    }

    /// Whether the caller's phone follows a REFER from now on (see [`CallerConfig`]).
    pub fn set_follows_refer(&mut self, follows: bool) {
        self.config.follows_refer = follows;
    }

    /// Hangs up at `now` (BYE, or CANCEL before the answer).
    pub fn hang_up_now(&mut self, now: Instant) {
        self.schedule(now, Action::Hangup);
    }

    /// Answers a REFER as a phone that follows it: 202, then a NOTIFY saying the target
    /// answered (RFC 3515 §2.4.4, §2.4.5), the subscription terminated. `None` when the REFER
    /// lacks a header the answer needs (it is then left unanswered, and times out).
    fn follow_refer(&mut self, now: Instant, from: SocketAddr, refer: &SipMessage) -> Option<()> {
        let headers = &refer.headers;
        let via = headers.get("Via")?;
        let from_h = headers.get("From")?;
        let to_h = headers.get("To")?;
        let call_id = headers.call_id().ok()?;
        let cseq = headers.cseq().ok()?;
        let contact = headers.contact().ok()??.uri;
        let ours = self.config.sip;
        self.refers += 1;
        let accepted = format!(
            "SIP/2.0 202 Accepted\r\nVia: {via}\r\nFrom: {from_h}\r\nTo: {to_h}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nContact: <sip:{ours}>\r\nContent-Length: 0\r\n\r\n"
        );
        let body = "SIP/2.0 200 OK\r\n";
        // The NOTIFY is a request of our side of the dialog: From is the REFER's To (our tag),
        // To its From (RFC 3261 §12.2.1.1); a CSeq above anything the INVITE used.
        let notify = format!(
            "NOTIFY {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {ours};branch=z9hG4bK-notify-{n}\r\nMax-Forwards: 70\r\nFrom: {to_h}\r\nTo: {from_h}\r\nCall-ID: {call_id}\r\nCSeq: {seq} NOTIFY\r\nContact: <sip:{ours}>\r\nEvent: refer\r\nSubscription-State: terminated;reason=noresource\r\nContent-Type: message/sipfrag;version=2.0\r\nContent-Length: {len}\r\n\r\n{body}",
            n = self.refers,
            seq = 2_000_000_000u32.saturating_add(self.refers),
            len = body.len(),
        );
        for bytes in [accepted, notify] {
            let record = SipRecord::of(self.since_start(now), bytes.as_bytes());
            self.record.sip_sent.push(record);
            self.outbox.push_back(Datagram {
                from: ours,
                to: from,
                bytes: bytes.into_bytes(),
            });
        }
        Some(())
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        // After every step already due at the same instant, so the script's order holds.
        let index = self.pending.partition_point(|(t, _)| *t <= at);
        self.pending.insert(index, (at, action));
    }

    fn run_due_actions(&mut self, now: Instant) {
        while self.pending.first().is_some_and(|(at, _)| *at <= now) {
            let (_, action) = self.pending.remove(0);
            match action {
                Action::Dial => self.dial(now),
                Action::Play(audio) => {
                    if let Some(media) = self.media.as_mut() {
                        media.play(&audio);
                    }
                }
                Action::Key(digit, press) => {
                    if let Some(media) = self.media.as_mut() {
                        media.session.send_dtmf(digit, press);
                    }
                }
                Action::Hangup => self.hang_up(now),
            }
        }
    }

    fn dial(&mut self, now: Instant) {
        let offer = sdp::build_offer(&self.local_media, Direction::SendRecv);
        self.record.dialled_at = Some(self.since_start(now));
        match self.ua.place_call(now, FAR_END, offer) {
            Ok(call) => self.call = Some(call),
            Err(e) => self.record.dial_error = Some(e),
        }
    }

    /// Ends our side: CANCEL before the answer, BYE after (the user agent chooses), and no
    /// more media from us.
    fn hang_up(&mut self, now: Instant) {
        let Some(call) = self.call else {
            return;
        };
        if self.record.ended.is_some() || self.record.hung_up_at.is_some() {
            return;
        }
        self.record.hung_up_at = Some(self.since_start(now));
        self.ua.hangup(now, call);
        self.stop_media(now);
    }

    fn stop_media(&mut self, now: Instant) {
        if let Some(mut media) = self.media.take() {
            media.drain_events(now, &mut self.record.media);
        }
    }

    fn answered(&mut self, now: Instant, sdp_answer: Option<String>) {
        self.record.answered_at = Some(self.since_start(now));
        let negotiated = sdp_answer
            .ok_or(SdpError::Missing("an answer in the 2xx"))
            .and_then(|text| SessionDescription::parse(&text))
            .and_then(|sd| sdp::parse_answer(&sd, &self.local_media));
        let negotiated = match negotiated {
            Ok(n) => n,
            Err(e) => {
                self.record.answer_error = Some(e);
                self.hang_up(now);
                return;
            }
        };
        let Some(entropy) = self.media_entropy.take() else {
            return;
        };
        let mut media = MediaLeg::new(
            media_config(&negotiated),
            entropy,
            self.config.rtp,
            self.start,
            now,
        );
        self.record.ssrc = Some(media.session.ssrc());
        // Nothing is played before the first audio step: silence packets.
        media.play(&CallerAudio::Silence);
        self.media = Some(media);
        let audio = std::mem::take(&mut self.script.audio);
        for (after, clip) in audio {
            self.schedule(now + after, Action::Play(clip));
        }
        let keys = std::mem::take(&mut self.script.keys);
        for (after, digit, press) in keys {
            self.schedule(now + after, Action::Key(digit, press));
        }
        if let Hangup::AfterAnswer(after) = self.script.hangup {
            self.schedule(now + after, Action::Hangup);
        }
        // Steps due at the answer itself apply before the first packet goes out.
        self.run_due_actions(now);
    }

    /// Handles what the user agent and the media reported, until neither has more.
    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.ua.poll_event() {
            self.record
                .events
                .push((self.since_start(now), event.clone()));
            match event {
                UaEvent::OutgoingAnswered { call, sdp } if Some(call) == self.call => {
                    self.answered(now, sdp);
                }
                UaEvent::Terminated { call, cause } if Some(call) == self.call => {
                    if self.record.ended.is_none() {
                        self.record.ended = Some((self.since_start(now), cause));
                    }
                    self.stop_media(now);
                }
                _ => {}
            }
        }
        if let Some(media) = self.media.as_mut() {
            media.drain_events(now, &mut self.record.media);
        }
        let hang_up_now = match &self.script.hangup {
            Hangup::When(condition) => condition(&self.record),
            _ => false,
        };
        if hang_up_now {
            self.hang_up(now);
        }
    }
}

impl VirtualEndpoint for VirtualCaller {
    fn owns(&self, addr: SocketAddr) -> bool {
        addr == self.config.sip || addr == self.config.rtp || addr == rtcp_of(self.config.rtp)
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if to == self.config.sip {
            self.record
                .sip_received
                .push(SipRecord::of(self.since_start(now), bytes));
            if self.config.follows_refer
                && let Ok(message) = parse_datagram(bytes)
            {
                if message.method() == Some(&Method::Refer) {
                    // A REFER missing what the answer needs goes unanswered (it then times out,
                    // as with a phone that drops it).
                    let _ = self.follow_refer(now, from, &message);
                    return;
                }
                // The 200 to our NOTIFY is for no transaction of the user agent's.
                if !message.is_request()
                    && message
                        .headers
                        .cseq()
                        .is_ok_and(|c| c.method == Method::Notify)
                {
                    return;
                }
            }
            self.ua.handle_datagram(now, Transport::Udp, from, bytes);
        } else if let Some(media) = self.media.as_mut() {
            media.handle_datagram(now, from, to, bytes);
        } else {
            self.record.media.without_session += 1;
        }
        self.process_events(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram> {
        if let Some(d) = self.outbox.pop_front() {
            return Some(d);
        }
        if let Some(t) = self.ua.poll_transmit() {
            self.record
                .sip_sent
                .push(SipRecord::of(self.since_start(now), &t.payload));
            return Some(Datagram {
                from: self.config.sip,
                to: t.destination,
                bytes: t.payload,
            });
        }
        self.media.as_mut()?.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ua.poll_timeout(),
            self.media.as_ref().map(|m| m.session.poll_timeout()),
            self.pending.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.run_due_actions(now);
        self.ua.handle_timeout(now);
        if let Some(media) = self.media.as_mut() {
            media.session.handle_timeout(now);
        }
        self.process_events(now);
    }
}
