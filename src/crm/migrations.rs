//! Numbered schema migrations for both backends. The logical schema is the same; only the
//! dialect differs (`INTEGER PRIMARY KEY AUTOINCREMENT` vs `BIGSERIAL`, `REAL` vs `DOUBLE PRECISION`).
//!
//! A migration is never edited once released: fixes are new numbers. The applied numbers are
//! kept in `schema_migrations`.

/// The migration after which caller numbers are stored in one normalised form (E.164 where
/// possible, see `phone.rs`). Its SQL trims them; each backend then rewrites the numbers in
/// Rust (the normalisation is not expressible in SQL) in the same transaction.
pub(crate) const NORMALISED_CALLERS: i64 = 2;

/// SQL part of [`NORMALISED_CALLERS`], the same in both dialects.
const TRIM_CALLERS: &str = "UPDATE cases SET caller = TRIM(caller) WHERE caller <> TRIM(caller);
    UPDATE call_records SET caller = TRIM(caller) WHERE caller <> TRIM(caller);";

/// Migrations for SQLite, in order. Each runs in the same transaction as its bookkeeping row.
pub(crate) const SQLITE: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE cases (
        reference TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        intent TEXT,
        fields TEXT NOT NULL,
        caller TEXT,
        language TEXT,
        accessibility TEXT NOT NULL,
        flow_name TEXT NOT NULL,
        flow_version TEXT NOT NULL,
        transcript_excerpts TEXT NOT NULL,
        call_ids TEXT NOT NULL,
        status TEXT NOT NULL,
        version INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX cases_by_caller ON cases(caller, status);
    CREATE INDEX cases_by_updated ON cases(updated_at);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sink TEXT NOT NULL,
        case_ref TEXT NOT NULL,
        kind TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        delivered_at INTEGER
    );
    CREATE INDEX outbox_due ON outbox(sink, status, next_attempt_at);
    CREATE INDEX outbox_by_case ON outbox(sink, case_ref, id);
    CREATE TABLE call_records (
        call_id TEXT PRIMARY KEY,
        started_at INTEGER NOT NULL,
        answered_at INTEGER,
        ended_at INTEGER,
        caller TEXT,
        flow_name TEXT NOT NULL,
        flow_version TEXT NOT NULL,
        node_path TEXT NOT NULL,
        turns TEXT NOT NULL,
        outcome TEXT NOT NULL,
        survey TEXT NOT NULL,
        language TEXT,
        accessibility TEXT NOT NULL,
        hangup_cause TEXT,
        packets_in INTEGER NOT NULL,
        packets_out INTEGER NOT NULL,
        lost INTEGER NOT NULL,
        jitter_ms REAL NOT NULL,
        case_refs TEXT NOT NULL,
        transcripts_deleted_at INTEGER
    );
    CREATE INDEX call_records_by_caller ON call_records(caller);
    CREATE INDEX call_records_by_started ON call_records(started_at);
    CREATE TABLE legacy_imports (
        line_key TEXT PRIMARY KEY,
        reference TEXT NOT NULL,
        imported_at INTEGER NOT NULL
    );",
    ),
    (NORMALISED_CALLERS, TRIM_CALLERS),
];

/// Migrations for PostgreSQL, numbered like [`SQLITE`].
pub(crate) const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE cases (
        reference TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        intent TEXT,
        fields TEXT NOT NULL,
        caller TEXT,
        language TEXT,
        accessibility TEXT NOT NULL,
        flow_name TEXT NOT NULL,
        flow_version TEXT NOT NULL,
        transcript_excerpts TEXT NOT NULL,
        call_ids TEXT NOT NULL,
        status TEXT NOT NULL,
        version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    );
    CREATE INDEX cases_by_caller ON cases(caller, status);
    CREATE INDEX cases_by_updated ON cases(updated_at);
    CREATE TABLE outbox (
        id BIGSERIAL PRIMARY KEY,
        sink TEXT NOT NULL,
        case_ref TEXT NOT NULL,
        kind TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        delivered_at BIGINT
    );
    CREATE INDEX outbox_due ON outbox(sink, status, next_attempt_at);
    CREATE INDEX outbox_by_case ON outbox(sink, case_ref, id);
    CREATE TABLE call_records (
        call_id TEXT PRIMARY KEY,
        started_at BIGINT NOT NULL,
        answered_at BIGINT,
        ended_at BIGINT,
        caller TEXT,
        flow_name TEXT NOT NULL,
        flow_version TEXT NOT NULL,
        node_path TEXT NOT NULL,
        turns TEXT NOT NULL,
        outcome TEXT NOT NULL,
        survey TEXT NOT NULL,
        language TEXT,
        accessibility TEXT NOT NULL,
        hangup_cause TEXT,
        packets_in BIGINT NOT NULL,
        packets_out BIGINT NOT NULL,
        lost BIGINT NOT NULL,
        jitter_ms DOUBLE PRECISION NOT NULL,
        case_refs TEXT NOT NULL,
        transcripts_deleted_at BIGINT
    );
    CREATE INDEX call_records_by_caller ON call_records(caller);
    CREATE INDEX call_records_by_started ON call_records(started_at);
    CREATE TABLE legacy_imports (
        line_key TEXT PRIMARY KEY,
        reference TEXT NOT NULL,
        imported_at BIGINT NOT NULL
    );",
    ),
    (NORMALISED_CALLERS, TRIM_CALLERS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_consecutively_from_one_and_match() {
        for set in [SQLITE, POSTGRES] {
            for (i, (n, _)) in set.iter().enumerate() {
                assert_eq!(*n, i as i64 + 1);
            }
        }
        assert_eq!(SQLITE.len(), POSTGRES.len());
    }
}
