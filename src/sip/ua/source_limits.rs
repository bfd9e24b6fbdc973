//! Per-source admission limits: how many requests, new calls and concurrent calls one allowed
//! source may have.
//!
//! UDP source addresses can be spoofed, so being on the allow-list says little about who sent
//! a datagram: a flood that claims to come from the council's PBX must not fill the call cap
//! or make us send more than it sends. Each source (an IPv4 address, or an IPv6 /64) gets two
//! token buckets: one for every request, checked before the datagram is parsed, and one for
//! new INVITEs, checked before any transaction or call exists. A request over either limit is
//! dropped silently: no response, no state, no retransmission (an answer is exactly the
//! amplification a flood wants). Separately, a source may hold at most a share of `max_calls`
//! at once, so another allowed source always has room.
//!
//! The table is bounded: past `max_sources`, idle entries (both buckets full again, so
//! forgetting them changes nothing) are swept out; if none are idle, newcomers share one
//! overflow entry, which caps what a spray of allowed addresses can do together.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limits each source is held to. A rate of 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceLimits {
    /// Requests of any method per second, sustained.
    pub requests_per_second: u32,
    /// Requests that may arrive at once above the sustained rate.
    pub request_burst: u32,
    /// New INVITEs (initial, not retransmissions or re-INVITEs) per second, sustained.
    pub invites_per_second: u32,
    /// New INVITEs that may arrive at once.
    pub invite_burst: u32,
    /// Concurrent incoming calls one source may hold.
    pub max_calls_per_source: usize,
    /// Sources tracked individually.
    pub max_sources: usize,
}

impl SourceLimits {
    /// No per-source limit at all (the sans-IO core's default; the server configures limits).
    pub const fn unlimited() -> Self {
        SourceLimits {
            requests_per_second: 0,
            request_burst: 0,
            invites_per_second: 0,
            invite_burst: 0,
            max_calls_per_source: usize::MAX,
            max_sources: 4096,
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `rate` per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(burst: u32, now: Instant) -> Self {
        TokenBucket {
            tokens: f64::from(burst.max(1)),
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant, rate: u32, burst: u32) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        let cap = f64::from(burst.max(1));
        self.tokens = (self.tokens + elapsed * f64::from(rate)).min(cap);
        self.updated = self.updated.max(now);
    }

    /// Takes one token if there is one. A `rate` of 0 never limits.
    pub fn take(&mut self, now: Instant, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely (forgetting it would change nothing).
    pub fn is_full(&self, now: Instant, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let mut probe = *self;
        probe.refill(now, rate, burst);
        probe.tokens >= f64::from(burst.max(1))
    }
}

#[derive(Debug, Clone, Copy)]
struct SourceEntry {
    requests: TokenBucket,
    invites: TokenBucket,
}

impl SourceEntry {
    fn new(limits: &SourceLimits, now: Instant) -> Self {
        SourceEntry {
            requests: TokenBucket::full(limits.request_burst, now),
            invites: TokenBucket::full(limits.invite_burst, now),
        }
    }

    fn is_idle(&self, limits: &SourceLimits, now: Instant) -> bool {
        self.requests
            .is_full(now, limits.requests_per_second, limits.request_burst)
            && self
                .invites
                .is_full(now, limits.invites_per_second, limits.invite_burst)
    }
}

/// Requests dropped by the limits, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedCounts {
    /// Over the all-requests rate.
    pub requests: u64,
    /// New INVITEs over the INVITE rate.
    pub invites: u64,
    /// New INVITEs refused because the source held its share of the call cap.
    pub calls: u64,
}

/// What [`SourceTable::admit_invite`] decided for a new INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteAdmission {
    Admit,
    /// Over the INVITE rate: drop silently.
    OverRate,
    /// The source already holds its share of the call cap: refuse (503).
    OverShare,
}

/// The per-source buckets and call counts.
#[derive(Debug)]
pub struct SourceTable {
    limits: SourceLimits,
    entries: HashMap<IpAddr, SourceEntry>,
    /// Shared by sources that found the table full of busy entries.
    overflow: Option<SourceEntry>,
    /// Last sweep for idle entries (sweeps are O(n); at most one per [`SWEEP_EVERY`]).
    swept: Option<Instant>,
    /// Live incoming calls per source; bounded by the call cap.
    calls: HashMap<IpAddr, usize>,
    dropped: DroppedCounts,
}

/// How often a full table may be swept for idle entries.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// The key a source is limited under: IPv4 addresses (and IPv4-mapped IPv6) as themselves,
/// IPv6 by /64, since one host is routinely given a whole /64 (RFC 6177 §3).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

impl SourceTable {
    pub fn new(limits: SourceLimits) -> Self {
        SourceTable {
            limits,
            entries: HashMap::new(),
            overflow: None,
            swept: None,
            calls: HashMap::new(),
            dropped: DroppedCounts::default(),
        }
    }

    pub fn limits(&self) -> &SourceLimits {
        &self.limits
    }

    /// Sources tracked individually now.
    pub fn tracked(&self) -> usize {
        self.entries.len()
    }

    pub fn dropped(&self) -> DroppedCounts {
        self.dropped
    }

    fn limits_nothing(&self) -> bool {
        self.limits.requests_per_second == 0 && self.limits.invites_per_second == 0
    }

    /// The entry for `ip`, creating it (or falling back to the shared overflow entry).
    fn entry(&mut self, now: Instant, ip: IpAddr) -> &mut SourceEntry {
        let key = source_key(ip);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.limits.max_sources {
            self.sweep(now);
        }
        let limits = self.limits;
        if self.entries.contains_key(&key) || self.entries.len() < limits.max_sources {
            return self
                .entries
                .entry(key)
                .or_insert_with(|| SourceEntry::new(&limits, now));
        }
        self.overflow
            .get_or_insert_with(|| SourceEntry::new(&limits, now))
    }

    /// Forgets idle entries, at most once per [`SWEEP_EVERY`].
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|at| now.saturating_duration_since(at) < SWEEP_EVERY)
        {
            return;
        }
        self.swept = Some(now);
        let limits = self.limits;
        self.entries.retain(|_, e| !e.is_idle(&limits, now));
        if self
            .overflow
            .is_some_and(|overflow| overflow.is_idle(&limits, now))
        {
            self.overflow = None;
        }
    }

    /// Forgets idle entries and gives back the tables' spare capacity.
    pub fn release_spare_capacity(&mut self, now: Instant) {
        let limits = self.limits;
        self.entries.retain(|_, e| !e.is_idle(&limits, now));
        self.entries.shrink_to(self.entries.len() * 2);
        self.calls.shrink_to(self.calls.len() * 2);
    }

    /// Any request from `ip`: whether it may be processed at all.
    pub fn admit_request(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.limits_nothing() {
            return true;
        }
        let (rate, burst) = (self.limits.requests_per_second, self.limits.request_burst);
        let admitted = self.entry(now, ip).requests.take(now, rate, burst);
        if !admitted {
            self.dropped.requests += 1;
        }
        admitted
    }

    /// A new INVITE from `ip` (after [`Self::admit_request`]).
    pub fn admit_invite(&mut self, now: Instant, ip: IpAddr) -> InviteAdmission {
        if self.limits.invites_per_second != 0 {
            let (rate, burst) = (self.limits.invites_per_second, self.limits.invite_burst);
            if !self.entry(now, ip).invites.take(now, rate, burst) {
                self.dropped.invites += 1;
                return InviteAdmission::OverRate;
            }
        }
        if self.calls_from(ip) >= self.limits.max_calls_per_source {
            self.dropped.calls += 1;
            return InviteAdmission::OverShare;
        }
        InviteAdmission::Admit
    }

    /// Live incoming calls from `ip`'s source.
    pub fn calls_from(&self, ip: IpAddr) -> usize {
        self.calls.get(&source_key(ip)).copied().unwrap_or(0)
    }

    /// An incoming call from `ip` started.
    pub fn call_started(&mut self, ip: IpAddr) {
        *self.calls.entry(source_key(ip)).or_insert(0) += 1;
    }

    /// An incoming call from `ip` ended.
    pub fn call_ended(&mut self, ip: IpAddr) {
        let key = source_key(ip);
        if let Some(n) = self.calls.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.calls.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SourceLimits {
        SourceLimits {
            requests_per_second: 100,
            request_burst: 200,
            invites_per_second: 10,
            invite_burst: 20,
            max_calls_per_source: 5,
            max_sources: 4,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(20, t0);
        let taken = (0..100).filter(|_| b.take(t0, 10, 20)).count();
        assert_eq!(taken, 20);
        // Half a second refills five tokens.
        let t1 = t0 + Duration::from_millis(500);
        let taken = (0..100).filter(|_| b.take(t1, 10, 20)).count();
        assert_eq!(taken, 5);
        // Never more than the burst, however long it rested.
        let t2 = t1 + Duration::from_secs(3600);
        assert!(b.is_full(t2, 10, 20));
        let taken = (0..100).filter(|_| b.take(t2, 10, 20)).count();
        assert_eq!(taken, 20);
    }

    #[test]
    fn bucket_over_ten_seconds_admits_rate_times_time_plus_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(100, t0);
        // 2,000 a second for 10 s against 20/s with a burst of 100.
        let admitted = (0..20_000u64)
            .filter(|i| b.take(t0 + Duration::from_micros(i * 500), 20, 100))
            .count();
        assert!((299..=301).contains(&admitted), "{admitted}");
    }

    #[test]
    fn zero_rate_never_limits() {
        let t0 = Instant::now();
        let mut table = SourceTable::new(SourceLimits::unlimited());
        for _ in 0..100_000 {
            assert!(table.admit_request(t0, ip("127.0.0.1")));
            assert_eq!(
                table.admit_invite(t0, ip("127.0.0.1")),
                InviteAdmission::Admit
            );
        }
        assert_eq!(table.tracked(), 0, "no entry is needed without limits");
    }

    #[test]
    fn sources_are_limited_independently() {
        let t0 = Instant::now();
        let mut table = SourceTable::new(limits());
        let flooded = (0..1000)
            .filter(|_| table.admit_invite(t0, ip("127.0.0.3")) == InviteAdmission::Admit)
            .count();
        assert_eq!(flooded, 20);
        assert_eq!(
            table.admit_invite(t0, ip("127.0.0.1")),
            InviteAdmission::Admit
        );
        assert_eq!(table.dropped().invites, 980);
    }

    #[test]
    fn share_of_calls_is_capped_per_source() {
        let t0 = Instant::now();
        let mut table = SourceTable::new(limits());
        for _ in 0..5 {
            assert_eq!(
                table.admit_invite(t0, ip("10.0.0.1")),
                InviteAdmission::Admit
            );
            table.call_started(ip("10.0.0.1"));
        }
        assert_eq!(
            table.admit_invite(t0, ip("10.0.0.1")),
            InviteAdmission::OverShare
        );
        assert_eq!(
            table.admit_invite(t0, ip("10.0.0.2")),
            InviteAdmission::Admit
        );
        table.call_ended(ip("10.0.0.1"));
        assert_eq!(
            table.admit_invite(t0, ip("10.0.0.1")),
            InviteAdmission::Admit
        );
        assert_eq!(table.calls_from(ip("10.0.0.1")), 4);
    }

    #[test]
    fn ipv6_sources_share_a_64_and_mapped_v4_is_v4() {
        assert_eq!(
            source_key(ip("2001:db8:1:2:aaaa::1")),
            source_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            source_key(ip("2001:db8:1:2::1")),
            source_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(source_key(ip("::ffff:127.0.0.1")), ip("127.0.0.1"));
    }

    #[test]
    fn table_stays_bounded_and_sprayed_sources_share_the_overflow() {
        let t0 = Instant::now();
        let mut table = SourceTable::new(limits());
        // 10,000 different sources in one instant: only four tracked, the rest share one
        // overflow bucket, so together they get one source's burst, not 10,000 of them.
        let mut admitted = 0;
        for i in 0..10_000u32 {
            let source = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            if table.admit_invite(t0, source) == InviteAdmission::Admit {
                admitted += 1;
            }
        }
        assert_eq!(table.tracked(), 4);
        assert_eq!(admitted, 4 + 20);
        // Once the tracked ones are idle again, they are swept and new sources get entries.
        let later = t0 + Duration::from_secs(60);
        assert!(table.admit_request(later, ip("192.0.2.1")));
        assert!(table.tracked() <= 4);
        assert!(table.entries.contains_key(&ip("192.0.2.1")));
    }
}
