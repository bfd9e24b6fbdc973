//! Classic pcap files (libpcap format): writing UDP/IPv4 datagrams in Ethernet frames (what
//! sipp's `play_pcap_audio` replays), and reading captures back to UDP datagrams.
//!
//! Reading accepts both byte orders, microsecond and nanosecond timestamps, and the link
//! types tcpdump produces on Linux loopback: Ethernet (1), Linux cooked SLL (113), SLL2
//! (276), raw IPv4 (101/228) and BSD null (0). Anything it cannot parse is skipped, never a
//! panic: a capture is input.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use super::HarnessError;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_LINUX_SLL2: u32 = 276;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: u16 = 0x8100;
const IPPROTO_UDP: u8 = 17;

/// One UDP/IPv4 datagram and when it was captured (time since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpDatagram {
    pub time: Duration,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub payload: Vec<u8>,
}

/// Builds a pcap file (Ethernet link type, microsecond timestamps) in memory.
#[derive(Debug, Clone)]
pub struct PcapWriter {
    bytes: Vec<u8>,
    ip_id: u16,
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapWriter {
    /// An empty file with its global header.
    pub fn new() -> PcapWriter {
        let mut bytes = Vec::with_capacity(64 * 1024);
        bytes.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes()); // version major
        bytes.extend_from_slice(&4u16.to_le_bytes()); // version minor
        bytes.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        bytes.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        bytes.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
        bytes.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        PcapWriter { bytes, ip_id: 1 }
    }

    /// Appends one UDP datagram captured at `time`.
    pub fn push(&mut self, datagram: &UdpDatagram) {
        let udp_len = 8 + datagram.payload.len();
        let ip_len = 20 + udp_len;
        let frame_len = 14 + ip_len;
        let mut frame = Vec::with_capacity(frame_len);
        // Ethernet: locally administered MACs, IPv4.
        frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        // IPv4 header without options.
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = IPPROTO_UDP;
        ip[12..16].copy_from_slice(&datagram.src.ip().octets());
        ip[16..20].copy_from_slice(&datagram.dst.ip().octets());
        let checksum = ipv4_checksum(&ip);
        ip[10..12].copy_from_slice(&checksum.to_be_bytes());
        frame.extend_from_slice(&ip);
        self.ip_id = self.ip_id.wrapping_add(1);
        // UDP; checksum 0 means "not computed" (RFC 768), which sipp and decoders accept.
        frame.extend_from_slice(&datagram.src.port().to_be_bytes());
        frame.extend_from_slice(&datagram.dst.port().to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&0u16.to_be_bytes());
        frame.extend_from_slice(&datagram.payload);

        let secs = datagram.time.as_secs() as u32;
        let micros = datagram.time.subsec_micros();
        self.bytes.extend_from_slice(&secs.to_le_bytes());
        self.bytes.extend_from_slice(&micros.to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&frame);
    }

    /// The file's bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Writes the file.
    pub fn write_to(self, path: &Path) -> Result<(), HarnessError> {
        std::fs::write(path, self.bytes)
            .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
    }
}

fn ipv4_checksum(header: &[u8; 20]) -> u16 {
    let mut sum: u32 = header
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Reads every UDP/IPv4 datagram in a pcap file.
pub fn read_udp_file(path: &Path) -> Result<Vec<UdpDatagram>, HarnessError> {
    let bytes = std::fs::read(path)
        .map_err(|e| HarnessError::io(format!("reading {}", path.display()), e))?;
    read_udp(&bytes).map_err(|reason| HarnessError::Pcap {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses pcap bytes into UDP/IPv4 datagrams. A truncated final record (a capture stopped
/// mid-write) ends the list instead of failing it.
pub fn read_udp(bytes: &[u8]) -> Result<Vec<UdpDatagram>, String> {
    let magic = bytes
        .get(0..4)
        .ok_or("shorter than a pcap header")?
        .try_into()
        .map_err(|_| "bad header")?;
    let (big_endian, nanos) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
        (MAGIC_MICROS, _) => (false, false),
        (MAGIC_NANOS, _) => (false, true),
        (_, MAGIC_MICROS) => (true, false),
        (_, MAGIC_NANOS) => (true, true),
        _ => return Err("not a classic pcap file (pcapng is not supported)".into()),
    };
    let read_u32 = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let link_type = read_u32(20).ok_or("truncated global header")? & 0x0fff_ffff;
    let mut datagrams = Vec::new();
    let mut at = 24;
    while let (Some(secs), Some(frac), Some(caplen)) =
        (read_u32(at), read_u32(at + 4), read_u32(at + 8))
    {
        let start = at + 16;
        let Some(frame) = bytes.get(start..start + caplen as usize) else {
            break;
        };
        at = start + caplen as usize;
        let time = Duration::from_secs(u64::from(secs))
            + if nanos {
                Duration::from_nanos(u64::from(frac))
            } else {
                Duration::from_micros(u64::from(frac))
            };
        if let Some(ip) = ipv4_packet(link_type, frame)
            && let Some((src, dst, payload)) = udp_in_ipv4(ip)
        {
            datagrams.push(UdpDatagram {
                time,
                src,
                dst,
                payload: payload.to_vec(),
            });
        }
    }
    Ok(datagrams)
}

/// The IPv4 packet inside a link-layer frame, if there is one.
fn ipv4_packet(link_type: u32, frame: &[u8]) -> Option<&[u8]> {
    let be16 = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?))
    };
    match link_type {
        LINKTYPE_ETHERNET => {
            let mut ethertype = be16(12)?;
            let mut offset = 14;
            if ethertype == ETHERTYPE_VLAN {
                ethertype = be16(16)?;
                offset = 18;
            }
            (ethertype == ETHERTYPE_IPV4).then(|| frame.get(offset..))?
        }
        LINKTYPE_LINUX_SLL => (be16(14)? == ETHERTYPE_IPV4).then(|| frame.get(16..))?,
        LINKTYPE_LINUX_SLL2 => (be16(0)? == ETHERTYPE_IPV4).then(|| frame.get(20..))?,
        LINKTYPE_RAW | LINKTYPE_IPV4 => (frame.first()? >> 4 == 4).then_some(frame),
        LINKTYPE_NULL => {
            // BSD loopback: a host-order u32 address family, AF_INET = 2.
            let family: [u8; 4] = frame.get(0..4)?.try_into().ok()?;
            (u32::from_le_bytes(family) == 2 || u32::from_be_bytes(family) == 2)
                .then(|| frame.get(4..))?
        }
        _ => None,
    }
}

/// Source, destination and payload of an unfragmented UDP datagram in an IPv4 packet.
fn udp_in_ipv4(ip: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, &[u8])> {
    let first = *ip.first()?;
    if first >> 4 != 4 || *ip.get(9)? != IPPROTO_UDP {
        return None;
    }
    let header_len = usize::from(first & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?));
    let fragment = u16::from_be_bytes(ip.get(6..8)?.try_into().ok()?);
    // A later fragment has no UDP header; a first fragment's payload is incomplete.
    if fragment & 0x3fff != 0 || header_len < 20 {
        return None;
    }
    let src_ip = Ipv4Addr::new(*ip.get(12)?, *ip.get(13)?, *ip.get(14)?, *ip.get(15)?);
    let dst_ip = Ipv4Addr::new(*ip.get(16)?, *ip.get(17)?, *ip.get(18)?, *ip.get(19)?);
    let udp = ip.get(header_len..total_len.min(ip.len()))?;
    let src_port = u16::from_be_bytes(udp.get(0..2)?.try_into().ok()?);
    let dst_port = u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?);
    let udp_len = usize::from(u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?));
    // With a small snaplen the payload is cut short: keep what was captured.
    let payload = udp.get(8..udp_len.min(udp.len()).max(8))?;
    Some((
        SocketAddrV4::new(src_ip, src_port),
        SocketAddrV4::new(dst_ip, dst_port),
        payload,
    ))
}
