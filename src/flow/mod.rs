//! Call flows: YAML written by service designers -> spanned raw types -> a checked graph -> a
//! sans-IO interpreter per call.
//!
//! Must not touch: sockets, audio, the store. The interpreter returns actions; the call runtime
//! carries them out.
//!
//! Three parts, each readable alone:
//! * [`language`]: [`yaml`] (spanned tree) -> [`raw`] (the language's shape, every key checked)
//!   -> [`check`] (references, prompts, templates, graph rules; [`diag`] renders findings) ->
//!   [`model::CheckedFlow`]; [`files`] finds and checks the flow files of a directory.
//! * [`runtime`]: [`interpreter::Interpreter`] per call, fed by [`understand`] (over `nlu`) and
//!   adapted to the call layer by [`handler::FlowCallHandler`]; [`set`] loads a directory with its
//!   routing table and hot-reloads it.
//! * [`tools`]: the designer tools that need no call, behind [`cmd`] (`validate`, [`graph`]).
//!   `simulate` and `test` hold conversations with a flow through the call core, so they live
//!   in `crate::rehearsal`, above both.
//!
//! The runtime builds on the language, the tools on both, the language on neither.

pub mod language;
pub mod runtime;
pub mod tools;

// The language and the designer tools moved into `language/` and `tools/`; their old paths
// (`flow::check`, `flow::cmd`, ...) stay valid while the rest of the tree moves over.
pub use language::{catalog, check, diag, files, model, raw, yaml};
pub use tools::{cmd, graph};

// The runtime's modules at their old paths, while the rest of the crate moves over.
pub use runtime::{capture, handler, interpreter, keypad, set, understand};

pub use cmd::{graph_cmd, validate_cmd};
pub use diag::{Diagnostics, OutputFormat};
pub use graph::GraphFormat;
pub use handler::FlowCallHandler;
pub use interpreter::{CallContext, FlowEvent, Interpreter};
pub use model::CheckedFlow;
pub use set::{FlowError, FlowRegistry, FlowSet, FlowWatcher};
