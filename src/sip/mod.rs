//! SIP signalling (RFC 3261) over UDP and TCP, behind our own types.
//!
//! Owns: the strict message parser and serialiser, SDP offer/answer, the transaction layer
//! (RFC 3261 §17), dialogs, session timers (RFC 4028), digest authentication and the user agent
//! core that ties them together. The core is sans-IO: it is fed datagrams and `now`, and it returns
//! datagrams to send, events and the next time to wake it. Must not touch: sockets (the thin
//! driver in `server` owns them), media, or what a call does.

pub mod auth;
pub mod dialog;
pub mod error;
pub mod headers;
pub mod message;
pub mod method;
pub mod parse;
pub mod sdp;
pub mod session_timer;
pub mod timer;
pub mod transaction;
pub mod ua;
pub mod uri;
pub mod validate;
