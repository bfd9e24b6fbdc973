//! Call records: one per call, automated or transferred, stored next to the cases.
//!
//! Plain data. Transcripts are personal data: they are wrapped in [`Pii`] and are the part that
//! retention deletes; everything else is kept for the council's reporting.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pii::Pii;

/// How a call ended, for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The caller's need was met without a case or an advisor (e.g. a balance read out).
    Resolved,
    /// A case was created or updated.
    CaseCreated,
    /// The caller was handed to an advisor.
    Transferred,
    /// The caller hung up before the flow finished.
    Abandoned,
    /// Frontdoor could not complete the call (store down, media timeout, internal error).
    Failed,
}

impl Outcome {
    /// The name stored and exported.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Resolved => "resolved",
            Outcome::CaseCreated => "case_created",
            Outcome::Transferred => "transferred",
            Outcome::Abandoned => "abandoned",
            Outcome::Failed => "failed",
        }
    }

    /// Parses a stored outcome name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "resolved" => Outcome::Resolved,
            "case_created" => Outcome::CaseCreated,
            "transferred" => Outcome::Transferred,
            "abandoned" => Outcome::Abandoned,
            "failed" => Outcome::Failed,
            _ => return None,
        })
    }
}

/// One exchange of a call: what we asked and what the caller answered.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Prompt name (or node id) that was played.
    pub prompt: String,
    /// What the caller said. `None` when nothing was heard, the ask was sensitive, or
    /// retention has deleted it.
    pub transcript: Option<Pii<String>>,
    pub intent: Option<String>,
    pub confidence: Option<f32>,
    /// Keys pressed (never recorded for sensitive asks).
    pub dtmf: Option<String>,
    /// The flow node that asked (its id; subflow nodes as `site/node`).
    #[serde(default)]
    pub node: String,
    /// Slot values understood from this answer, as JSON (`{"postcode": "RM17 6SL"}`). `None`
    /// when nothing was understood or the ask was sensitive.
    #[serde(default)]
    pub slots: Option<Pii<serde_json::Value>>,
    /// The language the exchange was in (ISO 639-1).
    #[serde(default)]
    pub language: Option<String>,
}

impl fmt::Debug for Turn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turn")
            .field("prompt", &self.prompt)
            .field("transcript", &self.transcript)
            .field("intent", &self.intent)
            .field("confidence", &self.confidence)
            .field("dtmf", &self.dtmf.as_ref().map(|d| d.len()))
            .field("node", &self.node)
            .field(
                "slots",
                &self.slots.as_ref().and_then(|s| {
                    s.expose()
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>())
                }),
            )
            .field("language", &self.language)
            .finish()
    }
}

/// Media statistics of a call (RFC 3550 §6.4 receiver report terms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaQuality {
    pub packets_in: u64,
    pub packets_out: u64,
    /// Packets expected but not received.
    pub lost: u64,
    /// Interarrival jitter in milliseconds (RFC 3550 §6.4.1).
    pub jitter_ms: f64,
}

/// Everything kept about one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// SIP Call-ID: unique per call, so recording the same call twice replaces the record.
    pub call_id: String,
    pub started_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub caller: Option<Pii<String>>,
    pub flow_name: String,
    pub flow_version: String,
    /// Ids of the flow nodes the call passed through, in order.
    pub node_path: Vec<String>,
    pub turns: Vec<Turn>,
    pub outcome: Outcome,
    /// Closing survey: (question, answer).
    pub survey: Vec<(String, String)>,
    pub language: Option<String>,
    pub accessibility: Vec<String>,
    /// Why the call ended (the runtime's `HangupCause`, as text).
    pub hangup_cause: Option<String>,
    pub media: MediaQuality,
    /// References of cases the call created or updated.
    #[serde(default)]
    pub case_references: Vec<String>,
}

impl CallRecord {
    /// A record with only the required parts set; the runtime fills in the rest as the call runs.
    pub fn new(call_id: impl Into<String>, started_at: DateTime<Utc>, outcome: Outcome) -> Self {
        CallRecord {
            call_id: call_id.into(),
            started_at,
            answered_at: None,
            ended_at: None,
            caller: None,
            flow_name: String::new(),
            flow_version: String::new(),
            node_path: Vec::new(),
            turns: Vec::new(),
            outcome,
            survey: Vec::new(),
            language: None,
            accessibility: Vec::new(),
            hangup_cause: None,
            media: MediaQuality::default(),
            case_references: Vec::new(),
        }
    }

    /// Seconds from start to end, when the call has ended.
    pub fn duration_seconds(&self) -> Option<f64> {
        self.ended_at
            .map(|e| (e - self.started_at).num_milliseconds() as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        for o in [
            Outcome::Resolved,
            Outcome::CaseCreated,
            Outcome::Transferred,
            Outcome::Abandoned,
            Outcome::Failed,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
            let json = serde_json::to_string(&o).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
        }
    }

    #[test]
    fn debug_redacts_transcripts_and_keys() {
        let t = Turn {
            prompt: "ask_postcode".into(),
            transcript: Some(Pii::new("RM17 6SL".into())),
            dtmf: Some("1234".into()),
            ..Turn::default()
        };
        let s = format!("{t:?}");
        assert!(!s.contains("RM17") && !s.contains("1234"), "{s}");
    }
}
