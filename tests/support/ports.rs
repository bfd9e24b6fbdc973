//! Free ports on 127.0.0.1, found by bind probes.
//!
//! Tests in one binary run on parallel threads, so candidates come from a process-wide cursor
//! (seeded from the PID, so concurrently running test binaries start far apart) and each block
//! is probed for UDP and TCP before it is handed out. A probe cannot reserve a port against
//! other processes; the cursor makes collisions between our own tests impossible and the
//! seed makes the rest unlikely.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::sync::Mutex;

use super::HarnessError;

/// Lowest port handed out (above the usual registered services).
const FIRST: u16 = 20_000;
/// One past the highest port handed out (below Linux's default ephemeral range, 32768+,
/// so kernel-chosen ports of clients cannot take ours).
const END: u16 = 32_000;

static CURSOR: Mutex<Option<u16>> = Mutex::new(None);

/// A port free for both UDP and TCP.
pub fn free_port() -> Result<u16, HarnessError> {
    free_block(1, 1).map(|(low, _)| low)
}

/// `count` consecutive ports starting at a multiple of `align`, all free for UDP (and TCP),
/// returned as the inclusive range `(low, high)`. Use `align = 2` for RTP even/odd pairs.
pub fn free_block(count: u16, align: u16) -> Result<(u16, u16), HarnessError> {
    let count = count.max(1);
    let align = align.max(1);
    let span = END - FIRST;
    // A poisoned lock only means another test panicked mid-probe; the cursor is still valid.
    let mut cursor = CURSOR.lock().unwrap_or_else(|e| e.into_inner());
    let mut next = cursor.unwrap_or_else(|| FIRST + (std::process::id() % 97) as u16 * 120);
    let mut scanned: u32 = 0;
    while scanned < u32::from(span) {
        let low = next.div_ceil(align) * align;
        if low.checked_add(count).is_none_or(|end| end > END) {
            next = FIRST;
            scanned += u32::from(count);
            continue;
        }
        let high = low + count - 1;
        next = high + 1;
        scanned += u32::from(count);
        if (low..=high).all(port_is_free) {
            *cursor = Some(next);
            return Ok((low, high));
        }
    }
    Err(HarnessError::NoFreePort {
        what: format!("block of {count} ports"),
    })
}

/// Whether nothing on this host holds UDP or TCP `port` on 127.0.0.1.
pub fn port_is_free(port: u16) -> bool {
    let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
    UdpSocket::bind(addr).is_ok() && TcpListener::bind(addr).is_ok()
}
