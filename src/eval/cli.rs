//! The `frontdoor eval` command line: arguments, and printing the report.

use std::path::PathBuf;

use super::server::ServerSpec;
use super::voices::{CallerVoice, default_english_voices};
use super::{EvalError, EvalOptions};

/// Arguments of `frontdoor eval`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The utterance set (TSV: id, language, expected, expected_value, text).
    pub dataset: PathBuf,
    /// English voices, comma-separated: espeak:NAME[:slow], flite:NAME. Default: espeak-ng
    /// en-gb, en-us and slow en-gb+m3, flite kal, slt, rms, awb.
    #[arg(long, value_delimiter = ',')]
    pub voices: Vec<String>,
    /// Only these row ids (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Callers started together in the accuracy pass.
    #[arg(long, default_value_t = 4)]
    pub wave: usize,
    /// Latency runs: callers started together (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 4, 8])]
    pub concurrency: Vec<usize>,
    /// Calls per latency run.
    #[arg(long, default_value_t = 16)]
    pub latency_calls: usize,
    /// After the last level, keep adding 4 callers while open-question p95 <= 1.5 s.
    #[arg(long)]
    pub capacity: bool,
    /// Skip the silence/noise set.
    #[arg(long)]
    pub no_noise: bool,
    /// A real recording sent through the same path (default models/jfk.wav when present).
    #[arg(long)]
    pub recording: Option<PathBuf>,
    /// The call date injected into the server (relative dates in the set assume it).
    #[arg(long, default_value = "2026-11-26")]
    pub date: String,
    /// Server configuration file (recogniser settings...).
    #[arg(long)]
    pub server_config: Option<PathBuf>,
    #[arg(long, default_value = "call-flows")]
    pub flows: PathBuf,
    /// Prompts the server plays as a short beep instead (comma-separated, e.g.
    /// `privacy_notice,main_menu`): a test route to the question that fits the full sets in the
    /// time. The flow and every other prompt are unchanged.
    #[arg(long, value_delimiter = ',')]
    pub short_prompts: Vec<String>,
    #[arg(long, default_value = "audio-prompts")]
    pub prompts: PathBuf,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl EvalArgs {
    fn options(&self) -> Result<EvalOptions, EvalError> {
        let voices = if self.voices.is_empty() {
            default_english_voices()
        } else {
            self.voices
                .iter()
                .map(|v| CallerVoice::parse(v))
                .collect::<Result<_, _>>()?
        };
        let binary = std::env::current_exe().map_err(|source| EvalError::Io {
            what: "finding this executable".into(),
            source,
        })?;
        let workdir = std::env::current_dir().map_err(|source| EvalError::Io {
            what: "current directory".into(),
            source,
        })?;
        let recording = self.recording.clone().or_else(|| {
            let jfk = PathBuf::from("models/jfk.wav");
            jfk.exists().then_some(jfk)
        });
        Ok(EvalOptions {
            dataset: self.dataset.clone(),
            voices,
            only: self.only.clone(),
            server: ServerSpec {
                binary,
                flows: self.flows.clone(),
                prompts: self.prompts.clone(),
                config: self.server_config.clone(),
                call_date: self.date.clone(),
                rtp_ports: 400,
                workdir,
                short_prompts: self.short_prompts.clone(),
            },
            accuracy_wave: self.wave,
            concurrency: self.concurrency.clone(),
            latency_calls: self.latency_calls,
            capacity_sweep: self.capacity,
            no_input: !self.no_noise,
            recording,
            json_out: self.json.clone(),
        })
    }
}

/// Runs the evaluation and prints the report; exit 0 when it ran (targets are judged by the
/// reader and the JSON), 1 on a harness error, 2 on bad arguments.
pub fn eval_cmd(args: &EvalArgs) -> i32 {
    let options = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("frontdoor eval: {e}");
            return 2;
        }
    };
    match super::run(&options) {
        Ok(report) => {
            print!("{}", report.render());
            0
        }
        Err(e) => {
            eprintln!("frontdoor eval: {e}");
            1
        }
    }
}
