//! G.711 checked exhaustively against an independent implementation: sox's µ-law and A-law.
//!
//! Every one of the 256 codes of each law is decoded by sox and by us; every one of the 65,536
//! linear values is encoded by sox (dither off: `-D`) and by us. Both must agree bit for bit.
//! Fails (rather than skips) when sox is missing: this check must always run.

use std::path::{Path, PathBuf};
use std::process::Command;

use frontdoor::media::Codec;

const SOX: &str = "/usr/bin/sox";

/// A temporary directory removed on drop, so a failing test leaves nothing behind.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("frontdoor-g711-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sox_type(codec: Codec) -> &'static str {
    match codec {
        Codec::Pcmu => "ul",
        Codec::Pcma => "al",
    }
}

fn run_sox(args: &[&str]) {
    assert!(
        Path::new(SOX).exists(),
        "sox is required at {SOX} (apt install sox)"
    );
    let status = Command::new(SOX).args(args).status().expect("run sox");
    assert!(status.success(), "sox {args:?} failed");
}

fn sox_decode_all_codes(codec: Codec) -> Vec<i16> {
    let dir = TempDir::new(&format!("dec-{}", sox_type(codec)));
    let input = dir.0.join("in.raw");
    let output = dir.0.join("out.raw");
    let codes: Vec<u8> = (0..=255u8).collect();
    std::fs::write(&input, &codes).expect("write codes");
    let (i, o) = (
        input.to_str().expect("utf-8 path"),
        output.to_str().expect("utf-8 path"),
    );
    run_sox(&[
        "-D",
        "-t",
        sox_type(codec),
        "-r",
        "8000",
        "-c",
        "1",
        i,
        "-t",
        "s16",
        "-e",
        "signed-integer",
        "-b",
        "16",
        "-L",
        o,
    ]);
    let bytes = std::fs::read(&output).expect("read decoded");
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

fn sox_encode_all_values(codec: Codec) -> Vec<u8> {
    let dir = TempDir::new(&format!("enc-{}", sox_type(codec)));
    let input = dir.0.join("in.raw");
    let output = dir.0.join("out.raw");
    let mut bytes = Vec::with_capacity(65_536 * 2);
    for v in i16::MIN..=i16::MAX {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&input, &bytes).expect("write samples");
    let (i, o) = (
        input.to_str().expect("utf-8 path"),
        output.to_str().expect("utf-8 path"),
    );
    run_sox(&[
        "-D",
        "-t",
        "s16",
        "-e",
        "signed-integer",
        "-b",
        "16",
        "-L",
        "-r",
        "8000",
        "-c",
        "1",
        i,
        "-t",
        sox_type(codec),
        o,
    ]);
    std::fs::read(&output).expect("read encoded")
}

#[test]
fn decode_matches_sox_for_all_256_codes() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let theirs = sox_decode_all_codes(codec);
        assert_eq!(theirs.len(), 256);
        for (code, &expected) in theirs.iter().enumerate() {
            assert_eq!(
                codec.decode(code as u8),
                expected,
                "{codec:?} code {code:#04x}"
            );
        }
    }
}

#[test]
fn encode_matches_sox_for_all_65536_values() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let theirs = sox_encode_all_values(codec);
        assert_eq!(theirs.len(), 65_536);
        let mut ours = vec![0u8; 65_536];
        let samples: Vec<i16> = (i16::MIN..=i16::MAX).collect();
        codec.encode_into(&samples, &mut ours);
        let mismatches: Vec<(i16, u8, u8)> = samples
            .iter()
            .zip(ours.iter().zip(theirs.iter()))
            .filter(|(_, (a, b))| a != b)
            .map(|(&s, (&a, &b))| (s, a, b))
            .take(10)
            .collect();
        assert!(
            mismatches.is_empty(),
            "{codec:?} (sample, ours, sox): {mismatches:?}"
        );
    }
}
