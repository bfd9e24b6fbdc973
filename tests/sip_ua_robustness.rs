//! The sans-IO user agent under hostile input: the RFC 4475 / RFC 5118 torture messages fed
//! through `UserAgent::handle_datagram` (each must get the reaction the shared index expects),
//! random and mutated datagrams (never a panic, no state for garbage, the next call still
//! works), and a burst of calls that must leave nothing behind. Virtual time, no sockets.
//!
//! The torture files come from another project and are read in place, never copied here.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontdoor::entropy::Entropy;
use frontdoor::sip::parse::parse_datagram;
use frontdoor::sip::ua::message_ext::UaMessageExt;
use frontdoor::sip::ua::{CallHandle, Transmit, Transport, UaConfig, UaEvent, UserAgent};
use proptest::prelude::*;
use torture::{TortureMessage, torture_dir, torture_messages};

#[path = "support/torture.rs"]
mod torture;

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
    let messages = torture_messages(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut ua = UserAgent::new(UaConfig::new(server_addr()), Entropy::seeded(1));
    let now = Instant::now();
    let mut failures = Vec::new();
    let mut seen = 0;
    for TortureMessage {
        file,
        expected: text,
        raw,
    } in &messages
    {
        seen += 1;
        let Some(want) = expected(file) else {
            failures.push(format!("{file}: not in our expectation table"));
            continue;
        };
        assert!(
            consistent_with_index(text, want),
            "{file}: our expectation {want:?} contradicts the index ({text})"
        );
        let out = feed(&mut ua, now, raw);
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

// ----- random and mutated datagrams -----

/// A deterministic xorshift generator, so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One way of breaking a valid message.
#[derive(Debug, Clone, Copy)]
enum Mutation {
    Truncate,
    DuplicateHeader,
    HugeContentLength,
    GarbageAfterHeaders,
    CrlfFlood,
    FlipBytes,
    DropHeader,
    OverlongHeader,
}

const MUTATIONS: [Mutation; 8] = [
    Mutation::Truncate,
    Mutation::DuplicateHeader,
    Mutation::HugeContentLength,
    Mutation::GarbageAfterHeaders,
    Mutation::CrlfFlood,
    Mutation::FlipBytes,
    Mutation::DropHeader,
    Mutation::OverlongHeader,
];

fn mutate(valid: &str, mutation: Mutation, rng: &mut Rng) -> Vec<u8> {
    let bytes = valid.as_bytes();
    let head_end = valid.find("\r\n\r\n").unwrap_or(valid.len());
    let lines: Vec<&str> = valid[..head_end].split("\r\n").collect();
    let body = &valid[(head_end + 4).min(valid.len())..];
    let rebuild = |lines: &[&str]| format!("{}\r\n\r\n{body}", lines.join("\r\n")).into_bytes();
    match mutation {
        Mutation::Truncate => bytes[..rng.below(bytes.len())].to_vec(),
        Mutation::DuplicateHeader => {
            let i = 1 + rng.below(lines.len() - 1);
            let mut l = lines.clone();
            l.insert(i, lines[i]);
            rebuild(&l)
        }
        Mutation::HugeContentLength => {
            let huge = [
                "4294967295",
                "4294967296",
                "99999999999999999999999",
                "65536",
            ];
            let v = huge[rng.below(huge.len())];
            let text = String::from_utf8_lossy(&rebuild(&lines)).into_owned();
            let start = text.find("Content-Length: ").unwrap_or(0);
            let end = text[start..].find("\r\n").map_or(text.len(), |e| start + e);
            format!("{}Content-Length: {v}{}", &text[..start], &text[end..]).into_bytes()
        }
        Mutation::GarbageAfterHeaders => {
            let mut out = bytes[..head_end].to_vec();
            out.extend_from_slice(b"\r\n");
            for _ in 0..rng.below(300) {
                out.push((rng.next() & 0xff) as u8);
            }
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(body.as_bytes());
            out
        }
        Mutation::CrlfFlood => {
            let at = rng.below(bytes.len());
            let mut out = bytes[..at].to_vec();
            out.extend(std::iter::repeat_n(b"\r\n".as_slice(), 1 + rng.below(2000)).flatten());
            out.extend_from_slice(&bytes[at..]);
            out
        }
        Mutation::FlipBytes => {
            let mut out = bytes.to_vec();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(out.len());
                out[i] = (rng.next() & 0xff) as u8;
            }
            out
        }
        Mutation::DropHeader => {
            let mut l = lines.clone();
            l.remove(1 + rng.below(lines.len() - 1));
            rebuild(&l)
        }
        Mutation::OverlongHeader => {
            let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            let filler = "x".repeat(1 + rng.below(70_000));
            l.insert(
                1 + rng.below(lines.len() - 1),
                format!("X-Filler: {filler}"),
            );
            format!("{}\r\n\r\n{body}", l.join("\r\n")).into_bytes()
        }
    }
}

/// Feeds `data` and checks the invariants every input must keep: at most one answer, always
/// to the loopback source, and no state at all for what the strict parser refuses.
fn feed_hostile(ua: &mut UserAgent, now: Instant, data: &[u8]) {
    let before = ua.held_state();
    let out = feed(ua, now, data);
    assert!(out.sent.len() <= 1, "one datagram, one answer at most");
    for t in &out.sent {
        assert!(t.destination.ip().is_loopback());
    }
    if parse_datagram(data).is_err() {
        assert_eq!(ua.held_state(), before, "state created for malformed input");
        assert!(out.events.is_empty(), "events for malformed input");
    }
    for e in out.events {
        if let UaEvent::IncomingCall { call, .. } = e {
            // A mutation that is still a valid INVITE: refuse it so calls do not pile up.
            ua.reject(now, call, 486);
            let _ = drain(ua);
        }
    }
}

#[test]
fn seeded_mutations_of_valid_sip_never_panic_and_the_next_call_works() {
    let mut ua = UserAgent::new(UaConfig::new(server_addr()), Entropy::seeded(1));
    let mut now = Instant::now();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let options = "OPTIONS sip:08001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKopt\r\n\
         From: <sip:07700900123@127.0.0.1>;tag=o1\r\n\
         To: <sip:08001@127.0.0.1>\r\n\
         Call-ID: opt-1\r\n\
         CSeq: 9 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n";
    for i in 0..4000 {
        let base = if i % 3 == 0 {
            options.to_string()
        } else {
            invite(&format!("mut-{i}"), &format!("z9hG4bKm{i}"))
        };
        let mutation = MUTATIONS[rng.below(MUTATIONS.len())];
        let data = mutate(&base, mutation, &mut rng);
        feed_hostile(&mut ua, now, &data);
    }
    // Whatever valid requests slipped through, their transactions all end (Timers H/J/L).
    let until = now + Duration::from_secs(70);
    let _ = run_until(&mut ua, &mut now, until);
    assert_eq!(ua.held_state(), 0);
    assert_eq!(ua.poll_timeout(), None);
    full_call(&mut ua, now, "after-mutations");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic_and_create_no_state(
        data in prop::collection::vec(any::<u8>(), 0..3000),
        prefix in prop::sample::select(vec![
            &b""[..], b"INVITE ", b"SIP/2.0 200 OK\r\n", b"ACK sip:a@127.0.0.1 SIP/2.0\r\n",
            b"INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\n",
        ]),
    ) {
        let mut ua = UserAgent::new(UaConfig::new(server_addr()), Entropy::seeded(1));
        let now = Instant::now();
        let mut input = prefix.to_vec();
        input.extend_from_slice(&data);
        feed_hostile(&mut ua, now, &input);
        full_call(&mut ua, now, "after-random");
    }

    #[test]
    fn mutated_invites_never_panic_and_create_no_state(seed in any::<u64>(), which in 0usize..8) {
        let mut ua = UserAgent::new(UaConfig::new(server_addr()), Entropy::seeded(1));
        let now = Instant::now();
        let mut rng = Rng(seed | 1);
        let data = mutate(&invite("prop-1", "z9hG4bKprop1"), MUTATIONS[which], &mut rng);
        feed_hostile(&mut ua, now, &data);
        full_call(&mut ua, now, "after-mutation");
    }
}

// ----- a burst of calls leaves nothing behind -----

#[test]
fn two_thousand_calls_in_one_virtual_second_leave_zero_state() {
    let mut config = UaConfig::new(server_addr());
    config.max_calls = 2000;
    let mut ua = UserAgent::new(config, Entropy::seeded(1));
    let t0 = Instant::now();
    let mut now = t0;
    for i in 0..2000u32 {
        // Spread over one second: one INVITE every 0.5 ms.
        let at = t0 + Duration::from_micros(u64::from(i) * 500);
        let _ = run_until(&mut ua, &mut now, at);
        full_call(&mut ua, now, &format!("burst-{i}"));
    }
    assert_eq!(ua.active_calls(), 0);
    // Timer L (64*T1) on the INVITE server transactions and Timer J (64*T1) on the BYE ones
    // keep absorbing retransmissions for 32 s; after that nothing at all may remain.
    let _ = run_until(&mut ua, &mut now, t0 + Duration::from_secs(40));
    assert_eq!(ua.active_calls(), 0);
    assert_eq!(ua.held_state(), 0, "calls, dialogs or transactions leaked");
    assert_eq!(ua.poll_timeout(), None, "timers left pending");
}
