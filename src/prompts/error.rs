//! The one error type of the prompts module: what went wrong with which file, in plain words.
//!
//! Owns nothing else. Every variant that concerns a file names it, so an operator reading a
//! start-up failure knows which prompt to fix.

use std::fmt;
use std::path::PathBuf;

use super::tts::TtsError;
use crate::media::MediaError;

/// Why prompt audio could not be loaded, decoded, resampled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The file or directory could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The file is not audio we can decode (unknown format, corrupt data, unsupported codec).
    #[error("{}: cannot decode: {reason}", path.display())]
    Undecodable {
        /// The file.
        path: PathBuf,
        /// A plain description of the problem.
        reason: String,
    },
    /// The file decoded to no samples at all.
    #[error("{}: contains no audio", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Two files claim the same prompt name in the same language (e.g. `welcome.wav` and
    /// `welcome.mp3`): which one plays would be an accident.
    #[error("{}: prompt `{name}` is defined twice ({} and {})", dir.display(), first.display(), second.display())]
    Duplicate {
        /// The directory holding both.
        dir: PathBuf,
        /// The prompt name.
        name: String,
        /// One file.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// Prompts that a flow needs are not in the library.
    #[error("missing prompts: {}", names.join(", "))]
    Missing {
        /// Every missing name, with its language when it is not the default (`pl/welcome`).
        names: Vec<String>,
    },
    /// Resampling failed (an invalid rate, or an internal resampler error): always
    /// [`MediaError::Resample`], whose message names both rates.
    #[error(transparent)]
    Resample(#[from] MediaError),
    /// A prompt name that cannot be a file name (path separators, empty, hidden).
    #[error("invalid prompt name `{name}`: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Speech synthesis failed while rendering a prompt.
    #[error("synthesising prompt `{name}`: {source}")]
    Synthesis {
        /// The prompt name.
        name: String,
        /// What the synthesiser said.
        source: TtsError,
    },
    /// A rendered prompt could not be written.
    #[error("{}: cannot write: {reason}", path.display())]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Several prompts failed; every problem is reported, not just the first.
    #[error("{}", Problems(.0))]
    Several(Vec<PromptError>),
}

/// Displays a list of errors one per line.
struct Problems<'a>(&'a [PromptError]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} prompt problems:", self.0.len())?;
        for problem in self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl PromptError {
    /// Folds a list of problems into one error: `None` when empty, the error itself when
    /// there is one, [`PromptError::Several`] otherwise.
    pub fn from_problems(mut problems: Vec<PromptError>) -> Option<PromptError> {
        match problems.len() {
            0 => None,
            1 => problems.pop(),
            _ => Some(PromptError::Several(problems)),
        }
    }
}
