//! Small typed values: Method, CSeq, authentication headers, option-tag lists.

use super::error::Invalid;
use super::scan::{is_token, is_token_byte, parse_decimal, split_top, trim, unquote};
use std::borrow::Cow;
use std::fmt;

/// A request method. Methods are case-sensitive (RFC 3261 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method<'a> {
    /// INVITE
    Invite,
    /// ACK
    Ack,
    /// BYE
    Bye,
    /// CANCEL
    Cancel,
    /// REGISTER
    Register,
    /// OPTIONS
    Options,
    /// INFO (RFC 6086)
    Info,
    /// UPDATE (RFC 3311)
    Update,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token, kept as written.
    Other(&'a str),
}

impl<'a> Method<'a> {
    /// Parses a method token.
    pub fn parse(s: &'a str) -> Option<Self> {
        Some(match s {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "REGISTER" => Self::Register,
            "OPTIONS" => Self::Options,
            "INFO" => Self::Info,
            "UPDATE" => Self::Update,
            "PRACK" => Self::Prack,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "REFER" => Self::Refer,
            "MESSAGE" => Self::Message,
            "PUBLISH" => Self::Publish,
            other if is_token(other) => Self::Other(other),
            _ => return None,
        })
    }

    /// The method as written.
    pub fn as_str(&self) -> &'a str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Register => "REGISTER",
            Self::Options => "OPTIONS",
            Self::Info => "INFO",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Publish => "PUBLISH",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CSeq header (RFC 3261 §20.16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number, below 2^31.
    pub seq: u32,
    /// Method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(s: &'a str) -> Result<Self, Invalid> {
        let s = trim(s);
        let split = s.bytes().position(|b| !b.is_ascii_digit()).ok_or(Invalid)?;
        let (num, method) = (&s[..split], &s[split..]);
        if !method.starts_with([' ', '\t', '\r', '\n']) {
            return Err(Invalid);
        }
        let seq = parse_decimal(num, (1 << 31) - 1).ok_or(Invalid)? as u32;
        let method = Method::parse(trim(method)).ok_or(Invalid)?;
        Ok(CSeq { seq, method })
    }
}

/// A challenge (WWW-/Proxy-Authenticate) or credentials
/// (Authorization/Proxy-Authorization): a scheme and `name=value` params
/// (RFC 3261 §25.1, RFC 7616).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auth<'a> {
    /// The scheme (`Digest`, or anything else, kept).
    pub scheme: &'a str,
    params: &'a str,
}

impl<'a> Auth<'a> {
    /// Parses `scheme LWS auth-param *(COMMA auth-param)`.
    pub fn parse(s: &'a str) -> Result<Self, Invalid> {
        let s = trim(s);
        let end = s.find(|c: char| !c.is_ascii() || !is_token_byte(c as u8)).unwrap_or(s.len());
        let (scheme, params) = (&s[..end], trim(&s[end..]));
        if scheme.is_empty() || (end < s.len() && !s[end..].starts_with([' ', '\t', '\r', '\n'])) {
            return Err(Invalid);
        }
        let auth = Auth { scheme, params };
        let ok = auth.pairs().all(|(n, v)| is_token(n) && !v.is_empty());
        if ok { Ok(auth) } else { Err(Invalid) }
    }

    /// Every `(name, raw value)` pair.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let params = self.params;
        split_top(params, b',').filter(move |_| !params.is_empty()).map(|p| match p.find('=') {
            Some(i) => (trim(&p[..i]), trim(&p[i + 1..])),
            None => (trim(p), ""),
        })
    }

    /// A parameter's value, unquoted (case-insensitive name).
    pub fn param(&self, name: &str) -> Option<Cow<'a, str>> {
        self.pairs().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| unquote(v))
    }

    /// `true` for the Digest scheme.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

/// Tokens of a comma-separated option-tag list (Require, Supported,
/// Proxy-Require, Unsupported) or of Privacy (`;`-separated, RFC 3323).
pub fn tokens(value: &str, sep: u8) -> impl Iterator<Item = &str> {
    split_top(value, sep).map(trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        assert_eq!(CSeq::parse("0009\r\n  INVITE").unwrap(), CSeq { seq: 9, method: Method::Invite });
        assert_eq!(CSeq::parse("1 RE%47IST%45R").unwrap().method, Method::Other("RE%47IST%45R"));
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("1INVITE").is_err());
        assert!(CSeq::parse("INVITE").is_err());
        assert!(CSeq::parse("1 invite, 2 INVITE").is_err());
    }

    #[test]
    fn auth() {
        let a = Auth::parse(r#"Digest realm="atlanta.example.com", nonce="84a4cc6f", qop="auth,auth-int", opaque="", stale=TRUE, algorithm=MD5"#).unwrap();
        assert!(a.is_digest());
        assert_eq!(a.param("realm").as_deref(), Some("atlanta.example.com"));
        assert_eq!(a.param("QOP").as_deref(), Some("auth,auth-int"));
        assert_eq!(a.param("opaque").as_deref(), Some(""));
        assert_eq!(a.param("stale").as_deref(), Some("TRUE"));
        let a = Auth::parse("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert_eq!(a.scheme, "NoOneKnowsThisScheme");
        assert!(Auth::parse("Digest realm=").is_err());
        assert!(Auth::parse("").is_err());
    }

    #[test]
    fn option_tags() {
        assert_eq!(tokens("100rel , timer", b',').collect::<Vec<_>>(), ["100rel", "timer"]);
        assert_eq!(tokens("id; header", b';').collect::<Vec<_>>(), ["id", "header"]);
    }
}
