//! The sans-IO user agent under hostile input: the RFC 4475 / RFC 5118 torture messages fed
//! through `UserAgent::handle_datagram` (each must get the reaction the shared index expects),
//! random and mutated datagrams (never a panic, no state for garbage, the next call still
//! works), and a burst of calls that must leave nothing behind. Virtual time, no sockets.
//!
//! The torture files come from another project and are read in place, never copied here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use frontdoor::sip::parse::parse_datagram;
use frontdoor::sip::ua::message_ext::UaMessageExt;
use frontdoor::sip::ua::{CallHandle, Transmit, Transport, UaConfig, UaEvent, UserAgent};
use proptest::prelude::*;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn server_addr() -> SocketAddr {
    "127.0.0.1:5060".parse().unwrap()
}

fn peer_addr() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

/// Everything one `handle_*` call produced.
#[derive(Debug, Default)]
struct Output {
    sent: Vec<Transmit>,
    events: Vec<UaEvent>,
}

impl Output {
    fn statuses(&self) -> Vec<u16> {
        self.sent
            .iter()
            .filter_map(|t| status_of(&t.payload))
            .collect()
    }

    fn incoming(&self) -> Option<CallHandle> {
        self.events.iter().find_map(|e| match e {
            UaEvent::IncomingCall { call, .. } => Some(*call),
            _ => None,
        })
    }
}

/// The status code of a response we sent, read from its status line only (a 400 echoes the
/// request's broken headers, so the whole message need not parse).
fn status_of(payload: &[u8]) -> Option<u16> {
    let rest = payload.strip_prefix(b"SIP/2.0 ")?;
    std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()
}

fn drain(ua: &mut UserAgent) -> Output {
    let mut out = Output::default();
    while let Some(t) = ua.poll_transmit() {
        out.sent.push(t);
    }
    while let Some(e) = ua.poll_event() {
        out.events.push(e);
    }
    out
}

fn feed(ua: &mut UserAgent, now: Instant, data: &[u8]) -> Output {
    ua.handle_datagram(now, Transport::Udp, peer_addr(), data);
    drain(ua)
}

/// Runs every timer up to `until`.
fn run_until(ua: &mut UserAgent, now: &mut Instant, until: Instant) -> Output {
    let mut all = Output::default();
    while let Some(at) = ua.poll_timeout() {
        if at > until {
            break;
        }
        *now = at.max(*now);
        ua.handle_timeout(*now);
        let out = drain(ua);
        all.sent.extend(out.sent);
        all.events.extend(out.events);
    }
    *now = until;
    all
}

fn invite(call_id: &str, branch: &str) -> String {
    format!(
        "INVITE sip:08001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n\
         From: <sip:07700900123@127.0.0.1>;tag=caller1\r\n\
         To: <sip:08001@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:5070>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

/// The ACK or BYE for our 2xx, using the To tag we sent.
fn in_dialog(method: &str, call_id: &str, branch: &str, seq: u32, our_tag: &str) -> String {
    format!(
        "{method} sip:frontdoor@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n\
         From: <sip:07700900123@127.0.0.1>;tag=caller1\r\n\
         To: <sip:08001@127.0.0.1>;tag={our_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {seq} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Places one full UAS call: INVITE → 100, answer → 200, ACK → Acked, BYE → 200 + Terminated.
/// Returns the UA's output of every step for the caller to check.
fn full_call(ua: &mut UserAgent, now: Instant, call_id: &str) {
    let out = feed(
        ua,
        now,
        invite(call_id, &format!("z9hG4bK{call_id}i")).as_bytes(),
    );
    assert_eq!(out.statuses(), vec![100], "{call_id}: INVITE answered 100");
    let call = out.incoming().expect("IncomingCall event");
    ua.answer(now, call, SDP.to_string());
    let ok = drain(ua);
    assert_eq!(ok.statuses(), vec![200], "{call_id}: answered 200");
    let ok = parse_datagram(&ok.sent[0].payload).expect("our 200 parses");
    let tag = ok.to_tag().expect("our 200 carries a To tag");
    let acked = feed(
        ua,
        now,
        in_dialog("ACK", call_id, &format!("z9hG4bK{call_id}a"), 1, &tag).as_bytes(),
    );
    assert!(
        acked
            .events
            .iter()
            .any(|e| matches!(e, UaEvent::Acked { call: c, .. } if *c == call)),
        "{call_id}: ACK reported"
    );
    let bye = feed(
        ua,
        now,
        in_dialog("BYE", call_id, &format!("z9hG4bK{call_id}b"), 2, &tag).as_bytes(),
    );
    assert_eq!(bye.statuses(), vec![200], "{call_id}: BYE answered 200");
    assert!(
        bye.events
            .iter()
            .any(|e| matches!(e, UaEvent::Terminated { call: c, .. } if *c == call)),
        "{call_id}: Terminated reported"
    );
}

// ----- RFC 4475 / RFC 5118 torture messages through the user agent -----

fn torture_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("FRONTDOOR_SIP_TORTURE").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/sip-torture")),
        Some(PathBuf::from("/work/shared/sip-torture")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("index.tsv").is_file())
        .unwrap_or_else(|| {
            panic!(
                "SIP torture messages not found: set FRONTDOOR_SIP_TORTURE or provide \
                 ../shared/sip-torture/index.tsv next to the repository"
            )
        })
}

/// What the user agent does with one torture message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UaReaction {
    /// 100 Trying and an IncomingCall event: a new call the runtime may answer.
    NewCall,
    /// Exactly one response with this status.
    Answer(u16),
    /// Nothing sent (responses, unaddressable requests).
    Silent,
}

/// The reaction the UA gives each message, following INDEX.md's "expected handling" column;
/// where the index says "parse OK" the UA's method handling gives a sensible answer.
fn expected(file: &str) -> Option<UaReaction> {
    use UaReaction::*;
    let name = file.rsplit('/').next()?.strip_suffix(".dat")?;
    Some(match name {
        // Valid INVITEs without a To tag start a call; Max-Forwards is irrelevant to a UAS.
        "esc01" | "longreq" | "baddate" | "inv2543" | "ipv4-mapped-ipv6" | "ipv6-in-sdp"
        | "mult-ip-in-sdp" => NewCall,
        // wsinv carries a To tag: an in-dialog INVITE for a dialog we do not have (§12.2.2).
        "wsinv" => Answer(481),
        // Unknown methods (RE%47IST%45R is not REGISTER): 501 (RFC 3261 §8.2.1).
        "intmeth" | "esc02" => Answer(501),
        // REGISTER is a known method this UAS does not implement: 405 with Allow.
        "escnull" | "dblreq" | "unksm2" | "regaut01" | "cparam01" | "cparam02" | "regescrt"
        | "ipv6-good" | "port-ambiguous" | "port-unambiguous" => Answer(405),
        // OPTIONS (keep-alive): 200, whatever Max-Forwards says (zeromf).
        "lwsdisp"
        | "semiuri"
        | "transports"
        | "zeromf"
        | "badbranch"
        | "ipv6-bug-abnf-3-colons"
        | "ipv6-correct-abnf-2-colons"
        | "via-received-param-no-delim" => Answer(200),
        // BYE for a dialog we do not have.
        "mult-ip-in-header" | "via-received-param-with-delim" => Answer(481),
        // multipart/mixed is a body type we do not process.
        "mpart01" => Answer(415),
        "unreason" | "noreason" | "scalarlg" | "bigcode" | "bcast" => Silent,
        "badinv01" | "clerr" | "ncl" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri"
        | "lwsstart" | "trws" | "escruri" | "regbadct" | "badaspec" | "baddn" | "mismatch01"
        | "multi01" | "mcl01" | "ipv6-bad" => Answer(400),
        "badvers" => Answer(505),
        "mismatch02" => Answer(501),
        // No Call-ID/From/To to address an answer with.
        "insuf" => Silent,
        "unkscm" | "novelsc" => Answer(416),
        "bext01" => Answer(420),
        "invut" => Answer(415),
        "sdp01" => Answer(406),
        _ => return None,
    })
}

/// Cross-checks our table against the index's own column, so a misreading shows up.
fn consistent_with_index(text: &str, reaction: UaReaction) -> bool {
    let text = text.to_ascii_lowercase();
    let parse_ok = [
        "parse ok",
        "accept",
        "tolerate",
        "answers normally",
        "fall back",
        "better ignore",
    ]
    .iter()
    .any(|k| text.contains(k))
        || text.contains("parse the register");
    match reaction {
        UaReaction::NewCall => parse_ok,
        UaReaction::Answer(code) => {
            text.contains(&code.to_string())
                || (code == 400 && (text.contains("reject") || text.contains("error")))
                || (parse_ok && code != 400)
        }
        // A response that parses but matches no client transaction of ours is dropped too
        // (RFC 3261 §18.1.2).
        UaReaction::Silent => text.contains("drop") || (parse_ok && text.contains("response")),
    }
}

#[test]
fn torture_messages_get_the_indexed_reaction_from_the_user_agent() {
    let dir = torture_dir();
    let index = std::fs::read_to_string(dir.join("index.tsv")).expect("read index.tsv");
    let mut ua = UserAgent::new(UaConfig::new(server_addr()));
    let now = Instant::now();
    let mut failures = Vec::new();
    let mut seen = 0;
    for line in index.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(text)) = (cols.first(), cols.get(4)) else {
            failures.push(format!("malformed index line: {line}"));
            continue;
        };
        seen += 1;
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
        let Some(want) = expected(file) else {
            failures.push(format!("{file}: not in our expectation table"));
            continue;
        };
        assert!(
            consistent_with_index(text, want),
            "{file}: our expectation {want:?} contradicts the index ({text})"
        );
        let out = feed(&mut ua, now, &raw);
        // Responses follow the Via, but only ever to the packet's source address.
        for t in &out.sent {
            assert!(
                t.destination.ip().is_loopback(),
                "{file}: answer aimed off loopback at {}",
                t.destination
            );
        }
        let got = match (out.statuses().as_slice(), out.incoming()) {
            ([100], Some(call)) => {
                // Leave no call behind for the next message.
                ua.reject(now, call, 486);
                let _ = drain(&mut ua);
                UaReaction::NewCall
            }
            ([], None) => UaReaction::Silent,
            ([status], None) => UaReaction::Answer(*status),
            (other, call) => {
                failures.push(format!("{file}: sent {other:?}, call {call:?}"));
                continue;
            }
        };
        if got != want {
            failures.push(format!(
                "{file}: want {want:?}, got {got:?} — index: {text}"
            ));
        }
    }
    assert_eq!(seen, 61, "index.tsv should list 61 messages");
    assert!(
        failures.is_empty(),
        "{} torture failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // After all that, a normal call still goes through from INVITE to BYE.
    full_call(&mut ua, now, "after-torture");
    assert_eq!(ua.active_calls(), 0);
}
