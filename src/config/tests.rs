use super::*;

const FULL: &str = r#"
[server]
listen = "127.0.0.1:5070"
shards = 2

[sip]
user_agent_expire = 300
user_agent_retry_delay = 45
user_agent_privacy = "id"

[routing]
sort = "lowest-rate"

[lrn]
cache_slots = 4096

[[lrn.source]]
name = "dip"
kind = "sip-redirect"
address = "127.0.0.1:5999"

[[lrn.source]]
name = "npac"
kind = "file"
path = "lrn.csv"

[[mapping_gateway]]
name = "customer-a"
addresses = ["192.0.2.10", "192.0.2.11:5060"]
rate_deck = "decks/a.csv"
strip_prefix = "00"

[[routing_gateway]]
name = "vendor-x"
address = "198.51.100.20:5060"
rate_deck = "decks/x.csv"
prefixes = ["1"]
max_minute_rate = 0.05
lowest_profit = -0.001
lrn = "dip"

[routing_gateway.register]
proxy = "198.51.100.20:5060"
domain = "carrier.example"
user = "acct"
password = "pw"
period = "auto"
"#;

fn errs(src: &str) -> Vec<ConfigError> {
    parse(src, Path::new("/etc/tandem/t.toml")).expect_err("config should be rejected")
}

#[test]
fn full_example_parses() {
    let c = parse(FULL, Path::new("/etc/tandem/t.toml")).unwrap();
    assert_eq!(c.server.shards, 2);
    assert_eq!(c.sip.user_agent_expire, Expire::Seconds(300));
    assert_eq!(c.sip.user_agent_privacy, Privacy::Id);
    assert_eq!(c.routing.sort, Sort::LowestRate);
    assert_eq!(c.sip.invite_timeout, 4);
    let g = &c.routing_gateways[0];
    assert_eq!(g.max_minute_rate, Rate::parse("0.05").ok());
    assert_eq!(g.lowest_profit, Rate::parse("-0.001").ok());
    assert!(g.check_rate && g.lrn_uri_params);
    assert_eq!(g.register.as_ref().unwrap().period, Some(Expire::Auto));
    assert!(c.mapping_gateways[0].addresses[1].matches("192.0.2.11:5060".parse().unwrap()));
    assert!(!c.mapping_gateways[0].addresses[1].matches("192.0.2.11:5061".parse().unwrap()));
    assert_eq!(c.resolve(c.mapping_gateways[0].rate_deck.get_ref()), Path::new("/etc/tandem/decks/a.csv"));
}

#[test]
fn empty_config_takes_defaults() {
    let c = parse("", Path::new("t.toml")).unwrap();
    assert_eq!(c.sip.user_agent_retry_delay, 60);
    assert!(c.sip.user_agent_send_unregister);
    assert_eq!(c.lrn.cache_slots, 1 << 20);
}

#[test]
fn ranges_name_line_and_key() {
    let e = &errs("[sip]\n\nuser_agent_retry_delay = 10\n")[0];
    assert_eq!((e.line, e.key.as_str()), (3, "sip.user_agent_retry_delay"));
    assert!(e.message.contains("30..=600"), "{e}");
    assert_eq!(e.to_string(), "/etc/tandem/t.toml:3: sip.user_agent_retry_delay: must be 30..=600, got 10");
    for bad in ["user_agent_expire = 10", "user_agent_expire = \"never\"", "user_agent_expire = 7201"] {
        let e = &errs(&format!("[sip]\n{bad}\n"))[0];
        assert_eq!((e.line, e.key.as_str()), (2, "sip.user_agent_expire"), "{bad}");
    }
}

#[test]
fn every_bad_value_is_listed_not_only_the_first() {
    let src = "[sip]\nmax_call_duration = 604801\ninvite_timeout = 0\nbusy_stop_switch = \"yes\"\ncolour = 1\n\n\
               [[mapping_gateway]]\nname = 5\naddresses = [\"192.0.2.1\"]\nrate_deck = \"c.csv\"\n";
    let got: Vec<(usize, String)> = errs(src).into_iter().map(|e| (e.line, e.key)).collect();
    let want = [
        (2, "sip.max_call_duration"),
        (3, "sip.invite_timeout"),
        (4, "sip.busy_stop_switch"),
        (5, "sip.colour"),
        (8, "mapping_gateway[0].name"), // and not "missing field `name`" as well
    ];
    assert_eq!(got, want.map(|(l, k)| (l, k.to_owned())));
    // Text that is not TOML stops at its first error: what follows cannot be read.
    let e = errs("[sip\ninvite_timeout = 0\n");
    assert_eq!((e.len(), e[0].line), (1, 1), "{e:?}");
    // A bad value over several lines cannot be blanked line by line: the list stops there.
    let e = errs("[sip]\ninvite_timeout = [1,\n 2]\nbusy_stop_switch = 3\n");
    assert_eq!(e.iter().map(|e| e.line).collect::<Vec<_>>(), [2], "{e:?}");
}

#[test]
fn unknown_keys_are_errors() {
    let e = &errs("[sip]\nuser_agent_retry = 60\n")[0];
    assert_eq!((e.line, e.key.as_str()), (2, "sip.user_agent_retry"));
    assert!(e.message.contains("unknown field"), "{e}");
    let src = FULL.replace("lrn = \"dip\"", "lrn = \"dip\"\ncolour = \"red\"");
    let e = &errs(&src)[0];
    assert_eq!(e.key, "routing_gateway[0].colour");
    let src = FULL.replace("period = \"auto\"", "period = \"auto\"\nrealm = \"x\"");
    assert_eq!(errs(&src)[0].key, "routing_gateway[0].register.realm");
}

#[test]
fn invite_credentials_come_in_pairs() {
    let with = |extra: &str| FULL.replacen("lrn = \"dip\"", &format!("lrn = \"dip\"\n{extra}"), 1);
    let e = errs(&with("auth_user = \"u\""));
    assert!(e.len() == 1 && e[0].message == "`auth_user` needs an `auth_password`", "{e:?}");
    assert_eq!(e[0].key, "routing_gateway[0].auth_user");
    let e = errs(&with("auth_password = \"p\""));
    assert!(e.len() == 1 && e[0].message == "`auth_password` needs an `auth_user`", "{e:?}");
    let c = parse(&with("auth_user = \"u\"\nauth_password = \"p\""), Path::new("/t.toml")).unwrap();
    assert_eq!(c.routing_gateways[0].invite_credentials(), Some(("u", "p")));
}

#[test]
fn cross_checks_list_every_error() {
    let src = FULL.replace("lrn = \"dip\"", "lrn = \"nope\"")
        + "\n[[routing_gateway]]\nname = \"vendor-x\"\naddress = \"198.51.100.21:5060\"\nrate_deck = \"x.csv\"\n"
        + "\n[[mapping_gateway]]\nname = \"b\"\naddresses = [\"192.0.2.10\"]\nrate_deck = \"b.csv\"\n";
    let e = errs(&src);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].message.contains("no [[lrn.source]] named \"nope\""));
    assert_eq!(e[0].key, "routing_gateway[0].lrn");
    assert!(e[1].message.contains("duplicate routing gateway name \"vendor-x\""));
    assert_eq!(e[1].key, "routing_gateway[1].name");
    assert!(e[2].message.contains("192.0.2.10 is also claimed by \"customer-a\""));
    // The same address written IPv4-mapped is the same address.
    let mapped = FULL.to_owned()
        + "\n[[mapping_gateway]]\nname = \"b\"\naddresses = [\"::ffff:192.0.2.10\"]\nrate_deck = \"b.csv\"\n";
    let e = errs(&mapped);
    assert!(e.len() == 1 && e[0].message.contains("is also claimed by \"customer-a\""), "{e:?}");
}

#[test]
fn bad_values() {
    let base = "[[mapping_gateway]]\nname = \"a\"\nrate_deck = \"a.csv\"\n";
    let e = &errs(&format!("{base}addresses = [\"not-an-ip\"]\n"))[0];
    assert_eq!((e.line, e.key.as_str()), (4, "mapping_gateway[0].addresses"));
    let e = &errs(&format!("{base}addresses = [\"192.0.2.1\"]\nstrip_prefix = \"+1\"\n"))[0];
    assert_eq!(e.key, "mapping_gateway[0].strip_prefix");
    let e = &errs("[[mapping_gateway]]\nname = \"a\"\n")[0];
    assert!(e.message.contains("missing field"), "{e}");
    assert_eq!(e.key, "mapping_gateway[0]");
    let e = &errs("[[lrn.source]]\nname = \"d\"\nkind = \"sip-redirect\"\n")[0];
    assert!(e.message.contains("needs `address`"), "{e}");
    let e = &errs("[server]\nlisten = \"nowhere\"\n")[0];
    assert_eq!(e.key, "server.listen");
}

#[test]
fn registering_customers_and_realm_are_checked() {
    let deck = "rate_deck = \"c.csv\"\n";
    let e = &errs(&format!("[[mapping_gateway]]\nname = \"a\"\n{deck}"))[0];
    assert_eq!((e.line, e.key.as_str()), (2, "mapping_gateway[0].name"));
    assert!(e.message.contains("needs `addresses`, or `user` and `password`"), "{e}");
    let e = &errs(&format!("[[mapping_gateway]]\nname = \"a\"\nuser = \"u\"\n{deck}"))[0];
    assert_eq!(
        (e.line, e.key.as_str(), e.message.as_str()),
        (3, "mapping_gateway[0].user", "`user` needs a `password`")
    );
    let two = format!(
        "[[mapping_gateway]]\nname = \"a\"\nuser = \"u\"\npassword = \"p\"\n{deck}\n\
         [[mapping_gateway]]\nname = \"b\"\nuser = \"u\"\npassword = \"q\"\n{deck}"
    );
    let e = &errs(&two)[0];
    assert_eq!((e.line, e.message.as_str()), (9, "user \"u\" is also used on line 3"));
    let e = &errs("[sip]\nrealm = \"a\\\"b\"\n")[0];
    assert_eq!((e.line, e.key.as_str()), (2, "sip.realm"));
    let e = &errs("[sip]\nendpoint_register_min_expires = 600\nendpoint_register_max_expires = 60\n")[0];
    assert_eq!((e.line, e.key.as_str()), (2, "sip.endpoint_register_min_expires"));
    let server = "[server]\nlisten = \"127.0.0.1:5060\"\nshards = 2\nvendor_port_base = ";
    let e = &errs(&format!("{server}5059\n"))[0];
    assert_eq!((e.line, e.key.as_str()), (4, "server.vendor_port_base"));
    assert!(e.message.contains("5059-5060") && e.message.contains("listen port 5060"), "{}", e.message);
    assert!(errs(&format!("{server}65535\n"))[0].message.contains("65535-65536"));
    assert!(parse(&format!("{server}5061\n"), Path::new("/t.toml")).is_ok());
    let e = &errs("[server]\nshards = 1\nrealtime_priority = 100\n")[0];
    assert_eq!(e.to_string(), "/etc/tandem/t.toml:3: server.realtime_priority: must be 0..=99, got 100");
    let c = parse("[server]\nrealtime_priority = 20\n", Path::new("/t.toml")).unwrap();
    assert_eq!(c.server.realtime_priority, 20);
    assert!(c.server.kernel_steering, "on unless turned off");
    let c = parse("[server]\nkernel_steering = false\n", Path::new("/t.toml")).unwrap();
    assert!(!c.server.kernel_steering);
    let e = &errs("[server]\nkernel_steering = 1\n")[0];
    assert_eq!((e.line, e.key.as_str()), (2, "server.kernel_steering"));
}

#[test]
fn lrn_takes_one_source_or_an_ordered_list() {
    let c = parse(&FULL.replace("lrn = \"dip\"", "lrn = [\"npac\", \"dip\"]"), Path::new("/t.toml")).unwrap();
    let names: Vec<&str> = c.routing_gateways[0].lrn.as_ref().unwrap().get_ref().iter().collect();
    assert_eq!(names, ["npac", "dip"]);
    let e = &errs(&FULL.replace("lrn = \"dip\"", "lrn = [\"dip\", \"gone\"]"))[0];
    assert_eq!(
        (e.key.as_str(), e.message.as_str()),
        ("routing_gateway[0].lrn", "no [[lrn.source]] named \"gone\"")
    );
    let e = &errs(&FULL.replace("lrn = \"dip\"", "lrn = [\"dip\", \"dip\"]"))[0];
    assert_eq!(e.message, "\"dip\" is listed twice");
    let e = &errs(&FULL.replace("lrn = \"dip\"", "lrn = []"))[0];
    assert_eq!(e.key, "routing_gateway[0].lrn");
    assert!(e.message.contains("must name at least one"), "{e}");
}
