//! The media clock: one thread that runs every answered call's media and handler on a 2 ms tick.
//!
//! Owns: the answered calls (each a [`CallDriver`] around its sans-IO core), their slot on the
//! clock, the readiness set of their RTP/RTCP sockets, and the thread. Must not touch: what a
//! call does (that is the call core and its handler), SIP (calls talk to the SIP driver through
//! their command channel).
//!
//! Scheduling: the 20 ms packet time is split into [`SLOTS`] ticks of [`TICK`]. A call joins
//! the least busy slot and its send schedule is anchored on that slot's next tick, so each of
//! its packets falls due exactly on one of its slot's ticks and a tick sends for about a tenth
//! of the calls (a short burst, not one burst of all calls). Every tick also polls the sockets
//! of all calls once, without waiting, and reads what arrived. A call's SIP events, speech
//! results and timers are handled on its slot's tick: at most 20 ms late, well inside what SIP
//! timers and DTMF collection allow.
//!
//! The thread sleeps to the next tick's absolute instant (never "now + 2 ms"), so a late tick
//! does not shift the ones after it; ticks that were missed run back to back.
//!
//! Priority: the thread asks for `SCHED_FIFO` (as telephony media threads usually run), else
//! nice −10, else runs as it is. On a busy host, a normal-priority thread woke up to tens of
//! milliseconds late (1,000 calls on the shared 2-core machine: p99 send lateness 5–60 ms at
//! normal priority, 1.5 ms with `SCHED_FIFO`). The thread sleeps between ticks, so it uses
//! the processor only for the work it has; should its ticks take more than [`OVERLOAD`] of a
//! second of work in a second (more calls than one core can carry), it gives the real-time
//! class up so it can never starve the host, and says so.
//!
//! Nothing that may block runs on this thread: a call's end (the handler's last event, the
//! summary line, returning its ports) and returning memory are handed to a second thread,
//! `frontdoor-call-end`, because a log write that waited on a busy disk stalled every call's
//! media for half a second at 500 calls. (One thread, not tokio's blocking pool: 1,000 calls
//! ending together would start hundreds of pool threads.)
//!
//! Memory: glibc keeps the heap pages that ended calls freed. A second after the last call
//! ended (no end since), the call-end thread asks glibc to give them back (`malloc_trim`), so
//! resident size returns near idle after a busy spell instead of staying at its peak.

use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use super::AnsweredCall;
use super::datagram_batch::DatagramBatch;
use super::driver::CallDriver;
use super::readiness::ReadinessSet;

/// Most datagrams read from one socket per tick (one `recvmmsg`, see `datagram_batch`). A
/// caller sends one packet per 20 ms; the bound lets a call's socket be drained at up to
/// 32,000 packets/s, so a flood from a third host does not fill the socket buffer and push out
/// the caller's packets, while the work one call can cause per tick stays bounded. The
/// readiness set is level-triggered, so anything beyond is read on the next ticks.
const MAX_DATAGRAMS_PER_TICK: usize = 64;

/// Time between ticks.
pub const TICK: Duration = Duration::from_millis(2);
/// Ticks per 20 ms packet time.
pub const SLOTS: usize = 10;
/// Largest datagram read (RTP of 60 ms G.711 is 492 bytes; RTCP compounds are small).
const RECEIVE_BUFFER: usize = 2048;
/// Ready sockets reported per poll; more wait for the next tick (level-triggered).
const READY_BATCH: usize = 1024;
/// Tick work per second of wall time beyond which the clock counts as overloaded.
pub const OVERLOAD: Duration = Duration::from_millis(900);
/// The window over which [`OVERLOAD`] is measured.
const OVERLOAD_WINDOW: Duration = Duration::from_secs(1);
/// `SCHED_FIFO` priority of the clock thread (1–99; low: it must not outrank the kernel's own
/// real-time threads).
const REALTIME_PRIORITY: i32 = 10;
/// Nice value when real-time scheduling is not permitted.
const RAISED_NICE: i32 = -10;
/// Quiet time after the last call ended before freed memory is returned to the system.
const TRIM_AFTER: Duration = Duration::from_secs(1);
/// How often the clock reports how late it woke and how long its ticks took (debug level).
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// How the clock thread is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaPriority {
    /// `SCHED_FIFO` if permitted, else nice −10, else unchanged.
    Raised,
    /// Whatever the process has.
    Inherited,
}

/// Hands answered calls to the media clock thread.
#[derive(Clone)]
pub struct MediaClock {
    admissions: mpsc::Sender<AnsweredCall>,
}

/// The media clock thread is gone (it failed to start or stopped).
#[derive(Debug, thiserror::Error)]
#[error("the media clock is not running")]
pub struct MediaClockStopped;

impl MediaClock {
    /// Starts the clock thread. `runtime` is entered on it, so handlers may spawn blocking
    /// work (speech synthesis) on the tokio runtime.
    pub fn start(
        runtime: tokio::runtime::Handle,
        priority: MediaPriority,
    ) -> std::io::Result<MediaClock> {
        let readiness = ReadinessSet::new(READY_BATCH)?;
        let (admissions, rx) = mpsc::channel();
        let (endings, ended) = mpsc::channel();
        let end_runtime = runtime.clone();
        std::thread::Builder::new()
            .name("frontdoor-call-end".into())
            .spawn(move || {
                let _runtime = end_runtime.enter();
                end_calls(ended);
            })?;
        std::thread::Builder::new()
            .name("frontdoor-media".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                let realtime = priority == MediaPriority::Raised && raise_priority();
                ClockThread::new(readiness, rx, endings, realtime).run();
            })?;
        Ok(MediaClock { admissions })
    }

    pub(super) fn admit(&self, call: AnsweredCall) -> Result<(), MediaClockStopped> {
        self.admissions.send(call).map_err(|_| MediaClockStopped)
    }
}

/// The least busy slot (the soonest among equals) for a call arriving on slot `current`'s tick,
/// and how many ticks ahead that slot's next tick is (0: this one).
fn choose_slot(loads: &[usize; SLOTS], current: usize) -> (usize, usize) {
    let ahead_of = |slot: usize| (slot + SLOTS - current % SLOTS) % SLOTS;
    let target = (0..SLOTS)
        .min_by_key(|&slot| {
            (
                loads.get(slot).copied().unwrap_or(usize::MAX),
                ahead_of(slot),
            )
        })
        .unwrap_or(current % SLOTS);
    (target, ahead_of(target))
}

/// Asks for `SCHED_FIFO`, else a lower nice value, for the calling thread; true if real-time.
fn raise_priority() -> bool {
    let param = libc::sched_param {
        sched_priority: REALTIME_PRIORITY,
    };
    // SAFETY: pthread_self is the calling thread; `param` outlives the call.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        tracing::info!(priority = REALTIME_PRIORITY, "media clock runs SCHED_FIFO");
        return true;
    }
    // SAFETY: gettid has no arguments; setpriority on our own thread id touches nothing else.
    let niced = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, RAISED_NICE) == 0
    };
    if niced {
        tracing::info!(
            nice = RAISED_NICE,
            "media clock runs at raised priority (SCHED_FIFO not permitted)"
        );
    } else {
        tracing::info!("media clock runs at normal priority (no permission to raise it)");
    }
    false
}

/// Back to the normal class, at the raised nice value if permitted.
fn drop_realtime() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: as in `raise_priority`.
    unsafe {
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_OTHER, &param);
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, RAISED_NICE);
    }
}

/// The call-end thread: finishes ended calls, and returns freed memory once calls stop ending
/// for [`TRIM_AFTER`]. Runs until the clock is gone.
fn end_calls(ended: mpsc::Receiver<Box<CallDriver>>) {
    let mut trim_due = false;
    loop {
        match ended.recv_timeout(TRIM_AFTER) {
            Ok(call) => {
                call.finish();
                trim_due = true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if std::mem::take(&mut trim_due) {
                    release_free_memory();
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Returns the heap's free pages to the system (glibc keeps them otherwise).
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory that no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

struct ClockThread {
    /// Calls by index; the index (times two, plus one for RTCP) is the readiness token. Boxed,
    /// so an ended call's memory is freed, not kept in the table.
    calls: Vec<Option<Box<CallDriver>>>,
    free: Vec<usize>,
    slots: [Vec<usize>; SLOTS],
    readiness: ReadinessSet,
    ready: Vec<u64>,
    admissions: mpsc::Receiver<AnsweredCall>,
    batch: DatagramBatch,
    /// Whether the thread runs `SCHED_FIFO` now.
    realtime: bool,
    /// Ended calls, to the call-end thread.
    endings: mpsc::Sender<Box<CallDriver>>,
    timing: TickTiming,
    load: WorkWindow,
}

/// Work time of the clock over the current [`OVERLOAD_WINDOW`].
struct WorkWindow {
    since: Instant,
    work: Duration,
    /// Work of the last full window.
    last: Duration,
}

impl WorkWindow {
    /// Adds one tick's work; returns the work of the last full window.
    fn record(&mut self, work: Duration, now: Instant) -> Duration {
        self.work += work;
        if now.saturating_duration_since(self.since) >= OVERLOAD_WINDOW {
            self.last = std::mem::take(&mut self.work);
            self.since = now;
        }
        self.last
    }
}

/// Worst tick of a reporting window: wake-up lateness and work time.
struct TickTiming {
    since: Instant,
    ticks: u64,
    max_late: Duration,
    max_work: Duration,
    total_work: Duration,
}

impl TickTiming {
    fn new(now: Instant) -> TickTiming {
        TickTiming {
            since: now,
            ticks: 0,
            max_late: Duration::ZERO,
            max_work: Duration::ZERO,
            total_work: Duration::ZERO,
        }
    }

    fn record(&mut self, late: Duration, work: Duration, calls: usize, now: Instant) {
        self.ticks += 1;
        self.max_late = self.max_late.max(late);
        self.max_work = self.max_work.max(work);
        self.total_work += work;
        if now.saturating_duration_since(self.since) >= REPORT_EVERY {
            tracing::debug!(
                calls,
                ticks = self.ticks,
                max_late_us = self.max_late.as_micros() as u64,
                max_work_us = self.max_work.as_micros() as u64,
                mean_work_us = (self.total_work.as_micros() as u64) / self.ticks.max(1),
                "media clock timing"
            );
            *self = TickTiming::new(now);
        }
    }
}

impl ClockThread {
    fn new(
        readiness: ReadinessSet,
        admissions: mpsc::Receiver<AnsweredCall>,
        endings: mpsc::Sender<Box<CallDriver>>,
        realtime: bool,
    ) -> ClockThread {
        ClockThread {
            calls: Vec::new(),
            free: Vec::new(),
            slots: Default::default(),
            readiness,
            ready: Vec::with_capacity(READY_BATCH),
            admissions,
            batch: DatagramBatch::new(MAX_DATAGRAMS_PER_TICK, RECEIVE_BUFFER),
            realtime,
            endings,
            timing: TickTiming::new(Instant::now()),
            load: WorkWindow {
                since: Instant::now(),
                work: Duration::ZERO,
                last: Duration::ZERO,
            },
        }
    }

    /// Ticks until the server is gone and the last call has ended.
    fn run(mut self) {
        let mut tick_at = Instant::now();
        let mut tick: u64 = 0;
        loop {
            let now = Instant::now();
            if tick_at > now {
                std::thread::sleep(tick_at - now);
            }
            let slot = (tick % SLOTS as u64) as usize;
            if !self.admit_waiting(slot, tick_at) && self.calls.len() == self.free.len() {
                return;
            }
            let now = Instant::now();
            // One read of the wall clock per tick: the calls' records and dates use it.
            let wall = SystemTime::now();
            self.read_ready(now, wall);
            self.run_slot(slot, now, wall);
            let done = Instant::now();
            let calls = self.calls.len() - self.free.len();
            if self.realtime && self.load.record(done - now, done) > OVERLOAD {
                self.realtime = false;
                drop_realtime();
                tracing::warn!(
                    calls,
                    "media clock overloaded (busy over 90 % of a second): real-time priority given up"
                );
            }
            self.timing.record(
                now.saturating_duration_since(tick_at),
                done - now,
                calls,
                done,
            );
            tick += 1;
            tick_at += TICK;
        }
    }

    /// Starts the calls that arrived since the last tick; false once the server has gone.
    fn admit_waiting(&mut self, slot: usize, tick_at: Instant) -> bool {
        loop {
            match self.admissions.try_recv() {
                Ok(answered) => self.admit(answered, slot, tick_at),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn admit(&mut self, answered: AnsweredCall, current: usize, tick_at: Instant) {
        let loads = self.slots.each_ref().map(Vec::len);
        let (target, ahead) = choose_slot(&loads, current);
        let anchor = tick_at + TICK * ahead as u32;
        let wall = SystemTime::now();
        let mut task = Box::new(CallDriver::new(answered, anchor, wall));
        let index = self.free.pop().unwrap_or_else(|| {
            self.calls.push(None);
            self.calls.len() - 1
        });
        let token = (index as u64) << 1;
        if let Err(e) = self
            .readiness
            .add(&task.ports.rtp, token)
            .and_then(|()| self.readiness.add(&task.ports.rtcp, token | 1))
        {
            // Without readiness the call would never hear the caller: end it cleanly.
            static NOT_POLLED: crate::log_limit::LogLimit = crate::log_limit::LogLimit::standard();
            crate::warn_limited!(NOT_POLLED, call_id = %task.call_id(), error = %e, "cannot poll the call's RTP socket: hanging up");
            task.media_unavailable(anchor, wall);
        }
        if let Some(place) = self.calls.get_mut(index) {
            *place = Some(task);
        }
        if let Some(slot) = self.slots.get_mut(target) {
            slot.push(index);
        }
    }

    fn read_ready(&mut self, now: Instant, wall: SystemTime) {
        if let Err(e) = self.readiness.poll(&mut self.ready) {
            // Fails every tick while it fails at all: rate-limited.
            static POLL_FAILED: crate::log_limit::LogLimit = crate::log_limit::LogLimit::standard();
            crate::warn_limited!(POLL_FAILED, error = %e, "media readiness poll failed");
            return;
        }
        for &token in &self.ready {
            let index = (token >> 1) as usize;
            let Some(Some(call)) = self.calls.get_mut(index) else {
                continue;
            };
            if token & 1 == 0 {
                call.drain(false, now, wall, &mut self.batch);
            } else {
                call.drain(true, now, wall, &mut self.batch);
            }
        }
    }

    fn run_slot(&mut self, slot: usize, now: Instant, wall: SystemTime) {
        let Some(members) = self.slots.get_mut(slot) else {
            return;
        };
        let mut i = 0;
        while let Some(&index) = members.get(i) {
            let ended = match self.calls.get_mut(index) {
                Some(Some(call)) => {
                    call.on_tick(now, wall, &mut self.batch);
                    call.is_ended()
                }
                _ => true,
            };
            if !ended {
                i += 1;
                continue;
            }
            members.swap_remove(i);
            if let Some(call) = self.calls.get_mut(index).and_then(Option::take) {
                self.readiness.remove(&call.ports.rtp);
                self.readiness.remove(&call.ports.rtcp);
                self.free.push(index);
                // Off the clock: the handler's last event and the summary line may block.
                if let Err(mpsc::SendError(call)) = self.endings.send(call) {
                    call.finish();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_joins_the_least_busy_slot_soonest_first() {
        let mut loads = [5; SLOTS];
        assert_eq!(choose_slot(&loads, 3), (3, 0), "all equal: this tick");
        loads[3] = 6;
        assert_eq!(choose_slot(&loads, 3), (4, 1), "the next tick among equals");
        loads[1] = 2;
        assert_eq!(choose_slot(&loads, 3), (1, 8), "least busy, even if later");
    }

    #[test]
    fn slots_fill_evenly_from_a_burst() {
        let mut loads = [0; SLOTS];
        for tick in 0..37 {
            let (slot, _) = choose_slot(&loads, tick % SLOTS);
            loads[slot] += 1;
        }
        let (min, max) = (loads.iter().min(), loads.iter().max());
        assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{loads:?}");
    }

    #[test]
    fn overload_is_work_per_window_not_lateness() {
        let start = Instant::now();
        let mut window = WorkWindow {
            since: start,
            work: Duration::ZERO,
            last: Duration::ZERO,
        };
        // Half a millisecond of work per 2 ms tick: a quarter of the time, never overloaded.
        for tick in 1..=1000u32 {
            let load = window.record(Duration::from_micros(500), start + TICK * tick);
            assert!(load <= OVERLOAD, "{load:?}");
        }
        // Ticks that take longer than they last: overloaded once a window has been measured.
        let mut load = Duration::ZERO;
        for tick in 1..=1000u32 {
            load = window.record(Duration::from_micros(1900), start + TICK * (1000 + tick));
        }
        assert!(load > OVERLOAD, "{load:?}");
    }
}
