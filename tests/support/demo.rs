//! The server as the integration tests run it today: `frontdoor serve` with the repo's DTMF
//! demo menu (`call-flows/demo-menu.yaml`) and prompts (`audio-prompts/`), plus the prompt
//! references and the RTP the server sent, which the call tests match against.
//!
//! The demo menu plays demo-welcome, then demo-menu; DTMF 1 plays demo-option-a, 2 plays
//! demo-option-b, then demo-goodbye and a BYE; no input for 6 s repeats demo-menu.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::HarnessError;
use super::audio::read_wav_8k;
use super::pcap::UdpDatagram;
use super::rtp::{RtpPacket, RtpStream, streams};
use super::server::{ServerGuard, ServerOptions};

/// The prompts of the demo menu, in the order a caller who presses 2 hears them.
pub const PROMPTS_OPTION_B: [&str; 4] =
    ["demo-welcome", "demo-menu", "demo-option-b", "demo-goodbye"];

/// Repository root (prompts and the demo menu live there).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The demo-menu file.
pub fn demo_menu_file() -> PathBuf {
    repo_root().join("call-flows/demo-menu.yaml")
}

/// Starts the server with the demo menu and the repo's prompts, plus `extra` CLI arguments.
pub fn start_demo_server(extra: &[&str]) -> Result<ServerGuard, HarnessError> {
    // The server refuses an RTP range smaller than the call cap: 100 ports, 10 calls.
    let mut args = vec![
        "--demo-menu".to_string(),
        demo_menu_file().display().to_string(),
        "--max-calls".to_string(),
        "10".to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    ServerGuard::start(ServerOptions {
        prompts_dir: Some(repo_root().join("audio-prompts")),
        args,
        ready_within: Duration::from_secs(30),
        ..ServerOptions::default()
    })
}

/// A demo prompt (`audio-prompts/<name>.wav`) at 8 kHz.
pub fn prompt(name: &str) -> Vec<i16> {
    let path = repo_root()
        .join("audio-prompts")
        .join(format!("{name}.wav"));
    match read_wav_8k(&path) {
        Ok(samples) => samples,
        // A missing prompt is a broken checkout, not a server failure: stop loudly.
        Err(e) => panic!("reading {}: {e}", path.display()),
    }
}

/// The RTP streams whose source port lies in the server's RTP range (what it sent).
pub fn server_streams(datagrams: &[UdpDatagram], range: (u16, u16)) -> Vec<RtpStream> {
    streams(datagrams)
        .into_iter()
        .filter(|s| (range.0..=range.1).contains(&s.src.port()))
        .collect()
}

/// All packets the server sent, across streams, in capture order.
pub fn server_packets(datagrams: &[UdpDatagram], range: (u16, u16)) -> Vec<RtpPacket> {
    let mut packets: Vec<RtpPacket> = server_streams(datagrams, range)
        .into_iter()
        .flat_map(|s| s.packets)
        .collect();
    packets.sort_by_key(|p| p.arrival);
    packets
}
