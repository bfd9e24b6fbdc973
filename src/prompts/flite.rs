//! flite as a second [`Synthesizer`]: other voices (`slt`, `rms`, `awb`, `kal`) for evaluation
//! and for councils that prefer them. English only.
//!
//! flite cannot read text from a pipe or write a usable WAV to one, so each request uses a
//! private temporary directory (text file in, WAV file out) that is removed afterwards. Blocking:
//! never call on the media path. Must not touch: anything outside its temporary directory.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::decode::decode_file;
use super::tts::{
    SpeechRate, Synthesizer, TtsError, Voice, check_text, check_voice_name, run_engine,
    to_telephony,
};

const ENGINE: &str = "flite";

/// Distinguishes concurrent requests' temporary directories within this process.
static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// flite run as a subprocess with `-f text -o wav`; slow speech via `duration_stretch`.
#[derive(Debug, Clone)]
pub struct FliteSynthesizer {
    program: String,
}

impl Default for FliteSynthesizer {
    fn default() -> Self {
        Self::new()
    }
}

impl FliteSynthesizer {
    /// Uses `flite` from `PATH`.
    pub fn new() -> Self {
        FliteSynthesizer {
            program: "flite".to_string(),
        }
    }

    /// A flite voice by name (`slt`, `rms`, `awb`, `kal`), speaking English.
    pub fn voice(name: &str) -> Voice {
        Voice {
            language: "en".to_string(),
            name: name.to_string(),
        }
    }
}

impl Synthesizer for FliteSynthesizer {
    fn synthesize(
        &self,
        text: &str,
        voice: &Voice,
        rate: SpeechRate,
    ) -> Result<Arc<[i16]>, TtsError> {
        let text = check_text(text)?;
        check_voice_name(&voice.name)?;
        let scratch = ScratchDir::create()?;
        let text_path = scratch.0.join("text.txt");
        let wav_path = scratch.0.join("out.wav");
        fs::write(&text_path, text).map_err(|e| engine_error(format!("writing text: {e}")))?;
        let mut command = Command::new(&self.program);
        command.arg("-voice").arg(&voice.name);
        if rate == SpeechRate::Slow {
            // Durations × 1.33 ≈ 0.75× the speaking rate.
            command.arg("--setf").arg("duration_stretch=1.33");
        }
        command.arg("-f").arg(&text_path).arg("-o").arg(&wav_path);
        run_engine(ENGINE, command, None)?;
        let decoded = decode_file(&wav_path).map_err(|e| engine_error(e.to_string()))?;
        to_telephony(ENGINE, &decoded.samples, decoded.sample_rate)
    }
}

fn engine_error(reason: String) -> TtsError {
    TtsError::Engine {
        engine: ENGINE,
        reason,
    }
}

/// A private temporary directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<ScratchDir, TtsError> {
        let n = REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("frontdoor-flite-{}-{n}", std::process::id()));
        // A leftover from a crashed earlier process with the same pid is stale: replace it.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).map_err(|e| engine_error(format!("temporary directory: {e}")))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Whether a path is one of this process's scratch directories.
    fn is_scratch(path: &Path) -> bool {
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("frontdoor-flite-{}-", std::process::id())))
    }

    #[test]
    fn flite_speaks_at_8k_slow_is_longer_and_cleans_up() {
        let synth = FliteSynthesizer::new();
        let voice = FliteSynthesizer::voice("slt");
        let normal = synth
            .synthesize("-f /etc/passwd four seven two", &voice, SpeechRate::Normal)
            .unwrap();
        assert!(normal.len() > 8000, "{}", normal.len());
        let slow = synth
            .synthesize("-f /etc/passwd four seven two", &voice, SpeechRate::Slow)
            .unwrap();
        let ratio = slow.len() as f32 / normal.len() as f32;
        assert!(ratio > 1.15 && ratio < 1.6, "{ratio}");
        let leftovers = fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| is_scratch(&e.path()))
            .count();
        assert_eq!(leftovers, 0);
    }
}
