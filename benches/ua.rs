//! Criterion benches of the sans-IO SIP user agent (virtual time, no sockets):
//! - a whole UAS call (INVITE → 100/200 → ACK → BYE → 200) through `handle_datagram` and the
//!   `poll_*` drain, alone and with 1,000 other dialogs live (per-message cost must not grow
//!   with the number of calls);
//! - `handle_timeout` with 1,000 live dialogs: when nothing is due, and when one call's 2xx
//!   retransmission is due (per-timer cost must not grow with the number of calls).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use frontdoor::entropy::Entropy;
use frontdoor::sip::ua::{CallHandle, Transport, UaConfig, UaEvent, UserAgent};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5070))
}

fn new_ua() -> UserAgent {
    let mut config = UaConfig::new(SocketAddr::from(([127, 0, 0, 1], 5060)));
    config.max_calls = 100_000;
    UserAgent::new(config, Entropy::seeded(1))
}

fn invite(id: u64) -> Vec<u8> {
    format!(
        "INVITE sip:08001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKi{id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:07700900123@127.0.0.1>;tag=c{id}\r\n\
         To: <sip:08001@127.0.0.1>\r\n\
         Call-ID: bench-{id}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:5070>\r\n\
         Supported: timer\r\n\
         Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn in_dialog(method: &str, id: u64, seq: u32, our_tag: &str) -> Vec<u8> {
    format!(
        "{method} sip:frontdoor@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{method}{id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:07700900123@127.0.0.1>;tag=c{id}\r\n\
         To: <sip:08001@127.0.0.1>;tag={our_tag}\r\n\
         Call-ID: bench-{id}@127.0.0.1\r\n\
         CSeq: {seq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Drains everything; returns the IncomingCall handle and the To tag of our last 2xx, if any.
fn drain(ua: &mut UserAgent) -> (Option<CallHandle>, Option<String>) {
    let mut tag = None;
    while let Some(t) = ua.poll_transmit() {
        if t.payload.starts_with(b"SIP/2.0 200") {
            tag = to_tag(&t.payload);
        }
        black_box(&t);
    }
    let mut call = None;
    while let Some(e) = ua.poll_event() {
        if let UaEvent::IncomingCall { call: c, .. } = e {
            call = Some(c);
        }
    }
    (call, tag)
}

/// The tag of the To header line, as the peer would read it.
fn to_tag(payload: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(payload).ok()?;
    let line = text.lines().find(|l| l.starts_with("To:"))?;
    let tag = line.split(";tag=").nth(1)?;
    Some(tag.split(';').next()?.trim().to_string())
}

/// Answers an INVITE: returns the call and our To tag.
fn answer(ua: &mut UserAgent, now: Instant, id: u64) -> (CallHandle, String) {
    ua.handle_datagram(now, Transport::Udp, peer(), &invite(id));
    let (call, _) = drain(ua);
    let call = call.expect("IncomingCall");
    ua.answer(now, call, SDP.to_string());
    let (_, tag) = drain(ua);
    (call, tag.expect("200 with a To tag"))
}

/// One whole UAS call.
fn full_call(ua: &mut UserAgent, now: Instant, id: u64) {
    let (_, tag) = answer(ua, now, id);
    ua.handle_datagram(now, Transport::Udp, peer(), &in_dialog("ACK", id, 1, &tag));
    drain(ua);
    ua.handle_datagram(now, Transport::Udp, peer(), &in_dialog("BYE", id, 2, &tag));
    drain(ua);
}

/// A UA with `n` confirmed (answered and ACKed) dialogs.
fn with_dialogs(n: u64, now: Instant) -> UserAgent {
    let mut ua = new_ua();
    for id in 0..n {
        let (_, tag) = answer(&mut ua, now, 1_000_000 + id);
        let ack = in_dialog("ACK", 1_000_000 + id, 1, &tag);
        ua.handle_datagram(now, Transport::Udp, peer(), &ack);
        drain(&mut ua);
    }
    ua
}

fn bench_full_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("ua_full_uas_call");
    for live in [0u64, 1000] {
        group.bench_function(format!("{live}_other_dialogs"), |b| {
            let t0 = Instant::now();
            let mut ua = with_dialogs(live, t0);
            let mut now = t0;
            let mut id = 0u64;
            b.iter(|| {
                // 1 ms of virtual time per call: ~32,000 ended calls' transactions linger
                // (Timers J/L), like a steady 1,000 calls/s.
                id += 1;
                now += Duration::from_millis(1);
                full_call(&mut ua, now, id);
                ua.handle_timeout(now);
                drain(&mut ua);
            });
        });
    }
    group.finish();
}

fn bench_timeouts(c: &mut Criterion) {
    let mut group = c.benchmark_group("ua_handle_timeout_1000_dialogs");
    group.bench_function("nothing_due", |b| {
        let t0 = Instant::now();
        let mut ua = with_dialogs(1000, t0);
        let now = t0 + Duration::from_millis(1);
        b.iter(|| {
            ua.handle_timeout(black_box(now));
            black_box(ua.poll_timeout());
        });
    });
    group.bench_function("one_2xx_retransmission_due", |b| {
        // 1,000 answered calls awaiting their ACK, answered 1 ms apart, so each deadline has
        // one call's 2xx retransmission (§13.3.1.4) due.
        let fresh = || {
            let t0 = Instant::now();
            let mut ua = new_ua();
            for id in 0..1000u64 {
                answer(&mut ua, t0 + Duration::from_millis(id), id);
            }
            ua
        };
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut ua = fresh();
            let mut fired = 0;
            for _ in 0..iters {
                if fired >= 5_000 {
                    ua = fresh();
                    fired = 0;
                }
                let Some(at) = ua.poll_timeout() else {
                    ua = fresh();
                    continue;
                };
                let start = Instant::now();
                ua.handle_timeout(at);
                drain(&mut ua);
                total += start.elapsed();
                fired += 1;
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench_full_call, bench_timeouts);
criterion_main!(benches);
