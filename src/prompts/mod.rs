//! Prompt audio: loading `audio-prompts/` (WAV, FLAC, MP3, OGG), decoding, resampling to 8 kHz,
//! caching, and speech synthesis for text prompts (`Synthesizer`).
//!
//! Must not touch: RTP or codecs (the player in `media` consumes 8 kHz linear PCM from here).
