//! Counters a carrier's NOC reads (SPEC.md §6), kept per shard with no
//! shared atomics on the hot path. Each shard owns plain counters; at scrape
//! time the metrics endpoint asks every shard for a [`ShardMetrics`] copy,
//! [`merge`]s them and [`render`]s the Prometheus text format.
//!
//! No I/O and no clock here: times come in as the engine's `Now`.

mod render;
mod window;

pub use render::{GatewayLive, Gauges, render};
pub use window::{PerSecond, Window};

use crate::call::Stats;
use crate::registrar::Stats as RegistrarStats;
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};

/// Minutes in the rolling ASR/ACD window.
pub const WINDOW_MINUTES: u64 = 15;

/// A histogram with the bounds every tandem latency uses (1 unit .. 1 h in ms / µs).
pub fn histogram(max: u64) -> Histogram<u64> {
    Histogram::new_with_bounds(1, max, 3).expect("constant bounds, 3 significant digits")
}

/// One gateway's call outcomes on one shard: since start and per minute.
#[derive(Clone, Debug, Default)]
pub struct GatewayCounters {
    /// Totals since start.
    pub total: Outcomes,
    /// The last [`WINDOW_MINUTES`] minutes, by minute.
    pub window: Window,
}

/// What ASR and ACD are computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// B-leg INVITEs sent (seizures).
    pub attempts: u64,
    /// Of those, answered with a 2xx.
    pub answered: u64,
    /// Answered calls that have ended.
    pub ended: u64,
    /// Their talk time, ms.
    pub duration_ms: u64,
}

impl Outcomes {
    /// Adds another count.
    pub fn add(&mut self, o: &Outcomes) {
        self.attempts += o.attempts;
        self.answered += o.answered;
        self.ended += o.ended;
        self.duration_ms += o.duration_ms;
    }

    /// Answer-seizure ratio, 0..=1; `None` before the first attempt.
    pub fn asr(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.answered as f64 / self.attempts as f64)
    }

    /// Average call duration, seconds; `None` before the first answered call ends.
    pub fn acd_s(&self) -> Option<f64> {
        (self.ended > 0).then(|| self.duration_ms as f64 / self.ended as f64 / 1000.0)
    }
}

impl GatewayCounters {
    /// A B-leg INVITE was sent at `minute`.
    pub fn attempt(&mut self, minute: u64) {
        self.total.attempts += 1;
        self.window.at(minute).attempts += 1;
    }

    /// The gateway answered at `minute`.
    pub fn answer(&mut self, minute: u64) {
        self.total.answered += 1;
        self.window.at(minute).answered += 1;
    }

    /// An answered call ended at `minute` after `duration_ms` of talk.
    pub fn ended(&mut self, minute: u64, duration_ms: u64) {
        self.total.ended += 1;
        self.total.duration_ms += duration_ms;
        let b = self.window.at(minute);
        b.ended += 1;
        b.duration_ms += duration_ms;
    }
}

/// The core's share of a shard's metrics.
#[derive(Clone, Debug)]
pub struct CoreMetrics {
    /// Call, parse and LRN counters.
    pub stats: Stats,
    /// Ended calls by final SIP code (200 for answered calls).
    pub final_codes: BTreeMap<u16, u64>,
    /// Per routing gateway, by name.
    pub gateways: HashMap<String, GatewayCounters>,
    /// New INVITEs per second, recent seconds.
    pub offered: PerSecond,
    /// Calls this shard holds that have not ended.
    pub active_calls: u64,
    /// INVITE received → first ringing or answer relayed to the caller, ms.
    pub post_dial_delay_ms: Histogram<u64>,
    /// LRN dip sent → answer or timeout, ms.
    pub dip_latency_ms: Histogram<u64>,
    /// Outbound registrations by state name.
    pub upstream_registrations: Vec<(String, &'static str)>,
    /// The endpoint registrar's counters.
    pub registrar: RegistrarStats,
    /// Live endpoint bindings (every shard holds the same replica).
    pub endpoint_bindings: u64,
    /// Sources refused for failed registrations, now.
    pub suspended_sources: u64,
    /// OPTIONS checks sent by this shard.
    pub options_sent: u64,
    /// OPTIONS checks that went unanswered in time.
    pub options_timeouts: u64,
}

/// Everything one shard reports at a scrape.
#[derive(Clone, Debug)]
pub struct ShardMetrics {
    /// The shard.
    pub shard: u16,
    /// The core's counters.
    pub core: CoreMetrics,
    /// Messages handed to other shards.
    pub handoffs_out: u64,
    /// Handoffs dropped because the owner's queue was full.
    pub handoffs_dropped: u64,
    /// Datagrams waiting for the socket to take them.
    pub send_pending: u64,
    /// New INVITE received → what it caused sent (100 Trying and the B-leg INVITE), µs.
    pub routing_latency_us: Histogram<u64>,
}

/// Every shard's metrics added together.
#[derive(Clone, Debug)]
pub struct Merged {
    /// Per shard, for the per-shard series.
    pub shards: Vec<ShardMetrics>,
    /// Sum of the call counters.
    pub stats: Stats,
    /// Sum of final codes.
    pub final_codes: BTreeMap<u16, u64>,
    /// Per gateway: totals and the rolling window summed.
    pub gateways: HashMap<String, (Outcomes, Outcomes)>,
    /// New calls per second over the last complete seconds.
    pub cps: f64,
    /// Calls up.
    pub active_calls: u64,
    /// Merged latency histograms.
    pub routing_latency_us: Histogram<u64>,
    /// Merged post-dial delay.
    pub post_dial_delay_ms: Histogram<u64>,
    /// Merged dip latency.
    pub dip_latency_ms: Histogram<u64>,
    /// Outbound registrations: (gateway, state).
    pub upstream_registrations: Vec<(String, &'static str)>,
    /// Registrar counters: summed, except `expired` (each replica expires its own copy: the largest).
    pub registrar: RegistrarStats,
    /// Bindings (the largest replica count: replicas converge).
    pub endpoint_bindings: u64,
    /// Suspended sources (largest replica count).
    pub suspended_sources: u64,
    /// OPTIONS sent.
    pub options_sent: u64,
    /// OPTIONS unanswered.
    pub options_timeouts: u64,
}

/// Adds every shard's counters; `minute` and `second` are the scrape's time.
pub fn merge(shards: Vec<ShardMetrics>, minute: u64, second: u64) -> Merged {
    let mut m = Merged {
        shards: Vec::new(),
        stats: Stats::default(),
        final_codes: BTreeMap::new(),
        gateways: HashMap::new(),
        cps: 0.0,
        active_calls: 0,
        routing_latency_us: histogram(10_000_000),
        post_dial_delay_ms: histogram(3_600_000),
        dip_latency_ms: histogram(3_600_000),
        upstream_registrations: Vec::new(),
        registrar: RegistrarStats::default(),
        endpoint_bindings: 0,
        suspended_sources: 0,
        options_sent: 0,
        options_timeouts: 0,
    };
    for s in &shards {
        let c = &s.core;
        m.stats.add(&c.stats);
        for (code, n) in &c.final_codes {
            *m.final_codes.entry(*code).or_default() += n;
        }
        for (name, g) in &c.gateways {
            let e = m.gateways.entry(name.clone()).or_default();
            e.0.add(&g.total);
            e.1.add(&g.window.sum(minute, WINDOW_MINUTES));
        }
        m.cps += c.offered.rate(second);
        m.active_calls += c.active_calls;
        let _ = m.routing_latency_us.add(&s.routing_latency_us);
        let _ = m.post_dial_delay_ms.add(&c.post_dial_delay_ms);
        let _ = m.dip_latency_ms.add(&c.dip_latency_ms);
        m.upstream_registrations.extend(c.upstream_registrations.iter().cloned());
        add_registrar(&mut m.registrar, &c.registrar);
        m.endpoint_bindings = m.endpoint_bindings.max(c.endpoint_bindings);
        m.suspended_sources = m.suspended_sources.max(c.suspended_sources);
        m.options_sent += c.options_sent;
        m.options_timeouts += c.options_timeouts;
    }
    m.upstream_registrations.sort();
    m.shards = shards;
    m
}

/// Adds one shard's registrar counters. REGISTERs are handled by one shard
/// each, so those counts add up; expiries happen on every replica.
fn add_registrar(total: &mut RegistrarStats, s: &RegistrarStats) {
    total.registered += s.registered;
    total.refreshed += s.refreshed;
    total.unregistered += s.unregistered;
    total.expired = total.expired.max(s.expired);
    total.challenged += s.challenged;
    total.auth_failures += s.auth_failures;
    total.suspended_refusals += s.suspended_refusals;
    total.replaced += s.replaced;
    total.refused_active += s.refused_active;
    total.rate_limited += s.rate_limited;
    total.interval_too_brief += s.interval_too_brief;
}

#[cfg(test)]
mod tests;
