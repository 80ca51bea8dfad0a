//! Where a request really came from, written into its top Via (RFC 3261
//! §18.2.1 `received`, RFC 3581 §4 `rport`), so that every response copies
//! it. Most requests need nothing (their sent-by is the source address and
//! they ask for no rport): they are not copied.

use super::message::Message;
use super::scan::trim;
use super::uri::Host;
use bytes::{BufMut, Bytes, BytesMut};
use std::net::{IpAddr, SocketAddr};

/// `data` (the datagram `msg` was parsed from) with its top Via completed for
/// `peer`: `received=` the source IP when the sent-by host is a name or
/// another address, or when `rport` is asked for; `rport` given the source
/// port when present without a value. `None` when the Via needs neither, or
/// has no readable top value.
pub fn stamp(msg: &Message<'_>, peer: SocketAddr) -> Option<Bytes> {
    let via = msg.top_via().ok()?;
    let ip = peer.ip().to_canonical();
    let asks_rport = via.rport == Some(None);
    let same_host = match via.host {
        Host::V4(a) => IpAddr::V4(a) == ip,
        Host::V6(a) => IpAddr::V6(a).to_canonical() == ip,
        Host::Name(_) => false,
    };
    let add_received = via.received.is_none() && (asks_rport || !same_host);
    if !add_received && !asks_rport {
        return None;
    }
    let data = msg.as_bytes();
    let offset = |s: &str| s.as_ptr() as usize - data.as_ptr() as usize;
    let mut inserts: Vec<(usize, String)> = Vec::with_capacity(2);
    if asks_rport {
        let mut params = via.params.iter();
        while let Some(Ok((name, value))) = params.next_header_param() {
            if value.is_none() && name.eq_ignore_ascii_case("rport") {
                inserts.push((offset(name) + name.len(), format!("={}", peer.port())));
                break;
            }
        }
    }
    if add_received {
        let top = trim(msg.top_via_text().ok()?);
        inserts.push((offset(top) + top.len(), format!(";received={ip}")));
    }
    inserts.sort_by_key(|(at, _)| *at);
    let mut out = BytesMut::with_capacity(data.len() + 48);
    let mut from = 0;
    for (at, text) in inserts {
        out.put_slice(&data[from..at]);
        out.put_slice(text.as_bytes());
        from = at;
    }
    out.put_slice(&data[from..]);
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn request(via: &str) -> String {
        format!(
            "OPTIONS sip:x@h SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\n\
             Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    }

    fn stamped(via: &str, peer: &str) -> Option<String> {
        let text = request(via);
        let msg = parse(text.as_bytes()).unwrap();
        let out = stamp(&msg, peer.parse().unwrap())?;
        let out = String::from_utf8(out.to_vec()).unwrap();
        let reparsed = parse(out.as_bytes()).unwrap();
        let top = reparsed.top_via().unwrap();
        assert_eq!(top.branch, Some("z9hG4bK1"), "{out}");
        Some(out.lines().nth(1).unwrap().to_owned())
    }

    #[test]
    fn a_via_that_names_the_source_and_asks_nothing_is_left_alone() {
        assert_eq!(stamped("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", "192.0.2.1:5060"), None);
        // The port differs, but without rport only the address matters (§18.2.1).
        assert_eq!(stamped("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1", "192.0.2.1:7000"), None);
        assert_eq!(
            stamped("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;received=192.0.2.1", "192.0.2.1:7000"),
            None
        );
    }

    #[test]
    fn another_address_or_a_name_gets_received() {
        assert_eq!(
            stamped("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", "192.0.2.1:5060").unwrap(),
            "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.1"
        );
        assert_eq!(
            stamped("SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1 , SIP/2.0/UDP 10.0.0.9", "192.0.2.1:5060")
                .unwrap(),
            "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1;received=192.0.2.1 , SIP/2.0/UDP 10.0.0.9"
        );
    }

    #[test]
    fn rport_gets_the_source_port_and_received_always() {
        assert_eq!(
            stamped("SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bK1", "192.0.2.1:7000").unwrap(),
            "Via: SIP/2.0/UDP 192.0.2.1:5060;rport=7000;branch=z9hG4bK1;received=192.0.2.1"
        );
        assert_eq!(
            stamped("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport", "[::ffff:192.0.2.1]:7000").unwrap(),
            "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=7000;received=192.0.2.1"
        );
    }
}
