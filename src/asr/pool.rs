//! A bounded pool of recognition worker threads. Each worker owns one recogniser (for Whisper:
//! its own decoding state over shared weights) and decodes one utterance at a time on one
//! thread; waiting jobs sit in a bounded FIFO. When it is full, `submit` refuses at once with
//! [`Saturated`] so the call runtime can play a holding phrase or fall back to DTMF instead of
//! leaving a caller in silence. Results come back on a oneshot channel (await it from async
//! code, or `blocking_recv` from a thread); dropping the receiver cancels a job that has not
//! started yet, which is how a speculative decode is thrown away cheaply.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::AsrError;
use super::recognizer::{RecognizeOptions, Recognizer, Transcript};
use super::whisper::{WhisperRecognizer, load_context};

/// One utterance to recognise.
#[derive(Debug, Clone, PartialEq)]
pub struct RecognitionJob {
    pub audio_16k: Vec<f32>,
    pub options: RecognizeOptions,
}

/// The queue is full: the job was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("recogniser pool saturated: {queue_depth} utterances already waiting")]
pub struct Saturated {
    pub queue_depth: usize,
}

/// What a submitted job eventually yields.
pub type RecognitionResult = Result<Transcript, AsrError>;

/// A snapshot of the pool's load and totals, for metrics and admission decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub workers: usize,
    /// Workers decoding right now.
    pub busy: usize,
    /// Jobs waiting for a worker.
    pub queue_depth: usize,
    pub queue_capacity: usize,
    pub completed: u64,
    /// Jobs dropped before they started because their receiver was gone.
    pub cancelled: u64,
    /// Jobs refused with [`Saturated`].
    pub rejected: u64,
    /// Sum of audio recognised and of decode time, for the real-time factor.
    pub audio_ms: u64,
    pub decode_ms: u64,
}

impl PoolStats {
    /// True when a new job would have to wait for a worker.
    pub fn would_wait(&self) -> bool {
        self.busy + self.queue_depth >= self.workers
    }
}

struct Queued {
    job: RecognitionJob,
    reply: oneshot::Sender<RecognitionResult>,
}

struct State {
    jobs: VecDeque<Queued>,
    shutting_down: bool,
    stats: PoolStats,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// Work done on each transcript on the worker thread, before the result is sent.
    after: OnceLock<TranscriptHook>,
}

/// Work to do on every transcript on the recogniser's thread (embedding it for understanding),
/// so that the call's media thread, which understands it, finds the work done.
pub type TranscriptHook = Arc<dyn Fn(&str) + Send + Sync>;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Workers never panic while holding the lock (decodes run outside it).
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Worker threads plus the bounded queue. Dropping the pool stops the workers after their
/// current decode; jobs still waiting are dropped (their receivers see the channel close).
pub struct RecognizerPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl RecognizerPool {
    /// One worker thread per recogniser; at most `queue_capacity` jobs wait.
    pub fn new(recognizers: Vec<Arc<dyn Recognizer>>, queue_capacity: usize) -> Self {
        let stats = PoolStats {
            workers: recognizers.len(),
            queue_capacity,
            ..PoolStats::default()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::with_capacity(queue_capacity),
                shutting_down: false,
                stats,
            }),
            work: Condvar::new(),
            after: OnceLock::new(),
        });
        let workers = recognizers
            .into_iter()
            .enumerate()
            .filter_map(|(i, recognizer)| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("asr-{i}"))
                    .spawn(move || worker(&shared, recognizer.as_ref()))
                    .map_err(|e| tracing::error!("cannot start recogniser thread {i}: {e}"))
                    .ok()
            })
            .collect::<Vec<_>>();
        shared.lock().stats.workers = workers.len();
        Self { shared, workers }
    }

    /// Loads a whisper.cpp model once and starts `workers` recognisers over it.
    pub fn whisper(
        model_path: &Path,
        workers: usize,
        queue_capacity: usize,
    ) -> Result<Self, AsrError> {
        let context = load_context(model_path)?;
        let recognizers = (0..workers.max(1))
            .map(|_| {
                WhisperRecognizer::with_context(Arc::clone(&context))
                    .map(|r| Arc::new(r) as Arc<dyn Recognizer>)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(recognizers, queue_capacity))
    }

    /// Queues a job, or refuses at once when `queue_capacity` jobs are already waiting beyond
    /// those idle workers are about to take.
    pub fn submit(
        &self,
        job: RecognitionJob,
    ) -> Result<oneshot::Receiver<RecognitionResult>, Saturated> {
        let (reply, receiver) = oneshot::channel();
        let mut state = self.shared.lock();
        // Jobs that idle workers are about to take do not count against the queue: a job
        // submitted right after another must not be refused just because no worker has woken.
        let idle = state.stats.workers.saturating_sub(state.stats.busy);
        if state.jobs.len() >= state.stats.queue_capacity + idle {
            state.stats.rejected += 1;
            return Err(Saturated {
                queue_depth: state.jobs.len(),
            });
        }
        state.jobs.push_back(Queued { job, reply });
        state.stats.queue_depth = state.jobs.len();
        drop(state);
        self.shared.work.notify_one();
        Ok(receiver)
    }

    /// Sets the work done on every transcript before it is returned (once; later calls are
    /// ignored).
    pub fn after_each_transcript(&self, hook: TranscriptHook) {
        let _ = self.shared.after.set(hook);
    }

    /// Jobs waiting for a worker now.
    pub fn queue_depth(&self) -> usize {
        self.shared.lock().jobs.len()
    }

    /// Load and totals now.
    pub fn stats(&self) -> PoolStats {
        self.shared.lock().stats
    }
}

impl Drop for RecognizerPool {
    fn drop(&mut self) {
        self.shared.lock().shutting_down = true;
        self.shared.work.notify_all();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker(shared: &Shared, recognizer: &dyn Recognizer) {
    loop {
        let queued = {
            let mut state = shared.lock();
            loop {
                if state.shutting_down {
                    return;
                }
                match state.jobs.pop_front() {
                    Some(q) if q.reply.is_closed() => {
                        state.stats.cancelled += 1;
                        state.stats.queue_depth = state.jobs.len();
                    }
                    Some(mut q) => {
                        state.stats.queue_depth = state.jobs.len();
                        state.stats.busy += 1;
                        // Nothing else waiting and workers idle: this decode may use their
                        // cores too (one thread per idle worker), which roughly halves a lone
                        // caller's wait on a 2-core machine. Under load every decode keeps to
                        // one thread, so throughput is unchanged.
                        if state.jobs.is_empty() {
                            let idle = state.stats.workers.saturating_sub(state.stats.busy);
                            q.job.options.threads = q.job.options.threads.max(1 + idle);
                        }
                        break q;
                    }
                    None => {
                        state = shared
                            .work
                            .wait(state)
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                    }
                }
            }
        };
        let Queued { job, reply } = queued;
        // A panic inside one decode must not take the worker (and the pool's capacity) with it.
        let result = catch_unwind(AssertUnwindSafe(|| {
            recognizer.recognize(&job.audio_16k, &job.options)
        }))
        .unwrap_or_else(|_| Err(AsrError::Whisper("recogniser panicked".into())));
        {
            let mut state = shared.lock();
            state.stats.busy = state.stats.busy.saturating_sub(1);
            state.stats.completed += 1;
            if let Ok(t) = &result {
                state.stats.audio_ms += u64::from(t.duration_ms);
                state.stats.decode_ms += u64::from(t.decode_ms);
            }
        }
        if let (Ok(t), Some(after)) = (&result, shared.after.get())
            && !reply.is_closed()
        {
            let _ = catch_unwind(AssertUnwindSafe(|| after(&t.text)));
        }
        // The caller may have given up meanwhile (speculative decode superseded): that is fine.
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Reports each start, then blocks until released; echoes the sample count as text.
    struct GatedRecognizer {
        started: Mutex<mpsc::Sender<()>>,
        release: Mutex<mpsc::Receiver<()>>,
    }

    impl Recognizer for GatedRecognizer {
        fn recognize(&self, audio: &[f32], _: &RecognizeOptions) -> Result<Transcript, AsrError> {
            let _ = self.started.lock().unwrap().send(());
            let _ = self.release.lock().unwrap().recv();
            if audio.is_empty() {
                panic!("boom");
            }
            Ok(Transcript {
                text: audio.len().to_string(),
                duration_ms: 10,
                decode_ms: 1,
                ..Transcript::default()
            })
        }
    }

    fn gated_pool(capacity: usize) -> (RecognizerPool, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let r = GatedRecognizer {
            started: Mutex::new(started_tx),
            release: Mutex::new(release_rx),
        };
        (
            RecognizerPool::new(vec![Arc::new(r)], capacity),
            started_rx,
            release_tx,
        )
    }

    fn job(n: usize) -> RecognitionJob {
        RecognitionJob {
            audio_16k: vec![0.0; n],
            options: RecognizeOptions::default(),
        }
    }

    /// Answers with the thread count it was asked to use.
    struct ThreadsEcho;

    impl Recognizer for ThreadsEcho {
        fn recognize(&self, _: &[f32], o: &RecognizeOptions) -> Result<Transcript, AsrError> {
            Ok(Transcript {
                text: o.threads.to_string(),
                ..Transcript::default()
            })
        }
    }

    #[test]
    fn a_lone_decode_borrows_the_idle_workers_cores() {
        let pool = RecognizerPool::new(vec![Arc::new(ThreadsEcho), Arc::new(ThreadsEcho)], 2);
        let text = pool
            .submit(job(1))
            .unwrap()
            .blocking_recv()
            .unwrap()
            .unwrap()
            .text;
        assert_eq!(text, "2", "two workers, nothing else to do: two threads");
    }

    #[test]
    fn refuses_when_queue_full_then_drains_in_order() {
        let (pool, started, release) = gated_pool(1);
        let a = pool.submit(job(1)).unwrap();
        started.recv().unwrap();
        let b = pool.submit(job(2)).unwrap();
        assert_eq!(
            pool.submit(job(3)).unwrap_err(),
            Saturated { queue_depth: 1 }
        );
        let s = pool.stats();
        assert_eq!((s.busy, s.queue_depth, s.rejected), (1, 1, 1));
        assert!(s.would_wait());
        release.send(()).unwrap();
        assert_eq!(a.blocking_recv().unwrap().unwrap().text, "1");
        started.recv().unwrap();
        release.send(()).unwrap();
        assert_eq!(b.blocking_recv().unwrap().unwrap().text, "2");
        assert_eq!(pool.stats().completed, 2);
    }

    #[test]
    fn dropped_receiver_cancels_a_waiting_job() {
        let (pool, started, release) = gated_pool(4);
        let a = pool.submit(job(1)).unwrap();
        started.recv().unwrap();
        drop(pool.submit(job(2)).unwrap());
        let c = pool.submit(job(3)).unwrap();
        release.send(()).unwrap();
        a.blocking_recv().unwrap().unwrap();
        started.recv().unwrap();
        release.send(()).unwrap();
        assert_eq!(c.blocking_recv().unwrap().unwrap().text, "3");
        let s = pool.stats();
        assert_eq!((s.completed, s.cancelled), (2, 1));
    }

    #[test]
    fn a_panicking_decode_is_an_error_and_the_worker_survives() {
        let (pool, started, release) = gated_pool(2);
        let a = pool.submit(job(0)).unwrap();
        started.recv().unwrap();
        release.send(()).unwrap();
        assert!(a.blocking_recv().unwrap().is_err());
        let b = pool.submit(job(5)).unwrap();
        started.recv().unwrap();
        release.send(()).unwrap();
        assert_eq!(b.blocking_recv().unwrap().unwrap().text, "5");
    }

    #[test]
    fn back_to_back_submissions_fill_idle_workers_before_the_queue() {
        // No worker has had a chance to wake between these two submissions.
        let (pool, started, release) = gated_pool(0);
        let a = pool.submit(job(1)).unwrap();
        assert!(
            pool.submit(job(2)).is_err(),
            "one worker, no queue: second must wait"
        );
        started.recv().unwrap();
        release.send(()).unwrap();
        a.blocking_recv().unwrap().unwrap();
    }

    #[test]
    fn zero_capacity_still_accepts_when_a_worker_is_idle() {
        let (pool, started, release) = gated_pool(0);
        let a = pool.submit(job(1)).unwrap();
        started.recv().unwrap();
        assert!(pool.submit(job(2)).is_err());
        release.send(()).unwrap();
        a.blocking_recv().unwrap().unwrap();
    }
}
