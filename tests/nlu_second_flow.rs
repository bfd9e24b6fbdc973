//! Precision on a flow nobody tuned the classifier for: `tests/fixtures/flows/second/` is a
//! library and leisure flow whose intents and examples one person wrote and whose test
//! phrasings (`library.tsv`) another wrote without seeing them. Intents accepted at the
//! default threshold must be right at least 95 % of the time, with the sentence model and
//! without it (the fallback when the model is missing).

use std::path::PathBuf;
use std::sync::Arc;

use frontdoor::flow::catalog::PromptCatalog;
use frontdoor::flow::check::check;
use frontdoor::flow::tools::score::{entry_question, render, score};
use frontdoor::flow::understand::Understanding;
use frontdoor::nlu::encoder::{ENCODER_DIR, Embedder};

#[test]
fn a_second_flow_is_understood_precisely_with_and_without_the_sentence_model() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/fixtures/flows/second");
    let path = dir.join("library.yaml");
    let source = std::fs::read_to_string(&path).expect("fixture flow");
    let (flow, diags) = check(&path, &source, &PromptCatalog::default());
    let flow = flow.unwrap_or_else(|| panic!("{diags}"));
    let set = std::fs::read_to_string(dir.join("library.tsv")).expect("fixture set");
    let entry = entry_question(&flow, None).expect("the menu");
    let embedder = Arc::new(
        Embedder::load_installed(&root.join("models").join(ENCODER_DIR))
            .expect("the sentence model (scripts/install-model.sh installs it)"),
    );
    for (label, model) in [("sentence model", Some(&embedder)), ("words only", None)] {
        let understanding = Understanding::with_embedder(&flow, model).expect("intents");
        let s = score(&understanding, &entry, &set);
        let table = render(&[(label.to_string(), s.clone())]);
        println!("{table}");
        assert_eq!(s.intent_rows, 60, "{table}");
        assert!(s.precision() >= 0.95, "{label}: precision\n{table}");
        assert!(s.intent_accuracy() >= 0.9, "{label}: accuracy\n{table}");
    }
}
