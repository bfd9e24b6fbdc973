//! What the fuzz targets exercise, shared with `tests/fuzz_corpus.rs` so the corpus replays
//! through exactly the same code as a normal test. Panics here are findings.

#![allow(dead_code)]

use frontdoor::sip::message::SipMessage;
use frontdoor::sip::parse::{error_response, parse_datagram, parse_stream};
use frontdoor::sip::sdp::{
    Direction, LocalMedia, SessionDescription, build_answer, build_offer, negotiate_answer,
};
use frontdoor::sip::validate::{UasPolicy, check_request, check_response};

/// One input through every SIP entry point.
pub fn sip_parse(data: &[u8]) {
    match parse_datagram(data) {
        Ok(msg) => {
            exercise_message(&msg);
            let once = parse_datagram(&msg.to_bytes())
                .unwrap_or_else(|e| panic!("our serialisation does not parse: {e}"));
            assert_eq!(once.start, msg.start, "start line changed in round trip");
            assert_eq!(once.body, msg.body, "body changed in round trip");
            let twice = parse_datagram(&once.to_bytes()).expect("second round trip parses");
            assert_eq!(twice, once, "serialise/parse is not a fixed point");
        }
        Err(e) => {
            let answer = error_response(data, &e);
            if let Some(resp) = &answer {
                assert!(
                    e.response_status().is_some(),
                    "answered an unanswerable error"
                );
                assert!(!resp.is_request());
                // Our error responses must themselves be well-formed enough to send.
                let _ = parse_datagram(&resp.to_bytes());
            }
        }
    }
    // Stream framing: every message consumes at least one byte and never more than given.
    let mut rest = data;
    for _ in 0..64 {
        match parse_stream(rest) {
            Ok(Some((msg, used))) => {
                assert!(
                    used > 0 && used <= rest.len(),
                    "stream consumed {used} of {}",
                    rest.len()
                );
                exercise_message(&msg);
                rest = &rest[used..];
            }
            Ok(None) | Err(_) => break,
        }
    }
}

fn exercise_message(msg: &SipMessage) {
    if msg.is_request() {
        if let Err(rejection) = check_request(msg, &UasPolicy::default()) {
            let _ = rejection.to_response(msg).to_bytes();
        }
    } else {
        let _ = check_response(msg);
    }
    let h = &msg.headers;
    let _ = h.vias();
    let _ = h.top_via_lenient();
    let _ = h.call_id();
    let _ = h.cseq();
    let _ = h.from();
    let _ = h.to();
    let _ = h.contacts();
    let _ = h.route();
    let _ = h.record_route();
    let _ = h.max_forwards();
    let _ = h.content_type();
    let _ = h.require();
    let _ = h.supported();
    let _ = h.allow();
    let _ = h.session_expires();
    let _ = h.min_se();
    let _ = h.p_asserted_identity();
    let _ = h.privacy_id();
    let _ = h.refer_to();
    let _ = h.event();
    let _ = h.subscription_state();
    let _ = h.www_authenticate();
    let _ = h.proxy_authenticate();
    let _ = h.authorization();
    let _ = SipMessage::response_to(msg, 200, None)
        .with_to_tag("fuzz")
        .to_bytes();
    if let Ok(text) = std::str::from_utf8(&msg.body) {
        sdp_text(text);
    }
}

/// One input through SDP parsing, negotiation and answer building.
pub fn sdp_parse(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        sdp_text(text);
    }
}

fn sdp_text(text: &str) {
    let Ok(sd) = SessionDescription::parse(text) else {
        return;
    };
    for addr in ["192.0.2.1", "2001:db8::1"] {
        let local = LocalMedia {
            addr: addr.parse().expect("literal address"),
            port: 30000,
            session_id: 1,
            session_version: 1,
        };
        if let Ok(n) = negotiate_answer(&sd, &local) {
            let answer = build_answer(&n, &local);
            let parsed = SessionDescription::parse(&answer)
                .unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{answer}"));
            assert_eq!(
                parsed.media.len(),
                sd.media.len(),
                "answer must keep every m= line"
            );
        }
        let offer = build_offer(&local, Direction::SendRecv);
        SessionDescription::parse(&offer).expect("our offer parses");
    }
}
