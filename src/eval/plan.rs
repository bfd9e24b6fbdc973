//! How each evaluation call reaches its question in the council flow, and the prepared jobs
//! (row × voice, synthesised audio, navigation steps).
//!
//! Routes (call-flows/council.yaml): intents and languages are spoken at the main menu; a
//! number at the account-number question (keys 1, 1, 1); yes/no at the account-number
//! confirmation (keys 1, 1, 1, then an account number); a postcode at the missed-bin postcode
//! question (keys 2, 1); a date at the moving-date question (keys 1, 1, 3, 1, then a spoken
//! postcode, "yes", and a house number by keys: the postcode question is spoken-only).

use std::sync::Arc;

use super::caller::Step;
use super::dataset::{Expected, SlotKind, Utterance};
use super::report::{QuestionKind, Target};
use super::voices::{CallerVoice, voices_for};
use super::{EvalError, EvalOptions, audio};

/// One prepared call.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub voice: String,
    pub target: Target,
    pub question: QuestionKind,
    pub steps: Vec<Step>,
    pub audio: Arc<[i16]>,
}

/// Speech the navigation needs (one fixed voice; not measured).
struct NavigationAudio {
    postcode: Arc<[i16]>,
    yes: Arc<[i16]>,
}

/// An account number to key at the account-number question (8 digits = the question's max).
const ACCOUNT_KEYS: &str = "12345678";

fn steps_for(expected: &Expected, nav: &NavigationAudio) -> Option<Vec<Step>> {
    let keys = |k: &str| Step::Keys(k.to_string());
    let to_account = || vec![keys("1"), keys("1"), keys("1")];
    Some(match expected {
        Expected::Intent(i) if i == "yes" || i == "no" => {
            let mut s = to_account();
            s.push(keys(ACCOUNT_KEYS));
            s
        }
        Expected::Intent(_) | Expected::Language(_) => Vec::new(),
        Expected::Slot { kind, .. } => match kind {
            SlotKind::Number => to_account(),
            SlotKind::YesNo => {
                let mut s = to_account();
                s.push(keys(ACCOUNT_KEYS));
                s
            }
            SlotKind::Postcode => vec![keys("2"), keys("1")],
            SlotKind::Date => vec![
                keys("1"),
                keys("1"),
                keys("3"),
                keys("1"),
                Step::Say(nav.postcode.clone()),
                Step::Say(nav.yes.clone()),
                keys("12#"),
            ],
            SlotKind::Other(_) => return None,
        },
    })
}

fn target_of(expected: &Expected) -> Target {
    match expected {
        Expected::Intent(i) => Target::Intent(i.clone()),
        Expected::Slot { kind, value } => Target::Slot {
            slot: kind.name().to_string(),
            value: value.clone(),
        },
        Expected::Language(l) => Target::Language(l.clone()),
    }
}

/// Synthesises every row with its voices (on blocking threads, two at a time: the engines are
/// processes) and adds the no-input set and the recording.
pub async fn build_jobs(rows: &[Utterance], options: &EvalOptions) -> Result<Vec<Job>, EvalError> {
    let nav_voice = CallerVoice::for_language("en-gb");
    let nav = NavigationAudio {
        postcode: speak_blocking(nav_voice.clone(), "R M one seven, six S L".to_string()).await?,
        yes: speak_blocking(nav_voice, "yes".to_string()).await?,
    };
    let mut wanted = Vec::new();
    for row in rows {
        let Some(steps) = steps_for(&row.expected, &nav) else {
            eprintln!(
                "eval: {}: no route to a {:?} question; skipped",
                row.id, row.expected
            );
            continue;
        };
        for voice in voices_for(row, &options.voices) {
            wanted.push((row.clone(), voice, steps.clone()));
        }
    }
    let mut jobs = Vec::with_capacity(wanted.len());
    for pair in wanted.chunks(2) {
        let mut handles = Vec::new();
        for (row, voice, steps) in pair.iter().cloned() {
            handles.push(tokio::task::spawn_blocking(move || {
                let audio = voice.speak(&row.text);
                (row, voice, steps, audio)
            }));
        }
        for handle in handles {
            let Ok((row, voice, steps, audio)) = handle.await else {
                continue;
            };
            let mut samples = audio::silence(200);
            samples.extend_from_slice(&audio?);
            jobs.push(Job {
                id: row.id.clone(),
                voice: voice.label(),
                target: target_of(&row.expected),
                question: QuestionKind::of(&row.expected),
                steps,
                audio: samples.into(),
            });
        }
    }
    if options.no_input {
        let sets: [(&str, Vec<i16>); 3] = [
            ("silence-4s", audio::silence(4000)),
            ("white-noise-3s", audio::white_noise(3000, 300.0, 11)),
            ("breathing-4s", audio::breathing_noise(4000, 400.0, 13)),
        ];
        for (id, samples) in sets {
            jobs.push(Job {
                id: id.to_string(),
                voice: "noise".to_string(),
                target: Target::NoInput,
                question: QuestionKind::Open,
                steps: Vec::new(),
                audio: samples.into(),
            });
        }
    }
    if let Some(path) = &options.recording {
        let mut samples = audio::silence(200);
        samples.extend(audio::load_wav_8k(path)?);
        jobs.push(Job {
            id: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "recording".into()),
            voice: "recording".to_string(),
            target: Target::Recording,
            question: QuestionKind::Open,
            steps: Vec::new(),
            audio: samples.into(),
        });
    }
    Ok(jobs)
}

pub(super) async fn speak_blocking(
    voice: CallerVoice,
    text: String,
) -> Result<Arc<[i16]>, EvalError> {
    tokio::task::spawn_blocking(move || voice.speak(&text))
        .await
        .map_err(|e| EvalError::Synthesis {
            voice: "navigation".into(),
            message: e.to_string(),
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_reach_the_right_questions() {
        let nav = NavigationAudio {
            postcode: Arc::from(vec![0i16; 10]),
            yes: Arc::from(vec![0i16; 10]),
        };
        let keys_of = |e: Expected| -> String {
            steps_for(&e, &nav)
                .unwrap_or_default()
                .iter()
                .filter_map(|s| match s {
                    Step::Keys(k) => Some(k.clone()),
                    Step::Say(_) => None,
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(keys_of(Expected::Intent("pothole".into())), "");
        assert_eq!(keys_of(Expected::Intent("yes".into())), "1,1,1,12345678");
        let slot = |k: SlotKind| Expected::Slot {
            kind: k,
            value: "x".into(),
        };
        assert_eq!(keys_of(slot(SlotKind::Postcode)), "2,1");
        assert_eq!(keys_of(slot(SlotKind::Number)), "1,1,1");
        assert_eq!(keys_of(slot(SlotKind::Date)), "1,1,3,1,12#");
        assert!(steps_for(&slot(SlotKind::Other("colour".into())), &nav).is_none());
    }
}
