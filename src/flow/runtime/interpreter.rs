//! The per-call interpreter: a sans-IO state machine over a [`CheckedFlow`]. Events in
//! ([`FlowEvent`]), actions out ([`CallAction`]); it never sleeps, reads a socket or a file.
//! Timers (no-input, inter-digit) belong to the runtime, which is told them by `Listen`.
//!
//! Owns: the current node, attempts, captured slots, variables, the "slower" flag, the path of
//! nodes taken. Must not touch: audio, SIP, the case store (it asks for a case and waits).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Datelike, Local, NaiveDate, NaiveTime};
use serde_json::{Value, json};

use super::capture::{KeyReader, SlotCapture};
use super::keypad;
use crate::flow::model::*;
use crate::handler::{
    Accessibility, CallAction, CaseDraft, CaseField, FieldType, FlowTransfer, ListenSpec, OpenCase,
    PlayItem, TransferContext, TransferPriority, TransferReason, Turn,
};
use crate::pii::Pii;

/// Nodes that neither play nor wait, followed in one step at most this many times in a row.
/// The checker rejects such loops; this guards the interpreter if one slipped through.
const MAX_IMMEDIATE_STEPS: usize = 256;

/// What happens to the caller in the flow's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowEvent {
    /// The call is answered; the flow starts.
    Started,
    /// Everything queued by the last `Play` was played.
    PromptFinished,
    /// A recognised utterance, already understood: `intent` from the classifier, `slots` parsed
    /// for the current ask's slot (by slot name). `language` when the recogniser detected one.
    Heard {
        text: Pii<String>,
        intent: Option<String>,
        confidence: f32,
        slots: BTreeMap<String, SlotCapture>,
        language: Option<String>,
        /// The classifier's best three intents with scores, best first (for the call log).
        top: Vec<(String, f32)>,
    },
    /// One key (menus).
    Dtmf(char),
    /// A complete keyed entry (digit asks).
    Digits(String),
    /// The caller said and keyed nothing before the timeout.
    NoInput,
    CaseCreated {
        reference: String,
    },
    CaseFailed {
        reason: String,
    },
    TransferFailed {
        reason: String,
    },
    /// Speech recognition cannot keep up: the current ask goes on by keypad only.
    SpeechUnavailable,
    /// The answer to `DetectLanguage`.
    LanguageDetected {
        language: Option<String>,
        probability: f32,
    },
    /// The answer to `FindOpenCases`: the caller's open cases (empty when withheld or none).
    OpenCases {
        cases: Vec<OpenCase>,
    },
    /// An `UpdateCase` was stored.
    CaseUpdated {
        reference: String,
    },
    Hangup,
}

/// What the interpreter is waiting for; the understanding layer uses it to parse input.
#[derive(Debug, Clone, PartialEq)]
pub enum Expecting {
    /// An `ask`: its intents and its slot.
    Ask {
        intents: Vec<String>,
        slot: Option<SlotSpec>,
    },
    /// A `confirm`: yes or no.
    Confirm,
    /// A survey question: a number 1..=max.
    Survey { max: u8 },
}

/// Keywords of each intent given to the recogniser as hints (the first ones, which designers
/// list first because they tell the most); the classifier still uses every keyword. Whisper
/// pays for its prompt on every decode: measured on tiny.en with 2 threads, a 75-word hint list
/// took a 1 s answer from 95 to 210 ms and a 2.5 s one from 125 to 285 ms (it also made Whisper
/// repeat the answer until its token limit), against +20 ms for about 20 words.
const HINTS_PER_INTENT: usize = 2;

/// Classifier confidence an intent of the question itself (not a global such as repeat) needs
/// when the words came from the English model but the language check heard another language:
/// a keyword plus a matching sentence (a keyword alone scores 0.5 to 0.6). Measured on espeak-ng Polish, Romanian and Lithuanian through tiny.en,
/// the best intent scored at most 0.39; misheard English such as "Mervin men miss our streets
/// this morning" scores 0.77.
const OTHER_LANGUAGE_MIN_CONFIDENCE: f32 = 0.65;

/// Per-call facts the flow may read.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub date: NaiveDate,
    pub time: NaiveTime,
    pub caller: Option<Pii<String>>,
    pub dialled: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    NotStarted,
    /// Playing a say/hangup/emergency message; what to do when it finishes.
    Playing(AfterPlay),
    Listening,
    /// Waiting for the caller's open cases (`lookup_cases`).
    WaitingCases,
    /// The first utterance matched nothing: waiting to hear which language it was in.
    DetectingLanguage,
    WaitingCase,
    WaitingTransfer {
        resume: Option<NodeId>,
    },
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum AfterPlay {
    Goto(NodeId),
    Hangup,
    EmergencyTransfer,
    /// The interpreter offer was played in the caller's language: hand them over.
    InterpreterTransfer,
}

/// Why a listen attempt failed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Miss {
    NoInput,
    NoMatch,
}

static END: NodeKind = NodeKind::Hangup {
    prompts: Vec::new(),
};

/// The node's kind; an index the checker did not produce reads as a bare hang-up.
fn kind_at(flow: &CheckedFlow, node: NodeId) -> &NodeKind {
    flow.nodes.get(node).map_or(&END, |n| &n.kind)
}

/// One call's run through a flow.
pub struct Interpreter {
    flow: Arc<CheckedFlow>,
    keys: Arc<dyn KeyReader>,
    ctx: CallContext,
    state: State,
    node: NodeId,
    attempts: u32,
    no_input: usize,
    no_match: usize,
    question: usize,
    last_play: Vec<PlayItem>,
    /// Whether the last `Play` could be cut short by the caller.
    last_play_interruptible: bool,
    slow: bool,
    language: String,
    slots: BTreeMap<String, SlotCapture>,
    vars: BTreeMap<String, String>,
    case_ref: Option<String>,
    last_case: Option<CaseDraft>,
    last_transfer: Option<(String, FlowTransfer)>,
    intent: Option<String>,
    survey: BTreeMap<String, u8>,
    path: Vec<String>,
    started: Option<Instant>,
    /// Every exchange so far, for the call record.
    turns: Vec<Turn>,
    /// The prompt that asked the current question (its name, or the node id for text).
    asked: String,
    /// Utterances heard so far (language detection runs on the first).
    utterances: u32,
    /// A detected caller language the flow has no prompts for (interpreter needed).
    caller_language: Option<String>,
    /// Open cases found by `lookup_cases`; `None` before any lookup.
    open_cases: Option<Vec<OpenCase>>,
    /// The open case the caller proved is theirs (`verify_case`).
    verified: Option<OpenCase>,
    /// Speech recognition is unavailable for the current ask: keys only.
    keys_only: bool,
}

impl Interpreter {
    pub fn new(flow: Arc<CheckedFlow>, keys: Arc<dyn KeyReader>, ctx: CallContext) -> Self {
        let language = flow.default_language().to_string();
        Interpreter {
            flow,
            keys,
            ctx,
            state: State::NotStarted,
            node: 0,
            attempts: 0,
            no_input: 0,
            no_match: 0,
            question: 0,
            last_play: Vec::new(),
            last_play_interruptible: false,
            slow: false,
            language,
            slots: BTreeMap::new(),
            vars: BTreeMap::new(),
            case_ref: None,
            last_case: None,
            last_transfer: None,
            intent: None,
            survey: BTreeMap::new(),
            path: Vec::new(),
            started: None,
            turns: Vec::new(),
            asked: String::new(),
            utterances: 0,
            caller_language: None,
            open_cases: None,
            verified: None,
            keys_only: false,
        }
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: FlowEvent, now: Instant) -> Vec<CallAction> {
        let mut out = Vec::new();
        if self.state == State::Ended {
            return out;
        }
        self.record_turn(&event);
        match event {
            FlowEvent::Started => {
                if self.state == State::NotStarted {
                    self.started = Some(now);
                    self.enter(self.flow.start, &mut out);
                }
            }
            FlowEvent::Hangup => self.state = State::Ended,
            // Product rule: safeguarding before anything else, in any state.
            FlowEvent::Heard {
                intent: Some(ref i),
                ..
            } if i == "safeguarding" && self.can_interrupt() => {
                self.intent = Some(i.clone());
                self.emergency(&mut out);
            }
            FlowEvent::PromptFinished => self.prompt_finished(&mut out),
            FlowEvent::Heard {
                intent,
                slots,
                language,
                confidence,
                ..
            } => {
                if self.state == State::Listening {
                    self.utterances += 1;
                    // English words for an answer the language check heard as a language
                    // this flow has no prompts for: the English model guessed ("Mervin men
                    // miss our streets" for espeak-ng's "The bin men missed our street", heard
                    // as Chinese). Only a guess that clearly names an intent is believed; the
                    // English model's words for Polish or Lithuanian match nothing that well,
                    // and those callers are offered an interpreter as before.
                    // A global word is no evidence: a Polish "Dzień dobry" comes out of the
                    // English model as "Pardon?" (repeat, 0.68).
                    let own = intent.as_deref().is_some_and(|i| {
                        matches!(self.kind(), NodeKind::Ask(a) if a.intents.iter().any(|(n, _)| n == i))
                    });
                    let unsure_other = language.as_deref().is_some_and(|l| {
                        l != self.language && !self.flow.languages.iter().any(|f| f == l)
                    }) && !(own && confidence >= OTHER_LANGUAGE_MIN_CONFIDENCE);
                    if unsure_other {
                        self.heard(None, BTreeMap::new(), language, &mut out);
                    } else {
                        self.heard(intent, slots, language, &mut out);
                    }
                }
            }
            FlowEvent::SpeechUnavailable => {
                if self.state == State::Listening {
                    self.speech_unavailable(&mut out);
                }
            }
            FlowEvent::LanguageDetected {
                language,
                probability,
            } => {
                if self.state == State::DetectingLanguage {
                    self.state = State::Listening;
                    self.language_detected(language, probability, &mut out);
                }
            }
            FlowEvent::OpenCases { cases } => {
                if self.state == State::WaitingCases
                    && let NodeKind::LookupCases {
                        case_types,
                        found,
                        none,
                    } = self.kind()
                {
                    let (found, none) = (*found, *none);
                    let cases: Vec<OpenCase> = cases
                        .into_iter()
                        .filter(|c| case_types.is_empty() || case_types.contains(&c.service))
                        .collect();
                    let next = if cases.is_empty() { none } else { found };
                    self.open_cases = Some(cases);
                    self.enter(next, &mut out);
                }
            }
            FlowEvent::CaseUpdated { reference } => {
                if self.state == State::WaitingCase
                    && let NodeKind::Case { next, .. } = self.kind()
                {
                    let next = *next;
                    self.case_ref = Some(reference);
                    self.enter(next, &mut out);
                }
            }
            FlowEvent::Dtmf(key) => {
                if self.state == State::Listening {
                    self.keyed(&key.to_string(), true, &mut out);
                } else if matches!(self.state, State::Playing(_)) && self.last_play_interruptible {
                    // The runtime cut the interruptible prompt for this key (keys always barge
                    // in), so it will never finish: carry on as if it had. The key itself
                    // answers nothing (it was pressed over a prompt that asked nothing).
                    self.prompt_finished(&mut out);
                }
            }
            FlowEvent::Digits(digits) => {
                if self.state == State::Listening {
                    self.keyed(&digits, false, &mut out);
                }
            }
            FlowEvent::NoInput => {
                if self.state == State::Listening {
                    self.miss(Miss::NoInput, &mut out);
                }
            }
            FlowEvent::CaseCreated { reference } => {
                if self.state == State::WaitingCase
                    && let NodeKind::Case { next, .. } = self.kind()
                {
                    let next = *next;
                    self.case_ref = Some(reference);
                    self.enter(next, &mut out);
                }
            }
            FlowEvent::CaseFailed { .. } => {
                if self.state == State::WaitingCase
                    && let NodeKind::Case { on_failure, .. } = self.kind()
                {
                    match *on_failure {
                        Some(n) => self.enter(n, &mut out),
                        None => self.advisor(TransferReason::CaseFailed, None, &mut out),
                    }
                }
            }
            FlowEvent::TransferFailed { .. } => {
                if let State::WaitingTransfer { resume } = self.state {
                    let on_failure = match self.kind() {
                        NodeKind::Transfer { on_failure, .. } if resume.is_none() => *on_failure,
                        _ => None,
                    };
                    match (resume, on_failure) {
                        (Some(ask), _) => self.enter(ask, &mut out),
                        (None, Some(n)) => self.enter(n, &mut out),
                        (None, None) => self.end(&mut out),
                    }
                }
            }
        }
        out
    }

    /// What input is awaited now, if any.
    pub fn expecting(&self) -> Option<Expecting> {
        if self.state != State::Listening {
            return None;
        }
        match self.kind() {
            NodeKind::Ask(a) => Some(Expecting::Ask {
                intents: a.intents.iter().map(|(i, _)| i.clone()).collect(),
                slot: a.slot.clone(),
            }),
            NodeKind::Confirm(_) => Some(Expecting::Confirm),
            NodeKind::Survey { questions, .. } => questions
                .get(self.question)
                .map(|q| Expecting::Survey { max: q.max }),
            _ => None,
        }
    }

    /// Node ids taken, in order (subflow nodes as `site/node`).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    pub fn flow(&self) -> &Arc<CheckedFlow> {
        &self.flow
    }

    /// The id of the current node.
    pub fn current_node(&self) -> &str {
        self.flow.node_name(self.node)
    }

    pub fn slots(&self) -> &BTreeMap<String, SlotCapture> {
        &self.slots
    }

    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    pub fn case_ref(&self) -> Option<&str> {
        self.case_ref.as_deref()
    }

    /// The last case asked for (created or updated).
    pub fn last_case(&self) -> Option<&CaseDraft> {
        self.last_case.as_ref()
    }

    /// The last transfer asked for: queue and context.
    pub fn last_transfer(&self) -> Option<&(String, FlowTransfer)> {
        self.last_transfer.as_ref()
    }

    pub fn survey_answers(&self) -> &BTreeMap<String, u8> {
        &self.survey
    }

    /// The caller's number; `None` when withheld.
    pub fn caller(&self) -> Option<&Pii<String>> {
        self.ctx.caller.as_ref()
    }

    /// The call's date (for relative dates in answers).
    pub fn call_date(&self) -> NaiveDate {
        self.ctx.date
    }

    pub fn is_slow(&self) -> bool {
        self.slow
    }

    pub fn language(&self) -> &str {
        &self.language
    }

    pub fn has_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Every exchange so far: prompt, node, transcript, intent, confidence, keys, slots.
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// The caller's language when it is one the flow has no prompts for (interpreter needed).
    pub fn caller_language(&self) -> Option<&str> {
        self.caller_language.as_deref()
    }

    /// The open case the caller proved is theirs, if any.
    pub fn verified_case(&self) -> Option<&OpenCase> {
        self.verified.as_ref()
    }

    /// Whether the current ask listens for keys only (speech recognition unavailable).
    pub fn keys_only(&self) -> bool {
        self.keys_only
    }

    /// The call record: flow, version, path, outcome facts. Slot values are not included.
    pub fn record(&self) -> Value {
        json!({
            "flow": self.flow.name,
            "flow_version": self.flow.version,
            "path": self.path,
            "intent": self.intent,
            "case_ref": self.case_ref,
            "transfer_queue": self.last_transfer.as_ref().map(|(q, _)| q),
            "survey": self.survey,
            "slow_speech": self.slow,
            "language": self.caller_language.as_ref().unwrap_or(&self.language),
            "interpreter": self.caller_language.is_some(),
            "returning_case": self.verified.as_ref().map(|c| &c.reference),
        })
    }

    // --- moving between nodes -----------------------------------------------------------------

    fn kind(&self) -> &NodeKind {
        kind_at(&self.flow, self.node)
    }

    fn can_interrupt(&self) -> bool {
        !matches!(
            self.state,
            State::NotStarted | State::Ended | State::Playing(AfterPlay::EmergencyTransfer)
        ) && !matches!(self.state, State::WaitingTransfer { .. })
    }

    /// Enters `target` and follows nodes that neither play nor wait.
    fn enter(&mut self, target: NodeId, out: &mut Vec<CallAction>) {
        let mut target = target;
        for _ in 0..MAX_IMMEDIATE_STEPS {
            let flow = Arc::clone(&self.flow);
            let Some(node) = flow.nodes.get(target) else {
                self.end(out);
                return;
            };
            self.node = target;
            self.path.push(node.id.clone());
            self.attempts = 0;
            self.no_input = 0;
            self.no_match = 0;
            self.question = 0;
            self.keys_only = false;
            match &node.kind {
                NodeKind::Say {
                    prompts,
                    barge_in,
                    next,
                } => {
                    let items = self.items(prompts);
                    self.play(items, *barge_in, out);
                    self.state = State::Playing(AfterPlay::Goto(*next));
                    return;
                }
                NodeKind::Ask(a) => {
                    let items = self.items(&a.prompts);
                    self.prompt_and_listen(items, out);
                    return;
                }
                NodeKind::Confirm(c) => {
                    let items = self.items(&c.prompts);
                    self.prompt_and_listen(items, out);
                    return;
                }
                NodeKind::Survey { questions, next } => match questions.first() {
                    Some(q) => {
                        let items = self.items(&q.prompts);
                        self.prompt_and_listen(items, out);
                        return;
                    }
                    None => target = *next,
                },
                NodeKind::Set { assigns, next } => {
                    for (name, template) in assigns {
                        let value = template.render(|v| self.lookup(v, false));
                        self.vars.insert(name.clone(), value);
                    }
                    target = *next;
                }
                NodeKind::Branch { arms, otherwise } => {
                    target = arms
                        .iter()
                        .find(|arm| arm.when.iter().all(|c| self.holds(c)))
                        .map_or(*otherwise, |arm| arm.goto);
                }
                NodeKind::Goto(next) => target = *next,
                NodeKind::Case {
                    case_type,
                    fields,
                    update: true,
                    ..
                } if self
                    .verified
                    .as_ref()
                    .is_some_and(|v| v.service == *case_type) =>
                {
                    // A returning caller's own case: add to it rather than open a duplicate.
                    let reference = self.verified.as_ref().map(|v| v.reference.clone());
                    self.save_case(case_type, fields, reference, out);
                    return;
                }
                NodeKind::Case {
                    case_type, fields, ..
                } => {
                    self.save_case(case_type, fields, None, out);
                    return;
                }
                NodeKind::Transfer {
                    queue, priority, ..
                } => {
                    self.transfer(queue.clone(), *priority, TransferReason::Flow, None, out);
                    return;
                }
                NodeKind::LookupCases { none, .. } => {
                    if self.ctx.caller.is_some() {
                        self.state = State::WaitingCases;
                        out.push(CallAction::FindOpenCases);
                        return;
                    }
                    // A withheld number has no cases to find: a new caller.
                    self.open_cases = Some(Vec::new());
                    target = *none;
                }
                NodeKind::VerifyCase {
                    answers,
                    verified,
                    failed,
                } => {
                    self.verified = self.verify(answers);
                    // Whether it passed is logged; what was compared never is.
                    tracing::info!(
                        node = %node.id,
                        verified = self.verified.is_some(),
                        "returning caller verification"
                    );
                    target = if self.verified.is_some() {
                        *verified
                    } else {
                        *failed
                    };
                }
                NodeKind::Hangup { prompts } => {
                    if prompts.is_empty() {
                        self.end(out);
                    } else {
                        let items = self.items(prompts);
                        self.play(items, false, out);
                        self.state = State::Playing(AfterPlay::Hangup);
                    }
                    return;
                }
            }
        }
        // Only reachable if the checker let an immediate loop through.
        self.end(out);
    }

    fn prompt_finished(&mut self, out: &mut Vec<CallAction>) {
        if let State::Playing(after) = self.state {
            match after {
                AfterPlay::Goto(next) => self.enter(next, out),
                AfterPlay::Hangup => self.end(out),
                AfterPlay::EmergencyTransfer => {
                    let queue = self.flow.settings.emergency_queue.clone();
                    self.transfer(
                        queue,
                        Priority::Emergency,
                        TransferReason::Safeguarding,
                        None,
                        out,
                    );
                }
                AfterPlay::InterpreterTransfer => self.interpreter_transfer(out),
            }
        }
    }

    fn end(&mut self, out: &mut Vec<CallAction>) {
        self.state = State::Ended;
        out.push(CallAction::Hangup);
    }

    // --- input ----------------------------------------------------------------------------------

    fn globals(&self) -> Globals {
        match self.kind() {
            NodeKind::Ask(a) => a.globals,
            NodeKind::Confirm(c) => c.globals,
            // A survey runs after the business is done: no advisor, goodbye just ends it.
            _ => Globals {
                advisor: false,
                repeat: true,
                slower: true,
                goodbye: true,
                language: true,
            },
        }
    }

    fn heard(
        &mut self,
        intent: Option<String>,
        slots: BTreeMap<String, SlotCapture>,
        language: Option<String>,
        out: &mut Vec<CallAction>,
    ) {
        let g = self.globals();
        if g.language
            && let Some(lang) = language
            && lang != self.language
            && self.flow.languages.contains(&lang)
        {
            self.language = lang;
            self.replay(out);
            return;
        }
        if let Some(i) = intent.as_deref()
            && self.global(i, out)
        {
            return;
        }
        // Product rule: the first utterance of a call that matches nothing may be another
        // language; ask the multilingual model before treating it as a no-match.
        if g.language && self.utterances == 1 && intent.is_none() && slots.is_empty() {
            self.state = State::DetectingLanguage;
            out.push(CallAction::DetectLanguage);
            return;
        }
        let flow = Arc::clone(&self.flow);
        match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                if let Some(spec) = &a.slot
                    && let Some(value) = slots.get(&spec.name)
                    && let Some(next) = a.next
                {
                    self.slots.insert(spec.name.clone(), value.clone());
                    self.enter(next, out);
                    return;
                }
                if let Some(i) = intent
                    && let Some((_, target)) = a.intents.iter().find(|(name, _)| *name == i)
                {
                    let target = *target;
                    self.intent = Some(i);
                    self.enter(target, out);
                    return;
                }
                self.miss(Miss::NoMatch, out);
            }
            NodeKind::Confirm(c) => match intent.as_deref() {
                Some("yes") => self.enter(c.yes, out),
                Some("no") => self.enter(c.no, out),
                _ => self.miss(Miss::NoMatch, out),
            },
            NodeKind::Survey { questions, .. } => {
                let max = questions.get(self.question).map_or(5, |q| q.max);
                let answer = slots
                    .values()
                    .find_map(|v| v.json.as_i64())
                    .and_then(|n| u8::try_from(n).ok());
                match answer {
                    Some(n) if (1..=max).contains(&n) => self.survey_answer(n, out),
                    _ => self.miss(Miss::NoMatch, out),
                }
            }
            _ => {}
        }
        drop(flow);
    }

    /// Keys: `single` is one DTMF key (menus), else a collected entry (digit asks).
    fn keyed(&mut self, keys: &str, single: bool, out: &mut Vec<CallAction>) {
        let g = self.globals();
        let entry = keys.trim_end_matches('#');
        // Product rule: in a digit ask, 0 means "advisor" only when pressed alone and
        // followed by the inter-digit timeout, which is exactly a collected entry of "0".
        if entry == "0" && g.advisor {
            self.advisor(TransferReason::CallerPressedZero, Some(self.node), out);
            return;
        }
        if entry == "*" && g.repeat {
            self.replay(out);
            return;
        }
        let flow = Arc::clone(&self.flow);
        match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                if single || a.digits.is_none() {
                    let mut chars = entry.chars();
                    if let (Some(c), None) = (chars.next(), chars.next())
                        && let Some((_, intent)) = a.keys.iter().find(|(k, _)| *k == c)
                    {
                        let intent = intent.clone();
                        if self.global(&intent, out) {
                            return;
                        }
                        if let Some((_, target)) = a.intents.iter().find(|(n, _)| *n == intent) {
                            let target = *target;
                            self.intent = Some(intent);
                            self.enter(target, out);
                            return;
                        }
                    }
                }
                if let Some(spec) = &a.slot
                    && let Some(next) = a.next
                    && let Some(value) = self.keys.parse_keys(spec, entry)
                {
                    if !a.sensitive
                        && let Some(turn) = self.turns.last_mut()
                    {
                        turn.slots = Some(Pii::new(json!({ spec.name.clone(): value.json })));
                    }
                    self.slots.insert(spec.name.clone(), value);
                    self.enter(next, out);
                    return;
                }
                self.miss(Miss::NoMatch, out);
            }
            NodeKind::Confirm(c) => match entry {
                "1" => self.enter(c.yes, out),
                "2" => self.enter(c.no, out),
                _ => self.miss(Miss::NoMatch, out),
            },
            NodeKind::Survey { questions, .. } => {
                let max = questions.get(self.question).map_or(5, |q| q.max);
                match entry.parse::<u8>() {
                    Ok(n) if (1..=max).contains(&n) => self.survey_answer(n, out),
                    _ => self.miss(Miss::NoMatch, out),
                }
            }
            _ => {}
        }
        drop(flow);
    }

    /// Runs a global handler for `intent` if one is live here. True when handled.
    fn global(&mut self, intent: &str, out: &mut Vec<CallAction>) -> bool {
        let g = self.globals();
        match intent {
            "safeguarding" => self.emergency(out),
            "speak_to_advisor" if g.advisor => {
                self.intent = Some(intent.to_string());
                self.advisor(TransferReason::CallerAsked, Some(self.node), out);
            }
            "repeat" if g.repeat => self.replay(out),
            "slower" if g.slower => {
                self.slow = true;
                out.push(CallAction::SetSlowSpeech(true));
                self.replay(out);
            }
            "goodbye" if g.goodbye => {
                let in_survey = matches!(self.kind(), NodeKind::Survey { .. });
                match (in_survey, self.kind(), self.flow.settings.goodbye) {
                    (true, NodeKind::Survey { next, .. }, _) => {
                        let next = *next;
                        self.enter(next, out);
                    }
                    (_, _, Some(survey)) => self.enter(survey, out),
                    _ => self.end(out),
                }
            }
            _ => return false,
        }
        true
    }

    fn miss(&mut self, miss: Miss, out: &mut Vec<CallAction>) {
        self.attempts += 1;
        let flow = Arc::clone(&self.flow);
        let (max, fallback, steps, prompts) = match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                let steps = if miss == Miss::NoInput {
                    &a.no_input
                } else {
                    &a.no_match
                };
                (
                    a.max_attempts,
                    a.fallback,
                    steps.as_slice(),
                    a.prompts.as_slice(),
                )
            }
            NodeKind::Confirm(c) => (c.max_attempts, c.fallback, &[][..], c.prompts.as_slice()),
            NodeKind::Survey { questions, .. } => {
                let q = questions.get(self.question);
                (
                    flow.settings.max_attempts,
                    None,
                    &[][..],
                    q.map_or(&[][..], |q| q.prompts.as_slice()),
                )
            }
            _ => return,
        };
        if self.attempts >= max {
            if matches!(kind_at(&flow, self.node), NodeKind::Survey { .. }) {
                self.next_question(out);
            } else if let Some(node) = fallback {
                self.enter(node, out);
            } else {
                // Default: after max attempts, the advisor queue (a caller can always reach a person).
                self.advisor(TransferReason::MaxAttempts, None, out);
            }
            return;
        }
        let count = if miss == Miss::NoInput {
            self.no_input += 1;
            self.no_input
        } else {
            self.no_match += 1;
            self.no_match
        };
        // Escalating reprompts: the n-th miss of a kind plays the n-th reprompt, the last repeats.
        let reprompt = steps
            .get(count - 1)
            .or(steps.last())
            .map_or(prompts, Vec::as_slice);
        let items = if self.keys_only {
            self.keys_items()
        } else {
            self.items(reprompt)
        };
        self.prompt_and_listen(items, out);
    }

    fn survey_answer(&mut self, n: u8, out: &mut Vec<CallAction>) {
        if let NodeKind::Survey { questions, .. } = self.kind()
            && let Some(q) = questions.get(self.question)
        {
            let name = q.name.clone();
            self.survey.insert(name, n);
        }
        self.next_question(out);
    }

    fn next_question(&mut self, out: &mut Vec<CallAction>) {
        let flow = Arc::clone(&self.flow);
        if let NodeKind::Survey { questions, next } = kind_at(&flow, self.node) {
            self.question += 1;
            self.attempts = 0;
            self.no_input = 0;
            self.no_match = 0;
            match questions.get(self.question) {
                Some(q) => {
                    let items = self.items(&q.prompts);
                    self.prompt_and_listen(items, out);
                }
                None => {
                    let next = *next;
                    self.enter(next, out);
                }
            }
        }
        drop(flow);
    }

    /// Speech recognition is saturated: this ask goes on by keypad, or to its fallback when it
    /// has no key path (it falls back to DTMF options).
    fn speech_unavailable(&mut self, out: &mut Vec<CallAction>) {
        let flow = Arc::clone(&self.flow);
        let keyable = match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                !a.keys.is_empty() || a.slot.as_ref().is_some_and(|s| s.kind.keyable())
            }
            NodeKind::Confirm(_) | NodeKind::Survey { .. } => true,
            _ => return,
        };
        tracing::info!(node = %self.flow.node_name(self.node), keyable, "speech unavailable: keypad fallback");
        out.push(CallAction::StopPlayback);
        if !keyable {
            match kind_at(&flow, self.node) {
                NodeKind::Ask(a) if a.fallback.is_some() => {
                    if let Some(n) = a.fallback {
                        self.enter(n, out);
                    }
                }
                _ => self.advisor(TransferReason::SpeechUnavailable, None, out),
            }
            return;
        }
        self.keys_only = true;
        let items = self.keys_items();
        self.prompt_and_listen(items, out);
    }

    /// The keypad version of the current question: the ask's `keys_prompt`, or one generated
    /// from its keys or slot type.
    fn keys_items(&self) -> Vec<PlayItem> {
        let lang = Some(self.language.clone());
        let text = match self.kind() {
            NodeKind::Ask(a) if !a.keys_prompt.is_empty() => return self.items(&a.keys_prompt),
            NodeKind::Ask(a) => {
                let enum_values: Vec<&str> = match a.slot.as_ref().map(|s| &s.kind) {
                    Some(SlotKind::Enum(name)) => {
                        self.flow.enums.get(name).map_or(Vec::new(), |e| {
                            e.values.iter().map(|(v, _)| v.as_str()).collect()
                        })
                    }
                    _ => Vec::new(),
                };
                keypad::ask_text(a, &enum_values)
            }
            NodeKind::Confirm(c) => keypad::yes_no_text(c.globals.advisor),
            NodeKind::Survey { questions, .. } => {
                keypad::survey_text(questions.get(self.question).map_or(5, |q| q.max))
            }
            _ => return self.last_play.clone(),
        };
        vec![PlayItem::Text { text, lang }]
    }

    fn language_detected(
        &mut self,
        language: Option<String>,
        probability: f32,
        out: &mut Vec<CallAction>,
    ) {
        let min = self.flow.settings.language_min_probability;
        match language {
            Some(lang) if probability >= min && lang != self.language => {
                tracing::info!(language = %lang, probability, "caller language detected");
                if self.flow.languages.contains(&lang) {
                    self.language = lang;
                    self.replay(out);
                } else {
                    self.caller_language = Some(lang);
                    self.offer_interpreter(out);
                }
            }
            _ => self.miss(Miss::NoMatch, out),
        }
    }

    /// The flow has no prompts in the caller's language: tell them, in it when the prompt has
    /// a text in it, that an advisor with an interpreter is coming, then hand them over.
    fn offer_interpreter(&mut self, out: &mut Vec<CallAction>) {
        let Some(name) = self.flow.settings.interpreter_prompt.clone() else {
            self.interpreter_transfer(out);
            return;
        };
        let lang = self.caller_language.clone().unwrap_or_default();
        let item = match self.flow.prompt_texts.get(&(lang.clone(), name.clone())) {
            // Synthesised in the caller's language (espeak-ng has pl, ro, lt voices).
            Some(text) => PlayItem::Text {
                text: text.clone(),
                lang: Some(lang),
            },
            None => PlayItem::Prompt {
                name,
                lang: Some(self.language.clone()),
            },
        };
        out.push(CallAction::StopPlayback);
        self.play(vec![item], false, out);
        self.state = State::Playing(AfterPlay::InterpreterTransfer);
    }

    fn interpreter_transfer(&mut self, out: &mut Vec<CallAction>) {
        let queue = self.flow.settings.interpreter_queue.clone();
        let resume = match self.kind() {
            NodeKind::Ask(_) | NodeKind::Confirm(_) | NodeKind::Survey { .. } => Some(self.node),
            _ => None,
        };
        self.transfer(
            queue,
            Priority::Normal,
            TransferReason::Interpreter,
            resume,
            out,
        );
    }

    /// The open case whose fields match every answer the caller gave, if any.
    fn verify(&self, answers: &[String]) -> Option<OpenCase> {
        let given: Vec<(&str, String)> = answers
            .iter()
            .filter_map(|a| self.slots.get(a).map(|v| (a.as_str(), v.canonical())))
            .collect();
        if given.len() != answers.len() {
            return None;
        }
        let pairs: Vec<(&str, &str)> = given.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.open_cases
            .iter()
            .flatten()
            .find(|c| c.matches_caller_answers(&pairs))
            .cloned()
    }

    /// Records an exchange: what was asked, and what the caller said or keyed. Sensitive asks
    /// keep only the fact of the answer (no words, keys or values).
    fn record_turn(&mut self, event: &FlowEvent) {
        let safeguarding =
            matches!(event, FlowEvent::Heard { intent: Some(i), .. } if i == "safeguarding");
        if self.state != State::Listening && !(safeguarding && self.can_interrupt()) {
            return;
        }
        let sensitive = matches!(self.kind(), NodeKind::Ask(a) if a.sensitive);
        let mut turn = Turn {
            prompt: self.asked.clone(),
            node: self.flow.node_name(self.node).to_string(),
            language: Some(self.language.clone()),
            ..Turn::default()
        };
        match event {
            FlowEvent::Heard {
                text,
                intent,
                confidence,
                slots,
                ..
            } => {
                turn.intent = intent.clone();
                turn.confidence = Some(*confidence);
                if !sensitive {
                    turn.transcript = Some(text.clone());
                    if !slots.is_empty() {
                        let map: serde_json::Map<String, Value> = slots
                            .iter()
                            .map(|(k, v)| (k.clone(), v.json.clone()))
                            .collect();
                        turn.slots = Some(Pii::new(Value::Object(map)));
                    }
                }
            }
            FlowEvent::Dtmf(c) => {
                turn.dtmf = (!sensitive).then(|| c.to_string());
            }
            FlowEvent::Digits(d) => {
                turn.dtmf = (!sensitive).then(|| d.clone());
            }
            FlowEvent::NoInput => {}
            _ => return,
        }
        self.turns.push(turn);
    }

    // --- hand-overs --------------------------------------------------------------------------

    fn emergency(&mut self, out: &mut Vec<CallAction>) {
        out.push(CallAction::StopPlayback);
        let items = self.items(&self.flow.settings.emergency_prompt.clone());
        self.play(items, false, out);
        self.state = State::Playing(AfterPlay::EmergencyTransfer);
    }

    fn advisor(
        &mut self,
        reason: TransferReason,
        resume: Option<NodeId>,
        out: &mut Vec<CallAction>,
    ) {
        let queue = self.flow.settings.advisor_queue.clone();
        self.transfer(queue, Priority::Normal, reason, resume, out);
    }

    fn transfer(
        &mut self,
        queue: String,
        priority: Priority,
        reason: TransferReason,
        resume: Option<NodeId>,
        out: &mut Vec<CallAction>,
    ) {
        let context = FlowTransfer {
            flow_name: self.flow.name.clone(),
            flow_version: self.flow.version.clone(),
            reason,
            priority: match priority {
                Priority::Normal => TransferPriority::Normal,
                Priority::Urgent => TransferPriority::Urgent,
                Priority::Emergency => TransferPriority::Emergency,
            },
            intent: self.intent.clone(),
            slots: self
                .slots
                .iter()
                .map(|(name, v)| v.field(name.clone()))
                .collect(),
            case_ref: self.case_ref.clone(),
            returning_case: self.verified.as_ref().map(|c| c.reference.clone()),
            language: self
                .caller_language
                .clone()
                .unwrap_or_else(|| self.language.clone()),
            interpreter: self.caller_language.is_some(),
            accessibility: self.accessibility(),
            node: self.flow.node_name(self.node).to_string(),
        };
        self.last_transfer = Some((queue.clone(), context.clone()));
        self.state = State::WaitingTransfer { resume };
        out.push(CallAction::Transfer {
            queue,
            context: TransferContext::Flow(context),
        });
    }

    // --- prompts ---------------------------------------------------------------------------------

    fn prompt_and_listen(&mut self, items: Vec<PlayItem>, out: &mut Vec<CallAction>) {
        self.asked = items
            .iter()
            .find_map(|i| match i {
                PlayItem::Prompt { name, .. } => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| self.flow.node_name(self.node).to_string());
        self.play(items, true, out);
        out.push(CallAction::Listen(self.listen_spec()));
        self.state = State::Listening;
    }

    /// Asks for a case of `case_type` with the node's `fields`: a new one, or an addition to
    /// the returning caller's case `update_of`. Besides the fields it carries what an advisor
    /// or the CRM would otherwise have to ask again: the intent that led here, the caller's
    /// language, the accessibility needs they showed, and what they said (the last few
    /// transcripts of asks that were not sensitive).
    fn save_case(
        &mut self,
        case_type: &str,
        fields: &[(String, Template)],
        update_of: Option<String>,
        out: &mut Vec<CallAction>,
    ) {
        /// Enough of the conversation to see what the caller wanted, not the whole call.
        const EXCERPTS: usize = 5;
        let said: Vec<&Pii<String>> = self
            .turns
            .iter()
            .filter_map(|t| t.transcript.as_ref())
            .filter(|t| !t.expose().trim().is_empty())
            .collect();
        let excerpts = &said[said.len().saturating_sub(EXCERPTS)..];
        let draft = CaseDraft {
            service: case_type.to_string(),
            intent: self.intent.clone(),
            flow_name: self.flow.name.clone(),
            flow_version: self.flow.version.clone(),
            language: self.language.clone(),
            accessibility: self.accessibility(),
            transcript_excerpts: excerpts.iter().map(|t| (*t).clone()).collect(),
            update_of,
            fields: fields
                .iter()
                .map(|(name, template)| self.field(name, template))
                .collect(),
        };
        self.last_case = Some(draft.clone());
        self.state = State::WaitingCase;
        out.push(CallAction::SaveCase(draft));
    }

    fn accessibility(&self) -> Accessibility {
        Accessibility {
            slow_speech: self.slow,
        }
    }

    fn play(&mut self, items: Vec<PlayItem>, barge_in: bool, out: &mut Vec<CallAction>) {
        self.last_play = items.clone();
        self.last_play_interruptible = barge_in;
        out.push(CallAction::Play { items, barge_in });
    }

    fn replay(&mut self, out: &mut Vec<CallAction>) {
        // Re-render so a language switch takes effect; fall back to what was played last.
        let flow = Arc::clone(&self.flow);
        let items = match self.kind() {
            _ if self.keys_only => self.keys_items(),
            NodeKind::Ask(a) => self.items(&a.prompts),
            NodeKind::Confirm(c) => self.items(&c.prompts),
            NodeKind::Survey { questions, .. } => questions
                .get(self.question)
                .map_or_else(|| self.last_play.clone(), |q| self.items(&q.prompts)),
            _ => self.last_play.clone(),
        };
        drop(flow);
        self.prompt_and_listen(items, out);
    }

    fn listen_spec(&self) -> ListenSpec {
        let s = &self.flow.settings;
        let mut spec = ListenSpec {
            no_input_timeout: s.no_input_timeout,
            end_of_speech: s.end_of_speech,
            max_utterance: s.max_utterance,
            max_digits: 1,
            inter_digit_timeout: s.inter_digit_timeout,
            terminators: String::new(),
            hints: Vec::new(),
            speech: !self.keys_only,
        };
        if let NodeKind::Ask(a) = self.kind() {
            spec.no_input_timeout = a.no_input_timeout;
            spec.end_of_speech = a.end_of_speech;
            if let Some(d) = &a.digits {
                spec.max_digits = d.max_digits;
                spec.terminators = d.terminator.map(String::from).unwrap_or_default();
            }
            for (intent, _) in &a.intents {
                if let Some(i) = self.flow.intents.iter().find(|i| &i.name == intent) {
                    spec.hints
                        .extend(i.keywords.iter().take(HINTS_PER_INTENT).cloned());
                }
            }
        }
        // A caller who asked us to slow down gets longer to answer too: twice the silence
        // before their answer counts as finished, half as long again before no input.
        if self.slow {
            spec.end_of_speech = spec.end_of_speech.saturating_mul(2);
            spec.no_input_timeout = spec.no_input_timeout.saturating_mul(3) / 2;
        }
        // Then what the caller may say at any question: single words such as "operator" or
        // "nope" are hard for a small model without a hint, and they matter most. Not at a
        // question for a value (postcode, number, date): there the hint words are what Whisper
        // hears instead of the letters and digits ("RM16, too fast").
        let asks_value = matches!(self.kind(), NodeKind::Ask(a) if a.slot.is_some());
        if asks_value {
            return spec;
        }
        let g = self.globals();
        let mut also: Vec<&str> = Vec::new();
        if matches!(self.kind(), NodeKind::Confirm(_)) {
            also.extend(["yes", "no"]);
        }
        for (on, intent) in [
            (g.advisor, "speak_to_advisor"),
            (g.repeat, "repeat"),
            (g.slower, "slower"),
            (g.goodbye, "goodbye"),
        ] {
            if on {
                also.push(intent);
            }
        }
        for name in also {
            if let Some(i) = self.flow.intents.iter().find(|i| i.name == name) {
                spec.hints
                    .extend(i.keywords.iter().take(HINTS_PER_INTENT).cloned());
            }
        }
        spec
    }

    fn items(&self, prompts: &[PromptRef]) -> Vec<PlayItem> {
        let lang = Some(self.language.clone());
        prompts
            .iter()
            .map(|p| match p {
                PromptRef::Named(name) => PlayItem::Prompt {
                    name: name.clone(),
                    lang: lang.clone(),
                },
                PromptRef::Text(by_lang) => {
                    let template = by_lang
                        .get(&self.language)
                        .or_else(|| by_lang.get(self.flow.default_language()))
                        .or_else(|| by_lang.values().next());
                    let text = template
                        .map(|t| t.render(|v| self.lookup(v, true)))
                        .unwrap_or_default();
                    PlayItem::Text {
                        text,
                        lang: lang.clone(),
                    }
                }
            })
            .collect()
    }

    /// A variable's value: read-back form for prompts (`spoken`), canonical form otherwise.
    fn lookup(&self, var: &str, spoken: bool) -> Option<String> {
        if let Some(slot) = var.strip_prefix("slots.") {
            return self.slots.get(slot).map(|v| {
                if spoken {
                    v.spoken.clone()
                } else {
                    v.canonical()
                }
            });
        }
        if let Some(q) = var.strip_prefix("survey.") {
            return self.survey.get(q).map(u8::to_string);
        }
        if let Some(what) = var.strip_prefix("open_case.") {
            // Unset until the caller has proved the case is theirs.
            let case = self.verified.as_ref()?;
            return match what {
                "ref" => Some(case.reference.clone()),
                "service" => Some(case.service.replace('_', " ")),
                "reported" => Some(reported_when(case, self.ctx.date)),
                _ => None,
            };
        }
        match var {
            "caller.open_cases" => self.open_cases.as_ref().map(|c| c.len().to_string()),
            "case.ref" => self.case_ref.clone(),
            "caller.number" => self.ctx.caller.as_ref().map(|c| c.expose().clone()),
            "caller.withheld" => Some(self.ctx.caller.is_none().to_string()),
            "language" => Some(self.language.clone()),
            "intent" => self.intent.clone(),
            "date" => Some(self.ctx.date.format("%Y-%m-%d").to_string()),
            "time" => Some(self.ctx.time.format("%H:%M").to_string()),
            "flow.name" => Some(self.flow.name.clone()),
            other => self.vars.get(other).cloned(),
        }
    }

    /// A case field: a lone slot keeps its value and type; anything else is rendered text.
    fn field(&self, name: &str, template: &Template) -> CaseField {
        if let [TemplatePart::Var(var)] = template.parts.as_slice()
            && let Some(slot) = var.strip_prefix("slots.")
            && let Some(v) = self.slots.get(slot)
        {
            return v.field(name.to_string());
        }
        let text = template.render(|v| self.lookup(v, false));
        CaseField::new(name, FieldType::Text, Value::String(text))
    }

    fn holds(&self, c: &Condition) -> bool {
        match c {
            Condition::Equals { var, value } => {
                self.lookup(var, false).as_deref() == Some(value.as_str())
            }
            Condition::NotEquals { var, value } => {
                self.lookup(var, false).as_deref() != Some(value.as_str())
            }
            Condition::In { var, values } => {
                self.lookup(var, false).is_some_and(|v| values.contains(&v))
            }
            Condition::IsSet { var, set } => self.lookup(var, false).is_some() == *set,
            Condition::Open(want) => {
                self.flow
                    .hours
                    .is_open(self.ctx.date, self.ctx.time, &self.flow.bank_holidays)
                    == *want
            }
            Condition::BankHoliday(want) => {
                self.flow.bank_holidays.contains(&self.ctx.date) == *want
            }
            Condition::CallerWithheld(want) => self.ctx.caller.is_none() == *want,
        }
    }
}

/// When a case was reported, relative to the call date, as a prompt reads it: "today",
/// "yesterday", "on Tuesday" within the last week, else "on 3 November".
fn reported_when(case: &OpenCase, call_date: NaiveDate) -> String {
    let reported = case.created_at.with_timezone(&Local).date_naive();
    match (call_date - reported).num_days() {
        ..=0 => "today".to_string(),
        1 => "yesterday".to_string(),
        2..=6 => format!("on {}", reported.format("%A")),
        _ => format!("on {} {}", reported.day(), reported.format("%B")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::catalog::PromptCatalog;
    use crate::flow::check::check;
    use crate::flow::understand::Understanding;

    const FLOW: &str = r#"
flow: unit
languages: [en, cy]
start: greet
intents:
  "yes": {examples: ["yes"], keywords: ["yes"]}
  "no": {examples: ["no"], keywords: ["no"]}
nodes:
  greet:
    say: {text: {en: "Hello", cy: "Helo"}}
    next: remember
  remember:
    set: {topic: "bins"}
    next: route
  route:
    branch:
      - when: {var: vars.topic, equals: bins}
        goto: count
    else: bye
  count:
    ask: {text: {en: "How many? Press 0 on its own for someone.", cy: "Faint? 0 am rywun."}}
    slot: {name: count, type: number}
    next: check
  check:
    confirm: {text: {en: "You said {slots.count}?", cy: "{slots.count}?"}}
    "yes": bye
    "no": count
  bye:
    hangup: {text: {en: "Bye {vars.topic}", cy: "Hwyl"}}
"#;

    /// An interpreter for `yaml` on Thursday 2026-11-26 at 10:00, caller withheld.
    fn interpreter(name: &str, yaml: &str) -> (Interpreter, Arc<Understanding>) {
        let (flow, d) = check(std::path::Path::new(name), yaml, &PromptCatalog::default());
        let flow = Arc::new(flow.unwrap_or_else(|| panic!("{d}")));
        let u = Arc::new(Understanding::new(&flow).unwrap());
        let ctx = CallContext {
            date: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            time: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            caller: None,
            dialled: String::new(),
        };
        (Interpreter::new(flow, u.clone(), ctx), u)
    }

    fn start() -> (Interpreter, Arc<Understanding>, Vec<CallAction>) {
        let (mut i, u) = interpreter("unit.yaml", FLOW);
        let out = i.handle(FlowEvent::Started, Instant::now());
        (i, u, out)
    }

    fn texts(actions: &[CallAction]) -> Vec<String> {
        actions
            .iter()
            .flat_map(|a| match a {
                CallAction::Play { items, .. } => items.clone(),
                _ => Vec::new(),
            })
            .filter_map(|i| match i {
                PlayItem::Text { text, .. } => Some(text),
                _ => None,
            })
            .collect()
    }

    fn heard(i: &Interpreter, u: &Understanding, text: &str, lang: Option<&str>) -> FlowEvent {
        u.understand(
            i.expecting().as_ref(),
            text,
            i.call_date(),
            lang.map(str::to_string),
        )
    }

    #[test]
    fn say_set_branch_ask_confirm_hangup() {
        let (mut i, u, out) = start();
        assert_eq!(texts(&out), ["Hello"]);
        let now = Instant::now();
        let out = i.handle(FlowEvent::PromptFinished, now);
        assert_eq!(texts(&out), ["How many? Press 0 on its own for someone."]);
        assert_eq!(i.path(), ["greet", "remember", "route", "count"]);
        let e = heard(&i, &u, "twelve", None);
        let out = i.handle(e, now);
        assert_eq!(texts(&out), ["You said 12?"]);
        let out = i.handle(FlowEvent::Dtmf('1'), now);
        assert_eq!(texts(&out), ["Bye bins"]);
        assert_eq!(
            i.handle(FlowEvent::PromptFinished, now),
            vec![CallAction::Hangup]
        );
        assert!(i.has_ended());
        assert!(
            i.handle(FlowEvent::Started, now).is_empty(),
            "nothing after the end"
        );
    }

    fn listen_of(actions: &[CallAction]) -> Option<ListenSpec> {
        actions.iter().find_map(|a| match a {
            CallAction::Listen(spec) => Some(spec.clone()),
            _ => None,
        })
    }

    #[test]
    fn spoken_values_wait_longer_for_the_end_of_speech_than_open_questions() {
        let (mut i, u, _) = start();
        let now = Instant::now();
        // `count` asks for a number: callers read numbers in groups, so the long silence.
        let out = i.handle(FlowEvent::PromptFinished, now);
        let spec = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(spec.end_of_speech, std::time::Duration::from_millis(1000));
        // No hint words at a question for a value: Whisper would hear them instead of digits.
        assert!(spec.hints.is_empty(), "{:?}", spec.hints);
        // The yes/no confirm is an open question: the short one.
        let e = heard(&i, &u, "twelve", None);
        let out = i.handle(e, now);
        let spec = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(spec.end_of_speech, std::time::Duration::from_millis(350));
        assert!(spec.hints.iter().any(|h| h == "yes"), "{:?}", spec.hints);
    }

    /// A menu with an intent that creates a case, and the `slower` global.
    const CASE_FLOW: &str = r#"
flow: cases
start: menu
intents:
  missed_bin: {examples: ["my bin was not collected"], keywords: [bin]}
  slower: {examples: ["could you speak more slowly"], keywords: [slowly]}
nodes:
  menu:
    ask: {text: "What is it about? Press 1 for bins, 0 for someone."}
    intents: {missed_bin: record}
    keys: {"1": missed_bin}
  record:
    case: {type: missed_bin, fields: {note: "x"}}
    next: bye
  bye:
    hangup: {text: "Bye"}
"#;

    #[test]
    fn a_caller_who_asked_for_slower_speech_gets_longer_to_answer() {
        let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
        let now = Instant::now();
        // The question plays and is listened to at once (barge-in).
        let out = i.handle(FlowEvent::Started, now);
        let before = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(before.end_of_speech, std::time::Duration::from_millis(350));
        let e = heard(&i, &u, "could you speak more slowly", None);
        let out = i.handle(e, now);
        assert!(i.is_slow());
        // The question is asked again, slower, and the caller has longer to answer.
        let after = listen_of(&out).unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(after.end_of_speech, before.end_of_speech * 2);
        assert_eq!(after.no_input_timeout, before.no_input_timeout * 3 / 2);
    }

    /// The English model's words for a first answer the language check heard as another
    /// language: a clear intent is English misheard as foreign and goes on; anything weaker
    /// goes to the language question (interpreter offer), as a foreign answer must.
    #[test]
    fn english_words_tagged_with_another_language_need_a_clear_intent() {
        let tagged = |i: &Interpreter, u: &Understanding, text: &str| match heard(i, u, text, None)
        {
            FlowEvent::Heard {
                text,
                intent,
                confidence,
                slots,
                top,
                ..
            } => FlowEvent::Heard {
                text,
                intent,
                confidence,
                slots,
                language: Some("zh".into()),
                top,
            },
            other => panic!("{other:?}"),
        };
        let now = Instant::now();
        let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
        i.handle(FlowEvent::Started, now);
        let e = tagged(&i, &u, "my bin was not collected");
        let out = i.handle(e, now);
        assert!(
            out.iter().any(|a| matches!(a, CallAction::SaveCase(_))),
            "{out:?}"
        );

        // A global intent, however sure, is no evidence against the other language.
        let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
        i.handle(FlowEvent::Started, now);
        let e = tagged(&i, &u, "could you speak more slowly");
        let out = i.handle(e, now);
        assert_eq!(out, [CallAction::DetectLanguage]);

        let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
        i.handle(FlowEvent::Started, now);
        // An intent in English (0.50 here), but not clearly enough for words in another language.
        let e = tagged(&i, &u, "it was collected on monday");
        assert!(
            matches!(
                &e,
                FlowEvent::Heard {
                    intent: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
        let out = i.handle(e, now);
        assert_eq!(out, [CallAction::DetectLanguage]);
    }

    #[test]
    fn a_case_carries_intent_language_accessibility_and_what_was_said() {
        let (mut i, u) = interpreter("cases.yaml", CASE_FLOW);
        let now = Instant::now();
        i.handle(FlowEvent::Started, now);
        i.handle(FlowEvent::PromptFinished, now);
        let e = heard(&i, &u, "could you speak more slowly", None);
        i.handle(e, now);
        i.handle(FlowEvent::PromptFinished, now);
        let e = heard(&i, &u, "my bin was not collected", None);
        let out = i.handle(e, now);
        let case = out
            .iter()
            .find_map(|a| match a {
                CallAction::SaveCase(case) => Some(case.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(case.service, "missed_bin");
        assert_eq!(case.intent.as_deref(), Some("missed_bin"));
        assert_eq!(case.language, "en");
        assert_eq!(case.accessibility.flags(), ["slow_speech"]);
        let excerpts: Vec<&str> = case
            .transcript_excerpts
            .iter()
            .map(|t| t.expose().as_str())
            .collect();
        assert_eq!(
            excerpts,
            ["could you speak more slowly", "my bin was not collected"]
        );
        assert_eq!(case.update_of, None);
        assert_eq!(
            case.fields,
            [CaseField::new("note", FieldType::Text, json!("x"))]
        );
    }

    /// Case fields named like what describes a case, one of them a captured postcode.
    const NAMED_FIELDS_FLOW: &str = r#"
flow: named
start: postcode
intents:
  missed_bin: {examples: ["my bin was not collected"], keywords: [bin]}
nodes:
  postcode:
    ask: {text: "Your postcode?"}
    slot: {name: postcode, type: uk_postcode}
    next: menu
    fallback: bye
  menu:
    ask: {text: "What is it about? Press 1 for bins."}
    intents: {missed_bin: record}
    keys: {"1": missed_bin}
  record:
    case:
      type: missed_bin
      fields: {intent: "designer's", language: "{slots.postcode}", type: "kerbside", flow: "x"}
    next: bye
  bye:
    hangup: {text: "Bye"}
"#;

    #[test]
    fn case_fields_may_be_named_anything_and_stay_fields() {
        let (mut i, u) = interpreter("named.yaml", NAMED_FIELDS_FLOW);
        let now = Instant::now();
        i.handle(FlowEvent::Started, now);
        let e = heard(&i, &u, "RM17 6SL", None);
        i.handle(e, now);
        let e = heard(&i, &u, "my bin was not collected", None);
        let out = i.handle(e, now);
        let case = out
            .iter()
            .find_map(|a| match a {
                CallAction::SaveCase(case) => Some(case.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(case.service, "missed_bin");
        assert_eq!(case.intent.as_deref(), Some("missed_bin"));
        assert_eq!(case.language, "en");
        assert_eq!(case.flow_name, "named");
        let names: Vec<&str> = case.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["intent", "language", "type", "flow"]);
        assert_eq!(case.fields[0].value.expose(), &json!("designer's"));
        // The postcode keeps its slot's type, and with it the wrapping of personal data.
        assert_eq!(case.fields[1].kind, FieldType::UkPostcode);
        assert!(matches!(
            &case.fields[1].value,
            crate::handler::FieldValue::Personal(p) if p.expose() == &json!("RM17 6SL")
        ));
        assert_eq!(case.fields[2].value.expose(), &json!("kerbside"));
    }

    #[test]
    fn a_key_over_an_interruptible_say_moves_on_instead_of_waiting_forever() {
        // The runtime stops an interruptible prompt for any key and never reports it finished
        // (a `#` left over from digit entry used to leave the call stuck in the read-back).
        let (mut i, _, out) = start();
        assert!(matches!(&out[0], CallAction::Play { barge_in: true, .. }));
        let out = i.handle(FlowEvent::Dtmf('#'), Instant::now());
        assert_eq!(texts(&out), ["How many? Press 0 on its own for someone."]);
        assert_eq!(i.current_node(), "count");
    }

    #[test]
    fn speaking_another_declared_language_switches_and_repeats() {
        let (mut i, u, _) = start();
        let now = Instant::now();
        i.handle(FlowEvent::PromptFinished, now);
        let e = heard(&i, &u, "dim diolch", Some("cy"));
        let out = i.handle(e, now);
        assert_eq!(texts(&out), ["Faint? 0 am rywun."]);
        assert_eq!(i.language(), "cy");
    }

    #[test]
    fn safeguarding_interrupts_a_say_and_transfers_at_top_priority() {
        let (mut i, u, _) = start();
        let now = Instant::now();
        let e = heard(&i, &u, "I am in danger", None);
        let out = i.handle(e, now);
        assert_eq!(out[0], CallAction::StopPlayback);
        let out = i.handle(FlowEvent::PromptFinished, now);
        assert!(
            matches!(&out[0], CallAction::Transfer { queue, context } if queue == "safeguarding" && matches!(context, TransferContext::Flow(f) if f.priority == TransferPriority::Emergency)),
            "{out:?}"
        );
    }

    #[test]
    fn digits_other_than_zero_alone_are_values_and_no_input_reprompts() {
        let (mut i, _, _) = start();
        let now = Instant::now();
        i.handle(FlowEvent::PromptFinished, now);
        let out = i.handle(FlowEvent::NoInput, now);
        assert_eq!(texts(&out), ["How many? Press 0 on its own for someone."]);
        let out = i.handle(FlowEvent::Digits("03#".into()), now);
        assert_eq!(texts(&out), ["You said 3?"]);
        let out = i.handle(FlowEvent::Dtmf('2'), now);
        assert_eq!(i.current_node(), "count", "{out:?}");
        let out = i.handle(FlowEvent::Digits("0".into()), now);
        assert!(
            matches!(&out[0], CallAction::Transfer { queue, .. } if queue == "advisors"),
            "{out:?}"
        );
    }
}
