//! Operability over real sockets: the Prometheus endpoint under SIPp load,
//! the gateway OPTIONS online check, and the endpoint registrar.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the test is the network and the clock

mod common;
use common::*;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// SIPp's own final counters (`-trace_stat`): column name → value.
fn sipp_stats(path: &Path) -> HashMap<String, f64> {
    let text = std::fs::read_to_string(path).expect("SIPp statistics file");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().expect("header").split(';').collect();
    let last: Vec<&str> = lines.next_back().expect("a row").split(';').collect();
    header.iter().zip(last).filter_map(|(k, v)| Some(((*k).to_owned(), v.trim().parse().ok()?))).collect()
}

#[test]
fn metrics_match_sipp_counts_during_load() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start("metrics", "", &[v1]);
    let dir = workdir("metrics");
    let (status, body) = http_get(&sw.metrics_addr(), "/nothing");
    assert_eq!((status, body.is_empty()), (404, false));
    let callee = uas(&dir, &v1, 40, &[]);
    let stats = ["-trace_stat", "-fd", "1", "-stf"];
    let caller = uac(&dir, &sw, 40, &[&stats[..], &["ok.csv", "-d", "1000"]].concat());
    std::thread::sleep(Duration::from_millis(1500));
    let mid = sw.scrape();
    let offered_mid = metric(&mid, "tandem_calls_offered_total").expect("offered");
    assert!((1.0..=40.0).contains(&offered_mid), "{offered_mid}");
    assert!(metric(&mid, "tandem_calls_active").expect("active") > 0.0, "calls are up mid-load");
    assert!(metric(&mid, "tandem_cps").expect("cps") > 0.0);
    // Ten calls to a number the customer's deck does not rate: 404 from tandem.
    let port = free_port(CUSTOMER_IP).to_string();
    let target = sw.addr();
    let mut args = vec![target.as_str(), "-i", CUSTOMER_IP, "-p", &port, "-m", "10", "-r", "20"];
    args.extend(["-s", "442071234567", "-sn", "uac"]);
    args.extend(stats);
    args.push("nowhere.csv");
    let nowhere = sipp(&dir, &args);
    assert!(finish(caller).success());
    assert!(finish(callee).success());
    let _ = finish(nowhere);
    let ok = sipp_stats(&dir.join("ok.csv"));
    let refused = sipp_stats(&dir.join("nowhere.csv"));
    let end = sw.scrape();
    let m = |s: &str| metric(&end, s).unwrap_or_else(|| panic!("no {s} in\n{end}"));
    assert_eq!(ok["SuccessfulCall(C)"], 40.0);
    assert_eq!(m("tandem_calls_answered_total"), ok["SuccessfulCall(C)"]);
    assert_eq!(m("tandem_calls_ended_total{code=\"200\"}"), ok["SuccessfulCall(C)"]);
    assert_eq!(m("tandem_calls_offered_total"), ok["OutgoingCall(C)"] + refused["OutgoingCall(C)"]);
    assert_eq!(refused["FailedCall(C)"], 10.0);
    assert_eq!(m("tandem_calls_ended_total{code=\"404\"}"), refused["FailedCall(C)"]);
    assert_eq!(m("tandem_calls_failed_total"), refused["FailedCall(C)"]);
    assert_eq!(m("tandem_gateway_answered_total{gateway=\"v1\"}"), 40.0);
    assert_eq!(m("tandem_gateway_attempts_total{gateway=\"v1\"}"), 40.0);
    assert_eq!(m("tandem_gateway_asr{gateway=\"v1\",window=\"15m\"}"), 1.0);
    let acd = m("tandem_gateway_acd_seconds{gateway=\"v1\",window=\"start\"}");
    assert!((0.9..3.0).contains(&acd), "SIPp holds each call 1 s: ACD {acd}");
    assert_eq!(m("tandem_calls_active"), 0.0);
    assert_eq!(m("tandem_gateway_calls{gateway=\"v1\"}"), 0.0);
    assert!(m("tandem_routing_latency_seconds_count") >= 50.0);
    assert!(m("tandem_post_dial_delay_seconds_count") >= 40.0);
    assert_eq!(m("tandem_scrape_shards_answered"), 2.0);
    assert_eq!(m("tandem_gateway_online{gateway=\"v1\"}"), 1.0);
    let (status, _) = sw.stop();
    assert!(status.success());
}
