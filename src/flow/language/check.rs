//! The checker: raw flow -> [`CheckedFlow`], reporting every problem (unknown references,
//! missing prompts, unreachable nodes, loops with no exit, asks with no way to an advisor or no
//! key-press path, duplicate ids, bad templates, the digit-ask "0" rule).
//!
//! Owns the rules of the flow language. Must not touch the network or audio; it reads only the
//! prompt catalog it is given.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, NaiveTime, Weekday};
use sha2::{Digest, Sha256};

use super::catalog::PromptCatalog;
use super::diag::{Diagnostics, did_you_mean};
use super::model::*;
use super::raw::{
    RawAsk, RawCondition, RawFlow, RawGlobals, RawKind, RawNode, RawPrompt, Sp, read_flow,
};
use super::yaml::{self, Pos};

/// Intents the global handlers and `confirm` understand; a flow declares their phrases.
pub const GLOBAL_INTENTS: [&str; 7] = [
    "speak_to_advisor",
    "repeat",
    "slower",
    "goodbye",
    "yes",
    "no",
    "safeguarding",
];

/// Variables every template may use.
const BUILT_IN_VARS: [&str; 7] = [
    "caller.number",
    "caller.withheld",
    "language",
    "intent",
    "date",
    "time",
    "flow.name",
];

/// Variables a `verify_case` node sets once the caller has proved who they are (unset before:
/// nothing of a case can be read out to an unverified caller).
const OPEN_CASE_VARS: [&str; 3] = ["open_case.ref", "open_case.service", "open_case.reported"];

/// Language detection's default threshold.
const DEFAULT_LANGUAGE_MIN_PROBABILITY: f64 = 0.5;

const DEFAULT_EMERGENCY_TEXT: &str = "If you or someone else is in danger right now, hang up and call 999. \
     I am putting you through to an advisor straight away.";

/// Checks one flow file's text. Returns the flow only when there are no errors; the
/// diagnostics hold every error and warning either way.
pub fn check(
    file: &Path,
    text: &str,
    catalog: &PromptCatalog,
) -> (Option<CheckedFlow>, Diagnostics) {
    let mut diags = Diagnostics::new();
    diags.add_source(file, text);
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            diags.error(
                file,
                e.pos,
                "yaml-syntax",
                format!("YAML syntax error: {}", e.message),
                None,
            );
            return (None, diags);
        }
    };
    let raw = read_flow(&doc, file, &mut diags);
    let flow = Checker::new(file, &raw, catalog, &mut diags).run(text);
    dedup(&mut diags);
    if diags.has_errors() {
        (None, diags)
    } else {
        (flow, diags)
    }
}

/// A subflow is inlined once per call site; its findings must be reported once.
fn dedup(diags: &mut Diagnostics) {
    diags.sort();
    let mut seen = BTreeSet::new();
    let mut kept = Diagnostics::new();
    for d in diags.items() {
        if seen.insert((d.file.clone(), d.line, d.col, d.message.clone())) {
            kept.push(d.clone());
        }
    }
    let old = std::mem::take(diags);
    kept.extend_sources_from(&old);
    *diags = kept;
}

/// One naming scope: the main nodes, or one inlined copy of a subflow.
struct Scope<'r> {
    prefix: String,
    nodes: &'r [RawNode],
    return_to: Option<NodeId>,
    chain: Vec<String>,
}

struct Expanded<'r> {
    full_id: String,
    raw: &'r RawNode,
    scope: usize,
}

struct Checker<'a> {
    file: &'a Path,
    raw: &'a RawFlow,
    catalog: &'a PromptCatalog,
    diags: &'a mut Diagnostics,
    languages: Vec<String>,
    scopes: Vec<Scope<'a>>,
    expanded: Vec<Expanded<'a>>,
    index: HashMap<String, NodeId>,
    intents: BTreeSet<String>,
    enums: BTreeMap<String, EnumType>,
    known_vars: BTreeSet<String>,
    /// Types of the cases this flow creates (what `lookup_cases` may look for).
    case_types: BTreeSet<String>,
    /// Whether a `lookup_cases` node exists (`verify_case` needs one).
    has_lookup: bool,
    /// Whether a `verify_case` node exists (`case` `update:` needs one).
    has_verify: bool,
    flow_globals: Globals,
}

impl<'a> Checker<'a> {
    fn new(
        file: &'a Path,
        raw: &'a RawFlow,
        catalog: &'a PromptCatalog,
        diags: &'a mut Diagnostics,
    ) -> Self {
        Checker {
            file,
            raw,
            catalog,
            diags,
            languages: Vec::new(),
            scopes: Vec::new(),
            expanded: Vec::new(),
            index: HashMap::new(),
            intents: BTreeSet::new(),
            enums: BTreeMap::new(),
            known_vars: BTreeSet::new(),
            case_types: BTreeSet::new(),
            has_lookup: false,
            has_verify: false,
            flow_globals: Globals::default(),
        }
    }

    fn run(mut self, text: &str) -> Option<CheckedFlow> {
        self.languages = self.raw.languages.iter().map(|l| l.value.clone()).collect();
        if self.languages.is_empty() {
            self.languages.push("en".to_string());
        }
        self.check_duplicates();
        let intents = self.intents();
        self.enums = self.enums();
        self.flow_globals = self.globals(&self.raw.globals, Globals::default());
        self.expand();
        self.collect_vars();
        let settings_partial = self.settings_without_goodbye();
        let mut nodes = Vec::with_capacity(self.expanded.len());
        for i in 0..self.expanded.len() {
            let kind = self.node(i, &settings_partial);
            nodes.push(FlowNode {
                id: self.expanded[i].full_id.clone(),
                kind,
            });
        }
        let start = self.raw.start.as_ref().and_then(|s| self.resolve(0, s));
        let goodbye = self
            .raw
            .settings
            .goodbye
            .as_ref()
            .and_then(|g| self.resolve(0, g));
        let settings = Settings {
            goodbye,
            ..settings_partial
        };
        let hours = self.opening_hours();
        let bank_holidays = self.bank_holidays();
        // Graph rules run on a graph whose every reference resolved; with earlier errors
        // they would only repeat them as false "unreachable" or "never ends" findings.
        if let Some(start) = start
            && !self.diags.has_errors()
        {
            self.analyse_graph(&nodes, start, &settings);
        }
        let start = start?;
        Some(CheckedFlow {
            name: self
                .raw
                .name
                .as_ref()
                .map(|n| n.value.clone())
                .unwrap_or_default(),
            version: content_hash(text),
            file: self.file.to_path_buf(),
            languages: self.languages.clone(),
            start,
            nodes,
            intents,
            enums: self.enums.clone(),
            settings,
            hours,
            bank_holidays,
            prompt_texts: self.catalog.texts().clone(),
        })
    }

    // --- declarations -------------------------------------------------------------------

    fn check_duplicates(&mut self) {
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

    fn intents(&mut self) -> Vec<Intent> {
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
            });
        }
        out
    }

    fn enums(&mut self) -> BTreeMap<String, EnumType> {
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

    fn globals(&mut self, raw: &RawGlobals, base: Globals) -> Globals {
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

    fn settings_without_goodbye(&mut self) -> Settings {
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
        let emergency_prompt = match &s.emergency_prompt {
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
        };
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

    fn opening_hours(&mut self) -> OpeningHours {
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

    fn bank_holidays(&mut self) -> Vec<NaiveDate> {
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

    // --- expansion and references ---------------------------------------------------------

    /// Lays out every node: the main nodes, then one copy of a subflow per call site.
    fn expand(&mut self) {
        self.scopes.push(Scope {
            prefix: String::new(),
            nodes: &self.raw.nodes,
            return_to: None,
            chain: Vec::new(),
        });
        let mut scope_idx = 0;
        while scope_idx < self.scopes.len() {
            let prefix = self.scopes[scope_idx].prefix.clone();
            for raw in self.scopes[scope_idx].nodes {
                let full_id = format!("{prefix}{}", raw.id.value);
                if !self.index.contains_key(&full_id) {
                    self.index.insert(full_id.clone(), self.expanded.len());
                    self.expanded.push(Expanded {
                        full_id,
                        raw,
                        scope: scope_idx,
                    });
                }
            }
            scope_idx += 1;
        }
        // Subflow call sites open new scopes; new scopes may call further subflows.
        let mut i = 0;
        while i < self.expanded.len() {
            if let RawKind::Subflow { name, next } = &self.expanded[i].raw.kind {
                let scope = self.expanded[i].scope;
                let site = self.expanded[i].full_id.clone();
                let chain = self.scopes[scope].chain.clone();
                let found = self
                    .raw
                    .subflows
                    .iter()
                    .find(|s| s.name.value == name.value);
                match found {
                    None => {
                        let hint = did_you_mean(
                            &name.value,
                            self.raw.subflows.iter().map(|s| s.name.value.as_str()),
                        );
                        self.error(
                            name.pos,
                            "unknown-subflow",
                            format!("unknown subflow `{}`", name.value),
                            hint,
                        );
                    }
                    Some(_) if chain.contains(&name.value) => {
                        self.error(
                            name.pos,
                            "recursive-subflow",
                            format!("subflow `{}` calls itself", name.value),
                            None,
                        );
                    }
                    Some(sub) => {
                        let return_to = next.as_ref().and_then(|n| self.resolve(scope, n));
                        let mut chain = chain;
                        chain.push(name.value.clone());
                        let prefix = format!("{site}/");
                        let new_scope = self.scopes.len();
                        self.scopes.push(Scope {
                            prefix: prefix.clone(),
                            nodes: &sub.nodes,
                            return_to,
                            chain,
                        });
                        for raw in &sub.nodes {
                            let full_id = format!("{prefix}{}", raw.id.value);
                            if !self.index.contains_key(&full_id) {
                                self.index.insert(full_id.clone(), self.expanded.len());
                                self.expanded.push(Expanded {
                                    full_id,
                                    raw,
                                    scope: new_scope,
                                });
                            }
                        }
                    }
                }
            }
            i += 1;
        }
        for sub in &self.raw.subflows {
            if !self
                .scopes
                .iter()
                .any(|s| s.chain.last() == Some(&sub.name.value))
            {
                self.diags.warning(
                    self.file,
                    sub.name.pos,
                    "unused-subflow",
                    format!("subflow `{}` is never used", sub.name.value),
                    None,
                );
            }
        }
    }

    /// Resolves a node reference written in `scope`, reporting an unknown one.
    fn resolve(&mut self, scope: usize, name: &Sp<String>) -> Option<NodeId> {
        let s = &self.scopes[scope];
        let found = self
            .index
            .get(&format!("{}{}", s.prefix, name.value))
            .copied();
        if found.is_none() {
            let hint = did_you_mean(&name.value, s.nodes.iter().map(|n| n.id.value.as_str()));
            self.error(
                name.pos,
                "unknown-node",
                format!("unknown node `{}`", name.value),
                hint,
            );
        }
        found
    }

    fn require(
        &mut self,
        scope: usize,
        name: &Option<Sp<String>>,
        at: Pos,
        what: &str,
        id: &str,
    ) -> NodeId {
        match name {
            Some(n) => self.resolve(scope, n).unwrap_or(0),
            None => {
                self.error(
                    at,
                    "missing-key",
                    format!("node `{id}` needs `{what}`"),
                    None,
                );
                0
            }
        }
    }

    fn collect_vars(&mut self) {
        let mut vars: BTreeSet<String> = BUILT_IN_VARS.iter().map(|s| s.to_string()).collect();
        for e in &self.expanded {
            match &e.raw.kind {
                RawKind::Ask(a) => {
                    if let Some((name, _)) = &a.slot {
                        vars.insert(format!("slots.{}", name.value));
                    }
                }
                RawKind::Set { assigns, .. } => {
                    for (k, _) in assigns {
                        vars.insert(format!("vars.{}", k.value));
                    }
                }
                RawKind::Case { case_type, .. } => {
                    vars.insert("case.ref".to_string());
                    if let Some(t) = case_type {
                        self.case_types.insert(t.value.clone());
                    }
                }
                RawKind::LookupCases { .. } => {
                    self.has_lookup = true;
                    vars.insert("caller.open_cases".to_string());
                }
                RawKind::VerifyCase { .. } => {
                    self.has_verify = true;
                    vars.extend(OPEN_CASE_VARS.iter().map(|v| v.to_string()));
                }
                RawKind::Survey { questions, .. } => {
                    for q in questions {
                        vars.insert(format!("survey.{}", q.name.value));
                    }
                }
                _ => {}
            }
        }
        self.known_vars = vars;
    }

    // --- nodes ------------------------------------------------------------------------------

    fn node(&mut self, i: usize, settings: &Settings) -> NodeKind {
        let raw = self.expanded[i].raw;
        let scope = self.expanded[i].scope;
        let id = raw.id.value.clone();
        let at = raw.id.pos;
        match &raw.kind {
            RawKind::Say {
                prompts,
                barge_in,
                next,
            } => NodeKind::Say {
                prompts: self.prompts(scope, prompts),
                barge_in: barge_in.as_ref().is_none_or(|b| b.value),
                next: self.require(scope, next, at, "next", &id),
            },
            RawKind::Ask(a) => NodeKind::Ask(Box::new(self.ask(scope, &id, at, a, settings))),
            RawKind::Confirm(c) => {
                let globals = self.globals(&c.globals, self.flow_globals);
                self.advisor_rule(
                    &id,
                    at,
                    &globals,
                    &c.allow_no_advisor,
                    &c.reason,
                    c.globals.advisor.as_ref().map(|a| a.pos),
                );
                let prompts = self.prompts(scope, &c.prompts);
                for word in ["yes", "no"] {
                    if !self.intents.contains(word) {
                        self.error(c.pos, "unknown-intent", format!("`confirm` needs the `{word}` intent, which this flow does not declare"), Some(format!("declare `{word}` under `intents:`")));
                    }
                }
                NodeKind::Confirm(Box::new(Confirm {
                    prompts,
                    yes: self.require(scope, &c.yes, at, "yes", &id),
                    no: self.require(scope, &c.no, at, "no", &id),
                    max_attempts: c
                        .max_attempts
                        .as_ref()
                        .map_or(settings.max_attempts, |m| m.value.max(1)),
                    fallback: c.fallback.as_ref().and_then(|f| self.resolve(scope, f)),
                    globals,
                }))
            }
            RawKind::Set { assigns, next } => {
                let assigns = assigns
                    .iter()
                    .filter_map(|(k, v)| self.template(v).map(|t| (format!("vars.{}", k.value), t)))
                    .collect();
                NodeKind::Set {
                    assigns,
                    next: self.require(scope, next, at, "next", &id),
                }
            }
            RawKind::Branch { arms, otherwise } => {
                let mut out = Vec::new();
                for arm in arms {
                    let when = arm.when.iter().filter_map(|c| self.condition(c)).collect();
                    let goto = arm
                        .goto
                        .as_ref()
                        .and_then(|g| self.resolve(scope, g))
                        .unwrap_or(0);
                    out.push(BranchArm { when, goto });
                }
                NodeKind::Branch {
                    arms: out,
                    otherwise: self.require(scope, otherwise, at, "else", &id),
                }
            }
            RawKind::Case {
                case_type,
                fields,
                update,
                next,
                on_failure,
            } => {
                if let Some(u) = update
                    && u.value
                    && !self.has_verify
                {
                    self.error(
                        u.pos,
                        "update-without-verify",
                        format!("case node `{id}` updates a returning caller's case, but this flow never verifies one"),
                        Some("add a `lookup_cases` node and a `verify_case` node before it".into()),
                    );
                }
                if case_type.is_none() {
                    self.error(
                        at,
                        "missing-key",
                        format!("case node `{id}` needs `type`"),
                        None,
                    );
                }
                let fields = fields
                    .iter()
                    .filter_map(|(k, v)| self.template(v).map(|t| (k.value.clone(), t)))
                    .collect();
                NodeKind::Case {
                    case_type: case_type
                        .as_ref()
                        .map(|t| t.value.clone())
                        .unwrap_or_default(),
                    fields,
                    update: update.as_ref().is_some_and(|u| u.value),
                    next: self.require(scope, next, at, "next", &id),
                    on_failure: on_failure.as_ref().and_then(|f| self.resolve(scope, f)),
                }
            }
            RawKind::LookupCases {
                pos,
                case_types,
                found,
                none,
            } => {
                if case_types.is_empty() {
                    self.error(
                        *pos,
                        "missing-key",
                        format!("`lookup_cases` in `{id}` names no case types"),
                        Some("write `lookup_cases: [missed_bin]`".into()),
                    );
                }
                for t in case_types {
                    if !self.case_types.contains(&t.value) {
                        let hint =
                            did_you_mean(&t.value, self.case_types.iter().map(String::as_str))
                                .or_else(|| {
                                    Some("name the `type` of a `case` node in this flow".into())
                                });
                        self.error(
                            t.pos,
                            "unknown-case-type",
                            format!("no `case` node in this flow creates `{}` cases", t.value),
                            hint,
                        );
                    }
                }
                NodeKind::LookupCases {
                    case_types: case_types.iter().map(|t| t.value.clone()).collect(),
                    found: self.require(scope, found, at, "found", &id),
                    none: self.require(scope, none, at, "none", &id),
                }
            }
            RawKind::VerifyCase {
                pos,
                answers,
                verified,
                failed,
            } => {
                if !self.has_lookup {
                    self.error(
                        *pos,
                        "verify-without-lookup",
                        format!("`verify_case` in `{id}` has no open cases to verify against"),
                        Some("add a `lookup_cases` node before it".into()),
                    );
                }
                if answers.is_empty() {
                    self.error(
                        *pos,
                        "missing-key",
                        format!("`verify_case` in `{id}` names no slots to check"),
                        Some("write `verify_case: [postcode, house_number]`: things only the caller would know".into()),
                    );
                }
                for a in answers {
                    let var = format!("slots.{}", a.value);
                    if !self.known_vars.contains(&var) {
                        let slots: Vec<String> = self
                            .known_vars
                            .iter()
                            .filter_map(|v| v.strip_prefix("slots.").map(str::to_string))
                            .collect();
                        let hint = did_you_mean(&a.value, slots.iter().map(String::as_str))
                            .or_else(|| {
                                Some("name a slot captured by an `ask` in this flow".into())
                            });
                        self.error(
                            a.pos,
                            "unknown-slot",
                            format!("no `ask` captures a slot named `{}`", a.value),
                            hint,
                        );
                    }
                }
                NodeKind::VerifyCase {
                    answers: answers.iter().map(|a| a.value.clone()).collect(),
                    verified: self.require(scope, verified, at, "verified", &id),
                    failed: self.require(scope, failed, at, "failed", &id),
                }
            }
            RawKind::Transfer {
                queue,
                priority,
                on_failure,
            } => {
                let priority = match priority.as_ref().map(|p| p.value.as_str()) {
                    None | Some("normal") => Priority::Normal,
                    Some("urgent") => Priority::Urgent,
                    Some("emergency") => Priority::Emergency,
                    Some(other) => {
                        let pos = priority.as_ref().map_or(at, |p| p.pos);
                        let hint = did_you_mean(other, ["normal", "urgent", "emergency"]);
                        self.error(
                            pos,
                            "bad-value",
                            format!("unknown priority `{other}`"),
                            hint.or(Some("use normal, urgent or emergency".into())),
                        );
                        Priority::Normal
                    }
                };
                if queue.is_none() {
                    self.error(
                        at,
                        "missing-key",
                        format!("transfer node `{id}` needs a queue"),
                        None,
                    );
                }
                NodeKind::Transfer {
                    queue: queue.as_ref().map(|q| q.value.clone()).unwrap_or_default(),
                    priority,
                    on_failure: on_failure.as_ref().and_then(|f| self.resolve(scope, f)),
                }
            }
            RawKind::Survey { questions, next } => {
                if questions.is_empty() {
                    self.error(
                        at,
                        "missing-key",
                        format!("survey `{id}` has no questions"),
                        None,
                    );
                }
                let questions = questions
                    .iter()
                    .map(|q| {
                        let max = q.max.as_ref().map_or(5, |m| m.value);
                        if !(2..=9).contains(&max) {
                            let pos = q.max.as_ref().map_or(q.name.pos, |m| m.pos);
                            self.error(
                                pos,
                                "bad-value",
                                "a survey scale runs from 1 to between 2 and 9 (one key each)",
                                None,
                            );
                        }
                        SurveyQuestion {
                            name: q.name.value.clone(),
                            prompts: self.prompts(scope, &q.prompts),
                            max: u8::try_from(max.clamp(2, 9)).unwrap_or(5),
                        }
                    })
                    .collect();
                NodeKind::Survey {
                    questions,
                    next: self.require(scope, next, at, "next", &id),
                }
            }
            RawKind::Subflow { name, next } => {
                if next.is_none() {
                    self.error(
                        at,
                        "missing-key",
                        format!("subflow call `{id}` needs `next`"),
                        None,
                    );
                }
                let site = &self.expanded[i].full_id;
                let sub = self
                    .raw
                    .subflows
                    .iter()
                    .find(|s| s.name.value == name.value);
                let entry = sub
                    .and_then(|s| s.start.as_ref())
                    .and_then(|start| self.index.get(&format!("{site}/{}", start.value)).copied());
                if let (Some(sub), None) = (sub, entry)
                    && let Some(start) = &sub.start
                {
                    let hint =
                        did_you_mean(&start.value, sub.nodes.iter().map(|n| n.id.value.as_str()));
                    self.error(
                        start.pos,
                        "unknown-node",
                        format!("unknown node `{}`", start.value),
                        hint,
                    );
                }
                NodeKind::Goto(entry.unwrap_or(0))
            }
            RawKind::Goto(target) => NodeKind::Goto(self.resolve(scope, target).unwrap_or(0)),
            RawKind::Return => match self.scopes[scope].return_to {
                Some(to) => NodeKind::Goto(to),
                None => {
                    if self.scopes[scope].chain.is_empty() {
                        self.error(
                            at,
                            "bad-return",
                            format!("`return` in `{id}` is only allowed inside a subflow"),
                            Some("use `goto` or `hangup` here".into()),
                        );
                    }
                    NodeKind::Goto(0)
                }
            },
            RawKind::Hangup { prompts } => NodeKind::Hangup {
                prompts: self.prompts(scope, prompts),
            },
            RawKind::Invalid => NodeKind::Hangup {
                prompts: Vec::new(),
            },
        }
    }

    fn ask(&mut self, scope: usize, id: &str, at: Pos, a: &RawAsk, settings: &Settings) -> Ask {
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
        let mut intents = Vec::new();
        for (name, target) in &a.intents {
            self.intent_ref(name);
            if let Some(t) = self.resolve(scope, target) {
                intents.push((name.value.clone(), t));
            }
        }
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
                || GLOBAL_INTENTS.contains(&intent.value.as_str());
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
        let slot = a.slot.as_ref().and_then(|(name, ty)| {
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
        });
        if a.slot.is_none() && a.intents.is_empty() {
            self.error(
                at,
                "empty-ask",
                format!("ask `{id}` listens for nothing"),
                Some("give it `intents:` or a `slot:`".into()),
            );
        }
        let next = match (&a.slot, &a.next) {
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
        };
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
        let steps = |r: &mut Self, list: &Vec<Vec<RawPrompt>>| {
            list.iter().map(|p| r.prompts(scope, p)).collect::<Vec<_>>()
        };
        let no_input = steps(self, &a.no_input);
        let no_match = steps(self, &a.no_match);
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
        // A spoken value gets the longer end-of-speech silence; open questions the short one.
        let spoken_value = matches!(
            slot.as_ref().map(|s| &s.kind),
            Some(
                SlotKind::Digits
                    | SlotKind::Number
                    | SlotKind::UkPostcode
                    | SlotKind::Date
                    | SlotKind::PhoneNumber
                    | SlotKind::FreeText
            )
        );
        let end_of_speech = match &a.end_of_speech_ms {
            Some(t) => Duration::from_millis(u64::from(t.value)),
            None if spoken_value => settings.value_end_of_speech,
            None => settings.end_of_speech,
        };
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
        }
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

    fn advisor_rule(
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

    fn intent_ref(&mut self, name: &Sp<String>) {
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

    fn condition(&mut self, c: &Sp<RawCondition>) -> Option<Condition> {
        let var_ok = |r: &mut Self, var: &Sp<String>| r.var_ref(&var.value, var.pos);
        Some(match &c.value {
            RawCondition::Equals { var, value } => {
                var_ok(self, var);
                Condition::Equals {
                    var: var.value.clone(),
                    value: value.clone(),
                }
            }
            RawCondition::NotEquals { var, value } => {
                var_ok(self, var);
                Condition::NotEquals {
                    var: var.value.clone(),
                    value: value.clone(),
                }
            }
            RawCondition::In { var, values } => {
                var_ok(self, var);
                Condition::In {
                    var: var.value.clone(),
                    values: values.clone(),
                }
            }
            RawCondition::IsSet { var, set } => {
                var_ok(self, var);
                Condition::IsSet {
                    var: var.value.clone(),
                    set: *set,
                }
            }
            RawCondition::Open(b) => Condition::Open(*b),
            RawCondition::BankHoliday(b) => Condition::BankHoliday(*b),
            RawCondition::CallerWithheld(b) => Condition::CallerWithheld(*b),
        })
    }

    // --- prompts and templates ----------------------------------------------------------

    fn prompts(&mut self, _scope: usize, raw: &[RawPrompt]) -> Prompts {
        raw.iter().filter_map(|p| self.prompt(p)).collect()
    }

    fn prompt(&mut self, raw: &RawPrompt) -> Option<PromptRef> {
        let default = self.default_lang();
        match raw {
            RawPrompt::Named(name) => {
                for lang in self.languages.clone() {
                    if !self.catalog.has(&lang, &name.value, &default) {
                        let known_somewhere = self
                            .languages
                            .iter()
                            .any(|l| self.catalog.has(l, &name.value, &default));
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
                Some(PromptRef::Named(name.value.clone()))
            }
            RawPrompt::Text { pos, by_lang } => {
                let mut out = BTreeMap::new();
                for (lang, text) in by_lang {
                    let lang_name = lang.as_ref().map_or(default.clone(), |l| l.value.clone());
                    if let Some(l) = lang
                        && !self.languages.contains(&l.value)
                    {
                        let hint =
                            did_you_mean(&l.value, self.languages.iter().map(String::as_str));
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
                            *pos,
                            "missing-prompt",
                            format!("text prompt has no `{lang}` version"),
                            Some(format!(
                                "write `text: {{{default}: \"...\", {lang}: \"...\"}}`"
                            )),
                        );
                    }
                }
                Some(PromptRef::Text(out))
            }
        }
    }

    fn template(&mut self, text: &Sp<String>) -> Option<Template> {
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

    fn var_ref(&mut self, var: &str, pos: Pos) {
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

    // --- graph ------------------------------------------------------------------------------

    fn analyse_graph(&mut self, nodes: &[FlowNode], start: NodeId, settings: &Settings) {
        let edges: Vec<Vec<NodeId>> = nodes
            .iter()
            .map(|n| successors(&n.kind, settings))
            .collect();
        let mut roots = vec![start];
        roots.extend(settings.goodbye);
        let reachable = bfs(
            &roots,
            |n| edges.get(n).cloned().unwrap_or_default(),
            nodes.len(),
        );
        for (i, node) in nodes.iter().enumerate() {
            if !reachable[i] {
                let pos = self.expanded[i].raw.id.pos;
                self.error(
                    pos,
                    "unreachable-node",
                    format!("node `{}` can never be reached", node.id),
                    Some(format!(
                        "nothing leads here from `start`; remove it or add a `goto: {}`",
                        self.expanded[i].raw.id.value
                    )),
                );
            }
        }
        // Reverse reachability from the places a call can end.
        let mut preds: Vec<Vec<NodeId>> = vec![Vec::new(); nodes.len()];
        for (from, outs) in edges.iter().enumerate() {
            for &to in outs {
                if let Some(p) = preds.get_mut(to) {
                    p.push(from);
                }
            }
        }
        let ends: Vec<NodeId> = (0..nodes.len())
            .filter(|&i| can_end_here(&nodes[i].kind))
            .collect();
        let can_end = bfs(
            &ends,
            |n| preds.get(n).cloned().unwrap_or_default(),
            nodes.len(),
        );
        for (i, node) in nodes.iter().enumerate() {
            if reachable[i] && !can_end[i] {
                let pos = self.expanded[i].raw.id.pos;
                self.error(pos, "no-end", format!("no path from `{}` ever ends the call", node.id), Some("this is a loop with no exit: add a `hangup`, a `transfer`, or an `ask` whose fallback reaches an advisor".into()));
            }
        }
        // Loops through nodes that neither play nor wait would spin forever within one event.
        let immediate = |k: &NodeKind| {
            matches!(
                k,
                NodeKind::Set { .. }
                    | NodeKind::Branch { .. }
                    | NodeKind::Goto(_)
                    | NodeKind::VerifyCase { .. }
                    // Immediate for a withheld number (nothing to look up).
                    | NodeKind::LookupCases { .. }
            )
        };
        let mut state = vec![0u8; nodes.len()];
        for root in 0..nodes.len() {
            if state[root] != 0 || !immediate(&nodes[root].kind) {
                continue;
            }
            let mut stack = vec![(root, 0usize)];
            state[root] = 1;
            while let Some((n, child)) = stack.pop() {
                let outs = &edges[n];
                if child < outs.len() {
                    stack.push((n, child + 1));
                    let m = outs[child];
                    if m >= nodes.len() || !immediate(&nodes[m].kind) {
                        continue;
                    }
                    if state[m] == 1 {
                        let pos = self.expanded[m].raw.id.pos;
                        self.error(pos, "loop-without-wait", format!("`{}` loops back to itself without playing anything or waiting for the caller", nodes[m].id), Some("put a `say` or an `ask` in the loop, or end it".into()));
                    } else if state[m] == 0 {
                        state[m] = 1;
                        stack.push((m, 0));
                    }
                } else {
                    state[n] = 2;
                }
            }
        }
    }

    fn default_lang(&self) -> String {
        self.languages
            .first()
            .cloned()
            .unwrap_or_else(|| "en".to_string())
    }

    fn error(
        &mut self,
        pos: Pos,
        code: &'static str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.diags.error(self.file, pos, code, message, hint);
    }
}

/// Where a node can lead (the global "goodbye" leads to the survey from any ask).
pub fn successors(kind: &NodeKind, settings: &Settings) -> Vec<NodeId> {
    let mut out = Vec::new();
    match kind {
        NodeKind::Say { next, .. } | NodeKind::Set { next, .. } | NodeKind::Survey { next, .. } => {
            out.push(*next)
        }
        NodeKind::Ask(a) => {
            out.extend(a.intents.iter().map(|(_, t)| *t));
            out.extend(a.next);
            out.extend(a.fallback);
            if a.globals.goodbye {
                out.extend(settings.goodbye);
            }
        }
        NodeKind::Confirm(c) => {
            out.extend([c.yes, c.no]);
            out.extend(c.fallback);
            if c.globals.goodbye {
                out.extend(settings.goodbye);
            }
        }
        NodeKind::Branch { arms, otherwise } => {
            out.extend(arms.iter().map(|a| a.goto));
            out.push(*otherwise);
        }
        NodeKind::Case {
            next, on_failure, ..
        } => {
            out.push(*next);
            out.extend(*on_failure);
        }
        NodeKind::Transfer { on_failure, .. } => out.extend(*on_failure),
        NodeKind::LookupCases { found, none, .. } => out.extend([*found, *none]),
        NodeKind::VerifyCase {
            verified, failed, ..
        } => out.extend([*verified, *failed]),
        NodeKind::Goto(t) => out.push(*t),
        NodeKind::Hangup { .. } => {}
    }
    out
}

/// A node where the call can end: hang-up, hand-over, or an ask/case whose default fallback
/// is the advisor queue.
fn can_end_here(kind: &NodeKind) -> bool {
    match kind {
        NodeKind::Hangup { .. } | NodeKind::Transfer { .. } => true,
        NodeKind::Ask(a) => a.fallback.is_none(),
        NodeKind::Confirm(c) => c.fallback.is_none(),
        NodeKind::Case { on_failure, .. } => on_failure.is_none(),
        _ => false,
    }
}

fn bfs(roots: &[NodeId], next: impl Fn(NodeId) -> Vec<NodeId>, len: usize) -> Vec<bool> {
    let mut seen = vec![false; len];
    let mut queue: VecDeque<NodeId> = VecDeque::new();
    for &r in roots {
        if r < len && !seen[r] {
            seen[r] = true;
            queue.push_back(r);
        }
    }
    while let Some(n) = queue.pop_front() {
        for m in next(n) {
            if m < len && !seen[m] {
                seen[m] = true;
                queue.push_back(m);
            }
        }
    }
    seen
}

/// First 16 hex digits of the SHA-256 of the source text.
pub fn content_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(digest).chars().take(16).collect()
}
