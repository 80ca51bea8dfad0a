//! The zero-copy message: a start line and an index of header ranges into
//! the datagram (RFC 3261 §7). Header values are parsed only when asked.

use super::addr::{NameAddr, qvalue_ok};
use super::error::Invalid;
use super::error::ParseError;
use super::header::HeaderName;
use super::scan::{find_top, is_token_byte, parse_decimal, split_top, trim, trim_bytes};
use super::typed::{Auth, CSeq, Method, tokens};
use super::uri::Uri;
use super::via::Via;
use std::cell::OnceCell;

/// Most header lines accepted in one message.
pub const MAX_HEADERS: usize = 128;
/// Largest datagram accepted (the UDP payload limit).
pub const MAX_MESSAGE: usize = 65_535;
/// Largest datagram tandem sends: what one UDP datagram over IPv4 carries
/// (65,535 less the IP and UDP headers). A longer one fails with EMSGSIZE.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// One header line: its classified name, raw name and trimmed raw value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Classified name (compact forms resolved).
    pub name: HeaderName,
    /// The name as written.
    pub raw_name: &'a [u8],
    /// The value as written, LWS trimmed at both ends; inner folding kept.
    pub value: &'a [u8],
}

impl<'a> Header<'a> {
    /// The value as UTF-8 text; an error names the header.
    pub fn value_str(&self) -> Result<&'a str, ParseError> {
        std::str::from_utf8(self.value).map_err(|_| ParseError::BadHeader(self.name))
    }
}

/// Request line or status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP/2.0`
    Request {
        /// The method.
        method: Method<'a>,
        /// The Request-URI as written; parsed by [`Message::request_uri`].
        uri: &'a str,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`
    Response {
        /// The status code, 100..=699.
        status: u16,
        /// The reason phrase as written (may be empty or UTF-8).
        reason: &'a [u8],
    },
}

/// A Contact value.
#[allow(clippy::large_enum_variant)] // a transient view, never stored in bulk
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER with Expires: 0 only).
    Wildcard,
    /// A name-addr or addr-spec with its params.
    Addr(NameAddr<'a>),
}

/// A parsed SIP message borrowing its datagram.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
    start: StartLine<'a>,
    headers: Vec<Header<'a>>,
    /// The header lines as text, when they are valid UTF-8 (checked once:
    /// typed views then slice it instead of checking each value again).
    head: Option<&'a str>,
    body: &'a [u8],
    views: Views<'a>,
}

/// The typed views every message is asked for more than once (validation,
/// then the transaction layer and the core): each parsed at most once.
#[derive(Clone, Debug, Default)]
struct Views<'a> {
    request_uri: OnceCell<Result<Uri<'a>, ParseError>>,
    call_id: OnceCell<Result<&'a str, ParseError>>,
    cseq: OnceCell<Result<CSeq<'a>, ParseError>>,
    from: OnceCell<Result<NameAddr<'a>, ParseError>>,
    from_uri: OnceCell<Result<Uri<'a>, ParseError>>,
    to: OnceCell<Result<NameAddr<'a>, ParseError>>,
    top_via: OnceCell<Result<Via<'a>, ParseError>>,
}

/// Parses a datagram: start line, header index, body framed by
/// Content-Length (RFC 3261 §18.3: octets beyond it are discarded, fewer
/// is an error; absent, the body is the rest of the datagram).
pub fn parse(buf: &[u8]) -> Result<Message<'_>, ParseError> {
    let (mut scan, line) = Scan::start(buf)?;
    let start = parse_start_line(line)?;
    let head_start = scan.pos;
    let mut headers = Vec::with_capacity(16);
    let mut content_length = None;
    while let Some(header) = scan.next_header()? {
        if header.name == HeaderName::ContentLength && content_length.is_none() {
            content_length = Some(header.value);
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        headers.push(header);
    }
    let body_start = scan.pos;
    let body = frame_body(&buf[body_start..], content_length)?;
    let end = body_start + body.len();
    let head = std::str::from_utf8(&buf[head_start..body_start]).ok();
    Ok(Message { buf: &buf[..end], start, headers, head, body, views: Views::default() })
}

/// A request [`parse`] refused for its start line, a header line or its
/// framing, read leniently so that it can be answered (RFC 4475 §3.1.2: a bad
/// version gets 505, a bad Content-Length, header line or request line 400):
/// the method is the first token, the Request-URI whatever lies between the
/// first and the last space, the version is not checked, malformed header
/// lines are left out and the body is whatever follows the head.
/// `None` for a response, an unknown start, or a head that does not scan.
pub fn parse_to_answer(buf: &[u8]) -> Option<Message<'_>> {
    let (mut scan, line) = Scan::start(buf).ok()?;
    let line = std::str::from_utf8(line).ok()?.trim_matches([' ', '\t']);
    if line.get(..4).is_some_and(|v| v.eq_ignore_ascii_case("SIP/")) {
        return None;
    }
    let (method, rest) = line.split_once([' ', '\t'])?;
    let (uri, _version) = rest.rsplit_once([' ', '\t'])?;
    let start = StartLine::Request { method: Method::parse(method)?, uri: uri.trim_matches([' ', '\t']) };
    let head_start = scan.pos;
    let mut headers = Vec::with_capacity(16);
    loop {
        match scan.next_header() {
            Ok(Some(header)) if headers.len() < MAX_HEADERS => headers.push(header),
            Ok(None) => break,
            // A malformed line is left out; the answer needs only the others.
            Err(ParseError::BadHeaderLine) => {}
            Ok(Some(_)) | Err(_) => return None,
        }
    }
    let body_start = scan.pos;
    let head = std::str::from_utf8(&buf[head_start..body_start]).ok();
    Some(Message { buf, start, headers, head, body: &buf[body_start..], views: Views::default() })
}

/// The Call-ID header's value, found by the same scan as [`parse`] but with
/// nothing else indexed or checked: enough to pick a datagram's owner shard
/// before handing it over. `None` when the head ends (or breaks) first.
pub fn call_id_of(buf: &[u8]) -> Option<&[u8]> {
    let (mut scan, _) = Scan::start(buf).ok()?;
    while let Some(h) = scan.next_header().ok()? {
        if h.name == HeaderName::CallId {
            return Some(h.value);
        }
    }
    None
}

/// The line-by-line walk over a message head.
struct Scan<'a> {
    buf: &'a [u8],
    /// Where the next line starts (after the head: where the body starts).
    pos: usize,
    /// One SIMD scan for line ends, shared by every line.
    newlines: memchr::Memchr<'a>,
    base: usize,
}

impl<'a> Scan<'a> {
    /// Skips leading CRLFs (keep-alives, §7.5); returns the scan positioned
    /// after the start line, and that line without its CR.
    fn start(buf: &'a [u8]) -> Result<(Self, &'a [u8]), ParseError> {
        if buf.len() > MAX_MESSAGE {
            return Err(ParseError::TooLarge);
        }
        let pos = buf.iter().position(|b| !matches!(b, b'\r' | b'\n')).ok_or(ParseError::Incomplete)?;
        let mut scan = Scan { buf, pos, newlines: memchr::Memchr::new(b'\n', &buf[pos..]), base: pos };
        let nl = scan.next_nl()?;
        let line = strip_cr(&buf[pos..nl]);
        scan.pos = nl + 1;
        Ok((scan, line))
    }

    fn next_nl(&mut self) -> Result<usize, ParseError> {
        self.newlines.next().map(|o| self.base + o).ok_or(ParseError::Incomplete)
    }

    /// The next header line, continuation lines (starting with SP or HT)
    /// folded in; `None` at the empty line that ends the head.
    fn next_header(&mut self) -> Result<Option<Header<'a>>, ParseError> {
        match self.buf.get(self.pos..) {
            Some([b'\r', b'\n', ..]) => {
                self.pos += 2;
                return Ok(None);
            }
            Some([b'\n', ..]) => {
                self.pos += 1;
                return Ok(None);
            }
            Some([]) | None => return Err(ParseError::Incomplete),
            Some(_) => {}
        }
        let mut nl = self.next_nl()?;
        while matches!(self.buf.get(nl + 1), Some(b' ' | b'\t')) {
            nl = self.next_nl()?;
        }
        let header = parse_header_line(strip_cr(&self.buf[self.pos..nl]));
        // Past the line even when it is bad: a lenient reader goes on after it.
        self.pos = nl + 1;
        header.map(Some)
    }
}

/// A line without its trailing CR (the LF is already cut off).
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_header_line(line: &[u8]) -> Result<Header<'_>, ParseError> {
    // The name is a token; SP/HT may precede the colon (RFC 3261 HCOLON).
    let name_end = line.iter().position(|&b| !is_token_byte(b)).unwrap_or(line.len());
    let colon = name_end
        + line[name_end..].iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(line.len() - name_end);
    if name_end == 0 || line.get(colon) != Some(&b':') {
        return Err(ParseError::BadHeaderLine);
    }
    let raw_name = &line[..name_end];
    let value = trim_bytes(&line[colon + 1..]);
    Ok(Header { name: HeaderName::parse(raw_name), raw_name, value })
}

fn frame_body<'a>(rest: &'a [u8], content_length: Option<&[u8]>) -> Result<&'a [u8], ParseError> {
    let Some(raw) = content_length else {
        return Ok(rest);
    };
    let bad = ParseError::BadHeader(HeaderName::ContentLength);
    let text = std::str::from_utf8(raw).map_err(|_| bad)?;
    let len = parse_decimal(text, MAX_MESSAGE as u64).ok_or(bad)? as usize;
    rest.get(..len).ok_or(ParseError::BodyTooShort)
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(line);
    }
    let line = std::str::from_utf8(line).map_err(|_| ParseError::BadStartLine)?;
    // Exactly `Method SP Request-URI SP SIP-Version`: single spaces, nothing after.
    let b = line.as_bytes();
    let sp1 = memchr::memchr(b' ', b).ok_or(ParseError::BadStartLine)?;
    let sp2 = sp1 + 1 + memchr::memchr(b' ', &b[sp1 + 1..]).ok_or(ParseError::BadStartLine)?;
    let (method, uri, version) = (&line[..sp1], &line[sp1 + 1..sp2], &line[sp2 + 1..]);
    if method.is_empty() || uri.is_empty() || version.is_empty() || version.contains(' ') {
        return Err(ParseError::BadStartLine);
    }
    let method = Method::parse(method).ok_or(ParseError::BadMethod)?;
    check_version(version.as_bytes())?;
    Ok(StartLine::Request { method, uri })
}

/// A Request-URI: any URI, and for sip/sips without headers (RFC 3261 §19.1.1).
fn request_uri(raw: &str) -> Result<Uri<'_>, ParseError> {
    let uri = Uri::parse(raw).map_err(|_| ParseError::BadRequestUri)?;
    if uri.is_sip() && uri.headers.is_some() {
        return Err(ParseError::BadRequestUri);
    }
    Ok(uri)
}

fn parse_status_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    let sp = memchr::memchr(b' ', line).ok_or(ParseError::BadStartLine)?;
    check_version(&line[..sp])?;
    let rest = &line[sp + 1..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let status = match (digits, rest.get(3)) {
        (3, None | Some(b' ')) => rest[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')),
        _ => return Err(ParseError::BadStatus),
    };
    if !(100..=699).contains(&status) {
        return Err(ParseError::BadStatus);
    }
    let reason = rest.get(4..).unwrap_or(&[]);
    if reason.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(ParseError::BadStartLine);
    }
    Ok(StartLine::Response { status, reason })
}

/// `SIP/1*DIGIT.1*DIGIT`; only 2.0 is supported.
fn check_version(v: &[u8]) -> Result<(), ParseError> {
    let rest = match v.get(..4) {
        Some(p) if p.eq_ignore_ascii_case(b"SIP/") => &v[4..],
        _ => return Err(ParseError::BadVersion),
    };
    let dot = memchr::memchr(b'.', rest).ok_or(ParseError::BadVersion)?;
    let (major, minor) = (&rest[..dot], &rest[dot + 1..]);
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if !digits(major) || !digits(minor) {
        return Err(ParseError::BadVersion);
    }
    if rest != b"2.0" {
        return Err(ParseError::UnsupportedVersion);
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// A header's value as text: a slice of the checked head when it is
    /// UTF-8, else checked on its own (an error names the header).
    pub fn text(&self, h: &Header<'a>) -> Result<&'a str, ParseError> {
        if let Some(head) = self.head {
            let offset = (h.value.as_ptr() as usize).wrapping_sub(head.as_ptr() as usize);
            if let Some(s) = head.get(offset..offset.wrapping_add(h.value.len())) {
                return Ok(s);
            }
        }
        h.value_str()
    }

    /// The start line.
    pub fn start(&self) -> &StartLine<'a> {
        &self.start
    }

    /// `true` for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method; `None` for a response.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI, parsed now; `None` for a response or a malformed URI
    /// (which [`Message::validate`] reports).
    pub fn request_uri(&self) -> Option<Uri<'a>> {
        self.checked_request_uri()?.ok()
    }

    fn checked_request_uri(&self) -> Option<Result<Uri<'a>, ParseError>> {
        let raw = self.request_uri_raw()?;
        Some(*self.views.request_uri.get_or_init(|| request_uri(raw)))
    }

    /// The Request-URI as written; `None` for a response.
    pub fn request_uri_raw(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code; `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// Every header line in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The first header with this name.
    pub fn header(&self, name: HeaderName) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// Every header with this name, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'a>> + '_ {
        self.headers.iter().filter(move |h| h.name == name)
    }

    /// The body, exactly Content-Length octets.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The message's octets (the datagram without anything after the body).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    fn first_str(&self, name: HeaderName) -> Result<&'a str, ParseError> {
        self.text(self.header(name).ok_or(ParseError::MissingHeader(name))?)
    }

    fn optional_str(&self, name: HeaderName) -> Result<Option<&'a str>, ParseError> {
        self.header(name).map(Header::value_str).transpose()
    }

    /// Call-ID: one word or `word@word` of visible characters.
    pub fn call_id(&self) -> Result<&'a str, ParseError> {
        *self.views.call_id.get_or_init(|| {
            let v = self.first_str(HeaderName::CallId)?;
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ParseError::BadHeader(HeaderName::CallId));
            }
            Ok(v)
        })
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq<'a>, ParseError> {
        *self.views.cseq.get_or_init(|| {
            CSeq::parse(self.first_str(HeaderName::CSeq)?)
                .map_err(|_| ParseError::BadHeader(HeaderName::CSeq))
        })
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr<'a>, ParseError> {
        *self.views.from.get_or_init(|| self.name_addr(HeaderName::From))
    }

    /// The From URI (validation checks it, the core reads the caller from it).
    pub fn from_uri(&self) -> Result<Uri<'a>, ParseError> {
        *self
            .views
            .from_uri
            .get_or_init(|| self.from()?.uri().map_err(|_| ParseError::BadHeader(HeaderName::From)))
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr<'a>, ParseError> {
        *self.views.to.get_or_init(|| self.name_addr(HeaderName::To))
    }

    fn name_addr(&self, name: HeaderName) -> Result<NameAddr<'a>, ParseError> {
        NameAddr::parse(self.first_str(name)?).map_err(|_| ParseError::BadHeader(name))
    }

    /// Every Via value, top first, across all Via headers.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, ParseError>> + '_ {
        self.list(HeaderName::Via, Via::parse)
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Result<Via<'a>, ParseError> {
        // The first value of the first Via header: what `vias().next()` gives,
        // without the list machinery (every message asks for it).
        *self.views.top_via.get_or_init(|| {
            Via::parse(self.top_via_text()?).map_err(|_| ParseError::BadHeader(HeaderName::Via))
        })
    }

    /// The topmost Via value as written, borrowed from the datagram.
    pub fn top_via_text(&self) -> Result<&'a str, ParseError> {
        let h = self.header(HeaderName::Via).ok_or(ParseError::MissingHeader(HeaderName::Via))?;
        let s = self.text(h)?;
        Ok(find_top(s.as_bytes(), b',').map_or(s, |i| &s[..i]))
    }

    /// Every Contact value in order.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'a>, ParseError>> + '_ {
        self.list(HeaderName::Contact, parse_contact)
    }

    /// Every Route value in order.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ParseError>> + '_ {
        self.list(HeaderName::Route, NameAddr::parse_full)
    }

    /// Every Record-Route value in order.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ParseError>> + '_ {
        self.list(HeaderName::RecordRoute, NameAddr::parse_full)
    }

    /// Comma-separated values of every header `name`, each parsed by `f`.
    fn list<T: 'a>(
        &self,
        name: HeaderName,
        f: fn(&'a str) -> Result<T, Invalid>,
    ) -> impl Iterator<Item = Result<T, ParseError>> + '_ {
        self.list_values(name).map(move |v| f(v?).map_err(|_| ParseError::BadHeader(name)))
    }

    /// Comma-separated values of every header `name`, unparsed.
    fn list_values(&self, name: HeaderName) -> impl Iterator<Item = Result<&'a str, ParseError>> + '_ {
        self.headers_named(name).flat_map(move |h| {
            let (values, bad) = match self.text(h) {
                Ok(s) => (Some(split_top(s, b',')), None),
                Err(e) => (None, Some(Err(e))),
            };
            values.into_iter().flatten().map(Ok).chain(bad)
        })
    }

    /// Max-Forwards (0..=255); `None` when absent (RFC 2543 peers omit it).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.decimal(HeaderName::MaxForwards, 255).map(|v| v.map(|n| n as u8))
    }

    /// Expires, in seconds (0..=2^32-1).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.decimal(HeaderName::Expires, u64::from(u32::MAX)).map(|v| v.map(|n| n as u32))
    }

    /// Min-Expires (RFC 3261 §20.23), in seconds.
    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        self.decimal(HeaderName::MinExpires, u64::from(u32::MAX)).map(|v| v.map(|n| n as u32))
    }

    /// The seconds of a Retry-After (RFC 3261 §20.33: `delta-seconds
    /// [comment] *(;param)`); `None` when absent or unreadable.
    pub fn retry_after(&self) -> Option<u32> {
        let v = self.optional_str(HeaderName::RetryAfter).ok().flatten()?;
        let digits = v.bytes().take_while(u8::is_ascii_digit).count();
        parse_decimal(&v[..digits], u64::from(u32::MAX)).map(|n| n as u32)
    }

    fn decimal(&self, name: HeaderName, max: u64) -> Result<Option<u64>, ParseError> {
        let Some(v) = self.optional_str(name)? else { return Ok(None) };
        parse_decimal(v, max).map(Some).ok_or(ParseError::BadHeader(name))
    }

    /// Content-Type, as written (`type/subtype` with any parameters).
    pub fn content_type(&self) -> Result<Option<&'a str>, ParseError> {
        let Some(v) = self.optional_str(HeaderName::ContentType)? else { return Ok(None) };
        let (media, params) = super::params::Params::split(v);
        let ok = match media.split_once('/') {
            Some((t, s)) => super::scan::is_token(trim(t)) && super::scan::is_token(trim(s)),
            None => false,
        };
        if ok && params.header_params_ok() {
            Ok(Some(v))
        } else {
            Err(ParseError::BadHeader(HeaderName::ContentType))
        }
    }

    /// Challenges or credentials in every header `name` (WWW-Authenticate,
    /// Proxy-Authenticate, Authorization, Proxy-Authorization), one per header.
    pub fn auths(&self, name: HeaderName) -> impl Iterator<Item = Result<Auth<'a>, ParseError>> + '_ {
        self.headers_named(name)
            .map(move |h| self.text(h).and_then(|s| Auth::parse(s).map_err(|_| ParseError::BadHeader(name))))
    }

    /// Option tags of every header `name` (Require, Supported, Proxy-Require,
    /// Unsupported). Values that are not UTF-8 are skipped.
    pub fn option_tags(&self, name: HeaderName) -> impl Iterator<Item = &'a str> + '_ {
        self.headers_named(name).filter_map(|h| self.text(h).ok()).flat_map(|s| tokens(s, b','))
    }

    /// Privacy values (RFC 3323: `;`-separated).
    pub fn privacy(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.headers_named(HeaderName::Privacy)
            .filter_map(|h| self.text(h).ok())
            .flat_map(|s| tokens(s, b';'))
    }

    /// The checks a UAS or proxy makes before processing (RFC 3261 §8.2,
    /// §16.3): required headers, single-valued headers not repeated, CSeq
    /// method, and every header tandem interprets well formed.
    pub fn validate(&self) -> Result<(), ParseError> {
        use HeaderName as H;
        if let Some(uri) = self.checked_request_uri() {
            uri?;
        }
        for required in [H::CallId, H::CSeq, H::From, H::To, H::Via] {
            if self.header(required).is_none() {
                return Err(ParseError::MissingHeader(required));
            }
        }
        self.check_duplicates()?;
        let cseq = self.cseq()?;
        if self.method().is_some_and(|m| m != cseq.method) {
            return Err(ParseError::CSeqMismatch);
        }
        self.call_id()?;
        self.from()?;
        let to = self.to()?;
        self.from_uri()?;
        to.uri().map_err(|_| ParseError::BadHeader(H::To))?;
        // The top one is kept for the core; the rest are only checked.
        self.top_via()?;
        for v in self.list_values(H::Via).skip(1) {
            Via::parse(v?).map_err(|_| ParseError::BadHeader(H::Via))?;
        }
        self.max_forwards()?;
        self.expires()?;
        self.contacts().try_for_each(|c| c.map(drop))?;
        self.check_rest()
    }

    fn check_duplicates(&self) -> Result<(), ParseError> {
        const SINGLE: [HeaderName; 8] = [
            HeaderName::CallId,
            HeaderName::CSeq,
            HeaderName::From,
            HeaderName::To,
            HeaderName::MaxForwards,
            HeaderName::ContentLength,
            HeaderName::ContentType,
            HeaderName::Expires,
        ];
        let mut seen = [0u8; SINGLE.len()];
        for h in self.headers.iter().filter(|h| h.name.is_single_valued()) {
            if let Some(i) = SINGLE.iter().position(|n| *n == h.name) {
                seen[i] = seen[i].saturating_add(1);
            }
        }
        match SINGLE.iter().zip(seen).find(|(_, n)| *n > 1) {
            Some((name, _)) => Err(ParseError::DuplicateHeader(*name)),
            None => Ok(()),
        }
    }

    fn check_rest(&self) -> Result<(), ParseError> {
        self.content_type()?;
        self.min_expires()?;
        self.routes().try_for_each(|r| r.map(drop))?;
        self.record_routes().try_for_each(|r| r.map(drop))?;
        for name in [
            HeaderName::WwwAuthenticate,
            HeaderName::ProxyAuthenticate,
            HeaderName::Authorization,
            HeaderName::ProxyAuthorization,
        ] {
            self.auths(name).try_for_each(|a| a.map(drop))?;
        }
        Ok(())
    }
}

fn parse_contact(s: &str) -> Result<Contact<'_>, Invalid> {
    if trim(s) == "*" {
        return Ok(Contact::Wildcard);
    }
    let addr = NameAddr::parse_full(s)?;
    if addr.params.get("expires").is_some() && addr.expires().is_none() {
        return Err(Invalid);
    }
    match addr.params.get("q") {
        Some(Some(q)) if !qvalue_ok(q) => Err(Invalid),
        Some(None) => Err(Invalid),
        _ => Ok(Contact::Addr(addr)),
    }
}

#[cfg(test)]
mod tests;
