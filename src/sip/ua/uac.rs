//! The client side of the user agent: requests we send and the responses they get.
//!
//! Owns: `place_call` to configured targets only (no toll fraud), digest retries (RFC 3261
//! §22.2), ACK for 2xx (§13.2.2.4), CANCEL (§9.1), in-dialog requests (BYE, session refresh,
//! REFER per RFC 3515) and their responses.

use std::time::Instant;

use super::message_ext::{UaMessageExt, uri_socket_addr};
use super::{
    ALLOW, Call, CallHandle, CallState, ClientEntry, OutboundTarget, Purpose, SUPPORTED,
    TerminationCause, TimerTarget, Transport, UaError, UaEvent, UserAgent, new_branch, new_token,
};
use crate::sip::auth::DigestChallenge;
use crate::sip::dialog::Dialog;
use crate::sip::message::{Method, SipMessage};
use crate::sip::session_timer::{Refresher, SessionTimer};
use crate::sip::transaction::{ClientResponseOutcome, ClientTransaction};
use crate::sip::uri::Uri;

impl UserAgent {
    /// Places a call to the configured target named `target`. Nothing in any received request
    /// can choose the destination (RFC 3261 §26.4 toll-fraud concerns).
    pub fn place_call(
        &mut self,
        now: Instant,
        target: &str,
        sdp_offer: String,
    ) -> Result<CallHandle, UaError> {
        let t = self
            .config
            .outbound_targets
            .iter()
            .find(|t| t.name == target)
            .cloned()
            .ok_or_else(|| UaError::UnknownTarget(target.to_string()))?;
        let unresolvable = || UaError::UnresolvableTarget(t.uri.clone());
        let target_uri = Uri::parse(&t.uri).map_err(|_| unresolvable())?;
        let destination = uri_socket_addr(&target_uri).ok_or_else(unresolvable)?;
        if self.active_calls() >= self.config.max_calls {
            return Err(UaError::AtCapacity);
        }
        let handle = self.new_handle();
        let local_tag = new_token(&mut self.entropy);
        let call_id = format!(
            "{}@{}",
            new_token(&mut self.entropy),
            self.local_host_port()
        );
        // RFC 3261 §8.1.1.5: a CSeq below 2**31; random and non-zero, from 16 bits so a long
        // dialog's later requests stay far below the limit.
        let cseq = self.entropy.u16().max(1);
        let invite = SipMessage::request(Method::Invite, target_uri)
            .with_header(
                "From",
                format!("<sip:frontdoor@{}>;tag={local_tag}", self.local_host_port()),
            )
            .with_header("To", format!("<{}>", t.uri))
            .with_header("Call-ID", call_id.clone())
            .with_header("CSeq", format!("{cseq} INVITE"))
            .with_header("Max-Forwards", "70")
            .with_header("Contact", self.contact(Transport::Udp))
            .with_header("Allow", ALLOW)
            .with_header("Supported", SUPPORTED)
            .with_header("User-Agent", self.config.user_agent.clone())
            .with_body("application/sdp", sdp_offer.clone().into_bytes());
        let call = Call {
            handle,
            state: CallState::Calling,
            transport: Transport::Udp,
            peer: destination,
            local_tag: local_tag.clone(),
            dialog: None,
            invite: invite.clone(),
            invite_key: None,
            reply_to: (Transport::Udp, destination),
            pending_ack: None,
            reoffer: None,
            session_timer: None,
            session_header: None,
            require_timer: false,
            peer_allows_update: false,
            last_local_sdp: Some(sdp_offer),
            invite_branch: None,
            uac_ack: None,
            auth_attempted: false,
            target: Some(t),
            cancel_when_early: false,
            bye_after_ack: false,
            local_reinvite: false,
            refer_subscription: false,
            txs: 0,
            counted_source: None,
        };
        self.insert_call(call);
        self.dialogs.insert((call_id, local_tag), handle);
        self.send_invite(now, handle, invite);
        Ok(handle)
    }

    fn send_invite(&mut self, now: Instant, handle: CallHandle, invite: SipMessage) {
        let branch = self.start_client(now, handle, invite.clone(), Purpose::Invite);
        if let Some(c) = self.calls.get_mut(&handle) {
            c.invite_branch = branch;
            c.invite = invite;
        }
    }

    /// Sends REFER on an established call (RFC 3515 §2.4): `refer_to` becomes Refer-To, and
    /// `extra_headers` (e.g. `X-Frontdoor-Case`) are added as given.
    pub fn refer(
        &mut self,
        now: Instant,
        call: CallHandle,
        refer_to: &str,
        extra_headers: Vec<(String, String)>,
    ) -> Result<(), UaError> {
        let c = self.calls.get(&call).ok_or(UaError::UnknownCall)?;
        if c.state != CallState::Confirmed {
            return Err(UaError::NotEstablished);
        }
        let mut req = self
            .in_dialog_request(call, Method::Refer)
            .ok_or(UaError::NotEstablished)?;
        let value = if refer_to.starts_with('<') {
            refer_to.to_string()
        } else {
            format!("<{refer_to}>")
        };
        req.headers.push("Refer-To", value);
        req.headers.push(
            "Referred-By",
            format!("<sip:frontdoor@{}>", self.local_host_port()),
        );
        for (n, v) in extra_headers {
            // Header names and values come from our own code; still keep CR/LF out of them.
            if n.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
                continue;
            }
            req.headers.push(&n, v);
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.refer_subscription = true;
        }
        self.start_client(now, call, req, Purpose::Refer);
        Ok(())
    }

    /// Builds an in-dialog request with Via, Contact and the next CSeq.
    pub(super) fn in_dialog_request(
        &mut self,
        call: CallHandle,
        method: Method,
    ) -> Option<SipMessage> {
        let contact = self.contact(self.calls.get(&call)?.transport);
        let ua = self.config.user_agent.clone();
        let c = self.calls.get_mut(&call)?;
        // §12.2.1.1 / RFC 3515 §2.4.1: target refresh requests and REFER carry our Contact.
        let with_contact = matches!(method, Method::Invite | Method::Update | Method::Refer);
        let mut req = c.dialog.as_mut()?.next_request(method);
        if with_contact {
            req.headers.push("Contact", contact);
        }
        req.headers.push("User-Agent", ua);
        Some(req)
    }

    /// Adds our Via, starts a client transaction for `req` and sends it. Returns the branch.
    pub(super) fn start_client(
        &mut self,
        now: Instant,
        call: CallHandle,
        mut req: SipMessage,
        purpose: Purpose,
    ) -> Option<String> {
        let c = self.calls.get(&call)?;
        let (transport, destination) = match &c.dialog {
            Some(d) if c.state != CallState::Calling && c.state != CallState::Early => {
                let hop = uri_socket_addr(d.next_hop());
                match c.transport {
                    // A TCP dialog keeps using its connection.
                    Transport::Tcp(_) => (c.transport, c.peer),
                    Transport::Udp => (Transport::Udp, hop.unwrap_or(c.peer)),
                }
            }
            _ => (c.transport, c.peer),
        };
        let branch = new_branch(&mut self.entropy);
        let proto = if transport == Transport::Udp {
            "UDP"
        } else {
            "TCP"
        };
        req.headers.insert(
            0,
            "Via",
            format!(
                "SIP/2.0/{proto} {};branch={branch};rport",
                self.local_host_port()
            ),
        );
        let invite = req.method() == Some(&Method::Invite);
        let (tx, first) =
            ClientTransaction::start(now, invite, transport, destination, req.to_bytes());
        tracing::debug!(method = %req.method_name(), call_id = req.call_id().unwrap_or(""), %destination, "sip request sent");
        self.transmits.push_back(first);
        self.insert_client(
            branch.clone(),
            ClientEntry {
                tx,
                call,
                request: req,
                purpose,
            },
        );
        Some(branch)
    }

    /// UAC hangup before a final response: CANCEL once a provisional arrived (§9.1).
    pub(super) fn cancel_outgoing(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state == CallState::Calling {
            c.cancel_when_early = true;
            return;
        }
        let Some(branch) = c.invite_branch.clone() else {
            return;
        };
        let Some(entry) = self.client_txs.get(&branch) else {
            return;
        };
        // §9.1: CANCEL copies Request-URI, Call-ID, From, To, the CSeq number and the top Via.
        let inv = &entry.request;
        let Ok(cancel) = SipMessage::cancel_for(inv) else {
            return;
        };
        let (transport, destination) = (entry.tx.transport(), entry.tx.destination());
        let (tx, first) =
            ClientTransaction::start(now, false, transport, destination, cancel.to_bytes());
        self.transmits.push_back(first);
        self.insert_client(
            format!("{branch}/cancel"),
            ClientEntry {
                tx,
                call,
                request: cancel,
                purpose: Purpose::Cancel,
            },
        );
        self.end_call(now, call, TerminationCause::Cancelled);
    }

    /// A session refresh (RFC 4028 §7.4): UPDATE if the peer allows it, else re-INVITE.
    pub(super) fn send_refresh(&mut self, now: Instant, call: CallHandle) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.local_reinvite || c.reoffer.is_some() {
            return;
        }
        let use_update = c.peer_allows_update;
        let sdp = c.last_local_sdp.clone();
        let se = c
            .session_timer
            .as_ref()
            .map(|t| t.interval)
            .unwrap_or(self.config.session_expires);
        let method = if use_update {
            Method::Update
        } else {
            Method::Invite
        };
        let Some(mut req) = self.in_dialog_request(call, method) else {
            return;
        };
        // RFC 4028 §7.4: the refresher names itself (`uac` of this request) so it stays the
        // refresher; `uas` would hand the duty to the peer while we went on refreshing too.
        req.headers
            .push("Session-Expires", format!("{se};refresher=uac"));
        req.headers.push("Supported", SUPPORTED);
        if !use_update && let Some(sdp) = sdp {
            // RFC 4028 §7.4: a re-INVITE refresh repeats the current session description.
            req = req.with_body("application/sdp", sdp.into_bytes());
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.local_reinvite = !use_update;
        }
        let purpose = if use_update {
            Purpose::Update
        } else {
            Purpose::ReInvite
        };
        self.start_client(now, call, req, purpose);
    }

    /// A response arrived; route it to its client transaction by branch (§17.1.3).
    pub(super) fn handle_response(&mut self, now: Instant, resp: SipMessage) {
        let Some(status) = resp.status_code() else {
            return;
        };
        let Some(branch) = resp.top_via().and_then(|v| v.branch) else {
            return;
        };
        let Some(method) = resp.cseq().map(|c| c.method) else {
            return;
        };
        let key = if method == Method::Cancel {
            format!("{branch}/cancel")
        } else {
            branch.clone()
        };
        let Some(entry) = self.client_txs.get_mut(&key) else {
            return;
        };
        let mut out = Vec::new();
        let request = entry.request.clone();
        let outcome =
            entry
                .tx
                .on_response(now, status, || build_non2xx_ack(&request, &resp), &mut out);
        let (call, purpose) = (entry.call, entry.purpose);
        self.transmits.extend(out);
        // A final response starts Timer D/K/M (RFC 3261 §17.1, RFC 6026 §8.4).
        self.arm(TimerTarget::Client(key.clone()));
        tracing::debug!(status, %method, call_id = resp.call_id().unwrap_or(""), "sip response received");
        if outcome == ClientResponseOutcome::Absorb {
            return;
        }
        match purpose {
            Purpose::Invite => self.on_invite_response(now, call, &key, &request, &resp, status),
            Purpose::ReInvite => self.on_refresh_response(now, call, &request, &resp, status, true),
            Purpose::Update => self.on_refresh_response(now, call, &request, &resp, status, false),
            Purpose::Refer => {
                if status >= 200 {
                    if status >= 300
                        && let Some(c) = self.calls.get_mut(&call)
                    {
                        c.refer_subscription = false;
                    }
                    self.emit(UaEvent::ReferProgress { call, status });
                }
            }
            Purpose::Bye | Purpose::Cancel => {}
        }
    }

    fn on_invite_response(
        &mut self,
        now: Instant,
        call: CallHandle,
        branch: &str,
        request: &SipMessage,
        resp: &SipMessage,
        status: u16,
    ) {
        let Some(state) = self.calls.get(&call).map(|c| c.state) else {
            return;
        };
        if status < 200 {
            // Every 18x is progress for the runtime, also after a 100 Trying moved us to Early.
            if status > 100 && matches!(state, CallState::Calling | CallState::Early) {
                self.emit(UaEvent::OutgoingProgress { call, status });
            }
            if let Some(c) = self.calls.get_mut(&call)
                && c.state == CallState::Calling
            {
                c.state = CallState::Early;
                if c.cancel_when_early {
                    self.cancel_outgoing(now, call);
                }
            }
            return;
        }
        if (200..300).contains(&status) {
            self.on_invite_2xx(now, call, request, resp);
            return;
        }
        // RFC 3261 §22.2: one retry with credentials after 401/407.
        if (status == 401 || status == 407)
            && state != CallState::Ended
            && self.retry_with_auth(now, call, request, resp, status)
        {
            return;
        }
        let _ = branch;
        let cause = if state == CallState::Ended {
            TerminationCause::Cancelled
        } else {
            TerminationCause::OutgoingFailed(status)
        };
        self.end_call(now, call, cause);
    }

    fn retry_with_auth(
        &mut self,
        now: Instant,
        call: CallHandle,
        request: &SipMessage,
        resp: &SipMessage,
        status: u16,
    ) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        if c.auth_attempted {
            return false;
        }
        let Some(OutboundTarget {
            username: Some(user),
            password: Some(pass),
            ..
        }) = c.target.clone()
        else {
            return false;
        };
        let (challenge_header, auth_header) = if status == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        // Each challenge header line is one challenge (its commas separate auth-params).
        let Some(challenge) = resp
            .headers
            .get_all(challenge_header)
            .find_map(|v| DigestChallenge::parse(v).ok())
        else {
            return false;
        };
        let Some(uri) = request.request_uri().map(Uri::to_string) else {
            return false;
        };
        let credentials = challenge.authorize(
            "INVITE",
            &uri,
            &user,
            &pass,
            &new_token(&mut self.entropy),
            1,
        );
        let mut retry = request.clone();
        // §22.2: a new request: fresh branch (start_client adds it), CSeq incremented.
        for name in ["Via", "CSeq", auth_header] {
            retry.headers.remove(name);
        }
        let seq = request.cseq().map(|c| c.seq).unwrap_or(1).wrapping_add(1);
        retry.headers.push("CSeq", format!("{seq} INVITE"));
        retry.headers.push(auth_header, credentials);
        if let Some(c) = self.calls.get_mut(&call) {
            c.auth_attempted = true;
            c.state = CallState::Calling;
        }
        self.send_invite(now, call, retry);
        true
    }

    fn on_invite_2xx(
        &mut self,
        now: Instant,
        call: CallHandle,
        request: &SipMessage,
        resp: &SipMessage,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if let Some(ack) = c.uac_ack.clone() {
            // §13.2.2.4: a retransmitted 2xx gets the same ACK again.
            self.transmits.push_back(super::Transmit {
                transport: c.transport,
                destination: c.peer,
                payload: ack,
            });
            return;
        }
        let Ok(mut dialog) = Dialog::from_outgoing_response(request, resp) else {
            return;
        };
        let seq = request.cseq().map(|c| c.seq).unwrap_or(1);
        let mut ack = dialog.request_with_cseq(Method::Ack, seq);
        ack.headers.insert(
            0,
            "Via",
            format!(
                "SIP/2.0/UDP {};branch={};rport",
                self.local_host_port(),
                new_branch(&mut self.entropy)
            ),
        );
        dialog.local_seq = seq;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let destination = uri_socket_addr(dialog.next_hop()).unwrap_or(c.peer);
        let payload = ack.to_bytes();
        c.peer = destination;
        c.uac_ack = Some(payload.clone());
        c.peer_allows_update = resp.has_token("Allow", "UPDATE");
        c.dialog = Some(dialog);
        let was = c.state;
        self.transmits.push_back(super::Transmit {
            transport: c.transport,
            destination,
            payload,
        });
        if was == CallState::Ended {
            // We hung up (CANCEL) but the 2xx won the race: confirm and tear down (§15).
            if let Some(c) = self.calls.get_mut(&call) {
                c.state = CallState::Confirmed;
            }
            self.send_bye(now, call);
            if let Some(c) = self.calls.get_mut(&call) {
                c.state = CallState::Ended;
            }
            return;
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Confirmed;
            if let Some((interval, refresher)) = resp
                .headers
                .get("Session-Expires")
                .and_then(Refresher::parse_session_expires)
            {
                let we = refresher == Some(Refresher::Uac);
                c.session_timer = Some(SessionTimer::start(now, interval, we));
                c.session_header = Some(format!(
                    "{interval};refresher={}",
                    if we { "uac" } else { "uas" }
                ));
            }
        }
        self.arm(TimerTarget::Call(call));
        self.emit(UaEvent::OutgoingAnswered {
            call,
            sdp: resp.sdp(),
        });
    }

    fn on_refresh_response(
        &mut self,
        now: Instant,
        call: CallHandle,
        request: &SipMessage,
        resp: &SipMessage,
        status: u16,
        invite: bool,
    ) {
        if status < 200 {
            return;
        }
        if invite {
            if let Some(c) = self.calls.get_mut(&call) {
                c.local_reinvite = false;
            }
            if (200..300).contains(&status) {
                // §13.2.2.4: ACK the re-INVITE's 2xx.
                let seq = request.cseq().map(|c| c.seq).unwrap_or(1);
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if let Some(d) = &c.dialog {
                    let mut ack = d.request_with_cseq(Method::Ack, seq);
                    ack.headers.insert(
                        0,
                        "Via",
                        format!(
                            "SIP/2.0/UDP {};branch={};rport",
                            self.local_host_port(),
                            new_branch(&mut self.entropy)
                        ),
                    );
                    let destination = uri_socket_addr(d.next_hop()).unwrap_or(c.peer);
                    self.transmits.push_back(super::Transmit {
                        transport: c.transport,
                        destination,
                        payload: ack.to_bytes(),
                    });
                }
            }
        }
        if (200..300).contains(&status) {
            if let Some(c) = self.calls.get_mut(&call)
                && let Some(t) = c.session_timer.as_mut()
            {
                if let Some(d) = c.dialog.as_mut() {
                    d.refresh_target(resp);
                }
                t.restart(now);
            }
            self.arm(TimerTarget::Call(call));
        } else if status == 481 || status == 408 {
            // RFC 4028 §10 / RFC 3261 §12.2.1.2: the dialog is gone.
            self.send_bye(now, call);
            self.end_call(now, call, TerminationCause::SessionExpired);
        }
    }

    /// A client transaction timed out or failed in transport.
    pub(super) fn client_failed(&mut self, now: Instant, branch: &str, status: u16) {
        let Some(entry) = self.client_txs.get(branch) else {
            return;
        };
        let (call, purpose, request) = (entry.call, entry.purpose, entry.request.clone());
        match purpose {
            Purpose::Invite => {
                let ended = self
                    .calls
                    .get(&call)
                    .is_some_and(|c| c.state == CallState::Ended);
                if !ended {
                    self.end_call(now, call, TerminationCause::OutgoingFailed(status));
                }
            }
            Purpose::ReInvite | Purpose::Update => {
                let resp = build_local_response(&request, status);
                self.on_refresh_response(
                    now,
                    call,
                    &request,
                    &resp,
                    status,
                    purpose == Purpose::ReInvite,
                );
            }
            Purpose::Refer => self.emit(UaEvent::ReferProgress { call, status }),
            _ => {}
        }
    }
}

/// RFC 3261 §17.1.1.3: the ACK for a non-2xx final (same branch, Request-URI, Call-ID, From,
/// CSeq number and Route as the INVITE; the response's To). Both messages passed the strict
/// parser, so the builder cannot fail; an empty payload would only be dropped by the peer.
fn build_non2xx_ack(invite: &SipMessage, resp: &SipMessage) -> Vec<u8> {
    SipMessage::ack_for_failure(invite, resp)
        .map(|ack| ack.to_bytes())
        .unwrap_or_default()
}

/// A response synthesised locally for a timed-out transaction (§8.1.3.1).
fn build_local_response(request: &SipMessage, status: u16) -> SipMessage {
    SipMessage::response_to(request, status, None)
}
