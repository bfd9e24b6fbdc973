//! The set of flows a server answers with: every checked flow in `call-flows/`, each with the
//! understanding its calls use, and the routing table (dialled number -> flow, with a default).
//! [`reload`] swaps in a changed set.
//!
//! Owns loading. Must not touch calls: a call holds the `Arc<CheckedFlow>` it started with.

pub mod reload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::flow::language::catalog::PromptCatalog;
use crate::flow::language::diag::{Diagnostics, did_you_mean};
use crate::flow::language::files::{check_file, flow_files};
use crate::flow::language::model::CheckedFlow;
use crate::flow::language::yaml::{self, Pos, Value};
use crate::flow::runtime::understand::Understanding;
use crate::nlu::encoder::Embedder;

pub use reload::{FlowError, FlowRegistry, FlowWatcher};

pub use crate::flow::language::files::ROUTES_FILE;

/// A checked flow with its understanding, ready for calls.
#[derive(Debug, Clone)]
pub struct LoadedFlow {
    pub flow: Arc<CheckedFlow>,
    pub understanding: Arc<Understanding>,
}

/// All flows of a directory and which number reaches which.
#[derive(Debug, Clone)]
pub struct FlowSet {
    flows: BTreeMap<String, LoadedFlow>,
    routes: BTreeMap<String, String>,
    default: String,
    dir: PathBuf,
    prompts_dir: PathBuf,
    /// The sentence model every flow's understanding uses, kept for reloads.
    embedder: Option<Arc<Embedder>>,
}

impl FlowSet {
    /// Loads and checks every `*.yaml` flow in `dir` (not `routes.yaml`, not subdirectories)
    /// with prompts from `prompts_dir` and `dir/prompts.tsv`, understood by words alone. Any
    /// error rejects the whole set.
    pub fn load(dir: &Path, prompts_dir: &Path) -> Result<FlowSet, Diagnostics> {
        FlowSet::load_with(dir, prompts_dir, None)
    }

    /// As [`FlowSet::load`], with the sentence model for every flow's understanding.
    pub fn load_with(
        dir: &Path,
        prompts_dir: &Path,
        embedder: Option<Arc<Embedder>>,
    ) -> Result<FlowSet, Diagnostics> {
        let catalog = PromptCatalog::load(prompts_dir, &dir.join("prompts.tsv"));
        let mut diags = Diagnostics::new();
        let mut flows: BTreeMap<String, LoadedFlow> = BTreeMap::new();
        for path in flow_files(dir) {
            let (flow, d) = check_file(&path, &catalog);
            diags.extend(d);
            let Some(flow) = flow else { continue };
            match Understanding::with_embedder(&flow, embedder.as_ref()) {
                Ok(u) => {
                    if flows.contains_key(&flow.name) {
                        diags.error(
                            &path,
                            Pos { line: 1, col: 1 },
                            "duplicate-flow",
                            format!("another file already defines flow `{}`", flow.name),
                            None,
                        );
                    } else {
                        flows.insert(
                            flow.name.clone(),
                            LoadedFlow {
                                flow: Arc::new(flow),
                                understanding: Arc::new(u),
                            },
                        );
                    }
                }
                Err(e) => diags.error(
                    &path,
                    Pos { line: 1, col: 1 },
                    "intents",
                    format!("the intents cannot be used: {e}"),
                    None,
                ),
            }
        }
        let (routes, default) = read_routes(dir, &flows, &mut diags);
        if flows.is_empty() && !diags.has_errors() {
            diags.error(
                dir,
                Pos { line: 1, col: 1 },
                "no-flows",
                format!("no flow files in {}", dir.display()),
                None,
            );
        }
        if diags.has_errors() {
            return Err(diags);
        }
        Ok(FlowSet {
            flows,
            routes,
            default,
            dir: dir.to_path_buf(),
            prompts_dir: prompts_dir.to_path_buf(),
            embedder,
        })
    }

    /// The flow for a dialled number (the Request-URI user), or the default flow.
    pub fn route(&self, dialled: &str) -> Arc<CheckedFlow> {
        Arc::clone(&self.route_loaded(dialled).flow)
    }

    /// The flow and its understanding for a dialled number.
    pub fn route_loaded(&self, dialled: &str) -> &LoadedFlow {
        let name = self.routes.get(dialled).unwrap_or(&self.default);
        // Invariant: `load` checked that every route and the default name a loaded flow, and
        // that at least one flow is loaded.
        self.flows
            .get(name)
            .or_else(|| self.flows.values().next())
            .expect("a FlowSet always has its default flow")
    }

    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<&LoadedFlow> {
        self.flows.get(name)
    }

    pub fn flows(&self) -> impl Iterator<Item = &LoadedFlow> {
        self.flows.values()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn prompts_dir(&self) -> &Path {
        &self.prompts_dir
    }

    /// The sentence model the set was loaded with.
    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.embedder.as_ref()
    }
}

fn read_routes(
    dir: &Path,
    flows: &BTreeMap<String, LoadedFlow>,
    diags: &mut Diagnostics,
) -> (BTreeMap<String, String>, String) {
    let path = dir.join(ROUTES_FILE);
    let mut routes = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(&path) else {
        // No table: a directory with one flow routes everything to it.
        let default = flows.keys().next().cloned().unwrap_or_default();
        if flows.len() > 1 {
            diags.error(
                dir,
                Pos { line: 1, col: 1 },
                "no-routes",
                format!(
                    "{} flows but no {ROUTES_FILE} to choose between them",
                    flows.len()
                ),
                None,
            );
        }
        return (routes, default);
    };
    diags.add_source(&path, &text);
    let doc = match yaml::parse(&text) {
        Ok(doc) => doc,
        Err(e) => {
            diags.error(
                &path,
                e.pos,
                "yaml-syntax",
                format!("YAML syntax error: {}", e.message),
                None,
            );
            return (routes, String::new());
        }
    };
    let mut default = None;
    let names: Vec<&str> = flows.keys().map(String::as_str).collect();
    let known = |name: &str, pos: Pos, diags: &mut Diagnostics| {
        if !flows.contains_key(name) && !flows.is_empty() {
            diags.error(
                &path,
                pos,
                "unknown-flow",
                format!("unknown flow `{name}`"),
                did_you_mean(name, names.iter().copied()),
            );
        }
    };
    let Value::Map(entries) = &doc.value else {
        diags.error(
            &path,
            doc.pos,
            "wrong-type",
            "the routing table must be a mapping with `default` and `routes`",
            None,
        );
        return (routes, String::new());
    };
    for (k, v) in entries {
        match k.as_str() {
            Some("default") => match v.as_str() {
                Some(name) => {
                    known(name, v.pos, diags);
                    default = Some(name.to_string());
                }
                None => diags.error(
                    &path,
                    v.pos,
                    "wrong-type",
                    "`default` must be a flow name",
                    None,
                ),
            },
            Some("routes") => match &v.value {
                Value::Map(pairs) => {
                    for (number, flow) in pairs {
                        match (number.scalar_text(), flow.as_str()) {
                            (Some(n), Some(f)) => {
                                known(f, flow.pos, diags);
                                routes.insert(n, f.to_string());
                            }
                            _ => diags.error(
                                &path,
                                number.pos,
                                "wrong-type",
                                "a route is `\"<dialled number>\": <flow name>`",
                                None,
                            ),
                        }
                    }
                }
                Value::Null => {}
                _ => diags.error(
                    &path,
                    v.pos,
                    "wrong-type",
                    "`routes` must be a mapping of number: flow",
                    None,
                ),
            },
            other => {
                let name = other.unwrap_or("");
                diags.error(
                    &path,
                    k.pos,
                    "unknown-key",
                    format!("unknown key `{name}` in the routing table"),
                    did_you_mean(name, ["default", "routes"]),
                );
            }
        }
    }
    let default = match default {
        Some(d) => d,
        None => {
            diags.error(
                &path,
                doc.pos,
                "missing-key",
                "the routing table needs `default: <flow name>`",
                None,
            );
            String::new()
        }
    };
    (routes, default)
}

#[cfg(test)]
pub(super) mod tests {
    //! Also the fixtures of [`super::reload`]'s tests.
    use super::*;

    pub(super) const FLOW_V1: &str =
        "flow: demo\nstart: hi\nnodes:\n  hi:\n    hangup: {text: \"version one\"}\n";
    pub(super) const FLOW_V2: &str =
        "flow: demo\nstart: hi\nnodes:\n  hi:\n    hangup: {text: \"version two\"}\n";
    pub(super) const FLOW_BROKEN: &str =
        "flow: demo\nstart: hi\nnodes:\n  hi:\n    hangup: {text: \"bye\"}\n    nxt: oops\n";

    /// A fresh directory under the system temp dir, removed on drop.
    pub(super) struct TempDir(pub(super) PathBuf);

    impl TempDir {
        pub(super) fn new(tag: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("frontdoor-flow-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn routes_pick_a_flow_by_dialled_number_with_a_default() {
        let tmp = TempDir::new("routes");
        std::fs::write(tmp.0.join("one.yaml"), FLOW_V1.replace("demo", "one")).unwrap();
        std::fs::write(tmp.0.join("two.yaml"), FLOW_V2.replace("demo", "two")).unwrap();
        std::fs::write(
            tmp.0.join(ROUTES_FILE),
            "default: one\nroutes:\n  \"200\": two\n",
        )
        .unwrap();
        let set = FlowSet::load(&tmp.0, &tmp.0).unwrap();
        assert_eq!(set.route("200").name, "two");
        assert_eq!(set.route("999").name, "one");
        std::fs::write(tmp.0.join(ROUTES_FILE), "default: onee\n").unwrap();
        let diags = FlowSet::load(&tmp.0, &tmp.0).unwrap_err();
        assert!(
            diags.render_human().contains("unknown flow `onee`"),
            "{diags}"
        );
    }
}
