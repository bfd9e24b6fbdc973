//! The server under test: `frontdoor serve` (this same binary) started in a scratch directory
//! with the repository's flows and a copy of its prompts, a fresh SQLite store, the evaluation's
//! call date injected, and free SIP/RTP ports. Stopped by PID when dropped.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::EvalError;

/// The testing-only override of the call date (see `flow::handler::CALL_DATE_ENV`).
pub use crate::flow::handler::CALL_DATE_ENV;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The `frontdoor` binary (normally this process's own executable).
    pub binary: PathBuf,
    /// Call-flow directory (`call-flows`).
    pub flows: PathBuf,
    /// Prompt directory to copy (`audio-prompts`).
    pub prompts: PathBuf,
    /// Extra `frontdoor.yaml` for the server (e.g. recogniser settings), if any.
    pub config: Option<PathBuf>,
    /// The date every call is placed on, `YYYY-MM-DD`.
    pub call_date: String,
    /// RTP ports to reserve (two per call).
    pub rtp_ports: u16,
    /// Working directory: model paths in the configuration are relative to it.
    pub workdir: PathBuf,
    /// Prompts replaced by a short beep in the server's copy of the prompts (a test route
    /// past the privacy notice and a long menu: the flow is unchanged).
    pub short_prompts: Vec<String>,
}

/// A running server.
pub struct RunningServer {
    child: Child,
    scratch: PathBuf,
    sip: SocketAddr,
}

impl RunningServer {
    /// Starts the server and waits until it answers SIP OPTIONS.
    pub fn start(spec: &ServerSpec) -> Result<RunningServer, EvalError> {
        let scratch = std::env::temp_dir().join(format!(
            "frontdoor-eval-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let prompts = scratch.join("prompts");
        let data = scratch.join("data");
        let io = |what: String| move |source| EvalError::Io { what, source };
        std::fs::create_dir_all(&prompts).map_err(io(format!("creating {}", prompts.display())))?;
        std::fs::create_dir_all(&data).map_err(io(format!("creating {}", data.display())))?;
        copy_dir(&spec.prompts, &prompts)?;
        for name in &spec.short_prompts {
            shorten_prompt(&prompts, name)?;
        }
        let sip_port = free_udp_port()?;
        let rtp_low = free_rtp_block(spec.rtp_ports)?;
        let log = std::fs::File::create(scratch.join("server.log"))
            .map_err(io("creating the server log".into()))?;
        let log_err = log
            .try_clone()
            .map_err(io("cloning the server log".into()))?;
        let mut command = Command::new(&spec.binary);
        command.arg("serve");
        if let Some(config) = &spec.config {
            command.arg("--config").arg(config);
        }
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{sip_port}"))
            .arg("--rtp-ports")
            .arg(format!("{}-{}", rtp_low, rtp_low + spec.rtp_ports - 1))
            .arg("--flows")
            .arg(&spec.flows)
            .arg("--prompts")
            .arg(&prompts)
            .arg("--data")
            .arg(&data)
            .arg("--max-calls")
            .arg((spec.rtp_ports / 2).max(1).to_string())
            .env(CALL_DATE_ENV, &spec.call_date)
            .current_dir(&spec.workdir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let child = command
            .spawn()
            .map_err(io(format!("starting {}", spec.binary.display())))?;
        let mut server = RunningServer {
            child,
            scratch,
            sip: SocketAddr::from((Ipv4Addr::LOCALHOST, sip_port)),
        };
        server.wait_ready(Duration::from_secs(60))?;
        Ok(server)
    }

    pub fn sip_addr(&self) -> SocketAddr {
        self.sip
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The SQLite store the server writes call records to.
    pub fn store_path(&self) -> PathBuf {
        self.scratch.join("data").join("frontdoor.sqlite")
    }

    /// Where the server writes its log.
    pub fn log_path(&self) -> PathBuf {
        self.scratch.join("server.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.scratch.join("server.log"))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Peak resident memory of the server so far (`VmHWM` in /proc), in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), EvalError> {
        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| EvalError::Io {
            what: "binding the OPTIONS probe".into(),
            source,
        })?;
        let local = probe.local_addr().map_err(|source| EvalError::Io {
            what: "probe address".into(),
            source,
        })?;
        let _ = probe.set_read_timeout(Some(Duration::from_millis(300)));
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(EvalError::Server(format!(
                    "exited with {status} before answering; log:\n{}",
                    tail(&self.log(), 3000)
                )));
            }
            let branch = format!("z9hG4bK{}", rand::random::<u32>());
            let options = format!(
                "OPTIONS sip:council@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\n\
                 From: <sip:eval@{local}>;tag=e{tag}\r\nTo: <sip:council@{sip}>\r\n\
                 Call-ID: {branch}@eval\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                sip = self.sip,
                tag = rand::random::<u32>(),
            );
            let _ = probe.send_to(options.as_bytes(), self.sip);
            if let Ok((n, _)) = probe.recv_from(&mut buf)
                && buf.get(..n).is_some_and(|b| b.starts_with(b"SIP/2.0 200"))
            {
                return Ok(());
            }
        }
        Err(EvalError::Server(format!(
            "not answering OPTIONS after {within:?}; log:\n{}",
            tail(&self.log(), 3000)
        )))
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // SIGTERM first so the server writes its last records, then make sure.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's PID, which we have not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("FRONTDOOR_EVAL_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or_default()
}

/// Replaces the recorded prompt `name` in `prompts` with a 300 ms beep (8 kHz, 16-bit mono,
/// as the prompts are): audible, so a caller still hears a prompt start and end. An error when
/// there is no such prompt.
fn shorten_prompt(prompts: &Path, name: &str) -> Result<(), EvalError> {
    let path = prompts.join(format!("{name}.wav"));
    if !path.is_file() {
        return Err(EvalError::Usage(format!(
            "--short-prompts: no prompt {name} in {}",
            prompts.display()
        )));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let write = || -> Result<(), hound::Error> {
        let mut w = hound::WavWriter::create(&path, spec)?;
        for i in 0..2400u32 {
            let t = f64::from(i) / 8000.0;
            let sample = (std::f64::consts::TAU * 440.0 * t).sin() * 6000.0;
            w.write_sample(sample as i16)?;
        }
        w.finalize()
    };
    write().map_err(|e| EvalError::Audio(format!("writing {}: {e}", path.display())))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), EvalError> {
    let io = |what: String| move |source| EvalError::Io { what, source };
    let entries = std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if path.is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(io(format!("creating {}", target.display())))?;
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(io(format!("copying {}", path.display())))?;
        }
    }
    Ok(())
}

fn free_udp_port() -> Result<u16, EvalError> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| EvalError::Io {
        what: "finding a free port".into(),
        source,
    })?;
    socket
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| EvalError::Io {
            what: "finding a free port".into(),
            source,
        })
}

/// An even base port with `count` free UDP ports above it.
fn free_rtp_block(count: u16) -> Result<u16, EvalError> {
    for _ in 0..50 {
        let base = 20_000 + (rand::random::<u16>() % 20_000) / 2 * 2;
        let free = (base..base + count).all(|p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok());
        if free {
            return Ok(base);
        }
    }
    Err(EvalError::Server("no free block of RTP ports".into()))
}

#[cfg(test)]
mod tests {
    use super::shorten_prompt;

    #[test]
    fn a_shortened_prompt_is_a_short_audible_beep() {
        let dir = std::env::temp_dir().join(format!("fd-short-{}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("welcome.wav"), b"not even audio").expect("prompt");
        shorten_prompt(&dir, "welcome").expect("shortened");
        let samples = crate::eval::audio::load_wav_8k(&dir.join("welcome.wav")).expect("wav");
        assert_eq!(samples.len(), 2400);
        assert!(crate::eval::audio::rms(&samples) >= crate::eval::audio::AUDIBLE_RMS);
        assert!(shorten_prompt(&dir, "missing").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
