//! The load run of issue 2's "Speed" section: sipp holds N concurrent calls of D seconds with
//! RTP both ways against a target (Frontdoor, or a sipp answerer while developing), and the
//! run reports calls attempted/completed/failed, the target's CPU% over the streaming window
//! and its RSS (peak and after), INVITE→200 p50/p99, and the p50/p99 lateness of the
//! target's RTP packets against the 20 ms schedule, measured on the wire with tcpdump.
//! Timings are reported, never asserted.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::HarnessError;
use super::capture::{Capture, CaptureSpec};
use super::g711::Law;
use super::rtp::{Deviation, percentile, streams};
use super::sipp::{Scenario, Sipp};
use super::speech::{sine, write_g711_raw};
use super::tempdir::TempDir;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Concurrent calls (and total calls).
    pub calls: u32,
    /// Length of each call's streaming pause.
    pub seconds: u32,
    /// New calls per second while ramping up.
    pub rate_per_second: u32,
    /// Where sipp calls.
    pub target: SocketAddr,
    /// The target's PID, for /proc sampling.
    pub target_pid: u32,
    /// The target's RTP source ports (inclusive): packets from them are analysed.
    pub target_rtp: (u16, u16),
    /// sipp's own media port (reserve `4 * calls + 8` ports from it: rtp_stream walks up).
    pub sipp_media_port: Option<u16>,
}

/// The figures a load run prints.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub attempted: u64,
    pub completed: u64,
    pub failed: u64,
    pub sipp_exit: Option<i32>,
    /// Target CPU over the streaming window, percent of one core.
    pub cpu_percent: f64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    pub invite_200_p50_ms: f64,
    pub invite_200_p99_ms: f64,
    /// Streams from the target that were analysed.
    pub streams: usize,
    pub send_deviation: Option<Deviation>,
    /// sipp's diagnostics when calls failed.
    pub diagnostics: String,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "calls attempted {} completed {} failed {} (sipp exit {:?})",
            self.attempted, self.completed, self.failed, self.sipp_exit
        )?;
        writeln!(
            f,
            "target CPU {:.1}% of one core while streaming",
            self.cpu_percent
        )?;
        writeln!(
            f,
            "target RSS peak {} KiB, after calls {} KiB",
            self.rss_peak_kib, self.rss_after_kib
        )?;
        writeln!(
            f,
            "INVITE->200 p50 {:.1} ms p99 {:.1} ms",
            self.invite_200_p50_ms, self.invite_200_p99_ms
        )?;
        match &self.send_deviation {
            Some(d) => write!(
                f,
                "RTP send-time deviation over {} streams / {} packets: p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
                self.streams,
                d.packets,
                d.p50.as_secs_f64() * 1e3,
                d.p99.as_secs_f64() * 1e3,
                d.max.as_secs_f64() * 1e3
            ),
            None => write!(f, "RTP send-time deviation: no target streams captured"),
        }
    }
}

/// CPU ticks (utime + stime) of a process, from /proc/PID/stat.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `VmRSS`/`VmHWM`-style field of /proc/PID/status, in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// Runs the load and gathers the report. `scenario` is normally `uac_load.xml`.
pub fn run_load(spec: &LoadSpec) -> Result<LoadReport, HarnessError> {
    let dir = TempDir::new("load")?;
    // The caller's audio: a 2 s warble, looped by rtp_stream.
    let mut audio = sine(440.0, 1000, 6000.0);
    audio.extend(sine(620.0, 1000, 6000.0));
    write_g711_raw(&dir.join("caller.ul"), &audio, Law::MuLaw)?;

    let (low, high) = spec.target_rtp;
    let capture = Capture::start(
        &CaptureSpec {
            filter: format!("udp and src portrange {low}-{high}"),
            snaplen: 96,
            buffer_kib: 256 * 1024,
        },
        &dir.join("load.pcap"),
    )?;
    let rate = spec.rate_per_second.max(1);
    let ramp = Duration::from_millis(u64::from(spec.calls) * 1000 / u64::from(rate));
    let hold = Duration::from_secs(u64::from(spec.seconds));
    let mut sipp = Sipp::uac(Scenario::Named("uac_load.xml".into()), spec.target)
        .calls(spec.calls)
        .concurrent(spec.calls)
        .rate(rate, 1000)
        .pause(hold)
        .stage("caller.ul", &dir.join("caller.ul"))
        .trace_messages(false)
        .trace_rtt(true)
        .timeout(ramp + hold + Duration::from_secs(60));
    if let Some(port) = spec.sipp_media_port {
        sipp = sipp.media_port(port);
    }
    let run = sipp.spawn()?;

    // Streaming window: from when every call is up to shortly before the first BYE.
    let started = Instant::now();
    let window_start = ramp + Duration::from_secs(1);
    let window_end = hold
        .saturating_sub(Duration::from_secs(1))
        .max(window_start + Duration::from_secs(1));
    std::thread::sleep(window_start);
    let ticks0 = cpu_ticks(spec.target_pid);
    let wall0 = Instant::now();
    std::thread::sleep(window_end.saturating_sub(started.elapsed()));
    let ticks1 = cpu_ticks(spec.target_pid);
    let wall = wall0.elapsed().as_secs_f64();
    // Sampled while the calls stream too, in case the target exits when they end.
    let rss_streaming_kib = status_kib(spec.target_pid, "VmHWM").unwrap_or(0);
    let cpu_percent = match (ticks0, ticks1) {
        (Some(a), Some(b)) if wall > 0.0 => {
            (b.saturating_sub(a)) as f64 / clock_ticks_per_second() / wall * 100.0
        }
        _ => 0.0,
    };
    let outcome = run.wait()?;
    std::thread::sleep(Duration::from_secs(2));
    let rss_peak_kib = status_kib(spec.target_pid, "VmHWM")
        .unwrap_or(0)
        .max(rss_streaming_kib);
    let rss_after_kib = status_kib(spec.target_pid, "VmRSS").unwrap_or(0);
    let datagrams = capture.stop()?;

    let target_streams: Vec<_> = streams(&datagrams)
        .into_iter()
        .filter(|s| (low..=high).contains(&s.src.port()))
        .collect();
    let lateness: Vec<u64> = target_streams
        .iter()
        .flat_map(|s| s.lateness_us())
        .collect();
    let mut times: Vec<u64> = outcome
        .response_times_ms
        .iter()
        .map(|ms| (ms * 1000.0) as u64)
        .collect();
    times.sort_unstable();
    let all_ok = outcome.all_calls_ok();
    Ok(LoadReport {
        attempted: outcome.stats.created,
        completed: outcome.stats.successful,
        failed: outcome.stats.failed,
        sipp_exit: outcome.exit_code,
        cpu_percent,
        rss_peak_kib,
        rss_after_kib,
        invite_200_p50_ms: percentile(&times, 50.0) as f64 / 1000.0,
        invite_200_p99_ms: percentile(&times, 99.0) as f64 / 1000.0,
        streams: target_streams.len(),
        send_deviation: Deviation::from_lateness(lateness),
        diagnostics: if all_ok {
            String::new()
        } else {
            outcome.diagnostics()
        },
    })
}
