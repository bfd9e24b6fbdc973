//! Speech: endpointing the caller's frames, barge-in (with the echo guard), speculative and
//! final decodes (asked of the driver as jobs, answered as completions), the holding phrase and
//! the keypad fallback when the recogniser pool is saturated, turning results into `Heard` or
//! no input, a second decode of answers that mean nothing, and language detection of the last
//! utterance.
//!
//! Must not touch: what the answer means (the handler decides), the pool itself (the driver
//! submits jobs and drops those the core no longer awaits, which cancels them if not started).

use std::time::{Duration, Instant};

use super::{Call, JobId, Request};
use crate::asr::{RecognitionResult, RecognizeOptions, Transcript, Verdict};
use crate::call::speech::{EndStep, UtteranceRecognition, initial_prompt};
use crate::handler::{CallEvent, ListenSpec};
use crate::media::echo::{EchoGuard, frame_dbfs};
use crate::media::resample::FRAME_8K;
use crate::media::vad::{EndpointConfig, Endpointer, ListenTimings, VadEvent};
use crate::pii::Pii;

/// Periodic (voiced, speaking-pitch) audio an utterance needs before it barges in: noise
/// bursts and breath can pass the VAD's onset but are aperiodic; vowels are periodic from their
/// first milliseconds, so this costs real speech little or no delay.
const BARGE_IN_PERIODIC: Duration = Duration::from_millis(16);

/// Voiced speech an utterance needs before an empty or unsure English decode is passed on as
/// speech that was not understood (rather than silently treated as no input): a caller speaking
/// another language gets nothing from the English model, and must still reach the flow so it
/// can detect the language, or at least say it did not understand.
const UNRECOGNISED_MIN_VOICED_MS: u32 = 600;

/// A call's first answer is checked for another language (before the flow hears it) when the
/// English model was this unsure of it: English decodes of another language come out as
/// plausible-looking English with a high no-speech probability or low confidence, and could
/// otherwise pick an intent the caller never asked for.
const SUSPECT_NO_SPEECH_PROB: f32 = 0.4;
const SUSPECT_CONFIDENCE: f32 = 0.6;
/// Probability at which a detected non-English language tags the English transcript (the flow
/// then believes only a confident intent in it).
const OTHER_LANGUAGE_MIN_PROB: f32 = 0.5;

/// Sampling temperature of the second decode of an answer the question could make nothing of:
/// Whisper's own first fallback step. Measured on the dev set through the endpointer (greedy
/// misses only): 0.2 found 1 right intent; 0.4 found 3-4 right and 1-2 wrong; 0.6 and 0.8 found
/// as many wrong as right.
const SECOND_OPINION_TEMPERATURE: f32 = 0.4;

/// The prompt played when a caller has waited `holding_after` for a queued decode.
pub const HOLDING_PROMPT: &str = "holding";

/// Speech state that lives as long as the call.
#[derive(Default)]
pub(super) struct SpeechState {
    /// The caller's endpointer, created at the first speech `ask` (its filters and background
    /// estimate follow the caller's audio for the rest of the call).
    endpointer: Option<Endpointer>,
    /// Levels of what we sent recently, so our echo does not barge in.
    pub(super) echo: EchoGuard,
    /// The caller's last utterance (16 kHz), kept for `DetectLanguage` and a second decode.
    last_utterance: Option<Vec<f32>>,
    language_job: Option<JobId>,
    /// The language of `last_utterance` once detected: answers a `DetectLanguage` at once.
    detected_language: Option<(Option<String>, f32)>,
    /// A first answer held back while its language is checked (see `finish_turn`).
    held_answer: Option<CallEvent>,
    /// The recognition options of the last utterance's `ask`, for a second decode of it.
    last_options: Option<RecognizeOptions>,
    /// A heard answer held back while its audio is decoded once more (`hand_over`).
    second_opinion: Option<(JobId, CallEvent)>,
    /// Utterances handed to the handler so far (`Heard`).
    speech_turns: u32,
}

impl SpeechState {
    pub(super) fn awaits(&self, job: JobId) -> bool {
        self.language_job == Some(job)
            || self.second_opinion.as_ref().is_some_and(|(j, _)| *j == job)
    }
}

/// Speech state of one `ask` (lives inside the call's `Listening`).
pub(super) struct SpeechListening {
    recognition: UtteranceRecognition<JobId, RecognitionResult>,
    options: RecognizeOptions,
    /// The caller's speech is under way or being recognised: the no-input timer is suspended.
    pub(super) active: bool,
    /// The current utterance had a frame our own echo cannot explain.
    caller_heard: bool,
    /// `SpeechStarted` was raised for the current utterance.
    announced: bool,
    /// When the answering decode was submitted, and whether it had to queue.
    submitted_at: Option<Instant>,
    queued: bool,
    holding_played: bool,
    /// When the endpointer ended the utterance, and its length.
    ended_at: Option<Instant>,
    utterance_ms: u32,
    /// Voiced milliseconds of the utterance, as the endpointer counted them.
    voiced_ms: u32,
}

impl SpeechListening {
    pub(super) fn awaits(&self, job: JobId) -> bool {
        self.recognition.job() == Some(&job)
    }
}

/// What a finished decode amounts to.
enum Outcome {
    Heard(Pii<String>, Transcript),
    /// Clearly the caller's voiced speech, but the English model made nothing of it (empty,
    /// judged non-speech, or too unsure): handed on with no text, so no intent can come of it.
    Unrecognised(&'static str),
    NoInput(&'static str),
}

impl Call {
    /// A `Listen` with `speech`: resets the endpointer for this `ask`. Returns the speech state,
    /// or `None` (keys only) when speech is not available; `SpeechUnavailable` is then raised
    /// unless the `Listen` answers one (`answering_unavailable`).
    pub(super) fn start_speech(
        &mut self,
        spec: &ListenSpec,
        answering_unavailable: bool,
    ) -> Option<SpeechListening> {
        if !spec.speech {
            return None;
        }
        if self.settings.speech.recognizer().is_none() {
            if !answering_unavailable {
                self.raise(CallEvent::SpeechUnavailable);
            }
            return None;
        }
        let mut config = EndpointConfig::from_listen(&ListenTimings {
            no_input_timeout: spec.no_input_timeout,
            end_of_speech: spec.end_of_speech,
            max_utterance: spec.max_utterance,
        });
        // The core owns the no-input timer (armed when the prompt finishes, suspended while
        // the caller speaks); the endpointer's own, counted from its first frame, never fires.
        config.no_input_timeout = Duration::MAX;
        config.speculative_pause = self.settings.speech.speculative_pause;
        match self.speech.endpointer.as_mut() {
            Some(e) => e.reset_with(config),
            None => self.speech.endpointer = Some(Endpointer::new(config)),
        }
        Some(SpeechListening {
            recognition: UtteranceRecognition::new(),
            options: RecognizeOptions::english(initial_prompt(&spec.hints)),
            active: false,
            caller_heard: false,
            announced: false,
            submitted_at: None,
            queued: false,
            holding_played: false,
            ended_at: None,
            utterance_ms: 0,
            voiced_ms: 0,
        })
    }

    /// One 20 ms frame of caller audio.
    pub(super) fn on_caller_frame(&mut self, now: Instant, frame: &[i16; FRAME_8K]) {
        // Speech during a non-interruptible prompt is ignored (not even endpointed).
        if self.playback.deaf() {
            return;
        }
        let Some(endpointer) = self.speech.endpointer.as_mut() else {
            return;
        };
        let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) else {
            return;
        };
        if speech.recognition.is_awaiting() {
            return;
        }
        let event = endpointer.push_frame(now, frame);
        if endpointer.is_speaking() && !speech.caller_heard {
            let level = frame_dbfs(frame);
            speech.caller_heard = !self.speech.echo.explains(now, level);
        }
        let announce = speech.caller_heard
            && !speech.announced
            && endpointer.is_speaking()
            && endpointer.periodic_speech() >= BARGE_IN_PERIODIC;
        if let Some(event) = event {
            self.on_vad_event(now, event);
        }
        if announce {
            self.on_caller_speech(now);
        }
    }

    /// The caller (not our echo) is speaking: barge in and tell the handler.
    fn on_caller_speech(&mut self, now: Instant) {
        if self.playback.interruptible() {
            self.stop_playback();
        }
        let playing = self.playback.is_playing();
        let Some(listening) = self.listening.as_mut() else {
            return;
        };
        let Some(speech) = listening.speech.as_mut() else {
            return;
        };
        speech.announced = true;
        speech.active = true;
        // A prompt stopped early never finishes, so the no-input deadline starts now.
        if listening.no_input_at.is_none() && !playing {
            listening.no_input_at = Some(now + listening.spec.no_input_timeout);
        }
        self.raise(CallEvent::SpeechStarted);
    }

    fn on_vad_event(&mut self, now: Instant, event: VadEvent) {
        let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) else {
            return;
        };
        match event {
            // The no-input timer is suspended only once the utterance is the caller's speech
            // (`on_caller_speech`): noise that keeps the VAD in an "utterance" must not hold
            // the `ask` open past its deadline.
            VadEvent::SpeechStarted => {}
            VadEvent::SpeechRejected => self.resume_listening(),
            VadEvent::SpeechResumed => {
                speech.recognition.resumed();
                speech.queued = false;
            }
            VadEvent::SpeculativeEnd { utterance } => {
                // A refused speculative decode is no loss: the end resubmits.
                if speech.caller_heard && self.settings.speech.gate.passes(&utterance) {
                    let options = speech.options.clone();
                    self.next_job += 1;
                    let job = self.next_job;
                    if let Some(s) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) {
                        s.recognition.speculating(job);
                    }
                    self.request(Request::Recognise {
                        job,
                        audio: utterance,
                        options,
                    });
                }
            }
            VadEvent::SpeechEnded {
                utterance,
                voiced_ms,
            } => {
                if !speech.caller_heard {
                    // Our own prompt came back: not the caller's turn.
                    self.resume_listening();
                    return;
                }
                speech.ended_at = Some(now);
                speech.utterance_ms = crate::asr::recognizer::duration_ms(utterance.len());
                speech.voiced_ms = voiced_ms;
                let step = speech.recognition.ended(utterance.clone());
                self.speech.last_utterance = Some(utterance);
                self.speech.detected_language = None;
                self.on_end_step(now, step);
            }
            VadEvent::MaxLength { utterance } => {
                if !speech.caller_heard {
                    self.resume_listening();
                    return;
                }
                speech.ended_at = Some(now);
                speech.utterance_ms = crate::asr::recognizer::duration_ms(utterance.len());
                speech.voiced_ms = speech.utterance_ms;
                let step = speech.recognition.cut(utterance.clone());
                self.speech.last_utterance = Some(utterance);
                self.speech.detected_language = None;
                self.on_end_step(now, step);
            }
            // The endpointer's no-input timer is disabled (see `start_speech`).
            VadEvent::NoInput => {}
        }
    }

    fn on_end_step(&mut self, now: Instant, step: EndStep<RecognitionResult>) {
        match step {
            EndStep::Ready(result) => self.on_recognised(now, result),
            EndStep::Wait => {
                if let Some(s) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) {
                    s.submitted_at.get_or_insert(now);
                }
            }
            EndStep::Submit(audio) => self.submit_final(now, audio),
        }
    }

    fn submit_final(&mut self, now: Instant, audio: Vec<f32>) {
        if !self.settings.speech.gate.passes(&audio) {
            self.finish_turn(now, Outcome::NoInput("too quiet"), None);
            return;
        }
        self.next_job += 1;
        let job = self.next_job;
        let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) else {
            return;
        };
        speech.recognition.submitted(job);
        speech.submitted_at = Some(now);
        speech.queued = false;
        let options = speech.options.clone();
        self.request(Request::Recognise {
            job,
            audio,
            options,
        });
    }

    /// The pool took the job; `queued`: behind others.
    pub(super) fn on_job_started(&mut self, _now: Instant, job: JobId, queued: bool) {
        if let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut())
            && speech.awaits(job)
        {
            speech.queued = queued;
        }
    }

    /// The pool refused the job: a speculative decode is simply not made; an answering decode
    /// falls back to keys; a second opinion or language check is skipped.
    pub(super) fn on_job_refused(&mut self, now: Instant, job: JobId, queue_depth: usize) {
        if let Some(l) = self.listening.as_mut()
            && let Some(speech) = l.speech.as_mut()
            && speech.awaits(job)
        {
            if !speech.recognition.is_awaiting() {
                speech.recognition.withdraw();
                return;
            }
            static SATURATED: crate::log_limit::LogLimit = crate::log_limit::LogLimit::standard();
            crate::warn_limited!(SATURATED, call_id = %self.info.call_id, waiting = queue_depth, "recogniser saturated: asking for keys");
            l.speech = None;
            l.no_input_at = Some(now + l.spec.no_input_timeout);
            self.raise(CallEvent::SpeechUnavailable);
            return;
        }
        if self.speech.language_job == Some(job) {
            // Not detected, and not remembered as undetectable: a later `DetectLanguage` tries
            // again.
            self.speech.language_job = None;
            match self.speech.held_answer.take() {
                Some(held) => self.hand_over(held),
                None => self.raise(CallEvent::LanguageDetected {
                    language: None,
                    probability: 0.0,
                }),
            }
        } else if self
            .speech
            .second_opinion
            .as_ref()
            .is_some_and(|(j, _)| *j == job)
        {
            self.on_second_opinion(None);
        }
    }

    /// A job's result.
    pub(super) fn on_job_done(&mut self, now: Instant, job: JobId, result: RecognitionResult) {
        if self.speech.language_job == Some(job) {
            self.on_language(result.ok());
            return;
        }
        if self
            .speech
            .second_opinion
            .as_ref()
            .is_some_and(|(j, _)| *j == job)
        {
            self.on_second_opinion(result.ok());
            return;
        }
        let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) else {
            return;
        };
        let mut result = Some(result);
        let answer = speech
            .recognition
            .poll(|j| if *j == job { result.take() } else { None });
        if let Some(answer) = answer {
            self.on_recognised(now, answer);
        }
    }

    /// Plays the holding phrase when a queued decode keeps the caller waiting.
    pub(super) fn poll_speech(&mut self, now: Instant) {
        let holding_after = self.settings.speech.holding_after;
        let playing = self.playback.is_playing();
        let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) else {
            return;
        };
        let waiting_too_long = speech.recognition.is_awaiting()
            && speech.queued
            && !speech.holding_played
            && speech
                .submitted_at
                .is_some_and(|at| now.saturating_duration_since(at) >= holding_after);
        if waiting_too_long && !playing {
            speech.holding_played = true;
            self.play_holding_phrase();
        }
    }

    /// When [`Self::poll_speech`] next has work.
    pub(super) fn speech_deadline(&self) -> Option<Instant> {
        let speech = self.listening.as_ref()?.speech.as_ref()?;
        if speech.recognition.is_awaiting() && speech.queued && !speech.holding_played {
            speech
                .submitted_at
                .map(|at| at + self.settings.speech.holding_after)
        } else {
            None
        }
    }

    fn on_recognised(&mut self, now: Instant, result: RecognitionResult) {
        let voiced_ms = self
            .listening
            .as_ref()
            .and_then(|l| l.speech.as_ref())
            .map_or(0, |s| s.voiced_ms);
        let outcome = match &result {
            Err(e) => {
                static RECOGNITION_FAILED: crate::log_limit::LogLimit =
                    crate::log_limit::LogLimit::standard();
                crate::warn_limited!(RECOGNITION_FAILED, call_id = %self.info.call_id, error = %e, "recognition failed: treated as no input");
                Outcome::NoInput("recognition failed")
            }
            Ok(t) => match self.settings.speech.filter.judge(t) {
                Verdict::Speech(text) => Outcome::Heard(Pii::new(text), t.clone()),
                Verdict::NoInput(reason)
                    if voiced_ms >= UNRECOGNISED_MIN_VOICED_MS && unintelligible(reason) =>
                {
                    Outcome::Unrecognised(no_input_label(reason))
                }
                Verdict::NoInput(reason) => Outcome::NoInput(no_input_label(reason)),
            },
        };
        self.finish_turn(now, outcome, result.ok());
    }

    /// Logs the turn and either hands the transcript to the handler or goes on listening.
    fn finish_turn(&mut self, now: Instant, outcome: Outcome, transcript: Option<Transcript>) {
        let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) else {
            return;
        };
        let t = transcript.unwrap_or_default();
        let waited = speech
            .submitted_at
            .map_or(0, |at| now.saturating_duration_since(at).as_millis() as u64);
        let since_end = speech
            .ended_at
            .map_or(0, |at| now.saturating_duration_since(at).as_millis() as u64);
        let (heard, reason) = match &outcome {
            Outcome::Heard(..) => (true, ""),
            Outcome::Unrecognised(r) => (true, *r),
            Outcome::NoInput(r) => (false, *r),
        };
        let text = match &outcome {
            Outcome::Heard(text, _) => text.clone(),
            Outcome::NoInput(_) | Outcome::Unrecognised(_) => Pii::new(t.text.clone()),
        };
        tracing::info!(
            call_id = %self.info.call_id,
            utterance_ms = speech.utterance_ms,
            speculative = speech.recognition.speculation().as_str(),
            queue_wait_ms = waited.saturating_sub(u64::from(t.decode_ms)),
            decode_ms = t.decode_ms,
            end_to_result_ms = since_end,
            heard,
            no_input = reason,
            confidence = format_args!("{:.2}", t.confidence),
            no_speech_prob = format_args!("{:.2}", t.no_speech_prob),
            transcript = %text,
            "speech turn"
        );
        let suspect = match &outcome {
            Outcome::Heard(_, t) => {
                t.no_speech_prob >= SUSPECT_NO_SPEECH_PROB || t.confidence < SUSPECT_CONFIDENCE
            }
            Outcome::Unrecognised(_) => true,
            Outcome::NoInput(_) => false,
        };
        let answer = match outcome {
            Outcome::Heard(text, t) => CallEvent::Heard {
                text,
                confidence: t.confidence,
                language: t.language,
                second_opinion: None,
            },
            Outcome::Unrecognised(_) => CallEvent::Heard {
                text: Pii::new(String::new()),
                confidence: 0.0,
                language: None,
                second_opinion: None,
            },
            Outcome::NoInput(_) => {
                self.resume_listening();
                return;
            }
        };
        self.speech.last_options = Some(speech.options.clone());
        self.listening = None;
        // The answer should not wait for "One moment." to finish.
        if self.is_holding() {
            self.stop_playback();
        }
        let first = self.speech.speech_turns == 0;
        self.speech.speech_turns += 1;
        if first
            && suspect
            && self.settings.speech.languages().is_some()
            && let Some(audio) = self.speech.last_utterance.clone()
        {
            self.next_job += 1;
            let job = self.next_job;
            self.speech.language_job = Some(job);
            self.speech.held_answer = Some(answer);
            self.request(Request::DetectLanguage { job, audio });
            return;
        }
        self.hand_over(answer);
    }

    /// Hands a heard answer to the handler; first, when the handler would make nothing of it,
    /// decodes the same audio once more, sampled, and holds the answer until that is back.
    /// tiny.en's greedy decode of unfamiliar voices often lands on a near miss ("I want to
    /// report slide-dipping"); one sample at [`SECOND_OPINION_TEMPERATURE`] found the words in
    /// about a quarter of those turns in our measurements (docs/speech-eval.md). Only turns
    /// that would otherwise be "sorry?" pay for the extra decode.
    fn hand_over(&mut self, answer: CallEvent) {
        let worth_a_second_look = match &answer {
            CallEvent::Heard {
                text,
                language,
                second_opinion: None,
                ..
            } => {
                !text.expose().is_empty()
                    && language.as_deref().is_none_or(|l| l == "en")
                    && !self.handler.understands(text.expose())
            }
            _ => false,
        };
        let second = match (
            worth_a_second_look && self.settings.speech.recognizer().is_some(),
            &self.speech.last_utterance,
            &self.speech.last_options,
        ) {
            (true, Some(audio), Some(options)) => Some((
                audio.clone(),
                RecognizeOptions {
                    temperature: SECOND_OPINION_TEMPERATURE,
                    ..options.clone()
                },
            )),
            _ => None,
        };
        match second {
            Some((audio, options)) => {
                self.next_job += 1;
                let job = self.next_job;
                self.speech.second_opinion = Some((job, answer));
                self.request(Request::Recognise {
                    job,
                    audio,
                    options,
                });
            }
            None => self.raise(answer),
        }
    }

    /// The second decode of an answer held by [`Self::hand_over`] is back (`None`: it failed
    /// or was refused): the answer goes on with what it heard, if anything worth hearing.
    fn on_second_opinion(&mut self, result: Option<Transcript>) {
        let Some((_, mut answer)) = self.speech.second_opinion.take() else {
            return;
        };
        let heard = result.and_then(|t| match self.settings.speech.filter.judge(&t) {
            Verdict::Speech(text) => Some((text, t.decode_ms)),
            Verdict::NoInput(_) => None,
        });
        if let (CallEvent::Heard { second_opinion, .. }, Some((text, decode_ms))) =
            (&mut answer, heard)
        {
            let text = Pii::new(text);
            tracing::info!(call_id = %self.info.call_id, decode_ms, transcript = %text, "second opinion");
            *second_opinion = Some(text);
        }
        self.raise(answer);
    }

    /// Back to waiting for speech in the same `ask`: the no-input deadline it had still holds.
    fn resume_listening(&mut self) {
        let Some(speech) = self.listening.as_mut().and_then(|l| l.speech.as_mut()) else {
            return;
        };
        speech.recognition.clear();
        speech.active = false;
        speech.caller_heard = false;
        speech.announced = false;
        speech.submitted_at = None;
        speech.queued = false;
        speech.ended_at = None;
        if let Some(e) = self.speech.endpointer.as_mut() {
            e.reset();
        }
    }

    /// `DetectLanguage`: the last utterance through the multilingual model, off this thread.
    pub(super) fn detect_language(&mut self) {
        if let Some((language, probability)) = self.speech.detected_language.clone() {
            self.raise(CallEvent::LanguageDetected {
                language,
                probability,
            });
            return;
        }
        match (
            self.settings.speech.languages().is_some(),
            self.speech.last_utterance.clone(),
        ) {
            (true, Some(audio)) => {
                self.next_job += 1;
                let job = self.next_job;
                self.speech.language_job = Some(job);
                self.request(Request::DetectLanguage { job, audio });
            }
            _ => self.raise(CallEvent::LanguageDetected {
                language: None,
                probability: 0.0,
            }),
        }
    }

    /// The language check is back (`None`: it failed or was refused).
    fn on_language(&mut self, result: Option<Transcript>) {
        self.speech.language_job = None;
        let (language, probability) = result
            .and_then(|t| t.language.map(|l| (Some(l), t.language_prob)))
            .unwrap_or((None, 0.0));
        tracing::info!(call_id = %self.info.call_id, language = ?language, probability, "language detected");
        self.speech.detected_language = Some((language.clone(), probability));
        if let Some(held) = self.speech.held_answer.take() {
            // A first answer held for the check: the English model's words go on, tagged with
            // the other language when there is one. The flow believes them only if they
            // clearly name an intent; otherwise it hears no match and asks for the language.
            let other = language
                .as_deref()
                .is_some_and(|l| l != "en" && probability >= OTHER_LANGUAGE_MIN_PROB);
            let answer = match held {
                CallEvent::Heard {
                    text, confidence, ..
                } if other => CallEvent::Heard {
                    text,
                    confidence,
                    language,
                    second_opinion: None,
                },
                held => held,
            };
            self.hand_over(answer);
            return;
        }
        self.raise(CallEvent::LanguageDetected {
            language,
            probability,
        });
    }
}

/// Reasons that mean "the English model could not make words of it", as opposed to "it was
/// noise or a known hallucination".
fn unintelligible(reason: crate::asr::NoInputReason) -> bool {
    use crate::asr::NoInputReason as R;
    matches!(
        reason,
        R::Empty | R::NonSpeech | R::NoSpeechProbability | R::LowConfidence
    )
}

fn no_input_label(reason: crate::asr::NoInputReason) -> &'static str {
    use crate::asr::NoInputReason as R;
    match reason {
        R::TooQuiet => "too quiet",
        R::Empty => "empty",
        R::NonSpeech => "non-speech",
        R::KnownFiller => "filler",
        R::NoSpeechProbability => "no-speech probability",
        R::LowConfidence => "low confidence",
        R::Repetition => "repetition",
    }
}
