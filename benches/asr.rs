//! Whisper decode time for a 2 s caller utterance with tiny.en: the audio context sized to the
//! utterance (what the product does) against the full 30 s context. Needs the model set-up
//! installs (`frontdoor model install`, into `$FRONTDOOR_MODELS` or `<repo>/models`) and
//! espeak-ng for the utterance.

use std::path::PathBuf;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use frontdoor::asr::audio::read_wav_16k;
use frontdoor::asr::model::{self, ModelChoice};
use frontdoor::asr::{RecognizeOptions, Recognizer, WhisperRecognizer};

fn models_dir() -> PathBuf {
    std::env::var_os("FRONTDOOR_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// "I want to pay my council tax bill." from espeak-ng, cut or padded to exactly 2 s.
fn two_second_utterance() -> Vec<f32> {
    let path = std::env::temp_dir().join(format!("fd-asr-bench-{}.wav", std::process::id()));
    let status = Command::new("espeak-ng")
        .args(["-v", "en-gb", "-w"])
        .arg(&path)
        .arg("I want to pay my council tax bill.")
        .status();
    assert!(status.is_ok_and(|s| s.success()), "espeak-ng failed");
    let mut audio = read_wav_16k(&path).expect("espeak wav");
    let _ = std::fs::remove_file(&path);
    audio.resize(32_000, 0.0);
    audio
}

fn decode(c: &mut Criterion) {
    let model = model::install(&models_dir(), ModelChoice::TinyEn).expect("install tiny.en");
    let audio = two_second_utterance();
    let opts =
        RecognizeOptions::english("Council helpline. Council tax bill, missed bin collection.");
    let sized = WhisperRecognizer::load(&model.path).expect("load");
    let full = WhisperRecognizer::load(&model.path)
        .expect("load")
        .with_full_audio_context();
    let mut group = c.benchmark_group("asr_tiny_en_2s");
    group.sample_size(10);
    group.bench_function("audio_ctx_sized", |b| {
        b.iter(|| sized.recognize(&audio, &opts).expect("decode"))
    });
    group.bench_function("audio_ctx_full", |b| {
        b.iter(|| full.recognize(&audio, &opts).expect("decode"))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
