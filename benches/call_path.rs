//! The in-memory path of whole calls through one shard's core, no sockets:
//! INVITE in → route → B-leg INVITE out; 200 in → 200 out; ACK; BYE both
//! ways; every message parsed and built for real. Also the INVITE-only step
//! (parse → route → build) that decides tandem's added latency.

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// Times only the core's share of each step: the bench's own building and
/// parsing of the peers' messages runs outside the stopwatch.
#[derive(Default)]
struct Stopwatch {
    spent: Duration,
}

impl Stopwatch {
    /// `datagram` into the core at `now`; returns what it sent.
    fn feed(
        &mut self,
        core: &mut Core,
        datagram: &Bytes,
        from: SocketAddr,
        now: Now,
    ) -> Vec<(Bytes, SocketAddr)> {
        #[allow(clippy::disallowed_methods)] // the bench's stopwatch, not the core's clock
        let t = Instant::now();
        core.handle_datagram(datagram, from, now);
        let out: Vec<(Bytes, SocketAddr)> = core.poll_transmit().collect();
        self.spent += t.elapsed();
        out
    }

    /// The core's timers, as a shard runs them every turn: ended calls leave
    /// their tombs and transactions when those expire, so the tables hold
    /// what a shard at this call rate holds instead of growing all run long.
    fn settle(&mut self, core: &mut Core, now: Now) {
        #[allow(clippy::disallowed_methods)] // the bench's stopwatch, not the core's clock
        let t = Instant::now();
        core.handle_timeout(now);
        core.poll_transmit().for_each(drop);
        core.poll_cdr().for_each(drop);
        self.spent += t.elapsed();
    }
}

fn to(out: &[(Bytes, SocketAddr)], peer: SocketAddr) -> Bytes {
    out.iter().find(|(_, to)| *to == peer).map(|(b, _)| b.clone()).unwrap_or_default()
}

/// The To tag of a response (tandem's, to the caller).
fn to_tag(response: &[u8]) -> String {
    sip::parse(response)
        .ok()
        .and_then(|m| m.to().ok().and_then(|t| t.tag.map(str::to_owned)))
        .unwrap_or_default()
}

/// One whole call (1 ms of simulated time apart); returns the messages tandem sent.
fn call(core: &mut Core, i: u64, now: &mut Now, watch: &mut Stopwatch) -> usize {
    let (a, v) = (addr("192.0.2.10:5060"), addr("198.51.100.1:5060"));
    now.ms += 1;
    now.unix_ms += 1;
    let out = watch.feed(core, &invite(i), a, *now);
    let mut sent = out.len();
    let out = watch.feed(core, &respond(&to(&out, v), 200), v, *now);
    sent += out.len();
    let tag = to_tag(&to(&out, a));
    sent += watch.feed(core, &a_request("ACK", i, &tag, 1), a, *now).len();
    let out = watch.feed(core, &a_request("BYE", i, &tag, 2), a, *now);
    sent += out.len();
    sent += watch.feed(core, &respond(&to(&out, v), 200), v, *now).len();
    watch.settle(core, *now);
    sent
}

/// One INVITE through to its B-leg INVITE, timed; then, untimed, the vendor
/// refuses it (486) and the caller ACKs the 486, so the call ends as calls do.
fn invite_only(core: &mut Core, i: u64, now: &mut Now, watch: &mut Stopwatch) -> usize {
    let (a, v) = (addr("192.0.2.10:5060"), addr("198.51.100.1:5060"));
    now.ms += 1;
    now.unix_ms += 1;
    let out = watch.feed(core, &invite(i), a, *now);
    let mut rest = Stopwatch::default();
    let busy = rest.feed(core, &respond(&to(&out, v), 486), v, *now);
    let tag = to_tag(&to(&busy, a));
    let ack = a_request("ACK", i, &tag, 1).to_vec();
    // The ACK of a non-2xx keeps the INVITE's branch (§17.1.1.3).
    let ack = String::from_utf8_lossy(&ack).replace("z9hG4bKACK", "z9hG4bK");
    rest.feed(core, &Bytes::from(ack), a, *now);
    rest.settle(core, *now);
    out.len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("call_path");
    g.throughput(Throughput::Elements(1));
    let mut core = core();
    let mut now = Now { ms: 0, unix_ms: 1_795_478_400_000 };
    let mut i = 0u64;
    // INVITE → 100 + B INVITE; 200 → 200 to A; ACK → ACK to B; BYE → 200 + BYE to B.
    assert_eq!(call(&mut core, 0, &mut now, &mut Stopwatch::default()), 6, "a whole call sends six messages");
    assert_eq!(
        invite_only(&mut core, 1, &mut now, &mut Stopwatch::default()),
        2,
        "100 Trying and the B-leg INVITE"
    );
    i += 1;
    type Step = fn(&mut Core, u64, &mut Now, &mut Stopwatch) -> usize;
    for (name, step) in [("whole_call", call as Step), ("invite_to_b_leg", invite_only)] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut watch = Stopwatch::default();
                for _ in 0..iters {
                    i += 1;
                    black_box(step(&mut core, i, &mut now, &mut watch));
                }
                watch.spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
