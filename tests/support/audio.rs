//! Finding a known sound in a recording: normalised cross-correlation (NCC) over all lags.
//!
//! A coarse search runs on 2 kHz signals (4-sample averages, which also low-pass them),
//! then the best coarse lags are refined at 8 kHz. NCC ignores gain, so a prompt played
//! louder or quieter still scores ~1.0; G.711 and resampling keep it above ~0.9, while
//! unrelated speech stays well below 0.5.

use std::path::Path;

use super::HarnessError;

/// Sample rate all matching works at.
pub const RATE: u32 = 8_000;
const DECIMATION: usize = 4;
/// How many coarse candidates are refined at full rate.
const CANDIDATES: usize = 5;

/// Where and how well a reference sound was found in a recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Peak normalised cross-correlation, -1..=1.
    pub ncc: f64,
    /// Offset of the reference's first sample in the recording, in samples at 8 kHz.
    pub lag: usize,
    /// How much of the reference's voiced part is present at that lag (seconds): from the
    /// first to the last 50 ms block that still correlates. Compare with
    /// [`voiced_duration`] of the reference to tell a truncated prompt from a whole one.
    pub matched_seconds: f64,
}

impl Match {
    /// Where the match starts, in seconds into the recording.
    pub fn start_seconds(&self) -> f64 {
        self.lag as f64 / f64::from(RATE)
    }
}

/// Best match of `reference` anywhere in `recording` (both 8 kHz). `None` when the
/// recording is shorter than the reference or either is silent.
pub fn best_match(recording: &[i16], reference: &[i16]) -> Option<Match> {
    best_match_in(recording, reference, 0, recording.len())
}

/// Best match whose start lies in `from..to` (samples), for finding prompts in order.
pub fn best_match_in(
    recording: &[i16],
    reference: &[i16],
    from: usize,
    to: usize,
) -> Option<Match> {
    let rec: Vec<f64> = recording.iter().map(|&s| f64::from(s)).collect();
    let refr: Vec<f64> = reference.iter().map(|&s| f64::from(s)).collect();
    if refr.is_empty() || rec.len() < refr.len() {
        return None;
    }
    let last_lag = (rec.len() - refr.len()).min(to.saturating_sub(1));
    if from > last_lag {
        return None;
    }
    // Coarse pass at 2 kHz.
    let rec_c = decimate(&rec);
    let ref_c = decimate(&refr);
    let coarse = ncc_all_lags(&rec_c, &ref_c, from / DECIMATION, last_lag / DECIMATION);
    let mut candidates: Vec<(usize, f64)> = coarse;
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    // Fine pass at 8 kHz around the best coarse lags.
    let mut best: Option<(usize, f64)> = None;
    for &(coarse_lag, _) in candidates.iter().take(CANDIDATES) {
        let centre = coarse_lag * DECIMATION;
        let lo = centre.saturating_sub(2 * DECIMATION).max(from);
        let hi = (centre + 2 * DECIMATION).min(last_lag);
        for (lag, ncc) in ncc_all_lags(&rec, &refr, lo, hi) {
            if best.is_none_or(|(_, b)| ncc > b) {
                best = Some((lag, ncc));
            }
        }
    }
    let (lag, ncc) = best?;
    Some(Match {
        ncc,
        lag,
        matched_seconds: matched_span(&rec[lag..lag + refr.len()], &refr),
    })
}

/// Whether `recording` contains `reference` with NCC at least `threshold`.
pub fn contains_prompt(recording: &[i16], reference: &[i16], threshold: f64) -> bool {
    best_match(recording, reference).is_some_and(|m| m.ncc >= threshold)
}

/// Finds each reference in turn, each after the end of the previous one; returns the
/// matches, stopping at the first reference not found with NCC ≥ `threshold`.
pub fn find_in_order(recording: &[i16], references: &[&[i16]], threshold: f64) -> Vec<Match> {
    let mut found = Vec::new();
    let mut from = 0;
    for reference in references {
        match best_match_in(recording, reference, from, recording.len()) {
            Some(m) if m.ncc >= threshold => {
                from = m.lag + reference.len() * 9 / 10;
                found.push(m);
            }
            _ => break,
        }
    }
    found
}

/// NCC at every lag in `lo..=hi`, using running window energies.
fn ncc_all_lags(rec: &[f64], refr: &[f64], lo: usize, hi: usize) -> Vec<(usize, f64)> {
    let n = refr.len();
    let ref_energy: f64 = refr.iter().map(|x| x * x).sum();
    if ref_energy <= 0.0 || rec.len() < n {
        return Vec::new();
    }
    let hi = hi.min(rec.len() - n);
    let mut prefix = Vec::with_capacity(rec.len() + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    for x in rec {
        acc += x * x;
        prefix.push(acc);
    }
    // A window quieter than this (relative to the reference) is silence: no match there.
    let floor = ref_energy * 1e-6;
    (lo..=hi)
        .map(|lag| {
            let window = &rec[lag..lag + n];
            let energy = prefix[lag + n] - prefix[lag];
            if energy <= floor {
                return (lag, 0.0);
            }
            let dot: f64 = window.iter().zip(refr).map(|(a, b)| a * b).sum();
            (lag, dot / (energy * ref_energy).sqrt())
        })
        .collect()
}

fn decimate(x: &[f64]) -> Vec<f64> {
    x.chunks(DECIMATION)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect()
}

const BLOCK: usize = (RATE / 20) as usize; // 50 ms

/// Seconds from the first to the last voiced 50 ms block of `reference` that correlates
/// (NCC > 0.5) with the aligned `window`.
fn matched_span(window: &[f64], reference: &[f64]) -> f64 {
    let voiced = voiced_blocks(reference);
    let matching: Vec<usize> = voiced
        .into_iter()
        .filter(|&b| {
            let r = &reference[b * BLOCK..(b + 1) * BLOCK];
            let w = &window[b * BLOCK..(b + 1) * BLOCK];
            let dot: f64 = r.iter().zip(w).map(|(a, b)| a * b).sum();
            let er: f64 = r.iter().map(|x| x * x).sum();
            let ew: f64 = w.iter().map(|x| x * x).sum();
            er > 0.0 && ew > 0.0 && dot / (er * ew).sqrt() > 0.5
        })
        .collect();
    match (matching.first(), matching.last()) {
        (Some(first), Some(last)) => ((last - first + 1) * BLOCK) as f64 / f64::from(RATE),
        _ => 0.0,
    }
}

/// Indices of 50 ms blocks within 40 dB of the loudest block.
fn voiced_blocks(signal: &[f64]) -> Vec<usize> {
    let energies: Vec<f64> = signal
        .chunks_exact(BLOCK)
        .map(|c| c.iter().map(|x| x * x).sum::<f64>())
        .collect();
    let loudest = energies.iter().copied().fold(0.0, f64::max);
    energies
        .iter()
        .enumerate()
        .filter(|(_, e)| **e > loudest * 1e-4 && **e > 0.0)
        .map(|(i, _)| i)
        .collect()
}

/// Duration (seconds) of a signal from its first to its last voiced 50 ms block.
pub fn voiced_duration(signal: &[i16]) -> f64 {
    let x: Vec<f64> = signal.iter().map(|&s| f64::from(s)).collect();
    let voiced = voiced_blocks(&x);
    match (voiced.first(), voiced.last()) {
        (Some(first), Some(last)) => ((last - first + 1) * BLOCK) as f64 / f64::from(RATE),
        _ => 0.0,
    }
}

/// Reads a WAV file (8/16/24/32-bit integer or float, any channels and rate) as 8 kHz mono
/// i16: channels are averaged, other rates are linearly resampled.
pub fn read_wav_8k(path: &Path) -> Result<Vec<i16>, HarnessError> {
    let wav_err = |reason: String| HarnessError::Wav {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = hound::WavReader::open(path).map_err(|e| wav_err(e.to_string()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f64> = match spec.sample_format {
        // hound yields integers at their native width: scale every width to 16 bits.
        hound::SampleFormat::Int => {
            let scale = 2f64.powi(i32::from(spec.bits_per_sample) - 16);
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| f64::from(v) / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| wav_err(e.to_string()))?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .map(|s| s.map(|v| f64::from(v) * 32767.0))
            .collect::<Result<_, _>>()
            .map_err(|e| wav_err(e.to_string()))?,
    };
    let mono: Vec<f64> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f64>() / frame.len() as f64)
        .collect();
    Ok(resample_linear(&mono, spec.sample_rate, RATE)
        .into_iter()
        .map(|x| x.round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

fn resample_linear(x: &[f64], from: u32, to: u32) -> Vec<f64> {
    if from == to || from == 0 || x.is_empty() {
        return x.to_vec();
    }
    let out_len = (x.len() as u64 * u64::from(to) / u64::from(from)) as usize;
    let ratio = f64::from(from) / f64::from(to);
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * ratio;
            let i0 = pos.floor() as usize;
            let frac = pos - i0 as f64;
            let a = x.get(i0).copied().unwrap_or(0.0);
            let b = x.get(i0 + 1).copied().unwrap_or(a);
            a + (b - a) * frac
        })
        .collect()
}

/// Writes 16-bit mono PCM.
pub fn write_wav(path: &Path, samples: &[i16], rate: u32) -> Result<(), HarnessError> {
    let wav_err = |reason: String| HarnessError::Wav {
        path: path.to_path_buf(),
        reason,
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(|e| wav_err(e.to_string()))?;
    for &s in samples {
        writer.write_sample(s).map_err(|e| wav_err(e.to_string()))?;
    }
    writer.finalize().map_err(|e| wav_err(e.to_string()))
}
