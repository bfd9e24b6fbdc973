//! One call at a time, many at once: each call joins a SIP dialog to its media session and asks a
//! [`CallHandler`] what
//! to do next.
//!
//! Owns: the per-call event loop, the call summary line, the mapping from handler actions to
//! media and signalling commands. Must not touch: SIP parsing or transactions (that is `sip`),
//! RTP details (that is `media`), flow semantics (that is `flow`, behind `CallHandler`).

pub mod core;
pub mod demo;
pub mod media_address;
pub mod ports;
pub mod records;
pub mod runtime;
pub mod shutdown;
pub mod signalling;
pub mod speech;
pub mod transfer;

// The handler seam lives in a leaf module that `call` and `flow` both import; re-exported here
// so `call::handler` paths keep working.
pub use crate::handler;
pub use crate::handler::{
    CallAction, CallEvent, CallHandler, CallInfo, HandlerReport, HangupCause, ListenSpec, OpenCase,
    PlayItem,
};
