//! Keypad prompts generated for an `ask` when speech recognition is unavailable (the
//! recogniser queue is past its limit) and the ask has no `keys_prompt` of its own: the same
//! question, offering only what can be keyed.
//!
//! Owns the wording only (English: a flow in several languages gives each ask a `keys_prompt`).
//! The key meanings are the interpreter's: menu keys as declared, key n for the n-th value of
//! an enumeration, 1 yes / 2 no, digits ended by the terminator.

use crate::flow::model::{Ask, SlotKind};

/// "Please use your keypad. Press 1 for …": the ask's keys, or how to key its slot.
pub fn ask_text(ask: &Ask, enum_values: &[&str]) -> String {
    let mut text = String::from("Please use your keypad.");
    let choices: Vec<String> = if !ask.keys.is_empty() {
        ask.keys
            .iter()
            .map(|(key, intent)| format!("{key} for {}", words(intent)))
            .collect()
    } else {
        match ask.slot.as_ref().map(|s| &s.kind) {
            Some(SlotKind::Enum(_)) => enum_values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{} for {}", i + 1, words(v)))
                .collect(),
            Some(SlotKind::YesNo) => vec!["1 for yes".into(), "2 for no".into()],
            _ => Vec::new(),
        }
    };
    if choices.is_empty() {
        text.push_str(" Key your answer");
        match ask.digits.as_ref().and_then(|d| d.terminator) {
            Some('#') => text.push_str(", then press hash."),
            Some('*') => text.push_str(", then press star."),
            _ => text.push('.'),
        }
    } else {
        text.push_str(" Press ");
        text.push_str(&join_or(&choices));
        text.push('.');
    }
    if ask.globals.advisor {
        text.push_str(" Press 0 on its own to speak to someone.");
    }
    text
}

/// A `confirm` by keys.
pub fn yes_no_text(advisor: bool) -> String {
    let mut text = String::from("Please use your keypad. Press 1 for yes or 2 for no.");
    if advisor {
        text.push_str(" Press 0 to speak to someone.");
    }
    text
}

/// A survey question by keys.
pub fn survey_text(max: u8) -> String {
    format!("Please use your keypad. Press a number from 1 to {max}.")
}

/// An intent or value name as words: `missed_bin` -> "missed bin".
fn words(name: &str) -> String {
    name.replace('_', " ")
}

/// "a, b or c".
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::flow::model::{DigitSpec, Globals, SlotSpec};

    fn ask() -> Ask {
        Ask {
            prompts: Vec::new(),
            intents: Vec::new(),
            keys: Vec::new(),
            slot: None,
            next: None,
            digits: None,
            no_input: Vec::new(),
            no_match: Vec::new(),
            max_attempts: 3,
            fallback: None,
            sensitive: false,
            globals: Globals::default(),
            no_input_timeout: Duration::from_secs(6),
            end_of_speech: Duration::from_millis(400),
            keys_prompt: Vec::new(),
            clarify: true,
        }
    }

    #[test]
    fn menu_keys_are_listed_with_the_advisor_key() {
        let mut a = ask();
        a.keys = vec![('1', "money_topics".into()), ('2', "waste_topics".into())];
        assert_eq!(
            ask_text(&a, &[]),
            "Please use your keypad. Press 1 for money topics or 2 for waste topics. Press 0 on its own to speak to someone."
        );
    }

    #[test]
    fn enumerations_and_digit_entry() {
        let mut a = ask();
        a.slot = Some(SlotSpec {
            name: "bin".into(),
            kind: SlotKind::Enum("bin_type".into()),
        });
        a.globals.advisor = false;
        assert_eq!(
            ask_text(&a, &["general", "recycling", "garden"]),
            "Please use your keypad. Press 1 for general, 2 for recycling or 3 for garden."
        );
        a.slot = Some(SlotSpec {
            name: "n".into(),
            kind: SlotKind::Number,
        });
        a.digits = Some(DigitSpec {
            max_digits: 4,
            terminator: Some('#'),
        });
        assert_eq!(
            ask_text(&a, &[]),
            "Please use your keypad. Key your answer, then press hash."
        );
    }
}
