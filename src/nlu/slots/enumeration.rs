//! Enumeration slots: one of a flow's values, recognised by its name or any synonym
//! ("black bin" / "general waste" / "rubbish"), tolerant of plurals and sound-alike
//! misrecognitions ("brown been").

use super::EnumValue;
use crate::nlu::text::{is_stop_word, phonetic_key, stem};

/// The value whose name or synonym best matches the words: the longest phrase heard wins; a
/// tie between different values is ambiguous and yields `None`.
pub(super) fn parse(values: &[EnumValue], words: &[String]) -> Option<String> {
    // Stop words stay in what was heard: a recogniser's "been" may be the caller's "bin".
    let heard: Vec<(String, String)> = words
        .iter()
        .map(|w| (stem(w), phonetic_key(&stem(w))))
        .collect();
    let mut best: Option<(f32, &str)> = None;
    let mut tie = false;
    for value in values {
        let names =
            std::iter::once(value.value.replace('_', " ")).chain(value.synonyms.iter().cloned());
        let score = names
            .map(|name| phrase_score(&name, &heard))
            .fold(0.0f32, f32::max);
        if score <= 0.0 {
            continue;
        }
        match best {
            Some((b, _)) if score < b => {}
            Some((b, name)) if (score - b).abs() < 1e-6 && name != value.value => tie = true,
            _ => {
                best = Some((score, value.value.as_str()));
                tie = false;
            }
        }
    }
    if tie {
        return None;
    }
    best.map(|(_, v)| v.to_string())
}

/// How well a name is heard: its number of content words when all of them occur in order
/// (sound-alike words count slightly less), else 0.
fn phrase_score(name: &str, heard: &[(String, String)]) -> f32 {
    let wanted: Vec<String> = crate::nlu::normalise::words(name)
        .iter()
        .filter(|w| !is_stop_word(w))
        .map(|w| stem(w))
        .collect();
    if wanted.is_empty() {
        return 0.0;
    }
    let mut score = 0.0;
    let mut from = 0;
    for want in &wanted {
        let key = phonetic_key(want);
        let Some((offset, exact)) = heard.iter().skip(from).enumerate().find_map(|(k, (s, p))| {
            if s == want {
                Some((k, true))
            } else if *p == key && key.chars().count() >= 2 {
                Some((k, false))
            } else {
                None
            }
        }) else {
            return 0.0;
        };
        score += if exact { 1.0 } else { 0.8 };
        from += offset + 1;
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalise::words;

    fn bins() -> Vec<EnumValue> {
        let v = |value: &str, synonyms: &[&str]| EnumValue {
            value: value.to_string(),
            synonyms: synonyms.iter().map(|s| s.to_string()).collect(),
        };
        vec![
            v(
                "general_waste",
                &["black bin", "rubbish", "household waste"],
            ),
            v("recycling", &["blue bin", "recycle", "cans and bottles"]),
            v(
                "garden_waste",
                &["brown bin", "green waste", "grass cuttings"],
            ),
        ]
    }

    #[test]
    fn values_by_name_and_synonym() {
        let cases = [
            ("black bin", Some("general_waste")),
            ("the black bins please", Some("general_waste")),
            ("general waste", Some("general_waste")),
            ("it was my rubbish", Some("general_waste")),
            ("recycling", Some("recycling")),
            ("blue bin", Some("recycling")),
            ("the recycling bin", Some("recycling")),
            ("garden waste", Some("garden_waste")),
            ("brown bin", Some("garden_waste")),
            ("brown been", Some("garden_waste")),
            ("bin", None),
            ("waste", None),
            ("", None),
            ("purple bin", None),
        ];
        let values = bins();
        for (text, expected) in cases {
            assert_eq!(
                parse(&values, &words(text)).as_deref(),
                expected,
                "{text:?}"
            );
        }
    }
}
