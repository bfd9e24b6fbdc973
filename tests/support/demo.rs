//! The server as the integration tests run it today: `frontdoor serve` with the repo's DTMF
//! demo menu (`demo/menu.yaml`) and prompts (`audio-prompts/`), plus the prompt
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
    repo_root().join("demo/menu.yaml")
}

/// Starts the server with the demo menu and the repo's prompts, plus `extra` CLI arguments;
/// room for 10 calls.
pub fn start_demo_server(extra: &[&str]) -> Result<ServerGuard, HarnessError> {
    start_demo_server_sized(extra, 10, None)
}

/// As [`start_demo_server`] with room for `max_calls` calls (the server refuses an RTP range
/// smaller than two ports per call), optionally another build of the binary.
pub fn start_demo_server_sized(
    extra: &[&str],
    max_calls: u32,
    binary: Option<&Path>,
) -> Result<ServerGuard, HarnessError> {
    start_demo_server_configured(extra, max_calls, binary, None)
}

/// As [`start_demo_server_sized`] with `frontdoor.yaml` contents (e.g. `sip_limits` for a
/// synthetic load from one address).
pub fn start_demo_server_configured(
    extra: &[&str],
    max_calls: u32,
    binary: Option<&Path>,
    config_yaml: Option<&str>,
) -> Result<ServerGuard, HarnessError> {
    let mut options = demo_server_options(max_calls, config_yaml);
    options.args.extend(extra.iter().map(|a| a.to_string()));
    match binary {
        Some(binary) => ServerGuard::start_binary(binary, options),
        None => ServerGuard::start(options),
    }
}

/// How to start `frontdoor serve` on the demo menu with room for `max_calls` calls (an RTP range
/// to fit) and an optional `frontdoor.yaml`; callers may add arguments or a descriptor limit.
pub fn demo_server_options(max_calls: u32, config_yaml: Option<&str>) -> ServerOptions {
    ServerOptions {
        config_yaml: config_yaml.map(str::to_string),
        prompts_dir: Some(repo_root().join("audio-prompts")),
        args: vec![
            "--demo-menu".to_string(),
            demo_menu_file().display().to_string(),
            "--max-calls".to_string(),
            max_calls.to_string(),
        ],
        rtp_ports: u16::try_from(max_calls.saturating_mul(2).saturating_add(64))
            .unwrap_or(u16::MAX - 1),
        ready_within: Duration::from_secs(30),
        ..ServerOptions::default()
    }
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
