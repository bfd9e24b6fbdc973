//! Yes or no from a spoken answer: "yes", "yeah", "yep", "correct", "that's right", "please do",
//! "no", "nope", "that's wrong", "not really", "that's not right". An answer that is neither
//! says what the caller needs instead: the question again ("repeat that please", "sorry,
//! what?"), slower speech ("slow down please"), a moment ("hang on"), or it is unsure ("not
//! sure", "I don't know"). None of those is ever a yes, whatever else it contains: a caller
//! who asks to hear a misheard postcode again must not have confirmed it.

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
/// Phrases of a caller who cannot say yet ("not sure", "don't know"): the question is asked
/// again.
const UNSURE: &[&[&str]] = &[
    &["not", "sure"],
    &["unsure"],
    &["not", "certain"],
    &["do", "not", "know"],
    &["dunno"],
    &["no", "idea"],
    &["maybe"],
    &["perhaps"],
    &["i", "think", "so"],
    &["can", "not", "remember"],
    &["do", "not", "remember"],
    &["i", "guess"],
    &["i", "suppose"],
    &["possibly"],
    &["probably"],
    &["might", "be"],
    &["could", "be"],
    &["no", "clue"],
    &["hard", "to", "say"],
    &["not", "100"],
    &["i", "forget"],
    &["forgotten"],
    &["let", "me", "think"],
    &["what", "do", "you", "mean"],
];
/// Phrases asking to hear the question again.
const REPEAT: &[&[&str]] = &[
    &["repeat"],
    &["say", "again"],
    &["say", "that", "again"],
    &["say", "it", "again"],
    &["come", "again"],
    &["once", "more"],
    &["one", "more", "time"],
    &["pardon"],
    &["sorry", "what"],
    &["what", "was", "that"],
    &["what", "did", "you", "say"],
    &["did", "not", "catch"],
    &["did", "not", "hear"],
    &["did", "not", "get", "that"],
    &["could", "not", "hear"],
    &["can", "not", "hear"],
    &["what", "was", "it"],
    &["missed", "that"],
    &["again"],
    &["speak", "up"],
    &["louder"],
];
/// Phrases asking for slower speech.
const SLOWER: &[&[&str]] = &[
    &["slower"],
    &["slowly"],
    &["slow"],
    &["too", "fast"],
    &["so", "fast"],
    &["rushing"],
    &["keep", "up"],
    &["too", "quick"],
    &["too", "quickly"],
];
/// Phrases asking for a moment before answering.
const WAIT: &[&[&str]] = &[
    &["hang", "on"],
    &["hold", "on"],
    &["wait"],
    &["one", "moment"],
    &["a", "moment"],
    &["one", "sec"],
    &["one", "second"],
    &["a", "second"],
    &["just", "a", "minute"],
    &["let", "me", "check"],
    &["let", "me", "look"],
    &["let", "me", "see"],
    &["let", "me", "find"],
    &["let", "me", "get"],
    &["bear", "with"],
    &["just", "a", "sec"],
    &["give", "me", "a"],
];
/// Words that, alone or with only these, ask what was said ("Sorry?", "What?", "Eh?").
const HUH: &[&str] = &[
    "sorry", "what", "eh", "huh", "pardon", "excuse", "me", "i", "am",
];

/// What a caller's answer to a yes/no question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YesNoReply {
    Yes,
    No,
    /// Hear the question again.
    Repeat,
    /// Hear it again, more slowly.
    Slower,
    /// A moment to check something before answering.
    Wait,
    /// Neither yes nor no yet: ask again.
    Unsure,
}

/// What the answer to a yes/no question is; `None` when it is none of the replies (a
/// classifier may still know what it is about).
pub fn reply(words: &[String]) -> Option<YesNoReply> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let has = |phrases: &[&[&str]]| phrases.iter().any(|p| contains(&w, p));
    // A request about the question outranks any yes or no word in the same breath ("repeat
    // that please", "no wait", "yes, slow down"): the caller has not heard it properly.
    if has(SLOWER) {
        return Some(YesNoReply::Slower);
    }
    if has(REPEAT) || (!w.is_empty() && w.iter().all(|word| HUH.contains(word))) {
        return Some(YesNoReply::Repeat);
    }
    if has(WAIT) {
        return Some(YesNoReply::Wait);
    }
    if has(UNSURE) {
        return Some(YesNoReply::Unsure);
    }
    parse_decided(&w).map(|yes| if yes { YesNoReply::Yes } else { YesNoReply::No })
}

/// Yes (`true`), no (`false`) or not an answer (`None`).
pub(super) fn parse(words: &[String]) -> Option<bool> {
    match reply(words)? {
        YesNoReply::Yes => Some(true),
        YesNoReply::No => Some(false),
        YesNoReply::Repeat | YesNoReply::Slower | YesNoReply::Wait | YesNoReply::Unsure => None,
    }
}

/// Whether the answer negates something ("not", "never", "don't"): a designer's yes keyword
/// in it ("not sure", "never mind") does not make it a yes.
pub fn is_negated(words: &[String]) -> bool {
    words.iter().any(|w| {
        matches!(
            w.as_str(),
            "not" | "never" | "nothing" | "nobody" | "neither" | "nor"
        )
    })
}

/// The yes or no of an answer that asks for nothing else.
fn parse_decided(w: &[&str]) -> Option<bool> {
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
    if contains(w, &["do", "not"]) || contains(w, &["did", "not"]) || contains(w, &["is", "not"]) {
        return Some(false);
    }
    YES_PHRASES.iter().any(|p| contains(w, p)).then_some(true)
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

    #[test]
    fn requests_about_the_question_are_never_yes() {
        let cases = [
            ("repeat that please", YesNoReply::Repeat),
            ("Could you say that again?", YesNoReply::Repeat),
            ("Sorry, what?", YesNoReply::Repeat),
            ("Sorry?", YesNoReply::Repeat),
            ("Pardon?", YesNoReply::Repeat),
            ("What was that?", YesNoReply::Repeat),
            ("I didn't catch that", YesNoReply::Repeat),
            ("yes, could you repeat it", YesNoReply::Repeat),
            ("slow down please", YesNoReply::Slower),
            ("Can you speak more slowly please", YesNoReply::Slower),
            ("you're going too fast", YesNoReply::Slower),
            ("hang on", YesNoReply::Wait),
            ("Hold on a sec", YesNoReply::Wait),
            ("no wait", YesNoReply::Wait),
            ("one moment please", YesNoReply::Wait),
            ("let me check", YesNoReply::Wait),
            ("not sure", YesNoReply::Unsure),
            ("I'm not sure", YesNoReply::Unsure),
            ("I don't know", YesNoReply::Unsure),
            ("I'm not certain", YesNoReply::Unsure),
            ("I can't remember", YesNoReply::Unsure),
            ("maybe", YesNoReply::Unsure),
            ("yeah I guess so", YesNoReply::Unsure),
            ("probably, yes", YesNoReply::Unsure),
            ("what do you mean", YesNoReply::Unsure),
            ("again please", YesNoReply::Repeat),
            ("sorry I couldn't hear you, speak up", YesNoReply::Repeat),
            ("yes but slow it down a bit", YesNoReply::Slower),
            ("ok you're rushing me", YesNoReply::Slower),
            ("bear with me", YesNoReply::Wait),
            ("right, let me find my letter", YesNoReply::Wait),
            ("yes please", YesNoReply::Yes),
            ("please", YesNoReply::Yes),
            ("no thank you", YesNoReply::No),
        ];
        for (text, expected) in cases {
            assert_eq!(reply(&words(text)), Some(expected), "{text:?}");
            if expected != YesNoReply::Yes {
                assert_ne!(parse(&words(text)), Some(true), "{text:?} taken as yes");
            }
        }
        assert_eq!(reply(&words("my bin was not collected")), None);
        assert_eq!(reply(&words("hello")), None);
    }

    #[test]
    fn negation_is_seen_in_any_form() {
        for text in [
            "not sure",
            "I'm not sure",
            "never mind",
            "I don't think so",
            "isn't it",
        ] {
            assert!(is_negated(&words(text)), "{text:?}");
        }
        for text in ["sure", "yes please", "that's right"] {
            assert!(!is_negated(&words(text)), "{text:?}");
        }
    }
}
