//! The one error type of the media module: malformed RTP/RTCP, invalid parameters and failed
//! resampling.
//!
//! Owns only error definitions. Media errors never reach SIP directly: a bad packet is counted
//! and dropped, it does not fail the call.

use thiserror::Error;

/// Why a media packet or parameter was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MediaError {
    /// Fewer bytes than the fixed header, CSRC list, extension or padding claims.
    #[error("packet truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// RTP/RTCP version field is not 2 (RFC 3550 §5.1).
    #[error("unsupported RTP/RTCP version {0}")]
    BadVersion(u8),
    /// Padding count of zero or larger than the payload (RFC 3550 §5.1).
    #[error("invalid padding length {0}")]
    BadPadding(usize),
    /// An RTCP length field that does not fit the datagram (RFC 3550 §6.4.1).
    #[error("invalid RTCP length")]
    BadRtcpLength,
    /// First packet of an RTCP compound is neither SR nor RR (RFC 3550 §6.1).
    #[error("RTCP compound must start with SR or RR, found packet type {0}")]
    BadCompoundStart(u8),
    /// Output buffer too small for what was to be written.
    #[error("buffer too small: need {needed} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// A telephone-event payload shorter than 4 bytes (RFC 4733 §2.3).
    #[error("telephone-event payload too short")]
    ShortTelephoneEvent,
    /// Resampling failed (an invalid rate, or an internal resampler error).
    #[error("resampling {from} Hz to {to} Hz failed: {reason}")]
    Resample {
        /// Source rate.
        from: u32,
        /// Target rate.
        to: u32,
        /// What the resampler said.
        reason: String,
    },
}
