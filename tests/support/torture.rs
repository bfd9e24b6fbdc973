//! The RFC 4475 / RFC 5118 SIP torture messages: where they are and what their index lists.
//!
//! They are another project's data, read in place from `../shared/sip-torture/` (or
//! `FRONTDOOR_SIP_TORTURE`) and never copied into this repository. Standalone (no other harness
//! module), so the virtual-time tests can include just this file with `#[path]`.

use std::path::{Path, PathBuf};

/// One message of the torture set.
pub struct TortureMessage {
    /// File name, as listed in `index.tsv`.
    pub file: String,
    /// The index's plain-words description of the expected handling (its fifth column).
    pub expected: String,
    /// The message's bytes, exactly as stored.
    pub raw: Vec<u8>,
}

/// The torture directory: `FRONTDOOR_SIP_TORTURE`, else the nearest `shared/sip-torture` beside
/// the repository or further up (a git worktree nested below the repository's parent).
/// Panics with a clear message when there is none: the tests that need it cannot run without.
pub fn torture_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FRONTDOOR_SIP_TORTURE") {
        return PathBuf::from(dir);
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    repo.ancestors()
        .skip(1)
        .map(|dir| dir.join("shared/sip-torture"))
        .find(|dir| dir.join("index.tsv").is_file())
        .unwrap_or_else(|| {
            panic!(
                "SIP torture messages not found: set FRONTDOOR_SIP_TORTURE or provide \
                 ../shared/sip-torture/index.tsv next to the repository"
            )
        })
}

/// Every message `index.tsv` lists, in its order. A malformed index line or an unreadable
/// message file is an error naming it.
pub fn torture_messages(dir: &Path) -> Result<Vec<TortureMessage>, String> {
    let index = std::fs::read_to_string(dir.join("index.tsv"))
        .map_err(|e| format!("reading {}/index.tsv: {e}", dir.display()))?;
    index
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let (Some(file), Some(expected)) = (cols.first(), cols.get(4)) else {
                return Err(format!("malformed index line: {line}"));
            };
            let raw = std::fs::read(dir.join(file)).map_err(|e| format!("reading {file}: {e}"))?;
            Ok(TortureMessage {
                file: (*file).to_string(),
                expected: (*expected).to_string(),
                raw,
            })
        })
        .collect()
}
