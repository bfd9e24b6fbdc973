//! What the caller hears and how we listen: prompts, read-backs, variables, conditions.

use std::sync::Arc;

use chrono::{Datelike, Local};

use super::*;

impl Interpreter {
    /// Asks `question` with `items` and listens for the answer.
    pub(super) fn prompt_and_listen(
        &mut self,
        items: Vec<PlayItem>,
        question: Question,
        out: &mut Vec<CallAction>,
    ) {
        self.asked = items
            .iter()
            .find_map(|i| match i {
                PlayItem::Prompt { name, .. } => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| self.flow.node_name(self.node).to_string());
        self.play(items, true, out);
        out.push(CallAction::Listen(self.listen_spec(question.keys_only)));
        self.state = State::Listening(question);
    }

    pub(super) fn play(&mut self, items: Vec<PlayItem>, barge_in: bool, out: &mut Vec<CallAction>) {
        self.last_play = items.clone();
        out.push(CallAction::Play { items, barge_in });
    }

    /// Plays a message that asks nothing, and does `after` once it has been played.
    pub(super) fn play_then(
        &mut self,
        items: Vec<PlayItem>,
        barge_in: bool,
        after: AfterPlay,
        out: &mut Vec<CallAction>,
    ) {
        self.play(items, barge_in, out);
        self.state = State::Playing {
            after,
            interruptible: barge_in,
        };
    }

    pub(super) fn replay(&mut self, out: &mut Vec<CallAction>) {
        // Re-render so a language switch takes effect; fall back to what was played last.
        let flow = Arc::clone(&self.flow);
        let question = self.question();
        if self.clarifying.is_some() {
            // The clarifying question again, not the question it clarifies.
            let asked = self.asked.clone();
            self.prompt_and_listen(self.last_play.clone(), question, out);
            self.asked = asked;
            return;
        }
        let items = match self.kind() {
            _ if question.keys_only => self.keys_items(),
            NodeKind::Ask(a) => self.items(&a.prompts),
            NodeKind::Confirm(c) => self.items(&c.prompts),
            NodeKind::Survey { questions, .. } => questions
                .get(question.survey)
                .map_or_else(|| self.last_play.clone(), |q| self.items(&q.prompts)),
            _ => self.last_play.clone(),
        };
        drop(flow);
        self.prompt_and_listen(items, question, out);
    }

    /// How to listen for the answer to the current node's question.
    pub(super) fn listen_spec(&self, keys_only: bool) -> ListenSpec {
        let s = &self.flow.settings;
        let mut spec = ListenSpec {
            no_input_timeout: s.no_input_timeout,
            end_of_speech: s.end_of_speech,
            max_utterance: s.max_utterance,
            max_digits: 1,
            inter_digit_timeout: s.inter_digit_timeout,
            terminators: String::new(),
            hints: Vec::new(),
            speech: !keys_only,
        };
        if let NodeKind::Ask(a) = self.kind() {
            spec.no_input_timeout = a.no_input_timeout;
            spec.end_of_speech = a.end_of_speech;
            if let Some(d) = &a.digits {
                spec.max_digits = d.max_digits;
                spec.terminators = d.terminator.map(String::from).unwrap_or_default();
            }
            for (intent, _) in &a.intents {
                if let Some(i) = self.flow.intents.iter().find(|i| &i.name == intent) {
                    spec.hints
                        .extend(i.keywords.iter().take(HINTS_PER_INTENT).cloned());
                }
            }
        }
        // A caller who asked us to slow down gets longer to answer too: twice the silence
        // before their answer counts as finished, half as long again before no input.
        if self.slow {
            spec.end_of_speech = spec.end_of_speech.saturating_mul(2);
            spec.no_input_timeout = spec.no_input_timeout.saturating_mul(3) / 2;
        }
        // Then what the caller may say at any question: single words such as "operator" or
        // "nope" are hard for a small model without a hint, and they matter most. Not at a
        // question for a value (postcode, number, date): there the hint words are what Whisper
        // hears instead of the letters and digits ("RM16, too fast").
        let asks_value = matches!(self.kind(), NodeKind::Ask(a) if a.slot.is_some());
        if asks_value {
            return spec;
        }
        let g = self.globals();
        let mut also: Vec<GlobalIntent> = Vec::new();
        if matches!(self.kind(), NodeKind::Confirm(_)) {
            also.extend(GlobalIntent::CONFIRM);
        }
        // The live handlers, less safeguarding: its phrases get no hint.
        also.extend(
            GlobalIntent::HANDLERS
                .into_iter()
                .filter(|intent| *intent != GlobalIntent::Safeguarding && intent.is_live(&g)),
        );
        for intent in also {
            if let Some(i) = self.flow.intents.iter().find(|i| i.name == intent.name()) {
                spec.hints
                    .extend(i.keywords.iter().take(HINTS_PER_INTENT).cloned());
            }
        }
        spec
    }

    pub(super) fn items(&self, prompts: &[PromptRef]) -> Vec<PlayItem> {
        let lang = Some(self.language.clone());
        prompts
            .iter()
            .map(|p| match p {
                PromptRef::Named(name) => PlayItem::Prompt {
                    name: name.clone(),
                    lang: lang.clone(),
                },
                PromptRef::Text(by_lang) => {
                    let template = by_lang
                        .get(&self.language)
                        .or_else(|| by_lang.get(self.flow.default_language()))
                        .or_else(|| by_lang.values().next());
                    let text = template
                        .map(|t| t.render(|v| self.lookup(v, true)))
                        .unwrap_or_default();
                    PlayItem::Text {
                        text,
                        lang: lang.clone(),
                    }
                }
            })
            .collect()
    }

    /// A variable's value: read-back form for prompts (`spoken`), canonical form otherwise.
    pub(super) fn lookup(&self, var: &str, spoken: bool) -> Option<String> {
        if let Some(slot) = var.strip_prefix("slots.") {
            return self.slots.get(slot).map(|v| {
                if spoken {
                    v.spoken.clone()
                } else {
                    v.canonical()
                }
            });
        }
        if let Some(q) = var.strip_prefix("survey.") {
            return self.survey.get(q).map(u8::to_string);
        }
        if let Some(what) = var.strip_prefix("open_case.") {
            // Unset until the caller has proved the case is theirs.
            let case = self.verified.as_ref()?;
            return match what {
                "ref" => Some(case.reference.clone()),
                "service" => Some(case.service.replace('_', " ")),
                "reported" => Some(reported_when(case, self.ctx.date)),
                _ => None,
            };
        }
        match var {
            "caller.open_cases" => self.open_cases.as_ref().map(|c| c.len().to_string()),
            "case.ref" => self.case_ref.clone(),
            "caller.number" => self.ctx.caller.as_ref().map(|c| c.expose().clone()),
            "caller.withheld" => Some(self.ctx.caller.is_none().to_string()),
            "language" => Some(self.language.clone()),
            "intent" => self.intent.clone(),
            "date" => Some(self.ctx.date.format("%Y-%m-%d").to_string()),
            "time" => Some(self.ctx.time.format("%H:%M").to_string()),
            "flow.name" => Some(self.flow.name.clone()),
            other => self.vars.get(other).cloned(),
        }
    }

    /// A case field: a lone slot keeps its value and type; anything else is rendered text.
    pub(super) fn field(&self, name: &str, template: &Template) -> CaseField {
        if let [TemplatePart::Var(var)] = template.parts.as_slice()
            && let Some(slot) = var.strip_prefix("slots.")
            && let Some(v) = self.slots.get(slot)
        {
            return v.field(name.to_string());
        }
        let text = template.render(|v| self.lookup(v, false));
        CaseField::new(name, FieldType::Text, Value::String(text))
    }

    pub(super) fn holds(&self, c: &Condition) -> bool {
        match c {
            Condition::Equals { var, value } => {
                self.lookup(var, false).as_deref() == Some(value.as_str())
            }
            Condition::NotEquals { var, value } => {
                self.lookup(var, false).as_deref() != Some(value.as_str())
            }
            Condition::In { var, values } => {
                self.lookup(var, false).is_some_and(|v| values.contains(&v))
            }
            Condition::IsSet { var, set } => self.lookup(var, false).is_some() == *set,
            Condition::Open(want) => {
                self.flow
                    .hours
                    .is_open(self.ctx.date, self.ctx.time, &self.flow.bank_holidays)
                    == *want
            }
            Condition::BankHoliday(want) => {
                self.flow.bank_holidays.contains(&self.ctx.date) == *want
            }
            Condition::CallerWithheld(want) => self.ctx.caller.is_none() == *want,
        }
    }
}

/// When a case was reported, relative to the call date, as a prompt reads it: "today",
/// "yesterday", "on Tuesday" within the last week, else "on 3 November".
fn reported_when(case: &OpenCase, call_date: NaiveDate) -> String {
    let reported = case.created_at.with_timezone(&Local).date_naive();
    match (call_date - reported).num_days() {
        ..=0 => "today".to_string(),
        1 => "yesterday".to_string(),
        2..=6 => format!("on {}", reported.format("%A")),
        _ => format!("on {} {}", reported.day(), reported.format("%B")),
    }
}
