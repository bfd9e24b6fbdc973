//! Proves the real-peer harness works without the Frontdoor server: sipp calls sipp, baresip
//! calls sipp, captures are decoded and known audio is found by cross-correlation while
//! unrelated audio is not, and the loopback namespace runner works.

mod support;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use support::audio::{best_match, read_wav_8k, voiced_duration};
use support::baresip::{Baresip, BaresipOptions, parse_netstring};
use support::capture::{Capture, CaptureSpec};
use support::g711::Law;
use support::netns::in_loopback_namespace;
use support::pcap::{UdpDatagram, read_udp};
use support::ports::free_block;
use support::rtp::{RtpStreamBuilder, streams, streams_to_port};
use support::sipp::{Scenario, Sipp, parse_rtt, parse_stats};
use support::speech::{Voice, synthesize, write_g711_raw, write_padded_wav};
use support::tempdir::TempDir;

const CALLEE_TEXT: &str = "Thank you for calling the council. Please hold the line.";
const CALLER_TEXT: &str = "I would like to report a missed bin collection.";
const UNRELATED_TEXT: &str = "Seven green bottles were standing on the wall.";

#[test]
fn g711_laws_round_trip_their_own_codes() {
    for law in [Law::MuLaw, Law::ALaw] {
        for code in 0..=255u8 {
            let linear = law.decode(code);
            assert_eq!(
                linear,
                law.decode(law.encode(linear)),
                "{law:?} code {code:#04x}"
            );
        }
    }
    assert_eq!(Law::MuLaw.decode(0xff), 0);
    assert_eq!(Law::MuLaw.decode(0x00), -32124);
    assert_eq!(Law::ALaw.decode(0xd5), 8);
    assert_eq!(Law::ALaw.decode(0xaa), 32256);
}

#[test]
fn generated_pcap_carries_audio_and_dtmf_in_one_ssrc() {
    let tone = support::speech::sine(440.0, 300, 8000.0);
    let mut builder = RtpStreamBuilder::new(Law::ALaw, 101);
    builder
        .audio(&tone)
        .dtmf('5', 200)
        .silence(100)
        .dtmf('#', 120)
        .audio(&tone);
    let src = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4000);
    let dst = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5000);
    let bytes = builder.to_pcap(src, dst).into_bytes();

    let datagrams = read_udp(&bytes).expect("our own pcap parses");
    let found = streams(&datagrams);
    assert_eq!(found.len(), 1, "audio and events share one SSRC");
    let stream = &found[0];
    assert_eq!(stream.lost_packets(), 0, "one continuous sequence space");
    let events = stream.telephone_events(101);
    let digits: String = events.iter().map(|e| e.digit).collect();
    assert_eq!(digits, "5#", "end retransmissions count once");
    assert!(events.iter().all(|e| e.ended));
    assert_eq!(events[0].duration, 1600);
    // RFC 4733 §2.5.1.1: only an event's first packet has the marker.
    let markers = stream
        .packets
        .iter()
        .filter(|p| p.marker && p.payload_type == 101)
        .count();
    assert_eq!(markers, 2);
    let audio = stream.decode_audio();
    let expected: Vec<i16> = tone
        .iter()
        .map(|&s| Law::ALaw.decode(Law::ALaw.encode(s)))
        .collect();
    assert_eq!(&audio.samples[..expected.len()], &expected[..]);
    // Second tone starts after 300 ms audio + 200 ms event + 100 ms silence + 120 ms event.
    let second = 8 * (300 + 200 + 100 + 120);
    assert_eq!(
        &audio.samples[second..second + expected.len()],
        &expected[..]
    );
    // Truncating the file mid-record must not fail the read.
    let cut = read_udp(&bytes[..bytes.len() - 7]).expect("truncated pcap still parses");
    assert_eq!(cut.len(), datagrams.len() - 1);
}

#[test]
fn reader_skips_garbage_without_panicking() {
    assert!(read_udp(b"").is_err());
    assert!(read_udp(&[0u8; 64]).is_err());
    let mut writer = support::pcap::PcapWriter::new();
    writer.push(&UdpDatagram {
        time: Duration::from_secs(1),
        src: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1),
        dst: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 2),
        payload: b"INVITE sip:x SIP/2.0\r\n\r\n".to_vec(),
    });
    let datagrams = read_udp(&writer.into_bytes()).expect("parses");
    assert_eq!(datagrams.len(), 1);
    assert!(streams(&datagrams).is_empty(), "SIP text is not RTP");
}

#[test]
fn parsers_of_peer_output_are_lenient() {
    let stats = "StartTime;TotalCallCreated;SuccessfulCall(C);FailedCall(C)\n\
                 x;1;0;0\nx;5;4;1\n";
    let parsed = parse_stats(stats);
    assert_eq!(
        (parsed.created, parsed.successful, parsed.failed),
        (5, 4, 1)
    );
    assert_eq!(parse_stats("").created, 0);
    assert_eq!(
        parse_rtt("Date_ms;response_time_ms;rtd_no\n104.001;3;invite\nbad\n"),
        vec![3.0]
    );
    let (payload, used) = parse_netstring(b"5:hello,7:").expect("one whole netstring");
    assert_eq!((payload.as_slice(), used), (&b"hello"[..], 8));
    assert!(parse_netstring(b"7:abc").is_none());
}

#[test]
fn audio_match_finds_a_prompt_and_rejects_other_speech() {
    let dir = TempDir::new("match").expect("temp dir");
    let prompt =
        synthesize(CALLEE_TEXT, Voice::Espeak, &dir.join("prompt.wav")).expect("espeak-ng + sox");
    let other =
        synthesize(UNRELATED_TEXT, Voice::Flite, &dir.join("other.wav")).expect("flite + sox");
    // The prompt, quieter and through µ-law, 1.3 s into a recording.
    let mut recording = vec![0i16; 10_400];
    recording.extend(
        prompt
            .iter()
            .map(|&s| Law::MuLaw.decode(Law::MuLaw.encode(s / 3))),
    );
    recording.extend(vec![0i16; 8000]);
    let hit = best_match(&recording, &prompt).expect("recording longer than prompt");
    assert!(hit.ncc > 0.9, "{hit:?}");
    assert_eq!(hit.lag, 10_400);
    let voiced = voiced_duration(&prompt);
    assert!(
        (hit.matched_seconds - voiced).abs() <= voiced * 0.05,
        "{hit:?} vs {voiced}"
    );
    let miss = best_match(&recording, &other[..other.len().min(prompt.len())]).expect("comparable");
    assert!(miss.ncc < 0.5, "unrelated speech matched: {miss:?}");
}

/// sipp UAC (audio + RFC 4733 pcap) → sipp UAS (streams a known file); the capture on the
/// caller's media port proves both directions decode.
#[test]
fn sipp_calls_sipp_and_both_directions_decode() {
    let dir = TempDir::new("sipp-sipp").expect("temp dir");
    let callee = synthesize(CALLEE_TEXT, Voice::Espeak, &dir.join("callee.wav")).expect("speech");
    let caller = synthesize(CALLER_TEXT, Voice::Espeak, &dir.join("caller.wav")).expect("speech");
    let other = synthesize(UNRELATED_TEXT, Voice::Flite, &dir.join("other.wav")).expect("speech");
    write_g711_raw(&dir.join("callee.ul"), &callee, Law::MuLaw).expect("callee.ul");
    let mut builder = RtpStreamBuilder::new(Law::MuLaw, 101);
    builder
        .silence(200)
        .audio(&caller)
        .dtmf('1', 160)
        .silence(100)
        .dtmf('2', 160)
        .dtmf('#', 160);
    let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6000);
    builder
        .to_pcap(any, any)
        .write_to(&dir.join("caller.pcap"))
        .expect("caller.pcap");

    let mut uas = Sipp::uas(Scenario::Named("uas_answer_stream.xml".into()))
        .stage("callee.ul", &dir.join("callee.ul"))
        .timeout(Duration::from_secs(20))
        .spawn()
        .expect("sipp UAS starts");
    uas.wait_listening(Duration::from_secs(5))
        .expect("UAS listening");
    let (media, _) = free_block(4, 2).expect("media ports");
    let capture = Capture::start(
        &CaptureSpec {
            filter: format!("udp and port {media}"),
            ..CaptureSpec::udp_ports(media, media)
        },
        &dir.join("call.pcap"),
    )
    .expect("tcpdump starts");
    let call_ms = (callee
        .len()
        .max(builder.duration().as_millis() as usize * 8)
        / 8
        + 700) as u64;
    let uac = Sipp::uac(
        Scenario::Named("uac_prompt_dtmf.xml".into()),
        uas.local_addr(),
    )
    .service("01632960000")
    .media_port(media)
    .stage("caller.pcap", &dir.join("caller.pcap"))
    .pause(Duration::from_millis(call_ms))
    .trace_rtt(true)
    .timeout(Duration::from_secs(20))
    .run()
    .expect("sipp UAC runs");
    let uas = uas.wait().expect("UAS finishes");
    let datagrams = capture.stop().expect("capture readable");
    assert!(uac.all_calls_ok(), "UAC: {}", uac.diagnostics());
    assert!(uas.all_calls_ok(), "UAS: {}", uas.diagnostics());
    assert_eq!(uac.stats.successful, 1);
    assert_eq!(uac.response_times_ms.len(), 1, "one INVITE→200 time");

    // What the caller heard: the callee's file, and not unrelated speech.
    let heard = streams_to_port(&datagrams, media);
    assert_eq!(heard.len(), 1, "one stream to the caller");
    let heard_audio = heard[0].decode_audio();
    let hit = best_match(&heard_audio.samples, &callee).expect("long enough");
    assert!(hit.ncc > 0.8, "callee audio not found: {hit:?}");
    let miss = best_match(
        &heard_audio.samples,
        &other[..other.len().min(callee.len())],
    );
    assert!(
        miss.is_none_or(|m| m.ncc < 0.5),
        "unrelated matched: {miss:?}"
    );
    let deviation = heard[0].send_deviation().expect("enough packets");
    eprintln!("sipp rtp_stream send deviation: {deviation:?}");

    // What the caller sent: one SSRC with audio and the three keys.
    let sent: Vec<_> = streams(&datagrams)
        .into_iter()
        .filter(|s| s.src.port() == media)
        .collect();
    assert_eq!(sent.len(), 1, "caller audio and DTMF in one stream");
    let digits: String = sent[0]
        .telephone_events(101)
        .iter()
        .map(|e| e.digit)
        .collect();
    assert_eq!(digits, "12#");
    let said = sent[0].decode_audio();
    let hit = best_match(&said.samples, &caller).expect("long enough");
    assert!(hit.ncc > 0.95, "caller audio not found: {hit:?}");
}

/// baresip dials a sipp UAS that streams a known file; baresip's recording contains it.
#[test]
fn baresip_calls_sipp_and_records_what_it_hears() {
    let dir = TempDir::new("baresip-sipp").expect("temp dir");
    let callee = synthesize(CALLEE_TEXT, Voice::Espeak, &dir.join("callee.wav")).expect("speech");
    let mic = synthesize(CALLER_TEXT, Voice::Flite, &dir.join("mic-raw.wav")).expect("speech");
    // Padded: baresip's jitter buffer swallows the first packets of a stream.
    let mut streamed = support::speech::silence(500);
    streamed.extend(&callee);
    streamed.extend(support::speech::silence(1000));
    write_g711_raw(&dir.join("callee.ul"), &streamed, Law::MuLaw).expect("callee.ul");
    write_padded_wav(&dir.join("mic.wav"), &mic, 20_000).expect("mic.wav");

    let mut uas = Sipp::uas(Scenario::Named("uas_answer_stream.xml".into()))
        .stage("callee.ul", &dir.join("callee.ul"))
        .timeout(Duration::from_secs(20))
        .spawn()
        .expect("sipp UAS starts");
    uas.wait_listening(Duration::from_secs(5))
        .expect("UAS listening");
    let mut phone =
        Baresip::start(&BaresipOptions::caller(&dir.join("mic.wav"))).expect("baresip starts");
    phone
        .dial(&format!("sip:council@{}", uas.local_addr()))
        .expect("dial accepted");
    phone
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", phone.log()));
    std::thread::sleep(Duration::from_millis(streamed.len() as u64 / 8 + 300));
    phone.hangup().expect("hangup");
    phone
        .wait_event("CALL_CLOSED", Duration::from_secs(20))
        .expect("call closed");
    let log = phone.log();
    let recordings = phone.heard_recordings();
    let _phone_dir = phone.quit();
    let uas = uas.wait().expect("UAS finishes");
    assert!(uas.all_calls_ok(), "UAS: {}", uas.diagnostics());

    assert_eq!(
        recordings.len(),
        1,
        "one recording of what was heard\n{log}"
    );
    let heard = read_wav_8k(&recordings[0]).expect("recording is a WAV");
    let hit = best_match(&heard, &callee).expect("recording long enough");
    assert!(
        hit.ncc > 0.8,
        "callee audio not in baresip's recording: {hit:?}"
    );
}

/// Inside the namespace only `lo` exists, and UDP over it works.
#[test]
fn loopback_namespace_runs_a_udp_echo() {
    in_loopback_namespace("loopback_namespace_runs_a_udp_echo", || {
        // /proc/self/net follows the network namespace (sysfs shows the mounter's).
        let dev = std::fs::read_to_string("/proc/self/net/dev").expect("procfs");
        let interfaces: Vec<String> = dev
            .lines()
            .skip(2)
            .filter_map(|l| Some(l.split_once(':')?.0.trim().to_string()))
            .collect();
        assert_eq!(
            interfaces,
            vec!["lo".to_string()],
            "only loopback in the namespace"
        );
        let echo = UdpSocket::bind("127.0.0.1:0").expect("bind echo");
        let echo_addr = echo.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            if let Ok((n, from)) = echo.recv_from(&mut buf) {
                let _ = echo.send_to(&buf[..n], from);
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        client.send_to(b"ping", echo_addr).expect("send");
        let mut buf = [0u8; 64];
        let (n, _) = client.recv_from(&mut buf).expect("echo reply");
        assert_eq!(&buf[..n], b"ping");
        server.join().expect("echo thread");
    });
}

/// Every scenario in tests/sipp loads in sipp 3.6 (exit 255 means sipp rejected it).
#[test]
fn every_sipp_scenario_loads() {
    let dir = TempDir::new("scenarios").expect("temp dir");
    std::fs::write(dir.join("empty"), b"").expect("placeholder media");
    let mut names: Vec<String> = std::fs::read_dir(support::sipp_scenario_dir())
        .expect("tests/sipp")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    let runs: Vec<_> = names
        .iter()
        .map(|name| {
            let scenario = Scenario::Named(name.clone());
            let nowhere = "127.0.0.1:9".parse().expect("address");
            let sipp = if name.starts_with("uas") {
                Sipp::uas(scenario)
            } else {
                Sipp::uac(scenario, nowhere)
            };
            let sipp = ["caller.pcap", "caller.ul", "callee.ul"]
                .iter()
                .fold(sipp, |s, f| s.stage(f, &dir.join("empty")))
                .key("auth_user", "agent")
                .key("auth_password", "secret")
                .timeout(Duration::from_secs(1));
            (name.clone(), sipp.spawn().expect("sipp starts"))
        })
        .collect();
    for (name, run) in runs {
        let outcome = run.wait().expect("sipp ends");
        // 255 is also sipp's exit for the global -timeout, which only a scenario that loaded
        // and ran can reach (uac_cancel waits for a 180 that port 9 never sends).
        let loaded = outcome.exit_code != Some(255) || outcome.output.contains("timed out after");
        assert!(loaded, "{name} rejected by sipp:\n{}", outcome.output);
    }
}

/// The load analysis (CPU, RSS, INVITE→200, send-time deviation) works sipp to sipp.
#[test]
fn load_analysis_measures_a_sipp_answerer() {
    let dir = TempDir::new("load-uas").expect("temp dir");
    let calls = 4;
    let callee = support::speech::sine(300.0, 2000, 6000.0);
    write_g711_raw(&dir.join("callee.ul"), &callee, Law::MuLaw).expect("callee.ul");
    let (uas_media, uas_top) = free_block(4 * calls as u16 + 8, 2).expect("ports");
    let (uac_media, _) = free_block(4 * calls as u16 + 8, 2).expect("ports");
    let mut uas = Sipp::uas(Scenario::Named("uas_load.xml".into()))
        .calls(calls)
        .media_port(uas_media)
        .stage("callee.ul", &dir.join("callee.ul"))
        .trace_messages(false)
        .timeout(Duration::from_secs(30))
        .spawn()
        .expect("sipp UAS");
    uas.wait_listening(Duration::from_secs(5))
        .expect("UAS listening");
    let report = support::load::run_load(&support::load::LoadSpec {
        calls,
        seconds: 3,
        rate_per_second: 20,
        target: uas.local_addr(),
        target_pid: uas.pid(),
        target_rtp: (uas_media, uas_top),
        sipp_media_port: Some(uac_media),
        service: None,
        caller_audio: support::load::CallerAudio::Warble,
    })
    .expect("load run");
    eprintln!("{report}");
    let uas = uas.wait().expect("UAS ends");
    assert!(uas.all_calls_ok(), "{}", uas.diagnostics());
    assert_eq!(
        (report.attempted, report.completed, report.failed),
        (4, 4, 0),
        "{}",
        report.diagnostics
    );
    assert_eq!(report.streams, 4, "one stream per call from the answerer");
    let deviation = report.send_deviation.expect("packets captured");
    assert!(deviation.packets > 4 * 100, "{deviation:?}");
    assert!(report.rss_peak_kib > 0);
}
