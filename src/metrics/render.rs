//! The Prometheus text exposition format (version 0.0.4). docs/metrics.md
//! lists every series written here; keep the two in step.

use super::{Merged, Outcomes};
use hdrhistogram::Histogram;
use std::fmt::Write as _;

/// What the scrape reads outside the shards: shared, read-mostly state.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Routing gateways, in config order.
    pub gateways: Vec<GatewayLive>,
    /// Customers and their current calls.
    pub customers: Vec<(String, u32)>,
    /// Handoff queue depth per shard.
    pub queue_depth: Vec<usize>,
    /// Graceful shutdown in progress.
    pub draining: bool,
    /// Seconds since start.
    pub uptime_s: u64,
}

/// One routing gateway's live state.
#[derive(Clone, Debug, Default)]
pub struct GatewayLive {
    /// Name.
    pub name: String,
    /// The OPTIONS check's verdict (always online when the check is off).
    pub online: bool,
    /// Whether OPTIONS checks run for it.
    pub checked: bool,
    /// Current calls.
    pub calls: u32,
}

/// Writes every metric.
pub fn render(m: &Merged, g: &Gauges) -> String {
    let mut out = String::with_capacity(8192);
    let w = &mut out;
    gauge(w, "tandem_uptime_seconds", "Seconds since tandem started.", g.uptime_s as f64);
    gauge(
        w,
        "tandem_draining",
        "1 while a graceful shutdown is in progress.",
        f64::from(u8::from(g.draining)),
    );
    calls(w, m);
    gateways(w, m, g);
    head(w, "tandem_customer_calls", "gauge", "Current calls per customer (mapping gateway).");
    for (name, n) in &g.customers {
        line(w, "tandem_customer_calls", &[("customer", name)], f64::from(*n));
    }
    lrn(w, m);
    registrations(w, m);
    engine(w, m, g);
    summary(
        w,
        "tandem_routing_latency_seconds",
        "New INVITE received to 100 Trying and B-leg INVITE sent.",
        &m.routing_latency_us,
        1e-6,
    );
    summary(
        w,
        "tandem_post_dial_delay_seconds",
        "New INVITE received to first ringing or answer relayed to the caller.",
        &m.post_dial_delay_ms,
        1e-3,
    );
    summary(
        w,
        "tandem_lrn_dip_latency_seconds",
        "LRN dip sent to answer or timeout.",
        &m.dip_latency_ms,
        1e-3,
    );
    out
}

fn calls(w: &mut String, m: &Merged) {
    let s = &m.stats;
    counter(w, "tandem_calls_offered_total", "New INVITEs received.", s.calls_offered);
    counter(w, "tandem_calls_answered_total", "Calls answered by a vendor.", s.calls_answered);
    counter(
        w,
        "tandem_calls_failed_total",
        "Calls that ended without an answer (CDR written).",
        s.calls_failed,
    );
    counter(
        w,
        "tandem_calls_cut_total",
        "Answered calls tandem hung up at [sip].max_call_duration.",
        s.calls_cut,
    );
    counter(
        w,
        "tandem_calls_forbidden_total",
        "INVITEs refused with 403: no customer has the source address or a live binding from it.",
        s.forbidden,
    );
    head(
        w,
        "tandem_calls_ended_total",
        "counter",
        "Calls ended, by the final SIP code the caller got (200 = answered).",
    );
    for (code, n) in &m.final_codes {
        line(w, "tandem_calls_ended_total", &[("code", &code.to_string())], *n as f64);
    }
    gauge(w, "tandem_calls_active", "Calls up or being set up.", m.active_calls as f64);
    gauge(w, "tandem_cps", "New INVITEs per second, averaged over the last 5 complete seconds.", m.cps);
    counter(w, "tandem_vendor_attempts_total", "B-leg INVITEs sent to vendors.", s.attempts);
    counter(w, "tandem_failovers_total", "Attempts that went to a further gateway.", s.failovers);
}

fn gateways(w: &mut String, m: &Merged, g: &Gauges) {
    let none = (Outcomes::default(), Outcomes::default());
    let per = |name: &str| m.gateways.get(name).unwrap_or(&none);
    let each = |w: &mut String, metric: &str, f: &dyn Fn(&GatewayLive) -> Option<f64>| {
        for gw in &g.gateways {
            if let Some(v) = f(gw) {
                line(w, metric, &[("gateway", &gw.name)], v);
            }
        }
    };
    head(w, "tandem_gateway_online", "gauge", "1 when the OPTIONS check says online (always 1 when off).");
    each(w, "tandem_gateway_online", &|gw| Some(f64::from(u8::from(gw.online))));
    head(
        w,
        "tandem_gateway_options_checked",
        "gauge",
        "1 when the gateway has OPTIONS checks (options_ping > 0).",
    );
    each(w, "tandem_gateway_options_checked", &|gw| Some(f64::from(u8::from(gw.checked))));
    head(w, "tandem_gateway_calls", "gauge", "Current calls per vendor gateway.");
    each(w, "tandem_gateway_calls", &|gw| Some(f64::from(gw.calls)));
    head(w, "tandem_gateway_attempts_total", "counter", "B-leg INVITEs sent to the gateway.");
    each(w, "tandem_gateway_attempts_total", &|gw| Some(per(&gw.name).0.attempts as f64));
    head(w, "tandem_gateway_answered_total", "counter", "B-leg INVITEs the gateway answered.");
    each(w, "tandem_gateway_answered_total", &|gw| Some(per(&gw.name).0.answered as f64));
    head(
        w,
        "tandem_gateway_talk_seconds_total",
        "counter",
        "Talk time of ended calls answered by the gateway.",
    );
    each(w, "tandem_gateway_talk_seconds_total", &|gw| Some(per(&gw.name).0.duration_ms as f64 / 1000.0));
    // Each metric's samples stay together after its own HELP and TYPE (the
    // text format's rule; strict parsers refuse interleaved families).
    type Ratio = fn(&Outcomes) -> Option<f64>;
    let ratios: [(&str, &str, Ratio); 2] = [
        (
            "tandem_gateway_asr",
            "Answer-seizure ratio (0..1) since start and over the last 15 minutes; absent before the first attempt.",
            Outcomes::asr,
        ),
        (
            "tandem_gateway_acd_seconds",
            "Average call duration since start and over the last 15 minutes; absent before an answered call ends.",
            Outcomes::acd_s,
        ),
    ];
    for (name, help, value) in ratios {
        head(w, name, "gauge", help);
        for gw in &g.gateways {
            let (total, recent) = per(&gw.name);
            for (window, o) in [("start", total), ("15m", recent)] {
                if let Some(v) = value(o) {
                    line(w, name, &[("gateway", gw.name.as_str()), ("window", window)], v);
                }
            }
        }
    }
}

fn lrn(w: &mut String, m: &Merged) {
    let s = &m.stats;
    counter(
        w,
        "tandem_lrn_cache_hits_total",
        "LRN lookups answered by the shared-memory cache.",
        s.lrn_cache_hits,
    );
    counter(
        w,
        "tandem_lrn_cache_misses_total",
        "LRN lookups the cache could not answer.",
        s.lrn_cache_misses,
    );
    let lookups = s.lrn_cache_hits + s.lrn_cache_misses;
    if lookups > 0 {
        gauge(
            w,
            "tandem_lrn_cache_hit_ratio",
            "Cache hits / lookups since start.",
            s.lrn_cache_hits as f64 / lookups as f64,
        );
    }
    counter(w, "tandem_lrn_file_lookups_total", "Lookups in `file` LRN sources.", s.lrn_file_lookups);
    counter(w, "tandem_lrn_dips_total", "LRN dips sent (each source tried counts once).", s.lrn_dips);
    counter(
        w,
        "tandem_lrn_dips_shared_total",
        "Calls that joined a dip already in flight for their number.",
        s.lrn_dips_shared,
    );
    counter(w, "tandem_lrn_answers_total", "Dips answered (ported or not).", s.lrn_answers);
    head(
        w,
        "tandem_lrn_answers_by_kind_total",
        "counter",
        "Dips answered, by answer: ported (an LRN) or not_ported (npdi only).",
    );
    line(w, "tandem_lrn_answers_by_kind_total", &[("kind", "ported")], s.lrn_answers_ported as f64);
    let not_ported = s.lrn_answers.saturating_sub(s.lrn_answers_ported);
    line(w, "tandem_lrn_answers_by_kind_total", &[("kind", "not_ported")], not_ported as f64);
    counter(
        w,
        "tandem_lrn_fallbacks_total",
        "Lookups with no answer from any source (failed, silent or none to ask): routed on the dialed number.",
        s.lrn_fallbacks,
    );
}

fn registrations(w: &mut String, m: &Merged) {
    head(w, "tandem_upstream_registration", "gauge", "1 for the state each outbound registration is in.");
    for (gw, state) in &m.upstream_registrations {
        line(w, "tandem_upstream_registration", &[("gateway", gw), ("state", state)], 1.0);
    }
    gauge(
        w,
        "tandem_endpoint_bindings",
        "Live endpoint registrations (bindings).",
        m.endpoint_bindings as f64,
    );
    gauge(
        w,
        "tandem_endpoint_suspended_sources",
        "Source IPs refused for too many failed registrations.",
        m.suspended_sources as f64,
    );
    let r = &m.registrar;
    head(w, "tandem_endpoint_register_total", "counter", "Endpoint REGISTERs by outcome.");
    for (result, n) in [
        ("registered", r.registered),
        ("refreshed", r.refreshed),
        ("unregistered", r.unregistered),
        ("challenged", r.challenged),
        ("auth_failed", r.auth_failures),
        ("suspended", r.suspended_refusals),
        ("replaced", r.replaced),
        ("refused_active", r.refused_active),
        ("rate_limited", r.rate_limited),
        ("interval_too_brief", r.interval_too_brief),
    ] {
        line(w, "tandem_endpoint_register_total", &[("result", result)], n as f64);
    }
    counter(
        w,
        "tandem_endpoint_bindings_expired_total",
        "Endpoint bindings removed because they expired.",
        r.expired,
    );
}

fn engine(w: &mut String, m: &Merged, g: &Gauges) {
    let s = &m.stats;
    counter(w, "tandem_datagrams_total", "SIP datagrams handled.", s.datagrams);
    counter(
        w,
        "tandem_parse_errors_total",
        "Datagrams that did not parse or validate (400 or dropped).",
        s.parse_errors,
    );
    counter(
        w,
        "tandem_keepalives_total",
        "Keep-alive datagrams (CR, LF, spaces or NULs only), ignored.",
        s.keepalives,
    );
    counter(
        w,
        "tandem_stray_responses_total",
        "Responses matching no transaction (dropped).",
        s.stray_responses,
    );
    counter(w, "tandem_retransmissions_total", "Retransmissions absorbed.", s.retransmissions);
    counter(
        w,
        "tandem_oversized_total",
        "Messages built longer than one UDP datagram (65,507 bytes): not sent.",
        s.oversized,
    );
    counter(w, "tandem_options_sent_total", "OPTIONS online checks sent.", m.options_sent);
    counter(
        w,
        "tandem_options_timeouts_total",
        "OPTIONS online checks that went unanswered.",
        m.options_timeouts,
    );
    head(w, "tandem_handoffs_total", "counter", "Messages a shard handed to their owner shard.");
    for sh in &m.shards {
        line(w, "tandem_handoffs_total", &[("shard", &sh.shard.to_string())], sh.handoffs_out as f64);
    }
    head(
        w,
        "tandem_handoffs_dropped_total",
        "counter",
        "Handoffs dropped because the owner's queue was full.",
    );
    for sh in &m.shards {
        line(
            w,
            "tandem_handoffs_dropped_total",
            &[("shard", &sh.shard.to_string())],
            sh.handoffs_dropped as f64,
        );
    }
    head(w, "tandem_handoff_queue_depth", "gauge", "Messages waiting in a shard's handoff queue.");
    for (i, d) in g.queue_depth.iter().enumerate() {
        line(w, "tandem_handoff_queue_depth", &[("shard", &i.to_string())], *d as f64);
    }
    head(w, "tandem_send_queue_depth", "gauge", "Datagrams waiting for the socket (send buffer full).");
    for sh in &m.shards {
        line(w, "tandem_send_queue_depth", &[("shard", &sh.shard.to_string())], sh.send_pending as f64);
    }
}

fn head(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(w: &mut String, name: &str, help: &str, v: u64) {
    head(w, name, "counter", help);
    line(w, name, &[], v as f64);
}

fn gauge(w: &mut String, name: &str, help: &str, v: f64) {
    head(w, name, "gauge", help);
    line(w, name, &[], v);
}

fn line(w: &mut String, name: &str, labels: &[(&str, &str)], v: f64) {
    w.push_str(name);
    if !labels.is_empty() {
        w.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                w.push(',');
            }
            let _ = write!(w, "{k}=\"");
            escape(w, val);
            w.push('"');
        }
        w.push('}');
    }
    // The text format spells infinities +Inf/-Inf; -0 (an empty f64 sum) is 0.
    match v {
        f64::INFINITY => w.push_str(" +Inf\n"),
        f64::NEG_INFINITY => w.push_str(" -Inf\n"),
        0.0 => w.push_str(" 0\n"),
        v => {
            let _ = writeln!(w, " {v}");
        }
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(w: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => w.push_str("\\\\"),
            '"' => w.push_str("\\\""),
            '\n' => w.push_str("\\n"),
            c => w.push(c),
        }
    }
}

/// A summary from an hdrhistogram: p50/p90/p99/p99.9, sum and count, in seconds.
fn summary(w: &mut String, name: &str, help: &str, h: &Histogram<u64>, unit: f64) {
    head(w, name, "summary", help);
    for q in [0.5, 0.9, 0.99, 0.999] {
        let v = if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 * unit };
        line(w, name, &[("quantile", &q.to_string())], v);
    }
    let sum: f64 = h.iter_recorded().map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64).sum();
    line(w, &format!("{name}_sum"), &[], sum * unit);
    line(w, &format!("{name}_count"), &[], h.len() as f64);
}
