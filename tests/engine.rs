//! `tandem run` as a user runs it, with SIPp (Debian's sip-tester) as the
//! customer and the vendors over real UDP on loopback: 127.0.0.1 is tandem,
//! 127.0.0.2 the customer, 127.0.0.3-.5 the vendors.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the test is the network and the clock

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::*;

#[test]
fn basic_calls_sipp_to_sipp_with_cdrs() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start("basic", "", &[v1]);
    sipp_calls(&sw, &v1, "basic", 10, &["-d", "200"]);
    let (status, cdrs) = sw.stop();
    assert!(status.success(), "tandem exit {status}");
    assert_eq!(cdrs.len(), 10, "one CDR per call");
    for r in &cdrs {
        assert_eq!(
            (r[col("final_code")].as_str(), r[col("hangup")].as_str(), r[col("gateway")].as_str()),
            ("200", "caller", "v1")
        );
        assert_eq!(r[col("customer")], "cust");
        assert!(r[col("b_call_id")].starts_with("tdm"));
    }
}

#[test]
fn failover_silent_then_503_then_answer() {
    let silent = UdpSocket::bind(("127.0.0.3", 0)).expect("bind");
    silent.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let v1 = Vendor { ip: "127.0.0.3", port: silent.local_addr().expect("addr").port() };
    let (v2, v3) = (vendor("127.0.0.4"), vendor("127.0.0.5"));
    let sw = Switch::start("failover", "invite_timeout = 1", &[v1, v2, v3]);
    let dir = workdir("failover");
    let refuser = uas(&dir, &v2, 1, &["-sf", &scenario("uas_503.xml")]);
    let answerer = uas(&dir, &v3, 1, &[]);
    let caller = uac(&dir, &sw, 1, &["-d", "100"]);
    assert!(finish(caller).success(), "the call must succeed on the third vendor");
    assert!(finish(refuser).success());
    assert!(finish(answerer).success());
    let mut buf = [0u8; 4096];
    let (n, _) = silent.recv_from(&mut buf).expect("the silent vendor got the INVITE first");
    assert!(buf[..n].starts_with(b"INVITE "));
    let (_, cdrs) = sw.stop();
    assert_eq!(cdrs.len(), 1);
    assert_eq!(cdrs[0][col("gateways_tried")], "v1|v2|v3");
    assert_eq!(cdrs[0][col("gateway")], "v3");
    assert_eq!(cdrs[0][col("final_code")], "200");
}

#[test]
fn busy_ends_the_hunt() {
    let spare = UdpSocket::bind(("127.0.0.4", 0)).expect("bind");
    spare.set_read_timeout(Some(Duration::from_millis(300))).expect("timeout");
    let v1 = vendor("127.0.0.3");
    let v2 = Vendor { ip: "127.0.0.4", port: spare.local_addr().expect("addr").port() };
    let sw = Switch::start("busy", "", &[v1, v2]);
    let dir = workdir("busy");
    let busy = uas(&dir, &v1, 1, &["-sf", &scenario("uas_486.xml")]);
    let caller = uac(&dir, &sw, 1, &[]);
    assert!(!finish(caller).success(), "the caller gets 486, not 200");
    assert!(finish(busy).success());
    let mut buf = [0u8; 4096];
    assert!(spare.recv_from(&mut buf).is_err(), "the second vendor must not be tried after a busy");
    let (_, cdrs) = sw.stop();
    assert_eq!((cdrs[0][col("final_code")].as_str(), cdrs[0][col("hangup")].as_str()), ("486", "callee"));
}

#[test]
fn caller_cancels_while_ringing() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start("cancel", "", &[v1]);
    let dir = workdir("cancel");
    let callee = uas(&dir, &v1, 3, &["-sf", &scenario("uas_ring_cancel.xml")]);
    let caller = uac(&dir, &sw, 3, &["-sf", &scenario("uac_cancel.xml")]);
    assert!(finish(caller).success(), "caller: 200 to CANCEL and 487");
    assert!(finish(callee).success(), "callee: CANCEL arrives and is answered");
    let (_, cdrs) = sw.stop();
    assert_eq!(cdrs.len(), 3);
    assert!(cdrs.iter().all(|r| r[col("final_code")] == "487" && r[col("hangup")] == "caller"));
}

#[test]
fn callee_hangs_up() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start("calleebye", "", &[v1]);
    let dir = workdir("calleebye");
    let callee = uas(&dir, &v1, 3, &["-sf", &scenario("uas_hangup.xml")]);
    let caller = uac(&dir, &sw, 3, &["-sf", &scenario("uac_callee_hangs_up.xml")]);
    assert!(finish(caller).success());
    assert!(finish(callee).success());
    let (_, cdrs) = sw.stop();
    assert_eq!(cdrs.len(), 3);
    assert!(cdrs.iter().all(|r| r[col("hangup")] == "callee" && r[col("final_code")] == "200"));
}

#[test]
fn calls_are_hung_up_on_both_legs_at_max_call_duration() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start("maxdur", "max_call_duration = 1", &[v1]);
    let dir = workdir("maxdur");
    // The vendor waits for a BYE (SIPp's own uas); so does the caller.
    let callee = uas(&dir, &v1, 3, &[]);
    let caller = uac(&dir, &sw, 3, &["-sf", &scenario("uac_callee_hangs_up.xml")]);
    assert!(finish(caller).success(), "the caller got no BYE");
    assert!(finish(callee).success(), "the vendor got no BYE");
    let (_, cdrs) = sw.stop();
    assert_eq!(cdrs.len(), 3);
    for r in &cdrs {
        let got = (r[col("final_code")].as_str(), r[col("hangup")].as_str(), r[col("duration_s")].as_str());
        assert_eq!(got, ("200", "system", "1"), "{r:?}");
    }
}

#[test]
fn refusals_on_the_wire() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start("refuse", "", &[v1]);
    let stranger = UdpSocket::bind("127.0.0.9:0").expect("bind");
    let rsp = exchange(&stranger, &sw.addr(), &invite_text(&stranger, "stranger-1", "INVITE"));
    assert!(rsp.starts_with("SIP/2.0 403 "), "{rsp}");
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    let rsp = exchange(&customer, &sw.addr(), &invite_text(&customer, "bad-1", "BYE"));
    assert!(rsp.starts_with("SIP/2.0 400 CSeq Method Mismatch"), "{rsp}");
    let (status, cdrs) = sw.stop();
    assert!(status.success());
    assert!(cdrs.is_empty());
}

/// Each thread of `pid`: its name and the fields of its `/proc/PID/task/TID/stat`
/// after the name (field 3, the state, first).
fn threads(pid: u32) -> Vec<(String, Vec<String>)> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .map(|t| {
            let t = t.expect("task").path();
            let name = std::fs::read_to_string(t.join("comm")).expect("comm").trim().to_owned();
            let stat = std::fs::read_to_string(t.join("stat")).expect("stat");
            let fields = stat.rsplit_once(") ").expect("stat").1.split(' ').map(str::to_owned).collect();
            (name, fields)
        })
        .collect()
}

/// Waits (bounded) until every thread of `pid` is stopped: SIGSTOP takes
/// effect asynchronously, and a thread still running could read a datagram.
fn wait_stopped(pid: u32) {
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        if threads(pid).iter().all(|(_, fields)| matches!(fields[0].as_str(), "T" | "t")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("tandem did not stop within 3 s");
}

/// What a new call's INVITE causes leaves before the rest of its batch is
/// handled: the shard is stopped while INVITE X, 30 slow OPTIONS (100 Vias
/// each, every one parsed) and INVITE Y queue up, so that it reads them in one
/// batch when it resumes. Y waits for the OPTIONS either way; X's vendor
/// INVITE must not (its `invite latency` is the run's p50, Y's the max).
#[test]
fn a_new_calls_invite_leaves_before_the_rest_of_its_batch() {
    let vendor_sock = UdpSocket::bind(("127.0.0.3", 0)).expect("bind");
    vendor_sock.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let v1 = Vendor { ip: "127.0.0.3", port: vendor_sock.local_addr().expect("addr").port() };
    let sw = Switch::start_full("early-invite", "shards = 1", "", &[v1], "", "");
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    customer.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    // The OPTIONS' answers go to a socket of their own, never read.
    let pinger = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    let me = pinger.local_addr().expect("addr");
    let vias: String = (0..99)
        .map(|h| format!("Via: SIP/2.0/UDP 10.0.{}.{}:5060;branch=z9hG4bK-hop{h}\r\n", h / 250, h % 250 + 1))
        .collect();
    sw.signal(libc::SIGSTOP);
    wait_stopped(sw.child.id());
    customer.send_to(invite_text(&customer, "early-x", "INVITE").as_bytes(), sw.addr()).expect("INVITE X");
    for k in 0..30 {
        let options = format!(
            "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-opt{k}\r\n{vias}Max-Forwards: 70\r\n\
             From: <sip:ping@{me}>;tag=o{k}\r\nTo: <sip:127.0.0.1>\r\nCall-ID: early-opt-{k}\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        pinger.send_to(options.as_bytes(), sw.addr()).expect("OPTIONS");
    }
    customer.send_to(invite_text(&customer, "early-y", "INVITE").as_bytes(), sw.addr()).expect("INVITE Y");
    sw.signal(libc::SIGCONT);
    for _ in 0..2 {
        let (invite, from) = recv_starting(&vendor_sock, "INVITE ");
        vendor_sock.send_to(reply_to(&invite, "486 Busy Here").as_bytes(), from).expect("486");
    }
    for _ in 0..2 {
        let (busy, _) = recv_starting(&customer, "SIP/2.0 486");
        let call_id = header(&busy, "Call-ID:").to_owned();
        let to = busy.lines().find(|l| l.starts_with("To:")).expect("To").to_owned();
        customer.send_to(ack_text(&customer, &call_id, &to).as_bytes(), sw.addr()).expect("ACK");
    }
    let logs = Arc::clone(&sw.logs);
    let (status, cdrs) = sw.stop();
    assert!(status.success());
    assert_eq!(cdrs.len(), 2, "{cdrs:?}");
    let (p50, max) = invite_latency(&logs);
    // Y waited for 30 slow datagrams (milliseconds in a debug build); X did not.
    assert!(max >= 1_000 && p50 * 4 <= max, "INVITE X {p50} µs, INVITE Y {max} µs");
}

/// The p50 and max (µs) of the `invite latency` line tandem logs when it stops.
fn invite_latency(logs: &Mutex<Vec<String>>) -> (u64, u64) {
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        let line = logs.lock().expect("logs").iter().find(|l| l.contains(" invite latency count=")).cloned();
        if let Some(line) = line {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(name))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {name} in {line}"))
            };
            return (field("p50_us="), field("max_us="));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no invite latency line: {:#?}", logs.lock().expect("logs"));
}

#[test]
fn topology_is_hidden_on_the_wire() {
    let vendor_sock = UdpSocket::bind(("127.0.0.3", 0)).expect("bind");
    vendor_sock.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    let v1 = Vendor { ip: "127.0.0.3", port: vendor_sock.local_addr().expect("addr").port() };
    let sw = Switch::start("topology", "", &[v1]);
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    customer.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    customer.send_to(invite_text(&customer, "hidden-call-1", "INVITE").as_bytes(), sw.addr()).expect("send");
    let mut buf = vec![0u8; 65_535];
    let (n, tandem_addr) = vendor_sock.recv_from(&mut buf).expect("B-leg INVITE");
    let b_invite = String::from_utf8_lossy(&buf[..n]).into_owned();
    let headers = b_invite.split("\r\n\r\n").next().unwrap_or_default();
    for secret in ["127.0.0.2", "hidden-call-1", "caller-tag", "Secret Caller", "z9hG4bK-hidden"] {
        assert!(!headers.contains(secret), "B-leg headers leak {secret}: {headers}");
    }
    let b_bytes = buf[..n].to_vec();
    let msg = tandem::sip::parse(&b_bytes).expect("parse");
    let mut out = bytes::BytesMut::new();
    tandem::sip::response_to(&mut out, &msg, 200, "OK", Some("vendor-tag-xyz"))
        .header("Contact", &format!("<sip:gw@{}>", vendor_sock.local_addr().expect("addr")))
        .header("Content-Type", "application/sdp")
        .body(b"v=0\r\no=- 2 2 IN IP4 127.0.0.3\r\ns=-\r\nc=IN IP4 127.0.0.3\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n");
    vendor_sock.send_to(&out, tandem_addr).expect("send 200");
    let answer = loop {
        let (n, _) = customer.recv_from(&mut buf).expect("answer to the caller");
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            break text;
        }
    };
    let headers = answer.split("\r\n\r\n").next().unwrap_or_default();
    let b_call_id = msg.call_id().expect("call-id");
    for secret in ["127.0.0.3", "vendor-tag-xyz", b_call_id, "gw@"] {
        assert!(!headers.contains(secret), "A-leg headers leak {secret}: {headers}");
    }
    drop(sw);
}

/// `calls` SIPp calls through one vendor (caller options `uac_args`), a
/// SIGTERM once they are up, `during` while they drain; then the calls must
/// finish normally and tandem exit 0. Returns the CDRs.
fn drain_with_calls(
    name: &str,
    calls: u32,
    uac_args: &[&str],
    during: impl FnOnce(&Switch),
) -> Vec<Vec<String>> {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start(name, "shutdown_deadline = 10", &[v1]);
    let dir = workdir(name);
    let callee = uas(&dir, &v1, calls, &[]);
    let caller = uac(&dir, &sw, calls, uac_args);
    std::thread::sleep(Duration::from_millis(800)); // the calls are up
    sw.signal(libc::SIGTERM);
    sw.wait_log("shutting down", Duration::from_secs(5));
    during(&sw);
    assert!(finish(caller).success(), "calls in progress finish normally");
    assert!(finish(callee).success());
    let (status, cdrs) = sw.stop_after_signal();
    assert!(status.success(), "exit {status}");
    cdrs
}

#[test]
fn graceful_shutdown_lets_calls_finish_and_loses_no_cdr() {
    let cdrs = drain_with_calls("shutdown", 5, &["-d", "2000", "-r", "50"], |sw| {
        // New calls are refused with 503 while the old ones finish.
        let late = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
        let rsp = exchange(&late, &sw.addr(), &invite_text(&late, "late-1", "INVITE"));
        assert!(rsp.starts_with("SIP/2.0 503"), "{rsp}");
    });
    assert_eq!(cdrs.len(), 5, "every call has its CDR");
    assert!(cdrs.iter().all(|r| r[col("hangup")] == "caller"));
}

/// One call up on one shard while the switch drains: the other shard has
/// nothing of its own to finish, and must still answer what reaches it (new
/// INVITEs hashed or steered to it) until the last call ends.
#[test]
fn every_shard_answers_while_any_shard_drains() {
    let cdrs = drain_with_calls("drain-all", 1, &["-d", "3000"], |sw| {
        std::thread::sleep(Duration::from_millis(300)); // an idle shard would be gone by now
        let late = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
        for i in 0..16 {
            // Distinct Call-IDs spread over both shards.
            let rsp = exchange(&late, &sw.addr(), &invite_text(&late, &format!("drain-late-{i}"), "INVITE"));
            assert!(rsp.starts_with("SIP/2.0 503"), "late INVITE {i}: {rsp}");
        }
    });
    assert_eq!(cdrs.len(), 1, "the call has its CDR (refusals during the drain have none)");
}

#[test]
fn sighup_reloads_decks_and_a_bad_deck_keeps_the_old_routing() {
    let s1 = UdpSocket::bind(("127.0.0.3", 0)).expect("bind");
    let s2 = UdpSocket::bind(("127.0.0.4", 0)).expect("bind");
    let v1 = Vendor { ip: "127.0.0.3", port: s1.local_addr().expect("addr").port() };
    let v2 = Vendor { ip: "127.0.0.4", port: s2.local_addr().expect("addr").port() };
    let sw = Switch::start("reload", "invite_timeout = 60", &[v1, v2]);
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    customer.send_to(invite_text(&customer, "reload-1", "INVITE").as_bytes(), sw.addr()).expect("send");
    assert!(invite_at(&s1).is_some(), "before the reload v1 (priority 1) gets the call");
    // v1's deck loses the route: after SIGHUP new calls go to v2.
    std::fs::write(sw.dir.join("v1.csv"), "prefix,rate,initial,increment\n44,0.01,6,6\n").expect("deck");
    let cfg = std::fs::read_to_string(sw.dir.join("tandem.toml")).expect("config");
    let cfg = cfg.replacen("rate_deck = \"v.csv\"", "rate_deck = \"v1.csv\"", 1);
    std::fs::write(sw.dir.join("tandem.toml"), cfg).expect("config");
    sw.signal(libc::SIGHUP);
    sw.wait_log("reloaded", Duration::from_secs(5));
    customer.send_to(invite_text(&customer, "reload-2", "INVITE").as_bytes(), sw.addr()).expect("send");
    assert!(invite_at(&s2).is_some(), "after the reload v2 gets the call");
    // A broken deck: the reload is refused, named, and the routing stays.
    std::fs::write(sw.dir.join("v1.csv"), "prefix,rate,initial,increment\n1,abc,6,6\n").expect("deck");
    sw.signal(libc::SIGHUP);
    sw.wait_log("reload refused", Duration::from_secs(5));
    assert!(
        sw.logs.lock().expect("logs").iter().any(|l| l.contains("v1.csv:2: rate")),
        "the error names file, line, column"
    );
    customer.send_to(invite_text(&customer, "reload-3", "INVITE").as_bytes(), sw.addr()).expect("send");
    assert!(invite_at(&s2).is_some(), "the old routing stays in service");
}

/// An LRN server on loopback: 302 with `rn` for …1212, `npdi` only for …1313,
/// 404 for …1414, silence for …1515. Counts the dips it answered.
fn lrn_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>, Arc<std::sync::atomic::AtomicBool>) {
    let sock = UdpSocket::bind("127.0.0.6:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let addr = sock.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (log, halt) = (Arc::clone(&seen), Arc::clone(&stop));
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_535];
        while !halt.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else { continue };
            let Ok(msg) = tandem::sip::parse(&buf[..n]) else { continue };
            if msg.method() != Some(tandem::sip::Method::Invite) {
                continue; // the ACK for our 302/404
            }
            let ruri = msg.request_uri().map(|u| u.raw.to_owned()).unwrap_or_default();
            log.lock().expect("log").push(ruri.clone());
            let user = ruri.trim_start_matches("sip:").split('@').next().unwrap_or_default().to_owned();
            let (status, contact) = match &user[user.len().saturating_sub(4)..] {
                "1212" => (302, format!("<sip:{user};rn=+13105550000;npdi@lrn.test;user=phone>")),
                "1313" => (302, format!("<sip:{user};npdi@lrn.test;user=phone>")),
                "1414" => (404, String::new()),
                _ => continue,
            };
            let mut out = bytes::BytesMut::new();
            let b = tandem::sip::response_to(&mut out, &msg, status, "X", Some("lrn"));
            if contact.is_empty() {
                b.finish()
            } else {
                b.header("Contact", &contact).finish()
            }
            let _ = sock.send_to(&out, peer);
        }
    });
    (addr, seen, stop)
}

fn call_to(sw: &Switch, number: &str, call_id: &str) {
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    let text = invite_text(&customer, call_id, "INVITE").replace("12125551212", number);
    customer.send_to(text.as_bytes(), sw.addr()).expect("send");
    std::mem::forget(customer); // keep the port bound so tandem's answers are not ICMP-refused
}

#[test]
fn lrn_dips_route_on_the_lrn_fall_back_on_failure_and_the_cache_survives_a_restart() {
    let (lrn_addr, dips, stop) = lrn_server();
    let v1 = UdpSocket::bind(("127.0.0.3", 0)).expect("bind");
    let vend = Vendor { ip: "127.0.0.3", port: v1.local_addr().expect("addr").port() };
    let cache = std::env::temp_dir().join(format!("tandem-engine-lrn-cache-{}", std::process::id()));
    let _ = std::fs::remove_file(&cache);
    let tail = format!(
        "\n[lrn]\ncache = \"{}\"\ncache_slots = 4096\n\n[[lrn.source]]\nname = \"dip\"\nkind = \"sip-redirect\"\naddress = \"{lrn_addr}\"\ntimeout_ms = 250\n",
        cache.display()
    );
    let sw = Switch::start_with("lrn", "invite_timeout = 30", &[vend], "lrn = \"dip\"", &tail);
    call_to(&sw, "12125551212", "lrn-ported");
    let b = invite_for(&v1, "12125551212").expect("B-leg INVITE");
    assert!(b.starts_with("INVITE sip:12125551212;rn=+13105550000;npdi@127.0.0.3:"), "{b}");
    call_to(&sw, "12125551313", "lrn-npdi");
    assert!(invite_for(&v1, "12125551313").expect("B-leg").starts_with("INVITE sip:12125551313;npdi@"));
    call_to(&sw, "12125551414", "lrn-404");
    assert!(
        invite_for(&v1, "12125551414").expect("B-leg").starts_with("INVITE sip:12125551414@"),
        "404: routed on the dialed number"
    );
    let t0 = Instant::now();
    call_to(&sw, "12125551515", "lrn-silent");
    assert!(
        invite_for(&v1, "12125551515").expect("B-leg").starts_with("INVITE sip:12125551515@"),
        "silence: routed on the dialed number"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(250 + 500),
        "a silent dip costs about timeout_ms (the exact bound is in the core tests)"
    );
    call_to(&sw, "12125551212", "lrn-cached");
    assert!(invite_for(&v1, "12125551212").expect("B-leg").contains(";rn=+13105550000;npdi@"));
    let before = dips.lock().expect("dips").len();
    assert_eq!(before, 4, "the repeat call hit the cache: {:?}", dips.lock().expect("dips"));
    let (status, cdrs) = sw.stop();
    assert!(status.success());
    let source_of =
        |id: &str| cdrs.iter().find(|r| r[col("a_call_id")] == id).map(|r| r[col("lrn_source")].clone());
    assert_eq!(source_of("lrn-ported").as_deref(), Some("dip:dip"));
    assert_eq!(source_of("lrn-404").as_deref(), Some("fallback"));
    assert_eq!(source_of("lrn-silent").as_deref(), Some("fallback"));
    assert_eq!(source_of("lrn-cached").as_deref(), Some("cache"));
    // Restart on the same cache file: no dip for a cached number.
    let sw = Switch::start_with("lrn2", "invite_timeout = 30", &[vend], "lrn = \"dip\"", &tail);
    sw.wait_log("warm=true", Duration::from_secs(2));
    call_to(&sw, "12125551212", "lrn-after-restart");
    assert!(invite_for(&v1, "12125551212").expect("B-leg").contains(";rn=+13105550000;npdi@"));
    assert_eq!(dips.lock().expect("dips").len(), before, "no dip after the restart");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(sw);
    let _ = std::fs::remove_file(&cache);
}

#[test]
fn registers_with_digest_and_unregisters_on_shutdown_through_a_challenge() {
    let port = free_port("127.0.0.8");
    let dir = workdir("registrar");
    let registrar = sipp(
        &dir,
        &[
            "-sf",
            &scenario("registrar_challenge.xml"),
            "-i",
            "127.0.0.8",
            "-p",
            &port.to_string(),
            "-m",
            "1",
            "-trace_err",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let v1 = vendor("127.0.0.3");
    let reg = format!(
        "\n[routing_gateway.register]\nproxy = \"127.0.0.8:{port}\"\ndomain = \"carrier.test\"\nuser = \"acct1001\"\npassword = \"secret\"\nperiod = 60\n"
    );
    let sw = Switch::start_with("register", "", &[v1], &reg, "");
    sw.wait_log("registered gateway=v1 expires_s=60", Duration::from_secs(10));
    let logs = Arc::clone(&sw.logs);
    let (status, _) = sw.stop();
    assert!(status.success(), "exit {status}");
    assert!(
        logs.lock().expect("logs").iter().any(|l| l.contains("unregistered gateway=v1")),
        "{:#?}",
        logs.lock().expect("logs")
    );
    assert!(
        finish(registrar).success(),
        "the registrar saw a valid unregister, answered after its challenge"
    );
}

/// A SIPp registrar on 127.0.0.8 running `file`, and tandem registering to it.
fn registrar_run(name: &str, file: &str, sip: &str, period: &str) -> (Switch, Child) {
    let port = free_port("127.0.0.8");
    let dir = workdir(name);
    let registrar = Command::new("sipp")
        .args(["-nostdin", "-timeout", "60s", "-timeout_error", "-sf", &scenario(file), "-i", "127.0.0.8"])
        .args(["-p", &port.to_string(), "-m", "1", "-trace_err"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp");
    std::thread::sleep(Duration::from_millis(300));
    let reg = format!(
        "\n[routing_gateway.register]\nproxy = \"127.0.0.8:{port}\"\ndomain = \"carrier.test\"\nuser = \"acct1001\"\npassword = \"secret\"\nperiod = {period}\n"
    );
    (Switch::start_with(name, sip, &[vendor("127.0.0.3")], &reg, ""), registrar)
}

#[test]
fn proxy_challenge_and_min_expires_on_the_wire() {
    let (sw, registrar) = registrar_run("reg407", "registrar_407_423.xml", "", "60");
    sw.wait_log("registered gateway=v1 expires_s=120", Duration::from_secs(10));
    assert!(finish(registrar).success(), "407 answered with Proxy-Authorization, then Expires: 120");
}

#[test]
fn a_refused_registration_waits_the_retry_delay() {
    let (sw, registrar) =
        registrar_run("reg403", "registrar_403_then_200.xml", "user_agent_retry_delay = 30", "\"auto\"");
    sw.wait_log("registration failed gateway=v1", Duration::from_secs(5));
    let failed_at = Instant::now();
    sw.wait_log("registered gateway=v1 expires_s=3600", Duration::from_secs(40));
    let waited = failed_at.elapsed();
    assert!(waited >= Duration::from_secs(29), "retried after {waited:?}, before the 30 s delay");
    assert!(finish(registrar).success());
}

#[test]
fn a_silent_registrar_is_retried_after_timeout_plus_delay() {
    // A registrar that never answers the first attempt (nor its retransmissions).
    let sock = UdpSocket::bind("127.0.0.9:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let reg = format!(
        "\n[routing_gateway.register]\nproxy = \"127.0.0.9:{port}\"\ndomain = \"carrier.test\"\nuser = \"acct1001\"\npassword = \"secret\"\n"
    );
    let sw = Switch::start_with("regsilent", "user_agent_retry_delay = 30", &[vendor("127.0.0.3")], &reg, "");
    let start = Instant::now();
    let mut buf = vec![0u8; 65_535];
    let mut first_attempt = 0;
    let retry = loop {
        assert!(start.elapsed() < Duration::from_secs(75), "no retry within 75 s");
        let Ok((n, peer)) = sock.recv_from(&mut buf) else { continue };
        let msg = tandem::sip::parse(&buf[..n]).expect("REGISTER parses");
        match msg.cseq().expect("cseq").seq {
            1 => first_attempt += 1,
            _ => {
                let mut out = bytes::BytesMut::new();
                tandem::sip::response_to(&mut out, &msg, 200, "OK", Some("r"))
                    .header("Expires", "600")
                    .finish();
                sock.send_to(&out, peer).expect("send");
                break start.elapsed();
            }
        }
    };
    assert!(first_attempt >= 5, "the first REGISTER was retransmitted ({first_attempt} copies)");
    // 64·T1 (32 s) without an answer, then user_agent_retry_delay (30 s).
    assert!(retry >= Duration::from_secs(61), "retried after {retry:?}");
    sw.wait_log(
        "registration failed gateway=v1 reason=\"no answer from the registrar\"",
        Duration::from_secs(1),
    );
    sw.wait_log("registered gateway=v1 expires_s=600", Duration::from_secs(5));
}

/// `(user, Expires)` of each REGISTER, in arrival order.
type Seen = Arc<Mutex<Vec<(String, u32)>>>;

/// A registrar on raw UDP that accepts every REGISTER without a challenge and
/// records what it saw.
fn open_registrar(ip: &str) -> (SocketAddr, Seen) {
    registrar_dropping(ip, false)
}

/// Like `open_registrar`; with `drop_first_unregister`, the first
/// `Expires: 0` is recorded but gets no answer (as if the datagram were
/// lost), so tandem sends it again.
fn registrar_dropping(ip: &str, drop_first_unregister: bool) -> (SocketAddr, Seen) {
    let sock = UdpSocket::bind((ip, 0)).expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let addr = sock.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_535];
        let mut drop_next_unregister = drop_first_unregister;
        let end = Instant::now() + Duration::from_secs(60); // bounded: the test is over by then
        while Instant::now() < end {
            let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("REGISTER ") {
                continue;
            }
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_default()
            };
            let user = header("To:").split(['@', ':']).nth(1).unwrap_or_default().to_owned();
            let expires: u32 = header("Expires:").parse().unwrap_or(u32::MAX);
            log.lock().expect("log").push((user, expires));
            if expires == 0 && std::mem::take(&mut drop_next_unregister) {
                continue;
            }
            let ok = reply_to(&text, "200 OK")
                .replace("Content-Length: 0", &format!("Expires: {expires}\r\nContent-Length: 0"));
            let _ = sock.send_to(ok.as_bytes(), from);
        }
    });
    (addr, seen)
}

/// Waits (bounded) until `seen` holds `(user, expires)` (`expires` None: any non-zero).
fn wait_register(seen: &Mutex<Vec<(String, u32)>>, user: &str, expires: Option<u32>) {
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if seen.lock().expect("log").iter().any(|(u, e)| u == user && expires.map_or(*e > 0, |x| *e == x)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no REGISTER for {user} with {expires:?}: {:?}", seen.lock().expect("log"));
}

#[test]
fn sighup_moves_registrations_to_the_new_config() {
    let (registrar, seen) = open_registrar("127.0.0.7");
    let v1 = vendor("127.0.0.3");
    let register = format!(
        "\n[routing_gateway.register]\nproxy = \"{registrar}\"\ndomain = \"carrier.test\"\nuser = \"alpha\"\npassword = \"x\"\nperiod = 60\n"
    );
    let sw = Switch::start_with("reg-reload", "", &[v1], &register, "");
    wait_register(&seen, "alpha", None);
    let cfg = std::fs::read_to_string(sw.dir.join("tandem.toml")).expect("config");
    std::fs::write(sw.dir.join("tandem.toml"), cfg.replace("user = \"alpha\"", "user = \"beta\""))
        .expect("write");
    sw.signal(libc::SIGHUP);
    wait_register(&seen, "alpha", Some(0));
    wait_register(&seen, "beta", None);
    let (status, _) = sw.stop();
    assert!(status.success());
    let seen = seen.lock().expect("log").clone();
    assert!(seen.contains(&("beta".to_owned(), 0)), "beta is unregistered at shutdown: {seen:?}");
    let after = seen.iter().position(|r| *r == ("alpha".to_owned(), 0)).expect("alpha removed");
    assert!(seen[after + 1..].iter().all(|(u, _)| u != "alpha"), "alpha stays removed: {seen:?}");
}

#[test]
fn a_changed_registration_starts_only_after_its_old_unregister_has_ended() {
    let (registrar, seen) = registrar_dropping("127.0.0.8", true);
    let v1 = vendor("127.0.0.3");
    let register = format!(
        "\n[routing_gateway.register]\nproxy = \"{registrar}\"\ndomain = \"carrier.test\"\nuser = \"alpha\"\npassword = \"x\"\nperiod = 60\n"
    );
    let sw = Switch::start_with("reg-change", "", &[v1], &register, "");
    wait_register(&seen, "alpha", Some(60));
    let cfg = std::fs::read_to_string(sw.dir.join("tandem.toml")).expect("config");
    std::fs::write(sw.dir.join("tandem.toml"), cfg.replace("period = 60", "period = 30")).expect("write");
    sw.signal(libc::SIGHUP);
    wait_register(&seen, "alpha", Some(30));
    let (status, _) = sw.stop();
    assert!(status.success());
    let seen = seen.lock().expect("log").clone();
    // Both bind the same Contact: an Expires: 0 answered after the new
    // REGISTER would remove the new binding (RFC 3261 §10.3).
    let unregisters: Vec<usize> = (0..seen.len()).filter(|&i| seen[i] == ("alpha".to_owned(), 0)).collect();
    let new = seen.iter().position(|r| *r == ("alpha".to_owned(), 30)).expect("the new registration");
    assert!(
        unregisters.len() >= 2 && new > unregisters[1],
        "the old unregister, lost once, then the new: {seen:?}"
    );
}

/// The next datagram on `sock` starting with `prefix` (others skipped), and its source.
fn recv_starting(sock: &UdpSocket, prefix: &str) -> (String, SocketAddr) {
    let mut buf = vec![0u8; 65_535];
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with(prefix) {
                return (text, from);
            }
        }
    }
    panic!("no {prefix:?} within 3 s");
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.split("\r\n").find_map(|l| l.strip_prefix(name)).map_or("", str::trim)
}

#[test]
fn vendor_legs_use_the_owner_shards_own_port() {
    // Below Linux's ephemeral range (32768 and up), where free_port finds the
    // listen port and the other tests' sockets: nothing else here binds these.
    let start = 21_000 + (std::process::id() % 5_000) as u16 * 2;
    let base = (start..32_000)
        .step_by(2)
        .find(|&p| UdpSocket::bind(("127.0.0.1", p)).is_ok() && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok())
        .expect("two free ports in a row");
    let vendor_sock = UdpSocket::bind(("127.0.0.3", 0)).expect("bind");
    vendor_sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let v1 = Vendor { ip: "127.0.0.3", port: vendor_sock.local_addr().expect("addr").port() };
    let extra = format!("vendor_port_base = {base}");
    let sw = Switch::start_full("vendorports", &extra, "", &[v1], "", "");
    let customer = UdpSocket::bind((CUSTOMER_IP, 0)).expect("bind");
    customer.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut shards_seen = std::collections::HashSet::new();
    for k in 0..6 {
        let call_id = format!("vp-{k}");
        customer.send_to(invite_text(&customer, &call_id, "INVITE").as_bytes(), sw.addr()).expect("send");
        let (invite, from) = recv_starting(&vendor_sock, "INVITE ");
        // From the owner shard's own port, which Via and Contact name too.
        let shard = from.port().checked_sub(base).filter(|s| *s < 2).expect("a vendor port");
        assert!(header(&invite, "Call-ID:").starts_with(&format!("tdm{shard}-")), "{invite}");
        assert!(header(&invite, "Via:").contains(&format!("127.0.0.1:{}", from.port())), "{invite}");
        assert_eq!(header(&invite, "Contact:"), format!("<sip:127.0.0.1:{}>", from.port()));
        shards_seen.insert(shard);
        let ok = reply_to(&invite, "200 OK").replace(
            "Content-Length: 0\r\n",
            &format!("Contact: <sip:gw@{}>\r\nContent-Length: 0\r\n", v1.ip),
        );
        vendor_sock.send_to(ok.as_bytes(), from).expect("200");
        let (answer, _) = recv_starting(&customer, "SIP/2.0 200");
        let to = answer.split("\r\n").find(|l| l.starts_with("To:")).expect("To").to_owned();
        customer.send_to(ack_text(&customer, &call_id, &to).as_bytes(), sw.addr()).expect("ACK");
        let (_, ack_from) = recv_starting(&vendor_sock, "ACK ");
        assert_eq!(ack_from, from, "the ACK leaves by the same port");
        // The callee hangs up, to our Contact: the answer comes back from that port.
        let bye = format!(
            "BYE sip:127.0.0.1:{} SIP/2.0\r\nVia: SIP/2.0/UDP {}:{};branch=z9hG4bK-vbye{k}\r\nMax-Forwards: 70\r\n\
             From: {};tag=peer\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
            from.port(),
            v1.ip,
            v1.port,
            header(&invite, "To:"),
            header(&invite, "From:"),
            header(&invite, "Call-ID:"),
        );
        vendor_sock.send_to(bye.as_bytes(), from).expect("BYE");
        let (_, ok_from) = recv_starting(&vendor_sock, "SIP/2.0 200");
        assert_eq!(ok_from, from, "the BYE's answer comes from the port it was sent to");
        let (bye_a, _) = recv_starting(&customer, "BYE ");
        customer.send_to(reply_to(&bye_a, "200 OK").as_bytes(), sw.addr()).expect("200 to BYE");
    }
    assert_eq!(shards_seen.len(), 2, "six calls over both shards");
    let (status, cdrs) = sw.stop();
    assert!(status.success());
    assert_eq!(cdrs.len(), 6);
    assert!(cdrs.iter().all(|r| r[col("hangup")] == "callee" && r[col("final_code")] == "200"), "{cdrs:?}");
}

/// `[server].realtime_priority`: the shard threads, and only they, run under
/// SCHED_FIFO at that priority, and calls go through; where the host refuses
/// it (no CAP_SYS_NICE or RLIMIT_RTPRIO), each shard says so and runs as before.
#[test]
fn realtime_priority_applies_to_the_shard_threads_only() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start_full("rtprio", "realtime_priority = 3", "", &[v1], "", "");
    sipp_calls(&sw, &v1, "rtprio", 2, &["-d", "100"]);
    // (name, rt_priority, policy): fields 40 and 41 of /proc/PID/task/TID/stat.
    let threads: Vec<(String, String, String)> = threads(sw.child.id())
        .into_iter()
        .map(|(name, fields)| (name, fields[37].clone(), fields[38].clone()))
        .collect();
    let refused =
        sw.logs.lock().expect("logs").iter().filter(|l| l.contains("realtime priority refused")).count();
    let shards = threads.iter().filter(|t| t.0.starts_with("shard-")).count();
    assert_eq!(shards, 2, "{threads:?}");
    for (name, priority, policy) in &threads {
        let expected = if name.starts_with("shard-") && refused == 0 { ("3", "1") } else { ("0", "0") };
        assert_eq!((priority.as_str(), policy.as_str()), expected, "{name}: {threads:?}");
    }
    assert!(refused == 0 || refused == 2, "every shard or none is refused: {refused}");
    let (status, cdrs) = sw.stop();
    assert!(status.success(), "tandem exit {status}");
    assert_eq!(cdrs.len(), 2, "one CDR per call");
}

/// `[server].kernel_steering`: each datagram reaches the socket of the shard
/// that owns its Call-ID, so no shard hands any over, and both shards take
/// calls. Off, the kernel's 4-tuple hash puts each peer's datagrams on one
/// socket, and its shard hands the other shard's share over.
#[test]
fn kernel_steering_gives_each_datagram_to_its_owner_shard() {
    for steering in [true, false] {
        let name = if steering { "steer" } else { "nosteer" };
        let v1 = vendor("127.0.0.3");
        let sw = Switch::start_full(name, &format!("kernel_steering = {steering}"), "", &[v1], "", "");
        let logs = Arc::clone(&sw.logs);
        sipp_calls(&sw, &v1, name, 20, &["-d", "10"]);
        let (status, cdrs) = sw.stop();
        assert!(status.success(), "tandem exit {status}");
        assert_eq!(cdrs.len(), 20, "one CDR per call");
        let logs = logs.lock().expect("logs");
        let field = |line: &str, key: &str| -> u64 {
            let at =
                line.find(&format!(" {key}=")).unwrap_or_else(|| panic!("{key} in {line}")) + key.len() + 2;
            line[at..].split_whitespace().next().and_then(|v| v.parse().ok()).expect("a number")
        };
        let stopped: Vec<(u64, u64)> = logs
            .iter()
            .filter(|l| l.contains("shard stopped"))
            .map(|l| (field(l, "answered"), field(l, "handoffs")))
            .collect();
        assert_eq!(stopped.len(), 2, "{logs:?}");
        assert!(stopped.iter().all(|s| s.0 > 0), "both shards own calls: {stopped:?}");
        let handoffs: u64 = stopped.iter().map(|s| s.1).sum();
        if steering {
            assert!(logs.iter().any(|l| l.contains("kernel steering shards=2")), "{logs:?}");
            assert_eq!(handoffs, 0, "{stopped:?}");
        } else {
            assert!(!logs.iter().any(|l| l.contains("kernel steering")), "{logs:?}");
            assert!(handoffs > 0, "{stopped:?}");
        }
    }
}

/// The shards' `SO_REUSEPORT` group is tandem's alone: a second tandem on the
/// same address (its own metrics port, so only SIP collides) refuses to start
/// and names the address, and no other socket can bind it, with or without
/// `SO_REUSEADDR`; the first tandem goes on answering.
#[test]
fn a_second_tandem_on_the_same_address_refuses_to_start() {
    let v1 = vendor("127.0.0.3");
    let sw = Switch::start("twice", "", &[v1]);
    let first = std::fs::read_to_string(sw.dir.join("tandem.toml")).expect("config");
    let metrics =
        first.lines().find(|l| l.starts_with("listen = \"127.0.0.1:") && !l.contains(&sw.port.to_string()));
    let metrics = metrics.expect("the metrics listen line");
    let second = first.replace(metrics, &format!("listen = \"127.0.0.1:{}\"", free_tcp_port()));
    std::fs::write(sw.dir.join("second.toml"), second).expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["run", "-c"])
        .arg(sw.dir.join("second.toml"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the second tandem");
    let status = exit_within(
        &mut child,
        Duration::from_secs(10),
        "the second tandem kept running on the first one's address",
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("stderr");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("binding {} (is another tandem running?)", sw.addr())), "{err}");
    let plain = UdpSocket::bind(sw.addr());
    assert_eq!(plain.map(drop).map_err(|e| e.kind()), Err(std::io::ErrorKind::AddrInUse));
    let reuse = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
    reuse.set_reuse_address(true).expect("SO_REUSEADDR");
    let addr: SocketAddr = sw.addr().parse().expect("addr");
    assert!(reuse.bind(&addr.into()).is_err(), "SO_REUSEADDR must not share tandem's address");
    let stranger = UdpSocket::bind("127.0.0.9:0").expect("bind");
    let rsp = exchange(&stranger, &sw.addr(), &invite_text(&stranger, "twice-1", "INVITE"));
    assert!(rsp.starts_with("SIP/2.0 403 "), "the first tandem still answers: {rsp}");
    let (status, _) = sw.stop();
    assert!(status.success());
}
