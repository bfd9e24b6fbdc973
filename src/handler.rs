//! The seam between the call runtime and whatever decides what a call does.
//!
//! A leaf module: `call` (which feeds it) and `flow` (which implements it) both import it, and it
//! imports neither, so neither reaches into the other.
//!
//! The runtime turns signalling and media into [`CallEvent`]s; a [`CallHandler`] answers each
//! with [`CallAction`]s. The handler is sans-IO: it never sleeps, reads a socket or touches a
//! file, so the flow interpreter can be driven the same way by a live call, the simulator and
//! conversation tests.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::pii::Pii;

pub mod records;

pub use records::{
    Accessibility, CaseDraft, CaseField, FieldType, FieldValue, FlowTransfer, TransferContext,
    TransferPriority, TransferReason, Turn,
};

/// What the runtime knows about a call when it is answered.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// SIP Call-ID of the inbound dialog (not personal data: random by RFC 3261 §8.1.1.4).
    pub call_id: String,
    /// Caller identity: P-Asserted-Identity from a trusted source, else the From URI user.
    /// `None` when the caller withheld it (`Privacy: id`, anonymous).
    pub caller: Option<Pii<String>>,
    /// The dialled number: the Request-URI user part. Chooses the flow.
    pub dialled: String,
    /// Where the signalling came from.
    pub source: SocketAddr,
    /// Wall-clock time the call arrived, for opening hours and relative dates.
    pub started_at: SystemTime,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HangupCause {
    /// The caller sent BYE.
    CallerHungUp,
    /// We sent BYE because the handler asked for it.
    Completed,
    /// CANCEL before answer.
    Cancelled,
    /// No ACK for our 200 OK within 64*T1 (RFC 3261 §13.3.1.4).
    AckTimeout,
    /// No RTP for the configured media timeout while not on hold.
    MediaTimeout,
    /// A session refresh did not arrive in time (RFC 4028 §10).
    SessionExpired,
    /// The call was handed to someone else (REFER accepted, or bridged away).
    Transferred,
    /// The server was stopped (SIGTERM drain deadline, or a second stop signal).
    Shutdown,
    /// Something that ended the call abnormally.
    Error(CallFault),
}

/// What went wrong when a call ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFault {
    /// The dialog was rejected with this final status.
    Rejected(u16),
    /// The transport could not deliver a request (RFC 3261 §8.1.3.1).
    TransportError,
    /// An outgoing request in the dialog failed with this status.
    OutgoingFailed(u16),
    /// The call's media sockets could no longer be polled.
    MediaPolling,
    /// The task that drove the call stopped before the call ended.
    DriverStopped,
}

impl CallFault {
    /// The reason in words, as call records store it.
    pub fn reason(self) -> String {
        match self {
            CallFault::Rejected(code) => format!("rejected {code}"),
            CallFault::TransportError => "transport error".to_string(),
            CallFault::OutgoingFailed(code) => format!("outgoing failed {code}"),
            CallFault::MediaPolling => "media polling".to_string(),
            CallFault::DriverStopped => "driver stopped".to_string(),
        }
    }
}

/// One item of audio to play.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayItem {
    /// A prompt file in `audio-prompts/` by name without extension, e.g. `welcome`.
    /// `lang` picks `audio-prompts/<lang>/<name>` when present.
    Prompt { name: String, lang: Option<String> },
    /// Text to synthesise (read-backs, or prompts that have no recording yet).
    Text { text: String, lang: Option<String> },
    /// Silence of the given length (pauses between read-back groups).
    Silence(Duration),
}

/// What an `ask` is listening for, so the runtime can set up endpointing and DTMF collection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListenSpec {
    /// Give up and send [`CallEvent::NoInput`] after this long without speech or keys.
    pub no_input_timeout: Duration,
    /// Silence that ends an utterance.
    pub end_of_speech: Duration,
    /// Longest utterance before it is cut and recognised anyway.
    pub max_utterance: Duration,
    /// Collect up to this many DTMF digits before reporting them together (1 for menus).
    pub max_digits: usize,
    /// Gap between digits that ends DTMF collection.
    pub inter_digit_timeout: Duration,
    /// Digits that end collection immediately (typically `#`).
    pub terminators: String,
    /// Words that help recognition (intent keywords, slot vocabulary): the Whisper initial prompt.
    pub hints: Vec<String>,
    /// Whether speech is expected at all (false: keys only).
    pub speech: bool,
}

/// Events the runtime feeds to a handler.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// The call is answered and media flows. Always the first event.
    Answered,
    /// Everything queued by the last `Play` has been played (not sent when stopped early).
    PromptFinished,
    /// A DTMF digit (RFC 4733, in-band or SIP INFO: the handler cannot tell which).
    Dtmf(char),
    /// A complete DTMF entry collected under a [`ListenSpec`] with `max_digits > 1`.
    Digits(String),
    /// The caller started speaking (used for barge-in by the runtime before this is sent).
    SpeechStarted,
    /// A recognised utterance.
    Heard {
        text: Pii<String>,
        confidence: f32,
        language: Option<String>,
        /// A second, sampled decode of the same audio, made because `text` meant nothing to
        /// the question (see [`CallHandler::understands`]). The handler may take it instead
        /// when it clearly means something.
        second_opinion: Option<Pii<String>>,
    },
    /// The no-input timer of the current `Listen` fired.
    NoInput,
    /// A case was stored durably; its reference may now be read back.
    CaseCreated { reference: String },
    /// The case could not be stored.
    CaseFailed { reason: String },
    /// A transfer did not complete; the caller is still with us.
    TransferFailed { reason: String },
    /// Speech recognition cannot keep up (the recogniser queue is past its limit): the current
    /// `ask` should fall back to keypad options. Listening continues for keys.
    SpeechUnavailable,
    /// The answer to [`CallAction::DetectLanguage`]: the language of the caller's last
    /// utterance (ISO 639-1) and its probability; `None` when it could not be detected.
    LanguageDetected {
        language: Option<String>,
        probability: f32,
    },
    /// The answer to [`CallAction::FindOpenCases`]: open cases on the caller's number, most
    /// recently updated first. Empty when the number is withheld, or the store failed (the call
    /// carries on as a new caller). The number can be spoofed or shared: nothing of these may be
    /// read out before the caller has proved who they are.
    OpenCases { cases: Vec<OpenCase> },
    /// A [`CallAction::SaveCase`] with `update_of` was stored durably.
    CaseUpdated { reference: String },
    /// The call ended. The handler's answer to this event is ignored.
    Hangup(HangupCause),
}

/// An open case found for a returning caller.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenCase {
    pub reference: String,
    /// Case type (`missed_bin`).
    pub service: String,
    /// Captured slots, to verify the caller against and to talk about once verified.
    pub fields: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl OpenCase {
    /// Whether a returning caller's answers match what is on this case, for every question
    /// asked (see [`fields_match_caller_answers`]).
    pub fn matches_caller_answers(&self, answers: &[(&str, &str)]) -> bool {
        fields_match_caller_answers(&self.fields, answers)
    }
}

/// Whether a returning caller's answers match a case's fields, for every question asked (e.g.
/// `[("postcode", "rm17 6sl"), ("house_number", "12")]`). Compared without case or spaces, so
/// "RM17 6SL" and "rm176sl" match. No answers, or a question the case has no value for, never
/// matches: a caller number alone proves nothing (it can be spoofed or shared), so nothing of a
/// case is read out until this returns true.
pub fn fields_match_caller_answers(fields: &serde_json::Value, answers: &[(&str, &str)]) -> bool {
    fn norm(s: &str) -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    }
    !answers.is_empty()
        && answers.iter().all(|(key, given)| {
            let stored = match fields.get(*key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => return false,
            };
            let (stored, given) = (norm(&stored), norm(given));
            !stored.is_empty() && stored == given
        })
}

/// Commands a handler returns.
#[derive(Debug, Clone, PartialEq)]
pub enum CallAction {
    /// Queue audio. `barge_in`: caller speech or keys stop it.
    Play {
        items: Vec<PlayItem>,
        barge_in: bool,
    },
    /// Stop whatever is playing now.
    StopPlayback,
    /// Start listening (endpointing, DTMF collection, no-input timer).
    Listen(ListenSpec),
    /// Speak slower from now on (accessibility: persists for the rest of the call).
    SetSlowSpeech(bool),
    /// Store a case; the runtime answers with `CaseCreated` or `CaseFailed`. A draft with
    /// `update_of` adds to that existing case (a returning caller's) instead, answered with
    /// `CaseUpdated` or `CaseFailed`.
    SaveCase(CaseDraft),
    /// Look up open cases on the caller's number; answered with `OpenCases`.
    FindOpenCases,
    /// Detect the language of the caller's last utterance (multilingual model); answered with
    /// `LanguageDetected`.
    DetectLanguage,
    /// Hand the caller to a queue; what the handoff allows of `context` travels with the call.
    Transfer {
        queue: String,
        context: TransferContext,
    },
    /// End the call with BYE.
    Hangup,
}

/// What a handler tells the call record about the call when it ends.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HandlerReport {
    pub flow_name: String,
    /// Content hash of the flow version the call ran.
    pub flow_version: String,
    /// Node ids in the order the call visited them.
    pub node_path: Vec<String>,
    /// Closing survey answers: (question, answer).
    pub survey: Vec<(String, String)>,
    pub language: Option<String>,
    /// e.g. `slow_speech`.
    pub accessibility: Vec<String>,
    /// The call reached a resolution without a case or a transfer.
    pub resolved: bool,
    /// Each exchange: prompt, transcript, intent, confidence, keys.
    pub turns: Vec<Turn>,
}

/// Decides what a call does. Implemented by the demo DTMF menu and by the flow interpreter.
pub trait CallHandler: Send {
    /// Answer one event with zero or more actions, in order.
    fn on_event(&mut self, info: &CallInfo, event: CallEvent) -> Vec<CallAction>;

    /// What went into the call record. The default says nothing beyond the runtime's own facts.
    fn report(&self) -> HandlerReport {
        HandlerReport::default()
    }

    /// Whether `text` would mean something to the question now asked (an answer it can act
    /// on). The runtime asks before handing over what it heard: an answer that means nothing
    /// is decoded once more from the same audio, and both go out in one `Heard`. The default
    /// understands everything, so no second decode is made.
    fn understands(&self, _text: &str) -> bool {
        true
    }
}
