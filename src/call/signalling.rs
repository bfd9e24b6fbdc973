//! What the call layer and the SIP driver say to each other: the commands a call sends the
//! driver, and which call a user-agent event belongs to.
//!
//! A leaf module: `server` (the driver) and `call` (the calls and their transfers) both import
//! it, and it imports neither, so neither reaches into the other.

use crate::sip::ua::{CallHandle, UaError, UaEvent};

/// Commands from calls to the SIP driver.
#[derive(Debug)]
pub enum SipCommand {
    /// 180 Ringing (RFC 3261 §13.3.1.1).
    Ringing(CallHandle),
    /// 200 OK with our SDP.
    Answer(CallHandle, String),
    /// A final failure response to the INVITE.
    Reject(CallHandle, u16),
    /// BYE (or CANCEL for an outbound leg not yet answered; the user agent picks).
    Hangup(CallHandle),
    /// 200 OK to a re-INVITE or UPDATE, with our SDP.
    AnswerReoffer(CallHandle, String),
    /// A failure response to a re-INVITE or UPDATE.
    RejectReoffer(CallHandle, u16),
    /// REFER to the URI, with extra headers (RFC 3515).
    Refer(CallHandle, String, Vec<(String, String)>),
    /// Call the outbound target `target` for the call `owner`; the new leg's events go to the
    /// owner, and `reply` gets its handle (or why it could not be placed).
    PlaceCall {
        owner: CallHandle,
        target: String,
        sdp: String,
        reply: tokio::sync::oneshot::Sender<Result<CallHandle, UaError>>,
    },
}

/// The call an event belongs to.
pub fn event_call(e: &UaEvent) -> CallHandle {
    match e {
        UaEvent::IncomingCall { call, .. }
        | UaEvent::Acked { call, .. }
        | UaEvent::ReOffer { call, .. }
        | UaEvent::Dtmf { call, .. }
        | UaEvent::OutgoingProgress { call, .. }
        | UaEvent::OutgoingAnswered { call, .. }
        | UaEvent::ReferProgress { call, .. }
        | UaEvent::Terminated { call, .. } => *call,
    }
}
