//! Where identifiers and random choices come from.
//!
//! Sans-IO cores never ask the operating system for randomness themselves: the user agent, each
//! media session and each call are handed an [`Entropy`]. `serve` seeds one per call from the
//! operating system's secure generator, so tags, Call-IDs and branches (RFC 3261 §19.3), SSRCs and
//! initial sequence numbers and timestamps (RFC 3550 §5.1, §8) stay unpredictable to anyone on the
//! network. Tests hand a fixed seed instead, so a whole call can be replayed event for event.
//!
//! The generator is ChaCha12 (`rand`'s `StdRng`): a cryptographically secure stream, so values
//! drawn from it reveal nothing about the values that follow.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A source of random values for one core. Not `Clone`: two cores drawing the same stream would
/// hand out the same identifiers; use [`Entropy::fork`] to give a child core its own stream.
#[derive(Debug)]
pub struct Entropy {
    rng: StdRng,
}

impl Entropy {
    /// A source seeded from the operating system's secure generator: what `serve` uses.
    pub fn from_os() -> Self {
        Self {
            rng: rand::make_rng(),
        }
    }

    /// A reproducible source: the same seed gives the same values, run after run. For tests and
    /// simulations only; a server seeded this way would hand out guessable identifiers.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A new, independent source drawn from this one (a call's source from the server's, a media
    /// session's from its call's). Deterministic when this source is.
    pub fn fork(&mut self) -> Self {
        Self {
            rng: StdRng::seed_from_u64(self.u64()),
        }
    }

    pub fn u16(&mut self) -> u16 {
        self.rng.random()
    }

    pub fn u32(&mut self) -> u32 {
        self.rng.random()
    }

    pub fn u64(&mut self) -> u64 {
        self.rng.random()
    }

    /// A value in `0..n`, uniformly. `n` must be non-zero.
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n)
    }

    /// `true` with probability `p` (clamped to 0..=1), for sampling decisions.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_values() {
        let mut a = Entropy::seeded(7);
        let mut b = Entropy::seeded(7);
        let xs: Vec<u64> = (0..8).map(|_| a.u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.u64()).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn different_seeds_and_forks_give_different_streams() {
        let mut a = Entropy::seeded(7);
        let mut b = Entropy::seeded(8);
        assert_ne!(a.u64(), b.u64());
        let mut parent = Entropy::seeded(7);
        let mut child = parent.fork();
        assert_ne!(parent.u64(), child.u64());
    }

    #[test]
    fn os_sources_differ() {
        assert_ne!(Entropy::from_os().u64(), Entropy::from_os().u64());
    }

    #[test]
    fn below_stays_in_range() {
        let mut e = Entropy::seeded(1);
        assert!((0..1000).all(|_| e.below(3) < 3));
    }
}
