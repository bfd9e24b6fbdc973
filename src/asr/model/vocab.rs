//! Whisper's BPE vocabulary as whisper.cpp wants it: raw token bytes. `vocabulary.txt` (from
//! CTranslate2) holds one token a line in GPT-2's byte-level alphabet, where each byte is drawn
//! as a printable character; this module maps those characters back to bytes.

use super::ModelError;

/// The token that ends the regular BPE vocabulary; whisper.cpp adds it and all later (special)
/// tokens itself.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves; the other 68
/// bytes are drawn, in byte order, as the characters U+0100 onwards.
fn is_printable(b: u32) -> bool {
    (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
}

/// The byte a GPT-2 byte-level character stands for.
fn char_to_byte(c: char) -> Option<u8> {
    let u = u32::from(c);
    if is_printable(u) {
        return u8::try_from(u).ok();
    }
    let n = usize::try_from(u.checked_sub(256)?).ok()?;
    (0u32..256)
        .filter(|&b| !is_printable(b))
        .nth(n)
        .and_then(|b| u8::try_from(b).ok())
}

/// Decodes one GPT-2 byte-level token string into its bytes.
pub fn token_bytes(token: &str) -> Result<Vec<u8>, ModelError> {
    token
        .chars()
        .map(|c| {
            char_to_byte(c).ok_or_else(|| {
                ModelError::Vocabulary(format!(
                    "character {c:?} in token {token:?} is not a GPT-2 byte"
                ))
            })
        })
        .collect()
}

/// Parses `vocabulary.txt` and returns the regular tokens (those before `<|endoftext|>`) as bytes.
pub fn regular_tokens(vocabulary: &str) -> Result<Vec<Vec<u8>>, ModelError> {
    let mut tokens = Vec::new();
    for line in vocabulary.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == END_OF_TEXT {
            return Ok(tokens);
        }
        tokens.push(token_bytes(line)?);
    }
    Err(ModelError::Vocabulary(format!("no {END_OF_TEXT} line")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_gpt2_characters_back_to_bytes() {
        assert_eq!(token_bytes("Ġthe").unwrap(), b" the");
        assert_eq!(token_bytes("Ċ").unwrap(), b"\n");
        assert_eq!(token_bytes("!").unwrap(), b"!");
        // "Ã©" is the byte pair of UTF-8 "é".
        assert_eq!(token_bytes("Ã©").unwrap(), "é".as_bytes());
        assert!(token_bytes("\u{4e00}").is_err());
    }

    #[test]
    fn stops_at_end_of_text() {
        let v = "a\nĠb\n<|endoftext|>\n<|startoftranscript|>\n";
        assert_eq!(
            regular_tokens(v).unwrap(),
            vec![b"a".to_vec(), b" b".to_vec()]
        );
        assert!(regular_tokens("a\nb\n").is_err());
    }

    #[test]
    fn every_byte_has_exactly_one_character() {
        let mut seen = [false; 256];
        for u in (0x21u32..0x100).chain(0x100..0x144) {
            if let Some(b) = char::from_u32(u).and_then(char_to_byte) {
                assert!(!seen[usize::from(b)], "byte {b} twice");
                seen[usize::from(b)] = true;
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}
