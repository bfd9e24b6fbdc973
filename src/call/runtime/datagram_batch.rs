//! Reads up to a fixed number of queued datagrams from one UDP socket in one system call
//! (`recvmmsg(2)`), for the media clock.
//!
//! Owns: the receive buffers and the kernel message headers that point into them. Must not
//! touch: what the datagrams mean (the call's media session decides), readiness.
//!
//! Why: reading one datagram per socket per 2 ms tick let 10,000 packets/s from a third host
//! fill a call's socket buffer, so the kernel dropped most of the caller's own packets. Reading
//! until `EWOULDBLOCK` with `recv_from` would instead cost an extra, empty system call for every
//! packet of every normal call. One `recvmmsg` returns whatever is queued (one datagram for a
//! normal call, up to the batch size under a flood) and the batch size bounds the work one call
//! can cause per tick.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Size of the source address buffer the kernel may fill.
const NAME_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// Receive buffers for one batch, reused for every socket and tick.
pub struct DatagramBatch {
    buffers: Vec<u8>,
    datagram_size: usize,
    names: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    received: usize,
}

impl DatagramBatch {
    /// Room for `capacity` datagrams of up to `datagram_size` bytes (longer ones are truncated).
    pub fn new(capacity: usize, datagram_size: usize) -> DatagramBatch {
        let capacity = capacity.max(1);
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which all-zero
        // bytes are a valid value (null pointers, zero lengths).
        let (name, iovec, header) = unsafe {
            (
                mem::zeroed::<libc::sockaddr_storage>(),
                mem::zeroed::<libc::iovec>(),
                mem::zeroed::<libc::mmsghdr>(),
            )
        };
        let mut batch = DatagramBatch {
            buffers: vec![0; capacity * datagram_size],
            datagram_size,
            names: vec![name; capacity],
            iovecs: vec![iovec; capacity],
            headers: vec![header; capacity],
            received: 0,
        };
        // The headers point into the vectors' heap blocks, which never move: the vectors are
        // private and never resized after this (moving the batch moves only their handles).
        let base = batch.buffers.as_mut_ptr();
        for (i, ((iov, header), name)) in batch
            .iovecs
            .iter_mut()
            .zip(batch.headers.iter_mut())
            .zip(batch.names.iter_mut())
            .enumerate()
        {
            // SAFETY: i < capacity, so the offset stays inside `buffers`.
            iov.iov_base = unsafe { base.add(i * datagram_size) }.cast();
            iov.iov_len = datagram_size;
            header.msg_hdr.msg_name = (name as *mut libc::sockaddr_storage).cast();
            header.msg_hdr.msg_namelen = NAME_LEN;
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
        }
        batch
    }

    /// Reads what is queued on `socket` (non-blocking), at most the batch's capacity. Returns
    /// how many datagrams were read; 0 when none was queued.
    pub fn receive(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        // The kernel rewrote the name lengths of the entries it filled last time; only those
        // need resetting (a normal call fills one entry per tick, not the whole batch).
        for header in self.headers.iter_mut().take(self.received) {
            header.msg_hdr.msg_namelen = NAME_LEN;
        }
        self.received = 0;
        let vlen = libc::c_uint::try_from(self.headers.len()).unwrap_or(libc::c_uint::MAX);
        // SAFETY: every header points at a live iovec and sockaddr_storage of this batch, each
        // iovec at `datagram_size` bytes of `buffers` (set in `new`, never moved); all outlive
        // the call. MSG_DONTWAIT: return what is queued instead of waiting for a full batch.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.headers.as_mut_ptr(),
                vlen,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.received = usize::try_from(n).unwrap_or(0).min(self.headers.len());
        Ok(self.received)
    }

    /// Datagram `i` of the last [`DatagramBatch::receive`]: its source and bytes. `None` past
    /// the end, or when the source is not an IP address.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        if i >= self.received {
            return None;
        }
        let header = self.headers.get(i)?;
        let len = (header.msg_len as usize).min(self.datagram_size);
        let start = i * self.datagram_size;
        let data = self.buffers.get(start..start + len)?;
        let source = socket_addr(self.names.get(i)?)?;
        Some((source, data))
    }
}

/// The socket address the kernel wrote into `name`.
fn socket_addr(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let v4 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 =
                unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn reads_what_is_queued_up_to_the_batch_size() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        let to = receiver.local_addr().unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut batch = DatagramBatch::new(4, 16);
        assert_eq!(batch.receive(&receiver).unwrap(), 0, "nothing queued");
        for i in 0..6u8 {
            sender.send_to(&[i; 3], to).unwrap();
        }
        assert_eq!(batch.receive(&receiver).unwrap(), 4, "bounded by the batch");
        let (source, data) = batch.get(3).unwrap();
        assert_eq!(source, sender.local_addr().unwrap());
        assert_eq!(data, &[3, 3, 3]);
        assert!(batch.get(4).is_none());
        // Moved (as the media clock is when it starts): the heap blocks stay put.
        let mut batch = Box::new(batch);
        assert_eq!(batch.receive(&receiver).unwrap(), 2, "the rest next time");
        assert_eq!(batch.get(1).map(|(_, d)| d.to_vec()), Some(vec![5, 5, 5]));
        // A datagram longer than the buffer is truncated, not spilled into the next.
        sender.send_to(&[7; 40], to).unwrap();
        assert_eq!(batch.receive(&receiver).unwrap(), 1);
        assert_eq!(batch.get(0).map(|(_, d)| d.len()), Some(16));
    }
}
