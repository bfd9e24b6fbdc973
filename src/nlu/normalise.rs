//! Text normalisation shared by the classifier and the slot parsers.
//!
//! Owns the English-language surface rules: case, punctuation, contractions, and the
//! non-speech annotations a recogniser emits (`[BLANK_AUDIO]`, `(music)`). It knows nothing
//! about intents or slot types.

/// Lowercase, punctuation stripped (hyphens and slashes become spaces), contractions expanded,
/// recogniser annotations in brackets removed, words and digits kept, single spaces.
///
/// `"I've just MOVED - into (music) a new flat!"` → `"i have just moved into a new flat"`.
pub fn normalise(text: &str) -> String {
    words(text).join(" ")
}

/// The normalised words of `text`, in order.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in strip_annotations(text).split(|c: char| !is_word_char(c)) {
        let word = raw.trim_matches('\'');
        if word.is_empty() {
            continue;
        }
        expand_contraction(&word.to_lowercase(), &mut out);
    }
    out
}

/// Letters, digits and apostrophes (straight or typographic) make words; everything else splits.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\''
}

/// Removes text inside `[...]`, `(...)` and `*...*`: Whisper marks non-speech that way
/// (`[BLANK_AUDIO]`, `(music)`, `*cough*`), and a caller never speaks brackets. Typographic
/// apostrophes become straight ones here so contractions match one table.
fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut closing: Option<char> = None;
    for c in text.chars() {
        match closing {
            Some(end) if c == end => closing = None,
            Some(_) => {}
            None => match c {
                '[' => closing = Some(']'),
                '(' => closing = Some(')'),
                '*' => closing = Some('*'),
                '\u{2019}' | '\u{2018}' | '`' => out.push('\''),
                _ => out.push(c),
            },
        }
    }
    out
}

/// Words before `'s` where it means "is" rather than a possessive.
const IS_CONTRACTIONS: &[&str] = &[
    "it", "that", "there", "what", "here", "who", "where", "how", "he", "she", "when", "why",
];

/// Pushes the expansion of one lowercase word (`"wasn't"` → `was not`).
fn expand_contraction(word: &str, out: &mut Vec<String>) {
    let irregular: Option<&[&str]> = match word {
        "can't" | "cant" => Some(&["can", "not"]),
        "won't" => Some(&["will", "not"]),
        "shan't" => Some(&["shall", "not"]),
        "ain't" => Some(&["is", "not"]),
        "let's" => Some(&["let", "us"]),
        "y'all" => Some(&["you", "all"]),
        "i'm" | "im" => Some(&["i", "am"]),
        "dont" => Some(&["do", "not"]),
        "didnt" => Some(&["did", "not"]),
        "wasnt" => Some(&["was", "not"]),
        "isnt" => Some(&["is", "not"]),
        "doesnt" => Some(&["does", "not"]),
        "havent" => Some(&["have", "not"]),
        "hasnt" => Some(&["has", "not"]),
        "wont" => Some(&["will", "not"]),
        "ive" => Some(&["i", "have"]),
        "thats" => Some(&["that", "is"]),
        "theres" => Some(&["there", "is"]),
        "whats" => Some(&["what", "is"]),
        _ => None,
    };
    if let Some(parts) = irregular {
        out.extend(parts.iter().map(|p| (*p).to_string()));
        return;
    }
    let Some((stem, suffix)) = word.split_once('\'') else {
        out.push(word.to_string());
        return;
    };
    let stem = stem.to_string();
    match suffix {
        "t" if stem.ends_with('n') => {
            let base = stem.strip_suffix('n').unwrap_or(&stem);
            out.push(base.to_string());
            out.push("not".to_string());
        }
        "m" => push_pair(out, stem, "am"),
        "re" => push_pair(out, stem, "are"),
        "ve" => push_pair(out, stem, "have"),
        "ll" => push_pair(out, stem, "will"),
        "d" => push_pair(out, stem, "would"),
        "s" if IS_CONTRACTIONS.contains(&stem.as_str()) => push_pair(out, stem, "is"),
        // Possessive or plural-of-letters ("council's", "b's"): keep the word itself.
        "s" => out.push(stem),
        // "o'clock", names like "o'brien": drop the apostrophe.
        _ => out.push(format!("{stem}{suffix}")),
    }
}

fn push_pair(out: &mut Vec<String>, first: String, second: &str) {
    out.push(first);
    out.push(second.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_punctuation_and_contractions() {
        let cases = [
            ("My bin WASN'T collected!", "my bin was not collected"),
            ("I've just moved", "i have just moved"),
            ("I’m moving house", "i am moving house"),
            ("That's right.", "that is right"),
            ("I can't pay", "i can not pay"),
            ("won't", "will not"),
            ("I'd like to pay", "i would like to pay"),
            ("the council's office", "the council office"),
            ("mis-bin collection", "mis bin collection"),
            ("3/12/2026", "3 12 2026"),
            ("flat 4b", "flat 4b"),
            ("[BLANK_AUDIO]", ""),
            ("(music) hello [noise]", "hello"),
            ("*cough* yes", "yes"),
            ("  ", ""),
            ("'quoted'", "quoted"),
            ("Chcę rozmawiać", "chcę rozmawiać"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn unclosed_bracket_drops_rest_without_panicking() {
        assert_eq!(normalise("hello [BLANK"), "hello");
    }
}
