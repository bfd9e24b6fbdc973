//! UK postcodes from spoken or typed forms: "R M seventeen six S L", "rm one seven six sl",
//! "S W one A one A A", NATO spelling ("romeo mike ..."), "double A", validated against the
//! UK postcode grammar and normalised to "RM17 6SL".
//!
//! Grammar (BS 7666 as published by Royal Mail): outward code A9, A99, AA9, AA99, A9A or AA9A;
//! inward code 9AA. Letter restrictions by position resolve the oh/zero ambiguity.

use super::numbers::{compound_word_value, digit_word_value, repeat_count};

/// Longest postcode without its space ("SW1A1AA").
const MAX_LEN: usize = 7;
/// Shortest ("M11AA").
const MIN_LEN: usize = 5;

/// What one spoken word (or "double" and its word) can stand for.
#[derive(Debug, Clone)]
struct Symbol {
    /// Alternative spellings ("oh" is O or 0).
    alternatives: Vec<String>,
    /// The word is also ordinary English ("a", "are", "to"), so it may be left out when it
    /// only borders the postcode ("it's a R M ..."). Spelled letters and digits never are.
    droppable: bool,
}

/// Ordinary English words that also read as a letter or digit.
fn is_common_word(word: &str) -> bool {
    matches!(
        word,
        "a" | "i"
            | "are"
            | "you"
            | "see"
            | "sea"
            | "be"
            | "bee"
            | "tea"
            | "why"
            | "oh"
            | "o"
            | "for"
            | "to"
            | "too"
            | "won"
            | "ate"
            | "pea"
            | "queue"
            | "eye"
            | "free"
            | "tree"
    )
}

/// Finds a valid postcode in the words, normalised with one space.
pub(super) fn parse(words: &[String]) -> Option<String> {
    let symbols = symbols(words);
    let mut best: Option<(usize, String)> = None;
    // Runs of consecutive symbols; other words ("my postcode is") separate them.
    let mut start = 0;
    while start < symbols.len() {
        if symbols.get(start).is_none_or(Option::is_none) {
            start += 1;
            continue;
        }
        let mut end = start;
        while symbols.get(end).is_some_and(Option::is_some) {
            end += 1;
        }
        let run: Vec<&Symbol> = symbols
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .flatten()
            .collect();
        for from in 0..run.len() {
            if run
                .get(..from)
                .unwrap_or_default()
                .iter()
                .any(|s| !s.droppable)
            {
                break;
            }
            for to in (from + 1..=run.len()).rev() {
                if run
                    .get(to..)
                    .unwrap_or_default()
                    .iter()
                    .any(|s| !s.droppable)
                {
                    break;
                }
                let window = run.get(from..to).unwrap_or_default();
                let covered = to - from;
                if best.as_ref().is_some_and(|(c, _)| *c >= covered) {
                    break;
                }
                if let Some(found) = first_valid(window) {
                    best = Some((covered, found));
                    break;
                }
            }
        }
        start = end;
    }
    best.map(|(_, postcode)| postcode)
}

/// Reads each word as a postcode symbol, or `None` for words that cannot be part of one.
fn symbols(words: &[String]) -> Vec<Option<Symbol>> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while let Some(word) = words.get(i) {
        // "double you" is W, "double A" is AA, "double oh" is 00 or OO.
        if let Some(times) = repeat_count(word)
            && let Some(next) = words.get(i + 1)
        {
            if next == "you" || next == "u" {
                out.push(Some(Symbol {
                    alternatives: vec!["W".to_string()],
                    droppable: false,
                }));
                i += 2;
                continue;
            }
            if let Some(single) = symbol(next) {
                let alternatives = single
                    .alternatives
                    .iter()
                    .map(|a| a.repeat(times))
                    .collect();
                out.push(Some(Symbol {
                    alternatives,
                    droppable: false,
                }));
                i += 2;
                continue;
            }
        }
        // "twenty one" is 21 inside a postcode as anywhere else.
        if let Some(tens) = compound_word_value(word).filter(|v| *v >= 20)
            && let Some(unit) = words
                .get(i + 1)
                .and_then(|w| digit_word_value(w))
                .filter(|u| *u > 0)
        {
            let value = (u32::from(tens) + u32::from(unit)).to_string();
            out.push(Some(Symbol {
                alternatives: vec![value],
                droppable: false,
            }));
            i += 2;
            continue;
        }
        // "x ray" as two words.
        if word == "x" && words.get(i + 1).is_some_and(|w| w == "ray") {
            out.push(Some(Symbol {
                alternatives: vec!["X".to_string()],
                droppable: false,
            }));
            i += 2;
            continue;
        }
        out.push(symbol(word));
        i += 1;
    }
    out
}

/// One word as a postcode symbol.
fn symbol(word: &str) -> Option<Symbol> {
    spellings(word).map(|alternatives| Symbol {
        alternatives,
        droppable: is_common_word(word),
    })
}

/// The letters or digits one word can spell.
fn spellings(word: &str) -> Option<Vec<String>> {
    let one = |s: &str| Some(vec![s.to_string()]);
    if let Some(letter) = letter_name(word) {
        return one(letter);
    }
    match word {
        "oh" | "o" => return Some(vec!["O".to_string(), "0".to_string()]),
        _ => {}
    }
    if let Some(d) = digit_word_value(word) {
        return Some(vec![d.to_string()]);
    }
    // A digit the recogniser wrote on its own ("RM17 6 SL").
    if word.len() == 1 && word.bytes().all(|b| b.is_ascii_digit()) {
        return one(word);
    }
    if let Some(v) = compound_word_value(word) {
        return Some(vec![v.to_string()]);
    }
    // Typed or recognised as letters and digits: "rm17", "6sl", "sw1a".
    if word.len() <= MAX_LEN && word.chars().all(|c| c.is_ascii_alphanumeric()) && word.len() >= 2 {
        let has_digit = word.chars().any(|c| c.is_ascii_digit());
        if has_digit
            || word.len() <= 3 && word.chars().all(|c| c.is_ascii_alphabetic()) && !is_word(word)
        {
            return one(&word.to_ascii_uppercase());
        }
    }
    None
}

/// Short letter groups that are ordinary words rather than spelled letters.
fn is_word(word: &str) -> bool {
    matches!(
        word,
        "is" | "it"
            | "my"
            | "me"
            | "at"
            | "in"
            | "on"
            | "no"
            | "so"
            | "we"
            | "an"
            | "am"
            | "as"
            | "be"
            | "by"
            | "do"
            | "go"
            | "he"
            | "if"
            | "of"
            | "or"
            | "up"
            | "us"
            | "the"
            | "and"
            | "its"
            | "yes"
            | "not"
            | "our"
            | "was"
            | "ok"
            | "um"
            | "uh"
            | "er"
            | "erm"
            | "yeah"
    )
}

/// The letter a spoken letter name or NATO word stands for.
fn letter_name(word: &str) -> Option<&'static str> {
    const LETTERS: [&str; 26] = [
        "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R",
        "S", "T", "U", "V", "W", "X", "Y", "Z",
    ];
    let index = match word {
        w if w.len() == 1 && w != "o" => {
            let c = w.chars().next()?;
            if !c.is_ascii_lowercase() {
                return None;
            }
            usize::from(c as u8 - b'a')
        }
        "ay" | "alpha" | "alfa" => 0,
        "bee" | "be" | "bravo" => 1,
        "see" | "sea" | "cee" | "charlie" => 2,
        "dee" | "delta" => 3,
        "echo" => 4,
        "eff" | "ef" | "foxtrot" => 5,
        "gee" | "golf" => 6,
        "aitch" | "haitch" | "hotel" => 7,
        "eye" | "india" => 8,
        "jay" | "juliet" | "juliett" => 9,
        "kay" | "kilo" => 10,
        "el" | "ell" | "lima" => 11,
        "em" | "mike" => 12,
        "en" | "november" => 13,
        "oscar" => 14,
        "pee" | "pea" | "papa" => 15,
        "queue" | "cue" | "kew" | "quebec" => 16,
        "are" | "ar" | "romeo" => 17,
        "ess" | "es" | "sierra" => 18,
        "tee" | "tea" | "tango" => 19,
        "you" | "yew" | "uniform" => 20,
        "vee" | "victor" => 21,
        "whiskey" | "whisky" => 22,
        "ex" | "xray" => 23,
        "why" | "wye" | "yankee" => 24,
        "zed" | "zee" | "zulu" => 25,
        _ => return None,
    };
    LETTERS.get(index).copied()
}

/// The first combination of the window's alternatives that is a valid postcode.
fn first_valid(window: &[&Symbol]) -> Option<String> {
    let min: usize = window
        .iter()
        .map(|s| s.alternatives.iter().map(String::len).min().unwrap_or(0))
        .sum();
    if min > MAX_LEN {
        return None;
    }
    let mut candidate = String::new();
    search(window, &mut candidate)
}

fn search(rest: &[&Symbol], candidate: &mut String) -> Option<String> {
    let Some((first, tail)) = rest.split_first() else {
        return validate(candidate);
    };
    for alternative in &first.alternatives {
        if candidate.len() + alternative.len() > MAX_LEN {
            continue;
        }
        let before = candidate.len();
        candidate.push_str(alternative);
        let found = search(tail, candidate);
        candidate.truncate(before);
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Checks a compact uppercase postcode against the grammar and inserts the space.
pub(super) fn validate(compact: &str) -> Option<String> {
    let compact: String = compact
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !(MIN_LEN..=MAX_LEN).contains(&compact.len()) || !compact.is_ascii() {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    if compact == "GIR0AA" {
        return Some("GIR 0AA".to_string());
    }
    let inward_ok = matches!(inward.as_bytes(), [d, a, b]
        if d.is_ascii_digit() && inward_letter(*a) && inward_letter(*b));
    let outward_ok = match outward.as_bytes() {
        [a, d] => first_letter(*a) && d.is_ascii_digit(),
        [a, d, e] if first_letter(*a) && d.is_ascii_digit() => {
            e.is_ascii_digit() || third_letter(*e)
        }
        [a, b, d] => first_letter(*a) && second_letter(*b) && d.is_ascii_digit(),
        [a, b, d, e] if first_letter(*a) && second_letter(*b) && d.is_ascii_digit() => {
            e.is_ascii_digit() || fourth_letter(*e)
        }
        _ => false,
    };
    (inward_ok && outward_ok).then(|| format!("{outward} {inward}"))
}

fn first_letter(c: u8) -> bool {
    c.is_ascii_uppercase() && !matches!(c, b'Q' | b'V' | b'X')
}

fn second_letter(c: u8) -> bool {
    c.is_ascii_uppercase() && !matches!(c, b'I' | b'J' | b'Z')
}

fn third_letter(c: u8) -> bool {
    b"ABCDEFGHJKPSTUW".contains(&c)
}

fn fourth_letter(c: u8) -> bool {
    b"ABEHMNPRVWXY".contains(&c)
}

fn inward_letter(c: u8) -> bool {
    c.is_ascii_uppercase() && !matches!(c, b'C' | b'I' | b'K' | b'M' | b'O' | b'V')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalise::words;

    fn postcode(text: &str) -> Option<String> {
        parse(&words(text))
    }

    #[test]
    fn spoken_postcodes() {
        let cases = [
            ("R M seventeen six S L", "RM17 6SL"),
            ("rm one seven six sl", "RM17 6SL"),
            ("RM17 6SL", "RM17 6SL"),
            ("rm176sl", "RM17 6SL"),
            ("RM16 2QS", "RM16 2QS"),
            ("S S one seven zero B Z", "SS17 0BZ"),
            ("S S one seven oh B Z", "SS17 0BZ"),
            ("S W one A one A A", "SW1A 1AA"),
            ("S W one A one double A", "SW1A 1AA"),
            ("E C one A one B B", "EC1A 1BB"),
            ("romeo mike one seven six sierra lima", "RM17 6SL"),
            ("my postcode is R M seventeen six S L thanks", "RM17 6SL"),
            ("it's are em seventeen six ess el", "RM17 6SL"),
            ("M one one A A", "M1 1AA"),
            ("it's a R M one seven six S L", "RM17 6SL"),
            ("W one A zero A X", "W1A 0AX"),
            ("double you one A oh A X", "W1A 0AX"),
            ("N W twenty one three D E", "NW21 3DE"),
            ("B twenty three six T Y", "B23 6TY"),
            ("C R two six X H", "CR2 6XH"),
        ];
        for (text, expected) in cases {
            assert_eq!(postcode(text).as_deref(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn recognised_digits_standing_alone() {
        // How Whisper writes a spoken postcode varies with the machine it runs on: the inward
        // digit may stand alone and the letters come dotted.
        let cases = [
            ("Postcode RM17, 6 S.L.", "RM17 6SL"),
            ("RM17 6 S.L.", "RM17 6SL"),
            ("Post code R.M. 17, 6 S.L.", "RM17 6SL"),
            ("RM17 6 SL.", "RM17 6SL"),
            ("Postcode RM 17.6 SL.", "RM17 6SL"),
            ("RM17, 6-S-L.", "RM17 6SL"),
            ("M 1 1 A A", "M1 1AA"),
        ];
        for (text, expected) in cases {
            assert_eq!(postcode(text).as_deref(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn invalid_postcodes_are_rejected() {
        for text in [
            "R M seventeen",
            "Q M one seven six S L",
            "R M one seven six C L",
            "one two three four five",
            "hello there",
            "",
            "ABC 1DE",
            "R M one seven six S L L",
        ] {
            assert_eq!(postcode(text), None, "{text:?}");
        }
    }

    #[test]
    fn validate_applies_the_grammar() {
        assert_eq!(validate("sw1a1aa").as_deref(), Some("SW1A 1AA"));
        assert_eq!(validate("EC1A 1BB").as_deref(), Some("EC1A 1BB"));
        assert_eq!(validate("M11AA").as_deref(), Some("M1 1AA"));
        assert_eq!(validate("GIR0AA").as_deref(), Some("GIR 0AA"));
        assert_eq!(validate("ZE1 0AA").as_deref(), Some("ZE1 0AA"));
        assert_eq!(validate("ZZ9 9ZZ"), None);
        assert_eq!(validate("1M1 1AA"), None);
        assert_eq!(validate("M1 1AAA"), None);
        assert_eq!(validate("é1 1AA"), None);
    }
}
