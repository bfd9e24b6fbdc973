//! Listening for keys: a `Listen` sets up DTMF collection and the no-input timer; digits end
//! collection at `max_digits`, at a terminator, or after the inter-digit gap.

use std::time::Instant;

use super::{Call, Listening};
use crate::handler::{CallEvent, ListenSpec};

impl Call {
    /// A `Listen`: the no-input timer starts now unless a prompt still plays (it is armed when
    /// the prompt finishes). Dropping the previous `ask`'s speech state cancels its decodes.
    pub(super) fn listen(&mut self, now: Instant, spec: ListenSpec, answering_unavailable: bool) {
        let no_input_at = if self.playback.is_playing() {
            None
        } else {
            Some(now + spec.no_input_timeout)
        };
        self.listening = None;
        let speech = self.start_speech(&spec, answering_unavailable);
        self.listening = Some(Listening {
            spec,
            no_input_at,
            digits: String::new(),
            inter_digit_at: None,
            speech,
        });
    }

    /// A digit from RFC 4733, in-band tones or SIP INFO.
    pub(super) fn on_digit(&mut self, now: Instant, digit: char) {
        if !self.phase.is_up() {
            return;
        }
        self.digits_heard.push(digit);
        // DTMF always barges in on an interruptible prompt.
        if self.playback.interruptible() {
            self.stop_playback();
        }
        match &mut self.listening {
            Some(l) if l.spec.max_digits > 1 => {
                if l.spec.terminators.contains(digit) {
                    let digits = std::mem::take(&mut l.digits);
                    self.listening = None;
                    self.raise(CallEvent::Digits(digits));
                    return;
                }
                l.digits.push(digit);
                l.no_input_at = None;
                if l.digits.len() >= l.spec.max_digits {
                    let digits = std::mem::take(&mut l.digits);
                    self.listening = None;
                    self.raise(CallEvent::Digits(digits));
                } else {
                    l.inter_digit_at = Some(now + l.spec.inter_digit_timeout);
                }
            }
            _ => {
                self.listening = None;
                self.raise(CallEvent::Dtmf(digit));
            }
        }
    }

    /// The inter-digit gap and the no-input timer (suspended while the caller speaks).
    pub(super) fn check_listen_timers(&mut self, now: Instant) {
        let Some(l) = &mut self.listening else { return };
        if l.inter_digit_at.is_some_and(|t| now >= t) {
            l.inter_digit_at = None;
            let digits = std::mem::take(&mut l.digits);
            self.listening = None;
            self.raise(CallEvent::Digits(digits));
        } else if l.no_input_at.is_some_and(|t| now >= t)
            && !l.speech.as_ref().is_some_and(|s| s.active)
        {
            self.listening = None;
            self.raise(CallEvent::NoInput);
        }
    }
}
