//! The foundation's DTMF demo menu: welcome, "press 1 for A, 2 for B", the chosen prompt, goodbye.
//!
//! A deliberately small [`CallHandler`] driven by a YAML file, so the server can answer real calls
//! before (and independently of) the call-flow language. It exercises the same seam the flow
//! interpreter uses: prompts, DTMF, repeat on no input, hang-up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::handler::{
    CallAction, CallEvent, CallHandler, CallInfo, ListenSpec, PlayItem, TransferContext,
};

/// Errors loading a demo menu.
#[derive(Debug, thiserror::Error)]
pub enum DemoMenuError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Yaml { path: String, message: String },
    #[error("{path}: option key `{key}` must be a single DTMF digit (0-9, *, #)")]
    BadDigit { path: String, key: String },
    #[error("{path}: digit `{key}` is both an option and a transfer")]
    DigitTwice { path: String, key: String },
}

/// The menu as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoMenu {
    /// Prompts played once when the call is answered.
    pub welcome: Vec<String>,
    /// The menu prompt, repeated on no input or an unknown key.
    pub menu: Vec<String>,
    /// Digit -> prompts played when that digit is pressed.
    pub options: BTreeMap<String, Vec<String>>,
    /// Digit -> queue (an `outbound_targets` name): pressing it transfers the caller there.
    #[serde(default)]
    pub transfers: BTreeMap<String, String>,
    /// Prompts played before hanging up.
    pub goodbye: Vec<String>,
    /// How many times the menu is offered before saying goodbye.
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Seconds to wait for a key after the menu prompt.
    #[serde(default = "default_timeout")]
    pub no_input_secs: u64,
}

fn default_attempts() -> u32 {
    3
}

fn default_timeout() -> u64 {
    6
}

impl DemoMenu {
    pub fn load(path: &Path) -> Result<DemoMenu, DemoMenuError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DemoMenuError::Read {
            path: p.clone(),
            source,
        })?;
        let menu: DemoMenu = serde_saphyr::from_str(&text).map_err(|e| DemoMenuError::Yaml {
            path: p.clone(),
            message: e.to_string(),
        })?;
        for key in menu.transfers.keys() {
            if menu.options.contains_key(key) {
                return Err(DemoMenuError::DigitTwice {
                    path: p,
                    key: key.clone(),
                });
            }
        }
        for key in menu.options.keys().chain(menu.transfers.keys()) {
            let mut chars = key.chars();
            let ok = matches!((chars.next(), chars.next()), (Some(c), None) if c.is_ascii_digit() || c == '*' || c == '#');
            if !ok {
                return Err(DemoMenuError::BadDigit {
                    path: p,
                    key: key.clone(),
                });
            }
        }
        Ok(menu)
    }

    /// Every prompt name the menu uses, so the server can check they exist at start-up.
    pub fn prompt_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .welcome
            .iter()
            .chain(&self.menu)
            .chain(&self.goodbye)
            .cloned()
            .collect();
        names.extend(self.options.values().flatten().cloned());
        names.sort();
        names.dedup();
        names
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Welcome,
    Menu,
    Option,
    Transferring,
    Goodbye,
    Done,
}

/// One call's walk through a [`DemoMenu`].
pub struct DemoMenuHandler {
    menu: std::sync::Arc<DemoMenu>,
    state: State,
    attempts: u32,
    /// Digits pressed, in order (the call summary shows them).
    pub digits: String,
}

impl DemoMenuHandler {
    pub fn new(menu: std::sync::Arc<DemoMenu>) -> Self {
        DemoMenuHandler {
            menu,
            state: State::Welcome,
            attempts: 0,
            digits: String::new(),
        }
    }

    fn play(names: &[String]) -> CallAction {
        let items = names
            .iter()
            .map(|n| PlayItem::Prompt {
                name: n.clone(),
                lang: None,
            })
            .collect();
        CallAction::Play {
            items,
            barge_in: true,
        }
    }

    fn offer_menu(&mut self) -> Vec<CallAction> {
        self.attempts += 1;
        if self.attempts > self.menu.attempts {
            return self.say_goodbye();
        }
        self.state = State::Menu;
        vec![
            Self::play(&self.menu.menu),
            CallAction::Listen(ListenSpec {
                no_input_timeout: Duration::from_secs(self.menu.no_input_secs),
                max_digits: 1,
                inter_digit_timeout: Duration::from_secs(3),
                ..ListenSpec::default()
            }),
        ]
    }

    fn say_goodbye(&mut self) -> Vec<CallAction> {
        self.state = State::Goodbye;
        vec![Self::play(&self.menu.goodbye)]
    }
}

impl CallHandler for DemoMenuHandler {
    fn on_event(&mut self, _info: &CallInfo, event: CallEvent) -> Vec<CallAction> {
        match (self.state, event) {
            (_, CallEvent::Hangup(_)) => {
                self.state = State::Done;
                Vec::new()
            }
            (State::Welcome, CallEvent::Answered) => vec![Self::play(&self.menu.welcome)],
            (State::Welcome, CallEvent::PromptFinished) => self.offer_menu(),
            // A key during the welcome skips straight to the menu logic (DTMF always barges in).
            (State::Welcome | State::Menu, CallEvent::Dtmf(d)) => {
                self.digits.push(d);
                if let Some(queue) = self.menu.transfers.get(&d.to_string()) {
                    self.state = State::Transferring;
                    // Only advisor-safe facts: the digits pressed are not sent.
                    let context = TransferContext::Menu {
                        service: "demo-menu".into(),
                        intent: "speak_to_advisor".into(),
                    };
                    return vec![
                        CallAction::StopPlayback,
                        CallAction::Transfer {
                            queue: queue.clone(),
                            context,
                        },
                    ];
                }
                match self.menu.options.get(&d.to_string()) {
                    Some(prompts) => {
                        self.state = State::Option;
                        vec![CallAction::StopPlayback, Self::play(prompts)]
                    }
                    None => {
                        let mut actions = vec![CallAction::StopPlayback];
                        actions.extend(self.offer_menu());
                        actions
                    }
                }
            }
            (State::Menu, CallEvent::NoInput) => self.offer_menu(),
            // The caller is still with us: back to the menu (which counts as an attempt).
            (State::Transferring, CallEvent::TransferFailed { .. }) => self.offer_menu(),
            (State::Option, CallEvent::PromptFinished) => self.say_goodbye(),
            (State::Goodbye, CallEvent::PromptFinished) => {
                self.state = State::Done;
                vec![CallAction::Hangup]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::SystemTime;

    fn info() -> CallInfo {
        CallInfo {
            call_id: "c1".into(),
            caller: None,
            dialled: "100".into(),
            source: "127.0.0.1:5060".parse().unwrap(),
            started_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn menu() -> Arc<DemoMenu> {
        Arc::new(
            serde_saphyr::from_str(
                "welcome: [welcome]\nmenu: [menu]\noptions:\n  \"1\": [option-a]\n  \"2\": [option-b]\ngoodbye: [goodbye]\n",
            )
            .unwrap(),
        )
    }

    fn prompts(actions: &[CallAction]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                CallAction::Play { items, .. } => Some(
                    items
                        .iter()
                        .map(|i| format!("{i:?}"))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn walks_welcome_menu_option_goodbye() {
        let mut h = DemoMenuHandler::new(menu());
        let i = info();
        assert!(prompts(&h.on_event(&i, CallEvent::Answered))[0].contains("welcome"));
        let a = h.on_event(&i, CallEvent::PromptFinished);
        assert!(prompts(&a)[0].contains("\"menu\""));
        assert!(a.iter().any(|a| matches!(a, CallAction::Listen(_))));
        assert!(prompts(&h.on_event(&i, CallEvent::Dtmf('2')))[0].contains("option-b"));
        assert!(prompts(&h.on_event(&i, CallEvent::PromptFinished))[0].contains("goodbye"));
        assert_eq!(
            h.on_event(&i, CallEvent::PromptFinished),
            vec![CallAction::Hangup]
        );
        assert_eq!(h.digits, "2");
    }

    #[test]
    fn no_input_repeats_menu_then_says_goodbye() {
        let mut h = DemoMenuHandler::new(menu());
        let i = info();
        h.on_event(&i, CallEvent::Answered);
        h.on_event(&i, CallEvent::PromptFinished);
        assert!(prompts(&h.on_event(&i, CallEvent::NoInput))[0].contains("\"menu\""));
        assert!(prompts(&h.on_event(&i, CallEvent::NoInput))[0].contains("\"menu\""));
        assert!(prompts(&h.on_event(&i, CallEvent::NoInput))[0].contains("goodbye"));
    }

    #[test]
    fn transfer_digit_transfers_and_failure_returns_to_menu() {
        let menu: DemoMenu = serde_saphyr::from_str(
            "welcome: [welcome]\nmenu: [menu]\noptions:\n  \"1\": [option-a]\ntransfers:\n  \"0\": advisors\ngoodbye: [goodbye]\n",
        )
        .unwrap();
        let mut h = DemoMenuHandler::new(Arc::new(menu));
        let i = info();
        h.on_event(&i, CallEvent::Answered);
        h.on_event(&i, CallEvent::PromptFinished);
        let a = h.on_event(&i, CallEvent::Dtmf('0'));
        assert!(matches!(
            &a[1],
            CallAction::Transfer { queue, .. } if queue == "advisors"
        ));
        let a = h.on_event(
            &i,
            CallEvent::TransferFailed {
                reason: "busy".into(),
            },
        );
        assert!(prompts(&a)[0].contains("\"menu\""));
    }

    #[test]
    fn digit_cannot_be_option_and_transfer() {
        let dir = std::env::temp_dir().join(format!("fd-demo-twice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.yaml");
        std::fs::write(
            &p,
            "welcome: [w]\nmenu: [m]\noptions:\n  \"0\": [a]\ntransfers:\n  \"0\": advisors\ngoodbye: [g]\n",
        )
        .unwrap();
        assert!(matches!(
            DemoMenu::load(&p),
            Err(DemoMenuError::DigitTwice { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejects_multi_character_keys() {
        let dir = std::env::temp_dir().join(format!("fd-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.yaml");
        std::fs::write(
            &p,
            "welcome: [w]\nmenu: [m]\noptions:\n  \"12\": [a]\ngoodbye: [g]\n",
        )
        .unwrap();
        assert!(matches!(
            DemoMenu::load(&p),
            Err(DemoMenuError::BadDigit { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
