//! The Via header value (RFC 3261 §20.42, §18.2.1; RFC 3581 rport; RFC 5118 §4.5).
//!
//! Owns parsing/printing of one via-parm and the response-destination rule. Must not decide
//! transaction matching (that is the transaction layer's).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::Params;
use super::lex::{is_token, parse_decimal, split_outside, trim_lws};
use crate::sip::uri::Host;

/// RFC 3261 §8.1.1.7: branches that start with this cookie are RFC 3261 transaction ids.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...;rport;received=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token, upper-cased (`UDP`, `TCP`, `TLS`, or anything else).
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub branch: Option<String>,
    /// RFC 3581: `None` absent, `Some(None)` requested, `Some(Some(p))` filled in.
    pub rport: Option<Option<u16>>,
    pub received: Option<IpAddr>,
    /// Every parameter as received (including branch/rport/received; the fields above win when
    /// printing).
    pub params: Params,
}

impl Via {
    /// A fresh Via for a request we send.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Via {
        let mut params = Params::default();
        params.set("branch", Some(branch));
        Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            branch: Some(branch.to_string()),
            rport: None,
            received: None,
            params,
        }
    }

    /// Parses one via-parm (already split from its list).
    pub fn parse(s: &str) -> Result<Via, &'static str> {
        let s = trim_lws(s);
        let (head, params_str) = match split_outside(s, b';') {
            Some(parts) if parts.len() > 1 => {
                let head = parts.first().copied().unwrap_or_default();
                (head, Some(&s[head.len() + 1..]))
            }
            Some(_) => (s, None),
            None => return Err("unbalanced quote"),
        };
        let mut pieces = head.splitn(3, '/');
        let name = trim_lws(pieces.next().unwrap_or_default());
        let version = trim_lws(pieces.next().ok_or("no protocol version")?);
        let rest = trim_lws(pieces.next().ok_or("no transport")?);
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err("not SIP/2.0");
        }
        let (transport, sent_by) = rest.split_once([' ', '\t']).ok_or("no sent-by")?;
        let sent_by = trim_lws(sent_by);
        if !is_token(transport) || sent_by.is_empty() || sent_by.contains([' ', '\t']) {
            return Err("bad sent-by");
        }
        let (host_str, port_str) = if sent_by.starts_with('[') {
            let close = sent_by.find(']').ok_or("unterminated IPv6 reference")?;
            let (h, after) = sent_by.split_at(close + 1);
            match after {
                "" => (h, None),
                _ => (
                    h,
                    Some(after.strip_prefix(':').ok_or("garbage after host")?),
                ),
            }
        } else {
            match sent_by.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (sent_by, None),
            }
        };
        let host = Host::parse(host_str, false).ok_or("bad host")?;
        let port = match port_str {
            None => None,
            Some(p) => Some(parse_port(p).ok_or("bad port")?),
        };
        let params = match params_str {
            None => Params::default(),
            Some(p) => Params::parse(p).ok_or("bad parameter")?,
        };
        let branch = match params.get("branch") {
            None => None,
            Some(Some(b)) if is_token(b) => Some(b.to_string()),
            Some(_) => return Err("bad branch"),
        };
        let rport = match params.get("rport") {
            None => None,
            Some(None) => Some(None),
            Some(Some(p)) => Some(Some(parse_port(p).ok_or("bad rport")?)),
        };
        let received = match params.value("received") {
            None => None,
            // RFC 5118 §4.5: accept IPv6 with or without brackets.
            Some(r) => Some(
                Host::parse(r, true)
                    .and_then(|h| h.ip())
                    .ok_or("bad received")?,
            ),
        };
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            branch,
            rport,
            received,
            params,
        })
    }

    /// True if the branch carries the RFC 3261 magic cookie (§8.1.1.7).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .as_deref()
            .is_some_and(|b| b.starts_with(BRANCH_MAGIC_COOKIE))
    }

    /// True for reliable transports, whose responses go back on the same connection.
    pub fn is_reliable(&self) -> bool {
        !self.transport.eq_ignore_ascii_case("UDP")
    }

    /// RFC 3261 §18.2.1 and RFC 3581 §4: on receipt, record where the request really came from.
    /// Adds `received` when the sent-by host is not the source address, and fills `rport`.
    pub fn stamp_received(&mut self, source: SocketAddr) {
        if self.host.ip() != Some(source.ip()) || self.rport.is_some() {
            self.received = Some(source.ip());
        }
        if self.rport.is_some() {
            self.rport = Some(Some(source.port()));
        }
    }

    fn default_port(&self) -> u16 {
        // RFC 3261 §18.2.2 / §19.1.2: 5061 for TLS, else 5060.
        if self.transport.eq_ignore_ascii_case("TLS") {
            5061
        } else {
            5060
        }
    }
}

fn parse_port(s: &str) -> Option<u16> {
    parse_decimal(s, u64::from(u16::MAX)).and_then(|v| u16::try_from(v).ok())
}

/// Where to send a response to a request whose top Via is `via` and which arrived from
/// `source` (RFC 3261 §18.2.2, RFC 3581 §4).
///
/// Reliable transports answer on the connection (the source). Over UDP: with `rport` the answer
/// goes to the source address and port (NAT traversal); otherwise to the source address (the
/// `received` rule) at the sent-by port, default 5060. `maddr` is deliberately ignored: honouring
/// it would let any datagram aim our responses at an arbitrary third party.
pub fn response_destination(via: &Via, source: SocketAddr) -> SocketAddr {
    if via.is_reliable() {
        return source;
    }
    match via.rport {
        Some(_) => source,
        None => SocketAddr::new(source.ip(), via.port.unwrap_or_else(|| via.default_port())),
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        let mut wrote_branch = false;
        let mut wrote_rport = false;
        let mut wrote_received = false;
        for p in self.params.iter() {
            if p.name.eq_ignore_ascii_case("branch") {
                wrote_branch = true;
                if let Some(b) = &self.branch {
                    write!(f, ";branch={b}")?;
                }
            } else if p.name.eq_ignore_ascii_case("rport") {
                wrote_rport = true;
                write_rport(f, self.rport)?;
            } else if p.name.eq_ignore_ascii_case("received") {
                wrote_received = true;
                write_received(f, self.received)?;
            } else {
                match &p.value {
                    Some(v) => write!(f, ";{}={v}", p.name)?,
                    None => write!(f, ";{}", p.name)?,
                }
            }
        }
        if let (false, Some(b)) = (wrote_branch, &self.branch) {
            write!(f, ";branch={b}")?;
        }
        if !wrote_rport {
            write_rport(f, self.rport)?;
        }
        if !wrote_received {
            write_received(f, self.received)?;
        }
        Ok(())
    }
}

fn write_rport(f: &mut fmt::Formatter<'_>, rport: Option<Option<u16>>) -> fmt::Result {
    match rport {
        None => Ok(()),
        Some(None) => f.write_str(";rport"),
        Some(Some(p)) => write!(f, ";rport={p}"),
    }
}

fn write_received(f: &mut fmt::Formatter<'_>, received: Option<IpAddr>) -> fmt::Result {
    match received {
        None => Ok(()),
        // RFC 5118 §4.5: IPv6 received values are written without brackets.
        Some(ip) => write!(f, ";received={ip}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_odd_whitespace() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::Ipv4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch.as_deref(), Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v =
            Via::parse(" SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239").unwrap();
        assert_eq!(v.branch.as_deref(), Some("z9hG4bK30239"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn rport_and_received() {
        let v =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")
                .unwrap();
        assert_eq!(v.received, Some("2001:db8::9:255".parse().unwrap()));
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5070;received=[2001:db8::9:255];rport")
            .unwrap();
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.rport, Some(None));
        assert!(Via::parse("SIP/2.0/UDP host;rport=99999").is_err());
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,").is_err());
        assert!(Via::parse("SIP/3.0/UDP host").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
    }

    #[test]
    fn response_routing() {
        let source: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let mut v =
            Via::parse("SIP/2.0/UDP client.example.com:5070;branch=z9hG4bK1;rport").unwrap();
        assert_eq!(response_destination(&v, source), source);
        v.stamp_received(source);
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP client.example.com:5070;branch=z9hG4bK1;rport=40000;received=127.0.0.1"
        );
        let v = Via::parse("SIP/2.0/UDP client.example.com:5070;branch=z9hG4bK1").unwrap();
        assert_eq!(
            response_destination(&v, source),
            "127.0.0.1:5070".parse().unwrap()
        );
        let v =
            Via::parse("SIP/2.0/UDP client.example.com;branch=z9hG4bK1;maddr=203.0.113.9").unwrap();
        assert_eq!(
            response_destination(&v, source),
            "127.0.0.1:5060".parse().unwrap()
        );
        let v = Via::parse("SIP/2.0/TCP client.example.com;branch=z9hG4bK1").unwrap();
        assert_eq!(response_destination(&v, source), source);
    }

    #[test]
    fn stamp_skips_received_when_host_matches() {
        let mut v = Via::parse("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1").unwrap();
        v.stamp_received("127.0.0.1:5070".parse().unwrap());
        assert_eq!(v.to_string(), "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1");
    }
}
