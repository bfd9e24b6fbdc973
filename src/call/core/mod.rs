//! One answered call as a sans-IO core, like `sip::ua::UserAgent` and `media::MediaSession`:
//! fed [`Call::handle_input`] (a SIP event for its dialog, a datagram from one of its sockets,
//! the completion of something it asked for, the server closing, a timeout) and drained with
//! [`Call::poll_output`] (a datagram to send and from which socket, a SIP command, a request to
//! the outside world, and finally its next timeout). Every input carries the monotonic `now`
//! and the wall-clock time; the core never reads a clock, a socket or the OS's randomness.
//!
//! Owns: the caller's media session, the handler and the order of its events, what is playing
//! (prompts, the holding phrase, the closing message), listening (DTMF collection, endpointing
//! and recognition bookkeeping, the no-input timer), transfers and the advisor leg's media, how
//! the call ends and its record. Must not touch: sockets, tasks, the case store, the recogniser
//! pool or the synthesiser (the driver in `call::runtime` does what the core asks and feeds the
//! result back), SIP transactions (the user agent), flow semantics (the handler).
//!
//! Split by concern: [`answer`] (offer/answer decisions before the call is up), `play`,
//! `dtmf`, `listen` (speech), `transfer`, `case`, `hangup`.

pub mod answer;
mod case;
mod dtmf;
mod hangup;
mod listen;
mod play;
mod transfer;

pub(crate) use hangup::log_summary;
pub use hangup::{cause_of, record_text};
pub use listen::HOLDING_PROMPT;
pub use play::silence;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use self::hangup::Phase;
use self::listen::SpeechState;
use self::play::Playback;
use self::transfer::TransferState;
use super::shutdown::{CloseMode, ClosingSettings};
use super::signalling::SipCommand;
use super::speech::SpeechServices;
use crate::asr::{RecognitionResult, RecognizeOptions};
use crate::config::{MediaPolicy, MediaSource};
use crate::crm::{CaseUpdate, NewCase};
use crate::entropy::Entropy;
use crate::handler::{
    CallAction, CallEvent, CallHandler, CallInfo, ListenSpec, OpenCase, PlayItem,
};
use crate::handoff::QueueDirectory;
use crate::media::Codec as MediaCodec;
use crate::media::jitter::JitterConfig;
use crate::media::session::{MediaConfig, MediaSession};
use crate::pii::Pii;
use crate::prompts::library::PromptLibrary;
use crate::sip::sdp::{Codec as SdpCodec, LocalMedia, Negotiated};
use crate::sip::ua::{CallHandle, UaError, UaEvent};

/// What every call reads and never changes: shared by all calls through an `Arc`.
pub struct CallSettings {
    pub prompts: PromptLibrary,
    /// Recognition settings and whether recognisers are loaded (the driver submits the jobs).
    pub speech: Arc<SpeechServices>,
    /// Queues a `Transfer` action may name.
    pub queues: QueueDirectory,
    /// Where a call's media may come from and go to.
    pub media_policy: MediaPolicy,
    pub media_timeout: Duration,
    /// Address for SDP `c=`/`o=` of the advisor leg.
    pub advertised_ip: IpAddr,
    /// The closing message and how long a closing call waits for its BYE.
    pub closing: ClosingSettings,
    /// Whether a case store is configured (without one, cases fail at once).
    pub case_store: bool,
    /// Whether a synthesiser is configured (without one, text prompts are skipped).
    pub synthesis: bool,
}

/// Which of a call's sockets a datagram came in on or goes out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaSocket {
    Rtp,
    Rtcp,
    /// The advisor leg's sockets during a bridge.
    AdvisorRtp,
    AdvisorRtcp,
}

/// A recognition or language-detection job the core asked for.
pub type JobId = u64;

/// What the core is fed.
#[derive(Debug)]
pub enum Input<'a> {
    /// A SIP event for the call's dialog or its advisor leg.
    Sip(UaEvent),
    /// A datagram that arrived on one of the call's sockets.
    Datagram {
        socket: MediaSocket,
        source: SocketAddr,
        data: &'a [u8],
    },
    /// Something the core asked for is done.
    Done(Completion),
    /// The server is closing calls (fed on every tick while it is; repeats change nothing).
    Close(CloseMode),
    /// The SIP driver has gone: the call is over.
    DriverGone,
    /// The driver cannot poll the call's sockets: the call is hung up.
    MediaUnavailable,
    /// Time passed (the instant [`Call::poll_timeout`] named, or simply a tick).
    Timeout,
}

/// The answer to a [`Request`].
#[derive(Debug)]
pub enum Completion {
    /// [`Request::StoreCase`]: committed (reference) or failed (reason).
    CaseStored(Result<String, String>),
    /// [`Request::UpdateCase`]: committed (reference) or failed (reason).
    CaseUpdated(Result<String, String>),
    /// [`Request::FindOpenCases`]: empty on failure (the caller is treated as new).
    OpenCases(Vec<OpenCase>),
    /// [`Request::Synthesise`]: the clips of the `Play`, in order.
    Synthesised {
        generation: u64,
        clips: Vec<Arc<[i16]>>,
        barge_in: bool,
    },
    /// A [`Request::Recognise`] or [`Request::DetectLanguage`] was accepted by its pool;
    /// `queued`: it waits behind other jobs.
    JobStarted { job: JobId, queued: bool },
    /// The pool refused the job (its queue is past its limit).
    JobRefused { job: JobId, queue_depth: usize },
    /// The job's result.
    JobDone {
        job: JobId,
        result: RecognitionResult,
    },
    /// [`Request::OpenLegPorts`]: the advisor leg's RTP port, or why there is none.
    LegPorts(Result<u16, String>),
    /// [`Request::PlaceLeg`]: the SIP driver's handle for the advisor leg, or why it failed.
    LegPlaced(Result<CallHandle, UaError>),
}

/// Work the core asks the driver to do off the media path.
#[derive(Debug)]
pub enum Request {
    /// Store a case durably; answered with [`Completion::CaseStored`].
    StoreCase(NewCase),
    /// Update a returning caller's case; answered with [`Completion::CaseUpdated`].
    UpdateCase {
        reference: String,
        update: CaseUpdate,
    },
    /// Open cases on the caller's number; answered with [`Completion::OpenCases`].
    FindOpenCases { caller: Pii<String> },
    /// Resolve and synthesise `items` (espeak-ng is a subprocess: never on the media path);
    /// answered with [`Completion::Synthesised`].
    Synthesise {
        generation: u64,
        items: Vec<PlayItem>,
        slow: bool,
        barge_in: bool,
    },
    /// Recognise 16 kHz audio on the shared pool; answered with `JobStarted` or `JobRefused`
    /// at once, then `JobDone`. A job the core no longer awaits ([`Call::awaits`]) may be
    /// dropped (the pool then skips it if it has not started).
    Recognise {
        job: JobId,
        audio: Vec<f32>,
        options: RecognizeOptions,
    },
    /// Detect the language of 16 kHz audio; answered like [`Request::Recognise`].
    DetectLanguage { job: JobId, audio: Vec<f32> },
    /// Allocate RTP/RTCP ports for an advisor leg; answered with [`Completion::LegPorts`].
    OpenLegPorts,
    /// The advisor leg is over: its ports may be returned.
    CloseLegPorts,
    /// Call the outbound target `target` with our SDP offer; answered with
    /// [`Completion::LegPlaced`].
    PlaceLeg { target: String, sdp: String },
}

/// What the core gives the driver.
#[derive(Debug)]
pub enum Output<'a> {
    /// Send `payload` to `destination` from `socket`.
    Transmit {
        socket: MediaSocket,
        destination: SocketAddr,
        payload: &'a [u8],
    },
    /// A command for the SIP driver.
    Sip(SipCommand),
    /// Work for the driver (boxed: requests are rare, datagrams are not).
    Request(Box<Request>),
    /// Nothing more until this instant (or the next input).
    Timeout(Instant),
}

/// Largest datagram the core sends (G.711 at 60 ms ptime is 492 bytes; RTCP is smaller).
const TRANSMIT_BUFFER: usize = 1500;

/// How long we wait for the BYE transaction before giving up on a clean end.
const HANGUP_GRACE: Duration = Duration::from_secs(10);

/// What the caller is being asked for right now.
struct Listening {
    spec: ListenSpec,
    /// When the no-input timer fires; armed when the prompt finishes.
    no_input_at: Option<Instant>,
    digits: String,
    inter_digit_at: Option<Instant>,
    /// Endpointing and recognition, when the `ask` takes speech and speech is available.
    speech: Option<listen::SpeechListening>,
}

/// An answered call (see the module documentation).
pub struct Call {
    settings: Arc<CallSettings>,
    call: CallHandle,
    info: CallInfo,
    local: LocalMedia,
    last_sdp: String,
    media: MediaSession,
    handler: Box<dyn CallHandler>,
    /// Up, closing, hanging up or over, with the data each has.
    phase: Phase,
    playback: Playback,
    listening: Option<Listening>,
    /// Speech state that outlives one `ask` (endpointer, echo guard, last utterance, jobs).
    speech: SpeechState,
    transfer: TransferState,
    slow: bool,
    /// Bumped by every stop, so late synthesis results for a stopped `Play` are dropped.
    generation: u64,
    digits_heard: String,
    case_references: Vec<String>,
    answered_at: SystemTime,
    /// When the INVITE arrived.
    started: Instant,
    /// Wall-clock time of the latest input (the record's end time).
    wall: SystemTime,
    /// Monotonic time of the latest input (what transmits are generated against).
    now: Instant,
    /// Events waiting for the handler (see [`Call::raise`]).
    handler_events: VecDeque<CallEvent>,
    outputs: VecDeque<Output<'static>>,
    /// The datagram lent by the last [`Output::Transmit`].
    transmit: Box<[u8; TRANSMIT_BUFFER]>,
    /// An RTP packet was just handed out: note its level for the echo guard on the next poll.
    sent_rtp: bool,
    entropy: Entropy,
    next_job: JobId,
}

/// What a call needs to start.
pub struct CallStart {
    pub call: CallHandle,
    pub info: CallInfo,
    pub negotiated: Negotiated,
    pub local: LocalMedia,
    /// The SDP we last sent (re-offers without a body get it again, versioned).
    pub last_sdp: String,
    pub handler: Box<dyn CallHandler>,
    pub entropy: Entropy,
    /// When the INVITE arrived (the summary's duration counts from it).
    pub started: Instant,
}

impl Call {
    /// Starts the media of an answered call; its packet schedule is anchored at `now`. The
    /// handler hears `Answered` at once (its first actions come out of [`Call::poll_output`]).
    pub fn new(
        settings: Arc<CallSettings>,
        start: CallStart,
        now: Instant,
        wall: SystemTime,
    ) -> Call {
        let CallStart {
            call,
            info,
            negotiated,
            local,
            last_sdp,
            handler,
            mut entropy,
            started,
        } = start;
        // The media session draws its SSRC and sequence numbers from its own stream of the
        // call's entropy (RFC 3550 §5.1).
        let mut media = MediaSession::new(
            media_config(&negotiated, settings.media_timeout),
            entropy.fork(),
            now,
            wall,
        );
        media.set_on_hold(negotiated.remote_hold);
        if settings.media_policy.accept_from == MediaSource::SdpOrSignallingIp {
            media.accept_signalling_ip(info.source.ip());
        }
        let mut core = Call {
            settings,
            call,
            info,
            local,
            last_sdp,
            media,
            handler,
            phase: Phase::Up,
            playback: Playback::default(),
            listening: None,
            speech: SpeechState::default(),
            transfer: TransferState::None,
            slow: false,
            generation: 0,
            digits_heard: String::new(),
            case_references: Vec::new(),
            answered_at: wall,
            started,
            wall,
            now,
            handler_events: VecDeque::new(),
            outputs: VecDeque::new(),
            transmit: Box::new([0; TRANSMIT_BUFFER]),
            sent_rtp: false,
            entropy,
            next_job: 0,
        };
        core.raise(CallEvent::Answered);
        core.run_handler(now);
        core
    }

    /// The SIP Call-ID and what else the call knows of its caller.
    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    /// Whether the call is over; then [`Call::finish`] ends it.
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended { .. })
    }

    /// Whether the job is still wanted (the driver drops the others, cancelling them).
    pub fn awaits(&self, job: JobId) -> bool {
        self.speech.awaits(job)
            || self
                .listening
                .as_ref()
                .and_then(|l| l.speech.as_ref())
                .is_some_and(|s| s.awaits(job))
    }

    /// Feeds one input at monotonic `now` and wall-clock `wall`.
    pub fn handle_input(&mut self, now: Instant, wall: SystemTime, input: Input<'_>) {
        self.now = now;
        self.wall = wall;
        match input {
            Input::Datagram {
                socket,
                source,
                data,
            } => match socket {
                MediaSocket::Rtp => self.media.handle_rtp(now, source, data),
                MediaSocket::Rtcp => self.media.handle_rtcp(now, source, data),
                MediaSocket::AdvisorRtp | MediaSocket::AdvisorRtcp => {
                    if let TransferState::Bridging(leg) = &mut self.transfer {
                        leg.handle_datagram(now, socket == MediaSocket::AdvisorRtcp, source, data);
                    }
                }
            },
            Input::Sip(event) => self.on_sip_event(now, event),
            Input::Done(done) => self.on_completion(now, done),
            Input::Close(mode) => self.on_close(now, mode),
            Input::DriverGone => self.on_driver_gone(),
            Input::MediaUnavailable => self.hang_up(
                now,
                crate::handler::HangupCause::Error(crate::handler::CallFault::MediaPolling),
            ),
            Input::Timeout => self.on_timeout(now),
        }
        self.run_handler(now);
    }

    /// When [`Input::Timeout`] next has work: the media schedule, the call's own timers.
    pub fn poll_timeout(&self) -> Instant {
        let mut at = self.media.poll_timeout();
        let mut earliest = |t: Option<Instant>| {
            if let Some(t) = t {
                at = at.min(t);
            }
        };
        earliest(self.phase.deadline(self.grace()));
        earliest(self.transfer.poll_timeout());
        if let Some(l) = &self.listening {
            earliest(l.inter_digit_at);
            earliest(l.no_input_at);
        }
        earliest(self.speech_deadline());
        at
    }

    /// The next thing for the driver: queued commands and requests first, then the caller's
    /// (and the advisor leg's) datagrams due now, then [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output<'_> {
        let now = self.now;
        if std::mem::take(&mut self.sent_rtp) {
            let level = self.media.last_sent_dbfs();
            self.speech.echo.on_sent(now, level);
        }
        loop {
            if let Some(output) = self.outputs.pop_front() {
                return output;
            }
            // What the media session raised while sending (a prompt finished) is answered
            // before the next datagram.
            if let Some(event) = self.media.poll_event() {
                self.on_media_event(now, event);
                self.run_handler(now);
                continue;
            }
            break;
        }
        // Nothing more is sent once the dialog is gone.
        if self.is_ended() {
            return Output::Timeout(self.poll_timeout());
        }
        let (socket, destination, len) = match self.media.poll_transmit(now) {
            Some(t) => {
                let len = t.payload.len().min(TRANSMIT_BUFFER);
                self.transmit[..len].copy_from_slice(&t.payload[..len]);
                let socket = if t.is_rtcp {
                    MediaSocket::Rtcp
                } else {
                    MediaSocket::Rtp
                };
                (socket, t.destination, len)
            }
            None => match self.transfer.poll_transmit(now, &mut self.transmit[..]) {
                Some((socket, destination, len)) => (socket, destination, len),
                None => return Output::Timeout(self.poll_timeout()),
            },
        };
        self.sent_rtp = socket == MediaSocket::Rtp;
        Output::Transmit {
            socket,
            destination,
            payload: &self.transmit[..len],
        }
    }

    /// Ends the call: the handler hears `Hangup`, the summary line is logged, and the call
    /// record comes back for the store (None when no store is configured). Runs off the
    /// media clock (the handler's last event and the log write may block).
    pub fn finish(mut self) -> Option<crate::crm::CallRecord> {
        let cause = self.phase.cause();
        let _ = self
            .handler
            .on_event(&self.info, CallEvent::Hangup(cause.clone()));
        let record = self
            .settings
            .case_store
            .then(|| self.call_record(self.info.started_at, self.wall));
        hangup::log_summary(
            &self.info,
            self.now.saturating_duration_since(self.started),
            Some(self.media.stats()),
            &cause,
            &self.summary_extra(),
        );
        record
    }

    fn grace(&self) -> Duration {
        if self.phase.cause() == crate::handler::HangupCause::Shutdown {
            self.settings.closing.bye_wait
        } else {
            HANGUP_GRACE
        }
    }

    fn send_sip(&mut self, command: SipCommand) {
        self.outputs.push_back(Output::Sip(command));
    }

    fn request(&mut self, request: Request) {
        self.outputs.push_back(Output::Request(Box::new(request)));
    }

    /// Queues `event` for the handler. Events raised while the handler's actions are applied
    /// (a case that cannot be stored, a transfer refused) wait their turn behind the event
    /// being answered, so the handler never re-enters itself and hears events in the order
    /// they were raised.
    fn raise(&mut self, event: CallEvent) {
        if self.phase.tells_handler() {
            self.handler_events.push_back(event);
        }
    }

    /// Hands the queued events to the handler, in order, applying its actions as of `now`.
    /// Runs at the end of each input (and after each media event), never inside an action.
    fn run_handler(&mut self, now: Instant) {
        while let Some(event) = self.handler_events.pop_front() {
            if !self.phase.tells_handler() {
                self.handler_events.clear();
                return;
            }
            let answering = event.clone();
            for action in self.handler.on_event(&self.info, event) {
                self.apply(now, &answering, action);
            }
        }
    }

    /// Applies one action the handler took in answer to `answering`.
    fn apply(&mut self, now: Instant, answering: &CallEvent, action: CallAction) {
        match action {
            CallAction::Play { items, barge_in } => self.play(items, barge_in),
            CallAction::StopPlayback => self.stop_playback(),
            CallAction::Listen(spec) => {
                // A keys-only `Listen` answering `SpeechUnavailable` is not told again.
                let unavailable = *answering == CallEvent::SpeechUnavailable;
                self.listen(now, spec, unavailable);
            }
            CallAction::SetSlowSpeech(slow) => self.slow = slow,
            CallAction::SaveCase(draft) => match draft.update_of.clone() {
                Some(reference) => {
                    self.update_case(reference, crate::call::records::updated_fields(&draft))
                }
                None => self.create_case(draft),
            },
            CallAction::FindOpenCases => self.find_open_cases(),
            CallAction::DetectLanguage => self.detect_language(),
            CallAction::Transfer { queue, context } => self.start_transfer(now, &queue, &context),
            CallAction::Hangup => self.hang_up(now, crate::handler::HangupCause::Completed),
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.is_ended() {
            return;
        }
        self.poll_speech(now);
        self.run_handler(now);
        if self.media.poll_timeout() <= now {
            self.media.handle_timeout(now);
        }
        while let Some(event) = self.media.poll_event() {
            self.on_media_event(now, event);
            self.run_handler(now);
        }
        self.poll_leg(now);
        self.run_handler(now);
        self.check_timers(now);
    }

    fn on_media_event(&mut self, now: Instant, event: crate::media::session::MediaEvent) {
        use crate::media::session::MediaEvent;
        match event {
            MediaEvent::Dtmf(d) if self.transfer.caller_digit(d) => {}
            MediaEvent::Dtmf(d) => self.on_digit(now, d),
            MediaEvent::Frame(frame) => {
                if !self.transfer.caller_frame(&frame) && self.listening.is_some() {
                    self.on_caller_frame(now, &frame);
                }
                self.media.recycle_frame(frame);
            }
            MediaEvent::SourceFinished => self.on_source_finished(now),
            MediaEvent::MediaTimeout => {
                tracing::info!(call_id = %self.info.call_id, "no RTP within the media timeout: hanging up");
                self.hang_up(now, crate::handler::HangupCause::MediaTimeout);
            }
        }
    }

    fn check_timers(&mut self, now: Instant) {
        if self.phase.hang_up_expired(now, self.grace()) {
            return;
        }
        if self.phase.closing_expired(now) {
            // The closing message ran past its longest play (or the call is on hold and
            // never plays it): BYE now.
            self.hang_up(now, crate::handler::HangupCause::Shutdown);
            return;
        }
        self.check_transfer(now);
        self.check_listen_timers(now);
    }

    fn on_sip_event(&mut self, now: Instant, event: UaEvent) {
        let Some(event) = self.on_leg_event(now, event) else {
            return;
        };
        match event {
            UaEvent::Dtmf { digit, .. } => self.on_digit(now, digit),
            UaEvent::ReOffer { sdp: offer, .. } => self.on_reoffer(offer),
            UaEvent::ReferProgress { status, .. } => self.on_refer_progress(now, status),
            UaEvent::Terminated { cause, .. } => self.on_terminated(cause),
            _ => {}
        }
    }

    /// A re-INVITE or UPDATE (RFC 3311): hold, resume, new address or codec, or a session
    /// refresh. A bodyless one gets our current SDP as a new offer.
    fn on_reoffer(&mut self, offer: Option<String>) {
        let call = self.call;
        let Some(offer) = offer else {
            let sdp = self.last_sdp.clone();
            self.send_sip(SipCommand::AnswerReoffer(call, sdp));
            return;
        };
        match answer::answer_reoffer(
            &offer,
            &self.local,
            &self.settings.media_policy,
            self.info.source,
        ) {
            answer::Reoffer::Refused(reason) => {
                // The call goes on with the media it has (RFC 3261 §14.2: a refused re-offer
                // leaves the session unchanged).
                tracing::info!(call_id = %self.info.call_id, %reason, "re-offer refused: 488");
                self.send_sip(SipCommand::RejectReoffer(call, 488));
            }
            answer::Reoffer::Accepted(n) => {
                self.media.set_on_hold(n.remote_hold);
                self.media.set_remote(n.remote_rtp, n.remote_rtcp);
                self.media
                    .update_codec(media_codec(n.codec), n.payload_type, n.telephone_event_pt);
                let previous = self.last_sdp.clone();
                self.last_sdp = self
                    .local
                    .versioned(Some(&previous), |l| crate::sip::sdp::build_answer(&n, l));
                tracing::info!(call_id = %self.info.call_id, hold = n.remote_hold, "media renegotiated");
                let sdp = self.last_sdp.clone();
                self.send_sip(SipCommand::AnswerReoffer(call, sdp));
            }
            answer::Reoffer::Rejected(status) => {
                self.send_sip(SipCommand::RejectReoffer(call, status));
            }
        }
    }

    fn on_completion(&mut self, now: Instant, done: Completion) {
        match done {
            Completion::CaseStored(result) => self.on_case_stored(result),
            Completion::CaseUpdated(result) => self.on_case_updated(result),
            Completion::OpenCases(cases) => self.raise(CallEvent::OpenCases { cases }),
            Completion::Synthesised {
                generation,
                clips,
                barge_in,
            } => self.on_synthesised(generation, clips, barge_in),
            Completion::JobStarted { job, queued } => self.on_job_started(now, job, queued),
            Completion::JobRefused { job, queue_depth } => {
                self.on_job_refused(now, job, queue_depth)
            }
            Completion::JobDone { job, result } => self.on_job_done(now, job, result),
            Completion::LegPorts(result) => self.on_leg_ports(now, result),
            Completion::LegPlaced(result) => self.on_leg_placed(now, result),
        }
    }

    fn summary_extra(&self) -> String {
        if self.digits_heard.is_empty() {
            String::new()
        } else {
            format!(" (digits {})", self.digits_heard.len())
        }
    }
}

fn media_codec(c: SdpCodec) -> MediaCodec {
    match c {
        SdpCodec::Pcmu => MediaCodec::Pcmu,
        SdpCodec::Pcma => MediaCodec::Pcma,
    }
}

fn media_config(n: &Negotiated, timeout: Duration) -> MediaConfig {
    MediaConfig {
        codec: media_codec(n.codec),
        payload_type: n.payload_type,
        telephone_event_pt: n.telephone_event_pt,
        ptime_ms: n.ptime_ms,
        remote_rtp: n.remote_rtp,
        remote_rtcp: n.remote_rtcp,
        media_timeout: timeout,
        // The caller's audio is only listened to (VAD, recognition, DTMF), never played to a
        // person while Frontdoor holds the call, so playout may start shallow: barge-in reacts
        // 20 ms sooner, and the buffer still deepens itself under real network jitter.
        jitter: JitterConfig {
            min_delay: Duration::from_millis(20),
            ..JitterConfig::default()
        },
    }
}

#[cfg(test)]
mod tests;
