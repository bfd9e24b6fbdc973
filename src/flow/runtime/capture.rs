//! Captured slot values as the interpreter holds them, and the seam to the slot parsers.
//!
//! Owns only these types; the parsing itself is `nlu` (wired in `understand`).

use std::fmt;

use crate::flow::model::{SlotKind, SlotSpec};
use crate::handler::{CaseField, FieldType};

/// A validated slot value: what goes to cases and transfers, and how it is read back.
#[derive(Clone, PartialEq)]
pub struct SlotCapture {
    /// The value written to a case or transfer context.
    pub json: serde_json::Value,
    /// How a prompt reads it back ("R M 1 7, 6 S L").
    pub spoken: String,
    /// The type of the slot that captured it: says whether the value is personal data.
    pub kind: SlotKind,
}

/// Captured values are personal data: `Debug` never shows them.
impl fmt::Debug for SlotCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SlotCapture(<redacted>)")
    }
}

impl SlotCapture {
    /// The canonical text form: the JSON string itself, or the JSON rendering of other values.
    pub fn canonical(&self) -> String {
        match &self.json {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The value as a case or transfer field called `name`, wrapped when its type is personal.
    pub fn field(&self, name: String) -> CaseField {
        CaseField::new(name, field_type(&self.kind), self.json.clone())
    }
}

/// The seam's name for a slot type.
fn field_type(kind: &SlotKind) -> FieldType {
    match kind {
        SlotKind::YesNo => FieldType::YesNo,
        SlotKind::Digits => FieldType::Digits,
        SlotKind::Number => FieldType::Number,
        SlotKind::UkPostcode => FieldType::UkPostcode,
        SlotKind::Date => FieldType::Date,
        SlotKind::PhoneNumber => FieldType::PhoneNumber,
        SlotKind::FreeText => FieldType::FreeText,
        SlotKind::Enum(name) => FieldType::Enum(name.clone()),
    }
}

/// Parses keyed digits for a slot. Implemented over `nlu` by `understand::Understanding`.
pub trait KeyReader: Send + Sync {
    /// The value of `digits` keyed for `slot`, or `None` when it is not valid.
    fn parse_keys(&self, slot: &SlotSpec, digits: &str) -> Option<SlotCapture>;
}
