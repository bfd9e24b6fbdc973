//! The glue between a call task and the handoff module: turns a handler's `Transfer` action into
//! a REFER for the SIP driver, follows its progress with [`BlindTransfer`], and tells the call
//! task what to do next.
//!
//! Owns: choosing the Refer-To URI from the queue directory, the headers that carry the case,
//! logging the transfer, and mapping outcomes to call steps. Must not touch: SIP transactions
//! (the driver and user agent), media, or what the flow says to the caller afterwards.

use std::time::Instant;

use tokio::sync::mpsc;

use super::handler::HangupCause;
use super::runtime::SipCommand;
use crate::handoff::{
    BlindTransfer, HandoffError, QueueDirectory, TransferContext, TransferOutcome, TransferTimeouts,
};
use crate::sip::ua::CallHandle;

/// What the call task does after a transfer event.
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

/// Starts a blind transfer of `call` to `queue`: sends REFER (RFC 3515 §2.4) with the case
/// headers through the SIP driver.
pub fn start_transfer(
    queues: &QueueDirectory,
    call: CallHandle,
    call_id: &str,
    queue: &str,
    context: &serde_json::Value,
    now: Instant,
    sip: &mpsc::UnboundedSender<SipCommand>,
) -> Result<CallTransfer, HandoffError> {
    let target = queues.get(queue)?;
    let context = TransferContext::from_flow(context);
    let headers = context.headers();
    // The case reference is ours, not the caller's; the context header is already PII-filtered.
    tracing::info!(
        call_id = %call_id,
        queue = %queue,
        refer_to = %target.uri,
        headers = ?headers,
        "REFER sent"
    );
    let _ = sip.send(SipCommand::Refer(call, target.uri.clone(), headers));
    Ok(CallTransfer {
        queue: queue.to_string(),
        context,
        blind: BlindTransfer::start(now, TransferTimeouts::default()),
    })
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

    fn started() -> (CallTransfer, mpsc::UnboundedReceiver<SipCommand>, Instant) {
        let (tx, rx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let t = start_transfer(
            &queues(),
            CallHandle(7),
            "cid",
            "advisors",
            &json!({"case_ref": "FD-1", "intent": "missed_bin", "postcode": "RM17 6SL"}),
            now,
            &tx,
        )
        .unwrap();
        (t, rx, now)
    }

    #[test]
    fn sends_refer_to_the_queue_uri_with_case_headers() {
        let (_, mut rx, _) = started();
        match rx.try_recv().unwrap() {
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
        let (tx, mut rx) = mpsc::unbounded_channel();
        let r = start_transfer(
            &queues(),
            CallHandle(1),
            "cid",
            "payments",
            &json!({}),
            Instant::now(),
            &tx,
        );
        assert!(matches!(r, Err(HandoffError::UnknownQueue(_))));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn notify_200_hangs_up_as_transferred() {
        let (mut t, _rx, now) = started();
        assert_eq!(t.cause_on_remote_bye(), None);
        assert_eq!(t.on_refer_progress("cid", now, 202), TransferStep::Wait);
        assert_eq!(t.cause_on_remote_bye(), Some(HangupCause::Transferred));
        assert_eq!(t.on_refer_progress("cid", now, 100), TransferStep::Wait);
        assert_eq!(t.on_refer_progress("cid", now, 200), TransferStep::HangUp);
    }

    #[test]
    fn method_not_allowed_asks_for_a_bridge() {
        let (mut t, _rx, now) = started();
        assert_eq!(
            t.on_refer_progress("cid", now, 405),
            TransferStep::Bridge {
                queue: "advisors".into(),
                refer_status: 405
            }
        );
    }

    #[test]
    fn deadline_reports_failure() {
        let (mut t, _rx, _) = started();
        let at = t.poll_timeout().unwrap();
        assert!(matches!(
            t.handle_timeout("cid", at),
            TransferStep::Failed(_)
        ));
    }
}
