//! What a call handler hands the call layer to keep: the case it wants stored ([`CaseDraft`]),
//! the context that travels with a transfer ([`TransferContext`]) and the record of each
//! exchange ([`Turn`]).
//!
//! Typed so that nothing downstream has to take a JSON object apart again by key name: a
//! designer's case field called `intent` or `type` stays a field, and whether a value is
//! personal data comes from the type of the slot that captured it, never from what its key
//! looks like. The call layer maps these to the store's and the handoff's own types.

use std::fmt;

use serde_json::Value;

use crate::pii::Pii;

/// The type of a captured value, as the flow declared the slot that captured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    YesNo,
    Digits,
    Number,
    UkPostcode,
    Date,
    PhoneNumber,
    FreeText,
    /// One of the flow's enumerations, by name.
    Enum(String),
    /// Text rendered from a case field's template (a constant, or values put together).
    Text,
}

impl FieldType {
    /// Whether a value of this type is personal data. Only answers from a closed set the flow
    /// itself defines (yes or no, one of an enumeration's values) tell nothing about who the
    /// caller is; digits, numbers and dates may be an account, a house number or a birthday,
    /// and rendered text may contain any of them.
    pub fn is_personal(&self) -> bool {
        !matches!(self, FieldType::YesNo | FieldType::Enum(_))
    }
}

/// A captured value: personal data stays wrapped until the layer that stores it unwraps it.
#[derive(Clone, PartialEq)]
pub enum FieldValue {
    Plain(Value),
    Personal(Pii<Value>),
}

impl FieldValue {
    /// The value in clear (for the store, which keeps it, and the designer tools).
    pub fn expose(&self) -> &Value {
        match self {
            FieldValue::Plain(v) => v,
            FieldValue::Personal(p) => p.expose(),
        }
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Plain(v) => write!(f, "Plain({v})"),
            FieldValue::Personal(_) => f.write_str("Personal(<redacted>)"),
        }
    }
}

/// One named value of a case or a transfer: a case field's name as the designer wrote it (any
/// name, `intent` or `type` included), or a slot's name.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseField {
    pub name: String,
    pub kind: FieldType,
    pub value: FieldValue,
}

impl CaseField {
    /// A field whose value is wrapped as personal data when its type says so.
    pub fn new(name: impl Into<String>, kind: FieldType, value: Value) -> Self {
        let value = if kind.is_personal() {
            FieldValue::Personal(Pii::new(value))
        } else {
            FieldValue::Plain(value)
        };
        CaseField {
            name: name.into(),
            kind,
            value,
        }
    }
}

/// Accessibility needs the caller showed during the call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accessibility {
    /// The caller asked us to speak more slowly.
    pub slow_speech: bool,
}

impl Accessibility {
    /// The flags as the call record and the case store name them (`slow_speech`).
    pub fn flags(&self) -> Vec<String> {
        if self.slow_speech {
            vec!["slow_speech".to_string()]
        } else {
            Vec::new()
        }
    }
}

/// A case as a flow's `case` node asks for it: what it is about, where it came from, and the
/// designer's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseDraft {
    /// The case type the node names, e.g. `missed_bin`.
    pub service: String,
    /// The intent that led here.
    pub intent: Option<String>,
    pub flow_name: String,
    /// Content hash of the flow version.
    pub flow_version: String,
    /// The language the call was held in (ISO 639-1).
    pub language: String,
    pub accessibility: Accessibility,
    /// The last few things the caller said at asks that were not sensitive, oldest first.
    pub transcript_excerpts: Vec<Pii<String>>,
    /// The returning caller's verified case this adds to, instead of opening a new one.
    pub update_of: Option<String>,
    /// The node's fields, in the order the designer wrote them.
    pub fields: Vec<CaseField>,
}

/// Why a call is handed to a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferReason {
    /// A `transfer` node.
    Flow,
    /// The caller said something that needs a person at once.
    Safeguarding,
    /// The caller speaks a language the flow has no prompts in.
    Interpreter,
    /// The caller pressed 0 on its own.
    CallerPressedZero,
    /// The caller asked for an advisor.
    CallerAsked,
    /// The caller was not understood within the ask's attempts.
    MaxAttempts,
    /// The case could not be stored and the node has no `on_failure`.
    CaseFailed,
    /// Speech recognition could not keep up and the ask has no keypad path.
    SpeechUnavailable,
}

impl TransferReason {
    /// The name advisors and the call log see.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferReason::Flow => "flow",
            TransferReason::Safeguarding => "safeguarding",
            TransferReason::Interpreter => "interpreter",
            TransferReason::CallerPressedZero => "caller_pressed_0",
            TransferReason::CallerAsked => "caller_asked",
            TransferReason::MaxAttempts => "max_attempts",
            TransferReason::CaseFailed => "case_failed",
            TransferReason::SpeechUnavailable => "speech_unavailable",
        }
    }
}

/// How soon the queue should pick the caller up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferPriority {
    Normal,
    Urgent,
    /// Safeguarding: jumps the queue.
    Emergency,
}

impl TransferPriority {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferPriority::Normal => "normal",
            TransferPriority::Urgent => "urgent",
            TransferPriority::Emergency => "emergency",
        }
    }
}

/// What travels with a transferred call, as the handler knows it. The call layer decides what
/// of it may leave our trust boundary.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferContext {
    /// A call flow's account of the call.
    Flow(FlowTransfer),
    /// A fixed menu's (the demo): only what the call is about.
    Menu { service: String, intent: String },
}

/// What a call flow knows when it hands a caller over (the captured `slots` never leave).
#[derive(Debug, Clone, PartialEq)]
pub struct FlowTransfer {
    pub flow_name: String,
    pub flow_version: String,
    pub reason: TransferReason,
    pub priority: TransferPriority,
    pub intent: Option<String>,
    /// Every value captured so far, by slot name.
    pub slots: Vec<CaseField>,
    /// The case this call created, if any.
    pub case_ref: Option<String>,
    /// The returning caller's verified case, if any.
    pub returning_case: Option<String>,
    /// The caller's language: the one detected when the flow has no prompts in it.
    pub language: String,
    /// Whether the advisor needs an interpreter.
    pub interpreter: bool,
    pub accessibility: Accessibility,
    /// The node the caller was at.
    pub node: String,
}

/// One exchange of a call: what was asked and what the caller answered.
#[derive(Clone, Default, PartialEq)]
pub struct Turn {
    /// Prompt name (or node id) that asked.
    pub prompt: String,
    /// The flow node that asked (its id; subflow nodes as `site/node`).
    pub node: String,
    /// What the caller said. `None` when nothing was heard or the ask was sensitive.
    pub transcript: Option<Pii<String>>,
    pub intent: Option<String>,
    pub confidence: Option<f32>,
    /// Keys pressed (never recorded for sensitive asks).
    pub dtmf: Option<String>,
    /// Slot values understood from this answer (`{"postcode": "RM17 6SL"}`). `None` when
    /// nothing was understood or the ask was sensitive.
    pub slots: Option<Pii<Value>>,
    /// The language the exchange was in (ISO 639-1).
    pub language: Option<String>,
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn")
            .field("prompt", &self.prompt)
            .field("node", &self.node)
            .field("transcript", &self.transcript)
            .field("intent", &self.intent)
            .field("confidence", &self.confidence)
            .field("dtmf", &self.dtmf.as_ref().map(|d| d.len()))
            .field(
                "slots",
                &self.slots.as_ref().and_then(|s| {
                    s.expose()
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>())
                }),
            )
            .field("language", &self.language)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn personal_values_are_wrapped_by_their_type_not_their_name() {
        let postcode = CaseField::new("intent", FieldType::UkPostcode, json!("RM17 6SL"));
        assert!(matches!(postcode.value, FieldValue::Personal(_)));
        assert!(!format!("{postcode:?}").contains("RM17"));
        let choice = CaseField::new("address", FieldType::Enum("bin".into()), json!("green"));
        assert_eq!(choice.value, FieldValue::Plain(json!("green")));
        assert_eq!(choice.value.expose(), &json!("green"));
    }
}
