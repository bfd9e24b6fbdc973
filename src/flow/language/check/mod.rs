//! The checker: raw flow -> [`CheckedFlow`], reporting every problem (unknown references,
//! missing prompts, unreachable nodes, loops with no exit, asks with no way to an advisor or no
//! key-press path, duplicate ids, bad templates, the digit-ask "0" rule).
//!
//! Owns the rules of the flow language. Must not touch the network or audio; it reads only the
//! prompt catalog it is given.
//!
//! One `Checker` walks the flow; its rules are grouped by concern: `declarations` (ids, slot
//! types, settings, hours), `intents` (declared intents and the global handlers), `scope`
//! (subflow inlining, node references, variables), `nodes` and `ask` (one node kind each),
//! `prompts` (prompts and templates) and `reachability` (the graph rules).

mod ask;
mod declarations;
mod intents;
mod nodes;
mod prompts;
mod reachability;
mod scope;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::catalog::PromptCatalog;
use super::diag::Diagnostics;
use super::model::{CheckedFlow, EnumType, FlowNode, Globals, NodeId, Settings};
use super::raw::{RawFlow, read_flow};
use super::yaml::{self, Pos};
use scope::{Expanded, Scope};

pub use reachability::successors;

/// Checks one flow file's text. Returns the flow only when there are no errors; the
/// diagnostics hold every error and warning either way.
pub fn check(
    file: &Path,
    text: &str,
    catalog: &PromptCatalog,
) -> (Option<CheckedFlow>, Diagnostics) {
    let mut diags = Diagnostics::new();
    diags.add_source(file, text);
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            diags.error(
                file,
                e.pos,
                "yaml-syntax",
                format!("YAML syntax error: {}", e.message),
                None,
            );
            return (None, diags);
        }
    };
    let raw = read_flow(&doc, file, &mut diags);
    let flow = Checker::new(file, &raw, catalog, &mut diags).run(text);
    dedup(&mut diags);
    if diags.has_errors() {
        (None, diags)
    } else {
        (flow, diags)
    }
}

/// A subflow is inlined once per call site; its findings must be reported once.
fn dedup(diags: &mut Diagnostics) {
    diags.sort();
    let mut seen = BTreeSet::new();
    let mut kept = Diagnostics::new();
    for d in diags.items() {
        if seen.insert((d.file.clone(), d.line, d.col, d.message.clone())) {
            kept.push(d.clone());
        }
    }
    let old = std::mem::take(diags);
    kept.extend_sources_from(&old);
    *diags = kept;
}

/// One check of one flow file: the raw flow, what has been learnt of it so far, and where
/// findings go.
struct Checker<'a> {
    file: &'a Path,
    raw: &'a RawFlow,
    catalog: &'a PromptCatalog,
    diags: &'a mut Diagnostics,
    languages: Vec<String>,
    scopes: Vec<Scope<'a>>,
    expanded: Vec<Expanded<'a>>,
    index: HashMap<String, NodeId>,
    intents: BTreeSet<String>,
    enums: BTreeMap<String, EnumType>,
    known_vars: BTreeSet<String>,
    /// Types of the cases this flow creates (what `lookup_cases` may look for).
    case_types: BTreeSet<String>,
    /// Whether a `lookup_cases` node exists (`verify_case` needs one).
    has_lookup: bool,
    /// Whether a `verify_case` node exists (`case` `update:` needs one).
    has_verify: bool,
    flow_globals: Globals,
}

impl<'a> Checker<'a> {
    fn new(
        file: &'a Path,
        raw: &'a RawFlow,
        catalog: &'a PromptCatalog,
        diags: &'a mut Diagnostics,
    ) -> Self {
        Checker {
            file,
            raw,
            catalog,
            diags,
            languages: Vec::new(),
            scopes: Vec::new(),
            expanded: Vec::new(),
            index: HashMap::new(),
            intents: BTreeSet::new(),
            enums: BTreeMap::new(),
            known_vars: BTreeSet::new(),
            case_types: BTreeSet::new(),
            has_lookup: false,
            has_verify: false,
            flow_globals: Globals::default(),
        }
    }

    fn run(mut self, text: &str) -> Option<CheckedFlow> {
        self.languages = self.raw.languages.iter().map(|l| l.value.clone()).collect();
        if self.languages.is_empty() {
            self.languages.push("en".to_string());
        }
        self.check_duplicates();
        let intents = self.intents();
        self.enums = self.enums();
        self.flow_globals = self.globals(&self.raw.globals, Globals::default());
        self.expand();
        self.collect_vars();
        let settings_partial = self.settings_without_goodbye();
        let mut nodes = Vec::with_capacity(self.expanded.len());
        for i in 0..self.expanded.len() {
            let kind = self.node(i, &settings_partial);
            nodes.push(FlowNode {
                id: self.expanded[i].full_id.clone(),
                kind,
            });
        }
        let start = self.raw.start.as_ref().and_then(|s| self.resolve(0, s));
        let goodbye = self
            .raw
            .settings
            .goodbye
            .as_ref()
            .and_then(|g| self.resolve(0, g));
        let settings = Settings {
            goodbye,
            ..settings_partial
        };
        let hours = self.opening_hours();
        let bank_holidays = self.bank_holidays();
        // Graph rules run on a graph whose every reference resolved; with earlier errors
        // they would only repeat them as false "unreachable" or "never ends" findings.
        if let Some(start) = start
            && !self.diags.has_errors()
        {
            self.analyse_graph(&nodes, start, &settings);
        }
        let start = start?;
        Some(CheckedFlow {
            name: self
                .raw
                .name
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_default(),
            version: content_hash(text),
            file: self.file.to_path_buf(),
            languages: self.languages.clone(),
            start,
            nodes,
            intents,
            enums: self.enums.clone(),
            settings,
            hours,
            bank_holidays,
            prompt_texts: self.catalog.texts().clone(),
        })
    }

    fn default_lang(&self) -> String {
        self.languages
            .first()
            .cloned()
            .unwrap_or_else(|| "en".to_string())
    }

    fn error(
        &mut self,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diags.error(self.file, pos, code, message, hint);
    }
}

/// First 16 hex digits of the SHA-256 of the source text.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(digest).chars().take(16).collect()
}
