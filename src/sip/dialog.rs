//! One SIP dialog's state (RFC 3261 §12): identifiers, sequence numbers, remote target and route
//! set, and the building of in-dialog requests from them.
//!
//! Owns: dialog creation on both sides (§12.1.1 UAS, §12.1.2 UAC), remote CSeq ordering
//! (§12.2.2), target refresh (§12.2.2), and request construction (§12.2.1.1). Must not touch:
//! transactions, Via/branch (the user agent adds the Via), bodies, or what the call means.

use super::headers::NameAddr;
use super::message::{Method, SipMessage};
use super::ua::message_ext::UaMessageExt;
use super::uri::Uri;

/// Why an in-dialog request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// RFC 3261 §12.2.2: a CSeq lower than the last one seen is answered 500.
    #[error("CSeq {got} is not above {last}")]
    CSeqOutOfOrder { got: u32, last: u32 },
    /// The message lacks a field a dialog needs.
    #[error("message lacks {0}")]
    Missing(&'static str),
}

impl DialogError {
    /// The status a UAS answers with.
    pub fn status(&self) -> u16 {
        match self {
            DialogError::CSeqOutOfOrder { .. } => 500,
            DialogError::Missing(_) => 400,
        }
    }
}

/// A dialog from our point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// The full From/To value we present (with our tag).
    pub local_party: String,
    /// The full From/To value of the peer (with its tag).
    pub remote_party: String,
    /// The peer's Contact URI (§12.1.1): Request-URI of our in-dialog requests.
    pub remote_target: Uri,
    /// Record-Route URIs in the order we put them in Route (§12.1.1, §12.1.2).
    pub route_set: Vec<Uri>,
    pub local_seq: u32,
    pub remote_seq: Option<u32>,
}

/// The URIs of a name-addr list (Record-Route), in order.
fn uris(list: Vec<NameAddr>) -> Vec<Uri> {
    list.into_iter().map(|n| n.uri).collect()
}

impl Dialog {
    /// RFC 3261 §12.1.1: the UAS side of a dialog created by `invite`, with our new `local_tag`.
    pub fn from_incoming_invite(
        invite: &SipMessage,
        local_tag: &str,
        local_seq: u32,
    ) -> Result<Dialog, DialogError> {
        let h = &invite.headers;
        let call_id = invite
            .call_id()
            .ok_or(DialogError::Missing("Call-ID"))?
            .to_string();
        let from = h.from().map_err(|_| DialogError::Missing("From"))?;
        let remote_party = h.get("From").unwrap_or_default().to_string();
        let remote_tag = from.tag().unwrap_or_default().to_string();
        let to = h.get("To").ok_or(DialogError::Missing("To"))?;
        let local_party = if invite.to_tag().is_some() {
            to.to_string()
        } else {
            // An addr-spec's trailing parameters are header parameters (§20.10), so appending
            // works for both forms.
            format!("{to};tag={local_tag}")
        };
        let contact = h.contact().map_err(|_| DialogError::Missing("Contact"))?;
        // RFC 2543 peers may omit Contact: fall back to the From URI.
        let remote_target = contact.map_or(from.uri, |c| c.uri);
        // §12.1.1: the UAS keeps the Record-Route order as received.
        let route_set = uris(
            h.record_route()
                .map_err(|_| DialogError::Missing("Record-Route"))?,
        );
        let remote_seq = invite.cseq().ok_or(DialogError::Missing("CSeq"))?.seq;
        Ok(Dialog {
            call_id,
            local_tag: local_tag.to_string(),
            remote_tag,
            local_party,
            remote_party,
            remote_target,
            route_set,
            local_seq,
            remote_seq: Some(remote_seq),
        })
    }

    /// RFC 3261 §12.1.2: the UAC side, from our `request` and the peer's 2xx (or 1xx with tag).
    pub fn from_outgoing_response(
        request: &SipMessage,
        response: &SipMessage,
    ) -> Result<Dialog, DialogError> {
        let call_id = request
            .call_id()
            .ok_or(DialogError::Missing("Call-ID"))?
            .to_string();
        let local_party = request
            .headers
            .get("From")
            .ok_or(DialogError::Missing("From"))?
            .to_string();
        let local_tag = request.from_tag().ok_or(DialogError::Missing("From tag"))?;
        let remote_party = response
            .headers
            .get("To")
            .ok_or(DialogError::Missing("To"))?
            .to_string();
        let remote_tag = response.to_tag().unwrap_or_default();
        let contact = response
            .headers
            .contact()
            .map_err(|_| DialogError::Missing("Contact"))?;
        let remote_target = match (contact, request.request_uri()) {
            (Some(c), _) => c.uri,
            (None, Some(uri)) => uri.clone(),
            (None, None) => return Err(DialogError::Missing("Contact")),
        };
        // §12.1.2: the UAC reverses the Record-Route order.
        let mut route_set = uris(
            response
                .headers
                .record_route()
                .map_err(|_| DialogError::Missing("Record-Route"))?,
        );
        route_set.reverse();
        let local_seq = request.cseq().ok_or(DialogError::Missing("CSeq"))?.seq;
        Ok(Dialog {
            call_id,
            local_tag,
            remote_tag,
            local_party,
            remote_party,
            remote_target,
            route_set,
            local_seq,
            remote_seq: None,
        })
    }

    /// RFC 3261 §12.2.2: checks and records the CSeq of an in-dialog request.
    /// ACK and CANCEL reuse the INVITE's number and are not checked.
    pub fn accept_remote_cseq(&mut self, request: &SipMessage) -> Result<(), DialogError> {
        let cseq = request.cseq().ok_or(DialogError::Missing("CSeq"))?;
        if matches!(cseq.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        if let Some(last) = self.remote_seq
            && cseq.seq <= last
        {
            return Err(DialogError::CSeqOutOfOrder {
                got: cseq.seq,
                last,
            });
        }
        self.remote_seq = Some(cseq.seq);
        Ok(())
    }

    /// RFC 3261 §12.2: a target refresh request or its response replaces the remote target.
    pub fn refresh_target(&mut self, message: &SipMessage) {
        if let Ok(Some(contact)) = message.headers.contact() {
            self.remote_target = contact.uri;
        }
    }

    /// RFC 3261 §12.2.1.1: a new in-dialog request with the next local CSeq. `Via` is left to
    /// the caller. ACK and CANCEL must use [`Self::request_with_cseq`] instead.
    pub fn next_request(&mut self, method: Method) -> SipMessage {
        self.local_seq = self.local_seq.wrapping_add(1).max(1);
        self.request_with_cseq(method, self.local_seq)
    }

    /// An in-dialog request with a given CSeq number (ACK for 2xx reuses the INVITE's, §13.2.2.4).
    pub fn request_with_cseq(&self, method: Method, seq: u32) -> SipMessage {
        // §12.2.1.1: with a loose-routing first route the Request-URI is the remote target and
        // the route set goes in Route; with a strict router the first route is the Request-URI.
        let strict = self.route_set.first().is_some_and(|r| !r.params.has("lr"));
        let (uri, routes): (Uri, Vec<&Uri>) = match self.route_set.split_first() {
            Some((first, rest)) if strict => {
                let mut routes: Vec<&Uri> = rest.iter().collect();
                routes.push(&self.remote_target);
                (first.clone(), routes)
            }
            _ => (self.remote_target.clone(), self.route_set.iter().collect()),
        };
        let cseq = format!("{seq} {method}");
        let mut m = SipMessage::request(method, uri);
        for r in routes {
            m.headers.push("Route", format!("<{r}>"));
        }
        m.headers.push("From", self.local_party.clone());
        m.headers.push("To", self.remote_party.clone());
        m.headers.push("Call-ID", self.call_id.clone());
        m.headers.push("CSeq", cseq);
        m.headers.push("Max-Forwards", "70");
        m
    }

    /// The URI our in-dialog requests are physically sent towards (§8.1.2: first route or target).
    pub fn next_hop(&self) -> &Uri {
        self.route_set.first().unwrap_or(&self.remote_target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::{StartLine, StatusLine};
    use crate::sip::parse::parse_datagram;

    fn invite() -> SipMessage {
        parse_datagram(
            b"INVITE sip:800@127.0.0.1 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
            Record-Route: <sip:p1@127.0.0.2;lr>, <sip:p2@127.0.0.3;lr>\r\n\
            From: <sip:alice@127.0.0.1>;tag=a1\r\n\
            To: <sip:800@127.0.0.1>\r\n\
            Call-ID: c1\r\n\
            CSeq: 10 INVITE\r\n\
            Contact: <sip:alice@127.0.0.1:5070>\r\n\r\n",
        )
        .unwrap()
    }

    fn strings(uris: &[Uri]) -> Vec<String> {
        uris.iter().map(Uri::to_string).collect()
    }

    #[test]
    fn uas_dialog_and_bye_use_route_set_and_swapped_tags() {
        let mut d = Dialog::from_incoming_invite(&invite(), "b2", 1).unwrap();
        assert_eq!(
            strings(&d.route_set),
            vec!["sip:p1@127.0.0.2;lr", "sip:p2@127.0.0.3;lr"]
        );
        let bye = d.next_request(Method::Bye);
        assert_eq!(
            bye.request_uri().map(Uri::to_string).as_deref(),
            Some("sip:alice@127.0.0.1:5070")
        );
        assert_eq!(bye.from_tag().as_deref(), Some("b2"));
        assert_eq!(bye.to_tag().as_deref(), Some("a1"));
        let cseq = bye.cseq().unwrap();
        assert_eq!((cseq.seq, cseq.method), (2, Method::Bye));
        assert_eq!(
            bye.headers.get_all("Route").collect::<Vec<_>>(),
            vec!["<sip:p1@127.0.0.2;lr>", "<sip:p2@127.0.0.3;lr>"]
        );
        assert_eq!(d.next_hop().to_string(), "sip:p1@127.0.0.2;lr");
        // What we build, the strict parser accepts (once the UA adds its Via).
        let mut bye = bye;
        bye.headers
            .insert(0, "Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx");
        assert!(parse_datagram(&bye.to_bytes()).is_ok());
    }

    #[test]
    fn remote_cseq_must_increase() {
        let mut d = Dialog::from_incoming_invite(&invite(), "b2", 1).unwrap();
        let mut req = invite();
        req.headers.set("CSeq", "9 BYE");
        assert_eq!(d.accept_remote_cseq(&req).map_err(|e| e.status()), Err(500));
        req.headers.set("CSeq", "11 BYE");
        assert!(d.accept_remote_cseq(&req).is_ok());
    }

    #[test]
    fn uac_dialog_reverses_record_route() {
        let mut req = invite();
        req.headers.remove("Record-Route");
        let mut resp = invite();
        resp.start = StartLine::Response(StatusLine {
            code: 200,
            reason: "OK".into(),
        });
        resp.headers.set("To", "<sip:800@127.0.0.1>;tag=t9");
        resp.headers.set("Contact", "<sip:800@127.0.0.9:5090>");
        let d = Dialog::from_outgoing_response(&req, &resp).unwrap();
        assert_eq!(
            strings(&d.route_set),
            vec!["sip:p2@127.0.0.3;lr", "sip:p1@127.0.0.2;lr"]
        );
        assert_eq!(d.remote_tag, "t9");
        assert_eq!(d.remote_target.to_string(), "sip:800@127.0.0.9:5090");
    }

    #[test]
    fn strict_router_goes_in_request_uri() {
        let mut d = Dialog::from_incoming_invite(&invite(), "b2", 1).unwrap();
        d.route_set = vec![Uri::parse("sip:strict@127.0.0.2").unwrap()];
        let bye = d.next_request(Method::Bye);
        assert_eq!(
            bye.request_uri().map(Uri::to_string).as_deref(),
            Some("sip:strict@127.0.0.2")
        );
        assert_eq!(bye.headers.get("Route"), Some("<sip:alice@127.0.0.1:5070>"));
    }

    #[test]
    fn rfc2543_invite_without_contact_or_tag_still_makes_a_dialog() {
        let mut inv = invite();
        inv.headers.remove("Contact");
        inv.headers.set("From", "sip:alice@127.0.0.4");
        let d = Dialog::from_incoming_invite(&inv, "b2", 1).unwrap();
        assert_eq!(d.remote_tag, "");
        assert_eq!(d.remote_target.to_string(), "sip:alice@127.0.0.4");
        assert_eq!(d.local_party, "<sip:800@127.0.0.1>;tag=b2");
    }
}
