//! One SIP dialog's state (RFC 3261 §12): identifiers, sequence numbers, remote target and route
//! set, and the building of in-dialog requests from them.
//!
//! Owns: dialog creation on both sides (§12.1.1 UAS, §12.1.2 UAC), remote CSeq ordering
//! (§12.2.2), target refresh (§12.2.2), and request construction (§12.2.1.1). Must not touch:
//! transactions, Via/branch (the user agent adds the Via), bodies, or what the call means.

use super::ua::wire::{Message, header_param, header_uri};

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
    pub remote_target: String,
    /// Record-Route URIs in the order we put them in Route (§12.1.1, §12.1.2).
    pub route_set: Vec<String>,
    pub local_seq: u32,
    pub remote_seq: Option<u32>,
}

impl Dialog {
    /// RFC 3261 §12.1.1: the UAS side of a dialog created by `invite`, with our new `local_tag`.
    pub fn from_incoming_invite(
        invite: &Message,
        local_tag: &str,
        local_seq: u32,
    ) -> Result<Dialog, DialogError> {
        let call_id = invite
            .call_id()
            .ok_or(DialogError::Missing("Call-ID"))?
            .to_string();
        let remote_party = invite
            .header("From")
            .ok_or(DialogError::Missing("From"))?
            .to_string();
        let remote_tag = invite.from_tag().unwrap_or_default();
        let to = invite.header("To").ok_or(DialogError::Missing("To"))?;
        let local_party = if header_param(to, "tag").is_some() {
            to.to_string()
        } else {
            format!("{to};tag={local_tag}")
        };
        let remote_target = invite
            .header("Contact")
            .and_then(header_uri)
            .or_else(|| header_uri(&remote_party))
            .ok_or(DialogError::Missing("Contact"))?;
        // §12.1.1: the UAS keeps the Record-Route order as received.
        let route_set = invite
            .headers_named("Record-Route")
            .filter_map(header_uri)
            .collect();
        let (remote_seq, _) = invite.cseq().ok_or(DialogError::Missing("CSeq"))?;
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
        request: &Message,
        response: &Message,
    ) -> Result<Dialog, DialogError> {
        let call_id = request
            .call_id()
            .ok_or(DialogError::Missing("Call-ID"))?
            .to_string();
        let local_party = request
            .header("From")
            .ok_or(DialogError::Missing("From"))?
            .to_string();
        let local_tag = request.from_tag().ok_or(DialogError::Missing("From tag"))?;
        let remote_party = response
            .header("To")
            .ok_or(DialogError::Missing("To"))?
            .to_string();
        let remote_tag = response.to_tag().unwrap_or_default();
        let remote_target = response
            .header("Contact")
            .and_then(header_uri)
            .or_else(|| request.request_uri().map(str::to_string))
            .ok_or(DialogError::Missing("Contact"))?;
        // §12.1.2: the UAC reverses the Record-Route order.
        let mut route_set: Vec<String> = response
            .headers_named("Record-Route")
            .filter_map(header_uri)
            .collect();
        route_set.reverse();
        let (local_seq, _) = request.cseq().ok_or(DialogError::Missing("CSeq"))?;
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
    pub fn accept_remote_cseq(&mut self, request: &Message) -> Result<(), DialogError> {
        let (seq, method) = request.cseq().ok_or(DialogError::Missing("CSeq"))?;
        if method == "ACK" || method == "CANCEL" {
            return Ok(());
        }
        if let Some(last) = self.remote_seq
            && seq <= last
        {
            return Err(DialogError::CSeqOutOfOrder { got: seq, last });
        }
        self.remote_seq = Some(seq);
        Ok(())
    }

    /// RFC 3261 §12.2: a target refresh request or its response replaces the remote target.
    pub fn refresh_target(&mut self, message: &Message) {
        if let Some(uri) = message.header("Contact").and_then(header_uri) {
            self.remote_target = uri;
        }
    }

    /// RFC 3261 §12.2.1.1: a new in-dialog request with the next local CSeq. `Via` is left to
    /// the caller. ACK and CANCEL must use [`Self::request_with_cseq`] instead.
    pub fn next_request(&mut self, method: &str) -> Message {
        self.local_seq = self.local_seq.wrapping_add(1).max(1);
        self.request_with_cseq(method, self.local_seq)
    }

    /// An in-dialog request with a given CSeq number (ACK for 2xx reuses the INVITE's, §13.2.2.4).
    pub fn request_with_cseq(&self, method: &str, seq: u32) -> Message {
        // §12.2.1.1: with a loose-routing first route the Request-URI is the remote target and
        // the route set goes in Route; with a strict router the first route is the Request-URI.
        let strict = self.route_set.first().is_some_and(|r| !r.contains(";lr"));
        let (uri, routes): (String, Vec<String>) = if strict {
            let mut rest: Vec<String> = self.route_set.iter().skip(1).cloned().collect();
            rest.push(self.remote_target.clone());
            (self.route_set.first().cloned().unwrap_or_default(), rest)
        } else {
            (self.remote_target.clone(), self.route_set.clone())
        };
        let mut m = Message::request(method, &uri);
        for r in routes {
            m.push("Route", format!("<{r}>"));
        }
        m.push("From", self.local_party.clone());
        m.push("To", self.remote_party.clone());
        m.push("Call-ID", self.call_id.clone());
        m.push("CSeq", format!("{seq} {method}"));
        m.push("Max-Forwards", "70");
        m
    }

    /// The URI our in-dialog requests are physically sent towards (§8.1.2: first route or target).
    pub fn next_hop(&self) -> &str {
        self.route_set.first().unwrap_or(&self.remote_target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Message {
        Message::parse(
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

    #[test]
    fn uas_dialog_and_bye_use_route_set_and_swapped_tags() {
        let mut d = Dialog::from_incoming_invite(&invite(), "b2", 1).unwrap();
        assert_eq!(
            d.route_set,
            vec!["sip:p1@127.0.0.2;lr", "sip:p2@127.0.0.3;lr"]
        );
        let bye = d.next_request("BYE");
        assert_eq!(bye.request_uri(), Some("sip:alice@127.0.0.1:5070"));
        assert_eq!(bye.from_tag().as_deref(), Some("b2"));
        assert_eq!(bye.to_tag().as_deref(), Some("a1"));
        assert_eq!(bye.cseq(), Some((2, "BYE")));
        assert_eq!(
            bye.headers_named("Route").collect::<Vec<_>>(),
            vec!["<sip:p1@127.0.0.2;lr>", "<sip:p2@127.0.0.3;lr>"]
        );
        assert_eq!(d.next_hop(), "sip:p1@127.0.0.2;lr");
    }

    #[test]
    fn remote_cseq_must_increase() {
        let mut d = Dialog::from_incoming_invite(&invite(), "b2", 1).unwrap();
        let mut req = invite();
        req.headers.retain(|(n, _)| n != "CSeq");
        req.push("CSeq", "9 BYE");
        assert_eq!(d.accept_remote_cseq(&req).map_err(|e| e.status()), Err(500));
        req.headers.retain(|(n, _)| n != "CSeq");
        req.push("CSeq", "11 BYE");
        assert!(d.accept_remote_cseq(&req).is_ok());
    }

    #[test]
    fn uac_dialog_reverses_record_route() {
        let mut req = invite();
        req.headers.retain(|(n, _)| n != "Record-Route");
        let mut resp = invite();
        resp.start = super::super::ua::wire::StartLine::Response {
            status: 200,
            reason: "OK".into(),
        };
        resp.headers.retain(|(n, _)| n != "To" && n != "Contact");
        resp.push("To", "<sip:800@127.0.0.1>;tag=t9");
        resp.push("Contact", "<sip:800@127.0.0.9:5090>");
        let d = Dialog::from_outgoing_response(&req, &resp).unwrap();
        assert_eq!(
            d.route_set,
            vec!["sip:p2@127.0.0.3;lr", "sip:p1@127.0.0.2;lr"]
        );
        assert_eq!(d.remote_tag, "t9");
        assert_eq!(d.remote_target, "sip:800@127.0.0.9:5090");
    }

    #[test]
    fn strict_router_goes_in_request_uri() {
        let mut d = Dialog::from_incoming_invite(&invite(), "b2", 1).unwrap();
        d.route_set = vec!["sip:strict@127.0.0.2".into()];
        let bye = d.next_request("BYE");
        assert_eq!(bye.request_uri(), Some("sip:strict@127.0.0.2"));
        assert_eq!(bye.header("Route"), Some("<sip:alice@127.0.0.1:5070>"));
    }
}
