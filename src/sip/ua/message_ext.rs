//! The few derived fields the user agent reads from the parser's [`SipMessage`]: dialog tags,
//! the top Via, the SDP body, option tags, and where a URI with an IP literal points.
//!
//! Owns: thin, lenient shortcuts over `sip::headers` accessors (which do the grammar). Must not
//! parse bytes (that is `sip::parse`) or judge requests (that is `sip::validate`). Everything
//! here returns `None`/`false` rather than failing: the strict parser already vetted the
//! message, so a miss only means the field is absent.

use std::net::SocketAddr;

use crate::sip::headers::{CSeq, Via};
use crate::sip::message::SipMessage;
use crate::sip::uri::Uri;

/// Shortcuts the UA uses on messages it received or built.
pub trait UaMessageExt {
    /// Call-ID, trimmed.
    fn call_id(&self) -> Option<&str>;
    /// CSeq number and method (RFC 3261 §20.16).
    fn cseq(&self) -> Option<CSeq>;
    /// The topmost Via (RFC 3261 §17.2.3: it identifies the transaction).
    fn top_via(&self) -> Option<Via>;
    /// The From tag (RFC 3261 §19.3).
    // "From" names the SIP header here, not a conversion.
    #[allow(clippy::wrong_self_convention)]
    fn from_tag(&self) -> Option<String>;
    /// The To tag; present on every in-dialog request (RFC 3261 §12.2.1.1).
    fn to_tag(&self) -> Option<String>;
    /// Content-Type as `type/subtype`, lower-cased.
    fn content_essence(&self) -> Option<String>;
    /// The body as text when it is SDP.
    fn sdp(&self) -> Option<String>;
    /// True when the token list header `name` (Require, Supported, Allow) holds `token`.
    fn has_token(&self, name: &'static str, token: &str) -> bool;
    /// The request method, or for a response the method its CSeq names (for logs).
    fn method_name(&self) -> String;
}

impl UaMessageExt for SipMessage {
    fn call_id(&self) -> Option<&str> {
        self.headers.call_id().ok()
    }

    fn cseq(&self) -> Option<CSeq> {
        self.headers.cseq().ok()
    }

    fn top_via(&self) -> Option<Via> {
        self.headers.top_via().ok()
    }

    fn from_tag(&self) -> Option<String> {
        self.headers.from().ok()?.tag().map(str::to_string)
    }

    fn to_tag(&self) -> Option<String> {
        self.headers.to().ok()?.tag().map(str::to_string)
    }

    fn content_essence(&self) -> Option<String> {
        Some(self.headers.content_type().ok()??.essence())
    }

    fn sdp(&self) -> Option<String> {
        if self.body.is_empty() || self.content_essence().as_deref() != Some("application/sdp") {
            return None;
        }
        String::from_utf8(self.body.clone()).ok()
    }

    fn has_token(&self, name: &'static str, token: &str) -> bool {
        self.headers
            .values(name)
            .is_ok_and(|v| v.iter().any(|t| t.eq_ignore_ascii_case(token)))
    }

    fn method_name(&self) -> String {
        match self.method() {
            Some(m) => m.to_string(),
            None => self
                .cseq()
                .map(|c| c.method.to_string())
                .unwrap_or_default(),
        }
    }
}

/// The `host[:port]` of a Via as written: the sent-by of RFC 3261 §17.2.3 matching.
pub fn sent_by(via: &Via) -> String {
    match via.port {
        Some(p) => format!("{}:{p}", via.host),
        None => via.host.to_string(),
    }
}

/// Where a URI with an IP-literal host points (the core does no DNS; RFC 3263 is out of scope).
pub fn uri_socket_addr(uri: &Uri) -> Option<SocketAddr> {
    Some(SocketAddr::new(uri.host.ip()?, uri.port.unwrap_or(5060)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::Method;
    use crate::sip::parse::parse_datagram;

    const INVITE: &str = "INVITE sip:%30800@127.0.0.1 SIP/2.0\r\n\
        v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1;rport, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0\r\n\
        f: \"A, B\" <sip:alice@127.0.0.1>;tag=abc\r\n\
        t: sip:bob@127.0.0.1\r\n\
        i: call-1\r\n\
        CSeq: 7 INVITE\r\n\
        k: timer, 100rel\r\n\
        c: application/sdp\r\n\
        l: 4\r\n\r\nv=0\r\nextra";

    #[test]
    fn reads_fields_and_compact_forms() {
        let m = parse_datagram(INVITE.as_bytes()).unwrap();
        let via = m.top_via().unwrap();
        assert_eq!(sent_by(&via), "127.0.0.1:5070");
        assert_eq!(via.branch.as_deref(), Some("z9hG4bK1"));
        assert!(via.rport.is_some());
        assert_eq!(m.from_tag().as_deref(), Some("abc"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.call_id(), Some("call-1"));
        let cseq = m.cseq().unwrap();
        assert_eq!((cseq.seq, cseq.method), (7, Method::Invite));
        assert_eq!(m.sdp().as_deref(), Some("v=0\r"));
        assert!(m.has_token("Supported", "TIMER"));
        assert!(!m.has_token("Require", "timer"));
        assert_eq!(m.method_name(), "INVITE");
        assert_eq!(
            m.request_uri().and_then(Uri::user_decoded).as_deref(),
            Some("0800")
        );
    }

    #[test]
    fn uri_addresses_need_ip_literals() {
        let v6 = Uri::parse("sip:u@[::1]:5080;transport=tcp").unwrap();
        assert_eq!(uri_socket_addr(&v6), Some("[::1]:5080".parse().unwrap()));
        let v4 = Uri::parse("sip:u@127.0.0.2").unwrap();
        assert_eq!(
            uri_socket_addr(&v4),
            Some("127.0.0.2:5060".parse().unwrap())
        );
        assert_eq!(
            uri_socket_addr(&Uri::parse("sip:u@example.com").unwrap()),
            None
        );
    }
}
