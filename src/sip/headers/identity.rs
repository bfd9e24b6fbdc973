//! Who is calling: P-Asserted-Identity from trusted peers, else From (RFC 3325 §9.1), with
//! RFC 3323 / RFC 3325 privacy honoured. Numbers are wrapped in [`Pii`] as soon as they are
//! read.

use super::{Headers, NameAddr};
use crate::pii::Pii;
use crate::sip::uri::Scheme;

/// The caller as the UAS should present it to a call flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The caller's number or user part (unescaped), `None` when withheld or absent.
    pub number: Option<Pii<String>>,
    /// Display name, `None` when withheld or absent.
    pub display: Option<Pii<String>>,
    /// The caller asked for anonymity (`Privacy: id`/`user`, or an anonymous From).
    pub withheld: bool,
    /// The number came from a P-Asserted-Identity of a trusted peer.
    pub asserted: bool,
}

impl Headers {
    /// The caller's identity. P-Asserted-Identity is only believed when the request came from
    /// a trusted peer (RFC 3325 §5: a trust domain); otherwise From is used.
    pub fn caller_identity(&self, trusted_source: bool) -> CallerIdentity {
        let asserted = if trusted_source {
            self.p_asserted_identity().ok().and_then(|ids| {
                // Prefer a tel: or sip: identity with a user part (RFC 3325 §9.1 allows one of each).
                ids.into_iter().find(|id| id.uri.user.is_some())
            })
        } else {
            None
        };
        let from = self.from().ok();
        let chosen: Option<&NameAddr> = asserted.as_ref().or(from.as_ref());
        let privacy = self.privacy();
        let anonymous_from = from.as_ref().is_some_and(is_anonymous);
        // RFC 3323 §4.2: `id` and `user` ask for the identity to be withheld; `none` does not.
        let withheld = privacy.iter().any(|p| p == "id" || p == "user")
            || (asserted.is_none() && anonymous_from);
        if withheld {
            return CallerIdentity {
                number: None,
                display: None,
                withheld: true,
                asserted: asserted.is_some(),
            };
        }
        CallerIdentity {
            number: chosen
                .and_then(|n| n.uri.user_decoded())
                .filter(|u| !u.is_empty())
                .map(Pii::new),
            display: chosen
                .and_then(|n| n.display.clone())
                .filter(|d| !d.trim().is_empty())
                .map(Pii::new),
            withheld: false,
            asserted: asserted.is_some(),
        }
    }
}

/// RFC 3323 §4.1.1.3 anonymous From (`sip:anonymous@anonymous.invalid`), and the common
/// PBX spellings of a withheld number.
fn is_anonymous(n: &NameAddr) -> bool {
    let user = n
        .uri
        .user_decoded()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let host = n.uri.host.to_string().to_ascii_lowercase();
    let display = n
        .display
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(n.uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel)
        && (user == "anonymous"
            || user == "restricted"
            || user == "unavailable"
            || host == "anonymous.invalid"
            || display == "anonymous"
            || display == "withheld")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        lines
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn trusted_pai_wins_over_from() {
        let h = headers(&[
            ("From", "\"Front desk\" <sip:100@pbx.example.net>;tag=1"),
            (
                "P-Asserted-Identity",
                "\"Jane\" <sip:+447700900123@pbx.example.net>",
            ),
        ]);
        let id = h.caller_identity(true);
        assert_eq!(
            id.number.as_ref().map(|n| n.expose().as_str()),
            Some("+447700900123")
        );
        assert!(id.asserted);
        let id = h.caller_identity(false);
        assert_eq!(id.number.as_ref().map(|n| n.expose().as_str()), Some("100"));
        assert!(!id.asserted);
        // Personal data never prints in clear.
        assert_eq!(format!("{:?}", id.number), "Some(<redacted 3 chars>)");
    }

    #[test]
    fn privacy_and_anonymous_are_withheld() {
        let h = headers(&[
            ("From", "<sip:07700900123@pbx.example.net>;tag=1"),
            ("Privacy", "id"),
        ]);
        let id = h.caller_identity(true);
        assert!(id.withheld);
        assert_eq!(id.number, None);
        let h = headers(&[(
            "From",
            "\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1",
        )]);
        assert!(h.caller_identity(false).withheld);
        let h = headers(&[
            ("From", "<sip:07700900123@pbx.example.net>;tag=1"),
            ("Privacy", "none"),
        ]);
        assert!(!h.caller_identity(false).withheld);
    }
}
