//! Broken SIP input of our own: truncated messages, bad
//! Content-Length, missing Call-ID/CSeq/Via, garbage and binary junk, a 60 KiB header, NUL
//! bytes, 1,000 Via headers, a CRLF flood and a body longer than its Content-Length, over
//! UDP and over TCP. Each gets 400 or no answer (TCP: 400 or the connection closed), never a
//! crash, and the server then still answers a normal sipp call on the same transport.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::demo::start_demo_server;
use support::server::ServerGuard;
use support::sip_probe::{RawSipUdp, status_code};
use support::sipp::{Scenario, Sipp, Transport};

const SDP: &str = "v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                   t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A well-formed INVITE from `local`, with headers that `drop` names removed, the
/// Content-Length value replaced by `content_length` when given, and `extra` header lines.
fn invite(
    server: SocketAddr,
    local: SocketAddr,
    id: &str,
    drop: &[&str],
    content_length: Option<&str>,
    extra: &str,
) -> Vec<u8> {
    let length = SDP.len().to_string();
    let headers = [
        (
            "Via",
            format!("SIP/2.0/UDP {local};branch=z9hG4bK{id};rport"),
        ),
        ("Max-Forwards", "70".into()),
        ("From", format!("<sip:07700900123@{local}>;tag=t{id}")),
        ("To", format!("<sip:01632960000@{server}>")),
        ("Call-ID", format!("malformed-{id}@127.0.0.1")),
        ("CSeq", "1 INVITE".into()),
        ("Contact", format!("<sip:07700900123@{local}>")),
        ("Content-Type", "application/sdp".into()),
        (
            "Content-Length",
            content_length.unwrap_or(&length).to_string(),
        ),
    ];
    let mut text = format!("INVITE sip:01632960000@{server} SIP/2.0\r\n");
    for (name, value) in headers {
        if !drop.contains(&name) {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    text.push_str(extra);
    text.push_str("\r\n");
    text.push_str(SDP);
    text.into_bytes()
}

/// The broken messages, named.
fn broken_messages(server: SocketAddr, local: SocketAddr) -> Vec<(&'static str, Vec<u8>)> {
    let whole = invite(server, local, "whole", &[], None, "");
    let truncated = whole.get(..whole.len() / 3).unwrap_or_default().to_vec();
    let huge_header = format!("X-Huge: {}\r\n", "a".repeat(60 * 1024));
    let many_vias: String = (0..1000)
        .map(|i| {
            format!(
                "Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKv{i}\r\n",
                1024 + i
            )
        })
        .collect();
    let mut with_nul = invite(server, local, "nul", &[], None, "Subject: a\0b\r\n");
    if let Some(pos) = with_nul.iter().position(|&b| b == b'S') {
        with_nul.insert(pos, 0);
    }
    let garbage: Vec<u8> = (0..512u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    vec![
        ("truncated", truncated),
        (
            "content-length-larger",
            invite(server, local, "cl-large", &[], Some("4000"), ""),
        ),
        (
            "content-length-not-a-number",
            invite(server, local, "cl-nan", &[], Some("abc"), ""),
        ),
        (
            "content-length-negative",
            invite(server, local, "cl-neg", &[], Some("-5"), ""),
        ),
        (
            "missing-call-id",
            invite(server, local, "no-callid", &["Call-ID"], None, ""),
        ),
        (
            "missing-cseq",
            invite(server, local, "no-cseq", &["CSeq"], None, ""),
        ),
        (
            "missing-via",
            invite(server, local, "no-via", &["Via"], None, ""),
        ),
        (
            "missing-from-to",
            invite(server, local, "no-from", &["From", "To"], None, ""),
        ),
        ("garbage-bytes", garbage),
        ("binary-junk", vec![0xff; 1400]),
        (
            "ascii-garbage",
            b"HELLO THERE\r\nthis is not sip\r\n\r\n".to_vec(),
        ),
        (
            "huge-header-60k",
            invite(server, local, "huge", &[], None, &huge_header),
        ),
        ("nul-bytes", with_nul),
        (
            "thousand-vias",
            invite(server, local, "vias", &[], None, &many_vias),
        ),
        ("crlf-flood", b"\r\n".repeat(8 * 1024)),
        (
            "body-longer-than-content-length",
            invite(server, local, "cl-short", &[], Some("10"), ""),
        ),
        (
            "bad-request-line",
            b"INVITE\r\nVia: SIP/2.0/UDP 127.0.0.1:9\r\n\r\n".to_vec(),
        ),
        (
            "bad-cseq-number",
            invite(
                server,
                local,
                "cseq-big",
                &["CSeq"],
                None,
                "CSeq: 99999999999999999999 INVITE\r\n",
            ),
        ),
    ]
}

/// Final responses (≥ 200) to `bytes` over UDP within `limit`.
fn udp_finals(sip: &RawSipUdp, server: SocketAddr, bytes: &[u8], limit: Duration) -> Vec<u16> {
    sip.send(server, bytes).expect("send");
    let deadline = Instant::now() + limit;
    let mut finals = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match sip.recv(left) {
            Some(reply) => finals.extend(status_code(&reply).filter(|s| *s >= 200)),
            None => break,
        }
    }
    finals
}

/// What a TCP connection got back for `bytes`: final status codes before the server closed
/// it or `limit` passed.
fn tcp_finals(server: SocketAddr, bytes: &[u8], limit: Duration) -> Vec<u16> {
    let Ok(mut stream) = TcpStream::connect_timeout(&server, limit) else {
        panic!("the server no longer accepts TCP connections");
    };
    // The server may close mid-write on a bad header: that is an acceptable reaction.
    let _ = stream.write_all(bytes);
    let deadline = Instant::now() + limit;
    let mut received = Vec::new();
    let mut buf = [0u8; 16_384];
    let mut closed = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => break,
            Ok(n) => received.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    eprintln!("    connection closed by the server: {closed}");
    String::from_utf8_lossy(&received)
        .split("SIP/2.0 ")
        .skip(1)
        .filter_map(|rest| rest.get(..3)?.parse::<u16>().ok())
        .filter(|s| *s >= 200)
        .collect()
}

/// A normal call with sipp's built-in caller still works.
fn assert_still_answers_calls(server: &ServerGuard, transport: Transport) {
    let call = Sipp::uac(Scenario::BuiltIn("uac".into()), server.sip_addr())
        .transport(transport)
        .timeout(Duration::from_secs(15))
        .run()
        .expect("sipp runs");
    assert!(
        call.all_calls_ok(),
        "no longer answers a normal call: {}\n{}",
        call.diagnostics(),
        server.log_tail(3000)
    );
}

#[test]
fn broken_udp_messages_get_400_or_nothing_and_calls_still_work() {
    let mut server = start_demo_server(&[]).expect("frontdoor serve starts");
    let sip = RawSipUdp::bind().expect("bind");
    let local = sip.local_addr().expect("local addr");
    let mut wrong = Vec::new();
    for (name, bytes) in broken_messages(server.sip_addr(), local) {
        let finals = udp_finals(&sip, server.sip_addr(), &bytes, Duration::from_millis(700));
        eprintln!("UDP {name}: {finals:?}");
        if finals.iter().any(|&s| s != 400) {
            wrong.push(format!("{name}: {finals:?}"));
        }
        assert!(
            server.is_running(),
            "the server died on {name}:\n{}",
            server.log_tail(3000)
        );
    }
    assert_still_answers_calls(&server, Transport::Udp);
    assert!(wrong.is_empty(), "answered other than 400: {wrong:?}");
}

#[test]
fn broken_tcp_messages_get_400_or_close_and_calls_still_work() {
    let mut server = start_demo_server(&[]).expect("frontdoor serve starts");
    // Over TCP the source port is the connection's; Via names an unused port.
    let local: SocketAddr = "127.0.0.1:9".parse().expect("address");
    let mut wrong = Vec::new();
    for (name, bytes) in broken_messages(server.sip_addr(), local) {
        let bytes = String::from_utf8_lossy(&bytes)
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
            .into_bytes();
        let finals = tcp_finals(server.sip_addr(), &bytes, Duration::from_millis(700));
        eprintln!("TCP {name}: {finals:?}");
        if finals.iter().any(|&s| s != 400) {
            wrong.push(format!("{name}: {finals:?}"));
        }
        assert!(
            server.is_running(),
            "the server died on {name}:\n{}",
            server.log_tail(3000)
        );
    }
    assert_still_answers_calls(&server, Transport::Tcp);
    assert!(wrong.is_empty(), "answered other than 400: {wrong:?}");
}
