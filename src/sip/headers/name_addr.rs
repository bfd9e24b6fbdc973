//! `name-addr` / `addr-spec` header values: From, To, Contact, Route, Record-Route, Refer-To,
//! P-Asserted-Identity (RFC 3261 §20.10, §25.1).
//!
//! Owns the display-name and header-parameter grammar around a URI.

use std::fmt;

use super::Params;
use super::lex::{is_token_char, quote, take_quoted, trim_lws};
use crate::sip::uri::Uri;

/// `["display"] <uri> ;params` (or a bare addr-spec with header parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped.
    pub display: Option<String>,
    pub uri: Uri,
    /// Header parameters (`tag`, `expires`, `q`...), not URI parameters.
    pub params: Params,
}

impl NameAddr {
    /// A name-addr with no display name and no parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::default(),
        }
    }

    /// The `tag` parameter (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    /// Returns a copy with `tag` set.
    pub fn with_tag(mut self, tag: &str) -> NameAddr {
        self.params.set("tag", Some(tag));
        self
    }

    /// Parses one name-addr or addr-spec value with its header parameters.
    pub fn parse(s: &str) -> Result<NameAddr, &'static str> {
        let s = trim_lws(s);
        if s.starts_with('"') {
            let (display, rest) = take_quoted(s).ok_or("unterminated quoted display name")?;
            let rest = trim_lws(rest);
            if !rest.starts_with('<') {
                return Err("quoted display name without <URI>");
            }
            return parse_bracketed(Some(display), rest);
        }
        if let Some(open) = s.find('<') {
            let display = trim_lws(&s[..open]);
            // RFC 3261 §25.1: an unquoted display name is *(token LWS).
            let valid = display
                .bytes()
                .all(|b| is_token_char(b) || b == b' ' || b == b'\t');
            if !valid {
                return Err("display name is not a token list");
            }
            let display = (!display.is_empty()).then(|| display.to_string());
            return parse_bracketed(display, &s[open..]);
        }
        // addr-spec form: parameters after the first ';' are header parameters, and the URI
        // may not contain ',', '?' or ';' of its own (RFC 3261 §20.10).
        let (uri_str, params_str) = match s.split_once(';') {
            Some((u, p)) => (trim_lws(u), Some(p)),
            None => (s, None),
        };
        if uri_str.contains([',', '?']) {
            return Err("URI with ',' or '?' must be enclosed in <>");
        }
        let uri = Uri::parse(uri_str).map_err(|_| "bad URI")?;
        let params = match params_str {
            Some(p) => Params::parse(p).ok_or("bad parameter")?,
            None => Params::default(),
        };
        Ok(NameAddr {
            display: None,
            uri,
            params,
        })
    }
}

fn parse_bracketed(display: Option<String>, s: &str) -> Result<NameAddr, &'static str> {
    let inner_and_rest = s.strip_prefix('<').ok_or("expected <")?;
    let close = inner_and_rest.find('>').ok_or("unterminated <URI>")?;
    let uri = Uri::parse(&inner_and_rest[..close]).map_err(|_| "bad URI")?;
    let rest = trim_lws(&inner_and_rest[close + 1..]);
    let params = if rest.is_empty() {
        Params::default()
    } else {
        let p = rest.strip_prefix(';').ok_or("garbage after >")?;
        Params::parse(p).ok_or("bad parameter")?
    };
    Ok(NameAddr {
        display,
        uri,
        params,
    })
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        // Always bracket: safe whatever the URI contains (RFC 3261 §20.10).
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.display.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag(), Some("98asjd8"));
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display.as_deref(), Some("caller"));
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        assert!(n.uri.params.is_empty());
        let n = NameAddr::parse("<sip:user@example.com;transport=tcp>;expires=30").unwrap();
        assert!(n.uri.params.has("transport"));
        assert_eq!(n.params.value("expires"), Some("30"));
        assert_eq!(
            n.to_string(),
            "<sip:user@example.com;transport=tcp>;expires=30"
        );
    }

    #[test]
    fn rejects() {
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(NameAddr::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#).is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#).is_err());
        assert!(NameAddr::parse("sip:a@b, sip:c@d").is_err());
    }

    #[test]
    fn display_round_trip() {
        let n = NameAddr::parse(
            r#""Quoted string \"\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam"#,
        )
        .unwrap();
        let again = NameAddr::parse(&n.to_string()).unwrap();
        assert_eq!(n, again);
    }
}
