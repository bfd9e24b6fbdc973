//! Diagnostics: `file:line:col: error: message`, a source snippet with a caret, and a `hint:`
//! line; rendered for people or as JSON for editors and CI.
//!
//! Owns rendering and the "did you mean" suggestion. Must not decide what is an error (that is
//! `raw` and `check`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::yaml::Pos;

/// Most characters of a source line a diagnostic quotes: a window around the error column.
/// A flow file can be one 50 MB line; each rejected save of it is logged by the running
/// server, so the quote must not grow with the file.
pub const MAX_QUOTED_CHARS: usize = 200;
/// Most characters of a message or hint (they may quote a key or value from the file).
pub const MAX_MESSAGE_CHARS: usize = 300;
/// Marks text left out of a quote.
const ELLIPSIS: char = '…';

/// How bad a finding is. Errors stop a flow from loading; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, pointing at a place in a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
    pub severity: Severity,
    /// Stable machine-readable class, e.g. `unknown-key`, `unreachable-node`.
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

/// Every finding for a set of files, plus the sources to render snippets from.
#[derive(Debug, Clone, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
    sources: BTreeMap<PathBuf, String>,
}

/// How `validate` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Human,
    Json,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers a file's text so findings in it can show a snippet.
    pub fn add_source(&mut self, file: &Path, text: &str) {
        self.sources.insert(file.to_path_buf(), text.to_string());
    }

    /// Adds a finding; a message or hint longer than [`MAX_MESSAGE_CHARS`] is cut short.
    pub fn push(&mut self, mut diagnostic: Diagnostic) {
        clamp_chars(&mut diagnostic.message, MAX_MESSAGE_CHARS);
        if let Some(hint) = diagnostic.hint.as_mut() {
            clamp_chars(hint, MAX_MESSAGE_CHARS);
        }
        self.items.push(diagnostic);
    }

    /// Records an error at `pos` in `file`.
    pub fn error(
        &mut self,
        file: &Path,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Diagnostic {
            file: file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            severity: Severity::Error,
            code,
            message: message.into(),
            hint,
        });
    }

    /// Records a warning at `pos` in `file`.
    pub fn warning(
        &mut self,
        file: &Path,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.push(Diagnostic {
            file: file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            severity: Severity::Warning,
            code,
            message: message.into(),
            hint,
        });
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
        self.sources.extend(other.sources);
    }

    /// Copies the remembered sources of `other` (for rebuilding a filtered list).
    pub fn extend_sources_from(&mut self, other: &Diagnostics) {
        for (k, v) in &other.sources {
            self.sources.insert(k.clone(), v.clone());
        }
    }

    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// Sorts findings by file and position so output is stable.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (&a.file, a.line, a.col, &a.message).cmp(&(&b.file, b.line, b.col, &b.message))
        });
    }

    /// Human form: `file:line:col: error: message`, the source line, a caret, and `hint:`.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            let severity = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let _ = writeln!(
                out,
                "{}:{}:{}: {severity}: {}",
                d.file.display(),
                d.line,
                d.col,
                d.message
            );
            if let Some(line) = self.source_line(&d.file, d.line) {
                let (quote, caret) = quote_around(line, d.col.saturating_sub(1) as usize);
                let _ = writeln!(out, "{:>4} | {quote}", d.line);
                let pad: String = quote
                    .chars()
                    .take(caret)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let _ = writeln!(out, "     | {pad}^");
            }
            if let Some(hint) = &d.hint {
                let _ = writeln!(out, "     = hint: {hint}");
            }
        }
        out
    }

    /// JSON form: `{"errors": n, "warnings": n, "diagnostics": [...]}`.
    pub fn render_json(&self) -> String {
        let warnings = self.items.len() - self.error_count();
        let doc = serde_json::json!({
            "errors": self.error_count(),
            "warnings": warnings,
            "diagnostics": self.items,
        });
        doc.to_string()
    }

    /// Writes findings in the chosen format.
    pub fn write_to(&self, format: OutputFormat, out: &mut dyn Write) -> io::Result<()> {
        match format {
            OutputFormat::Human => out.write_all(self.render_human().as_bytes()),
            OutputFormat::Json => writeln!(out, "{}", self.render_json()),
        }
    }

    fn source_line(&self, file: &Path, line: u32) -> Option<&str> {
        let text = self.sources.get(file)?;
        text.lines().nth(line.checked_sub(1)? as usize)
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render_human())
    }
}

/// At most [`MAX_QUOTED_CHARS`] characters of `line` around the 0-based character column
/// `col`, with `…` where text was left out, and the caret's character offset in the quote.
fn quote_around(line: &str, col: usize) -> (String, usize) {
    let len = line.chars().count();
    if len <= MAX_QUOTED_CHARS {
        return (line.to_string(), col);
    }
    let col = col.min(len);
    let start = col
        .saturating_sub(MAX_QUOTED_CHARS / 2)
        .min(len - MAX_QUOTED_CHARS);
    let end = start + MAX_QUOTED_CHARS;
    let byte = |chars: usize| {
        line.char_indices()
            .nth(chars)
            .map_or(line.len(), |(i, _)| i)
    };
    let (from, to) = (byte(start), byte(end));
    let mut quote = String::with_capacity(to - from + 8);
    if start > 0 {
        quote.push(ELLIPSIS);
    }
    quote.push_str(&line[from..to]);
    if end < len {
        quote.push(ELLIPSIS);
    }
    (quote, col - start + usize::from(start > 0))
}

/// Cuts `text` to `max` characters, ending with `…` when it was longer.
fn clamp_chars(text: &mut String, max: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
        text.push(ELLIPSIS);
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["report_missed_bin", "bulky_waste"];
        assert_eq!(
            did_you_mean("report_mised_bin", names).as_deref(),
            Some("did you mean `report_missed_bin`?")
        );
        assert_eq!(did_you_mean("pothole", names), None);
    }

    #[test]
    fn renders_snippet_caret_and_hint() {
        let mut d = Diagnostics::new();
        let file = Path::new("f.yaml");
        d.add_source(file, "a: 1\n  nxt: b\n");
        d.error(
            file,
            Pos { line: 2, col: 3 },
            "unknown-key",
            "unknown key `nxt`",
            Some("did you mean `next`?".into()),
        );
        let text = d.render_human();
        assert_eq!(
            text,
            "f.yaml:2:3: error: unknown key `nxt`\n   2 |   nxt: b\n     |   ^\n     = hint: did you mean `next`?\n"
        );
    }

    #[test]
    fn a_long_line_is_quoted_around_the_column_with_the_position_exact() {
        let mut d = Diagnostics::new();
        let file = Path::new("big.yaml");
        let line = format!("{}@{}", "a".repeat(5_000_000), "b".repeat(5_000_000));
        d.add_source(file, &line);
        d.error(
            file,
            Pos {
                line: 1,
                col: 5_000_001,
            },
            "x",
            "bad `@`",
            None,
        );
        let text = d.render_human();
        assert!(text.len() < 1_000, "{} bytes", text.len());
        assert!(
            text.starts_with("big.yaml:1:5000001: error: bad `@`\n"),
            "{text}"
        );
        let lines: Vec<&str> = text.lines().collect();
        let quote = lines[1].trim_start_matches("   1 | ");
        let caret = lines[2].trim_start_matches("     | ");
        assert!(quote.starts_with('…') && quote.ends_with('…'), "{quote}");
        assert_eq!(quote.chars().count(), MAX_QUOTED_CHARS + 2);
        assert_eq!(quote.chars().nth(caret.chars().count() - 1), Some('@'));
    }

    #[test]
    fn a_short_line_is_quoted_whole_and_long_messages_are_cut() {
        let (q, c) = quote_around("short", 2);
        assert_eq!((q.as_str(), c), ("short", 2));
        let line = "x".repeat(300);
        let (q, c) = quote_around(&line, 0);
        assert!(q.ends_with('…') && !q.starts_with('…'));
        assert_eq!(c, 0);
        let (q, c) = quote_around(&line, 299);
        assert!(q.starts_with('…') && !q.ends_with('…'));
        assert_eq!(c, 200);
        let mut d = Diagnostics::new();
        d.error(
            Path::new("f"),
            Pos { line: 1, col: 1 },
            "x",
            "k".repeat(10_000),
            None,
        );
        assert_eq!(d.items()[0].message.chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn json_counts_errors() {
        let mut d = Diagnostics::new();
        d.error(Path::new("f.yaml"), Pos { line: 1, col: 1 }, "x", "m", None);
        let v: serde_json::Value = serde_json::from_str(&d.render_json()).unwrap();
        assert_eq!(v["errors"], 1);
        assert_eq!(v["diagnostics"][0]["line"], 1);
    }
}
