//! Naming scopes: subflows inlined once per call site, node references resolved within a
//! scope, and the variables templates may use.

use std::collections::BTreeSet;

use super::Checker;
use crate::flow::language::diag::did_you_mean;
use crate::flow::language::model::NodeId;
use crate::flow::language::raw::{RawKind, RawNode, Sp};
use crate::flow::language::yaml::Pos;

/// Variables every template may use.
const BUILT_IN_VARS: [&str; 7] = [
    "caller.number",
    "caller.withheld",
    "language",
    "intent",
    "date",
    "time",
    "flow.name",
];

/// Variables a `verify_case` node sets once the caller has proved who they are (unset before:
/// nothing of a case can be read out to an unverified caller).
const OPEN_CASE_VARS: [&str; 3] = ["open_case.ref", "open_case.service", "open_case.reported"];

/// One naming scope: the main nodes, or one inlined copy of a subflow.
pub(super) struct Scope<'r> {
    pub(super) prefix: String,
    pub(super) nodes: &'r [RawNode],
    pub(super) return_to: Option<NodeId>,
    pub(super) chain: Vec<String>,
}

/// A node laid out under its full id (`site/node` inside an inlined subflow).
pub(super) struct Expanded<'r> {
    pub(super) full_id: String,
    pub(super) raw: &'r RawNode,
    pub(super) scope: usize,
}

impl<'a> Checker<'a> {
    /// Lays out every node: the main nodes, then one copy of a subflow per call site.
    pub(super) fn expand(&mut self) {
        self.scopes.push(Scope {
            prefix: String::new(),
            nodes: &self.raw.nodes,
            return_to: None,
            chain: Vec::new(),
        });
        self.lay_out(0);
        // Subflow call sites open new scopes; new scopes may call further subflows.
        let mut i = 0;
        while i < self.expanded.len() {
            if let RawKind::Subflow { name, next } = &self.expanded[i].raw.kind {
                self.inline_subflow(i, name, next.as_ref());
            }
            i += 1;
        }
        self.warn_unused_subflows();
    }

    /// Adds a scope's nodes under its prefix (a full id already laid out keeps its first node).
    fn lay_out(&mut self, scope: usize) {
        let prefix = self.scopes[scope].prefix.clone();
        let nodes = self.scopes[scope].nodes;
        for raw in nodes {
            let full_id = format!("{prefix}{}", raw.id.value);
            if !self.index.contains_key(&full_id) {
                self.index.insert(full_id.clone(), self.expanded.len());
                self.expanded.push(Expanded {
                    full_id,
                    raw,
                    scope,
                });
            }
        }
    }

    /// Opens a scope for the subflow called at `site` (an index into `expanded`): unknown and
    /// recursive subflows are reported instead.
    fn inline_subflow(&mut self, site: usize, name: &'a Sp<String>, next: Option<&'a Sp<String>>) {
        let scope = self.expanded[site].scope;
        let site_id = self.expanded[site].full_id.clone();
        let chain = self.scopes[scope].chain.clone();
        let found = self
            .raw
            .subflows
            .iter()
            .find(|s| s.name.value == name.value);
        match found {
            None => {
                let hint = did_you_mean(
                    &name.value,
                    self.raw.subflows.iter().map(|s| s.name.value.as_str()),
                );
                self.error(
                    name.pos,
                    "unknown-subflow",
                    format!("unknown subflow `{}`", name.value),
                    hint,
                );
            }
            Some(_) if chain.contains(&name.value) => {
                self.error(
                    name.pos,
                    "recursive-subflow",
                    format!("subflow `{}` calls itself", name.value),
                    None,
                );
            }
            Some(sub) => {
                let return_to = next.and_then(|n| self.resolve(scope, n));
                let mut chain = chain;
                chain.push(name.value.clone());
                let new_scope = self.scopes.len();
                self.scopes.push(Scope {
                    prefix: format!("{site_id}/"),
                    nodes: &sub.nodes,
                    return_to,
                    chain,
                });
                self.lay_out(new_scope);
            }
        }
    }

    fn warn_unused_subflows(&mut self) {
        for sub in &self.raw.subflows {
            if !self
                .scopes
                .iter()
                .any(|s| s.chain.last() == Some(&sub.name.value))
            {
                self.diags.warning(
                    self.file,
                    sub.name.pos,
                    "unused-subflow",
                    format!("subflow `{}` is never used", sub.name.value),
                    None,
                );
            }
        }
    }

    /// Resolves a node reference written in `scope`, reporting an unknown one.
    pub(super) fn resolve(&mut self, scope: usize, name: &Sp<String>) -> Option<NodeId> {
        let s = &self.scopes[scope];
        let found = self
            .index
            .get(&format!("{}{}", s.prefix, name.value))
            .copied();
        if found.is_none() {
            let hint = did_you_mean(&name.value, s.nodes.iter().map(|n| n.id.value.as_str()));
            self.error(
                name.pos,
                "unknown-node",
                format!("unknown node `{}`", name.value),
                hint,
            );
        }
        found
    }

    /// A required node reference: reported when missing or unknown (then node 0, so the
    /// check goes on).
    pub(super) fn require(
        &mut self,
        scope: usize,
        name: &Option<Sp<String>>,
        at: Pos,
        what: &str,
        id: &str,
    ) -> NodeId {
        match name {
            Some(n) => self.resolve(scope, n).unwrap_or(0),
            None => {
                self.error(
                    at,
                    "missing-key",
                    format!("node `{id}` needs `{what}`"),
                    None,
                );
                0
            }
        }
    }

    /// Every variable a template may name: the built-in ones and those the flow's nodes set.
    pub(super) fn collect_vars(&mut self) {
        let mut vars: BTreeSet<String> = BUILT_IN_VARS.iter().map(|s| s.to_string()).collect();
        for e in &self.expanded {
            match &e.raw.kind {
                RawKind::Ask(a) => {
                    if let Some((name, _)) = &a.slot {
                        vars.insert(format!("slots.{}", name.value));
                    }
                }
                RawKind::Set { assigns, .. } => {
                    for (k, _) in assigns {
                        vars.insert(format!("vars.{}", k.value));
                    }
                }
                RawKind::Case { case_type, .. } => {
                    vars.insert("case.ref".to_string());
                    if let Some(t) = case_type {
                        self.case_types.insert(t.value.clone());
                    }
                }
                RawKind::LookupCases { .. } => {
                    self.has_lookup = true;
                    vars.insert("caller.open_cases".to_string());
                }
                RawKind::VerifyCase { .. } => {
                    self.has_verify = true;
                    vars.extend(OPEN_CASE_VARS.iter().map(|v| v.to_string()));
                }
                RawKind::Survey { questions, .. } => {
                    for q in questions {
                        vars.insert(format!("survey.{}", q.name.value));
                    }
                }
                _ => {}
            }
        }
        self.known_vars = vars;
    }
}
