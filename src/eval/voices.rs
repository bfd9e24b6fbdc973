//! The synthetic callers: which voices speak each utterance, and the audio they produce
//! (8 kHz mono, ready for G.711). Reuses the product's own engines (`prompts::tts`,
//! `prompts::flite`), so the audio is what the prompt renderer would make of the same text.

use std::sync::Arc;

use super::EvalError;
use super::dataset::Utterance;
use crate::prompts::flite::FliteSynthesizer;
use crate::prompts::tts::{EspeakSynthesizer, SpeechRate, Synthesizer, Voice};

/// One synthetic speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerVoice {
    /// espeak-ng with a voice name (`en-gb`, `en-us`, `en-gb+m3`...) and a rate.
    Espeak { name: String, slow: bool },
    /// flite with one of its voices (`kal`, `slt`, `rms`, `awb`).
    Flite { name: String },
}

impl CallerVoice {
    /// Parses `espeak:en-gb`, `espeak:en-us:slow`, `flite:slt`.
    pub fn parse(spec: &str) -> Result<CallerVoice, EvalError> {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            ["espeak", name] => Ok(CallerVoice::Espeak {
                name: (*name).to_string(),
                slow: false,
            }),
            ["espeak", name, "slow"] => Ok(CallerVoice::Espeak {
                name: (*name).to_string(),
                slow: true,
            }),
            ["flite", name] => Ok(CallerVoice::Flite {
                name: (*name).to_string(),
            }),
            _ => Err(EvalError::Usage(format!(
                "voice `{spec}`: expected espeak:NAME[:slow] or flite:NAME"
            ))),
        }
    }

    /// A short label for tables (`espeak:en-gb:slow`).
    pub fn label(&self) -> String {
        match self {
            CallerVoice::Espeak { name, slow: false } => format!("espeak:{name}"),
            CallerVoice::Espeak { name, slow: true } => format!("espeak:{name}:slow"),
            CallerVoice::Flite { name } => format!("flite:{name}"),
        }
    }

    /// The espeak-ng voice for a non-English row's language.
    pub fn for_language(language: &str) -> CallerVoice {
        CallerVoice::Espeak {
            name: Voice::espeak_for_language(language).name,
            slow: false,
        }
    }

    /// Speaks `text` as 8 kHz mono samples. Blocking (runs a process).
    pub fn speak(&self, text: &str) -> Result<Arc<[i16]>, EvalError> {
        let result = match self {
            CallerVoice::Espeak { name, slow } => EspeakSynthesizer::new().synthesize(
                text,
                &Voice {
                    language: "en".to_string(),
                    name: name.clone(),
                },
                if *slow {
                    SpeechRate::Slow
                } else {
                    SpeechRate::Normal
                },
            ),
            CallerVoice::Flite { name } => FliteSynthesizer::new().synthesize(
                text,
                &FliteSynthesizer::voice(name),
                SpeechRate::Normal,
            ),
        };
        result.map_err(|e| EvalError::Synthesis {
            voice: self.label(),
            message: e.to_string(),
        })
    }
}

/// The default English voices: two espeak-ng accents, a slower espeak-ng speaker with another
/// variant, and the flite voices.
pub fn default_english_voices() -> Vec<CallerVoice> {
    [
        "espeak:en-gb",
        "espeak:en-us",
        "espeak:en-gb+m3:slow",
        "flite:kal",
        "flite:slt",
        "flite:rms",
        "flite:awb",
    ]
    .iter()
    .filter_map(|s| CallerVoice::parse(s).ok())
    .collect()
}

/// The voices that speak one row: every English voice for English rows, the row language's own
/// espeak-ng voice otherwise.
pub fn voices_for(row: &Utterance, english: &[CallerVoice]) -> Vec<CallerVoice> {
    if row.is_english() {
        english.to_vec()
    } else {
        vec![CallerVoice::for_language(&row.language)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_specs_round_trip_through_labels() {
        for spec in ["espeak:en-gb", "espeak:en-us:slow", "flite:slt"] {
            let voice = CallerVoice::parse(spec).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(voice.label(), spec);
        }
        assert!(CallerVoice::parse("sapi:david").is_err());
        assert_eq!(CallerVoice::for_language("pl").label(), "espeak:pl");
    }
}
