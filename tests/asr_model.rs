//! Whisper model converter and recogniser tests. The synthetic CTranslate2 tests need nothing;
//! the real-model tests install tiny.en (set-up downloads it once) into `$FRONTDOOR_MODELS` or
//! `<repo>/models`.

use std::path::PathBuf;

use frontdoor::asr::model::{self, ModelChoice};

fn models_dir() -> PathBuf {
    std::env::var_os("FRONTDOOR_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

#[test]
fn installs_tiny_en_identical_to_reference_conversion() {
    let report = model::install(&models_dir(), ModelChoice::TinyEn).expect("install tiny.en");
    let bytes = std::fs::read(&report.path).unwrap();
    assert_eq!(bytes.len(), 77_704_698);
    let parsed = model::GgmlFile::parse(&bytes).unwrap();
    eprintln!("{:?} sha {}", parsed.hparams, report.sha256);
}
