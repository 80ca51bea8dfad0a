//! `tandem route -c FILE --from IP [--lrn N] [--at RFC3339] [--json] NUMBER`:
//! one routing decision, explained.

use super::live::{GatewayLive, LiveState};
use crate::call::build::{Local, ack_for};
use crate::config::LrnKind;
use crate::lrn::cache::{Answer, LrnCache};
use crate::lrn::dip;
use crate::routing::decide::{self, Decision, Live, Outcome, Priced, Request};
use crate::routing::money::Rate;
use crate::routing::snapshot::RoutingSnapshot;
use crate::sip;
use serde::Serialize;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Exit status: at least one candidate.
pub const EXIT_ROUTE: u8 = 0;
/// Exit status: no route (no rate, no gateway passed, or a bad number).
pub const EXIT_NO_ROUTE: u8 = 3;
/// Exit status: the source is not a customer.
pub const EXIT_FORBIDDEN: u8 = 4;

/// The JSON form (stable: add fields, never rename).
#[derive(Debug, Serialize)]
pub struct Explained {
    /// Customer name.
    pub customer: Option<String>,
    /// Number after the dial plan.
    pub number: Option<String>,
    /// LRN used.
    pub lrn: Option<String>,
    /// Where the LRN answer came from: `given` (--lrn), `cache`, `dip:<name>`,
    /// `file`, `fallback` (the lookup failed) or `none` (no lookup needed).
    pub lrn_source: String,
    /// Customer rate.
    pub customer_rate: Option<RateJson>,
    /// Candidates in order.
    pub candidates: Vec<CandidateJson>,
    /// Gateways left out.
    pub skipped: Vec<SkippedJson>,
    /// Why there is no route, when there is none.
    pub error: Option<String>,
    /// Where live gateway state was read (the switch's metrics endpoint);
    /// `None` when the switch did not answer: then every gateway counts as
    /// online and idle.
    pub live: Option<String>,
    /// Every routing gateway's live state (online, calls, ASR, ACD), in config order.
    pub gateways: Vec<GatewayLive>,
}

/// A rate in JSON.
#[derive(Debug, Serialize)]
pub struct RateJson {
    /// Matched prefix.
    pub prefix: String,
    /// Rate per minute.
    pub rate: f64,
}

/// A candidate in JSON.
#[derive(Debug, Serialize)]
pub struct CandidateJson {
    /// Gateway name.
    pub gateway: String,
    /// Matched vendor prefix.
    pub prefix: Option<String>,
    /// Vendor rate.
    pub rate: Option<f64>,
    /// Customer rate − vendor rate.
    pub profit: Option<f64>,
    /// Priority.
    pub priority: u32,
}

/// A skipped gateway in JSON.
#[derive(Debug, Serialize)]
pub struct SkippedJson {
    /// Gateway name.
    pub gateway: String,
    /// Why.
    pub reason: String,
}

/// Decides and explains; returns the explanation and the exit status.
/// Without `lrn`, looks the number up as the switch would (cache, file,
/// or a live dip). `live` is the running switch's state (`(address, state)`),
/// so offline and busy gateways are skipped as the switch would skip them.
pub fn run(
    snap: &RoutingSnapshot,
    from: SocketAddr,
    number: &str,
    lrn: Option<&str>,
    now: i64,
    live: Option<(String, LiveState)>,
) -> (Explained, u8) {
    let (lrn_live, lrn_source) = match lrn {
        Some(l) => (Some(l.to_owned()), "given".to_owned()),
        None => live_lrn(snap, from, number, now),
    };
    let req = Request { source: from, number, lrn: lrn_live.as_deref(), now, registered: None };
    let cfg = &snap.config;
    let state = live.as_ref().map(|(_, s)| s);
    let gateways: Vec<GatewayLive> = cfg
        .routing_gateways
        .iter()
        .map(|g| {
            let name = g.name.get_ref();
            let known = state.and_then(|s| s.gateways.get(name)).cloned();
            known.unwrap_or(GatewayLive { gateway: name.clone(), online: true, ..Default::default() })
        })
        .collect();
    let online: Vec<bool> = gateways.iter().map(|g| g.online).collect();
    let calls: Vec<u32> = gateways.iter().map(|g| g.calls).collect();
    let customer_calls: Vec<u32> = cfg
        .mapping_gateways
        .iter()
        .map(|c| state.and_then(|s| s.customers.get(c.name.get_ref()).copied()).unwrap_or(0))
        .collect();
    let live_view = Live { gateway_calls: &calls, gateway_online: &online, customer_calls: &customer_calls };
    let outcome = decide::decide(snap, &req, &live_view);
    let (mut explained, code) = explain_outcome(snap, outcome);
    explained.lrn_source = lrn_source;
    if let Some((addr, _)) = live {
        explained.live = Some(addr);
        explained.gateways = gateways;
    }
    (explained, code)
}

/// The LRN lookup the switch would make for this call.
fn live_lrn(snap: &RoutingSnapshot, from: SocketAddr, number: &str, now: i64) -> (Option<String>, String) {
    let req = Request { source: from, number, lrn: None, now, registered: None };
    let first = decide::decide(snap, &req, &Live::default());
    let normalized = match &first {
        Outcome::Route(d) | Outcome::NoRoute(d) | Outcome::NoCustomerRate(d) => d.number.clone(),
        _ => return (None, "none".into()),
    };
    let Some((tn, sources)) = crate::call::lrn::lrn_plan(snap, &normalized, &first) else {
        return (None, "none".into());
    };
    let cfg = &snap.config;
    let now_s = now.clamp(0, i64::from(u32::MAX)) as u32;
    if let Ok(cache) = LrnCache::open_existing(&cfg.resolve(&cfg.lrn.cache))
        && let Some(a) = cache.get(tn, now_s)
    {
        return (ported(a), "cache".into());
    }
    // The gateway's sources in order, as the switch tries them: the first answer wins.
    for src in sources.iter().filter_map(|&i| cfg.lrn.source.get(i)) {
        match (src.kind.get_ref(), src.address) {
            (LrnKind::File, _) => {
                if let Some(f) = snap.lrn_files.get(src.name.get_ref()) {
                    return (ported(f.get(tn).map_or(Answer::NotPorted, Answer::Ported)), "file".into());
                }
            }
            (LrnKind::SipRedirect, Some(addr)) => {
                if let Some(a) = blocking_dip(addr, tn, src.timeout_ms) {
                    return (ported(a), format!("dip:{}", src.name.get_ref()));
                }
            }
            (LrnKind::SipRedirect, None) => {}
        }
    }
    (None, "fallback".into())
}

fn ported(a: Answer) -> Option<String> {
    match a {
        Answer::Ported(l) => Some(l.to_string()),
        Answer::NotPorted => None,
    }
}

/// One dip from the command line: the same INVITE the switch sends, the
/// 302 read the same way and ACKed; `None` on failure or after `timeout_ms`.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // an operator tool: its own socket and clock
fn blocking_dip(server: SocketAddr, tn: u64, timeout_ms: u32) -> Option<Answer> {
    use std::time::{Duration, Instant};
    let any: SocketAddr =
        if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = std::net::UdpSocket::bind(any).ok()?;
    sock.connect(server).ok()?;
    let me = sock.local_addr().ok()?;
    let local = Local { host: me.ip().to_string(), port: me.port() };
    let call_id = format!("route-{tn}-{}@{}", std::process::id(), local.host);
    let request =
        dip::request(&local, &server.to_string(), tn, &call_id, "route", &format!("z9hG4bKroute{tn}"));
    sock.send(&request).ok()?;
    let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms));
    let mut buf = vec![0u8; 65_535];
    loop {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
        sock.set_read_timeout(Some(left)).ok()?;
        let n = sock.recv(&mut buf).ok()?;
        let Ok(msg) = sip::parse(&buf[..n]) else { continue };
        if msg.call_id().ok() != Some(call_id.as_str()) || msg.status().is_none_or(|s| s < 200) {
            continue;
        }
        let to = msg.header(sip::HeaderName::To).map_or(&b""[..], |h| h.value);
        if msg.status().is_some_and(|s| s >= 300) {
            let _ = sock.send(&ack_for(&request, to));
        }
        return dip::answer(&msg);
    }
}

fn explain_outcome(snap: &RoutingSnapshot, outcome: Outcome) -> (Explained, u8) {
    let cfg = &snap.config;
    let customer = |i: usize| Some(cfg.mapping_gateways[i].name.get_ref().clone());
    let empty = |customer, error: &str| Explained {
        customer,
        number: None,
        lrn: None,
        lrn_source: String::new(),
        customer_rate: None,
        candidates: Vec::new(),
        skipped: Vec::new(),
        error: Some(error.to_owned()),
        live: None,
        gateways: Vec::new(),
    };
    match outcome {
        Outcome::Forbidden => (empty(None, "forbidden: no customer has this source address"), EXIT_FORBIDDEN),
        Outcome::BadNumber { customer: c } => {
            (empty(customer(c), "the number is not digits after the dial plan"), EXIT_NO_ROUTE)
        }
        Outcome::CustomerLimit { customer: c } => {
            (empty(customer(c), "customer at max_calls"), EXIT_NO_ROUTE)
        }
        Outcome::NoCustomerRate(d) => (explain(snap, d, Some("no rate in the customer deck")), EXIT_NO_ROUTE),
        Outcome::NoRoute(d) => (explain(snap, d, Some("no route: every gateway was skipped")), EXIT_NO_ROUTE),
        Outcome::Route(d) => (explain(snap, d, None), EXIT_ROUTE),
    }
}

fn rate_json(p: &Priced) -> RateJson {
    RateJson { prefix: p.prefix.to_string(), rate: p.tariff.rate.to_f64() }
}

fn explain(snap: &RoutingSnapshot, d: Decision, error: Option<&str>) -> Explained {
    let gw = |i: usize| snap.config.routing_gateways[i].name.get_ref().clone();
    Explained {
        customer: Some(snap.config.mapping_gateways[d.customer].name.get_ref().clone()),
        number: Some(d.number),
        lrn: d.lrn,
        lrn_source: String::new(),
        customer_rate: d.customer_rate.as_ref().map(rate_json),
        candidates: d
            .candidates
            .iter()
            .map(|c| CandidateJson {
                gateway: gw(c.gateway),
                prefix: c.vendor_rate.as_ref().map(|p| p.prefix.to_string()),
                rate: c.vendor_rate.as_ref().map(|p| p.tariff.rate.to_f64()),
                profit: c.profit.map(Rate::to_f64),
                priority: c.priority,
            })
            .collect(),
        skipped: d
            .skipped
            .iter()
            .map(|s| SkippedJson { gateway: gw(s.gateway), reason: s.reason.to_string() })
            .collect(),
        error: error.map(str::to_owned),
        live: None,
        gateways: Vec::new(),
    }
}

/// The human-readable form.
pub fn text(e: &Explained) -> String {
    let mut s = String::new();
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(s, "customer:      {}", or_dash(&e.customer));
    let _ = writeln!(s, "number:        {}", or_dash(&e.number));
    let _ = writeln!(s, "lrn:           {} ({})", or_dash(&e.lrn), e.lrn_source);
    let rate = e.customer_rate.as_ref().map(|r| format!("{} (prefix {})", r.rate, r.prefix));
    let _ = writeln!(s, "customer rate: {}", or_dash(&rate));
    if !e.candidates.is_empty() {
        let _ = writeln!(s, "candidates:");
    }
    for (i, c) in e.candidates.iter().enumerate() {
        let num = |v: Option<f64>| v.map_or("-".to_owned(), |x| x.to_string());
        let _ = writeln!(
            s,
            "  {}. {}  prefix {}  rate {}  profit {}  priority {}",
            i + 1,
            c.gateway,
            or_dash(&c.prefix),
            num(c.rate),
            num(c.profit),
            c.priority
        );
    }
    if !e.skipped.is_empty() {
        let _ = writeln!(s, "skipped:");
    }
    for k in &e.skipped {
        let _ = writeln!(s, "  {}: {}", k.gateway, k.reason);
    }
    if let Some(err) = &e.error {
        let _ = writeln!(s, "{err}");
    }
    match &e.live {
        Some(addr) => {
            let _ = writeln!(s, "gateways (live from {addr}):");
            for g in &e.gateways {
                let pct = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{:.1}%", x * 100.0));
                let secs = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.1}s"));
                let _ = writeln!(
                    s,
                    "  {}  {}  calls {}  ASR {} (15m) {} (start)  ACD {} (15m) {} (start)",
                    g.gateway,
                    if g.online { "online" } else { "offline" },
                    g.calls,
                    pct(g.asr_15m),
                    pct(g.asr_start),
                    secs(g.acd_15m_s),
                    secs(g.acd_start_s)
                );
            }
        }
        None => {
            let _ = writeln!(
                s,
                "live state: the switch's metrics endpoint did not answer; gateways taken as online"
            );
        }
    }
    s
}
