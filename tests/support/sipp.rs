//! Runs sipp (sip-tester 3.6) as a scripted caller or answerer: builds the command line,
//! stages the media files a scenario names into its working directory, bounds the run with
//! sipp's own `-timeout` plus a kill deadline, and reads back exit status, call statistics,
//! INVITE→200 response times (`-trace_rtt`) and unexpected-message traces (`-trace_err`).
//!
//! Always `-i 127.0.0.1 -mi 127.0.0.1` (otherwise Via, Contact and SDP carry the host's
//! primary address), and every port (`-p`, `-mp`, `-cp`) is a probed free one so parallel
//! tests do not collide.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::ports::{free_block, free_port};
use super::process::ChildGuard;
use super::tempdir::TempDir;
use super::{HarnessError, sipp_scenario_dir};

/// SIP transport for the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `-t u1`
    Udp,
    /// `-t t1`
    Tcp,
}

/// Which scenario sipp runs.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// A file in `tests/sipp/`, e.g. `"uac_prompt_dtmf.xml"`.
    Named(String),
    /// Any scenario file.
    File(PathBuf),
    /// A built-in scenario (`-sn uac`, `-sn uas`).
    BuiltIn(String),
}

/// A sipp invocation being configured.
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: Scenario,
    remote: Option<SocketAddr>,
    transport: Transport,
    calls: u32,
    concurrent: Option<u32>,
    rate: Option<(u32, u32)>,
    pause: Option<Duration>,
    service: Option<String>,
    keys: Vec<(String, String)>,
    timeout: Duration,
    local_port: Option<u16>,
    media_port: Option<u16>,
    staged: Vec<(String, PathBuf)>,
    trace_messages: bool,
    trace_rtt: bool,
    extra: Vec<String>,
}

/// A sipp process running in its own working directory.
#[derive(Debug)]
pub struct SippRun {
    child: ChildGuard,
    workdir: TempDir,
    local: SocketAddrV4,
    media_port: u16,
    timeout: Duration,
}

/// Final counters from sipp's statistics file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SippStats {
    pub created: u64,
    pub successful: u64,
    pub failed: u64,
}

/// What a finished sipp run left behind.
#[derive(Debug)]
pub struct SippOutcome {
    /// sipp's exit code: 0 all calls OK, 1 some failed, 97 stopped, 99 no call, 255 fatal;
    /// `None` if it had to be killed.
    pub exit_code: Option<i32>,
    pub stats: SippStats,
    /// INVITE→200 (`rtd="invite"`) times in milliseconds, one per call, with `trace_rtt`.
    pub response_times_ms: Vec<f64>,
    /// Unexpected messages and errors (`-trace_err`).
    pub error_log: String,
    /// Every message sent and received, with `trace_messages`.
    pub message_log: String,
    /// sipp's stderr and stdout.
    pub output: String,
    /// The working directory (kept alive for inspection while the outcome lives).
    pub workdir: TempDir,
}

impl SippOutcome {
    /// Whether sipp exited 0 with every call successful.
    pub fn all_calls_ok(&self) -> bool {
        self.exit_code == Some(0) && self.stats.failed == 0
    }

    /// Everything useful for an assertion message.
    pub fn diagnostics(&self) -> String {
        format!(
            "sipp exit {:?}, stats {:?}\n--- errors ---\n{}\n--- messages ---\n{}\n--- output ---\n{}",
            self.exit_code,
            self.stats,
            tail(&self.error_log, 6000),
            tail(&self.message_log, 8000),
            tail(&self.output, 3000)
        )
    }
}

fn tail(text: &str, max: usize) -> &str {
    let start = text.len().saturating_sub(max);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

impl Sipp {
    /// A caller running `scenario` against `remote`, one call by default.
    pub fn uac(scenario: Scenario, remote: SocketAddr) -> Sipp {
        Sipp::new(scenario, Some(remote))
    }

    /// An answerer running `scenario` on a free local port.
    pub fn uas(scenario: Scenario) -> Sipp {
        Sipp::new(scenario, None)
    }

    fn new(scenario: Scenario, remote: Option<SocketAddr>) -> Sipp {
        Sipp {
            scenario,
            remote,
            transport: Transport::Udp,
            calls: 1,
            concurrent: None,
            rate: None,
            pause: None,
            service: None,
            keys: Vec::new(),
            timeout: Duration::from_secs(30),
            local_port: None,
            media_port: None,
            staged: Vec::new(),
            trace_messages: true,
            trace_rtt: false,
            extra: Vec::new(),
        }
    }

    /// `-t u1` or `-t t1`.
    pub fn transport(mut self, transport: Transport) -> Sipp {
        self.transport = transport;
        self
    }

    /// Total calls (`-m`); sipp exits after them.
    pub fn calls(mut self, calls: u32) -> Sipp {
        self.calls = calls;
        self
    }

    /// Concurrent call limit (`-l`).
    pub fn concurrent(mut self, limit: u32) -> Sipp {
        self.concurrent = Some(limit);
        self
    }

    /// Call rate: `calls` new calls per `period_ms` (`-r`, `-rp`).
    pub fn rate(mut self, calls: u32, period_ms: u32) -> Sipp {
        self.rate = Some((calls, period_ms));
        self
    }

    /// Length of `<pause/>` without attributes (`-d`): how long calls are held.
    pub fn pause(mut self, pause: Duration) -> Sipp {
        self.pause = Some(pause);
        self
    }

    /// Request-URI user (`-s`), i.e. the dialled number.
    pub fn service(mut self, service: &str) -> Sipp {
        self.service = Some(service.to_string());
        self
    }

    /// A scenario keyword `[name]` (`-key name value`).
    pub fn key(mut self, name: &str, value: &str) -> Sipp {
        self.keys.push((name.to_string(), value.to_string()));
        self
    }

    /// Global timeout (`-timeout`, counted as an error); the process is killed 10 s later.
    pub fn timeout(mut self, timeout: Duration) -> Sipp {
        self.timeout = timeout;
        self
    }

    /// Local SIP port instead of a probed one.
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.local_port = Some(port);
        self
    }

    /// Media port (`-mp`) instead of a probed one, so a capture can be started for it first.
    /// Reserve it with `free_block(4, 2)`: sipp also uses the port +2.
    pub fn media_port(mut self, port: u16) -> Sipp {
        self.media_port = Some(port);
        self
    }

    /// Copies `source` into sipp's working directory as `name` (scenarios refer to media
    /// files by fixed names such as `caller.pcap` and `callee.ul`, resolved from there).
    pub fn stage(mut self, name: &str, source: &Path) -> Sipp {
        self.staged.push((name.to_string(), source.to_path_buf()));
        self
    }

    /// Message tracing (on by default; turn off for load).
    pub fn trace_messages(mut self, on: bool) -> Sipp {
        self.trace_messages = on;
        self
    }

    /// Per-call response time tracing (`-trace_rtt -rtt_freq 1`).
    pub fn trace_rtt(mut self, on: bool) -> Sipp {
        self.trace_rtt = on;
        self
    }

    /// Any further raw arguments.
    pub fn arg(mut self, arg: &str) -> Sipp {
        self.extra.push(arg.to_string());
        self
    }

    /// Starts sipp; returns at once.
    pub fn spawn(self) -> Result<SippRun, HarnessError> {
        let workdir = TempDir::new("sipp")?;
        for (name, source) in &self.staged {
            std::fs::copy(source, workdir.join(name))
                .map_err(|e| HarnessError::io(format!("staging {}", source.display()), e))?;
        }
        let local_port = match self.local_port {
            Some(port) => port,
            None => free_port()?,
        };
        // sipp uses the media port and +2 (video); rtp_stream allocates further ports itself.
        let media_port = match self.media_port {
            Some(port) => port,
            None => free_block(4, 2)?.0,
        };
        let control_port = free_port()?;
        let mut command = Command::new("sipp");
        match &self.scenario {
            Scenario::Named(name) => command.arg("-sf").arg(sipp_scenario_dir().join(name)),
            Scenario::File(path) => command.arg("-sf").arg(path),
            Scenario::BuiltIn(name) => command.arg("-sn").arg(name),
        };
        if let Some(remote) = self.remote {
            command.arg(remote.to_string());
        }
        command
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
            .args(["-p", &local_port.to_string()])
            .args(["-mp", &media_port.to_string()])
            .args(["-cp", &control_port.to_string()])
            .args([
                "-t",
                match self.transport {
                    Transport::Udp => "u1",
                    Transport::Tcp => "t1",
                },
            ])
            .args(["-m", &self.calls.to_string()])
            .args(["-timeout", &format!("{}s", self.timeout.as_secs().max(1))])
            .arg("-timeout_error")
            .args(["-trace_err", "-error_file"])
            .arg(workdir.join("errors.log"))
            .args(["-trace_stat", "-stf"])
            .arg(workdir.join("stats.csv"))
            .args(["-fd", "1"]);
        if let Some(limit) = self.concurrent {
            command.args(["-l", &limit.to_string()]);
        }
        if let Some((calls, period)) = self.rate {
            command.args(["-r", &calls.to_string(), "-rp", &period.to_string()]);
        }
        if let Some(pause) = self.pause {
            command.args(["-d", &pause.as_millis().to_string()]);
        }
        if let Some(service) = &self.service {
            command.args(["-s", service]);
        }
        for (name, value) in &self.keys {
            command.args(["-key", name, value]);
        }
        if self.trace_messages {
            command
                .args(["-trace_msg", "-message_file"])
                .arg(workdir.join("messages.log"));
        }
        if self.trace_rtt {
            command.args(["-trace_rtt", "-rtt_freq", "1"]);
        }
        command.args(&self.extra);
        let output = std::fs::File::create(workdir.join("output.log"))
            .map_err(|e| HarnessError::io("creating sipp output log", e))?;
        let output_err = output
            .try_clone()
            .map_err(|e| HarnessError::io("cloning sipp output log", e))?;
        command
            .current_dir(workdir.path())
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(output_err);
        let child = command.spawn().map_err(|source| HarnessError::Spawn {
            program: "sipp".into(),
            source,
        })?;
        Ok(SippRun {
            child: ChildGuard::new("sipp", child),
            workdir,
            local: SocketAddrV4::new(Ipv4Addr::LOCALHOST, local_port),
            media_port,
            timeout: self.timeout,
        })
    }

    /// Runs to completion and returns the outcome.
    pub fn run(self) -> Result<SippOutcome, HarnessError> {
        self.spawn()?.wait()
    }
}

impl SippRun {
    /// sipp's SIP address.
    pub fn local_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.local)
    }

    /// sipp's media port (`[media_port]` in its SDP; play_pcap_audio sends from it).
    pub fn media_port(&self) -> u16 {
        self.media_port
    }

    /// The working directory.
    pub fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    /// PID of the sipp process.
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Waits until sipp has bound its SIP port (so a caller can be pointed at it).
    pub fn wait_listening(&mut self, limit: Duration) -> Result<(), HarnessError> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_status() {
                return Err(HarnessError::ExitedEarly {
                    program: "sipp".into(),
                    status: status.to_string(),
                    log_tail: read_lossy(&self.workdir.join("output.log")),
                });
            }
            if !super::ports::port_is_free(self.local.port()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(HarnessError::Timeout {
            what: "sipp binding its port".into(),
            seconds: limit.as_secs_f64(),
        })
    }

    /// Waits for sipp to finish (its own timeout plus 10 s, then kill) and collects results.
    pub fn wait(mut self) -> Result<SippOutcome, HarnessError> {
        let status: Option<ExitStatus> = match self
            .child
            .wait_timeout(self.timeout + Duration::from_secs(10))
        {
            Ok(status) => Some(status),
            Err(_) => {
                self.child.stop_with(libc::SIGKILL, Duration::from_secs(2));
                None
            }
        };
        Ok(self.collect(status))
    }

    /// Stops a sipp that runs until told (an answerer), SIGTERM-style via the guard, and
    /// collects results.
    pub fn stop(mut self) -> Result<SippOutcome, HarnessError> {
        let status = self.child.stop_with(libc::SIGUSR1, Duration::from_secs(5));
        Ok(self.collect(status))
    }

    fn collect(self, status: Option<ExitStatus>) -> SippOutcome {
        let dir = self.workdir.path();
        let response_times_ms = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with("_rtt.csv"))
            .flat_map(|e| parse_rtt(&read_lossy(&e.path())))
            .collect();
        SippOutcome {
            exit_code: status.and_then(|s| s.code()),
            stats: parse_stats(&read_lossy(&dir.join("stats.csv"))),
            response_times_ms,
            error_log: read_lossy(&dir.join("errors.log")),
            message_log: read_lossy(&dir.join("messages.log")),
            output: read_lossy(&dir.join("output.log")),
            workdir: self.workdir,
        }
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Final counters from sipp's `;`-separated statistics file (header row, then one row per
/// dump; the last row is the final state).
pub fn parse_stats(csv: &str) -> SippStats {
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return SippStats::default();
    };
    let Some(last) = lines.next_back() else {
        return SippStats::default();
    };
    let columns: Vec<&str> = header.split(';').collect();
    let values: Vec<&str> = last.split(';').collect();
    let get = |name: &str| -> u64 {
        columns
            .iter()
            .position(|c| *c == name)
            .and_then(|i| values.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    SippStats {
        created: get("TotalCallCreated"),
        successful: get("SuccessfulCall(C)"),
        failed: get("FailedCall(C)"),
    }
}

/// Response times (ms) from sipp's `_rtt.csv`: `Date_ms;response_time_ms;rtd_no` rows after
/// a header; rows that do not parse are skipped.
pub fn parse_rtt(csv: &str) -> Vec<f64> {
    csv.lines()
        .skip(1)
        .filter_map(|line| line.split(';').nth(1)?.trim().parse::<f64>().ok())
        .collect()
}
