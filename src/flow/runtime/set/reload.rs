//! Hot reload: the [`FlowRegistry`] serves one [`FlowSet`], swaps in a new valid set
//! atomically, and keeps the old one when a change is invalid; [`FlowRegistry::watch`] runs the
//! thread that reloads when the flows or prompts directories change.
//!
//! Owns swapping and watching. Must not touch calls: a call holds the `Arc<CheckedFlow>` it
//! started with, so a swap never changes a call in progress.

use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::FlowSet;
use crate::flow::language::diag::Diagnostics;

/// Errors of starting the hot-reload watch (a rejected flow change is [`Diagnostics`]).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("cannot watch the flows directory: {0}")]
    Watch(#[from] notify::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The flows being served, swapped atomically on a valid change.
#[derive(Debug)]
pub struct FlowRegistry {
    current: RwLock<Arc<FlowSet>>,
    /// Digest of the diagnostics of the last rejected reload: the same rejection (one save
    /// seen by several change events, a SIGHUP with nothing changed) is logged once.
    last_rejection: std::sync::Mutex<Option<u64>>,
}

/// Keeps the directory watch alive; dropping it stops watching.
pub struct FlowWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Changes closer together than this are one reload (editors write files in several steps).
const DEBOUNCE: Duration = Duration::from_millis(250);

impl FlowRegistry {
    pub fn new(set: FlowSet) -> Self {
        FlowRegistry {
            current: RwLock::new(Arc::new(set)),
            last_rejection: std::sync::Mutex::new(None),
        }
    }

    /// The set new calls use. A call keeps the `Arc` it got for its whole life.
    pub fn current(&self) -> Arc<FlowSet> {
        // A poisoned lock only means a writer panicked between swaps; the Arc is still whole.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reloads from the current set's directories. Valid: swapped in. Invalid: the old set
    /// keeps serving and the diagnostics are returned (and logged once per distinct
    /// rejection, so one save seen by several change events is not repeated).
    pub fn reload(&self) -> Result<(), Diagnostics> {
        self.reload_logging(false)
    }

    /// As [`Self::reload`], for an operator's explicit request (SIGHUP): the diagnostics are
    /// logged even when they are the same as last time, since someone is waiting to read them.
    /// They stay bounded (see `diag::MAX_QUOTED_CHARS`).
    pub fn reload_requested(&self) -> Result<(), Diagnostics> {
        self.reload_logging(true)
    }

    fn reload_logging(&self, requested: bool) -> Result<(), Diagnostics> {
        let old = self.current();
        match FlowSet::load_with(old.dir(), old.prompts_dir(), old.embedder().cloned()) {
            Ok(set) => {
                let versions: Vec<String> = set
                    .flows()
                    .map(|f| format!("{}@{}", f.flow.name, f.flow.version))
                    .collect();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
                *self
                    .last_rejection
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = None;
                tracing::info!(flows = ?versions, "call flows reloaded");
                Ok(())
            }
            Err(diags) => {
                // Quotes are bounded (see `diag::MAX_QUOTED_CHARS`), so this line is small
                // however large the rejected file is.
                let text = diags.render_human();
                let digest = {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    text.hash(&mut h);
                    h.finish()
                };
                let repeated = self
                    .last_rejection
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .replace(digest)
                    == Some(digest);
                if repeated && requested {
                    tracing::error!(
                        errors = diags.error_count(),
                        "call flows still rejected on reload; previous version keeps serving:\n{text}"
                    );
                } else if repeated {
                    tracing::debug!(
                        errors = diags.error_count(),
                        "call flows unchanged since the last rejected change; still rejected"
                    );
                } else {
                    tracing::error!(
                        errors = diags.error_count(),
                        "call flow change rejected; previous version keeps serving:\n{text}"
                    );
                }
                Err(diags)
            }
        }
    }

    /// Watches the flows and prompts directories and reloads (debounced) on changes.
    pub fn watch(self: Arc<Self>) -> Result<FlowWatcher, FlowError> {
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.is_ok_and(|e| !e.kind.is_access()) {
                    let _ = tx.send(());
                }
            })?;
        let set = self.current();
        watcher.watch(set.dir(), RecursiveMode::NonRecursive)?;
        if set.prompts_dir().is_dir() {
            watcher.watch(set.prompts_dir(), RecursiveMode::Recursive)?;
        }
        std::thread::Builder::new()
            .name("flow-reload".into())
            .spawn(move || {
                // Ends when the watcher (and so the sender) is dropped.
                while rx.recv().is_ok() {
                    while rx.recv_timeout(DEBOUNCE).is_ok() {}
                    let _ = self.reload();
                }
            })?;
        Ok(FlowWatcher { _watcher: watcher })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{FLOW_BROKEN, FLOW_V1, FLOW_V2, TempDir};
    use super::*;

    #[test]
    fn reload_swaps_valid_keeps_old_on_invalid_and_calls_keep_their_version() {
        let tmp = TempDir::new("reload");
        let flows = tmp.0.join("call-flows");
        std::fs::create_dir_all(&flows).unwrap();
        std::fs::write(flows.join("demo.yaml"), FLOW_V1).unwrap();
        let registry =
            FlowRegistry::new(FlowSet::load(&flows, &tmp.0.join("audio-prompts")).unwrap());
        let in_flight = registry.current().route("123");
        let v1 = in_flight.version.clone();

        std::fs::write(flows.join("demo.yaml"), FLOW_V2).unwrap();
        registry.reload().unwrap();
        let v2 = registry.current().route("123").version.clone();
        assert_ne!(v1, v2);
        assert_eq!(
            in_flight.version, v1,
            "a call in progress keeps the flow it started with"
        );

        std::fs::write(flows.join("demo.yaml"), FLOW_BROKEN).unwrap();
        let diags = registry.reload().unwrap_err();
        assert!(
            diags
                .render_human()
                .contains("demo.yaml:6:5: error: unknown key `nxt`"),
            "{diags}"
        );
        assert_eq!(
            registry.current().route("123").version,
            v2,
            "the previous version keeps serving"
        );
    }

    #[test]
    fn watcher_reloads_after_a_change() {
        let tmp = TempDir::new("watch");
        std::fs::write(tmp.0.join("demo.yaml"), FLOW_V1).unwrap();
        let registry = Arc::new(FlowRegistry::new(
            FlowSet::load(&tmp.0, &tmp.0.join("none")).unwrap(),
        ));
        let v1 = registry.current().route("x").version.clone();
        let _watch = Arc::clone(&registry).watch().unwrap();
        std::fs::write(tmp.0.join("demo.yaml"), FLOW_V2).unwrap();
        // Event-driven, not timed: poll until the swap is seen (bounded so a broken watcher fails).
        let mut swapped = false;
        for _ in 0..200 {
            if registry.current().route("x").version != v1 {
                swapped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(swapped, "the watcher never reloaded");
    }
}
