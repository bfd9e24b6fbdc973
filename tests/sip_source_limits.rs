//! Per-source limits in the sans-IO user agent, on a virtual clock: an INVITE flood from one
//! allowed source is dropped before any transaction or call exists (nothing sent back, no
//! state, no timer), another allowed source still gets its calls, a source at its share of
//! the call cap gets one stateless 503 that is never retransmitted, and retransmissions of an
//! admitted INVITE are absorbed without using the new-call budget.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontdoor::entropy::Entropy;
use frontdoor::sip::ua::{IpNet, SourceLimits, Transmit, Transport, UaConfig, UaEvent, UserAgent};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";

fn limits() -> SourceLimits {
    SourceLimits {
        requests_per_second: 200,
        request_burst: 400,
        invites_per_second: 20,
        invite_burst: 100,
        max_calls_per_source: 80,
        max_sources: 4096,
    }
}

fn ua() -> UserAgent {
    let mut config = UaConfig::new("127.0.0.1:5060".parse().unwrap());
    config.allowed_sources = vec![
        "127.0.0.1/32".parse::<IpNet>().unwrap(),
        "127.0.0.3/32".parse::<IpNet>().unwrap(),
    ];
    config.max_calls = 100;
    config.source_limits = limits();
    UserAgent::new(config, Entropy::seeded(1))
}

fn invite(source: SocketAddr, id: u64, with_sdp: bool) -> Vec<u8> {
    let body = if with_sdp { SDP } else { "" };
    let ct = if with_sdp {
        "Content-Type: application/sdp\r\n"
    } else {
        ""
    };
    format!(
        "INVITE sip:0800@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {source};branch=z9hG4bKsl{id:x};rport\r\n\
         From: <sip:07700900123@{source}>;tag=t{id:x}\r\n\
         To: <sip:0800@127.0.0.1>\r\n\
         Call-ID: sl-{id}@{ip}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{source}>\r\n\
         Max-Forwards: 70\r\n\
         {ct}Content-Length: {}\r\n\r\n{body}",
        body.len(),
        ip = source.ip()
    )
    .into_bytes()
}

/// Feeds `data` and returns (bytes sent back, new calls).
fn feed(ua: &mut UserAgent, now: Instant, source: SocketAddr, data: &[u8]) -> (usize, usize) {
    ua.handle_datagram(now, Transport::Udp, source, data);
    let mut bytes = 0;
    while let Some(Transmit { payload, .. }) = ua.poll_transmit() {
        bytes += payload.len();
    }
    let mut calls = 0;
    while let Some(e) = ua.poll_event() {
        if matches!(e, UaEvent::IncomingCall { .. }) {
            calls += 1;
        }
    }
    (bytes, calls)
}

#[test]
fn flood_over_the_rate_is_dropped_without_state_or_answer() {
    let mut ua = ua();
    let flooder: SocketAddr = "127.0.0.3:5080".parse().unwrap();
    let t0 = Instant::now();
    let (mut bytes_in, mut bytes_out, mut calls) = (0usize, 0usize, 0usize);
    // 2,000 INVITEs a second for 5 virtual seconds, never ACKed.
    for i in 0..10_000u64 {
        let now = t0 + Duration::from_micros(i * 500);
        let data = invite(flooder, i, i % 2 == 1);
        bytes_in += data.len();
        let (out, new) = feed(&mut ua, now, flooder, &data);
        bytes_out += out;
        calls += new;
        if i % 100 == 0 {
            ua.handle_timeout(now);
            while let Some(t) = ua.poll_transmit() {
                bytes_out += t.payload.len();
            }
        }
    }
    let dropped = ua.dropped_by_limits();
    eprintln!(
        "flood: {bytes_in} bytes in, {bytes_out} bytes out, {calls} calls admitted, {dropped:?}"
    );
    // Burst 100 + 20/s over 5 s, capped by the 80-call share.
    assert_eq!(calls, 80);
    assert!(ua.held_state() < 400, "state held: {}", ua.held_state());
    assert!(
        bytes_out * 10 < bytes_in,
        "{bytes_out} out for {bytes_in} in"
    );
    // The other allowed source still places calls.
    let pbx: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let now = t0 + Duration::from_secs(5);
    let (_, new) = feed(&mut ua, now, pbx, &invite(pbx, 1_000_000, true));
    assert_eq!(new, 1);
}

#[test]
fn over_share_gets_one_stateless_503_never_retransmitted() {
    let mut config = UaConfig::new("127.0.0.1:5060".parse().unwrap());
    config.max_calls = 10;
    config.source_limits = SourceLimits {
        max_calls_per_source: 2,
        ..limits()
    };
    let mut ua = UserAgent::new(config, Entropy::seeded(1));
    let peer: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let t0 = Instant::now();
    for i in 0..2 {
        assert_eq!(feed(&mut ua, t0, peer, &invite(peer, i, true)).1, 1);
    }
    let held = ua.held_state();
    ua.handle_datagram(t0, Transport::Udp, peer, &invite(peer, 99, true));
    let sent: Vec<Vec<u8>> = std::iter::from_fn(|| ua.poll_transmit())
        .map(|t| t.payload)
        .collect();
    assert_eq!(sent.len(), 1);
    let text = String::from_utf8_lossy(&sent[0]);
    assert!(text.starts_with("SIP/2.0 503"), "{text}");
    assert!(text.contains("Retry-After: 5"), "{text}");
    assert_eq!(ua.held_state(), held, "the refused INVITE left state");
    // Nothing is retransmitted for it over the next 40 s (the two admitted calls, never
    // answered by a runtime here, may send their own).
    let mut now = t0;
    while now < t0 + Duration::from_secs(40) {
        now += Duration::from_millis(100);
        ua.handle_timeout(now);
        while let Some(t) = ua.poll_transmit() {
            assert!(
                !String::from_utf8_lossy(&t.payload).contains("sl-99@"),
                "the 503 was retransmitted"
            );
        }
    }
}

#[test]
fn retransmitted_invites_do_not_spend_the_new_call_budget() {
    let mut config = UaConfig::new("127.0.0.1:5060".parse().unwrap());
    config.source_limits = SourceLimits {
        invites_per_second: 1,
        invite_burst: 1,
        ..limits()
    };
    let mut ua = UserAgent::new(config, Entropy::seeded(1));
    let peer: SocketAddr = "127.0.0.1:5070".parse().unwrap();
    let t0 = Instant::now();
    let first = invite(peer, 1, true);
    assert_eq!(feed(&mut ua, t0, peer, &first).1, 1);
    // RFC 3261 §17.2.3: the retransmission is absorbed (100 Trying again), not a new call.
    let (out, new) = feed(&mut ua, t0 + Duration::from_millis(500), peer, &first);
    assert_eq!(new, 0);
    assert!(out > 0, "retransmission not answered");
    // A second new call within the same second is over the rate: dropped silently.
    let (out, new) = feed(
        &mut ua,
        t0 + Duration::from_millis(600),
        peer,
        &invite(peer, 2, true),
    );
    assert_eq!((out, new), (0, 0));
    // A second later the bucket has a token again.
    let (_, new) = feed(
        &mut ua,
        t0 + Duration::from_millis(1700),
        peer,
        &invite(peer, 3, true),
    );
    assert_eq!(new, 1);
}
