//! Starts `frontdoor serve` for a test: free SIP port and RTP range, a temporary directory
//! with config, flows, prompts and data, stdout/stderr to a log file, readiness by UDP
//! OPTIONS → 200, and kill-by-PID on drop (also when the test panics).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::HarnessError;
use super::ports::{free_block, free_port};
use super::process::ChildGuard;
use super::sip_probe::wait_for_options_200;
use super::tempdir::TempDir;

/// What the server is started with. Unset directories are created empty.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Contents of `frontdoor.yaml`; `None` starts without `--config` (all defaults).
    pub config_yaml: Option<String>,
    /// Flow files to write into the flows directory: (file name, contents).
    pub flows: Vec<(String, String)>,
    /// Copy these files into the prompts directory (prompts are looked up by file name).
    pub prompts: Vec<PathBuf>,
    /// Use this directory as `--flows` instead (e.g. the repo's `call-flows/`).
    pub flows_dir: Option<PathBuf>,
    /// Use this directory as `--prompts` instead (e.g. the repo's `audio-prompts/`).
    pub prompts_dir: Option<PathBuf>,
    /// RTP ports to reserve (an even count; two per call).
    pub rtp_ports: u16,
    /// Extra CLI arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// How long to wait for the OPTIONS probe.
    pub ready_within: Duration,
    /// Start the server under this descriptor limit (soft and hard `RLIMIT_NOFILE`), as a
    /// service manager would; `None` inherits the test's.
    pub nofile: Option<u64>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            config_yaml: None,
            flows: Vec::new(),
            prompts: Vec::new(),
            flows_dir: None,
            prompts_dir: None,
            rtp_ports: 100,
            args: Vec::new(),
            env: Vec::new(),
            ready_within: Duration::from_secs(20),
            nofile: None,
        }
    }
}

/// A running `frontdoor serve`; stopped (SIGTERM, then SIGKILL) on drop.
#[derive(Debug)]
pub struct ServerGuard {
    child: ChildGuard,
    dir: TempDir,
    sip_port: u16,
    rtp: (u16, u16),
    log: PathBuf,
    launch: Launch,
}

/// How the server process is started, kept so that [`ServerGuard::kill_and_restart`] can start
/// the same server again (same ports, config and data directory).
#[derive(Debug, Clone)]
struct Launch {
    binary: PathBuf,
    args: Vec<std::ffi::OsString>,
    env: Vec<(String, String)>,
    ready_within: Duration,
    nofile: Option<u64>,
}

/// Names a prebuilt server binary to test instead of Cargo's (e.g. when several worktrees
/// share one target directory and overwrite each other's `debug/frontdoor`).
pub const SERVER_BINARY_ENV: &str = "FRONTDOOR_TEST_SERVER_BINARY";

/// The frontdoor binary Cargo built for this test run, unless [`SERVER_BINARY_ENV`] names
/// another.
pub fn frontdoor_binary() -> PathBuf {
    std::env::var_os(SERVER_BINARY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_frontdoor")))
}

impl ServerGuard {
    /// Starts the server and waits until it answers OPTIONS with 200.
    pub fn start(options: ServerOptions) -> Result<ServerGuard, HarnessError> {
        Self::start_binary(&frontdoor_binary(), options)
    }

    /// As [`ServerGuard::start`] with another build of the binary (e.g. release, for load).
    pub fn start_binary(
        binary: &Path,
        options: ServerOptions,
    ) -> Result<ServerGuard, HarnessError> {
        let dir = TempDir::new("server")?;
        let io = |what: &str, e| HarnessError::io(what.to_string(), e);
        let flows = match &options.flows_dir {
            Some(path) => path.clone(),
            None => {
                let path = dir.join("flows");
                std::fs::create_dir_all(&path).map_err(|e| io("creating flows dir", e))?;
                for (name, contents) in &options.flows {
                    std::fs::write(path.join(name), contents)
                        .map_err(|e| io("writing a flow", e))?;
                }
                path
            }
        };
        let prompts = match &options.prompts_dir {
            Some(path) => path.clone(),
            None => {
                let path = dir.join("prompts");
                std::fs::create_dir_all(&path).map_err(|e| io("creating prompts dir", e))?;
                for source in &options.prompts {
                    let name = source.file_name().ok_or_else(|| HarnessError::Command {
                        command: "staging prompts".into(),
                        detail: format!("{} has no file name", source.display()),
                    })?;
                    std::fs::copy(source, path.join(name))
                        .map_err(|e| io("copying a prompt", e))?;
                }
                path
            }
        };
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| io("creating data dir", e))?;
        let sip_port = free_port()?;
        let rtp = free_block(options.rtp_ports.max(2).next_multiple_of(2), 2)?;
        let log = dir.join("frontdoor.log");
        let mut args: Vec<std::ffi::OsString> = vec!["serve".into()];
        if let Some(yaml) = &options.config_yaml {
            let config = dir.join("frontdoor.yaml");
            std::fs::write(&config, yaml).map_err(|e| io("writing config", e))?;
            args.push("--config".into());
            args.push(config.into());
        }
        args.extend([
            "--listen".into(),
            format!("127.0.0.1:{sip_port}").into(),
            "--rtp-ports".into(),
            format!("{}-{}", rtp.0, rtp.1).into(),
            "--flows".into(),
            flows.into(),
            "--prompts".into(),
            prompts.into(),
            "--data".into(),
            data.into(),
        ]);
        args.extend(options.args.iter().map(Into::into));
        let launch = Launch {
            binary: binary.to_path_buf(),
            args,
            env: options.env.clone(),
            ready_within: options.ready_within,
            nofile: options.nofile,
        };
        let child = spawn(&launch, dir.path(), &log)?;
        let mut server = ServerGuard {
            child,
            dir,
            sip_port,
            rtp,
            log,
            launch,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Waits for the OPTIONS probe; on failure, says how the process ended and shows its log.
    fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let target = self.sip_addr();
        let child = &mut self.child;
        let ready = wait_for_options_200(target, self.launch.ready_within, || {
            child.try_status().is_none()
        });
        if let Err(e) = ready {
            let status = self
                .child
                .try_status()
                .map_or_else(|| format!("running but not ready: {e}"), |s| s.to_string());
            return Err(HarnessError::ExitedEarly {
                program: "frontdoor serve".into(),
                status,
                log_tail: self.log_tail(4000),
            });
        }
        Ok(())
    }

    /// SIGKILLs the server by PID (no chance to flush or finish anything), waits until it is
    /// gone, then starts the same server again — same ports, config, flows and data directory —
    /// and waits until it answers OPTIONS. The log file is appended to, not truncated.
    pub fn kill_and_restart(&mut self) -> Result<(), HarnessError> {
        self.child.stop_with(libc::SIGKILL, Duration::from_secs(5));
        self.child = spawn(&self.launch, self.dir.path(), &self.log)?;
        self.wait_ready()
    }

    /// SIP address (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.sip_port))
    }

    /// SIP port.
    pub fn sip_port(&self) -> u16 {
        self.sip_port
    }

    /// The RTP port range given to the server, inclusive.
    pub fn rtp_range(&self) -> (u16, u16) {
        self.rtp
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The server's working directory (config, flows, prompts, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `frontdoor records --data DIR export` for this server's store (the server's own config
    /// says which: a PostgreSQL store is not in the data directory), as JSON:
    /// `{"cases": [...], "calls": [...]}`. Panics when the export fails.
    pub fn export_records(&self) -> serde_json::Value {
        let mut command = Command::new(frontdoor_binary());
        command.arg("records");
        let config = self.dir().join("frontdoor.yaml");
        if config.exists() {
            command.arg("--config").arg(config);
        }
        let output = command
            .arg("--data")
            .arg(self.dir().join("data"))
            .arg("export")
            .output()
            .expect("records export runs");
        assert!(
            output.status.success(),
            "records export failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "records export is not JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// The server's PID (for /proc sampling).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Whether the server process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_status().is_none()
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `max` bytes of the log (for assertion messages).
    pub fn log_tail(&self, max: usize) -> String {
        let log = self.log();
        let start = log.len().saturating_sub(max);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[start..].to_string()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the server by PID, if it still runs.
    pub fn signal(&mut self, signal: libc::c_int) {
        self.child.signal(signal);
    }

    /// Waits up to `limit` for the server to exit by itself; its exit status.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<std::process::ExitStatus, HarnessError> {
        self.child.wait_timeout(limit)
    }

    /// Stops the server gracefully (SIGTERM, 5 s) and returns whether it exited cleanly.
    pub fn stop(mut self) -> bool {
        self.child
            .stop_with(libc::SIGTERM, Duration::from_secs(5))
            .is_some_and(|s| s.success())
    }
}

/// Starts one server process for `launch` in `dir`, appending stdout and stderr to `log`.
fn spawn(launch: &Launch, dir: &Path, log: &Path) -> Result<ChildGuard, HarnessError> {
    let io = |what: &str, e| HarnessError::io(what.to_string(), e);
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| io("opening server log", e))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| io("cloning server log", e))?;
    let mut command = Command::new(&launch.binary);
    command.args(&launch.args);
    // The CLI reads FRONTDOOR_* overrides: none may leak in from the test's environment.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FRONTDOOR_") {
            command.env_remove(key);
        }
    }
    command
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    if let Some(limit) = launch.nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    // A test's own RUST_LOG (in the launch's env) wins over the default.
    if std::env::var_os("RUST_LOG").is_none() && !launch.env.iter().any(|(k, _)| k == "RUST_LOG") {
        command.env("RUST_LOG", "info");
    }
    let child = command.spawn().map_err(|source| HarnessError::Spawn {
        program: launch.binary.display().to_string(),
        source,
    })?;
    Ok(ChildGuard::new("frontdoor", child))
}
