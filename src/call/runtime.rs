//! One call from INVITE to summary: a short tokio task per call answers the offer and waits for
//! the ACK; the answered call then runs on the [`MediaClock`] thread, which joins the SIP dialog
//! (through commands to the SIP driver) to its media session and asks the call's
//! [`CallHandler`] what to do.
//!
//! Owns: the call's RTP/RTCP sockets, its media session, what is playing, DTMF collection and
//! the no-input timer, and the summary line logged when the call ends. Must not touch: SIP
//! transactions (commands go to the driver), flow semantics (the handler decides).
//!
//! Why a shared media clock and not a task per answered call: with a task per call, 1,000 calls
//! meant ~100,000 task wake-ups a second (one per packet sent, one per packet received) and the
//! send times of a call drifted with whatever else the two tokio workers were doing (p99 53 ms
//! late at 1,000 calls, 71 % of a core). The clock ticks every 2 ms, serves one tenth of the
//! calls per tick (each call's 20 ms packet schedule is anchored on its slot's tick), and polls
//! the readiness of every RTP/RTCP socket with one `epoll_wait` per tick. See
//! docs/performance.md for the figures.

mod datagram_batch;
mod listen;
mod media_clock;
mod readiness;

pub use media_clock::{MediaClock, MediaPriority};

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use self::datagram_batch::DatagramBatch;
use super::handler::{
    CallAction, CallEvent, CallHandler, CallInfo, HangupCause, ListenSpec, OpenCase, PlayItem,
};
use super::media_address::check_remote_media;
use super::ports::{PortAllocator, PortPair};
use super::shutdown::{CallShutdown, CallTicket, CloseMode};
use super::signalling::SipCommand;
use super::signalling::event_call;
use super::speech::SpeechServices;
use super::transfer::{AdvisorLeg, CallTransfer, LegStep, TransferStep};
use crate::asr::RecognitionResult;
use crate::config::{MediaPolicy, MediaSource};
use crate::crm::{CallRecord, CaseStore, CaseUpdate, MediaQuality, NewCase, Outcome};
use crate::entropy::Entropy;
use crate::handoff::QueueDirectory;
use crate::media::Codec as MediaCodec;
use crate::media::echo::EchoGuard;
use crate::media::jitter::JitterConfig;
use crate::media::player::PromptPlayer;
use crate::media::session::{MediaConfig, MediaEvent, MediaSession, MediaStats};
use crate::media::vad::Endpointer;
use crate::prompts::library::PromptLibrary;
use crate::prompts::tts::{SpeechRate, Synthesizer, Voice};
use crate::sip::sdp::{
    self, Codec as SdpCodec, Direction, LocalMedia, Negotiated, SessionDescription,
};
use crate::sip::ua::{CallHandle, IncomingCall, TerminationCause, UaEvent};

/// Builds a fresh handler for each call.
pub type HandlerFactory = Arc<dyn Fn(&CallInfo) -> Box<dyn CallHandler> + Send + Sync>;

/// Everything call tasks share.
pub struct CallContext {
    pub prompts: PromptLibrary,
    pub synthesizer: Option<Arc<dyn Synthesizer>>,
    pub ports: PortAllocator,
    pub handlers: HandlerFactory,
    /// Address for SDP `c=`/`o=` (the public address behind NAT).
    pub advertised_ip: IpAddr,
    pub media_timeout: Duration,
    /// Ring (180) for this long before answering; zero answers at once.
    pub answer_delay: Duration,
    /// The durable case store (cases and call records). `None`: cases fail, records are skipped.
    pub cases: Option<Arc<CaseStore>>,
    /// Queues a `Transfer` action may name (the configured outbound targets).
    pub queues: QueueDirectory,
    /// Runs every answered call's media and handler.
    pub media_clock: MediaClock,
    /// Speech recognition and language detection shared by every call.
    pub speech: Arc<SpeechServices>,
    /// Tells calls when the server closes them, and counts them until their record is written.
    pub shutdown: Arc<CallShutdown>,
    /// Where a call's media may come from and go to (`media:` in frontdoor.yaml).
    pub media_policy: MediaPolicy,
}

/// Starts the task for a new incoming call and returns the channel its SIP events go to.
pub fn spawn_call(
    context: Arc<CallContext>,
    call: CallHandle,
    info: IncomingCall,
    sip: mpsc::UnboundedSender<SipCommand>,
) -> mpsc::UnboundedSender<UaEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    // Taken before the driver's next turn, so a drain never sees this call as absent.
    let ticket = context.shutdown.ticket();
    // Each call draws its identifiers (SDP session ids) from its own secure source.
    let entropy = Entropy::from_os();
    tokio::spawn(async move {
        let call_id = info.call_id.clone();
        if let Err(e) = run_call(context, call, info, sip.clone(), rx, ticket, entropy).await {
            // A caller can make calls fail repeatedly (e.g. at capacity): rate-limited.
            static CALL_FAILED: crate::log_limit::LogLimit = crate::log_limit::LogLimit::standard();
            crate::warn_limited!(CALL_FAILED, call_id = %call_id, error = %e, "call failed");
        }
    });
    tx
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("no RTP ports free")]
    NoPorts,
    #[error("the SIP driver went away")]
    DriverGone,
    #[error("the media clock has stopped")]
    MediaClockGone,
}

/// Results of work done off the call task (speech synthesis, the case store).
enum Completion {
    /// The case store committed (reference) or failed (reason).
    Case(Result<String, String>),
    /// An update of an existing case committed (reference) or failed (reason).
    CaseUpdate(Result<String, String>),
    /// Open cases on the caller's number (empty on failure: the caller is treated as new).
    OpenCases(Vec<OpenCase>),
    Clips {
        generation: u64,
        clips: Vec<Arc<[i16]>>,
        barge_in: bool,
    },
}

async fn run_call(
    context: Arc<CallContext>,
    call: CallHandle,
    incoming: IncomingCall,
    sip: mpsc::UnboundedSender<SipCommand>,
    mut events: mpsc::UnboundedReceiver<UaEvent>,
    ticket: CallTicket,
    mut entropy: Entropy,
) -> Result<(), CallError> {
    let started = Instant::now();
    let info = CallInfo {
        call_id: incoming.call_id.clone(),
        caller: incoming.caller.clone(),
        dialled: incoming.dialled.clone(),
        source: incoming.source,
        started_at: SystemTime::now(),
    };

    let pair = match context.ports.allocate() {
        Ok(p) => p,
        Err(_) => {
            static NO_PORTS: crate::log_limit::LogLimit = crate::log_limit::LogLimit::standard();
            crate::warn_limited!(NO_PORTS, call_id = %info.call_id, "no RTP ports free: 503");
            let _ = sip.send(SipCommand::Reject(call, 503));
            return Err(CallError::NoPorts);
        }
    };
    let local = LocalMedia {
        addr: context.advertised_ip,
        port: pair.rtp_port,
        session_id: u64::from(entropy.u32()),
        session_version: 1,
    };

    // Optional ringing before the answer (RFC 3261 §13.3.1.1): a PBX may want a 180, and while
    // the call rings a CANCEL still ends it with 487 (§9.2) instead of racing our 200.
    if !context.answer_delay.is_zero() {
        let _ = sip.send(SipCommand::Ringing(call));
        let ring = tokio::time::sleep(context.answer_delay);
        tokio::pin!(ring);
        loop {
            tokio::select! {
                _ = &mut ring => break,
                // Closing while it still rings: refused like a new call (503 + Retry-After),
                // not answered only to be hung up.
                _ = context.shutdown.closing() => {
                    let _ = sip.send(SipCommand::Reject(call, 503));
                    log_summary(&info, started, None, &HangupCause::Shutdown, "");
                    return Ok(());
                }
                ev = events.recv() => match ev {
                    Some(UaEvent::Terminated { cause, .. }) => {
                        log_summary(&info, started, None, &cause_of(cause), "");
                        return Ok(());
                    }
                    Some(_) => {}
                    None => return Err(CallError::DriverGone),
                },
            }
        }
    }

    // Offer/answer (RFC 3264): answer the INVITE's offer, or offer in the 200 and take the answer
    // from the ACK (RFC 3261 §13.2.1 offerless INVITE).
    let last_sdp;
    let negotiated = match incoming.offer.as_deref() {
        Some(offer) => {
            match SessionDescription::parse(offer).and_then(|o| sdp::negotiate_answer(&o, &local)) {
                Ok(n) if let Err(e) = check_media(&context.media_policy, &n, info.source) => {
                    tracing::info!(call_id = %info.call_id, reason = %e, "offer refused: 488");
                    let _ = sip.send(SipCommand::Reject(call, 488));
                    return Ok(());
                }
                Ok(n) => {
                    last_sdp = sdp::build_answer(&n, &local);
                    sip.send(SipCommand::Answer(call, last_sdp.clone()))
                        .map_err(|_| CallError::DriverGone)?;
                    Some(n)
                }
                Err(e) => {
                    tracing::info!(call_id = %info.call_id, reason = %e, status = e.response_status(), "offer rejected");
                    let _ = sip.send(SipCommand::Reject(call, e.response_status()));
                    return Ok(());
                }
            }
        }
        None => {
            last_sdp = sdp::build_offer(&local, Direction::SendRecv);
            sip.send(SipCommand::Answer(call, last_sdp.clone()))
                .map_err(|_| CallError::DriverGone)?;
            None
        }
    };

    // Wait for the ACK: media starts when the dialog is confirmed.
    let negotiated = loop {
        match events.recv().await {
            Some(UaEvent::Acked { sdp: answer, .. }) => match (negotiated, answer) {
                (Some(n), _) => break n,
                (None, Some(answer)) => {
                    match SessionDescription::parse(&answer)
                        .and_then(|a| sdp::parse_answer(&a, &local))
                    {
                        Ok(n)
                            if let Err(e) = check_media(&context.media_policy, &n, info.source) =>
                        {
                            // The ACK cannot be refused (RFC 3261 §13.3.1.4): end the call.
                            tracing::info!(call_id = %info.call_id, reason = %e, "answer in ACK refused: hanging up");
                            let _ = sip.send(SipCommand::Hangup(call));
                            return Ok(());
                        }
                        Ok(n) => break n,
                        Err(e) => {
                            tracing::info!(call_id = %info.call_id, reason = %e, "unusable answer in ACK: hanging up");
                            let _ = sip.send(SipCommand::Hangup(call));
                            return Ok(());
                        }
                    }
                }
                (None, None) => {
                    tracing::info!(call_id = %info.call_id, "offerless INVITE but no answer in ACK: hanging up");
                    let _ = sip.send(SipCommand::Hangup(call));
                    return Ok(());
                }
            },
            Some(UaEvent::Terminated { cause, .. }) => {
                log_summary(&info, started, None, &cause_of(cause), "");
                return Ok(());
            }
            Some(_) => {}
            None => return Err(CallError::DriverGone),
        }
    };

    let handler = (context.handlers)(&info);
    let clock = context.media_clock.clone();
    clock
        .admit(AnsweredCall {
            context,
            call,
            info,
            sip,
            pair,
            negotiated,
            handler,
            events,
            local,
            last_sdp,
            started,
            answered_at: SystemTime::now(),
            ticket,
            entropy,
        })
        .map_err(|_| CallError::MediaClockGone)
}

/// A confirmed call on its way to the media clock, which starts it on one of its ticks.
struct AnsweredCall {
    context: Arc<CallContext>,
    call: CallHandle,
    info: CallInfo,
    sip: mpsc::UnboundedSender<SipCommand>,
    pair: PortPair,
    negotiated: Negotiated,
    handler: Box<dyn CallHandler>,
    events: mpsc::UnboundedReceiver<UaEvent>,
    local: LocalMedia,
    last_sdp: String,
    started: Instant,
    /// Wall-clock time the dialog was confirmed (the call record's `answered_at`).
    answered_at: SystemTime,
    ticket: CallTicket,
    entropy: Entropy,
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

/// Whether the negotiated media addresses are acceptable from a peer signalling from `peer`.
fn check_media(
    policy: &MediaPolicy,
    n: &Negotiated,
    peer: std::net::SocketAddr,
) -> Result<(), super::media_address::MediaAddressError> {
    check_remote_media(
        n.remote_rtp,
        n.remote_rtcp,
        peer.ip(),
        &policy.allowed_networks,
    )
}

fn cause_of(t: TerminationCause) -> HangupCause {
    match t {
        TerminationCause::RemoteBye => HangupCause::CallerHungUp,
        TerminationCause::LocalBye => HangupCause::Completed,
        TerminationCause::Cancelled => HangupCause::Cancelled,
        TerminationCause::AckTimeout => HangupCause::AckTimeout,
        TerminationCause::SessionExpired => HangupCause::SessionExpired,
        TerminationCause::Rejected(code) => HangupCause::Error(format!("rejected {code}")),
        TerminationCause::TransportError => HangupCause::Error("transport error".into()),
        TerminationCause::OutgoingFailed(code) => {
            HangupCause::Error(format!("outgoing failed {code}"))
        }
    }
}

/// The hang-up cause as the call record stores it: the variant's name, and for an abnormal end
/// its reason too (`Error("transport error")`). Spelled out, not derived from `Debug`, so the
/// stored text cannot change with the type's formatting.
fn record_text(cause: &HangupCause) -> String {
    let name = match cause {
        HangupCause::CallerHungUp => "CallerHungUp",
        HangupCause::Completed => "Completed",
        HangupCause::Cancelled => "Cancelled",
        HangupCause::AckTimeout => "AckTimeout",
        HangupCause::MediaTimeout => "MediaTimeout",
        HangupCause::SessionExpired => "SessionExpired",
        HangupCause::Transferred => "Transferred",
        HangupCause::Shutdown => "Shutdown",
        HangupCause::Error(reason) => return format!("Error({reason:?})"),
    };
    name.to_string()
}

fn log_summary(
    info: &CallInfo,
    started: Instant,
    stats: Option<MediaStats>,
    cause: &HangupCause,
    extra: &str,
) {
    let s = stats.unwrap_or_default();
    tracing::info!(
        call_id = %info.call_id,
        caller = ?info.caller,
        dialled = %info.dialled,
        duration_ms = started.elapsed().as_millis() as u64,
        packets_in = s.packets_in,
        packets_out = s.packets_out,
        lost = s.lost_packets(),
        rejected = s.rejected_source,
        loss_pct = format_args!("{:.2}", s.fraction_lost * 100.0),
        jitter_ms = format_args!("{:.1}", s.jitter_ms),
        cause = ?cause,
        "call summary{extra}"
    );
}

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

struct CallTask {
    context: Arc<CallContext>,
    call: CallHandle,
    info: CallInfo,
    sip: mpsc::UnboundedSender<SipCommand>,
    /// The call's RTP/RTCP sockets (non-blocking, polled by the media clock).
    ports: PortPair,
    events: mpsc::UnboundedReceiver<UaEvent>,
    local: LocalMedia,
    last_sdp: String,
    started: Instant,
    media: MediaSession,
    handler: Box<dyn CallHandler>,
    /// Clips waiting for the current source to finish (a second `Play` while one plays).
    pending: Vec<Arc<[i16]>>,
    playing: bool,
    barge_in: bool,
    /// Bumped by every stop, so late synthesis results for a stopped `Play` are dropped.
    generation: u64,
    listening: Option<Listening>,
    slow: bool,
    hanging_up: Option<Instant>,
    cause: HangupCause,
    ended: bool,
    completions_tx: mpsc::UnboundedSender<Completion>,
    completions_rx: mpsc::UnboundedReceiver<Completion>,
    digits_heard: String,
    case_references: Vec<String>,
    answered_at: SystemTime,
    transfer: Option<CallTransfer>,
    advisor: Option<AdvisorLeg>,
    /// The caller's endpointer, created at the first speech `ask` (its filters and background
    /// estimate follow the caller's audio for the rest of the call).
    endpointer: Option<Endpointer>,
    /// Levels of what we sent recently, so our echo does not barge in.
    echo: EchoGuard,
    /// The caller's last utterance (16 kHz), kept for `DetectLanguage`.
    last_utterance: Option<Vec<f32>>,
    language_job: Option<tokio::sync::oneshot::Receiver<RecognitionResult>>,
    /// The language of `last_utterance` once detected: answers a `DetectLanguage` at once.
    detected_language: Option<(Option<String>, f32)>,
    /// A first answer held back while its language is checked (see `listen::finish_turn`).
    held_answer: Option<CallEvent>,
    /// The recognition options of the last utterance's `ask`, for a second decode of it.
    last_options: Option<crate::asr::RecognizeOptions>,
    /// A heard answer held back while its audio is decoded once more (`listen::hand_over`).
    second_opinion: Option<(tokio::sync::oneshot::Receiver<RecognitionResult>, CallEvent)>,
    /// Utterances handed to the handler so far (`Heard`).
    speech_turns: u32,
    /// The holding phrase is playing (its end is not the handler's `PromptFinished`).
    holding: bool,
    /// Events waiting for the handler (see [`CallTask::raise`]).
    handler_events: VecDeque<CallEvent>,
    /// The server is closing the call: the closing message plays until this instant at the
    /// latest, then BYE. The handler hears nothing more.
    closing_until: Option<Instant>,
    /// Counts the call for the server's drain; dropped once the call record is written.
    ticket: Option<CallTicket>,
    /// Where the advisor leg's identifiers come from.
    entropy: Entropy,
}

/// How long we wait for the BYE transaction before giving up on a clean end.
const HANGUP_GRACE: Duration = Duration::from_secs(10);

/// Most datagrams read from one socket per tick (one `recvmmsg`, see `datagram_batch`). A
/// caller sends one packet per 20 ms; the bound lets a call's socket be drained at up to
/// 32,000 packets/s, so a flood from a third host does not fill the socket buffer and push out
/// the caller's packets, while the work one call can cause per tick stays bounded. The
/// readiness set is level-triggered, so anything beyond is read on the next ticks.
const MAX_DATAGRAMS_PER_TICK: usize = 64;

impl CallTask {
    /// Starts the media of an answered call; its packet schedule is anchored at `now`.
    fn new(answered: AnsweredCall, now: Instant) -> CallTask {
        let AnsweredCall {
            context,
            call,
            info,
            sip,
            pair,
            negotiated,
            handler,
            events,
            local,
            last_sdp,
            started,
            answered_at,
            ticket,
            entropy,
        } = answered;
        let mut media = MediaSession::new(media_config(&negotiated, context.media_timeout), now);
        media.set_on_hold(negotiated.remote_hold);
        if context.media_policy.accept_from == MediaSource::SdpOrSignallingIp {
            media.accept_signalling_ip(info.source.ip());
        }
        let (completions_tx, completions_rx) = mpsc::unbounded_channel();
        CallTask {
            context,
            call,
            info,
            sip,
            ports: pair,
            events,
            local,
            last_sdp,
            started,
            media,
            handler,
            pending: Vec::new(),
            playing: false,
            barge_in: true,
            generation: 0,
            listening: None,
            slow: false,
            hanging_up: None,
            cause: HangupCause::Completed,
            ended: false,
            completions_tx,
            completions_rx,
            digits_heard: String::new(),
            case_references: Vec::new(),
            answered_at,
            transfer: None,
            advisor: None,
            endpointer: None,
            echo: EchoGuard::default(),
            last_utterance: None,
            language_job: None,
            detected_language: None,
            held_answer: None,
            last_options: None,
            second_opinion: None,
            speech_turns: 0,
            holding: false,
            handler_events: VecDeque::new(),
            closing_until: None,
            ticket: Some(ticket),
            entropy,
        }
    }

    fn summary_extra(&self) -> String {
        if self.digits_heard.is_empty() {
            String::new()
        } else {
            format!(" (digits {})", self.digits_heard.len())
        }
    }

    /// The call is up: the handler makes its first move.
    fn start(&mut self, now: Instant) {
        self.raise(CallEvent::Answered);
        self.run_handler(now);
    }

    /// Reads what is queued on the RTP socket (the media clock saw it readable). The media
    /// session drops datagrams from anyone but the peer on an address compare.
    fn drain_rtp(&mut self, now: Instant, batch: &mut DatagramBatch) {
        // An error (ICMP from a peer that went away) is not fatal to the call; the media
        // timeout handles a dead peer.
        let n = batch.receive(&self.ports.rtp).unwrap_or(0);
        for i in 0..n {
            if let Some((source, data)) = batch.get(i) {
                self.media.handle_rtp(now, source, data);
            }
        }
    }

    /// Reads what is queued on the RTCP socket.
    fn drain_rtcp(&mut self, now: Instant, batch: &mut DatagramBatch) {
        let n = batch.receive(&self.ports.rtcp).unwrap_or(0);
        for i in 0..n {
            if let Some((source, data)) = batch.get(i) {
                self.media.handle_rtcp(now, source, data);
            }
        }
    }

    /// The call's slot on the media clock came round (every 20 ms): SIP events, synthesis
    /// results, media timers and sends, call timers.
    fn on_tick(&mut self, now: Instant) {
        // Learn an advisor leg's call handle before reading events: the driver replies to
        // PlaceCall before the leg's first response can arrive, and the leg's events are
        // recognised by that handle.
        if let Some(leg) = self.advisor.as_mut() {
            let placed = leg.poll_placed();
            self.apply_leg_step(now, placed);
            self.run_handler(now);
        }
        while !self.ended {
            match self.events.try_recv() {
                Ok(ev) => self.on_sip_event(now, ev),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.cause = HangupCause::Error("driver stopped".into());
                    self.ended = true;
                }
            }
            self.run_handler(now);
        }
        while let Ok(done) = self.completions_rx.try_recv() {
            self.on_completion(done);
            self.run_handler(now);
        }
        if self.ended {
            return;
        }
        self.check_shutdown(now);
        self.poll_recognition(now);
        self.run_handler(now);
        self.poll_language();
        self.run_handler(now);
        self.poll_second_opinion();
        self.run_handler(now);
        if self.media.poll_timeout() <= now {
            self.media.handle_timeout(now);
        }
        self.flush_media(now);
        // The advisor leg of a bridge (or a transfer in progress) is driven at the same 20 ms
        // cadence as the caller's media.
        if let Some(leg) = self.advisor.as_mut() {
            leg.drain(now);
        }
        self.poll_advisor(now);
        self.run_handler(now);
        self.check_timers(now);
        self.run_handler(now);
    }

    /// Whether the call is over; then [`CallTask::finish`] ends it.
    fn is_ended(&self) -> bool {
        self.ended
    }

    /// Tells the handler, stores the call record (ended at wall-clock `ended_at`) and logs the
    /// summary line.
    fn finish(mut self, ended_at: SystemTime) {
        self.dispatch_final();
        // The ticket goes with the record: a draining server waits until it is written.
        let ticket = self.ticket.take();
        if let Some(store) = self.context.cases.clone() {
            let record = self.call_record(self.info.started_at, ended_at);
            tokio::spawn(async move {
                if let Err(e) = store.record_call(record).await {
                    tracing::warn!(error = %e, "call record not stored");
                }
                drop(ticket);
            });
        }
        let summary = self.summary_extra();
        log_summary(
            &self.info,
            self.started,
            Some(self.media.stats()),
            &self.cause,
            &summary,
        );
    }

    fn flush_media(&mut self, now: Instant) {
        while let Some(t) = self.media.poll_transmit(now) {
            let socket = if t.is_rtcp {
                &self.ports.rtcp
            } else {
                &self.ports.rtp
            };
            // UDP: a full socket buffer drops this packet, as the network would.
            let _ = socket.send_to(t.payload, t.destination);
            if !t.is_rtcp {
                let level = self.media.last_sent_dbfs();
                self.echo.on_sent(now, level);
            }
        }
        while let Some(ev) = self.media.poll_event() {
            match ev {
                MediaEvent::Dtmf(d)
                    if self.advisor.as_mut().is_some_and(|l| l.on_caller_digit(d)) => {}
                MediaEvent::Dtmf(d) => self.on_digit(now, d),
                MediaEvent::Frame(frame) => {
                    if let Some(leg) = self.advisor.as_mut() {
                        leg.on_caller_frame(&frame);
                    } else if self.listening.is_some() {
                        self.on_caller_frame(now, &frame);
                    }
                    self.media.recycle_frame(frame);
                }
                MediaEvent::SourceFinished => self.on_source_finished(now),
                MediaEvent::MediaTimeout => {
                    tracing::info!(call_id = %self.info.call_id, "no RTP within the media timeout: hanging up");
                    self.hang_up(now, HangupCause::MediaTimeout);
                }
            }
            // The handler's answer to this event is applied before the next one is read.
            self.run_handler(now);
        }
    }

    fn check_timers(&mut self, now: Instant) {
        // A server that is stopping waits only so long for the BYE to end the dialog.
        let grace = if self.cause == HangupCause::Shutdown {
            self.context.shutdown.settings().bye_wait
        } else {
            HANGUP_GRACE
        };
        if let Some(h) = self.hanging_up
            && now >= h + grace
        {
            self.ended = true;
            return;
        }
        if self.closing_until.is_some_and(|t| now >= t) {
            // The closing message ran past its longest play (or the call is on hold and never
            // plays it): BYE now.
            self.hang_up(now, HangupCause::Shutdown);
            return;
        }
        self.check_transfer(now);
        let Some(l) = &mut self.listening else { return };
        if l.inter_digit_at.is_some_and(|t| now >= t) {
            l.inter_digit_at = None;
            let digits = std::mem::take(&mut l.digits);
            self.listening = None;
            self.raise(CallEvent::Digits(digits));
        } else if l.no_input_at.is_some_and(|t| now >= t)
            && !l.speech.as_ref().is_some_and(|s| s.active)
        {
            self.listening = None;
            self.raise(CallEvent::NoInput);
        }
    }

    fn on_digit(&mut self, now: Instant, digit: char) {
        if self.hanging_up.is_some() || self.closing_until.is_some() {
            return;
        }
        self.digits_heard.push(digit);
        // DTMF always barges in on an interruptible prompt.
        if self.playing && self.barge_in {
            self.stop_playback();
        }
        match &mut self.listening {
            Some(l) if l.spec.max_digits > 1 => {
                if l.spec.terminators.contains(digit) {
                    let digits = std::mem::take(&mut l.digits);
                    self.listening = None;
                    self.raise(CallEvent::Digits(digits));
                    return;
                }
                l.digits.push(digit);
                l.no_input_at = None;
                if l.digits.len() >= l.spec.max_digits {
                    let digits = std::mem::take(&mut l.digits);
                    self.listening = None;
                    self.raise(CallEvent::Digits(digits));
                } else {
                    l.inter_digit_at = Some(now + l.spec.inter_digit_timeout);
                }
            }
            _ => {
                self.listening = None;
                self.raise(CallEvent::Dtmf(digit));
            }
        }
    }

    fn on_source_finished(&mut self, now: Instant) {
        if self.closing_until.is_some() {
            // The closing message was heard: BYE.
            self.hang_up(now, HangupCause::Shutdown);
            return;
        }
        if std::mem::take(&mut self.holding) && self.pending.is_empty() {
            // The holding phrase is ours, not the handler's prompt.
            self.playing = false;
            return;
        }
        if !self.pending.is_empty() {
            let clips = std::mem::take(&mut self.pending);
            self.start_player(clips);
            return;
        }
        self.playing = false;
        if let Some(l) = &mut self.listening
            && l.no_input_at.is_none()
            && l.digits.is_empty()
        {
            l.no_input_at = Some(now + l.spec.no_input_timeout);
        }
        self.raise(CallEvent::PromptFinished);
    }

    fn on_sip_event(&mut self, now: Instant, ev: UaEvent) {
        let Some(ev) = self.on_advisor_event(now, ev) else {
            return;
        };
        match ev {
            UaEvent::Dtmf { digit, .. } => self.on_digit(now, digit),
            UaEvent::ReOffer { sdp: offer, .. } => self.on_reoffer(offer),
            UaEvent::ReferProgress { status, .. } => self.on_refer_progress(now, status),
            UaEvent::Terminated { cause, .. } => {
                if self.hanging_up.is_none() {
                    self.cause = cause_of(cause);
                    self.cause_if_transferred();
                }
                self.ended = true;
            }
            _ => {}
        }
    }

    /// A re-INVITE or UPDATE (RFC 3311): hold, resume, new address or codec, or a session
    /// refresh. A bodyless one gets our current SDP as a new offer.
    fn on_reoffer(&mut self, offer: Option<String>) {
        let Some(offer) = offer else {
            let _ = self
                .sip
                .send(SipCommand::AnswerReoffer(self.call, self.last_sdp.clone()));
            return;
        };
        match SessionDescription::parse(&offer).and_then(|o| sdp::negotiate_answer(&o, &self.local))
        {
            Ok(n) if let Err(e) = check_media(&self.context.media_policy, &n, self.info.source) => {
                // The call goes on with the media it has (RFC 3261 §14.2: a refused re-offer
                // leaves the session unchanged).
                tracing::info!(call_id = %self.info.call_id, reason = %e, "re-offer refused: 488");
                let _ = self.sip.send(SipCommand::RejectReoffer(self.call, 488));
            }
            Ok(n) => {
                self.media.set_on_hold(n.remote_hold);
                self.media.set_remote(n.remote_rtp, n.remote_rtcp);
                self.media
                    .update_codec(media_codec(n.codec), n.payload_type, n.telephone_event_pt);
                let previous = self.last_sdp.clone();
                self.last_sdp = self
                    .local
                    .versioned(Some(&previous), |l| sdp::build_answer(&n, l));
                tracing::info!(call_id = %self.info.call_id, hold = n.remote_hold, "media renegotiated");
                let _ = self
                    .sip
                    .send(SipCommand::AnswerReoffer(self.call, self.last_sdp.clone()));
            }
            Err(e) => {
                let _ = self
                    .sip
                    .send(SipCommand::RejectReoffer(self.call, e.response_status()));
            }
        }
    }

    fn on_completion(&mut self, done: Completion) {
        match done {
            Completion::Case(Ok(reference)) => {
                self.case_references.push(reference.clone());
                self.raise(CallEvent::CaseCreated { reference });
            }
            Completion::Case(Err(reason)) | Completion::CaseUpdate(Err(reason)) => {
                self.raise(CallEvent::CaseFailed { reason })
            }
            Completion::CaseUpdate(Ok(reference)) => {
                if !self.case_references.contains(&reference) {
                    self.case_references.push(reference.clone());
                }
                self.raise(CallEvent::CaseUpdated { reference });
            }
            Completion::OpenCases(cases) => self.raise(CallEvent::OpenCases { cases }),
            Completion::Clips {
                generation,
                clips,
                barge_in,
            } => {
                if generation != self.generation || self.hanging_up.is_some() {
                    return;
                }
                self.queue_clips(clips, barge_in);
            }
        }
    }

    /// Queues `event` for the handler. Events raised while the handler's actions are applied
    /// (a case that cannot be stored, a transfer refused) wait their turn behind the event being
    /// answered, so the handler never re-enters itself and hears events in the order raised.
    fn raise(&mut self, event: CallEvent) {
        if self.ended || self.closing_until.is_some() {
            return;
        }
        self.handler_events.push_back(event);
    }

    /// Hands the queued events to the handler, in order, applying its actions as of `now`.
    /// Called at the end of each input, never from inside an action.
    fn run_handler(&mut self, now: Instant) {
        while let Some(event) = self.handler_events.pop_front() {
            if self.ended || self.closing_until.is_some() {
                self.handler_events.clear();
                return;
            }
            let answering = event.clone();
            for action in self.handler.on_event(&self.info, event) {
                self.apply(now, &answering, action);
            }
        }
    }

    fn dispatch_final(&mut self) {
        let cause = self.cause.clone();
        let _ = self.handler.on_event(&self.info, CallEvent::Hangup(cause));
    }

    /// Applies one action the handler took in answer to `answering`.
    fn apply(&mut self, now: Instant, answering: &CallEvent, action: CallAction) {
        match action {
            CallAction::Play { items, barge_in } => self.play(items, barge_in),
            CallAction::StopPlayback => self.stop_playback(),
            CallAction::Listen(spec) => {
                let no_input_at = if self.playing {
                    None
                } else {
                    Some(now + spec.no_input_timeout)
                };
                // Dropping the previous `ask`'s speech state cancels its decodes.
                self.listening = None;
                // A keys-only `Listen` answering `SpeechUnavailable` is not told again.
                let unavailable = *answering == CallEvent::SpeechUnavailable;
                let speech = self.start_speech(&spec, unavailable);
                self.listening = Some(Listening {
                    spec,
                    no_input_at,
                    digits: String::new(),
                    inter_digit_at: None,
                    speech,
                });
            }
            CallAction::SetSlowSpeech(slow) => self.slow = slow,
            CallAction::CreateCase { fields } => self.create_case(fields),
            CallAction::UpdateCase { reference, fields } => self.update_case(reference, fields),
            CallAction::FindOpenCases => self.find_open_cases(),
            CallAction::DetectLanguage => self.detect_language(),
            CallAction::Transfer { queue, context } => self.start_transfer(now, &queue, &context),
            CallAction::Hangup => self.hang_up(now, HangupCause::Completed),
        }
    }

    /// Commits the case off the call task; the handler hears `CaseCreated` only once it is
    /// durable, so a reference is never read back for a case that could still be lost.
    fn create_case(&mut self, fields: serde_json::Value) {
        let Some(store) = self.context.cases.clone() else {
            self.raise(CallEvent::CaseFailed {
                reason: "no case store configured".into(),
            });
            return;
        };
        let case = NewCase::from_flow_fields(fields, self.info.caller.clone(), &self.info.call_id);
        let tx = self.completions_tx.clone();
        let call_id = self.info.call_id.clone();
        // A stopping server waits for the write even when the call ends first.
        let ticket = self.context.shutdown.ticket();
        tokio::spawn(async move {
            let _ticket = ticket;
            let result = match store.create_case(case).await {
                Ok(record) => Ok(record.reference),
                Err(e) => {
                    tracing::error!(call_id = %call_id, error = %e, "case not stored");
                    Err(e.to_string())
                }
            };
            let _ = tx.send(Completion::Case(result));
        });
    }

    /// Updates a returning caller's case off the media thread; the handler hears `CaseUpdated`
    /// once the update (and its outbox event) is durable.
    fn update_case(&mut self, reference: String, fields: serde_json::Value) {
        let Some(store) = self.context.cases.clone() else {
            self.raise(CallEvent::CaseFailed {
                reason: "no case store configured".into(),
            });
            return;
        };
        let update = CaseUpdate {
            fields,
            call_id: Some(self.info.call_id.clone()),
            ..CaseUpdate::default()
        };
        let tx = self.completions_tx.clone();
        let call_id = self.info.call_id.clone();
        let ticket = self.context.shutdown.ticket();
        tokio::spawn(async move {
            let _ticket = ticket;
            let result = match store.apply_case_update(&reference, update).await {
                Ok(record) => Ok(record.reference),
                Err(e) => {
                    tracing::error!(call_id = %call_id, error = %e, "case update not stored");
                    Err(e.to_string())
                }
            };
            let _ = tx.send(Completion::CaseUpdate(result));
        });
    }

    /// Looks up open cases on the caller's number off the media thread. A withheld number, no
    /// store or a store error all answer "none": the caller is then simply treated as new.
    fn find_open_cases(&mut self) {
        let (Some(store), Some(caller)) = (self.context.cases.clone(), self.info.caller.clone())
        else {
            self.raise(CallEvent::OpenCases { cases: Vec::new() });
            return;
        };
        let tx = self.completions_tx.clone();
        let call_id = self.info.call_id.clone();
        tokio::spawn(async move {
            let cases = match store.open_cases_for_caller(caller.expose()).await {
                Ok(found) => found
                    .into_iter()
                    .map(|c| OpenCase {
                        reference: c.reference,
                        service: c.service,
                        fields: c.fields,
                        created_at: c.created_at,
                    })
                    .collect(),
                Err(e) => {
                    tracing::warn!(call_id = %call_id, error = %e, "open-case lookup failed");
                    Vec::new()
                }
            };
            let _ = tx.send(Completion::OpenCases(cases));
        });
    }

    /// The call record for the store: what the runtime saw plus what the handler reports.
    fn call_record(&self, started_at: SystemTime, ended_at: SystemTime) -> CallRecord {
        let report = self.handler.report();
        let transferred = matches!(self.cause, HangupCause::Transferred);
        let outcome = if transferred {
            Outcome::Transferred
        } else if !self.case_references.is_empty() {
            Outcome::CaseCreated
        } else if report.resolved {
            Outcome::Resolved
        } else if matches!(
            self.cause,
            HangupCause::CallerHungUp | HangupCause::Cancelled
        ) {
            Outcome::Abandoned
        } else if matches!(self.cause, HangupCause::Completed) {
            Outcome::Resolved
        } else {
            Outcome::Failed
        };
        let stats = self.media.stats();
        let mut record = CallRecord::new(self.info.call_id.clone(), started_at.into(), outcome);
        record.answered_at = Some(self.answered_at.into());
        record.ended_at = Some(ended_at.into());
        record.caller = self.info.caller.clone();
        record.flow_name = report.flow_name;
        record.flow_version = report.flow_version;
        record.node_path = report.node_path;
        record.survey = report.survey;
        record.turns = report.turns;
        record.language = report.language;
        record.accessibility = report.accessibility;
        record.hangup_cause = Some(record_text(&self.cause));
        record.media = MediaQuality {
            packets_in: stats.packets_in,
            packets_out: stats.packets_out,
            lost: stats.lost.max(0) as u64,
            jitter_ms: stats.jitter_ms,
        };
        record.case_references = self.case_references.clone();
        record
    }

    /// Closes the call when the server says so (see `drain`): the closing message then BYE,
    /// or BYE at once.
    fn check_shutdown(&mut self, now: Instant) {
        if self.hanging_up.is_some() {
            return;
        }
        match self.context.shutdown.mode() {
            CloseMode::Open => {}
            CloseMode::WithMessage if self.closing_until.is_none() => self.play_closing(now),
            CloseMode::WithMessage => {}
            CloseMode::Now => self.hang_up(now, HangupCause::Shutdown),
        }
    }

    /// Stops whatever the call was doing (the handler hears nothing more, an advisor bridge is
    /// interrupted) and plays the closing prompt; a missing prompt goes straight to BYE.
    fn play_closing(&mut self, now: Instant) {
        let settings = self.context.shutdown.settings();
        let language = self.handler.report().language;
        // A caller who asked for slower speech hears the message slower too.
        let prompts = &self.context.prompts;
        let clip = if self.slow {
            prompts.get_slow(&settings.prompt, language.as_deref())
        } else {
            prompts.get(&settings.prompt, language.as_deref())
        };
        let message_max = settings.message_max;
        self.listening = None;
        self.transfer = None;
        self.stop_playback();
        match clip {
            Some(clip) => {
                self.closing_until = Some(now + message_max);
                self.barge_in = false;
                self.start_player(vec![clip]);
            }
            // Logged once at start-up (`server`): not once per call here.
            None => self.hang_up(now, HangupCause::Shutdown),
        }
    }

    fn hang_up(&mut self, now: Instant, cause: HangupCause) {
        if self.hanging_up.is_some() {
            return;
        }
        self.closing_until = None;
        self.cause = cause;
        self.hanging_up = Some(now);
        if let Some(leg) = self.advisor.as_mut() {
            leg.hang_up(&self.sip);
        }
        self.listening = None;
        self.stop_playback();
        let _ = self.sip.send(SipCommand::Hangup(self.call));
    }

    fn stop_playback(&mut self) {
        self.holding = false;
        self.generation += 1;
        self.pending.clear();
        self.playing = false;
        self.media.set_source(None);
    }

    /// Resolves prompts now when they are all in memory; otherwise synthesises off the call
    /// task (espeak-ng is a subprocess and must never run on the media path).
    fn play(&mut self, items: Vec<PlayItem>, barge_in: bool) {
        let slow = self.slow;
        let mut clips = Vec::with_capacity(items.len());
        let mut needs_synthesis = false;
        for item in &items {
            match item {
                PlayItem::Prompt { name, lang } => {
                    let clip = if slow {
                        self.context.prompts.get_slow(name, lang.as_deref())
                    } else {
                        self.context.prompts.get(name, lang.as_deref())
                    };
                    match clip {
                        Some(c) => clips.push(c),
                        None => {
                            tracing::error!(call_id = %self.info.call_id, prompt = %name, "prompt missing at play time");
                        }
                    }
                }
                PlayItem::Silence(d) => clips.push(silence(*d)),
                PlayItem::Text { .. } => needs_synthesis = true,
            }
        }
        if !needs_synthesis {
            self.queue_clips(clips, barge_in);
            return;
        }
        let Some(synth) = self.context.synthesizer.clone() else {
            tracing::error!(call_id = %self.info.call_id, "text prompt but no synthesiser configured");
            self.queue_clips(clips, barge_in);
            return;
        };
        let prompts = self.context.prompts.clone();
        let tx = self.completions_tx.clone();
        let generation = self.generation;
        let call_id = self.info.call_id.clone();
        self.playing = true;
        tokio::task::spawn_blocking(move || {
            let rate = if slow {
                SpeechRate::Slow
            } else {
                SpeechRate::Normal
            };
            let mut clips = Vec::with_capacity(items.len());
            for item in items {
                let clip = match item {
                    PlayItem::Prompt { name, lang } => {
                        if slow {
                            prompts.get_slow(&name, lang.as_deref())
                        } else {
                            prompts.get(&name, lang.as_deref())
                        }
                    }
                    PlayItem::Silence(d) => Some(silence(d)),
                    PlayItem::Text { text, lang } => {
                        let voice = lang
                            .as_deref()
                            .map(Voice::espeak_for_language)
                            .unwrap_or_else(Voice::default_espeak);
                        match synth.synthesize(&text, &voice, rate) {
                            Ok(c) => Some(c),
                            Err(e) => {
                                tracing::error!(call_id = %call_id, error = %e, "speech synthesis failed");
                                None
                            }
                        }
                    }
                };
                clips.extend(clip);
            }
            let _ = tx.send(Completion::Clips {
                generation,
                clips,
                barge_in,
            });
        });
    }

    fn queue_clips(&mut self, clips: Vec<Arc<[i16]>>, barge_in: bool) {
        self.barge_in = barge_in;
        if self.playing && self.media.is_playing() {
            self.pending.extend(clips);
        } else {
            self.start_player(clips);
        }
    }

    fn start_player(&mut self, clips: Vec<Arc<[i16]>>) {
        let mut player = PromptPlayer::new();
        for c in clips {
            player.enqueue(c);
        }
        self.playing = true;
        self.media.set_source(Some(Box::new(player)));
    }
}

/// Transfer hooks: the work is in `call::transfer`; these only apply its steps to the call.
impl CallTask {
    fn start_transfer(&mut self, now: Instant, queue: &str, context: &serde_json::Value) {
        if self.transfer.is_some() || self.advisor.is_some() || self.hanging_up.is_some() {
            self.raise(CallEvent::TransferFailed {
                reason: "a transfer is already in progress".into(),
            });
            return;
        }
        let (queues, call, sip) = (&self.context.queues, self.call, &self.sip);
        match super::transfer::start_transfer(
            queues,
            call,
            &self.info.call_id,
            queue,
            context,
            now,
            sip,
        ) {
            Ok(t) => self.transfer = Some(t),
            Err(e) => self.raise(CallEvent::TransferFailed {
                reason: e.to_string(),
            }),
        }
    }

    fn on_refer_progress(&mut self, now: Instant, status: u16) {
        let call_id = self.info.call_id.clone();
        if let Some(step) = self
            .transfer
            .as_mut()
            .map(|t| t.on_refer_progress(&call_id, now, status))
        {
            self.apply_transfer_step(now, step);
        }
    }

    fn check_transfer(&mut self, now: Instant) {
        let call_id = self.info.call_id.clone();
        if let Some(step) = self
            .transfer
            .as_mut()
            .filter(|t| t.poll_timeout().is_some_and(|at| now >= at))
            .map(|t| t.handle_timeout(&call_id, now))
        {
            self.apply_transfer_step(now, step);
        }
    }

    fn apply_transfer_step(&mut self, now: Instant, step: TransferStep) {
        match step {
            TransferStep::Wait => {}
            // RFC 3515 §2.4.7: the transferee is with the target; we end our dialog.
            TransferStep::HangUp => self.hang_up(now, HangupCause::Transferred),
            TransferStep::Failed(reason) => {
                self.transfer = None;
                self.raise(CallEvent::TransferFailed { reason });
            }
            TransferStep::Bridge { queue, .. } => {
                self.transfer = None;
                let context = &self.context;
                match AdvisorLeg::place(
                    &context.ports,
                    context.advertised_ip,
                    self.call,
                    &queue,
                    now,
                    context.media_timeout,
                    &self.sip,
                    &mut self.entropy,
                ) {
                    Ok(leg) => {
                        tracing::info!(call_id = %self.info.call_id, queue = %queue, "calling the advisor to bridge");
                        self.advisor = Some(leg);
                    }
                    Err(reason) => self.raise(CallEvent::TransferFailed { reason }),
                }
            }
        }
    }

    /// Routes the advisor leg's SIP events; hands every other event back.
    fn on_advisor_event(&mut self, now: Instant, ev: UaEvent) -> Option<UaEvent> {
        let Some(leg) = self.advisor.as_mut() else {
            return Some(ev);
        };
        let step = match &ev {
            UaEvent::OutgoingAnswered { call, sdp } if leg.owns(*call) => {
                leg.on_answered(now, sdp.as_deref())
            }
            UaEvent::OutgoingProgress { call, .. } if leg.owns(*call) => LegStep::Wait,
            UaEvent::Terminated { call, cause } if leg.owns(*call) => leg.on_terminated(*cause),
            // Any other event for the leg (none expected today) is not the caller's.
            other if leg.owns(event_call(other)) => LegStep::Wait,
            _ => {
                if let UaEvent::Terminated { .. } = ev {
                    // The caller left: the advisor leg goes too.
                    leg.hang_up(&self.sip);
                }
                return Some(ev);
            }
        };
        self.apply_leg_step(now, step);
        None
    }

    fn poll_advisor(&mut self, now: Instant) {
        let Some(leg) = self.advisor.as_mut() else {
            return;
        };
        let placed = leg.poll_placed();
        self.apply_leg_step(now, placed);
        if let Some(step) = self.advisor.as_mut().map(|leg| leg.poll(now)) {
            self.apply_leg_step(now, step);
        }
    }

    fn apply_leg_step(&mut self, now: Instant, step: LegStep) {
        match step {
            LegStep::Wait => {}
            LegStep::Join(source) => {
                tracing::info!(call_id = %self.info.call_id, "advisor answered: bridged");
                self.listening = None;
                self.stop_playback();
                self.media.set_source(Some(Box::new(source)));
            }
            LegStep::DtmfToCaller(d) => {
                self.media.send_dtmf(d, crate::media::bridge::DTMF_DURATION)
            }
            LegStep::Failed(reason) => {
                tracing::info!(call_id = %self.info.call_id, %reason, "bridge to the advisor failed");
                self.advisor = None;
                self.raise(CallEvent::TransferFailed { reason });
            }
            // The call was handed to the advisor; it ends when they hang up.
            LegStep::Ended => self.hang_up(now, HangupCause::Transferred),
        }
    }

    /// The caller's side ended our dialog after accepting the REFER (it left for the advisor),
    /// or while bridged to the advisor.
    fn cause_if_transferred(&mut self) {
        if self.cause == HangupCause::CallerHungUp
            && self.advisor.as_ref().is_some_and(AdvisorLeg::was_bridged)
        {
            self.cause = HangupCause::Transferred;
        }
        if self.cause == HangupCause::CallerHungUp
            && let Some(c) = self
                .transfer
                .as_ref()
                .and_then(CallTransfer::cause_on_remote_bye)
        {
            self.cause = c;
        }
    }
}

fn silence(d: Duration) -> Arc<[i16]> {
    let samples = (d.as_millis() as usize).saturating_mul(8);
    vec![0i16; samples].into()
}
