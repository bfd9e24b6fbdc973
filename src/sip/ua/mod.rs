//! The sans-IO SIP user agent core: one object that is fed datagrams, commands and `now`, and
//! returns datagrams to send, call events and the next time to wake it.
//!
//! Owns: source allow-listing, request dispatch (RFC 3261 §8.2), server and client transactions
//! (via `sip::transaction`), dialogs (`sip::dialog`), 2xx retransmission (§13.3.1.4), CANCEL,
//! BYE, re-INVITE/UPDATE (RFC 3311), session timers (RFC 4028), INFO DTMF, outbound calls with
//! digest auth, and REFER (RFC 3515). Must not touch: sockets, clocks, SDP negotiation or media
//! (SDP bodies pass through as strings), or what a call does.
//!
//! Every datagram is parsed once, by the strict parser (`sip::parse`), into the parser's
//! [`SipMessage`]; requests then pass `sip::validate::check_request` (RFC 3261 §8.2: 416, 420,
//! 415, 406, 400, 501) before any state is created. Refused and malformed input is answered
//! statelessly or dropped and leaves nothing behind.
//!
//! Driver contract: after every `handle_*` or command call, drain [`UserAgent::poll_transmit`]
//! and [`UserAgent::poll_event`] until `None`, then sleep until [`UserAgent::poll_timeout`]
//! (which may wake the driver early, never late).

pub mod ipnet;
pub mod message_ext;
pub mod source_limits;

mod uac;
mod uas;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use self::ipnet::IpNet;
pub use self::source_limits::{DroppedCounts, SourceLimits};
pub use super::transaction::{ConnectionId, Transmit, Transport};

use super::dialog::Dialog;
use super::message::SipMessage;
use super::session_timer::SessionTimer;
use super::transaction::{
    ClientTransaction, InviteServerTransaction, NonInviteServerTransaction, TransactionKey,
};
use super::uri::Scheme;
use super::validate::UasPolicy;
use crate::entropy::Entropy;
use crate::log_limit::LogLimit;
use crate::pii::Pii;
use message_ext::UaMessageExt;
use source_limits::SourceTable;

/// Requests dropped by the per-source limits are reported at most this often.
static OVER_LIMIT: LogLimit = LogLimit::standard();

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
    /// Per-source request, new-call and concurrent-call limits for allowed sources.
    pub source_limits: SourceLimits,
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
            // The server sets the configured limits (`sip_limits` in frontdoor.yaml).
            source_limits: SourceLimits::unlimited(),
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
    request: SipMessage,
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
    invite: SipMessage,
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
    /// Live transactions that refer to this call (client transactions and the INVITE server
    /// transaction); an ended call is forgotten once this is zero.
    txs: u32,
    /// UAS: the source whose share of the call cap this call counts against.
    counted_source: Option<IpAddr>,
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
    request: SipMessage,
    purpose: Purpose,
}

/// Something with a deadline in the timer queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerTarget {
    Server(TransactionKey),
    Client(String),
    Call(CallHandle),
    /// Forget an ended call once no transaction refers to it.
    Reap(CallHandle),
}

/// The user agent core.
///
/// Cost model: every message and every timer costs O(log n) in the number of live calls and
/// transactions (hash maps plus one binary heap of deadlines), so a burst of 1,000 calls does
/// not slow each INVITE down.
#[derive(Debug)]
pub struct UserAgent {
    config: UaConfig,
    /// What the RFC 3261 §8.2 checks accept (schemes, option tags, body types).
    policy: UasPolicy,
    calls: HashMap<CallHandle, Call>,
    /// Calls not yet ended (the §8.2 capacity check must not scan `calls`).
    live_calls: usize,
    /// (Call-ID, our tag) → call.
    dialogs: HashMap<(String, String), CallHandle>,
    server_txs: HashMap<TransactionKey, ServerTx>,
    /// INVITE server transaction → call (for CANCEL and retransmissions).
    invite_calls: HashMap<TransactionKey, CallHandle>,
    client_txs: HashMap<String, ClientEntry>,
    /// Deadlines, earliest first. Entries go stale when a deadline moves or its owner goes;
    /// a stale entry costs one spurious wake-up and is dropped when it reaches the top.
    timers: BinaryHeap<Reverse<(Instant, TimerTarget)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UaEvent>,
    next_handle: u64,
    /// Set while the server drains: the Retry-After value (seconds) of the 503 that new
    /// INVITEs and out-of-dialog OPTIONS get.
    refusing_new_calls: Option<String>,
    /// Per-source buckets and call counts (allowed sources only).
    sources: SourceTable,
    /// Where every tag, Call-ID, branch, cnonce and initial CSeq comes from: the core never asks
    /// the operating system itself, so a seeded agent replays byte for byte.
    entropy: Entropy,
    /// Secret mixed into the To tags of stateless answers, so those tags, though stable per
    /// transaction, cannot be predicted from the request (RFC 3261 §19.3).
    stateless_tag_key: u64,
}

impl UserAgent {
    /// A user agent drawing its identifiers from `entropy`: `Entropy::from_os()` in a server
    /// (RFC 3261 §19.3 wants tags and Call-IDs unguessable), a fixed seed in tests.
    pub fn new(config: UaConfig, mut entropy: Entropy) -> Self {
        let policy = UasPolicy {
            uri_schemes: vec![Scheme::Sip, Scheme::Sips],
            extensions: SUPPORTED.split(',').map(|t| t.trim().to_string()).collect(),
            content_types: ACCEPT.split(',').map(|t| t.trim().to_string()).collect(),
        };
        UserAgent {
            policy,
            calls: HashMap::new(),
            live_calls: 0,
            dialogs: HashMap::new(),
            server_txs: HashMap::new(),
            invite_calls: HashMap::new(),
            client_txs: HashMap::new(),
            timers: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_handle: 1,
            refusing_new_calls: None,
            sources: SourceTable::new(config.source_limits),
            config,
            stateless_tag_key: entropy.u64(),
            entropy,
        }
    }

    /// From now on new calls are refused with 503 and `Retry-After: retry_after_secs`
    /// (RFC 3261 §21.5.4, §20.33), and so are OPTIONS outside a dialog: §11.2 asks for the
    /// answer an INVITE would get, so a PBX that pings with OPTIONS routes calls elsewhere.
    /// Dialogs in progress are untouched.
    pub fn refuse_new_calls(&mut self, retry_after_secs: u32) {
        self.refusing_new_calls = Some(retry_after_secs.to_string());
    }

    /// BYEs we sent that have had no final response yet (RFC 3261 §17.1.2: they end with one,
    /// or after Timer F).
    pub fn byes_awaiting_answer(&self) -> usize {
        self.client_txs
            .values()
            .filter(|e| {
                e.purpose == Purpose::Bye
                    && matches!(
                        e.tx.state(),
                        crate::sip::transaction::ClientState::Calling
                            | crate::sip::transaction::ClientState::Proceeding
                    )
            })
            .count()
    }

    pub fn config(&self) -> &UaConfig {
        &self.config
    }

    /// Feeds one datagram (UDP) or one framed message (TCP). Never panics on its content, and
    /// creates no state for anything the strict parser or the §8.2 checks refuse.
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
        // Per-source request rate, before the datagram costs a parse: over it, the request is
        // dropped without an answer or state (an answer is what a flood wants). Responses are
        // not limited here: they only ever match our own transactions. Sources off the
        // allow-list are answered 403 statelessly below and never enter the table.
        if !data.starts_with(b"SIP/")
            && self.is_allowed(source)
            && !self.sources.admit_request(now, source.ip())
        {
            let dropped = self.sources.dropped();
            crate::warn_limited!(OVER_LIMIT, %source, dropped_requests = dropped.requests, dropped_invites = dropped.invites, "SIP requests over the per-source limit dropped");
            return;
        }
        // The strict parser (sip::parse) is the gate and the only parse of the datagram:
        // anything it rejects is answered 400/505 from what can be salvaged, or dropped
        // (responses, unaddressable requests).
        match super::parse::parse_datagram(data) {
            Ok(msg) if msg.is_request() => self.handle_request(now, transport, source, msg),
            Ok(msg) => {
                // RFC 3261 §8.1.3.3: a response with more than one Via is discarded.
                if super::validate::check_response(&msg).is_ok() {
                    self.handle_response(now, msg);
                }
            }
            Err(err) => self.reject_unparseable(transport, source, data, &err),
        }
    }

    fn reject_unparseable(
        &mut self,
        transport: Transport,
        source: SocketAddr,
        data: &[u8],
        err: &super::error::ParseError,
    ) {
        tracing::debug!(%source, %err, "malformed SIP message");
        if !self.is_allowed(source) || data.starts_with(b"ACK ") {
            // RFC 3261 §17.2.1: an ACK is never answered; strangers get nothing for garbage.
            return;
        }
        let Some(resp) = super::parse::error_response(data, err) else {
            return;
        };
        let Some(via) = resp.headers.top_via_lenient() else {
            return;
        };
        let (transport, destination) = uas::reply_destination(transport, source, &via);
        self.transmits.push_back(Transmit {
            transport,
            destination,
            payload: resp.to_bytes(),
        });
    }

    fn is_allowed(&self, source: SocketAddr) -> bool {
        self.config
            .allowed_sources
            .iter()
            .any(|n| n.contains(source.ip()))
    }

    /// Fires every due timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = Vec::new();
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((_, target))) = self.timers.pop() {
                due.push(target);
            }
        }
        // Transactions before calls before reaping, as RFC 3261 layers them; each once.
        due.sort();
        due.dedup();
        for target in due {
            match target {
                TimerTarget::Server(key) => self.fire_server(now, key),
                TimerTarget::Client(branch) => self.fire_client(now, branch),
                TimerTarget::Call(handle) => {
                    self.fire_call_timers(now, handle);
                    self.arm(TimerTarget::Call(handle));
                }
                TimerTarget::Reap(handle) => self.reap(handle),
            }
        }
        self.drop_stale_timers();
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<UaEvent> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`Self::handle_timeout`] has work. May be early (a
    /// deadline that moved later); never late.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Calls not yet ended.
    pub fn active_calls(&self) -> usize {
        self.live_calls
    }

    /// Gives back the spare capacity a burst left in the tables (a flood of 40,000
    /// transactions leaves maps sized for 40,000 after they end). Cheap when nothing is
    /// spare; the driver calls it after a burst, before returning free heap to the system.
    pub fn release_spare_capacity(&mut self, now: Instant) {
        fn shrink_map<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
            if map.capacity() > 2 * map.len() + 64 {
                map.shrink_to(map.len() * 2);
            }
        }
        shrink_map(&mut self.calls);
        shrink_map(&mut self.dialogs);
        shrink_map(&mut self.server_txs);
        shrink_map(&mut self.invite_calls);
        shrink_map(&mut self.client_txs);
        if self.timers.capacity() > 2 * self.timers.len() + 64 {
            self.timers.shrink_to(self.timers.len() * 2);
        }
        self.transmits.shrink_to(self.transmits.len() * 2);
        self.events.shrink_to(self.events.len() * 2);
        self.sources.release_spare_capacity(now);
    }

    /// Requests the per-source limits dropped or refused so far.
    pub fn dropped_by_limits(&self) -> DroppedCounts {
        self.sources.dropped()
    }

    /// Whether a call not yet ended uses TCP connection `conn` (an idle connection that
    /// carries a call is kept: our BYE would have no other way to reach the peer).
    pub fn connection_in_use(&self, conn: ConnectionId) -> bool {
        self.calls
            .values()
            .any(|c| c.state != CallState::Ended && c.transport == Transport::Tcp(conn))
    }

    /// Calls, dialogs and transactions still held (ended calls linger while a transaction
    /// refers to them). For leak checks and metrics.
    pub fn held_state(&self) -> usize {
        self.calls.len()
            + self.dialogs.len()
            + self.server_txs.len()
            + self.invite_calls.len()
            + self.client_txs.len()
    }

    fn new_handle(&mut self) -> CallHandle {
        let h = CallHandle(self.next_handle);
        self.next_handle += 1;
        h
    }

    fn emit(&mut self, event: UaEvent) {
        self.events.push_back(event);
    }

    /// Registers a new call (state other than Ended).
    fn insert_call(&mut self, call: Call) {
        self.live_calls += 1;
        if let Some(ip) = call.counted_source {
            self.sources.call_started(ip);
        }
        self.calls.insert(call.handle, call);
    }

    /// Ends a call once: marks it, stops its timers, and reports why. The call itself is
    /// forgotten once no transaction refers to it.
    fn end_call(&mut self, now: Instant, handle: CallHandle, cause: TerminationCause) {
        let Some(call) = self.calls.get_mut(&handle) else {
            return;
        };
        if call.state == CallState::Ended {
            return;
        }
        call.state = CallState::Ended;
        call.pending_ack = None;
        call.session_timer = None;
        self.live_calls = self.live_calls.saturating_sub(1);
        if let Some(ip) = call.counted_source {
            self.sources.call_ended(ip);
        }
        tracing::info!(call = handle.0, call_id = %call.invite.call_id().unwrap_or(""), ?cause, "call ended");
        self.timers.push(Reverse((now, TimerTarget::Reap(handle))));
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

    /// The current deadline of `target`, if it still has one.
    fn deadline(&self, target: &TimerTarget) -> Option<Instant> {
        match target {
            TimerTarget::Server(key) => match self.server_txs.get(key)? {
                ServerTx::Invite(t) => t.next_timeout(),
                ServerTx::NonInvite(t) => t.next_timeout(),
            },
            TimerTarget::Client(branch) => self.client_txs.get(branch)?.tx.next_timeout(),
            TimerTarget::Call(handle) => {
                let c = self.calls.get(handle)?;
                let ack = c
                    .pending_ack
                    .as_ref()
                    .map(|p| p.next.map_or(p.give_up, |n| n.min(p.give_up)));
                let session = c
                    .session_timer
                    .as_ref()
                    .filter(|_| c.state == CallState::Confirmed)
                    .map(|t| t.next_timeout());
                [ack, session].into_iter().flatten().min()
            }
            // Reap entries are one-shot and never re-armed.
            TimerTarget::Reap(_) => None,
        }
    }

    /// Queues `target` at its current deadline. Called wherever a deadline may move earlier.
    fn arm(&mut self, target: TimerTarget) {
        if let Some(at) = self.deadline(&target) {
            self.timers.push(Reverse((at, target)));
        }
    }

    /// Pops entries at the top of the queue whose deadline moved or whose owner is gone, so
    /// that `poll_timeout` is exact after `handle_timeout`. A moved deadline is re-queued.
    fn drop_stale_timers(&mut self) {
        while let Some(Reverse((at, target))) = self.timers.peek() {
            if matches!(target, TimerTarget::Reap(_)) {
                // One-shot and always due: handled by the next `handle_timeout`.
                break;
            }
            let (at, current) = (*at, self.deadline(target));
            if current == Some(at) {
                break;
            }
            if let Some(Reverse((_, target))) = self.timers.pop()
                && let Some(moved) = current
            {
                self.timers.push(Reverse((moved, target)));
            }
        }
    }

    fn fire_server(&mut self, now: Instant, key: TransactionKey) {
        let Some(tx) = self.server_txs.get_mut(&key) else {
            return;
        };
        let mut out = Vec::new();
        let terminated = match tx {
            ServerTx::Invite(t) => {
                if t.next_timeout().is_some_and(|at| at <= now) {
                    // Timer H: the call already ended when the non-2xx final was sent;
                    // nothing to report.
                    let _ = t.on_timer(now, &mut out);
                }
                t.is_terminated()
            }
            ServerTx::NonInvite(t) => {
                if t.next_timeout().is_some_and(|at| at <= now) {
                    t.on_timer(now);
                }
                t.is_terminated()
            }
        };
        self.transmits.extend(out);
        if !terminated {
            self.arm(TimerTarget::Server(key));
            return;
        }
        self.server_txs.remove(&key);
        if let Some(handle) = self.invite_calls.remove(&key) {
            self.release_tx(now, handle);
        }
    }

    fn fire_client(&mut self, now: Instant, branch: String) {
        let Some(entry) = self.client_txs.get_mut(&branch) else {
            return;
        };
        let mut out = Vec::new();
        let mut timed_out = false;
        // Retransmissions are timed from their own schedule; loop in case `now` jumped far.
        let mut guard = 0;
        while entry.tx.next_timeout().is_some_and(|at| at <= now) && guard < 64 {
            guard += 1;
            if entry.tx.on_timer(now, &mut out) {
                timed_out = true;
                break;
            }
        }
        self.transmits.extend(out);
        if timed_out {
            // RFC 3261 §8.1.3.1: a transaction timeout is a 408 for the TU.
            self.client_failed(now, &branch, 408);
        }
        let terminated = self
            .client_txs
            .get(&branch)
            .is_some_and(|e| e.tx.is_terminated());
        if !terminated {
            self.arm(TimerTarget::Client(branch));
            return;
        }
        if let Some(entry) = self.client_txs.remove(&branch) {
            self.release_tx(now, entry.call);
        }
    }

    /// Adds a client transaction for `call` and queues its timers.
    fn insert_client(&mut self, key: String, entry: ClientEntry) {
        let call = entry.call;
        if self.client_txs.insert(key.clone(), entry).is_none()
            && let Some(c) = self.calls.get_mut(&call)
        {
            c.txs += 1;
        }
        self.arm(TimerTarget::Client(key));
    }

    /// A transaction of `handle` ended; the call may now be forgotten.
    fn release_tx(&mut self, now: Instant, handle: CallHandle) {
        if let Some(c) = self.calls.get_mut(&handle) {
            c.txs = c.txs.saturating_sub(1);
            if c.state == CallState::Ended && c.txs == 0 {
                self.timers.push(Reverse((now, TimerTarget::Reap(handle))));
            }
        }
    }

    fn reap(&mut self, handle: CallHandle) {
        let done = self
            .calls
            .get(&handle)
            .is_some_and(|c| c.state == CallState::Ended && c.txs == 0);
        if !done {
            return;
        }
        if let Some(c) = self.calls.remove(&handle)
            && let Some(id) = c.invite.call_id()
        {
            self.dialogs.remove(&(id.to_string(), c.local_tag));
        }
    }
}

/// A fresh token for tags, Call-IDs and cnonces: 64 bits from the agent's cryptographically
/// secure source (RFC 3261 §19.3 asks for at least 32 bits of randomness).
fn new_token(entropy: &mut Entropy) -> String {
    format!("{:016x}", entropy.u64())
}

/// A new branch: the RFC 3261 magic cookie (§8.1.1.7) and a fresh token, so it is unique
/// across space and time.
fn new_branch(entropy: &mut Entropy) -> String {
    format!("{}{}", super::transaction::MAGIC_COOKIE, new_token(entropy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{Method, SipMessage};
    use crate::sip::parse::parse_datagram;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5090))
    }

    fn config() -> UaConfig {
        let mut config = UaConfig::new(SocketAddr::from(([127, 0, 0, 1], 5060)));
        config.outbound_targets = vec![OutboundTarget {
            name: "advisors".into(),
            uri: "sip:agent@127.0.0.1:5090".into(),
            username: Some("frontdoor".into()),
            password: Some("secret".into()),
        }];
        config
    }

    /// Sends everything the agent queued into `wire` and returns its events.
    fn drain(ua: &mut UserAgent, wire: &mut Vec<Vec<u8>>) -> Vec<UaEvent> {
        while let Some(t) = ua.poll_transmit() {
            wire.push(t.payload);
        }
        std::iter::from_fn(|| ua.poll_event()).collect()
    }

    fn last_request(wire: &[Vec<u8>], method: Method) -> SipMessage {
        wire.iter()
            .rev()
            .filter_map(|d| parse_datagram(d).ok())
            .find(|m| m.method() == Some(&method))
            .unwrap()
    }

    fn last_response(wire: &[Vec<u8>], status: u16) -> SipMessage {
        wire.iter()
            .rev()
            .filter_map(|d| parse_datagram(d).ok())
            .find(|m| m.status_code() == Some(status))
            .unwrap()
    }

    /// Everything one agent seeded with `seed` sends in: an outbound call answered after a
    /// digest challenge, then hung up; an incoming call answered; a stateless refusal.
    fn conversation(seed: u64) -> Vec<Vec<u8>> {
        let mut ua = UserAgent::new(config(), Entropy::seeded(seed));
        let now = Instant::now();
        let mut wire = Vec::new();

        let call = ua.place_call(now, "advisors", SDP.into()).unwrap();
        drain(&mut ua, &mut wire);
        let invite = last_request(&wire, Method::Invite);
        let challenge = SipMessage::response_to(&invite, 401, None)
            .with_to_tag("uas-1")
            .with_header(
                "WWW-Authenticate",
                "Digest realm=\"council\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"",
            );
        ua.handle_datagram(now, Transport::Udp, peer(), &challenge.to_bytes());
        drain(&mut ua, &mut wire);
        let retry = last_request(&wire, Method::Invite);
        assert!(retry.headers.get("Authorization").is_some());
        let ok = SipMessage::response_to(&retry, 200, None)
            .with_to_tag("uas-2")
            .with_header("Contact", "<sip:agent@127.0.0.1:5090>")
            .with_body("application/sdp", SDP);
        ua.handle_datagram(now, Transport::Udp, peer(), &ok.to_bytes());
        drain(&mut ua, &mut wire);
        ua.hangup(now, call);
        drain(&mut ua, &mut wire);

        let incoming = "INVITE sip:08001@127.0.0.1 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKin1;rport\r\n\
            From: <sip:07700900123@127.0.0.1>;tag=caller1\r\n\
            To: <sip:08001@127.0.0.1>\r\n\
            Call-ID: in-1@127.0.0.1\r\n\
            CSeq: 1 INVITE\r\n\
            Contact: <sip:caller@127.0.0.1:5070>\r\n\
            Max-Forwards: 70\r\n\
            Content-Length: 0\r\n\r\n";
        let from_caller = SocketAddr::from(([127, 0, 0, 1], 5070));
        ua.handle_datagram(now, Transport::Udp, from_caller, incoming.as_bytes());
        let events = drain(&mut ua, &mut wire);
        let Some(UaEvent::IncomingCall { call, .. }) = events.first() else {
            panic!("no incoming call: {events:?}");
        };
        ua.answer(now, *call, SDP.into());
        drain(&mut ua, &mut wire);

        // Off the allow-list: 403 without state, with a derived To tag.
        let stranger = SocketAddr::from(([192, 0, 2, 7], 5060));
        ua.handle_datagram(now, Transport::Udp, stranger, incoming.as_bytes());
        drain(&mut ua, &mut wire);
        wire
    }

    /// The identifiers an agent chose in [`conversation`].
    fn chosen(wire: &[Vec<u8>]) -> Vec<String> {
        let invite = last_request(wire, Method::Invite);
        let bye = last_request(wire, Method::Bye);
        let branch = |m: &SipMessage| m.top_via().and_then(|v| v.branch).unwrap();
        vec![
            invite.from_tag().unwrap(),
            invite.call_id().unwrap().to_string(),
            branch(&invite),
            branch(&bye),
            invite.cseq().unwrap().seq.to_string(),
            last_response(wire, 200).to_tag().unwrap(),
            last_response(wire, 403).to_tag().unwrap(),
        ]
    }

    #[test]
    fn the_same_seed_and_input_give_the_same_bytes() {
        let (a, b) = (conversation(7), conversation(7));
        assert!(a.len() >= 6, "{} datagrams", a.len());
        assert_eq!(a, b);
    }

    #[test]
    fn different_seeds_choose_different_identifiers() {
        let (a, b) = (chosen(&conversation(7)), chosen(&conversation(8)));
        for (x, y) in a.iter().zip(&b) {
            assert_ne!(x, y);
        }
        // RFC 3261 §8.1.1.7: every branch we generate carries the magic cookie.
        assert!(a[2].starts_with("z9hG4bK") && a[3].starts_with("z9hG4bK"));
    }
}
