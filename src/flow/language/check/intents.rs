//! Intents and the global handlers: declared intents, references to them, the switches that
//! turn global handlers off (never safeguarding) and the rule that every question keeps a way
//! to an advisor unless the designer says why not.

use super::Checker;
use crate::flow::language::diag::did_you_mean;
use crate::flow::language::model::{Globals, Intent};
use crate::flow::language::raw::{RawGlobals, Sp};
use crate::flow::language::yaml::Pos;

impl Checker<'_> {
    /// The declared intents (each needs examples or keywords).
    pub(super) fn intents(&mut self) -> Vec<Intent> {
        let mut out = Vec::new();
        for raw in &self.raw.intents {
            if raw.examples.is_empty() && raw.keywords.is_empty() {
                self.error(
                    raw.name.pos,
                    "empty-intent",
                    format!("intent `{}` has no examples or keywords", raw.name.value),
                    Some("add a few `examples:` of what callers say".into()),
                );
            }
            self.intents.insert(raw.name.value.clone());
            out.push(Intent {
                name: raw.name.value.clone(),
                examples: raw.examples.iter().map(|e| e.value.clone()).collect(),
                keywords: raw.keywords.iter().map(|e| e.value.clone()).collect(),
                describe: raw.describe.as_ref().map(|d| d.value.clone()),
            });
        }
        out
    }

    /// The global handler switches over `base`; safeguarding cannot be switched off.
    pub(super) fn globals(&mut self, raw: &RawGlobals, base: Globals) -> Globals {
        if let Some(sg) = &raw.safeguarding
            && !sg.value
        {
            self.error(
                sg.pos,
                "safeguarding-off",
                "the safeguarding handler cannot be switched off",
                Some(
                    "callers in danger must always reach the emergency message and an advisor"
                        .into(),
                ),
            );
        }
        Globals {
            advisor: raw.advisor.as_ref().map_or(base.advisor, |b| b.value),
            repeat: raw.repeat.as_ref().map_or(base.repeat, |b| b.value),
            slower: raw.slower.as_ref().map_or(base.slower, |b| b.value),
            goodbye: raw.goodbye.as_ref().map_or(base.goodbye, |b| b.value),
            language: raw.language.as_ref().map_or(base.language, |b| b.value),
        }
    }

    /// An ask or confirm that switches the advisor off needs `allow_no_advisor: true` and a
    /// `reason:`.
    pub(super) fn advisor_rule(
        &mut self,
        id: &str,
        at: Pos,
        globals: &Globals,
        allow: &Option<Sp<bool>>,
        reason: &Option<Sp<String>>,
        switch: Option<Pos>,
    ) {
        if globals.advisor {
            return;
        }
        let allowed = allow.as_ref().is_some_and(|a| a.value);
        let has_reason = reason.as_ref().is_some_and(|r| !r.value.trim().is_empty());
        if !allowed || !has_reason {
            let pos = switch.unwrap_or(at);
            let hint = if allowed {
                "give a `reason:` for switching it off"
            } else {
                "keep the advisor on, or add `allow_no_advisor: true` with a `reason:`"
            };
            self.error(
                pos,
                "no-advisor",
                format!("`{id}` gives the caller no way to reach an advisor"),
                Some(hint.into()),
            );
        }
    }

    /// A reference to a declared intent.
    pub(super) fn intent_ref(&mut self, name: &Sp<String>) {
        if !self.intents.contains(&name.value) {
            let hint = did_you_mean(&name.value, self.intents.iter().map(String::as_str));
            self.error(
                name.pos,
                "unknown-intent",
                format!("unknown intent `{}`", name.value),
                hint.or(Some("declare it under `intents:`".into())),
            );
        }
    }
}
