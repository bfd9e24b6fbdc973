//! Speech recognition: the `Recognizer` trait, Whisper (whisper-rs, local model) in a bounded pool
//! of worker threads, and the model installer/converter.
//!
//! Runs off the media path: media hands finished utterances here and gets text back on a channel.
//! Owns: model files (`model`), the Whisper engine (`whisper`), the worker pool (`pool`), the
//! no-input judgement on transcripts (`filter`), WAV loading/resampling for tools (`audio`) and the
//! `transcribe` / `model install` commands (`cli`). Must not touch RTP, VAD endpointing (media) or
//! intent classification (nlu): it hears, it does not understand.

pub mod audio;
pub mod cli;
pub mod filter;
pub mod language;
pub mod model;
pub mod pool;
pub mod recognizer;
pub mod whisper;

pub use cli::{model_install_cmd, transcribe_cmd};
pub use filter::{EnergyGate, HallucinationFilter, NoInputReason, Verdict};
pub use language::LanguageDetector;
pub use pool::{PoolStats, RecognitionJob, RecognitionResult, RecognizerPool, Saturated};
pub use recognizer::{RecognizeOptions, Recognizer, Transcript};
pub use whisper::WhisperRecognizer;

/// Errors from recognition.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error("cannot load Whisper model {path}: {detail}")]
    Load {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("whisper failed: {0}")]
    Whisper(String),
    #[error("language {0:?} is not one Whisper knows")]
    UnknownLanguage(String),
    #[error("audio: {0}")]
    Audio(String),
    #[error(transparent)]
    Model(#[from] model::ModelError),
}
