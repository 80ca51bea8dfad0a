use super::*;
use crate::sip;

fn settings(expire: Expire) -> Settings {
    Settings {
        name: "v1".into(),
        proxy: "198.51.100.20:5060".parse().unwrap(),
        domain: "carrier.example".into(),
        user: "acct1001".into(),
        password: "secret".into(),
        contact_host: "203.0.113.10".into(),
        expire,
        retry_delay_s: 60,
        privacy: Privacy::Id,
    }
}

fn client(expire: Expire) -> Client {
    let local = Local { host: "203.0.113.10".into(), port: 5060 };
    Client::new(settings(expire), local, "tdm0-reg-1@203.0.113.10".into(), "regtag".into())
}

/// The REGISTER the client just sent, as text.
fn sent(c: &mut Client) -> String {
    let (d, to) = c.poll_transmit().expect("a REGISTER");
    assert_eq!(to.to_string(), "198.51.100.20:5060");
    String::from_utf8(d.to_vec()).unwrap()
}

/// An auto-period client that has sent its first REGISTER, and that REGISTER.
fn started() -> (Client, String) {
    let mut c = client(Expire::Auto);
    c.start(0);
    let r1 = sent(&mut c);
    (c, r1)
}

/// The registrar's answer to `req`.
fn answer(req: &str, status: u16, extra: &[(&str, &str)]) -> Vec<u8> {
    let m = sip::parse(req.as_bytes()).unwrap();
    let mut buf = BytesMut::new();
    let mut b = sip::response_to(&mut buf, &m, status, "X", Some("srv"));
    for (n, v) in extra {
        b = b.header(n, v);
    }
    b.finish();
    buf.to_vec()
}

fn feed(c: &mut Client, bytes: &[u8], now: u64) {
    c.handle_response(&sip::parse(bytes).unwrap(), now);
}

const CHALLENGE: &str = r#"Digest realm="carrier.example", nonce="n1", qop="auth", algorithm=MD5"#;

#[test]
fn challenge_then_register_auto_adopts_the_granted_period_and_refreshes() {
    let (mut c, r1) = started();
    let m = sip::parse(r1.as_bytes()).unwrap();
    m.validate().unwrap();
    assert_eq!(m.request_uri().unwrap().raw, "sip:carrier.example");
    assert_eq!(m.expires().unwrap(), Some(3600));
    assert!(r1.contains("Privacy: id\r\n") && r1.contains("Contact: <sip:acct1001@203.0.113.10:5060>"));
    feed(&mut c, &answer(&r1, 401, &[("WWW-Authenticate", CHALLENGE)]), 10);
    let r2 = sent(&mut c);
    let m2 = sip::parse(r2.as_bytes()).unwrap();
    assert_eq!(m2.cseq().unwrap().seq, 2);
    assert_eq!(m2.call_id().unwrap(), "tdm0-reg-1@203.0.113.10");
    assert_eq!(m2.from().unwrap().tag, Some("regtag"));
    let auth = m2.auths(HeaderName::Authorization).next().unwrap().unwrap();
    assert_eq!(auth.param("nc").as_deref(), Some("00000001"));
    // The server's own check: recompute the response.
    let ch = Challenge::parse(&crate::sip::Auth::parse(CHALLENGE).unwrap()).unwrap();
    let req = digest::Request {
        method: "REGISTER",
        uri: "sip:carrier.example",
        user: "acct1001",
        password: "secret",
    };
    let cnonce = auth.param("cnonce").unwrap();
    assert_eq!(auth.param("response").as_deref(), Some(digest::response(&ch, &req, 1, &cnonce).as_str()));
    feed(&mut c, &answer(&r2, 200, &[("Contact", "<sip:acct1001@203.0.113.10:5060>;expires=600")]), 20);
    assert_eq!(c.state(), State::Registered);
    assert_eq!(c.poll_event(), Some(Event::Registered(600)));
    c.handle_timeout(20 + 5_000); // timer K ends the transaction
    assert_eq!(c.poll_timeout(), Some(20 + 510_000), "refresh at 85 % of 600 s");
    c.handle_timeout(20 + 510_000);
    let r3 = sent(&mut c);
    assert!(
        r3.contains("CSeq: 3 REGISTER") && r3.contains("Authorization: Digest"),
        "refresh reuses the credentials"
    );
}

#[test]
fn proxy_challenge_and_min_expires() {
    let mut c = client(Expire::Seconds(30));
    c.start(0);
    let r1 = sent(&mut c);
    assert!(r1.contains("Expires: 30\r\n"));
    feed(&mut c, &answer(&r1, 407, &[("Proxy-Authenticate", CHALLENGE)]), 1);
    let r2 = sent(&mut c);
    assert!(r2.contains("Proxy-Authorization: Digest "));
    feed(&mut c, &answer(&r2, 423, &[("Min-Expires", "120")]), 2);
    let r3 = sent(&mut c);
    assert!(r3.contains("Expires: 120\r\n"), "{r3}");
    feed(&mut c, &answer(&r3, 200, &[("Expires", "120")]), 3);
    assert_eq!(c.state(), State::Registered);
}

#[test]
fn refused_credentials_and_silence_wait_the_retry_delay() {
    let (mut c, r1) = started();
    feed(&mut c, &answer(&r1, 401, &[("WWW-Authenticate", CHALLENGE)]), 1);
    let r2 = sent(&mut c);
    feed(&mut c, &answer(&r2, 401, &[("WWW-Authenticate", CHALLENGE)]), 2);
    assert_eq!(c.state(), State::Failed, "challenged again: the password is wrong");
    assert!(matches!(c.poll_event(), Some(Event::Failed(w)) if w.contains("credentials refused")));
    assert!(c.poll_transmit().is_none(), "no retry storm");
    assert_eq!(c.poll_timeout(), Some(2 + 60_000));
    c.handle_timeout(60_001);
    assert!(c.poll_transmit().is_none());
    c.handle_timeout(60_002);
    let r3 = sent(&mut c);
    feed(&mut c, &answer(&r3, 403, &[]), 60_010);
    assert_eq!(c.state(), State::Failed);
    // No answer at all: retransmissions, then failure at 64·T1, then the retry delay.
    c.handle_timeout(120_010);
    let _ = sent(&mut c);
    let mut now = 120_010;
    while c.state() == State::Registering {
        now = c.poll_timeout().unwrap();
        c.handle_timeout(now);
        while c.poll_transmit().is_some() {}
    }
    assert_eq!((c.state(), now), (State::Failed, 120_010 + 32_000));
}

#[test]
fn fresh_nonces_do_not_hide_a_wrong_password() {
    let mut c = client(Expire::Auto);
    c.start(0);
    let mut req = sent(&mut c);
    for n in 0..5 {
        let ch = format!(r#"Digest realm="carrier.example", nonce="fresh{n}", qop="auth""#);
        feed(&mut c, &answer(&req, 401, &[("WWW-Authenticate", &ch)]), 1 + n);
        match c.poll_transmit() {
            Some((d, _)) => req = String::from_utf8(d.to_vec()).unwrap(),
            None => break,
        }
    }
    assert_eq!(c.state(), State::Failed, "the second challenge in a round is a refusal");
    assert!(req.contains("CSeq: 2 REGISTER"), "exactly one answered challenge: {req}");
    // A refresh with kept credentials may be challenged once (a new nonce) and answered.
    let mut ok = client(Expire::Auto);
    ok.start(0);
    let r1 = sent(&mut ok);
    feed(&mut ok, &answer(&r1, 401, &[("WWW-Authenticate", CHALLENGE)]), 1);
    let r2 = sent(&mut ok);
    feed(&mut ok, &answer(&r2, 200, &[("Expires", "100")]), 2);
    ok.handle_timeout(2 + 85_000);
    let r3 = sent(&mut ok);
    let fresh = r#"Digest realm="carrier.example", nonce="n2", qop="auth""#;
    feed(&mut ok, &answer(&r3, 401, &[("WWW-Authenticate", fresh)]), 85_010);
    let r4 = sent(&mut ok);
    feed(&mut ok, &answer(&r4, 200, &[("Expires", "100")]), 85_020);
    assert_eq!(ok.state(), State::Registered);
}

#[test]
fn stale_nonce_is_answered_again() {
    let (mut c, r1) = started();
    feed(&mut c, &answer(&r1, 401, &[("WWW-Authenticate", CHALLENGE)]), 1);
    let r2 = sent(&mut c);
    let stale = r#"Digest realm="carrier.example", nonce="n1", qop="auth", stale=true"#;
    feed(&mut c, &answer(&r2, 401, &[("WWW-Authenticate", stale)]), 2);
    assert_eq!(c.state(), State::Registering, "stale=true is not a failure");
    let _ = sent(&mut c);
}

#[test]
fn unregister_reuses_call_id_and_tag_and_answers_a_challenge() {
    let (mut c, r1) = started();
    feed(&mut c, &answer(&r1, 200, &[("Expires", "3600")]), 1);
    c.unregister(5);
    let u1 = sent(&mut c);
    let m = sip::parse(u1.as_bytes()).unwrap();
    assert_eq!(m.expires().unwrap(), Some(0));
    assert!(u1.contains(";expires=0"));
    assert_eq!(
        (m.call_id().unwrap(), m.from().unwrap().tag, m.cseq().unwrap().seq),
        ("tdm0-reg-1@203.0.113.10", Some("regtag"), 2)
    );
    feed(&mut c, &answer(&u1, 401, &[("WWW-Authenticate", CHALLENGE)]), 6);
    let u2 = sent(&mut c);
    assert!(u2.contains("Expires: 0\r\n") && u2.contains("Authorization: Digest "));
    feed(&mut c, &answer(&u2, 200, &[]), 7);
    assert!(c.unregister_done());
    assert_eq!(c.state(), State::Unregistered);
    // Never registered: nothing to remove.
    let mut idle = client(Expire::Auto);
    idle.unregister(0);
    assert!(idle.unregister_done() && idle.poll_transmit().is_none());
}

#[test]
fn our_contact_is_found_whatever_the_case_of_its_host_or_an_implied_port() {
    for listed in ["<SIP:acct1001@203.0.113.10:5060>", "<sip:acct1001@203.0.113.10>"] {
        let (mut c, r1) = started();
        let other = "<sip:acct1001@198.51.100.99:5060>;expires=9999";
        let contacts = format!("{other}, {listed};expires=40");
        feed(&mut c, &answer(&r1, 200, &[("Contact", &contacts), ("Expires", "3600")]), 10);
        assert_eq!(c.poll_event(), Some(Event::Registered(40)), "{listed}");
    }
    let mut c = client(Expire::Auto);
    c.s.contact_host = "GW.Example.NET".into();
    c.start(0);
    let r1 = sent(&mut c);
    feed(&mut c, &answer(&r1, 200, &[("Contact", "<sip:acct1001@gw.example.net:5060>;expires=40")]), 10);
    assert_eq!(c.poll_event(), Some(Event::Registered(40)));
}

#[test]
fn a_200_that_keeps_no_binding_is_a_failure_not_a_one_second_refresh() {
    let (mut c, r1) = started();
    feed(&mut c, &answer(&r1, 200, &[("Contact", "<sip:acct1001@203.0.113.10:5060>;expires=0")]), 10);
    assert_eq!(c.state(), State::Failed);
    assert!(matches!(c.poll_event(), Some(Event::Failed(why)) if why.contains("kept no binding")));
    assert_eq!(c.poll_timeout(), Some(10 + 60_000), "the retry delay, not a second");
}

#[test]
fn a_503_retry_after_longer_than_the_retry_delay_is_waited_out() {
    for (retry_after, wait_s) in [("120 (maintenance);duration=60", 120), ("5", 60)] {
        let (mut c, r1) = started();
        feed(&mut c, &answer(&r1, 503, &[("Retry-After", retry_after)]), 10);
        assert_eq!(c.state(), State::Failed);
        c.handle_timeout(10 + 32_000); // the transaction's own timers end
        assert_eq!(c.poll_timeout(), Some(10 + wait_s * 1000), "{retry_after}");
    }
}

#[test]
fn a_binding_whose_refresh_failed_is_still_removed_at_shutdown_until_it_lapses() {
    let (mut c, r1) = started();
    feed(&mut c, &answer(&r1, 200, &[("Expires", "40")]), 1_000); // bound until 41 s
    c.handle_timeout(35_000); // the refresh, at 85 %
    let refresh = sent(&mut c);
    feed(&mut c, &answer(&refresh, 503, &[]), 35_100);
    assert_eq!(c.state(), State::Failed);
    c.unregister(37_000);
    let u = sent(&mut c);
    assert!(u.contains("Expires: 0\r\n"), "{u}");
    assert_eq!(c.state(), State::Unregistering);
    // Once the binding has lapsed on its own there is nothing to remove.
    let (mut c, r1) = started();
    feed(&mut c, &answer(&r1, 200, &[("Expires", "40")]), 1_000);
    c.handle_timeout(35_000);
    let refresh = sent(&mut c);
    feed(&mut c, &answer(&refresh, 503, &[]), 35_100);
    c.unregister(42_000);
    assert!(c.unregister_done() && c.poll_transmit().is_none());
}

#[test]
fn the_same_nonce_challenged_again_keeps_counting() {
    let nc = |req: &str| -> Option<String> {
        let m = sip::parse(req.as_bytes()).unwrap();
        let auth = m.auths(HeaderName::Authorization).next()?.ok()?;
        auth.param("nc").map(|v| v.into_owned())
    };
    let (mut c, r1) = started();
    feed(&mut c, &answer(&r1, 401, &[("WWW-Authenticate", CHALLENGE)]), 1);
    let r2 = sent(&mut c);
    assert_eq!(nc(&r2).as_deref(), Some("00000001"));
    feed(&mut c, &answer(&r2, 200, &[("Expires", "100")]), 2);
    c.handle_timeout(100_000); // the refresh, with the credentials kept
    let r3 = sent(&mut c);
    assert_eq!(nc(&r3).as_deref(), Some("00000002"));
    // Challenged again with the same nonce: a reset to 1 would repeat r2's response.
    feed(&mut c, &answer(&r3, 401, &[("WWW-Authenticate", CHALLENGE)]), 100_001);
    let r4 = sent(&mut c);
    assert_eq!(nc(&r4).as_deref(), Some("00000003"));
}
