//! The retention job: the running server applies `cases.retention_days` by itself, once at start
//! and then every [`RETENTION_INTERVAL`], with the same store operation as
//! `frontdoor records retention` ([`CaseStore::apply_retention`]): transcripts (call turns, case
//! excerpts) and delivered outbox payloads older than the period are deleted, aggregates (times,
//! outcome, node path, media stats) are kept.
//!
//! Owns only the schedule and the clock; the deletion itself is the store's. The wall clock is
//! injected ([`WallClock`]) so that tests decide how old every record is, and so is the period
//! between runs, so that a test sees several runs in well under a second.
//!
//! Must not touch: calls, flows, the outbox worker.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::backend::RetentionReport;
use super::error::CrmError;
use super::store::{CaseStore, RetentionPolicy};

/// How often the running server applies the retention period. Hourly: the period is counted in
/// days, so a record outlives it by at most an hour, and one run is a single indexed statement
/// per table.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// The shortest period between runs [`RetentionJob::spawn_with`] accepts (tests use short
/// periods; zero would spin).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Seconds in one retention day.
const SECONDS_PER_DAY: u64 = 86_400;

/// Where the job reads "now" from (wall time decides a record's age, so it cannot be tokio's
/// monotonic clock).
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The policy for `cases.retention_days`; `None` when it is 0 (keep transcripts forever,
/// e.g. while a legal hold is in force).
pub fn policy_for_days(days: u32) -> Option<RetentionPolicy> {
    (days > 0).then(|| RetentionPolicy {
        transcripts: Duration::from_secs(u64::from(days) * SECONDS_PER_DAY),
    })
}

/// A running retention job; stopped when [`shutdown`](Self::shutdown) is called, and left
/// running (for the life of the process) when dropped.
pub struct RetentionJob {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RetentionJob {
    /// Starts the job for `cases.retention_days` with the system clock, or `None` when the
    /// period is 0 (retention off).
    pub fn spawn(store: Arc<CaseStore>, days: u32) -> Option<RetentionJob> {
        let policy = policy_for_days(days)?;
        Some(Self::spawn_with(
            store,
            policy,
            RETENTION_INTERVAL,
            Arc::new(Utc::now),
        ))
    }

    /// Starts the job with an explicit period between runs and wall clock. The first run is
    /// immediate.
    pub fn spawn_with(
        store: Arc<CaseStore>,
        policy: RetentionPolicy,
        every: Duration,
        clock: WallClock,
    ) -> RetentionJob {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(MIN_INTERVAL));
            // A run missed while the process was suspended is not made up in a burst: one run
            // catches up on everything that aged meanwhile.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    // Only an explicit shutdown stops the job; a dropped handle does not.
                    Ok(()) = stopped.changed() => {}
                }
                if *stopped.borrow() {
                    break;
                }
                match run_once(&store, policy, clock()).await {
                    Ok(report) => log_report(&report),
                    // The store may be stalled or restarting: the next run tries again, and
                    // nothing is lost by deleting an hour late.
                    Err(e) => tracing::warn!(error = %e, "retention: run failed, will retry"),
                }
            }
        });
        RetentionJob { stop, task }
    }

    /// Stops the job after the run in progress, if any, and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// One retention run at wall time `now`.
pub async fn run_once(
    store: &CaseStore,
    policy: RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<RetentionReport, CrmError> {
    store.apply_retention(policy, now).await
}

fn log_report(report: &RetentionReport) {
    if report.calls_redacted + report.cases_redacted + report.outbox_rows_deleted > 0 {
        tracing::info!(
            calls = report.calls_redacted,
            cases = report.cases_redacted,
            outbox_rows = report.outbox_rows_deleted,
            "retention: transcripts past the retention period deleted"
        );
    } else {
        tracing::debug!("retention: nothing past the retention period");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_days_turns_retention_off() {
        assert!(policy_for_days(0).is_none());
        let policy = policy_for_days(30).map(|p| p.transcripts);
        assert_eq!(policy, Some(Duration::from_secs(30 * 86_400)));
    }
}
