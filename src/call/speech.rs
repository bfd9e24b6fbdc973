//! Speech in live calls, the parts that are not the media thread itself: the recognisers every
//! call shares ([`SpeechServices`], loaded once at start-up), the Whisper initial prompt built
//! from an `ask`'s hints, and the sans-IO bookkeeping of one utterance's recognition
//! ([`UtteranceRecognition`]: speculative decode, reuse or resubmission).
//!
//! The call core (`call/core/listen.rs`) wires these to the endpointer and the call's handler.
//! Must not touch: sockets, the handler, flow semantics.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::asr::{EnergyGate, HallucinationFilter, LanguageDetector, RecognizerPool};
use crate::config::AsrConfig;

/// The recognisers shared by every call, and the listening settings that go with them.
pub struct SpeechServices {
    /// English recognition; `None` runs keypad-only (the model is missing or failed to load).
    recognizer: Option<RecognizerPool>,
    /// Language detection, set once the multilingual model has loaded (in the background, so
    /// it does not hold up start-up); unset while loading or when disabled or missing.
    languages: OnceLock<LanguageDetector>,
    /// A pause this long starts a speculative decode.
    pub speculative_pause: Duration,
    /// How long a caller may wait for a queued decode before the holding phrase plays.
    pub holding_after: Duration,
    /// Judges transcripts (fillers, non-speech, Whisper's doubt).
    pub filter: HallucinationFilter,
    /// Skips decodes of audio that never had the energy of speech.
    pub gate: EnergyGate,
}

impl SpeechServices {
    /// Keypad-only: every speech `ask` gets `SpeechUnavailable`.
    pub fn disabled() -> Self {
        let defaults = AsrConfig::default();
        SpeechServices {
            recognizer: None,
            languages: OnceLock::new(),
            speculative_pause: Duration::from_millis(defaults.speculative_pause_ms),
            holding_after: Duration::from_millis(defaults.holding_after_ms),
            filter: HallucinationFilter::default(),
            gate: EnergyGate::default(),
        }
    }

    /// Loads and primes the English model's worker pool now (so the first caller does not pay
    /// for it) and starts loading the language model in the background. A model that is
    /// missing or broken is a warning, never a failure: the server then runs keypad-only.
    pub fn load(config: &AsrConfig) -> Arc<Self> {
        let workers = config.worker_count();
        let recognizer = match RecognizerPool::whisper(&config.model, workers, config.queue_depth) {
            Ok(pool) => {
                tracing::info!(model = %config.model.display(), workers, queue_depth = config.queue_depth, "speech recognition ready");
                Some(pool)
            }
            Err(e) => {
                tracing::warn!(error = %e, "speech recognition unavailable: running keypad-only");
                None
            }
        };
        let services = Arc::new(SpeechServices {
            recognizer,
            speculative_pause: Duration::from_millis(config.speculative_pause_ms),
            holding_after: Duration::from_millis(config.holding_after_ms),
            ..SpeechServices::disabled()
        });
        if config.detects_language() && services.recognizer.is_some() {
            let path = config.language_model.clone();
            let background = Arc::clone(&services);
            let spawned = std::thread::Builder::new()
                .name("asr-language-load".into())
                .spawn(move || load_language_detector(&background, &path));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start loading the language model: no language detection");
            }
        }
        services
    }

    /// Services around an already-built pool (tests, benchmarks).
    pub fn with_pool(pool: RecognizerPool) -> Self {
        SpeechServices {
            recognizer: Some(pool),
            ..SpeechServices::disabled()
        }
    }

    /// Services around already-built pools for recognition and language detection.
    pub fn with_pools(recognizer: RecognizerPool, languages: LanguageDetector) -> Self {
        let services = Self::with_pool(recognizer);
        // A fresh lock: it cannot be set yet, so this always takes.
        let _ = services.languages.set(languages);
        services
    }

    /// The English recogniser pool, when speech is available.
    pub fn recognizer(&self) -> Option<&RecognizerPool> {
        self.recognizer.as_ref()
    }

    /// The language detector, once loaded.
    pub fn languages(&self) -> Option<&LanguageDetector> {
        self.languages.get()
    }
}

fn load_language_detector(services: &SpeechServices, path: &Path) {
    match LanguageDetector::load(path) {
        Ok(detector) => {
            let _ = services.languages.set(detector);
            tracing::info!(model = %path.display(), "language detection ready");
        }
        Err(e) => {
            tracing::warn!(error = %e, "language detection unavailable: calls stay in the flow's default language");
        }
    }
}

/// Longest initial prompt, in characters: Whisper keeps at most 224 prompt tokens, and a long
/// prompt also costs decode time on every utterance.
const MAX_PROMPT_CHARS: usize = 600;

/// The Whisper initial prompt for an `ask`: the domain plus its intents' keywords and slot
/// vocabulary, which steers recognition of 8 kHz telephone audio towards the words the
/// question expects. Duplicates are dropped; order is kept.
pub fn initial_prompt(hints: &[String]) -> String {
    let mut prompt = String::from("Council helpline.");
    let mut seen: Vec<String> = Vec::new();
    let mut first = true;
    for hint in hints {
        let hint = hint.trim();
        let key = hint.to_lowercase();
        if hint.is_empty() || seen.contains(&key) {
            continue;
        }
        let separator = if first { " " } else { ", " };
        if prompt.len() + separator.len() + hint.len() + 1 > MAX_PROMPT_CHARS {
            break;
        }
        prompt.push_str(separator);
        prompt.push_str(hint);
        seen.push(key);
        first = false;
    }
    if !first {
        prompt.push('.');
    }
    prompt
}

/// Whether the speculative decode of an utterance was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Speculation {
    /// No speculative decode was started.
    #[default]
    None,
    /// The speculative result answered the utterance.
    Hit,
    /// The caller carried on (or the utterance hit its cap): it was thrown away.
    Miss,
}

impl Speculation {
    pub fn as_str(self) -> &'static str {
        match self {
            Speculation::None => "none",
            Speculation::Hit => "hit",
            Speculation::Miss => "miss",
        }
    }
}

/// What to do at the end of an utterance.
#[derive(Debug, PartialEq)]
pub enum EndStep<T> {
    /// The speculative result is already here: use it.
    Ready(T),
    /// The speculative decode is still running and answers this utterance: wait for it.
    Wait,
    /// Nothing usable is in flight: recognise this audio (then call
    /// [`UtteranceRecognition::submitted`]).
    Submit(Vec<f32>),
}

#[derive(Debug)]
enum State<J, T> {
    Idle,
    /// A speculative decode is in flight.
    Speculating(J),
    /// A speculative decode finished before the utterance was known to have ended.
    Speculated(T),
    /// The decode that answers the utterance is in flight.
    Awaiting(J),
}

/// The recognition of one utterance at a time, over the endpointer's speculative events.
///
/// `J` is an in-flight job (a receiver: dropping it cancels the job), `T` its result. The
/// endpointer guarantees that `SpeechEnded` after a `SpeculativeEnd` with no `SpeechResumed`
/// in between carries exactly the speculative audio, so the speculative result can be reused
/// without comparing audio.
#[derive(Debug)]
pub struct UtteranceRecognition<J, T> {
    state: State<J, T>,
    speculation: Speculation,
}

impl<J, T> Default for UtteranceRecognition<J, T> {
    fn default() -> Self {
        Self {
            state: State::Idle,
            speculation: Speculation::None,
        }
    }
}

impl<J, T> UtteranceRecognition<J, T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A speculative decode was submitted at a short pause (any earlier one is dropped).
    pub fn speculating(&mut self, job: J) {
        self.state = State::Speculating(job);
    }

    /// The caller carried on: the speculative job is dropped (cancelled if not started).
    pub fn resumed(&mut self) {
        if matches!(self.state, State::Speculating(_) | State::Speculated(_)) {
            self.state = State::Idle;
            self.speculation = Speculation::Miss;
        }
    }

    /// The utterance ended with `utterance`.
    pub fn ended(&mut self, utterance: Vec<f32>) -> EndStep<T> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Speculated(result) => {
                self.speculation = Speculation::Hit;
                EndStep::Ready(result)
            }
            State::Speculating(job) => {
                self.speculation = Speculation::Hit;
                self.state = State::Awaiting(job);
                EndStep::Wait
            }
            State::Idle | State::Awaiting(_) => EndStep::Submit(utterance),
        }
    }

    /// The utterance hit its maximum length: whatever was speculated is superseded.
    pub fn cut(&mut self, utterance: Vec<f32>) -> EndStep<T> {
        if matches!(self.state, State::Speculating(_) | State::Speculated(_)) {
            self.speculation = Speculation::Miss;
        }
        self.state = State::Idle;
        EndStep::Submit(utterance)
    }

    /// The decode answering the utterance was submitted.
    pub fn submitted(&mut self, job: J) {
        self.state = State::Awaiting(job);
    }

    /// Polls the job in flight with `poll` (non-blocking). Returns the result that answers the
    /// utterance once it is in; a speculative result is kept until the utterance ends.
    pub fn poll(&mut self, mut poll: impl FnMut(&mut J) -> Option<T>) -> Option<T> {
        match &mut self.state {
            State::Speculating(job) => {
                if let Some(result) = poll(job) {
                    self.state = State::Speculated(result);
                }
                None
            }
            State::Awaiting(job) => {
                let result = poll(job)?;
                self.state = State::Idle;
                Some(result)
            }
            State::Idle | State::Speculated(_) => None,
        }
    }

    /// The job in flight (speculative or answering), if any.
    pub fn job(&self) -> Option<&J> {
        match &self.state {
            State::Speculating(job) | State::Awaiting(job) => Some(job),
            State::Idle | State::Speculated(_) => None,
        }
    }

    /// A speculative job could not be started: as if it had never been asked for (the end of
    /// the utterance submits its own).
    pub fn withdraw(&mut self) {
        if matches!(self.state, State::Speculating(_)) {
            self.state = State::Idle;
        }
    }

    /// Whether the decode answering the utterance is in flight.
    pub fn is_awaiting(&self) -> bool {
        matches!(self.state, State::Awaiting(_))
    }

    /// What became of the speculative decode of the last utterance.
    pub fn speculation(&self) -> Speculation {
        self.speculation
    }

    /// Drops everything in flight and starts over (a new `ask`).
    pub fn clear(&mut self) {
        self.state = State::Idle;
        self.speculation = Speculation::None;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// A job whose result the test sets; counts drops (cancellations).
    struct Job {
        result: Option<&'static str>,
        dropped: Rc<Cell<u32>>,
    }

    impl Drop for Job {
        fn drop(&mut self) {
            self.dropped.set(self.dropped.get() + 1);
        }
    }

    fn job(dropped: &Rc<Cell<u32>>) -> Job {
        Job {
            result: None,
            dropped: Rc::clone(dropped),
        }
    }

    fn take(job: &mut Job) -> Option<&'static str> {
        job.result.take()
    }

    fn finish(job: &mut Job) -> Option<&'static str> {
        Some(job.result.take().unwrap_or("done"))
    }

    #[test]
    fn speculative_result_in_before_the_end_is_used_at_once() {
        let drops = Rc::new(Cell::new(0));
        let mut r = UtteranceRecognition::new();
        r.speculating(job(&drops));
        assert_eq!(r.poll(finish), None, "kept until the utterance ends");
        assert_eq!(r.ended(vec![0.0; 10]), EndStep::Ready("done"));
        assert_eq!(r.speculation(), Speculation::Hit);
        assert!(!r.is_awaiting());
    }

    #[test]
    fn speculative_job_still_running_at_the_end_is_awaited_not_resubmitted() {
        let drops = Rc::new(Cell::new(0));
        let mut r = UtteranceRecognition::new();
        r.speculating(job(&drops));
        assert_eq!(r.poll(take), None);
        assert_eq!(r.ended(vec![0.0; 10]), EndStep::Wait);
        assert!(r.is_awaiting());
        assert_eq!(r.poll(take), None);
        assert_eq!(r.poll(finish), Some("done"));
        assert_eq!(r.speculation(), Speculation::Hit);
        assert_eq!(drops.get(), 1);
    }

    #[test]
    fn resumed_speech_cancels_and_the_full_utterance_is_submitted() {
        let drops = Rc::new(Cell::new(0));
        let mut r: UtteranceRecognition<Job, &str> = UtteranceRecognition::new();
        r.speculating(job(&drops));
        r.resumed();
        assert_eq!(
            drops.get(),
            1,
            "the speculative receiver is dropped at once"
        );
        assert_eq!(r.ended(vec![1.0; 3]), EndStep::Submit(vec![1.0; 3]));
        assert_eq!(r.speculation(), Speculation::Miss);
        r.submitted(job(&drops));
        assert!(r.is_awaiting());
        assert_eq!(r.poll(finish), Some("done"));
    }

    #[test]
    fn a_finished_speculation_is_discarded_when_the_caller_carries_on() {
        let drops = Rc::new(Cell::new(0));
        let mut r = UtteranceRecognition::new();
        r.speculating(job(&drops));
        assert_eq!(r.poll(finish), None);
        r.resumed();
        // Second pause: a new speculation, then the end reuses it.
        r.speculating(job(&drops));
        assert_eq!(r.ended(vec![]), EndStep::Wait);
        assert_eq!(r.poll(finish), Some("done"));
    }

    #[test]
    fn max_length_supersedes_the_speculation() {
        let drops = Rc::new(Cell::new(0));
        let mut r: UtteranceRecognition<Job, &str> = UtteranceRecognition::new();
        r.speculating(job(&drops));
        assert_eq!(r.cut(vec![2.0]), EndStep::Submit(vec![2.0]));
        assert_eq!(drops.get(), 1);
        assert_eq!(r.speculation(), Speculation::Miss);
    }

    #[test]
    fn without_speculation_the_end_submits() {
        let mut r: UtteranceRecognition<Job, &str> = UtteranceRecognition::new();
        assert_eq!(r.ended(vec![0.5]), EndStep::Submit(vec![0.5]));
        assert_eq!(r.speculation(), Speculation::None);
        assert_eq!(r.poll(take), None);
    }

    #[test]
    fn clear_drops_what_is_in_flight() {
        let drops = Rc::new(Cell::new(0));
        let mut r: UtteranceRecognition<Job, &str> = UtteranceRecognition::new();
        r.submitted(job(&drops));
        r.clear();
        assert_eq!(drops.get(), 1);
        assert!(!r.is_awaiting());
    }

    #[test]
    fn prompt_lists_hints_once() {
        let hints: Vec<String> = ["missed bin", "council tax", "Missed bin", " ", "pothole"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            initial_prompt(&hints),
            "Council helpline. missed bin, council tax, pothole."
        );
        assert_eq!(initial_prompt(&[]), "Council helpline.");
        let many: Vec<String> = (0..500).map(|i| format!("word{i}")).collect();
        assert!(initial_prompt(&many).len() <= MAX_PROMPT_CHARS);
    }
}
