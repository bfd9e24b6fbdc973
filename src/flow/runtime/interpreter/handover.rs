//! Handing the caller to a person: safeguarding, advisors, interpreters, `transfer` nodes.

use super::*;

impl Interpreter {
    /// The flow has no prompts in the caller's language: tell them, in it when the prompt has
    /// a text in it, that an advisor with an interpreter is coming, then hand them over.
    pub(super) fn offer_interpreter(&mut self, out: &mut Vec<CallAction>) {
        let Some(name) = self.flow.settings.interpreter_prompt.clone() else {
            self.interpreter_transfer(out);
            return;
        };
        let lang = self.caller_language.clone().unwrap_or_default();
        let item = match self.flow.prompt_texts.get(&(lang.clone(), name.clone())) {
            // Synthesised in the caller's language (espeak-ng has pl, ro, lt voices).
            Some(text) => PlayItem::Text {
                text: text.clone(),
                lang: Some(lang),
            },
            None => PlayItem::Prompt {
                name,
                lang: Some(self.language.clone()),
            },
        };
        out.push(CallAction::StopPlayback);
        self.play_then(vec![item], false, AfterPlay::InterpreterTransfer, out);
    }

    pub(super) fn interpreter_transfer(&mut self, out: &mut Vec<CallAction>) {
        let queue = self.flow.settings.interpreter_queue.clone();
        let resume = match self.kind() {
            NodeKind::Ask(_) | NodeKind::Confirm(_) | NodeKind::Survey { .. } => Some(self.node),
            _ => None,
        };
        self.transfer(
            queue,
            Priority::Normal,
            TransferReason::Interpreter,
            resume,
            out,
        );
    }

    pub(super) fn emergency(&mut self, out: &mut Vec<CallAction>) {
        out.push(CallAction::StopPlayback);
        let items = self.items(&self.flow.settings.emergency_prompt.clone());
        self.play_then(items, false, AfterPlay::EmergencyTransfer, out);
    }

    pub(super) fn advisor(
        &mut self,
        reason: TransferReason,
        resume: Option<NodeId>,
        out: &mut Vec<CallAction>,
    ) {
        let queue = self.flow.settings.advisor_queue.clone();
        self.transfer(queue, Priority::Normal, reason, resume, out);
    }

    pub(super) fn transfer(
        &mut self,
        queue: String,
        priority: Priority,
        reason: TransferReason,
        resume: Option<NodeId>,
        out: &mut Vec<CallAction>,
    ) {
        let context = FlowTransfer {
            flow_name: self.flow.name.clone(),
            flow_version: self.flow.version.clone(),
            reason,
            priority: match priority {
                Priority::Normal => TransferPriority::Normal,
                Priority::Urgent => TransferPriority::Urgent,
                Priority::Emergency => TransferPriority::Emergency,
            },
            intent: self.intent.clone(),
            slots: self
                .slots
                .iter()
                .map(|(name, v)| v.field(name.clone()))
                .collect(),
            case_ref: self.case_ref.clone(),
            returning_case: self.verified.as_ref().map(|c| c.reference.clone()),
            language: self
                .caller_language
                .clone()
                .unwrap_or_else(|| self.language.clone()),
            interpreter: self.caller_language.is_some(),
            accessibility: self.accessibility(),
            node: self.flow.node_name(self.node).to_string(),
        };
        self.last_transfer = Some((queue.clone(), context.clone()));
        self.state = State::WaitingTransfer { resume };
        out.push(CallAction::Transfer {
            queue,
            context: TransferContext::Flow(context),
        });
    }
}
