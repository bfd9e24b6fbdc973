//! TCP cannot be used to exhaust the server: 5,000 idle connections from a source off the
//! allow-list (127.0.0.2) and 500 connections from an allowed source (127.0.0.3) that dribble
//! a request a byte at a time, against a server running under a service's usual descriptor
//! limit (1,024). Meanwhile UDP calls from 127.0.0.1 must still be answered and carried, the
//! allowed peer's TCP OPTIONS must still be answered, the log must stay small, and the
//! server's CPU must return to idle. Also: a peer that pipelines requests and never reads
//! the responses is disconnected rather than queued for without bound. Prints the figures.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use support::attack::{
    closed_by_peer, cpu_percent, dribble_one_byte, open_connections, open_fds, raise_own_nofile,
};
use support::demo::{demo_menu_file, repo_root};
use support::server::{ServerGuard, ServerOptions};
use support::sip_probe::{options_request, status_code, tcp_exchange};
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
    ServerGuard::start(ServerOptions {
        config_yaml: Some(yaml.to_string()),
        prompts_dir: Some(repo_root().join("audio-prompts")),
        args: vec![
            "--demo-menu".into(),
            demo_menu_file().display().to_string(),
            "--max-calls".into(),
            MAX_CALLS.to_string(),
        ],
        rtp_ports: u16::try_from(MAX_CALLS * 2 + 64).unwrap_or(200),
        ready_within: Duration::from_secs(30),
        nofile,
        ..ServerOptions::default()
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
