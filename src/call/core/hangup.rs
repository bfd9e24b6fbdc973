//! How a call ends: its phase (up, closing for a server stop, hanging up, over) with the data
//! each phase has, the typed cause, the closing message, the call record and the summary line.

use std::time::{Duration, Instant, SystemTime};

use super::Call;
use crate::call::shutdown::CloseMode;
use crate::call::signalling::SipCommand;
use crate::crm::{CallRecord, MediaQuality, Outcome};
use crate::handler::{CallFault, CallInfo, HangupCause};
use crate::media::session::MediaStats;
use crate::sip::ua::TerminationCause;

/// Where the call is in its life. The handler hears events only while it is [`Phase::Up`].
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Phase {
    /// Talking with the handler.
    Up,
    /// The server is closing the call: the closing message plays until `until` at the latest,
    /// then BYE.
    Closing { until: Instant },
    /// We sent BYE at `since`; the dialog's end is awaited (for a grace period at most).
    HangingUp { since: Instant, cause: HangupCause },
    /// The dialog is gone.
    Ended { cause: HangupCause },
}

impl Phase {
    pub(super) fn is_up(&self) -> bool {
        matches!(self, Phase::Up)
    }

    /// Whether the handler still hears events: while the call is up, and while our BYE is
    /// on its way (a case stored meanwhile is still reported); not once the server closes the
    /// call, nor once the dialog is gone.
    pub(super) fn tells_handler(&self) -> bool {
        matches!(self, Phase::Up | Phase::HangingUp { .. })
    }

    pub(super) fn is_hanging_up(&self) -> bool {
        matches!(self, Phase::HangingUp { .. } | Phase::Ended { .. })
    }

    /// Why the call ends (`Completed` while it has not begun to end).
    pub(super) fn cause(&self) -> HangupCause {
        match self {
            Phase::HangingUp { cause, .. } | Phase::Ended { cause } => cause.clone(),
            Phase::Closing { .. } => HangupCause::Shutdown,
            Phase::Up => HangupCause::Completed,
        }
    }

    /// The phase's own deadline: the end of the closing message, or of the BYE's grace.
    pub(super) fn deadline(&self, grace: Duration) -> Option<Instant> {
        match self {
            Phase::Closing { until } => Some(*until),
            Phase::HangingUp { since, .. } => Some(*since + grace),
            Phase::Up | Phase::Ended { .. } => None,
        }
    }

    /// Ends a hang-up whose BYE was not answered within `grace`; true once the call is over.
    pub(super) fn hang_up_expired(&mut self, now: Instant, grace: Duration) -> bool {
        match self {
            Phase::HangingUp { since, cause } if now >= *since + grace => {
                *self = Phase::Ended {
                    cause: cause.clone(),
                };
                true
            }
            Phase::Ended { .. } => true,
            _ => false,
        }
    }

    pub(super) fn closing_expired(&self, now: Instant) -> bool {
        matches!(self, Phase::Closing { until } if now >= *until)
    }
}

/// The hang-up cause a dialog's end means for the call.
pub fn cause_of(t: TerminationCause) -> HangupCause {
    match t {
        TerminationCause::RemoteBye => HangupCause::CallerHungUp,
        TerminationCause::LocalBye => HangupCause::Completed,
        TerminationCause::Cancelled => HangupCause::Cancelled,
        TerminationCause::AckTimeout => HangupCause::AckTimeout,
        TerminationCause::SessionExpired => HangupCause::SessionExpired,
        TerminationCause::Rejected(code) => HangupCause::Error(CallFault::Rejected(code)),
        TerminationCause::TransportError => HangupCause::Error(CallFault::TransportError),
        TerminationCause::OutgoingFailed(code) => {
            HangupCause::Error(CallFault::OutgoingFailed(code))
        }
    }
}

/// The hang-up cause as the call record stores it: the variant's name, and for an abnormal end
/// its reason too (`Error("transport error")`). Spelled out, not derived from `Debug`, so the
/// stored text cannot change with the type's formatting.
pub fn record_text(cause: &HangupCause) -> String {
    let name = match cause {
        HangupCause::CallerHungUp => "CallerHungUp",
        HangupCause::Completed => "Completed",
        HangupCause::Cancelled => "Cancelled",
        HangupCause::AckTimeout => "AckTimeout",
        HangupCause::MediaTimeout => "MediaTimeout",
        HangupCause::SessionExpired => "SessionExpired",
        HangupCause::Transferred => "Transferred",
        HangupCause::Shutdown => "Shutdown",
        HangupCause::Error(fault) => return format!("Error({:?})", fault.reason()),
    };
    name.to_string()
}

/// The summary line of a call: who, how long (`duration` since the INVITE), media quality and
/// why it ended.
pub(crate) fn log_summary(
    info: &CallInfo,
    duration: Duration,
    stats: Option<MediaStats>,
    cause: &HangupCause,
    extra: &str,
) {
    let s = stats.unwrap_or_default();
    tracing::info!(
        call_id = %info.call_id,
        caller = ?info.caller,
        dialled = %info.dialled,
        duration_ms = duration.as_millis() as u64,
        packets_in = s.packets_in,
        packets_out = s.packets_out,
        lost = s.lost_packets(),
        rejected = s.rejected_source,
        loss_pct = format_args!("{:.2}", s.fraction_lost * 100.0),
        jitter_ms = format_args!("{:.1}", s.jitter_ms),
        cause = %record_text(cause),
        "call summary{extra}"
    );
}

impl Call {
    /// Sends BYE (once) and stops everything the call was doing; the call is over when the
    /// dialog ends or the grace period runs out.
    pub(super) fn hang_up(&mut self, now: Instant, cause: HangupCause) {
        if self.phase.is_hanging_up() {
            return;
        }
        self.phase = Phase::HangingUp { since: now, cause };
        self.hang_up_leg();
        self.listening = None;
        self.stop_playback();
        let call = self.call;
        self.send_sip(SipCommand::Hangup(call));
    }

    /// The dialog ended (BYE either way, CANCEL, timeouts).
    pub(super) fn on_terminated(&mut self, cause: TerminationCause) {
        let cause = match &self.phase {
            Phase::HangingUp { cause, .. } | Phase::Ended { cause } => cause.clone(),
            Phase::Up | Phase::Closing { .. } => self.transferred_or(cause_of(cause)),
        };
        // The caller left: an advisor leg not yet bridged goes too.
        self.hang_up_leg();
        self.phase = Phase::Ended { cause };
    }

    pub(super) fn on_driver_gone(&mut self) {
        self.phase = Phase::Ended {
            cause: HangupCause::Error(CallFault::DriverStopped),
        };
    }

    /// Closes the call when the server says so: the closing message then BYE, or BYE at once.
    pub(super) fn on_close(&mut self, now: Instant, mode: CloseMode) {
        match (&self.phase, mode) {
            (Phase::HangingUp { .. } | Phase::Ended { .. }, _) | (_, CloseMode::Open) => {}
            (Phase::Up, CloseMode::WithMessage) => self.play_closing(now),
            (Phase::Closing { .. }, CloseMode::WithMessage) => {}
            (_, CloseMode::Now) => self.hang_up(now, HangupCause::Shutdown),
        }
    }

    /// Stops whatever the call was doing (the handler hears nothing more, an advisor bridge is
    /// interrupted) and plays the closing prompt; a missing prompt goes straight to BYE.
    fn play_closing(&mut self, now: Instant) {
        let settings = &self.settings.closing;
        let language = self.handler.report().language;
        // A caller who asked for slower speech hears the message slower too.
        let prompts = &self.settings.prompts;
        let clip = if self.slow {
            prompts.get_slow(&settings.prompt, language.as_deref())
        } else {
            prompts.get(&settings.prompt, language.as_deref())
        };
        let message_max = settings.message_max;
        self.listening = None;
        self.abandon_refer();
        self.stop_playback();
        self.handler_events.clear();
        match clip {
            Some(clip) => {
                self.phase = Phase::Closing {
                    until: now + message_max,
                };
                self.start_closing_message(clip);
            }
            // Logged once at start-up (`server`): not once per call here.
            None => self.hang_up(now, HangupCause::Shutdown),
        }
    }

    /// The call record for the store: what the core saw plus what the handler reports.
    pub(super) fn call_record(&self, started_at: SystemTime, ended_at: SystemTime) -> CallRecord {
        let report = self.handler.report();
        let cause = self.phase.cause();
        let outcome = if cause == HangupCause::Transferred {
            Outcome::Transferred
        } else if !self.case_references.is_empty() {
            Outcome::CaseCreated
        } else if report.resolved {
            Outcome::Resolved
        } else if matches!(cause, HangupCause::CallerHungUp | HangupCause::Cancelled) {
            Outcome::Abandoned
        } else if cause == HangupCause::Completed {
            Outcome::Resolved
        } else {
            Outcome::Failed
        };
        let stats = self.media.stats();
        let mut record = CallRecord::new(self.info.call_id.clone(), started_at.into(), outcome);
        record.answered_at = Some(self.answered_at.into());
        record.ended_at = Some(ended_at.into());
        record.caller = self.info.caller.clone();
        record.flow_name = report.flow_name;
        record.flow_version = report.flow_version;
        record.node_path = report.node_path;
        record.survey = report.survey;
        record.turns = crate::call::records::record_turns(report.turns);
        record.language = report.language;
        record.accessibility = report.accessibility;
        record.hangup_cause = Some(record_text(&cause));
        record.media = MediaQuality {
            packets_in: stats.packets_in,
            packets_out: stats.packets_out,
            lost: stats.lost.max(0) as u64,
            jitter_ms: stats.jitter_ms,
        };
        record.case_references = self.case_references.clone();
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Call records keep the text they always had: reports and existing databases read it.
    #[test]
    fn records_spell_abnormal_ends_as_before() {
        let cases = [
            (CallFault::Rejected(486), "Error(\"rejected 486\")"),
            (CallFault::TransportError, "Error(\"transport error\")"),
            (
                CallFault::OutgoingFailed(408),
                "Error(\"outgoing failed 408\")",
            ),
            (CallFault::MediaPolling, "Error(\"media polling\")"),
            (CallFault::DriverStopped, "Error(\"driver stopped\")"),
        ];
        for (fault, text) in cases {
            assert_eq!(record_text(&HangupCause::Error(fault)), text);
        }
        assert_eq!(record_text(&HangupCause::CallerHungUp), "CallerHungUp");
        assert_eq!(
            record_text(&cause_of(TerminationCause::Rejected(603))),
            "Error(\"rejected 603\")"
        );
    }
}
