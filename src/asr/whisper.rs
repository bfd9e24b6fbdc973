//! Whisper through whisper-rs (whisper.cpp): one [`WhisperRecognizer`] owns one decoding state
//! and shares the loaded weights with its siblings, so a pool of N recognisers holds the model
//! once. Decodes are greedy, single-threaded (two threads per decode were slower under CPU
//! contention on the 2-core target), without timestamps, and with the encoder's audio context
//! cut to the utterance's length, which is where most of the speed on short answers comes from.

use std::path::Path;
use std::sync::{Arc, Mutex, Once};
use std::time::Instant;

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use super::AsrError;
use super::recognizer::{RecognizeOptions, Recognizer, Transcript, duration_ms};

/// Encoder frames per second of audio (after the stride-2 convolution: 20 ms each).
const ENCODER_FRAMES_PER_SECOND: usize = 50;
/// Smallest audio context used: below ~384 frames (7.7 s) tiny.en became unstable.
pub const MIN_AUDIO_CTX: i32 = 384;
/// Context frames added past the end of the audio, and the rounding step.
const AUDIO_CTX_MARGIN: usize = 64;
/// Whisper's own default threshold: a segment this likely to be non-speech is suspect.
const NO_SPEECH_THRESHOLD: f32 = 0.6;
/// An empty greedy decode is tried once more, sampled at this temperature, when the model's
/// no-speech probability is under this.
const EMPTY_RETRY_TEMPERATURE: f32 = 0.4;
const EMPTY_RETRY_MAX_NO_SPEECH: f32 = 0.5;

/// What one decode is asked to do.
#[derive(Debug, Clone, Copy)]
struct DecodeSettings<'a> {
    threads: usize,
    max_tokens: i32,
    language: &'a str,
    initial_prompt: &'a str,
    temperature: f32,
    /// Whisper's translate task: English text for speech in `language`.
    translate: bool,
}

/// A Whisper model plus one decoding state: recognises one utterance at a time.
pub struct WhisperRecognizer {
    context: Arc<WhisperContext>,
    state: Mutex<WhisperState>,
    multilingual: bool,
    /// Always use the model's full 30 s audio context (benchmarks and comparisons only).
    full_audio_ctx: bool,
}

impl WhisperRecognizer {
    /// Loads a whisper.cpp model file and creates one decoding state.
    pub fn load(model_path: &Path) -> Result<Self, AsrError> {
        Self::with_context(load_context(model_path)?)
    }

    /// A recogniser with its own decoding state over already-loaded weights.
    pub fn with_context(context: Arc<WhisperContext>) -> Result<Self, AsrError> {
        let state = context
            .create_state()
            .map_err(|e| AsrError::Whisper(e.to_string()))?;
        let multilingual = context.is_multilingual();
        let recognizer = Self {
            context,
            state: Mutex::new(state),
            multilingual,
            full_audio_ctx: false,
        };
        recognizer.prime()?;
        Ok(recognizer)
    }

    /// The shared weights, for building sibling recognisers.
    pub fn context(&self) -> &Arc<WhisperContext> {
        &self.context
    }

    /// True for multilingual models (language detection available).
    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// Decodes every utterance with the full 30 s audio context instead of one sized to the
    /// utterance: slower, for measuring what the sized context saves.
    pub fn with_full_audio_context(mut self) -> Self {
        self.full_audio_ctx = true;
        self
    }

    /// The decoding state. A poisoned lock only means an earlier decode panicked; the state is
    /// reset by `full`.
    fn lock_state(&self) -> std::sync::MutexGuard<'_, WhisperState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one tiny decode so the first caller does not pay for allocating compute buffers,
    /// and so the state's audio context (which whisper.cpp's language detection reuses from the
    /// previous decode) starts small rather than at the full 30 s.
    fn prime(&self) -> Result<(), AsrError> {
        let silence = vec![0.0f32; 16_000];
        let opts = RecognizeOptions {
            language: Some("en".into()),
            ..RecognizeOptions::default()
        };
        self.recognize(&silence, &opts).map(|_| ())
    }

    /// One decode of `audio` (already padded) into text and its mean token probability.
    fn decode(
        &self,
        state: &mut WhisperState,
        audio: &[f32],
        settings: DecodeSettings<'_>,
    ) -> Result<(String, f32), AsrError> {
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(i32::try_from(settings.threads.clamp(1, 8)).unwrap_or(1));
        params.set_translate(settings.translate);
        params.set_no_context(true);
        // No timestamps: with a reduced audio context, timestamped decoding of short audio
        // tends to repeat the utterance as a second segment.
        params.set_no_timestamps(true);
        // Single segment per 30 s window: callers' answers are short.
        params.set_single_segment(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        params.set_temperature(settings.temperature);
        // No built-in temperature fallback (it may decode up to six times): doubtful output is
        // the filter's job, and `recognize` retries an empty decode once itself.
        params.set_temperature_inc(0.0);
        params.set_no_speech_thold(NO_SPEECH_THRESHOLD);
        params.set_max_tokens(settings.max_tokens);
        let model_ctx = self.context.n_audio_ctx();
        params.set_audio_ctx(if self.full_audio_ctx {
            model_ctx
        } else {
            audio_ctx_for(audio.len(), model_ctx)
        });
        params.set_language(Some(settings.language));
        if !settings.initial_prompt.is_empty() {
            params.set_initial_prompt(settings.initial_prompt);
        }
        state
            .full(params, audio)
            .map_err(|e| AsrError::Whisper(e.to_string()))?;

        let eot = self.context.token_eot();
        let (mut text, mut prob_sum, mut tokens) = (String::new(), 0.0f32, 0u32);
        for segment in state.as_iter() {
            if let Ok(s) = segment.to_str_lossy() {
                text.push_str(&s);
            }
            for i in 0..segment.n_tokens() {
                if let Some(token) = segment.get_token(i)
                    && token.token_id() < eot
                {
                    prob_sum += token.token_probability();
                    tokens += 1;
                }
            }
        }
        let confidence = if tokens == 0 {
            0.0
        } else {
            prob_sum / tokens as f32
        };
        Ok((text.trim().to_string(), confidence))
    }

    /// Whisper's no-speech probability: the `<|nospeech|>` token's probability right after
    /// `<|startoftranscript|>`, over the audio `full` just encoded. whisper.cpp's own figure is
    /// read after the whole task prompt, which ends in `<|notimestamps|>` here, and is then ~0
    /// even for silence; one extra decoder step (a few ms) gives the real one.
    fn no_speech_probability(&self, state: &mut WhisperState) -> Result<f32, AsrError> {
        let sot = self.context.token_sot();
        state
            .decode(&[sot], 0, 1)
            .map_err(|e| AsrError::Whisper(e.to_string()))?;
        let logits = state
            .get_logits()
            .map_err(|e| AsrError::Whisper(e.to_string()))?;
        let nosp = usize::try_from(self.context.token_nosp()).ok();
        let Some(nosp_logit) = nosp.and_then(|i| logits.get(i)).copied() else {
            return Ok(0.0);
        };
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
        Ok(if sum > 0.0 && sum.is_finite() {
            (nosp_logit - max).exp() / sum
        } else {
            0.0
        })
    }

    /// Detects the language of `audio_16k` (encoder and language head only, no text decode):
    /// ISO 639-1 code and its probability. Multilingual models only.
    pub fn detect(&self, audio_16k: &[f32]) -> Result<(String, f32), AsrError> {
        if !self.multilingual {
            return Err(AsrError::Whisper(
                "language detection needs a multilingual model".into(),
            ));
        }
        if audio_16k.is_empty() {
            return Err(AsrError::Audio("no audio to detect a language in".into()));
        }
        let audio = sanitised(audio_16k);
        let mut state = self.lock_state();
        Self::detect_language(&mut state, &audio)
    }

    /// English for speech in `language` (Whisper's translate task, multilingual models only):
    /// what a caller said in Polish, as English words the flow's examples can be matched
    /// against.
    pub fn translate(&self, audio_16k: &[f32], language: &str) -> Result<String, AsrError> {
        if !self.multilingual {
            return Err(AsrError::Whisper(
                "translation needs a multilingual model".into(),
            ));
        }
        if whisper_rs::get_lang_id(language).is_none() {
            return Err(AsrError::UnknownLanguage(language.to_string()));
        }
        let audio = sanitised(audio_16k);
        if audio.is_empty() {
            return Err(AsrError::Audio("no audio to translate".into()));
        }
        let (audio, max_tokens) = padded_for_decode(audio);
        let mut state = self.lock_state();
        let (text, _) = self.decode(
            &mut state,
            &audio,
            DecodeSettings {
                threads: 1,
                max_tokens,
                language,
                initial_prompt: "",
                temperature: 0.0,
                translate: true,
            },
        )?;
        Ok(text)
    }

    fn detect_language(state: &mut WhisperState, audio: &[f32]) -> Result<(String, f32), AsrError> {
        state
            .pcm_to_mel(audio, 1)
            .map_err(|e| AsrError::Whisper(e.to_string()))?;
        let (top, probs) = state
            .lang_detect(0, 1)
            .map_err(|e| AsrError::Whisper(e.to_string()))?;
        let english = whisper_rs::get_lang_id("en")
            .and_then(|id| usize::try_from(id).ok())
            .and_then(|id| probs.get(id).copied())
            .unwrap_or(0.0);
        if whisper_rs::get_lang_str(top) == Some("en") {
            return Ok(("en".to_string(), english));
        }
        let candidates: Vec<(&str, f32)> = CALLER_LANGUAGES
            .iter()
            .filter_map(|&(code, _)| {
                let id = usize::try_from(whisper_rs::get_lang_id(code)?).ok()?;
                probs.get(id).map(|&p| (code, p))
            })
            .collect();
        Ok(other_caller_language(&candidates, english))
    }
}

/// The languages a caller may speak: the main languages of England and Wales (Census 2021,
/// plus Welsh), each with roughly how many residents (thousands, rounded) have it as their main
/// language. When the audio is not English, the caller's language is chosen among these: on
/// telephone audio Whisper often names languages nobody phones a council in (Latin, Sanskrit,
/// Maori for Polish or Romanian), and a caller must be routed to an interpreter who can
/// actually help.
pub const CALLER_LANGUAGES: [(&str, u32); 32] = [
    ("en", 0),
    ("cy", 100),
    ("pl", 612),
    ("ro", 472),
    ("pa", 291),
    ("ur", 270),
    ("pt", 225),
    ("es", 215),
    ("ar", 200),
    ("bn", 200),
    ("gu", 187),
    ("it", 160),
    ("zh", 140),
    ("lt", 125),
    ("ta", 125),
    ("tr", 100),
    ("so", 85),
    ("fr", 120),
    ("de", 77),
    ("bg", 76),
    ("hu", 60),
    ("el", 60),
    ("ru", 70),
    ("fa", 60),
    ("ne", 60),
    ("hi", 40),
    ("lv", 60),
    ("sk", 50),
    ("cs", 40),
    ("uk", 30),
    ("ml", 50),
    ("sq", 60),
];

/// Whisper heard something other than English: the caller's most likely language among the
/// languages callers speak (never English), with the probability that it is not English. The
/// flow's decision is "offer an interpreter or not", so that is the probability that matters;
/// the language only picks the interpreter.
///
/// Whisper's language probabilities carry the prior of its training data (the world's
/// internet); who phones a council in England is another population. Each language's
/// probability is weighed by how many residents speak it (Bayes' rule with the local prior):
/// on espeak-like or poor audio Whisper ranks Hungarian or Greek above the Polish really
/// spoken, with Polish close behind, and Polish is ten times as common here.
fn other_caller_language(candidates: &[(&str, f32)], english: f32) -> (String, f32) {
    let residents = |code: &str| {
        CALLER_LANGUAGES
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(1.0, |(_, n)| *n as f32)
    };
    candidates
        .iter()
        .filter(|(code, _)| *code != "en")
        .max_by(|a, b| (a.1 * residents(a.0)).total_cmp(&(b.1 * residents(b.0))))
        .map_or((String::from("en"), english), |(code, _)| {
            ((*code).to_string(), (1.0 - english).clamp(0.0, 1.0))
        })
}

/// Loads model weights once (to share between recognisers). whisper.cpp's own logging is routed
/// into `tracing`.
pub fn load_context(model_path: &Path) -> Result<Arc<WhisperContext>, AsrError> {
    static LOGGING: Once = Once::new();
    LOGGING.call_once(whisper_rs::install_logging_hooks);
    let load_error = |detail: String| AsrError::Load {
        path: model_path.to_path_buf(),
        detail,
    };
    if !model_path.is_file() {
        return Err(load_error(
            "no such file (run `frontdoor model install`)".into(),
        ));
    }
    let context = WhisperContext::new_with_params(model_path, WhisperContextParameters::default())
        .map_err(|e| load_error(e.to_string()))?;
    Ok(Arc::new(context))
}

/// The encoder audio context for an utterance of `samples` at 16 kHz: its length in encoder
/// frames plus a margin, rounded up, never below [`MIN_AUDIO_CTX`] nor above the model's.
pub fn audio_ctx_for(samples: usize, model_ctx: i32) -> i32 {
    let frames = samples.div_ceil(16_000 / ENCODER_FRAMES_PER_SECOND);
    let ctx = (frames + AUDIO_CTX_MARGIN).div_ceil(AUDIO_CTX_MARGIN) * AUDIO_CTX_MARGIN;
    i32::try_from(ctx)
        .unwrap_or(i32::MAX)
        .clamp(MIN_AUDIO_CTX.min(model_ctx), model_ctx)
}

/// The audio as whisper.cpp may take it: nothing from the line may reach it as NaN or out of
/// range.
fn sanitised(audio_16k: &[f32]) -> Vec<f32> {
    audio_16k
        .iter()
        .map(|&s| {
            if s.is_finite() {
                s.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

/// The audio padded with trailing silence to `MIN_DECODE_SAMPLES`, and the most tokens its
/// decode may produce (from the length before padding).
fn padded_for_decode(mut audio: Vec<f32>) -> (Vec<f32>, i32) {
    let max_tokens = max_tokens_for(audio.len());
    if audio.len() < MIN_DECODE_SAMPLES {
        audio.resize(MIN_DECODE_SAMPLES, 0.0);
    }
    (audio, max_tokens)
}

/// Shortest audio handed to the decoder (2 s at 16 kHz); shorter utterances are padded.
const MIN_DECODE_SAMPLES: usize = 32_000;

/// Most text tokens a decode of `samples` of the caller's audio (before padding) may produce:
/// fast speech is about 4 words and 5–6 tokens a second with punctuation. Whisper often repeats
/// a short answer until this limit ("I want to report a missed bin collection, I want to report
/// a ..."), and every extra token is a decoder step, so the limit is also a cost cap.
fn max_tokens_for(samples: usize) -> i32 {
    let seconds = samples.div_ceil(16_000);
    i32::try_from(8 + 7 * seconds).unwrap_or(i32::MAX)
}

impl Recognizer for WhisperRecognizer {
    fn recognize(
        &self,
        audio_16k: &[f32],
        opts: &RecognizeOptions,
    ) -> Result<Transcript, AsrError> {
        let started = Instant::now();
        let audio = sanitised(audio_16k);
        let duration = duration_ms(audio.len());
        if audio.is_empty() {
            return Ok(Transcript {
                no_speech_prob: 1.0,
                ..Transcript::default()
            });
        }
        // Whisper was trained on long windows and often returns nothing for a word on its
        // own ("Yeah, correct", under a second): trailing silence up to `MIN_DECODE_SAMPLES`
        // gives it the context it expects, at the cost of a slightly larger audio context.
        let (audio, max_tokens) = padded_for_decode(audio);
        let mut state = self.lock_state();

        let requested = opts
            .language
            .as_deref()
            .filter(|l| !l.is_empty() && *l != "auto");
        if let Some(lang) = requested
            && whisper_rs::get_lang_id(lang).is_none()
        {
            return Err(AsrError::UnknownLanguage(lang.to_string()));
        }
        let (language, language_prob) = if !self.multilingual {
            ("en".to_string(), 1.0)
        } else if requested.is_none() || opts.detect_language {
            let (detected, prob) = Self::detect_language(&mut state, &audio)?;
            match requested {
                Some(lang) => (lang.to_string(), if lang == detected { prob } else { 0.0 }),
                None => (detected, prob),
            }
        } else {
            (requested.unwrap_or("en").to_string(), 1.0)
        };

        let decode = |state: &mut WhisperState, temperature: f32| {
            self.decode(
                state,
                &audio,
                DecodeSettings {
                    threads: opts.threads,
                    max_tokens,
                    language: &language,
                    initial_prompt: &opts.initial_prompt,
                    temperature,
                    translate: false,
                },
            )
        };
        let (mut text, mut confidence) = decode(&mut state, opts.temperature)?;
        let no_speech_prob = self.no_speech_probability(&mut state)?;
        // Greedy decoding sometimes ends at once on speech it finds hard, most often a short
        // answer ("Yeah, correct" in espeak-ng's voice comes back empty, and the caller hears
        // "sorry?"). Speech reached this point past the VAD and the energy gate, so when the
        // model itself does not call it silence, one sampled decode (Whisper's own fallback
        // for a failed decode is a higher temperature) usually finds the words; the
        // hallucination filter still judges what it returns.
        if text.is_empty() && no_speech_prob < EMPTY_RETRY_MAX_NO_SPEECH {
            (text, confidence) = decode(&mut state, EMPTY_RETRY_TEMPERATURE)?;
        }
        let decode_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        Ok(Transcript {
            text,
            confidence,
            no_speech_prob,
            language: Some(language),
            language_prob,
            duration_ms: duration,
            decode_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_context_covers_the_utterance_with_margin() {
        assert_eq!(audio_ctx_for(0, 1500), 384);
        assert_eq!(audio_ctx_for(16_000 * 2, 1500), 384);
        // 7 s = 350 frames + 64 margin -> 414 -> rounded up to 448.
        assert_eq!(audio_ctx_for(16_000 * 7, 1500), 448);
        // 15 s = 750 frames: context must cover all of it.
        assert!(audio_ctx_for(16_000 * 15, 1500) >= 750);
        assert_eq!(audio_ctx_for(16_000 * 40, 1500), 1500);
        for secs in 0..40 {
            let ctx = audio_ctx_for(16_000 * secs, 1500) as usize;
            assert!(ctx >= (secs * 50).min(1500));
        }
    }

    #[test]
    fn not_english_names_the_likeliest_caller_language() {
        let (lang, p) = other_caller_language(&[("en", 0.1), ("pl", 0.3), ("ro", 0.2)], 0.1);
        assert_eq!(lang, "pl");
        assert!((p - 0.9).abs() < 1e-6, "{p}");
        assert_eq!(other_caller_language(&[], 0.4), ("en".to_string(), 0.4));
        assert!(
            CALLER_LANGUAGES
                .iter()
                .all(|(c, _)| whisper_rs::get_lang_id(c).is_some())
        );
        // Weighed by who phones: Polish a little behind Hungarian is Polish; far behind is not.
        assert_eq!(
            other_caller_language(&[("hu", 0.30), ("pl", 0.20)], 0.1).0,
            "pl"
        );
        assert_eq!(
            other_caller_language(&[("hu", 0.90), ("pl", 0.02)], 0.01).0,
            "hu"
        );
    }

    #[test]
    fn token_budget_grows_with_audio() {
        assert_eq!(max_tokens_for(16_000), 15);
        // Fifteen seconds of fast speech: about 60 words.
        assert!(max_tokens_for(16_000 * 15) >= 100);
    }

    #[test]
    fn missing_model_is_a_load_error() {
        let err = WhisperRecognizer::load(Path::new("/nonexistent/ggml.bin")).err();
        assert!(matches!(err, Some(AsrError::Load { .. })));
    }
}
