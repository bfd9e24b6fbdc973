//! Human-readable case references (`TC-4K7Q-92`) and how they are spoken.
//!
//! A caller writes the reference down while hearing it, often on a poor line, and later reads it
//! to an advisor. So the alphabet leaves out every character that is easily confused with another
//! by ear or on paper: 0/O, 1/I/L, 5/S, 2/Z, 8/B.

use rand::RngExt;

/// Characters a reference may contain after its prefix.
pub const REFERENCE_ALPHABET: &[u8] = b"34679ACDEFGHJKMNPQRTUVWXY";

/// Prefix of references made by [`new_reference`].
pub const DEFAULT_PREFIX: &str = "TC";

/// A fresh random reference such as `TC-4K7Q-92`: the prefix, four then two characters from
/// [`REFERENCE_ALPHABET`] (25^6 ≈ 244 million values; uniqueness is enforced by the store).
pub fn new_reference<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    new_reference_with_prefix(rng, DEFAULT_PREFIX)
}

/// [`new_reference`] with another prefix (one per council or service line).
pub fn new_reference_with_prefix<R: rand::Rng + ?Sized>(rng: &mut R, prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 9);
    out.push_str(prefix);
    for group in [4usize, 2] {
        out.push('-');
        for _ in 0..group {
            let i = rng.random_range(0..REFERENCE_ALPHABET.len());
            // Invariant: `i` is in range by construction of `random_range`.
            out.push(char::from(REFERENCE_ALPHABET[i]));
        }
    }
    out
}

/// Whether `s` has the shape of a reference made here (any prefix of ASCII letters).
pub fn is_reference(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(prefix), Some(a), Some(b), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !prefix.is_empty()
        && prefix.bytes().all(|c| c.is_ascii_uppercase())
        && a.len() == 4
        && b.len() == 2
        && a.bytes()
            .chain(b.bytes())
            .all(|c| REFERENCE_ALPHABET.contains(&c))
}

/// The groups of a reference as they are read out, one character at a time:
/// `TC-4K7Q-92` → `["T C", "4 K 7 Q", "9 2"]`. Play each with a short pause between.
pub fn spoken_reference_groups(reference: &str) -> Vec<String> {
    reference
        .split('-')
        .filter(|g| !g.is_empty())
        .map(|g| g.chars().map(String::from).collect::<Vec<_>>().join(" "))
        .collect()
}

/// A reference as one text for speech synthesis, groups separated by commas so that the
/// synthesiser pauses: `TC-4K7Q-92` → `"T C, 4 K 7 Q, 9 2"`.
pub fn spoken_reference(reference: &str) -> String {
    spoken_reference_groups(reference).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn alphabet_has_no_ambiguous_characters() {
        for c in b"0O1IL5S2Z8B" {
            assert!(!REFERENCE_ALPHABET.contains(c), "{}", char::from(*c));
        }
        let mut sorted = REFERENCE_ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), REFERENCE_ALPHABET.len());
    }

    #[test]
    fn references_have_the_documented_shape() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let r = new_reference(&mut rng);
            assert_eq!(r.len(), 10, "{r}");
            assert!(r.starts_with("TC-"), "{r}");
            assert!(is_reference(&r), "{r}");
        }
    }

    #[test]
    fn references_are_spread_out() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let set: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_reference(&mut rng)).collect();
        assert!(set.len() > 9_990);
    }

    #[test]
    fn is_reference_rejects_malformed_input() {
        for bad in [
            "",
            "TC",
            "TC-4K7Q",
            "TC-4K7Q-92-1",
            "TC-4K7O-92",
            "tc-4K7Q-92",
            "TC-4K7Q-9",
        ] {
            assert!(!is_reference(bad), "{bad}");
        }
    }

    #[test]
    fn spoken_in_groups() {
        assert_eq!(spoken_reference("TC-4K7Q-92"), "T C, 4 K 7 Q, 9 2");
        assert_eq!(
            spoken_reference_groups("TC-4K7Q-92"),
            vec!["T C", "4 K 7 Q", "9 2"]
        );
        assert_eq!(spoken_reference(""), "");
    }
}
