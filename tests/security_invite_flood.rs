//! An INVITE flood from one allowed source cannot starve another, nor be amplified: 127.0.0.3
//! (allowed, as a spoofed PBX address would be) sends 2,000 distinct INVITEs a second for
//! 5 s, half offerless and half with SDP, never ACKing anything, while sipp on 127.0.0.1
//! (also allowed) places 100 calls. At least 99 % of sipp's calls must succeed, and the
//! flooding address must get back at most three times the bytes it sent. Prints both.
//! Runs with the default `sip_limits`: the defaults are what protects a council.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use support::attack::udp_flood;
use support::demo::demo_server_options;
use support::server::ServerGuard;
use support::sipp::{Scenario, Sipp};

const MAX_CALLS: u32 = 100;
const FLOOD_PER_SECOND: u32 = 2_000;
const FLOOD_SPAN: Duration = Duration::from_secs(5);
const LEGIT_CALLS: u32 = 100;

fn start_server() -> ServerGuard {
    let yaml = "allowed_sources: [127.0.0.1/32, 127.0.0.3/32]\n\
                trusted_identity_sources: [127.0.0.1/32]\n";
    ServerGuard::start(demo_server_options(MAX_CALLS, Some(yaml))).expect("frontdoor serve starts")
}

/// The `i`-th flood INVITE: a new Call-ID and branch each time; even ones offerless, odd
/// ones offering audio to `media` (a socket nobody reads).
fn flood_invite(i: u64, from: SocketAddr, target: SocketAddr, media: SocketAddr) -> Vec<u8> {
    let sdp = if i % 2 == 1 {
        format!(
            "v=0\r\no=- {i} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
            ip = media.ip(),
            port = media.port()
        )
    } else {
        String::new()
    };
    let content_type = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "INVITE sip:0800{i:06}@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bKflood{i:x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:07700900{n:03}@{from}>;tag=fl{i:x}\r\n\
         To: <sip:0800{i:06}@{target}>\r\n\
         Call-ID: flood-{i}@127.0.0.3\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:flood@{from}>\r\n\
         {content_type}Content-Length: {len}\r\n\r\n{sdp}",
        n = i % 1000,
        len = sdp.len()
    )
    .into_bytes()
}

#[test]
fn invite_flood_from_one_allowed_source_leaves_calls_from_another() {
    let server = start_server();
    let target = server.sip_addr();
    let flooder = UdpSocket::bind("127.0.0.3:0").expect("bind 127.0.0.3");
    let media_sink = UdpSocket::bind("127.0.0.3:0").expect("bind media sink");
    let from = flooder.local_addr().expect("flooder address");
    let media = media_sink.local_addr().expect("media sink address");
    let log_before = server.log().len();

    // Legitimate calls start half a second into the flood and run through it.
    let caller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        Sipp::uac(Scenario::BuiltIn("uac".into()), target)
            .calls(LEGIT_CALLS)
            .concurrent(LEGIT_CALLS)
            .rate(20, 1000)
            .pause(Duration::from_millis(300))
            .timeout(Duration::from_secs(40))
            .trace_messages(false)
            .run()
    });
    let tally = udp_flood(
        &flooder,
        target,
        FLOOD_PER_SECOND,
        FLOOD_SPAN,
        Duration::from_secs(3),
        |i| flood_invite(i, from, target, media),
    );
    let calls = caller
        .join()
        .expect("caller thread")
        .expect("sipp finishes");
    let ratio = tally.bytes_received as f64 / tally.bytes_sent.max(1) as f64;
    let log_growth = server.log().len().saturating_sub(log_before);
    eprintln!(
        "flood from {from}: sent {} INVITEs / {} bytes, received {} datagrams / {} bytes \
         (out/in {ratio:.2}x)",
        tally.datagrams_sent, tally.bytes_sent, tally.datagrams_received, tally.bytes_received
    );
    eprintln!(
        "legitimate calls from 127.0.0.1: {:?} (sipp exit {:?}); log grew {log_growth} bytes",
        calls.stats, calls.exit_code
    );

    let succeeded = calls.stats.successful;
    assert!(
        succeeded * 100 >= u64::from(LEGIT_CALLS) * 99,
        "{succeeded}/{LEGIT_CALLS} legitimate calls succeeded during the flood\n{}\n{}",
        calls.diagnostics(),
        server.log_tail(3000)
    );
    assert!(
        tally.bytes_sent > 1_000_000,
        "the flood did not happen: {tally:?}"
    );
    assert!(
        ratio <= 3.0,
        "the server sent the flooding source {ratio:.2}x what it received"
    );
}
