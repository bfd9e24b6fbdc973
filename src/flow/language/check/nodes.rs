//! Every node kind but `ask` (see [`super::ask`]): its references resolved, its required keys
//! present, and the rules of its kind (a `confirm` needs the yes and no intents, `verify_case`
//! needs a `lookup_cases` before it, `update:` needs a verified case, and so on).

use super::Checker;
use crate::flow::language::diag::did_you_mean;
use crate::flow::language::global_intent::GlobalIntent;
use crate::flow::language::model::{
    BranchArm, Condition, Confirm, NodeId, NodeKind, Priority, Settings, SurveyQuestion,
};
use crate::flow::language::raw::{
    RawArm, RawCondition, RawConfirm, RawKind, RawPrompt, RawQuestion, Sp,
};
use crate::flow::language::yaml::Pos;

/// The node being checked: where its references resolve, and how findings name it.
struct Site {
    /// Index of the naming scope its references resolve in.
    scope: usize,
    /// Its id as written.
    id: String,
    /// Where its id is written.
    at: Pos,
}

impl Checker<'_> {
    /// Checks the `i`-th laid-out node and builds what the interpreter runs.
    pub(super) fn node(&mut self, i: usize, settings: &Settings) -> NodeKind {
        let raw = self.expanded[i].raw;
        let site = Site {
            scope: self.expanded[i].scope,
            id: raw.id.value.clone(),
            at: raw.id.pos,
        };
        match &raw.kind {
            RawKind::Say {
                prompts,
                barge_in,
                next,
            } => NodeKind::Say {
                prompts: self.prompts(site.scope, prompts),
                barge_in: barge_in.as_ref().is_none_or(|b| b.value),
                next: self.target(&site, next, "next"),
            },
            RawKind::Ask(a) => NodeKind::Ask(Box::new(
                self.ask(site.scope, &site.id, site.at, a, settings),
            )),
            RawKind::Confirm(c) => NodeKind::Confirm(Box::new(self.confirm(&site, c, settings))),
            RawKind::Set { assigns, next } => self.set(&site, assigns, next),
            RawKind::Branch { arms, otherwise } => self.branch(&site, arms, otherwise),
            RawKind::Case {
                case_type,
                fields,
                update,
                next,
                on_failure,
            } => self.case(&site, case_type, fields, update, next, on_failure),
            RawKind::LookupCases {
                pos,
                case_types,
                found,
                none,
            } => self.lookup_cases(&site, *pos, case_types, found, none),
            RawKind::VerifyCase {
                pos,
                answers,
                verified,
                failed,
            } => self.verify_case(&site, *pos, answers, verified, failed),
            RawKind::Transfer {
                queue,
                priority,
                on_failure,
            } => self.transfer(&site, queue, priority, on_failure),
            RawKind::Survey { questions, next } => self.survey(&site, questions, next),
            RawKind::Subflow { name, next } => self.subflow_call(&site, i, name, next),
            RawKind::Goto(target) => NodeKind::Goto(self.resolve(site.scope, target).unwrap_or(0)),
            RawKind::Return => self.subflow_return(&site),
            RawKind::Hangup { prompts } => self.hangup(&site, prompts),
            RawKind::Invalid => NodeKind::Hangup {
                prompts: Vec::new(),
            },
        }
    }

    /// A required node reference of this node (`next`, `yes`, `found`, ...).
    fn target(&mut self, site: &Site, name: &Option<Sp<String>>, what: &str) -> NodeId {
        self.require(site.scope, name, site.at, what, &site.id)
    }

    /// An optional node reference of this node (`fallback`, `on_failure`).
    fn optional_target(&mut self, site: &Site, name: &Option<Sp<String>>) -> Option<NodeId> {
        name.as_ref().and_then(|n| self.resolve(site.scope, n))
    }

    fn confirm(&mut self, site: &Site, c: &RawConfirm, settings: &Settings) -> Confirm {
        let globals = self.globals(&c.globals, self.flow_globals);
        self.advisor_rule(
            &site.id,
            site.at,
            &globals,
            &c.allow_no_advisor,
            &c.reason,
            c.globals.advisor.as_ref().map(|a| a.pos),
        );
        let prompts = self.prompts(site.scope, &c.prompts);
        for word in GlobalIntent::CONFIRM {
            if !self.intents.contains(word.name()) {
                self.error(
                    c.pos,
                    "unknown-intent",
                    format!(
                        "`confirm` needs the `{word}` intent, which this flow does not declare"
                    ),
                    Some(format!("declare `{word}` under `intents:`")),
                );
            }
        }
        Confirm {
            prompts,
            yes: self.target(site, &c.yes, "yes"),
            no: self.target(site, &c.no, "no"),
            max_attempts: c
                .max_attempts
                .as_ref()
                .map_or(settings.max_attempts, |m| m.value.max(1)),
            fallback: self.optional_target(site, &c.fallback),
            globals,
        }
    }

    fn set(
        &mut self,
        site: &Site,
        assigns: &[(Sp<String>, Sp<String>)],
        next: &Option<Sp<String>>,
    ) -> NodeKind {
        let assigns = assigns
            .iter()
            .filter_map(|(k, v)| self.template(v).map(|t| (format!("vars.{}", k.value), t)))
            .collect();
        NodeKind::Set {
            assigns,
            next: self.target(site, next, "next"),
        }
    }

    fn branch(&mut self, site: &Site, arms: &[RawArm], otherwise: &Option<Sp<String>>) -> NodeKind {
        let mut out = Vec::new();
        for arm in arms {
            let when = arm.when.iter().filter_map(|c| self.condition(c)).collect();
            let goto = arm
                .goto
                .as_ref()
                .and_then(|g| self.resolve(site.scope, g))
                .unwrap_or(0);
            out.push(BranchArm { when, goto });
        }
        NodeKind::Branch {
            arms: out,
            otherwise: self.target(site, otherwise, "else"),
        }
    }

    /// One `when` condition; the variable it tests must be known.
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

    fn case(
        &mut self,
        site: &Site,
        case_type: &Option<Sp<String>>,
        fields: &[(Sp<String>, Sp<String>)],
        update: &Option<Sp<bool>>,
        next: &Option<Sp<String>>,
        on_failure: &Option<Sp<String>>,
    ) -> NodeKind {
        let id = &site.id;
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
                site.at,
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
            next: self.target(site, next, "next"),
            on_failure: self.optional_target(site, on_failure),
        }
    }

    /// The case types looked up must be ones this flow creates.
    fn lookup_cases(
        &mut self,
        site: &Site,
        pos: Pos,
        case_types: &[Sp<String>],
        found: &Option<Sp<String>>,
        none: &Option<Sp<String>>,
    ) -> NodeKind {
        let id = &site.id;
        if case_types.is_empty() {
            self.error(
                pos,
                "missing-key",
                format!("`lookup_cases` in `{id}` names no case types"),
                Some("write `lookup_cases: [missed_bin]`".into()),
            );
        }
        for t in case_types {
            if !self.case_types.contains(&t.value) {
                let hint = did_you_mean(&t.value, self.case_types.iter().map(String::as_str))
                    .or_else(|| Some("name the `type` of a `case` node in this flow".into()));
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
            found: self.target(site, found, "found"),
            none: self.target(site, none, "none"),
        }
    }

    /// Verification compares slots the caller gave with the open cases a lookup found.
    fn verify_case(
        &mut self,
        site: &Site,
        pos: Pos,
        answers: &[Sp<String>],
        verified: &Option<Sp<String>>,
        failed: &Option<Sp<String>>,
    ) -> NodeKind {
        let id = &site.id;
        if !self.has_lookup {
            self.error(
                pos,
                "verify-without-lookup",
                format!("`verify_case` in `{id}` has no open cases to verify against"),
                Some("add a `lookup_cases` node before it".into()),
            );
        }
        if answers.is_empty() {
            self.error(
                pos,
                "missing-key",
                format!("`verify_case` in `{id}` names no slots to check"),
                Some("write `verify_case: [postcode, house_number]`: things only the caller would know".into()),
            );
        }
        for a in answers {
            self.captured_slot(a);
        }
        NodeKind::VerifyCase {
            answers: answers.iter().map(|a| a.value.clone()).collect(),
            verified: self.target(site, verified, "verified"),
            failed: self.target(site, failed, "failed"),
        }
    }

    /// A slot some `ask` of this flow captures.
    fn captured_slot(&mut self, name: &Sp<String>) {
        let var = format!("slots.{}", name.value);
        if self.known_vars.contains(&var) {
            return;
        }
        let slots: Vec<String> = self
            .known_vars
            .iter()
            .filter_map(|v| v.strip_prefix("slots.").map(str::to_string))
            .collect();
        let hint = did_you_mean(&name.value, slots.iter().map(String::as_str))
            .or_else(|| Some("name a slot captured by an `ask` in this flow".into()));
        self.error(
            name.pos,
            "unknown-slot",
            format!("no `ask` captures a slot named `{}`", name.value),
            hint,
        );
    }

    fn transfer(
        &mut self,
        site: &Site,
        queue: &Option<Sp<String>>,
        priority: &Option<Sp<String>>,
        on_failure: &Option<Sp<String>>,
    ) -> NodeKind {
        let priority = self.priority(site, priority);
        if queue.is_none() {
            self.error(
                site.at,
                "missing-key",
                format!("transfer node `{}` needs a queue", site.id),
                None,
            );
        }
        NodeKind::Transfer {
            queue: queue.as_ref().map(|q| q.value.clone()).unwrap_or_default(),
            priority,
            on_failure: self.optional_target(site, on_failure),
        }
    }

    fn priority(&mut self, site: &Site, priority: &Option<Sp<String>>) -> Priority {
        match priority.as_ref().map(|p| p.value.as_str()) {
            None | Some("normal") => Priority::Normal,
            Some("urgent") => Priority::Urgent,
            Some("emergency") => Priority::Emergency,
            Some(other) => {
                let pos = priority.as_ref().map_or(site.at, |p| p.pos);
                let hint = did_you_mean(other, ["normal", "urgent", "emergency"]);
                self.error(
                    pos,
                    "bad-value",
                    format!("unknown priority `{other}`"),
                    hint.or(Some("use normal, urgent or emergency".into())),
                );
                Priority::Normal
            }
        }
    }

    fn survey(
        &mut self,
        site: &Site,
        questions: &[RawQuestion],
        next: &Option<Sp<String>>,
    ) -> NodeKind {
        if questions.is_empty() {
            self.error(
                site.at,
                "missing-key",
                format!("survey `{}` has no questions", site.id),
                None,
            );
        }
        let questions = questions
            .iter()
            .map(|q| self.survey_question(site, q))
            .collect();
        NodeKind::Survey {
            questions,
            next: self.target(site, next, "next"),
        }
    }

    /// A question answered on a scale from 1 to `max` (one key each, so at most 9).
    fn survey_question(&mut self, site: &Site, q: &RawQuestion) -> SurveyQuestion {
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
            prompts: self.prompts(site.scope, &q.prompts),
            max: u8::try_from(max.clamp(2, 9)).unwrap_or(5),
        }
    }

    /// A subflow call site becomes a `goto` into its inlined copy (laid out by
    /// [`Checker::expand`]); the copy's `return` leads to the site's `next`.
    fn subflow_call(
        &mut self,
        site: &Site,
        i: usize,
        name: &Sp<String>,
        next: &Option<Sp<String>>,
    ) -> NodeKind {
        if next.is_none() {
            self.error(
                site.at,
                "missing-key",
                format!("subflow call `{}` needs `next`", site.id),
                None,
            );
        }
        let full_id = &self.expanded[i].full_id;
        let sub = self
            .raw
            .subflows
            .iter()
            .find(|s| s.name.value == name.value);
        let entry = sub.and_then(|s| s.start.as_ref()).and_then(|start| {
            self.index
                .get(&format!("{full_id}/{}", start.value))
                .copied()
        });
        if let (Some(sub), None) = (sub, entry)
            && let Some(start) = &sub.start
        {
            let hint = did_you_mean(&start.value, sub.nodes.iter().map(|n| n.id.value.as_str()));
            self.error(
                start.pos,
                "unknown-node",
                format!("unknown node `{}`", start.value),
                hint,
            );
        }
        NodeKind::Goto(entry.unwrap_or(0))
    }

    /// `return` leads back to the call site's `next`; outside a subflow it is an error.
    fn subflow_return(&mut self, site: &Site) -> NodeKind {
        match self.scopes[site.scope].return_to {
            Some(to) => NodeKind::Goto(to),
            None => {
                if self.scopes[site.scope].chain.is_empty() {
                    self.error(
                        site.at,
                        "bad-return",
                        format!("`return` in `{}` is only allowed inside a subflow", site.id),
                        Some("use `goto` or `hangup` here".into()),
                    );
                }
                NodeKind::Goto(0)
            }
        }
    }

    fn hangup(&mut self, site: &Site, prompts: &[RawPrompt]) -> NodeKind {
        NodeKind::Hangup {
            prompts: self.prompts(site.scope, prompts),
        }
    }
}
