//! Parse errors: small, `Copy`, each with a reason phrase fit for a `400`.

use super::header::HeaderName;

/// Why a datagram is not a SIP message tandem will process.
///
/// [`ParseError::reason`] is the phrase tandem puts in its `400` (or `505`)
/// response; [`ParseError::status`] is the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// No blank line ends the header section.
    #[error("Incomplete Message")]
    Incomplete,
    /// The datagram exceeds the largest message tandem accepts.
    #[error("Message Too Large")]
    TooLarge,
    /// The request or status line is not well formed.
    #[error("Malformed Start Line")]
    BadStartLine,
    /// The method is not a token.
    #[error("Malformed Method")]
    BadMethod,
    /// The Request-URI is not a valid URI for a request.
    #[error("Malformed Request-URI")]
    BadRequestUri,
    /// The SIP-Version is not `SIP/<digits>.<digits>`.
    #[error("Malformed SIP Version")]
    BadVersion,
    /// A well-formed version other than SIP/2.0 (answered with 505).
    #[error("Version Not Supported")]
    UnsupportedVersion,
    /// The status code is not three digits in 100..=699.
    #[error("Malformed Status Code")]
    BadStatus,
    /// A header line has no colon or its name is not a token.
    #[error("Malformed Header Line")]
    BadHeaderLine,
    /// More header lines than [`super::MAX_HEADERS`].
    #[error("Too Many Headers")]
    TooManyHeaders,
    /// The body is shorter than Content-Length says.
    #[error("Content-Length Exceeds Body")]
    BodyTooShort,
    /// The CSeq method differs from the request method.
    #[error("CSeq Method Mismatch")]
    CSeqMismatch,
    /// A header's value does not parse.
    #[error("{}", .0.bad_reason())]
    BadHeader(HeaderName),
    /// A required header is absent.
    #[error("{}", .0.missing_reason())]
    MissingHeader(HeaderName),
    /// A single-valued header appears more than once.
    #[error("{}", .0.duplicate_reason())]
    DuplicateHeader(HeaderName),
    /// A URI (outside a header, e.g. one passed in by an operator) is invalid.
    #[error("Malformed URI")]
    BadUri,
}

impl ParseError {
    /// The reason phrase, as a static string.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Incomplete => "Incomplete Message",
            Self::TooLarge => "Message Too Large",
            Self::BadStartLine => "Malformed Start Line",
            Self::BadMethod => "Malformed Method",
            Self::BadRequestUri => "Malformed Request-URI",
            Self::BadVersion => "Malformed SIP Version",
            Self::UnsupportedVersion => "Version Not Supported",
            Self::BadStatus => "Malformed Status Code",
            Self::BadHeaderLine => "Malformed Header Line",
            Self::TooManyHeaders => "Too Many Headers",
            Self::BodyTooShort => "Content-Length Exceeds Body",
            Self::CSeqMismatch => "CSeq Method Mismatch",
            Self::BadHeader(h) => h.bad_reason(),
            Self::MissingHeader(h) => h.missing_reason(),
            Self::DuplicateHeader(h) => h.duplicate_reason(),
            Self::BadUri => "Malformed URI",
        }
    }

    /// The response code a server answers a request with this fault:
    /// 505 for an unsupported version (RFC 3261 §8.2.2), 513 for an oversized
    /// message, 400 otherwise.
    pub fn status(self) -> u16 {
        match self {
            Self::UnsupportedVersion => 505,
            Self::TooLarge => 513,
            _ => 400,
        }
    }
}

/// A header value, URI or parameter that does not follow its grammar. The
/// [`super::Message`] accessors turn it into [`ParseError::BadHeader`] naming
/// the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Malformed Value")]
pub struct Invalid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_reason() {
        for e in [
            ParseError::Incomplete,
            ParseError::BadHeader(HeaderName::Via),
            ParseError::MissingHeader(HeaderName::CallId),
            ParseError::DuplicateHeader(HeaderName::CSeq),
            ParseError::UnsupportedVersion,
        ] {
            assert_eq!(e.to_string(), e.reason());
        }
        assert_eq!(ParseError::UnsupportedVersion.status(), 505);
        assert_eq!(ParseError::BadHeader(HeaderName::To).status(), 400);
    }
}
