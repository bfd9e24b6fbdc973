//! The evaluation set: a TSV of caller utterances with what the flow must understand.
//!
//! Columns: `id`, `language`, `expected`, `expected_value`, `text`. `expected` is an intent name,
//! `slot:TYPE` for a slot question (the value in `expected_value`), or `language` for language
//! detection (the ISO 639-1 code in `expected_value`). `#` lines are comments.

use std::path::Path;

use super::EvalError;

/// Which slot question a row answers: decides how the caller reaches that question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotKind {
    Postcode,
    Number,
    Date,
    YesNo,
    /// A slot type the harness cannot navigate to (reported, never silently dropped).
    Other(String),
}

impl SlotKind {
    fn parse(name: &str) -> SlotKind {
        match name {
            "uk_postcode" | "postcode" => SlotKind::Postcode,
            "number" | "digits" => SlotKind::Number,
            "date" => SlotKind::Date,
            "yes_no" => SlotKind::YesNo,
            other => SlotKind::Other(other.to_string()),
        }
    }

    /// The slot type's name as the TSV spells it.
    pub fn name(&self) -> &str {
        match self {
            SlotKind::Postcode => "uk_postcode",
            SlotKind::Number => "number",
            SlotKind::Date => "date",
            SlotKind::YesNo => "yes_no",
            SlotKind::Other(s) => s,
        }
    }
}

/// What the server must make of an utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    Intent(String),
    Slot { kind: SlotKind, value: String },
    Language(String),
}

/// One row of the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utterance {
    pub id: String,
    /// ISO 639-1 language of the text (`en`, `pl`, ...).
    pub language: String,
    pub expected: Expected,
    pub text: String,
}

impl Utterance {
    /// English rows are scored for intents and slots; others for language detection.
    pub fn is_english(&self) -> bool {
        self.language == "en"
    }
}

/// Reads a set from a file.
pub fn load(path: &Path) -> Result<Vec<Utterance>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    parse(&text).map_err(|(line, message)| EvalError::Dataset {
        path: path.display().to_string(),
        line,
        message,
    })
}

/// Parses TSV text; an error names the 1-based line.
pub fn parse(text: &str) -> Result<Vec<Utterance>, (usize, String)> {
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
        let [id, language, expected, value, text] = fields.as_slice() else {
            return Err((
                line_no,
                format!("expected 5 tab-separated columns, found {}", fields.len()),
            ));
        };
        if id.is_empty() || text.is_empty() {
            return Err((line_no, "empty id or text".to_string()));
        }
        let expected = match (*expected, *value) {
            ("language", code) if !code.is_empty() && code != "-" => {
                Expected::Language(code.to_ascii_lowercase())
            }
            ("language", _) => {
                return Err((line_no, "language row without a language code".into()));
            }
            (slot, value) if slot.starts_with("slot:") => {
                if value.is_empty() || value == "-" {
                    return Err((line_no, format!("{slot} row without an expected value")));
                }
                Expected::Slot {
                    kind: SlotKind::parse(slot.trim_start_matches("slot:")),
                    value: value.to_string(),
                }
            }
            ("", _) => return Err((line_no, "empty expected column".into())),
            (intent, _) => Expected::Intent(intent.to_string()),
        };
        rows.push(Utterance {
            id: id.to_string(),
            language: language.to_ascii_lowercase(),
            expected,
            text: text.to_string(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_intent_slot_and_language_rows() {
        let rows = parse(
            "# comment\n\
             a1\ten\tpothole\t-\tthere is a hole in my road\n\
             a2\ten\tslot:uk_postcode\tRM17 6SL\tR M one seven six S L\n\
             a3\tpl\tlanguage\tpl\tDzień dobry\n\n",
        )
        .unwrap_or_default();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].expected, Expected::Intent("pothole".into()));
        assert_eq!(
            rows[1].expected,
            Expected::Slot {
                kind: SlotKind::Postcode,
                value: "RM17 6SL".into()
            }
        );
        assert_eq!(rows[2].expected, Expected::Language("pl".into()));
        assert!(!rows[2].is_english());
    }

    #[test]
    fn reports_the_line_of_a_bad_row() {
        assert_eq!(parse("# c\nx\ten\tpothole\n").map_err(|e| e.0), Err(2));
        assert!(parse("x\ten\tslot:date\t-\tnext week\n").is_err());
    }
}
