//! Cases: the handler's `SaveCase` (a new case, or an update of a returning caller's) and
//! `FindOpenCases` become requests for the
//! driver (the store is never touched on the media thread), and their completions events.
//! The handler hears `CaseCreated` only once the case is durable, so a reference is never read
//! back for a case that could still be lost.

use super::{Call, Request};
use crate::call::records;
use crate::crm::CaseUpdate;
use crate::handler::{CallEvent, CaseDraft};

impl Call {
    pub(super) fn create_case(&mut self, draft: CaseDraft) {
        if !self.settings.case_store {
            self.raise(CallEvent::CaseFailed {
                reason: "no case store configured".into(),
            });
            return;
        }
        let case = records::new_case(draft, self.info.caller.clone(), &self.info.call_id);
        self.request(Request::StoreCase(case));
    }

    pub(super) fn update_case(&mut self, reference: String, fields: serde_json::Value) {
        if !self.settings.case_store {
            self.raise(CallEvent::CaseFailed {
                reason: "no case store configured".into(),
            });
            return;
        }
        let update = CaseUpdate {
            fields,
            call_id: Some(self.info.call_id.clone()),
            ..CaseUpdate::default()
        };
        self.request(Request::UpdateCase { reference, update });
    }

    /// A withheld number or no store answer "none" at once: the caller is then simply treated
    /// as new.
    pub(super) fn find_open_cases(&mut self) {
        match (self.settings.case_store, self.info.caller.clone()) {
            (true, Some(caller)) => self.request(Request::FindOpenCases { caller }),
            _ => self.raise(CallEvent::OpenCases { cases: Vec::new() }),
        }
    }

    /// The reference is kept for the call record even when the caller has gone by the time
    /// the store answers.
    pub(super) fn on_case_stored(&mut self, result: Result<String, String>) {
        match result {
            Ok(reference) => {
                self.case_references.push(reference.clone());
                self.raise(CallEvent::CaseCreated { reference });
            }
            Err(reason) => self.raise(CallEvent::CaseFailed { reason }),
        }
    }

    pub(super) fn on_case_updated(&mut self, result: Result<String, String>) {
        match result {
            Ok(reference) => {
                if !self.case_references.contains(&reference) {
                    self.case_references.push(reference.clone());
                }
                self.raise(CallEvent::CaseUpdated { reference });
            }
            Err(reason) => self.raise(CallEvent::CaseFailed { reason }),
        }
    }
}
