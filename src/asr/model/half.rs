//! IEEE 754 half-precision (and bfloat16) conversions for the converter. Rounding matches
//! numpy's `astype(float16)` (round to nearest, ties to even), so converted tensors are
//! bit-identical to the reference Python conversion.

/// Converts half-precision bits to f32 (exact: every f16 is representable).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x03ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the mantissa into an f32 normal.
            let shift = mant.leading_zeros() - 21;
            let mant = (mant << shift) & 0x03ff;
            let exp = 127 - 15 + 1 - shift;
            sign | (exp << 23) | (mant << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (mant << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

/// Converts f32 to half-precision bits, rounding to nearest with ties to even.
pub fn f32_to_f16(value: f32) -> u16 {
    let x = value.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let mant = x & 0x007f_ffff;
    if exp == 0xff {
        // Inf stays Inf; NaN keeps a quiet payload bit.
        return sign
            | 0x7c00
            | if mant != 0 {
                0x0200 | (mant >> 13) as u16
            } else {
                0
            };
    }
    let half_exp = exp - 127 + 15;
    if half_exp >= 0x1f {
        return sign | 0x7c00;
    }
    if half_exp <= 0 {
        // Subnormal or zero in f16.
        if half_exp < -10 {
            return sign;
        }
        let mant = mant | 0x0080_0000;
        let shift = (14 - half_exp) as u32;
        let half_mant = mant >> shift;
        let rem = mant & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round_up = rem > halfway || (rem == halfway && half_mant & 1 == 1);
        return sign | (half_mant + u32::from(round_up)) as u16;
    }
    let half_mant = mant >> 13;
    let rem = mant & 0x1fff;
    let round_up = rem > 0x1000 || (rem == 0x1000 && half_mant & 1 == 1);
    // A carry out of the mantissa correctly bumps the exponent (and can reach Inf).
    let bits = ((half_exp as u32) << 10 | half_mant) + u32::from(round_up);
    sign | bits as u16
}

/// Converts bfloat16 bits to f32 (exact).
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_finite_half() {
        for h in 0..=u16::MAX {
            let f = f16_to_f32(h);
            if f.is_nan() {
                assert!(f16_to_f32(f32_to_f16(f)).is_nan());
            } else {
                assert_eq!(f32_to_f16(f), h, "{h:#06x} -> {f}");
            }
        }
    }

    #[test]
    fn rounds_ties_to_even_and_overflows_to_inf() {
        // 1 + 2^-11 is exactly between 1.0 and the next half; ties go to the even mantissa.
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
        assert_eq!(f32_to_f16(65520.0), 0x7c00);
        assert_eq!(f32_to_f16(65519.0), 0x7bff);
        assert_eq!(f32_to_f16(1e-9), 0);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
    }
}
