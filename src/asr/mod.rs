//! Speech recognition: the `Recognizer` trait, Whisper (whisper-rs, local model) in a bounded pool
//! of worker threads, and the model installer/converter.
//!
//! Runs off the media path: media hands finished utterances here and gets text back on a channel.

pub mod model;
