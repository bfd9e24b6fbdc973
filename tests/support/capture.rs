//! Packet capture on loopback with `tcpdump`, started before a call and stopped (SIGINT, so
//! it flushes) after. `--immediate-mode -U` is required: without it the end of the capture is
//! lost. Needs root or CAP_NET_RAW (the CI and dev machines run tests as root).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::HarnessError;
use super::pcap::{UdpDatagram, read_udp_file};
use super::process::ChildGuard;

/// What to capture.
#[derive(Debug, Clone)]
pub struct CaptureSpec {
    /// BPF filter, e.g. `udp and portrange 30000-30099`.
    pub filter: String,
    /// Bytes kept per packet; 0 = whole packets. 96 is enough for RTP header analysis.
    pub snaplen: u32,
    /// Kernel buffer in KiB (`-B`); raise it for load tests so nothing is dropped.
    pub buffer_kib: u32,
}

impl CaptureSpec {
    /// Every UDP packet to or from ports `low..=high`, whole.
    pub fn udp_ports(low: u16, high: u16) -> CaptureSpec {
        CaptureSpec {
            filter: format!("udp and portrange {low}-{high}"),
            snaplen: 0,
            buffer_kib: 8 * 1024,
        }
    }
}

/// A running tcpdump writing to a file.
#[derive(Debug)]
pub struct Capture {
    child: ChildGuard,
    path: PathBuf,
    stderr_lines: mpsc::Receiver<String>,
}

impl Capture {
    /// Starts tcpdump on `lo` and returns once it reports that it is listening.
    pub fn start(spec: &CaptureSpec, path: &Path) -> Result<Capture, HarnessError> {
        let snaplen = spec.snaplen.to_string();
        let buffer = spec.buffer_kib.to_string();
        Self::spawn(
            &["--immediate-mode", "-U", "-s", &snaplen, "-B", &buffer],
            &spec.filter,
            path,
        )
    }

    /// Like [`Capture::start`] but buffered, not immediate mode, 96-byte snaplen (RTP headers),
    /// for load tests. In immediate mode tcpdump is woken for every packet, and on loopback that
    /// wake-up runs in the *sender's* `sendto`: at 1,000 calls it added about a sixth of a core
    /// to Frontdoor's measured CPU and preempted its sends. Buffered, the kernel hands tcpdump
    /// whole blocks; the last block reaches the file by its timeout, which has passed when the
    /// capture stops if the caller waits a few seconds after the last packet.
    pub fn start_buffered(filter: &str, path: &Path) -> Result<Capture, HarnessError> {
        Self::spawn(&["-s", "96", "-B", "262144"], filter, path)
    }

    fn spawn(options: &[&str], filter: &str, path: &Path) -> Result<Capture, HarnessError> {
        let mut command = Command::new("tcpdump");
        command
            .args(["-i", "lo", "-n"])
            .args(options)
            .arg("-w")
            .arg(path)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
            program: "tcpdump".into(),
            source,
        })?;
        let stderr = child.stderr.take();
        let mut guard = ChildGuard::new("tcpdump", child);
        let (tx, rx) = mpsc::channel();
        if let Some(stderr) = stderr {
            // Drains stderr for the process's lifetime so tcpdump never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line.contains("listening on") => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let status = guard
                        .try_status()
                        .map_or_else(|| "still running".to_string(), |s| s.to_string());
                    return Err(HarnessError::ExitedEarly {
                        program: "tcpdump (never said it was listening)".into(),
                        status,
                        log_tail: seen.join("\n"),
                    });
                }
            }
        }
        Ok(Capture {
            child: guard,
            path: path.to_path_buf(),
            stderr_lines: rx,
        })
    }

    /// Stops tcpdump (SIGINT flushes the file) and reads the UDP datagrams captured.
    pub fn stop(mut self) -> Result<Vec<UdpDatagram>, HarnessError> {
        // Give in-flight packets on loopback a moment to be written.
        std::thread::sleep(Duration::from_millis(100));
        self.child.stop_with(libc::SIGINT, Duration::from_secs(10));
        let dropped: Vec<String> = self
            .stderr_lines
            .try_iter()
            .filter(|l| l.contains("dropped by kernel") && !l.starts_with("0 "))
            .collect();
        if !dropped.is_empty() {
            eprintln!("tcpdump: {}", dropped.join("; "));
        }
        read_udp_file(&self.path)
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
