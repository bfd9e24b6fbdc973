//! Fuzz target: SIP datagram and stream parsing, request checks, error responses and the
//! serialise/parse round trip must never panic or disagree.
#![no_main]

#[path = "harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::sip_parse(data);
});
