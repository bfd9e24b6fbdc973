//! Moving a caller to a human advisor: queues, blind transfer (REFER, RFC 3515) and, later, warm
//! transfer with the caller's context.
//!
//! Owns: the queue directory (queue name → configured SIP URI), what travels with a transfer
//! (`X-Frontdoor-Case` and a size-capped, PII-filtered `X-Frontdoor-Context`), and the sans-IO
//! [`BlindTransfer`] state machine that follows REFER progress (202, NOTIFY sipfrag) to success,
//! failure, or "the peer cannot do REFER, bridge instead". Must not touch: sockets, SIP
//! transactions (the user agent sends REFER and reports progress), media (the bridge lives in
//! `media::bridge`, the outbound leg in `call::transfer`).

pub mod blind;
pub mod context;
pub mod error;
pub mod queue;

pub use blind::{BlindTransfer, BlindTransferState, TransferOutcome, TransferTimeouts};
pub use context::{CASE_HEADER, CONTEXT_HEADER, MAX_CONTEXT_BYTES, TransferContext};
pub use error::HandoffError;
pub use queue::{Queue, QueueDirectory};
