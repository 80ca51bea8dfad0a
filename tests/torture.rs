//! `tandem run` under bad and repeated input over real UDP on loopback: the
//! RFC 4475-style corpus of `tests/data/sip/` sent as datagrams, a storm of
//! retransmitted INVITEs, and a merged (looped) INVITE.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the test is the network and the clock

use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// Every datagram that reaches `sock` until it has been quiet for `quiet`
/// (at most `limit` in all).
fn drain(sock: &UdpSocket, quiet: Duration, limit: Duration) -> Vec<String> {
    sock.set_read_timeout(Some(quiet)).expect("timeout");
    let end = Instant::now() + limit;
    let mut buf = vec![0u8; 65_535];
    let mut got = Vec::new();
    while Instant::now() < end {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    got
}

fn corpus(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip").join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (p.file_name().expect("name").to_string_lossy().into_owned(), std::fs::read(&p).expect("read"))
        })
        .collect()
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn options(from: &UdpSocket, call_id: &str) -> String {
    let me = from.local_addr().expect("addr");
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id}\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@{me}>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn the_torture_corpus_over_udp_gets_400s_or_counted_drops_and_the_switch_stays_up() {
    let v1 = vendor("127.0.0.3");
    let vendor_sock = UdpSocket::bind((v1.ip, v1.port)).expect("bind the vendor");
    let mut sw = Switch::start("torture", "shutdown_deadline = 1", &[v1]);
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    let invalid = corpus("invalid");
    let valid = corpus("valid");
    for (_, bytes) in invalid.iter().chain(&valid) {
        customer.send_to(bytes, sw.addr()).expect("send");
        std::thread::sleep(Duration::from_millis(2)); // bounded: a few hundred datagrams
    }
    let answers = drain(&customer, Duration::from_millis(1500), Duration::from_secs(20));

    // Answers to the invalid messages, by their Call-ID (those that have one).
    let mut by_call_id: HashMap<&str, Vec<&String>> = HashMap::new();
    for a in &answers {
        if let Some(id) = header(a, "Call-ID").or_else(|| header(a, "i")) {
            by_call_id.entry(id).or_default().push(a);
        }
    }
    let mut refused = 0;
    for (name, bytes) in &invalid {
        let text = String::from_utf8_lossy(bytes);
        let Some(id) = header(&text, "Call-ID").or_else(|| header(&text, "i")) else { continue };
        for a in by_call_id.get(id).into_iter().flatten() {
            // Valid messages in the corpus may share a Call-ID with an invalid one:
            // only the status class is checked, and only 4xx is right for bad input.
            if a.starts_with("SIP/2.0 400 ") {
                refused += 1;
            } else if valid.iter().all(|(_, v)| !String::from_utf8_lossy(v).contains(id)) {
                let refusal = a.starts_with("SIP/2.0 4") || a.starts_with("SIP/2.0 505 ");
                assert!(refusal, "{name}: invalid input answered with {a:?}");
            }
        }
    }
    // The others are responses or lack what an answer needs (32 of 51 got one when written).
    assert!(refused >= 30, "only {refused} of {} invalid messages got a 400", invalid.len());
    // RFC 4475 §3.3.5: unknown option tags in Require get 420 listing them, as a UAS.
    let bext = by_call_id.get("bext01.0ha0isndaksdj").map(Vec::as_slice).unwrap_or_default();
    assert!(
        bext.iter().any(|a| a.starts_with("SIP/2.0 420 ")
            && header(a, "Unsupported") == Some("nothingSupportsThis, nothingSupportsThisEither")),
        "bext01 answered {bext:?}"
    );

    assert!(sw.child.try_wait().expect("wait").is_none(), "tandem died under the torture corpus");
    // Failure answers to the corpus's INVITEs may still be retransmitted: wait for ours.
    customer.send_to(options(&customer, "alive-after-torture").as_bytes(), sw.addr()).expect("send");
    let answers = drain(&customer, Duration::from_millis(3000), Duration::from_secs(5));
    let alive = answers.iter().find(|a| header(a, "Call-ID") == Some("alive-after-torture"));
    assert!(alive.is_some_and(|a| a.starts_with("SIP/2.0 200 ")), "no 200 to OPTIONS: {alive:?}");
    let scraped = sw.scrape();
    // Every invalid datagram is counted once, answered or dropped; no valid one is.
    let parse_errors = metric(&scraped, "tandem_parse_errors_total").expect("parse errors counted");
    assert_eq!(parse_errors, invalid.len() as f64, "parse and validation errors counted");
    drop(vendor_sock);
    let (status, _) = sw.stop();
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_retransmission_storm_makes_one_call_and_a_looped_invite_gets_482() {
    let v1 = vendor("127.0.0.3");
    let vendor_sock = UdpSocket::bind((v1.ip, v1.port)).expect("bind the vendor");
    let sw = Switch::start("storm", "shutdown_deadline = 1", &[v1]);
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    let invite = invite_text(&customer, "storm-1", "INVITE");
    for i in 0..200 {
        customer.send_to(invite.as_bytes(), sw.addr()).expect("send");
        if i % 20 == 19 {
            std::thread::sleep(Duration::from_millis(1)); // within the receive buffer
        }
    }
    // Well inside timer A (500 ms): only the first B-leg INVITE can have left.
    let at_vendor = drain(&vendor_sock, Duration::from_millis(300), Duration::from_secs(5));
    // Timer A may already have resent it: count B-legs by Call-ID, not datagrams.
    let b_legs: std::collections::HashSet<_> =
        at_vendor.iter().filter(|m| m.starts_with("INVITE ")).filter_map(|m| header(m, "Call-ID")).collect();
    assert_eq!(b_legs.len(), 1, "one B-leg for 200 copies of the INVITE: {at_vendor:?}");
    let to_customer = drain(&customer, Duration::from_millis(300), Duration::from_secs(5));
    assert!(!to_customer.is_empty(), "the caller hears 100 Trying");
    assert!(to_customer.iter().all(|m| m.starts_with("SIP/2.0 100 ")), "{to_customer:?}");

    let looped = invite.replace("branch=z9hG4bK-storm-1", "branch=z9hG4bK-looped");
    let rsp = exchange(&customer, &sw.addr(), &looped);
    assert!(rsp.starts_with("SIP/2.0 482 "), "{rsp}");
    assert!(rsp.contains("branch=z9hG4bK-looped"), "{rsp}");
    let more = drain(&vendor_sock, Duration::from_millis(200), Duration::from_secs(2));
    let call_ids: std::collections::HashSet<_> = at_vendor
        .iter()
        .chain(&more)
        .filter(|m| m.starts_with("INVITE "))
        .filter_map(|m| header(m, "Call-ID"))
        .collect();
    assert_eq!(call_ids.len(), 1, "no second call: {more:?}");
    let scraped = sw.scrape();
    let retransmissions = metric(&scraped, "tandem_retransmissions_total").expect("counted");
    assert!(retransmissions >= 100.0, "retransmissions counted: {retransmissions}");
    let (status, _) = sw.stop();
    assert!(status.success(), "{status:?}");
}
