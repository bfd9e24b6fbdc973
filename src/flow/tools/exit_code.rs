//! The exit codes every designer tool returns, so `frontdoor validate|simulate|test|graph`
//! agree on what 0, 1 and 2 mean.
//!
//! A leaf: the tools import it, it imports nothing.

/// Exit code: everything passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: flow errors, or failed conversation tests.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad usage (missing path, unreadable input).
pub const EXIT_USAGE: i32 = 2;
