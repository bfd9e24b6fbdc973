//! Migration of the interim JSON-lines case sink (`cases.jsonl` in the data dir) into the store.
//!
//! Each line is keyed by the SHA-256 of its bytes and the key is recorded in `legacy_imports` in
//! the same transaction as the case, so running the import again (every start-up, or after a
//! crash half-way) never duplicates a case. References already read back to callers are kept.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::backend::LegacyCase;
use super::case::{CaseRecord, CaseStatus};
use super::error::CrmError;
use super::reference::{is_reference, new_reference};
use super::store::{CaseStore, ImportReport};
use crate::pii::Pii;

/// Lines imported per transaction: bounds the work lost to a crash and the writer's pause.
const IMPORT_CHUNK: usize = 500;

/// One line of the interim sink. Lenient on purpose: every field but one of `fields` or some
/// extra keys is optional, and unknown top-level keys are kept as case fields.
#[derive(Deserialize)]
struct LegacyLine {
    #[serde(alias = "ref", alias = "case_ref")]
    reference: Option<String>,
    service: Option<String>,
    intent: Option<String>,
    fields: Option<serde_json::Value>,
    caller: Option<String>,
    language: Option<String>,
    #[serde(default)]
    accessibility: Vec<String>,
    #[serde(alias = "flow")]
    flow_name: Option<String>,
    flow_version: Option<String>,
    #[serde(default)]
    transcript_excerpts: Vec<String>,
    call_id: Option<String>,
    created_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl CaseStore {
    /// Imports the interim sink's `cases.jsonl` (idempotent; a missing file imports nothing).
    /// Imported cases are queued to the registered sinks like new ones.
    pub async fn import_jsonl_cases(&self, path: &Path) -> Result<ImportReport, CrmError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ImportReport::default());
            }
            Err(e) => return Err(e.into()),
        };
        let mut report = ImportReport::default();
        let mut batch = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(record) => batch.push(LegacyCase {
                    line_key: line_key(line),
                    record,
                }),
                Err(reason) => report.rejected.push((line_no, reason)),
            }
            if batch.len() >= IMPORT_CHUNK {
                let (imported, skipped) = self.import_legacy(std::mem::take(&mut batch)).await?;
                report.imported += imported;
                report.already_imported += skipped;
            }
        }
        if !batch.is_empty() {
            let (imported, skipped) = self.import_legacy(batch).await?;
            report.imported += imported;
            report.already_imported += skipped;
        }
        Ok(report)
    }
}

fn line_key(line: &str) -> String {
    hex::encode(Sha256::digest(line.trim().as_bytes()))
}

/// The case a line describes; the error names what is wrong without echoing personal data.
fn parse_line(line: &str) -> Result<CaseRecord, String> {
    let l: LegacyLine = serde_json::from_str(line)
        .map_err(|e| format!("not a JSON case: line column {}", e.column()))?;
    let mut fields = l.fields.unwrap_or_else(|| serde_json::json!({}));
    if let Some(obj) = fields.as_object_mut() {
        for (k, v) in l.extra {
            obj.entry(k).or_insert(v);
        }
    } else {
        return Err("`fields` is not an object".into());
    }
    let reference = match l.reference {
        Some(r) if is_reference(&r) => r,
        Some(_) => return Err("`reference` is not a case reference".into()),
        None => new_reference(&mut rand::rng()),
    };
    let created_at = l.created_at.unwrap_or_else(Utc::now);
    Ok(CaseRecord {
        reference,
        service: l
            .service
            .or_else(|| l.intent.clone())
            .unwrap_or_else(|| "unknown".into()),
        intent: l.intent,
        fields,
        caller: l.caller.map(Pii::new),
        language: l.language,
        accessibility: l.accessibility,
        flow_name: l.flow_name.unwrap_or_default(),
        flow_version: l.flow_version.unwrap_or_default(),
        transcript_excerpts: l.transcript_excerpts,
        call_ids: l.call_id.into_iter().collect(),
        status: CaseStatus::Open,
        version: 1,
        created_at,
        updated_at: created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_lines_keep_unknown_keys_as_fields() {
        let c = parse_line(r#"{"reference":"TC-4K7Q-97","intent":"missed_bin","postcode":"RM17 6SL","flow":"council"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.reference, "TC-4K7Q-97");
        assert_eq!(c.service, "missed_bin");
        assert_eq!(c.flow_name, "council");
        assert_eq!(c.fields["postcode"], "RM17 6SL");
    }

    #[test]
    fn bad_lines_are_rejected_without_echoing_content() {
        let e = parse_line(r#"{"reference":"RM17 6SL"}"#)
            .err()
            .unwrap_or_default();
        assert!(!e.contains("RM17"), "{e}");
        assert!(parse_line("not json").is_err());
        assert!(parse_line(r#"{"fields": [1]}"#).is_err());
    }

    #[test]
    fn line_key_ignores_surrounding_whitespace() {
        assert_eq!(line_key("{\"a\":1}"), line_key("  {\"a\":1}\r"));
    }
}
