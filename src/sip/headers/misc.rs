//! Small typed header values: CSeq, Content-Type, Session-Expires/Min-SE, Event,
//! Subscription-State (RFC 3261 §20.16, §20.15; RFC 4028 §4, §5; RFC 6665 §8.2).

use std::fmt;

use super::Params;
use super::lex::{is_token, parse_decimal, trim_lws};
use crate::sip::method::Method;

/// `CSeq: 4711 INVITE` (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, &'static str> {
        let s = trim_lws(s);
        let (num, method) = s.split_once([' ', '\t']).ok_or("no method")?;
        let method = trim_lws(method);
        // RFC 3261 §8.1.1.5: the number must fit 32 bits (RFC 4475 §3.1.2.4 overflows it).
        let seq = parse_decimal(num, u64::from(u32::MAX)).ok_or("bad sequence number")?;
        if !is_token(method) {
            return Err("bad method");
        }
        Ok(CSeq {
            seq: u32::try_from(seq).map_err(|_| "bad sequence number")?,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// `Content-Type: application/sdp; charset=...` with type and subtype lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub mtype: String,
    pub subtype: String,
    pub params: Params,
}

impl MediaType {
    pub fn parse(s: &str) -> Result<MediaType, &'static str> {
        let s = trim_lws(s);
        let (essence, params) = match s.split_once(';') {
            Some((e, p)) => (e, Params::parse(p).ok_or("bad parameter")?),
            None => (s, Params::default()),
        };
        let (t, sub) = essence.split_once('/').ok_or("no subtype")?;
        let (t, sub) = (trim_lws(t), trim_lws(sub));
        if !is_token(t) || !is_token(sub) {
            return Err("bad media type");
        }
        Ok(MediaType {
            mtype: t.to_ascii_lowercase(),
            subtype: sub.to_ascii_lowercase(),
            params,
        })
    }

    /// `type/subtype`, lower-cased.
    pub fn essence(&self) -> String {
        format!("{}/{}", self.mtype, self.subtype)
    }

    /// True if this is `mtype/subtype` (case-insensitive).
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.mtype, self.subtype, self.params)
    }
}

/// Who refreshes the session (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// `Session-Expires: 1800;refresher=uac` (RFC 4028 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionExpires {
    pub delta_secs: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(s: &str) -> Result<SessionExpires, &'static str> {
        let (delta, params) = delta_with_params(s)?;
        let refresher = match params.value("refresher") {
            None => None,
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return Err("bad refresher"),
        };
        Ok(SessionExpires {
            delta_secs: delta,
            refresher,
        })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta_secs)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac"),
            Some(Refresher::Uas) => f.write_str(";refresher=uas"),
            None => Ok(()),
        }
    }
}

/// `delta-seconds *(;param)` as used by Session-Expires, Min-SE, Expires-like headers.
pub(crate) fn delta_with_params(s: &str) -> Result<(u32, Params), &'static str> {
    let s = trim_lws(s);
    let (num, params) = match s.split_once(';') {
        Some((n, p)) => (trim_lws(n), Params::parse(p).ok_or("bad parameter")?),
        None => (s, Params::default()),
    };
    let delta = parse_decimal(num, u64::from(u32::MAX)).ok_or("bad delta-seconds")?;
    Ok((
        u32::try_from(delta).map_err(|_| "bad delta-seconds")?,
        params,
    ))
}

/// `Event: refer;id=93809824` (RFC 6665 §8.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    pub package: String,
    pub id: Option<String>,
    pub params: Params,
}

impl EventHeader {
    pub fn parse(s: &str) -> Result<EventHeader, &'static str> {
        let s = trim_lws(s);
        let (package, params) = match s.split_once(';') {
            Some((p, rest)) => (trim_lws(p), Params::parse(rest).ok_or("bad parameter")?),
            None => (s, Params::default()),
        };
        if !is_token(package) {
            return Err("bad event package");
        }
        Ok(EventHeader {
            package: package.to_string(),
            id: params.value("id").map(str::to_string),
            params,
        })
    }
}

/// `Subscription-State: active;expires=60` (RFC 6665 §8.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// `active`, `pending`, `terminated` or an extension, lower-cased.
    pub state: String,
    pub expires: Option<u32>,
    pub reason: Option<String>,
    pub params: Params,
}

impl SubscriptionState {
    pub fn parse(s: &str) -> Result<SubscriptionState, &'static str> {
        let s = trim_lws(s);
        let (state, params) = match s.split_once(';') {
            Some((p, rest)) => (trim_lws(p), Params::parse(rest).ok_or("bad parameter")?),
            None => (s, Params::default()),
        };
        if !is_token(state) {
            return Err("bad state");
        }
        let expires = match params.value("expires") {
            None => None,
            Some(e) => Some(
                parse_decimal(e, u64::from(u32::MAX))
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or("bad expires")?,
            ),
        };
        Ok(SubscriptionState {
            state: state.to_ascii_lowercase(),
            expires,
            reason: params.value("reason").map(str::to_string),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        let c = CSeq::parse("0009 INVITE").unwrap();
        assert_eq!(c.seq, 9);
        assert_eq!(c.method, Method::Invite);
        assert_eq!(c.to_string(), "9 INVITE");
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("1 INVITE x").is_err());
    }

    #[test]
    fn media_type() {
        let m = MediaType::parse("Application/SDP ; charset=utf-8").unwrap();
        assert!(m.is("application", "sdp"));
        assert_eq!(m.essence(), "application/sdp");
        assert!(MediaType::parse("text").is_err());
    }

    #[test]
    fn session_timers() {
        let s = SessionExpires::parse("1800;refresher=uac").unwrap();
        assert_eq!(s.delta_secs, 1800);
        assert_eq!(s.refresher, Some(Refresher::Uac));
        assert_eq!(s.to_string(), "1800;refresher=uac");
        assert!(SessionExpires::parse("1800;refresher=me").is_err());
        assert!(SessionExpires::parse("x").is_err());
    }

    #[test]
    fn events() {
        let e = EventHeader::parse("refer;id=93809824").unwrap();
        assert_eq!(e.package, "refer");
        assert_eq!(e.id.as_deref(), Some("93809824"));
        let s = SubscriptionState::parse("terminated;reason=noresource").unwrap();
        assert_eq!(s.state, "terminated");
        assert_eq!(s.reason.as_deref(), Some("noresource"));
    }
}
