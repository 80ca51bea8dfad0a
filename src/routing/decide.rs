//! The routing decision (SPEC.md §1–§2): pure, with `now` and the live
//! counts passed in. Customer by source address → dial plan → customer rate
//! → per-vendor checks → order → switch limit → B-leg numbers.

use super::deck::{MAX_PREFIX, Tariff};
use super::money::Rate;
use super::snapshot::RoutingSnapshot;
use crate::config::{RoutingGateway, Sort};
use std::fmt;
use std::net::SocketAddr;

/// What the decision needs from a call.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Where the INVITE came from.
    pub source: SocketAddr,
    /// The dialed number (Request-URI user part).
    pub number: &'a str,
    /// The number's LRN, when a dip found one.
    pub lrn: Option<&'a str>,
    /// Decision time, Unix seconds.
    pub now: i64,
    /// The customer user whose live registration came from `source`, when
    /// no customer lists the address (the endpoint registrar).
    pub registered: Option<&'a str>,
}

/// Live state the engine passes in; missing entries read as 0 calls / online.
#[derive(Clone, Copy, Debug, Default)]
pub struct Live<'a> {
    /// Current calls per routing gateway, in config order.
    pub gateway_calls: &'a [u32],
    /// Online state per routing gateway (OPTIONS check).
    pub gateway_online: &'a [bool],
    /// Current calls per customer.
    pub customer_calls: &'a [u32],
}

/// A rate found in a deck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Priced {
    /// The matched prefix.
    pub prefix: Prefix,
    /// The tariff row.
    pub tariff: Tariff,
}

/// A matched deck prefix, held inline: a decision prices every vendor, and
/// one allocation per vendor per call is what it would otherwise cost.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    len: u8,
    digits: [u8; MAX_PREFIX],
}

impl Prefix {
    /// `digits` cut at [`MAX_PREFIX`] bytes (a deck refuses longer prefixes),
    /// and at a character boundary.
    pub fn new(digits: &str) -> Prefix {
        let mut len = digits.len().min(MAX_PREFIX);
        while !digits.is_char_boundary(len) {
            len -= 1;
        }
        let mut p = Prefix { len: len as u8, digits: [0; MAX_PREFIX] };
        p.digits[..len].copy_from_slice(&digits.as_bytes()[..len]);
        p
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::ops::Deref for Prefix {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A gateway to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Index of the routing gateway in the config.
    pub gateway: usize,
    /// The vendor rate, when its deck has one (`check_rate = false` may try without).
    pub vendor_rate: Option<Priced>,
    /// Customer rate − vendor rate, when both are known.
    pub profit: Option<Rate>,
    /// The gateway's priority.
    pub priority: u32,
    /// Whether the vendor was rated on the LRN.
    pub rated_on_lrn: bool,
}

/// Why a gateway was not a candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The number matches none of the gateway's `prefixes`.
    PrefixNotAllowed,
    /// `check_rate` and the vendor deck has no rate.
    NoRate,
    /// The vendor rate is above `max_minute_rate`.
    AboveMaxRate {
        /// Vendor rate.
        rate: Rate,
        /// The cap.
        max: Rate,
    },
    /// The profit is below `lowest_profit`.
    BelowLowestProfit {
        /// Customer rate − vendor rate.
        profit: Rate,
        /// The floor.
        floor: Rate,
    },
    /// `max_calls` reached.
    AtCapacity {
        /// Current calls.
        calls: u32,
        /// The limit.
        max: u32,
    },
    /// The OPTIONS check says offline.
    Offline,
    /// Beyond `gateway_switch_limit`.
    SwitchLimit,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::PrefixNotAllowed => write!(f, "number not in the gateway's prefixes"),
            Skip::NoRate => write!(f, "no rate in the vendor deck"),
            Skip::AboveMaxRate { rate, max } => write!(f, "rate {rate} above max_minute_rate {max}"),
            Skip::BelowLowestProfit { profit, floor } => {
                write!(f, "profit {profit} below lowest_profit {floor}")
            }
            Skip::AtCapacity { calls, max } => write!(f, "at capacity ({calls}/{max} calls)"),
            Skip::Offline => write!(f, "offline"),
            Skip::SwitchLimit => write!(f, "beyond gateway_switch_limit"),
        }
    }
}

/// A gateway left out, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Index of the routing gateway in the config.
    pub gateway: usize,
    /// Why.
    pub reason: Skip,
}

/// The decision for a known customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Index of the mapping gateway in the config.
    pub customer: usize,
    /// The number after the dial plan.
    pub number: String,
    /// The LRN used, if any.
    pub lrn: Option<String>,
    /// The customer's rate (on the LRN with `rate_by_lrn`).
    pub customer_rate: Option<Priced>,
    /// Gateways to try, in order.
    pub candidates: Vec<Candidate>,
    /// Gateways left out.
    pub skipped: Vec<Skipped>,
}

/// The outcome of [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No customer has this source address (403).
    Forbidden,
    /// The customer is at its `max_calls` (503).
    CustomerLimit {
        /// Index of the mapping gateway.
        customer: usize,
    },
    /// The dialed number has characters other than digits after the dial plan (484).
    BadNumber {
        /// Index of the mapping gateway.
        customer: usize,
    },
    /// The customer's deck does not rate the number (404): tandem cannot bill it.
    NoCustomerRate(Decision),
    /// No gateway passed the checks (404); `skipped` says why.
    NoRoute(Decision),
    /// At least one candidate.
    Route(Decision),
}

/// Decides where a call goes.
pub fn decide(snap: &RoutingSnapshot, req: &Request<'_>, live: &Live<'_>) -> Outcome {
    let cfg = &snap.config;
    let by_address = || snap.sources.customer(req.source);
    let by_binding = || {
        let user = req.registered?;
        cfg.mapping_gateways.iter().position(|c| c.user.as_ref().is_some_and(|u| u.get_ref() == user))
    };
    let Some(customer) = by_address().or_else(by_binding) else {
        return Outcome::Forbidden;
    };
    let cust = &cfg.mapping_gateways[customer];
    let calls = live.customer_calls.get(customer).copied().unwrap_or(0);
    if cust.max_calls > 0 && calls >= cust.max_calls {
        return Outcome::CustomerLimit { customer };
    }
    let Some(number) = normalize(req.number, &cust.strip_prefix, &cust.add_prefix) else {
        return Outcome::BadNumber { customer };
    };
    let lrn = req.lrn.and_then(normalize_lrn);
    let rate_key = if cust.rate_by_lrn { lrn.as_deref().unwrap_or(&number) } else { &number };
    let customer_rate = price(snap.customer_deck(customer).lookup(rate_key, req.now), rate_key);
    let gateways = cfg.routing_gateways.len();
    let (candidates, skipped) = (Vec::with_capacity(gateways), Vec::new());
    let mut d = Decision { customer, number, lrn, customer_rate, candidates, skipped };
    if d.customer_rate.is_none() {
        return Outcome::NoCustomerRate(d);
    }
    for (i, gw) in cfg.routing_gateways.iter().enumerate() {
        match check_gateway(snap, i, gw, &d, req.now, live) {
            Ok(c) => d.candidates.push(c),
            Err(reason) => d.skipped.push(Skipped { gateway: i, reason }),
        }
    }
    order(&mut d.candidates, cfg.routing.sort, &snap.gateway_name_rank);
    let limit = cfg.sip.gateway_switch_limit as usize;
    if limit > 0 && d.candidates.len() > limit {
        let cut = d.candidates.split_off(limit);
        d.skipped.extend(cut.into_iter().map(|c| Skipped { gateway: c.gateway, reason: Skip::SwitchLimit }));
    }
    if d.candidates.is_empty() { Outcome::NoRoute(d) } else { Outcome::Route(d) }
}

/// E.164 `+`, RFC 3966 visual separators and spaces dropped, then the dial plan;
/// `None` unless only digits remain.
pub fn normalize(raw: &str, strip: &str, add: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, '+' | '-' | '.' | '(' | ')' | ' ')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = digits.strip_prefix(strip).unwrap_or(&digits);
    Some(format!("{add}{rest}"))
}

/// An LRN in the decks' form: digits, and a 10-digit NANP LRN gets the
/// country code `1` that dialed US numbers carry.
pub fn normalize_lrn(raw: &str) -> Option<String> {
    let digits = normalize(raw, "", "")?;
    Some(if digits.len() == 10 { format!("1{digits}") } else { digits })
}

fn price(found: Option<(usize, &Tariff)>, key: &str) -> Option<Priced> {
    found.map(|(len, t)| Priced { prefix: Prefix::new(&key[..len]), tariff: *t })
}

fn check_gateway(
    snap: &RoutingSnapshot,
    i: usize,
    gw: &RoutingGateway,
    d: &Decision,
    now: i64,
    live: &Live<'_>,
) -> Result<Candidate, Skip> {
    if !gw.prefixes.is_empty() && !gw.prefixes.iter().any(|p| d.number.starts_with(p.as_str())) {
        return Err(Skip::PrefixNotAllowed);
    }
    let on_lrn = gw.lrn.is_some() && d.lrn.is_some();
    let key = if on_lrn { d.lrn.as_deref().unwrap_or(&d.number) } else { &d.number };
    let vendor_rate = price(snap.gateway_deck(i).lookup(key, now), key);
    let rate = vendor_rate.as_ref().map(|p| p.tariff.rate);
    if rate.is_none() && gw.check_rate {
        return Err(Skip::NoRate);
    }
    if let (Some(rate), Some(max)) = (rate, gw.max_minute_rate)
        && rate > max
    {
        return Err(Skip::AboveMaxRate { rate, max });
    }
    let profit = match (&d.customer_rate, rate) {
        (Some(c), Some(v)) => Some(c.tariff.rate - v),
        _ => None,
    };
    if let (Some(profit), Some(floor)) = (profit, gw.lowest_profit)
        && profit < floor
    {
        return Err(Skip::BelowLowestProfit { profit, floor });
    }
    let calls = live.gateway_calls.get(i).copied().unwrap_or(0);
    if gw.max_calls > 0 && calls >= gw.max_calls {
        return Err(Skip::AtCapacity { calls, max: gw.max_calls });
    }
    if !live.gateway_online.get(i).copied().unwrap_or(true) {
        return Err(Skip::Offline);
    }
    Ok(Candidate { gateway: i, vendor_rate, profit, priority: gw.priority, rated_on_lrn: on_lrn })
}

/// The B-leg user part for a gateway: its tech prefix, then the number.
pub fn b_number(gw: &RoutingGateway, number: &str) -> String {
    [gw.tech_prefix.as_str(), number].concat()
}

/// `priority` then lowest rate, or `lowest-rate` then priority; ties by
/// name. An unknown rate (check_rate off) sorts after every known rate.
/// Names are unique, so the order is total: sorted by integer keys (names by
/// their rank, worked out with the snapshot), hundreds of vendors per call.
fn order(c: &mut [Candidate], sort: Sort, name_rank: &[u32]) {
    let rate = |c: &Candidate| c.vendor_rate.as_ref().map_or(i64::MAX, |p| p.tariff.rate.0);
    let rank = |c: &Candidate| name_rank.get(c.gateway).copied().unwrap_or(u32::MAX);
    // The keys are worked out once and sorted with the candidates' places,
    // then the candidates move once: cheaper than comparing and moving them.
    match sort {
        Sort::Priority => c.sort_by_cached_key(|c| (c.priority, rate(c), rank(c))),
        Sort::LowestRate => c.sort_by_cached_key(|c| (rate(c), c.priority, rank(c))),
    }
}

#[cfg(test)]
mod tests;
