//! Flow speed: validating council.yaml (target < 20 ms) and stepping the interpreter through a
//! 20-turn call (target < 10 µs per step).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::{NaiveDate, NaiveTime};
use criterion::{Criterion, criterion_group, criterion_main};
use frontdoor::flow::cmd::catalog_for;
use frontdoor::flow::interpreter::{CallContext, FlowEvent, Interpreter};
use frontdoor::flow::understand::Understanding;

fn council() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("call-flows/council.yaml")
}

fn validate(c: &mut Criterion) {
    let path = council();
    let text = std::fs::read_to_string(&path).expect("council.yaml");
    let catalog = catalog_for(&path);
    c.bench_function("validate council.yaml", |b| {
        b.iter(|| frontdoor::flow::check::check(&path, &text, &catalog));
    });
}

fn interpreter(c: &mut Criterion) {
    let path = council();
    let text = std::fs::read_to_string(&path).expect("council.yaml");
    let (flow, _) = frontdoor::flow::check::check(&path, &text, &catalog_for(&path));
    let flow = Arc::new(flow.expect("council.yaml is valid"));
    let understanding = Arc::new(Understanding::new(&flow).expect("intents"));
    let ctx = CallContext {
        date: NaiveDate::from_ymd_opt(2026, 11, 26).expect("date"),
        time: NaiveTime::from_hms_opt(10, 0, 0).expect("time"),
        caller: None,
        dialled: String::new(),
    };
    // 20 events: menus by key, repeats and no-inputs, then the survey.
    let events: Vec<FlowEvent> = [
        FlowEvent::Started,
        FlowEvent::PromptFinished,
        FlowEvent::NoInput,
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('2'),
        FlowEvent::NoInput,
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('9'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('*'),
        FlowEvent::Dtmf('1'),
        FlowEvent::PromptFinished,
    ]
    .into();
    c.bench_function("interpreter 20-turn call", |b| {
        b.iter(|| {
            let mut i = Interpreter::new(Arc::clone(&flow), understanding.clone(), ctx.clone());
            let now = Instant::now();
            for e in &events {
                std::hint::black_box(i.handle(e.clone(), now));
            }
        });
    });
}

criterion_group!(benches, validate, interpreter);
criterion_main!(benches);
