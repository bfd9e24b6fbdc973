//! Rendering a set of text prompts to WAV files with a [`Synthesizer`]: how set-up generates the
//! default council prompts into `audio-prompts/`.
//!
//! Idempotent: a prompt is re-rendered only when its text (or voice/rate) changed, detected by a
//! `<name>.wav.sha256` sidecar. A file without a sidecar is a designer's recording and is never
//! overwritten. Must not touch: the library's in-memory cache (reload it after rendering).

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::PromptError;
use super::decode::AUDIO_EXTENSIONS;
use super::tts::{SpeechRate, Synthesizer, Voice};
use crate::media::resample::TELEPHONY_RATE;

/// What [`render_prompt_set`] did with each prompt.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenderReport {
    /// Newly synthesised (missing, or text changed).
    pub rendered: Vec<String>,
    /// Already up to date.
    pub unchanged: Vec<String>,
    /// Left alone because a recording without our sidecar exists (recordings win).
    pub recorded: Vec<String>,
}

/// Synthesises each `(name, text)` into `dir/<name>.wav` (8 kHz mono 16-bit) with `voice`,
/// skipping prompts whose sidecar hash matches and prompts that have a recording. Every failure
/// is reported together; prompts that succeeded stay written.
pub fn render_prompt_set(
    entries: &[(&str, &str)],
    dir: &Path,
    voice: &Voice,
    synth: &dyn Synthesizer,
) -> Result<RenderReport, PromptError> {
    fs::create_dir_all(dir).map_err(|source| PromptError::Unreadable {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut report = RenderReport::default();
    let mut problems = Vec::new();
    for (name, text) in entries {
        if let Err(e) = check_name(name) {
            problems.push(e);
            continue;
        }
        let wav = dir.join(format!("{name}.wav"));
        let sidecar = sidecar_path(&wav);
        let hash = text_hash(text, voice);
        let ours = fs::read_to_string(&sidecar).ok();
        if ours.is_none() && has_recording(dir, name) {
            report.recorded.push(name.to_string());
            continue;
        }
        if wav.is_file() && ours.as_deref().map(str::trim) == Some(hash.as_str()) {
            report.unchanged.push(name.to_string());
            continue;
        }
        match render_one(name, text, voice, synth, &wav, &sidecar, &hash) {
            Ok(()) => report.rendered.push(name.to_string()),
            Err(e) => problems.push(e),
        }
    }
    match PromptError::from_problems(problems) {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

fn render_one(
    name: &str,
    text: &str,
    voice: &Voice,
    synth: &dyn Synthesizer,
    wav: &Path,
    sidecar: &Path,
    hash: &str,
) -> Result<(), PromptError> {
    let clip = synth
        .synthesize(text, voice, SpeechRate::Normal)
        .map_err(|source| PromptError::Synthesis {
            name: name.to_string(),
            source,
        })?;
    let unwritable = |path: &Path, reason: String| PromptError::Unwritable {
        path: path.to_path_buf(),
        reason,
    };
    // Write to a temporary name and rename, so a crash never leaves a half-written prompt that
    // the library would then refuse at load.
    let tmp = wav.with_extension("wav.tmp");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: TELEPHONY_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let write = || -> Result<(), hound::Error> {
        let mut writer = hound::WavWriter::create(&tmp, spec)?;
        for sample in clip.iter() {
            writer.write_sample(*sample)?;
        }
        writer.finalize()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(unwritable(wav, e.to_string()));
    }
    fs::rename(&tmp, wav).map_err(|e| unwritable(wav, e.to_string()))?;
    fs::write(sidecar, format!("{hash}\n")).map_err(|e| unwritable(sidecar, e.to_string()))?;
    Ok(())
}

/// `welcome.wav` → `welcome.wav.sha256`.
fn sidecar_path(wav: &Path) -> PathBuf {
    let mut name = wav.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Hash of everything that determines the audio: voice and text.
fn text_hash(text: &str, voice: &Voice) -> String {
    let mut hasher = Sha256::new();
    hasher.update(voice.name.as_bytes());
    hasher.update([0u8]);
    hasher.update(text.as_bytes());
    hex::encode(hasher.finalize())
}

/// Whether any audio file for `name` exists in `dir` (a recording in any supported format).
fn has_recording(dir: &Path, name: &str) -> bool {
    AUDIO_EXTENSIONS
        .iter()
        .any(|ext| dir.join(format!("{name}.{ext}")).is_file())
}

/// Prompt names become file names: plain identifiers only.
fn check_name(name: &str) -> Result<(), PromptError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.starts_with('.') {
        Some("starts with a dot")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        Some("only letters, digits, `_`, `-` and `.` are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(PromptError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::tts::TtsError;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct ToneSynth(AtomicUsize);

    impl Synthesizer for ToneSynth {
        fn synthesize(&self, text: &str, _: &Voice, _: SpeechRate) -> Result<Arc<[i16]>, TtsError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if text == "fail" {
                return Err(TtsError::EmptyText);
            }
            Ok(vec![1000i16; 80 * text.len()].into())
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("frontdoor-render-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn renders_once_rerenders_on_change_and_never_overwrites_recordings() {
        let dir = temp_dir("idem");
        let synth = ToneSynth(AtomicUsize::new(0));
        let voice = Voice::default_espeak();
        let report = render_prompt_set(
            &[("welcome", "hello"), ("bye", "goodbye")],
            &dir,
            &voice,
            &synth,
        )
        .unwrap();
        assert_eq!(report.rendered, vec!["welcome", "bye"]);
        let reader = hound::WavReader::open(dir.join("welcome.wav")).unwrap();
        assert_eq!(reader.spec().sample_rate, 8000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(reader.len(), 400);

        let report = render_prompt_set(
            &[("welcome", "hello"), ("bye", "goodbye")],
            &dir,
            &voice,
            &synth,
        )
        .unwrap();
        assert_eq!(report.unchanged, vec!["welcome", "bye"]);
        assert_eq!(synth.0.load(Ordering::SeqCst), 2);

        let report =
            render_prompt_set(&[("welcome", "hello there")], &dir, &voice, &synth).unwrap();
        assert_eq!(report.rendered, vec!["welcome"]);

        // A designer's recording (no sidecar) wins.
        fs::write(dir.join("menu.mp3"), b"pretend mp3").unwrap();
        let report = render_prompt_set(&[("menu", "press one")], &dir, &voice, &synth).unwrap();
        assert_eq!(report.recorded, vec!["menu"]);
        assert!(!dir.join("menu.wav").exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reports_every_failure_and_keeps_the_rest() {
        let dir = temp_dir("fail");
        let synth = ToneSynth(AtomicUsize::new(0));
        let err = render_prompt_set(
            &[("ok", "fine"), ("../escape", "x"), ("bad", "fail")],
            &dir,
            &Voice::default_espeak(),
            &synth,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("../escape") && text.contains("`bad`"),
            "{text}"
        );
        assert!(dir.join("ok.wav").is_file());
        fs::remove_dir_all(&dir).unwrap();
    }
}
