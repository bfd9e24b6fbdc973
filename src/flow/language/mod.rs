//! The flow language: what a service designer writes and what it means once checked.
//!
//! The pipeline: [`yaml`] (spanned tree) -> [`raw`] (the language's shape, every key checked) ->
//! [`check`] (references, prompts, templates, graph rules; [`diag`] renders findings) ->
//! [`model::CheckedFlow`], the data the runtime runs. [`catalog`] says which prompts exist,
//! [`global_intent`] names the words every flow answers, [`files`] finds and checks the flow
//! files of a directory.
//!
//! Must not run calls (that is the runtime) nor touch sockets, audio or the store.

pub mod catalog;
pub mod check;
pub mod diag;
pub mod files;
pub mod global_intent;
pub mod model;
pub mod raw;
pub mod yaml;
