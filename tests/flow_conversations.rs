//! Runs the conversation tests in call-flows/tests/ (every intent path of council.yaml and the
//! global handlers) through `frontdoor test`'s runner.

use std::path::PathBuf;

use frontdoor::rehearsal::test_cmd;

#[test]
fn council_conversation_tests_pass() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("call-flows/tests");
    let mut out = Vec::new();
    let code = test_cmd(&dir, &mut out);
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}
