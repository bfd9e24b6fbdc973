//! Column-level forms of cases, call records and outbox rows, shared by the SQLite and
//! PostgreSQL backends so that both store exactly the same logical schema: each row type is
//! written from a record and read back through [`Columns`], which both drivers' rows implement,
//! so the column list exists once.
//!
//! Times are stored as Unix milliseconds (UTC) and lists/objects as JSON text, which both
//! databases handle identically.

use chrono::{DateTime, Utc};

use super::case::{
    CaseRecord, CaseStatus, DeadLetter, EventKind, OutboxEvent, SinkRegistration, event_payload,
    idempotency_key,
};
use super::error::CrmError;
use super::record::{CallRecord, MediaQuality, Outcome, Turn};
use crate::pii::Pii;

/// Milliseconds since the Unix epoch.
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time of a stored millisecond count; a value out of chrono's range is a corrupt row.
pub(crate) fn from_millis(ms: i64) -> Result<DateTime<Utc>, CrmError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| CrmError::CorruptRow(format!("timestamp {ms}")))
}

/// A result row of either database, read by column name. Both schemas use the same column
/// names and the same five column types.
pub(crate) trait Columns {
    type Error;
    fn text(&self, column: &str) -> Result<String, Self::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, Self::Error>;
    fn int(&self, column: &str) -> Result<i64, Self::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, Self::Error>;
    fn real(&self, column: &str) -> Result<f64, Self::Error>;
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, CrmError> {
    Ok(serde_json::to_string(v)?)
}

/// A `cases` row.
#[derive(Clone)]
pub(crate) struct CaseRow {
    pub reference: String,
    pub service: String,
    pub intent: Option<String>,
    pub fields: String,
    pub caller: Option<String>,
    pub language: Option<String>,
    pub accessibility: String,
    pub flow_name: String,
    pub flow_version: String,
    pub transcript_excerpts: String,
    pub call_ids: String,
    pub status: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl CaseRow {
    /// Reads a `cases` row (`SELECT *`).
    pub fn read<R: Columns + ?Sized>(r: &R) -> Result<Self, R::Error> {
        Ok(CaseRow {
            reference: r.text("reference")?,
            service: r.text("service")?,
            intent: r.opt_text("intent")?,
            fields: r.text("fields")?,
            caller: r.opt_text("caller")?,
            language: r.opt_text("language")?,
            accessibility: r.text("accessibility")?,
            flow_name: r.text("flow_name")?,
            flow_version: r.text("flow_version")?,
            transcript_excerpts: r.text("transcript_excerpts")?,
            call_ids: r.text("call_ids")?,
            status: r.text("status")?,
            version: r.int("version")?,
            created_at: r.int("created_at")?,
            updated_at: r.int("updated_at")?,
        })
    }

    pub fn from_record(c: &CaseRecord) -> Result<Self, CrmError> {
        Ok(CaseRow {
            reference: c.reference.clone(),
            service: c.service.clone(),
            intent: c.intent.clone(),
            fields: json_text(&c.fields)?,
            caller: c.caller.as_ref().map(|p| p.expose().clone()),
            language: c.language.clone(),
            accessibility: json_text(&c.accessibility)?,
            flow_name: c.flow_name.clone(),
            flow_version: c.flow_version.clone(),
            transcript_excerpts: json_text(&c.transcript_excerpts)?,
            call_ids: json_text(&c.call_ids)?,
            status: c.status.as_str().to_string(),
            version: c.version,
            created_at: to_millis(c.created_at),
            updated_at: to_millis(c.updated_at),
        })
    }

    pub fn into_record(self) -> Result<CaseRecord, CrmError> {
        Ok(CaseRecord {
            status: CaseStatus::parse(&self.status)
                .ok_or_else(|| CrmError::CorruptRow(format!("case status {:?}", self.status)))?,
            fields: serde_json::from_str(&self.fields)?,
            accessibility: serde_json::from_str(&self.accessibility)?,
            transcript_excerpts: serde_json::from_str(&self.transcript_excerpts)?,
            call_ids: serde_json::from_str(&self.call_ids)?,
            created_at: from_millis(self.created_at)?,
            updated_at: from_millis(self.updated_at)?,
            reference: self.reference,
            service: self.service,
            intent: self.intent,
            caller: self.caller.map(Pii::new),
            language: self.language,
            flow_name: self.flow_name,
            flow_version: self.flow_version,
            version: self.version,
        })
    }
}

/// A `call_records` row.
pub(crate) struct CallRow {
    pub call_id: String,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub caller: Option<String>,
    pub flow_name: String,
    pub flow_version: String,
    pub node_path: String,
    pub turns: String,
    pub outcome: String,
    pub survey: String,
    pub language: Option<String>,
    pub accessibility: String,
    pub hangup_cause: Option<String>,
    pub packets_in: i64,
    pub packets_out: i64,
    pub lost: i64,
    pub jitter_ms: f64,
    pub case_refs: String,
}

impl CallRow {
    /// Reads a `call_records` row (`SELECT *`).
    pub fn read<R: Columns + ?Sized>(r: &R) -> Result<Self, R::Error> {
        Ok(CallRow {
            call_id: r.text("call_id")?,
            started_at: r.int("started_at")?,
            answered_at: r.opt_int("answered_at")?,
            ended_at: r.opt_int("ended_at")?,
            caller: r.opt_text("caller")?,
            flow_name: r.text("flow_name")?,
            flow_version: r.text("flow_version")?,
            node_path: r.text("node_path")?,
            turns: r.text("turns")?,
            outcome: r.text("outcome")?,
            survey: r.text("survey")?,
            language: r.opt_text("language")?,
            accessibility: r.text("accessibility")?,
            hangup_cause: r.opt_text("hangup_cause")?,
            packets_in: r.int("packets_in")?,
            packets_out: r.int("packets_out")?,
            lost: r.int("lost")?,
            jitter_ms: r.real("jitter_ms")?,
            case_refs: r.text("case_refs")?,
        })
    }

    pub fn from_record(r: &CallRecord) -> Result<Self, CrmError> {
        Ok(CallRow {
            call_id: r.call_id.clone(),
            started_at: to_millis(r.started_at),
            answered_at: r.answered_at.map(to_millis),
            ended_at: r.ended_at.map(to_millis),
            caller: r.caller.as_ref().map(|p| p.expose().clone()),
            flow_name: r.flow_name.clone(),
            flow_version: r.flow_version.clone(),
            node_path: json_text(&r.node_path)?,
            turns: json_text(&r.turns)?,
            outcome: r.outcome.as_str().to_string(),
            survey: json_text(&r.survey)?,
            language: r.language.clone(),
            accessibility: json_text(&r.accessibility)?,
            hangup_cause: r.hangup_cause.clone(),
            // Counters beyond i64::MAX cannot happen on a real call; saturate rather than wrap.
            packets_in: i64::try_from(r.media.packets_in).unwrap_or(i64::MAX),
            packets_out: i64::try_from(r.media.packets_out).unwrap_or(i64::MAX),
            lost: i64::try_from(r.media.lost).unwrap_or(i64::MAX),
            jitter_ms: r.media.jitter_ms,
            case_refs: json_text(&r.case_references)?,
        })
    }

    pub fn into_record(self) -> Result<CallRecord, CrmError> {
        Ok(CallRecord {
            started_at: from_millis(self.started_at)?,
            answered_at: self.answered_at.map(from_millis).transpose()?,
            ended_at: self.ended_at.map(from_millis).transpose()?,
            caller: self.caller.map(Pii::new),
            node_path: serde_json::from_str(&self.node_path)?,
            turns: serde_json::from_str(&self.turns)?,
            outcome: Outcome::parse(&self.outcome)
                .ok_or_else(|| CrmError::CorruptRow(format!("outcome {:?}", self.outcome)))?,
            survey: serde_json::from_str(&self.survey)?,
            accessibility: serde_json::from_str(&self.accessibility)?,
            media: MediaQuality {
                packets_in: u64::try_from(self.packets_in).unwrap_or(0),
                packets_out: u64::try_from(self.packets_out).unwrap_or(0),
                lost: u64::try_from(self.lost).unwrap_or(0),
                jitter_ms: self.jitter_ms,
            },
            case_references: serde_json::from_str(&self.case_refs)?,
            call_id: self.call_id,
            flow_name: self.flow_name,
            flow_version: self.flow_version,
            language: self.language,
            hangup_cause: self.hangup_cause,
        })
    }
}

/// An `outbox` row as read for delivery or for the dead-letter list.
pub(crate) struct OutboxRow {
    pub id: i64,
    pub sink: String,
    pub case_ref: String,
    pub kind: String,
    pub sequence: i64,
    pub payload: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
}

impl OutboxRow {
    /// Reads an `outbox` row (`SELECT *`).
    pub fn read<R: Columns + ?Sized>(r: &R) -> Result<Self, R::Error> {
        Ok(OutboxRow {
            id: r.int("id")?,
            sink: r.text("sink")?,
            case_ref: r.text("case_ref")?,
            kind: r.text("kind")?,
            sequence: r.int("sequence")?,
            payload: r.text("payload")?,
            attempts: r.int("attempts")?,
            last_error: r.opt_text("last_error")?,
            created_at: r.int("created_at")?,
        })
    }

    fn kind(&self) -> Result<EventKind, CrmError> {
        EventKind::parse(&self.kind)
            .ok_or_else(|| CrmError::CorruptRow(format!("event kind {:?}", self.kind)))
    }

    pub fn into_event(self) -> Result<OutboxEvent, CrmError> {
        Ok(OutboxEvent {
            kind: self.kind()?,
            idempotency_key: idempotency_key(&self.case_ref, self.sequence),
            payload: serde_json::from_str(&self.payload)?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at: from_millis(self.created_at)?,
            id: self.id,
            sink: self.sink,
            case_reference: self.case_ref,
            sequence: self.sequence,
        })
    }

    pub fn into_dead_letter(self) -> Result<DeadLetter, CrmError> {
        Ok(DeadLetter {
            kind: self.kind()?,
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at: from_millis(self.created_at)?,
            id: self.id,
            sink: self.sink,
            case_reference: self.case_ref,
            sequence: self.sequence,
            last_error: self.last_error,
        })
    }
}

/// An outbox row to insert: one per sink per event.
pub(crate) struct NewOutboxRow {
    pub sink: String,
    pub case_ref: String,
    pub kind: EventKind,
    pub sequence: i64,
    pub payload: String,
    pub created_at: i64,
}

/// The erasure event rows for a purged case: one for each sink that had received the case
/// (`had`, sink names) and supports erasure, so the CRM deletes its copy too.
pub(crate) fn erasure_rows(
    reference: &str,
    sequence: i64,
    sinks: &[SinkRegistration],
    had: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<NewOutboxRow>, CrmError> {
    let targets: Vec<SinkRegistration> = sinks
        .iter()
        .filter(|s| had.contains(&s.name))
        .cloned()
        .collect();
    outbox_rows(
        EventKind::CaseErased,
        None,
        reference,
        sequence,
        &targets,
        now,
    )
}

/// The outbox rows for a case event, one per registered sink (erasures only for sinks that
/// support them and are listed in `only`).
pub(crate) fn outbox_rows(
    kind: EventKind,
    case: Option<&CaseRecord>,
    reference: &str,
    sequence: i64,
    sinks: &[SinkRegistration],
    now: DateTime<Utc>,
) -> Result<Vec<NewOutboxRow>, CrmError> {
    if sinks.is_empty() {
        return Ok(Vec::new());
    }
    let payload = serde_json::to_string(&event_payload(kind, sequence, case, reference, now))?;
    Ok(sinks
        .iter()
        .filter(|s| kind != EventKind::CaseErased || s.supports_erasure)
        .map(|s| NewOutboxRow {
            sink: s.name.clone(),
            case_ref: reference.to_string(),
            kind,
            sequence,
            payload: payload.clone(),
            created_at: now.timestamp_millis(),
        })
        .collect())
}

/// Turns with their transcripts and the slot values understood from them removed (personal
/// data); node, intent, confidence and keys stay for reporting.
pub(crate) fn strip_transcripts(turns_json: &str) -> Result<String, CrmError> {
    let mut turns: Vec<Turn> = serde_json::from_str(turns_json)?;
    for t in &mut turns {
        t.transcript = None;
        t.slots = None;
    }
    Ok(serde_json::to_string(&turns)?)
}
