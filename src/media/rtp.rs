//! RTP fixed header (RFC 3550 §5.1): zero-copy parsing and serialisation.
//!
//! Owns the wire format only. Never panics on input: every length is checked and reported as a
//! [`MediaError`]. Header extensions (§5.3.1) and CSRC lists are skipped on receive; we never
//! send either.

use super::error::MediaError;

/// Size of the fixed RTP header without CSRCs.
pub const RTP_HEADER_LEN: usize = 12;

/// The fields of an RTP header that matter to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit: first packet of a talk-spurt for audio (RFC 3551 §4.1).
    pub marker: bool,
    /// 7-bit payload type.
    pub payload_type: u8,
    /// Sequence number (RFC 3550 §5.1).
    pub sequence: u16,
    /// Media timestamp at the first sample.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Write the 12-byte fixed header (version 2, no padding, no extension, no CSRC).
    pub fn write(&self, out: &mut [u8]) -> Result<usize, MediaError> {
        let Some(dst) = out.get_mut(..RTP_HEADER_LEN) else {
            return Err(MediaError::BufferTooSmall {
                needed: RTP_HEADER_LEN,
                have: out.len(),
            });
        };
        dst[0] = 0x80; // V=2, P=0, X=0, CC=0 (RFC 3550 §5.1)
        dst[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        dst[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        dst[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        dst[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Ok(RTP_HEADER_LEN)
    }
}

/// A parsed RTP packet borrowing its payload from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed header fields.
    pub header: RtpHeader,
    /// Payload with CSRCs, extension and padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parse and validate a datagram (RFC 3550 §5.1, validity checks of Appendix A.1).
    pub fn parse(data: &'a [u8]) -> Result<Self, MediaError> {
        if data.len() < RTP_HEADER_LEN {
            return Err(MediaError::Truncated {
                needed: RTP_HEADER_LEN,
                have: data.len(),
            });
        }
        let b0 = data[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(MediaError::BadVersion(version));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0F);
        let mut offset = RTP_HEADER_LEN + 4 * csrc_count;
        if has_extension {
            // RFC 3550 §5.3.1: 16-bit profile id, 16-bit length in 32-bit words, then data.
            let ext = data.get(offset..offset + 4).ok_or(MediaError::Truncated {
                needed: offset + 4,
                have: data.len(),
            })?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            offset += 4 + 4 * words;
        }
        if offset > data.len() {
            return Err(MediaError::Truncated {
                needed: offset,
                have: data.len(),
            });
        }
        let mut end = data.len();
        if has_padding {
            // RFC 3550 §5.1: the last octet counts the padding octets, itself included.
            let pad = usize::from(data[end - 1]);
            if pad == 0 || offset + pad > end {
                return Err(MediaError::BadPadding(pad));
            }
            end -= pad;
        }
        let header = RtpHeader {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7F,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
        };
        Ok(RtpPacket {
            header,
            payload: &data[offset..end],
        })
    }
}

/// Whether a datagram on a shared port looks like RTCP rather than RTP (RFC 5761 §4): RTCP
/// packet types 192–223 occupy the second octet where RTP has marker + payload type.
pub fn looks_like_rtcp(data: &[u8]) -> bool {
    matches!(data.get(1), Some(pt) if (192..=223).contains(pt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xFFFE,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x0102_0304,
        }
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 12 + 4];
        let n = header().write(&mut buf).unwrap();
        buf[n..].copy_from_slice(&[1, 2, 3, 4]);
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.header, header());
        assert_eq!(p.payload, &[1, 2, 3, 4]);
    }

    #[test]
    fn skips_csrc_extension_and_padding() {
        let mut buf = vec![0u8; 12];
        header().write(&mut buf).unwrap();
        buf[0] = 0x80 | 0x20 | 0x10 | 2; // padding, extension, 2 CSRCs
        buf.extend_from_slice(&[0; 8]); // CSRCs
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // extension of one word
        buf.extend_from_slice(&[7, 7, 7]); // payload
        buf.extend_from_slice(&[0, 0, 3]); // padding of 3
        let p = RtpPacket::parse(&buf).unwrap();
        assert_eq!(p.payload, &[7, 7, 7]);
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 11]),
            Err(MediaError::Truncated { .. })
        ));
        let mut buf = [0u8; 12];
        header().write(&mut buf).unwrap();
        buf[0] = 0x40;
        assert_eq!(RtpPacket::parse(&buf), Err(MediaError::BadVersion(1)));
        buf[0] = 0x8F; // 15 CSRCs claimed
        assert!(matches!(
            RtpPacket::parse(&buf),
            Err(MediaError::Truncated { .. })
        ));
        buf[0] = 0x90; // extension claimed, none present
        assert!(matches!(
            RtpPacket::parse(&buf),
            Err(MediaError::Truncated { .. })
        ));
        buf[0] = 0xA0;
        buf[11] = 0; // padding count 0
        assert_eq!(RtpPacket::parse(&buf), Err(MediaError::BadPadding(0)));
        buf[11] = 200;
        assert_eq!(RtpPacket::parse(&buf), Err(MediaError::BadPadding(200)));
    }

    #[test]
    fn write_into_short_buffer_fails() {
        assert!(header().write(&mut [0u8; 4]).is_err());
    }

    #[test]
    fn demultiplexes_rtcp() {
        assert!(looks_like_rtcp(&[0x80, 200]));
        assert!(!looks_like_rtcp(&[0x80, 0x80]));
        assert!(!looks_like_rtcp(&[]));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u32 = 12345;
        for len in 0..64 {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                        (x >> 16) as u8
                    })
                    .collect();
                let _ = RtpPacket::parse(&bytes);
            }
        }
    }
}
