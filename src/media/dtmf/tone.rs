//! DTMF tone generation (ITU-T Q.23 frequency pairs) for tests and for a test caller.
//!
//! Owns sine synthesis only; levels are given in dBFS per tone.

use std::collections::VecDeque;
use std::time::Duration;

use super::{COL_HZ, ROW_HZ, digit_position};
use crate::media::source::AudioSource;

const RATE: f64 = 8000.0;

/// A dual-tone oscillator for one digit.
#[derive(Debug, Clone)]
pub struct DtmfToneGenerator {
    low_hz: f64,
    high_hz: f64,
    low_amp: f64,
    high_amp: f64,
    n: u64,
}

impl DtmfToneGenerator {
    /// A generator for `digit` with each tone at the given level in dBFS (0 dBFS = full-scale
    /// sine). `None` for a character that is not a DTMF digit.
    pub fn new(digit: char, low_dbfs: f64, high_dbfs: f64) -> Option<Self> {
        let (r, c) = digit_position(digit)?;
        Some(DtmfToneGenerator {
            low_hz: f64::from(ROW_HZ[r]),
            high_hz: f64::from(COL_HZ[c]),
            low_amp: 32767.0 * 10f64.powf(low_dbfs / 20.0),
            high_amp: 32767.0 * 10f64.powf(high_dbfs / 20.0),
            n: 0,
        })
    }

    /// Fill `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out.iter_mut() {
            let t = self.n as f64 / RATE;
            let v = self.low_amp * (2.0 * std::f64::consts::PI * self.low_hz * t).sin()
                + self.high_amp * (2.0 * std::f64::consts::PI * self.high_hz * t).sin();
            *o = v.round().clamp(-32768.0, 32767.0) as i16;
            self.n += 1;
        }
    }

    /// `duration` of this tone as samples.
    pub fn samples(&mut self, duration: Duration) -> Vec<i16> {
        let mut v = vec![0i16; (duration.as_micros() * 8 / 1000) as usize];
        self.fill(&mut v);
        v
    }
}

/// An [`AudioSource`] that plays digits as tones with pauses, then finishes: the in-band test
/// caller.
#[derive(Debug, Clone)]
pub struct DtmfToneSource {
    samples: VecDeque<i16>,
}

impl DtmfToneSource {
    /// Tones for each digit of `digits` (non-digits are skipped), each `on` long followed by
    /// `off` of silence, at `level_dbfs` per tone.
    pub fn new(digits: &str, on: Duration, off: Duration, level_dbfs: f64) -> Self {
        let mut samples = VecDeque::new();
        let gap = (off.as_micros() * 8 / 1000) as usize;
        for d in digits.chars() {
            if let Some(mut g) = DtmfToneGenerator::new(d, level_dbfs, level_dbfs) {
                samples.extend(g.samples(on));
                samples.extend(std::iter::repeat_n(0i16, gap));
            }
        }
        DtmfToneSource { samples }
    }

    /// Queue another source's remaining samples after this one's.
    pub fn append(&mut self, other: &DtmfToneSource) {
        self.samples.extend(other.samples.iter().copied());
    }
}

impl AudioSource for DtmfToneSource {
    fn next_frame(&mut self, out: &mut [i16; 160]) -> bool {
        if self.samples.is_empty() {
            return false;
        }
        for o in out.iter_mut() {
            *o = self.samples.pop_front().unwrap_or(0);
        }
        true
    }
}
