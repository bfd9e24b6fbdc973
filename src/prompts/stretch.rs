//! Time-stretching recorded prompts without changing their pitch: WSOLA (waveform-similarity
//! overlap-add, Verhelst & Roelands 1993) on 8 kHz i16 audio.
//!
//! Owns the stretch only. Must not touch: files, rates other than the telephony rate it is tuned
//! for (window and search lengths are in 8 kHz samples), or the media path (it runs at load).

/// How much longer "slower" makes a recorded prompt (≈ 0.75× the speaking rate).
pub const SLOW_FACTOR: f32 = 1.33;

/// Analysis/synthesis window: 30 ms at 8 kHz, longer than one pitch period of any voice.
const WINDOW: usize = 240;
/// Output hop: 50 % overlap, where a periodic Hann window sums to exactly 1.
const HOP_OUT: usize = WINDOW / 2;
/// How far (± samples) the analysis frame may move from its nominal position to line up with
/// the waveform: 10 ms covers a full period down to 100 Hz.
const TOLERANCE: usize = 80;

/// Stretches `input` to `factor` × its length (`factor` clamped to 0.5..=3.0) keeping its
/// pitch. Each output frame is taken from near its nominal input position, shifted by up to
/// ±[`TOLERANCE`] samples to the point where it best continues the previous frame's waveform
/// (maximum cross-correlation), then Hann-windowed and overlap-added.
pub fn time_stretch(input: &[i16], factor: f32) -> Vec<i16> {
    let factor = if factor.is_finite() {
        factor.clamp(0.5, 3.0)
    } else {
        1.0
    };
    if input.len() < 2 * WINDOW + 2 * TOLERANCE || (factor - 1.0).abs() < 1e-3 {
        // Too short to overlap-add meaningfully (a click or a blip): leave it as it is.
        return input.to_vec();
    }
    let x: Vec<f32> = input.iter().map(|s| f32::from(*s)).collect();
    let out_len = (input.len() as f64 * f64::from(factor)).round() as usize;
    let hop_in = HOP_OUT as f64 / f64::from(factor);
    let window: Vec<f32> = (0..WINDOW)
        .map(|n| {
            let phase = 2.0 * std::f32::consts::PI * n as f32 / WINDOW as f32;
            0.5 - 0.5 * phase.cos()
        })
        .collect();

    let mut out = vec![0.0f32; out_len + WINDOW];
    let mut weight = vec![0.0f32; out_len + WINDOW];
    let last_start = x.len() - WINDOW;
    // Where the previous frame was actually taken from.
    let mut previous: usize = 0;
    let mut k = 0usize;
    loop {
        let out_pos = k * HOP_OUT;
        if out_pos >= out_len {
            break;
        }
        let nominal = ((k as f64 * hop_in).round() as usize).min(last_start);
        let start = if k == 0 {
            0
        } else {
            // The natural continuation of the previous frame: what followed it in the input.
            let natural = (previous + HOP_OUT).min(last_start);
            best_alignment(&x, natural, nominal, last_start)
        };
        for n in 0..WINDOW {
            out[out_pos + n] += x[start + n] * window[n];
            weight[out_pos + n] += window[n];
        }
        previous = start;
        k += 1;
    }
    out.truncate(out_len);
    out.iter()
        .zip(weight.iter())
        .map(|(s, w)| {
            // The first half-window has only one frame's weight: normalise instead of fading in.
            let v = if *w > 1e-3 { s / w } else { *s };
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// The start in `nominal ± TOLERANCE` whose frame best matches the frame at `natural` over the
/// overlapping half (the part that will be cross-faded).
fn best_alignment(x: &[f32], natural: usize, nominal: usize, last_start: usize) -> usize {
    let low = nominal.saturating_sub(TOLERANCE);
    let high = (nominal + TOLERANCE).min(last_start);
    let reference = &x[natural..natural + HOP_OUT];
    let mut best = nominal;
    let mut best_score = f32::NEG_INFINITY;
    for candidate in low..=high {
        let segment = &x[candidate..candidate + HOP_OUT];
        // Every second sample: halves the cost, loses nothing at speech frequencies.
        let mut dot = 0.0f32;
        let mut energy = 1e-3f32;
        for i in (0..HOP_OUT).step_by(2) {
            dot += reference[i] * segment[i];
            energy += segment[i] * segment[i];
        }
        // Normalised so loud segments are not preferred just for being loud.
        let score = dot / energy.sqrt();
        if score > best_score {
            best_score = score;
            best = candidate;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, seconds: f32) -> Vec<i16> {
        let n = (8000.0 * seconds) as usize;
        (0..n)
            .map(|i| {
                (10000.0 * (2.0 * std::f32::consts::PI * freq * i as f32 / 8000.0).sin()) as i16
            })
            .collect()
    }

    fn zero_crossing_frequency(samples: &[i16]) -> f32 {
        let rising: Vec<usize> = samples
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] < 0 && w[1] >= 0)
            .map(|(i, _)| i)
            .collect();
        let (Some(first), Some(last)) = (rising.first(), rising.last()) else {
            return 0.0;
        };
        (rising.len() - 1) as f32 * 8000.0 / (last - first) as f32
    }

    #[test]
    fn stretch_lengthens_by_the_factor_and_keeps_pitch() {
        let input = tone(440.0, 2.0);
        for factor in [1.25f32, 1.33, 1.5] {
            let out = time_stretch(&input, factor);
            let ratio = out.len() as f32 / input.len() as f32;
            assert!(
                (ratio - factor).abs() < 0.01,
                "factor {factor}: ratio {ratio}"
            );
            let f = zero_crossing_frequency(&out);
            assert!((f - 440.0).abs() < 3.0, "factor {factor}: freq {f}");
        }
    }

    #[test]
    fn stretch_keeps_the_level_without_dropouts() {
        let input = tone(200.0, 1.0);
        let out = time_stretch(&input, 1.5);
        // Every 10 ms block of the steady part still carries the tone (no cancellation where
        // frames overlap out of phase).
        for block in out[WINDOW..out.len() - WINDOW].chunks(80) {
            let peak = block.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
            assert!(peak > 8000, "dropout: peak {peak}");
        }
    }

    #[test]
    fn short_or_degenerate_input_is_returned_unchanged() {
        let short = tone(440.0, 0.05);
        assert_eq!(time_stretch(&short, 1.5), short);
        assert!(time_stretch(&[], 1.5).is_empty());
        let input = tone(440.0, 0.5);
        assert_eq!(time_stretch(&input, f32::NAN), input);
    }
}
