//! URIs: `sip`, `sips` (RFC 3261 §19.1), `tel` (RFC 3966) with the number
//! portability parameters of RFC 4694, and any other scheme kept opaque.

use super::error::Invalid;
use super::params::Params;
use super::scan::{CLASSES, class, escapes_ok, find_byte, parse_decimal, percent_decode};
use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The scheme of a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme<'a> {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme, kept as written (RFC 3261 `absoluteURI`).
    Other(&'a str),
}

/// The host of a URI or a Via sent-by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host<'a> {
    /// A host name, as written.
    Name(&'a str),
    /// A dotted-quad IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference, written in brackets.
    V6(Ipv6Addr),
}

/// A parsed URI, borrowing its text. Parts keep their `%HH` escapes; see
/// [`Uri::user_decoded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The whole URI as written.
    pub raw: &'a str,
    /// The scheme.
    pub scheme: Scheme<'a>,
    /// sip/sips: the user before any `;` user parameters; tel: the number.
    pub user: Option<&'a str>,
    /// sip/sips: parameters inside the user part (RFC 4694 puts `rn`, `npdi` here).
    pub user_params: Params<'a>,
    /// sip/sips: the password, if written.
    pub password: Option<&'a str>,
    /// sip/sips: the host; `None` for tel and opaque schemes.
    pub host: Option<Host<'a>>,
    /// sip/sips: the host as written (IPv6 with brackets).
    pub host_raw: &'a str,
    /// sip/sips: the port, if written.
    pub port: Option<u16>,
    /// sip/sips: uri-parameters; tel: the number's parameters.
    pub params: Params<'a>,
    /// sip/sips: the `?` headers part, without the `?`.
    pub headers: Option<&'a str>,
}

/// RFC 4694 number portability parameters of a URI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberPortability<'a> {
    /// `rn`: the routing number (LRN), as written.
    pub rn: Option<Cow<'a, str>>,
    /// `npdi`: a portability dip was done.
    pub npdi: bool,
    /// `cic`: carrier identification code.
    pub cic: Option<Cow<'a, str>>,
    /// `rn-context`.
    pub rn_context: Option<Cow<'a, str>>,
}

impl<'a> Uri<'a> {
    /// Parses a URI in its entirety (no surrounding white space or brackets).
    pub fn parse(raw: &'a str) -> Result<Self, Invalid> {
        let colon = raw.find(':').ok_or(Invalid)?;
        let (scheme, rest) = (&raw[..colon], &raw[colon + 1..]);
        if scheme.eq_ignore_ascii_case("sip") {
            parse_sip(raw, Scheme::Sip, rest)
        } else if scheme.eq_ignore_ascii_case("sips") {
            parse_sip(raw, Scheme::Sips, rest)
        } else if scheme.eq_ignore_ascii_case("tel") {
            parse_tel(raw, rest)
        } else {
            parse_opaque(raw, scheme, rest)
        }
    }

    /// `true` for sip and sips URIs.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part (or tel number) with `%HH` escapes decoded.
    pub fn user_decoded(&self) -> Option<Cow<'a, [u8]>> {
        self.user.and_then(percent_decode)
    }

    /// RFC 4694 parameters: from the user part of a sip URI, from the
    /// parameters of a tel URI.
    pub fn number_portability(&self) -> NumberPortability<'a> {
        let p = match self.scheme {
            Scheme::Tel => self.params,
            _ => self.user_params,
        };
        let decode = |v: &'a str| percent_decode(v).map(bytes_to_str).unwrap_or(Cow::Borrowed(v));
        NumberPortability {
            rn: p.get("rn").flatten().map(decode),
            npdi: p.has("npdi"),
            cic: p.get("cic").flatten().map(decode),
            rn_context: p.get("rn-context").flatten().map(decode),
        }
    }
}

/// `user` (decoded bytes) as the user part of a sip URI tandem writes:
/// `unreserved` characters and `&=+$,/` as they are, every other byte as
/// `%HH` (RFC 3261 §19.1.2, §25.1). `;` and `?` are escaped too: unescaped
/// they would start user parameters or URI headers. A decoded user is never
/// written back as it is: `%3E` would close the URI, `%00` put a NUL on the wire.
pub fn escape_user(user: &[u8]) -> Cow<'_, str> {
    let plain = |b: u8| CLASSES[b as usize] & class::UNRESERVED != 0 || b"&=+$,/".contains(&b);
    if user.iter().all(|&b| plain(b)) {
        // All ASCII, so valid UTF-8.
        return String::from_utf8_lossy(user);
    }
    let mut s = String::with_capacity(user.len() * 3);
    for &b in user {
        if plain(b) {
            s.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            s.extend(['%', char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 15)])]);
        }
    }
    Cow::Owned(s)
}

fn bytes_to_str(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

fn empty<'a>(raw: &'a str, scheme: Scheme<'a>) -> Uri<'a> {
    Uri {
        raw,
        scheme,
        user: None,
        user_params: Params::default(),
        password: None,
        host: None,
        host_raw: "",
        port: None,
        params: Params::default(),
        headers: None,
    }
}

/// RFC 3261 `unreserved` plus the classes in `extra`, and `%HH` escapes.
pub(crate) fn chars_ok(s: &str, extra: u8) -> bool {
    let mask = class::UNRESERVED | class::ESCAPE | extra;
    let mut escapes = false;
    for b in s.bytes() {
        let c = CLASSES[b as usize];
        if c & mask == 0 {
            return false;
        }
        escapes |= c & class::ESCAPE != 0;
    }
    !escapes || escapes_ok(s)
}

fn parse_sip<'a>(raw: &'a str, scheme: Scheme<'a>, rest: &'a str) -> Result<Uri<'a>, Invalid> {
    let mut uri = empty(raw, scheme);
    let (userinfo, rest) = match find_byte(rest.as_bytes(), b'@') {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    if let Some(ui) = userinfo {
        parse_userinfo(&mut uri, ui)?;
    }
    let (rest, headers) = match find_byte(rest.as_bytes(), b'?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if let Some(h) = headers {
        // hnv-unreserved / unreserved / escaped, joined by `=` and `&`.
        if h.is_empty() || !chars_ok(h, class::HEADER) {
            return Err(Invalid);
        }
    }
    uri.headers = headers;
    let (hostport, params) = match find_byte(rest.as_bytes(), b';') {
        Some(i) => (&rest[..i], Params::from_raw(&rest[i + 1..])),
        None => (rest, Params::default()),
    };
    if !params.uri_params_ok() {
        return Err(Invalid);
    }
    uri.params = params;
    let (host, host_raw, port) = parse_hostport(hostport)?;
    (uri.host, uri.host_raw, uri.port) = (Some(host), host_raw, port);
    Ok(uri)
}

fn parse_userinfo<'a>(uri: &mut Uri<'a>, ui: &'a str) -> Result<(), Invalid> {
    let (user_all, password) = match find_byte(ui.as_bytes(), b':') {
        Some(i) => (&ui[..i], Some(&ui[i + 1..])),
        None => (ui, None),
    };
    // user-unreserved = & = + $ , ; ? /
    if user_all.is_empty() || !chars_ok(user_all, class::USER) {
        return Err(Invalid);
    }
    if password.is_some_and(|p| !chars_ok(p, class::PASSWORD)) {
        return Err(Invalid);
    }
    let (user, user_params) = match find_byte(user_all.as_bytes(), b';') {
        Some(i) => (&user_all[..i], Params::from_raw(&user_all[i + 1..])),
        None => (user_all, Params::default()),
    };
    (uri.user, uri.user_params, uri.password) = (Some(user), user_params, password);
    Ok(())
}

/// `host [":" port]`, with IPv6 references in brackets.
pub fn parse_hostport(s: &str) -> Result<(Host<'_>, &str, Option<u16>), Invalid> {
    let (host_raw, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(Invalid)?;
        (&s[..=end], &s[end + 1..])
    } else {
        match s.find(':') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    let port = match port {
        "" => None,
        p => Some(parse_port(p.strip_prefix(':').ok_or(Invalid)?)?),
    };
    Ok((parse_host(host_raw)?, host_raw, port))
}

fn parse_port(s: &str) -> Result<u16, Invalid> {
    parse_decimal(s, u64::from(u16::MAX)).map(|p| p as u16).ok_or(Invalid)
}

/// A host name, IPv4 address or bracketed IPv6 reference.
pub fn parse_host(s: &str) -> Result<Host<'_>, Invalid> {
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(Invalid)?;
        return parse_ipv6(inner).map(Host::V6);
    }
    if s.is_empty() || s.starts_with(['.', '-']) {
        return Err(Invalid);
    }
    if s.as_bytes()[0].is_ascii_digit() {
        if let Some(v4) = parse_ipv4(s.as_bytes()) {
            return Ok(Host::V4(v4));
        }
        // All digits and dots but no dotted quad: a bad address, not a name.
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(Invalid);
        }
    }
    let ok = s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok { Ok(Host::Name(s)) } else { Err(Invalid) }
}

/// A dotted quad of 1–3 digit decimal octets, each at most 255.
fn parse_ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut part, mut value, mut digits) = (0usize, 0u32, 0u32);
    for &c in b {
        match c {
            b'0'..=b'9' if digits < 3 => (value, digits) = (value * 10 + u32::from(c - b'0'), digits + 1),
            b'.' if digits > 0 && part < 3 => {
                octets[part] = u8::try_from(value).ok()?;
                (part, value, digits) = (part + 1, 0, 0);
            }
            _ => return None,
        }
    }
    (digits > 0 && part == 3).then_some(())?;
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// An IPv6 address. RFC 5118 §4.10: the RFC 3261 ABNF (inherited from RFC
/// 2373) also derives `hexseq ":::" IPv4address`; that one shape is accepted
/// as if written with `::`. RFC 5954 fixed the grammar; peers still send it.
pub fn parse_ipv6(s: &str) -> Result<std::net::Ipv6Addr, Invalid> {
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let (head, tail) = s.split_once(":::").ok_or(Invalid)?;
    if head.is_empty() || head.contains("::") || tail.parse::<Ipv4Addr>().is_err() {
        return Err(Invalid);
    }
    format!("{head}::{tail}").parse().map_err(|_| Invalid)
}

fn parse_tel<'a>(raw: &'a str, rest: &'a str) -> Result<Uri<'a>, Invalid> {
    let mut uri = empty(raw, Scheme::Tel);
    let (number, params) = match rest.find(';') {
        Some(i) => (&rest[..i], Params::from_raw(&rest[i + 1..])),
        None => (rest, Params::default()),
    };
    // RFC 3966: phonedigit-hex plus visual separators; `+` leads a global number.
    let digits = number.strip_prefix('+').unwrap_or(number);
    let ok =
        digits.bytes().all(|b| b.is_ascii_hexdigit() || matches!(b, b'*' | b'#' | b'-' | b'.' | b'(' | b')'));
    if digits.is_empty() || !ok || !params.uri_params_ok() {
        return Err(Invalid);
    }
    (uri.user, uri.params) = (Some(number), params);
    Ok(uri)
}

fn parse_opaque<'a>(raw: &'a str, scheme: &'a str, rest: &'a str) -> Result<Uri<'a>, Invalid> {
    let mut sb = scheme.bytes();
    let first_ok = sb.next().is_some_and(|b| b.is_ascii_alphabetic());
    let scheme_ok = first_ok && sb.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let rest_ok =
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"'));
    if scheme_ok && rest_ok { Ok(empty(raw, Scheme::Other(scheme))) } else { Err(Invalid) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse("sip:alice:pw@[2001:db8::10]:5070;transport=udp;lr?subject=x").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("pw"));
        assert_eq!(u.host, Some(Host::V6("2001:db8::10".parse().unwrap())));
        assert_eq!(u.host_raw, "[2001:db8::10]");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.get("lr"), Some(None));
        assert_eq!(u.headers, Some("subject=x"));
    }

    #[test]
    fn rfc4694_in_user_part() {
        let u = Uri::parse("sip:+12125551212;npdi;rn=+12125550000@lrn.example.net;user=phone").unwrap();
        assert_eq!(u.user, Some("+12125551212"));
        let np = u.number_portability();
        assert_eq!(np.rn.as_deref(), Some("+12125550000"));
        assert!(np.npdi);
        assert_eq!(u.params.get("user"), Some(Some("phone")));
        let t = Uri::parse("tel:+1-212-555-1212;npdi;rn=+1-212-555-0000;cic=+1-0333").unwrap();
        let np = t.number_portability();
        assert_eq!(np.rn.as_deref(), Some("+1-212-555-0000"));
        assert_eq!(np.cic.as_deref(), Some("+1-0333"));
        assert!(np.npdi);
    }

    #[test]
    fn escapes_and_odd_users() {
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user_decoded().as_deref(), Some(&b"sips:user@example.com"[..]));
        let u = Uri::parse("sip:null-%00-null@example.com").unwrap();
        assert_eq!(u.user_decoded().as_deref(), Some(&b"null-\0-null"[..]));
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user"));
        assert_eq!(u.user_params.get("par"), Some(Some("u%40example.net")));
        assert!(Uri::parse("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com").is_ok());
    }

    #[test]
    fn users_are_escaped_for_writing_and_read_back_the_same() {
        assert_eq!(escape_user(b"+1-212-555_0001"), "+1-212-555_0001");
        assert_eq!(escape_user(b"I have spaces"), "I%20have%20spaces");
        assert_eq!(escape_user(b"2125\x00550001"), "2125%00550001");
        assert_eq!(escape_user(b"21255>;evil=1"), "21255%3E%3Bevil=1");
        assert_eq!(escape_user(b"a?b%c#\r\n\xff"), "a%3Fb%25c%23%0D%0A%FF");
        for user in [&b"I have spaces"[..], b"2125\x00550001", b"21255>;evil=1", b"a?b%c#\r\n\xff"] {
            let text = format!("sip:{}@example.com", escape_user(user));
            let uri = Uri::parse(&text).expect("a valid URI");
            assert_eq!(uri.user_params, Params::default(), "{text}");
            assert_eq!(uri.user_decoded().as_deref(), Some(user), "{text}");
        }
    }

    #[test]
    fn bad_uris() {
        for bad in [
            "sip:",
            "sip:@h",
            "sip:u@",
            "sip:u@h:99999",
            "sip:u@[2001:db8::10",
            "sip:u@h;;",
            "sip:u@h; lr",
            "sip:%zz@h",
            "sip:u@h?",
            "sip:u@256.1.1.1",
            "tel:",
            "tel:abc-x",
            "1bad:x",
            "noscheme",
            "x:",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc5118_three_colon_tolerance() {
        let u = Uri::parse("sip:sam@[2001:db8:::192.0.2.1]").unwrap();
        assert_eq!(u.host, Some(Host::V6("2001:db8::192.0.2.1".parse().unwrap())));
        assert!(Uri::parse("sip:sam@[2001:db8::192.0.2.1]").is_ok());
        for bad in ["[:::192.0.2.1]", "[2001::db8:::192.0.2.1]", "[2001:db8:::1]", "[2001:db8:::999.0.2.1]"] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn opaque_schemes() {
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme, Scheme::Other("soap.beep"));
        assert!(Uri::parse("nobodyKnowsThisScheme:totallyopaquecontent").is_ok());
        assert!(Uri::parse("isbn:2983792873").is_ok());
    }
}
