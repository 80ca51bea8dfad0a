//! tandem answers a vendor's digest challenge to its call INVITE with the
//! gateway's `[routing_gateway.register]` credentials, against a real vendor:
//! Debian's Kamailio with tests/kamailio/invite-auth.cfg (UDP on 127.0.0.5),
//! which sends a 407 to every INVITE without valid credentials for
//! acct1001/secret and relays the authorized ones statefully to a SIPp UAS on
//! 127.0.0.6 with Record-Route, so tandem's ACK and BYE must follow the route
//! set (a request without Route is refused, as a standard proxy does). The
//! caller is a SIPp UAC on 127.0.0.2; tandem is 127.0.0.1. Kamailio's script
//! logs "challenged <Call-ID>", "authorized <Call-ID>" and every request's Route.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the test is the network and the clock

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

mod common;
use common::kamailio::Kamailio;
use common::*;

const VENDOR_IP: &str = "127.0.0.5";
const CALLEE_IP: &str = "127.0.0.6";
const CALLS: u32 = 5;

/// One INVITE decision of the script: Call-ID and CSeq number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Decision {
    call_id: String,
    cseq: u32,
}

/// Kamailio as the vendor, relaying authorized INVITEs to a callee.
struct AuthVendor(Kamailio);

impl AuthVendor {
    /// Starts it on tests/kamailio/invite-auth.cfg, relaying to `callee`.
    fn start(name: &str, callee: &Vendor) -> AuthVendor {
        let uas = format!("UAS=\"sip:{}:{}\"", callee.ip, callee.port);
        AuthVendor(Kamailio::start(&format!("auth-{name}"), "invite-auth.cfg", VENDOR_IP, &[uas]))
    }

    fn vendor(&self) -> Vendor {
        Vendor { ip: VENDOR_IP, port: self.0.port }
    }

    fn script_log(&self) -> Vec<String> {
        self.0.script_log()
    }

    /// The script's "kamailio: <what> <Call-ID> cseq=<n>" lines.
    fn decisions(&self, what: &str) -> Vec<Decision> {
        let marker = format!("kamailio: {what} ");
        self.script_log()
            .iter()
            .filter_map(|l| {
                let rest = &l[l.find(&marker)? + marker.len()..];
                let mut words = rest.split_whitespace();
                let call_id = words.next()?.to_owned();
                let cseq = words.next()?.strip_prefix("cseq=")?.parse().ok()?;
                Some(Decision { call_id, cseq })
            })
            .collect()
    }
}

/// tandem with one vendor, Kamailio, whose `[routing_gateway.register]`
/// (registering to Kamailio too) holds `password`.
fn switch(name: &str, k: &AuthVendor, password: &str) -> Switch {
    let register = format!(
        "\n[routing_gateway.register]\nproxy = \"{VENDOR_IP}:{}\"\ndomain = \"carrier.test\"\n\
         user = \"acct1001\"\npassword = \"{password}\"\nperiod = 60\n",
        k.0.port
    );
    Switch::start_with(name, "invite_timeout = 4", &[k.vendor()], &register, "")
}

/// The SIPp caller: `calls` calls to `sw`, its messages in `dir`/caller.log
/// and its final screen in `dir`/caller.screen.
fn caller(dir: &Path, sw: &Switch, calls: u32) -> Child {
    let log = dir.join("caller.log").display().to_string();
    let screen = dir.join("caller.screen").display().to_string();
    let extra = ["-d", "200", "-trace_msg", "-message_file", &log, "-trace_screen", "-screen_file", &screen];
    uac(dir, sw, calls, &extra)
}

/// The "Successful call" total of SIPp's final screen.
fn successful_calls(screen: &str) -> Option<u32> {
    let line = screen.lines().rev().find(|l| l.contains("Successful call"))?;
    line.split('|').next_back()?.trim().parse().ok()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_vendor_407_is_answered_with_the_register_credentials() {
    let callee = vendor(CALLEE_IP);
    let k = AuthVendor::start("ok", &callee);
    let sw = switch("vauth-ok", &k, "secret");
    // The same credentials register tandem to Kamailio first.
    sw.wait_log("registered gateway=v1", Duration::from_secs(5));
    let dir = workdir("vauth-ok");
    // A UAS that copies Record-Route (SIPp's built-in one does not), so the
    // dialog's route set runs through Kamailio.
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/uas_record_route.xml");
    let uas_child = uas(&dir, &callee, CALLS, &["-sf", scenario]);
    let started = Instant::now();
    let uac_child = caller(&dir, &sw, CALLS);
    let caller_ok = finish(uac_child).success();
    let callee_ok = finish(uas_child).success();
    eprintln!("{CALLS} calls took {:?}", started.elapsed());
    let screen = read(&dir.join("caller.screen"));
    assert!(
        caller_ok && successful_calls(&screen) == Some(CALLS),
        "caller SIPp: every call successful\n{screen}\nKamailio: {:#?}\ntandem: {:#?}\ncaller messages:\n{}",
        k.script_log(),
        sw.logs.lock().expect("logs"),
        read(&dir.join("caller.log"))
    );
    assert!(callee_ok, "callee SIPp got every INVITE, ACK and BYE through Kamailio: {:#?}", k.script_log());

    // Every B-leg was challenged on CSeq 1 and authorized on CSeq 2.
    let challenged = k.decisions("challenged");
    let authorized = k.decisions("authorized");
    let first: BTreeSet<_> = challenged.iter().filter(|d| d.cseq == 1).map(|d| d.call_id.clone()).collect();
    let second: BTreeSet<_> = authorized.iter().map(|d| d.call_id.clone()).collect();
    assert_eq!(first.len(), CALLS as usize, "one challenged INVITE per call: {:#?}", k.script_log());
    assert_eq!(first, second, "each challenged call authorized after: {:#?}", k.script_log());
    assert!(authorized.iter().all(|d| d.cseq == 2), "authorized with CSeq 2: {authorized:?}");
    assert!(challenged.iter().all(|d| d.cseq == 1), "no challenge after credentials: {challenged:?}");
    // The ACK and BYE followed the route set Kamailio's Record-Route made (RFC 3261 §12.2.1.1).
    let script = k.script_log();
    assert!(
        script.iter().all(|l| !l.contains("without Route")),
        "in-dialog requests without Route: {script:#?}"
    );
    let routed = |m: &str| {
        script
            .iter()
            .filter(|l| l.contains(&format!("kamailio: {m} ")) && !l.contains("route=<null>"))
            .count()
    };
    assert_eq!((routed("ACK"), routed("BYE")), (CALLS as usize, CALLS as usize), "{script:#?}");

    let (status, cdrs) = sw.stop();
    assert!(status.success(), "tandem exit {status}");
    assert_eq!(cdrs.len(), CALLS as usize, "one CDR per call: {cdrs:?}");
    for r in &cdrs {
        assert_eq!((r[col("final_code")].as_str(), r[col("gateway")].as_str()), ("200", "v1"), "{r:?}");
        assert_eq!(r[col("gateways_tried")], "v1", "{r:?}");
    }
    let b_legs: BTreeSet<_> = cdrs.iter().map(|r| r[col("b_call_id")].clone()).collect();
    assert_eq!(b_legs, second, "the CDRs name the authorized B-legs");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_password_ends_the_call_with_503() {
    let callee = vendor(CALLEE_IP);
    let k = AuthVendor::start("wrong", &callee);
    let sw = switch("vauth-wrong", &k, "not-the-password");
    sw.wait_log("registration failed gateway=v1", Duration::from_secs(5));
    let dir = workdir("vauth-wrong");
    let uac_child = caller(&dir, &sw, 1);
    let caller_ok = finish(uac_child).success();
    let messages = read(&dir.join("caller.log"));
    assert!(!caller_ok, "the call fails at the caller: {messages}");
    let got_503 = messages.lines().any(|l| l.starts_with("SIP/2.0 503"));
    let got_challenge =
        messages.lines().any(|l| l.starts_with("SIP/2.0 401") || l.starts_with("SIP/2.0 407"));
    assert!(got_503 && !got_challenge, "the caller gets a 503, not the vendor's challenge:\n{messages}");

    // Kamailio challenged the INVITE and its answer, and authorized nothing.
    let challenged = k.decisions("challenged");
    assert!(k.decisions("authorized").is_empty(), "nothing authorized: {:#?}", k.script_log());
    let cseqs: BTreeSet<_> = challenged.iter().map(|d| d.cseq).collect();
    let calls: BTreeSet<_> = challenged.iter().map(|d| d.call_id.clone()).collect();
    assert_eq!(cseqs, BTreeSet::from([1, 2]), "challenged, answered once, challenged again: {challenged:?}");
    assert_eq!(calls.len(), 1, "one B-leg: {challenged:?}");

    let (status, cdrs) = sw.stop();
    assert!(status.success(), "tandem exit {status}");
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(cdrs[0][col("final_code")], "503", "{:?}", cdrs[0]);
    assert_eq!(cdrs[0][col("gateways_tried")], "v1", "{:?}", cdrs[0]);
    assert!(calls.contains(&cdrs[0][col("b_call_id")]), "the CDR names the challenged B-leg");
    let _ = std::fs::remove_dir_all(&dir);
}
