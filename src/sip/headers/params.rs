//! Generic `;name=value` parameter lists (RFC 3261 §25.1 generic-param, uri-parameter).
//!
//! Owns parsing and printing of parameter lists. Names compare case-insensitively; values are
//! kept exactly as received.

use std::fmt;

use super::lex::{split_outside, take_quoted, trim_lws};

/// One parameter: `name` or `name=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

/// An ordered parameter list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// Parses the text after the first `;` (without it). Empty parameters (`;;`) are an error
    /// (RFC 4475 §3.1.2.1). LWS around `;` and `=` is allowed (RFC 3261 §25.1 SEMI, EQUAL).
    pub(crate) fn parse(s: &str) -> Option<Params> {
        let mut out = Vec::new();
        for part in split_outside(s, b';')? {
            let part = trim_lws(part);
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (trim_lws(n), Some(trim_lws(v))),
                None => (part, None),
            };
            if name.is_empty() || !name.bytes().all(is_param_name_char) {
                return None;
            }
            if let Some(v) = value {
                let valid = if v.starts_with('"') {
                    matches!(take_quoted(v), Some((_, rest)) if rest.is_empty())
                } else {
                    !v.is_empty() && v.bytes().all(is_param_value_char)
                };
                if !valid {
                    return None;
                }
            }
            out.push(Param {
                name: name.to_string(),
                value: value.map(str::to_string),
            });
        }
        Some(Params(out))
    }

    /// The value of `name`: `Some(Some(v))`, `Some(None)` for a flag parameter, `None` if absent.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// The value of `name` if it is present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// True if `name` is present (with or without value).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` (replacing an existing one in place, else appending).
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_string);
        if let Some(p) = self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            p.value = value;
        } else {
            self.0.push(Param {
                name: name.to_string(),
                value,
            });
        }
    }

    /// Removes `name`; returns whether it was present.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
        before != self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }
}

/// Writes `;name[=value]` for each parameter.
impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

fn is_param_name_char(c: u8) -> bool {
    // token plus the uri-parameter extras (RFC 3261 §25.1 paramchar: "[" "]" "/" ":" "&" "+" "$"
    // and escapes), so one parser serves header and URI parameters.
    super::lex::is_token_char(c) || matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'$')
}

fn is_param_value_char(c: u8) -> bool {
    // gen-value = token / host / quoted-string (RFC 3261 §25.1); hosts bring ':' '[' ']'.
    c > b' ' && c != 0x7f && !matches!(c, b';' | b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_values_and_lws() {
        let p = Params::parse(
            " newparam =\r newvalue ; secondparam ; q = 0.33"
                .replace('\r', "")
                .as_str(),
        )
        .unwrap();
        assert_eq!(p.value("newparam"), Some("newvalue"));
        assert_eq!(p.get("secondparam"), Some(None));
        assert_eq!(p.value("Q"), Some("0.33"));
        assert!(Params::parse(";;").is_none());
        assert!(Params::parse("a=").is_none());
    }

    #[test]
    fn set_and_display() {
        let mut p = Params::default();
        p.set("tag", Some("abc"));
        p.set("lr", None);
        p.set("TAG", Some("x"));
        assert_eq!(p.to_string(), ";tag=x;lr");
        assert!(p.remove("lr"));
        assert_eq!(p.to_string(), ";tag=x");
    }
}
