//! Scoring and the report: per-call results, accuracy figures, the intent confusion matrix,
//! latency percentiles per question kind and concurrency, capacity, and resource figures.
//! Printed as plain-text tables and written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::dataset::{Expected, SlotKind};
use super::records::Understood;

/// Which kind of question a latency sample belongs to (reported separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// An open (intent) question: the main menu.
    Open,
    /// Digits or a postcode.
    DigitsPostcode,
    /// A date.
    Date,
    /// A yes/no confirmation.
    Confirm,
}

impl QuestionKind {
    pub fn of(expected: &Expected) -> QuestionKind {
        match expected {
            Expected::Intent(i) if i == "yes" || i == "no" => QuestionKind::Confirm,
            Expected::Intent(_) | Expected::Language(_) => QuestionKind::Open,
            Expected::Slot { kind, .. } => match kind {
                SlotKind::Postcode | SlotKind::Number => QuestionKind::DigitsPostcode,
                SlotKind::Date => QuestionKind::Date,
                SlotKind::YesNo | SlotKind::Other(_) => QuestionKind::Confirm,
            },
        }
    }

    fn label(self) -> &'static str {
        match self {
            QuestionKind::Open => "open (intent)",
            QuestionKind::DigitsPostcode => "digits/postcode",
            QuestionKind::Date => "date",
            QuestionKind::Confirm => "yes/no confirm",
        }
    }
}

/// What a call was for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Target {
    Intent(String),
    Slot {
        slot: String,
        value: String,
    },
    Language(String),
    /// Silence or noise: nothing may be understood.
    NoInput,
    /// A real recording (jfk.wav): only its transcript is printed.
    Recording,
}

/// One evaluation call.
#[derive(Debug, Clone, Serialize)]
pub struct CallResult {
    pub id: String,
    pub voice: String,
    pub target: Target,
    pub question: QuestionKind,
    /// Callers in flight together (the wave size).
    pub concurrency: usize,
    pub call_id: String,
    pub latency_ms: Option<f64>,
    pub holding_heard: bool,
    /// A clarifying question followed the utterance, offering these intents; the caller
    /// answered it truthfully.
    pub clarified: Option<Vec<String>>,
    pub error: Option<String>,
    pub understood: Option<Understood>,
    /// The server's logged figures for the measured turn.
    pub stages: Option<super::serverlog::TurnStages>,
    pub correct: bool,
    /// Counted for accuracy (the accuracy pass; latency runs repeat calls and are not).
    pub scored: bool,
}

impl CallResult {
    /// Scores the call against its target.
    pub fn score(&mut self) {
        let u = self.understood.clone().unwrap_or_default();
        self.correct = match &self.target {
            Target::Intent(want) => u.intent.as_deref() == Some(want.as_str()),
            Target::Slot { slot, value } => slot_matches(slot, value, &u),
            Target::Language(want) => u
                .language
                .as_deref()
                .is_some_and(|l| l.to_ascii_lowercase().starts_with(want.as_str())),
            Target::NoInput => u.intent.is_none() && u.slot_value.is_none(),
            Target::Recording => u.transcript.is_some(),
        };
    }

    /// Whether the server understood anything (an intent or a slot value).
    pub fn understood_something(&self) -> bool {
        self.understood
            .as_ref()
            .is_some_and(|u| u.intent.is_some() || u.slot_value.is_some())
    }
}

fn slot_matches(slot: &str, want: &str, u: &Understood) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    if slot == "yes_no" {
        let got = match (u.slot_value.as_deref(), u.intent.as_deref()) {
            (Some("true" | "yes"), _) | (None, Some("yes")) => "yes",
            (Some("false" | "no"), _) | (None, Some("no")) => "no",
            _ => return false,
        };
        return got == want;
    }
    u.slot_value
        .as_deref()
        .is_some_and(|v| norm(v) == norm(want))
}

/// Latency percentiles of one group of samples.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyStats {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl LatencyStats {
    pub fn of(samples: &[f64]) -> Option<LatencyStats> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(LatencyStats {
            samples: sorted.len(),
            p50_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            max_ms: sorted.last().copied().unwrap_or_default(),
        })
    }
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len()) - 1)
        .copied()
        .unwrap_or_default()
}

/// A ratio with its counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rate {
    pub hits: usize,
    pub total: usize,
}

impl Rate {
    pub fn percent(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            100.0 * self.hits as f64 / self.total as f64
        }
    }
}

/// Recognition cost as the server reported it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceFigures {
    pub server_peak_rss_mib: Option<f64>,
    /// Per-decode real-time factors found in the server log.
    pub rtf: Option<LatencyStats>,
    pub decode_ms: Option<LatencyStats>,
    pub queue_wait_ms: Option<LatencyStats>,
    /// End of speech (endpointer) to recognition result: decode after the end-of-speech wait.
    pub end_to_result_ms: Option<LatencyStats>,
}

/// The whole evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalReport {
    pub calls: Vec<CallResult>,
    /// Intent rows understood right, after at most one clarifying question answered truthfully.
    pub intent_accuracy: Rate,
    /// Intent rows understood right from the first answer (no clarifying question).
    pub intent_first_answer: Rate,
    /// Intent rows followed by a clarifying question.
    pub clarified: Rate,
    /// Intent rows taken for another intent without a clarifying question.
    pub confidently_wrong: Rate,
    pub slot_accuracy: Rate,
    pub no_match: Rate,
    pub language_accuracy: Rate,
    /// No-input calls (silence, noise) that produced an intent or slot.
    pub no_input_with_intent: Rate,
    /// (question kind, concurrency) → latency stats, as "kind@N".
    pub latency: BTreeMap<String, LatencyStats>,
    /// Highest wave size whose open-question p95 stayed ≤ 1.5 s, and the decode rate there.
    pub capacity_callers: Option<usize>,
    pub capacity_decodes_per_s: Option<f64>,
    /// Per voice: intent accuracy.
    pub by_voice: BTreeMap<String, Rate>,
    /// Expected intent → understood intent (or "(none)") → count.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    pub recording_transcripts: Vec<(String, String)>,
    pub resources: ResourceFigures,
    pub failed_calls: usize,
}

impl EvalReport {
    /// Computes the figures from the calls. Accuracy counts every call once (all waves);
    /// latency is grouped by question kind and concurrency.
    pub fn from_calls(calls: Vec<CallResult>) -> EvalReport {
        let mut report = EvalReport {
            calls,
            ..EvalReport::default()
        };
        let mut samples: BTreeMap<(QuestionKind, usize), Vec<f64>> = BTreeMap::new();
        for call in &report.calls {
            if call.error.is_some() {
                report.failed_calls += 1;
            }
            let counts = !matches!(call.target, Target::NoInput | Target::Recording);
            if let (true, true, Some(ms)) = (counts, call.understood_something(), call.latency_ms) {
                samples
                    .entry((call.question, call.concurrency))
                    .or_default()
                    .push(ms);
            }
            if !call.scored {
                continue;
            }
            let got_intent = call
                .understood
                .as_ref()
                .and_then(|u| u.intent.clone())
                .unwrap_or_else(|| "(none)".to_string());
            match &call.target {
                Target::Intent(want) => {
                    bump(&mut report.intent_accuracy, call.correct);
                    let asked = call.clarified.is_some();
                    bump(&mut report.intent_first_answer, call.correct && !asked);
                    bump(&mut report.clarified, asked);
                    let took_one = call.understood.as_ref().is_some_and(|u| u.intent.is_some());
                    bump(
                        &mut report.confidently_wrong,
                        !asked && took_one && !call.correct,
                    );
                    bump(
                        report.by_voice.entry(call.voice.clone()).or_default(),
                        call.correct,
                    );
                    bump(&mut report.no_match, !call.understood_something());
                    *report
                        .confusion
                        .entry(want.clone())
                        .or_default()
                        .entry(got_intent)
                        .or_default() += 1;
                }
                Target::Slot { .. } => {
                    bump(&mut report.slot_accuracy, call.correct);
                    bump(&mut report.no_match, !call.understood_something());
                }
                Target::Language(_) => bump(&mut report.language_accuracy, call.correct),
                Target::NoInput => bump(&mut report.no_input_with_intent, !call.correct),
                Target::Recording => {
                    let text = call
                        .understood
                        .as_ref()
                        .and_then(|u| u.transcript.clone())
                        .unwrap_or_else(|| "(nothing heard)".to_string());
                    report.recording_transcripts.push((call.id.clone(), text));
                }
            }
        }
        for ((kind, n), values) in &samples {
            if let Some(stats) = LatencyStats::of(values) {
                report
                    .latency
                    .insert(format!("{}@{n}", serde_key(*kind)), stats);
            }
        }
        report
    }

    /// Plain-text tables.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, name: &str, r: Rate| {
            let _ = writeln!(
                out,
                "  {name:<34} {:>6.1}%  ({}/{})",
                r.percent(),
                r.hits,
                r.total
            );
        };
        let _ = writeln!(
            out,
            "== Understanding (English: every voice; other languages: espeak-ng) =="
        );
        line(
            &mut out,
            "intent accuracy (<= 1 clarification)",
            self.intent_accuracy,
        );
        line(
            &mut out,
            "intent accuracy, first answer",
            self.intent_first_answer,
        );
        line(
            &mut out,
            "clarifying questions (intent rows)",
            self.clarified,
        );
        line(
            &mut out,
            "confidently wrong (intent rows)",
            self.confidently_wrong,
        );
        line(&mut out, "slot accuracy", self.slot_accuracy);
        line(
            &mut out,
            "no-match rate (intent + slot rows)",
            self.no_match,
        );
        line(
            &mut out,
            "language detection accuracy",
            self.language_accuracy,
        );
        line(
            &mut out,
            "no-input calls producing an intent",
            self.no_input_with_intent,
        );
        let _ = writeln!(
            out,
            "  failed calls (harness/SIP errors): {}",
            self.failed_calls
        );
        let _ = writeln!(out, "\n== Intent accuracy by voice ==");
        for (voice, rate) in &self.by_voice {
            line(&mut out, voice, *rate);
        }
        let _ = writeln!(
            out,
            "\n== Intent confusions (expected -> understood: count) =="
        );
        for (want, got) in &self.confusion {
            let wrong: Vec<String> = got
                .iter()
                .filter(|(g, _)| *g != want)
                .map(|(g, n)| format!("{g}: {n}"))
                .collect();
            let right = got.get(want).copied().unwrap_or_default();
            let total: usize = got.values().sum();
            let _ = writeln!(
                out,
                "  {want:<22} {right:>3}/{total:<3} {}",
                wrong.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "\n== Turn latency: last voiced caller frame -> first audible answer packet =="
        );
        let _ = writeln!(
            out,
            "  {:<24} {:>8} {:>9} {:>9} {:>9}",
            "question@callers", "samples", "p50 ms", "p95 ms", "max ms"
        );
        for (key, s) in &self.latency {
            let _ = writeln!(
                out,
                "  {key:<24} {:>8} {:>9.0} {:>9.0} {:>9.0}",
                s.samples, s.p50_ms, s.p95_ms, s.max_ms
            );
        }
        match (self.capacity_callers, self.capacity_decodes_per_s) {
            (Some(n), Some(rate)) => {
                let _ = writeln!(
                    out,
                    "  capacity: {n} callers speaking at once ({rate:.2} decodes/s) with open-question p95 <= 1500 ms"
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  capacity: not measured (no wave met p95 <= 1500 ms, or no sweep)"
                );
            }
        }
        let _ = writeln!(out, "\n== Recognition cost ==");
        match self.resources.server_peak_rss_mib {
            Some(m) => {
                let _ = writeln!(out, "  server peak RSS: {m:.0} MiB");
            }
            None => {
                let _ = writeln!(out, "  server peak RSS: unavailable");
            }
        }
        match &self.resources.rtf {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "  real-time factor per decode: p50 {:.3}, p95 {:.3}, max {:.3} ({} decodes)",
                    s.p50_ms, s.p95_ms, s.max_ms, s.samples
                );
            }
            None => {
                let _ = writeln!(out, "  real-time factor: not found in the server log");
            }
        }
        for (name, stats) in [
            ("decode time", &self.resources.decode_ms),
            ("queue wait for a recogniser", &self.resources.queue_wait_ms),
            ("end of speech -> result", &self.resources.end_to_result_ms),
        ] {
            if let Some(s) = stats {
                let _ = writeln!(
                    out,
                    "  {name}: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms ({} turns)",
                    s.p50_ms, s.p95_ms, s.max_ms, s.samples
                );
            }
        }
        if !self.recording_transcripts.is_empty() {
            let _ = writeln!(out, "\n== Real speech through the same path ==");
            for (id, text) in &self.recording_transcripts {
                let _ = writeln!(out, "  {id}: {text}");
            }
        }
        out
    }
}

fn serde_key(kind: QuestionKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| kind.label().to_string())
}

fn bump(rate: &mut Rate, hit: bool) {
    rate.total += 1;
    if hit {
        rate.hits += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(target: Target, intent: Option<&str>, latency: Option<f64>) -> CallResult {
        let question = match &target {
            Target::Slot { .. } => QuestionKind::DigitsPostcode,
            _ => QuestionKind::Open,
        };
        let mut c = CallResult {
            id: "x".into(),
            voice: "espeak:en-gb".into(),
            target,
            question,
            concurrency: 1,
            call_id: "c".into(),
            latency_ms: latency,
            holding_heard: false,
            clarified: None,
            error: None,
            understood: Some(Understood {
                intent: intent.map(str::to_string),
                ..Understood::default()
            }),
            stages: None,
            correct: false,
            scored: true,
        };
        c.score();
        c
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 10.0);
        assert_eq!(percentile(&v, 95.0), 19.0);
        assert_eq!(percentile(&[5.0], 95.0), 5.0);
    }

    #[test]
    fn scores_accuracy_confusions_and_latency() {
        let report = EvalReport::from_calls(vec![
            call(
                Target::Intent("pothole".into()),
                Some("pothole"),
                Some(400.0),
            ),
            call(
                Target::Intent("pothole".into()),
                Some("street_light"),
                Some(600.0),
            ),
            call(Target::Intent("missed_bin".into()), None, Some(6000.0)),
            call(Target::NoInput, None, None),
        ]);
        assert_eq!(
            (report.intent_accuracy.hits, report.intent_accuracy.total),
            (1, 3)
        );
        assert_eq!(report.no_match.hits, 1);
        assert_eq!(report.no_input_with_intent.hits, 0);
        assert_eq!(report.confusion["pothole"]["street_light"], 1);
        // The unanswered call's reprompt is not a turn latency.
        assert_eq!(report.latency["open@1"].samples, 2);
        assert!(report.render().contains("intent accuracy"));
    }

    #[test]
    fn clarified_answers_count_after_the_clarification_and_not_as_first_answers() {
        let mut clarified = call(Target::Intent("pothole".into()), Some("pothole"), None);
        clarified.clarified = Some(vec!["pothole".into(), "street_light".into()]);
        let report = EvalReport::from_calls(vec![
            call(Target::Intent("pothole".into()), Some("pothole"), None),
            clarified,
            call(Target::Intent("pothole".into()), Some("street_light"), None),
            call(Target::Intent("pothole".into()), None, None),
        ]);
        let rate = |r: Rate| (r.hits, r.total);
        assert_eq!(rate(report.intent_accuracy), (2, 4));
        assert_eq!(rate(report.intent_first_answer), (1, 4));
        assert_eq!(rate(report.clarified), (1, 4));
        assert_eq!(rate(report.confidently_wrong), (1, 4));
        assert!(report.render().contains("confidently wrong"));
    }

    #[test]
    fn slot_values_compare_without_spacing_or_case() {
        let u = Understood {
            slot_value: Some("rm17 6sl".into()),
            ..Understood::default()
        };
        assert!(slot_matches("uk_postcode", "RM17 6SL", &u));
        let yes = Understood {
            slot_value: Some("true".into()),
            ..Understood::default()
        };
        assert!(slot_matches("yes_no", "yes", &yes));
        assert!(!slot_matches("yes_no", "no", &yes));
    }
}
