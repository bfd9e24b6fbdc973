//! The thin tokio driver: owns the SIP sockets, feeds the sans-IO [`UserAgent`], and spawns one
//! task per call.
//!
//! Owns: sockets (UDP, TCP listener and connections), the clock, process limits, signals.
//! Must not touch: SIP semantics (that is `sip::ua`), what a call does (that is `call`).
//! Rule from the sans-IO core: after every input, drain transmits and events, then sleep until
//! `poll_timeout`. Nothing that arrives on a socket may end a loop.
//!
//! SIP over TCP, with its connection limits, lives in [`tcp`]; giving freed heap back after a
//! burst of traffic in [`heap`].

mod heap;
pub mod tcp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use crate::call::core::CallSettings;
use crate::call::demo::{DemoMenu, DemoMenuHandler};
use crate::call::handler::{CallHandler, CallInfo};
use crate::call::ports::PortAllocator;
use crate::call::runtime::{CallContext, HandlerFactory, MediaClock, MediaPriority, spawn_call};
use crate::call::signalling::{SipCommand, event_call};
use crate::config::Config;
use crate::config::{HandlerKind, StoreKind};
use crate::crm::{CaseStore, OutboxConfig, OutboxWorker, WebhookSink};
use crate::drain::{Drain, DrainAction, DrainConfig, Held, StopSignal};
use crate::flow::catalog::PromptCatalog;
use crate::flow::handler::FlowCallHandler;
use crate::flow::set::{FlowRegistry, FlowSet};
use crate::log_limit::LogLimit;
use crate::prompts::{
    CachingSynthesizer, DEFAULT_LANGUAGE, EspeakSynthesizer, PromptLibrary, RenderReport,
    Synthesizer, Voice, render_prompt_set,
};
use crate::sip::ua::{
    CallHandle, IpNet, OutboundTarget, SourceLimits, Transport, UaConfig, UaEvent, UserAgent,
};

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot bind SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Setup(String),
}

/// Warnings a peer's traffic can repeat (receive errors, commands it provokes) are written at
/// most this often each.
static UDP_RECEIVE_FAILED: LogLimit = LogLimit::standard();
static REFER_NOT_SENT: LogLimit = LogLimit::standard();

/// Largest SIP message we accept over UDP or TCP; larger ones are dropped or answered 513.
const MAX_SIP_MESSAGE: usize = 65_535;
/// Inputs handled per loop turn before transmits and events are drained and the next timer
/// is computed (`UserAgent::poll_timeout` walks every transaction, so it runs once per batch,
/// not once per message, when 1,000 INVITEs arrive in a second).
const INPUT_BATCH: usize = 64;
/// Receive buffer of the SIP UDP socket: a burst of 1,000 INVITEs in a second must queue, not
/// be dropped into Timer A retransmissions (RFC 3261 §17.1.1.2: 500 ms later).
const SIP_RECEIVE_BUFFER: usize = 4 << 20;

/// Runs the server until SIGTERM (after the drain) or SIGINT.
pub fn run(config: Config) -> Result<(), ServerError> {
    // Two descriptors per call (RTP and RTCP), the TCP connections, and headroom.
    raise_fd_limit(
        (config.max_calls as u64) * 2
            + config.tcp.max_connections as u64
            + config.tcp.descriptor_headroom as u64,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("frontdoor")
        .build()
        .map_err(ServerError::Runtime)?;
    runtime.block_on(serve(config))
}

/// Raises the soft descriptor limit to `wanted` (at most the hard limit). When it cannot, the
/// TCP connection cap is lowered to fit (see [`tcp::TcpLimits::new`]).
fn raise_fd_limit(wanted: u64) {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < wanted {
            let new_cur = wanted.min(lim.rlim_max);
            lim.rlim_cur = new_cur;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 || new_cur < wanted {
                tracing::warn!(
                    wanted,
                    got = new_cur,
                    "file-descriptor limit is below what max_calls needs"
                );
            }
        }
    }
}

/// Binds the sockets, then drives the user agent until a shutdown signal.
pub async fn serve(config: Config) -> Result<(), ServerError> {
    let (context, outbox) = build_context(&config).await?;
    let udp = UdpSocket::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let local = udp.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    if let Err(e) = socket2::SockRef::from(&udp).set_recv_buffer_size(SIP_RECEIVE_BUFFER) {
        tracing::debug!(error = %e, "SIP receive buffer not enlarged");
    }
    tracing::info!(sip = %local, rtp = %config.rtp_ports, max_calls = config.max_calls, "frontdoor listening (UDP and TCP)");

    let mut ua = UserAgent::new(
        ua_config(&config, local),
        crate::entropy::Entropy::from_os(),
    );
    let tcp_limits = tcp::TcpLimits::new(&config.tcp, config.max_calls, tcp::descriptor_limit());
    if tcp_limits.max_connections < config.tcp.max_connections {
        tracing::warn!(
            max_connections = tcp_limits.max_connections,
            configured = config.tcp.max_connections,
            "TCP connections capped lower to keep descriptors for RTP (raise the descriptor limit)"
        );
    }
    let allowed = config.allowed_sources.iter().map(ua_net).collect();
    let (mut tcp, mut tcp_rx) = tcp::TcpTransport::new(listener, tcp_limits, allowed);
    let mut heap = heap::HeapTrim::default();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<SipCommand>();
    let mut calls: HashMap<CallHandle, mpsc::UnboundedSender<UaEvent>> = HashMap::new();
    let mut buf = vec![0u8; MAX_SIP_MESSAGE + 1];
    let context = Arc::new(context);
    let mut stops = stop_signals()?;
    let mut drain = Drain::new(DrainConfig::from_config(&config.shutdown));
    let mut stop_started = None;

    // What was still held when the drain ended (0: everything finished).
    let left_held = 'serve: loop {
        let deadline = ua.poll_timeout();
        let drain_deadline = drain.poll_timeout();
        let stopping = drain.is_stopping();
        tokio::select! {
            received = udp.recv_from(&mut buf) => {
                handle_udp(&mut ua, received, &buf);
                heap.note_input(Instant::now());
                // Whatever else is queued, without a turn of the loop per datagram.
                for _ in 1..INPUT_BATCH {
                    match udp.try_recv_from(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        received => handle_udp(&mut ua, received, &buf),
                    }
                    heap.note_input(Instant::now());
                }
            },
            accepted = tcp.accept() => {
                tcp.on_accept(accepted);
                heap.note_input(Instant::now());
            },
            Some(input) = tcp_rx.recv() => {
                let mut next = Some(input);
                let mut handled = 0;
                while let Some(input) = next.take() {
                    if let Some((conn, source, data)) = tcp.on_input(input, |conn| ua.connection_in_use(conn)) {
                        ua.handle_datagram(Instant::now(), Transport::Tcp(conn), source, &data);
                    }
                    heap.note_input(Instant::now());
                    handled += 1;
                    if handled < INPUT_BATCH {
                        next = tcp_rx.try_recv().ok();
                    }
                }
            },
            _ = sleep_until_opt(heap.due()) => {
                let now = Instant::now();
                if heap.take_due(now) {
                    ua.release_spare_capacity(now);
                    tcp.release_spare_capacity();
                    calls.shrink_to(calls.len() * 2);
                    heap::release_free_memory();
                }
            },
            Some(cmd) = cmd_rx.recv() => {
                let mut next = Some(cmd);
                let mut handled = 0;
                while let Some(cmd) = next.take() {
                    match cmd {
                        SipCommand::PlaceCall { owner, target, sdp, reply } => place_call(&mut ua, &mut calls, owner, &target, sdp, reply),
                        cmd => apply_command(&mut ua, cmd),
                    }
                    handled += 1;
                    if handled < INPUT_BATCH {
                        next = cmd_rx.try_recv().ok();
                    }
                }
            },
            _ = sleep_until_opt(deadline) => ua.handle_timeout(Instant::now()),
            Some(signal) = stops.recv() => {
                stop_started.get_or_insert_with(Instant::now);
                drain.on_signal(Instant::now(), signal, held(&ua, &context));
            }
            _ = sleep_until_opt(drain_deadline) => drain.handle_timeout(Instant::now(), held(&ua, &context)),
            // Calls end (and their records are written) off this loop: look again shortly.
            _ = tokio::time::sleep(DRAIN_POLL), if stopping => {}
        }
        while let Some(t) = ua.poll_transmit() {
            match t.transport {
                Transport::Udp => {
                    if let Err(e) = udp.send_to(&t.payload, t.destination).await {
                        tracing::debug!(dst = %t.destination, error = %e, "udp send failed");
                    }
                }
                Transport::Tcp(conn) => tcp.send(conn, t.payload),
            }
        }
        heap.note_held(ua.held_state(), Instant::now());
        while let Some(event) = ua.poll_event() {
            match event {
                UaEvent::IncomingCall { call, info } => {
                    let tx = spawn_call(context.clone(), call, info, cmd_tx.clone());
                    calls.insert(call, tx);
                }
                UaEvent::Terminated { call, cause } => {
                    if let Some(tx) = calls.remove(&call) {
                        let _ = tx.send(UaEvent::Terminated { call, cause });
                    }
                }
                other => {
                    if let Some(tx) = calls.get(&event_call(&other)) {
                        let _ = tx.send(other);
                    }
                }
            }
        }
        if drain.is_stopping() {
            drain.on_held(Instant::now(), held(&ua, &context));
            while let Some(action) = drain.poll_action() {
                if let Some(held) = apply_drain_action(action, &mut ua, &context, &config) {
                    break 'serve held;
                }
            }
        }
    };
    // Case events already committed wait in the outbox for the next start; a delivery in
    // flight is let finish (bounded) rather than cut.
    if let Some(worker) = outbox {
        let wait = std::time::Duration::from_secs(config.shutdown.bye_wait_secs);
        if tokio::time::timeout(wait, worker.shutdown()).await.is_err() {
            tracing::warn!("CRM delivery still in flight at exit: it is retried at the next start");
        }
    }
    tracing::info!(
        left_unfinished = left_held,
        drain_ms = stop_started.map_or(0, |t| t.elapsed().as_millis() as u64),
        "stopping: drain finished"
    );
    Ok(())
}

/// How often a stopping server looks whether its calls have ended.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// What a stopping server still waits for: calls not yet ended with their record written, and
/// BYEs not yet answered.
fn held(ua: &UserAgent, context: &CallContext) -> Held {
    Held {
        calls: context.shutdown.live_calls(),
        byes: ua.byes_awaiting_answer(),
    }
}

/// Applies one step of the drain; `Some(what was still held)` when the server must stop
/// serving.
fn apply_drain_action(
    action: DrainAction,
    ua: &mut UserAgent,
    context: &CallContext,
    config: &Config,
) -> Option<usize> {
    use crate::call::shutdown::CloseMode;
    match action {
        DrainAction::RefuseNewCalls { deadline } => {
            ua.refuse_new_calls(config.shutdown.retry_after_secs);
            let drain_secs = deadline
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
                .round() as u64;
            tracing::info!(
                calls = context.shutdown.live_calls(),
                drain_secs,
                retry_after_secs = config.shutdown.retry_after_secs,
                "stopping: new calls get 503, calls in progress continue until the drain deadline"
            );
            None
        }
        DrainAction::CloseCalls { message } => {
            let mode = if message {
                CloseMode::WithMessage
            } else {
                CloseMode::Now
            };
            context.shutdown.close(mode);
            tracing::info!(
                calls = context.shutdown.live_calls(),
                with_message = message,
                "stopping: closing the calls still up"
            );
            None
        }
        // Logged once the CRM delivery in flight has finished too.
        DrainAction::Exit { held } => Some(held),
    }
}

/// Places an outbound leg for call `owner` and routes the leg's events to the owner's task.
fn place_call(
    ua: &mut UserAgent,
    calls: &mut HashMap<CallHandle, mpsc::UnboundedSender<UaEvent>>,
    owner: CallHandle,
    target: &str,
    sdp: String,
    reply: tokio::sync::oneshot::Sender<Result<CallHandle, crate::sip::ua::UaError>>,
) {
    let Some(tx) = calls.get(&owner).cloned() else {
        let _ = reply.send(Err(crate::sip::ua::UaError::UnknownCall));
        return;
    };
    let now = Instant::now();
    let placed = ua.place_call(now, target, sdp);
    if let Ok(leg) = placed {
        calls.insert(leg, tx);
    }
    // The call task ended while the request was queued: nobody will bridge this leg.
    if let Err(Ok(leg)) = reply.send(placed) {
        ua.hangup(now, leg);
    }
}

/// One UDP receive result into the user agent.
fn handle_udp(ua: &mut UserAgent, received: std::io::Result<(usize, SocketAddr)>, buf: &[u8]) {
    match received {
        Ok((n, source)) if n <= MAX_SIP_MESSAGE => match buf.get(..n) {
            Some(datagram) => ua.handle_datagram(Instant::now(), Transport::Udp, source, datagram),
            None => tracing::debug!(%source, "datagram longer than the buffer"),
        },
        Ok((_, source)) => tracing::debug!(%source, "dropped oversized datagram"),
        // ICMP port unreachable from a peer that went away shows up here on Linux: never fatal,
        // and a peer can cause it at will, so it is rate-limited.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            tracing::debug!(error = %e, "udp receive error")
        }
        Err(e) => crate::warn_limited!(UDP_RECEIVE_FAILED, error = %e, "udp receive error"),
    }
}

fn apply_command(ua: &mut UserAgent, cmd: SipCommand) {
    let now = Instant::now();
    match cmd {
        SipCommand::Ringing(call) => ua.ringing(now, call),
        SipCommand::Answer(call, sdp) => ua.answer(now, call, sdp),
        SipCommand::Reject(call, status) => ua.reject(now, call, status),
        SipCommand::Hangup(call) => ua.hangup(now, call),
        SipCommand::AnswerReoffer(call, sdp) => ua.answer_reoffer(now, call, sdp),
        SipCommand::RejectReoffer(call, status) => ua.reject_reoffer(now, call, status),
        SipCommand::Refer(call, target, headers) => {
            if let Err(e) = ua.refer(now, call, &target, headers) {
                crate::warn_limited!(REFER_NOT_SENT, error = %e, "REFER not sent");
            }
        }
        SipCommand::PlaceCall { reply, .. } => {
            // Routed by `serve` (it needs the call table); never reaches here.
            let _ = reply.send(Err(crate::sip::ua::UaError::UnknownCall));
        }
    }
}

fn ua_config(config: &Config, local: SocketAddr) -> UaConfig {
    UaConfig {
        local_addr: local,
        advertised_addr: config.public_address,
        allowed_sources: config.allowed_sources.iter().map(ua_net).collect(),
        trusted_identity_sources: config.trusted_identity_sources.iter().map(ua_net).collect(),
        max_calls: config.max_calls,
        session_expires: config.session_expires_secs,
        min_se: config.min_se_secs,
        user_agent: format!("Frontdoor/{}", env!("CARGO_PKG_VERSION")),
        source_limits: SourceLimits {
            requests_per_second: config.sip_limits.requests_per_second,
            request_burst: config.sip_limits.request_burst,
            invites_per_second: config.sip_limits.invites_per_second,
            invite_burst: config.sip_limits.invite_burst,
            max_calls_per_source: config.sip_limits.max_calls_per_source(config.max_calls),
            max_sources: config.sip_limits.max_sources,
        },
        outbound_targets: config
            .outbound_targets
            .iter()
            .map(|t| OutboundTarget {
                name: t.name.clone(),
                uri: t.uri.clone(),
                username: t.username.clone(),
                password: t.password.clone(),
            })
            .collect(),
    }
}

/// Renders every prompt text in `<flows>/prompts.tsv` that has no audio yet (or whose text
/// changed) into `prompts` with espeak-ng. Recordings designers dropped in always win.
pub fn render_flow_prompts(flows: &Path, prompts: &Path) -> Result<RenderReport, String> {
    let tsv = flows.join("prompts.tsv");
    let catalog = PromptCatalog::load(prompts, &tsv);
    let synth = EspeakSynthesizer::new();
    let mut total = RenderReport::default();
    let mut by_lang: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for ((lang, name), text) in catalog.texts() {
        by_lang
            .entry(lang.as_str())
            .or_default()
            .push((name.as_str(), text.as_str()));
    }
    for (lang, entries) in by_lang {
        let default = lang == "en" || lang.eq_ignore_ascii_case(DEFAULT_LANGUAGE);
        let dir = if default {
            prompts.to_path_buf()
        } else {
            prompts.join(lang)
        };
        let voice = if default {
            Voice::default_espeak()
        } else {
            Voice::espeak_for_language(lang)
        };
        let report = render_prompt_set(&entries, &dir, &voice, &synth)
            .map_err(|e| format!("rendering prompts: {e}"))?;
        total.rendered.extend(report.rendered);
        total.unchanged.extend(report.unchanged);
        total.recorded.extend(report.recorded);
    }
    if !total.rendered.is_empty() {
        tracing::info!(
            rendered = total.rendered.len(),
            unchanged = total.unchanged.len(),
            "prompts rendered from prompts.tsv"
        );
    }
    Ok(total)
}

/// Loads and checks every flow; a flow with errors stops the server from starting, with the
/// same `file:line:col` diagnostics `frontdoor validate` prints. Then watches the directory:
/// a valid change is swapped in for new calls, an invalid one is logged and the old set keeps
/// serving. SIGHUP forces a reload.
fn load_flows(config: &Config) -> Result<Arc<FlowRegistry>, ServerError> {
    let embedder = crate::nlu::encoder::Embedder::load_or_warn(&config.asr.sentence_model);
    let set = FlowSet::load_with(&config.flows, &config.prompts, embedder).map_err(|diags| {
        ServerError::Setup(format!(
            "call flows in {} have errors:\n{}",
            config.flows.display(),
            diags.render_human()
        ))
    })?;
    let registry = Arc::new(FlowRegistry::new(set));
    match registry.clone().watch() {
        // The watcher lives as long as the process.
        Ok(watcher) => std::mem::forget(watcher),
        Err(e) => {
            tracing::warn!(error = %e, "flows will not reload on change (SIGHUP still works)")
        }
    }
    let on_hup = registry.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match on_hup.reload_requested() {
                Ok(()) => tracing::info!("SIGHUP: flows reloaded"),
                // `reload_requested` has logged the (bounded) diagnostics.
                Err(diags) => tracing::warn!(
                    errors = diags.error_count(),
                    "SIGHUP: flows not reloaded, the running version keeps serving"
                ),
            }
        }
    });
    Ok(registry)
}

/// Opens the case store and starts delivery to the CRM webhook, if one is configured.
/// Cases already in the outbox from a previous run are delivered as soon as the worker starts.
pub async fn open_case_store(config: &Config) -> Result<Arc<CaseStore>, ServerError> {
    let (store, outbox) = open_case_store_and_outbox(config).await?;
    // The worker runs for the life of the process.
    std::mem::forget(outbox);
    Ok(store)
}

/// As [`open_case_store`], handing back the CRM delivery worker (if a webhook is configured) so
/// the server can let a delivery in flight finish when it stops.
async fn open_case_store_and_outbox(
    config: &Config,
) -> Result<(Arc<CaseStore>, Option<OutboxWorker>), ServerError> {
    let numbering =
        crate::crm::PhoneNumbering::with_country_code(config.phone_numbers.country_code);
    let store = match config.cases.store {
        StoreKind::Sqlite => {
            std::fs::create_dir_all(&config.data).map_err(|e| {
                ServerError::Setup(format!("data directory {}: {e}", config.data.display()))
            })?;
            CaseStore::open_sqlite_with(&config.data.join("frontdoor.sqlite"), numbering)
        }
        StoreKind::Postgres => {
            let url = config.cases.postgres.as_deref().unwrap_or_default();
            CaseStore::open_postgres_with(url, numbering).await
        }
    }
    .map_err(|e| ServerError::Setup(format!("case store: {e}")))?
    .with_reference_prefix(&config.cases.reference_prefix);
    let store = Arc::new(store);
    let legacy = config.data.join("cases.jsonl");
    if legacy.exists() {
        match store.import_jsonl_cases(&legacy).await {
            Ok(report) => tracing::info!(?report, "imported interim JSON-lines cases"),
            Err(e) => tracing::warn!(error = %e, "could not import cases.jsonl"),
        }
    }
    if let Some(hook) = &config.cases.webhook {
        let timeout = std::time::Duration::from_secs(hook.timeout_secs);
        let sink = WebhookSink::new(&hook.name, &hook.url, hook.secret.as_bytes(), timeout)
            .map_err(|e| ServerError::Setup(format!("webhook: {e}")))?;
        let worker = OutboxWorker::spawn(
            store.clone(),
            Arc::new(sink),
            OutboxConfig::for_delivery_timeout(timeout),
        );
        tracing::info!(sink = %hook.name, "delivering cases to the CRM webhook");
        return Ok((store, Some(worker)));
    }
    Ok((store, None))
}

fn ua_net(n: &crate::config::IpNet) -> IpNet {
    IpNet {
        addr: n.addr,
        prefix_len: n.prefix_len,
    }
}

/// Loads what every call shares: prompts (all decoded up front, so a missing or broken file is
/// a start-up error and never mid-call silence), the handler, the RTP ports.
async fn build_context(
    config: &Config,
) -> Result<(CallContext, Option<OutboxWorker>), ServerError> {
    let queues = crate::handoff::QueueDirectory::from_targets(&config.outbound_targets)
        .map_err(|e| ServerError::Setup(format!("outbound_targets: {e}")))?;
    let (cases, outbox) = open_case_store_and_outbox(config).await?;
    // Runs for the life of the server: at start, then hourly (docs/storage.md, "Retention").
    std::mem::forget(crate::crm::RetentionJob::spawn(
        cases.clone(),
        config.cases.retention_days,
    ));
    if config.handler == HandlerKind::Flow {
        // Text prompts of the flows become audio before anything loads them: a prompt is never
        // synthesised for the first time in the middle of a call.
        render_flow_prompts(&config.flows, &config.prompts).map_err(ServerError::Setup)?;
    }
    let prompts = PromptLibrary::load(&config.prompts, &[])
        .map_err(|e| ServerError::Setup(format!("prompts: {e}")))?;
    // The sentence model the flows understand with, also used by the recognisers (below).
    let mut sentence_model = None;
    let handlers: HandlerFactory = match config.handler {
        HandlerKind::DemoMenu => {
            let menu =
                DemoMenu::load(&config.demo_menu).map_err(|e| ServerError::Setup(e.to_string()))?;
            let names = menu.prompt_names();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            prompts
                .require(&names)
                .map_err(|e| ServerError::Setup(format!("demo menu: {e}")))?;
            for queue in menu.transfers.values() {
                queues
                    .get(queue)
                    .map_err(|e| ServerError::Setup(format!("demo menu transfers: {e}")))?;
            }
            let menu = Arc::new(menu);
            Arc::new(move |_info: &CallInfo| {
                Box::new(DemoMenuHandler::new(menu.clone())) as Box<dyn CallHandler>
            })
        }
        HandlerKind::Flow => {
            let registry = load_flows(config)?;
            sentence_model = registry.current().embedder().cloned();
            Arc::new(move |info: &CallInfo| {
                // Each call keeps the flow version current when it was answered (hot reload
                // swaps the set for new calls only).
                Box::new(FlowCallHandler::for_call(&registry.current(), info))
                    as Box<dyn CallHandler>
            })
        }
    };
    let synthesizer: Option<Arc<dyn Synthesizer>> = Some(Arc::new(CachingSynthesizer::new(
        EspeakSynthesizer::new(),
        256,
    )));
    let media_clock = MediaClock::start(tokio::runtime::Handle::current(), MediaPriority::Raised)
        .map_err(|e| ServerError::Setup(format!("media clock: {e}")))?;
    let speech = crate::call::speech::SpeechServices::load(&config.asr);
    if let (Some(embedder), Some(pool)) = (sentence_model, speech.recognizer()) {
        pool.after_each_transcript(Arc::new(move |text: &str| embedder.prepare(text)));
    }
    if prompts.get(&config.shutdown.closing_prompt, None).is_none() {
        tracing::warn!(
            prompt = %config.shutdown.closing_prompt,
            "shutdown.closing_prompt is not in the prompts: callers still up at a drain deadline get a BYE without the message"
        );
    }
    let shutdown = crate::call::shutdown::CallShutdown::new(
        crate::call::shutdown::ClosingSettings::from_config(&config.shutdown),
    );
    let settings = CallSettings {
        prompts,
        speech,
        queues,
        media_policy: config.media.clone(),
        media_timeout: std::time::Duration::from_secs(config.media_timeout_secs),
        advertised_ip: config.advertised_ip(),
        closing: shutdown.settings().clone(),
        case_store: true,
        synthesis: synthesizer.is_some(),
    };
    let context = CallContext {
        settings: Arc::new(settings),
        media_clock,
        synthesizer,
        ports: PortAllocator::new(config.listen.ip(), config.rtp_ports),
        handlers,
        answer_delay: std::time::Duration::from_millis(config.answer_delay_ms),
        cases: Some(cases),
        shutdown,
    };
    Ok((context, outbox))
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM and SIGINT as they arrive, every one of them (a second SIGTERM cuts the drain
/// short). The handlers are installed here, before the first call is served.
fn stop_signals() -> Result<mpsc::UnboundedReceiver<StopSignal>, ServerError> {
    use tokio::signal::unix::{SignalKind, signal};
    let setup = |e: std::io::Error| ServerError::Setup(format!("signal handlers: {e}"));
    let mut term = signal(SignalKind::terminate()).map_err(setup)?;
    let mut int = signal(SignalKind::interrupt()).map_err(setup)?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let signal = tokio::select! {
                Some(()) = term.recv() => StopSignal::Terminate,
                Some(()) = int.recv() => StopSignal::Interrupt,
                else => return,
            };
            if tx.send(signal).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}
