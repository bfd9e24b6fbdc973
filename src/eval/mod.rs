//! `frontdoor eval`: the speech evaluation harness. Synthesises each utterance of a
//! TSV set with several voices, starts the server on the council flow (injected call date,
//! fresh SQLite store), places real SIP calls that reach the right question (RFC 4733 keys,
//! or speech where the flow only listens), speak as 20 ms G.711 RTP packets, and measure turn
//! latency; then reads what the server understood from its call records and reports accuracy,
//! confusions, latency per question kind and concurrency, capacity, RTF and memory.
//!
//! Owns: the harness only. Must not touch: the server's internals (it is a black box reached
//! over SIP/RTP and its records), the flows, the models.

pub mod audio;
pub mod caller;
pub mod cli;
pub mod dataset;
pub mod pathmap;
pub mod plan;
pub mod records;
pub mod report;
pub mod server;
pub mod serverlog;
pub mod voices;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use report::EvalReport;

use caller::{CallScript, CallerConfig, run_call};
use dataset::Utterance;
use plan::Job;
use report::{CallResult, LatencyStats, QuestionKind, Target};
use server::{RunningServer, ServerSpec};
use voices::CallerVoice;

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Dataset {
        path: String,
        line: usize,
        message: String,
    },
    #[error("synthesis with {voice}: {message}")]
    Synthesis { voice: String, message: String },
    #[error("audio: {0}")]
    Audio(String),
    #[error("call: {0}")]
    Call(String),
    #[error("server: {0}")]
    Server(String),
    #[error("call records: {0}")]
    Records(String),
    #[error("{0}")]
    Usage(String),
}

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub dataset: PathBuf,
    /// English voices; non-English rows use their language's espeak-ng voice.
    pub voices: Vec<CallerVoice>,
    /// Only rows whose id is listed (all when empty).
    pub only: Vec<String>,
    pub server: ServerSpec,
    /// Callers started together in the accuracy pass.
    pub accuracy_wave: usize,
    /// Latency runs: callers started together, e.g. 1, 4, 8.
    pub concurrency: Vec<usize>,
    /// Calls per latency run (rounded up to whole waves).
    pub latency_calls: usize,
    /// Keep stepping concurrency up (+4) until open-question p95 passes 1.5 s.
    pub capacity_sweep: bool,
    /// Add the no-input set (silence, noise).
    pub no_input: bool,
    /// A real recording to send through the same path (jfk.wav).
    pub recording: Option<PathBuf>,
    /// Where to write the JSON report.
    pub json_out: Option<PathBuf>,
}

/// Runs the evaluation and returns the report.
pub fn run(options: &EvalOptions) -> Result<EvalReport, EvalError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| EvalError::Io {
            what: "starting the runtime".into(),
            source,
        })?;
    runtime.block_on(run_async(options))
}

async fn run_async(options: &EvalOptions) -> Result<EvalReport, EvalError> {
    let rows: Vec<Utterance> = dataset::load(&options.dataset)?
        .into_iter()
        .filter(|r| options.only.is_empty() || options.only.contains(&r.id))
        .collect();
    eprintln!("eval: {} utterances, synthesising...", rows.len());
    let jobs = plan::build_jobs(&rows, options).await?;
    eprintln!("eval: {} calls prepared; starting the server", jobs.len());
    let server = RunningServer::start(&options.server)?;
    let caller = CallerConfig {
        server: server.sip_addr(),
        prompt_quiet: Duration::from_millis(1000),
        answer_timeout: Duration::from_secs(9),
        linger: Duration::from_millis(400),
        call_limit: Duration::from_secs(120),
        holding_frames: Arc::new(holding_frames(&options.server.prompts)),
        server_log: Some(server.log_path()),
    };
    let no: Arc<[i16]> =
        plan::speak_blocking(voices::CallerVoice::for_language("en-gb"), "no".to_string()).await?;
    let mut results = Vec::new();
    // Accuracy: every job once.
    let wave = options.accuracy_wave.max(1);
    for chunk in jobs.chunks(wave) {
        results.extend(run_wave(&caller, &no, chunk, wave, true).await);
        progress(&results);
    }
    // Latency at each concurrency: open and digit/postcode questions.
    let timed: Vec<&Job> = jobs
        .iter()
        .filter(|j| {
            matches!(
                j.question,
                QuestionKind::Open | QuestionKind::DigitsPostcode
            )
        })
        .filter(|j| !matches!(j.target, Target::NoInput | Target::Recording))
        .collect();
    let path_intents = pathmap::PathIntents::load(&options.server.flows, &options.server.prompts)?;
    let mut levels = options.concurrency.clone();
    let mut capacity: Option<(usize, f64)> = None;
    let mut index = 0;
    while index < levels.len() && !timed.is_empty() {
        let n = levels[index].max(1);
        let count = options.latency_calls.max(n).div_ceil(n) * n;
        let mut level_results = Vec::new();
        for w in 0..count / n {
            let wave_jobs: Vec<Job> = (0..n)
                .map(|k| timed[(w * n + k + index * 7) % timed.len()].clone())
                .collect();
            level_results.extend(run_wave(&caller, &no, &wave_jobs, n, false).await);
        }
        // What each call understood decides which latencies count.
        annotate(&server, &path_intents, &mut level_results).await?;
        let open: Vec<f64> = level_results
            .iter()
            .filter(|c| c.question == QuestionKind::Open && c.understood_something())
            .filter_map(|c| c.latency_ms)
            .collect();
        let p95 = LatencyStats::of(&open).map(|s| s.p95_ms);
        eprintln!("eval: {n} callers: open-question p95 {p95:?} ms");
        if let Some(p95) = p95.filter(|p| *p <= 1500.0) {
            capacity = Some((n, n as f64 / (p95 / 1000.0)));
            if options.capacity_sweep && index + 1 == levels.len() && n < 32 {
                levels.push(n + 4);
            }
        }
        results.extend(level_results);
        index += 1;
    }
    annotate(&server, &path_intents, &mut results).await?;
    let server_log = serverlog::ServerLog::parse(&server.log());
    let peak = server.peak_rss_mib();
    let mut report = EvalReport::from_calls(results);
    report.capacity_callers = capacity.map(|c| c.0);
    report.capacity_decodes_per_s = capacity.map(|c| c.1);
    report.resources.server_peak_rss_mib = peak;
    let all_turns: Vec<&serverlog::TurnStages> = server_log.turns.values().flatten().collect();
    let collect = |f: &dyn Fn(&serverlog::TurnStages) -> Option<f64>| {
        LatencyStats::of(&all_turns.iter().filter_map(|t| f(t)).collect::<Vec<_>>())
    };
    report.resources.rtf = collect(&|t| t.real_time_factor());
    report.resources.decode_ms = collect(&|t| t.decode_ms);
    report.resources.queue_wait_ms = collect(&|t| t.queue_wait_ms);
    report.resources.end_to_result_ms = collect(&|t| t.end_to_result_ms);
    if let Some(path) = &options.json_out {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        std::fs::write(path, json).map_err(|source| EvalError::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
    }
    Ok(report)
}

/// Reads back what the server understood on each call (records, log stages) and scores it.
async fn annotate(
    server: &RunningServer,
    path_intents: &pathmap::PathIntents,
    results: &mut [CallResult],
) -> Result<(), EvalError> {
    let records = records::wait_for_records(
        &server.store_path(),
        &results
            .iter()
            .map(|r| r.call_id.clone())
            .collect::<Vec<_>>(),
        Duration::from_secs(20),
    )
    .await?;
    let server_log = serverlog::ServerLog::parse(&server.log());
    for result in results.iter_mut() {
        result.stages = server_log
            .turns
            .get(&result.call_id)
            .and_then(|t| t.last().cloned());
        let detected = server_log.languages.get(&result.call_id).cloned();
        let speaks_at_a_menu = !matches!(result.target, Target::Slot { .. });
        result.understood = records.get(&result.call_id).map(|record| {
            let mut u = records::Understood::from_record(record);
            if u.language.is_none() || detected.is_some() && record.turns.is_empty() {
                u.language = detected.clone().or(u.language);
            }
            if speaks_at_a_menu && u.intent.is_none() && u.transcript.is_none() {
                // No spoken turn in the record: read the intent off the path.
                u.intent = path_intents.last_intent(&u.path);
                u.intent_from_path = u.intent.is_some();
            }
            if result.clarified.is_some() {
                // Answered a clarifying question (by key or "no"): where the call went after
                // it is what was understood, not the answer that prompted it.
                u.intent = path_intents.last_intent(&u.path);
                u.intent_from_path = true;
            }
            u
        });
        result.score();
    }
    Ok(())
}

fn progress(results: &[CallResult]) {
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    eprintln!("eval: {} calls done ({failed} with errors)", results.len());
}

/// Runs `jobs` as simultaneous calls.
async fn run_wave(
    caller: &CallerConfig,
    no: &Arc<[i16]>,
    jobs: &[Job],
    concurrency: usize,
    scored: bool,
) -> Vec<CallResult> {
    let mut set = tokio::task::JoinSet::new();
    for (slot, job) in jobs.iter().enumerate() {
        let caller = caller.clone();
        let job = job.clone();
        let no = no.clone();
        set.spawn(async move {
            // A caller asked "did you mean" answers it as the one it stands for would.
            let clarify = match (&job.target, job.question) {
                (Target::Intent(meant), QuestionKind::Open) => Some(caller::ClarifyTruthfully {
                    meant: meant.clone(),
                    no: no.clone(),
                }),
                _ => None,
            };
            let script = CallScript {
                steps: job.steps.clone(),
                utterance: job.audio.clone(),
                clarify,
            };
            let outcome = run_call(&caller, &script).await;
            (slot, job, outcome)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        let Ok((slot, job, outcome)) = joined else {
            continue;
        };
        let (outcome, error) = match outcome {
            Ok(o) => {
                let e = o.error.clone();
                (o, e)
            }
            Err(e) => (caller::CallOutcome::default(), Some(e.to_string())),
        };
        out.push((
            slot,
            CallResult {
                id: job.id.clone(),
                voice: job.voice.clone(),
                target: job.target.clone(),
                question: job.question,
                concurrency,
                call_id: outcome.call_id.clone(),
                latency_ms: outcome.latency_ms,
                holding_heard: outcome.holding_heard,
                clarified: outcome.clarified.clone(),
                error: error
                    .or_else(|| (!outcome.spoke).then(|| "never reached the question".to_string())),
                understood: None,
                stages: None,
                correct: false,
                scored,
            },
        ));
    }
    out.sort_by_key(|(slot, _)| *slot);
    out.into_iter().map(|(_, r)| r).collect()
}

/// The μ-law frames of the rendered holding phrase (any `holding*.wav` prompt), so that the
/// callers do not take it for an answer.
fn holding_frames(prompts: &std::path::Path) -> HashSet<Vec<u8>> {
    let mut frames = HashSet::new();
    let Ok(entries) = std::fs::read_dir(prompts) else {
        return frames;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("holding") && name.ends_with(".wav")) {
            continue;
        }
        if let Ok(samples) = audio::load_wav_8k(&entry.path()) {
            for chunk in samples.chunks(audio::FRAME) {
                if audio::rms(chunk) >= audio::AUDIBLE_RMS && chunk.len() == audio::FRAME {
                    frames.insert(
                        chunk
                            .iter()
                            .map(|&s| crate::media::g711::linear_to_ulaw(s))
                            .collect(),
                    );
                }
            }
        }
    }
    frames
}
