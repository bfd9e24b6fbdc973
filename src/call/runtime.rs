//! Drives the call cores: a short tokio task per call answers the offer and waits for the ACK
//! (the decisions are `core::answer`'s); the answered call's sans-IO [`Call`] core then runs on
//! the [`MediaClock`] thread, whose per-call driver moves datagrams, SIP events and the results
//! of work done elsewhere (case store, synthesis, recognition) in, and datagrams, SIP commands
//! and requests out.
//!
//! Owns: the call's RTP/RTCP sockets, its channels to the SIP driver, the work it asks for (tasks
//! on the tokio runtime, jobs on the recogniser pools), and the call record's write. Must not
//! touch: what the call does (the core and its handler decide), SIP transactions (commands go
//! to the SIP driver).
//!
//! Why a shared media clock and not a task per answered call: with a task per call, 1,000 calls
//! meant ~100,000 task wake-ups a second (one per packet sent, one per packet received) and the
//! send times of a call drifted with whatever else the two tokio workers were doing (p99 53 ms
//! late at 1,000 calls, 71 % of a core). The clock ticks every 2 ms, serves one tenth of the
//! calls per tick (each call's 20 ms packet schedule is anchored on its slot's tick), and polls
//! the readiness of every RTP/RTCP socket with one `epoll_wait` per tick. See
//! docs/performance.md for the figures.

mod datagram_batch;
mod driver;
mod media_clock;
mod readiness;

pub use media_clock::{MediaClock, MediaPriority};

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::core::answer::{InviteAnswer, answer_invite, media_at_ack};
use super::core::{CallSettings, CallStart, cause_of, log_summary};
use super::handler::{CallHandler, CallInfo, HangupCause};
use super::ports::{PortAllocator, PortPair};
use super::shutdown::{CallShutdown, CallTicket};
use super::signalling::SipCommand;
use crate::crm::CaseStore;
use crate::entropy::Entropy;
use crate::prompts::tts::Synthesizer;
use crate::sip::sdp::LocalMedia;
use crate::sip::ua::{CallHandle, IncomingCall, UaEvent};

/// Builds a fresh handler for each call.
pub type HandlerFactory = Arc<dyn Fn(&CallInfo) -> Box<dyn CallHandler> + Send + Sync>;

/// Everything calls share.
pub struct CallContext {
    /// What every call core reads (prompts, speech settings, queues, media policy, ...).
    pub settings: Arc<CallSettings>,
    pub synthesizer: Option<Arc<dyn Synthesizer>>,
    pub ports: PortAllocator,
    pub handlers: HandlerFactory,
    /// Ring (180) for this long before answering; zero answers at once.
    pub answer_delay: Duration,
    /// The durable case store (cases and call records). `None`: cases fail, records are skipped.
    pub cases: Option<Arc<CaseStore>>,
    /// Runs every answered call's media and handler.
    pub media_clock: MediaClock,
    /// Tells calls when the server closes them, and counts them until their record is written.
    pub shutdown: Arc<CallShutdown>,
}

/// Starts the task for a new incoming call and returns the channel its SIP events go to.
pub fn spawn_call(
    context: Arc<CallContext>,
    call: CallHandle,
    info: IncomingCall,
    sip: mpsc::UnboundedSender<SipCommand>,
) -> mpsc::UnboundedSender<UaEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    // Taken before the driver's next turn, so a drain never sees this call as absent.
    let ticket = context.shutdown.ticket();
    // Each call draws its identifiers (SDP session ids) from its own secure source.
    let entropy = Entropy::from_os();
    tokio::spawn(async move {
        let call_id = info.call_id.clone();
        if let Err(e) = run_call(context, call, info, sip.clone(), rx, ticket, entropy).await {
            // A caller can make calls fail repeatedly (e.g. at capacity): rate-limited.
            static CALL_FAILED: crate::log_limit::LogLimit = crate::log_limit::LogLimit::standard();
            crate::warn_limited!(CALL_FAILED, call_id = %call_id, error = %e, "call failed");
        }
    });
    tx
}

#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("no RTP ports free")]
    NoPorts,
    #[error("the SIP driver went away")]
    DriverGone,
    #[error("the media clock has stopped")]
    MediaClockGone,
}

async fn run_call(
    context: Arc<CallContext>,
    call: CallHandle,
    incoming: IncomingCall,
    sip: mpsc::UnboundedSender<SipCommand>,
    mut events: mpsc::UnboundedReceiver<UaEvent>,
    ticket: CallTicket,
    mut entropy: Entropy,
) -> Result<(), CallError> {
    let started = Instant::now();
    let info = CallInfo {
        call_id: incoming.call_id.clone(),
        caller: incoming.caller.clone(),
        dialled: incoming.dialled.clone(),
        source: incoming.source,
        started_at: SystemTime::now(),
    };
    let settings = Arc::clone(&context.settings);

    let pair = match context.ports.allocate() {
        Ok(p) => p,
        Err(_) => {
            static NO_PORTS: crate::log_limit::LogLimit = crate::log_limit::LogLimit::standard();
            crate::warn_limited!(NO_PORTS, call_id = %info.call_id, "no RTP ports free: 503");
            let _ = sip.send(SipCommand::Reject(call, 503));
            return Err(CallError::NoPorts);
        }
    };
    let local = LocalMedia {
        addr: settings.advertised_ip,
        port: pair.rtp_port,
        session_id: u64::from(entropy.u32()),
        session_version: 1,
    };

    // Optional ringing before the answer (RFC 3261 §13.3.1.1): a PBX may want a 180, and while
    // the call rings a CANCEL still ends it with 487 (§9.2) instead of racing our 200.
    if !context.answer_delay.is_zero() {
        let _ = sip.send(SipCommand::Ringing(call));
        let ring = tokio::time::sleep(context.answer_delay);
        tokio::pin!(ring);
        loop {
            tokio::select! {
                _ = &mut ring => break,
                // Closing while it still rings: refused like a new call (503 + Retry-After),
                // not answered only to be hung up.
                _ = context.shutdown.closing() => {
                    let _ = sip.send(SipCommand::Reject(call, 503));
                    log_summary(&info, started.elapsed(), None, &HangupCause::Shutdown, "");
                    return Ok(());
                }
                ev = events.recv() => match ev {
                    Some(UaEvent::Terminated { cause, .. }) => {
                        log_summary(&info, started.elapsed(), None, &cause_of(cause), "");
                        return Ok(());
                    }
                    Some(_) => {}
                    None => return Err(CallError::DriverGone),
                },
            }
        }
    }

    // Offer/answer (RFC 3264): answer the INVITE's offer, or offer in the 200 and take the answer
    // from the ACK (RFC 3261 §13.2.1 offerless INVITE).
    let (negotiated, last_sdp) = match answer_invite(
        incoming.offer.as_deref(),
        &local,
        &settings.media_policy,
        info.source,
    ) {
        InviteAnswer::Answer { negotiated, sdp } => {
            sip.send(SipCommand::Answer(call, sdp.clone()))
                .map_err(|_| CallError::DriverGone)?;
            (negotiated, sdp)
        }
        InviteAnswer::Reject { status, reason } => {
            tracing::info!(call_id = %info.call_id, %reason, status, "offer refused");
            let _ = sip.send(SipCommand::Reject(call, status));
            return Ok(());
        }
    };

    // Wait for the ACK: media starts when the dialog is confirmed.
    let mut negotiated = Some(negotiated);
    let negotiated = loop {
        match events.recv().await {
            Some(UaEvent::Acked { sdp: answer, .. }) => {
                match media_at_ack(
                    negotiated.take().flatten(),
                    answer.as_deref(),
                    &local,
                    &settings.media_policy,
                    info.source,
                ) {
                    Ok(n) => break n,
                    Err(reason) => {
                        tracing::info!(call_id = %info.call_id, %reason, "hanging up at the ACK");
                        let _ = sip.send(SipCommand::Hangup(call));
                        return Ok(());
                    }
                }
            }
            Some(UaEvent::Terminated { cause, .. }) => {
                log_summary(&info, started.elapsed(), None, &cause_of(cause), "");
                return Ok(());
            }
            Some(_) => {}
            None => return Err(CallError::DriverGone),
        }
    };

    let handler = (context.handlers)(&info);
    let clock = context.media_clock.clone();
    clock
        .admit(AnsweredCall {
            context,
            sip,
            pair,
            events,
            ticket,
            start: CallStart {
                call,
                info,
                negotiated,
                local,
                last_sdp,
                handler,
                entropy,
                started,
            },
        })
        .map_err(|_| CallError::MediaClockGone)
}

/// A confirmed call on its way to the media clock, which starts it on one of its ticks.
struct AnsweredCall {
    context: Arc<CallContext>,
    sip: mpsc::UnboundedSender<SipCommand>,
    pair: PortPair,
    events: mpsc::UnboundedReceiver<UaEvent>,
    ticket: CallTicket,
    start: CallStart,
}
