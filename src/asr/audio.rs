//! Audio for the recogniser's tools: WAV files of any rate, width and channel count to 16 kHz mono
//! f32, with a windowed-sinc resampler. The call path gets 16 kHz audio from media already; this
//! is for `frontdoor transcribe`, tests and benches.

use std::f64::consts::PI;
use std::path::Path;

use super::AsrError;
use super::recognizer::SAMPLE_RATE;

/// Zero crossings of the sinc kernel on each side (at the lower of the two rates).
const KERNEL_ZERO_CROSSINGS: f64 = 16.0;
/// Pass band as a fraction of the lower Nyquist frequency, leaving room for the filter's skirt.
const PASSBAND: f64 = 0.92;

/// Reads a WAV file and returns mono 16 kHz f32 samples.
pub fn read_wav_16k(path: &Path) -> Result<Vec<f32>, AsrError> {
    let reader = hound::WavReader::open(path)
        .map_err(|e| AsrError::Audio(format!("{}: {e}", path.display())))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let bad = |e: hound::Error| AsrError::Audio(format!("{}: {e}", path.display()));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / f32::powi(2.0, i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(bad)?
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    Ok(resample(&mono, spec.sample_rate, SAMPLE_RATE))
}

/// Band-limited resampling with a Blackman-windowed sinc kernel. The cut-off follows the lower
/// of the two rates, so downsampling does not alias and upsampling does not image.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz || input.is_empty() || from_hz == 0 || to_hz == 0 {
        return input.to_vec();
    }
    let ratio = f64::from(to_hz) / f64::from(from_hz);
    let out_len = ((input.len() as f64) * ratio).round() as usize;
    // Cut-off in cycles per input sample.
    let cutoff = 0.5 * ratio.min(1.0) * PASSBAND;
    let half_width = KERNEL_ZERO_CROSSINGS / ratio.min(1.0);
    let last = input.len() as isize - 1;
    (0..out_len)
        .map(|n| {
            let t = n as f64 / ratio;
            let first = (t - half_width).ceil() as isize;
            let end = (t + half_width).floor() as isize;
            let mut acc = 0.0f64;
            for k in first.max(0)..=end.min(last) {
                let x = t - k as f64;
                // Invariant: 0 <= k <= last, so the index is in bounds.
                acc += f64::from(input[k as usize]) * kernel(x, cutoff, half_width);
            }
            acc as f32
        })
        .collect()
}

fn kernel(x: f64, cutoff: f64, half_width: f64) -> f64 {
    let sinc = if x == 0.0 {
        2.0 * cutoff
    } else {
        (2.0 * PI * cutoff * x).sin() / (PI * x)
    };
    // Blackman window over [-half_width, half_width].
    let w = 0.5 + 0.5 * (x / half_width);
    let window = 0.42 - 0.5 * (2.0 * PI * w).cos() + 0.08 * (4.0 * PI * w).cos();
    sinc * window
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (2.0 * PI * hz * i as f64 / f64::from(rate)).sin() as f32 * 0.5)
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn upsampling_keeps_a_tone() {
        let out = resample(&tone(1000.0, 8000, 0.5), 8000, 16_000);
        assert_eq!(out.len(), 8000);
        let expected = tone(1000.0, 16_000, 0.5);
        // Away from the edges the waveform matches closely.
        let err: Vec<f32> = out[400..7600]
            .iter()
            .zip(&expected[400..7600])
            .map(|(a, b)| a - b)
            .collect();
        assert!(rms(&err) < 0.01, "error rms {}", rms(&err));
    }

    #[test]
    fn downsampling_removes_what_cannot_be_represented() {
        // 10 kHz cannot exist at 16 kHz: it must be filtered, not folded to 6 kHz.
        let out = resample(&tone(10_000.0, 44_100, 0.5), 44_100, 16_000);
        assert!(rms(&out[200..out.len() - 200]) < 0.01);
        let kept = resample(&tone(440.0, 44_100, 0.5), 44_100, 16_000);
        assert!((rms(&kept[200..kept.len() - 200]) - 0.3536).abs() < 0.01);
    }

    #[test]
    fn degenerate_input_is_passed_through() {
        assert!(resample(&[], 8000, 16_000).is_empty());
        assert_eq!(resample(&[0.5], 16_000, 16_000), vec![0.5]);
        assert_eq!(resample(&[0.5], 0, 16_000), vec![0.5]);
    }
}
