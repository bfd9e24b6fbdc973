//! The in-memory caller (the crate's own user agent and media session, following a script),
//! for the call tests: it is the product's (`frontdoor::rehearsal::caller`). Mounted with
//! `#[path]` next to `vnet` (see there).
#![allow(dead_code, unused_imports)]

pub use frontdoor::rehearsal::caller::*;
