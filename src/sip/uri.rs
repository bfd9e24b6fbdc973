//! SIP, SIPS and TEL URIs (RFC 3261 §19.1, §25.1; RFC 3966; RFC 5118 IPv6 references).
//!
//! Owns URI parsing, printing and the RFC 3261 §19.1.4 comparison. Other schemes are kept
//! opaque with their scheme name so the UAS can answer 416 (RFC 3261 §8.2.2.1). Must not touch
//! header-level parameters (those belong to `headers`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::ParseError;
use super::headers::Params;

/// A URI scheme, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Any other scheme (`http`, `im`, `kingsley`...), lower-cased.
    Other(String),
}

impl Scheme {
    pub fn as_str(&self) -> &str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// The host of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as received (compare case-insensitively).
    Domain(String),
    Ipv4(Ipv4Addr),
    /// Printed in brackets (RFC 3261 §25.1 IPv6reference).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Parses `host` as it appears in a URI or Via: domain, IPv4, or `[IPv6]`. `allow_bare_v6`
    /// accepts an IPv6 literal without brackets (Via `received`, RFC 5118 §4.5).
    pub fn parse(s: &str, allow_bare_v6: bool) -> Option<Host> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            return parse_ipv6_tolerant(inner).map(Host::Ipv6);
        }
        if allow_bare_v6 && s.contains(':') {
            return parse_ipv6_tolerant(s).map(Host::Ipv6);
        }
        if s.is_empty() {
            return None;
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            // RFC 3261 §25.1: a toplabel starts with a letter, so an all-numeric host must be an
            // IPv4 address.
            return s.parse::<Ipv4Addr>().ok().map(Host::Ipv4);
        }
        let valid = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && !s.starts_with('.')
            && !s.starts_with('-');
        valid.then(|| Host::Domain(s.to_string()))
    }

    /// The address if the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::Ipv4(a) => Some(IpAddr::V4(*a)),
            Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// Case-insensitive host comparison (RFC 3261 §19.1.4).
    pub fn matches(&self, other: &Host) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(a) => Host::Ipv4(a),
            IpAddr::V6(a) => Host::Ipv6(a),
        }
    }
}

/// RFC 5118 §4.10: RFC 3261's ABNF wrongly allowed `::::` / `:::` before an embedded IPv4
/// address; implementations must tolerate it (but never generate it).
fn parse_ipv6_tolerant(s: &str) -> Option<Ipv6Addr> {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some(a);
    }
    if s.contains(":::") && s.contains('.') {
        return s.replacen(":::", "::", 1).parse().ok();
    }
    None
}

/// A parsed URI. For `sip`/`sips` every field is meaningful; for `tel` the number is in `user`
/// and `host` is an empty domain; other schemes keep everything after `scheme:` in `opaque`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub scheme: Scheme,
    /// User part as received, still percent-escaped (see [`Uri::user_decoded`]).
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    /// uri-parameters (`;transport=tcp;lr`).
    pub params: Params,
    /// URI headers (`?Route=...&Subject=...`), raw name and escaped value.
    pub headers: Vec<(String, String)>,
    /// Everything after `scheme:` for schemes we do not parse.
    pub opaque: Option<String>,
}

impl Uri {
    /// A `sip:` URI with the given user and host.
    pub fn sip(user: Option<&str>, host: Host, port: Option<u16>) -> Uri {
        Uri {
            scheme: Scheme::Sip,
            user: user.map(escape_user),
            password: None,
            host,
            port,
            params: Params::default(),
            headers: Vec::new(),
            opaque: None,
        }
    }

    /// Parses an absolute URI (RFC 3261 §25.1 `SIP-URI / SIPS-URI / absoluteURI`).
    pub fn parse(s: &str) -> Result<Uri, ParseError> {
        if s.bytes()
            .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
        {
            return Err(ParseError::BadUri("illegal character"));
        }
        let (scheme, rest) = s.split_once(':').ok_or(ParseError::BadUri("no scheme"))?;
        let mut chars = scheme.bytes();
        let scheme_ok = chars.next().is_some_and(|b| b.is_ascii_alphabetic())
            && chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(ParseError::BadUri("bad scheme"));
        }
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "sip" => Scheme::Sip,
            "sips" => Scheme::Sips,
            "tel" => Scheme::Tel,
            other => Scheme::Other(other.to_string()),
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => parse_sip(scheme, rest),
            Scheme::Tel => parse_tel(rest),
            Scheme::Other(_) => {
                if rest.is_empty() {
                    return Err(ParseError::BadUri("empty URI"));
                }
                Ok(Uri {
                    scheme,
                    user: None,
                    password: None,
                    host: Host::Domain(String::new()),
                    port: None,
                    params: Params::default(),
                    headers: Vec::new(),
                    opaque: Some(rest.to_string()),
                })
            }
        }
    }

    /// True for `sip:` and `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part with `%HH` escapes decoded (RFC 3261 §19.1.2). `%00` decodes to NUL;
    /// bytes that are not UTF-8 are replaced.
    pub fn user_decoded(&self) -> Option<String> {
        self.user
            .as_deref()
            .map(|u| String::from_utf8_lossy(&unescape(u)).into_owned())
    }

    /// The `transport` uri-parameter, lower-cased.
    pub fn transport(&self) -> Option<String> {
        self.params.value("transport").map(str::to_ascii_lowercase)
    }

    /// RFC 3261 §19.1.4 URI equivalence.
    pub fn equivalent(&self, other: &Uri) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if !self.is_sip() {
            return match (&self.opaque, &other.opaque) {
                (Some(a), Some(b)) => unescape(a) == unescape(b),
                _ => {
                    self.user.as_deref().map(unescape) == other.user.as_deref().map(unescape)
                        && params_equivalent(&self.params, &other.params)
                }
            };
        }
        // Userinfo is case-sensitive, compared after unescaping.
        self.user.as_deref().map(unescape) == other.user.as_deref().map(unescape)
            && self.password.as_deref().map(unescape) == other.password.as_deref().map(unescape)
            && self.host.matches(&other.host)
            // An explicit default port is NOT equal to an absent port.
            && self.port == other.port
            && params_equivalent(&self.params, &other.params)
            && headers_equivalent(&self.headers, &other.headers)
    }
}

fn params_equivalent(a: &Params, b: &Params) -> bool {
    // These parameters must match if either URI has them.
    for name in ["user", "ttl", "method", "maddr", "transport"] {
        let va = a.get(name).map(|v| v.map(unescape_lower));
        let vb = b.get(name).map(|v| v.map(unescape_lower));
        if va != vb {
            return false;
        }
    }
    // Any other parameter is compared only when both URIs carry it.
    a.iter().all(|pa| match b.get(&pa.name) {
        Some(vb) => pa.value.as_deref().map(unescape_lower) == vb.map(unescape_lower),
        None => true,
    })
}

fn headers_equivalent(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let find = |list: &[(String, String)], name: &str| {
        list.iter()
            .find(|(n, _)| unescape_lower(n) == unescape_lower(name))
            .map(|(_, v)| unescape(v))
    };
    a.len() == b.len() && a.iter().all(|(n, v)| find(b, n) == Some(unescape(v)))
}

fn unescape_lower(s: &str) -> Vec<u8> {
    unescape(s).to_ascii_lowercase()
}

/// Decodes `%HH` escapes; a `%` not followed by two hex digits is kept literally.
pub fn unescape(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (
            bytes.get(i + 1).and_then(|c| hex_val(*c)),
            bytes.get(i + 2).and_then(|c| hex_val(*c)),
        );
        if let (b'%', (Some(h), Some(l))) = (bytes[i], escape) {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Escapes a user part for printing (RFC 3261 §25.1 user: unreserved / escaped / user-unreserved).
pub fn escape_user(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Every `%` starts a valid escape.
fn escapes_valid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || (bytes.get(i + 1).and_then(|c| hex_val(*c)).is_some()
                && bytes.get(i + 2).and_then(|c| hex_val(*c)).is_some())
    })
}

fn parse_sip(scheme: Scheme, rest: &str) -> Result<Uri, ParseError> {
    // '@' cannot occur unescaped in host, params or headers, so the first one ends userinfo.
    let (userinfo, hostpart) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, password) = match u.split_once(':') {
                Some((user, pw)) => (user, Some(pw)),
                None => (u, None),
            };
            let user_ok = !user.is_empty()
                && escapes_valid(user)
                && user.bytes().all(|b| {
                    is_unreserved(b)
                        || matches!(
                            b,
                            b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
                        )
                });
            if !user_ok {
                return Err(ParseError::BadUri("bad user part"));
            }
            if let Some(pw) = password {
                let pw_ok = escapes_valid(pw)
                    && pw.bytes().all(|b| {
                        is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
                    });
                if !pw_ok {
                    return Err(ParseError::BadUri("bad password"));
                }
            }
            (Some(user.to_string()), password.map(str::to_string))
        }
    };
    let (before_headers, headers_str) = match hostpart.split_once('?') {
        Some((a, h)) => (a, Some(h)),
        None => (hostpart, None),
    };
    let (hostport, params_str) = match before_headers.split_once(';') {
        Some((a, p)) => (a, Some(p)),
        None => (before_headers, None),
    };
    let (host_str, port_str) = split_hostport(hostport)?;
    let host = Host::parse(host_str, false).ok_or(ParseError::BadUri("bad host"))?;
    let port = match port_str {
        None => None,
        Some(p) => Some(
            super::headers::lex::parse_decimal(p, u64::from(u16::MAX))
                .and_then(|v| u16::try_from(v).ok())
                .ok_or(ParseError::BadUri("bad port"))?,
        ),
    };
    let params = match params_str {
        None => Params::default(),
        Some(p) => {
            if !escapes_valid(p) {
                return Err(ParseError::BadUri("bad escape in parameters"));
            }
            Params::parse(p).ok_or(ParseError::BadUri("bad uri-parameter"))?
        }
    };
    let headers = match headers_str {
        None => Vec::new(),
        Some(h) => parse_uri_headers(h)?,
    };
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
        opaque: None,
    })
}

/// Splits `host[:port]`, honouring IPv6 brackets (RFC 5118 §4.3: `[2001:db8::10:5070]` has no
/// port).
fn split_hostport(s: &str) -> Result<(&str, Option<&str>), ParseError> {
    if s.starts_with('[') {
        let close = s
            .find(']')
            .ok_or(ParseError::BadUri("unterminated IPv6 reference"))?;
        let (host, after) = s.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(ParseError::BadUri("garbage after IPv6 reference")),
            },
        };
    }
    match s.split_once(':') {
        Some((h, p)) => Ok((h, Some(p))),
        None => Ok((s, None)),
    }
}

fn parse_uri_headers(s: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    for pair in s.split('&') {
        let (name, value) = pair
            .split_once('=')
            .ok_or(ParseError::BadUri("bad URI header"))?;
        if name.is_empty() || !escapes_valid(name) || !escapes_valid(value) {
            return Err(ParseError::BadUri("bad URI header"));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// RFC 3966: `tel:+44-20-7946-0000;phone-context=...`.
fn parse_tel(rest: &str) -> Result<Uri, ParseError> {
    let (number, params) = match rest.split_once(';') {
        Some((n, p)) => (
            n,
            Params::parse(p).ok_or(ParseError::BadUri("bad tel parameter"))?,
        ),
        None => (rest, Params::default()),
    };
    let number_ok = !number.is_empty()
        && number.bytes().all(|b| {
            b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
        });
    if !number_ok {
        return Err(ParseError::BadUri("bad telephone number"));
    }
    Ok(Uri {
        scheme: Scheme::Tel,
        user: Some(number.to_string()),
        password: None,
        host: Host::Domain(String::new()),
        port: None,
        params,
        headers: Vec::new(),
        opaque: None,
    })
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if let Some(opaque) = &self.opaque {
            return f.write_str(opaque);
        }
        if self.scheme == Scheme::Tel {
            if let Some(number) = &self.user {
                f.write_str(number)?;
            }
            return write!(f, "{}", self.params);
        }
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(pw) = &self.password {
                write!(f, ":{pw}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.params)?;
        for (i, (name, value)) in self.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{name}={value}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        Uri::parse(s).unwrap()
    }

    #[test]
    fn parses_full_sip_uri() {
        let u = uri(
            "sips:alice:secret@Atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent",
        );
        assert_eq!(u.scheme, Scheme::Sips);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::Domain("Atlanta.com".into()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport().as_deref(), Some("tcp"));
        assert!(u.params.has("lr"));
        assert_eq!(u.headers.len(), 2);
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@Atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent"
        );
    }

    #[test]
    fn ipv6_references() {
        let u = uri("sip:user@[2001:db8::10]:5070");
        assert_eq!(u.host, Host::Ipv6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        // RFC 5118 §4.3: no port inside the brackets.
        let u = uri("sip:user@[2001:db8::10:5070]");
        assert_eq!(u.port, None);
        assert_eq!(u.to_string(), "sip:user@[2001:db8::10:5070]");
        // RFC 5118 §4.2: bare IPv6 in a SIP URI is malformed.
        assert!(Uri::parse("sip:user@2001:db8::10").is_err());
        // RFC 5118 §4.10: tolerate the 3-colon form.
        let u = uri("sip:user@[2001:db8:::192.0.2.1]");
        assert_eq!(u.host, Host::Ipv6("2001:db8::192.0.2.1".parse().unwrap()));
        let u = uri("sip:user@[::ffff:192.0.2.2]");
        assert!(matches!(u.host, Host::Ipv6(_)));
    }

    #[test]
    fn escaped_user_parts() {
        let u = uri("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(u.user_decoded().as_deref(), Some("sips:user@example.com"));
        let u = uri("sip:null-%00-null@example.com");
        assert_eq!(u.user_decoded().as_deref(), Some("null-\0-null"));
        let u = uri("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u%40example.net"));
        assert!(Uri::parse("sip:bad%zzuser@example.com").is_err());
        assert_eq!(escape_user("I have spaces"), "I%20have%20spaces");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip: user@example.com",
            "sip:user@",
            "sip:user@host:99999",
            "sip:user@host:",
            "sip:user@host;;lr",
            "1sip:x",
            "sip:user@[2001:db8::1",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn other_schemes_are_kept() {
        let u = uri("kingsley:chair@Example.com");
        assert_eq!(u.scheme, Scheme::Other("kingsley".into()));
        assert_eq!(u.to_string(), "kingsley:chair@Example.com");
        let t = uri("tel:+44-20-7946-0000;phone-context=example.com");
        assert_eq!(t.scheme, Scheme::Tel);
        assert_eq!(t.user.as_deref(), Some("+44-20-7946-0000"));
        assert_eq!(
            t.to_string(),
            "tel:+44-20-7946-0000;phone-context=example.com"
        );
    }

    #[test]
    fn rfc3261_comparison() {
        // RFC 3261 §19.1.4 examples of equivalent URIs.
        assert!(
            uri("sip:%61lice@atlanta.com;transport=TCP")
                .equivalent(&uri("sip:alice@AtLanTa.CoM;Transport=tcp"))
        );
        assert!(uri("sip:carol@chicago.com").equivalent(&uri("sip:carol@chicago.com;newparam=5")));
        assert!(
            uri("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com").equivalent(
                &uri("sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com")
            )
        );
        // ... and non-equivalent ones.
        assert!(
            !uri("SIP:ALICE@AtLanTa.CoM;Transport=udp")
                .equivalent(&uri("sip:alice@AtLanTa.CoM;Transport=UDP"))
        );
        assert!(!uri("sip:bob@biloxi.com").equivalent(&uri("sip:bob@biloxi.com:5060")));
        assert!(!uri("sip:bob@biloxi.com").equivalent(&uri("sip:bob@biloxi.com;transport=udp")));
        assert!(
            !uri("sip:carol@chicago.com;security=on")
                .equivalent(&uri("sip:carol@chicago.com;security=off"))
        );
        assert!(
            !uri("sip:carol@chicago.com")
                .equivalent(&uri("sip:carol@chicago.com?Subject=next%20meeting"))
        );
    }
}
