//! Digest authentication header values (RFC 3261 §20.27, §20.7, §22.4; RFC 2617; RFC 7616).
//!
//! Owns parsing of WWW-/Proxy-Authenticate challenges and (Proxy-)Authorization credentials.
//! Must not compute digests (the auth module does).

use std::fmt;

use super::lex::{is_token, quote, split_outside, take_quoted, trim_lws};

/// A `Digest` challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// `MD5`, `SHA-256`... as sent; `None` means MD5 (RFC 2617 §3.2.1).
    pub algorithm: Option<String>,
    /// qop options offered (`auth`, `auth-int`).
    pub qop: Vec<String>,
    pub stale: bool,
    pub domain: Option<String>,
}

/// `Digest` credentials from Authorization / Proxy-Authorization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestCredentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub qop: Option<String>,
    pub nc: Option<String>,
}

/// Splits `Scheme a=b, c="d"` into the scheme and its auth-params (values unquoted).
/// Returns `None` when the value is malformed.
pub(crate) fn parse_auth_params(s: &str) -> Option<(String, Vec<(String, String)>)> {
    let s = trim_lws(s);
    let (scheme, rest) = match s.split_once([' ', '\t']) {
        Some((sc, r)) => (sc, r),
        None => (s, ""),
    };
    if !is_token(scheme) {
        return None;
    }
    let mut params = Vec::new();
    if !trim_lws(rest).is_empty() {
        for part in split_outside(rest, b',')? {
            let part = trim_lws(part);
            let (name, value) = part.split_once('=')?;
            let name = trim_lws(name);
            let value = trim_lws(value);
            if !is_token(name) {
                return None;
            }
            let value = if value.starts_with('"') {
                let (v, tail) = take_quoted(value)?;
                if !trim_lws(tail).is_empty() {
                    return None;
                }
                v
            } else if is_token(value) || value.bytes().all(|b| b > b' ' && b != b'"') {
                value.to_string()
            } else {
                return None;
            };
            params.push((name.to_ascii_lowercase(), value));
        }
    }
    Some((scheme.to_string(), params))
}

fn take(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

impl DigestChallenge {
    /// Parses one challenge; `Ok(None)` if it is not a Digest challenge.
    pub fn parse(s: &str) -> Result<Option<DigestChallenge>, &'static str> {
        let (scheme, params) = parse_auth_params(s).ok_or("malformed challenge")?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Ok(None);
        }
        Ok(Some(DigestChallenge {
            realm: take(&params, "realm").ok_or("challenge without realm")?,
            nonce: take(&params, "nonce").ok_or("challenge without nonce")?,
            opaque: take(&params, "opaque"),
            algorithm: take(&params, "algorithm"),
            qop: take(&params, "qop")
                .map(|q| {
                    q.split(',')
                        .map(|t| trim_lws(t).to_string())
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: take(&params, "stale").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            domain: take(&params, "domain"),
        }))
    }
}

impl DigestCredentials {
    /// Parses credentials; `Ok(None)` for a non-Digest scheme (RFC 4475 §3.3.7: treat the
    /// request as if it carried no credentials).
    pub fn parse(s: &str) -> Result<Option<DigestCredentials>, &'static str> {
        let (scheme, params) = parse_auth_params(s).ok_or("malformed credentials")?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Ok(None);
        }
        Ok(Some(DigestCredentials {
            username: take(&params, "username").ok_or("credentials without username")?,
            realm: take(&params, "realm").ok_or("credentials without realm")?,
            nonce: take(&params, "nonce").ok_or("credentials without nonce")?,
            uri: take(&params, "uri").ok_or("credentials without uri")?,
            response: take(&params, "response").ok_or("credentials without response")?,
            algorithm: take(&params, "algorithm"),
            cnonce: take(&params, "cnonce"),
            opaque: take(&params, "opaque"),
            qop: take(&params, "qop"),
            nc: take(&params, "nc"),
        }))
    }
}

impl fmt::Display for DigestChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}",
            quote(&self.realm),
            quote(&self.nonce)
        )?;
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", quote(o))?;
        }
        if let Some(a) = &self.algorithm {
            write!(f, ", algorithm={a}")?;
        }
        if !self.qop.is_empty() {
            write!(f, ", qop={}", quote(&self.qop.join(",")))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

impl fmt::Display for DigestCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response)
        )?;
        if let Some(a) = &self.algorithm {
            write!(f, ", algorithm={a}")?;
        }
        if let Some(c) = &self.cnonce {
            write!(f, ", cnonce={}", quote(c))?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", quote(o))?;
        }
        // RFC 2617 §3.2.2: qop and nc are unquoted tokens.
        if let Some(q) = &self.qop {
            write!(f, ", qop={q}")?;
        }
        if let Some(n) = &self.nc {
            write!(f, ", nc={n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge() {
        let c = DigestChallenge::parse(
            r#"Digest realm="atlanta.com", domain="sip:boxesbybob.com", qop="auth,auth-int", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.realm, "atlanta.com");
        assert_eq!(c.qop, vec!["auth", "auth-int"]);
        assert_eq!(c.algorithm.as_deref(), Some("MD5"));
        assert!(!c.stale);
        let again = DigestChallenge::parse(&c.to_string()).unwrap().unwrap();
        assert_eq!(again.nonce, c.nonce);
        assert!(DigestChallenge::parse(r#"Digest realm="x""#).is_err());
        assert_eq!(DigestChallenge::parse("Basic realm=\"x\"").unwrap(), None);
    }

    #[test]
    fn credentials() {
        let c = DigestCredentials::parse(
            r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae4", opaque="5ccc""#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(c.nc.as_deref(), Some("00000001"));
        assert_eq!(
            DigestCredentials::parse(&c.to_string()).unwrap().unwrap(),
            c
        );
        assert_eq!(
            DigestCredentials::parse("NoOneKnowsThisScheme opaque-data=here").unwrap(),
            None
        );
        assert!(DigestCredentials::parse(r#"Digest username="unterminated"#).is_err());
    }
}
