//! [`OutboxWorker`]: the background task that delivers outbox events to one remote sink.
//!
//! At least once, in order per case, with exponential backoff and jitter between attempts, and
//! dead-lettering after `max_attempts` so that one poisoned case never holds up the others.
//! All state lives in the store, so a restarted process resumes where the last one stopped
//! (events it had leased become due again when the lease runs out).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::RngExt;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::error::SinkError;
use super::sink::CaseSink;
use super::store::CaseStore;

/// Exponential backoff with "equal jitter": attempt n waits between half and all of
/// `initial · 2^(n-1)` (capped at `max`), so retries from many cases spread out instead of
/// hitting a recovering CRM at the same instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The wait before the next attempt after `failures` failed attempts (≥ 1). A receiver's
    /// `Retry-After` raises the wait (never above `max`).
    pub fn delay<R: rand::Rng + ?Sized>(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        rng: &mut R,
    ) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let full = self.initial.saturating_mul(1u32 << exp).min(self.max);
        let half = full / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(if jitter_ms == 0 {
            0
        } else {
            rng.random_range(0..=jitter_ms)
        });
        let base = half + jitter;
        match retry_after {
            Some(hint) => base.max(hint.min(self.max)),
            None => base,
        }
    }
}

/// How an [`OutboxWorker`] paces itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxConfig {
    /// Attempts before an event is parked as a dead letter.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Events taken per round (delivered concurrently: at most one per case).
    pub batch: usize,
    /// How long a taken event is reserved for this worker; also the longest one delivery may
    /// take before it counts as failed. Longer than the sink's own timeout.
    pub lease: Duration,
    /// Longest sleep between looks at the store when nothing is due (picks up rows written by
    /// other instances sharing a PostgreSQL store, and leases that ran out).
    pub poll_interval: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 10,
            backoff: Backoff::default(),
            batch: 64,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
        }
    }
}

impl OutboxConfig {
    /// The defaults with a lease fitted to a sink whose requests time out after
    /// `delivery_timeout`: twice that plus 5 s. The lease is also how long events that a killed
    /// process had taken wait before a restarted one retries them, so it should be no longer
    /// than a delivery can really take (a fixed minute held every in-flight case of a crashed
    /// server back for a minute after restart).
    pub fn for_delivery_timeout(delivery_timeout: Duration) -> Self {
        OutboxConfig {
            lease: delivery_timeout
                .saturating_mul(2)
                .saturating_add(Duration::from_secs(5)),
            ..OutboxConfig::default()
        }
    }
}

/// A running delivery task for one sink. Dropping it leaves the task running; call
/// [`shutdown`](Self::shutdown) to stop it between rounds.
pub struct OutboxWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl OutboxWorker {
    /// Registers `sink` with the store (so new case events get outbox rows for it) and starts
    /// delivering. Start every worker before the first call is answered.
    pub fn spawn<S: CaseSink + 'static>(
        store: Arc<CaseStore>,
        sink: Arc<S>,
        config: OutboxConfig,
    ) -> Self {
        store.register_sink(sink.name(), sink.supports_erasure());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, sink, config, stopped));
        OutboxWorker { stop, task }
    }

    /// Stops the worker after its current round (deliveries in flight finish or time out).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run<S: CaseSink + 'static>(
    store: Arc<CaseStore>,
    sink: Arc<S>,
    config: OutboxConfig,
    mut stopped: watch::Receiver<bool>,
) {
    let name = sink.name().to_string();
    let notify = store.outbox_notifier();
    while !*stopped.borrow() {
        // Registered before looking, so a commit between the look and the sleep still wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();

        let now = Utc::now();
        let events = match store
            .claim_due(&name, now, config.lease, config.batch.max(1))
            .await
        {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "outbox: cannot read the store");
                wait(&mut stopped, notified, config.poll_interval).await;
                continue;
            }
        };
        if events.is_empty() {
            let sleep = match store.next_due(&name).await {
                Ok(Some(due)) => (due - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(config.poll_interval),
                _ => config.poll_interval,
            };
            wait(&mut stopped, notified, sleep.max(Duration::from_millis(5))).await;
            continue;
        }

        // At most one event per case is in a batch, so delivering them concurrently keeps
        // per-case order.
        let mut deliveries = JoinSet::new();
        for event in events {
            let sink = sink.clone();
            let lease = config.lease;
            deliveries.spawn(async move {
                let outcome = match tokio::time::timeout(lease, sink.deliver(&event)).await {
                    Ok(r) => r,
                    Err(_) => Err(SinkError::Transient {
                        reason: "no answer within the lease".into(),
                        retry_after: None,
                    }),
                };
                (event, outcome)
            });
        }
        while let Some(joined) = deliveries.join_next().await {
            let Ok((event, outcome)) = joined else {
                tracing::error!(sink = %name, "outbox: a delivery task panicked; its event is retried after the lease");
                continue;
            };
            let failures = event.attempts.saturating_add(1);
            let result = match outcome {
                Ok(()) => store.mark_delivered(event.id, Utc::now()).await,
                Err(SinkError::Transient {
                    reason,
                    retry_after,
                }) if failures < config.max_attempts => {
                    let delay = config
                        .backoff
                        .delay(failures, retry_after, &mut rand::rng());
                    let at = Utc::now()
                        + chrono::Duration::from_std(delay)
                            .unwrap_or(chrono::Duration::seconds(300));
                    tracing::info!(sink = %name, event = event.id, case = %event.case_reference, attempt = failures,
                        ?delay, %reason, "outbox: delivery failed, will retry");
                    store.mark_failed(event.id, reason, Some(at)).await
                }
                Err(e) => {
                    tracing::warn!(sink = %name, event = event.id, case = %event.case_reference, attempt = failures,
                        error = %e, "outbox: event parked as dead letter");
                    store.mark_failed(event.id, e.to_string(), None).await
                }
            };
            if let Err(e) = result {
                // The lease runs out and the event is retried: at least once, never lost.
                tracing::warn!(sink = %name, event = event.id, error = %e, "outbox: cannot record delivery outcome");
            }
        }
    }
}

async fn wait(
    stopped: &mut watch::Receiver<bool>,
    notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    timeout: Duration,
) {
    tokio::select! {
        _ = notified => {}
        _ = tokio::time::sleep(timeout) => {}
        _ = stopped.changed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lease_outlasts_the_sink_timeout() {
        let c = OutboxConfig::for_delivery_timeout(Duration::from_secs(10));
        assert_eq!(c.lease, Duration::from_secs(25));
        assert_eq!(c.max_attempts, OutboxConfig::default().max_attempts);
    }

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for failures in 1..40u32 {
            let full = Duration::from_secs(1u64 << failures.saturating_sub(1).min(30)).min(b.max);
            for _ in 0..50 {
                let d = b.delay(failures, None, &mut rng);
                assert!(
                    d >= full / 2 && d <= full,
                    "failures {failures}: {d:?} vs {full:?}"
                );
            }
        }
    }

    #[test]
    fn retry_after_raises_the_wait_but_not_above_max() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        assert!(b.delay(1, Some(Duration::from_secs(5)), &mut rng) >= Duration::from_secs(5));
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(500)), &mut rng),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn jitter_spreads_retries() {
        let b = Backoff::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let set: std::collections::HashSet<Duration> =
            (0..100).map(|_| b.delay(4, None, &mut rng)).collect();
        assert!(set.len() > 50);
    }
}
