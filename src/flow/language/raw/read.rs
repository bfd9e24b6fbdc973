//! The top-level sections of a flow file: name, languages, settings, global switches, opening
//! hours, intents, slot types, subflows and the node list.

use std::path::Path;

use super::{
    RawEnum, RawFlow, RawGlobals, RawIntent, RawNode, RawSettings, RawSubflow, Reader, Sp,
};
use crate::flow::language::diag::Diagnostics;
use crate::flow::language::yaml::Node;

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

    pub(super) fn globals(&mut self, node: &Node) -> RawGlobals {
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
                describe: None,
            };
            if let Some(fields) =
                self.map(value, "an intent", &["examples", "keywords", "describe"])
            {
                for (k, v) in fields {
                    match k.as_str().unwrap_or("") {
                        "examples" => intent.examples = self.string_list(v, "`examples`"),
                        "keywords" => intent.keywords = self.string_list(v, "`keywords`"),
                        "describe" => intent.describe = self.string(v, "`describe`"),
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
}
