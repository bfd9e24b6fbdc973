//! baresip 1.0 as an independent SIP user agent: a caller with a WAV file as microphone that
//! records what it hears, or an auto-answering advisor (account user `agent`).
//!
//! Each instance gets its own config directory (IP-literal account with `regint=0`, no
//! stun/ice/turn, `net_interface 127.0.0.1`, `aufile` source, `sndfile` recorder, `ctrl_tcp`
//! on a free port) and is driven over ctrl_tcp: netstrings carrying JSON commands (`dial`,
//! `sndcode`, `hangup`, `quit`) and events (`CALL_ESTABLISHED`, `CALL_CLOSED`, ...).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::HarnessError;
use super::ports::{free_block, free_port};
use super::process::ChildGuard;
use super::tempdir::TempDir;

/// How a baresip instance is set up.
#[derive(Debug, Clone)]
pub struct BaresipOptions {
    /// Account user: `caller` to dial out, `agent` to act as an advisor.
    pub user: String,
    /// Microphone: an 8 kHz mono 16-bit WAV, padded with silence (aufile hangs up at EOF).
    pub microphone: PathBuf,
    /// Answer incoming calls automatically.
    pub auto_answer: bool,
    /// `PCMU` or `PCMA`.
    pub codec: String,
}

impl BaresipOptions {
    /// A caller with `microphone` offering PCMU.
    pub fn caller(microphone: &Path) -> BaresipOptions {
        BaresipOptions {
            user: "caller".into(),
            microphone: microphone.to_path_buf(),
            auto_answer: false,
            codec: "PCMU".into(),
        }
    }

    /// An auto-answering advisor `agent` with `microphone`.
    pub fn advisor(microphone: &Path) -> BaresipOptions {
        BaresipOptions {
            user: "agent".into(),
            microphone: microphone.to_path_buf(),
            auto_answer: true,
            codec: "PCMU".into(),
        }
    }
}

/// One ctrl_tcp event, with the fields tests look at.
#[derive(Debug, Clone, PartialEq)]
pub struct BaresipEvent {
    /// e.g. `CALL_ESTABLISHED`.
    pub kind: String,
    /// The event's `param` (peer URI, DTMF key, close reason...).
    pub param: String,
    /// The whole JSON object.
    pub json: serde_json::Value,
}

/// A running baresip.
#[derive(Debug)]
pub struct Baresip {
    child: ChildGuard,
    dir: TempDir,
    sip: SocketAddrV4,
    control: TcpStream,
    buffer: Vec<u8>,
    events: Vec<BaresipEvent>,
}

impl Baresip {
    /// Writes the config and starts baresip; returns once ctrl_tcp accepts a connection.
    pub fn start(options: &BaresipOptions) -> Result<Baresip, HarnessError> {
        let dir = TempDir::new("baresip")?;
        // baresip also listens for SIP over TLS on the port after `sip_listen`'s.
        let (sip_port, _) = free_block(2, 2)?;
        let control_port = free_port()?;
        let (rtp_low, rtp_high) = free_block(20, 2)?;
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{sip_port}\n\
             sip_trans_def\t\tudp\n\
             call_local_timeout\t120\n\
             call_max_calls\t\t4\n\
             audio_player\t\talsa,null\n\
             audio_alert\t\talsa,null\n\
             audio_source\t\taufile,{mic}\n\
             audio_srate\t\t8000\n\
             audio_channels\t\t1\n\
             rtp_ports\t\t{rtp_low}-{rtp_high}\n\
             net_interface\t\t127.0.0.1\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module\t\t\tsndfile.so\n\
             module_app\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t127.0.0.1:{control_port}\n\
             snd_path\t\t{recordings}\n",
            mic = options.microphone.display(),
            recordings = dir.path().display(),
        );
        let answer = if options.auto_answer {
            "auto"
        } else {
            "manual"
        };
        // An IP-literal account that never registers (RFC 3261 §10 is not needed here).
        let accounts = format!(
            "<sip:{}@127.0.0.1>;regint=0;answermode={answer};audio_codecs={}\n",
            options.user, options.codec
        );
        std::fs::write(dir.join("config"), config)
            .map_err(|e| HarnessError::io("writing baresip config", e))?;
        std::fs::write(dir.join("accounts"), accounts)
            .map_err(|e| HarnessError::io("writing baresip accounts", e))?;
        let log = std::fs::File::create(dir.join("baresip.log"))
            .map_err(|e| HarnessError::io("creating baresip log", e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| HarnessError::io("cloning baresip log", e))?;
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                program: "baresip".into(),
                source,
            })?;
        let mut child = ChildGuard::new("baresip", child);
        let control_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, control_port));
        let deadline = Instant::now() + Duration::from_secs(10);
        let control = loop {
            if let Some(status) = child.try_status() {
                return Err(HarnessError::ExitedEarly {
                    program: "baresip".into(),
                    status: status.to_string(),
                    log_tail: std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default(),
                });
            }
            if let Ok(stream) =
                TcpStream::connect_timeout(&control_addr, Duration::from_millis(200))
            {
                break stream;
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: "baresip ctrl_tcp".into(),
                    seconds: 10.0,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(Baresip {
            child,
            dir,
            sip: SocketAddrV4::new(Ipv4Addr::LOCALHOST, sip_port),
            control,
            buffer: Vec::new(),
            events: Vec::new(),
        })
    }

    /// baresip's SIP address (dial `sip:agent@<this>` to reach an advisor).
    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.sip)
    }

    /// Directory holding config, log and `dump-*-{dec,enc}.wav` recordings.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Sends a command; returns its response (`ok`, `data`) once it arrives, keeping any
    /// events that come first.
    pub fn command(
        &mut self,
        command: &str,
        params: &str,
    ) -> Result<serde_json::Value, HarnessError> {
        let token = format!("{command}-{}", self.events.len());
        let body =
            serde_json::json!({ "command": command, "params": params, "token": token }).to_string();
        let frame = format!("{}:{},", body.len(), body);
        self.control
            .write_all(frame.as_bytes())
            .map_err(|e| HarnessError::io("writing to baresip ctrl_tcp", e))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let message = self.next_message(deadline)?;
            if message.get("response").and_then(|v| v.as_bool()) == Some(true) {
                if message.get("ok").and_then(|v| v.as_bool()) != Some(true) {
                    return Err(HarnessError::BaresipControl(format!(
                        "{command} {params}: {message}"
                    )));
                }
                return Ok(message);
            }
            self.record_event(message);
        }
    }

    /// `dial <uri>`.
    pub fn dial(&mut self, uri: &str) -> Result<(), HarnessError> {
        self.command("dial", uri).map(|_| ())
    }

    /// Sends DTMF keys one command each, 250 ms apart (baresip sends RFC 4733 only if the
    /// answer included telephone-event).
    pub fn send_digits(&mut self, digits: &str) -> Result<(), HarnessError> {
        for digit in digits.chars() {
            self.command("sndcode", &digit.to_string())?;
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    /// `hangup` of the current call.
    pub fn hangup(&mut self) -> Result<(), HarnessError> {
        self.command("hangup", "").map(|_| ())
    }

    /// Waits for an event of `kind` (also one received earlier and not yet consumed).
    pub fn wait_event(
        &mut self,
        kind: &str,
        limit: Duration,
    ) -> Result<BaresipEvent, HarnessError> {
        if let Some(i) = self.events.iter().position(|e| e.kind == kind) {
            return Ok(self.events.remove(i));
        }
        let deadline = Instant::now() + limit;
        loop {
            let message = self
                .next_message(deadline)
                .map_err(|_| HarnessError::Timeout {
                    what: format!("baresip event {kind}"),
                    seconds: limit.as_secs_f64(),
                })?;
            if message.get("event").and_then(|v| v.as_bool()) == Some(true) {
                let event = to_event(message);
                if event.kind == kind {
                    return Ok(event);
                }
                self.events.push(event);
            }
        }
    }

    /// Events received and not consumed by [`Baresip::wait_event`].
    pub fn pending_events(&self) -> &[BaresipEvent] {
        &self.events
    }

    /// Recordings of what baresip heard (`dump-*-dec.wav`), oldest first.
    pub fn heard_recordings(&self) -> Vec<PathBuf> {
        self.recordings("-dec.wav")
    }

    /// Recordings of what baresip sent (`dump-*-enc.wav`), oldest first.
    pub fn sent_recordings(&self) -> Vec<PathBuf> {
        self.recordings("-enc.wav")
    }

    fn recordings(&self, suffix: &str) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with(suffix))
            })
            .collect();
        found.sort();
        found
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }

    /// Asks baresip to quit (which also finalises recordings), stops it by PID if it does
    /// not, and hands back its directory so the recordings outlive the process.
    pub fn quit(mut self) -> TempDir {
        let _ = self.command("quit", "");
        if self.child.wait_timeout(Duration::from_secs(5)).is_err() {
            self.child.stop_with(libc::SIGTERM, Duration::from_secs(3));
        }
        self.dir
    }

    fn record_event(&mut self, message: serde_json::Value) {
        if message.get("event").and_then(|v| v.as_bool()) == Some(true) {
            self.events.push(to_event(message));
        }
    }

    /// Reads the next netstring-framed JSON message.
    fn next_message(&mut self, deadline: Instant) -> Result<serde_json::Value, HarnessError> {
        loop {
            if let Some((message, used)) = parse_netstring(&self.buffer) {
                self.buffer.drain(..used);
                match serde_json::from_slice(&message) {
                    Ok(value) => return Ok(value),
                    Err(_) => continue,
                }
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| HarnessError::Timeout {
                    what: "baresip ctrl_tcp message".into(),
                    seconds: 0.0,
                })?;
            let _ = self
                .control
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let mut chunk = [0u8; 8192];
            match self.control.read(&mut chunk) {
                Ok(0) => return Err(HarnessError::BaresipControl("ctrl_tcp closed".into())),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            // A signal to the test process (a child exiting) interrupts the
                            // read; it is not an error of the control connection.
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(HarnessError::io("reading baresip ctrl_tcp", e)),
            }
        }
    }
}

fn to_event(json: serde_json::Value) -> BaresipEvent {
    let field = |name: &str| {
        json.get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    BaresipEvent {
        kind: field("type"),
        param: field("param"),
        json,
    }
}

/// Splits one netstring (`<len>:<bytes>,`) off the front of `buffer`: the payload and the
/// bytes consumed. `None` until a whole one has arrived. A malformed length is skipped past
/// its `:` so a garbled stream cannot stall the reader forever.
pub fn parse_netstring(buffer: &[u8]) -> Option<(Vec<u8>, usize)> {
    let colon = buffer.iter().position(|&b| b == b':')?;
    let Some(len) = std::str::from_utf8(&buffer[..colon])
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
    else {
        return Some((Vec::new(), colon + 1));
    };
    let end = colon + 1 + len;
    let payload = buffer.get(colon + 1..end)?.to_vec();
    let used = if buffer.get(end) == Some(&b',') {
        end + 1
    } else {
        end
    };
    if buffer.len() <= end {
        return None;
    }
    Some((payload, used))
}
