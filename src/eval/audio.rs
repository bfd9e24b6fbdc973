//! Audio facts the harness measures with: which 20 ms frames of the caller's own audio are
//! voiced, whether a received RTP frame is silent, the no-input "utterances" (silence and
//! noise), and real recordings brought to the telephone rate.

use std::path::Path;

use super::EvalError;
use crate::media::resample::{TELEPHONY_RATE, resample, to_i16};
use crate::prompts::decode::decode_file;

/// Samples in one 20 ms frame at 8 kHz (the RTP packetisation, RFC 3551 §4.5.14 ptime 20).
pub const FRAME: usize = 160;

/// RMS above which one of our own frames counts as voiced (about −40 dBFS): the end of the
/// caller's speech is the last such frame. Synthetic voices fall to digital silence between
/// words, so the figure is not sensitive to the exact value.
pub const VOICED_RMS: f64 = 330.0;

/// RMS above which a received frame is part of a prompt (about −50 dBFS). The server sends
/// G.711 silence codes between prompts (μ-law 0xFF decodes to 0).
pub const AUDIBLE_RMS: f64 = 100.0;

/// Root mean square of a frame.
pub fn rms(frame: &[i16]) -> f64 {
    if frame.is_empty() {
        return 0.0;
    }
    let sum: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / frame.len() as f64).sqrt()
}

/// Index of the last voiced 20 ms frame of `samples`, if any frame is voiced.
pub fn last_voiced_frame(samples: &[i16]) -> Option<usize> {
    samples
        .chunks(FRAME)
        .enumerate()
        .rev()
        .find(|(_, f)| rms(f) >= VOICED_RMS)
        .map(|(i, _)| i)
}

/// `ms` of digital silence.
pub fn silence(ms: u32) -> Vec<i16> {
    vec![0; ms as usize * 8]
}

/// `ms` of white noise at `rms_level`, from a fixed seed (the same run gives the same noise).
pub fn white_noise(ms: u32, rms_level: f64, seed: u64) -> Vec<i16> {
    let mut state = seed | 1;
    // A uniform variable on [-1, 1) has RMS 1/√3.
    let scale = rms_level * 3f64.sqrt();
    (0..ms as usize * 8)
        .map(|_| {
            // xorshift64*: enough for test noise, no extra crate.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            let unit = v as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
            (unit * scale).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Low-frequency rumble with breath-like swells: white noise through a one-pole low-pass,
/// amplitude-modulated at about 0.5 Hz.
pub fn breathing_noise(ms: u32, rms_level: f64, seed: u64) -> Vec<i16> {
    let white = white_noise(ms, rms_level * 4.0, seed);
    let mut y = 0.0f64;
    white
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            y += 0.15 * (f64::from(s) - y);
            let swell = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * 0.5 * i as f64 / 8000.0).cos();
            (y * swell).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// A WAV (any rate) as 8 kHz mono samples.
pub fn load_wav_8k(path: &Path) -> Result<Vec<i16>, EvalError> {
    let decoded = decode_file(path).map_err(|e| EvalError::Audio(e.to_string()))?;
    let at_8k = resample(&decoded.samples, decoded.sample_rate, TELEPHONY_RATE)
        .map_err(|e| EvalError::Audio(e.to_string()))?;
    Ok(to_i16(&at_8k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_voiced_frame_ignores_trailing_silence() {
        let mut samples = silence(100);
        samples.extend(white_noise(200, 3000.0, 7));
        samples.extend(silence(300));
        // 100 ms silence = frames 0..5, noise = frames 5..15.
        assert_eq!(last_voiced_frame(&samples), Some(14));
        assert_eq!(last_voiced_frame(&silence(500)), None);
    }

    #[test]
    fn noise_has_the_requested_level() {
        let noise = white_noise(1000, 1000.0, 3);
        let level = rms(&noise);
        assert!((900.0..1100.0).contains(&level), "{level}");
        assert!(rms(&breathing_noise(2000, 500.0, 5)) > AUDIBLE_RMS);
    }
}
