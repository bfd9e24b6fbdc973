//! The four RFC 3261 §17 transaction state machines, sans-IO and byte-level.
//!
//! Owns: retransmission and timeout of requests and responses (Timers A..K, plus the RFC 6026
//! Accepted state for INVITE 2xx), and transaction keys for matching (§17.1.3, §17.2.3).
//! Must not touch: message parsing or building (the user agent hands in finished bytes and the
//! status codes it read), dialogs, sockets. Each machine is fed `now` and returns what to send.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::timer::{T1, T2, T4, TIMER_B, TIMER_D_UDP, TIMER_F, TIMER_H, TIMER_J_UDP, backoff};

/// RFC 3261 §8.1.1.7: branches of RFC 3261 implementations start with this cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A TCP connection as the driver numbers it.
pub type ConnectionId = u64;

/// How a transaction's messages travel: UDP needs retransmissions, a stream does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    /// A TCP connection, identified by the driver.
    Tcp(ConnectionId),
}

impl Transport {
    /// RFC 3261 §17.1.1.2: timers A, E, G only run over unreliable transports.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// Bytes to send and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    pub destination: SocketAddr,
    pub payload: Vec<u8>,
}

/// Identifies a transaction: top Via branch, sent-by and method (§17.2.3; ACK maps to INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionKey {
    pub branch: String,
    pub sent_by: String,
    pub method: String,
}

impl TransactionKey {
    /// Builds a key; `ACK` and `CANCEL` are folded onto INVITE/CANCEL as §17.2.3 requires
    /// (ACK matches the INVITE it acknowledges; CANCEL is its own transaction).
    pub fn new(branch: &str, sent_by: &str, method: &str) -> Self {
        let method = if method == "ACK" { "INVITE" } else { method };
        TransactionKey {
            branch: branch.to_string(),
            sent_by: sent_by.to_ascii_lowercase(),
            method: method.to_string(),
        }
    }
}

/// State of an INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// What an INVITE server transaction reports when its timers fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTimerOutcome {
    /// Nothing for the TU; maybe a retransmission went out.
    Quiet,
    /// Timer H fired: the ACK for our non-2xx final never came (§17.2.1).
    AckTimedOut,
}

/// RFC 3261 §17.2.1 INVITE server transaction. A 2xx moves it to Accepted (RFC 6026) where the
/// TU (the dialog) owns 2xx retransmission; only non-2xx finals are retransmitted here.
#[derive(Debug, Clone)]
pub struct InviteServerTransaction {
    state: InviteServerState,
    transport: Transport,
    destination: SocketAddr,
    last_response: Option<Vec<u8>>,
    retransmit_at: Option<Instant>,
    retransmit_interval: Duration,
    end_at: Option<Instant>,
    timed_out: bool,
}

impl InviteServerTransaction {
    /// A transaction for a fresh INVITE; responses go to `destination` (§18.2.2).
    pub fn new(transport: Transport, destination: SocketAddr) -> Self {
        InviteServerTransaction {
            state: InviteServerState::Proceeding,
            transport,
            destination,
            last_response: None,
            retransmit_at: None,
            retransmit_interval: T1,
            end_at: None,
            timed_out: false,
        }
    }

    pub fn state(&self) -> InviteServerState {
        self.state
    }

    fn transmit(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            transport: self.transport,
            destination: self.destination,
            payload,
        }
    }

    /// The TU sends a response with `status`. Returns what to put on the wire.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        payload: Vec<u8>,
    ) -> Option<Transmit> {
        match self.state {
            InviteServerState::Proceeding => {}
            // RFC 6026 §7.1: in Accepted the TU may still pass 2xx retransmissions through.
            InviteServerState::Accepted if (200..300).contains(&status) => {
                return Some(self.transmit(payload));
            }
            _ => return None,
        }
        self.last_response = Some(payload.clone());
        if (200..300).contains(&status) {
            // RFC 6026 §7.1: Timer L = 64*T1 keeps the transaction to absorb INVITE retransmits.
            self.state = InviteServerState::Accepted;
            self.end_at = Some(now + TIMER_H);
        } else if status >= 300 {
            self.state = InviteServerState::Completed;
            if !self.transport.is_reliable() {
                // RFC 3261 §17.2.1: Timer G starts at T1 for unreliable transports.
                self.retransmit_interval = T1;
                self.retransmit_at = Some(now + T1);
            }
            self.end_at = Some(now + TIMER_H);
        }
        Some(self.transmit(payload))
    }

    /// A retransmission of the INVITE arrived (§17.2.1): resend the latest response, except in
    /// Accepted where RFC 6026 says to absorb it.
    pub fn on_request_retransmit(&mut self) -> Option<Transmit> {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Completed => {
                self.last_response.clone().map(|p| self.transmit(p))
            }
            _ => None,
        }
    }

    /// An ACK matched this transaction. Returns true if it acknowledged a non-2xx final (and so
    /// must be absorbed), false when it belongs to the dialog (ACK for 2xx).
    pub fn on_ack(&mut self, now: Instant) -> bool {
        match self.state {
            InviteServerState::Completed => {
                self.state = InviteServerState::Confirmed;
                self.retransmit_at = None;
                // RFC 3261 §17.2.1: Timer I = T4 for UDP, zero for reliable transports.
                let wait = if self.transport.is_reliable() {
                    Duration::ZERO
                } else {
                    T4
                };
                self.end_at = Some(now + wait);
                true
            }
            InviteServerState::Confirmed => true,
            _ => false,
        }
    }

    /// Fires due timers.
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Transmit>) -> ServerTimerOutcome {
        if let Some(at) = self.retransmit_at
            && at <= now
            && self.state == InviteServerState::Completed
        {
            if let Some(p) = self.last_response.clone() {
                out.push(self.transmit(p));
            }
            // RFC 3261 §17.2.1: Timer G doubles up to T2.
            self.retransmit_interval = backoff(self.retransmit_interval, T2);
            self.retransmit_at = Some(at + self.retransmit_interval);
        }
        if let Some(end) = self.end_at
            && end <= now
        {
            let was = self.state;
            self.state = InviteServerState::Terminated;
            self.retransmit_at = None;
            self.end_at = None;
            if was == InviteServerState::Completed {
                self.timed_out = true;
                return ServerTimerOutcome::AckTimedOut;
            }
        }
        ServerTimerOutcome::Quiet
    }

    /// When to call [`Self::on_timer`] next.
    pub fn next_timeout(&self) -> Option<Instant> {
        match (self.retransmit_at, self.end_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteServerState::Terminated
    }
}

/// State of a non-INVITE server transaction (RFC 3261 §17.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// RFC 3261 §17.2.2 non-INVITE server transaction.
#[derive(Debug, Clone)]
pub struct NonInviteServerTransaction {
    state: NonInviteServerState,
    transport: Transport,
    destination: SocketAddr,
    last_response: Option<Vec<u8>>,
    end_at: Option<Instant>,
}

impl NonInviteServerTransaction {
    pub fn new(transport: Transport, destination: SocketAddr) -> Self {
        NonInviteServerTransaction {
            state: NonInviteServerState::Trying,
            transport,
            destination,
            last_response: None,
            end_at: None,
        }
    }

    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    /// The TU responds; a final response starts Timer J.
    pub fn send_response(
        &mut self,
        now: Instant,
        status: u16,
        payload: Vec<u8>,
    ) -> Option<Transmit> {
        if matches!(
            self.state,
            NonInviteServerState::Completed | NonInviteServerState::Terminated
        ) {
            return None;
        }
        self.last_response = Some(payload.clone());
        if status >= 200 {
            self.state = NonInviteServerState::Completed;
            // RFC 3261 §17.2.2: Timer J = 64*T1 for UDP, zero for reliable transports.
            let wait = if self.transport.is_reliable() {
                Duration::ZERO
            } else {
                TIMER_J_UDP
            };
            self.end_at = Some(now + wait);
        } else {
            self.state = NonInviteServerState::Proceeding;
        }
        Some(Transmit {
            transport: self.transport,
            destination: self.destination,
            payload,
        })
    }

    /// A retransmitted request gets the last response again (absorbed while Trying).
    pub fn on_request_retransmit(&self) -> Option<Transmit> {
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => {
                self.last_response.clone().map(|payload| Transmit {
                    transport: self.transport,
                    destination: self.destination,
                    payload,
                })
            }
            _ => None,
        }
    }

    pub fn on_timer(&mut self, now: Instant) {
        if self.end_at.is_some_and(|at| at <= now) {
            self.state = NonInviteServerState::Terminated;
            self.end_at = None;
        }
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.end_at
    }

    pub fn is_terminated(&self) -> bool {
        self.state == NonInviteServerState::Terminated
    }
}

/// State of a client transaction (both kinds, RFC 3261 §17.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Calling (INVITE) or Trying (non-INVITE).
    Calling,
    Proceeding,
    Completed,
    /// RFC 6026 §8.4: INVITE got a 2xx; absorb nothing, pass further 2xx to the TU (Timer M).
    Accepted,
    Terminated,
}

/// What a client transaction tells its TU about a received response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientResponseOutcome {
    /// Pass the response up.
    Deliver,
    /// A retransmission the transaction handled itself.
    Absorb,
}

/// RFC 3261 §17.1.1 (INVITE) and §17.1.2 (non-INVITE) client transaction.
#[derive(Debug, Clone)]
pub struct ClientTransaction {
    invite: bool,
    state: ClientState,
    transport: Transport,
    destination: SocketAddr,
    request: Vec<u8>,
    ack: Option<Vec<u8>>,
    retransmit_at: Option<Instant>,
    retransmit_interval: Duration,
    timeout_at: Option<Instant>,
    end_at: Option<Instant>,
    timed_out: bool,
}

impl ClientTransaction {
    /// Starts a transaction and returns it with the first transmission.
    pub fn start(
        now: Instant,
        invite: bool,
        transport: Transport,
        destination: SocketAddr,
        request: Vec<u8>,
    ) -> (Self, Transmit) {
        let retransmit_at = if transport.is_reliable() {
            None
        } else {
            Some(now + T1)
        };
        let tx = ClientTransaction {
            invite,
            state: ClientState::Calling,
            transport,
            destination,
            request: request.clone(),
            ack: None,
            retransmit_at,
            retransmit_interval: T1,
            // Timer B (INVITE) / Timer F (non-INVITE), both 64*T1.
            timeout_at: Some(now + if invite { TIMER_B } else { TIMER_F }),
            end_at: None,
            timed_out: false,
        };
        (
            tx,
            Transmit {
                transport,
                destination,
                payload: request,
            },
        )
    }

    pub fn state(&self) -> ClientState {
        self.state
    }

    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The request bytes this transaction carries (CANCEL and auth retries are built from it).
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// A response arrived. For an INVITE non-2xx final, `build_ack` makes the ACK the
    /// transaction sends itself (§17.1.1.3); it is called at most once.
    pub fn on_response(
        &mut self,
        now: Instant,
        status: u16,
        build_ack: impl FnOnce() -> Vec<u8>,
        out: &mut Vec<Transmit>,
    ) -> ClientResponseOutcome {
        let final_ = status >= 200;
        match self.state {
            ClientState::Calling | ClientState::Proceeding => {
                if !final_ {
                    if self.state == ClientState::Calling {
                        self.state = ClientState::Proceeding;
                        if self.invite {
                            // RFC 3261 §17.1.1.2: a provisional stops Timer A (and B).
                            self.retransmit_at = None;
                            self.timeout_at = None;
                        } else if let Some(at) = self.retransmit_at {
                            // §17.1.2.2: in Proceeding, Timer E fires every T2.
                            self.retransmit_interval = T2;
                            self.retransmit_at = Some(at.max(now));
                        }
                    }
                    return ClientResponseOutcome::Deliver;
                }
                self.retransmit_at = None;
                self.timeout_at = None;
                if self.invite && status < 300 {
                    // RFC 6026 §8.4: Accepted, Timer M = 64*T1.
                    self.state = ClientState::Accepted;
                    self.end_at = Some(now + TIMER_B);
                } else if self.invite {
                    self.state = ClientState::Completed;
                    let ack = build_ack();
                    out.push(self.transmit(ack.clone()));
                    self.ack = Some(ack);
                    // Timer D: >32 s for UDP, 0 for reliable.
                    let wait = if self.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        TIMER_D_UDP
                    };
                    self.end_at = Some(now + wait);
                } else {
                    self.state = ClientState::Completed;
                    // Timer K: T4 for UDP, 0 for reliable.
                    let wait = if self.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        T4
                    };
                    self.end_at = Some(now + wait);
                }
                ClientResponseOutcome::Deliver
            }
            ClientState::Completed => {
                // §17.1.1.2: a retransmitted final gets the ACK again.
                if self.invite
                    && final_
                    && let Some(ack) = self.ack.clone()
                {
                    out.push(self.transmit(ack));
                }
                ClientResponseOutcome::Absorb
            }
            // RFC 6026 §8.4: 2xx retransmissions go to the TU so the dialog re-sends its ACK.
            ClientState::Accepted if (200..300).contains(&status) => ClientResponseOutcome::Deliver,
            _ => ClientResponseOutcome::Absorb,
        }
    }

    fn transmit(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            transport: self.transport,
            destination: self.destination,
            payload,
        }
    }

    /// Fires due timers. Returns true if the transaction timed out (Timer B/F): the TU treats
    /// that as a 408 (§8.1.3.1).
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Transmit>) -> bool {
        if let Some(at) = self.retransmit_at
            && at <= now
        {
            out.push(self.transmit(self.request.clone()));
            let cap = if self.invite { Duration::MAX } else { T2 };
            // Timer A doubles without cap (§17.1.1.2); Timer E doubles up to T2 (§17.1.2.2).
            self.retransmit_interval = if self.state == ClientState::Proceeding {
                T2
            } else {
                backoff(self.retransmit_interval, cap)
            };
            self.retransmit_at = Some(at + self.retransmit_interval);
        }
        if self.timeout_at.is_some_and(|at| at <= now) {
            self.state = ClientState::Terminated;
            self.retransmit_at = None;
            self.timeout_at = None;
            self.end_at = None;
            self.timed_out = true;
            return true;
        }
        if self.end_at.is_some_and(|at| at <= now) {
            self.state = ClientState::Terminated;
            self.end_at = None;
        }
        false
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    /// Marks the transaction dead after a transport error (§8.1.3.1: treat as 503).
    pub fn terminate(&mut self) {
        self.state = ClientState::Terminated;
        self.retransmit_at = None;
        self.timeout_at = None;
        self.end_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5060))
    }

    /// Runs timers at every deadline up to `until`, recording (ms since start, payload).
    fn drive<F>(
        start: Instant,
        until: Duration,
        mut next: impl FnMut() -> Option<Instant>,
        mut fire: F,
    ) -> Vec<u128>
    where
        F: FnMut(Instant, &mut Vec<Transmit>),
    {
        let mut sent = Vec::new();
        let mut guard = 0;
        while let Some(at) = next() {
            guard += 1;
            assert!(guard < 1000, "timer loop did not settle");
            if at > start + until {
                break;
            }
            let mut out = Vec::new();
            fire(at, &mut out);
            for _ in out {
                sent.push((at - start).as_millis());
            }
        }
        sent
    }

    #[test]
    fn invite_server_retransmits_error_on_timer_g_until_h() {
        let t0 = Instant::now();
        let mut tx = InviteServerTransaction::new(Transport::Udp, addr());
        assert!(tx.send_response(t0, 100, b"100".to_vec()).is_some());
        assert_eq!(
            tx.on_request_retransmit().map(|t| t.payload),
            Some(b"100".to_vec())
        );
        assert!(tx.send_response(t0, 486, b"486".to_vec()).is_some());
        let mut timed_out = false;
        let cell = std::cell::RefCell::new(&mut tx);
        let sent = drive(
            t0,
            Duration::from_secs(40),
            || cell.borrow().next_timeout(),
            |now, out| {
                if cell.borrow_mut().on_timer(now, out) == ServerTimerOutcome::AckTimedOut {
                    timed_out = true;
                }
            },
        );
        assert_eq!(&sent[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
        assert!(timed_out);
        assert!(tx.is_terminated());
    }

    #[test]
    fn invite_server_ack_stops_retransmits_and_is_absorbed() {
        let t0 = Instant::now();
        let mut tx = InviteServerTransaction::new(Transport::Udp, addr());
        tx.send_response(t0, 487, b"487".to_vec());
        let mut out = Vec::new();
        tx.on_timer(t0 + T1, &mut out);
        assert_eq!(out.len(), 1);
        assert!(tx.on_ack(t0 + Duration::from_millis(600)));
        assert_eq!(tx.state(), InviteServerState::Confirmed);
        assert!(
            tx.on_ack(t0 + Duration::from_millis(700)),
            "retransmitted ACK absorbed"
        );
        out.clear();
        tx.on_timer(t0 + Duration::from_secs(6), &mut out);
        assert!(out.is_empty());
        assert!(tx.is_terminated());
    }

    #[test]
    fn invite_server_2xx_goes_to_accepted_and_absorbs_invite() {
        let t0 = Instant::now();
        let mut tx = InviteServerTransaction::new(Transport::Udp, addr());
        tx.send_response(t0, 200, b"200".to_vec());
        assert_eq!(tx.state(), InviteServerState::Accepted);
        assert!(tx.on_request_retransmit().is_none());
        assert!(!tx.on_ack(t0), "ACK for 2xx belongs to the dialog");
        assert!(
            tx.send_response(t0, 200, b"200".to_vec()).is_some(),
            "TU retransmits pass through"
        );
        let mut out = Vec::new();
        tx.on_timer(t0 + Duration::from_secs(32), &mut out);
        assert!(tx.is_terminated());
    }

    #[test]
    fn non_invite_server_replays_final_then_terminates_after_j() {
        let t0 = Instant::now();
        let mut tx = NonInviteServerTransaction::new(Transport::Udp, addr());
        assert!(
            tx.on_request_retransmit().is_none(),
            "absorbed while Trying"
        );
        tx.send_response(t0, 200, b"200".to_vec());
        assert_eq!(
            tx.on_request_retransmit().map(|t| t.payload),
            Some(b"200".to_vec())
        );
        assert!(tx.send_response(t0, 500, b"500".to_vec()).is_none());
        tx.on_timer(t0 + Duration::from_secs(31));
        assert!(!tx.is_terminated());
        tx.on_timer(t0 + Duration::from_secs(32));
        assert!(tx.is_terminated());
    }

    #[test]
    fn non_invite_server_over_tcp_ends_at_once() {
        let t0 = Instant::now();
        let mut tx = NonInviteServerTransaction::new(Transport::Tcp(1), addr());
        tx.send_response(t0, 200, b"200".to_vec());
        tx.on_timer(t0);
        assert!(tx.is_terminated());
    }

    #[test]
    fn invite_client_timer_a_doubles_and_b_times_out() {
        let t0 = Instant::now();
        let (mut tx, first) =
            ClientTransaction::start(t0, true, Transport::Udp, addr(), b"INVITE".to_vec());
        assert_eq!(first.payload, b"INVITE");
        let mut timed_out = false;
        let cell = std::cell::RefCell::new(&mut tx);
        let sent = drive(
            t0,
            Duration::from_secs(40),
            || cell.borrow().next_timeout(),
            |now, out| {
                timed_out |= cell.borrow_mut().on_timer(now, out);
            },
        );
        assert_eq!(sent, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert!(timed_out);
    }

    #[test]
    fn invite_client_acks_error_and_reacks_retransmit() {
        let t0 = Instant::now();
        let (mut tx, _) =
            ClientTransaction::start(t0, true, Transport::Udp, addr(), b"INVITE".to_vec());
        let mut out = Vec::new();
        assert_eq!(
            tx.on_response(t0, 100, Vec::new, &mut out),
            ClientResponseOutcome::Deliver
        );
        assert_eq!(
            tx.on_response(t0, 486, || b"ACK".to_vec(), &mut out),
            ClientResponseOutcome::Deliver
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            tx.on_response(t0, 486, || b"NEW".to_vec(), &mut out),
            ClientResponseOutcome::Absorb
        );
        assert_eq!(out[1].payload, b"ACK");
        tx.on_timer(t0 + Duration::from_secs(32), &mut out);
        assert!(tx.is_terminated());
    }

    #[test]
    fn invite_client_passes_2xx_retransmits_up() {
        let t0 = Instant::now();
        let (mut tx, _) =
            ClientTransaction::start(t0, true, Transport::Udp, addr(), b"INVITE".to_vec());
        let mut out = Vec::new();
        assert_eq!(
            tx.on_response(t0, 200, Vec::new, &mut out),
            ClientResponseOutcome::Deliver
        );
        assert_eq!(
            tx.on_response(t0, 200, Vec::new, &mut out),
            ClientResponseOutcome::Deliver
        );
        assert!(out.is_empty(), "ACK for 2xx is the dialog's job");
    }

    #[test]
    fn non_invite_client_timer_e_caps_at_t2_and_f_times_out() {
        let t0 = Instant::now();
        let (mut tx, _) =
            ClientTransaction::start(t0, false, Transport::Udp, addr(), b"BYE".to_vec());
        let mut timed_out = false;
        let cell = std::cell::RefCell::new(&mut tx);
        let sent = drive(
            t0,
            Duration::from_secs(40),
            || cell.borrow().next_timeout(),
            |now, out| {
                timed_out |= cell.borrow_mut().on_timer(now, out);
            },
        );
        assert_eq!(&sent[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
        assert!(timed_out);
    }

    #[test]
    fn non_invite_client_completed_waits_timer_k() {
        let t0 = Instant::now();
        let (mut tx, _) =
            ClientTransaction::start(t0, false, Transport::Udp, addr(), b"BYE".to_vec());
        let mut out = Vec::new();
        tx.on_response(t0, 200, Vec::new, &mut out);
        assert_eq!(tx.state(), ClientState::Completed);
        assert_eq!(
            tx.on_response(t0, 200, Vec::new, &mut out),
            ClientResponseOutcome::Absorb
        );
        tx.on_timer(t0 + T4, &mut out);
        assert!(tx.is_terminated());
        assert!(out.is_empty());
    }

    #[test]
    fn reliable_client_does_not_retransmit() {
        let t0 = Instant::now();
        let (tx, _) =
            ClientTransaction::start(t0, true, Transport::Tcp(7), addr(), b"INVITE".to_vec());
        assert_eq!(tx.next_timeout(), Some(t0 + TIMER_B));
    }
}
