//! The council flow's own intents (`call-flows/council.yaml`, as the server loads them) against
//! caller phrasings that appear nowhere in the flow nor in the speech evaluation's data set,
//! including the kind of words a small recogniser gets wrong on a phone line. Guards the
//! flow's examples and keywords, and the classifier, against being tuned to a few sentences.
//!
//! Accuracy is asserted as a share (like the speech evaluation) and every miss is printed, so a
//! change that trades one phrasing for another shows up here. On 2026-11-26 the menu set scored
//! 54/61: the misses are real ambiguities ("I'm a student, do I have to pay council tax" is
//! heard as paying) and phrasings with no word the flow knows ("I live by myself now").

use std::path::Path;

use chrono::NaiveDate;
use frontdoor::flow::FlowEvent;
use frontdoor::flow::interpreter::Expecting;
use frontdoor::flow::model::NodeKind;
use frontdoor::flow::set::FlowSet;

/// The flow, loaded as `frontdoor serve` loads it.
fn council() -> frontdoor::flow::set::LoadedFlow {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let set = FlowSet::load(&root.join("call-flows"), &root.join("audio-prompts"))
        .unwrap_or_else(|d| panic!("call-flows/ does not load:\n{d:?}"));
    set.get("council").expect("the council flow").clone()
}

fn main_menu(flow: &frontdoor::flow::set::LoadedFlow) -> Expecting {
    let node = flow
        .flow
        .nodes
        .iter()
        .find(|n| n.id == "main_menu")
        .expect("council.yaml has a main_menu");
    let NodeKind::Ask(ask) = &node.kind else {
        panic!("main_menu is an ask");
    };
    Expecting::Ask {
        intents: ask.intents.iter().map(|(i, _)| i.clone()).collect(),
        slot: None,
    }
}

/// The intent understood, and the classifier's best three (for the miss list).
fn heard(
    flow: &frontdoor::flow::set::LoadedFlow,
    expecting: &Expecting,
    text: &str,
) -> (Option<String>, Vec<(String, f32)>) {
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).expect("a date");
    match flow
        .understanding
        .understand(Some(expecting), text, date, None)
    {
        FlowEvent::Heard { intent, top, .. } => (intent, top),
        other => panic!("{text:?}: expected Heard, got {other:?}"),
    }
}

/// Scores `cases` and fails below `min_share`, listing every miss.
fn check(expecting: &Expecting, cases: &[(&str, Option<&str>)], min_share: f64) {
    let flow = council();
    let mut misses = Vec::new();
    for (text, want) in cases {
        let (got, top) = heard(&flow, expecting, text);
        if got.as_deref() != *want {
            misses.push(format!("  {text:?}: want {want:?}, got {got:?} {top:?}"));
        }
    }
    let right = cases.len() - misses.len();
    let share = right as f64 / cases.len() as f64;
    eprintln!(
        "{right}/{} right ({:.1} %){}{}",
        cases.len(),
        100.0 * share,
        if misses.is_empty() { "" } else { "; misses:\n" },
        misses.join("\n")
    );
    assert!(
        share >= min_share,
        "{right}/{} = {:.1} % < {:.0} %:\n{}",
        cases.len(),
        100.0 * share,
        100.0 * min_share,
        misses.join("\n")
    );
}

#[test]
fn main_menu_understands_phrasings_it_was_not_written_with() {
    let flow = council();
    let menu = main_menu(&flow);
    check(
        &menu,
        &[
            // Council tax.
            (
                "what's the balance on my council tax",
                Some("council_tax_balance"),
            ),
            (
                "have I paid enough council tax this year",
                Some("council_tax_balance"),
            ),
            ("I think I'm in arrears", Some("council_tax_balance")),
            (
                "I had a letter saying I owe money",
                Some("council_tax_balance"),
            ),
            ("I'd like to pay some council tax", Some("council_tax_pay")),
            (
                "can I pay what I owe by debit card",
                Some("council_tax_pay"),
            ),
            (
                "I want to set up a direct debit for my council tax",
                Some("council_tax_pay"),
            ),
            ("I'm calling to make a payment", Some("council_tax_pay")),
            (
                "we're moving to a different address next month",
                Some("council_tax_move"),
            ),
            ("I've moved out of my flat", Some("council_tax_move")),
            (
                "I need to tell you I've changed address",
                Some("council_tax_move"),
            ),
            (
                "I'm a student do I have to pay council tax",
                Some("council_tax_discount"),
            ),
            (
                "my husband died and I live by myself now",
                Some("council_tax_discount"),
            ),
            (
                "is there a discount because I'm a carer",
                Some("council_tax_discount"),
            ),
            // Benefits.
            ("I need help paying my rent", Some("benefits")),
            ("I want to apply for housing benefit", Some("benefits")),
            (
                "I've been made redundant and can't pay my bills",
                Some("benefits"),
            ),
            ("can I get council tax support", Some("benefits")),
            // Waste.
            ("nobody collected my recycling", Some("missed_bin")),
            ("my black bin has been left full", Some("missed_bin")),
            ("they didn't empty my bin this week", Some("missed_bin")),
            ("our bins were missed again", Some("missed_bin")),
            (
                "I need an old bed and a settee taking away",
                Some("bulky_waste"),
            ),
            (
                "how do I get rid of a broken fridge freezer",
                Some("bulky_waste"),
            ),
            ("can you collect some large furniture", Some("bulky_waste")),
            (
                "someone's dumped a load of bags by the garages",
                Some("fly_tipping"),
            ),
            (
                "there's fly tipping at the end of my road",
                Some("fly_tipping"),
            ),
            (
                "people have been tipping rubbish in the field",
                Some("fly_tipping"),
            ),
            // Highways.
            (
                "there's a huge hole in the road near the school",
                Some("pothole"),
            ),
            ("my car hit a pothole", Some("pothole")),
            (
                "the street lamp outside my house is out",
                Some("street_light"),
            ),
            (
                "the lights on my street don't come on at night",
                Some("street_light"),
            ),
            (
                "a street light keeps flashing on and off",
                Some("street_light"),
            ),
            // Housing.
            ("my heating's stopped working", Some("housing_repair")),
            (
                "there's water leaking through my kitchen ceiling",
                Some("housing_repair"),
            ),
            (
                "I've got black mould all over the walls",
                Some("housing_repair"),
            ),
            ("my council house needs a repair", Some("housing_repair")),
            (
                "my landlord has given me notice and I've got nowhere to go",
                Some("homeless"),
            ),
            ("I'm going to be evicted on Friday", Some("homeless")),
            ("I'm homeless and need somewhere to stay", Some("homeless")),
            // Global requests at the menu.
            (
                "I'd like to speak to an advisor please",
                Some("speak_to_advisor"),
            ),
            ("can I talk to someone", Some("speak_to_advisor")),
            ("get me a human", Some("speak_to_advisor")),
            ("could you say that again please", Some("repeat")),
            ("sorry I didn't hear that", Some("repeat")),
            ("can you repeat the options", Some("repeat")),
            ("please speak more slowly", Some("slower")),
            ("you're going too fast for me", Some("slower")),
            ("that's all goodbye", Some("goodbye")),
            ("I'm in danger", Some("safeguarding")),
            // Words a small recogniser gets wrong on a phone line.
            ("my bin was not collect it", Some("missed_bin")),
            ("I want to pay my counsel tax", Some("council_tax_pay")),
            ("there's a pot hole in my road", Some("pothole")),
            ("the street lite is broken", Some("street_light")),
            ("my boiler's broke", Some("housing_repair")),
            ("I'm being a victed", Some("homeless")),
            (
                "I want to report fly tipping in the ally",
                Some("fly_tipping"),
            ),
            ("can I speak to an adviser", Some("speak_to_advisor")),
            // Nothing the menu can act on.
            ("hello", None),
            // "No" answers no question here: it must not end the call as a goodbye.
            ("no", None),
            ("what's the weather like", None),
        ],
        0.85,
    );
}

#[test]
fn confirmations_understand_everyday_yes_and_no() {
    check(
        &Expecting::Confirm,
        &[
            ("yes", Some("yes")),
            ("yeah", Some("yes")),
            ("yes that's it", Some("yes")),
            ("that's correct", Some("yes")),
            ("yep", Some("yes")),
            ("sure", Some("yes")),
            ("absolutely", Some("yes")),
            ("yes please", Some("yes")),
            ("no", Some("no")),
            ("nope", Some("no")),
            ("no that's wrong", Some("no")),
            ("no it's not", Some("no")),
            ("that's incorrect", Some("no")),
            ("no thank you", Some("no")),
            ("not", Some("no")),
            ("could you repeat that", Some("repeat")),
            ("I want an advisor", Some("speak_to_advisor")),
        ],
        0.9,
    );
}

/// What the flow makes of a greedy decode and a sampled second decode of the same answer.
fn second_opinion(
    flow: &frontdoor::flow::set::LoadedFlow,
    expecting: &Expecting,
    first: &str,
    second: &str,
) -> Option<String> {
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).expect("a date");
    match flow
        .understanding
        .understand_second_opinion(Some(expecting), first, second, date, None)
    {
        FlowEvent::Heard { intent, .. } => intent,
        other => panic!("{first:?}: expected Heard, got {other:?}"),
    }
}

#[test]
fn a_second_decode_is_believed_only_for_an_intent_the_first_also_leaned_to() {
    let flow = council();
    let menu = main_menu(&flow);
    // The greedy decode half-heard it ("flight dipping" leans nowhere); the second is clear.
    let first = "I'd like to report some flight dipping by the garages";
    assert_eq!(
        heard(&flow, &menu, first).0,
        None,
        "{:?}",
        heard(&flow, &menu, first)
    );
    assert_eq!(
        second_opinion(
            &flow,
            &menu,
            first,
            "I'd like to report some fly tipping by the garages"
        ),
        Some("fly_tipping".into())
    );
    // A second decode that only leans to an intent the first gave nothing to (waste, at 0.66
    // against under 0.2) stays below the bar once the two are averaged.
    let first = "the cobbled mirror was left outside the chemist";
    assert_eq!(
        heard(&flow, &menu, first).0,
        None,
        "{:?}",
        heard(&flow, &menu, first)
    );
    let second = "there is rubbish by the cobbled mirror outside the chemist";
    assert_eq!(heard(&flow, &menu, second).0, Some("waste_topics".into()));
    assert_eq!(second_opinion(&flow, &menu, first, second), None);
    // An answer the first decode understood is kept, whatever the second says.
    assert_eq!(
        second_opinion(
            &flow,
            &menu,
            "I want to pay my council tax",
            "report fly tipping"
        ),
        Some("council_tax_pay".into())
    );
}

#[test]
fn only_answers_that_mean_nothing_to_the_question_are_looked_at_again() {
    let flow = council();
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).expect("a date");
    let means = |e: &Expecting, text: &str| flow.understanding.means_something(Some(e), text, date);
    let menu = main_menu(&flow);
    assert!(means(&menu, "my bin was not emptied"));
    assert!(!means(
        &menu,
        "the cobbled mirror was left outside the chemist"
    ));
    assert!(means(&Expecting::Confirm, "yes please"));
    assert!(!means(&Expecting::Confirm, "help"));
}
