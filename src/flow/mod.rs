//! Call flows: YAML written by service designers -> spanned raw types -> a checked graph -> a
//! sans-IO interpreter per call.
//!
//! Must not touch: sockets, audio, the store. The interpreter returns actions; the call runtime
//! carries them out.

pub mod capture;
pub mod catalog;
pub mod check;
pub mod diag;
pub mod interpreter;
pub mod model;
pub mod raw;
pub mod set;
pub mod understand;
pub mod yaml;

/// Errors of the flow module outside diagnostics (which are [`diag::Diagnostics`]).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("cannot watch the flows directory: {0}")]
    Watch(#[from] notify::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
pub mod cmd;
pub mod conversation;
pub mod graph;
pub mod handler;
pub mod session;
pub mod simulate;
