//! TCP cannot be used to exhaust the server: 5,000 idle connections from a source off the
//! allow-list (127.0.0.2) and 500 connections from an allowed source (127.0.0.3) that dribble
//! a request a byte at a time, against a server running under a service's usual descriptor
//! limit (1,024). Meanwhile UDP calls from 127.0.0.1 must still be answered and carried, the
//! allowed peer's TCP OPTIONS must still be answered, the log must stay small, and the
//! server's CPU must return to idle. Also: a peer that pipelines requests and never reads
//! the responses is disconnected rather than queued for without bound. With short timeouts, a
//! silent connection, one holding half a message, and one idle after its OPTIONS are closed on
//! time while one sending CRLF keep-alives stays open. Out of descriptors (accept fails with
//! EMFILE), the listener backs off: little CPU, a rate-limited warning, and service again
//! once connections close. Prints the figures.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use support::attack::{
    closed_by_peer, connect_from, cpu_percent, dribble_one_byte, open_connections, open_fds,
    raise_own_nofile,
};
use support::demo::demo_server_options;
use support::server::{ServerGuard, ServerOptions};
use support::sip_probe::{
    RawSipUdp, complete_message_len, options_request, status_code, tcp_exchange,
};
use support::sipp::{Scenario, Sipp};

const IDLE_CONNECTIONS: usize = 5_000;
const SLOW_CONNECTIONS: usize = 500;
/// The descriptor limit systemd gives a service by default (soft).
const SERVICE_NOFILE: u64 = 1024;
const MAX_CALLS: u32 = 20;

fn start_server() -> ServerGuard {
    start_server_limited(Some(SERVICE_NOFILE))
}

fn start_server_limited(nofile: Option<u64>) -> ServerGuard {
    let yaml = "allowed_sources: [127.0.0.1/32, 127.0.0.3/32]\n\
                trusted_identity_sources: [127.0.0.1/32]\n";
    start_server_with(yaml, MAX_CALLS, nofile)
}

/// The demo menu with `yaml` as its config, `max_calls` and an optional descriptor limit.
fn start_server_with(yaml: &str, max_calls: u32, nofile: Option<u64>) -> ServerGuard {
    ServerGuard::start(ServerOptions {
        nofile,
        ..demo_server_options(max_calls, Some(yaml))
    })
    .expect("frontdoor serve starts")
}

/// An OPTIONS over a new TCP connection from 127.0.0.1; the status, if one came back.
fn tcp_options(target: SocketAddr) -> Option<u16> {
    let local: SocketAddr = "127.0.0.1:5999".parse().ok()?;
    let reply = tcp_exchange(
        target,
        &options_request(target, local, "TCP"),
        Duration::from_secs(5),
    )
    .ok()?;
    status_code(&reply)
}

#[test]
fn idle_and_slow_tcp_connections_leave_udp_calls_and_tcp_options_working() {
    // The attacker side holds 5,500 sockets.
    let own = raise_own_nofile(16_384);
    assert!(own >= 8_192, "the test needs ~6,000 descriptors, has {own}");
    let server = start_server();
    let pid = server.pid();
    let target = server.sip_addr();
    assert_eq!(
        tcp_options(target),
        Some(200),
        "TCP OPTIONS before the attack"
    );
    let log_before = server.log().len();
    let fds_before = open_fds(pid);

    let started = Instant::now();
    let mut idle = open_connections(
        Ipv4Addr::new(127, 0, 0, 2),
        target,
        IDLE_CONNECTIONS,
        Duration::from_secs(20),
    );
    let mut slow = open_connections(
        Ipv4Addr::new(127, 0, 0, 3),
        target,
        SLOW_CONNECTIONS,
        Duration::from_secs(10),
    );
    eprintln!(
        "opened {} idle connections from 127.0.0.2 and {} slow ones from 127.0.0.3 in {:.1} s",
        idle.len(),
        slow.len(),
        started.elapsed().as_secs_f64()
    );
    // The slow peers send a request one byte every 100 ms (a whole one would take ~30 s).
    let slow_request = options_request(target, "127.0.0.3:5999".parse().unwrap(), "TCP");
    let mut progress: Vec<Option<usize>> = vec![Some(0); slow.len()];
    let dribble_for =
        |slow: &mut Vec<socket2::Socket>, progress: &mut Vec<Option<usize>>, span: Duration| {
            let end = Instant::now() + span;
            while Instant::now() < end {
                dribble_one_byte(slow, progress, &slow_request);
                std::thread::sleep(Duration::from_millis(100));
            }
        };
    dribble_for(&mut slow, &mut progress, Duration::from_secs(2));
    let fds_under_attack = open_fds(pid);

    // UDP calls from the allowed PBX address while the attack holds.
    let calls = Sipp::uac(Scenario::BuiltIn("uac".into()), target)
        .calls(10)
        .concurrent(10)
        .rate(10, 1000)
        .pause(Duration::from_millis(500))
        .timeout(Duration::from_secs(20))
        .spawn()
        .expect("sipp starts");
    let calls_started = Instant::now();
    // Keep dribbling while sipp runs (bounded by sipp's own timeout).
    dribble_for(&mut slow, &mut progress, Duration::from_secs(3));
    let tcp_status = tcp_options(target);
    let calls = calls.wait().expect("sipp finishes");
    eprintln!(
        "UDP calls under attack: {:?} (sipp exit {:?}) in {:.1} s",
        calls.stats,
        calls.exit_code,
        calls_started.elapsed().as_secs_f64()
    );
    eprintln!("TCP OPTIONS from 127.0.0.1 under attack: {tcp_status:?}");
    let cpu_under_attack = cpu_percent(pid, Duration::from_secs(1));

    // The slow requests must be cut off (message deadline), not held while they dribble.
    let slow_deadline = Instant::now() + Duration::from_secs(15);
    let mut slow_closed = closed_by_peer(&mut slow);
    while slow_closed < slow.len() && Instant::now() < slow_deadline {
        dribble_for(&mut slow, &mut progress, Duration::from_secs(1));
        slow_closed = closed_by_peer(&mut slow);
    }
    let idle_closed = closed_by_peer(&mut idle);
    eprintln!(
        "closed by the server: {idle_closed}/{} idle, {slow_closed}/{} slow ({:.1} s after the attack began)",
        idle.len(),
        slow.len(),
        started.elapsed().as_secs_f64()
    );
    let log_growth = server.log().len().saturating_sub(log_before);
    eprintln!(
        "server descriptors: {fds_before} before, {fds_under_attack} under attack; \
         CPU under attack {cpu_under_attack:.1}% of a core; log grew {log_growth} bytes"
    );

    let (idle_count, slow_count) = (idle.len(), slow.len());
    drop(idle);
    drop(slow);
    std::thread::sleep(Duration::from_secs(2));
    let cpu_after = cpu_percent(pid, Duration::from_secs(1));
    let tcp_after = tcp_options(target);
    eprintln!("after the attack: CPU {cpu_after:.1}% of a core, TCP OPTIONS {tcp_after:?}");

    assert!(
        calls.all_calls_ok() && calls.stats.successful == 10,
        "UDP calls failed under the TCP attack: {}\n{}",
        calls.diagnostics(),
        server.log_tail(3000)
    );
    assert_eq!(tcp_status, Some(200), "allowed TCP OPTIONS under attack");
    assert!(
        log_growth < 1_000_000,
        "log grew {log_growth} bytes:\n{}",
        server.log_tail(2000)
    );
    assert!(
        cpu_under_attack < 25.0,
        "server busy while merely holding idle connections: {cpu_under_attack:.1}%"
    );
    assert!(cpu_after < 15.0, "CPU not back to idle: {cpu_after:.1}%");
    assert_eq!(tcp_after, Some(200), "TCP OPTIONS after the attack");
    assert!(idle_count > 0 && slow_count > 0);
    assert_eq!(
        slow_closed, slow_count,
        "connections dribbling a request were not all closed"
    );
}

#[test]
fn a_peer_that_never_reads_its_responses_is_disconnected() {
    use std::io::{Read, Write};
    let server = start_server_limited(None);
    let target = server.sip_addr();
    // A small receive window, so that what the server sends backs up at once.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("tcp socket");
    socket.set_recv_buffer_size(4096).expect("receive buffer");
    socket
        .connect_timeout(&target.into(), Duration::from_secs(2))
        .expect("connect");
    let mut stream: std::net::TcpStream = socket.into();
    let local = stream.local_addr().expect("local address");
    let requests: Vec<u8> = (0..300)
        .flat_map(|_| options_request(target, local, "TCP"))
        .collect();
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("write timeout");
    let written = stream.write_all(&requests).is_ok();
    let started = Instant::now();
    // Never read while the server would be queueing; then see whether it hung up.
    std::thread::sleep(Duration::from_secs(12));
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("read timeout");
    let mut received = 0usize;
    let mut buf = [0u8; 65_536];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                break matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                );
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            break false;
        }
    };
    eprintln!(
        "pipelined 300 OPTIONS (all written: {written}), never read for 12 s: {received} bytes \
         of responses were waiting, connection closed by the server: {closed}"
    );
    assert!(
        closed,
        "a peer that never reads kept its connection (and its queue)"
    );
    assert_eq!(
        tcp_options(target),
        Some(200),
        "other TCP peers still served"
    );
}

/// Timeouts short enough to watch: a connection idle for 2 s is closed, a message begun must
/// be complete within 1.5 s.
const SHORT_TIMEOUTS_YAML: &str = "allowed_sources: [127.0.0.1/32]\n\
                                   trusted_identity_sources: [127.0.0.1/32]\n\
                                   tcp: {idle_timeout_secs: 2, message_timeout_ms: 1500}\n";

/// A TCP connection from 127.0.0.1 (an allowed source) to `target`.
fn connect_allowed(target: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(5))
        .expect("tcp connect from 127.0.0.1");
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .expect("write timeout");
    stream
}

/// Whether a read result means the server closed the connection (end of stream or reset).
fn read_says_closed(read: &std::io::Result<usize>) -> Option<bool> {
    match read {
        Ok(0) => Some(true),
        Ok(_) => Some(false),
        Err(e) => match e.kind() {
            std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted => None,
            // A reset, or any other failure: the connection is gone.
            _ => Some(true),
        },
    }
}

/// Reads (discarding data) until the server closes `stream` or `limit` passes; how long after
/// `since` the close was seen.
fn wait_for_close(
    stream: &mut std::net::TcpStream,
    since: Instant,
    limit: Duration,
) -> Option<Duration> {
    use std::io::Read;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let slice = left.clamp(Duration::from_millis(1), Duration::from_millis(100));
        stream.set_read_timeout(Some(slice)).ok()?;
        if read_says_closed(&stream.read(&mut buf)) == Some(true) {
            return Some(since.elapsed());
        }
    }
    None
}

/// Whether the server has closed `stream` (checked without waiting).
fn closed_now(stream: &mut std::net::TcpStream) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    // Data (a keep-alive answer) is drained, a bounded number of reads at most.
    let mut closed = false;
    for _ in 0..64 {
        match read_says_closed(&stream.read(&mut buf)) {
            Some(false) => continue,
            Some(true) => closed = true,
            None => {}
        }
        break;
    }
    let _ = stream.set_nonblocking(false);
    closed
}

/// A measured close time for the report line.
fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(
        || "not closed".into(),
        |d| format!("{:.2} s", d.as_secs_f64()),
    )
}

#[test]
fn idle_and_unfinished_tcp_connections_are_closed_and_keepalives_hold_one_open() {
    use std::io::Write;
    let server = start_server_with(SHORT_TIMEOUTS_YAML, MAX_CALLS, None);
    let target = server.sip_addr();
    // Every wait below is bounded by this (the timeouts are 1.5 s and 2 s).
    const CLOSE_WITHIN: Duration = Duration::from_secs(10);
    const KEEPALIVE_FOR: Duration = Duration::from_secs(5);

    let (silent, half, keepalive, options) = std::thread::scope(|scope| {
        // (a) Connects and sends nothing.
        let silent = scope.spawn(|| {
            let mut stream = connect_allowed(target);
            wait_for_close(&mut stream, Instant::now(), CLOSE_WITHIN)
        });
        // (b) Sends the headers of an OPTIONS but never the blank line that ends them.
        let half = scope.spawn(|| {
            let mut stream = connect_allowed(target);
            let local = stream.local_addr().expect("local address");
            let request = options_request(target, local, "TCP");
            let headers_only = request.strip_suffix(b"\r\n\r\n").unwrap_or(&request);
            stream.write_all(headers_only).expect("headers sent");
            wait_for_close(&mut stream, Instant::now(), CLOSE_WITHIN)
        });
        // (c) Sends a CRLF keep-alive (RFC 5626 §4.4.1) every 500 ms for 5 s, then stops.
        let keepalive = scope.spawn(|| {
            let mut stream = connect_allowed(target);
            let started = Instant::now();
            let mut last_ping = Instant::now();
            let mut closed_early = None;
            while started.elapsed() < KEEPALIVE_FOR {
                if closed_now(&mut stream) || stream.write_all(b"\r\n\r\n").is_err() {
                    closed_early = Some(started.elapsed());
                    break;
                }
                last_ping = Instant::now();
                std::thread::sleep(Duration::from_millis(500));
            }
            let open_after_keepalives = closed_early.is_none() && !closed_now(&mut stream);
            // Once the keep-alives stop it idles out like any other connection.
            let idled_out = wait_for_close(&mut stream, last_ping, CLOSE_WITHIN);
            (closed_early, open_after_keepalives, idled_out)
        });
        // (d) Completes an OPTIONS, gets its answer, then stays silent.
        let options = scope.spawn(|| {
            use std::io::Read;
            let mut stream = connect_allowed(target);
            let local = stream.local_addr().expect("local address");
            stream
                .write_all(&options_request(target, local, "TCP"))
                .expect("OPTIONS sent");
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut reply = Vec::new();
            let mut buf = [0u8; 4096];
            while complete_message_len(&reply).is_none() {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    break;
                };
                let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
                match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => reply.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let answered = Instant::now();
            let status = status_code(&reply);
            (status, wait_for_close(&mut stream, answered, CLOSE_WITHIN))
        });
        (
            silent.join().expect("silent peer"),
            half.join().expect("half-message peer"),
            keepalive.join().expect("keep-alive peer"),
            options.join().expect("OPTIONS peer"),
        )
    });
    let (keepalive_closed_early, keepalive_open, keepalive_idled_out) = keepalive;
    let (options_status, options_closed) = options;
    eprintln!(
        "idle_timeout 2 s, message_timeout 1.5 s: silent connection closed after {}; \
         half a message closed after {}; keep-alive every 500 ms: open after {} s: \
         {keepalive_open} (closed early: {}), closed {} after the last keep-alive; \
         OPTIONS answered {options_status:?}, then closed {} after the answer",
        seconds(silent),
        seconds(half),
        KEEPALIVE_FOR.as_secs(),
        seconds(keepalive_closed_early),
        seconds(keepalive_idled_out),
        seconds(options_closed),
    );
    let log = server.log();
    let within = |d: Option<Duration>, low: f64, high: f64| {
        d.is_some_and(|d| (low..=high).contains(&d.as_secs_f64()))
    };
    // A busy CI machine may wake the server late, never early.
    assert!(
        within(silent, 1.9, 6.0),
        "silent connection: {}\n{}",
        seconds(silent),
        server.log_tail(2000)
    );
    assert!(
        within(half, 1.4, 5.0),
        "half-sent message: {}\n{}",
        seconds(half),
        server.log_tail(2000)
    );
    assert!(
        log.contains("tcp message not completed in time"),
        "the half-sent message was not closed by the message deadline:\n{}",
        server.log_tail(2000)
    );
    assert!(
        keepalive_open && keepalive_closed_early.is_none(),
        "a connection sending CRLF keep-alives was closed after {}",
        seconds(keepalive_closed_early)
    );
    assert!(
        within(keepalive_idled_out, 1.9, 6.0),
        "after the keep-alives stopped: {}",
        seconds(keepalive_idled_out)
    );
    assert_eq!(options_status, Some(200), "OPTIONS over TCP");
    assert!(
        within(options_closed, 1.5, 6.0),
        "connection after its OPTIONS: {}",
        seconds(options_closed)
    );
}

/// Lines of `log` that report a failed accept, and the largest `suppressed=` count on them.
fn accept_failures(log: &str) -> (usize, u64) {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("tcp accept failed"))
        .collect();
    let suppressed = lines
        .iter()
        .filter_map(|l| {
            let (_, rest) = l.split_once("suppressed=")?;
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    (lines.len(), suppressed)
}

/// A UDP OPTIONS from 127.0.0.1; the status, if one came back within `limit`.
fn udp_options(target: SocketAddr, limit: Duration) -> Option<u16> {
    let probe = RawSipUdp::bind().ok()?;
    let local = probe.local_addr().ok()?;
    probe
        .send(target, &options_request(target, local, "UDP"))
        .ok()?;
    status_code(&probe.recv(limit)?)
}

#[test]
fn out_of_descriptors_the_tcp_listener_backs_off_instead_of_spinning() {
    // 64 descriptors and no headroom: the connection cap (64 - 2×1 - 0 = 62) lies above what
    // the descriptors left after the server's own allow, so accept itself fails (EMFILE).
    const NOFILE: u64 = 64;
    const CONNECTIONS: usize = 300;
    let yaml = "allowed_sources: [127.0.0.1/32]\n\
                trusted_identity_sources: [127.0.0.1/32]\n\
                tcp: {descriptor_headroom: 0, max_connections: 1000, max_connections_per_source: 1000}\n";
    raise_own_nofile(4096);
    let server = start_server_with(yaml, 1, Some(NOFILE));
    let pid = server.pid();
    let target = server.sip_addr();
    let fds_idle = open_fds(pid);

    // Keep connecting for ~3 s: the server accepts until it runs out of descriptors; the
    // rest wait in the listen backlog, so the listener stays readable and accept keeps failing.
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(CONNECTIONS);
    while sockets.len() < CONNECTIONS && started.elapsed() < Duration::from_secs(3) {
        if let Ok(s) = connect_from(Ipv4Addr::LOCALHOST, target) {
            sockets.push(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let opening = started.elapsed();
    let failing_by = Instant::now() + Duration::from_secs(10);
    while accept_failures(&server.log()).0 == 0 && Instant::now() < failing_by {
        std::thread::sleep(Duration::from_millis(100));
    }
    let fds_exhausted = open_fds(pid);
    let log_before = server.log().len();
    let cpu = cpu_percent(pid, Duration::from_secs(3));
    let log_after = server.log();
    let window = log_after.get(log_before..).unwrap_or_default();
    let (warnings_in_window, suppressed_in_window) = accept_failures(window);
    let (warnings_total, _) = accept_failures(&log_after);
    let udp_exhausted = udp_options(target, Duration::from_secs(2));
    // The limiter writes 5 lines per 10 s; the next line after that says how many failures
    // it held back, so lines + suppressed counts every failed accept since the first.
    let counted_by = Instant::now() + Duration::from_secs(15);
    while accept_failures(&server.log()).1 == 0 && Instant::now() < counted_by {
        std::thread::sleep(Duration::from_millis(200));
    }
    let exhausted_for = started.elapsed();
    let log_counted = server.log();
    let failed_accepts = log_counted
        .lines()
        .filter(|l| l.contains("tcp accept failed"))
        .map(|l| 1 + accept_failures(l).1)
        .sum::<u64>();
    eprintln!(
        "descriptor limit {NOFILE}: server held {fds_idle} descriptors idle, {fds_exhausted} \
         after {} connections opened in {:.1} s; over 3 s out of descriptors: CPU {cpu:.1}% of \
         a core, log grew {} bytes, {warnings_in_window} accept warnings \
         (suppressed={suppressed_in_window}); UDP OPTIONS while exhausted: {udp_exhausted:?}; \
         {failed_accepts} failed accepts counted in {:.1} s since the first connection \
         (log lines plus suppressed), log {} bytes",
        sockets.len(),
        opening.as_secs_f64(),
        window.len(),
        exhausted_for.as_secs_f64(),
        log_counted.len(),
    );

    drop(sockets);
    let recovered_at = Instant::now();
    let recover_by = recovered_at + Duration::from_secs(15);
    let mut udp_after = None;
    while udp_after != Some(200) && Instant::now() < recover_by {
        udp_after = udp_options(target, Duration::from_secs(1));
    }
    let udp_recovery = recovered_at.elapsed();
    let mut tcp_after = None;
    while tcp_after != Some(200) && Instant::now() < recover_by {
        tcp_after = tcp_options(target);
        if tcp_after != Some(200) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!(
        "after closing the connections: UDP OPTIONS {udp_after:?} after {:.2} s, \
         TCP OPTIONS {tcp_after:?} after {:.2} s; log {} bytes",
        udp_recovery.as_secs_f64(),
        recovered_at.elapsed().as_secs_f64(),
        server.log().len()
    );

    assert!(
        warnings_total > 0,
        "accept never failed: the test did not reach the descriptor limit\n{}",
        server.log_tail(3000)
    );
    assert!(
        !log_after.contains("connection limit reached"),
        "the connection cap, not the descriptor limit, stopped the connections\n{}",
        server.log_tail(3000)
    );
    assert!(
        cpu < 20.0,
        "server spins while out of descriptors: {cpu:.1}% of a core"
    );
    assert!(
        window.len() < 100_000,
        "log grew {} bytes in 3 s",
        window.len()
    );
    // With the back-off (100 ms doubling to 1 s) that is about one a second; a listener
    // retrying at once would fail thousands of times a second.
    assert!(
        failed_accepts <= 2 * exhausted_for.as_secs() + 10,
        "{failed_accepts} failed accepts in {:.1} s",
        exhausted_for.as_secs_f64()
    );
    assert!(
        warnings_in_window <= 10,
        "{warnings_in_window} accept warnings in 3 s\n{}",
        server.log_tail(3000)
    );
    assert_eq!(
        udp_after,
        Some(200),
        "UDP OPTIONS after the connections closed"
    );
    assert_eq!(
        tcp_after,
        Some(200),
        "TCP OPTIONS after the connections closed"
    );
}
