//! Checker tests: the council flow is valid, and a broken fixture for every error class gives
//! the exact `line:col` and message.

use std::path::{Path, PathBuf};

use frontdoor::flow::catalog::PromptCatalog;
use frontdoor::flow::check::check;
use frontdoor::flow::cmd::validate_cmd;
use frontdoor::flow::diag::{Diagnostic, OutputFormat};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn council_flows_directory_is_valid() {
    let mut out = Vec::new();
    let code = validate_cmd(&[root().join("call-flows")], OutputFormat::Human, &mut out);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 error(s)"), "{text}");
}
