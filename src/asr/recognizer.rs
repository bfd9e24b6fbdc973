//! The recogniser seam: what the call runtime asks of a speech recogniser, independent of the
//! engine behind it (Whisper in production, fakes in tests).

use super::AsrError;

/// Sample rate every recogniser takes.
pub const SAMPLE_RATE: u32 = 16_000;

/// Turns one finished utterance into text. Implementations are blocking and CPU-bound: call
/// them from a worker thread (see [`super::RecognizerPool`]), never from an async task.
pub trait Recognizer: Send + Sync {
    /// Recognises `audio_16k` (mono f32 in [-1, 1] at 16 kHz).
    fn recognize(&self, audio_16k: &[f32], opts: &RecognizeOptions)
    -> Result<Transcript, AsrError>;
}

/// Per-utterance options, normally built from the current `ask` node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecognizeOptions {
    /// Text that primes the decoder with the words this question expects ("Council helpline.
    /// Missed bin collection, council tax ..."). Empty for none.
    pub initial_prompt: String,
    /// ISO 639-1 language to transcribe in; `None` lets a multilingual model detect it.
    /// English-only models always use `en`.
    pub language: Option<String>,
    /// Also report the detected language and its probability (multilingual models).
    pub detect_language: bool,
    /// Threads for this decode; 0 means one. The pool raises it when workers stand idle, so a
    /// lone caller's answer is recognised on every core instead of one.
    pub threads: usize,
    /// Sampling temperature of the first decode (0: greedy).
    pub temperature: f32,
}

impl RecognizeOptions {
    /// English with a domain prompt.
    pub fn english(initial_prompt: impl Into<String>) -> Self {
        Self {
            initial_prompt: initial_prompt.into(),
            language: Some("en".into()),
            detect_language: false,
            threads: 0,
            temperature: 0.0,
        }
    }
}

/// What was heard in one utterance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transcript {
    /// Recognised text, trimmed. May be a hallucination: judge it with
    /// [`super::HallucinationFilter`] before acting on it.
    pub text: String,
    /// Mean probability of the text tokens (0..1); 0 when there are none.
    pub confidence: f32,
    /// Whisper's probability that the audio holds no speech (0..1).
    pub no_speech_prob: f32,
    /// Language transcribed in (detected or given), ISO 639-1.
    pub language: Option<String>,
    /// Probability of `language` when it was detected; 1 when it was given.
    pub language_prob: f32,
    /// Length of the audio recognised.
    pub duration_ms: u32,
    /// Wall-clock time the recognition took.
    pub decode_ms: u32,
}

impl Transcript {
    /// Real-time factor of this recognition (decode time / audio time).
    pub fn real_time_factor(&self) -> f32 {
        if self.duration_ms == 0 {
            0.0
        } else {
            self.decode_ms as f32 / self.duration_ms as f32
        }
    }
}

/// Milliseconds of audio in `samples` at 16 kHz.
pub fn duration_ms(samples: usize) -> u32 {
    u32::try_from(samples as u64 * 1000 / u64::from(SAMPLE_RATE)).unwrap_or(u32::MAX)
}
