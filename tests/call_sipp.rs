//! `frontdoor serve` driven by sipp, a real SIP peer:
//! a call that hears the demo menu, presses 2 with RFC 4733 and is hung up by Frontdoor
//! (UDP and TCP), CANCEL before answer, hold/resume by re-INVITE across the media timeout,
//! an offerless INVITE, a session-timer refresh, and a call Frontdoor's user agent places to
//! a sipp answerer that demands digest authentication.
//!
//! What the caller heard is judged from the RTP Frontdoor sent, captured on loopback with
//! tcpdump and matched against each prompt by normalised cross-correlation: the stream runs
//! at 50 packets/s whatever plays, so packet counts prove nothing.

mod support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use frontdoor::entropy::Entropy;
use frontdoor::sip::ua::{OutboundTarget, Transport as UaTransport, UaConfig, UaEvent, UserAgent};
use support::audio::{best_match, find_in_order};
use support::capture::{Capture, CaptureSpec};
use support::demo::{PROMPTS_OPTION_B, prompt, server_packets, server_streams, start_demo_server};
use support::g711::Law;
use support::pcap::UdpDatagram;
use support::rtp::RtpStreamBuilder;
use support::server::ServerGuard;
use support::sip_probe::{RawSipUdp, header, status_code};
use support::sipp::{Scenario, Sipp, Transport};
use support::speech::{sine, write_g711_raw};
use support::tempdir::TempDir;

/// Least NCC at which a prompt counts as heard. Through G.711 a prompt that was really
/// played correlates above 0.95 (see the printed figures); other speech stays below 0.5.
const HEARD: f64 = 0.8;

/// Captures every UDP packet to or from the server's RTP ports.
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

/// The caller's audio for a call: a quiet tone (so the server has RTP to latch onto),
/// then RFC 4733 `digit` at `dtmf_at_ms`, in one SSRC as a phone sends it.
fn caller_pcap(dir: &TempDir, dtmf_at_ms: u32, digit: char, total_ms: u32) {
    let mut builder = RtpStreamBuilder::new(Law::MuLaw, 101);
    builder
        .audio(&sine(300.0, dtmf_at_ms, 500.0))
        .dtmf(digit, 160)
        .audio(&sine(
            300.0,
            total_ms.saturating_sub(dtmf_at_ms + 160),
            500.0,
        ));
    let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6000);
    builder
        .to_pcap(any, any)
        .write_to(&dir.join("caller.pcap"))
        .expect("caller.pcap");
}

/// A quiet tone for scenarios that `rtp_stream` a raw µ-law file.
fn caller_ul(dir: &TempDir) {
    write_g711_raw(
        &dir.join("caller.ul"),
        &sine(300.0, 2000, 500.0),
        Law::MuLaw,
    )
    .expect("caller.ul");
}

/// The demo menu call: hear welcome and menu, press 2, hear option B and goodbye, and
/// Frontdoor hangs up. Asserts the prompts were heard in that order.
fn menu_call_presses_2_and_frontdoor_hangs_up(transport: Transport) {
    let dir = TempDir::new("menu-call").expect("temp dir");
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    // welcome (2.5 s) + menu (4.5 s) end about 7 s after the ACK; press 2 at 8 s.
    caller_pcap(&dir, 8000, '2', 16_000);
    let capture = capture_server_rtp(&server, &dir);
    let outcome = Sipp::uac(
        Scenario::Named("uac_prompt_dtmf_remote_bye.xml".into()),
        server.sip_addr(),
    )
    .transport(transport)
    .service("01632960000")
    .stage("caller.pcap", &dir.join("caller.pcap"))
    .timeout(Duration::from_secs(35))
    .run()
    .expect("sipp runs");
    let datagrams = capture.stop().expect("capture readable");
    assert!(
        outcome.all_calls_ok(),
        "the call must end with Frontdoor's BYE: {}\n{}",
        outcome.diagnostics(),
        server.log_tail(3000)
    );
    assert!(
        outcome.message_log.contains("BYE sip:"),
        "no BYE in sipp's trace: {}",
        outcome.diagnostics()
    );
    let heard = heard_by_caller(&datagrams, &server);
    assert_prompts_in_order(&heard, &PROMPTS_OPTION_B);
    let wrong = best_match(&heard, &prompt("demo-option-a")).map_or(0.0, |m| m.ncc);
    assert!(
        wrong < HEARD,
        "option A played for digit 2 (NCC {wrong:.3})"
    );
}

/// Decoded audio of the one stream Frontdoor sent.
fn heard_by_caller(datagrams: &[UdpDatagram], server: &ServerGuard) -> Vec<i16> {
    let sent = server_streams(datagrams, server.rtp_range());
    assert_eq!(
        sent.len(),
        1,
        "one RTP stream (one SSRC) from Frontdoor: {:?}",
        sent.iter()
            .map(|s| (s.ssrc, s.src, s.dst))
            .collect::<Vec<_>>()
    );
    sent[0].decode_audio().samples
}

/// Finds each named prompt after the previous one and prints the NCC figures.
fn assert_prompts_in_order(heard: &[i16], names: &[&str]) {
    let references: Vec<Vec<i16>> = names.iter().map(|n| prompt(n)).collect();
    let refs: Vec<&[i16]> = references.iter().map(Vec::as_slice).collect();
    let found = find_in_order(heard, &refs, HEARD);
    for (name, m) in names.iter().zip(&found) {
        eprintln!(
            "heard {name}: NCC {:.3} at {:.2} s, {:.2} s matched",
            m.ncc,
            m.start_seconds(),
            m.matched_seconds
        );
    }
    assert_eq!(
        found.len(),
        names.len(),
        "prompts not heard in order {names:?}; found {found:?} in {:.1} s of audio",
        heard.len() as f64 / 8000.0
    );
}

#[test]
fn udp_call_hears_menu_presses_2_and_frontdoor_hangs_up() {
    menu_call_presses_2_and_frontdoor_hangs_up(Transport::Udp);
}

#[test]
fn tcp_call_hears_menu_presses_2_and_frontdoor_hangs_up() {
    menu_call_presses_2_and_frontdoor_hangs_up(Transport::Tcp);
}

/// An INVITE for the raw CANCEL test, with the given branch and tag.
fn invite(server: SocketAddr, local: SocketAddr, branch: &str, tag: &str, call_id: &str) -> String {
    let sdp = format!(
        "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        local.port() + 2
    );
    format!(
        "INVITE sip:01632960000@{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:07700900123@{local}>;tag={tag}\r\n\
         To: <sip:01632960000@{server}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:07700900123@{local}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The caller's side of the raw CANCEL test's dialog.
struct RawCall<'a> {
    server: SocketAddr,
    local: SocketAddr,
    tag: &'a str,
    call_id: &'a str,
}

impl RawCall<'_> {
    /// A request in the INVITE's transaction or dialog (CANCEL, ACK, BYE).
    fn request(&self, method: &str, cseq: u32, branch: &str, to_tag: Option<&str>) -> String {
        let RawCall {
            server,
            local,
            tag,
            call_id,
        } = self;
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        format!(
            "{method} sip:01632960000@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:07700900123@{local}>;tag={tag}\r\n\
             To: <sip:01632960000@{server}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }
}

/// sipp calls a server that rings for 3 s before answering (`--answer-delay-ms`), gets
/// 180, CANCELs while ringing, and requires 200 to the CANCEL and 487 to the INVITE, then
/// ACKs (RFC 3261 §9.2, §15); the scenario fails on any other sequence.
#[test]
fn sipp_cancel_while_ringing_gets_200_and_487() {
    let server = start_demo_server(&["--answer-delay-ms", "3000"]).expect("frontdoor serve starts");
    let outcome = Sipp::uac(Scenario::Named("uac_cancel.xml".into()), server.sip_addr())
        .timeout(Duration::from_secs(20))
        .run()
        .expect("sipp runs");
    assert!(
        outcome.all_calls_ok(),
        "{}\n{}",
        outcome.diagnostics(),
        server.log_tail(3000)
    );
    assert!(
        server.log().contains("cause=Cancelled"),
        "the call ends as cancelled:\n{}",
        server.log_tail(3000)
    );
}

/// CANCEL sent the instant after the INVITE (RFC 3261 §9). Frontdoor answers without
/// ringing today, so the 200 OK may win the race; then §9.2 applies (the CANCEL has no
/// effect, still gets 200) and the caller ACKs and BYEs. When the CANCEL wins: 200 to the
/// CANCEL, 487 to the INVITE, and the 487 is absorbed by our ACK.
#[test]
fn cancel_before_answer_gets_200_and_487() {
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    let sip = RawSipUdp::bind().expect("bind");
    let local = sip.local_addr().expect("local addr");
    let target = server.sip_addr();
    let (branch, tag, call_id) = ("z9hG4bKcancel1", "caller1", "cancel-test@127.0.0.1");
    let raw = RawCall {
        server: target,
        local,
        tag,
        call_id,
    };
    sip.send(
        target,
        invite(target, local, branch, tag, call_id).as_bytes(),
    )
    .expect("INVITE sent");
    sip.send(target, raw.request("CANCEL", 1, branch, None).as_bytes())
        .expect("CANCEL sent");

    let mut cancel_status = None;
    let mut invite_final: Option<Vec<u8>> = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while (cancel_status.is_none() || invite_final.is_none()) && Instant::now() < deadline {
        let Some(reply) = sip.recv(Duration::from_millis(500)) else {
            continue;
        };
        let status = status_code(&reply);
        let cseq = header(&reply, "CSeq").unwrap_or_default();
        if cseq.ends_with("CANCEL") {
            cancel_status = status;
        } else if cseq.ends_with("INVITE") && status.is_some_and(|s| s >= 200) {
            invite_final = Some(reply);
        }
    }
    let invite_final = invite_final.expect("a final response to the INVITE");
    let to_tag =
        header(&invite_final, "To").and_then(|to| to.split(";tag=").nth(1).map(|t| t.to_string()));
    assert_eq!(cancel_status, Some(200), "RFC 3261 §9.2: 200 to the CANCEL");
    match status_code(&invite_final) {
        Some(487) => {
            // RFC 3261 §17.1.1.3: the ACK for a non-2xx uses the INVITE's branch.
            sip.send(
                target,
                raw.request("ACK", 1, branch, to_tag.as_deref()).as_bytes(),
            )
            .expect("ACK sent");
            // No retransmitted 487 once the ACK arrived (Timer G stops, §17.2.1).
            std::thread::sleep(Duration::from_millis(700));
            let mut late = Vec::new();
            while let Some(reply) = sip.recv(Duration::from_millis(100)) {
                if status_code(&reply) == Some(487) {
                    late.push(reply);
                }
            }
            assert!(late.is_empty(), "487 retransmitted after the ACK");
            eprintln!("CANCEL won the race: 200 + 487");
        }
        Some(200) => {
            eprintln!(
                "CANCEL lost the race: Frontdoor answered without ringing, so 487 was \
                 impossible; checking the 200 → ACK → BYE path instead"
            );
            sip.send(
                target,
                raw.request("ACK", 1, "z9hG4bKcancelack", to_tag.as_deref())
                    .as_bytes(),
            )
            .expect("ACK sent");
            let bye = raw.request("BYE", 2, "z9hG4bKcancelbye", to_tag.as_deref());
            let reply = sip
                .request(target, bye.as_bytes(), Duration::from_secs(3), true)
                .expect("BYE sent")
                .expect("a response to BYE");
            assert_eq!(status_code(&reply), Some(200), "BYE after the lost race");
        }
        other => panic!(
            "INVITE answered {other:?}:\n{}",
            String::from_utf8_lossy(&invite_final)
        ),
    }
}

/// Hold with a=sendonly for longer than --media-timeout while nobody sends RTP: no BYE from
/// Frontdoor, its RTP stops while held and resumes after the sendrecv re-INVITE.
#[test]
fn hold_longer_than_media_timeout_then_resume() {
    let dir = TempDir::new("hold").expect("temp dir");
    let server = start_demo_server(&["--media-timeout", "3"]).expect("frontdoor serve starts");
    caller_ul(&dir);
    let capture = capture_server_rtp(&server, &dir);
    let held = Duration::from_secs(6);
    let outcome = Sipp::uac(
        Scenario::Named("uac_hold_resume.xml".into()),
        server.sip_addr(),
    )
    .stage("caller.ul", &dir.join("caller.ul"))
    .pause(held)
    .timeout(Duration::from_secs(30))
    .run()
    .expect("sipp runs");
    let datagrams = capture.stop().expect("capture readable");
    assert!(
        outcome.all_calls_ok(),
        "hold/resume failed (a BYE while held fails it): {}\n{}",
        outcome.diagnostics(),
        server.log_tail(3000)
    );
    let packets: Vec<_> = server_packets(&datagrams, server.rtp_range())
        .into_iter()
        .filter(|p| p.payload_type == 0 || p.payload_type == 8)
        .collect();
    let (gap_at, gap) = packets
        .windows(2)
        .enumerate()
        .map(|(i, w)| (i + 1, w[1].arrival.saturating_sub(w[0].arrival)))
        .max_by_key(|&(_, gap)| gap)
        .expect("Frontdoor sent RTP");
    eprintln!(
        "Frontdoor RTP: {} packets, longest silence {:.2} s, {} packets after it",
        packets.len(),
        gap.as_secs_f64(),
        packets.len() - gap_at
    );
    assert!(
        gap >= held - Duration::from_secs(1),
        "Frontdoor kept sending while held (longest gap {gap:?})"
    );
    assert!(
        packets.len() - gap_at >= 50,
        "RTP did not resume after the sendrecv re-INVITE ({} packets)",
        packets.len() - gap_at
    );
    assert!(
        !server.log().contains("cause=MediaTimeout") && !server.log().contains("media timeout"),
        "the media timeout fired on a held call:\n{}",
        server.log_tail(3000)
    );
}

/// An INVITE without SDP: Frontdoor offers in the 200, takes the answer from the ACK and
/// plays the welcome prompt to the address in it.
#[test]
fn offerless_invite_gets_offer_in_200_and_plays_welcome() {
    let dir = TempDir::new("offerless").expect("temp dir");
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    caller_ul(&dir);
    let capture = capture_server_rtp(&server, &dir);
    let outcome = Sipp::uac(
        Scenario::Named("uac_offerless.xml".into()),
        server.sip_addr(),
    )
    .stage("caller.ul", &dir.join("caller.ul"))
    .pause(Duration::from_millis(4000))
    .timeout(Duration::from_secs(20))
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
    assert_prompts_in_order(&heard, &["demo-welcome"]);
}

/// RFC 4028: Session-Expires 90 with refresher=uac; the 200 to the INVITE, to an UPDATE
/// refresh and to a re-INVITE refresh each carry Session-Expires (checked by the scenario).
#[test]
fn session_timer_refreshes_by_update_and_reinvite() {
    let dir = TempDir::new("session-timer").expect("temp dir");
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    caller_ul(&dir);
    let outcome = Sipp::uac(
        Scenario::Named("uac_session_timer.xml".into()),
        server.sip_addr(),
    )
    .stage("caller.ul", &dir.join("caller.ul"))
    .pause(Duration::from_millis(1500))
    .timeout(Duration::from_secs(20))
    .run()
    .expect("sipp runs");
    assert!(
        outcome.all_calls_ok(),
        "{}\n{}",
        outcome.diagnostics(),
        server.log_tail(3000)
    );
    let refreshed_200s = outcome
        .message_log
        .split("SIP/2.0 200")
        .skip(1)
        .filter(|m| {
            m.lines()
                .take(20)
                .any(|l| l.starts_with("Session-Expires:"))
        })
        .count();
    assert!(
        refreshed_200s >= 3,
        "expected Session-Expires in the 200s to INVITE, UPDATE and re-INVITE: {}",
        outcome.diagnostics()
    );
}

/// A minimal tokio driver for the sans-IO user agent over one UDP socket: sends what it
/// queues, feeds it what arrives and its timers, and returns its events.
struct UaDriver {
    ua: UserAgent,
    socket: tokio::net::UdpSocket,
}

impl UaDriver {
    async fn flush(&mut self) {
        while let Some(transmit) = self.ua.poll_transmit() {
            // Loopback only: the destination comes from our own target or the peer's Contact.
            let _ = self
                .socket
                .send_to(&transmit.payload, transmit.destination)
                .await;
        }
    }

    /// Runs until `want` matches an event or `limit` passes; returns that event.
    async fn until(&mut self, limit: Duration, want: impl Fn(&UaEvent) -> bool) -> Option<UaEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = vec![0u8; 65_536];
        loop {
            self.flush().await;
            while let Some(event) = self.ua.poll_event() {
                eprintln!("UA event: {event:?}");
                if want(&event) {
                    return Some(event);
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return None;
            }
            let wake = self
                .ua
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((len, from)) = received {
                        let data = buf.get(..len).unwrap_or_default();
                        self.ua.handle_datagram(Instant::now(), UaTransport::Udp, from, data);
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    self.ua.handle_timeout(Instant::now());
                }
            }
        }
    }
}

/// Frontdoor's user agent places a call to a configured target (a sipp UAS) that answers
/// the first INVITE with 401; the retry carries digest credentials sipp verifies, the call
/// is answered, and our hangup ends it.
#[tokio::test(flavor = "current_thread")]
async fn placed_call_answers_digest_challenge() {
    let dir = TempDir::new("digest").expect("temp dir");
    write_g711_raw(
        &dir.join("callee.ul"),
        &sine(400.0, 1000, 3000.0),
        Law::MuLaw,
    )
    .expect("callee.ul");
    let mut uas = Sipp::uas(Scenario::Named("uas_digest.xml".into()))
        .stage("callee.ul", &dir.join("callee.ul"))
        .key("auth_user", "agent")
        .key("auth_password", "s3cret-digest")
        .timeout(Duration::from_secs(20))
        .spawn()
        .expect("sipp UAS starts");
    uas.wait_listening(Duration::from_secs(5))
        .expect("UAS listening");

    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind SIP");
    let local = socket.local_addr().expect("local addr");
    // Our media socket, so sipp's stream has somewhere to go.
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
    let rtp_port = rtp.local_addr().expect("rtp addr").port();
    let mut config = UaConfig::new(local);
    config.outbound_targets.push(OutboundTarget {
        name: "advisor".into(),
        uri: format!("sip:agent@{}", uas.local_addr()),
        username: Some("agent".into()),
        password: Some("s3cret-digest".into()),
    });
    let mut driver = UaDriver {
        ua: UserAgent::new(config, Entropy::from_os()),
        socket,
    };
    let offer = format!(
        "v=0\r\no=frontdoor 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    );
    let call = driver
        .ua
        .place_call(Instant::now(), "advisor", offer)
        .expect("configured target");
    let answered = driver
        .until(Duration::from_secs(10), |e| {
            matches!(
                e,
                UaEvent::OutgoingAnswered { .. } | UaEvent::Terminated { .. }
            )
        })
        .await;
    match answered {
        Some(UaEvent::OutgoingAnswered { call: c, sdp }) => {
            assert_eq!(c, call);
            assert!(sdp.is_some_and(|s| s.contains("m=audio")), "answer SDP");
        }
        other => panic!("call not answered after the digest retry: {other:?}"),
    }
    // Let the dialog settle (ACK delivered, a second of callee audio) before hanging up.
    let early = driver
        .until(Duration::from_secs(1), |e| {
            matches!(e, UaEvent::Terminated { .. })
        })
        .await;
    assert!(early.is_none(), "call ended by itself: {early:?}");
    driver.ua.hangup(Instant::now(), call);
    let ended = driver
        .until(Duration::from_secs(10), |e| {
            matches!(e, UaEvent::Terminated { .. })
        })
        .await;
    assert!(
        matches!(ended, Some(UaEvent::Terminated { call: c, .. }) if c == call),
        "no Terminated after hangup: {ended:?}"
    );
    drop(rtp);
    let outcome = uas.wait().expect("sipp UAS ends");
    assert!(
        outcome.all_calls_ok(),
        "sipp rejected the credentials or the call: {}",
        outcome.diagnostics()
    );
    assert!(
        outcome.message_log.contains("Authorization: Digest"),
        "no Authorization header in the retry: {}",
        outcome.diagnostics()
    );
}
