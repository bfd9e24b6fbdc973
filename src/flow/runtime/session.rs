//! A simulated call: drives an [`Interpreter`] the way the call runtime would, answering its
//! actions at once (prompts "finish" instantly, cases are stored with a made-up reference,
//! transfers succeed unless told to fail, the caller's open cases are the ones given, language
//! detection answers what the test says it heard). Shared by the simulator and conversation
//! tests.
//!
//! Owns only the simulation. Must not touch audio, SIP or a case store.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::interpreter::{CallContext, FlowEvent, Interpreter};
use super::understand::Understanding;
use crate::flow::model::CheckedFlow;
use crate::handler::{
    CallAction, CaseDraft, CaseField, ListenSpec, OpenCase, PlayItem, TransferContext,
};

/// Something the simulated caller experienced.
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
    /// The flow asked for the caller's open cases.
    LookedUpCases,
    /// The flow asked which language the last utterance was in.
    DetectingLanguage,
    Transfer {
        queue: String,
        context: Value,
    },
    Hangup,
}

/// One simulated call.
pub struct Session {
    interp: Interpreter,
    understanding: Arc<Understanding>,
    listen: Option<ListenSpec>,
    cases: Vec<Value>,
    transfers: Vec<(String, Value)>,
    ended: bool,
    fail_next_case: bool,
    fail_next_transfer: bool,
    started: Instant,
    /// What a case lookup finds (the caller's open cases).
    open_cases: Vec<OpenCase>,
    updates: Vec<(String, Value)>,
    /// What the next language detection answers: language and probability.
    detected: Option<(String, f32)>,
}

impl Session {
    /// Starts the call; returns the session and what the caller heard first.
    pub fn start(
        flow: Arc<CheckedFlow>,
        understanding: Arc<Understanding>,
        ctx: CallContext,
    ) -> (Session, Vec<Output>) {
        Self::start_with_cases(flow, understanding, ctx, Vec::new())
    }

    /// Starts a call from a number with these open cases on it (returning callers).
    pub fn start_with_cases(
        flow: Arc<CheckedFlow>,
        understanding: Arc<Understanding>,
        ctx: CallContext,
        open_cases: Vec<OpenCase>,
    ) -> (Session, Vec<Output>) {
        let interp = Interpreter::new(flow, understanding.clone(), ctx);
        let mut s = Session {
            interp,
            understanding,
            listen: None,
            cases: Vec::new(),
            transfers: Vec::new(),
            ended: false,
            fail_next_case: false,
            fail_next_transfer: false,
            started: Instant::now(),
            open_cases,
            updates: Vec::new(),
            detected: None,
        };
        let out = s.feed(FlowEvent::Started);
        (s, out)
    }

    /// The caller says (types) words.
    pub fn say(&mut self, text: &str) -> Vec<Output> {
        let expecting = self.interp.expecting();
        let date = self.interp_date();
        let event = self
            .understanding
            .understand(expecting.as_ref(), text, date, None);
        self.feed(event)
    }

    /// The caller keys digits: one key event for a menu, one entry for a digit ask.
    pub fn keys(&mut self, keys: &str) -> Vec<Output> {
        let max = self.listen.as_ref().map_or(1, |l| l.max_digits);
        if max > 1 {
            return self.feed(FlowEvent::Digits(keys.to_string()));
        }
        let mut out = Vec::new();
        for c in keys.chars() {
            out.extend(self.feed(FlowEvent::Dtmf(c)));
        }
        out
    }

    /// Speech recognition becomes unavailable (the recogniser is saturated).
    pub fn speech_unavailable(&mut self) -> Vec<Output> {
        self.feed(FlowEvent::SpeechUnavailable)
    }

    /// The next language detection hears `language` with `probability`.
    pub fn detect_language_as(&mut self, language: &str, probability: f32) {
        self.detected = Some((language.to_string(), probability));
    }

    /// Cases updated so far: reference and fields.
    pub fn updates(&self) -> &[(String, Value)] {
        &self.updates
    }

    /// The spec of the current listen, if any.
    pub fn listen_spec(&self) -> Option<&ListenSpec> {
        self.listen.as_ref()
    }

    /// The no-input timer fires.
    pub fn silence(&mut self) -> Vec<Output> {
        self.feed(FlowEvent::NoInput)
    }

    /// The caller hangs up.
    pub fn hangup(&mut self) -> Vec<Output> {
        self.ended = true;
        self.feed(FlowEvent::Hangup)
    }

    /// The next case store fails (tests of `on_failure`).
    pub fn fail_next_case(&mut self) {
        self.fail_next_case = true;
    }

    /// The next transfer fails.
    pub fn fail_next_transfer(&mut self) {
        self.fail_next_transfer = true;
    }

    pub fn interpreter(&self) -> &Interpreter {
        &self.interp
    }

    pub fn cases(&self) -> &[Value] {
        &self.cases
    }

    pub fn transfers(&self) -> &[(String, Value)] {
        &self.transfers
    }

    /// Whether the call is over (hung up, or handed to a queue).
    pub fn ended(&self) -> bool {
        self.ended
    }

    fn interp_date(&self) -> chrono::NaiveDate {
        self.interp.call_date()
    }

    fn interp_has_caller(&self) -> bool {
        self.interp.caller().is_some()
    }

    /// Feeds an event and answers every action as the runtime would, until it waits.
    fn feed(&mut self, first: FlowEvent) -> Vec<Output> {
        let mut out = Vec::new();
        let mut queue = vec![first];
        // Bounded: each answer is one event, and an interpreter step never asks for more than
        // a few; a flow that kept asking would be cut here.
        let mut budget = 1000;
        while let Some(event) = queue.pop() {
            budget -= 1;
            if budget == 0 || self.ended && event != FlowEvent::Hangup {
                break;
            }
            let now = self.started;
            for action in self.interp.handle(event, now) {
                match action {
                    CallAction::Play { items, .. } => {
                        for item in items {
                            out.push(self.render(&item));
                        }
                        queue.insert(0, FlowEvent::PromptFinished);
                    }
                    CallAction::StopPlayback => {}
                    CallAction::Listen(spec) => {
                        out.push(Output::Listening {
                            max_digits: spec.max_digits,
                            speech: spec.speech,
                        });
                        self.listen = Some(spec);
                    }
                    CallAction::SetSlowSpeech(_) => out.push(Output::Slower),
                    CallAction::SaveCase(draft) if draft.update_of.is_some() => {
                        let reference = draft.update_of.clone().unwrap_or_default();
                        let fields = fields_json(&draft.fields);
                        self.updates.push((reference.clone(), fields.clone()));
                        out.push(Output::CaseUpdate {
                            reference: reference.clone(),
                            fields,
                        });
                        if std::mem::take(&mut self.fail_next_case) {
                            queue.insert(
                                0,
                                FlowEvent::CaseFailed {
                                    reason: "simulated failure".into(),
                                },
                            );
                        } else {
                            queue.insert(0, FlowEvent::CaseUpdated { reference });
                        }
                    }
                    CallAction::SaveCase(draft) => {
                        let fields = case_json(&draft);
                        self.cases.push(fields.clone());
                        out.push(Output::Case(fields));
                        if std::mem::take(&mut self.fail_next_case) {
                            queue.insert(
                                0,
                                FlowEvent::CaseFailed {
                                    reason: "simulated failure".into(),
                                },
                            );
                        } else {
                            let reference = format!("SIM-{:04}", self.cases.len());
                            queue.insert(0, FlowEvent::CaseCreated { reference });
                        }
                    }
                    CallAction::Transfer { queue: q, context } => {
                        let context = transfer_json(&context);
                        self.transfers.push((q.clone(), context.clone()));
                        out.push(Output::Transfer { queue: q, context });
                        if std::mem::take(&mut self.fail_next_transfer) {
                            queue.insert(
                                0,
                                FlowEvent::TransferFailed {
                                    reason: "simulated failure".into(),
                                },
                            );
                        } else {
                            self.ended = true;
                        }
                    }
                    CallAction::Hangup => {
                        self.ended = true;
                        out.push(Output::Hangup);
                    }
                    CallAction::FindOpenCases => {
                        out.push(Output::LookedUpCases);
                        // As the runtime: a withheld number has no cases.
                        let cases = if self.interp_has_caller() {
                            self.open_cases.clone()
                        } else {
                            Vec::new()
                        };
                        queue.insert(0, FlowEvent::OpenCases { cases });
                    }
                    CallAction::DetectLanguage => {
                        out.push(Output::DetectingLanguage);
                        let (language, probability) = match self.detected.take() {
                            Some((l, p)) => (Some(l), p),
                            None => (None, 0.0),
                        };
                        queue.insert(
                            0,
                            FlowEvent::LanguageDetected {
                                language,
                                probability,
                            },
                        );
                    }
                }
            }
        }
        out
    }

    fn render(&self, item: &PlayItem) -> Output {
        let flow = self.interp.flow();
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

/// A new case as the designer tools show and test it: what the case is about next to its
/// fields, in one object (a field named like one of those shows in its place).
fn case_json(draft: &CaseDraft) -> Value {
    let mut obj = Map::new();
    obj.insert("type".into(), json!(draft.service));
    obj.insert("flow".into(), json!(draft.flow_name));
    obj.insert("flow_version".into(), json!(draft.flow_version));
    if let Some(intent) = &draft.intent {
        obj.insert("intent".into(), json!(intent));
    }
    obj.insert("language".into(), json!(draft.language));
    if draft.accessibility.slow_speech {
        obj.insert("accessibility".into(), json!(draft.accessibility.flags()));
    }
    let excerpts: Vec<&str> = draft
        .transcript_excerpts
        .iter()
        .map(|t| t.expose().as_str())
        .collect();
    if !excerpts.is_empty() {
        obj.insert("transcript_excerpts".into(), json!(excerpts));
    }
    if let Value::Object(fields) = fields_json(&draft.fields) {
        obj.extend(fields);
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
