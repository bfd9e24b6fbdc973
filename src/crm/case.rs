//! What a case is: the case a call hands in ([`NewCase`]), the stored case ([`CaseRecord`]),
//! and the outbox events that carry it to remote sinks ([`OutboxEvent`]).
//!
//! Plain data only; storing it is `store`'s job and delivering it the `outbox` worker's.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pii::Pii;

/// A case as a call hands it in from a `case` node.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct NewCase {
    /// The service the case is for, e.g. `waste`.
    pub service: String,
    /// The intent that led here, e.g. `missed_bin`.
    pub intent: Option<String>,
    /// Captured slots (validated values only: sensitive asks never put raw speech here).
    pub fields: serde_json::Value,
    /// The caller's number, when it was not withheld.
    pub caller: Option<Pii<String>>,
    /// Language the call was held in (BCP 47, e.g. `en-GB`).
    pub language: Option<String>,
    /// Accessibility flags raised during the call, e.g. `slow_speech`.
    pub accessibility: Vec<String>,
    /// Flow that created the case and its version (content hash).
    pub flow_name: String,
    pub flow_version: String,
    /// Short transcript excerpts an advisor needs for context (personal data: redacted in logs).
    pub transcript_excerpts: Vec<String>,
    /// SIP Call-ID of the call that captured the case.
    pub call_id: String,
    /// Reference of an existing case of this caller to update instead of creating a duplicate.
    pub update_of: Option<String>,
}

impl fmt::Debug for NewCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewCase")
            .field("service", &self.service)
            .field("intent", &self.intent)
            .field("fields", &RedactedJson(&self.fields))
            .field("caller", &self.caller)
            .field("language", &self.language)
            .field("accessibility", &self.accessibility)
            .field("flow_name", &self.flow_name)
            .field("flow_version", &self.flow_version)
            .field("transcript_excerpts", &self.transcript_excerpts.len())
            .field("call_id", &self.call_id)
            .field("update_of", &self.update_of)
            .finish()
    }
}

/// Whether a case still needs work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Created and not yet closed by the CRM or an advisor.
    Open,
    /// Dealt with. Closed cases are not offered to returning callers.
    Closed,
}

impl CaseStatus {
    /// The name stored in the database and sent in webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Closed => "closed",
        }
    }

    /// Parses a stored status name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(CaseStatus::Open),
            "closed" => Some(CaseStatus::Closed),
            _ => None,
        }
    }
}

/// A case as stored.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Human-readable reference read back to the caller, e.g. `TC-4K7Q-92`.
    pub reference: String,
    pub service: String,
    pub intent: Option<String>,
    /// Captured slots; updates are merged in key by key.
    pub fields: serde_json::Value,
    pub caller: Option<Pii<String>>,
    pub language: Option<String>,
    pub accessibility: Vec<String>,
    pub flow_name: String,
    pub flow_version: String,
    pub transcript_excerpts: Vec<String>,
    /// Call-IDs of every call that created or updated the case, oldest first.
    pub call_ids: Vec<String>,
    pub status: CaseStatus,
    /// Number of events so far (1 after creation, +1 per update): the order CRMs apply them in.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for CaseRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseRecord")
            .field("reference", &self.reference)
            .field("service", &self.service)
            .field("intent", &self.intent)
            .field("fields", &RedactedJson(&self.fields))
            .field("caller", &self.caller)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

impl CaseRecord {
    /// Whether a returning caller's answers match what is on this case, for every question
    /// asked (e.g. `[("postcode", "rm17 6sl"), ("house_number", "12")]`). Compared without case
    /// or spaces, so "RM17 6SL" and "rm176sl" match. No answers, or a question the case has no
    /// value for, never matches: a caller number alone proves nothing (it can be spoofed or
    /// shared), so nothing of a case is read out until this returns true.
    pub fn matches_caller_answers(&self, answers: &[(&str, &str)]) -> bool {
        fields_match_caller_answers(&self.fields, answers)
    }
}

/// [`CaseRecord::matches_caller_answers`] over a case's fields alone: the rule is the call
/// seam's, which a returning caller's flow applies to the open cases it is given.
pub use crate::handler::fields_match_caller_answers;

/// What happened to a case, as told to remote sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// `case.created`: the full case.
    #[serde(rename = "case.created")]
    CaseCreated,
    /// `case.updated`: the full case after the update (not a diff, so a CRM that missed
    /// nothing and one that applies it twice end up the same).
    #[serde(rename = "case.updated")]
    CaseUpdated,
    /// `case.erased`: the caller asked for erasure; delete the case. Carries only the reference.
    #[serde(rename = "case.erased")]
    CaseErased,
}

impl EventKind {
    /// The name stored in the outbox and sent as the webhook `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CaseCreated => "case.created",
            EventKind::CaseUpdated => "case.updated",
            EventKind::CaseErased => "case.erased",
        }
    }

    /// Parses a stored kind name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "case.created" => Some(EventKind::CaseCreated),
            "case.updated" => Some(EventKind::CaseUpdated),
            "case.erased" => Some(EventKind::CaseErased),
            _ => None,
        }
    }
}

/// One event waiting in (or taken from) the outbox for one remote sink.
#[derive(Clone, PartialEq)]
pub struct OutboxEvent {
    /// Outbox row id (unique per store).
    pub id: i64,
    /// Name of the sink this row is for.
    pub sink: String,
    pub case_reference: String,
    pub kind: EventKind,
    /// Position of this event in its case's history (1 = created). Events of one case are
    /// delivered in this order.
    pub sequence: i64,
    /// `<reference>/<sequence>`: the same on every retry and every instance, so the receiver
    /// can drop duplicates.
    pub idempotency_key: String,
    /// The JSON body to send (documented in `docs/webhook-case.schema.json`).
    pub payload: serde_json::Value,
    /// Delivery attempts already made before this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for OutboxEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxEvent")
            .field("id", &self.id)
            .field("sink", &self.sink)
            .field("case_reference", &self.case_reference)
            .field("kind", &self.kind)
            .field("sequence", &self.sequence)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// An outbox event parked after too many failures, for supervisors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub sink: String,
    pub case_reference: String,
    pub kind: EventKind,
    pub sequence: i64,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A remote sink the store writes outbox rows for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkRegistration {
    pub name: String,
    /// Whether erasure requests (`case.erased`) are queued for it.
    pub supports_erasure: bool,
}

/// The webhook body of an event (see `docs/webhook.md`). Deterministic for one event, so a
/// retry carries the same bytes and the same signature.
pub(crate) fn event_payload(
    kind: EventKind,
    sequence: i64,
    case: Option<&CaseRecord>,
    reference: &str,
    occurred_at: DateTime<Utc>,
) -> serde_json::Value {
    let mut body = serde_json::json!({
        "schema": "frontdoor.case-event/1",
        "type": kind.as_str(),
        "idempotency_key": idempotency_key(reference, sequence),
        "reference": reference,
        "sequence": sequence,
        "occurred_at": occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if let (Some(case), Some(obj)) = (case, body.as_object_mut()) {
        obj.insert("case".into(), case_json(case));
    }
    body
}

/// The idempotency key of the `sequence`-th event of a case.
pub(crate) fn idempotency_key(reference: &str, sequence: i64) -> String {
    format!("{reference}/{sequence}")
}

fn case_json(case: &CaseRecord) -> serde_json::Value {
    serde_json::json!({
        "reference": case.reference,
        "status": case.status.as_str(),
        "service": case.service,
        "intent": case.intent,
        "fields": case.fields,
        "caller": case.caller.as_ref().map(|c| c.expose().clone()),
        "language": case.language,
        "accessibility": case.accessibility,
        "flow": { "name": case.flow_name, "version": case.flow_version },
        "transcript_excerpts": case.transcript_excerpts,
        "call_ids": case.call_ids,
        "version": case.version,
        "created_at": case.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "updated_at": case.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// Merges `update` into `base` key by key (an RFC 7396 JSON merge patch without deletion:
/// a `null` in an update keeps the old value, because a re-asked slot that went unanswered
/// must not wipe what the caller said last time).
pub(crate) fn merge_fields(base: &mut serde_json::Value, update: serde_json::Value) {
    match (base, update) {
        (serde_json::Value::Object(b), serde_json::Value::Object(u)) => {
            for (k, v) in u {
                if v.is_null() {
                    continue;
                }
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        merge_fields(existing, v)
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, u) if !u.is_null() => *b = u,
        _ => {}
    }
}

/// A change to an existing case.
#[derive(Debug, Clone, Default)]
pub struct CaseUpdate {
    /// Slots to merge in (see [`CaseStore::update_case`](crate::crm::CaseStore::update_case)).
    pub fields: serde_json::Value,
    /// Excerpts to append.
    pub transcript_excerpts: Vec<String>,
    /// The call making the update, appended to the case's call ids.
    pub call_id: Option<String>,
    /// New status, if it changes.
    pub status: Option<CaseStatus>,
    /// Accessibility flags raised in this call, added to the case's.
    pub accessibility: Vec<String>,
}

/// A new case record from what the call handed in.
pub(crate) fn build_case(new: NewCase, reference: String, now: DateTime<Utc>) -> CaseRecord {
    let fields = if new.fields.is_null() {
        serde_json::json!({})
    } else {
        new.fields
    };
    CaseRecord {
        reference,
        service: new.service,
        intent: new.intent,
        fields,
        caller: new.caller,
        language: new.language,
        accessibility: new.accessibility,
        flow_name: new.flow_name,
        flow_version: new.flow_version,
        transcript_excerpts: new.transcript_excerpts,
        call_ids: if new.call_id.is_empty() {
            Vec::new()
        } else {
            vec![new.call_id]
        },
        status: CaseStatus::Open,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// The update a `case` node with `update_of` makes to the existing case.
pub(crate) fn update_from_new_case(new: NewCase) -> CaseUpdate {
    CaseUpdate {
        fields: new.fields,
        transcript_excerpts: new.transcript_excerpts,
        call_id: Some(new.call_id).filter(|c| !c.is_empty()),
        status: None,
        accessibility: new.accessibility,
    }
}

/// Applies an update to a stored case and bumps its version.
pub(crate) fn apply_update(case: &mut CaseRecord, update: CaseUpdate, now: DateTime<Utc>) {
    merge_fields(&mut case.fields, update.fields);
    case.transcript_excerpts.extend(update.transcript_excerpts);
    if let Some(id) = update.call_id
        && !case.call_ids.contains(&id)
    {
        case.call_ids.push(id);
    }
    for flag in update.accessibility {
        if !case.accessibility.contains(&flag) {
            case.accessibility.push(flag);
        }
    }
    if let Some(status) = update.status {
        case.status = status;
    }
    case.version += 1;
    case.updated_at = now;
}

/// Formats JSON for `Debug` without its values (slots hold postcodes and names).
struct RedactedJson<'a>(&'a serde_json::Value);

impl fmt::Debug for RedactedJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            serde_json::Value::Object(map) => f.debug_set().entries(map.keys()).finish(),
            serde_json::Value::Null => f.write_str("null"),
            _ => f.write_str("<redacted>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_old_values_and_overwrites_new_ones() {
        let mut base = json!({"postcode": "RM17 6SL", "bin": "green", "address": {"house": "12"}});
        merge_fields(
            &mut base,
            json!({"bin": "blue", "postcode": null, "address": {"flat": "B"}}),
        );
        assert_eq!(
            base,
            json!({"postcode": "RM17 6SL", "bin": "blue", "address": {"house": "12", "flat": "B"}})
        );
    }

    #[test]
    fn returning_callers_must_match_every_answer() {
        let mut case = build_case(NewCase::default(), "TC-4K7Q-97".into(), Utc::now());
        case.fields = json!({"postcode": "RM17 6SL", "house_number": 12, "note": ""});
        assert!(case.matches_caller_answers(&[("postcode", "rm176sl"), ("house_number", "12")]));
        assert!(!case.matches_caller_answers(&[("postcode", "RM17 6SL"), ("house_number", "14")]));
        assert!(!case.matches_caller_answers(&[]));
        assert!(!case.matches_caller_answers(&[("flat", "B")]));
        assert!(!case.matches_caller_answers(&[("note", "")]));
    }

    #[test]
    fn debug_never_prints_slot_values_or_caller() {
        let case = NewCase {
            fields: json!({"postcode": "RM17 6SL"}),
            caller: Some(Pii::new("+447700900123".into())),
            transcript_excerpts: vec!["my name is Jane".into()],
            ..NewCase::default()
        };
        let s = format!("{case:?}");
        assert!(!s.contains("RM17"), "{s}");
        assert!(!s.contains("900123"), "{s}");
        assert!(!s.contains("Jane"), "{s}");
        assert!(s.contains("postcode"), "{s}");
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for k in [
            EventKind::CaseCreated,
            EventKind::CaseUpdated,
            EventKind::CaseErased,
        ] {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        for s in [CaseStatus::Open, CaseStatus::Closed] {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(EventKind::parse("nope"), None);
    }

    #[test]
    fn payloads_have_what_the_published_schema_requires() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/webhook-case.schema.json"))
                .unwrap_or_default();
        let required = |v: &serde_json::Value| -> Vec<String> {
            v["required"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let top = required(&schema);
        let case_keys = required(&schema["$defs"]["case"]);
        assert!(
            top.len() >= 6 && case_keys.len() >= 10,
            "schema not found or changed shape"
        );

        let now = Utc::now();
        let case = build_case(NewCase::default(), "TC-4K7Q-97".into(), now);
        let created = event_payload(EventKind::CaseCreated, 1, Some(&case), &case.reference, now);
        for k in &top {
            assert!(created.get(k).is_some(), "payload lacks {k}");
        }
        for k in &case_keys {
            assert!(created["case"].get(k).is_some(), "case lacks {k}");
        }
        assert_eq!(created["schema"], schema["properties"]["schema"]["const"]);
        let erased = event_payload(EventKind::CaseErased, 2, None, "TC-4K7Q-97", now);
        assert!(erased.get("case").is_none());
        assert_eq!(erased["idempotency_key"], "TC-4K7Q-97/2");

        // The reference pattern in the schema uses exactly the alphabet references are made of.
        let pattern = schema["$defs"]["reference"]["pattern"]
            .as_str()
            .unwrap_or_default();
        let alphabet = std::str::from_utf8(crate::crm::REFERENCE_ALPHABET).unwrap_or_default();
        assert!(pattern.contains(&format!("[{alphabet}]")), "{pattern}");
    }
}
