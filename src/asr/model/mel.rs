//! The mel filterbank whisper.cpp reads from the model file: librosa's
//! `filters.mel(sr=16000, n_fft=400, n_mels=N)` with the Slaney mel scale and Slaney area
//! normalisation (what OpenAI's `mel_filters.npz` holds). Computed in f64 like librosa, stored
//! as f32.

/// Sample rate Whisper's front end runs at.
pub const SAMPLE_RATE: f64 = 16_000.0;
/// FFT size of Whisper's STFT (25 ms at 16 kHz).
pub const N_FFT: usize = 400;

/// A mel filterbank: `n_mels` rows of `n_fft / 2 + 1` weights, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilterbank {
    pub n_mels: usize,
    pub n_freqs: usize,
    pub weights: Vec<f32>,
}

impl MelFilterbank {
    /// Whisper's filterbank for `n_mels` bands (80, or 128 for large-v3).
    pub fn whisper(n_mels: usize) -> Self {
        slaney(SAMPLE_RATE, N_FFT, n_mels, 0.0, SAMPLE_RATE / 2.0)
    }
}

/// librosa `mel()` with `htk=False, norm="slaney"`.
fn slaney(sr: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> MelFilterbank {
    let n_freqs = n_fft / 2 + 1;
    // np.fft.rfftfreq(n_fft, d=1/sr) computes k * (1 / (n * d)); the same operations give the
    // same bits.
    let bin_hz = 1.0 / (n_fft as f64 * (1.0 / sr));
    let fft_freqs: Vec<f64> = (0..n_freqs).map(|k| k as f64 * bin_hz).collect();
    let (min_mel, max_mel) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let points = n_mels + 2;
    // np.linspace(min_mel, max_mel, n_mels + 2): i * step + start, and the end point exactly.
    let step = (max_mel - min_mel) / (points - 1) as f64;
    let mel_f: Vec<f64> = (0..points)
        .map(|i| {
            mel_to_hz(if i == points - 1 {
                max_mel
            } else {
                i as f64 * step + min_mel
            })
        })
        .collect();
    let mut weights = Vec::with_capacity(n_mels * n_freqs);
    for i in 0..n_mels {
        let (lo, mid, hi) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let (fdiff_lo, fdiff_hi) = (mid - lo, hi - mid);
        // Slaney normalisation: each triangle has unit area.
        let enorm = 2.0 / (hi - lo);
        for &f in &fft_freqs {
            let lower = -(lo - f) / fdiff_lo;
            let upper = (hi - f) / fdiff_hi;
            // librosa stores the triangle in a float32 array first and then scales it in place,
            // so the value is rounded to f32 twice.
            let triangle = lower.min(upper).max(0.0) as f32;
            weights.push((f64::from(triangle) * enorm) as f32);
        }
    }
    MelFilterbank {
        n_mels,
        n_freqs,
        weights,
    }
}

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Slaney's mel scale: linear below 1 kHz, logarithmic above.
fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        mel * F_SP
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_librosa_reference_values() {
        let bank = MelFilterbank::whisper(80);
        assert_eq!(bank.weights.len(), 80 * 201);
        // librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)[0, 1] = 0.024862594; [0, 0] and the
        // Nyquist bin of the top band are zero.
        let w = |m: usize, k: usize| bank.weights[m * 201 + k];
        assert!((w(0, 1) - 0.024_862_594).abs() < 1e-7, "{}", w(0, 1));
        assert_eq!(w(0, 0), 0.0);
        assert_eq!(w(79, 200), 0.0);
        // Every band has some weight, and rows are triangles (one peak).
        for m in 0..80 {
            assert!((0..201).any(|k| w(m, k) > 0.0), "band {m} empty");
        }
    }
}
