//! SIP message-layer speed: parse and serialise a typical INVITE with SDP, the typed reads a
//! transaction layer does per request, and SDP offer/answer. Run with `cargo bench --bench sip`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use frontdoor::sip::message::SipMessage;
use frontdoor::sip::parse::{parse_datagram, parse_stream};
use frontdoor::sip::sdp::{LocalMedia, SessionDescription, build_answer, negotiate_answer};
use frontdoor::sip::validate::{UasPolicy, check_request};

const SDP: &str = "v=0\r\no=- 3911081634 3911081634 IN IP4 192.0.2.10\r\ns=Asterisk\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 17424 RTP/AVP 8 0 9 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:150\r\na=sendrecv\r\n";

fn invite() -> Vec<u8> {
    format!(
        "INVITE sip:0800123456@192.0.2.20:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKPj5f1b8e3c-4c1e-4d7e-9a0e-7d8c2a1b3c4d\r\n\
From: \"07700900123\" <sip:07700900123@192.0.2.10>;tag=3a8e6b1f-2c4d-4e5f-8a9b-0c1d2e3f4a5b\r\n\
To: <sip:0800123456@192.0.2.20>\r\n\
Contact: <sip:asterisk@192.0.2.10:5060>\r\n\
Call-ID: 8d3e5f7a-1b2c-4d6e-9f0a-b1c2d3e4f5a6\r\n\
CSeq: 10482 INVITE\r\n\
Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER\r\n\
Supported: 100rel, timer, replaces, norefersub\r\n\
Session-Expires: 1800\r\n\
Min-SE: 90\r\n\
P-Asserted-Identity: \"07700900123\" <sip:07700900123@192.0.2.10>\r\n\
Max-Forwards: 70\r\n\
User-Agent: Asterisk PBX 20.5.0\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
    .into_bytes()
}

fn bench_sip(c: &mut Criterion) {
    let raw = invite();
    c.bench_function("sip/parse_datagram_invite_sdp", |b| {
        b.iter(|| parse_datagram(black_box(&raw)))
    });
    c.bench_function("sip/parse_stream_invite_sdp", |b| {
        b.iter(|| parse_stream(black_box(&raw)))
    });
    let msg = parse_datagram(&raw).expect("benchmark INVITE parses");
    c.bench_function("sip/serialise_invite_sdp", |b| {
        b.iter(|| black_box(&msg).to_bytes())
    });
    c.bench_function("sip/parse_check_answer_serialise", |b| {
        b.iter(|| {
            let req = parse_datagram(black_box(&raw)).expect("parses");
            let _ = check_request(&req, &UasPolicy::default());
            let h = &req.headers;
            let _ = (
                h.top_via(),
                h.call_id(),
                h.cseq(),
                h.from(),
                h.to(),
                h.session_expires(),
            );
            SipMessage::response_to(&req, 200, None)
                .with_to_tag("as83kd9bs")
                .to_bytes()
        })
    });
}

fn bench_sdp(c: &mut Criterion) {
    let local = LocalMedia {
        addr: "192.0.2.20".parse().expect("literal"),
        port: 20000,
        session_id: 7,
        session_version: 1,
    };
    c.bench_function("sdp/parse_negotiate_answer", |b| {
        b.iter(|| {
            let offer = SessionDescription::parse(black_box(SDP)).expect("parses");
            let n = negotiate_answer(&offer, &local).expect("negotiates");
            build_answer(&n, &local)
        })
    });
}

criterion_group!(benches, bench_sip, bench_sdp);
criterion_main!(benches);
