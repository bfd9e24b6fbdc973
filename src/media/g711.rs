//! G.711 µ-law and A-law (ITU-T G.711) companding between 16-bit linear PCM and 8-bit codes.
//!
//! Owns the codec arithmetic only: no packets, no rates. Decoding is a 256-entry table per law
//! built at compile time; encoding is branch-light arithmetic on the segment found from the
//! leading-zero count. Segment/mantissa logic is the reference `g711.c` (Sun Microsystems), with
//! the 16→14/13-bit reduction rounded to nearest as sox does; `tests/g711_sox.rs` checks all
//! 256 codes and all 65,536 inputs of both laws against sox bit for bit.

/// A G.711 law, with its static RTP payload type (RFC 3551 §6, table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// µ-law, `PCMU/8000`, payload type 0.
    Pcmu,
    /// A-law, `PCMA/8000`, payload type 8.
    Pcma,
}

impl Codec {
    /// The static payload type assigned by RFC 3551.
    pub const fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The codec a static payload type names, if it is a G.711 one.
    pub const fn from_static_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The SDP encoding name (`a=rtpmap`).
    pub const fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The code that decodes to (near) zero: what silence packets carry.
    pub const fn silence_code(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Encode one linear sample.
    #[inline]
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Codec::Pcmu => linear_to_ulaw(sample),
            Codec::Pcma => linear_to_alaw(sample),
        }
    }

    /// Decode one code.
    #[inline]
    pub fn decode(self, code: u8) -> i16 {
        match self {
            Codec::Pcmu => ulaw_to_linear(code),
            Codec::Pcma => alaw_to_linear(code),
        }
    }

    /// Encode `min(input.len(), output.len())` samples; returns how many were written.
    pub fn encode_into(self, input: &[i16], output: &mut [u8]) -> usize {
        match self {
            Codec::Pcmu => ulaw_encode_into(input, output),
            Codec::Pcma => alaw_encode_into(input, output),
        }
    }

    /// Decode `min(input.len(), output.len())` codes; returns how many were written.
    pub fn decode_into(self, input: &[u8], output: &mut [i16]) -> usize {
        match self {
            Codec::Pcmu => ulaw_decode_into(input, output),
            Codec::Pcma => alaw_decode_into(input, output),
        }
    }
}

/// µ-law bias added to the 14-bit magnitude (G.711 §3, reference `BIAS >> 2`).
const ULAW_BIAS: i32 = 0x21;
/// Largest 14-bit magnitude before the bias that still fits segment 7.
const ULAW_CLIP: i32 = 8159;

/// Encode one sample to µ-law. The 16-bit input is reduced to G.711's 14-bit range first,
/// rounding to nearest (ties towards +∞) as sox does; plain truncation (`>> 2`, Sun's
/// `g711.c`) differs only for negative inputs exactly on a decision boundary.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut v = (i32::from(sample) + 2) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    v = v.min(ULAW_CLIP) + ULAW_BIAS;
    // v is in 33..=8192; the segment is floor(log2(v)) - 5, floored at 0.
    let segment = (26i32 - v.leading_zeros() as i32).max(0);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let code = (segment << 4) | ((v >> (segment + 1)) & 0x0F);
    (code as u8) ^ mask
}

/// Encode one sample to A-law. The 16-bit input is reduced to G.711's 13-bit range first,
/// rounding to nearest like [`linear_to_ulaw`]; 4096 (from the top 4 inputs) saturates below.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = ((i32::from(sample) + 4) >> 3).min(4095);
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        // One's-complement magnitude: A-law has no negative zero code (G.711 table 1a).
        v = -v - 1;
        0x55
    };
    // v is in 0..=4095; the segment is floor(log2(v)) - 4, floored at 0.
    let segment = (27i32 - v.leading_zeros() as i32).max(0);
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let mantissa = if segment < 2 {
        (v >> 1) & 0x0F
    } else {
        (v >> segment) & 0x0F
    };
    ((segment << 4) | mantissa) as u8 ^ mask
}

/// Decode one µ-law code.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Decode one A-law code.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

const fn ulaw_decode_one(code: u8) -> i16 {
    let u = !code;
    let mut t: i32 = (((u & 0x0F) as i32) << 3) + 0x84;
    t <<= ((u & 0x70) >> 4) as i32;
    if u & 0x80 != 0 {
        (0x84 - t) as i16
    } else {
        (t - 0x84) as i16
    }
}

const fn alaw_decode_one(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t: i32 = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= segment - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(ulaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if ulaw {
            ulaw_decode_one(i as u8)
        } else {
            alaw_decode_one(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_DECODE: [i16; 256] = build_table(true);
static ALAW_DECODE: [i16; 256] = build_table(false);

fn ulaw_encode_into(input: &[i16], output: &mut [u8]) -> usize {
    let n = input.len().min(output.len());
    for (o, &s) in output.iter_mut().zip(input.iter()) {
        *o = linear_to_ulaw(s);
    }
    n
}

fn alaw_encode_into(input: &[i16], output: &mut [u8]) -> usize {
    let n = input.len().min(output.len());
    for (o, &s) in output.iter_mut().zip(input.iter()) {
        *o = linear_to_alaw(s);
    }
    n
}

fn ulaw_decode_into(input: &[u8], output: &mut [i16]) -> usize {
    let n = input.len().min(output.len());
    for (o, &c) in output.iter_mut().zip(input.iter()) {
        *o = ULAW_DECODE[usize::from(c)];
    }
    n
}

fn alaw_decode_into(input: &[u8], output: &mut [i16]) -> usize {
    let n = input.len().min(output.len());
    for (o, &c) in output.iter_mut().zip(input.iter()) {
        *o = ALAW_DECODE[usize::from(c)];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_codes_decode_to_near_zero() {
        assert_eq!(ulaw_to_linear(Codec::Pcmu.silence_code()), 0);
        assert_eq!(alaw_to_linear(Codec::Pcma.silence_code()), 8);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
    }

    #[test]
    fn known_reference_values() {
        // From the G.711 tables: full-scale codes.
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_reencodes_to_itself_except_negative_zero() {
        for code in 0..=255u8 {
            let a = linear_to_alaw(alaw_to_linear(code));
            assert_eq!(a, code, "A-law code {code:#04x}");
            let u = linear_to_ulaw(ulaw_to_linear(code));
            // µ-law has two zeros (0x7F = -0, 0xFF = +0); -0 decodes to 0 and re-encodes as +0.
            if code == 0x7F {
                assert_eq!(u, 0xFF);
            } else {
                assert_eq!(u, code, "µ-law code {code:#04x}");
            }
        }
    }

    #[test]
    fn encoding_is_monotonic_in_decoded_value() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut last = i16::MIN;
            for s in (i16::MIN..=i16::MAX).step_by(7) {
                let d = codec.decode(codec.encode(s));
                assert!(d >= last, "{codec:?} not monotonic at {s}");
                last = d;
            }
        }
    }

    #[test]
    fn slice_helpers_stop_at_shorter_side() {
        let input = [0i16, 1000, -1000, 32000];
        let mut out = [0u8; 3];
        assert_eq!(Codec::Pcmu.encode_into(&input, &mut out), 3);
        let mut back = [0i16; 8];
        assert_eq!(Codec::Pcmu.decode_into(&out, &mut back), 3);
        assert_eq!(back[0], 0);
        assert!((i32::from(back[1]) - 1000).abs() < 40);
    }

    #[test]
    fn payload_types_round_trip() {
        for c in [Codec::Pcmu, Codec::Pcma] {
            assert_eq!(
                Codec::from_static_payload_type(c.static_payload_type()),
                Some(c)
            );
        }
        assert_eq!(Codec::from_static_payload_type(18), None);
    }
}
