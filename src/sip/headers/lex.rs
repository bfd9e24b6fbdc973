//! Lexical helpers shared by the header-value grammars (RFC 3261 §25.1).
//!
//! Owns tokens, quoted strings, list splitting and parameter splitting. Knows nothing about any
//! particular header.

/// RFC 3261 §25.1 `token` character.
pub(crate) fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True if `s` is a non-empty RFC 3261 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// RFC 3261 §25.1 LWS: after unfolding only SP and HTAB remain.
pub(crate) fn trim_lws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Splits on `sep` outside quoted strings and `<...>` (RFC 3261 §7.3.1: comma-separated lists
/// of header values; `;` parameters). Returns `None` for an unterminated quote or bracket.
pub(crate) fn split_outside(s: &str, sep: u8) -> Option<Vec<&str>> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if in_quote {
            match c {
                // RFC 3261 §25.1 quoted-pair: the escaped octet never ends the string.
                b'\\' => i += 1,
                b'"' => in_quote = false,
                _ => {}
            }
        } else if in_angle {
            if c == b'>' {
                in_angle = false;
            }
        } else if c == b'"' {
            in_quote = true;
        } else if c == b'<' {
            in_angle = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    if in_quote || in_angle {
        return None;
    }
    parts.push(&s[start..]);
    Some(parts)
}

/// Reads a quoted string starting at `s[0] == '"'`. Returns the unescaped content and the rest
/// after the closing quote, or `None` if it is unterminated (RFC 4475 §3.1.2.6).
pub(crate) fn take_quoted(s: &str) -> Option<(String, &str)> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let escaped = *bytes.get(i + 1)?;
                // RFC 3261 §25.1: quoted-pair excludes CR and LF.
                if escaped == b'\r' || escaped == b'\n' {
                    return None;
                }
                out.push(escaped);
                i += 2;
            }
            b'"' => {
                let text = String::from_utf8(out).ok()?;
                return Some((text, &s[i + 1..]));
            }
            b'\r' | b'\n' => return None,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    None
}

/// Quotes `s` as an RFC 3261 quoted-string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Parses a decimal number of at most `max_digits` digits into u64 (leading zeros allowed,
/// RFC 4475 §3.1.1.1). No sign, no whitespace.
pub(crate) fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: u64 = 0;
    for b in s.bytes() {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if value > max {
            return None;
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_angles() {
        let parts = split_outside(r#""a,b" <sip:x;y,z>, c"#, b',').unwrap();
        assert_eq!(parts, vec![r#""a,b" <sip:x;y,z>"#, " c"]);
        assert!(split_outside("\"open", b',').is_none());
        assert!(split_outside("<open", b',').is_none());
    }

    #[test]
    fn quoted_strings() {
        let (text, rest) = take_quoted(r#""J Rosenberg \\\"" <x>"#).unwrap();
        assert_eq!(text, r#"J Rosenberg \""#);
        assert_eq!(rest, " <x>");
        assert!(take_quoted("\"unterminated").is_none());
        assert_eq!(quote(r#"a"b\"#), r#""a\"b\\""#);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("0009", u64::from(u32::MAX)), Some(9));
        assert_eq!(
            parse_decimal("36893488147419103232", u64::from(u32::MAX)),
            None
        );
        assert_eq!(parse_decimal("-1", 10), None);
        assert_eq!(parse_decimal("", 10), None);
    }
}
