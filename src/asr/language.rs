//! Language detection for live calls: the multilingual model's encoder and language head over
//! the caller's utterance (no text decode), on one dedicated worker thread.
//!
//! Why its own worker and not the recognition pool: detection runs on the bigger multilingual
//! model (about 0.3-0.5 s of CPU for an utterance on the target), once per call, while the
//! pool's tiny.en decodes sit on every turn's latency path. Sharing the pool would put a
//! detection in front of other callers' decodes; a single worker bounds detection to one core
//! at a time, and its small queue refuses (the call carries on in its default language) rather
//! than letting detections pile up.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::AsrError;
use super::pool::{RecognitionJob, RecognitionResult, RecognizerPool, Saturated};
use super::recognizer::{RecognizeOptions, Recognizer, Transcript, duration_ms};
use super::whisper::{WhisperRecognizer, load_context};

/// Detections allowed to wait behind the running one.
const DETECTION_QUEUE: usize = 2;

/// A recogniser that only detects the language: its transcript has no text, and carries the
/// language and its probability.
struct LanguageOnly(WhisperRecognizer);

impl Recognizer for LanguageOnly {
    fn recognize(&self, audio_16k: &[f32], _: &RecognizeOptions) -> Result<Transcript, AsrError> {
        let started = std::time::Instant::now();
        let (language, probability) = self.0.detect(audio_16k)?;
        Ok(Transcript {
            language: Some(language),
            language_prob: probability,
            duration_ms: duration_ms(audio_16k.len()),
            decode_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
            ..Transcript::default()
        })
    }
}

/// One worker detecting languages with a multilingual Whisper model.
pub struct LanguageDetector {
    pool: RecognizerPool,
}

impl LanguageDetector {
    /// A detector around an already-built pool (a rehearsal answers its jobs itself).
    pub fn with_pool(pool: RecognizerPool) -> Self {
        Self { pool }
    }

    /// Loads (and primes) the multilingual model; an English-only model is refused.
    pub fn load(model_path: &Path) -> Result<Self, AsrError> {
        let recognizer = WhisperRecognizer::with_context(load_context(model_path)?)?;
        if !recognizer.is_multilingual() {
            return Err(AsrError::Load {
                path: model_path.to_path_buf(),
                detail: "not a multilingual model: it cannot detect languages".into(),
            });
        }
        let worker: Arc<dyn Recognizer> = Arc::new(LanguageOnly(recognizer));
        Ok(Self {
            pool: RecognizerPool::new(vec![worker], DETECTION_QUEUE),
        })
    }

    /// Queues a detection; the transcript that comes back carries `language` and
    /// `language_prob`. Dropping the receiver cancels it if it has not started.
    pub fn submit(
        &self,
        audio_16k: Vec<f32>,
    ) -> Result<oneshot::Receiver<RecognitionResult>, Saturated> {
        self.pool.submit(RecognitionJob {
            audio_16k,
            options: RecognizeOptions::default(),
        })
    }
}
