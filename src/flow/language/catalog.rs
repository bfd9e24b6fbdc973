//! What prompts exist: recordings in `audio-prompts/` and texts in `prompts.tsv` (rendered to
//! audio at set-up, read by TTS otherwise).
//!
//! Owns the lookup only; it reads the directory listing and the TSV once. Must not decode audio
//! (that is `prompts`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Audio extensions a recording may have.
const AUDIO_EXTENSIONS: [&str; 4] = ["wav", "mp3", "flac", "ogg"];

/// Prompt names known to exist, per language.
#[derive(Debug, Clone, Default)]
pub struct PromptCatalog {
    /// `(lang, name)` of recordings. The default language's recordings may sit at the top.
    files: BTreeSet<(String, String)>,
    /// Recordings at the top of the directory: `lang` unknown until asked with a default.
    top_files: BTreeSet<String>,
    /// `(lang, name)` -> text.
    texts: BTreeMap<(String, String), String>,
}

impl PromptCatalog {
    /// Reads recordings under `prompts_dir` (`name.wav`, `<lang>/name.wav`) and the TSV at
    /// `tsv` (`name<TAB>lang<TAB>text`, `#` comments). Missing paths give an empty catalog part.
    pub fn load(prompts_dir: &Path, tsv: &Path) -> PromptCatalog {
        let mut catalog = PromptCatalog::default();
        if let Ok(entries) = std::fs::read_dir(prompts_dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    let lang = entry.file_name().to_string_lossy().to_string();
                    for name in audio_names(&path) {
                        catalog.files.insert((lang.clone(), name));
                    }
                } else if let Some(name) = audio_name(&path) {
                    catalog.top_files.insert(name);
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(tsv) {
            catalog.add_tsv(&text);
        }
        catalog
    }

    /// Adds `name<TAB>lang<TAB>text` lines.
    pub fn add_tsv(&mut self, text: &str) {
        for line in text.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.splitn(3, '\t');
            if let (Some(name), Some(lang), Some(text)) = (cols.next(), cols.next(), cols.next()) {
                self.texts.insert(
                    (lang.trim().to_string(), name.trim().to_string()),
                    text.trim().to_string(),
                );
            }
        }
    }

    /// Whether a prompt `name` can be played in `lang`.
    pub fn has(&self, lang: &str, name: &str, default_lang: &str) -> bool {
        let key = (lang.to_string(), name.to_string());
        self.files.contains(&key)
            || self.texts.contains_key(&key)
            || (lang == default_lang && self.top_files.contains(name))
    }

    /// The text of a prompt in `lang`, when the TSV has it.
    pub fn text(&self, lang: &str, name: &str) -> Option<&str> {
        self.texts
            .get(&(lang.to_string(), name.to_string()))
            .map(String::as_str)
    }

    /// All known names (for "did you mean").
    pub fn names(&self) -> BTreeSet<&str> {
        self.files
            .iter()
            .map(|(_, n)| n.as_str())
            .chain(self.top_files.iter().map(String::as_str))
            .chain(self.texts.keys().map(|(_, n)| n.as_str()))
            .collect()
    }

    pub fn texts(&self) -> &BTreeMap<(String, String), String> {
        &self.texts
    }
}

/// The default layout next to a flows directory: `<flows>/prompts.tsv` and `<flows>/../audio-prompts`.
pub fn default_paths(flows_dir: &Path) -> (PathBuf, PathBuf) {
    let parent = flows_dir.parent().unwrap_or(Path::new("."));
    (parent.join("audio-prompts"), flows_dir.join("prompts.tsv"))
}

/// The prompt catalog for a single flow file: its directory's `prompts.tsv` and the
/// `audio-prompts/` beside that directory.
pub fn catalog_for(flow_file: &Path) -> PromptCatalog {
    let dir = flow_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (prompts_dir, tsv) = default_paths(dir);
    PromptCatalog::load(&prompts_dir, &tsv)
}

fn audio_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| audio_name(&e.path()))
                .collect()
        })
        .unwrap_or_default()
}

fn audio_name(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if !AUDIO_EXTENSIONS.contains(&ext.as_str()) {
        return None;
    }
    Some(path.file_stem()?.to_str()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_entries_count_as_prompts_per_language() {
        let mut c = PromptCatalog::default();
        c.add_tsv("# name\tlang\ttext\nwelcome\ten\tHello.\n");
        assert!(c.has("en", "welcome", "en"));
        assert!(!c.has("cy", "welcome", "en"));
        assert_eq!(c.text("en", "welcome"), Some("Hello."));
    }
}
