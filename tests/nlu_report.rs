//! `frontdoor nlu report`: from call records in a real SQLite store, through the real binary.
//! Answers the council flow could not use, needed clarifying, or got wrong are listed per
//! question with the intent they were closest to; numbers, postcode letters and the call's own
//! values are masked; records older than the retention period are not read; the file is
//! readable by its owner only.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use chrono::Utc;
use frontdoor::Pii;
use frontdoor::crm::{CallRecord, CaseStore, Outcome, Turn};
use support::tempdir::TempDir;

fn turn(node: &str, prompt: &str, said: Option<&str>, intent: Option<&str>) -> Turn {
    Turn {
        prompt: prompt.into(),
        node: node.into(),
        transcript: said.map(|s| Pii::new(s.to_string())),
        intent: intent.map(str::to_string),
        ..Turn::default()
    }
}

fn call(id: &str, days_ago: i64, turns: Vec<Turn>) -> CallRecord {
    let started = Utc::now() - chrono::Duration::days(days_ago);
    let mut r = CallRecord::new(id, started, Outcome::Transferred);
    r.flow_name = "council".into();
    r.flow_version = "v1".into();
    r.turns = turns;
    r
}

#[tokio::test(flavor = "current_thread")]
async fn the_report_lists_what_was_not_understood_masked_and_private() {
    let dir = TempDir::new("nlu-report").expect("temp dir");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let store = CaseStore::open_sqlite(&data.join("frontdoor.sqlite")).expect("store");

    let mut slot = turn("ask_postcode", "ask_postcode", Some("it's RM17 6SL"), None);
    slot.slots = Some(Pii::new(
        serde_json::json!({"postcode": "RM17 6SL", "street": "Acacia Avenue"}),
    ));
    let calls = [
        // No match twice, alike in meaning; one names the caller's street.
        call(
            "c1",
            1,
            vec![
                turn(
                    "main_menu",
                    "main_menu",
                    Some("the lorry never took our rubbish away from Acacia Avenue"),
                    None,
                ),
                slot.clone(),
            ],
        ),
        call(
            "c2",
            2,
            vec![turn(
                "main_menu",
                "main_menu",
                Some("the lorry never took our rubbish away"),
                None,
            )],
        ),
        // Clarified and confirmed by key 1.
        call(
            "c3",
            1,
            vec![
                turn(
                    "main_menu",
                    "main_menu",
                    Some("the amount for council tax"),
                    None,
                ),
                Turn {
                    dtmf: Some("1".into()),
                    ..turn(
                        "main_menu",
                        "did_you_mean:council_tax_pay,council_tax_balance",
                        None,
                        None,
                    )
                },
            ],
        ),
        // Clarified and refused: misunderstood. The caller gave an account number too.
        call(
            "c4",
            1,
            vec![
                turn(
                    "main_menu",
                    "main_menu",
                    Some("I want to ask about 12345678 and my payments"),
                    None,
                ),
                turn(
                    "main_menu",
                    "did_you_mean:council_tax_pay",
                    Some("no"),
                    Some("no"),
                ),
            ],
        ),
        // Understood: not in the report. A sensitive ask records no transcript.
        call(
            "c5",
            1,
            vec![
                turn(
                    "main_menu",
                    "main_menu",
                    Some("my bin was not collected"),
                    Some("missed_bin"),
                ),
                turn("ask_account_number", "ask_account_number", None, None),
            ],
        ),
        // Older than the retention period (90 days by default): never read.
        call(
            "c6",
            200,
            vec![turn(
                "main_menu",
                "main_menu",
                Some("an ancient complaint about owls"),
                None,
            )],
        ),
    ];
    for c in calls {
        store.record_call(c).await.expect("record");
    }
    drop(store);

    let out = dir.join("report.md");
    std::fs::write(&out, "stale").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(["nlu", "report", "--since", "2020-01-01", "--out"])
        .arg(&out)
        .arg("--data")
        .arg(&data)
        .current_dir(&root)
        .output()
        .expect("frontdoor nlu report runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("5 call(s)"), "{stdout}");
    let report = std::fs::read_to_string(&out).unwrap();
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the report quotes callers: owner only");

    assert!(
        report.contains("## council / main_menu: 1 misunderstood, 1 clarified, 2 no match"),
        "{report}"
    );
    assert!(
        report.contains("2 × no match, closest to `missed_bin`"),
        "similar answers are one group:\n{report}"
    );
    assert!(report.contains("1 × clarified"), "{report}");
    assert!(report.contains("1 × misunderstood"), "{report}");
    assert!(
        report.contains("suggested example for `missed_bin`"),
        "{report}"
    );
    assert!(
        report.contains("- \"the lorry never took our rubbish away\""),
        "{report}"
    );
    for private in ["Acacia", "12345678", "RM17", "6SL"] {
        assert!(
            !report.contains(private),
            "{private} must be masked:\n{report}"
        );
    }
    assert!(
        report.contains("[value]") && report.contains("[number]"),
        "{report}"
    );
    assert!(
        !report.contains("owls"),
        "records past retention are not read:\n{report}"
    );
    assert!(
        !report.contains("my bin was not collected"),
        "understood answers are not listed"
    );
}
