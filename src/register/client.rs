//! One outbound registration (DESIGN.md §5, SPEC.md §2): a sans-IO state
//! machine with a timeout in every state. REGISTER to the proxy, answer
//! 401/407 with digest credentials, adopt the granted period, refresh at
//! 85 % of it, retry after `user_agent_retry_delay` on failure, and on
//! shutdown send `Expires: 0` with the same Call-ID and From tag.

use super::digest::{self, Challenge};
use crate::call::build::Local;
use crate::config::{Expire, Privacy};
use crate::sip::{Builder, Contact, HeaderName, Message};
use crate::txn::{ClientEvent, ClientTxn, Kind};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;

/// What `auto` asks for (the server grants what it wants).
const AUTO_ASK: u32 = 3600;

/// The settings of one registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The routing gateway it belongs to (for logs).
    pub name: String,
    /// Where REGISTER goes.
    pub proxy: SocketAddr,
    /// Registrar domain.
    pub domain: String,
    /// Authentication user (also the AoR user).
    pub user: String,
    /// Password.
    pub password: String,
    /// Host in Contact.
    pub contact_host: String,
    /// Period policy.
    pub expire: Expire,
    /// Seconds to wait after a failure.
    pub retry_delay_s: u32,
    /// Privacy header policy.
    pub privacy: Privacy,
}

/// Every `[routing_gateway.register]` of a configuration, in file order;
/// `default_host` is the Contact host when the entry names none.
pub fn settings_for(cfg: &crate::config::Config, default_host: &str) -> Vec<Settings> {
    let with_reg = cfg.routing_gateways.iter().filter_map(|g| g.register.as_ref().map(|r| (g, r)));
    with_reg
        .map(|(g, r)| Settings {
            name: g.name.get_ref().clone(),
            proxy: r.proxy,
            domain: r.domain.clone(),
            user: r.user.clone(),
            password: r.password.clone(),
            contact_host: r.host.clone().unwrap_or_else(|| default_host.to_owned()),
            expire: r.period.unwrap_or(cfg.sip.user_agent_expire),
            retry_delay_s: cfg.sip.user_agent_retry_delay,
            privacy: cfg.sip.user_agent_privacy,
        })
        .collect()
}

/// The shard that owns the registration of gateway `name`: stable across
/// reloads (by name, not position), so a reload moves no registration.
pub fn owner_shard(name: &str, shards: u16) -> u16 {
    (crate::call::ids::fnv1a(name.as_bytes()) % u64::from(shards.max(1))) as u16
}

/// Where a registration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not started.
    Idle,
    /// A REGISTER is in flight (first, refresh, or answering a challenge).
    Registering,
    /// Bound until the refresh.
    Registered,
    /// Failed; waiting `retry_delay` to try again.
    Failed,
    /// Sending `Expires: 0`.
    Unregistering,
    /// The binding is removed (or there was none).
    Unregistered,
    /// The unregister got no final answer, or a refusal.
    UnregisterFailed,
}

impl State {
    /// The state's name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Registering => "registering",
            State::Registered => "registered",
            State::Failed => "failed",
            State::Unregistering => "unregistering",
            State::Unregistered => "unregistered",
            State::UnregisterFailed => "unregister_failed",
        }
    }
}

/// A change worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Registered for this many seconds.
    Registered(u32),
    /// Failed: why.
    Failed(String),
    /// The binding was removed.
    Unregistered,
    /// The unregister failed: why.
    UnregisterFailed(String),
}

/// One registration.
#[derive(Debug)]
pub struct Client {
    s: Settings,
    local: Local,
    call_id: String,
    from_tag: String,
    cseq: u32,
    state: State,
    txn: Option<ClientTxn>,
    asked: u32,
    challenge: Option<(Challenge, bool)>,
    /// This round's request already answered a challenge: another (not stale) means refused.
    answered: bool,
    /// `stale=true` challenges answered this round (bounded: no endless loop).
    stale_answers: u8,
    nc: u32,
    cnonce: String,
    refresh_at: Option<u64>,
    retry_at: Option<u64>,
    /// When the last granted binding lapses: a refresh that failed leaves it
    /// on the registrar until then, so shutdown still removes it.
    bound_until: Option<u64>,
    branches: u64,
    events: Vec<Event>,
}

impl Client {
    /// A registration; `call_id` (owned by the shard) and `tag` stay for its whole life.
    pub fn new(s: Settings, local: Local, call_id: String, tag: String) -> Self {
        let asked = match s.expire {
            Expire::Auto => AUTO_ASK,
            Expire::Seconds(n) => n,
        };
        let cnonce = format!("{:08x}", crate::call::ids::fnv1a(call_id.as_bytes()) as u32);
        Client {
            s,
            local,
            call_id,
            from_tag: tag,
            cseq: 0,
            state: State::Idle,
            txn: None,
            asked,
            challenge: None,
            answered: false,
            stale_answers: 0,
            nc: 0,
            cnonce,
            refresh_at: None,
            retry_at: None,
            bound_until: None,
            branches: 0,
            events: Vec::new(),
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.s
    }

    /// The Call-ID, which routes responses back to this registration.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Sends the first REGISTER.
    pub fn start(&mut self, now: u64) {
        self.new_round(now, false);
    }

    /// A new register, refresh, retry or unregister: credentials kept from an
    /// earlier challenge are sent preemptively, and may be challenged once.
    fn new_round(&mut self, now: u64, unregister: bool) {
        self.answered = false;
        self.stale_answers = 0;
        self.send(now, unregister);
    }

    /// Removes the binding (shutdown): `Expires: 0`. With nothing bound there
    /// is nothing to remove.
    pub fn unregister(&mut self, now: u64) {
        let still_bound = self.bound_until.is_some_and(|t| t > now);
        match self.state {
            State::Registered | State::Registering => self.new_round(now, true),
            State::Failed if still_bound => self.new_round(now, true),
            State::Unregistering | State::Unregistered | State::UnregisterFailed => {}
            State::Idle | State::Failed => {
                self.state = State::Unregistered;
                self.txn = None;
            }
        }
    }

    /// Done with the unregister (answered, refused or timed out).
    pub fn unregister_done(&self) -> bool {
        matches!(self.state, State::Unregistered | State::UnregisterFailed)
    }

    fn send(&mut self, now: u64, unregister: bool) {
        self.cseq += 1;
        self.branches += 1;
        self.state = if unregister { State::Unregistering } else { State::Registering };
        let request = self.build(unregister);
        self.txn = Some(ClientTxn::new(Kind::NonInvite, request, now));
        self.refresh_at = None;
        self.retry_at = None;
    }

    fn build(&mut self, unregister: bool) -> Bytes {
        let uri = format!("sip:{}", self.s.domain);
        let aor = format!("<sip:{}@{}>", self.s.user, self.s.domain);
        let branch = format!("z9hG4bK{}r{}", self.from_tag, self.branches);
        let contact = format!("<sip:{}@{}:{}>", self.s.user, self.s.contact_host, self.local.port);
        let expires = if unregister { 0 } else { self.asked };
        let mut buf = BytesMut::with_capacity(768);
        let mut b = (self.local)
            .put_via(Builder::request(&mut buf, "REGISTER", &uri), &branch)
            .header("Max-Forwards", "70")
            .header("From", &format!("{aor};tag={}", self.from_tag))
            .header("To", &aor)
            .header("Call-ID", &self.call_id)
            .header("CSeq", &format!("{} REGISTER", self.cseq))
            .header("Contact", &if unregister { format!("{contact};expires=0") } else { contact })
            .header_u32("Expires", expires);
        b = match self.s.privacy {
            Privacy::Ignore => b,
            Privacy::Id => b.header("Privacy", "id"),
            Privacy::None => b.header("Privacy", "none"),
        };
        if let Some((ch, proxy)) = &self.challenge {
            self.nc += 1;
            let req = digest::Request {
                method: "REGISTER",
                uri: &uri,
                user: &self.s.user,
                password: &self.s.password,
            };
            let name = if *proxy { "Proxy-Authorization" } else { "Authorization" };
            b = b.header(name, &digest::credentials(ch, &req, self.nc, &self.cnonce));
        }
        b.finish();
        buf.freeze()
    }

    /// A response (any; those for older CSeqs are ignored).
    pub fn handle_response(&mut self, msg: &Message<'_>, now: u64) {
        if msg.cseq().map(|c| c.seq) != Ok(self.cseq) {
            return;
        }
        let Some(txn) = self.txn.as_mut() else { return };
        let status = msg.status().unwrap_or(0);
        if let ClientEvent::Final(s) = txn.handle_response(status, now, Bytes::new) {
            self.final_response(s, msg, now);
        }
    }

    fn final_response(&mut self, status: u16, msg: &Message<'_>, now: u64) {
        let unregistering = self.state == State::Unregistering;
        match status {
            200..=299 if unregistering => {
                self.state = State::Unregistered;
                self.events.push(Event::Unregistered);
            }
            200..=299 => self.registered(msg, now),
            401 | 407 => self.challenged(status == 407, msg, now),
            423 => match msg.min_expires().ok().flatten() {
                Some(min) if min > self.asked && !unregistering => {
                    self.asked = min;
                    self.send(now, false);
                }
                _ => self.fail("423 without a usable Min-Expires".into(), now),
            },
            // §21.5.4: not before its Retry-After (a 503 saying when to come back).
            s => self.fail_for(format!("{s} from the registrar"), now, msg.retry_after().unwrap_or(0)),
        }
    }

    fn registered(&mut self, msg: &Message<'_>, now: u64) {
        let from_contact = msg.contacts().flatten().find_map(|c| match c {
            Contact::Addr(a) if self.is_our_contact(&a) => a.expires(),
            _ => None,
        });
        let granted = from_contact.or(msg.expires().ok().flatten()).unwrap_or(self.asked);
        if granted == 0 {
            // A 200 that lists our binding as expiring now kept nothing:
            // refreshing it every second would only repeat that.
            return self.fail("the registrar kept no binding (expires=0 in its 200)".into(), now);
        }
        self.state = State::Registered;
        self.bound_until = Some(now + u64::from(granted) * 1000);
        // Refresh before expiry, at about 85 % of the granted time.
        self.refresh_at = Some(now + u64::from(granted) * 850);
        self.events.push(Event::Registered(granted));
    }

    /// Whether a Contact of a 200 is ours: the host (case-insensitive, RFC
    /// 3261 §19.1.4) and port we registered. A registrar may change the
    /// case; an expiry read off another device's binding would be wrong.
    fn is_our_contact(&self, a: &crate::sip::NameAddr<'_>) -> bool {
        a.uri().is_ok_and(|u| {
            u.host_raw.eq_ignore_ascii_case(&self.s.contact_host) && u.port.unwrap_or(5060) == self.local.port
        })
    }

    fn challenged(&mut self, proxy: bool, msg: &Message<'_>, now: u64) {
        let name = if proxy { HeaderName::ProxyAuthenticate } else { HeaderName::WwwAuthenticate };
        let parsed = msg.auths(name).flatten().find_map(|a| Challenge::parse(&a).ok());
        let Some(ch) = parsed else {
            return self
                .fail(format!("{} without a usable Digest challenge", if proxy { 407 } else { 401 }), now);
        };
        // Credentials that answered a challenge and are challenged again were
        // refused, whatever the new nonce (most registrars mint one per
        // challenge); only `stale=true` says the nonce, not the password, expired.
        if self.answered && !ch.stale {
            return self
                .fail("credentials refused (challenged again after answering a challenge)".into(), now);
        }
        if ch.stale {
            self.stale_answers += 1;
            if self.stale_answers > 2 {
                return self.fail("challenged stale three times in a row".into(), now);
            }
        }
        self.answered = true;
        // RFC 2617 §3.2.2: nc counts the requests sent with one nonce; the
        // same nonce challenged again goes on counting, or the same cnonce and
        // nc would repeat a response a registrar takes for a replay.
        if self.challenge.as_ref().is_none_or(|(old, _)| old.nonce != ch.nonce) {
            self.nc = 0;
        }
        self.challenge = Some((ch, proxy));
        let unregister = self.state == State::Unregistering;
        self.send(now, unregister);
    }

    fn fail(&mut self, why: String, now: u64) {
        self.fail_for(why, now, 0);
    }

    /// Fails, trying again after the retry delay or `at_least_s`, whichever is longer.
    fn fail_for(&mut self, why: String, now: u64, at_least_s: u32) {
        self.txn = None;
        if self.state == State::Unregistering {
            self.state = State::UnregisterFailed;
            self.events.push(Event::UnregisterFailed(why));
            return;
        }
        self.state = State::Failed;
        self.retry_at = Some(now + u64::from(self.s.retry_delay_s.max(at_least_s)) * 1000);
        self.events.push(Event::Failed(why));
    }

    /// Time passed: retransmit, give up on a silent registrar, refresh, retry.
    pub fn handle_timeout(&mut self, now: u64) {
        if let Some(txn) = self.txn.as_mut()
            && txn.handle_timeout(now) == ClientEvent::Timeout
        {
            return self.fail("no answer from the registrar".into(), now);
        }
        if self.refresh_at.is_some_and(|t| now >= t) || self.retry_at.is_some_and(|t| now >= t) {
            self.new_round(now, false);
        }
    }

    /// A datagram to send, with its destination.
    pub fn poll_transmit(&mut self) -> Option<(Bytes, SocketAddr)> {
        self.txn.as_mut()?.poll_transmit().map(|d| (d, self.s.proxy))
    }

    /// The next state change to log.
    pub fn poll_event(&mut self) -> Option<Event> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// When [`Client::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        let t = self.txn.as_ref().and_then(ClientTxn::poll_timeout);
        crate::txn::earliest(crate::txn::earliest(t, self.refresh_at), self.retry_at)
    }
}

#[cfg(test)]
mod tests;
