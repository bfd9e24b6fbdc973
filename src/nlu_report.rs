//! `frontdoor nlu report --since DATE`: learning from real calls. Reads the call records and
//! lists, per flow and per question, the answers it could not use (no match), those it had to
//! clarify, and those it misunderstood (a clarifying question the caller said no to), grouped
//! by similarity, each group with the intent it was closest to and an example line a designer
//! can paste into the flow.
//!
//! Privacy: transcripts of sensitive asks are never recorded, so never reach the report; in the
//! rest, digits, number words, postcode-like tokens and the call's own slot values are masked;
//! only records within the retention period are read; the file is written mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::crm::{CallRecord, Turn};
use crate::flow::runtime::interpreter::{Expecting, FlowEvent};
use crate::flow::runtime::set::FlowSet;
use crate::nlu::encoder::{Embedder, Embedding, cosine};

/// Utterances at least this close in meaning are one group.
const SAME_GROUP: f32 = 0.7;
/// Utterances quoted per group.
const QUOTED: usize = 3;
/// The prompt a clarifying question is recorded under, followed by the intents it named.
const CLARIFY_PROMPT: &str = "did_you_mean:";

/// What happened to one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A clarifying question about it was answered no: it was taken for the wrong intent.
    Misunderstood,
    /// It needed a clarifying question, which the caller confirmed.
    Clarified,
    /// Nothing the question could use.
    NoMatch,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Misunderstood => "misunderstood",
            Kind::Clarified => "clarified",
            Kind::NoMatch => "no match",
        }
    }
}

/// Answers alike in meaning at one question.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub kind: Kind,
    /// Masked utterances, the first is the group's representative.
    pub utterances: Vec<String>,
    /// The intent they were closest to, with its score.
    pub closest: Option<(String, f32)>,
}

/// The report: (flow, question node) -> groups, largest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NluReport {
    pub calls: usize,
    pub questions: BTreeMap<(String, String), Vec<Group>>,
}

/// Masks what may identify the caller: tokens with digits, number words, postcode-like tokens,
/// and any of the call's slot values.
pub fn mask(text: &str, values: &[String]) -> String {
    let mut masked = text.to_string();
    for v in values.iter().filter(|v| v.chars().count() >= 2) {
        masked = replace_ignoring_case(&masked, v, "[value]");
    }
    masked
        .split_whitespace()
        .map(|token| {
            let bare: String = token.chars().filter(|c| c.is_alphanumeric()).collect();
            let lower = bare.to_lowercase();
            if bare.chars().any(|c| c.is_ascii_digit()) || NUMBER_WORDS.contains(&lower.as_str()) {
                "[number]".to_string()
            } else if looks_like_postcode_part(&bare) {
                "[postcode]".to_string()
            } else {
                token.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

const NUMBER_WORDS: &[&str] = &[
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
    "hundred",
    "thousand",
    "double",
    "treble",
];

/// A UK postcode's outward or inward half written as letters the recogniser capitalised
/// ("RM", "SL"): two capitals standing alone. (Halves with digits are masked as numbers.)
fn looks_like_postcode_part(token: &str) -> bool {
    (1..=2).contains(&token.len())
        && token.chars().all(|c| c.is_ascii_uppercase())
        && token != "I"
        && token != "A"
}

fn replace_ignoring_case(text: &str, needle: &str, with: &str) -> String {
    let lower = text.to_lowercase();
    let needle = needle.to_lowercase();
    if lower.len() != text.len() {
        // Case folding changed byte lengths: leave the text alone rather than cut a character.
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(found) = lower.get(at..).and_then(|rest| rest.find(&needle)) {
        out.push_str(text.get(at..at + found).unwrap_or_default());
        out.push_str(with);
        at += found + needle.len();
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Every slot value the call captured, as text.
fn slot_values(turns: &[Turn]) -> Vec<String> {
    let mut values = Vec::new();
    for t in turns {
        if let Some(slots) = &t.slots
            && let Some(map) = slots.expose().as_object()
        {
            for v in map.values() {
                match v {
                    serde_json::Value::String(s) => values.push(s.clone()),
                    serde_json::Value::Null => {}
                    other => values.push(other.to_string()),
                }
            }
        }
    }
    values
}

/// The answers worth a designer's look in one call: (question node, kind, masked text).
fn findings(call: &CallRecord) -> Vec<(String, Kind, String)> {
    let values = slot_values(&call.turns);
    let mut out = Vec::new();
    for (i, turn) in call.turns.iter().enumerate() {
        if turn.prompt.starts_with(CLARIFY_PROMPT) {
            continue;
        }
        let Some(text) = &turn.transcript else {
            continue;
        };
        let next = call.turns.get(i + 1);
        let kind = match next.filter(|n| n.prompt.starts_with(CLARIFY_PROMPT)) {
            Some(answer) => {
                let offered: Vec<&str> = answer
                    .prompt
                    .trim_start_matches(CLARIFY_PROMPT)
                    .split(',')
                    .collect();
                let confirmed = answer.dtmf.as_deref() == Some("1")
                    || (answer.dtmf.as_deref() == Some("2") && offered.len() > 1)
                    || answer
                        .intent
                        .as_deref()
                        .is_some_and(|i| i == "yes" || offered.contains(&i));
                if confirmed {
                    Kind::Clarified
                } else {
                    Kind::Misunderstood
                }
            }
            None if turn.intent.is_none() && turn.slots.is_none() => Kind::NoMatch,
            None => continue,
        };
        out.push((turn.node.clone(), kind, mask(text.expose(), &values)));
    }
    out
}

/// Builds the report from call records, understanding each masked answer with its flow.
pub fn build(calls: &[CallRecord], flows: &FlowSet, embedder: Option<&Arc<Embedder>>) -> NluReport {
    let mut raw: BTreeMap<(String, String, Kind), Vec<String>> = BTreeMap::new();
    for call in calls {
        for (node, kind, text) in findings(call) {
            raw.entry((call.flow_name.clone(), node, kind))
                .or_default()
                .push(text);
        }
    }
    let mut report = NluReport {
        calls: calls.len(),
        ..NluReport::default()
    };
    for ((flow_name, node, kind), texts) in raw {
        let loaded = flows.get(&flow_name);
        // A question marked sensitive is never quoted, even from a record made before it was.
        let sensitive = loaded.is_some_and(|l| {
            l.flow.nodes.iter().any(|n| {
                n.id == node
                    && matches!(&n.kind, crate::flow::language::model::NodeKind::Ask(a) if a.sensitive)
            })
        });
        if sensitive {
            continue;
        }
        let expecting = loaded.and_then(|l| {
            l.flow
                .nodes
                .iter()
                .find(|n| n.id == node)
                .and_then(|n| match &n.kind {
                    crate::flow::language::model::NodeKind::Ask(a) => Some(Expecting::Ask {
                        intents: a.intents.iter().map(|(i, _)| i.clone()).collect(),
                        slot: a.slot.clone(),
                    }),
                    _ => None,
                })
        });
        for utterances in group(&texts, embedder) {
            let closest = loaded.and_then(|l| {
                let first = utterances.first()?;
                match l.understanding.understand(
                    expecting.as_ref(),
                    first,
                    chrono::Utc::now().date_naive(),
                    None,
                ) {
                    FlowEvent::Heard { top, .. } => top.into_iter().next(),
                    _ => None,
                }
            });
            report
                .questions
                .entry((flow_name.clone(), node.clone()))
                .or_default()
                .push(Group {
                    kind,
                    utterances,
                    closest,
                });
        }
    }
    for groups in report.questions.values_mut() {
        groups.sort_by(|a, b| {
            b.utterances
                .len()
                .cmp(&a.utterances.len())
                .then(a.kind.cmp(&b.kind))
        });
    }
    report
}

/// Greedy grouping: each utterance joins the first group whose first utterance is close enough
/// in meaning (the same words, without the sentence model).
fn group(texts: &[String], embedder: Option<&Arc<Embedder>>) -> Vec<Vec<String>> {
    // Each group: its first utterance's embedding (when the model is in use) and its members.
    let mut groups: Vec<(Option<Embedding>, Vec<String>)> = Vec::new();
    for text in texts {
        let v = embedder.and_then(|e| e.embed(text).ok());
        let home = groups.iter_mut().find(|(rep, members)| match (&v, rep) {
            (Some(v), Some(rep)) => cosine(v, rep) >= SAME_GROUP,
            _ => members
                .first()
                .is_some_and(|m| m.to_lowercase() == text.to_lowercase()),
        });
        match home {
            Some((_, members)) => members.push(text.clone()),
            None => groups.push((v, vec![text.clone()])),
        }
    }
    groups.into_iter().map(|(_, m)| m).collect()
}

/// The report as text a designer reads.
pub fn render(report: &NluReport, since: &str) -> String {
    let mut s = format!(
        "# Understanding report: {} call(s) since {since}\n\nMasked: numbers, postcode letters and the calls' own values. Sensitive questions are never recorded.\n",
        report.calls
    );
    if report.questions.is_empty() {
        s.push_str("\nNothing to look at: every answer was understood.\n");
    }
    for ((flow, node), groups) in &report.questions {
        let count = |k: Kind| {
            groups
                .iter()
                .filter(|g| g.kind == k)
                .map(|g| g.utterances.len())
                .sum::<usize>()
        };
        s.push_str(&format!(
            "\n## {flow} / {node}: {} misunderstood, {} clarified, {} no match\n",
            count(Kind::Misunderstood),
            count(Kind::Clarified),
            count(Kind::NoMatch)
        ));
        for g in groups {
            let closest = g
                .closest
                .as_ref()
                .map_or("nothing".to_string(), |(i, score)| {
                    format!("`{i}` ({score:.2})")
                });
            s.push_str(&format!(
                "\n- {} × {}, closest to {closest}\n",
                g.utterances.len(),
                g.kind.label()
            ));
            for u in g.utterances.iter().take(QUOTED) {
                s.push_str(&format!("    \"{u}\"\n"));
            }
            if let (Some((intent, _)), Some(first)) = (&g.closest, g.utterances.first())
                && !first.contains('[')
            {
                s.push_str(&format!(
                    "  suggested example for `{intent}` (if that is what they meant):\n      - {}\n",
                    serde_json::to_string(first).unwrap_or_default()
                ));
            }
        }
    }
    s
}

/// Writes `text` to `path`, readable by its owner only (it quotes what callers said).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its old mode through open(): set it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
