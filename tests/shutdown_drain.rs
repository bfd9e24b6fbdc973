//! SIGTERM with calls up: the server drains instead of cutting them.
//!
//! 50 callers (one in-process crowd on 127.0.0.1: SIP and RTP per call, each answers the
//! server's BYE with 200 and keeps what the server played) reach the demo menu, then the
//! server gets SIGTERM with `shutdown.drain_secs: 2`. During the drain a new INVITE and an
//! OPTIONS must get 503 with Retry-After; at the deadline every caller must hear the
//! `service_closing` prompt (matched by normalised cross-correlation against the prompt file)
//! and then get a BYE; every call must have its call record; the process must exit 0.
//! A second test sends a second SIGTERM during the drain: every call is hung up at once,
//! still with a BYE and a record.
//!
//! Each test prints its figures (BYEs received, prompts heard, records, exit time).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::audio::{best_match, read_wav_8k, voiced_duration};
use support::demo::{demo_server_options, repo_root};
use support::g711::Law;
use support::rtp::RtpPacket;
use support::server::ServerGuard;
use support::sip_probe::{RawSipUdp, header, status_code};

/// Least NCC at which the closing prompt counts as heard (a prompt really played through
/// G.711 correlates above 0.95; other speech stays below 0.5).
const HEARD: f64 = 0.8;
/// Calls brought up for the main test.
const CALLS: usize = 50;
/// The test's drain: short, so the test is quick; the demo menu keeps every call up longer.
const DRAIN_SECS: u64 = 2;

/// What one caller saw.
#[derive(Debug, Default)]
struct CallOutcome {
    call_id: String,
    answered: bool,
    /// When the server's BYE arrived (answered 200 by the crowd).
    bye_at: Option<Instant>,
    /// Every audio packet the server sent, decoded: (arrival, 8 kHz samples).
    heard: Vec<(Instant, Vec<i16>)>,
}

impl CallOutcome {
    /// What the caller heard from `from` until the BYE, as one 8 kHz signal.
    fn audio_between(&self, from: Instant) -> Vec<i16> {
        let until = self.bye_at.unwrap_or_else(Instant::now);
        self.heard
            .iter()
            .filter(|(at, _)| *at >= from && *at <= until)
            .flat_map(|(_, samples)| samples.iter().copied())
            .collect()
    }
}

/// One call's sockets and SIP state inside the crowd.
struct Leg {
    sip: UdpSocket,
    rtp: UdpSocket,
    local: SocketAddr,
    rtp_port: u16,
    tag: String,
    invite: Vec<u8>,
    invite_sent: Instant,
    request_uri: String,
    from: String,
    media: Option<SocketAddr>,
    seq: u16,
    ts: u32,
    next_rtp: Instant,
    outcome: CallOutcome,
}

/// Many callers driven by one thread (a thread per caller would load the 2-core machine more
/// than the server under test).
struct Crowd {
    answered: Arc<AtomicUsize>,
    byes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<CallOutcome>>>,
}

impl Crowd {
    /// Places `calls` calls to `server`, 20 ms apart.
    fn call(server: SocketAddr, calls: usize) -> Crowd {
        let answered = Arc::new(AtomicUsize::new(0));
        let byes = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (answered, byes, stop) = (answered.clone(), byes.clone(), stop.clone());
            std::thread::spawn(move || run_crowd(server, calls, &answered, &byes, &stop))
        };
        Crowd {
            answered,
            byes,
            stop,
            thread: Some(thread),
        }
    }

    fn answered(&self) -> usize {
        self.answered.load(Ordering::Relaxed)
    }

    fn byes(&self) -> usize {
        self.byes.load(Ordering::Relaxed)
    }

    /// Waits (bounded) until `n` calls are answered.
    fn wait_answered(&self, n: usize, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.answered() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops the callers and returns what each saw.
    fn finish(mut self) -> Vec<CallOutcome> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn new_leg(server: SocketAddr, index: usize) -> Option<Leg> {
    let sip = UdpSocket::bind("127.0.0.1:0").ok()?;
    let rtp = UdpSocket::bind("127.0.0.1:0").ok()?;
    sip.set_nonblocking(true).ok()?;
    rtp.set_nonblocking(true).ok()?;
    let local = sip.local_addr().ok()?;
    let rtp_port = rtp.local_addr().ok()?.port();
    let tag = format!("drain{index}x{}", std::process::id());
    let call_id = format!("drain-{index}-{}@127.0.0.1", std::process::id());
    let request_uri = format!("sip:0800{index:03}@{server}");
    let from = format!("<sip:0770090{index:04}@127.0.0.1>;tag={tag}");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    );
    let invite = format!(
        "INVITE {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{tag}i;rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: <sip:0800{index:03}@{server}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    Some(Leg {
        sip,
        rtp,
        local,
        rtp_port,
        tag,
        invite: invite.into_bytes(),
        invite_sent: Instant::now(),
        request_uri,
        from,
        media: None,
        seq: 1,
        ts: 0,
        next_rtp: Instant::now(),
        outcome: CallOutcome {
            call_id,
            ..CallOutcome::default()
        },
    })
}

/// The 200 OK to a request, echoing its Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2).
fn ok_for(request: &[u8]) -> Vec<u8> {
    let h = |name| header(request, name).unwrap_or_default();
    format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Content-Length: 0\r\n\r\n",
        h("Via"),
        h("From"),
        h("To"),
        h("Call-ID"),
        h("CSeq")
    )
    .into_bytes()
}

fn run_crowd(
    server: SocketAddr,
    calls: usize,
    answered: &AtomicUsize,
    byes: &AtomicUsize,
    stop: &AtomicBool,
) -> Vec<CallOutcome> {
    let mut legs: Vec<Leg> = Vec::with_capacity(calls);
    let mut buf = vec![0u8; 8192];
    let mut next_invite = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if legs.len() < calls
            && now >= next_invite
            && let Some(mut leg) = new_leg(server, legs.len())
        {
            let _ = leg.sip.send_to(&leg.invite, server);
            leg.invite_sent = now;
            legs.push(leg);
            next_invite = now + Duration::from_millis(20);
        }
        for leg in &mut legs {
            // SIP: 200 to our INVITE → ACK; the server's BYE → 200.
            while let Ok((n, _)) = leg.sip.recv_from(&mut buf) {
                let Some(message) = buf.get(..n) else { break };
                if message.starts_with(b"BYE ") {
                    let _ = leg.sip.send_to(&ok_for(message), server);
                    if leg.outcome.bye_at.is_none() {
                        leg.outcome.bye_at = Some(Instant::now());
                        byes.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                let is_invite = header(message, "CSeq").is_some_and(|c| c.ends_with("INVITE"));
                if status_code(message) != Some(200) || !is_invite {
                    continue;
                }
                let to = header(message, "To").unwrap_or_default();
                let ack = format!(
                    "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{}a;rport\r\n\
                     Max-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: 1 ACK\r\n\
                     Content-Length: 0\r\n\r\n",
                    leg.request_uri, leg.local, leg.tag, leg.from, leg.outcome.call_id
                );
                let _ = leg.sip.send_to(ack.as_bytes(), server);
                if leg.outcome.answered {
                    continue; // a retransmitted 200: ACKed again (RFC 3261 §13.2.2.4)
                }
                let text = String::from_utf8_lossy(message);
                let port = text
                    .lines()
                    .find_map(|l| l.strip_prefix("m=audio "))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|p| p.parse::<u16>().ok());
                if let Some(port) = port {
                    leg.media = Some(SocketAddr::from(([127, 0, 0, 1], port)));
                    leg.outcome.answered = true;
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
            // No answer yet: the INVITE is retransmitted (RFC 3261 §17.1.1.2, coarsely).
            if !leg.outcome.answered && now.duration_since(leg.invite_sent) > Duration::from_secs(2)
            {
                let _ = leg.sip.send_to(&leg.invite, server);
                leg.invite_sent = now;
            }
            // RTP from the server: kept, decoded.
            while let Ok((n, _)) = leg.rtp.recv_from(&mut buf) {
                if let Some(p) = buf
                    .get(..n)
                    .and_then(|b| RtpPacket::parse(b, Duration::ZERO))
                    && p.payload_type == 0
                {
                    let samples = p.payload.iter().map(|&c| Law::MuLaw.decode(c)).collect();
                    leg.outcome.heard.push((Instant::now(), samples));
                }
            }
            // Our RTP: 20 ms of silence every 20 ms while the call is up.
            if let Some(media) = leg.media
                && leg.outcome.bye_at.is_none()
                && now >= leg.next_rtp
            {
                let p = RtpPacket {
                    payload_type: 0,
                    marker: false,
                    sequence: leg.seq,
                    timestamp: leg.ts,
                    ssrc: 0x0d00_0000 | u32::from(leg.rtp_port),
                    payload: vec![Law::MuLaw.silence(); 160],
                    arrival: Duration::ZERO,
                };
                let _ = leg.rtp.send_to(&p.to_bytes(), media);
                leg.seq = leg.seq.wrapping_add(1);
                leg.ts = leg.ts.wrapping_add(160);
                leg.next_rtp += Duration::from_millis(20);
                if leg.next_rtp < now {
                    leg.next_rtp = now + Duration::from_millis(20);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    legs.into_iter().map(|l| l.outcome).collect()
}

/// Starts the server with the demo menu (its menu repeats for about half a minute, so every
/// call is still up at the drain deadline) and `shutdown` settings. Every call comes from one
/// address, so that address may hold them all (the default share of `max_calls` is 80 %).
fn start_server(max_calls: usize, shutdown_yaml: &str) -> ServerGuard {
    let yaml = format!("{shutdown_yaml}sip_limits:\n  max_calls_per_source_percent: 100\n");
    let max_calls = u32::try_from(max_calls).unwrap_or(u32::MAX);
    let options = demo_server_options(max_calls, Some(&yaml));
    ServerGuard::start(options).expect("server starts")
}

/// A new call's INVITE (or an OPTIONS) during the drain; the final response.
fn probe(server: SocketAddr, method: &str) -> Option<Vec<u8>> {
    let raw = RawSipUdp::bind().ok()?;
    let local = raw.local_addr().ok()?;
    let request = format!(
        "{method} sip:0800999@{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKprobe{method};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:07700900999@127.0.0.1>;tag=probe\r\nTo: <sip:0800999@{server}>\r\n\
         Call-ID: drain-probe-{method}@127.0.0.1\r\nCSeq: 1 {method}\r\nContact: <sip:probe@{local}>\r\n\
         Content-Length: 0\r\n\r\n"
    );
    raw.request(server, request.as_bytes(), Duration::from_secs(3), true)
        .ok()
        .flatten()
}

/// Notes when process `pid` exits (its /proc entry goes, or it becomes a zombie), polling
/// every 10 ms for at most `limit`: the exit time without waiting on the probes of the test.
fn watch_exit(pid: u32, limit: Duration) -> JoinHandle<Option<Instant>> {
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The state is the field after the parenthesised command name.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if matches!(state, None | Some("Z") | Some("X")) {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    })
}

/// Call records the server stored, by call id: the hang-up cause of each.
fn record_causes(server: &ServerGuard) -> std::collections::HashMap<String, String> {
    let export = server.export_records();
    export["calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .filter_map(|c| {
                    let id = c["call_id"].as_str()?.to_string();
                    let cause = c["hangup_cause"].as_str().unwrap_or("").to_string();
                    Some((id, cause))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigterm_drains_50_calls_with_the_closing_message_byes_and_records() {
    let mut server = start_server(
        CALLS + 10,
        &format!("shutdown:\n  drain_secs: {DRAIN_SECS}\n  retry_after_secs: 90\n"),
    );
    let closing = read_wav_8k(&repo_root().join("audio-prompts/service_closing.wav"))
        .expect("the closing prompt is rendered in audio-prompts/");
    let closing_secs = voiced_duration(&closing);
    let crowd = Crowd::call(server.sip_addr(), CALLS);
    assert!(
        crowd.wait_answered(CALLS, Duration::from_secs(30)),
        "only {} of {CALLS} calls answered",
        crowd.answered()
    );
    // Every call is into the menu when the signal comes.
    std::thread::sleep(Duration::from_secs(1));

    let exited = watch_exit(server.pid(), Duration::from_secs(60));
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    let invite = probe(server.sip_addr(), "INVITE");
    let options = probe(server.sip_addr(), "OPTIONS");
    let status_of = |r: &Option<Vec<u8>>| r.as_deref().and_then(status_code);
    let retry_of = |r: &Option<Vec<u8>>| r.as_deref().and_then(|m| header(m, "Retry-After"));

    let exit = server.wait_exit(Duration::from_secs(40));
    let exit_secs = exited.join().ok().flatten().map_or(f64::NAN, |t| {
        t.saturating_duration_since(signalled).as_secs_f64()
    });
    std::thread::sleep(Duration::from_millis(200));
    let byes_live = crowd.byes();
    let outcomes = crowd.finish();
    let records = record_causes(&server);

    let deadline = signalled + Duration::from_secs(DRAIN_SECS);
    let mut heard = 0;
    let mut worst_ncc = f64::MAX;
    let mut loud_secs_min = f64::MAX;
    for o in &outcomes {
        let after = o.audio_between(deadline);
        loud_secs_min = loud_secs_min.min(voiced_duration(&after));
        let ncc = best_match(&after, &closing).map_or(0.0, |m| m.ncc);
        worst_ncc = worst_ncc.min(ncc);
        if ncc >= HEARD {
            heard += 1;
        }
    }
    let byes = outcomes.iter().filter(|o| o.bye_at.is_some()).count();
    let byes_after_deadline = outcomes
        .iter()
        .filter(|o| o.bye_at.is_some_and(|t| t >= deadline))
        .count();
    let with_record = outcomes
        .iter()
        .filter(|o| records.contains_key(&o.call_id))
        .count();
    let shutdown_records = outcomes
        .iter()
        .filter(|o| records.get(&o.call_id).is_some_and(|c| c == "Shutdown"))
        .count();
    let mut causes: std::collections::BTreeMap<&str, usize> = Default::default();
    for o in &outcomes {
        if let Some(c) = records.get(&o.call_id) {
            *causes.entry(c.as_str()).or_default() += 1;
        }
    }
    eprintln!("drain figures: record causes {causes:?}");
    eprintln!(
        "drain figures: calls={} answered={} invite_during_drain={:?} retry_after={:?} \
         options_during_drain={:?} byes={byes} (live count {byes_live}, after the deadline \
         {byes_after_deadline}) closing_prompt_heard={heard} (worst NCC {worst_ncc:.3}, prompt \
         {closing_secs:.2} s, least voiced after deadline {loud_secs_min:.2} s) records={with_record} \
         (cause Shutdown {shutdown_records}) exit={exit:?} after {exit_secs:.2} s",
        outcomes.len(),
        outcomes.iter().filter(|o| o.answered).count(),
        status_of(&invite),
        retry_of(&invite),
        status_of(&options),
    );

    assert_eq!(status_of(&invite), Some(503), "a new INVITE while draining");
    assert_eq!(retry_of(&invite).as_deref(), Some("90"));
    assert_eq!(
        status_of(&options),
        Some(503),
        "OPTIONS answers as an INVITE would"
    );
    assert_eq!(byes, CALLS, "every caller gets a BYE");
    assert_eq!(
        byes_after_deadline, CALLS,
        "calls continue until the deadline"
    );
    assert_eq!(heard, CALLS, "every caller hears the closing prompt");
    assert_eq!(with_record, CALLS, "every call has its call record");
    assert_eq!(
        shutdown_records, CALLS,
        "the records say why the call ended"
    );
    let status = exit.expect("the server exits by itself");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        exit_secs < DRAIN_SECS as f64 + closing_secs + 10.0,
        "the drain is bounded: {exit_secs:.2} s"
    );
    let log = server.log();
    for line in log.lines().filter(|l| l.contains("stopping")) {
        eprintln!("drain figures: log: {line}");
    }
    assert!(log.contains("calls in progress continue until the drain deadline"));
    assert!(log.contains("drain finished"));
}

#[test]
fn a_second_sigterm_hangs_up_every_call_at_once() {
    const FEW: usize = 10;
    // A long drain: only the second signal can end these calls within the test.
    let mut server = start_server(FEW + 5, "shutdown:\n  drain_secs: 60\n");
    let crowd = Crowd::call(server.sip_addr(), FEW);
    assert!(
        crowd.wait_answered(FEW, Duration::from_secs(30)),
        "only {} of {FEW} calls answered",
        crowd.answered()
    );
    std::thread::sleep(Duration::from_millis(500));
    let exited = watch_exit(server.pid(), Duration::from_secs(30));
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let byes_before_second = crowd.byes();
    let second = Instant::now();
    server.signal(libc::SIGTERM);
    let exit = server.wait_exit(Duration::from_secs(20));
    let exit_secs = exited.join().ok().flatten().map_or(f64::NAN, |t| {
        t.saturating_duration_since(second).as_secs_f64()
    });
    std::thread::sleep(Duration::from_millis(200));
    let outcomes = crowd.finish();
    let records = record_causes(&server);
    let byes = outcomes.iter().filter(|o| o.bye_at.is_some()).count();
    let slowest_bye = outcomes
        .iter()
        .filter_map(|o| o.bye_at.map(|t| t.saturating_duration_since(second)))
        .max()
        .unwrap_or_default();
    let shutdown_records = outcomes
        .iter()
        .filter(|o| records.get(&o.call_id).is_some_and(|c| c == "Shutdown"))
        .count();
    eprintln!(
        "second-signal figures: calls={FEW} byes_before_second={byes_before_second} byes={byes} \
         slowest_bye_after_second={:.2} s records(Shutdown)={shutdown_records} exit={exit:?} \
         after {exit_secs:.2} s",
        slowest_bye.as_secs_f64()
    );
    assert_eq!(
        byes_before_second, 0,
        "the first SIGTERM lets calls continue"
    );
    assert_eq!(byes, FEW, "every caller gets a BYE");
    assert!(
        slowest_bye < Duration::from_secs(2),
        "BYEs at once, without the closing message: {slowest_bye:?}"
    );
    assert_eq!(shutdown_records, FEW, "every call has its record");
    let status = exit.expect("the server exits by itself");
    assert!(status.success(), "exit status {status:?}");
    assert!(exit_secs < 10.0, "exit soon after the second signal");
}

#[test]
fn a_missing_closing_prompt_still_gives_byes_and_a_ringing_call_is_refused() {
    const FEW: usize = 5;
    // Calls ring for 3 s before they are answered, so one placed just before the signal is
    // still ringing at the deadline.
    let mut server = start_server(
        FEW + 5,
        "answer_delay_ms: 3000\nshutdown:\n  drain_secs: 1\n  closing_prompt: no_such_prompt\n",
    );
    let crowd = Crowd::call(server.sip_addr(), FEW);
    assert!(
        crowd.wait_answered(FEW, Duration::from_secs(30)),
        "only {} of {FEW} calls answered",
        crowd.answered()
    );
    let raw = RawSipUdp::bind().expect("probe socket");
    let local = raw.local_addr().expect("probe address");
    let sip = server.sip_addr();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let ringing = format!(
        "INVITE sip:0800777@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKringing;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:07700900777@127.0.0.1>;tag=ringing\r\nTo: <sip:0800777@{sip}>\r\n\
         Call-ID: drain-ringing@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:ringing@{local}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    raw.send(sip, ringing.as_bytes()).expect("INVITE sent");
    std::thread::sleep(Duration::from_millis(200));
    let exited = watch_exit(server.pid(), Duration::from_secs(30));
    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    // The ringing call's final response: skip 100 and 180.
    let mut ringing_final = None;
    while signalled.elapsed() < Duration::from_secs(10) {
        match raw.recv(Duration::from_millis(500)) {
            Some(m) if status_code(&m).is_some_and(|s| s >= 200) => {
                ringing_final = Some(m);
                break;
            }
            _ => {}
        }
    }
    let exit = server.wait_exit(Duration::from_secs(20));
    let exit_secs = exited.join().ok().flatten().map_or(f64::NAN, |t| {
        t.saturating_duration_since(signalled).as_secs_f64()
    });
    std::thread::sleep(Duration::from_millis(200));
    let outcomes = crowd.finish();
    let records = record_causes(&server);
    let deadline = signalled + Duration::from_secs(1);
    let slowest_bye = outcomes
        .iter()
        .filter_map(|o| o.bye_at.map(|t| t.saturating_duration_since(deadline)))
        .max()
        .unwrap_or_default();
    let byes = outcomes.iter().filter(|o| o.bye_at.is_some()).count();
    let shutdown_records = outcomes
        .iter()
        .filter(|o| records.get(&o.call_id).is_some_and(|c| c == "Shutdown"))
        .count();
    let ringing_status = ringing_final.as_deref().and_then(status_code);
    let ringing_retry = ringing_final
        .as_deref()
        .and_then(|m| header(m, "Retry-After"));
    eprintln!(
        "missing-prompt figures: calls={FEW} byes={byes} slowest_bye_after_deadline={:.2} s \
         records(Shutdown)={shutdown_records} ringing_call={ringing_status:?} \
         retry_after={ringing_retry:?} exit={exit:?} after {exit_secs:.2} s",
        slowest_bye.as_secs_f64()
    );
    assert_eq!(byes, FEW, "every caller gets a BYE without the prompt");
    assert!(
        slowest_bye < Duration::from_secs(2),
        "no prompt: BYE at the deadline ({slowest_bye:?})"
    );
    assert_eq!(shutdown_records, FEW, "every call has its record");
    assert_eq!(ringing_status, Some(503), "a call still ringing is refused");
    assert!(ringing_retry.is_some(), "with Retry-After");
    let status = exit.expect("the server exits by itself");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        server
            .log()
            .contains("shutdown.closing_prompt is not in the prompts"),
        "the missing prompt is reported at start-up"
    );
}
