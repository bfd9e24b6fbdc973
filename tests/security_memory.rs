//! Memory comes back after a burst of hostile SIP: idle resident size is measured, then
//! malformed and valid SIP arrive over UDP and TCP for a few seconds (large junk datagrams,
//! OPTIONS from 100 allowed addresses whose transactions live 32 s, requests pipelined on
//! connections that never read the answers, half-sent 60 KB messages), and resident size must
//! return to within 25 % of idle within 60 s of the burst ending. No call is placed, so the
//! call-end path never trims the heap. Prints the figures (about 35 s when it passes).

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use support::attack::rss_kib;
use support::demo::start_demo_server;
use support::sip_probe::options_request;

/// Sends one round of the burst: junk and valid datagrams, then TCP connections that pipeline
/// requests without reading, then connections that leave a large message unfinished.
fn burst(target: SocketAddr, scale: usize) {
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local = udp.local_addr().expect("local address");
    let mut junk = vec![b'x'; 60_000];
    for i in 0..scale * 200 {
        let datagram = match i % 4 {
            0 => options_request(target, local, "UDP"),
            1 => {
                junk[0] = b'A' + (i % 26) as u8;
                junk.clone()
            }
            2 => {
                let mut m = options_request(target, local, "UDP");
                m.truncate(m.len() / 2);
                m
            }
            _ => format!(
                "INVITE sip:x@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKm{i}\r\n\
                 Content-Length: 99999\r\n\r\n{}",
                "v=0\r\n".repeat(2000)
            )
            .into_bytes(),
        };
        let _ = udp.send_to(&datagram, target);
        if i % 64 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Many allowed sources at once (the default allow-list is 127.0.0.0/8): each admitted
    // OPTIONS holds a transaction for 32 s (RFC 3261 Timer J), so the burst's state is freed
    // well after the burst itself.
    let pad = "p".repeat(1500);
    let sources: Vec<UdpSocket> = (0..100u8)
        .filter_map(|i| UdpSocket::bind((std::net::Ipv4Addr::new(127, 0, 1, 10 + i), 0)).ok())
        .collect();
    for round in 0..scale * scale * 3 {
        for socket in &sources {
            let Ok(from) = socket.local_addr() else {
                continue;
            };
            let request = String::from_utf8_lossy(&options_request(target, from, "UDP")).replacen(
                "Content-Length",
                &format!("X-Pad: {pad}\r\nContent-Length"),
                1,
            );
            let _ = socket.send_to(request.as_bytes(), target);
        }
        if round % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let request = options_request(target, "127.0.0.1:5999".parse().expect("addr"), "TCP");
    let mut held = Vec::new();
    for _ in 0..scale * 4 {
        let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
            continue;
        };
        let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
        // Pipelined requests whose responses are never read.
        for _ in 0..500 {
            if stream.write_all(&request).is_err() {
                break;
            }
        }
        held.push(stream);
    }
    for _ in 0..scale * 4 {
        let Ok(mut stream) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) else {
            continue;
        };
        let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
        let mut partial = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nX-Pad: ".to_vec();
        partial.extend(std::iter::repeat_n(b'p', 60_000));
        let _ = stream.write_all(&partial);
        held.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(held);
}

#[test]
fn resident_size_returns_near_idle_after_a_burst_of_sip() {
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    let pid = server.pid();
    let target = server.sip_addr();
    // Warm up once at a small scale so that idle includes what any traffic allocates for good.
    burst(target, 1);
    std::thread::sleep(Duration::from_secs(3));
    let idle = rss_kib(pid);
    let started = Instant::now();
    let mut peak = idle;
    while started.elapsed() < Duration::from_secs(4) {
        burst(target, 10);
        peak = peak.max(rss_kib(pid));
    }
    let ended = Instant::now();
    let limit = idle + idle / 4;
    let mut now_kib = rss_kib(pid);
    let mut timeline = vec![now_kib];
    while now_kib > limit && ended.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_secs(1));
        now_kib = rss_kib(pid);
        timeline.push(now_kib);
    }
    let by_five: Vec<String> = timeline.iter().step_by(5).map(|k| k.to_string()).collect();
    eprintln!("RSS every 5 s after the burst (KiB): {}", by_five.join(" "));
    let back_after = ended.elapsed().as_secs_f64();
    eprintln!(
        "RSS idle {idle} KiB, peak during burst {peak} KiB, {now_kib} KiB {back_after:.1} s after \
         it ended (limit {limit} KiB)"
    );
    assert!(
        now_kib <= limit,
        "RSS {now_kib} KiB still above {limit} KiB (idle {idle} KiB) 60 s after the burst"
    );
}
