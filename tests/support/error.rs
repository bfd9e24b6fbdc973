//! The harness's one error type. Tests usually `.expect()` these: a harness failure is a test
//! failure, but it must say which peer or file was at fault.

use std::path::PathBuf;

/// Anything that can go wrong while driving a peer or reading what it produced.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("i/o on {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} did not happen within {seconds:.1} s")]
    Timeout { what: String, seconds: f64 },
    #[error("{program} exited early ({status}); log tail:\n{log_tail}")]
    ExitedEarly {
        program: String,
        status: String,
        log_tail: String,
    },
    #[error("pcap {path}: {reason}")]
    Pcap { path: PathBuf, reason: String },
    #[error("wav {path}: {reason}")]
    Wav { path: PathBuf, reason: String },
    #[error("no free {what} found on 127.0.0.1")]
    NoFreePort { what: String },
    #[error("baresip control: {0}")]
    BaresipControl(String),
    #[error("command {command} failed: {detail}")]
    Command { command: String, detail: String },
}

impl HarnessError {
    /// Wraps an `io::Error` with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            what: what.into(),
            source,
        }
    }
}
