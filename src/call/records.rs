//! The call layer's mapping from what a handler hands over (the seam's typed case draft,
//! transfer context and turns) to the store's and the handoff's own types.
//!
//! Owns only the mapping: what a case, a call record and a transfer header look like is the
//! store's and the handoff's business; what the call captured is the handler's.

use serde_json::{Map, Value};

use crate::crm;
use crate::handler::{CaseDraft, CaseField, FlowTransfer, TransferContext, Turn};
use crate::handoff;
use crate::pii::Pii;

/// The case the store keeps for a draft. The draft's description of the case (type, intent,
/// flow, language...) and the designer's fields never share a namespace, so a field may be
/// called anything. Missing parts stay empty rather than failing: a case with less context is
/// better than no case for a caller who has just given their details.
pub fn new_case(draft: CaseDraft, caller: Option<Pii<String>>, call_id: &str) -> crm::NewCase {
    let intent = draft.intent.filter(|i| !i.is_empty());
    let service = if draft.service.is_empty() {
        intent.clone().unwrap_or_else(|| "general".into())
    } else {
        draft.service
    };
    crm::NewCase {
        service,
        intent,
        fields: fields_object(&draft.fields),
        caller,
        language: Some(draft.language).filter(|l| !l.is_empty()),
        accessibility: draft.accessibility.flags(),
        flow_name: draft.flow_name,
        flow_version: draft.flow_version,
        transcript_excerpts: draft
            .transcript_excerpts
            .into_iter()
            .map(Pii::into_inner)
            .collect(),
        call_id: call_id.to_string(),
        update_of: draft.update_of,
    }
}

/// The fields an update of an existing case merges in: the draft's own fields only (the case
/// keeps the type, flow and language it was opened with).
pub fn updated_fields(draft: &CaseDraft) -> Value {
    fields_object(&draft.fields)
}

/// The fields as the store keeps them: one JSON object, by name (a later field of the same
/// name wins, as the designer wrote it last).
fn fields_object(fields: &[CaseField]) -> Value {
    Value::Object(
        fields
            .iter()
            .map(|f| (f.name.clone(), f.value.expose().clone()))
            .collect(),
    )
}

/// What of a transfer's context travels with the call: the case reference, and the facts an
/// advisor needs to pick the call up, every one of them flow structure or a choice the handler
/// made (never a captured value: a flow's slots stay here).
pub fn handoff_context(context: &TransferContext) -> handoff::TransferContext {
    match context {
        TransferContext::Flow(flow) => flow_handoff(flow),
        TransferContext::Menu { service, intent } => {
            let mut facts = Map::new();
            facts.insert("service".into(), Value::from(service.as_str()));
            facts.insert("intent".into(), Value::from(intent.as_str()));
            handoff::TransferContext::new(None, facts)
        }
    }
}

fn flow_handoff(context: &FlowTransfer) -> handoff::TransferContext {
    let mut facts = Map::new();
    let mut fact = |key: &str, value: Value| {
        facts.insert(key.to_string(), value);
    };
    fact("flow", Value::from(context.flow_name.as_str()));
    fact("flow_version", Value::from(context.flow_version.as_str()));
    fact("reason", Value::from(context.reason.as_str()));
    fact("priority", Value::from(context.priority.as_str()));
    if let Some(intent) = &context.intent {
        fact("intent", Value::from(intent.as_str()));
    }
    if let Some(case) = &context.returning_case {
        fact("returning_case", Value::from(case.as_str()));
    }
    fact("language", Value::from(context.language.as_str()));
    fact("interpreter", Value::Bool(context.interpreter));
    fact("node", Value::from(context.node.as_str()));
    handoff::TransferContext::new(context.case_ref.as_deref(), facts)
}

/// The call record's turns.
pub fn record_turns(turns: Vec<Turn>) -> Vec<crm::Turn> {
    turns
        .into_iter()
        .map(|t| crm::Turn {
            prompt: t.prompt,
            transcript: t.transcript,
            intent: t.intent,
            confidence: t.confidence,
            dtmf: t.dtmf,
            node: t.node,
            slots: t.slots,
            language: t.language,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::{Accessibility, FieldType, TransferPriority, TransferReason};
    use serde_json::json;

    fn draft() -> CaseDraft {
        CaseDraft {
            service: "missed_bin".into(),
            intent: Some("report_bin".into()),
            flow_name: "council".into(),
            flow_version: "9f2c".into(),
            language: "en".into(),
            accessibility: Accessibility { slow_speech: true },
            transcript_excerpts: vec![Pii::new("my bin was missed".into())],
            update_of: None,
            fields: vec![
                CaseField::new("postcode", FieldType::UkPostcode, json!("RM17 6SL")),
                CaseField::new("bin", FieldType::Enum("bins".into()), json!("green")),
            ],
        }
    }

    #[test]
    fn a_draft_becomes_the_case_the_store_keeps() {
        let c = new_case(draft(), Some(Pii::new("+447700900123".into())), "call-1");
        assert_eq!(c.service, "missed_bin");
        assert_eq!(c.intent.as_deref(), Some("report_bin"));
        assert_eq!(
            (c.flow_name.as_str(), c.flow_version.as_str()),
            ("council", "9f2c")
        );
        assert_eq!(c.fields, json!({"postcode": "RM17 6SL", "bin": "green"}));
        assert_eq!(c.language.as_deref(), Some("en"));
        assert_eq!(c.accessibility, vec!["slow_speech"]);
        assert_eq!(c.transcript_excerpts, vec!["my bin was missed"]);
        assert_eq!(c.update_of, None);
        assert_eq!(c.call_id, "call-1");

        let bare = new_case(
            CaseDraft {
                service: String::new(),
                intent: None,
                fields: Vec::new(),
                ..draft()
            },
            None,
            "c",
        );
        assert_eq!(bare.service, "general");
        assert_eq!(bare.fields, json!({}));
    }

    #[test]
    fn fields_named_like_case_metadata_stay_fields() {
        let mut d = draft();
        d.fields = ["type", "service", "intent", "language", "flow", "update_of"]
            .into_iter()
            .map(|name| CaseField::new(name, FieldType::Text, json!(format!("designer {name}"))))
            .collect();
        let c = new_case(d.clone(), None, "c");
        assert_eq!(c.service, "missed_bin");
        assert_eq!(c.intent.as_deref(), Some("report_bin"));
        assert_eq!(c.language.as_deref(), Some("en"));
        assert_eq!(c.flow_name, "council");
        assert_eq!(c.update_of, None);
        assert_eq!(
            c.fields,
            json!({"type": "designer type", "service": "designer service",
                   "intent": "designer intent", "language": "designer language",
                   "flow": "designer flow", "update_of": "designer update_of"})
        );
        assert_eq!(updated_fields(&d), c.fields);
    }

    fn context() -> FlowTransfer {
        FlowTransfer {
            flow_name: "council".into(),
            flow_version: "9f2c".into(),
            reason: TransferReason::CallerAsked,
            priority: TransferPriority::Normal,
            intent: Some("missed_bin".into()),
            slots: vec![
                CaseField::new("postcode", FieldType::UkPostcode, json!("RM17 6SL")),
                CaseField::new("caller_name", FieldType::FreeText, json!("A Person")),
                CaseField::new("house_number", FieldType::Number, json!(12)),
            ],
            case_ref: Some("TC-4K7Q-92".into()),
            returning_case: None,
            language: "en".into(),
            interpreter: false,
            accessibility: Accessibility { slow_speech: true },
            node: "menu".into(),
        }
    }

    #[test]
    fn personal_data_never_leaves_with_a_transfer() {
        let c = handoff_context(&TransferContext::Flow(context()));
        assert_eq!(c.case_ref.as_deref(), Some("TC-4K7Q-92"));
        assert_eq!(
            c.fields,
            json!({"flow": "council", "flow_version": "9f2c", "reason": "caller_asked",
                   "priority": "normal", "intent": "missed_bin", "language": "en",
                   "interpreter": false, "node": "menu"})
            .as_object()
            .cloned()
            .unwrap_or_default()
        );
        let headers = c.headers();
        let sent = handoff::TransferContext::decode_fields(&headers[1].1).unwrap_or_default();
        let sent = Value::Object(sent).to_string();
        for personal in ["RM17", "Person", "postcode", "house_number"] {
            assert!(!sent.contains(personal), "{sent}");
        }
    }

    #[test]
    fn a_returning_case_and_safeguarding_travel() {
        let mut ctx = context();
        ctx.returning_case = Some("TC-AAAA-11".into());
        ctx.reason = TransferReason::Safeguarding;
        ctx.priority = TransferPriority::Emergency;
        ctx.case_ref = None;
        let c = handoff_context(&TransferContext::Flow(ctx));
        assert_eq!(c.case_ref, None);
        assert_eq!(c.fields.get("returning_case"), Some(&json!("TC-AAAA-11")));
        assert_eq!(c.fields.get("priority"), Some(&json!("emergency")));
        assert_eq!(c.fields.get("reason"), Some(&json!("safeguarding")));
    }

    #[test]
    fn a_menu_sends_what_the_call_is_about() {
        let c = handoff_context(&TransferContext::Menu {
            service: "demo-menu".into(),
            intent: "speak_to_advisor".into(),
        });
        assert_eq!(c.case_ref, None);
        let keys: Vec<&str> = c.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, ["intent", "service"]);
    }
}
