//! A CI-sized sample of the speech evaluation (`frontdoor eval`): four utterances of
//! our own phrasing, spoken by espeak-ng, sent as real RTP into a freshly started server on the
//! council flow, in one wave of simultaneous calls. Asserts that the harness works end to end
//! (every call reaches its question and gets an answer, the records are read back) and that
//! the server understood each utterance's intent. The full dev set runs with scripts/eval.sh.

use std::path::PathBuf;

use frontdoor::eval::report::Target;
use frontdoor::eval::server::ServerSpec;
use frontdoor::eval::voices::CallerVoice;
use frontdoor::eval::{EvalOptions, run};

const SAMPLE: &str = "\
# id\tlanguage\texpected\texpected_value\ttext
s1\ten\tstreet_light\t-\tthe street light outside my house is not working
s2\ten\tmissed_bin\t-\tmy bin was not collected this week
s3\ten\thousing_repair\t-\tmy boiler is broken and I am a council tenant
s4\ten\tcouncil_tax_pay\t-\tI need to pay my council tax
";

#[test]
fn sample_calls_are_understood_over_rtp() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !root.join("models/ggml-tiny.en.bin").exists() {
        panic!("models/ggml-tiny.en.bin is missing: run `frontdoor model install` (set-up does)");
    }
    let dir = std::env::temp_dir().join(format!("speech-eval-sample-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let dataset = dir.join("sample.tsv");
    std::fs::write(&dataset, SAMPLE).unwrap_or_else(|e| panic!("{e}"));
    let options = EvalOptions {
        dataset,
        voices: vec![CallerVoice::parse("espeak:en-gb").unwrap_or_else(|e| panic!("{e}"))],
        only: Vec::new(),
        server: ServerSpec {
            binary: PathBuf::from(env!("CARGO_BIN_EXE_frontdoor")),
            flows: root.join("call-flows"),
            prompts: root.join("audio-prompts"),
            config: None,
            call_date: "2026-11-26".to_string(),
            rtp_ports: 40,
            workdir: root.clone(),
        },
        accuracy_wave: 4,
        concurrency: Vec::new(),
        latency_calls: 0,
        capacity_sweep: false,
        no_input: false,
        recording: None,
        json_out: Some(dir.join("report.json")),
    };
    let report = run(&options).unwrap_or_else(|e| panic!("evaluation failed: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let text = report.render();
    assert_eq!(report.calls.len(), 4, "{text}");
    for call in &report.calls {
        assert_eq!(call.error, None, "{}: {text}", call.id);
        assert!(
            call.understood.is_some(),
            "{}: no call record\n{text}",
            call.id
        );
        assert!(
            call.latency_ms.is_some(),
            "{}: no answer heard\n{text}",
            call.id
        );
        assert!(matches!(call.target, Target::Intent(_)));
        assert!(
            call.correct,
            "{} understood as {:?}; server turn {:?}\n{text}",
            call.id,
            call.understood
                .as_ref()
                .map(|u| (&u.intent, &u.transcript, &u.path)),
            call.stages
        );
    }
    assert_eq!(report.intent_accuracy.hits, 4, "{text}");
}
