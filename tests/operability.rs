//! Operability over real sockets: the Prometheus endpoint under SIPp load,
//! the gateway OPTIONS online check, and the endpoint registrar.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the test is the network and the clock

mod common;
use common::*;
use std::collections::HashMap;
use std::net::UdpSocket;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// A vendor on raw UDP: answers OPTIONS with 200 while `answering`, every
/// INVITE with 486 (so a call ends at once), and records the INVITEs.
struct Responder {
    vendor: Vendor,
    answering: Arc<AtomicBool>,
    invites: Arc<AtomicUsize>,
    options: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Responder {
    fn start(ip: &'static str) -> Responder {
        let sock = UdpSocket::bind((ip, 0)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let vendor = Vendor { ip, port: sock.local_addr().expect("addr").port() };
        let r = Responder {
            vendor,
            answering: Arc::new(AtomicBool::new(true)),
            invites: Arc::default(),
            options: Arc::default(),
            stop: Arc::default(),
        };
        let (answering, invites, options, stop) =
            (r.answering.clone(), r.invites.clone(), r.options.clone(), r.stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_535];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if text.starts_with("OPTIONS ") {
                    options.fetch_add(1, Ordering::Relaxed);
                    if answering.load(Ordering::Relaxed) {
                        let _ = sock.send_to(reply_to(&text, "200 OK").as_bytes(), from);
                    }
                } else if text.starts_with("INVITE ") {
                    invites.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.send_to(reply_to(&text, "486 Busy Here").as_bytes(), from);
                }
            }
        });
        r
    }

    fn invites(&self) -> usize {
        self.invites.load(Ordering::Relaxed)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One call from the customer; returns the final status it got.
fn call_status(sw: &Switch, call_id: &str) -> u16 {
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    customer.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    customer.send_to(invite_text(&customer, call_id, "INVITE").as_bytes(), sw.addr()).expect("send");
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = customer.recv_from(&mut buf).expect("an answer within 5 s");
        let text = String::from_utf8_lossy(&buf[..n]);
        let status: u16 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status");
        if status >= 200 {
            return status;
        }
    }
}

/// Polls the log (bounded) for a line with every needle; returns how long it took.
fn wait_for_log(sw: &Switch, needles: &[&str], since: usize, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        let logs = sw.logs.lock().expect("logs");
        if logs.iter().skip(since).any(|l| needles.iter().all(|n| l.contains(n))) {
            return start.elapsed();
        }
        drop(logs);
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("no log line with {needles:?}: {:#?}", sw.logs.lock().expect("logs"));
}

#[test]
fn options_check_skips_a_silent_vendor_and_takes_it_back() {
    let (v1, v2) = (Responder::start("127.0.0.3"), Responder::start("127.0.0.4"));
    let extra = "options_ping = 1\noptions_timeout_ms = 300\n";
    let sw = Switch::start_with("options", "", &[v1.vendor, v2.vendor], extra, "");
    let end = Instant::now() + Duration::from_secs(5);
    while v1.options.load(Ordering::Relaxed) == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(v1.options.load(Ordering::Relaxed) > 0, "v1 gets OPTIONS");
    assert_eq!(call_status(&sw, "opt-1"), 486);
    assert_eq!((v1.invites(), v2.invites()), (1, 0), "v1 (priority 1) takes the first call");

    let logs_before = sw.logs.lock().expect("logs").len();
    v1.answering.store(false, Ordering::Relaxed);
    let took = wait_for_log(
        &sw,
        &["gateway state", "gateway=v1", "state=offline"],
        logs_before,
        Duration::from_secs(10),
    );
    eprintln!(
        "v1 marked offline {} ms after it stopped answering (period 1000 ms + timeout 300 ms)",
        took.as_millis()
    );
    let text = sw.scrape();
    assert_eq!(metric(&text, "tandem_gateway_online{gateway=\"v1\"}"), Some(0.0));
    assert!(metric(&text, "tandem_options_timeouts_total").expect("timeouts") >= 1.0);
    let route = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["route", "-c"])
        .arg(sw.dir.join("tandem.toml"))
        .args(["--from", CUSTOMER_IP, "12125551212"])
        .output()
        .expect("tandem route");
    let out = String::from_utf8_lossy(&route.stdout);
    assert!(out.contains("v1: offline"), "tandem route skips offline v1:\n{out}");
    assert!(out.contains("v1  offline  calls 0  ASR 0.0% (15m) 0.0% (start)"), "{out}");
    assert_eq!(call_status(&sw, "opt-2"), 486);
    assert_eq!((v1.invites(), v2.invites()), (1, 1), "offline v1 is skipped");

    let logs_before = sw.logs.lock().expect("logs").len();
    v1.answering.store(true, Ordering::Relaxed);
    wait_for_log(&sw, &["gateway state", "gateway=v1", "state=online"], logs_before, Duration::from_secs(10));
    assert_eq!(call_status(&sw, "opt-3"), 486);
    assert_eq!((v1.invites(), v2.invites()), (2, 1), "v1 is used again once it answers");
    let text = sw.scrape();
    assert_eq!(metric(&text, "tandem_gateway_online{gateway=\"v1\"}"), Some(1.0));
    let (status, _) = sw.stop();
    assert!(status.success());
}
