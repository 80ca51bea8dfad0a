//! Lexical helpers shared by the typed header views (RFC 3261 §25.1).
//!
//! Values handed to these functions are whole header values: they may hold
//! folded lines (CRLF followed by SP/HT), which count as linear white space.

use std::borrow::Cow;

/// Byte classes (RFC 3261 §25.1), one table lookup per byte.
pub mod class {
    /// `token`
    pub const TOKEN: u8 = 1;
    /// `unreserved`: alphanum and `-_.!~*'()`
    pub const UNRESERVED: u8 = 2;
    /// Linear white space (SP, HT, CR, LF).
    pub const LWS: u8 = 4;
    /// `user-unreserved`: `&=+$,;?/`
    pub const USER: u8 = 8;
    /// `param-unreserved`: `[]/:&+$`
    pub const PARAM: u8 = 16;
    /// password extras: `&=+$,`
    pub const PASSWORD: u8 = 32;
    /// `hnv-unreserved` and header separators: `[]/?:+$=&`
    pub const HEADER: u8 = 64;
    /// `%`, which must start an escape inside URIs.
    pub const ESCAPE: u8 = 128;
}

const fn build_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let alnum = c.is_ascii_alphanumeric();
        let mut v = 0;
        if alnum || matches!(c, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~') {
            v |= class::TOKEN;
        }
        if alnum || matches!(c, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')') {
            v |= class::UNRESERVED;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            v |= class::LWS;
        }
        if matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            v |= class::USER;
        }
        if matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            v |= class::PARAM;
        }
        if matches!(c, b'&' | b'=' | b'+' | b'$' | b',') {
            v |= class::PASSWORD;
        }
        if matches!(c, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'=' | b'&') {
            v |= class::HEADER;
        }
        if c == b'%' {
            v |= class::ESCAPE;
        }
        t[b] = v;
        b += 1;
    }
    t
}

/// The class bits of every byte.
pub static CLASSES: [u8; 256] = build_classes();

/// `true` when `b` is in any of the classes in `mask`.
#[inline]
pub fn is(b: u8, mask: u8) -> bool {
    CLASSES[b as usize] & mask != 0
}

/// RFC 3261 `token` characters.
#[inline]
pub fn is_token_byte(b: u8) -> bool {
    is(b, class::TOKEN)
}

/// A non-empty string of token characters.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Linear white space, folding included.
#[inline]
pub fn is_lws(b: u8) -> bool {
    is(b, class::LWS)
}

/// Position of `b` in `s`: a plain loop for the short fields of SIP
/// (cheaper than a SIMD search's setup), memchr for long ones.
#[inline]
pub fn find_byte(s: &[u8], b: u8) -> Option<usize> {
    if s.len() <= 64 { s.iter().position(|&c| c == b) } else { memchr::memchr(b, s) }
}

/// Trims linear white space from both ends.
pub fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_lws(c)).map_or(start, |e| e + 1);
    // LWS bytes are ASCII, so both cuts fall on character boundaries.
    &s[start..end.max(start)]
}

/// Trims linear white space from the start.
pub fn trim_start(s: &str) -> &str {
    let start = s.bytes().position(|c| !is_lws(c)).unwrap_or(s.len());
    &s[start..]
}

/// Byte-level trim of linear white space.
pub fn trim_bytes(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&c| !is_lws(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|&c| !is_lws(c)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Splits `s` on `sep` where it is not inside a quoted string or `<...>`.
/// Pieces are returned untrimmed. An unterminated quote or bracket leaves the
/// rest of the input in one piece, which then fails its own parse.
pub fn split_top(s: &str, sep: u8) -> SplitTop<'_> {
    SplitTop { rest: Some(s), sep }
}

/// Iterator returned by [`split_top`].
#[derive(Clone, Debug)]
pub struct SplitTop<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for SplitTop<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        match find_top(s.as_bytes(), self.sep) {
            Some(i) => {
                self.rest = Some(&s[i + 1..]);
                Some(&s[..i])
            }
            None => {
                self.rest = None;
                Some(s)
            }
        }
    }
}

/// Position of the first `sep` outside quoted strings and angle brackets.
pub fn find_top(s: &[u8], sep: u8) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = memchr::memchr3(sep, b'"', b'<', &s[i..]) {
        let at = i + off;
        match s[at] {
            b if b == sep => return Some(at),
            b'"' => i = quoted_end(s, at)? + 1,
            _ => i = at + 1 + memchr::memchr(b'>', &s[at + 1..])? + 1,
        }
    }
    None
}

/// Given `s[start] == b'"'`, the index of the closing quote, honouring
/// quoted-pairs (RFC 3261 §25.1). `None` when unterminated or when a byte is
/// not allowed inside a quoted string.
pub fn quoted_end(s: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(i),
            // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
            b'\\' => match s.get(i + 1) {
                Some(b'\n' | b'\r') | None => return None,
                Some(c) if *c > 0x7f => return None,
                Some(_) => i += 2,
            },
            // Bare CR/LF only as part of folding (CRLF SP/HT).
            b'\r' | b'\n' => {
                if !folded_at(s, i) {
                    return None;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

fn folded_at(s: &[u8], i: usize) -> bool {
    let mut j = i;
    while j < s.len() && matches!(s[j], b'\r' | b'\n') {
        j += 1;
    }
    matches!(s.get(j), Some(b' ' | b'\t'))
}

/// Parses a quoted string at the start of `s` (after optional LWS):
/// returns its raw content (escapes kept) and the text after the closing quote.
pub fn quoted(s: &str) -> Option<(&str, &str)> {
    let s = trim_start(s);
    if !s.starts_with('"') {
        return None;
    }
    let end = quoted_end(s.as_bytes(), 0)?;
    Some((&s[1..end], &s[end + 1..]))
}

/// Removes quoted-pair backslashes from the content of a quoted string.
pub fn unescape_quoted(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Value of a parameter, unquoted when it is a quoted string.
pub fn unquote(v: &str) -> Cow<'_, str> {
    match quoted(v) {
        Some((inner, rest)) if trim(rest).is_empty() => unescape_quoted(inner),
        _ => Cow::Borrowed(v),
    }
}

/// Decimal digits only (no sign, no space), bounded by `max`.
pub fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// True when every `%` in `s` starts a valid `%HH` escape.
pub fn escapes_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'%', &b[i..]) {
        let p = i + off;
        if p + 2 >= b.len() {
            return false;
        }
        if !b[p + 1].is_ascii_hexdigit() || !b[p + 2].is_ascii_hexdigit() {
            return false;
        }
        i = p + 3;
    }
    true
}

/// Decodes `%HH` escapes. `None` when an escape is malformed.
pub fn percent_decode(s: &str) -> Option<Cow<'_, [u8]>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s.as_bytes()));
    }
    if !escapes_ok(s) {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(Cow::Owned(out))
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_brackets() {
        let v: Vec<_> = split_top(r#""a,b" <sip:x,y@h>;p=1, <sip:z@h>"#, b',').collect();
        assert_eq!(v, [r#""a,b" <sip:x,y@h>;p=1"#, " <sip:z@h>"]);
        let v: Vec<_> = split_top(r#""a\"," x, y"#, b',').collect();
        assert_eq!(v, [r#""a\"," x"#, " y"]);
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(quoted(r#" "J \\\"" <x>"#), Some((r#"J \\\""#, " <x>")));
        assert_eq!(unescape_quoted(r#"J \\\""#), r#"J \""#);
        assert_eq!(quoted(r#""open <x>"#), None);
        assert_eq!(quoted("\"a\r\n b\""), Some(("a\r\n b", "")));
        assert_eq!(quoted("\"a\r\nb\""), None);
    }

    #[test]
    fn decimals_are_bounded() {
        assert_eq!(parse_decimal("0068", 255), Some(68));
        assert_eq!(parse_decimal("300", 255), None);
        assert_eq!(parse_decimal("-1", 255), None);
        assert_eq!(parse_decimal("", 255), None);
        assert_eq!(parse_decimal("18446744073709551616", u64::MAX), None);
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(percent_decode("%75se%72").as_deref(), Some(&b"user"[..]));
        assert_eq!(percent_decode("null-%00").as_deref(), Some(&b"null-\0"[..]));
        assert_eq!(percent_decode("%Z1"), None);
        assert_eq!(percent_decode("a%4"), None);
        assert_eq!(percent_decode("a%"), None);
    }

    #[test]
    fn trims_folding() {
        assert_eq!(trim(" \r\n\tx y \r\n "), "x y");
        assert_eq!(trim_bytes(b"\r\n x\t"), b"x");
    }
}
