//! Real-peer test harness shared by the integration tests (`mod support;`).
//!
//! Owns everything a test needs to drive Frontdoor from the outside: free ports, temporary
//! directories, child processes killed by PID on drop (sipp, baresip, tcpdump, the server),
//! pcap writing/reading, RTP and G.711 decoding, audio matching by normalised cross-correlation,
//! test speech synthesis, a raw SIP sender, and a loopback-only network namespace runner.
//!
//! It must not touch the `frontdoor` library: the harness observes the server only through
//! its CLI, sockets and files, so a test proves what a real peer would see. Its G.711 and RTP
//! code are deliberately independent re-implementations for that reason.
//!
//! Not every test binary uses every helper, hence the crate-wide `dead_code` allowance.
#![allow(dead_code)]

pub mod attack;
pub mod audio;
pub mod baresip;
pub mod capture;
pub mod demo;
pub mod error;
pub mod g711;
pub mod live_caller;
pub mod load;
pub mod netns;
pub mod pcap;
pub mod ports;
pub mod process;
pub mod rtp;
pub mod server;
pub mod sip_probe;
pub mod sipp;
pub mod speech;
pub mod tempdir;
pub mod torture;

pub use error::HarnessError;

/// Directory of the sipp scenarios shipped with the tests.
pub fn sipp_scenario_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp")
}
