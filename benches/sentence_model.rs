//! Cost of understanding by meaning: embedding one caller utterance with the sentence model
//! (what a recogniser thread does after each decode), the same on both recogniser threads at
//! once (the most that run together, however many callers talk: the pool has two workers on
//! the 2-core target), and classifying a transcript whose embedding is already made (what the
//! media thread pays). Needs the installed model; without it the benchmarks say so and skip.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use frontdoor::flow::set::FlowSet;
use frontdoor::flow::understand::Understanding;
use frontdoor::nlu::encoder::{BertEncoder, ENCODER_DIR, Embedder, SentenceEncoder, verify};

const UTTERANCES: [&str; 8] = [
    "the bin men never came down our road this week",
    "I need to pay what I owe on my council tax",
    "there is water coming through my kitchen ceiling",
    "my landlord has told me to leave by friday",
    "the lamp post outside number twelve is flickering",
    "someone has dumped a load of rubble in the lane",
    "can I get a discount now my partner has moved out",
    "I would like to speak to a real person please",
];

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(ENCODER_DIR);
    let encoder = match verify(&dir).and_then(|d| BertEncoder::load(&d)) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            eprintln!("sentence model benchmarks skipped: {e}");
            return;
        }
    };
    let mut i = 0usize;
    c.bench_function("embed_utterance", |b| {
        b.iter(|| {
            i += 1;
            let text = UTTERANCES[i % UTTERANCES.len()];
            encoder.encode(black_box(&[text]))
        })
    });

    // Both recogniser threads embedding at once: per-utterance times, p50 and p95.
    let mut times: Vec<Duration> = Vec::new();
    let rounds = 40;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let encoder = Arc::clone(&encoder);
                s.spawn(move || {
                    (0..rounds)
                        .map(|r| {
                            let text = UTTERANCES[(r + t) % UTTERANCES.len()];
                            let start = Instant::now();
                            let _ = encoder.encode(&[text]);
                            start.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            times.extend(h.join().unwrap_or_default());
        }
    });
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    if !times.is_empty() {
        eprintln!(
            "embed_utterance, two threads at once: p50 {:.1} ms, p95 {:.1} ms over {} utterances",
            at(0.5).as_secs_f64() * 1e3,
            at(0.95).as_secs_f64() * 1e3,
            times.len()
        );
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(embedder) = Embedder::load_installed(&dir) else {
        return;
    };
    let embedder = Arc::new(embedder);
    let Ok(set) = FlowSet::load(&root.join("call-flows"), &root.join("audio-prompts")) else {
        return;
    };
    let Some(flow) = set.get("council") else {
        return;
    };
    let Ok(understanding) = Understanding::with_embedder(&flow.flow, Some(&embedder)) else {
        return;
    };
    for u in UTTERANCES {
        embedder.prepare(u);
    }
    let mut j = 0usize;
    c.bench_function("classify_council_embedding_ready", |b| {
        b.iter(|| {
            j += 1;
            understanding
                .classifier()
                .classify(black_box(UTTERANCES[j % UTTERANCES.len()]))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
