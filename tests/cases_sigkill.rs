//! "SIGKILL of the server at random moments during a burst of real calls, then restart:
//! every reference that a caller actually heard is present and delivered".
//!
//! Two waves of sipp callers take the council flow's keypad-only path to a council-tax discount
//! case (privacy notice, keys 1 1 3 2 1, account number 12345678) and listen to the read-back
//! ("Thank you. Your reference is TC-….", then the `reference_repeat_hint` prompt). The server
//! delivers cases to a webhook receiver in this test that verifies signatures and de-duplicates by
//! idempotency key, as a CRM would. During each wave the server is SIGKILLed at a random moment
//! (seeded, printed; drawn after the wave's first case reached the receiver, so that some callers
//! have heard their reference and some are mid-read-back or mid-commit), then restarted on the
//! same data directory and ports. After the last restart the outbox drains.
//!
//! What each caller heard comes from the RTP the server sent (tcpdump on loopback), never from
//! the server's own account; see `cases_support::heard_read_backs` for how a complete read-back
//! is recognised without the store and then matched to a stored reference. Each heard reference
//! must be in the store and applied exactly once by the receiver, each case's events in order.
//!
//! `CASES_SIGKILL_SEED=N` replays a run's kill moments.

mod cases_support;
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cases_support::{
    Receiver, assert_heard_references_are_stored, heard_read_backs, start_callers,
    start_council_server, start_receiver, stored_cases, webhook_config, write_caller_pcap,
};
use rand::{RngExt, SeedableRng};
use support::capture::{Capture, CaptureSpec};
use support::demo::server_streams;
use support::server::ServerGuard;
use support::tempdir::TempDir;

/// Calls per wave, and the interval between their starts.
const WAVE_CALLS: u32 = 10;
const CALL_INTERVAL: Duration = Duration::from_millis(800);
/// The kill falls this long after the wave's first case reached the receiver (uniform, ms). A
/// read-back starts within half a second of its case's commit and lasts 3–4.7 s, and the wave's
/// calls start 0.8 s apart (7.2 s from first to last): from 6.2 s on the first caller has heard
/// its reference, later ones are mid-read-back, and until 7.2 s the last is still keying (its
/// case not yet committed).
const KILL_AFTER_FIRST_CASE_MS: (u64, u64) = (6_200, 8_500);

/// Waits for the wave's first case at the receiver, then a random delay, and SIGKILLs and
/// restarts the server. Returns when the kill happened, in seconds after the wave started.
fn kill_during_wave(
    server: &mut ServerGuard,
    receiver: &Receiver,
    wave_start: Instant,
    rng: &mut rand::rngs::StdRng,
) -> f64 {
    let deadline = wave_start + Duration::from_secs(35);
    let first = loop {
        if let Some(at) = receiver.first_arrival_after(wave_start) {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "no case of this wave reached the receiver within 35 s:\n{}",
            server.log_tail(4000)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let delay = Duration::from_millis(
        rng.random_range(KILL_AFTER_FIRST_CASE_MS.0..=KILL_AFTER_FIRST_CASE_MS.1),
    );
    std::thread::sleep((first + delay).saturating_duration_since(Instant::now()));
    let at = wave_start.elapsed().as_secs_f64();
    server
        .kill_and_restart()
        .unwrap_or_else(|e| panic!("restart after SIGKILL: {e}"));
    at
}

#[test]
fn every_reference_a_caller_heard_survives_sigkill_and_is_delivered_once() {
    let started = Instant::now();
    let seed = std::env::var("CASES_SIGKILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("CASES_SIGKILL_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let dir = TempDir::new("cases-sigkill").expect("temp dir");
    write_caller_pcap(&dir);
    let receiver = start_receiver();
    let mut server =
        start_council_server(format!("cases:\n{}", webhook_config(&receiver)), WAVE_CALLS);
    let (low, high) = server.rtp_range();
    let capture = Capture::start(&CaptureSpec::udp_ports(low, high), &dir.join("rtp.pcap"))
        .expect("tcpdump starts");

    let mut kills = Vec::new();
    for _wave in 0..2 {
        let wave_start = Instant::now();
        let callers = start_callers(&server, &dir, WAVE_CALLS, CALL_INTERVAL);
        kills.push(kill_during_wave(
            &mut server,
            &receiver.state,
            wave_start,
            &mut rng,
        ));
        // The wave's calls died with the server; its sipp must not keep streaming to ports the
        // restarted server hands to the next wave.
        drop(callers);
    }

    // The outbox drains after the last restart: every stored case reaches the receiver.
    let deadline = Instant::now() + Duration::from_secs(15);
    let stored = loop {
        let stored = stored_cases(&server);
        let delivered = receiver.state.per_case();
        let drained = stored
            .iter()
            .all(|(r, v)| delivered.get(r).is_some_and(|s| s.len() as i64 >= *v));
        if drained || Instant::now() >= deadline {
            break stored;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let drained_after = started.elapsed().as_secs_f64();
    let datagrams = capture.stop().expect("capture readable");

    let streams = server_streams(&datagrams, (low, high));
    let references: Vec<String> = stored.keys().cloned().collect();
    let heard = heard_read_backs(&streams, &references);
    let heard_refs = assert_heard_references_are_stored(&heard, &stored, &server.log_tail(3000));

    // Every stored case — the heard ones among them — was applied by the receiver exactly once
    // per event, in order.
    let delivered = receiver.state.per_case();
    for (reference, version) in &stored {
        let expected: Vec<i64> = (1..=*version).collect();
        assert_eq!(
            delivered.get(reference).cloned().unwrap_or_default(),
            expected,
            "{reference}: the receiver must apply each event once, in order\n{}",
            server.log_tail(3000)
        );
    }
    let unknown: Vec<&String> = delivered
        .keys()
        .filter(|r| !stored.contains_key(*r))
        .collect();
    assert!(unknown.is_empty(), "delivered but not stored: {unknown:?}");
    assert_eq!(receiver.state.bad_requests.load(Ordering::SeqCst), 0);

    eprintln!(
        "seed {seed}: {} calls ({} server streams), {} SIGKILLs at {:?} s into their waves; \
         {} cases stored, {} references heard by callers, every one stored and delivered once \
         ({} repeated deliveries recognised by idempotency key); drained at {drained_after:.1} s, \
         done at {:.1} s",
        2 * WAVE_CALLS,
        streams.len(),
        kills.len(),
        kills.iter().map(|k| format!("{k:.2}")).collect::<Vec<_>>(),
        stored.len(),
        heard_refs.len(),
        receiver.state.duplicates.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
    assert!(
        !heard_refs.is_empty(),
        "no caller heard a whole read-back, so nothing was tested\n{}",
        server.log_tail(3000)
    );
}
