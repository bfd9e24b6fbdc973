//! Entry points for the designer tools behind `frontdoor validate|graph`. The
//! binary parses arguments and calls these; each writes to `out` and returns the exit code
//! (0 ok, 1 flow errors, 2 usage).
//!
//! Owns the tools' output. Must not parse command lines (that is `main`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::graph::GraphFormat;
use crate::flow::language::catalog::default_paths;
use crate::flow::language::diag::{Diagnostics, OutputFormat};
use crate::flow::language::files::{check_file, flow_files};
use crate::flow::runtime::set::FlowSet;

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
    for path in paths {
        if path.is_dir() {
            let (prompts_dir, _) = default_paths(path);
            if let Err(d) = FlowSet::load(path, &prompts_dir) {
                diags.extend(d);
            }
            checked += flow_files(path).len();
        } else if path.is_file() {
            let (_, d) = check_file(path, &catalog_for(path));
            diags.extend(d);
            checked += 1;
        } else {
            let _ = writeln!(out, "error: {} does not exist", path.display());
            return EXIT_USAGE;
        }
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
