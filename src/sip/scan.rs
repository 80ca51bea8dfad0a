//! Lexical helpers shared by the typed header views (RFC 3261 §25.1).
//!
//! Values handed to these functions are whole header values: they may hold
//! folded lines (CRLF followed by SP/HT), which count as linear white space.

use std::borrow::Cow;

/// RFC 3261 `token` characters.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// A non-empty string of token characters.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Linear white space, folding included.
pub fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims linear white space from both ends.
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// Trims linear white space from the start.
pub fn trim_start(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// Byte-level trim of linear white space.
pub fn trim_bytes(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_lws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_lws(*last) {
            break;
        }
        s = rest;
    }
    s
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
    let mut in_angle = false;
    while i < s.len() {
        match s[i] {
            b'"' if !in_angle => i = quoted_end(s, i)?,
            b'<' if !in_angle => in_angle = true,
            b'>' if in_angle => in_angle = false,
            b if b == sep && !in_angle => return Some(i),
            _ => {}
        }
        i += 1;
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
