//! Stopping without cutting calls: what SIGTERM and SIGINT do to a running server.
//!
//! Owns: the decision of when to refuse new calls, when to close the calls still up (with or
//! without the closing message) and when to exit. Must not touch: sockets, signals, calls
//! (the SIP driver in `server` feeds this machine and applies its actions; calls learn of the
//! closing through `call::shutdown`).
//!
//! Sans-IO: the driver passes the instant, the signals and how much is still held (calls whose
//! record is not yet written, BYEs not yet answered), and reads back [`DrainAction`]s and the
//! next deadline.
//!
//! The phases:
//! - serving: a SIGTERM starts the drain (new calls refused, calls in progress continue until
//!   the drain deadline); a SIGINT (an operator at a terminal) closes every call at once.
//! - draining: when the last call ends, exit; at the deadline, close every call with the
//!   closing message; a second SIGTERM or a SIGINT closes every call at once, no message.
//! - closing: exit when nothing is held any more, or when the wait is over (the closing
//!   message's longest play, the BYE wait and a margin for the call records); another signal
//!   cuts the message short.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Time allowed after the last BYE wait for the ended calls' records to be written (a record
/// is one small store transaction; the margin covers a busy disk).
pub const RECORD_MARGIN: Duration = Duration::from_secs(2);

/// A signal that asks the server to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM (what systemd and orchestrators send): drain.
    Terminate,
    /// SIGINT (Ctrl-C at a terminal): close every call at once.
    Interrupt,
}

/// How long each part of the drain may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainConfig {
    /// How long calls in progress may continue after the first SIGTERM.
    pub drain: Duration,
    /// The longest the closing message may play.
    pub closing_message: Duration,
    /// How long the BYEs may wait for their answers.
    pub bye_wait: Duration,
}

impl DrainConfig {
    /// From the `shutdown` section of the configuration.
    pub fn from_config(c: &crate::config::ShutdownConfig) -> DrainConfig {
        DrainConfig {
            drain: Duration::from_secs(c.drain_secs),
            closing_message: Duration::from_secs(c.closing_message_max_secs),
            bye_wait: Duration::from_secs(c.bye_wait_secs),
        }
    }
}

/// What a stopping server still waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held {
    /// Calls not yet ended with their call record written (and case writes in flight).
    pub calls: usize,
    /// BYEs sent that have had no final response yet.
    pub byes: usize,
}

impl Held {
    pub fn total(self) -> usize {
        self.calls + self.byes
    }
}

/// What the driver must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainAction {
    /// From now on new calls get 503 with Retry-After; calls in progress continue until
    /// `deadline`.
    RefuseNewCalls { deadline: Instant },
    /// Close every call still up: the closing message first when `message`, then BYE.
    CloseCalls { message: bool },
    /// Stop serving and exit; `held` is what was still held when the wait ran out (0 when
    /// everything ended).
    Exit { held: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    Draining { deadline: Instant },
    Closing { message: bool, until: Instant },
    Done,
}

/// The drain state machine.
#[derive(Debug)]
pub struct Drain {
    config: DrainConfig,
    phase: Phase,
    actions: VecDeque<DrainAction>,
}

impl Drain {
    pub fn new(config: DrainConfig) -> Drain {
        Drain {
            config,
            phase: Phase::Serving,
            actions: VecDeque::new(),
        }
    }

    /// A stop signal arrived.
    pub fn on_signal(&mut self, now: Instant, signal: StopSignal, held: Held) {
        match (self.phase, signal) {
            (Phase::Serving, StopSignal::Terminate) => {
                let deadline = now + self.config.drain;
                self.actions
                    .push_back(DrainAction::RefuseNewCalls { deadline });
                self.phase = Phase::Draining { deadline };
            }
            (Phase::Serving, StopSignal::Interrupt) => {
                // New calls are refused while the ones up are closed.
                self.actions
                    .push_back(DrainAction::RefuseNewCalls { deadline: now });
                self.close(now, false);
            }
            (Phase::Draining { .. }, _) => self.close(now, false),
            (
                Phase::Closing {
                    message: true,
                    until,
                },
                _,
            ) => {
                // Cut the message short; the wait only ever gets shorter.
                self.actions
                    .push_back(DrainAction::CloseCalls { message: false });
                let bound = now + self.config.bye_wait + RECORD_MARGIN;
                self.phase = Phase::Closing {
                    message: false,
                    until: until.min(bound),
                };
            }
            (Phase::Closing { message: false, .. }, _) | (Phase::Done, _) => {}
        }
        self.on_held(now, held);
    }

    /// How much is still held, after every turn of the driver's loop.
    pub fn on_held(&mut self, now: Instant, held: Held) {
        match self.phase {
            _ if held.total() == 0 && self.is_stopping() && self.phase != Phase::Done => {
                self.exit(0)
            }
            // Every call has ended and its record is written; only answers to BYEs are
            // awaited, and only for `bye_wait` from now.
            Phase::Draining { .. } | Phase::Closing { .. } if held.calls == 0 => {
                let bound = now + self.config.bye_wait;
                let (message, until) = match self.phase {
                    Phase::Closing { message, until } => (message, until.min(bound)),
                    _ => (false, bound),
                };
                self.phase = Phase::Closing { message, until };
            }
            _ => {}
        }
    }

    /// The deadline from [`Drain::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant, held: Held) {
        match self.phase {
            Phase::Draining { deadline } if now >= deadline => self.close(now, true),
            Phase::Closing { until, .. } if now >= until => self.exit(held.total()),
            _ => {}
        }
        self.on_held(now, held);
    }

    /// When [`Drain::handle_timeout`] has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Draining { deadline } => Some(deadline),
            Phase::Closing { until, .. } => Some(until),
            Phase::Serving | Phase::Done => None,
        }
    }

    pub fn poll_action(&mut self) -> Option<DrainAction> {
        self.actions.pop_front()
    }

    /// Whether a stop signal has arrived (new calls are refused).
    pub fn is_stopping(&self) -> bool {
        self.phase != Phase::Serving
    }

    fn close(&mut self, now: Instant, message: bool) {
        let mut until = now + self.config.bye_wait + RECORD_MARGIN;
        if message {
            until += self.config.closing_message;
        }
        self.actions.push_back(DrainAction::CloseCalls { message });
        self.phase = Phase::Closing { message, until };
    }

    fn exit(&mut self, held: usize) {
        self.actions.push_back(DrainAction::Exit { held });
        self.phase = Phase::Done;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAIN: Duration = Duration::from_secs(60);
    const MESSAGE: Duration = Duration::from_secs(15);
    const BYE_WAIT: Duration = Duration::from_secs(3);

    fn drain() -> Drain {
        Drain::new(DrainConfig {
            drain: DRAIN,
            closing_message: MESSAGE,
            bye_wait: BYE_WAIT,
        })
    }

    fn calls(calls: usize) -> Held {
        Held { calls, byes: 0 }
    }

    fn byes(byes: usize) -> Held {
        Held { calls: 0, byes }
    }

    fn actions(d: &mut Drain) -> Vec<DrainAction> {
        std::iter::from_fn(|| d.poll_action()).collect()
    }

    #[test]
    fn serving_has_no_deadline_and_no_action() {
        let mut d = drain();
        let now = Instant::now();
        d.on_held(now, calls(0));
        d.handle_timeout(now + DRAIN * 2, calls(5));
        assert_eq!(d.poll_timeout(), None);
        assert!(actions(&mut d).is_empty());
        assert!(!d.is_stopping());
    }

    #[test]
    fn sigterm_refuses_new_calls_and_waits_for_the_deadline() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, calls(50));
        assert_eq!(
            actions(&mut d),
            [DrainAction::RefuseNewCalls {
                deadline: t0 + DRAIN
            }]
        );
        assert!(d.is_stopping());
        assert_eq!(d.poll_timeout(), Some(t0 + DRAIN));
        // Calls end one by one: nothing to do until the deadline.
        d.on_held(t0 + Duration::from_secs(10), calls(20));
        d.handle_timeout(t0 + Duration::from_secs(59), calls(20));
        assert!(actions(&mut d).is_empty());
        assert_eq!(d.poll_timeout(), Some(t0 + DRAIN));
    }

    #[test]
    fn the_deadline_closes_with_the_message_then_exits_when_all_is_answered() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, calls(50));
        actions(&mut d);
        let deadline = t0 + DRAIN;
        d.handle_timeout(deadline, calls(50));
        assert_eq!(actions(&mut d), [DrainAction::CloseCalls { message: true }]);
        assert_eq!(
            d.poll_timeout(),
            Some(deadline + MESSAGE + BYE_WAIT + RECORD_MARGIN)
        );
        d.on_held(
            deadline + Duration::from_secs(4),
            Held { calls: 3, byes: 40 },
        );
        assert!(actions(&mut d).is_empty());
        d.on_held(deadline + Duration::from_secs(5), Held::default());
        assert_eq!(actions(&mut d), [DrainAction::Exit { held: 0 }]);
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn unanswered_byes_are_waited_for_only_bye_wait_after_the_last_call_ended() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, calls(50));
        d.handle_timeout(t0 + DRAIN, calls(50));
        actions(&mut d);
        // The messages have played, every call has its record; two BYEs go unanswered.
        let last_call = t0 + DRAIN + Duration::from_secs(5);
        d.on_held(last_call, byes(2));
        assert_eq!(d.poll_timeout(), Some(last_call + BYE_WAIT));
        // Later turns do not push the bound back.
        d.on_held(last_call + Duration::from_secs(1), byes(2));
        assert_eq!(d.poll_timeout(), Some(last_call + BYE_WAIT));
        d.handle_timeout(last_call + BYE_WAIT, byes(2));
        assert_eq!(actions(&mut d), [DrainAction::Exit { held: 2 }]);
    }

    #[test]
    fn all_calls_ending_before_the_deadline_exits_at_once() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, calls(2));
        actions(&mut d);
        d.on_held(t0 + Duration::from_secs(7), calls(0));
        assert_eq!(actions(&mut d), [DrainAction::Exit { held: 0 }]);
    }

    #[test]
    fn calls_that_ended_with_our_bye_before_the_deadline_wait_for_its_answer() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, calls(1));
        actions(&mut d);
        let ended = t0 + Duration::from_secs(7);
        d.on_held(ended, byes(1));
        assert!(actions(&mut d).is_empty(), "no call to close");
        assert_eq!(d.poll_timeout(), Some(ended + BYE_WAIT));
        d.on_held(ended + Duration::from_millis(20), byes(0));
        assert_eq!(actions(&mut d), [DrainAction::Exit { held: 0 }]);
    }

    #[test]
    fn sigterm_with_nothing_up_exits_at_once() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, Held::default());
        assert_eq!(
            actions(&mut d),
            [
                DrainAction::RefuseNewCalls {
                    deadline: t0 + DRAIN
                },
                DrainAction::Exit { held: 0 }
            ]
        );
    }

    #[test]
    fn a_second_signal_while_draining_closes_at_once_without_the_message() {
        for second in [StopSignal::Terminate, StopSignal::Interrupt] {
            let mut d = drain();
            let t0 = Instant::now();
            d.on_signal(t0, StopSignal::Terminate, calls(50));
            actions(&mut d);
            let t1 = t0 + Duration::from_secs(1);
            d.on_signal(t1, second, calls(50));
            assert_eq!(
                actions(&mut d),
                [DrainAction::CloseCalls { message: false }]
            );
            assert_eq!(d.poll_timeout(), Some(t1 + BYE_WAIT + RECORD_MARGIN));
            d.on_held(t1 + Duration::from_millis(300), Held::default());
            assert_eq!(actions(&mut d), [DrainAction::Exit { held: 0 }]);
        }
    }

    #[test]
    fn a_signal_during_the_message_cuts_it_short() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, calls(5));
        d.handle_timeout(t0 + DRAIN, calls(5));
        actions(&mut d);
        let t1 = t0 + DRAIN + Duration::from_secs(1);
        d.on_signal(t1, StopSignal::Terminate, calls(5));
        assert_eq!(
            actions(&mut d),
            [DrainAction::CloseCalls { message: false }]
        );
        assert_eq!(d.poll_timeout(), Some(t1 + BYE_WAIT + RECORD_MARGIN));
        // A third signal changes nothing.
        d.on_signal(t1 + Duration::from_secs(1), StopSignal::Interrupt, calls(5));
        assert!(actions(&mut d).is_empty());
    }

    #[test]
    fn sigint_first_closes_at_once() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Interrupt, calls(4));
        assert_eq!(
            actions(&mut d),
            [
                DrainAction::RefuseNewCalls { deadline: t0 },
                DrainAction::CloseCalls { message: false }
            ]
        );
    }

    #[test]
    fn the_wait_is_bounded_when_calls_do_not_end() {
        let mut d = drain();
        let t0 = Instant::now();
        d.on_signal(t0, StopSignal::Terminate, calls(50));
        d.handle_timeout(t0 + DRAIN, calls(50));
        actions(&mut d);
        let until = t0 + DRAIN + MESSAGE + BYE_WAIT + RECORD_MARGIN;
        d.handle_timeout(until - Duration::from_millis(1), calls(7));
        assert!(actions(&mut d).is_empty());
        d.handle_timeout(until, calls(7));
        assert_eq!(actions(&mut d), [DrainAction::Exit { held: 7 }]);
        // Done: nothing more, whatever comes.
        d.on_signal(until, StopSignal::Interrupt, calls(7));
        d.handle_timeout(until + DRAIN, Held::default());
        assert!(actions(&mut d).is_empty());
    }
}
