//! `tandem run` registers to a real registrar: Debian's Kamailio with
//! tests/kamailio/registrar.cfg (UDP on 127.0.0.7, in-memory usrloc, digest
//! auth for acct1001/secret). The binding is read back with `kamcmd ul.dump`;
//! every REGISTER Kamailio receives is in its log. tandem is 127.0.0.1.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the test is the network and the clock

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::free_port;
use common::kamailio::{Kamailio, collect, wait_until};

const REGISTRAR_IP: &str = "127.0.0.7";
const DOMAIN: &str = "carrier.test";

/// One Contact of `ul.dump`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    expires: u32,
    cseq: u32,
    call_id: String,
}

/// Kamailio as the upstream registrar.
struct Registrar(Kamailio);

impl Registrar {
    /// Starts it with `defines` (`-A`) added to tests/kamailio/registrar.cfg.
    fn start(name: &str, defines: &[&str]) -> Registrar {
        let defines: Vec<String> = defines.iter().map(|d| d.to_string()).collect();
        Registrar(Kamailio::start(name, "registrar.cfg", REGISTRAR_IP, &defines))
    }

    fn addr(&self) -> String {
        format!("{REGISTRAR_IP}:{}", self.0.port)
    }

    /// The binding of `contact` in the location table, if any.
    fn binding(&self, contact: &str) -> Option<Binding> {
        let dump = self.0.rpc(&["ul.dump"]);
        let mut lines = dump.lines().map(str::trim).skip_while(|l| *l != format!("Address: {contact}"));
        lines.next()?;
        let mut field = |name: &str| {
            lines.by_ref().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned()).unwrap_or_default()
        };
        let expires = field("Expires:").parse().unwrap_or(0);
        let call_id = field("Call-ID:");
        let cseq = field("CSeq:").parse().unwrap_or(0);
        Some(Binding { expires, cseq, call_id })
    }

    /// How many REGISTERs reached the script (the cfg logs each one).
    fn registers(&self) -> usize {
        self.0.script_log().iter().filter(|l| l.contains("kamailio: REGISTER ")).count()
    }

    fn script_log(&self) -> Vec<String> {
        self.0.script_log()
    }

    fn rpc(&self, args: &[&str]) -> String {
        self.0.rpc(args)
    }
}

struct Tandem {
    child: Child,
    dir: PathBuf,
    port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Tandem {
    /// `tandem run` with one customer and one vendor that registers to `registrar`.
    fn start(name: &str, registrar: &Registrar, sip: &str, password: &str) -> Tandem {
        let dir = std::env::temp_dir().join(format!("tandem-reg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        std::fs::write(dir.join("deck.csv"), "prefix,rate,initial,increment\n1,0.01,6,6\n").expect("deck");
        let port = free_port("127.0.0.1");
        let metrics = free_port("127.0.0.1");
        let cfg = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nshards = 2\npin_cores = false\n\n\
             [sip]\n{sip}\n\n[cdr]\ndir = \"cdr\"\n\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n\n\
             [[mapping_gateway]]\nname = \"cust\"\naddresses = [\"127.0.0.2\"]\nrate_deck = \"deck.csv\"\n\n\
             [[routing_gateway]]\nname = \"v1\"\naddress = \"{addr}\"\nrate_deck = \"deck.csv\"\n\n\
             [routing_gateway.register]\nproxy = \"{addr}\"\ndomain = \"{DOMAIN}\"\nuser = \"acct1001\"\n\
             password = \"{password}\"\nperiod = 20\n",
            addr = registrar.addr(),
        );
        std::fs::write(dir.join("tandem.toml"), cfg).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["run", "-c"])
            .arg(dir.join("tandem.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tandem");
        let logs = Arc::new(Mutex::new(Vec::new()));
        collect(child.stderr.take().expect("stderr"), &logs);
        let t = Tandem { child, dir, port, logs };
        t.wait_log("INFO started", Duration::from_secs(10));
        t
    }

    /// The Contact tandem registers.
    fn contact(&self) -> String {
        format!("sip:acct1001@127.0.0.1:{}", self.port)
    }

    fn count(&self, needle: &str) -> usize {
        self.logs.lock().expect("logs").iter().filter(|l| l.contains(needle)).count()
    }

    fn log(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    fn wait_log(&self, needle: &str, limit: Duration) {
        let seen = wait_until(limit, || self.count(needle) > 0);
        assert!(seen, "no {needle:?} in tandem's log within {limit:?}: {:#?}", self.log());
    }

    /// One SIGTERM (a second one means "exit at once").
    fn sigterm(&self) {
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// SIGTERM, then wait (bounded) for the exit.
    fn terminate(&mut self) -> ExitStatus {
        self.sigterm();
        self.wait_exit()
    }

    /// Waits (bounded) for the exit.
    fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        let exited = wait_until(Duration::from_secs(10), || {
            status = self.child.try_wait().expect("wait");
            status.is_some()
        });
        assert!(exited, "tandem did not exit within 10 s of SIGTERM: {:#?}", self.log());
        status.expect("status")
    }
}

impl Drop for Tandem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (bounded) for `contact` to be bound, and returns the binding.
fn bound(k: &Registrar, t: &Tandem, limit: Duration) -> Binding {
    let mut b = None;
    let seen = wait_until(limit, || {
        b = k.binding(&t.contact());
        b.is_some()
    });
    assert!(
        seen,
        "{} not in ul.dump within {limit:?}\nul.dump: {}\nKamailio: {:#?}\ntandem: {:#?}",
        t.contact(),
        k.rpc(&["ul.dump"]),
        k.script_log(),
        t.log()
    );
    b.expect("binding")
}

#[test]
fn registers_refreshes_at_85_percent_and_unregisters_on_sigterm() {
    let k = Registrar::start("refresh", &[]);
    let mut t = Tandem::start("refresh", &k, "", "secret");
    let started = Instant::now();
    t.wait_log("registered gateway=v1 expires_s=20", Duration::from_secs(5));
    let first = bound(&k, &t, Duration::from_secs(5));
    assert!((15..=20).contains(&first.expires), "granted 20 s: {first:?}");
    assert!(first.call_id.starts_with("tdm"), "{first:?}");

    // The refresh: 85 % of 20 s = 17 s after the first.
    let refreshed = wait_until(Duration::from_secs(22), || t.count("INFO registered gateway=v1") >= 2);
    let at = started.elapsed();
    assert!(refreshed, "no refresh within 22 s: {:#?}\nKamailio: {:#?}", t.log(), k.script_log());
    assert!(at >= Duration::from_millis(16_000), "refreshed too early, after {at:?}");
    let second = k.binding(&t.contact()).expect("still bound after the refresh");
    assert!(second.cseq > first.cseq, "the refresh moved CSeq forward: {first:?} -> {second:?}");
    assert_eq!(second.call_id, first.call_id, "the refresh keeps the Call-ID");
    assert!(second.expires >= 15, "the refresh renewed the expiry: {second:?}");
    let before_stop = k.registers();

    // SIGTERM: Expires: 0, and the binding is gone within 1 s.
    let signalled = Instant::now();
    t.sigterm();
    let gone = wait_until(Duration::from_secs(1), || k.binding(&t.contact()).is_none());
    assert!(
        gone,
        "binding still there 1 s after SIGTERM: {}\nKamailio: {:#?}\ntandem: {:#?}",
        k.rpc(&["ul.dump"]),
        k.script_log(),
        t.log()
    );
    eprintln!("binding removed {:?} after SIGTERM", signalled.elapsed());
    let status = t.wait_exit();
    assert!(status.success(), "tandem exited with {status}: {:#?}", t.log());
    assert_eq!(t.count("INFO unregistered gateway=v1"), 1, "{:#?}", t.log());
    assert_eq!(t.count("registration failed"), 0, "{:#?}", t.log());
    let unregisters =
        k.script_log().iter().filter(|l| l.contains("REGISTER ") && l.contains("expires=0")).count();
    assert_eq!(unregisters, 1, "one REGISTER Expires: 0: {:#?}", k.script_log());
    assert!(k.registers() > before_stop, "{:#?}", k.script_log());
}

#[test]
fn without_send_unregister_the_binding_stays_after_sigterm() {
    let k = Registrar::start("keep", &[]);
    let mut t = Tandem::start("keep", &k, "user_agent_send_unregister = false", "secret");
    t.wait_log("registered gateway=v1 expires_s=20", Duration::from_secs(5));
    let before = bound(&k, &t, Duration::from_secs(5));
    let sent = k.registers();
    let status = t.terminate();
    assert!(status.success(), "tandem exited with {status}: {:#?}", t.log());
    std::thread::sleep(Duration::from_millis(500));
    let after = k.binding(&t.contact());
    assert_eq!(after.as_ref().map(|b| b.cseq), Some(before.cseq), "binding untouched: {after:?}");
    assert_eq!(k.registers(), sent, "nothing sent on shutdown: {:#?}", k.script_log());
    assert_eq!(t.count("unregister"), 0, "{:#?}", t.log());
}

#[test]
fn a_wrong_password_fails_once_and_waits_for_the_retry_delay() {
    let k = Registrar::start("wrong", &[]);
    let t = Tandem::start("wrong", &k, "user_agent_retry_delay = 30", "not-the-password");
    t.wait_log("registration failed gateway=v1", Duration::from_secs(5));
    let failed = t.log().into_iter().find(|l| l.contains("registration failed")).expect("failure line");
    assert!(failed.contains("credentials refused"), "refused credentials named: {failed}");
    let at_failure = k.registers();
    // Kamailio's nonce is the same within one second: the unauthenticated
    // REGISTER and one answer, perhaps a second answer across a second boundary.
    assert!((2..=3).contains(&at_failure), "REGISTERs before the failure: {:#?}", k.script_log());
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(k.registers(), at_failure, "no retry before 30 s: {:#?}", k.script_log());
    assert_eq!(t.count("registration failed"), 1, "{:#?}", t.log());
    assert!(k.binding(&t.contact()).is_none(), "nothing bound");
}

/// With `nonce_count` on, Kamailio puts a fresh nonce in every challenge (as
/// most registrars do), so "challenged again with the same nonce" never
/// happens: a refused password must still end the attempt.
#[test]
fn a_wrong_password_with_fresh_nonces_fails_without_a_register_storm() {
    let k = Registrar::start("storm", &["NONCE_COUNT"]);
    let t = Tandem::start("storm", &k, "user_agent_retry_delay = 30", "not-the-password");
    std::thread::sleep(Duration::from_secs(3));
    let sent = k.registers();
    assert!(
        sent <= 3,
        "{sent} REGISTERs in 3 s for a refused password: {:#?}",
        k.script_log().iter().take(6).collect::<Vec<_>>()
    );
    assert_eq!(t.count("registration failed"), 1, "{:#?}", t.log());
}
