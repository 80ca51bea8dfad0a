//! SIP parse benchmark: tandem's zero-copy parser against `sipx-sip` 1.0 and `rsip` 0.4.
//!
//! One criterion group per message ("invite", "ok200", "register"), each with the three
//! libraries side by side, so a single run gives the ratios:
//!
//! ```text
//! cargo bench --bench sip_parse -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! The work timed is the same for every library: parse the message from bytes (indexing all
//! headers, with whatever eager work the library does), then extract the top Via's branch,
//! Call-ID, CSeq number and method, From tag and To tag - including any separate step a
//! library needs to get typed Via/CSeq/From/To. The extracted values are checked against the
//! expected ones before anything is timed.
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput};

const INVITE: &[u8] = b"INVITE sip:+15551234567@gw.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.17:5060;branch=z9hG4bK74bf9a2c1e;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:+15551234567@gw.example.net>\r\n\
From: \"Alice\" <sip:+15557654321@pbx.example.com>;tag=9fxced76sl\r\n\
Call-ID: a84b4c76e66710@pbx.example.com\r\n\
CSeq: 4711 INVITE\r\n\
Contact: <sip:+15557654321@198.51.100.17:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 172\r\n\
\r\n\
v=0\r\n\
o=- 2890844526 2890844526 IN IP4 198.51.100.17\r\n\
s=-\r\n\
c=IN IP4 198.51.100.17\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=sendrecv\r\n";
const OK200: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.17:5060;branch=z9hG4bK74bf9a2c1e;rport=5060;received=198.51.100.17\r\n\
To: <sip:+15551234567@gw.example.net>;tag=314159ab\r\n\
From: \"Alice\" <sip:+15557654321@pbx.example.com>;tag=9fxced76sl\r\n\
Call-ID: a84b4c76e66710@pbx.example.com\r\n\
CSeq: 4711 INVITE\r\n\
Contact: <sip:+15551234567@203.0.113.9:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 200\r\n\
\r\n\
v=0\r\n\
o=- 3735928559 3735928559 IN IP4 203.0.113.9\r\n\
s=-\r\n\
c=IN IP4 203.0.113.9\r\n\
t=0 0\r\n\
m=audio 31000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n";
const REGISTER: &[u8] = b"REGISTER sip:registrar.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.45:5060;branch=z9hG4bKnashds7a;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Bob\" <sip:bob@registrar.example.com>\r\n\
From: \"Bob\" <sip:bob@registrar.example.com>;tag=a73kszlfl\r\n\
Call-ID: 1j9FpLxk3uxtm8tn@203.0.113.45\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:bob@203.0.113.45:5060>;expires=3600\r\n\
Authorization: Digest username=\"bob\",realm=\"registrar.example.com\",nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\",uri=\"sip:registrar.example.com\",response=\"dfe56131d1958046689d83306477ecc5\",algorithm=MD5,cnonce=\"0a4f113b\",qop=auth,nc=00000001\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

// Messages: CRLF line endings, exact Content-Length (checked in `check_framing`).

/// What every parser has to produce. Borrowed, so that building it costs nothing by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields<'a> {
    branch: Option<&'a [u8]>,
    call_id: &'a [u8],
    cseq_seq: u32,
    cseq_method: &'a [u8],
    from_tag: Option<&'a [u8]>,
    to_tag: Option<&'a [u8]>,
}

// ---------------------------------------------------------------- tandem
//
// `parse` indexes every header (zero-copy, borrows `wire`); the typed accessors parse the one
// header they are asked for.
fn tandem_fields<R>(wire: &[u8], f: impl FnOnce(Fields<'_>) -> R) -> R {
    let msg = tandem::sip::parse(wire).expect("tandem: parse");
    let via = msg.top_via().expect("tandem: Via");
    let call_id: &str = msg.call_id().expect("tandem: Call-ID");
    let cseq = msg.cseq().expect("tandem: CSeq");
    let from = msg.from().expect("tandem: From");
    let to = msg.to().expect("tandem: To");
    f(Fields {
        branch: via.branch.map(str::as_bytes),
        call_id: call_id.as_bytes(),
        cseq_seq: cseq.seq,
        cseq_method: cseq.method.as_str().as_bytes(),
        from_tag: from.tag.map(str::as_bytes),
        to_tag: to.tag.map(str::as_bytes),
    })
}

// ---------------------------------------------------------------- sipx-sip 1.0
//
// `parse_datagram` frames the message, resolves every header name and parses the request-URI
// eagerly; header values are typed lazily through `Headers::typed`, which is the step counted
// here for Via, CSeq, From and To. Call-ID is read as its trimmed raw value (borrowed), which is
// cheaper than `typed::<CallId>()` (that copies into a Vec).
fn sipx_fields<R>(buf: Bytes, limits: &sipx_sip::Limits, f: impl FnOnce(Fields<'_>) -> R) -> R {
    use sipx_sip::HeaderName;
    use sipx_sip::headers::{CSeq, From, To, Via};
    let msg = sipx_sip::parse_datagram(buf, limits).expect("sipx: parse");
    let h = msg.headers();
    let via = h.typed::<Via>().expect("sipx: no Via").expect("sipx: bad Via");
    let call_id = h.get(&HeaderName::CallId).expect("sipx: no Call-ID").value();
    let cseq = h.typed::<CSeq>().expect("sipx: no CSeq").expect("sipx: bad CSeq");
    let from = h.typed::<From>().expect("sipx: no From").expect("sipx: bad From");
    let to = h.typed::<To>().expect("sipx: no To").expect("sipx: bad To");
    f(Fields {
        branch: via.branch(),
        call_id: &call_id,
        cseq_seq: cseq.sequence,
        cseq_method: cseq.method.as_bytes(),
        from_tag: from.tag(),
        to_tag: to.tag(),
    })
}

// ---------------------------------------------------------------- rsip 0.4
//
// `SipMessage::try_from(&[u8])` tokenizes with nom and copies every header value into an
// owned `String` in a `Header` enum; typed Via/CSeq/From/To are a second parse (`.typed()`).
fn rsip_method(m: rsip::Method) -> &'static [u8] {
    use rsip::Method::*;
    match m {
        Ack => b"ACK",
        Bye => b"BYE",
        Cancel => b"CANCEL",
        Info => b"INFO",
        Invite => b"INVITE",
        Message => b"MESSAGE",
        Notify => b"NOTIFY",
        Options => b"OPTIONS",
        PRack => b"PRACK",
        Publish => b"PUBLISH",
        Refer => b"REFER",
        Register => b"REGISTER",
        Subscribe => b"SUBSCRIBE",
        Update => b"UPDATE",
    }
}

fn rsip_fields<R>(wire: &[u8], f: impl FnOnce(Fields<'_>) -> R) -> R {
    use rsip::prelude::*;
    let msg = rsip::SipMessage::try_from(wire).expect("rsip: parse");
    let via = msg.via_header().expect("rsip: no Via").typed().expect("rsip: bad Via");
    let call_id = msg.call_id_header().expect("rsip: no Call-ID").value();
    let cseq = msg.cseq_header().expect("rsip: no CSeq").typed().expect("rsip: bad CSeq");
    let from = msg.from_header().expect("rsip: no From").typed().expect("rsip: bad From");
    let to = msg.to_header().expect("rsip: no To").typed().expect("rsip: bad To");
    f(Fields {
        branch: via.branch().map(|b| b.value().as_bytes()),
        call_id: call_id.as_bytes(),
        cseq_seq: cseq.seq,
        cseq_method: rsip_method(cseq.method),
        from_tag: from.tag().map(|t| t.value().as_bytes()),
        to_tag: to.tag().map(|t| t.value().as_bytes()),
    })
}

struct Case {
    group: &'static str,
    wire: &'static [u8],
    expected: Fields<'static>,
}

fn cases() -> [Case; 3] {
    [
        Case {
            group: "invite",
            wire: INVITE,
            expected: Fields {
                branch: Some(b"z9hG4bK74bf9a2c1e"),
                call_id: b"a84b4c76e66710@pbx.example.com",
                cseq_seq: 4711,
                cseq_method: b"INVITE",
                from_tag: Some(b"9fxced76sl"),
                to_tag: None,
            },
        },
        Case {
            group: "ok200",
            wire: OK200,
            expected: Fields {
                branch: Some(b"z9hG4bK74bf9a2c1e"),
                call_id: b"a84b4c76e66710@pbx.example.com",
                cseq_seq: 4711,
                cseq_method: b"INVITE",
                from_tag: Some(b"9fxced76sl"),
                to_tag: Some(b"314159ab"),
            },
        },
        Case {
            group: "register",
            wire: REGISTER,
            expected: Fields {
                branch: Some(b"z9hG4bKnashds7a"),
                call_id: b"1j9FpLxk3uxtm8tn@203.0.113.45",
                cseq_seq: 2,
                cseq_method: b"REGISTER",
                from_tag: Some(b"a73kszlfl"),
                to_tag: None,
            },
        },
    ]
}

/// Each message frames exactly: Content-Length equals the bytes after the blank line.
fn check_framing(name: &str, wire: &[u8]) {
    let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n").expect("no CRLFCRLF") + 4;
    let head = std::str::from_utf8(&wire[..head_end]).unwrap();
    let cl: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("no Content-Length")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(cl, wire.len() - head_end, "{name}: Content-Length mismatch");
    let bare_lf = wire.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || wire[i - 1] != b'\r'));
    assert!(!bare_lf, "{name}: bare LF");
}

fn verify(limits: &sipx_sip::Limits) {
    for c in cases() {
        check_framing(c.group, c.wire);
        tandem_fields(c.wire, |f| assert_eq!(f, c.expected, "tandem on {}", c.group));
        sipx_fields(Bytes::from_static(c.wire), limits, |f| {
            assert_eq!(f, c.expected, "sipx-sip on {}", c.group)
        });
        rsip_fields(c.wire, |f| assert_eq!(f, c.expected, "rsip on {}", c.group));
    }
}

fn bench(c: &mut Criterion) {
    let limits = sipx_sip::Limits::datagram();
    verify(&limits);
    for case in cases() {
        let mut g = c.benchmark_group(case.group);
        g.throughput(Throughput::Bytes(case.wire.len() as u64));
        let wire = case.wire;
        g.bench_function("tandem", |b| {
            b.iter(|| {
                tandem_fields(black_box(wire), |f| {
                    black_box(f);
                })
            })
        });
        g.bench_function("sipx-sip", |b| {
            // `from_static`: the cheapest possible `Bytes` (no allocation, no refcount) - best case for sipx.
            b.iter(|| {
                sipx_fields(Bytes::from_static(black_box(wire)), &limits, |f| {
                    black_box(f);
                })
            })
        });
        g.bench_function("rsip", |b| {
            b.iter(|| {
                rsip_fields(black_box(wire), |f| {
                    black_box(f);
                })
            })
        });
        g.finish();
    }
}

fn main() {
    for c in cases() {
        eprintln!("sip_parse: {:<8} message is {} bytes", c.group, c.wire.len());
    }
    let mut crit = Criterion::default().configure_from_args();
    bench(&mut crit);
    crit.final_summary();
}
