//! Virtual-time tests of the sans-IO SIP user agent: a scripted peer or a second `UserAgent`
//! wired in memory, a fake clock, and no sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontdoor::entropy::Entropy;
use frontdoor::sip::message::{SipMessage as Message, StartLine, StatusLine};
use frontdoor::sip::parse::parse_datagram;
use frontdoor::sip::ua::message_ext::UaMessageExt;
use frontdoor::sip::ua::{
    CallHandle, IpNet, OutboundTarget, ReOfferKind, TerminationCause, Transmit, Transport,
    UaConfig, UaEvent, UserAgent,
};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn server_addr() -> SocketAddr {
    "127.0.0.1:5060".parse().unwrap()
}

fn peer_addr() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

/// One UA under test plus a scripted peer at 127.0.0.1:5070, on a virtual clock.
struct Harness {
    ua: UserAgent,
    t0: Instant,
    now: Instant,
    /// (ms since start, message) sent by the UA.
    sent: Vec<(u128, Message)>,
    events: Vec<UaEvent>,
}

impl Harness {
    fn new() -> Self {
        Self::with(UaConfig::new(server_addr()))
    }

    fn with(config: UaConfig) -> Self {
        let t0 = Instant::now();
        Harness {
            ua: UserAgent::new(config, Entropy::seeded(1)),
            t0,
            now: t0,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(Transmit { payload, .. }) = self.ua.poll_transmit() {
            let msg = match parse_datagram(&payload) {
                Ok(msg) => msg,
                // A 400 to a malformed request echoes its broken headers verbatim (RFC 3261
                // §8.2.6.2), so only that may fail to parse strictly.
                Err(_) if payload.starts_with(b"SIP/2.0 400 ") => continue,
                Err(e) => panic!("UA sent an unparseable message ({e}): {payload:?}"),
            };
            self.sent.push(((self.now - self.t0).as_millis(), msg));
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
    }

    fn recv_from(&mut self, source: SocketAddr, text: &str) {
        self.ua
            .handle_datagram(self.now, Transport::Udp, source, text.as_bytes());
        self.drain();
    }

    fn recv(&mut self, text: &str) {
        self.recv_from(peer_addr(), text);
    }

    /// Advances the clock to `until` (since start), firing every timer on the way.
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        while let Some(at) = self.ua.poll_timeout() {
            if at > end {
                break;
            }
            self.now = at.max(self.now);
            self.ua.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn take_sent(&mut self) -> Vec<(u128, Message)> {
        std::mem::take(&mut self.sent)
    }

    fn statuses(&self) -> Vec<u16> {
        self.sent
            .iter()
            .filter_map(|(_, m)| m.status_code())
            .collect()
    }

    fn last(&self) -> Message {
        self.sent.last().expect("something sent").1.clone()
    }

    fn incoming(&self) -> CallHandle {
        self.events
            .iter()
            .find_map(|e| match e {
                UaEvent::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .expect("an IncomingCall event")
    }

    fn terminated(&self) -> Vec<TerminationCause> {
        self.events
            .iter()
            .filter_map(|e| match e {
                UaEvent::Terminated { cause, .. } => Some(*cause),
                _ => None,
            })
            .collect()
    }

    fn our_tag(&self) -> String {
        self.sent
            .iter()
            .find_map(|(_, m)| m.to_tag())
            .expect("a tagged response")
    }

    fn requests_sent(&self, method: &str) -> Vec<(u128, Message)> {
        self.sent
            .iter()
            .filter(|(_, m)| m.status_code().is_none() && m.method_name() == method)
            .cloned()
            .collect()
    }
}

fn invite(branch: &str, extra: &str, body: &str) -> String {
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "INVITE sip:0800%31@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n\
         From: \"Caller\" <sip:07700900123@127.0.0.1>;tag=caller1\r\n\
         To: <sip:08001@127.0.0.1>\r\n\
         Call-ID: call-1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.1:5070>\r\n\
         Max-Forwards: 0\r\n\
         {extra}{ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The same request with another method (CANCEL, OPTIONS, REGISTER ...).
fn as_method(request: &str, method: &str) -> String {
    request
        .replacen("INVITE sip", &format!("{method} sip"), 1)
        .replace("1 INVITE", &format!("1 {method}"))
}

fn in_dialog(
    method: &str,
    cseq: u32,
    to_tag: &str,
    branch: &str,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "{method} sip:frontdoor@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch={branch};rport\r\n\
         From: <sip:07700900123@127.0.0.1>;tag=caller1\r\n\
         To: <sip:08001@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: call-1@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn ack(to_tag: &str, cseq: u32, branch: &str) -> String {
    in_dialog("ACK", cseq, to_tag, branch, "", "")
}

fn answered_call() -> (Harness, CallHandle, String) {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    let call = h.incoming();
    h.ua.answer(h.now, call, SDP.to_string());
    h.drain();
    let tag = h.our_tag();
    h.recv(&ack(&tag, 1, "z9hG4bKack1"));
    (h, call, tag)
}

#[test]
fn invite_gets_trying_and_incoming_call_with_identity() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    assert_eq!(h.statuses(), vec![100]);
    let info = h
        .events
        .iter()
        .find_map(|e| match e {
            UaEvent::IncomingCall { info, .. } => Some(info.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(info.dialled, "08001");
    assert_eq!(
        info.caller.as_ref().map(|c| c.expose().as_str()),
        Some("07700900123")
    );
    assert_eq!(info.offer.as_deref(), Some(SDP));
    // Via stamped with received/rport (RFC 3581).
    let via = h.sent[0].1.headers.get("Via").unwrap().to_string();
    assert!(via.contains("rport=5070"), "{via}");
    assert!(via.contains("received=127.0.0.1"), "{via}");
}

#[test]
fn ok_retransmits_on_t1_doubling_to_t2_then_bye_after_64_t1() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    let call = h.incoming();
    h.ua.answer(h.now, call, SDP.to_string());
    h.drain();
    h.take_sent();
    h.run_until(Duration::from_secs(40));
    let ok_times: Vec<u128> = h
        .sent
        .iter()
        .filter(|(_, m)| m.status_code() == Some(200) && m.method_name() == "INVITE")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(&ok_times[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
    assert!(ok_times.iter().all(|t| *t < 32_000));
    let byes = h.requests_sent("BYE");
    assert_eq!(
        byes.first().map(|(t, _)| *t),
        Some(32_000),
        "BYE after 64*T1"
    );
    assert_eq!(h.terminated(), vec![TerminationCause::AckTimeout]);
}

#[test]
fn ack_stops_retransmits_and_reports_acked() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    let call = h.incoming();
    h.ua.answer(h.now, call, SDP.to_string());
    h.drain();
    let tag = h.our_tag();
    h.run_until(Duration::from_millis(1600));
    h.recv(&ack(&tag, 1, "z9hG4bKack1"));
    assert!(h.events.iter().any(|e| matches!(e, UaEvent::Acked { .. })));
    h.take_sent();
    h.run_until(Duration::from_secs(40));
    assert!(h.take_sent().is_empty(), "nothing after the ACK");
    assert!(h.terminated().is_empty());
}

#[test]
fn retransmitted_invite_is_absorbed() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    let incoming = h
        .events
        .iter()
        .filter(|e| matches!(e, UaEvent::IncomingCall { .. }))
        .count();
    assert_eq!(incoming, 1);
    assert_eq!(
        h.statuses(),
        vec![100, 100],
        "the retransmission gets the last provisional"
    );
}

#[test]
fn cancel_before_answer_gets_200_and_487_and_ack_absorbed() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    h.recv(&as_method(&invite("z9hG4bKinv1", "", ""), "CANCEL"));
    assert_eq!(h.statuses(), vec![100, 200, 487]);
    assert_eq!(h.terminated(), vec![TerminationCause::Cancelled]);
    let tag = h.our_tag();
    let ack = as_method(&invite("z9hG4bKinv1", "", ""), "ACK").replace(
        "To: <sip:08001@127.0.0.1>",
        &format!("To: <sip:08001@127.0.0.1>;tag={tag}"),
    );
    h.take_sent();
    h.recv(&ack);
    h.run_until(Duration::from_secs(40));
    assert!(
        h.take_sent().is_empty(),
        "ACK stopped the 487 retransmissions"
    );
    assert_eq!(h.ua.active_calls(), 0);
}

#[test]
fn cancel_racing_with_200_leaves_call_up() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKinv1", "", SDP));
    let call = h.incoming();
    h.ua.answer(h.now, call, SDP.to_string());
    h.drain();
    h.recv(&as_method(&invite("z9hG4bKinv1", "", ""), "CANCEL"));
    assert_eq!(h.statuses(), vec![100, 200, 200]);
    assert!(h.terminated().is_empty());
    assert_eq!(h.ua.active_calls(), 1);
}

#[test]
fn cancel_for_unknown_transaction_gets_481() {
    let mut h = Harness::new();
    h.recv(&as_method(&invite("z9hG4bKnone", "", ""), "CANCEL"));
    assert_eq!(h.statuses(), vec![481]);
}

#[test]
fn bye_glare_gives_one_termination_and_correct_bye() {
    let (mut h, call, tag) = answered_call();
    h.ua.hangup(h.now, call);
    h.drain();
    // Their BYE crosses ours: 200 to theirs, only one Terminated.
    h.recv(&in_dialog("BYE", 2, &tag, "z9hG4bKbye1", "", ""));
    assert_eq!(h.terminated(), vec![TerminationCause::LocalBye]);
    assert_eq!(h.statuses().last(), Some(&200));
    let our_bye = h.requests_sent("BYE").first().cloned().unwrap().1;
    assert_eq!(
        our_bye.request_uri().map(|u| u.to_string()).as_deref(),
        Some("sip:caller@127.0.0.1:5070")
    );
    assert_eq!(our_bye.to_tag().as_deref(), Some("caller1"));
    assert_eq!(our_bye.from_tag().as_deref(), Some(tag.as_str()));
}

#[test]
fn remote_bye_terminates() {
    let (mut h, _call, tag) = answered_call();
    h.recv(&in_dialog("BYE", 2, &tag, "z9hG4bKbye1", "", ""));
    assert_eq!(h.terminated(), vec![TerminationCause::RemoteBye]);
    assert_eq!(h.statuses().last(), Some(&200));
}

#[test]
fn reinvite_hold_and_resume() {
    let (mut h, call, tag) = answered_call();
    let hold = SDP.replace("RTP/AVP 0\r\n", "RTP/AVP 0\r\na=sendonly\r\n");
    h.recv(&in_dialog(
        "INVITE",
        2,
        &tag,
        "z9hG4bKre1",
        "Content-Type: application/sdp\r\n",
        &hold,
    ));
    let offer = h.events.iter().find_map(|e| match e {
        UaEvent::ReOffer {
            kind: ReOfferKind::ReInvite,
            sdp,
            ..
        } => sdp.clone(),
        _ => None,
    });
    assert_eq!(offer.as_deref(), Some(hold.as_str()));
    // A second offer while the first is pending: 491 (RFC 3261 §14.2).
    h.recv(&in_dialog(
        "UPDATE",
        3,
        &tag,
        "z9hG4bKup9",
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert_eq!(h.statuses().last(), Some(&491));
    h.ua.answer_reoffer(
        h.now,
        call,
        SDP.replace("RTP/AVP 0\r\n", "RTP/AVP 0\r\na=recvonly\r\n"),
    );
    h.drain();
    assert_eq!(h.statuses().last(), Some(&200));
    h.recv(&ack(&tag, 2, "z9hG4bKack2"));
    h.recv(&in_dialog(
        "INVITE",
        4,
        &tag,
        "z9hG4bKre2",
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    h.ua.answer_reoffer(h.now, call, SDP.to_string());
    h.drain();
    h.recv(&ack(&tag, 4, "z9hG4bKack3"));
    h.take_sent();
    h.run_until(Duration::from_secs(40));
    assert!(
        h.requests_sent("BYE").is_empty(),
        "no BYE while held or after resume"
    );
    assert!(h.terminated().is_empty());
}

#[test]
fn update_without_body_is_answered_and_with_body_is_a_reoffer() {
    let (mut h, call, tag) = answered_call();
    h.recv(&in_dialog("UPDATE", 2, &tag, "z9hG4bKup1", "", ""));
    assert_eq!(h.statuses().last(), Some(&200));
    h.recv(&in_dialog(
        "UPDATE",
        3,
        &tag,
        "z9hG4bKup2",
        "Content-Type: application/sdp\r\n",
        SDP,
    ));
    assert!(h.events.iter().any(|e| matches!(
        e,
        UaEvent::ReOffer {
            kind: ReOfferKind::Update,
            ..
        }
    )));
    h.ua.answer_reoffer(h.now, call, SDP.to_string());
    h.drain();
    let last = h.last();
    assert_eq!(last.status_code(), Some(200));
    assert_eq!(last.sdp().as_deref(), Some(SDP));
}

#[test]
fn lower_cseq_in_dialog_gets_500() {
    let (mut h, _call, tag) = answered_call();
    h.recv(&in_dialog("INFO", 5, &tag, "z9hG4bKi1", "", ""));
    h.recv(&in_dialog("INFO", 4, &tag, "z9hG4bKi2", "", ""));
    let s = h.statuses();
    assert_eq!(&s[s.len() - 2..], &[200, 500]);
}

#[test]
fn info_dtmf_relay_gives_dtmf_event() {
    let (mut h, call, tag) = answered_call();
    h.recv(&in_dialog(
        "INFO",
        2,
        &tag,
        "z9hG4bKi1",
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=7\r\nDuration=160\r\n",
    ));
    assert!(h.events.iter().any(
        |e| matches!(e, UaEvent::Dtmf { call: c, digit: '7', duration_ms: 160 } if *c == call)
    ));
    h.recv(&in_dialog(
        "INFO",
        3,
        &tag,
        "z9hG4bKi2",
        "Content-Type: text/plain\r\n",
        "hello",
    ));
    assert_eq!(h.statuses().last(), Some(&415));
}

#[test]
fn options_405_501_and_481() {
    let mut h = Harness::new();
    h.recv(&as_method(&invite("z9hG4bKo1", "", ""), "OPTIONS"));
    let ok = h.last();
    assert_eq!(ok.status_code(), Some(200));
    assert!(ok.has_token("Allow", "INVITE"));
    assert!(ok.headers.get("Accept").is_some());
    h.recv(&as_method(&invite("z9hG4bKr1", "", ""), "REGISTER"));
    assert_eq!(h.last().status_code(), Some(405));
    assert!(h.last().headers.get("Allow").is_some());
    h.recv(&as_method(&invite("z9hG4bKf1", "", ""), "FOO"));
    assert_eq!(h.last().status_code(), Some(501));
    h.recv(&in_dialog("BYE", 2, "nosuchtag", "z9hG4bKb1", "", ""));
    assert_eq!(h.last().status_code(), Some(481));
}

#[test]
fn non_allowed_source_gets_403_without_state() {
    let mut h = Harness::new();
    let stranger: SocketAddr = "192.0.2.7:5060".parse().unwrap();
    h.recv_from(stranger, &invite("z9hG4bKx", "", SDP));
    assert_eq!(h.statuses(), vec![403]);
    assert!(h.events.is_empty());
    assert_eq!(h.ua.active_calls(), 0);
    assert_eq!(h.ua.poll_timeout(), None, "no transaction was created");
}

#[test]
fn call_cap_gives_503_with_retry_after() {
    let mut config = UaConfig::new(server_addr());
    config.max_calls = 1;
    let mut h = Harness::with(config);
    h.recv(&invite("z9hG4bKa", "", SDP));
    h.recv(&invite("z9hG4bKb", "", SDP).replace("call-1@", "call-2@"));
    let last = h.last();
    assert_eq!(last.status_code(), Some(503));
    assert_eq!(last.headers.get("Retry-After"), Some("5"));
}

#[test]
fn refusing_new_calls_gives_503_with_retry_after_and_keeps_calls_in_progress() {
    let (mut h, call, tag) = answered_call();
    h.ua.refuse_new_calls(90);
    h.recv(&invite("z9hG4bKn2", "", SDP).replace("call-1@", "call-2@"));
    let refused = h.last();
    assert_eq!(refused.status_code(), Some(503));
    assert_eq!(refused.headers.get("Retry-After"), Some("90"));
    assert_eq!(h.ua.active_calls(), 1, "the refused INVITE is no call");
    // RFC 3261 §11.2: OPTIONS gets the answer an INVITE would.
    h.recv(&as_method(
        &invite("z9hG4bKo2", "", "").replace("call-1@", "call-3@"),
        "OPTIONS",
    ));
    let options = h.last();
    assert_eq!(options.status_code(), Some(503));
    assert_eq!(options.headers.get("Retry-After"), Some("90"));
    assert!(options.has_token("Allow", "INVITE"));
    // The call in progress goes on: its requests are answered as before.
    h.recv(&in_dialog("OPTIONS", 2, &tag, "z9hG4bKio", "", ""));
    assert_eq!(h.last().status_code(), Some(200));
    // Our BYE awaits its answer until one comes or Timer F (64*T1) gives up.
    h.ua.hangup(h.now, call);
    h.drain();
    assert_eq!(h.ua.byes_awaiting_answer(), 1);
    h.run_until(Duration::from_secs(40));
    assert_eq!(h.ua.byes_awaiting_answer(), 0);
}

#[test]
fn require_100rel_gets_420_and_small_session_expires_422() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKa", "Require: 100rel\r\n", SDP));
    let last = h.last();
    assert_eq!(last.status_code(), Some(420));
    assert_eq!(last.headers.get("Unsupported"), Some("100rel"));
    h.recv(&invite(
        "z9hG4bKb",
        "Session-Expires: 30\r\nSupported: timer\r\n",
        SDP,
    ));
    let last = h.last();
    assert_eq!(last.status_code(), Some(422));
    assert_eq!(last.headers.get("Min-SE"), Some("90"));
}

#[test]
fn privacy_id_withholds_caller_and_trusted_pai_wins() {
    let mut h = Harness::new();
    h.recv(&invite("z9hG4bKa", "Privacy: id\r\n", SDP));
    assert!(matches!(&h.events[0], UaEvent::IncomingCall { info, .. } if info.caller.is_none()));
    let mut config = UaConfig::new(server_addr());
    config.trusted_identity_sources = vec![IpNet::loopback_v4()];
    let mut h = Harness::with(config);
    h.recv(&invite(
        "z9hG4bKa",
        "P-Asserted-Identity: <sip:+441234567890@127.0.0.1>\r\n",
        SDP,
    ));
    assert!(matches!(&h.events[0], UaEvent::IncomingCall { info, .. }
        if info.caller.as_ref().map(|c| c.expose().as_str()) == Some("+441234567890")));
}

#[test]
fn session_expires_when_peer_does_not_refresh() {
    let mut h = Harness::new();
    h.recv(&invite(
        "z9hG4bKinv1",
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
        SDP,
    ));
    let call = h.incoming();
    h.ua.answer(h.now, call, SDP.to_string());
    h.drain();
    let ok = h.last();
    assert_eq!(ok.headers.get("Session-Expires"), Some("90;refresher=uac"));
    assert!(ok.has_token("Require", "timer"));
    let tag = h.our_tag();
    h.recv(&ack(&tag, 1, "z9hG4bKack1"));
    // A refresh at 45 s keeps the call up past the first deadline (60 s).
    h.run_until(Duration::from_secs(45));
    h.recv(&in_dialog(
        "UPDATE",
        2,
        &tag,
        "z9hG4bKup1",
        "Session-Expires: 90;refresher=uac\r\nSupported: timer\r\n",
        "",
    ));
    assert_eq!(h.statuses().last(), Some(&200));
    h.run_until(Duration::from_secs(100));
    assert!(h.terminated().is_empty());
    // No further refresh: expiry at 45 + 60 s.
    h.run_until(Duration::from_secs(106));
    assert_eq!(h.terminated(), vec![TerminationCause::SessionExpired]);
    assert!(!h.requests_sent("BYE").is_empty());
}

#[test]
fn we_refresh_with_update_at_half_interval() {
    let mut h = Harness::new();
    h.recv(&invite(
        "z9hG4bKinv1",
        "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
        SDP,
    ));
    let call = h.incoming();
    h.ua.answer(h.now, call, SDP.to_string());
    h.drain();
    let tag = h.our_tag();
    h.recv(&ack(&tag, 1, "z9hG4bKack1"));
    h.take_sent();
    h.run_until(Duration::from_secs(61));
    let updates = h.requests_sent("UPDATE");
    assert_eq!(updates.first().map(|(t, _)| *t), Some(60_000));
    // RFC 4028 §7.4: the refresh keeps us the refresher (we are its UAC).
    assert_eq!(
        updates
            .first()
            .and_then(|(_, update)| update.headers.get("Session-Expires")),
        Some("120;refresher=uac")
    );
}

#[test]
fn malformed_input_never_panics_and_next_call_works() {
    let mut h = Harness::new();
    for junk in [
        &b"\x00\x01\x02"[..],
        b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKq\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",
        b"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=nocookie\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\n",
    ] {
        h.ua.handle_datagram(h.now, Transport::Udp, peer_addr(), junk);
        h.drain();
    }
    h.sent.clear();
    h.recv(&invite("z9hG4bKgood", "", SDP));
    assert_eq!(h.statuses(), vec![100]);
}

/// Two user agents wired in memory with a seeded lossy, reordering network.
struct Pair {
    a: UserAgent,
    b: UserAgent,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    now: Instant,
    a_events: Vec<UaEvent>,
    b_events: Vec<UaEvent>,
    /// Packets in flight: (deliver at, to b?, bytes).
    wire: Vec<(Instant, bool, Vec<u8>)>,
    drop_every: Option<u64>,
    counter: u64,
}

impl Pair {
    fn new(a: UaConfig, b: UaConfig) -> Self {
        let (a_addr, b_addr) = (a.local_addr, b.local_addr);
        Pair {
            a: UserAgent::new(a, Entropy::seeded(1)),
            b: UserAgent::new(b, Entropy::seeded(2)),
            a_addr,
            b_addr,
            now: Instant::now(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            wire: Vec::new(),
            drop_every: None,
            counter: 0,
        }
    }

    fn pump(&mut self) {
        while let Some(t) = self.a.poll_transmit() {
            self.send(t, true);
        }
        while let Some(t) = self.b.poll_transmit() {
            self.send(t, false);
        }
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    fn send(&mut self, t: Transmit, to_b: bool) {
        self.counter += 1;
        if self
            .drop_every
            .is_some_and(|n| self.counter.is_multiple_of(n))
        {
            return;
        }
        // Alternate 5 ms and 15 ms latency so consecutive packets can overtake each other.
        let latency = Duration::from_millis(if self.counter.is_multiple_of(2) {
            15
        } else {
            5
        });
        self.wire.push((self.now + latency, to_b, t.payload));
    }

    /// Steps the clock from event to event for `span`.
    fn run(&mut self, span: Duration) {
        let end = self.now + span;
        let mut guard = 0;
        loop {
            guard += 1;
            assert!(guard < 100_000, "network did not settle");
            self.pump();
            let next_wire = self.wire.iter().map(|(at, _, _)| *at).min();
            let next = [next_wire, self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next.filter(|n| *n <= end) else {
                break;
            };
            self.now = next.max(self.now);
            let now = self.now;
            let (due, rest): (Vec<_>, Vec<_>) =
                self.wire.drain(..).partition(|(at, _, _)| *at <= now);
            self.wire = rest;
            for (_, to_b, bytes) in due {
                if to_b {
                    self.b
                        .handle_datagram(now, Transport::Udp, self.a_addr, &bytes);
                } else {
                    self.a
                        .handle_datagram(now, Transport::Udp, self.b_addr, &bytes);
                }
            }
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
        }
        self.now = end;
    }

    /// Lets `b` answer every incoming call.
    fn answer_all(&mut self) {
        let incoming: Vec<CallHandle> = self
            .b_events
            .iter()
            .filter_map(|e| match e {
                UaEvent::IncomingCall { call, .. } => Some(*call),
                _ => None,
            })
            .collect();
        for c in incoming {
            self.b.answer(self.now, c, SDP.to_string());
        }
        self.b_events
            .retain(|e| !matches!(e, UaEvent::IncomingCall { .. }));
    }
}

fn pair_configs(password: Option<&str>) -> (UaConfig, UaConfig) {
    let mut a = UaConfig::new("127.0.0.1:5080".parse().unwrap());
    a.outbound_targets = vec![OutboundTarget {
        name: "advisors".into(),
        uri: "sip:agent@127.0.0.1:5090".into(),
        username: Some("frontdoor".into()),
        password: password.map(str::to_string),
    }];
    let b = UaConfig::new("127.0.0.1:5090".parse().unwrap());
    (a, b)
}

#[test]
fn place_call_only_to_configured_targets() {
    let (a, _) = pair_configs(None);
    let mut ua = UserAgent::new(a, Entropy::seeded(1));
    assert!(
        ua.place_call(Instant::now(), "sip:999@evil", SDP.into())
            .is_err()
    );
    assert!(
        ua.place_call(Instant::now(), "advisors", SDP.into())
            .is_ok()
    );
    let t = ua.poll_transmit().unwrap();
    assert_eq!(
        t.destination,
        "127.0.0.1:5090".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn two_agents_call_answer_and_hang_up_over_lossy_reordering_network() {
    let (a, b) = pair_configs(None);
    let mut p = Pair::new(a, b);
    p.drop_every = Some(3);
    let call = p.a.place_call(p.now, "advisors", SDP.into()).unwrap();
    p.run(Duration::from_secs(5));
    p.answer_all();
    p.run(Duration::from_secs(10));
    assert!(
        p.a_events
            .iter()
            .any(|e| matches!(e, UaEvent::OutgoingAnswered { call: c, .. } if *c == call))
    );
    assert!(
        p.b_events
            .iter()
            .any(|e| matches!(e, UaEvent::Acked { .. }))
    );
    p.a.hangup(p.now, call);
    p.run(Duration::from_secs(40));
    assert!(p.b_events.iter().any(|e| matches!(
        e,
        UaEvent::Terminated {
            cause: TerminationCause::RemoteBye,
            ..
        }
    )));
    assert_eq!(p.a.active_calls(), 0);
    assert_eq!(p.b.active_calls(), 0);
}

#[test]
fn uac_answers_digest_challenge_once() {
    // A scripted UAS that challenges every INVITE.
    let (a, _) = pair_configs(Some("secret"));
    let mut ua = UserAgent::new(a, Entropy::seeded(1));
    let now = Instant::now();
    let peer: SocketAddr = "127.0.0.1:5090".parse().unwrap();
    let call = ua.place_call(now, "advisors", SDP.into()).unwrap();
    let first = parse_datagram(&ua.poll_transmit().unwrap().payload).unwrap();
    let challenge_for = |req: &Message| {
        let mut c = req.clone();
        c.start = StartLine::Response(StatusLine {
            code: 401,
            reason: "Unauthorized".into(),
        });
        c.headers = c
            .headers
            .iter()
            .filter(|h| matches!(h.name.as_str(), "Via" | "From" | "Call-ID" | "CSeq"))
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect();
        c.headers.push("To", "<sip:agent@127.0.0.1:5090>;tag=uas1");
        c.headers.push(
            "WWW-Authenticate",
            "Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth\", algorithm=MD5",
        );
        c.body.clear();
        c
    };
    ua.handle_datagram(now, Transport::Udp, peer, &challenge_for(&first).to_bytes());
    let ack = parse_datagram(&ua.poll_transmit().unwrap().payload).unwrap();
    assert_eq!(ack.method_name(), "ACK");
    let retry = parse_datagram(&ua.poll_transmit().unwrap().payload).unwrap();
    assert_eq!(retry.method_name(), "INVITE");
    assert_eq!(retry.cseq().map(|c| c.seq), first.cseq().map(|c| c.seq + 1));
    assert_ne!(
        retry.top_via().unwrap().branch,
        first.top_via().unwrap().branch
    );
    let auth = retry.headers.get("Authorization").unwrap();
    assert!(
        auth.contains("username=\"frontdoor\"")
            && auth.contains("qop=auth")
            && auth.contains("nc=00000001")
    );
    // A second challenge is final: no third INVITE.
    ua.handle_datagram(now, Transport::Udp, peer, &challenge_for(&retry).to_bytes());
    let mut sent = Vec::new();
    while let Some(t) = ua.poll_transmit() {
        sent.push(parse_datagram(&t.payload).unwrap());
    }
    assert!(sent.iter().all(|m| m.method_name() == "ACK"));
    let mut events = Vec::new();
    while let Some(e) = ua.poll_event() {
        events.push(e);
    }
    assert!(events.iter().any(
        |e| matches!(e, UaEvent::Terminated { call: c, cause: TerminationCause::OutgoingFailed(401) } if *c == call)
    ));
}

#[test]
fn refer_failure_comes_back_as_progress() {
    let (a, b) = pair_configs(None);
    let mut p = Pair::new(a, b);
    let call = p.a.place_call(p.now, "advisors", SDP.into()).unwrap();
    p.run(Duration::from_secs(1));
    p.answer_all();
    p.run(Duration::from_secs(1));
    // `b` is a UserAgent, which does not accept REFER (405): that must surface as progress.
    p.a.refer(
        p.now,
        call,
        "sip:advisor@127.0.0.1:5099",
        vec![("X-Frontdoor-Case".into(), "C-1".into())],
    )
    .unwrap();
    p.run(Duration::from_secs(1));
    assert!(
        p.a_events
            .iter()
            .any(|e| matches!(e, UaEvent::ReferProgress { status: 405, .. }))
    );
}

#[test]
fn strict_parser_rejections_are_answered_400_and_505_or_dropped() {
    let mut h = Harness::new();
    // Without a Call-ID the parser cannot address an answer: dropped.
    let no_call_id = invite("z9hG4bKbad1", "", "").replace("Call-ID: call-1@127.0.0.1\r\n", "");
    h.recv(&no_call_id);
    assert!(h.statuses().is_empty());
    let negative = invite("z9hG4bKbad2", "", "").replace("Content-Length: 0", "Content-Length: -1");
    h.recv(&negative);
    assert_eq!(h.statuses(), vec![400]);
    let v7 = invite("z9hG4bKbad3", "", "").replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
    h.recv(&v7);
    assert_eq!(h.statuses(), vec![400, 505]);
    assert!(h.events.is_empty());
}

/// The response a scripted peer sends to `req` (RFC 3261 §8.2.6.2), with `to_tag` added when
/// the To has none.
fn peer_response(req: &Message, status: u16, to_tag: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status} Whatever\r\n");
    for v in req.headers.get_all("Via") {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    for name in ["From", "Call-ID", "CSeq"] {
        out.push_str(&format!("{name}: {}\r\n", req.headers.get(name).unwrap()));
    }
    let to = req.headers.get("To").unwrap();
    if req.to_tag().is_some() {
        out.push_str(&format!("To: {to}\r\n"));
    } else {
        out.push_str(&format!("To: {to};tag={to_tag}\r\n"));
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// A NOTIFY from the caller in the call of `answered_call` (RFC 3515 §2.4.5 sipfrag body).
fn refer_notify(tag: &str, cseq: u32, branch: &str, frag: &str, state: &str) -> String {
    in_dialog(
        "NOTIFY",
        cseq,
        tag,
        branch,
        &format!(
            "Event: refer\r\nSubscription-State: {state}\r\nContent-Type: message/sipfrag\r\n"
        ),
        frag,
    )
}

fn refer_statuses(events: &[UaEvent]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            UaEvent::ReferProgress { status, .. } => Some(*status),
            _ => None,
        })
        .collect()
}

#[test]
fn refer_then_notify_sipfrag_progress_until_subscription_terminates() {
    let (mut h, call, tag) = answered_call();
    h.take_sent();
    h.ua.refer(h.now, call, "sip:advisor@127.0.0.1:5099", Vec::new())
        .unwrap();
    h.drain();
    let (_, refer) = h.requests_sent("REFER").pop().expect("REFER sent");
    assert_eq!(
        refer.headers.get("Refer-To"),
        Some("<sip:advisor@127.0.0.1:5099>")
    );
    // RFC 3515 §2.4.1: REFER goes to the caller's Contact, inside the dialog.
    assert_eq!(
        refer.request_uri().map(|u| u.to_string()).as_deref(),
        Some("sip:caller@127.0.0.1:5070")
    );
    assert_eq!(refer.to_tag().as_deref(), Some("caller1"));
    h.recv(&peer_response(&refer, 202, "unused", ""));
    h.take_sent();
    h.recv(&refer_notify(
        &tag,
        2,
        "z9hG4bKn1",
        "SIP/2.0 100 Trying\r\n",
        "active;expires=60",
    ));
    h.recv(&refer_notify(
        &tag,
        3,
        "z9hG4bKn2",
        "SIP/2.0 200 OK\r\n",
        "terminated;reason=noresource",
    ));
    assert_eq!(h.statuses(), vec![200, 200]);
    assert_eq!(refer_statuses(&h.events), vec![202, 100, 200]);
    // The subscription is over (RFC 6665 §4.1.3): a further NOTIFY matches nothing.
    h.take_sent();
    h.recv(&refer_notify(
        &tag,
        4,
        "z9hG4bKn3",
        "SIP/2.0 200 OK\r\n",
        "terminated",
    ));
    assert_eq!(h.statuses(), vec![481]);
    assert_eq!(refer_statuses(&h.events), vec![202, 100, 200]);
    assert_eq!(h.ua.active_calls(), 1, "the call itself goes on");
}

/// A UA that places calls to a scripted UAS at 127.0.0.1:5090.
fn outgoing() -> (Harness, CallHandle, Message) {
    let (a, _) = pair_configs(None);
    let mut h = Harness::with(a);
    let call = h.ua.place_call(h.now, "advisors", SDP.into()).unwrap();
    h.drain();
    let (_, inv) = h.requests_sent("INVITE").pop().expect("INVITE sent");
    (h, call, inv)
}

#[test]
fn our_cancel_after_180_gets_487_acked_and_leaves_no_state() {
    let (mut h, call, inv) = outgoing();
    let peer: SocketAddr = "127.0.0.1:5090".parse().unwrap();
    h.recv_from(peer, &peer_response(&inv, 100, "uas1", ""));
    h.recv_from(peer, &peer_response(&inv, 180, "uas1", ""));
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, UaEvent::OutgoingProgress { status: 180, .. }))
    );
    h.take_sent();
    h.ua.hangup(h.now, call);
    h.drain();
    // RFC 3261 §9.1: same Request-URI, Call-ID, From, To, top Via (branch) and CSeq number.
    let (_, cancel) = h.requests_sent("CANCEL").pop().expect("CANCEL sent");
    assert_eq!(cancel.request_uri(), inv.request_uri());
    assert_eq!(cancel.headers.get("Via"), inv.headers.get("Via"));
    assert_eq!(cancel.call_id(), inv.call_id());
    assert_eq!(cancel.headers.get("To"), inv.headers.get("To"));
    assert_eq!(cancel.cseq().map(|c| c.seq), inv.cseq().map(|c| c.seq));
    assert_eq!(h.terminated(), vec![TerminationCause::Cancelled]);
    h.take_sent();
    h.recv_from(peer, &peer_response(&cancel, 200, "uas1", ""));
    h.recv_from(peer, &peer_response(&inv, 487, "uas1", ""));
    // §17.1.1.3: the 487 is ACKed by the INVITE transaction, on the INVITE's branch.
    let (_, ack) = h.requests_sent("ACK").pop().expect("ACK for the 487");
    assert_eq!(ack.top_via().unwrap().branch, inv.top_via().unwrap().branch);
    assert_eq!(ack.to_tag().as_deref(), Some("uas1"));
    assert_eq!(h.terminated(), vec![TerminationCause::Cancelled]);
    // Timer D (32 s) and Timer K (5 s) expire; nothing may remain.
    h.run_until(Duration::from_secs(40));
    assert_eq!(h.ua.active_calls(), 0);
    assert_eq!(h.ua.held_state(), 0);
    assert_eq!(h.ua.poll_timeout(), None);
}

#[test]
fn hangup_before_any_provisional_sends_cancel_on_the_first_one() {
    let (mut h, call, inv) = outgoing();
    let peer: SocketAddr = "127.0.0.1:5090".parse().unwrap();
    h.ua.hangup(h.now, call);
    h.drain();
    // §9.1: no CANCEL before a provisional response.
    assert!(h.requests_sent("CANCEL").is_empty());
    h.recv_from(peer, &peer_response(&inv, 180, "uas1", ""));
    assert_eq!(h.requests_sent("CANCEL").len(), 1);
    assert_eq!(h.terminated(), vec![TerminationCause::Cancelled]);
}

#[test]
fn session_refresh_is_a_reinvite_with_our_sdp_when_peer_does_not_allow_update() {
    let mut h = Harness::new();
    h.recv(&invite(
        "z9hG4bKinv1",
        "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE\r\n",
        SDP,
    ));
    let call = h.incoming();
    h.ua.answer(h.now, call, SDP.to_string());
    h.drain();
    let tag = h.our_tag();
    h.recv(&ack(&tag, 1, "z9hG4bKack1"));
    h.take_sent();
    h.run_until(Duration::from_secs(61));
    assert!(h.requests_sent("UPDATE").is_empty());
    let reinvites = h.requests_sent("INVITE");
    let (at, reinvite) = reinvites.first().expect("a re-INVITE refresh");
    assert_eq!(*at, 60_000, "RFC 4028 §10: refresh at half the interval");
    // RFC 4028 §7.4: the refresh repeats our session description and the timer.
    assert_eq!(reinvite.sdp().as_deref(), Some(SDP));
    assert!(
        reinvite
            .headers
            .get("Session-Expires")
            .is_some_and(|v| v.starts_with("120"))
    );
    assert_eq!(reinvite.to_tag().as_deref(), Some("caller1"));
    let seq = reinvite.cseq().unwrap().seq;
    let extra = "Contact: <sip:caller@127.0.0.1:5070>\r\nSession-Expires: 120;refresher=uas\r\n";
    h.take_sent();
    h.recv(&peer_response(reinvite, 200, "unused", extra));
    // §13.2.2.4: we ACK the re-INVITE's 2xx with its CSeq number.
    let (_, ack) = h
        .requests_sent("ACK")
        .pop()
        .expect("ACK for the refresh 2xx");
    assert_eq!(ack.cseq().map(|c| c.seq), Some(seq));
    // The refresh restarted the timer: the next one comes 60 s later, and no expiry.
    h.run_until(Duration::from_secs(119));
    assert!(h.terminated().is_empty());
    assert!(h.requests_sent("INVITE").is_empty());
    h.run_until(Duration::from_secs(121));
    assert_eq!(h.requests_sent("INVITE").len(), 1);
}

#[test]
fn tcp_responses_and_our_bye_use_the_connection_the_call_came_in_on() {
    let mut ua = UserAgent::new(UaConfig::new(server_addr()), Entropy::seeded(1));
    let now = Instant::now();
    // The connection's far end is an ephemeral port, not the Via's sent-by port.
    let source: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let conn = Transport::Tcp(7);
    let tcp_invite = invite("z9hG4bKtcp1", "", SDP)
        .replace("SIP/2.0/UDP 127.0.0.1:5070", "SIP/2.0/TCP 127.0.0.1:5070")
        .replace(
            "<sip:caller@127.0.0.1:5070>",
            "<sip:caller@127.0.0.1:5070;transport=tcp>",
        );
    ua.handle_datagram(now, conn, source, tcp_invite.as_bytes());
    let trying = ua.poll_transmit().expect("100 Trying");
    assert_eq!((trying.transport, trying.destination), (conn, source));
    let call = match ua.poll_event() {
        Some(UaEvent::IncomingCall { call, info }) => {
            assert_eq!(info.transport, conn);
            call
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    ua.answer(now, call, SDP.to_string());
    let ok = ua.poll_transmit().expect("200 OK");
    assert_eq!((ok.transport, ok.destination), (conn, source));
    let ok = parse_datagram(&ok.payload).unwrap();
    assert!(
        ok.headers
            .get("Contact")
            .is_some_and(|c| c.contains("transport=tcp"))
    );
    // §17.2.1 / §13.3.1.4: no 2xx retransmission over a reliable transport before the ACK.
    ua.handle_timeout(now + Duration::from_secs(2));
    assert!(ua.poll_transmit().is_none());
    let tag = ok.to_tag().unwrap();
    let tcp_ack = ack(&tag, 1, "z9hG4bKtcp2").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    ua.handle_datagram(now, conn, source, tcp_ack.as_bytes());
    assert!(matches!(ua.poll_event(), Some(UaEvent::Acked { .. })));
    ua.hangup(now, call);
    let bye = ua.poll_transmit().expect("our BYE");
    assert_eq!((bye.transport, bye.destination), (conn, source));
    let bye = parse_datagram(&bye.payload).unwrap();
    assert!(
        bye.headers
            .get("Via")
            .is_some_and(|v| v.starts_with("SIP/2.0/TCP "))
    );
}

#[test]
fn rfc2543_invite_without_branch_cookie_is_matched_by_call_id_tag_and_cseq() {
    let mut h = Harness::new();
    // RFC 4475 §3.4.1: an RFC 2543 peer sends no magic cookie; RFC 3261 §17.2.3 matching
    // falls back to Call-ID, From tag, CSeq and the top Via.
    let old = invite("z9hG4bKx", "", SDP).replace(";branch=z9hG4bKx", ";branch=1234");
    h.recv(&old);
    assert_eq!(h.statuses(), vec![100]);
    let call = h.incoming();
    // A retransmission is absorbed by the same transaction: no second call.
    h.recv(&old);
    let calls = h
        .events
        .iter()
        .filter(|e| matches!(e, UaEvent::IncomingCall { .. }))
        .count();
    assert_eq!(calls, 1);
    // And its CANCEL finds the INVITE.
    h.take_sent();
    let cancel = invite("z9hG4bKx", "", "").replace(";branch=z9hG4bKx", ";branch=1234");
    h.recv(&as_method(&cancel, "CANCEL"));
    assert_eq!(h.statuses(), vec![200, 487]);
    assert_eq!(h.terminated(), vec![TerminationCause::Cancelled]);
    assert!(
        h.events
            .iter()
            .any(|e| matches!(e, UaEvent::Terminated { call: c, .. } if *c == call))
    );
}

#[test]
fn section_8_2_refusals_are_stateless_stable_and_carry_their_headers() {
    let mut h = Harness::new();
    // RFC 3261 §8.2.3: a body type we cannot process → 415 listing what we accept.
    let text = invite("z9hG4bKct1", "", "hello").replace("application/sdp", "text/plain");
    h.recv(&text);
    let resp = h.last();
    assert_eq!(resp.status_code(), Some(415));
    assert!(
        resp.headers
            .get("Accept")
            .is_some_and(|a| a.contains("application/sdp"))
    );
    // A retransmission gets the very same answer (same To tag), and no state exists.
    let first = h.take_sent();
    h.recv(&text);
    let again = h.take_sent();
    assert_eq!(first[0].1.headers.get("To"), again[0].1.headers.get("To"));
    assert_eq!(h.ua.held_state(), 0);
    // RFC 3261 §8.2.2.1: a tel: Request-URI is not served → 416.
    h.recv(
        &invite("z9hG4bKtel", "", SDP)
            .replace("INVITE sip:0800%31@127.0.0.1", "INVITE tel:+441234"),
    );
    assert_eq!(h.statuses(), vec![416]);
    // RFC 3261 §8.2.2.3: Proxy-Require counts like Require for the endpoint → 420.
    h.take_sent();
    h.recv(&invite("z9hG4bKpr", "Proxy-Require: foo\r\n", SDP));
    assert_eq!(h.statuses(), vec![420]);
    assert_eq!(h.last().headers.get("Unsupported"), Some("foo"));
    assert_eq!(h.ua.held_state(), 0);
    assert!(h.events.is_empty());
}
