//! SDP parsing and G.711 offer/answer (RFC 4566, RFC 3264, RFC 3605 rtcp attribute,
//! RFC 4733 telephone-event).
//!
//! Owns the session-description model, codec choice (PCMU or PCMA in the offer's order, plus
//! telephone-event/8000), hold detection and the SDP we send. Must not open sockets or pick
//! RTP ports (media does); it only renders the addresses it is given.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an SDP body could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP syntax error on line {line}: {reason}")]
    Syntax { line: usize, reason: &'static str },
    #[error("SDP is missing {0}")]
    Missing(&'static str),
    #[error("no audio stream offered")]
    NoAudio,
    #[error("no common codec (PCMU/PCMA)")]
    NoCommonCodec,
    #[error("unsupported SDP feature: {0}")]
    Unsupported(&'static str),
}

impl SdpError {
    /// The SIP status for a request whose offer failed this way: 488 when we understood it
    /// but cannot accept it (RFC 3261 §21.4.26), 400 when it is malformed.
    pub fn response_status(&self) -> u16 {
        match self {
            SdpError::Syntax { .. } | SdpError::Missing(_) => 400,
            SdpError::NoAudio | SdpError::NoCommonCodec | SdpError::Unsupported(_) => 488,
        }
    }
}

/// Media direction attribute (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attr(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// The direction an answerer uses for an offered direction (RFC 3264 §6.1), when it
    /// itself wants `wanted`.
    pub fn answer_to(self, wanted: Direction) -> Direction {
        let (offer_sends, offer_receives) = self.flags();
        let (we_send, we_receive) = wanted.flags();
        match (offer_receives && we_send, offer_sends && we_receive) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    fn flags(self) -> (bool, bool) {
        match self {
            Direction::SendRecv => (true, true),
            Direction::SendOnly => (true, false),
            Direction::RecvOnly => (false, true),
            Direction::Inactive => (false, false),
        }
    }
}

/// The two codecs Frontdoor speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    pub fn static_payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// `o=` line (RFC 4566 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: u64,
    pub address: String,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    pub media: String,
    pub port: u16,
    pub proto: String,
    /// Format list in offer order (payload types for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    pub fmtps: Vec<(u8, String)>,
    pub ptime: Option<u32>,
    pub maxptime: Option<u32>,
    pub direction: Option<Direction>,
    /// RFC 3605 `a=rtcp:port [IN IP4 addr]`.
    pub rtcp: Option<(u16, Option<IpAddr>)>,
    /// Every other attribute, `(name, value)`.
    pub attributes: Vec<(String, Option<String>)>,
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    pub origin: Origin,
    pub session_name: String,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    pub direction: Option<Direction>,
    pub ptime: Option<u32>,
    pub media: Vec<MediaDescription>,
}

fn syntax(line: usize, reason: &'static str) -> SdpError {
    SdpError::Syntax { line, reason }
}

impl SessionDescription {
    /// Parses an SDP body (RFC 4566 §5). Tolerates LF line ends, a missing `s=`/`t=` and
    /// unknown lines; rejects anything that makes the media unusable.
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        let mut origin = None;
        let mut session_name = String::new();
        let mut connection = None;
        let mut direction = None;
        let mut ptime = None;
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut saw_version = false;
        for (index, raw) in text.split('\n').enumerate() {
            let number = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            let (kind, value) = match line.as_bytes() {
                [k, b'=', ..] => (*k, &line[2..]),
                _ => return Err(syntax(number, "not <type>=<value>")),
            };
            if !saw_version {
                // RFC 4566 §5: v= comes first.
                if kind != b'v' || value != "0" {
                    return Err(syntax(number, "first line must be v=0"));
                }
                saw_version = true;
                continue;
            }
            match kind {
                b'o' => origin = Some(parse_origin(value).ok_or(syntax(number, "bad o= line"))?),
                b's' => session_name = value.to_string(),
                b'c' => {
                    let addr = parse_connection(value, number)?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(addr),
                        None => connection = Some(addr),
                    }
                }
                b'm' => media.push(parse_media(value).ok_or(syntax(number, "bad m= line"))?),
                b'a' => {
                    let (name, attr_value) = match value.split_once(':') {
                        Some((n, v)) => (n, Some(v)),
                        None => (value, None),
                    };
                    match media.last_mut() {
                        Some(m) => apply_media_attribute(m, name, attr_value),
                        None => {
                            if let Some(d) = Direction::from_attr(name) {
                                direction = Some(d);
                            } else if name == "ptime" {
                                ptime = attr_value.and_then(|v| v.trim().parse().ok());
                            }
                        }
                    }
                }
                // v is only allowed once; b, t, r, z, k, i, u, e, p are not needed here.
                b'v' => return Err(syntax(number, "repeated v= line")),
                _ if kind.is_ascii_lowercase() => {}
                _ => return Err(syntax(number, "unknown line type")),
            }
        }
        if !saw_version {
            return Err(SdpError::Missing("v="));
        }
        Ok(SessionDescription {
            origin: origin.ok_or(SdpError::Missing("o="))?,
            session_name,
            connection,
            direction,
            ptime,
            media,
        })
    }

    /// The effective direction of `m` (media level, else session level, else sendrecv).
    pub fn direction_of(&self, m: &MediaDescription) -> Direction {
        m.direction
            .or(self.direction)
            .unwrap_or(Direction::SendRecv)
    }

    /// The effective connection address of `m`.
    pub fn connection_of(&self, m: &MediaDescription) -> Option<IpAddr> {
        m.connection.or(self.connection)
    }
}

fn parse_origin(value: &str) -> Option<Origin> {
    let fields: Vec<&str> = value.split(' ').collect();
    let [username, session_id, version, net, _addr_type, address] = fields.as_slice() else {
        return None;
    };
    if *net != "IN" {
        return None;
    }
    Some(Origin {
        username: username.to_string(),
        session_id: session_id.to_string(),
        session_version: version.parse().ok()?,
        address: address.to_string(),
    })
}

fn parse_connection(value: &str, number: usize) -> Result<IpAddr, SdpError> {
    let fields: Vec<&str> = value.split(' ').collect();
    let [net, addr_type, address] = fields.as_slice() else {
        return Err(syntax(number, "bad c= line"));
    };
    if *net != "IN" {
        return Err(SdpError::Unsupported("non-IN network type"));
    }
    // Multicast TTL / count suffixes (RFC 4566 §5.7) are stripped; we never join multicast.
    let address = address.split('/').next().unwrap_or_default();
    match *addr_type {
        "IP4" => address
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| SdpError::Unsupported("c= address is not an IPv4 literal")),
        "IP6" => address
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| SdpError::Unsupported("c= address is not an IPv6 literal")),
        _ => Err(syntax(number, "bad address type")),
    }
}

fn parse_media(value: &str) -> Option<MediaDescription> {
    let mut fields = value.split(' ').filter(|f| !f.is_empty());
    let media = fields.next()?.to_string();
    let port = fields.next()?.split('/').next()?.parse().ok()?;
    let proto = fields.next()?.to_string();
    let formats: Vec<String> = fields.map(str::to_string).collect();
    if formats.is_empty() {
        return None;
    }
    Some(MediaDescription {
        media,
        port,
        proto,
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        maxptime: None,
        direction: None,
        rtcp: None,
        attributes: Vec::new(),
    })
}

/// `<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 4566 §6).
fn parse_rtpmap(v: &str) -> Option<RtpMap> {
    let (pt, rest) = v.split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next().unwrap_or_default().to_string();
    let clock_rate = parts.next()?.parse().ok()?;
    let channels = parts.next().and_then(|c| c.parse().ok());
    Some(RtpMap {
        payload_type: pt.parse().ok()?,
        encoding,
        clock_rate,
        channels,
    })
}

fn apply_media_attribute(m: &mut MediaDescription, name: &str, value: Option<&str>) {
    if let Some(d) = Direction::from_attr(name) {
        m.direction = Some(d);
        return;
    }
    match (name, value) {
        // RFC 4566 §5.13: an attribute we cannot use is ignored, not fatal. A malformed rtpmap
        // (RFC 4475 §3.1.1.3 carries `a=rtpmap:31 LPC` with no clock rate) only matters if it
        // describes the codec we would choose, and then negotiation finds no usable codec.
        ("rtpmap", Some(v)) => match parse_rtpmap(v) {
            Some(map) => m.rtpmaps.push(map),
            None => m.attributes.push((name.to_string(), Some(v.to_string()))),
        },
        ("fmtp", Some(v)) => {
            let (pt, params) = v.split_once(' ').unwrap_or((v, ""));
            if let Ok(pt) = pt.parse() {
                m.fmtps.push((pt, params.trim().to_string()));
            }
        }
        ("ptime", Some(v)) => m.ptime = v.trim().parse().ok(),
        ("maxptime", Some(v)) => m.maxptime = v.trim().parse().ok(),
        ("rtcp", Some(v)) => {
            let mut fields = v.split(' ');
            match fields.next().and_then(|p| p.parse().ok()) {
                Some(port) => {
                    let addr = match (fields.next(), fields.next(), fields.next()) {
                        (Some("IN"), Some(_), Some(a)) => a.parse().ok(),
                        _ => None,
                    };
                    m.rtcp = Some((port, addr));
                }
                // A broken rtcp attribute (RFC 3605) falls back to RTP port + 1.
                None => m.attributes.push((name.to_string(), Some(v.to_string()))),
            }
        }
        _ => m
            .attributes
            .push((name.to_string(), value.map(str::to_string))),
    }
}

/// Our side of the media: where we receive RTP and the o= identity of our session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Address advertised in o= and c= (the public address behind NAT).
    pub addr: IpAddr,
    /// Even RTP port; RTCP is `port + 1` (RFC 3550 §11).
    pub port: u16,
    pub session_id: u64,
    /// Incremented whenever the SDP we send changes (RFC 3264 §8).
    pub session_version: u64,
}

impl LocalMedia {
    /// The SDP to send now: `render`'s output, with the session version bumped if the content
    /// differs from `last_sent` and kept if it is the same (RFC 3264 §8: a re-offer with no
    /// change keeps the version, any change increments it).
    pub fn versioned(
        &mut self,
        last_sent: Option<&str>,
        render: impl Fn(&LocalMedia) -> String,
    ) -> String {
        let candidate = render(self);
        match last_sent {
            Some(prev) if without_origin(prev) == without_origin(&candidate) => candidate,
            Some(_) => {
                self.session_version = self.session_version.wrapping_add(1);
                render(self)
            }
            None => candidate,
        }
    }
}

fn without_origin(sdp: &str) -> String {
    sdp.lines()
        .filter(|l| !l.starts_with("o="))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The outcome of offer/answer for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// Payload type the peer uses for the codec (the offer's number, RFC 3264 §6.1).
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
    pub remote_rtp: SocketAddr,
    pub remote_rtcp: SocketAddr,
    pub ptime_ms: u32,
    pub remote_direction: Direction,
    pub local_direction: Direction,
    /// The peer put us on hold (sendonly/inactive, or legacy `c=0.0.0.0`, RFC 3264 §8.4).
    pub remote_hold: bool,
    /// Index of the chosen m= line, and every offered m= line (media, proto, first format)
    /// so the answer can reject the others with port 0 (RFC 3264 §6).
    pub media_index: usize,
    pub offered_media: Vec<(String, String, String)>,
}

/// Chooses the audio stream and codec for an offer (RFC 3264 §6): the first usable audio
/// m= line, PCMU or PCMA in the offer's order, telephone-event/8000 if offered.
pub fn negotiate_answer(
    offer: &SessionDescription,
    local: &LocalMedia,
) -> Result<Negotiated, SdpError> {
    select(offer, local, Direction::SendRecv)
}

/// Reads the peer's answer to an offer we built with [`build_offer`] (UAC side).
pub fn parse_answer(
    answer: &SessionDescription,
    local: &LocalMedia,
) -> Result<Negotiated, SdpError> {
    select(answer, local, Direction::SendRecv)
}

/// Like [`negotiate_answer`], with the direction we want (e.g. `SendOnly` when we hold).
pub fn negotiate_answer_with(
    offer: &SessionDescription,
    local: &LocalMedia,
    wanted: Direction,
) -> Result<Negotiated, SdpError> {
    select(offer, local, wanted)
}

fn select(
    sd: &SessionDescription,
    local: &LocalMedia,
    wanted: Direction,
) -> Result<Negotiated, SdpError> {
    let mut saw_audio = false;
    let mut family_mismatch = false;
    for (index, m) in sd.media.iter().enumerate() {
        // RFC 3264 §6: port 0 streams are rejected/disabled; only plain RTP/AVP is spoken.
        if m.media != "audio" || m.port == 0 || !m.proto.eq_ignore_ascii_case("RTP/AVP") {
            continue;
        }
        saw_audio = true;
        let Some(addr) = sd.connection_of(m) else {
            return Err(SdpError::Missing("c="));
        };
        if addr.is_ipv4() != local.addr.is_ipv4() {
            family_mismatch = true;
            continue;
        }
        let Some((codec, payload_type)) = m.formats.iter().find_map(|f| codec_for(m, f)) else {
            continue;
        };
        let telephone_event_pt = m
            .rtpmaps
            .iter()
            .find(|r| r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == 8000)
            .map(|r| r.payload_type)
            .filter(|pt| m.formats.iter().any(|f| f == &pt.to_string()));
        let ptime_ms = match m.ptime.or(sd.ptime) {
            // G.711 packets of 10-60 ms in 10 ms steps; anything else falls back to 20 ms.
            Some(p) if (10..=60).contains(&p) && p % 10 == 0 => p,
            _ => 20,
        };
        let ptime_ms = match m.maxptime {
            Some(max) if max >= 10 && ptime_ms > max => max - max % 10,
            _ => ptime_ms,
        };
        let legacy_hold = addr.is_unspecified();
        let mut remote_direction = sd.direction_of(m);
        if legacy_hold && remote_direction == Direction::SendRecv {
            // RFC 3264 §8.4: c=0.0.0.0 means the peer does not want media sent to it.
            remote_direction = Direction::SendOnly;
        }
        let remote_hold = matches!(remote_direction, Direction::SendOnly | Direction::Inactive);
        let rtcp_port = m
            .rtcp
            .map(|(p, _)| p)
            .unwrap_or_else(|| m.port.saturating_add(1));
        let rtcp_addr = m.rtcp.and_then(|(_, a)| a).unwrap_or(addr);
        return Ok(Negotiated {
            codec,
            payload_type,
            telephone_event_pt,
            remote_rtp: SocketAddr::new(addr, m.port),
            remote_rtcp: SocketAddr::new(rtcp_addr, rtcp_port),
            ptime_ms,
            remote_direction,
            local_direction: remote_direction.answer_to(wanted),
            remote_hold,
            media_index: index,
            offered_media: sd
                .media
                .iter()
                .map(|m| {
                    (
                        m.media.clone(),
                        m.proto.clone(),
                        m.formats.first().cloned().unwrap_or_default(),
                    )
                })
                .collect(),
        });
    }
    if family_mismatch {
        return Err(SdpError::Unsupported("address family of the offer"));
    }
    if saw_audio {
        Err(SdpError::NoCommonCodec)
    } else {
        Err(SdpError::NoAudio)
    }
}

/// The codec a format maps to: an rtpmap wins; without one, the static types 0 and 8.
fn codec_for(m: &MediaDescription, format: &str) -> Option<(Codec, u8)> {
    let pt: u8 = format.parse().ok()?;
    let codec = match m.rtpmaps.iter().find(|r| r.payload_type == pt) {
        Some(r) if r.clock_rate == 8000 && r.channels.unwrap_or(1) == 1 => {
            if r.encoding.eq_ignore_ascii_case("PCMU") {
                Codec::Pcmu
            } else if r.encoding.eq_ignore_ascii_case("PCMA") {
                Codec::Pcma
            } else {
                return None;
            }
        }
        Some(_) => return None,
        None => match pt {
            0 => Codec::Pcmu,
            8 => Codec::Pcma,
            _ => return None,
        },
    };
    Some((codec, pt))
}

fn write_session_header(out: &mut String, local: &LocalMedia) {
    let family = if local.addr.is_ipv4() { "IP4" } else { "IP6" };
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "v=0\r\no=frontdoor {} {} IN {family} {}\r\ns=frontdoor\r\nc=IN {family} {}\r\nt=0 0\r\n",
        local.session_id, local.session_version, local.addr, local.addr
    );
}

fn write_audio(
    out: &mut String,
    formats: &[(u8, &str)],
    telephone_event: Option<u8>,
    local: &LocalMedia,
    ptime: u32,
    direction: Direction,
) {
    let mut pts: Vec<String> = formats.iter().map(|(pt, _)| pt.to_string()).collect();
    if let Some(te) = telephone_event {
        pts.push(te.to_string());
    }
    let _ = write!(out, "m=audio {} RTP/AVP {}\r\n", local.port, pts.join(" "));
    for (pt, name) in formats {
        let _ = write!(out, "a=rtpmap:{pt} {name}/8000\r\n");
    }
    if let Some(te) = telephone_event {
        // RFC 4733 §7.1.1: events 0-15 are the DTMF digits (16 is flash).
        let _ = write!(
            out,
            "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n"
        );
    }
    let _ = write!(out, "a=ptime:{ptime}\r\na={}\r\n", direction.as_str());
}

/// The answer for a negotiated offer: one m= line per offered line, ours for the chosen
/// audio stream and port 0 for the rest (RFC 3264 §6).
pub fn build_answer(n: &Negotiated, local: &LocalMedia) -> String {
    let mut out = String::with_capacity(320);
    write_session_header(&mut out, local);
    for (index, (media, proto, first_format)) in n.offered_media.iter().enumerate() {
        if index == n.media_index {
            write_audio(
                &mut out,
                &[(n.payload_type, n.codec.encoding_name())],
                n.telephone_event_pt,
                local,
                n.ptime_ms,
                n.local_direction,
            );
        } else {
            let _ = write!(out, "m={media} 0 {proto} {first_format}\r\n");
        }
    }
    out
}

/// Payload type we offer for telephone-event.
pub const OFFER_TELEPHONE_EVENT_PT: u8 = 101;

/// An offer for an offerless INVITE or a call we place: PCMU 0, PCMA 8, telephone-event 101.
pub fn build_offer(local: &LocalMedia, direction: Direction) -> String {
    let mut out = String::with_capacity(320);
    write_session_header(&mut out, local);
    write_audio(
        &mut out,
        &[(0, "PCMU"), (8, "PCMA")],
        Some(OFFER_TELEPHONE_EVENT_PT),
        local,
        20,
        direction,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_rtpmap_of_another_stream_does_not_reject_the_offer() {
        // RFC 4475 §3.1.1.3 (esc01): `a=rtpmap:31 LPC` has no clock rate.
        let offer = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n";
        let sd = SessionDescription::parse(offer).expect("parses");
        let local = LocalMedia {
            addr: "127.0.0.1".parse().unwrap(),
            port: 20000,
            session_id: 1,
            session_version: 1,
        };
        let n = negotiate_answer(&sd, &local).expect("PCMU is usable");
        assert_eq!(n.codec, Codec::Pcmu);
    }

    const OFFER: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 8 0 97 101\r\na=rtpmap:97 iLBC/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:30\r\nm=video 51372 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n";

    fn local() -> LocalMedia {
        LocalMedia {
            addr: "203.0.113.5".parse().unwrap(),
            port: 20000,
            session_id: 42,
            session_version: 1,
        }
    }

    #[test]
    fn follows_offer_order_and_telephone_event() {
        let offer = SessionDescription::parse(OFFER).unwrap();
        let n = negotiate_answer(&offer, &local()).unwrap();
        assert_eq!(n.codec, Codec::Pcma);
        assert_eq!(n.payload_type, 8);
        assert_eq!(n.telephone_event_pt, Some(101));
        assert_eq!(n.remote_rtp, "192.0.2.10:49170".parse().unwrap());
        assert_eq!(n.remote_rtcp, "192.0.2.10:49171".parse().unwrap());
        assert_eq!(n.ptime_ms, 30);
        assert!(!n.remote_hold);
        let answer = build_answer(&n, &local());
        assert!(answer.contains("m=audio 20000 RTP/AVP 8 101\r\n"));
        assert!(answer.contains("m=video 0 RTP/AVP 31\r\n"));
        assert!(answer.contains("a=sendrecv\r\n"));
        // Our own answer parses and negotiates back to the same codec.
        let parsed = SessionDescription::parse(&answer).unwrap();
        let mut other = local();
        other.addr = "192.0.2.10".parse().unwrap();
        assert_eq!(parse_answer(&parsed, &other).unwrap().codec, Codec::Pcma);
    }

    #[test]
    fn no_common_codec_is_488() {
        let offer = SessionDescription::parse(&OFFER.replace("8 0 97 101", "97 101")).unwrap();
        let err = negotiate_answer(&offer, &local()).unwrap_err();
        assert_eq!(err, SdpError::NoCommonCodec);
        assert_eq!(err.response_status(), 488);
        let video_only = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 31\r\n";
        assert_eq!(
            negotiate_answer(&SessionDescription::parse(video_only).unwrap(), &local()),
            Err(SdpError::NoAudio)
        );
    }

    #[test]
    fn port_zero_and_media_level_connection() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\nm=audio 6000 RTP/AVP 0\r\nc=IN IP4 192.0.2.2\r\na=rtcp:6003 IN IP4 192.0.2.3\r\n";
        let n = negotiate_answer(&SessionDescription::parse(sdp).unwrap(), &local()).unwrap();
        assert_eq!(n.media_index, 1);
        assert_eq!(n.remote_rtp, "192.0.2.2:6000".parse().unwrap());
        assert_eq!(n.remote_rtcp, "192.0.2.3:6003".parse().unwrap());
        assert_eq!(n.codec, Codec::Pcmu);
        let answer = build_answer(&n, &local());
        assert!(answer.contains("m=audio 0 RTP/AVP 0\r\nm=audio 20000 RTP/AVP 0\r\n"));
    }

    #[test]
    fn hold_detection() {
        let hold = OFFER.replace("a=ptime:30", "a=sendonly");
        let n = negotiate_answer(&SessionDescription::parse(&hold).unwrap(), &local()).unwrap();
        assert!(n.remote_hold);
        assert_eq!(n.local_direction, Direction::RecvOnly);
        let inactive = OFFER.replace("a=ptime:30", "a=inactive");
        let n = negotiate_answer(&SessionDescription::parse(&inactive).unwrap(), &local()).unwrap();
        assert_eq!(n.local_direction, Direction::Inactive);
        let legacy = OFFER.replace("c=IN IP4 192.0.2.10", "c=IN IP4 0.0.0.0");
        let n = negotiate_answer(&SessionDescription::parse(&legacy).unwrap(), &local()).unwrap();
        assert!(n.remote_hold);
        assert_eq!(n.local_direction, Direction::RecvOnly);
        assert_eq!(
            Direction::SendRecv.answer_to(Direction::SendOnly),
            Direction::SendOnly
        );
    }

    #[test]
    fn ipv6_offer_to_ipv4_ua() {
        let v6 = "v=0\r\no=bob 280744730 28977631 IN IP6 2001:db8::1\r\ns=\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 22334 RTP/AVP 0\r\n";
        let err = negotiate_answer(&SessionDescription::parse(v6).unwrap(), &local()).unwrap_err();
        assert_eq!(err.response_status(), 488);
    }

    #[test]
    fn offer_and_versioning() {
        let mut l = local();
        let offer = build_offer(&l, Direction::SendRecv);
        assert!(offer.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"));
        assert!(offer.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        let first = l.versioned(None, |m| build_offer(m, Direction::SendRecv));
        let same = l.versioned(Some(&first), |m| build_offer(m, Direction::SendRecv));
        assert_eq!(same, first);
        let held = l.versioned(Some(&same), |m| build_offer(m, Direction::SendOnly));
        assert_eq!(l.session_version, 2);
        assert!(held.contains("o=frontdoor 42 2 IN IP4 203.0.113.5"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "x",
            "o=- 1 1 IN IP4 a\r\n",
            "v=1\r\n",
            "v=0\r\nm=audio x RTP/AVP 0\r\n",
            "v=0\r\no=short\r\n",
        ] {
            assert!(SessionDescription::parse(bad).is_err(), "{bad:?}");
        }
        let no_c = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";
        assert_eq!(
            negotiate_answer(&SessionDescription::parse(no_c).unwrap(), &local()),
            Err(SdpError::Missing("c="))
        );
    }
}
