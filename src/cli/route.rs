//! `tandem route -c FILE --from IP [--lrn N] [--at RFC3339] [--json] NUMBER`:
//! one routing decision, explained.

use crate::routing::decide::{self, Decision, Live, Outcome, Priced, Request};
use crate::routing::money::Rate;
use crate::routing::snapshot::RoutingSnapshot;
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
    /// Customer rate.
    pub customer_rate: Option<RateJson>,
    /// Candidates in order.
    pub candidates: Vec<CandidateJson>,
    /// Gateways left out.
    pub skipped: Vec<SkippedJson>,
    /// Why there is no route, when there is none.
    pub error: Option<String>,
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
pub fn run(
    snap: &RoutingSnapshot,
    from: SocketAddr,
    number: &str,
    lrn: Option<&str>,
    now: i64,
) -> (Explained, u8) {
    let req = Request { source: from, number, lrn, now };
    let outcome = decide::decide(snap, &req, &Live::default());
    let cfg = &snap.config;
    let customer = |i: usize| Some(cfg.mapping_gateways[i].name.get_ref().clone());
    let empty = |customer, error: &str| Explained {
        customer,
        number: None,
        lrn: None,
        customer_rate: None,
        candidates: Vec::new(),
        skipped: Vec::new(),
        error: Some(error.to_owned()),
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
    RateJson { prefix: p.prefix.clone(), rate: p.tariff.rate.to_f64() }
}

fn explain(snap: &RoutingSnapshot, d: Decision, error: Option<&str>) -> Explained {
    let gw = |i: usize| snap.config.routing_gateways[i].name.get_ref().clone();
    Explained {
        customer: Some(snap.config.mapping_gateways[d.customer].name.get_ref().clone()),
        number: Some(d.number),
        lrn: d.lrn,
        customer_rate: d.customer_rate.as_ref().map(rate_json),
        candidates: d
            .candidates
            .iter()
            .map(|c| CandidateJson {
                gateway: gw(c.gateway),
                prefix: c.vendor_rate.as_ref().map(|p| p.prefix.clone()),
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
    }
}

/// The human-readable form.
pub fn text(e: &Explained) -> String {
    let mut s = String::new();
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(s, "customer:      {}", or_dash(&e.customer));
    let _ = writeln!(s, "number:        {}", or_dash(&e.number));
    let _ = writeln!(s, "lrn:           {}", or_dash(&e.lrn));
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
    s
}
