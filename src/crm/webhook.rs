//! [`WebhookSink`]: delivers case events to any CRM as signed JSON over HTTP POST.
//!
//! The contract (body schema, headers, status codes) is in `docs/webhook.md`. HTTP only for
//! now: TLS arrives with the hardening work, so until then the receiver must be on a trusted
//! network or behind a local TLS-terminating proxy; `https://` URLs are refused rather than
//! silently sent in clear.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use sha2::Sha256;

use super::case::OutboxEvent;
use super::error::{CrmError, SinkError};
use super::sink::CaseSink;

/// Header carrying the event's idempotency key (`<reference>/<sequence>`).
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Header carrying `sha256=<hex HMAC-SHA256 of the body with the shared secret>`.
pub const SIGNATURE_HEADER: &str = "X-Frontdoor-Signature";
/// Header carrying the event type (`case.created`, `case.updated`, `case.erased`).
pub const EVENT_HEADER: &str = "X-Frontdoor-Event";

type HmacSha256 = hmac::Hmac<Sha256>;

/// A CRM reached by HTTP POST.
pub struct WebhookSink {
    name: String,
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
    supports_erasure: bool,
}

impl WebhookSink {
    /// A sink posting to `url` (must be `http://`), signing with `secret`, giving up on one
    /// attempt after `timeout` (connect + response).
    pub fn new(name: &str, url: &str, secret: &[u8], timeout: Duration) -> Result<Self, CrmError> {
        if !url.starts_with("http://") {
            return Err(CrmError::InvalidArgument(format!(
                "webhook url must be http:// (TLS is not built in yet; use a local TLS proxy): {url}"
            )));
        }
        if secret.is_empty() {
            return Err(CrmError::InvalidArgument("webhook secret is empty".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("frontdoor/", env!("CARGO_PKG_VERSION")))
            // Never follow a redirect: it would resend signed personal data to another URL
            // (and turn the POST into a GET). A 3xx is a configuration error: dead letter.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CrmError::InvalidArgument(format!("webhook client: {e}")))?;
        Ok(WebhookSink {
            name: name.to_string(),
            url: url.to_string(),
            secret: secret.to_vec(),
            client,
            supports_erasure: true,
        })
    }

    /// Whether `case.erased` events are sent (on by default; off for a CRM without a delete hook).
    pub fn with_erasure(mut self, supported: bool) -> Self {
        self.supports_erasure = supported;
        self
    }
}

impl CaseSink for WebhookSink {
    async fn deliver(&self, event: &OutboxEvent) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&event.payload).map_err(|e| SinkError::Permanent {
            reason: format!("payload does not serialise: {e}"),
        })?;
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_HEADER, &event.idempotency_key)
            .header(EVENT_HEADER, event.kind.as_str())
            .header(SIGNATURE_HEADER, sign(&self.secret, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| SinkError::Transient {
                reason: describe(e),
                retry_after: None,
            })?;
        classify(
            response.status().as_u16(),
            response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        )
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn supports_erasure(&self) -> bool {
        self.supports_erasure
    }
}

/// What an HTTP status means for the event: 2xx delivered; 408, 429 and 5xx try again later
/// (honouring `Retry-After` in seconds, RFC 9110 §10.2.3); anything else will not get better
/// by resending the same bytes, so it is parked for a supervisor.
pub fn classify(status: u16, retry_after: Option<&str>) -> Result<(), SinkError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(SinkError::Transient {
            reason: format!("HTTP {status}"),
            retry_after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        }),
        _ => Err(SinkError::Permanent {
            reason: format!("HTTP {status}"),
        }),
    }
}

/// The signature header value for `body`: `sha256=` and the hex HMAC-SHA256 (RFC 2104).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length (RFC 2104 §2), so this never fails.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header in constant time (for receivers and tests).
pub fn verify_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        // reqwest errors carry the URL, which may hold a token in its query: keep only the kind.
        format!("request failed: {}", e.without_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_good_and_rejects_bad_signatures() {
        let h = sign(b"k", b"body");
        assert!(verify_signature(b"k", b"body", &h));
        assert!(!verify_signature(b"k", b"bodx", &h));
        assert!(!verify_signature(b"j", b"body", &h));
        assert!(!verify_signature(b"k", b"body", "sha256=zz"));
        assert!(!verify_signature(b"k", b"body", "md5=00"));
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify(200, None), Ok(()));
        assert_eq!(classify(204, None), Ok(()));
        assert_eq!(
            classify(503, Some("7")),
            Err(SinkError::Transient {
                reason: "HTTP 503".into(),
                retry_after: Some(Duration::from_secs(7))
            })
        );
        assert!(matches!(
            classify(429, Some("soon")),
            Err(SinkError::Transient {
                retry_after: None,
                ..
            })
        ));
        assert!(matches!(
            classify(408, None),
            Err(SinkError::Transient { .. })
        ));
        assert!(matches!(
            classify(400, None),
            Err(SinkError::Permanent { .. })
        ));
        assert!(matches!(
            classify(404, None),
            Err(SinkError::Permanent { .. })
        ));
    }

    #[test]
    fn https_and_empty_secrets_are_refused() {
        assert!(
            WebhookSink::new(
                "crm",
                "https://crm.example/hook",
                b"s",
                Duration::from_secs(1)
            )
            .is_err()
        );
        assert!(
            WebhookSink::new(
                "crm",
                "http://127.0.0.1:1/hook",
                b"",
                Duration::from_secs(1)
            )
            .is_err()
        );
        assert!(
            WebhookSink::new(
                "crm",
                "http://127.0.0.1:1/hook",
                b"s",
                Duration::from_secs(1)
            )
            .is_ok()
        );
    }
}
