//! The checked flow graph: what the checker produces and the interpreter runs. Every reference
//! is resolved to an index, every template parsed, every prompt known to exist.
//!
//! Owns only data. Building it is `check`; running it is `interpreter`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};

/// Index of a node in [`CheckedFlow::nodes`].
pub type NodeId = usize;

/// A flow that passed every check. Shared read-only between calls (`Arc`).
#[derive(Debug, Clone)]
pub struct CheckedFlow {
    pub name: String,
    /// Content hash of the source (first 16 hex digits of SHA-256): recorded with each call.
    pub version: String,
    pub file: PathBuf,
    /// Declared languages; the first is the default.
    pub languages: Vec<String>,
    pub start: NodeId,
    pub nodes: Vec<FlowNode>,
    pub intents: Vec<Intent>,
    /// Enumeration slot types by name.
    pub enums: BTreeMap<String, EnumType>,
    pub settings: Settings,
    pub hours: OpeningHours,
    pub bank_holidays: Vec<NaiveDate>,
    /// Text of named prompts by (language, name), from `prompts.tsv`: for TTS and the simulator.
    pub prompt_texts: BTreeMap<(String, String), String>,
}

/// A node and its id as written (subflow copies are `site/node`).
#[derive(Debug, Clone)]
pub struct FlowNode {
    pub id: String,
    pub kind: NodeKind,
}

/// What a node does.
#[derive(Debug, Clone)]
pub enum NodeKind {
    Say {
        prompts: Prompts,
        barge_in: bool,
        next: NodeId,
    },
    Ask(Box<Ask>),
    Confirm(Box<Confirm>),
    Set {
        assigns: Vec<(String, Template)>,
        next: NodeId,
    },
    Branch {
        arms: Vec<BranchArm>,
        otherwise: NodeId,
    },
    Case {
        case_type: String,
        fields: Vec<(String, Template)>,
        /// Update the returning caller's verified case (when it is of this type) instead of
        /// creating a duplicate.
        update: bool,
        next: NodeId,
        on_failure: Option<NodeId>,
    },
    /// Looks up the caller's open cases of these types (all types when empty).
    LookupCases {
        case_types: Vec<String>,
        found: NodeId,
        none: NodeId,
    },
    /// Compares captured slots with the same-named fields of the open cases found.
    VerifyCase {
        answers: Vec<String>,
        verified: NodeId,
        failed: NodeId,
    },
    Transfer {
        queue: String,
        priority: Priority,
        on_failure: Option<NodeId>,
    },
    Survey {
        questions: Vec<SurveyQuestion>,
        next: NodeId,
    },
    /// `goto`, and a subflow's `return` once inlined.
    Goto(NodeId),
    Hangup {
        prompts: Prompts,
    },
}

/// Transfer priority: safeguarding jumps the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Normal,
    Urgent,
    Emergency,
}

/// An `ask`: a prompt and what to listen for.
#[derive(Debug, Clone)]
pub struct Ask {
    pub prompts: Prompts,
    /// Intent name -> node it leads to.
    pub intents: Vec<(String, NodeId)>,
    /// Menu keys -> intent name.
    pub keys: Vec<(char, String)>,
    pub slot: Option<SlotSpec>,
    /// Where a captured slot goes.
    pub next: Option<NodeId>,
    pub digits: Option<DigitSpec>,
    pub no_input: Vec<Prompts>,
    pub no_match: Vec<Prompts>,
    pub max_attempts: u32,
    /// `None`: the advisor queue.
    pub fallback: Option<NodeId>,
    pub sensitive: bool,
    pub globals: Globals,
    pub no_input_timeout: Duration,
    /// Silence that ends the caller's answer to this ask (see `Settings::end_of_speech`).
    pub end_of_speech: Duration,
    /// Played instead of the prompt when speech recognition is unavailable (keys only);
    /// empty: a keypad prompt is generated from the ask's keys or slot type.
    pub keys_prompt: Prompts,
    /// Whether an answer close to one or two of its intents gets a "did you mean" question
    /// (naming intents that have a `describe`) before a no-match reprompt.
    pub clarify: bool,
}

/// A `confirm`: read back, then yes or no.
#[derive(Debug, Clone)]
pub struct Confirm {
    pub prompts: Prompts,
    pub yes: NodeId,
    pub no: NodeId,
    pub max_attempts: u32,
    pub fallback: Option<NodeId>,
    pub globals: Globals,
}

/// One survey question answered 1..=max by voice or key.
#[derive(Debug, Clone)]
pub struct SurveyQuestion {
    pub name: String,
    pub prompts: Prompts,
    pub max: u8,
}

/// A slot an `ask` captures.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSpec {
    pub name: String,
    pub kind: SlotKind,
}

/// Built-in slot types and enumerations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    YesNo,
    Digits,
    Number,
    UkPostcode,
    Date,
    PhoneNumber,
    FreeText,
    Enum(String),
}

impl SlotKind {
    /// Built-in type names as written in YAML.
    pub const BUILT_IN: [&'static str; 7] = [
        "yes_no",
        "digits",
        "number",
        "uk_postcode",
        "date",
        "phone_number",
        "free_text",
    ];

    pub fn from_name(name: &str) -> Option<SlotKind> {
        Some(match name {
            "yes_no" => SlotKind::YesNo,
            "digits" => SlotKind::Digits,
            "number" => SlotKind::Number,
            "uk_postcode" => SlotKind::UkPostcode,
            "date" => SlotKind::Date,
            "phone_number" => SlotKind::PhoneNumber,
            "free_text" => SlotKind::FreeText,
            _ => return None,
        })
    }

    /// Whether a caller can enter this on the keypad (an enumeration: key n for the n-th value).
    pub fn keyable(&self) -> bool {
        matches!(
            self,
            SlotKind::YesNo
                | SlotKind::Digits
                | SlotKind::Number
                | SlotKind::PhoneNumber
                | SlotKind::Enum(_)
        )
    }

    pub fn name(&self) -> &str {
        match self {
            SlotKind::YesNo => "yes_no",
            SlotKind::Digits => "digits",
            SlotKind::Number => "number",
            SlotKind::UkPostcode => "uk_postcode",
            SlotKind::Date => "date",
            SlotKind::PhoneNumber => "phone_number",
            SlotKind::FreeText => "free_text",
            SlotKind::Enum(name) => name,
        }
    }
}

/// DTMF collection for a digit-entry `ask`.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitSpec {
    pub max_digits: usize,
    pub terminator: Option<char>,
}

/// Which global handlers are live in an `ask`. Safeguarding is always live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Globals {
    pub advisor: bool,
    pub repeat: bool,
    pub slower: bool,
    pub goodbye: bool,
    pub language: bool,
}

impl Default for Globals {
    fn default() -> Self {
        Globals {
            advisor: true,
            repeat: true,
            slower: true,
            goodbye: true,
            language: true,
        }
    }
}

/// A declared intent.
#[derive(Debug, Clone)]
pub struct Intent {
    pub name: String,
    pub examples: Vec<String>,
    pub keywords: Vec<String>,
    /// How a clarifying question names it: "paying your council tax".
    pub describe: Option<String>,
}

/// An enumeration slot type: canonical value -> phrases that mean it.
#[derive(Debug, Clone)]
pub struct EnumType {
    pub values: Vec<(String, Vec<String>)>,
}

/// Flow-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub advisor_queue: String,
    pub emergency_queue: String,
    pub emergency_prompt: Prompts,
    pub max_attempts: u32,
    pub no_input_timeout: Duration,
    pub inter_digit_timeout: Duration,
    /// Silence that ends an answer to an open question (intents, yes/no).
    pub end_of_speech: Duration,
    /// Silence that ends a spoken value (digits, numbers, postcodes, dates, phone numbers):
    /// longer, so a caller reading a number in groups is not cut off between them.
    pub value_end_of_speech: Duration,
    pub max_utterance: Duration,
    /// Where "goodbye" leads: a survey node, or `None` to hang up at once.
    pub goodbye: Option<NodeId>,
    pub globals: Globals,
    /// Language detection: switch or offer an interpreter only at this probability or above.
    pub language_min_probability: f32,
    /// Played (in the caller's language when it has a text for it) before an interpreter
    /// transfer; `None`: transfer without an offer.
    pub interpreter_prompt: Option<String>,
    /// Where callers in a language the flow has no prompts for go.
    pub interpreter_queue: String,
}

/// Opening hours per weekday; a day not listed is closed.
#[derive(Debug, Clone, Default)]
pub struct OpeningHours {
    pub days: Vec<(Weekday, NaiveTime, NaiveTime)>,
}

impl OpeningHours {
    /// Whether the service is open at this local date and time (bank holidays closed).
    pub fn is_open(&self, date: NaiveDate, time: NaiveTime, bank_holidays: &[NaiveDate]) -> bool {
        use chrono::Datelike;
        if bank_holidays.contains(&date) {
            return false;
        }
        let day = date.weekday();
        self.days
            .iter()
            .any(|(d, from, to)| *d == day && time >= *from && time < *to)
    }
}

/// A `branch` arm: all conditions must hold.
#[derive(Debug, Clone)]
pub struct BranchArm {
    pub when: Vec<Condition>,
    pub goto: NodeId,
}

/// One condition in a `branch`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Equals { var: String, value: String },
    NotEquals { var: String, value: String },
    In { var: String, values: Vec<String> },
    IsSet { var: String, set: bool },
    Open(bool),
    BankHoliday(bool),
    CallerWithheld(bool),
}

/// A list of prompts played in order.
pub type Prompts = Vec<PromptRef>;

/// A named recording (or its TTS text from `prompts.tsv`) or inline text per language.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptRef {
    Named(String),
    /// Language -> text template. A single string is stored under the default language.
    Text(BTreeMap<String, Template>),
}

/// A prompt text with `{variable}` holes.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Literal(String),
    Var(String),
}

impl Template {
    /// Parses `{var}` holes. `{{` and `}}` are literal braces. Err: (char offset, message).
    pub fn parse(text: &str) -> Result<Template, (usize, String)> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err((i, "unclosed `{` in template".to_string()));
                    }
                    let name = name.trim().to_string();
                    let valid = !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
                    if !valid {
                        return Err((i, format!("`{{{name}}}` is not a variable name")));
                    }
                    if !lit.is_empty() {
                        parts.push(TemplatePart::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(TemplatePart::Var(name));
                }
                '}' => return Err((i, "`}` without a matching `{`".to_string())),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(TemplatePart::Literal(lit));
        }
        Ok(Template { parts })
    }

    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            TemplatePart::Var(v) => Some(v.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }

    /// Fills the holes; an unset variable renders as nothing.
    pub fn render(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(s) => out.push_str(s),
                TemplatePart::Var(v) => out.push_str(&lookup(v).unwrap_or_default()),
            }
        }
        out
    }
}

impl CheckedFlow {
    /// The id of a node by index; empty for an index out of range.
    pub fn node_name(&self, id: NodeId) -> &str {
        self.nodes.get(id).map_or("", |n| n.id.as_str())
    }

    /// Finds a node by its id as written.
    pub fn find(&self, id: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.id == id)
    }

    pub fn default_language(&self) -> &str {
        self.languages.first().map_or("en", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_vars_and_escapes() {
        let t = Template::parse("Ref {case.ref}, {{literal}}").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), vec!["case.ref"]);
        assert_eq!(t.render(|_| Some("AB1".into())), "Ref AB1, {literal}");
    }

    #[test]
    fn template_rejects_unclosed_and_bad_names() {
        assert_eq!(Template::parse("x {case.ref").unwrap_err().0, 2);
        assert!(Template::parse("{a b}").is_err());
        assert!(Template::parse("a } b").is_err());
    }

    #[test]
    fn opening_hours_closed_on_bank_holiday() {
        let hours = OpeningHours {
            days: vec![(
                Weekday::Fri,
                NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            )],
        };
        let fri = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap();
        assert!(hours.is_open(fri, noon, &[]));
        assert!(!hours.is_open(fri, noon, &[fri]));
    }
}
