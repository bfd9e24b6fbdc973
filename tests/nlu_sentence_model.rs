//! The sentence model behind understanding: installed files checked against their pins, a
//! missing or corrupt model falling back to words alone, closeness in meaning recognising
//! phrasings no example spells out, asides (repeat, slower, goodbye) not taking sentences
//! about something else, and `frontdoor validate`'s example check. Uses the real model that
//! `scripts/install-model.sh` installs.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use frontdoor::flow::set::FlowSet;
use frontdoor::flow::understand::Understanding;
use frontdoor::nlu::encoder::{ENCODER_DIR, Embedder, EncoderError};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_dir() -> PathBuf {
    root().join("models").join(ENCODER_DIR)
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fd-sentence-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn council(embedder: Option<&Arc<Embedder>>) -> Understanding {
    let set = FlowSet::load(&root().join("call-flows"), &root().join("audio-prompts"))
        .expect("council flows load");
    let flow = Arc::clone(&set.get("council").expect("council flow").flow);
    Understanding::with_embedder(&flow, embedder).expect("understanding")
}

/// One model for the whole file: its memo of the council's examples is shared by the tests.
fn embedder() -> Arc<Embedder> {
    static MODEL: std::sync::OnceLock<Arc<Embedder>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            Arc::new(Embedder::load_installed(&model_dir()).expect("run scripts/install-model.sh"))
        })
        .clone()
}

#[test]
fn a_missing_model_is_reported_and_understanding_uses_words_alone() {
    let dir = scratch("missing");
    let err = Embedder::load_installed(&dir.join(ENCODER_DIR)).unwrap_err();
    assert!(matches!(err, EncoderError::Missing(_)), "{err}");
    assert!(err.to_string().contains("frontdoor model install"), "{err}");
    assert!(Embedder::load_or_warn(&dir.join(ENCODER_DIR)).is_none());
    // Words alone still understand what the examples spell out.
    let u = council(None);
    let c = u.classifier().classify("my bin was not collected");
    assert_eq!(c.intent.as_deref(), Some("missed_bin"));
    assert!(c.nearest.is_none());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_corrupt_model_file_fails_its_pin_and_is_not_loaded() {
    let dir = scratch("corrupt");
    let copy = dir.join(ENCODER_DIR);
    std::fs::create_dir_all(&copy).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(model_dir().join(file), copy.join(file)).expect("installed model");
    }
    let mut config = std::fs::read(copy.join("config.json")).unwrap();
    config.push(b' ');
    std::fs::write(copy.join("config.json"), config).unwrap();
    let err = Embedder::load_installed(&copy).unwrap_err();
    assert!(matches!(err, EncoderError::HashMismatch { .. }), "{err}");
    assert!(Embedder::load_or_warn(&copy).is_none());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn embeddings_are_unit_length_and_put_paraphrases_nearest() {
    let e = embedder();
    let a = e.embed("my bin wasn't collected").unwrap();
    let b = e.embed("the bin men didn't come").unwrap();
    let c = e.embed("I want to pay my council tax").unwrap();
    let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    let ab = frontdoor::nlu::encoder::cosine(&a, &b);
    let ac = frontdoor::nlu::encoder::cosine(&a, &c);
    assert!(ab > ac + 0.3, "paraphrase {ab:.2} vs other {ac:.2}");
    // A batch gives the vectors one at a time gives.
    let batch = e
        .embed_examples(&["the bin men didn't come".to_string(), "hello".to_string()])
        .unwrap();
    let same = frontdoor::nlu::encoder::cosine(&batch[0], &b);
    assert!(same > 0.9999, "{same}");
}

#[test]
fn phrasings_no_example_spells_out_reach_their_intent() {
    let e = embedder();
    let u = council(Some(&e));
    for (text, want) in [
        (
            "the refuse lorry went straight past our house",
            "missed_bin",
        ),
        (
            "there's a crater on the high street that damaged my tyre",
            "pothole",
        ),
        (
            "water keeps dripping from the bathroom ceiling",
            "housing_repair",
        ),
        (
            "can I get somebody to take away an old bed frame",
            "bulky_waste",
        ),
    ] {
        let c = u.classifier().classify(text);
        assert_eq!(c.intent.as_deref(), Some(want), "{text:?}: {c:?}");
        assert!(
            c.nearest.is_some(),
            "the log can say which example was nearest"
        );
    }
}

#[test]
fn asides_win_only_when_the_sentence_is_about_them() {
    let e = embedder();
    let u = council(Some(&e));
    for (text, want) in [
        ("they have missed my bin again", "missed_bin"),
        (
            "could you tell me my council tax balance again",
            "council_tax_balance",
        ),
        ("the bin men went too fast and missed us", "missed_bin"),
        ("sorry can you say that again", "repeat"),
        ("please talk more slowly", "slower"),
        ("that's all I needed thanks goodbye", "goodbye"),
    ] {
        let c = u.classifier().classify(text);
        assert_eq!(c.intent.as_deref(), Some(want), "{text:?}: {c:?}");
    }
}

/// Risks callers describe without the words "abuse" or "danger" reach safeguarding by its
/// built-in phrases (words alone, no sentence model), and the same words about a council
/// service do not.
#[test]
fn indirect_risks_reach_safeguarding_and_service_calls_do_not() {
    let u = council(None);
    for (text, want) in [
        (
            "he locks me in the bedroom when he goes out",
            Some("safeguarding"),
        ),
        (
            "she won't let me leave the house on my own",
            Some("safeguarding"),
        ),
        (
            "everyone would be better off without me",
            Some("safeguarding"),
        ),
        ("I've been cutting myself again", Some("safeguarding")),
        (
            "the boss has taken my passport and we never get paid",
            Some("safeguarding"),
        ),
        (
            "I'm scared of him when he's been drinking",
            Some("safeguarding"),
        ),
        (
            "my friend says her husband strangled her",
            Some("safeguarding"),
        ),
    ] {
        let c = u.classifier().classify(text);
        assert_eq!(c.intent.as_deref(), want, "{text:?}: {c:?}");
    }
    for text in [
        "my landlord is kicking me out and I've got nowhere to go",
        "I can't go on the website to pay my council tax",
        "there are needles dumped by the school, drug dealers I think",
        "my mum tripped in the pothole and she's covered in bruises",
    ] {
        let c = u.classifier().classify(text);
        assert_ne!(c.intent.as_deref(), Some("safeguarding"), "{text:?}: {c:?}");
    }
}

/// A service sentence with a misheard word ("I want to report a misconlection", espeak-ng's
/// "missed collection" through the telephone path) is near "I need to report a safeguarding
/// concern" by its frame alone; safeguarding by meaning must lead the other intents clearly.
#[test]
fn a_misheard_report_is_not_taken_for_safeguarding_by_its_frame() {
    let e = embedder();
    let u = council(Some(&e));
    for text in [
        "I want to report a misconlection.",
        "I need to report a problem",
    ] {
        let c = u.classifier().classify(text);
        assert_ne!(c.intent.as_deref(), Some("safeguarding"), "{text:?}: {c:?}");
    }
    let c = u
        .classifier()
        .classify("he controls all my money and won't let me see my family");
    assert_eq!(c.intent.as_deref(), Some("safeguarding"), "{c:?}");
}

#[test]
fn validate_warns_about_an_example_that_means_another_intent() {
    let dir = scratch("validate");
    let flows = dir.join("call-flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::copy(
        root().join("call-flows/prompts.tsv"),
        flows.join("prompts.tsv"),
    )
    .unwrap();
    let source = std::fs::read_to_string(root().join("call-flows/council.yaml")).unwrap();
    let misplaced = "I would like to pay my council tax by debit card now";
    // Insert the example at the head of missed_bin's example list.
    let intent = source
        .find("\n  missed_bin:\n")
        .expect("council.yaml declares missed_bin");
    let list = source[intent..]
        .find("    examples:\n")
        .map(|at| intent + at + "    examples:\n".len())
        .expect("missed_bin lists its examples as a block");
    let edited = format!(
        "{}      - \"{misplaced}\"\n{}",
        &source[..list],
        &source[list..]
    );
    let flow = flows.join("council.yaml");
    std::fs::write(&flow, &edited).unwrap();
    let line = edited
        .lines()
        .position(|l| l.contains(misplaced))
        .map(|i| i + 1)
        .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(["validate"])
        .arg(&flow)
        .env("FRONTDOOR_SENTENCE_MODEL", model_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warnings are not errors: {text}");
    let warning = text
        .lines()
        .find(|l| l.contains(misplaced))
        .unwrap_or_else(|| panic!("no warning for the misplaced example:\n{text}"));
    assert!(
        warning.starts_with(&format!("{}:{line}:", flow.display())),
        "{warning}"
    );
    assert!(warning.contains("council_tax_pay"), "{warning}");

    // Without the model the check is skipped, and validate says so.
    let out = Command::new(env!("CARGO_BIN_EXE_frontdoor"))
        .args(["validate"])
        .arg(&flow)
        .env("FRONTDOOR_SENTENCE_MODEL", dir.join("no-such-model"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("example check skipped"), "{text}");
    assert!(!text.contains(misplaced), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}
