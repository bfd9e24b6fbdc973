//! Hostile peers for the security tests: many TCP connections from a chosen loopback address
//! (held idle, or dribbling a message a byte at a time), a paced UDP INVITE flood that counts
//! what it sends and what comes back, and /proc figures (CPU over an interval, RSS, open
//! descriptors) of the server under attack.
//!
//! Binds and sends only to loopback addresses (127.0.0.0/8, all on `lo`).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::HarnessError;
use super::load::{cpu_ticks, status_kib};

/// Raises this process's descriptor limit (soft and hard) to at least `wanted`, so that a
/// test can hold thousands of connections. Returns the soft limit now in force.
pub fn raise_own_nofile(wanted: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < wanted {
            let raised = libc::rlimit {
                rlim_cur: wanted,
                rlim_max: lim.rlim_max.max(wanted),
            };
            // Raising the hard limit needs root; fall back to the hard limit we have.
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                let capped = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &capped);
            }
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Percent of one core the process used over `span` (utime + stime from /proc/PID/stat).
pub fn cpu_percent(pid: u32, span: Duration) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let before = cpu_ticks(pid).unwrap_or(0);
    let started = Instant::now();
    std::thread::sleep(span);
    let after = cpu_ticks(pid).unwrap_or(before);
    let seconds = started.elapsed().as_secs_f64().max(1e-3);
    (after.saturating_sub(before)) as f64 / hz / seconds * 100.0
}

/// Resident size of the process in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS").unwrap_or(0)
}

/// Descriptors the process holds open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Starts a non-blocking TCP connect from `from` (port chosen by the kernel) to `target`.
/// The handshake completes in the background; the socket is returned either way.
pub fn connect_from(from: Ipv4Addr, target: SocketAddr) -> Result<Socket, HarnessError> {
    let io = |what: &str, e| HarnessError::io(what.to_string(), e);
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| io("tcp socket", e))?;
    socket
        .bind(&SockAddr::from(SocketAddrV4::new(from, 0)))
        .map_err(|e| io("binding the attacking socket", e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| io("non-blocking", e))?;
    match socket.connect(&SockAddr::from(target)) {
        Ok(()) => {}
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(io("connecting", e)),
    }
    Ok(socket)
}

/// Opens up to `count` connections from `from`, giving up after `limit`.
pub fn open_connections(
    from: Ipv4Addr,
    target: SocketAddr,
    count: usize,
    limit: Duration,
) -> Vec<Socket> {
    let deadline = Instant::now() + limit;
    let mut sockets = Vec::with_capacity(count);
    while sockets.len() < count && Instant::now() < deadline {
        match connect_from(from, target) {
            Ok(s) => sockets.push(s),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    sockets
}

/// How many of `sockets` the server has closed (a read sees end of stream or a reset).
/// Sockets whose handshake never completed count as not closed.
pub fn closed_by_peer(sockets: &mut [Socket]) -> usize {
    let mut buf = [0u8; 512];
    sockets
        .iter()
        .filter(|s| match (&**s).read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            ),
        })
        .count()
}

/// Sends the next byte of `message` on every socket still open (non-blocking; a failed write
/// marks the socket dead). `sent` is how many bytes went out on each so far.
pub fn dribble_one_byte(sockets: &mut [Socket], sent: &mut [Option<usize>], message: &[u8]) {
    for (socket, progress) in sockets.iter_mut().zip(sent.iter_mut()) {
        let Some(at) = *progress else { continue };
        let Some(byte) = message.get(at) else {
            continue;
        };
        match socket.write(std::slice::from_ref(byte)) {
            Ok(1) => *progress = Some(at + 1),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // Not connected yet: try again next round.
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {}
            Err(_) => *progress = None,
        }
    }
}

/// What a UDP flood sent and got back.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloodTally {
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    pub datagrams_received: u64,
    pub bytes_received: u64,
}

/// Sends `per_second` datagrams a second for `span` from `socket` to `target`, each built by
/// `make(i)`, paced in 10 ms batches, while counting everything that comes back; keeps
/// counting for `drain` after the last one.
pub fn udp_flood(
    socket: &UdpSocket,
    target: SocketAddr,
    per_second: u32,
    span: Duration,
    drain: Duration,
    mut make: impl FnMut(u64) -> Vec<u8>,
) -> FloodTally {
    let mut tally = FloodTally::default();
    let _ = socket.set_nonblocking(true);
    let mut buf = vec![0u8; 65_536];
    let started = Instant::now();
    let total = u64::from(per_second) * span.as_millis() as u64 / 1000;
    let mut receive = |tally: &mut FloodTally| {
        while let Ok(n) = socket.recv(&mut buf) {
            tally.datagrams_received += 1;
            tally.bytes_received += n as u64;
        }
    };
    let mut i = 0u64;
    while i < total {
        // Catch up to where the schedule says we should be (bounded by `total`).
        let due = (started.elapsed().as_secs_f64() * f64::from(per_second)) as u64;
        while i < due.min(total) {
            let datagram = make(i);
            if socket.send_to(&datagram, target).is_ok() {
                tally.datagrams_sent += 1;
                tally.bytes_sent += datagram.len() as u64;
            }
            i += 1;
        }
        receive(&mut tally);
        std::thread::sleep(Duration::from_millis(10));
        if started.elapsed() > span + Duration::from_secs(5) {
            break; // a machine too busy to keep pace: stop rather than run on
        }
    }
    let drain_end = Instant::now() + drain;
    while Instant::now() < drain_end {
        receive(&mut tally);
        std::thread::sleep(Duration::from_millis(10));
    }
    receive(&mut tally);
    tally
}
