//! Raw flow types: the YAML tree read into the shape of the flow language, every name and
//! reference still a spanned string. Unknown keys, wrong value types and missing required keys
//! are reported here; nothing is resolved yet (that is `check`).
//!
//! Reads every part of the document even after an error, so one run reports every problem.

mod node;
mod primitive;
mod prompt;
mod read;

use std::path::Path;

use super::diag::Diagnostics;
use super::yaml::Pos;

pub use read::read_flow;

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
    pub describe: Option<Sp<String>>,
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
    pub clarify: Option<Sp<bool>>,
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

/// Reads one flow file, reporting into its diagnostics. Its methods are spread over the
/// submodules: [`read`] the top-level sections, [`node`] the nodes, [`prompt`] the prompts
/// and [`primitive`] the scalar and mapping readers they all use.
struct Reader<'a> {
    file: &'a Path,
    diags: &'a mut Diagnostics,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::language::yaml::parse;

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
