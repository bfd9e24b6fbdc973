//! What the caller said or keyed at a question, and what a miss leads to.

use std::sync::Arc;

use super::*;

impl Interpreter {
    pub(super) fn globals(&self) -> Globals {
        match self.kind() {
            NodeKind::Ask(a) => a.globals,
            NodeKind::Confirm(c) => c.globals,
            // A survey runs after the business is done: no advisor, goodbye just ends it.
            _ => Globals {
                advisor: false,
                repeat: true,
                slower: true,
                goodbye: true,
                language: true,
            },
        }
    }

    pub(super) fn heard(
        &mut self,
        intent: Option<String>,
        slots: BTreeMap<String, SlotCapture>,
        language: Option<String>,
        out: &mut Vec<CallAction>,
    ) {
        let g = self.globals();
        if g.language
            && let Some(lang) = language
            && lang != self.language
            && self.flow.languages.contains(&lang)
        {
            self.language = lang;
            self.replay(out);
            return;
        }
        if let Some(i) = intent.as_deref()
            && self.global(i, out)
        {
            return;
        }
        if self.clarifying.is_some() {
            self.clarification_heard(intent, out);
            return;
        }
        // Product rule: the first utterance of a call that matches nothing may be another
        // language; ask the multilingual model before treating it as a no-match.
        if g.language && self.utterances == 1 && intent.is_none() && slots.is_empty() {
            self.state = State::DetectingLanguage(self.question());
            out.push(CallAction::DetectLanguage);
            return;
        }
        let flow = Arc::clone(&self.flow);
        match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                if let Some(spec) = &a.slot
                    && let Some(value) = slots.get(&spec.name)
                    && let Some(next) = a.next
                {
                    self.slots.insert(spec.name.clone(), value.clone());
                    self.enter(next, out);
                    return;
                }
                if let Some(i) = intent
                    && let Some((_, target)) = a.intents.iter().find(|(name, _)| *name == i)
                {
                    let target = *target;
                    self.intent = Some(i);
                    self.enter(target, out);
                    return;
                }
                self.miss(Miss::NoMatch, out);
            }
            NodeKind::Confirm(c) => match intent.as_deref().and_then(GlobalIntent::from_name) {
                Some(GlobalIntent::Yes) => self.enter(c.yes, out),
                Some(GlobalIntent::No) => self.enter(c.no, out),
                _ => self.miss(Miss::NoMatch, out),
            },
            NodeKind::Survey { questions, .. } => {
                let max = questions.get(self.question().survey).map_or(5, |q| q.max);
                let answer = slots
                    .values()
                    .find_map(|v| v.json.as_i64())
                    .and_then(|n| u8::try_from(n).ok());
                match answer {
                    Some(n) if (1..=max).contains(&n) => self.survey_answer(n, out),
                    _ => self.miss(Miss::NoMatch, out),
                }
            }
            _ => {}
        }
        drop(flow);
    }

    /// Keys: `single` is one DTMF key (menus), else a collected entry (digit asks).
    pub(super) fn keyed(&mut self, keys: &str, single: bool, out: &mut Vec<CallAction>) {
        let g = self.globals();
        let entry = keys.trim_end_matches('#');
        // Product rule: in a digit ask, 0 means "advisor" only when pressed alone and
        // followed by the inter-digit timeout, which is exactly a collected entry of "0".
        if entry == "0" && g.advisor {
            self.advisor(TransferReason::CallerPressedZero, Some(self.node), out);
            return;
        }
        if entry == "*" && g.repeat {
            self.replay(out);
            return;
        }
        // Keys are not words: no clarifying question about them.
        self.last_top.clear();
        if self.clarifying.is_some() {
            self.clarification_keyed(entry, out);
            return;
        }
        let flow = Arc::clone(&self.flow);
        match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                if single || a.digits.is_none() {
                    let mut chars = entry.chars();
                    if let (Some(c), None) = (chars.next(), chars.next())
                        && let Some((_, intent)) = a.keys.iter().find(|(k, _)| *k == c)
                    {
                        let intent = intent.clone();
                        if self.global(&intent, out) {
                            return;
                        }
                        if let Some((_, target)) = a.intents.iter().find(|(n, _)| *n == intent) {
                            let target = *target;
                            self.intent = Some(intent);
                            self.enter(target, out);
                            return;
                        }
                    }
                }
                if let Some(spec) = &a.slot
                    && let Some(next) = a.next
                    && let Some(value) = self.keys.parse_keys(spec, entry)
                {
                    if !a.sensitive
                        && let Some(turn) = self.turns.last_mut()
                    {
                        turn.slots = Some(Pii::new(json!({ spec.name.clone(): value.json })));
                    }
                    self.slots.insert(spec.name.clone(), value);
                    self.enter(next, out);
                    return;
                }
                self.miss(Miss::NoMatch, out);
            }
            NodeKind::Confirm(c) => match entry {
                "1" => self.enter(c.yes, out),
                "2" => self.enter(c.no, out),
                _ => self.miss(Miss::NoMatch, out),
            },
            NodeKind::Survey { questions, .. } => {
                let max = questions.get(self.question().survey).map_or(5, |q| q.max);
                match entry.parse::<u8>() {
                    Ok(n) if (1..=max).contains(&n) => self.survey_answer(n, out),
                    _ => self.miss(Miss::NoMatch, out),
                }
            }
            _ => {}
        }
        drop(flow);
    }

    /// Runs a global handler for `intent` if one is live here. True when handled.
    pub(super) fn global(&mut self, intent: &str, out: &mut Vec<CallAction>) -> bool {
        let Some(handler) = GlobalIntent::from_name(intent) else {
            return false;
        };
        if !handler.is_live(&self.globals()) {
            return false;
        }
        match handler {
            GlobalIntent::Safeguarding => self.emergency(out),
            GlobalIntent::Advisor => {
                self.intent = Some(handler.name().to_string());
                self.advisor(TransferReason::CallerAsked, Some(self.node), out);
            }
            GlobalIntent::Repeat => self.replay(out),
            GlobalIntent::Slower => {
                self.slow = true;
                out.push(CallAction::SetSlowSpeech(true));
                self.replay(out);
            }
            GlobalIntent::Goodbye => {
                let in_survey = matches!(self.kind(), NodeKind::Survey { .. });
                match (in_survey, self.kind(), self.flow.settings.goodbye) {
                    (true, NodeKind::Survey { next, .. }, _) => {
                        let next = *next;
                        self.enter(next, out);
                    }
                    (_, _, Some(survey)) => self.enter(survey, out),
                    _ => self.end(out),
                }
            }
            GlobalIntent::Wait => {
                // Listen again, quietly: no reprompt, and the miss is not counted.
                let question = self.question();
                out.push(CallAction::Listen(self.listen_spec(question.keys_only)));
                self.state = State::Listening(question);
            }
            // Yes and no answer a confirm; they are not handlers.
            GlobalIntent::Yes | GlobalIntent::No => return false,
        }
        true
    }

    pub(super) fn miss(&mut self, miss: Miss, out: &mut Vec<CallAction>) {
        self.clarifying = None;
        if miss == Miss::NoMatch && self.clarify(out) {
            return;
        }
        let mut question = self.question();
        question.attempts += 1;
        let flow = Arc::clone(&self.flow);
        let (max, fallback, steps, prompts) = match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                let steps = if miss == Miss::NoInput {
                    &a.no_input
                } else {
                    &a.no_match
                };
                (
                    a.max_attempts,
                    a.fallback,
                    steps.as_slice(),
                    a.prompts.as_slice(),
                )
            }
            NodeKind::Confirm(c) => (c.max_attempts, c.fallback, &[][..], c.prompts.as_slice()),
            NodeKind::Survey { questions, .. } => {
                let q = questions.get(question.survey);
                (
                    flow.settings.max_attempts,
                    None,
                    &[][..],
                    q.map_or(&[][..], |q| q.prompts.as_slice()),
                )
            }
            _ => return,
        };
        if question.attempts >= max {
            if matches!(kind_at(&flow, self.node), NodeKind::Survey { .. }) {
                self.next_question(out);
            } else if let Some(node) = fallback {
                self.enter(node, out);
            } else {
                // Default: after max attempts, the advisor queue (a caller can always reach a person).
                self.advisor(TransferReason::MaxAttempts, None, out);
            }
            return;
        }
        let count = if miss == Miss::NoInput {
            question.no_input += 1;
            question.no_input
        } else {
            question.no_match += 1;
            question.no_match
        };
        // Escalating reprompts: the n-th miss of a kind plays the n-th reprompt, the last repeats.
        let reprompt = steps
            .get(count - 1)
            .or(steps.last())
            .map_or(prompts, Vec::as_slice);
        let items = if question.keys_only {
            self.keys_items()
        } else {
            self.items(reprompt)
        };
        self.prompt_and_listen(items, question, out);
    }

    pub(super) fn survey_answer(&mut self, n: u8, out: &mut Vec<CallAction>) {
        if let NodeKind::Survey { questions, .. } = self.kind()
            && let Some(q) = questions.get(self.question().survey)
        {
            let name = q.name.clone();
            self.survey.insert(name, n);
        }
        self.next_question(out);
    }

    pub(super) fn next_question(&mut self, out: &mut Vec<CallAction>) {
        let flow = Arc::clone(&self.flow);
        if let NodeKind::Survey { questions, next } = kind_at(&flow, self.node) {
            // The next question starts afresh, still by keys when speech is unavailable.
            let question = Question {
                survey: self.question().survey + 1,
                keys_only: self.question().keys_only,
                ..Question::default()
            };
            match questions.get(question.survey) {
                Some(q) => {
                    let items = self.items(&q.prompts);
                    self.prompt_and_listen(items, question, out);
                }
                None => {
                    let next = *next;
                    self.enter(next, out);
                }
            }
        }
        drop(flow);
    }

    /// Speech recognition is saturated: this ask goes on by keypad, or to its fallback when it
    /// has no key path (it falls back to DTMF options).
    pub(super) fn speech_unavailable(&mut self, out: &mut Vec<CallAction>) {
        let flow = Arc::clone(&self.flow);
        let keyable = match kind_at(&flow, self.node) {
            NodeKind::Ask(a) => {
                !a.keys.is_empty() || a.slot.as_ref().is_some_and(|s| s.kind.keyable())
            }
            NodeKind::Confirm(_) | NodeKind::Survey { .. } => true,
            _ => return,
        };
        tracing::info!(node = %self.flow.node_name(self.node), keyable, "speech unavailable: keypad fallback");
        out.push(CallAction::StopPlayback);
        if !keyable {
            match kind_at(&flow, self.node) {
                NodeKind::Ask(a) if a.fallback.is_some() => {
                    if let Some(n) = a.fallback {
                        self.enter(n, out);
                    }
                }
                _ => self.advisor(TransferReason::SpeechUnavailable, None, out),
            }
            return;
        }
        let question = Question {
            keys_only: true,
            ..self.question()
        };
        let items = self.keys_items();
        self.prompt_and_listen(items, question, out);
    }

    /// The keypad version of the current question: the ask's `keys_prompt`, or one generated
    /// from its keys or slot type.
    pub(super) fn keys_items(&self) -> Vec<PlayItem> {
        let lang = Some(self.language.clone());
        let text = match self.kind() {
            NodeKind::Ask(a) if !a.keys_prompt.is_empty() => return self.items(&a.keys_prompt),
            NodeKind::Ask(a) => {
                let enum_values: Vec<&str> = match a.slot.as_ref().map(|s| &s.kind) {
                    Some(SlotKind::Enum(name)) => {
                        self.flow.enums.get(name).map_or(Vec::new(), |e| {
                            e.values.iter().map(|(v, _)| v.as_str()).collect()
                        })
                    }
                    _ => Vec::new(),
                };
                keypad::ask_text(a, &enum_values)
            }
            NodeKind::Confirm(c) => keypad::yes_no_text(c.globals.advisor),
            NodeKind::Survey { questions, .. } => {
                keypad::survey_text(questions.get(self.question().survey).map_or(5, |q| q.max))
            }
            _ => return self.last_play.clone(),
        };
        vec![PlayItem::Text { text, lang }]
    }

    pub(super) fn language_detected(
        &mut self,
        language: Option<String>,
        probability: f32,
        out: &mut Vec<CallAction>,
    ) {
        let min = self.flow.settings.language_min_probability;
        match language {
            Some(lang) if probability >= min && lang != self.language => {
                tracing::info!(language = %lang, probability, "caller language detected");
                if self.flow.languages.contains(&lang) {
                    self.language = lang;
                    self.replay(out);
                } else {
                    self.caller_language = Some(lang);
                    self.offer_interpreter(out);
                }
            }
            _ => self.miss(Miss::NoMatch, out),
        }
    }

    /// Records an exchange: what was asked, and what the caller said or keyed. Sensitive asks
    /// keep only the fact of the answer (no words, keys or values).
    pub(super) fn record_turn(&mut self, event: &FlowEvent) {
        let safeguarding =
            matches!(event, FlowEvent::Heard { intent: Some(i), .. } if is_safeguarding(i));
        if !(self.listening() || (safeguarding && self.can_interrupt())) {
            return;
        }
        let sensitive = matches!(self.kind(), NodeKind::Ask(a) if a.sensitive);
        let mut turn = Turn {
            prompt: self.asked.clone(),
            node: self.flow.node_name(self.node).to_string(),
            language: Some(self.language.clone()),
            ..Turn::default()
        };
        match event {
            FlowEvent::Heard {
                text,
                intent,
                confidence,
                slots,
                ..
            } => {
                turn.intent = intent.clone();
                turn.confidence = Some(*confidence);
                if !sensitive {
                    turn.transcript = Some(text.clone());
                    if !slots.is_empty() {
                        let map: serde_json::Map<String, Value> = slots
                            .iter()
                            .map(|(k, v)| (k.clone(), v.json.clone()))
                            .collect();
                        turn.slots = Some(Pii::new(Value::Object(map)));
                    }
                }
            }
            FlowEvent::Dtmf(c) => {
                turn.dtmf = (!sensitive).then(|| c.to_string());
            }
            FlowEvent::Digits(d) => {
                turn.dtmf = (!sensitive).then(|| d.clone());
            }
            FlowEvent::NoInput => {}
            _ => return,
        }
        self.turns.push(turn);
    }
}
