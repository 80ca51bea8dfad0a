//! The messages a B2BUA writes. Every request carries only tandem's own
//! Via, Contact, Call-ID and tags: neither leg sees the other's addresses
//! (topology hiding).

use crate::sip::{Builder, HeaderName, Message, response_to};
use bytes::{Bytes, BytesMut};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Where tandem is, as written in Via and Contact.
#[derive(Clone, Debug)]
pub struct Local {
    /// Advertised host.
    pub host: String,
    /// Listening port.
    pub port: u16,
}

impl Local {
    /// Adds our Via, `SIP/2.0/UDP host:port;branch=...;rport`, written in place.
    pub fn put_via<'b>(&self, b: Builder<'b>, branch: &str) -> Builder<'b> {
        let mut port = itoa::Buffer::new();
        let port = port.format(self.port);
        b.header_parts("Via", &["SIP/2.0/UDP ", &self.host, ":", port, ";branch=", branch, ";rport"])
    }

    /// Adds our Contact, `<sip:host:port>`, written in place.
    pub fn put_contact<'b>(&self, b: Builder<'b>) -> Builder<'b> {
        let mut port = itoa::Buffer::new();
        b.header_parts("Contact", &["<sip:", &self.host, ":", port.format(self.port), ">"])
    }
}

/// `ip:port` as `SocketAddr` displays it (IPv6 in brackets), written by hand
/// for IPv4: every call needs a few, and the formatting machinery cost more
/// than the rest of the string.
pub fn push_addr(out: &mut String, addr: SocketAddr) {
    let SocketAddr::V4(v4) = addr else {
        let _ = write!(out, "{addr}");
        return;
    };
    let mut n = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(n.format(octet));
    }
    out.push(':');
    out.push_str(n.format(v4.port()));
}

/// `addr` as text (see [`push_addr`]).
pub fn addr_text(addr: SocketAddr) -> String {
    let mut s = String::with_capacity(21);
    push_addr(&mut s, addr);
    s
}

/// `sip:user@ip:port`.
pub fn sip_uri(user: &str, peer: SocketAddr) -> String {
    let mut s = String::with_capacity(26 + user.len());
    s.push_str("sip:");
    s.push_str(user);
    s.push('@');
    push_addr(&mut s, peer);
    s
}

/// A request inside (or starting) a dialog.
pub struct Request<'a> {
    /// Method.
    pub method: &'a str,
    /// Request-URI.
    pub uri: &'a str,
    /// Via branch.
    pub branch: &'a str,
    /// From value (with tag).
    pub from: &'a str,
    /// To value (with the peer's tag once known).
    pub to: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// Max-Forwards.
    pub max_forwards: u8,
    /// Content-Type and body, if any.
    pub body: Option<(&'a str, &'a [u8])>,
    /// An `Authorization` or `Proxy-Authorization` header: name and value.
    pub credentials: Option<(&'a str, &'a str)>,
    /// The dialog's route set as a `Route` value (RFC 3261 §12.2.1.1); empty: none.
    pub route: &'a str,
}

impl Request<'_> {
    /// Writes the request.
    pub fn build(&self, local: &Local) -> Bytes {
        let mut buf = BytesMut::with_capacity(512 + self.body.map_or(0, |b| b.1.len()));
        let mut cseq = itoa::Buffer::new();
        let b = local
            .put_via(Builder::request(&mut buf, self.method, self.uri), self.branch)
            .header_u32("Max-Forwards", u32::from(self.max_forwards));
        let b = if self.route.is_empty() { b } else { b.header("Route", self.route) };
        let b = b
            .header("From", self.from)
            .header("To", self.to)
            .header("Call-ID", self.call_id)
            .header_parts("CSeq", &[cseq.format(self.cseq), " ", self.method]);
        let b = if matches!(self.method, "ACK" | "CANCEL" | "BYE") { b } else { local.put_contact(b) };
        let b = match self.credentials {
            Some((name, value)) => b.header(name, value),
            None => b,
        };
        match self.body {
            Some((ctype, body)) if !body.is_empty() => b.header("Content-Type", ctype).body(body),
            _ => b.finish(),
        }
        buf.freeze()
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the request's
/// Request-URI, top Via (same branch), Route, From, Call-ID and CSeq number,
/// and the response's To.
pub fn ack_for(request: &[u8], response_to: &[u8]) -> Bytes {
    same_transaction(request, "ACK", Some(response_to))
}

/// The CANCEL of `request` (RFC 3261 §9.1): its Request-URI, top Via (same
/// branch), Route, From, To, Call-ID and CSeq number, as sent, whatever the dialog's
/// target or tags became since.
pub fn cancel_for(request: &[u8]) -> Bytes {
    same_transaction(request, "CANCEL", None)
}

/// `method` within `request`'s transaction, hop by hop; `to` replaces its To.
fn same_transaction(request: &[u8], method: &str, to: Option<&[u8]>) -> Bytes {
    let Ok(req) = crate::sip::parse(request) else { return Bytes::new() };
    let uri = req.request_uri().map_or("", |u| u.raw);
    let mut buf = BytesMut::with_capacity(400);
    let mut b = Builder::request(&mut buf, method, uri);
    if let Some(via) = req.header(HeaderName::Via) {
        b = b.relay(via);
    }
    b = b.header("Max-Forwards", "70");
    // The request's route set, as the ACK of a failure and a CANCEL must carry (§17.1.1.3, §9.1).
    for route in req.headers_named(HeaderName::Route) {
        b = b.relay(route);
    }
    if let Some(from) = req.header(HeaderName::From) {
        b = b.relay(from);
    }
    match (to, req.header(HeaderName::To)) {
        (Some(to), _) => b = b.header_bytes(b"To", to),
        (None, Some(to)) => b = b.relay(to),
        (None, None) => {}
    }
    if let Some(id) = req.header(HeaderName::CallId) {
        b = b.relay(id);
    }
    let mut seq = itoa::Buffer::new();
    b.header_parts("CSeq", &[seq.format(req.cseq().map_or(1, |c| c.seq)), " ", method]).finish();
    buf.freeze()
}

/// The route set `msg`'s Record-Route values make (RFC 3261 §12.1): their
/// URIs, parameters kept, as one `Route` value; `reverse` for the UAC side
/// (a 2xx lists the proxies from the far end back). Empty when there is none.
pub fn route_set(msg: &Message<'_>, reverse: bool) -> String {
    let mut uris: Vec<&str> = msg.record_routes().filter_map(Result::ok).map(|r| r.uri_raw).collect();
    if reverse {
        uris.reverse();
    }
    uris.iter().map(|u| ["<", u, ">"].concat()).collect::<Vec<_>>().join(", ")
}

/// A response to `req`, optionally with tandem's To tag, its Contact (at
/// `contact`) and a body.
pub fn response(
    req: &Message<'_>,
    status: u16,
    reason: &str,
    to_tag: Option<&str>,
    contact: Option<&Local>,
    body: Option<(&str, &[u8])>,
) -> Bytes {
    let mut buf = BytesMut::with_capacity(512 + body.map_or(0, |b| b.1.len()));
    let b = response_to(&mut buf, req, status, reason, to_tag);
    finish_response(b, contact, body);
    buf.freeze()
}

/// A response whose copied headers (Via, From, To with our tag, Call-ID,
/// CSeq) were written once by [`crate::sip::response_head`].
pub fn response_on(
    head: &[u8],
    status: u16,
    reason: &str,
    contact: Option<&Local>,
    body: Option<(&str, &[u8])>,
) -> Bytes {
    let mut buf = BytesMut::with_capacity(128 + head.len() + body.map_or(0, |b| b.1.len()));
    finish_response(Builder::response_on(&mut buf, status, reason, head), contact, body);
    buf.freeze()
}

/// Contact and the body. No Retry-After on a call's 503: a proxy may take
/// it for the whole server being down (RFC 3261 §21.5.4), which a call
/// that failed at the vendors does not say.
fn finish_response(mut b: Builder<'_>, contact: Option<&Local>, body: Option<(&str, &[u8])>) {
    if let Some(local) = contact {
        b = local.put_contact(b);
    }
    match body {
        Some((ctype, body)) if !body.is_empty() => b.header("Content-Type", ctype).body(body),
        _ => b.finish(),
    }
}

/// The Content-Type and body of a message, when it has a body.
pub fn body_of<'m>(msg: &Message<'m>) -> Option<(&'m str, &'m [u8])> {
    let body = msg.body();
    if body.is_empty() {
        return None;
    }
    let ctype =
        msg.header(HeaderName::ContentType).and_then(|h| h.value_str().ok()).unwrap_or("application/sdp");
    Some((ctype, body))
}

/// An SDP answer that rejects every stream of `offer` (RFC 3264 §6: the same
/// m-lines, port 0), from `host`: for an ACK that must answer an offer tandem
/// will not take up, the call being over (RFC 3261 §13.2.2.4).
pub fn refusing_answer(offer: &[u8], host: &str) -> Vec<u8> {
    let family = if host.contains(':') { "IP6" } else { "IP4" };
    let mut sdp =
        format!("v=0\r\no=tandem 0 0 IN {family} {host}\r\ns=-\r\nc=IN {family} {host}\r\nt=0 0\r\n");
    let lines = offer.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    for m in lines.filter_map(|l| l.strip_prefix(b"m=")) {
        // `media port proto fmt...`: the port becomes 0, the rest stays.
        let mut fields = m.splitn(3, |&b| b == b' ');
        let (media, _port, rest) = (fields.next(), fields.next(), fields.next());
        if let (Some(media), Some(rest)) = (media, rest) {
            sdp.push_str(&format!(
                "m={} 0 {}\r\n",
                String::from_utf8_lossy(media),
                String::from_utf8_lossy(rest)
            ));
        }
    }
    sdp.into_bytes()
}

/// The standard reason phrase tandem writes for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusing_answer_has_every_offered_stream_at_port_0() {
        let offer = b"v=0\r\no=b 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
                      m=audio 5000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\nm=video 5002 RTP/AVP 96\n";
        let answer = String::from_utf8(refusing_answer(offer, "203.0.113.5")).unwrap();
        assert_eq!(
            answer,
            "v=0\r\no=tandem 0 0 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
             m=audio 0 RTP/AVP 0 8 101\r\nm=video 0 RTP/AVP 96\r\n"
        );
        assert!(
            String::from_utf8(refusing_answer(offer, "2001:db8::5"))
                .unwrap()
                .contains("c=IN IP6 2001:db8::5\r\n")
        );
    }

    #[test]
    fn addresses_read_as_socket_addr_displays_them() {
        for a in ["0.0.0.0:0", "127.0.0.1:5060", "255.255.255.255:65535", "[2001:db8::1]:5060", "[::1]:1"] {
            let addr: SocketAddr = a.parse().expect("constant address");
            assert_eq!(addr_text(addr), addr.to_string());
        }
        let peer: SocketAddr = "198.51.100.1:5070".parse().expect("constant address");
        assert_eq!(sip_uri("+12125551212", peer), "sip:+12125551212@198.51.100.1:5070");
    }
}
