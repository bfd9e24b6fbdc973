//! The simulator driven by `--script`.

use std::path::PathBuf;

use chrono::NaiveDate;
use frontdoor::rehearsal::simulate_cmd;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn simulate_with_script_shows_prompts_state_and_case() {
    let script = root().join("tests/fixtures/flows/missed_bin.script");
    let mut out = Vec::new();
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let code = simulate_cmd(
        &root().join("call-flows/council.yaml"),
        Some(&script),
        &mut std::io::empty(),
        &mut out,
        date,
    );
    let text = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("bot [privacy_notice]"), "{text}");
    assert!(text.contains("bot [ask_postcode]"), "{text}");
    assert!(text.contains("postcode=RM17 6SL"), "{text}");
    assert!(text.contains("case written: {"), "{text}");
    assert!(text.contains("\"bin_type\":\"general\""), "{text}");
    assert!(text.contains("Your reference is SIM-0001"), "{text}");
    assert!(text.contains("(call ended)"), "{text}");
    assert!(text.contains("call record: {"), "{text}");
}

#[test]
fn simulate_debug_script() {
    let Ok(script) = std::env::var("FLOW_SIM_SCRIPT") else {
        return;
    };
    let mut out = Vec::new();
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    simulate_cmd(
        &root().join("call-flows/council.yaml"),
        Some(std::path::Path::new(&script)),
        &mut std::io::empty(),
        &mut out,
        date,
    );
    println!("{}", String::from_utf8_lossy(&out));
}
