//! Replays the fuzz corpora (`fuzz/corpus/sip_parse`, `fuzz/corpus/sdp_parse`) through the
//! same harness the fuzz targets use, so CI checks them without a fuzzer; plus property tests:
//! the parser never panics on arbitrary or mutated bytes, and generated messages survive
//! serialise/parse unchanged.

#[path = "../fuzz/fuzz_targets/harness.rs"]
mod harness;

use std::path::Path;

use frontdoor::sip::headers::Headers;
use frontdoor::sip::message::{Method, SipMessage};
use frontdoor::sip::parse::parse_datagram;
use frontdoor::sip::uri::Uri;
use proptest::prelude::*;

fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let path = e.path();
            let data =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            (path.display().to_string(), data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn sip_corpus_replays_without_findings() {
    let files = corpus("sip_parse");
    assert!(files.len() >= 20, "seed corpus unexpectedly small");
    for (name, data) in files {
        let result = std::panic::catch_unwind(|| harness::sip_parse(&data));
        assert!(result.is_ok(), "corpus file {name} triggers a finding");
    }
}

#[test]
fn sdp_corpus_replays_without_findings() {
    let files = corpus("sdp_parse");
    assert!(files.len() >= 5, "seed corpus unexpectedly small");
    for (name, data) in files {
        let result = std::panic::catch_unwind(|| harness::sdp_parse(&data));
        assert!(result.is_ok(), "corpus file {name} triggers a finding");
    }
}

#[test]
fn seed_messages_parse_as_intended() {
    // The well-formed seeds must really be well-formed, or the corpus loses its value.
    for (name, data) in corpus("sip_parse") {
        let good = [
            "invite_sdp",
            "invite_offerless",
            "ack",
            "bye",
            "cancel",
            "options",
            "response_200",
            "register_auth",
        ];
        if good.iter().any(|g| name.ends_with(&format!("/{g}"))) {
            assert!(parse_datagram(&data).is_ok(), "{name} should parse");
        }
    }
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,12}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,2}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Ack),
        Just(Method::Bye),
        Just(Method::Cancel),
        Just(Method::Options),
        Just(Method::Info),
        Just(Method::Update),
        "[A-Z]{3,10}".prop_map(|m| Method::from_token(&m)),
    ]
}

prop_compose! {
    fn generated_request()(
        method in method(),
        user in proptest::option::of("[a-zA-Z0-9]{1,10}"),
        host in host(),
        port in proptest::option::of(1u16..),
        from_tag in token(),
        to_tag in proptest::option::of(token()),
        display in proptest::option::of("[a-zA-Z0-9 ,\"\\\\]{0,12}"),
        call_id in "[a-zA-Z0-9.!%*_+`'~-]{1,20}(@[a-z0-9.]{1,10})?",
        seq in any::<u32>(),
        branch in token(),
        rport in any::<bool>(),
        extra in proptest::collection::vec((token(), "[ -~]{0,30}"), 0..4),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) -> SipMessage {
        let uri = match &user {
            Some(u) => format!("sip:{u}@{host}"),
            None => format!("sip:{host}"),
        };
        let uri = match port {
            Some(p) => format!("{uri}:{p}"),
            None => uri,
        };
        let uri = Uri::parse(&uri).expect("generated URI is valid");
        let mut headers = Headers::new();
        let rport = if rport { ";rport" } else { "" };
        headers.push("Via", format!("SIP/2.0/UDP {host};branch=z9hG4bK{branch}{rport}"));
        let display = display.map(|d| {
            let escaped = d.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{escaped}\" ")
        }).unwrap_or_default();
        headers.push("From", format!("{display}<sip:caller@{host}>;tag={from_tag}"));
        headers.push("To", match to_tag {
            Some(t) => format!("<{uri}>;tag={t}"),
            None => format!("<{uri}>"),
        });
        headers.push("Call-ID", call_id);
        headers.push("CSeq", format!("{seq} {method}"));
        for (name, value) in extra {
            headers.push(&format!("X-{name}"), value.trim().to_string());
        }
        let mut msg = SipMessage { start: SipMessage::request(method, uri).start, headers, body: Vec::new() };
        if !body.is_empty() {
            msg = msg.with_body("application/octet-stream", body);
        }
        msg
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_messages_round_trip(msg in generated_request()) {
        let bytes = msg.to_bytes();
        let parsed = parse_datagram(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        // Parsing adds nothing but Content-Length, which serialising always writes.
        let mut expected = msg.clone();
        expected.headers.set("Content-Length", msg.body.len().to_string());
        prop_assert_eq!(&parsed, &expected);
        prop_assert_eq!(parse_datagram(&parsed.to_bytes()).ok(), Some(parsed));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        harness::sip_parse(&data);
        harness::sdp_parse(&data);
    }

    #[test]
    fn mutated_seeds_never_panic(
        seed in 0usize..64,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let files = corpus("sip_parse");
        let Some((_, original)) = files.get(seed % files.len().max(1)) else { return Ok(()) };
        let mut data = original.clone();
        for (at, byte, op) in edits {
            if data.is_empty() { data.push(byte); continue; }
            let i = at.index(data.len());
            match op {
                0 => data[i] = byte,
                1 => data.insert(i, byte),
                _ => { data.remove(i); }
            }
        }
        harness::sip_parse(&data);
    }
}
