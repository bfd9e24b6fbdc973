//! The sans-IO blind-transfer state machine (RFC 3515): REFER sent → final response → NOTIFY
//! sipfrag progress → success or failure, with a deadline.
//!
//! Fed the statuses the user agent reports (`UaEvent::ReferProgress`: the REFER's final
//! response, then each NOTIFY's sipfrag status line) and `now`; answers with a
//! [`TransferOutcome`] once the transfer is decided. It never sends anything itself.

use std::time::{Duration, Instant};

/// How long each phase may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferTimeouts {
    /// From sending REFER to its final response. The non-INVITE transaction already gives up
    /// after 64*T1 = 32 s (RFC 3261 §17.1.2.2) and reports 408; this only backs it up.
    pub accept: Duration,
    /// From the 202 to a final NOTIFY: covers the advisor's phone ringing.
    pub complete: Duration,
}

impl Default for TransferTimeouts {
    fn default() -> Self {
        TransferTimeouts {
            accept: Duration::from_secs(34),
            complete: Duration::from_secs(60),
        }
    }
}

/// Where a blind transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlindTransferState {
    /// REFER sent, no final response yet.
    Referring,
    /// The transferee accepted (2xx to REFER, or a NOTIFY arrived first) and is calling.
    Accepted,
    /// NOTIFY reported a 2xx from the transfer target: the caller is with the advisor.
    Succeeded,
    /// Rejected, failed at the target, or timed out: the caller is still with us.
    Failed,
    /// The transferee does not do REFER: bridge instead.
    Unsupported,
}

/// What a decided transfer means for the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// The caller reached the advisor: end our leg with `HangupCause::Transferred`.
    Succeeded,
    /// Tell the flow (`CallEvent::TransferFailed`) so it can apologise and offer something else.
    Failed { reason: String },
    /// The caller's side cannot follow a REFER (it answered `status`): bridge the call instead.
    ReferUnsupported { status: u16 },
}

/// One blind transfer attempt.
#[derive(Debug, Clone)]
pub struct BlindTransfer {
    state: BlindTransferState,
    timeouts: TransferTimeouts,
    deadline: Instant,
    /// Last sipfrag status (for logs: 100 Trying, 180 Ringing...).
    last_progress: Option<u16>,
}

impl BlindTransfer {
    /// A transfer whose REFER is being sent at `now`.
    pub fn start(now: Instant, timeouts: TransferTimeouts) -> BlindTransfer {
        BlindTransfer {
            state: BlindTransferState::Referring,
            timeouts,
            deadline: now + timeouts.accept,
            last_progress: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> BlindTransferState {
        self.state
    }

    /// The last progress status the transferee reported.
    pub fn last_progress(&self) -> Option<u16> {
        self.last_progress
    }

    /// Whether the outcome is known.
    pub fn is_decided(&self) -> bool {
        matches!(
            self.state,
            BlindTransferState::Succeeded
                | BlindTransferState::Failed
                | BlindTransferState::Unsupported
        )
    }

    /// Whether the caller's side took the REFER: if it hangs up on us now, it is leaving for
    /// the advisor (RFC 3515 §2.4.7 lets the transferee end the original dialog itself).
    pub fn was_accepted(&self) -> bool {
        matches!(
            self.state,
            BlindTransferState::Accepted | BlindTransferState::Succeeded
        )
    }

    /// A status from `UaEvent::ReferProgress`. Returns the outcome when this status decides it.
    pub fn on_progress(&mut self, now: Instant, status: u16) -> Option<TransferOutcome> {
        match self.state {
            BlindTransferState::Referring => self.on_refer_response(now, status),
            BlindTransferState::Accepted => self.on_notify(status),
            // Late NOTIFYs after the decision (retransmissions, a final `terminated`) change nothing.
            _ => None,
        }
    }

    /// Fires the deadline. Returns the failure when it has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TransferOutcome> {
        if self.is_decided() || now < self.deadline {
            return None;
        }
        let phase = match self.state {
            BlindTransferState::Referring => "no answer to REFER",
            _ => "transfer target did not answer",
        };
        Some(self.fail(format!(
            "{phase} within {} s",
            self.phase_timeout().as_secs()
        )))
    }

    /// When [`Self::handle_timeout`] next has work; `None` once decided.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.is_decided()).then_some(self.deadline)
    }

    fn phase_timeout(&self) -> Duration {
        match self.state {
            BlindTransferState::Referring => self.timeouts.accept,
            _ => self.timeouts.complete,
        }
    }

    fn on_refer_response(&mut self, now: Instant, status: u16) -> Option<TransferOutcome> {
        match status {
            // RFC 3515 §2.4.4: 202 Accepted (some UAs send 200). A NOTIFY overtaking the 202 on
            // UDP reports a 1xx sipfrag: the REFER was evidently accepted too.
            100..=299 => {
                self.state = BlindTransferState::Accepted;
                self.deadline = now + self.timeouts.complete;
                if status < 200 {
                    self.last_progress = Some(status);
                }
                None
            }
            // RFC 3261 §21.4.6 / §21.5.2: the method is not allowed or not implemented; §21.4.15
            // 420: it does not understand an extension we relied on. Bridge instead.
            405 | 420 | 501 => {
                self.state = BlindTransferState::Unsupported;
                Some(TransferOutcome::ReferUnsupported { status })
            }
            _ => Some(self.fail(format!("REFER rejected with {status}"))),
        }
    }

    /// RFC 3515 §2.4.5: each NOTIFY body is a sipfrag status line from the referred INVITE.
    fn on_notify(&mut self, status: u16) -> Option<TransferOutcome> {
        match status {
            100..=199 => {
                self.last_progress = Some(status);
                None
            }
            // The REFER's own 202 arriving after a NOTIFY overtook it: an INVITE is never answered
            // 202, so this cannot be a sipfrag (RFC 3261 §13.3.1.4 answers INVITE with 200).
            202 => None,
            200..=299 => {
                self.state = BlindTransferState::Succeeded;
                Some(TransferOutcome::Succeeded)
            }
            _ => Some(self.fail(format!("transfer target answered {status}"))),
        }
    }

    fn fail(&mut self, reason: String) -> TransferOutcome {
        self.state = BlindTransferState::Failed;
        TransferOutcome::Failed { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> (BlindTransfer, Instant) {
        let t0 = Instant::now();
        (BlindTransfer::start(t0, TransferTimeouts::default()), t0)
    }

    #[test]
    fn accepted_then_notify_100_then_200_succeeds() {
        let (mut t, t0) = started();
        assert_eq!(t.on_progress(t0, 202), None);
        assert_eq!(t.state(), BlindTransferState::Accepted);
        assert!(t.was_accepted());
        assert_eq!(t.on_progress(t0, 100), None);
        assert_eq!(t.on_progress(t0, 180), None);
        assert_eq!(t.last_progress(), Some(180));
        assert_eq!(t.on_progress(t0, 200), Some(TransferOutcome::Succeeded));
        assert!(t.is_decided());
        assert_eq!(t.poll_timeout(), None);
        // A retransmitted final NOTIFY changes nothing.
        assert_eq!(t.on_progress(t0, 200), None);
    }

    #[test]
    fn notify_overtaking_the_202_counts_as_acceptance() {
        let (mut t, t0) = started();
        assert_eq!(t.on_progress(t0, 100), None);
        assert_eq!(t.state(), BlindTransferState::Accepted);
        assert_eq!(
            t.on_progress(t0, 202),
            None,
            "the 202 arriving late is progress"
        );
        assert_eq!(t.on_progress(t0, 200), Some(TransferOutcome::Succeeded));
    }

    #[test]
    fn refer_not_supported_falls_back_to_bridge() {
        for status in [405, 420, 501] {
            let (mut t, t0) = started();
            assert_eq!(
                t.on_progress(t0, status),
                Some(TransferOutcome::ReferUnsupported { status })
            );
            assert_eq!(t.state(), BlindTransferState::Unsupported);
            assert!(!t.was_accepted());
        }
    }

    #[test]
    fn refer_rejected_fails() {
        let (mut t, t0) = started();
        assert!(matches!(
            t.on_progress(t0, 603),
            Some(TransferOutcome::Failed { reason }) if reason.contains("603")
        ));
        assert_eq!(t.state(), BlindTransferState::Failed);
    }

    #[test]
    fn target_busy_fails_after_acceptance() {
        let (mut t, t0) = started();
        t.on_progress(t0, 202);
        t.on_progress(t0, 100);
        assert!(matches!(
            t.on_progress(t0, 486),
            Some(TransferOutcome::Failed { reason }) if reason.contains("486")
        ));
    }

    #[test]
    fn transaction_timeout_408_fails() {
        let (mut t, t0) = started();
        assert!(matches!(
            t.on_progress(t0 + Duration::from_secs(32), 408),
            Some(TransferOutcome::Failed { .. })
        ));
    }

    #[test]
    fn no_answer_to_refer_times_out_in_virtual_time() {
        let (mut t, t0) = started();
        let at = t.poll_timeout().unwrap();
        assert_eq!(at, t0 + TransferTimeouts::default().accept);
        assert_eq!(t.handle_timeout(at - Duration::from_millis(1)), None);
        assert!(matches!(
            t.handle_timeout(at),
            Some(TransferOutcome::Failed { reason }) if reason.contains("no answer to REFER")
        ));
        assert_eq!(t.handle_timeout(at + Duration::from_secs(1)), None);
    }

    #[test]
    fn ringing_advisor_times_out_from_the_acceptance() {
        let (mut t, t0) = started();
        let accepted_at = t0 + Duration::from_secs(2);
        t.on_progress(accepted_at, 202);
        let at = t.poll_timeout().unwrap();
        assert_eq!(at, accepted_at + TransferTimeouts::default().complete);
        assert!(matches!(
            t.handle_timeout(at),
            Some(TransferOutcome::Failed { reason }) if reason.contains("did not answer")
        ));
        assert_eq!(t.state(), BlindTransferState::Failed);
    }
}
