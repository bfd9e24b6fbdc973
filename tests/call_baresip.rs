//! baresip, an independent SIP user agent, calls `frontdoor serve`: a WAV is its microphone and its `sndfile` module records what it hears.
//! The recording must contain demo-welcome and demo-menu (normalised cross-correlation above
//! [`HEARD`], matched duration within 5% of the prompt's voiced length); after baresip sends
//! DTMF 1 (RFC 4733, `sndcode` over ctrl_tcp) it must contain demo-option-a, and Frontdoor
//! ends the call.

mod support;

use std::time::Duration;

use support::audio::{find_in_order, read_wav_8k, voiced_duration};
use support::baresip::{Baresip, BaresipOptions};
use support::demo::{prompt, start_demo_server};
use support::speech::{sine, write_padded_wav};
use support::tempdir::TempDir;

/// Least NCC at which a prompt counts as heard in baresip's recording (its jitter buffer and
/// G.711 round trip blur it a little; measured values are printed).
const HEARD: f64 = 0.6;

#[test]
fn baresip_hears_menu_presses_1_and_hears_option_a() {
    let dir = TempDir::new("baresip-call").expect("temp dir");
    let server = start_demo_server(&[]).expect("frontdoor serve starts");
    // aufile hangs up at end of file: a quiet tone padded well past the call's length.
    write_padded_wav(&dir.join("mic.wav"), &sine(200.0, 1000, 800.0), 30_000).expect("mic.wav");
    let mut phone =
        Baresip::start(&BaresipOptions::caller(&dir.join("mic.wav"))).expect("baresip starts");
    phone
        .dial(&format!("sip:01632960000@{}", server.sip_addr()))
        .expect("dial accepted");
    phone
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", phone.log(), server.log_tail(3000)));
    // welcome (2.5 s) and menu (4.5 s) end about 7 s after the answer.
    std::thread::sleep(Duration::from_millis(7800));
    phone.send_digits("1").expect("sndcode 1");
    let closed = phone.wait_event("CALL_CLOSED", Duration::from_secs(15));
    let log = phone.log();
    let recordings = phone.heard_recordings();
    let _phone_dir = phone.quit();
    assert!(
        closed.is_ok(),
        "Frontdoor did not end the call after option A: {closed:?}\n{log}\n{}",
        server.log_tail(3000)
    );
    assert_eq!(
        recordings.len(),
        1,
        "one recording of what was heard\n{log}"
    );
    let heard = read_wav_8k(&recordings[0]).expect("recording is a WAV");

    let names = ["demo-welcome", "demo-menu", "demo-option-a"];
    let references: Vec<Vec<i16>> = names.iter().map(|n| prompt(n)).collect();
    let refs: Vec<&[i16]> = references.iter().map(Vec::as_slice).collect();
    let found = find_in_order(&heard, &refs, HEARD);
    for ((name, m), reference) in names.iter().zip(&found).zip(&references) {
        eprintln!(
            "baresip heard {name}: NCC {:.3} at {:.2} s, {:.3} s matched of {:.3} s voiced",
            m.ncc,
            m.start_seconds(),
            m.matched_seconds,
            voiced_duration(reference)
        );
    }
    assert_eq!(
        found.len(),
        names.len(),
        "prompts not heard in order {names:?}: {found:?}"
    );
    for ((name, m), reference) in names.iter().zip(&found).zip(&references).take(2) {
        let voiced = voiced_duration(reference);
        assert!(
            (m.matched_seconds - voiced).abs() <= voiced * 0.05,
            "{name}: {:.3} s matched, prompt is {voiced:.3} s",
            m.matched_seconds
        );
    }
}
