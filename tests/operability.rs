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
    // Mid-load (bounded wait): calls up, and a complete second of offers counted.
    let until = Instant::now() + Duration::from_secs(8);
    let mid = loop {
        let text = sw.scrape();
        let (cps, active) = (metric(&text, "tandem_cps"), metric(&text, "tandem_calls_active"));
        if cps.is_some_and(|c| c > 0.0) && active.is_some_and(|a| a > 0.0) || Instant::now() > until {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
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

/// One call from the customer (a fresh socket); the final status it got.
fn call_status(sw: &Switch, call_id: &str) -> u16 {
    Pbx::new(CUSTOMER_IP, call_id).call(sw, call_id)
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

/// A PBX on raw UDP that registers with digest auth (tandem's own digest
/// client code computes the answer; SIPp's is used in the SIPp test below).
struct Pbx {
    sock: UdpSocket,
    call_id: String,
    cseq: u32,
}

impl Pbx {
    fn new(ip: &str, call_id: &str) -> Pbx {
        let sock = UdpSocket::bind((ip, 0)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
        Pbx { sock, call_id: call_id.to_owned(), cseq: 0 }
    }

    fn request(&mut self, sw: &Switch, user: &str, expires: u32, auth: Option<&str>) -> String {
        self.cseq += 1;
        let me = self.sock.local_addr().expect("addr");
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let msg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{}-{}\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@127.0.0.1>;tag=pbx-{}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: {}\r\n\
             CSeq: {} REGISTER\r\nContact: <sip:{user}@{me}>\r\nExpires: {expires}\r\n{auth}Content-Length: 0\r\n\r\n",
            self.call_id, self.cseq, self.call_id, self.call_id, self.cseq
        );
        exchange(&self.sock, &sw.addr(), &msg)
    }

    /// REGISTER, answer the 401, and return the final status.
    fn register(&mut self, sw: &Switch, user: &str, password: &str, expires: u32) -> u16 {
        let first = self.request(sw, user, expires, None);
        if status_of(&first) != 401 {
            return status_of(&first);
        }
        let msg = tandem::sip::parse(first.as_bytes()).expect("the 401 parses");
        let auth =
            msg.auths(tandem::sip::HeaderName::WwwAuthenticate).next().expect("a challenge").expect("valid");
        let ch = tandem::register::digest::Challenge::parse(&auth).expect("a digest challenge");
        let req =
            tandem::register::digest::Request { method: "REGISTER", uri: "sip:127.0.0.1", user, password };
        let creds = tandem::register::digest::credentials(&ch, &req, 1, "0a4f113b");
        status_of(&self.request(sw, user, expires, Some(&creds)))
    }

    /// Sends an INVITE from this PBX's address; the final status (ACKed, so
    /// it is not retransmitted into the next call's answers).
    fn call(&self, sw: &Switch, call_id: &str) -> u16 {
        self.sock.send_to(invite_text(&self.sock, call_id, "INVITE").as_bytes(), sw.addr()).expect("send");
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("an answer within 3 s");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let status = status_of(&text);
            if status >= 200 && text.contains(&format!("Call-ID: {call_id}\r\n")) {
                let to = text.lines().find(|l| l.starts_with("To:")).unwrap_or("To: <sip:x@127.0.0.1>");
                let _ = self.sock.send_to(ack_text(&self.sock, call_id, to).as_bytes(), sw.addr());
                return status;
            }
        }
    }
}

fn status_of(text: &str) -> u16 {
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// A switch with a registering customer `pbx` (user pbx1 / secret1) and vendor `v`.
fn registrar_switch(name: &str, sip: &str, v: Vendor) -> Switch {
    let tail = "\n[[mapping_gateway]]\nname = \"pbx\"\nuser = \"pbx1\"\npassword = \"secret1\"\nrate_deck = \"cust.csv\"\n";
    Switch::start_with(name, sip, &[v], "", tail)
}

#[test]
fn a_pbx_registers_with_sipp_and_calls_by_its_binding() {
    let v1 = vendor("127.0.0.3");
    let sw = registrar_switch("reg-sipp", "", v1);
    let dir = workdir("reg-sipp");
    let stranger = Pbx::new("127.0.0.6", "before");
    assert_eq!(stranger.call(&sw, "unregistered-call"), 403, "no binding yet: 403");
    let callee = uas(&dir, &v1, 1, &[]);
    let port = free_port("127.0.0.6").to_string();
    let target = sw.addr();
    let pbx = sipp(
        &dir,
        &[
            &target,
            "-i",
            "127.0.0.6",
            "-p",
            &port,
            "-m",
            "1",
            "-s",
            "12125551212",
            "-au",
            "pbx1",
            "-ap",
            "secret1",
            "-sf",
            &scenario("uac_register_call.xml"),
        ],
    );
    assert!(finish(pbx).success(), "SIPp registered (digest) and its call went through");
    assert!(finish(callee).success());
    let text = sw.scrape();
    assert_eq!(metric(&text, "tandem_endpoint_bindings"), Some(1.0));
    assert_eq!(metric(&text, "tandem_endpoint_register_total{result=\"registered\"}"), Some(1.0));
    let (status, cdrs) = sw.stop();
    assert!(status.success());
    assert_eq!(cdrs.len(), 1);
    assert_eq!((cdrs[0][col("customer")].as_str(), cdrs[0][col("final_code")].as_str()), ("pbx", "200"));
}

#[test]
fn wrong_passwords_suspend_the_source_for_a_while() {
    let v1 = Responder::start("127.0.0.3");
    let sw = registrar_switch(
        "reg-suspend",
        "endpoint_register_retry = 3\nendpoint_register_suspend = 2",
        v1.vendor,
    );
    let mut pbx = Pbx::new("127.0.0.7", "suspend-1");
    assert_eq!(pbx.register(&sw, "pbx1", "wrong", 60), 401, "failure 1: a new challenge");
    assert_eq!(pbx.register(&sw, "pbx1", "wrong", 60), 401, "failure 2");
    assert_eq!(pbx.register(&sw, "pbx1", "wrong", 60), 403, "failure 3 reaches the retry count");
    assert_eq!(pbx.register(&sw, "pbx1", "secret1", 60), 403, "suspended: even the right password");
    let mut other = Pbx::new("127.0.0.8", "suspend-other");
    assert_eq!(other.register(&sw, "pbx1", "secret1", 60), 200, "another source is not suspended");
    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(pbx.register(&sw, "pbx1", "secret1", 60), 200, "after endpoint_register_suspend");
    let text = sw.scrape();
    assert_eq!(metric(&text, "tandem_endpoint_register_total{result=\"auth_failed\"}"), Some(3.0));
    assert_eq!(metric(&text, "tandem_endpoint_register_total{result=\"suspended\"}"), Some(1.0));
    let (status, _) = sw.stop();
    assert!(status.success());
}

#[test]
fn replace_off_refuses_a_second_device_replace_on_moves_the_binding() {
    let v1 = Responder::start("127.0.0.3");
    let sw = registrar_switch("reg-keep", "endpoint_register_replace = false", v1.vendor);
    let (mut a, mut b) = (Pbx::new("127.0.0.6", "dev-a"), Pbx::new("127.0.0.8", "dev-b"));
    assert_eq!(a.register(&sw, "pbx1", "secret1", 60), 200);
    assert_eq!(b.register(&sw, "pbx1", "secret1", 60), 403, "replace off: refused while A is bound");
    assert_eq!(a.register(&sw, "pbx1", "secret1", 60), 200, "A's refresh");
    assert_eq!(a.register(&sw, "pbx1", "secret1", 0), 200, "A unregisters");
    assert_eq!(b.register(&sw, "pbx1", "secret1", 60), 200, "now B may register");
    assert_eq!(a.call(&sw, "keep-a"), 403, "A's binding is gone");
    assert_eq!(b.call(&sw, "keep-b"), 486, "B's calls are routed (the vendor is busy)");
    drop(sw);

    let sw = registrar_switch("reg-replace", "endpoint_register_replace = true", v1.vendor);
    let (mut a, mut b) = (Pbx::new("127.0.0.6", "dev-a2"), Pbx::new("127.0.0.8", "dev-b2"));
    assert_eq!(a.register(&sw, "pbx1", "secret1", 60), 200);
    assert_eq!(a.call(&sw, "replace-a1"), 486);
    assert_eq!(b.register(&sw, "pbx1", "secret1", 60), 200, "replace on: B takes over");
    assert_eq!(a.call(&sw, "replace-a2"), 403, "A's binding was replaced");
    assert_eq!(b.call(&sw, "replace-b"), 486);
    assert_eq!(v1.invites(), 3);
    let text = sw.scrape();
    assert_eq!(metric(&text, "tandem_endpoint_register_total{result=\"replaced\"}"), Some(1.0));
}

#[test]
fn bindings_expire_and_short_expiries_get_423() {
    let v1 = Responder::start("127.0.0.3");
    let sw = registrar_switch("reg-expire", "endpoint_register_min_expires = 10", v1.vendor);
    let mut pbx = Pbx::new("127.0.0.6", "expire-1");
    assert_eq!(pbx.register(&sw, "pbx1", "secret1", 5), 423, "below Min-Expires");
    assert_eq!(pbx.register(&sw, "pbx1", "secret1", 10), 200);
    assert_eq!(pbx.call(&sw, "expire-call-1"), 486, "bound: routed");
    std::thread::sleep(Duration::from_millis(10_500));
    assert_eq!(pbx.call(&sw, "expire-call-2"), 403, "the binding expired");
    let text = sw.scrape();
    assert_eq!(metric(&text, "tandem_endpoint_bindings"), Some(0.0));
    assert_eq!(metric(&text, "tandem_endpoint_register_total{result=\"interval_too_brief\"}"), Some(1.0));
}

#[test]
fn a_register_flood_from_one_source_does_not_stop_other_calls() {
    let v1 = vendor("127.0.0.3");
    let sw = registrar_switch("reg-flood", "", v1);
    let dir = workdir("reg-flood");
    let callee = uas(&dir, &v1, 40, &[]);
    let caller = uac(&dir, &sw, 40, &["-d", "100"]);
    let flood = UdpSocket::bind("127.0.0.9:0").expect("bind");
    let me = flood.local_addr().expect("addr");
    let target = sw.addr();
    let mut sent = 0u32;
    // Bounded: 20 000 REGISTERs or 3 s, whichever comes first.
    let flooding = Instant::now();
    while sent < 20_000 && flooding.elapsed() < Duration::from_secs(3) {
        let msg = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-flood-{sent}\r\nMax-Forwards: 70\r\n\
             From: <sip:pbx1@127.0.0.1>;tag=f{sent}\r\nTo: <sip:pbx1@127.0.0.1>\r\nCall-ID: flood-{sent}\r\n\
             CSeq: 1 REGISTER\r\nContact: <sip:pbx1@{me}>\r\nAuthorization: Digest username=\"pbx1\", realm=\"127.0.0.1\", \
             nonce=\"x\", uri=\"sip:127.0.0.1\", response=\"00000000000000000000000000000000\"\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = flood.send_to(msg.as_bytes(), &target);
        sent += 1;
        if sent.is_multiple_of(20) {
            // About 4 000 a second: a flood 200 times the allowed rate that a debug
            // build still reads, so the kernel does not drop the customer's packets.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let flood_time = flooding.elapsed();
    assert!(finish(caller).success(), "every call from the customer went through during the flood");
    assert!(finish(callee).success());
    let text = sw.scrape();
    let limited =
        metric(&text, "tandem_endpoint_register_total{result=\"rate_limited\"}").expect("rate_limited");
    let challenged =
        metric(&text, "tandem_endpoint_register_total{result=\"challenged\"}").expect("challenged");
    assert!(challenged > 0.0, "the flood's REGISTERs within the rate were answered (401)");
    let handled: f64 = ["challenged", "auth_failed", "suspended"]
        .iter()
        .filter_map(|r| metric(&text, &format!("tandem_endpoint_register_total{{result=\"{r}\"}}")))
        .sum();
    eprintln!("flood: {sent} REGISTERs sent in {flood_time:?}; handled {handled}, rate-limited {limited}");
    assert!(limited > 0.0, "a flood is cut down to bounded work");
    // Per shard (2) and source: a burst of 40, then 20 a second (2 s of slack for the backlog).
    let bound = 2.0 * (40.0 + 20.0 * (flood_time.as_secs_f64() + 2.0));
    assert!(handled <= bound, "at most a burst plus 20/s per shard handled: {handled} > {bound}");
    let (status, _) = sw.stop();
    assert!(status.success());
}
