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
    /// Use the DTMF demo menu instead of the call flows.
    #[arg(long, env = "FRONTDOOR_DEMO_MENU")]
    demo_menu: Option<PathBuf>,
    /// Log filter, e.g. `info` or `frontdoor=debug`.
    #[arg(long, env = "FRONTDOOR_LOG")]
    log: Option<String>,
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
        if let Some(v) = &self.demo_menu {
            config.handler = HandlerKind::DemoMenu;
            config.demo_menu = v.clone();
        }
        if let Some(v) = &self.log {
            config.log = v.clone();
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
