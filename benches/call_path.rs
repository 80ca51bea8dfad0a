//! The in-memory path of whole calls through one shard's core, no sockets:
//! INVITE in → route → B-leg INVITE out; 200 in → 200 out; ACK; BYE both
//! ways; every message parsed and built for real. Also the INVITE-only step
//! (parse → route → build) that decides tandem's added latency.

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::net::SocketAddr;
use std::sync::Arc;
use tandem::call::build::Local;
use tandem::call::{Core, Now};
use tandem::routing::snapshot::{Router, RoutingSnapshot};
use tandem::sip;

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 18 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn core() -> Core {
    let dir = std::env::temp_dir().join(format!("tandem-bench-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut deck = String::from("prefix,rate,initial,increment\n");
    for p in 200..1000 {
        deck.push_str(&format!("1{p},0.0{:03},6,6\n", p % 100));
    }
    std::fs::write(dir.join("d.csv"), &deck).expect("deck");
    std::fs::write(
        dir.join("t.toml"),
        "[[mapping_gateway]]\nname = \"c\"\naddresses = [\"192.0.2.10\"]\nrate_deck = \"d.csv\"\n\n\
         [[routing_gateway]]\nname = \"v\"\naddress = \"198.51.100.1:5060\"\nrate_deck = \"d.csv\"\nlowest_profit = -1.0\n",
    )
    .expect("config");
    let snap = RoutingSnapshot::load(&dir.join("t.toml")).expect("config");
    let _ = std::fs::remove_dir_all(&dir);
    let local = Local { host: "203.0.113.5".into(), port: 5060 };
    Core::new(0, local, Arc::new(Router::new(snap)), 7, Now { ms: 0, unix_ms: 1_795_478_400_000 })
}

fn invite(i: u64) -> Bytes {
    Bytes::from(format!(
        "INVITE sip:12125551212@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{i}\r\nMax-Forwards: 70\r\n\
         From: <sip:2125550000@192.0.2.10>;tag=a{i}\r\nTo: <sip:12125551212@203.0.113.5>\r\nCall-ID: {i}@192.0.2.10\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@192.0.2.10:5060>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    ))
}

fn respond(req: &[u8], status: u16) -> Bytes {
    let m = sip::parse(req).expect("request");
    let mut buf = BytesMut::new();
    let b = sip::response_to(&mut buf, &m, status, "OK", Some("vt"))
        .header("Contact", "<sip:v@198.51.100.1:5060>");
    if status == 200 && m.method() == Some(sip::Method::Invite) {
        b.header("Content-Type", "application/sdp").body(SDP.as_bytes());
    } else {
        b.finish();
    }
    buf.freeze()
}

fn a_request(method: &str, i: u64, tag: &str, cseq: u32) -> Bytes {
    Bytes::from(format!(
        "{method} sip:x@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{method}{i}\r\nMax-Forwards: 70\r\n\
         From: <sip:2125550000@192.0.2.10>;tag=a{i}\r\nTo: <sip:12125551212@203.0.113.5>;tag={tag}\r\nCall-ID: {i}@192.0.2.10\r\n\
         CSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    ))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("constant address")
}

/// One whole call; returns the messages tandem sent.
fn call(core: &mut Core, i: u64, now: &mut Now) -> usize {
    let (a, v) = (addr("192.0.2.10:5060"), addr("198.51.100.1:5060"));
    let mut sent = 0;
    now.ms += 1;
    core.handle_datagram(&invite(i), a, *now);
    let out: Vec<(Bytes, SocketAddr)> = core.poll_transmit().collect();
    sent += out.len();
    let b_invite = out.iter().find(|(_, to)| *to == v).map(|(b, _)| b.clone()).unwrap_or_default();
    core.handle_datagram(&respond(&b_invite, 200), v, *now);
    let out: Vec<(Bytes, SocketAddr)> = core.poll_transmit().collect();
    sent += out.len();
    let ok = out.iter().find(|(_, to)| *to == a).map(|(b, _)| b.clone()).unwrap_or_default();
    let tag = sip::parse(&ok)
        .ok()
        .and_then(|m| m.to().ok().and_then(|t| t.tag.map(str::to_owned)))
        .unwrap_or_default();
    core.handle_datagram(&a_request("ACK", i, &tag, 1), a, *now);
    core.handle_datagram(&a_request("BYE", i, &tag, 2), a, *now);
    let out: Vec<(Bytes, SocketAddr)> = core.poll_transmit().collect();
    sent += out.len();
    let bye = out.iter().find(|(_, to)| *to == v).map(|(b, _)| b.clone()).unwrap_or_default();
    core.handle_datagram(&respond(&bye, 200), v, *now);
    sent += core.poll_transmit().count();
    core.poll_cdr().for_each(drop);
    sent
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("call_path");
    g.throughput(Throughput::Elements(1));
    let mut core = core();
    let mut now = Now { ms: 0, unix_ms: 1_795_478_400_000 };
    let mut i = 0u64;
    // INVITE → 100 + B INVITE; 200 → 200 to A; ACK → ACK to B; BYE → 200 + BYE to B.
    assert_eq!(call(&mut core, 0, &mut now), 6, "a whole call sends six messages");
    g.bench_function("whole_call", |b| {
        b.iter(|| {
            i += 1;
            call(&mut core, i, &mut now)
        })
    });
    let a = addr("192.0.2.10:5060");
    g.bench_function("invite_to_b_leg", |b| {
        b.iter(|| {
            i += 1;
            core.handle_datagram(&invite(i), a, now);
            core.poll_transmit().count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
