//! `name-addr` / `addr-spec` values: From, To, Contact, Route, Record-Route,
//! Refer-To (RFC 3261 §20.10, §20.20, §20.39, §25.1).

use super::error::Invalid;
use super::params::Params;
use super::scan::{
    find_byte, is_lws, is_token_byte, parse_decimal, quoted, trim, trim_start, unescape_quoted,
};
use super::uri::Uri;
use std::borrow::Cow;

/// A display name, an URI and the header's own parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: the content of a quoted string (escapes
    /// kept) or the unquoted tokens. See [`NameAddr::display_name`].
    pub display: Option<&'a str>,
    /// Whether the display name was a quoted string.
    pub quoted: bool,
    /// The URI as written (without `<>`); parsed on demand by [`NameAddr::uri`].
    pub uri_raw: &'a str,
    /// Whether the URI was in angle brackets.
    pub bracketed: bool,
    /// Header parameters after the URI (`tag`, `expires`, `q`, ...).
    pub params: Params<'a>,
    /// The `tag` parameter.
    pub tag: Option<&'a str>,
}

impl<'a> NameAddr<'a> {
    /// Parses one value (already split from any comma-separated list).
    pub fn parse(s: &'a str) -> Result<Self, Invalid> {
        let s = trim(s);
        let (display, quoted_name, rest) = display_name(s)?;
        let (uri_raw, after, bracketed) = match rest.strip_prefix('<') {
            Some(inner) => {
                // One pass: the closing `>`, and no white space before it.
                let end = inner.bytes().position(|b| b == b'>' || is_lws(b)).ok_or(Invalid)?;
                if inner.as_bytes()[end] != b'>' {
                    return Err(Invalid);
                }
                (&inner[..end], &inner[end + 1..], true)
            }
            None if display.is_some() => return Err(Invalid),
            None => {
                // addr-spec form: the header's params start at the first `;`.
                let end = rest.bytes().position(|b| b == b';' || is_lws(b)).unwrap_or(rest.len());
                (&rest[..end], &rest[end..], false)
            }
        };
        if uri_raw.is_empty() || (!bracketed && uri_raw.bytes().any(is_lws)) {
            return Err(Invalid);
        }
        // RFC 3261 §20: a URI holding `,` `?` or `;` must be in brackets.
        if !bracketed && uri_raw.bytes().any(|b| b == b',' || b == b'?') {
            return Err(Invalid);
        }
        let (params, tag) = header_params(after)?;
        Ok(NameAddr { display, quoted: quoted_name, uri_raw, bracketed, params, tag })
    }

    /// The URI, parsed now (lazily: reading a tag needs no URI parse).
    pub fn uri(&self) -> Result<Uri<'a>, Invalid> {
        Uri::parse(self.uri_raw)
    }

    /// Parses and checks the URI too (what validation of a message needs).
    pub fn parse_full(s: &'a str) -> Result<Self, Invalid> {
        let a = Self::parse(s)?;
        a.uri()?;
        Ok(a)
    }

    /// The display name with quoted-pairs resolved.
    pub fn display_name(&self) -> Option<Cow<'a, str>> {
        match (self.display, self.quoted) {
            (Some(d), true) => Some(unescape_quoted(d)),
            (Some(d), false) => Some(Cow::Borrowed(d)),
            (None, _) => None,
        }
    }

    /// The `expires` parameter (Contact), bounded to 2^32-1.
    pub fn expires(&self) -> Option<u32> {
        self.params
            .get("expires")
            .flatten()
            .and_then(|v| parse_decimal(v, u64::from(u32::MAX)))
            .map(|v| v as u32)
    }
}

/// Splits off a display name: a quoted string, or tokens before `<`.
fn display_name(s: &str) -> Result<(Option<&str>, bool, &str), Invalid> {
    if s.starts_with('"') {
        let (inner, rest) = quoted(s).ok_or(Invalid)?;
        let rest = trim_start(rest);
        return if rest.starts_with('<') { Ok((Some(inner), true, rest)) } else { Err(Invalid) };
    }
    if s.starts_with('<') {
        return Ok((None, false, s));
    }
    let Some(lt) = find_byte(s.as_bytes(), b'<') else {
        return Ok((None, false, s));
    };
    // Only an unquoted display name (tokens and LWS) may precede `<`;
    // otherwise the `<` belongs to something else and the value is bad.
    let name = trim(&s[..lt]);
    if !name.bytes().all(|b| is_token_byte(b) || is_lws(b)) {
        return Err(Invalid);
    }
    let display = if name.is_empty() { None } else { Some(name) };
    Ok((display, false, &s[lt..]))
}

/// Text after the URI: empty, or `;`-separated generic params, checked in
/// one pass that also picks out the tag (a token, first occurrence).
fn header_params(after: &str) -> Result<(Params<'_>, Option<&str>), Invalid> {
    let after = trim_start(after);
    if after.is_empty() {
        return Ok((Params::default(), None));
    }
    let params = Params::from_raw(after.strip_prefix(';').ok_or(Invalid)?);
    let mut tag = None;
    let mut it = params.iter();
    while let Some(param) = it.next_header_param() {
        let (name, value) = param?;
        if tag.is_none() && name.eq_ignore_ascii_case("tag") {
            tag = Some(value.filter(|t| t.bytes().all(is_token_byte)).ok_or(Invalid)?);
        }
    }
    Ok((params, tag))
}

/// A qvalue: `0[.ddd]` or `1[.000]` (RFC 3261 §25.1).
pub fn qvalue_ok(v: &str) -> bool {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let frac_ok = frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit());
    match int {
        "0" => frac_ok,
        "1" => frac_ok && frac.bytes().all(|b| b == b'0'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = NameAddr::parse(r#" "J Rosenberg \\\""  <sip:jdrosen@example.com> ; tag = 98asjd8"#).unwrap();
        assert_eq!(a.display_name().as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(a.uri_raw, "sip:jdrosen@example.com");
        assert_eq!(a.tag, Some("98asjd8"));
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display, Some("caller"));
        let a = NameAddr::parse("sip:user@example.com ;\r\n tag=1").unwrap();
        assert_eq!(a.uri_raw, "sip:user@example.com");
        assert_eq!(a.tag, Some("1"));
        let a = NameAddr::parse("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>").unwrap();
        assert_eq!(a.display, Some("token1~` token2'+_ token3*%!.-"));
        let a = NameAddr::parse("isbn:2983792873").unwrap();
        assert!(!a.uri().unwrap().is_sip());
    }

    #[test]
    fn bad_forms() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
            "< sip:t.watson@example.org >",
            "<sip:a@b>;;;;",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "<sip:a@b",
            "<sip:a@b> junk",
            "",
            "<sip:a@b>;tag=\"x\"",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qvalues() {
        for ok in ["0", "0.33", "1", "1.000", "0.001"] {
            assert!(qvalue_ok(ok), "{ok}");
        }
        for bad in ["1.5", "2", "0.1234", "", ".5"] {
            assert!(!qvalue_ok(bad), "{bad}");
        }
    }
}
