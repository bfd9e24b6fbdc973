//! RFC 4028 session timer negotiation and the refresh/expiry schedule for one dialog.
//!
//! Owns: deciding interval and refresher from a request's Session-Expires/Min-SE/Supported, the
//! 422 decision, and when to refresh or give up. Must not touch: messages or sending (the user
//! agent renders headers and sends the refresh).

use std::time::{Duration, Instant};

/// Who refreshes the session (RFC 4028 §4 `refresher` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    pub fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }

    /// Parses the Session-Expires header value `1800;refresher=uac`.
    pub fn parse_session_expires(value: &str) -> Option<(u32, Option<Refresher>)> {
        let mut parts = value.split(';');
        let secs = parts.next()?.trim().parse::<u32>().ok()?;
        let refresher = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("refresher") {
                return None;
            }
            match v.trim().to_ascii_lowercase().as_str() {
                "uac" => Some(Refresher::Uac),
                "uas" => Some(Refresher::Uas),
                _ => None,
            }
        });
        Some((secs, refresher))
    }
}

/// What the UAS answers a session-timer request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UasDecision {
    /// No session timer on this dialog.
    None,
    /// Use a timer: put `Session-Expires: interval;refresher=..` in the 2xx, and
    /// `Require: timer` when `require_timer`.
    Timer {
        interval: u32,
        refresher: Refresher,
        require_timer: bool,
    },
    /// RFC 4028 §8.1: the interval is below our minimum → 422 with `Min-SE: min_se`.
    TooSmall { min_se: u32 },
}

/// RFC 4028 §9: the UAS's handling of a (re-)INVITE or UPDATE.
/// `session_expires` is the request's header, `request_min_se` its Min-SE, `uac_supports`
/// whether `Supported: timer` was present; `our_se`/`our_min_se` are the local configuration.
pub fn uas_negotiate(
    session_expires: Option<(u32, Option<Refresher>)>,
    request_min_se: Option<u32>,
    uac_supports: bool,
    our_se: u32,
    our_min_se: u32,
) -> UasDecision {
    // RFC 4028 §4: Min-SE is never below 90 seconds.
    let floor = our_min_se.max(90).max(request_min_se.unwrap_or(0));
    match session_expires {
        Some((interval, _)) if interval < our_min_se.max(90) => UasDecision::TooSmall {
            min_se: our_min_se.max(90),
        },
        Some((interval, refresher)) => {
            // §9: the UAS may lower the interval but not below Min-SE; we keep the smaller of
            // theirs and ours so both sides refresh often enough.
            let interval = interval.min(our_se.max(floor));
            let refresher = refresher.unwrap_or(if uac_supports {
                Refresher::Uac
            } else {
                Refresher::Uas
            });
            // §9: a UAC that did not say it supports timer cannot be asked to refresh.
            let refresher = if uac_supports {
                refresher
            } else {
                Refresher::Uas
            };
            UasDecision::Timer {
                interval,
                refresher,
                require_timer: uac_supports,
            }
        }
        None if uac_supports => UasDecision::Timer {
            interval: our_se.max(floor),
            refresher: Refresher::Uac,
            require_timer: true,
        },
        // §9: the UAC knows nothing of timers: we refresh ourselves.
        None => UasDecision::Timer {
            interval: our_se.max(floor),
            refresher: Refresher::Uas,
            require_timer: false,
        },
    }
}

/// What the schedule wants done now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTimerAction {
    /// We are the refresher: send a refresh (UPDATE or re-INVITE).
    Refresh,
    /// The peer should have refreshed and did not: send BYE (RFC 4028 §10).
    Expire,
}

/// The running timer of one dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    pub interval: u32,
    /// True when we send the refreshes.
    pub we_refresh: bool,
    due: Instant,
}

impl SessionTimer {
    /// Starts (or restarts after a refresh) at `now`.
    pub fn start(now: Instant, interval: u32, we_refresh: bool) -> Self {
        let mut t = SessionTimer {
            interval,
            we_refresh,
            due: now,
        };
        t.restart(now);
        t
    }

    /// A refresh succeeded at `now`.
    pub fn restart(&mut self, now: Instant) {
        let se = u64::from(self.interval.max(1));
        self.due = if self.we_refresh {
            // RFC 4028 §10: the refresher sends at half the interval.
            now + Duration::from_secs(se / 2)
        } else {
            // RFC 4028 §10: the other side gives up at SE minus min(32, SE/3).
            now + Duration::from_secs(se - (se / 3).min(32))
        };
    }

    pub fn next_timeout(&self) -> Instant {
        self.due
    }

    /// Returns what to do if the timer is due.
    pub fn poll(&mut self, now: Instant) -> Option<SessionTimerAction> {
        if now < self.due {
            return None;
        }
        if self.we_refresh {
            // Retry no sooner than the answer could arrive; the refresh's success restarts us.
            self.due = now + Duration::from_secs(u64::from(self.interval.max(1)) / 2);
            Some(SessionTimerAction::Refresh)
        } else {
            self.due = now + Duration::from_secs(u64::from(u32::MAX));
            Some(SessionTimerAction::Expire)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_session_expires() {
        assert_eq!(
            Refresher::parse_session_expires("1800;refresher=uac"),
            Some((1800, Some(Refresher::Uac)))
        );
        assert_eq!(Refresher::parse_session_expires(" 90 "), Some((90, None)));
        assert_eq!(Refresher::parse_session_expires("x"), None);
    }

    #[test]
    fn too_small_gets_422_with_our_min_se() {
        assert_eq!(
            uas_negotiate(Some((60, None)), None, true, 1800, 90),
            UasDecision::TooSmall { min_se: 90 }
        );
        assert_eq!(
            uas_negotiate(Some((100, None)), None, true, 1800, 120),
            UasDecision::TooSmall { min_se: 120 }
        );
    }

    #[test]
    fn honours_request_and_refresher() {
        assert_eq!(
            uas_negotiate(Some((600, Some(Refresher::Uas))), None, true, 1800, 90),
            UasDecision::Timer {
                interval: 600,
                refresher: Refresher::Uas,
                require_timer: true
            }
        );
        assert_eq!(
            uas_negotiate(Some((600, None)), None, false, 1800, 90),
            UasDecision::Timer {
                interval: 600,
                refresher: Refresher::Uas,
                require_timer: false
            }
        );
        assert_eq!(
            uas_negotiate(None, None, true, 1800, 90),
            UasDecision::Timer {
                interval: 1800,
                refresher: Refresher::Uac,
                require_timer: true
            }
        );
    }

    #[test]
    fn schedule_refresh_half_and_expiry_before_end() {
        let t0 = Instant::now();
        let mut ours = SessionTimer::start(t0, 1800, true);
        assert_eq!(ours.next_timeout(), t0 + Duration::from_secs(900));
        assert_eq!(ours.poll(t0 + Duration::from_secs(899)), None);
        assert_eq!(
            ours.poll(t0 + Duration::from_secs(900)),
            Some(SessionTimerAction::Refresh)
        );
        let mut theirs = SessionTimer::start(t0, 90, false);
        assert_eq!(theirs.next_timeout(), t0 + Duration::from_secs(60));
        let mut long = SessionTimer::start(t0, 1800, false);
        assert_eq!(long.next_timeout(), t0 + Duration::from_secs(1768));
        assert_eq!(
            theirs.poll(t0 + Duration::from_secs(60)),
            Some(SessionTimerAction::Expire)
        );
        assert_eq!(long.poll(t0), None);
    }
}
