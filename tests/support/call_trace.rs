//! What must repeat exactly when a virtual-time call is run again with the same seed: the
//! wire, Frontdoor's core decisions and what the flow heard, each with its virtual time.
//!
//! Mounted with `#[path]` beside `vnet` and `frontdoor_endpoint` (see `vnet.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use frontdoor::rehearsal::endpoint::TraceLine;
use frontdoor::rehearsal::net::{WireKind, WireRecord, fnv1a};

/// One run's trace; two runs of one seed must compare equal.
#[derive(Debug, PartialEq, Eq)]
pub struct CallTrace {
    /// SIP start lines on the wire, with their time.
    pub sip: Vec<(Duration, String)>,
    /// Frontdoor's core: SIP commands, requests and completions, with their time.
    pub core: Vec<(Duration, String)>,
    /// What the flow or handler heard, with its time.
    pub heard: Vec<(Duration, String)>,
    /// RTP packets sent per direction.
    pub rtp_sent: BTreeMap<(SocketAddr, SocketAddr), usize>,
    /// Every byte sent, both ways, in order.
    pub hash: u64,
}

impl CallTrace {
    /// The trace of a finished run: what the network carried (`sent`), Frontdoor's core trace
    /// and what it heard (rendered by the caller, who knows how to show its events).
    pub fn of(sent: &[WireRecord], core: &[TraceLine], heard: Vec<(Duration, String)>) -> Self {
        let mut sip = Vec::new();
        let mut rtp_sent = BTreeMap::new();
        let mut bytes = Vec::new();
        for r in sent {
            bytes.extend_from_slice(&r.bytes);
            match WireKind::of(&r.bytes) {
                WireKind::Sip(line) => sip.push((r.at, line)),
                WireKind::Rtp => *rtp_sent.entry((r.from, r.to)).or_insert(0) += 1,
                _ => {}
            }
        }
        CallTrace {
            sip,
            core: core.iter().map(|l| (l.at, l.what.clone())).collect(),
            heard,
            rtp_sent,
            hash: fnv1a(&bytes),
        }
    }
}
