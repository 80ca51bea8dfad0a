use super::*;
use crate::sip::Host;

/// Joins lines with CRLF and ends the header section.
fn msg(lines: &[&str], body: &str) -> Vec<u8> {
    let mut s = lines.join("\r\n");
    s.push_str("\r\n\r\n");
    s.push_str(body);
    s.into_bytes()
}

const BASE: [&str; 6] = [
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9",
    "Max-Forwards: 70",
    "From: Alice <sip:alice@example.com>;tag=9fxced76sl",
    "To: <sip:+12125551212@example.net>",
    "Call-ID: 3848276298220188511@192.0.2.1",
    "CSeq: 1 INVITE",
];

fn invite(extra: &[&str], body: &str) -> Vec<u8> {
    let mut lines = vec!["INVITE sip:+12125551212@example.net SIP/2.0"];
    lines.extend(BASE);
    lines.extend(extra);
    msg(&lines, body)
}

#[test]
fn request_fields() {
    let buf = invite(&["Content-Type: application/sdp", "Content-Length: 4"], "v=0\n");
    let m = parse(&buf).unwrap();
    m.validate().unwrap();
    assert_eq!(m.method(), Some(Method::Invite));
    assert_eq!(m.request_uri().unwrap().user, Some("+12125551212"));
    assert_eq!(m.call_id().unwrap(), "3848276298220188511@192.0.2.1");
    assert_eq!(m.cseq().unwrap().seq, 1);
    assert_eq!(m.from().unwrap().tag, Some("9fxced76sl"));
    assert_eq!(m.to().unwrap().tag, None);
    let via = m.top_via().unwrap();
    assert_eq!((via.host, via.port), (Host::V4([192, 0, 2, 1].into()), Some(5060)));
    assert_eq!(m.max_forwards().unwrap(), Some(70));
    assert_eq!(m.content_type().unwrap(), Some("application/sdp"));
    assert_eq!(m.body(), b"v=0\n");
}

#[test]
fn response_fields() {
    let buf = msg(&["SIP/2.0 180 Ringing", BASE[0], BASE[2], "To: <sip:b@h>;tag=x1", BASE[4], BASE[5]], "");
    let m = parse(&buf).unwrap();
    m.validate().unwrap();
    assert_eq!(m.status(), Some(180));
    assert!(matches!(m.start(), StartLine::Response { reason: b"Ringing", .. }));
    for (line, status) in [("SIP/2.0 100 ", 100), ("SIP/2.0 699", 699), ("sip/2.0 200 Ω ok", 200)] {
        let buf = msg(&[line, BASE[0], BASE[2], BASE[3], BASE[4], BASE[5]], "");
        assert_eq!(parse(&buf).unwrap().status(), Some(status), "{line}");
    }
}

#[test]
fn start_line_errors() {
    use ParseError as E;
    for (line, err) in [
        ("INVITE  sip:a@h SIP/2.0", E::BadStartLine),
        ("INVITE sip:a@h SIP/2.0 ", E::BadStartLine),
        ("INVITE sip:a@h; lr SIP/2.0", E::BadStartLine),
        ("INVITE", E::BadStartLine),
        ("INV\"TE sip:a@h SIP/2.0", E::BadMethod),
        ("INVITE <sip:a@h> SIP/2.0", E::BadRequestUri),
        ("INVITE sip:a@h?Route=%3Csip:x%3E SIP/2.0", E::BadRequestUri),
        ("INVITE sip:a@h SIP/7.0", E::UnsupportedVersion),
        ("INVITE sip:a@h SIP/2", E::BadVersion),
        ("INVITE sip:a@h HTTP/1.1", E::BadVersion),
        ("SIP/2.0 4294967301 big", E::BadStatus),
        ("SIP/2.0 099 low", E::BadStatus),
        ("SIP/2.0 20 short", E::BadStatus),
        ("SIP/3.0 200 OK", E::UnsupportedVersion),
    ] {
        let buf = msg(&[line, BASE[0]], "");
        // The Request-URI is parsed lazily; validate() checks it first.
        let got = parse(&buf).and_then(|m| m.validate()).err();
        assert_eq!(got, Some(err), "{line}");
    }
}

#[test]
fn framing() {
    // Octets beyond Content-Length are discarded (RFC 3261 §18.3).
    let buf = invite(&["l: 0"], "INVITE sip:other SIP/2.0\r\n");
    let m = parse(&buf).unwrap();
    assert_eq!(m.body(), b"");
    assert!(m.as_bytes().ends_with(b"\r\n\r\n"));
    // Absent Content-Length: the rest of the datagram.
    assert_eq!(parse(&invite(&[], "abc")).unwrap().body(), b"abc");
    let e = |extra: &str, body: &str| parse(&invite(&[extra], body)).err();
    assert_eq!(e("Content-Length: 9999", "abc"), Some(ParseError::BodyTooShort));
    assert_eq!(e("Content-Length: -999", ""), Some(ParseError::BadHeader(HeaderName::ContentLength)));
    assert_eq!(
        e("Content-Length: 18446744073709551616", ""),
        Some(ParseError::BadHeader(HeaderName::ContentLength))
    );
    assert_eq!(parse(b"INVITE sip:a@h SIP/2.0\r\nVia: x\r\n").err(), Some(ParseError::Incomplete));
    assert_eq!(parse(b"").err(), Some(ParseError::Incomplete));
    assert_eq!(parse(b"\r\n\r\n").err(), Some(ParseError::Incomplete));
    assert_eq!(parse(&vec![b'a'; MAX_MESSAGE + 1]).err(), Some(ParseError::TooLarge));
}

#[test]
fn leading_crlf_and_bare_lf() {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend(invite(&[], ""));
    parse(&buf).unwrap().validate().unwrap();
    let lf: Vec<u8> = invite(&[], "").into_iter().filter(|&b| b != b'\r').collect();
    let m = parse(&lf).unwrap();
    m.validate().unwrap();
    assert_eq!(m.call_id().unwrap(), "3848276298220188511@192.0.2.1");
}

#[test]
fn header_lines() {
    let buf = invite(&["TO :", " <sip:x@h>"], "");
    assert_eq!(parse(&buf).err(), None);
    // A line after the start line cannot continue it.
    let folded_start = msg(&["INVITE sip:a@h SIP/2.0", " Via: x", BASE[0]], "");
    assert_eq!(parse(&folded_start).err(), Some(ParseError::BadHeaderLine));
    let bad = ["NoColon", "Bad Name: x", ": empty"];
    for line in bad {
        assert_eq!(parse(&invite(&[line], "")).err(), Some(ParseError::BadHeaderLine), "{line}");
    }
    let many: Vec<String> = (0..MAX_HEADERS).map(|i| format!("X-H{i}: v")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(parse(&invite(&many, "")).err(), Some(ParseError::TooManyHeaders));
}

#[test]
fn folding_and_compact_forms() {
    let buf = msg(
        &[
            "INVITE sip:a@h SIP/2.0",
            "v: SIP/2.0/UDP h1;branch=z9hG4bK1,",
            "   SIP/2.0/TCP h2:5070 ;branch=z9hG4bK2",
            "f: <sip:a@h>",
            "\t;tag=ft",
            "t: sip:b@h",
            "i: cid",
            "cseq: 0009",
            "  INVITE",
            "m: \"Q\" <sip:a@h1>;expires=60, <sip:a@h2>",
            "NewFangledHeader:   newfangled value",
            " continued newfangled value",
            "s:",
            "k: 100rel, timer",
        ],
        "",
    );
    let m = parse(&buf).unwrap();
    m.validate().unwrap();
    let vias: Vec<_> = m.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias.len(), 2);
    assert_eq!((vias[1].transport, vias[1].port), ("TCP", Some(5070)));
    assert_eq!(m.from().unwrap().tag, Some("ft"));
    assert_eq!(m.cseq().unwrap().seq, 9);
    let contacts: Vec<_> = m.contacts().map(|c| c.unwrap()).collect();
    assert!(matches!(contacts[0], Contact::Addr(a) if a.expires() == Some(60)));
    let ext = m.headers().iter().find(|h| h.raw_name == b"NewFangledHeader").unwrap();
    assert_eq!(ext.value, b"newfangled value\r\n continued newfangled value");
    assert_eq!(m.header(HeaderName::Subject).unwrap().value, b"");
    assert_eq!(m.option_tags(HeaderName::Supported).collect::<Vec<_>>(), ["100rel", "timer"]);
}

#[test]
fn validate_order_and_errors() {
    use HeaderName as H;
    let without = |name: &str| {
        let lines: Vec<&str> = BASE.iter().copied().filter(|l| !l.starts_with(name)).collect();
        let mut all = vec!["INVITE sip:a@h SIP/2.0"];
        all.extend(lines);
        parse(&msg(&all, "")).unwrap().validate().err()
    };
    assert_eq!(without("Call-ID"), Some(ParseError::MissingHeader(H::CallId)));
    assert_eq!(without("Via"), Some(ParseError::MissingHeader(H::Via)));
    assert_eq!(without("Max-Forwards"), None);
    let check = |extra: &str| parse(&invite(&[extra], "")).unwrap().validate().err();
    assert_eq!(check("i: again"), Some(ParseError::DuplicateHeader(H::CallId)));
    assert_eq!(check("Max-Forwards: 3"), Some(ParseError::DuplicateHeader(H::MaxForwards)));
    assert_eq!(check("Expires: 4294967296"), Some(ParseError::BadHeader(H::Expires)));
    assert_eq!(check("Expires: 4294967295"), None);
    assert_eq!(check("Contact: <sip:a@h>;expires=280297596632815"), Some(ParseError::BadHeader(H::Contact)));
    assert_eq!(check("Contact: <sip:a@h>;q=2"), Some(ParseError::BadHeader(H::Contact)));
    assert_eq!(check("Contact: *"), None);
    assert_eq!(check("Route: <sip:p@h;lr>, <sip:q@h;lr>"), None);
    assert_eq!(check("Route: <sip:p@h;lr"), Some(ParseError::BadHeader(H::Route)));
    assert_eq!(check("Content-Type: garbage"), Some(ParseError::BadHeader(H::ContentType)));
    assert_eq!(check("Authorization: Digest"), None);
    assert_eq!(check("Proxy-Authorization: Digest a"), Some(ParseError::BadHeader(H::ProxyAuthorization)));
    let mismatch =
        msg(&["OPTIONS sip:a@h SIP/2.0", BASE[0], BASE[2], BASE[3], BASE[4], "CSeq: 8 INVITE"], "");
    assert_eq!(parse(&mismatch).unwrap().validate().err(), Some(ParseError::CSeqMismatch));
    let mf = msg(
        &[
            "OPTIONS sip:a@h SIP/2.0",
            BASE[0],
            "Max-Forwards: 300",
            BASE[2],
            BASE[3],
            BASE[4],
            "CSeq: 8 OPTIONS",
        ],
        "",
    );
    assert_eq!(parse(&mf).unwrap().validate().err(), Some(ParseError::BadHeader(H::MaxForwards)));
}

#[test]
fn non_utf8_values_are_bad_headers() {
    let mut buf = invite(&[], "");
    let at = buf.windows(5).position(|w| w == b"Alice").unwrap();
    buf[at] = 0xff;
    let m = parse(&buf).unwrap();
    assert_eq!(m.from().err(), Some(ParseError::BadHeader(HeaderName::From)));
}

#[test]
fn auth_headers() {
    let buf = msg(
        &[
            "SIP/2.0 401 Unauthorized",
            BASE[0],
            BASE[2],
            "To: <sip:b@h>;tag=1",
            BASE[4],
            "CSeq: 1 REGISTER",
            "WWW-Authenticate: Digest realm=\"example.com\", qop=\"auth\", nonce=\"abc\", opaque=\"o\", algorithm=MD5",
        ],
        "",
    );
    let m = parse(&buf).unwrap();
    m.validate().unwrap();
    let ch = m.auths(HeaderName::WwwAuthenticate).next().unwrap().unwrap();
    assert_eq!(ch.param("nonce").as_deref(), Some("abc"));
    assert_eq!(ch.param("realm").as_deref(), Some("example.com"));
}

#[test]
fn call_id_of_finds_what_the_parser_indexes() {
    let plain = invite(&[], "");
    assert_eq!(call_id_of(&plain), Some(&b"3848276298220188511@192.0.2.1"[..]));
    let compact = msg(
        &["\r\nBYE sip:a@b SIP/2.0", "v: SIP/2.0/UDP h;branch=z9hG4bK1", "i :  c1@h  ", "CSeq: 2 BYE"],
        "",
    );
    assert_eq!(
        call_id_of(&compact),
        Some(&b"c1@h"[..]),
        "keep-alive CRLF, compact form, space before the colon"
    );
    assert_eq!(call_id_of(&compact), parse(&compact).unwrap().header(HeaderName::CallId).map(|h| h.value));
    let folded = msg(&["SIP/2.0 200 OK", "Subject: a", " b", "Call-ID: x@y"], "");
    assert_eq!(call_id_of(&folded), Some(&b"x@y"[..]));
    let none = msg(&["OPTIONS sip:a@b SIP/2.0", "CSeq: 1 OPTIONS"], "Call-ID: in-the-body");
    assert_eq!(call_id_of(&none), None, "the body is not the head");
    assert_eq!(call_id_of(b"INVITE sip:a@b SIP/2.0\r\nbroken line\r\nCall-ID: z\r\n\r\n"), None);
    assert_eq!(call_id_of(b""), None);
}
