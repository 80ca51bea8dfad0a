//! Property tests for the SIP parser: what the builder writes parses back to
//! the same fields, and no input — random bytes, mutated captures — panics.
//! (cargo-fuzz needs a nightly toolchain this machine cannot get; these and
//! the fixture corpus replay take its place.)

use bytes::BytesMut;
use proptest::prelude::*;
use std::path::Path;
use tandem::sip::{self, Builder, HeaderName, Message};

/// Calls every accessor, so a panic anywhere in the typed views shows up.
fn exercise(m: &Message<'_>) {
    let _ = m.validate();
    let _ = (m.call_id(), m.cseq(), m.from(), m.to(), m.top_via(), m.max_forwards());
    let _ = (m.expires(), m.min_expires(), m.content_type(), m.body(), m.as_bytes());
    m.vias().for_each(drop);
    m.contacts().for_each(drop);
    m.routes().for_each(drop);
    m.record_routes().for_each(drop);
    m.privacy().for_each(drop);
    m.option_tags(HeaderName::Require).for_each(drop);
    for name in [HeaderName::WwwAuthenticate, HeaderName::Authorization, HeaderName::ProxyAuthenticate] {
        for a in m.auths(name).flatten() {
            let _ = (a.param("nonce"), a.param("realm"), a.is_digest());
        }
    }
    if let Some(uri) = m.request_uri() {
        let _ = (uri.user_decoded(), uri.number_portability());
    }
    if let Ok(f) = m.from() {
        let _ = (f.display_name(), f.uri().map(|u| u.number_portability()), f.expires());
    }
}

/// Parses, exercises, and checks that the owner-shard scan finds the very
/// Call-ID the parser indexes (so every message of a dialog meets its owner).
fn parse_any(bytes: &[u8]) {
    match sip::parse(bytes) {
        Ok(m) => {
            exercise(&m);
            assert_eq!(sip::call_id_of(bytes), m.header(HeaderName::CallId).map(|h| h.value));
        }
        // What the core reads again to answer a refused request must not panic either.
        Err(_) => {
            if let Some(m) = sip::parse_to_answer(bytes) {
                exercise(&m);
                assert!(m.is_request(), "only requests are read to be answered");
            }
        }
    }
}

fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(load_corpus)
}

fn load_corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip");
    let mut out = Vec::new();
    for dir in ["valid", "invalid"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "sip") {
                out.push(std::fs::read(e.path()).expect("read fixture"));
            }
        }
    }
    out
}

#[test]
fn corpus_replays_without_panic() {
    let corpus = corpus();
    assert!(corpus.len() > 10, "fixture corpus missing");
    for bytes in corpus {
        parse_any(bytes);
        // Every prefix: truncated datagrams must fail cleanly.
        for cut in 0..bytes.len() {
            parse_any(&bytes[..cut]);
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Duplicate(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        b'\r', b'\n', b' ', b':', b';', b',', b'"', b'<', b'>', b'\\', b'%', b'@', b'[', b']', 0, 0xff, b'=',
    ]);
    let byte = prop_oneof![any::<u8>(), special];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1..16usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), 1..64usize, any::<usize>()).prop_map(|(i, n, at)| Mutation::Duplicate(i, n, at)),
    ]
}

fn apply(buf: &mut Vec<u8>, m: &Mutation) {
    if buf.is_empty() {
        return;
    }
    let len = buf.len();
    match *m {
        Mutation::Flip(i, b) => buf[i % len] = b,
        Mutation::Insert(i, b) => buf.insert(i % (len + 1), b),
        Mutation::Delete(i, n) => {
            let start = i % len;
            buf.drain(start..(start + n).min(len));
        }
        Mutation::Duplicate(i, n, at) => {
            let start = i % len;
            let piece = buf[start..(start + n).min(len)].to_vec();
            let at = at % (len + 1);
            buf.splice(at..at, piece);
        }
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

#[derive(Debug, Clone)]
struct Fields {
    method: String,
    user: String,
    host: String,
    port: Option<u16>,
    branch: String,
    from_tag: String,
    to_tag: Option<String>,
    display: String,
    call_id: String,
    seq: u32,
    max_forwards: u8,
    body: Vec<u8>,
}

fn fields() -> impl Strategy<Value = Fields> {
    let method = prop_oneof![
        prop::sample::select(vec!["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "UPDATE"])
            .prop_map(str::to_owned),
        "[A-Z][A-Z0-9_-]{0,10}",
    ];
    let host = prop_oneof![
        any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3])),
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ];
    (
        (method, "\\+?[0-9]{1,15}", host, prop::option::of(1..=u16::MAX), token(), token()),
        (prop::option::of(token()), "[ -~&&[^\"\\\\]]{0,20}", "[!-~]{1,40}", 0..(1u32 << 31), any::<u8>()),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(
            |((method, user, host, port, branch, from_tag), (to_tag, display, call_id, seq, mf), body)| {
                Fields {
                    method,
                    user,
                    host,
                    port,
                    branch: format!("z9hG4bK{branch}"),
                    from_tag,
                    to_tag,
                    display,
                    call_id,
                    seq,
                    max_forwards: mf,
                    body,
                }
            },
        )
}

fn build(f: &Fields) -> BytesMut {
    let mut buf = BytesMut::new();
    let hostport = match f.port {
        Some(p) => format!("{}:{p}", f.host),
        None => f.host.clone(),
    };
    let to = match &f.to_tag {
        Some(t) => format!("<sip:{}@{}>;tag={t}", f.user, f.host),
        None => format!("<sip:{}@{}>", f.user, f.host),
    };
    Builder::request(&mut buf, &f.method, &format!("sip:{}@{hostport};user=phone", f.user))
        .header("Via", &format!("SIP/2.0/UDP {hostport};branch={};rport", f.branch))
        .header_u32("Max-Forwards", u32::from(f.max_forwards))
        .header("From", &format!("\"{}\" <sip:caller@{hostport}>;tag={}", f.display, f.from_tag))
        .header("To", &to)
        .header("Call-ID", &f.call_id)
        .header("CSeq", &format!("{} {}", f.seq, f.method))
        .header("Contact", &format!("<sip:{}@{hostport}>;expires=60", f.user))
        .body(&f.body);
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn built_messages_parse_to_the_same_fields(f in fields()) {
        let buf = build(&f);
        let m = sip::parse(&buf).expect("built message parses");
        m.validate().expect("built message validates");
        prop_assert_eq!(m.method().map(|m| m.as_str().to_owned()), Some(f.method.clone()));
        let uri = m.request_uri().expect("request");
        prop_assert_eq!(uri.user, Some(f.user.as_str()));
        prop_assert_eq!(uri.port, f.port);
        let via = m.top_via().expect("via");
        prop_assert_eq!(via.branch, Some(f.branch.as_str()));
        prop_assert_eq!(via.host_raw, f.host.as_str());
        prop_assert_eq!(via.rport, Some(None));
        let from = m.from().expect("from");
        prop_assert_eq!(from.tag, Some(f.from_tag.as_str()));
        let display = from.display_name();
        prop_assert_eq!(display.as_deref(), Some(f.display.as_str()));
        prop_assert_eq!(m.to().expect("to").tag, f.to_tag.as_deref());
        prop_assert_eq!(m.call_id().expect("call-id"), f.call_id.as_str());
        let cseq = m.cseq().expect("cseq");
        prop_assert_eq!(cseq.seq, f.seq);
        prop_assert_eq!(m.max_forwards().expect("mf"), Some(f.max_forwards));
        prop_assert_eq!(m.body(), &f.body[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        parse_any(&bytes);
    }

    #[test]
    fn sip_shaped_noise_never_panics(lines in prop::collection::vec("[ -~\t]{0,60}", 0..20)) {
        let mut text = String::from("INVITE sip:a@b SIP/2.0\r\n");
        for l in &lines {
            text.push_str(l);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        parse_any(text.as_bytes());
    }

    #[test]
    fn mutated_captures_never_panic(pick in any::<prop::sample::Index>(), muts in prop::collection::vec(mutation(), 1..8)) {
        let corpus = corpus();
        prop_assume!(!corpus.is_empty());
        let mut buf = pick.get(corpus).clone();
        for m in &muts {
            apply(&mut buf, m);
        }
        parse_any(&buf);
    }
}
