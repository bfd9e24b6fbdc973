//! What an erasure request removes besides the caller's own cases and call records: the
//! number written inside JSON and free text of other rows (a callback number in another case's
//! fields, an outbox payload or dead letter, a transcript), in every spelling.
//!
//! Backend-independent: which columns are searched, the SQL prefilter both dialects accept, and
//! the redaction of one stored value. The statements themselves are in `sqlite.rs` and
//! `postgres.rs`.

use super::phone::{PhoneNumbering, national_significant, redact_number_in_json_text};

/// A table whose text columns may mention a number: its key column and the JSON or free-text
/// columns to search.
pub(crate) struct MentionTable {
    pub table: &'static str,
    /// The primary key, read and compared as text.
    pub key: &'static str,
    pub columns: &'static [&'static str],
}

/// Every stored column that may hold a number someone said or typed. `caller` columns are
/// matched exactly instead (they hold the normalised form).
pub(crate) const MENTION_TABLES: &[MentionTable] = &[
    MentionTable {
        table: "cases",
        key: "reference",
        columns: &["fields", "transcript_excerpts"],
    },
    MentionTable {
        table: "outbox",
        key: "id",
        columns: &["payload", "last_error"],
    },
    MentionTable {
        table: "call_records",
        key: "call_id",
        columns: &["turns", "survey", "node_path"],
    },
];

/// Separators people write inside numbers (RFC 3966 §5.1.1 visual separators, and spaces).
const SEPARATORS: &[&str] = &[" ", "-", ".", "(", ")", "/"];

/// The number an erasure is for: its stored form and, when it is a phone number, its E.164
/// digits and national significant number (what every written form of it contains).
pub(crate) struct ErasureTarget {
    pub stored: String,
    pub e164_digits: Option<String>,
}

impl ErasureTarget {
    pub fn new(raw: &str, numbering: &PhoneNumbering) -> Self {
        ErasureTarget {
            stored: numbering.normalise(raw),
            e164_digits: numbering.e164_digits(raw),
        }
    }

    /// `LIKE` pattern that any text mentioning the number matches once separators are removed
    /// (see [`digits_sql`]); `None` when the number is not a phone number (nothing to search).
    pub fn like_pattern(&self, numbering: &PhoneNumbering) -> Option<String> {
        let digits = self.e164_digits.as_deref()?;
        Some(format!("%{}%", national_significant(digits, numbering)))
    }

    /// The value with every spelling of the number replaced; `None` when it had none.
    pub fn redact(&self, text: &str, numbering: &PhoneNumbering) -> Option<String> {
        let digits = self.e164_digits.as_deref()?;
        redact_number_in_json_text(text, digits, numbering)
    }
}

/// SQL (SQLite and PostgreSQL alike) for `column` with the separators removed, so that
/// `LIKE '%7700900123%'` finds `07700 900-123` too. A prefilter: the exact decision is
/// [`ErasureTarget::redact`]'s.
pub(crate) fn digits_sql(column: &str) -> String {
    SEPARATORS
        .iter()
        .fold(format!("COALESCE({column}, '')"), |inner, sep| {
            format!("REPLACE({inner}, '{sep}', '')")
        })
}

/// `WHERE` condition: any of the table's columns mentions the number (`param` is the pattern's
/// placeholder, `?1` or `$1`).
pub(crate) fn mentions_sql(table: &MentionTable, param: &str) -> String {
    table
        .columns
        .iter()
        .map(|c| format!("{} LIKE {param}", digits_sql(c)))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// `SELECT key, columns… FROM table WHERE <mentions>`, with the key as text.
pub(crate) fn select_mentions_sql(table: &MentionTable, param: &str, key_as_text: &str) -> String {
    format!(
        "SELECT {key_as_text}, {} FROM {} WHERE {}",
        table.columns.join(", "),
        table.table,
        mentions_sql(table, param)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_of_any_spelling_is_the_same() {
        let n = PhoneNumbering::default();
        let a = ErasureTarget::new("07700 900123", &n);
        let b = ErasureTarget::new("sip:+447700900123@pbx", &n);
        assert_eq!(a.stored, "+447700900123");
        assert_eq!(a.stored, b.stored);
        assert_eq!(a.like_pattern(&n).as_deref(), Some("%7700900123%"));
        let odd = ErasureTarget::new(" anonymous ", &n);
        assert_eq!(odd.stored, "anonymous");
        assert_eq!(odd.like_pattern(&n), None);
    }

    #[test]
    fn prefilter_strips_separators() {
        let sql = digits_sql("fields");
        assert!(sql.starts_with("REPLACE(REPLACE("), "{sql}");
        assert!(sql.contains("COALESCE(fields, '')"), "{sql}");
    }
}
