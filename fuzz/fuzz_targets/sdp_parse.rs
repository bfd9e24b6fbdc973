//! Fuzz target: SDP parsing, negotiation and our own answers must never panic.
#![no_main]

#[path = "harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::sdp_parse(data);
});
