//! The virtual-time call harness proves itself: the scripted caller (`support/virtual_caller`)
//! calls a stand-in answerer built from a second `UserAgent` and `MediaSession`, over the
//! emulated network (`support/vnet`), with no sockets and no sleeping.
//!
//! Covered: a clean call (answer, 3 s of tone each way, the caller's BYE and its 200); the same
//! call through 5 % loss, 30 ms jitter, reordering and 1 % duplication; determinism (one seed,
//! one trace; another seed, other tags and SSRCs); RFC 4733 keys from the caller reported as
//! DTMF by the answerer; a 60-second call in a fraction of a second; stopping a run on a
//! condition or a deadline. And the network on its own: a clean link is an in-order delay line,
//! impairments happen at their configured rates and repeat per seed, and each direction has its
//! own link and random stream.

#[path = "support/virtual_caller.rs"]
mod virtual_caller;
#[path = "support/vnet.rs"]
mod vnet;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontdoor::entropy::Entropy;
use frontdoor::sip::sdp::{self, LocalMedia, SessionDescription};
use frontdoor::sip::ua::message_ext::UaMessageExt;
use frontdoor::sip::ua::{CallHandle, TerminationCause, Transport, UaConfig, UaEvent, UserAgent};

use virtual_caller::{
    CallRecord, CallerAudio, CallerConfig, CallerScript, Hangup, MediaLeg, SipRecord,
    USER_AGENT_IS_SEEDED, VirtualCaller, media_config, new_user_agent, rtcp_of,
};
use vnet::{
    Datagram, LinkConfig, Pair, RunOutcome, VirtualEndpoint, VirtualNetwork, WireKind, WireRecord,
    fnv1a,
};

const CALLER_TONE_HZ: f32 = 1000.0;
const ANSWERER_TONE_HZ: f32 = 440.0;
const TONE_DBFS: f32 = -16.0;
/// A received frame this loud counts as tone (silence decodes far below it).
const VOICED_DBFS: f32 = -30.0;
const FRAMES_PER_SECOND: usize = 50;

fn caller_sip() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 5060))
}

fn answerer_sip() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5060))
}

fn answerer_rtp() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 30_000))
}

/// A stand-in for the call core: a user agent (UAS) that rings, answers after a delay and
/// plays a tone until the caller hangs up, recording what it received.
struct Answerer {
    ua: UserAgent,
    local_media: LocalMedia,
    media_entropy: Option<Entropy>,
    media: Option<MediaLeg>,
    call: Option<CallHandle>,
    answer_after: Duration,
    /// The call to answer, when, with which SDP and media configuration.
    pending_answer: Option<(Instant, CallHandle, String, frontdoor::media::MediaConfig)>,
    start: Instant,
    record: CallRecord,
}

impl Answerer {
    fn new(seed: u64, answer_after: Duration, start: Instant) -> Self {
        let mut entropy = Entropy::seeded(seed);
        let ua_entropy = entropy.fork();
        let media_entropy = entropy.fork();
        Answerer {
            ua: new_user_agent(UaConfig::new(answerer_sip()), ua_entropy),
            local_media: LocalMedia {
                addr: answerer_rtp().ip(),
                port: answerer_rtp().port(),
                session_id: entropy.u64() >> 1,
                session_version: 1,
            },
            media_entropy: Some(media_entropy),
            media: None,
            call: None,
            answer_after,
            pending_answer: None,
            start,
            record: CallRecord::default(),
        }
    }

    fn since_start(&self, now: Instant) -> Duration {
        now - self.start
    }

    fn incoming(&mut self, now: Instant, call: CallHandle, offer: Option<String>) {
        if self.call.is_some() {
            self.ua.reject(now, call, 486);
            return;
        }
        let negotiated = offer
            .ok_or(sdp::SdpError::Missing("an offer"))
            .and_then(|text| SessionDescription::parse(&text))
            .and_then(|sd| sdp::negotiate_answer(&sd, &self.local_media));
        match negotiated {
            Ok(n) => {
                self.call = Some(call);
                self.ua.ringing(now, call);
                let answer = sdp::build_answer(&n, &self.local_media);
                self.pending_answer =
                    Some((now + self.answer_after, call, answer, media_config(&n)));
            }
            Err(e) => {
                self.ua.reject(now, call, e.response_status());
                self.record.answer_error = Some(e);
            }
        }
    }

    fn answer_if_due(&mut self, now: Instant) {
        let due = self
            .pending_answer
            .as_ref()
            .is_some_and(|(at, ..)| *at <= now);
        if !due {
            return;
        }
        let Some((_, call, answer, config)) = self.pending_answer.take() else {
            return;
        };
        let Some(entropy) = self.media_entropy.take() else {
            return;
        };
        self.ua.answer(now, call, answer);
        self.record.answered_at = Some(self.since_start(now));
        let mut media = MediaLeg::new(config, entropy, answerer_rtp(), self.start, now);
        media.play(&CallerAudio::Tone {
            hz: ANSWERER_TONE_HZ,
            dbfs: TONE_DBFS,
        });
        self.record.ssrc = Some(media.session.ssrc());
        self.media = Some(media);
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.ua.poll_event() {
            self.record
                .events
                .push((self.since_start(now), event.clone()));
            match event {
                UaEvent::IncomingCall { call, info } => self.incoming(now, call, info.offer),
                UaEvent::Terminated { call, cause } if Some(call) == self.call => {
                    if self.record.ended.is_none() {
                        self.record.ended = Some((self.since_start(now), cause));
                    }
                    self.pending_answer = None;
                    if let Some(mut media) = self.media.take() {
                        media.drain_events(now, &mut self.record.media);
                    }
                }
                _ => {}
            }
        }
        if let Some(media) = self.media.as_mut() {
            media.drain_events(now, &mut self.record.media);
        }
    }
}

impl VirtualEndpoint for Answerer {
    fn owns(&self, addr: SocketAddr) -> bool {
        addr == answerer_sip() || addr == answerer_rtp() || addr == rtcp_of(answerer_rtp())
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if to == answerer_sip() {
            self.record
                .sip_received
                .push(SipRecord::of(self.since_start(now), bytes));
            self.ua.handle_datagram(now, Transport::Udp, from, bytes);
        } else if let Some(media) = self.media.as_mut() {
            media.handle_datagram(now, from, to, bytes);
        } else {
            self.record.media.without_session += 1;
        }
        self.process_events(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram> {
        if let Some(t) = self.ua.poll_transmit() {
            self.record
                .sip_sent
                .push(SipRecord::of(self.since_start(now), &t.payload));
            return Some(Datagram {
                from: answerer_sip(),
                to: t.destination,
                bytes: t.payload,
            });
        }
        self.media.as_mut()?.poll_transmit(now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [
            self.ua.poll_timeout(),
            self.media.as_ref().map(|m| m.session.poll_timeout()),
            self.pending_answer.as_ref().map(|(at, ..)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.answer_if_due(now);
        self.ua.handle_timeout(now);
        if let Some(media) = self.media.as_mut() {
            media.session.handle_timeout(now);
        }
        self.process_events(now);
    }
}

/// The caller's part in most scenarios: a 1 kHz tone from the answer on, hang up 3 s later.
fn three_second_call() -> CallerScript {
    CallerScript::new()
        .audio_at(
            Duration::ZERO,
            CallerAudio::Tone {
                hz: CALLER_TONE_HZ,
                dbfs: TONE_DBFS,
            },
        )
        .hangup(Hangup::AfterAnswer(Duration::from_secs(3)))
}

/// One whole call, run until nothing is left to happen (every transaction timer included).
struct Finished {
    pair: Pair<VirtualCaller, Answerer>,
    outcome: RunOutcome,
    wall: Duration,
}

impl Finished {
    fn caller(&self) -> &CallRecord {
        &self.pair.a.record
    }

    fn answerer(&self) -> &CallRecord {
        &self.pair.b.record
    }
}

fn run_call(seed: u64, link: LinkConfig, script: CallerScript) -> Finished {
    let wall_start = Instant::now();
    let start = Instant::now();
    let caller = VirtualCaller::new(
        CallerConfig::new(caller_sip(), answerer_sip(), "01632960000", seed),
        script,
        start,
    );
    let answerer = Answerer::new(seed.wrapping_add(1_000), Duration::from_millis(300), start);
    let net = VirtualNetwork::new(seed.wrapping_add(2_000)).with_default_link(link);
    let mut pair = Pair::new(caller, answerer, net, start);
    let outcome = pair
        .run_until(Duration::from_secs(600), |_| false)
        .expect("the endpoints make progress");
    Finished {
        pair,
        outcome,
        wall: wall_start.elapsed(),
    }
}

/// Frames the far end sent during `secs` seconds of tone.
fn tone_frames(secs: usize) -> usize {
    secs * FRAMES_PER_SECOND
}

fn assert_completed_with_bye(f: &Finished) {
    assert!(
        matches!(f.outcome, RunOutcome::Quiet(_)),
        "the run ran dry: {:?}",
        f.outcome
    );
    let (caller, answerer) = (f.caller(), f.answerer());
    assert!(caller.dial_error.is_none(), "{:?}", caller.dial_error);
    assert!(caller.answer_error.is_none(), "{:?}", caller.answer_error);
    assert!(caller.sent_request("INVITE"));
    assert!(caller.received_response(180, "INVITE"));
    assert!(caller.received_response(200, "INVITE"));
    assert!(caller.sent_request("ACK"));
    assert!(caller.sent_request("BYE"));
    assert!(caller.received_response(200, "BYE"));
    assert!(answerer.sip_received.iter().any(|r| r.is_request("BYE")));
    assert!(answerer.sip_sent.iter().any(|r| r.is_response(200, "BYE")));
    assert_eq!(
        caller.ended.map(|(_, cause)| cause),
        Some(TerminationCause::LocalBye)
    );
    assert_eq!(
        answerer.ended.map(|(_, cause)| cause),
        Some(TerminationCause::RemoteBye)
    );
    // Every transaction and dialog has been let go on both sides.
    assert_eq!(f.pair.a.user_agent().held_state(), 0);
    assert_eq!(f.pair.b.ua.held_state(), 0);
    assert_eq!(f.pair.undeliverable, 0);
}

fn assert_fast(f: &Finished) {
    assert!(
        f.wall < Duration::from_secs(1),
        "{:?} of wall time for {:?} of virtual time",
        f.wall,
        f.pair.elapsed()
    );
}

#[test]
fn clean_call_answers_carries_three_seconds_each_way_and_ends_with_bye() {
    let f = run_call(1, LinkConfig::clean(), three_second_call());
    assert_completed_with_bye(&f);
    let (caller, answerer) = (f.caller(), f.answerer());

    // Answered 300 ms after the INVITE arrived (10 ms each way), hung up 3 s later.
    assert_eq!(answerer.answered_at, Some(Duration::from_millis(310)));
    assert_eq!(caller.answered_at, Some(Duration::from_millis(320)));
    assert_eq!(caller.hung_up_at, Some(Duration::from_millis(3_320)));
    // Nothing is lost or repeated on a clean link: each SIP message once.
    let invites = caller.sip_sent.iter().filter(|r| r.is_request("INVITE"));
    assert_eq!(invites.count(), 1);

    // The answerer heard the caller's tone for (almost) the whole 3 s: the jitter buffer's
    // 40 ms start-up delay and the last packets after the BYE are all that may be missing.
    let heard = answerer.media.frames_above(VOICED_DBFS);
    assert!(
        (tone_frames(3) - 5..=tone_frames(3)).contains(&heard),
        "the answerer heard {heard} frames of tone"
    );
    let pitch = answerer.media.median_hz_above(VOICED_DBFS);
    assert!(
        pitch.is_some_and(|hz| (hz - CALLER_TONE_HZ).abs() < 50.0),
        "{pitch:?}"
    );
    // The caller heard the answerer's tone from its answer to the hang-up.
    let heard = caller.media.frames_above(VOICED_DBFS);
    assert!(
        (tone_frames(3) - 5..=tone_frames(3) + 1).contains(&heard),
        "the caller heard {heard} frames of tone"
    );
    let pitch = caller.media.median_hz_above(VOICED_DBFS);
    assert!(
        pitch.is_some_and(|hz| (hz - ANSWERER_TONE_HZ).abs() < 50.0),
        "{pitch:?}"
    );
    let stats = answerer.media.stats.expect("the answerer's media ran");
    assert_eq!(stats.lost_packets(), 0);
    assert_eq!(stats.duplicates, 0);
    assert!(caller.media.dtmf.is_empty() && answerer.media.dtmf.is_empty());
    assert_fast(&f);
}

#[test]
fn impaired_network_call_still_completes_with_audio_within_expectations() {
    let link = LinkConfig::impaired(0.05, Duration::from_millis(30), 0.01);
    let f = run_call(2, link, three_second_call());
    assert_completed_with_bye(&f);
    let (caller, answerer) = (f.caller(), f.answerer());

    // The network really was hostile in both directions.
    let net = &f.pair.net;
    let forward = net.stats(caller_sip().ip(), answerer_sip().ip());
    let back = net.stats(answerer_sip().ip(), caller_sip().ip());
    assert!(forward.lost > 0 && back.lost > 0, "{forward:?} {back:?}");
    assert!(
        forward.reordered + back.reordered > 0,
        "{forward:?} {back:?}"
    );
    assert!(
        forward.duplicated + back.duplicated > 0,
        "{forward:?} {back:?}"
    );

    // Loss is concealed (the last frame repeated for 40 ms), so nearly every frame of the 3 s
    // still carries tone; allow for the loss, the deeper jitter buffer and the ends.
    for (who, record, hz) in [
        ("answerer", answerer, CALLER_TONE_HZ),
        ("caller", caller, ANSWERER_TONE_HZ),
    ] {
        let heard = record.media.frames_above(VOICED_DBFS);
        assert!(
            (tone_frames(3) * 85 / 100..=tone_frames(3) + 2).contains(&heard),
            "the {who} heard {heard} frames of tone"
        );
        let pitch = record.media.median_hz_above(VOICED_DBFS);
        assert!(
            pitch.is_some_and(|p| (p - hz).abs() < 50.0),
            "the {who} heard {pitch:?} Hz"
        );
        let stats = record.media.stats.expect("media ran");
        assert!(
            (0.01..0.12).contains(&stats.fraction_lost),
            "the {who} lost {} of its packets",
            stats.fraction_lost
        );
    }
    assert_fast(&f);
}

/// What must repeat exactly for one seed: every datagram's time, addresses and fate, SIP start
/// lines, RTP packet counts per direction, and a hash over all bytes sent and delivered.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    sip: Vec<String>,
    rtp_sent: BTreeMap<(SocketAddr, SocketAddr), usize>,
    rtp_delivered: BTreeMap<(SocketAddr, SocketAddr), usize>,
    hash: u64,
}

impl Trace {
    fn of(pair: &Pair<VirtualCaller, Answerer>) -> Trace {
        let mut sip = Vec::new();
        let mut rtp_sent = BTreeMap::new();
        let mut rtp_delivered = BTreeMap::new();
        let mut fingerprint = Vec::new();
        for (label, log) in [("sent", &pair.sent), ("delivered", &pair.delivered)] {
            for r in log {
                let kind = WireKind::of(&r.bytes);
                match (&kind, label) {
                    (WireKind::Sip(line), "sent") => sip.push(format!(
                        "{:>8.3}s {} -> {} x{} {line}",
                        r.at.as_secs_f64(),
                        r.from,
                        r.to,
                        r.copies
                    )),
                    (WireKind::Rtp, "sent") => *rtp_sent.entry((r.from, r.to)).or_default() += 1,
                    (WireKind::Rtp, _) => *rtp_delivered.entry((r.from, r.to)).or_default() += 1,
                    _ => {}
                }
                fingerprint.extend_from_slice(&Self::record_fingerprint(r, &kind).to_be_bytes());
            }
        }
        Trace {
            sip,
            rtp_sent,
            rtp_delivered,
            hash: fnv1a(&fingerprint),
        }
    }

    fn record_fingerprint(r: &WireRecord, kind: &WireKind) -> u64 {
        let mut bytes = format!("{:?} {} {} {}", r.at, r.from, r.to, r.copies).into_bytes();
        match kind {
            // Until the user agent is seeded, its tags, branches, Call-IDs and initial CSeq
            // numbers are drawn from the operating system (and the CSeq's length with them):
            // only the start line can repeat.
            WireKind::Sip(line) if !USER_AGENT_IS_SEEDED => {
                bytes.extend_from_slice(line.as_bytes())
            }
            _ => bytes.extend_from_slice(&r.bytes),
        }
        fnv1a(&bytes)
    }
}

/// The From tag of the caller's INVITE.
fn invite_from_tag(record: &CallRecord) -> Option<String> {
    record
        .sip_sent
        .iter()
        .find(|r| r.is_request("INVITE"))
        .and_then(|r| r.message.as_ref())
        .and_then(UaMessageExt::from_tag)
}

#[test]
fn same_seed_gives_the_same_trace_and_another_seed_other_tags_and_ssrcs() {
    let link = LinkConfig::impaired(0.05, Duration::from_millis(30), 0.01);
    let script = || {
        three_second_call().keys_at(
            Duration::from_millis(500),
            "42",
            Duration::from_millis(100),
            Duration::from_millis(100),
        )
    };
    let first = run_call(7, link, script());
    let again = run_call(7, link, script());
    let other = run_call(8, link, script());
    let (t1, t2, t3) = (
        Trace::of(&first.pair),
        Trace::of(&again.pair),
        Trace::of(&other.pair),
    );
    assert!(!t1.sip.is_empty() && !t1.rtp_sent.is_empty());
    assert_eq!(t1, t2);
    assert_ne!(t1.hash, t3.hash);

    let ssrcs = |f: &Finished| (f.caller().ssrc, f.answerer().ssrc);
    assert_eq!(ssrcs(&first), ssrcs(&again));
    let (caller_ssrc, answerer_ssrc) = ssrcs(&other);
    assert!(caller_ssrc.is_some() && answerer_ssrc.is_some());
    assert_ne!(ssrcs(&first).0, caller_ssrc);
    assert_ne!(ssrcs(&first).1, answerer_ssrc);
    let tag = invite_from_tag(first.caller());
    assert!(tag.is_some());
    assert_ne!(tag, invite_from_tag(other.caller()));
    if USER_AGENT_IS_SEEDED {
        assert_eq!(tag, invite_from_tag(again.caller()));
    }
    // The scripts' effects repeat too.
    assert_eq!(first.answerer().media.dtmf, again.answerer().media.dtmf);
    assert_eq!(first.caller().media.frames, again.caller().media.frames);
}

#[test]
fn rfc4733_keys_from_the_caller_arrive_as_dtmf_at_the_answerer() {
    let script = three_second_call().keys_at(
        Duration::from_millis(500),
        "159#*0",
        Duration::from_millis(120),
        Duration::from_millis(80),
    );
    let f = run_call(3, LinkConfig::clean(), script);
    assert_completed_with_bye(&f);
    let answerer = f.answerer();
    assert_eq!(answerer.media.digits(), "159#*0");
    // Each digit is reported while its key is down, in the order pressed, 200 ms apart.
    let answered = f.caller().answered_at.expect("answered");
    for (n, (at, _)) in answerer.media.dtmf.iter().enumerate() {
        let pressed = answered + Duration::from_millis(500 + 200 * n as u64);
        assert!(
            *at >= pressed && *at < pressed + Duration::from_millis(200),
            "digit {n} reported at {at:?}, pressed at {pressed:?}"
        );
    }
    // The answerer's user agent saw no SIP INFO digits: these came in the media.
    assert!(
        !answerer
            .events
            .iter()
            .any(|(_, e)| matches!(e, UaEvent::Dtmf { .. }))
    );
    assert_fast(&f);
}

#[test]
fn keys_survive_the_impaired_network_too() {
    let link = LinkConfig::impaired(0.05, Duration::from_millis(30), 0.01);
    let script = three_second_call().keys_at(
        Duration::from_millis(500),
        "2468",
        Duration::from_millis(120),
        Duration::from_millis(80),
    );
    let f = run_call(4, link, script);
    assert_completed_with_bye(&f);
    // RFC 4733 §2.5.1.4: the end packet goes three times, and a digit counts once it has
    // lasted 40 ms, so a lost packet or two does not lose the key.
    assert_eq!(f.answerer().media.digits(), "2468");
}

#[test]
fn hangup_on_an_event_and_a_minute_long_call_in_milliseconds() {
    // The caller stays a minute on the line and hangs up only once it has heard 60 s of the
    // answerer's tone.
    let script = CallerScript::new().hangup(Hangup::When(Box::new(|record: &CallRecord| {
        record.media.frames_above(VOICED_DBFS) >= tone_frames(60)
    })));
    let link = LinkConfig::impaired(0.01, Duration::from_millis(20), 0.0);
    let f = run_call(5, link, script);
    assert_completed_with_bye(&f);
    let caller = f.caller();
    let (answered, hung_up) = (
        caller.answered_at.expect("answered"),
        caller.hung_up_at.expect("hung up"),
    );
    assert!(
        hung_up - answered >= Duration::from_secs(60),
        "hung up {:?} after the answer",
        hung_up - answered
    );
    assert!(hung_up - answered < Duration::from_secs(62));
    // Silence packets went the other way the whole time.
    let answerer_stats = f.answerer().media.stats.expect("media ran");
    assert!(answerer_stats.packets_in >= 60 * 50 * 95 / 100);
    assert!(
        f.wall < Duration::from_secs(2),
        "a minute's call took {:?}",
        f.wall
    );
}

#[test]
fn run_until_stops_when_the_condition_holds_and_the_run_resumes_from_there() {
    let start = Instant::now();
    let caller = VirtualCaller::new(
        CallerConfig::new(caller_sip(), answerer_sip(), "01632960000", 11),
        three_second_call(),
        start,
    );
    let answerer = Answerer::new(12, Duration::from_millis(300), start);
    let mut pair = Pair::new(caller, answerer, VirtualNetwork::new(13), start);
    let outcome = pair
        .run_until(Duration::from_secs(10), |p| {
            p.a.record.answered_at.is_some()
        })
        .expect("progress");
    assert_eq!(outcome, RunOutcome::Condition(Duration::from_millis(320)));
    assert!(pair.a.media().is_some(), "media starts with the answer");
    // A deadline leaves the clock at the deadline, with the call still up.
    let outcome = pair.run_for(Duration::from_secs(1)).expect("progress");
    assert_eq!(outcome, RunOutcome::Deadline);
    assert_eq!(pair.elapsed(), Duration::from_millis(1_320));
    assert!(!pair.a.has_ended());
    let outcome = pair
        .run_until(Duration::from_secs(10), |p| p.b.record.ended.is_some())
        .expect("progress");
    assert_eq!(outcome, RunOutcome::Condition(Duration::from_millis(3_330)));
}

/// Sends `count` datagrams 20 ms apart from 127.0.0.2 to 127.0.0.1 and returns them as
/// delivered: (arrival since the start, sequence number written in the payload).
fn send_burst(net: &mut VirtualNetwork, count: u32) -> Vec<(Duration, u32)> {
    let start = Instant::now();
    let from = SocketAddr::from(([127, 0, 0, 2], 1000));
    let to = SocketAddr::from(([127, 0, 0, 1], 1000));
    let mut out = Vec::new();
    for n in 0..count {
        let now = start + Duration::from_millis(20) * n;
        while let Some(d) = net.pop_due(now) {
            out.push((d.at - start, sequence_of(&d.datagram.bytes)));
        }
        net.send(
            now,
            Datagram {
                from,
                to,
                bytes: n.to_be_bytes().to_vec(),
            },
        );
    }
    let end = start + Duration::from_secs(3_600);
    while let Some(d) = net.pop_due(end) {
        out.push((d.at - start, sequence_of(&d.datagram.bytes)));
    }
    out
}

fn sequence_of(bytes: &[u8]) -> u32 {
    bytes
        .try_into()
        .map(u32::from_be_bytes)
        .expect("the burst writes 4-byte payloads")
}

#[test]
fn a_clean_link_delivers_everything_in_order_after_its_delay() {
    let mut net = VirtualNetwork::new(1);
    let delivered = send_burst(&mut net, 1_000);
    let expected: Vec<(Duration, u32)> = (0..1_000)
        .map(|n| (Duration::from_millis(20) * n + Duration::from_millis(10), n))
        .collect();
    assert_eq!(delivered, expected);
}

#[test]
fn impairments_happen_at_their_configured_rates_and_repeat_per_seed() {
    let link = LinkConfig::impaired(0.05, Duration::from_millis(30), 0.01);
    let mut net = VirtualNetwork::new(9).with_default_link(link);
    let count = 20_000;
    let delivered = send_burst(&mut net, count);
    let stats = net.stats("127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap());
    assert_eq!(stats.sent, u64::from(count));
    assert_eq!(stats.delivered, delivered.len() as u64);
    assert_eq!(stats.delivered, stats.sent - stats.lost + stats.duplicated);
    let rate = |n: u64| n as f64 / f64::from(count);
    assert!((0.04..0.06).contains(&rate(stats.lost)), "{stats:?}");
    assert!(
        (0.005..0.015).contains(&rate(stats.duplicated)),
        "{stats:?}"
    );
    assert!((0.015..0.025).contains(&rate(stats.reordered)), "{stats:?}");
    // Every copy arrives within its delay, jitter and reordering hold-back.
    for (at, n) in &delivered {
        let sent = Duration::from_millis(20) * *n;
        let delay = *at - sent;
        assert!(
            delay >= link.delay && delay <= link.delay + link.jitter + link.reorder_delay,
            "datagram {n} took {delay:?}"
        );
    }
    let overtaken = delivered.windows(2).filter(|w| w[1].1 < w[0].1).count();
    assert!(overtaken > 0, "nothing was reordered");
    // The same seed gives the same deliveries; another seed does not.
    let again = send_burst(&mut VirtualNetwork::new(9).with_default_link(link), count);
    assert_eq!(delivered, again);
    let other = send_burst(&mut VirtualNetwork::new(10).with_default_link(link), count);
    assert_ne!(delivered, other);
}

#[test]
fn each_direction_has_its_own_link_and_random_stream() {
    let a = SocketAddr::from(([127, 0, 0, 2], 1000));
    let b = SocketAddr::from(([127, 0, 0, 1], 1000));
    let fates = |net: &mut VirtualNetwork, with_reverse_traffic: bool| -> Vec<usize> {
        let start = Instant::now();
        (0..2_000u32)
            .map(|n| {
                let now = start + Duration::from_millis(20) * n;
                if with_reverse_traffic {
                    net.send(
                        now,
                        Datagram {
                            from: b,
                            to: a,
                            bytes: vec![0; 10],
                        },
                    );
                }
                net.send(
                    now,
                    Datagram {
                        from: a,
                        to: b,
                        bytes: vec![0; 10],
                    },
                )
            })
            .collect()
    };
    let lossy = LinkConfig {
        loss: 0.3,
        ..LinkConfig::clean()
    };
    let mut quiet = VirtualNetwork::new(5);
    quiet.set_link(a.ip(), b.ip(), lossy);
    let mut busy = VirtualNetwork::new(5);
    busy.set_link(a.ip(), b.ip(), lossy);
    // Traffic the other way, however much, leaves this direction's fates as they were.
    assert_eq!(fates(&mut quiet, false), fates(&mut busy, true));
    // The reverse direction kept the clean default link.
    let back = busy.stats(b.ip(), a.ip());
    assert_eq!((back.sent, back.lost), (2_000, 0));
    assert!(quiet.stats(a.ip(), b.ip()).lost > 400);
}
