//! The header section of a SIP message and its typed accessors (RFC 3261 §7.3, §20).
//!
//! Owns [`Headers`] (ordered, case-insensitive, compact forms expanded, values kept as received
//! after unfolding) and the typed views of individual headers. Accessors parse lazily and
//! return `Result`, so unknown or unused headers never cost anything and never fail a message.
//! Must not touch framing (the `parse` module) or semantics (`validate`).

mod auth;
mod identity;
pub(crate) mod lex;
mod misc;
mod name_addr;
mod params;
mod via;

pub use auth::{DigestChallenge, DigestCredentials};
pub use identity::CallerIdentity;
pub use misc::{CSeq, EventHeader, MediaType, Refresher, SessionExpires, SubscriptionState};
pub use name_addr::NameAddr;
pub use params::{Param, Params};
pub use via::{BRANCH_MAGIC_COOKIE, Via, response_destination};

use super::error::ParseError;
use lex::{is_token, split_outside, trim_lws};

/// One header line: canonical name and its (unfolded) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// The ordered header fields of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

/// RFC 3261 §7.3.3 and the IANA registry: compact form -> full name.
const COMPACT_FORMS: &[(&str, &str)] = &[
    ("a", "Accept-Contact"),
    ("b", "Referred-By"),
    ("c", "Content-Type"),
    ("d", "Request-Disposition"),
    ("e", "Content-Encoding"),
    ("f", "From"),
    ("i", "Call-ID"),
    ("j", "Reject-Contact"),
    ("k", "Supported"),
    ("l", "Content-Length"),
    ("m", "Contact"),
    ("n", "Identity-Info"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("s", "Subject"),
    ("t", "To"),
    ("u", "Allow-Events"),
    ("v", "Via"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
];

/// Canonical spelling of the headers we read or write, so output looks conventional.
const KNOWN_NAMES: &[&str] = &[
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Route",
    "Record-Route",
    "Require",
    "Proxy-Require",
    "Supported",
    "Unsupported",
    "Allow",
    "Accept",
    "Session-Expires",
    "Min-SE",
    "P-Asserted-Identity",
    "Privacy",
    "Refer-To",
    "Event",
    "Subscription-State",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authorization",
    "Proxy-Authorization",
    "Expires",
    "User-Agent",
    "Server",
    "Retry-After",
    "Reason",
];

/// The canonical name for `name`: compact forms expanded, known names in their usual case,
/// anything else unchanged.
pub fn canonical_name(name: &str) -> &str {
    if name.len() == 1 {
        if let Some((_, full)) = COMPACT_FORMS
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(name))
        {
            return full;
        }
        return name;
    }
    KNOWN_NAMES
        .iter()
        .find(|k| k.len() == name.len() && k.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(name)
}

/// Headers that may appear at most once (RFC 3261 §7.3.1, §20).
pub const SINGLE_VALUED: &[&str] = &[
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
];

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// All header lines in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first value of `name` (compact or full, any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every line of `name`, in order (each line may still hold a comma-separated list).
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name).to_string();
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(&name))
            .map(|h| h.value.as_str())
    }

    /// Number of lines named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// Every value of a list header: all lines, each split on commas outside quotes and `<>`
    /// (RFC 3261 §7.3.1). Empty elements are dropped.
    pub fn values(&self, name: &'static str) -> Result<Vec<&str>, ParseError> {
        let mut out = Vec::new();
        for line in self.get_all(name) {
            let parts = split_outside(line, b',').ok_or(ParseError::BadHeader {
                name,
                reason: "unbalanced quote or bracket",
            })?;
            out.extend(parts.into_iter().map(trim_lws).filter(|p| !p.is_empty()));
        }
        Ok(out)
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push(Header {
            name: canonical_name(name).to_string(),
            value: value.into(),
        });
    }

    /// Inserts a header line at `index` (clamped to the end).
    pub fn insert(&mut self, index: usize, name: &str, value: impl Into<String>) {
        let index = index.min(self.0.len());
        self.0.insert(
            index,
            Header {
                name: canonical_name(name).to_string(),
                value: value.into(),
            },
        );
    }

    /// Replaces every `name` line by one line with `value` (at the first one's position, else
    /// at the end).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let canonical = canonical_name(name).to_string();
        let position = self
            .0
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&canonical));
        self.remove(&canonical);
        let header = Header {
            name: canonical,
            value: value.into(),
        };
        match position {
            Some(i) => self.0.insert(i.min(self.0.len()), header),
            None => self.0.push(header),
        }
    }

    /// Replaces the value of the first `name` line; returns false if there is none.
    pub fn replace_first(&mut self, name: &str, value: impl Into<String>) -> bool {
        let name = canonical_name(name);
        match self
            .0
            .iter_mut()
            .find(|h| h.name.eq_ignore_ascii_case(name))
        {
            Some(h) => {
                h.value = value.into();
                true
            }
            None => false,
        }
    }

    /// Removes every `name` line; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let name = canonical_name(name).to_string();
        let before = self.0.len();
        self.0.retain(|h| !h.name.eq_ignore_ascii_case(&name));
        before - self.0.len()
    }

    /// The value of a single-valued header; an error if it occurs more than once.
    pub fn single(&self, name: &'static str) -> Result<Option<&str>, ParseError> {
        let mut lines = self.get_all(name);
        let first = lines.next();
        if lines.next().is_some() {
            return Err(ParseError::DuplicateHeader(name));
        }
        Ok(first)
    }

    fn required(&self, name: &'static str) -> Result<&str, ParseError> {
        self.single(name)?.ok_or(ParseError::MissingHeader(name))
    }

    // ----- typed accessors -----

    /// Every Via value, top first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        self.values("Via")?
            .into_iter()
            .map(|v| {
                Via::parse(v).map_err(|reason| ParseError::BadHeader {
                    name: "Via",
                    reason,
                })
            })
            .collect()
    }

    /// The topmost Via (RFC 3261 §8.2.6.2, §17.2.3: it identifies the transaction).
    pub fn top_via(&self) -> Result<Via, ParseError> {
        let line = self.get("Via").ok_or(ParseError::MissingHeader("Via"))?;
        let first = split_outside(line, b',')
            .and_then(|parts| parts.into_iter().map(trim_lws).find(|p| !p.is_empty()))
            .ok_or(ParseError::BadHeader {
                name: "Via",
                reason: "empty",
            })?;
        Via::parse(first).map_err(|reason| ParseError::BadHeader {
            name: "Via",
            reason,
        })
    }

    /// The top Via read leniently (see [`Via::parse_lenient`]): for routing error responses to
    /// requests whose Via did not parse strictly.
    pub fn top_via_lenient(&self) -> Option<Via> {
        Via::parse_lenient(self.get("Via")?)
    }

    /// Call-ID (RFC 3261 §20.8: `word ["@" word]`).
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = trim_lws(self.required("Call-ID")?);
        let valid = !v.is_empty()
            // RFC 3261 §25.1 word: no whitespace, no comma (a comma means a list).
            && v.bytes().all(|b| b > b' ' && b != 0x7f && b != b',')
            && v.matches('@').count() <= 1;
        if !valid {
            return Err(ParseError::BadHeader {
                name: "Call-ID",
                reason: "not a word[@word]",
            });
        }
        Ok(v)
    }

    pub fn cseq(&self) -> Result<CSeq, ParseError> {
        CSeq::parse(self.required("CSeq")?).map_err(|reason| ParseError::BadHeader {
            name: "CSeq",
            reason,
        })
    }

    pub fn from(&self) -> Result<NameAddr, ParseError> {
        self.name_addr("From")
    }

    pub fn to(&self) -> Result<NameAddr, ParseError> {
        self.name_addr("To")
    }

    fn name_addr(&self, name: &'static str) -> Result<NameAddr, ParseError> {
        NameAddr::parse(self.required(name)?)
            .map_err(|reason| ParseError::BadHeader { name, reason })
    }

    fn name_addr_list(&self, name: &'static str) -> Result<Vec<NameAddr>, ParseError> {
        self.values(name)?
            .into_iter()
            .map(|v| NameAddr::parse(v).map_err(|reason| ParseError::BadHeader { name, reason }))
            .collect()
    }

    /// True for `Contact: *` (REGISTER removal, RFC 3261 §10.2.2).
    pub fn contact_is_star(&self) -> bool {
        self.get("Contact").is_some_and(|v| trim_lws(v) == "*")
    }

    /// Every Contact value (empty for `*`).
    pub fn contacts(&self) -> Result<Vec<NameAddr>, ParseError> {
        if self.contact_is_star() {
            return Ok(Vec::new());
        }
        self.name_addr_list("Contact")
    }

    /// The first Contact, the remote target of a dialog (RFC 3261 §12.1.1).
    pub fn contact(&self) -> Result<Option<NameAddr>, ParseError> {
        Ok(self.contacts()?.into_iter().next())
    }

    pub fn record_route(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addr_list("Record-Route")
    }

    pub fn route(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addr_list("Route")
    }

    pub fn p_asserted_identity(&self) -> Result<Vec<NameAddr>, ParseError> {
        self.name_addr_list("P-Asserted-Identity")
    }

    pub fn refer_to(&self) -> Result<Option<NameAddr>, ParseError> {
        match self.single("Refer-To")? {
            None => Ok(None),
            Some(v) => NameAddr::parse(v)
                .map(Some)
                .map_err(|reason| ParseError::BadHeader {
                    name: "Refer-To",
                    reason,
                }),
        }
    }

    /// Max-Forwards, 0..=255 (RFC 3261 §20.22).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.single_number("Max-Forwards", u64::from(u8::MAX))
            .map(|v| v.and_then(|n| u8::try_from(n).ok()))
    }

    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        self.single_number("Content-Length", u64::from(u32::MAX))
            .map(|v| v.and_then(|n| u32::try_from(n).ok()))
    }

    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.single_number("Expires", u64::from(u32::MAX))
            .map(|v| v.and_then(|n| u32::try_from(n).ok()))
    }

    fn single_number(&self, name: &'static str, max: u64) -> Result<Option<u64>, ParseError> {
        match self.single(name)? {
            None => Ok(None),
            Some(v) => {
                lex::parse_decimal(trim_lws(v), max)
                    .map(Some)
                    .ok_or(ParseError::BadHeader {
                        name,
                        reason: "not a number in range",
                    })
            }
        }
    }

    pub fn content_type(&self) -> Result<Option<MediaType>, ParseError> {
        match self.single("Content-Type")? {
            None => Ok(None),
            Some(v) => MediaType::parse(v)
                .map(Some)
                .map_err(|reason| ParseError::BadHeader {
                    name: "Content-Type",
                    reason,
                }),
        }
    }

    fn token_list(&self, name: &'static str) -> Result<Vec<String>, ParseError> {
        self.values(name)?
            .into_iter()
            .map(|t| {
                if is_token(t) {
                    Ok(t.to_string())
                } else {
                    Err(ParseError::BadHeader {
                        name,
                        reason: "not a token list",
                    })
                }
            })
            .collect()
    }

    pub fn require(&self) -> Result<Vec<String>, ParseError> {
        self.token_list("Require")
    }

    pub fn proxy_require(&self) -> Result<Vec<String>, ParseError> {
        self.token_list("Proxy-Require")
    }

    pub fn supported(&self) -> Result<Vec<String>, ParseError> {
        self.token_list("Supported")
    }

    pub fn unsupported(&self) -> Result<Vec<String>, ParseError> {
        self.token_list("Unsupported")
    }

    pub fn allow(&self) -> Result<Vec<String>, ParseError> {
        self.token_list("Allow")
    }

    /// True if `option` is listed in Supported (case-insensitive).
    pub fn supports(&self, option: &str) -> bool {
        self.supported()
            .is_ok_and(|list| list.iter().any(|o| o.eq_ignore_ascii_case(option)))
    }

    pub fn session_expires(&self) -> Result<Option<SessionExpires>, ParseError> {
        match self.single_named("Session-Expires")? {
            None => Ok(None),
            Some(v) => SessionExpires::parse(v)
                .map(Some)
                .map_err(|reason| ParseError::BadHeader {
                    name: "Session-Expires",
                    reason,
                }),
        }
    }

    pub fn min_se(&self) -> Result<Option<u32>, ParseError> {
        match self.single_named("Min-SE")? {
            None => Ok(None),
            Some(v) => misc::delta_with_params(v)
                .map(|(d, _)| Some(d))
                .map_err(|reason| ParseError::BadHeader {
                    name: "Min-SE",
                    reason,
                }),
        }
    }

    fn single_named(&self, name: &'static str) -> Result<Option<&str>, ParseError> {
        self.single(name)
    }

    /// Privacy values (RFC 3323 §4.2: separated by `;`), lower-cased.
    pub fn privacy(&self) -> Vec<String> {
        self.get_all("Privacy")
            .flat_map(|line| line.split([';', ',']))
            .map(|v| trim_lws(v).to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// True if the caller asked for its identity to be withheld (RFC 3325 §7: `Privacy: id`).
    pub fn privacy_id(&self) -> bool {
        self.privacy().iter().any(|v| v == "id")
    }

    pub fn event(&self) -> Result<Option<EventHeader>, ParseError> {
        match self.single("Event")? {
            None => Ok(None),
            Some(v) => EventHeader::parse(v)
                .map(Some)
                .map_err(|reason| ParseError::BadHeader {
                    name: "Event",
                    reason,
                }),
        }
    }

    pub fn subscription_state(&self) -> Result<Option<SubscriptionState>, ParseError> {
        match self.single("Subscription-State")? {
            None => Ok(None),
            Some(v) => {
                SubscriptionState::parse(v)
                    .map(Some)
                    .map_err(|reason| ParseError::BadHeader {
                        name: "Subscription-State",
                        reason,
                    })
            }
        }
    }

    /// Digest challenges in WWW-Authenticate (other schemes are skipped).
    pub fn www_authenticate(&self) -> Result<Vec<DigestChallenge>, ParseError> {
        self.challenges("WWW-Authenticate")
    }

    /// Digest challenges in Proxy-Authenticate.
    pub fn proxy_authenticate(&self) -> Result<Vec<DigestChallenge>, ParseError> {
        self.challenges("Proxy-Authenticate")
    }

    fn challenges(&self, name: &'static str) -> Result<Vec<DigestChallenge>, ParseError> {
        let mut out = Vec::new();
        // Each line is one challenge: commas separate its auth-params, not challenges.
        for line in self.get_all(name) {
            if let Some(c) = DigestChallenge::parse(line)
                .map_err(|reason| ParseError::BadHeader { name, reason })?
            {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// Digest credentials from Authorization; `None` if absent or another scheme.
    pub fn authorization(&self) -> Result<Option<DigestCredentials>, ParseError> {
        self.credentials("Authorization")
    }

    pub fn proxy_authorization(&self) -> Result<Option<DigestCredentials>, ParseError> {
        self.credentials("Proxy-Authorization")
    }

    fn credentials(&self, name: &'static str) -> Result<Option<DigestCredentials>, ParseError> {
        for line in self.get_all(name) {
            if let Some(c) = DigestCredentials::parse(line)
                .map_err(|reason| ParseError::BadHeader { name, reason })?
            {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

impl FromIterator<(String, String)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Headers {
        let mut h = Headers::new();
        for (n, v) in iter {
            h.push(&n, v);
        }
        h
    }
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
    fn compact_forms_and_case() {
        let h = headers(&[
            ("i", "abc@host"),
            ("l", "0"),
            ("cSeQ", "1 INVITE"),
            ("X-Custom", "y"),
        ]);
        assert_eq!(h.get("Call-ID"), Some("abc@host"));
        assert_eq!(h.get("call-id"), Some("abc@host"));
        assert_eq!(h.get("i"), Some("abc@host"));
        assert_eq!(h.content_length().unwrap(), Some(0));
        assert_eq!(h.cseq().unwrap().seq, 1);
        assert_eq!(h.iter().nth(2).map(|x| x.name.as_str()), Some("CSeq"));
        assert_eq!(h.get("x-custom"), Some("y"));
    }

    #[test]
    fn lists_split_outside_quotes() {
        let h = headers(&[
            ("Contact", r#""A, B" <sip:a@x>;q=0.5, <sip:b@y>"#),
            ("m", "<sip:c@z>"),
            ("Supported", "timer, 100rel"),
            ("k", "replaces"),
        ]);
        let c = h.contacts().unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].display.as_deref(), Some("A, B"));
        assert_eq!(h.supported().unwrap(), vec!["timer", "100rel", "replaces"]);
        assert!(h.supports("100REL"));
    }

    #[test]
    fn single_valued_duplicates() {
        let h = headers(&[("Call-ID", "a"), ("Call-ID", "b")]);
        assert_eq!(h.call_id(), Err(ParseError::DuplicateHeader("Call-ID")));
        let h = headers(&[("Max-Forwards", "300")]);
        assert!(h.max_forwards().is_err());
        let h = headers(&[("Max-Forwards", "0068")]);
        assert_eq!(h.max_forwards().unwrap(), Some(68));
    }

    #[test]
    fn set_push_remove() {
        let mut h = headers(&[
            ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1"),
            ("To", "<sip:x@y>"),
            ("Via", "SIP/2.0/UDP b"),
        ]);
        h.set("v", "SIP/2.0/UDP c;branch=z9hG4bK2");
        assert_eq!(h.count("Via"), 1);
        assert_eq!(
            h.iter().next().map(|x| x.value.as_str()),
            Some("SIP/2.0/UDP c;branch=z9hG4bK2")
        );
        h.push("Require", "timer");
        assert_eq!(h.remove("require"), 1);
        h.insert(0, "Route", "<sip:p;lr>");
        assert_eq!(h.route().unwrap().len(), 1);
    }

    #[test]
    fn session_timer_and_privacy() {
        let h = headers(&[
            ("x", "1800;refresher=uas"),
            ("Min-SE", "90"),
            ("Privacy", "id; header"),
        ]);
        assert_eq!(
            h.session_expires().unwrap().map(|s| s.refresher),
            Some(Some(Refresher::Uas))
        );
        assert_eq!(h.min_se().unwrap(), Some(90));
        assert!(h.privacy_id());
    }
}
