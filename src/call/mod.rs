//! The B2BUA core of one shard, sans-IO (DESIGN.md §2): datagrams and timer
//! expiries in, datagrams, timer requests and CDRs out. The engine owns the
//! sockets and the clock; this module owns the calls.
//!
//! A call is keyed by every Call-ID it uses: the customer's (A-leg) and one
//! per vendor attempt (B-legs, minted by this shard so they come back here).

pub mod build;
mod dialog;
pub mod endpoints;
pub mod ids;
mod invite;
pub mod lrn;
mod options;
mod state;
mod tombs;

use crate::cdr::Cdr;
use crate::lrn::cache::LrnCache;
use crate::metrics::{self, CoreMetrics, GatewayCounters, PerSecond};
use crate::register::client::{
    Client as RegClient, Event as RegEvent, Settings as RegSettings, State as RegState,
};
use crate::routing::snapshot::Router;
use crate::sip::{self, Method, Scheme};
use crate::txn::wheel::Wheel;
use build::Local;
use bytes::Bytes;
use ids::Ids;
use state::{Call, Side};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

pub use state::Phase;

/// The methods tandem takes (Allow, RFC 3261 §20.5): out of a dialog INVITE,
/// OPTIONS and REGISTER; in one, ACK, CANCEL, BYE and the four it relays.
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO";
/// What tandem takes within a call's dialog (a 405 there has a To tag).
const ALLOW_IN_DIALOG: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO";

/// The time as the engine reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic milliseconds (timers).
    pub ms: u64,
    /// Wall-clock Unix milliseconds (CDRs, effective dates).
    pub unix_ms: i64,
}

/// Counters of one shard, merged by the metrics endpoint at scrape time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handled.
    pub datagrams: u64,
    /// Datagrams that did not parse or validate.
    pub parse_errors: u64,
    /// Keep-alives: datagrams of CR, LF, spaces or NULs only, ignored.
    pub keepalives: u64,
    /// Responses with no transaction (dropped).
    pub stray_responses: u64,
    /// Messages built longer than one UDP datagram carries: not sent.
    pub oversized: u64,
    /// Requests absorbed as retransmissions.
    pub retransmissions: u64,
    /// New INVITEs (calls offered).
    pub calls_offered: u64,
    /// Calls answered.
    pub calls_answered: u64,
    /// Calls that ended without an answer.
    pub calls_failed: u64,
    /// Answered calls tandem hung up at `max_call_duration`.
    pub calls_cut: u64,
    /// INVITEs refused with 403 (unknown source).
    pub forbidden: u64,
    /// B-leg attempts made.
    pub attempts: u64,
    /// Failovers to a further gateway.
    pub failovers: u64,
    /// LRN lookups answered by the cache.
    pub lrn_cache_hits: u64,
    /// LRN lookups the cache could not answer.
    pub lrn_cache_misses: u64,
    /// Lookups in a `file` source.
    pub lrn_file_lookups: u64,
    /// Dips sent.
    pub lrn_dips: u64,
    /// Calls that joined a dip already in flight for their number.
    pub lrn_dips_shared: u64,
    /// Dips answered (ported or not ported).
    pub lrn_answers: u64,
    /// Of those, "ported" (an LRN).
    pub lrn_answers_ported: u64,
    /// Dips that failed or timed out: routed on the dialed number.
    pub lrn_fallbacks: u64,
}

impl Stats {
    /// Adds another shard's counters.
    pub fn add(&mut self, o: &Stats) {
        self.datagrams += o.datagrams;
        self.parse_errors += o.parse_errors;
        self.keepalives += o.keepalives;
        self.stray_responses += o.stray_responses;
        self.oversized += o.oversized;
        self.retransmissions += o.retransmissions;
        self.calls_offered += o.calls_offered;
        self.calls_answered += o.calls_answered;
        self.calls_failed += o.calls_failed;
        self.calls_cut += o.calls_cut;
        self.forbidden += o.forbidden;
        self.attempts += o.attempts;
        self.failovers += o.failovers;
        self.lrn_cache_hits += o.lrn_cache_hits;
        self.lrn_cache_misses += o.lrn_cache_misses;
        self.lrn_file_lookups += o.lrn_file_lookups;
        self.lrn_dips += o.lrn_dips;
        self.lrn_dips_shared += o.lrn_dips_shared;
        self.lrn_answers += o.lrn_answers;
        self.lrn_answers_ported += o.lrn_answers_ported;
        self.lrn_fallbacks += o.lrn_fallbacks;
    }
}

/// Per-shard counters beyond [`Stats`], read by the metrics endpoint.
#[derive(Debug)]
pub(crate) struct Counters {
    final_codes: std::collections::BTreeMap<u16, u64>,
    gateways: HashMap<String, GatewayCounters>,
    offered: PerSecond,
    post_dial_delay_ms: hdrhistogram::Histogram<u64>,
    options_sent: u64,
    options_timeouts: u64,
}

impl Counters {
    fn new() -> Self {
        Counters {
            final_codes: Default::default(),
            gateways: HashMap::new(),
            offered: PerSecond::default(),
            post_dial_delay_ms: metrics::histogram(3_600_000),
            options_sent: 0,
            options_timeouts: 0,
        }
    }

    /// A gateway's outcomes (created on first use; names are few).
    fn gateway(&mut self, name: &str) -> &mut GatewayCounters {
        if !self.gateways.contains_key(name) {
            self.gateways.insert(name.to_owned(), GatewayCounters::default());
        }
        self.gateways.get_mut(name).expect("inserted above")
    }
}

/// Whether `snap` is not the snapshot `seen` last recorded; records it. A
/// `Weak` keeps no old snapshot alive, yet its address cannot be reused
/// while it is held, so the comparison cannot be fooled.
fn newly_seen(
    seen: &mut std::sync::Weak<crate::routing::snapshot::RoutingSnapshot>,
    snap: &Arc<crate::routing::snapshot::RoutingSnapshot>,
) -> bool {
    if std::ptr::eq(seen.as_ptr(), Arc::as_ptr(snap)) {
        return false;
    }
    *seen = Arc::downgrade(snap);
    true
}

/// What a timer in the wheel is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerKey {
    /// A call, by slot and generation.
    Call(u32, u32),
    /// An LRN dip, by id.
    Dip(u64),
    /// An outbound registration, by index.
    Reg(usize),
    /// The gateway online checks.
    Options,
    /// The earliest endpoint binding expiry.
    Bindings,
}

/// Datagrams the core wants sent. Most leave by the shared listening socket;
/// with per-shard vendor ports (`[server].vendor_port_base`), those to vendor
/// legs leave by the shard's own socket, so vendors answer the owner directly.
#[derive(Debug, Default)]
pub struct Outbox {
    main: Vec<(Bytes, SocketAddr)>,
    vendor: Vec<(Bytes, SocketAddr)>,
    split: bool,
    /// Datagrams refused for their size since the last transmit.
    oversized: u64,
}

impl Outbox {
    /// A datagram for the shared socket.
    pub fn push(&mut self, datagram: (Bytes, SocketAddr)) {
        if self.fits(&datagram.0) {
            self.main.push(datagram);
        }
    }

    /// A datagram for a call's `side`.
    pub fn push_to(&mut self, side: Side, datagram: (Bytes, SocketAddr)) {
        if !self.fits(&datagram.0) {
            return;
        }
        match side {
            Side::B(_) if self.split => self.vendor.push(datagram),
            _ => self.main.push(datagram),
        }
    }

    /// A datagram longer than UDP carries is counted, not sent: the socket
    /// would refuse it. Where a call can react (a B-leg INVITE, a vendor's
    /// answer, a relayed request), the call asks first, and the count is the same.
    pub(super) fn fits(&mut self, datagram: &[u8]) -> bool {
        let fits = datagram.len() <= sip::MAX_UDP_PAYLOAD;
        self.oversized += u64::from(!fits);
        fits
    }
}

/// One shard's calls.
pub struct Core {
    local: Local,
    /// Via and Contact of vendor legs: `local`, or the shard's own vendor port.
    local_b: Local,
    router: Arc<Router>,
    ids: Ids,
    /// Boxed: a message moves the call out of its slot and back, 8 bytes
    /// instead of the whole call.
    calls: Vec<Option<Box<Call>>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    by_id: HashMap<Box<str>, (u32, Side)>,
    /// Call-IDs of ended calls, for timer J.
    tombs: tombs::Tombs,
    wheel: Wheel<TimerKey>,
    fired: Vec<TimerKey>,
    /// Answered calls' `max_call_duration` ends: (deadline, slot, generation).
    /// Ordered and removed with the call, unlike the wheel's lazily cancelled
    /// keys: a two-hour key per call would pile up for two hours in the wheel.
    talk_limits: BTreeSet<(u64, u32, u32)>,
    /// Set by `in_dialog` when a caller's retry stood in for the missing ACK
    /// of its failed call's final answer: `on_request` then makes it a call.
    retry_as_new: bool,
    outbox: Outbox,
    cdrs: Vec<Cdr>,
    stats: Stats,
    metrics: Counters,
    draining: bool,
    lrn_cache: Option<Arc<LrnCache>>,
    dips: HashMap<u64, lrn::Dip>,
    dip_by_tn: HashMap<u64, u64>,
    dip_by_call_id: HashMap<Box<str>, u64>,
    next_dip: u64,
    dip_latency_ms: hdrhistogram::Histogram<u64>,
    registrations: Vec<RegClient>,
    /// Registrations a reload removed: they finish their unregister, then rest.
    retired: Vec<bool>,
    /// The snapshot the registrations were last matched against.
    reg_config: std::sync::Weak<crate::routing::snapshot::RoutingSnapshot>,
    reg_by_call_id: HashMap<Box<str>, usize>,
    /// Changed registrations waiting for the old one's unregister to end
    /// (old index, new settings): both bind the same Contact, so a late
    /// `Expires: 0` would remove the new binding (RFC 3261 §10.3).
    reg_after: Vec<(usize, RegSettings)>,
    checks: options::Checks,
    registrar: crate::registrar::Registrar,
    registrar_config: std::sync::Weak<crate::routing::snapshot::RoutingSnapshot>,
    registrar_secret: u64,
    registrar_events: Vec<crate::registrar::Event>,
    binding_timer: Option<u64>,
}

impl Core {
    /// A core for `shard` (its Call-IDs carry the number).
    pub fn new(shard: u16, local: Local, router: Arc<Router>, seed: u64, now: Now) -> Self {
        let snap = router.snapshot();
        let registrar =
            crate::registrar::Registrar::new(endpoints::settings(&snap.config, &local.host, seed));
        Core {
            local_b: local.clone(),
            local,
            router,
            ids: Ids::new(shard, seed),
            calls: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            tombs: tombs::Tombs::default(),
            wheel: Wheel::new(now.ms),
            fired: Vec::new(),
            talk_limits: BTreeSet::new(),
            retry_as_new: false,
            outbox: Outbox::default(),
            cdrs: Vec::new(),
            stats: Stats::default(),
            metrics: Counters::new(),
            draining: false,
            lrn_cache: None,
            dips: HashMap::new(),
            dip_by_tn: HashMap::new(),
            dip_by_call_id: HashMap::new(),
            next_dip: 0,
            dip_latency_ms: metrics::histogram(3_600_000),
            registrations: Vec::new(),
            retired: Vec::new(),
            reg_config: Arc::downgrade(&snap),
            reg_by_call_id: HashMap::new(),
            reg_after: Vec::new(),
            checks: options::Checks::default(),
            registrar,
            registrar_config: Arc::downgrade(&snap),
            registrar_secret: seed,
            registrar_events: Vec::new(),
            binding_timer: None,
        }
    }

    /// Takes over an outbound registration and sends its first REGISTER.
    /// Its Call-ID is this shard's, so every answer comes back here.
    pub fn add_registration(&mut self, settings: RegSettings, now: Now) {
        let call_id = self.ids.call_id(&self.local.host);
        let tag = self.ids.tag();
        let mut client = RegClient::new(settings, self.local.clone(), call_id.clone(), tag);
        client.start(now.ms);
        let index = self.registrations.len();
        self.reg_by_call_id.insert(call_id.into_boxed_str(), index);
        self.registrations.push(client);
        self.retired.push(false);
        self.reg_flush(index);
    }

    /// After a reload: registrations whose `[routing_gateway.register]` is
    /// gone or changed are unregistered (when `user_agent_send_unregister`)
    /// and retired; new or changed ones this shard owns start. Unchanged
    /// ones are left alone.
    pub(crate) fn sync_registrations(&mut self, shards: u16, now: Now) {
        let snap = self.router.snapshot();
        if !newly_seen(&mut self.reg_config, &snap) {
            return;
        }
        let me = self.ids.shard();
        let mut wanted: Vec<RegSettings> =
            crate::register::client::settings_for(&snap.config, &self.local.host)
                .into_iter()
                .filter(|s| crate::register::client::owner_shard(&s.name, shards) == me)
                .collect();
        // Successors still waiting stay if still wanted as they are.
        self.reg_after.retain(|(_, s)| take_first(&mut wanted, |w| w == s).is_some());
        for i in 0..self.registrations.len() {
            if self.retired[i] || take_first(&mut wanted, |w| w == self.registrations[i].settings()).is_some()
            {
                continue;
            }
            self.retired[i] = true;
            if snap.config.sip.user_agent_send_unregister {
                self.registrations[i].unregister(now.ms);
                self.reg_flush(i);
                let name = &self.registrations[i].settings().name;
                if let Some(next) = take_first(&mut wanted, |w| &w.name == name) {
                    self.reg_after.push((i, next));
                }
            }
        }
        for settings in wanted {
            self.add_registration(settings, now);
        }
        self.start_successors(now);
    }

    /// Starts the changed registrations whose old one is done unregistering
    /// (answered, refused or timed out).
    fn start_successors(&mut self, now: Now) {
        let mut k = 0;
        while k < self.reg_after.len() {
            if self.registrations[self.reg_after[k].0].unregister_done() {
                let (_, settings) = self.reg_after.remove(k);
                self.add_registration(settings, now);
            } else {
                k += 1;
            }
        }
    }

    /// Starts removing every binding (shutdown with `user_agent_send_unregister`).
    pub fn unregister_all(&mut self, now: Now) {
        for i in 0..self.registrations.len() {
            if !self.retired[i] {
                self.registrations[i].unregister(now.ms);
                self.reg_flush(i);
            }
        }
    }

    /// Registrations whose unregister has no final outcome yet.
    pub fn unregister_pending(&self) -> usize {
        self.live_registrations().filter(|r| !r.unregister_done()).count()
    }

    /// Registrations and their states, for logs (retired ones left out).
    pub fn registrations(&self) -> impl Iterator<Item = (&str, RegState)> + '_ {
        self.live_registrations().map(|r| (r.settings().name.as_str(), r.state()))
    }

    fn live_registrations(&self) -> impl Iterator<Item = &RegClient> + '_ {
        self.registrations.iter().zip(&self.retired).filter(|(_, r)| !**r).map(|(c, _)| c)
    }

    /// State changes of registrations since the last call: (gateway, event).
    pub fn poll_reg_events(&mut self) -> Vec<(String, RegEvent)> {
        let mut out = Vec::new();
        for r in &mut self.registrations {
            while let Some(e) = r.poll_event() {
                out.push((r.settings().name.clone(), e));
            }
        }
        out
    }

    fn reg_flush(&mut self, i: usize) {
        let r = &mut self.registrations[i];
        while let Some(out) = r.poll_transmit() {
            self.outbox.push(out);
        }
        if let Some(t) = r.poll_timeout() {
            self.wheel.insert(t, TimerKey::Reg(i));
        }
    }

    /// Keys the registrar's nonces with `secret`: every shard must use the same
    /// one, as an endpoint may answer a challenge with a new Call-ID.
    pub fn with_registrar_secret(mut self, secret: u64) -> Self {
        self.registrar_secret = secret;
        let snap = self.router.snapshot();
        self.registrar.set_settings(endpoints::settings(&snap.config, &self.local.host, secret));
        self.registrar_config = Arc::downgrade(&snap);
        self
    }

    /// Uses the shared LRN cache.
    pub fn with_lrn_cache(mut self, cache: Arc<LrnCache>) -> Self {
        self.lrn_cache = Some(cache);
        self
    }

    /// Dip latency so far (ms).
    pub fn dip_latency_ms(&self) -> &hdrhistogram::Histogram<u64> {
        &self.dip_latency_ms
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// A copy of every counter, for a metrics scrape.
    pub fn metrics(&self, now: Now) -> CoreMetrics {
        let c = &self.metrics;
        CoreMetrics {
            stats: self.stats.clone(),
            final_codes: c.final_codes.clone(),
            gateways: c.gateways.clone(),
            offered: c.offered.clone(),
            active_calls: self.active_calls() as u64,
            post_dial_delay_ms: c.post_dial_delay_ms.clone(),
            dip_latency_ms: self.dip_latency_ms.clone(),
            upstream_registrations: self
                .live_registrations()
                .map(|r| (r.settings().name.clone(), r.state().name()))
                .collect(),
            registrar: self.registrar.stats().clone(),
            endpoint_bindings: self.registrar.bindings() as u64,
            suspended_sources: self.registrar.suspended_sources(now.ms) as u64,
            options_sent: c.options_sent,
            options_timeouts: c.options_timeouts,
        }
    }

    /// Counts a finished call's final code and queues its CDR.
    fn push_cdr(&mut self, cdr: Cdr) {
        *self.metrics.final_codes.entry(cdr.final_code).or_default() += 1;
        self.cdrs.push(cdr);
    }

    /// Calls not yet ended.
    pub fn active_calls(&self) -> usize {
        self.calls.iter().flatten().filter(|c| c.phase != Phase::Ended).count()
    }

    /// Calls held, including ended ones finishing their transactions.
    pub fn held_calls(&self) -> usize {
        self.calls.iter().flatten().count()
    }

    /// Call-IDs of ended calls kept for timer J (two per call with one vendor leg).
    pub fn ended_call_ids(&self) -> usize {
        self.tombs.len()
    }

    /// Datagrams to send, with destinations.
    pub fn poll_transmit(&mut self) -> std::vec::Drain<'_, (Bytes, SocketAddr)> {
        self.stats.oversized += std::mem::take(&mut self.outbox.oversized);
        self.outbox.main.drain(..)
    }

    /// Datagrams for the shard's own vendor socket (only with [`Core::with_vendor_port`]).
    pub fn poll_transmit_vendor(&mut self) -> std::vec::Drain<'_, (Bytes, SocketAddr)> {
        self.outbox.vendor.drain(..)
    }

    /// Vendor legs use this shard's own `port` in Via and Contact, and their
    /// datagrams come out of [`Core::poll_transmit_vendor`].
    pub fn with_vendor_port(mut self, port: u16) -> Self {
        self.local_b.port = port;
        self.outbox.split = true;
        self
    }

    /// The Via/Contact address for a call's `side`.
    fn local_for(&self, side: Side) -> &Local {
        match side {
            Side::A => &self.local,
            Side::B(_) => &self.local_b,
        }
    }

    /// Finished calls' records.
    pub fn poll_cdr(&mut self) -> std::vec::Drain<'_, Cdr> {
        self.cdrs.drain(..)
    }

    /// When [`Core::handle_timeout`] next has work (ms).
    pub fn poll_timeout(&self) -> Option<u64> {
        let t = crate::txn::earliest(self.wheel.next_deadline(), self.tombs.next_expiry());
        crate::txn::earliest(t, self.talk_limits.first().map(|&(at, _, _)| at))
    }

    /// Stop taking calls: new INVITEs get 503 (graceful shutdown).
    pub fn set_draining(&mut self) {
        self.draining = true;
    }

    /// One datagram from `peer`.
    pub fn handle_datagram(&mut self, data: &Bytes, peer: SocketAddr, now: Now) {
        match sip::parse(data) {
            Ok(msg) => self.handle_message(&msg, data, peer, now),
            Err(e) => self.handle_unparsable(data, &e, peer),
        }
    }

    /// A datagram `sip::parse` refused, with `error`: counted, and answered
    /// when it is a request (not an ACK) whose start line, framing or one of
    /// whose header lines (not one of these five) is wrong, and whose head still has what an answer copies (Via, From, To,
    /// Call-ID, CSeq; copied as written, so a `SIP/7.0` Via does not stop the
    /// 505 it calls for): 505 for another SIP version, else 400 naming the fault
    /// (RFC 4475 §3.1.2.2, .3, .8, .16). Anything else is dropped: there is
    /// nothing trustworthy to answer to.
    pub fn handle_unparsable(&mut self, data: &[u8], error: &sip::ParseError, peer: SocketAddr) {
        use sip::ParseError as E;
        self.stats.datagrams += 1;
        // The "\r\n\r\n" ping of RFC 5626 §3.5.1, which UAs also send over UDP
        // (some send NULs): silence is the answer, and it is no parse error.
        if data.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0)) {
            self.stats.keepalives += 1;
            return;
        }
        self.stats.parse_errors += 1;
        let framing = matches!(error, E::BadHeader(sip::HeaderName::ContentLength) | E::BodyTooShort);
        let start_line =
            matches!(error, E::BadStartLine | E::BadRequestUri | E::BadVersion | E::UnsupportedVersion);
        if !(framing || start_line || *error == E::BadHeaderLine) {
            return;
        }
        let Some(msg) = sip::parse_to_answer(data) else { return };
        use sip::HeaderName as H;
        let answerable = msg.method() != Some(Method::Ack)
            && [H::Via, H::From, H::To, H::CallId, H::CSeq].into_iter().all(|h| msg.header(h).is_some());
        if answerable {
            self.refuse_malformed(&msg, error, peer);
        }
    }

    /// The answer to a request refused for `error` (400, 505): stateless,
    /// with a To tag when the To header is readable (RFC 3261 §8.2.6.2).
    fn refuse_malformed(&mut self, msg: &sip::Message<'_>, error: &sip::ParseError, peer: SocketAddr) {
        let tag = self.tag_for(msg);
        let rsp = build::response(msg, error.status(), error.reason(), Some(&tag), None, None);
        self.outbox.push_to(reply_side(msg), (rsp, peer));
    }

    /// One parsed message from `peer` (`data` is the datagram it borrows).
    pub fn handle_message(&mut self, msg: &sip::Message<'_>, data: &Bytes, peer: SocketAddr, now: Now) {
        self.stats.datagrams += 1;
        if let Err(e) = msg.validate() {
            self.stats.parse_errors += 1;
            if msg.is_request() && msg.method() != Some(Method::Ack) {
                self.refuse_malformed(msg, &e, peer);
            }
            return;
        }
        if msg.is_request() {
            // Responses copy the top Via: it says where the request came from
            // when its sent-by does not (§18.2.1) or it asks for rport (RFC 3581).
            if msg.method() != Some(Method::Ack)
                && let Some(stamped) = sip::received::stamp(msg, peer)
                && let Ok(stamped_msg) = sip::parse(&stamped)
            {
                return self.on_request(&stamped_msg, &stamped, peer, now);
            }
            self.on_request(msg, data, peer, now);
        } else {
            self.on_response(msg, peer, now);
        }
    }

    /// Timers due at `now`.
    pub fn handle_timeout(&mut self, now: Now) {
        let mut fired = std::mem::take(&mut self.fired);
        self.wheel.expire(now.ms, &mut fired);
        self.tombs.expire(now.ms);
        for key in fired.drain(..) {
            match key {
                TimerKey::Call(slot, generation)
                    if self.generations.get(slot as usize) == Some(&generation) =>
                {
                    self.with_call(slot, now, |core, call| core.on_timer(call, now));
                }
                TimerKey::Call(..) => {}
                TimerKey::Dip(id) => self.dip_timer(id, now),
                TimerKey::Options => self.options_tick(now),
                TimerKey::Bindings => self.expire_bindings(now),
                TimerKey::Reg(i) => {
                    // A retired registration only finishes its unregister: no refresh, no retry.
                    let resting = self.retired.get(i).copied().unwrap_or(false)
                        && self.registrations.get(i).is_none_or(|r| r.state() != RegState::Unregistering);
                    if !resting
                        && let Some(r) = self.registrations.get_mut(i)
                        && r.poll_timeout().is_some_and(|t| t <= now.ms)
                    {
                        r.handle_timeout(now.ms);
                        self.reg_flush(i);
                        self.start_successors(now);
                    }
                }
            }
        }
        self.fired = fired;
        while let Some(&(at, slot, generation)) = self.talk_limits.first()
            && at <= now.ms
        {
            self.talk_limits.pop_first();
            if self.generations.get(slot as usize) == Some(&generation) {
                self.with_call(slot, now, |core, call| core.cut(call, now));
            }
        }
    }

    /// Shutdown deadline: BYE both legs of every answered call, end every
    /// other call with 503, and write every CDR.
    pub fn hangup_all(&mut self, now: Now) {
        for slot in 0..self.calls.len() as u32 {
            self.with_call(slot, now, |core, call| core.hangup(call, now));
        }
    }

    fn on_request(&mut self, msg: &sip::Message<'_>, data: &Bytes, peer: SocketAddr, now: Now) {
        let call_id = msg.call_id().unwrap_or_default();
        if let Some(&(slot, side)) = self.by_id.get(call_id) {
            self.with_call(slot, now, |core, call| core.in_dialog(call, side, msg, data, peer, now));
            if std::mem::take(&mut self.retry_as_new) {
                if self.by_id.contains_key(call_id) {
                    // Still held (an attempt given up may yet answer): §14.2's 500.
                    self.refuse(side, msg, peer, 500, 5);
                } else {
                    // The failed call gave way to its tombs, which take the retry as a new call.
                    self.on_request(msg, data, peer, now);
                }
            }
            return;
        }
        let has_to_tag = msg.to().map(|t| t.tag.is_some()).unwrap_or(false);
        if let Some(tomb) = self.tombs.get(call_id, now.ms) {
            let (side, invite_branch) = (tomb.side, tomb.branch.as_ref() == dialog::top_branch(msg));
            let repeat = dialog::repeat(&tomb.branch, tomb.cseq, msg);
            let refused = tomb.refused;
            let invite = msg.method() == Some(Method::Invite) && !has_to_tag;
            if refused != 0 && invite && repeat == dialog::Repeat::Retransmission {
                // Stateless, so answered again (§8.2.7), but not a call again.
                self.stats.retransmissions += 1;
                return self.reply_on(Side::A, msg, peer, refused);
            }
            let retry =
                (!tomb.answered && side == Side::A && !has_to_tag && msg.method() == Some(Method::Invite))
                    && repeat == dialog::Repeat::NewRequest;
            if !retry {
                let retry_after_s = tomb.until.saturating_sub(now.ms).div_ceil(1000);
                return self.after_end(side, invite_branch, repeat, retry_after_s, msg, peer);
            }
            // A retry (higher CSeq) after a call that failed, so no dialog whose
            // requests could reach the new call: a new call. The tomb stays
            // behind it and answers again if the new call is refused at once.
        }
        match msg.method() {
            Some(Method::Invite) if !has_to_tag => self.new_call(msg, data, peer, now),
            Some(Method::Ack) => {}
            Some(Method::Options) if !has_to_tag => {
                let status = uas_refusal(msg, &[Scheme::Sip, Scheme::Sips, Scheme::Tel]).unwrap_or(200);
                self.reply(msg, peer, status)
            }
            // Before the challenge: a REGISTER that needs Path (RFC 3327) can never succeed here.
            Some(Method::Register) => match uas_refusal(msg, &[Scheme::Sip, Scheme::Sips]) {
                Some(status) => self.reply(msg, peer, status),
                None => self.on_register(msg, peer, now),
            },
            // Methods that live only in a dialog (or a transaction): outside
            // one there is nothing for them to act on (§12.2.2; RFC 3311, 6086, 3262).
            Some(
                Method::Invite | Method::Bye | Method::Cancel | Method::Update | Method::Info | Method::Prack,
            ) => self.reply(msg, peer, 481),
            _ if has_to_tag => self.reply(msg, peer, 481),
            // §21.5.2: a method tandem does not even know; §8.2.1: one it knows but does not take here.
            Some(Method::Other(_)) | None => self.reply(msg, peer, 501),
            _ => self.reply(msg, peer, 405),
        }
    }

    fn on_response(&mut self, msg: &sip::Message<'_>, peer: SocketAddr, now: Now) {
        let call_id = msg.call_id().unwrap_or_default();
        if let Some(&id) = self.dip_by_call_id.get(call_id) {
            return self.dip_response(id, msg, now);
        }
        if self.is_options_response(call_id) {
            return self.options_response(msg, now);
        }
        if let Some(&i) = self.reg_by_call_id.get(call_id) {
            self.registrations[i].handle_response(msg, now.ms);
            self.reg_flush(i);
            return self.start_successors(now);
        }
        match self.by_id.get(call_id) {
            Some(&(slot, Side::B(i))) => {
                self.with_call(slot, now, |core, call| core.b_response(call, i as usize, msg, now));
            }
            Some(&(slot, Side::A)) => {
                self.with_call(slot, now, |core, call| core.a_response(call, msg, now));
            }
            None => match self.tombs.get(call_id, now.ms) {
                Some(tomb) => {
                    let (side, ack) = (tomb.side, tomb.ack.clone());
                    self.response_after_end(side, ack, msg, peer);
                }
                None => self.stray_response(msg, peer),
            },
        }
    }

    /// A response for no call. A 2xx to one of our INVITEs whose call is gone
    /// is ACKed and BYEd statelessly, so a vendor never keeps a call up
    /// that nobody pays for; only from a vendor's address, so that anyone
    /// else's 2xx gets nothing sent back.
    fn stray_response(&mut self, msg: &sip::Message<'_>, peer: SocketAddr) {
        self.stats.stray_responses += 1;
        let ours = msg.call_id().is_ok_and(ids::is_ours);
        let is_invite_2xx = msg.cseq().is_ok_and(|c| c.method == Method::Invite)
            && msg.status().is_some_and(|s| (200..300).contains(&s));
        let ip = peer.ip().to_canonical();
        let from_vendor = || {
            let snap = self.router.snapshot();
            snap.config.routing_gateways.iter().any(|g| g.address.ip().to_canonical() == ip)
        };
        if ours && is_invite_2xx && from_vendor() {
            self.hang_up_2xx(msg, peer);
        }
    }

    /// ACK and BYE, statelessly, for a vendor's 2xx nobody will take: its
    /// dialog's fields, its CSeq, its route set.
    pub(super) fn hang_up_2xx(&mut self, msg: &sip::Message<'_>, peer: SocketAddr) {
        let text = |name| msg.header(name).and_then(|h| h.value_str().ok()).unwrap_or_default();
        let target = match msg.contacts().next() {
            Some(Ok(sip::Contact::Addr(c))) => c.uri_raw.to_owned(),
            _ => format!("sip:{peer}"),
        };
        let seq = msg.cseq().map_or(1, |c| c.seq);
        let routes = build::route_set(msg, true);
        for (method, cseq) in [("ACK", seq), ("BYE", seq + 1)] {
            let branch = self.ids.branch();
            let req = build::Request {
                method,
                uri: &target,
                branch: &branch,
                from: text(sip::HeaderName::From),
                to: text(sip::HeaderName::To),
                call_id: text(sip::HeaderName::CallId),
                cseq,
                max_forwards: 70,
                body: None,
                credentials: None,
                route: &routes,
            };
            // Our Call-ID, so our INVITE went to a vendor.
            self.outbox.push_to(Side::B(0), (req.build(&self.local_b), peer));
        }
    }

    /// A response for a call that has ended. A vendor that did not get our
    /// ACK for its final answer sends it again: it gets the same ACK again
    /// (timer D for a failure). A 2xx on a leg we never ACKed is a late
    /// answer nobody pays for: ACK and BYE. Anything else repeats what the
    /// call already had.
    fn response_after_end(
        &mut self,
        side: Side,
        ack: Option<(Bytes, SocketAddr)>,
        msg: &sip::Message<'_>,
        peer: SocketAddr,
    ) {
        let status = msg.status().unwrap_or(0);
        if !msg.cseq().is_ok_and(|c| c.method == Method::Invite) || status < 200 {
            return;
        }
        match ack {
            Some(ack) => {
                self.stats.retransmissions += 1;
                self.outbox.push_to(side, ack)
            }
            None if status < 300 => self.stray_response(msg, peer),
            None => {}
        }
    }

    /// A stateless answer to a request. Our own Call-IDs are on vendor legs
    /// only, so such a request came from a vendor (e.g. a BYE for a call that
    /// has ended): it is answered from the vendor side.
    fn reply(&mut self, msg: &sip::Message<'_>, peer: SocketAddr, status: u16) {
        self.reply_on(reply_side(msg), msg, peer, status);
    }

    /// A stateless refusal (482, 500) of a second INVITE on a call's Call-ID,
    /// or of our own B-leg INVITE come back, with Retry-After when
    /// `retry_after_s` > 0. Its To tag is not the call's, so its ACK is never
    /// taken for the ACK of the call's answer.
    fn refuse(
        &mut self,
        side: Side,
        msg: &sip::Message<'_>,
        peer: SocketAddr,
        status: u16,
        retry_after_s: u64,
    ) {
        self.answer(side, msg, peer, status, None, retry_after_s);
    }

    /// A stateless answer to a request from a call's `side`.
    fn reply_on(&mut self, side: Side, msg: &sip::Message<'_>, peer: SocketAddr, status: u16) {
        self.answer(side, msg, peer, status, None, 0);
    }

    /// Our To tag for answers to `msg`, from what tells it from any other
    /// request (Call-ID, From tag, top branch, CSeq number): every copy of the
    /// request gets the same (RFC 3261 §8.2.7), and a CANCEL (same branch and
    /// number) the same as its INVITE (§9.2), even once the call is gone.
    pub(super) fn tag_for(&self, msg: &sip::Message<'_>) -> String {
        let from_tag = msg.from().ok().and_then(|f| f.tag).unwrap_or_default();
        let seq = msg.cseq().map_or(0, |c| c.seq).to_be_bytes();
        let call_id = msg.call_id().unwrap_or_default();
        self.ids.tag_for(&[call_id.as_bytes(), from_tag.as_bytes(), dialog::top_branch(msg).as_bytes(), &seq])
    }

    /// A stateless answer. A request without a To tag gets one (RFC 3261
    /// §8.2.6.2): `tag` (the call's, for the answer to its CANCEL, §9.2), else
    /// `tag_for` the request. `retry_after_s` > 0 adds Retry-After (a 503 while shutting
    /// down has 30 s unless told otherwise). A 405 lists the methods tandem takes (§8.2.1), so does
    /// the 200 to OPTIONS (§11.2); a 420 lists what Require asked for (§8.2.2.3).
    fn answer(
        &mut self,
        side: Side,
        msg: &sip::Message<'_>,
        peer: SocketAddr,
        status: u16,
        tag: Option<&str>,
        retry_after_s: u64,
    ) {
        let derived;
        let tag = match tag {
            Some(t) => t,
            None => {
                derived = self.tag_for(msg);
                &derived
            }
        };
        // Only a shutting-down tandem is unavailable as a whole: its 503 says
        // when to come back; a refused call's 503 (customer at max_calls) does not.
        let retry_after_s =
            if status == 503 && retry_after_s == 0 && self.draining { 30 } else { retry_after_s };
        let mut buf = bytes::BytesMut::with_capacity(512);
        let mut b = sip::response_to(&mut buf, msg, status, build::reason(status), Some(tag));
        if retry_after_s > 0 {
            b = b.header_u32("Retry-After", retry_after_s.min(u64::from(u32::MAX)) as u32);
        }
        match status {
            405 if msg.to().is_ok_and(|t| t.tag.is_some()) => b = b.header("Allow", ALLOW_IN_DIALOG),
            405 => b = b.header("Allow", ALLOW),
            200 if msg.method() == Some(Method::Options) => {
                b = b.header("Allow", ALLOW).header("Accept", "application/sdp")
            }
            420 => {
                let tags: Vec<&str> = msg.option_tags(sip::HeaderName::Require).collect();
                b = b.header("Unsupported", &tags.join(", "));
            }
            _ => {}
        }
        b.finish();
        self.outbox.push_to(side, (buf.freeze(), peer));
    }

    /// Runs `f` on a call taken out of its slot, then schedules it or removes it.
    fn with_call(&mut self, slot: u32, now: Now, f: impl FnOnce(&mut Self, &mut Call)) {
        let Some(mut call) = self.calls.get_mut(slot as usize).and_then(Option::take) else { return };
        f(self, &mut call);
        call.flush(&mut self.outbox);
        call.prune(now.ms);
        if call.finished(now.ms) {
            self.remove(slot, call, now);
            return;
        }
        if let Some(t) = call.next_deadline()
            && call.scheduled.is_none_or(|s| t < s || s <= now.ms)
        {
            self.wheel.insert(t, TimerKey::Call(slot, call.generation));
            call.scheduled = Some(t);
        }
        self.calls[slot as usize] = Some(call);
    }

    fn insert(&mut self, call: Call) -> u32 {
        let mut call = Box::new(call);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.calls.push(None);
                self.generations.push(0);
                (self.calls.len() - 1) as u32
            }
        };
        let generation = self.generations[slot as usize].wrapping_add(1);
        self.generations[slot as usize] = generation;
        call.generation = generation;
        call.slot = slot;
        self.by_id.insert(call.a.call_id.clone().into_boxed_str(), (slot, Side::A));
        self.calls[slot as usize] = Some(call);
        slot
    }

    /// Frees the call's slot; until its linger time is up, its Call-IDs
    /// stay behind as tombs.
    fn remove(&mut self, slot: u32, call: Box<Call>, now: Now) {
        let until = call.linger_until.filter(|&t| t > now.ms);
        if let Some(at) = call.talk_deadline {
            self.talk_limits.remove(&(at, slot, call.generation));
        }
        self.by_id.remove(call.a.call_id.as_str());
        if let Some(until) = until {
            let branch = call.a.branch.as_str().into();
            let (cseq, answered) = (call.a.invite_cseq, call.answered.is_some());
            let tomb = tombs::Tomb { side: Side::A, branch, cseq, answered, ack: None, refused: 0, until };
            self.tombs.lay(&call.a.call_id, tomb);
        }
        for (i, at) in call.attempts.iter().enumerate() {
            self.by_id.remove(at.call_id.as_str());
            if let Some(until) = until {
                // The ACK of its 2xx (answered or killed), else of its failure.
                let ack = at.ack.as_ref().or(at.txn.pending_ack()).map(|a| (a.clone(), at.peer));
                let tomb = tombs::Tomb {
                    side: Side::B(i as u16),
                    branch: Box::default(),
                    cseq: 0,
                    answered: false,
                    ack,
                    refused: 0,
                    until,
                };
                self.tombs.lay(&at.call_id, tomb);
            }
        }
        self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests;

/// RFC 3261 §8.2.2.3: tandem supports no extension a request can require
/// (not 100rel, not timer), so any Require gets 420. It is checked after the
/// source, method, Request-URI and merged-request checks (§8.2's order), and
/// never on ACK, CANCEL or BYE: a BYE always ends its call, so that no call
/// stays up (and billed) because of an option tag.
pub(super) fn requires_extension(msg: &sip::Message<'_>) -> bool {
    msg.option_tags(sip::HeaderName::Require).next().is_some()
}

/// What a request tandem answers itself gets before its method's own work,
/// in RFC 3261 §8.2's order: 416 for a Request-URI scheme not in `schemes`
/// (§8.2.2.1), 420 for a Require (§8.2.2.3).
fn uas_refusal(msg: &sip::Message<'_>, schemes: &[Scheme<'_>]) -> Option<u16> {
    match msg.request_uri() {
        Some(uri) if !schemes.contains(&uri.scheme) => Some(416),
        _ if requires_extension(msg) => Some(420),
        _ => None,
    }
}

/// Removes and returns the first item of `v` that `f` picks.
fn take_first<T>(v: &mut Vec<T>, f: impl Fn(&T) -> bool) -> Option<T> {
    v.iter().position(f).map(|p| v.remove(p))
}

/// The side a stateless answer leaves by: our own Call-IDs are on vendor legs
/// only, so such a request came from a vendor.
fn reply_side(msg: &sip::Message<'_>) -> Side {
    if msg.call_id().is_ok_and(ids::is_ours) { Side::B(0) } else { Side::A }
}
