//! Number portability in the call flow (issue: LRN): before routing, a
//! number a LRN gateway could take is looked up — cache, then the source.
//! A `sip-redirect` dip parks the call on its shard as this shard's own
//! client transaction: no thread blocks, other calls flow on, and calls to
//! the same number share one dip. A failed or slow dip routes on the dialed
//! number.

use super::build;
use super::invite::route;
use super::state::{Call, Phase};
use super::{Core, Now, TimerKey};
use crate::cdr::{Cdr, HangUp};
use crate::config::LrnKind;
use crate::lrn::cache::Answer;
use crate::lrn::{dip, nanp_tn};
use crate::routing::decide::Outcome;
use crate::routing::snapshot::RoutingSnapshot;
use crate::sip::{HeaderName, Message};
use crate::txn::{ClientEvent, ClientState, ClientTxn, Kind};
use std::net::SocketAddr;
use std::sync::Arc;

/// The answer a call was routed with, for the B-leg URI and the CDR.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LrnInfo {
    /// Ported (LRN), not ported, or no answer.
    pub answer: Option<Answer>,
    /// `cache`, `dip:<name>`, `file`, `fallback` or `none`.
    pub source: String,
    /// Dip latency, when a dip was made.
    pub dip_ms: Option<u64>,
}

impl LrnInfo {
    /// No lookup was needed.
    pub fn none() -> Self {
        LrnInfo { answer: None, source: "none".into(), dip_ms: None }
    }

    /// The LRN as routing takes it (10 digits), when ported.
    pub fn lrn_text(&self) -> Option<String> {
        match self.answer {
            Some(Answer::Ported(l)) => Some(l.to_string()),
            _ => None,
        }
    }

    /// The B-leg user part with RFC 4694 parameters: `;rn=+1LRN;npdi` after
    /// a ported answer, `;npdi` after "not ported"; `None` without an answer.
    pub fn uri_user(&self, number: &str) -> Option<String> {
        match self.answer? {
            Answer::Ported(l) => Some(format!("{number};rn=+1{l};npdi")),
            Answer::NotPorted => Some(format!("{number};npdi")),
        }
    }

    /// Writes the CDR's LRN columns.
    pub fn fill(&self, cdr: &mut Cdr) {
        cdr.lrn = self.lrn_text().unwrap_or_default();
        cdr.lrn_source.clone_from(&self.source);
        cdr.dip_ms = self.dip_ms;
    }
}

/// The number and the LRN sources to try, in order, for a call whose first
/// routing outcome is `first` and whose number (after the dial plan) is
/// `number`: when a gateway with LRN on could take it and it is a NANP number.
pub fn lrn_plan(snap: &RoutingSnapshot, number: &str, first: &Outcome) -> Option<(u64, Vec<usize>)> {
    if !matches!(first, Outcome::Route(_) | Outcome::NoRoute(_) | Outcome::NoCustomerRate(_)) {
        return None;
    }
    let tn = nanp_tn(number)?;
    let cfg = &snap.config;
    let gw = cfg.routing_gateways.iter().find(|g| {
        g.lrn.is_some()
            && (g.prefixes.is_empty() || g.prefixes.iter().any(|p| number.starts_with(p.as_str())))
    })?;
    let names = gw.lrn.as_ref()?.get_ref();
    let sources: Vec<usize> =
        names.iter().filter_map(|n| cfg.lrn.source.iter().position(|s| s.name.get_ref() == n)).collect();
    (!sources.is_empty()).then_some((tn, sources))
}

/// Where a lookup stands after the cache and the local sources.
pub(super) enum Lookup {
    /// Answered (or given up): route with this.
    Done(LrnInfo),
    /// A dip is needed: these sources remain, the first a `sip-redirect`.
    Dip(Vec<usize>),
}

/// A dip in flight (or finishing its transaction).
#[derive(Debug)]
pub struct Dip {
    tn: u64,
    /// The configuration the source indices refer to (the first caller's).
    snap: Arc<RoutingSnapshot>,
    source: usize,
    /// Sources to try, in order, if this one fails.
    rest: Vec<usize>,
    /// When the first dip for these waiters started (a chain of sources
    /// counts from there).
    first_started: u64,
    peer: SocketAddr,
    txn: ClientTxn,
    started: u64,
    deadline: u64,
    waiters: Vec<(u32, u32)>,
    done: bool,
}

impl Core {
    /// The number and source to look up, when a gateway with LRN on could
    /// take this call and the number is a NANP number.
    pub(super) fn lrn_plan(
        &self,
        snap: &RoutingSnapshot,
        number: &str,
        first: &Outcome,
    ) -> Option<(u64, Vec<usize>)> {
        lrn_plan(snap, number, first)
    }

    /// The cache, then the sources in order: an answer now, or the sources
    /// left when a dip is needed.
    pub(super) fn lrn_now(&mut self, snap: &RoutingSnapshot, tn: u64, sources: &[usize], now: Now) -> Lookup {
        let now_s = (now.unix_ms / 1000) as u32;
        if let Some(a) = self.lrn_cache.as_ref().and_then(|c| c.get(tn, now_s)) {
            self.stats.lrn_cache_hits += 1;
            return Lookup::Done(LrnInfo { answer: Some(a), source: "cache".into(), dip_ms: None });
        }
        self.stats.lrn_cache_misses += 1;
        self.local_sources(snap, tn, sources, None)
    }

    /// Tries `sources` in order: a `file` source answers at once (one that is
    /// not loaded counts as failed); the first `sip-redirect` needs a dip.
    fn local_sources(
        &mut self,
        snap: &RoutingSnapshot,
        tn: u64,
        sources: &[usize],
        dip_ms: Option<u64>,
    ) -> Lookup {
        for (i, &source) in sources.iter().enumerate() {
            let Some(src) = snap.config.lrn.source.get(source) else { continue };
            match src.kind.get_ref() {
                LrnKind::File => {
                    let Some(file) = snap.lrn_files.get(src.name.get_ref()) else { continue };
                    self.stats.lrn_file_lookups += 1;
                    let answer = file.get(tn).map_or(Answer::NotPorted, Answer::Ported);
                    return Lookup::Done(LrnInfo { answer: Some(answer), source: "file".into(), dip_ms });
                }
                LrnKind::SipRedirect if src.address.is_some() => return Lookup::Dip(sources[i..].to_vec()),
                LrnKind::SipRedirect => {}
            }
        }
        self.stats.lrn_fallbacks += 1;
        Lookup::Done(LrnInfo::fallback(dip_ms))
    }

    /// Joins the dip for `tn` in flight on this shard, or starts one.
    pub(super) fn start_dip(&mut self, call: &mut Call, tn: u64, sources: Vec<usize>, now: Now) {
        let waiter = (call.slot, call.generation);
        // Join a dip in flight for the number only when it will try the same
        // sources from the same configuration: otherwise this call's own
        // fallback list would be lost.
        if let Some(id) = self.dip_by_tn.get(&tn).copied()
            && let Some(d) = self.dips.get_mut(&id)
            && Arc::ptr_eq(&d.snap, &call.snap)
            && sources.split_first().is_some_and(|(first, rest)| *first == d.source && rest == d.rest)
        {
            d.waiters.push(waiter);
            self.stats.lrn_dips_shared += 1;
            return;
        }
        let snap = Arc::clone(&call.snap);
        if !self.launch_dip(&snap, tn, sources, vec![waiter], now.ms, now) {
            self.stats.lrn_fallbacks += 1;
            self.resume(call, LrnInfo::fallback(None), now);
        }
    }

    /// Sends the dip to `sources[0]` (a `sip-redirect` with an address) for
    /// `waiters`; `false` when it cannot be sent.
    fn launch_dip(
        &mut self,
        snap: &Arc<RoutingSnapshot>,
        tn: u64,
        sources: Vec<usize>,
        waiters: Vec<(u32, u32)>,
        first_started: u64,
        now: Now,
    ) -> bool {
        let Some((&source, rest)) = sources.split_first() else { return false };
        let Some(src) = snap.config.lrn.source.get(source) else { return false };
        let Some(peer) = src.address else { return false };
        let call_id = self.ids.call_id(&self.local.host);
        let (tag, branch) = (self.ids.tag(), self.ids.branch());
        let request = dip::request(&self.local, &peer.to_string(), tn, &call_id, &tag, &branch);
        let mut txn = ClientTxn::new(Kind::Invite, request, now.ms);
        while let Some(d) = txn.poll_transmit() {
            self.outbox.push((d, peer));
        }
        let id = self.next_dip;
        self.next_dip += 1;
        let deadline = now.ms + u64::from(src.timeout_ms);
        self.wheel.insert(deadline, TimerKey::Dip(id));
        if let Some(t) = txn.poll_timeout() {
            self.wheel.insert(t, TimerKey::Dip(id));
        }
        let rest = rest.to_vec();
        let dip = Dip {
            tn,
            snap: Arc::clone(snap),
            source,
            rest,
            first_started,
            peer,
            txn,
            started: now.ms,
            deadline,
            waiters,
            done: false,
        };
        self.dips.insert(id, dip);
        self.dip_by_tn.insert(tn, id);
        self.dip_by_call_id.insert(call_id.into_boxed_str(), id);
        self.stats.lrn_dips += 1;
        true
    }

    /// A response to a dip.
    pub(super) fn dip_response(&mut self, id: u64, msg: &Message<'_>, now: Now) {
        let Some(d) = self.dips.get_mut(&id) else { return };
        let status = msg.status().unwrap_or(0);
        let to = msg.header(HeaderName::To).map_or(&b""[..], |h| h.value);
        let request = d.txn.request().clone();
        let event = d.txn.handle_response(status, now.ms, || build::ack_for(&request, to));
        while let Some(data) = d.txn.poll_transmit() {
            self.outbox.push((data, d.peer));
        }
        if let Some(t) = d.txn.poll_timeout() {
            self.wheel.insert(t, TimerKey::Dip(id));
        }
        if matches!(event, ClientEvent::Final(_)) && !d.done {
            let answer = dip::answer(msg);
            self.finish_dip(id, answer, now);
        }
    }

    /// A dip's timer: retransmit, give up at `timeout_ms`, or clean up.
    pub(super) fn dip_timer(&mut self, id: u64, now: Now) {
        let Some(d) = self.dips.get_mut(&id) else { return };
        d.txn.handle_timeout(now.ms);
        while let Some(data) = d.txn.poll_transmit() {
            self.outbox.push((data, d.peer));
        }
        if !d.done && now.ms >= d.deadline {
            d.txn.abandon();
            self.finish_dip(id, None, now);
        }
        let Some(d) = self.dips.get(&id) else { return };
        match d.txn.poll_timeout() {
            Some(t) => self.wheel.insert(t, TimerKey::Dip(id)),
            None if d.done && d.txn.state() == ClientState::Terminated => self.drop_dip(id),
            None => {}
        }
    }

    fn drop_dip(&mut self, id: u64) {
        self.dips.remove(&id);
        self.dip_by_call_id.retain(|_, v| *v != id);
    }

    /// Caches the answer and resumes every call waiting on it.
    fn finish_dip(&mut self, id: u64, answer: Option<Answer>, now: Now) {
        let Some(d) = self.dips.get_mut(&id) else { return };
        d.done = true;
        let (tn, source, first, snap) = (d.tn, d.source, d.first_started, Arc::clone(&d.snap));
        let (waiters, rest) = (std::mem::take(&mut d.waiters), std::mem::take(&mut d.rest));
        let ms = now.ms.saturating_sub(d.started);
        self.dip_by_tn.remove(&tn);
        let _ = self.dip_latency_ms.record(ms.max(1));
        let total_ms = Some(now.ms.saturating_sub(first));
        let info = match answer {
            Some(a) => {
                self.stats.lrn_answers += 1;
                self.stats.lrn_answers_ported += u64::from(matches!(a, Answer::Ported(_)));
                if let Some(cache) = &self.lrn_cache {
                    let ttl = match a {
                        Answer::Ported(_) => snap.config.lrn.ttl,
                        Answer::NotPorted => snap.config.lrn.negative_ttl,
                    };
                    let now_s = (now.unix_ms / 1000) as u32;
                    cache.put(tn, a, now_s.saturating_add(ttl), now_s);
                }
                let name =
                    snap.config.lrn.source.get(source).map(|s| s.name.get_ref().as_str()).unwrap_or("");
                LrnInfo { answer: Some(a), source: format!("dip:{name}"), dip_ms: total_ms }
            }
            // This source failed: the next ones in the gateway's list, in order.
            None => match self.local_sources(&snap, tn, &rest, total_ms) {
                Lookup::Done(info) => info,
                Lookup::Dip(next) => {
                    if self.launch_dip(&snap, tn, next, waiters.clone(), first, now) {
                        return self.drop_if_done(id);
                    }
                    self.stats.lrn_fallbacks += 1;
                    LrnInfo::fallback(total_ms)
                }
            },
        };
        for (slot, generation) in waiters {
            if self.generations.get(slot as usize) == Some(&generation) {
                let info = info.clone();
                self.with_call(slot, now, |core, call| core.resume(call, info, now));
            }
        }
        self.drop_if_done(id);
    }

    fn drop_if_done(&mut self, id: u64) {
        if self.dips.get(&id).is_some_and(|d| d.txn.state() == ClientState::Terminated) {
            self.drop_dip(id);
        }
    }

    /// Routes a parked call with the answer (or on the dialed number after a failure).
    pub(super) fn resume(&mut self, call: &mut Call, info: LrnInfo, now: Now) {
        if call.parked.take().is_none() || call.phase != Phase::Hunting {
            return;
        }
        info.fill(&mut call.cdr);
        let registered = self.registered_user(call.a.peer, now);
        let outcome =
            route(&call.snap, call.a.peer, &call.dialed, info.lrn_text().as_deref(), registered, now);
        call.lrn = info;
        match outcome {
            Outcome::Route(d) => {
                call.cdr.routed.clone_from(&d.number);
                call.cdr.customer_rate =
                    d.customer_rate.as_ref().map(|p| (p.tariff.rate, p.tariff.initial, p.tariff.increment));
                call.candidates = d.candidates;
                self.hunt(call, now);
            }
            Outcome::Forbidden => self.fail(call, 403, HangUp::System, now),
            Outcome::CustomerLimit { .. } => self.fail(call, 503, HangUp::System, now),
            Outcome::BadNumber { .. } => self.fail(call, 484, HangUp::System, now),
            Outcome::NoRoute(_) | Outcome::NoCustomerRate(_) => self.fail(call, 404, HangUp::System, now),
        }
    }
}

impl LrnInfo {
    /// A failed or timed-out dip: route on the dialed number.
    pub fn fallback(dip_ms: Option<u64>) -> Self {
        LrnInfo { answer: None, source: "fallback".into(), dip_ms }
    }
}
