//! Errors of the SIP message layer: framing, syntax and header-value failures.
//!
//! Owns [`ParseError`] and its mapping to the SIP status a UAS answers with (RFC 3261 §8.2,
//! §21.4). Must not decide *semantic* rejections (415, 416, 420): those live in `validate`.
//! A leaf of the message layer: the URI, header and message files all return this error, so it
//! imports none of them (whether a failed request can be answered is asked of `parse`, which
//! builds that answer).

/// Why a SIP message (or one of its header values) could not be parsed.
///
/// Errors found in a request map to a status via [`ParseError::response_status`]; errors in a
/// response map to `None` because a malformed response is silently dropped (RFC 3261 §16.3 and
/// RFC 4475 §3.1.2.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace was received.
    #[error("empty message")]
    Empty,
    /// The message exceeds the configured size limit.
    #[error("message larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// One (unfolded) line exceeds the line-length limit.
    #[error("line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    /// More header fields than the header-count limit.
    #[error("more than {limit} header fields")]
    TooManyHeaders { limit: usize },
    /// The header section never ends with an empty line.
    #[error("message truncated: no end of header section")]
    Truncated,
    /// The request or status line is malformed.
    #[error("malformed start line: {0}")]
    BadStartLine(&'static str),
    /// The SIP version is syntactically fine but not 2.0 (answered 505).
    #[error("unsupported SIP version {0}")]
    UnsupportedVersion(String),
    /// A header line is not `name: value`.
    #[error("malformed header line")]
    BadHeaderLine,
    /// A header value does not match its grammar.
    #[error("malformed {name} header: {reason}")]
    BadHeader {
        name: &'static str,
        reason: &'static str,
    },
    /// A header every request and response must carry is missing (RFC 3261 §8.1.1).
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A single-valued header occurs more than once (RFC 3261 §7.3.1).
    #[error("more than one {0} header")]
    DuplicateHeader(&'static str),
    /// The URI does not match RFC 3261 §25.1 / RFC 5118.
    #[error("malformed URI: {0}")]
    BadUri(&'static str),
    /// Content-Length announces more octets than the datagram carries (RFC 4475 §3.1.2.2).
    #[error("Content-Length {declared} larger than the {available} body octets received")]
    BodyTruncated { declared: usize, available: usize },
    /// A stream-framed message has no Content-Length (RFC 3261 §18.3).
    #[error("missing Content-Length on a stream transport")]
    MissingContentLength,
    /// A response was malformed; it is dropped, never answered.
    #[error("malformed response: {0}")]
    BadResponse(Box<ParseError>),
}

impl ParseError {
    /// The status a UAS answers a request that failed this way with, or `None` when the message
    /// must be dropped (responses, empty datagrams).
    pub fn response_status(&self) -> Option<u16> {
        match self {
            ParseError::Empty | ParseError::BadResponse(_) => None,
            // RFC 3261 §8.2.2.1 / §21.5.20: we only speak SIP/2.0.
            ParseError::UnsupportedVersion(_) => Some(505),
            _ => Some(400),
        }
    }

    /// A reason phrase precise enough for the peer's logs (RFC 3261 §21.4.1 lets the phrase
    /// explain what was wrong).
    pub fn reason_phrase(&self) -> String {
        match self {
            ParseError::UnsupportedVersion(_) => "Version Not Supported".to_string(),
            ParseError::BadHeader { name, .. } => format!("Bad Request - Malformed {name}"),
            ParseError::MissingHeader(name) => format!("Bad Request - Missing {name}"),
            ParseError::DuplicateHeader(name) => format!("Bad Request - Multiple {name}"),
            ParseError::BodyTruncated { .. } => {
                "Bad Request - Content-Length Exceeds Message".to_string()
            }
            ParseError::BadUri(_) => "Bad Request - Malformed URI".to_string(),
            ParseError::BadStartLine(_) => "Bad Request - Malformed Request-Line".to_string(),
            ParseError::TooLarge { .. } => "Bad Request - Message Too Large".to_string(),
            ParseError::LineTooLong { .. } => "Bad Request - Line Too Long".to_string(),
            ParseError::TooManyHeaders { .. } => "Bad Request - Too Many Headers".to_string(),
            _ => "Bad Request".to_string(),
        }
    }

    /// Marks an error found inside a response, so it is dropped instead of answered.
    pub(crate) fn in_response(self) -> ParseError {
        match self {
            ParseError::BadResponse(_) => self,
            other => ParseError::BadResponse(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            ParseError::UnsupportedVersion("SIP/7.0".into()).response_status(),
            Some(505)
        );
        assert_eq!(
            ParseError::MissingHeader("Call-ID").response_status(),
            Some(400)
        );
        assert_eq!(ParseError::Truncated.in_response().response_status(), None);
        assert_eq!(ParseError::Empty.response_status(), None);
        assert_eq!(
            ParseError::MissingHeader("Call-ID").reason_phrase(),
            "Bad Request - Missing Call-ID"
        );
    }
}
