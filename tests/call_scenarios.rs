//! Whole calls in virtual time: the scripted caller (`support/virtual_caller`) calls Frontdoor's
//! own side (`support/frontdoor_endpoint`: the user agent, the answer decisions and the call
//! core, with scripted services) over the emulated network (`support/vnet`). Every scenario is
//! seeded and runs in milliseconds of wall time.
//!
//! Covered: DTMF collection (`#` ends an entry, the inter-digit gap ends it, a lone 0 asks for
//! an advisor); no input (reprompt after the timeout, then the fallback and the hang-up);
//! barge-in by a key or by the caller's voice on an interruptible prompt, none on an
//! uninterruptible one; the caller hanging up mid-prompt, mid-recognition and while the case
//! is being stored (the case is still stored, nothing is sent to the dead call); a case store
//! failure reaching the handler; a REFER the caller's side refuses (405) leading to a bridge
//! attempt, and one it follows (202, NOTIFY 200) ending the call as transferred; a re-INVITE
//! hold during a prompt pausing it (no RTP, answered `recvonly`) and the resume continuing it;
//! the holding
//! phrase while a queued decode is slow, and the keypad fallback when the recogniser refuses
//! jobs; session-timer refreshes keeping a long call up; the caller going silent at the
//! network level ending the call by media timeout; determinism of a whole call per seed (its
//! trace) and its dependence on the seed (tags, SSRCs). Several run over an impaired link.

#[path = "support/frontdoor_endpoint.rs"]
mod frontdoor_endpoint;
#[path = "support/call_trace.rs"]
mod trace;
#[path = "support/virtual_caller.rs"]
mod virtual_caller;
#[path = "support/vnet.rs"]
mod vnet;
use trace::CallTrace;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use frontdoor::handler::{
    Accessibility, CallAction, CallEvent, CaseDraft, HangupCause, ListenSpec, PlayItem,
};
use frontdoor::sip::ua::TerminationCause;

use frontdoor_endpoint::{
    ADVISORS, FrontdoorEndpoint, RecognitionScript, Script, Services, StoreScript, frontdoor_sip,
    test_settings, test_settings_with_speech,
};
use std::collections::BTreeSet;
use virtual_caller::{CallerAudio, CallerConfig, CallerScript, Hangup, VirtualCaller};
use vnet::{LinkConfig, Pair, VirtualNetwork, WireKind};

/// A received frame this loud is prompt audio (silence decodes far below it).
const AUDIBLE_DBFS: f32 = -30.0;
const KEY_PRESS: Duration = Duration::from_millis(100);
const KEY_GAP: Duration = Duration::from_millis(200);

fn caller_sip() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 5060))
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn prompt(name: &str, barge_in: bool) -> CallAction {
    CallAction::Play {
        items: vec![PlayItem::Prompt {
            name: name.into(),
            lang: None,
        }],
        barge_in,
    }
}

/// Keys only: up to `max_digits`, `#` ends an entry.
fn keys(max_digits: usize, no_input: Duration, inter_digit: Duration) -> CallAction {
    CallAction::Listen(ListenSpec {
        no_input_timeout: no_input,
        max_digits,
        inter_digit_timeout: inter_digit,
        terminators: "#".into(),
        speech: false,
        ..ListenSpec::default()
    })
}

fn draft() -> CaseDraft {
    CaseDraft {
        service: "missed_bin".into(),
        intent: Some("missed_bin".into()),
        flow_name: "scenario".into(),
        flow_version: "test".into(),
        language: "en".into(),
        accessibility: Accessibility::default(),
        transcript_excerpts: Vec::new(),
        update_of: None,
        fields: Vec::new(),
    }
}

/// One scenario's set-up.
struct Scenario {
    seed: u64,
    link: LinkConfig,
    caller: CallerScript,
    services: Services,
    media_timeout: Duration,
    /// From this virtual time on, nothing from the caller reaches Frontdoor (the phone lost
    /// its network).
    caller_goes_dark_at: Option<Duration>,
    /// Whether speech `ask`s listen (a recogniser pool is configured).
    speech: bool,
    /// Frontdoor's session interval (RFC 4028), when not the default.
    session_expires: Option<u32>,
}

impl Scenario {
    fn new(seed: u64, caller: CallerScript) -> Self {
        Scenario {
            seed,
            link: LinkConfig::clean(),
            caller,
            services: Services::default(),
            media_timeout: Duration::from_secs(30),
            caller_goes_dark_at: None,
            speech: false,
            session_expires: None,
        }
    }

    fn link(mut self, link: LinkConfig) -> Self {
        self.link = link;
        self
    }

    fn services(mut self, services: Services) -> Self {
        self.services = services;
        self
    }

    fn media_timeout(mut self, timeout: Duration) -> Self {
        self.media_timeout = timeout;
        self
    }

    fn session_expires(mut self, secs: u32) -> Self {
        self.session_expires = Some(secs);
        self
    }

    fn with_speech(mut self) -> Self {
        self.speech = true;
        self
    }

    fn caller_goes_dark_at(mut self, at: Duration) -> Self {
        self.caller_goes_dark_at = Some(at);
        self
    }

    /// Runs the call until Frontdoor has finished it and the caller's side has ended too.
    fn run(self, script: Script) -> Finished {
        let wall_start = Instant::now();
        let start = Instant::now();
        let caller = VirtualCaller::new(
            CallerConfig::new(caller_sip(), frontdoor_sip(), "100", self.seed),
            self.caller,
            start,
        );
        let session_expires = self.session_expires;
        let frontdoor = FrontdoorEndpoint::with_ua_config(
            self.seed.wrapping_add(1_000),
            if self.speech {
                test_settings_with_speech(self.media_timeout)
            } else {
                test_settings(self.media_timeout)
            },
            self.services,
            script,
            start,
            |config| {
                if let Some(secs) = session_expires {
                    config.session_expires = secs;
                    config.min_se = 90;
                }
            },
        );
        let net = VirtualNetwork::new(self.seed.wrapping_add(2_000)).with_default_link(self.link);
        let mut pair = Pair::new(caller, frontdoor, net, start);
        if let Some(dark) = self.caller_goes_dark_at {
            pair.run_until(dark, |_| false)
                .unwrap_or_else(|e| panic!("the endpoints make progress: {e}"));
            let cut = LinkConfig {
                loss: 1.0,
                ..self.link
            };
            pair.net
                .set_link(caller_sip().ip(), frontdoor_sip().ip(), cut);
        }
        let outcome = pair
            .run_until(Duration::from_secs(300), |p| {
                p.b.finished() && p.a.has_ended()
            })
            .unwrap_or_else(|e| panic!("the endpoints make progress: {e}"));
        assert!(
            matches!(outcome, vnet::RunOutcome::Condition(_)),
            "the call did not end: {outcome:?}; frontdoor trace {:#?}",
            pair.b.record.trace
        );
        // Printed, not asserted: speed is measured (the binary's own total is the figure for
        // all scenarios together), and a timed assertion would fail on a busy machine.
        let wall = wall_start.elapsed();
        eprintln!(
            "{wall:?} of wall time for {:?} of virtual time",
            pair.elapsed()
        );
        Finished { pair }
    }
}

struct Finished {
    pair: Pair<VirtualCaller, FrontdoorEndpoint>,
}

impl Finished {
    fn heard(&self) -> Vec<(Duration, CallEvent)> {
        self.pair.b.heard()
    }

    fn events(&self) -> Vec<CallEvent> {
        self.pair.b.heard_events()
    }

    /// When the handler heard the first event `matches` accepts.
    fn heard_at(&self, matches: impl Fn(&CallEvent) -> bool) -> Option<Duration> {
        self.heard()
            .into_iter()
            .find(|(_, e)| matches(e))
            .map(|(at, _)| at)
    }

    /// When Frontdoor's call started (the ACK arrived).
    fn started_at(&self) -> Duration {
        self.pair.b.record.traced("call started")[0]
    }

    /// Prompt audio frames the caller heard.
    fn caller_heard_frames(&self) -> usize {
        self.pair.a.record.media.frames_above(AUDIBLE_DBFS)
    }

    fn caller_end(&self) -> Option<TerminationCause> {
        self.pair.a.record.ended.map(|(_, cause)| cause)
    }

    /// RTP Frontdoor sent after its user agent reported the dialog over.
    fn rtp_after_termination(&self) -> usize {
        let record = &self.pair.b.record;
        let Some(end) = record.terminated_at else {
            return 0;
        };
        record.rtp_sent.iter().filter(|at| **at > end).count()
    }
}

fn within(at: Duration, from: Duration, to: Duration) -> bool {
    (from..=to).contains(&at)
}

// ---------------------------------------------------------------------------------------------
// 1. DTMF digit collection
// ---------------------------------------------------------------------------------------------

/// Asks for an account number (up to 8 keys, `#` ends, 3 s inter-digit gap) and hangs up with
/// whatever came; a lone 0 means "an advisor, please" (the handler's rule, like the flows').
fn account_number_handler() -> Script {
    Box::new(|event| match event {
        CallEvent::Answered => vec![
            prompt("short", true),
            keys(8, Duration::from_secs(8), Duration::from_secs(3)),
        ],
        CallEvent::Digits(d) if d == "0" => vec![prompt("one_second", false)],
        CallEvent::Digits(_) | CallEvent::NoInput => vec![CallAction::Hangup],
        CallEvent::PromptFinished => Vec::new(),
        _ => Vec::new(),
    })
}

fn keyed(digits: &str) -> CallerScript {
    CallerScript::new().keys_at(Duration::from_secs(1), digits, KEY_PRESS, KEY_GAP)
}

#[test]
fn dtmf_hash_ends_the_entry_at_once() {
    let f = Scenario::new(11, keyed("123#")).run(account_number_handler());
    let events = f.events();
    assert!(
        events.contains(&CallEvent::Digits("123".into())),
        "{events:?}"
    );
    assert!(!events.contains(&CallEvent::NoInput), "{events:?}");
    // `#` is pressed 1.9 s after the answer; the entry ends as soon as it is seen, not 3 s
    // later.
    let at = f
        .heard_at(|e| matches!(e, CallEvent::Digits(_)))
        .unwrap_or_default();
    let answered = f.started_at();
    assert!(
        within(at, answered + ms(1_900), answered + ms(2_200)),
        "digits at {at:?}, answered at {answered:?}"
    );
    assert_eq!(f.caller_end(), Some(TerminationCause::RemoteBye));
    assert_eq!(f.rtp_after_termination(), 0);
}

#[test]
fn dtmf_inter_digit_gap_ends_the_entry() {
    let f = Scenario::new(12, keyed("45")).run(account_number_handler());
    let events = f.events();
    assert!(
        events.contains(&CallEvent::Digits("45".into())),
        "{events:?}"
    );
    // The second key goes down 1.3 s after the answer and up 100 ms later: the 3 s gap runs
    // from when it was seen.
    let at = f
        .heard_at(|e| matches!(e, CallEvent::Digits(_)))
        .unwrap_or_default();
    let answered = f.started_at();
    assert!(
        within(at, answered + ms(4_300), answered + ms(4_700)),
        "digits at {at:?}, answered at {answered:?}"
    );
    assert_eq!(f.caller_end(), Some(TerminationCause::RemoteBye));
}

#[test]
fn dtmf_lone_zero_is_an_entry_of_its_own() {
    let f = Scenario::new(13, keyed("0#")).run(Box::new({
        let mut handler = account_number_handler();
        let mut advisor_asked = false;
        move |event| {
            if *event == CallEvent::Digits("0".into()) {
                advisor_asked = true;
            }
            match event {
                CallEvent::PromptFinished if advisor_asked => vec![CallAction::Hangup],
                other => handler(other),
            }
        }
    }));
    let events = f.events();
    // `0#` is the entry "0" (the advisor request), and the handler's answer to it played.
    assert!(
        events.contains(&CallEvent::Digits("0".into())),
        "{events:?}"
    );
    let after_zero = events
        .iter()
        .skip_while(|e| **e != CallEvent::Digits("0".into()))
        .filter(|e| **e == CallEvent::PromptFinished)
        .count();
    assert_eq!(after_zero, 1, "{events:?}");
    // The 200 ms greeting ended before the first key: the caller heard it and the 1 s answer.
    let heard = f.caller_heard_frames();
    assert!(
        (55..=62).contains(&heard),
        "the caller heard {heard} frames"
    );
}

#[test]
fn dtmf_collection_survives_an_impaired_link() {
    let link = LinkConfig::impaired(0.03, ms(30), 0.01);
    let f = Scenario::new(14, keyed("4711#"))
        .link(link)
        .run(account_number_handler());
    let events = f.events();
    // RFC 4733 sends each event's end three times, so a lost packet costs no digit.
    assert!(
        events.contains(&CallEvent::Digits("4711".into())),
        "{events:?}"
    );
    assert_eq!(f.caller_end(), Some(TerminationCause::RemoteBye));
}

// ---------------------------------------------------------------------------------------------
// 2. No input
// ---------------------------------------------------------------------------------------------

/// Asks (200 ms) and listens 3 s; reprompts once; after the second silence plays the 1 s
/// fallback and hangs up when it has played.
fn reprompting_handler() -> Script {
    let mut silences = 0;
    Box::new(move |event| match event {
        CallEvent::Answered => vec![
            prompt("short", false),
            keys(1, Duration::from_secs(3), Duration::from_secs(3)),
        ],
        CallEvent::NoInput => {
            silences += 1;
            if silences == 1 {
                vec![
                    prompt("short", false),
                    keys(1, Duration::from_secs(3), Duration::from_secs(3)),
                ]
            } else {
                vec![prompt("one_second", false)]
            }
        }
        CallEvent::PromptFinished if silences >= 2 => vec![CallAction::Hangup],
        CallEvent::Dtmf(_) => vec![CallAction::Hangup],
        _ => Vec::new(),
    })
}

fn assert_reprompted_then_fell_back(f: &Finished) {
    let events = f.events();
    let expected = [
        CallEvent::Answered,
        CallEvent::PromptFinished,
        CallEvent::NoInput,
        CallEvent::PromptFinished,
        CallEvent::NoInput,
        CallEvent::PromptFinished,
        CallEvent::Hangup(HangupCause::Completed),
    ];
    assert_eq!(events, expected);
    // The no-input timer runs from the end of each prompt: 0.2 s + 3 s, twice.
    let answered = f.started_at();
    let silences: Vec<Duration> = f
        .heard()
        .into_iter()
        .filter(|(_, e)| *e == CallEvent::NoInput)
        .map(|(at, _)| at)
        .collect();
    assert!(
        within(silences[0], answered + ms(3_200), answered + ms(3_300)),
        "{silences:?} after {answered:?}"
    );
    assert!(
        within(
            silences[1],
            silences[0] + ms(3_200),
            silences[0] + ms(3_300)
        ),
        "{silences:?}"
    );
    assert_eq!(f.caller_end(), Some(TerminationCause::RemoteBye));
    assert_eq!(f.rtp_after_termination(), 0);
}

#[test]
fn no_input_reprompts_after_the_timeout_then_falls_back() {
    let f = Scenario::new(21, CallerScript::new()).run(reprompting_handler());
    assert_reprompted_then_fell_back(&f);
    // Prompt, reprompt and fallback: 1.4 s of audio, all of it heard on a clean link.
    let heard = f.caller_heard_frames();
    assert!(
        (68..=71).contains(&heard),
        "the caller heard {heard} frames"
    );
}

#[test]
fn no_input_timers_hold_on_an_impaired_link() {
    let link = LinkConfig::impaired(0.05, ms(30), 0.01);
    let f = Scenario::new(22, CallerScript::new())
        .link(link)
        .run(reprompting_handler());
    assert_reprompted_then_fell_back(&f);
}

// ---------------------------------------------------------------------------------------------
// 3. Barge-in
// ---------------------------------------------------------------------------------------------

/// Plays the 5 s prompt (interruptible or not) while listening for one key; hangs up on the
/// key once the prompt is over, or at once when it was cut.
fn five_second_menu(barge_in: bool) -> Script {
    let mut key = false;
    let mut finished = false;
    Box::new(move |event| match event {
        CallEvent::Answered => vec![
            prompt("long", barge_in),
            keys(1, Duration::from_secs(10), Duration::from_secs(3)),
        ],
        CallEvent::Dtmf(_) => {
            key = true;
            if barge_in || finished {
                vec![CallAction::Hangup]
            } else {
                Vec::new()
            }
        }
        CallEvent::PromptFinished => {
            finished = true;
            if key {
                vec![CallAction::Hangup]
            } else {
                Vec::new()
            }
        }
        CallEvent::NoInput => vec![CallAction::Hangup],
        _ => Vec::new(),
    })
}

#[test]
fn barge_in_a_key_stops_an_interruptible_prompt() {
    let f = Scenario::new(31, keyed("5")).run(five_second_menu(true));
    let events = f.events();
    assert_eq!(
        events,
        [
            CallEvent::Answered,
            CallEvent::Dtmf('5'),
            CallEvent::Hangup(HangupCause::Completed)
        ]
    );
    // About 1 s of the 5 s prompt reached the caller, not the rest.
    let heard = f.caller_heard_frames();
    assert!(
        (45..=65).contains(&heard),
        "the caller heard {heard} frames"
    );
    // The key was acted on within a few packets of being pressed (1 s after the answer).
    let at = f
        .heard_at(|e| matches!(e, CallEvent::Dtmf(_)))
        .unwrap_or_default();
    let answered = f.started_at();
    assert!(
        within(at, answered + ms(1_000), answered + ms(1_200)),
        "{at:?} after {answered:?}"
    );
}

#[test]
fn barge_in_none_during_an_uninterruptible_prompt() {
    let f = Scenario::new(32, keyed("5")).run(five_second_menu(false));
    let events = f.events();
    // The key is reported, but the prompt plays to its end.
    assert_eq!(
        events,
        [
            CallEvent::Answered,
            CallEvent::Dtmf('5'),
            CallEvent::PromptFinished,
            CallEvent::Hangup(HangupCause::Completed)
        ]
    );
    let heard = f.caller_heard_frames();
    assert!(
        (245..=251).contains(&heard),
        "the caller heard {heard} frames"
    );
}

#[test]
fn barge_in_by_key_on_an_impaired_link() {
    let link = LinkConfig::impaired(0.03, ms(30), 0.01);
    let f = Scenario::new(33, keyed("5"))
        .link(link)
        .run(five_second_menu(true));
    assert!(f.events().contains(&CallEvent::Dtmf('5')));
    assert!(!f.events().contains(&CallEvent::PromptFinished));
    let heard = f.caller_heard_frames();
    assert!(
        (35..=70).contains(&heard),
        "the caller heard {heard} frames"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. The caller hangs up
// ---------------------------------------------------------------------------------------------

#[test]
fn caller_hangs_up_mid_prompt_and_nothing_more_is_sent() {
    let caller = CallerScript::new().hangup(Hangup::AfterAnswer(Duration::from_secs(1)));
    let f = Scenario::new(41, caller).run(five_second_menu(true));
    assert_eq!(
        f.events(),
        [
            CallEvent::Answered,
            CallEvent::Hangup(HangupCause::CallerHungUp)
        ]
    );
    assert_eq!(f.caller_end(), Some(TerminationCause::LocalBye));
    assert_eq!(f.rtp_after_termination(), 0);
    let frontdoor = &f.pair.b.record;
    assert!(frontdoor.sip_sent.iter().any(|r| r.is_response(200, "BYE")));
    assert!(!frontdoor.sip_sent.iter().any(|r| r.is_request("BYE")));
}

/// Stores a case at once and plays the 5 s prompt while the store works; hangs up when told
/// how it went.
fn store_then_wait_handler() -> Script {
    Box::new(|event| match event {
        CallEvent::Answered => vec![CallAction::SaveCase(draft()), prompt("long", false)],
        CallEvent::CaseCreated { .. } => vec![prompt("short", false)],
        CallEvent::CaseFailed { .. } => vec![prompt("one_second", false)],
        CallEvent::PromptFinished => vec![CallAction::Hangup],
        _ => Vec::new(),
    })
}

#[test]
fn caller_hangs_up_while_the_case_is_stored_and_it_is_still_stored() {
    let caller = CallerScript::new().hangup(Hangup::AfterAnswer(Duration::from_secs(1)));
    let services = Services {
        store: StoreScript::Commits {
            reference: "FD-1".into(),
            after: Duration::from_secs(3),
        },
        ..Services::default()
    };
    let f = Scenario::new(42, caller)
        .services(services)
        .run(store_then_wait_handler());
    let frontdoor = &f.pair.b.record;
    let terminated = frontdoor.terminated_at.unwrap_or_default();
    let stored = frontdoor.traced("done CaseStored");
    assert_eq!(stored.len(), 1, "{:#?}", frontdoor.trace);
    // The store's answer came after the BYE, and the call was only finished then.
    assert!(stored[0] > terminated, "{stored:?} vs {terminated:?}");
    assert!(frontdoor.finished_at >= Some(stored[0]));
    let record = frontdoor
        .stored_record
        .as_ref()
        .unwrap_or_else(|| panic!("a call record for the store"));
    assert_eq!(record.case_references, ["FD-1"]);
    // The handler heard the hang-up, not a reference it could no longer read out.
    assert_eq!(
        f.events(),
        [
            CallEvent::Answered,
            CallEvent::Hangup(HangupCause::CallerHungUp)
        ]
    );
    assert_eq!(f.rtp_after_termination(), 0);
    assert!(frontdoor.traced("sip").is_empty(), "{:#?}", frontdoor.trace);
}

// ---------------------------------------------------------------------------------------------
// 5. Case store failure
// ---------------------------------------------------------------------------------------------

#[test]
fn case_store_failure_reaches_the_handler() {
    let services = Services {
        store: StoreScript::Fails {
            reason: "database unavailable".into(),
            after: ms(400),
        },
        ..Services::default()
    };
    let f = Scenario::new(51, CallerScript::new())
        .services(services)
        .run(Box::new(|event| match event {
            CallEvent::Answered => vec![CallAction::SaveCase(draft())],
            CallEvent::CaseFailed { .. } => vec![prompt("one_second", false)],
            CallEvent::PromptFinished => vec![CallAction::Hangup],
            _ => Vec::new(),
        }));
    let events = f.events();
    assert!(
        events.contains(&CallEvent::CaseFailed {
            reason: "database unavailable".into()
        }),
        "{events:?}"
    );
    let failed = f
        .heard_at(|e| matches!(e, CallEvent::CaseFailed { .. }))
        .unwrap_or_default();
    assert!(within(
        failed,
        f.started_at() + ms(400),
        f.started_at() + ms(420)
    ));
    let record = f.pair.b.record.stored_record.as_ref();
    assert!(record.is_some_and(|r| r.case_references.is_empty()));
    assert_eq!(f.caller_end(), Some(TerminationCause::RemoteBye));
}

// ---------------------------------------------------------------------------------------------
// 6. Transfer
// ---------------------------------------------------------------------------------------------

#[test]
fn refer_refused_by_the_callers_side_leads_to_a_bridge_attempt() {
    // The crate's user agent does not take REFER: it answers 405 (RFC 3261 §8.2.1), so the
    // call tries to bridge through an advisor leg instead. No advisor answers here: the leg
    // cannot be placed and the handler hears that the transfer failed, with the caller still
    // on the line.
    let f = Scenario::new(61, CallerScript::new()).run(Box::new(|event| match event {
        CallEvent::Answered => vec![CallAction::Transfer {
            queue: ADVISORS.into(),
            context: frontdoor::handler::TransferContext::Menu {
                service: "missed_bin".into(),
                intent: "advisor".into(),
            },
        }],
        CallEvent::TransferFailed { .. } => vec![prompt("short", false)],
        CallEvent::PromptFinished => vec![CallAction::Hangup],
        _ => Vec::new(),
    }));
    let caller = &f.pair.a.record;
    assert!(caller.sip_received.iter().any(|r| r.is_request("REFER")));
    assert!(caller.sip_sent.iter().any(|r| r.is_response(405, "REFER")));
    let frontdoor = &f.pair.b.record;
    assert!(
        frontdoor
            .sip_received
            .iter()
            .any(|r| r.is_response(405, "REFER"))
    );
    let opened = frontdoor.traced("request OpenLegPorts");
    let placed = frontdoor.traced(&format!("request PlaceLeg {ADVISORS}"));
    assert_eq!(
        (opened.len(), placed.len()),
        (1, 1),
        "{:#?}",
        frontdoor.trace
    );
    let failed = f.heard_at(|e| matches!(e, CallEvent::TransferFailed { .. }));
    assert!(failed.is_some_and(|at| at >= placed[0]), "{:?}", f.events());
    // The caller was never left: the handler played its apology and hung up itself.
    assert_eq!(
        f.events().last(),
        Some(&CallEvent::Hangup(HangupCause::Completed))
    );
    assert_eq!(f.caller_end(), Some(TerminationCause::RemoteBye));
    // The ports were opened for the leg and given back when it failed.
    assert_eq!(frontdoor.traced("done LegPorts true").len(), 1);
    assert_eq!(
        frontdoor.traced("request CloseLegPorts").len(),
        1,
        "{:#?}",
        frontdoor.trace
    );
}

// ---------------------------------------------------------------------------------------------
// 8. Media timeout
// ---------------------------------------------------------------------------------------------

#[test]
fn caller_going_silent_on_the_network_ends_the_call_by_media_timeout() {
    let f = Scenario::new(81, CallerScript::new())
        .media_timeout(Duration::from_secs(5))
        .caller_goes_dark_at(Duration::from_secs(2))
        .run(Box::new(|event| match event {
            CallEvent::Answered => vec![keys(1, Duration::from_secs(60), Duration::from_secs(3))],
            _ => Vec::new(),
        }));
    assert_eq!(
        f.events(),
        [
            CallEvent::Answered,
            CallEvent::Hangup(HangupCause::MediaTimeout)
        ]
    );
    // The last packet arrived at about 2 s; the BYE left 5 s later.
    let frontdoor = &f.pair.b.record;
    let bye = frontdoor
        .sip_sent
        .iter()
        .find(|r| r.is_request("BYE"))
        .map(|r| r.at)
        .unwrap_or_default();
    assert!(within(bye, ms(6_900), ms(7_200)), "BYE at {bye:?}");
    // The caller still hears the BYE (only its own direction is cut).
    assert_eq!(f.caller_end(), Some(TerminationCause::RemoteBye));
    let after_bye = frontdoor.rtp_sent.iter().filter(|at| **at > bye).count();
    assert_eq!(after_bye, 0);
}

// ---------------------------------------------------------------------------------------------
// 9. Determinism
// ---------------------------------------------------------------------------------------------

/// What must repeat exactly for one seed.
fn call_trace(f: &Finished) -> CallTrace {
    CallTrace::of(
        &f.pair.sent,
        &f.pair.b.record.trace,
        f.heard()
            .into_iter()
            .map(|(at, e)| (at, format!("{e:?}")))
            .collect(),
    )
}

/// Every tag of every From and To header on the wire (RFC 3261 §19.3).
fn tags(f: &Finished) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    for r in &f.pair.sent {
        let Ok(text) = std::str::from_utf8(&r.bytes) else {
            continue;
        };
        for line in text.lines() {
            let lower = line.to_ascii_lowercase();
            if !(lower.starts_with("from:") || lower.starts_with("to:")) {
                continue;
            }
            if let Some((_, tag)) = line.split_once("tag=") {
                tags.insert(tag.split(';').next().unwrap_or(tag).trim().to_string());
            }
        }
    }
    tags
}

/// The SSRC of the first RTP packet sent from `from`.
fn first_ssrc(f: &Finished, from: SocketAddr) -> Option<u32> {
    f.pair
        .sent
        .iter()
        .filter(|r| r.from == from && WireKind::of(&r.bytes) == WireKind::Rtp)
        .find_map(|r| {
            r.bytes
                .get(8..12)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        })
}

fn impaired_keyed_call(seed: u64) -> Finished {
    Scenario::new(seed, keyed("123#"))
        .link(LinkConfig::impaired(0.05, ms(30), 0.01))
        .run(account_number_handler())
}

#[test]
fn determinism_same_seed_same_trace_other_seed_other_tags_and_ssrcs() {
    let first = impaired_keyed_call(91);
    let again = impaired_keyed_call(91);
    let first_trace = call_trace(&first);
    assert!(first_trace.sip.len() >= 5, "{:?}", first_trace.sip);
    assert!(!first_trace.rtp_sent.is_empty());
    assert_eq!(first_trace, call_trace(&again));

    let other = impaired_keyed_call(92);
    assert!(other.events().contains(&CallEvent::Digits("123".into())));
    let ours: SocketAddr = frontdoor_endpoint::frontdoor_rtp();
    let theirs = SocketAddr::new(caller_sip().ip(), 20_000);
    for from in [ours, theirs] {
        let (a, b) = (first_ssrc(&first, from), first_ssrc(&other, from));
        assert!(a.is_some() && a != b, "SSRC from {from}: {a:?} vs {b:?}");
    }
    let (a, b) = (tags(&first), tags(&other));
    assert!(a.len() >= 2, "{a:?}");
    assert!(a.is_disjoint(&b), "{a:?} vs {b:?}");
}

// ---------------------------------------------------------------------------------------------
// Speech: barge-in by voice, hang-up mid-recognition, the holding phrase, keypad fallback
// ---------------------------------------------------------------------------------------------

/// `ms` of a sustained vowel at 8 kHz: a 140 Hz fundamental with eleven harmonics falling off
/// as 1/k (periodic at a speaking pitch, as the endpointer's barge-in check wants), peak about
/// −8 dBFS, with 20 ms fades.
fn vowel(ms: usize) -> std::sync::Arc<[i16]> {
    let n = ms * 8;
    let fade = 160.0;
    (0..n)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let wave: f32 = (1..=12)
                .map(|k| (2.0 * std::f32::consts::PI * 140.0 * k as f32 * t).sin() / k as f32)
                .sum();
            let edge = (i as f32 / fade).min((n - i) as f32 / fade).min(1.0);
            (wave / 3.0 * 0.4 * edge * 32767.0) as i16
        })
        .collect()
}

/// Speech and keys, 10 s to answer, 700 ms of silence ends an utterance.
fn speech_or_keys() -> CallAction {
    CallAction::Listen(ListenSpec {
        no_input_timeout: Duration::from_secs(10),
        end_of_speech: ms(700),
        max_utterance: Duration::from_secs(10),
        max_digits: 1,
        inter_digit_timeout: Duration::from_secs(3),
        terminators: String::new(),
        hints: Vec::new(),
        speech: true,
    })
}

/// The caller says something for 1.2 s, `after` the answer.
fn speaks(after: Duration) -> CallerScript {
    CallerScript::new().audio_at(after, CallerAudio::Samples(vowel(1_200)))
}

/// Asks over the 5 s prompt; hangs up once it heard an answer (or a key, or nothing).
fn spoken_menu(barge_in: bool) -> Script {
    Box::new(move |event| match event {
        CallEvent::Answered => vec![prompt("long", barge_in), speech_or_keys()],
        CallEvent::Heard { .. } | CallEvent::Dtmf(_) | CallEvent::NoInput => {
            vec![CallAction::Hangup]
        }
        CallEvent::SpeechUnavailable => vec![keys(1, Duration::from_secs(5), ms(3_000))],
        _ => Vec::new(),
    })
}

fn heard_text(f: &Finished) -> Option<String> {
    f.events().into_iter().find_map(|e| match e {
        CallEvent::Heard { text, .. } => Some(text.expose().clone()),
        _ => None,
    })
}

#[test]
fn barge_in_caller_speech_stops_an_interruptible_prompt() {
    let f = Scenario::new(34, speaks(Duration::from_secs(1)))
        .with_speech()
        .run(spoken_menu(true));
    let events = f.events();
    let answered = f.started_at();
    let started = f.heard_at(|e| *e == CallEvent::SpeechStarted);
    assert!(
        started.is_some_and(|at| within(at, answered + ms(1_000), answered + ms(1_300))),
        "{started:?} after {answered:?}: {events:?}"
    );
    assert!(!events.contains(&CallEvent::PromptFinished), "{events:?}");
    assert_eq!(heard_text(&f).as_deref(), Some("my bin was not collected"));
    // About 1 s of the prompt, then nothing while the caller spoke.
    let heard = f.caller_heard_frames();
    assert!(
        (45..=70).contains(&heard),
        "the caller heard {heard} frames"
    );
}

#[test]
fn barge_in_none_by_speech_during_an_uninterruptible_prompt() {
    let f = Scenario::new(35, speaks(Duration::from_secs(1)))
        .with_speech()
        .run(spoken_menu(false));
    let events = f.events();
    // The prompt is deaf to speech: it plays out, and what was said over it is not an answer.
    assert!(events.contains(&CallEvent::PromptFinished), "{events:?}");
    assert!(!events.contains(&CallEvent::SpeechStarted), "{events:?}");
    assert_eq!(heard_text(&f), None);
    let heard = f.caller_heard_frames();
    assert!(
        (245..=251).contains(&heard),
        "the caller heard {heard} frames"
    );
}

#[test]
fn caller_hangs_up_mid_recognition() {
    let services = Services {
        recognition: RecognitionScript {
            delay: Duration::from_secs(3),
            ..RecognitionScript::default()
        },
        ..Services::default()
    };
    // Speaks from 0.5 s to 1.7 s, hangs up at 2.8 s: the decode is still running.
    let caller = speaks(ms(500)).hangup(Hangup::AfterAnswer(ms(2_800)));
    let f = Scenario::new(43, caller)
        .with_speech()
        .services(services)
        .run(spoken_menu(true));
    let events = f.events();
    assert!(events.contains(&CallEvent::SpeechStarted), "{events:?}");
    assert_eq!(heard_text(&f), None, "{events:?}");
    assert_eq!(
        events.last(),
        Some(&CallEvent::Hangup(HangupCause::CallerHungUp))
    );
    let frontdoor = &f.pair.b.record;
    let asked = frontdoor.traced("request Recognise");
    let terminated = frontdoor.terminated_at.unwrap_or_default();
    assert!(
        asked.first().is_some_and(|at| *at < terminated),
        "{:#?}",
        frontdoor.trace
    );
    assert_eq!(f.rtp_after_termination(), 0);
    assert!(frontdoor.traced("sip").is_empty(), "{:#?}", frontdoor.trace);
}

#[test]
fn holding_phrase_plays_when_recognition_is_slow() {
    let services = Services {
        recognition: RecognitionScript {
            delay: Duration::from_secs(3),
            queued: true,
            ..RecognitionScript::default()
        },
        ..Services::default()
    };
    // No prompt: the caller answers at once, so anything they hear before the answer is
    // the holding phrase.
    let f = Scenario::new(71, speaks(ms(500)))
        .with_speech()
        .services(services)
        .run(Box::new(|event| match event {
            CallEvent::Answered => vec![speech_or_keys()],
            CallEvent::Heard { .. } | CallEvent::NoInput => vec![CallAction::Hangup],
            _ => Vec::new(),
        }));
    assert_eq!(heard_text(&f).as_deref(), Some("my bin was not collected"));
    let heard_at = f
        .heard_at(|e| matches!(e, CallEvent::Heard { .. }))
        .unwrap_or_default();
    let caller = &f.pair.a.record;
    let holding = caller
        .media
        .frames
        .iter()
        .filter(|fr| fr.dbfs > AUDIBLE_DBFS && fr.at < heard_at)
        .count();
    // The 800 ms holding phrase, whole.
    assert!(
        (38..=41).contains(&holding),
        "the caller heard {holding} frames"
    );
}

#[test]
fn keypad_fallback_when_the_recogniser_queue_is_past_its_limit() {
    let services = Services {
        recognition: RecognitionScript {
            refused: true,
            ..RecognitionScript::default()
        },
        ..Services::default()
    };
    let caller = speaks(ms(500)).keys_at(Duration::from_secs(4), "2", KEY_PRESS, KEY_GAP);
    let f = Scenario::new(72, caller)
        .with_speech()
        .services(services)
        .run(Box::new(|event| match event {
            CallEvent::Answered => vec![speech_or_keys()],
            CallEvent::SpeechUnavailable => vec![
                prompt("short", true),
                keys(1, Duration::from_secs(5), ms(3_000)),
            ],
            CallEvent::Heard { .. } | CallEvent::Dtmf(_) | CallEvent::NoInput => {
                vec![CallAction::Hangup]
            }
            _ => Vec::new(),
        }));
    let events = f.events();
    let unavailable = events
        .iter()
        .position(|e| *e == CallEvent::SpeechUnavailable);
    let key = events.iter().position(|e| *e == CallEvent::Dtmf('2'));
    assert!(unavailable.is_some() && key > unavailable, "{events:?}");
    assert_eq!(heard_text(&f), None);
}

// ---------------------------------------------------------------------------------------------
// Session timer
// ---------------------------------------------------------------------------------------------

#[test]
fn session_timer_refresh_keeps_a_long_call_up() {
    // Frontdoor is configured for a 90 s session interval (RFC 4028). Whichever side is the
    // refresher refreshes at half the interval (§10), so the wire carries a refresh about every
    // 45 s, each answered 200, and the call outlives the interval more than twice over.
    let caller = CallerScript::new().hangup(Hangup::AfterAnswer(Duration::from_secs(200)));
    let f = Scenario::new(82, caller)
        .session_expires(90)
        .run(Box::new(|event| match event {
            CallEvent::Answered => vec![keys(1, Duration::from_secs(900), ms(3_000))],
            _ => Vec::new(),
        }));
    let messages: Vec<(Duration, SocketAddr, String)> = f
        .pair
        .sent
        .iter()
        .filter(|r| matches!(WireKind::of(&r.bytes), WireKind::Sip(_)))
        .map(|r| (r.at, r.from, String::from_utf8_lossy(&r.bytes).to_string()))
        .collect();
    let ok_to_invite = messages
        .iter()
        .find(|(_, from, t)| {
            *from == frontdoor_sip()
                && t.starts_with("SIP/2.0 200")
                && header(t, "CSeq").is_some_and(|c| c.ends_with("INVITE"))
        })
        .map(|(_, _, t)| t.as_str())
        .unwrap_or_default();
    assert!(
        header(ok_to_invite, "Session-Expires").is_some_and(|v| v.starts_with("90;")),
        "{ok_to_invite}"
    );
    let refreshes: Vec<(Duration, &str)> = messages
        .iter()
        .filter(|(_, _, t)| {
            t.starts_with("UPDATE ")
                || t.starts_with("INVITE ") && header(t, "To").is_some_and(|v| v.contains("tag="))
        })
        .map(|(at, _, t)| (*at, header(t, "CSeq").unwrap_or_default()))
        .collect();
    assert!(refreshes.len() >= 4, "{refreshes:?}");
    assert!(
        within(refreshes[0].0, ms(44_000), ms(46_000)),
        "{refreshes:?}"
    );
    for pair in refreshes.windows(2) {
        assert!(pair[1].0 - pair[0].0 <= ms(46_000), "{refreshes:?}");
    }
    for (_, cseq) in &refreshes {
        let answered = messages
            .iter()
            .any(|(_, _, t)| t.starts_with("SIP/2.0 200") && header(t, "CSeq") == Some(*cseq));
        assert!(answered, "refresh {cseq} not answered: {refreshes:?}");
    }
    // Only the refresher the 200 named refreshes, and each refresh names its sender again
    // (RFC 4028 §7.4: `refresher=uac`), so the role never passes to the other side.
    let frontdoor_refreshes =
        header(ok_to_invite, "Session-Expires").is_some_and(|v| v.ends_with("refresher=uas"));
    for (_, from, t) in messages.iter().filter(|(_, _, t)| {
        t.starts_with("UPDATE ")
            || t.starts_with("INVITE ") && header(t, "To").is_some_and(|v| v.contains("tag="))
    }) {
        assert_eq!(
            *from == frontdoor_sip(),
            frontdoor_refreshes,
            "a refresh from the side that is not the refresher: {t}"
        );
        assert!(
            header(t, "Session-Expires").is_some_and(|v| v.ends_with("refresher=uac")),
            "{t}"
        );
    }
    // The call lasted its 200 s and ended with the caller's BYE, not by the timer.
    assert_eq!(
        f.events().last(),
        Some(&CallEvent::Hangup(HangupCause::CallerHungUp))
    );
    assert_eq!(f.caller_end(), Some(TerminationCause::LocalBye));
}

// ---------------------------------------------------------------------------------------------
// REFER accepted
// ---------------------------------------------------------------------------------------------

/// The value of the first header named `name` (case-insensitive) in a SIP message's text.
fn header<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The URI inside `<...>` of a header value (or the value itself).
fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    }
}

#[test]
fn refer_accepted_ends_the_call_as_transferred() {
    let start = Instant::now();
    // A phone that follows a REFER (RFC 3515): it answers 202 and reports the transfer's
    // outcome with one NOTIFY whose sipfrag is `SIP/2.0 200 OK` (§2.4.4, §2.4.5), the
    // subscription terminated.
    let mut config = CallerConfig::new(caller_sip(), frontdoor_sip(), "100", 62);
    config.follows_refer = true;
    let caller = VirtualCaller::new(config, CallerScript::new(), start);
    let frontdoor = FrontdoorEndpoint::new(
        1_062,
        test_settings(Duration::from_secs(30)),
        Services::default(),
        Box::new(|event| match event {
            CallEvent::Answered => vec![CallAction::Transfer {
                queue: ADVISORS.into(),
                context: frontdoor::handler::TransferContext::Menu {
                    service: "missed_bin".into(),
                    intent: "advisor".into(),
                },
            }],
            _ => Vec::new(),
        }),
        start,
    );
    let net = VirtualNetwork::new(2_062);
    let mut pair = Pair::new(caller, frontdoor, net, start);
    let outcome = pair
        .run_until(Duration::from_secs(120), |p| {
            p.b.finished() && p.a.has_ended()
        })
        .unwrap_or_else(|e| panic!("the endpoints make progress: {e}"));
    assert!(
        matches!(outcome, vnet::RunOutcome::Condition(_)),
        "{outcome:?}: {:#?}",
        pair.b.record.trace
    );
    assert_eq!(pair.a.refers_followed(), 1);
    let frontdoor = &pair.b.record;
    assert!(
        frontdoor
            .sip_received
            .iter()
            .any(|r| r.is_response(202, "REFER"))
    );
    assert!(
        frontdoor
            .sip_sent
            .iter()
            .any(|r| r.is_response(200, "NOTIFY"))
    );
    // Once the NOTIFY says the caller reached the advisor, Frontdoor leaves the dialog.
    let bye = frontdoor
        .sip_sent
        .iter()
        .find(|r| r.is_request("BYE"))
        .map(|r| r.at);
    let notified_at = pair
        .a
        .record
        .sip_sent
        .iter()
        .find(|r| r.is_request("NOTIFY"))
        .map(|r| r.at);
    assert!(bye > notified_at, "{bye:?} {notified_at:?}");
    assert_eq!(
        pair.b.heard_events().last(),
        Some(&CallEvent::Hangup(HangupCause::Transferred))
    );
    assert!(frontdoor.traced("request OpenLegPorts").is_empty());
    assert_eq!(
        pair.a.record.ended.map(|(_, c)| c),
        Some(TerminationCause::RemoteBye)
    );
}

// ---------------------------------------------------------------------------------------------
// Hold by re-INVITE
// ---------------------------------------------------------------------------------------------

/// A caller whose phone puts the call on hold and takes it off again by re-INVITE (RFC 3264
/// §8.4: `sendonly`, then `sendrecv`). The crate's user agent places no re-INVITE, so this
/// writes them (and their ACKs) itself, in the dialog the scripted caller set up; everything
/// else goes to the scripted caller.
struct HoldingCaller {
    inner: VirtualCaller,
    /// When to send a re-offer with this direction, since the start, in order.
    reoffers: Vec<(Duration, &'static str)>,
    /// From, To, Call-ID and Frontdoor's Contact, from the 200 to the INVITE.
    dialog: Option<(String, String, String, String)>,
    sent: u32,
    out: std::collections::VecDeque<vnet::Datagram>,
    start: Instant,
    /// When each re-offer's 200 arrived (the hold or resume took effect).
    answered: Vec<(Duration, String)>,
}

/// CSeq numbers of our own re-INVITEs: far above the user agent's, so they stay in order.
const REOFFER_CSEQ: u32 = 2_000_000_000;

impl HoldingCaller {
    fn reoffer(&mut self, direction: &str) {
        let Some((from, to, call_id, contact)) = self.dialog.clone() else {
            return;
        };
        self.sent += 1;
        let ours = caller_sip();
        let ip = ours.ip();
        let sdp = format!(
            "v=0\r\no=- 1 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na={direction}\r\n",
            version = 1 + self.sent,
        );
        let invite = format!(
            "INVITE {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {ours};branch=z9hG4bK-reoffer-{n}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {seq} INVITE\r\nContact: <sip:frontdoor@{ours}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            n = self.sent,
            seq = REOFFER_CSEQ + self.sent,
            len = sdp.len(),
        );
        self.out.push_back(vnet::Datagram {
            from: ours,
            to: frontdoor_sip(),
            bytes: invite.into_bytes(),
        });
    }

    /// The 2xx to one of our re-INVITEs (or its retransmission): ACK it (RFC 3261 §13.2.2.4).
    fn ack(&mut self, now: Instant, text: &str, seq: u32) {
        let Some((from, to, call_id, contact)) = self.dialog.clone() else {
            return;
        };
        let n = seq - REOFFER_CSEQ;
        if self.answered.len() < n as usize {
            let direction = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("a=")
                        .filter(|d| d.ends_with("only") || *d == "inactive" || *d == "sendrecv")
                })
                .unwrap_or("sendrecv")
                .to_string();
            self.answered.push((now - self.start, direction));
        }
        let ours = caller_sip();
        let ack = format!(
            "ACK {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {ours};branch=z9hG4bK-reoffer-ack-{n}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {seq} ACK\r\nContent-Length: 0\r\n\r\n"
        );
        self.out.push_back(vnet::Datagram {
            from: ours,
            to: frontdoor_sip(),
            bytes: ack.into_bytes(),
        });
    }
}

impl vnet::VirtualEndpoint for HoldingCaller {
    fn owns(&self, addr: SocketAddr) -> bool {
        self.inner.owns(addr)
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if to == caller_sip() {
            let text = String::from_utf8_lossy(bytes).to_string();
            let cseq = header(&text, "CSeq").unwrap_or_default().to_string();
            let seq: u32 = cseq
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if text.starts_with("SIP/2.0 200") && cseq.ends_with("INVITE") {
                if seq > REOFFER_CSEQ {
                    self.ack(now, &text, seq);
                    return;
                }
                if self.dialog.is_none() {
                    self.dialog = (|| {
                        Some((
                            header(&text, "From")?.to_string(),
                            header(&text, "To")?.to_string(),
                            header(&text, "Call-ID")?.to_string(),
                            uri_of(header(&text, "Contact")?).to_string(),
                        ))
                    })();
                }
            } else if text.starts_with("SIP/2.0 ") && seq > REOFFER_CSEQ {
                // 100 Trying to our re-INVITE: nothing for the user agent.
                return;
            }
        }
        self.inner.handle_datagram(now, from, to, bytes);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<vnet::Datagram> {
        self.out
            .pop_front()
            .or_else(|| self.inner.poll_transmit(now))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let next = self.reoffers.first().map(|(at, _)| self.start + *at);
        [self.inner.poll_timeout(), next]
            .into_iter()
            .flatten()
            .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        while self
            .reoffers
            .first()
            .is_some_and(|(at, _)| self.start + *at <= now)
        {
            let (_, direction) = self.reoffers.remove(0);
            self.reoffer(direction);
        }
        self.inner.handle_timeout(now);
    }
}

#[test]
fn reinvite_hold_during_a_prompt_pauses_it_and_resume_continues_it() {
    let start = Instant::now();
    let caller = HoldingCaller {
        inner: VirtualCaller::new(
            CallerConfig::new(caller_sip(), frontdoor_sip(), "100", 83),
            CallerScript::new(),
            start,
        ),
        reoffers: vec![
            (Duration::from_secs(1), "sendonly"),
            (Duration::from_secs(4), "sendrecv"),
        ],
        dialog: None,
        sent: 0,
        out: std::collections::VecDeque::new(),
        start,
        answered: Vec::new(),
    };
    let frontdoor = FrontdoorEndpoint::new(
        1_083,
        test_settings(Duration::from_secs(30)),
        Services::default(),
        Box::new(|event| match event {
            CallEvent::Answered => vec![prompt("long", false)],
            CallEvent::PromptFinished => vec![CallAction::Hangup],
            _ => Vec::new(),
        }),
        start,
    );
    let mut pair = Pair::new(caller, frontdoor, VirtualNetwork::new(2_083), start);
    let outcome = pair
        .run_until(Duration::from_secs(120), |p| {
            p.b.finished() && p.a.inner.has_ended()
        })
        .unwrap_or_else(|e| panic!("the endpoints make progress: {e}"));
    assert!(
        matches!(outcome, vnet::RunOutcome::Condition(_)),
        "{outcome:?}: {:#?}",
        pair.b.record.trace
    );
    let answered = pair.a.answered.clone();
    assert_eq!(
        answered.len(),
        2,
        "{answered:?}: {:#?}",
        pair.b.record.trace
    );
    // We answered the hold with recvonly and the resume with sendrecv (RFC 3264 §6.1).
    assert_eq!(answered[0].1, "recvonly", "{answered:?}");
    assert_eq!(answered[1].1, "sendrecv", "{answered:?}");
    let (held, resumed) = (answered[0].0, answered[1].0);
    let frontdoor = &pair.b.record;
    let rtp_while_held = frontdoor
        .rtp_sent
        .iter()
        .filter(|at| **at > held && **at < resumed - ms(20))
        .count();
    assert_eq!(rtp_while_held, 0, "held {held:?}, resumed {resumed:?}");
    // The prompt paused rather than ran on: the caller heard all of it, and it finished about
    // 3 s (the hold) later than it would have.
    let heard = pair.a.inner.record.media.frames_above(AUDIBLE_DBFS);
    assert!(
        (245..=251).contains(&heard),
        "the caller heard {heard} frames"
    );
    let finished = pair
        .b
        .heard()
        .into_iter()
        .find(|(_, e)| *e == CallEvent::PromptFinished)
        .map(|(at, _)| at)
        .unwrap_or_default();
    assert!(
        within(finished, ms(7_900), ms(8_200)),
        "prompt finished at {finished:?}"
    );
    assert_eq!(
        pair.b.heard_events().last(),
        Some(&CallEvent::Hangup(HangupCause::Completed))
    );
    assert_eq!(
        pair.a.inner.record.ended.map(|(_, c)| c),
        Some(TerminationCause::RemoteBye)
    );
}
