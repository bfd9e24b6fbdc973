//! Sample-rate conversion: whole clips to 8 kHz (telephony) or 16 kHz (recognition) with
//! `rubato`, and a cheap streaming 8 kHz → 16 kHz upsampler for the live caller audio.
//!
//! Owns rate conversion and the f32 ↔ i16 sample conversions. Must not touch: files, codecs, or
//! per-call state beyond the upsampler's own filter history.

use rubato::audioadapter_buffers::owned::InterleavedOwned;
use rubato::{Fft, FixedSync, Resampler};

use super::MediaError;

/// Telephony rate (G.711, RFC 3551 §4.5.14).
pub const TELEPHONY_RATE: u32 = 8000;
/// Rate Whisper and `earshot` expect.
pub const RECOGNITION_RATE: u32 = 16000;

/// Chunk size handed to the FFT resampler; a few hundred frames keeps its delay low.
const RESAMPLER_CHUNK: usize = 1024;

/// Resamples a whole mono clip from `from` Hz to `to` Hz. The resampler's start-up delay is
/// trimmed, so the output is `len * to / from` samples (rounded up) and aligned with the input.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, MediaError> {
    let fail = |reason: String| MediaError::Resample { from, to, reason };
    if from == 0 || to == 0 {
        return Err(fail("sample rate must be positive".to_string()));
    }
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let mut resampler = Fft::<f32>::new(
        from as usize,
        to as usize,
        RESAMPLER_CHUNK,
        1,
        FixedSync::Input,
    )
    .map_err(|e| fail(e.to_string()))?;
    let input = InterleavedOwned::new_from(samples.to_vec(), 1, samples.len())
        .map_err(|e| fail(e.to_string()))?;
    let output = resampler
        .process_all(&input, samples.len(), None)
        .map_err(|e| fail(e.to_string()))?;
    Ok(output.take_data())
}

/// Converts `[-1.0, 1.0]` samples to 16-bit, rounding and clamping (no wrap-around on
/// overshoot, which resampling of full-scale audio can produce).
pub fn to_i16(samples: &[f32]) -> Vec<i16> {
    samples.iter().map(|s| f32_to_i16(*s)).collect()
}

/// One sample `[-1.0, 1.0]` → i16, clamped.
pub fn f32_to_i16(sample: f32) -> i16 {
    // `as` saturates for floats (and maps NaN to 0), so this cannot wrap.
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// One i16 sample → `[-1.0, 1.0)`.
pub fn i16_to_f32(sample: i16) -> f32 {
    f32::from(sample) / 32768.0
}

/// Input samples of one 20 ms telephony frame.
pub const FRAME_8K: usize = 160;
/// Output samples of one upsampled 20 ms frame.
pub const FRAME_16K: usize = 2 * FRAME_8K;
/// Half the number of non-zero odd taps of the half-band filter.
const HALF_TAPS: usize = 12;
/// History kept between frames (the filter reaches `HALF_TAPS` samples either side).
const HISTORY: usize = 2 * HALF_TAPS;

/// Streaming 2× upsampler from 8 kHz to 16 kHz for the caller's audio: a linear-phase
/// half-band FIR (Blackman-windowed sinc) in polyphase form. Even output samples are the input
/// samples themselves (the half-band's centre tap is 1 and its other even taps are 0), odd
/// outputs are a 24-tap interpolation, so the cost is 24 multiply-adds per input sample and
/// nothing is allocated per frame. Group delay: `HALF_TAPS` input samples (1.5 ms).
#[derive(Debug, Clone)]
pub struct Upsampler8kTo16k {
    /// Odd taps `h[2j+1]` for `j = -HALF_TAPS..HALF_TAPS`, normalised to sum to 1 (unity gain
    /// at DC for the interpolated phase).
    taps: [f32; HISTORY],
    /// Previous input samples followed by the current frame.
    work: [f32; HISTORY + FRAME_8K],
}

impl Default for Upsampler8kTo16k {
    fn default() -> Self {
        Self::new()
    }
}

impl Upsampler8kTo16k {
    /// A new upsampler with silent history.
    pub fn new() -> Self {
        let mut taps = [0.0f32; HISTORY];
        let half_len = (2 * HALF_TAPS) as f64; // taps span k = -(2P-1)..=(2P-1)
        for (i, tap) in taps.iter_mut().enumerate() {
            let j = i as f64 - HALF_TAPS as f64; // -P..P-1
            let k = 2.0 * j + 1.0; // odd offset at 16 kHz
            let x = std::f64::consts::PI * k / 2.0;
            let sinc = x.sin() / x;
            // Blackman window over -2P..2P.
            let phase = std::f64::consts::PI * (k + half_len) / half_len;
            let window = 0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos();
            *tap = (sinc * window) as f32;
        }
        let sum: f32 = taps.iter().sum();
        for tap in &mut taps {
            *tap /= sum;
        }
        Upsampler8kTo16k {
            taps,
            work: [0.0; HISTORY + FRAME_8K],
        }
    }

    /// Forgets the filter history (a new call or a new stream).
    pub fn reset(&mut self) {
        self.work = [0.0; HISTORY + FRAME_8K];
    }

    /// Upsamples one 20 ms frame of 8 kHz audio to 16 kHz samples in `[-1.0, 1.0]` (small
    /// overshoot is possible near full scale).
    pub fn process(&mut self, input: &[i16; FRAME_8K], output: &mut [f32; FRAME_16K]) {
        for (slot, sample) in self.work[HISTORY..].iter_mut().zip(input.iter()) {
            *slot = i16_to_f32(*sample);
        }
        for (i, pair) in output.chunks_exact_mut(2).enumerate() {
            let centre = i + HALF_TAPS;
            pair[0] = self.work[centre];
            // y[2m+1] = Σ_j h[2j+1] x[m-j], j = -P..P-1: the window work[i+1 ..= i+2P] read
            // backwards against the taps.
            let window = &self.work[i + 1..i + 1 + HISTORY];
            pair[1] = window
                .iter()
                .rev()
                .zip(self.taps.iter())
                .map(|(x, h)| x * h)
                .sum();
        }
        self.work.copy_within(FRAME_8K.., 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, rate: u32, seconds: f32, amplitude: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        (0..n)
            .map(|i| amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Frequency from the count of rising zero crossings over the whole signal.
    fn zero_crossing_frequency(samples: &[f32], rate: u32) -> f32 {
        let crossings: Vec<usize> = samples
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
            .map(|(i, _)| i)
            .collect();
        let (Some(first), Some(last)) = (crossings.first(), crossings.last()) else {
            return 0.0;
        };
        (crossings.len() - 1) as f32 * rate as f32 / (last - first) as f32
    }

    #[test]
    fn resample_44k1_to_8k_keeps_duration_and_frequency() {
        let input = tone(1000.0, 44100, 1.0, 0.5);
        let out = resample(&input, 44100, 8000).unwrap();
        assert!((out.len() as i64 - 8000).abs() <= 1, "len {}", out.len());
        let f = zero_crossing_frequency(&out, 8000);
        assert!((f - 1000.0).abs() < 2.0, "freq {f}");
    }

    #[test]
    fn resample_to_same_rate_is_identity_and_zero_rate_is_an_error() {
        let input = tone(440.0, 8000, 0.1, 0.5);
        assert_eq!(resample(&input, 8000, 8000).unwrap(), input);
        assert!(resample(&input, 0, 8000).is_err());
    }

    #[test]
    fn to_i16_clamps_overshoot() {
        assert_eq!(
            to_i16(&[1.5, -1.5, 0.5, f32::NAN]),
            vec![32767, -32768, 16384, 0]
        );
    }

    #[test]
    fn upsampler_keeps_a_tone_at_its_frequency_and_level() {
        let mut up = Upsampler8kTo16k::new();
        let input: Vec<i16> = to_i16(&tone(1000.0, 8000, 1.0, 0.5));
        let mut out = Vec::new();
        let mut frame_out = [0.0f32; FRAME_16K];
        for chunk in input.chunks_exact(FRAME_8K) {
            let frame: &[i16; FRAME_8K] = chunk.try_into().unwrap(); // invariant: chunks_exact
            up.process(frame, &mut frame_out);
            out.extend_from_slice(&frame_out);
        }
        assert_eq!(out.len(), 16000);
        let f = zero_crossing_frequency(&out[400..], 16000);
        assert!((f - 1000.0).abs() < 1.0, "freq {f}");
        let steady = &out[400..];
        let peak = steady.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((peak - 0.5).abs() < 0.01, "peak {peak}");
        // Interpolated samples must lie on the sine, not halfway to zero (image rejection):
        // the RMS of a 0.5-amplitude sine is 0.354.
        let rms = (steady.iter().map(|s| s * s).sum::<f32>() / steady.len() as f32).sqrt();
        assert!((rms - 0.3536).abs() < 0.005, "rms {rms}");
    }

    #[test]
    fn upsampler_is_continuous_across_frames() {
        // Processing in frames equals processing the whole stream: the history is carried.
        let input: Vec<i16> = to_i16(&tone(300.0, 8000, 0.2, 0.3));
        let mut up = Upsampler8kTo16k::new();
        let mut frame_out = [0.0f32; FRAME_16K];
        let mut out = Vec::new();
        for chunk in input.chunks_exact(FRAME_8K) {
            let frame: &[i16; FRAME_8K] = chunk.try_into().unwrap(); // invariant: chunks_exact
            up.process(frame, &mut frame_out);
            out.extend_from_slice(&frame_out);
        }
        let max_step = out[40..]
            .windows(2)
            .map(|w| (w[1] - w[0]).abs())
            .fold(0.0f32, f32::max);
        // A 300 Hz sine at 0.3 amplitude moves at most 0.3·2π·300/16000 ≈ 0.035 per sample.
        assert!(max_step < 0.04, "discontinuity {max_step}");
    }
}
