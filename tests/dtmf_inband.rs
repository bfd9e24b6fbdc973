//! In-band DTMF: a sipp caller whose SDP offers PCMU without
//! telephone-event sends the digit as dual tones inside its G.711 audio (-10 dBFS per tone,
//! 100 ms on / 100 ms off) and Frontdoor's answer — demo-option-b, then goodbye and BYE —
//! proves it understood; a caller who only talks (espeak-ng speech through G.711) produces
//! no digit: the menu repeats after the no-input timeout and no option prompt plays.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use support::audio::{best_match, find_in_order};
use support::capture::{Capture, CaptureSpec};
use support::demo::{PROMPTS_OPTION_B, prompt, server_streams, start_demo_server};
use support::g711::Law;
use support::pcap::UdpDatagram;
use support::rtp::RtpStreamBuilder;
use support::server::ServerGuard;
use support::sipp::{Scenario, Sipp};
use support::speech::{Voice, dtmf_tone, silence, sine, synthesize};
use support::tempdir::TempDir;

/// Least NCC at which a prompt counts as heard.
const HEARD: f64 = 0.8;
/// -10 dBFS per tone (RFC 4733 §2.5.2.2 power range; ITU-T Q.24 levels are lower).
const TONE_AMPLITUDE: f64 = 32_767.0 * 0.316_227_766;

fn capture_server_rtp(server: &ServerGuard, dir: &TempDir) -> Capture {
    let (low, high) = server.rtp_range();
    Capture::start(
        &CaptureSpec {
            filter: format!("udp and portrange {low}-{high}"),
            ..CaptureSpec::udp_ports(low, high)
        },
        &dir.join("rtp.pcap"),
    )
    .expect("tcpdump starts")
}

/// Writes `samples` as the caller's µ-law stream (no telephone-event packets at all).
fn write_caller_pcap(dir: &TempDir, samples: &[i16]) {
    let mut builder = RtpStreamBuilder::new(Law::MuLaw, 101);
    builder.audio(samples);
    assert!(
        builder.packets().iter().all(|p| p.payload_type == 0),
        "audio only"
    );
    let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6000);
    builder
        .to_pcap(any, any)
        .write_to(&dir.join("caller.pcap"))
        .expect("caller.pcap");
}

fn heard_by_caller(datagrams: &[UdpDatagram], server: &ServerGuard) -> Vec<i16> {
    let sent = server_streams(datagrams, server.rtp_range());
    assert_eq!(sent.len(), 1, "one RTP stream from Frontdoor");
    sent[0].decode_audio().samples
}

fn ncc_of(heard: &[i16], name: &str) -> f64 {
    best_match(heard, &prompt(name)).map_or(0.0, |m| m.ncc)
}

#[test]
fn inband_tones_select_option_b() {
    let dir = TempDir::new("inband-dtmf").expect("temp dir");
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    // Low background hum, the menu ends about 7 s in; "2" as 100 ms on / 100 ms off at 8 s.
    let mut audio = sine(150.0, 8000, 300.0);
    audio.extend(dtmf_tone('2', 100, TONE_AMPLITUDE));
    audio.extend(silence(100));
    audio.extend(sine(150.0, 8000, 300.0));
    write_caller_pcap(&dir, &audio);
    let capture = capture_server_rtp(&server, &dir);
    let outcome = Sipp::uac(
        Scenario::Named("uac_inband_remote_bye.xml".into()),
        server.sip_addr(),
    )
    .service("01632960000")
    .stage("caller.pcap", &dir.join("caller.pcap"))
    .timeout(Duration::from_secs(35))
    .run()
    .expect("sipp runs");
    let datagrams = capture.stop().expect("capture readable");
    assert!(
        outcome.all_calls_ok(),
        "the call must end with Frontdoor's BYE after option B: {}\n{}",
        outcome.diagnostics(),
        server.log_tail(3000)
    );
    let heard = heard_by_caller(&datagrams, &server);
    let references: Vec<Vec<i16>> = PROMPTS_OPTION_B.iter().map(|n| prompt(n)).collect();
    let refs: Vec<&[i16]> = references.iter().map(Vec::as_slice).collect();
    let found = find_in_order(&heard, &refs, HEARD);
    for (name, m) in PROMPTS_OPTION_B.iter().zip(&found) {
        eprintln!(
            "heard {name}: NCC {:.3} at {:.2} s",
            m.ncc,
            m.start_seconds()
        );
    }
    assert_eq!(
        found.len(),
        PROMPTS_OPTION_B.len(),
        "in-band '2' not understood: {found:?}"
    );
}

#[test]
fn speech_produces_no_digit() {
    let dir = TempDir::new("inband-speech").expect("temp dir");
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    let sentence = synthesize(
        "Hello, I am calling about my council tax bill, and the bins were not collected \
         on Tuesday. Can somebody please call me back this afternoon?",
        Voice::Espeak,
        &dir.join("speech.wav"),
    )
    .expect("espeak-ng + sox");
    // Talk through welcome, menu and the 6 s no-input wait: about 19 s of speech.
    let mut audio = Vec::new();
    while audio.len() < 19 * 8000 {
        audio.extend(&sentence);
        audio.extend(silence(300));
    }
    write_caller_pcap(&dir, &audio);
    let capture = capture_server_rtp(&server, &dir);
    let outcome = Sipp::uac(Scenario::Named("uac_inband.xml".into()), server.sip_addr())
        .service("01632960000")
        .stage("caller.pcap", &dir.join("caller.pcap"))
        .pause(Duration::from_millis(19_000))
        .timeout(Duration::from_secs(35))
        .run()
        .expect("sipp runs");
    let datagrams = capture.stop().expect("capture readable");
    assert!(
        outcome.all_calls_ok(),
        "{}\n{}",
        outcome.diagnostics(),
        server.log_tail(3000)
    );
    let heard = heard_by_caller(&datagrams, &server);
    let names = ["demo-welcome", "demo-menu", "demo-menu"];
    let references: Vec<Vec<i16>> = names.iter().map(|n| prompt(n)).collect();
    let refs: Vec<&[i16]> = references.iter().map(Vec::as_slice).collect();
    let found = find_in_order(&heard, &refs, HEARD);
    for (name, m) in names.iter().zip(&found) {
        eprintln!(
            "heard {name}: NCC {:.3} at {:.2} s",
            m.ncc,
            m.start_seconds()
        );
    }
    let (a, b) = (
        ncc_of(&heard, "demo-option-a"),
        ncc_of(&heard, "demo-option-b"),
    );
    eprintln!("option prompts: A NCC {a:.3}, B NCC {b:.3}");
    assert_eq!(
        found.len(),
        3,
        "the menu must repeat after no input: {found:?}"
    );
    assert!(
        a < HEARD && b < HEARD,
        "speech produced a digit (A {a:.3}, B {b:.3})"
    );
}
