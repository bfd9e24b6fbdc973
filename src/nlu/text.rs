//! Word-level English knowledge for matching: stop words, light stemming, a phonetic key and
//! character trigrams, used to match recognised words against the flow's vocabulary even when
//! the recogniser spelled them differently ("tacks" for "tax", "mis" for "missed").
//!
//! Knows English, never a flow's phrases.

/// Words that carry no intent on their own. Negations ("no", "not"), "yes", "again", "sorry"
/// and "what" are deliberately absent: short answers consist of little else.
const STOP_WORDS: &[&str] = &[
    "a", "about", "ah", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being",
    "but", "by", "can", "could", "did", "do", "does", "er", "erm", "for", "from", "get", "got",
    "had", "has", "have", "he", "hello", "her", "hey", "hi", "him", "his", "hmm", "i", "if", "in",
    "is", "it", "its", "just", "like", "may", "me", "might", "mine", "mm", "my", "need", "of",
    "oh", "on", "or", "our", "please", "shall", "she", "should", "so", "some", "thank", "thanks",
    "that", "the", "their", "them", "then", "these", "they", "this", "those", "to", "uh", "um",
    "umm", "us", "want", "was", "we", "well", "were", "will", "with", "would", "you", "your",
    "yours",
];

/// Whether `word` (normalised, unstemmed) is a stop word.
pub(crate) fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Irregular forms callers use about council services, to the word the suffix rules stem
/// ("I've paid" meets "pay", "it's broken" meets "break").
const IRREGULAR: &[(&str, &str)] = &[
    ("paid", "pay"),
    ("broke", "break"),
    ("broken", "break"),
    ("stolen", "steal"),
    ("thrown", "throw"),
    ("threw", "throw"),
    ("left", "leave"),
    ("lost", "lose"),
    ("told", "tell"),
    ("went", "go"),
    ("gone", "go"),
];

/// The first vowel of a word (`y` after the first letter counts as `i`): sound-alike words
/// share it ("tax"/"tacks", "boiler"/"boyler", "council"/"counsel"), while a consonant
/// skeleton alone also pairs "black" with "bulky".
pub(crate) fn first_vowel(word: &str) -> Option<char> {
    word.chars().enumerate().find_map(|(i, c)| match c {
        'a' | 'e' | 'i' | 'o' | 'u' => Some(c),
        'y' if i > 0 => Some('i'),
        _ => None,
    })
}

/// A light suffix-stripping stemmer: enough to make "collected", "collecting" and "collection"
/// meet, and consistent for query and examples alike (it need not produce real words).
pub(crate) fn stem(word: &str) -> String {
    if let Some((_, base)) = IRREGULAR.iter().find(|(form, _)| *form == word) {
        return stem(base);
    }
    if !word.is_ascii() || word.len() <= 3 {
        return word.to_string();
    }
    let mut w = word.to_string();
    for (suffix, replacement) in [
        ("ations", ""),
        ("ation", ""),
        ("ions", ""),
        ("ion", ""),
        ("ies", "y"),
        ("ied", "y"),
        ("ing", ""),
        ("ers", ""),
        ("er", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", ""),
        ("s", ""),
    ] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
            && !(suffix == "s" && (base.ends_with('s') || base.ends_with('u')))
        {
            w = format!("{base}{replacement}");
            break;
        }
    }
    // "move" / "moving" / "moved" all end as "mov".
    if w.len() > 3 && w.ends_with('e') {
        w.pop();
    }
    // "stopped" -> "stopp" -> "stop"; keep "ll", "ss" ("bill", "miss").
    let bytes = w.as_bytes();
    if let [.., a, b] = bytes
        && a == b
        && !matches!(a, b'l' | b's' | b'z')
        && w.len() > 3
    {
        w.pop();
    }
    w
}

/// A coarse English sound key: consonant skeleton after common spelling-to-sound rules, so
/// words that sound alike ("tax"/"tacks", "council"/"counsel") share a key. Non-ASCII words key
/// to themselves.
pub(crate) fn phonetic_key(word: &str) -> String {
    if !word.is_ascii() {
        return word.to_string();
    }
    // Silent first letters (Metaphone's initial rules): "know" sounds like "no", "wrong" like
    // "rong", "gnaw" like "naw"; a recogniser spells whichever it likes.
    let word = ["kn", "gn", "pn", "wr"]
        .iter()
        .find_map(|p| word.strip_prefix(&p[..1]).filter(|_| word.starts_with(p)))
        .unwrap_or(word);
    let w = word
        .replace("ph", "f")
        .replace("ck", "k")
        .replace("x", "ks")
        .replace("qu", "kw")
        .replace("wh", "w")
        .replace("gh", "")
        .replace("dg", "j")
        .replace("sh", "S")
        .replace("ch", "C")
        .replace("th", "0");
    let chars: Vec<char> = w.chars().collect();
    let mut key = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let mapped = match c {
            'c' if matches!(next, Some('e' | 'i' | 'y')) => 's',
            'c' | 'q' => 'k',
            'z' => 's',
            'v' => 'f',
            // Soundex keeps the first letter: an initial "h" is heard ("hear" is not "ear").
            'a' | 'e' | 'i' | 'o' | 'u' | 'y' | 'w' | 'h' if i > 0 => continue,
            'a' | 'e' | 'i' | 'o' | 'u' | 'y' => 'A',
            other => other,
        };
        if !key.ends_with(mapped) {
            key.push(mapped);
        }
    }
    key
}

/// Character trigrams of `word` padded with spaces at both ends, sorted and deduplicated.
pub(crate) fn trigrams(word: &str) -> Vec<[char; 3]> {
    let padded: Vec<char> = std::iter::once(' ')
        .chain(word.chars())
        .chain(std::iter::once(' '))
        .collect();
    let mut grams: Vec<[char; 3]> = padded.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// Dice similarity of two sorted, deduplicated trigram sets (0..1).
pub(crate) fn trigram_similarity(a: &[[char; 3]], b: &[[char; 3]]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * shared as f32 / (a.len() + b.len()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOP_WORDS);
    }

    #[test]
    fn stems_meet() {
        let groups: &[&[&str]] = &[
            &[
                "collected",
                "collecting",
                "collection",
                "collect",
                "collections",
            ],
            &["move", "moved", "moving", "moves"],
            &["bins", "bin"],
            &["repairs", "repair", "repaired"],
            &["missed", "miss"],
            &["lights", "light"],
            &["stopped", "stop"],
            &["discount", "discounts"],
        ];
        for group in groups {
            let stems: Vec<String> = group.iter().map(|w| stem(w)).collect();
            assert!(
                stems.windows(2).all(|p| p[0] == p[1]),
                "{group:?} -> {stems:?}"
            );
        }
        assert_eq!(stem("bus"), "bus");
        assert_eq!(stem("address"), "address");
    }

    #[test]
    fn sound_alike_words_share_a_key() {
        for (a, b) in [
            ("tax", "tacks"),
            ("council", "counsel"),
            ("mis", "miss"),
            ("phone", "fone"),
        ] {
            assert_eq!(phonetic_key(a), phonetic_key(b), "{a} / {b}");
        }
        for (a, b) in [("know", "no"), ("knowwhere", "nowhere"), ("wrong", "rong")] {
            assert_eq!(phonetic_key(a), phonetic_key(b), "{a} / {b}");
        }
        assert_ne!(phonetic_key("bin"), phonetic_key("pothole"));
        assert_ne!(phonetic_key("hear"), phonetic_key("arrear"));
    }

    #[test]
    fn trigram_similarity_is_one_for_equal_words() {
        let a = trigrams("pothole");
        assert!((trigram_similarity(&a, &a) - 1.0).abs() < 1e-6);
        assert!(trigram_similarity(&a, &trigrams("potholes")) > 0.7);
        assert!(trigram_similarity(&a, &trigrams("benefit")) < 0.2);
    }
}
