//! Frontdoor's side of a rehearsed call: the crate's own `sip::ua::UserAgent` (UAS, seeded), the
//! offer/answer decisions of `call::core::answer` up to the ACK, then a `call::core::Call` fed
//! what the user agent and the network deliver, with its requests carried out in virtual time by
//! scripted services (the case store, the open-case lookup, the synthesiser, the recogniser and
//! language detection).
//!
//! It does what `call::runtime` and its driver do, in the same order (answer the INVITE, wait for
//! the ACK, take the media it settles, start the core), without a task, a socket or a clock.
//! A request's completion is fed when its virtual delay is over, even after the call has ended
//! (a case the caller hung up on is still stored, as the driver does); only then is the call
//! finished and its record kept.
//!
//! The scripted services stand in for what a rehearsal cannot run: no Whisper (the recogniser
//! answers the text the caller is scripted to have said, after a decode delay), no espeak-ng
//! (a synthesised text is a clip whose length follows its characters), no database.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::asr::Transcript;
use crate::call::core::answer::{InviteAnswer, answer_invite, media_at_ack};
use crate::call::core::{
    Call, CallSettings, CallStart, Completion, Input, MediaSocket, Output, Request,
};
use crate::call::signalling::SipCommand;
use crate::crm::{CallRecord as StoredCallRecord, NewCase};
use crate::entropy::Entropy;
use crate::handler::{CallAction, CallEvent, CallHandler, CallInfo, OpenCase, PlayItem};
use crate::sip::sdp::{LocalMedia, Negotiated};
use crate::sip::ua::{CallHandle, Transport, UaConfig, UaEvent, UserAgent};

use super::caller::{SipRecord, new_user_agent, rtcp_of, wall_clock_at};
use super::net::Datagram;

/// Frontdoor's SIP address on the emulated network.
pub fn frontdoor_sip() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5060))
}

/// Frontdoor's RTP address on the emulated network (RTCP on the next port).
pub fn frontdoor_rtp() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 30_000))
}

/// A loud square wave of `ms` milliseconds at 8 kHz: its PCMU is never the silence code, so a
/// caller hears it as audio.
pub fn square_clip(ms: usize) -> Arc<[i16]> {
    (0..ms * 8)
        .map(|i| if i % 16 < 8 { 8000 } else { -8000 })
        .collect()
}

/// The advisor leg's RTP port the scripted driver hands out.
pub const ADVISOR_LEG_PORT: u16 = 31_000;

/// How the scripted recogniser pool answers a `Recognise`.
#[derive(Debug, Clone)]
pub struct RecognitionScript {
    /// What every utterance is heard as.
    pub text: String,
    /// How long a decode takes.
    pub delay: Duration,
    /// Whether jobs wait behind others (the holding phrase may play).
    pub queued: bool,
    /// Whether the pool is past its limit and refuses jobs (keypad fallback).
    pub refused: bool,
}

impl Default for RecognitionScript {
    fn default() -> Self {
        RecognitionScript {
            text: "my bin was not collected".into(),
            delay: Duration::from_millis(300),
            queued: false,
            refused: false,
        }
    }
}

/// How the scripted case store answers `StoreCase` (and `UpdateCase`).
#[derive(Debug, Clone)]
pub enum StoreScript {
    /// Committed with this reference after the delay.
    Commits { reference: String, after: Duration },
    /// Fails with this reason after the delay.
    Fails { reason: String, after: Duration },
    /// Committed after the delay with the next of `PREFIX-0001`, `PREFIX-0002`, ... (one
    /// count for the call's new cases; an update keeps its reference).
    Numbered { prefix: String, after: Duration },
}

/// How scripted language detection answers `DetectLanguage`.
#[derive(Debug, Clone, PartialEq)]
pub enum LanguageScript {
    /// The pool refuses (no language model).
    Refused,
    /// The next detection hears this language with this probability (later ones hear
    /// nothing), or nothing is detected.
    Hears(Option<(String, f32)>),
}

/// The scripted outside world the driver would reach.
#[derive(Debug, Clone)]
pub struct Services {
    pub store: StoreScript,
    /// How long synthesis takes (text prompts are not synthesised: `synthesis` is off; this
    /// answers a `Synthesise` request should one come).
    pub synthesis_delay: Duration,
    /// Length of each synthesised clip.
    pub clip: Duration,
    /// When set, a text's clip is sized by this instead of `clip`.
    pub per_character: Option<Duration>,
    pub recognition: RecognitionScript,
    /// What a `FindOpenCases` finds.
    pub open_cases: Vec<OpenCase>,
    pub languages: LanguageScript,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            store: StoreScript::Commits {
                reference: "FD-1".into(),
                after: Duration::from_millis(150),
            },
            synthesis_delay: Duration::from_millis(50),
            clip: Duration::from_millis(500),
            per_character: None,
            recognition: RecognitionScript::default(),
            open_cases: Vec::new(),
            languages: LanguageScript::Refused,
        }
    }
}

/// What the handler heard, with the virtual time it heard it at (shared with the handler).
pub type HeardLog = Arc<Mutex<Vec<(Duration, CallEvent)>>>;

/// A clock the endpoint sets before every input, so the handler can stamp what it hears.
pub type SharedElapsed = Arc<Mutex<Duration>>;

/// The handler's script: the event, and the actions it answers with.
pub type Script = Box<dyn FnMut(&CallEvent) -> Vec<CallAction> + Send>;

/// A handler that logs what it hears (with the time) and answers from a script.
struct ScriptedHandler {
    heard: HeardLog,
    elapsed: SharedElapsed,
    script: Script,
}

impl CallHandler for ScriptedHandler {
    fn on_event(&mut self, _info: &CallInfo, event: CallEvent) -> Vec<CallAction> {
        let at = *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner);
        let actions = (self.script)(&event);
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((at, event));
        actions
    }
}

/// Makes the call's handler from the answered call, as serve's handler factory does.
pub type HandlerFactory = Box<dyn FnOnce(&CallInfo) -> Box<dyn CallHandler> + Send>;

/// Wraps a real handler (a flow's): logs what it hears, with the time, and passes it on.
struct LoggedHandler {
    heard: HeardLog,
    elapsed: SharedElapsed,
    inner: Box<dyn CallHandler>,
}

impl CallHandler for LoggedHandler {
    fn on_event(&mut self, info: &CallInfo, event: CallEvent) -> Vec<CallAction> {
        let at = *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner);
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((at, event.clone()));
        self.inner.on_event(info, event)
    }
}

/// A line of the endpoint's trace: what the core did, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub at: Duration,
    pub what: String,
}

/// Everything Frontdoor's side saw and did.
#[derive(Debug, Default)]
pub struct FrontdoorRecord {
    pub sip_sent: Vec<SipRecord>,
    pub sip_received: Vec<SipRecord>,
    /// The core's SIP commands and requests, and the completions fed back.
    pub trace: Vec<TraceLine>,
    /// RTP datagrams the core sent, with their time.
    pub rtp_sent: Vec<Duration>,
    pub rtcp_sent: u64,
    /// When the user agent reported the dialog over.
    pub terminated_at: Option<Duration>,
    /// When the core said the call is over.
    pub ended_at: Option<Duration>,
    /// When `finish` ran (after every outstanding request was answered).
    pub finished_at: Option<Duration>,
    /// What `finish` gave back for the store.
    pub stored_record: Option<StoredCallRecord>,
    /// Why the INVITE or the ACK was refused, if it was.
    pub refused: Option<String>,
    /// What the core asked of the outside world, typed, with its time (the trace has it as
    /// text): what a rehearsal reports as cases written, looked up and detected.
    pub requests: Vec<(Duration, Asked)>,
}

/// A request the core made, as a rehearsal reports it.
#[derive(Debug, Clone)]
pub enum Asked {
    StoreCase(Box<NewCase>),
    UpdateCase {
        reference: String,
        fields: serde_json::Value,
    },
    FindOpenCases,
    DetectLanguage,
    /// The texts of a `Play` to synthesise.
    Synthesise(Vec<String>),
    /// A REFER sent to the caller, to this URI.
    Refer(String),
    /// Frontdoor hung up (BYE).
    Hangup,
}

impl FrontdoorRecord {
    pub fn traced(&self, prefix: &str) -> Vec<Duration> {
        self.trace
            .iter()
            .filter(|l| l.what.starts_with(prefix))
            .map(|l| l.at)
            .collect()
    }
}

/// The call between the INVITE and the ACK.
struct Answering {
    call: CallHandle,
    info: CallInfo,
    negotiated: Option<Negotiated>,
    last_sdp: String,
    started: Instant,
}

/// Frontdoor as one virtual endpoint.
pub struct FrontdoorEndpoint {
    ua: UserAgent,
    settings: Arc<CallSettings>,
    services: Services,
    local: LocalMedia,
    call_entropy: Option<Entropy>,
    script: Option<Script>,
    /// When set, the call's handler comes from here instead of the script.
    factory: Option<HandlerFactory>,
    /// What successive utterances are heard as, in order (then `heard_now`, then
    /// `recognition.text`).
    recognitions: VecDeque<String>,
    /// What every decode hears while set: the words of the utterance being spoken (a
    /// speculative decode, the final one and a second look at the same audio agree).
    heard_now: Option<String>,
    /// Whether the recogniser pool refuses jobs now (saturated).
    refusing: bool,
    /// Whether the next case store or update fails.
    fail_next_store: bool,
    /// New cases committed so far (for [`StoreScript::Numbered`]).
    cases_committed: u32,
    /// The caller's number as the network presents it, instead of the From header's user.
    presented_caller: Option<Option<crate::Pii<String>>>,
    /// The wall clock at `start`: what the core and the handler see as the time of day.
    wall_origin: SystemTime,
    pub heard: HeardLog,
    elapsed: SharedElapsed,
    answering: Option<Answering>,
    core: Option<Call>,
    handle: Option<CallHandle>,
    /// When the core next wants `Input::Timeout`.
    core_timeout: Option<Instant>,
    /// Completions not yet due, in the order they were asked for.
    pending: Vec<(Instant, Completion)>,
    outbox: std::collections::VecDeque<Datagram>,
    start: Instant,
    pub record: FrontdoorRecord,
}

impl FrontdoorEndpoint {
    pub fn new(
        seed: u64,
        settings: Arc<CallSettings>,
        services: Services,
        script: Script,
        start: Instant,
    ) -> Self {
        Self::with_ua_config(seed, settings, services, script, start, |_| {})
    }

    /// Like [`FrontdoorEndpoint::new`], with the user agent's configuration adjusted first.
    pub fn with_ua_config(
        seed: u64,
        settings: Arc<CallSettings>,
        services: Services,
        script: Script,
        start: Instant,
        adjust: impl FnOnce(&mut UaConfig),
    ) -> Self {
        let mut ua_config = UaConfig::new(frontdoor_sip());
        adjust(&mut ua_config);
        let mut entropy = Entropy::seeded(seed);
        // Fixed draw order: the user agent's stream, the call's, then the SDP session id.
        let ua_entropy = entropy.fork();
        let call_entropy = entropy.fork();
        let local = LocalMedia {
            addr: frontdoor_rtp().ip(),
            port: frontdoor_rtp().port(),
            session_id: u64::from(entropy.u32()),
            session_version: 1,
        };
        FrontdoorEndpoint {
            ua: new_user_agent(ua_config, ua_entropy),
            settings,
            services,
            local,
            call_entropy: Some(call_entropy),
            script: Some(script),
            factory: None,
            recognitions: VecDeque::new(),
            heard_now: None,
            refusing: false,
            fail_next_store: false,
            cases_committed: 0,
            presented_caller: None,
            wall_origin: wall_clock_at(start, start),
            heard: Arc::new(Mutex::new(Vec::new())),
            elapsed: Arc::new(Mutex::new(Duration::ZERO)),
            answering: None,
            core: None,
            handle: None,
            core_timeout: None,
            pending: Vec::new(),
            outbox: std::collections::VecDeque::new(),
            start,
            record: FrontdoorRecord::default(),
        }
    }

    /// The call's handler is made by `factory` (a real one, e.g. a flow's), not the script;
    /// what it hears is still logged.
    pub fn with_handler_factory(mut self, factory: HandlerFactory) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Successive `Recognise` jobs are heard as these texts, in order.
    pub fn with_recognitions<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        texts: I,
    ) -> Self {
        self.recognitions = texts.into_iter().map(Into::into).collect();
        self
    }

    /// Every decode hears `text` from now on (`None`: back to the scripted texts).
    pub fn set_heard(&mut self, text: Option<String>) {
        self.heard_now = text;
    }

    /// The recogniser pool refuses every job while `refusing` (it is saturated).
    pub fn set_refusing(&mut self, refusing: bool) {
        self.refusing = refusing;
    }

    /// The next case store (or update) fails.
    pub fn fail_next_store(&mut self) {
        self.fail_next_store = true;
    }

    /// The scripted services, to change them as the call goes on.
    pub fn services_mut(&mut self) -> &mut Services {
        &mut self.services
    }

    /// The caller's number as the network presents it (`None`: withheld), whatever the
    /// INVITE's From says.
    pub fn with_presented_caller(mut self, caller: Option<crate::Pii<String>>) -> Self {
        self.presented_caller = Some(caller);
        self
    }

    /// The clock the endpoint sets to the virtual time before every input to the call: a
    /// handler reads it to stamp what it hears and does.
    pub fn clock(&self) -> SharedElapsed {
        Arc::clone(&self.elapsed)
    }

    /// Whether a request of the call is still being carried out.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The wall clock (date and time of day) at the start of the run.
    pub fn with_wall_origin(mut self, origin: SystemTime) -> Self {
        self.wall_origin = origin;
        self
    }

    fn wall_at(&self, now: Instant) -> SystemTime {
        self.wall_origin + (now - self.start)
    }

    pub fn user_agent(&self) -> &UserAgent {
        &self.ua
    }

    /// What the handler heard, in order.
    pub fn heard(&self) -> Vec<(Duration, CallEvent)> {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn heard_events(&self) -> Vec<CallEvent> {
        self.heard().into_iter().map(|(_, e)| e).collect()
    }

    /// Whether the call ran to `finish`.
    pub fn finished(&self) -> bool {
        self.record.finished_at.is_some()
    }

    fn since_start(&self, now: Instant) -> Duration {
        now - self.start
    }

    fn trace(&mut self, now: Instant, what: String) {
        let at = self.since_start(now);
        self.record.trace.push(TraceLine { at, what });
    }

    fn set_clock(&self, now: Instant) {
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner) = self.since_start(now);
    }

    fn apply_sip(&mut self, now: Instant, command: SipCommand) {
        self.trace(now, format!("sip {command:?}"));
        match command {
            SipCommand::Ringing(call) => self.ua.ringing(now, call),
            SipCommand::Answer(call, sdp) => self.ua.answer(now, call, sdp),
            SipCommand::Reject(call, status) => self.ua.reject(now, call, status),
            SipCommand::Hangup(call) => {
                self.asked(now, Asked::Hangup);
                self.ua.hangup(now, call);
            }
            SipCommand::AnswerReoffer(call, sdp) => self.ua.answer_reoffer(now, call, sdp),
            SipCommand::RejectReoffer(call, status) => self.ua.reject_reoffer(now, call, status),
            SipCommand::Refer(call, target, headers) => {
                self.asked(now, Asked::Refer(target.clone()));
                if let Err(e) = self.ua.refer(now, call, &target, headers) {
                    self.trace(now, format!("refer not sent: {e}"));
                }
            }
            SipCommand::PlaceCall { reply, .. } => {
                // No outbound leg is placed in a rehearsal: dropping the reply tells the asker
                // the SIP driver could not place it.
                drop(reply);
            }
        }
    }

    fn asked(&mut self, now: Instant, what: Asked) {
        let at = self.since_start(now);
        self.record.requests.push((at, what));
    }

    /// How the scripted store answers a new case (`update_of: None`) or an update of one.
    fn store_answer(&mut self, update_of: Option<&str>) -> (Duration, Result<String, String>) {
        let failing = std::mem::take(&mut self.fail_next_store);
        let (after, result) = match &self.services.store {
            StoreScript::Fails { reason, after } => (*after, Err(reason.clone())),
            StoreScript::Commits { reference, after } => (
                *after,
                Ok(update_of.map_or_else(|| reference.clone(), str::to_string)),
            ),
            StoreScript::Numbered { prefix, after } => match update_of {
                Some(reference) => (*after, Ok(reference.to_string())),
                // A failed store numbers nothing.
                None if failing => (*after, Ok(String::new())),
                None => {
                    self.cases_committed += 1;
                    (*after, Ok(format!("{prefix}-{:04}", self.cases_committed)))
                }
            },
        };
        if failing {
            return (after, Err("the case store failed (rehearsed)".into()));
        }
        (after, result)
    }

    /// A synthesised clip for one item: a text by its characters, a prompt as recorded.
    fn synthesised_clip(&self, item: &PlayItem) -> Arc<[i16]> {
        match item {
            PlayItem::Text { text, .. } => {
                let length = match self.services.per_character {
                    Some(per) => per
                        .saturating_mul(u32::try_from(text.chars().count()).unwrap_or(u32::MAX))
                        .max(Duration::from_millis(300)),
                    None => self.services.clip,
                };
                square_clip(usize::try_from(length.as_millis()).unwrap_or(usize::MAX / 16))
            }
            PlayItem::Prompt { name, lang } => self
                .settings
                .prompts
                .get(name, lang.as_deref())
                .unwrap_or_else(|| square_clip(0)),
            PlayItem::Silence(d) => crate::call::core::silence(*d),
        }
    }

    /// Carries out a request in virtual time: its completion is due after the scripted delay.
    fn carry_out(&mut self, now: Instant, request: Request) {
        let (after, completion) = match request {
            Request::StoreCase(case) => {
                self.trace(now, format!("request StoreCase {}", case.service));
                let (after, result) = self.store_answer(None);
                self.asked(now, Asked::StoreCase(Box::new(case)));
                (after, Completion::CaseStored(result))
            }
            Request::UpdateCase { reference, update } => {
                self.trace(now, format!("request UpdateCase {reference}"));
                let (after, result) = self.store_answer(Some(&reference));
                self.asked(
                    now,
                    Asked::UpdateCase {
                        reference,
                        fields: update.fields,
                    },
                );
                (after, Completion::CaseUpdated(result))
            }
            Request::FindOpenCases { .. } => {
                self.trace(now, "request FindOpenCases".into());
                self.asked(now, Asked::FindOpenCases);
                (
                    Duration::from_millis(20),
                    Completion::OpenCases(self.services.open_cases.clone()),
                )
            }
            Request::Synthesise {
                generation,
                items,
                barge_in,
                ..
            } => {
                self.trace(now, format!("request Synthesise {}", items.len()));
                let texts = items
                    .iter()
                    .filter_map(|i| match i {
                        PlayItem::Text { text, .. } => Some(text.clone()),
                        _ => None,
                    })
                    .collect();
                self.asked(now, Asked::Synthesise(texts));
                let clips = items.iter().map(|i| self.synthesised_clip(i)).collect();
                (
                    self.services.synthesis_delay,
                    Completion::Synthesised {
                        generation,
                        clips,
                        barge_in,
                    },
                )
            }
            Request::Recognise { job, audio, .. } => {
                self.trace(now, format!("request Recognise {job}"));
                let mut script = self.services.recognition.clone();
                if let Some(text) = self
                    .recognitions
                    .pop_front()
                    .or_else(|| self.heard_now.clone())
                {
                    script.text = text;
                }
                if script.refused || self.refusing {
                    (
                        Duration::ZERO,
                        Completion::JobRefused {
                            job,
                            queue_depth: 4,
                        },
                    )
                } else {
                    self.schedule(
                        now,
                        Completion::JobStarted {
                            job,
                            queued: script.queued,
                        },
                    );
                    let transcript = Transcript {
                        text: script.text,
                        confidence: 0.9,
                        no_speech_prob: 0.02,
                        language: Some("en".into()),
                        language_prob: 1.0,
                        duration_ms: u32::try_from(audio.len() / 16).unwrap_or(u32::MAX),
                        decode_ms: u32::try_from(script.delay.as_millis()).unwrap_or(u32::MAX),
                    };
                    (
                        script.delay,
                        Completion::JobDone {
                            job,
                            result: Ok(transcript),
                        },
                    )
                }
            }
            Request::DetectLanguage { job, audio } => {
                self.trace(now, format!("request DetectLanguage {job}"));
                self.asked(now, Asked::DetectLanguage);
                match self.services.languages.clone() {
                    // No language model: the pool refuses.
                    LanguageScript::Refused => (
                        Duration::ZERO,
                        Completion::JobRefused {
                            job,
                            queue_depth: 0,
                        },
                    ),
                    LanguageScript::Hears(heard) => {
                        self.services.languages = LanguageScript::Hears(None);
                        self.schedule(now, Completion::JobStarted { job, queued: false });
                        let (language, language_prob) = match heard {
                            Some((l, p)) => (Some(l), p),
                            None => (None, 0.0),
                        };
                        let transcript = Transcript {
                            language,
                            language_prob,
                            duration_ms: u32::try_from(audio.len() / 16).unwrap_or(u32::MAX),
                            ..Transcript::default()
                        };
                        (
                            self.services.recognition.delay,
                            Completion::JobDone {
                                job,
                                result: Ok(transcript),
                            },
                        )
                    }
                }
            }
            Request::OpenLegPorts => {
                self.trace(now, "request OpenLegPorts".into());
                (Duration::ZERO, Completion::LegPorts(Ok(ADVISOR_LEG_PORT)))
            }
            Request::CloseLegPorts => {
                self.trace(
                    now,
                    format!("request CloseLegPorts (port {ADVISOR_LEG_PORT})"),
                );
                return;
            }
            Request::PlaceLeg { target, .. } => {
                self.trace(now, format!("request PlaceLeg {target}"));
                (
                    Duration::ZERO,
                    // No advisor answers in a rehearsal: the leg cannot be placed.
                    Completion::LegPlaced(Err(crate::sip::ua::UaError::UnknownTarget(target))),
                )
            }
        };
        self.schedule(now + after, completion);
    }

    /// A completion due at `due` (after every one already due then, so order holds).
    fn schedule(&mut self, due: Instant, completion: Completion) {
        let index = self.pending.partition_point(|(t, _)| *t <= due);
        self.pending.insert(index, (due, completion));
    }

    /// Feeds the core one input and drains everything it has for us.
    fn feed(&mut self, now: Instant, input: Input<'_>) {
        let Some(core) = self.core.as_mut() else {
            return;
        };
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner) = now - self.start;
        let wall = self.wall_origin + (now - self.start);
        core.handle_input(now, wall, input);
        self.drain_core(now);
    }

    fn drain_core(&mut self, now: Instant) {
        let mut commands = Vec::new();
        let mut requests = Vec::new();
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let at = now - self.start;
        loop {
            match core.poll_output() {
                Output::Transmit {
                    socket,
                    destination,
                    payload,
                } => {
                    let from = match socket {
                        MediaSocket::Rtp | MediaSocket::AdvisorRtp => frontdoor_rtp(),
                        MediaSocket::Rtcp | MediaSocket::AdvisorRtcp => rtcp_of(frontdoor_rtp()),
                    };
                    if socket == MediaSocket::Rtp {
                        self.record.rtp_sent.push(at);
                    } else {
                        self.record.rtcp_sent += 1;
                    }
                    self.outbox.push_back(Datagram {
                        from,
                        to: destination,
                        bytes: payload.to_vec(),
                    });
                }
                Output::Sip(command) => commands.push(command),
                Output::Request(request) => requests.push(*request),
                Output::Timeout(next) => {
                    self.core_timeout = Some(next);
                    break;
                }
            }
        }
        let ended = core.is_ended();
        for command in commands {
            self.apply_sip(now, command);
        }
        for request in requests {
            self.carry_out(now, request);
        }
        if ended && self.record.ended_at.is_none() {
            self.record.ended_at = Some(at);
            self.trace(now, "call ended".into());
        }
        self.finish_if_done(now);
    }

    /// The call is finished once it has ended and nothing it asked for is outstanding.
    fn finish_if_done(&mut self, now: Instant) {
        let done = self.core.as_ref().is_some_and(Call::is_ended) && self.pending.is_empty();
        if !done {
            return;
        }
        if let Some(core) = self.core.take() {
            self.set_clock(now);
            self.record.stored_record = core.finish();
            self.record.finished_at = Some(self.since_start(now));
            self.core_timeout = None;
            self.trace(now, "call finished".into());
        }
    }

    fn incoming(&mut self, now: Instant, call: CallHandle, info: crate::sip::ua::IncomingCall) {
        if self.handle.is_some() {
            self.ua.reject(now, call, 486);
            return;
        }
        self.handle = Some(call);
        let caller = match &self.presented_caller {
            Some(presented) => presented.clone(),
            None => info.caller.clone(),
        };
        let call_info = CallInfo {
            call_id: info.call_id.clone(),
            caller,
            dialled: info.dialled.clone(),
            source: info.source,
            started_at: self.wall_at(now),
        };
        match answer_invite(
            info.offer.as_deref(),
            &self.local,
            &self.settings.media_policy,
            info.source,
        ) {
            InviteAnswer::Answer { negotiated, sdp } => {
                self.ua.answer(now, call, sdp.clone());
                self.answering = Some(Answering {
                    call,
                    info: call_info,
                    negotiated,
                    last_sdp: sdp,
                    started: now,
                });
            }
            InviteAnswer::Reject { status, reason } => {
                self.record.refused = Some(reason);
                self.ua.reject(now, call, status);
            }
        }
    }

    fn acked(&mut self, now: Instant, answer: Option<String>) {
        let Some(answering) = self.answering.take() else {
            return;
        };
        let negotiated = match media_at_ack(
            answering.negotiated,
            answer.as_deref(),
            &self.local,
            &self.settings.media_policy,
            answering.info.source,
        ) {
            Ok(n) => n,
            Err(reason) => {
                self.record.refused = Some(reason);
                self.ua.hangup(now, answering.call);
                return;
            }
        };
        let Some(entropy) = self.call_entropy.take() else {
            return;
        };
        self.set_clock(now);
        let handler: Box<dyn CallHandler> = if let Some(factory) = self.factory.take() {
            Box::new(LoggedHandler {
                heard: Arc::clone(&self.heard),
                elapsed: Arc::clone(&self.elapsed),
                inner: factory(&answering.info),
            })
        } else if let Some(script) = self.script.take() {
            Box::new(ScriptedHandler {
                heard: Arc::clone(&self.heard),
                elapsed: Arc::clone(&self.elapsed),
                script,
            })
        } else {
            return;
        };
        self.core = Some(Call::new(
            Arc::clone(&self.settings),
            CallStart {
                call: answering.call,
                info: answering.info,
                negotiated,
                local: self.local.clone(),
                last_sdp: answering.last_sdp,
                handler,
                entropy,
                started: answering.started,
            },
            now,
            self.wall_at(now),
        ));
        self.trace(now, "call started".into());
        self.drain_core(now);
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.ua.poll_event() {
            match event {
                UaEvent::IncomingCall { call, info } => self.incoming(now, call, info),
                UaEvent::Acked { call, sdp } if Some(call) == self.handle => self.acked(now, sdp),
                event => {
                    if let UaEvent::Terminated { call, cause } = &event
                        && Some(*call) == self.handle
                        && self.record.terminated_at.is_none()
                    {
                        self.record.terminated_at = Some(self.since_start(now));
                        self.trace(now, format!("terminated {cause:?}"));
                        self.answering = None;
                    }
                    self.feed(now, Input::Sip(event));
                }
            }
        }
    }

    fn deliver_due_completions(&mut self, now: Instant) {
        while self.pending.first().is_some_and(|(at, _)| *at <= now) {
            let (_, completion) = self.pending.remove(0);
            self.trace(now, format!("done {}", completion_name(&completion)));
            if self.core.is_some() {
                self.feed(now, Input::Done(completion));
            }
        }
        self.finish_if_done(now);
    }
}

fn completion_name(c: &Completion) -> String {
    match c {
        Completion::CaseStored(r) => format!("CaseStored {r:?}"),
        Completion::CaseUpdated(r) => format!("CaseUpdated {r:?}"),
        Completion::OpenCases(c) => format!("OpenCases {}", c.len()),
        Completion::Synthesised { clips, .. } => format!("Synthesised {}", clips.len()),
        Completion::JobStarted { job, .. } => format!("JobStarted {job}"),
        Completion::JobRefused { job, .. } => format!("JobRefused {job}"),
        Completion::JobDone { job, .. } => format!("JobDone {job}"),
        Completion::LegPorts(r) => format!("LegPorts {}", r.is_ok()),
        Completion::LegPlaced(r) => format!("LegPlaced {}", r.is_ok()),
    }
}

impl super::net::VirtualEndpoint for FrontdoorEndpoint {
    fn owns(&self, addr: SocketAddr) -> bool {
        addr == frontdoor_sip() || addr == frontdoor_rtp() || addr == rtcp_of(frontdoor_rtp())
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if to == frontdoor_sip() {
            self.record
                .sip_received
                .push(SipRecord::of(self.since_start(now), bytes));
            self.ua.handle_datagram(now, Transport::Udp, from, bytes);
            self.process_events(now);
        } else {
            let socket = if to == frontdoor_rtp() {
                MediaSocket::Rtp
            } else {
                MediaSocket::Rtcp
            };
            self.feed(
                now,
                Input::Datagram {
                    socket,
                    source: from,
                    data: bytes,
                },
            );
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram> {
        if let Some(t) = self.ua.poll_transmit() {
            self.record
                .sip_sent
                .push(SipRecord::of(self.since_start(now), &t.payload));
            return Some(Datagram {
                from: frontdoor_sip(),
                to: t.destination,
                bytes: t.payload,
            });
        }
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ua.poll_timeout(),
            // An ended call waiting for a completion has no timers of its own.
            self.core
                .as_ref()
                .filter(|c| !c.is_ended())
                .and(self.core_timeout),
            self.pending.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        self.process_events(now);
        self.deliver_due_completions(now);
        let live = self.core.as_ref().is_some_and(|c| !c.is_ended());
        if live && self.core_timeout.is_some_and(|at| at <= now) {
            self.feed(now, Input::Timeout);
        }
    }
}

/// The loopback host Frontdoor lives on (for per-direction link settings).
pub fn frontdoor_host() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
