//! The [`CaseSink`] trait: a remote system that receives case events from the outbox.
//!
//! Sinks are fed only by the outbox worker, never by a call: a slow or failing CRM delays
//! delivery, it never delays a caller.

use std::future::Future;

use super::case::OutboxEvent;
use super::error::SinkError;

/// A remote receiver of case events (a CRM webhook, a queue, a mirror database).
///
/// `deliver` must be idempotent on the receiving side by [`OutboxEvent::idempotency_key`]:
/// delivery is at least once, so after a crash or a lost response the same event comes again.
pub trait CaseSink: Send + Sync {
    /// Sends one event. `Ok` means the receiver has durably accepted it.
    fn deliver(&self, event: &OutboxEvent) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Name of the sink in `frontdoor.yaml`; the outbox keeps one queue per name.
    fn name(&self) -> &str;
    /// Whether erasure requests (`case.erased`) are sent to it.
    fn supports_erasure(&self) -> bool;
}
