//! A whole call on the council's real flow in virtual time: `call-flows/council.yaml` loaded as
//! `serve` loads it (`FlowSet::load`, the handler made per call by `FlowCallHandler::for_call`),
//! the rendered prompts of `audio-prompts/`, behind Frontdoor's own user agent and call core
//! (`support/frontdoor_endpoint`), called by the scripted caller (`support/virtual_caller`) over
//! the emulated network (`support/vnet`).
//!
//! The caller speaks (a vowel stands for each utterance) and the scripted recogniser hears the
//! texts of a missed-bin report in order; the caller presses a key for the survey. The call
//! runs on a fixed wall clock inside opening hours (a Tuesday at 10:00 UTC), so the flow's
//! opening-hours and date checks give the same answer on every run.
//!
//! Checked: the call stores a missed-bin case and ends cleanly; one seed gives the same
//! event-level trace twice, on a clean and on an impaired link; another seed changes the SIP
//! tags, the Call-ID and the SSRCs but, on a clean link, not what the flow heard.

#[path = "support/frontdoor_endpoint.rs"]
mod frontdoor_endpoint;
#[path = "support/call_trace.rs"]
mod trace;
#[path = "support/virtual_caller.rs"]
mod virtual_caller;
#[path = "support/vnet.rs"]
mod vnet;
use trace::CallTrace;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use frontdoor::call::core::CallSettings;
use frontdoor::flow::{FlowCallHandler, FlowSet};
use frontdoor::handler::{CallEvent, CallHandler, CallInfo, HangupCause};
use frontdoor::prompts::library::PromptLibrary;
use frontdoor::sip::ua::TerminationCause;

use frontdoor_endpoint::{
    FrontdoorEndpoint, Services, frontdoor_rtp, frontdoor_sip, test_settings_with_speech,
};
use virtual_caller::{CallerAudio, CallerConfig, CallerScript, VirtualCaller};
use vnet::{LinkConfig, Pair, VirtualNetwork, WireKind};

/// The council's number (call-flows/routes.yaml routes it to the council flow).
const COUNCIL_NUMBER: &str = "01632960000";

/// Tuesday 8 December 2026, 10:00 UTC: inside opening hours, not a bank holiday.
const TUESDAY_TEN_AM_UNIX: u64 = 1_796_724_000;

/// What the caller says, in order, as the recogniser hears it: a missed bin, the postcode, its
/// confirmation, the house number, the bin type, and "nothing else".
const UTTERANCES: [&str; 6] = [
    "my bin was not collected",
    "R M seventeen six S L",
    "yes",
    "twelve",
    "the recycling bin",
    "no",
];

/// When the caller starts each utterance, after the answer: each just after the prompt that
/// asks for it has played (the prompts' rendered lengths plus the recogniser's scripted delay).
const SPEAKS_AT_MS: [u64; 6] = [25_000, 34_000, 38_000, 49_000, 62_000, 73_000];

/// When the caller presses 4 on the satisfaction survey, after the answer.
const SURVEY_KEY_AT_MS: u64 = 84_000;

fn caller_sip() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 2], 5060))
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `ms` of a sustained vowel at 8 kHz (a 140 Hz fundamental with harmonics falling off as 1/k,
/// 20 ms fades): periodic at a speaking pitch, so the endpointer takes it for speech.
fn vowel(ms: usize) -> Arc<[i16]> {
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

/// The caller: speaks each utterance, presses 4 for the survey, waits for Frontdoor's BYE.
fn council_caller() -> CallerScript {
    let mut script = CallerScript::new();
    for at in SPEAKS_AT_MS {
        script = script.audio_at(ms(at), CallerAudio::Samples(vowel(1_200)));
        // Silence again after the utterance.
        script = script.audio_at(ms(at + 1_200), CallerAudio::Silence);
    }
    script.keys_at(ms(SURVEY_KEY_AT_MS), "4", ms(100), ms(200))
}

/// Settings as serve has them for the council: the rendered prompts, a recogniser pool (its
/// jobs are answered by the script), a case store and a synthesiser (text prompts become
/// scripted clips).
fn council_settings() -> Arc<CallSettings> {
    let mut settings = test_settings_with_speech(Duration::from_secs(30));
    let prompts = PromptLibrary::load(&repo_path("audio-prompts"), &[])
        .unwrap_or_else(|e| panic!("audio-prompts: {e}"));
    match Arc::get_mut(&mut settings) {
        Some(s) => {
            s.prompts = prompts;
            s.synthesis = true;
        }
        None => panic!("the settings are not shared yet"),
    }
    settings
}

/// The council's flows, loaded and checked once per run as serve loads them.
fn council_flows() -> Arc<FlowSet> {
    let set = FlowSet::load(&repo_path("call-flows"), &repo_path("audio-prompts"))
        .unwrap_or_else(|d| panic!("call flows: {}", d.render_human()));
    Arc::new(set)
}

struct Finished {
    pair: Pair<VirtualCaller, FrontdoorEndpoint>,
    wall: Duration,
}

impl Finished {
    fn events(&self) -> Vec<CallEvent> {
        self.pair.b.heard_events()
    }
}

fn run_council_call(seed: u64, link: LinkConfig) -> Finished {
    let flows = council_flows();
    let settings = council_settings();
    let wall_start = Instant::now();
    let start = Instant::now();
    let caller = VirtualCaller::new(
        CallerConfig::new(caller_sip(), frontdoor_sip(), COUNCIL_NUMBER, seed),
        council_caller(),
        start,
    );
    let frontdoor = FrontdoorEndpoint::new(
        seed.wrapping_add(1_000),
        settings,
        Services::default(),
        Box::new(|_| Vec::new()),
        start,
    )
    .with_handler_factory(Box::new(move |info: &CallInfo| {
        Box::new(FlowCallHandler::for_call(&flows, info)) as Box<dyn CallHandler>
    }))
    .with_recognitions(UTTERANCES)
    .with_wall_origin(SystemTime::UNIX_EPOCH + Duration::from_secs(TUESDAY_TEN_AM_UNIX));
    let net = VirtualNetwork::new(seed.wrapping_add(2_000)).with_default_link(link);
    let mut pair = Pair::new(caller, frontdoor, net, start);
    let outcome = pair
        .run_until(Duration::from_secs(300), |p| {
            p.b.finished() && p.a.has_ended()
        })
        .unwrap_or_else(|e| panic!("the endpoints make progress: {e}"));
    let wall = wall_start.elapsed();
    assert!(
        matches!(outcome, vnet::RunOutcome::Condition(_)),
        "the call did not end: {outcome:?}; heard {:#?}; frontdoor trace {:#?}",
        pair.b.heard(),
        pair.b.record.trace
    );
    Finished { pair, wall }
}

/// What must repeat exactly for one seed.
fn call_trace(f: &Finished) -> CallTrace {
    CallTrace::of(&f.pair.sent, &f.pair.b.record.trace, heard_lines(f))
}

/// What the flow heard, with the time; recognised words in full (their `Debug` is redacted).
fn heard_lines(f: &Finished) -> Vec<(Duration, String)> {
    f.pair
        .b
        .heard()
        .into_iter()
        .map(|(at, e)| match &e {
            CallEvent::Heard { text, .. } => (at, format!("Heard {:?} {e:?}", text.expose())),
            _ => (at, format!("{e:?}")),
        })
        .collect()
}

/// The values of one header (by its long name, case-insensitively) in every SIP message sent.
fn header_values(f: &Finished, name: &str) -> BTreeSet<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    let mut values = BTreeSet::new();
    for r in &f.pair.sent {
        let Ok(text) = std::str::from_utf8(&r.bytes) else {
            continue;
        };
        for line in text.lines() {
            if line.to_ascii_lowercase().starts_with(&prefix) {
                values.insert(line[prefix.len()..].trim().to_string());
            }
        }
    }
    values
}

/// Every tag of every From and To header on the wire (RFC 3261 §19.3).
fn tags(f: &Finished) -> BTreeSet<String> {
    let mut tags = BTreeSet::new();
    for value in header_values(f, "from")
        .into_iter()
        .chain(header_values(f, "to"))
    {
        if let Some((_, tag)) = value.split_once("tag=") {
            tags.insert(tag.split(';').next().unwrap_or(tag).trim().to_string());
        }
    }
    tags
}

/// The SSRC of the first RTP packet sent from `from` (RFC 3550 §5.1).
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

fn caller_rtp() -> SocketAddr {
    SocketAddr::new(caller_sip().ip(), 20_000)
}

fn impaired() -> LinkConfig {
    LinkConfig::impaired(0.05, ms(30), 0.01)
}

/// Each run is a few minutes of call in well under a second of wall time: printed, not
/// asserted (speed is measured, and a timed assertion would fail on a busy machine).
fn report_speed(f: &Finished) {
    eprintln!(
        "{:?} of wall time for {:?} of virtual time",
        f.wall,
        f.pair.elapsed()
    );
}

#[test]
fn council_call_stores_a_missed_bin_case_and_ends_cleanly() {
    let f = run_council_call(11, LinkConfig::clean());
    report_speed(&f);
    let frontdoor = &f.pair.b.record;
    // Every utterance was recognised, in order.
    let heard: Vec<String> = f
        .events()
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::Heard { text, .. } => Some(text.expose().clone()),
            _ => None,
        })
        .collect();
    assert_eq!(heard, UTTERANCES, "{:#?}", frontdoor.trace);
    // One missed-bin case, stored after the bin type was heard, and its reference came back.
    let stored = frontdoor.traced("request StoreCase");
    assert_eq!(
        stored,
        frontdoor.traced("request StoreCase missed_bin"),
        "{:#?}",
        frontdoor.trace
    );
    assert_eq!(stored.len(), 1, "{:#?}", frontdoor.trace);
    assert!(
        f.events().contains(&CallEvent::CaseCreated {
            reference: "FD-1".into()
        }),
        "{:?}",
        f.events()
    );
    // The survey key was taken, then the goodbye played and Frontdoor hung up.
    let events = f.events();
    let key = events.iter().position(|e| *e == CallEvent::Dtmf('4'));
    assert!(key.is_some(), "{events:?}");
    assert_eq!(
        events.last(),
        Some(&CallEvent::Hangup(HangupCause::Completed)),
        "{events:?}"
    );
    let bye = frontdoor
        .sip_sent
        .iter()
        .filter(|r| r.is_request("BYE"))
        .count();
    assert_eq!(bye, 1, "{:#?}", frontdoor.trace);
    assert_eq!(
        f.pair.a.record.ended.map(|(_, cause)| cause),
        Some(TerminationCause::RemoteBye)
    );
    assert!(f.pair.b.finished());
    assert!(frontdoor.stored_record.is_some());
    // Prompts reached the caller; nothing was sent after the BYE.
    assert!(
        frontdoor.rtp_sent.len() > 1_000,
        "{}",
        frontdoor.rtp_sent.len()
    );
    let bye_at = frontdoor.ended_at.unwrap_or_default();
    assert_eq!(
        frontdoor.rtp_sent.iter().filter(|at| **at > bye_at).count(),
        0
    );
}

#[test]
fn council_call_same_seed_same_trace_on_a_clean_link() {
    let first = run_council_call(21, LinkConfig::clean());
    let again = run_council_call(21, LinkConfig::clean());
    report_speed(&first);
    report_speed(&again);
    let trace = call_trace(&first);
    assert!(trace.sip.len() >= 6, "{:?}", trace.sip);
    assert!(
        trace
            .core
            .iter()
            .any(|(_, l)| l == "request StoreCase missed_bin")
    );
    assert_eq!(trace.rtp_sent.len(), 2, "{:?}", trace.rtp_sent);
    assert_eq!(trace, call_trace(&again));
}

#[test]
fn council_call_same_seed_same_trace_on_an_impaired_link() {
    let first = run_council_call(31, impaired());
    let again = run_council_call(31, impaired());
    report_speed(&first);
    report_speed(&again);
    let trace = call_trace(&first);
    assert!(
        trace
            .core
            .iter()
            .any(|(_, l)| l == "request StoreCase missed_bin")
    );
    assert_eq!(trace, call_trace(&again));
}

#[test]
fn council_call_other_seed_other_tags_call_id_and_ssrcs_same_flow_events() {
    let first = run_council_call(41, LinkConfig::clean());
    let other = run_council_call(42, LinkConfig::clean());
    for from in [frontdoor_rtp(), caller_rtp()] {
        let (a, b) = (first_ssrc(&first, from), first_ssrc(&other, from));
        assert!(a.is_some() && a != b, "SSRC from {from}: {a:?} vs {b:?}");
    }
    let (a, b) = (tags(&first), tags(&other));
    assert!(a.len() >= 2, "{a:?}");
    assert!(a.is_disjoint(&b), "{a:?} vs {b:?}");
    let (a, b) = (
        header_values(&first, "call-id"),
        header_values(&other, "call-id"),
    );
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a.is_disjoint(&b), "{a:?} vs {b:?}");
    // The conversation itself does not depend on the seed.
    assert_eq!(heard_lines(&first), heard_lines(&other));
}
