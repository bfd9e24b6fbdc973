//! Reading an intent from a call's node path when the record's turns do not carry one: the
//! flow says which node each intent of a question leads to, so the step question → next node
//! names the intent (`main_menu` → `pothole` means `pothole`; a confirm's `yes`/`no` likewise).
//! Used only as a fallback, and marked as such in the results.

use std::collections::HashMap;
use std::path::Path;

use super::EvalError;
use crate::flow::model::NodeKind;
use crate::flow::set::FlowSet;

/// (question node, next node) → intent, for the default flow of a flow directory.
#[derive(Debug, Clone, Default)]
pub struct PathIntents {
    steps: HashMap<(String, String), String>,
    questions: std::collections::HashSet<String>,
}

impl PathIntents {
    pub fn load(flows: &Path, prompts: &Path) -> Result<PathIntents, EvalError> {
        let set = FlowSet::load(flows, prompts).map_err(|d| EvalError::Usage(d.to_string()))?;
        let flow = set.route("");
        let id = |n: usize| flow.nodes.get(n).map(|node| node.id.clone());
        let mut steps = HashMap::new();
        let mut questions = std::collections::HashSet::new();
        for node in &flow.nodes {
            if matches!(node.kind, NodeKind::Ask(_) | NodeKind::Confirm(_)) {
                questions.insert(node.id.clone());
            }
            let pairs: Vec<(String, usize)> = match &node.kind {
                NodeKind::Ask(ask) => ask.intents.clone(),
                NodeKind::Confirm(c) => vec![("yes".into(), c.yes), ("no".into(), c.no)],
                _ => continue,
            };
            for (intent, target) in pairs {
                if let Some(target) = id(target) {
                    // Two intents to one node would be ambiguous: keep neither.
                    let key = (node.id.clone(), target);
                    steps
                        .entry(key)
                        .and_modify(|v: &mut String| v.clear())
                        .or_insert(intent);
                }
            }
        }
        steps.retain(|_, v| !v.is_empty());
        Ok(PathIntents { steps, questions })
    }

    /// The intent that left the last question the call answered, when the flow names one.
    /// Nodes that run without the caller (subflow entries, `say`) may follow it in the path.
    pub fn last_intent(&self, path: &[String]) -> Option<String> {
        let last = path.len().checked_sub(1)?;
        let i = (0..last)
            .rev()
            .find(|&i| path.get(i).is_some_and(|n| self.questions.contains(n)))?;
        let question = path.get(i)?.clone();
        let next = path.get(i + 1)?.clone();
        self.steps.get(&(question, next)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn council_main_menu_steps_name_their_intents() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let map = PathIntents::load(&root.join("call-flows"), &root.join("audio-prompts"))
            .unwrap_or_else(|e| panic!("{e}"));
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            map.last_intent(&path(&["privacy_notice", "main_menu", "pothole"]))
                .as_deref(),
            Some("pothole")
        );
        assert_eq!(
            map.last_intent(&path(&["confirm_account_number", "balance_transfer"]))
                .as_deref(),
            Some("yes")
        );
        assert_eq!(
            map.last_intent(&path(&[
                "main_menu",
                "missed_bin",
                "missed_bin/ask_postcode"
            ]))
            .as_deref(),
            Some("missed_bin")
        );
        assert_eq!(
            map.last_intent(&path(&["privacy_notice", "main_menu"])),
            None
        );
        assert_eq!(map.last_intent(&path(&["main_menu", "main_menu"])), None);
    }
}
