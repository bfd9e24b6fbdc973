//! Raw flow types: the YAML tree read into the shape of the flow language, every name and
//! reference still a spanned string. Unknown keys, wrong value types and missing required keys
//! are reported here; nothing is resolved yet (that is `check`).
//!
//! Reads every part of the document even after an error, so one run reports every problem.

use std::path::Path;

use super::diag::{Diagnostics, did_you_mean};
use super::yaml::{Node, Pos, Value};

/// A value with the position it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Sp<T> {
    pub value: T,
    pub pos: Pos,
}

/// A whole flow file as written.
#[derive(Debug, Clone, Default)]
pub struct RawFlow {
    pub name: Option<Sp<String>>,
    pub languages: Vec<Sp<String>>,
    pub start: Option<Sp<String>>,
    pub settings: RawSettings,
    pub globals: RawGlobals,
    pub opening_hours: Vec<(Sp<String>, Sp<String>)>,
    pub bank_holidays: Vec<Sp<String>>,
    pub intents: Vec<RawIntent>,
    pub slot_types: Vec<RawEnum>,
    pub nodes: Vec<RawNode>,
    pub subflows: Vec<RawSubflow>,
}

#[derive(Debug, Clone, Default)]
pub struct RawSettings {
    pub advisor_queue: Option<Sp<String>>,
    pub emergency_queue: Option<Sp<String>>,
    pub emergency_prompt: Option<Vec<RawPrompt>>,
    pub max_attempts: Option<Sp<u32>>,
    pub no_input_timeout_ms: Option<Sp<u32>>,
    pub inter_digit_timeout_ms: Option<Sp<u32>>,
    pub end_of_speech_ms: Option<Sp<u32>>,
    pub value_end_of_speech_ms: Option<Sp<u32>>,
    pub max_utterance_ms: Option<Sp<u32>>,
    pub goodbye: Option<Sp<String>>,
    pub language_min_probability: Option<Sp<f64>>,
    pub interpreter_prompt: Option<Sp<String>>,
    pub interpreter_languages: Vec<Sp<String>>,
    pub interpreter_queue: Option<Sp<String>>,
}

/// Switches for the global handlers (flow-wide or per `ask`).
#[derive(Debug, Clone, Default)]
pub struct RawGlobals {
    pub pos: Option<Pos>,
    pub advisor: Option<Sp<bool>>,
    pub repeat: Option<Sp<bool>>,
    pub slower: Option<Sp<bool>>,
    pub goodbye: Option<Sp<bool>>,
    pub language: Option<Sp<bool>>,
    pub safeguarding: Option<Sp<bool>>,
}

#[derive(Debug, Clone)]
pub struct RawIntent {
    pub name: Sp<String>,
    pub examples: Vec<Sp<String>>,
    pub keywords: Vec<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct RawEnum {
    pub name: Sp<String>,
    pub values: Vec<(Sp<String>, Vec<Sp<String>>)>,
}

#[derive(Debug, Clone)]
pub struct RawSubflow {
    pub name: Sp<String>,
    pub start: Option<Sp<String>>,
    pub nodes: Vec<RawNode>,
}

/// A prompt as written: a name, or text (one string, or per language).
#[derive(Debug, Clone, PartialEq)]
pub enum RawPrompt {
    Named(Sp<String>),
    Text {
        pos: Pos,
        by_lang: Vec<(Option<Sp<String>>, Sp<String>)>,
    },
}

impl RawPrompt {
    pub fn pos(&self) -> Pos {
        match self {
            RawPrompt::Named(s) => s.pos,
            RawPrompt::Text { pos, .. } => *pos,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RawNode {
    pub id: Sp<String>,
    pub kind: RawKind,
}

#[derive(Debug, Clone)]
pub enum RawKind {
    Say {
        prompts: Vec<RawPrompt>,
        barge_in: Option<Sp<bool>>,
        next: Option<Sp<String>>,
    },
    Ask(Box<RawAsk>),
    Confirm(Box<RawConfirm>),
    Set {
        assigns: Vec<(Sp<String>, Sp<String>)>,
        next: Option<Sp<String>>,
    },
    Branch {
        arms: Vec<RawArm>,
        otherwise: Option<Sp<String>>,
    },
    Case {
        case_type: Option<Sp<String>>,
        fields: Vec<(Sp<String>, Sp<String>)>,
        /// `update: true`: update the returning caller's verified case instead of creating one.
        update: Option<Sp<bool>>,
        next: Option<Sp<String>>,
        on_failure: Option<Sp<String>>,
    },
    /// `lookup_cases: [types]`: the caller's open cases of these types (`caller.open_cases`).
    LookupCases {
        pos: Pos,
        case_types: Vec<Sp<String>>,
        found: Option<Sp<String>>,
        none: Option<Sp<String>>,
    },
    /// `verify_case: [slots]`: the caller's answers against one of the open cases found.
    VerifyCase {
        pos: Pos,
        answers: Vec<Sp<String>>,
        verified: Option<Sp<String>>,
        failed: Option<Sp<String>>,
    },
    Transfer {
        queue: Option<Sp<String>>,
        priority: Option<Sp<String>>,
        on_failure: Option<Sp<String>>,
    },
    Survey {
        questions: Vec<RawQuestion>,
        next: Option<Sp<String>>,
    },
    Subflow {
        name: Sp<String>,
        next: Option<Sp<String>>,
    },
    Goto(Sp<String>),
    Return,
    Hangup {
        prompts: Vec<RawPrompt>,
    },
    /// The node could not be read; already reported.
    Invalid,
}

#[derive(Debug, Clone, Default)]
pub struct RawAsk {
    pub pos: Pos,
    pub prompts: Vec<RawPrompt>,
    pub intents: Vec<(Sp<String>, Sp<String>)>,
    pub keys: Vec<(Sp<String>, Sp<String>)>,
    pub slot: Option<(Sp<String>, Sp<String>)>,
    pub next: Option<Sp<String>>,
    pub digits: Option<(Sp<u32>, Option<Sp<String>>)>,
    pub no_input: Vec<Vec<RawPrompt>>,
    pub no_match: Vec<Vec<RawPrompt>>,
    pub max_attempts: Option<Sp<u32>>,
    pub fallback: Option<Sp<String>>,
    pub sensitive: Option<Sp<bool>>,
    pub globals: RawGlobals,
    pub allow_no_advisor: Option<Sp<bool>>,
    pub reason: Option<Sp<String>>,
    pub timeout_ms: Option<Sp<u32>>,
    pub end_of_speech_ms: Option<Sp<u32>>,
    pub keys_prompt: Option<Vec<RawPrompt>>,
}

#[derive(Debug, Clone, Default)]
pub struct RawConfirm {
    pub pos: Pos,
    pub prompts: Vec<RawPrompt>,
    pub yes: Option<Sp<String>>,
    pub no: Option<Sp<String>>,
    pub max_attempts: Option<Sp<u32>>,
    pub fallback: Option<Sp<String>>,
    pub globals: RawGlobals,
    pub allow_no_advisor: Option<Sp<bool>>,
    pub reason: Option<Sp<String>>,
}

#[derive(Debug, Clone)]
pub struct RawArm {
    pub pos: Pos,
    pub when: Vec<Sp<RawCondition>>,
    pub goto: Option<Sp<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RawCondition {
    Equals {
        var: Sp<String>,
        value: String,
    },
    NotEquals {
        var: Sp<String>,
        value: String,
    },
    In {
        var: Sp<String>,
        values: Vec<String>,
    },
    IsSet {
        var: Sp<String>,
        set: bool,
    },
    Open(bool),
    BankHoliday(bool),
    CallerWithheld(bool),
}

#[derive(Debug, Clone)]
pub struct RawQuestion {
    pub name: Sp<String>,
    pub prompts: Vec<RawPrompt>,
    pub max: Option<Sp<u32>>,
}

/// Node kind keys: exactly one per node.
pub const NODE_KINDS: [&str; 14] = [
    "say",
    "ask",
    "confirm",
    "set",
    "branch",
    "case",
    "transfer",
    "survey",
    "subflow",
    "goto",
    "return",
    "hangup",
    "lookup_cases",
    "verify_case",
];

const TOP_KEYS: [&str; 11] = [
    "flow",
    "description",
    "languages",
    "start",
    "settings",
    "globals",
    "opening_hours",
    "bank_holidays",
    "intents",
    "slot_types",
    "nodes",
];
const SUBFLOWS_KEY: &str = "subflows";
const SETTINGS_KEYS: [&str; 14] = [
    "advisor_queue",
    "emergency_queue",
    "emergency_prompt",
    "max_attempts",
    "no_input_timeout_ms",
    "inter_digit_timeout_ms",
    "end_of_speech_ms",
    "value_end_of_speech_ms",
    "max_utterance_ms",
    "goodbye",
    "language_min_probability",
    "interpreter_prompt",
    "interpreter_languages",
    "interpreter_queue",
];
const GLOBALS_KEYS: [&str; 6] = [
    "advisor",
    "repeat",
    "slower",
    "goodbye",
    "language",
    "safeguarding",
];
const ASK_KEYS: [&str; 17] = [
    "intents",
    "keys",
    "slot",
    "next",
    "digits",
    "no_input",
    "no_match",
    "max_attempts",
    "fallback",
    "sensitive",
    "globals",
    "allow_no_advisor",
    "reason",
    "timeout_ms",
    "end_of_speech_ms",
    "keys_prompt",
    "description",
];
const CONFIRM_KEYS: [&str; 8] = [
    "yes",
    "no",
    "max_attempts",
    "fallback",
    "globals",
    "allow_no_advisor",
    "reason",
    "description",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Reads a parsed YAML document as a flow, reporting every shape problem into `diags`.
pub fn read_flow(doc: &Node, file: &Path, diags: &mut Diagnostics) -> RawFlow {
    let mut r = Reader { file, diags };
    r.flow(doc)
}

struct Reader<'a> {
    file: &'a Path,
    diags: &'a mut Diagnostics,
}

impl Reader<'_> {
    fn flow(&mut self, doc: &Node) -> RawFlow {
        let mut flow = RawFlow::default();
        let mut allowed: Vec<&str> = TOP_KEYS.to_vec();
        allowed.push(SUBFLOWS_KEY);
        let Some(entries) = self.map(doc, "a flow file", &allowed) else {
            return flow;
        };
        for (key, value) in entries {
            match key.as_str().unwrap_or("") {
                "flow" => flow.name = self.string(value, "`flow` (the flow's name)"),
                "description" => {}
                "languages" => flow.languages = self.string_list(value, "`languages`"),
                "start" => flow.start = self.string(value, "`start`"),
                "settings" => flow.settings = self.settings(value),
                "globals" => flow.globals = self.globals(value),
                "opening_hours" => flow.opening_hours = self.opening_hours(value),
                "bank_holidays" => flow.bank_holidays = self.string_list(value, "`bank_holidays`"),
                "intents" => flow.intents = self.intents(value),
                "slot_types" => flow.slot_types = self.slot_types(value),
                "nodes" => flow.nodes = self.nodes(value),
                "subflows" => flow.subflows = self.subflows(value),
                _ => {}
            }
        }
        if flow.name.is_none() {
            self.error(doc.pos, "missing-key", "a flow needs `flow: <name>`", None);
        }
        if flow.start.is_none() {
            self.error(
                doc.pos,
                "missing-key",
                "a flow needs `start: <node id>`",
                None,
            );
        }
        flow
    }

    fn settings(&mut self, node: &Node) -> RawSettings {
        let mut s = RawSettings::default();
        let Some(entries) = self.map(node, "`settings`", &SETTINGS_KEYS) else {
            return s;
        };
        for (key, value) in entries {
            match key.as_str().unwrap_or("") {
                "advisor_queue" => s.advisor_queue = self.string(value, "`advisor_queue`"),
                "emergency_queue" => s.emergency_queue = self.string(value, "`emergency_queue`"),
                "emergency_prompt" => s.emergency_prompt = Some(self.prompts(value)),
                "max_attempts" => s.max_attempts = self.number(value, "`max_attempts`"),
                "no_input_timeout_ms" => {
                    s.no_input_timeout_ms = self.number(value, "`no_input_timeout_ms`")
                }
                "inter_digit_timeout_ms" => {
                    s.inter_digit_timeout_ms = self.number(value, "`inter_digit_timeout_ms`")
                }
                "end_of_speech_ms" => s.end_of_speech_ms = self.number(value, "`end_of_speech_ms`"),
                "value_end_of_speech_ms" => {
                    s.value_end_of_speech_ms = self.number(value, "`value_end_of_speech_ms`")
                }
                "max_utterance_ms" => s.max_utterance_ms = self.number(value, "`max_utterance_ms`"),
                "goodbye" => s.goodbye = self.string(value, "`goodbye` (a node id)"),
                "language_min_probability" => {
                    s.language_min_probability = self.fraction(value, "`language_min_probability`")
                }
                "interpreter_prompt" => {
                    s.interpreter_prompt =
                        self.string(value, "`interpreter_prompt` (a prompt name)")
                }
                "interpreter_languages" => {
                    s.interpreter_languages = self.string_list(value, "`interpreter_languages`")
                }
                "interpreter_queue" => {
                    s.interpreter_queue = self.string(value, "`interpreter_queue`")
                }
                _ => {}
            }
        }
        s
    }

    fn globals(&mut self, node: &Node) -> RawGlobals {
        let mut g = RawGlobals {
            pos: Some(node.pos),
            ..RawGlobals::default()
        };
        let Some(entries) = self.map(node, "`globals`", &GLOBALS_KEYS) else {
            return g;
        };
        for (key, value) in entries {
            let name = key.as_str().unwrap_or("");
            let v = self.boolean(value, "a global handler switch");
            match name {
                "advisor" => g.advisor = v,
                "repeat" => g.repeat = v,
                "slower" => g.slower = v,
                "goodbye" => g.goodbye = v,
                "language" => g.language = v,
                "safeguarding" => g.safeguarding = v,
                _ => {}
            }
        }
        g
    }

    fn opening_hours(&mut self, node: &Node) -> Vec<(Sp<String>, Sp<String>)> {
        let Some(entries) = self.map(node, "`opening_hours`", &WEEKDAYS) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            if let (Some(day), Some(range)) = (
                self.key(key),
                self.string(value, "opening hours like \"08:30-17:00\""),
            ) {
                out.push((day, range));
            }
        }
        out
    }

    fn intents(&mut self, node: &Node) -> Vec<RawIntent> {
        let Some(entries) = self.open_map(node, "`intents`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.key(key) else { continue };
            let mut intent = RawIntent {
                name,
                examples: Vec::new(),
                keywords: Vec::new(),
            };
            if let Some(fields) = self.map(value, "an intent", &["examples", "keywords"]) {
                for (k, v) in fields {
                    match k.as_str().unwrap_or("") {
                        "examples" => intent.examples = self.string_list(v, "`examples`"),
                        "keywords" => intent.keywords = self.string_list(v, "`keywords`"),
                        _ => {}
                    }
                }
            }
            out.push(intent);
        }
        out
    }

    fn slot_types(&mut self, node: &Node) -> Vec<RawEnum> {
        let Some(entries) = self.open_map(node, "`slot_types`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.key(key) else { continue };
            let mut values = Vec::new();
            if let Some(fields) = self.map(value, "a slot type", &["values"]) {
                for (k, v) in fields {
                    if k.as_str() == Some("values")
                        && let Some(vals) = self.open_map(v, "`values` (value: [phrases])")
                    {
                        for (vk, vv) in vals {
                            if let Some(canon) = self.key(vk) {
                                let phrases =
                                    self.string_list(vv, "phrases for an enumeration value");
                                values.push((canon, phrases));
                            }
                        }
                    }
                }
            }
            out.push(RawEnum { name, values });
        }
        out
    }

    fn subflows(&mut self, node: &Node) -> Vec<RawSubflow> {
        let Some(entries) = self.open_map(node, "`subflows`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.key(key) else { continue };
            let mut sub = RawSubflow {
                name,
                start: None,
                nodes: Vec::new(),
            };
            if let Some(fields) = self.map(value, "a subflow", &["start", "nodes", "description"]) {
                for (k, v) in fields {
                    match k.as_str().unwrap_or("") {
                        "start" => sub.start = self.string(v, "`start`"),
                        "nodes" => sub.nodes = self.nodes(v),
                        _ => {}
                    }
                }
            }
            if sub.start.is_none() {
                self.error(
                    sub.name.pos,
                    "missing-key",
                    format!("subflow `{}` needs `start: <node id>`", sub.name.value),
                    None,
                );
            }
            out.push(sub);
        }
        out
    }

    fn nodes(&mut self, node: &Node) -> Vec<RawNode> {
        let Some(entries) = self.open_map(node, "`nodes`") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(id) = self.key(key) else { continue };
            let kind = self.node(&id, value);
            out.push(RawNode { id, kind });
        }
        out
    }

    fn node(&mut self, id: &Sp<String>, node: &Node) -> RawKind {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.pos,
                "wrong-type",
                format!(
                    "node `{}` must be a mapping, found {}",
                    id.value,
                    node.kind()
                ),
                None,
            );
            return RawKind::Invalid;
        };
        let kinds: Vec<&Node> = entries
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.as_str().is_some_and(|s| NODE_KINDS.contains(&s)))
            .collect();
        let (kind_key, kind_value) = match kinds.as_slice() {
            [one] => {
                let value = entries
                    .iter()
                    .find(|(k, _)| std::ptr::eq(k, *one))
                    .map(|(_, v)| v);
                match value {
                    Some(v) => (one.as_str().unwrap_or(""), v),
                    None => return RawKind::Invalid,
                }
            }
            [] => {
                let hint = entries
                    .iter()
                    .filter_map(|(k, _)| k.as_str())
                    .find_map(|k| did_you_mean(k, NODE_KINDS))
                    .or_else(|| Some(format!("a node is one of: {}", NODE_KINDS.join(", "))));
                self.error(
                    id.pos,
                    "unknown-node-type",
                    format!("node `{}` has no node type", id.value),
                    hint,
                );
                return RawKind::Invalid;
            }
            [_, second, ..] => {
                self.error(
                    second.pos,
                    "two-node-types",
                    format!("node `{}` has more than one node type", id.value),
                    None,
                );
                return RawKind::Invalid;
            }
        };
        let extra: &[&str] = match kind_key {
            "say" => &["next", "barge_in", "description"],
            "ask" => &ASK_KEYS,
            "confirm" => &CONFIRM_KEYS,
            "set" | "survey" | "subflow" => &["next", "description"],
            "case" => &["next", "on_failure", "description"],
            "lookup_cases" => &["found", "none", "description"],
            "verify_case" => &["verified", "failed", "description"],
            "transfer" => &["on_failure", "description"],
            "branch" => &["else", "description"],
            _ => &["description"],
        };
        let mut allowed: Vec<&str> = extra.to_vec();
        allowed.push(kind_key);
        self.check_keys(entries, &allowed, &format!("a `{kind_key}` node"));
        let field = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(name))
                .map(|(_, v)| v)
        };
        let next = |r: &mut Self| field("next").and_then(|v| r.string(v, "`next` (a node id)"));
        match kind_key {
            "say" => RawKind::Say {
                prompts: self.prompts(kind_value),
                barge_in: field("barge_in").and_then(|v| self.boolean(v, "`barge_in`")),
                next: next(self),
            },
            "ask" => RawKind::Ask(Box::new(self.ask(kind_value, &field))),
            "confirm" => {
                let mut c = RawConfirm {
                    pos: kind_value.pos,
                    prompts: self.prompts(kind_value),
                    ..RawConfirm::default()
                };
                c.yes = field("yes").and_then(|v| self.string(v, "`yes` (a node id)"));
                c.no = field("no").and_then(|v| self.string(v, "`no` (a node id)"));
                c.max_attempts =
                    field("max_attempts").and_then(|v| self.number(v, "`max_attempts`"));
                c.fallback =
                    field("fallback").and_then(|v| self.string(v, "`fallback` (a node id)"));
                c.globals = field("globals")
                    .map(|v| self.globals(v))
                    .unwrap_or_default();
                c.allow_no_advisor =
                    field("allow_no_advisor").and_then(|v| self.boolean(v, "`allow_no_advisor`"));
                c.reason = field("reason").and_then(|v| self.string(v, "`reason`"));
                RawKind::Confirm(Box::new(c))
            }
            "set" => RawKind::Set {
                assigns: self.string_map(kind_value, "`set` (variable: value)"),
                next: next(self),
            },
            "branch" => RawKind::Branch {
                arms: self.arms(kind_value),
                otherwise: field("else").and_then(|v| self.string(v, "`else` (a node id)")),
            },
            "case" => {
                let mut case_type = None;
                let mut fields = Vec::new();
                let mut update = None;
                if let Some(cfields) = self.map(kind_value, "`case`", &["type", "fields", "update"])
                {
                    for (k, v) in cfields {
                        match k.as_str().unwrap_or("") {
                            "type" => case_type = self.string(v, "`type`"),
                            "fields" => fields = self.string_map(v, "`fields` (name: value)"),
                            "update" => update = self.boolean(v, "`update`"),
                            _ => {}
                        }
                    }
                }
                RawKind::Case {
                    case_type,
                    fields,
                    update,
                    next: next(self),
                    on_failure: field("on_failure")
                        .and_then(|v| self.string(v, "`on_failure` (a node id)")),
                }
            }
            "transfer" => {
                let on_failure =
                    field("on_failure").and_then(|v| self.string(v, "`on_failure` (a node id)"));
                if let Value::Map(_) = kind_value.value {
                    let mut queue = None;
                    let mut priority = None;
                    if let Some(tf) = self.map(kind_value, "`transfer`", &["queue", "priority"]) {
                        for (k, v) in tf {
                            match k.as_str().unwrap_or("") {
                                "queue" => queue = self.string(v, "`queue`"),
                                "priority" => priority = self.string(v, "`priority`"),
                                _ => {}
                            }
                        }
                    }
                    RawKind::Transfer {
                        queue,
                        priority,
                        on_failure,
                    }
                } else {
                    RawKind::Transfer {
                        queue: self.string(kind_value, "`transfer` (a queue name)"),
                        priority: None,
                        on_failure,
                    }
                }
            }
            "survey" => RawKind::Survey {
                questions: self.questions(kind_value),
                next: next(self),
            },
            "subflow" => match self.string(kind_value, "`subflow` (a subflow name)") {
                Some(name) => RawKind::Subflow {
                    name,
                    next: next(self),
                },
                None => RawKind::Invalid,
            },
            "goto" => match self.string(kind_value, "`goto` (a node id)") {
                Some(target) => RawKind::Goto(target),
                None => RawKind::Invalid,
            },
            "lookup_cases" => RawKind::LookupCases {
                pos: kind_value.pos,
                case_types: self.string_list(kind_value, "`lookup_cases` (case types)"),
                found: field("found").and_then(|v| self.string(v, "`found` (a node id)")),
                none: field("none").and_then(|v| self.string(v, "`none` (a node id)")),
            },
            "verify_case" => RawKind::VerifyCase {
                pos: kind_value.pos,
                answers: self.string_list(kind_value, "`verify_case` (slot names)"),
                verified: field("verified").and_then(|v| self.string(v, "`verified` (a node id)")),
                failed: field("failed").and_then(|v| self.string(v, "`failed` (a node id)")),
            },
            "return" => RawKind::Return,
            "hangup" => RawKind::Hangup {
                prompts: match kind_value.value {
                    Value::Bool(true) | Value::Null => Vec::new(),
                    _ => self.prompts(kind_value),
                },
            },
            _ => RawKind::Invalid,
        }
    }

    fn ask<'n>(&mut self, prompt: &Node, field: &dyn Fn(&str) -> Option<&'n Node>) -> RawAsk {
        let mut a = RawAsk {
            pos: prompt.pos,
            prompts: self.prompts(prompt),
            ..RawAsk::default()
        };
        if let Some(v) = field("intents") {
            a.intents = self.string_map(v, "`intents` (intent: node id)");
        }
        if let Some(v) = field("keys") {
            a.keys = self.string_map(v, "`keys` (key: intent)");
        }
        if let Some(v) = field("slot")
            && let Some(entries) = self.map(v, "`slot`", &["name", "type"])
        {
            let mut name = None;
            let mut ty = None;
            for (k, val) in entries {
                match k.as_str().unwrap_or("") {
                    "name" => name = self.string(val, "`name`"),
                    "type" => ty = self.string(val, "`type` (a slot type)"),
                    _ => {}
                }
            }
            match (name, ty) {
                (Some(n), Some(t)) => a.slot = Some((n, t)),
                _ => self.error(v.pos, "missing-key", "`slot` needs `name` and `type`", None),
            }
        }
        a.next = field("next").and_then(|v| self.string(v, "`next` (a node id)"));
        if let Some(v) = field("digits")
            && let Some(entries) = self.map(v, "`digits`", &["max", "terminator"])
        {
            let mut max = None;
            let mut term = None;
            for (k, val) in entries {
                match k.as_str().unwrap_or("") {
                    "max" => max = self.number(val, "`max`"),
                    "terminator" => term = self.string(val, "`terminator`"),
                    _ => {}
                }
            }
            match max {
                Some(m) => a.digits = Some((m, term)),
                None => self.error(v.pos, "missing-key", "`digits` needs `max`", None),
            }
        }
        a.no_input = field("no_input")
            .map(|v| self.prompt_steps(v))
            .unwrap_or_default();
        a.no_match = field("no_match")
            .map(|v| self.prompt_steps(v))
            .unwrap_or_default();
        a.max_attempts = field("max_attempts").and_then(|v| self.number(v, "`max_attempts`"));
        a.fallback = field("fallback").and_then(|v| self.string(v, "`fallback` (a node id)"));
        a.sensitive = field("sensitive").and_then(|v| self.boolean(v, "`sensitive`"));
        a.globals = field("globals")
            .map(|v| self.globals(v))
            .unwrap_or_default();
        a.allow_no_advisor =
            field("allow_no_advisor").and_then(|v| self.boolean(v, "`allow_no_advisor`"));
        a.reason = field("reason").and_then(|v| self.string(v, "`reason`"));
        a.timeout_ms = field("timeout_ms").and_then(|v| self.number(v, "`timeout_ms`"));
        a.end_of_speech_ms =
            field("end_of_speech_ms").and_then(|v| self.number(v, "`end_of_speech_ms`"));
        a.keys_prompt = field("keys_prompt").map(|v| self.prompts(v));
        a
    }

    /// Escalating reprompts: a list whose entries are each a prompt or a list of prompts.
    fn prompt_steps(&mut self, node: &Node) -> Vec<Vec<RawPrompt>> {
        match &node.value {
            Value::Seq(items) => items.iter().map(|i| self.prompts(i)).collect(),
            _ => vec![self.prompts(node)],
        }
    }

    fn arms(&mut self, node: &Node) -> Vec<RawArm> {
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, "`branch` (a list of `when`/`goto` arms)");
            return Vec::new();
        };
        let mut arms = Vec::new();
        for item in items {
            let Some(entries) = self.map(item, "a branch arm", &["when", "goto"]) else {
                continue;
            };
            let mut arm = RawArm {
                pos: item.pos,
                when: Vec::new(),
                goto: None,
            };
            for (k, v) in entries {
                match k.as_str().unwrap_or("") {
                    "when" => arm.when = self.conditions(v),
                    "goto" => arm.goto = self.string(v, "`goto` (a node id)"),
                    _ => {}
                }
            }
            if arm.goto.is_none() {
                self.error(item.pos, "missing-key", "a branch arm needs `goto`", None);
            }
            arms.push(arm);
        }
        arms
    }

    fn conditions(&mut self, node: &Node) -> Vec<Sp<RawCondition>> {
        const COND_KEYS: [&str; 8] = [
            "var",
            "equals",
            "not_equals",
            "in",
            "is_set",
            "open",
            "bank_holiday",
            "caller_withheld",
        ];
        let Some(entries) = self.map(node, "`when`", &COND_KEYS) else {
            return Vec::new();
        };
        let field = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(name))
                .map(|(_, v)| v)
        };
        let mut out = Vec::new();
        let var = field("var").and_then(|v| self.string(v, "`var`"));
        for (k, v) in entries {
            let key = k.as_str().unwrap_or("");
            let cond = match key {
                "open" => self
                    .boolean(v, "`open`")
                    .map(|b| RawCondition::Open(b.value)),
                "bank_holiday" => self
                    .boolean(v, "`bank_holiday`")
                    .map(|b| RawCondition::BankHoliday(b.value)),
                "caller_withheld" => self
                    .boolean(v, "`caller_withheld`")
                    .map(|b| RawCondition::CallerWithheld(b.value)),
                "equals" | "not_equals" | "in" | "is_set" => {
                    let Some(var) = var.clone() else {
                        self.error(
                            k.pos,
                            "missing-key",
                            format!("`{key}` needs `var` beside it"),
                            None,
                        );
                        continue;
                    };
                    match key {
                        "equals" => v
                            .scalar_text()
                            .map(|value| RawCondition::Equals { var, value }),
                        "not_equals" => v
                            .scalar_text()
                            .map(|value| RawCondition::NotEquals { var, value }),
                        "in" => Some(RawCondition::In {
                            var,
                            values: self
                                .string_list(v, "`in`")
                                .into_iter()
                                .map(|s| s.value)
                                .collect(),
                        }),
                        _ => self
                            .boolean(v, "`is_set`")
                            .map(|b| RawCondition::IsSet { var, set: b.value }),
                    }
                }
                _ => continue,
            };
            if let Some(cond) = cond {
                out.push(Sp {
                    value: cond,
                    pos: k.pos,
                });
            }
        }
        if out.is_empty() {
            self.error(node.pos, "empty-condition", "`when` has no condition", Some("use `var` with `equals`, `not_equals`, `in` or `is_set`, or `open`, `bank_holiday`, `caller_withheld`".into()));
        }
        out
    }

    fn questions(&mut self, node: &Node) -> Vec<RawQuestion> {
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, "`survey` (a list of questions)");
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some(entries) = self.map(item, "a survey question", &["name", "ask", "max"]) else {
                continue;
            };
            let mut name = None;
            let mut prompts = Vec::new();
            let mut max = None;
            for (k, v) in entries {
                match k.as_str().unwrap_or("") {
                    "name" => name = self.string(v, "`name`"),
                    "ask" => prompts = self.prompts(v),
                    "max" => max = self.number(v, "`max`"),
                    _ => {}
                }
            }
            match name {
                Some(name) => out.push(RawQuestion { name, prompts, max }),
                None => self.error(
                    item.pos,
                    "missing-key",
                    "a survey question needs `name`",
                    None,
                ),
            }
        }
        out
    }

    /// One prompt or a list: `name`, `{text: "..."}`, `{text: {en: "...", cy: "..."}}`.
    fn prompts(&mut self, node: &Node) -> Vec<RawPrompt> {
        match &node.value {
            Value::Seq(items) => items.iter().filter_map(|i| self.prompt(i)).collect(),
            _ => self.prompt(node).into_iter().collect(),
        }
    }

    fn prompt(&mut self, node: &Node) -> Option<RawPrompt> {
        match &node.value {
            Value::Str(s) => Some(RawPrompt::Named(Sp {
                value: s.clone(),
                pos: node.pos,
            })),
            Value::Map(_) => {
                let entries = self.map(node, "a prompt", &["text", "prompt"])?;
                let (k, v) = entries.first()?;
                match k.as_str() {
                    Some("prompt") => self
                        .string(v, "`prompt` (a prompt name)")
                        .map(RawPrompt::Named),
                    _ => match &v.value {
                        Value::Str(s) => Some(RawPrompt::Text {
                            pos: v.pos,
                            by_lang: vec![(
                                None,
                                Sp {
                                    value: s.clone(),
                                    pos: v.pos,
                                },
                            )],
                        }),
                        Value::Map(_) => {
                            let by_lang = self
                                .string_map(v, "`text` per language (lang: text)")
                                .into_iter()
                                .map(|(l, t)| (Some(l), t))
                                .collect();
                            Some(RawPrompt::Text {
                                pos: v.pos,
                                by_lang,
                            })
                        }
                        _ => {
                            self.wrong_type(v, "`text`");
                            None
                        }
                    },
                }
            }
            _ => {
                self.wrong_type(node, "a prompt (a name, or `text:`)");
                None
            }
        }
    }

    // --- primitive readers -------------------------------------------------------------

    /// A mapping whose keys must be in `allowed`; reports unknown and repeated keys.
    fn map<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<&'n [(Node, Node)]> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, what);
            return None;
        };
        self.check_keys(entries, allowed, what);
        Some(entries)
    }

    fn check_keys(&mut self, entries: &[(Node, Node)], allowed: &[&str], what: &str) {
        for (i, (key, _)) in entries.iter().enumerate() {
            let Some(name) = key.as_str() else {
                self.error(
                    key.pos,
                    "wrong-type",
                    format!("keys of {what} must be text"),
                    None,
                );
                continue;
            };
            if !allowed.contains(&name) {
                let hint = did_you_mean(name, allowed.iter().copied())
                    .or_else(|| Some(format!("{what} takes: {}", allowed.join(", "))));
                self.error(
                    key.pos,
                    "unknown-key",
                    format!("unknown key `{name}` in {what}"),
                    hint,
                );
            } else if entries[..i].iter().any(|(k, _)| k.as_str() == Some(name)) {
                self.error(
                    key.pos,
                    "duplicate-key",
                    format!("`{name}` is given twice in {what}"),
                    None,
                );
            }
        }
    }

    /// A mapping with designer-chosen keys (ids, names); duplicates are reported by `check`.
    fn open_map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            Value::Null => Some(&[]),
            _ => {
                self.wrong_type(node, what);
                None
            }
        }
    }

    fn key(&mut self, node: &Node) -> Option<Sp<String>> {
        match node.scalar_text() {
            Some(value) => Some(Sp {
                value,
                pos: node.pos,
            }),
            None => {
                self.error(node.pos, "wrong-type", "a key must be text", None);
                None
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<Sp<String>> {
        match &node.value {
            Value::Str(_) | Value::Int(_) => node.scalar_text().map(|value| Sp {
                value,
                pos: node.pos,
            }),
            _ => {
                self.wrong_type(node, what);
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Sp<String>> {
        match &node.value {
            Value::Seq(items) => items.iter().filter_map(|i| self.string(i, what)).collect(),
            Value::Str(_) => self.string(node, what).into_iter().collect(),
            _ => {
                self.wrong_type(node, what);
                Vec::new()
            }
        }
    }

    fn string_map(&mut self, node: &Node, what: &str) -> Vec<(Sp<String>, Sp<String>)> {
        let Some(entries) = self.open_map(node, what) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if let (Some(key), Some(value)) = (self.key(k), self.string(v, what)) {
                out.push((key, value));
            }
        }
        out
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<Sp<u32>> {
        match node.value {
            Value::Int(n) if (0..=i64::from(u32::MAX)).contains(&n) => Some(Sp {
                value: u32::try_from(n).unwrap_or(u32::MAX),
                pos: node.pos,
            }),
            _ => {
                self.wrong_type(node, &format!("{what} (a whole number)"));
                None
            }
        }
    }

    /// A number from 0 to 1 (a probability).
    fn fraction(&mut self, node: &Node, what: &str) -> Option<Sp<f64>> {
        let value = match node.value {
            Value::Float(f) => f,
            Value::Int(n) if (0..=1).contains(&n) => n as f64,
            _ => f64::NAN,
        };
        if (0.0..=1.0).contains(&value) {
            Some(Sp {
                value,
                pos: node.pos,
            })
        } else {
            self.wrong_type(node, &format!("{what} (a number from 0 to 1)"));
            None
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<Sp<bool>> {
        match node.value {
            Value::Bool(b) => Some(Sp {
                value: b,
                pos: node.pos,
            }),
            _ => {
                self.wrong_type(node, &format!("{what} (true or false)"));
                None
            }
        }
    }

    fn wrong_type(&mut self, node: &Node, what: &str) {
        self.error(
            node.pos,
            "wrong-type",
            format!("expected {what}, found {}", node.kind()),
            None,
        );
    }

    fn error(
        &mut self,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diags.error(self.file, pos, code, message, hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::yaml::parse;

    fn read(text: &str) -> (RawFlow, Diagnostics) {
        let mut d = Diagnostics::new();
        let doc = parse(text).unwrap();
        let f = read_flow(&doc, Path::new("t.yaml"), &mut d);
        (f, d)
    }

    #[test]
    fn reads_nodes_and_reports_unknown_keys_everywhere() {
        let (flow, d) = read(
            "flow: t\nstart: a\nnodes:\n  a:\n    say: hi\n    nxt: b\n  b:\n    hangup: true\n    colour: red\n",
        );
        assert_eq!(flow.nodes.len(), 2);
        let msgs: Vec<_> = d
            .items()
            .iter()
            .map(|i| (i.line, i.col, i.message.clone(), i.hint.clone()))
            .collect();
        assert_eq!(
            msgs[0],
            (
                6,
                5,
                "unknown key `nxt` in a `say` node".into(),
                Some("did you mean `next`?".into())
            )
        );
        assert_eq!(msgs[1].0, 9);
        assert_eq!(msgs.len(), 2);
    }

    #[test]
    fn reads_prompt_forms() {
        let (flow, d) = read(
            "flow: t\nstart: a\nnodes:\n  a:\n    say: [hi, {text: \"Hello {caller.number}\"}, {text: {en: a, cy: b}}]\n    next: a\n",
        );
        assert!(!d.has_errors(), "{d}");
        let RawKind::Say { prompts, .. } = &flow.nodes[0].kind else {
            panic!()
        };
        assert_eq!(prompts.len(), 3);
        assert!(matches!(&prompts[2], RawPrompt::Text { by_lang, .. } if by_lang.len() == 2));
    }

    #[test]
    fn node_without_type_suggests_one() {
        let (_, d) = read("flow: t\nstart: a\nnodes:\n  a:\n    sya: hi\n");
        let first = &d.items()[0];
        assert_eq!(first.message, "node `a` has no node type");
        assert_eq!(first.hint.as_deref(), Some("did you mean `say`?"));
    }
}
