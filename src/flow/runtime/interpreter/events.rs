//! The events that are not an answer to a question: the call starting, a key over a prompt,
//! and the answers to what the interpreter asked the call layer for (cases, transfers).

use super::*;

impl Interpreter {
    pub(super) fn on_started(&mut self, now: Instant, out: &mut Vec<CallAction>) {
        if self.state == State::NotStarted {
            self.started = Some(now);
            self.enter(self.flow.start, out);
        }
    }

    pub(super) fn on_heard(
        &mut self,
        intent: Option<String>,
        slots: BTreeMap<String, SlotCapture>,
        language: Option<String>,
        confidence: f32,
        out: &mut Vec<CallAction>,
    ) {
        if !self.listening() {
            return;
        }
        self.utterances += 1;
        // English words for an answer the language check heard as a language this flow has no
        // prompts for: the English model guessed ("Mervin men miss our streets" for
        // espeak-ng's "The bin men missed our street", heard as Chinese). Only a guess that
        // clearly names an intent is believed; the English model's words for Polish or
        // Lithuanian match nothing that well, and those callers are offered an interpreter as
        // before. A global word is no evidence: a Polish "Dzień dobry" comes out of the
        // English model as "Pardon?" (repeat, 0.68).
        let own = intent.as_deref().is_some_and(
            |i| matches!(self.kind(), NodeKind::Ask(a) if a.intents.iter().any(|(n, _)| n == i)),
        );
        let unsure_other = language
            .as_deref()
            .is_some_and(|l| l != self.language && !self.flow.languages.iter().any(|f| f == l))
            && !(own && confidence >= OTHER_LANGUAGE_MIN_CONFIDENCE);
        if unsure_other {
            self.heard(None, BTreeMap::new(), language, out);
        } else {
            self.heard(intent, slots, language, out);
        }
    }

    /// The caller's open cases (`lookup_cases`), of the node's types.
    pub(super) fn on_open_cases(&mut self, cases: Vec<OpenCase>, out: &mut Vec<CallAction>) {
        if self.state == State::WaitingCases
            && let NodeKind::LookupCases {
                case_types,
                found,
                none,
            } = self.kind()
        {
            let (found, none) = (*found, *none);
            let cases: Vec<OpenCase> = cases
                .into_iter()
                .filter(|c| case_types.is_empty() || case_types.contains(&c.service))
                .collect();
            let next = if cases.is_empty() { none } else { found };
            self.open_cases = Some(cases);
            self.enter(next, out);
        }
    }

    /// A case asked for was stored (created, or a returning caller's updated).
    pub(super) fn on_case_stored(&mut self, reference: String, out: &mut Vec<CallAction>) {
        if self.state == State::WaitingCase
            && let NodeKind::Case { next, .. } = self.kind()
        {
            let next = *next;
            self.case_ref = Some(reference);
            self.enter(next, out);
        }
    }

    pub(super) fn on_case_failed(&mut self, out: &mut Vec<CallAction>) {
        if self.state == State::WaitingCase
            && let NodeKind::Case { on_failure, .. } = self.kind()
        {
            match *on_failure {
                Some(n) => self.enter(n, out),
                None => self.advisor(TransferReason::CaseFailed, None, out),
            }
        }
    }

    /// The caller is still with us: back to the question they left, or the node's
    /// `on_failure`, or goodbye.
    pub(super) fn on_transfer_failed(&mut self, out: &mut Vec<CallAction>) {
        if let State::WaitingTransfer { resume } = self.state {
            let on_failure = match self.kind() {
                NodeKind::Transfer { on_failure, .. } if resume.is_none() => *on_failure,
                _ => None,
            };
            match (resume, on_failure) {
                (Some(ask), _) => self.enter(ask, out),
                (None, Some(n)) => self.enter(n, out),
                (None, None) => self.end(out),
            }
        }
    }

    /// One key: an answer at a question, or the end of an interruptible prompt.
    pub(super) fn on_key(&mut self, key: char, out: &mut Vec<CallAction>) {
        if self.listening() {
            self.keyed(&key.to_string(), true, out);
        } else if let State::Playing {
            interruptible: true,
            ..
        } = self.state
        {
            // The runtime cut the interruptible prompt for this key (keys always barge in), so
            // it will never finish: carry on as if it had. The key itself answers nothing (it
            // was pressed over a prompt that asked nothing).
            self.prompt_finished(out);
        }
    }
}
