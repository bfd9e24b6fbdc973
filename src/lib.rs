//! # Frontdoor
//!
//! Voice automation for public-sector contact centres. A call flows one way through the crate:
//!
//! ```text
//! sip  ->  call (one state machine per call)  ->  media  ->  asr / nlu  ->  flow  ->  crm / handoff  ->  web
//! ```
//!
//! * [`sip`] terminates SIP (RFC 3261) over UDP and TCP. Its protocol core is sans-IO: it is fed
//!   datagrams, commands and `now`, and returns what to send, events, and when to wake it.
//! * [`call`] joins one dialog to one media session and asks a [`call::CallHandler`] what to do.
//! * [`media`] owns RTP/RTCP, the jitter buffer, G.711, DTMF (RFC 4733 and in-band), voice activity
//!   detection and the prompt player. Nothing in it blocks.
//! * [`prompts`] loads, decodes, resamples and caches prompt audio, and synthesises text prompts.
//! * [`asr`] turns caller speech into text (Whisper, local model); [`nlu`] turns text into intents
//!   and slot values.
//! * [`flow`] parses the YAML call flows into a checked graph and interprets it per call.
//! * [`crm`] stores cases and call records durably and delivers them to CRMs; [`handoff`] moves a
//!   caller to a human advisor.
//! * [`web`] serves the operator-facing HTTP surface.
//! * [`rehearsal`] runs whole calls in virtual time (the real call core against an in-memory
//!   caller, scripted speech services): `frontdoor simulate`, `frontdoor test` and the call tests.
//!
//! Events go up the chain (`Dtmf`, `SpeechEnded`, `Heard`), commands go down (`Play`, `Listen`,
//! `Hangup`). A module never reaches back up the chain.

pub mod asr;
pub mod call;
pub mod config;
pub mod crm;
pub mod drain;
pub mod entropy;
pub mod eval;
pub mod flow;
pub mod handler;
pub mod handoff;
pub mod log_limit;
pub mod media;
pub mod nlu;
pub mod nlu_report;
pub mod pii;
pub mod prompts;
pub mod rehearsal;
pub mod server;
pub mod sip;
pub mod web;

pub use pii::Pii;
