//! The prompt library: every recording in `audio-prompts/`, decoded, resampled to 8 kHz i16 and
//! held in memory, looked up by name and language.
//!
//! Layout: `audio-prompts/<name>.<wav|flac|mp3|ogg>` is the default language (en-GB);
//! `audio-prompts/<lang>/<name>.<ext>` holds other languages. Everything that can go wrong with
//! a file goes wrong at load, never mid-call. Must not touch: RTP, codecs, synthesis (text
//! prompts are the `tts` module's job; recorded files always win over them, which is the caller's
//! lookup order).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::PromptError;
use super::decode::{AUDIO_EXTENSIONS, decode_file};
use super::stretch::{SLOW_FACTOR, time_stretch};
use crate::media::resample::{TELEPHONY_RATE, resample, to_i16};

/// Language of the top-level files in `audio-prompts/`.
pub const DEFAULT_LANGUAGE: &str = "en-GB";

/// One prompt at 8 kHz, at normal speed and time-stretched for callers who asked for "slower".
#[derive(Debug, Clone)]
struct PromptAudio {
    normal: Arc<[i16]>,
    slow: Arc<[i16]>,
}

#[derive(Debug, Clone, Default)]
struct LibraryInner {
    /// Keyed by (lower-case language, name).
    prompts: HashMap<(String, String), PromptAudio>,
    /// Where each prompt came from, for diagnostics.
    sources: HashMap<(String, String), PathBuf>,
}

/// Decoded prompts, ready to play: 8 kHz mono i16 clips shared by every call. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct PromptLibrary {
    inner: Arc<LibraryInner>,
}

impl PromptLibrary {
    /// Loads every prompt under `dir`: the top level as [`DEFAULT_LANGUAGE`] and, for each of
    /// `languages` other than the default, `dir/<lang>/` when it exists (a language without a
    /// directory simply falls back to the default). Every unreadable, undecodable, empty or
    /// ambiguous file is reported together. Blocking file I/O and CPU work: call at start-up or
    /// from `spawn_blocking`.
    pub fn load(dir: &Path, languages: &[&str]) -> Result<PromptLibrary, PromptError> {
        let mut inner = LibraryInner::default();
        let mut problems = Vec::new();
        load_language_dir(dir, DEFAULT_LANGUAGE, &mut inner, &mut problems)?;
        for lang in languages {
            if normalise_language(lang) == normalise_language(DEFAULT_LANGUAGE) {
                continue;
            }
            let lang_dir = dir.join(lang);
            if lang_dir.is_dir() {
                load_language_dir(&lang_dir, lang, &mut inner, &mut problems)?;
            }
        }
        if let Some(error) = PromptError::from_problems(problems) {
            return Err(error);
        }
        tracing::info!(
            dir = %dir.display(),
            prompts = inner.prompts.len(),
            "prompt library loaded"
        );
        Ok(PromptLibrary {
            inner: Arc::new(inner),
        })
    }

    /// Builds a library from clips already at 8 kHz (tests, simulators, generated audio).
    /// `lang` `None` means the default language.
    pub fn from_clips<'a>(
        clips: impl IntoIterator<Item = (&'a str, Option<&'a str>, Arc<[i16]>)>,
    ) -> PromptLibrary {
        let mut inner = LibraryInner::default();
        for (name, lang, clip) in clips {
            let lang = normalise_language(lang.unwrap_or(DEFAULT_LANGUAGE));
            let slow: Arc<[i16]> = time_stretch(&clip, SLOW_FACTOR).into();
            inner
                .prompts
                .insert((lang, name.to_string()), PromptAudio { normal: clip, slow });
        }
        PromptLibrary {
            inner: Arc::new(inner),
        }
    }

    /// This library with `clips` (8 kHz) added under their names; a prompt the library already
    /// has keeps its audio. For prompts with no recording yet (a rehearsal sizes them from
    /// their text).
    pub fn with_clips<'a>(
        &self,
        clips: impl IntoIterator<Item = (&'a str, Option<&'a str>, Arc<[i16]>)>,
    ) -> PromptLibrary {
        let mut inner = LibraryInner::clone(&self.inner);
        for (name, lang, clip) in clips {
            let key = (
                normalise_language(lang.unwrap_or(DEFAULT_LANGUAGE)),
                name.to_string(),
            );
            inner.prompts.entry(key).or_insert_with(|| {
                let slow: Arc<[i16]> = time_stretch(&clip, SLOW_FACTOR).into();
                PromptAudio { normal: clip, slow }
            });
        }
        PromptLibrary {
            inner: Arc::new(inner),
        }
    }

    /// The prompt `name` in `lang`, falling back to the default language.
    pub fn get(&self, name: &str, lang: Option<&str>) -> Option<Arc<[i16]>> {
        self.lookup(name, lang).map(|p| Arc::clone(&p.normal))
    }

    /// The prompt time-stretched to [`SLOW_FACTOR`] × its length at the same pitch, for callers
    /// who asked us to speak slower. Same fallback as [`PromptLibrary::get`].
    pub fn get_slow(&self, name: &str, lang: Option<&str>) -> Option<Arc<[i16]>> {
        self.lookup(name, lang).map(|p| Arc::clone(&p.slow))
    }

    /// Whether `name` exists in exactly `lang` (no fallback): for checkers that report prompts
    /// missing for a declared language.
    pub fn has_exact(&self, name: &str, lang: &str) -> bool {
        self.inner
            .prompts
            .contains_key(&(normalise_language(lang), name.to_string()))
    }

    /// Names of all prompts in the default language, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.names_in(DEFAULT_LANGUAGE)
    }

    /// Names of all prompts recorded in exactly `lang`, sorted.
    pub fn names_in(&self, lang: &str) -> Vec<&str> {
        let lang = normalise_language(lang);
        let mut names: Vec<&str> = self
            .inner
            .prompts
            .keys()
            .filter(|(l, _)| *l == lang)
            .map(|(_, n)| n.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    /// The file a prompt was loaded from, if it came from disk.
    pub fn source(&self, name: &str, lang: Option<&str>) -> Option<&Path> {
        let lang = normalise_language(lang.unwrap_or(DEFAULT_LANGUAGE));
        self.inner
            .sources
            .get(&(lang, name.to_string()))
            .map(PathBuf::as_path)
    }

    /// Checks that every name exists in the default language, reporting all missing ones.
    pub fn require(&self, names: &[&str]) -> Result<(), PromptError> {
        self.require_in(DEFAULT_LANGUAGE, names)
    }

    /// Checks that every name exists in `lang` exactly (no fallback), reporting all missing ones
    /// as `lang/name` (plain `name` for the default language).
    pub fn require_in(&self, lang: &str, names: &[&str]) -> Result<(), PromptError> {
        let default = normalise_language(lang) == normalise_language(DEFAULT_LANGUAGE);
        let missing: Vec<String> = names
            .iter()
            .filter(|name| !self.has_exact(name, lang))
            .map(|name| {
                if default {
                    name.to_string()
                } else {
                    format!("{lang}/{name}")
                }
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(PromptError::Missing { names: missing })
        }
    }

    fn lookup(&self, name: &str, lang: Option<&str>) -> Option<&PromptAudio> {
        let default = normalise_language(DEFAULT_LANGUAGE);
        if let Some(lang) = lang {
            let lang = normalise_language(lang);
            if lang != default
                && let Some(found) = self.inner.prompts.get(&(lang, name.to_string()))
            {
                return Some(found);
            }
        }
        self.inner.prompts.get(&(default, name.to_string()))
    }
}

/// Language tags compare case-insensitively (BCP 47 §2.1.1).
fn normalise_language(lang: &str) -> String {
    lang.to_ascii_lowercase()
}

/// Loads the audio files directly inside `dir` (not recursing: subdirectories are other
/// languages). Per-file problems go to `problems`; failing to list `dir` itself is fatal.
fn load_language_dir(
    dir: &Path,
    lang: &str,
    inner: &mut LibraryInner,
    problems: &mut Vec<PromptError>,
) -> Result<(), PromptError> {
    let unreadable = |source| PromptError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let Some(name) = prompt_name(&path) else {
            continue;
        };
        files.push((name, path));
    }
    // Deterministic order, so duplicate reports and logs are stable.
    files.sort();
    let lang_key = normalise_language(lang);
    for (name, path) in files {
        let key = (lang_key.clone(), name.clone());
        if let Some(first) = inner.sources.get(&key) {
            problems.push(PromptError::Duplicate {
                dir: dir.to_path_buf(),
                name,
                first: first.clone(),
                second: path,
            });
            continue;
        }
        match load_prompt(&path) {
            Ok(audio) => {
                inner.prompts.insert(key.clone(), audio);
            }
            Err(error) => problems.push(error),
        }
        inner.sources.insert(key, path);
    }
    Ok(())
}

/// The prompt name of an audio file (`welcome.wav` → `welcome`); `None` for files that are not
/// prompt audio (other extensions, hidden files, sidecars, non-UTF-8 names).
fn prompt_name(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if !AUDIO_EXTENSIONS.contains(&ext.as_str()) {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.is_empty() || stem.starts_with('.') {
        return None;
    }
    Some(stem.to_string())
}

fn load_prompt(path: &Path) -> Result<PromptAudio, PromptError> {
    let decoded = decode_file(path)?;
    let samples = resample(&decoded.samples, decoded.sample_rate, TELEPHONY_RATE)?;
    let normal = to_i16(&samples);
    if normal.is_empty() {
        return Err(PromptError::Empty {
            path: path.to_path_buf(),
        });
    }
    let slow: Arc<[i16]> = time_stretch(&normal, SLOW_FACTOR).into();
    Ok(PromptAudio {
        normal: normal.into(),
        slow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, seconds: f32) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(path, spec).unwrap();
        let n = (rate as f32 * seconds) as usize;
        for i in 0..n {
            let s = (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin();
            writer.write_sample((s * 8000.0) as i16).unwrap();
        }
        writer.finalize().unwrap();
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("frontdoor-prompts-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn loads_default_and_language_prompts_with_fallback() {
        let dir = temp_dir("lib-ok");
        write_wav(&dir.join("welcome.wav"), 16000, 0.5);
        write_wav(&dir.join("goodbye.wav"), 8000, 0.25);
        fs::write(dir.join("welcome.wav.sha256"), "not audio").unwrap();
        fs::create_dir_all(dir.join("pl")).unwrap();
        write_wav(&dir.join("pl").join("welcome.wav"), 22050, 1.0);

        let lib = PromptLibrary::load(&dir, &["en-GB", "pl", "ro"]).unwrap();
        assert_eq!(lib.names(), vec!["goodbye", "welcome"]);
        assert_eq!(lib.names_in("pl"), vec!["welcome"]);
        assert_eq!(lib.get("welcome", None).unwrap().len(), 4000);
        assert_eq!(lib.get("welcome", Some("PL")).unwrap().len(), 8000);
        // Fallback: Polish has no goodbye, Romanian has nothing.
        assert_eq!(lib.get("goodbye", Some("pl")).unwrap().len(), 2000);
        assert_eq!(lib.get("welcome", Some("ro")).unwrap().len(), 4000);
        assert!(lib.get("nonexistent", None).is_none());
        let slow = lib.get_slow("welcome", None).unwrap();
        assert!((slow.len() as f32 / 4000.0 - SLOW_FACTOR).abs() < 0.05);
        assert!(lib.require(&["welcome", "goodbye"]).is_ok());
        let err = lib
            .require(&["welcome", "missing_a", "missing_b"])
            .unwrap_err();
        assert_eq!(err.to_string(), "missing prompts: missing_a, missing_b");
        let err = lib.require_in("pl", &["welcome", "goodbye"]).unwrap_err();
        assert_eq!(err.to_string(), "missing prompts: pl/goodbye");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_bad_file_is_reported_at_load() {
        let dir = temp_dir("lib-bad");
        write_wav(&dir.join("good.wav"), 8000, 0.1);
        fs::write(dir.join("corrupt.wav"), b"RIFF\x00\x00\x00\x00WAVEgarbage").unwrap();
        fs::write(dir.join("empty.mp3"), b"").unwrap();
        write_wav(&dir.join("twice.wav"), 8000, 0.1);
        write_wav(&dir.join("twice.flac"), 8000, 0.1);
        let err = PromptLibrary::load(&dir, &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, PromptError::Several(ref v) if v.len() == 3),
            "{text}"
        );
        assert!(text.contains("corrupt.wav"), "{text}");
        assert!(text.contains("empty.mp3"), "{text}");
        assert!(text.contains("`twice` is defined twice"), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let err = PromptLibrary::load(Path::new("/nonexistent/audio-prompts"), &[]).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/audio-prompts"),
            "{err}"
        );
    }

    #[test]
    fn from_clips_builds_a_library() {
        let clip: Arc<[i16]> = vec![1i16; 800].into();
        let lib = PromptLibrary::from_clips([("hello", None, clip.clone())]);
        assert_eq!(lib.get("hello", Some("lt")).unwrap(), clip);
        assert!(lib.has_exact("hello", "en-gb"));
    }
}
