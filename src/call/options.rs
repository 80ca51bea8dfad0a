//! The gateway online check (SPEC.md §1): routing gateways with
//! `options_ping > 0` get an OPTIONS every period. No final answer within
//! `options_timeout_ms` (or a 5xx with `options_offline_on_5xx`) marks the
//! gateway offline, and `routing::decide` skips it; the first good answer
//! marks it online again. Any other final answer, even 404 or 405, proves
//! the gateway is up.
//!
//! Gateway `i` is checked by shard `i % shards`; the verdict goes into the
//! snapshot's shared flag, read by every shard's routing. The set of checks
//! follows the live snapshot, so a reload that adds or removes a gateway or
//! changes its period takes effect at the next tick.

use super::build::Request;
use super::{Core, Now, TimerKey};
use crate::routing::snapshot::RoutingSnapshot;
use crate::sip::Message;
use crate::txn::{ClientEvent, ClientTxn, Kind};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// Longest wait between ticks, so reloads that add checks are seen.
const TICK_MS: u64 = 1000;

/// This shard's checks.
#[derive(Debug, Default)]
pub(super) struct Checks {
    /// Checking is on (the engine turned it on with the shard count).
    shards: Option<u16>,
    by_gateway: HashMap<String, Check>,
    by_call_id: HashMap<Box<str>, String>,
    /// Verdict changes not yet taken by the engine: (gateway, online).
    events: Vec<(String, bool)>,
}

#[derive(Debug)]
struct Check {
    peer: SocketAddr,
    period_ms: u64,
    timeout_ms: u64,
    offline_on_5xx: bool,
    next_due: u64,
    cseq: u32,
    in_flight: Option<InFlight>,
}

#[derive(Debug)]
struct InFlight {
    call_id: String,
    txn: ClientTxn,
    deadline: u64,
}

impl Core {
    /// Starts the online checks this shard owns (of `shards`).
    pub fn start_options_checks(&mut self, shards: u16, now: Now) {
        self.checks.shards = Some(shards.max(1));
        self.wheel.insert(now.ms, TimerKey::Options);
    }

    /// Gateways whose online state changed: (name, online).
    pub fn poll_gateway_events(&mut self) -> Vec<(String, bool)> {
        std::mem::take(&mut self.checks.events)
    }

    /// Whether `call_id` is one of this shard's OPTIONS.
    pub(super) fn is_options_response(&self, call_id: &str) -> bool {
        self.checks.by_call_id.contains_key(call_id)
    }

    /// The check timer: follow the snapshot, time out, retransmit, send what is due.
    pub(super) fn options_tick(&mut self, now: Now) {
        let Some(shards) = self.checks.shards else { return };
        // The same once-a-second look at the snapshot picks up reloaded registrations.
        self.sync_registrations(shards, now);
        let snap = self.router.snapshot();
        self.sync_checks(&snap, shards, now);
        let names: Vec<String> = self.checks.by_gateway.keys().cloned().collect();
        for name in names {
            self.step_check(&snap, &name, now);
        }
        let next = self.checks.by_gateway.values().map(Check::next_event).min();
        let next = next.map_or(now.ms + TICK_MS, |t| t.min(now.ms + TICK_MS));
        self.wheel.insert(next.max(now.ms + 1), TimerKey::Options);
    }

    /// Adds checks for owned gateways with `options_ping`, drops the others.
    fn sync_checks(&mut self, snap: &RoutingSnapshot, shards: u16, now: Now) {
        let mine = |i: usize| i % usize::from(shards) == usize::from(self.ids.shard());
        let mut keep = Vec::new();
        for (i, g) in snap.config.routing_gateways.iter().enumerate() {
            if g.options_ping == 0 || !mine(i) {
                continue;
            }
            let name = g.name.get_ref();
            keep.push(name.as_str());
            let period_ms = u64::from(g.options_ping) * 1000;
            let check = self.checks.by_gateway.entry(name.clone()).or_insert_with(|| Check {
                peer: g.address,
                period_ms,
                timeout_ms: 0,
                offline_on_5xx: false,
                next_due: now.ms,
                cseq: 0,
                in_flight: None,
            });
            // A shorter period after a reload applies at once.
            check.next_due = check.next_due.min(now.ms + period_ms);
            (check.peer, check.period_ms) = (g.address, period_ms);
            check.timeout_ms = u64::from(g.options_timeout_ms);
            check.offline_on_5xx = g.options_offline_on_5xx;
        }
        let gone: Vec<String> =
            self.checks.by_gateway.keys().filter(|n| !keep.contains(&n.as_str())).cloned().collect();
        for name in gone {
            if let Some(InFlight { call_id, .. }) =
                self.checks.by_gateway.remove(&name).and_then(|c| c.in_flight)
            {
                self.checks.by_call_id.remove(call_id.as_str());
            }
        }
    }

    fn step_check(&mut self, snap: &RoutingSnapshot, name: &str, now: Now) {
        let Some(check) = self.checks.by_gateway.get_mut(name) else { return };
        if let Some(f) = &mut check.in_flight {
            f.txn.handle_timeout(now.ms);
            while let Some(d) = f.txn.poll_transmit() {
                self.outbox.push((d, check.peer));
            }
            if now.ms >= f.deadline {
                let call_id = f.call_id.clone();
                check.in_flight = None;
                self.checks.by_call_id.remove(call_id.as_str());
                self.metrics.options_timeouts += 1;
                set_online(&mut self.checks.events, snap, name, false);
            }
        }
        let Some(check) = self.checks.by_gateway.get_mut(name) else { return };
        if check.in_flight.is_none() && now.ms >= check.next_due {
            check.next_due = now.ms + check.period_ms;
            check.cseq += 1;
            let call_id = self.ids.call_id(&self.local.host);
            let (tag, branch) = (self.ids.tag(), self.ids.branch());
            let uri = format!("sip:{}", check.peer);
            let from = format!("<sip:tandem@{}>;tag={tag}", self.local.host);
            let request = Request {
                method: "OPTIONS",
                uri: &uri,
                branch: &branch,
                from: &from,
                to: &format!("<{uri}>"),
                call_id: &call_id,
                cseq: check.cseq,
                max_forwards: 70,
                body: None,
                credentials: None,
                route: "",
            }
            .build(&self.local);
            let mut txn = ClientTxn::new(Kind::NonInvite, request, now.ms);
            while let Some(d) = txn.poll_transmit() {
                self.outbox.push((d, check.peer));
            }
            self.checks.by_call_id.insert(call_id.clone().into_boxed_str(), name.to_owned());
            check.in_flight = Some(InFlight { call_id, txn, deadline: now.ms + check.timeout_ms });
            self.metrics.options_sent += 1;
        }
    }

    /// A response to one of our OPTIONS.
    pub(super) fn options_response(&mut self, msg: &Message<'_>, now: Now) {
        let call_id = msg.call_id().unwrap_or_default();
        let Some(name) = self.checks.by_call_id.get(call_id).cloned() else { return };
        let Some(check) = self.checks.by_gateway.get_mut(&name) else { return };
        let Some(f) = check.in_flight.as_mut() else { return };
        let status = msg.status().unwrap_or(0);
        if !matches!(f.txn.handle_response(status, now.ms, bytes::Bytes::new), ClientEvent::Final(_)) {
            return;
        }
        check.in_flight = None;
        self.checks.by_call_id.remove(call_id);
        let online = !(check.offline_on_5xx && (500..600).contains(&status));
        let snap = self.router.snapshot();
        set_online(&mut self.checks.events, &snap, &name, online);
    }
}

impl Check {
    fn next_event(&self) -> u64 {
        match &self.in_flight {
            Some(f) => f.txn.poll_timeout().map_or(f.deadline, |t| t.min(f.deadline)),
            None => self.next_due,
        }
    }
}

/// Writes the verdict into the shared flag; a change becomes an event.
fn set_online(events: &mut Vec<(String, bool)>, snap: &RoutingSnapshot, name: &str, online: bool) {
    let gws = &snap.config.routing_gateways;
    let Some(i) = gws.iter().position(|g| g.name.get_ref() == name) else { return };
    let Some(flag) = snap.occupancy.gateway_online.get(i) else { return };
    if flag.swap(online, Ordering::Relaxed) != online {
        events.push((name.to_owned(), online));
    }
}
