//! "The store stalls (PostgreSQL paused with SIGSTOP, or an exclusive lock held on
//! SQLite) during live calls: prompts keep playing on time (RTP send deviation unchanged) and
//! cases complete once the store is back".
//!
//! Two groups of sipp callers take the council flow's keypad path to a case. The first group's
//! cases fall due while the store is stalled (for [`STALL`]); meanwhile the second group, started
//! later, is hearing the privacy notice and menus. The RTP the server sends (tcpdump on loopback)
//! is judged against a perfect 20 ms clock: the p99 lateness of packets sent during the stall
//! must stay within max(2 × baseline, baseline + 5 ms), the baseline being the same streams
//! before the stall. Once the store is back every caller must hear a reference
//! (`cases_support::heard_read_backs`) that the store holds.

mod cases_support;
mod pg_cluster;
mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cases_support::{
    assert_heard_references_are_stored, heard_read_backs, start_callers, start_council_server,
    stored_cases, write_caller_pcap,
};
use pg_cluster::{Cluster, Resume, postgres_installed};
use support::capture::{Capture, CaptureSpec};
use support::demo::server_streams;
use support::rtp::{Deviation, RtpStream};
use support::server::ServerGuard;
use support::tempdir::TempDir;

/// How long the store stays stalled.
const STALL: Duration = Duration::from_secs(5);
/// Callers per group.
const GROUP_CALLS: u32 = 3;
/// The second group starts this much later, so that it hears prompts during the stall.
const SECOND_GROUP_AFTER: Duration = Duration::from_secs(8);

/// Wall-clock time now, as capture timestamps count it.
fn wall_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Send-time lateness of every audio packet sent in `window` (capture time), pooled across
/// streams; each stream's lateness is measured against its own best-aligned 20 ms clock.
fn deviation_in(streams: &[RtpStream], window: (Duration, Duration)) -> Option<Deviation> {
    let lateness: Vec<u64> = streams
        .iter()
        .flat_map(|s| {
            s.audio_packets()
                .zip(s.lateness_us())
                .filter(|(p, _)| p.arrival >= window.0 && p.arrival <= window.1)
                .map(|(_, late)| late)
                .collect::<Vec<_>>()
        })
        .collect();
    Deviation::from_lateness(lateness)
}

/// Runs both groups of calls against `server`, calling `stall` (which returns a guard that ends
/// the stall when dropped) once the first group's cases are about to fall due, and checks timing
/// and completion.
fn calls_through_a_stall<G>(server: &ServerGuard, what: &str, stall: impl FnOnce() -> G) {
    let dir = TempDir::new("cases-stall").expect("temp dir");
    let last_key = write_caller_pcap(&dir);
    let (low, high) = server.rtp_range();
    let capture = Capture::start(&CaptureSpec::udp_ports(low, high), &dir.join("rtp.pcap"))
        .expect("tcpdump starts");
    let capture_start = wall_now();
    let started = Instant::now();
    let first = start_callers(server, &dir, GROUP_CALLS, Duration::from_millis(300));
    std::thread::sleep(SECOND_GROUP_AFTER);
    let second = start_callers(server, &dir, GROUP_CALLS, Duration::from_millis(300));

    // Stall from shortly before the first group's last key (its cases are created at that key).
    std::thread::sleep(
        (started + last_key - Duration::from_millis(1500))
            .saturating_duration_since(Instant::now()),
    );
    let stall_start = wall_now();
    let guard = stall();
    std::thread::sleep(STALL);
    drop(guard);
    let stall_end = wall_now();
    eprintln!(
        "{what}: stalled {:.1}–{:.1} s after the first call",
        (stall_start - capture_start).as_secs_f64(),
        (stall_end - capture_start).as_secs_f64()
    );

    // Whether sipp or the flow hangs up first does not matter here; what the callers heard does.
    let _first = first.wait().expect("first group ends");
    let _second = second.wait().expect("second group ends");
    let datagrams = capture.stop().expect("capture readable");

    let streams = server_streams(&datagrams, (low, high));
    assert_eq!(
        streams.len(),
        2 * GROUP_CALLS as usize,
        "one stream per call"
    );
    let baseline = deviation_in(
        &streams,
        (capture_start + Duration::from_secs(1), stall_start),
    )
    .expect("packets before the stall");
    let stalled =
        deviation_in(&streams, (stall_start, stall_end)).expect("packets during the stall");
    eprintln!(
        "{what}: send deviation p50/p99/max before the stall {:.2}/{:.2}/{:.2} ms ({} packets), \
         during it {:.2}/{:.2}/{:.2} ms ({} packets)",
        ms(baseline.p50),
        ms(baseline.p99),
        ms(baseline.max),
        baseline.packets,
        ms(stalled.p50),
        ms(stalled.p99),
        ms(stalled.max),
        stalled.packets
    );
    let bound = (baseline.p99 * 2).max(baseline.p99 + Duration::from_millis(5));
    assert!(
        stalled.p99 <= bound,
        "{what}: prompts fell behind while the store stalled: p99 {:.2} ms > bound {:.2} ms",
        ms(stalled.p99),
        ms(bound)
    );

    // Once the store is back every case completes: each caller heard a stored reference.
    let stored = stored_cases(server);
    let references: Vec<String> = stored.keys().cloned().collect();
    let heard = heard_read_backs(&streams, &references);
    let heard_refs = assert_heard_references_are_stored(&heard, &stored, &server.log_tail(3000));
    assert_eq!(
        heard_refs.len(),
        2 * GROUP_CALLS as usize,
        "{what}: every caller hears its reference once the store is back: {heard:#?}\n{}",
        server.log_tail(3000)
    );
    assert_eq!(
        stored.len(),
        2 * GROUP_CALLS as usize,
        "{what}: one case per call"
    );
    // The first group's cases fell due during the stall (their last key 1.5 s into it): had the
    // store not really stalled, their read-backs would have started before it ended.
    let first_read_back = heard
        .iter()
        .map(|h| h.started_at)
        .min()
        .expect("read-backs were heard");
    eprintln!(
        "{what}: first read-back at {:.1} s, stall ended at {:.1} s",
        (first_read_back.saturating_sub(capture_start)).as_secs_f64(),
        (stall_end - capture_start).as_secs_f64()
    );
    assert!(
        first_read_back >= stall_end,
        "{what}: a reference was read back while the store was stalled: the stall did not hold"
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Holds SQLite's write lock from another connection until dropped.
struct ExclusiveLock(rusqlite::Connection);

impl ExclusiveLock {
    fn take(path: &std::path::Path) -> ExclusiveLock {
        let conn = rusqlite::Connection::open(path).expect("open the server's SQLite file");
        // The server may be committing at this instant: wait for it like any other writer.
        conn.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        conn.execute_batch("BEGIN EXCLUSIVE")
            .expect("BEGIN EXCLUSIVE on the server's database");
        ExclusiveLock(conn)
    }
}

impl Drop for ExclusiveLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("COMMIT");
    }
}

#[test]
fn sqlite_exclusive_lock_during_calls_keeps_prompts_on_time_and_cases_complete() {
    let server = start_council_server("cases:\n  store: sqlite\n".into(), 2 * GROUP_CALLS);
    let db = server.dir().join("data/frontdoor.sqlite");
    calls_through_a_stall(&server, "SQLite BEGIN EXCLUSIVE", || {
        ExclusiveLock::take(&db)
    });
}

#[test]
fn postgres_sigstop_during_calls_keeps_prompts_on_time_and_cases_complete() {
    if !postgres_installed() {
        eprintln!("skipping: PostgreSQL 15 is not installed");
        return;
    }
    let cluster = Cluster::start();
    let server = start_council_server(
        format!(
            "cases:\n  store: postgres\n  postgres: \"{}\"\n",
            cluster.url
        ),
        2 * GROUP_CALLS,
    );
    calls_through_a_stall(&server, "PostgreSQL SIGSTOP", || {
        cluster.signal_all(libc::SIGSTOP);
        Resume(&cluster)
    });
}
