//! `frontdoor simulate`: a text conversation with a flow in the terminal. The caller types
//! words, `#123` for keys, `!silence` for no input, `!hangup`, `!state`; the simulator shows
//! prompts, the state, captured slots and the case that would be written. With `--script`,
//! lines come from a file (`//` starts a comment) and are echoed.
//!
//! Owns terminal presentation only; the call itself is a rehearsed [`Session`] on the real
//! call core (prompts take their rendered length in virtual time, so a line runs at once).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};

use super::session::{Output, Session};
use super::stage::Stage;
use crate::flow::interpreter::CallContext;
use crate::flow::language::catalog::{catalog_for, default_paths};
use crate::flow::language::files::check_file;
use crate::flow::tools::exit_code::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::flow::understand::Understanding;
use crate::nlu::encoder::Embedder;

/// Runs the simulator. Returns an exit code: 0 when the conversation ran, 1 when the flow has
/// errors, 2 for usage problems.
pub fn run(
    flow_path: &Path,
    script: Option<&Path>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    call_date: NaiveDate,
) -> i32 {
    if !flow_path.is_file() {
        let _ = writeln!(out, "error: {} is not a flow file", flow_path.display());
        return EXIT_USAGE;
    }
    let (flow, diags) = check_file(flow_path, &catalog_for(flow_path));
    let Some(flow) = flow else {
        let _ = write!(out, "{diags}");
        return EXIT_FAILED;
    };
    let understanding =
        match Understanding::with_embedder(&flow, Embedder::for_tools().ok().as_ref()) {
            Ok(u) => Arc::new(u),
            Err(e) => {
                let _ = writeln!(out, "error: the flow's intents cannot be used: {e}");
                return EXIT_FAILED;
            }
        };
    let mut script_reader;
    let lines: &mut dyn BufRead = match script {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => {
                script_reader = BufReader::new(f);
                &mut script_reader
            }
            Err(e) => {
                let _ = writeln!(out, "error: cannot read {}: {e}", path.display());
                return EXIT_USAGE;
            }
        },
        None => input,
    };
    let echo = script.is_some();
    let flow = Arc::new(flow);
    let ctx = CallContext {
        date: call_date,
        time: NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default(),
        caller: Some(crate::Pii::new("07700900123".to_string())),
        dialled: String::new(),
    };
    let _ = writeln!(
        out,
        "flow {} (version {}). Type words, #123 for keys, !silence, !hangup, !state.",
        flow.name, flow.version
    );
    let stage = match Stage::new(
        Arc::clone(&flow),
        understanding,
        Some(&prompts_dir(flow_path)),
    ) {
        Ok(stage) => stage,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            return EXIT_FAILED;
        }
    };
    let (mut session, first) = Session::start(&stage, ctx, Vec::new());
    show(out, &first);
    let mut line = String::new();
    while !session.ended() {
        let _ = write!(out, "> ");
        let _ = out.flush();
        line.clear();
        match lines.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = line.trim();
        if text.is_empty() || text.starts_with("//") {
            if echo {
                let _ = writeln!(out);
            }
            continue;
        }
        if echo {
            let _ = writeln!(out, "{text}");
        }
        let outputs = match text {
            "!silence" => session.silence(),
            "!hangup" => session.hangup(),
            "!case-fails" => {
                session.fail_next_case();
                Vec::new()
            }
            "!transfer-fails" => {
                session.fail_next_transfer();
                Vec::new()
            }
            "!state" => {
                show_state(out, &session);
                continue;
            }
            keys if keys.starts_with('#') && keys.len() > 1 => session.keys(&keys[1..]),
            words => session.say(words),
        };
        show(out, &outputs);
        show_state(out, &session);
    }
    let _ = writeln!(out, "call record: {}", session.interpreter().record());
    EXIT_OK
}

/// The rendered prompts beside a flow file's directory (`audio-prompts/`).
pub(super) fn prompts_dir(flow_file: &Path) -> std::path::PathBuf {
    let dir = flow_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    default_paths(dir).0
}

fn show(out: &mut dyn Write, outputs: &[Output]) {
    for o in outputs {
        let _ = match o {
            Output::Prompt {
                name: Some(name),
                text,
            } => writeln!(out, "  bot [{name}]: {text}"),
            Output::Prompt { name: None, text } => writeln!(out, "  bot: {text}"),
            Output::Listening { speech: false, .. } => writeln!(out, "  (listening: keys only)"),
            Output::Listening { max_digits, .. } if *max_digits > 1 => {
                writeln!(out, "  (listening: words or up to {max_digits} keys)")
            }
            Output::Listening { .. } => writeln!(out, "  (listening)"),
            Output::Slower => writeln!(out, "  (speaking slower from now on)"),
            Output::Case(fields) => writeln!(out, "  case written: {fields}"),
            Output::CaseUpdate { reference, fields } => {
                writeln!(out, "  case {reference} updated: {fields}")
            }
            Output::LookedUpCases => writeln!(out, "  (looking up the caller's open cases)"),
            Output::DetectingLanguage => writeln!(out, "  (detecting the caller's language)"),
            Output::Transfer { queue, context } => {
                writeln!(out, "  transfer to `{queue}` with {context}")
            }
            Output::Hangup => writeln!(out, "  (call ended)"),
        };
    }
}

fn show_state(out: &mut dyn Write, session: &Session) {
    let i = session.interpreter();
    // The simulator is a designer's tool fed with made-up data: slots are shown in clear.
    let slots: Vec<String> = i
        .slots()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.canonical()))
        .collect();
    let _ = writeln!(
        out,
        "  [node {} | slots {{{}}} | case {}]",
        i.current_node(),
        slots.join(", "),
        i.case_ref().unwrap_or("-")
    );
}
