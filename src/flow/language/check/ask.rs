//! The `ask` node: intents and menu keys, the slot it captures, digit entry (and the rule that
//! a digit-collecting prompt announces 0 for an advisor), the key-press path callers without
//! speech need, and how long a silence ends the answer.

use std::time::Duration;

use super::Checker;
use crate::flow::language::diag::did_you_mean;
use crate::flow::language::global_intent::GlobalIntent;
use crate::flow::language::model::{
    Ask, DigitSpec, Globals, NodeId, PromptRef, Prompts, Settings, SlotKind, SlotSpec,
};
use crate::flow::language::raw::{RawAsk, RawPrompt, Sp};
use crate::flow::language::yaml::Pos;

impl Checker<'_> {
    pub(super) fn ask(
        &mut self,
        scope: usize,
        id: &str,
        at: Pos,
        a: &RawAsk,
        settings: &Settings,
    ) -> Ask {
        let globals = self.globals(&a.globals, self.flow_globals);
        self.advisor_rule(
            id,
            at,
            &globals,
            &a.allow_no_advisor,
            &a.reason,
            a.globals.advisor.as_ref().map(|p| p.pos),
        );
        let prompts = self.prompts(scope, &a.prompts);
        let intents = self.ask_intents(scope, a);
        let keys = self.menu_keys(a, &globals);
        let slot = a.slot.as_ref().and_then(|(name, ty)| self.slot(name, ty));
        if a.slot.is_none() && a.intents.is_empty() {
            self.error(
                at,
                "empty-ask",
                format!("ask `{id}` listens for nothing"),
                Some("give it `intents:` or a `slot:`".into()),
            );
        }
        let next = self.ask_next(scope, id, at, a);
        let digits = self.digits(a, slot.as_ref());
        if let Some(d) = &digits
            && d.max_digits > 1
            && globals.advisor
        {
            self.zero_rule(id, a, &prompts);
        }
        let fallback = a.fallback.as_ref().and_then(|f| self.resolve(scope, f));
        let keyable = !keys.is_empty() || slot.as_ref().is_some_and(|s| s.kind.keyable());
        if !keyable && a.fallback.is_none() {
            self.error(
                at,
                "no-key-path",
                format!("ask `{id}` has no key-press path and no `fallback`"),
                Some("callers who cannot be understood need a way on: add `keys:`, or a `fallback:` node (an advisor or a callback offer)".into()),
            );
        }
        let no_input = self.reprompts(scope, &a.no_input);
        let no_match = self.reprompts(scope, &a.no_match);
        let keys_prompt = self.keys_prompt(scope, id, a, keyable);
        let end_of_speech = end_of_speech(a, slot.as_ref(), settings);
        Ask {
            prompts,
            intents,
            keys,
            slot,
            next,
            digits,
            no_input,
            no_match,
            max_attempts: a
                .max_attempts
                .as_ref()
                .map_or(settings.max_attempts, |m| m.value.max(1)),
            fallback,
            sensitive: a.sensitive.as_ref().is_some_and(|s| s.value),
            globals,
            no_input_timeout: a
                .timeout_ms
                .as_ref()
                .map_or(settings.no_input_timeout, |t| {
                    Duration::from_millis(u64::from(t.value))
                }),
            end_of_speech,
            keys_prompt,
            clarify: a.clarify.as_ref().is_none_or(|c| c.value),
        }
    }

    /// The ask's own intents and where each leads.
    fn ask_intents(&mut self, scope: usize, a: &RawAsk) -> Vec<(String, NodeId)> {
        let mut intents = Vec::new();
        for (name, target) in &a.intents {
            self.intent_ref(name);
            if let Some(t) = self.resolve(scope, target) {
                intents.push((name.value.clone(), t));
            }
        }
        intents
    }

    /// Menu keys and the intents they stand for. 0 and * are kept for the advisor and
    /// "repeat" while those are on; a key must lead to an intent this ask (or a global
    /// handler) answers.
    fn menu_keys(&mut self, a: &RawAsk, globals: &Globals) -> Vec<(char, String)> {
        let mut keys = Vec::new();
        for (key, intent) in &a.keys {
            let mut chars = key.value.chars();
            let c = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#' => c,
                _ => {
                    self.error(
                        key.pos,
                        "bad-key",
                        format!("`{}` is not a phone key", key.value),
                        Some("use one of 0-9, * or #".into()),
                    );
                    continue;
                }
            };
            if c == '0' && globals.advisor {
                self.error(
                    key.pos,
                    "reserved-key",
                    "key 0 is kept for the advisor in every ask",
                    Some("choose another key".into()),
                );
            }
            if c == '*' && globals.repeat {
                self.error(
                    key.pos,
                    "reserved-key",
                    "key * is kept for \"repeat\" in every ask",
                    Some("choose another key".into()),
                );
            }
            let handled = a.intents.iter().any(|(n, _)| n.value == intent.value)
                || GlobalIntent::from_name(&intent.value).is_some();
            if !handled {
                self.intent_ref(intent);
                self.error(
                    intent.pos,
                    "unhandled-key",
                    format!(
                        "key `{c}` leads to intent `{}`, which this ask does not handle",
                        intent.value
                    ),
                    Some(format!(
                        "add `{}` under this ask's `intents:`",
                        intent.value
                    )),
                );
            }
            keys.push((c, intent.value.clone()));
        }
        keys
    }

    /// The captured slot: a built-in type or one of the flow's enumerations.
    fn slot(&mut self, name: &Sp<String>, ty: &Sp<String>) -> Option<SlotSpec> {
        let kind = SlotKind::from_name(&ty.value).or_else(|| {
            self.enums
                .contains_key(&ty.value)
                .then(|| SlotKind::Enum(ty.value.clone()))
        });
        if kind.is_none() {
            let names: Vec<&str> = SlotKind::BUILT_IN
                .iter()
                .copied()
                .chain(self.enums.keys().map(String::as_str))
                .collect();
            let hint = did_you_mean(&ty.value, names.iter().copied())
                .or_else(|| Some(format!("slot types: {}", names.join(", "))));
            self.error(
                ty.pos,
                "unknown-slot-type",
                format!("unknown slot type `{}`", ty.value),
                hint,
            );
        }
        kind.map(|kind| SlotSpec {
            name: name.value.clone(),
            kind,
        })
    }

    /// Where a captured slot goes: required when the ask captures one.
    fn ask_next(&mut self, scope: usize, id: &str, at: Pos, a: &RawAsk) -> Option<NodeId> {
        match (&a.slot, &a.next) {
            (Some(_), None) => {
                self.error(
                    at,
                    "missing-key",
                    format!("ask `{id}` captures a slot but has no `next`"),
                    None,
                );
                None
            }
            (_, Some(n)) => self.resolve(scope, n),
            (None, None) => None,
        }
    }

    /// Escalating reprompts (`no_input`, `no_match`).
    fn reprompts(&mut self, scope: usize, steps: &[Vec<RawPrompt>]) -> Vec<Prompts> {
        steps.iter().map(|p| self.prompts(scope, p)).collect()
    }

    /// The prompt played when speech recognition is unavailable; pointless (and reported)
    /// without keys or a keyable slot.
    fn keys_prompt(&mut self, scope: usize, id: &str, a: &RawAsk, keyable: bool) -> Prompts {
        let keys_prompt = a
            .keys_prompt
            .as_ref()
            .map(|p| self.prompts(scope, p))
            .unwrap_or_default();
        if let Some(p) = a.keys_prompt.as_ref().and_then(|p| p.first())
            && !keyable
        {
            self.error(
                p.pos(),
                "keys-prompt-without-keys",
                format!("ask `{id}` has a `keys_prompt` but no keys or keyable slot"),
                Some("without speech this ask goes to its `fallback`; remove `keys_prompt`".into()),
            );
        }
        keys_prompt
    }

    /// DTMF collection: explicit, or implied by a keyable slot type.
    fn digits(&mut self, a: &RawAsk, slot: Option<&SlotSpec>) -> Option<DigitSpec> {
        let terminator = |t: &Option<Sp<String>>, r: &mut Self| -> Option<char> {
            let t = t.as_ref()?;
            let mut chars = t.value.chars();
            match (chars.next(), chars.next()) {
                (Some(c @ ('#' | '*')), None) => Some(c),
                _ => {
                    r.error(
                        t.pos,
                        "bad-key",
                        format!("`{}` cannot end digit entry", t.value),
                        Some("use \"#\"".into()),
                    );
                    None
                }
            }
        };
        if let Some((max, term)) = &a.digits {
            if max.value == 0 || max.value > 32 {
                self.error(
                    max.pos,
                    "bad-value",
                    "`digits.max` must be between 1 and 32",
                    None,
                );
            }
            if slot.is_some_and(|s| !s.kind.keyable()) {
                self.error(
                    max.pos,
                    "bad-value",
                    format!(
                        "a `{}` slot cannot be keyed in",
                        slot.map_or("", |s| s.kind.name())
                    ),
                    None,
                );
            }
            let terminator = terminator(term, self);
            return Some(DigitSpec {
                max_digits: max.value.clamp(1, 32) as usize,
                terminator,
            });
        }
        match slot.map(|s| &s.kind) {
            Some(SlotKind::Digits) => Some(DigitSpec {
                max_digits: 16,
                terminator: Some('#'),
            }),
            Some(SlotKind::Number) => Some(DigitSpec {
                max_digits: 6,
                terminator: Some('#'),
            }),
            Some(SlotKind::PhoneNumber) => Some(DigitSpec {
                max_digits: 11,
                terminator: Some('#'),
            }),
            _ => None,
        }
    }

    /// In a digit-collecting ask, 0 alone then silence reaches an advisor; the prompt must say so.
    fn zero_rule(&mut self, id: &str, a: &RawAsk, prompts: &Prompts) {
        let lang = self.default_lang();
        let texts: Vec<String> = prompts
            .iter()
            .filter_map(|p| match p {
                PromptRef::Named(name) => self.catalog.text(&lang, name).map(str::to_string),
                PromptRef::Text(by_lang) => by_lang.get(&lang).map(|t| t.render(|_| None)),
            })
            .collect();
        if texts.is_empty() {
            return; // Recordings only: their words are unknown to the checker.
        }
        let mentions_zero = texts.iter().any(|t| {
            let t = t.to_lowercase();
            t.contains('0') || t.contains("zero")
        });
        if !mentions_zero {
            self.error(
                a.pos,
                "zero-not-announced",
                format!("ask `{id}` collects digits, so 0 pressed alone reaches an advisor, but its prompt does not say so"),
                Some("add \"or press 0 on its own to speak to someone\" to the prompt".into()),
            );
        }
    }
}

/// The silence that ends the answer: as written, else the longer one for a spoken value and the
/// short one for open questions.
fn end_of_speech(a: &RawAsk, slot: Option<&SlotSpec>, settings: &Settings) -> Duration {
    let spoken_value = matches!(
        slot.map(|s| &s.kind),
        Some(
            SlotKind::Digits
                | SlotKind::Number
                | SlotKind::UkPostcode
                | SlotKind::Date
                | SlotKind::PhoneNumber
                | SlotKind::FreeText
        )
    );
    match &a.end_of_speech_ms {
        Some(t) => Duration::from_millis(u64::from(t.value)),
        None if spoken_value => settings.value_end_of_speech,
        None => settings.end_of_speech,
    }
}
