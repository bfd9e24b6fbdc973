//! Endpointing for one call: decides when the caller starts and stops speaking, and hands the
//! utterance to recognition as 16 kHz mono f32 (what Whisper takes).
//!
//! Sans-IO: fed 20 ms frames of 8 kHz audio and `now`, returns [`VadEvent`]s. The 8 kHz stream is
//! upsampled to 16 kHz once (a half-band FIR, no allocation per frame), scored in 16 ms frames of
//! 256 samples by `earshot`'s neural VAD, and gated on energy so that line hiss and near-silence
//! never count as speech. Must not touch: recognition, the prompt player, timers other than the
//! no-input deadline derived from `now`.
//!
//! # Speculative ends
//! At the first pause of [`EndpointConfig::speculative_pause`] the endpointer emits
//! [`VadEvent::SpeculativeEnd`] so recognition can start before the end-of-speech silence has
//! fully elapsed. Exactly one of these follows:
//! * [`VadEvent::SpeechEnded`]: the pause was the end. Its utterance is sample-for-sample the
//!   speculative one (both are cut at the last voiced frame plus the same short tail), so the
//!   speculative transcript can be used as-is.
//! * [`VadEvent::SpeechResumed`]: the caller carried on. The caller of this API must discard the
//!   speculative result; a later `SpeculativeEnd`/`SpeechEnded` carries the whole utterance.
//! * [`VadEvent::MaxLength`]: the utterance hit its cap; it supersedes the speculative result.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use earshot::Detector;

use super::resample::{FRAME_8K, FRAME_16K, Upsampler8kTo16k, f32_to_i16};

/// Samples per VAD frame at 16 kHz (16 ms), fixed by `earshot`.
const VAD_FRAME: usize = 256;
/// Samples per millisecond at 16 kHz.
const SAMPLES_PER_MS: usize = 16;
/// How fast the background-level estimate may rise, in dB per VAD frame (≈ 6 dB/s): slow
/// enough that speech does not drag it up, fast enough to follow a change of line noise.
const NOISE_FLOOR_RISE_DB: f32 = 0.2;
/// Quietest level the background estimate tracks (digital silence is −∞ dB).
const NOISE_FLOOR_MIN_DB: f32 = -90.0;
/// 8 kHz samples kept for the periodicity measure (32 ms: two periods at 80 Hz with room).
const PITCH_WINDOW: usize = 256;
/// Pitch lags searched, in 8 kHz samples: 2.5 ms (400 Hz) to 12.5 ms (80 Hz).
const PITCH_LAGS: std::ops::RangeInclusive<usize> = 20..=100;

/// The endpointing durations one `ask` sets; a zero duration keeps the default. The call layer
/// fills this in from its own listen settings, so endpointing depends on nothing above media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListenTimings {
    /// No speech at all for this long → [`VadEvent::NoInput`].
    pub no_input_timeout: Duration,
    /// Silence that ends an utterance.
    pub end_of_speech: Duration,
    /// Longest utterance before it is cut and recognised anyway.
    pub max_utterance: Duration,
}

/// Endpointing settings for one `ask`.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// No speech at all for this long after listening starts → [`VadEvent::NoInput`].
    pub no_input_timeout: Duration,
    /// Silence after speech that ends the utterance (short for open questions, longer for digits
    /// and postcodes so callers reading numbers are not cut off).
    pub end_of_speech: Duration,
    /// Silence after which recognition may start speculatively. Not shorter than the utterance
    /// tail it implies; a value ≥ `end_of_speech` disables speculation.
    pub speculative_pause: Duration,
    /// Longest utterance before it is cut and recognised anyway.
    pub max_utterance: Duration,
    /// Voiced audio an utterance needs in total; less is a click, cough or breath and is
    /// rejected.
    pub min_speech: Duration,
    /// Audio kept from before speech was detected, so the first syllable is not clipped.
    pub pre_roll: Duration,
    /// Continuous voiced audio that starts speech (and barges in on a prompt).
    pub speech_onset: Duration,
    /// `earshot` score from which a frame starts speech.
    pub start_threshold: f32,
    /// `earshot` score from which a frame keeps speech going (hysteresis: lower than start).
    pub continue_threshold: f32,
    /// Frames quieter than this (RMS, dB relative to full scale) are never speech.
    pub energy_floor_dbfs: f32,
    /// To start speech a frame must also be this much louder than the tracked background level:
    /// `earshot` scores loud stationary noise (hiss, hum) around 0.4–0.6, so the score alone
    /// cannot tell it from the first syllables of quiet speech.
    pub min_snr_db: f32,
    /// Normalised autocorrelation at a pitch lag (80–400 Hz) from which a frame counts as voiced
    /// (periodic). Only periodic frames count towards `min_speech`: noise, breath and hiss are
    /// aperiodic, which `earshot` alone does not reliably tell from speech on a phone line.
    pub min_periodicity: f32,
    /// `earshot` score from which a periodic frame (loud and, to start speech, above the
    /// background) is voiced, in place of `start_threshold` and `continue_threshold`:
    /// `earshot` scores the vowels of some low male voices only 0.45-0.57 (flite's rms saying
    /// "No" was never heard), while the periodicity check already keeps noise and breath out.
    pub periodic_threshold: f32,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            no_input_timeout: Duration::from_secs(6),
            end_of_speech: Duration::from_millis(400),
            speculative_pause: Duration::from_millis(200),
            max_utterance: Duration::from_secs(15),
            // A one-word answer is short: flite's "No" has 112 ms of periodic audio, its
            // "Bye" 128 ms (tests/vad_short_answers.rs). Noise is held off by periodicity.
            min_speech: Duration::from_millis(80),
            pre_roll: Duration::from_millis(200),
            speech_onset: Duration::from_millis(32),
            start_threshold: 0.6,
            continue_threshold: 0.5,
            energy_floor_dbfs: -45.0,
            min_snr_db: 6.0,
            min_periodicity: 0.5,
            periodic_threshold: 0.4,
        }
    }
}

impl EndpointConfig {
    /// Settings for digit, number and postcode capture: a 1 s end-of-speech silence so pauses
    /// between groups stay inside one utterance.
    pub fn digits() -> Self {
        EndpointConfig {
            end_of_speech: Duration::from_millis(1000),
            ..Self::default()
        }
    }

    /// Settings from an `ask`'s [`ListenTimings`]; zero durations keep the defaults.
    pub fn from_listen(timings: &ListenTimings) -> Self {
        let mut config = Self::default();
        if !timings.no_input_timeout.is_zero() {
            config.no_input_timeout = timings.no_input_timeout;
        }
        if !timings.end_of_speech.is_zero() {
            config.end_of_speech = timings.end_of_speech;
        }
        if !timings.max_utterance.is_zero() {
            config.max_utterance = timings.max_utterance;
        }
        config
    }
}

/// What the endpointer noticed.
#[derive(Debug, Clone, PartialEq)]
pub enum VadEvent {
    /// Speech began (barge-in point).
    SpeechStarted,
    /// A short pause: recognition may start now; see the module docs for what follows.
    SpeculativeEnd {
        /// 16 kHz mono audio up to the pause.
        utterance: Vec<f32>,
    },
    /// The caller carried on after a [`VadEvent::SpeculativeEnd`]: discard its result.
    SpeechResumed,
    /// The utterance is complete.
    SpeechEnded {
        /// 16 kHz mono audio: pre-roll, speech, and a short tail of the closing silence.
        utterance: Vec<f32>,
        /// Milliseconds of voiced audio in it.
        voiced_ms: u32,
    },
    /// What looked like speech was too short in total (click, cough, breath); listening goes
    /// on and the no-input timer keeps running from the start of listening.
    SpeechRejected,
    /// Nothing was said before the no-input timeout.
    NoInput,
    /// The utterance reached the maximum length and was cut.
    MaxLength {
        /// 16 kHz mono audio, at most `max_utterance` long (plus pre-roll).
        utterance: Vec<f32>,
    },
}

/// Where the endpointer is in one `ask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Listening for speech to start.
    Waiting,
    /// In an utterance.
    Speaking,
    /// A final event was emitted; frames are ignored until `reset`.
    Done,
}

/// Voice activity endpointing for one call. Create once per call, `reset` per `ask`.
pub struct Endpointer {
    config: EndpointConfig,
    detector: Box<Detector>,
    upsampler: Upsampler8kTo16k,
    upsampled: [f32; FRAME_16K],
    block: [f32; VAD_FRAME],
    block_i16: [i16; VAD_FRAME],
    block_fill: usize,
    /// Recent audio while waiting: pre-roll plus the onset run.
    pre_roll: VecDeque<f32>,
    pre_roll_capacity: usize,
    utterance: Vec<f32>,
    phase: Phase,
    /// `now` of the first frame after `reset`: the no-input timer's start.
    listening_since: Option<Instant>,
    /// Consecutive voiced VAD frames while waiting.
    onset_run: usize,
    /// Voiced VAD frames in the current utterance.
    voiced_frames: usize,
    /// Voiced frames that were also periodic (what `min_speech` counts).
    periodic_frames: usize,
    /// The most recent 8 kHz samples (the even samples of the 16 kHz stream), for periodicity.
    pitch_history: [f32; PITCH_WINDOW],
    /// Consecutive unvoiced VAD frames at the end of the current utterance.
    silence_run: usize,
    /// Utterance length (samples) at the end of its last voiced frame.
    voiced_end: usize,
    speculative_sent: bool,
    /// Background level estimate (dBFS): follows quiet frames down quickly, loud ones up slowly.
    noise_floor_db: f32,
    /// Whether `noise_floor_db` has been seeded from a real frame yet.
    noise_floor_seeded: bool,
    speech_started_at: Option<Instant>,
    last_voiced_at: Option<Instant>,
    events: VecDeque<VadEvent>,
    /// Consecutive blocks below the energy floor: past [`QUIET_BEFORE_SKIPPING`] the neural
    /// score is not computed (see `score_block`).
    quiet_blocks: usize,
    /// Whether the detector skipped blocks and must see the last of them before the next
    /// loud one.
    detector_idle: bool,
    /// The last two skipped blocks.
    quiet_tail: [i16; 2 * VAD_FRAME],
    /// Blocks the neural detector scored since this endpointer was made.
    detector_blocks: u64,
}

/// Blocks below the energy floor after which the neural detector is no longer run (about
/// 0.5 s): inside speech, short dips below the floor (stops, breaths) are scored as before;
/// by the end of a longer quiet spell the detector's state has settled on the quiet.
const QUIET_BEFORE_SKIPPING: usize = 32;

impl Endpointer {
    /// A new endpointer, listening from the first frame pushed.
    pub fn new(config: EndpointConfig) -> Self {
        let pre_roll_capacity = ms_to_samples(config.pre_roll + config.speech_onset) + VAD_FRAME;
        Endpointer {
            config,
            detector: Detector::default_boxed(),
            upsampler: Upsampler8kTo16k::new(),
            upsampled: [0.0; FRAME_16K],
            block: [0.0; VAD_FRAME],
            block_i16: [0; VAD_FRAME],
            block_fill: 0,
            pre_roll: VecDeque::with_capacity(pre_roll_capacity),
            pre_roll_capacity,
            utterance: Vec::new(),
            phase: Phase::Waiting,
            listening_since: None,
            onset_run: 0,
            voiced_frames: 0,
            periodic_frames: 0,
            pitch_history: [0.0; PITCH_WINDOW],
            silence_run: 0,
            voiced_end: 0,
            speculative_sent: false,
            noise_floor_db: NOISE_FLOOR_MIN_DB,
            noise_floor_seeded: false,
            speech_started_at: None,
            last_voiced_at: None,
            // At most a few events can arise from one 20 ms frame.
            events: VecDeque::with_capacity(4),
            quiet_blocks: 0,
            detector_idle: false,
            quiet_tail: [0; 2 * VAD_FRAME],
            detector_blocks: 0,
        }
    }

    /// Starts a new `ask` with new settings (the audio stream itself continues).
    pub fn reset_with(&mut self, config: EndpointConfig) {
        self.pre_roll_capacity = ms_to_samples(config.pre_roll + config.speech_onset) + VAD_FRAME;
        self.config = config;
        self.reset();
    }

    /// Starts a new `ask` with the same settings: drops any utterance and restarts the no-input
    /// timer at the next frame. The filter and detector histories are kept, because the caller's
    /// audio is one continuous stream.
    pub fn reset(&mut self) {
        self.phase = Phase::Waiting;
        self.pre_roll.clear();
        self.utterance.clear();
        self.listening_since = None;
        self.onset_run = 0;
        self.clear_utterance_state();
        self.speech_started_at = None;
        self.last_voiced_at = None;
        self.events.clear();
    }

    /// How many 16 ms blocks the neural detector has scored since this endpointer was made:
    /// blocks after a long quiet spell are not scored, which is what keeps a thousand callers
    /// listening in silence cheap.
    pub fn detector_blocks(&self) -> u64 {
        self.detector_blocks
    }

    /// The current settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Whether the caller is in an utterance now.
    pub fn is_speaking(&self) -> bool {
        self.phase == Phase::Speaking
    }

    /// Voiced and periodic (speaking-pitch) audio in the current utterance, or in the onset run
    /// while waiting: what tells speech from noise bursts, which `earshot` alone can score as
    /// speech. Barge-in waits for some of it.
    pub fn periodic_speech(&self) -> Duration {
        frames_to_duration(self.periodic_frames)
    }

    /// When the current or last utterance started.
    pub fn speech_started_at(&self) -> Option<Instant> {
        self.speech_started_at
    }

    /// `now` of the frame holding the last voiced audio: where turn latency is measured from.
    pub fn last_voiced_at(&self) -> Option<Instant> {
        self.last_voiced_at
    }

    /// Feeds one 20 ms frame of 8 kHz caller audio received at `now`. Returns at most one event;
    /// if a frame produces more (rare: a speculative end and the end together), the rest are
    /// returned by the following calls, in order.
    pub fn push_frame(&mut self, now: Instant, frame: &[i16; FRAME_8K]) -> Option<VadEvent> {
        if self.phase != Phase::Done {
            let since = *self.listening_since.get_or_insert(now);
            self.upsampler.process(frame, &mut self.upsampled);
            let mut consumed = 0;
            while consumed < FRAME_16K && self.phase != Phase::Done {
                let take = (VAD_FRAME - self.block_fill).min(FRAME_16K - consumed);
                self.block[self.block_fill..self.block_fill + take]
                    .copy_from_slice(&self.upsampled[consumed..consumed + take]);
                self.block_fill += take;
                consumed += take;
                if self.block_fill == VAD_FRAME {
                    self.block_fill = 0;
                    self.score_block(now);
                }
            }
            // Product rule: the no-input timer runs only while nobody is speaking.
            if self.phase == Phase::Waiting
                && now.saturating_duration_since(since) >= self.config.no_input_timeout
            {
                self.phase = Phase::Done;
                self.events.push_back(VadEvent::NoInput);
            }
        }
        self.events.pop_front()
    }

    fn score_block(&mut self, now: Instant) {
        let energy = rms_dbfs(&self.block).max(NOISE_FLOOR_MIN_DB);
        let loud = energy >= self.config.energy_floor_dbfs;
        for (out, s) in self.block_i16.iter_mut().zip(self.block.iter()) {
            *out = f32_to_i16(*s);
        }
        // A block below the energy floor is never voiced, whatever its score, so after a long
        // quiet spell the neural detector (most of the media clock's work per listening call)
        // is not run. Its recurrent state then stays where the quiet spell had settled it;
        // before the next loud block it is shown the last two quiet blocks, so its window of
        // recent audio is what it would have been had it run throughout.
        self.quiet_blocks = if loud { 0 } else { self.quiet_blocks + 1 };
        let score = if self.quiet_blocks > QUIET_BEFORE_SKIPPING {
            self.detector_idle = true;
            self.quiet_tail.copy_within(VAD_FRAME.., 0);
            self.quiet_tail[VAD_FRAME..].copy_from_slice(&self.block_i16);
            0.0
        } else {
            if self.detector_idle {
                self.detector_idle = false;
                for block in self.quiet_tail.chunks_exact(VAD_FRAME) {
                    self.detector.predict_i16(block);
                }
                self.detector_blocks += 2;
            }
            self.detector_blocks += 1;
            // `predict_i16`, not `predict_f32`: the upsampler can overshoot ±1.0 slightly
            // near full scale, which `predict_f32` asserts against in debug builds.
            self.detector.predict_i16(&self.block_i16)
        };
        let above_background = energy >= self.noise_floor_db + self.config.min_snr_db;
        self.track_noise_floor(energy);
        // The 16 kHz stream's even samples are the 8 kHz input (half-band interpolation).
        self.pitch_history.copy_within(VAD_FRAME / 2.., 0);
        for (slot, s) in self.pitch_history[PITCH_WINDOW - VAD_FRAME / 2..]
            .iter_mut()
            .zip(self.block.iter().step_by(2))
        {
            *slot = *s;
        }
        // Periodicity (81 autocorrelation lags on the media thread) is measured only where it
        // can matter: a block scored below every threshold is neither voiced nor counted.
        let lowest = self
            .config
            .periodic_threshold
            .min(self.config.start_threshold)
            .min(self.config.continue_threshold);
        let periodic = loud && score >= lowest && self.phase != Phase::Done && self.is_periodic();
        let periodic_voiced = periodic && score >= self.config.periodic_threshold;
        match self.phase {
            Phase::Waiting => {
                let voiced = loud
                    && above_background
                    && (score >= self.config.start_threshold || periodic_voiced);
                self.remember_pre_roll();
                if voiced && periodic {
                    self.periodic_frames += 1;
                }
                if voiced {
                    self.onset_run += 1;
                    self.last_voiced_at = Some(now);
                } else {
                    self.onset_run = 0;
                    self.periodic_frames = 0;
                }
                if self.onset_run >= ms_to_frames(self.config.speech_onset).max(1) {
                    self.start_speech(now);
                }
            }
            Phase::Speaking => {
                let voiced = loud && (score >= self.config.continue_threshold || periodic_voiced);
                if voiced && periodic {
                    self.periodic_frames += 1;
                }
                self.utterance.extend_from_slice(&self.block);
                self.continue_speech(now, voiced);
            }
            Phase::Done => {}
        }
    }

    /// Minimum-following estimate of the background: drops quickly to quieter frames and rises
    /// at most [`NOISE_FLOOR_RISE_DB`] per frame.
    fn track_noise_floor(&mut self, energy: f32) {
        if !self.noise_floor_seeded {
            self.noise_floor_seeded = true;
            self.noise_floor_db = energy;
        } else if energy < self.noise_floor_db {
            self.noise_floor_db += 0.5 * (energy - self.noise_floor_db);
        } else {
            self.noise_floor_db = (self.noise_floor_db + NOISE_FLOOR_RISE_DB).min(energy);
        }
    }

    /// Whether the last 32 ms are periodic at a speaking pitch: the peak normalised
    /// autocorrelation over lags of 2.5–12.5 ms reaches `min_periodicity`. White noise peaks
    /// around 0.2 here; voiced speech at 0.6–0.95.
    fn is_periodic(&self) -> bool {
        let x = &self.pitch_history;
        let mut best = 0.0f32;
        for lag in PITCH_LAGS {
            let (head, tail) = (&x[..PITCH_WINDOW - lag], &x[lag..]);
            let mut dot = 0.0f32;
            let mut e0 = 0.0f32;
            let mut e1 = 0.0f32;
            for (a, b) in head.iter().zip(tail.iter()) {
                dot += a * b;
                e0 += a * a;
                e1 += b * b;
            }
            let norm = (e0 * e1).sqrt();
            if norm > 1e-9 {
                best = best.max(dot / norm);
            }
        }
        best >= self.config.min_periodicity
    }

    fn remember_pre_roll(&mut self) {
        let excess = (self.pre_roll.len() + VAD_FRAME).saturating_sub(self.pre_roll_capacity);
        self.pre_roll.drain(..excess.min(self.pre_roll.len()));
        self.pre_roll.extend(self.block.iter().copied());
    }

    fn start_speech(&mut self, now: Instant) {
        self.phase = Phase::Speaking;
        self.speech_started_at = Some(now);
        let periodic_onset = self.periodic_frames;
        self.clear_utterance_state();
        self.periodic_frames = periodic_onset;
        self.utterance.clear();
        // Room for a typical answer up front; longer ones grow (amortised, during speech only).
        self.utterance
            .reserve(ms_to_samples(Duration::from_secs(3)));
        self.utterance.extend(self.pre_roll.drain(..));
        self.voiced_frames = self.onset_run;
        self.voiced_end = self.utterance.len();
        self.onset_run = 0;
        self.events.push_back(VadEvent::SpeechStarted);
    }

    fn continue_speech(&mut self, now: Instant, voiced: bool) {
        if voiced {
            self.voiced_frames += 1;
            self.voiced_end = self.utterance.len();
            self.last_voiced_at = Some(now);
            if self.silence_run > 0 && self.speculative_sent {
                self.speculative_sent = false;
                self.events.push_back(VadEvent::SpeechResumed);
            }
            self.silence_run = 0;
        } else {
            self.silence_run += 1;
        }
        let max_len = ms_to_samples(self.config.max_utterance + self.config.pre_roll);
        if self.utterance.len() >= max_len {
            if frames_to_duration(self.periodic_frames) < self.config.min_speech {
                // Fifteen seconds of noise is not an utterance: never hand it to recognition.
                self.phase = Phase::Waiting;
                self.utterance.clear();
                self.clear_utterance_state();
                self.events.push_back(VadEvent::SpeechRejected);
                return;
            }
            self.utterance.truncate(max_len);
            let utterance = std::mem::take(&mut self.utterance);
            self.phase = Phase::Done;
            self.events.push_back(VadEvent::MaxLength { utterance });
            return;
        }
        let silence = frames_to_duration(self.silence_run);
        let enough_speech = frames_to_duration(self.periodic_frames) >= self.config.min_speech;
        if silence >= self.config.end_of_speech {
            if enough_speech {
                let mut utterance = std::mem::take(&mut self.utterance);
                utterance.truncate(self.voiced_end + self.tail_samples());
                let voiced_ms = u32::try_from(self.voiced_frames * VAD_FRAME / SAMPLES_PER_MS)
                    .unwrap_or(u32::MAX);
                self.phase = Phase::Done;
                self.events.push_back(VadEvent::SpeechEnded {
                    utterance,
                    voiced_ms,
                });
            } else {
                self.phase = Phase::Waiting;
                self.utterance.clear();
                self.clear_utterance_state();
                self.events.push_back(VadEvent::SpeechRejected);
            }
        } else if !self.speculative_sent
            && enough_speech
            && self.config.speculative_pause < self.config.end_of_speech
            && silence >= self.config.speculative_pause
        {
            self.speculative_sent = true;
            let end = (self.voiced_end + self.tail_samples()).min(self.utterance.len());
            self.events.push_back(VadEvent::SpeculativeEnd {
                utterance: self.utterance[..end].to_vec(),
            });
        }
    }

    /// Closing silence kept after the last voiced frame: the same for speculative and final
    /// utterances, so they are identical when the caller does not carry on.
    fn tail_samples(&self) -> usize {
        ms_to_samples(self.config.speculative_pause.min(self.config.end_of_speech))
    }

    fn clear_utterance_state(&mut self) {
        self.voiced_frames = 0;
        self.periodic_frames = 0;
        self.silence_run = 0;
        self.voiced_end = 0;
        self.speculative_sent = false;
    }
}

/// RMS level of a block in dB relative to full scale (`-inf` for digital silence).
fn rms_dbfs(block: &[f32]) -> f32 {
    if block.is_empty() {
        return f32::NEG_INFINITY;
    }
    let mean_square = block.iter().map(|s| s * s).sum::<f32>() / block.len() as f32;
    10.0 * mean_square.log10()
}

fn ms_to_samples(d: Duration) -> usize {
    usize::try_from(d.as_millis())
        .unwrap_or(usize::MAX / SAMPLES_PER_MS)
        .saturating_mul(SAMPLES_PER_MS)
}

/// Whole VAD frames covering `d` (rounded up).
fn ms_to_frames(d: Duration) -> usize {
    ms_to_samples(d).div_ceil(VAD_FRAME)
}

fn frames_to_duration(frames: usize) -> Duration {
    Duration::from_millis((frames * VAD_FRAME / SAMPLES_PER_MS) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::resample::{resample, to_i16};
    use crate::prompts::decode::decode_streamed_wav;
    use std::path::Path;
    use std::process::Command;

    /// Speech from espeak-ng at 8 kHz, normalised to a telephone level (peak −6 dBFS).
    fn speak(text: &str) -> Vec<i16> {
        let out = Command::new("espeak-ng")
            .args(["-v", "en-gb", "-s", "160", "--stdout", text])
            .output()
            .expect("espeak-ng must be installed (apt install espeak-ng)");
        assert!(out.status.success(), "espeak-ng failed");
        let audio = decode_streamed_wav(&out.stdout, Path::new("espeak-ng")).unwrap();
        let samples = resample(&audio.samples, audio.sample_rate, 8000).unwrap();
        let peak = samples.iter().fold(1e-6f32, |m, s| m.max(s.abs()));
        trim_silence(&to_i16(
            &samples.iter().map(|s| s * 0.5 / peak).collect::<Vec<_>>(),
        ))
    }

    /// espeak-ng pads its output with silence; trim it so gaps in tests are exactly what they say.
    fn trim_silence(samples: &[i16]) -> Vec<i16> {
        let first = samples
            .iter()
            .position(|s| s.unsigned_abs() > 300)
            .unwrap_or(0);
        let last = samples
            .iter()
            .rposition(|s| s.unsigned_abs() > 300)
            .unwrap_or(0);
        samples[first..=last.max(first)].to_vec()
    }

    fn silence(ms: usize) -> Vec<i16> {
        vec![0; ms * 8]
    }

    /// Deterministic white noise at roughly `dbfs` RMS.
    fn noise(ms: usize, dbfs: f32, seed: u32) -> Vec<i16> {
        let amplitude = 10f32.powf(dbfs / 20.0) * 32768.0 * 3f32.sqrt();
        let mut state = seed.max(1);
        (0..ms * 8)
            .map(|_| {
                // xorshift32
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                let unit = state as f32 / u32::MAX as f32 * 2.0 - 1.0;
                (unit * amplitude) as i16
            })
            .collect()
    }

    /// Feeds audio in 20 ms frames with a virtual clock; returns (time in ms, event) pairs.
    fn run(endpointer: &mut Endpointer, audio: &[i16]) -> Vec<(u64, VadEvent)> {
        let start = Instant::now();
        let mut events = Vec::new();
        let mut frames = audio.chunks(FRAME_8K).enumerate();
        for (i, chunk) in &mut frames {
            let mut frame = [0i16; FRAME_8K];
            frame[..chunk.len()].copy_from_slice(chunk);
            let now = start + Duration::from_millis(20 * i as u64);
            if let Some(event) = endpointer.push_frame(now, &frame) {
                events.push((20 * i as u64, event));
            }
        }
        events
    }

    fn names(events: &[(u64, VadEvent)]) -> Vec<&'static str> {
        events
            .iter()
            .map(|(_, e)| match e {
                VadEvent::SpeechStarted => "started",
                VadEvent::SpeculativeEnd { .. } => "speculative",
                VadEvent::SpeechResumed => "resumed",
                VadEvent::SpeechEnded { .. } => "ended",
                VadEvent::SpeechRejected => "rejected",
                VadEvent::NoInput => "no-input",
                VadEvent::MaxLength { .. } => "max-length",
            })
            .collect()
    }

    /// Onset time (ms after the speech begins) of `speech` following `lead_ms` of `lead` audio.
    fn onset_after(lead: Vec<i16>, speech: &[i16]) -> (u64, Vec<&'static str>, u64) {
        let lead_ms = (lead.len() / 8) as u64;
        let mut audio = lead;
        audio.extend_from_slice(speech);
        audio.extend(silence(1500));
        let mut endpointer = Endpointer::new(EndpointConfig {
            no_input_timeout: Duration::from_secs(60),
            ..EndpointConfig::default()
        });
        let events = run(&mut endpointer, &audio);
        let started = events
            .iter()
            .find(|(_, e)| matches!(e, VadEvent::SpeechStarted))
            .map(|(ms, _)| ms.saturating_sub(lead_ms))
            .unwrap_or(u64::MAX);
        (started, names(&events), endpointer.detector_blocks())
    }

    #[test]
    fn a_long_silence_is_not_scored_and_the_next_word_starts_as_quickly() {
        let speech = speak("yes");
        let (short_onset, short_kinds, _) = onset_after(silence(400), &speech);
        let (long_onset, long_kinds, scored) = onset_after(silence(10_000), &speech);
        assert_eq!(short_kinds, long_kinds);
        assert_eq!(long_kinds.first(), Some(&"started"), "{long_kinds:?}");
        // The detector resumes on the first loud block from the state the quiet left it in:
        // the onset may come one block later, never more.
        assert!(
            long_onset <= short_onset + 20,
            "onset {long_onset} ms after 10 s of silence, {short_onset} ms after 0.4 s"
        );
        // 10 s of silence is 625 blocks; only the first ~0.5 s of it is scored.
        let speech_blocks = ((speech.len() + 12_000) / 128) as u64;
        assert!(
            scored < 40 + speech_blocks,
            "{scored} blocks scored for {speech_blocks} blocks of speech and its tail"
        );
    }

    #[test]
    fn quiet_line_noise_below_the_floor_is_not_scored_either() {
        let speech = speak("my postcode is R M seventeen");
        let (onset, kinds, scored) = onset_after(noise(8_000, -60.0, 7), &speech);
        assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
        assert!(onset <= 100, "onset {onset} ms after the speech");
        assert!(
            scored < 40 + ((speech.len() + 12_000) / 128) as u64,
            "{scored}"
        );
    }

    #[test]
    fn a_pause_longer_than_the_quiet_spell_inside_an_answer_is_still_one_utterance() {
        // A caller who stops for 0.8 s mid-answer: past the quiet spell that stops scoring, the
        // detector resumes on the second half and the utterance goes on.
        let first = speak("four seven");
        let mut audio = silence(400);
        audio.extend(&first);
        audio.extend(silence(800));
        audio.extend(speak("two nine"));
        audio.extend(silence(2500));
        let mut endpointer = Endpointer::new(EndpointConfig {
            end_of_speech: Duration::from_millis(1500),
            ..EndpointConfig::digits()
        });
        let events = run(&mut endpointer, &audio);
        let kinds = names(&events);
        let starts = kinds.iter().filter(|k| **k == "started").count();
        let ends = kinds.iter().filter(|k| **k == "ended").count();
        assert_eq!((starts, ends), (1, 1), "{kinds:?}");
        let Some((_, VadEvent::SpeechEnded { utterance, .. })) = events.last() else {
            panic!("no end: {kinds:?}");
        };
        // Both halves are in the utterance (16 kHz): more than the first half and the gap.
        let first_and_gap = 2 * (first.len() + 8 * 800);
        assert!(
            utterance.len() > first_and_gap,
            "{} samples, first half and gap {first_and_gap}",
            utterance.len()
        );
    }

    #[test]
    fn a_sentence_is_one_utterance_with_speculative_then_final_end() {
        let speech = speak("I would like to report a missed bin collection please");
        let mut audio = silence(500);
        audio.extend(&speech);
        audio.extend(silence(1500));
        let mut endpointer = Endpointer::new(EndpointConfig::default());
        let events = run(&mut endpointer, &audio);
        let kinds = names(&events);
        assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"ended"), "{kinds:?}");
        assert!(!kinds.contains(&"no-input"), "{kinds:?}");
        let (start_ms, _) = events[0];
        assert!((500..700).contains(&start_ms), "started at {start_ms} ms");
        let Some((
            end_ms,
            VadEvent::SpeechEnded {
                utterance,
                voiced_ms,
            },
        )) = events.last()
        else {
            unreachable!("checked above");
        };
        let speech_ms = (speech.len() / 8) as u64;
        assert!(
            *end_ms >= 500 + speech_ms && *end_ms < 500 + speech_ms + 800,
            "ended at {end_ms}"
        );
        assert!(
            *voiced_ms as u64 > speech_ms / 2,
            "voiced {voiced_ms} of {speech_ms}"
        );
        // 16 kHz, holding the whole sentence.
        assert!(
            utterance.len() >= speech.len() * 2 * 9 / 10,
            "{} samples",
            utterance.len()
        );
        // Each speculative end is either superseded (resumed) or equal to the final audio.
        let last_speculative = events.iter().rev().find_map(|(_, e)| match e {
            VadEvent::SpeculativeEnd { utterance } => Some(utterance),
            _ => None,
        });
        let resumed_after = events
            .iter()
            .rev()
            .take_while(|(_, e)| !matches!(e, VadEvent::SpeculativeEnd { .. }))
            .any(|(_, e)| *e == VadEvent::SpeechResumed);
        if let (Some(spec), false) = (last_speculative, resumed_after) {
            assert_eq!(
                spec, utterance,
                "speculative audio must equal the final audio"
            );
        }
        assert!(!endpointer.is_speaking());
        assert!(endpointer.last_voiced_at().is_some());
    }

    #[test]
    fn digits_with_300ms_gaps_stay_one_utterance_with_1s_end_of_speech() {
        let mut audio = silence(400);
        for (i, word) in ["four", "seven", "two"].iter().enumerate() {
            if i > 0 {
                audio.extend(silence(300));
            }
            audio.extend(speak(word));
        }
        audio.extend(silence(2000));
        let mut endpointer = Endpointer::new(EndpointConfig::digits());
        let events = run(&mut endpointer, &audio);
        let kinds = names(&events);
        let starts = kinds.iter().filter(|k| **k == "started").count();
        let ends = kinds.iter().filter(|k| **k == "ended").count();
        assert_eq!((starts, ends), (1, 1), "{kinds:?}");
        // The speculative ends at the 300 ms gaps were each withdrawn before the real end.
        let speculative = kinds.iter().filter(|k| **k == "speculative").count();
        let resumed = kinds.iter().filter(|k| **k == "resumed").count();
        assert!(
            speculative == resumed + 1 || speculative == resumed,
            "{kinds:?}"
        );
    }

    #[test]
    fn the_same_digits_split_with_a_short_end_of_speech_setting() {
        // Control for the test above: with a 250 ms end-of-speech the 300 ms gaps do end it.
        let mut audio = silence(400);
        audio.extend(speak("four"));
        audio.extend(silence(300));
        audio.extend(speak("seven"));
        let config = EndpointConfig {
            end_of_speech: Duration::from_millis(250),
            // Not before the end of speech: this test is about where the utterance ends.
            speculative_pause: Duration::from_millis(250),
            min_speech: Duration::from_millis(100),
            ..EndpointConfig::default()
        };
        let mut endpointer = Endpointer::new(config);
        let kinds = names(&run(&mut endpointer, &audio));
        assert!(kinds.starts_with(&["started", "ended"]), "{kinds:?}");
    }

    #[test]
    fn noise_and_breath_never_end_an_utterance() {
        let mut endpointer = Endpointer::new(EndpointConfig {
            no_input_timeout: Duration::from_secs(60),
            ..EndpointConfig::default()
        });
        let mut audio = Vec::new();
        // Line hiss, louder hiss, and breath-like bursts of noise.
        audio.extend(noise(3000, -60.0, 1));
        audio.extend(noise(3000, -35.0, 2));
        for seed in 3..8 {
            audio.extend(noise(300, -30.0, seed));
            audio.extend(silence(500));
        }
        // Tone bursts (a ringback or DTMF-like beep).
        for _ in 0..3 {
            audio.extend((0..1600).map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 425.0 * i as f32 / 8000.0).sin()) as i16
            }));
            audio.extend(silence(400));
        }
        let events = run(&mut endpointer, &audio);
        let kinds = names(&events);
        let times: Vec<u64> = events.iter().map(|(t, _)| *t).collect();
        assert!(!kinds.contains(&"ended"), "{kinds:?} at {times:?}");
        assert!(!kinds.contains(&"max-length"), "{kinds:?}");
    }

    #[test]
    fn long_loud_noise_is_rejected_never_cut_as_an_utterance() {
        let config = EndpointConfig {
            max_utterance: Duration::from_secs(2),
            no_input_timeout: Duration::from_secs(60),
            ..EndpointConfig::default()
        };
        let mut endpointer = Endpointer::new(config);
        let mut audio = silence(200);
        audio.extend(noise(8000, -25.0, 11));
        let kinds = names(&run(&mut endpointer, &audio));
        assert!(
            !kinds
                .iter()
                .any(|k| ["ended", "max-length", "speculative"].contains(k)),
            "{kinds:?}"
        );
    }

    #[test]
    fn speech_over_line_noise_is_still_heard() {
        let speech = speak("I need to speak to someone about my council tax");
        let background = noise(500 + speech.len() / 8 + 1500, -50.0, 21);
        let mut audio = background.clone();
        for (i, s) in speech.iter().enumerate() {
            let at = 4000 + i;
            audio[at] = audio[at].saturating_add(*s);
        }
        let mut endpointer = Endpointer::new(EndpointConfig::default());
        let kinds = names(&run(&mut endpointer, &audio));
        assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
        assert_eq!(kinds.last(), Some(&"ended"), "{kinds:?}");
    }

    #[test]
    fn no_input_fires_after_the_timeout_and_only_once() {
        let config = EndpointConfig {
            no_input_timeout: Duration::from_secs(2),
            ..EndpointConfig::default()
        };
        let mut endpointer = Endpointer::new(config);
        let events = run(&mut endpointer, &noise(5000, -65.0, 9));
        assert_eq!(names(&events), vec!["no-input"]);
        assert_eq!(events[0].0, 2000);
        // After reset the timer starts again.
        endpointer.reset();
        let events = run(&mut endpointer, &silence(2100));
        assert_eq!(names(&events), vec!["no-input"]);
    }

    #[test]
    fn max_length_cuts_a_long_utterance() {
        let config = EndpointConfig {
            max_utterance: Duration::from_secs(2),
            ..EndpointConfig::default()
        };
        let mut endpointer = Endpointer::new(config);
        let mut audio = Vec::new();
        while audio.len() < 8000 * 5 {
            audio.extend(speak("and another thing about the bins on my street"));
        }
        let events = run(&mut endpointer, &audio);
        let kinds = names(&events);
        assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
        let Some((at, VadEvent::MaxLength { utterance })) = events.last() else {
            panic!("expected max-length last: {kinds:?}");
        };
        assert!(*at < 3000, "cut at {at} ms");
        assert!(utterance.len() <= 16 * 2200, "{}", utterance.len());
        // Done until reset.
        assert!(run(&mut endpointer, &audio[..8000]).is_empty());
    }

    #[test]
    fn from_listen_keeps_defaults_for_zero_fields() {
        let timings = ListenTimings {
            end_of_speech: Duration::from_millis(900),
            ..ListenTimings::default()
        };
        let config = EndpointConfig::from_listen(&timings);
        assert_eq!(config.end_of_speech, Duration::from_millis(900));
        assert_eq!(config.no_input_timeout, Duration::from_secs(6));
    }
}
