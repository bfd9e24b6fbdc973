//! Call flows: YAML written by service designers -> spanned raw types -> a checked graph -> a
//! sans-IO interpreter per call.
//!
//! Must not touch: sockets, audio, the store. The interpreter returns actions; the call runtime
//! carries them out.
//!
//! The pipeline: [`yaml`] (spanned tree) -> [`raw`] (the language's shape, every key checked) ->
//! [`check`] (references, prompts, templates, graph rules; [`diag`] renders findings) ->
//! [`model::CheckedFlow`] -> [`runtime`]: [`interpreter::Interpreter`] per call, fed by
//! [`understand`] (over `nlu`) and adapted to the call layer by [`handler::FlowCallHandler`].
//! [`set`] loads a directory with its routing table and hot-reloads it; [`session`],
//! [`simulate`], [`conversation`] and [`graph`] are the designer tools behind [`cmd`].

pub mod catalog;
pub mod check;
pub mod cmd;
pub mod conversation;
pub mod diag;
pub mod graph;
pub mod model;
pub mod raw;
pub mod runtime;
pub mod set;
pub mod simulate;
pub mod yaml;

// The runtime's modules at their old paths, while the rest of the crate moves over.
pub use runtime::{capture, handler, interpreter, keypad, session, understand};

pub use cmd::{graph_cmd, simulate_cmd, test_cmd, validate_cmd};
pub use diag::{Diagnostics, OutputFormat};
pub use graph::GraphFormat;
pub use handler::FlowCallHandler;
pub use interpreter::{CallContext, FlowEvent, Interpreter};
pub use model::CheckedFlow;
pub use set::{FlowRegistry, FlowSet, FlowWatcher};

/// Errors of the flow module outside diagnostics (which are [`diag::Diagnostics`]).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("cannot watch the flows directory: {0}")]
    Watch(#[from] notify::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
