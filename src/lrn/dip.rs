//! The `sip-redirect` dip (SPEC.md §3): an INVITE for the dialed number in
//! E.164 to the LRN server, answered by a `302` whose Contact user part
//! carries RFC 4694 `;rn=+1NPANXXXXXX` (ported) or only `;npdi` (not ported).
//! Sans-IO: this builds the request and reads the answer; the call core runs
//! the transaction (retransmissions, the ACK for the 302, the timeout).

use super::cache::Answer;
use crate::call::build::{Local, Request};
use crate::sip::{Contact, Message};
use bytes::Bytes;

/// The dip INVITE for `tn` (10 digits): `sip:+1NPANXXXXXX@host;user=phone`.
pub fn request(local: &Local, server: &str, tn: u64, call_id: &str, tag: &str, branch: &str) -> Bytes {
    let uri = format!("sip:+1{tn}@{server};user=phone");
    let from = format!("<sip:lrn@{}>;tag={tag}", local.host);
    let to = format!("<{uri}>");
    Request {
        method: "INVITE",
        uri: &uri,
        branch,
        from: &from,
        to: &to,
        call_id,
        cseq: 1,
        max_forwards: 70,
        body: None,
        credentials: None,
        route: "",
    }
    .build(local)
}

/// What a final answer to a dip says; `None` when it is not a usable answer
/// (404, other codes, a 3xx without RFC 4694 parameters).
pub fn answer(msg: &Message<'_>) -> Option<Answer> {
    if !(300..400).contains(&msg.status()?) {
        return None;
    }
    let Some(Ok(Contact::Addr(c))) = msg.contacts().next() else { return None };
    let np = c.uri().ok()?.number_portability();
    match np.rn {
        Some(rn) => super::nanp_tn(&rn).map(Answer::Ported),
        None if np.npdi => Some(Answer::NotPorted),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip;

    fn redirect(contact: &str) -> Vec<u8> {
        format!(
            "SIP/2.0 302 Moved Temporarily\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:lrn@10.0.0.1>;tag=1\r\n\
             To: <sip:+12125551212@lrn>;tag=2\r\nCall-ID: d1\r\nCSeq: 1 INVITE\r\nContact: {contact}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn reads_rn_and_npdi() {
        let m = redirect("<sip:+12125551212;rn=+13105550000;npdi@lrn.example;user=phone>");
        assert_eq!(answer(&sip::parse(&m).unwrap()), Some(Answer::Ported(3105550000)));
        let m = redirect("<sip:+12125551212;npdi@lrn.example;user=phone>");
        assert_eq!(answer(&sip::parse(&m).unwrap()), Some(Answer::NotPorted));
        let m = redirect("<sip:+12125551212@lrn.example;user=phone>");
        assert_eq!(answer(&sip::parse(&m).unwrap()), None);
        let m = redirect("<tel:+1-212-555-1212;npdi;rn=+1-310-555-0000>");
        assert_eq!(answer(&sip::parse(&m).unwrap()), Some(Answer::Ported(3105550000)));
        let m = String::from_utf8(redirect("<sip:x@y>"))
            .unwrap()
            .replace("302 Moved Temporarily", "404 Not Found");
        assert_eq!(answer(&sip::parse(m.as_bytes()).unwrap()), None);
    }

    #[test]
    fn request_is_e164_with_user_phone() {
        let local = Local { host: "10.0.0.1".into(), port: 5060 };
        let r = request(&local, "10.0.0.9:5060", 2125551212, "tdm0-1-x@10.0.0.1", "t", "z9hG4bKd");
        let m = sip::parse(&r).unwrap();
        m.validate().unwrap();
        assert_eq!(m.request_uri().unwrap().raw, "sip:+12125551212@10.0.0.9:5060;user=phone");
    }
}
