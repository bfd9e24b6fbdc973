//! Spoken numbers and digit strings: "four seven two", "double four", "twelve hundred",
//! "two hundred and fifty", "a hundred and one", "1 2 3", with the recogniser's usual
//! confusions (for/four, to/two, won/one, ate/eight, oh/zero).
//!
//! Works on normalised words; knows nothing about what the number is for.

/// What one normalised word means inside a spoken number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberWord {
    /// 0..=9. `ambiguous` words ("for", "to", "oh") only count next to unambiguous number words.
    Unit {
        value: u8,
        ambiguous: bool,
    },
    /// 10..=19.
    Teen(u8),
    /// 20, 30 .. 90.
    Tens(u8),
    Hundred,
    Thousand,
    /// "double", "triple": repeat the next digit.
    Repeat(usize),
    /// "and" inside "two hundred and fifty".
    And,
    /// "a" in "a hundred".
    A,
    /// A token of ASCII digits, possibly with a letter suffix ("4b"): its digits.
    Literal,
}

fn classify_word(word: &str) -> Option<NumberWord> {
    use NumberWord::*;
    let unit = |value| {
        Some(Unit {
            value,
            ambiguous: false,
        })
    };
    let confusable = |value| {
        Some(Unit {
            value,
            ambiguous: true,
        })
    };
    match word {
        "zero" | "nought" | "naught" | "nil" => unit(0),
        "oh" | "o" => confusable(0),
        "one" => unit(1),
        "won" => confusable(1),
        "two" => unit(2),
        "to" | "too" => confusable(2),
        "three" => unit(3),
        "tree" | "free" => confusable(3),
        "four" => unit(4),
        "for" | "fore" => confusable(4),
        "five" => unit(5),
        "six" => unit(6),
        "seven" => unit(7),
        "eight" => unit(8),
        "ate" => confusable(8),
        "nine" | "niner" => unit(9),
        "ten" => Some(Teen(10)),
        "eleven" => Some(Teen(11)),
        "twelve" => Some(Teen(12)),
        "thirteen" => Some(Teen(13)),
        "fourteen" => Some(Teen(14)),
        "fifteen" => Some(Teen(15)),
        "sixteen" => Some(Teen(16)),
        "seventeen" => Some(Teen(17)),
        "eighteen" => Some(Teen(18)),
        "nineteen" => Some(Teen(19)),
        "twenty" => Some(Tens(20)),
        "thirty" => Some(Tens(30)),
        "forty" | "fourty" => Some(Tens(40)),
        "fifty" => Some(Tens(50)),
        "sixty" => Some(Tens(60)),
        "seventy" => Some(Tens(70)),
        "eighty" => Some(Tens(80)),
        "ninety" => Some(Tens(90)),
        "hundred" => Some(Hundred),
        "thousand" => Some(Thousand),
        "double" => Some(Repeat(2)),
        "triple" | "treble" => Some(Repeat(3)),
        "and" => Some(And),
        "a" => Some(A),
        _ if word.starts_with(|c: char| c.is_ascii_digit()) => Some(Literal),
        _ => None,
    }
}

/// Fillers a caller says while reading numbers out; they do not end a number.
fn is_filler(word: &str) -> bool {
    matches!(word, "um" | "uh" | "er" | "erm" | "umm" | "hmm")
}

/// A run of words that reads as one spoken number, as indices into the word list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberRun {
    pub start: usize,
    pub end: usize,
    pub digits: String,
}

/// Every spoken number in `words`, in order, each as its digit string ("twelve hundred" →
/// "1200", "oh seven seven double oh" → "07700"). Runs made only of confusable words ("to",
/// "for") are not numbers.
pub(crate) fn number_runs(words: &[String]) -> Vec<NumberRun> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let Some(end) = run_end(words, i) else {
            i += 1;
            continue;
        };
        let slice: Vec<&str> = words
            .get(i..end)
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .filter(|w| !is_filler(w))
            .collect();
        if let Some(digits) = digits_of_run(&slice) {
            runs.push(NumberRun {
                start: i,
                end,
                digits,
            });
        }
        i = end;
    }
    runs
}

/// Where the number run starting at `start` ends (exclusive), or `None` when no number starts
/// there. A run must contain at least one unambiguous number word.
fn run_end(words: &[String], start: usize) -> Option<usize> {
    let first = classify_word(words.get(start)?)?;
    if matches!(first, NumberWord::And) {
        return None;
    }
    let mut end = start;
    let mut certain = false;
    while let Some(word) = words.get(end) {
        match classify_word(word) {
            Some(NumberWord::Unit {
                ambiguous: true, ..
            }) => {}
            Some(NumberWord::A) => {
                // "a" only belongs to a number as "a hundred" / "a thousand".
                let next = words.get(end + 1).and_then(|w| classify_word(w));
                if !matches!(next, Some(NumberWord::Hundred | NumberWord::Thousand)) {
                    break;
                }
            }
            Some(NumberWord::And) => {
                // "and" joins only "hundred and fifty"; otherwise it ends the number.
                let prev = end
                    .checked_sub(1)
                    .and_then(|p| words.get(p))
                    .and_then(|w| classify_word(w));
                let next = words.get(end + 1).and_then(|w| classify_word(w));
                let joins = matches!(prev, Some(NumberWord::Hundred | NumberWord::Thousand))
                    && matches!(
                        next,
                        Some(NumberWord::Unit { .. } | NumberWord::Teen(_) | NumberWord::Tens(_))
                    );
                if !joins {
                    break;
                }
            }
            Some(_) => certain = true,
            None if is_filler(word) => {}
            None => break,
        }
        end += 1;
    }
    // Trailing fillers and ambiguous words after the last certain word stay only when the run
    // is certain; a run of only "to"/"for" is ordinary English.
    (certain && end > start).then_some(end)
}

/// The digit string of one run of number words.
fn digits_of_run(words: &[&str]) -> Option<String> {
    use NumberWord::*;
    let mut out = String::new();
    let mut i = 0;
    while let Some(&word) = words.get(i) {
        match classify_word(word)? {
            Literal => {
                out.extend(word.chars().take_while(char::is_ascii_digit));
                i += 1;
            }
            Repeat(times) => {
                let next = words.get(i + 1)?;
                let digit = match classify_word(next)? {
                    Unit { value, .. } => char::from(b'0' + value),
                    Literal if next.len() == 1 => next.chars().next()?,
                    _ => return None,
                };
                out.extend(std::iter::repeat_n(digit, times));
                i += 2;
            }
            _ => {
                let (value, used) = cardinal(words.get(i..)?)?;
                out.push_str(&value.to_string());
                i += used;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Parses one cardinal number at the start of `words`; returns it and the words used.
/// "twenty one" is 21, "nine hundred one" is 900 then 1 (digit readings of phone numbers say
/// "nine hundred, one two three"), "nine hundred and one" is 901.
fn cardinal(words: &[&str]) -> Option<(u64, usize)> {
    use NumberWord::*;
    #[derive(PartialEq)]
    enum Last {
        Nothing,
        Unit,
        Teen,
        Tens,
        Scale,
        /// After "thousand" a plain unit continues the number ("three thousand four hundred").
        Thousand,
        ScaleAnd,
    }
    let mut total: u64 = 0;
    let mut current: u64 = 0;
    let mut last = Last::Nothing;
    let mut used = 0;
    for word in words {
        let Some(kind) = classify_word(word) else {
            break;
        };
        match (kind, &last) {
            (A, Last::Nothing) => {
                current = 1;
                last = Last::Unit;
            }
            (Unit { value, .. }, Last::Nothing) => {
                current = u64::from(value);
                last = Last::Unit;
            }
            (Unit { value, .. }, Last::Thousand) => {
                current = u64::from(value);
                last = Last::Unit;
            }
            (Unit { value, .. }, Last::Tens | Last::ScaleAnd) => {
                current += u64::from(value);
                last = Last::Unit;
            }
            (Teen(v), Last::Nothing) | (Tens(v), Last::Nothing) => {
                current = u64::from(v);
                last = if v >= 20 { Last::Tens } else { Last::Teen };
            }
            (Teen(v), Last::Scale | Last::Thousand | Last::ScaleAnd) => {
                current += u64::from(v);
                last = Last::Teen;
            }
            (Tens(v), Last::Scale | Last::Thousand | Last::ScaleAnd) => {
                current += u64::from(v);
                last = Last::Tens;
            }
            (Hundred, Last::Unit | Last::Teen | Last::Tens) if current > 0 && current < 100 => {
                current *= 100;
                last = Last::Scale;
            }
            (Thousand, Last::Unit | Last::Teen | Last::Tens | Last::Scale) if current > 0 => {
                total += current * 1000;
                current = 0;
                last = Last::Thousand;
            }
            (And, Last::Scale | Last::Thousand) => last = Last::ScaleAnd,
            _ => break,
        }
        used += 1;
    }
    // A dangling "and" is not part of the number.
    if last == Last::ScaleAnd {
        used -= 1;
    }
    (used > 0).then_some((total + current, used))
}

/// The first spoken number in the words as a digit string.
/// When the answer is nothing but digit-like words ("won ate"), they are read as digits: the
/// caller was asked for a number.
pub(crate) fn first_digits(words: &[String]) -> Option<String> {
    if let Some(run) = number_runs(words).into_iter().next() {
        return Some(run.digits);
    }
    let spoken: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !is_filler(w))
        .collect();
    let all_digits = !spoken.is_empty()
        && spoken.iter().all(|w| {
            matches!(
                classify_word(w),
                Some(NumberWord::Unit { .. } | NumberWord::Repeat(_))
            )
        });
    if all_digits {
        digits_of_run(&spoken)
    } else {
        None
    }
}

/// The digit value of a single spoken digit word or digit character, for letter-and-digit
/// spellings such as postcodes.
pub(crate) fn digit_word_value(word: &str) -> Option<u8> {
    match classify_word(word)? {
        NumberWord::Unit { value, .. } => Some(value),
        _ => None,
    }
}

/// The number of a single word that is a teen or tens ("seventeen" → 17), for postcodes.
pub(crate) fn compound_word_value(word: &str) -> Option<u8> {
    match classify_word(word)? {
        NumberWord::Teen(v) | NumberWord::Tens(v) => Some(v),
        _ => None,
    }
}

/// Whether the word is "double" or "triple": how many times the next symbol repeats.
pub(crate) fn repeat_count(word: &str) -> Option<usize> {
    match classify_word(word)? {
        NumberWord::Repeat(n) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalise::words;

    fn digits(text: &str) -> Option<String> {
        first_digits(&words(text))
    }

    #[test]
    fn spoken_digit_strings() {
        let cases = [
            ("four seven two", "472"),
            ("for seven to", "472"),
            ("four seven two nine one", "47291"),
            ("double four", "44"),
            ("triple five", "555"),
            (
                "oh seven seven double oh nine hundred one two three",
                "07700900123",
            ),
            ("zero one two", "012"),
            ("twelve hundred", "1200"),
            ("two hundred and fifty", "250"),
            ("two hundred fifty", "250"),
            ("a hundred and one", "101"),
            ("fifteen", "15"),
            ("twenty one", "21"),
            ("nineteen ninety nine", "1999"),
            ("two thousand and twenty six", "2026"),
            ("1 2 3", "123"),
            ("123", "123"),
            ("flat 4b", "4"),
            ("it's um four seven er two", "472"),
            ("won ate", "18"),
            ("nine hundred and one", "901"),
            ("three thousand four hundred and five", "3405"),
            ("two thousand and six", "2006"),
        ];
        for (text, expected) in cases {
            assert_eq!(digits(text).as_deref(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn confusable_words_alone_are_not_numbers() {
        for text in [
            "i want to pay for it",
            "oh no",
            "a bin",
            "and",
            "",
            "hundred",
            "to pay",
        ] {
            assert_eq!(digits(text), None, "{text:?}");
        }
        assert_eq!(number_runs(&words("to for")), vec![]);
    }

    #[test]
    fn runs_are_found_in_sentences() {
        let w = words("my reference number is four seven two nine one thanks");
        let runs = number_runs(&w);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].digits, "47291");
        assert_eq!((runs[0].start, runs[0].end), (4, 9));
    }

    #[test]
    fn double_without_a_digit_is_rejected() {
        assert_eq!(digits("double"), None);
        assert_eq!(digits("double seventeen"), None);
    }
}
