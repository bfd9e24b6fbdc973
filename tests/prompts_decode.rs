//! Decoding real prompt files in every supported format, generated with sox at test time:
//! each must decode to 8 kHz with the right duration (±1 %) and keep a 1 kHz tone at 1 kHz;
//! corrupt and truncated files must fail at load with an error naming the file.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use frontdoor::media::resample::{TELEPHONY_RATE, resample};
use frontdoor::prompts::decode::decode_file;
use frontdoor::prompts::{PromptError, PromptLibrary};

const SECONDS: f64 = 3.0;

/// A scratch directory removed when the test ends, also on panic.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path =
            std::env::temp_dir().join(format!("frontdoor-decode-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes a 1 kHz tone with sox; `format_args` go before the output file. Returns whether sox
/// could write it (sox waits for completion, so no process outlives this call).
fn sox_tone(path: &Path, format_args: &[&str]) -> bool {
    sox_tone_of(path, format_args, SECONDS)
}

fn sox_tone_of(path: &Path, format_args: &[&str], seconds: f64) -> bool {
    let status = Command::new("sox")
        .args(["-n"])
        .args(format_args)
        .arg(path)
        .args(["synth", &seconds.to_string(), "sine", "1000", "vol", "0.5"])
        .output()
        .expect("sox must be installed (apt install sox libsox-fmt-all)");
    status.status.success() && path.is_file()
}

fn zero_crossing_frequency(samples: &[f32], rate: u32) -> f64 {
    let rising: Vec<usize> = samples
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, _)| i)
        .collect();
    let (Some(first), Some(last)) = (rising.first(), rising.last()) else {
        return 0.0;
    };
    (rising.len() - 1) as f64 * f64::from(rate) / (last - first) as f64
}

/// Decodes, resamples to 8 kHz and checks duration and pitch.
fn check_tone_file(path: &Path) {
    check_tone_file_of(path, SECONDS);
}

fn check_tone_file_of(path: &Path, expected: f64) {
    let decoded = decode_file(path).unwrap_or_else(|e| panic!("{e}"));
    let at_8k = resample(&decoded.samples, decoded.sample_rate, TELEPHONY_RATE).unwrap();
    let seconds = at_8k.len() as f64 / f64::from(TELEPHONY_RATE);
    assert!(
        (seconds - expected).abs() <= expected * 0.01,
        "{}: {seconds} s at 8 kHz",
        path.display()
    );
    // Skip the edges (codec priming and fade).
    let steady = &at_8k[800..at_8k.len() - 800];
    let freq = zero_crossing_frequency(steady, TELEPHONY_RATE);
    assert!((freq - 1000.0).abs() < 2.0, "{}: {freq} Hz", path.display());
    let peak = steady.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak > 0.4 && peak < 0.6, "{}: peak {peak}", path.display());
}

#[test]
fn every_format_decodes_to_8k_with_duration_and_pitch_kept() {
    let dir = TempDir::new("formats");
    let cases: &[(&str, &[&str])] = &[
        ("wav16k.wav", &["-r", "16000", "-b", "16", "-c", "1"]),
        (
            "wav44k1_stereo.wav",
            &["-r", "44100", "-b", "16", "-c", "2"],
        ),
        (
            "wav8bit.wav",
            &["-r", "8000", "-b", "8", "-e", "unsigned-integer", "-c", "1"],
        ),
        ("wav24bit.wav", &["-r", "48000", "-b", "24", "-c", "1"]),
        ("flac22k.flac", &["-r", "22050", "-c", "1"]),
        ("ogg16k.ogg", &["-r", "16000", "-c", "1"]),
    ];
    for (name, args) in cases {
        let path = dir.0.join(name);
        assert!(sox_tone(&path, args), "sox could not write {name}");
        check_tone_file(&path);
    }
    // MP3 only where this sox has an MP3 encoder (libsox-fmt-mp3). Without a LAME/Xing gapless
    // tag (sox writes none) an MP3 carries ~30 ms of encoder delay and frame padding that no
    // decoder can know to trim, so the clip is long enough for that to stay inside 1 %.
    let mp3 = dir.0.join("mp3_44k1.mp3");
    if sox_tone_of(&mp3, &["-r", "44100", "-c", "1"], 6.0) {
        check_tone_file_of(&mp3, 6.0);
    } else {
        eprintln!("sox cannot write MP3 here: MP3 decoding not exercised");
    }

    // The same files load into a library as 8 kHz clips of the right length.
    let lib = PromptLibrary::load(&dir.0, &[]).unwrap_or_else(|e| panic!("{e}"));
    for (name, _) in cases {
        let stem = name.rsplit_once('.').map_or(*name, |(s, _)| s);
        let clip = lib
            .get(stem, None)
            .unwrap_or_else(|| panic!("{stem} missing"));
        let seconds = clip.len() as f64 / 8000.0;
        assert!(
            (seconds - SECONDS).abs() <= SECONDS * 0.01,
            "{stem}: {seconds} s"
        );
    }
}

#[test]
fn corrupt_and_truncated_files_fail_at_load_naming_the_file() {
    let dir = TempDir::new("corrupt");
    let good = dir.0.join("good.wav");
    assert!(sox_tone(&good, &["-r", "8000", "-b", "16", "-c", "1"]));

    // Random bytes with a prompt extension.
    fs::write(dir.0.join("garbage.ogg"), [0x55u8; 3000]).unwrap();
    // A FLAC cut off inside its header.
    let flac = dir.0.join("cut.flac");
    assert!(sox_tone(&flac, &["-r", "16000", "-c", "1"]));
    let bytes = fs::read(&flac).unwrap();
    fs::write(&flac, &bytes[..20]).unwrap();
    // A WAV header with no samples.
    let empty = dir.0.join("empty.wav");
    assert!(sox_tone(&empty, &["-r", "8000", "-b", "16", "-c", "1"]));
    let bytes = fs::read(&empty).unwrap();
    fs::write(&empty, &bytes[..44]).unwrap();

    let err = PromptLibrary::load(&dir.0, &[]).unwrap_err();
    let text = err.to_string();
    let PromptError::Several(problems) = &err else {
        panic!("expected several problems: {text}");
    };
    assert_eq!(problems.len(), 3, "{text}");
    for name in ["garbage.ogg", "cut.flac", "empty.wav"] {
        assert!(text.contains(name), "{name} not named in: {text}");
    }
    assert!(!text.contains("good.wav"), "{text}");

    // Each one alone: the error names that file.
    for name in ["garbage.ogg", "cut.flac", "empty.wav"] {
        let err = decode_file(&dir.0.join(name)).unwrap_err();
        assert!(err.to_string().contains(name), "{err}");
    }
    let err = decode_file(&dir.0.join("absent.wav")).unwrap_err();
    assert!(err.to_string().contains("absent.wav: cannot read"), "{err}");
}
