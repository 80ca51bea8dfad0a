//! Header names: canonical forms, compact forms (RFC 3261 §7.3.3 and the IANA
//! registry) and the static reason phrases used when a header is at fault.

macro_rules! header_names {
    ($( $var:ident => $canon:literal, $lower:literal; )*) => {
        /// A header name known to tandem; anything else is [`HeaderName::Other`]
        /// and is kept byte for byte.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( #[doc = $canon] $var, )*
            /// An extension header; its raw name stays in [`super::Header::raw_name`].
            Other,
        }

        impl HeaderName {
            /// Every known header name.
            pub const KNOWN: &'static [HeaderName] = &[$( HeaderName::$var, )*];

            /// The canonical spelling, as tandem writes it.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$var => $canon, )* Self::Other => "Extension" }
            }

            /// Reason phrase for a malformed value of this header.
            pub fn bad_reason(self) -> &'static str {
                match self { $( Self::$var => concat!("Bad ", $canon, " Header"), )* Self::Other => "Bad Header" }
            }

            /// Reason phrase for a required header that is absent.
            pub fn missing_reason(self) -> &'static str {
                match self { $( Self::$var => concat!("Missing ", $canon, " Header"), )* Self::Other => "Missing Header" }
            }

            /// Reason phrase for a single-valued header that appears twice.
            pub fn duplicate_reason(self) -> &'static str {
                match self { $( Self::$var => concat!("Duplicate ", $canon, " Header"), )* Self::Other => "Duplicate Header" }
            }

        }
    };
}

header_names! {
    Accept => "Accept", b"accept";
    AcceptContact => "Accept-Contact", b"accept-contact";
    AcceptEncoding => "Accept-Encoding", b"accept-encoding";
    Allow => "Allow", b"allow";
    AllowEvents => "Allow-Events", b"allow-events";
    Authorization => "Authorization", b"authorization";
    CallId => "Call-ID", b"call-id";
    Contact => "Contact", b"contact";
    ContentEncoding => "Content-Encoding", b"content-encoding";
    ContentLength => "Content-Length", b"content-length";
    ContentType => "Content-Type", b"content-type";
    CSeq => "CSeq", b"cseq";
    Date => "Date", b"date";
    Event => "Event", b"event";
    Expires => "Expires", b"expires";
    From => "From", b"from";
    Identity => "Identity", b"identity";
    IdentityInfo => "Identity-Info", b"identity-info";
    MaxForwards => "Max-Forwards", b"max-forwards";
    MinExpires => "Min-Expires", b"min-expires";
    Privacy => "Privacy", b"privacy";
    ProxyAuthenticate => "Proxy-Authenticate", b"proxy-authenticate";
    ProxyAuthorization => "Proxy-Authorization", b"proxy-authorization";
    ProxyRequire => "Proxy-Require", b"proxy-require";
    RecordRoute => "Record-Route", b"record-route";
    ReferTo => "Refer-To", b"refer-to";
    ReferredBy => "Referred-By", b"referred-by";
    RejectContact => "Reject-Contact", b"reject-contact";
    RequestDisposition => "Request-Disposition", b"request-disposition";
    RetryAfter => "Retry-After", b"retry-after";
    Require => "Require", b"require";
    Route => "Route", b"route";
    SessionExpires => "Session-Expires", b"session-expires";
    Subject => "Subject", b"subject";
    Supported => "Supported", b"supported";
    To => "To", b"to";
    Unsupported => "Unsupported", b"unsupported";
    UserAgent => "User-Agent", b"user-agent";
    Via => "Via", b"via";
    WwwAuthenticate => "WWW-Authenticate", b"www-authenticate";
}

impl HeaderName {
    /// Compact forms: RFC 3261 §7.3.3 and the IANA "Header Fields" registry.
    fn from_compact(c: u8) -> Self {
        match c {
            b'a' => Self::AcceptContact,
            b'b' => Self::ReferredBy,
            b'c' => Self::ContentType,
            b'd' => Self::RequestDisposition,
            b'e' => Self::ContentEncoding,
            b'f' => Self::From,
            b'i' => Self::CallId,
            b'j' => Self::RejectContact,
            b'k' => Self::Supported,
            b'l' => Self::ContentLength,
            b'm' => Self::Contact,
            b'n' => Self::IdentityInfo,
            b'o' => Self::Event,
            b'r' => Self::ReferTo,
            b's' => Self::Subject,
            b't' => Self::To,
            b'u' => Self::AllowEvents,
            b'v' => Self::Via,
            b'x' => Self::SessionExpires,
            b'y' => Self::Identity,
            _ => Self::Other,
        }
    }
}

/// `raw` equals the lower-case `lower`, ignoring ASCII case. No early exit, so
/// the compiler compares the (short, fixed) lengths a vector at a time.
#[inline]
fn eq_lower(raw: &[u8], lower: &[u8]) -> bool {
    raw.len() == lower.len()
        && raw.iter().zip(lower).fold(0, |acc, (a, b)| acc | (a.to_ascii_lowercase() ^ b)) == 0
}

/// Longest known header name; longer names are extension headers.
const MAX_KNOWN_LEN: usize = 19;

impl HeaderName {
    /// Classifies a raw header name, case-insensitively, compact forms included.
    pub fn parse(raw: &[u8]) -> Self {
        match raw.len() {
            0 => Self::Other,
            1 => Self::from_compact(raw[0].to_ascii_lowercase()),
            n if n > MAX_KNOWN_LEN => Self::Other,
            _ => Self::from_long(raw),
        }
    }

    /// Long names by length and first letter, then one comparison
    /// (generated from the list above).
    fn from_long(raw: &[u8]) -> Self {
        match (raw.len(), raw[0].to_ascii_lowercase()) {
            (2, b't') if eq_lower(raw, b"to") => Self::To,
            (3, b'v') if eq_lower(raw, b"via") => Self::Via,
            (4, b'c') if eq_lower(raw, b"cseq") => Self::CSeq,
            (4, b'd') if eq_lower(raw, b"date") => Self::Date,
            (4, b'f') if eq_lower(raw, b"from") => Self::From,
            (5, b'a') if eq_lower(raw, b"allow") => Self::Allow,
            (5, b'e') if eq_lower(raw, b"event") => Self::Event,
            (5, b'r') if eq_lower(raw, b"route") => Self::Route,
            (6, b'a') if eq_lower(raw, b"accept") => Self::Accept,
            (7, b'c') if eq_lower(raw, b"call-id") => Self::CallId,
            (7, b'c') if eq_lower(raw, b"contact") => Self::Contact,
            (7, b'e') if eq_lower(raw, b"expires") => Self::Expires,
            (7, b'p') if eq_lower(raw, b"privacy") => Self::Privacy,
            (7, b'r') if eq_lower(raw, b"require") => Self::Require,
            (7, b's') if eq_lower(raw, b"subject") => Self::Subject,
            (8, b'i') if eq_lower(raw, b"identity") => Self::Identity,
            (8, b'r') if eq_lower(raw, b"refer-to") => Self::ReferTo,
            (9, b's') if eq_lower(raw, b"supported") => Self::Supported,
            (10, b'u') if eq_lower(raw, b"user-agent") => Self::UserAgent,
            (11, b'm') if eq_lower(raw, b"min-expires") => Self::MinExpires,
            (11, b'r') if eq_lower(raw, b"retry-after") => Self::RetryAfter,
            (11, b'r') if eq_lower(raw, b"referred-by") => Self::ReferredBy,
            (11, b'u') if eq_lower(raw, b"unsupported") => Self::Unsupported,
            (12, b'a') if eq_lower(raw, b"allow-events") => Self::AllowEvents,
            (12, b'c') if eq_lower(raw, b"content-type") => Self::ContentType,
            (12, b'm') if eq_lower(raw, b"max-forwards") => Self::MaxForwards,
            (12, b'r') if eq_lower(raw, b"record-route") => Self::RecordRoute,
            (13, b'a') if eq_lower(raw, b"authorization") => Self::Authorization,
            (13, b'i') if eq_lower(raw, b"identity-info") => Self::IdentityInfo,
            (13, b'p') if eq_lower(raw, b"proxy-require") => Self::ProxyRequire,
            (14, b'a') if eq_lower(raw, b"accept-contact") => Self::AcceptContact,
            (14, b'c') if eq_lower(raw, b"content-length") => Self::ContentLength,
            (14, b'r') if eq_lower(raw, b"reject-contact") => Self::RejectContact,
            (15, b'a') if eq_lower(raw, b"accept-encoding") => Self::AcceptEncoding,
            (15, b's') if eq_lower(raw, b"session-expires") => Self::SessionExpires,
            (16, b'c') if eq_lower(raw, b"content-encoding") => Self::ContentEncoding,
            (16, b'w') if eq_lower(raw, b"www-authenticate") => Self::WwwAuthenticate,
            (18, b'p') if eq_lower(raw, b"proxy-authenticate") => Self::ProxyAuthenticate,
            (19, b'p') if eq_lower(raw, b"proxy-authorization") => Self::ProxyAuthorization,
            (19, b'r') if eq_lower(raw, b"request-disposition") => Self::RequestDisposition,
            _ => Self::Other,
        }
    }

    /// Headers that RFC 3261 §7.3 allows only once per message.
    pub fn is_single_valued(self) -> bool {
        matches!(
            self,
            Self::CallId
                | Self::CSeq
                | Self::From
                | Self::To
                | Self::MaxForwards
                | Self::ContentLength
                | Self::ContentType
                | Self::Expires
        )
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName;

    #[test]
    fn names_are_case_insensitive_and_compact() {
        assert_eq!(HeaderName::parse(b"VIA"), HeaderName::Via);
        assert_eq!(HeaderName::parse(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::parse(b"MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::parse(b"I"), HeaderName::CallId);
        assert_eq!(HeaderName::parse(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::parse(b"q"), HeaderName::Other);
        assert_eq!(HeaderName::parse(b""), HeaderName::Other);
    }

    #[test]
    fn every_known_name_round_trips() {
        for &h in HeaderName::KNOWN {
            assert_eq!(HeaderName::parse(h.as_str().as_bytes()), h, "{}", h.as_str());
            assert_eq!(HeaderName::parse(h.as_str().to_ascii_uppercase().as_bytes()), h);
        }
    }

    #[test]
    fn reasons_are_static_phrases() {
        assert_eq!(HeaderName::CallId.missing_reason(), "Missing Call-ID Header");
        assert_eq!(HeaderName::Via.bad_reason(), "Bad Via Header");
        assert_eq!(HeaderName::ContentLength.duplicate_reason(), "Duplicate Content-Length Header");
    }

    #[test]
    fn every_compact_form_maps() {
        for (c, h) in [
            (b'a', HeaderName::AcceptContact),
            (b'b', HeaderName::ReferredBy),
            (b'c', HeaderName::ContentType),
            (b'd', HeaderName::RequestDisposition),
            (b'e', HeaderName::ContentEncoding),
            (b'f', HeaderName::From),
            (b'i', HeaderName::CallId),
            (b'j', HeaderName::RejectContact),
            (b'k', HeaderName::Supported),
            (b'l', HeaderName::ContentLength),
            (b'm', HeaderName::Contact),
            (b'n', HeaderName::IdentityInfo),
            (b'o', HeaderName::Event),
            (b'r', HeaderName::ReferTo),
            (b's', HeaderName::Subject),
            (b't', HeaderName::To),
            (b'u', HeaderName::AllowEvents),
            (b'v', HeaderName::Via),
            (b'x', HeaderName::SessionExpires),
            (b'y', HeaderName::Identity),
        ] {
            assert_eq!(HeaderName::parse(&[c]), h, "{}", c as char);
        }
    }
}
