//! The endpoint registrar: customers' PBXs REGISTER to tandem (RFC 3261
//! §10.3) with MD5 digest authentication (RFC 2617, RFC 7616), under the
//! VOS3000 rules: one binding per user, replace or refuse a second device,
//! suspend a source IP after too many failed authentications.
//!
//! Sans-IO: time comes in as `now_ms` (the engine's monotonic milliseconds,
//! one clock for every shard) and responses go out as bytes.
//!
//! Each shard owns a [`Registrar`] replica. The shard owning a REGISTER's
//! Call-ID runs [`Registrar::handle`]; every state change it makes comes out
//! as an [`Event`] the engine copies to the other shards, which
//! [`Registrar::apply`] it. So every replica holds the same bindings and
//! suspensions, and [`Registrar::user_at`] answers "which customer sent this
//! INVITE?" on any shard without locks.

use crate::register::digest::{self, Challenge};
use crate::sip::{Auth, Contact, HeaderName, Message, NameAddr, response_to};
use bytes::{Bytes, BytesMut};
use md5::{Digest, Md5};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Most source IPs whose rate-limit bucket a replica remembers.
pub const MAX_SOURCES: usize = 65_536;

/// A failure count that has not grown for this long is forgotten: typos days
/// apart should not add up to a suspension, and the failure table stays
/// bounded by the sources that failed recently.
const FAILURE_MEMORY_MS: u64 = 3_600_000;

/// Milli-tokens per token: integer token buckets, no floats.
const TOKEN: u64 = 1_000;

/// A bucket holds two seconds of tokens (bursts of twice the rate), so one
/// idle this long is full again.
const REFILL_MS: u64 = 2_000;

/// The registrar's configuration.
#[derive(Clone)]
pub struct Settings {
    /// The digest realm offered and required.
    pub realm: String,
    /// SS_ENDPOINT_REGISTER_REPLACE: a registration with a new Call-ID
    /// replaces a user's live binding (else it is refused with 403).
    pub replace: bool,
    /// SS_ENDPOINT_REGISTER_RETRY: failed authentications allowed per source
    /// IP; the one reaching this count suspends the IP (0 behaves as 1).
    pub retry: u32,
    /// SS_ENDPOINT_REGISTER_SUSPEND in milliseconds: how long a suspended IP
    /// is refused.
    pub suspend_ms: u64,
    /// Shortest registration accepted, in seconds; shorter gets 423 (0: none).
    pub min_expires: u32,
    /// Longest registration granted, in seconds; also granted when the
    /// request asks for no particular period.
    pub max_expires: u32,
    /// How long a nonce is good for; an older one gets 401 `stale=true`.
    pub nonce_ttl_ms: u64,
    /// Per-process random key of the stateless nonces and To tags.
    pub secret: u64,
    /// REGISTERs handled per second per source IP (bursts of twice that);
    /// beyond, dropped. 0 turns the limit off.
    pub per_source_per_sec: u32,
}

impl Default for Settings {
    /// The VOS3000 defaults (retry 6, suspend 180 s, replace on).
    fn default() -> Self {
        Settings {
            realm: "tandem".into(),
            replace: true,
            retry: 6,
            suspend_ms: 180_000,
            min_expires: 60,
            max_expires: 3600,
            nonce_ttl_ms: 300_000,
            secret: 0,
            per_source_per_sec: 20,
        }
    }
}

impl fmt::Debug for Settings {
    // The secret stays out of logs: with it anyone could mint nonces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("realm", &self.realm)
            .field("replace", &self.replace)
            .field("retry", &self.retry)
            .field("suspend_ms", &self.suspend_ms)
            .field("min_expires", &self.min_expires)
            .field("max_expires", &self.max_expires)
            .field("nonce_ttl_ms", &self.nonce_ttl_ms)
            .field("per_source_per_sec", &self.per_source_per_sec)
            .finish_non_exhaustive()
    }
}

/// A change to the replicated state, to copy to every other shard.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `user` is bound at `source` (the address its REGISTER came from).
    Bound {
        /// The customer's digest user.
        user: Arc<str>,
        /// Where the REGISTER came from; calls are matched on it.
        source: SocketAddr,
        /// The Contact URI registered.
        contact: String,
        /// The REGISTER's Call-ID: a refresh carries the same one.
        call_id: String,
        /// When the binding expires, on the engine's monotonic clock.
        expires_ms: u64,
        /// When it was made: of two registrations of one user racing on two
        /// shards, every replica keeps the later one.
        at_ms: u64,
    },
    /// `user`'s binding made by `call_id` is removed.
    Unbound {
        /// The customer's digest user.
        user: Arc<str>,
        /// The Call-ID of the binding removed; a newer binding stays.
        call_id: String,
    },
    /// An authentication from `ip` failed at `at_ms`.
    AuthFailed {
        /// The source (an IPv4 address, or an IPv6 /64: see [`source_key`]).
        ip: IpAddr,
        /// When, on the engine's monotonic clock.
        at_ms: u64,
    },
    /// An authentication from `ip` succeeded: its failure count starts again.
    AuthOk {
        /// The source, as in `AuthFailed`.
        ip: IpAddr,
    },
}

/// The unit suspensions, failure counts and rate limits apply to: an IPv4
/// address, or an IPv6 /64 (one subscriber's prefix: counting each of its
/// 2^64 addresses apart would let one attacker guess forever).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
    }
}

/// What [`Registrar::handle`] did with one REGISTER.
#[derive(Debug, Default)]
pub struct Handled {
    /// The response to send back to the peer; `None`: dropped.
    pub response: Option<Bytes>,
    /// Changes made (already applied here), for the other shards.
    pub events: Vec<Event>,
}

/// Counters of REGISTER outcomes on this replica.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// New bindings (200).
    pub registered: u64,
    /// Refreshes of a binding with the same Call-ID (200).
    pub refreshed: u64,
    /// Removals asked for (`Expires: 0`, `Contact: *`), bound or not (200).
    pub unregistered: u64,
    /// Bindings that expired. Every replica expires (and counts) every
    /// binding: merge shards with the largest, not the sum.
    pub expired: u64,
    /// 401 challenges to requests without usable credentials, stale ones included.
    pub challenged: u64,
    /// Failed authentications (unknown user, wrong response, foreign AOR).
    pub auth_failures: u64,
    /// REGISTERs refused with 403 because their source was suspended.
    pub suspended_refusals: u64,
    /// Bindings replaced by another Call-ID (replace on).
    pub replaced: u64,
    /// Registrations refused while another Call-ID's binding lives (replace off).
    pub refused_active: u64,
    /// REGISTERs dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// 423 Interval Too Brief answers.
    pub interval_too_brief: u64,
}

/// One user's registration.
#[derive(Debug)]
struct Binding {
    source: SocketAddr,
    contact: String,
    call_id: String,
    expires_ms: u64,
    at_ms: u64,
}

/// Failed authentications from one IP.
#[derive(Debug, Default)]
struct Failures {
    count: u32,
    last_ms: u64,
    suspended_until: u64,
}

/// A token bucket, in milli-tokens.
#[derive(Debug)]
struct Bucket {
    milli: u64,
    last_ms: u64,
}

/// What a REGISTER's credentials prove.
enum Verdict<'m> {
    /// No credentials for our realm, or not on a nonce of ours: challenge.
    Challenge,
    /// Right credentials on an expired nonce (RFC 2617 §3.2.1 `stale`).
    Stale,
    /// A wrong answer: counts toward suspension.
    Failed,
    /// Authenticated as this user.
    User(Cow<'m, str>),
}

/// One shard's registrar replica.
#[derive(Debug)]
pub struct Registrar {
    settings: Settings,
    bindings: HashMap<Arc<str>, Binding>,
    /// Users bound per exact source address and per source IP, so `user_at`
    /// (run for every INVITE from an unknown address) is two hash lookups.
    by_source: HashMap<SocketAddr, Vec<Arc<str>>>,
    by_ip: HashMap<IpAddr, Vec<Arc<str>>>,
    /// Bindings by expiry, earliest first.
    expiries: BTreeSet<(u64, Arc<str>)>,
    failures: HashMap<IpAddr, Failures>,
    /// Local to the shard: each shard limits the REGISTERs it handles.
    buckets: HashMap<IpAddr, Bucket>,
    /// Buckets by last use, oldest first: eviction and pruning order.
    idle: BTreeSet<(u64, IpAddr)>,
    stats: Stats,
}

impl Registrar {
    /// An empty replica.
    pub fn new(settings: Settings) -> Self {
        Registrar {
            settings,
            bindings: HashMap::new(),
            by_source: HashMap::new(),
            by_ip: HashMap::new(),
            expiries: BTreeSet::new(),
            failures: HashMap::new(),
            buckets: HashMap::new(),
            idle: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    /// New settings (a configuration reload); bindings, failure counts and
    /// suspensions stay.
    pub fn set_settings(&mut self, s: Settings) {
        self.settings = s;
    }

    /// One REGISTER (already parsed and validated by the caller) from
    /// `peer`. `password_of(user)` gives the configured password of a
    /// customer user, `None` if unknown. Applies its own events before
    /// returning them.
    pub fn handle<'p>(
        &mut self,
        msg: &Message<'_>,
        peer: SocketAddr,
        now_ms: u64,
        password_of: impl Fn(&str) -> Option<&'p str>,
    ) -> Handled {
        let ip = source_key(peer.ip());
        // The rate limit first: a suspended source that floods gets its 403s
        // at the allowed rate, not one per packet.
        if !self.take_token(ip, now_ms) {
            self.stats.rate_limited += 1;
            return Handled::default();
        }
        if self.suspended(ip, now_ms) {
            self.stats.suspended_refusals += 1;
            return self.answer(msg, 403, "Forbidden", &[]);
        }
        match self.verify(msg, ip, now_ms, password_of) {
            Verdict::Challenge => self.challenge(msg, ip, now_ms, false),
            Verdict::Stale => self.challenge(msg, ip, now_ms, true),
            Verdict::Failed => self.failed(msg, ip, now_ms),
            Verdict::User(user) => {
                let had_failures = self.failures.get(&ip).is_some_and(|f| f.count > 0);
                let mut h = self.register(msg, &user, peer, now_ms);
                if had_failures {
                    let ev = Event::AuthOk { ip };
                    self.apply(&ev, now_ms);
                    h.events.push(ev);
                }
                h
            }
        }
    }

    /// An event from another shard. `Bound` and `Unbound` are idempotent;
    /// each `AuthFailed` delivered counts once (two failures in the same
    /// millisecond look like a duplicate, and dropping one would let a burst
    /// of guesses through), so the engine must deliver each event once.
    pub fn apply(&mut self, ev: &Event, now_ms: u64) {
        match ev {
            Event::Bound { user, source, contact, call_id, expires_ms, at_ms } => {
                let newer =
                    self.bindings.get(&**user).is_some_and(|b| (b.at_ms, &b.call_id) > (*at_ms, call_id));
                if newer {
                    return; // a later registration, already here, wins on every replica
                }
                let b = Binding {
                    source: *source,
                    contact: contact.clone(),
                    call_id: call_id.clone(),
                    expires_ms: *expires_ms,
                    at_ms: *at_ms,
                };
                self.bind(Arc::clone(user), b);
            }
            Event::Unbound { user, call_id } => {
                if self.bindings.get(&**user).is_some_and(|b| b.call_id == *call_id) {
                    self.unbind(user);
                }
            }
            Event::AuthFailed { ip, at_ms } => {
                self.count_failure(*ip, *at_ms, now_ms);
            }
            Event::AuthOk { ip } => {
                if let Some(f) = self.failures.get_mut(ip) {
                    f.count = 0;
                }
            }
        }
    }

    /// Whether REGISTERs from `ip` are refused for too many failures.
    pub fn suspended(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.failures.get(&source_key(ip)).is_some_and(|f| f.suspended_until > now_ms)
    }

    /// The customer user whose live binding was registered from `peer`:
    /// from exactly that address, else the only user bound from its IP.
    /// Several users bound from one address (or, failing that, one IP) are
    /// ambiguous: `None`, rather than bill the wrong customer.
    pub fn user_at(&self, peer: SocketAddr, now_ms: u64) -> Option<&str> {
        self.only_live(self.by_source.get(&peer), now_ms)
            .or_else(|| self.only_live(self.by_ip.get(&peer.ip()), now_ms))
    }

    /// Drops the bindings expired at `now_ms` and per-source records that no
    /// longer matter; returns the number of bindings removed.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let mut removed = 0;
        while let Some((at, user)) = self.expiries.first().cloned()
            && at <= now_ms
        {
            self.unbind(&user);
            removed += 1;
        }
        self.stats.expired += removed as u64;
        self.prune_buckets(now_ms);
        self.prune_failures(now_ms);
        removed
    }

    /// The earliest binding expiry, for the caller's timer.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiries.first().map(|(at, _)| *at)
    }

    /// Bindings held (expired ones count until [`Registrar::expire`] runs).
    pub fn bindings(&self) -> usize {
        self.bindings.len()
    }

    /// Source IPs suspended at `now_ms`.
    pub fn suspended_sources(&self, now_ms: u64) -> usize {
        self.failures.values().filter(|f| f.suspended_until > now_ms).count()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    // ---- authentication (RFC 2617 §3.2.2, RFC 3261 §22.4) ----

    fn verify<'m, 'p>(
        &self,
        msg: &Message<'m>,
        ip: IpAddr,
        now_ms: u64,
        password_of: impl Fn(&str) -> Option<&'p str>,
    ) -> Verdict<'m> {
        let Some(auth) = self.credentials(msg) else { return Verdict::Challenge };
        let Some(nonce) = auth.param("nonce") else { return Verdict::Challenge };
        let Some(issued) = self.nonce_issued(&nonce, ip) else { return Verdict::Challenge };
        // We offered MD5 only: another algorithm is an answer to someone
        // else's challenge, not a wrong password.
        if auth.param("algorithm").is_some_and(|a| !a.eq_ignore_ascii_case("MD5")) {
            return Verdict::Challenge;
        }
        let Some(user) = auth.param("username") else { return Verdict::Failed };
        let password = password_of(&user);
        // Computed for unknown users too, so timing does not tell which users exist.
        let matches = self.response_matches(&auth, &nonce, &user, password.unwrap_or_default());
        if password.is_none() || !matches || !aor_is(msg, &user) {
            Verdict::Failed
        } else if now_ms.saturating_sub(issued) > self.settings.nonce_ttl_ms {
            Verdict::Stale
        } else {
            Verdict::User(user)
        }
    }

    /// The first well-formed Digest `Authorization` for our realm; others
    /// belong to other servers (RFC 3261 §22.4) or are garbage.
    fn credentials<'m>(&self, msg: &Message<'m>) -> Option<Auth<'m>> {
        msg.auths(HeaderName::Authorization)
            .filter_map(Result::ok)
            .find(|a| a.is_digest() && a.param("realm").as_deref() == Some(self.settings.realm.as_str()))
    }

    /// Accepts `qop=auth` and, for RFC 2069 clients, no qop; compares in
    /// constant time so the response leaks nothing about the expected one.
    fn response_matches(&self, auth: &Auth<'_>, nonce: &str, user: &str, password: &str) -> bool {
        let (Some(given), Some(uri)) = (auth.param("response"), auth.param("uri")) else { return false };
        let qop_auth = match auth.param("qop") {
            None => false,
            Some(q) if q.eq_ignore_ascii_case("auth") => true,
            Some(_) => return false,
        };
        let (nc, cnonce) = if qop_auth {
            match (auth.param("nc").as_deref().and_then(parse_nc), auth.param("cnonce")) {
                (Some(nc), Some(cnonce)) => (nc, cnonce),
                _ => return false,
            }
        } else {
            (0, Cow::Borrowed(""))
        };
        let ch = Challenge {
            realm: self.settings.realm.clone(),
            nonce: nonce.to_owned(),
            opaque: None,
            qop_auth,
            sess: false,
            stale: false,
        };
        let req = digest::Request { method: "REGISTER", uri: &uri, user, password };
        let want = digest::response(&ch, &req, nc, &cnonce);
        ct_eq(want.as_bytes(), given.to_ascii_lowercase().as_bytes())
    }

    /// A stateless nonce: the issue time and a MAC binding it to the source
    /// IP, so an unauthenticated flood allocates nothing and a nonce sniffed
    /// from one IP is useless from another.
    fn nonce(&self, ip: IpAddr, issued_ms: u64) -> String {
        format!("{issued_ms:x}.{}", hex(&self.mac(ip, issued_ms)))
    }

    /// The issue time of a nonce we minted for `ip`.
    fn nonce_issued(&self, nonce: &str, ip: IpAddr) -> Option<u64> {
        let (time, mac) = nonce.split_once('.')?;
        let hex_digits = !time.is_empty() && time.len() <= 16 && time.bytes().all(|b| b.is_ascii_hexdigit());
        let issued = u64::from_str_radix(time, 16).ok().filter(|_| hex_digits)?;
        ct_eq(mac.as_bytes(), hex(&self.mac(ip, issued)).as_bytes()).then_some(issued)
    }

    fn mac(&self, ip: IpAddr, issued_ms: u64) -> [u8; 16] {
        let mut h = Md5::new();
        h.update(self.settings.secret.to_le_bytes());
        h.update(issued_ms.to_le_bytes());
        match ip {
            IpAddr::V4(a) => h.update(a.octets()),
            IpAddr::V6(a) => h.update(a.octets()),
        }
        h.finalize().into()
    }

    fn challenge(&mut self, msg: &Message<'_>, ip: IpAddr, now_ms: u64, stale: bool) -> Handled {
        self.stats.challenged += 1;
        self.unauthorized(msg, ip, now_ms, stale)
    }

    fn unauthorized(&self, msg: &Message<'_>, ip: IpAddr, now_ms: u64, stale: bool) -> Handled {
        let value = format!(
            r#"Digest realm="{}", nonce="{}", algorithm=MD5, qop="auth"{}"#,
            self.settings.realm,
            self.nonce(ip, now_ms),
            if stale { ", stale=true" } else { "" }
        );
        self.answer(msg, 401, "Unauthorized", &[("WWW-Authenticate", &value)])
    }

    /// The failing attempt that suspends its source gets 403; earlier ones
    /// a new challenge, so a mistyped password can be corrected.
    fn failed(&mut self, msg: &Message<'_>, ip: IpAddr, now_ms: u64) -> Handled {
        self.stats.auth_failures += 1;
        let mut h = if self.count_failure(ip, now_ms, now_ms) {
            self.answer(msg, 403, "Forbidden", &[])
        } else {
            self.unauthorized(msg, ip, now_ms, false)
        };
        h.events.push(Event::AuthFailed { ip, at_ms: now_ms });
        h
    }

    /// Counts one failure; `true` when it suspends `ip`. A failure older
    /// than the failure memory (an event delivered very late) is forgotten
    /// already. Pruning whenever the table has doubled keeps its cost
    /// amortized O(1) per failure.
    fn count_failure(&mut self, ip: IpAddr, at_ms: u64, now_ms: u64) -> bool {
        if now_ms.saturating_sub(at_ms) >= FAILURE_MEMORY_MS {
            return false;
        }
        if self.failures.len() >= MAX_SOURCES && !self.failures.contains_key(&ip) {
            self.prune_failures(now_ms);
        }
        let retry = self.settings.retry.max(1);
        let suspend_ms = self.settings.suspend_ms;
        let f = self.failures.entry(ip).or_default();
        if at_ms.saturating_sub(f.last_ms) >= FAILURE_MEMORY_MS {
            f.count = 0;
        }
        f.last_ms = f.last_ms.max(at_ms);
        f.count += 1;
        if f.count < retry {
            return false;
        }
        f.count = 0;
        f.suspended_until = f.suspended_until.max(at_ms.saturating_add(suspend_ms));
        true
    }

    /// Runs when the table is full: forgets what no longer matters, then, if
    /// that is not enough (a flood from very many sources), the older half,
    /// so the table stays bounded and the next prune is `MAX_SOURCES / 2`
    /// insertions away (amortized O(1) per failure).
    fn prune_failures(&mut self, now_ms: u64) {
        self.failures.retain(|_, f| {
            f.suspended_until > now_ms
                || (f.count > 0 && now_ms.saturating_sub(f.last_ms) < FAILURE_MEMORY_MS)
        });
        let keep = MAX_SOURCES / 2;
        if self.failures.len() <= keep {
            return;
        }
        let recency = |f: &Failures| f.last_ms.max(f.suspended_until);
        let mut ages: Vec<u64> = self.failures.values().map(recency).collect();
        let cut = ages.len() - keep;
        let (_, threshold, _) = ages.select_nth_unstable(cut);
        let threshold = *threshold;
        self.failures.retain(|_, f| recency(f) > threshold);
    }

    // ---- per-source rate limit ----

    /// Takes a token from `ip`'s bucket. A full table evicts the bucket idle
    /// longest rather than refusing new sources: a flood of spoofed sources
    /// then cannot lock real endpoints out, and a flooding source, always
    /// the most recently used, keeps its (empty) bucket.
    fn take_token(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        let rate = u64::from(self.settings.per_source_per_sec);
        if rate == 0 {
            return true;
        }
        let cap = rate * REFILL_MS; // `rate` milli-tokens per millisecond
        let Some(b) = self.buckets.get_mut(&ip) else {
            self.new_bucket(ip, cap - TOKEN, now_ms);
            return true;
        };
        let elapsed = now_ms.saturating_sub(b.last_ms);
        b.milli = b.milli.saturating_add(elapsed.saturating_mul(rate)).min(cap);
        let ok = b.milli >= TOKEN;
        if ok {
            b.milli -= TOKEN;
        }
        if elapsed > 0 {
            self.idle.remove(&(b.last_ms, ip));
            self.idle.insert((now_ms, ip));
            b.last_ms = now_ms;
        }
        ok
    }

    fn new_bucket(&mut self, ip: IpAddr, milli: u64, now_ms: u64) {
        if self.buckets.len() >= MAX_SOURCES
            && let Some((_, oldest)) = self.idle.pop_first()
        {
            self.buckets.remove(&oldest);
        }
        self.buckets.insert(ip, Bucket { milli, last_ms: now_ms });
        self.idle.insert((now_ms, ip));
    }

    /// Drops buckets idle long enough to have refilled: a full bucket and no
    /// bucket behave the same.
    fn prune_buckets(&mut self, now_ms: u64) {
        let off = self.settings.per_source_per_sec == 0;
        while let Some(&(last, ip)) = self.idle.first()
            && (off || now_ms.saturating_sub(last) >= REFILL_MS)
        {
            self.idle.pop_first();
            self.buckets.remove(&ip);
        }
    }

    // ---- bindings (RFC 3261 §10.3 steps 6-8, one binding per user) ----

    fn register(&mut self, msg: &Message<'_>, user: &str, peer: SocketAddr, now_ms: u64) -> Handled {
        let mut contacts = msg.contacts();
        let first = contacts.next();
        let more = contacts.next().is_some();
        match first {
            None => self.query(msg, user, now_ms),
            Some(Ok(Contact::Wildcard)) if !more && msg.expires() == Ok(Some(0)) => {
                self.unregister(msg, user, now_ms)
            }
            Some(Ok(Contact::Addr(contact))) => self.bind_contact(msg, user, &contact, peer, now_ms),
            Some(_) => self.answer(msg, 400, "Bad Request", &[]),
        }
    }

    /// No Contact: list the user's binding (RFC 3261 §10.2.3).
    fn query(&self, msg: &Message<'_>, user: &str, now_ms: u64) -> Handled {
        let contact = self.live(user, now_ms).map(|b| {
            let left_s = (b.expires_ms - now_ms).div_ceil(1000);
            format!("<{}>;expires={left_s}", b.contact)
        });
        let headers: Vec<(&str, &str)> = contact.iter().map(|c| ("Contact", c.as_str())).collect();
        self.answer(msg, 200, "OK", &headers)
    }

    /// Removes whichever binding the user has, whatever its Call-ID: the
    /// same credentials could send `Contact: *` anyway, and a rebooted PBX
    /// (new Call-ID) must be able to clear its stale binding.
    fn unregister(&mut self, msg: &Message<'_>, user: &str, now_ms: u64) -> Handled {
        self.stats.unregistered += 1;
        let mut h = self.answer(msg, 200, "OK", &[]);
        if let Some((user, b)) = self.bindings.get_key_value(user) {
            let ev = Event::Unbound { user: Arc::clone(user), call_id: b.call_id.clone() };
            self.apply(&ev, now_ms);
            h.events.push(ev);
        }
        h
    }

    fn bind_contact(
        &mut self,
        msg: &Message<'_>,
        user: &str,
        contact: &NameAddr<'_>,
        peer: SocketAddr,
        now_ms: u64,
    ) -> Handled {
        let asked = contact.expires().or(msg.expires().ok().flatten()).unwrap_or(self.settings.max_expires);
        if asked == 0 {
            return self.unregister(msg, user, now_ms);
        }
        if asked < self.settings.min_expires {
            self.stats.interval_too_brief += 1;
            let min = self.settings.min_expires.to_string();
            return self.answer(msg, 423, "Interval Too Brief", &[("Min-Expires", &min)]);
        }
        let Ok(call_id) = msg.call_id() else { return self.answer(msg, 400, "Bad Request", &[]) };
        if !self.admit(user, call_id, now_ms) {
            return self.answer(msg, 403, "Forbidden (Already Registered)", &[]);
        }
        let granted = asked.min(self.settings.max_expires);
        let ev = self.bound(user, peer, contact.uri_raw, call_id, now_ms, granted);
        let contact = format!("<{}>;expires={granted}", contact.uri_raw);
        let mut h = self.answer(msg, 200, "OK", &[("Contact", &contact), ("Expires", &granted.to_string())]);
        h.events.push(ev);
        h
    }

    /// The VOS rule for a second device: a new Call-ID while the user's
    /// binding lives replaces it, or is refused when replace is off.
    fn admit(&mut self, user: &str, call_id: &str, now_ms: u64) -> bool {
        let (counter, admitted) = match self.live(user, now_ms) {
            None => (&mut self.stats.registered, true),
            Some(b) if b.call_id == call_id => (&mut self.stats.refreshed, true),
            Some(_) if self.settings.replace => (&mut self.stats.replaced, true),
            Some(_) => (&mut self.stats.refused_active, false),
        };
        *counter += 1;
        admitted
    }

    fn bound(
        &mut self,
        user: &str,
        source: SocketAddr,
        contact: &str,
        call_id: &str,
        now_ms: u64,
        granted_s: u32,
    ) -> Event {
        let user = self.bindings.get_key_value(user).map_or_else(|| Arc::from(user), |(u, _)| Arc::clone(u));
        let b = Binding {
            source,
            contact: contact.to_owned(),
            call_id: call_id.to_owned(),
            expires_ms: now_ms.saturating_add(u64::from(granted_s) * 1000),
            at_ms: now_ms,
        };
        let ev = Event::Bound {
            user: Arc::clone(&user),
            source,
            contact: b.contact.clone(),
            call_id: b.call_id.clone(),
            expires_ms: b.expires_ms,
            at_ms: now_ms,
        };
        self.bind(user, b);
        ev
    }

    fn bind(&mut self, user: Arc<str>, b: Binding) {
        self.unbind(&user);
        self.by_source.entry(b.source).or_default().push(Arc::clone(&user));
        self.by_ip.entry(b.source.ip()).or_default().push(Arc::clone(&user));
        self.expiries.insert((b.expires_ms, Arc::clone(&user)));
        self.bindings.insert(user, b);
    }

    fn unbind(&mut self, user: &str) -> Option<Binding> {
        let (user, b) = self.bindings.remove_entry(user)?;
        remove_user(&mut self.by_source, &b.source, &user);
        remove_user(&mut self.by_ip, &b.source.ip(), &user);
        self.expiries.remove(&(b.expires_ms, user));
        Some(b)
    }

    fn live(&self, user: &str, now_ms: u64) -> Option<&Binding> {
        self.bindings.get(user).filter(|b| b.expires_ms > now_ms)
    }

    fn only_live<'a>(&'a self, users: Option<&'a Vec<Arc<str>>>, now_ms: u64) -> Option<&'a str> {
        let mut live = users?.iter().filter(|u| self.live(u, now_ms).is_some());
        let first = live.next()?;
        live.next().is_none().then_some(&**first)
    }

    // ---- responses ----

    /// A response (RFC 3261 §8.2.6) with a To tag derived from the Call-ID,
    /// so a retransmitted REGISTER gets the same tag.
    fn answer(&self, msg: &Message<'_>, status: u16, reason: &str, headers: &[(&str, &str)]) -> Handled {
        let call_id = msg.header(HeaderName::CallId).map_or(&[][..], |h| h.value);
        let mut h = Md5::new();
        h.update(self.settings.secret.to_be_bytes());
        h.update(call_id);
        let digest: [u8; 16] = h.finalize().into();
        let tag = hex(&digest[..8]);
        let mut buf = BytesMut::new();
        let mut b = response_to(&mut buf, msg, status, reason, Some(&tag));
        for (name, value) in headers {
            b = b.header(name, value);
        }
        b.finish();
        Handled { response: Some(buf.freeze()), events: Vec::new() }
    }
}

/// Whether the To URI's user is `user`: an endpoint registers its own AOR.
fn aor_is(msg: &Message<'_>, user: &str) -> bool {
    let to = msg.to().ok();
    let uri = to.and_then(|t| t.uri().ok());
    uri.and_then(|u| u.user_decoded()).is_some_and(|u| *u == *user.as_bytes())
}

/// `nc`: 1 to 8 hex digits (RFC 2617 §3.2.2).
fn parse_nc(nc: &str) -> Option<u32> {
    let ok = (1..=8).contains(&nc.len()) && nc.bytes().all(|b| b.is_ascii_hexdigit());
    u32::from_str_radix(nc, 16).ok().filter(|_| ok)
}

/// Equality whose time depends only on the lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn remove_user<K: Hash + Eq>(index: &mut HashMap<K, Vec<Arc<str>>>, key: &K, user: &str) {
    if let Some(users) = index.get_mut(key) {
        users.retain(|u| &**u != user);
        if users.is_empty() {
            index.remove(key);
        }
    }
}

#[cfg(test)]
mod tests;
