//! Table-driven tests of understanding text: an intent set resembling the council flow's, with
//! many phrasings per intent (including recognition errors), and slot parsers over many spoken
//! forms. The phrasings here are written for these tests; none come from the evaluation sets.

use chrono::NaiveDate;
use frontdoor::nlu::{
    Classifier, ClassifierConfig, EnumValue, IntentPriority, IntentSpec, SlotType, SlotValue,
    normalise, parse_dtmf_slot, parse_slot,
};

fn intent(
    name: &str,
    priority: IntentPriority,
    examples: &[&str],
    keywords: &[&str],
) -> IntentSpec {
    IntentSpec {
        name: name.to_string(),
        examples: examples.iter().map(|s| s.to_string()).collect(),
        keywords: keywords.iter().map(|s| s.to_string()).collect(),
        priority,
    }
}

/// An intent set as a service designer would write it for the council front door.
pub fn council_intents() -> Vec<IntentSpec> {
    use IntentPriority::{Always, Normal};
    vec![
        intent(
            "safeguarding",
            Always,
            &[
                "it's an emergency",
                "I'm in danger",
                "I want to hurt myself",
                "someone is hurting me",
            ],
            &[
                "emergency",
                "999",
                "danger",
                "hurt myself",
                "kill myself",
                "being abused",
                "not safe",
                "suicide",
            ],
        ),
        intent(
            "speak_to_advisor",
            Always,
            &[
                "can I talk to a person",
                "put me through to someone",
                "I need to speak to an adviser",
            ],
            &[
                "advisor",
                "adviser",
                "operator",
                "speak to someone",
                "talk to someone",
                "real person",
                "human",
                "speak to a person",
                "talk to a person",
            ],
        ),
        intent(
            "council_tax_balance",
            Normal,
            &[
                "how much council tax do I owe",
                "what is my council tax balance",
                "check my council tax account",
                "how much is left to pay on my council tax",
            ],
            &["balance", "owe", "arrears"],
        ),
        intent(
            "council_tax_pay",
            Normal,
            &[
                "I want to pay my council tax",
                "make a council tax payment",
                "pay my bill",
                "set up a direct debit for council tax",
            ],
            &["pay", "payment", "direct debit"],
        ),
        intent(
            "council_tax_move",
            Normal,
            &[
                "I am moving house",
                "I have moved to a new address",
                "change of address for council tax",
                "I'm moving out of the borough",
                "we moved into a new home",
            ],
            &["moving", "moved", "new address", "change of address"],
        ),
        intent(
            "council_tax_discount",
            Normal,
            &[
                "can I get a discount on my council tax",
                "single person discount",
                "I live alone",
                "council tax exemption for students",
                "reduction on my council tax",
            ],
            &[
                "discount",
                "single person",
                "exemption",
                "reduction",
                "live alone",
            ],
        ),
        intent(
            "benefits",
            Normal,
            &[
                "I want to apply for housing benefit",
                "help with council tax support",
                "I need help paying my rent",
                "claim benefits",
                "universal credit",
            ],
            &[
                "benefit",
                "benefits",
                "council tax support",
                "universal credit",
                "housing benefit",
            ],
        ),
        intent(
            "missed_bin",
            Normal,
            &[
                "my bin was not emptied",
                "report a missed bin",
                "the bin lorry did not come",
                "my recycling was not collected",
                "they forgot my bins",
            ],
            &[
                "missed bin",
                "not collected",
                "not emptied",
                "bin collection",
            ],
        ),
        intent(
            "bulky_waste",
            Normal,
            &[
                "book a bulky waste collection",
                "take away an old mattress",
                "collect a large item",
                "get rid of a sofa",
                "remove old furniture",
            ],
            &[
                "bulky",
                "mattress",
                "sofa",
                "furniture",
                "fridge",
                "large item",
            ],
        ),
        intent(
            "fly_tipping",
            Normal,
            &[
                "report fly tipping",
                "someone dumped rubbish on the street",
                "there is rubbish dumped in the alley",
                "illegal dumping",
            ],
            &["fly tipping", "flytipping", "dumped", "dumping"],
        ),
        intent(
            "pothole",
            Normal,
            &[
                "report a pothole",
                "there is a hole in the road",
                "the road surface is damaged",
            ],
            &["pothole", "hole in the road", "road surface"],
        ),
        intent(
            "street_light",
            Normal,
            &[
                "a street light is broken",
                "the lamp post is not working",
                "street lamp flickering",
            ],
            &["street light", "streetlight", "lamp post", "street lamp"],
        ),
        intent(
            "housing_repair",
            Normal,
            &[
                "I need a repair in my council house",
                "my boiler is broken",
                "there is a leak in my flat",
                "damp and mould in my home",
                "my heating is not working",
            ],
            &[
                "repair",
                "boiler",
                "leak",
                "damp",
                "mould",
                "heating",
                "broken window",
            ],
        ),
        intent(
            "homeless",
            Normal,
            &[
                "I am homeless",
                "I have nowhere to live",
                "I am being evicted",
                "sleeping rough tonight",
            ],
            &[
                "homeless",
                "evicted",
                "nowhere to live",
                "nowhere to sleep",
                "sleeping rough",
                "eviction",
            ],
        ),
        intent(
            "repeat",
            Normal,
            &[
                "can you repeat that",
                "say that again",
                "pardon",
                "what did you say",
                "sorry I missed that",
                "I couldn't hear you",
            ],
            &["repeat", "pardon", "again", "come again"],
        ),
        intent(
            "slower",
            Normal,
            &[
                "slow down please",
                "can you speak slower",
                "you are talking too fast",
            ],
            &["slower", "slowly", "slow down", "too fast"],
        ),
        intent(
            "goodbye",
            Normal,
            &[
                "goodbye",
                "that's all thanks bye",
                "nothing else",
                "I'm done thank you",
            ],
            &["goodbye", "bye", "nothing else"],
        ),
        intent(
            "yes",
            Normal,
            &["yes", "yeah", "yes please", "correct", "that's right"],
            &["yes", "yeah", "yep", "correct"],
        ),
        intent(
            "no",
            Normal,
            &["no", "nope", "no thanks", "that's wrong", "not really"],
            &["no", "nope", "wrong"],
        ),
    ]
}

fn classifier() -> Classifier {
    Classifier::new(&council_intents(), ClassifierConfig::default())
        .expect("the test intent set is valid")
}

fn check_intents(cases: &[(&str, Option<&str>)]) {
    let classifier = classifier();
    let mut failures = Vec::new();
    for (text, expected) in cases {
        let result = classifier.classify(text);
        if result.intent.as_deref() != *expected {
            failures.push(format!(
                "{text:?}: expected {expected:?}, got {:?} {:?}",
                result.intent, result.top
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} misclassified:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn council_tax_phrasings() {
    check_intents(&[
        (
            "what do I still owe on my council tax",
            Some("council_tax_balance"),
        ),
        (
            "could you tell me how much is outstanding on my council tax",
            Some("council_tax_balance"),
        ),
        (
            "I'd like to know my council tax balance",
            Some("council_tax_balance"),
        ),
        (
            "am I in arrears with my council tax",
            Some("council_tax_balance"),
        ),
        ("how much do I owe", Some("council_tax_balance")),
        ("council tacks balance", Some("council_tax_balance")),
        (
            "I'd like to pay my council tax please",
            Some("council_tax_pay"),
        ),
        ("can I make a payment", Some("council_tax_pay")),
        ("I want to pay my bill", Some("council_tax_pay")),
        ("paying my council tax", Some("council_tax_pay")),
        ("I want to set up a direct debit", Some("council_tax_pay")),
        ("I want to pay my council tacks", Some("council_tax_pay")),
        (
            "I'm moving to a new house next month",
            Some("council_tax_move"),
        ),
        ("we've just moved into the area", Some("council_tax_move")),
        (
            "I need to tell you about a change of address",
            Some("council_tax_move"),
        ),
        ("I'm moving out", Some("council_tax_move")),
        (
            "we are moving home and need to update council tax",
            Some("council_tax_move"),
        ),
        (
            "I live on my own so can I get a discount",
            Some("council_tax_discount"),
        ),
        (
            "is there a single person discount",
            Some("council_tax_discount"),
        ),
        (
            "I'm a student am I exempt from council tax",
            Some("council_tax_discount"),
        ),
        (
            "can I get my council tax reduced",
            Some("council_tax_discount"),
        ),
        ("council tax discount", Some("council_tax_discount")),
        ("I live alone", Some("council_tax_discount")),
    ]);
}

#[test]
fn benefits_and_housing_phrasings() {
    check_intents(&[
        ("I want to claim housing benefit", Some("benefits")),
        ("can I get help paying my rent", Some("benefits")),
        (
            "I've lost my job and need council tax support",
            Some("benefits"),
        ),
        ("a question about my universal credit", Some("benefits")),
        ("how do I apply for benefits", Some("benefits")),
        ("housing benefits", Some("benefits")),
        ("my boiler has stopped working", Some("housing_repair")),
        (
            "there's a leak coming through my ceiling",
            Some("housing_repair"),
        ),
        (
            "the heating in my council flat is broken",
            Some("housing_repair"),
        ),
        ("I've got mould in the bathroom", Some("housing_repair")),
        (
            "I need something repaired in my flat",
            Some("housing_repair"),
        ),
        ("my boyler is broken", Some("housing_repair")),
        ("my landlord is evicting me", Some("homeless")),
        ("I have nowhere to sleep tonight", Some("homeless")),
        ("I'm about to become homeless", Some("homeless")),
        ("I've been evicted", Some("homeless")),
        ("we are going to be homeless", Some("homeless")),
    ]);
}

#[test]
fn waste_phrasings() {
    check_intents(&[
        ("my bins weren't emptied this week", Some("missed_bin")),
        ("you missed my bin", Some("missed_bin")),
        ("the recycling wasn't collected", Some("missed_bin")),
        ("the bin men didn't come to our road", Some("missed_bin")),
        ("missed bin collection", Some("missed_bin")),
        ("mis-bin collection", Some("missed_bin")),
        ("my bin wasn't picked up", Some("missed_bin")),
        ("I want to book a bulky waste pickup", Some("bulky_waste")),
        ("can you take away my old fridge", Some("bulky_waste")),
        ("I need a mattress collected", Some("bulky_waste")),
        (
            "how do I get rid of an old settee and a wardrobe of furniture",
            Some("bulky_waste"),
        ),
        ("bulky item collection", Some("bulky_waste")),
        (
            "someone has dumped a load of rubbish by the garages",
            Some("fly_tipping"),
        ),
        ("I'd like to report flytipping", Some("fly_tipping")),
        ("there's fly tipping in my street", Some("fly_tipping")),
        (
            "people keep dumping rubbish in the lane",
            Some("fly_tipping"),
        ),
        ("fly tipping", Some("fly_tipping")),
        (
            "there's been fly-tipping behind the shops",
            Some("fly_tipping"),
        ),
    ]);
}

#[test]
fn highways_phrasings() {
    check_intents(&[
        ("there's a massive pothole on my road", Some("pothole")),
        ("I'd like to report a hole in the road", Some("pothole")),
        ("pot hole outside the school", Some("pothole")),
        ("the road is full of potholes", Some("pothole")),
        ("a pothole damaged my tyre", Some("pothole")),
        ("pot holes", Some("pothole")),
        (
            "the street light outside my house is out",
            Some("street_light"),
        ),
        ("a streetlight keeps flickering", Some("street_light")),
        (
            "the lamp post on our road isn't working",
            Some("street_light"),
        ),
        (
            "street lights are broken on the high street",
            Some("street_light"),
        ),
        ("report a broken street lamp", Some("street_light")),
        ("the street lite is not working", Some("street_light")),
    ]);
}

#[test]
fn advisor_and_safeguarding_always_win() {
    check_intents(&[
        ("I want to speak to someone", Some("speak_to_advisor")),
        (
            "can I talk to a real person about my council tax",
            Some("speak_to_advisor"),
        ),
        ("operator", Some("speak_to_advisor")),
        (
            "put me through to an advisor about a missed bin",
            Some("speak_to_advisor"),
        ),
        ("just get me a human", Some("speak_to_advisor")),
        ("can I speak to a person please", Some("speak_to_advisor")),
        ("I need to speak to an adviser", Some("speak_to_advisor")),
        ("this is an emergency", Some("safeguarding")),
        ("call 999", Some("safeguarding")),
        ("I'm in danger at home", Some("safeguarding")),
        ("I think I'm going to hurt myself", Some("safeguarding")),
        ("I feel like I want to kill myself", Some("safeguarding")),
        (
            "I'm being abused by my partner and need housing",
            Some("safeguarding"),
        ),
        (
            "I don't feel safe in my flat since the boiler broke",
            Some("safeguarding"),
        ),
        ("I'm not safe at home", Some("safeguarding")),
        (
            "my bin was missed and I'm in danger and want an advisor",
            Some("safeguarding"),
        ),
    ]);
}

#[test]
fn short_global_intents() {
    check_intents(&[
        ("sorry could you repeat that", Some("repeat")),
        ("pardon", Some("repeat")),
        ("pardon me", Some("repeat")),
        ("say that again please", Some("repeat")),
        ("I didn't hear that", Some("repeat")),
        ("what was that", Some("repeat")),
        ("come again", Some("repeat")),
        ("slower please", Some("slower")),
        ("can you slow down", Some("slower")),
        ("you're speaking too fast", Some("slower")),
        ("could you say it more slowly", Some("slower")),
        ("too fast", Some("slower")),
        ("goodbye", Some("goodbye")),
        ("bye", Some("goodbye")),
        ("no that's all thank you bye", Some("goodbye")),
        ("nothing else thanks goodbye", Some("goodbye")),
        ("ok bye bye", Some("goodbye")),
        ("yes", Some("yes")),
        ("yeah", Some("yes")),
        ("yep", Some("yes")),
        ("yes please", Some("yes")),
        ("that's correct", Some("yes")),
        ("yes that's right", Some("yes")),
        ("no", Some("no")),
        ("nope", Some("no")),
        ("no thank you", Some("no")),
        ("that's wrong", Some("no")),
        ("no that's not right", Some("no")),
        ("Yes.", Some("yes")),
        ("No!", Some("no")),
    ]);
}

#[test]
fn filler_and_noise_are_no_match() {
    check_intents(&[
        ("", None),
        ("   ", None),
        ("thank you", None),
        ("Thank you.", None),
        ("you", None),
        ("um", None),
        ("uh um er", None),
        ("[BLANK_AUDIO]", None),
        ("(music)", None),
        ("[Music]", None),
        ("*cough*", None),
        ("hello", None),
        ("the weather is lovely today", None),
        ("purple elephants dancing", None),
    ]);
}

#[test]
fn classification_explains_the_top_three() {
    let result = classifier().classify("my bin wasn't collected");
    assert_eq!(result.intent.as_deref(), Some("missed_bin"));
    assert_eq!(result.top.len(), 3);
    assert_eq!(result.top[0].0, "missed_bin");
    assert!(result.top[0].1 >= result.top[1].1 && result.top[1].1 >= result.top[2].1);
    assert!((0.0..=1.0).contains(&result.confidence));
    assert!((result.confidence - result.top[0].1).abs() < 1e-6);
}

#[test]
fn bad_intent_sets_are_rejected() {
    let config = ClassifierConfig::default();
    assert!(Classifier::new(&[], config).is_err());
    let one = intent("a", IntentPriority::Normal, &["hello there"], &[]);
    assert!(Classifier::new(&[one.clone(), one.clone()], config).is_err());
    let unnamed = intent("", IntentPriority::Normal, &["hello there"], &[]);
    assert!(Classifier::new(&[unnamed], config).is_err());
    let empty = intent("empty", IntentPriority::Normal, &[], &[]);
    assert!(Classifier::new(&[empty], config).is_err());
    let bad = ClassifierConfig {
        no_match_threshold: 1.5,
        margin: 0.1,
    };
    assert!(Classifier::new(&[one], bad).is_err());
}

#[test]
fn long_input_does_not_panic() {
    let classifier = classifier();
    let long = "my bin was not collected and ".repeat(500);
    assert_eq!(
        classifier.classify(&long).intent.as_deref(),
        Some("missed_bin")
    );
    let odd = "\u{0}\u{202e}ßñ😀 [[[ ((( *** '''' ---";
    let _ = classifier.classify(odd);
}

// ---------------------------------------------------------------- slots

fn call_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 26).expect("a valid constant date")
}

fn check_slots(slot: &SlotType, cases: &[(&str, Option<SlotValue>)]) {
    let mut failures = Vec::new();
    for (text, expected) in cases {
        let got = parse_slot(slot, text, call_date());
        if got != *expected {
            failures.push(format!(
                "{text:?}: expected {:?}, got {:?}",
                expected.as_ref().map(SlotValue::to_json),
                got.as_ref().map(SlotValue::to_json)
            ));
        }
    }
    assert!(failures.is_empty(), "{slot:?}:\n{}", failures.join("\n"));
}

fn digits(s: &str) -> Option<SlotValue> {
    Some(SlotValue::Digits(s.to_string()))
}

fn number(n: i64) -> Option<SlotValue> {
    Some(SlotValue::Number(n))
}

fn postcode(s: &str) -> Option<SlotValue> {
    Some(SlotValue::Postcode(s.to_string()))
}

fn date(y: i32, m: u32, d: u32) -> Option<SlotValue> {
    NaiveDate::from_ymd_opt(y, m, d).map(SlotValue::Date)
}

fn phone(s: &str) -> Option<SlotValue> {
    Some(SlotValue::Phone(s.to_string()))
}

#[test]
fn digit_slots() {
    let slot = SlotType::Digits {
        min_len: 3,
        max_len: 10,
    };
    check_slots(
        &slot,
        &[
            ("four seven two", digits("472")),
            ("for seven to", digits("472")),
            ("it's four seven two nine one", digits("47291")),
            ("double four seven", digits("447")),
            ("triple five two", digits("5552")),
            ("oh one two", digits("012")),
            ("zero zero seven", digits("007")),
            ("twelve hundred", digits("1200")),
            ("1 2 3", digits("123")),
            ("123456", digits("123456")),
            ("won ate ate", digits("188")),
            ("one two", None),
            (
                "one two three four five six seven eight nine zero one",
                None,
            ),
            ("no idea", None),
            ("", None),
        ],
    );
}

#[test]
fn number_slots() {
    check_slots(
        &SlotType::Number,
        &[
            ("four seven two", number(472)),
            ("twelve hundred", number(1200)),
            ("two hundred and fifty", number(250)),
            ("a hundred and one", number(101)),
            ("fifteen", number(15)),
            ("1 2 3", number(123)),
            ("123", number(123)),
            ("flat 4b", number(4)),
            ("number twenty seven", number(27)),
            ("it's number 12a", number(12)),
            ("double four", number(44)),
            (
                "My reference number is four seven two nine one",
                number(47291),
            ),
            ("three thousand four hundred and five", number(3405)),
            ("to", number(2)),
            ("I don't know", None),
            ("", None),
            ("99999999999999999999999", None),
        ],
    );
}

#[test]
fn postcode_slots() {
    check_slots(
        &SlotType::UkPostcode,
        &[
            ("R M seventeen six S L", postcode("RM17 6SL")),
            ("rm one seven six sl", postcode("RM17 6SL")),
            ("RM17 6SL", postcode("RM17 6SL")),
            ("rm17 6sl", postcode("RM17 6SL")),
            ("S W one A one A A", postcode("SW1A 1AA")),
            ("E C one A one B B", postcode("EC1A 1BB")),
            ("romeo mike one six two quebec sierra", postcode("RM16 2QS")),
            ("papa echo one two three alpha bravo", postcode("PE12 3AB")),
            ("S S one seven oh B Z", postcode("SS17 0BZ")),
            ("my postcode is R M one six two Q S", postcode("RM16 2QS")),
            ("it's S S seventeen zero B Zed", postcode("SS17 0BZ")),
            ("M one one double A", postcode("M1 1AA")),
            ("R M seventeen", None),
            ("one two three", None),
            ("I don't know my postcode", None),
            ("", None),
        ],
    );
}

#[test]
fn date_slots() {
    check_slots(
        &SlotType::Date,
        &[
            ("today", date(2026, 11, 26)),
            ("yesterday", date(2026, 11, 25)),
            ("tomorrow please", date(2026, 11, 27)),
            ("next Tuesday", date(2026, 12, 1)),
            ("last Monday", date(2026, 11, 23)),
            ("on Tuesday", date(2026, 12, 1)),
            ("the third of December", date(2026, 12, 3)),
            ("December the 3rd", date(2026, 12, 3)),
            ("3rd December 2026", date(2026, 12, 3)),
            ("3/12/2026", date(2026, 12, 3)),
            ("in two days", date(2026, 11, 28)),
            (
                "it was supposed to be collected on Monday",
                date(2026, 11, 23),
            ),
            ("the first of January", date(2027, 1, 1)),
            ("Friday the 20th of November", date(2026, 11, 20)),
            ("not sure", None),
            ("", None),
        ],
    );
}

#[test]
fn yes_no_slots() {
    let yes = Some(SlotValue::Bool(true));
    let no = Some(SlotValue::Bool(false));
    check_slots(
        &SlotType::YesNo,
        &[
            ("yes", yes.clone()),
            ("yeah", yes.clone()),
            ("yep", yes.clone()),
            ("correct", yes.clone()),
            ("that's right", yes.clone()),
            ("please do", yes.clone()),
            ("Yes please", yes.clone()),
            ("no", no.clone()),
            ("nope", no.clone()),
            ("that's wrong", no.clone()),
            ("not really", no.clone()),
            ("No thank you", no.clone()),
            ("I'm not sure", None),
            ("", None),
        ],
    );
    assert_eq!(parse_dtmf_slot(&SlotType::YesNo, "1"), yes);
    assert_eq!(parse_dtmf_slot(&SlotType::YesNo, "2"), no);
    assert_eq!(parse_dtmf_slot(&SlotType::YesNo, "3"), None);
}

#[test]
fn phone_slots() {
    check_slots(
        &SlotType::PhoneNumber,
        &[
            (
                "oh seven seven double oh nine hundred one two three",
                phone("07700900123"),
            ),
            ("+44 7700 900123", phone("07700900123")),
            ("07700 900123", phone("07700900123")),
            (
                "zero one three seven five three nine oh one two three",
                phone("01375390123"),
            ),
            (
                "plus four four seven seven double oh nine oh oh one two three",
                phone("07700900123"),
            ),
            ("one two three", None),
            ("", None),
        ],
    );
}

fn bins() -> SlotType {
    let v = |value: &str, synonyms: &[&str]| EnumValue {
        value: value.to_string(),
        synonyms: synonyms.iter().map(|s| s.to_string()).collect(),
    };
    SlotType::Enumeration(vec![
        v("general_waste", &["black bin", "rubbish"]),
        v("recycling", &["blue bin"]),
        v("garden_waste", &["brown bin", "green waste"]),
    ])
}

#[test]
fn enumeration_slots() {
    let e = |s: &str| Some(SlotValue::Enum(s.to_string()));
    check_slots(
        &bins(),
        &[
            ("black bin", e("general_waste")),
            ("general waste", e("general_waste")),
            ("recycling", e("recycling")),
            ("the blue bin", e("recycling")),
            ("garden waste", e("garden_waste")),
            ("brown bin", e("garden_waste")),
            ("it was the brown bins", e("garden_waste")),
            ("the bin", None),
        ],
    );
    assert_eq!(parse_dtmf_slot(&bins(), "2"), e("recycling"));
    assert_eq!(parse_dtmf_slot(&bins(), "4"), None);
    assert_eq!(parse_dtmf_slot(&bins(), "0"), None);
}

#[test]
fn free_text_slots() {
    check_slots(
        &SlotType::FreeText,
        &[
            (
                "  the bin by the gate  ",
                Some(SlotValue::Text("the bin by the gate".to_string())),
            ),
            ("", None),
            ("[BLANK_AUDIO]", None),
        ],
    );
}

#[test]
fn dtmf_entry() {
    let d = SlotType::Digits {
        min_len: 4,
        max_len: 8,
    };
    assert_eq!(parse_dtmf_slot(&d, "47291#"), digits("47291"));
    assert_eq!(parse_dtmf_slot(&d, "472"), None);
    assert_eq!(parse_dtmf_slot(&d, "47*91"), None);
    assert_eq!(parse_dtmf_slot(&SlotType::Number, "0042"), number(42));
    assert_eq!(
        parse_dtmf_slot(&SlotType::PhoneNumber, "07700900123"),
        phone("07700900123")
    );
    assert_eq!(
        parse_dtmf_slot(
            &SlotType::PhoneNumber,
            "0044 7700900123".replace(' ', "").as_str()
        ),
        phone("07700900123")
    );
    assert_eq!(parse_dtmf_slot(&SlotType::PhoneNumber, "1234"), None);
    assert_eq!(
        parse_dtmf_slot(&SlotType::Date, "03122026"),
        date(2026, 12, 3)
    );
    assert_eq!(parse_dtmf_slot(&SlotType::UkPostcode, "12345"), None);
    assert_eq!(parse_dtmf_slot(&SlotType::FreeText, "1"), None);
    assert_eq!(parse_dtmf_slot(&SlotType::Number, ""), None);
}

#[test]
fn read_backs_and_json() {
    assert_eq!(SlotValue::Digits("472".into()).spoken(), "4 7 2");
    assert_eq!(
        SlotValue::Postcode("RM17 6SL".into()).spoken(),
        "R M 1 7, 6 S L"
    );
    assert_eq!(
        date(2026, 12, 3).map(|d| d.spoken()).as_deref(),
        Some("Thursday the 3rd of December")
    );
    assert_eq!(SlotValue::Number(1200).to_json(), serde_json::json!(1200));
    assert_eq!(SlotValue::Bool(true).to_json(), serde_json::json!(true));
    assert_eq!(
        date(2026, 12, 3).map(|d| d.to_json()),
        Some(serde_json::json!("2026-12-03"))
    );
    assert_eq!(
        SlotValue::Postcode("RM17 6SL".into()).to_json(),
        serde_json::json!("RM17 6SL")
    );
}

#[test]
fn debug_output_redacts_personal_data() {
    let shown = format!("{:?}", SlotValue::Postcode("RM17 6SL".into()));
    assert!(!shown.contains("RM17"), "{shown}");
    let shown = format!("{:?}", SlotValue::Phone("07700900123".into()));
    assert!(!shown.contains("0770090"), "{shown}");
    let shown = format!("{:?}", SlotValue::Text("my name is Jane".into()));
    assert!(!shown.contains("Jane"), "{shown}");
}

#[test]
fn normalise_is_public_and_stable() {
    assert_eq!(
        normalise("My bin WASN'T collected!"),
        "my bin was not collected"
    );
    assert_eq!(normalise(&normalise("I've   moved")), "i have moved");
}
