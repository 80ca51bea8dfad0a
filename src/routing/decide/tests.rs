use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const HEAD: &str = "prefix,rate,initial,increment\n";

/// Writes decks and a config into a fresh folder and loads the snapshot.
pub(crate) fn snapshot(cfg: &str, decks: &[(&str, &str)]) -> RoutingSnapshot {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tandem-decide-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, body) in decks {
        std::fs::write(dir.join(name), format!("{HEAD}{body}")).unwrap();
    }
    let path: PathBuf = dir.join("tandem.toml");
    std::fs::write(&path, cfg).unwrap();
    let snap = RoutingSnapshot::load(&path).unwrap_or_else(|e| panic!("{e:?}"));
    let _ = std::fs::remove_dir_all(&dir);
    snap
}

const CUSTOMER: &str = r#"
[[mapping_gateway]]
name = "cust"
addresses = ["192.0.2.10"]
rate_deck = "cust.csv"
"#;

fn vendor(name: &str, deck: &str, extra: &str) -> String {
    format!(
        "\n[[routing_gateway]]\nname = \"{name}\"\naddress = \"198.51.100.1:5060\"\nrate_deck = \"{deck}\"\n{extra}\n"
    )
}

fn req(number: &str) -> Request<'_> {
    Request { source: "192.0.2.10:5060".parse().unwrap(), number, lrn: None, now: 0, registered: None }
}

fn names(snap: &RoutingSnapshot, o: &Outcome) -> (Vec<String>, Vec<(String, String)>) {
    let d = match o {
        Outcome::Route(d) | Outcome::NoRoute(d) => d,
        other => panic!("no decision: {other:?}"),
    };
    let gw = |i: usize| snap.config.routing_gateways[i].name.get_ref().clone();
    (
        d.candidates.iter().map(|c| gw(c.gateway)).collect(),
        d.skipped.iter().map(|s| (gw(s.gateway), s.reason.to_string())).collect(),
    )
}

fn three_vendors(extra_cfg: &str) -> RoutingSnapshot {
    let cfg = format!(
        "{extra_cfg}{CUSTOMER}{}{}{}",
        vendor("a", "a.csv", "priority = 2"),
        vendor("b", "b.csv", "priority = 1"),
        vendor("c", "c.csv", "priority = 1")
    );
    snapshot(
        &cfg,
        &[
            ("cust.csv", "1,0.02,6,6\n"),
            ("a.csv", "1,0.005,6,6\n"),
            ("b.csv", "1,0.009,6,6\n"),
            ("c.csv", "1212,0.007,6,6\n"),
        ],
    )
}

#[test]
fn unknown_source_is_forbidden() {
    let snap = three_vendors("");
    let mut r = req("12125551212");
    r.source = "203.0.113.9:5060".parse().unwrap();
    assert_eq!(decide(&snap, &r, &Live::default()), Outcome::Forbidden);
}

/// A customer's `ip:port` wins over another customer's bare IP, wherever
/// either stands in the file; other ports of that IP go to the bare IP's owner.
#[test]
fn the_most_specific_address_picks_the_customer() {
    for (first, second) in
        [("\"192.0.2.10\"", "\"192.0.2.10:5070\""), ("\"192.0.2.10:5070\"", "\"192.0.2.10\"")]
    {
        let cfg = format!(
            "[[mapping_gateway]]\nname = \"one\"\naddresses = [{first}]\nrate_deck = \"cust.csv\"\n\n\
             [[mapping_gateway]]\nname = \"two\"\naddresses = [{second}]\nrate_deck = \"cust.csv\"\n{}",
            vendor("a", "a.csv", "")
        );
        let snap = snapshot(&cfg, &[("cust.csv", "1,0.02,6,6\n"), ("a.csv", "1,0.01,6,6\n")]);
        let customer = |port: u16| {
            let mut r = req("12125551212");
            r.source = SocketAddr::from(([192, 0, 2, 10], port));
            match decide(&snap, &r, &Live::default()) {
                Outcome::Route(d) => snap.config.mapping_gateways[d.customer].name.get_ref().clone(),
                other => panic!("{other:?}"),
            }
        };
        let exact = if first.contains(':') { "one" } else { "two" };
        let bare = if exact == "one" { "two" } else { "one" };
        assert_eq!(
            (customer(5070).as_str(), customer(5060).as_str()),
            (exact, bare),
            "{first} then {second}"
        );
    }
}

/// A dual-stack listener sees an IPv4 peer as `::ffff:a.b.c.d`: still the
/// customer that lists `a.b.c.d`. A plain IPv6 peer is not.
#[test]
fn an_ipv4_mapped_source_is_its_ipv4_address() {
    let snap = three_vendors("");
    let mut r = req("12125551212");
    r.source = "[::ffff:192.0.2.10]:5060".parse().unwrap();
    assert!(matches!(decide(&snap, &r, &Live::default()), Outcome::Route(_)));
    r.source = "[2001:db8::10]:5060".parse().unwrap();
    assert_eq!(decide(&snap, &r, &Live::default()), Outcome::Forbidden);
}

#[test]
fn priority_then_rate_and_lowest_rate_then_priority() {
    let snap = three_vendors("");
    let o = decide(&snap, &req("12125551212"), &Live::default());
    assert_eq!(names(&snap, &o).0, ["c", "b", "a"]);
    let snap = three_vendors("[routing]\nsort = \"lowest-rate\"\n");
    let o = decide(&snap, &req("12125551212"), &Live::default());
    assert_eq!(names(&snap, &o).0, ["a", "c", "b"]);
    // c has no rate for 1310...: skipped (check_rate defaults on).
    let o = decide(&snap, &req("13105551212"), &Live::default());
    assert_eq!(
        names(&snap, &o),
        (vec!["a".into(), "b".into()], vec![("c".into(), "no rate in the vendor deck".into())])
    );
}

#[test]
fn ties_break_by_name() {
    let cfg = format!("{CUSTOMER}{}{}", vendor("zeta", "v.csv", ""), vendor("alpha", "v.csv", ""));
    let snap = snapshot(&cfg, &[("cust.csv", "1,0.02,6,6\n"), ("v.csv", "1,0.01,6,6\n")]);
    assert_eq!(names(&snap, &decide(&snap, &req("1212"), &Live::default())).0, ["alpha", "zeta"]);
}

#[test]
fn checks_skip_with_reasons() {
    let cfg = format!(
        "{CUSTOMER}{}{}{}{}{}{}",
        vendor("prefix", "v.csv", "prefixes = [\"44\"]"),
        vendor("capped", "v.csv", "max_minute_rate = 0.009"),
        vendor("thin", "v.csv", "lowest_profit = 0.011"),
        vendor("full", "v.csv", "max_calls = 2"),
        vendor("down", "v.csv", ""),
        vendor("norate", "empty.csv", "check_rate = false"),
    );
    let snap = snapshot(
        &cfg,
        &[("cust.csv", "1,0.02,6,6\n"), ("v.csv", "1,0.01,6,6\n"), ("empty.csv", "9,1,6,6\n")],
    );
    let live = Live {
        gateway_calls: &[0, 0, 0, 2, 0, 0],
        gateway_online: &[true, true, true, true, false, true],
        customer_calls: &[],
    };
    let o = decide(&snap, &req("12125551212"), &live);
    let (cands, skipped) = names(&snap, &o);
    assert_eq!(cands, ["norate"]);
    let reasons: Vec<String> = skipped.iter().map(|(g, r)| format!("{g}: {r}")).collect();
    assert_eq!(
        reasons,
        [
            "prefix: number not in the gateway's prefixes",
            "capped: rate 0.01 above max_minute_rate 0.009",
            "thin: profit 0.01 below lowest_profit 0.011",
            "full: at capacity (2/2 calls)",
            "down: offline",
        ]
    );
    let Outcome::Route(d) = o else { panic!() };
    assert_eq!((d.candidates[0].vendor_rate.clone(), d.candidates[0].profit), (None, None));
}

#[test]
fn negative_lowest_profit_allows_a_loss() {
    let cfg = format!("{CUSTOMER}{}", vendor("loss", "v.csv", "lowest_profit = -0.002"));
    let snap = snapshot(&cfg, &[("cust.csv", "1,0.010,6,6\n"), ("v.csv", "1,0.011,6,6\n")]);
    let Outcome::Route(d) = decide(&snap, &req("1212"), &Live::default()) else { panic!() };
    assert_eq!(d.candidates[0].profit, Rate::parse("-0.001").ok());
    let cfg = format!("{CUSTOMER}{}", vendor("loss", "v.csv", "lowest_profit = -0.0005"));
    let snap = snapshot(&cfg, &[("cust.csv", "1,0.010,6,6\n"), ("v.csv", "1,0.011,6,6\n")]);
    assert!(matches!(decide(&snap, &req("1212"), &Live::default()), Outcome::NoRoute(_)));
}

#[test]
fn dial_plan_and_tech_prefix() {
    let cust = CUSTOMER.replace(
        "rate_deck = \"cust.csv\"",
        "rate_deck = \"cust.csv\"\nstrip_prefix = \"011\"\nadd_prefix = \"\"",
    );
    let cfg = format!("{cust}{}", vendor("v", "v.csv", "tech_prefix = \"7788#\""));
    let snap = snapshot(&cfg, &[("cust.csv", "44,0.02,6,6\n"), ("v.csv", "44,0.01,6,6\n")]);
    let Outcome::Route(d) = decide(&snap, &req("01144207946"), &Live::default()) else { panic!() };
    assert_eq!(d.number, "44207946");
    assert_eq!(b_number(&snap.config.routing_gateways[d.candidates[0].gateway], &d.number), "7788#44207946");
    assert_eq!(d.customer_rate.as_ref().map(|p| p.prefix.as_str()), Some("44"));
    assert!(matches!(decide(&snap, &req("+44-20-79"), &Live::default()), Outcome::Route(_)));
    assert_eq!(decide(&snap, &req("12ab"), &Live::default()), Outcome::BadNumber { customer: 0 });
}

#[test]
fn lrn_rates_lrn_gateways_and_customer_with_rate_by_lrn() {
    let lrn_src = "[[lrn.source]]\nname = \"dip\"\nkind = \"sip-redirect\"\naddress = \"127.0.0.1:5999\"\n";
    let cust = CUSTOMER.replace("rate_deck = \"cust.csv\"", "rate_deck = \"cust.csv\"\nrate_by_lrn = true");
    let cfg =
        format!("{lrn_src}{cust}{}{}", vendor("lrn", "v.csv", "lrn = \"dip\""), vendor("plain", "v.csv", ""));
    let decks =
        [("cust.csv", "1212,0.02,6,6\n1310,0.03,6,6\n"), ("v.csv", "1212,0.01,6,6\n1310,0.015,6,6\n")];
    let snap = snapshot(&cfg, &decks);
    let mut r = req("12125551212");
    r.lrn = Some("3105550000");
    let Outcome::Route(d) = decide(&snap, &r, &Live::default()) else { panic!() };
    assert_eq!(d.lrn.as_deref(), Some("13105550000"));
    assert_eq!(d.customer_rate.as_ref().map(|p| p.prefix.as_str()), Some("1310"));
    let by = |name: &str| {
        d.candidates.iter().find(|c| snap.config.routing_gateways[c.gateway].name.get_ref() == name).unwrap()
    };
    assert_eq!(by("lrn").vendor_rate.as_ref().map(|p| p.prefix.as_str()), Some("1310"));
    assert!(by("lrn").rated_on_lrn);
    assert_eq!(by("plain").vendor_rate.as_ref().map(|p| p.prefix.as_str()), Some("1212"));
    assert_eq!(by("lrn").profit, Rate::parse("0.015").ok());
}

#[test]
fn switch_limit_and_customer_limits() {
    let snap = three_vendors("[sip]\ngateway_switch_limit = 2\n");
    let o = decide(&snap, &req("12125551212"), &Live::default());
    let (cands, skipped) = names(&snap, &o);
    assert_eq!(cands, ["c", "b"]);
    assert_eq!(skipped, [("a".into(), "beyond gateway_switch_limit".into())]);
    let cfg =
        format!("{}{}", CUSTOMER.replace("rate_deck", "max_calls = 1\nrate_deck"), vendor("v", "v.csv", ""));
    let snap = snapshot(&cfg, &[("cust.csv", "1,0.02,6,6\n"), ("v.csv", "1,0.01,6,6\n")]);
    let live = Live { customer_calls: &[1], ..Live::default() };
    assert_eq!(decide(&snap, &req("1212"), &live), Outcome::CustomerLimit { customer: 0 });
}

#[test]
fn no_customer_rate_and_no_route() {
    let snap = three_vendors("");
    assert!(matches!(decide(&snap, &req("44207946"), &Live::default()), Outcome::NoCustomerRate(_)));
    let cfg = format!("{CUSTOMER}{}", vendor("v", "v.csv", ""));
    let snap = snapshot(&cfg, &[("cust.csv", "4,0.02,6,6\n"), ("v.csv", "1,0.01,6,6\n")]);
    let o = decide(&snap, &req("44207946"), &Live::default());
    assert_eq!(names(&snap, &o).1, [("v".into(), "no rate in the vendor deck".into())]);
}

#[test]
fn effective_dates_apply_at_decision_time() {
    let cfg = format!("{CUSTOMER}{}", vendor("v", "v.csv", ""));
    let dir = std::env::temp_dir().join(format!("tandem-eff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cust.csv"), "prefix,rate,initial,increment\n1,0.02,6,6\n").unwrap();
    std::fs::write(dir.join("v.csv"), "prefix,rate,initial,increment,effective\n1,0.01,6,6,2026-12-01\n")
        .unwrap();
    std::fs::write(dir.join("t.toml"), cfg).unwrap();
    let snap = RoutingSnapshot::load(&dir.join("t.toml")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut r = req("1212");
    r.now = crate::routing::effective::parse("2026-11-24").unwrap();
    assert!(matches!(decide(&snap, &r, &Live::default()), Outcome::NoRoute(_)));
    r.now = crate::routing::effective::parse("2026-12-01").unwrap();
    assert!(matches!(decide(&snap, &r, &Live::default()), Outcome::Route(_)));
}
