//! Phone numbers from spoken or typed forms ("oh seven seven double oh nine hundred one two
//! three", "+44 7700 900123", "07700 900123"), normalised: UK numbers to national form
//! ("07700900123", 10 or 11 digits starting 0), others to "+" and 8 to 15 digits (ITU-T E.164 §6).

use super::numbers::number_runs;

/// Parses a phone number from `raw` text and its normalised `words`.
pub(super) fn parse(raw: &str, words: &[String]) -> Option<String> {
    let digits: String = number_runs(words).into_iter().map(|r| r.digits).collect();
    let international =
        raw.trim_start().starts_with('+') || words.first().is_some_and(|w| w == "plus");
    if international {
        return validate(&format!("00{digits}"));
    }
    validate(&digits)
}

/// Validates a digit string (as keyed, or parsed) and normalises it. "00" starts an
/// international number; "44" followed by ten digits is a UK number missing its "+".
pub(super) fn validate(digits: &str) -> Option<String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let international = digits.strip_prefix("00").or_else(|| {
        (digits.starts_with("44") && (digits.len() == 12 || digits.len() == 13)).then_some(digits)
    });
    if let Some(number) = international {
        if let Some(national) = number.strip_prefix("44") {
            // "+44 (0)7700 900123": the trunk zero is sometimes spoken after the country code.
            let national = national.strip_prefix('0').unwrap_or(national);
            return uk(&format!("0{national}"));
        }
        return (8..=15)
            .contains(&number.len())
            .then(|| format!("+{number}"));
    }
    uk(digits)
}

/// UK national numbers: a leading 0 then 9 or 10 digits (Ofcom numbering plan).
fn uk(national: &str) -> Option<String> {
    let valid = national.starts_with('0')
        && !national.starts_with("00")
        && (10..=11).contains(&national.len());
    valid.then(|| national.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::normalise::words;

    fn phone(text: &str) -> Option<String> {
        parse(text, &words(text))
    }

    #[test]
    fn spoken_and_typed_numbers() {
        let cases = [
            (
                "oh seven seven double oh nine hundred one two three",
                "07700900123",
            ),
            ("+44 7700 900123", "07700900123"),
            ("+44 (0)7700 900123", "07700900123"),
            (
                "plus four four seven seven double oh nine oh oh one two three",
                "07700900123",
            ),
            ("07700 900123", "07700900123"),
            ("07700900123", "07700900123"),
            ("447700900123", "07700900123"),
            (
                "my number is oh one three seven five, triple eight, four two one",
                "01375888421",
            ),
            (
                "zero one three seven five um three nine oh one two three",
                "01375390123",
            ),
            ("020 7946 0000", "02079460000"),
            ("+33 1 23 45 67 89", "+33123456789"),
            ("0033 1 23 45 67 89", "+33123456789"),
        ];
        for (text, expected) in cases {
            assert_eq!(phone(text).as_deref(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn invalid_numbers_are_rejected() {
        for text in [
            "",
            "hello",
            "one two three",
            "07700 9001",
            "077009001234567",
            "7700900123",
            "+1 23",
        ] {
            assert_eq!(phone(text), None, "{text:?}");
        }
    }
}
