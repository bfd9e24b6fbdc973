//! `frontdoor test`: conversation tests in YAML. Each file names a flow and holds tests; each
//! test may give the caller's `open_cases` (returning callers), then caller turns (`say`,
//! `keys`, `silence`, `hangup`, `speech_unavailable`, `case_fails`, `transfer_fails`,
//! `detected` for what language detection hears) with expectations (prompt heard or not, words
//! heard or not, node reached, slot values, case fields, case updated, transfer queue and
//! context, call ended, "slower" on, keys only, survey answers).
//!
//! Owns the test format and its runner. The call itself is a rehearsed [`Session`] on the real
//! call core, so a conversation test passes only if a live call would go the same way.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;
use serde_json::Value;

use super::session::{Output, Session};
use super::simulate::prompts_dir;
use super::stage::Stage;
use crate::flow::interpreter::CallContext;
use crate::flow::language::catalog::catalog_for;
use crate::flow::language::files::check_file;
use crate::flow::tools::exit_code::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::flow::understand::Understanding;
use crate::handler::OpenCase;
use crate::nlu::encoder::Embedder;

/// A test file: the flow under test and its tests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Flow file, relative to the test file.
    pub flow: String,
    #[serde(default)]
    pub description: Option<String>,
    pub tests: Vec<TestCase>,
}

/// One conversation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// Call date, `YYYY-MM-DD` (default 2026-11-26, a Thursday).
    #[serde(default)]
    pub date: Option<String>,
    /// Call time, `HH:MM` (default 10:00).
    #[serde(default)]
    pub time: Option<String>,
    /// Caller number; `withheld` for none (default a mobile number).
    #[serde(default)]
    pub caller: Option<String>,
    /// Open cases on the caller's number (what a case lookup finds).
    #[serde(default)]
    pub open_cases: Vec<TestOpenCase>,
    /// Expectations right after the call is answered.
    #[serde(default)]
    pub start: Option<Expect>,
    pub turns: Vec<Turn>,
}

/// An open case on the caller's number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestOpenCase {
    pub reference: String,
    /// The case type (`missed_bin`).
    #[serde(rename = "type")]
    pub case_type: String,
    /// Its captured fields.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// The date it was reported, `YYYY-MM-DD` (default: the call date).
    #[serde(default)]
    pub reported: Option<String>,
}

/// What language detection hears on the next utterance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detected {
    pub language: String,
    #[serde(default = "Detected::default_probability")]
    pub probability: f32,
}

impl Detected {
    fn default_probability() -> f32 {
        0.9
    }
}

/// One caller turn and what should follow.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    #[serde(default)]
    pub say: Option<String>,
    #[serde(default)]
    pub keys: Option<String>,
    #[serde(default)]
    pub silence: bool,
    #[serde(default)]
    pub hangup: bool,
    #[serde(default)]
    pub case_fails: bool,
    #[serde(default)]
    pub transfer_fails: bool,
    /// Speech recognition becomes unavailable during this ask (keypad fallback).
    #[serde(default)]
    pub speech_unavailable: bool,
    /// What language detection hears if the flow asks during this turn.
    #[serde(default)]
    pub detected: Option<Detected>,
    #[serde(default)]
    pub expect: Option<Expect>,
}

/// Expectations after a turn. Everything given must hold.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Named prompts heard during this turn (all of them, in any order).
    #[serde(default)]
    pub prompt: Option<OneOrMany>,
    /// Words heard during this turn (substring of any prompt).
    #[serde(default)]
    pub says: Option<String>,
    /// A named prompt that must not be heard during this turn.
    #[serde(default)]
    pub not_prompt: Option<String>,
    /// Words that must not be heard during this turn (in any prompt).
    #[serde(default)]
    pub not_says: Option<OneOrMany>,
    /// The node the call is at after the turn.
    #[serde(default)]
    pub node: Option<String>,
    /// Nodes visited so far (all of them, in order of first visit).
    #[serde(default)]
    pub visited: Option<Vec<String>>,
    /// Captured slots (canonical values).
    #[serde(default)]
    pub slots: Option<BTreeMap<String, String>>,
    /// Fields of the last case written (a subset).
    #[serde(default)]
    pub case: Option<BTreeMap<String, Value>>,
    /// No case written during the whole call so far.
    #[serde(default)]
    pub no_case: bool,
    /// The last case update: `reference` and fields (a subset).
    #[serde(default)]
    pub updated: Option<BTreeMap<String, Value>>,
    /// No case updated during the whole call so far.
    #[serde(default)]
    pub no_update: bool,
    /// Whether the current ask listens for keys only.
    #[serde(default)]
    pub keys_only: Option<bool>,
    /// The language the call is in now (prompts), or the caller's detected language.
    #[serde(default)]
    pub language: Option<String>,
    /// The queue of the last transfer.
    #[serde(default)]
    pub transfer: Option<String>,
    /// Fields of the last transfer's context (a subset).
    #[serde(default)]
    pub context: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub ended: Option<bool>,
    #[serde(default)]
    pub slow: Option<bool>,
    #[serde(default)]
    pub survey: Option<BTreeMap<String, u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// What a test run found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
}

/// Runs every `*.yaml` test file in `dir` (or one file), printing one line per test.
pub fn test_cmd(dir: &Path, out: &mut dyn Write) -> i32 {
    let files: Vec<PathBuf> = if dir.is_file() {
        vec![dir.to_path_buf()]
    } else if dir.is_dir() {
        let mut f: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|e| {
                e.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                    .collect()
            })
            .unwrap_or_default();
        f.sort();
        f
    } else {
        let _ = writeln!(out, "error: {} does not exist", dir.display());
        return EXIT_USAGE;
    };
    let mut summary = Summary::default();
    let mut flows: BTreeMap<PathBuf, Arc<Stage>> = BTreeMap::new();
    let loaded: Vec<(String, Loaded)> = files
        .iter()
        .map(|file| (file.display().to_string(), load_file(file, &mut flows)))
        .collect();
    // Every test of every file in one pool, so no core idles at the end of a short file.
    let jobs: Vec<(&TestCase, &Stage)> = loaded
        .iter()
        .filter_map(|(_, l)| l.as_ref().ok())
        .flat_map(|(tf, stage)| tf.tests.iter().map(move |t| (t, stage.as_ref())))
        .collect();
    let mut results = run_tests(&jobs).into_iter();
    for (name, l) in &loaded {
        let tf = match l {
            Ok((tf, _)) => tf,
            Err(unusable) => {
                let _ = writeln!(out, "FAIL {name}: {}", unusable.why);
                summary.failed += unusable.tests;
                continue;
            }
        };
        for test in &tf.tests {
            match results.next() {
                Some(Ok(())) => {
                    summary.passed += 1;
                    let _ = writeln!(out, "ok   {name}: {}", test.name);
                }
                Some(Err(why)) => {
                    summary.failed += 1;
                    let _ = writeln!(out, "FAIL {name}: {}\n     {why}", test.name);
                }
                None => {
                    summary.failed += 1;
                    let _ = writeln!(out, "FAIL {name}: {}\n     the test did not run", test.name);
                }
            }
        }
    }
    let _ = writeln!(out, "{} passed, {} failed", summary.passed, summary.failed);
    if summary.failed == 0 && summary.passed > 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// A test file read, with its flow ready to rehearse; or why its tests cannot run.
type Loaded = Result<(TestFile, Arc<Stage>), Unusable>;

/// A test file whose tests cannot run: why, and how many failures that counts as.
struct Unusable {
    why: String,
    tests: usize,
}

/// Reads a test file and makes its flow ready to rehearse (once per flow).
fn load_file(file: &Path, flows: &mut BTreeMap<PathBuf, Arc<Stage>>) -> Loaded {
    let tf = std::fs::read_to_string(file)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_saphyr::from_str::<TestFile>(&t).map_err(|e| e.to_string()))
        .map_err(|e| Unusable {
            why: format!("cannot read the test file: {e}"),
            tests: 1,
        })?;
    let flow_path = file.parent().unwrap_or(Path::new(".")).join(&tf.flow);
    if let Some(stage) = flows.get(&flow_path) {
        let stage = Arc::clone(stage);
        return Ok((tf, stage));
    }
    let unusable = |why: String| Unusable {
        why,
        tests: tf.tests.len().max(1),
    };
    let (flow, diags) = check_file(&flow_path, &catalog_for(&flow_path));
    let Some(flow) = flow else {
        return Err(unusable(format!(
            "the flow {} has errors:\n{diags}",
            flow_path.display()
        )));
    };
    let understanding = Understanding::with_embedder(&flow, Embedder::for_tools().ok().as_ref())
        .map_err(|e| unusable(format!("the flow's intents cannot be used: {e}")))?;
    let stage = Stage::new(
        Arc::new(flow),
        Arc::new(understanding),
        Some(&prompts_dir(&flow_path)),
    )
    .map_err(|e| unusable(format!("the flow cannot be rehearsed: {e}")))?;
    let stage = Arc::new(stage);
    flows.insert(flow_path, Arc::clone(&stage));
    Ok((tf, stage))
}

/// Runs the tests side by side, one rehearsed call per thread at a time (each call is CPU-bound:
/// the call core endpoints every 20 ms of the caller's audio), and returns their results in
/// the tests' order.
fn run_tests(jobs: &[(&TestCase, &Stage)]) -> Vec<Result<(), String>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Result<(), String>> = jobs
        .iter()
        .map(|_| Err("the test did not run".to_string()))
        .collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((test, stage)) = jobs.get(i) else {
                            return done;
                        };
                        done.push((i, run_test(test, stage)));
                    }
                })
            })
            .collect();
        for handle in handles {
            // A panicking rehearsal leaves its tests failed ("did not run").
            if let Ok(done) = handle.join() {
                for (i, result) in done {
                    results[i] = result;
                }
            }
        }
    });
    results
}

/// Runs one conversation; `Err` says which expectation failed and what happened instead.
pub fn run_test(test: &TestCase, stage: &Stage) -> Result<(), String> {
    let date = match &test.date {
        Some(d) => {
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| format!("bad date `{d}`"))?
        }
        None => NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default(),
    };
    let time = match &test.time {
        Some(t) => NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| format!("bad time `{t}`"))?,
        None => NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default(),
    };
    let caller = match test.caller.as_deref() {
        Some("withheld") => None,
        Some(n) => Some(crate::Pii::new(n.to_string())),
        None => Some(crate::Pii::new("07700900123".to_string())),
    };
    let ctx = CallContext {
        date,
        time,
        caller,
        dialled: String::new(),
    };
    let mut open_cases = Vec::new();
    for c in &test.open_cases {
        let reported = match &c.reported {
            Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| format!("bad reported date `{d}`"))?,
            None => date,
        };
        // Midday local time: the reported day is the same in every time zone offset the
        // council can be in.
        let created_at = reported
            .and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default())
            .and_local_timezone(chrono::Local)
            .earliest()
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok_or_else(|| format!("reported date `{reported}` has no local midday"))?;
        open_cases.push(OpenCase {
            reference: c.reference.clone(),
            service: c.case_type.clone(),
            fields: Value::Object(c.fields.clone().into_iter().collect()),
            created_at,
        });
    }
    let (mut session, first) = Session::start(stage, ctx, open_cases);
    if let Some(e) = &test.start {
        check_expect(e, &session, &first).map_err(|w| format!("at the start: {w}"))?;
    }
    for (i, turn) in test.turns.iter().enumerate() {
        if turn.case_fails {
            session.fail_next_case();
        }
        if turn.transfer_fails {
            session.fail_next_transfer();
        }
        if let Some(d) = &turn.detected {
            session.detect_language_as(&d.language, d.probability);
        }
        let outputs = if turn.speech_unavailable {
            session.speech_unavailable()
        } else if let Some(words) = &turn.say {
            session.say(words)
        } else if let Some(keys) = &turn.keys {
            session.keys(keys)
        } else if turn.silence {
            session.silence()
        } else if turn.hangup {
            session.hangup()
        } else {
            Vec::new()
        };
        if let Some(e) = &turn.expect {
            let what = turn
                .say
                .as_ref()
                .map(|s| format!("say {s:?}"))
                .or_else(|| turn.keys.as_ref().map(|k| format!("keys {k:?}")))
                .unwrap_or_else(|| {
                    if turn.speech_unavailable {
                        "speech unavailable".into()
                    } else {
                        "silence".into()
                    }
                });
            check_expect(e, &session, &outputs)
                .map_err(|w| format!("turn {} ({what}): {w}", i + 1))?;
        }
    }
    Ok(())
}

fn check_expect(e: &Expect, s: &Session, outputs: &[Output]) -> Result<(), String> {
    // Read before the interpreter is borrowed (both come from the call's handler).
    let listens_for_speech = s.listen_spec().is_some_and(|l| l.speech);
    let i = s.interpreter();
    let heard: Vec<(Option<&str>, &str)> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Prompt { name, text } => Some((name.as_deref(), text.as_str())),
            _ => None,
        })
        .collect();
    let heard_desc = || {
        let mut d = String::new();
        for (n, t) in &heard {
            let _ = write!(d, "[{}] ", n.unwrap_or(t));
        }
        if d.is_empty() {
            "nothing".to_string()
        } else {
            d
        }
    };
    if let Some(p) = &e.prompt {
        let wanted: Vec<&String> = match p {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v.iter().collect(),
        };
        for w in wanted {
            if !heard.iter().any(|(n, _)| *n == Some(w.as_str())) {
                return Err(format!("expected prompt `{w}`, heard {}", heard_desc()));
            }
        }
    }
    if let Some(p) = &e.not_prompt
        && heard.iter().any(|(n, _)| *n == Some(p.as_str()))
    {
        return Err(format!("did not expect prompt `{p}`"));
    }
    if let Some(banned) = &e.not_says {
        let banned: Vec<&String> = match banned {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v.iter().collect(),
        };
        for b in banned {
            if let Some((_, t)) = heard.iter().find(|(_, t)| t.contains(b.as_str())) {
                return Err(format!("did not expect to hear {b:?}, heard {t:?}"));
            }
        }
    }
    if let Some(words) = &e.says
        && !heard.iter().any(|(_, t)| t.contains(words.as_str()))
    {
        return Err(format!(
            "expected to hear {words:?}, heard {}",
            heard
                .iter()
                .map(|(_, t)| *t)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    if let Some(node) = &e.node
        && i.current_node() != node
    {
        return Err(format!(
            "expected to be at node `{node}`, at `{}`",
            i.current_node()
        ));
    }
    if let Some(visited) = &e.visited {
        let mut path = i.path().iter();
        for v in visited {
            if !path.any(|p| p == v) {
                return Err(format!(
                    "expected to visit `{v}` (in this order), path was {:?}",
                    i.path()
                ));
            }
        }
    }
    if let Some(slots) = &e.slots {
        for (k, v) in slots {
            let got = i.slots().get(k).map(|c| c.canonical());
            if got.as_deref() != Some(v.as_str()) {
                return Err(format!("expected slot `{k}` = {v:?}, got {got:?}"));
            }
        }
    }
    if e.no_case && !s.cases().is_empty() {
        return Err(format!("expected no case, {} written", s.cases().len()));
    }
    if let Some(fields) = &e.case {
        let Some(case) = s.cases().last() else {
            return Err("expected a case, none written".into());
        };
        for (k, v) in fields {
            if case.get(k) != Some(v) {
                return Err(format!(
                    "expected case field `{k}` = {v}, got {}",
                    case.get(k).map_or("nothing".into(), Value::to_string)
                ));
            }
        }
    }
    if e.no_update && !s.updates().is_empty() {
        return Err(format!(
            "expected no case update, {} made",
            s.updates().len()
        ));
    }
    if let Some(fields) = &e.updated {
        let Some((reference, case)) = s.updates().last() else {
            return Err("expected a case update, none made".into());
        };
        for (k, v) in fields {
            let got = if k == "reference" {
                Some(Value::String(reference.clone()))
            } else {
                case.get(k).cloned()
            };
            if got.as_ref() != Some(v) {
                return Err(format!(
                    "expected updated `{k}` = {v}, got {}",
                    got.map_or("nothing".into(), |g| g.to_string())
                ));
            }
        }
    }
    if let Some(keys_only) = e.keys_only {
        let speech = listens_for_speech;
        if i.keys_only() != keys_only || speech == keys_only {
            return Err(format!(
                "expected keys only {keys_only}, interpreter says {} and listens for speech: {speech}",
                i.keys_only()
            ));
        }
    }
    if let Some(lang) = &e.language {
        let got = i.caller_language().unwrap_or(i.language());
        if got != lang {
            return Err(format!("expected language `{lang}`, got `{got}`"));
        }
    }
    if let Some(q) = &e.transfer {
        let got = s.transfers().last().map(|(q, _)| q.as_str());
        if got != Some(q.as_str()) {
            return Err(format!("expected a transfer to `{q}`, got {got:?}"));
        }
    }
    if let Some(fields) = &e.context {
        let Some((_, ctx)) = s.transfers().last() else {
            return Err("expected a transfer context, no transfer".into());
        };
        for (k, v) in fields {
            if ctx.get(k) != Some(v) {
                return Err(format!(
                    "expected context `{k}` = {v}, got {}",
                    ctx.get(k).map_or("nothing".into(), Value::to_string)
                ));
            }
        }
    }
    if let Some(ended) = e.ended
        && s.ended() != ended
    {
        return Err(format!(
            "expected the call {}",
            if ended { "to have ended" } else { "to go on" }
        ));
    }
    if let Some(slow) = e.slow
        && i.is_slow() != slow
    {
        return Err(format!(
            "expected slower speech {slow}, was {}",
            i.is_slow()
        ));
    }
    if let Some(survey) = &e.survey {
        for (k, v) in survey {
            if i.survey_answers().get(k) != Some(v) {
                return Err(format!(
                    "expected survey `{k}` = {v}, got {:?}",
                    i.survey_answers().get(k)
                ));
            }
        }
    }
    Ok(())
}
