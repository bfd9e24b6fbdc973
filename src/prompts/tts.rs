//! Speech synthesis for text prompts and read-backs: the [`Synthesizer`] trait, the espeak-ng
//! engine (a subprocess, no shell), and a bounded LRU cache keyed by text, voice and rate.
//!
//! A `Synthesizer` blocks (it runs a process and resamples): it must never be called on the media
//! path. The call runtime runs it via `tokio::task::spawn_blocking` (or at load time for
//! rendering prompt sets). Must not touch: RTP, codecs, the prompt library's files.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::decode::decode_streamed_wav;
use crate::media::resample::{TELEPHONY_RATE, resample, to_i16};

// Synthesis errors live in the error leaf (which must not depend on this file); re-exported here
// because they are part of the `Synthesizer` API.
pub use super::error::TtsError;

/// Longest text accepted in one synthesis request. Read-backs and prompts are a sentence or
/// two; anything longer is a bug upstream and would hold a worker for seconds.
pub const MAX_TEXT_CHARS: usize = 2000;

/// How long a synthesis process may run before it is killed.
const SYNTHESIS_TIMEOUT: Duration = Duration::from_secs(15);

/// How fast to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpeechRate {
    /// The normal rate.
    #[default]
    Normal,
    /// About 0.75× the normal rate, for callers who asked us to slow down.
    Slow,
}

/// A voice: the caller-facing language and the engine's voice identifier for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Voice {
    /// BCP 47 language tag (`en-GB`, `pl`, `ro`, `lt`).
    pub language: String,
    /// The engine's voice name (espeak-ng: `en-gb`, `pl`...; flite: `slt`, `rms`...).
    pub name: String,
}

impl Voice {
    /// The espeak-ng voice for a language: en-GB by default, Polish, Romanian and Lithuanian by
    /// their own voices; any other plain tag is passed through lower-cased (espeak-ng reports an
    /// unknown voice as an error, which surfaces as [`TtsError::Engine`]).
    pub fn espeak_for_language(language: &str) -> Voice {
        let lower = language.to_ascii_lowercase();
        let name = match lower.as_str() {
            "" | "en" | "en-gb" => "en-gb".to_string(),
            "en-us" => "en-us".to_string(),
            "pl" | "pl-pl" => "pl".to_string(),
            "ro" | "ro-ro" => "ro".to_string(),
            "lt" | "lt-lt" => "lt".to_string(),
            other => other.to_string(),
        };
        let language = if lower.is_empty() {
            super::library::DEFAULT_LANGUAGE.to_string()
        } else {
            language.to_string()
        };
        Voice { language, name }
    }

    /// The default voice (en-GB).
    pub fn default_espeak() -> Voice {
        Voice::espeak_for_language(super::library::DEFAULT_LANGUAGE)
    }
}

/// Turns text into 8 kHz mono i16 audio.
///
/// Blocking: implementations run processes or heavy CPU work. Never call on the media path; the
/// runtime calls it from `spawn_blocking`.
pub trait Synthesizer: Send + Sync {
    /// Synthesises `text` with `voice` at `rate`, returning 8 kHz mono samples.
    fn synthesize(
        &self,
        text: &str,
        voice: &Voice,
        rate: SpeechRate,
    ) -> Result<Arc<[i16]>, TtsError>;
}

/// espeak-ng run as a subprocess: `espeak-ng -v <voice> -s <wpm> --stdin --stdout`, the text
/// written to its stdin (never through a shell or argv, so no text can become an option), WAV
/// read from stdout, decoded and resampled from 22.05 kHz to 8 kHz.
#[derive(Debug, Clone)]
pub struct EspeakSynthesizer {
    program: String,
    normal_wpm: u32,
    /// Voice names the installed espeak-ng knows, listed once on first use: espeak-ng silently
    /// falls back to its default voice for an unknown name, which would read Polish text in an
    /// English voice.
    voices: OnceLock<Result<HashSet<String>, String>>,
}

impl Default for EspeakSynthesizer {
    fn default() -> Self {
        Self::new()
    }
}

impl EspeakSynthesizer {
    /// Words per minute at [`SpeechRate::Normal`]: a little under espeak-ng's default (175),
    /// which is brisk for a telephone line.
    pub const NORMAL_WPM: u32 = 160;

    /// Uses `espeak-ng` from `PATH`.
    pub fn new() -> Self {
        Self::with_program("espeak-ng")
    }

    /// Uses a specific program path (tests, non-standard installs).
    pub fn with_program(program: impl Into<String>) -> Self {
        EspeakSynthesizer {
            program: program.into(),
            normal_wpm: Self::NORMAL_WPM,
            voices: OnceLock::new(),
        }
    }

    /// Whether the installed espeak-ng has `name` (a language such as `en-gb`, or a voice
    /// file name such as `en`; a `+variant` suffix is ignored).
    pub fn has_voice(&self, name: &str) -> Result<bool, TtsError> {
        let voices = self.voices.get_or_init(|| self.list_voices());
        let base = name.split('+').next().unwrap_or(name);
        match voices {
            Ok(voices) => Ok(voices.contains(&base.to_ascii_lowercase())),
            Err(reason) => Err(TtsError::Engine {
                engine: "espeak-ng",
                reason: reason.clone(),
            }),
        }
    }

    /// Parses `espeak-ng --voices`: `Pty Language Age/Gender VoiceName File Other`.
    fn list_voices(&self) -> Result<HashSet<String>, String> {
        let mut command = Command::new(&self.program);
        command.arg("--voices");
        let out = run_engine("espeak-ng", command, None).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out);
        let mut voices = HashSet::new();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let Some(language) = fields.get(1) {
                voices.insert(language.to_ascii_lowercase());
            }
            if let Some(file) = fields.get(4) {
                let file = file.rsplit('/').next().unwrap_or(file);
                voices.insert(file.to_ascii_lowercase());
            }
        }
        if voices.is_empty() {
            return Err("espeak-ng --voices listed no voices".to_string());
        }
        Ok(voices)
    }

    fn wpm(&self, rate: SpeechRate) -> u32 {
        match rate {
            SpeechRate::Normal => self.normal_wpm,
            SpeechRate::Slow => self.normal_wpm * 3 / 4,
        }
    }
}

impl Synthesizer for EspeakSynthesizer {
    fn synthesize(
        &self,
        text: &str,
        voice: &Voice,
        rate: SpeechRate,
    ) -> Result<Arc<[i16]>, TtsError> {
        const ENGINE: &str = "espeak-ng";
        let text = check_text(text)?;
        check_voice_name(&voice.name)?;
        if !self.has_voice(&voice.name)? {
            return Err(TtsError::UnknownVoice(voice.name.clone()));
        }
        let mut command = Command::new(&self.program);
        command
            .arg("-v")
            .arg(&voice.name)
            .arg("-s")
            .arg(self.wpm(rate).to_string())
            .arg("--stdin")
            .arg("--stdout");
        let wav = run_engine(ENGINE, command, Some(text.as_bytes()))?;
        let decoded =
            decode_streamed_wav(&wav, Path::new(ENGINE)).map_err(|e| TtsError::Engine {
                engine: ENGINE,
                reason: e.to_string(),
            })?;
        to_telephony(ENGINE, &decoded.samples, decoded.sample_rate)
    }
}

/// Wraps a synthesiser with a bounded least-recently-used cache keyed by (text, voice, rate).
/// Prompts and common read-backs are synthesised once per process.
pub struct CachingSynthesizer<S> {
    inner: S,
    cache: Mutex<LruCache>,
}

impl<S: Synthesizer> CachingSynthesizer<S> {
    /// Caches up to `capacity` clips (at least 1).
    pub fn new(inner: S, capacity: usize) -> Self {
        CachingSynthesizer {
            inner,
            cache: Mutex::new(LruCache::new(capacity.max(1))),
        }
    }

    /// Number of cached clips.
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.entries.len()).unwrap_or(0)
    }
}

impl<S: Synthesizer> Synthesizer for CachingSynthesizer<S> {
    fn synthesize(
        &self,
        text: &str,
        voice: &Voice,
        rate: SpeechRate,
    ) -> Result<Arc<[i16]>, TtsError> {
        let key = CacheKey {
            text: text.to_string(),
            voice: voice.clone(),
            rate,
        };
        // A poisoned lock only means another thread panicked mid-update of plain data: the
        // cache is still consistent enough to use.
        if let Some(hit) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(hit);
        }
        // Synthesise outside the lock so other calls' lookups are not held up by a process.
        let clip = self.inner.synthesize(text, voice, rate)?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Arc::clone(&clip));
        Ok(clip)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    text: String,
    voice: Voice,
    rate: SpeechRate,
}

/// A small LRU: a map with a use counter per entry; eviction scans for the oldest, which is
/// cheap at the few hundred entries a prompt cache holds and runs only on insert.
struct LruCache {
    capacity: usize,
    clock: u64,
    entries: HashMap<CacheKey, (Arc<[i16]>, u64)>,
}

impl LruCache {
    fn new(capacity: usize) -> Self {
        LruCache {
            capacity,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    fn get(&mut self, key: &CacheKey) -> Option<Arc<[i16]>> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|(clip, used)| {
            *used = clock;
            Arc::clone(clip)
        })
    }

    fn insert(&mut self, key: CacheKey, clip: Arc<[i16]>) {
        self.clock += 1;
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(key, (clip, self.clock));
    }
}

/// Rejects empty and over-long text; returns it trimmed.
pub(crate) fn check_text(text: &str) -> Result<&str, TtsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TtsError::EmptyText);
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(TtsError::TextTooLong {
            chars,
            limit: MAX_TEXT_CHARS,
        });
    }
    Ok(text)
}

/// Voice names are engine identifiers: ASCII letters, digits, `-`, `_`, `+`, not starting with
/// `-` (so a name can never be read as an option).
pub(crate) fn check_voice_name(name: &str) -> Result<(), TtsError> {
    let plain = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'+');
    if plain {
        Ok(())
    } else {
        Err(TtsError::InvalidVoice(name.to_string()))
    }
}

/// Runs an engine with optional stdin, collecting stdout, with a deadline. The child is killed
/// and reaped on timeout or error, so no process outlives the call.
pub(crate) fn run_engine(
    engine: &'static str,
    mut command: Command,
    stdin: Option<&[u8]>,
) -> Result<Vec<u8>, TtsError> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|source| TtsError::Spawn { engine, source })?;
    let guard = ChildGuard(&mut child);
    if let (Some(input), Some(mut pipe)) = (stdin, guard.0.stdin.take()) {
        // Text is at most a few KB: it fits the pipe buffer, so this cannot block on a child
        // that is not reading yet. Dropping `pipe` closes stdin, which starts synthesis.
        pipe.write_all(input).map_err(|e| TtsError::Engine {
            engine,
            reason: format!("writing text: {e}"),
        })?;
    }
    let stdout = guard.0.stdout.take();
    let stderr = guard.0.stderr.take();
    // Drain both pipes on helper threads so a chatty child never blocks on a full pipe.
    let out_reader = std::thread::spawn(move || read_all(stdout));
    let err_reader = std::thread::spawn(move || read_all(stderr));
    let deadline = Instant::now() + SYNTHESIS_TIMEOUT;
    let status = loop {
        match guard.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // The guard kills and reaps the child; the readers then see EOF.
                drop(guard);
                let _ = out_reader.join();
                let _ = err_reader.join();
                return Err(TtsError::Timeout {
                    engine,
                    timeout: SYNTHESIS_TIMEOUT,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(TtsError::Engine {
                    engine,
                    reason: format!("waiting: {e}"),
                });
            }
        }
    };
    std::mem::forget(guard); // already exited and reaped by try_wait
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let stderr = String::from_utf8_lossy(&err);
        return Err(TtsError::Engine {
            engine,
            reason: format!("{status}: {}", stderr.trim()),
        });
    }
    Ok(out)
}

/// Kills and reaps the child when dropped (error paths, timeouts, panics).
struct ChildGuard<'a>(&'a mut std::process::Child);

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_all(pipe: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut buf);
    }
    buf
}

/// Resamples engine output to 8 kHz i16, rejecting silence-only output.
pub(crate) fn to_telephony(
    engine: &'static str,
    samples: &[f32],
    rate: u32,
) -> Result<Arc<[i16]>, TtsError> {
    let resampled = resample(samples, rate, TELEPHONY_RATE).map_err(|e| TtsError::Engine {
        engine,
        reason: e.to_string(),
    })?;
    let clip = to_i16(&resampled);
    if clip.iter().all(|s| s.unsigned_abs() < 64) {
        return Err(TtsError::Engine {
            engine,
            reason: "produced no audible speech".to_string(),
        });
    }
    Ok(clip.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct CountingSynth(AtomicUsize);

    impl Synthesizer for CountingSynth {
        fn synthesize(&self, text: &str, _: &Voice, _: SpeechRate) -> Result<Arc<[i16]>, TtsError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(vec![text.len() as i16; 8].into())
        }
    }

    #[test]
    fn espeak_speaks_english_and_the_other_languages_at_8k() {
        let synth = EspeakSynthesizer::new();
        let normal = synth
            .synthesize(
                "Your reference is four seven two.",
                &Voice::default_espeak(),
                SpeechRate::Normal,
            )
            .unwrap();
        // A sentence of that length takes well over a second and under ten.
        assert!(
            normal.len() > 8000 && normal.len() < 80_000,
            "{}",
            normal.len()
        );
        let slow = synth
            .synthesize(
                "Your reference is four seven two.",
                &Voice::default_espeak(),
                SpeechRate::Slow,
            )
            .unwrap();
        let ratio = slow.len() as f32 / normal.len() as f32;
        assert!(ratio > 1.15 && ratio < 1.6, "slow/normal {ratio}");
        for lang in ["pl", "ro", "lt"] {
            let clip = synth
                .synthesize(
                    "dzień dobry",
                    &Voice::espeak_for_language(lang),
                    SpeechRate::Normal,
                )
                .unwrap();
            assert!(clip.len() > 2000, "{lang}: {}", clip.len());
        }
    }

    #[test]
    fn text_starting_with_a_dash_is_spoken_not_parsed_as_an_option() {
        let synth = EspeakSynthesizer::new();
        let clip = synth
            .synthesize(
                "--version -w /tmp/x",
                &Voice::default_espeak(),
                SpeechRate::Normal,
            )
            .unwrap();
        assert!(clip.len() > 4000);
    }

    #[test]
    fn bad_inputs_are_refused_before_running_anything() {
        let synth = EspeakSynthesizer::with_program("/nonexistent/espeak-ng");
        let voice = Voice::default_espeak();
        assert!(matches!(
            synth.synthesize("  ", &voice, SpeechRate::Normal),
            Err(TtsError::EmptyText)
        ));
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        assert!(matches!(
            synth.synthesize(&long, &voice, SpeechRate::Normal),
            Err(TtsError::TextTooLong { .. })
        ));
        let evil = Voice {
            language: "en".into(),
            name: "-w/tmp/x".into(),
        };
        assert!(matches!(
            synth.synthesize("hi", &evil, SpeechRate::Normal),
            Err(TtsError::InvalidVoice(_))
        ));
        let err = synth
            .synthesize("hi", &voice, SpeechRate::Normal)
            .unwrap_err();
        assert!(err.to_string().contains("cannot run espeak-ng"), "{err}");
    }

    #[test]
    fn unknown_voice_is_an_engine_error() {
        let synth = EspeakSynthesizer::new();
        let voice = Voice {
            language: "xx".into(),
            name: "no-such-voice".into(),
        };
        assert!(
            synth
                .synthesize("hello", &voice, SpeechRate::Normal)
                .is_err()
        );
    }

    #[test]
    fn cache_hits_and_evicts_least_recently_used() {
        let synth = CachingSynthesizer::new(CountingSynth(AtomicUsize::new(0)), 2);
        let voice = Voice::default_espeak();
        let a1 = synth.synthesize("a", &voice, SpeechRate::Normal).unwrap();
        let a2 = synth.synthesize("a", &voice, SpeechRate::Normal).unwrap();
        assert!(Arc::ptr_eq(&a1, &a2));
        assert_eq!(synth.inner.0.load(Ordering::SeqCst), 1);
        // Rate is part of the key.
        synth.synthesize("a", &voice, SpeechRate::Slow).unwrap();
        assert_eq!(synth.inner.0.load(Ordering::SeqCst), 2);
        // Touch "a"/Normal, then insert a third: "a"/Slow is the least recently used.
        synth.synthesize("a", &voice, SpeechRate::Normal).unwrap();
        synth.synthesize("bb", &voice, SpeechRate::Normal).unwrap();
        assert_eq!(synth.cached(), 2);
        synth.synthesize("a", &voice, SpeechRate::Normal).unwrap();
        assert_eq!(synth.inner.0.load(Ordering::SeqCst), 3);
        synth.synthesize("a", &voice, SpeechRate::Slow).unwrap();
        assert_eq!(synth.inner.0.load(Ordering::SeqCst), 4);
    }
}
