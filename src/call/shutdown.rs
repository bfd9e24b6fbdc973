//! What calls learn of a server shutdown: whether to close, how, and the count of calls the
//! server must wait for before it may exit.
//!
//! Owns: the close mode every call reads (the media clock reads it once per call per 20 ms
//! tick, so it is an atomic, never a lock), and the tickets that count calls from INVITE until
//! their call record is written. Must not touch: when to close (that is `drain`), what a call
//! does on closing (that is the call runtime).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How calls are being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CloseMode {
    /// Serving (or draining: calls in progress continue as normal).
    Open,
    /// Play the closing message, then BYE.
    WithMessage,
    /// BYE at once.
    Now,
}

impl CloseMode {
    fn from_u8(v: u8) -> CloseMode {
        match v {
            0 => CloseMode::Open,
            1 => CloseMode::WithMessage,
            _ => CloseMode::Now,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            CloseMode::Open => 0,
            CloseMode::WithMessage => 1,
            CloseMode::Now => 2,
        }
    }
}

/// What a call needs to close itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingSettings {
    /// The prompt played before the BYE.
    pub prompt: String,
    /// The longest the prompt may play.
    pub message_max: Duration,
    /// How long a closing call waits for its BYE to end the dialog before it ends anyway.
    pub bye_wait: Duration,
}

impl ClosingSettings {
    /// From the `shutdown` section of the configuration.
    pub fn from_config(c: &crate::config::ShutdownConfig) -> ClosingSettings {
        ClosingSettings {
            prompt: c.closing_prompt.clone(),
            message_max: Duration::from_secs(c.closing_message_max_secs),
            bye_wait: Duration::from_secs(c.bye_wait_secs),
        }
    }
}

impl Default for ClosingSettings {
    fn default() -> Self {
        ClosingSettings::from_config(&crate::config::ShutdownConfig::default())
    }
}

/// Shared by the server and every call.
#[derive(Debug)]
pub struct CallShutdown {
    mode: AtomicU8,
    changed: Notify,
    live: AtomicUsize,
    settings: ClosingSettings,
}

impl CallShutdown {
    pub fn new(settings: ClosingSettings) -> Arc<CallShutdown> {
        Arc::new(CallShutdown {
            mode: AtomicU8::new(CloseMode::Open.as_u8()),
            changed: Notify::new(),
            live: AtomicUsize::new(0),
            settings,
        })
    }

    pub fn settings(&self) -> &ClosingSettings {
        &self.settings
    }

    /// Tells every call to close; a mode never goes back (a message already cut short is
    /// not started again).
    pub fn close(&self, mode: CloseMode) {
        let previous = self.mode.fetch_max(mode.as_u8(), Ordering::AcqRel);
        if previous < mode.as_u8() {
            self.changed.notify_waiters();
        }
    }

    pub fn mode(&self) -> CloseMode {
        CloseMode::from_u8(self.mode.load(Ordering::Acquire))
    }

    /// Resolves once calls are told to close.
    pub async fn closing(&self) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before looking, so a close between the look and the wait still wakes.
            changed.as_mut().enable();
            if self.mode() != CloseMode::Open {
                return;
            }
            changed.await;
        }
    }

    /// Counts a new call until the ticket is dropped (after its call record is written).
    pub fn ticket(self: &Arc<Self>) -> CallTicket {
        self.live.fetch_add(1, Ordering::AcqRel);
        CallTicket(Arc::clone(self))
    }

    /// Calls from INVITE whose end (and call record) is not yet done.
    pub fn live_calls(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }
}

/// One call counted by [`CallShutdown::live_calls`] while the ticket lives.
#[derive(Debug)]
pub struct CallTicket(Arc<CallShutdown>);

impl Drop for CallTicket {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_count_live_calls() {
        let s = CallShutdown::new(ClosingSettings::default());
        let a = s.ticket();
        let b = s.ticket();
        assert_eq!(s.live_calls(), 2);
        drop(a);
        assert_eq!(s.live_calls(), 1);
        drop(b);
        assert_eq!(s.live_calls(), 0);
    }

    #[test]
    fn the_close_mode_only_escalates() {
        let s = CallShutdown::new(ClosingSettings::default());
        assert_eq!(s.mode(), CloseMode::Open);
        s.close(CloseMode::WithMessage);
        assert_eq!(s.mode(), CloseMode::WithMessage);
        s.close(CloseMode::Now);
        s.close(CloseMode::WithMessage);
        assert_eq!(s.mode(), CloseMode::Now);
    }

    #[tokio::test]
    async fn waiters_wake_on_close() {
        let s = CallShutdown::new(ClosingSettings::default());
        let waiter = {
            let s = Arc::clone(&s);
            tokio::spawn(async move { s.closing().await })
        };
        tokio::task::yield_now().await;
        s.close(CloseMode::Now);
        let woke = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(matches!(woke, Ok(Ok(()))));
    }
}
