//! The load run: sipp holds N concurrent calls of D seconds with
//! RTP both ways against a target (Frontdoor, or a sipp answerer while developing), and the
//! run reports calls attempted/completed/failed, the target's CPU% over the streaming window
//! and its RSS (peak and after), INVITE→200 p50/p99, and the p50/p99 lateness of the
//! target's RTP packets against the 20 ms schedule, measured on the wire with tcpdump.
//! Timings are reported, never asserted.
//!
//! [`summary_table`] prints repeated runs with their medians (scripts/load.sh).

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::HarnessError;
use super::capture::Capture;
use super::g711::Law;
use super::rtp::{Deviation, RtpStream, SAMPLES_PER_PACKET, percentile, streams};
use super::sipp::{Scenario, Sipp};
use super::speech::{silence, sine, write_g711_raw};
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
    /// The number dialled (sipp's `[service]`); `None` keeps sipp's default.
    pub service: Option<String>,
    /// What every caller sends.
    pub caller_audio: CallerAudio,
}

/// The audio each load caller streams, looped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerAudio {
    /// A 2 s two-tone warble: media both ways on the DTMF demo menu.
    Warble,
    /// Digital silence: a caller who says nothing, so a listening flow runs its voice-activity
    /// detection on every frame and its no-input timers, without recognitions.
    Silence,
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
    /// Target RSS just before the run.
    pub rss_before_kib: u64,
    /// Highest RSS sampled (about once a second) while the calls were up.
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    pub invite_200_p50_ms: f64,
    pub invite_200_p99_ms: f64,
    /// Streams from the target that were analysed.
    pub streams: usize,
    pub send_deviation: Option<Deviation>,
    /// Send slots the target skipped (RTP timestamp jumped with no sequence gap): lateness
    /// beyond the pacer's catch-up, which [`RtpStream::lateness_us`] cannot see.
    pub skipped_slots: u64,
    /// p99 send lateness (ms) of each second of the capture, to show when lateness happened
    /// (the ramp, the streaming, the hang-ups).
    pub p99_by_second_ms: Vec<f64>,
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
            "target RSS before {} KiB, peak {} KiB, after calls {} KiB",
            self.rss_before_kib, self.rss_peak_kib, self.rss_after_kib
        )?;
        writeln!(
            f,
            "INVITE->200 p50 {:.1} ms p99 {:.1} ms",
            self.invite_200_p50_ms, self.invite_200_p99_ms
        )?;
        match &self.send_deviation {
            Some(d) => write!(
                f,
                "RTP send-time deviation over {} streams / {} packets: p50 {:.2} ms p99 {:.2} ms max {:.2} ms, {} slots skipped",
                self.streams,
                d.packets,
                d.p50.as_secs_f64() * 1e3,
                d.p99.as_secs_f64() * 1e3,
                d.max.as_secs_f64() * 1e3,
                self.skipped_slots
            ),
            None => write!(f, "RTP send-time deviation: no target streams captured"),
        }?;
        let seconds: Vec<String> = self
            .p99_by_second_ms
            .iter()
            .map(|ms| format!("{ms:.1}"))
            .collect();
        write!(
            f,
            "\nsend lateness p99 by second (ms): {}",
            seconds.join(" ")
        )
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
    // The caller's audio, looped by rtp_stream.
    let audio = match spec.caller_audio {
        CallerAudio::Warble => {
            let mut audio = sine(440.0, 1000, 6000.0);
            audio.extend(sine(620.0, 1000, 6000.0));
            audio
        }
        CallerAudio::Silence => silence(2000),
    };
    write_g711_raw(&dir.join("caller.ul"), &audio, Law::MuLaw)?;

    let (low, high) = spec.target_rtp;
    let rss_before_kib = status_kib(spec.target_pid, "VmRSS").unwrap_or(0);
    let capture = Capture::start_buffered(
        &format!("udp and src portrange {low}-{high}"),
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
    if let Some(service) = &spec.service {
        sipp = sipp.service(service);
    }
    let run = sipp.spawn()?;

    // Streaming window: from when every call is up to shortly before the first BYE.
    let started = Instant::now();
    let window_start = ramp + Duration::from_secs(1);
    let window_end = hold
        .saturating_sub(Duration::from_secs(1))
        .max(window_start + Duration::from_secs(1));
    let mut rss_peak_kib = rss_before_kib;
    let mut sample_rss = || {
        rss_peak_kib = rss_peak_kib.max(status_kib(spec.target_pid, "VmRSS").unwrap_or(0));
    };
    sleep_sampling(started + window_start, &mut sample_rss);
    let ticks0 = cpu_ticks(spec.target_pid);
    let wall0 = Instant::now();
    sleep_sampling(started + window_end, &mut sample_rss);
    let ticks1 = cpu_ticks(spec.target_pid);
    let wall = wall0.elapsed().as_secs_f64();
    sample_rss();
    let cpu_percent = match (ticks0, ticks1) {
        (Some(a), Some(b)) if wall > 0.0 => {
            (b.saturating_sub(a)) as f64 / clock_ticks_per_second() / wall * 100.0
        }
        _ => 0.0,
    };
    let outcome = run.wait()?;
    // Calls end as their BYEs complete; give the target a moment to release them.
    std::thread::sleep(Duration::from_secs(3));
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
    let skipped_slots = target_streams.iter().map(skipped_slots).sum();
    let p99_by_second_ms = p99_by_second(&target_streams);
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
        rss_before_kib,
        rss_peak_kib,
        rss_after_kib,
        invite_200_p50_ms: percentile(&times, 50.0) as f64 / 1000.0,
        invite_200_p99_ms: percentile(&times, 99.0) as f64 / 1000.0,
        streams: target_streams.len(),
        send_deviation: Deviation::from_lateness(lateness),
        skipped_slots,
        p99_by_second_ms,
        diagnostics: if all_ok {
            String::new()
        } else {
            outcome.diagnostics()
        },
    })
}

/// The p99 of send lateness in each second of the capture, pooled over streams.
pub fn p99_by_second(streams: &[RtpStream]) -> Vec<f64> {
    let Some(first) = streams
        .iter()
        .filter_map(|s| s.audio_packets().next().map(|p| p.arrival))
        .min()
    else {
        return Vec::new();
    };
    let mut seconds: Vec<Vec<u64>> = Vec::new();
    for stream in streams {
        for (packet, late) in stream.audio_packets().zip(stream.lateness_us()) {
            let second = packet.arrival.saturating_sub(first).as_secs() as usize;
            if second >= 3600 {
                continue;
            }
            if seconds.len() <= second {
                seconds.resize(second + 1, Vec::new());
            }
            if let Some(bucket) = seconds.get_mut(second) {
                bucket.push(late);
            }
        }
    }
    seconds
        .into_iter()
        .map(|mut v| {
            v.sort_unstable();
            percentile(&v, 99.0) as f64 / 1000.0
        })
        .collect()
}

/// Sleeps until `until`, calling `sample` about once a second.
fn sleep_sampling(until: Instant, sample: &mut impl FnMut()) {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_secs(1)));
        sample();
    }
}

/// Audio slots a stream skipped: consecutive sequence numbers whose timestamps are more than
/// one packet apart. (A skipped slot keeps its place on the timestamp line but uses no
/// sequence number; a lost packet would leave a sequence gap instead.)
pub fn skipped_slots(stream: &RtpStream) -> u64 {
    let mut audio: Vec<_> = stream.audio_packets().collect();
    // Capture order is send order on loopback; sort anyway so the pairs are neighbours.
    audio.sort_by_key(|p| p.arrival);
    audio
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w.first()?, w.get(1)?);
            let step = b.timestamp.wrapping_sub(a.timestamp);
            let packet = a.payload.len().max(SAMPLES_PER_PACKET) as u32;
            (b.sequence == a.sequence.wrapping_add(1) && step > packet && step < 1 << 31)
                .then(|| u64::from(step / packet - 1))
        })
        .sum()
}

/// sipp's media ports for `calls` concurrent calls (rtp_stream walks up from the base). A block
/// of 4,000 ports may be broken up for a moment by other tests on the machine: a few tries.
pub fn sipp_media_block(calls: u32) -> Result<u16, HarnessError> {
    let count = u16::try_from(calls.saturating_mul(4) + 8).unwrap_or(u16::MAX / 2);
    let mut tries = 0;
    loop {
        match super::ports::free_block(count, 2) {
            Ok((low, _)) => return Ok(low),
            Err(e) if tries >= 5 => return Err(e),
            Err(_) => {
                tries += 1;
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
}

/// The server's warnings and errors (for example an overloaded media clock), and the media
/// clock's timing reports when the server logs at debug level; at most `max` lines.
pub fn server_warnings(log: &str, max: usize) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("media clock timing"))
        .collect();
    let shown = lines.len().min(max);
    let mut out = lines.get(..shown).map(|l| l.join("\n")).unwrap_or_default();
    if lines.len() > shown {
        out.push_str(&format!("\n... {} more", lines.len() - shown));
    }
    out
}

/// One row per run and a median row: the figures scripts/load.sh prints.
pub fn summary_table(calls: u32, seconds: u32, reports: &[LoadReport]) -> String {
    let mut out = format!(
        "load summary: {calls} calls x {seconds} s, {} run(s)\n\
         run | attempted completed failed | CPU% | RSS KiB before/peak/after | \
         INVITE->200 p50/p99 ms | send dev p50/p99/max ms | skipped\n",
        reports.len()
    );
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    for (i, r) in reports.iter().enumerate() {
        let d = r.send_deviation;
        out.push_str(&format!(
            "{:>3} | {} {} {} | {:.1} | {}/{}/{} | {:.1}/{:.1} | {:.2}/{:.2}/{:.2} | {}\n",
            i + 1,
            r.attempted,
            r.completed,
            r.failed,
            r.cpu_percent,
            r.rss_before_kib,
            r.rss_peak_kib,
            r.rss_after_kib,
            r.invite_200_p50_ms,
            r.invite_200_p99_ms,
            ms(d.map(|d| d.p50)),
            ms(d.map(|d| d.p99)),
            ms(d.map(|d| d.max)),
            r.skipped_slots,
        ));
    }
    let median = |f: &dyn Fn(&LoadReport) -> f64| {
        let mut v: Vec<f64> = reports.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    out.push_str(&format!(
        "med | failed {} | {:.1} | peak {:.0} after {:.0} | {:.1}/{:.1} | {:.2}/{:.2} | {}\n",
        reports.iter().map(|r| r.failed).sum::<u64>(),
        median(&|r| r.cpu_percent),
        median(&|r| r.rss_peak_kib as f64),
        median(&|r| r.rss_after_kib as f64),
        median(&|r| r.invite_200_p50_ms),
        median(&|r| r.invite_200_p99_ms),
        median(&|r| ms(r.send_deviation.map(|d| d.p50))),
        median(&|r| ms(r.send_deviation.map(|d| d.p99))),
        reports.iter().map(|r| r.skipped_slots).sum::<u64>(),
    ));
    out
}
