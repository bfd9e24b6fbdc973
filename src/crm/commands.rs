//! What the `frontdoor records …` and `frontdoor dead-letter …` subcommands do, as library
//! functions the CLI calls with an open store and an output stream.
//!
//! Each returns what it did so the CLI chooses the exit code; nothing here prints personal
//! data except into the export the operator asked for.

use std::io::Write;

use serde::Serialize;

use super::backend::{ExportFilter, PurgeReport, RecordsExport, RetentionReport};
use super::case::CaseRecord;
use super::error::CrmError;
use super::record::CallRecord;
use super::store::{CaseStore, RetentionPolicy};

/// Output format of `records export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One row per case and per call (see [`CSV_HEADER`]).
    Csv,
    /// `{"cases": [...], "calls": [...]}` with every field.
    Json,
}

impl std::str::FromStr for ExportFormat {
    type Err = CrmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "json" => Ok(ExportFormat::Json),
            other => Err(CrmError::InvalidArgument(format!(
                "unknown export format {other:?} (csv or json)"
            ))),
        }
    }
}

/// Columns of the CSV export. Cases and calls share one table: `record_type` says which, and
/// columns that do not apply are empty. `detail` holds the rest as JSON.
pub const CSV_HEADER: &str = "record_type,id,started_or_created,ended_or_updated,caller,flow_name,flow_version,\
outcome_or_status,service,intent,language,accessibility,hangup_cause,duration_s,turns,packets_in,packets_out,lost,\
jitter_ms,detail";

/// `frontdoor records export [--since T] [--caller N] --format csv|json`: writes the matching
/// records to `out` and returns how many (cases + calls) it wrote.
pub async fn records_export_cmd(
    store: &CaseStore,
    filter: &ExportFilter,
    format: ExportFormat,
    out: &mut (dyn Write + Send),
) -> Result<usize, CrmError> {
    let export = store.export_records(filter).await?;
    write_export(&export, format, out)?;
    Ok(export.cases.len() + export.calls.len())
}

/// Writes an export in the chosen format.
pub fn write_export(
    export: &RecordsExport,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<(), CrmError> {
    match format {
        ExportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, export)?;
            writeln!(out)?;
        }
        ExportFormat::Csv => {
            writeln!(out, "{CSV_HEADER}")?;
            for c in &export.cases {
                write_csv_row(out, &case_row(c)?)?;
            }
            for c in &export.calls {
                write_csv_row(out, &call_row(c)?)?;
            }
        }
    }
    Ok(())
}

/// `frontdoor records purge --caller N`: erasure request. Writes a one-line summary.
pub async fn records_purge_cmd(
    store: &CaseStore,
    caller: &str,
    out: &mut (dyn Write + Send),
) -> Result<PurgeReport, CrmError> {
    let report = store.purge_caller(caller).await?;
    writeln!(
        out,
        "erased {} case(s) and {} call record(s); {} erasure request(s) queued to CRM adapters",
        report.cases_deleted, report.calls_deleted, report.erasures_queued
    )?;
    Ok(report)
}

/// `frontdoor records retention`: applies the retention policy now.
pub async fn records_retention_cmd(
    store: &CaseStore,
    policy: RetentionPolicy,
    out: &mut (dyn Write + Send),
) -> Result<RetentionReport, CrmError> {
    let report = store.apply_retention(policy, chrono::Utc::now()).await?;
    writeln!(
        out,
        "removed transcripts from {} call record(s) and {} case(s); deleted {} delivered outbox row(s)",
        report.calls_redacted, report.cases_redacted, report.outbox_rows_deleted
    )?;
    Ok(report)
}

/// `frontdoor dead-letter list`: one line per parked event (no personal data).
pub async fn dead_letter_list_cmd(
    store: &CaseStore,
    out: &mut (dyn Write + Send),
) -> Result<usize, CrmError> {
    let letters = store.dead_letters().await?;
    for d in &letters {
        writeln!(
            out,
            "{}\t{}\t{}\t{}#{}\tattempts={}\t{}",
            d.id,
            d.sink,
            d.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            d.case_reference,
            d.sequence,
            d.attempts,
            d.last_error.as_deref().unwrap_or("")
        )?;
    }
    Ok(letters.len())
}

/// `frontdoor dead-letter retry ID…` (or every dead letter when `ids` is empty): puts them back
/// in the outbox. Returns how many were requeued; an unknown id is an error after the others.
pub async fn dead_letter_retry_cmd(
    store: &CaseStore,
    ids: &[i64],
    out: &mut (dyn Write + Send),
) -> Result<usize, CrmError> {
    let ids: Vec<i64> = if ids.is_empty() {
        store.dead_letters().await?.iter().map(|d| d.id).collect()
    } else {
        ids.to_vec()
    };
    let mut done = 0;
    let mut first_error = None;
    for id in ids {
        match store.retry_dead_letter(id).await {
            Ok(()) => {
                done += 1;
                writeln!(out, "requeued {id}")?;
            }
            Err(e) => {
                writeln!(out, "cannot requeue {id}: {e}")?;
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn json<T: Serialize>(v: &T) -> Result<String, CrmError> {
    Ok(serde_json::to_string(v)?)
}

fn case_row(c: &CaseRecord) -> Result<Vec<String>, CrmError> {
    Ok(vec![
        "case".into(),
        c.reference.clone(),
        rfc3339(c.created_at),
        rfc3339(c.updated_at),
        c.caller
            .as_ref()
            .map(|p| p.expose().clone())
            .unwrap_or_default(),
        c.flow_name.clone(),
        c.flow_version.clone(),
        c.status.as_str().into(),
        c.service.clone(),
        c.intent.clone().unwrap_or_default(),
        c.language.clone().unwrap_or_default(),
        c.accessibility.join(";"),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        json(&serde_json::json!({
            "fields": c.fields,
            "transcript_excerpts": c.transcript_excerpts,
            "call_ids": c.call_ids,
            "version": c.version,
        }))?,
    ])
}

fn call_row(c: &CallRecord) -> Result<Vec<String>, CrmError> {
    Ok(vec![
        "call".into(),
        c.call_id.clone(),
        rfc3339(c.started_at),
        c.ended_at.map(rfc3339).unwrap_or_default(),
        c.caller
            .as_ref()
            .map(|p| p.expose().clone())
            .unwrap_or_default(),
        c.flow_name.clone(),
        c.flow_version.clone(),
        c.outcome.as_str().into(),
        String::new(),
        c.turns
            .iter()
            .rev()
            .find_map(|t| t.intent.clone())
            .unwrap_or_default(),
        c.language.clone().unwrap_or_default(),
        c.accessibility.join(";"),
        c.hangup_cause.clone().unwrap_or_default(),
        c.duration_seconds()
            .map(|d| format!("{d:.3}"))
            .unwrap_or_default(),
        c.turns.len().to_string(),
        c.media.packets_in.to_string(),
        c.media.packets_out.to_string(),
        c.media.lost.to_string(),
        format!("{:.2}", c.media.jitter_ms),
        json(&serde_json::json!({
            "answered_at": c.answered_at.map(rfc3339),
            "node_path": c.node_path,
            "turns": c.turns,
            "survey": c.survey,
            "case_references": c.case_references,
        }))?,
    ])
}

/// Writes one CSV record (RFC 4180 §2: quote fields holding a comma, quote or line break;
/// double embedded quotes). Fields starting with `= + - @` are prefixed with `'` so that a
/// spreadsheet does not run a caller's words as a formula (CSV injection).
fn write_csv_row(out: &mut dyn Write, fields: &[String]) -> Result<(), CrmError> {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&csv_field(f));
    }
    // RFC 4180 §2.1: records end with CRLF.
    line.push_str("\r\n");
    out.write_all(line.as_bytes())?;
    Ok(())
}

fn csv_field(f: &str) -> String {
    let numeric = |rest: &str| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ' ')
    };
    let risky = match f.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !numeric(&f[1..]),
        _ => false,
    };
    let guarded = if risky {
        format!("'{f}")
    } else {
        f.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_guards_fields() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("+447700900123"), "+447700900123");
        assert_eq!(csv_field("+cmd"), "'+cmd");
        assert_eq!(csv_field("-1.5"), "-1.5");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn header_and_rows_have_the_same_width() {
        let columns = CSV_HEADER.split(',').count();
        let call = CallRecord::new(
            "c1",
            chrono::Utc::now(),
            super::super::record::Outcome::Resolved,
        );
        assert_eq!(call_row(&call).map(|r| r.len()).unwrap_or(0), columns);
        let case = super::super::case::build_case(
            Default::default(),
            "TC-4K7Q-97".into(),
            chrono::Utc::now(),
        );
        assert_eq!(case_row(&case).map(|r| r.len()).unwrap_or(0), columns);
    }

    #[test]
    fn formats_parse() {
        assert_eq!("CSV".parse::<ExportFormat>().ok(), Some(ExportFormat::Csv));
        assert_eq!(
            "json".parse::<ExportFormat>().ok(),
            Some(ExportFormat::Json)
        );
        assert!("xml".parse::<ExportFormat>().is_err());
    }
}
