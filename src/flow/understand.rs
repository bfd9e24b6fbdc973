//! Understanding for one flow version: its intent classifier and slot types, built once and
//! shared by every call on that version. Turns a transcript (or typed words) into a
//! [`FlowEvent::Heard`] for what the interpreter is [`Expecting`], and keyed digits into slot
//! values.
//!
//! Owns the mapping from flow declarations to `nlu`. Must not parse text itself (that is `nlu`).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::capture::{KeyReader, SlotCapture};
use super::interpreter::{Expecting, FlowEvent};
use super::model::{CheckedFlow, SlotKind, SlotSpec};
use crate::nlu::{
    Classifier, ClassifierConfig, EnumValue, IntentPriority, IntentSpec, NluError, SlotType,
    SlotValue, parse_dtmf_slot, parse_slot,
};
use crate::pii::Pii;

/// Phrases that always reach safeguarding, even when a flow declares none (the issue: the
/// safeguarding handler is live in every ask and cannot be switched off).
const SAFEGUARDING_PHRASES: [&str; 12] = [
    "emergency",
    "999",
    "nine nine nine",
    "in danger",
    "not safe",
    "hurt myself",
    "kill myself",
    "end my life",
    "being abused",
    "he hits me",
    "she hits me",
    "going to hurt me",
];

/// Phrases that always reach an advisor (the global "advisor" handler).
const ADVISOR_PHRASES: [&str; 7] = [
    "advisor",
    "adviser",
    "speak to someone",
    "talk to someone",
    "a real person",
    "a human",
    "operator",
];

/// In a free-text ask, an ordinary intent beats the text only at this confidence or above.
const FREE_TEXT_INTENT_CONFIDENCE: f32 = 0.8;

/// Intents that win whenever heard, in this order: safeguarding first.
const ALWAYS: [&str; 2] = ["safeguarding", "speak_to_advisor"];

/// Intents the interpreter acts on at any question (when the flow's globals allow them).
const GLOBAL_INTENTS: [&str; 5] = [
    "safeguarding",
    "speak_to_advisor",
    "repeat",
    "slower",
    "goodbye",
];

/// A flow's classifier and slot types.
#[derive(Debug, Clone)]
pub struct Understanding {
    classifier: Classifier,
    enums: BTreeMap<String, Vec<EnumValue>>,
}

impl Understanding {
    /// Builds the classifier from the flow's intents plus the built-in safeguarding and advisor
    /// phrases.
    pub fn new(flow: &CheckedFlow) -> Result<Understanding, NluError> {
        let mut specs: Vec<IntentSpec> = Vec::new();
        for name in ALWAYS {
            let declared = flow.intents.iter().find(|i| i.name == name);
            let built_in: &[&str] = if name == "safeguarding" {
                &SAFEGUARDING_PHRASES
            } else {
                &ADVISOR_PHRASES
            };
            let mut keywords: Vec<String> = built_in.iter().map(|s| s.to_string()).collect();
            keywords.extend(declared.map(|d| d.keywords.clone()).unwrap_or_default());
            specs.push(IntentSpec {
                name: name.to_string(),
                examples: declared.map(|d| d.examples.clone()).unwrap_or_default(),
                keywords,
                priority: IntentPriority::Always,
            });
        }
        for intent in flow
            .intents
            .iter()
            .filter(|i| !ALWAYS.contains(&i.name.as_str()))
        {
            specs.push(IntentSpec {
                name: intent.name.clone(),
                examples: intent.examples.clone(),
                keywords: intent.keywords.clone(),
                priority: IntentPriority::Normal,
            });
        }
        let classifier = Classifier::new(&specs, ClassifierConfig::default())?;
        let enums = flow
            .enums
            .iter()
            .map(|(name, e)| {
                let values = e
                    .values
                    .iter()
                    .map(|(v, syn)| EnumValue {
                        value: v.clone(),
                        synonyms: syn.clone(),
                    })
                    .collect();
                (name.clone(), values)
            })
            .collect();
        Ok(Understanding { classifier, enums })
    }

    /// Understands what the caller said for what the interpreter expects now.
    pub fn understand(
        &self,
        expecting: Option<&Expecting>,
        text: &str,
        call_date: NaiveDate,
        language: Option<String>,
    ) -> FlowEvent {
        // Only what this question can act on competes: its own intents, yes/no at a
        // confirmation, and the global handlers everywhere.
        let c = self.classifier.classify_among(text, |name| {
            GLOBAL_INTENTS.contains(&name)
                || match expecting {
                    Some(Expecting::Ask { intents, .. }) => intents.iter().any(|i| i == name),
                    Some(Expecting::Confirm) => matches!(name, "yes" | "no"),
                    Some(Expecting::Survey { .. }) => false,
                    None => true,
                }
        });
        let mut intent = c.intent;
        let mut slots = BTreeMap::new();
        let overriding = intent.as_deref().is_some_and(|i| ALWAYS.contains(&i));
        match expecting {
            Some(Expecting::Ask {
                slot: Some(spec), ..
            }) if !overriding => {
                if let Some(v) = self
                    .slot_type(spec)
                    .and_then(|t| parse_slot(&t, text, call_date))
                {
                    slots.insert(spec.name.clone(), capture(&v));
                    // A value that parses is the answer to the question: an ordinary intent
                    // (a sound-alike "slower" in "pouring") must not hijack it. Free text
                    // parses from anything, so there only a confident intent still wins.
                    let confident = c.confidence >= FREE_TEXT_INTENT_CONFIDENCE;
                    if spec.kind != SlotKind::FreeText || !confident {
                        intent = None;
                    }
                }
            }
            Some(Expecting::Confirm)
                if !overriding && !matches!(intent.as_deref(), Some("yes" | "no")) =>
            {
                if let Some(SlotValue::Bool(b)) = parse_slot(&SlotType::YesNo, text, call_date) {
                    intent = Some(if b { "yes" } else { "no" }.to_string());
                }
            }
            Some(Expecting::Survey { .. }) if !overriding => {
                if let Some(v) = parse_slot(&SlotType::Number, text, call_date) {
                    slots.insert("answer".to_string(), capture(&v));
                }
            }
            _ => {}
        }
        FlowEvent::Heard {
            text: Pii::new(text.to_string()),
            intent,
            confidence: c.confidence,
            slots,
            language,
            top: c.top,
        }
    }

    /// The `nlu` slot type for a flow slot.
    pub fn slot_type(&self, spec: &SlotSpec) -> Option<SlotType> {
        Some(match &spec.kind {
            SlotKind::YesNo => SlotType::YesNo,
            SlotKind::Digits => SlotType::Digits {
                min_len: 1,
                max_len: 32,
            },
            SlotKind::Number => SlotType::Number,
            SlotKind::UkPostcode => SlotType::UkPostcode,
            SlotKind::Date => SlotType::Date,
            SlotKind::PhoneNumber => SlotType::PhoneNumber,
            SlotKind::FreeText => SlotType::FreeText,
            SlotKind::Enum(name) => SlotType::Enumeration(self.enums.get(name)?.clone()),
        })
    }
}

impl KeyReader for Understanding {
    fn parse_keys(&self, slot: &SlotSpec, digits: &str) -> Option<SlotCapture> {
        let ty = self.slot_type(slot)?;
        parse_dtmf_slot(&ty, digits).map(|v| capture(&v))
    }
}

fn capture(v: &SlotValue) -> SlotCapture {
    SlotCapture {
        json: v.to_json(),
        spoken: v.spoken(),
    }
}
