//! The global intents: the words every flow answers at any question without routing them
//! itself (an advisor, repeat, slower, goodbye, safeguarding), and the yes and no a `confirm`
//! listens for. A flow declares their phrases under `intents:` like any other intent; what
//! they do is built in.
//!
//! Owns their names as written in flows, in one place. Must not decide what they do (that is
//! the runtime).

use std::fmt;

use super::model::Globals;

/// An intent the language gives a meaning to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GlobalIntent {
    /// "Can I speak to someone": the advisor queue (`speak_to_advisor`).
    Advisor,
    /// Play the question again (`repeat`).
    Repeat,
    /// Speak more slowly from now on (`slower`).
    Slower,
    /// End the call, by way of the survey when the flow has one (`goodbye`).
    Goodbye,
    /// The answer "yes" to a `confirm`.
    Yes,
    /// The answer "no" to a `confirm`.
    No,
    /// "Hang on": the caller needs a moment before answering, so the question listens again
    /// without a reprompt and without counting a miss (`wait`). Heard in answers to a
    /// `confirm`; never classified from a flow's examples.
    Wait,
    /// A caller in danger: the emergency message and the safeguarding queue. Always live; a
    /// flow cannot switch it off.
    Safeguarding,
}

impl GlobalIntent {
    /// Every global intent.
    pub const ALL: [GlobalIntent; 8] = [
        GlobalIntent::Advisor,
        GlobalIntent::Repeat,
        GlobalIntent::Slower,
        GlobalIntent::Goodbye,
        GlobalIntent::Yes,
        GlobalIntent::No,
        GlobalIntent::Wait,
        GlobalIntent::Safeguarding,
    ];

    /// The global handlers: acted on at any question while the flow's (or the ask's)
    /// `globals:` leave them on.
    pub const HANDLERS: [GlobalIntent; 5] = [
        GlobalIntent::Safeguarding,
        GlobalIntent::Advisor,
        GlobalIntent::Repeat,
        GlobalIntent::Slower,
        GlobalIntent::Goodbye,
    ];

    /// Intents that win whenever heard, in this order: safeguarding first.
    pub const ALWAYS: [GlobalIntent; 2] = [GlobalIntent::Safeguarding, GlobalIntent::Advisor];

    /// The answers a `confirm` listens for.
    pub const CONFIRM: [GlobalIntent; 2] = [GlobalIntent::Yes, GlobalIntent::No];

    /// The name as written in flows (and used by the classifier).
    pub const fn name(self) -> &'static str {
        match self {
            GlobalIntent::Advisor => "speak_to_advisor",
            GlobalIntent::Repeat => "repeat",
            GlobalIntent::Slower => "slower",
            GlobalIntent::Goodbye => "goodbye",
            GlobalIntent::Yes => "yes",
            GlobalIntent::No => "no",
            GlobalIntent::Wait => "wait",
            GlobalIntent::Safeguarding => "safeguarding",
        }
    }

    /// The global intent of this name; `None` for a flow's own intents.
    pub fn from_name(name: &str) -> Option<GlobalIntent> {
        GlobalIntent::ALL.into_iter().find(|g| g.name() == name)
    }

    /// Whether the handler is live under these switches. Safeguarding, yes and no have no
    /// switch.
    pub fn is_live(self, globals: &Globals) -> bool {
        match self {
            GlobalIntent::Advisor => globals.advisor,
            GlobalIntent::Repeat => globals.repeat,
            GlobalIntent::Slower => globals.slower,
            GlobalIntent::Goodbye => globals.goodbye,
            GlobalIntent::Yes
            | GlobalIntent::No
            | GlobalIntent::Wait
            | GlobalIntent::Safeguarding => true,
        }
    }
}

impl fmt::Display for GlobalIntent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_flow_intents_are_not_global() {
        for intent in GlobalIntent::ALL {
            assert_eq!(GlobalIntent::from_name(intent.name()), Some(intent));
            assert_eq!(intent.to_string(), intent.name());
        }
        assert_eq!(
            GlobalIntent::from_name("speak_to_advisor"),
            Some(GlobalIntent::Advisor)
        );
        assert_eq!(GlobalIntent::from_name("report_missed_bin"), None);
        assert_eq!(GlobalIntent::from_name("advisor"), None);
    }

    #[test]
    fn safeguarding_is_live_whatever_the_switches() {
        let off = Globals {
            advisor: false,
            repeat: false,
            slower: false,
            goodbye: false,
            language: false,
        };
        let live: Vec<GlobalIntent> = GlobalIntent::HANDLERS
            .into_iter()
            .filter(|g| g.is_live(&off))
            .collect();
        assert_eq!(live, vec![GlobalIntent::Safeguarding]);
        assert!(
            GlobalIntent::HANDLERS
                .into_iter()
                .all(|g| g.is_live(&Globals::default()))
        );
    }
}
