//! The media clock's driver of one answered call: moves what arrives (datagrams, SIP events,
//! results of work done elsewhere) into the call's sans-IO [`Call`] core and does what comes
//! out (datagrams, SIP commands, requests). Nothing here decides anything about the call.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};

use super::datagram_batch::DatagramBatch;
use super::{AnsweredCall, CallContext};
use crate::asr::{RecognitionJob, RecognitionResult};
use crate::call::core::{Call, Completion, Input, JobId, MediaSocket, Output, Request};
use crate::call::ports::PortPair;
use crate::call::shutdown::{CallTicket, CloseMode};
use crate::call::signalling::SipCommand;
use crate::handler::{OpenCase, PlayItem};
use crate::prompts::tts::{SpeechRate, Voice};
use crate::sip::ua::{CallHandle, UaError, UaEvent};

/// How long an ended call waits for case writes still in flight before its record is written
/// without them.
const CASE_WAIT: Duration = Duration::from_secs(10);

/// One answered call and the I/O its core asks for.
pub(super) struct CallDriver {
    core: Call,
    context: Arc<CallContext>,
    call: CallHandle,
    sip: mpsc::UnboundedSender<SipCommand>,
    events: mpsc::UnboundedReceiver<UaEvent>,
    /// The caller's RTP/RTCP sockets (non-blocking, polled by the media clock).
    pub(super) ports: PortPair,
    /// The advisor leg's sockets during a bridge.
    leg_ports: Option<PortPair>,
    /// The SIP driver's answer to placing the advisor leg.
    placing: Option<oneshot::Receiver<Result<CallHandle, UaError>>>,
    /// Recognition and language jobs in flight (dropping one cancels it if not started).
    jobs: Vec<(JobId, oneshot::Receiver<RecognitionResult>)>,
    /// Results of tasks run for the call (case store, synthesis).
    done_tx: mpsc::UnboundedSender<Completion>,
    done_rx: mpsc::UnboundedReceiver<Completion>,
    /// Case writes and updates not yet answered: an ended call waits for them (bounded), so
    /// their references reach the call record.
    cases_in_flight: usize,
    ended_at: Option<Instant>,
    /// Counts the call for the server's drain; dropped once the call record is written.
    ticket: Option<CallTicket>,
}

impl CallDriver {
    /// Starts an answered call; its packet schedule is anchored at `now`.
    pub(super) fn new(answered: AnsweredCall, now: Instant, wall: SystemTime) -> CallDriver {
        let AnsweredCall {
            context,
            sip,
            pair,
            events,
            ticket,
            start,
        } = answered;
        let call = start.call;
        let core = Call::new(Arc::clone(&context.settings), start, now, wall);
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        // What the handler did on `Answered` goes out on the call's first tick, at `now`: a
        // datagram sent before it would start the call's packet clock early.
        CallDriver {
            core,
            context,
            call,
            sip,
            events,
            ports: pair,
            leg_ports: None,
            placing: None,
            jobs: Vec::new(),
            done_tx,
            done_rx,
            cases_in_flight: 0,
            ended_at: None,
            ticket: Some(ticket),
        }
    }

    pub(super) fn call_id(&self) -> &str {
        &self.core.info().call_id
    }

    /// The media clock cannot poll the call's sockets: the call is hung up.
    pub(super) fn media_unavailable(&mut self, now: Instant, wall: SystemTime) {
        self.core.handle_input(now, wall, Input::MediaUnavailable);
        self.flush(now, wall);
    }

    /// Reads what is queued on the RTP (or RTCP) socket (the media clock saw it readable).
    /// The media session drops datagrams from anyone but the peer on an address compare.
    pub(super) fn drain(
        &mut self,
        rtcp: bool,
        now: Instant,
        wall: SystemTime,
        batch: &mut DatagramBatch,
    ) {
        let (socket, kind) = if rtcp {
            (&self.ports.rtcp, MediaSocket::Rtcp)
        } else {
            (&self.ports.rtp, MediaSocket::Rtp)
        };
        // An error (ICMP from a peer that went away) is not fatal to the call; the media
        // timeout handles a dead peer.
        let n = batch.receive(socket).unwrap_or(0);
        for i in 0..n {
            if let Some((source, data)) = batch.get(i) {
                self.core.handle_input(
                    now,
                    wall,
                    Input::Datagram {
                        socket: kind,
                        source,
                        data,
                    },
                );
            }
        }
    }

    /// The call's slot on the media clock came round (every 20 ms): the advisor leg's
    /// placement and sockets, SIP events, completions, the server's close, then the core's
    /// timers and sends.
    pub(super) fn on_tick(&mut self, now: Instant, wall: SystemTime, batch: &mut DatagramBatch) {
        // Learn an advisor leg's call handle before reading events: the driver replies to
        // PlaceCall before the leg's first response can arrive, and the leg's events are
        // recognised by that handle.
        if let Some(rx) = self.placing.as_mut() {
            let placed = match rx.try_recv() {
                Ok(placed) => Some(placed),
                Err(oneshot::error::TryRecvError::Empty) => None,
                Err(oneshot::error::TryRecvError::Closed) => Some(Err(UaError::UnknownCall)),
            };
            if let Some(placed) = placed {
                self.placing = None;
                self.input(now, wall, Input::Done(Completion::LegPlaced(placed)));
            }
        }
        loop {
            match self.events.try_recv() {
                Ok(event) => self.input(now, wall, Input::Sip(event)),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    if !self.core.is_ended() {
                        self.input(now, wall, Input::DriverGone);
                    }
                    break;
                }
            }
        }
        while let Ok(done) = self.done_rx.try_recv() {
            if matches!(done, Completion::CaseStored(_) | Completion::CaseUpdated(_)) {
                self.cases_in_flight = self.cases_in_flight.saturating_sub(1);
            }
            self.input(now, wall, Input::Done(done));
        }
        self.poll_jobs(now, wall);
        if self.core.is_ended() {
            self.ended_at.get_or_insert(now);
            return;
        }
        let mode = self.context.shutdown.mode();
        if mode != CloseMode::Open {
            self.input(now, wall, Input::Close(mode));
        }
        if let Some(leg) = self.leg_ports.as_ref() {
            for (socket, kind) in [
                (&leg.rtp, MediaSocket::AdvisorRtp),
                (&leg.rtcp, MediaSocket::AdvisorRtcp),
            ] {
                let n = batch.receive(socket).unwrap_or(0);
                for i in 0..n {
                    if let Some((source, data)) = batch.get(i) {
                        self.core.handle_input(
                            now,
                            wall,
                            Input::Datagram {
                                socket: kind,
                                source,
                                data,
                            },
                        );
                    }
                }
            }
        }
        self.input(now, wall, Input::Timeout);
        if self.core.is_ended() {
            self.ended_at.get_or_insert(now);
        }
    }

    /// Whether the call is over (and no case write it waits for is still in flight).
    pub(super) fn is_ended(&self) -> bool {
        match self.ended_at {
            Some(at) => self.cases_in_flight == 0 || at.elapsed() >= CASE_WAIT,
            None => false,
        }
    }

    /// Tells the handler, stores the call record and logs the summary line (on the call-end
    /// thread: any of it may block).
    pub(super) fn finish(mut self) {
        // A leg placed after the call ended must not ring an advisor for nobody.
        if let Some(Ok(Ok(handle))) = self.placing.as_mut().map(|rx| rx.try_recv()) {
            let _ = self.sip.send(SipCommand::Hangup(handle));
        }
        let ticket = self.ticket.take();
        let record = self.core.finish();
        // The ticket goes with the record: a draining server waits until it is written.
        if let (Some(store), Some(record)) = (self.context.cases.clone(), record) {
            tokio::spawn(async move {
                if let Err(e) = store.record_call(record).await {
                    tracing::warn!(error = %e, "call record not stored");
                }
                drop(ticket);
            });
        }
    }

    fn input(&mut self, now: Instant, wall: SystemTime, input: Input<'_>) {
        self.core.handle_input(now, wall, input);
        self.flush(now, wall);
    }

    /// Results of recognition jobs; jobs the core no longer awaits are dropped (cancelled).
    fn poll_jobs(&mut self, now: Instant, wall: SystemTime) {
        let core = &self.core;
        self.jobs.retain(|(job, _)| core.awaits(*job));
        let mut i = 0;
        while let Some((job, rx)) = self.jobs.get_mut(i) {
            let result = match rx.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => {
                    i += 1;
                    continue;
                }
                Ok(result) => result,
                Err(oneshot::error::TryRecvError::Closed) => Err(crate::asr::AsrError::Whisper(
                    "recogniser pool stopped".into(),
                )),
            };
            let job = *job;
            self.jobs.swap_remove(i);
            self.input(now, wall, Input::Done(Completion::JobDone { job, result }));
        }
    }

    /// Does what the core asks until it has nothing more before its next timeout.
    fn flush(&mut self, now: Instant, wall: SystemTime) {
        loop {
            let request = match self.core.poll_output() {
                Output::Timeout(_) => return,
                Output::Transmit {
                    socket,
                    destination,
                    payload,
                } => {
                    let socket = match socket {
                        MediaSocket::Rtp => Some(&self.ports.rtp),
                        MediaSocket::Rtcp => Some(&self.ports.rtcp),
                        MediaSocket::AdvisorRtp => self.leg_ports.as_ref().map(|p| &p.rtp),
                        MediaSocket::AdvisorRtcp => self.leg_ports.as_ref().map(|p| &p.rtcp),
                    };
                    // UDP: a full socket buffer drops this packet, as the network would.
                    if let Some(socket) = socket {
                        let _ = socket.send_to(payload, destination);
                    }
                    continue;
                }
                Output::Sip(command) => {
                    let _ = self.sip.send(command);
                    continue;
                }
                Output::Request(request) => *request,
            };
            if let Some(answer) = self.run(request) {
                self.core.handle_input(now, wall, Input::Done(answer));
            }
        }
    }

    /// Runs a case write (a new case or an update) on tokio and feeds its reference, or why it
    /// failed, back as `done`. A stopping server waits for the write even when the call ends
    /// first, and the ended call waits for it to reach its record.
    fn spawn_case_write<W, E>(
        &mut self,
        call_id: String,
        failure: &'static str,
        write: W,
        done: fn(Result<String, String>) -> Completion,
    ) where
        W: std::future::Future<Output = Result<String, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        self.cases_in_flight += 1;
        let tx = self.done_tx.clone();
        let ticket = self.context.shutdown.ticket();
        tokio::spawn(async move {
            let _ticket = ticket;
            let result = write.await.map_err(|e| {
                tracing::error!(call_id = %call_id, error = %e, "{failure}");
                e.to_string()
            });
            let _ = tx.send(done(result));
        });
    }

    /// Starts the work of one request; returns its answer when it is known at once.
    fn run(&mut self, request: Request) -> Option<Completion> {
        let call_id = self.core.info().call_id.clone();
        match request {
            Request::StoreCase(case) => {
                let Some(store) = self.context.cases.clone() else {
                    return Some(Completion::CaseStored(Err(
                        "no case store configured".into()
                    )));
                };
                self.spawn_case_write(
                    call_id,
                    "case not stored",
                    async move { store.create_case(case).await.map(|r| r.reference) },
                    Completion::CaseStored,
                );
                None
            }
            Request::UpdateCase { reference, update } => {
                let Some(store) = self.context.cases.clone() else {
                    return Some(Completion::CaseUpdated(Err(
                        "no case store configured".into()
                    )));
                };
                self.spawn_case_write(
                    call_id,
                    "case update not stored",
                    async move {
                        store
                            .apply_case_update(&reference, update)
                            .await
                            .map(|r| r.reference)
                    },
                    Completion::CaseUpdated,
                );
                None
            }
            Request::FindOpenCases { caller } => {
                let Some(store) = self.context.cases.clone() else {
                    return Some(Completion::OpenCases(Vec::new()));
                };
                let tx = self.done_tx.clone();
                tokio::spawn(async move {
                    let cases = match store.open_cases_for_caller(caller.expose()).await {
                        Ok(found) => found
                            .into_iter()
                            .map(|c| OpenCase {
                                reference: c.reference,
                                service: c.service,
                                fields: c.fields,
                                created_at: c.created_at,
                            })
                            .collect(),
                        Err(e) => {
                            tracing::warn!(call_id = %call_id, error = %e, "open-case lookup failed");
                            Vec::new()
                        }
                    };
                    let _ = tx.send(Completion::OpenCases(cases));
                });
                None
            }
            Request::Synthesise {
                generation,
                items,
                slow,
                barge_in,
            } => {
                self.synthesise(call_id, generation, items, slow, barge_in);
                None
            }
            Request::Recognise {
                job,
                audio,
                options,
            } => {
                let Some(pool) = self.context.settings.speech.recognizer() else {
                    return Some(Completion::JobRefused {
                        job,
                        queue_depth: 0,
                    });
                };
                let queued = pool.stats().would_wait();
                match pool.submit(RecognitionJob {
                    audio_16k: audio,
                    options,
                }) {
                    Ok(rx) => {
                        self.jobs.push((job, rx));
                        Some(Completion::JobStarted { job, queued })
                    }
                    Err(saturated) => Some(Completion::JobRefused {
                        job,
                        queue_depth: saturated.queue_depth,
                    }),
                }
            }
            Request::DetectLanguage { job, audio } => {
                let submitted = self
                    .context
                    .settings
                    .speech
                    .languages()
                    .map(|detector| detector.submit(audio));
                match submitted {
                    Some(Ok(rx)) => {
                        self.jobs.push((job, rx));
                        Some(Completion::JobStarted { job, queued: false })
                    }
                    Some(Err(saturated)) => Some(Completion::JobRefused {
                        job,
                        queue_depth: saturated.queue_depth,
                    }),
                    None => Some(Completion::JobRefused {
                        job,
                        queue_depth: 0,
                    }),
                }
            }
            Request::OpenLegPorts => match self.context.ports.allocate() {
                Ok(pair) => {
                    let port = pair.rtp_port;
                    self.leg_ports = Some(pair);
                    Some(Completion::LegPorts(Ok(port)))
                }
                Err(_) => Some(Completion::LegPorts(Err(
                    "no RTP ports free for the advisor leg".into(),
                ))),
            },
            Request::CloseLegPorts => {
                self.leg_ports = None;
                None
            }
            Request::PlaceLeg { target, sdp } => {
                let (reply, placing) = oneshot::channel();
                let sent = self.sip.send(SipCommand::PlaceCall {
                    owner: self.call,
                    target,
                    sdp,
                    reply,
                });
                if sent.is_err() {
                    return Some(Completion::LegPlaced(Err(UaError::UnknownCall)));
                }
                self.placing = Some(placing);
                None
            }
        }
    }

    /// Resolves prompts and synthesises text on tokio's blocking pool (espeak-ng is a
    /// subprocess and must never run on the media clock).
    fn synthesise(
        &self,
        call_id: String,
        generation: u64,
        items: Vec<PlayItem>,
        slow: bool,
        barge_in: bool,
    ) {
        let Some(synth) = self.context.synthesizer.clone() else {
            let _ = self.done_tx.send(Completion::Synthesised {
                generation,
                clips: Vec::new(),
                barge_in,
            });
            return;
        };
        let prompts = self.context.settings.prompts.clone();
        let tx = self.done_tx.clone();
        tokio::task::spawn_blocking(move || {
            let rate = if slow {
                SpeechRate::Slow
            } else {
                SpeechRate::Normal
            };
            let mut clips = Vec::with_capacity(items.len());
            for item in items {
                let clip = match item {
                    PlayItem::Prompt { name, lang } => {
                        if slow {
                            prompts.get_slow(&name, lang.as_deref())
                        } else {
                            prompts.get(&name, lang.as_deref())
                        }
                    }
                    PlayItem::Silence(d) => Some(crate::call::core::silence(d)),
                    PlayItem::Text { text, lang } => {
                        let voice = lang
                            .as_deref()
                            .map(Voice::espeak_for_language)
                            .unwrap_or_else(Voice::default_espeak);
                        match synth.synthesize(&text, &voice, rate) {
                            Ok(c) => Some(c),
                            Err(e) => {
                                tracing::error!(call_id = %call_id, error = %e, "speech synthesis failed");
                                None
                            }
                        }
                    }
                };
                clips.extend(clip);
            }
            let _ = tx.send(Completion::Synthesised {
                generation,
                clips,
                barge_in,
            });
        });
    }
}
