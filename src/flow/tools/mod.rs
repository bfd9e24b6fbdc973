//! The designer tools behind `frontdoor validate|graph`: [`cmd`] is the entry point the binary
//! calls and [`graph`] draws the diagrams. (`simulate` and `test` rehearse calls through the
//! call core, so they are `crate::rehearsal`'s.)
//!
//! Built on the language; nothing below it imports a tool.

pub mod cmd;
pub mod examples;
pub mod exit_code;
pub mod graph;
pub mod score;
