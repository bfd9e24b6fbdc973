//! Prompt audio: loading `audio-prompts/` (WAV, FLAC, MP3, OGG), decoding, resampling to 8 kHz,
//! caching, and speech synthesis for text prompts (`Synthesizer`).
//!
//! Must not touch: RTP or codecs (the player in `media` consumes 8 kHz linear PCM from here).
//! Resampling is `media::resample`'s: this module may use `media`, never the reverse.
//!
//! * [`decode`]: files → mono f32 at the source rate (`symphonia`).
//! * [`library`]: [`PromptLibrary`], every prompt decoded once at load, shared as `Arc<[i16]>`.
//! * [`stretch`]: WSOLA time-stretch for "slower" without changing pitch.
//! * [`tts`]: [`Synthesizer`], espeak-ng, and the LRU cache. Blocking: never on the media path.
//! * [`flite`]: a second synthesiser (flite), for other voices.
//! * [`render`]: text prompts → WAV files at set-up, idempotently.

pub mod decode;
mod error;
pub mod flite;
pub mod library;
pub mod render;
pub mod stretch;
pub mod tts;

pub use error::{PromptError, TtsError};
pub use library::{DEFAULT_LANGUAGE, PromptLibrary};
pub use render::{RenderReport, render_prompt_set};
pub use tts::{CachingSynthesizer, EspeakSynthesizer, SpeechRate, Synthesizer, Voice};
