//! Understanding for one flow version: its intent classifier and slot types, built once and
//! shared by every call on that version. Turns a transcript (or typed words) into a
//! [`FlowEvent::Heard`] for what the interpreter is [`Expecting`], and keyed digits into slot
//! values.
//!
//! Owns the mapping from flow declarations to `nlu`. Must not parse text itself (that is `nlu`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;

use super::capture::{KeyReader, SlotCapture};
use super::interpreter::{Expecting, FlowEvent};
use crate::flow::language::global_intent::GlobalIntent;
use crate::flow::model::{CheckedFlow, SlotKind, SlotSpec};
use crate::nlu::encoder::Embedder;
use crate::nlu::semantic::SemanticIndex;
use crate::nlu::{
    Classification, Classifier, ClassifierConfig, EnumValue, IntentPriority, IntentSpec, NluError,
    SlotType, SlotValue, YesNoReply, is_negated, is_question, parse_dtmf_slot, parse_slot,
    yes_no_reply,
};
use crate::pii::Pii;

/// Phrases that always reach safeguarding, even when a flow declares none (the
/// safeguarding handler is live in every ask and cannot be switched off).
const SAFEGUARDING_PHRASES: [&str; 94] = [
    "emergency",
    "999",
    "nine nine nine",
    "in danger",
    "not safe at home",
    "not safe in my own home",
    "not safe with him",
    "not safe with her",
    "unsafe at home",
    "hurt myself",
    "harm myself",
    "self harm",
    "kill myself",
    "end my life",
    "ending it all",
    "end it all",
    "take my own life",
    "suicide",
    "suicidal",
    "better off without me",
    "better off dead",
    "do not want to be here anymore",
    "do not see the point anymore",
    "go to sleep and not wake up",
    "overdose",
    "cutting myself",
    "cutting my arms",
    "kill himself",
    "kill herself",
    "kill themselves",
    "hurt themselves",
    "hurting themselves",
    "harm themselves",
    "being abused",
    "abusing",
    "abuse",
    "domestic violence",
    "he hits me",
    "she hits me",
    "hits me",
    "hitting me",
    "beats me",
    "beating me",
    "attacks me",
    "hurting me",
    "going to hurt me",
    "threatened to kill",
    "slapped",
    "punched me",
    "strangled",
    "choked me",
    "round my neck",
    "locks me in",
    "locked me in",
    "will not let me leave",
    "will not let me out",
    "not allowed out",
    "checks my phone",
    "scared of him",
    "scared of her",
    "afraid of him",
    "afraid of her",
    "frightened of him",
    "frightened of her",
    "scared to go home",
    "frightened to go home",
    "afraid to go home",
    "neglected",
    "neglecting",
    "being exploited",
    "exploiting",
    "groomed",
    "grooming",
    "trafficked",
    "trafficking",
    "slavery",
    "forced to work",
    "taken my passport",
    "got my passport",
    "county lines",
    "cuckooing",
    "forced marriage",
    "forced to marry",
    "raped",
    "rape",
    "sexually",
    "touching me",
    "touched me",
    "does things to",
    "fgm",
    "genital",
    "cut my daughter",
    "left on their own",
    "left home alone",
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

/// The lead the best intent needs over the next when the sentence model is in use.
const SEMANTIC_MARGIN: f32 = 0.02;

/// In a free-text ask, an ordinary intent beats the text only at this confidence or above.
const FREE_TEXT_INTENT_CONFIDENCE: f32 = 0.8;

/// Whether `name` is an intent that wins whenever heard ([`GlobalIntent::ALWAYS`]).
fn is_always(name: &str) -> bool {
    GlobalIntent::from_name(name).is_some_and(|g| GlobalIntent::ALWAYS.contains(&g))
}

/// Whether `name` answers a `confirm` ([`GlobalIntent::CONFIRM`]).
fn is_confirm_answer(name: &str) -> bool {
    GlobalIntent::from_name(name).is_some_and(|g| GlobalIntent::CONFIRM.contains(&g))
}

/// The phrases a global intent is heard by even when a flow declares none.
fn built_in_phrases(intent: GlobalIntent) -> &'static [&'static str] {
    match intent {
        GlobalIntent::Safeguarding => &SAFEGUARDING_PHRASES,
        GlobalIntent::Advisor => &ADVISOR_PHRASES,
        GlobalIntent::Repeat
        | GlobalIntent::Slower
        | GlobalIntent::Goodbye
        | GlobalIntent::Yes
        | GlobalIntent::No
        | GlobalIntent::Wait => &[],
    }
}

/// A flow's classifier and slot types.
#[derive(Debug, Clone)]
pub struct Understanding {
    classifier: Classifier,
    enums: BTreeMap<String, Vec<EnumValue>>,
}

impl Understanding {
    /// Builds the classifier from the flow's intents plus the built-in safeguarding and advisor
    /// phrases, from words alone (no sentence model).
    pub fn new(flow: &CheckedFlow) -> Result<Understanding, NluError> {
        Understanding::with_embedder(flow, None)
    }

    /// As [`Understanding::new`], adding closeness in meaning to the examples when `embedder`
    /// is given. Should the examples fail to embed, understanding falls back to words alone
    /// and says so in the log.
    pub fn with_embedder(
        flow: &CheckedFlow,
        embedder: Option<&Arc<Embedder>>,
    ) -> Result<Understanding, NluError> {
        let mut specs: Vec<IntentSpec> = Vec::new();
        for always in GlobalIntent::ALWAYS {
            let declared = flow.intents.iter().find(|i| i.name == always.name());
            let built_in = built_in_phrases(always);
            let mut keywords: Vec<String> = built_in.iter().map(|s| s.to_string()).collect();
            keywords.extend(declared.map(|d| d.keywords.clone()).unwrap_or_default());
            specs.push(IntentSpec {
                name: always.name().to_string(),
                examples: declared.map(|d| d.examples.clone()).unwrap_or_default(),
                keywords,
                priority: IntentPriority::Always,
            });
        }
        for intent in flow.intents.iter().filter(|i| !is_always(&i.name)) {
            let aside = GlobalIntent::from_name(&intent.name).is_some_and(|g| {
                matches!(
                    g,
                    GlobalIntent::Repeat | GlobalIntent::Slower | GlobalIntent::Goodbye
                )
            });
            specs.push(IntentSpec {
                name: intent.name.clone(),
                examples: intent.examples.clone(),
                keywords: intent.keywords.clone(),
                priority: if aside {
                    IntentPriority::Aside
                } else {
                    IntentPriority::Normal
                },
            });
        }
        let mut classifier = Classifier::new(&specs, ClassifierConfig::default())?;
        if let Some(embedder) = embedder {
            let examples: Vec<&[String]> = specs.iter().map(|s| s.examples.as_slice()).collect();
            match SemanticIndex::build(Arc::clone(embedder), &examples) {
                Ok(index) => {
                    // Closeness in meaning separates intents that share words ("pay" in a
                    // question about the balance), so a smaller lead is decisive.
                    let config = ClassifierConfig {
                        margin: SEMANTIC_MARGIN,
                        ..ClassifierConfig::default()
                    };
                    classifier = Classifier::new(&specs, config)?.with_semantics(index);
                }
                Err(e) => tracing::warn!(
                    flow = %flow.name,
                    "examples could not be embedded, understanding by words only: {e}"
                ),
            }
        }
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

    /// Why the best intent scored as it did, for the call log: its nearest example (a flow's
    /// text, never the caller's) with the cosine, and its score from words alone.
    pub fn evidence(&self, expecting: Option<&Expecting>, text: &str) -> String {
        explain(&self.classify(expecting, text))
    }

    /// The classifier's view of `text` among what this question can act on: its own intents,
    /// yes/no at a confirmation, and the global handlers everywhere.
    fn classify(&self, expecting: Option<&Expecting>, text: &str) -> Classification {
        self.classifier.classify_among(text, |name| {
            GlobalIntent::from_name(name).is_some_and(|g| GlobalIntent::HANDLERS.contains(&g))
                || match expecting {
                    Some(Expecting::Ask { intents, .. }) => intents.iter().any(|i| i == name),
                    Some(Expecting::Confirm) => is_confirm_answer(name),
                    Some(Expecting::Clarify { intents }) => {
                        is_confirm_answer(name) || intents.iter().any(|i| i == name)
                    }
                    Some(Expecting::Survey { .. }) => false,
                    None => true,
                }
        })
    }

    /// Understands what the caller said for what the interpreter expects now.
    pub fn understand(
        &self,
        expecting: Option<&Expecting>,
        text: &str,
        call_date: NaiveDate,
        language: Option<String>,
    ) -> FlowEvent {
        self.understand_explained(expecting, text, call_date, language)
            .0
    }

    /// As [`Understanding::understand`], with [`Understanding::evidence`] from the same
    /// classification (the call log's reason, without classifying twice).
    pub fn understand_explained(
        &self,
        expecting: Option<&Expecting>,
        text: &str,
        call_date: NaiveDate,
        language: Option<String>,
    ) -> (FlowEvent, String) {
        let c = self.classify(expecting, text);
        let evidence = explain(&c);
        let mut intent = c.intent;
        let mut slots = BTreeMap::new();
        let overriding = intent.as_deref().is_some_and(is_always);
        match expecting {
            Some(Expecting::Ask {
                slot: Some(spec), ..
            }) if !overriding => {
                if let Some(v) = self
                    .slot_type(spec)
                    .and_then(|t| parse_slot(&t, text, call_date))
                {
                    slots.insert(spec.name.clone(), capture(&v, &spec.kind));
                    // A value that parses is the answer to the question: an ordinary intent
                    // (a sound-alike "slower" in "pouring") must not hijack it. Free text
                    // parses from anything, so there only a confident intent still wins.
                    let confident = c.confidence >= FREE_TEXT_INTENT_CONFIDENCE;
                    if spec.kind != SlotKind::FreeText || !confident {
                        intent = None;
                    }
                }
            }
            Some(Expecting::Confirm | Expecting::Clarify { .. }) if !overriding => {
                // The reply grammar first: a request to hear the question again, more slowly,
                // after a moment, or an unsure answer is never a yes, whatever yes word or
                // designer's keyword it contains ("repeat that please", "not sure").
                let answer = match yes_no_reply(text) {
                    Some(YesNoReply::Yes) => Some(GlobalIntent::Yes),
                    Some(YesNoReply::No) => Some(GlobalIntent::No),
                    Some(YesNoReply::Repeat) => Some(GlobalIntent::Repeat),
                    Some(YesNoReply::Slower) => Some(GlobalIntent::Slower),
                    Some(YesNoReply::Wait) => Some(GlobalIntent::Wait),
                    Some(YesNoReply::Unsure) => {
                        intent = None;
                        None
                    }
                    None => None,
                };
                if let Some(answer) = answer {
                    intent = Some(answer.name().to_string());
                } else if intent.as_deref() == Some(GlobalIntent::Yes.name())
                    && (is_negated(text) || is_question(text))
                {
                    // The classifier's yes came from a keyword inside a negation or a
                    // question back ("is that right?").
                    intent = None;
                }
            }
            Some(Expecting::Survey { .. }) if !overriding => {
                if let Some(v) = parse_slot(&SlotType::Number, text, call_date) {
                    slots.insert("answer".to_string(), capture(&v, &SlotKind::Number));
                }
            }
            _ => {}
        }
        let event = FlowEvent::Heard {
            text: Pii::new(text.to_string()),
            intent,
            confidence: c.confidence,
            slots,
            language,
            top: c.top,
        };
        (event, evidence)
    }

    /// Understands an answer heard twice: `first`, the greedy decode, which this question
    /// could make nothing of, and `second`, a sampled decode of the same audio. The second is
    /// believed only for an intent both decodes support: its score averaged over the two
    /// must clear the classifier's threshold and margin, as one decode's must alone. An intent
    /// missing from a decode's top three counts at that list's lowest score (its most).
    pub fn understand_second_opinion(
        &self,
        expecting: Option<&Expecting>,
        first: &str,
        second: &str,
        call_date: NaiveDate,
        language: Option<String>,
    ) -> FlowEvent {
        let heard_first = self.understand(expecting, first, call_date, language.clone());
        let FlowEvent::Heard {
            intent: None,
            slots: first_slots,
            top: first_top,
            ..
        } = &heard_first
        else {
            return heard_first;
        };
        if !first_slots.is_empty() {
            return heard_first;
        }
        let heard_second = self.understand(expecting, second, call_date, language);
        let FlowEvent::Heard {
            intent: Some(intent),
            top: second_top,
            ..
        } = &heard_second
        else {
            return heard_first;
        };
        let score = |top: &[(String, f32)], name: &str| {
            top.iter()
                .find(|(n, _)| n == name)
                .or_else(|| top.last())
                .map_or(0.0, |(_, s)| *s)
        };
        let both = |name: &str| (score(first_top, name) + score(second_top, name)) / 2.0;
        let agreed = both(intent);
        let rival = first_top
            .iter()
            .chain(second_top.iter())
            .filter(|(n, _)| n != intent)
            .map(|(n, _)| both(n))
            .fold(0.0f32, f32::max);
        let config = self.classifier.config();
        if agreed >= config.no_match_threshold && agreed - rival >= config.margin {
            match heard_second {
                FlowEvent::Heard {
                    text,
                    intent,
                    slots,
                    language,
                    top,
                    ..
                } => FlowEvent::Heard {
                    text,
                    intent,
                    confidence: agreed,
                    slots,
                    language,
                    top,
                },
                other => other,
            }
        } else {
            heard_first
        }
    }

    /// Whether `text` means something to the question: an intent, or a value for its slot.
    pub fn means_something(
        &self,
        expecting: Option<&Expecting>,
        text: &str,
        call_date: NaiveDate,
    ) -> bool {
        match expecting {
            // A survey answer without a score is still an answer; nothing to look again at.
            None | Some(Expecting::Survey { .. }) => true,
            Some(_) => matches!(
                self.understand(expecting, text, call_date, None),
                FlowEvent::Heard { intent, slots, .. } if intent.is_some() || !slots.is_empty()
            ),
        }
    }

    /// The classifier, for tools that explain or check it.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
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
        parse_dtmf_slot(&ty, digits).map(|v| capture(&v, &slot.kind))
    }
}

/// The call log's reason for a classification: the nearest example (a flow's text, never the
/// caller's) with its cosine, and the score from words alone.
fn explain(c: &Classification) -> String {
    match &c.nearest {
        Some((example, similarity)) => format!(
            "nearest example {example:?} ({similarity:.2}), words {:.2}",
            c.word_score
        ),
        None => format!("words {:.2} (no sentence model)", c.word_score),
    }
}

fn capture(v: &SlotValue, kind: &SlotKind) -> SlotCapture {
    SlotCapture {
        json: v.to_json(),
        spoken: v.spoken(),
        kind: kind.clone(),
    }
}
