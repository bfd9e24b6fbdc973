//! "Did you mean": an answer close to one or two of the question's intents, but not decisively
//! one of them, gets one short question naming them, with keys ("Is that about paying your
//! council tax? Press 1 for yes, 2 for your council tax balance, or 0 for an advisor."),
//! before the question's no-match reprompt. A misunderstood caller is asked, not sent round a
//! menu they did not need.

use super::*;

/// The best candidate must score at least this to be offered: below it the answer is not
/// close to anything, and a reprompt serves the caller better than a guess.
const CLARIFY_FLOOR: f32 = 0.3;
/// A second candidate is offered when it scores within this of the first.
const SECOND_WITHIN: f32 = 0.15;

/// A clarifying question waiting for its answer: the intents it named, likeliest first.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Clarification {
    pub(super) offered: Vec<String>,
}

impl Interpreter {
    /// Asks a clarifying question instead of a no-match reprompt when the last answer's best
    /// candidates qualify (see the module docs). True when asked.
    pub(super) fn clarify(&mut self, out: &mut Vec<CallAction>) -> bool {
        let question = self.question();
        let flow = Arc::clone(&self.flow);
        let NodeKind::Ask(a) = kind_at(&flow, self.node) else {
            return false;
        };
        // Once per question; not when the caller can only key, nor in a language the
        // descriptions are not written in.
        if !a.clarify
            || question.clarified
            || question.keys_only
            || self.language != flow.default_language()
        {
            return false;
        }
        let described = |name: &str| {
            a.intents.iter().any(|(n, _)| n == name)
                && GlobalIntent::from_name(name).is_none()
                && flow
                    .intents
                    .iter()
                    .any(|i| i.name == name && i.describe.is_some())
        };
        let candidates: Vec<(String, f32)> = self
            .last_top
            .iter()
            .filter(|(name, _)| described(name))
            .cloned()
            .collect();
        let Some((first, best)) = candidates.first().cloned() else {
            return false;
        };
        if best < CLARIFY_FLOOR {
            return false;
        }
        let mut offered = vec![first];
        if let Some((second, score)) = candidates.get(1)
            && *score >= CLARIFY_FLOOR
            && best - score <= SECOND_WITHIN
        {
            offered.push(second.clone());
        }
        let describe = |name: &str| {
            flow.intents
                .iter()
                .find(|i| i.name == name)
                .and_then(|i| i.describe.clone())
                .unwrap_or_else(|| name.replace('_', " "))
        };
        let mut text = format!("Is that about {}? Press 1 for yes", describe(&offered[0]));
        if let Some(second) = offered.get(1) {
            text.push_str(&format!(", 2 for {}", describe(second)));
        } else {
            text.push_str(", 2 for no");
        }
        if self.globals().advisor {
            text.push_str(", or 0 for an advisor");
        }
        text.push('.');
        drop(flow);
        let items = vec![PlayItem::Text {
            text,
            lang: Some(self.language.clone()),
        }];
        let asked = format!("did_you_mean:{}", offered.join(","));
        self.clarifying = Some(Clarification { offered });
        let question = Question {
            clarified: true,
            ..question
        };
        self.prompt_and_listen(items, question, out);
        // The turn record names what was asked, so the answer can be judged against it.
        self.asked = asked;
        true
    }

    /// The caller's answer to a clarifying question, by voice: yes (the first intent), one of
    /// the intents named, or anything else (the question's no-match reprompt).
    pub(super) fn clarification_heard(
        &mut self,
        intent: Option<String>,
        out: &mut Vec<CallAction>,
    ) {
        let Some(c) = self.clarifying.take() else {
            return;
        };
        let chosen = match intent.as_deref() {
            Some(i) if GlobalIntent::from_name(i) == Some(GlobalIntent::Yes) => {
                c.offered.first().cloned()
            }
            Some(i) if c.offered.iter().any(|o| o == i) => Some(i.to_string()),
            _ => None,
        };
        self.clarified(chosen, out);
    }

    /// The caller's answer to a clarifying question by key: 1 the first intent, 2 the second
    /// (or "no" when only one was named).
    pub(super) fn clarification_keyed(&mut self, key: &str, out: &mut Vec<CallAction>) {
        let Some(c) = self.clarifying.take() else {
            return;
        };
        let chosen = match key {
            "1" => c.offered.first().cloned(),
            "2" => c.offered.get(1).cloned(),
            _ => None,
        };
        self.clarified(chosen, out);
    }

    fn clarified(&mut self, chosen: Option<String>, out: &mut Vec<CallAction>) {
        let target = chosen.as_deref().and_then(|name| match self.kind() {
            NodeKind::Ask(a) => a.intents.iter().find(|(n, _)| n == name).map(|(_, t)| *t),
            _ => None,
        });
        match (chosen, target) {
            (Some(intent), Some(target)) => {
                self.intent = Some(intent);
                self.enter(target, out);
            }
            // Not what we guessed: the question again, as after any answer we could not use.
            _ => self.miss(Miss::NoMatch, out),
        }
    }
}
