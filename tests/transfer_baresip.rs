//! Transfer to an advisor with real phones: a baresip caller dials Frontdoor's demo menu and
//! presses 0; Frontdoor sends REFER (RFC 3515) carrying the transfer headers; baresip follows it
//! (202, NOTIFY 100/200) and calls a second, auto-answering baresip (the advisor); Frontdoor's
//! leg ends with cause `Transferred`. When the caller's phone refuses REFER (a sipp caller
//! answering 405), Frontdoor calls the advisor itself and bridges the media: the caller hears
//! the advisor.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::audio::best_match;
use support::baresip::{Baresip, BaresipOptions};
use support::capture::{Capture, CaptureSpec};
use support::g711::Law;
use support::ports::free_block;
use support::rtp::{RtpStreamBuilder, streams_to_port};
use support::server::{ServerGuard, ServerOptions};
use support::sipp::{Scenario, Sipp};
use support::speech::{Voice, silence, synthesize, write_padded_wav};
use support::tempdir::TempDir;

const ADVISOR_TEXT: &str = "Hello, you are through to the council advice team. How can I help?";

/// The server log without ANSI colour sequences (tracing colours `key=value` pairs).
fn plain_log(server: &ServerGuard) -> String {
    let raw = server.log();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (ECMA-48 §5.4).
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits until the server log contains `needle` (the server logs asynchronously to a file).
fn wait_for_log(server: &ServerGuard, needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if plain_log(server).contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn demo_menu(dir: &TempDir) -> PathBuf {
    let path = dir.join("demo-menu.yaml");
    std::fs::write(
        &path,
        "welcome: [demo-welcome]\n\
         menu: [demo-menu]\n\
         options:\n  \"1\": [demo-option-a]\n\
         transfers:\n  \"0\": advisors\n\
         goodbye: [demo-goodbye]\n\
         attempts: 3\n\
         no_input_secs: 10\n",
    )
    .expect("demo menu written");
    path
}

#[test]
fn caller_presses_0_and_baresip_follows_refer_to_the_advisor() {
    let dir = TempDir::new("transfer-refer").expect("temp dir");
    // Silent microphones longer than the call (aufile hangs up at the end of its file).
    write_padded_wav(&dir.join("mic.wav"), &silence(100), 60_000).expect("mic.wav");

    let mut advisor =
        Baresip::start(&BaresipOptions::advisor(&dir.join("mic.wav"))).expect("advisor starts");
    let config = format!(
        "handler: demo_menu\n\
         max_calls: 10\n\
         demo_menu: {menu}\n\
         outbound_targets:\n  - name: advisors\n    uri: sip:agent@{advisor}\n",
        menu = demo_menu(&dir).display(),
        advisor = advisor.sip_addr(),
    );
    let server = ServerGuard::start(ServerOptions {
        config_yaml: Some(config),
        prompts_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("audio-prompts")),
        ..ServerOptions::default()
    })
    .expect("server starts");

    let mut caller =
        Baresip::start(&BaresipOptions::caller(&dir.join("mic.wav"))).expect("caller starts");
    caller
        .dial(&format!("sip:council@{}", server.sip_addr()))
        .expect("dial accepted");
    caller
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail(4000)));
    // Let the welcome start so the key is heard as a menu choice, then ask for an advisor.
    std::thread::sleep(Duration::from_millis(800));
    caller.send_digits("0").expect("digit sent");

    let established = advisor
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(15))
        .unwrap_or_else(|e| {
            panic!(
                "advisor never got the call: {e}\ncaller:\n{}\nserver:\n{}",
                caller.log(),
                server.log_tail(4000)
            )
        });
    assert!(
        established.param.contains("caller@"),
        "the advisor is talking to the caller's phone, not to Frontdoor: {established:?}"
    );
    // baresip 1.0 reports following a REFER in its log (ctrl_tcp sends no CALL_TRANSFER for it).
    let caller_log = caller.log();
    assert!(
        caller_log.contains("transferring call"),
        "caller did not follow the REFER:\n{caller_log}"
    );

    assert!(
        wait_for_log(&server, "cause=Transferred", Duration::from_secs(15)),
        "Frontdoor's leg did not end as Transferred:\n{}",
        server.log_tail(6000)
    );
    let log = plain_log(&server);
    let refer = log
        .lines()
        .find(|l| l.contains("REFER sent"))
        .unwrap_or_else(|| panic!("no REFER logged:\n{log}"));
    assert!(refer.contains("queue=advisors"), "{refer}");
    assert!(refer.contains("X-Frontdoor-Context"), "{refer}");
    assert!(
        log.contains("transfer progress") && log.contains("status=202"),
        "REFER's 202 not followed:\n{log}"
    );
    assert!(
        log.contains("transfer succeeded"),
        "no final NOTIFY 200:\n{log}"
    );

    let _ = caller.hangup();
    let _ = advisor.hangup();
    caller.quit();
    advisor.quit();
    assert!(server.stop(), "server stops cleanly");
}

#[test]
fn advisor_rejecting_the_referred_call_leaves_the_caller_with_us() {
    let dir = TempDir::new("transfer-reject").expect("temp dir");
    write_padded_wav(&dir.join("mic.wav"), &silence(100), 60_000).expect("mic.wav");

    let advisor =
        Baresip::start(&BaresipOptions::advisor(&dir.join("mic.wav"))).expect("advisor starts");
    // baresip answers 404 to any Request-URI user but its account's (`agent`).
    let config = format!(
        "handler: demo_menu\n\
         max_calls: 10\n\
         demo_menu: {menu}\n\
         outbound_targets:\n  - name: advisors\n    uri: sip:nobody@{advisor}\n",
        menu = demo_menu(&dir).display(),
        advisor = advisor.sip_addr(),
    );
    let server = ServerGuard::start(ServerOptions {
        config_yaml: Some(config),
        prompts_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("audio-prompts")),
        ..ServerOptions::default()
    })
    .expect("server starts");

    let mut caller =
        Baresip::start(&BaresipOptions::caller(&dir.join("mic.wav"))).expect("caller starts");
    caller
        .dial(&format!("sip:council@{}", server.sip_addr()))
        .expect("dial accepted");
    caller
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", server.log_tail(4000)));
    std::thread::sleep(Duration::from_millis(800));
    caller.send_digits("0").expect("digit sent");

    assert!(
        wait_for_log(&server, "transfer failed", Duration::from_secs(15)),
        "the failed transfer was not reported:\n{}\ncaller:\n{}",
        server.log_tail(6000),
        caller.log()
    );
    let log = plain_log(&server);
    assert!(log.contains("reason=transfer target answered 404"), "{log}");
    assert!(
        !log.contains("cause=Transferred"),
        "a failed transfer must not end the call as Transferred:\n{log}"
    );

    let _ = caller.hangup();
    caller.quit();
    advisor.quit();
    assert!(server.stop(), "server stops cleanly");
}

#[test]
fn caller_that_refuses_refer_is_bridged_and_hears_the_advisor() {
    let dir = TempDir::new("transfer-bridge").expect("temp dir");
    let speech =
        synthesize(ADVISOR_TEXT, Voice::Espeak, &dir.join("advisor-raw.wav")).expect("speech");
    // The advisor starts talking shortly after answering; aufile hangs up at its end: pad it.
    let mut advisor_mic = silence(300);
    advisor_mic.extend(&speech);
    write_padded_wav(&dir.join("advisor.wav"), &advisor_mic, 20_000).expect("advisor.wav");

    let mut advisor =
        Baresip::start(&BaresipOptions::advisor(&dir.join("advisor.wav"))).expect("advisor");
    let config = format!(
        "handler: demo_menu\n\
         max_calls: 10\n\
         demo_menu: {menu}\n\
         outbound_targets:\n  - name: advisors\n    uri: sip:agent@{advisor}\n",
        menu = demo_menu(&dir).display(),
        advisor = advisor.sip_addr(),
    );
    let server = ServerGuard::start(ServerOptions {
        config_yaml: Some(config),
        prompts_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("audio-prompts")),
        ..ServerOptions::default()
    })
    .expect("server starts");

    // The caller: 1.5 s of silence, 0 (RFC 4733, same SSRC) for an advisor, then once bridged
    // a 7 that must reach the advisor's phone.
    let mut caller = RtpStreamBuilder::new(Law::MuLaw, 101);
    caller
        .silence(1500)
        .dtmf('0', 160)
        .silence(2500)
        .dtmf('7', 160)
        .silence(500);
    let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6000);
    caller
        .to_pcap(any, any)
        .write_to(&dir.join("caller.pcap"))
        .expect("caller.pcap");
    let (media, _) = free_block(4, 2).expect("media ports");
    let capture = Capture::start(
        &CaptureSpec {
            filter: format!("udp and dst port {media}"),
            ..CaptureSpec::udp_ports(media, media)
        },
        &dir.join("heard.pcap"),
    )
    .expect("tcpdump starts");
    let stay_ms = 1500 + speech.len() as u64 / 8 + 2500;
    let uac = Sipp::uac(
        Scenario::Named("uac_refer_405.xml".into()),
        server.sip_addr(),
    )
    .service("council")
    .media_port(media)
    .stage("caller.pcap", &dir.join("caller.pcap"))
    .pause(Duration::from_millis(stay_ms))
    .timeout(Duration::from_secs(30))
    .spawn()
    .expect("sipp caller starts");
    let established = advisor
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("advisor never answered: {e}\n{}", server.log_tail(6000)));
    // The advisor presses 5: it is re-originated towards the caller.
    std::thread::sleep(Duration::from_millis(500));
    advisor.send_digits("5").expect("advisor digit sent");
    let uac = uac.wait().expect("sipp caller finishes");
    let datagrams = capture.stop().expect("capture readable");
    assert!(
        uac.all_calls_ok(),
        "caller: {}\nserver:\n{}",
        uac.diagnostics(),
        server.log_tail(6000)
    );

    assert!(
        established.param.contains("frontdoor@"),
        "Frontdoor, not the caller, called the advisor: {established:?}"
    );
    assert!(
        wait_for_log(&server, "cause=Transferred", Duration::from_secs(10)),
        "bridged call did not end as Transferred:\n{}",
        server.log_tail(6000)
    );
    let log = plain_log(&server);
    assert!(log.contains("status=405"), "REFER was not refused:\n{log}");
    assert!(log.contains("advisor answered: bridged"), "{log}");
    let advisor_dtmf = advisor
        .wait_event("CALL_DTMF_START", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the caller's 7 never reached the advisor: {e}\n{log}"));
    assert_eq!(advisor_dtmf.param, "7", "{advisor_dtmf:?}");
    advisor
        .wait_event("CALL_CLOSED", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("advisor leg not hung up with the caller: {e}\n{log}"));

    // What the caller heard through the bridge: the advisor's voice.
    let heard = streams_to_port(&datagrams, media);
    assert_eq!(heard.len(), 1, "one stream to the caller");
    let digits: String = heard[0]
        .telephone_events(101)
        .iter()
        .map(|e| e.digit)
        .collect();
    assert_eq!(
        digits, "5",
        "the advisor's key reaches the caller as RFC 4733"
    );
    let audio = heard[0].decode_audio();
    let hit = best_match(&audio.samples, &speech).expect("recording long enough");
    eprintln!("advisor speech in what the caller heard: {hit:?}");
    assert!(
        hit.ncc > 0.8,
        "the advisor's speech is not in what the caller heard: {hit:?}"
    );
    advisor.quit();
    assert!(server.stop(), "server stops cleanly");
}
