//! The held-out utterance set (`tests/fixtures/utterances/heldout.tsv`): acceptance data for
//! caller understanding, written by someone other than the person tuning the classifier, before
//! any classifier change. It is frozen: this test pins its sha256, so an edit fails here. A new
//! set is a new file with its own date and hash, never an edit of this one.
//!
//! The test also checks the set still has what acceptance needs: enough rows per intent, per
//! confirmation answer kind, per language, unique ids and no empty text. It reads only the file in
//! this repository.

use std::collections::{BTreeMap, HashSet};

use frontdoor::eval::dataset::{Expected, SlotKind, Utterance, parse};
use sha2::{Digest, Sha256};

const HELDOUT_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/utterances/heldout.tsv"
);

/// The sha256 of the set as written. Never change this to make the test pass.
const HELDOUT_SHA256: &str = "6c3263d90f08b064c6040541bf30f98f1c3a44f431ca87e0105d91ff6ac9983e";

/// The twelve service intents: each needs at least eight rows.
const SERVICE_INTENTS: [&str; 12] = [
    "council_tax_balance",
    "council_tax_pay",
    "council_tax_move",
    "council_tax_discount",
    "benefits",
    "missed_bin",
    "bulky_waste",
    "fly_tipping",
    "pothole",
    "street_light",
    "housing_repair",
    "homeless",
];

/// Global intents and their minimum rows.
const GLOBAL_INTENTS: [(&str, usize); 4] = [
    ("speak_to_advisor", 8),
    ("repeat", 6),
    ("slower", 6),
    ("goodbye", 5),
];

fn read_bytes() -> Vec<u8> {
    match std::fs::read(HELDOUT_PATH) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot read {HELDOUT_PATH}: {e}"),
    }
}

fn rows() -> Vec<Utterance> {
    let bytes = read_bytes();
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(e) => panic!("{HELDOUT_PATH} is not UTF-8: {e}"),
    };
    match parse(text) {
        Ok(rows) => rows,
        Err((line, message)) => panic!("{HELDOUT_PATH} line {line}: {message}"),
    }
}

fn intent_counts(rows: &[Utterance]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        if let Expected::Intent(name) = &row.expected {
            *counts.entry(name.clone()).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn the_heldout_set_is_unchanged() {
    let digest = Sha256::digest(read_bytes());
    let actual: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        actual, HELDOUT_SHA256,
        "the held-out set {HELDOUT_PATH} has changed. It must never be edited or tuned on: \
         acceptance depends on it being written once, before the classifier changes. \
         A new set is a new file with its own date and its own hash."
    );
}

#[test]
fn the_heldout_set_parses_with_unique_ids_and_text() {
    let rows = rows();
    assert!(!rows.is_empty(), "no rows in {HELDOUT_PATH}");
    let mut seen = HashSet::new();
    for (index, row) in rows.iter().enumerate() {
        assert!(seen.insert(row.id.as_str()), "duplicate id {}", row.id);
        assert_eq!(
            row.id,
            format!("h{:03}", index + 1),
            "ids are h001, h002, ... in order"
        );
        assert!(!row.text.trim().is_empty(), "empty text in {}", row.id);
    }
    let mut texts = HashSet::new();
    for row in &rows {
        let key = row.text.to_lowercase();
        assert!(texts.insert(key), "{} repeats another row's text", row.id);
    }
}

#[test]
fn the_heldout_set_covers_every_intent() {
    let rows = rows();
    let english_intents: Vec<Utterance> = rows
        .iter()
        .filter(|r| r.is_english() && matches!(r.expected, Expected::Intent(_)))
        .cloned()
        .collect();
    let counts = intent_counts(&english_intents);
    let count = |name: &str| counts.get(name).copied().unwrap_or(0);

    for name in SERVICE_INTENTS {
        assert!(count(name) >= 8, "{name}: {} rows, need 8", count(name));
    }
    for (name, min) in GLOBAL_INTENTS {
        assert!(
            count(name) >= min,
            "{name}: {} rows, need {min}",
            count(name)
        );
    }
    let routed: usize = SERVICE_INTENTS
        .iter()
        .chain(GLOBAL_INTENTS.iter().map(|(name, _)| name))
        .map(|name| count(name))
        .sum();
    assert!(routed >= 160, "{routed} English intent rows, need 160");
    assert!(
        count("safeguarding") >= 22,
        "safeguarding: {} rows, need 22",
        count("safeguarding")
    );
    assert!(
        count("no_match") >= 8,
        "no_match: {} rows, need 8",
        count("no_match")
    );
    let known: HashSet<&str> = SERVICE_INTENTS
        .iter()
        .copied()
        .chain(GLOBAL_INTENTS.iter().map(|(name, _)| *name))
        .chain(["safeguarding", "no_match"])
        .collect();
    for name in counts.keys() {
        assert!(known.contains(name.as_str()), "unknown intent {name}");
    }
}

#[test]
fn the_heldout_set_has_confirmation_answers_and_non_answers() {
    let rows = rows();
    let mut answers = 0;
    let mut non_answers = 0;
    for row in &rows {
        if let Expected::Slot { kind, value } = &row.expected {
            assert_eq!(*kind, SlotKind::YesNo, "{}: only yes/no slot rows", row.id);
            assert!(
                row.is_english(),
                "{}: confirmation rows are English",
                row.id
            );
            match value.as_str() {
                "yes" | "no" => answers += 1,
                "repeat" | "slower" | "wait" | "unsure" => non_answers += 1,
                other => panic!("{}: unknown yes/no value {other}", row.id),
            }
        }
    }
    assert!(answers >= 25, "{answers} yes/no answers, need 25");
    assert!(non_answers >= 35, "{non_answers} non-answers, need 35");
}

#[test]
fn the_heldout_set_has_other_languages() {
    let rows = rows();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        if let Expected::Language(code) = &row.expected {
            assert_eq!(
                row.language, *code,
                "{}: language column and code differ",
                row.id
            );
            *counts.entry(code.as_str()).or_insert(0) += 1;
        } else {
            assert!(
                row.is_english(),
                "{}: non-English intent or slot row",
                row.id
            );
        }
    }
    for code in ["pl", "ro", "lt"] {
        let n = counts.get(code).copied().unwrap_or(0);
        assert!(n >= 12, "{code}: {n} rows, need 12");
    }
}
