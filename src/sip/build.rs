//! Writing SIP messages into a caller's `BytesMut`. Headers go out in the
//! order they are added; Content-Length is computed from the body.

use super::header::HeaderName;
use super::message::{Header, Message};
use bytes::{BufMut, Bytes, BytesMut};

/// Writes one message into `buf`. Finish with [`Builder::body`] or
/// [`Builder::finish`].
#[must_use = "a message is complete only after body() or finish()"]
pub struct Builder<'b> {
    buf: &'b mut BytesMut,
}

impl<'b> Builder<'b> {
    /// Starts a request: `METHOD uri SIP/2.0`.
    pub fn request(buf: &'b mut BytesMut, method: &str, uri: &str) -> Self {
        buf.reserve(512);
        put_clean(buf, method.as_bytes());
        buf.put_u8(b' ');
        put_clean(buf, uri.as_bytes());
        buf.put_slice(b" SIP/2.0\r\n");
        Builder { buf }
    }

    /// Starts a response: `SIP/2.0 status reason`.
    pub fn response(buf: &'b mut BytesMut, status: u16, reason: &str) -> Self {
        buf.reserve(512);
        buf.put_slice(b"SIP/2.0 ");
        let mut code = itoa::Buffer::new();
        buf.put_slice(code.format(status).as_bytes());
        buf.put_u8(b' ');
        put_clean(buf, reason.as_bytes());
        buf.put_slice(b"\r\n");
        Builder { buf }
    }

    /// Starts a response whose copied headers were written before by
    /// [`response_head`].
    pub fn response_on(buf: &'b mut BytesMut, status: u16, reason: &str, head: &[u8]) -> Self {
        debug_assert!(!head.is_empty(), "a response needs the copied headers of its request");
        let b = Builder::response(buf, status, reason);
        b.buf.put_slice(head);
        b
    }

    /// Adds a header. CR and LF in `value` become spaces, so input copied
    /// into a header can never inject another one. Content-Length is
    /// ignored here: it is always computed.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.header_bytes(name.as_bytes(), value.as_bytes())
    }

    /// [`Builder::header`] for raw bytes.
    pub fn header_bytes(self, name: &[u8], value: &[u8]) -> Self {
        if HeaderName::parse(name) == HeaderName::ContentLength {
            return self;
        }
        put_clean(self.buf, name);
        self.buf.put_slice(b": ");
        put_clean(self.buf, value);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// [`Builder::header`] with the value written from `parts` in order, so
    /// a caller composing a value needs no temporary string.
    pub fn header_parts(self, name: &str, parts: &[&str]) -> Self {
        if HeaderName::parse(name.as_bytes()) == HeaderName::ContentLength {
            return self;
        }
        put_clean(self.buf, name.as_bytes());
        self.buf.put_slice(b": ");
        for part in parts {
            put_clean(self.buf, part.as_bytes());
        }
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Adds a header with a decimal value.
    pub fn header_u32(self, name: &str, value: u32) -> Self {
        let mut n = itoa::Buffer::new();
        self.header(name, n.format(value))
    }

    /// Copies a received header as written (name spelling and any folding
    /// kept), for relaying. Content-Length is skipped.
    pub fn relay(self, h: &Header<'_>) -> Self {
        if h.name == HeaderName::ContentLength {
            return self;
        }
        self.buf.put_slice(h.raw_name);
        self.buf.put_slice(b": ");
        self.buf.put_slice(h.value);
        self.buf.put_slice(b"\r\n");
        self
    }

    /// Copies every header of `msg` for which `keep` is true, in order.
    pub fn relay_all(mut self, msg: &Message<'_>, keep: impl Fn(&Header<'_>) -> bool) -> Self {
        for h in msg.headers().iter().filter(|h| keep(h)) {
            self = self.relay(h);
        }
        self
    }

    /// Writes Content-Length, the blank line and `body`.
    pub fn body(self, body: &[u8]) {
        let mut n = itoa::Buffer::new();
        self.buf.put_slice(b"Content-Length: ");
        self.buf.put_slice(n.format(body.len()).as_bytes());
        self.buf.put_slice(b"\r\n\r\n");
        self.buf.put_slice(body);
    }

    /// Ends a message without a body (`Content-Length: 0`).
    pub fn finish(self) {
        self.body(&[]);
    }
}

/// Writes `bytes` with CR and LF turned into spaces.
fn put_clean(buf: &mut BytesMut, bytes: &[u8]) {
    if memchr::memchr2(b'\r', b'\n', bytes).is_none() {
        buf.put_slice(bytes);
        return;
    }
    buf.extend(bytes.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
}

/// Starts a response to `req` per RFC 3261 §8.2.6: Via (all, in order),
/// From, Call-ID and CSeq copied; To copied with `to_tag` added when the
/// request's To has none. The caller adds any further headers.
pub fn response_to<'b>(
    buf: &'b mut BytesMut,
    req: &Message<'_>,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
) -> Builder<'b> {
    relay_response_headers(Builder::response(buf, status, reason), req, to_tag)
}

/// The header lines [`response_to`] copies from `req`, alone: written once,
/// they serve every later response to the same request (see
/// [`Builder::response_on`]) without parsing the request again.
pub fn response_head(req: &Message<'_>, to_tag: Option<&str>) -> Bytes {
    let mut buf = BytesMut::with_capacity(req.as_bytes().len().min(1024));
    // Only the head: the status line before it and the rest after it come later.
    let _ = relay_response_headers(Builder { buf: &mut buf }, req, to_tag);
    buf.freeze()
}

fn relay_response_headers<'b>(mut b: Builder<'b>, req: &Message<'_>, to_tag: Option<&str>) -> Builder<'b> {
    for h in req.headers() {
        b = match h.name {
            HeaderName::Via | HeaderName::From | HeaderName::CallId | HeaderName::CSeq => b.relay(h),
            HeaderName::To => relay_to(b, h, req, to_tag),
            _ => b,
        };
    }
    b
}

fn relay_to<'b>(b: Builder<'b>, h: &Header<'_>, req: &Message<'_>, to_tag: Option<&str>) -> Builder<'b> {
    let has_tag = req.to().map(|t| t.tag.is_some()).unwrap_or(true);
    let b = b.relay(h);
    match to_tag {
        Some(tag) if !has_tag => {
            // Re-open the line just written to append the tag before CRLF.
            b.buf.truncate(b.buf.len() - 2);
            b.buf.put_slice(b";tag=");
            put_clean(b.buf, tag.as_bytes());
            b.buf.put_slice(b"\r\n");
            b
        }
        _ => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    #[test]
    fn a_response_on_a_written_head_is_the_response_to_the_request() {
        let req = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP p1;branch=z9hG4bK1\r\nv: SIP/2.0/UDP p2;branch=z9hG4bK2\r\n\
                    f: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nMax-Forwards: 70\r\ni: c1\r\nCSeq: 7 INVITE\r\n\
                    Content-Length: 0\r\n\r\n";
        let req = parse(req).unwrap();
        for tag in [None, Some("t9")] {
            let mut direct = BytesMut::new();
            response_to(&mut direct, &req, 180, "Ringing", tag).header("Contact", "<sip:x>").finish();
            let head = response_head(&req, tag);
            let mut reused = BytesMut::new();
            Builder::response_on(&mut reused, 180, "Ringing", &head).header("Contact", "<sip:x>").finish();
            assert_eq!(reused, direct);
        }
        let head = response_head(&req, Some("t9"));
        assert!(head.starts_with(b"Via: SIP/2.0/UDP p1;branch=z9hG4bK1\r\nv: SIP/2.0/UDP p2"));
        assert!(memchr::memmem::find(&head, b"To: <sip:b@h>;tag=t9\r\n").is_some());
        assert!(memchr::memmem::find(&head, b"Max-Forwards").is_none());
    }

    #[test]
    fn request_round_trip() {
        let mut buf = BytesMut::new();
        Builder::request(&mut buf, "INVITE", "sip:+12125551212@192.0.2.9")
            .header("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1")
            .header("From", "<sip:a@192.0.2.1>;tag=f1")
            .header("To", "<sip:+12125551212@192.0.2.9>")
            .header("Call-ID", "0-abc@192.0.2.1")
            .header("CSeq", "1 INVITE")
            .header("Content-Length", "999")
            .header("Subject", "evil\r\nInjected: yes")
            .body(b"v=0\r\n");
        let msg = parse(&buf).unwrap();
        msg.validate().unwrap();
        assert_eq!(msg.body(), b"v=0\r\n");
        assert_eq!(msg.headers().len(), 7);
        assert!(msg.headers().iter().all(|h| h.raw_name != b"Injected"));
    }

    #[test]
    fn header_parts_clean_every_part_and_skip_content_length() {
        let mut buf = BytesMut::new();
        Builder::request(&mut buf, "BYE", "sip:a@h")
            .header_parts("Via", &["SIP/2.0/UDP h:5060;branch=", "z9hG4bK\r\nInjected: yes", ";rport"])
            .header_parts("content-length", &["7"])
            .header_parts("From", &["<sip:a@h>", ";tag=", "1\n"])
            .header("To", "<sip:b@h>")
            .header("Call-ID", "c@h")
            .header_parts("CSeq", &["2", " ", "BYE"])
            .finish();
        let msg = parse(&buf).unwrap();
        assert!(
            msg.headers().iter().all(|h| h.raw_name != b"Injected"),
            "{:?}",
            String::from_utf8_lossy(&buf)
        );
        let via = msg.header(HeaderName::Via).unwrap().value;
        assert_eq!(via, b"SIP/2.0/UDP h:5060;branch=z9hG4bK  Injected: yes;rport", "CR and LF became spaces");
        assert_eq!(msg.from().unwrap().tag, Some("1"));
        assert_eq!(msg.headers_named(HeaderName::ContentLength).count(), 1, "only the computed one");
        assert_eq!(msg.cseq().unwrap().seq, 2);
    }

    #[test]
    fn response_to_copies_and_tags() {
        let req = b"OPTIONS sip:x@h SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK0\r\nf: <sip:a@h>;tag=1\r\nt: <sip:x@h>\r\ni: c1\r\nCSeq: 5 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";
        let req = parse(req).unwrap();
        let mut buf = BytesMut::new();
        response_to(&mut buf, &req, 200, "OK", Some("srv")).finish();
        let rsp = parse(&buf).unwrap();
        rsp.validate().unwrap();
        assert_eq!(rsp.status(), Some(200));
        assert_eq!(rsp.to().unwrap().tag, Some("srv"));
        assert_eq!(rsp.vias().count(), 2);
        assert_eq!(rsp.cseq().unwrap().seq, 5);
        assert_eq!(rsp.header(HeaderName::MaxForwards), None);
    }
}
