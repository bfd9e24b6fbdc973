//! Transfer hooks: a blind transfer (REFER) and, when the caller's side cannot follow one, the
//! bridge through an advisor leg. The work is in `call::transfer`; these apply its steps to the
//! call.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Call, MediaSocket, Request};
use crate::call::signalling::{SipCommand, event_call};
use crate::call::transfer::{AdvisorLeg, CallTransfer, LegStep, TransferStep};
use crate::handler::{CallEvent, HangupCause};
use crate::sip::ua::{CallHandle, UaError, UaEvent};

/// Where a transfer is.
pub(super) enum TransferState {
    None,
    /// REFER sent; its progress is followed.
    Referring(CallTransfer),
    /// The caller's side cannot follow a REFER: ports for the advisor leg are being opened.
    OpeningLeg {
        queue: String,
    },
    /// The advisor leg: placing, ringing, bridged or ended.
    Bridging(Box<AdvisorLeg>),
}

impl TransferState {
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            TransferState::Referring(t) => t.poll_timeout(),
            TransferState::Bridging(leg) => Some(leg.poll_timeout()),
            TransferState::None | TransferState::OpeningLeg { .. } => None,
        }
    }

    /// The advisor leg's next datagram, copied into `buffer`.
    pub(super) fn poll_transmit(
        &mut self,
        now: Instant,
        buffer: &mut [u8],
    ) -> Option<(MediaSocket, SocketAddr, usize)> {
        let TransferState::Bridging(leg) = self else {
            return None;
        };
        let (rtcp, destination, len) = leg.poll_transmit(now, buffer)?;
        let socket = if rtcp {
            MediaSocket::AdvisorRtcp
        } else {
            MediaSocket::AdvisorRtp
        };
        Some((socket, destination, len))
    }

    /// A digit the caller pressed; true when the bridge took it for the advisor.
    pub(super) fn caller_digit(&mut self, digit: char) -> bool {
        match self {
            TransferState::Bridging(leg) => leg.on_caller_digit(digit),
            _ => false,
        }
    }

    /// 20 ms of the caller's audio; true when the advisor leg took it (bridge in progress).
    pub(super) fn caller_frame(&mut self, frame: &[i16; 160]) -> bool {
        match self {
            TransferState::Bridging(leg) => {
                leg.on_caller_frame(frame);
                true
            }
            _ => false,
        }
    }
}

impl Call {
    pub(super) fn start_transfer(
        &mut self,
        now: Instant,
        queue: &str,
        context: &crate::handler::TransferContext,
    ) {
        if !matches!(self.transfer, TransferState::None) || self.phase.is_hanging_up() {
            self.raise(CallEvent::TransferFailed {
                reason: "a transfer is already in progress".into(),
            });
            return;
        }
        match crate::call::transfer::start_transfer(
            &self.settings.queues,
            self.call,
            &self.info.call_id,
            queue,
            context,
            now,
        ) {
            Ok((transfer, refer)) => {
                self.transfer = TransferState::Referring(transfer);
                self.send_sip(refer);
            }
            Err(e) => self.raise(CallEvent::TransferFailed {
                reason: e.to_string(),
            }),
        }
    }

    pub(super) fn on_refer_progress(&mut self, now: Instant, status: u16) {
        let call_id = &self.info.call_id;
        if let TransferState::Referring(t) = &mut self.transfer {
            let step = t.on_refer_progress(call_id, now, status);
            self.apply_transfer_step(now, step);
        }
    }

    pub(super) fn check_transfer(&mut self, now: Instant) {
        let call_id = &self.info.call_id;
        if let TransferState::Referring(t) = &mut self.transfer
            && t.poll_timeout().is_some_and(|at| now >= at)
        {
            let step = t.handle_timeout(call_id, now);
            self.apply_transfer_step(now, step);
        }
    }

    fn apply_transfer_step(&mut self, now: Instant, step: TransferStep) {
        match step {
            TransferStep::Wait => {}
            // RFC 3515 §2.4.7: the transferee is with the target; we end our dialog.
            TransferStep::HangUp => self.hang_up(now, HangupCause::Transferred),
            TransferStep::Failed(reason) => {
                self.transfer = TransferState::None;
                self.raise(CallEvent::TransferFailed { reason });
            }
            TransferStep::Bridge { queue, .. } => {
                self.transfer = TransferState::OpeningLeg { queue };
                self.request(Request::OpenLegPorts);
            }
        }
    }

    /// The advisor leg's ports are open (or not): the leg is placed.
    pub(super) fn on_leg_ports(&mut self, now: Instant, ports: Result<u16, String>) {
        let TransferState::OpeningLeg { queue } =
            std::mem::replace(&mut self.transfer, TransferState::None)
        else {
            // The transfer was given up meanwhile.
            if ports.is_ok() {
                self.request(Request::CloseLegPorts);
            }
            return;
        };
        let port = match ports {
            Ok(port) => port,
            Err(reason) => {
                self.raise(CallEvent::TransferFailed { reason });
                return;
            }
        };
        let (leg, offer) = AdvisorLeg::new(
            self.settings.advertised_ip,
            port,
            &queue,
            now,
            self.settings.media_timeout,
            &mut self.entropy,
        );
        tracing::info!(call_id = %self.info.call_id, queue = %queue, "calling the advisor to bridge");
        self.transfer = TransferState::Bridging(Box::new(leg));
        self.request(Request::PlaceLeg {
            target: queue,
            sdp: offer,
        });
    }

    /// The SIP driver placed the advisor leg (or could not).
    pub(super) fn on_leg_placed(&mut self, now: Instant, placed: Result<CallHandle, UaError>) {
        match &mut self.transfer {
            TransferState::Bridging(leg) => {
                let step = leg.on_placed(placed);
                self.apply_leg_step(now, step);
            }
            // The leg was given up before the driver placed it: its dialog goes at once.
            _ => {
                if let Ok(handle) = placed {
                    self.send_sip(SipCommand::Hangup(handle));
                }
            }
        }
    }

    /// Routes the advisor leg's SIP events; hands every other event back.
    pub(super) fn on_leg_event(&mut self, now: Instant, event: UaEvent) -> Option<UaEvent> {
        let TransferState::Bridging(leg) = &mut self.transfer else {
            return Some(event);
        };
        if !leg.owns(event_call(&event)) {
            return Some(event);
        }
        let step = match &event {
            UaEvent::OutgoingAnswered { sdp, .. } => leg.on_answered(now, sdp.as_deref()),
            UaEvent::Terminated { cause, .. } => leg.on_terminated(*cause),
            // Progress, or any other event for the leg (none expected today): not the caller's.
            _ => LegStep::Wait,
        };
        self.apply_leg_step(now, step);
        None
    }

    /// Runs the advisor leg's timers and media (at the caller's 20 ms cadence).
    pub(super) fn poll_leg(&mut self, now: Instant) {
        if let TransferState::Bridging(leg) = &mut self.transfer {
            let step = leg.poll(now);
            self.apply_leg_step(now, step);
        }
    }

    fn apply_leg_step(&mut self, now: Instant, step: LegStep) {
        if let TransferState::Bridging(leg) = &mut self.transfer
            && let Some(handle) = leg.take_hangup()
        {
            self.send_sip(SipCommand::Hangup(handle));
        }
        match step {
            LegStep::Wait => {}
            LegStep::Join(source) => {
                tracing::info!(call_id = %self.info.call_id, "advisor answered: bridged");
                self.listening = None;
                self.stop_playback();
                self.media.set_source(Some(Box::new(source)));
            }
            LegStep::DtmfToCaller(d) => {
                self.media.send_dtmf(d, crate::media::bridge::DTMF_DURATION)
            }
            LegStep::Failed(reason) => {
                tracing::info!(call_id = %self.info.call_id, %reason, "bridge to the advisor failed");
                self.transfer = TransferState::None;
                self.request(Request::CloseLegPorts);
                self.raise(CallEvent::TransferFailed { reason });
            }
            // The call was handed to the advisor; it ends when they hang up.
            LegStep::Ended => self.hang_up(now, HangupCause::Transferred),
        }
    }

    /// The call ends or closes: an advisor must never be left on a call with nobody.
    pub(super) fn hang_up_leg(&mut self) {
        if let TransferState::Bridging(leg) = &mut self.transfer {
            leg.hang_up();
            if let Some(handle) = leg.take_hangup() {
                self.send_sip(SipCommand::Hangup(handle));
            }
        }
    }

    /// A server stop interrupts a REFER in progress (a bridge goes on until the BYE).
    pub(super) fn abandon_refer(&mut self) {
        if matches!(
            self.transfer,
            TransferState::Referring(_) | TransferState::OpeningLeg { .. }
        ) {
            self.transfer = TransferState::None;
        }
    }

    /// The caller's side ended our dialog after accepting the REFER (it left for the advisor),
    /// or while bridged to the advisor: the call was transferred, not abandoned.
    pub(super) fn transferred_or(&self, cause: HangupCause) -> HangupCause {
        if cause != HangupCause::CallerHungUp {
            return cause;
        }
        match &self.transfer {
            TransferState::Bridging(leg) if leg.was_bridged() => HangupCause::Transferred,
            TransferState::Referring(t) => t.cause_on_remote_bye().unwrap_or(cause),
            _ => cause,
        }
    }
}
