//! An emulated datagram network in virtual time, and the `Pair` driver that runs two in-memory
//! endpoints over it from event to event.
//!
//! Nothing here sleeps, reads a clock or opens a socket: time is an [`Instant`] that only the
//! driver moves, straight to the earliest of the next delivery and the endpoints' next
//! deadlines, so a 60-second call runs in milliseconds.
//!
//! The network impairs each direction (from one host to another, keyed by IP address) on its
//! own: loss, a base delay plus uniform jitter, reordering (a packet held back past its
//! successors) and duplication. Every decision is drawn from a per-direction
//! [`crate::entropy::Entropy`] derived from the network seed and the two addresses, and
//! a direction always draws the same number of values per datagram: the same seed and the same
//! traffic give the same deliveries, and impairing one direction never shifts the other's.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::entropy::Entropy;

/// Why a run stopped without reaching its condition or deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The endpoints kept asking to be woken at the same instant without making progress: a
    /// busy loop a real driver would spin on too.
    #[error("no progress after {steps} steps at {at:?} of virtual time")]
    Stuck { at: Duration, steps: u64 },
}

/// How one direction of the network treats datagrams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Probability (0..=1) that a datagram is dropped.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per datagram: above the packet spacing it
    /// reorders on its own, as netem's jitter does.
    pub jitter: Duration,
    /// Probability that a datagram is held back a further `reorder_delay`, so that the packets
    /// sent after it overtake it.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_delay: Duration,
    /// Probability that a datagram is delivered twice (the copy with its own delay).
    pub duplicate: f64,
}

impl LinkConfig {
    /// A clean link: 10 ms one way, nothing lost, reordered or duplicated.
    pub fn clean() -> Self {
        LinkConfig {
            loss: 0.0,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(50),
            duplicate: 0.0,
        }
    }

    /// A poor mobile-like link: the given loss, 40 ms plus `jitter`, 2 % of packets held back
    /// 50 ms, and `duplicate` duplication.
    pub fn impaired(loss: f64, jitter: Duration, duplicate: f64) -> Self {
        LinkConfig {
            loss,
            delay: Duration::from_millis(40),
            jitter,
            reorder: 0.02,
            reorder_delay: Duration::from_millis(50),
            duplicate,
        }
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self::clean()
    }
}

/// One datagram: who sent it, to where, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// A datagram arriving: when, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub at: Instant,
    pub datagram: Datagram,
}

/// What one direction did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams dropped.
    pub lost: u64,
    /// Datagrams delivered twice.
    pub duplicated: u64,
    /// Datagrams held back to be overtaken.
    pub reordered: u64,
    /// Copies handed to the receiving side (duplicates count twice).
    pub delivered: u64,
}

/// A datagram in flight; ordered by arrival, then by the order it was scheduled in, so two
/// arrivals at the same instant always come out the same way round.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    order: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// Direction key: (sending host, receiving host).
type Direction = (IpAddr, IpAddr);

/// The emulated network between in-memory endpoints.
#[derive(Debug)]
pub struct VirtualNetwork {
    seed: u64,
    default_link: LinkConfig,
    links: HashMap<Direction, LinkConfig>,
    /// One random stream per direction, created on first use from the seed and the addresses
    /// (so the order in which directions first carry traffic does not matter).
    streams: HashMap<Direction, Entropy>,
    stats: HashMap<Direction, LinkStats>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    scheduled: u64,
}

impl VirtualNetwork {
    /// A network where every direction is [`LinkConfig::clean`].
    pub fn new(seed: u64) -> Self {
        VirtualNetwork {
            seed,
            default_link: LinkConfig::clean(),
            links: HashMap::new(),
            streams: HashMap::new(),
            stats: HashMap::new(),
            in_flight: BinaryHeap::new(),
            scheduled: 0,
        }
    }

    /// Every direction without a link of its own behaves like `link`.
    pub fn with_default_link(mut self, link: LinkConfig) -> Self {
        self.default_link = link;
        self
    }

    /// Datagrams from host `from` to host `to` behave like `link` (one direction only).
    pub fn set_link(&mut self, from: IpAddr, to: IpAddr, link: LinkConfig) {
        self.links.insert((from, to), link);
    }

    /// What one direction did so far.
    pub fn stats(&self, from: IpAddr, to: IpAddr) -> LinkStats {
        self.stats.get(&(from, to)).copied().unwrap_or_default()
    }

    /// Datagrams not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// When the next datagram arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse(f)| f.at)
    }

    /// Hands a datagram to the network at `now`; returns how many copies will arrive (0 when
    /// it is lost, 2 when it is duplicated).
    pub fn send(&mut self, now: Instant, datagram: Datagram) -> usize {
        let direction = (datagram.from.ip(), datagram.to.ip());
        let link = self
            .links
            .get(&direction)
            .copied()
            .unwrap_or(self.default_link);
        let seed = self.seed;
        let rng = self
            .streams
            .entry(direction)
            .or_insert_with(|| Entropy::seeded(direction_seed(seed, direction)));
        // Always the same five draws, whatever the outcome, so one datagram's fate never shifts
        // the next one's.
        let lost = rng.chance(link.loss);
        let first_jitter = jitter(rng, link.jitter);
        let reordered = rng.chance(link.reorder);
        let duplicated = rng.chance(link.duplicate);
        let second_jitter = jitter(rng, link.jitter);

        let stats = self.stats.entry(direction).or_default();
        stats.sent += 1;
        if lost {
            stats.lost += 1;
            return 0;
        }
        let mut first = now + link.delay + first_jitter;
        if reordered {
            stats.reordered += 1;
            first += link.reorder_delay;
        }
        let mut arrivals = vec![first];
        if duplicated {
            stats.duplicated += 1;
            arrivals.push(now + link.delay + second_jitter);
        }
        let copies = arrivals.len();
        for at in arrivals {
            self.scheduled += 1;
            self.in_flight.push(Reverse(InFlight {
                at,
                order: self.scheduled,
                from: datagram.from,
                to: datagram.to,
                bytes: datagram.bytes.clone(),
            }));
        }
        copies
    }

    /// The next datagram due at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<Delivery> {
        if self.next_delivery()? > now {
            return None;
        }
        let Reverse(f) = self.in_flight.pop()?;
        self.stats
            .entry((f.from.ip(), f.to.ip()))
            .or_default()
            .delivered += 1;
        Some(Delivery {
            at: f.at,
            datagram: Datagram {
                from: f.from,
                to: f.to,
                bytes: f.bytes,
            },
        })
    }
}

fn jitter(rng: &mut Entropy, max: Duration) -> Duration {
    let micros = usize::try_from(max.as_micros()).unwrap_or(usize::MAX - 1);
    Duration::from_micros(rng.below(micros.saturating_add(1)) as u64)
}

/// A direction's seed: the network seed mixed with both addresses (FNV-1a, stable across
/// platforms and Rust versions, unlike `DefaultHasher`).
fn direction_seed(seed: u64, (from, to): Direction) -> u64 {
    let mut bytes = seed.to_be_bytes().to_vec();
    for ip in [from, to] {
        match ip {
            IpAddr::V4(v4) => bytes.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => bytes.extend_from_slice(&v6.octets()),
        }
    }
    fnv1a(&bytes)
}

/// 64-bit FNV-1a: a stable fingerprint of bytes for traces (not for anything adversarial).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What kind of datagram this is, judged by its first bytes (for traces and assertions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireKind {
    /// SIP, with its start line.
    Sip(String),
    /// RTP (version 2, not an RTCP packet type).
    Rtp,
    /// RTCP (version 2, packet type 200–204, RFC 5761 §4).
    Rtcp,
    Other,
}

impl WireKind {
    pub fn of(bytes: &[u8]) -> WireKind {
        if let Some(line) = sip_start_line(bytes) {
            return WireKind::Sip(line);
        }
        match bytes {
            [first, second, ..] if first >> 6 == 2 => {
                if (200..=204).contains(second) {
                    WireKind::Rtcp
                } else {
                    WireKind::Rtp
                }
            }
            _ => WireKind::Other,
        }
    }
}

/// The start line of a SIP message (RFC 3261 §7.1/§7.2), if `bytes` looks like one.
pub fn sip_start_line(bytes: &[u8]) -> Option<String> {
    let end = bytes.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&bytes[..end]).ok()?;
    let is_sip = line.starts_with("SIP/2.0 ") || line.ends_with(" SIP/2.0");
    is_sip.then(|| line.to_string())
}

/// One side of a virtual call: a sans-IO core (or several) that owns some addresses.
///
/// The driver contract mirrors the crate's cores: after `handle_datagram` or `handle_timeout`,
/// drain `poll_transmit` until `None`; then wake the endpoint no later than `poll_timeout`
/// (it may be woken early).
pub trait VirtualEndpoint {
    /// Whether datagrams to `addr` are for this endpoint (its SIP, RTP and RTCP addresses).
    fn owns(&self, addr: SocketAddr) -> bool;
    /// A datagram from `from` arrived at our address `to` (which tells SIP from RTP from RTCP).
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]);
    /// The next datagram to send at `now` (media packets are paced, so they need the time).
    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram>;
    /// When the endpoint next has work, if ever.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Run everything due at `now`.
    fn handle_timeout(&mut self, now: Instant);
}

/// A datagram on the wire, as the trace records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    /// Virtual time since the start of the run.
    pub at: Duration,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
    /// For a sent datagram, how many copies the network will deliver (0: lost); 1 for a
    /// delivery.
    pub copies: usize,
}

/// Why [`Pair::run_until`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// The condition held, at this virtual time since the start.
    Condition(Duration),
    /// The deadline came first; the clock now stands at the deadline.
    Deadline,
    /// Nothing was left to happen: no datagram in flight and no endpoint deadline.
    Quiet(Duration),
}

/// Most consecutive steps at one instant before a run is declared stuck.
const MAX_STEPS_AT_ONE_INSTANT: u64 = 100_000;

/// Two endpoints and the network between them, on one virtual clock (after quinn-proto's
/// `Pair` and str0m's `progress()`).
pub struct Pair<A, B> {
    pub a: A,
    pub b: B,
    pub net: VirtualNetwork,
    start: Instant,
    now: Instant,
    /// Every datagram the endpoints sent, in order.
    pub sent: Vec<WireRecord>,
    /// Every copy the network delivered, in order.
    pub delivered: Vec<WireRecord>,
    /// Deliveries to an address neither endpoint owns (a closed port: silently dropped).
    pub undeliverable: u64,
}

impl<A: VirtualEndpoint, B: VirtualEndpoint> Pair<A, B> {
    /// `start` is the instant both endpoints were created at (time zero of the trace).
    pub fn new(a: A, b: B, net: VirtualNetwork, start: Instant) -> Self {
        Pair {
            a,
            b,
            net,
            start,
            now: start,
            sent: Vec::new(),
            delivered: Vec::new(),
            undeliverable: 0,
        }
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Runs until `done` holds (checked whenever the endpoints have settled at an instant),
    /// `limit` of virtual time since the start has passed, or nothing is left to happen.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<RunOutcome, NetError> {
        let deadline = self.start + limit;
        let mut steps_here = 0u64;
        loop {
            self.flush();
            if done(self) {
                return Ok(RunOutcome::Condition(self.elapsed()));
            }
            let next = [
                self.net.next_delivery(),
                self.a.poll_timeout(),
                self.b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else {
                return Ok(RunOutcome::Quiet(self.elapsed()));
            };
            if next > deadline {
                self.now = self.now.max(deadline);
                return Ok(RunOutcome::Deadline);
            }
            if next > self.now {
                self.now = next;
                steps_here = 0;
            } else {
                steps_here += 1;
                if steps_here > MAX_STEPS_AT_ONE_INSTANT {
                    return Err(NetError::Stuck {
                        at: self.elapsed(),
                        steps: steps_here,
                    });
                }
            }
            self.step();
        }
    }

    /// Runs for `span` of virtual time (or until nothing is left to happen).
    pub fn run_for(&mut self, span: Duration) -> Result<RunOutcome, NetError> {
        let limit = self.elapsed() + span;
        self.run_until(limit, |_| false)
    }

    /// Delivers what is due and fires the endpoints' due deadlines, at the current instant.
    fn step(&mut self) {
        let now = self.now;
        while let Some(delivery) = self.net.pop_due(now) {
            let d = delivery.datagram;
            self.delivered.push(WireRecord {
                at: now - self.start,
                from: d.from,
                to: d.to,
                bytes: d.bytes.clone(),
                copies: 1,
            });
            if self.a.owns(d.to) {
                self.a.handle_datagram(now, d.from, d.to, &d.bytes);
            } else if self.b.owns(d.to) {
                self.b.handle_datagram(now, d.from, d.to, &d.bytes);
            } else {
                self.undeliverable += 1;
            }
        }
        if self.a.poll_timeout().is_some_and(|at| at <= now) {
            self.a.handle_timeout(now);
        }
        if self.b.poll_timeout().is_some_and(|at| at <= now) {
            self.b.handle_timeout(now);
        }
    }

    /// Moves everything both endpoints want to send now onto the network.
    fn flush(&mut self) {
        let now = self.now;
        while let Some(d) = self.a.poll_transmit(now) {
            self.put_on_wire(d);
        }
        while let Some(d) = self.b.poll_transmit(now) {
            self.put_on_wire(d);
        }
    }

    fn put_on_wire(&mut self, d: Datagram) {
        let at = self.now - self.start;
        let (from, to, bytes) = (d.from, d.to, d.bytes.clone());
        let copies = self.net.send(self.now, d);
        self.sent.push(WireRecord {
            at,
            from,
            to,
            bytes,
            copies,
        });
    }
}
