//! What the server understood, read back from its call records (the SQLite store in its data
//! directory): the caller's last spoken turn (transcript, intent, slot value), the detected
//! language and the node path.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::EvalError;
use crate::crm::{CallRecord, CaseStore, ExportFilter};

/// The server's view of one evaluation call.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Understood {
    pub transcript: Option<String>,
    pub intent: Option<String>,
    pub confidence: Option<f32>,
    /// The slot value of the turn, as the record writes it.
    pub slot_value: Option<String>,
    pub language: Option<String>,
    pub path: Vec<String>,
    /// The intent was read off the node path (the record had no spoken turn).
    pub intent_from_path: bool,
}

impl Understood {
    /// Reads the caller's last spoken turn of a record. The measured utterance is the last thing
    /// the caller says (the harness hangs up once the answer starts), so it is the last turn
    /// with a transcript.
    pub fn from_record(record: &CallRecord) -> Understood {
        let spoken = record
            .turns
            .iter()
            .rev()
            .find(|t| t.transcript.is_some() || t.intent.is_some());
        let (transcript, intent, confidence, slot_value) = match spoken {
            Some(turn) => (
                turn.transcript.as_ref().map(|t| t.expose().clone()),
                turn.intent.clone(),
                turn.confidence,
                serde_json::to_value(turn)
                    .ok()
                    .and_then(|v| slot_value_of(&v)),
            ),
            None => (None, None, None, None),
        };
        Understood {
            transcript,
            intent,
            confidence,
            slot_value,
            language: record.language.clone(),
            path: record.node_path.clone(),
            intent_from_path: false,
        }
    }
}

/// A turn's slot value, whichever way the record spells it: `slots: {name: value}` (one
/// entry), `slot_value`, or `value`. Strings as they are, other JSON values as JSON text.
fn slot_value_of(turn: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    if let Some(slots) = turn.get("slots").and_then(|s| s.as_object()) {
        return slots.values().find_map(text);
    }
    ["slot_value", "value"]
        .iter()
        .find_map(|k| turn.get(*k).and_then(text))
}

/// Waits until the store holds records for all `call_ids` (the server writes a record when a
/// call ends) or `within` passes, and returns them by Call-ID.
pub async fn wait_for_records(
    store_path: &Path,
    call_ids: &[String],
    within: Duration,
) -> Result<HashMap<String, CallRecord>, EvalError> {
    let store =
        CaseStore::open_sqlite(store_path).map_err(|e| EvalError::Records(e.to_string()))?;
    let deadline = Instant::now() + within;
    loop {
        let export = store
            .export_records(&ExportFilter::default())
            .await
            .map_err(|e| EvalError::Records(e.to_string()))?;
        let mut found: HashMap<String, CallRecord> = export
            .calls
            .into_iter()
            .map(|r| (r.call_id.clone(), r))
            .collect();
        found.retain(|id, _| call_ids.contains(id));
        if found.len() >= call_ids.len() || Instant::now() >= deadline {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crm::{Outcome, Turn};
    use crate::pii::Pii;

    #[test]
    fn reads_the_last_spoken_turn() {
        let mut record = CallRecord::new("c1", chrono::Utc::now(), Outcome::Abandoned);
        record.turns = vec![
            Turn {
                prompt: "main_menu".into(),
                dtmf: Some("1".into()),
                ..Turn::default()
            },
            Turn {
                prompt: "ask_postcode".into(),
                transcript: Some(Pii::new("R M seventeen six S L".into())),
                intent: None,
                ..Turn::default()
            },
        ];
        record.language = Some("en".into());
        let u = Understood::from_record(&record);
        assert_eq!(u.transcript.as_deref(), Some("R M seventeen six S L"));
        assert_eq!(u.language.as_deref(), Some("en"));
        assert_eq!(u.intent, None);
    }

    #[test]
    fn slot_values_in_either_spelling() {
        let v = serde_json::json!({"slots": {"postcode": "RM17 6SL"}});
        assert_eq!(slot_value_of(&v).as_deref(), Some("RM17 6SL"));
        let v = serde_json::json!({"slot_value": 472});
        assert_eq!(slot_value_of(&v).as_deref(), Some("472"));
        assert_eq!(slot_value_of(&serde_json::json!({})), None);
    }
}
