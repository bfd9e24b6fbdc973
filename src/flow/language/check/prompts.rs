//! Prompts and templates: every named prompt exists in every language (a recording or a
//! `prompts.tsv` text), inline texts cover every language, and template variables are known.

use std::collections::BTreeMap;

use super::Checker;
use crate::flow::language::diag::did_you_mean;
use crate::flow::language::model::{PromptRef, Prompts, Template};
use crate::flow::language::raw::{RawPrompt, Sp};
use crate::flow::language::yaml::Pos;

impl Checker<'_> {
    pub(super) fn prompts(&mut self, _scope: usize, raw: &[RawPrompt]) -> Prompts {
        raw.iter().filter_map(|p| self.prompt(p)).collect()
    }

    fn prompt(&mut self, raw: &RawPrompt) -> Option<PromptRef> {
        let default = self.default_lang();
        Some(match raw {
            RawPrompt::Named(name) => self.named_prompt(name, &default),
            RawPrompt::Text { pos, by_lang } => self.text_prompt(*pos, by_lang, &default),
        })
    }

    /// A recording or `prompts.tsv` text, which every declared language must have.
    fn named_prompt(&mut self, name: &Sp<String>, default: &str) -> PromptRef {
        for lang in self.languages.clone() {
            if !self.catalog.has(&lang, &name.value, default) {
                let known_somewhere = self
                    .languages
                    .iter()
                    .any(|l| self.catalog.has(l, &name.value, default));
                let hint = if known_somewhere {
                    Some(format!(
                        "add audio-prompts/{lang}/{}.wav or a `{}\t{lang}\t<text>` line in prompts.tsv",
                        name.value, name.value
                    ))
                } else {
                    did_you_mean(&name.value, self.catalog.names()).or_else(|| {
                        Some(format!("add audio-prompts/{}.wav, a line in prompts.tsv, or write `{{text: \"...\"}}`", name.value))
                    })
                };
                let message = if known_somewhere {
                    format!("prompt `{}` is missing for language `{lang}`", name.value)
                } else {
                    format!("unknown prompt `{}`: no recording and no text", name.value)
                };
                self.error(name.pos, "missing-prompt", message, hint);
                if !known_somewhere {
                    break;
                }
            }
        }
        PromptRef::Named(name.value.clone())
    }

    /// Inline text, one string for the default language or one per declared language.
    fn text_prompt(
        &mut self,
        pos: Pos,
        by_lang: &[(Option<Sp<String>>, Sp<String>)],
        default: &str,
    ) -> PromptRef {
        let mut out = BTreeMap::new();
        for (lang, text) in by_lang {
            let lang_name = lang
                .as_ref()
                .map_or(default.to_string(), |l| l.value.clone());
            if let Some(l) = lang
                && !self.languages.contains(&l.value)
            {
                let hint = did_you_mean(&l.value, self.languages.iter().map(String::as_str));
                self.error(
                    l.pos,
                    "unknown-language",
                    format!("language `{}` is not declared in `languages`", l.value),
                    hint,
                );
            }
            if let Some(t) = self.template(text) {
                out.insert(lang_name, t);
            }
        }
        for lang in &self.languages.clone() {
            if !out.contains_key(lang)
                && by_lang
                    .iter()
                    .all(|(_, t)| Template::parse(&t.value).is_ok())
            {
                self.error(
                    pos,
                    "missing-prompt",
                    format!("text prompt has no `{lang}` version"),
                    Some(format!(
                        "write `text: {{{default}: \"...\", {lang}: \"...\"}}`"
                    )),
                );
            }
        }
        PromptRef::Text(out)
    }

    /// A text template whose variables must be known.
    pub(super) fn template(&mut self, text: &Sp<String>) -> Option<Template> {
        match Template::parse(&text.value) {
            Ok(t) => {
                for var in t.vars() {
                    self.var_ref(var, text.pos);
                }
                Some(t)
            }
            Err((_, message)) => {
                self.error(
                    text.pos,
                    "bad-template",
                    message,
                    Some(
                        "variables are written `{slots.name}`; write `{{` for a literal brace"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    /// A variable a template or condition names.
    pub(super) fn var_ref(&mut self, var: &str, pos: Pos) {
        if !self.known_vars.contains(var) {
            let hint = did_you_mean(var, self.known_vars.iter().map(String::as_str));
            let hint = hint.or_else(|| {
                if var == "case.ref" {
                    Some("`case.ref` exists only in a flow with a `case` node".into())
                } else {
                    Some("variables: slots.<slot name>, vars.<set name>, case.ref, survey.<question>, caller.number, language, date, time".into())
                }
            });
            self.error(
                pos,
                "unknown-variable",
                format!("unknown variable `{var}` in template"),
                hint,
            );
        }
    }
}
