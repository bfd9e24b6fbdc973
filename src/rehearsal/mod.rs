//! Rehearsed calls: whole calls in virtual time, Frontdoor's real call core against an in-memory
//! caller over an emulated network, with scripted stand-ins for what a rehearsal cannot run
//! (the recogniser hears the words the caller is scripted to say, after a decode delay; the
//! synthesiser makes clips as long as their text; the case store, the open-case lookup and
//! language detection answer as told). `frontdoor simulate` and `frontdoor test` hold their
//! conversations here, so what they show is what a live call does; the call tests drive the
//! same parts with impaired links and scripted handlers.
//!
//! * [`net`]: the emulated network (seeded loss, jitter, reordering, duplication) and the
//!   [`net::Pair`] driver that moves the virtual clock from event to event.
//! * [`caller`]: the caller, the crate's own user agent and media session, following a script.
//! * [`endpoint`]: Frontdoor's side: user agent, answer decisions, `call::core::Call`, and the
//!   scripted services that carry out its requests.
//! * [`stage`]: the call settings a flow is rehearsed with; [`session`]: one rehearsed call
//!   turn by turn for the designer tools; [`simulate`] and [`conversation`]: those tools.
//!
//! Must not touch: sockets, the OS clock (the clock is an `Instant` only the driver moves),
//! tokio, espeak-ng or Whisper.

pub mod caller;
pub mod conversation;
pub mod endpoint;
pub mod net;
pub mod session;
pub mod simulate;
pub mod stage;

use std::io::{BufRead, Write};
use std::path::Path;

use chrono::NaiveDate;

pub use session::{Output, Session};
pub use stage::Stage;

/// Why a flow cannot be rehearsed.
#[derive(Debug, thiserror::Error)]
pub enum RehearsalError {
    #[error("the rendered prompts cannot be loaded: {0}")]
    Prompts(#[from] crate::prompts::PromptError),
    #[error("the flow's queues cannot be used: {0}")]
    Queues(#[from] crate::handoff::HandoffError),
}

/// `frontdoor simulate FLOW [--script FILE]`: see [`simulate`].
pub fn simulate_cmd(
    flow: &Path,
    script: Option<&Path>,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    call_date: NaiveDate,
) -> i32 {
    simulate::run(flow, script, input, out, call_date)
}

/// `frontdoor test [DIR]`: see [`conversation`].
pub fn test_cmd(dir: &Path, out: &mut dyn Write) -> i32 {
    conversation::test_cmd(dir, out)
}
