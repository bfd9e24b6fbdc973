//! Nodes: exactly one node-type key each, only the keys that type takes, and each type's
//! fields.

use super::{
    NODE_KINDS, RawArm, RawAsk, RawCondition, RawConfirm, RawKind, RawQuestion, Reader, Sp,
};
use crate::flow::language::diag::did_you_mean;
use crate::flow::language::yaml::{Node, Value};

const ASK_KEYS: [&str; 18] = [
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
    "clarify",
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

/// The keys a node of this type takes beside its type key.
fn keys_beside(kind_key: &str) -> &'static [&'static str] {
    match kind_key {
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
    }
}

/// The entries of a node's mapping, looked up by key.
#[derive(Clone, Copy)]
struct NodeFields<'n>(&'n [(Node, Node)]);

impl<'n> NodeFields<'n> {
    fn get(self, name: &str) -> Option<&'n Node> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v)
    }
}

impl Reader<'_> {
    /// One node: a mapping with exactly one node-type key and the keys that type takes.
    pub(super) fn node(&mut self, id: &Sp<String>, node: &Node) -> RawKind {
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
        let Some((kind_key, kind_value)) = self.node_type(id, entries) else {
            return RawKind::Invalid;
        };
        let mut allowed: Vec<&str> = keys_beside(kind_key).to_vec();
        allowed.push(kind_key);
        self.check_keys(entries, &allowed, &format!("a `{kind_key}` node"));
        self.node_kind(kind_key, kind_value, NodeFields(entries))
    }

    /// The node's one type key and its value; none or two are reported.
    fn node_type<'n>(
        &mut self,
        id: &Sp<String>,
        entries: &'n [(Node, Node)],
    ) -> Option<(&'n str, &'n Node)> {
        let kinds: Vec<&Node> = entries
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.as_str().is_some_and(|s| NODE_KINDS.contains(&s)))
            .collect();
        match kinds.as_slice() {
            [one] => entries
                .iter()
                .find(|(k, _)| std::ptr::eq(k, *one))
                .map(|(_, v)| (one.as_str().unwrap_or(""), v)),
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
                None
            }
            [_, second, ..] => {
                self.error(
                    second.pos,
                    "two-node-types",
                    format!("node `{}` has more than one node type", id.value),
                    None,
                );
                None
            }
        }
    }

    /// The node of type `kind_key`, from the type key's value and the keys beside it.
    fn node_kind(&mut self, kind_key: &str, kind_value: &Node, field: NodeFields<'_>) -> RawKind {
        let next = |r: &mut Self| {
            field
                .get("next")
                .and_then(|v| r.string(v, "`next` (a node id)"))
        };
        match kind_key {
            "say" => RawKind::Say {
                prompts: self.prompts(kind_value),
                barge_in: field
                    .get("barge_in")
                    .and_then(|v| self.boolean(v, "`barge_in`")),
                next: next(self),
            },
            "ask" => RawKind::Ask(Box::new(self.ask(kind_value, field))),
            "confirm" => RawKind::Confirm(Box::new(self.confirm(kind_value, field))),
            "set" => RawKind::Set {
                assigns: self.string_map(kind_value, "`set` (variable: value)"),
                next: next(self),
            },
            "branch" => RawKind::Branch {
                arms: self.arms(kind_value),
                otherwise: field
                    .get("else")
                    .and_then(|v| self.string(v, "`else` (a node id)")),
            },
            "case" => self.case(kind_value, field),
            "transfer" => self.transfer(kind_value, field),
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
                found: field
                    .get("found")
                    .and_then(|v| self.string(v, "`found` (a node id)")),
                none: field
                    .get("none")
                    .and_then(|v| self.string(v, "`none` (a node id)")),
            },
            "verify_case" => RawKind::VerifyCase {
                pos: kind_value.pos,
                answers: self.string_list(kind_value, "`verify_case` (slot names)"),
                verified: field
                    .get("verified")
                    .and_then(|v| self.string(v, "`verified` (a node id)")),
                failed: field
                    .get("failed")
                    .and_then(|v| self.string(v, "`failed` (a node id)")),
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

    fn confirm(&mut self, kind_value: &Node, field: NodeFields<'_>) -> RawConfirm {
        let mut c = RawConfirm {
            pos: kind_value.pos,
            prompts: self.prompts(kind_value),
            ..RawConfirm::default()
        };
        c.yes = field
            .get("yes")
            .and_then(|v| self.string(v, "`yes` (a node id)"));
        c.no = field
            .get("no")
            .and_then(|v| self.string(v, "`no` (a node id)"));
        c.max_attempts = field
            .get("max_attempts")
            .and_then(|v| self.number(v, "`max_attempts`"));
        c.fallback = field
            .get("fallback")
            .and_then(|v| self.string(v, "`fallback` (a node id)"));
        c.globals = field
            .get("globals")
            .map(|v| self.globals(v))
            .unwrap_or_default();
        c.allow_no_advisor = field
            .get("allow_no_advisor")
            .and_then(|v| self.boolean(v, "`allow_no_advisor`"));
        c.reason = field.get("reason").and_then(|v| self.string(v, "`reason`"));
        c
    }

    /// `case: {type, fields, update}` beside `next` and `on_failure`.
    fn case(&mut self, kind_value: &Node, field: NodeFields<'_>) -> RawKind {
        let mut case_type = None;
        let mut fields = Vec::new();
        let mut update = None;
        if let Some(cfields) = self.map(kind_value, "`case`", &["type", "fields", "update"]) {
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
            next: field
                .get("next")
                .and_then(|v| self.string(v, "`next` (a node id)")),
            on_failure: field
                .get("on_failure")
                .and_then(|v| self.string(v, "`on_failure` (a node id)")),
        }
    }

    /// `transfer: queue`, or `transfer: {queue, priority}`.
    fn transfer(&mut self, kind_value: &Node, field: NodeFields<'_>) -> RawKind {
        let on_failure = field
            .get("on_failure")
            .and_then(|v| self.string(v, "`on_failure` (a node id)"));
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

    fn ask(&mut self, prompt: &Node, field: NodeFields<'_>) -> RawAsk {
        let mut a = RawAsk {
            pos: prompt.pos,
            prompts: self.prompts(prompt),
            ..RawAsk::default()
        };
        if let Some(v) = field.get("intents") {
            a.intents = self.string_map(v, "`intents` (intent: node id)");
        }
        if let Some(v) = field.get("keys") {
            a.keys = self.string_map(v, "`keys` (key: intent)");
        }
        if let Some(v) = field.get("slot")
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
        a.next = field
            .get("next")
            .and_then(|v| self.string(v, "`next` (a node id)"));
        if let Some(v) = field.get("digits")
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
        a.no_input = field
            .get("no_input")
            .map(|v| self.prompt_steps(v))
            .unwrap_or_default();
        a.no_match = field
            .get("no_match")
            .map(|v| self.prompt_steps(v))
            .unwrap_or_default();
        a.max_attempts = field
            .get("max_attempts")
            .and_then(|v| self.number(v, "`max_attempts`"));
        a.fallback = field
            .get("fallback")
            .and_then(|v| self.string(v, "`fallback` (a node id)"));
        a.sensitive = field
            .get("sensitive")
            .and_then(|v| self.boolean(v, "`sensitive`"));
        a.globals = field
            .get("globals")
            .map(|v| self.globals(v))
            .unwrap_or_default();
        a.allow_no_advisor = field
            .get("allow_no_advisor")
            .and_then(|v| self.boolean(v, "`allow_no_advisor`"));
        a.reason = field.get("reason").and_then(|v| self.string(v, "`reason`"));
        a.timeout_ms = field
            .get("timeout_ms")
            .and_then(|v| self.number(v, "`timeout_ms`"));
        a.end_of_speech_ms = field
            .get("end_of_speech_ms")
            .and_then(|v| self.number(v, "`end_of_speech_ms`"));
        a.keys_prompt = field.get("keys_prompt").map(|v| self.prompts(v));
        a.clarify = field
            .get("clarify")
            .and_then(|v| self.boolean(v, "`clarify`"));
        a
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
}
