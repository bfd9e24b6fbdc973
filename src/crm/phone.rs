//! One stored form for a caller's number: E.164 (ITU-T E.164 §6: `+`, country code, national
//! significant number, at most 15 digits), so that `07700 900123`, `+44 7700 900123`,
//! `00447700900123` and `sip:07700900123@pbx` are the same caller to storage, export, erasure
//! and returning-caller look-ups.
//!
//! Owns only the text transformation. Numbers that cannot be normalised (withheld,
//! `anonymous`, short codes such as `999`, anything with letters) are kept as given, trimmed:
//! they still match themselves exactly.

/// The shortest national significant number taken for a phone number (shorter digit strings
/// are short codes or extensions). ITU-T E.164 numbers in use have at least 7 digits after
/// the country code in practice.
const MIN_NATIONAL_DIGITS: usize = 7;
/// ITU-T E.164 §6.1: at most 15 digits in all, country code included.
const MAX_E164_DIGITS: usize = 15;
/// The shortest bare digit string (no `+`, `00` or trunk `0`) taken as an international
/// number when it starts with the national country code, e.g. `447700900123` from a PBX that
/// drops the `+`.
const MIN_BARE_INTERNATIONAL_DIGITS: usize = 10;

/// How national numbers are written where Frontdoor runs: the country code that a trunk
/// prefix `0` stands for. International numbers (`+…`, `00…`) are taken as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneNumbering {
    /// ITU-T E.164 country code of national numbers, e.g. 44 for the United Kingdom.
    pub country_code: u16,
}

impl Default for PhoneNumbering {
    fn default() -> Self {
        PhoneNumbering { country_code: 44 }
    }
}

impl PhoneNumbering {
    /// A numbering plan with this country code (1 to 999; anything else falls back to 44).
    pub fn with_country_code(country_code: u16) -> Self {
        if (1..=999).contains(&country_code) {
            PhoneNumbering { country_code }
        } else {
            PhoneNumbering::default()
        }
    }

    /// The stored form of `raw`: E.164 when it is a phone number in any usual spelling (a
    /// `tel:` or `sip:` URI's user part included), otherwise `raw` trimmed.
    pub fn normalise(&self, raw: &str) -> String {
        let trimmed = raw.trim();
        self.e164_of(trimmed).unwrap_or_else(|| trimmed.to_string())
    }

    /// E.164 digits of `text` (without the `+`), when it is a normalisable number.
    pub(crate) fn e164_digits(&self, text: &str) -> Option<String> {
        self.e164_of(text.trim())
            .map(|n| n.trim_start_matches('+').to_string())
    }

    fn e164_of(&self, trimmed: &str) -> Option<String> {
        let number = uri_user_part(trimmed);
        let (plus, digits) = dial_string(number)?;
        let cc = self.country_code.to_string();
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            // The international prefix of the UK and most of Europe (ITU-T E.164 Annex A).
            rest.to_string()
        } else if let Some(national) = digits.strip_prefix('0') {
            if national.len() < MIN_NATIONAL_DIGITS {
                return None;
            }
            format!("{cc}{national}")
        } else if digits.starts_with(&cc) && digits.len() >= MIN_BARE_INTERNATIONAL_DIGITS {
            digits
        } else {
            return None;
        };
        // `+44 (0)20 …`: the trunk prefix written after the country code is not dialled.
        let international = match international.strip_prefix(&cc) {
            Some(rest) if rest.starts_with('0') => format!("{cc}{}", &rest[1..]),
            _ => international,
        };
        let plausible = international.len() <= MAX_E164_DIGITS
            && international.len() > MIN_NATIONAL_DIGITS
            && !international.starts_with('0');
        plausible.then(|| format!("+{international}"))
    }
}

/// The user part of a `tel:`, `sip:` or `sips:` URI (RFC 3966 §3, RFC 3261 §19.1.1), without
/// parameters, optionally in `<…>`; any other text as it is.
fn uri_user_part(text: &str) -> &str {
    let text = text
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(text);
    let lower = text
        .get(..5)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let rest = if lower.starts_with("tel:") {
        &text[4..]
    } else if lower.starts_with("sips:") {
        &text[5..]
    } else if lower.starts_with("sip:") {
        &text[4..]
    } else {
        return text;
    };
    let user = rest.split('@').next().unwrap_or(rest);
    user.split(';').next().unwrap_or(user).trim()
}

/// A dial string without its visual separators (RFC 3966 §5.1.1: `-`, `.`, `(`, `)`, and
/// spaces as people write them): whether it started with `+`, and its digits. `None` when it
/// holds anything else (letters, `*`, `#`) or no digits.
fn dial_string(text: &str) -> Option<(bool, String)> {
    let (plus, body) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut digits = String::with_capacity(body.len());
    for c in body.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return None,
        }
    }
    (!digits.is_empty()).then_some((plus, digits))
}

/// What stands in for an erased number inside free text and JSON.
pub(crate) const ERASED: &str = "[erased]";

/// `text` with every written form of the number whose E.164 digits are `target` replaced by
/// [`ERASED`]; `None` when it holds none. A form is a run of digits and separators (`+`,
/// spaces, `-`, `.`, `(`, `)`, `/`) that normalises to `target`, or a run of digits whose
/// tail is the national significant number (`…7700900123`).
pub(crate) fn redact_number(
    text: &str,
    target: &str,
    numbering: &PhoneNumbering,
) -> Option<String> {
    let national = national_significant(target, numbering);
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit() || c == '+') {
        out.push_str(&rest[..start]);
        let run_len = rest[start..]
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_digit()
                    || matches!(c, ' ' | '-' | '.' | '(' | ')' | '/')
                    || (c == '+' && i == 0))
            })
            .map_or(rest.len() - start, |(i, _)| i);
        let run = &rest[start..start + run_len];
        // Separators at the end belong to the surrounding text.
        let run = run.trim_end_matches([' ', '-', '.', '(', ')', '/']);
        let digits: String = run.chars().filter(char::is_ascii_digit).collect();
        let matches = numbering.e164_digits(run).as_deref() == Some(target)
            || (!national.is_empty()
                && digits.ends_with(national)
                && digits.len() <= MAX_E164_DIGITS + 2);
        if matches {
            out.push_str(ERASED);
            changed = true;
        } else {
            out.push_str(run);
        }
        rest = &rest[start + run.len()..];
        if run.is_empty() {
            // A lone `+` or separator: copy it and move on.
            let c = rest.chars().next().map_or(0, char::len_utf8);
            out.push_str(&rest[..c]);
            rest = &rest[c..];
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The national significant number of E.164 digits in the configured country (the digits
/// after the country code), or all of them for another country's number.
pub(crate) fn national_significant<'a>(target: &'a str, numbering: &PhoneNumbering) -> &'a str {
    target
        .strip_prefix(&numbering.country_code.to_string())
        .unwrap_or(target)
}

/// Every string inside a JSON value with the number redacted (keys included); whether any
/// changed.
pub(crate) fn redact_number_in_json(
    value: &mut serde_json::Value,
    target: &str,
    numbering: &PhoneNumbering,
) -> bool {
    match value {
        serde_json::Value::String(s) => match redact_number(s, target, numbering) {
            Some(r) => {
                *s = r;
                true
            }
            None => false,
        },
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            if redact_number(&text, target, numbering).is_some() {
                *value = serde_json::Value::String(ERASED.into());
                true
            } else {
                false
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |acc, v| {
            redact_number_in_json(v, target, numbering) | acc
        }),
        serde_json::Value::Object(map) => {
            let old = std::mem::take(map);
            let mut changed = false;
            for (k, mut v) in old {
                changed |= redact_number_in_json(&mut v, target, numbering);
                let key = match redact_number(&k, target, numbering) {
                    Some(r) => {
                        changed = true;
                        r
                    }
                    None => k,
                };
                map.insert(key, v);
            }
            changed
        }
        serde_json::Value::Bool(_) | serde_json::Value::Null => false,
    }
}

/// A JSON document (stored as text) with the number redacted, re-serialised; `None` when it
/// did not hold the number. Text that is not JSON is redacted as plain text.
pub(crate) fn redact_number_in_json_text(
    text: &str,
    target: &str,
    numbering: &PhoneNumbering,
) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(mut v) => redact_number_in_json(&mut v, target, numbering)
            .then(|| serde_json::to_string(&v).ok())
            .flatten(),
        Err(_) => redact_number(text, target, numbering),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uk(raw: &str) -> String {
        PhoneNumbering::default().normalise(raw)
    }

    #[test]
    fn uk_spellings_are_one_number() {
        for raw in [
            "07700 900123",
            "07700900123",
            "+44 7700 900123",
            "+447700900123",
            "00447700900123",
            "0044 7700 900123",
            "447700900123",
            "+44 (0)7700 900123",
            "(07700) 900-123",
            "tel:+44-7700-900123",
            "TEL:+44.7700.900123;phone-context=example.org",
            "sip:07700900123@pbx",
            "sip:+447700900123@pbx.council.example;user=phone",
            "sips:00447700900123@pbx",
            "<sip:07700900123@pbx>",
            "  07700 900123  ",
        ] {
            assert_eq!(uk(raw), "+447700900123", "{raw:?}");
        }
        assert_eq!(uk("020 7946 0018"), "+442079460018");
    }

    #[test]
    fn international_numbers_keep_their_country() {
        assert_eq!(uk("+33 1 23 45 67 89"), "+33123456789");
        assert_eq!(uk("0033123456789"), "+33123456789");
        assert_eq!(uk("tel:+1-202-555-0143"), "+12025550143");
        assert_eq!(uk("+353 1 234 5678"), "+35312345678");
        let fr = PhoneNumbering::with_country_code(33);
        assert_eq!(fr.normalise("01 23 45 67 89"), "+33123456789");
        assert_eq!(fr.normalise("07700 900123"), "+337700900123");
        assert_eq!(
            PhoneNumbering::with_country_code(0),
            PhoneNumbering::default()
        );
    }

    #[test]
    fn what_is_not_a_number_is_kept_trimmed() {
        for (raw, kept) in [
            ("anonymous", "anonymous"),
            (" Withheld ", "Withheld"),
            ("unknown", "unknown"),
            ("999", "999"),
            ("101", "101"),
            ("0800", "0800"),
            ("*86", "*86"),
            ("1234#", "1234#"),
            ("alice", "alice"),
            ("sip:alice@example.org", "sip:alice@example.org"),
            ("07700 9OO123", "07700 9OO123"),
            ("+", "+"),
            ("", ""),
            ("   ", ""),
            ("+4412345678901234567", "+4412345678901234567"),
            ("900123", "900123"),
        ] {
            assert_eq!(uk(raw), kept, "{raw:?}");
        }
    }

    #[test]
    fn normalising_is_idempotent() {
        for raw in [
            "07700 900123",
            "anonymous",
            "+33123456789",
            "999",
            "sip:x@y",
        ] {
            let once = uk(raw);
            assert_eq!(uk(&once), once);
        }
    }

    #[test]
    fn redacts_every_written_form_in_text() {
        let n = PhoneNumbering::default();
        let target = "447700900123";
        let text = "call me on 07700 900123 or +44 7700 900123, ref 12, tel:00447700900123.";
        let out = redact_number(text, target, &n);
        assert_eq!(
            out.as_deref(),
            Some("call me on [erased] or [erased], ref 12, tel:[erased].")
        );
        assert_eq!(redact_number("other 07700 900999", target, &n), None);
        assert_eq!(redact_number("no digits here", target, &n), None);
    }

    #[test]
    fn redacts_inside_json() {
        let n = PhoneNumbering::default();
        let text = r#"{"callback":"07700900123","n":447700900123,"list":["x","+447700900123"],"ok":"AB1 2CD"}"#;
        let out = redact_number_in_json_text(text, "447700900123", &n).unwrap_or_default();
        assert!(!out.contains("7700900123"), "{out}");
        assert!(out.contains("AB1 2CD"), "{out}");
        assert_eq!(
            redact_number_in_json_text(r#"{"a":"b"}"#, "447700900123", &n),
            None
        );
    }
}
