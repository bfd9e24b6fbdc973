//! A tiny raw SIP client for probes and hand-made messages: build an OPTIONS, send any bytes
//! over UDP or TCP, and read back responses with their status codes. It parses only what a
//! test asserts on (status line, a header's value), leniently, and never panics on input.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::HarnessError;

/// A UDP socket on 127.0.0.1 that sends raw SIP and collects what comes back.
#[derive(Debug)]
pub struct RawSipUdp {
    socket: UdpSocket,
}

impl RawSipUdp {
    /// Binds an ephemeral port on 127.0.0.1.
    pub fn bind() -> Result<RawSipUdp, HarnessError> {
        let socket =
            UdpSocket::bind("127.0.0.1:0").map_err(|e| HarnessError::io("binding UDP", e))?;
        Ok(RawSipUdp { socket })
    }

    /// The local address, for Via/Contact headers.
    pub fn local_addr(&self) -> Result<SocketAddr, HarnessError> {
        self.socket
            .local_addr()
            .map_err(|e| HarnessError::io("local address", e))
    }

    /// Sends one datagram.
    pub fn send(&self, target: SocketAddr, bytes: &[u8]) -> Result<(), HarnessError> {
        self.socket
            .send_to(bytes, target)
            .map(|_| ())
            .map_err(|e| HarnessError::io(format!("sending to {target}"), e))
    }

    /// The next datagram within `limit`, or `None`.
    pub fn recv(&self, limit: Duration) -> Option<Vec<u8>> {
        let _ = self
            .socket
            .set_read_timeout(Some(limit.max(Duration::from_millis(1))));
        let mut buf = vec![0u8; 65_536];
        let (len, _) = self.socket.recv_from(&mut buf).ok()?;
        buf.truncate(len);
        Some(buf)
    }

    /// Sends `bytes` and returns the first final response (status ≥ 200) within `limit`,
    /// skipping provisional ones; with `final_only == false` returns the first response.
    pub fn request(
        &self,
        target: SocketAddr,
        bytes: &[u8],
        limit: Duration,
        final_only: bool,
    ) -> Result<Option<Vec<u8>>, HarnessError> {
        self.send(target, bytes)?;
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.recv(left) {
                Some(reply) => {
                    let status = status_code(&reply);
                    if status.is_some_and(|s| s >= 200 || !final_only) {
                        return Ok(Some(reply));
                    }
                }
                None => break,
            }
        }
        Ok(None)
    }
}

/// Sends `bytes` on a new TCP connection and returns what arrives within `limit` (until the
/// peer closes or one complete message, by Content-Length, has arrived).
pub fn tcp_exchange(
    target: SocketAddr,
    bytes: &[u8],
    limit: Duration,
) -> Result<Vec<u8>, HarnessError> {
    let mut stream = TcpStream::connect_timeout(&target, limit)
        .map_err(|e| HarnessError::io(format!("connecting to {target}"), e))?;
    stream
        .write_all(bytes)
        .map_err(|e| HarnessError::io(format!("writing to {target}"), e))?;
    let deadline = Instant::now() + limit;
    let mut received = Vec::new();
    let mut buf = [0u8; 16_384];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut buf) {
            // A signal to the test process interrupts the read; try again.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
        if complete_message_len(&received).is_some() {
            break;
        }
    }
    Ok(received)
}

/// The status code of a SIP response (`SIP/2.0 200 OK`), or `None` for anything else.
pub fn status_code(message: &[u8]) -> Option<u16> {
    let line_end = message.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let line = std::str::from_utf8(message.get(..line_end)?).ok()?;
    let mut parts = line.split(' ');
    if parts.next()? != "SIP/2.0" {
        return None;
    }
    parts.next()?.parse().ok()
}

/// The first value of header `name` (case-insensitive; compact forms are the caller's
/// business), trimmed.
pub fn header(message: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_string())
    })
}

/// Length of the first complete message in `bytes` (head + Content-Length body), if any.
pub fn complete_message_len(bytes: &[u8]) -> Option<usize> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body_len = header(&bytes[..head_end], "Content-Length")
        .or_else(|| header(&bytes[..head_end], "l"))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let total = head_end + body_len;
    (bytes.len() >= total).then_some(total)
}

/// An out-of-dialog OPTIONS from `local` to `target` over `transport` ("UDP"/"TCP").
pub fn options_request(target: SocketAddr, local: SocketAddr, transport: &str) -> Vec<u8> {
    let tag: u32 = rand::random();
    let branch: u64 = rand::random();
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK{branch:x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag={tag:x}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: probe-{branch:x}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:probe@{local}>\r\n\
         Accept: application/sdp\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Sends UDP OPTIONS every 100 ms until a 200 comes back or `limit` passes; `is_alive`
/// is polled between tries so a crashed server fails fast instead of timing out.
pub fn wait_for_options_200(
    target: SocketAddr,
    limit: Duration,
    mut is_alive: impl FnMut() -> bool,
) -> Result<(), HarnessError> {
    let probe = RawSipUdp::bind()?;
    let local = probe.local_addr()?;
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !is_alive() {
            return Err(HarnessError::Command {
                command: "readiness probe".into(),
                detail: "process exited before answering OPTIONS".into(),
            });
        }
        let request = options_request(target, local, "UDP");
        if let Ok(Some(reply)) = probe.request(target, &request, Duration::from_millis(100), true)
            && status_code(&reply) == Some(200)
        {
            return Ok(());
        }
    }
    Err(HarnessError::Timeout {
        what: format!("200 OK to OPTIONS from {target}"),
        seconds: limit.as_secs_f64(),
    })
}
