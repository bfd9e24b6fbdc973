//! Readiness of many UDP sockets at once: a thin, level-triggered `epoll(7)` set.
//!
//! Owns: one epoll file descriptor and the registration of socket descriptors with a `u64`
//! token. Must not touch: the sockets themselves (reading is the caller's), timing.
//!
//! Why not tokio's reactor: the media clock polls this set without blocking once per tick, so
//! the RTP of every call costs one `epoll_wait` per 2 ms tick instead of one task wake-up per
//! packet. Level-triggered, so a socket not fully drained in one tick shows up again next tick.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// A set of registered descriptors.
pub struct ReadinessSet {
    epoll: RawFd,
    events: Vec<libc::epoll_event>,
}

impl ReadinessSet {
    /// An empty set that reports up to `batch` ready descriptors per [`ReadinessSet::poll`].
    pub fn new(batch: usize) -> io::Result<ReadinessSet> {
        // SAFETY: epoll_create1 takes no pointers.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ReadinessSet {
            epoll,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)],
        })
    }

    /// Reports `socket` as readable under `token` until it is removed or closed.
    pub fn add(&self, socket: &impl AsRawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the duration of the call.
        let rc = unsafe {
            libc::epoll_ctl(
                self.epoll,
                libc::EPOLL_CTL_ADD,
                socket.as_raw_fd(),
                &mut event,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops reporting `socket` (closing it has the same effect).
    pub fn remove(&self, socket: &impl AsRawFd) {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; a descriptor that is not registered only yields ENOENT.
        unsafe {
            libc::epoll_ctl(
                self.epoll,
                libc::EPOLL_CTL_DEL,
                socket.as_raw_fd(),
                &mut event,
            );
        }
    }

    /// Tokens of descriptors readable now, without waiting.
    pub fn poll(&mut self, ready: &mut Vec<u64>) -> io::Result<()> {
        ready.clear();
        let capacity = i32::try_from(self.events.len()).unwrap_or(i32::MAX);
        // SAFETY: the buffer holds `capacity` events and outlives the call.
        let n = unsafe { libc::epoll_wait(self.epoll, self.events.as_mut_ptr(), capacity, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        let n = usize::try_from(n).unwrap_or(0);
        ready.extend(self.events.iter().take(n).map(|e| e.u64));
        Ok(())
    }
}

impl Drop for ReadinessSet {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe {
            libc::close(self.epoll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn reports_readable_sockets_until_drained() {
        let mut set = ReadinessSet::new(8).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        set.add(&a, 7).unwrap();
        set.add(&b, 9).unwrap();
        let mut ready = Vec::new();
        set.poll(&mut ready).unwrap();
        assert!(ready.is_empty());

        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"x", b.local_addr().unwrap()).unwrap();
        // Loopback delivery is synchronous with send_to: the datagram is queued already.
        set.poll(&mut ready).unwrap();
        assert_eq!(ready, vec![9]);
        // Level-triggered: still ready until read.
        set.poll(&mut ready).unwrap();
        assert_eq!(ready, vec![9]);
        let mut buf = [0u8; 4];
        b.recv_from(&mut buf).unwrap();
        set.poll(&mut ready).unwrap();
        assert!(ready.is_empty());

        set.remove(&b);
        sender.send_to(b"y", b.local_addr().unwrap()).unwrap();
        set.poll(&mut ready).unwrap();
        assert!(ready.is_empty(), "removed sockets are not reported");
    }
}
