//! Test audio: speech synthesised with `espeak-ng` (or `flite`) and resampled by `sox` to
//! 8 kHz mono, DTMF tone pairs for in-band tests, and the raw G.711 files sipp's
//! `rtp_stream` plays (it sends files verbatim, so they must be headerless).

use std::path::Path;
use std::process::{Command, Stdio};

use super::HarnessError;
use super::audio::{read_wav_8k, write_wav};
use super::g711::Law;

/// Which synthesiser speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// `espeak-ng` (robotic, fast).
    Espeak,
    /// `flite` (a more natural voice; useful as "unrelated speech").
    Flite,
    /// `flite` with one of its other voices (`rms`, `awb`, `slt`).
    FliteAs(&'static str),
}

/// Speaks `text` into `wav_out` as 8 kHz mono 16-bit and returns the samples.
pub fn synthesize(text: &str, voice: Voice, wav_out: &Path) -> Result<Vec<i16>, HarnessError> {
    let raw = wav_out.with_extension("synth.wav");
    let (program, args): (&str, Vec<std::ffi::OsString>) = match voice {
        Voice::Espeak => (
            "espeak-ng",
            vec!["-w".into(), raw.clone().into_os_string(), text.into()],
        ),
        Voice::Flite => (
            "flite",
            vec![
                "-t".into(),
                text.into(),
                "-o".into(),
                raw.clone().into_os_string(),
            ],
        ),
        Voice::FliteAs(name) => (
            "flite",
            vec![
                "-voice".into(),
                name.into(),
                "-t".into(),
                text.into(),
                "-o".into(),
                raw.clone().into_os_string(),
            ],
        ),
    };
    run(Command::new(program).args(&args))?;
    run(Command::new("sox")
        .arg(&raw)
        .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(wav_out))?;
    let _ = std::fs::remove_file(&raw);
    read_wav_8k(wav_out)
}

/// A dual-tone DTMF key (ITU-T Q.23) of `ms` at 8 kHz, each tone at `amplitude`; unknown
/// keys give silence.
pub fn dtmf_tone(digit: char, ms: u32, amplitude: f64) -> Vec<i16> {
    let (low, high) = match digit {
        '1' => (697.0, 1209.0),
        '2' => (697.0, 1336.0),
        '3' => (697.0, 1477.0),
        'A' => (697.0, 1633.0),
        '4' => (770.0, 1209.0),
        '5' => (770.0, 1336.0),
        '6' => (770.0, 1477.0),
        'B' => (770.0, 1633.0),
        '7' => (852.0, 1209.0),
        '8' => (852.0, 1336.0),
        '9' => (852.0, 1477.0),
        'C' => (852.0, 1633.0),
        '*' => (941.0, 1209.0),
        '0' => (941.0, 1336.0),
        '#' => (941.0, 1477.0),
        'D' => (941.0, 1633.0),
        _ => return silence(ms),
    };
    let n = (ms * 8) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let v = amplitude
                * ((2.0 * std::f64::consts::PI * low * t).sin()
                    + (2.0 * std::f64::consts::PI * high * t).sin());
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// A pure sine of `freq` Hz for `ms` at 8 kHz.
pub fn sine(freq: f64, ms: u32, amplitude: f64) -> Vec<i16> {
    (0..(ms * 8) as usize)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0).sin()) as i16)
        .collect()
}

/// `ms` of silence at 8 kHz.
pub fn silence(ms: u32) -> Vec<i16> {
    vec![0; (ms * 8) as usize]
}

/// Keys as in-band tones: `tone_ms` of each key followed by `gap_ms` of silence.
pub fn dtmf_sequence(digits: &str, tone_ms: u32, gap_ms: u32) -> Vec<i16> {
    let mut out = Vec::new();
    for digit in digits.chars() {
        out.extend(dtmf_tone(digit, tone_ms, 8000.0));
        out.extend(silence(gap_ms));
    }
    out
}

/// Writes headerless G.711 for sipp's `rtp_stream` (which sends the file's bytes as they are).
pub fn write_g711_raw(path: &Path, samples: &[i16], law: Law) -> Result<(), HarnessError> {
    let bytes: Vec<u8> = samples.iter().map(|&s| law.encode(s)).collect();
    std::fs::write(path, bytes)
        .map_err(|e| HarnessError::io(format!("writing {}", path.display()), e))
}

/// Writes an 8 kHz mono WAV padded with `pad_ms` of trailing silence (baresip's `aufile`
/// hangs up at end of file, so a microphone file must outlast the call).
pub fn write_padded_wav(path: &Path, samples: &[i16], pad_ms: u32) -> Result<(), HarnessError> {
    let mut padded = samples.to_vec();
    padded.extend(silence(pad_ms));
    write_wav(path, &padded, 8000)
}

fn run(command: &mut Command) -> Result<(), HarnessError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HarnessError::Spawn {
            program: program.clone(),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Command {
            command: program,
            detail: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}
