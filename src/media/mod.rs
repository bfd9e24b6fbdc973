//! Media for one call: RTP/RTCP (RFC 3550), jitter buffer, G.711, DTMF (RFC 4733 and in-band),
//! voice activity detection and the prompt player.
//!
//! Sans-IO: every type here is fed packets, samples and `now`, and returns packets to send and
//! events. Must not touch: sockets, signalling, flows. Nothing in it blocks or allocates per packet
//! on the hot path where it can be avoided.
//!
//! Layout, bottom up:
//! - [`g711`]: µ-law/A-law companding and [`Codec`].
//! - [`rtp`]: RTP header parse/serialise; [`rtcp`]: SR/RR/SDES reports and interval.
//! - [`stats`]: RFC 3550 A.1/A.3/A.8 receive statistics.
//! - [`jitter`]: reordering, concealment and 20 ms playout of received audio.
//! - [`pacer`]: absolute-schedule send timing and RTP numbering.
//! - [`dtmf`]: RFC 4733 telephone-events, in-band Goertzel detection, tone generation.
//! - [`session`]: [`MediaSession`], all of the above for one call.

pub mod dtmf;
pub mod error;
pub mod g711;
pub mod jitter;
pub mod pacer;
pub mod player;
pub mod rtcp;
pub mod rtp;
pub mod session;
pub mod stats;

pub use error::MediaError;
pub use g711::Codec;
pub use session::{AudioSource, MediaConfig, MediaEvent, MediaSession, MediaStats, MediaTransmit};
