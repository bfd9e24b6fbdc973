//! Unit tests of the call core in virtual time: inputs with a made-up `now`, outputs asserted.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::crm::Outcome;
use crate::sip::sdp::SessionDescription;
use crate::sip::ua::TerminationCause;

const PEER: &str = "192.0.2.10";

fn local() -> LocalMedia {
    LocalMedia {
        addr: Ipv4Addr::LOCALHOST.into(),
        port: 30000,
        session_id: 1,
        session_version: 1,
    }
}

fn offer(address: &str, direction: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
    )
}

fn peer() -> SocketAddr {
    SocketAddr::new(PEER.parse().unwrap(), 5060)
}
const CALL: CallHandle = CallHandle(7);

type Script = Box<dyn FnMut(&CallEvent) -> Vec<CallAction> + Send>;

/// A handler that logs every event and answers from a script.
struct Scripted {
    heard: Arc<Mutex<Vec<CallEvent>>>,
    script: Script,
}

impl CallHandler for Scripted {
    fn on_event(&mut self, _info: &CallInfo, event: CallEvent) -> Vec<CallAction> {
        let actions = (self.script)(&event);
        if let Ok(mut heard) = self.heard.lock() {
            heard.push(event);
        }
        actions
    }
}

/// What came out, owned.
#[derive(Debug)]
enum Out {
    Rtp { audible: bool },
    Rtcp,
    Sip(SipCommand),
    Request(Box<Request>),
}

struct Harness {
    call: Call,
    heard: Arc<Mutex<Vec<CallEvent>>>,
    t0: Instant,
    wall: SystemTime,
}

fn settings(case_store: bool) -> Arc<CallSettings> {
    // 1 s of a loud square wave: PCMU of it is never the silence code.
    let clip: Arc<[i16]> = (0..8000)
        .map(|i| if i % 16 < 8 { 8000 } else { -8000 })
        .collect();
    let short: Arc<[i16]> = clip[..1600].into();
    Arc::new(CallSettings {
        prompts: PromptLibrary::from_clips([("long", None, clip), ("short", None, short)]),
        speech: Arc::new(SpeechServices::disabled()),
        queues: QueueDirectory::new(Vec::new()).unwrap(),
        media_policy: MediaPolicy::default(),
        media_timeout: Duration::from_secs(30),
        advertised_ip: Ipv4Addr::LOCALHOST.into(),
        closing: ClosingSettings::default(),
        case_store,
        synthesis: false,
    })
}

fn start(
    case_store: bool,
    script: impl FnMut(&CallEvent) -> Vec<CallAction> + Send + 'static,
) -> Harness {
    start_with(settings(case_store), script)
}

fn start_with(
    settings: Arc<CallSettings>,
    script: impl FnMut(&CallEvent) -> Vec<CallAction> + Send + 'static,
) -> Harness {
    let t0 = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let local = local();
    let negotiated = SessionDescription::parse(&offer(PEER, "sendrecv"))
        .and_then(|o| crate::sip::sdp::negotiate_answer(&o, &local))
        .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let info = CallInfo {
        call_id: "core-test".into(),
        caller: Some(Pii::new("+441234567890".into())),
        dialled: "100".into(),
        source: peer(),
        started_at: wall,
    };
    let call = Call::new(
        settings,
        CallStart {
            call: CALL,
            info,
            negotiated,
            local,
            last_sdp: String::new(),
            handler: Box::new(Scripted {
                heard: Arc::clone(&heard),
                script: Box::new(script),
            }),
            entropy: Entropy::seeded(7),
            started: t0,
        },
        t0,
        wall,
    );
    Harness {
        call,
        heard,
        t0,
        wall,
    }
}

impl Harness {
    fn at(&self, ms: u64) -> (Instant, SystemTime) {
        let d = Duration::from_millis(ms);
        (self.t0 + d, self.wall + d)
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        loop {
            match self.call.poll_output() {
                Output::Timeout(_) => return out,
                Output::Transmit {
                    socket: MediaSocket::Rtp,
                    payload,
                    ..
                } => out.push(Out::Rtp {
                    // PCMU silence is 0xFF (or 0x7F); the test prompts never encode to it.
                    audible: payload.iter().skip(12).any(|&b| b != 0xFF && b != 0x7F),
                }),
                Output::Transmit { .. } => out.push(Out::Rtcp),
                Output::Sip(c) => out.push(Out::Sip(c)),
                Output::Request(r) => out.push(Out::Request(r)),
            }
        }
    }

    fn input(&mut self, ms: u64, input: Input<'_>) -> Vec<Out> {
        let (now, wall) = self.at(ms);
        self.call.handle_input(now, wall, input);
        self.drain()
    }

    /// Ticks every 20 ms from `from` up to and including `to`; everything that came out.
    fn run(&mut self, from: u64, to: u64) -> Vec<Out> {
        let mut out = Vec::new();
        let mut ms = from;
        while ms <= to {
            out.extend(self.input(ms, Input::Timeout));
            ms += 20;
        }
        out
    }

    fn heard(&self) -> Vec<CallEvent> {
        self.heard.lock().unwrap().clone()
    }

    fn dtmf(&mut self, ms: u64, digit: char) -> Vec<Out> {
        self.input(
            ms,
            Input::Sip(UaEvent::Dtmf {
                call: CALL,
                digit,
                duration_ms: 100,
            }),
        )
    }

    fn bye(&mut self, ms: u64) -> Vec<Out> {
        self.input(
            ms,
            Input::Sip(UaEvent::Terminated {
                call: CALL,
                cause: TerminationCause::RemoteBye,
            }),
        )
    }
}

fn prompt(name: &str) -> CallAction {
    CallAction::Play {
        items: vec![PlayItem::Prompt {
            name: name.into(),
            lang: None,
        }],
        barge_in: true,
    }
}

fn keys(max_digits: usize) -> ListenSpec {
    ListenSpec {
        no_input_timeout: Duration::from_secs(2),
        end_of_speech: Duration::from_millis(800),
        max_utterance: Duration::from_secs(10),
        max_digits,
        inter_digit_timeout: Duration::from_secs(3),
        terminators: "#".into(),
        hints: Vec::new(),
        speech: false,
    }
}

fn audible(out: &[Out]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Out::Rtp { audible: true }))
        .count()
}

#[test]
fn answered_call_plays_the_handlers_first_prompt_as_rtp() {
    let mut h = start(true, |e| match e {
        CallEvent::Answered => vec![prompt("long")],
        _ => vec![],
    });
    let out = h.run(0, 200);
    assert_eq!(h.heard(), vec![CallEvent::Answered]);
    let packets = out.iter().filter(|o| matches!(o, Out::Rtp { .. })).count();
    assert!(
        (10..=12).contains(&packets),
        "one packet per 20 ms: {out:?}"
    );
    assert!(audible(&out) >= 9, "the prompt is heard: {out:?}");
}

#[test]
fn digits_are_collected_until_the_inter_digit_gap_or_the_terminator() {
    let mut h = start(true, |e| match e {
        CallEvent::Answered | CallEvent::Digits(_) => vec![CallAction::Listen(keys(4))],
        _ => vec![],
    });
    h.run(0, 100);
    h.dtmf(1000, '1');
    h.dtmf(2000, '2');
    h.run(2020, 4980);
    assert_eq!(h.heard(), vec![CallEvent::Answered], "the gap is 3 s");
    h.run(5000, 5020);
    assert_eq!(h.heard().last(), Some(&CallEvent::Digits("12".into())));
    h.dtmf(6000, '3');
    h.dtmf(6500, '#');
    assert_eq!(
        h.heard(),
        vec![
            CallEvent::Answered,
            CallEvent::Digits("12".into()),
            CallEvent::Digits("3".into())
        ],
        "# ends the entry at once, without itself"
    );
}

#[test]
fn no_input_reprompts_two_seconds_after_the_prompt_ends() {
    let mut h = start(true, |e| match e {
        CallEvent::Answered | CallEvent::NoInput => {
            vec![prompt("short"), CallAction::Listen(keys(1))]
        }
        _ => vec![],
    });
    // The 200 ms prompt ends within a few ticks; no input is due 2 s later, not before.
    h.run(0, 1000);
    assert_eq!(
        h.heard(),
        vec![CallEvent::Answered, CallEvent::PromptFinished]
    );
    h.run(1020, 2100);
    assert_eq!(h.heard().len(), 2, "the timer starts when the prompt ends");
    let out = h.run(2120, 2600);
    assert_eq!(
        h.heard()[2..],
        [CallEvent::NoInput, CallEvent::PromptFinished],
        "no input about 2 s after the prompt ended, then the reprompt"
    );
    assert!(audible(&out) > 0, "the reprompt plays");
    h.run(2420, 5000);
    let events = h.heard();
    assert_eq!(
        events.iter().filter(|e| **e == CallEvent::NoInput).count(),
        2,
        "{events:?}"
    );
}

#[test]
fn caller_bye_mid_prompt_ends_the_call_and_nothing_more_is_sent() {
    let mut h = start(true, |e| match e {
        CallEvent::Answered => vec![prompt("long")],
        _ => vec![],
    });
    assert!(audible(&h.run(0, 200)) > 0);
    let out = h.bye(210);
    assert!(out.is_empty(), "{out:?}");
    assert!(h.call.is_ended());
    let out = h.run(220, 2000);
    assert!(out.is_empty(), "nothing after the BYE: {out:?}");
    assert!(!h.heard().contains(&CallEvent::PromptFinished));
    let record = h.call.finish().unwrap();
    assert_eq!(record.hangup_cause.as_deref(), Some("CallerHungUp"));
    assert_eq!(record.outcome, Outcome::Abandoned);
}

#[test]
fn a_case_stored_after_the_caller_hung_up_still_reaches_the_record() {
    let mut h = start(true, |e| match e {
        CallEvent::Answered => vec![CallAction::SaveCase(draft("missed_bin"))],
        _ => vec![],
    });
    let out = h.run(0, 0);
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Request(r) if matches!(**r, Request::StoreCase(_)))),
        "{out:?}"
    );
    h.bye(500);
    h.input(900, Input::Done(Completion::CaseStored(Ok("FD-42".into()))));
    assert!(
        !h.heard()
            .iter()
            .any(|e| matches!(e, CallEvent::CaseCreated { .. })),
        "the handler is not told once the call is over"
    );
    let record = h.call.finish().unwrap();
    assert_eq!(record.case_references, vec!["FD-42".to_string()]);
    assert_eq!(record.outcome, Outcome::CaseCreated);
}

#[test]
fn events_raised_while_answering_are_dispatched_after_it_in_order() {
    let mut h = start(false, |e| match e {
        CallEvent::Answered => vec![
            CallAction::SaveCase(draft("general")),
            CallAction::Transfer {
                queue: "nowhere".into(),
                context: crate::handler::TransferContext::Menu {
                    service: "general".into(),
                    intent: "general".into(),
                },
            },
            CallAction::Listen(ListenSpec {
                speech: true,
                ..keys(1)
            }),
        ],
        // Keys only now: a `Listen` answering `SpeechUnavailable` is not told again.
        CallEvent::SpeechUnavailable => vec![CallAction::Listen(ListenSpec {
            speech: true,
            ..keys(1)
        })],
        _ => vec![],
    });
    h.run(0, 100);
    let events = h.heard();
    assert!(matches!(events[0], CallEvent::Answered));
    assert!(
        matches!(events[1], CallEvent::CaseFailed { .. }),
        "{events:?}"
    );
    assert!(
        matches!(events[2], CallEvent::TransferFailed { .. }),
        "{events:?}"
    );
    assert_eq!(events[3], CallEvent::SpeechUnavailable);
    assert_eq!(events.len(), 4, "{events:?}");
}

#[test]
fn our_hangup_sends_bye_and_ends_when_the_dialog_does() {
    let mut h = start(true, |e| match e {
        CallEvent::Answered => vec![CallAction::Hangup],
        _ => vec![],
    });
    let out = h.run(0, 0);
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Sip(SipCommand::Hangup(CALL)))),
        "{out:?}"
    );
    assert!(!h.call.is_ended(), "until the BYE is answered");
    h.input(
        300,
        Input::Sip(UaEvent::Terminated {
            call: CALL,
            cause: TerminationCause::LocalBye,
        }),
    );
    assert!(h.call.is_ended());
    let record = h.call.finish().unwrap();
    assert_eq!(record.hangup_cause.as_deref(), Some("Completed"));
}

#[test]
fn a_server_stop_plays_the_closing_message_then_byes() {
    let mut closing_settings = settings(true);
    if let Some(s) = Arc::get_mut(&mut closing_settings) {
        s.closing = ClosingSettings {
            prompt: "short".into(),
            message_max: Duration::from_secs(10),
            bye_wait: Duration::from_secs(2),
        };
    }
    let mut h = start_with(closing_settings, |e| match e {
        CallEvent::Answered => vec![prompt("long"), CallAction::Listen(keys(1))],
        _ => vec![],
    });
    h.run(0, 100);
    let out = h.input(120, Input::Close(CloseMode::WithMessage));
    assert!(out.iter().all(|o| !matches!(o, Out::Sip(_))), "{out:?}");
    h.dtmf(150, '5');
    let out = h.run(160, 600);
    assert!(audible(&out) > 0, "the closing message plays");
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Sip(SipCommand::Hangup(CALL)))),
        "BYE once it has played: {out:?}"
    );
    assert_eq!(
        h.heard(),
        vec![CallEvent::Answered],
        "the handler hears nothing more"
    );
    h.run(620, 2500);
    assert!(h.call.is_ended(), "the BYE's wait is bye_wait");
    let record = h.call.finish().unwrap();
    assert_eq!(record.hangup_cause.as_deref(), Some("Shutdown"));
}

#[test]
fn a_re_offer_is_answered_and_one_naming_multicast_is_refused() {
    let mut h = start(true, |_| vec![]);
    h.run(0, 40);
    let reoffer = |sdp: String| {
        Input::Sip(UaEvent::ReOffer {
            call: CALL,
            kind: crate::sip::ua::ReOfferKind::ReInvite,
            sdp: Some(sdp),
        })
    };
    let out = h.input(100, reoffer(offer(PEER, "sendonly")));
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Sip(SipCommand::AnswerReoffer(CALL, sdp)) if sdp.contains("recvonly"))),
        "hold is answered recvonly: {out:?}"
    );
    let out = h.input(200, reoffer(offer("224.0.0.1", "sendrecv")));
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Sip(SipCommand::RejectReoffer(CALL, 488)))),
        "{out:?}"
    );
}

#[test]
fn invites_are_answered_offered_or_refused_by_policy() {
    let policy = MediaPolicy::default();
    match answer::answer_invite(Some(&offer(PEER, "sendrecv")), &local(), &policy, peer()) {
        answer::InviteAnswer::Answer {
            negotiated: Some(n),
            sdp,
        } => {
            assert_eq!(n.remote_rtp, SocketAddr::new(PEER.parse().unwrap(), 40000));
            assert!(sdp.contains("m=audio 30000"), "{sdp}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        answer::answer_invite(None, &local(), &policy, peer()),
        answer::InviteAnswer::Answer {
            negotiated: None,
            ..
        }
    ));
    assert!(matches!(
        answer::answer_invite(
            Some(&offer("224.0.0.1", "sendrecv")),
            &local(),
            &policy,
            peer()
        ),
        answer::InviteAnswer::Reject { status: 488, .. }
    ));
    assert!(
        answer::media_at_ack(None, None, &local(), &policy, peer()).is_err(),
        "an offerless INVITE needs the answer in the ACK"
    );
}

/// A case draft for `service` with no fields.
fn draft(service: &str) -> crate::handler::CaseDraft {
    crate::handler::CaseDraft {
        service: service.into(),
        intent: Some(service.into()),
        flow_name: "test".into(),
        flow_version: "1".into(),
        language: "en".into(),
        accessibility: Default::default(),
        transcript_excerpts: Vec::new(),
        update_of: None,
        fields: Vec::new(),
    }
}
