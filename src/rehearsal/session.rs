//! A rehearsed call for the designer tools: the flow's real handler inside the real call core,
//! answered by Frontdoor's own user agent, called by the in-memory caller over a clean emulated
//! link, all on one virtual clock. What the caller does is what a caller would do:
//!
//! * [`Session::say`]: waits for its turn (Frontdoor listening, the prompt over), then streams a
//!   voiced clip as long as the words would take and falls silent, so the call's own endpointer
//!   ends the utterance; the scripted recogniser hears the words.
//! * [`Session::keys`]: RFC 4733 key presses from the caller's media session (the call core's
//!   DTMF collection, inter-digit timeout and terminators apply).
//! * [`Session::silence`]: nothing, until the call's no-input timer fires.
//! * [`Session::hangup`]: a BYE.
//!
//! Each returns what the caller met until its next turn (or the end of the call), as
//! [`Output`]s taken from what the call did: the cases it asked the store to write or update,
//! the lookups and language checks it asked for, the REFER and the BYE it sent; the prompts and
//! listens from what the call was given to play and listen for.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

use super::caller::{CallerAudio, CallerConfig, CallerScript, VirtualCaller, Vowels};
use super::endpoint::{
    Asked, FrontdoorEndpoint, LanguageScript, Services, SharedElapsed, StoreScript, frontdoor_sip,
};
use super::net::{LinkConfig, Pair, VirtualNetwork};
use super::stage::{LONGEST_UTTERANCE, PER_CHARACTER, Stage, spoken_length};
use crate::crm::NewCase;
use crate::flow::FlowCallHandler;
use crate::flow::interpreter::{CallContext, Interpreter};
use crate::handler::{
    CallAction, CallEvent, CallHandler, CallInfo, CaseField, HandlerReport, ListenSpec, OpenCase,
    PlayItem, TransferContext,
};

/// Something the caller met.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A prompt: its name when it is a named prompt, and its words.
    Prompt {
        name: Option<String>,
        text: String,
    },
    Listening {
        max_digits: usize,
        /// False when only keys are listened for (speech recognition unavailable).
        speech: bool,
    },
    Slower,
    Case(Value),
    /// An existing case updated: its reference and the fields added.
    CaseUpdate {
        reference: String,
        fields: Value,
    },
    /// The call asked for the caller's open cases.
    LookedUpCases,
    /// The call asked which language the last utterance was in.
    DetectingLanguage,
    Transfer {
        queue: String,
        context: Value,
    },
    Hangup,
}

/// What the rehearsal's case references start with (`SIM-0001`, ...).
const CASE_PREFIX: &str = "SIM";
/// Where the caller lives on the emulated network.
const CALLER_SIP: ([u8; 4], u16) = ([127, 0, 0, 2], 5060);
/// The longest one turn may take in virtual time before the rehearsal stops waiting (a flow
/// that never listens again and never ends the call).
const TURN_LIMIT: Duration = Duration::from_secs(600);
/// How long a key is held, and the gap before the next.
const KEY_PRESS: Duration = Duration::from_millis(100);
const KEY_GAP: Duration = Duration::from_millis(100);
/// How long after the caller's last key or word the turn may end at the earliest: the packets
/// are on their way (10 ms one way, RFC 4733 end packets repeated).
const SETTLE: Duration = Duration::from_millis(200);
/// Seeds for the caller, Frontdoor and the network: fixed, so a rehearsal replays exactly.
const SEED: u64 = 7;

/// What the call's handler did, as the rehearsal follows it (shared with the handler inside
/// the call core).
struct Seam {
    handler: FlowCallHandler,
    clock: SharedElapsed,
    /// Prompts, listens and slower speech, with the virtual time.
    log: Vec<(Duration, Output)>,
    /// Transfers asked for, with their context, in order, until their REFER goes out.
    transfers: VecDeque<TransferContext>,
    /// A `Play` of the handler's is under way (its `PromptFinished` not yet heard).
    playing: bool,
    /// Whether what plays may be cut short by the caller.
    barge_in: bool,
    /// The handler listens and no answer has reached it yet.
    listening: bool,
    last_listen: Option<ListenSpec>,
    /// Answers (words, keys, no input, speech unavailable) the handler has heard.
    answers: u64,
}

/// The handler inside the call core: the flow's, followed by the rehearsal.
struct SeamHandler(Arc<Mutex<Seam>>);

fn lock(seam: &Mutex<Seam>) -> MutexGuard<'_, Seam> {
    seam.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CallHandler for SeamHandler {
    fn on_event(&mut self, info: &CallInfo, event: CallEvent) -> Vec<CallAction> {
        let mut seam = lock(&self.0);
        let at = *seam.clock.lock().unwrap_or_else(PoisonError::into_inner);
        let answer = matches!(
            event,
            CallEvent::Heard { .. }
                | CallEvent::Dtmf(_)
                | CallEvent::Digits(_)
                | CallEvent::NoInput
                | CallEvent::SpeechUnavailable
        );
        if answer {
            seam.answers += 1;
            seam.listening = false;
        }
        // The core cuts an interruptible prompt short on the caller's keys or speech, and
        // then no `PromptFinished` comes.
        let cuts = answer || event == CallEvent::SpeechStarted;
        if cuts && seam.barge_in && event != CallEvent::NoInput {
            seam.playing = false;
        }
        if event == CallEvent::PromptFinished {
            seam.playing = false;
        }
        let actions = seam.handler.on_event(info, event);
        for action in &actions {
            match action {
                CallAction::Play { items, barge_in } => {
                    seam.playing = true;
                    seam.barge_in = *barge_in;
                    for item in items {
                        let output = render(seam.handler.interpreter(), item);
                        seam.log.push((at, output));
                    }
                }
                CallAction::StopPlayback => seam.playing = false,
                CallAction::Listen(spec) => {
                    seam.listening = true;
                    seam.last_listen = Some(spec.clone());
                    seam.log.push((
                        at,
                        Output::Listening {
                            max_digits: spec.max_digits,
                            speech: spec.speech,
                        },
                    ));
                }
                CallAction::SetSlowSpeech(_) => seam.log.push((at, Output::Slower)),
                CallAction::Transfer { context, .. } => seam.transfers.push_back(context.clone()),
                CallAction::SaveCase(_)
                | CallAction::FindOpenCases
                | CallAction::DetectLanguage
                | CallAction::Hangup => {}
            }
        }
        actions
    }

    fn report(&self) -> HandlerReport {
        lock(&self.0).handler.report()
    }

    fn understands(&self, text: &str) -> bool {
        lock(&self.0).handler.understands(text)
    }
}

/// The interpreter of a rehearsed call, borrowed while it is looked at.
pub struct InterpreterView<'a>(MutexGuard<'a, Seam>);

impl std::ops::Deref for InterpreterView<'_> {
    type Target = Interpreter;

    fn deref(&self) -> &Interpreter {
        self.0.handler.interpreter()
    }
}

/// One rehearsed call.
pub struct Session {
    pair: Pair<VirtualCaller, FrontdoorEndpoint>,
    seam: Arc<Mutex<Seam>>,
    /// How much of the endpoint's requests and the seam's log has been reported.
    requests_seen: usize,
    log_seen: usize,
    cases: Vec<Value>,
    updates: Vec<(String, Value)>,
    transfers: Vec<(String, Value)>,
    /// Queue name by the URI its REFER names.
    queue_uris: Vec<(String, String)>,
    /// The turn may not end before this instant (the caller's keys or words are on the way).
    settle_until: Instant,
    /// Whether the next REFER is refused by the caller's phone.
    fail_next_transfer: bool,
    vowels: Vowels,
}

impl Session {
    /// Starts a call on `stage`, from a number with these open cases on it; returns the
    /// session and what the caller met before its first turn.
    pub fn start(
        stage: &Stage,
        ctx: CallContext,
        open_cases: Vec<OpenCase>,
    ) -> (Session, Vec<Output>) {
        // The virtual clock's origin. An `Instant` can only be made from the OS clock; it is read
        // this once, and from here on time moves only as the driver moves it.
        let start = Instant::now();
        let seam = Arc::new(Mutex::new(Seam {
            handler: FlowCallHandler::new(
                Arc::clone(&stage.flow),
                Arc::clone(&stage.understanding),
                ctx.clone(),
            ),
            // The endpoint's clock, once the endpoint exists (below).
            clock: SharedElapsed::default(),
            log: Vec::new(),
            transfers: VecDeque::new(),
            playing: false,
            barge_in: false,
            listening: false,
            last_listen: None,
            answers: 0,
        }));
        let services = Services {
            store: StoreScript::Numbered {
                prefix: CASE_PREFIX.into(),
                after: Duration::from_millis(150),
            },
            per_character: Some(PER_CHARACTER),
            open_cases,
            languages: LanguageScript::Hears(None),
            ..Services::default()
        };
        let dialled = if ctx.dialled.is_empty() {
            "100".to_string()
        } else {
            ctx.dialled.clone()
        };
        let mut caller_config = CallerConfig::new(
            std::net::SocketAddr::from(CALLER_SIP),
            frontdoor_sip(),
            &dialled,
            SEED,
        );
        caller_config.follows_refer = true;
        let mut caller = VirtualCaller::new(caller_config, CallerScript::new(), start);
        caller.record.media.skip_audio = true;
        let handler_seam = Arc::clone(&seam);
        let frontdoor = FrontdoorEndpoint::new(
            SEED + 1,
            Arc::clone(&stage.settings),
            services,
            Box::new(|_| Vec::new()),
            start,
        )
        .with_handler_factory(Box::new(move |_info: &CallInfo| {
            Box::new(SeamHandler(handler_seam)) as Box<dyn CallHandler>
        }))
        .with_presented_caller(ctx.caller.clone())
        .with_wall_origin(wall_clock_of(&ctx));
        lock(&seam).clock = frontdoor.clock();
        let net = VirtualNetwork::new(SEED + 2).with_default_link(LinkConfig::clean());
        let mut session = Session {
            pair: Pair::new(caller, frontdoor, net, start),
            seam,
            requests_seen: 0,
            log_seen: 0,
            cases: Vec::new(),
            updates: Vec::new(),
            transfers: Vec::new(),
            queue_uris: stage.queue_uris.clone(),
            settle_until: start,
            fail_next_transfer: false,
            vowels: stage.vowels.clone(),
        };
        let first = session.run_turn(None);
        (session, first)
    }

    /// The caller says `text` when it is its turn.
    pub fn say(&mut self, text: &str) -> Vec<Output> {
        let now = self.pair.now();
        let length = spoken_length(text).min(LONGEST_UTTERANCE);
        self.pair.b.set_heard(Some(text.to_string()));
        let ms = usize::try_from(length.as_millis()).unwrap_or(0);
        self.pair
            .a
            .play_now(now, CallerAudio::Samples(self.vowels.clip(ms)));
        self.pair.a.play_at(now + length, CallerAudio::Silence);
        self.settle_until = now + length + SETTLE;
        let answers = self.answers();
        self.run_turn(Some(answers))
    }

    /// The caller presses `keys`, one after another.
    pub fn keys(&mut self, keys: &str) -> Vec<Output> {
        let now = self.pair.now();
        let done = self.pair.a.press_keys(now, keys, KEY_PRESS, KEY_GAP);
        self.settle_until = done + SETTLE;
        let answers = self.answers();
        self.run_turn(Some(answers))
    }

    /// The recogniser pool is saturated: the caller speaks and its words are refused, so the
    /// call falls back to keys.
    pub fn speech_unavailable(&mut self) -> Vec<Output> {
        self.pair.b.set_refusing(true);
        let out = self.say("hello");
        self.pair.b.set_refusing(false);
        out
    }

    /// The next language detection hears `language` with `probability`.
    pub fn detect_language_as(&mut self, language: &str, probability: f32) {
        self.pair.b.services_mut().languages =
            LanguageScript::Hears(Some((language.to_string(), probability)));
    }

    /// The caller says nothing until the call stops waiting.
    pub fn silence(&mut self) -> Vec<Output> {
        let answers = self.answers();
        self.run_turn(Some(answers))
    }

    /// The caller hangs up.
    pub fn hangup(&mut self) -> Vec<Output> {
        let now = self.pair.now();
        self.pair.a.hang_up_now(now);
        self.run_turn(None)
    }

    /// The next case store fails.
    pub fn fail_next_case(&mut self) {
        self.pair.b.fail_next_store();
    }

    /// The next transfer fails: the caller's phone refuses the REFER and no advisor can be
    /// reached another way.
    pub fn fail_next_transfer(&mut self) {
        self.fail_next_transfer = true;
        self.pair.a.set_follows_refer(false);
    }

    /// The call's flow interpreter (locked while the view lives).
    pub fn interpreter(&self) -> InterpreterView<'_> {
        InterpreterView(lock(&self.seam))
    }

    /// The spec of the latest listen, if any.
    pub fn listen_spec(&self) -> Option<ListenSpec> {
        lock(&self.seam).last_listen.clone()
    }

    pub fn cases(&self) -> &[Value] {
        &self.cases
    }

    /// Cases updated so far: reference and fields.
    pub fn updates(&self) -> &[(String, Value)] {
        &self.updates
    }

    pub fn transfers(&self) -> &[(String, Value)] {
        &self.transfers
    }

    /// Whether the call is over (either side hung up, or it was transferred).
    pub fn ended(&self) -> bool {
        self.pair.a.has_ended() || self.pair.b.finished()
    }

    /// Virtual time since the call was dialled.
    pub fn elapsed(&self) -> Duration {
        self.pair.elapsed()
    }

    fn answers(&self) -> u64 {
        lock(&self.seam).answers
    }

    /// Runs until the caller's turn (after an answer, when `answers_before` is given) or the
    /// end of the call; returns what the caller met.
    fn run_turn(&mut self, answers_before: Option<u64>) -> Vec<Output> {
        let limit = self.pair.elapsed() + TURN_LIMIT;
        let seam = Arc::clone(&self.seam);
        let settle_until = self.settle_until;
        let result = self.pair.run_until(limit, |p| {
            let over = p.a.has_ended() || p.b.finished();
            if over {
                return true;
            }
            let s = lock(&seam);
            let answered = answers_before.is_none_or(|before| s.answers > before);
            answered && s.listening && !s.playing && !p.b.has_pending() && p.now() >= settle_until
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "rehearsed call stopped");
        }
        let out = self.collect();
        if self.fail_next_transfer && out.iter().any(|o| matches!(o, Output::Transfer { .. })) {
            // One refusal only: the next transfer goes through again.
            self.fail_next_transfer = false;
            self.pair.a.set_follows_refer(true);
        }
        out
    }

    /// What happened since the last report, in the order it happened.
    fn collect(&mut self) -> Vec<Output> {
        let mut timed: Vec<(Duration, u8, Output)> = Vec::new();
        {
            let seam = lock(&self.seam);
            for (at, output) in &seam.log[self.log_seen..] {
                timed.push((*at, 0, output.clone()));
            }
            self.log_seen = seam.log.len();
        }
        let requests: Vec<(Duration, Asked)> =
            self.pair.b.record.requests[self.requests_seen..].to_vec();
        self.requests_seen = self.pair.b.record.requests.len();
        for (at, asked) in requests {
            let output = match asked {
                Asked::StoreCase(case) => {
                    let case = case_json(&case);
                    self.cases.push(case.clone());
                    Output::Case(case)
                }
                Asked::UpdateCase { reference, fields } => {
                    self.updates.push((reference.clone(), fields.clone()));
                    Output::CaseUpdate { reference, fields }
                }
                Asked::FindOpenCases => Output::LookedUpCases,
                Asked::DetectLanguage => Output::DetectingLanguage,
                Asked::Refer(uri) => {
                    let queue = self
                        .queue_uris
                        .iter()
                        .find(|(u, _)| *u == uri)
                        .map_or(uri.clone(), |(_, name)| name.clone());
                    let context = lock(&self.seam)
                        .transfers
                        .pop_front()
                        .map_or(Value::Null, |c| transfer_json(&c));
                    self.transfers.push((queue.clone(), context.clone()));
                    Output::Transfer { queue, context }
                }
                // Leaving a transferred call is not hanging up on the caller.
                Asked::Hangup if !self.transfers.is_empty() => continue,
                Asked::Hangup => Output::Hangup,
                Asked::Synthesise(_) => continue,
            };
            timed.push((at, 1, output));
        }
        // Stable: at one instant, what the handler did comes before the requests it led to.
        timed.sort_by_key(|(at, order, _)| (*at, *order));
        timed.into_iter().map(|(_, _, o)| o).collect()
    }
}

/// The wall clock at the call's date and time (local), as the call core and its record see it.
fn wall_clock_of(ctx: &CallContext) -> SystemTime {
    ctx.date
        .and_time(ctx.time)
        .and_local_timezone(chrono::Local)
        .earliest()
        .map_or(SystemTime::UNIX_EPOCH, SystemTime::from)
}

/// A play item as the caller met it: a named prompt with its words, or the words of a text.
fn render(interp: &Interpreter, item: &PlayItem) -> Output {
    let flow = interp.flow();
    match item {
        PlayItem::Prompt { name, lang } => {
            let lang = lang
                .clone()
                .unwrap_or_else(|| flow.default_language().to_string());
            let text = flow
                .prompt_texts
                .get(&(lang, name.clone()))
                .cloned()
                .unwrap_or_else(|| format!("[recording {name}]"));
            Output::Prompt {
                name: Some(name.clone()),
                text,
            }
        }
        PlayItem::Text { text, .. } => Output::Prompt {
            name: None,
            text: text.clone(),
        },
        PlayItem::Silence(d) => Output::Prompt {
            name: None,
            text: format!("[{} ms silence]", d.as_millis()),
        },
    }
}

/// A draft's fields as one JSON object, by name.
fn fields_json(fields: &[CaseField]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|f| (f.name.clone(), f.value.expose().clone()))
            .collect(),
    )
}

/// A new case as the store was asked to write it, as the designer tools show and test it: what
/// the case is about next to its fields, in one object (a field named like one of those shows
/// in its place).
fn case_json(case: &NewCase) -> Value {
    let mut obj = Map::new();
    obj.insert("type".into(), json!(case.service));
    obj.insert("flow".into(), json!(case.flow_name));
    obj.insert("flow_version".into(), json!(case.flow_version));
    if let Some(intent) = &case.intent {
        obj.insert("intent".into(), json!(intent));
    }
    obj.insert(
        "language".into(),
        json!(case.language.clone().unwrap_or_default()),
    );
    if !case.accessibility.is_empty() {
        obj.insert("accessibility".into(), json!(case.accessibility));
    }
    if !case.transcript_excerpts.is_empty() {
        obj.insert(
            "transcript_excerpts".into(),
            json!(case.transcript_excerpts),
        );
    }
    if let Value::Object(fields) = &case.fields {
        obj.extend(fields.clone());
    }
    Value::Object(obj)
}

/// A transfer's context as the designer tools show and test it.
fn transfer_json(context: &TransferContext) -> Value {
    let context = match context {
        TransferContext::Flow(flow) => flow,
        TransferContext::Menu { service, intent } => {
            return json!({ "service": service, "intent": intent });
        }
    };
    json!({
        "flow": context.flow_name,
        "flow_version": context.flow_version,
        "reason": context.reason.as_str(),
        "priority": context.priority.as_str(),
        "intent": context.intent,
        "slots": fields_json(&context.slots),
        "case_ref": context.case_ref,
        "returning_case": context.returning_case,
        "language": context.language,
        "interpreter": context.interpreter,
        "accessibility": { "slow_speech": context.accessibility.slow_speech },
        "node": context.node,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::catalog::PromptCatalog;
    use crate::flow::check::check;
    use crate::flow::understand::Understanding;

    const FLOW: &str = r#"
flow: rehearsed
start: count
intents:
  pay: {examples: ["I want to pay"], keywords: [pay]}
nodes:
  count:
    ask: {text: "How many bins? Key it and press hash. Press 0 on its own for someone."}
    slot: {name: count, type: number}
    next: menu
  menu:
    ask: {text: "Say pay, or press 1. Press 0 for someone."}
    intents: {pay: bye}
    keys: {"1": pay}
  bye:
    hangup: {text: "Bye"}
"#;

    fn stage() -> Stage {
        let (flow, d) = check(
            std::path::Path::new("rehearsed.yaml"),
            FLOW,
            &PromptCatalog::default(),
        );
        let flow = flow.unwrap_or_else(|| panic!("{d}"));
        let understanding = Arc::new(Understanding::new(&flow).unwrap());
        Stage::new(Arc::new(flow), understanding, None).unwrap()
    }

    fn ctx() -> CallContext {
        CallContext {
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            time: chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            caller: Some(crate::Pii::new("07700900123".into())),
            dialled: "100".into(),
        }
    }

    fn heard(out: &[Output], words: &str) -> bool {
        out.iter()
            .any(|o| matches!(o, Output::Prompt { text, .. } if text.contains(words)))
    }

    #[test]
    fn the_first_prompt_plays_for_as_long_as_its_text_takes_before_the_caller_may_answer() {
        let stage = stage();
        let (s, first) = Session::start(&stage, ctx(), Vec::new());
        assert!(heard(&first, "How many bins?"), "{first:?}");
        let text = "How many bins? Key it and press hash. Press 0 on its own for someone.";
        assert!(s.elapsed() >= spoken_length(text), "{:?}", s.elapsed());
        assert!(!s.ended());
    }

    #[test]
    fn keys_are_collected_by_the_call_and_hash_ends_the_entry() {
        let stage = stage();
        let (mut s, _) = Session::start(&stage, ctx(), Vec::new());
        let out = s.keys("12#");
        assert_eq!(
            s.interpreter().slots().get("count").map(|c| c.canonical()),
            Some("12".to_string())
        );
        assert!(heard(&out, "Say pay"), "{out:?}");
    }

    #[test]
    fn keys_without_a_terminator_end_after_the_inter_digit_gap() {
        let stage = stage();
        let gap = stage.flow().settings.inter_digit_timeout;
        let (mut s, _) = Session::start(&stage, ctx(), Vec::new());
        let before = s.elapsed();
        s.keys("7");
        assert_eq!(
            s.interpreter().slots().get("count").map(|c| c.canonical()),
            Some("7".to_string())
        );
        assert!(s.elapsed() - before >= gap, "{:?}", s.elapsed() - before);
    }

    #[test]
    fn silence_lasts_until_the_no_input_timer_fires() {
        let stage = stage();
        let timeout = stage.flow().settings.no_input_timeout;
        let (mut s, _) = Session::start(&stage, ctx(), Vec::new());
        let before = s.elapsed();
        let out = s.silence();
        assert!(
            s.elapsed() - before >= timeout,
            "{:?}",
            s.elapsed() - before
        );
        assert!(
            out.iter().any(|o| matches!(o, Output::Prompt { .. })),
            "a reprompt: {out:?}"
        );
        assert_eq!(s.interpreter().current_node(), "count");
    }

    #[test]
    fn spoken_words_reach_the_flow_once_the_calls_endpointer_ends_them() {
        let stage = stage();
        let (mut s, _) = Session::start(&stage, ctx(), Vec::new());
        s.keys("3#");
        let out = s.say("I want to pay");
        assert!(heard(&out, "Bye"), "{out:?}");
        assert!(out.contains(&Output::Hangup), "{out:?}");
        assert!(s.ended());
    }
}
