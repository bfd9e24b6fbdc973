//! SIP signalling (RFC 3261) over UDP and TCP, behind our own types.
//!
//! Owns: the strict message parser and serialiser, SDP offer/answer, the transaction layer
//! (RFC 3261 §17), dialogs, session timers (RFC 4028), digest authentication and the user agent
//! core that ties them together. The core is sans-IO: it is fed datagrams and `now`, and it returns
//! datagrams to send, events and the next time to wake it. Must not touch: sockets (the thin
//! driver in `server` owns them), media, or what a call does.

// --- message layer (branch sip-parse) ---
pub mod error;
pub mod headers;
pub mod message;
pub mod parse;
pub mod uri;
// --- end message layer ---

// Transactions, dialogs and the user agent core (branch sip-core).
pub mod auth;
pub mod dialog;
pub mod session_timer;
pub mod timer;
pub mod transaction;
pub mod ua;
