//! The files of a flows directory: which are flows, and each one read and checked.
//!
//! Owns reading flow files. Must not build anything a call runs (that is the runtime's set).

use std::path::{Path, PathBuf};

use super::catalog::PromptCatalog;
use super::check::check;
use super::diag::Diagnostics;
use super::model::CheckedFlow;
use super::yaml::Pos;

/// The routing table's file name inside the flows directory.
pub const ROUTES_FILE: &str = "routes.yaml";

/// Checks one flow file against a prompt catalog.
pub fn check_file(path: &Path, catalog: &PromptCatalog) -> (Option<CheckedFlow>, Diagnostics) {
    match std::fs::read_to_string(path) {
        Ok(text) => check(path, &text, catalog),
        Err(e) => {
            let mut d = Diagnostics::new();
            d.error(
                path,
                Pos { line: 1, col: 1 },
                "io",
                format!("cannot read the file: {e}"),
                None,
            );
            (None, d)
        }
    }
}

/// Flow files in a directory, sorted: `*.yaml` and `*.yml` except the routing table.
pub fn flow_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
                .filter(|p| p.file_name().is_some_and(|n| n != ROUTES_FILE))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
