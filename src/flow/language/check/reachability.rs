//! Graph rules, run once every reference resolved: every node is reachable from `start` (or
//! the goodbye survey), every reachable node has a path that ends the call, and no loop spins
//! through nodes that neither play nor wait.

use std::collections::VecDeque;

use super::Checker;
use crate::flow::language::model::{FlowNode, NodeId, NodeKind, Settings};

impl Checker<'_> {
    pub(super) fn analyse_graph(&mut self, nodes: &[FlowNode], start: NodeId, settings: &Settings) {
        let edges: Vec<Vec<NodeId>> = nodes
            .iter()
            .map(|n| successors(&n.kind, settings))
            .collect();
        let mut roots = vec![start];
        roots.extend(settings.goodbye);
        let reachable = bfs(
            &roots,
            |n| edges.get(n).cloned().unwrap_or_default(),
            nodes.len(),
        );
        self.report_unreachable(nodes, &reachable);
        self.report_endless(nodes, &edges, &reachable);
        self.report_loops_without_wait(nodes, &edges);
    }

    fn report_unreachable(&mut self, nodes: &[FlowNode], reachable: &[bool]) {
        for (i, node) in nodes.iter().enumerate() {
            if !reachable[i] {
                let pos = self.expanded[i].raw.id.pos;
                self.error(
                    pos,
                    "unreachable-node",
                    format!("node `{}` can never be reached", node.id),
                    Some(format!(
                        "nothing leads here from `start`; remove it or add a `goto: {}`",
                        self.expanded[i].raw.id.value
                    )),
                );
            }
        }
    }

    /// Reverse reachability from the places a call can end.
    fn report_endless(&mut self, nodes: &[FlowNode], edges: &[Vec<NodeId>], reachable: &[bool]) {
        let mut preds: Vec<Vec<NodeId>> = vec![Vec::new(); nodes.len()];
        for (from, outs) in edges.iter().enumerate() {
            for &to in outs {
                if let Some(p) = preds.get_mut(to) {
                    p.push(from);
                }
            }
        }
        let ends: Vec<NodeId> = (0..nodes.len())
            .filter(|&i| can_end_here(&nodes[i].kind))
            .collect();
        let can_end = bfs(
            &ends,
            |n| preds.get(n).cloned().unwrap_or_default(),
            nodes.len(),
        );
        for (i, node) in nodes.iter().enumerate() {
            if reachable[i] && !can_end[i] {
                let pos = self.expanded[i].raw.id.pos;
                self.error(pos, "no-end", format!("no path from `{}` ever ends the call", node.id), Some("this is a loop with no exit: add a `hangup`, a `transfer`, or an `ask` whose fallback reaches an advisor".into()));
            }
        }
    }

    /// Loops through nodes that neither play nor wait would spin forever within one event.
    fn report_loops_without_wait(&mut self, nodes: &[FlowNode], edges: &[Vec<NodeId>]) {
        let mut state = vec![0u8; nodes.len()];
        for root in 0..nodes.len() {
            if state[root] != 0 || !immediate(&nodes[root].kind) {
                continue;
            }
            let mut stack = vec![(root, 0usize)];
            state[root] = 1;
            while let Some((n, child)) = stack.pop() {
                let outs = &edges[n];
                if child < outs.len() {
                    stack.push((n, child + 1));
                    let m = outs[child];
                    if m >= nodes.len() || !immediate(&nodes[m].kind) {
                        continue;
                    }
                    if state[m] == 1 {
                        let pos = self.expanded[m].raw.id.pos;
                        self.error(pos, "loop-without-wait", format!("`{}` loops back to itself without playing anything or waiting for the caller", nodes[m].id), Some("put a `say` or an `ask` in the loop, or end it".into()));
                    } else if state[m] == 0 {
                        state[m] = 1;
                        stack.push((m, 0));
                    }
                } else {
                    state[n] = 2;
                }
            }
        }
    }
}

/// A node that passes control on at once, neither playing nor waiting.
fn immediate(kind: &NodeKind) -> bool {
    matches!(
        kind,
        NodeKind::Set { .. }
            | NodeKind::Branch { .. }
            | NodeKind::Goto(_)
            | NodeKind::VerifyCase { .. }
            // Immediate for a withheld number (nothing to look up).
            | NodeKind::LookupCases { .. }
    )
}

/// Where a node can lead (the global "goodbye" leads to the survey from any ask).
pub fn successors(kind: &NodeKind, settings: &Settings) -> Vec<NodeId> {
    let mut out = Vec::new();
    match kind {
        NodeKind::Say { next, .. } | NodeKind::Set { next, .. } | NodeKind::Survey { next, .. } => {
            out.push(*next)
        }
        NodeKind::Ask(a) => {
            out.extend(a.intents.iter().map(|(_, t)| *t));
            out.extend(a.next);
            out.extend(a.fallback);
            if a.globals.goodbye {
                out.extend(settings.goodbye);
            }
        }
        NodeKind::Confirm(c) => {
            out.extend([c.yes, c.no]);
            out.extend(c.fallback);
            if c.globals.goodbye {
                out.extend(settings.goodbye);
            }
        }
        NodeKind::Branch { arms, otherwise } => {
            out.extend(arms.iter().map(|a| a.goto));
            out.push(*otherwise);
        }
        NodeKind::Case {
            next, on_failure, ..
        } => {
            out.push(*next);
            out.extend(*on_failure);
        }
        NodeKind::Transfer { on_failure, .. } => out.extend(*on_failure),
        NodeKind::LookupCases { found, none, .. } => out.extend([*found, *none]),
        NodeKind::VerifyCase {
            verified, failed, ..
        } => out.extend([*verified, *failed]),
        NodeKind::Goto(t) => out.push(*t),
        NodeKind::Hangup { .. } => {}
    }
    out
}

/// A node where the call can end: hang-up, hand-over, or an ask/case whose default fallback
/// is the advisor queue.
fn can_end_here(kind: &NodeKind) -> bool {
    match kind {
        NodeKind::Hangup { .. } | NodeKind::Transfer { .. } => true,
        NodeKind::Ask(a) => a.fallback.is_none(),
        NodeKind::Confirm(c) => c.fallback.is_none(),
        NodeKind::Case { on_failure, .. } => on_failure.is_none(),
        _ => false,
    }
}

fn bfs(roots: &[NodeId], next: impl Fn(NodeId) -> Vec<NodeId>, len: usize) -> Vec<bool> {
    let mut seen = vec![false; len];
    let mut queue: VecDeque<NodeId> = VecDeque::new();
    for &r in roots {
        if r < len && !seen[r] {
            seen[r] = true;
            queue.push_back(r);
        }
    }
    while let Some(n) = queue.pop_front() {
        for m in next(n) {
            if m < len && !seen[m] {
                seen[m] = true;
                queue.push_back(m);
            }
        }
    }
    seen
}
