//! The `frontdoor transcribe` and `frontdoor model install` commands as library functions: the
//! binary parses flags and calls these; they print to `out` and return the exit status.

use std::io::Write;
use std::path::Path;

use super::audio::read_wav_16k;
use super::filter::{HallucinationFilter, Verdict};
use super::model::{ModelChoice, install};
use super::recognizer::{RecognizeOptions, Recognizer};
use super::whisper::WhisperRecognizer;

/// Transcribes a WAV file (any rate, any channels) with the model at `model`. Prints the text on
/// the first line, then a `#` line with confidence, no-speech probability, language, timing and
/// whether the filter would treat it as no input. `prompt` is Whisper's initial prompt, as the
/// server builds it from an `ask`'s hints (to see what the hints do to a transcript). Returns
/// 0, or 1 on any error.
///
/// With `translate` (a multilingual model), a last line gives the English translation of
/// speech in another language, as the server makes it for a caller's first answer.
pub fn transcribe_cmd(
    model: &Path,
    wav: &Path,
    prompt: Option<&str>,
    translate: bool,
    out: &mut dyn Write,
) -> i32 {
    let mut translation = None;
    let result = (|| {
        let audio = read_wav_16k(wav)?;
        let recognizer = WhisperRecognizer::load(model)?;
        let opts = RecognizeOptions {
            language: if recognizer.is_multilingual() {
                None
            } else {
                Some("en".into())
            },
            detect_language: recognizer.is_multilingual(),
            // A one-off transcription may use every core.
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            initial_prompt: prompt.unwrap_or_default().to_string(),
            temperature: 0.0,
        };
        let t = recognizer.recognize(&audio, &opts)?;
        if translate && let Some(lang) = t.language.as_deref().filter(|l| *l != "en") {
            translation = Some(recognizer.translate(&audio, lang)?);
        }
        Ok::<_, super::AsrError>(t)
    })();
    let written = match result {
        Ok(t) => {
            let verdict = match HallucinationFilter::default().judge(&t) {
                Verdict::Speech(_) => "speech".to_string(),
                Verdict::NoInput(reason) => format!("no-input ({reason:?})"),
            };
            writeln!(out, "{}", t.text).and_then(|()| {
                writeln!(
                    out,
                    "# confidence {:.2} no_speech {:.2} language {} ({:.2}) audio {} ms decode {} ms rtf {:.3} verdict {verdict}",
                    t.confidence,
                    t.no_speech_prob,
                    t.language.as_deref().unwrap_or("?"),
                    t.language_prob,
                    t.duration_ms,
                    t.decode_ms,
                    t.real_time_factor()
                )
            })
            .and_then(|()| match &translation {
                Some(english) => writeln!(out, "# translation {english}"),
                None => Ok(()),
            })
        }
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            return 1;
        }
    };
    if written.is_err() { 1 } else { 0 }
}

/// Installs every model set-up needs (tiny.en and base, and the sentence model understanding
/// uses) into `models_dir`, printing one line per model. Returns 0 when all are in place, 1
/// otherwise.
pub fn model_install_cmd(models_dir: &Path, out: &mut dyn Write) -> i32 {
    let mut status = 0;
    for choice in ModelChoice::ALL {
        let line = match install(models_dir, choice) {
            Ok(r) => format!(
                "{} {} ({} bytes, sha256 {})",
                if r.converted {
                    "installed"
                } else {
                    "up to date"
                },
                r.path.display(),
                r.bytes,
                r.sha256
            ),
            Err(e) => {
                status = 1;
                format!("error: {}: {e}", choice.file_name())
            }
        };
        if writeln!(out, "{line}").is_err() {
            status = 1;
        }
    }
    let line = match crate::nlu::encoder::install(models_dir) {
        Ok(r) => format!(
            "{} {}",
            if r.installed {
                "installed"
            } else {
                "up to date"
            },
            r.dir.display()
        ),
        Err(e) => {
            status = 1;
            format!("error: {}: {e}", crate::nlu::encoder::ENCODER_DIR)
        }
    };
    if writeln!(out, "{line}").is_err() {
        status = 1;
    }
    status
}
