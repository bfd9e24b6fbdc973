//! The designer tools behind `frontdoor validate|simulate|test|graph`: [`cmd`] is the entry
//! point the binary calls, [`simulate`] a text conversation in the terminal, [`conversation`]
//! the YAML conversation tests and [`graph`] the diagrams.
//!
//! Built on the language (to check a flow) and the runtime (to hold a conversation with it);
//! nothing below them imports a tool.

pub mod cmd;
pub mod conversation;
pub mod exit_code;
pub mod graph;
pub mod simulate;
