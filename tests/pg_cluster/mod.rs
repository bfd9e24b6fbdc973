//! A throwaway PostgreSQL cluster for tests, started by `scripts/pg-test-cluster.sh` (own data
//! dir under a temp dir, own port on 127.0.0.1, trust auth) and stopped by PID on drop
//! (SIGQUIT, PostgreSQL's immediate shutdown). Shared by `crm_postgres`, `cases_store_stall` and
//! `benches/crm.rs` (by path); can stall the whole server with SIGSTOP.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Where Debian's PostgreSQL 15 lives; tests skip when it is missing.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin/initdb";

/// Whether PostgreSQL 15 is installed (tests that need it skip, saying so, when not).
pub fn postgres_installed() -> bool {
    std::path::Path::new(PG_BIN).exists()
}

/// A running throwaway cluster; stopped by PID (SIGQUIT = immediate shutdown) and deleted on drop.
pub struct Cluster {
    pub dir: PathBuf,
    pub pid: i32,
    pub url: String,
}

impl Cluster {
    /// Starts a cluster; panics (failing the test) with the script's output if it cannot.
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("cluster did not start: {e}"))
    }

    /// Starts a cluster, or says why it could not (for callers that skip instead, e.g. benches).
    pub fn try_start() -> Result<Self, String> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-test-cluster.sh");
        let out = Command::new(script)
            .arg("start")
            .output()
            .map_err(|e| format!("cannot run {script}: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            return Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        }
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
                .ok_or_else(|| format!("no {k} in {text}"))
        };
        Ok(Cluster {
            dir: PathBuf::from(get("PGDIR")?),
            pid: get("PGPID")?
                .parse()
                .map_err(|e| format!("PGPID in {text}: {e}"))?,
            url: get("PGURL")?,
        })
    }

    pub fn url_for(&self, db: &str) -> String {
        self.url.replace("dbname=postgres", &format!("dbname={db}"))
    }

    /// Every process of the cluster: the postmaster and its children (the backends).
    pub fn pids(&self) -> Vec<i32> {
        let mut pids = vec![self.pid];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for e in entries.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                    continue;
                };
                // Fields after the command name, which is in parentheses: state, ppid, …
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok());
                if ppid == Some(self.pid) {
                    pids.push(pid);
                }
            }
        }
        pids
    }

    pub fn signal_all(&self, sig: i32) {
        for pid in self.pids() {
            // SAFETY: sending a signal to a process id has no memory-safety preconditions.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.signal_all(libc::SIGCONT);
        // SAFETY: as above.
        unsafe { libc::kill(self.pid, libc::SIGQUIT) };
        for _ in 0..200 {
            // SAFETY: signal 0 only checks that the process exists.
            if unsafe { libc::kill(self.pid, 0) } != 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Resumes stopped server processes even if an assertion fails while they are stopped.
pub struct Resume<'a>(pub &'a Cluster);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.signal_all(libc::SIGCONT);
    }
}
