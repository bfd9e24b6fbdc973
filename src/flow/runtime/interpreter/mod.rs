//! The per-call interpreter: a sans-IO state machine over a [`CheckedFlow`]. Events in
//! ([`FlowEvent`]), actions out ([`CallAction`]); it never sleeps, reads a socket or a file.
//! Timers (no-input, inter-digit) belong to the runtime, which is told them by `Listen`.
//!
//! Owns: the current node, attempts, captured slots, variables, the "slower" flag, the path of
//! nodes taken. Must not touch: audio, SIP, the case store (it asks for a case and waits).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, NaiveTime};
use serde_json::{Value, json};

use super::capture::{KeyReader, SlotCapture};
use super::keypad;
use crate::flow::language::global_intent::GlobalIntent;
use crate::flow::model::*;
use crate::handler::{
    Accessibility, CallAction, CaseDraft, CaseField, FieldType, FlowTransfer, ListenSpec, OpenCase,
    PlayItem, TransferContext, TransferPriority, TransferReason, Turn,
};
use crate::pii::Pii;

mod clarify;
mod events;
mod handover;
mod input;
mod nodes;
mod prompts;
#[cfg(test)]
mod tests;

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
    /// A clarifying question ("did you mean"): yes, no, or one of the intents it named.
    Clarify { intents: Vec<String> },
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
    /// Playing a say/hangup/emergency message: what to do when it finishes, and whether the
    /// caller may cut it short.
    Playing {
        after: AfterPlay,
        interruptible: bool,
    },
    /// Waiting for the answer to a question.
    Listening(Question),
    /// Waiting for the caller's open cases (`lookup_cases`).
    WaitingCases,
    /// The first utterance matched nothing: waiting to hear which language it was in, then
    /// back to the question.
    DetectingLanguage(Question),
    WaitingCase,
    WaitingTransfer {
        resume: Option<NodeId>,
    },
    Ended,
}

/// How far the caller has got with the question asked (an ask, a confirm, or the survey's
/// questions one after another).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Question {
    /// Failed attempts at it so far.
    attempts: u32,
    /// Misses of each kind, which choose the escalating reprompt.
    no_input: usize,
    no_match: usize,
    /// Which of a survey node's questions.
    survey: usize,
    /// Speech recognition is unavailable: keys only.
    keys_only: bool,
    /// A clarifying question has been asked about it (at most one per question).
    clarified: bool,
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

/// Whether the intent heard is safeguarding, which may cut into anything (product rule).
fn is_safeguarding(intent: &str) -> bool {
    GlobalIntent::from_name(intent) == Some(GlobalIntent::Safeguarding)
}

/// One call's run through a flow.
pub struct Interpreter {
    flow: Arc<CheckedFlow>,
    keys: Arc<dyn KeyReader>,
    ctx: CallContext,
    state: State,
    node: NodeId,
    last_play: Vec<PlayItem>,
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
    /// The classifier's best intents for the last answer heard (none after keys).
    last_top: Vec<(String, f32)>,
    /// A clarifying question waiting for its answer.
    clarifying: Option<clarify::Clarification>,
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
            last_play: Vec::new(),
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
            last_top: Vec::new(),
            clarifying: None,
        }
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: FlowEvent, now: Instant) -> Vec<CallAction> {
        let mut actions = Vec::new();
        if self.state == State::Ended {
            return actions;
        }
        self.record_turn(&event);
        let out = &mut actions;
        match event {
            FlowEvent::Started => self.on_started(now, out),
            FlowEvent::Hangup => self.state = State::Ended,
            // Product rule: safeguarding before anything else, in any state.
            FlowEvent::Heard {
                intent: Some(ref i),
                ..
            } if is_safeguarding(i) && self.can_interrupt() => {
                self.intent = Some(i.clone());
                self.emergency(out);
            }
            FlowEvent::PromptFinished => self.prompt_finished(out),
            FlowEvent::Heard {
                intent,
                slots,
                language,
                confidence,
                top,
                ..
            } => {
                self.last_top = top;
                self.on_heard(intent, slots, language, confidence, out);
            }
            FlowEvent::SpeechUnavailable => {
                if self.listening() {
                    self.speech_unavailable(out);
                }
            }
            FlowEvent::LanguageDetected {
                language,
                probability,
            } => {
                if let State::DetectingLanguage(question) = self.state {
                    self.state = State::Listening(question);
                    self.language_detected(language, probability, out);
                }
            }
            FlowEvent::OpenCases { cases } => self.on_open_cases(cases, out),
            FlowEvent::CaseCreated { reference } | FlowEvent::CaseUpdated { reference } => {
                self.on_case_stored(reference, out);
            }
            FlowEvent::Dtmf(key) => self.on_key(key, out),
            FlowEvent::Digits(digits) => {
                if self.listening() {
                    self.keyed(&digits, false, out);
                }
            }
            FlowEvent::NoInput => {
                if self.listening() {
                    self.miss(Miss::NoInput, out);
                }
            }
            FlowEvent::CaseFailed { .. } => self.on_case_failed(out),
            FlowEvent::TransferFailed { .. } => self.on_transfer_failed(out),
        }
        actions
    }

    /// What input is awaited now, if any.
    pub fn expecting(&self) -> Option<Expecting> {
        let State::Listening(question) = self.state else {
            return None;
        };
        if let Some(c) = &self.clarifying {
            return Some(Expecting::Clarify {
                intents: c.offered.clone(),
            });
        }
        match self.kind() {
            NodeKind::Ask(a) => Some(Expecting::Ask {
                intents: a.intents.iter().map(|(i, _)| i.clone()).collect(),
                slot: a.slot.clone(),
            }),
            NodeKind::Confirm(_) => Some(Expecting::Confirm),
            NodeKind::Survey { questions, .. } => questions
                .get(question.survey)
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
        self.question().keys_only
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

    /// Whether a question is waiting for its answer.
    fn listening(&self) -> bool {
        matches!(self.state, State::Listening(_))
    }

    /// The question asked; a fresh one when none is.
    fn question(&self) -> Question {
        match self.state {
            State::Listening(q) | State::DetectingLanguage(q) => q,
            _ => Question::default(),
        }
    }

    fn kind(&self) -> &NodeKind {
        kind_at(&self.flow, self.node)
    }

    fn can_interrupt(&self) -> bool {
        !matches!(
            self.state,
            State::NotStarted
                | State::Ended
                | State::Playing {
                    after: AfterPlay::EmergencyTransfer,
                    ..
                }
        ) && !matches!(self.state, State::WaitingTransfer { .. })
    }
}
