//! `frontdoor graph`: a diagram of a flow as Mermaid, Graphviz DOT, or a self-contained SVG
//! (laid out here in layers by distance from `start`, so no Graphviz is needed).
//!
//! Owns diagram rendering only.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use super::exit_code::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::flow::language::catalog::catalog_for;
use crate::flow::language::check::successors;
use crate::flow::language::files::check_file;
use crate::flow::language::model::{CheckedFlow, NodeKind};

/// Diagram formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Svg,
    Mermaid,
    Dot,
}

/// Writes a diagram of the flow file; exit code as for `validate`.
pub fn graph_cmd(flow: &Path, format: GraphFormat, out: &mut dyn Write) -> i32 {
    if !flow.is_file() {
        let _ = writeln!(out, "error: {} is not a flow file", flow.display());
        return EXIT_USAGE;
    }
    let (checked, diags) = check_file(flow, &catalog_for(flow));
    let Some(checked) = checked else {
        let _ = write!(out, "{diags}");
        return EXIT_FAILED;
    };
    let text = match format {
        GraphFormat::Mermaid => mermaid(&checked),
        GraphFormat::Dot => dot(&checked),
        GraphFormat::Svg => svg(&checked),
    };
    let _ = out.write_all(text.as_bytes());
    EXIT_OK
}

/// Labelled edges of a node.
fn edges(flow: &CheckedFlow, id: usize) -> Vec<(usize, String)> {
    let Some(node) = flow.nodes.get(id) else {
        return Vec::new();
    };
    match &node.kind {
        NodeKind::Ask(a) => {
            let mut e: Vec<(usize, String)> =
                a.intents.iter().map(|(i, t)| (*t, i.clone())).collect();
            e.extend(a.next.map(|n| (n, "answered".to_string())));
            e.extend(a.fallback.map(|n| (n, "fallback".to_string())));
            e
        }
        NodeKind::Confirm(c) => vec![(c.yes, "yes".into()), (c.no, "no".into())],
        NodeKind::Branch { arms, otherwise } => {
            let mut e: Vec<(usize, String)> = arms
                .iter()
                .enumerate()
                .map(|(i, a)| (a.goto, format!("when {}", i + 1)))
                .collect();
            e.push((*otherwise, "else".into()));
            e
        }
        NodeKind::Case {
            next, on_failure, ..
        } => {
            let mut e = vec![(*next, "stored".to_string())];
            e.extend(on_failure.map(|n| (n, "failed".to_string())));
            e
        }
        NodeKind::LookupCases { found, none, .. } => {
            vec![(*found, "found".into()), (*none, "none".into())]
        }
        NodeKind::VerifyCase {
            verified, failed, ..
        } => vec![(*verified, "verified".into()), (*failed, "failed".into())],
        NodeKind::Transfer { on_failure, .. } => on_failure
            .map(|n| (n, "failed".to_string()))
            .into_iter()
            .collect(),
        other => successors(other, &flow.settings)
            .into_iter()
            .map(|n| (n, String::new()))
            .collect(),
    }
}

fn label(flow: &CheckedFlow, id: usize) -> String {
    let Some(node) = flow.nodes.get(id) else {
        return String::new();
    };
    let kind = match &node.kind {
        NodeKind::Say { .. } => "say".to_string(),
        NodeKind::Ask(a) => match &a.slot {
            Some(s) => format!("ask {}: {}", s.name, s.kind.name()),
            None => "ask".to_string(),
        },
        NodeKind::Confirm(_) => "confirm".into(),
        NodeKind::Set { .. } => "set".into(),
        NodeKind::Branch { .. } => "branch".into(),
        NodeKind::Case {
            case_type, update, ..
        } => {
            if *update {
                format!("case {case_type} (update)")
            } else {
                format!("case {case_type}")
            }
        }
        NodeKind::LookupCases { case_types, .. } => {
            format!("lookup_cases {}", case_types.join(", "))
        }
        NodeKind::VerifyCase { answers, .. } => format!("verify_case {}", answers.join(", ")),
        NodeKind::Transfer { queue, .. } => format!("transfer {queue}"),
        NodeKind::Survey { .. } => "survey".into(),
        NodeKind::Goto(_) => "goto".into(),
        NodeKind::Hangup { .. } => "hangup".into(),
    };
    format!("{}\n({kind})", node.id)
}

fn safe_id(id: usize) -> String {
    format!("n{id}")
}

fn mermaid(flow: &CheckedFlow) -> String {
    let mut s = String::from("flowchart TD\n");
    for id in 0..flow.nodes.len() {
        let text = label(flow, id).replace('\n', "<br/>").replace('"', "'");
        let _ = writeln!(s, "  {}[\"{text}\"]", safe_id(id));
    }
    for id in 0..flow.nodes.len() {
        for (to, l) in edges(flow, id) {
            if l.is_empty() {
                let _ = writeln!(s, "  {} --> {}", safe_id(id), safe_id(to));
            } else {
                let _ = writeln!(
                    s,
                    "  {} -->|{}| {}",
                    safe_id(id),
                    l.replace('|', "/"),
                    safe_id(to)
                );
            }
        }
    }
    s
}

fn dot(flow: &CheckedFlow) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box, style=rounded];\n",
        flow.name
    );
    for id in 0..flow.nodes.len() {
        let _ = writeln!(
            s,
            "  {} [label=\"{}\"];",
            safe_id(id),
            label(flow, id).replace('"', "'").replace('\n', "\\n")
        );
    }
    for id in 0..flow.nodes.len() {
        for (to, l) in edges(flow, id) {
            let _ = writeln!(
                s,
                "  {} -> {} [label=\"{}\"];",
                safe_id(id),
                safe_id(to),
                l.replace('"', "'")
            );
        }
    }
    s.push_str("}\n");
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Layers by breadth-first distance from `start`; boxes in rows, edges as straight lines.
fn svg(flow: &CheckedFlow) -> String {
    const W: usize = 190;
    const H: usize = 44;
    const GAP_X: usize = 30;
    const GAP_Y: usize = 60;
    let n = flow.nodes.len();
    let mut layer = vec![usize::MAX; n];
    let mut queue = VecDeque::from([flow.start]);
    if let Some(l) = layer.get_mut(flow.start) {
        *l = 0;
    }
    while let Some(id) = queue.pop_front() {
        for (to, _) in edges(flow, id) {
            if to < n && layer[to] == usize::MAX {
                layer[to] = layer[id] + 1;
                queue.push_back(to);
            }
        }
    }
    let max_layer = layer
        .iter()
        .filter(|l| **l != usize::MAX)
        .max()
        .copied()
        .unwrap_or(0);
    let mut pos = vec![(0usize, 0usize); n];
    let mut widths = vec![0usize; max_layer + 2];
    for id in 0..n {
        let l = if layer[id] == usize::MAX {
            max_layer + 1
        } else {
            layer[id]
        };
        pos[id] = (widths[l] * (W + GAP_X) + GAP_X, l * (H + GAP_Y) + GAP_Y / 2);
        widths[l] += 1;
    }
    let width = widths.iter().max().copied().unwrap_or(1) * (W + GAP_X) + GAP_X;
    let height = (max_layer + 2) * (H + GAP_Y);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <defs><marker id=\"a\" markerWidth=\"8\" markerHeight=\"8\" refX=\"8\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\" fill=\"#555\"/></marker></defs>\n\
         <title>{}</title>\n",
        xml(&flow.name)
    );
    for id in 0..n {
        for (to, l) in edges(flow, id) {
            let Some(&(tx, ty)) = pos.get(to) else {
                continue;
            };
            let (fx, fy) = pos[id];
            let (x1, y1, x2, y2) = (fx + W / 2, fy + H, tx + W / 2, ty);
            let _ = writeln!(
                s,
                "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#999\" marker-end=\"url(#a)\"/>"
            );
            if !l.is_empty() {
                let _ = writeln!(
                    s,
                    "<text x=\"{}\" y=\"{}\" fill=\"#555\" font-size=\"9\">{}</text>",
                    (x1 + x2) / 2 + 3,
                    (y1 + y2) / 2,
                    xml(&l)
                );
            }
        }
    }
    for (id, &(x, y)) in pos.iter().enumerate() {
        let fill = match flow.nodes[id].kind {
            NodeKind::Ask(_) | NodeKind::Confirm(_) | NodeKind::Survey { .. } => "#e3f0ff",
            NodeKind::Transfer { .. } => "#fff0d9",
            NodeKind::Hangup { .. } => "#eeeeee",
            NodeKind::Case { .. } => "#e6f7e6",
            _ => "#ffffff",
        };
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{W}\" height=\"{H}\" rx=\"6\" fill=\"{fill}\" stroke=\"#333\"/>"
        );
        for (i, line) in label(flow, id).lines().enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + W / 2,
                y + 17 + i * 14,
                xml(line)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn council_graph_renders_in_every_format() {
        let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("call-flows/council.yaml");
        for (format, marker) in [
            (GraphFormat::Mermaid, "flowchart TD"),
            (GraphFormat::Dot, "digraph"),
            (GraphFormat::Svg, "<svg"),
        ] {
            let mut out = Vec::new();
            assert_eq!(graph_cmd(&flow, format, &mut out), 0);
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with(marker), "{format:?}");
            assert!(text.contains("missed_bin"), "{format:?}");
        }
    }
}
