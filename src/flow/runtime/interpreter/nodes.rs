//! Moving between nodes: entering one, and what each kind of node does on entry.

use std::sync::Arc;

use super::*;

/// Where entering a node leaves the call.
enum Step {
    /// The node plays or asks something, or waits for the call layer.
    Wait,
    /// The node neither plays nor waits: go straight on to this one.
    Next(NodeId),
}

impl Interpreter {
    /// Enters `target` and follows nodes that neither play nor wait.
    pub(super) fn enter(&mut self, target: NodeId, out: &mut Vec<CallAction>) {
        self.clarifying = None;
        let mut target = target;
        for _ in 0..MAX_IMMEDIATE_STEPS {
            let flow = Arc::clone(&self.flow);
            let Some(node) = flow.nodes.get(target) else {
                self.end(out);
                return;
            };
            self.node = target;
            self.path.push(node.id.clone());
            match self.enter_node(node, out) {
                Step::Wait => return,
                Step::Next(next) => target = next,
            }
        }
        // Only reachable if the checker let an immediate loop through.
        self.end(out);
    }

    /// What `node` does on entry.
    fn enter_node(&mut self, node: &FlowNode, out: &mut Vec<CallAction>) -> Step {
        match &node.kind {
            NodeKind::Say {
                prompts,
                barge_in,
                next,
            } => {
                let items = self.items(prompts);
                self.play_then(items, *barge_in, AfterPlay::Goto(*next), out);
                Step::Wait
            }
            NodeKind::Ask(a) => {
                let items = self.items(&a.prompts);
                self.prompt_and_listen(items, Question::default(), out);
                Step::Wait
            }
            NodeKind::Confirm(c) => {
                let items = self.items(&c.prompts);
                self.prompt_and_listen(items, Question::default(), out);
                Step::Wait
            }
            NodeKind::Survey { questions, next } => match questions.first() {
                Some(q) => {
                    let items = self.items(&q.prompts);
                    self.prompt_and_listen(items, Question::default(), out);
                    Step::Wait
                }
                None => Step::Next(*next),
            },
            NodeKind::Set { assigns, next } => {
                for (name, template) in assigns {
                    let value = template.render(|v| self.lookup(v, false));
                    self.vars.insert(name.clone(), value);
                }
                Step::Next(*next)
            }
            NodeKind::Branch { arms, otherwise } => Step::Next(
                arms.iter()
                    .find(|arm| arm.when.iter().all(|c| self.holds(c)))
                    .map_or(*otherwise, |arm| arm.goto),
            ),
            NodeKind::Goto(next) => Step::Next(*next),
            NodeKind::Case {
                case_type,
                fields,
                update,
                ..
            } => {
                // A returning caller's own case: add to it rather than open a duplicate.
                let update_of = self
                    .verified
                    .as_ref()
                    .filter(|v| *update && v.service == *case_type)
                    .map(|v| v.reference.clone());
                self.save_case(case_type, fields, update_of, out);
                Step::Wait
            }
            NodeKind::Transfer {
                queue, priority, ..
            } => {
                self.transfer(queue.clone(), *priority, TransferReason::Flow, None, out);
                Step::Wait
            }
            NodeKind::LookupCases { none, .. } => {
                if self.ctx.caller.is_some() {
                    self.state = State::WaitingCases;
                    out.push(CallAction::FindOpenCases);
                    return Step::Wait;
                }
                // A withheld number has no cases to find: a new caller.
                self.open_cases = Some(Vec::new());
                Step::Next(*none)
            }
            NodeKind::VerifyCase {
                answers,
                verified,
                failed,
            } => {
                self.verified = self.verify(answers);
                // Whether it passed is logged; what was compared never is.
                tracing::info!(
                    node = %node.id,
                    verified = self.verified.is_some(),
                    "returning caller verification"
                );
                Step::Next(if self.verified.is_some() {
                    *verified
                } else {
                    *failed
                })
            }
            NodeKind::Hangup { prompts } => {
                if prompts.is_empty() {
                    self.end(out);
                } else {
                    let items = self.items(prompts);
                    self.play_then(items, false, AfterPlay::Hangup, out);
                }
                Step::Wait
            }
        }
    }

    pub(super) fn prompt_finished(&mut self, out: &mut Vec<CallAction>) {
        if let State::Playing { after, .. } = self.state {
            match after {
                AfterPlay::Goto(next) => self.enter(next, out),
                AfterPlay::Hangup => self.end(out),
                AfterPlay::EmergencyTransfer => {
                    let queue = self.flow.settings.emergency_queue.clone();
                    self.transfer(
                        queue,
                        Priority::Emergency,
                        TransferReason::Safeguarding,
                        None,
                        out,
                    );
                }
                AfterPlay::InterpreterTransfer => self.interpreter_transfer(out),
            }
        }
    }

    pub(super) fn end(&mut self, out: &mut Vec<CallAction>) {
        self.state = State::Ended;
        out.push(CallAction::Hangup);
    }

    /// Asks for a case of `case_type` with the node's `fields`: a new one, or an addition to
    /// the returning caller's case `update_of`. Besides the fields it carries what an advisor
    /// or the CRM would otherwise have to ask again: the intent that led here, the caller's
    /// language, the accessibility needs they showed, and what they said (the last few
    /// transcripts of asks that were not sensitive).
    pub(super) fn save_case(
        &mut self,
        case_type: &str,
        fields: &[(String, Template)],
        update_of: Option<String>,
        out: &mut Vec<CallAction>,
    ) {
        /// Enough of the conversation to see what the caller wanted, not the whole call.
        const EXCERPTS: usize = 5;
        let said: Vec<&Pii<String>> = self
            .turns
            .iter()
            .filter_map(|t| t.transcript.as_ref())
            .filter(|t| !t.expose().trim().is_empty())
            .collect();
        let excerpts = &said[said.len().saturating_sub(EXCERPTS)..];
        let draft = CaseDraft {
            service: case_type.to_string(),
            intent: self.intent.clone(),
            flow_name: self.flow.name.clone(),
            flow_version: self.flow.version.clone(),
            language: self.language.clone(),
            accessibility: self.accessibility(),
            transcript_excerpts: excerpts.iter().map(|t| (*t).clone()).collect(),
            update_of,
            fields: fields
                .iter()
                .map(|(name, template)| self.field(name, template))
                .collect(),
        };
        self.last_case = Some(draft.clone());
        self.state = State::WaitingCase;
        out.push(CallAction::SaveCase(draft));
    }

    pub(super) fn accessibility(&self) -> Accessibility {
        Accessibility {
            slow_speech: self.slow,
        }
    }

    /// The open case whose fields match every answer the caller gave, if any.
    pub(super) fn verify(&self, answers: &[String]) -> Option<OpenCase> {
        let given: Vec<(&str, String)> = answers
            .iter()
            .filter_map(|a| self.slots.get(a).map(|v| (a.as_str(), v.canonical())))
            .collect();
        if given.len() != answers.len() {
            return None;
        }
        let pairs: Vec<(&str, &str)> = given.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.open_cases
            .iter()
            .flatten()
            .find(|c| c.matches_caller_answers(&pairs))
            .cloned()
    }
}
