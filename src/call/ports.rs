//! RTP/RTCP port pairs from the configured range.
//!
//! RTP takes an even port and RTCP the next odd one (RFC 3550 §11). Pairs are handed out
//! round-robin so a port just released is not reused at once (late packets of the old call would
//! land in the new one). A pair whose bind fails (another process holds it) is skipped.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use crate::config::PortRange;

/// A bound RTP/RTCP socket pair, returned to the allocator when dropped.
pub struct PortPair {
    pub rtp: std::net::UdpSocket,
    pub rtcp: std::net::UdpSocket,
    pub rtp_port: u16,
    allocator: Arc<PortAllocatorInner>,
}

impl Drop for PortPair {
    fn drop(&mut self) {
        if let Ok(mut free) = self.allocator.free.lock() {
            free.push_back(self.rtp_port);
        }
    }
}

struct PortAllocatorInner {
    ip: IpAddr,
    free: Mutex<VecDeque<u16>>,
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
        let free: VecDeque<u16> = (low..range.high).step_by(2).collect();
        PortAllocator {
            inner: Arc::new(PortAllocatorInner {
                ip,
                free: Mutex::new(free),
            }),
        }
    }

    /// Binds the next free pair (non-blocking sockets, ready for tokio).
    pub fn allocate(&self) -> Result<PortPair, PortsExhausted> {
        let attempts = self.inner.free.lock().map(|f| f.len()).unwrap_or(0);
        for _ in 0..attempts {
            let port = match self.inner.free.lock().ok().and_then(|mut f| f.pop_front()) {
                Some(p) => p,
                None => break,
            };
            match bind_pair(self.inner.ip, port) {
                Some((rtp, rtcp)) => {
                    return Ok(PortPair {
                        rtp,
                        rtcp,
                        rtp_port: port,
                        allocator: self.inner.clone(),
                    });
                }
                None => {
                    // Busy outside our control: put it at the back and try the next one.
                    if let Ok(mut f) = self.inner.free.lock() {
                        f.push_back(port);
                    }
                }
            }
        }
        Err(PortsExhausted)
    }

    /// Pairs not currently in use.
    pub fn available(&self) -> usize {
        self.inner.free.lock().map(|f| f.len()).unwrap_or(0)
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
    use super::*;

    #[test]
    fn pairs_are_even_odd_and_recycled_last() {
        let alloc = PortAllocator::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                low: 41001,
                high: 41011,
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

    #[test]
    fn exhaustion_is_an_error_not_a_panic() {
        let alloc = PortAllocator::new(
            "127.0.0.1".parse().unwrap(),
            PortRange {
                low: 41100,
                high: 41103,
            },
        );
        let _a = alloc.allocate().unwrap();
        let _b = alloc.allocate().unwrap();
        assert!(alloc.allocate().is_err());
    }
}
