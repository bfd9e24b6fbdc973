//! Errors of the handoff module.

/// Why a transfer could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    /// The flow named a queue that is not configured (`outbound_targets`).
    #[error("no queue named {0:?}")]
    UnknownQueue(String),
    /// A configured queue URI is not a `sip:` URI.
    #[error("queue {name:?} has an unusable URI {uri:?}")]
    BadQueueUri { name: String, uri: String },
    /// The call is not in a state where it can be transferred (already transferring or ending).
    #[error("a transfer is already in progress")]
    Busy,
}

impl HandoffError {
    /// The SIP status this maps to when it has to be reported to a peer (RFC 3261 §21).
    pub fn sip_status(&self) -> u16 {
        match self {
            HandoffError::UnknownQueue(_) => 404,
            HandoffError::BadQueueUri { .. } => 500,
            HandoffError::Busy => 491,
        }
    }
}
