//! The server side of the user agent: requests we receive and the responses we send.
//!
//! Owns: allow-list, request dispatch by method (RFC 3261 §8.2), INVITE/CANCEL/BYE/ACK handling,
//! in-dialog requests (re-INVITE, UPDATE, INFO, NOTIFY), 2xx retransmission until ACK
//! (§13.3.1.4), session-timer expiry (RFC 4028 §10), and the UAS commands (`answer`, ...).

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

use super::message_ext::{UaMessageExt, sent_by};
use super::source_limits::InviteAdmission;
use super::{
    ACCEPT, ALLOW, Call, CallHandle, CallState, IncomingCall, PendingAck, PendingReoffer, Purpose,
    ReOfferKind, SUPPORTED, ServerTx, TerminationCause, TimerTarget, Transport, UaEvent, UserAgent,
    new_token,
};
use crate::pii::Pii;
use crate::sip::dialog::Dialog;
use crate::sip::headers::{Via, response_destination};
use crate::sip::message::{Method, SipMessage};
use crate::sip::session_timer::{
    Refresher, SessionTimer, SessionTimerAction, UasDecision, uas_negotiate,
};
use crate::sip::timer::{ACK_WAIT, T1, T2, backoff};
use crate::sip::transaction::{
    InviteServerState, InviteServerTransaction, MAGIC_COOKIE, NonInviteServerTransaction,
    TransactionKey, Transmit,
};
use crate::sip::validate::check_request;

impl UserAgent {
    /// A request the strict parser accepted: allow-list, RFC 3261 §8.2 checks, transaction
    /// matching, then method handling.
    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        mut req: SipMessage,
    ) {
        let Some(method) = req.method().cloned() else {
            return;
        };
        let Some(via) = req.top_via() else {
            // No Via: there is nowhere to send a response (§18.2.2); drop.
            return;
        };
        let reply_to = reply_destination(transport, source, &via);
        // RFC 3261 §18.2.1 / RFC 3581 §4: record where the request really came from, so every
        // response built from it carries `received`/`rport`.
        let _ = req.stamp_received(source);
        if !self.is_allowed(source) {
            // Allow-list first, without creating any state.
            if method != Method::Ack {
                self.send_stateless(&req, 403, None, reply_to, &[]);
            }
            return;
        }
        // RFC 3261 §8.2.1-§8.2.3 (416, 420, 415, 406, 400 for repeated scalar headers or a
        // CSeq/method mismatch, 501 for an unknown method with a mismatch), answered
        // statelessly: a refused request creates no state.
        if let Err(rejection) = check_request(&req, &self.policy) {
            if method != Method::Ack {
                let extra: Vec<(&str, &str)> = rejection
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let reason = rejection.reason.clone();
                self.send_stateless(&req, rejection.status, Some(&reason), reply_to, &extra);
            }
            return;
        }
        let (Some(call_id), Some(cseq)) = (req.call_id(), req.cseq()) else {
            // The parser guarantees both; answer 400 rather than trust that blindly.
            if method != Method::Ack {
                self.send_stateless(&req, 400, None, reply_to, &[]);
            }
            return;
        };
        let branch = match via.branch.as_deref() {
            Some(b) if b.starts_with(MAGIC_COOKIE) => b.to_string(),
            // RFC 3261 §17.2.3 / RFC 4475 §3.4.1: an RFC 2543 peer's transaction is identified
            // by Call-ID, From tag and CSeq number (with the top Via's sent-by below).
            _ => format!(
                "rfc2543;{call_id};{};{}",
                req.from_tag().unwrap_or_default(),
                cseq.seq
            ),
        };
        let key = TransactionKey::new(&branch, &sent_by(&via), method.as_str());
        // Per-request lines are debug: at info a flood would write two lines per datagram.
        tracing::debug!(%method, call_id, %source, "sip request");
        match method {
            Method::Ack => self.on_ack(now, &key, &req),
            Method::Cancel => self.on_cancel(now, key, &req, reply_to),
            _ => {
                if self.absorb_retransmission(&key) {
                    return;
                }
                self.on_new_request(now, key, req, reply_to, source);
            }
        }
    }

    /// A request matching a live server transaction is a retransmission (§17.2.3).
    fn absorb_retransmission(&mut self, key: &TransactionKey) -> bool {
        let Some(tx) = self.server_txs.get_mut(key) else {
            return false;
        };
        let out = match tx {
            ServerTx::Invite(t) => t.on_request_retransmit(),
            ServerTx::NonInvite(t) => t.on_request_retransmit(),
        };
        self.transmits.extend(out);
        true
    }

    fn on_new_request(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: SipMessage,
        reply_to: (Transport, SocketAddr),
        source: SocketAddr,
    ) {
        let method = req.method().cloned().unwrap_or(Method::Options);
        let in_dialog = req.to_tag().is_some();
        if method == Method::Invite && !in_dialog {
            // A new call: per-source INVITE rate and share of the call cap, before any
            // transaction exists (so nothing is ever retransmitted for a refused INVITE).
            match self.sources.admit_invite(now, source.ip()) {
                InviteAdmission::Admit => {}
                // Silently: an answer would double what a flood costs us to send.
                InviteAdmission::OverRate => return,
                InviteAdmission::OverShare => {
                    // RFC 3261 §8.2.7 / §21.5.4: a stateless 503, sent once (never
                    // retransmitted, and the INVITE's own retransmissions are answered one
                    // for one). Its rate is bounded by the INVITE bucket above.
                    self.send_stateless(&req, 503, None, reply_to, &[("Retry-After", "5")]);
                    return;
                }
            }
        }
        let tx = if method == Method::Invite {
            ServerTx::Invite(InviteServerTransaction::new(reply_to.0, reply_to.1))
        } else {
            ServerTx::NonInvite(NonInviteServerTransaction::new(reply_to.0, reply_to.1))
        };
        self.server_txs.insert(key.clone(), tx);

        if in_dialog {
            self.on_in_dialog_request(now, key, req);
            return;
        }
        match method {
            Method::Invite => self.on_initial_invite(now, key, req, reply_to, source),
            Method::Options => {
                // RFC 3261 §11.2: the status an INVITE would get now (503 while draining).
                let status = if self.refusing_new_calls.is_some() {
                    503
                } else {
                    200
                };
                let retry_after = self.refusing_new_calls.clone();
                let mut extra = vec![
                    ("Allow", ALLOW),
                    ("Accept", ACCEPT),
                    ("Supported", SUPPORTED),
                ];
                if let Some(seconds) = retry_after.as_deref() {
                    extra.push(("Retry-After", seconds));
                }
                self.respond(now, &key, &req, status, None, &extra, None);
            }
            Method::Bye | Method::Info | Method::Update | Method::Prack | Method::Notify => {
                // §12.2.2: a mid-dialog request without a To tag matches no dialog.
                self.respond(now, &key, &req, 481, None, &[], None);
            }
            // RFC 3261 §8.2.1: known but not implemented → 405 with Allow; unknown → 501.
            m if m.is_known() => {
                self.respond(now, &key, &req, 405, None, &[("Allow", ALLOW)], None);
            }
            _ => self.respond(now, &key, &req, 501, None, &[("Allow", ALLOW)], None),
        }
    }

    fn on_initial_invite(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: SipMessage,
        reply_to: (Transport, SocketAddr),
        source: SocketAddr,
    ) {
        if let Some(seconds) = self.refusing_new_calls.clone() {
            // RFC 3261 §21.5.4: temporarily unable; §20.33: when to try again.
            self.respond(
                now,
                &key,
                &req,
                503,
                None,
                &[("Retry-After", seconds.as_str())],
                None,
            );
            return;
        }
        if self.active_calls() >= self.config.max_calls {
            self.respond(now, &key, &req, 503, None, &[("Retry-After", "5")], None);
            return;
        }
        // RFC 4028 §9.
        let se = req
            .headers
            .get("Session-Expires")
            .and_then(Refresher::parse_session_expires);
        let min_se = req.headers.min_se().ok().flatten();
        let uac_supports = req.has_token("Supported", "timer") || req.has_token("Require", "timer");
        let decision = uas_negotiate(
            se,
            min_se,
            uac_supports,
            self.config.session_expires,
            self.config.min_se,
        );
        if let UasDecision::TooSmall { min_se } = decision {
            let v = min_se.to_string();
            self.respond(now, &key, &req, 422, None, &[("Min-SE", v.as_str())], None);
            return;
        }
        let local_tag = new_token(&mut self.entropy);
        // Our first in-dialog request will carry this plus one (RFC 3261 §12.1.1).
        let local_seq = u32::from(self.entropy.u16());
        let dialog = match Dialog::from_incoming_invite(&req, &local_tag, local_seq) {
            Ok(d) => d,
            Err(e) => {
                self.respond(now, &key, &req, e.status(), None, &[], None);
                return;
            }
        };
        let handle = self.new_handle();
        let (session_header, require_timer, session_timer) = match decision {
            UasDecision::Timer {
                interval,
                refresher,
                require_timer,
            } => (
                Some(format!("{interval};refresher={}", refresher.as_str())),
                require_timer,
                Some(SessionTimer::start(
                    now,
                    interval,
                    refresher == Refresher::Uas,
                )),
            ),
            _ => (None, false, None),
        };
        let call_id = dialog.call_id.clone();
        let info = IncomingCall {
            call_id: call_id.clone(),
            caller: self.caller_identity(&req, source),
            dialled: req
                .request_uri()
                .and_then(|u| u.user_decoded())
                .unwrap_or_default(),
            source,
            offer: req.sdp(),
            transport: reply_to.0,
        };
        let call = Call {
            handle,
            state: CallState::Incoming,
            transport: reply_to.0,
            peer: source,
            local_tag: local_tag.clone(),
            peer_allows_update: req.has_token("Allow", "UPDATE"),
            dialog: Some(dialog),
            invite: req.clone(),
            invite_key: Some(key.clone()),
            reply_to,
            pending_ack: None,
            reoffer: None,
            session_timer,
            session_header,
            require_timer,
            last_local_sdp: None,
            invite_branch: None,
            uac_ack: None,
            auth_attempted: false,
            target: None,
            cancel_when_early: false,
            bye_after_ack: false,
            local_reinvite: false,
            refer_subscription: false,
            txs: 1,
            counted_source: Some(source.ip()),
        };
        self.insert_call(call);
        self.dialogs.insert((call_id, local_tag), handle);
        // The INVITE server transaction refers to the call (counted in `txs` above).
        self.invite_calls.insert(key.clone(), handle);
        // RFC 3261 §17.2.1: 100 Trying at once, so the caller stops retransmitting.
        self.respond(now, &key, &req, 100, None, &[], None);
        self.emit(UaEvent::IncomingCall { call: handle, info });
    }

    /// RFC 3325 §9.1 identity from a trusted source, else From; `Privacy: id` withholds it
    /// (the rules live in `Headers::caller_identity`).
    fn caller_identity(&self, req: &SipMessage, source: SocketAddr) -> Option<Pii<String>> {
        let trusted = self
            .config
            .trusted_identity_sources
            .iter()
            .any(|n| n.contains(source.ip()));
        let id = req.headers.caller_identity(trusted);
        // RFC 3323 §4.2 `header` privacy also hides identity-revealing headers; and some PBXs
        // spell a withheld number as a user name.
        let header_privacy = req.headers.privacy().iter().any(|p| p == "header");
        id.number.filter(|n| {
            let lower = n.expose().to_ascii_lowercase();
            !header_privacy && lower != "unknown" && lower != "withheld"
        })
    }

    fn on_ack(&mut self, now: Instant, key: &TransactionKey, req: &SipMessage) {
        // §17.2.3: an ACK for a non-2xx matches the INVITE transaction and is absorbed there.
        if let Some(ServerTx::Invite(tx)) = self.server_txs.get_mut(key)
            && tx.on_ack(now)
        {
            return;
        }
        // Otherwise it is the ACK for our 2xx, a request of its own in the dialog (§13.3.1.4).
        let Some(handle) = self.find_dialog(req) else {
            return;
        };
        let ack_cseq = req.cseq().map(|c| c.seq);
        let mut bye_now = false;
        let mut acked = None;
        if let Some(call) = self.calls.get_mut(&handle) {
            let matches = call
                .pending_ack
                .as_ref()
                .is_some_and(|p| Some(p.cseq) == ack_cseq);
            if !matches {
                return;
            }
            call.pending_ack = None;
            if call.state == CallState::Answered {
                call.state = CallState::Confirmed;
                if let Some(t) = call.session_timer.as_mut() {
                    t.restart(now);
                }
                acked = Some(req.sdp());
                bye_now = call.bye_after_ack;
            }
        }
        if let Some(sdp) = acked {
            // The session timer only runs once the dialog is confirmed.
            self.arm(TimerTarget::Call(handle));
            self.emit(UaEvent::Acked { call: handle, sdp });
        }
        if bye_now {
            self.send_bye(now, handle);
            self.end_call(now, handle, TerminationCause::LocalBye);
        }
    }

    fn on_cancel(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: &SipMessage,
        reply_to: (Transport, SocketAddr),
    ) {
        if self.absorb_retransmission(&key) {
            return;
        }
        self.server_txs.insert(
            key.clone(),
            ServerTx::NonInvite(NonInviteServerTransaction::new(reply_to.0, reply_to.1)),
        );
        // RFC 3261 §9.2: the CANCEL matches the INVITE with the same branch and sent-by.
        let invite_key = TransactionKey {
            method: Method::Invite.to_string(),
            ..key.clone()
        };
        let Some(handle) = self.invite_calls.get(&invite_key).copied() else {
            self.respond(now, &key, req, 481, None, &[], None);
            return;
        };
        self.respond(now, &key, req, 200, None, &[], None);
        let unanswered = matches!(
            self.server_txs.get(&invite_key),
            Some(ServerTx::Invite(t)) if t.state() == InviteServerState::Proceeding
        );
        if unanswered {
            // §9.2: the INVITE gets 487; the race with a 200 already sent leaves the call up.
            if let Some(invite) = self.calls.get(&handle).map(|c| c.invite.clone()) {
                let tag = self.calls.get(&handle).map(|c| c.local_tag.clone());
                self.respond(now, &invite_key, &invite, 487, tag.as_deref(), &[], None);
            }
            self.end_call(now, handle, TerminationCause::Cancelled);
        }
    }

    fn find_dialog(&self, req: &SipMessage) -> Option<CallHandle> {
        let call_id = req.call_id()?.to_string();
        let tag = req.to_tag()?;
        self.dialogs.get(&(call_id, tag)).copied()
    }

    fn on_in_dialog_request(&mut self, now: Instant, key: TransactionKey, req: SipMessage) {
        let method = req.method().cloned().unwrap_or(Method::Options);
        let handle = match self.find_dialog(&req) {
            Some(h)
                if self
                    .calls
                    .get(&h)
                    .is_some_and(|c| c.state != CallState::Ended || method == Method::Bye) =>
            {
                h
            }
            _ => {
                // RFC 3261 §12.2.2: no such dialog.
                self.respond(now, &key, &req, 481, None, &[], None);
                return;
            }
        };
        let order = self
            .calls
            .get_mut(&handle)
            .and_then(|c| c.dialog.as_mut())
            .map(|d| d.accept_remote_cseq(&req));
        if let Some(Err(e)) = order {
            self.respond(now, &key, &req, e.status(), None, &[], None);
            return;
        }
        match method {
            Method::Bye => {
                self.respond(now, &key, &req, 200, None, &[], None);
                // Glare: if we already sent BYE the call is Ended and no second event goes out.
                self.end_call(now, handle, TerminationCause::RemoteBye);
            }
            Method::Invite | Method::Update => self.on_reoffer(now, key, req, handle),
            Method::Info => self.on_info(now, key, req, handle),
            Method::Notify => self.on_notify(now, key, req, handle),
            Method::Options => {
                let extra = [
                    ("Allow", ALLOW),
                    ("Accept", ACCEPT),
                    ("Supported", SUPPORTED),
                ];
                self.respond(now, &key, &req, 200, None, &extra, None);
            }
            // RFC 3262: we never send reliable provisionals, so no PRACK can match.
            Method::Prack => self.respond(now, &key, &req, 481, None, &[], None),
            m if m.is_known() => {
                self.respond(now, &key, &req, 405, None, &[("Allow", ALLOW)], None)
            }
            _ => self.respond(now, &key, &req, 501, None, &[("Allow", ALLOW)], None),
        }
    }

    fn on_reoffer(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: SipMessage,
        handle: CallHandle,
    ) {
        let kind = if req.method() == Some(&Method::Invite) {
            ReOfferKind::ReInvite
        } else {
            ReOfferKind::Update
        };
        let Some(call) = self.calls.get(&handle) else {
            return;
        };
        // RFC 3261 §14.2 / RFC 3311 §5.2: an offer while another is pending → 491.
        let busy = call.reoffer.is_some() || call.local_reinvite || call.pending_ack.is_some();
        if busy || (kind == ReOfferKind::ReInvite && call.state != CallState::Confirmed) {
            self.respond(now, &key, &req, 491, None, &[], None);
            return;
        }
        // RFC 4028 §9: a refresh may renegotiate the interval.
        let se = req
            .headers
            .get("Session-Expires")
            .and_then(Refresher::parse_session_expires);
        if let Some((interval, _)) = se
            && interval < self.config.min_se.max(90)
        {
            let v = self.config.min_se.max(90).to_string();
            self.respond(now, &key, &req, 422, None, &[("Min-SE", v.as_str())], None);
            return;
        }
        let tag = call.local_tag.clone();
        if let Some(c) = self.calls.get_mut(&handle) {
            if let Some(d) = c.dialog.as_mut() {
                // §12.2: re-INVITE and UPDATE are target refresh requests.
                d.refresh_target(&req);
            }
            if let Some((interval, refresher)) = se {
                let uac = req.has_token("Supported", "timer");
                let refresher = if uac {
                    refresher.unwrap_or(Refresher::Uac)
                } else {
                    Refresher::Uas
                };
                c.session_header = Some(format!("{interval};refresher={}", refresher.as_str()));
                c.require_timer = uac;
                c.session_timer = Some(SessionTimer::start(
                    now,
                    interval,
                    refresher == Refresher::Uas,
                ));
            }
        }
        self.arm(TimerTarget::Call(handle));
        let sdp = req.sdp();
        if kind == ReOfferKind::Update && sdp.is_none() {
            // RFC 4028 §7.1: a bodyless UPDATE is a pure session refresh.
            self.answer_refresh(now, &key, &req, handle, &tag, None);
            return;
        }
        if kind == ReOfferKind::ReInvite {
            self.respond(now, &key, &req, 100, None, &[], None);
        }
        if let Some(c) = self.calls.get_mut(&handle) {
            c.reoffer = Some(PendingReoffer { key, request: req });
        }
        self.emit(UaEvent::ReOffer {
            call: handle,
            kind,
            sdp,
        });
    }

    /// Sends the 2xx to a refresh/reoffer, restarting the session timer (RFC 4028 §10).
    fn answer_refresh(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &SipMessage,
        handle: CallHandle,
        tag: &str,
        sdp: Option<String>,
    ) {
        let Some(transport) = self.calls.get(&handle).map(|c| c.transport) else {
            return;
        };
        let contact = self.contact(transport);
        let (session, require) = match self.calls.get_mut(&handle) {
            Some(c) => {
                if let Some(t) = c.session_timer.as_mut() {
                    t.restart(now);
                }
                if sdp.is_some() {
                    c.last_local_sdp = sdp.clone();
                }
                (c.session_header.clone(), c.require_timer)
            }
            None => return,
        };
        let mut extra: Vec<(&str, &str)> = vec![
            ("Contact", contact.as_str()),
            ("Allow", ALLOW),
            ("Supported", SUPPORTED),
        ];
        if let Some(s) = session.as_deref() {
            extra.push(("Session-Expires", s));
            if require {
                extra.push(("Require", "timer"));
            }
        }
        let payload = self.respond_bytes(now, key, req, 200, Some(tag), &extra, sdp.as_deref());
        if req.method() == Some(&Method::Invite)
            && let Some(payload) = payload
            && let Some(c) = self.calls.get_mut(&handle)
        {
            // §13.3.1.4 applies to re-INVITE 2xx as well.
            let cseq = req.cseq().map(|c| c.seq).unwrap_or(0);
            let udp = c.reply_to.0 == Transport::Udp;
            c.pending_ack = Some(PendingAck {
                payload,
                cseq,
                next: udp.then_some(now + T1),
                interval: T1,
                give_up: now + ACK_WAIT,
            });
        }
        self.arm(TimerTarget::Call(handle));
    }

    fn on_info(&mut self, now: Instant, key: TransactionKey, req: SipMessage, handle: CallHandle) {
        let ct = req.content_essence();
        let body = String::from_utf8_lossy(&req.body).to_string();
        let dtmf = match ct.as_deref() {
            Some("application/dtmf-relay") => parse_dtmf_relay(&body),
            Some("application/dtmf") => body
                .trim()
                .chars()
                .next()
                .filter(|c| is_dtmf(*c))
                .map(|d| (d, 250)),
            None => {
                // An empty INFO is a keep-alive probe.
                self.respond(now, &key, &req, 200, None, &[], None);
                return;
            }
            Some(_) => {
                self.respond(now, &key, &req, 415, None, &[("Accept", ACCEPT)], None);
                return;
            }
        };
        match dtmf {
            Some((digit, duration_ms)) => {
                self.respond(now, &key, &req, 200, None, &[], None);
                self.emit(UaEvent::Dtmf {
                    call: handle,
                    digit,
                    duration_ms,
                });
            }
            None => self.respond(now, &key, &req, 400, None, &[], None),
        }
    }

    fn on_notify(
        &mut self,
        now: Instant,
        key: TransactionKey,
        req: SipMessage,
        handle: CallHandle,
    ) {
        let is_refer = req
            .headers
            .event()
            .ok()
            .flatten()
            .is_some_and(|e| e.package.eq_ignore_ascii_case("refer"));
        let active = self
            .calls
            .get(&handle)
            .is_some_and(|c| c.refer_subscription);
        if !is_refer || !active {
            // RFC 6665 §4.1.3: a NOTIFY for no subscription of ours.
            self.respond(now, &key, &req, 481, None, &[], None);
            return;
        }
        self.respond(now, &key, &req, 200, None, &[], None);
        // RFC 3515 §2.4.5: the body is a message/sipfrag status line.
        let body = String::from_utf8_lossy(&req.body).to_string();
        let status = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("SIP/2.0 "))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|c| c.parse::<u16>().ok());
        let terminated = req
            .headers
            .subscription_state()
            .ok()
            .flatten()
            .is_some_and(|s| s.state == "terminated");
        if terminated && let Some(c) = self.calls.get_mut(&handle) {
            c.refer_subscription = false;
        }
        if let Some(status) = status {
            self.emit(UaEvent::ReferProgress {
                call: handle,
                status,
            });
        }
    }

    /// Builds a response to `req` (§8.2.6.2) and sends it through its server transaction.
    /// Returns the serialised bytes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn respond(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &SipMessage,
        status: u16,
        to_tag: Option<&str>,
        extra: &[(&str, &str)],
        sdp: Option<&str>,
    ) {
        let _ = self.respond_bytes(now, key, req, status, to_tag, extra, sdp);
    }

    /// Like [`Self::respond`], returning the bytes sent (for 2xx retransmission).
    #[allow(clippy::too_many_arguments)]
    fn respond_bytes(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        req: &SipMessage,
        status: u16,
        to_tag: Option<&str>,
        extra: &[(&str, &str)],
        sdp: Option<&str>,
    ) -> Option<Vec<u8>> {
        let mut resp = build_response(req, status, to_tag, None, &self.config.user_agent);
        for (n, v) in extra {
            resp.headers.push(n, *v);
        }
        if let Some(sdp) = sdp {
            resp.headers.push("Content-Type", "application/sdp");
            resp.body = sdp.as_bytes().to_vec();
        }
        let payload = resp.to_bytes();
        let tx = self.server_txs.get_mut(key)?;
        let out = match tx {
            ServerTx::Invite(t) => t.send_response(now, status, payload.clone()),
            ServerTx::NonInvite(t) => t.send_response(now, status, payload.clone()),
        };
        tracing::debug!(
            status,
            method = %req.method_name(),
            call_id = req.call_id().unwrap_or(""),
            "sip response"
        );
        self.transmits.extend(out);
        // A final response starts Timers G/H/J/L (RFC 3261 §17.2, RFC 6026 §7.1).
        self.arm(TimerTarget::Server(key.clone()));
        Some(payload)
    }

    /// A response without a transaction (403 from the allow-list, the §8.2 refusals).
    fn send_stateless(
        &mut self,
        req: &SipMessage,
        status: u16,
        reason: Option<&str>,
        to: (Transport, SocketAddr),
        extra: &[(&str, &str)],
    ) {
        // The To tag is derived from the transaction, so a retransmitted request gets the
        // same answer (RFC 3261 §8.2.6.2 asks only that the tag be ours and stable).
        let tag = stateless_tag(self.stateless_tag_key, req);
        let mut resp = build_response(req, status, Some(&tag), reason, &self.config.user_agent);
        for (n, v) in extra {
            resp.headers.push(n, *v);
        }
        tracing::debug!(status, method = %req.method_name(), call_id = req.call_id().unwrap_or(""), "sip response (stateless)");
        self.transmits.push_back(Transmit {
            transport: to.0,
            destination: to.1,
            payload: resp.to_bytes(),
        });
    }

    /// 180 Ringing.
    pub fn ringing(&mut self, now: Instant, call: CallHandle) {
        let Some((key, invite, tag, contact)) = self.unanswered(call) else {
            return;
        };
        self.respond(
            now,
            &key,
            &invite,
            180,
            Some(&tag),
            &[("Contact", contact.as_str())],
            None,
        );
    }

    fn unanswered(&self, call: CallHandle) -> Option<(TransactionKey, SipMessage, String, String)> {
        let c = self.calls.get(&call)?;
        if c.state != CallState::Incoming {
            return None;
        }
        Some((
            c.invite_key.clone()?,
            c.invite.clone(),
            c.local_tag.clone(),
            self.contact(c.transport),
        ))
    }

    /// 200 OK with our SDP (the answer, or our offer when the INVITE was offerless).
    pub fn answer(&mut self, now: Instant, call: CallHandle, sdp: String) {
        let Some((key, invite, tag, contact)) = self.unanswered(call) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let session = c.session_header.clone();
        let require = c.require_timer;
        // §12.1.1: the 2xx carries our Contact (build_response copies the Record-Route).
        let mut extra: Vec<(String, String)> = vec![("Contact".into(), contact)];
        extra.push(("Allow".into(), ALLOW.into()));
        extra.push(("Supported".into(), SUPPORTED.into()));
        if let Some(s) = session {
            extra.push(("Session-Expires".into(), s));
            if require {
                extra.push(("Require".into(), "timer".into()));
            }
        }
        let extra_ref: Vec<(&str, &str)> = extra
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let payload =
            self.respond_bytes(now, &key, &invite, 200, Some(&tag), &extra_ref, Some(&sdp));
        let cseq = invite.cseq().map(|c| c.seq).unwrap_or(0);
        if let Some(c) = self.calls.get_mut(&call)
            && let Some(payload) = payload
        {
            c.state = CallState::Answered;
            c.last_local_sdp = Some(sdp);
            // §13.3.1.4: retransmit at T1, doubling to T2, over UDP; give up after 64*T1.
            let udp = c.reply_to.0 == Transport::Udp;
            c.pending_ack = Some(PendingAck {
                payload,
                cseq,
                next: udp.then_some(now + T1),
                interval: T1,
                give_up: now + ACK_WAIT,
            });
        }
        self.arm(TimerTarget::Call(call));
    }

    /// A final non-2xx for an incoming call (488 carries a Warning, 503 a Retry-After).
    pub fn reject(&mut self, now: Instant, call: CallHandle, status: u16) {
        let status = if (300..700).contains(&status) {
            status
        } else {
            500
        };
        let Some((key, invite, tag, _)) = self.unanswered(call) else {
            return;
        };
        let retry_after = self.refusing_new_calls.clone();
        let mut extra = Vec::new();
        if status == 488 {
            // RFC 3261 §20.43: 304 "Media type not available".
            extra.push(("Warning", "304 frontdoor \"No common media format\""));
        }
        if status == 503 {
            extra.push(("Retry-After", retry_after.as_deref().unwrap_or("5")));
        }
        self.respond(now, &key, &invite, status, Some(&tag), &extra, None);
        self.end_call(now, call, TerminationCause::Rejected(status));
    }

    /// Answers the pending re-INVITE/UPDATE.
    pub fn answer_reoffer(&mut self, now: Instant, call: CallHandle, sdp: String) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.reoffer.take() else {
            return;
        };
        let tag = c.local_tag.clone();
        self.answer_refresh(now, &pending.key, &pending.request, call, &tag, Some(sdp));
    }

    /// Refuses the pending re-INVITE/UPDATE (e.g. 488); the call continues (§14.2).
    pub fn reject_reoffer(&mut self, now: Instant, call: CallHandle, status: u16) {
        let status = if (300..700).contains(&status) {
            status
        } else {
            488
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(pending) = c.reoffer.take() else {
            return;
        };
        let tag = c.local_tag.clone();
        let warning = [("Warning", "304 frontdoor \"No common media format\"")];
        // RFC 3261 §21.4.26: a 488 should say why in a Warning, as for an initial INVITE.
        let extra: &[(&str, &str)] = if status == 488 { &warning } else { &[] };
        self.respond(
            now,
            &pending.key,
            &pending.request,
            status,
            Some(&tag),
            extra,
            None,
        );
    }

    /// Ends a call from our side: BYE when answered, 480 when not yet answered (UAS), CANCEL
    /// before answer (UAC).
    pub fn hangup(&mut self, now: Instant, call: CallHandle) {
        let Some(state) = self.calls.get(&call).map(|c| c.state) else {
            return;
        };
        match state {
            CallState::Incoming => {
                if let Some((key, invite, tag, _)) = self.unanswered(call) {
                    self.respond(now, &key, &invite, 480, Some(&tag), &[], None);
                }
                self.end_call(now, call, TerminationCause::LocalBye);
            }
            CallState::Answered => {
                // RFC 3261 §15: the callee must wait for the ACK (or its timeout) before BYE.
                if let Some(c) = self.calls.get_mut(&call) {
                    c.bye_after_ack = true;
                }
            }
            CallState::Confirmed => {
                self.send_bye(now, call);
                self.end_call(now, call, TerminationCause::LocalBye);
            }
            CallState::Calling | CallState::Early => self.cancel_outgoing(now, call),
            CallState::Ended => {}
        }
    }

    /// Sends BYE on the call's dialog.
    pub(super) fn send_bye(&mut self, now: Instant, call: CallHandle) {
        if let Some(req) = self.in_dialog_request(call, Method::Bye) {
            self.start_client(now, call, req, Purpose::Bye);
        }
    }

    /// Fires the call-level timers of `h`: 2xx retransmission and give-up (§13.3.1.4) and
    /// the session timer (RFC 4028 §10).
    pub(super) fn fire_call_timers(&mut self, now: Instant, h: CallHandle) {
        let mut resend = None;
        let mut gave_up = false;
        let mut session = None;
        if let Some(c) = self.calls.get_mut(&h) {
            if let Some(p) = c.pending_ack.as_mut() {
                if p.give_up <= now {
                    gave_up = true;
                } else if let Some(next) = p.next
                    && next <= now
                {
                    resend = Some(Transmit {
                        transport: c.reply_to.0,
                        destination: c.reply_to.1,
                        payload: p.payload.clone(),
                    });
                    // §13.3.1.4: the interval doubles up to T2.
                    p.interval = backoff(p.interval, T2);
                    p.next = Some(next + p.interval);
                }
            }
            if c.state == CallState::Confirmed
                && let Some(t) = c.session_timer.as_mut()
            {
                session = t.poll(now);
            }
        }
        if let Some(t) = resend {
            self.transmits.push_back(t);
        }
        if gave_up {
            let initial = self
                .calls
                .get(&h)
                .is_some_and(|c| c.state == CallState::Answered);
            if let Some(c) = self.calls.get_mut(&h) {
                c.pending_ack = None;
                // The 2xx was for a re-INVITE: the dialog goes back to confirmed.
                if !initial {
                    return;
                }
                c.state = CallState::Confirmed;
            }
            // §13.3.1.4: no ACK within 64*T1 → end the session with BYE.
            self.send_bye(now, h);
            self.end_call(now, h, TerminationCause::AckTimeout);
        }
        match session {
            Some(SessionTimerAction::Refresh) => self.send_refresh(now, h),
            Some(SessionTimerAction::Expire) => {
                // RFC 4028 §10: no refresh before expiry → BYE.
                self.send_bye(now, h);
                self.end_call(now, h, TerminationCause::SessionExpired);
            }
            None => {}
        }
    }
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4).
pub(super) fn reply_destination(
    transport: Transport,
    source: SocketAddr,
    via: &Via,
) -> (Transport, SocketAddr) {
    match transport {
        // §18.2.2: reliable transports answer on the connection the request came in on.
        Transport::Tcp(_) => (transport, source),
        // rport → source address and port; else source address and sent-by port.
        Transport::Udp => (transport, response_destination(via, source)),
    }
}

/// RFC 3261 §8.2.6: a response copies Via, From, To (adding our tag to all but 100), Call-ID,
/// CSeq and, for 18x/2xx, Record-Route (§12.1.1).
pub(super) fn build_response(
    req: &SipMessage,
    status: u16,
    to_tag: Option<&str>,
    reason: Option<&str>,
    server: &str,
) -> SipMessage {
    let mut resp = SipMessage::response_to(req, status, reason);
    // §8.2.6.2: a 100 Trying carries no tag; a To that already has one keeps it.
    if status > 100
        && let Some(tag) = to_tag
    {
        resp.set_to_tag(tag);
    }
    resp.headers.push("Server", server);
    resp
}

/// A To tag for stateless answers: stable for one transaction (branch, Call-ID, CSeq), so a
/// retransmitted request gets an identical response. The agent's secret `key` is hashed first,
/// so the tag cannot be computed from the request alone (RFC 3261 §19.3).
fn stateless_tag(key: u64, req: &SipMessage) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    req.top_via().and_then(|v| v.branch).hash(&mut h);
    req.call_id().hash(&mut h);
    req.headers.get("CSeq").hash(&mut h);
    format!("{:016x}", h.finish())
}

fn is_dtmf(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | 'A' | 'B' | 'C' | 'D')
}

/// `Signal=5\r\nDuration=160` (the de facto application/dtmf-relay format).
fn parse_dtmf_relay(body: &str) -> Option<(char, u32)> {
    let mut digit = None;
    let mut duration = 250;
    for line in body.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "signal" => {
                digit = v
                    .trim()
                    .chars()
                    .next()
                    .map(|c| c.to_ascii_uppercase())
                    .filter(|c| is_dtmf(*c))
            }
            "duration" => duration = v.trim().parse().unwrap_or(250),
            _ => {}
        }
    }
    digit.map(|d| (d, duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_relay_bodies() {
        assert_eq!(
            parse_dtmf_relay("Signal=5\r\nDuration=160\r\n"),
            Some(('5', 160))
        );
        assert_eq!(parse_dtmf_relay("Signal= #\nDuration=x"), Some(('#', 250)));
        assert_eq!(parse_dtmf_relay("Signal=Z"), None);
        assert_eq!(parse_dtmf_relay(""), None);
    }
}
