use super::*;

fn shard(id: u16) -> ShardMetrics {
    ShardMetrics {
        shard: id,
        core: CoreMetrics {
            stats: Stats::default(),
            final_codes: BTreeMap::new(),
            gateways: HashMap::new(),
            offered: PerSecond::default(),
            active_calls: 0,
            post_dial_delay_ms: histogram(3_600_000),
            dip_latency_ms: histogram(3_600_000),
            upstream_registrations: Vec::new(),
            registrar: Default::default(),
            endpoint_bindings: 0,
            suspended_sources: 0,
            options_sent: 0,
            options_timeouts: 0,
        },
        handoffs_out: 0,
        handoffs_dropped: 0,
        send_pending: 0,
        routing_latency_us: histogram(10_000_000),
    }
}

#[test]
fn window_keeps_only_recent_minutes() {
    let mut w = Window::default();
    w.at(1).attempts += 5;
    w.at(10).attempts += 2;
    w.at(20).attempts += 3;
    // At minute 20, a 15-minute window covers 6..=20.
    assert_eq!(w.sum(20, 15).attempts, 5);
    // Minute 17 reuses minute 1's bucket: the old count is gone, not summed.
    w.at(17).attempts += 1;
    assert_eq!(w.sum(20, 15).attempts, 6);
    assert_eq!(w.sum(40, 15).attempts, 0);
}

#[test]
fn per_second_rate_uses_complete_seconds() {
    let mut p = PerSecond::default();
    for s in 100..106 {
        for _ in 0..10 {
            p.record(s);
        }
    }
    // Seconds 101..=105 are complete at 106: 50 events / 5 s.
    assert_eq!(p.rate(106), 10.0);
    // The current second (106) is not counted yet.
    p.record(106);
    assert_eq!(p.rate(106), 10.0);
    assert_eq!(p.rate(200), 0.0);
}

#[test]
fn merge_adds_shards_and_computes_asr_acd() {
    let mut a = shard(0);
    let mut b = shard(1);
    a.core.stats.calls_offered = 7;
    b.core.stats.calls_offered = 5;
    a.core.final_codes.insert(200, 3);
    b.core.final_codes.insert(200, 1);
    b.core.final_codes.insert(486, 2);
    let gw = a.core.gateways.entry("v1".into()).or_default();
    for _ in 0..4 {
        gw.attempt(3);
    }
    gw.answer(3);
    gw.ended(4, 30_000);
    let gw = b.core.gateways.entry("v1".into()).or_default();
    gw.attempt(4);
    gw.attempt(4);
    gw.answer(4);
    gw.ended(5, 90_000);
    let m = merge(vec![a, b], 5, 0);
    assert_eq!(m.stats.calls_offered, 12);
    assert_eq!(m.final_codes.get(&200), Some(&4));
    assert_eq!(m.final_codes.get(&486), Some(&2));
    let (total, recent) = m.gateways["v1"];
    assert_eq!(total.attempts, 6);
    assert_eq!(total.asr(), Some(2.0 / 6.0));
    assert_eq!(total.acd_s(), Some(60.0));
    assert_eq!(recent, total);
    let text = render(
        &m,
        &Gauges {
            gateways: vec![GatewayLive { name: "v1".into(), online: false, checked: true, calls: 2 }],
            ..Gauges::default()
        },
    );
    assert!(text.contains("tandem_calls_offered_total 12\n"), "{text}");
    assert!(text.contains("tandem_calls_ended_total{code=\"486\"} 2\n"));
    assert!(text.contains("tandem_gateway_online{gateway=\"v1\"} 0\n"));
    assert!(text.contains("tandem_gateway_acd_seconds{gateway=\"v1\",window=\"15m\"} 60\n"));
    assert!(text.contains("tandem_gateway_asr{gateway=\"v1\",window=\"start\"} 0.333"));
}

/// The exposition format: each metric family is one group (its HELP, its
/// TYPE, then every sample of it), no name is declared twice, and numbers
/// are spelled as Prometheus reads them (no `-0` from an empty sum).
#[test]
fn every_family_is_one_group_and_numbers_parse() {
    let mut m = merge(vec![shard(0), shard(1)], 0, 0);
    for (name, attempts, answered) in [("v1", 3, 1), ("v2", 4, 4)] {
        let o = Outcomes { attempts, answered, ended: answered, duration_ms: 30_000 * answered };
        m.gateways.insert(name.into(), (o, o));
    }
    let gateways = ["v1", "v2"]
        .map(|name| GatewayLive { name: name.into(), online: true, checked: true, calls: 0 })
        .to_vec();
    let text = render(&m, &Gauges { gateways, ..Gauges::default() });
    let family = |sample: &str| {
        let name = sample.split(['{', ' ']).next().unwrap_or_default();
        ["_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name).to_owned()
    };
    let (mut declared, mut current) = (std::collections::HashSet::new(), String::new());
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            current = rest.split(' ').next().unwrap_or_default().to_owned();
            assert!(declared.insert(current.clone()), "{current} declared twice:\n{text}");
        } else if !l.starts_with('#') {
            let f = family(l);
            assert!(
                f == current || l.starts_with(&format!("{current}_")),
                "{l} outside {current}'s group:\n{text}"
            );
            let value = l.rsplit(' ').next().unwrap_or_default();
            assert!(!value.starts_with("-0") || value.parse::<f64>().is_ok_and(|v| v < 0.0), "{l}");
            assert!(value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value), "{l}");
        }
    }
    assert!(text.contains("tandem_gateway_asr{gateway=\"v2\",window=\"start\"} 1\n"), "{text}");
    assert!(text.contains("tandem_lrn_dip_latency_seconds_sum 0\n"), "{text}");
}

#[test]
fn label_values_are_escaped() {
    let m = merge(vec![shard(0)], 0, 0);
    let g = Gauges { customers: vec![("a\"b\\c\nd".into(), 1)], ..Gauges::default() };
    let text = render(&m, &g);
    assert!(text.contains("tandem_customer_calls{customer=\"a\\\"b\\\\c\\nd\"} 1\n"), "{text}");
}
