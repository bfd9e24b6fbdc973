//! What the caller hears: the handler's prompts (from memory, or synthesised by the driver),
//! the holding phrase while a queued decode is awaited, and the closing message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::hangup::Phase;
use super::{Call, Request};
use crate::handler::{CallEvent, HangupCause, PlayItem};
use crate::media::player::PromptPlayer;

/// Whose audio is playing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clip {
    /// The handler's prompt: its end is the handler's `PromptFinished`.
    Prompt,
    /// The holding phrase: ours, its end tells the handler nothing.
    Holding,
    /// The closing message of a server stop: its end is the BYE.
    Closing,
}

/// What is playing.
#[derive(Debug, Default)]
pub(super) enum Playback {
    #[default]
    Idle,
    /// The handler's `Play` is being synthesised (it counts as playing: the no-input timer
    /// waits for it).
    Synthesising { barge_in: bool },
    /// Audio plays; `pending` follows it (a second `Play` while one plays).
    Playing {
        clip: Clip,
        barge_in: bool,
        pending: Vec<Arc<[i16]>>,
    },
}

impl Playback {
    pub(super) fn is_playing(&self) -> bool {
        !matches!(self, Playback::Idle)
    }

    /// Whether caller speech or keys stop what plays (false when nothing plays).
    pub(super) fn interruptible(&self) -> bool {
        match self {
            Playback::Idle => false,
            Playback::Synthesising { barge_in } | Playback::Playing { barge_in, .. } => *barge_in,
        }
    }

    /// Whether caller speech is ignored now (a prompt that may not be interrupted plays).
    pub(super) fn deaf(&self) -> bool {
        self.is_playing() && !self.interruptible()
    }
}

impl Call {
    /// Stops whatever plays; a synthesis still running for it is dropped when it comes back.
    pub(super) fn stop_playback(&mut self) {
        self.generation += 1;
        self.playback = Playback::Idle;
        self.media.set_source(None);
    }

    /// Plays prompts now when they are all in memory; otherwise asks the driver to synthesise
    /// the `Play` off the media thread.
    pub(super) fn play(&mut self, items: Vec<PlayItem>, barge_in: bool) {
        let slow = self.slow;
        let mut clips = Vec::with_capacity(items.len());
        let mut needs_synthesis = false;
        for item in &items {
            match item {
                PlayItem::Prompt { name, lang } => {
                    let prompts = &self.settings.prompts;
                    let clip = if slow {
                        prompts.get_slow(name, lang.as_deref())
                    } else {
                        prompts.get(name, lang.as_deref())
                    };
                    match clip {
                        Some(c) => clips.push(c),
                        None => {
                            tracing::error!(call_id = %self.info.call_id, prompt = %name, "prompt missing at play time");
                        }
                    }
                }
                PlayItem::Silence(d) => clips.push(silence(*d)),
                PlayItem::Text { .. } => needs_synthesis = true,
            }
        }
        if !needs_synthesis {
            self.queue_clips(clips, barge_in);
            return;
        }
        if !self.settings.synthesis {
            tracing::error!(call_id = %self.info.call_id, "text prompt but no synthesiser configured");
            self.queue_clips(clips, barge_in);
            return;
        }
        let generation = self.generation;
        if !matches!(self.playback, Playback::Playing { .. }) {
            self.playback = Playback::Synthesising { barge_in };
        }
        self.request(Request::Synthesise {
            generation,
            items,
            slow,
            barge_in,
        });
    }

    pub(super) fn on_synthesised(
        &mut self,
        generation: u64,
        clips: Vec<Arc<[i16]>>,
        barge_in: bool,
    ) {
        if generation != self.generation || self.phase.is_hanging_up() {
            return;
        }
        self.queue_clips(clips, barge_in);
    }

    fn queue_clips(&mut self, clips: Vec<Arc<[i16]>>, barge_in: bool) {
        let source_playing = self.media.is_playing();
        match &mut self.playback {
            Playback::Playing {
                barge_in: b,
                pending,
                ..
            } if source_playing => {
                *b = barge_in;
                pending.extend(clips);
            }
            _ => self.start_player(Clip::Prompt, clips, barge_in),
        }
    }

    fn start_player(&mut self, clip: Clip, clips: Vec<Arc<[i16]>>, barge_in: bool) {
        let mut player = PromptPlayer::new();
        for c in clips {
            player.enqueue(c);
        }
        self.playback = Playback::Playing {
            clip,
            barge_in,
            pending: Vec::new(),
        };
        self.media.set_source(Some(Box::new(player)));
    }

    /// "One moment": a queued decode keeps the caller waiting.
    pub(super) fn play_holding_phrase(&mut self) {
        let Some(clip) = self.settings.prompts.get(super::HOLDING_PROMPT, None) else {
            tracing::debug!(call_id = %self.info.call_id, "no holding prompt to play");
            return;
        };
        self.start_player(Clip::Holding, vec![clip], false);
    }

    pub(super) fn is_holding(&self) -> bool {
        matches!(
            self.playback,
            Playback::Playing {
                clip: Clip::Holding,
                ..
            }
        )
    }

    pub(super) fn start_closing_message(&mut self, clip: Arc<[i16]>) {
        self.start_player(Clip::Closing, vec![clip], false);
    }

    /// What was playing has been played to its end.
    pub(super) fn on_source_finished(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Closing { .. }) {
            // The closing message was heard: BYE.
            self.hang_up(now, HangupCause::Shutdown);
            return;
        }
        match std::mem::take(&mut self.playback) {
            Playback::Playing {
                clip: Clip::Holding,
                pending,
                ..
            } if pending.is_empty() => return,
            Playback::Playing {
                pending, barge_in, ..
            } if !pending.is_empty() => {
                self.start_player(Clip::Prompt, pending, barge_in);
                return;
            }
            _ => {}
        }
        if let Some(l) = &mut self.listening
            && l.no_input_at.is_none()
            && l.digits.is_empty()
        {
            l.no_input_at = Some(now + l.spec.no_input_timeout);
        }
        self.raise(CallEvent::PromptFinished);
    }
}

/// `d` of silence at 8 kHz.
pub fn silence(d: Duration) -> Arc<[i16]> {
    let samples = (d.as_millis() as usize).saturating_mul(8);
    vec![0i16; samples].into()
}
