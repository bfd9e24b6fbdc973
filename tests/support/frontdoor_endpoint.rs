//! Frontdoor's side of a virtual call (user agent, answer decisions, call core, scripted
//! services) is the product's (`frontdoor::rehearsal::endpoint`); this adds what only the call
//! scenarios use: short square-wave prompts, one advisor queue, and settings with and without
//! a recogniser. Mounted with `#[path]` next to `vnet` and `virtual_caller` (see `vnet`).
#![allow(dead_code, unused_imports)]

use std::sync::Arc;
use std::time::Duration;

pub use frontdoor::rehearsal::endpoint::*;

use frontdoor::asr::{AsrError, RecognizeOptions, Recognizer, RecognizerPool, Transcript};
use frontdoor::call::core::{CallSettings, HOLDING_PROMPT};
use frontdoor::call::shutdown::ClosingSettings;
use frontdoor::call::speech::SpeechServices;
use frontdoor::config::MediaPolicy;
use frontdoor::handoff::{Queue, QueueDirectory};
use frontdoor::prompts::library::PromptLibrary;

/// Prompts every scenario may play: `short` (200 ms), `one_second`, `long` (5 s).
pub fn test_prompts() -> PromptLibrary {
    PromptLibrary::from_clips([
        ("short", None, square_clip(200)),
        ("one_second", None, square_clip(1_000)),
        ("long", None, square_clip(5_000)),
        (HOLDING_PROMPT, None, square_clip(800)),
    ])
}

/// The one queue a `Transfer` may name.
pub const ADVISORS: &str = "advisors";

/// Settings for the scenarios: test prompts, no recogniser, no synthesiser, a case store.
pub fn test_settings(media_timeout: Duration) -> Arc<CallSettings> {
    Arc::new(CallSettings {
        prompts: test_prompts(),
        speech: Arc::new(SpeechServices::disabled()),
        queues: QueueDirectory::new(vec![Queue {
            name: ADVISORS.into(),
            uri: "sip:advisor@127.0.0.3:5060".into(),
        }])
        .unwrap_or_else(|e| panic!("queues: {e}")),
        media_policy: MediaPolicy::default(),
        media_timeout,
        advertised_ip: frontdoor_rtp().ip(),
        closing: ClosingSettings::default(),
        case_store: true,
        synthesis: false,
    })
}

/// Settings with a recogniser pool, so speech `ask`s listen: its jobs are never submitted
/// (the scripted driver answers them in virtual time), so its one recogniser is never asked.
pub fn test_settings_with_speech(media_timeout: Duration) -> Arc<CallSettings> {
    let mut settings = test_settings(media_timeout);
    let pool = RecognizerPool::new(vec![Arc::new(NeverAsked)], 4);
    if let Some(s) = Arc::get_mut(&mut settings) {
        s.speech = Arc::new(SpeechServices::with_pool(pool));
    }
    settings
}

/// The pool's recogniser in the scenarios: the scripted driver answers every job itself.
struct NeverAsked;

impl Recognizer for NeverAsked {
    fn recognize(&self, _audio: &[f32], _opts: &RecognizeOptions) -> Result<Transcript, AsrError> {
        Ok(Transcript::default())
    }
}
