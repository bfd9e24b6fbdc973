//! The user agent's working view of a SIP message: a start line, an ordered header list and a
//! body, with the few field readers (Via, tags, CSeq, name-addr URIs) and the builder the UA needs.
//!
//! Owns: reading fields out of messages that the strict parser (`sip::parse`, branch sip-parse)
//! has already accepted, and serialising messages the UA builds. Deliberately lenient and small;
//! it must not become a second validator (that is `sip::validate`). Never panics on any input.

use std::fmt::Write as _;

/// A request or status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { status: u16, reason: String },
}

/// A SIP message as an ordered list of (canonical name, value) plus body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The parts of a Via header value the UA uses (RFC 3261 §20.42, RFC 3581).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViaView {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub branch: Option<String>,
    pub rport: bool,
}

impl ViaView {
    /// `host[:port]` as written: the sent-by of §17.2.3 matching.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// RFC 3261 §7.3.3 compact forms (plus RFC 3515 `r`, RFC 4028 `x`, RFC 3892 `b`, RFC 3265 `o`).
fn canonical_name(name: &str) -> String {
    let full = match name.to_ascii_lowercase().as_str() {
        "v" | "via" => "Via",
        "f" | "from" => "From",
        "t" | "to" => "To",
        "i" | "call-id" => "Call-ID",
        "m" | "contact" => "Contact",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "k" | "supported" => "Supported",
        "s" | "subject" => "Subject",
        "e" | "content-encoding" => "Content-Encoding",
        "o" | "event" => "Event",
        "r" | "refer-to" => "Refer-To",
        "x" | "session-expires" => "Session-Expires",
        "b" | "referred-by" => "Referred-By",
        "cseq" => "CSeq",
        "record-route" => "Record-Route",
        "route" => "Route",
        "require" => "Require",
        "min-se" => "Min-SE",
        "allow" => "Allow",
        "privacy" => "Privacy",
        "p-asserted-identity" => "P-Asserted-Identity",
        "max-forwards" => "Max-Forwards",
        "subscription-state" => "Subscription-State",
        "www-authenticate" => "WWW-Authenticate",
        "proxy-authenticate" => "Proxy-Authenticate",
        _ => return name.to_string(),
    };
    full.to_string()
}

/// Headers whose values may be comma-joined lists of separate entries (RFC 3261 §7.3.1).
fn is_list_header(name: &str) -> bool {
    matches!(
        name,
        "Via"
            | "Route"
            | "Record-Route"
            | "Contact"
            | "Require"
            | "Supported"
            | "Allow"
            | "Proxy-Require"
    )
}

impl Message {
    /// Reads a complete message. Returns `None` for anything it cannot make sense of; callers
    /// run the strict parser first, so this only fails on what that already rejected.
    pub fn parse(data: &[u8]) -> Option<Message> {
        let split = find_header_end(data)?;
        let head = std::str::from_utf8(data.get(..split.0)?).ok()?;
        let rest = data.get(split.1..)?;
        let mut lines: Vec<String> = Vec::new();
        for raw in head.split('\n') {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.starts_with([' ', '\t']) {
                // RFC 3261 §7.3.1: folded continuation line.
                let last = lines.last_mut()?;
                last.push(' ');
                last.push_str(line.trim());
            } else if !line.is_empty() || !lines.is_empty() {
                lines.push(line.to_string());
            }
        }
        let mut iter = lines.into_iter();
        let first = iter.next()?;
        let start = parse_start_line(&first)?;
        let mut headers = Vec::new();
        for line in iter {
            let (name, value) = line.split_once(':')?;
            let name = canonical_name(name.trim());
            let value = value.trim();
            if is_list_header(&name) {
                for part in split_list(value) {
                    headers.push((name.clone(), part));
                }
            } else {
                headers.push((name, value.to_string()));
            }
        }
        let mut msg = Message {
            start,
            headers,
            body: Vec::new(),
        };
        let len = match msg.header("Content-Length") {
            Some(v) => v.trim().parse::<usize>().ok()?,
            None => rest.len(),
        };
        msg.body = rest.get(..len)?.to_vec();
        msg.headers.retain(|(n, _)| n != "Content-Length");
        Some(msg)
    }

    /// A new request.
    pub fn request(method: &str, uri: &str) -> Message {
        Message {
            start: StartLine::Request {
                method: method.to_string(),
                uri: uri.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// The method of a request, or the CSeq method of a response.
    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => self.cseq().map(|(_, m)| m),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status, .. } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The first value of `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of `name`, list entries separately.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when a token list header (Require, Supported, Allow) contains `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .any(|v| v.trim().eq_ignore_ascii_case(token))
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID").map(str::trim)
    }

    /// CSeq number and method (RFC 3261 §20.16).
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let v = self.header("CSeq")?;
        let mut parts = v.split_whitespace();
        let n = parts.next()?.parse().ok()?;
        Some((n, parts.next()?))
    }

    /// The top Via.
    pub fn top_via(&self) -> Option<ViaView> {
        parse_via(self.header("Via")?)
    }

    pub fn from_tag(&self) -> Option<String> {
        header_param(self.header("From")?, "tag")
    }

    pub fn to_tag(&self) -> Option<String> {
        header_param(self.header("To")?, "tag")
    }

    pub fn content_type(&self) -> Option<String> {
        let v = self.header("Content-Type")?;
        Some(
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
        )
    }

    /// The body as text when it is SDP.
    pub fn sdp(&self) -> Option<String> {
        if self.body.is_empty() || self.content_type().as_deref() != Some("application/sdp") {
            return None;
        }
        String::from_utf8(self.body.clone()).ok()
    }

    /// Serialises with a correct Content-Length (RFC 3261 §20.14).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(out, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { status, reason } => {
                let _ = write!(out, "SIP/2.0 {status} {reason}\r\n");
            }
        }
        for (n, v) in &self.headers {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        let _ = write!(out, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn find_header_end(data: &[u8]) -> Option<(usize, usize)> {
    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((i, i + 4));
    }
    data.windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| (i, i + 2))
}

fn parse_start_line(line: &str) -> Option<StartLine> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let status: u16 = code.parse().ok()?;
        if !(100..700).contains(&status) {
            return None;
        }
        return Some(StartLine::Response {
            status,
            reason: reason.to_string(),
        });
    }
    let mut parts = line.split(' ');
    let method = parts.next()?.to_string();
    let uri = parts.next()?.to_string();
    if method.is_empty() || uri.is_empty() || parts.next() != Some("SIP/2.0") {
        return None;
    }
    Some(StartLine::Request { method, uri })
}

/// Splits a header value at commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    for c in value.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Parses one Via value: `SIP/2.0/UDP host:port;branch=..;rport`.
pub fn parse_via(value: &str) -> Option<ViaView> {
    let mut parts = value.split(';');
    let sent = parts.next()?.trim();
    let (proto, sent_by) = sent.split_once(|c: char| c.is_ascii_whitespace())?;
    let transport = proto.rsplit('/').next()?.trim().to_ascii_uppercase();
    let (host, port) = split_host_port(sent_by.trim())?;
    let mut via = ViaView {
        transport,
        host,
        port,
        branch: None,
        rport: false,
    };
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .map(|(k, v)| (k.trim(), Some(v.trim())))
            .unwrap_or((p.trim(), None));
        if k.eq_ignore_ascii_case("branch") {
            via.branch = v.map(str::to_string);
        } else if k.eq_ignore_ascii_case("rport") {
            via.rport = true;
        }
    }
    Some(via)
}

/// Splits `host[:port]`, keeping IPv6 brackets on the host.
pub fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let host = s.get(..=end)?.to_string();
        let rest = s.get(end + 1..)?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if rest.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((s.to_string(), None)),
    }
}

/// The URI inside a name-addr or addr-spec (`"Name" <sip:a@b>;tag=x` → `sip:a@b`).
pub fn header_uri(value: &str) -> Option<String> {
    let value = value.trim();
    if let Some(start) = value.find('<') {
        let end = value.get(start..)?.find('>')? + start;
        return Some(value.get(start + 1..end)?.trim().to_string());
    }
    // RFC 3261 §20.10: without <>, header parameters follow the URI after ';'.
    Some(value.split(';').next()?.trim().to_string())
}

/// A header parameter after the URI (`;tag=..`).
pub fn header_param(value: &str, name: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => value.get(i + 1..)?,
        None => value.split_once(';').map(|(_, p)| p).unwrap_or(""),
    };
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The user part of a sip/sips/tel URI, percent-decoded (RFC 3261 §19.1.2).
pub fn uri_user(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let raw = if scheme.eq_ignore_ascii_case("tel") {
        rest.split(';').next()?
    } else {
        let (userinfo, _) = rest.split_once('@')?;
        userinfo.split(':').next()?
    };
    let decoded = percent_decode(raw);
    (!decoded.is_empty()).then_some(decoded)
}

/// The host and port of a sip URI (`sip:u@h:p;params`).
pub fn uri_host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let (_, rest) = uri.split_once(':')?;
    let rest = rest.split_once('@').map(|(_, h)| h).unwrap_or(rest);
    let hostport = rest.split([';', '?']).next()?;
    split_host_port(hostport)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(0);
        if b == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:%30800@127.0.0.1 SIP/2.0\r\n\
        v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
        f: \"A, B\" <sip:alice@127.0.0.1>;tag=abc\r\n\
        t: sip:bob@127.0.0.1\r\n\
        i: call-1\r\n\
        CSeq: 7 INVITE\r\n\
        Subject: folded\r\n  line\r\n\
        c: application/sdp\r\n\
        l: 4\r\n\r\nv=0\r\nextra";

    #[test]
    fn reads_fields_and_compact_forms() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some("INVITE"));
        assert_eq!(m.headers_named("Via").count(), 2);
        let via = m.top_via().unwrap();
        assert_eq!(via.sent_by(), "127.0.0.1:5070");
        assert_eq!(via.branch.as_deref(), Some("z9hG4bK1"));
        assert!(via.rport);
        assert_eq!(m.from_tag().as_deref(), Some("abc"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.cseq(), Some((7, "INVITE")));
        assert_eq!(m.header("Subject"), Some("folded line"));
        assert_eq!(m.body, b"v=0\r");
        assert_eq!(uri_user(m.request_uri().unwrap()).as_deref(), Some("0800"));
        assert_eq!(
            header_uri(m.header("From").unwrap()).as_deref(),
            Some("sip:alice@127.0.0.1")
        );
    }

    #[test]
    fn round_trips_through_bytes() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        let again = Message::parse(&m.to_bytes()).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn never_panics_on_garbage() {
        for input in [
            &b""[..],
            b"\r\n\r\n",
            b"SIP/2.0 99x\r\n\r\n",
            b"INVITE\r\n\r\n",
            b"\xff\xfe\r\n\r\n",
            b"A b SIP/2.0\r\nl: 99\r\n\r\n",
        ] {
            let _ = Message::parse(input);
        }
        assert_eq!(
            split_host_port("[::1]:5060"),
            Some(("[::1]".into(), Some(5060)))
        );
        assert_eq!(split_host_port("[::1"), None);
        assert_eq!(
            uri_host_port("sip:u@h:99;transport=tcp"),
            Some(("h".into(), Some(99)))
        );
        assert_eq!(
            header_param("<sip:a@b;tag=no>;tag=yes", "tag").as_deref(),
            Some("yes")
        );
        assert_eq!(
            uri_user("tel:+441234;phone-context=x").as_deref(),
            Some("+441234")
        );
    }
}
