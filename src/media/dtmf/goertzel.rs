//! In-band DTMF detection over 8 kHz linear audio with the Goertzel algorithm.
//!
//! Owns tone detection only; used when telephone-event was not negotiated. Audio is analysed in
//! blocks of 102 samples (12.75 ms, ~78 Hz resolution: enough to separate the closest DTMF pair,
//! 697/770 Hz, and short enough to time key presses). A block "hits" a digit when:
//! - both tones are above an absolute level (about −45 dBFS each);
//! - each is the clear peak of its group (others at least 8 dB lower);
//! - twist is within limits: low group louder by at most 8 dB ("normal"), high group louder by
//!   at most 4 dB ("reverse") (ITU-T Q.24 practice);
//! - the two tones carry at least 85 % of the block's energy (speech spreads its energy even
//!   when two formants sit on DTMF frequencies; clean tones through G.711 measure ≥ 0.9);
//! - the high tone's second harmonic is at least 10 dB below it (speech and music are
//!   harmonic-rich; a DTMF oscillator is not). Low-group harmonics are not checked because they
//!   fall within one bin of high-group tones.
//!
//! A digit is reported once, after 3 consecutive hits (~38 ms of tone), and no further digit is
//! reported until 2 consecutive blocks without a hit (~25 ms pause) have passed.

use super::{COL_HZ, ROW_HZ, digit_at};

/// Analysis block length in samples.
const BLOCK: usize = 102;
/// Consecutive hits needed to report a digit.
const HITS_TO_REPORT: u32 = 3;
/// Consecutive blank blocks that end a press.
const MISSES_TO_RELEASE: u32 = 2;
/// 8 dB as a power ratio.
const NORMAL_TWIST: f32 = 6.31;
/// 4 dB as a power ratio.
const REVERSE_TWIST: f32 = 2.51;
/// Peak dominance within a group (8 dB).
const RELATIVE_PEAK: f32 = 6.31;
/// Minimum fraction of block energy in the two tones.
const ENERGY_FRACTION: f32 = 0.85;
/// Second harmonic must be 10 dB below the fundamental.
const HARMONIC_RATIO: f32 = 0.1;
/// Minimum tone amplitude (~ −45 dBFS).
const MIN_AMPLITUDE: f32 = 185.0;

/// Goertzel power of `block` at `hz` (8 kHz sampling): ≈ (A·N/2)² for a sine of amplitude A.
fn goertzel_power(block: &[f32], hz: f32) -> f32 {
    let coeff = 2.0 * (2.0 * std::f32::consts::PI * hz / 8000.0).cos();
    goertzel_with(block, coeff)
}

#[inline]
fn goertzel_with(block: &[f32], coeff: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in block {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// Streaming in-band DTMF detector.
#[derive(Debug, Clone)]
pub struct InbandDtmfDetector {
    row_coeffs: [f32; 4],
    col_coeffs: [f32; 4],
    block: [f32; BLOCK],
    filled: usize,
    candidate: Option<char>,
    hits: u32,
    misses: u32,
    /// A digit was reported and the key has not been released yet.
    latched: bool,
}

impl Default for InbandDtmfDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl InbandDtmfDetector {
    /// A detector in the idle state.
    pub fn new() -> Self {
        let coeff = |hz: f32| 2.0 * (2.0 * std::f32::consts::PI * hz / 8000.0).cos();
        InbandDtmfDetector {
            row_coeffs: ROW_HZ.map(coeff),
            col_coeffs: COL_HZ.map(coeff),
            block: [0.0; BLOCK],
            filled: 0,
            candidate: None,
            hits: 0,
            misses: 0,
            latched: false,
        }
    }

    /// Feed samples (any count); returns the first digit completed within them, if any. With
    /// 20 ms frames at most one digit can complete per call.
    pub fn process(&mut self, samples: &[i16]) -> Option<char> {
        let mut found = None;
        for &s in samples {
            // Invariant: filled < BLOCK (reset to 0 when it reaches BLOCK below).
            self.block[self.filled] = f32::from(s);
            self.filled += 1;
            if self.filled == BLOCK {
                self.filled = 0;
                let hit = self.analyse_block();
                if let Some(d) = self.track(hit) {
                    found = found.or(Some(d));
                }
            }
        }
        found
    }

    fn analyse_block(&self) -> Option<char> {
        let block = &self.block;
        let energy: f32 = block.iter().map(|x| x * x).sum();
        // Two tones at the minimum amplitude carry A²·N/2 each: anything quieter (silence, the
        // usual state while a caller listens) costs no filtering.
        if energy < MIN_AMPLITUDE * MIN_AMPLITUDE * BLOCK as f32 {
            return None;
        }
        let rows = self.row_coeffs.map(|c| goertzel_with(block, c));
        let cols = self.col_coeffs.map(|c| goertzel_with(block, c));
        let (r, row_p) = peak(&rows);
        let (c, col_p) = peak(&cols);
        // A sine of amplitude A gives Goertzel power ≈ (A·N/2)².
        let min_power = (MIN_AMPLITUDE * BLOCK as f32 / 2.0).powi(2);
        if row_p < min_power || col_p < min_power {
            return None;
        }
        if row_p > col_p * NORMAL_TWIST || col_p > row_p * REVERSE_TWIST {
            return None;
        }
        let dominant = |powers: &[f32; 4], best: usize| {
            powers
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || p * RELATIVE_PEAK < powers[best])
        };
        if !dominant(&rows, r) || !dominant(&cols, c) {
            return None;
        }
        // Fraction of block energy in the two tones: power·2/N is the tone's energy in the block.
        let tone_energy = (row_p + col_p) * 2.0 / BLOCK as f32;
        if tone_energy < ENERGY_FRACTION * energy {
            return None;
        }
        if goertzel_power(block, 2.0 * COL_HZ[c]) > col_p * HARMONIC_RATIO {
            return None;
        }
        digit_at(r, c)
    }

    fn track(&mut self, hit: Option<char>) -> Option<char> {
        match hit {
            Some(d) => {
                self.misses = 0;
                if self.candidate == Some(d) {
                    self.hits += 1;
                } else {
                    self.candidate = Some(d);
                    self.hits = 1;
                }
                if !self.latched && self.hits >= HITS_TO_REPORT {
                    self.latched = true;
                    return Some(d);
                }
                None
            }
            None => {
                self.misses += 1;
                self.hits = 0;
                self.candidate = None;
                if self.misses >= MISSES_TO_RELEASE {
                    self.latched = false;
                }
                None
            }
        }
    }
}

fn peak(powers: &[f32; 4]) -> (usize, f32) {
    let mut best = (0, powers[0]);
    for (i, &p) in powers.iter().enumerate().skip(1) {
        if p > best.1 {
            best = (i, p);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::DtmfToneGenerator;
    use super::*;

    fn detect(samples: &[i16]) -> Vec<char> {
        let mut d = InbandDtmfDetector::new();
        samples.chunks(160).filter_map(|f| d.process(f)).collect()
    }

    fn tone(digit: char, ms: u64, low: f64, high: f64) -> Vec<i16> {
        DtmfToneGenerator::new(digit, low, high)
            .unwrap()
            .samples(Duration::from_millis(ms))
    }

    #[test]
    fn detects_each_digit_once() {
        for d in "0123456789*#ABCD".chars() {
            assert_eq!(detect(&tone(d, 100, -10.0, -10.0)), vec![d]);
        }
    }

    #[test]
    fn twist_limits() {
        assert_eq!(detect(&tone('5', 100, -10.0, -17.0)), vec!['5']); // 7 dB normal
        assert_eq!(detect(&tone('5', 100, -10.0, -20.0)), Vec::<char>::new()); // 10 dB normal
        assert_eq!(detect(&tone('5', 100, -13.0, -10.0)), vec!['5']); // 3 dB reverse
        assert_eq!(detect(&tone('5', 100, -16.0, -10.0)), Vec::<char>::new()); // 6 dB reverse
    }

    #[test]
    fn too_short_and_single_tones_rejected() {
        assert_eq!(detect(&tone('1', 20, -10.0, -10.0)), Vec::<char>::new());
        let mut single = DtmfToneGenerator::new('1', -10.0, -120.0).unwrap();
        assert_eq!(
            detect(&single.samples(Duration::from_millis(200))),
            Vec::<char>::new()
        );
        assert_eq!(detect(&tone('1', 100, -60.0, -60.0)), Vec::<char>::new());
    }

    #[test]
    fn repeated_digit_needs_a_pause() {
        let mut s = tone('7', 80, -10.0, -10.0);
        s.extend(std::iter::repeat_n(0, 400));
        s.extend(tone('7', 80, -10.0, -10.0));
        assert_eq!(detect(&s), vec!['7', '7']);
    }
}
