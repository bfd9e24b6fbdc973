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

fn catalog() -> PromptCatalog {
    let mut c = PromptCatalog::default();
    c.add_tsv("hello\ten\tHello.\nhello\tcy\tHelo.\nmenu\ten\tSay what you need, or press 1. Press 0 to speak to someone.\n");
    c
}

/// Every error of a fixture as `(line, col, message, hint)`.
fn errors(name: &str) -> Vec<(u32, u32, String, Option<String>)> {
    let path = root().join("tests/fixtures/flows").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let (flow, diags) = check(Path::new(name), &text, &catalog());
    assert!(flow.is_none() || !diags.has_errors());
    diags
        .items()
        .iter()
        .filter(|d| d.severity == frontdoor::flow::diag::Severity::Error)
        .map(|d: &Diagnostic| (d.line, d.col, d.message.clone(), d.hint.clone()))
        .collect()
}

#[test]
fn council_flows_directory_is_valid() {
    let mut out = Vec::new();
    let code = validate_cmd(&[root().join("call-flows")], OutputFormat::Human, &mut out);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 error(s)"), "{text}");
}

fn first(name: &str) -> (u32, u32, String, Option<String>) {
    let all = errors(name);
    assert!(!all.is_empty(), "{name} should have errors");
    all[0].clone()
}

fn hint(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn yaml_syntax_error() {
    let (l, c, m, _) = first("yaml_syntax.yaml");
    assert_eq!((l, c), (6, 9));
    assert!(m.starts_with("YAML syntax error: "), "{m}");
}

#[test]
fn unknown_key_with_suggestion() {
    let all = errors("unknown_key.yaml");
    assert!(
        all.contains(&(
            6,
            5,
            "unknown key `nxt` in a `say` node".into(),
            hint("did you mean `next`?")
        )),
        "{all:?}"
    );
    assert!(
        all.contains(&(4, 3, "node `hello` needs `next`".into(), None)),
        "{all:?}"
    );
}

#[test]
fn unknown_node_reference() {
    assert_eq!(
        first("unknown_node.yaml"),
        (
            10,
            19,
            "unknown node `report_mised_bin`".into(),
            hint("did you mean `report_missed_bin`?")
        )
    );
}

#[test]
fn unknown_intent_reference() {
    assert_eq!(
        first("unknown_intent.yaml"),
        (
            10,
            7,
            "unknown intent `mised_bin`".into(),
            hint("did you mean `missed_bin`?")
        )
    );
}

#[test]
fn unknown_slot_type() {
    assert_eq!(
        first("unknown_slot_type.yaml"),
        (
            6,
            34,
            "unknown slot type `uk_postcod`".into(),
            hint("did you mean `uk_postcode`?")
        )
    );
}

#[test]
fn unknown_subflow() {
    assert_eq!(
        first("unknown_subflow.yaml"),
        (
            5,
            14,
            "unknown subflow `capture_adress`".into(),
            hint("did you mean `capture_address`?")
        )
    );
}

#[test]
fn missing_prompt_and_missing_language() {
    let all = errors("missing_prompt.yaml");
    assert_eq!(
        all[0],
        (
            6,
            11,
            "unknown prompt `helo`: no recording and no text".into(),
            hint("did you mean `hello`?")
        )
    );
    assert_eq!(all[1].0, 6);
    assert_eq!(all[1].2, "text prompt has no `cy` version");
}

#[test]
fn unreachable_node() {
    assert_eq!(
        first("unreachable.yaml"),
        (
            7,
            3,
            "node `orphan` can never be reached".into(),
            hint("nothing leads here from `start`; remove it or add a `goto: orphan`")
        )
    );
}

#[test]
fn loop_with_no_exit() {
    let all = errors("no_end.yaml");
    assert_eq!(
        (all[0].0, all[0].1, all[0].2.as_str()),
        (4, 3, "no path from `hello` ever ends the call")
    );
    assert_eq!(
        (all[1].0, all[1].1, all[1].2.as_str()),
        (7, 3, "no path from `again` ever ends the call")
    );
}

#[test]
fn advisor_switched_off_without_reason() {
    assert_eq!(
        first("no_advisor.yaml"),
        (
            11,
            24,
            "`menu` gives the caller no way to reach an advisor".into(),
            hint("keep the advisor on, or add `allow_no_advisor: true` with a `reason:`")
        )
    );
}

#[test]
fn ask_without_key_path_or_fallback() {
    let (l, c, m, _) = first("no_key_path.yaml");
    assert_eq!(
        (l, c, m.as_str()),
        (
            4,
            3,
            "ask `postcode` has no key-press path and no `fallback`"
        )
    );
}

#[test]
fn duplicate_node_id() {
    assert_eq!(
        first("duplicate_id.yaml"),
        (
            9,
            3,
            "duplicate node id `hello` (first defined at line 4)".into(),
            hint("each id must be unique: rename one of them")
        )
    );
}

#[test]
fn bad_templates() {
    let all = errors("bad_template.yaml");
    assert_eq!(
        (all[0].0, all[0].1, all[0].2.as_str()),
        (5, 17, "unknown variable `case.rf` in template")
    );
    assert_eq!(
        (all[1].0, all[1].1, all[1].2.as_str()),
        (8, 20, "unclosed `{` in template")
    );
}

#[test]
fn digit_ask_prompt_must_announce_zero() {
    let (l, c, m, _) = first("zero_rule.yaml");
    assert_eq!((l, c), (5, 10));
    assert_eq!(
        m,
        "ask `account` collects digits, so 0 pressed alone reaches an advisor, but its prompt does not say so"
    );
}

#[test]
fn key_zero_is_reserved_for_the_advisor() {
    assert_eq!(
        first("reserved_key.yaml"),
        (
            10,
            12,
            "key 0 is kept for the advisor in every ask".into(),
            hint("choose another key")
        )
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let all = errors("many_errors.yaml");
    let lines: Vec<(u32, u32)> = all.iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(lines, vec![(4, 3), (5, 10), (6, 5), (8, 20)], "{all:?}");
}

#[test]
fn validate_exit_codes_and_json() {
    let broken = root().join("tests/fixtures/flows/unknown_node.yaml");
    let mut out = Vec::new();
    assert_eq!(
        validate_cmd(std::slice::from_ref(&broken), OutputFormat::Human, &mut out),
        1
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("unknown_node.yaml:10:19: error: unknown node `report_mised_bin`"),
        "{text}"
    );
    assert!(
        text.contains("= hint: did you mean `report_missed_bin`?"),
        "{text}"
    );
    let mut out = Vec::new();
    assert_eq!(validate_cmd(&[broken], OutputFormat::Json, &mut out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert!(v["errors"].as_u64().unwrap() >= 1);
    let codes: Vec<&str> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"unknown-node"), "{codes:?}");
    let mut out = Vec::new();
    assert_eq!(
        validate_cmd(
            &[root().join("no/such/file.yaml")],
            OutputFormat::Human,
            &mut out
        ),
        2
    );
}

#[test]
fn returning_caller_nodes_are_checked() {
    let all = errors("returning_errors.yaml");
    let messages: Vec<(u32, u32, &str)> = all
        .iter()
        .map(|(l, c, m, _)| (*l, *c, m.as_str()))
        .collect();
    assert!(
        messages.contains(&(
            5,
            20,
            "no `case` node in this flow creates `missed_bim` cases"
        )),
        "{all:?}"
    );
    let (_, _, _, h) = all
        .iter()
        .find(|(l, _, _, _)| *l == 5)
        .expect("the case type error");
    assert_eq!(h.as_deref(), Some("did you mean `missed_bin`?"));
    assert!(
        messages.contains(&(14, 29, "no `ask` captures a slot named `house_numbr`")),
        "{all:?}"
    );
    assert_eq!(all.len(), 2, "{all:?}");
}

#[test]
fn case_update_needs_a_verification_and_keys_prompt_needs_keys() {
    let all = errors("update_without_verify.yaml");
    let messages: Vec<(u32, u32, &str)> = all
        .iter()
        .map(|(l, c, m, _)| (*l, *c, m.as_str()))
        .collect();
    assert!(
        messages.contains(&(
            7,
            25,
            "ask `menu` has a `keys_prompt` but no keys or keyable slot"
        )),
        "{all:?}"
    );
    assert!(
        messages.contains(&(
            11,
            38,
            "case node `chase` updates a returning caller's case, but this flow never verifies one"
        )),
        "{all:?}"
    );
}
