//! RTP/RTCP port pairs from the configured range.
//!
//! RTP takes an even port and RTCP the next odd one (RFC 3550 §11). A pair is chosen at random
//! among the free ones (the thread RNG, a CSPRNG seeded from the OS): handed out in order, the
//! next call's port was easy to predict, and a host that sprayed it before the call was
//! answered received the call's audio. A released pair cools down behind the others before
//! it can be chosen again (late packets of the old call would land in the new one). A pair whose
//! bind fails (another process holds it) is skipped.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use rand::RngExt;

use crate::config::PortRange;

/// Most recently released pairs kept out of the draw; a quarter of the range up to this.
const MAX_COOLING: usize = 512;

/// A bound RTP/RTCP socket pair, returned to the allocator when dropped.
pub struct PortPair {
    pub rtp: std::net::UdpSocket,
    pub rtcp: std::net::UdpSocket,
    pub rtp_port: u16,
    allocator: Arc<PortAllocatorInner>,
}

impl Drop for PortPair {
    fn drop(&mut self) {
        if let Ok(mut pool) = self.allocator.pool.lock() {
            pool.release(self.rtp_port);
        }
    }
}

/// RTP ports of the pairs not in use.
struct Pool {
    /// Chosen from at random.
    free: Vec<u16>,
    /// Released most recently, oldest first; rejoin `free` as others are released.
    cooling: VecDeque<u16>,
    cooling_len: usize,
}

impl Pool {
    fn release(&mut self, port: u16) {
        self.cooling.push_back(port);
        while self.cooling.len() > self.cooling_len {
            if let Some(p) = self.cooling.pop_front() {
                self.free.push(p);
            }
        }
    }

    /// A random free port; the longest-cooled one when no other is free.
    fn take(&mut self) -> Option<u16> {
        if self.free.is_empty() {
            return self.cooling.pop_front();
        }
        let i = rand::rng().random_range(0..self.free.len());
        Some(self.free.swap_remove(i))
    }

    fn len(&self) -> usize {
        self.free.len() + self.cooling.len()
    }
}

struct PortAllocatorInner {
    ip: IpAddr,
    pool: Mutex<Pool>,
}

/// Hands out bound socket pairs from a port range.
#[derive(Clone)]
pub struct PortAllocator {
    inner: Arc<PortAllocatorInner>,
}

/// No pair could be bound.
#[derive(Debug, thiserror::Error)]
#[error("no free RTP port pair in the configured range")]
pub struct PortsExhausted;

impl PortAllocator {
    pub fn new(ip: IpAddr, range: PortRange) -> Self {
        let low = range.low + (range.low % 2);
        let free: Vec<u16> = (low..range.high).step_by(2).collect();
        let cooling_len = (free.len() / 4).clamp(1, MAX_COOLING);
        PortAllocator {
            inner: Arc::new(PortAllocatorInner {
                ip,
                pool: Mutex::new(Pool {
                    free,
                    cooling: VecDeque::new(),
                    cooling_len,
                }),
            }),
        }
    }

    /// Binds a random free pair (non-blocking sockets, ready for tokio). Every pair in the
    /// pool is tried at most once: a pair busy outside our control is kept aside until the
    /// search ends, so a random draw cannot come back to it while an untried pair is left.
    pub fn allocate(&self) -> Result<PortPair, PortsExhausted> {
        let mut busy: Vec<u16> = Vec::new();
        let found = loop {
            let Some(port) = self.inner.pool.lock().ok().and_then(|mut p| p.take()) else {
                break None;
            };
            match bind_pair(self.inner.ip, port) {
                Some((rtp, rtcp)) => break Some((port, rtp, rtcp)),
                None => busy.push(port),
            }
        };
        // Busy pairs go back to cool: they may be free for a later call.
        if let Ok(mut p) = self.inner.pool.lock() {
            for port in busy {
                p.release(port);
            }
        }
        let (port, rtp, rtcp) = found.ok_or(PortsExhausted)?;
        Ok(PortPair {
            rtp,
            rtcp,
            rtp_port: port,
            allocator: self.inner.clone(),
        })
    }

    /// Pairs not currently in use.
    pub fn available(&self) -> usize {
        self.inner.pool.lock().map(|p| p.len()).unwrap_or(0)
    }
}

fn bind_pair(ip: IpAddr, port: u16) -> Option<(std::net::UdpSocket, std::net::UdpSocket)> {
    let rtp = std::net::UdpSocket::bind(SocketAddr::new(ip, port)).ok()?;
    let rtcp = std::net::UdpSocket::bind(SocketAddr::new(ip, port.checked_add(1)?)).ok()?;
    rtp.set_nonblocking(true).ok()?;
    rtcp.set_nonblocking(true).ok()?;
    Some((rtp, rtcp))
}

#[cfg(test)]
mod tests {
    // The ranges here lie below the kernel's ephemeral range (32768-60999 by default), so a
    // socket another test binds to port 0 can never take a port these tests count on.
    use super::*;

    #[test]
    fn pairs_are_even_odd_and_recycled_last() {
        let alloc = PortAllocator::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                low: 31001,
                high: 31011,
            },
        );
        let a = alloc.allocate().unwrap();
        assert_eq!(a.rtp_port % 2, 0);
        assert_eq!(a.rtcp.local_addr().unwrap().port(), a.rtp_port + 1);
        let first = a.rtp_port;
        let before = alloc.available();
        drop(a);
        assert_eq!(alloc.available(), before + 1);
        let b = alloc.allocate().unwrap();
        assert_ne!(
            b.rtp_port, first,
            "a released pair goes to the back of the queue"
        );
    }

    /// The RTP ports a fresh allocator hands out over `n` allocate/release cycles.
    fn sequence(low: u16, n: usize) -> Vec<u16> {
        let alloc = PortAllocator::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                low,
                high: low + 200,
            },
        );
        let mut seen = Vec::new();
        for _ in 0..n {
            let pair = alloc.allocate().unwrap();
            seen.push(pair.rtp_port);
        }
        seen
    }

    #[test]
    fn ports_are_not_predictable() {
        let a = sequence(31200, 12);
        let b = sequence(31200, 12);
        assert_ne!(a, b, "two allocators drew the same sequence");
        let steps_of_two = a.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(
            steps_of_two < 4,
            "consecutive allocations step by +2: {a:?}"
        );
        assert_ne!(a[0], 31200, "the first pair is not the bottom of the range");
    }

    #[test]
    fn a_released_pair_is_not_reused_at_once_even_when_drawn_at_random() {
        let alloc = PortAllocator::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                low: 31500,
                high: 31540,
            },
        );
        for _ in 0..50 {
            let pair = alloc.allocate().unwrap();
            let released = pair.rtp_port;
            drop(pair);
            let next = alloc.allocate().unwrap();
            assert_ne!(next.rtp_port, released);
        }
    }

    #[test]
    fn a_pair_held_by_another_process_is_skipped() {
        let range = PortRange {
            low: 31600,
            high: 31605,
        };
        // Hold two of the three RTP ports elsewhere.
        let _held_a = std::net::UdpSocket::bind("127.0.0.1:31600").unwrap();
        let _held_b = std::net::UdpSocket::bind("127.0.0.1:31603").unwrap();
        // The draw is random: many fresh allocators, so that every order of tries is met (a
        // busy pair drawn again before the free one was tried once made this fail now and
        // then).
        for _ in 0..200 {
            let alloc = PortAllocator::new("127.0.0.1".parse().unwrap(), range);
            let pair = alloc.allocate().expect("the one free pair is found");
            assert_eq!(pair.rtp_port, 31604);
            assert!(alloc.allocate().is_err());
        }
    }

    #[test]
    fn exhaustion_is_an_error_not_a_panic() {
        let alloc = PortAllocator::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                low: 31100,
                high: 31103,
            },
        );
        let _a = alloc.allocate().unwrap();
        let _b = alloc.allocate().unwrap();
        assert!(alloc.allocate().is_err());
    }
}
