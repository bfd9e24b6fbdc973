//! Which media addresses an offer or answer may point our RTP and RTCP at.
//!
//! Owns: the refusal rules for a remote media address (one place, used for the INVITE's offer,
//! re-INVITE/UPDATE re-offers, the answer in an ACK and the advisor's answer). Must not touch:
//! SDP parsing (`sip::sdp`), SIP responses (the caller of [`check_remote_media`] answers 488,
//! RFC 3261 §21.4.26).
//!
//! Why: an offer is the peer telling us where to send a call's audio. Without these rules a
//! re-INVITE could aim the call's RTP (prompts that read back a caller's details) at a broadcast
//! or multicast group, at a service on our own host (loopback), or at a privileged port.

use std::net::{IpAddr, SocketAddr};

use crate::config::IpNet;

/// Ports below this are privileged services, never RTP (RTP uses dynamic ports, RFC 3550 §11).
const LOWEST_MEDIA_PORT: u16 = 1024;

/// Why a remote media address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaAddressError {
    #[error("media address {0} is unspecified")]
    Unspecified(IpAddr),
    #[error("media address {0} is a broadcast address")]
    Broadcast(IpAddr),
    #[error("media address {0} is a multicast address")]
    Multicast(IpAddr),
    #[error("media address {0} is loopback but the SIP peer is not")]
    Loopback(IpAddr),
    #[error("media port {0} is below 1024")]
    PrivilegedPort(u16),
    #[error("media address {0} is outside media.allowed_networks")]
    NotAllowed(IpAddr),
}

/// Checks the RTP and RTCP destinations an offer or answer names. `signalling_peer` is the IP
/// the SIP message came from; `allowed` is `media.allowed_networks` (empty: any address the
/// fixed rules accept). Port 0 never reaches here: a stream with port 0 is declined (RFC 3264
/// §6, §8.2) and not chosen by negotiation.
pub fn check_remote_media(
    rtp: SocketAddr,
    rtcp: SocketAddr,
    signalling_peer: IpAddr,
    allowed: &[IpNet],
) -> Result<(), MediaAddressError> {
    check_one(rtp, signalling_peer, allowed)?;
    check_one(rtcp, signalling_peer, allowed)
}

fn check_one(
    target: SocketAddr,
    signalling_peer: IpAddr,
    allowed: &[IpNet],
) -> Result<(), MediaAddressError> {
    let ip = canonical(target.ip());
    if ip.is_unspecified() {
        // RFC 3264 §8.4's legacy hold (c=0.0.0.0) is refused too: sending to 0.0.0.0 reaches
        // our own host, and RTCP keeps flowing on hold.
        return Err(MediaAddressError::Unspecified(ip));
    }
    if ip.is_multicast() {
        return Err(MediaAddressError::Multicast(ip));
    }
    if let IpAddr::V4(v4) = ip
        && v4.is_broadcast()
    {
        return Err(MediaAddressError::Broadcast(ip));
    }
    if ip.is_loopback() && !canonical(signalling_peer).is_loopback() {
        return Err(MediaAddressError::Loopback(ip));
    }
    if target.port() < LOWEST_MEDIA_PORT {
        return Err(MediaAddressError::PrivilegedPort(target.port()));
    }
    if !allowed.is_empty() && !allowed.iter().any(|net| net.contains(ip)) {
        return Err(MediaAddressError::NotAllowed(ip));
    }
    Ok(())
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is, so the IPv4 rules apply to it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    fn check(ip: &str, port: u16, peer: &str) -> Result<(), MediaAddressError> {
        check_remote_media(at(ip, port), at(ip, port + 1), peer.parse().unwrap(), &[])
    }

    #[test]
    fn ordinary_addresses_pass() {
        assert_eq!(check("192.0.2.10", 40000, "192.0.2.10"), Ok(()));
        assert_eq!(check("10.1.2.3", 1024, "203.0.113.5"), Ok(()));
        assert_eq!(check("2001:db8::1", 40000, "2001:db8::1"), Ok(()));
        assert_eq!(check("127.0.0.1", 40000, "127.0.0.1"), Ok(()));
    }

    #[test]
    fn broadcast_multicast_unspecified_are_refused() {
        let peer = "192.0.2.10";
        assert!(matches!(
            check("255.255.255.255", 40000, peer),
            Err(MediaAddressError::Broadcast(_))
        ));
        assert!(matches!(
            check("224.0.0.1", 40000, peer),
            Err(MediaAddressError::Multicast(_))
        ));
        assert!(matches!(
            check("ff02::1", 40000, "2001:db8::1"),
            Err(MediaAddressError::Multicast(_))
        ));
        assert!(matches!(
            check("0.0.0.0", 40000, peer),
            Err(MediaAddressError::Unspecified(_))
        ));
        assert!(matches!(
            check("::", 40000, "2001:db8::1"),
            Err(MediaAddressError::Unspecified(_))
        ));
        assert!(matches!(
            check("::ffff:255.255.255.255", 40000, peer),
            Err(MediaAddressError::Broadcast(_))
        ));
    }

    #[test]
    fn loopback_only_from_a_loopback_peer() {
        assert!(matches!(
            check("127.0.0.1", 40000, "192.0.2.10"),
            Err(MediaAddressError::Loopback(_))
        ));
        assert!(matches!(
            check("::1", 40000, "2001:db8::1"),
            Err(MediaAddressError::Loopback(_))
        ));
        assert_eq!(check("127.0.0.1", 40000, "::ffff:127.0.0.1"), Ok(()));
    }

    #[test]
    fn privileged_ports_are_refused() {
        assert_eq!(
            check("192.0.2.10", 1, "192.0.2.10"),
            Err(MediaAddressError::PrivilegedPort(1))
        );
        // RTCP on a privileged port (a=rtcp) is refused as well.
        assert_eq!(
            check_remote_media(
                at("192.0.2.10", 40000),
                at("192.0.2.10", 53),
                "192.0.2.10".parse().unwrap(),
                &[]
            ),
            Err(MediaAddressError::PrivilegedPort(53))
        );
    }

    #[test]
    fn allowed_networks_restrict_media() {
        let allowed = ["10.20.0.0/16".parse().unwrap()];
        let peer: IpAddr = "10.20.0.5".parse().unwrap();
        assert_eq!(
            check_remote_media(
                at("10.20.3.4", 40000),
                at("10.20.3.4", 40001),
                peer,
                &allowed
            ),
            Ok(())
        );
        assert!(matches!(
            check_remote_media(
                at("192.0.2.9", 40000),
                at("192.0.2.9", 40001),
                peer,
                &allowed
            ),
            Err(MediaAddressError::NotAllowed(_))
        ));
        // RTCP elsewhere (a=rtcp with an address) is held to the same networks.
        assert!(matches!(
            check_remote_media(
                at("10.20.3.4", 40000),
                at("192.0.2.9", 40001),
                peer,
                &allowed
            ),
            Err(MediaAddressError::NotAllowed(_))
        ));
    }
}
