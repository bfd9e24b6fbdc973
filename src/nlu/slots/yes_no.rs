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
/// Phrases with a no word in them that answer yes ("no problem"): read before any no word.
const NO_WORD_YES: &[&[&str]] = &[
    &["no", "problem"],
    &["no", "problems"],
    &["no", "worries"],
    &["no", "bother"],
    &["not", "a", "problem"],
];
/// Phrases that answer yes although none of their words does.
const YES_PHRASES: &[&[&str]] = &[
    &["please", "do"],
    &["go", "ahead"],
    &["go", "on"],
    &["do", "it"],
    &["of", "course"],
    &["that", "is", "it"],
    &["that", "is", "the", "one"],
    &["that", "is", "me"],
    &["spot", "on"],
    &["bang", "on"],
    &["you", "got", "it"],
    &["sure", "is"],
    &["sounds", "good"],
    &["uh", "huh"],
    &["mm", "hmm"],
    &["mhm"],
    &["yes", "please"],
    &["please"],
];
/// Short answers that say yes only when they close the answer ("it is", "I do"): followed by
/// more words they start a sentence about something else ("it's my mum's account", "I'd have
/// to look").
const YES_ENDINGS: &[&[&str]] = &[&["it", "is"], &["i", "do"], &["i", "would"], &["i", "am"]];
/// Words that may follow a closing yes without changing it.
const TRAILING: &[&str] = &[
    "please", "thanks", "thank", "you", "love", "mate", "yes", "yeah", "right", "correct", "then",
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
    &["kind", "of"],
    &["sort", "of"],
    &["more", "or", "less"],
    &["in", "a", "way"],
    &["sometimes"],
    &["depends"],
    &["partly"],
    &["hopefully"],
    &["i", "hope", "so"],
    &["i", "believe", "so"],
    &["i", "reckon"],
    &["should", "be"],
    &["ought", "to", "be"],
    &["as", "far", "as", "i", "know"],
    &["i", "am", "confused"],
    &["do", "not", "understand"],
    &["did", "not", "understand"],
    &["no", "comment"],
    &["rather", "not", "say"],
    &["yes", "and", "no"],
    &["yes", "or", "no"],
    &["either", "way"],
    &["not", "quite"],
    &["not", "exactly"],
    &["have", "a", "think"],
    &["if", "you", "say", "so"],
    &["whatever"],
    &["would", "not", "know"],
    &["how", "would", "i", "know"],
    &["not", "a", "clue"],
    &["you", "tell", "me"],
    &["about", "right"],
    &["i", "think"],
    &["i", "see"],
    &["do", "not", "ask", "me"],
    &["not", "for", "me", "to", "say"],
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
    &["breaking", "up"],
    &["cutting", "out"],
    &["bad", "line"],
    &["are", "you", "there"],
    &["you", "still", "there"],
    &["anyone", "there"],
    &["anybody", "there"],
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
    &["let", "me", "ask"],
    &["ask", "my"],
    &["check", "with"],
    &["i", "will", "ask"],
    &["i", "will", "check"],
    &["need", "to", "check"],
    &["have", "to", "check"],
    &["need", "to", "look"],
    &["have", "to", "look"],
    &["need", "to", "find"],
    &["hang", "about"],
    &["just", "a", "tick"],
    &["hold", "the", "line"],
    &["i", "am", "thinking"],
    &["can", "i", "check"],
];
/// Words that, alone or with only these, ask what was said ("Sorry?", "What?", "Eh?").
const HUH: &[&str] = &[
    "sorry", "what", "eh", "huh", "pardon", "excuse", "me", "i", "am", "hello",
];
/// Words a question opens with ("why do you need that", "is that right"): a caller asking
/// something has not answered yet.
const QUESTION_OPENERS: &[&str] = &[
    "what", "why", "who", "how", "which", "where", "when", "whose",
];
/// Verbs that open a question when a pronoun follows ("do I have to", "is that right").
const QUESTION_VERBS: &[&str] = &[
    "is", "are", "am", "was", "were", "do", "does", "did", "can", "could", "would", "will",
    "should", "shall", "have", "has", "must",
];
/// What follows a question verb in a question.
const QUESTION_SUBJECTS: &[&str] = &[
    "i", "you", "he", "she", "it", "we", "they", "that", "this", "there", "my", "the", "your",
];
/// Words that open an answer without carrying it ("sorry, why ...", "right, who ...").
const OPENING_FILLERS: &[&str] = &[
    "sorry", "but", "and", "so", "um", "uh", "er", "erm", "hmm", "ok", "okay", "right", "well",
    "oh", "yes", "yeah", "no", "please",
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

/// What a spoken or typed answer to a yes/no question is, from its text: as [`reply`], and an
/// answer written as a question ("Yes?", "Right?") is never a yes.
pub fn reply_to(text: &str, words: &[String]) -> Option<YesNoReply> {
    let answer = reply(words);
    if answer == Some(YesNoReply::Yes) && text.trim_end().ends_with('?') {
        return Some(YesNoReply::Unsure);
    }
    answer
}

/// Whether the words ask a question rather than answer one: they open (after fillers such as
/// "sorry" or "right") with a question word, or with a verb and its subject ("is that ...",
/// "do I ...").
pub fn is_question(words: &[String]) -> bool {
    let mut rest = words
        .iter()
        .map(String::as_str)
        .skip_while(|w| OPENING_FILLERS.contains(w));
    match (rest.next(), rest.next()) {
        (Some(first), _) if QUESTION_OPENERS.contains(&first) => true,
        // "do it" tells rather than asks.
        (Some("do"), Some("it")) => false,
        (Some(verb), Some(subject)) => {
            QUESTION_VERBS.contains(&verb) && QUESTION_SUBJECTS.contains(&subject)
        }
        _ => false,
    }
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
    if has(UNSURE) || unsure_of_sure(&w) {
        return Some(YesNoReply::Unsure);
    }
    if has(NO_WORD_YES) {
        return Some(YesNoReply::Yes);
    }
    let decided = parse_decided(&w);
    // A question back ("is that right?", "why do you need it") has not said yes, whatever
    // yes word it holds; a yes beside a no ("yeah no") has said neither.
    if decided == Some(true) && (is_question(words) || says_no_too(&w)) {
        return Some(YesNoReply::Unsure);
    }
    decided.map(|yes| if yes { YesNoReply::Yes } else { YesNoReply::No })
}

/// "Not really sure", "not too sure", "not one hundred percent sure": a "not" shortly before
/// "sure".
fn unsure_of_sure(w: &[&str]) -> bool {
    w.iter().enumerate().any(|(i, word)| {
        *word == "sure"
            && w.get(i.saturating_sub(4)..i)
                .is_some_and(|before| before.contains(&"not"))
    })
}

/// Whether a no word stands right beside a yes word ("yeah no", "no yeah"): said together
/// they are neither. Further apart the no belongs to something else ("yes, no one else
/// lives here").
fn says_no_too(w: &[&str]) -> bool {
    w.iter().enumerate().any(|(i, a)| {
        let Some(b) = w.get(i + 1) else {
            return false;
        };
        // "yes, no one else": "no" opens what follows.
        let no_opens = |at: usize| w.get(at + 1).is_some_and(|n| matches!(*n, "one" | "doubt"));
        (YES.contains(a) && NO.contains(b) && !no_opens(i + 1))
            || (NO.contains(a) && YES.contains(b) && !no_opens(i))
    })
}

/// Yes (`true`), no (`false`) or not an answer (`None`).
#[cfg(test)]
pub(super) fn parse(words: &[String]) -> Option<bool> {
    decided(reply(words)?)
}

/// As [`parse`], from the text: a yes written as a question ("Yes?") is not a yes.
pub(super) fn parse_text(text: &str, words: &[String]) -> Option<bool> {
    decided(reply_to(text, words)?)
}

fn decided(reply: YesNoReply) -> Option<bool> {
    match reply {
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
    let closing = YES_ENDINGS.iter().any(|p| {
        (0..w.len()).any(|start| {
            w.get(start..start + p.len()) == Some(*p)
                && w.get(start + p.len()..)
                    .is_some_and(|rest| rest.iter().all(|r| TRAILING.contains(r)))
        })
    });
    (closing || YES_PHRASES.iter().any(|p| contains(w, p))).then_some(true)
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
        // A lone "hello" checks the line is still there.
        assert_eq!(reply(&words("hello")), Some(YesNoReply::Repeat));
    }

    /// Answers a caller gives before they can say yes: questions back, hedges, checks with
    /// someone else, a bad line. Written as a list of what callers say, not tuned on any set.
    #[test]
    fn answers_that_are_not_yet_an_answer_are_never_yes() {
        for text in [
            "Is that right?",
            "is that the one you've got",
            "Why do you need that?",
            "What's that for?",
            "Right, what was the question?",
            "OK, and what happens then?",
            "Who is this?",
            "Sorry, who am I talking to?",
            "how do you spell that",
            "yes?",
            "Right?",
            "Sure?",
            "yeah no",
            "yes and no",
            "yes or no?",
            "kind of",
            "sort of, yeah",
            "more or less",
            "I believe so",
            "I reckon so",
            "it should be",
            "hopefully",
            "I hope so",
            "yeah it depends",
            "sometimes",
            "as far as I know yes",
            "I'm not really sure",
            "I'm not too sure about that",
            "not one hundred percent sure",
            "I'll ask my husband",
            "let me ask my daughter, she deals with it",
            "I'll have to check with my landlord",
            "hang on, I'll check",
            "you're breaking up",
            "it's a bad line",
            "hello, are you still there?",
            "hello?",
            "I don't understand",
            "sorry, I'm confused",
            "I'd rather not say",
            "no comment",
            "whatever",
            "yeah if you say so",
            "please what?",
            "yes, is that OK?",
            "ok so do I need to do anything?",
            "not exactly",
            "not quite",
            "I'll have a think",
            "well, sort of",
            "I'd have to look",
            "it's noisy here",
            "right okay hang about",
            "I'd need to check",
            "it's my mum's account really",
            "I wouldn't know",
            "that sounds about right",
            "I think that's right",
            "right I see",
            "don't ask me",
            "just a tick",
            "not a clue",
            "you tell me",
        ] {
            let got = reply_to(text, &words(text));
            assert_ne!(got, Some(YesNoReply::Yes), "{text:?} taken as yes");
        }
    }

    #[test]
    fn a_yes_slot_is_not_filled_by_a_yes_written_as_a_question() {
        assert_eq!(parse_text("Yes?", &words("Yes?")), None);
        assert_eq!(parse_text("Yes.", &words("Yes.")), Some(true));
        assert_eq!(parse_text("No?", &words("No?")), Some(false));
    }

    #[test]
    fn plain_yes_answers_stay_yes() {
        for text in [
            "Yes.",
            "yes that's right",
            "Yeah, that's correct.",
            "yes it is",
            "Yes I do",
            "yes please do it",
            "do it",
            "right",
            "that's right yes",
            "Correct.",
            "Yep, that's my postcode.",
            "yes that's the one",
            "Absolutely.",
            "yes, no problem",
            "no problem",
            "no worries",
            "OK.",
            "Yes, thank you.",
            "yes, go ahead",
            "of course",
            "Aye.",
            "yes I live there",
            "yes that's what I said",
            "I do",
            "it is, yes",
            "that's fine",
            "ok then",
            "spot on",
            "that's the one",
            "uh-huh",
            "mm-hmm",
            "yes, no one else lives here",
            "sounds good",
        ] {
            assert_eq!(
                reply_to(text, &words(text)),
                Some(YesNoReply::Yes),
                "{text:?}"
            );
        }
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
