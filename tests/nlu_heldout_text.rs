//! Understanding on transcripts (text in, no recogniser) over the held-out set
//! (`tests/fixtures/utterances/heldout.tsv`, never tuned on), with the sentence model, at the
//! council flow's first menu and at a confirmation. Holds the figures reached when this test
//! was written, so that a change to the classifier, the grammar or the council's examples that
//! loses ground on phrasings nobody tuned for fails here. `frontdoor nlu score` prints the same
//! table for any sets.

use std::path::PathBuf;
use std::sync::Arc;

use frontdoor::flow::set::FlowSet;
use frontdoor::flow::tools::score::{entry_question, render, score};
use frontdoor::flow::understand::Understanding;
use frontdoor::nlu::encoder::{ENCODER_DIR, Embedder};

#[test]
fn heldout_phrasings_are_understood_at_the_first_menu_and_at_confirmations() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let embedder = Arc::new(
        Embedder::load_installed(&root.join("models").join(ENCODER_DIR))
            .expect("the sentence model (scripts/install-model.sh installs it)"),
    );
    let set = FlowSet::load(&root.join("call-flows"), &root.join("audio-prompts"))
        .expect("council flows");
    let flow = Arc::clone(&set.get("council").expect("council").flow);
    let understanding = Understanding::with_embedder(&flow, Some(&embedder)).expect("intents");
    let entry = entry_question(&flow, Some("main_menu")).expect("main_menu");
    let text = std::fs::read_to_string(root.join("tests/fixtures/utterances/heldout.tsv"))
        .expect("held-out set");
    let s = score(&understanding, &entry, &text);
    println!("{}", render(&[("held-out".to_string(), s.clone())]));
    let table = render(&[("held-out".to_string(), s.clone())]);

    assert!(s.intent_rows >= 150, "{table}");
    assert!(
        s.intent_accuracy() >= 0.875,
        "intent accuracy fell:\n{table}"
    );
    assert!(s.precision() >= 0.945, "precision fell:\n{table}");
    assert_eq!(
        s.safeguarding_false, 0,
        "a service call reached safeguarding:\n{table}"
    );
    assert!(s.safeguarding_reached >= 18, "{table}");
    assert!(s.non_answers >= 30, "{table}");
    assert_eq!(
        s.non_answers_as_yes, 0,
        "non-answers taken as yes:\n{table}"
    );
    assert!(s.non_answers_right >= 40, "{table}");
    assert!(s.answers_right >= 26, "{table}");
}
