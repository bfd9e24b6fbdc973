//! Queues an advisor transfer can go to. Until warm transfer lands a queue is a configured SIP
//! URI (an `outbound_targets` entry): nothing a caller says or sends can add a destination
//! (RFC 3261 §26.4, no toll fraud).

use super::error::HandoffError;

/// One queue: its name as flows use it and the URI advisors answer on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    /// Name used by flows (`transfer: { queue: advisors }`); also the outbound target name.
    pub name: String,
    /// `sip:` or `sips:` URI, e.g. `sip:agent@127.0.0.1:5070`.
    pub uri: String,
}

/// Queue name → [`Queue`], built once from configuration and shared by every call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueDirectory {
    queues: Vec<Queue>,
}

impl QueueDirectory {
    /// Checks every URI up front so a typo is a start-up error, not a failed transfer mid-call.
    pub fn new(queues: Vec<Queue>) -> Result<QueueDirectory, HandoffError> {
        for q in &queues {
            if !is_sip_uri(&q.uri) {
                return Err(HandoffError::BadQueueUri {
                    name: q.name.clone(),
                    uri: q.uri.clone(),
                });
            }
        }
        Ok(QueueDirectory { queues })
    }

    /// The configured `outbound_targets` as queues.
    pub fn from_targets(
        targets: &[crate::config::OutboundTarget],
    ) -> Result<QueueDirectory, HandoffError> {
        Self::new(
            targets
                .iter()
                .map(|t| Queue {
                    name: t.name.clone(),
                    uri: t.uri.clone(),
                })
                .collect(),
        )
    }

    /// The queue called `name`.
    pub fn get(&self, name: &str) -> Result<&Queue, HandoffError> {
        self.queues
            .iter()
            .find(|q| q.name == name)
            .ok_or_else(|| HandoffError::UnknownQueue(name.to_string()))
    }

    /// Whether no queue is configured.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// A URI we can put in Refer-To and dial: `sip:`/`sips:`, a host, and nothing that could break
/// out of the header (RFC 3261 §25.1 forbids raw whitespace, `<` and `>` inside a URI).
fn is_sip_uri(uri: &str) -> bool {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"));
    match rest {
        Some(r) => {
            !r.is_empty()
                && !r
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advisors() -> Queue {
        Queue {
            name: "advisors".into(),
            uri: "sip:agent@127.0.0.1:5070".into(),
        }
    }

    #[test]
    fn finds_configured_queue() {
        let d = QueueDirectory::new(vec![advisors()]).unwrap();
        assert_eq!(d.get("advisors").unwrap().uri, "sip:agent@127.0.0.1:5070");
    }

    #[test]
    fn unknown_queue_is_an_error_not_a_guess() {
        let d = QueueDirectory::new(vec![advisors()]).unwrap();
        assert_eq!(
            d.get("payments"),
            Err(HandoffError::UnknownQueue("payments".into()))
        );
        assert_eq!(d.get("payments").unwrap_err().sip_status(), 404);
    }

    #[test]
    fn rejects_uris_that_are_not_sip_or_could_inject_headers() {
        for uri in [
            "tel:+441234",
            "sip:",
            "sip:a@b>\r\nX-Evil: 1",
            "sip:a b@c",
            "http://x",
        ] {
            let q = Queue {
                name: "q".into(),
                uri: uri.into(),
            };
            assert!(
                matches!(
                    QueueDirectory::new(vec![q]),
                    Err(HandoffError::BadQueueUri { .. })
                ),
                "{uri}"
            );
        }
    }
}
