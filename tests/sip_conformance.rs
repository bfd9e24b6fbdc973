//! Conformance with the RFC 4475 torture messages and the RFC 5118 IPv6 messages: each of the 61 messages in `../shared/sip-torture/` goes to a running
//! `frontdoor serve` as one UDP datagram and must get the reaction its `index.tsv` entry
//! gives; afterwards the server must still answer a normal sipp call.
//!
//! The messages are read from `$FRONTDOOR_SIP_TORTURE` or `<repo>/../shared/sip-torture`
//! and never copied into this repository; the test fails when they are missing.
//!
//! How responses are observed: the test and the server run inside a loopback-only network
//! namespace (nothing can leave the machine whatever a Via says). Over UDP Frontdoor answers
//! to the request's source IP (127.0.0.1 here) and, without `rport`, the Via sent-by port or
//! 5060 (RFC 3261 §18.2.2, RFC 3581 §4). The test therefore listens on 127.0.0.1 at its own
//! port and at every sent-by port the messages name, and attributes each response to the
//! message whose Call-ID and CSeq it echoes, so a retransmitted 200 for an earlier INVITE
//! cannot be mistaken for the answer to a later message.

mod support;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::demo::start_demo_server_sized;
use support::netns::in_loopback_namespace;
use support::sip_probe::{header, status_code};
use support::sipp::{Scenario, Sipp};
use support::torture::{torture_dir, torture_messages};

/// The reaction a message must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Parsed and processed: some final response other than 400 or 505.
    Understood,
    /// A final response with one of these codes.
    Status(&'static [u16]),
    /// A final response with one of these codes, or nothing (unanswerable).
    StatusOrNothing(&'static [u16]),
    /// Any final response (a liberal parser may accept, a strict one rejects).
    AnyAnswer,
    /// Nothing at all: a response to a UAS, which it drops (RFC 3261 §18.1.2).
    Nothing,
    /// Must not crash; answering or not are both acceptable.
    Anything,
}

/// The expected handling of every file in `index.tsv`, restated as checkable reactions.
fn expectation(file: &str) -> Option<Expect> {
    use Expect::*;
    Some(match file.rsplit('/').next()? {
        "wsinv.dat" | "esc01.dat" | "escnull.dat" | "lwsdisp.dat" | "longreq.dat"
        | "dblreq.dat" | "semiuri.dat" | "transports.dat" | "mpart01.dat" | "unksm2.dat"
        | "regaut01.dat" | "zeromf.dat" | "cparam01.dat" | "cparam02.dat" | "regescrt.dat"
        | "inv2543.dat" => Understood,
        "intmeth.dat" | "esc02.dat" => Status(&[501]),
        "unreason.dat" | "noreason.dat" | "scalarlg.dat" | "bigcode.dat" | "bcast.dat" => Nothing,
        "badinv01.dat" | "clerr.dat" | "ncl.dat" | "scalar02.dat" | "lwsruri.dat"
        | "regbadct.dat" | "mismatch01.dat" | "multi01.dat" | "mcl01.dat" => Status(&[400]),
        "quotbal.dat" | "ltgtruri.dat" | "lwsstart.dat" | "trws.dat" | "escruri.dat"
        | "baddate.dat" | "baddn.dat" => AnyAnswer,
        "badaspec.dat" | "badbranch.dat" => Anything,
        "badvers.dat" => Status(&[505]),
        "mismatch02.dat" => Status(&[501, 400]),
        "insuf.dat" => StatusOrNothing(&[400]),
        "unkscm.dat" | "novelsc.dat" => Status(&[416]),
        "bext01.dat" => Status(&[420]),
        "invut.dat" => Status(&[415]),
        "sdp01.dat" => Status(&[406]),
        "ipv6-bad.dat" => Status(&[400]),
        "ipv6-good.dat"
        | "port-ambiguous.dat"
        | "port-unambiguous.dat"
        | "via-received-param-with-delim.dat"
        | "via-received-param-no-delim.dat"
        | "ipv6-in-sdp.dat"
        | "mult-ip-in-header.dat"
        | "mult-ip-in-sdp.dat"
        | "ipv4-mapped-ipv6.dat"
        | "ipv6-bug-abnf-3-colons.dat"
        | "ipv6-correct-abnf-2-colons.dat" => Understood,
        _ => return None,
    })
}

/// The value of a header in its long or compact form, with folded continuation lines
/// joined (RFC 3261 §7.3.1) and whitespace runs collapsed.
fn header_any(message: &[u8], long: &str, compact: &str) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    let head = text.split("\r\n\r\n").next()?;
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n").skip(1) {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => {
                last.push(' ');
                last.push_str(line);
            }
            _ => lines.push(line.to_string()),
        }
    }
    lines.iter().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let key = key.trim();
        (key.eq_ignore_ascii_case(long) || key.eq_ignore_ascii_case(compact))
            .then(|| value.split_whitespace().collect::<Vec<_>>().join(" "))
    })
}

/// Call-ID and CSeq (number without leading zeros, method), which a response echoes
/// (RFC 3261 §8.2.6.2); several RFC 5118 messages share a Call-ID.
fn transaction_of(message: &[u8]) -> (Option<String>, Option<String>) {
    let cseq = header_any(message, "CSeq", "CSeq").map(|value| {
        let mut parts = value.split_whitespace();
        let number = parts.next().unwrap_or_default();
        let number = number
            .parse::<u64>()
            .map_or_else(|_| number.to_string(), |n| n.to_string());
        format!("{number} {}", parts.next().unwrap_or_default())
    });
    (header_any(message, "Call-ID", "i"), cseq)
}

/// Top Via and CSeq method: what an RFC 3261 §17.2.3 server transaction is matched by.
fn server_transaction_key(message: &[u8]) -> (Option<String>, Option<String>) {
    let top_via = header_any(message, "Via", "v")
        .map(|v| v.split(',').next().unwrap_or_default().to_ascii_lowercase());
    let method = transaction_of(message)
        .1
        .and_then(|cseq| cseq.split_whitespace().nth(1).map(str::to_string));
    (top_via, method)
}

/// Throws away whatever is queued (retransmissions for earlier messages).
fn drain(sockets: &[UdpSocket]) {
    let mut buf = vec![0u8; 65_536];
    for socket in sockets {
        while socket.recv_from(&mut buf).is_ok() {}
    }
}

/// Listens on 127.0.0.1 at each port; returns the sockets (non-blocking).
fn listeners(ports: &BTreeSet<u16>) -> Vec<UdpSocket> {
    ports
        .iter()
        .filter_map(|port| UdpSocket::bind(("127.0.0.1", *port)).ok())
        .inspect(|s| {
            let _ = s.set_nonblocking(true);
        })
        .collect()
}

/// Sent-by ports named in the messages' Via headers (plus 5060 for those without one).
fn sent_by_ports(messages: &[(String, Vec<u8>)]) -> BTreeSet<u16> {
    let mut ports = BTreeSet::from([5060]);
    for (_, bytes) in messages {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines() {
            let lower = line.to_ascii_lowercase();
            if !(lower.starts_with("via") || lower.starts_with("v:") || lower.starts_with("v ")) {
                continue;
            }
            for candidate in line.split([';', ',', ' ']) {
                if let Some((_, port)) = candidate.rsplit_once(':')
                    && let Ok(port) = port.trim().parse::<u16>()
                    && port > 1024
                {
                    ports.insert(port);
                }
            }
        }
    }
    ports
}

/// Final responses received within `limit` that belong to `transaction`; returns as soon as
/// one arrives (and whatever else arrived with it).
fn final_responses(
    sockets: &[UdpSocket],
    transaction: &(Option<String>, Option<String>),
    limit: Duration,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + limit;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < deadline && found.is_empty() {
        for socket in sockets {
            while let Ok((len, _)) = socket.recv_from(&mut buf) {
                let reply = buf.get(..len).unwrap_or_default().to_vec();
                if status_code(&reply).is_some_and(|s| s >= 200)
                    && &transaction_of(&reply) == transaction
                {
                    found.push(reply);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    found
}

/// Checks one reaction; `Err` describes the mismatch.
fn judge(file: &str, expect: Expect, replies: &[Vec<u8>]) -> Result<String, String> {
    let statuses: Vec<u16> = replies.iter().filter_map(|r| status_code(r)).collect();
    let seen = replies
        .iter()
        .map(|r| {
            let text = String::from_utf8_lossy(r);
            let first = text.lines().next().unwrap_or_default().to_string();
            match header(r, "Warning") {
                Some(warning) => format!("{first} (Warning: {warning})"),
                None => first,
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let seen = if seen.is_empty() {
        "nothing".to_string()
    } else {
        seen
    };
    let ok = match (expect, statuses.first()) {
        (Expect::Nothing, None) | (Expect::Anything, _) => true,
        (Expect::Nothing, Some(_)) => false,
        (Expect::StatusOrNothing(_), None) => true,
        (_, None) => false,
        (Expect::Understood, Some(s)) => *s != 400 && *s != 505,
        (Expect::Status(codes) | Expect::StatusOrNothing(codes), Some(s)) => codes.contains(s),
        (Expect::AnyAnswer, Some(_)) => true,
    };
    if !ok {
        return Err(format!("{file}: expected {expect:?}, got {seen}"));
    }
    // RFC 3261 §8.2.2.3: 420 lists what is unsupported; §8.2.3: 415 says what is accepted.
    if let Some(reply) = replies.first() {
        match status_code(reply) {
            Some(420) if header(reply, "Unsupported").is_none() => {
                return Err(format!("{file}: 420 without Unsupported"));
            }
            Some(415) if header(reply, "Accept").is_none() => {
                return Err(format!("{file}: 415 without Accept"));
            }
            _ => {}
        }
    }
    Ok(format!("{file}: {seen}"))
}

#[test]
fn torture_messages_get_the_indexed_reaction_and_the_server_still_answers_calls() {
    // Checked outside the namespace too, so a missing directory fails with a clear message.
    let dir = torture_dir();
    let messages: Vec<(String, Vec<u8>)> = torture_messages(&dir)
        .unwrap_or_else(|e| panic!("the SIP torture messages: {e}; set FRONTDOOR_SIP_TORTURE"))
        .into_iter()
        .map(|m| (m.file, m.raw))
        .collect();
    in_loopback_namespace(
        "torture_messages_get_the_indexed_reaction_and_the_server_still_answers_calls",
        || run_torture(&messages),
    );
}

fn run_torture(messages: &[(String, Vec<u8>)]) {
    assert_eq!(messages.len(), 61, "index.tsv lists 61 messages");

    // Enough calls and RTP ports for every INVITE that is answered 200 and never ACKed.
    let mut server =
        start_demo_server_sized(&[], 60, None).expect("frontdoor serve starts in the namespace");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind sender");
    sender.set_nonblocking(true).expect("non-blocking");
    let mut ports = sent_by_ports(messages);
    ports.remove(&server.sip_port());
    let mut sockets = listeners(&ports);
    assert!(
        sockets.len() == ports.len(),
        "could not bind every sent-by port {ports:?}"
    );
    sockets.push(sender.try_clone().expect("clone sender"));

    let mut failures = Vec::new();
    let mut transactions_seen = BTreeSet::new();
    for (file, bytes) in messages {
        let expect = expectation(file).unwrap_or_else(|| panic!("{file} has no expectation"));
        // Some messages share top Via (branch, sent-by) and method with an earlier one, so
        // a conformant server rightly takes them for a retransmission of that transaction
        // (RFC 3261 §17.2.3) and repeats its response. Each message is meant to be judged
        // on its own: such a message goes to a fresh server.
        if !transactions_seen.insert(server_transaction_key(bytes)) {
            eprintln!("{file} repeats an earlier transaction key: restarting the server");
            server = start_demo_server_sized(&[], 60, None).expect("frontdoor serve restarts");
            transactions_seen.clear();
            transactions_seen.insert(server_transaction_key(bytes));
        }
        let transaction = transaction_of(bytes);
        drain(&sockets);
        sender
            .send_to(bytes, server.sip_addr())
            .unwrap_or_else(|e| panic!("sending {file}: {e}"));
        let limit = match expect {
            Expect::Nothing | Expect::Anything | Expect::StatusOrNothing(_) => {
                Duration::from_millis(600)
            }
            _ => Duration::from_secs(2),
        };
        let replies = final_responses(&sockets, &transaction, limit);
        match judge(file, expect, &replies) {
            Ok(line) => eprintln!("ok   {line}"),
            Err(line) => {
                eprintln!("FAIL {line}");
                failures.push(line);
            }
        }
        assert!(
            server.is_running(),
            "the server died after {file}:\n{}",
            server.log_tail(3000)
        );
    }

    let call = Sipp::uac(Scenario::BuiltIn("uac".into()), server.sip_addr())
        .timeout(Duration::from_secs(15))
        .run()
        .expect("sipp runs");
    assert!(
        call.all_calls_ok(),
        "the server no longer answers a normal call: {}\n{}",
        call.diagnostics(),
        server.log_tail(3000)
    );
    assert!(
        failures.is_empty(),
        "{} of 61 messages got the wrong reaction:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
