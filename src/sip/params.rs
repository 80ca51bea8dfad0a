//! `;name=value` parameter lists, for header fields (`generic-param`) and for
//! URIs (`uri-parameter`), parsed lazily from the borrowed text in one pass.

use super::error::Invalid;
use super::scan::{class, find_byte, find_top, is_token, is_token_byte, quoted, quoted_end, trim, unquote};
use std::borrow::Cow;

/// The parameters after a `;`, borrowed. Empty when there was no `;`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params<'a> {
    raw: Option<&'a str>,
}

/// Iterator over `(name, value)` pairs; see [`Params::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest?;
        let end = param_end(s.as_bytes());
        let piece = &s[..end];
        self.rest = s.get(end + 1..).filter(|_| end < s.len());
        Some(match find_byte(piece.as_bytes(), b'=') {
            Some(i) => (trim(&piece[..i]), Some(trim(&piece[i + 1..]))),
            None => (trim(piece), None),
        })
    }
}

impl<'a> Iter<'a> {
    /// The next parameter as an RFC 3261 `generic-param`, checked: `Err` for a
    /// malformed one. The usual all-token parameter (`branch=z9hG4bK...`,
    /// `tag=...`, `rport`) is split and checked in one pass over its bytes;
    /// anything else (quotes, white space, odd bytes) takes the general path.
    pub fn next_header_param(&mut self) -> Option<Result<(&'a str, Option<&'a str>), Invalid>> {
        let s = self.rest?;
        if let Some((name_end, value, end)) = token_param(s.as_bytes()) {
            self.rest = s.get(end + 1..).filter(|_| end < s.len());
            return Some(Ok((&s[..name_end], value.map(|(a, b)| &s[a..b]))));
        }
        let (name, value) = self.next()?;
        Some(if header_param_ok(name, value) { Ok((name, value)) } else { Err(Invalid) })
    }
}

/// A byte range `start..end`.
type Span = (usize, usize);

/// `token [ "=" value-chars ]` up to `;` or the end, with nothing else in it:
/// (name end, value range, parameter end). `None` when the parameter needs the
/// general path. Every byte is ASCII, so the offsets are char boundaries.
fn token_param(b: &[u8]) -> Option<(usize, Option<Span>, usize)> {
    let name_end = b.iter().position(|&c| !is_token_byte(c)).unwrap_or(b.len());
    if name_end == 0 {
        return None;
    }
    match b.get(name_end) {
        None | Some(b';') => return Some((name_end, None, name_end)),
        Some(b'=') => {}
        Some(_) => return None,
    }
    let start = name_end + 1;
    let len = b[start..].iter().position(|&c| !is_value_byte(c)).unwrap_or(b.len() - start);
    let end = start + len;
    (len > 0 && b.get(end).is_none_or(|&c| c == b';')).then_some((name_end, Some((start, end)), end))
}

/// A byte of an unquoted `gen-value`: token, or host (`[` `]` `:` for IPv6).
#[inline]
fn is_value_byte(b: u8) -> bool {
    is_token_byte(b) || matches!(b, b'[' | b']' | b':')
}

/// End of one parameter: the next `;` outside a quoted string (or the end).
fn param_end(s: &[u8]) -> usize {
    let mut i = 0;
    while let Some(off) = s[i..].iter().position(|&b| b == b';' || b == b'"') {
        let at = i + off;
        if s[at] == b';' {
            return at;
        }
        match quoted_end(s, at) {
            Some(close) => i = close + 1,
            None => return s.len(),
        }
    }
    s.len()
}

impl<'a> Params<'a> {
    /// Splits `s` at its first top-level `;`: the part before and the params.
    pub fn split(s: &'a str) -> (&'a str, Params<'a>) {
        match find_top(s.as_bytes(), b';') {
            Some(i) => (&s[..i], Params { raw: Some(&s[i + 1..]) }),
            None => (s, Params::default()),
        }
    }

    /// Parameters from text that follows a `;` already consumed.
    pub fn from_raw(raw: &'a str) -> Self {
        Params { raw: Some(raw) }
    }

    /// The raw text after the first `;`, if any.
    pub fn as_str(&self) -> Option<&'a str> {
        self.raw
    }

    /// `true` when there are no parameters at all.
    pub fn is_empty(&self) -> bool {
        self.raw.is_none()
    }

    /// Every `(name, value)` pair in order; names and values trimmed.
    pub fn iter(&self) -> Iter<'a> {
        Iter { rest: self.raw }
    }

    /// The first parameter named `name` (case-insensitive): `Some(None)` for a
    /// flag such as `lr` or `npdi`, `Some(Some(v))` for a value (raw, quotes kept).
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// The value of `name`, unquoted; `None` when absent or a flag.
    pub fn value(&self, name: &str) -> Option<Cow<'a, str>> {
        self.get(name).flatten().map(unquote)
    }

    /// `true` when `name` is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Header-field params (RFC 3261 `generic-param`): a token name and, after
    /// `=`, a token, a host or a quoted string.
    pub fn header_params_ok(&self) -> bool {
        let mut it = self.iter();
        std::iter::from_fn(|| it.next_header_param()).all(|p| p.is_ok())
    }

    /// URI params (RFC 3261 `uri-parameter`): no white space, escapes allowed.
    pub fn uri_params_ok(&self) -> bool {
        self.iter().all(|(n, v)| paramchars_ok(n) && v.is_none_or(paramchars_ok))
            && self.raw.is_none_or(|r| !r.bytes().any(|b| b.is_ascii_whitespace()))
    }
}

/// One `generic-param`.
pub fn header_param_ok(name: &str, value: Option<&str>) -> bool {
    is_token(name) && value.is_none_or(gen_value_ok)
}

fn gen_value_ok(v: &str) -> bool {
    if v.starts_with('"') {
        return matches!(quoted(v), Some((_, rest)) if rest.is_empty());
    }
    !v.is_empty() && v.bytes().all(is_value_byte)
}

/// RFC 3261 `paramchar`: unreserved / escaped / `[ ] / : & + $`.
fn paramchars_ok(s: &str) -> bool {
    !s.is_empty() && super::uri::chars_ok(s, class::PARAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_lookup() {
        let (head, p) = Params::split("<sip:a@b;lr> ; tag = 12ab ;q=0.5;Flag");
        assert_eq!(head, "<sip:a@b;lr> ");
        assert_eq!(p.get("TAG"), Some(Some("12ab")));
        assert_eq!(p.get("flag"), Some(None));
        assert_eq!(p.get("x"), None);
        assert!(p.header_params_ok());
    }

    #[test]
    fn empty_params_are_errors() {
        let (_, p) = Params::split("x;;");
        assert!(!p.header_params_ok());
        let (_, p) = Params::split("x;");
        assert!(!p.header_params_ok());
        let (_, p) = Params::split("x;a=");
        assert!(!p.header_params_ok());
        let (_, p) = Params::split("x");
        assert!(p.header_params_ok() && p.is_empty());
    }

    #[test]
    fn quoted_values() {
        let (_, p) = Params::split(r#"x;a="semi;colon \"q\"";b=[2001:db8::1]"#);
        assert_eq!(p.value("a").as_deref(), Some(r#"semi;colon "q""#));
        assert_eq!(p.get("b"), Some(Some("[2001:db8::1]")));
        assert!(p.header_params_ok());
        assert_eq!(p.iter().count(), 2);
    }

    proptest::proptest! {
        /// The one-pass path for all-token parameters gives exactly what the
        /// general path (split, trim, then check) gives.
        #[test]
        fn checked_params_match_the_general_path(raw in "[a-z0-9;=\" \t:\\[\\]%.!-]{0,40}") {
            let p = Params::from_raw(&raw);
            let mut fast = p.iter();
            let fast: Vec<_> = std::iter::from_fn(|| fast.next_header_param()).collect();
            let slow: Vec<_> = p
                .iter()
                .map(|(n, v)| if header_param_ok(n, v) { Ok((n, v)) } else { Err(Invalid) })
                .collect();
            proptest::prop_assert_eq!(fast, slow);
        }
    }
}
