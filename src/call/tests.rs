//! The B2BUA core driven message by message on a virtual clock: no sockets,
//! no sleeping, every byte inspected.

use super::*;
use crate::cdr::HangUp;
use crate::routing::snapshot::RoutingSnapshot;
use crate::sip::{HeaderName, Message};
use std::sync::atomic::{AtomicUsize, Ordering};

const CUSTOMER: &str = "192.0.2.10:5060";
const V1: &str = "198.51.100.1:5060";
const V2: &str = "198.51.100.2:5060";
const SDP_A: &str =
    "v=0\r\no=a 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
const SDP_B: &str = "v=0\r\no=b 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n";

fn config(sip: &str) -> String {
    format!(
        r#"
[sip]
{sip}

[[mapping_gateway]]
name = "cust"
addresses = ["192.0.2.10"]
rate_deck = "cust.csv"

[[routing_gateway]]
name = "v1"
address = "{V1}"
rate_deck = "v.csv"
priority = 1

[[routing_gateway]]
name = "v2"
address = "{V2}"
rate_deck = "v.csv"
priority = 2
"#
    )
}

/// The decks `Bed::new` loads: the customer pays 0.02, vendors cost 0.01.
const DECKS: [(&str, &str); 2] = [("cust.csv", "1,0.02,6,6\n"), ("v.csv", "1,0.01,6,6\n")];

struct Bed {
    core: Core,
    now: Now,
    sent: Vec<(Bytes, SocketAddr)>,
    /// What left by the shard's own vendor socket (`Core::with_vendor_port`).
    sent_vendor: Vec<(Bytes, SocketAddr)>,
}

impl Bed {
    fn new(sip: &str) -> Bed {
        Bed::with(&config(sip), &DECKS, None)
    }

    /// Like `new`, with `extra` lines in the first vendor's `[[routing_gateway]]`.
    fn with_v1(extra: &str) -> Bed {
        Bed::with(&config("").replacen("priority = 1\n", &format!("priority = 1\n{extra}"), 1), &DECKS, None)
    }

    /// A core on `cfg` with `decks` (rows after the header) and, optionally, an LRN cache file.
    fn with(cfg: &str, decks: &[(&str, &str)], cache: Option<&std::path::Path>) -> Bed {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tandem-core-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, rows) in decks {
            std::fs::write(dir.join(name), format!("prefix,rate,initial,increment\n{rows}")).unwrap();
        }
        std::fs::write(dir.join("t.toml"), cfg).unwrap();
        let snap = RoutingSnapshot::load(&dir.join("t.toml")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let now = Now { ms: 1_000, unix_ms: 1_795_478_400_000 };
        let local = Local { host: "203.0.113.5".into(), port: 5060 };
        let mut core = Core::new(0, local, Arc::new(Router::new(snap)), 42, now);
        if let Some(path) = cache {
            core = core.with_lrn_cache(Arc::new(crate::lrn::cache::LrnCache::open(path, 1024).unwrap()));
        }
        Bed { core, now, sent: Vec::new(), sent_vendor: Vec::new() }
    }

    /// The same bed with vendor legs on the shard's own `port`.
    fn with_vendor_port(mut self, port: u16) -> Bed {
        self.core = self.core.with_vendor_port(port);
        self
    }

    fn feed(&mut self, text: &str, from: &str) {
        self.core.handle_datagram(&Bytes::from(text.to_owned()), from.parse().unwrap(), self.now);
        self.collect();
    }

    fn collect(&mut self) {
        self.sent.extend(self.core.poll_transmit());
        self.sent_vendor.extend(self.core.poll_transmit_vendor());
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now.ms + ms;
        while self.now.ms < end {
            let step = self.core.poll_timeout().map_or(end, |t| t.clamp(self.now.ms + 1, end));
            self.now.unix_ms += (step - self.now.ms) as i64;
            self.now.ms = step;
            self.core.handle_timeout(self.now);
            self.collect();
        }
    }

    /// Takes every datagram sent to `to`, as text.
    fn take(&mut self, to: &str) -> Vec<String> {
        let to: SocketAddr = to.parse().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(_, p)| *p == to);
        self.sent = rest;
        mine.into_iter().map(|(b, _)| String::from_utf8(b.to_vec()).unwrap()).collect()
    }

    /// Takes what left by the vendor socket, all of which must be for `to`.
    fn take_vendor(&mut self, to: &str) -> Vec<String> {
        let to: SocketAddr = to.parse().unwrap();
        assert!(self.sent_vendor.iter().all(|(_, p)| *p == to), "not for {to}: {:?}", self.sent_vendor);
        self.sent_vendor.drain(..).map(|(b, _)| String::from_utf8(b.to_vec()).unwrap()).collect()
    }

    fn take_one(&mut self, to: &str, start: &str) -> String {
        let got = self.take(to);
        let hits: Vec<&String> = got.iter().filter(|m| m.starts_with(start)).collect();
        assert_eq!(hits.len(), 1, "want one {start:?} to {to}, got {got:#?}");
        hits[0].clone()
    }

    fn cdrs(&mut self) -> Vec<Cdr> {
        self.core.poll_cdr().collect()
    }
}

fn invite(call_id: &str) -> String {
    format!(
        "INVITE sip:+1-212-555-1212@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa1\r\nMax-Forwards: 70\r\nFrom: \"Alice\" <sip:2125550001@192.0.2.10>;tag=at1\r\nTo: <sip:12125551212@203.0.113.5>\r\nCall-ID: {call_id}\r\nCSeq: 10 INVITE\r\nContact: <sip:alice@192.0.2.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP_A}",
        SDP_A.len()
    )
}

fn a_request(method: &str, call_id: &str, cseq: u32, branch: &str, to_tag: Option<&str>) -> String {
    let to = match to_tag {
        Some(t) => format!("<sip:12125551212@203.0.113.5>;tag={t}"),
        None => "<sip:12125551212@203.0.113.5>".into(),
    };
    format!(
        "{method} sip:12125551212@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\nMax-Forwards: 70\r\nFrom: \"Alice\" <sip:2125550001@192.0.2.10>;tag=at1\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A vendor's response to a request it received.
fn answer(req: &str, status: u16, to_tag: &str, sdp: Option<&str>) -> String {
    let m = sip::parse(req.as_bytes()).unwrap();
    let mut buf = bytes::BytesMut::new();
    let b = sip::response_to(&mut buf, &m, status, build::reason(status), Some(to_tag));
    let b = b.header("Contact", "<sip:gw@198.51.100.1:5060>");
    match sdp {
        Some(s) => b.header("Content-Type", "application/sdp").body(s.as_bytes()),
        None => b.finish(),
    }
    String::from_utf8(buf.to_vec()).unwrap()
}

/// A vendor's digest challenge to `req`: a 401 with WWW-Authenticate or a
/// 407 with Proxy-Authenticate, whose value is `digest`.
fn challenge(req: &str, status: u16, digest: &str) -> String {
    let name = if status == 407 { "Proxy-Authenticate" } else { "WWW-Authenticate" };
    answer(req, status, "px", None)
        .replace("Content-Length: 0\r\n", &format!("{name}: {digest}\r\nContent-Length: 0\r\n"))
}

fn parsed(text: &str) -> Message<'_> {
    let m = sip::parse(text.as_bytes()).unwrap();
    m.validate().unwrap();
    m
}

fn to_tag(text: &str) -> String {
    parsed(text).to().unwrap().tag.unwrap().to_owned()
}

#[test]
fn basic_call_with_topology_hiding_and_cdr() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-1@192.0.2.10"), CUSTOMER);
    let trying = bed.take_one(CUSTOMER, "SIP/2.0 100");
    assert!(trying.contains("Call-ID: a-1@192.0.2.10"));
    let b_inv = bed.take_one(V1, "INVITE ");
    let m = parsed(&b_inv);
    assert_eq!(m.request_uri().unwrap().raw, "sip:12125551212@198.51.100.1:5060");
    assert_eq!(m.max_forwards().unwrap(), Some(69));
    assert_eq!(m.body(), SDP_A.as_bytes());
    assert!(m.call_id().unwrap().starts_with("tdm0-"));
    assert_eq!(m.from().unwrap().uri_raw, "sip:2125550001@203.0.113.5");
    assert_eq!(m.vias().count(), 1);
    for secret in ["a-1@192.0.2.10", "at1", "z9hG4bKa1", "alice@", "Alice"] {
        assert!(
            !m.headers().iter().any(|h| String::from_utf8_lossy(h.value).contains(secret)),
            "B-leg leaks {secret}"
        );
    }

    bed.feed(&answer(&b_inv, 180, "bt1", None), V1);
    let ringing = bed.take_one(CUSTOMER, "SIP/2.0 180");
    let our_tag = to_tag(&ringing);
    bed.now.unix_ms += 2_000;
    bed.feed(&answer(&b_inv, 200, "bt1", Some(SDP_B)), V1);
    let ok = bed.take_one(CUSTOMER, "SIP/2.0 200");
    let m = parsed(&ok);
    assert_eq!(m.to().unwrap().tag, Some(our_tag.as_str()));
    assert_eq!(m.body(), SDP_B.as_bytes());
    assert!(
        !ok.contains("198.51.100.1:5060>") && !ok.contains("bt1") && !ok.contains("tdm0-"),
        "A-leg leaks B: {ok}"
    );
    assert!(ok.contains("Contact: <sip:203.0.113.5:5060>"));

    bed.feed(&a_request("ACK", "a-1@192.0.2.10", 10, "z9hG4bKa2", Some(&our_tag)), CUSTOMER);
    let ack = bed.take_one(V1, "ACK sip:gw@198.51.100.1:5060");
    assert!(ack.contains(";tag=bt1") && ack.contains("CSeq: 1 ACK"));

    bed.now.unix_ms += 7_500;
    bed.feed(&a_request("BYE", "a-1@192.0.2.10", 11, "z9hG4bKa3", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    let bye = bed.take_one(V1, "BYE sip:gw@198.51.100.1:5060");
    bed.feed(&answer(&bye, 200, "bt1", None), V1);
    // Our 200 was lost: the caller's retransmitted BYE gets 200 again, not 481.
    bed.advance(1_000);
    bed.feed(&a_request("BYE", "a-1@192.0.2.10", 11, "z9hG4bKa3", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(bed.take(V1).is_empty(), "no second BYE to the vendor");
    let cdrs = bed.cdrs();
    assert_eq!(cdrs.len(), 1);
    let c = &cdrs[0];
    assert_eq!((c.final_code, c.hangup, c.duration_s()), (200, Some(HangUp::Caller), 8));
    assert_eq!(
        (c.customer.as_str(), c.gateway.as_str(), c.dialed.as_str(), c.routed.as_str()),
        ("cust", "v1", "+1-212-555-1212", "12125551212")
    );
    assert_eq!(c.caller, "2125550001");
    assert!(c.b_call_id.starts_with("tdm0-"));
    bed.advance(40_000);
    assert_eq!(bed.core.held_calls(), 0, "nothing left behind");
}

#[test]
fn an_ended_call_leaves_only_its_call_ids_to_answer_retransmissions() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-t@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    let ok = answer(&b1, 200, "bt", Some(SDP_B));
    bed.feed(&ok, V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", "a-t@x", 10, "z9hG4bKa2", Some(&our_tag)), CUSTOMER);
    let ack = bed.take_one(V1, "ACK ");
    let bye = a_request("BYE", "a-t@x", 11, "z9hG4bKa3", Some(&our_tag));
    bed.feed(&bye, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    let bye_b = bed.take_one(V1, "BYE ");
    assert_eq!((bed.core.held_calls(), bed.core.ended_call_ids()), (1, 0), "our BYE is still open");
    bed.feed(&answer(&bye_b, 200, "bt", None), V1);
    assert_eq!(
        (bed.core.held_calls(), bed.core.ended_call_ids()),
        (0, 2),
        "the call is gone, its Call-IDs stay"
    );

    bed.advance(4_000);
    bed.feed(&bye, CUSTOMER);
    let again = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(again.contains("CSeq: 11 BYE") && again.contains("branch=z9hG4bKa3"), "{again}");
    bed.feed(&invite("a-t@x"), CUSTOMER);
    bed.feed(&a_request("ACK", "a-t@x", 11, "z9hG4bKa4", Some(&our_tag)), CUSTOMER);
    assert!(bed.take(CUSTOMER).is_empty(), "the INVITE again and a stray ACK are absorbed");
    // A new INVITE on an answered call's Call-ID would let the old dialog's stragglers
    // reach the new call: refused until the Call-ID is forgotten (33 s from now).
    let newer =
        invite("a-t@x").replace("CSeq: 10 INVITE", "CSeq: 12 INVITE").replace("z9hG4bKa1", "z9hG4bKn");
    bed.feed(&newer, CUSTOMER);
    let busy = bed.take_one(CUSTOMER, "SIP/2.0 500");
    assert!(busy.contains("Retry-After: 33\r\n"), "{busy}");
    assert!(bed.take(V1).is_empty(), "no new call");
    bed.feed(&a_request("INFO", "a-t@x", 12, "z9hG4bKa5", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 481");
    let vendor_bye = bye_b.replace("CSeq: 2 BYE", "CSeq: 7 BYE").replacen("BYE sip:gw@", "BYE sip:x@", 1);
    bed.feed(&vendor_bye, V1);
    bed.take_one(V1, "SIP/2.0 200");
    assert!(bed.take(V1).is_empty() && bed.take(CUSTOMER).is_empty(), "nothing relayed, no second leg");
    bed.feed(&ok, V1);
    assert_eq!(bed.take(V1), vec![ack], "a repeated 2xx gets our ACK again, and no BYE");
    assert_eq!(bed.cdrs().len(), 1);

    bed.advance(34_000);
    assert_eq!(bed.core.ended_call_ids(), 0, "forgotten after the linger time (37 s)");
    bed.feed(&bye, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 481");
}

#[test]
fn a_cancelled_call_answers_its_cancel_again_after_it_is_gone() {
    let mut bed = Bed::new("");
    let (b1, cancel) = ring_and_cancel(&mut bed, "a-tc@x");
    let c = bed.take_one(V1, "CANCEL ");
    bed.feed(&answer(&c, 200, "r1", None), V1);
    let failure = answer(&b1, 487, "r1", None);
    bed.feed(&failure, V1);
    let ack = bed.take_one(V1, "ACK ");
    assert_eq!(bed.core.held_calls(), 1, "the 487 to the caller waits for its ACK");
    bed.feed(&a_request("ACK", "a-tc@x", 10, "z9hG4bKa1", Some("x")), CUSTOMER);
    assert_eq!((bed.core.held_calls(), bed.core.ended_call_ids()), (0, 2), "every transaction only absorbs");
    bed.take(CUSTOMER);

    bed.advance(10_000);
    bed.feed(&cancel, CUSTOMER);
    let again = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(again.contains("CSeq: 10 CANCEL"), "{again}");
    bed.feed(&a_request("CANCEL", "a-tc@x", 10, "z9hG4bKother", None), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 481");
    bed.feed(&failure, V1);
    assert_eq!(bed.take(V1), vec![ack], "the failure again gets the same ACK again (timer D)");
    bed.feed(&answer(&c, 200, "r1", None), V1);
    assert!(bed.take(V1).is_empty() && bed.take(CUSTOMER).is_empty());
    assert_eq!(bed.cdrs().len(), 1);
}

#[test]
fn a_vendor_given_up_before_it_rang_stays_whole_to_hang_up_a_late_answer() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-tl@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&a_request("CANCEL", "a-tl@x", 10, "z9hG4bKa1", None), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 487");
    bed.feed(&a_request("ACK", "a-tl@x", 10, "z9hG4bKa1", Some("x")), CUSTOMER);
    assert!(bed.take(V1).is_empty(), "no CANCEL before a provisional");
    assert_eq!((bed.core.held_calls(), bed.core.ended_call_ids()), (1, 0), "it may still answer");

    bed.advance(5_000);
    bed.feed(&answer(&b1, 200, "late", Some(SDP_B)), V1);
    let to_v1 = bed.take(V1);
    assert!(to_v1.len() == 2 && to_v1[0].starts_with("ACK ") && to_v1[1].starts_with("BYE "), "{to_v1:?}");
    bed.advance(600);
    let again = bed.take_one(V1, "BYE ");
    assert_eq!(again, to_v1[1], "the BYE is retransmitted until answered");
    bed.feed(&answer(&again, 200, "late", None), V1);
    assert_eq!((bed.core.held_calls(), bed.core.ended_call_ids()), (0, 2));
    bed.feed(&answer(&b1, 200, "late", Some(SDP_B)), V1);
    assert_eq!(bed.take(V1), vec![to_v1[0].clone()], "the repeated 2xx gets the ACK again");
    assert!(bed.take(CUSTOMER).is_empty());
}

#[test]
fn a_vendor_given_up_before_it_rang_is_cancelled_when_it_rings() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-tr@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&a_request("CANCEL", "a-tr@x", 10, "z9hG4bKa1", None), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 487");
    bed.feed(&a_request("ACK", "a-tr@x", 10, "z9hG4bKa1", Some("x")), CUSTOMER);
    bed.advance(2_000);
    assert!(bed.take(V1).is_empty(), "neither retransmission nor CANCEL before a provisional");
    bed.feed(&answer(&b1, 180, "r1", None), V1);
    let cancel = bed.take_one(V1, "CANCEL ");
    assert_eq!(parsed(&cancel).top_via().unwrap().branch, parsed(&b1).top_via().unwrap().branch);
    assert!(bed.take(CUSTOMER).is_empty(), "its ringing is not relayed");
    bed.feed(&answer(&cancel, 200, "r1", None), V1);
    bed.feed(&answer(&b1, 487, "r1", None), V1);
    let ack = bed.take_one(V1, "ACK ");
    assert!(ack.contains("CSeq: 1 ACK") && ack.contains("tag=r1"), "{ack}");
    assert_eq!(bed.cdrs().len(), 1);
}

/// A call whose vendor rings (tag `r1`), then the caller's CANCEL: the
/// B-leg INVITE and the CANCEL as sent.
fn ring_and_cancel(bed: &mut Bed, call_id: &str) -> (String, String) {
    bed.feed(&invite(call_id), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 180, "r1", None), V1);
    bed.take(CUSTOMER);
    let cancel = a_request("CANCEL", call_id, 10, "z9hG4bKa1", None);
    bed.feed(&cancel, CUSTOMER);
    (b1, cancel)
}

fn ring_and_fail(bed: &mut Bed, status: u16) -> String {
    bed.feed(&invite("a-2@x"), CUSTOMER);
    let b_inv = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b_inv, status, "f1", None), V1);
    let ack = bed.take_one(V1, "ACK ");
    assert!(ack.contains(&format!("Call-ID: {}", parsed(&b_inv).call_id().unwrap())));
    b_inv
}

#[test]
fn failover_on_503_then_answer() {
    let mut bed = Bed::new("");
    ring_and_fail(&mut bed, 503);
    let b2 = bed.take_one(V2, "INVITE ");
    bed.feed(&answer(&b2, 200, "v2t", Some(SDP_B)), V2);
    bed.take(CUSTOMER);
    assert_eq!(bed.core.stats().failovers, 1);
    assert_eq!(bed.core.stats().calls_answered, 1);
}

/// `invite(call_id)` with `vias` more Via lines under the caller's, and an SDP
/// padded so that the whole message is `size` bytes.
fn padded_invite(call_id: &str, vias: usize, size: usize) -> String {
    let extra: String =
        (0..vias).map(|i| format!("Via: SIP/2.0/UDP 192.0.2.{i}:5060;branch=z9hG4bKv{i}\r\n")).collect();
    let text = invite(call_id).replacen("Max-Forwards", &format!("{extra}Max-Forwards"), 1);
    pad_body(&text, size)
}

/// `text` (with an SDP body) grown to `size` bytes by a longer last SDP line.
fn pad_body(text: &str, size: usize) -> String {
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head = head.replace(&format!("Content-Length: {}", body.len()), "Content-Length: LEN");
    let mut pad = 0;
    for _ in 0..4 {
        // The length's digits move with the padding: a few rounds settle it.
        let padded = format!("{body}a=x:{}\r\n", "p".repeat(pad));
        let text = format!("{}\r\n\r\n{padded}", head.replace("LEN", &padded.len().to_string()));
        if text.len() == size {
            return text;
        }
        pad = (pad + size).checked_sub(text.len()).unwrap();
    }
    panic!("no padding makes {size} bytes");
}

/// A caller behind NAT asks for rport: every response to its INVITE (the
/// 100 at once, the relayed 200 later) says where it came from (RFC 3581 §4).
#[test]
fn responses_carry_received_and_rport_for_the_caller() {
    let mut bed = Bed::new("");
    let text = invite("nat@x").replace("branch=z9hG4bKa1", "rport;branch=z9hG4bKa1");
    bed.feed(&text, "192.0.2.10:40000");
    let via = "Via: SIP/2.0/UDP 192.0.2.10:5060;rport=40000;branch=z9hG4bKa1;received=192.0.2.10\r\n";
    assert!(bed.take_one("192.0.2.10:40000", "SIP/2.0 100").contains(via));
    let b1 = bed.take_one(V1, "INVITE ");
    assert!(!b1.contains("received="), "the B-leg has its own Via");
    bed.feed(&answer(&b1, 200, "v1t", Some(SDP_B)), V1);
    assert!(bed.take_one("192.0.2.10:40000", "SIP/2.0 200").contains(via));
}

/// A re-INVITE whose copy to the other side would not fit in a datagram:
/// 513 at once and the call goes on (§14.1), no timeout that ends it.
#[test]
fn a_reinvite_too_large_to_relay_gets_513_and_the_call_stays() {
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "big-re@x");
    let re = a_request("INVITE", "big-re@x", 11, "z9hG4bKbigre", Some(&our_tag))
        .replace("Via:", "v:")
        .replace("From: \"Alice\" ", "f: ")
        .replace("To:", "t:")
        .replace("Call-ID:", "i:")
        .replace(
            "Content-Length: 0\r\n\r\n",
            &format!("c: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP_A}", SDP_A.len()),
        );
    bed.feed(&pad_body(&re, sip::MAX_MESSAGE), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 513 Message Too Large");
    assert!(bed.take(V1).is_empty(), "nothing reaches the vendor");
    assert_eq!(bed.core.stats().oversized, 1);
    bed.advance(40_000);
    assert!(bed.take(V1).iter().all(|m| !m.starts_with("BYE ")), "the call stays up");
    assert!(bed.cdrs().is_empty());
}

/// A 2xx to an INVITE of ours whose call is gone gets ACK and BYE from a
/// vendor's address only: anyone else's gets nothing back.
#[test]
fn a_stray_2xx_is_hung_up_only_when_a_vendor_sent_it() {
    let mut bed = Bed::new("");
    let stray = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKgone\r\n\
                 From: <sip:2125550001@203.0.113.5>;tag=ft\r\nTo: <sip:12125551212@198.51.100.1>;tag=vt\r\n\
                 Call-ID: tdm0-gone@203.0.113.5\r\nCSeq: 1 INVITE\r\nContact: <sip:gw@198.51.100.1>\r\n\
                 Content-Length: 0\r\n\r\n";
    let stranger = "192.0.2.99:5060";
    bed.feed(stray, stranger);
    assert!(bed.take(stranger).is_empty());
    bed.feed(stray, V1);
    let sent = bed.take(V1);
    assert!(sent[0].starts_with("ACK sip:gw@198.51.100.1 ") && sent[1].starts_with("BYE "), "{sent:?}");
    assert_eq!(bed.core.stats().stray_responses, 2);
}

/// An INVITE whose B-leg copy would not fit in a UDP datagram: 513 at once,
/// no vendor tried (every one would get the same), one CDR.
#[test]
fn an_offer_too_large_to_relay_gets_513() {
    let mut bed = Bed::new("");
    // Compact headers: the B-leg INVITE, in full form, is longer.
    let compact = invite("big@x")
        .replace("Via:", "v:")
        .replace("From:", "f:")
        .replace("To:", "t:")
        .replace("Call-ID:", "i:")
        .replace("Contact:", "m:")
        .replace("Content-Type:", "c:")
        .replace("\"Alice\" ", "");
    let text = pad_body(&compact, sip::MAX_MESSAGE);
    bed.feed(&text, CUSTOMER);
    let got = bed.take(CUSTOMER);
    assert!(got.iter().any(|m| m.starts_with("SIP/2.0 513 Message Too Large")), "{got:?}");
    assert!(bed.take(V1).is_empty() && bed.take(V2).is_empty(), "no vendor is tried");
    assert_eq!(bed.core.stats().oversized, 1);
    assert_eq!(bed.core.stats().attempts, 0);
    let cdrs = bed.cdrs();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0].final_code, 513);
}

/// A vendor's answer the caller could never get (its Vias and the vendor's
/// SDP exceed a datagram): that leg is ACKed and hung up and the hunt goes
/// on; the caller never sees a 2xx it cannot receive.
#[test]
fn an_answer_too_large_to_relay_fails_over() {
    let mut bed = Bed::new("");
    bed.feed(&padded_invite("big-answer@x", 12, 1_200), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    let ok = pad_body(&answer(&b1, 200, "v1t", Some(SDP_B)), 65_400);
    bed.feed(&ok, V1);
    let to_v1 = bed.take(V1);
    assert!(
        to_v1.iter().any(|m| m.starts_with("ACK ")) && to_v1.iter().any(|m| m.starts_with("BYE ")),
        "{to_v1:?}"
    );
    assert!(bed.take(CUSTOMER).iter().all(|m| !m.starts_with("SIP/2.0 200")));
    assert_eq!(bed.core.stats().oversized, 1);
    let b2 = bed.take_one(V2, "INVITE ");
    bed.feed(&answer(&b2, 200, "v2t", Some(SDP_B)), V2);
    let ok = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(ok.contains(SDP_B));
    assert_eq!(bed.core.stats().calls_answered, 1);
}

/// A vendor's redirect or digest challenge (tandem follows neither), or its
/// refusal of the form of our INVITE, fails over like a 5xx, and the caller
/// never gets it: the last one becomes 503.
#[test]
fn a_vendors_redirect_challenge_or_refusal_of_our_request_fails_over_and_never_reaches_the_caller() {
    for status in [302, 407, 401, 413, 414, 416, 420, 421, 423] {
        let mut bed = Bed::new("");
        ring_and_fail(&mut bed, status);
        assert!(bed.take(CUSTOMER).iter().all(|m| !m.starts_with(&format!("SIP/2.0 {status}"))));
        let b2 = bed.take_one(V2, "INVITE ");
        bed.feed(&answer(&b2, status, "v2t", None), V2);
        bed.take_one(V2, "ACK ");
        let last = bed.take_one(CUSTOMER, "SIP/2.0 ");
        assert!(last.starts_with("SIP/2.0 503 "), "{status}: {last}");
        assert!(!last.contains("Contact:") && !last.contains("Authenticate"), "{last}");
        assert!(!last.contains("Retry-After"), "a failed call is no server outage: {last}");
        assert_eq!(bed.cdrs()[0].final_code, 503);
        assert_eq!(bed.core.stats().failovers, 1, "{status}");
    }
}

/// A vendor that challenges our INVITE (RFC 3261 §22.2) gets it again with
/// the gateway's registration credentials: same Call-ID, From tag, To and
/// body, CSeq 2, a new branch, a digest over INVITE and the Request-URI. The
/// call then runs on CSeq 2 (ACK 2, BYE 3); a second challenge (credentials
/// refused) fails over.
#[test]
fn a_vendor_challenging_our_invite_gets_the_registration_credentials() {
    let mut bed = Bed::with_v1(
        "\n[routing_gateway.register]\nproxy = \"198.51.100.9:5060\"\ndomain = \"carrier.example\"\nuser = \"acct1\"\npassword = \"s3cret\"\n",
    );
    bed.feed(&invite("a-au@x"), CUSTOMER);
    let first = bed.take_one(V1, "INVITE ");
    let challenged =
        challenge(&first, 407, "Digest realm=\"carrier.example\", nonce=\"n0nce\", qop=\"auth\"");
    bed.feed(&challenged, V1);
    let to_v1 = bed.take(V1);
    assert!(to_v1.iter().any(|m| m.starts_with("ACK ") && m.contains("CSeq: 1 ACK")), "{to_v1:#?}");
    let second = to_v1.iter().find(|m| m.starts_with("INVITE ")).expect("the INVITE again").clone();
    assert!(bed.take(CUSTOMER).iter().all(|m| !m.contains("407")), "the caller hears nothing of it");
    let (a, b) = (parsed(&first), parsed(&second));
    assert_eq!((b.call_id().unwrap(), b.from().unwrap().tag), (a.call_id().unwrap(), a.from().unwrap().tag));
    assert_eq!((b.cseq().unwrap().seq, b.to().unwrap().tag), (2, None));
    assert_ne!(b.top_via().unwrap().branch, a.top_via().unwrap().branch);
    assert_eq!(build::body_of(&b), build::body_of(&a), "the same offer");
    let uri = second.lines().next().unwrap().split(' ').nth(1).unwrap().to_owned();
    let creds =
        b.header(HeaderName::ProxyAuthorization).expect("credentials").value_str().unwrap().to_owned();
    let field = |k: &str| {
        let at = creds.find(&format!("{k}=")).unwrap_or_else(|| panic!("{k} in {creds}")) + k.len() + 1;
        creds[at..].split([',', '"']).find(|s| !s.is_empty()).unwrap().trim().to_owned()
    };
    assert_eq!(
        (field("username"), field("realm"), field("uri"), field("nc")),
        ("acct1".into(), "carrier.example".into(), uri.clone(), "00000001".into())
    );
    let ch = crate::register::digest::Challenge {
        realm: "carrier.example".into(),
        nonce: "n0nce".into(),
        opaque: None,
        qop_auth: true,
        sess: false,
        stale: false,
    };
    let req =
        crate::register::digest::Request { method: "INVITE", uri: &uri, user: "acct1", password: "s3cret" };
    assert_eq!(field("response"), crate::register::digest::response(&ch, &req, 1, &field("cnonce")));
    // Our ACK of the challenge was lost: its copy gets that ACK again (Timer D).
    bed.feed(&challenged, V1);
    let again = bed.take(V1);
    assert!(
        again.len() == 1 && again[0].starts_with("ACK ") && again[0].contains("CSeq: 1 ACK"),
        "{again:#?}"
    );
    // Answered: the dialog runs on the new CSeq.
    bed.feed(&answer(&second, 200, "v1t", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", "a-au@x", 10, "z9hG4bKau2", Some(&our_tag)), CUSTOMER);
    let ack = bed.take_one(V1, "ACK ");
    assert!(ack.contains("CSeq: 2 ACK"), "{ack}");
    assert!(
        ack.contains(&format!("\r\nProxy-Authorization: {creds}\r\n")),
        "§13.2.2.4: the INVITE's credentials: {ack}"
    );
    // A re-INVITE carries none, so neither does its ACK.
    bed.feed(&a_request("INVITE", "a-au@x", 11, "z9hG4bKau4", Some(&our_tag)), CUSTOMER);
    let reinvite = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&reinvite, 200, "v1t", Some(SDP_B)), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.feed(&a_request("ACK", "a-au@x", 11, "z9hG4bKau5", Some(&our_tag)), CUSTOMER);
    let re_ack = bed.take_one(V1, "ACK ");
    assert!(!reinvite.contains("Authorization") && !re_ack.contains("Authorization"), "{re_ack}");
    bed.feed(&a_request("BYE", "a-au@x", 12, "z9hG4bKau3", Some(&our_tag)), CUSTOMER);
    assert!(bed.take_one(V1, "BYE ").contains("CSeq: 4 BYE"));
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    // A forking proxy's branch answers the challenged INVITE after all: ACK and BYE on CSeq 1.
    bed.feed(&answer(&first, 200, "fork", Some(SDP_B)), V1);
    let late = bed.take(V1);
    assert!(
        late.iter().any(|m| m.starts_with("ACK ") && m.contains("CSeq: 1 ACK") && m.contains("tag=fork")),
        "{late:#?}"
    );
    assert!(late.iter().any(|m| m.starts_with("BYE ") && m.contains("CSeq: 2 BYE")), "{late:#?}");
    assert!(bed.take(CUSTOMER).is_empty(), "the caller's call is untouched");

    // Refused credentials: challenged again (not stale), the hunt moves on.
    bed.feed(&invite("a-au2@x"), CUSTOMER);
    let first = bed.take_one(V1, "INVITE ");
    let again = |req: &str| challenge(req, 407, "Digest realm=\"carrier.example\", nonce=\"n1\"");
    bed.feed(&again(&first), V1);
    let second = bed.take_one(V1, "INVITE ");
    bed.feed(&again(&second), V1);
    assert!(bed.take(V1).iter().all(|m| !m.starts_with("INVITE ")), "no third INVITE");
    bed.take_one(V2, "INVITE ");
}

/// `auth_user`/`auth_password` answer a vendor's challenge without a registration.
#[test]
fn auth_user_answers_a_challenge_without_a_registration() {
    let mut bed = Bed::with_v1("auth_user = \"trunk7\"\nauth_password = \"pw\"\n");
    bed.feed(&invite("a-au3@x"), CUSTOMER);
    let first = bed.take_one(V1, "INVITE ");
    bed.feed(&challenge(&first, 401, "Digest realm=\"v\", nonce=\"n2\""), V1);
    let second = bed.take_one(V1, "INVITE ");
    let creds = parsed(&second)
        .header(HeaderName::Authorization)
        .expect("Authorization")
        .value_str()
        .unwrap()
        .to_owned();
    assert!(creds.starts_with("Digest username=\"trunk7\", realm=\"v\", nonce=\"n2\""), "{creds}");
    assert!(!creds.contains("qop="), "none offered: {creds}");
}

/// RFC 3261 §12.1: the vendor's 2xx Record-Route becomes the B dialog's
/// route set (reversed, parameters kept) on the ACK and BYE; the caller's
/// INVITE Record-Route is copied, in order, into tandem's answers and is the
/// A dialog's route set for tandem's own requests to the caller.
#[test]
fn record_route_sets_each_dialogs_route_set() {
    let mut bed = Bed::new("");
    let invite = invite("a-rr@x").replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRecord-Route: <sip:192.0.2.20;lr>\r\nRecord-Route: <sip:192.0.2.21;lr;ftag=q>\r\n",
    );
    bed.feed(&invite, CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    assert!(!b1.contains("Record-Route") && !b1.contains("Route:"), "neither side's proxies cross: {b1}");
    let ok = answer(&b1, 200, "v1t", Some(SDP_B)).replace(
        "Contact:",
        "Record-Route: <sip:198.51.100.30;lr>, <sip:198.51.100.31;lr;r2=on>\r\nContact:",
    );
    bed.feed(&ok, V1);
    let to_a = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(
        to_a.contains("Record-Route: <sip:192.0.2.20;lr>\r\nRecord-Route: <sip:192.0.2.21;lr;ftag=q>\r\n"),
        "{to_a}"
    );
    assert!(!to_a.contains("198.51.100.3"), "the vendor's proxies stay hidden: {to_a}");
    let our_tag = to_tag(&to_a);
    bed.feed(&a_request("ACK", "a-rr@x", 10, "z9hG4bKrr2", Some(&our_tag)), CUSTOMER);
    let ack = bed.take_one(V1, "ACK ");
    let reversed = "\r\nRoute: <sip:198.51.100.31;lr;r2=on>, <sip:198.51.100.30;lr>\r\n";
    assert!(ack.contains(reversed) && ack.starts_with("ACK sip:gw@198.51.100.1:5060 "), "{ack}");
    // A re-INVITE relayed to the vendor, and its CANCEL, carry the route set (§9.1).
    bed.feed(&a_request("INVITE", "a-rr@x", 11, "z9hG4bKrr5", Some(&our_tag)), CUSTOMER);
    let reinvite = bed.take_one(V1, "INVITE ");
    assert!(reinvite.contains(reversed), "{reinvite}");
    bed.feed(&answer(&reinvite, 180, "v1t", None), V1);
    bed.feed(&a_request("CANCEL", "a-rr@x", 11, "z9hG4bKrr5", Some(&our_tag)), CUSTOMER);
    let cancel = bed.take_one(V1, "CANCEL ");
    assert!(cancel.contains(reversed), "{cancel}");
    bed.feed(&answer(&cancel, 200, "v1t", None), V1);
    bed.feed(&answer(&reinvite, 487, "v1t", None), V1);
    let ack487 = bed.take_one(V1, "ACK ");
    assert!(ack487.contains(reversed), "the ACK of a failure too (§17.1.1.3): {ack487}");
    bed.take(CUSTOMER);
    // The vendor hangs up: tandem's BYE to the caller follows the caller's route set.
    let bye = vendor_request(&b1, "BYE", 5, "z9hG4bKvb", "v1t");
    bed.feed(&bye, V1);
    let to_caller = bed.take_one(CUSTOMER, "BYE ");
    assert!(
        to_caller.contains("\r\nRoute: <sip:192.0.2.20;lr>, <sip:192.0.2.21;lr;ftag=q>\r\n"),
        "{to_caller}"
    );
    // tandem hanging up the vendor side of another call carries the route set too.
    let mut bed = Bed::new("");
    bed.feed(&invite.replace("a-rr@x", "a-rr2@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(
        &answer(&b1, 200, "v1t", Some(SDP_B))
            .replace("Contact:", "Record-Route: <sip:198.51.100.30;lr>\r\nContact:"),
        V1,
    );
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", "a-rr2@x", 10, "z9hG4bKr3", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "ACK ");
    bed.feed(&a_request("BYE", "a-rr2@x", 11, "z9hG4bKr4", Some(&our_tag)), CUSTOMER);
    assert!(bed.take_one(V1, "BYE ").contains("\r\nRoute: <sip:198.51.100.30;lr>\r\n"));
}

#[test]
fn busy_stops_the_hunt_and_is_relayed() {
    let mut bed = Bed::new("");
    ring_and_fail(&mut bed, 486);
    assert!(bed.take(V2).is_empty());
    bed.take_one(CUSTOMER, "SIP/2.0 486");
    let cdrs = bed.cdrs();
    assert_eq!((cdrs[0].final_code, cdrs[0].hangup), (486, Some(HangUp::Callee)));
    let mut bed = Bed::new("busy_stop_switch = false");
    ring_and_fail(&mut bed, 486);
    let b2 = bed.take_one(V2, "INVITE ");
    bed.feed(&answer(&b2, 503, "x", None), V2);
    // Every vendor failed: the caller gets the most telling answer, busy over 503.
    assert!(bed.take(CUSTOMER).iter().any(|m| m.starts_with("SIP/2.0 486")));
}

#[test]
fn silent_vendor_fails_over_after_invite_timeout_and_late_2xx_is_hung_up() {
    let mut bed = Bed::new("invite_timeout = 2");
    bed.feed(&invite("a-3@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.advance(1_900);
    assert_eq!(bed.take(V1).len(), 2, "retransmitted at 500 and 1500 ms");
    assert!(bed.take(V2).is_empty());
    bed.advance(200);
    bed.take_one(V2, "INVITE ");
    bed.advance(1_500);
    assert!(bed.take(V1).is_empty(), "no retransmission to an abandoned vendor");
    // v1 answers late: ACK and BYE it; the caller never hears of it.
    bed.feed(&answer(&b1, 200, "late", Some(SDP_B)), V1);
    let to_v1 = bed.take(V1);
    assert!(
        to_v1.iter().any(|m| m.starts_with("ACK ")) && to_v1.iter().any(|m| m.starts_with("BYE ")),
        "{to_v1:#?}"
    );
    assert!(bed.take(CUSTOMER).iter().all(|m| m.starts_with("SIP/2.0 100")));
    // v2 stays silent too: every vendor timed out, the caller gets 408.
    bed.advance(1_000);
    let to_a = bed.take(CUSTOMER);
    assert!(!to_a.is_empty() && to_a.iter().all(|m| m.starts_with("SIP/2.0 408")), "{to_a:#?}");
    let cdrs = bed.cdrs();
    assert_eq!(cdrs[0].gateways_tried, ["v1", "v2"]);
    // No vendor said anything: tandem's timer ended the call (docs/cdr.md).
    assert_eq!(cdrs[0].hangup, Some(HangUp::System));
}

#[test]
fn a_100_trying_hands_the_hunt_over_to_timer_c() {
    // On some routes ringing comes many seconds after the 100: a 100 stops
    // invite_timeout (docs/operations.md), and a re-INVITE relayed and only
    // answered 1xx ends with 408 after 64·T1 instead of holding the dialog,
    // which then ends (§14.1).
    let mut bed = Bed::new("invite_timeout = 2");
    bed.feed(&invite("a-100@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 100, "t1", None), V1);
    bed.advance(10_000);
    assert!(bed.take(V2).is_empty(), "no failover after a 100");
    assert!(bed.take(V1).is_empty(), "no retransmission, no CANCEL");
    bed.feed(&answer(&b1, 180, "t1", None), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 180");
    bed.feed(&answer(&b1, 200, "t1", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", "a-100@x", 10, "z9hG4bKak", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "ACK ");
    bed.feed(&a_request("INVITE", "a-100@x", 11, "z9hG4bKr1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let relayed = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&relayed, 100, "t1", None), V1);
    bed.advance(33_000);
    let to_a = bed.take(CUSTOMER);
    assert!(to_a.iter().any(|m| m.starts_with("SIP/2.0 408") && m.contains("CSeq: 11 INVITE")), "{to_a:#?}");
    assert!(to_a.iter().any(|m| m.starts_with("BYE ")), "{to_a:#?}");
    assert!(bed.take(V1).iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::System));
}

#[test]
fn an_in_dialog_request_answered_481_or_never_ends_the_call() {
    // RFC 3261 §12.2.1.2: a 481 or 408 to a request in the dialog, or no
    // answer at all, ends the dialog: tandem ends the call on both legs.
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-481@x");
    bed.feed(&a_request("INFO", "a-481@x", 11, "z9hG4bKi1", Some(&our_tag)), CUSTOMER);
    let info = bed.take_one(V1, "INFO ");
    bed.feed(&answer(&info, 481, "c1", None), V1);
    let to_a = bed.take(CUSTOMER);
    assert!(to_a[0].starts_with("SIP/2.0 481") && to_a[0].contains("CSeq: 11 INFO"), "{to_a:#?}");
    assert!(to_a[1..].iter().any(|m| m.starts_with("BYE ")), "{to_a:#?}");
    assert!(bed.take(V1).iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::System));
    // The caller answers a vendor's INFO 408: the call ends too.
    let (b1, _) = answered(&mut bed, "a-v408@x");
    let info = vendor_bye(&b1, "c1").replace("BYE", "INFO").replace("z9hG4bKv9", "z9hG4bKvi");
    bed.feed(&info, V1);
    let relayed = bed.take_one(CUSTOMER, "INFO ");
    bed.feed(
        &answer(&relayed, 408, "at1", None).replace("Contact: <sip:gw@198.51.100.1:5060>\r\n", ""),
        CUSTOMER,
    );
    assert!(bed.take(V1).iter().any(|m| m.starts_with("SIP/2.0 408")));
    bed.take_one(CUSTOMER, "BYE ");
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::System));
    bed.advance(40_000); // the first calls' BYEs run out: only the next call's are seen below
    bed.take(CUSTOMER);
    bed.take(V1);
    // The vendor never answers a re-INVITE: 408 after Timer B, and the call ends.
    let (_, our_tag) = answered(&mut bed, "a-408@x");
    bed.feed(&a_request("INVITE", "a-408@x", 11, "z9hG4bKr1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    bed.take_one(V1, "INVITE ");
    bed.advance(33_000);
    let to_a = bed.take(CUSTOMER);
    assert!(to_a.iter().any(|m| m.starts_with("SIP/2.0 408") && m.contains("CSeq: 11 INVITE")), "{to_a:#?}");
    assert!(to_a.iter().any(|m| m.starts_with("BYE ")), "{to_a:#?}");
    let cdrs = bed.cdrs();
    assert!(cdrs.len() == 1 && cdrs[0].hangup == Some(HangUp::System), "{cdrs:?}");
}

#[test]
fn stop_switch_after_invite_timeout() {
    let mut bed = Bed::new("invite_timeout = 1\nuser_agent_stop_switch_after_invite_timeout = true");
    bed.feed(&invite("a-4@x"), CUSTOMER);
    bed.advance(1_100);
    assert!(bed.take(V2).is_empty());
    bed.take_one(CUSTOMER, "SIP/2.0 408");
}

#[test]
fn caller_cancel_before_answer() {
    let mut bed = Bed::new("");
    let (b1, cancel) = ring_and_cancel(&mut bed, "a-5@x");
    let to_a = bed.take(CUSTOMER);
    let ok =
        to_a.iter().find(|m| m.starts_with("SIP/2.0 200") && m.contains("CANCEL")).expect("200 to CANCEL");
    let terminated = to_a.iter().find(|m| m.starts_with("SIP/2.0 487") && m.contains("INVITE")).expect("487");
    // RFC 3261 §9.2: the CANCEL's answer has the INVITE's answer's To tag.
    assert_eq!(to_tag(ok), to_tag(terminated));
    let c = bed.take_one(V1, "CANCEL ");
    assert_eq!(parsed(&c).top_via().unwrap().branch, parsed(&b1).top_via().unwrap().branch);
    bed.feed(&answer(&c, 200, "r1", None), V1);
    bed.feed(&answer(&b1, 487, "r1", None), V1);
    bed.take_one(V1, "ACK ");
    let cdrs = bed.cdrs();
    assert_eq!((cdrs[0].final_code, cdrs[0].hangup), (487, Some(HangUp::Caller)));
    bed.feed(&a_request("ACK", "a-5@x", 10, "z9hG4bKa1", Some("x")), CUSTOMER);
    bed.advance(1_000);
    // The CANCEL again, its call gone: the same 200, the same tag.
    bed.feed(&cancel, CUSTOMER);
    let again = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert_eq!(to_tag(&again), to_tag(ok), "{again}");
    bed.advance(40_000);
    assert_eq!(bed.core.held_calls(), 0);
}

/// The vendor's request `method` in the dialog its 2xx (with To tag `tag`) to
/// `b_leg` (a request tandem sent it) made: From and To swapped, its own branch.
fn vendor_request(b_leg: &str, method: &str, cseq: u32, branch: &str, tag: &str) -> String {
    let m = parsed(b_leg);
    format!(
        "{method} sip:x@203.0.113.5:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch={branch}\r\nMax-Forwards: 70\r\nFrom: {};tag={tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
        m.header(HeaderName::To).unwrap().value_str().unwrap(),
        m.header(HeaderName::From).unwrap().value_str().unwrap(),
        m.call_id().unwrap()
    )
}

/// The vendor's BYE in the dialog its 2xx (with To tag `tag`) to `b1` made.
fn vendor_bye(b1: &str, tag: &str) -> String {
    let m = parsed(b1);
    format!(
        "BYE sip:2125550001@203.0.113.5:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKv9\r\nMax-Forwards: 70\r\nFrom: <sip:x@198.51.100.1>;tag={tag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        m.header(HeaderName::From).unwrap().value_str().unwrap(),
        m.call_id().unwrap()
    )
}

#[test]
fn a_late_offer_call_ended_before_the_callers_ack_answers_the_offer_in_our_ack() {
    // The caller's INVITE has no SDP; the vendor's 200 offers; the caller
    // hangs up before its ACK (lost) arrives: our ACK answers the offer,
    // rejecting its stream (RFC 3261 §13.2.2.4, RFC 3264 §6), then the BYE.
    let mut bed = Bed::new("");
    let late = invite("a-late@x")
        .replace("Content-Type: application/sdp\r\n", "")
        .replace(&format!("Content-Length: {}\r\n\r\n{SDP_A}", SDP_A.len()), "Content-Length: 0\r\n\r\n");
    bed.feed(&late, CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    assert!(!b1.contains("m=audio"), "a late offer stays late");
    bed.feed(&answer(&b1, 200, "lo", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("BYE", "a-late@x", 11, "z9hG4bKlb", Some(&our_tag)), CUSTOMER);
    let out = bed.take(V1);
    assert!(out.len() == 2 && out[1].starts_with("BYE "), "{out:#?}");
    let ack = parsed(&out[0]);
    assert_eq!(ack.method(), Some(sip::Method::Ack));
    let body = std::str::from_utf8(ack.body()).unwrap();
    assert!(body.contains("\r\nm=audio 0 RTP/AVP 0\r\n") && !body.contains("5000"), "{body}");
    bed.take_one(CUSTOMER, "SIP/2.0 200"); // to the BYE
    // An early-offer call's ACK of ours has no body: there is nothing to answer.
    bed.feed(&invite("a-early@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "eo", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("BYE", "a-early@x", 11, "z9hG4bKeb", Some(&our_tag)), CUSTOMER);
    let ack = bed.take(V1).into_iter().find(|m| m.starts_with("ACK ")).unwrap();
    assert!(parsed(&ack).body().is_empty(), "{ack}");
}

#[test]
fn our_bye_to_the_caller_waits_for_its_ack_and_the_vendor_gets_one_ack() {
    // RFC 3261 §15: no BYE on a dialog whose 2xx has no ACK yet. The vendor
    // hangs up at once: the caller's BYE waits for its ACK, which is relayed.
    let mut bed = Bed::new("");
    bed.feed(&invite("a-w1@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "c1", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&vendor_bye(&b1, "c1"), V1);
    bed.take_one(V1, "SIP/2.0 200");
    bed.advance(600);
    assert!(!bed.take(CUSTOMER).iter().any(|m| m.starts_with("BYE ")), "no BYE before the ACK");
    bed.feed(&a_request("ACK", "a-w1@x", 10, "z9hG4bKa1", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "ACK sip:gw@198.51.100.1:5060");
    bed.take_one(CUSTOMER, "BYE ");
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::Callee));
    // Shut down before the caller's ACK: the vendor gets our ACK (to its
    // Contact) and BYE at once; the caller its BYE after its ACK, which is
    // not relayed a second time.
    bed.feed(&invite("a-w2@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "c2", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.core.hangup_all(bed.now);
    bed.collect();
    let out = bed.take(V1);
    assert!(out.len() == 2 && out[1].starts_with("BYE "), "{out:#?}");
    assert!(out[0].starts_with("ACK sip:gw@198.51.100.1:5060 ") && to_tag(&out[0]) == "c2", "{}", out[0]);
    assert!(!bed.take(CUSTOMER).iter().any(|m| m.starts_with("BYE ")), "no BYE before the ACK");
    bed.feed(&a_request("ACK", "a-w2@x", 10, "z9hG4bKa2", Some(&our_tag)), CUSTOMER);
    assert!(bed.take(V1).is_empty(), "one ACK per 2xx");
    bed.take_one(CUSTOMER, "BYE ");
    // A caller that never ACKs gets the BYE when the 2xx times out (64·T1).
    bed.feed(&invite("a-w3@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "c3", Some(SDP_B)), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.feed(&vendor_bye(&b1, "c3"), V1);
    let byes = |bed: &mut Bed| {
        bed.take(CUSTOMER).iter().filter(|m| m.starts_with("BYE ") && m.contains("Call-ID: a-w3@x")).count()
    };
    bed.advance(31_000);
    assert_eq!(byes(&mut bed), 0, "no BYE before the 2xx times out");
    bed.advance(2_000);
    assert!(byes(&mut bed) >= 1, "the BYE (and its repeat at T1)");
}

#[test]
fn callee_hangs_up() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-6@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "c1", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", "a-6@x", 10, "z9hG4bKa9", Some(&our_tag)), CUSTOMER);
    bed.take(V1);
    bed.feed(&vendor_bye(&b1, "c1"), V1);
    bed.take_one(V1, "SIP/2.0 200");
    let bye_a = bed.take_one(CUSTOMER, "BYE sip:alice@192.0.2.10:5060");
    let b = parsed(&bye_a);
    assert_eq!(b.from().unwrap().tag, Some(our_tag.as_str()));
    assert_eq!(b.to().unwrap().tag, Some("at1"));
    assert_eq!(b.call_id().unwrap(), "a-6@x");
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::Callee));
}

#[test]
fn an_answered_call_is_hung_up_at_max_call_duration() {
    // The shard gets to the timer 8 ms late, its wall clock moving with it
    // or not (read apart from the timers' clock): the CDR ends at the limit.
    for (sip, limit_s, wall_ms) in [("max_call_duration = 60", 60, 9), ("", 7200, 0)] {
        let mut bed = Bed::new(sip);
        let (_, our_tag) = answered(&mut bed, "a-cut@x");
        bed.advance(limit_s * 1000 - 1);
        assert!(
            bed.take(V1).is_empty() && bed.take(CUSTOMER).is_empty(),
            "{sip:?}: nothing before the limit"
        );
        assert_eq!((bed.core.active_calls(), bed.core.stats().calls_cut), (1, 0));
        (bed.now.ms, bed.now.unix_ms) = (bed.now.ms + 9, bed.now.unix_ms + wall_ms);
        bed.core.handle_timeout(bed.now);
        bed.collect();
        bed.take_one(V1, "BYE ");
        let bye_a = bed.take_one(CUSTOMER, "BYE ");
        assert_eq!(parsed(&bye_a).from().unwrap().tag, Some(our_tag.as_str()));
        let cdrs = bed.cdrs();
        assert_eq!(cdrs.len(), 1, "{sip:?}");
        let cdr = &cdrs[0];
        assert_eq!((cdr.final_code, cdr.hangup), (200, Some(HangUp::System)));
        assert_eq!(cdr.end_ms - cdr.answer_ms.unwrap(), limit_s as i64 * 1000, "billed up to the limit");
        assert_eq!(bed.core.stats().calls_cut, 1);
    }
}

#[test]
fn a_call_that_ends_leaves_no_max_call_duration_timer_behind() {
    let mut bed = Bed::new(""); // the default limit, 7200 s
    let (b1, _) = answered(&mut bed, "a-held@x");
    bed.advance(60_000); // a minute's talk: the call's transactions are long over
    bed.feed(&vendor_bye(&b1, "c1"), V1);
    let bye_a = bed.take_one(CUSTOMER, "BYE ");
    bed.feed(&answer(&bye_a, 200, "at1", None), CUSTOMER);
    bed.advance(40_000);
    assert_eq!((bed.core.held_calls(), bed.core.ended_call_ids()), (0, 0));
    // A wheel key would stay two hours (and each call of a busy day would add one).
    assert!(bed.core.talk_limits.is_empty() && bed.core.wheel.is_empty(), "{:?}", bed.core.talk_limits);
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::Callee));
}

#[test]
fn max_call_duration_zero_never_cuts_a_call() {
    let mut bed = Bed::new("max_call_duration = 0");
    let (b1, _) = answered(&mut bed, "a-long@x");
    bed.advance(30 * 86_400 * 1000);
    assert!(bed.take(V1).is_empty() && bed.take(CUSTOMER).is_empty());
    assert_eq!(bed.core.active_calls(), 1);
    bed.feed(&vendor_bye(&b1, "c1"), V1);
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::Callee));
}

#[test]
fn vendor_legs_leave_by_the_shards_own_port() {
    let mut bed = Bed::new("").with_vendor_port(5071);
    bed.feed(&invite("a-v@x"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    assert!(bed.take(V1).is_empty(), "nothing to the vendor by the shared socket");
    let b_inv = bed.take_vendor(V1).remove(0);
    let m = parsed(&b_inv);
    assert_eq!(m.top_via().unwrap().port, Some(5071), "{b_inv}");
    assert!(b_inv.contains("Contact: <sip:203.0.113.5:5071>"), "{b_inv}");
    bed.feed(&answer(&b_inv, 200, "bt1", Some(SDP_B)), V1);
    let ok = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(ok.contains("Contact: <sip:203.0.113.5:5060>"), "the caller sees the shared port: {ok}");
    let our_tag = to_tag(&ok);
    bed.feed(&a_request("ACK", "a-v@x", 10, "z9hG4bKa2", Some(&our_tag)), CUSTOMER);
    let ack = bed.take_vendor(V1);
    assert!(ack.len() == 1 && ack[0].starts_with("ACK ") && ack[0].contains("203.0.113.5:5071"), "{ack:?}");
    let bye = format!(
        "BYE sip:x@203.0.113.5:5071 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKv9\r\nMax-Forwards: 70\r\nFrom: <sip:x@198.51.100.1>;tag=bt1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        m.header(HeaderName::From).unwrap().value_str().unwrap(),
        m.call_id().unwrap()
    );
    bed.feed(&bye, V1);
    let answered = bed.take_vendor(V1);
    assert!(answered.len() == 1 && answered[0].starts_with("SIP/2.0 200"), "{answered:?}");
    let bye_a = bed.take_one(CUSTOMER, "BYE ");
    assert_eq!(parsed(&bye_a).top_via().unwrap().port, Some(5060), "{bye_a}");
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::Callee));
}

#[test]
fn vendor_port_carries_retransmissions_cancel_and_the_ack_of_a_failure() {
    let mut bed = Bed::new("").with_vendor_port(5071);
    bed.feed(&invite("a-vc@x"), CUSTOMER);
    let b1 = bed.take_vendor(V1).remove(0);
    bed.advance(600); // timer A
    let again = bed.take_vendor(V1);
    assert!(again.len() == 1 && again[0] == b1, "the INVITE is retransmitted by the vendor port");
    bed.feed(&answer(&b1, 180, "r1", None), V1);
    bed.feed(&a_request("CANCEL", "a-vc@x", 10, "z9hG4bKa1", None), CUSTOMER);
    let to_a = bed.take(CUSTOMER);
    assert!(to_a.iter().any(|m| m.starts_with("SIP/2.0 200") && m.contains("CANCEL")), "{to_a:?}");
    assert!(bed.take(V1).is_empty(), "nothing to the vendor by the shared socket");
    let c = bed.take_vendor(V1).remove(0);
    assert!(c.starts_with("CANCEL ") && parsed(&c).top_via().unwrap().port == Some(5071), "{c}");
    bed.feed(&answer(&b1, 487, "r1", None), V1);
    let ack = bed.take_vendor(V1);
    assert!(ack.len() == 1 && ack[0].starts_with("ACK "), "{ack:?}");
    assert_eq!(parsed(&ack[0]).top_via().unwrap().port, Some(5071));
    // A BYE for a call that has ended, to our Call-ID: the 481 leaves by the vendor port too.
    let stale = b1.replacen("INVITE", "BYE", 1).replace("CSeq: 1 INVITE", "CSeq: 2 BYE");
    bed.advance(40_000);
    bed.take_vendor(V1);
    bed.feed(&stale, V1);
    let r = bed.take_vendor(V1);
    assert!(r.len() == 1 && r[0].starts_with("SIP/2.0 481"), "{r:?}");
}

/// A call refused for want of a vendor still says in its CDR what was routed
/// and what the customer would have paid (cdr.md, columns 9 and 13).
#[test]
fn a_refused_calls_cdr_has_the_routed_number_and_the_customer_rate() {
    let decks = [("cust.csv", "1,0.02,6,6\n44,0.15,60,60\n"), ("v.csv", "1,0.01,6,6\n")];
    let mut bed = Bed::with(&config(""), &decks, None);
    bed.feed(&invite("r-1@x").replace("+1-212-555-1212", "4420"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 404");
    let cdr = bed.cdrs().remove(0);
    assert_eq!((cdr.final_code, cdr.routed.as_str()), (404, "4420"));
    let (rate, initial, increment) = cdr.customer_rate.expect("the customer's deck rates 44");
    assert_eq!((rate.to_string(), initial, increment), ("0.15".to_owned(), 60, 60));
}

#[test]
fn refusals() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-7@x"), "203.0.113.99:5060");
    bed.take_one("203.0.113.99:5060", "SIP/2.0 403");
    assert!(bed.cdrs().is_empty(), "no CDR for strangers");
    bed.feed(&invite("a-8@x").replace("+1-212-555-1212", "4420"), CUSTOMER);
    let not_found = bed.take_one(CUSTOMER, "SIP/2.0 404");
    assert_eq!(bed.cdrs()[0].final_code, 404);
    // Our 404 was lost: the INVITE again gets the same 404, and no second CDR.
    bed.feed(&invite("a-8@x").replace("+1-212-555-1212", "4420"), CUSTOMER);
    assert_eq!(bed.take_one(CUSTOMER, "SIP/2.0 404"), not_found);
    assert!(bed.cdrs().is_empty(), "one CDR per call");
    // Its CANCEL is not a copy of it.
    bed.feed(&a_request("CANCEL", "a-8@x", 10, "z9hG4bKa1", None), CUSTOMER);
    assert!(bed.take(CUSTOMER).iter().all(|m| !m.starts_with("SIP/2.0 404")));
    bed.feed(&invite("a-9@x").replace("CSeq: 10 INVITE", "CSeq: 10 BYE"), CUSTOMER);
    let bad = bed.take_one(CUSTOMER, "SIP/2.0 400 CSeq Method Mismatch");
    assert!(bad.contains("Call-ID: a-9@x"));
    bed.feed("garbage\r\n\r\n", CUSTOMER);
    assert!(bed.take(CUSTOMER).is_empty());
    assert_eq!(bed.core.stats().parse_errors, 2);
    // Keep-alives (RFC 5626's CRLF ping, NULs, an empty datagram): no answer, no parse error.
    for keepalive in ["\r\n\r\n", "\r\n", "\0\0\0\0", "", " \t\r\n"] {
        bed.feed(keepalive, CUSTOMER);
    }
    assert!(bed.take(CUSTOMER).is_empty());
    assert_eq!((bed.core.stats().parse_errors, bed.core.stats().keepalives), (2, 5));
    bed.feed(&invite("a-10@x").replace("Max-Forwards: 70", "Max-Forwards: 0"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 483");
    bed.feed(&a_request("BYE", "nope@x", 2, "z9hG4bKb", Some("t")), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 481");
    bed.feed(&a_request("OPTIONS", "ping@x", 1, "z9hG4bKo", None), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.core.set_draining();
    bed.feed(&invite("a-11@x"), CUSTOMER);
    assert!(bed.take_one(CUSTOMER, "SIP/2.0 503").contains("\r\nRetry-After: 30\r\n"), "shutting down");
}

#[test]
fn a_merged_invite_gets_482_and_a_retransmission_does_not() {
    // RFC 3261 §8.2.2.2: same Call-ID, From tag and CSeq, no To tag, another branch.
    let mut bed = Bed::new("");
    bed.feed(&invite("a-m@x"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let b1 = bed.take_one(V1, "INVITE ");
    let looped = invite("a-m@x").replace("branch=z9hG4bKa1", "branch=z9hG4bKloop");
    bed.feed(&looped, CUSTOMER);
    let refused = bed.take_one(CUSTOMER, "SIP/2.0 482");
    assert!(refused.contains("branch=z9hG4bKloop"), "{refused}");
    assert!(!to_tag(&refused).is_empty(), "a tag of its own (RFC 3261 §8.2.6.2)");
    assert!(bed.take(V1).is_empty(), "no second B-leg");
    // Another CSeq: a new INVITE while the call holds the Call-ID (§14.2).
    let newer =
        invite("a-m@x").replace("CSeq: 10 INVITE", "CSeq: 11 INVITE").replace("z9hG4bKa1", "z9hG4bKnew");
    bed.feed(&newer, CUSTOMER);
    let busy = bed.take_one(CUSTOMER, "SIP/2.0 500");
    assert!(busy.contains("Retry-After: 5"), "{busy}");
    assert!(bed.take(V1).is_empty(), "no second B-leg");
    // A lower CSeq: a late copy of an older request, absorbed.
    let older =
        invite("a-m@x").replace("CSeq: 10 INVITE", "CSeq: 9 INVITE").replace("z9hG4bKa1", "z9hG4bKold");
    bed.feed(&older, CUSTOMER);
    assert!(bed.take(CUSTOMER).is_empty() && bed.take(V1).is_empty());
    bed.feed(&invite("a-m@x"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    // RFC 2543 peers (no magic cookie) are not compared: absorbed as before.
    bed.feed(&invite("a-m@x").replace("branch=z9hG4bKa1", "branch=old1"), CUSTOMER);
    assert!(bed.take(CUSTOMER).iter().all(|m| !m.starts_with("SIP/2.0 482")));

    // After the end, from the tombs: the same answers.
    bed.feed(&answer(&b1, 486, "bt", None), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 486");
    bed.feed(&a_request("ACK", "a-m@x", 10, "z9hG4bKa1", Some("x")), CUSTOMER);
    assert_eq!((bed.core.held_calls(), bed.core.ended_call_ids()), (0, 2));
    bed.feed(&invite("a-m@x"), CUSTOMER);
    assert!(bed.take(CUSTOMER).is_empty(), "the INVITE again is absorbed");
    bed.feed(&looped, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 482");
    assert!(bed.take(V1).iter().all(|m| !m.starts_with("INVITE ")), "no new call for a merged copy");
    bed.feed(&older, CUSTOMER);
    assert!(bed.take(CUSTOMER).is_empty() && bed.take(V1).is_empty(), "a stale copy starts nothing");
    // A retry with a higher CSeq after a call that failed (no dialog) is a new call.
    bed.feed(&newer, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    bed.take_one(V1, "INVITE ");
    assert_eq!(bed.core.held_calls(), 1);
}

/// The caller's retry after a failure (RFC 3261 §8.1.3.5: CSeq + 1, same
/// Call-ID and From tag) whose ACK was lost: the retry shows the caller has
/// the final answer, so it stands in for the ACK and is a new call, not a 500.
#[test]
fn a_retry_whose_ack_was_lost_is_a_new_call() {
    let mut bed = Bed::new("");
    let b1 = ring_and_fail(&mut bed, 486);
    let busy = bed.take_one(CUSTOMER, "SIP/2.0 486");
    assert_eq!(bed.core.held_calls(), 1, "waiting for the caller's ACK");
    let retry =
        invite("a-2@x").replace("CSeq: 10 INVITE", "CSeq: 11 INVITE").replace("z9hG4bKa1", "z9hG4bKre");
    bed.feed(&retry, CUSTOMER);
    let out = bed.take(CUSTOMER);
    assert!(out.iter().any(|m| m.starts_with("SIP/2.0 100") && m.contains("CSeq: 11 INVITE")), "{out:#?}");
    assert!(out.iter().all(|m| !m.starts_with("SIP/2.0 500")), "{out:#?}");
    let b3 = bed.take_one(V1, "INVITE ");
    assert_ne!(parsed(&b3).call_id().unwrap(), parsed(&b1).call_id().unwrap(), "a new B-leg");
    assert_eq!(bed.core.held_calls(), 1, "the failed call gave way to the new one");
    // The first call's 486 is no longer repeated, and its late ACK starts nothing.
    bed.advance(4_000);
    assert!(bed.take(CUSTOMER).iter().all(|m| !m.starts_with("SIP/2.0 486")));
    let _ = bed.take(V1); // the new B-leg INVITE's Timer A copies
    let late_ack = a_request("ACK", "a-2@x", 10, "z9hG4bKa1", Some(&to_tag(&busy)));
    bed.feed(&late_ack, CUSTOMER);
    assert!(bed.take(V1).is_empty() && bed.take(CUSTOMER).is_empty(), "the late ACK is absorbed");
    assert_eq!(bed.cdrs().len(), 1, "the first call's CDR");
}

#[test]
fn our_own_b_leg_invite_come_back_gets_482_and_is_never_relayed() {
    // A vendor that routes the call back to us: our B-leg INVITE, our Call-ID, no To tag.
    let mut bed = Bed::new("");
    bed.feed(&invite("a-l@x"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let b1 = bed.take_one(V1, "INVITE ");
    let looped = b1.replacen("Via: ", "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKv1\r\nVia: ", 1);
    bed.feed(&looped, V1);
    bed.take_one(V1, "SIP/2.0 482");
    assert!(bed.take(CUSTOMER).is_empty() && bed.take(V1).is_empty(), "no new leg, nothing relayed");
    bed.feed(&answer(&b1, 200, "bt", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", "a-l@x", 10, "z9hG4bKa2", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "ACK ");
    bed.feed(&looped, V1);
    bed.take_one(V1, "SIP/2.0 482");
    assert!(bed.take(CUSTOMER).is_empty(), "not relayed to the caller as a re-INVITE");
}

#[test]
fn the_ack_of_a_482_is_not_the_callers_ack() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-k@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "bt", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&invite("a-k@x").replace("z9hG4bKa1", "z9hG4bKloop"), CUSTOMER);
    let refused = bed.take_one(CUSTOMER, "SIP/2.0 482");
    bed.feed(&a_request("ACK", "a-k@x", 10, "z9hG4bKloop", Some(&to_tag(&refused))), CUSTOMER);
    assert!(bed.take(V1).is_empty(), "not relayed to the vendor");
    bed.advance(600);
    bed.take_one(CUSTOMER, "SIP/2.0 200"); // still retransmitted: the caller has not ACKed
    bed.feed(&a_request("ACK", "a-k@x", 10, "z9hG4bKa2", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "ACK ");
}

#[test]
fn retransmissions_are_absorbed() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-12@x"), CUSTOMER);
    bed.take(CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&invite("a-12@x"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    assert!(bed.take(V1).is_empty(), "no second B-leg for a retransmitted INVITE");
    bed.feed(&answer(&b1, 200, "r", Some(SDP_B)), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    // No ACK yet: the 200 is retransmitted to the caller at T1, 2·T1, ...
    bed.advance(600);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    let copies = bed.core.stats().retransmissions;
    bed.feed(&answer(&b1, 200, "r", Some(SDP_B)), V1);
    assert!(bed.take(CUSTOMER).is_empty() && bed.take(V1).is_empty());
    assert_eq!(bed.core.stats().retransmissions, copies + 1, "the vendor's 2xx copy is counted");
    // The caller never ACKs: after 64·T1 both legs are hung up, the vendor's
    // 2xx ACKed first (§13.2.2.4, §15), and copies of it get that ACK again.
    bed.advance(33_000);
    let to_vendor: Vec<String> = bed.take(V1).into_iter().filter(|m| !m.starts_with("SIP/")).collect();
    let methods: Vec<&str> = to_vendor.iter().map(|m| &m[..4]).collect();
    assert_eq!(methods[..2], ["ACK ", "BYE "], "{to_vendor:?}");
    assert!(to_vendor[0].contains("CSeq: 1 ACK") && to_tag(&to_vendor[0]) == "r", "{}", to_vendor[0]);
    assert!(bed.take(CUSTOMER).iter().any(|m| m.starts_with("BYE ")));
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::System));
    let copies = bed.core.stats().retransmissions;
    bed.feed(&answer(&b1, 200, "r", Some(SDP_B)), V1);
    assert_eq!(bed.take_one(V1, "ACK "), to_vendor[0], "the same ACK again");
    assert_eq!(bed.core.stats().retransmissions, copies + 1, "counted");
}

#[test]
fn a_caller_who_hangs_up_before_its_ack_arrives_gets_no_more_2xx_and_the_vendor_an_ack_first() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-nack@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "na", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    // The caller's ACK is lost; its BYE arrives.
    bed.feed(&a_request("BYE", "a-nack@x", 11, "z9hG4bKnb", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    let out = bed.take(V1);
    assert!(out.len() == 2 && out[0].starts_with("ACK ") && out[1].starts_with("BYE "), "{out:?}");
    assert!(out[0].contains("CSeq: 1 ACK") && to_tag(&out[0]) == "na", "{}", out[0]);
    // Its BYE showed the caller got our 2xx: not sent again.
    bed.advance(8_000);
    assert!(!bed.take(CUSTOMER).iter().any(|m| m.starts_with("SIP/2.0 200")), "no 2xx after the BYE");
    // The vendor repeats its 2xx (it saw no ACK yet): the same ACK each time.
    bed.feed(&answer(&b1, 200, "na", Some(SDP_B)), V1);
    assert_eq!(bed.take_one(V1, "ACK "), out[0]);
    assert_eq!(bed.cdrs()[0].hangup, Some(HangUp::Caller));
}

#[test]
fn reinvite_is_relayed_both_ways() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-13@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "rv", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", "a-13@x", 10, "z9hG4bKk1", Some(&our_tag)), CUSTOMER);
    bed.take(V1);
    let reinv = a_request("INVITE", "a-13@x", 11, "z9hG4bKre", Some(&our_tag));
    bed.feed(&reinv, CUSTOMER);
    let out = bed.take_one(V1, "INVITE sip:gw@198.51.100.1:5060");
    assert!(out.contains("CSeq: 2 INVITE") && out.contains(";tag=rv"));
    bed.feed(&answer(&out, 200, "rv", Some(SDP_B)), V1);
    let ok = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(ok.contains("CSeq: 11 INVITE"));
    bed.feed(&a_request("ACK", "a-13@x", 11, "z9hG4bKk2", Some(&our_tag)), CUSTOMER);
    let ack = bed.take_one(V1, "ACK ");
    assert!(ack.contains("CSeq: 2 ACK"));
    let info = a_request("INFO", "a-13@x", 12, "z9hG4bKin", Some(&our_tag));
    bed.feed(&info, CUSTOMER);
    let out = bed.take_one(V1, "INFO ");
    bed.feed(&answer(&out, 200, "rv", None), V1);
    assert!(bed.take_one(CUSTOMER, "SIP/2.0 200").contains("CSeq: 12 INFO"));
}

#[test]
fn shutdown_hangs_up_everything_with_cdrs() {
    let mut bed = Bed::new("");
    bed.feed(&invite("a-14@x"), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "s", Some(SDP_B)), V1);
    bed.feed(&invite("a-15@x"), CUSTOMER);
    bed.take(CUSTOMER);
    bed.take(V1);
    bed.core.hangup_all(bed.now);
    bed.sent.extend(bed.core.poll_transmit());
    let to_v1 = bed.take(V1);
    assert!(to_v1.iter().any(|m| m.starts_with("BYE ")), "{to_v1:#?}");
    assert!(bed.take(CUSTOMER).iter().any(|m| m.starts_with("SIP/2.0 503")));
    assert_eq!(bed.cdrs().len(), 2);
    assert_eq!(bed.core.active_calls(), 0);
}

const LRN_SERVER: &str = "198.51.100.9:5060";

fn lrn_config(extra_source: &str) -> String {
    format!(
        r#"
[lrn]
ttl = 3600
negative_ttl = 600

[[lrn.source]]
name = "dip"
kind = "sip-redirect"
address = "{LRN_SERVER}"
timeout_ms = 300
{extra_source}

[[mapping_gateway]]
name = "cust"
addresses = ["192.0.2.10"]
rate_deck = "cust.csv"
rate_by_lrn = true

[[routing_gateway]]
name = "v1"
address = "{V1}"
rate_deck = "v1.csv"
priority = 1
lrn = "dip"

[[routing_gateway]]
name = "v2"
address = "{V2}"
rate_deck = "v2.csv"
priority = 2
lrn = "dip"
"#
    )
}

/// v1 rates New York (1212) only; v2 rates Los Angeles (1310) only: the LRN decides.
const LRN_DECKS: [(&str, &str); 3] = [
    ("cust.csv", "1212,0.02,6,6\n1310,0.03,6,6\n"),
    ("v1.csv", "1212,0.01,6,6\n"),
    ("v2.csv", "1310,0.015,6,6\n"),
];

fn lrn_bed(name: &str) -> (Bed, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("tandem-core-lrn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    (Bed::with(&lrn_config(""), &LRN_DECKS, Some(&path)), path)
}

fn redirect(dip: &str, contact_user: &str) -> String {
    let m = parsed(dip);
    let mut buf = bytes::BytesMut::new();
    sip::response_to(&mut buf, &m, 302, "Moved Temporarily", Some("lrn1"))
        .header("Contact", &format!("<sip:{contact_user}@lrn.example;user=phone>"))
        .finish();
    String::from_utf8(buf.to_vec()).unwrap()
}

#[test]
fn ported_number_routes_and_rates_on_the_lrn_with_rn_in_the_b_leg() {
    let (mut bed, cache) = lrn_bed("ported");
    bed.feed(&invite("l-1@x"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let dip = bed.take_one(LRN_SERVER, "INVITE sip:+12125551212@198.51.100.9:5060;user=phone SIP/2.0");
    assert!(bed.take(V1).is_empty() && bed.take(V2).is_empty(), "the call waits for the dip");
    bed.now.ms += 40;
    bed.feed(&redirect(&dip, "+12125551212;rn=+13105550000;npdi"), LRN_SERVER);
    bed.take_one(LRN_SERVER, "ACK sip:+12125551212@198.51.100.9:5060;user=phone");
    let b = bed.take_one(V2, "INVITE ");
    assert!(b.starts_with("INVITE sip:12125551212;rn=+13105550000;npdi@198.51.100.2:5060 SIP/2.0"), "{b}");
    assert!(bed.take(V1).is_empty(), "v1 has no rate for the LRN");
    bed.feed(&answer(&b, 486, "x", None), V2);
    let c = &bed.cdrs()[0];
    assert_eq!((c.lrn.as_str(), c.lrn_source.as_str(), c.dip_ms), ("3105550000", "dip:dip", Some(40)));
    assert_eq!(c.customer_rate.map(|r| r.0.to_string()), Some("0.03".into()), "rate_by_lrn");
    // The answer is cached: the next call to the number needs no dip.
    bed.feed(&invite("l-2@x"), CUSTOMER);
    assert!(bed.take(LRN_SERVER).is_empty(), "cache hit: no dip");
    assert!(bed.take_one(V2, "INVITE ").contains(";rn=+13105550000;npdi@"));
    assert_eq!(bed.core.stats().lrn_cache_hits, 1);
    assert_eq!((bed.core.stats().lrn_answers, bed.core.stats().lrn_answers_ported), (1, 1));
    // ... also after a restart (a new core on the same cache file).
    let (mut again, _) = (Bed::with(&lrn_config(""), &LRN_DECKS, Some(&cache)), ());
    again.feed(&invite("l-3@x"), CUSTOMER);
    assert!(again.take(LRN_SERVER).is_empty(), "the cache survives a restart");
    let _ = std::fs::remove_file(&cache);
}

#[test]
fn not_ported_gets_npdi_and_concurrent_calls_share_one_dip() {
    let (mut bed, cache) = lrn_bed("npdi");
    bed.feed(&invite("n-1@x"), CUSTOMER);
    bed.feed(&invite("n-2@x").replace("z9hG4bKa1", "z9hG4bKa2"), CUSTOMER);
    let dips = bed.take(LRN_SERVER);
    assert_eq!(dips.len(), 1, "one dip for two calls to the same number");
    assert_eq!(bed.core.stats().lrn_dips_shared, 1);
    bed.feed(&redirect(&dips[0], "+12125551212;npdi"), LRN_SERVER);
    let to_v1 = bed.take(V1);
    assert_eq!(to_v1.len(), 2, "both calls resume");
    assert_eq!((bed.core.stats().lrn_answers, bed.core.stats().lrn_answers_ported), (1, 0));
    assert!(
        to_v1.iter().all(|m| m.starts_with("INVITE sip:12125551212;npdi@198.51.100.1:5060 ")),
        "{to_v1:#?}"
    );
    let _ = std::fs::remove_file(&cache);
}

#[test]
fn failed_or_silent_dips_fall_back_to_the_dialed_number() {
    let (mut bed, cache) = lrn_bed("fail");
    bed.feed(&invite("f-1@x"), CUSTOMER);
    let dip = bed.take_one(LRN_SERVER, "INVITE ");
    let m = parsed(&dip);
    let mut buf = bytes::BytesMut::new();
    sip::response_to(&mut buf, &m, 404, "Not Found", Some("n")).finish();
    bed.feed(std::str::from_utf8(&buf).unwrap(), LRN_SERVER);
    bed.take_one(LRN_SERVER, "ACK ");
    let b = bed.take_one(V1, "INVITE sip:12125551212@198.51.100.1:5060 ");
    assert!(!b.contains("npdi"), "no dip answer, no RFC 4694 parameters");
    // Silence: the call goes on after timeout_ms (300) plus one timer tick, never later.
    bed.feed(&invite("f-2@x").replace("+1-212-555-1212", "+1-212-555-1313"), CUSTOMER);
    bed.take_one(LRN_SERVER, "INVITE sip:+12125551313@");
    bed.advance(290);
    assert!(bed.take(V1).is_empty());
    bed.advance(14);
    bed.take_one(V1, "INVITE sip:12125551313@");
    let retransmits = bed.take(LRN_SERVER);
    assert!(retransmits.iter().all(|m| m.starts_with("INVITE ")), "only retransmissions before the timeout");
    bed.advance(5_000);
    assert!(bed.take(LRN_SERVER).is_empty(), "a timed-out dip is abandoned");
    assert_eq!(bed.core.stats().lrn_fallbacks, 2);
    let _ = std::fs::remove_file(&cache);
}

#[test]
fn file_source_and_non_us_numbers() {
    let dir = std::env::temp_dir().join(format!("tandem-core-lrnfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lrn_csv = dir.join("lrn.csv");
    std::fs::write(&lrn_csv, "tn,lrn\n2125551212,3105550000\n").unwrap();
    let cfg = lrn_config(&format!(
        "\n[[lrn.source]]\nname = \"npac\"\nkind = \"file\"\npath = \"{}\"\n",
        lrn_csv.display()
    ))
    .replace("lrn = \"dip\"", "lrn = \"npac\"");
    let cache = dir.join("cache");
    let mut bed = Bed::with(&cfg, &LRN_DECKS, Some(&cache));
    bed.feed(&invite("file-1@x"), CUSTOMER);
    assert!(bed.take(LRN_SERVER).is_empty());
    assert!(bed.take_one(V2, "INVITE ").contains(";rn=+13105550000;npdi@"));
    assert_eq!(bed.cdrs().len(), 0);
    // A number that is not NANP is never looked up.
    bed.feed(&invite("intl-1@x").replace("+1-212-555-1212", "442079460000"), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 404");
    assert_eq!(bed.cdrs()[0].lrn_source, "none");
    let _ = std::fs::remove_dir_all(&dir);
}

fn options_bed(extra: &str) -> Bed {
    let mut bed = Bed::with_v1(&format!("options_ping = 2\noptions_timeout_ms = 500\n{extra}"));
    bed.core.start_options_checks(1, bed.now);
    bed
}

fn v1_online(bed: &Bed) -> bool {
    bed.core.router.snapshot().occupancy.online()[0]
}

#[test]
fn options_check_marks_a_gateway_offline_and_online() {
    let mut bed = options_bed("");
    bed.advance(1);
    let ping = bed.take_one(V1, "OPTIONS sip:198.51.100.1:5060 SIP/2.0");
    assert!(bed.take(V2).is_empty(), "v2 has no options_ping");
    // Any final answer is alive, even 405.
    bed.feed(&answer(&ping, 405, "gw", None), V1);
    assert!(v1_online(&bed));
    assert!(bed.core.poll_gateway_events().is_empty(), "no change: online from the start");
    // The next ping 2 s later goes unanswered: retransmitted (T1 = 500 ms), then offline at 500 ms.
    bed.advance(2_000);
    bed.take_one(V1, "OPTIONS ");
    bed.advance(499);
    assert!(v1_online(&bed));
    bed.advance(1);
    assert!(!v1_online(&bed), "no answer within options_timeout_ms");
    assert_eq!(bed.core.poll_gateway_events(), vec![("v1".to_owned(), false)]);
    assert!(bed.take(V1).iter().all(|m| m.starts_with("OPTIONS ")));
    // Offline: calls skip v1.
    bed.feed(&invite("opt-call@x"), CUSTOMER);
    bed.take_one(V2, "INVITE ");
    assert!(bed.take(V1).is_empty());
    // The next good answer brings it back.
    bed.advance(1_500);
    let ping = bed.take_one(V1, "OPTIONS ");
    bed.feed(&answer(&ping, 200, "gw", None), V1);
    assert!(v1_online(&bed));
    assert_eq!(bed.core.poll_gateway_events(), vec![("v1".to_owned(), true)]);
    assert_eq!(bed.core.metrics(bed.now).options_timeouts, 1);
}

#[test]
fn options_5xx_is_offline_only_when_configured() {
    for (extra, online) in [("", true), ("options_offline_on_5xx = true\n", false)] {
        let mut bed = options_bed(extra);
        bed.advance(1);
        let ping = bed.take_one(V1, "OPTIONS ");
        bed.feed(&answer(&ping, 503, "gw", None), V1);
        assert_eq!(v1_online(&bed), online, "{extra:?}");
    }
}

#[test]
fn a_failed_source_hands_the_number_to_the_next_in_the_gateways_list() {
    const BACKUP: &str = "198.51.100.10:5060";
    let backup = format!(
        "\n[[lrn.source]]\nname = \"backup\"\nkind = \"sip-redirect\"\naddress = \"{BACKUP}\"\ntimeout_ms = 200\n"
    );
    let cfg = lrn_config(&backup).replace("lrn = \"dip\"", "lrn = [\"dip\", \"backup\"]");
    let path = std::env::temp_dir().join(format!("tandem-core-lrn-chain-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut bed = Bed::with(&cfg, &LRN_DECKS, Some(&path));
    bed.feed(&invite("c-1@x"), CUSTOMER);
    bed.take_one(LRN_SERVER, "INVITE sip:+12125551212@");
    // The first source stays silent: after its 300 ms the second is asked, not the vendor.
    bed.advance(310);
    assert!(bed.take(V1).is_empty() && bed.take(V2).is_empty(), "still looking up");
    let dip = bed.take_one(BACKUP, "INVITE sip:+12125551212@198.51.100.10:5060;user=phone SIP/2.0");
    bed.now.ms += 20;
    bed.feed(&redirect(&dip, "+12125551212;rn=+13105550000;npdi"), BACKUP);
    let b = bed.take_one(V2, "INVITE ");
    assert!(b.contains(";rn=+13105550000;npdi@"), "{b}");
    bed.feed(&answer(&b, 486, "x", None), V2);
    let c = &bed.cdrs()[0];
    assert_eq!(c.lrn_source, "dip:backup");
    assert!(c.dip_ms.is_some_and(|ms| ms >= 320), "dip time counts from the first source: {:?}", c.dip_ms);
    assert_eq!((bed.core.stats().lrn_dips, bed.core.stats().lrn_fallbacks), (2, 0));
    // Both silent: the call routes on the dialed number after both timeouts.
    bed.feed(&invite("c-2@x").replace("+1-212-555-1212", "+1-212-555-1313"), CUSTOMER);
    bed.advance(302);
    bed.take_one(BACKUP, "INVITE sip:+12125551313@");
    bed.advance(190);
    assert!(bed.take(V1).is_empty());
    bed.advance(15);
    bed.take_one(V1, "INVITE sip:12125551313@");
    assert_eq!(bed.core.stats().lrn_fallbacks, 1);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_reload_during_a_lookup_keeps_the_calls_sources() {
    const BACKUP: &str = "198.51.100.10:5060";
    const OTHER: &str = "198.51.100.11:5060";
    let src = |name: &str, addr: &str| {
        format!(
            "\n[[lrn.source]]\nname = \"{name}\"\nkind = \"sip-redirect\"\naddress = \"{addr}\"\ntimeout_ms = 200\n"
        )
    };
    let with = |sources: String| lrn_config(&sources).replace("lrn = \"dip\"", "lrn = [\"dip\", \"backup\"]");
    let cfg_a = with(format!("{}{}", src("backup", BACKUP), src("other", OTHER)));
    // The same sources in another order: indices into the list change.
    let cfg_b = with(format!("{}{}", src("other", OTHER), src("backup", BACKUP)));
    let dir = std::env::temp_dir().join(format!("tandem-core-lrn-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, rows) in LRN_DECKS {
        std::fs::write(dir.join(name), format!("prefix,rate,initial,increment\n{rows}")).unwrap();
    }
    std::fs::write(dir.join("t.toml"), &cfg_a).unwrap();
    let router = Arc::new(Router::load(&dir.join("t.toml")).unwrap());
    let now = Now { ms: 1_000, unix_ms: 1_795_478_400_000 };
    let local = Local { host: "203.0.113.5".into(), port: 5060 };
    let mut bed = Bed {
        core: Core::new(0, local, Arc::clone(&router), 42, now),
        now,
        sent: Vec::new(),
        sent_vendor: Vec::new(),
    };
    bed.feed(&invite("r-1@x"), CUSTOMER);
    bed.take_one(LRN_SERVER, "INVITE ");
    std::fs::write(dir.join("t.toml"), &cfg_b).unwrap();
    router.reload().unwrap();
    bed.advance(310);
    assert!(bed.take(OTHER).is_empty(), "the gateway does not list `other`");
    bed.take_one(BACKUP, "INVITE sip:+12125551212@");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_required_extension_gets_420_listing_it_and_supported_alone_is_fine() {
    // RFC 4475 §3.3.5 (bext01): a UAS answers 420 with Unsupported listing the
    // Require tags; Proxy-Require is for proxies and is not listed.
    let mut bed = Bed::new("");
    let bext = "OPTIONS sip:kim@203.0.113.5 SIP/2.0\r\nTo: sip:kim@example.com\r\nFrom: sip:lee@example.net;tag=242etr\r\n\
        Max-Forwards: 6\r\nCall-ID: bext01.0ha0isndaksdj\r\nRequire: nothingSupportsThis, nothingSupportsThisEither\r\n\
        Proxy-Require: noProxiesSupportThis, norDoAnyProxiesSupportThis\r\nCSeq: 8 OPTIONS\r\n\
        Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKkdjuw\r\nContent-Length: 0\r\n\r\n";
    bed.feed(bext, CUSTOMER);
    let bad = bed.take_one(CUSTOMER, "SIP/2.0 420 Bad Extension");
    assert!(bad.contains("\r\nUnsupported: nothingSupportsThis, nothingSupportsThisEither\r\n"), "{bad}");
    assert!(!to_tag(&bad).is_empty(), "{bad}");
    // An INVITE that requires reliable provisionals (RFC 3262) starts no call.
    let needs_prack =
        invite("a-rq@x").replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: 100rel\r\n");
    bed.feed(&needs_prack, CUSTOMER);
    let bad = bed.take_one(CUSTOMER, "SIP/2.0 420");
    assert!(bad.contains("\r\nUnsupported: 100rel\r\n"), "{bad}");
    assert!(bed.take(V1).is_empty(), "no B-leg");
    bed.feed(&a_request("ACK", "a-rq@x", 10, "z9hG4bKa1", Some(&to_tag(&bad))), CUSTOMER);
    assert!(bed.take(CUSTOMER).is_empty() && bed.take(V1).is_empty(), "its ACK is absorbed");
    // Supported is only an offer: the call goes on.
    let offers =
        invite("a-sp@x").replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nSupported: 100rel, timer\r\n");
    bed.feed(&offers, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "c1", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    // In the dialog too: a re-INVITE that requires session timers is refused, not relayed,
    // even before the caller's ACK of the 200 arrived.
    let reinvite = a_request("INVITE", "a-sp@x", 11, "z9hG4bKre", Some(&our_tag))
        .replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: timer\r\n");
    bed.feed(&reinvite, CUSTOMER);
    let bad = bed.take_one(CUSTOMER, "SIP/2.0 420");
    assert!(bad.contains("\r\nUnsupported: timer\r\n") && to_tag(&bad) == our_tag, "{bad}");
    assert!(bed.take(V1).is_empty(), "not relayed");
    // The 420's ACK has the dialog's tag but the re-INVITE's CSeq: not the 200's ACK.
    bed.feed(&a_request("ACK", "a-sp@x", 11, "z9hG4bKre", Some(&our_tag)), CUSTOMER);
    assert!(bed.take(V1).is_empty(), "the 420's ACK is not relayed");
    bed.feed(&a_request("ACK", "a-sp@x", 10, "z9hG4bKa2", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "ACK ");
    // A BYE is never refused for its Require: the call ends.
    let bye = a_request("BYE", "a-sp@x", 12, "z9hG4bKby", Some(&our_tag))
        .replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: foo\r\n");
    bed.feed(&bye, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.take_one(V1, "BYE ");
    // Only the customer's INVITE is a call: counted, with a CDR; a stranger still gets 403.
    let cdrs = bed.cdrs();
    assert!(cdrs.iter().any(|c| c.a_call_id == "a-rq@x" && c.final_code == 420), "{cdrs:?}");
    bed.feed(&needs_prack.replace("a-rq@x", "a-rq2@x"), "203.0.113.99:5060");
    bed.take_one("203.0.113.99:5060", "SIP/2.0 403");
    // The method is checked before Require (RFC 3261 §8.2).
    let sub = a_request("SUBSCRIBE", "sub-rq@x", 1, "z9hG4bKsr", None)
        .replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: foo\r\n");
    bed.feed(&sub, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 405");
}

#[test]
fn stateless_answers_carry_a_to_tag_stable_across_retransmissions() {
    // RFC 3261 §8.2.6.2 and §8.2.7.
    let mut bed = Bed::new("");
    let stranger = "203.0.113.99:5060";
    bed.feed(&invite("a-st@x"), stranger);
    let first = bed.take_one(stranger, "SIP/2.0 403");
    bed.feed(&invite("a-st@x"), stranger);
    let again = bed.take_one(stranger, "SIP/2.0 403");
    assert!(!to_tag(&first).is_empty(), "{first}");
    assert_eq!(to_tag(&first), to_tag(&again), "a retransmission gets the same tag");
    bed.feed(&invite("a-st2@x"), stranger);
    assert_ne!(
        to_tag(&bed.take_one(stranger, "SIP/2.0 403")),
        to_tag(&first),
        "another request, another tag"
    );
    // 405 names what is allowed (§8.2.1); so does the 200 to OPTIONS (§11.2).
    bed.feed(&a_request("SUBSCRIBE", "sub@x", 1, "z9hG4bKs", None), CUSTOMER);
    let not_allowed = bed.take_one(CUSTOMER, "SIP/2.0 405");
    assert!(not_allowed.contains("\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO\r\n"));
    assert!(!to_tag(&not_allowed).is_empty());
    bed.feed(&a_request("OPTIONS", "ping@x", 1, "z9hG4bKo", None), CUSTOMER);
    let ok = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(ok.contains("\r\nAllow: INVITE,") && ok.contains("\r\nAccept: application/sdp\r\n"), "{ok}");
    // A method tandem does not know at all: 501 (§21.5.2), not 405.
    bed.feed(&a_request("NEWMETHOD", "new@x", 1, "z9hG4bKn", None), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 501 Not Implemented");
    // RFC 4475 §3.3.2 (unkscm): an unknown Request-URI scheme gets 416, whatever the method.
    let unkscm = a_request("OPTIONS", "unk@x", 1, "z9hG4bKu", None).replace(
        "OPTIONS sip:12125551212@203.0.113.5 SIP/2.0",
        "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0",
    );
    bed.feed(&unkscm, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 416");
    let reg = a_request("REGISTER", "unk-reg@x", 1, "z9hG4bKur", None)
        .replace("REGISTER sip:12125551212@203.0.113.5 SIP/2.0", "REGISTER tel:+12125551212 SIP/2.0");
    bed.feed(&reg, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 416");
    // A request refused by validation gets a To tag too, when its To is readable.
    let bad = invite("a-bad@x").replace("CSeq: 10 INVITE", "CSeq: 10 BYE");
    bed.feed(&bad, CUSTOMER);
    let refused = bed.take_one(CUSTOMER, "SIP/2.0 400");
    let to = refused.split("\r\n").find(|l| l.starts_with("To:")).unwrap_or_default();
    assert!(to.contains(";tag="), "{refused}");
}

#[test]
fn an_escaped_caller_stays_escaped_in_the_b_leg() {
    // RFC 4475 §3.1.1.3/§3.1.1.4: a decoded user written back as it is would
    // break the URI (%3E%3B closes it and adds a parameter; %00 is a NUL).
    let mut bed = Bed::new("");
    let a = invite("a-esc@x").replace("sip:2125550001@", "sip:21255%3E%3Bevil=1%00%20x@");
    bed.feed(&a, CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    let from = parsed(&b1).from_uri().unwrap().raw.to_owned();
    assert_eq!(from, "sip:21255%3E%3Bevil=1%00%20x@203.0.113.5", "{b1}");
    // The vendor's answer echoes that From; it must still parse and be relayed.
    bed.feed(&answer(&b1, 486, "v1", None), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 486");
    assert_eq!(bed.cdrs()[0].caller, "21255%3E%3Bevil=1%00%20x");
}

#[test]
fn requests_refused_for_their_start_line_or_framing_are_answered() {
    // RFC 4475 §3.1.2: the head of these reads; only the version, the
    // request line, a header line or Content-Length is wrong. Before, all were dropped.
    let mut bed = Bed::new("");
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip/invalid");
    for (file, status) in [
        ("badvers", "SIP/2.0 505 "),
        ("clerr", "SIP/2.0 400 "),
        ("ncl", "SIP/2.0 400 "),
        ("lwsruri", "SIP/2.0 400 "),
        ("lwsstart", "SIP/2.0 400 "),
        ("trws", "SIP/2.0 400 "),
        ("header-name-space", "SIP/2.0 400 Malformed Header Line"),
        ("header-no-colon", "SIP/2.0 400 Malformed Header Line"),
    ] {
        let text = std::fs::read_to_string(corpus.join(format!("{file}.sip"))).unwrap();
        let before = bed.core.stats().parse_errors;
        bed.feed(&text, CUSTOMER);
        assert_eq!(bed.core.stats().parse_errors, before + 1, "{file}: counted once");
        let answer = bed.take_one(CUSTOMER, status);
        let call_id = text.lines().find_map(|l| l.strip_prefix("Call-ID: ")).unwrap().trim();
        assert!(answer.contains(&format!("Call-ID: {call_id}\r\n")), "{file}: {answer}");
        assert!(bed.take(V1).is_empty(), "{file}: no call");
    }
    // Never a response, an ACK, or a head without what an answer copies.
    for text in [
        "SIP/7.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKr\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: r@x\r\nCSeq: 1 INVITE\r\n\r\n",
        "ACK sip:kim@example.com SIP/3.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: a@x\r\nCSeq: 1 ACK\r\n\r\n",
        "OPTIONS sip:kim@example.com SIP/3.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKo\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\n\r\n",
    ] {
        bed.feed(text, CUSTOMER);
        assert!(bed.take(CUSTOMER).is_empty(), "{text}");
    }
}

#[test]
fn a_second_dialog_from_a_forking_vendor_is_acked_and_hung_up_on_its_own_tag() {
    // RFC 3261 §13.2.2.4: every 2xx gets an ACK on its own dialog; a dialog
    // not kept gets a BYE. Before, it was ACKed with the kept dialog's tag.
    let mut bed = Bed::new("");
    let (b1, our_tag) = answered(&mut bed, "a-fork@x");
    let fork = answer(&b1, 200, "c2", Some(SDP_B));
    bed.feed(&fork, V1);
    let to_v1 = bed.take(V1);
    let ack2 = to_v1.iter().find(|m| m.starts_with("ACK ")).expect("ACK for the fork");
    let bye2 = to_v1.iter().find(|m| m.starts_with("BYE ")).expect("BYE for the fork");
    assert_eq!((to_tag(ack2), to_tag(bye2)), ("c2".to_owned(), "c2".to_owned()));
    assert_eq!(parsed(bye2).call_id().unwrap(), parsed(&b1).call_id().unwrap());
    assert!(bed.take(CUSTOMER).is_empty(), "the caller hears nothing of it");
    // Its copy: the same ACK, no second BYE; the kept dialog's copy still gets its own ACK.
    bed.feed(&fork, V1);
    assert_eq!(bed.take(V1), std::slice::from_ref(ack2));
    bed.feed(&answer(&b1, 200, "c1", Some(SDP_B)), V1);
    assert_eq!(to_tag(&bed.take_one(V1, "ACK ")), "c1");
    bed.feed(&answer(bye2, 200, "c2", None), V1);
    // The call goes on, on c1: the caller's BYE reaches that dialog.
    bed.feed(&a_request("BYE", "a-fork@x", 11, "z9hG4bKb2", Some(&our_tag)), CUSTOMER);
    let bye1 = bed.take_one(V1, "BYE ");
    assert_eq!(to_tag(&bye1), "c1");
}

/// An answered call `call_id`: (the B-leg INVITE, our To tag towards the caller).
fn answered(bed: &mut Bed, call_id: &str) -> (String, String) {
    bed.feed(&invite(call_id), CUSTOMER);
    let b1 = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&b1, 200, "c1", Some(SDP_B)), V1);
    let our_tag = to_tag(&bed.take_one(CUSTOMER, "SIP/2.0 200"));
    bed.feed(&a_request("ACK", call_id, 10, "z9hG4bKa9", Some(&our_tag)), CUSTOMER);
    assert_eq!(to_tag(&bed.take_one(V1, "ACK ")), "c1", "on the vendor's dialog");
    (b1, our_tag)
}

/// Outside a dialog: a method that lives only in one gets 481 (not a 405
/// whose Allow would list it), one tandem does not take 405, an unknown 501.
#[test]
fn dialog_only_methods_outside_a_dialog_get_481() {
    let mut bed = Bed::new("");
    for (method, status) in
        [("UPDATE", "481"), ("INFO", "481"), ("PRACK", "481"), ("SUBSCRIBE", "405"), ("FOO", "501")]
    {
        bed.feed(
            &a_request(method, &format!("out-{method}@x"), 1, &format!("z9hG4bKo{method}"), None),
            CUSTOMER,
        );
        bed.take_one(CUSTOMER, &format!("SIP/2.0 {status} "));
    }
}

#[test]
fn only_the_methods_tandem_relays_cross_a_dialog() {
    // A REFER written afresh would lose its Refer-To (and a NOTIFY its Event):
    // refused with 405 and Allow, unknown methods 501; the call goes on.
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-refer@x");
    for (method, status) in [("REFER", "405"), ("SUBSCRIBE", "405"), ("PRACK", "405"), ("FOO", "501")] {
        let req = a_request(method, "a-refer@x", 11, &format!("z9hG4bK{method}"), Some(&our_tag))
            .replace("Content-Length: 0\r\n", "Refer-To: <sip:x@192.0.2.99>\r\nContent-Length: 0\r\n");
        bed.feed(&req, CUSTOMER);
        let rsp = bed.take_one(CUSTOMER, &format!("SIP/2.0 {status}"));
        assert!(
            status != "405" || rsp.contains("\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n"),
            "{rsp}"
        );
        assert!(bed.take(V1).is_empty(), "{method} not relayed");
    }
    bed.feed(&a_request("INFO", "a-refer@x", 12, "z9hG4bKin", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "INFO ");
    assert!(bed.cdrs().is_empty(), "the call goes on");
}

#[test]
fn in_dialog_requests_need_the_dialogs_tags_and_a_rising_cseq() {
    // RFC 3261 §12.2.2: wrong tags → 481 (before, a BYE with any tags ended
    // the call); a lower CSeq → 500.
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-dlg@x");
    bed.feed(&a_request("BYE", "a-dlg@x", 11, "z9hG4bKw1", Some("wrongtag")), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 481");
    let wrong_from =
        a_request("BYE", "a-dlg@x", 11, "z9hG4bKw2", Some(&our_tag)).replace("tag=at1", "tag=other");
    bed.feed(&wrong_from, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 481");
    assert!(bed.take(V1).is_empty(), "the call is untouched");
    bed.feed(&a_request("INFO", "a-dlg@x", 20, "z9hG4bKi1", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "INFO ");
    bed.feed(&a_request("INFO", "a-dlg@x", 15, "z9hG4bKi2", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 500");
    assert!(bed.take(V1).is_empty(), "not relayed");
    bed.feed(&a_request("BYE", "a-dlg@x", 21, "z9hG4bKb1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.take_one(V1, "BYE ");
}

#[test]
fn a_relayed_reinvite_gets_100_its_ack_stops_the_2xx_and_refreshes_the_target() {
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-re@x");
    let reinvite = a_request("INVITE", "a-re@x", 11, "z9hG4bKre1", Some(&our_tag))
        .replace("Content-Length: 0\r\n", "Contact: <sip:moved@192.0.2.10:5070>\r\nContent-Length: 0\r\n");
    bed.feed(&reinvite, CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100"); // §17.2.1
    let relayed = bed.take_one(V1, "INVITE ");
    // A CANCEL of it while pending: 200 (§9.2); the re-INVITE runs its course.
    bed.feed(&a_request("CANCEL", "a-re@x", 11, "z9hG4bKre1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    let ok = answer(&relayed, 200, "c1", Some(SDP_B));
    bed.feed(&ok, V1);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.feed(&a_request("ACK", "a-re@x", 11, "z9hG4bKra", Some(&our_tag)), CUSTOMER);
    let ack = bed.take_one(V1, "ACK ");
    // The caller's ACK stopped our 2xx; a copy of the vendor's 2xx gets the same ACK.
    bed.advance(5_000);
    assert!(bed.take(CUSTOMER).is_empty(), "no 2xx after the ACK");
    bed.feed(&ok, V1);
    assert_eq!(bed.take(V1), [ack]);
    // The re-INVITE's Contact is the caller's target from now on.
    let info = vendor_request(&relayed, "INFO", 5, "z9hG4bKvi", "c1");
    bed.feed(&info, V1);
    let to_a = bed.take_one(CUSTOMER, "INFO ");
    assert!(to_a.starts_with("INFO sip:moved@192.0.2.10:5070 SIP/2.0"), "{to_a}");
}

#[test]
fn one_reinvite_at_a_time_and_glare_gets_491() {
    // RFC 3261 §14.2. Before, both re-INVITEs were relayed.
    let mut bed = Bed::new("");
    let (b1, our_tag) = answered(&mut bed, "a-gl@x");
    bed.feed(&a_request("INVITE", "a-gl@x", 11, "z9hG4bKg1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let relayed = bed.take_one(V1, "INVITE ");
    bed.feed(&a_request("INVITE", "a-gl@x", 12, "z9hG4bKg2", Some(&our_tag)), CUSTOMER);
    let busy = bed.take_one(CUSTOMER, "SIP/2.0 500");
    assert!(busy.contains("\r\nRetry-After: 2\r\n"), "{busy}");
    // The vendor's own re-INVITE crossing the caller's: 491.
    let glare = vendor_request(&b1, "INVITE", 7, "z9hG4bKvg", "c1");
    bed.feed(&glare, V1);
    bed.take_one(V1, "SIP/2.0 491");
    assert!(bed.take(CUSTOMER).is_empty() && bed.take(V1).is_empty(), "nothing relayed");
    // Once the first is answered, the next goes through.
    bed.feed(&answer(&relayed, 200, "c1", Some(SDP_B)), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.feed(&a_request("ACK", "a-gl@x", 11, "z9hG4bKga", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "ACK ");
    bed.feed(&a_request("INVITE", "a-gl@x", 13, "z9hG4bKg3", Some(&our_tag)), CUSTOMER);
    bed.take_one(V1, "INVITE ");
}

/// RFC 3261 §9: a caller CANCELs its re-INVITE. tandem cancels the relayed
/// one once the vendor has answered provisionally (not before, §9.1), with
/// its branch, Request-URI, To tag and CSeq number; the vendor's 200 to that
/// CANCEL is not taken for the re-INVITE's answer and stops its repeats; the
/// 487 is ACKed hop by hop and relayed; the call stays up. Before, the CANCEL
/// got its 200 and the re-INVITE ran on at the vendor.
#[test]
fn a_cancelled_reinvite_is_cancelled_on_the_other_leg_once_it_rang() {
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-rc@x");
    bed.feed(&a_request("INVITE", "a-rc@x", 11, "z9hG4bKrc1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let relayed = bed.take_one(V1, "INVITE ");
    bed.feed(&a_request("CANCEL", "a-rc@x", 11, "z9hG4bKrc1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(bed.take(V1).is_empty(), "no CANCEL before a provisional");
    bed.feed(&answer(&relayed, 180, "c1", None), V1);
    let cancel = bed.take_one(V1, "CANCEL ");
    assert!(bed.take(CUSTOMER).is_empty(), "cancelled: no ringing relayed");
    let (c, r) = (parsed(&cancel), parsed(&relayed));
    assert_eq!(c.top_via().unwrap().branch, r.top_via().unwrap().branch);
    let first_line = |m: &str| m.lines().next().unwrap_or_default().split(' ').nth(1).map(str::to_owned);
    assert_eq!(first_line(&cancel), first_line(&relayed), "the re-INVITE's Request-URI");
    assert_eq!((c.call_id().unwrap(), c.to().unwrap().tag), (r.call_id().unwrap(), Some("c1")));
    assert_eq!((c.cseq().unwrap().seq, c.cseq().unwrap().method), (r.cseq().unwrap().seq, Method::Cancel));
    bed.feed(&answer(&cancel, 200, "c1", None), V1);
    assert!(bed.take(CUSTOMER).is_empty(), "the CANCEL's 200 is not the re-INVITE's");
    bed.advance(5_000);
    assert!(bed.take(V1).is_empty(), "the CANCEL was answered: no repeats");
    bed.feed(&answer(&relayed, 487, "c1", None), V1);
    let ack = bed.take_one(V1, "ACK ");
    assert_eq!(parsed(&ack).top_via().unwrap().branch, r.top_via().unwrap().branch, "the 487's ACK");
    bed.take_one(CUSTOMER, "SIP/2.0 487");
    // Our 200 to its CANCEL was lost: the CANCEL again gets 200 (§9.2), not 481, and no second CANCEL.
    bed.feed(&a_request("CANCEL", "a-rc@x", 11, "z9hG4bKrc1", Some(&our_tag)), CUSTOMER);
    assert!(bed.take_one(CUSTOMER, "SIP/2.0 200").contains("CSeq: 11 CANCEL"));
    bed.feed(&a_request("ACK", "a-rc@x", 11, "z9hG4bKrc1", Some(&our_tag)), CUSTOMER);
    assert!(bed.take(V1).is_empty(), "the ACK of a 487 stays with tandem, no second CANCEL");
    bed.feed(&a_request("BYE", "a-rc@x", 12, "z9hG4bKrcb", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.take_one(V1, "BYE ");
}

/// The same the other way: the vendor cancels its re-INVITE to the caller,
/// who had answered 100; an unanswered CANCEL is repeated (Timer E).
#[test]
fn a_vendors_cancelled_reinvite_is_cancelled_towards_the_caller() {
    let mut bed = Bed::new("");
    let (b1, _) = answered(&mut bed, "a-vrc@x");
    let from_vendor = |method: &str| vendor_request(&b1, method, 7, "z9hG4bKvrc", "c1");
    bed.feed(&from_vendor("INVITE"), V1);
    let to_caller = bed.take_one(CUSTOMER, "INVITE ");
    bed.feed(&answer(&to_caller, 100, "at1", None), CUSTOMER);
    bed.feed(&from_vendor("CANCEL"), V1);
    bed.take_one(V1, "SIP/2.0 200");
    let cancel = bed.take_one(CUSTOMER, "CANCEL ");
    assert_eq!(parsed(&cancel).top_via().unwrap().branch, parsed(&to_caller).top_via().unwrap().branch);
    bed.advance(600);
    assert_eq!(bed.take_one(CUSTOMER, "CANCEL "), cancel, "repeated until answered");
    bed.feed(&answer(&cancel, 200, "at1", None), CUSTOMER);
    assert!(bed.take(V1).is_empty(), "the caller's 200 to our CANCEL stays with tandem");
    bed.feed(&answer(&to_caller, 487, "at1", None), CUSTOMER);
    bed.take_one(CUSTOMER, "ACK ");
    let to_vendor = bed.take(V1);
    assert!(to_vendor.len() == 1 && to_vendor[0].starts_with("SIP/2.0 487"), "{to_vendor:#?}");
    assert!(to_vendor[0].contains("CSeq: 7 INVITE"), "{to_vendor:#?}");
}

/// A cancelled re-INVITE the other side never answers finally counts as
/// cancelled 64·T1 after the CANCEL (§9.1): 487 to its requester, and the
/// call stays up (an unanswered one that was not cancelled gets 408 and
/// ends the call: `an_in_dialog_request_answered_481_or_never_ends_the_call`).
#[test]
fn a_cancelled_reinvite_never_answered_gets_487_and_the_call_stays() {
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-rt@x");
    bed.feed(&a_request("INVITE", "a-rt@x", 11, "z9hG4bKrt1", Some(&our_tag)), CUSTOMER);
    let relayed = bed.take_one(V1, "INVITE ");
    bed.feed(&answer(&relayed, 183, "c1", None), V1);
    bed.take_one(CUSTOMER, "SIP/2.0 183");
    bed.advance(20_000);
    bed.feed(&a_request("CANCEL", "a-rt@x", 11, "z9hG4bKrt1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    let cancel = bed.take_one(V1, "CANCEL ");
    bed.feed(&answer(&cancel, 200, "c1", None), V1);
    bed.advance(31_000);
    assert!(bed.take(CUSTOMER).is_empty(), "64·T1 counts from the CANCEL, not from the re-INVITE");
    bed.advance(2_000);
    let to_a = bed.take(CUSTOMER);
    assert!(!to_a.is_empty() && to_a.iter().all(|m| m.starts_with("SIP/2.0 487")), "{to_a:#?}");
    bed.feed(&a_request("ACK", "a-rt@x", 11, "z9hG4bKrt1", Some(&our_tag)), CUSTOMER);
    assert!(bed.take(V1).iter().all(|m| !m.starts_with("BYE ")), "the call stays up");
    bed.feed(&a_request("BYE", "a-rt@x", 12, "z9hG4bKrtb", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 200");
    bed.take_one(V1, "BYE ");
}

#[test]
fn a_bye_ends_a_pending_reinvite_with_487_and_its_late_2xx_reaches_no_one() {
    // RFC 3261 §15.1.2. Before, the re-INVITE was resent after the BYE and
    // its late 200 was relayed to the caller, whose dialog was over.
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-bp@x");
    bed.feed(&a_request("INVITE", "a-bp@x", 11, "z9hG4bKp1", Some(&our_tag)), CUSTOMER);
    bed.take_one(CUSTOMER, "SIP/2.0 100");
    let relayed = bed.take_one(V1, "INVITE ");
    bed.feed(&a_request("BYE", "a-bp@x", 12, "z9hG4bKp2", Some(&our_tag)), CUSTOMER);
    let to_a = bed.take(CUSTOMER);
    assert!(to_a.iter().any(|m| m.starts_with("SIP/2.0 487") && m.contains("CSeq: 11 INVITE")), "{to_a:#?}");
    assert!(to_a.iter().any(|m| m.starts_with("SIP/2.0 200") && m.contains("CSeq: 12 BYE")), "{to_a:#?}");
    bed.take_one(V1, "BYE ");
    bed.advance(2_000);
    assert!(bed.take(V1).iter().all(|m| !m.starts_with("INVITE ")), "the re-INVITE is not sent on");
    bed.feed(&answer(&relayed, 200, "c1", Some(SDP_B)), V1);
    bed.take_one(V1, "ACK ");
    assert!(bed.take(CUSTOMER).iter().all(|m| !m.starts_with("SIP/2.0 200")), "not relayed");
}

#[test]
fn the_answer_to_a_relayed_update_names_our_contact() {
    // RFC 3311: UPDATE refreshes the target, so its 2xx carries a Contact.
    let mut bed = Bed::new("");
    let (_, our_tag) = answered(&mut bed, "a-up@x");
    bed.feed(&a_request("UPDATE", "a-up@x", 11, "z9hG4bKu1", Some(&our_tag)), CUSTOMER);
    let relayed = bed.take_one(V1, "UPDATE ");
    bed.feed(&answer(&relayed, 200, "c1", None), V1);
    let ok = bed.take_one(CUSTOMER, "SIP/2.0 200");
    assert!(ok.contains("\r\nContact: <sip:203.0.113.5:5060>\r\n"), "{ok}");
}
