//! What a rehearsed call of one flow plays on: the call settings `serve` would give it, with
//! scripted stand-ins where a rehearsal cannot run the real thing.
//!
//! Prompts are the rendered library (`audio-prompts/`, their real lengths) where a recording
//! exists, and otherwise a clip as long as the prompt's text would take to say; queues are the
//! ones the flow names; recognition and language detection are pools with no workers (the
//! rehearsal's endpoint answers their jobs itself, so no model is loaded and no thread starts).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::RehearsalError;
use super::caller::Vowels;
use super::endpoint::{frontdoor_rtp, square_clip};
use crate::asr::{LanguageDetector, RecognizerPool};
use crate::call::core::{CallSettings, HOLDING_PROMPT};
use crate::call::shutdown::ClosingSettings;
use crate::call::speech::SpeechServices;
use crate::config::MediaPolicy;
use crate::flow::model::{CheckedFlow, NodeKind};
use crate::flow::understand::Understanding;
use crate::handoff::{Queue, QueueDirectory};
use crate::prompts::library::PromptLibrary;

/// How long a prompt with no recording takes per character of its text: about a speaker's
/// pace (150 words a minute of six characters each), so waits in a rehearsal are of a live
/// call's order.
pub const PER_CHARACTER: Duration = Duration::from_millis(60);

/// The longest a rehearsed utterance is (the endpointer would cut a much longer one).
pub const LONGEST_UTTERANCE: Duration = Duration::from_secs(6);

/// The shortest clip a prompt or a text becomes.
const SHORTEST_CLIP_MS: usize = 300;

/// How long a caller may send nothing before the call gives up on its media.
const MEDIA_TIMEOUT: Duration = Duration::from_secs(30);

/// A flow made ready for rehearsed calls: checked flow, its understanding and the settings its
/// calls run with. Built once; every [`super::Session`] on it shares it.
pub struct Stage {
    pub(super) flow: Arc<CheckedFlow>,
    pub(super) understanding: Arc<Understanding>,
    pub(super) settings: Arc<CallSettings>,
    /// Each queue's URI and name (a REFER names the URI).
    pub(super) queue_uris: Vec<(String, String)>,
    /// What the caller's utterances are cut from.
    pub(super) vowels: Vowels,
}

impl Stage {
    /// `prompts_dir`: the rendered prompt library, when there is one (a missing directory
    /// simply means every prompt is sized from its text).
    pub fn new(
        flow: Arc<CheckedFlow>,
        understanding: Arc<Understanding>,
        prompts_dir: Option<&Path>,
    ) -> Result<Stage, RehearsalError> {
        let recorded = match prompts_dir.filter(|d| d.is_dir()) {
            Some(dir) => {
                let languages: Vec<&str> = flow.languages.iter().map(String::as_str).collect();
                Some(PromptLibrary::load(dir, &languages)?)
            }
            None => None,
        };
        let queue_uris = queue_uris(&flow);
        let queues = QueueDirectory::new(
            queue_uris
                .iter()
                .map(|(uri, name)| Queue {
                    name: name.clone(),
                    uri: uri.clone(),
                })
                .collect(),
        )?;
        let settings = CallSettings {
            prompts: prompt_library(&flow, recorded),
            speech: Arc::new(SpeechServices::with_pools(
                RecognizerPool::new(Vec::new(), 4),
                LanguageDetector::with_pool(RecognizerPool::new(Vec::new(), 4)),
            )),
            queues,
            media_policy: MediaPolicy::default(),
            media_timeout: MEDIA_TIMEOUT,
            advertised_ip: frontdoor_rtp().ip(),
            closing: ClosingSettings::default(),
            case_store: true,
            synthesis: true,
        };
        Ok(Stage {
            flow,
            understanding,
            settings: Arc::new(settings),
            queue_uris,
            vowels: Vowels::new(LONGEST_UTTERANCE),
        })
    }

    pub fn flow(&self) -> &Arc<CheckedFlow> {
        &self.flow
    }
}

/// A clip as long as `text` takes to say.
pub fn spoken_length(text: &str) -> Duration {
    let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    PER_CHARACTER
        .saturating_mul(chars)
        .max(Duration::from_millis(SHORTEST_CLIP_MS as u64))
}

/// Every prompt of the flow: the recording when there is one in the prompt's language (or the
/// default language's, as the call falls back), else a clip sized from its text.
fn prompt_library(flow: &CheckedFlow, recorded: Option<PromptLibrary>) -> PromptLibrary {
    let recorded = recorded.unwrap_or_default();
    let default = flow.default_language().to_string();
    let mut clips = Vec::new();
    for ((lang, name), text) in &flow.prompt_texts {
        let lang = (*lang != default).then_some(lang.as_str());
        if recorded.get(name, lang).is_none() {
            clips.push((name.as_str(), lang, clip_for(text)));
        }
    }
    if recorded.get(HOLDING_PROMPT, None).is_none() {
        clips.push((HOLDING_PROMPT, None, clip_for("One moment.")));
    }
    recorded.with_clips(clips)
}

fn clip_for(text: &str) -> Arc<[i16]> {
    square_clip(usize::try_from(spoken_length(text).as_millis()).unwrap_or(SHORTEST_CLIP_MS))
}

/// Every queue the flow may transfer to, each at a made-up advisor address (no advisor
/// answers in a rehearsal; the caller's phone follows the REFER or refuses it): URI and name.
fn queue_uris(flow: &CheckedFlow) -> Vec<(String, String)> {
    let settings = &flow.settings;
    let mut names = vec![
        settings.advisor_queue.clone(),
        settings.emergency_queue.clone(),
        settings.interpreter_queue.clone(),
    ];
    for node in &flow.nodes {
        if let NodeKind::Transfer { queue, .. } = &node.kind {
            names.push(queue.clone());
        }
    }
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| (format!("sip:{name}@127.0.0.3:5060"), name))
        .collect()
}
