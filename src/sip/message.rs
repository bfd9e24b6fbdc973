//! The SIP message model and its serialiser (RFC 3261 §7, §8.1.1, §8.2.6).
//!
//! Owns [`SipMessage`], start lines and the request/response builders. Must not
//! parse bytes (see `parse`) or judge semantics (see `validate`).

use std::fmt;
use std::net::SocketAddr;

use super::error::ParseError;
use super::headers::lex::{split_outside, trim_lws};
use super::headers::{Headers, NameAddr};
use super::uri::Uri;
// The method lives in its own leaf so header grammars (CSeq, Allow) can name it without
// depending on the message model; this path keeps working for existing users.
pub use super::method::Method;

/// The only SIP version we speak (RFC 3261 §7.1).
pub const SIP_VERSION: &str = "SIP/2.0";

/// `METHOD Request-URI SIP/2.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: Method,
    pub uri: Uri,
    pub version: String,
}

/// `SIP/2.0 code reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub code: u16,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request(RequestLine),
    Response(StatusLine),
}

/// A whole SIP message: start line, headers, body octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    pub start: StartLine,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// The usual reason phrase for `code` (RFC 3261 §21 and extensions we emit).
pub fn default_reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Trying",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

impl SipMessage {
    /// A request with only a start line; the caller adds Via, From, To, Call-ID, CSeq,
    /// Max-Forwards (RFC 3261 §8.1.1).
    pub fn request(method: Method, uri: Uri) -> SipMessage {
        SipMessage {
            start: StartLine::Request(RequestLine {
                method,
                uri,
                version: SIP_VERSION.to_string(),
            }),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A response to `request` copying Via(s), From, To, Call-ID and CSeq (RFC 3261 §8.2.6.2)
    /// and, for 101-299 to a dialog-creating request (INVITE, SUBSCRIBE, REFER, NOTIFY),
    /// Record-Route (§12.1.1). `reason` `None`
    /// uses the default phrase. Header values are copied verbatim.
    pub fn response_to(request: &SipMessage, code: u16, reason: Option<&str>) -> SipMessage {
        let mut headers = Headers::new();
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            for value in request.headers.get_all(name) {
                headers.push(name, value);
            }
        }
        // RFC 3261 §12.1.1: only responses that can create a dialog carry the route set back.
        let dialog_creating = matches!(
            request.method(),
            Some(Method::Invite | Method::Subscribe | Method::Refer | Method::Notify)
        );
        if dialog_creating && (101..300).contains(&code) {
            for value in request.headers.get_all("Record-Route") {
                headers.push("Record-Route", value);
            }
        }
        SipMessage {
            start: StartLine::Response(StatusLine {
                code,
                reason: reason.unwrap_or_else(|| default_reason(code)).to_string(),
            }),
            headers,
            body: Vec::new(),
        }
    }

    /// The CANCEL for a pending `invite` (RFC 3261 §9.1): same Request-URI, Call-ID, To, From,
    /// top Via and CSeq number (method CANCEL), and the INVITE's Route headers.
    pub fn cancel_for(invite: &SipMessage) -> Result<SipMessage, ParseError> {
        SipMessage::in_transaction_request(invite, Method::Cancel, None)
    }

    /// The ACK for a non-2xx final `response` to `invite` (RFC 3261 §17.1.1.3): as the CANCEL,
    /// but To comes from the response (it carries the UAS tag).
    pub fn ack_for_failure(
        invite: &SipMessage,
        response: &SipMessage,
    ) -> Result<SipMessage, ParseError> {
        let to = response
            .headers
            .get("To")
            .ok_or(ParseError::MissingHeader("To"))?;
        SipMessage::in_transaction_request(invite, Method::Ack, Some(to))
    }

    fn in_transaction_request(
        invite: &SipMessage,
        method: Method,
        to: Option<&str>,
    ) -> Result<SipMessage, ParseError> {
        let uri = invite
            .request_uri()
            .ok_or(ParseError::BadStartLine("not a request"))?
            .clone();
        let cseq = invite.headers.cseq()?;
        let top_via = invite.headers.top_via()?;
        let mut msg = SipMessage::request(method.clone(), uri);
        msg.headers.push("Via", top_via.to_string());
        msg.headers.push("Max-Forwards", "70");
        msg.headers.push(
            "From",
            invite
                .headers
                .get("From")
                .ok_or(ParseError::MissingHeader("From"))?,
        );
        let to = match to {
            Some(t) => t,
            None => invite
                .headers
                .get("To")
                .ok_or(ParseError::MissingHeader("To"))?,
        };
        msg.headers.push("To", to);
        msg.headers.push("Call-ID", invite.headers.call_id()?);
        msg.headers.push("CSeq", format!("{} {method}", cseq.seq));
        for route in invite.headers.get_all("Route") {
            msg.headers.push("Route", route);
        }
        Ok(msg)
    }

    /// Adds `tag` to the To header unless it already has one (RFC 3261 §8.2.6.2). A To value
    /// that does not parse gets `;tag=` appended verbatim.
    pub fn with_to_tag(mut self, tag: &str) -> SipMessage {
        self.set_to_tag(tag);
        self
    }

    /// In-place form of [`SipMessage::with_to_tag`].
    pub fn set_to_tag(&mut self, tag: &str) {
        let Some(raw) = self.headers.get("To").map(str::to_string) else {
            return;
        };
        let value = match NameAddr::parse(&raw) {
            Ok(to) if to.tag().is_some() => return,
            Ok(to) => to.with_tag(tag).to_string(),
            Err(_) => format!("{raw};tag={tag}"),
        };
        self.headers.set("To", value);
    }

    /// RFC 3261 §18.2.1 and RFC 3581 §4: on receiving a request, record its real source in the
    /// top Via (`received`, and the `rport` value when the client asked for it), so responses
    /// built from it carry the information and go back the right way.
    pub fn stamp_received(&mut self, source: SocketAddr) -> Result<(), ParseError> {
        let mut via = self.headers.top_via()?;
        via.stamp_received(source);
        let line = self.headers.get("Via").unwrap_or_default();
        let rest: Vec<&str> = split_outside(line, b',')
            .unwrap_or_default()
            .into_iter()
            .map(trim_lws)
            .filter(|p| !p.is_empty())
            .skip(1)
            .collect();
        let mut value = via.to_string();
        for other in rest {
            value.push_str(", ");
            value.push_str(other);
        }
        self.headers.replace_first("Via", value);
        Ok(())
    }

    /// Sets the body and its Content-Type.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> SipMessage {
        self.headers.set("Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// Appends a header (builder form of `headers.push`).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> SipMessage {
        self.headers.push(name, value);
        self
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    /// The request method, or `None` for a response.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request(r) => Some(&r.method),
            StartLine::Response(_) => None,
        }
    }

    /// The Request-URI, or `None` for a response.
    pub fn request_uri(&self) -> Option<&Uri> {
        match &self.start {
            StartLine::Request(r) => Some(&r.uri),
            StartLine::Response(_) => None,
        }
    }

    /// The status code, or `None` for a request.
    pub fn status_code(&self) -> Option<u16> {
        match &self.start {
            StartLine::Request(_) => None,
            StartLine::Response(s) => Some(s.code),
        }
    }

    /// Serialises the message. Content-Length is always written and always equals the body
    /// length (RFC 3261 §18.3, §20.14), whatever the headers said.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.headers.len() * 48 + self.body.len());
        self.write_head(&mut out);
        out.extend_from_slice(&self.body);
        out
    }

    fn write_head(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing into a Vec cannot fail; the results are ignored for that reason.
        match &self.start {
            StartLine::Request(r) => {
                let _ = write!(out, "{} {} {}\r\n", r.method, r.uri, r.version);
            }
            StartLine::Response(s) => {
                let _ = write!(out, "{} {} {}\r\n", SIP_VERSION, s.code, s.reason);
            }
        }
        let mut wrote_length = false;
        for h in self.headers.iter() {
            if h.name.eq_ignore_ascii_case("Content-Length") {
                if wrote_length {
                    continue;
                }
                wrote_length = true;
                let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
                continue;
            }
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !wrote_length {
            let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// A one-line, log-safe summary: start line with the URI user redacted (it may be a caller's
/// number, so it is personal data), CSeq and Call-ID. Use [`SipMessage::to_bytes`] for the wire
/// form.
impl fmt::Display for SipMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.start {
            StartLine::Request(r) => {
                let mut uri = r.uri.clone();
                if let Some(user) = uri.user.take() {
                    uri.user = Some(crate::pii::Pii::new(user).redacted());
                }
                uri.password = None;
                write!(f, "{} {}", r.method, uri)?;
            }
            StartLine::Response(s) => write!(f, "{} {}", s.code, s.reason)?,
        }
        if let Some(cseq) = self.headers.get("CSeq") {
            write!(f, " cseq={cseq}")?;
        }
        if let Some(call_id) = self.headers.get("Call-ID") {
            write!(f, " call-id={call_id}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::Host;

    fn invite() -> SipMessage {
        SipMessage::request(
            Method::Invite,
            Uri::sip(Some("bob"), Host::Domain("biloxi.com".into()), None),
        )
        .with_header(
            "Via",
            "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds",
        )
        .with_header("Via", "SIP/2.0/UDP proxy.atlanta.com;branch=z9hG4bK1")
        .with_header("Max-Forwards", "70")
        .with_header("To", "Bob <sip:bob@biloxi.com>")
        .with_header("From", "Alice <sip:alice@atlanta.com>;tag=1928301774")
        .with_header("Call-ID", "a84b4c76e66710@pc33.atlanta.com")
        .with_header("CSeq", "314159 INVITE")
        .with_header("Record-Route", "<sip:proxy.atlanta.com;lr>")
        .with_header("Content-Length", "999")
        .with_body("application/sdp", b"v=0\r\n".to_vec())
    }

    #[test]
    fn stamps_received_on_the_top_via_only() {
        let mut msg = SipMessage::request(
            Method::Options,
            Uri::sip(None, Host::Domain("x".into()), None),
        )
        .with_header(
            "Via",
            "SIP/2.0/UDP client.example.com;rport;branch=z9hG4bK1, SIP/2.0/UDP p2;branch=z9hG4bK2",
        )
        .with_header("Via", "SIP/2.0/UDP p3;branch=z9hG4bK3");
        msg.stamp_received("192.0.2.7:40000".parse().unwrap())
            .unwrap();
        assert_eq!(
            msg.headers.get("Via"),
            Some(
                "SIP/2.0/UDP client.example.com;rport=40000;branch=z9hG4bK1;received=192.0.2.7, SIP/2.0/UDP p2;branch=z9hG4bK2"
            )
        );
        assert_eq!(msg.headers.vias().unwrap().len(), 3);
    }

    #[test]
    fn record_route_only_for_dialog_creating_requests() {
        let mut bye = invite();
        if let StartLine::Request(r) = &mut bye.start {
            r.method = Method::Bye;
        }
        assert!(
            SipMessage::response_to(&bye, 200, None)
                .headers
                .get("Record-Route")
                .is_none()
        );
    }

    #[test]
    fn display_is_log_safe() {
        let msg = SipMessage::request(
            Method::Invite,
            Uri::parse("sip:07700900123@example.com").unwrap(),
        )
        .with_header("CSeq", "1 INVITE");
        assert_eq!(
            msg.to_string(),
            "INVITE sip:***23@example.com cseq=1 INVITE"
        );
    }

    #[test]
    fn cancel_and_failure_ack() {
        let invite = invite().with_header("Route", "<sip:edge.example.net;lr>");
        let cancel = SipMessage::cancel_for(&invite).unwrap();
        assert_eq!(cancel.method(), Some(&Method::Cancel));
        assert_eq!(cancel.request_uri(), invite.request_uri());
        assert_eq!(cancel.headers.vias().unwrap().len(), 1);
        assert_eq!(cancel.headers.get("CSeq"), Some("314159 CANCEL"));
        assert_eq!(
            cancel.headers.get("Route"),
            Some("<sip:edge.example.net;lr>")
        );
        let busy = SipMessage::response_to(&invite, 486, None).with_to_tag("uas1");
        let ack = SipMessage::ack_for_failure(&invite, &busy).unwrap();
        assert_eq!(ack.headers.get("CSeq"), Some("314159 ACK"));
        assert_eq!(ack.headers.to().unwrap().tag(), Some("uas1"));
        assert_eq!(
            ack.headers.top_via().unwrap().branch.as_deref(),
            Some("z9hG4bK776asdhds")
        );
        assert!(crate::sip::parse::parse_datagram(&ack.to_bytes()).is_ok());
    }

    #[test]
    fn serialises_with_correct_content_length() {
        let text = String::from_utf8(invite().to_bytes()).unwrap();
        assert!(text.starts_with("INVITE sip:bob@biloxi.com SIP/2.0\r\n"));
        assert!(text.contains("\r\nContent-Length: 5\r\n"));
        assert!(!text.contains("999"));
        assert!(text.ends_with("\r\n\r\nv=0\r\n"));
    }

    #[test]
    fn response_copies_dialog_headers() {
        let req = invite();
        let resp = SipMessage::response_to(&req, 200, None).with_to_tag("as83kd9bs");
        assert_eq!(resp.status_code(), Some(200));
        assert_eq!(resp.headers.count("Via"), 2);
        assert_eq!(resp.headers.to().unwrap().tag(), Some("as83kd9bs"));
        assert_eq!(
            resp.headers.get("Record-Route"),
            Some("<sip:proxy.atlanta.com;lr>")
        );
        assert_eq!(resp.headers.cseq().unwrap().seq, 314159);
        let trying = SipMessage::response_to(&req, 100, None);
        assert!(trying.headers.get("Record-Route").is_none());
        assert!(trying.to_bytes().starts_with(b"SIP/2.0 100 Trying\r\n"));
        assert_eq!(
            trying.to_string(),
            "100 Trying cseq=314159 INVITE call-id=a84b4c76e66710@pc33.atlanta.com"
        );
        // An existing tag is kept.
        let again = resp.with_to_tag("other");
        assert_eq!(again.headers.to().unwrap().tag(), Some("as83kd9bs"));
    }
}
