//! `tandem check` and `tandem route`, run as an operator runs them.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

struct Site {
    dir: PathBuf,
}

impl Site {
    fn new(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("tandem-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("decks")).expect("tmp dir");
        Site { dir }
    }

    fn write(&self, rel: &str, text: &str) -> &Self {
        std::fs::write(self.dir.join(rel), text).expect("write");
        self
    }

    fn config(&self) -> PathBuf {
        self.dir.join("tandem.toml")
    }

    fn tandem(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tandem")).args(args).output().expect("run tandem")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const CONFIG: &str = r#"
[[lrn.source]]
name = "npac"
kind = "file"
path = "lrn.csv"

[[mapping_gateway]]
name = "customer-a"
addresses = ["192.0.2.10"]
rate_deck = "decks/customer-a.csv"

[[routing_gateway]]
name = "vendor-x"
address = "198.51.100.20:5060"
rate_deck = "decks/vendor-x.csv"
priority = 1
lrn = "npac"

[[routing_gateway]]
name = "vendor-y"
address = "198.51.100.21:5060"
rate_deck = "decks/vendor-y.csv"
priority = 2
max_minute_rate = 0.01

# Port 0: `tandem route` reads no running switch, so the output depends on these files only.
[metrics]
listen = "127.0.0.1:0"
"#;

fn good_site(name: &str) -> Site {
    let s = Site::new(name);
    s.write("tandem.toml", CONFIG)
        .write("lrn.csv", "tn,lrn\n2125551212,3105550000\n")
        .write("decks/customer-a.csv", "prefix,rate,initial,increment\n1,0.02,6,6\n")
        .write(
            "decks/vendor-x.csv",
            "prefix,rate,initial,increment,effective\n1,0.009,6,6,\n1,0.008,6,6,2027-01-01\n",
        )
        .write("decks/vendor-y.csv", "prefix,rate,initial,increment\n1,0.011,60,60\n1212,0.006,6,6\n");
    s
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn check_summarizes_a_good_site() {
    let s = good_site("ok");
    let out = s.tandem(&["check", "-c", s.config().to_str().expect("utf-8")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("customers: 1 (customer-a)"), "{text}");
    assert!(text.contains("routing gateways: 2 (vendor-x, vendor-y)"), "{text}");
    assert!(text.contains("vendor-y.csv: 2 rows, 2 prefixes, trie"), "{text}");
    assert!(text.contains("lrn.csv: 1 numbers"), "{text}");
}

#[test]
fn check_lists_every_error_with_file_and_line() {
    let s = good_site("bad");
    let cfg = CONFIG.replace("lrn = \"npac\"", "lrn = \"nope\"");
    s.write("tandem.toml", &cfg)
        .write("decks/vendor-y.csv", "prefix,rate,initial,increment\n1,0.011,60,60\n12x2,0.006,6,6\n")
        .write("lrn.csv", "2125551212,310555\n");
    let out = s.tandem(&["check", "-c", s.config().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let cfg_path = s.config().display().to_string();
    assert!(
        err.contains(&format!("{cfg_path}:17: routing_gateway[0].lrn: no [[lrn.source]] named \"nope\"")),
        "{err}"
    );
    assert!(err.contains("vendor-y.csv:3: prefix: \"12x2\" is not 1..=32 digits"), "{err}");
    assert!(err.contains("lrn.csv:1: lrn: \"310555\" is not a 10-digit NANP number"), "{err}");
    assert!(err.contains("3 error(s)"), "{err}");
}

#[test]
fn check_names_a_missing_deck_at_its_config_line() {
    let s = good_site("missing");
    std::fs::remove_file(s.dir.join("decks/vendor-x.csv")).expect("rm");
    let out = s.tandem(&["check", "-c", s.config().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":15: routing_gateway[0].rate_deck:"), "{err}");
    assert!(err.contains("vendor-x.csv: cannot read"), "{err}");
}

#[test]
fn check_reports_toml_errors() {
    let s = Site::new("toml");
    s.write("tandem.toml", "[sip]\nuser_agent_expire = 5\n");
    let out = s.tandem(&["check", "-c", s.config().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":2: sip.user_agent_expire: must be \"auto\" or 20..=7200, got 5"), "{err}");
}

fn route(s: &Site, args: &[&str]) -> Output {
    let cfg = s.config();
    let mut all = vec!["route", "-c", cfg.to_str().expect("utf-8"), "--json"];
    all.extend(args);
    s.tandem(&all)
}

#[test]
fn route_json_and_exit_codes() {
    let s = good_site("route");
    let out = route(&s, &["--from", "192.0.2.10", "--at", "2026-11-24T12:00:00Z", "+1 (212) 555-1212"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["customer"], "customer-a");
    assert_eq!(v["number"], "12125551212");
    // vendor-x has LRN on with the `file` source: the live lookup finds the ported number.
    assert_eq!((&v["lrn"], &v["lrn_source"]), (&Value::from("13105550000"), &Value::from("file")));
    assert_eq!(v["customer_rate"], serde_json::json!({"prefix": "1", "rate": 0.02}));
    assert_eq!(
        v["candidates"],
        serde_json::json!([
            {"gateway": "vendor-x", "prefix": "1", "rate": 0.009, "profit": 0.011, "priority": 1},
            {"gateway": "vendor-y", "prefix": "1212", "rate": 0.006, "profit": 0.014, "priority": 2},
        ])
    );
    assert_eq!(v["skipped"], serde_json::json!([]));

    // From 2027 vendor-x's new row applies; 1310 on vendor-y costs 0.011 > 0.01.
    let out = route(&s, &["--from", "192.0.2.10:5062", "--at", "2027-02-01", "13105551212"]);
    let v = json(&out);
    assert_eq!(v["candidates"][0]["rate"], 0.008);
    assert_eq!(
        v["skipped"],
        serde_json::json!([{"gateway": "vendor-y", "reason": "rate 0.011 above max_minute_rate 0.01"}])
    );

    let out = route(&s, &["--from", "203.0.113.1", "12125551212"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(json(&out)["customer"], Value::Null);

    let out = route(&s, &["--from", "192.0.2.10", "4420"]);
    assert_eq!(out.status.code(), Some(3));

    let out = route(&s, &["--from", "192.0.2.10", "--lrn", "6465550000", "12125551212"]);
    assert_eq!(
        (json(&out)["lrn"].clone(), json(&out)["lrn_source"].clone()),
        (Value::from("16465550000"), Value::from("given"))
    );
    let out = route(&s, &["--from", "192.0.2.10", "13105559999"]);
    assert_eq!(json(&out)["lrn_source"], "file", "not in the file: not ported");
    assert_eq!(json(&out)["lrn"], Value::Null);

    let out = route(&s, &["--from", "not-an-ip", "1212"]);
    assert_eq!(out.status.code(), Some(1));
    let out = s.tandem(&["route", "-c", "/nonexistent/tandem.toml", "--from", "192.0.2.10", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tandem.toml"));
}

/// `tandem lrn` before any switch made the cache says why there is none,
/// for a configuration with LRN sources and for one without.
#[test]
fn lrn_commands_explain_a_missing_cache() {
    let s = good_site("lrn-none");
    let with_sources = format!("[lrn]\ncache = \"lrn-cache\"\n{CONFIG}");
    let without =
        with_sources.replace("[[lrn.source]]\nname = \"npac\"\nkind = \"file\"\npath = \"lrn.csv\"\n", "");
    let without = without.replace("lrn = \"npac\"\n", "");
    for (text, why) in [
        (with_sources.as_str(), "no LRN cache: the switch creates it when it starts with this configuration"),
        (
            without.as_str(),
            "no LRN cache: this configuration has no [[lrn.source]], so the switch keeps none",
        ),
    ] {
        s.write("tandem.toml", text);
        let cfg = s.config();
        let cfg = cfg.to_str().expect("utf-8");
        for args in [&["lrn", "stats", "-c", cfg][..], &["lrn", "lookup", "-c", cfg, "2125551212"][..]] {
            let out = s.tandem(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            let path = s.dir.join("lrn-cache");
            assert!(err.contains(&format!("{}: {why}", path.display())), "{args:?}: {err}");
        }
    }
}
