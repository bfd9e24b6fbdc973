//! A scripted caller driven by the test as the call goes: its own SIP over UDP (INVITE with a
//! PCMU + telephone-event offer, ACK, BYE) and an RTP thread that sends 20 ms of silence every
//! 20 ms until the test queues speech or RFC 4733 keys, which go out next, paced in real time.
//! It also watches the server's audio so a test can wait for a prompt to finish before it
//! speaks (sipp and baresip play a fixed timeline; a flow's timing depends on recognition).
//!
//! Binds 127.0.0.1 only; the RTP thread stops when the caller is dropped. For the media
//! security tests it can also pause its RTP (a caller who stops talking, with DTX), count what
//! it sent and received, offer a chosen SDP, and re-offer in the dialog (re-INVITE).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::HarnessError;
use super::g711::Law;
use super::rtp::{RtpPacket, RtpStreamBuilder};
use super::sip_probe::{header, status_code};

/// RFC 4733 payload type offered.
const EVENT_PT: u8 = 101;
/// A received packet whose mean absolute sample exceeds this is prompt audio, not silence.
const LOUD: f64 = 200.0;

/// One call in progress.
pub struct LiveCaller {
    sip: UdpSocket,
    server: SocketAddr,
    call_id: String,
    from: String,
    to: String,
    request_uri: String,
    cseq: u32,
    segments: Sender<Vec<RtpPacket>>,
    /// When the server last sent audio louder than silence.
    last_loud: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    rtp_thread: Option<JoinHandle<()>>,
    /// The server's RTP port, from the 200 OK's SDP.
    media_port: u16,
    /// Our RTP port (in the offer).
    rtp_port: u16,
    /// The SDP we offered, for re-offers.
    offer: String,
    counters: Arc<MediaCounters>,
}

/// What the RTP thread did, shared with the test.
#[derive(Default)]
struct MediaCounters {
    sent: AtomicU64,
    received: AtomicU64,
    /// No RTP is sent until this many milliseconds after `epoch` (0: not paused).
    paused_until_ms: AtomicU64,
    epoch: Mutex<Option<Instant>>,
}

/// The SDP offer the caller makes: PCMU and telephone-event on 127.0.0.1 at `rtp_port`.
pub fn default_offer(rtp_port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 {EVENT_PT}\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:{EVENT_PT} telephone-event/8000\r\na=fmtp:{EVENT_PT} 0-15\r\na=sendrecv\r\n"
    )
}

impl LiveCaller {
    /// Calls `number` at `server` from `caller` (the From user) and waits for the answer.
    pub fn call(
        server: SocketAddr,
        number: &str,
        caller: &str,
    ) -> Result<LiveCaller, HarnessError> {
        Self::call_offering(server, number, caller, default_offer)
    }

    /// As [`LiveCaller::call`] with the SDP `offer` builds from our RTP port. A final
    /// response other than 200 is acknowledged and returned as an error `answered CODE`.
    pub fn call_offering(
        server: SocketAddr,
        number: &str,
        caller: &str,
        offer: impl Fn(u16) -> String,
    ) -> Result<LiveCaller, HarnessError> {
        let io = |what: &str, e| HarnessError::io(what.to_string(), e);
        let sip = UdpSocket::bind("127.0.0.1:0").map_err(|e| io("binding SIP", e))?;
        let rtp = UdpSocket::bind("127.0.0.1:0").map_err(|e| io("binding RTP", e))?;
        let local = sip.local_addr().map_err(|e| io("SIP address", e))?;
        let rtp_port = rtp.local_addr().map_err(|e| io("RTP address", e))?.port();
        let tag = format!("{:x}", std::process::id() ^ rtp_port as u32);
        let call_id = format!("live-{tag}-{}@127.0.0.1", local.port());
        let request_uri = format!("sip:{number}@{server}");
        let from = format!("<sip:{caller}@127.0.0.1>;tag={tag}");
        let sdp = offer(rtp_port);
        let invite = format!(
            "INVITE {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{tag}1;rport\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: <sip:{number}@{server}>\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\nContact: <sip:{caller}@{local}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        sip.send_to(invite.as_bytes(), server)
            .map_err(|e| io("sending INVITE", e))?;
        sip.set_read_timeout(Some(Duration::from_millis(500)))
            .map_err(|e| io("SIP timeout", e))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let answer = loop {
            if Instant::now() > deadline {
                return Err(HarnessError::Command {
                    command: "INVITE".into(),
                    detail: "no 200 OK within 10 s".into(),
                });
            }
            let mut buf = vec![0u8; 8192];
            let Ok(n) = sip.recv(&mut buf) else { continue };
            buf.truncate(n);
            match status_code(&buf) {
                Some(200) => break buf,
                Some(code) if code >= 300 => {
                    // RFC 3261 §17.1.1.3: the ACK of a non-2xx reuses the INVITE's branch.
                    let to = header(&buf, "To").unwrap_or_default();
                    let ack = format!(
                        "ACK {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{tag}1;rport\r\n\
                         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
                         Content-Length: 0\r\n\r\n"
                    );
                    let _ = sip.send_to(ack.as_bytes(), server);
                    return Err(HarnessError::Command {
                        command: "INVITE".into(),
                        detail: format!("answered {code}"),
                    });
                }
                _ => {}
            }
        };
        let to = header(&answer, "To").unwrap_or_default();
        let text = String::from_utf8_lossy(&answer);
        let port = text
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            return Err(HarnessError::Command {
                command: "INVITE".into(),
                detail: "200 OK without an audio port".into(),
            });
        };
        let media = SocketAddr::from(([127, 0, 0, 1], port));
        let ack = format!(
            "ACK {request_uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{tag}2;rport\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n"
        );
        sip.send_to(ack.as_bytes(), server)
            .map_err(|e| io("sending ACK", e))?;
        let (segments, queued) = mpsc::channel();
        let last_loud = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(MediaCounters::default());
        if let Ok(mut e) = counters.epoch.lock() {
            *e = Some(Instant::now());
        }
        let rtp_thread = {
            let last_loud = Arc::clone(&last_loud);
            let stop = Arc::clone(&stop);
            let counters = Arc::clone(&counters);
            std::thread::spawn(move || send_media(rtp, media, queued, last_loud, stop, counters))
        };
        Ok(LiveCaller {
            sip,
            server,
            call_id,
            from,
            to,
            request_uri,
            cseq: 1,
            segments,
            last_loud,
            stop,
            rtp_thread: Some(rtp_thread),
            media_port: port,
            rtp_port,
            offer: sdp,
            counters,
        })
    }

    /// The server's RTP port for this call (from its 200 OK).
    pub fn media_port(&self) -> u16 {
        self.media_port
    }

    /// Our RTP port.
    pub fn rtp_port(&self) -> u16 {
        self.rtp_port
    }

    /// The SDP we offered.
    pub fn offer(&self) -> &str {
        &self.offer
    }

    /// RTP packets sent so far.
    pub fn packets_sent(&self) -> u64 {
        self.counters.sent.load(Ordering::Relaxed)
    }

    /// RTP packets received from the server so far.
    pub fn packets_received(&self) -> u64 {
        self.counters.received.load(Ordering::Relaxed)
    }

    /// Sends no RTP for `d` from now (queued keys and speech wait), as a phone with
    /// discontinuous transmission does while its user is quiet.
    pub fn pause_media(&self, d: Duration) {
        let epoch = self.counters.epoch.lock().ok().and_then(|e| *e);
        if let Some(epoch) = epoch {
            let until = epoch.elapsed() + d;
            self.counters
                .paused_until_ms
                .store(until.as_millis() as u64, Ordering::Relaxed);
        }
    }

    /// Sends a re-INVITE in the dialog carrying `sdp` and returns the final status within
    /// `limit` (acknowledged, 2xx or not).
    pub fn reoffer(&mut self, sdp: &str, limit: Duration) -> Result<u16, HarnessError> {
        let io = |what: &str, e| HarnessError::io(what.to_string(), e);
        self.cseq += 1;
        let cseq = self.cseq;
        let local = self.sip.local_addr().map_err(|e| io("SIP address", e))?;
        let branch = format!("z9hG4bKre{cseq}x{}", local.port());
        let invite = format!(
            "INVITE {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:caller@{local}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            self.request_uri,
            self.from,
            self.to,
            self.call_id,
            sdp.len()
        );
        self.sip
            .send_to(invite.as_bytes(), self.server)
            .map_err(|e| io("sending re-INVITE", e))?;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let mut buf = vec![0u8; 8192];
            let Ok(n) = self.sip.recv(&mut buf) else {
                continue;
            };
            buf.truncate(n);
            let expected_cseq = format!("{cseq} INVITE");
            let Some(code) = status_code(&buf) else {
                continue;
            };
            if code < 200 || header(&buf, "CSeq").as_deref() != Some(expected_cseq.as_str()) {
                continue;
            }
            // RFC 3261 §13.2.2.4 (2xx: a new transaction) and §17.1.1.3 (non-2xx: same branch).
            let ack_branch = if code < 300 {
                format!("{branch}ack")
            } else {
                branch.clone()
            };
            let ack = format!(
                "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={ack_branch};rport\r\nMax-Forwards: 70\r\n\
                 From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n",
                self.request_uri, self.from, self.to, self.call_id
            );
            let _ = self.sip.send_to(ack.as_bytes(), self.server);
            return Ok(code);
        }
        Err(HarnessError::Command {
            command: "re-INVITE".into(),
            detail: format!("no final response within {limit:?}"),
        })
    }

    /// Queues 8 kHz speech to send next (after anything already queued).
    pub fn say(&self, samples: &[i16]) {
        let mut b = RtpStreamBuilder::new(Law::MuLaw, EVENT_PT);
        b.audio(samples).silence(200);
        let _ = self.segments.send(b.packets().to_vec());
    }

    /// Queues keys as RFC 4733 events, 120 ms each with 200 ms between them.
    pub fn keys(&self, keys: &str) {
        let mut b = RtpStreamBuilder::new(Law::MuLaw, EVENT_PT);
        for k in keys.chars() {
            b.dtmf(k, 120).silence(200);
        }
        let _ = self.segments.send(b.packets().to_vec());
    }

    /// Waits until the server has played something and then been quiet for `quiet`.
    pub fn wait_prompt_end(&self, quiet: Duration, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            let loud = self.last_loud.lock().ok().and_then(|l| *l);
            if let Some(at) = loud
                && at.elapsed() >= quiet
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Whether prompt audio (louder than silence) arrived since the last reset.
    pub fn heard_audio(&self) -> bool {
        self.last_loud.lock().ok().and_then(|l| *l).is_some()
    }

    /// Forgets the audio heard so far (so the next wait is for the next prompt).
    pub fn reset_heard(&self) {
        if let Ok(mut l) = self.last_loud.lock() {
            *l = None;
        }
    }

    /// Sends BYE (the caller hangs up).
    pub fn hang_up(&mut self) {
        self.cseq += 1;
        let local = self
            .sip
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let bye = format!(
            "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKbye{};rport\r\nMax-Forwards: 70\r\n\
             From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
            self.request_uri, self.cseq, self.from, self.to, self.call_id, self.cseq
        );
        let _ = self.sip.send_to(bye.as_bytes(), self.server);
    }
}

impl Drop for LiveCaller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.rtp_thread.take() {
            let _ = t.join();
        }
    }
}

/// The RTP thread: one packet every 20 ms (queued segments re-stamped into this stream, or
/// silence), and the server's packets read to note when it last played audio.
fn send_media(
    socket: UdpSocket,
    media: SocketAddr,
    queued: Receiver<Vec<RtpPacket>>,
    last_loud: Arc<Mutex<Option<Instant>>>,
    stop: Arc<AtomicBool>,
    counters: Arc<MediaCounters>,
) {
    let epoch = counters
        .epoch
        .lock()
        .ok()
        .and_then(|e| *e)
        .unwrap_or_else(Instant::now);
    let paused = || {
        let until = counters.paused_until_ms.load(Ordering::Relaxed);
        (epoch.elapsed().as_millis() as u64) < until
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(2)));
    let ssrc = 0x5eed_0001;
    let mut seq: u16 = 1;
    let mut ts: u32 = 0;
    let mut pending: std::collections::VecDeque<(Duration, RtpPacket)> = Default::default();
    let mut segment_start = Instant::now();
    let mut next_silence = Instant::now();
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        if pending.is_empty()
            && let Ok(segment) = queued.try_recv()
        {
            let first = segment.first().map(|p| (p.arrival, p.timestamp));
            if let Some((t0, ts0)) = first {
                segment_start = Instant::now();
                for mut p in segment {
                    let at = p.arrival.saturating_sub(t0);
                    p.timestamp = ts.wrapping_add(p.timestamp.wrapping_sub(ts0));
                    pending.push_back((at, p));
                }
            }
        }
        let now = Instant::now();
        if paused() {
            // Nothing goes out; queued segments start after the pause, silence resumes on time.
            segment_start = now;
            next_silence = now + Duration::from_millis(20);
        } else if let Some((at, _)) = pending.front() {
            if now >= segment_start + *at
                && let Some((_, mut p)) = pending.pop_front()
            {
                p.sequence = seq;
                p.ssrc = ssrc;
                seq = seq.wrapping_add(1);
                if socket.send_to(&p.to_bytes(), media).is_ok() {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                if p.payload_type == 0 {
                    ts = p.timestamp.wrapping_add(160);
                } else {
                    ts = ts.max(p.timestamp);
                }
                next_silence = Instant::now() + Duration::from_millis(20);
            }
        } else if now >= next_silence {
            let p = RtpPacket {
                payload_type: 0,
                marker: false,
                sequence: seq,
                timestamp: ts,
                ssrc,
                payload: vec![Law::MuLaw.silence(); 160],
                arrival: Duration::ZERO,
            };
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            if socket.send_to(&p.to_bytes(), media).is_ok() {
                counters.sent.fetch_add(1, Ordering::Relaxed);
            }
            next_silence += Duration::from_millis(20);
        }
        let got = socket.recv(&mut buf).ok();
        if got.is_some() {
            counters.received.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(n) = got
            && let Some(p) = buf
                .get(..n)
                .and_then(|b| RtpPacket::parse(b, Duration::ZERO))
            && p.payload_type == 0
            && !p.payload.is_empty()
        {
            let mean = p
                .payload
                .iter()
                .map(|c| f64::from(Law::MuLaw.decode(*c)).abs())
                .sum::<f64>()
                / p.payload.len() as f64;
            if mean > LOUD
                && let Ok(mut l) = last_loud.lock()
            {
                *l = Some(Instant::now());
            }
        }
    }
}
