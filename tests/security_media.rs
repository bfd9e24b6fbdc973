//! A call's media belongs to its caller: attacks from a third address on loopback.
//!
//! - Hijack and key injection: a host at 127.0.0.2 sprays RTP and RFC 4733 keys at the RTP
//!   ports the server would hand out next (in order: the bottom of its range) from before the
//!   call is answered, and at the call's real port once the 200 OK names it (as a host sniffing
//!   the signalling would), through a 1.5 s pause of the caller's RTP. The caller must still
//!   hear the prompts, its keys must make the case, the attacker must receive no RTP and no
//!   case may carry the attacker's keys.
//! - Flood: 10,000 datagrams/s (garbage and valid-looking RTP with random SSRCs) from
//!   127.0.0.2 at a live call's RTP port for 3 s: the caller loses < 1 % of its packets.
//! - Offers and re-offers naming broadcast, multicast or unspecified addresses, or port 1, get
//!   488 Not Acceptable Here; the call that was re-offered goes on.
//!
//! The caller is a [`LiveCaller`] on 127.0.0.1; everything binds and sends on 127.0.0.0/8. The
//! server is observed from outside: SIP, RTP, its log and `frontdoor records export`.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::demo::repo_root;
use support::live_caller::{LiveCaller, default_offer};
use support::server::{ServerGuard, ServerOptions};

/// Any number reaches the one flow.
const NUMBER: &str = "01632960000";
/// The account number the caller keys.
const CALLER_ACCOUNT: &str = "12345678";
/// The key the attacker sends (RFC 4733 event 9).
const ATTACKER_DIGIT: u8 = 9;

/// A keypad flow that stores a case from the keyed account number, then plays a prompt.
const GUARD_FLOW: &str = r##"flow: guard
description: Keys an account number into a case.
start: account
nodes:
  account:
    ask: ask_account_number
    slot: {name: account_number, type: digits}
    digits: {max: 8, terminator: "#"}
    next: store
    no_match: [account_number_no_match]
  store:
    case:
      type: media_guard
      fields:
        account_number: "{slots.account_number}"
    next: done
  done:
    say: anything_else
    next: bye
  bye:
    hangup: true
"##;

fn start_server() -> ServerGuard {
    ServerGuard::start(ServerOptions {
        flows: vec![
            ("routes.yaml".into(), "default: guard\n".into()),
            ("guard.yaml".into(), GUARD_FLOW.into()),
        ],
        prompts_dir: Some(repo_root().join("audio-prompts")),
        args: vec!["--max-calls".into(), "4".into()],
        ready_within: Duration::from_secs(30),
        ..ServerOptions::default()
    })
    .expect("frontdoor serve starts with the guard flow")
}

/// The account numbers of the stored cases.
fn case_accounts(server: &ServerGuard) -> Vec<String> {
    server
        .export_records()
        .get("cases")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .map(|c| {
            c.get("fields")
                .and_then(|f| f.get("account_number"))
                .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                .unwrap_or_default()
        })
        .collect()
}

/// Waits up to `limit` for at least one case.
fn wait_for_cases(server: &ServerGuard, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let cases = case_accounts(server);
        if !cases.is_empty() || Instant::now() >= deadline {
            return cases;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A host on another loopback address sending RTP and RFC 4733 keys at a set of ports.
struct Attacker {
    targets: Arc<Mutex<Vec<u16>>>,
    received: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Attacker {
    /// Sprays each target port with 100 RTP packets/s of loud audio and a new key every
    /// 100 ms, and counts whatever the server sends back to it.
    fn spray(targets: Vec<u16>) -> Attacker {
        let socket = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        socket
            .set_read_timeout(Some(Duration::from_millis(2)))
            .expect("read timeout");
        let targets = Arc::new(Mutex::new(targets));
        let received = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (targets, received, sent, stop) = (
                Arc::clone(&targets),
                Arc::clone(&received),
                Arc::clone(&sent),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || {
                let mut seq: u16 = 1000;
                let mut tick: u32 = 0;
                let mut next = Instant::now();
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        next += Duration::from_millis(10);
                        tick += 1;
                        let ports = targets.lock().map(|t| t.clone()).unwrap_or_default();
                        let ts = tick.wrapping_mul(80);
                        // Loud audio: μ-law codes near full scale.
                        let mut audio = rtp_header(0, seq, ts, 0xBAD0_0001, false);
                        audio.extend((0..160).map(|i| if i % 2 == 0 { 0x80 } else { 0x00 }));
                        // A new key every 100 ms: start, then end (RFC 4733 §2.5.1.3).
                        let event = (tick % 10 < 2).then(|| {
                            let event_ts = (tick / 10).wrapping_mul(800);
                            let end = tick % 10 == 1;
                            let mut p = rtp_header(101, seq, event_ts, 0xBAD0_0001, !end);
                            p.extend([ATTACKER_DIGIT, if end { 0x8A } else { 0x0A }, 0x03, 0x20]);
                            p
                        });
                        seq = seq.wrapping_add(1);
                        for port in ports {
                            let to = SocketAddr::from(([127, 0, 0, 1], port));
                            let mut n = u64::from(socket.send_to(&audio, to).is_ok());
                            if let Some(e) = &event {
                                n += u64::from(socket.send_to(e, to).is_ok());
                            }
                            sent.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                    if socket.recv(&mut buf).is_ok() {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        Attacker {
            targets,
            received,
            sent,
            stop,
            thread: Some(thread),
        }
    }

    fn add_target(&self, port: u16) {
        if let Ok(mut t) = self.targets.lock() {
            t.push(port);
        }
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rtp_header(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool) -> Vec<u8> {
    let mut h = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    h.extend(seq.to_be_bytes());
    h.extend(ts.to_be_bytes());
    h.extend(ssrc.to_be_bytes());
    h
}

#[test]
fn a_third_host_cannot_take_a_calls_audio_or_inject_its_keys() {
    let server = start_server();
    // The pairs the server would hand out first if it went in order through its range.
    let low = server.rtp_range().0;
    let low = low + low % 2;
    let predicted = vec![low, low + 2, low + 4];
    let attacker = Attacker::spray(predicted.clone());
    // Spraying before the call exists and before it is answered.
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = LiveCaller::call(server.sip_addr(), NUMBER, "07700900123")
        .unwrap_or_else(|e| panic!("call: {e}\n{}", server.log_tail(3000)));
    // As if it had sniffed the 200 OK: the call's actual port.
    attacker.add_target(caller.media_port());
    let predicted_hit = predicted.contains(&caller.media_port());

    // The prompt starts; the caller pauses its RTP for 1.5 s part-way through it.
    let deadline = Instant::now() + Duration::from_secs(8);
    while !caller.heard_audio() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let heard_before_pause = caller.heard_audio();
    std::thread::sleep(Duration::from_millis(500));
    caller.pause_media(Duration::from_millis(1500));
    std::thread::sleep(Duration::from_millis(1600));
    // After the pause the prompt (10 s) is still playing: the caller must still hear it.
    caller.reset_heard();
    let received_before = caller.packets_received();
    std::thread::sleep(Duration::from_millis(1200));
    let heard_after_pause = caller.heard_audio();
    let received_after_pause = caller.packets_received() - received_before;

    caller.keys(&format!("{CALLER_ACCOUNT}#"));
    let cases = wait_for_cases(&server, Duration::from_secs(20));
    caller.hang_up();
    let attacker_received = attacker.received.load(Ordering::Relaxed);
    let attacker_sent = attacker.sent.load(Ordering::Relaxed);
    drop(attacker);
    let injected = cases.iter().filter(|a| *a != CALLER_ACCOUNT).count();
    let caller_cases = cases.iter().filter(|a| *a == CALLER_ACCOUNT).count();
    eprintln!(
        "hijack: call port {} (predicted: {predicted_hit}); attacker sent {attacker_sent}, \
         received {attacker_received} RTP packets from the server; caller heard prompt before \
         pause {heard_before_pause}, after pause {heard_after_pause} ({received_after_pause} \
         packets in 1.2 s); cases with the caller's account {caller_cases}, injected cases \
         {injected} ({cases:?})",
        caller.media_port()
    );
    assert_eq!(attacker_received, 0, "the attacker received the call's RTP");
    assert!(heard_before_pause, "the caller heard no prompt");
    assert!(
        heard_after_pause,
        "the caller lost the prompt after its pause"
    );
    assert_eq!(
        injected, 0,
        "a case was made from the attacker's keys: {cases:?}"
    );
    assert_eq!(
        caller_cases,
        1,
        "the caller's keys made no case: {cases:?}\n{}",
        server.log_tail(3000)
    );
}

/// The `key=value` fields of the server's call summary line, once it is logged.
fn call_summary(server: &ServerGuard, limit: Duration) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(line) = server
            .log()
            .lines()
            .find(|l| l.contains("call summary"))
            .map(str::to_string)
        {
            return Some(line);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn summary_field(line: &str, key: &str) -> Option<f64> {
    let needle = format!("{key}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&needle))
        .and_then(|v| v.trim_end_matches(',').trim_matches('"').parse().ok())
}

#[test]
fn a_flood_on_a_calls_rtp_port_does_not_starve_the_caller() {
    const RATE: u64 = 10_000;
    const FLOOD: Duration = Duration::from_secs(3);
    let server = start_server();
    let mut caller = LiveCaller::call(server.sip_addr(), NUMBER, "07700900123")
        .unwrap_or_else(|e| panic!("call: {e}\n{}", server.log_tail(3000)));
    let target = SocketAddr::from(([127, 0, 0, 1], caller.media_port()));
    std::thread::sleep(Duration::from_millis(500));
    let sent_before = caller.packets_sent();

    let flood = std::thread::spawn(move || {
        let socket = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
        let start = Instant::now();
        let mut sent: u64 = 0;
        let mut state: u32 = 0x1234_5678;
        let mut next_random = || {
            // xorshift: cheap variety for SSRCs, sequence numbers and garbage.
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        while start.elapsed() < FLOOD {
            let due = (start.elapsed().as_micros() as u64) * RATE / 1_000_000;
            while sent < due {
                let packet = if sent.is_multiple_of(2) {
                    let r = next_random();
                    let mut p = rtp_header(0, r as u16, r, next_random(), false);
                    p.extend([0x55u8; 160]);
                    p
                } else {
                    let len = 20 + (next_random() % 180) as usize;
                    (0..len).map(|_| next_random() as u8).collect()
                };
                let _ = socket.send_to(&packet, target);
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        (sent, start.elapsed())
    });
    // The caller keys its account number while the flood runs.
    std::thread::sleep(Duration::from_millis(300));
    caller.keys(&format!("{CALLER_ACCOUNT}#"));
    let (flood_sent, flood_time) = flood.join().expect("flood thread");
    let cases = wait_for_cases(&server, Duration::from_secs(15));
    let caller_sent = caller.packets_sent() - sent_before;
    caller.hang_up();
    let summary = call_summary(&server, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no call summary:\n{}", server.log_tail(3000)));
    let loss_pct = summary_field(&summary, "loss_pct").unwrap_or(100.0);
    let lost = summary_field(&summary, "lost").unwrap_or(-1.0);
    let packets_in = summary_field(&summary, "packets_in").unwrap_or(0.0);
    eprintln!(
        "flood: {flood_sent} datagrams in {:.2} s ({:.0}/s) from 127.0.0.2; caller sent \
         {caller_sent} during and after it; server summary: packets_in {packets_in}, lost {lost}, \
         loss {loss_pct:.2} %; cases {cases:?}\n{summary}",
        flood_time.as_secs_f64(),
        flood_sent as f64 / flood_time.as_secs_f64()
    );
    assert!(
        flood_sent as f64 / flood_time.as_secs_f64() > 0.8 * RATE as f64,
        "the flood did not reach its rate"
    );
    assert!(
        loss_pct < 1.0,
        "the caller lost {loss_pct} % of its packets under the flood"
    );
    assert_eq!(
        cases,
        vec![CALLER_ACCOUNT.to_string()],
        "the caller's keys made its case"
    );
}

/// The caller's offer with its connection address or port replaced.
fn offer_with(rtp_port: u16, connection: &str, media_port: Option<u16>) -> String {
    let sdp =
        default_offer(rtp_port).replace("c=IN IP4 127.0.0.1", &format!("c=IN IP4 {connection}"));
    match media_port {
        Some(p) => sdp.replace(&format!("m=audio {rtp_port} "), &format!("m=audio {p} ")),
        None => sdp,
    }
}

#[test]
fn offers_naming_broadcast_multicast_unspecified_or_port_1_get_488() {
    let server = start_server();
    let bad: [(&str, Option<u16>); 4] = [
        ("255.255.255.255", None),
        ("224.0.0.1", None),
        ("0.0.0.0", None),
        ("127.0.0.1", Some(1)),
    ];
    let mut initial = Vec::new();
    for (connection, port) in bad {
        let result = LiveCaller::call_offering(server.sip_addr(), NUMBER, "07700900123", |p| {
            offer_with(p, connection, port)
        });
        let status = match result {
            Ok(mut call) => {
                call.hang_up();
                200
            }
            Err(e) => e
                .to_string()
                .split("answered ")
                .nth(1)
                .and_then(|s| s.get(..3))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        };
        initial.push((connection, port, status));
    }

    let mut caller = LiveCaller::call(server.sip_addr(), NUMBER, "07700900123")
        .unwrap_or_else(|e| panic!("call: {e}\n{}", server.log_tail(3000)));
    let mut reoffers = Vec::new();
    for (version, (connection, port)) in bad.iter().enumerate() {
        let sdp = offer_with(caller.rtp_port(), connection, *port)
            .replace("o=- 1 1 IN", &format!("o=- 1 {} IN", version + 2));
        let status = caller.reoffer(&sdp, Duration::from_secs(5)).unwrap_or(0);
        reoffers.push((*connection, *port, status));
    }
    // The call goes on with its media where it was.
    let before = caller.packets_received();
    std::thread::sleep(Duration::from_millis(1000));
    let still_receiving = caller.packets_received() - before;
    let valid = caller.offer().replace("o=- 1 1 IN", "o=- 1 9 IN");
    let valid_status = caller.reoffer(&valid, Duration::from_secs(5)).unwrap_or(0);
    caller.hang_up();
    eprintln!(
        "offers: initial {initial:?}; re-offers {reoffers:?}; valid re-offer {valid_status}; \
         caller received {still_receiving} RTP packets in the second after"
    );
    for (connection, port, status) in initial.iter().chain(reoffers.iter()) {
        assert_eq!(*status, 488, "offer c={connection} port {port:?}");
    }
    assert_eq!(valid_status, 200, "a valid re-offer is still answered");
    assert!(
        still_receiving > 25,
        "the call's media stopped after refused re-offers ({still_receiving} packets in 1 s)"
    );
}

/// An offerless INVITE (RFC 3261 §13.2.1): the server offers in its 200 and the caller answers
/// in the ACK. An answer naming a multicast address cannot be refused with 488 (an ACK has no
/// response), so the server must end the call with a BYE instead of sending media there.
#[test]
fn an_answer_in_the_ack_naming_multicast_ends_the_call() {
    use support::sip_probe::{RawSipUdp, header, status_code};
    let server = start_server();
    let sip = RawSipUdp::bind().expect("SIP socket");
    let local = sip.local_addr().expect("local address");
    let target = server.sip_addr();
    let call_id = format!("offerless-{}@127.0.0.1", local.port());
    let from = "<sip:07700900123@127.0.0.1>;tag=offerless1";
    let invite = format!(
        "INVITE sip:{NUMBER}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKol1;rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: <sip:{NUMBER}@{target}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\nContent-Length: 0\r\n\r\n"
    );
    let ok = sip
        .request(target, invite.as_bytes(), Duration::from_secs(10), true)
        .expect("INVITE sent")
        .expect("a final response to the offerless INVITE");
    assert_eq!(status_code(&ok), Some(200));
    let to = header(&ok, "To").unwrap_or_default();
    let answer = offer_with(40_000, "224.0.0.1", None);
    let ack = format!(
        "ACK sip:{NUMBER}@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKol2;rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
        answer.len()
    );
    sip.send(target, ack.as_bytes()).expect("ACK sent");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut bye = None;
    while bye.is_none() && Instant::now() < deadline {
        if let Some(m) = sip.recv(Duration::from_millis(200))
            && m.starts_with(b"BYE ")
        {
            bye = Some(m);
        }
    }
    let got_bye = bye.is_some();
    if let Some(bye) = bye {
        // Answer the BYE so the server's transaction completes.
        let mut reply = String::from("SIP/2.0 200 OK\r\n");
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if let Some(v) = header(&bye, name) {
                reply.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        reply.push_str("Content-Length: 0\r\n\r\n");
        let _ = sip.send(target, reply.as_bytes());
    }
    eprintln!("offerless: answer in ACK with c=224.0.0.1 -> BYE within 5 s: {got_bye}");
    assert!(
        got_bye,
        "the call went on with media aimed at a multicast group"
    );
}
