//! What the live case tests (`cases_sigkill`, `cases_store_stall`) share: a webhook receiver
//! that verifies signatures and de-duplicates by idempotency key as a CRM would, sipp callers on
//! the council flow's keypad path to a case, the stored cases as `frontdoor records export`
//! shows them, and the judgement of which reference a caller heard.
//!
//! Unlike `support/`, this module uses the `frontdoor` library, on purpose and only for two
//! things: the webhook signature check, and rendering each stored reference's read-back with
//! the server's own synthesiser path, so that what a caller heard can be matched against it.
//!
//! `CASES_DEBUG_WAV_DIR=DIR` writes what each call heard there as 8 kHz WAVs.
//!
//! Not every test binary uses every helper, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use frontdoor::crm::verify_signature;
use frontdoor::prompts::{EspeakSynthesizer, SpeechRate, Synthesizer, Voice};

use crate::support::audio::{best_match_in, voiced_duration};
use crate::support::demo::{prompt, repo_root};
use crate::support::g711::Law;
use crate::support::rtp::{RtpStream, RtpStreamBuilder};
use crate::support::server::{ServerGuard, ServerOptions};
use crate::support::sipp::{Scenario, Sipp, SippRun};
use crate::support::tempdir::TempDir;

/// The council's number in `call-flows/routes.yaml`.
pub const COUNCIL_NUMBER: &str = "01632960000";
/// Shared secret of the test webhook.
pub const SECRET: &str = "cases-live-test-secret";
/// The read-back of `read_reference` in `call-flows/council.yaml` (checked to stay in sync).
pub const READ_BACK_TEMPLATE: &str = "Thank you. Your reference is {case.ref}.";
/// The flow's language (`languages: [en]`): the server picks the espeak-ng voice from it.
const FLOW_LANGUAGE: &str = "en";
/// How long each caller stays on the line after the answer (read-back and hint end about 24 s
/// in on an idle machine).
pub const CALL_HOLD: Duration = Duration::from_secs(30);
/// NCC at which the hint's opening counts as heard (G.711 keeps a played prompt above 0.95).
const HINT_HEARD: f64 = 0.85;
/// NCC at which a rendered read-back matches what a caller heard.
const READ_BACK_MATCH: f64 = 0.9;

/// What the receiver accepted, as a CRM would store it.
#[derive(Default)]
pub struct Receiver {
    /// Events applied once each, in arrival order: (reference, sequence, type).
    accepted: Mutex<Vec<(String, i64, String)>>,
    seen_keys: Mutex<HashSet<String>>,
    /// When each event was applied.
    arrivals: Mutex<Vec<Instant>>,
    /// Requests repeating a key already applied (answered 200, not applied again).
    pub duplicates: AtomicUsize,
    /// Requests with a bad signature, body or key.
    pub bad_requests: AtomicUsize,
}

impl Receiver {
    /// Events applied, in arrival order: (reference, sequence, type).
    pub fn accepted(&self) -> Vec<(String, i64, String)> {
        self.accepted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Each case's applied sequences, in arrival order.
    pub fn per_case(&self) -> BTreeMap<String, Vec<i64>> {
        let mut per_case: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (reference, sequence, _) in self.accepted() {
            per_case.entry(reference).or_default().push(sequence);
        }
        per_case
    }

    /// When the first event applied at or after `t` arrived.
    pub fn first_arrival_after(&self, t: Instant) -> Option<Instant> {
        self.arrivals
            .lock()
            .ok()
            .and_then(|a| a.iter().copied().find(|&at| at >= t))
    }
}

async fn hook(State(rx): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if !verify_signature(SECRET.as_bytes(), &body, &header("x-frontdoor-signature")) {
        rx.bad_requests.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        rx.bad_requests.fetch_add(1, Ordering::SeqCst);
        return StatusCode::BAD_REQUEST;
    };
    let key = header("idempotency-key");
    let reference = v["reference"].as_str().unwrap_or_default().to_string();
    let sequence = v["sequence"].as_i64().unwrap_or(-1);
    if key.is_empty() || key != format!("{reference}/{sequence}") {
        rx.bad_requests.fetch_add(1, Ordering::SeqCst);
        return StatusCode::BAD_REQUEST;
    }
    let fresh = rx
        .seen_keys
        .lock()
        .map(|mut k| k.insert(key))
        .unwrap_or(false);
    if !fresh {
        rx.duplicates.fetch_add(1, Ordering::SeqCst);
        return StatusCode::OK;
    }
    let kind = v["type"].as_str().unwrap_or_default().to_string();
    if let Ok(mut a) = rx.accepted.lock() {
        a.push((reference, sequence, kind));
    }
    if let Ok(mut a) = rx.arrivals.lock() {
        a.push(Instant::now());
    }
    StatusCode::OK
}

/// The receiver on its own runtime for the whole test (it outlives server restarts).
pub struct ReceiverServer {
    pub addr: SocketAddr,
    pub state: Arc<Receiver>,
    _runtime: tokio::runtime::Runtime,
}

/// Starts the receiver on a free port of 127.0.0.1.
pub fn start_receiver() -> ReceiverServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("receiver runtime");
    let state = Arc::new(Receiver::default());
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind receiver");
    let addr = listener.local_addr().expect("receiver address");
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state.clone());
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    ReceiverServer {
        addr,
        state,
        _runtime: runtime,
    }
}

/// `frontdoor.yaml` lines that deliver cases to `receiver` (1 s request timeout, so a restarted
/// server retries what a killed one had in flight after a short lease).
pub fn webhook_config(receiver: &ReceiverServer) -> String {
    format!(
        "  webhook:\n    url: http://{}/hook\n    secret: {SECRET}\n    timeout_secs: 1\n",
        receiver.addr
    )
}

/// Starts the server on the repo's council flow and prompts with `config_yaml`. Every call
/// comes from sipp on 127.0.0.1 and the tests fill `max_calls` with them, so that one source
/// is given the whole call cap (the default share keeps a fifth for other sources).
pub fn start_council_server(config_yaml: String, max_calls: u32) -> ServerGuard {
    let config_yaml = format!("{config_yaml}\nsip_limits:\n  max_calls_per_source_percent: 100\n");
    let council =
        std::fs::read_to_string(repo_root().join("call-flows/council.yaml")).expect("council.yaml");
    assert!(
        council.contains(READ_BACK_TEMPLATE),
        "read_reference in council.yaml no longer says {READ_BACK_TEMPLATE:?}: update this test"
    );
    ServerGuard::start(ServerOptions {
        config_yaml: Some(config_yaml),
        flows_dir: Some(repo_root().join("call-flows")),
        prompts_dir: Some(repo_root().join("audio-prompts")),
        args: vec!["--max-calls".into(), max_calls.to_string()],
        rtp_ports: u16::try_from(max_calls * 4 + 16).unwrap_or(256),
        ready_within: Duration::from_secs(30),
        ..ServerOptions::default()
    })
    .expect("frontdoor serve starts with the council flow")
}

/// Writes `caller.pcap` into `dir`: what every caller sends. Silence (as a phone without VAD
/// sends it), the keys of the discount path once the privacy notice (about 10.7 s, not
/// barge-in-able) is over — 1 money, 1 council tax, 3 a change, 2 a discount, 1 single person —
/// then the account number 12345678; each key barges into the menu prompt playing. Returns when
/// the last key has been sent, counted from the start of the stream.
pub fn write_caller_pcap(dir: &TempDir) -> Duration {
    let mut b = RtpStreamBuilder::new(Law::MuLaw, 101);
    b.silence(11_400);
    for key in ['1', '1', '3', '2', '1'] {
        b.dtmf(key, 100).silence(350);
    }
    // Exactly the 8 digits the node takes (`digits: {max: 8, terminator: "#"}`): the node
    // completes on the 8th, so a `#` after it would be a key pressed during the read-back, and
    // the runtime currently stops the read-back on it and the flow never leaves
    // `read_reference` (reported; not what these tests are about).
    for digit in "12345678".chars() {
        b.dtmf(digit, 100).silence(100);
    }
    let last_key = b.duration();
    let remaining = CALL_HOLD.saturating_sub(b.duration()) + Duration::from_secs(1);
    b.silence(u32::try_from(remaining.as_millis()).unwrap_or(10_000));
    let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 6000);
    b.to_pcap(any, any)
        .write_to(&dir.join("caller.pcap"))
        .expect("caller.pcap");
    last_key
}

/// `calls` sipp callers, one starting every `interval`, playing `dir/caller.pcap`.
pub fn start_callers(
    server: &ServerGuard,
    dir: &TempDir,
    calls: u32,
    interval: Duration,
) -> SippRun {
    Sipp::uac(
        Scenario::Named("uac_prompt_dtmf.xml".into()),
        server.sip_addr(),
    )
    .service(COUNCIL_NUMBER)
    .calls(calls)
    .concurrent(calls)
    .rate(
        1,
        u32::try_from(interval.as_millis()).unwrap_or(1000).max(1),
    )
    .pause(CALL_HOLD)
    .stage("caller.pcap", &dir.join("caller.pcap"))
    .trace_messages(false)
    .timeout(Duration::from_secs(55))
    .spawn()
    .expect("sipp starts")
}

/// `frontdoor records --data DIR export`: the stored cases' references and versions.
pub fn stored_cases(server: &ServerGuard) -> BTreeMap<String, i64> {
    let export = server.export_records();
    export["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["reference"].as_str()?.to_string(), c["version"].as_i64()?)))
        .collect()
}

/// A call that heard a complete read-back, and whose.
#[derive(Debug, Clone)]
pub struct HeardReadBack {
    /// The server stream (address, port and SSRC).
    pub stream: String,
    /// The reference the read-back matched, if any.
    pub reference: Option<String>,
    /// NCC of the best and the second-best stored reference.
    pub ncc: f64,
    pub runner_up: f64,
    /// Seconds of the matched read-back's voice present, and of its voice in all.
    pub matched_seconds: f64,
    pub voiced_seconds: f64,
    /// When the read-back's first sample was sent (capture time, since the Unix epoch).
    pub started_at: Duration,
}

/// Which calls heard a complete read-back, and of which stored reference.
///
/// A call heard a complete read-back when the `reference_repeat_hint` prompt started after it:
/// the read-back and the hint are one play action, queued back to back, so the hint starting
/// means the read-back finished. That decision does not consult the store. The read-back is then
/// matched against each of `references`, rendered with the server's synthesiser, at the place
/// where the hint says it ended (±0.25 s). `reference` is `None` when none matches with NCC
/// ≥ 0.9: the caller heard a reference the store does not hold.
pub fn heard_read_backs(streams: &[RtpStream], references: &[String]) -> Vec<HeardReadBack> {
    let hint = prompt("reference_repeat_hint");
    let voice_start = hint
        .iter()
        .position(|s| s.unsigned_abs() > 500)
        .unwrap_or(0);
    // The hint's first 0.8 s of voice: enough to be unmistakable, short enough that a call killed
    // just after its read-back still counts.
    let head = &hint[voice_start..(voice_start + 6_400).min(hint.len())];
    let synth = EspeakSynthesizer::new();
    let voice = Voice::espeak_for_language(FLOW_LANGUAGE);
    let renders: Vec<(String, Vec<i16>)> = references
        .iter()
        .map(|reference| {
            let text = READ_BACK_TEMPLATE.replace("{case.ref}", reference);
            let clip = synth
                .synthesize(&text, &voice, SpeechRate::Normal)
                .unwrap_or_else(|e| panic!("espeak-ng renders {text:?}: {e}"));
            (reference.clone(), clip.to_vec())
        })
        .collect();
    // The read-back cannot start before the privacy notice and the keys are over.
    let from = 14 * 8000;
    let mut heard = Vec::new();
    for stream in streams {
        let decoded = stream.decode_audio();
        let audio = decoded.samples;
        if let Ok(d) = std::env::var("CASES_DEBUG_WAV_DIR") {
            let _ = crate::support::audio::write_wav(
                &std::path::Path::new(&d).join(format!(
                    "{}-{:08x}.wav",
                    stream.src.port(),
                    stream.ssrc
                )),
                &audio,
                8000,
            );
        }
        let Some(hint_match) = best_match_in(&audio, head, from, audio.len()) else {
            continue;
        };
        if hint_match.ncc < HINT_HEARD {
            eprintln!(
                "{}→{} ssrc {:08x}: no read-back heard (hint opening best NCC {:.3}, {:.1} s of audio)",
                stream.src,
                stream.dst,
                stream.ssrc,
                hint_match.ncc,
                audio.len() as f64 / 8000.0
            );
            continue;
        }
        let hint_at = hint_match.lag.saturating_sub(voice_start);
        let mut scores: Vec<(f64, &str, f64, f64, usize)> = renders
            .iter()
            .filter_map(|(reference, clip)| {
                let expected = hint_at.checked_sub(clip.len())?;
                let m =
                    best_match_in(&audio, clip, expected.saturating_sub(2000), expected + 2000)?;
                Some((
                    m.ncc,
                    reference.as_str(),
                    m.matched_seconds,
                    voiced_duration(clip),
                    m.lag,
                ))
            })
            .collect();
        scores.sort_by(|a, b| b.0.total_cmp(&a.0));
        let best = scores.first().copied().unwrap_or((0.0, "", 0.0, 0.0, 0));
        heard.push(HeardReadBack {
            stream: format!("{}→{} ssrc {:08x}", stream.src, stream.dst, stream.ssrc),
            reference: (best.0 >= READ_BACK_MATCH).then(|| best.1.to_string()),
            ncc: best.0,
            runner_up: scores.get(1).map_or(0.0, |s| s.0),
            matched_seconds: best.2,
            voiced_seconds: best.3,
            // The server sends on a 20 ms clock, so sample n left n/8000 s after the first.
            started_at: decoded.start + Duration::from_secs_f64(best.4 as f64 / 8000.0),
        });
    }
    heard
}

/// Asserts that each heard read-back matched exactly one stored reference and no reference was
/// read to two calls; returns the heard references.
pub fn assert_heard_references_are_stored(
    heard: &[HeardReadBack],
    stored: &BTreeMap<String, i64>,
    log_tail: &str,
) -> Vec<String> {
    let mut references = Vec::new();
    for call in heard {
        let Some(reference) = &call.reference else {
            panic!(
                "{}: heard a complete read-back that matches no stored reference (best NCC \
                 {:.3}); stored: {:?}\n{log_tail}",
                call.stream,
                call.ncc,
                stored.keys().collect::<Vec<_>>()
            );
        };
        assert!(
            call.runner_up < READ_BACK_MATCH,
            "{}: the read-back matches two references: {call:?}",
            call.stream
        );
        eprintln!(
            "{}: heard {reference} (NCC {:.3}, runner-up {:.3}; {:.2} s of {:.2} s of voice)",
            call.stream, call.ncc, call.runner_up, call.matched_seconds, call.voiced_seconds
        );
        assert!(
            stored.contains_key(reference),
            "{reference} heard but not stored"
        );
        assert!(
            !references.contains(reference),
            "{reference} was read back to two calls"
        );
        references.push(reference.clone());
    }
    references
}
