//! Slot values: what an `ask` captures (yes/no, digits, numbers, UK postcodes, dates, phone
//! numbers, free text, enumerations), parsed from spoken words or keyed DTMF digits, read back
//! to the caller and written to cases as JSON.
//!
//! Parsers are pure: text (and the call date, for relative dates) in, `Option<SlotValue>` out.
//! `None` means "not understood", which the flow treats as a no-match.

mod dates;
mod enumeration;
mod numbers;
mod phone;
mod postcode;
mod spoken;
mod yes_no;

pub use yes_no::YesNoReply;

use chrono::NaiveDate;
use serde_json::Value;

use super::normalise::words;

/// What kind of value an `ask` collects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotType {
    YesNo,
    /// A digit string of `min_len..=max_len` digits (reference numbers, PINs are never asked).
    Digits {
        min_len: usize,
        max_len: usize,
    },
    /// A whole number (house numbers, quantities).
    Number,
    UkPostcode,
    /// A calendar date, relative words resolved against the call date.
    Date,
    /// A UK or international phone number.
    PhoneNumber,
    /// Whatever the caller said, trimmed.
    FreeText,
    /// One of a fixed list of values, each with spoken synonyms.
    Enumeration(Vec<EnumValue>),
}

/// One allowed value of an enumeration slot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnumValue {
    /// The value passed on, e.g. `general_waste`.
    pub value: String,
    /// Other ways to say it, e.g. "black bin", "rubbish".
    pub synonyms: Vec<String>,
}

/// A captured value.
#[derive(Clone, PartialEq, Eq)]
pub enum SlotValue {
    Bool(bool),
    /// Digits as keyed or spoken, leading zeros kept.
    Digits(String),
    Number(i64),
    /// Normalised with one space: "RM17 6SL".
    Postcode(String),
    Date(NaiveDate),
    /// UK numbers in national form ("07700900123"); others as "+" and digits.
    Phone(String),
    Text(String),
    /// The enumeration's `value`.
    Enum(String),
}

/// Personal data must not reach logs: `Debug` shows the kind and a redacted value.
impl std::fmt::Debug for SlotValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotValue::Bool(b) => write!(f, "Bool({b})"),
            SlotValue::Number(n) => write!(f, "Number({n})"),
            SlotValue::Enum(v) => write!(f, "Enum({v:?})"),
            SlotValue::Date(_) => f.write_str("Date(<redacted>)"),
            SlotValue::Digits(s) => write!(f, "Digits(<{} digits>)", s.chars().count()),
            SlotValue::Postcode(_) => f.write_str("Postcode(<redacted>)"),
            SlotValue::Phone(p) => write!(f, "Phone({})", crate::Pii::new(p.clone())),
            SlotValue::Text(t) => write!(f, "Text({})", crate::Pii::new(t.clone())),
        }
    }
}

impl SlotValue {
    /// How to read the value back to the caller: digits one by one in groups, postcodes letter
    /// by letter, dates as "Thursday the 3rd of December".
    pub fn spoken(&self) -> String {
        spoken::spoken(self)
    }

    /// The value as written to a case.
    pub fn to_json(&self) -> Value {
        match self {
            SlotValue::Bool(b) => Value::Bool(*b),
            SlotValue::Number(n) => Value::from(*n),
            SlotValue::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
            SlotValue::Digits(s)
            | SlotValue::Postcode(s)
            | SlotValue::Phone(s)
            | SlotValue::Text(s)
            | SlotValue::Enum(s) => Value::String(s.clone()),
        }
    }
}

/// What an answer to a yes/no question asks for: yes, no, or the question again (plainly or
/// more slowly), a moment, or a new try when the caller is unsure; `None` for anything else.
pub fn yes_no_reply(text: &str) -> Option<YesNoReply> {
    yes_no::reply_to(text, &words(text))
}

/// Whether an answer asks a question back ("is that right?", "why do you need it?"): a yes
/// keyword inside it does not make it a yes.
pub fn is_question(text: &str) -> bool {
    let w = words(text);
    yes_no::is_question(&w) || text.trim_end().ends_with('?')
}

/// Whether an answer is negated ("not sure", "never mind", "I don't"): a yes keyword inside
/// it does not make it a yes.
pub fn is_negated(text: &str) -> bool {
    yes_no::is_negated(&words(text))
}

/// Parses a spoken (or typed) answer. `call_date` anchors "tomorrow", "next Tuesday".
pub fn parse_slot(slot: &SlotType, text: &str, call_date: NaiveDate) -> Option<SlotValue> {
    let w = words(text);
    match slot {
        SlotType::YesNo => yes_no::parse_text(text, &w).map(SlotValue::Bool),
        SlotType::Digits { min_len, max_len } => numbers::first_digits(&w)
            .filter(|d| (*min_len..=*max_len).contains(&d.len()))
            .map(SlotValue::Digits),
        SlotType::Number => numbers::first_digits(&w)
            .and_then(|d| d.parse::<i64>().ok())
            .map(SlotValue::Number),
        SlotType::UkPostcode => postcode::parse(&w).map(SlotValue::Postcode),
        SlotType::Date => dates::parse(text, &w, call_date).map(SlotValue::Date),
        SlotType::PhoneNumber => phone::parse(text, &w).map(SlotValue::Phone),
        SlotType::FreeText => {
            let trimmed = text.trim();
            (!w.is_empty()).then(|| SlotValue::Text(trimmed.to_string()))
        }
        SlotType::Enumeration(values) => enumeration::parse(values, &w).map(SlotValue::Enum),
    }
}

/// Parses keyed digits: digits and numbers as keyed, 1 = yes and 2 = no, phone numbers,
/// an enumeration's n-th value for key n, dates as DDMMYYYY. A trailing `#` terminator is
/// ignored; anything else that is not a digit makes the entry invalid. Postcodes and free text
/// cannot be keyed.
pub fn parse_dtmf_slot(slot: &SlotType, digits: &str) -> Option<SlotValue> {
    let digits = digits.trim().trim_end_matches('#');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match slot {
        SlotType::YesNo => match digits {
            "1" => Some(SlotValue::Bool(true)),
            "2" => Some(SlotValue::Bool(false)),
            _ => None,
        },
        SlotType::Digits { min_len, max_len } => (*min_len..=*max_len)
            .contains(&digits.len())
            .then(|| SlotValue::Digits(digits.to_string())),
        SlotType::Number => digits.parse::<i64>().ok().map(SlotValue::Number),
        SlotType::PhoneNumber => phone::validate(digits).map(SlotValue::Phone),
        SlotType::Date => dates::from_keyed(digits).map(SlotValue::Date),
        SlotType::Enumeration(values) => {
            let index: usize = digits.parse().ok()?;
            values
                .get(index.checked_sub(1)?)
                .map(|v| SlotValue::Enum(v.value.clone()))
        }
        SlotType::UkPostcode | SlotType::FreeText => None,
    }
}
