//! Decoding prompt files (WAV, FLAC, MP3, OGG Vorbis) to mono linear PCM at the source rate.
//!
//! Owns format probing and channel mixdown. Must not touch: resampling (see `media::resample`), the
//! library's naming rules, or anything on the media path: decoding is done once, at load time.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use super::PromptError;

/// Longest prompt we accept. A longer file is a mistake (a recording left running), and
/// decoding it would hold an unbounded amount of memory.
pub const MAX_PROMPT_SECONDS: u32 = 600;

/// File extensions the library treats as prompt audio.
pub const AUDIO_EXTENSIONS: [&str; 4] = ["wav", "flac", "mp3", "ogg"];

/// Mono audio at its source rate, samples in `[-1.0, 1.0]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Samples per second.
    pub sample_rate: u32,
    /// Mono samples (multi-channel input is averaged).
    pub samples: Vec<f32>,
}

impl DecodedAudio {
    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Decodes a prompt file of any supported format to mono.
pub fn decode_file(path: &Path) -> Result<DecodedAudio, PromptError> {
    let file = File::open(path).map_err(|source| PromptError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let extension = path.extension().and_then(|e| e.to_str());
    decode_source(Box::new(file), extension, path)
}

/// Decodes audio held in memory; `label` names it in errors.
pub fn decode_bytes(
    bytes: Vec<u8>,
    extension: Option<&str>,
    label: &Path,
) -> Result<DecodedAudio, PromptError> {
    decode_source(Box::new(Cursor::new(bytes)), extension, label)
}

/// Parses a 16-bit PCM WAV as written by a streaming producer (`espeak-ng --stdout`), whose
/// RIFF and `data` sizes are placeholders (0x7fff_f000) because the length was unknown when the
/// header was written. The data chunk is taken to run to the end of the bytes.
pub fn decode_streamed_wav(bytes: &[u8], label: &Path) -> Result<DecodedAudio, PromptError> {
    let undecodable = |reason: &str| PromptError::Undecodable {
        path: label.to_path_buf(),
        reason: reason.to_string(),
    };
    if bytes.len() < 12 || bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        return Err(undecodable("not a RIFF/WAVE stream"));
    }
    let mut pos = 12usize;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while let Some(header) = bytes.get(pos..pos + 8) {
        let id = &header[0..4];
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let body_start = pos + 8;
        if id == b"fmt " {
            let body = bytes
                .get(body_start..body_start + size.min(16))
                .filter(|b| b.len() == 16)
                .ok_or_else(|| undecodable("truncated fmt chunk"))?;
            let tag = u16::from_le_bytes([body[0], body[1]]);
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            format = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, rate, bits) =
                format.ok_or_else(|| undecodable("data chunk before fmt chunk"))?;
            if tag != 1 || bits != 16 || channels == 0 || rate == 0 {
                return Err(undecodable("only 16-bit integer PCM is supported here"));
            }
            // The declared size is a placeholder when streamed: clamp to what is there.
            let end = body_start.saturating_add(size).min(bytes.len());
            let data = bytes.get(body_start..end).unwrap_or(&[]);
            let channels = usize::from(channels);
            let frame_bytes = 2 * channels;
            let samples: Vec<f32> = data
                .chunks_exact(frame_bytes)
                .map(|frame| {
                    let sum: f32 = frame
                        .chunks_exact(2)
                        .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                        .sum();
                    sum / channels as f32
                })
                .collect();
            if samples.is_empty() {
                return Err(PromptError::Empty {
                    path: label.to_path_buf(),
                });
            }
            return Ok(DecodedAudio {
                sample_rate: rate,
                samples,
            });
        }
        // RIFF chunks are padded to an even size.
        pos = body_start.saturating_add(size).saturating_add(size & 1);
    }
    Err(undecodable("no data chunk"))
}

fn decode_source(
    source: Box<dyn MediaSource>,
    extension: Option<&str>,
    label: &Path,
) -> Result<DecodedAudio, PromptError> {
    let undecodable = |reason: String| PromptError::Undecodable {
        path: label.to_path_buf(),
        reason,
    };
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| undecodable(format!("unrecognised audio format ({e})")))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| undecodable("no audio track".to_string()))?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| undecodable("audio track has no codec parameters".to_string()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &AudioDecoderOptions::default())
        .map_err(|e| undecodable(format!("unsupported codec ({e})")))?;

    let mut samples: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut sample_rate: Option<u32> = None;
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A truncated file ends the stream; what decoded so far is kept only if it is
            // plausible (checked below: non-empty).
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(undecodable(e.to_string())),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymphoniaError::DecodeError(_)) | Err(SymphoniaError::IoError(_)) => {
                bad_packets += 1;
                continue;
            }
            Err(e) => return Err(undecodable(e.to_string())),
        };
        let rate = buf.spec().rate();
        match sample_rate {
            None => sample_rate = Some(rate),
            Some(r) if r != rate => {
                return Err(undecodable(format!(
                    "sample rate changes mid-stream ({r} Hz to {rate} Hz)"
                )));
            }
            Some(_) => {}
        }
        let channels = buf.spec().channels().count();
        if channels == 0 {
            return Err(undecodable("stream has no channels".to_string()));
        }
        buf.copy_to_vec_interleaved(&mut interleaved);
        samples.extend(
            interleaved
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        if samples.len() as u64 > u64::from(MAX_PROMPT_SECONDS) * u64::from(rate) {
            return Err(undecodable(format!(
                "longer than {MAX_PROMPT_SECONDS} seconds"
            )));
        }
    }
    let Some(sample_rate) = sample_rate.filter(|r| *r > 0) else {
        if bad_packets > 0 {
            return Err(undecodable(format!(
                "all {bad_packets} packets are corrupt"
            )));
        }
        return Err(PromptError::Empty {
            path: label.to_path_buf(),
        });
    };
    if samples.is_empty() {
        return Err(PromptError::Empty {
            path: label.to_path_buf(),
        });
    }
    Ok(DecodedAudio {
        sample_rate,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed_wav(rate: u32, samples: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&0x7fff_f024u32.to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&0x7fff_f000u32.to_le_bytes());
        for s in samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    #[test]
    fn streamed_wav_with_placeholder_sizes_decodes_to_the_end() {
        let bytes = streamed_wav(22050, &[0, 16384, -16384, 32767]);
        let audio = decode_streamed_wav(&bytes, Path::new("stdout")).unwrap();
        assert_eq!(audio.sample_rate, 22050);
        assert_eq!(audio.samples, vec![0.0, 0.5, -0.5, 32767.0 / 32768.0]);
    }

    #[test]
    fn streamed_wav_garbage_is_an_error_naming_the_source() {
        let err = decode_streamed_wav(b"RIFFxxxxWAVEjunk", Path::new("espeak-ng")).unwrap_err();
        assert!(err.to_string().contains("espeak-ng"), "{err}");
        let err = decode_streamed_wav(&streamed_wav(8000, &[]), Path::new("x")).unwrap_err();
        assert!(matches!(err, PromptError::Empty { .. }), "{err}");
    }

    #[test]
    fn truncated_header_does_not_panic() {
        let bytes = streamed_wav(8000, &[1, 2, 3]);
        for len in 0..bytes.len() {
            let _ = decode_streamed_wav(&bytes[..len], Path::new("x"));
        }
    }

    #[test]
    fn garbage_bytes_are_undecodable() {
        let err = decode_bytes(vec![7u8; 4096], Some("wav"), Path::new("junk.wav")).unwrap_err();
        assert!(err.to_string().contains("junk.wav"), "{err}");
    }
}
