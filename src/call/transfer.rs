//! The glue between a call and the handoff module: turns a handler's `Transfer` action into
//! a REFER for the SIP driver, follows its progress with [`BlindTransfer`], and tells the call
//! task what to do next.
//!
//! When the caller's side cannot follow a REFER, [`AdvisorLeg`] is the outbound leg of a bridge:
//! its own media session (on RTP ports the driver holds), an SDP offer to place the call to the
//! queue's outbound target with, and a [`Bridge`] joining it to the caller once the advisor
//! answers. Warm transfer reuses it: place the leg, whisper on it, then join.
//!
//! Sans-IO like the call core that uses it: no sockets, channels or clock.
//!
//! Owns: choosing the Refer-To URI from the queue directory, the headers that carry the case,
//! logging the transfer, mapping outcomes to call steps, and the advisor leg's media. Must not
//! touch: SIP transactions (the driver and user agent), the caller's media session (the call
//! core owns it), or what the flow says to the caller afterwards.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::signalling::SipCommand;
use crate::entropy::Entropy;
use crate::handler::HangupCause;
use crate::handoff::{
    BlindTransfer, HandoffError, QueueDirectory, TransferContext, TransferOutcome, TransferTimeouts,
};
use crate::media::bridge::{
    Bridge, BridgeAction, BridgedAudio, DEFAULT_MAX_FRAMES, DEFAULT_PRIME_FRAMES, Leg,
};
use crate::media::session::{MediaConfig, MediaEvent, MediaSession};
use crate::sip::sdp::{self, Direction, LocalMedia, SessionDescription};
use crate::sip::ua::{CallHandle, TerminationCause, UaError};

/// What the call does after a transfer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferStep {
    /// Nothing yet: keep the caller where they are.
    Wait,
    /// The caller reached the advisor: end our leg with [`HangupCause::Transferred`].
    HangUp,
    /// Report `CallEvent::TransferFailed { reason }` to the handler.
    Failed(String),
    /// The caller's side cannot follow a REFER: Frontdoor must call the queue and bridge.
    Bridge { queue: String, refer_status: u16 },
}

/// One call's transfer in progress.
#[derive(Debug, Clone)]
pub struct CallTransfer {
    queue: String,
    context: TransferContext,
    blind: BlindTransfer,
}

/// Starts a blind transfer of `call` to `queue`: returns it with the REFER (RFC 3515 §2.4) and
/// its case headers, for the SIP driver.
pub fn start_transfer(
    queues: &QueueDirectory,
    call: CallHandle,
    call_id: &str,
    queue: &str,
    context: &crate::handler::TransferContext,
    now: Instant,
) -> Result<(CallTransfer, SipCommand), HandoffError> {
    let target = queues.get(queue)?;
    let context = super::records::handoff_context(context);
    let headers = context.headers();
    // The case reference is ours, not the caller's; the context header is already PII-filtered.
    tracing::info!(
        call_id = %call_id,
        queue = %queue,
        refer_to = %target.uri,
        headers = ?headers,
        "REFER sent"
    );
    let refer = SipCommand::Refer(call, target.uri.clone(), headers);
    let transfer = CallTransfer {
        queue: queue.to_string(),
        context,
        blind: BlindTransfer::start(now, TransferTimeouts::default()),
    };
    Ok((transfer, refer))
}

impl CallTransfer {
    /// The queue being transferred to.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// What travels with the call (the bridge's INVITE to the advisor carries it too).
    pub fn context(&self) -> &TransferContext {
        &self.context
    }

    /// A `UaEvent::ReferProgress` status.
    pub fn on_refer_progress(&mut self, call_id: &str, now: Instant, status: u16) -> TransferStep {
        tracing::info!(call_id = %call_id, queue = %self.queue, status, "transfer progress");
        let outcome = self.blind.on_progress(now, status);
        self.step(call_id, outcome)
    }

    /// Fires the transfer deadline.
    pub fn handle_timeout(&mut self, call_id: &str, now: Instant) -> TransferStep {
        let outcome = self.blind.handle_timeout(now);
        self.step(call_id, outcome)
    }

    /// When [`Self::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.blind.poll_timeout()
    }

    /// Why the call ended when the caller's side hung up on us during the transfer: once it
    /// accepted the REFER it is leaving for the advisor (RFC 3515 §2.4.7).
    pub fn cause_on_remote_bye(&self) -> Option<HangupCause> {
        self.blind
            .was_accepted()
            .then_some(HangupCause::Transferred)
    }

    fn step(&self, call_id: &str, outcome: Option<TransferOutcome>) -> TransferStep {
        match outcome {
            None => TransferStep::Wait,
            Some(TransferOutcome::Succeeded) => {
                tracing::info!(call_id = %call_id, queue = %self.queue, "transfer succeeded");
                TransferStep::HangUp
            }
            Some(TransferOutcome::Failed { reason }) => {
                tracing::info!(call_id = %call_id, queue = %self.queue, %reason, "transfer failed");
                TransferStep::Failed(reason)
            }
            Some(TransferOutcome::ReferUnsupported { status }) => {
                tracing::info!(call_id = %call_id, queue = %self.queue, status, "caller's side cannot follow REFER");
                TransferStep::Bridge {
                    queue: self.queue.clone(),
                    refer_status: status,
                }
            }
        }
    }
}

/// How long the advisor may ring before the bridge attempt is abandoned.
pub const ADVISOR_ANSWER_TIMEOUT: Duration = Duration::from_secs(45);

/// Where the advisor leg is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdvisorLegState {
    /// PlaceCall sent; the driver has not said which handle it got.
    Placing,
    /// INVITE sent, waiting for the advisor to answer.
    Ringing,
    /// Answered and joined to the caller.
    Bridged,
    /// Failed or hung up.
    Ended,
}

/// What the call must do after an advisor-leg event.
#[derive(Debug)]
pub enum LegStep {
    /// Nothing for the caller's side.
    Wait,
    /// The advisor answered: play this source to the caller (the advisor's audio).
    Join(BridgedAudio),
    /// Send a digit the advisor pressed to the caller.
    DtmfToCaller(char),
    /// The leg failed before it was bridged: report `TransferFailed { reason }`.
    Failed(String),
    /// The bridged advisor hung up (or their media stopped): end the caller's leg too.
    Ended,
}

/// The outbound call to an advisor and its half of the bridge, sans-IO: the call's driver owns
/// the leg's sockets and feeds its datagrams in; what it sends comes out of
/// [`AdvisorLeg::poll_transmit`], and its BYE or CANCEL out of [`AdvisorLeg::take_hangup`].
pub struct AdvisorLeg {
    queue: String,
    state: AdvisorLegState,
    handle: Option<CallHandle>,
    local: LocalMedia,
    media: Option<MediaSession>,
    bridge: Option<Bridge>,
    answer_by: Instant,
    media_timeout: Duration,
    was_bridged: bool,
    /// The leg's dialog must be ended (BYE or CANCEL, RFC 3261 §9.1: the user agent picks).
    hangup: Option<CallHandle>,
}

impl AdvisorLeg {
    /// A leg to `queue` (an outbound target name: only configured parties can be dialled) on
    /// the local RTP port `rtp_port`; returns it with the SDP offer (RFC 3264 §5) to place the
    /// call with.
    pub fn new(
        advertised: std::net::IpAddr,
        rtp_port: u16,
        queue: &str,
        now: Instant,
        media_timeout: Duration,
        entropy: &mut Entropy,
    ) -> (AdvisorLeg, String) {
        let local = LocalMedia {
            addr: advertised,
            port: rtp_port,
            session_id: u64::from(entropy.u32()),
            session_version: 1,
        };
        let offer = sdp::build_offer(&local, Direction::SendRecv);
        let leg = AdvisorLeg {
            queue: queue.to_string(),
            state: AdvisorLegState::Placing,
            handle: None,
            local,
            media: None,
            bridge: None,
            answer_by: now + ADVISOR_ANSWER_TIMEOUT,
            media_timeout,
            was_bridged: false,
            hangup: None,
        };
        (leg, offer)
    }

    /// Current state.
    pub fn state(&self) -> AdvisorLegState {
        self.state
    }

    /// The queue being called.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Whether the caller was ever joined to the advisor (the call then ends as transferred,
    /// whichever side hangs up first).
    pub fn was_bridged(&self) -> bool {
        self.was_bridged
    }

    /// Whether a SIP event for `call` belongs to this leg.
    pub fn owns(&self, call: CallHandle) -> bool {
        self.handle == Some(call)
    }

    /// The driver's answer to PlaceCall.
    pub fn on_placed(&mut self, placed: Result<CallHandle, UaError>) -> LegStep {
        match placed {
            Ok(handle) if self.state == AdvisorLegState::Placing => {
                self.handle = Some(handle);
                self.state = AdvisorLegState::Ringing;
                LegStep::Wait
            }
            // The leg was given up while the driver placed it: end the new dialog at once.
            Ok(handle) => {
                self.hangup = Some(handle);
                LegStep::Wait
            }
            Err(e) => self.fail(format!("cannot call queue {}: {e}", self.queue)),
        }
    }

    /// The advisor answered with `answer` (RFC 3264 §6): start media and join the bridge.
    pub fn on_answered(&mut self, now: Instant, answer: Option<&str>) -> LegStep {
        let negotiated = answer
            .ok_or(sdp::SdpError::Missing("an SDP answer in the 200"))
            .and_then(|a| {
                SessionDescription::parse(a).and_then(|d| sdp::parse_answer(&d, &self.local))
            });
        let n = match negotiated {
            Ok(n) => n,
            Err(e) => return self.fail(format!("advisor's answer unusable: {e}")),
        };
        let config = MediaConfig {
            codec: match n.codec {
                sdp::Codec::Pcmu => crate::media::Codec::Pcmu,
                sdp::Codec::Pcma => crate::media::Codec::Pcma,
            },
            payload_type: n.payload_type,
            telephone_event_pt: n.telephone_event_pt,
            ptime_ms: n.ptime_ms,
            remote_rtp: n.remote_rtp,
            remote_rtcp: n.remote_rtcp,
            media_timeout: self.media_timeout,
            // The advisor's audio is heard by the caller through the bridge: the full depth.
            jitter: crate::media::jitter::JitterConfig::default(),
        };
        let mut media = MediaSession::new(
            config,
            crate::entropy::Entropy::from_os(),
            now,
            std::time::SystemTime::now(),
        );
        let (bridge, to_caller, to_advisor) = Bridge::new(DEFAULT_PRIME_FRAMES, DEFAULT_MAX_FRAMES);
        media.set_source(Some(Box::new(to_advisor)));
        self.media = Some(media);
        self.bridge = Some(bridge);
        self.state = AdvisorLegState::Bridged;
        self.was_bridged = true;
        LegStep::Join(to_caller)
    }

    /// The leg's dialog ended (`UaEvent::Terminated`).
    pub fn on_terminated(&mut self, cause: TerminationCause) -> LegStep {
        match self.state {
            AdvisorLegState::Bridged => {
                self.state = AdvisorLegState::Ended;
                LegStep::Ended
            }
            AdvisorLegState::Ended => LegStep::Wait,
            // The dialog is already gone: nothing to hang up.
            _ => {
                self.state = AdvisorLegState::Ended;
                LegStep::Failed(format!("advisor call failed: {}", termination_text(cause)))
            }
        }
    }

    /// 20 ms the caller said, for the advisor (ignored until bridged).
    pub fn on_caller_frame(&mut self, frame: &[i16; 160]) {
        if let Some(bridge) = self.bridge.as_mut() {
            bridge.push_frame(Leg::Caller, frame);
        }
    }

    /// A digit the caller pressed: re-originated on the advisor's leg once bridged (RFC 4733
    /// §2.1). Returns whether the bridge took it (otherwise it is the flow's).
    pub fn on_caller_digit(&mut self, digit: char) -> bool {
        let (Some(bridge), Some(media)) = (self.bridge.as_mut(), self.media.as_mut()) else {
            return false;
        };
        if let Some(BridgeAction::SendDtmf {
            to: Leg::Advisor,
            digit,
            duration,
        }) = bridge.on_event(Leg::Caller, &MediaEvent::Dtmf(digit))
        {
            media.send_dtmf(digit, duration);
        }
        true
    }

    /// A datagram from the leg's RTP (or RTCP) socket; dropped before media starts.
    pub fn handle_datagram(&mut self, now: Instant, rtcp: bool, source: SocketAddr, data: &[u8]) {
        let Some(m) = self.media.as_mut() else {
            return;
        };
        if rtcp {
            m.handle_rtcp(now, source, data);
        } else {
            m.handle_rtp(now, source, data);
        }
    }

    /// Runs the leg's timers and media events; returns what the caller's side must do.
    pub fn poll(&mut self, now: Instant) -> LegStep {
        if matches!(
            self.state,
            AdvisorLegState::Placing | AdvisorLegState::Ringing
        ) && now >= self.answer_by
        {
            return self.fail(format!(
                "advisor did not answer within {} s",
                ADVISOR_ANSWER_TIMEOUT.as_secs()
            ));
        }
        let (Some(media), Some(bridge)) = (self.media.as_mut(), self.bridge.as_mut()) else {
            return LegStep::Wait;
        };
        media.handle_timeout(now);
        let mut step = LegStep::Wait;
        while let Some(ev) = media.poll_event() {
            match ev {
                MediaEvent::Frame(frame) => {
                    bridge.push_frame(Leg::Advisor, &frame);
                    media.recycle_frame(frame);
                }
                MediaEvent::Dtmf(d) => step = LegStep::DtmfToCaller(d),
                MediaEvent::MediaTimeout => {
                    self.state = AdvisorLegState::Ended;
                    return LegStep::Ended;
                }
                MediaEvent::SourceFinished => {}
            }
        }
        step
    }

    /// The next datagram due on the leg, copied into `buffer`: (RTCP?, destination, length).
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buffer: &mut [u8],
    ) -> Option<(bool, SocketAddr, usize)> {
        let t = self.media.as_mut()?.poll_transmit(now)?;
        let len = t.payload.len().min(buffer.len());
        buffer
            .get_mut(..len)?
            .copy_from_slice(t.payload.get(..len)?);
        Some((t.is_rtcp, t.destination, len))
    }

    /// When [`Self::poll`] next has work.
    pub fn poll_timeout(&self) -> Instant {
        match (&self.media, self.state) {
            (Some(m), _) => m.poll_timeout(),
            (None, AdvisorLegState::Placing | AdvisorLegState::Ringing) => self.answer_by,
            // Nothing to do; far enough away not to matter, near enough not to overflow.
            (None, _) => self.answer_by + Duration::from_secs(3600),
        }
    }

    /// Ends the leg: its dialog is hung up (see [`Self::take_hangup`]) unless already over.
    pub fn hang_up(&mut self) {
        if let Some(h) = self.handle
            && self.state != AdvisorLegState::Ended
        {
            self.hangup = Some(h);
        }
        self.state = AdvisorLegState::Ended;
        if let Some(m) = self.media.as_mut() {
            m.set_source(None);
        }
    }

    /// The leg's dialog to end with BYE or CANCEL, once.
    pub fn take_hangup(&mut self) -> Option<CallHandle> {
        self.hangup.take()
    }

    /// Bridge counters for the call summary.
    pub fn bridge_stats(&self) -> Option<crate::media::bridge::BridgeStats> {
        self.bridge.as_ref().map(Bridge::stats)
    }

    fn fail(&mut self, reason: String) -> LegStep {
        // A leg that failed on our side (timeout, unusable answer) may still be ringing.
        self.hang_up();
        LegStep::Failed(reason)
    }
}

/// Why an advisor's dialog ended, for the failure reason the handler is given.
fn termination_text(cause: TerminationCause) -> String {
    match cause {
        TerminationCause::RemoteBye => "RemoteBye".into(),
        TerminationCause::LocalBye => "LocalBye".into(),
        TerminationCause::Cancelled => "Cancelled".into(),
        TerminationCause::AckTimeout => "AckTimeout".into(),
        TerminationCause::SessionExpired => "SessionExpired".into(),
        TerminationCause::Rejected(status) => format!("Rejected({status})"),
        TerminationCause::TransportError => "TransportError".into(),
        TerminationCause::OutgoingFailed(status) => format!("OutgoingFailed({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handoff::Queue;
    use serde_json::json;

    fn queues() -> QueueDirectory {
        QueueDirectory::new(vec![Queue {
            name: "advisors".into(),
            uri: "sip:agent@127.0.0.1:5070".into(),
        }])
        .unwrap()
    }

    /// A flow's context with a case, an intent and a captured postcode.
    fn flow_context(case_ref: Option<&str>) -> crate::handler::TransferContext {
        use crate::handler::{
            CaseField, FieldType, FlowTransfer, TransferPriority, TransferReason,
        };
        crate::handler::TransferContext::Flow(FlowTransfer {
            flow_name: "council".into(),
            flow_version: "9f2c".into(),
            reason: TransferReason::Flow,
            priority: TransferPriority::Normal,
            intent: Some("missed_bin".into()),
            slots: vec![CaseField::new(
                "postcode",
                FieldType::UkPostcode,
                json!("RM17 6SL"),
            )],
            case_ref: case_ref.map(str::to_string),
            returning_case: None,
            language: "en".into(),
            interpreter: false,
            accessibility: Default::default(),
            node: "menu".into(),
        })
    }

    fn started() -> (CallTransfer, SipCommand, Instant) {
        let now = Instant::now();
        let (t, refer) = start_transfer(
            &queues(),
            CallHandle(7),
            "cid",
            "advisors",
            &flow_context(Some("FD-1")),
            now,
        )
        .unwrap();
        (t, refer, now)
    }

    #[test]
    fn sends_refer_to_the_queue_uri_with_case_headers() {
        let (_, refer, _) = started();
        match refer {
            SipCommand::Refer(call, target, headers) => {
                assert_eq!(call, CallHandle(7));
                assert_eq!(target, "sip:agent@127.0.0.1:5070");
                assert_eq!(headers[0], ("X-Frontdoor-Case".into(), "FD-1".into()));
                let fields = TransferContext::decode_fields(&headers[1].1).unwrap();
                assert!(fields.contains_key("intent"));
                assert!(!fields.contains_key("postcode"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_queue_sends_nothing() {
        let r = start_transfer(
            &queues(),
            CallHandle(1),
            "cid",
            "payments",
            &flow_context(None),
            Instant::now(),
        );
        assert!(matches!(r, Err(HandoffError::UnknownQueue(_))));
    }

    #[test]
    fn notify_200_hangs_up_as_transferred() {
        let (mut t, _, now) = started();
        assert_eq!(t.cause_on_remote_bye(), None);
        assert_eq!(t.on_refer_progress("cid", now, 202), TransferStep::Wait);
        assert_eq!(t.cause_on_remote_bye(), Some(HangupCause::Transferred));
        assert_eq!(t.on_refer_progress("cid", now, 100), TransferStep::Wait);
        assert_eq!(t.on_refer_progress("cid", now, 200), TransferStep::HangUp);
    }

    #[test]
    fn method_not_allowed_asks_for_a_bridge() {
        let (mut t, _, now) = started();
        assert_eq!(
            t.on_refer_progress("cid", now, 405),
            TransferStep::Bridge {
                queue: "advisors".into(),
                refer_status: 405
            }
        );
    }

    /// A leg on a made-up local port, placed by the driver as handle 2.
    fn leg() -> (AdvisorLeg, String) {
        let (mut leg, offer) = AdvisorLeg::new(
            std::net::Ipv4Addr::LOCALHOST.into(),
            47000,
            "advisors",
            Instant::now(),
            Duration::from_secs(30),
            &mut Entropy::seeded(1),
        );
        assert!(matches!(leg.on_placed(Ok(CallHandle(2))), LegStep::Wait));
        (leg, offer)
    }

    #[test]
    fn leg_offers_g711_and_bridges_on_answer() {
        let (mut leg, offer) = leg();
        assert!(offer.contains("m=audio") && offer.contains("PCMU"));
        assert!(leg.owns(CallHandle(2)));
        assert_eq!(leg.state(), AdvisorLegState::Ringing);
        let answer = "v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 47900 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        assert!(matches!(
            leg.on_answered(Instant::now(), Some(answer)),
            LegStep::Join(_)
        ));
        assert!(leg.was_bridged());
        assert!(
            leg.on_caller_digit('4'),
            "bridged legs take the caller's keys"
        );
        assert!(matches!(
            leg.on_terminated(TerminationCause::RemoteBye),
            LegStep::Ended
        ));
    }

    #[test]
    fn unusable_answer_fails_and_hangs_up_the_leg() {
        let (mut leg, _) = leg();
        assert!(matches!(
            leg.on_answered(Instant::now(), None),
            LegStep::Failed(_)
        ));
        assert_eq!(leg.take_hangup(), Some(CallHandle(2)));
        assert!(
            !leg.on_caller_digit('1'),
            "an unbridged leg leaves keys to the flow"
        );
    }

    #[test]
    fn advisor_rejecting_reports_failure_without_a_bye() {
        let (mut leg, _) = leg();
        assert!(matches!(
            leg.on_terminated(TerminationCause::OutgoingFailed(486)),
            LegStep::Failed(r) if r.contains("486")
        ));
        leg.hang_up();
        assert_eq!(leg.take_hangup(), None, "the dialog is already gone");
    }

    #[test]
    fn a_leg_given_up_before_it_was_placed_is_hung_up_once_placed() {
        let (mut leg, _) = AdvisorLeg::new(
            std::net::Ipv4Addr::LOCALHOST.into(),
            47000,
            "advisors",
            Instant::now(),
            Duration::from_secs(30),
            &mut Entropy::seeded(1),
        );
        leg.hang_up();
        assert_eq!(leg.take_hangup(), None);
        leg.on_placed(Ok(CallHandle(2)));
        assert_eq!(leg.take_hangup(), Some(CallHandle(2)));
    }

    #[test]
    fn driver_refusal_is_a_failure() {
        let (mut leg, _) = AdvisorLeg::new(
            std::net::Ipv4Addr::LOCALHOST.into(),
            47000,
            "advisors",
            Instant::now(),
            Duration::from_secs(30),
            &mut Entropy::seeded(1),
        );
        assert!(matches!(
            leg.on_placed(Err(UaError::AtCapacity)),
            LegStep::Failed(r) if r.contains("capacity")
        ));
    }

    #[test]
    fn advisor_that_never_answers_times_out_in_virtual_time() {
        let (mut leg, _) = leg();
        let at = leg.poll_timeout();
        assert!(matches!(
            leg.poll(at - Duration::from_millis(1)),
            LegStep::Wait
        ));
        assert!(matches!(leg.poll(at), LegStep::Failed(r) if r.contains("did not answer")));
        assert_eq!(leg.take_hangup(), Some(CallHandle(2)));
    }

    #[test]
    fn deadline_reports_failure() {
        let (mut t, _, _) = started();
        let at = t.poll_timeout().unwrap();
        assert!(matches!(
            t.handle_timeout("cid", at),
            TransferStep::Failed(_)
        ));
    }
}
