//! The registrar driven REGISTER by REGISTER on a virtual clock: responses
//! parsed back, digests computed as an endpoint would.

use super::*;
use crate::register::digest::{Request, credentials};
use crate::sip;

const REALM: &str = "tandem.example";
const URI: &str = "sip:tandem.example";
const A: &str = "192.0.2.10:5060";
const B: &str = "198.51.100.7:5060";
const CNONCE: &str = "0a4f113b";

fn settings() -> Settings {
    Settings { realm: REALM.into(), retry: 3, secret: 0x5eed, ..Settings::default() }
}

fn password(user: &str) -> Option<&'static str> {
    match user {
        "alice" => Some("wonderland"),
        "bob" => Some("builder"),
        _ => None,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    addr(s).ip()
}

/// A REGISTER to write: who, which Call-ID, and the optional parts.
#[derive(Clone)]
struct Reg {
    user: &'static str,
    to: &'static str,
    call_id: &'static str,
    contact: Option<String>,
    expires: Option<String>,
    auth: Option<String>,
}

impl Reg {
    fn new(user: &'static str, call_id: &'static str) -> Reg {
        let contact = Some(format!("<sip:{user}@192.0.2.10:5060>"));
        Reg { user, to: user, call_id, contact, expires: None, auth: None }
    }

    fn expires(mut self, e: &str) -> Reg {
        self.expires = Some(e.into());
        self
    }

    fn contact(mut self, c: Option<&str>) -> Reg {
        self.contact = c.map(str::to_owned);
        self
    }

    fn to(mut self, to: &'static str) -> Reg {
        self.to = to;
        self
    }

    fn auth(mut self, a: String) -> Reg {
        self.auth = Some(a);
        self
    }

    fn text(&self, cseq: u32) -> String {
        let (user, to, call_id) = (self.user, self.to, self.call_id);
        let mut t = format!(
            "REGISTER {URI} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@{REALM}>;tag=f{cseq}\r\nTo: <sip:{to}@{REALM}>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
        );
        let optional =
            [("Contact", &self.contact), ("Expires", &self.expires), ("Authorization", &self.auth)];
        for (name, value) in optional {
            if let Some(v) = value {
                t.push_str(&format!("{name}: {v}\r\n"));
            }
        }
        t + "Content-Length: 0\r\n\r\n"
    }
}

/// What came back: the response (parsed fields) and the events.
#[derive(Debug)]
struct Reply {
    status: Option<u16>,
    text: String,
    events: Vec<Event>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        let msg = sip::parse(self.text.as_bytes()).ok()?;
        let h = msg.headers().iter().find(|h| h.raw_name.eq_ignore_ascii_case(name.as_bytes()))?;
        Some(h.value_str().unwrap().to_owned())
    }

    fn to_tag(&self) -> String {
        sip::parse(self.text.as_bytes()).unwrap().to().unwrap().tag.unwrap().to_owned()
    }

    fn challenge(&self) -> Challenge {
        let msg = sip::parse(self.text.as_bytes()).unwrap();
        let auth = msg.auths(HeaderName::WwwAuthenticate).next().expect("a challenge").unwrap();
        Challenge::parse(&auth).unwrap()
    }
}

/// `Authorization` answering `ch` as `user` with `password`, count `nc`.
fn answer(ch: &Challenge, user: &str, password: &str, nc: u32) -> String {
    credentials(ch, &Request { method: "REGISTER", uri: URI, user, password }, nc, CNONCE)
}

struct Bed {
    reg: Registrar,
    now: u64,
    cseq: u32,
}

impl Bed {
    fn new(s: Settings) -> Bed {
        Bed { reg: Registrar::new(s), now: 1_000_000, cseq: 0 }
    }

    fn send(&mut self, r: &Reg, from: &str) -> Reply {
        self.cseq += 1;
        let text = r.text(self.cseq);
        let msg = sip::parse(text.as_bytes()).unwrap();
        msg.validate().unwrap();
        self.deliver(&msg, from)
    }

    fn deliver(&mut self, msg: &Message<'_>, from: &str) -> Reply {
        let h = self.reg.handle(msg, addr(from), self.now, password);
        let text = h.response.map(|b| String::from_utf8(b.to_vec()).unwrap()).unwrap_or_default();
        let status = sip::parse(text.as_bytes()).ok().and_then(|m| m.status());
        Reply { status, text, events: h.events }
    }

    /// A challenge, then the answer with `pw`.
    fn login(&mut self, r: &Reg, pw: &str, from: &str) -> Reply {
        let ch = self.send(r, from);
        assert_eq!(ch.status, Some(401), "{}", ch.text);
        self.send(&r.clone().auth(answer(&ch.challenge(), r.user, pw, 1)), from)
    }
}

/// `ev` as made at `at_ms`.
fn made(ev: Event, at_ms: u64) -> Event {
    match ev {
        Event::Bound { user, source, contact, call_id, expires_ms, .. } => {
            Event::Bound { user, source, contact, call_id, expires_ms, at_ms }
        }
        other => other,
    }
}

fn bound(user: &str, source: &str, call_id: &str, expires_ms: u64) -> Event {
    Event::Bound {
        user: user.into(),
        source: addr(source),
        contact: format!("sip:{user}@192.0.2.10:5060"),
        call_id: call_id.into(),
        expires_ms,
        at_ms: 0,
    }
}

#[test]
fn challenge_then_answer_binds_and_identifies_the_source() {
    let mut bed = Bed::new(settings());
    let r = Reg::new("alice", "c1@pbx").expires("600");
    let ch = bed.send(&r, A);
    assert_eq!(ch.status, Some(401));
    let www = ch.header("WWW-Authenticate").unwrap();
    assert!(www.starts_with(r#"Digest realm="tandem.example", nonce=""#), "{www}");
    assert!(www.ends_with(r#"", algorithm=MD5, qop="auth""#), "{www}");
    let c = ch.challenge();
    assert!(c.qop_auth && !c.stale && !c.sess);
    assert!(ch.events.is_empty());
    assert_eq!(bed.reg.stats().challenged, 1);

    let ok = bed.send(&r.clone().auth(answer(&c, "alice", "wonderland", 1)), A);
    assert_eq!(ok.status, Some(200), "{}", ok.text);
    assert_eq!(ok.header("Contact").as_deref(), Some("<sip:alice@192.0.2.10:5060>;expires=600"));
    assert_eq!(ok.header("Expires").as_deref(), Some("600"));
    assert_eq!(ok.events, [made(bound("alice", A, "c1@pbx", bed.now + 600_000), bed.now)]);
    assert_eq!(ok.to_tag(), ch.to_tag(), "one tag per Call-ID, retransmissions included");
    assert_eq!(bed.reg.user_at(addr(A), bed.now), Some("alice"));
    assert_eq!(bed.reg.user_at(addr("192.0.2.10:5070"), bed.now), Some("alice"), "the only user of that IP");
    assert_eq!(bed.reg.user_at(addr(B), bed.now), None);
    assert_eq!(bed.reg.bindings(), 1);
    assert_eq!(bed.reg.next_expiry(), Some(bed.now + 600_000));
    assert_eq!(bed.reg.stats().registered, 1);
    let other = bed.send(&Reg::new("alice", "c2@pbx"), A);
    assert_ne!(other.to_tag(), ok.to_tag());
}

#[test]
fn failures_get_401_until_the_retry_count_then_403_and_a_suspension() {
    let mut bed = Bed::new(settings()); // retry = 3
    let r = Reg::new("alice", "c1@pbx");
    let mut ch = bed.send(&r, A).challenge();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let rep = bed.send(&r.clone().auth(answer(&ch, "alice", "guess", 1)), A);
        assert_eq!(rep.events, [Event::AuthFailed { ip: ip(A), at_ms: bed.now }]);
        statuses.push(rep.status);
        if rep.status == Some(401) {
            ch = rep.challenge();
        }
    }
    assert_eq!(statuses, [Some(401), Some(401), Some(403)]);
    assert_eq!(bed.reg.stats().auth_failures, 3);
    assert!(bed.reg.suspended(ip(A), bed.now));
    assert_eq!(bed.reg.suspended_sources(bed.now), 1);

    // Right password while suspended: refused without looking.
    let good = r.clone().auth(answer(&ch, "alice", "wonderland", 1));
    let refused = bed.send(&good, A);
    assert_eq!((refused.status, refused.events.len()), (Some(403), 0));
    assert_eq!(bed.reg.stats().suspended_refusals, 1);
    assert_eq!(bed.send(&Reg::new("bob", "c9@pbx"), B).status, Some(401), "other sources unaffected");
    bed.now += 180_000 - 1;
    assert_eq!(bed.send(&good, A).status, Some(403));
    bed.now += 1;
    assert!(!bed.reg.suspended(ip(A), bed.now));
    assert_eq!(bed.reg.suspended_sources(bed.now), 0);
    assert_eq!(bed.login(&r, "wonderland", A).status, Some(200));
}

#[test]
fn a_success_clears_the_failure_count() {
    let mut bed = Bed::new(settings());
    let r = Reg::new("alice", "c1@pbx");
    let fail_twice = |bed: &mut Bed| {
        let ch = bed.send(&r, A).challenge();
        for _ in 0..2 {
            let rep = bed.send(&r.clone().auth(answer(&ch, "alice", "guess", 1)), A);
            assert_eq!(rep.status, Some(401));
        }
    };
    fail_twice(&mut bed);
    assert_eq!(bed.login(&r, "wonderland", A).status, Some(200));
    fail_twice(&mut bed);
    assert!(!bed.reg.suspended(ip(A), bed.now));
    assert_eq!(bed.reg.stats().auth_failures, 4);
}

#[test]
fn unknown_users_and_foreign_aors_are_failures() {
    let mut bed = Bed::new(settings());
    let ch = bed.send(&Reg::new("mallory", "m1@pbx"), A).challenge();
    let rep = bed.send(&Reg::new("mallory", "m1@pbx").auth(answer(&ch, "mallory", "x", 1)), A);
    assert_eq!(
        (rep.status, &rep.events[..]),
        (Some(401), &[Event::AuthFailed { ip: ip(A), at_ms: bed.now }][..])
    );
    // alice's own password, registering bob's AOR.
    let foreign = Reg::new("alice", "a1@pbx").to("bob");
    let rep = bed.send(&foreign.auth(answer(&ch, "alice", "wonderland", 1)), A);
    assert_eq!(
        (rep.status, &rep.events[..]),
        (Some(401), &[Event::AuthFailed { ip: ip(A), at_ms: bed.now }][..])
    );
    assert_eq!(bed.reg.stats().auth_failures, 2);
    assert_eq!(bed.reg.bindings(), 0);
}

#[test]
fn replace_on_moves_the_binding_to_the_new_call_id() {
    let mut bed = Bed::new(settings());
    assert_eq!(bed.login(&Reg::new("alice", "old@pbx"), "wonderland", A).status, Some(200));
    let rep = bed.login(&Reg::new("alice", "new@pbx"), "wonderland", B);
    assert_eq!(rep.status, Some(200));
    assert_eq!(rep.events, [made(bound("alice", B, "new@pbx", bed.now + 3_600_000), bed.now)]);
    assert_eq!(bed.reg.user_at(addr(A), bed.now), None);
    assert_eq!(bed.reg.user_at(addr(B), bed.now), Some("alice"));
    assert_eq!((bed.reg.stats().registered, bed.reg.stats().replaced), (1, 1));
    assert_eq!(bed.reg.bindings(), 1);
}

#[test]
fn replace_off_refuses_another_call_id_while_the_binding_lives() {
    let mut bed = Bed::new(Settings { replace: false, ..settings() });
    assert_eq!(bed.login(&Reg::new("alice", "old@pbx").expires("600"), "wonderland", A).status, Some(200));
    let rep = bed.login(&Reg::new("alice", "new@pbx"), "wonderland", B);
    assert_eq!((rep.status, rep.events.len()), (Some(403), 0));
    assert_eq!(bed.reg.stats().refused_active, 1);
    assert_eq!(bed.reg.user_at(addr(A), bed.now), Some("alice"));
    // A refresh of the binding itself still works; once it is gone, so does the new device.
    assert_eq!(bed.login(&Reg::new("alice", "old@pbx").expires("600"), "wonderland", A).status, Some(200));
    bed.now += 600_000;
    let rep = bed.login(&Reg::new("alice", "new@pbx"), "wonderland", B);
    assert_eq!(rep.status, Some(200));
    assert_eq!(bed.reg.user_at(addr(B), bed.now), Some("alice"));
    assert_eq!((bed.reg.stats().registered, bed.reg.stats().refreshed), (2, 1));
}

#[test]
fn a_refresh_with_the_same_call_id_extends_the_binding() {
    let mut bed = Bed::new(settings());
    let r = Reg::new("alice", "c1@pbx").expires("600");
    let ch = bed.send(&r, A).challenge();
    assert_eq!(bed.send(&r.clone().auth(answer(&ch, "alice", "wonderland", 1)), A).status, Some(200));
    bed.now += 300_000;
    // The same nonce, next nc: stateless nonces stay good for their lifetime.
    let rep = bed.send(&r.clone().auth(answer(&ch, "alice", "wonderland", 2)), A);
    assert_eq!(rep.status, Some(200), "{}", rep.text);
    assert_eq!(rep.events, [made(bound("alice", A, "c1@pbx", bed.now + 600_000), bed.now)]);
    assert_eq!(bed.reg.next_expiry(), Some(bed.now + 600_000));
    assert_eq!((bed.reg.stats().registered, bed.reg.stats().refreshed), (1, 1));
    assert_eq!(bed.reg.bindings(), 1);
}

#[test]
fn expires_zero_and_wildcard_remove_the_binding() {
    let mut bed = Bed::new(settings());
    assert_eq!(bed.login(&Reg::new("alice", "c1@pbx"), "wonderland", A).status, Some(200));
    // Another Call-ID (a rebooted PBX) may clear it too.
    let zero = Reg::new("alice", "c2@pbx").contact(Some("<sip:alice@192.0.2.10:5060>;expires=0"));
    let rep = bed.login(&zero, "wonderland", A);
    assert_eq!(rep.status, Some(200));
    assert_eq!(rep.events, [Event::Unbound { user: "alice".into(), call_id: "c1@pbx".into() }]);
    assert_eq!(rep.header("Contact"), None);
    assert_eq!((bed.reg.bindings(), bed.reg.user_at(addr(A), bed.now)), (0, None));

    assert_eq!(bed.login(&Reg::new("alice", "c3@pbx"), "wonderland", A).status, Some(200));
    let star = Reg::new("alice", "c3@pbx").contact(Some("*"));
    let bad = bed.login(&star, "wonderland", A);
    assert_eq!((bad.status, bad.events.len()), (Some(400), 0), "`*` needs Expires: 0");
    assert_eq!(bed.reg.bindings(), 1);
    let rep = bed.login(&star.clone().expires("0"), "wonderland", A);
    assert_eq!(rep.status, Some(200));
    assert_eq!(rep.events, [Event::Unbound { user: "alice".into(), call_id: "c3@pbx".into() }]);
    assert_eq!(bed.reg.bindings(), 0);
    let again = bed.login(&star.expires("0"), "wonderland", A);
    assert_eq!((again.status, again.events.len()), (Some(200), 0));
    assert_eq!(bed.reg.stats().unregistered, 3);
}

#[test]
fn below_min_expires_is_423_with_min_expires() {
    let mut bed = Bed::new(settings());
    let rep = bed.login(&Reg::new("alice", "c1@pbx").expires("30"), "wonderland", A);
    assert_eq!(rep.status, Some(423));
    assert_eq!(rep.header("Min-Expires").as_deref(), Some("60"));
    assert!(rep.events.is_empty());
    assert_eq!((bed.reg.bindings(), bed.reg.stats().interval_too_brief), (0, 1));
}

#[test]
fn long_or_unspecified_periods_get_max_expires() {
    let mut bed = Bed::new(settings());
    let cases = [
        (Some("<sip:alice@192.0.2.10:5060>;expires=7200"), None, "3600"),
        (Some("<sip:alice@192.0.2.10:5060>"), None, "3600"),
        (Some("<sip:alice@192.0.2.10:5060>;expires=120"), Some("900"), "120"),
        (Some("<sip:alice@192.0.2.10:5060>"), Some("900"), "900"),
    ];
    for (contact, expires, granted) in cases {
        let mut r = Reg::new("alice", "c1@pbx").contact(contact);
        r.expires = expires.map(str::to_owned);
        let rep = bed.login(&r, "wonderland", A);
        assert_eq!(rep.header("Expires").as_deref(), Some(granted), "{contact:?} {expires:?}");
        let want = format!("<sip:alice@192.0.2.10:5060>;expires={granted}");
        assert_eq!(rep.header("Contact"), Some(want));
    }
}

#[test]
fn bindings_expire_at_their_time() {
    let mut bed = Bed::new(settings());
    let rep = bed.login(&Reg::new("alice", "c1@pbx").expires("600"), "wonderland", A);
    let end = bed.now + 600_000;
    let mut replica = Registrar::new(settings());
    for ev in &rep.events {
        replica.apply(ev, bed.now);
    }
    assert_eq!(bed.reg.user_at(addr(A), end - 1), Some("alice"));
    assert_eq!(bed.reg.user_at(addr(A), end), None, "dead before expire() runs");
    assert_eq!(bed.reg.expire(end - 1), 0);
    assert_eq!(bed.reg.expire(end), 1);
    assert_eq!((bed.reg.bindings(), bed.reg.next_expiry()), (0, None));
    assert_eq!(replica.expire(end), 1);
    assert_eq!(
        (bed.reg.stats().expired, replica.stats().expired),
        (1, 1),
        "each replica expires its own copy"
    );
}

#[test]
fn a_stale_nonce_with_the_right_password_gets_401_stale() {
    let mut bed = Bed::new(settings());
    let r = Reg::new("alice", "c1@pbx");
    let ch = bed.send(&r, A).challenge();
    bed.now += 300_000;
    let wrong = answer(&ch, "alice", "guess", 1);
    let right = answer(&ch, "alice", "wonderland", 1);
    bed.now += 1;
    let rep = bed.send(&r.clone().auth(right), A);
    assert_eq!(rep.status, Some(401));
    let fresh = rep.challenge();
    assert!(fresh.stale);
    assert_ne!(fresh.nonce, ch.nonce);
    assert!(rep.events.is_empty());
    assert_eq!((bed.reg.stats().challenged, bed.reg.stats().auth_failures), (2, 0));
    let rep = bed.send(&r.clone().auth(wrong), A);
    assert_eq!(rep.events, [Event::AuthFailed { ip: ip(A), at_ms: bed.now }]);
    assert!(!rep.challenge().stale);
    assert_eq!(bed.send(&r.clone().auth(answer(&fresh, "alice", "wonderland", 1)), A).status, Some(200));
}

#[test]
fn a_nonce_at_its_last_millisecond_is_still_good() {
    let mut bed = Bed::new(settings());
    let r = Reg::new("alice", "c1@pbx");
    let ch = bed.send(&r, A).challenge();
    bed.now += 300_000;
    assert_eq!(bed.send(&r.clone().auth(answer(&ch, "alice", "wonderland", 1)), A).status, Some(200));
}

#[test]
fn forged_or_foreign_nonces_get_a_plain_401() {
    let mut bed = Bed::new(settings());
    let r = Reg::new("alice", "c1@pbx");
    let mine = bed.send(&r, A).challenge().nonce;
    let theirs = bed.send(&r, B).challenge().nonce;
    let (time, mac) = mine.split_once('.').unwrap();
    let shifted = format!("{:x}.{mac}", u64::from_str_radix(time, 16).unwrap() + 1);
    let forged = ["0.00000000000000000000000000000000", "", "nodot", "zz.yy", &shifted, &theirs, "+f4240.00"];
    for nonce in forged {
        let ch = Challenge { nonce: nonce.into(), ..bed.send(&r, A).challenge() };
        let rep = bed.send(&r.clone().auth(answer(&ch, "alice", "wonderland", 1)), A);
        assert_eq!(rep.status, Some(401), "{nonce}");
        assert!(!rep.challenge().stale, "{nonce}");
        assert!(rep.events.is_empty(), "{nonce}");
    }
    assert_eq!(bed.reg.stats().auth_failures, 0);
    assert_eq!(bed.reg.bindings(), 0);
}

#[test]
fn the_rate_limit_drops_beyond_the_burst() {
    let mut bed = Bed::new(Settings { per_source_per_sec: 2, ..settings() });
    let r = Reg::new("alice", "c1@pbx");
    let statuses: Vec<_> = (0..6).map(|_| bed.send(&r, A).status).collect();
    assert_eq!(statuses, [Some(401), Some(401), Some(401), Some(401), None, None]);
    assert_eq!(bed.reg.stats().rate_limited, 2);
    assert_eq!(bed.send(&r, B).status, Some(401), "per source");
    bed.now += 499;
    assert_eq!(bed.send(&r, A).status, None, "2 tokens/s: one more after 500 ms");
    bed.now += 1;
    assert_eq!(bed.send(&r, A).status, Some(401));
    assert_eq!(bed.send(&r, A).status, None);
    assert_eq!(bed.reg.stats().rate_limited, 4);
    assert_eq!(bed.reg.stats().challenged, 6);
}

#[test]
fn a_full_source_table_evicts_the_source_idle_longest() {
    let mut reg = Registrar::new(Settings { per_source_per_sec: 1, ..settings() });
    let x = ip("203.0.113.1:0");
    assert!(reg.take_token(x, 0) && reg.take_token(x, 0));
    assert!(!reg.take_token(x, 0), "burst of 2 used up");
    for i in 0..MAX_SOURCES as u32 {
        assert!(reg.take_token(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)), 1));
    }
    assert_eq!(reg.buckets.len(), MAX_SOURCES);
    assert!(reg.take_token(x, 2), "x was idle longest: evicted, so it starts afresh");
    assert_eq!(reg.buckets.len(), MAX_SOURCES);
    reg.expire(2_001);
    assert_eq!(reg.buckets.len(), 1, "refilled buckets are forgotten");
    reg.expire(2_002);
    assert!(reg.buckets.is_empty() && reg.idle.is_empty());
}

#[test]
fn replicas_applying_the_events_agree() {
    let mut bed = Bed::new(settings());
    let mut other = Registrar::new(settings());
    let mut events = Vec::new();
    let rep = bed.login(&Reg::new("alice", "a1@pbx"), "wonderland", A);
    events.extend(rep.events);
    let r = Reg::new("bob", "b1@pbx");
    let ch = bed.send(&r, B).challenge();
    for _ in 0..3 {
        events.extend(bed.send(&r.clone().auth(answer(&ch, "bob", "guess", 1)), B).events);
    }
    assert_eq!(events.len(), 4);
    for ev in &events {
        other.apply(ev, bed.now);
    }
    other.apply(&events[0], bed.now); // Bound twice is harmless
    assert_eq!(other.user_at(addr(A), bed.now), Some("alice"));
    assert_eq!(other.bindings(), 1);
    assert!(other.suspended(ip(B), bed.now));
    assert_eq!(other.suspended_sources(bed.now), bed.reg.suspended_sources(bed.now));
    let h = other.handle(&sip::parse(r.text(9).as_bytes()).unwrap(), addr(B), bed.now, password);
    assert_eq!(sip::parse(&h.response.unwrap()).unwrap().status(), Some(403));

    // An Unbound of an older Call-ID leaves the newer binding alone.
    let moved = bed.login(&Reg::new("alice", "a2@pbx"), "wonderland", A).events;
    other.apply(&moved[0], bed.now);
    other.apply(&Event::Unbound { user: "alice".into(), call_id: "a1@pbx".into() }, bed.now);
    assert_eq!(other.user_at(addr(A), bed.now), Some("alice"));
    let gone = bed.login(&Reg::new("alice", "a2@pbx").expires("0"), "wonderland", A).events;
    other.apply(&gone[0], bed.now);
    assert_eq!((other.bindings(), other.user_at(addr(A), bed.now)), (0, None));
    assert_eq!(other.next_expiry(), None);
}

#[test]
fn user_at_prefers_the_exact_address_and_refuses_ambiguity() {
    let mut reg = Registrar::new(settings());
    reg.apply(&bound("alice", "192.0.2.10:5060", "a@x", 10_000), 0);
    reg.apply(&bound("bob", "192.0.2.10:5062", "b@x", 10_000), 0);
    assert_eq!(reg.user_at(addr("192.0.2.10:5060"), 0), Some("alice"));
    assert_eq!(reg.user_at(addr("192.0.2.10:5062"), 0), Some("bob"));
    assert_eq!(reg.user_at(addr("192.0.2.10:5999"), 0), None, "two users behind that IP");
    reg.apply(&bound("carol", "192.0.2.10:5060", "c@x", 5_000), 0);
    assert_eq!(reg.user_at(addr("192.0.2.10:5060"), 0), None, "two users at that address");
    assert_eq!(reg.user_at(addr("192.0.2.10:5060"), 5_000), Some("alice"), "carol's binding is over");
    assert_eq!(reg.next_expiry(), Some(5_000));
}

#[test]
fn a_query_lists_the_binding_with_its_time_left() {
    let mut bed = Bed::new(settings());
    let query = Reg::new("alice", "c1@pbx").contact(None);
    let rep = bed.login(&query, "wonderland", A);
    assert_eq!((rep.status, rep.header("Contact")), (Some(200), None));
    bed.login(&Reg::new("alice", "c1@pbx").expires("600"), "wonderland", A);
    bed.now += 100_500;
    let rep = bed.login(&query, "wonderland", A);
    assert_eq!(rep.status, Some(200));
    assert_eq!(rep.header("Contact").as_deref(), Some("<sip:alice@192.0.2.10:5060>;expires=500"));
    assert!(rep.events.is_empty());
}

#[test]
fn garbage_authorization_never_panics() {
    let mut bed = Bed::new(Settings { retry: 1000, ..settings() });
    let nonce = bed.send(&Reg::new("alice", "c1@pbx"), A).challenge().nonce;
    let d = |rest: &str| format!(r#"Digest realm="{REALM}", nonce="{nonce}"{rest}"#);
    let user = r#", username="alice", uri="sip:tandem.example""#;
    // (Authorization, counted as a failure)
    let cases = [
        ("Digest".to_owned(), false),
        ("Digest realm=".to_owned(), false),
        ("Basic YWxpY2U6d29uZGVybGFuZA==".to_owned(), false),
        (r#"Digest realm="elsewhere", nonce="1.2""#.to_owned(), false),
        (format!(r#"Digest realm="{REALM}", nonce="zz.zz""#), false),
        (format!(r#"Digest realm="{REALM}", nonce="ffffffffffffffffff.00""#), false),
        (format!(r#"Digest realm="{REALM}", nonce="é.é""#), false),
        (d(", algorithm=SHA-256"), false),
        (d(""), true),
        (d(user), true),
        (d(&format!(r#"{user}, response="00""#)), true),
        (d(&format!(r#"{user}, response="00", qop=auth, nc=xyz, cnonce="c""#)), true),
        (d(&format!(r#"{user}, response="00", qop=auth, cnonce="c""#)), true),
        (d(&format!(r#"{user}, response="00", qop=auth-int, nc=1, cnonce="c""#)), true),
        (d(r#", username="alice", response="00""#), true),
    ];
    for (auth, failure) in cases {
        let text = Reg::new("alice", "c1@pbx").auth(auth.clone()).text(1);
        let Ok(msg) = sip::parse(text.as_bytes()) else { continue };
        let rep = bed.deliver(&msg, A);
        assert_eq!(rep.status, Some(401), "{auth}");
        let failed = rep.events == [Event::AuthFailed { ip: ip(A), at_ms: bed.now }];
        assert_eq!(failed, failure, "{auth}");
    }
    assert_eq!(bed.reg.bindings(), 0);
}

#[test]
fn malformed_requests_with_good_credentials_never_panic() {
    let mut bed = Bed::new(Settings { retry: 1000, ..settings() });
    let ch = bed.send(&Reg::new("alice", "c1@pbx"), A).challenge();
    let auth = answer(&ch, "alice", "wonderland", 1);
    let good = Reg::new("alice", "c1@pbx").expires("600").auth(auth).text(1);
    let no_call_id = good.replace("Call-ID: c1@pbx\r\n", "");
    let rep = bed.deliver(&sip::parse(no_call_id.as_bytes()).unwrap(), A);
    assert_eq!(rep.status, Some(400));
    let no_to = good.replace("To: <sip:alice@tandem.example>\r\n", "");
    let rep = bed.deliver(&sip::parse(no_to.as_bytes()).unwrap(), A);
    assert_eq!((rep.status, rep.events.len()), (Some(401), 1), "no AOR to match: a failure");
    let bad_contact = good.replace("<sip:alice@192.0.2.10:5060>", "<nonsense");
    let rep = bed.deliver(&sip::parse(bad_contact.as_bytes()).unwrap(), A);
    assert_eq!(rep.status, Some(400));
    assert_eq!(bed.reg.bindings(), 0);
}

#[test]
fn a_success_resets_the_failure_count_on_every_replica() {
    let mut bed = Bed::new(settings());
    let mut other = Registrar::new(settings());
    let r = Reg::new("bob", "b1@pbx");
    let ch = bed.send(&r, B).challenge();
    let mut events = Vec::new();
    for _ in 0..2 {
        events.extend(bed.send(&r.clone().auth(answer(&ch, "bob", "guess", 1)), B).events);
    }
    events.extend(bed.login(&r, "builder", B).events);
    assert!(events.iter().any(|e| matches!(e, Event::AuthOk { .. })), "{events:?}");
    for ev in &events {
        other.apply(ev, bed.now);
    }
    // One more failure on the other replica: far from the retry count on both.
    let fail = Event::AuthFailed { ip: ip(B), at_ms: bed.now };
    other.apply(&fail, bed.now);
    bed.reg.apply(&fail, bed.now);
    other.apply(&fail, bed.now);
    bed.reg.apply(&fail, bed.now);
    assert!(!other.suspended(ip(B), bed.now));
    assert!(!bed.reg.suspended(ip(B), bed.now));
}

#[test]
fn racing_registrations_end_the_same_on_every_replica() {
    let (mut a, mut b) = (Registrar::new(settings()), Registrar::new(settings()));
    let early = made(bound("alice", "192.0.2.10:5060", "y@pbx", 60_000), 100);
    let late = made(bound("alice", "192.0.2.11:5060", "x@pbx", 60_000), 101);
    // Each replica sees its own registration first, then the other's.
    a.apply(&early, 200);
    a.apply(&late, 200);
    b.apply(&late, 200);
    b.apply(&early, 200);
    for r in [&a, &b] {
        assert_eq!(r.user_at(addr("192.0.2.11:5060"), 200), Some("alice"));
        assert_eq!(r.user_at(addr("192.0.2.10:5060"), 200), None);
    }
}

#[test]
fn ipv6_sources_are_counted_per_64() {
    assert_eq!(
        source_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
        "2001:db8:1:2::".parse::<IpAddr>().unwrap()
    );
    assert_eq!(source_key("192.0.2.7".parse().unwrap()), "192.0.2.7".parse::<IpAddr>().unwrap());
    let mut reg = Registrar::new(settings());
    let retry = settings().retry;
    for i in 0..retry {
        let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
        reg.apply(&Event::AuthFailed { ip: source_key(ip), at_ms: 10 }, 10);
    }
    assert!(reg.suspended("2001:db8:1:2:ffff::9".parse().unwrap(), 11), "the whole /64 is suspended");
    assert!(!reg.suspended("2001:db8:1:3::1".parse().unwrap(), 11));
}
