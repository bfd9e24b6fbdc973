//! Yes or no from a spoken answer: "yes", "yeah", "yep", "correct", "that's right", "please do",
//! "no", "nope", "that's wrong", "not really", "that's not right". Returns `None` when the
//! answer is neither ("I don't know") so the flow can ask again.

/// Words that answer yes on their own.
const YES: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "yea",
    "ya",
    "aye",
    "correct",
    "right",
    "sure",
    "ok",
    "okay",
    "absolutely",
    "definitely",
    "certainly",
    "affirmative",
    "true",
    "fine",
    "exactly",
    "indeed",
];
/// Words that answer no on their own.
const NO: &[&str] = &[
    "no",
    "nope",
    "nah",
    "wrong",
    "incorrect",
    "negative",
    "never",
    "false",
];
/// Phrases that answer yes although none of their words does.
const YES_PHRASES: &[&[&str]] = &[
    &["please", "do"],
    &["go", "ahead"],
    &["of", "course"],
    &["it", "is"],
    &["that", "is", "it"],
    &["i", "do"],
    &["i", "would"],
    &["please"],
];
/// Phrases where a negation applies ("not really", "don't know" is handled as unsure).
const UNSURE: &[&[&str]] = &[
    &["not", "sure"],
    &["do", "not", "know"],
    &["no", "idea"],
    &["maybe"],
    &["i", "think", "so"],
];

/// Yes (`true`), no (`false`) or not an answer (`None`).
pub(super) fn parse(words: &[String]) -> Option<bool> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    if UNSURE.iter().any(|p| contains(&w, p)) {
        return None;
    }
    // "Know" opening an answer is a recogniser's spelling of "no" ("Know, that's wrong."):
    // nobody answers a yes/no question with the verb on its own.
    if w.first().is_some_and(|first| *first == "know") {
        return Some(false);
    }
    // The first decisive word wins: "no, that's right" starts with no.
    for (i, word) in w.iter().enumerate() {
        let negated = i > 0 && w.get(i - 1).is_some_and(|p| *p == "not");
        if YES.contains(word) {
            return Some(!negated);
        }
        if NO.contains(word) {
            // "not wrong" is a (rare) yes.
            return Some(negated);
        }
        if *word == "not"
            && w.get(i + 1)
                .is_none_or(|n| matches!(*n, "really" | "at" | "quite" | "now" | "today"))
        {
            return Some(false);
        }
    }
    if contains(&w, &["do", "not"]) || contains(&w, &["did", "not"]) || contains(&w, &["is", "not"])
    {
        return Some(false);
    }
    YES_PHRASES.iter().any(|p| contains(&w, p)).then_some(true)
}

fn contains(words: &[&str], phrase: &[&str]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|window| window == phrase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalise::words;

    #[test]
    fn yes_and_no_forms() {
        let cases = [
            ("yes", Some(true)),
            ("Yes please", Some(true)),
            ("yeah", Some(true)),
            ("yep", Some(true)),
            ("correct", Some(true)),
            ("that's right", Some(true)),
            ("Yes that's right", Some(true)),
            ("please do", Some(true)),
            ("go ahead", Some(true)),
            ("of course", Some(true)),
            ("yeah correct", Some(true)),
            ("okay", Some(true)),
            ("no", Some(false)),
            ("No thank you", Some(false)),
            ("nope", Some(false)),
            ("that's wrong", Some(false)),
            ("not really", Some(false)),
            ("that's not right", Some(false)),
            ("that is not correct", Some(false)),
            ("no that's wrong", Some(false)),
            ("nah", Some(false)),
            ("I don't want that", Some(false)),
            ("not", Some(false)),
            ("I don't know", None),
            ("know that's wrong", Some(false)),
            ("Know.", Some(false)),
            ("I know", None),
            ("not sure", None),
            ("maybe", None),
            ("", None),
            ("hello", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(&words(text)), expected, "{text:?}");
        }
    }
}
