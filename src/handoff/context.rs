//! What travels with a transferred call: the case reference and a small context object, as SIP
//! headers on the REFER (and, for the bridge, on our INVITE to the advisor).
//!
//! The context leaves our trust boundary (advisor phones, PBX logs), so it carries only what an
//! advisor needs to pick the call up: scalar facts such as the intent or the service, never what
//! the caller said or keyed, nor their number, postcode or address. Which facts those are is
//! decided where their types are known (the call layer maps the flow's typed context); here
//! they are only made safe for a header: scalars, no control characters, a bounded size.

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
    /// The context for a transfer: `case_ref` when it is one of ours (anything else could
    /// smuggle header syntax and is dropped), and the advisor-safe `facts` that are scalars
    /// (nested objects and arrays are dropped, strings lose control characters and are
    /// shortened), dropped further until the header fits [`MAX_CONTEXT_BYTES`].
    pub fn new(case_ref: Option<&str>, facts: Map<String, Value>) -> TransferContext {
        let mut out = TransferContext {
            case_ref: case_ref.filter(|r| is_case_ref(r)).map(str::to_string),
            ..TransferContext::default()
        };
        for (key, value) in facts {
            if let Some(v) = advisor_safe(&value) {
                out.fields.insert(key, v);
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

    fn facts(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn case_reference_becomes_its_own_header() {
        let c = TransferContext::new(
            Some("FD-2024-000123"),
            facts(json!({"intent": "missed_bin"})),
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
    fn a_case_alone_is_one_header() {
        let c = TransferContext::new(Some("FD-9"), Map::new());
        assert_eq!(c.case_ref.as_deref(), Some("FD-9"));
        assert!(c.fields.is_empty());
        assert_eq!(c.headers().len(), 1);
    }

    #[test]
    fn only_scalars_leave() {
        let c = TransferContext::new(
            None,
            facts(json!({
                "slots": {"postcode": "RM17 6SL"},
                "accessibility": {"slow_speech": true},
                "excerpts": ["my bin was missed at 12 Acacia Road"],
                "returning_case": null,
                "intent": "missed_bin",
                "interpreter": false,
            })),
        );
        let keys: Vec<&str> = c.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["intent", "interpreter"]);
    }

    #[test]
    fn header_injection_and_bad_refs_are_dropped() {
        let c = TransferContext::new(
            Some("FD-1\r\nX-Evil: 1"),
            facts(json!({"service": "waste\r\nX: y"})),
        );
        assert_eq!(c.case_ref, None);
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
        let c = TransferContext::new(None, obj);
        assert!(c.truncated);
        let h = c.headers();
        assert!(h[0].1.len() <= MAX_CONTEXT_BYTES);
        let fields = TransferContext::decode_fields(&h[0].1).unwrap();
        assert_eq!(fields.get("truncated"), Some(&json!(true)));
        assert!(fields.contains_key("fact00"));
    }

    #[test]
    fn no_case_and_no_facts_give_no_headers() {
        assert!(TransferContext::new(None, Map::new()).headers().is_empty());
    }
}
