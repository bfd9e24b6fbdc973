//! The adapter from the call runtime's [`CallHandler`] seam to the flow [`Interpreter`]:
//! `CallEvent` in, understood [`FlowEvent`] to the interpreter, `CallAction`s back out.
//!
//! Owns only the translation. The runtime carries out the actions; the interpreter decides.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Local};

use super::interpreter::{CallContext, FlowEvent, Interpreter};
use super::understand::Understanding;
use crate::flow::model::CheckedFlow;
use crate::flow::set::FlowSet;
use crate::handler::{CallAction, CallEvent, CallHandler, CallInfo, HandlerReport};

/// TESTING ONLY: when set (to `YYYY-MM-DD`), every call is placed on this date instead of its
/// arrival date, so that the evaluation harness (`frontdoor eval`) can resolve relative dates
/// ("next Tuesday") in its utterance set against a fixed day. Not a configuration key on
/// purpose: production calls always use the real date; the time of day is never overridden.
pub const CALL_DATE_ENV: &str = "FRONTDOOR_TEST_CALL_DATE";

/// The pinned call date, read once (see [`CALL_DATE_ENV`]); an unparsable value is ignored.
fn pinned_call_date() -> Option<chrono::NaiveDate> {
    static PINNED: std::sync::OnceLock<Option<chrono::NaiveDate>> = std::sync::OnceLock::new();
    *PINNED.get_or_init(|| {
        let value = std::env::var(CALL_DATE_ENV).ok()?;
        let date = chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").ok();
        if date.is_none() {
            tracing::warn!(%value, "{CALL_DATE_ENV} is not YYYY-MM-DD; using the real date");
        }
        date
    })
}

/// Runs one call through a flow. The call keeps the flow version it started with, even if a
/// reload swaps in a new one meanwhile.
pub struct FlowCallHandler {
    interp: Interpreter,
    understanding: Arc<Understanding>,
}

impl FlowCallHandler {
    /// A handler for one call. `ctx` carries the call date and time (for opening hours and
    /// relative dates) and the caller.
    pub fn new(
        flow: Arc<CheckedFlow>,
        understanding: Arc<Understanding>,
        ctx: CallContext,
    ) -> Self {
        let interp = Interpreter::new(flow, understanding.clone(), ctx);
        FlowCallHandler {
            interp,
            understanding,
        }
    }

    /// A handler for a call as the runtime answered it: the flow routed by the dialled number,
    /// local date and time from the call's arrival.
    pub fn for_call(set: &FlowSet, info: &CallInfo) -> Self {
        let loaded = set.route_loaded(&info.dialled);
        let at: DateTime<Local> = info.started_at.into();
        let ctx = CallContext {
            date: pinned_call_date().unwrap_or_else(|| at.date_naive()),
            time: at.time(),
            caller: info.caller.clone(),
            dialled: info.dialled.clone(),
        };
        Self::new(
            Arc::clone(&loaded.flow),
            Arc::clone(&loaded.understanding),
            ctx,
        )
    }

    /// Node ids the call has taken so far.
    pub fn path(&self) -> &[String] {
        self.interp.path()
    }

    /// Content hash of the flow version this call runs.
    pub fn flow_version(&self) -> &str {
        &self.interp.flow().version
    }

    pub fn flow_name(&self) -> &str {
        &self.interp.flow().name
    }

    /// The call record (flow, version, path, outcome).
    pub fn record(&self) -> serde_json::Value {
        self.interp.record()
    }

    pub fn interpreter(&self) -> &Interpreter {
        &self.interp
    }
}

impl CallHandler for FlowCallHandler {
    fn on_event(&mut self, info: &CallInfo, event: CallEvent) -> Vec<CallAction> {
        let event = match event {
            CallEvent::Answered => FlowEvent::Started,
            CallEvent::PromptFinished => FlowEvent::PromptFinished,
            CallEvent::Dtmf(c) => FlowEvent::Dtmf(c),
            CallEvent::Digits(d) => FlowEvent::Digits(d),
            // Barge-in is the runtime's job; the interpreter waits for the words.
            CallEvent::SpeechStarted => return Vec::new(),
            CallEvent::Heard {
                text,
                language,
                second_opinion,
                ..
            } => {
                let expecting = self.interp.expecting();
                // One classification per answer on this (the media) thread: the log's reason
                // comes with it. A second opinion (rare) is explained by the first decode.
                let (event, evidence) = match second_opinion {
                    Some(second) => (
                        self.understanding.understand_second_opinion(
                            expecting.as_ref(),
                            text.expose(),
                            second.expose(),
                            self.interp.call_date(),
                            language,
                        ),
                        self.understanding
                            .evidence(expecting.as_ref(), text.expose()),
                    ),
                    None => self.understanding.understand_explained(
                        expecting.as_ref(),
                        text.expose(),
                        self.interp.call_date(),
                        language,
                    ),
                };
                log_understanding(&info.call_id, self.interp.current_node(), &event, &evidence);
                event
            }
            CallEvent::NoInput => FlowEvent::NoInput,
            CallEvent::CaseCreated { reference } => FlowEvent::CaseCreated { reference },
            CallEvent::CaseFailed { reason } => FlowEvent::CaseFailed { reason },
            CallEvent::TransferFailed { reason } => FlowEvent::TransferFailed { reason },
            CallEvent::Hangup(_) => FlowEvent::Hangup,
            CallEvent::SpeechUnavailable => FlowEvent::SpeechUnavailable,
            CallEvent::LanguageDetected {
                language,
                probability,
            } => FlowEvent::LanguageDetected {
                language,
                probability,
            },
            CallEvent::OpenCases { cases } => FlowEvent::OpenCases { cases },
            CallEvent::CaseUpdated { reference } => FlowEvent::CaseUpdated { reference },
        };
        let before = self.interp.path().len();
        let was_clarifying = matches!(
            self.interp.expecting(),
            Some(crate::flow::runtime::interpreter::Expecting::Clarify { .. })
        );
        let actions = self.interp.handle(event, Instant::now());
        // Node ids are flow structure, not personal data: the call's way through the flow.
        for node in self.interp.path().iter().skip(before) {
            tracing::debug!(call_id = %info.call_id, node = %node, "flow node");
        }
        // Intent names only: what was asked, for operators and the evaluation harness.
        if !was_clarifying
            && let Some(crate::flow::runtime::interpreter::Expecting::Clarify { intents }) =
                self.interp.expecting()
        {
            tracing::info!(
                call_id = %info.call_id,
                node = %self.interp.current_node(),
                offered = %intents.join(","),
                "clarifying question"
            );
        }
        actions
    }

    fn understands(&self, text: &str) -> bool {
        self.understanding.means_something(
            self.interp.expecting().as_ref(),
            text,
            self.interp.call_date(),
        )
    }

    fn report(&self) -> HandlerReport {
        let record = self.interp.record();
        let survey = record
            .get("survey")
            .and_then(|s| s.as_object())
            .map(|m| m.iter().map(|(q, a)| (q.clone(), a.to_string())).collect())
            .unwrap_or_default();
        let slow = record
            .get("slow_speech")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        HandlerReport {
            flow_name: self.flow_name().to_string(),
            flow_version: self.flow_version().to_string(),
            node_path: self.path().to_vec(),
            survey,
            language: record
                .get("language")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            accessibility: if slow {
                vec!["slow_speech".to_string()]
            } else {
                Vec::new()
            },
            resolved: false,
            turns: self.interp.turns().to_vec(),
        }
    }
}

/// The call log's account of one understood utterance: the chosen intent and the classifier's
/// top three with scores (intent names are not personal data; the words never appear here).
fn log_understanding(call_id: &str, node: &str, event: &FlowEvent, evidence: &str) {
    if let FlowEvent::Heard {
        intent,
        confidence,
        slots,
        top,
        ..
    } = event
    {
        let top3 = top
            .iter()
            .take(3)
            .map(|(name, score)| format!("{name}={score:.2}"))
            .collect::<Vec<_>>()
            .join(" ");
        tracing::info!(
            call_id = %call_id,
            node = %node,
            intent = intent.as_deref().unwrap_or("-"),
            confidence = format_args!("{confidence:.2}"),
            slots = slots.len(),
            top3 = %top3,
            why = %evidence,
            "understood"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::flow::catalog::PromptCatalog;
    use crate::flow::check::check;
    use crate::handler::PlayItem;
    use crate::pii::Pii;

    const FLOW: &str = r#"
flow: demo
start: menu
intents:
  pay: {examples: ["I want to pay"], keywords: [pay]}
nodes:
  menu:
    ask: {text: "Say pay, or press 1. Press 0 for someone."}
    intents: {pay: bye}
    keys: {"1": pay}
  bye:
    hangup: {text: "Bye"}
"#;

    fn handler() -> (FlowCallHandler, CallInfo) {
        let (flow, d) = check(
            std::path::Path::new("demo.yaml"),
            FLOW,
            &PromptCatalog::default(),
        );
        let flow = flow.unwrap_or_else(|| panic!("{d}"));
        let u = Arc::new(Understanding::new(&flow).unwrap());
        let ctx = CallContext {
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            time: chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            caller: None,
            dialled: "100".into(),
        };
        let info = CallInfo {
            call_id: "c1".into(),
            caller: None,
            dialled: "100".into(),
            source: "127.0.0.1:5060".parse().unwrap(),
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        };
        (FlowCallHandler::new(Arc::new(flow), u, ctx), info)
    }

    #[test]
    fn speech_and_keys_drive_the_flow_through_the_seam() {
        let (mut h, info) = handler();
        let a = h.on_event(&info, CallEvent::Answered);
        assert!(
            matches!(&a[0], CallAction::Play { items, .. } if matches!(&items[0], PlayItem::Text { text, .. } if text.starts_with("Say pay")))
        );
        assert!(matches!(a[1], CallAction::Listen(_)));
        let a = h.on_event(
            &info,
            CallEvent::Heard {
                text: Pii::new("I want to pay".into()),
                confidence: 0.9,
                language: None,
                second_opinion: None,
            },
        );
        assert!(
            matches!(
                &a[0],
                CallAction::Play {
                    barge_in: false,
                    ..
                }
            ),
            "{a:?}"
        );
        let a = h.on_event(&info, CallEvent::PromptFinished);
        assert_eq!(a, vec![CallAction::Hangup]);
        assert_eq!(h.path(), ["menu", "bye"]);
        assert_eq!(h.flow_version().len(), 16);
    }

    #[test]
    fn an_answer_that_means_nothing_is_taken_from_its_second_decode() {
        let (mut h, info) = handler();
        h.on_event(&info, CallEvent::Answered);
        assert!(h.understands("I want to pay"));
        assert!(!h.understands("the weather is lovely"));
        assert!(
            !h.understands("I want to way"),
            "the first decode alone is no match"
        );
        let a = h.on_event(
            &info,
            CallEvent::Heard {
                text: Pii::new("I want to way".into()),
                confidence: 0.5,
                language: None,
                second_opinion: Some(Pii::new("I want to pay".into())),
            },
        );
        assert!(matches!(&a[0], CallAction::Play { .. }), "{a:?}");
        assert_eq!(h.path(), ["menu", "bye"]);
    }

    #[test]
    fn turns_record_each_exchange_and_sensitive_asks_keep_no_words() {
        const SENSITIVE: &str = r#"
flow: turns
start: menu
intents:
  pay: {examples: ["I want to pay"], keywords: [pay]}
nodes:
  menu:
    ask: {text: "Say pay, or press 1. Press 0 for someone."}
    intents: {pay: problem}
    keys: {"1": pay}
  problem:
    ask: {text: "What is wrong?"}
    slot: {name: problem, type: free_text}
    sensitive: true
    next: bye
    fallback: bye
  bye:
    hangup: {text: "Bye"}
"#;
        let (flow, d) = check(
            std::path::Path::new("turns.yaml"),
            SENSITIVE,
            &PromptCatalog::default(),
        );
        let flow = flow.unwrap_or_else(|| panic!("{d}"));
        let u = Arc::new(Understanding::new(&flow).unwrap());
        let (_, info) = handler();
        let ctx = CallContext {
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            time: chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            caller: None,
            dialled: "100".into(),
        };
        let mut h = FlowCallHandler::new(Arc::new(flow), u, ctx);
        h.on_event(&info, CallEvent::Answered);
        h.on_event(&info, CallEvent::NoInput);
        let heard = |text: &str| CallEvent::Heard {
            text: Pii::new(text.into()),
            confidence: 0.9,
            language: None,
            second_opinion: None,
        };
        h.on_event(&info, heard("I want to pay"));
        h.on_event(&info, heard("the damp in my flat"));
        let turns = h.report().turns;
        assert_eq!(turns.len(), 3, "{turns:?}");
        assert_eq!(turns[0].node, "menu");
        assert_eq!(turns[0].transcript, None, "no input: nothing heard");
        assert_eq!(turns[1].prompt, "menu");
        assert_eq!(
            turns[1].transcript.as_ref().map(|t| t.expose().as_str()),
            Some("I want to pay")
        );
        assert_eq!(turns[1].intent.as_deref(), Some("pay"));
        assert_eq!(turns[1].language.as_deref(), Some("en"));
        assert_eq!(turns[2].node, "problem");
        assert_eq!(turns[2].transcript, None, "sensitive: no words");
        assert!(turns[2].slots.is_none(), "sensitive: no values");
    }

    #[test]
    fn key_zero_transfers_to_the_advisor_queue() {
        let (mut h, info) = handler();
        h.on_event(&info, CallEvent::Answered);
        let a = h.on_event(&info, CallEvent::Dtmf('0'));
        assert!(
            matches!(&a[0], CallAction::Transfer { queue, .. } if queue == "advisors"),
            "{a:?}"
        );
    }
}
