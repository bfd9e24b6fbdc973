//! RTCP (RFC 3550 §6): compound SR/RR + SDES CNAME reports, parsing of the peer's SR/RR for
//! round-trip time, and the report interval.
//!
//! Owns the RTCP wire format and interval arithmetic. Takes numbers from `stats` and the send
//! side; never decides what to play. No allocation: reports are written into caller buffers and
//! parsing borrows the datagram.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::MediaError;

const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;
const PT_BYE: u8 = 203;
const SDES_CNAME: u8 = 1;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;
/// RFC 3550 §6.2: minimum interval between reports.
pub const RTCP_MIN_INTERVAL: Duration = Duration::from_secs(5);

/// Sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (32.32 fixed point).
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp`.
    pub rtp_timestamp: u32,
    /// Packets sent since starting.
    pub packet_count: u32,
    /// Payload octets sent since starting.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// 24-bit signed cumulative loss.
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from that source.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// What we need from a peer's compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpSummary {
    /// SSRC of the first SR/RR's sender.
    pub sender_ssrc: Option<u32>,
    /// Present when the peer sent an SR.
    pub sender_info: Option<SenderInfo>,
    /// The block the peer wrote about `our_ssrc`, if any.
    pub report_about_us: Option<ReportBlock>,
    /// The peer sent BYE (RFC 3550 §6.6).
    pub bye: bool,
}

/// The 64-bit NTP timestamp of a wall-clock time (RFC 3550 §4).
pub fn ntp_timestamp(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, as LSR carries it (RFC 3550 §6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time from a report block about us (RFC 3550 §6.4.1, figure 2): `A - LSR - DLSR`,
/// where `arrival_middle` is the middle 32 bits of our NTP time when the report arrived.
/// `None` when the peer has not received an SR from us yet (LSR 0) or the result is negative.
pub fn round_trip_time(arrival_middle: u32, block: &ReportBlock) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let rtt = arrival_middle
        .wrapping_sub(block.last_sr)
        .wrapping_sub(block.delay_since_last_sr);
    if rtt > 0x8000_0000 {
        return None;
    }
    Some(Duration::from_nanos(
        u64::from(rtt) * 1_000_000_000 / 65_536,
    ))
}

/// The report interval (RFC 3550 §6.3.1 / A.7) for a two-party session: the deterministic part
/// is at least 5 s (half of that before the first report, §6.2), then multiplied by `random`
/// in 0.5–1.5. Without timer reconsideration (pointless with two members) the `e - 3/2`
/// compensation of A.7 is not applied, so reports average one per deterministic interval.
pub fn report_interval(
    members: u32,
    senders: u32,
    rtcp_bandwidth_bytes_per_s: f64,
    we_sent: bool,
    avg_rtcp_size: f64,
    initial: bool,
    random: f64,
) -> Duration {
    let min = if initial {
        RTCP_MIN_INTERVAL.as_secs_f64() / 2.0
    } else {
        RTCP_MIN_INTERVAL.as_secs_f64()
    };
    let mut n = f64::from(members.max(1));
    let mut bw = rtcp_bandwidth_bytes_per_s.max(1.0);
    let senders = f64::from(senders);
    if senders <= n * 0.25 {
        if we_sent {
            bw *= 0.25;
            n = senders.max(1.0);
        } else {
            bw *= 0.75;
            n = (n - senders).max(1.0);
        }
    }
    let deterministic = (avg_rtcp_size * n / bw).max(min);
    Duration::from_secs_f64(deterministic * random.clamp(0.5, 1.5))
}

/// Write a compound report: SR (if `sender` is given) or RR, with at most one report block, then
/// SDES with our CNAME (RFC 3550 §6.1: every compound carries SR/RR first and a CNAME).
pub fn write_compound(
    out: &mut [u8],
    ssrc: u32,
    sender: Option<&SenderInfo>,
    block: Option<&ReportBlock>,
    cname: &str,
) -> Result<usize, MediaError> {
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let report_len =
        8 + if sender.is_some() { 20 } else { 0 } + if block.is_some() { 24 } else { 0 };
    // SDES: header 4, SSRC 4, item type+len 2, text, terminating null, padded to 32 bits.
    let sdes_len = (8 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let total = report_len + sdes_len;
    if out.len() < total {
        return Err(MediaError::BufferTooSmall {
            needed: total,
            have: out.len(),
        });
    }
    let out = &mut out[..total];
    let count = u8::from(block.is_some());
    out[0] = 0x80 | count;
    out[1] = if sender.is_some() { PT_SR } else { PT_RR };
    out[2..4].copy_from_slice(&((report_len / 4 - 1) as u16).to_be_bytes());
    out[4..8].copy_from_slice(&ssrc.to_be_bytes());
    let mut at = 8;
    if let Some(s) = sender {
        out[at..at + 8].copy_from_slice(&s.ntp.to_be_bytes());
        out[at + 8..at + 12].copy_from_slice(&s.rtp_timestamp.to_be_bytes());
        out[at + 12..at + 16].copy_from_slice(&s.packet_count.to_be_bytes());
        out[at + 16..at + 20].copy_from_slice(&s.octet_count.to_be_bytes());
        at += 20;
    }
    if let Some(b) = block {
        out[at..at + 4].copy_from_slice(&b.ssrc.to_be_bytes());
        let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
        out[at + 4..at + 8]
            .copy_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
        out[at + 8..at + 12].copy_from_slice(&b.extended_highest_sequence.to_be_bytes());
        out[at + 12..at + 16].copy_from_slice(&b.jitter.to_be_bytes());
        out[at + 16..at + 20].copy_from_slice(&b.last_sr.to_be_bytes());
        out[at + 20..at + 24].copy_from_slice(&b.delay_since_last_sr.to_be_bytes());
        at += 24;
    }
    let sdes = &mut out[at..];
    sdes[0] = 0x81; // one chunk
    sdes[1] = PT_SDES;
    sdes[2..4].copy_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
    sdes[4..8].copy_from_slice(&ssrc.to_be_bytes());
    sdes[8] = SDES_CNAME;
    sdes[9] = cname.len() as u8;
    sdes[10..10 + cname.len()].copy_from_slice(cname);
    // RFC 3550 §6.5: the item list ends with null octets up to the next 32-bit boundary.
    sdes[10 + cname.len()..].fill(0);
    Ok(total)
}

/// Parse a compound packet, keeping what concerns `our_ssrc` (RFC 3550 §6.4, A.2 validity).
pub fn parse_compound(data: &[u8], our_ssrc: u32) -> Result<RtcpSummary, MediaError> {
    let mut summary = RtcpSummary::default();
    let mut rest = data;
    let mut first = true;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(MediaError::Truncated {
                needed: 4,
                have: rest.len(),
            });
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(MediaError::BadVersion(version));
        }
        let count = usize::from(rest[0] & 0x1F);
        let pt = rest[1];
        let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
        let packet = rest.get(..len).ok_or(MediaError::BadRtcpLength)?;
        rest = &rest[len..];
        if first && pt != PT_SR && pt != PT_RR {
            return Err(MediaError::BadCompoundStart(pt));
        }
        first = false;
        match pt {
            PT_SR | PT_RR => {
                let sender_ssrc = read_u32(packet, 4)?;
                let mut at = 8;
                if pt == PT_SR {
                    let ntp =
                        (u64::from(read_u32(packet, 8)?) << 32) | u64::from(read_u32(packet, 12)?);
                    summary.sender_info = Some(SenderInfo {
                        ntp,
                        rtp_timestamp: read_u32(packet, 16)?,
                        packet_count: read_u32(packet, 20)?,
                        octet_count: read_u32(packet, 24)?,
                    });
                    at = 28;
                }
                summary.sender_ssrc.get_or_insert(sender_ssrc);
                for i in 0..count {
                    let b = at + 24 * i;
                    let ssrc = read_u32(packet, b)?;
                    if ssrc != our_ssrc {
                        continue;
                    }
                    let word = read_u32(packet, b + 4)?;
                    // Sign-extend the 24-bit cumulative loss.
                    let lost = ((word << 8) as i32) >> 8;
                    summary.report_about_us = Some(ReportBlock {
                        ssrc,
                        fraction_lost: (word >> 24) as u8,
                        cumulative_lost: lost,
                        extended_highest_sequence: read_u32(packet, b + 8)?,
                        jitter: read_u32(packet, b + 12)?,
                        last_sr: read_u32(packet, b + 16)?,
                        delay_since_last_sr: read_u32(packet, b + 20)?,
                    });
                }
            }
            PT_BYE => summary.bye = true,
            _ => {} // SDES, APP, feedback: nothing we act on.
        }
    }
    Ok(summary)
}

fn read_u32(p: &[u8], at: usize) -> Result<u32, MediaError> {
    let b = p.get(at..at + 4).ok_or(MediaError::Truncated {
        needed: at + 4,
        have: p.len(),
    })?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 42,
            fraction_lost: 25,
            cumulative_lost: -3,
            extended_highest_sequence: 70_000,
            jitter: 80,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65_536,
        }
    }

    #[test]
    fn sr_with_block_and_cname_round_trips() {
        let sender = SenderInfo {
            ntp: 0xAABB_CCDD_1122_3344,
            rtp_timestamp: 9,
            packet_count: 10,
            octet_count: 1600,
        };
        let mut buf = [0u8; 256];
        let n = write_compound(&mut buf, 7, Some(&sender), Some(&block()), "fd-abc").unwrap();
        assert_eq!(n % 4, 0);
        let s = parse_compound(&buf[..n], 42).unwrap();
        assert_eq!(s.sender_ssrc, Some(7));
        assert_eq!(s.sender_info, Some(sender));
        assert_eq!(s.report_about_us, Some(block()));
        assert!(!s.bye);
        // Not about someone else.
        assert_eq!(parse_compound(&buf[..n], 43).unwrap().report_about_us, None);
    }

    #[test]
    fn rr_without_blocks() {
        let mut buf = [0u8; 64];
        let n = write_compound(&mut buf, 7, None, None, "x").unwrap();
        assert_eq!(buf[1], PT_RR);
        assert_eq!(n, 8 + 12);
        assert_eq!(parse_compound(&buf[..n], 1).unwrap().sender_info, None);
    }

    #[test]
    fn rtt_from_lsr_and_dlsr() {
        let b = ReportBlock {
            last_sr: 0x0001_0000,
            delay_since_last_sr: 0x0000_8000,
            ..block()
        };
        // Arrival 2 s after LSR, peer held it 0.5 s: RTT 1.5 s.
        assert_eq!(
            round_trip_time(0x0003_0000, &b),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(round_trip_time(5, &ReportBlock { last_sr: 0, ..b }), None);
    }

    #[test]
    fn interval_respects_minimum_and_randomisation() {
        let i = report_interval(2, 2, 218.0, true, 100.0, false, 1.0);
        assert_eq!(i, Duration::from_secs(5));
        assert_eq!(
            report_interval(2, 2, 218.0, true, 100.0, false, 0.5),
            Duration::from_millis(2500)
        );
        assert_eq!(
            report_interval(2, 2, 218.0, true, 100.0, true, 1.0),
            Duration::from_millis(2500)
        );
        // A huge average size gives a longer deterministic interval.
        assert!(report_interval(2, 1, 218.0, false, 5000.0, false, 1.0) > Duration::from_secs(20));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(parse_compound(&[0x80, 200, 0, 50], 1).is_err());
        assert!(parse_compound(&[0x40, 200, 0, 0], 1).is_err());
        assert!(parse_compound(&[0x80, 202, 0, 0], 1).is_err());
        assert!(parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1], 1).is_err()); // claims a block
        let mut x: u32 = 99;
        for len in 0..80 {
            for _ in 0..100 {
                let mut bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        (x >> 16) as u8
                    })
                    .collect();
                if let Some(b) = bytes.get_mut(0) {
                    *b = 0x80 | (*b & 0x1F);
                }
                if let Some(b) = bytes.get_mut(1) {
                    *b = 200 + (*b % 4);
                }
                let _ = parse_compound(&bytes, 1);
            }
        }
    }

    #[test]
    fn ntp_conversion() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        let ntp = ntp_timestamp(t);
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp & 0xFFFF_FFFF, 1 << 31);
        assert_eq!(
            ntp_middle(ntp),
            (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000
        );
    }
}
