//! The sans-IO SIP user agent core: one object that is fed datagrams, commands and `now`, and
//! returns datagrams to send, call events and the next time to wake it.
//!
//! Owns: source allow-listing, request dispatch (RFC 3261 §8.2), server and client transactions
//! (via `sip::transaction`), dialogs (`sip::dialog`), 2xx retransmission (§13.3.1.4), CANCEL,
//! BYE, re-INVITE/UPDATE (RFC 3311), session timers (RFC 4028), INFO DTMF, outbound calls with
//! digest auth, and REFER (RFC 3515). Must not touch: sockets, clocks, SDP negotiation or media
//! (SDP bodies pass through as strings), or what a call does.
//!
//! Driver contract: after every `handle_*` or command call, drain [`UserAgent::poll_transmit`]
//! and [`UserAgent::poll_event`] until `None`, then sleep until [`UserAgent::poll_timeout`].

pub mod ipnet;
pub mod wire;

mod uac;
mod uas;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use self::ipnet::IpNet;
pub use super::transaction::{ConnectionId, Transmit, Transport};

use super::dialog::Dialog;
use super::session_timer::SessionTimer;
use super::transaction::{
    ClientTransaction, InviteServerTransaction, NonInviteServerTransaction, TransactionKey,
};
use crate::pii::Pii;
use wire::Message;

/// Methods we implement (RFC 3261 §20.5 `Allow`).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, NOTIFY";
/// Extensions we support (RFC 3261 §20.37). `100rel` is deliberately absent (RFC 3262 declined).
pub const SUPPORTED: &str = "timer";
/// Body types we accept.
pub const ACCEPT: &str =
    "application/sdp, application/dtmf-relay, application/dtmf, message/sipfrag";

/// An opaque handle for one call (one INVITE dialog), stable for its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallHandle(pub u64);

/// A configured destination that [`UserAgent::place_call`] may dial (nothing else can be dialled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundTarget {
    pub name: String,
    /// A sip: URI whose host is an IP literal (the core does no DNS).
    pub uri: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// User agent configuration.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Where we listen (UDP and TCP on the same port).
    pub local_addr: SocketAddr,
    /// Address to put in Contact/Via when behind NAT (`--public-address`).
    pub advertised_addr: Option<IpAddr>,
    /// Sources allowed to send us requests; others get 403 without state.
    pub allowed_sources: Vec<IpNet>,
    /// Sources whose P-Asserted-Identity we believe (RFC 3325 §5).
    pub trusted_identity_sources: Vec<IpNet>,
    /// Concurrent call cap; beyond it INVITEs get 503 + Retry-After.
    pub max_calls: usize,
    /// RFC 4028 Session-Expires we ask for (default 1800).
    pub session_expires: u32,
    /// RFC 4028 Min-SE we accept (default 90).
    pub min_se: u32,
    pub user_agent: String,
    pub outbound_targets: Vec<OutboundTarget>,
}

impl UaConfig {
    /// Defaults for a server listening on `local_addr`.
    pub fn new(local_addr: SocketAddr) -> Self {
        UaConfig {
            local_addr,
            advertised_addr: None,
            allowed_sources: vec![IpNet::loopback_v4()],
            trusted_identity_sources: Vec::new(),
            max_calls: 1000,
            session_expires: 1800,
            min_se: 90,
            user_agent: format!("Frontdoor/{}", env!("CARGO_PKG_VERSION")),
            outbound_targets: Vec::new(),
        }
    }
}

/// What we learn about an incoming call.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    pub call_id: String,
    /// P-Asserted-Identity (trusted source) or From user; `None` when withheld.
    pub caller: Option<Pii<String>>,
    /// Request-URI user, percent-decoded.
    pub dialled: String,
    pub source: SocketAddr,
    /// The SDP offer, or `None` for an offerless INVITE (the answer comes in the ACK).
    pub offer: Option<String>,
    pub transport: Transport,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationCause {
    RemoteBye,
    LocalBye,
    Cancelled,
    AckTimeout,
    SessionExpired,
    Rejected(u16),
    TransportError,
    OutgoingFailed(u16),
}

/// Which request carried a mid-call offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReOfferKind {
    ReInvite,
    Update,
}

/// Events for the call runtime.
#[derive(Debug, Clone)]
pub enum UaEvent {
    IncomingCall {
        call: CallHandle,
        info: IncomingCall,
    },
    /// The ACK for our 2xx; `sdp` is the answer when the INVITE was offerless.
    Acked {
        call: CallHandle,
        sdp: Option<String>,
    },
    /// A re-INVITE or UPDATE; answer with `answer_reoffer` or `reject_reoffer`.
    ReOffer {
        call: CallHandle,
        kind: ReOfferKind,
        sdp: Option<String>,
    },
    Dtmf {
        call: CallHandle,
        digit: char,
        duration_ms: u32,
    },
    OutgoingProgress {
        call: CallHandle,
        status: u16,
    },
    OutgoingAnswered {
        call: CallHandle,
        sdp: Option<String>,
    },
    /// REFER progress: the 202 (or failure) to REFER, then NOTIFY sipfrag statuses (RFC 3515 §2.4.5).
    ReferProgress {
        call: CallHandle,
        status: u16,
    },
    Terminated {
        call: CallHandle,
        cause: TerminationCause,
    },
}

/// Errors from commands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaError {
    #[error("no outbound target named {0:?}")]
    UnknownTarget(String),
    #[error("outbound target URI {0:?} has no IP literal host")]
    UnresolvableTarget(String),
    #[error("no such call")]
    UnknownCall,
    #[error("call is not established")]
    NotEstablished,
    #[error("call capacity reached")]
    AtCapacity,
}

/// Lifecycle of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// UAS: INVITE received, no final response yet.
    Incoming,
    /// UAS: 2xx sent, waiting for the ACK.
    Answered,
    /// UAC: INVITE sent, no provisional yet (CANCEL not allowed yet, §9.1).
    Calling,
    /// UAC: provisional received.
    Early,
    /// Both: dialog confirmed.
    Confirmed,
    /// Ended; only transactions may still be running.
    Ended,
}

/// A 2xx we retransmit until the ACK (§13.3.1.4).
#[derive(Debug, Clone)]
struct PendingAck {
    payload: Vec<u8>,
    cseq: u32,
    next: Option<Instant>,
    interval: Duration,
    give_up: Instant,
}

/// A re-INVITE or UPDATE waiting for the runtime's answer.
#[derive(Debug, Clone)]
struct PendingReoffer {
    key: TransactionKey,
    request: Message,
}

#[derive(Debug, Clone)]
struct Call {
    handle: CallHandle,
    state: CallState,
    transport: Transport,
    /// Where in-dialog requests go when the next hop has no IP literal, and UAS responses' peer.
    peer: SocketAddr,
    local_tag: String,
    dialog: Option<Dialog>,
    /// UAS: the INVITE received; UAC: the INVITE we sent (latest, with credentials).
    invite: Message,
    /// UAS: the INVITE server transaction.
    invite_key: Option<TransactionKey>,
    /// UAS: the response destination of the INVITE.
    reply_to: (Transport, SocketAddr),
    pending_ack: Option<PendingAck>,
    reoffer: Option<PendingReoffer>,
    session_timer: Option<SessionTimer>,
    /// Session-Expires/refresher to repeat in 2xx responses.
    session_header: Option<String>,
    require_timer: bool,
    peer_allows_update: bool,
    last_local_sdp: Option<String>,
    /// UAC: branch of the INVITE client transaction.
    invite_branch: Option<String>,
    /// UAC: the ACK we send for the 2xx (resent on 2xx retransmissions).
    uac_ack: Option<Vec<u8>>,
    auth_attempted: bool,
    target: Option<OutboundTarget>,
    /// UAC: hangup before any provisional; CANCEL goes out on the first 1xx.
    cancel_when_early: bool,
    /// Hangup while the 2xx awaits ACK (§15: BYE waits for the ACK).
    bye_after_ack: bool,
    /// An in-dialog INVITE of ours is in progress (re-INVITE glare, §14.1).
    local_reinvite: bool,
    refer_subscription: bool,
}

#[derive(Debug)]
enum ServerTx {
    Invite(InviteServerTransaction),
    NonInvite(NonInviteServerTransaction),
}

/// What a client transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Invite,
    Cancel,
    Bye,
    ReInvite,
    Update,
    Refer,
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTransaction,
    call: CallHandle,
    request: Message,
    purpose: Purpose,
}

/// The user agent core.
#[derive(Debug)]
pub struct UserAgent {
    config: UaConfig,
    calls: HashMap<CallHandle, Call>,
    /// (Call-ID, our tag) → call.
    dialogs: HashMap<(String, String), CallHandle>,
    server_txs: HashMap<TransactionKey, ServerTx>,
    /// INVITE server transaction → call (for CANCEL and retransmissions).
    invite_calls: HashMap<TransactionKey, CallHandle>,
    client_txs: HashMap<String, ClientEntry>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UaEvent>,
    next_handle: u64,
}

impl UserAgent {
    pub fn new(config: UaConfig) -> Self {
        UserAgent {
            config,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            server_txs: HashMap::new(),
            invite_calls: HashMap::new(),
            client_txs: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_handle: 1,
        }
    }

    pub fn config(&self) -> &UaConfig {
        &self.config
    }

    /// Feeds one datagram (UDP) or one framed message (TCP). Never panics on its content.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        data: &[u8],
    ) {
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            // RFC 5626 §4.4.1 keep-alive (CRLF): nothing to do.
            return;
        }
        // The strict parser (sip::parse) is the gate: anything it rejects is answered 400/505
        // from what can be salvaged, or dropped (responses, unaddressable requests).
        if let Err(err) = super::parse::parse_datagram(data) {
            self.reject_unparseable(transport, source, data, &err);
            return;
        }
        if data.starts_with(b"SIP/2.0 ") {
            if let Some(msg) = Message::parse(data) {
                self.handle_response(now, msg);
            }
            return;
        }
        self.handle_request_bytes(now, transport, source, data);
    }

    fn reject_unparseable(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        data: &[u8],
        err: &super::error::ParseError,
    ) {
        tracing::debug!(%source, %err, "malformed SIP message");
        let allowed = self
            .config
            .allowed_sources
            .iter()
            .any(|n| n.contains(source.ip()));
        if !allowed || data.starts_with(b"ACK ") {
            // RFC 3261 §17.2.1: an ACK is never answered; strangers get nothing for garbage.
            return;
        }
        let Some(resp) = super::parse::error_response(data, err) else {
            return;
        };
        let payload = resp.to_bytes();
        let Some(via) = Message::parse(&payload).and_then(|m| m.top_via()) else {
            return;
        };
        let (transport, destination) = uas::reply_destination(transport, source, &via);
        self.transmits.push_back(Transmit {
            transport,
            destination,
            payload,
        });
    }

    /// Fires every due timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fire_transaction_timers(now);
        self.fire_call_timers(now);
        self.collect_garbage();
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`Self::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let servers = self.server_txs.values().filter_map(|t| match t {
            ServerTx::Invite(t) => t.next_timeout(),
            ServerTx::NonInvite(t) => t.next_timeout(),
        });
        let clients = self.client_txs.values().filter_map(|e| e.tx.next_timeout());
        let calls = self.calls.values().flat_map(|c| {
            let ack = c
                .pending_ack
                .as_ref()
                .map(|p| p.next.map_or(p.give_up, |n| n.min(p.give_up)));
            let st = c
                .session_timer
                .as_ref()
                .filter(|_| c.state == CallState::Confirmed)
                .map(|t| t.next_timeout());
            [ack, st]
        });
        servers.chain(clients).chain(calls.flatten()).min()
    }

    /// Calls not yet ended.
    pub fn active_calls(&self) -> usize {
        self.calls
            .values()
            .filter(|c| c.state != CallState::Ended)
            .count()
    }

    fn new_handle(&mut self) -> CallHandle {
        let h = CallHandle(self.next_handle);
        self.next_handle += 1;
        h
    }

    fn emit(&mut self, event: UaEvent) {
        self.events.push_back(event);
    }

    /// Ends a call once: marks it, drops its dialog index, and reports why.
    fn end_call(&mut self, handle: CallHandle, cause: TerminationCause) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if call.state == CallState::Ended {
            return;
        }
        call.state = CallState::Ended;
        call.pending_ack = None;
        call.session_timer = None;
        tracing::info!(call = handle.0, call_id = %call.invite.call_id().unwrap_or(""), ?cause, "call ended");
        self.emit(UaEvent::Terminated {
            call: handle,
            cause,
        });
    }

    /// The host:port we put in Via and Contact.
    fn local_host_port(&self) -> String {
        let ip = self
            .config
            .advertised_addr
            .unwrap_or(self.config.local_addr.ip());
        match ip {
            IpAddr::V4(v4) => format!("{v4}:{}", self.config.local_addr.port()),
            IpAddr::V6(v6) => format!("[{v6}]:{}", self.config.local_addr.port()),
        }
    }

    fn contact(&self, transport: Transport) -> String {
        match transport {
            Transport::Udp => format!("<sip:frontdoor@{}>", self.local_host_port()),
            Transport::Tcp(_) => {
                format!("<sip:frontdoor@{};transport=tcp>", self.local_host_port())
            }
        }
    }

    fn fire_transaction_timers(&mut self, now: Instant) {
        let mut out = Vec::new();
        for tx in self.server_txs.values_mut() {
            match tx {
                ServerTx::Invite(t) if t.next_timeout().is_some_and(|at| at <= now) => {
                    // Timer H: the call already ended when the non-2xx final was sent; nothing to report.
                    let _ = t.on_timer(now, &mut out);
                }
                ServerTx::NonInvite(t) if t.next_timeout().is_some_and(|at| at <= now) => {
                    t.on_timer(now)
                }
                _ => {}
            }
        }
        self.transmits.extend(out.drain(..));
        let mut timed_out = Vec::new();
        for (branch, entry) in self.client_txs.iter_mut() {
            // Retransmissions are timed from their own schedule; loop in case `now` jumped far.
            let mut guard = 0;
            while entry.tx.next_timeout().is_some_and(|at| at <= now) && guard < 64 {
                guard += 1;
                if entry.tx.on_timer(now, &mut out) {
                    timed_out.push(branch.clone());
                    break;
                }
            }
        }
        self.transmits.extend(out);
        for branch in timed_out {
            // RFC 3261 §8.1.3.1: a transaction timeout is a 408 for the TU.
            self.client_failed(now, &branch, 408);
        }
    }

    fn collect_garbage(&mut self) {
        self.server_txs.retain(|_, t| match t {
            ServerTx::Invite(t) => !t.is_terminated(),
            ServerTx::NonInvite(t) => !t.is_terminated(),
        });
        let live: std::collections::HashSet<TransactionKey> =
            self.server_txs.keys().cloned().collect();
        self.invite_calls.retain(|k, _| live.contains(k));
        self.client_txs.retain(|_, e| !e.tx.is_terminated());
        let busy: std::collections::HashSet<CallHandle> = self
            .client_txs
            .values()
            .map(|e| e.call)
            .chain(self.invite_calls.values().copied())
            .collect();
        let dead: Vec<CallHandle> = self
            .calls
            .values()
            .filter(|c| c.state == CallState::Ended && !busy.contains(&c.handle))
            .map(|c| c.handle)
            .collect();
        for h in dead {
            if let Some(c) = self.calls.remove(&h)
                && let Some(id) = c.invite.call_id()
            {
                self.dialogs.remove(&(id.to_string(), c.local_tag.clone()));
            }
        }
    }
}

/// A fresh random token for tags, branches and Call-IDs (RFC 3261 §19.3: ≥32 bits of randomness).
fn random_token() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A new branch with the RFC 3261 magic cookie (§8.1.1.7).
fn new_branch() -> String {
    format!("{}{}", super::transaction::MAGIC_COOKIE, random_token())
}

/// The SocketAddr of a sip URI with an IP-literal host.
fn uri_socket_addr(uri: &str) -> Option<SocketAddr> {
    let (host, port) = wire::uri_host_port(uri)?;
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, port.unwrap_or(5060)))
}
