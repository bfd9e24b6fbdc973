//! SIP request methods (RFC 3261 §7.1, §20.5).
//!
//! A leaf: header grammars (CSeq, Allow) and the message model both name [`Method`], so it
//! depends on neither.

use std::fmt;

/// A request method. Method names are case-sensitive (RFC 3261 §7.1), so `invite` or
/// `RE%47IST%45R` are [`Method::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Register,
    Info,
    Update,
    Refer,
    Notify,
    Prack,
    Subscribe,
    Message,
    Publish,
    Other(String),
}

impl Method {
    /// Maps a method token (case-sensitive) to a method.
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }

    /// True for every method with a variant: the UAS answers others with 501 and known but
    /// unsupported ones with 405 (RFC 3261 §8.2.1).
    pub fn is_known(&self) -> bool {
        !matches!(self, Method::Other(_))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::from_token("INVITE"), Method::Invite);
        assert_eq!(Method::from_token("invite"), Method::Other("invite".into()));
        assert!(!Method::from_token("RE%47IST%45R").is_known());
        assert!(Method::Prack.is_known());
    }
}
