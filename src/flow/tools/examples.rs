//! The example check of `frontdoor validate`: an example that means more nearly what another
//! intent's examples mean than what its own do pulls callers' words towards the wrong intent
//! (or makes two intents ambiguous). Needs the sentence model; without it the check is skipped
//! and the tool says so.

use std::sync::Arc;

use crate::flow::language::diag::Diagnostics;
use crate::flow::language::model::CheckedFlow;
use crate::flow::language::yaml::Pos;
use crate::flow::runtime::understand::Understanding;
use crate::nlu::encoder::Embedder;

/// Adds a warning for every example closer in meaning to another intent's nearest example than
/// to its own intent's nearest other example.
pub fn check_examples(flow: &CheckedFlow, embedder: &Arc<Embedder>, diags: &mut Diagnostics) {
    let Ok(understanding) = Understanding::with_embedder(flow, Some(embedder)) else {
        // Intents that cannot be used at all are reported by the flow check itself.
        return;
    };
    let classifier = understanding.classifier();
    let Some(index) = classifier.semantics() else {
        return;
    };
    let names: Vec<&str> = classifier.intent_names().collect();
    let source = std::fs::read_to_string(&flow.file).unwrap_or_default();
    for n in index.example_neighbours(&names) {
        if n.own.is_finite() && n.other > n.own {
            diags.warning(
                &flow.file,
                position_of(&source, &n.example),
                "example-closer-to-other-intent",
                format!(
                    "example {:?} of intent `{}` means more nearly {:?} of `{}` ({:.2}) than any other example of its own ({:.2})",
                    n.example, n.intent, n.other_example, n.other_intent, n.other, n.own
                ),
                Some(format!(
                    "reword it, move it to `{}`, or remove it; a caller saying it may be taken for `{}`",
                    n.other_intent, n.other_intent
                )),
            );
        }
    }
}

/// Where `example` first appears in the flow's source (1-based), or the file's start: as a
/// quoted string if it is written so anywhere, else as bare text (a short example such as
/// "yes" is also part of longer ones).
fn position_of(source: &str, example: &str) -> Pos {
    let quoted = [format!("\"{example}\""), format!("'{example}'")];
    for needle in quoted.iter().map(String::as_str).chain([example]) {
        if let Some(pos) = find(source, needle) {
            return pos;
        }
    }
    Pos { line: 1, col: 1 }
}

/// The 1-based line and column of the first `needle` in `source`.
fn find(source: &str, needle: &str) -> Option<Pos> {
    for (i, line) in source.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            let col = line.get(..col).map_or(0, |p| p.chars().count()) + 1;
            return Some(Pos {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                col: u32::try_from(col).unwrap_or(u32::MAX),
            });
        }
    }
    None
}

/// The one line `validate` prints when the check cannot run.
pub fn skipped_line(why: &str) -> String {
    format!("note: example check skipped: the sentence model is not available ({why})")
}
