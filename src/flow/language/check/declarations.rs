//! Flow-wide declarations: unique ids, slot types, settings, opening hours and bank holidays.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};

use super::Checker;
use crate::flow::language::model::{
    EnumType, OpeningHours, PromptRef, Settings, SlotKind, Template, TemplatePart,
};
use crate::flow::language::raw::Sp;

/// Language detection's default threshold.
const DEFAULT_LANGUAGE_MIN_PROBABILITY: f64 = 0.5;

const DEFAULT_EMERGENCY_TEXT: &str = "If you or someone else is in danger right now, hang up and call 999. \
     I am putting you through to an advisor straight away.";

impl Checker<'_> {
    pub(super) fn check_duplicates(&mut self) {
        let raw = self.raw;
        let mut groups: Vec<(&str, Vec<&Sp<String>>)> = vec![
            ("node id", raw.nodes.iter().map(|n| &n.id).collect()),
            ("intent", raw.intents.iter().map(|i| &i.name).collect()),
            (
                "slot type",
                raw.slot_types.iter().map(|s| &s.name).collect(),
            ),
            ("subflow", raw.subflows.iter().map(|s| &s.name).collect()),
        ];
        for sub in &raw.subflows {
            groups.push(("node id", sub.nodes.iter().map(|n| &n.id).collect()));
        }
        for (what, names) in groups {
            for (i, name) in names.iter().enumerate() {
                if let Some(first) = names[..i].iter().find(|n| n.value == name.value) {
                    self.error(
                        name.pos,
                        "duplicate-id",
                        format!(
                            "duplicate {what} `{}` (first defined at line {})",
                            name.value, first.pos.line
                        ),
                        Some("each id must be unique: rename one of them".into()),
                    );
                }
            }
        }
    }

    pub(super) fn enums(&mut self) -> BTreeMap<String, EnumType> {
        let mut out = BTreeMap::new();
        for raw in &self.raw.slot_types {
            if SlotKind::from_name(&raw.name.value).is_some() {
                self.error(
                    raw.name.pos,
                    "duplicate-id",
                    format!(
                        "slot type `{}` is built in and cannot be redefined",
                        raw.name.value
                    ),
                    None,
                );
            }
            if raw.values.is_empty() {
                self.error(
                    raw.name.pos,
                    "empty-slot-type",
                    format!("slot type `{}` has no values", raw.name.value),
                    None,
                );
            }
            let values = raw
                .values
                .iter()
                .map(|(canon, phrases)| {
                    (
                        canon.value.clone(),
                        phrases.iter().map(|p| p.value.clone()).collect(),
                    )
                })
                .collect();
            out.insert(raw.name.value.clone(), EnumType { values });
        }
        out
    }

    pub(super) fn settings_without_goodbye(&mut self) -> Settings {
        let s = &self.raw.settings;
        let ms = |v: &Option<Sp<u32>>, default: u64| {
            Duration::from_millis(v.as_ref().map_or(default, |v| u64::from(v.value)))
        };
        let max_attempts = s.max_attempts.as_ref().map_or(3, |v| v.value);
        if let Some(m) = &s.max_attempts
            && m.value == 0
        {
            self.error(
                m.pos,
                "bad-value",
                "`max_attempts` must be at least 1",
                None,
            );
        }
        let emergency_prompt = self.emergency_prompt();
        let interpreter_prompt = self.interpreter_prompt();
        let advisor_queue = s
            .advisor_queue
            .as_ref()
            .map_or_else(|| "advisors".to_string(), |q| q.value.clone());
        Settings {
            interpreter_queue: s
                .interpreter_queue
                .as_ref()
                .map_or_else(|| advisor_queue.clone(), |q| q.value.clone()),
            interpreter_prompt,
            language_min_probability: s
                .language_min_probability
                .as_ref()
                .map_or(DEFAULT_LANGUAGE_MIN_PROBABILITY, |p| p.value)
                as f32,
            advisor_queue,
            emergency_queue: s
                .emergency_queue
                .as_ref()
                .map_or_else(|| "safeguarding".to_string(), |q| q.value.clone()),
            emergency_prompt,
            max_attempts,
            no_input_timeout: ms(&s.no_input_timeout_ms, 6000),
            inter_digit_timeout: ms(&s.inter_digit_timeout_ms, 3000),
            // Short for open questions so answers feel conversational (about 400 ms; 350
            // keeps the 500 ms turn target with the jitter buffer and the 20 ms media tick on
            // top, and a caller who asks for slower speech gets twice as long); long enough for
            // values read in groups ("R M seventeen … six S L").
            end_of_speech: ms(&s.end_of_speech_ms, 350),
            value_end_of_speech: ms(&s.value_end_of_speech_ms, 1000),
            max_utterance: ms(&s.max_utterance_ms, 15000),
            goodbye: None,
            globals: self.flow_globals,
        }
    }

    /// The flow's emergency message, or the built-in one in the default language.
    fn emergency_prompt(&mut self) -> Vec<PromptRef> {
        match &self.raw.settings.emergency_prompt {
            Some(p) => self.prompts(0, p),
            None => {
                let mut by_lang = BTreeMap::new();
                by_lang.insert(
                    self.default_lang(),
                    Template {
                        parts: vec![TemplatePart::Literal(DEFAULT_EMERGENCY_TEXT.into())],
                    },
                );
                vec![PromptRef::Text(by_lang)]
            }
        }
    }

    /// The interpreter offer's prompt name, which must exist in the default language and in
    /// every `interpreter_languages` entry.
    fn interpreter_prompt(&mut self) -> Option<String> {
        let s = &self.raw.settings;
        let interpreter_prompt = s.interpreter_prompt.as_ref().map(|p| {
            let default = self.default_lang();
            let mut langs = vec![default.clone()];
            langs.extend(s.interpreter_languages.iter().map(|l| l.value.clone()));
            for lang in langs {
                if !self.catalog.has(&lang, &p.value, &default) {
                    self.error(
                        p.pos,
                        "missing-prompt",
                        format!("interpreter prompt `{}` has no `{lang}` version", p.value),
                        Some(format!(
                            "add a `{}\t{lang}\t<text>` line to prompts.tsv",
                            p.value
                        )),
                    );
                }
            }
            p.value.clone()
        });
        if let Some(first) = s.interpreter_languages.first()
            && s.interpreter_prompt.is_none()
        {
            self.error(
                first.pos,
                "missing-key",
                "`interpreter_languages` needs an `interpreter_prompt` to play in them",
                None,
            );
        }
        interpreter_prompt
    }

    pub(super) fn opening_hours(&mut self) -> OpeningHours {
        let mut days = Vec::new();
        for (day, range) in &self.raw.opening_hours {
            let weekday = match day.value.as_str() {
                "monday" => Weekday::Mon,
                "tuesday" => Weekday::Tue,
                "wednesday" => Weekday::Wed,
                "thursday" => Weekday::Thu,
                "friday" => Weekday::Fri,
                "saturday" => Weekday::Sat,
                _ => Weekday::Sun,
            };
            let parsed = range.value.split_once('-').and_then(|(a, b)| {
                let from = NaiveTime::parse_from_str(a.trim(), "%H:%M").ok()?;
                let to = NaiveTime::parse_from_str(b.trim(), "%H:%M").ok()?;
                (from < to).then_some((from, to))
            });
            match parsed {
                Some((from, to)) => days.push((weekday, from, to)),
                None => self.error(
                    range.pos,
                    "bad-value",
                    format!("`{}` is not an opening time range", range.value),
                    Some("write it like \"08:30-17:00\"".into()),
                ),
            }
        }
        OpeningHours { days }
    }

    pub(super) fn bank_holidays(&mut self) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        for d in &self.raw.bank_holidays {
            match NaiveDate::parse_from_str(&d.value, "%Y-%m-%d") {
                Ok(date) => out.push(date),
                Err(_) => self.error(
                    d.pos,
                    "bad-value",
                    format!("`{}` is not a date", d.value),
                    Some("write dates as YYYY-MM-DD".into()),
                ),
            }
        }
        out
    }
}
