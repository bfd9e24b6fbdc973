//! Media for one call: RTP/RTCP (RFC 3550), jitter buffer, G.711, DTMF (RFC 4733 and in-band),
//! voice activity detection, the echo guard for barge-in, the prompt player, and sample-rate
//! conversion (whole clips, and the streaming 8 → 16 kHz upsampler endpointing uses).
//!
//! Sans-IO: every type here is fed packets, samples and `now`, and returns packets to send and
//! events. Random numbers come from a `crate::entropy::Entropy` handed in and wall-clock time is
//! an input too, so a seeded session is replayable packet for packet. Must not touch: sockets,
//! signalling, flows, the OS clock or random generator. Nothing in it blocks or allocates per
//! packet on the hot path where it can be avoided.

pub mod bridge;
pub mod dtmf;
pub mod echo;
pub mod error;
pub mod g711;
pub mod jitter;
pub mod pacer;
pub mod player;
pub mod resample;
pub mod rtcp;
pub mod rtp;
pub mod session;
pub mod source;
pub mod stats;
pub mod vad;

pub use error::MediaError;
pub use g711::Codec;
pub use session::{MediaConfig, MediaEvent, MediaSession, MediaStats, MediaTransmit};
pub use source::AudioSource;
