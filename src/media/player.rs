//! The prompt player: a queue of 8 kHz clips and silence gaps, read out as 20 ms frames for the
//! RTP sender.
//!
//! Owns playback position, barge-in stop and completion counting. Must not touch: codecs, RTP
//! timing, files or synthesis (clips arrive decoded from `prompts`). Reading a frame never
//! allocates; dropping the last reference to a synthesised clip frees it, which is the only heap
//! work that can happen on the frame path.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Samples in one 20 ms frame at 8 kHz (RFC 3551 §4.5.14 default packetisation).
pub const FRAME_SAMPLES: usize = 160;

// One trait for everything that feeds the RTP sender: the session defines it.
pub use super::source::AudioSource;

/// One queued item.
#[derive(Debug, Clone)]
enum QueuedItem {
    Clip(Arc<[i16]>),
    /// A pause of this many samples.
    Silence(usize),
}

impl QueuedItem {
    fn len(&self) -> usize {
        match self {
            QueuedItem::Clip(clip) => clip.len(),
            QueuedItem::Silence(samples) => *samples,
        }
    }
}

/// Plays a queue of clips and silences gaplessly as 20 ms frames.
#[derive(Debug)]
pub struct PromptPlayer {
    queue: VecDeque<QueuedItem>,
    /// Samples of the front item already played.
    position: usize,
    /// Items played to their end since creation (stopped items are not counted).
    completed: u64,
    /// Set when the queue drains by playing to the end; cleared by `take_finished`, `enqueue`
    /// and `stop`.
    finished: bool,
}

impl Default for PromptPlayer {
    fn default() -> Self {
        Self::new()
    }
}

impl PromptPlayer {
    /// Typical depth of a `Play`: a few prompts and pauses. Reserved up front so ordinary
    /// enqueues do not allocate.
    const QUEUE_CAPACITY: usize = 16;

    /// An idle player.
    pub fn new() -> Self {
        PromptPlayer {
            queue: VecDeque::with_capacity(Self::QUEUE_CAPACITY),
            position: 0,
            completed: 0,
            finished: false,
        }
    }

    /// Queues a clip of 8 kHz samples after whatever is queued. Empty clips are ignored.
    pub fn enqueue(&mut self, clip: Arc<[i16]>) {
        if !clip.is_empty() {
            self.queue.push_back(QueuedItem::Clip(clip));
            self.finished = false;
        }
    }

    /// Queues a pause, rounded to whole samples at 8 kHz. Zero-length pauses are ignored.
    pub fn enqueue_silence(&mut self, length: Duration) {
        let samples = (length.as_micros() * 8 / 1000).min(usize::MAX as u128) as usize;
        if samples > 0 {
            self.queue.push_back(QueuedItem::Silence(samples));
            self.finished = false;
        }
    }

    /// Barge-in: stops immediately. The next frame is silence; nothing stopped counts as
    /// completed and no finished signal is raised.
    pub fn stop(&mut self) {
        self.queue.clear();
        self.position = 0;
        self.finished = false;
    }

    /// Drops everything queued, like [`PromptPlayer::stop`]; also forgets a pending finished
    /// signal (a new `Play` replaces the old one).
    pub fn clear(&mut self) {
        self.stop();
    }

    /// Whether anything is queued or playing.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether the last queued item has been played to its end and nothing else is queued.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Returns `true` once after the queue has been played to its end (the runtime's
    /// `PromptFinished`), then `false` until another queue finishes.
    pub fn take_finished(&mut self) -> bool {
        std::mem::take(&mut self.finished)
    }

    /// Items played to their end since this player was created.
    pub fn completed_items(&self) -> u64 {
        self.completed
    }

    /// Samples still to play in the queue.
    pub fn remaining_samples(&self) -> usize {
        self.queue
            .iter()
            .map(QueuedItem::len)
            .sum::<usize>()
            .saturating_sub(self.position)
    }
}

impl AudioSource for PromptPlayer {
    fn next_frame(&mut self, out: &mut [i16; FRAME_SAMPLES]) -> bool {
        if self.queue.is_empty() {
            out.fill(0);
            return false;
        }
        let mut written = 0;
        // Fill the frame across item boundaries so consecutive prompts play without a gap.
        while written < FRAME_SAMPLES {
            let Some(item) = self.queue.front() else {
                break;
            };
            let available = item.len().saturating_sub(self.position);
            let take = available.min(FRAME_SAMPLES - written);
            let target = &mut out[written..written + take];
            match item {
                QueuedItem::Clip(clip) => {
                    target.copy_from_slice(&clip[self.position..self.position + take]);
                }
                QueuedItem::Silence(_) => target.fill(0),
            }
            written += take;
            self.position += take;
            if self.position >= item.len() {
                self.queue.pop_front();
                self.position = 0;
                self.completed += 1;
                if self.queue.is_empty() {
                    self.finished = true;
                }
            }
        }
        // The tail of the last frame of the queue.
        out[written..].fill(0);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(start: i16, len: usize) -> Arc<[i16]> {
        (0..len)
            .map(|i| start + i as i16)
            .collect::<Vec<_>>()
            .into()
    }

    fn drain(player: &mut PromptPlayer) -> Vec<i16> {
        let mut all = Vec::new();
        let mut frame = [0i16; FRAME_SAMPLES];
        while player.next_frame(&mut frame) {
            all.extend_from_slice(&frame);
        }
        all
    }

    #[test]
    fn plays_clips_and_gaps_gaplessly_then_reports_finished_once() {
        let mut player = PromptPlayer::new();
        player.enqueue(ramp(1, 200));
        player.enqueue_silence(Duration::from_millis(10));
        player.enqueue(ramp(1000, 100));
        assert!(player.is_playing());
        assert_eq!(player.remaining_samples(), 380);
        let out = drain(&mut player);
        assert_eq!(out.len(), 480);
        assert_eq!(&out[..200], &ramp(1, 200)[..]);
        assert!(out[200..280].iter().all(|s| *s == 0));
        assert_eq!(&out[280..380], &ramp(1000, 100)[..]);
        assert!(out[380..].iter().all(|s| *s == 0));
        assert_eq!(player.completed_items(), 3);
        assert!(player.is_finished());
        assert!(player.take_finished());
        assert!(!player.take_finished());
        let mut frame = [7i16; FRAME_SAMPLES];
        assert!(!player.next_frame(&mut frame));
        assert_eq!(frame, [0i16; FRAME_SAMPLES]);
    }

    #[test]
    fn stop_silences_the_next_frame_without_finishing() {
        let mut player = PromptPlayer::new();
        player.enqueue(ramp(1, 16000));
        let mut frame = [0i16; FRAME_SAMPLES];
        assert!(player.next_frame(&mut frame));
        player.stop();
        assert!(!player.next_frame(&mut frame));
        assert_eq!(frame, [0i16; FRAME_SAMPLES]);
        assert!(!player.is_finished());
        assert_eq!(player.completed_items(), 0);
        // A new queue after a stop plays from its start.
        player.enqueue(ramp(5, 10));
        assert!(player.next_frame(&mut frame));
        assert_eq!(frame[0], 5);
    }

    #[test]
    fn empty_items_are_ignored() {
        let mut player = PromptPlayer::new();
        player.enqueue(Vec::<i16>::new().into());
        player.enqueue_silence(Duration::ZERO);
        assert!(!player.is_playing());
        let mut frame = [0i16; FRAME_SAMPLES];
        assert!(!player.next_frame(&mut frame));
        assert!(!player.is_finished());
    }

    #[test]
    fn exact_frame_multiple_finishes_on_its_last_frame() {
        let mut player = PromptPlayer::new();
        player.enqueue(ramp(1, 320));
        let mut frame = [0i16; FRAME_SAMPLES];
        assert!(player.next_frame(&mut frame));
        assert!(!player.is_finished());
        assert!(player.next_frame(&mut frame));
        assert!(player.is_finished());
        assert!(!player.next_frame(&mut frame));
    }
}
