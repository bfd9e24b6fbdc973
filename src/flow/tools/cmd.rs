//! Entry points for the designer tools behind `frontdoor validate|graph`. The
//! binary parses arguments and calls these; each writes to `out` and returns the exit code
//! (0 ok, 1 flow errors, 2 usage).
//!
//! Owns the tools' output. Must not parse command lines (that is `main`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::examples::{check_examples, skipped_line};
use super::graph::GraphFormat;
use crate::flow::language::catalog::default_paths;
use crate::flow::language::diag::{Diagnostics, OutputFormat};
use crate::flow::language::files::{check_file, flow_files};
use crate::flow::runtime::set::FlowSet;
use crate::nlu::encoder::Embedder;

pub use super::exit_code::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
// Where the catalog for one flow file comes from is the language's business; the tools and
// the benches reach it here too.
pub use crate::flow::language::catalog::catalog_for;

/// `frontdoor validate [PATH...]`: checks flow files, or whole flow directories (with their
/// routing table). No paths: `call-flows/`.
pub fn validate_cmd(paths: &[PathBuf], format: OutputFormat, out: &mut dyn Write) -> i32 {
    let default = [PathBuf::from("call-flows")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut diags = Diagnostics::new();
    let mut checked = 0;
    let embedder = Embedder::for_tools();
    let mut flows = Vec::new();
    for path in paths {
        if path.is_dir() {
            let (prompts_dir, _) = default_paths(path);
            match FlowSet::load(path, &prompts_dir) {
                Ok(set) => flows.extend(set.flows().map(|f| Arc::clone(&f.flow))),
                Err(d) => diags.extend(d),
            }
            checked += flow_files(path).len();
        } else if path.is_file() {
            let (flow, d) = check_file(path, &catalog_for(path));
            diags.extend(d);
            flows.extend(flow.map(Arc::new));
            checked += 1;
        } else {
            let _ = writeln!(out, "error: {} does not exist", path.display());
            return EXIT_USAGE;
        }
    }
    match &embedder {
        Ok(embedder) => {
            for flow in &flows {
                check_examples(flow, embedder, &mut diags);
            }
        }
        Err(why) if format == OutputFormat::Human => {
            let _ = writeln!(out, "{}", skipped_line(why));
        }
        Err(_) => {}
    }
    diags.sort();
    let _ = diags.write_to(format, out);
    if format == OutputFormat::Human {
        let errors = diags.error_count();
        let warnings = diags.items().len() - errors;
        let _ = writeln!(
            out,
            "{checked} flow file(s) checked: {errors} error(s), {warnings} warning(s)"
        );
    }
    if diags.has_errors() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// `frontdoor graph FLOW --format svg|mermaid|dot`: see [`super::graph`].
pub fn graph_cmd(flow: &Path, format: GraphFormat, out: &mut dyn Write) -> i32 {
    super::graph::graph_cmd(flow, format, out)
}
