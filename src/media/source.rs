//! What the send path plays: the [`AudioSource`] trait, one 20 ms frame of 8 kHz linear PCM at a
//! time.
//!
//! A leaf: the session pulls from a source, and the prompt player, the bridge and the DTMF tone
//! generator implement one, without any of them depending on the others.

/// What we send: one 20 ms frame at a time.
pub trait AudioSource {
    /// Fill one 20 ms frame (160 samples at 8 kHz) of linear PCM; return false when there is
    /// nothing to play (silence is then sent).
    fn next_frame(&mut self, out: &mut [i16; 160]) -> bool;
}
