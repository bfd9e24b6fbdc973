//! Whisper model files: reading CTranslate2 (faster-whisper) weights, writing whisper.cpp's ggml
//! model file, and installing the pinned models at set-up time. Owns nothing at run time: the
//! recogniser only ever opens the converted file. Nothing here downloads except `install`, which
//! runs from `frontdoor model install` during set-up.

pub mod convert;
pub mod ct2;
pub mod ggml;
pub mod half;
pub mod install;
pub mod mel;
pub mod vocab;

use std::path::{Path, PathBuf};

pub use convert::{ConversionSummary, convert};
pub use ct2::{Ct2Dtype, Ct2Model, Ct2Variable};
pub use ggml::{GgmlFile, WhisperHparams};
pub use install::{InstallReport, ModelChoice, install};
pub use mel::MelFilterbank;

/// Errors from reading, converting or installing a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing model: {0}")]
    Write(std::io::Error),
    #[error("CTranslate2 model.bin: {0}")]
    Ct2(String),
    #[error("ggml model file: {0}")]
    Ggml(String),
    #[error("vocabulary.txt: {0}")]
    Vocabulary(String),
    #[error("model has no tensor {0}")]
    MissingTensor(String),
    #[error("conversion: {0}")]
    Convert(String),
    #[error("{what} sha256 is {actual}, expected {expected}")]
    HashMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
}

impl ModelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
