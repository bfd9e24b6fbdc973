//! SIP over TCP (RFC 3261 §18.3): the listener, one task per connection, and the limits that
//! keep TCP from exhausting the server.
//!
//! Owns: accepting (allow-list and connection caps applied before a task or buffer exists),
//! framing by Content-Length, the idle timeout and the per-message deadline, the bounded queue
//! of what we send on each connection, and backing off when accept fails (out of descriptors).
//! Must not touch: SIP semantics; messages go to the user agent through the driver.
//!
//! Why each bound: a TCP connection holds a descriptor and a buffer for as long as the peer
//! likes, and descriptors are shared with the RTP sockets every call needs. So strangers are
//! closed at accept, one source may hold only `max_connections_per_source`, all of them
//! together at most `max_connections` (lowered so that two descriptors per call stay free), a
//! connection that sends nothing is closed after `idle_timeout_secs`, one that starts a message
//! and dribbles it is closed after `message_timeout_ms`, and one that does not read what we
//! send is closed when its queue of `send_queue` messages is full.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::config::TcpConfig;
use crate::log_limit::LogLimit;
use crate::sip::ua::{ConnectionId, IpNet};

use super::MAX_SIP_MESSAGE;

/// Accept failures are reported at most this often (under descriptor exhaustion every
/// attempt fails).
static ACCEPT_FAILED: LogLimit = LogLimit::standard();
/// Refused connections (stranger, caps) are reported at most this often.
static CONNECTION_REFUSED: LogLimit = LogLimit::standard();
/// Connections closed for a peer's behaviour (slow message, full queue).
static CONNECTION_CLOSED: LogLimit = LogLimit::standard();

/// First pause after a failed accept; doubles per failure up to [`ACCEPT_BACKOFF_MAX`].
/// Kernel send buffer of each SIP TCP connection (Linux doubles it for its bookkeeping). Fixed
/// rather than autotuned: autotuning let a peer that never reads park megabytes of responses in
/// the kernel, per connection, before the bounded queue of `send_queue` messages ever filled.
/// SIP responses are small; a larger message still goes out as the peer reads.
const SEND_BUFFER: usize = 32 * 1024;
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(100);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Fewest connections TCP is given even when the descriptor limit leaves less.
const MIN_CONNECTIONS: usize = 8;
/// Messages from all connections waiting for the driver; a full queue stops connections
/// reading (TCP flow control pushes back on the peers) instead of growing.
const TO_DRIVER_QUEUE: usize = 1024;
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 4096;

/// The limits in force (the configured ones, lowered to fit the descriptor limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub max_connections_per_source: usize,
    pub idle_timeout: Duration,
    pub message_timeout: Duration,
    pub send_queue: usize,
}

impl TcpLimits {
    /// The configured limits, with `max_connections` lowered so that the descriptors
    /// `max_calls` needs (an RTP and an RTCP socket per call) plus `descriptor_headroom`
    /// stay free under a soft descriptor limit of `fd_limit`.
    pub fn new(config: &TcpConfig, max_calls: usize, fd_limit: Option<u64>) -> TcpLimits {
        let reserved = max_calls
            .saturating_mul(2)
            .saturating_add(config.descriptor_headroom);
        let by_descriptors = fd_limit
            .map(|limit| usize::try_from(limit).unwrap_or(usize::MAX))
            .map_or(usize::MAX, |limit| limit.saturating_sub(reserved));
        TcpLimits {
            max_connections: config
                .max_connections
                .min(by_descriptors)
                .max(MIN_CONNECTIONS),
            max_connections_per_source: config.max_connections_per_source.max(1),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs.max(1)),
            message_timeout: Duration::from_millis(config.message_timeout_ms.max(1)),
            send_queue: config.send_queue.max(1),
        }
    }
}

/// The soft limit on open descriptors, if it can be read.
pub fn descriptor_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    ok.then_some(lim.rlim_cur)
}

/// What connection tasks tell the driver.
#[derive(Debug)]
pub enum TcpInput {
    /// One complete SIP message (or the unframeable rest of a broken stream).
    Message {
        conn: ConnectionId,
        source: SocketAddr,
        data: Vec<u8>,
    },
    /// Nothing received for the idle timeout; the driver closes it unless a call uses it.
    Idle { conn: ConnectionId },
    /// The connection ended (peer closed, error, or message deadline).
    Closed { conn: ConnectionId },
}

struct Connection {
    source: IpAddr,
    queue: mpsc::Sender<Vec<u8>>,
    task: AbortHandle,
}

/// The listener and every open connection.
pub struct TcpTransport {
    listener: TcpListener,
    limits: TcpLimits,
    allowed: Vec<IpNet>,
    connections: HashMap<ConnectionId, Connection>,
    per_source: HashMap<IpAddr, usize>,
    next_conn: ConnectionId,
    to_driver: mpsc::Sender<TcpInput>,
    /// Current accept back-off and when accepting resumes.
    backoff: Duration,
    paused_until: Option<Instant>,
}

impl TcpTransport {
    /// Wraps `listener`; the receiver yields what the connections read.
    pub fn new(
        listener: TcpListener,
        limits: TcpLimits,
        allowed: Vec<IpNet>,
    ) -> (TcpTransport, mpsc::Receiver<TcpInput>) {
        let (to_driver, from_connections) = mpsc::channel(TO_DRIVER_QUEUE);
        let transport = TcpTransport {
            listener,
            limits,
            allowed,
            connections: HashMap::new(),
            per_source: HashMap::new(),
            next_conn: 1,
            to_driver,
            backoff: Duration::ZERO,
            paused_until: None,
        };
        (transport, from_connections)
    }

    pub fn limits(&self) -> TcpLimits {
        self.limits
    }

    /// Open connections.
    pub fn open(&self) -> usize {
        self.connections.len()
    }

    /// The next accepted connection, after any back-off pause.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        if let Some(until) = self.paused_until {
            tokio::time::sleep_until(until).await;
        }
        self.listener.accept().await
    }

    /// Applies the allow-list and the caps to an accepted connection, or backs off after a
    /// failed accept.
    pub fn on_accept(&mut self, accepted: io::Result<(TcpStream, SocketAddr)>) {
        let (stream, peer) = match accepted {
            Ok(ok) => ok,
            Err(e) => {
                // EMFILE/ENFILE (or ENOBUFS/ENOMEM) last until something is closed: trying
                // again at once spins a core. Back off 100 ms, doubling to 1 s, for any
                // failure; a transient one (ECONNABORTED) costs one short pause.
                self.backoff = (self.backoff * 2).clamp(ACCEPT_BACKOFF_MIN, ACCEPT_BACKOFF_MAX);
                self.paused_until = Some(Instant::now() + self.backoff);
                let pause_ms = self.backoff.as_millis() as u64;
                crate::warn_limited!(ACCEPT_FAILED, error = %e, pause_ms, open = self.connections.len(), "tcp accept failed; accepting paused");
                return;
            }
        };
        self.backoff = Duration::ZERO;
        self.paused_until = None;
        let source = peer.ip();
        let refused = if !self.allowed.iter().any(|n| n.contains(source)) {
            Some("source not allowed")
        } else if self.connections.len() >= self.limits.max_connections {
            Some("connection limit reached")
        } else if self.per_source.get(&source).copied().unwrap_or(0)
            >= self.limits.max_connections_per_source
        {
            Some("per-source connection limit reached")
        } else {
            None
        };
        if let Some(reason) = refused {
            crate::warn_limited!(CONNECTION_REFUSED, %peer, reason, "tcp connection refused");
            reset(stream);
            return;
        }
        if let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER) {
            tracing::debug!(%peer, error = %e, "tcp send buffer not fixed");
        }
        let conn = self.next_conn;
        self.next_conn += 1;
        let (queue, outgoing) = mpsc::channel(self.limits.send_queue);
        let task = tokio::spawn(run_connection(
            conn,
            stream,
            peer,
            ConnectionLimits {
                idle: self.limits.idle_timeout,
                message: self.limits.message_timeout,
            },
            self.to_driver.clone(),
            outgoing,
        ))
        .abort_handle();
        self.connections.insert(
            conn,
            Connection {
                source,
                queue,
                task,
            },
        );
        *self.per_source.entry(source).or_insert(0) += 1;
    }

    /// Handles what a connection reported; returns a message for the user agent. `in_use`
    /// says whether a call still uses a connection (idle ones that carry calls are kept).
    pub fn on_input(
        &mut self,
        input: TcpInput,
        in_use: impl FnOnce(ConnectionId) -> bool,
    ) -> Option<(ConnectionId, SocketAddr, Vec<u8>)> {
        match input {
            TcpInput::Message { conn, source, data } => Some((conn, source, data)),
            TcpInput::Idle { conn } => {
                if !in_use(conn) {
                    tracing::debug!(conn, "idle tcp connection closed");
                    self.close(conn);
                }
                None
            }
            TcpInput::Closed { conn } => {
                self.forget(conn);
                None
            }
        }
    }

    /// Queues `payload` for `conn`. A peer that lets its queue fill (it does not read) has its
    /// connection closed rather than our memory grow.
    pub fn send(&mut self, conn: ConnectionId, payload: Vec<u8>) {
        let Some(connection) = self.connections.get(&conn) else {
            tracing::debug!(conn, "message for a closed TCP connection dropped");
            return;
        };
        match connection.queue.try_send(payload) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let source = connection.source;
                crate::warn_limited!(CONNECTION_CLOSED, conn, %source, "tcp peer does not read: connection closed");
                self.close(conn);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.forget(conn),
        }
    }

    /// Gives back the maps' spare capacity after a burst of connections.
    pub fn release_spare_capacity(&mut self) {
        self.connections.shrink_to(self.connections.len() * 2);
        self.per_source.shrink_to(self.per_source.len() * 2);
    }

    /// Ends a connection's task (which drops, and so closes, its socket).
    fn close(&mut self, conn: ConnectionId) {
        if let Some(connection) = self.connections.get(&conn) {
            connection.task.abort();
        }
        self.forget(conn);
    }

    fn forget(&mut self, conn: ConnectionId) {
        let Some(connection) = self.connections.remove(&conn) else {
            return;
        };
        if let Some(n) = self.per_source.get_mut(&connection.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&connection.source);
            }
        }
    }
}

/// Closes a refused connection with a reset (SO_LINGER 0): no FIN handshake and no TIME_WAIT
/// entry on our side for each refused attempt.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

#[derive(Debug, Clone, Copy)]
struct ConnectionLimits {
    idle: Duration,
    message: Duration,
}

/// Reads SIP messages from one connection, framed by Content-Length (RFC 3261 §18.3), and
/// writes what the user agent sends on it. Ends on close, error, a message not completed in
/// time, or a write the peer does not take in time.
async fn run_connection(
    conn: ConnectionId,
    mut stream: TcpStream,
    peer: SocketAddr,
    limits: ConnectionLimits,
    to_driver: mpsc::Sender<TcpInput>,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let (mut reader, mut writer) = stream.split();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; READ_CHUNK];
    let mut idle_at = Instant::now() + limits.idle;
    // Set while part of a message is buffered: the whole of it must arrive by then.
    let mut message_due: Option<Instant> = None;
    'conn: loop {
        let wake = message_due.map_or(idle_at, |due| due.min(idle_at));
        tokio::select! {
            read = reader.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let now = Instant::now();
                idle_at = now + limits.idle;
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                match frame_messages(&mut buf) {
                    Framed::Messages(messages) => {
                        for data in messages {
                            let input = TcpInput::Message { conn, source: peer, data };
                            if to_driver.send(input).await.is_err() {
                                break 'conn;
                            }
                        }
                    }
                    Framed::Broken(data) => {
                        // RFC 4475 §3.1.2.3: a stream whose framing is broken cannot be
                        // resynchronised; let the UA answer 400 if it can, then close.
                        let _ = to_driver.send(TcpInput::Message { conn, source: peer, data }).await;
                        break;
                    }
                }
                if buf.len() > MAX_SIP_MESSAGE {
                    break; // a message that never ends: close rather than grow
                }
                // CRLF keep-alives (RFC 5626 §4.4.1) between messages start nothing.
                let partial = buf.iter().any(|b| !matches!(b, b'\r' | b'\n'));
                if !partial {
                    buf.clear();
                }
                message_due = match (partial, message_due) {
                    (false, _) => None,
                    (true, Some(due)) => Some(due),
                    (true, None) => Some(now + limits.message),
                };
            }
            queued = outgoing.recv() => {
                let Some(bytes) = queued else { break };
                // A peer that stops reading blocks the write; it gets as long as a message.
                match tokio::time::timeout(limits.message, writer.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break,
                    Err(_) => {
                        crate::warn_limited!(CONNECTION_CLOSED, conn, %peer, "tcp peer does not read: connection closed");
                        break;
                    }
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if message_due.is_some_and(|due| due <= now) {
                    crate::warn_limited!(CONNECTION_CLOSED, conn, %peer, buffered = buf.len(), "tcp message not completed in time: connection closed");
                    break;
                }
                // Idle: the driver decides (a call may still need this connection).
                idle_at = now + limits.idle;
                if to_driver.send(TcpInput::Idle { conn }).await.is_err() {
                    break;
                }
            }
        }
    }
    drop(buf);
    let _ = to_driver.send(TcpInput::Closed { conn }).await;
}

enum Framed {
    /// Complete messages taken off the front of the buffer (possibly none).
    Messages(Vec<Vec<u8>>),
    /// Framing is broken: everything buffered, to be answered 400 if possible.
    Broken(Vec<u8>),
}

fn frame_messages(buf: &mut Vec<u8>) -> Framed {
    let mut messages = Vec::new();
    loop {
        match crate::sip::parse::parse_stream(buf) {
            Ok(Some((_, used))) => messages.push(buf.drain(..used).collect()),
            Ok(None) => return Framed::Messages(messages),
            Err(_) => {
                if !messages.is_empty() {
                    // Deliver what was complete first; the broken rest is answered next turn.
                    return Framed::Messages(messages);
                }
                return Framed::Broken(std::mem::take(buf));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_cap_leaves_descriptors_for_calls() {
        let config = TcpConfig::default();
        // 1,024 descriptors, 100 calls: 200 for RTP/RTCP and 256 headroom leave 568.
        let limits = TcpLimits::new(&config, 100, Some(1024));
        assert_eq!(limits.max_connections, 568);
        // A generous limit leaves the configured cap.
        let limits = TcpLimits::new(&config, 1000, Some(1 << 20));
        assert_eq!(limits.max_connections, config.max_connections);
        // A limit too small for the calls still lets a few TCP peers in.
        let limits = TcpLimits::new(&config, 1000, Some(1024));
        assert_eq!(limits.max_connections, MIN_CONNECTIONS);
    }

    #[test]
    fn framing_takes_complete_messages_and_keeps_the_rest() {
        let one = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let mut buf = Vec::new();
        buf.extend_from_slice(one);
        buf.extend_from_slice(one);
        buf.extend_from_slice(&one[..20]);
        match frame_messages(&mut buf) {
            Framed::Messages(m) => assert_eq!(m.len(), 2),
            Framed::Broken(_) => panic!("framing broken"),
        }
        assert_eq!(buf, &one[..20]);
    }
}
