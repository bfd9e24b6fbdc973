//! Strict SIP message parsing from datagrams and byte streams (RFC 3261 §7, §18.3, §25;
//! RFC 4475; RFC 5626 §4.4.1 keep-alives).
//!
//! Owns framing (start line, header section, body by Content-Length), size limits and the
//! error response for requests that fail to parse. Typed header grammars live in `headers`;
//! semantic checks (415/416/420) in `validate`. Nothing here allocates more than the input
//! size, and nothing panics on any input.

use super::error::ParseError;
use super::headers::Headers;
use super::headers::lex::{is_token, trim_lws};
use super::message::{Method, RequestLine, SIP_VERSION, SipMessage, StartLine, StatusLine};
use super::uri::Uri;

/// Bounds on what the parser accepts, so a peer cannot make us allocate without limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Whole message (head + body) in bytes.
    pub max_message: usize,
    /// Number of header lines (after unfolding).
    pub max_headers: usize,
    /// One header line, after unfolding.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            // A UDP datagram cannot exceed 65,507 payload octets; TCP messages get the same cap.
            max_message: 64 * 1024,
            max_headers: 256,
            max_line: 16 * 1024,
        }
    }
}

/// Parses one UDP datagram (RFC 3261 §18.3): the body is Content-Length octets, trailing
/// octets are ignored (RFC 4475 §3.1.1.8), a Content-Length beyond the datagram is an error
/// (RFC 4475 §3.1.2.2), and without Content-Length the body is the rest of the datagram.
pub fn parse_datagram(bytes: &[u8]) -> Result<SipMessage, ParseError> {
    parse_datagram_with(bytes, &Limits::default())
}

/// [`parse_datagram`] with explicit limits.
pub fn parse_datagram_with(bytes: &[u8], limits: &Limits) -> Result<SipMessage, ParseError> {
    if bytes.len() > limits.max_message {
        return Err(ParseError::TooLarge {
            limit: limits.max_message,
        });
    }
    let bytes = skip_leading_crlf(bytes);
    if bytes.is_empty() {
        return Err(ParseError::Empty);
    }
    let Some((head, body_start)) = split_head(bytes, limits)? else {
        return Err(ParseError::Truncated);
    };
    let (start, headers) = parse_head(head, limits)?;
    let is_response = matches!(start, StartLine::Response(_));
    let finish = |r: Result<SipMessage, ParseError>| {
        if is_response {
            r.map_err(ParseError::in_response)
        } else {
            r
        }
    };
    let available = bytes.len().saturating_sub(body_start);
    let body_len = match headers.content_length() {
        Ok(Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
        Ok(None) => available,
        Err(e) => return finish(Err(e)),
    };
    if body_len > available {
        return finish(Err(ParseError::BodyTruncated {
            declared: body_len,
            available,
        }));
    }
    let body = bytes
        .get(body_start..body_start + body_len)
        .unwrap_or_default()
        .to_vec();
    let msg = SipMessage {
        start,
        headers,
        body,
    };
    finish(check_essentials(&msg).map(|()| msg))
}

/// Parses the next message from a stream buffer (RFC 3261 §18.3: Content-Length is mandatory).
/// Returns `Ok(None)` when more bytes are needed, else the message and the number of bytes it
/// used (including leading CRLF keep-alives, RFC 5626 §4.4.1). After an error the stream's
/// framing is lost: close the connection.
pub fn parse_stream(buf: &[u8]) -> Result<Option<(SipMessage, usize)>, ParseError> {
    parse_stream_with(buf, &Limits::default())
}

/// [`parse_stream`] with explicit limits.
pub fn parse_stream_with(
    buf: &[u8],
    limits: &Limits,
) -> Result<Option<(SipMessage, usize)>, ParseError> {
    let skipped = buf.len() - skip_leading_crlf(buf).len();
    let bytes = &buf[skipped..];
    if bytes.is_empty() {
        return Ok(None);
    }
    let Some((head, body_start)) = split_head(bytes, limits)? else {
        if bytes.len() > limits.max_message {
            return Err(ParseError::TooLarge {
                limit: limits.max_message,
            });
        }
        return Ok(None);
    };
    let (start, headers) = parse_head(head, limits)?;
    let is_response = matches!(start, StartLine::Response(_));
    let wrap = |e: ParseError| if is_response { e.in_response() } else { e };
    let body_len = headers
        .content_length()
        .map_err(wrap)?
        .ok_or_else(|| wrap(ParseError::MissingContentLength))?;
    let body_len = usize::try_from(body_len).unwrap_or(usize::MAX);
    let total = body_start.saturating_add(body_len);
    if total > limits.max_message {
        return Err(wrap(ParseError::TooLarge {
            limit: limits.max_message,
        }));
    }
    let Some(body) = bytes.get(body_start..total) else {
        return Ok(None);
    };
    let msg = SipMessage {
        start,
        headers,
        body: body.to_vec(),
    };
    check_essentials(&msg).map_err(wrap)?;
    Ok(Some((msg, skipped + total)))
}

impl ParseError {
    /// True if a request that failed this way can still be answered: it is a request and
    /// enough of Via/From/To/Call-ID/CSeq can be read from `raw` to address a response.
    /// Defined here, beside [`error_response`] that builds that answer, so that `error` stays
    /// a leaf.
    pub fn is_answerable(&self, raw: &[u8]) -> bool {
        error_response(raw, self).is_some()
    }
}

/// The response a UAS sends for a request that failed to parse with `err`, built from what
/// can be salvaged of `raw` (RFC 3261 §8.2.6.2: Via, From, To, Call-ID, CSeq copied). `None`
/// when the message must be dropped: it is a response, or too little could be read to
/// address an answer (no usable top Via, or no From/To/Call-ID/CSeq).
pub fn error_response(raw: &[u8], err: &ParseError) -> Option<SipMessage> {
    let status = err.response_status()?;
    let raw = skip_leading_crlf(raw);
    let limits = Limits::default();
    let raw = raw.get(..limits.max_message).unwrap_or(raw);
    // Use what arrived even if the header section is cut short.
    let head = match split_head(raw, &limits) {
        Ok(Some((head, _))) => head,
        _ => std::str::from_utf8(raw).ok()?,
    };
    let mut lines = unfolded_lines(head);
    let start_line = lines.next()?;
    let method = start_line.split(' ').next().filter(|m| is_token(m))?;
    if method.starts_with("SIP/") {
        return None;
    }
    let mut salvaged = Headers::new();
    for line in lines.take(limits.max_headers) {
        if let Some((name, value)) = split_header_line(&line) {
            salvaged.push(name, value);
        }
    }
    // The top Via must be usable, or we would not know where to send the answer.
    salvaged.top_via_lenient()?;
    let mut response_headers = Headers::new();
    for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
        let mut any = false;
        for value in salvaged.get_all(name) {
            if name != "Via" && any {
                break;
            }
            if trim_lws(value).is_empty() {
                continue;
            }
            response_headers.push(name, value);
            any = true;
        }
        if !any {
            return None;
        }
    }
    Some(SipMessage {
        start: StartLine::Response(StatusLine {
            code: status,
            reason: err.reason_phrase(),
        }),
        headers: response_headers,
        body: Vec::new(),
    })
}

/// RFC 3261 §7.5 / RFC 5626 §4.4.1: CRLFs before a start line are ignored (keep-alives).
fn skip_leading_crlf(bytes: &[u8]) -> &[u8] {
    let n = bytes
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    &bytes[n..]
}

/// Finds the empty line ending the header section. Returns the head text (without the empty
/// line) and the offset of the body, or `None` if the section is not complete yet. Accepts
/// bare LF line ends as well as CRLF (RFC 3261 §7 asks for CRLF; being liberal here costs
/// nothing and some RFC 5118 samples use LF).
fn split_head<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<Option<(&'a str, usize)>, ParseError> {
    let mut pos = 0;
    loop {
        let Some(rel) = bytes[pos..].iter().position(|b| *b == b'\n') else {
            if bytes.len() - pos > limits.max_line {
                return Err(ParseError::LineTooLong {
                    limit: limits.max_line,
                });
            }
            return Ok(None);
        };
        let line_end = pos + rel;
        if rel > limits.max_line {
            return Err(ParseError::LineTooLong {
                limit: limits.max_line,
            });
        }
        let line = &bytes[pos..line_end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() && pos > 0 {
            let head_end = pos.saturating_sub(1);
            let head_end = if bytes.get(head_end.wrapping_sub(1)) == Some(&b'\r') && head_end > 0 {
                head_end - 1
            } else {
                head_end
            };
            let head =
                std::str::from_utf8(&bytes[..head_end]).map_err(|_| ParseError::BadHeaderLine)?;
            return Ok(Some((head, line_end + 1)));
        }
        pos = line_end + 1;
        if pos > limits.max_message {
            return Err(ParseError::TooLarge {
                limit: limits.max_message,
            });
        }
    }
}

/// Splits the head into logical lines, joining folded continuation lines with one SP
/// (RFC 3261 §7.3.1: LWS folding is equivalent to a single SP).
fn unfolded_lines(head: &str) -> impl Iterator<Item = String> + '_ {
    let mut physical = head
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .peekable();
    std::iter::from_fn(move || {
        let first = physical.next()?;
        let mut line = first.to_string();
        while let Some(next) = physical.peek() {
            if next.starts_with([' ', '\t']) {
                line.push(' ');
                line.push_str(trim_lws(next));
                physical.next();
            } else {
                break;
            }
        }
        Some(line)
    })
}

/// `name HCOLON value`; `None` if the name is not a token.
fn split_header_line(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    // RFC 3261 §7.3.1: whitespace is allowed between the name and the colon.
    let name = name.trim_end_matches([' ', '\t']);
    if !is_token(name) {
        return None;
    }
    Some((name, trim_lws(value)))
}

fn parse_head(head: &str, limits: &Limits) -> Result<(StartLine, Headers), ParseError> {
    if head.starts_with([' ', '\t']) {
        return Err(ParseError::BadStartLine("leading whitespace"));
    }
    let mut lines = unfolded_lines(head);
    let start_text = lines.next().ok_or(ParseError::Empty)?;
    let start = parse_start_line(&start_text)?;
    let is_response = matches!(start, StartLine::Response(_));
    let wrap = |e: ParseError| if is_response { e.in_response() } else { e };
    let mut headers = Headers::new();
    for line in lines {
        if line.len() > limits.max_line {
            return Err(wrap(ParseError::LineTooLong {
                limit: limits.max_line,
            }));
        }
        if headers.len() >= limits.max_headers {
            return Err(wrap(ParseError::TooManyHeaders {
                limit: limits.max_headers,
            }));
        }
        let (name, value) =
            split_header_line(&line).ok_or_else(|| wrap(ParseError::BadHeaderLine))?;
        headers.push(name, value);
    }
    Ok((start, headers))
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    if line.starts_with("SIP/") {
        return parse_status_line(line).map_err(ParseError::in_response);
    }
    // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single SPs (RFC 4475 §3.1.2.8-10
    // show why being strict is safe: extra SP is malformed).
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadStartLine("not METHOD SP URI SP VERSION"));
    };
    if !is_token(method) {
        return Err(ParseError::BadStartLine("bad method"));
    }
    if !version.eq_ignore_ascii_case(SIP_VERSION) {
        // RFC 3261 §8.2.2.1... a well-formed other version gets 505 (RFC 4475 §3.1.2.16).
        return Err(if is_sip_version(version) {
            ParseError::UnsupportedVersion(version.to_string())
        } else {
            ParseError::BadStartLine("bad SIP version")
        });
    }
    let uri = Uri::parse(uri)?;
    // RFC 3261 §19.1.1 table 1: headers are not allowed in a Request-URI.
    if !uri.headers.is_empty() {
        return Err(ParseError::BadUri("headers in Request-URI"));
    }
    Ok(StartLine::Request(RequestLine {
        method: Method::from_token(method),
        uri,
        version: SIP_VERSION.to_string(),
    }))
}

/// `SIP/1*DIGIT.1*DIGIT`, case-insensitive.
fn is_sip_version(v: &str) -> bool {
    let Some(numbers) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and(v.get(4..))
    else {
        return false;
    };
    match numbers.split_once('.') {
        Some((major, minor)) => {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn parse_status_line(line: &str) -> Result<StartLine, ParseError> {
    // RFC 3261 §7.2: SIP-Version SP Status-Code SP Reason-Phrase (reason may be empty).
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default();
    if !version.eq_ignore_ascii_case(SIP_VERSION) {
        return Err(ParseError::UnsupportedVersion(version.to_string()));
    }
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadStartLine("status code is not 3 digits"));
    }
    let code: u16 = code
        .parse()
        .map_err(|_| ParseError::BadStartLine("bad status code"))?;
    if !(100..=699).contains(&code) {
        return Err(ParseError::BadStartLine("status code out of range"));
    }
    if reason.bytes().any(|b| b < b' ' && b != b'\t') {
        return Err(ParseError::BadStartLine(
            "control character in reason phrase",
        ));
    }
    Ok(StartLine::Response(StatusLine {
        code,
        reason: reason.to_string(),
    }))
}

/// The headers every request and response must carry, parsed strictly so that a message the
/// transaction layer sees is always well-formed (RFC 3261 §8.1.1, §8.2.6.2).
fn check_essentials(msg: &SipMessage) -> Result<(), ParseError> {
    let h = &msg.headers;
    if h.vias()?.is_empty() {
        return Err(ParseError::MissingHeader("Via"));
    }
    h.call_id()?;
    h.cseq()?;
    h.from()?;
    h.to()?;
    h.max_forwards()?;
    h.contacts()?;
    h.route()?;
    h.record_route()?;
    h.content_type()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::Host;

    const INVITE: &str = "INVITE sip:bob@biloxi.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    #[test]
    fn parses_a_plain_invite() {
        let msg = parse_datagram(INVITE.as_bytes()).unwrap();
        assert_eq!(msg.method(), Some(&Method::Invite));
        assert_eq!(
            msg.request_uri().map(|u| u.host.clone()),
            Some(Host::Domain("biloxi.com".into()))
        );
        assert_eq!(msg.body, b"v=0\n");
        assert_eq!(
            msg.headers.call_id().unwrap(),
            "a84b4c76e66710@pc33.atlanta.com"
        );
        assert_eq!(msg.headers.from().unwrap().tag(), Some("1928301774"));
        let again = parse_datagram(&msg.to_bytes()).unwrap();
        assert_eq!(again, msg);
    }

    #[test]
    fn folding_and_compact_forms() {
        let raw = "OPTIONS sip:x@y SIP/2.0\r\nv: SIP/2.0/UDP\r\n  host;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt:\r\n <sip:x@y>\r\ni: c1\r\ncseq: 0001\r\n\tOPTIONS\r\nl: 0\r\n\r\n";
        let msg = parse_datagram(raw.as_bytes()).unwrap();
        assert_eq!(
            msg.headers.get("Via"),
            Some("SIP/2.0/UDP host;branch=z9hG4bK1")
        );
        assert_eq!(msg.headers.cseq().unwrap().seq, 1);
        assert_eq!(msg.headers.to().unwrap().uri.to_string(), "sip:x@y");
    }

    #[test]
    fn datagram_body_rules() {
        // Trailing octets beyond Content-Length are ignored.
        let mut raw = INVITE.as_bytes().to_vec();
        raw.extend_from_slice(b"INVITE garbage");
        assert_eq!(parse_datagram(&raw).unwrap().body, b"v=0\n");
        // Content-Length larger than the datagram.
        let raw = INVITE.replace("Content-Length: 4", "Content-Length: 9999");
        let err = parse_datagram(raw.as_bytes()).unwrap_err();
        assert!(matches!(err, ParseError::BodyTruncated { .. }));
        assert_eq!(err.response_status(), Some(400));
        // No Content-Length over UDP: the rest of the datagram.
        let raw = INVITE.replace("Content-Length: 4\r\n", "");
        assert_eq!(parse_datagram(raw.as_bytes()).unwrap().body, b"v=0\n");
        // Negative Content-Length.
        let raw = INVITE.replace("Content-Length: 4", "Content-Length: -999");
        assert!(parse_datagram(raw.as_bytes()).is_err());
        // Two Content-Lengths.
        let raw = INVITE.replace("Content-Length: 4", "Content-Length: 4\r\nl: 0");
        assert_eq!(
            parse_datagram(raw.as_bytes()).unwrap_err(),
            ParseError::DuplicateHeader("Content-Length")
        );
    }

    #[test]
    fn stream_framing() {
        let mut buf = b"\r\n\r\n".to_vec();
        buf.extend_from_slice(INVITE.as_bytes());
        buf.extend_from_slice(INVITE.as_bytes());
        for cut in 0..buf.len() / 2 {
            if cut < 4 + INVITE.len() {
                assert_eq!(parse_stream(&buf[..cut]).unwrap(), None, "cut {cut}");
            }
        }
        let (first, used) = parse_stream(&buf).unwrap().unwrap();
        assert_eq!(used, 4 + INVITE.len());
        assert_eq!(first.body, b"v=0\n");
        let (_, used2) = parse_stream(&buf[used..]).unwrap().unwrap();
        assert_eq!(used2, INVITE.len());
        let raw = INVITE.replace("Content-Length: 4\r\n", "");
        assert_eq!(
            parse_stream(raw.as_bytes()).unwrap_err(),
            ParseError::MissingContentLength
        );
        assert_eq!(parse_stream(b"\r\n\r\n").unwrap(), None);
    }

    #[test]
    fn start_line_strictness() {
        for bad in [
            "INVITE  sip:bob@biloxi.com SIP/2.0",
            "INVITE sip:bob@biloxi.com SIP/2.0 ",
            "INVITE <sip:bob@biloxi.com> SIP/2.0",
            "INVITE sip:bob@biloxi.com; lr SIP/2.0",
            "INVITE sip:bob@biloxi.com?Route=%3Csip:x%3E SIP/2.0",
            "INVITE sip:user@2001:db8::10 SIP/2.0",
        ] {
            let raw = INVITE.replacen("INVITE sip:bob@biloxi.com SIP/2.0", bad, 1);
            let err = parse_datagram(raw.as_bytes()).unwrap_err();
            assert_eq!(err.response_status(), Some(400), "{bad}: {err}");
        }
        let raw = INVITE.replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
        let err = parse_datagram(raw.as_bytes()).unwrap_err();
        assert_eq!(err.response_status(), Some(505));
        let resp = error_response(raw.as_bytes(), &err).unwrap();
        assert_eq!(resp.status_code(), Some(505));
        assert_eq!(
            resp.headers.call_id().unwrap(),
            "a84b4c76e66710@pc33.atlanta.com"
        );
    }

    #[test]
    fn responses_parse_or_drop() {
        let ok = "SIP/2.0 100 \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let msg = parse_datagram(ok.as_bytes()).unwrap();
        assert_eq!(msg.status_code(), Some(100));
        for bad in [
            "SIP/2.0 4294967301 big",
            "SIP/2.0 99 low",
            "SIP/2.0 700 high",
            "SIP/2.0 2000 OK",
        ] {
            let raw = ok.replacen("SIP/2.0 100 ", bad, 1);
            let err = parse_datagram(raw.as_bytes()).unwrap_err();
            assert_eq!(err.response_status(), None, "{bad}");
            assert!(error_response(raw.as_bytes(), &err).is_none());
        }
        let raw = ok.replace("CSeq: 1 INVITE", "CSeq: 99999999999 INVITE");
        assert_eq!(
            parse_datagram(raw.as_bytes())
                .unwrap_err()
                .response_status(),
            None
        );
    }

    #[test]
    fn missing_headers_and_answerability() {
        let raw = INVITE.replace("Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n", "");
        let err = parse_datagram(raw.as_bytes()).unwrap_err();
        assert_eq!(err, ParseError::MissingHeader("Call-ID"));
        // No Call-ID to copy: not answerable.
        assert!(error_response(raw.as_bytes(), &err).is_none());
        let raw = INVITE.replace("CSeq: 314159 INVITE", "CSeq: 36893488147419103232 INVITE");
        let err = parse_datagram(raw.as_bytes()).unwrap_err();
        assert!(err.is_answerable(raw.as_bytes()));
        let resp = error_response(raw.as_bytes(), &err).unwrap();
        assert_eq!(resp.status_code(), Some(400));
        assert_eq!(
            resp.headers.get("CSeq"),
            Some("36893488147419103232 INVITE")
        );
        if let StartLine::Response(s) = &resp.start {
            assert_eq!(s.reason, "Bad Request - Malformed CSeq");
        }
    }

    #[test]
    fn limits() {
        let limits = Limits::default();
        let huge = format!(
            "{}X-Big: {}\r\n\r\n",
            &INVITE[..INVITE.find("Content-Length").unwrap()],
            "a".repeat(20_000)
        );
        assert!(matches!(
            parse_datagram(huge.as_bytes()),
            Err(ParseError::LineTooLong { .. })
        ));
        let mut many = INVITE[..INVITE.find("Content-Length").unwrap()].to_string();
        for i in 0..300 {
            many.push_str(&format!("X-H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert!(matches!(
            parse_datagram(many.as_bytes()),
            Err(ParseError::TooManyHeaders { .. })
        ));
        let big = vec![b'a'; limits.max_message + 1];
        assert!(matches!(
            parse_datagram(&big),
            Err(ParseError::TooLarge { .. })
        ));
        assert!(matches!(
            parse_stream(&big),
            Err(ParseError::LineTooLong { .. })
        ));
        assert!(matches!(
            parse_stream_with(
                &[b'a'; 100],
                &Limits {
                    max_line: 10,
                    ..limits
                }
            ),
            Err(ParseError::LineTooLong { .. })
        ));
    }

    #[test]
    fn garbage_and_truncation() {
        assert_eq!(parse_datagram(b""), Err(ParseError::Empty));
        assert_eq!(parse_datagram(b"\r\n\r\n"), Err(ParseError::Empty));
        assert!(parse_datagram(b"\x00\x01\x02\xff").is_err());
        assert!(parse_datagram(b"hello world").is_err());
        for cut in 0..INVITE.len() - 4 {
            assert!(
                parse_datagram(&INVITE.as_bytes()[..cut]).is_err(),
                "cut {cut}"
            );
        }
        assert!(parse_datagram(b"INVITE sip:a@b SIP/2.0\r\n no-colon\r\n\r\n").is_err());
    }
}
