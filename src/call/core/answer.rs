//! Offer/answer decisions before a call is up (RFC 3264), and for re-offers once it is: which
//! media to accept, what to answer, and when to refuse. Pure functions: the driver's short
//! per-call task up to the ACK asks them and sends what they decide.

use std::net::SocketAddr;

use crate::call::media_address::{MediaAddressError, check_remote_media};
use crate::config::MediaPolicy;
use crate::sip::sdp::{self, Direction, LocalMedia, Negotiated, SessionDescription};

/// What to do with an INVITE.
#[derive(Debug)]
pub enum InviteAnswer {
    /// 200 OK with `sdp`; `negotiated` is known now (an offer in the INVITE) or comes with the
    /// answer in the ACK (an offerless INVITE, RFC 3261 §13.2.1: we offer in the 200).
    Answer {
        negotiated: Option<Negotiated>,
        sdp: String,
    },
    /// A failure response: 488 for media our policy refuses, or what the offer's fault is.
    Reject { status: u16, reason: String },
}

/// Answers an INVITE's offer (or makes one for an offerless INVITE).
pub fn answer_invite(
    offer: Option<&str>,
    local: &LocalMedia,
    policy: &MediaPolicy,
    peer: SocketAddr,
) -> InviteAnswer {
    let Some(offer) = offer else {
        return InviteAnswer::Answer {
            negotiated: None,
            sdp: sdp::build_offer(local, Direction::SendRecv),
        };
    };
    match SessionDescription::parse(offer).and_then(|o| sdp::negotiate_answer(&o, local)) {
        Ok(n) => match check_media(policy, &n, peer) {
            Ok(()) => InviteAnswer::Answer {
                sdp: sdp::build_answer(&n, local),
                negotiated: Some(n),
            },
            Err(e) => InviteAnswer::Reject {
                status: 488,
                reason: e.to_string(),
            },
        },
        Err(e) => InviteAnswer::Reject {
            status: e.response_status(),
            reason: e.to_string(),
        },
    }
}

/// The media of a call once the ACK came: what the INVITE's offer negotiated, else the answer
/// the ACK carries. An error is a reason to hang up (an ACK cannot be refused, RFC 3261
/// §13.3.1.4).
pub fn media_at_ack(
    negotiated: Option<Negotiated>,
    answer: Option<&str>,
    local: &LocalMedia,
    policy: &MediaPolicy,
    peer: SocketAddr,
) -> Result<Negotiated, String> {
    if let Some(n) = negotiated {
        return Ok(n);
    }
    let Some(answer) = answer else {
        return Err("offerless INVITE but no answer in ACK".into());
    };
    let n = SessionDescription::parse(answer)
        .and_then(|a| sdp::parse_answer(&a, local))
        .map_err(|e| format!("unusable answer in ACK: {e}"))?;
    check_media(policy, &n, peer).map_err(|e| format!("answer in ACK refused: {e}"))?;
    Ok(n)
}

/// What to do with a re-offer (re-INVITE or UPDATE with a body).
#[derive(Debug)]
pub enum Reoffer {
    /// Take the new media and answer it.
    Accepted(Negotiated),
    /// Our media policy refuses it: 488, the call goes on with the media it has.
    Refused(String),
    /// The offer itself is at fault: this status.
    Rejected(u16),
}

pub fn answer_reoffer(
    offer: &str,
    local: &LocalMedia,
    policy: &MediaPolicy,
    peer: SocketAddr,
) -> Reoffer {
    match SessionDescription::parse(offer).and_then(|o| sdp::negotiate_answer(&o, local)) {
        Ok(n) => match check_media(policy, &n, peer) {
            Ok(()) => Reoffer::Accepted(n),
            Err(e) => Reoffer::Refused(e.to_string()),
        },
        Err(e) => Reoffer::Rejected(e.response_status()),
    }
}

/// Whether the negotiated media addresses are acceptable from a peer signalling from `peer`.
fn check_media(
    policy: &MediaPolicy,
    n: &Negotiated,
    peer: SocketAddr,
) -> Result<(), MediaAddressError> {
    check_remote_media(
        n.remote_rtp,
        n.remote_rtcp,
        peer.ip(),
        &policy.allowed_networks,
    )
}
