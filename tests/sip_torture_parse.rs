//! RFC 4475 / RFC 5118 torture messages at parser level: each of the 61 messages must get the
//! reaction `../shared/sip-torture/index.tsv` expects (parse OK, 400, 505, 416, 420, 415, 406,
//! or drop for responses). The files come from another project and are read in place, never
//! copied into this repository.

#[path = "support/torture.rs"]
mod torture;

use frontdoor::sip::error::ParseError;
use frontdoor::sip::parse::{error_response, parse_datagram};
use frontdoor::sip::validate::{UasPolicy, check_request, check_response};
use torture::{TortureMessage, torture_dir, torture_messages};

/// What the UAS does with one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reaction {
    /// Parsed and passed the semantic checks: method handling answers it.
    Accepted,
    /// Answered with this status without reaching method handling.
    Answered(u16),
    /// Dropped silently.
    Dropped,
}

fn react(raw: &[u8]) -> (Reaction, Option<ParseError>) {
    match parse_datagram(raw) {
        Ok(msg) if msg.is_request() => match check_request(&msg, &UasPolicy::default()) {
            Ok(()) => (Reaction::Accepted, None),
            Err(r) => (Reaction::Answered(r.status), None),
        },
        Ok(msg) => match check_response(&msg) {
            Ok(()) => (Reaction::Accepted, None),
            Err(e) => (Reaction::Dropped, Some(e)),
        },
        Err(e) => match error_response(raw, &e) {
            Some(resp) => (Reaction::Answered(resp.status_code().unwrap_or(0)), Some(e)),
            None => (Reaction::Dropped, Some(e)),
        },
    }
}

/// The reaction this UAS is designed to give each message (see INDEX.md's "expected
/// handling"; where the index allows a choice the comment says which one we take).
fn expected(file: &str) -> Option<Reaction> {
    use Reaction::*;
    let name = file.rsplit('/').next()?.strip_suffix(".dat")?;
    Some(match name {
        // RFC 4475 §3.1.1: valid messages.
        "wsinv" | "intmeth" | "esc01" | "escnull" | "esc02" | "lwsdisp" | "longreq" | "dblreq"
        | "semiuri" | "transports" | "unreason" | "noreason" => Accepted,
        // multipart/mixed is a body type we do not process: 415 (a sensible non-400 answer).
        "mpart01" => Answered(415),
        // RFC 4475 §3.1.2: invalid messages.
        "badinv01" | "clerr" | "ncl" | "scalar02" | "quotbal" | "ltgtruri" | "lwsruri" => {
            Answered(400)
        }
        // Strict: extra or trailing SP in the Request-Line is malformed.
        "lwsstart" | "trws" => Answered(400),
        "escruri" => Answered(400),
        // The Date header is never interpreted, so its bad time zone is harmless.
        "baddate" => Accepted,
        "regbadct" | "badaspec" | "baddn" => Answered(400),
        "badvers" => Answered(505),
        "mismatch01" => Answered(400),
        "mismatch02" => Answered(501),
        "scalarlg" | "bigcode" => Dropped,
        // RFC 4475 §3.2.1: no branch; fall back to RFC 2543 matching (process normally).
        "badbranch" => Accepted,
        // No Call-ID/From/To to address an answer with: dropped.
        "insuf" => Dropped,
        "unkscm" | "novelsc" => Answered(416),
        "unksm2" => Accepted,
        "bext01" => Answered(420),
        "invut" => Answered(415),
        "regaut01" => Accepted,
        "multi01" | "mcl01" => Answered(400),
        "bcast" => Dropped,
        "zeromf" | "cparam01" | "cparam02" | "regescrt" => Accepted,
        "sdp01" => Answered(406),
        "inv2543" => Accepted,
        // RFC 5118.
        "ipv6-good"
        | "port-ambiguous"
        | "port-unambiguous"
        | "via-received-param-with-delim"
        | "via-received-param-no-delim"
        | "ipv6-in-sdp"
        | "mult-ip-in-header"
        | "mult-ip-in-sdp"
        | "ipv4-mapped-ipv6"
        | "ipv6-bug-abnf-3-colons"
        | "ipv6-correct-abnf-2-colons" => Accepted,
        "ipv6-bad" => Answered(400),
        _ => return None,
    })
}

/// Cross-checks our table against the index's own column, so a misreading shows up.
fn consistent_with_index(expected_text: &str, reaction: &Reaction) -> bool {
    let text = expected_text.to_ascii_lowercase();
    match reaction {
        Reaction::Accepted => {
            text.contains("parse ok")
                || text.contains("accept")
                || text.contains("tolerate")
                || text.contains("answers normally")
                || text.contains("may reject")
                || text.contains("fall back")
                || text.contains("parse the register")
        }
        Reaction::Answered(code) => {
            text.contains(&code.to_string())
                || (*code == 400 && (text.contains("reject") || text.contains("error")))
                || (text.contains("parse ok") && *code != 400)
        }
        Reaction::Dropped => text.contains("drop"),
    }
}

#[test]
fn torture_messages_get_the_indexed_reaction() {
    let dir = torture_dir();
    let messages = torture_messages(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let mut seen = 0;
    for TortureMessage {
        file,
        expected: expected_text,
        raw,
    } in &messages
    {
        seen += 1;
        let Some(want) = expected(file) else {
            failures.push(format!("{file}: not in our expectation table"));
            continue;
        };
        assert!(
            consistent_with_index(expected_text, &want),
            "{file}: our expectation {want:?} contradicts the index ({expected_text})"
        );
        let (got, err) = react(raw);
        if got != want {
            failures.push(format!(
                "{file}: want {want:?}, got {got:?} ({err:?}) — index: {expected_text}"
            ));
        }
    }
    assert_eq!(seen, 61, "index.tsv should list 61 messages");
    assert!(
        failures.is_empty(),
        "{} torture failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn valid_messages_round_trip_through_the_serialiser() {
    let dir = torture_dir();
    let index = std::fs::read_to_string(dir.join("index.tsv")).expect("read index.tsv");
    for line in index.lines().skip(1) {
        let Some(file) = line.split('\t').next() else {
            continue;
        };
        let Ok(raw) = std::fs::read(dir.join(file)) else {
            continue;
        };
        if let Ok(msg) = parse_datagram(&raw) {
            let once = parse_datagram(&msg.to_bytes())
                .unwrap_or_else(|e| panic!("{file}: re-parse of our own output failed: {e}"));
            assert_eq!(once.start, msg.start, "{file}: start line changed");
            assert_eq!(once.body, msg.body, "{file}: body changed");
            // Serialising adds Content-Length when it was absent; after that it is a fixed point.
            let twice = parse_datagram(&once.to_bytes()).expect("second re-parse");
            assert_eq!(twice, once, "{file}: serialise/parse is not a fixed point");
        }
    }
}
