//! The error types of the prompts module: [`PromptError`], what went wrong with which file, in
//! plain words, and [`TtsError`], why synthesis failed.
//!
//! Owns nothing else, and depends on no other part of `prompts`: decoding, the library and the
//! synthesisers all return these, so they live in a leaf. Every variant that concerns a file
//! names it, so an operator reading a start-up failure knows which prompt to fix.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// Nothing to say.
    #[error("text is empty")]
    EmptyText,
    /// Longer than the synthesiser accepts (`tts::MAX_TEXT_CHARS`).
    #[error("text is {chars} characters long (limit {limit})")]
    TextTooLong {
        /// Characters in the text.
        chars: usize,
        /// The most accepted.
        limit: usize,
    },
    /// A voice name that is not a plain engine identifier (refused so that nothing from a flow
    /// can become a command-line option).
    #[error("invalid voice name `{0}`")]
    InvalidVoice(String),
    /// The engine does not have this voice installed.
    #[error("voice `{0}` is not installed")]
    UnknownVoice(String),
    /// The engine could not be started (not installed?).
    #[error("cannot run {engine}: {source}")]
    Spawn {
        /// The program.
        engine: &'static str,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The engine ran but failed or produced no usable audio.
    #[error("{engine} failed: {reason}")]
    Engine {
        /// The program.
        engine: &'static str,
        /// Exit status, stderr, or why its output was unusable.
        reason: String,
    },
    /// The engine did not finish in time and was killed.
    #[error("{engine} took longer than {timeout:?} and was stopped")]
    Timeout {
        /// The program.
        engine: &'static str,
        /// The limit.
        timeout: Duration,
    },
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
