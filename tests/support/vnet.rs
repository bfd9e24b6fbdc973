//! The emulated network and the `Pair` driver, for the call tests: they are the product's
//! (`frontdoor::rehearsal::net`, which `frontdoor simulate` and `frontdoor test` run on too).
//!
//! Unlike the rest of `support/`, this module, `virtual_caller` and `frontdoor_endpoint` name
//! the `frontdoor` library, so `support/mod.rs` does not declare them; a test binary mounts
//! them with `#[path]`:
//!
//! ```ignore
//! #[path = "support/vnet.rs"]
//! mod vnet;
//! #[path = "support/virtual_caller.rs"]
//! mod virtual_caller;
//! ```
//!
//! Not every test binary uses every item, hence the allowances.
#![allow(dead_code, unused_imports)]

pub use frontdoor::rehearsal::net::*;
