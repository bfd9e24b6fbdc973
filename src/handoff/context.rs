//! What travels with a transferred call: the case reference and a small context object, as SIP
//! headers on the REFER (and, for the bridge, on our INVITE to the advisor).
//!
//! The context leaves our trust boundary (advisor phones, PBX logs), so it carries only what an
//! advisor needs to pick the call up: scalar facts such as the intent or the service, never what
//! the caller said or keyed, nor their number, postcode or address. Filtering is by key, and
//! conservative: a field whose name looks personal is dropped even if it might be harmless.

use base64::Engine as _;
use serde_json::{Map, Value};

/// Header carrying the case reference (e.g. `X-Frontdoor-Case: FD-2024-000123`).
pub const CASE_HEADER: &str = "X-Frontdoor-Case";
/// Header carrying the context: base64url (no padding) of a compact JSON object.
pub const CONTEXT_HEADER: &str = "X-Frontdoor-Context";
/// Largest encoded context header value. UDP SIP must stay under the path MTU (RFC 3261
/// §18.1.1: 1300 bytes before switching to TCP), so the context gets a modest share of it.
pub const MAX_CONTEXT_BYTES: usize = 512;
/// Longest case reference we forward; anything longer is not one of ours.
const MAX_CASE_REF: usize = 64;
/// Longest string value kept in the context.
const MAX_VALUE_CHARS: usize = 120;
/// Key fragments that mark personal data (matched against `_`/`-`/`.`-separated key words).
const PERSONAL_WORDS: &[&str] = &[
    "caller",
    "phone",
    "number",
    "mobile",
    "postcode",
    "address",
    "email",
    "name",
    "surname",
    "forename",
    "dob",
    "birth",
    "transcript",
    "text",
    "said",
    "heard",
    "utterance",
    "digits",
    "card",
    "account",
    "nino",
    "free",
];
/// Keys read as the case reference, in order of preference.
const CASE_KEYS: &[&str] = &["case_ref", "case_reference", "reference"];

/// The case reference and advisor-safe context for one transfer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransferContext {
    /// Reference of the case created for this call, when there is one.
    pub case_ref: Option<String>,
    /// Advisor-safe scalar facts (intent, service, language, priority...).
    pub fields: Map<String, Value>,
    /// Whether fields were dropped to fit [`MAX_CONTEXT_BYTES`].
    pub truncated: bool,
}

impl TransferContext {
    /// Builds the context from a flow's `Transfer { context }`: the case reference from
    /// `case_ref`/`case_reference`/`reference` or `case.ref`, and every other top-level scalar
    /// whose key does not look personal. Nested objects and arrays are dropped.
    pub fn from_flow(context: &Value) -> TransferContext {
        let mut out = TransferContext::default();
        let Some(obj) = context.as_object() else {
            return out;
        };
        out.case_ref = CASE_KEYS
            .iter()
            .filter_map(|k| obj.get(*k))
            .chain(obj.get("case").and_then(|c| c.get("ref")))
            .filter_map(Value::as_str)
            .find(|r| is_case_ref(r))
            .map(str::to_string);
        for (key, value) in obj {
            if CASE_KEYS.contains(&key.as_str()) || key == "case" || looks_personal(key) {
                continue;
            }
            if let Some(v) = advisor_safe(value) {
                out.fields.insert(key.clone(), v);
            }
        }
        out.fit();
        out
    }

    /// The SIP headers for this context: [`CASE_HEADER`] when there is a case, and
    /// [`CONTEXT_HEADER`] when there are fields.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut h = Vec::with_capacity(2);
        if let Some(r) = &self.case_ref {
            h.push((CASE_HEADER.to_string(), r.clone()));
        }
        if !self.fields.is_empty() {
            h.push((CONTEXT_HEADER.to_string(), self.encoded()));
        }
        h
    }

    /// Decodes a [`CONTEXT_HEADER`] value (for the advisor console and tests).
    pub fn decode_fields(header_value: &str) -> Option<Map<String, Value>> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header_value.trim())
            .ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    fn encoded(&self) -> String {
        let mut obj = self.fields.clone();
        if self.truncated {
            obj.insert("truncated".into(), Value::Bool(true));
        }
        // Serialising a map of scalars cannot fail; an empty string would only omit the header.
        let json = serde_json::to_vec(&Value::Object(obj)).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Drops fields (last key first, so the result is deterministic) until the header fits.
    fn fit(&mut self) {
        while !self.fields.is_empty() && self.encoded().len() > MAX_CONTEXT_BYTES {
            let Some(last) = self.fields.keys().next_back().cloned() else {
                break;
            };
            self.fields.remove(&last);
            self.truncated = true;
        }
    }
}

/// A reference we generated: short, and only characters that are safe in a header and a URI.
fn is_case_ref(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= MAX_CASE_REF
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn looks_personal(key: &str) -> bool {
    key.to_ascii_lowercase()
        .split(['_', '-', '.', ' '])
        .any(|w| PERSONAL_WORDS.contains(&w))
}

fn advisor_safe(value: &Value) -> Option<Value> {
    match value {
        Value::Bool(_) | Value::Number(_) => Some(value.clone()),
        Value::String(s) => {
            let clean: String = s
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_VALUE_CHARS)
                .collect();
            Some(Value::String(clean))
        }
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn case_reference_becomes_its_own_header() {
        let c = TransferContext::from_flow(
            &json!({"case_ref": "FD-2024-000123", "intent": "missed_bin"}),
        );
        let h = c.headers();
        assert_eq!(
            h[0],
            (CASE_HEADER.to_string(), "FD-2024-000123".to_string())
        );
        assert_eq!(h[1].0, CONTEXT_HEADER);
        let fields = TransferContext::decode_fields(&h[1].1).unwrap();
        assert_eq!(fields.get("intent"), Some(&json!("missed_bin")));
        assert!(!fields.contains_key("case_ref"));
    }

    #[test]
    fn nested_case_ref_is_found() {
        let c = TransferContext::from_flow(&json!({"case": {"ref": "FD-9"}}));
        assert_eq!(c.case_ref.as_deref(), Some("FD-9"));
        assert!(c.fields.is_empty());
        assert_eq!(c.headers().len(), 1);
    }

    #[test]
    fn personal_data_never_leaves() {
        let c = TransferContext::from_flow(&json!({
            "caller": "+447700900123",
            "caller_number": "07700900123",
            "postcode": "RM17 6SL",
            "house_number": 12,
            "full_name": "A Person",
            "transcript": "my bin was missed at 12 Acacia Road",
            "free_text": "anything",
            "account": {"nested": true},
            "intent": "missed_bin",
            "language": "en",
        }));
        let keys: Vec<&str> = c.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["intent", "language"]);
    }

    #[test]
    fn header_injection_and_bad_refs_are_dropped() {
        let c = TransferContext::from_flow(
            &json!({"case_ref": "FD-1\r\nX-Evil: 1", "reference": "FD-2", "service": "waste\r\nX: y"}),
        );
        assert_eq!(c.case_ref.as_deref(), Some("FD-2"));
        for (_, v) in c.headers() {
            assert!(!v.contains(['\r', '\n']));
        }
        assert_eq!(c.fields.get("service"), Some(&json!("wasteX: y")));
    }

    #[test]
    fn context_is_capped_and_marked_truncated() {
        let mut obj = Map::new();
        for i in 0..40 {
            obj.insert(format!("fact{i:02}"), json!("x".repeat(100)));
        }
        let c = TransferContext::from_flow(&Value::Object(obj));
        assert!(c.truncated);
        let h = c.headers();
        assert!(h[0].1.len() <= MAX_CONTEXT_BYTES);
        let fields = TransferContext::decode_fields(&h[0].1).unwrap();
        assert_eq!(fields.get("truncated"), Some(&json!(true)));
        assert!(fields.contains_key("fact00"));
    }

    #[test]
    fn non_object_context_gives_no_headers() {
        assert!(
            TransferContext::from_flow(&json!("advisors"))
                .headers()
                .is_empty()
        );
        assert!(
            TransferContext::from_flow(&Value::Null)
                .headers()
                .is_empty()
        );
    }
}
