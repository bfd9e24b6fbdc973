//! One-word answers are speech. "Nope", "Yes", "Bye" spoken by espeak-ng and flite's voices and passed
//! through G.711 μ-law, as a phone line delivers them, must end as an utterance in the
//! endpointer with its default settings, not be rejected as a click or breath: a caller who
//! answers a confirmation with one word must be heard.

mod support;

use std::time::{Duration, Instant};

use frontdoor::media::resample::FRAME_8K;
use frontdoor::media::vad::{EndpointConfig, Endpointer, VadEvent};
use support::g711::Law;
use support::speech::{Voice, synthesize};
use support::tempdir::TempDir;

/// Pushes `samples` (8 kHz) with 300 ms of silence before and 1 s after; returns whether an
/// utterance ended, and the periodic speech the endpointer counted.
fn endpoint(samples: &[i16]) -> (bool, Duration) {
    let mut audio = vec![0i16; 2400];
    audio.extend(
        samples
            .iter()
            .map(|&s| Law::MuLaw.decode(Law::MuLaw.encode(s))),
    );
    audio.extend(std::iter::repeat_n(0i16, 8000));
    let mut endpointer = Endpointer::new(EndpointConfig::default());
    let start = Instant::now();
    let mut periodic = Duration::ZERO;
    for (i, chunk) in audio.chunks_exact(FRAME_8K).enumerate() {
        let mut frame = [0i16; FRAME_8K];
        frame.copy_from_slice(chunk);
        let now = start + Duration::from_millis(20 * i as u64);
        periodic = periodic.max(endpointer.periodic_speech());
        if let Some(VadEvent::SpeechEnded { .. }) = endpointer.push_frame(now, &frame) {
            return (true, periodic);
        }
    }
    (false, periodic)
}

#[test]
fn one_word_answers_end_as_utterances() {
    let dir = TempDir::new("vad-short").expect("temp dir");
    let mut missed = Vec::new();
    for voice in [
        Voice::Espeak,
        Voice::Flite,
        // A low male voice: `earshot` scores its vowels 0.45-0.57, under the start threshold.
        Voice::FliteAs("rms"),
        Voice::FliteAs("awb"),
        Voice::FliteAs("slt"),
    ] {
        for word in ["Nope", "No", "Yes", "Yep", "Yeah", "Bye"] {
            let wav = dir.path().join(format!("{word}-{voice:?}.wav"));
            let samples = synthesize(word, voice, &wav).expect("speech synthesised");
            let (ended, periodic) = endpoint(&samples);
            eprintln!("{voice:?} {word:?}: ended {ended}, periodic {periodic:?}");
            if !ended {
                missed.push(format!("{voice:?} {word:?} ({periodic:?} periodic)"));
            }
        }
    }
    assert!(missed.is_empty(), "rejected as no speech: {missed:?}");
}
