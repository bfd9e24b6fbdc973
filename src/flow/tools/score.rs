//! `frontdoor nlu score`: how well a flow understands sets of written caller utterances, text
//! in (no recogniser), side by side. Intent rows are answers to an open question (the flow's
//! first menu unless `--ask` names another), `slot:yes_no` rows answers at a confirmation.
//! For a designer trying new examples, and for the held-out figures beside the tuning set's.
//!
//! Set format (tab-separated, `#` comments): id, language, expected, expected_value, text.
//! `expected` is an intent, `no_match`, or `slot:yes_no` with expected_value one of yes, no,
//! repeat, slower, wait, unsure. Other rows (slots, languages) are left to `frontdoor eval`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::flow::language::global_intent::GlobalIntent;
use crate::flow::language::model::{CheckedFlow, NodeKind};
use crate::flow::runtime::interpreter::{Expecting, FlowEvent};
use crate::flow::runtime::understand::Understanding;

use super::exit_code::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// Figures for one set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TextScore {
    /// Intent rows (incl. `no_match`) and how many were understood as expected.
    pub intent_rows: usize,
    pub intent_hits: usize,
    /// Answers that named an intent, and how many named the right one.
    pub accepted: usize,
    pub accepted_right: usize,
    pub safeguarding_rows: usize,
    pub safeguarding_reached: usize,
    /// Rows that are not safeguarding but reached it.
    pub safeguarding_false: usize,
    /// Confirmation answers that are yes or no, and how many were taken as such.
    pub answers: usize,
    pub answers_right: usize,
    /// Confirmation replies that are neither yes nor no (repeat, slower, wait, unsure), how
    /// many were handled as asked, and how many were taken as yes.
    pub non_answers: usize,
    pub non_answers_right: usize,
    pub non_answers_as_yes: usize,
    /// (expected, understood) for every miss, counted.
    pub confusions: BTreeMap<(String, String), usize>,
}

impl TextScore {
    pub fn intent_accuracy(&self) -> f64 {
        ratio(self.intent_hits, self.intent_rows)
    }

    pub fn precision(&self) -> f64 {
        ratio(self.accepted_right, self.accepted)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The open question intent rows answer: `ask`, or the first ask with intents and no slot.
pub fn entry_question(flow: &CheckedFlow, ask: Option<&str>) -> Option<Expecting> {
    flow.nodes
        .iter()
        .filter(|n| ask.is_none_or(|a| n.id == a))
        .find_map(|n| match &n.kind {
            NodeKind::Ask(a) if a.slot.is_none() && !a.intents.is_empty() => Some(Expecting::Ask {
                intents: a.intents.iter().map(|(i, _)| i.clone()).collect(),
                slot: None,
            }),
            _ => None,
        })
}

/// Scores the rows of one set (its text) against `understanding` at `entry`.
pub fn score(understanding: &Understanding, entry: &Expecting, set: &str) -> TextScore {
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default();
    let mut s = TextScore::default();
    for line in set
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let (Some(lang), Some(expected), Some(value), Some(text)) =
            (f.get(1), f.get(2), f.get(3), f.get(4))
        else {
            continue;
        };
        if *lang != "en" {
            continue;
        }
        // A bare "yes" or "no" row answers a confirmation, as a yes/no slot row does.
        let (expected, value) = match *expected {
            "yes" | "no" => ("slot:yes_no", *expected),
            e => (e, *value),
        };
        if expected == "slot:yes_no" {
            let got =
                intent_of(understanding.understand(Some(&Expecting::Confirm), text, date, None));
            let want = match value {
                "unsure" => None,
                v => Some(v.to_string()),
            };
            let yes_no = matches!(value, "yes" | "no");
            let right = got == want;
            if yes_no {
                s.answers += 1;
                s.answers_right += usize::from(right);
            } else {
                s.non_answers += 1;
                s.non_answers_right += usize::from(right);
                s.non_answers_as_yes += usize::from(got.as_deref() == Some("yes"));
            }
            continue;
        }
        if expected.starts_with("slot:") || expected == "language" {
            continue;
        }
        let got = intent_of(understanding.understand(Some(entry), text, date, None));
        let want = (expected != "no_match").then(|| expected.to_string());
        s.intent_rows += 1;
        if got == want {
            s.intent_hits += 1;
        } else {
            *s.confusions
                .entry((
                    expected.to_string(),
                    got.clone().unwrap_or_else(|| "no_match".into()),
                ))
                .or_default() += 1;
        }
        if let Some(g) = &got {
            s.accepted += 1;
            s.accepted_right += usize::from(want.as_ref() == Some(g));
        }
        let safeguarding = GlobalIntent::Safeguarding.name();
        if expected == safeguarding {
            s.safeguarding_rows += 1;
            s.safeguarding_reached += usize::from(got.as_deref() == Some(safeguarding));
        } else if got.as_deref() == Some(safeguarding) {
            s.safeguarding_false += 1;
        }
    }
    s
}

fn intent_of(event: FlowEvent) -> Option<String> {
    match event {
        FlowEvent::Heard { intent, .. } => intent,
        _ => None,
    }
}

/// `frontdoor nlu score FLOW SET...`: prints a table with a column per set.
pub fn score_cmd(
    flow_path: &Path,
    sets: &[PathBuf],
    ask: Option<&str>,
    out: &mut dyn Write,
) -> i32 {
    let (flow, diags) = crate::flow::language::files::check_file(
        flow_path,
        &crate::flow::language::catalog::catalog_for(flow_path),
    );
    let Some(flow) = flow else {
        let _ = write!(out, "{diags}");
        return EXIT_FAILED;
    };
    let embedder = crate::nlu::encoder::Embedder::for_tools();
    let model = match &embedder {
        Ok(e) => e.name().to_string(),
        Err(why) => format!("none, words only ({why})"),
    };
    let Ok(understanding) = Understanding::with_embedder(&flow, embedder.ok().as_ref()) else {
        let _ = writeln!(out, "error: the flow's intents cannot be used");
        return EXIT_FAILED;
    };
    let Some(entry) = entry_question(&flow, ask) else {
        let _ = writeln!(out, "error: no ask with intents to answer (use --ask NODE)");
        return EXIT_USAGE;
    };
    let mut columns = Vec::new();
    for path in sets {
        match std::fs::read_to_string(path) {
            Ok(text) => columns.push((
                path.display().to_string(),
                score(&understanding, &entry, &text),
            )),
            Err(e) => {
                let _ = writeln!(out, "error: {}: {e}", path.display());
                return EXIT_USAGE;
            }
        }
    }
    let _ = writeln!(
        out,
        "flow {} · sentence model: {model} · text in, no recogniser",
        flow.name
    );
    let _ = write!(out, "{}", render(&columns));
    EXIT_OK
}

/// The table: one row per figure, one column per set.
pub fn render(columns: &[(String, TextScore)]) -> String {
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{}/{} = {:.1} %", a, b, 100.0 * a as f64 / b as f64)
        }
    };
    type Figure = fn(&TextScore) -> (usize, usize);
    let rows: [(&str, Figure); 7] = [
        ("intent accuracy", |s| (s.intent_hits, s.intent_rows)),
        ("precision of accepted intents", |s| {
            (s.accepted_right, s.accepted)
        }),
        ("safeguarding rows reaching it", |s| {
            (s.safeguarding_reached, s.safeguarding_rows)
        }),
        ("other rows reaching safeguarding", |s| {
            (s.safeguarding_false, s.intent_rows - s.safeguarding_rows)
        }),
        ("yes/no answers taken right", |s| {
            (s.answers_right, s.answers)
        }),
        ("non-answers handled as asked", |s| {
            (s.non_answers_right, s.non_answers)
        }),
        ("non-answers taken as yes", |s| {
            (s.non_answers_as_yes, s.non_answers)
        }),
    ];
    let mut text = format!("{:34}", "");
    for (name, _) in columns {
        text.push_str(&format!(" | {name:>24}"));
    }
    text.push('\n');
    for (label, figure) in rows {
        text.push_str(&format!("{label:34}"));
        for (_, s) in columns {
            let (a, b) = figure(s);
            text.push_str(&format!(" | {:>24}", pct(a, b)));
        }
        text.push('\n');
    }
    text
}
