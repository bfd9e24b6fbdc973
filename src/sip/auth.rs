//! HTTP digest authentication for SIP requests we send (RFC 3261 §22, RFC 2617, RFC 7616).
//!
//! Owns: parsing a `WWW-Authenticate`/`Proxy-Authenticate` digest challenge, computing the
//! response (MD5, MD5-sess, SHA-256, SHA-256-sess; with or without `qop=auth`) and rendering the
//! `Authorization`/`Proxy-Authorization` header value. Must not touch: which requests get
//! retried or where credentials come from (the user agent decides that).

use md5::Md5;
use sha2::{Digest, Sha256};

/// Errors from reading a challenge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("challenge scheme is not Digest")]
    NotDigest,
    #[error("challenge lacks the {0} parameter")]
    MissingParam(&'static str),
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("challenge offers only unsupported qop values {0:?}")]
    UnsupportedQop(String),
    #[error("malformed challenge parameters")]
    Malformed,
}

/// The hash algorithm named by the challenge (RFC 7616 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl DigestAlgorithm {
    fn parse(token: &str) -> Result<Self, AuthError> {
        match token.to_ascii_uppercase().as_str() {
            "MD5" => Ok(Self::Md5),
            "MD5-SESS" => Ok(Self::Md5Sess),
            "SHA-256" => Ok(Self::Sha256),
            "SHA-256-SESS" => Ok(Self::Sha256Sess),
            _ => Err(AuthError::UnsupportedAlgorithm(token.to_string())),
        }
    }

    /// The token as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    fn hash_hex(self, data: &str) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex::encode(Md5::digest(data.as_bytes())),
            Self::Sha256 | Self::Sha256Sess => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }
}

/// A parsed digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: DigestAlgorithm,
    /// True when the server offered `qop=auth` (we never use `auth-int`).
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right (RFC 2617 §3.2.1).
    pub stale: bool,
}

impl DigestChallenge {
    /// Parses the value of a `WWW-Authenticate` or `Proxy-Authenticate` header.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let value = value.trim();
        let (scheme, rest) = value
            .split_once(|c: char| c.is_ascii_whitespace())
            .ok_or(AuthError::NotDigest)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(AuthError::NotDigest);
        }
        let params = parse_params(rest)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let realm = get("realm").ok_or(AuthError::MissingParam("realm"))?;
        let nonce = get("nonce").ok_or(AuthError::MissingParam("nonce"))?;
        let algorithm = match get("algorithm") {
            Some(a) => DigestAlgorithm::parse(&a)?,
            None => DigestAlgorithm::Md5,
        };
        // RFC 2617 §3.2.1: qop-options is a quoted, comma-separated list.
        let qop_auth = match get("qop") {
            None => false,
            Some(q) => {
                let auth = q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"));
                if !auth {
                    return Err(AuthError::UnsupportedQop(q));
                }
                true
            }
        };
        let stale = get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        Ok(DigestChallenge {
            realm,
            nonce,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
            stale,
        })
    }

    /// Computes the credentials for `method` on `uri` and renders the header value.
    /// `cnonce` must be fresh and unpredictable; `nc` counts uses of this nonce (from 1).
    pub fn authorize(
        &self,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let response = self.response(method, uri, username, password, cnonce, nc);
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            quote_escape(username),
            quote_escape(&self.realm),
            quote_escape(&self.nonce),
            quote_escape(uri),
            response,
            self.algorithm.as_str()
        );
        if self.qop_auth {
            out.push_str(&format!(
                ", qop=auth, nc={nc:08x}, cnonce=\"{}\"",
                quote_escape(cnonce)
            ));
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(&format!(", opaque=\"{}\"", quote_escape(opaque)));
        }
        out
    }

    /// The `response` value (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1).
    pub fn response(
        &self,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let alg = self.algorithm;
        let mut ha1 = alg.hash_hex(&format!("{username}:{}:{password}", self.realm));
        if alg.is_session() {
            // RFC 7616 §3.4.2: A1 for -sess is H(user:realm:pass):nonce:cnonce.
            ha1 = alg.hash_hex(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash_hex(&format!("{method}:{uri}"));
        if self.qop_auth {
            alg.hash_hex(&format!(
                "{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}",
                self.nonce
            ))
        } else {
            // RFC 2617 §3.2.2.1: without qop (RFC 2069 compatibility).
            alg.hash_hex(&format!("{ha1}:{}:{ha2}", self.nonce))
        }
    }
}

fn quote_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Parses `name=value, name="quoted value"` lists (RFC 7235 §2.1 auth-param).
fn parse_params(input: &str) -> Result<Vec<(String, String)>, AuthError> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || name.is_empty() {
            return Err(AuthError::Malformed);
        }
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.push(chars.next().ok_or(AuthError::Malformed)?),
                    '"' => {
                        closed = true;
                        break;
                    }
                    other => value.push(other),
                }
            }
            if !closed {
                return Err(AuthError::Malformed);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_md5_qop_auth() {
        // RFC 2617 §3.5.
        let ch = DigestChallenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(ch.qop_auth);
        let r = ch.response(
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            "0a4f113b",
            1,
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_examples_md5_and_sha256() {
        // RFC 7616 §3.9.1.
        let base = "realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
                    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let md5 = DigestChallenge::parse(&format!("Digest {base}, algorithm=MD5")).unwrap();
        assert_eq!(
            md5.response(
                "GET",
                "/dir/index.html",
                "Mufasa",
                "Circle of Life",
                cnonce,
                1
            ),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        let sha = DigestChallenge::parse(&format!("Digest {base}, algorithm=SHA-256")).unwrap();
        assert_eq!(
            sha.response(
                "GET",
                "/dir/index.html",
                "Mufasa",
                "Circle of Life",
                cnonce,
                1
            ),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn no_qop_uses_rfc2069_form_and_header_omits_qop() {
        let ch = DigestChallenge::parse("Digest realm=\"asterisk\",nonce=\"abc\"").unwrap();
        assert_eq!(ch.algorithm, DigestAlgorithm::Md5);
        let ha1 = hex::encode(Md5::digest(b"u:asterisk:p"));
        let ha2 = hex::encode(Md5::digest(b"INVITE:sip:1@h"));
        let expect = hex::encode(Md5::digest(format!("{ha1}:abc:{ha2}").as_bytes()));
        assert_eq!(ch.response("INVITE", "sip:1@h", "u", "p", "x", 1), expect);
        let header = ch.authorize("INVITE", "sip:1@h", "u", "p", "x", 1);
        assert!(!header.contains("qop"));
        assert!(header.starts_with("Digest username=\"u\""));
    }

    #[test]
    fn md5_sess_hashes_nonce_and_cnonce_into_ha1() {
        let ch = DigestChallenge::parse(
            "Digest realm=\"r\", nonce=\"n\", qop=\"auth\", algorithm=MD5-sess",
        )
        .unwrap();
        let ha1 = hex::encode(Md5::digest(
            format!("{}:n:c", hex::encode(Md5::digest(b"u:r:p"))).as_bytes(),
        ));
        let ha2 = hex::encode(Md5::digest(b"BYE:sip:x"));
        let expect = hex::encode(Md5::digest(
            format!("{ha1}:n:00000001:c:auth:{ha2}").as_bytes(),
        ));
        assert_eq!(ch.response("BYE", "sip:x", "u", "p", "c", 1), expect);
        let header = ch.authorize("BYE", "sip:x", "u", "p", "c", 1);
        assert!(header.contains("nc=00000001"));
        assert!(header.contains("algorithm=MD5-sess"));
    }

    #[test]
    fn rejects_bad_challenges_without_panicking() {
        assert_eq!(
            DigestChallenge::parse("Basic realm=\"x\""),
            Err(AuthError::NotDigest)
        );
        assert_eq!(
            DigestChallenge::parse("Digest nonce=\"n\""),
            Err(AuthError::MissingParam("realm"))
        );
        assert_eq!(
            DigestChallenge::parse("Digest realm=\"r"),
            Err(AuthError::Malformed)
        );
        assert!(matches!(
            DigestChallenge::parse("Digest realm=r, nonce=n, algorithm=SHA-512-256"),
            Err(AuthError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            DigestChallenge::parse("Digest realm=r, nonce=n, qop=\"auth-int\""),
            Err(AuthError::UnsupportedQop(_))
        ));
        assert_eq!(DigestChallenge::parse("Digest"), Err(AuthError::NotDigest));
        assert_eq!(
            DigestChallenge::parse("Digest ="),
            Err(AuthError::Malformed)
        );
    }
}
