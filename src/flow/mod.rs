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
pub mod understand;
pub mod yaml;
