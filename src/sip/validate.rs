//! Semantic checks a UAS applies to a well-formed request before acting on it
//! (RFC 3261 §8.2.1-§8.2.3; RFC 4475 §3.3).
//!
//! Owns the decisions 400 (inconsistent or repeated scalar headers), 416 (URI scheme),
//! 420 (Require), 415 (Content-Type) and 406 (Accept). Must not decide method-level answers
//! (405/501/481 belong to the user agent core) except the CSeq/method mismatch of an unknown
//! method, which RFC 4475 §3.1.2.18 prefers answered 501.

use super::error::ParseError;
use super::headers::SINGLE_VALUED;
use super::headers::lex::split_outside;
use super::message::{Method, SipMessage};
use super::uri::Scheme;

/// What this UAS supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UasPolicy {
    /// Request-URI schemes we serve (RFC 3261 §8.2.2.1); others get 416.
    pub uri_schemes: Vec<Scheme>,
    /// Option tags we implement (RFC 3261 §8.2.2.3); anything else in Require gets 420.
    pub extensions: Vec<String>,
    /// Body types we understand (RFC 3261 §8.2.3); others get 415 listing these in Accept.
    pub content_types: Vec<String>,
}

impl Default for UasPolicy {
    fn default() -> UasPolicy {
        UasPolicy {
            uri_schemes: vec![Scheme::Sip, Scheme::Sips],
            // RFC 4028 session timers are implemented; 100rel (RFC 3262) is declined.
            extensions: vec!["timer".to_string()],
            content_types: vec![
                "application/sdp".to_string(),
                "application/dtmf-relay".to_string(),
                "message/sipfrag".to_string(),
            ],
        }
    }
}

/// A request the UAS refuses: status, reason phrase and extra headers for the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
}

impl Rejection {
    fn new(status: u16, reason: impl Into<String>) -> Rejection {
        Rejection {
            status,
            reason: reason.into(),
            headers: Vec::new(),
        }
    }

    /// The response to send (the caller adds the To tag). Never answer an ACK (RFC 3261
    /// §17.2.3): drop it instead.
    pub fn to_response(&self, request: &SipMessage) -> SipMessage {
        let mut response = SipMessage::response_to(request, self.status, Some(&self.reason));
        for (name, value) in &self.headers {
            response.headers.push(name, value.clone());
        }
        response
    }
}

impl From<ParseError> for Rejection {
    fn from(e: ParseError) -> Rejection {
        Rejection::new(e.response_status().unwrap_or(400), e.reason_phrase())
    }
}

/// Checks a parsed request against RFC 3261 §8.2 in the RFC's order. `Ok` means the request
/// may go on to method handling.
pub fn check_request(msg: &SipMessage, policy: &UasPolicy) -> Result<(), Rejection> {
    let Some(method) = msg.method() else {
        return Err(Rejection::new(400, "Bad Request - Not a Request"));
    };
    // RFC 3261 §7.3.1 / RFC 4475 §3.3.8-9: a single-valued header given twice, or with a
    // comma-separated list, is malformed.
    for name in SINGLE_VALUED {
        let mut lines = msg.headers.get_all(name);
        let first = lines.next();
        let repeated = lines.next().is_some()
            || first.is_some_and(|v| match *name {
                // These may contain commas inside quotes or <>; split_outside respects them.
                "From" | "To" | "Content-Type" => {
                    split_outside(v, b',').is_none_or(|parts| parts.len() > 1)
                }
                // A Call-ID word may contain '"' and '<' (RFC 4475 §3.1.1.2), never ','.
                _ => v.contains(','),
            });
        if repeated {
            return Err(Rejection::new(
                400,
                format!("Bad Request - Multiple {name} Values"),
            ));
        }
    }
    let cseq = msg.headers.cseq().map_err(Rejection::from)?;
    if cseq.method != *method {
        // RFC 4475 §3.1.2.18: an unknown method is better reported as such.
        let status = if method.is_known() { 400 } else { 501 };
        let reason = if status == 501 {
            "Not Implemented"
        } else {
            "Bad Request - CSeq Method Does Not Match Request Method"
        };
        return Err(Rejection::new(status, reason));
    }
    // RFC 3261 §8.2.2.1: Request-URI scheme.
    if msg
        .request_uri()
        .is_some_and(|uri| !policy.uri_schemes.contains(&uri.scheme))
    {
        return Err(Rejection::new(416, "Unsupported URI Scheme"));
    }
    // RFC 3261 §8.2.2.3: Require (and Proxy-Require, which a UAS acting as the endpoint
    // treats the same way, RFC 4475 §3.3.5). Not applied to ACK or CANCEL.
    if !matches!(method, Method::Ack | Method::Cancel) {
        let mut unsupported = Vec::new();
        let required = [msg.headers.require(), msg.headers.proxy_require()];
        for list in required {
            for option in list.map_err(Rejection::from)? {
                let known = policy
                    .extensions
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(&option));
                if !known && !unsupported.contains(&option) {
                    unsupported.push(option);
                }
            }
        }
        if !unsupported.is_empty() {
            let mut r = Rejection::new(420, "Bad Extension");
            r.headers
                .push(("Unsupported".to_string(), unsupported.join(", ")));
            return Err(r);
        }
    }
    // RFC 3261 §8.2.3: a body we cannot process.
    if !msg.body.is_empty() {
        let accept = policy.content_types.join(", ");
        let Some(content_type) = msg.headers.content_type().map_err(Rejection::from)? else {
            // RFC 3261 §20.15: a non-empty body must have a Content-Type.
            return Err(Rejection::new(400, "Bad Request - Missing Content-Type"));
        };
        let known = policy
            .content_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&content_type.essence()));
        if !known {
            let mut r = Rejection::new(415, "Unsupported Media Type");
            r.headers.push(("Accept".to_string(), accept));
            return Err(r);
        }
    }
    // RFC 3261 §21.4.7 / RFC 4475 §3.3.15: an INVITE or UPDATE whose Accept excludes SDP
    // cannot be answered with a session description.
    if matches!(method, Method::Invite | Method::Update) && msg.headers.get("Accept").is_some() {
        let accepts = msg.headers.values("Accept").map_err(Rejection::from)?;
        let sdp_ok = accepts.iter().any(|a| {
            let essence = a
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            matches!(
                essence.as_str(),
                "application/sdp" | "application/*" | "*/*"
            )
        });
        if !sdp_ok && !accepts.is_empty() {
            let mut r = Rejection::new(406, "Not Acceptable");
            r.headers
                .push(("Accept".to_string(), "application/sdp".to_string()));
            return Err(r);
        }
    }
    Ok(())
}

/// Checks a response before it reaches the transaction layer. RFC 3261 §8.1.3.3: a response
/// with more than one Via is discarded (RFC 4475 §3.3.10).
pub fn check_response(msg: &SipMessage) -> Result<(), ParseError> {
    let vias = msg.headers.vias().map_err(ParseError::in_response)?;
    if vias.len() != 1 {
        return Err(ParseError::BadHeader {
            name: "Via",
            reason: "response must carry exactly one Via",
        }
        .in_response());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::parse_datagram;

    fn request(extra: &str, body: &str) -> SipMessage {
        let raw = format!(
            "INVITE sip:bob@biloxi.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776\r\nTo: <sip:bob@biloxi.com>\r\nFrom: <sip:alice@atlanta.com>;tag=1\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        parse_datagram(raw.as_bytes()).unwrap()
    }

    fn status(msg: &SipMessage) -> Option<u16> {
        check_request(msg, &UasPolicy::default())
            .err()
            .map(|r| r.status)
    }

    #[test]
    fn accepts_plain_invite() {
        assert_eq!(
            status(&request(
                "Content-Type: application/sdp\r\nSupported: timer, 100rel\r\nRequire: timer\r\nMax-Forwards: 0\r\n",
                "v=0\r\n"
            )),
            None
        );
    }

    #[test]
    fn require_gives_420_with_unsupported() {
        let msg = request("Require: 100rel, foo\r\nProxy-Require: bar, foo\r\n", "");
        let r = check_request(&msg, &UasPolicy::default()).unwrap_err();
        assert_eq!(r.status, 420);
        assert_eq!(
            r.headers,
            vec![("Unsupported".to_string(), "100rel, foo, bar".to_string())]
        );
        let resp = r.to_response(&msg);
        assert_eq!(resp.headers.get("Unsupported"), Some("100rel, foo, bar"));
    }

    #[test]
    fn content_type_415_and_406() {
        let r = check_request(
            &request("Content-Type: text/plain\r\n", "hi"),
            &UasPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(r.status, 415);
        assert_eq!(
            r.headers[0].1,
            "application/sdp, application/dtmf-relay, message/sipfrag"
        );
        assert_eq!(status(&request("", "v=0")), Some(400));
        assert_eq!(
            status(&request("Accept: text/nobodyKnowsThis\r\n", "")),
            Some(406)
        );
        assert_eq!(
            status(&request("Accept: application/sdp;level=1, text/x\r\n", "")),
            None
        );
    }

    #[test]
    fn scheme_and_mismatch() {
        let mut msg = request("", "");
        if let crate::sip::message::StartLine::Request(r) = &mut msg.start {
            r.uri = crate::sip::uri::Uri::parse("tel:+441234").unwrap();
        }
        assert_eq!(status(&msg), Some(416));
        let mut policy = UasPolicy::default();
        policy.uri_schemes.push(Scheme::Tel);
        assert!(check_request(&msg, &policy).is_ok());
        let mut msg = request("", "");
        msg.headers.set("CSeq", "1 BYE");
        assert_eq!(status(&msg), Some(400));
        if let crate::sip::message::StartLine::Request(r) = &mut msg.start {
            r.method = Method::Other("NEWMETHOD".into());
        }
        assert_eq!(status(&msg), Some(501));
    }

    #[test]
    fn single_valued_repeats() {
        let mut msg = request("", "");
        msg.headers.push("To", "<sip:other@example.net>");
        assert_eq!(status(&msg), Some(400));
        let mut msg = request("", "");
        msg.headers
            .set("To", r#""Watson, Thomas" <sip:t@example.org>"#);
        assert_eq!(status(&msg), None);
        msg.headers.set("Call-ID", "a, b");
        assert_eq!(status(&msg), Some(400));
    }

    #[test]
    fn responses_with_two_vias_are_dropped() {
        let raw = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let msg = parse_datagram(raw.as_bytes()).unwrap();
        assert_eq!(check_response(&msg).unwrap_err().response_status(), None);
    }
}
