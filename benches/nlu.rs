//! Speed of understanding text: classifying an utterance against a ~20-intent flow (target
//! < 50 µs) and parsing the slower slot types.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use frontdoor::nlu::{
    Classifier, ClassifierConfig, IntentPriority, IntentSpec, SlotType, parse_slot,
};

fn intents() -> Vec<IntentSpec> {
    let names = [
        (
            "council_tax_balance",
            "how much council tax do I owe",
            "balance",
        ),
        ("council_tax_pay", "pay my council tax bill", "payment"),
        ("council_tax_move", "I am moving house", "moving"),
        ("council_tax_discount", "single person discount", "discount"),
        ("benefits", "apply for housing benefit", "benefit"),
        ("missed_bin", "my bin was not collected", "missed bin"),
        ("bulky_waste", "collect an old sofa", "bulky"),
        ("fly_tipping", "someone dumped rubbish", "fly tipping"),
        ("pothole", "a hole in the road", "pothole"),
        ("street_light", "the street light is broken", "street light"),
        ("housing_repair", "my boiler is broken", "repair"),
        ("homeless", "I have nowhere to live", "homeless"),
        ("repeat", "say that again", "repeat"),
        ("slower", "speak more slowly", "slower"),
        ("goodbye", "that is all goodbye", "goodbye"),
        ("yes", "yes please", "yes"),
        ("no", "no thanks", "no"),
    ];
    let mut out: Vec<IntentSpec> = names
        .iter()
        .map(|(name, example, keyword)| IntentSpec {
            name: name.to_string(),
            examples: vec![example.to_string(), format!("I want to report {example}")],
            keywords: vec![keyword.to_string()],
            priority: IntentPriority::Normal,
        })
        .collect();
    out.push(IntentSpec {
        name: "speak_to_advisor".into(),
        examples: vec!["talk to a real person".into()],
        keywords: vec!["advisor".into(), "speak to someone".into()],
        priority: IntentPriority::Always,
    });
    out
}

fn bench(c: &mut Criterion) {
    let classifier = match Classifier::new(&intents(), ClassifierConfig::default()) {
        Ok(classifier) => classifier,
        Err(e) => panic!("bench intents are valid: {e}"),
    };
    c.bench_function("classify_sentence", |b| {
        b.iter(|| {
            classifier.classify(black_box(
                "the bin men missed our street this morning again",
            ))
        })
    });
    c.bench_function("classify_misrecognised", |b| {
        b.iter(|| classifier.classify(black_box("I want to pay my council tacks")))
    });
    let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default();
    c.bench_function("parse_postcode", |b| {
        b.iter(|| {
            parse_slot(
                &SlotType::UkPostcode,
                black_box("my postcode is R M seventeen six S L"),
                date,
            )
        })
    });
    c.bench_function("parse_date", |b| {
        b.iter(|| {
            parse_slot(
                &SlotType::Date,
                black_box("the third of December please"),
                date,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
