//! The flow runtime: what runs a checked flow for one call. [`interpreter::Interpreter`] is the
//! sans-IO state machine; [`understand`] turns words and keys into its events over `nlu`
//! ([`capture`] holds the values it captures, [`keypad`] the keypad fallback texts);
//! [`handler::FlowCallHandler`] adapts it to the call runtime's `CallHandler` seam (the
//! designer tools rehearse whole calls through that seam in `crate::rehearsal`); [`set`] holds
//! the flows a server answers with, each with its understanding, and hot-reloads them.
//!
//! Must not touch: sockets, audio, the store. The interpreter returns actions; the call layer
//! carries them out.

pub mod capture;
pub mod handler;
pub mod interpreter;
pub mod keypad;
pub mod set;
pub mod understand;
