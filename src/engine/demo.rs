//! The embedded demo configuration `tandem run` uses when no file is given:
//! loopback only, one customer (127.0.0.1, any port) and two vendors
//! (127.0.0.1:5070, then 127.0.0.1:5080) with small decks.

use std::io;
use std::path::PathBuf;

const CONFIG: &str = r#"# tandem demo configuration (written by `tandem run` without -c)
[server]
listen = "127.0.0.1:5060"
shards = 0

[sip]
invite_timeout = 4

[cdr]
dir = "cdr"

[[mapping_gateway]]
name = "demo-customer"
addresses = ["127.0.0.1"]
rate_deck = "customer.csv"

[[routing_gateway]]
name = "demo-vendor-a"
address = "127.0.0.1:5070"
rate_deck = "vendor-a.csv"
priority = 1

[[routing_gateway]]
name = "demo-vendor-b"
address = "127.0.0.1:5080"
rate_deck = "vendor-b.csv"
priority = 2
"#;

const CUSTOMER: &str = "prefix,rate,initial,increment,description\n1,0.0200,6,6,USA and Canada\n44,0.0300,60,60,United Kingdom\n";
const VENDOR_A: &str = "prefix,rate,initial,increment,description\n1,0.0100,6,6,USA and Canada\n44,0.0150,60,60,United Kingdom\n";
const VENDOR_B: &str = "prefix,rate,initial,increment,description\n1,0.0120,6,6,USA and Canada\n44,0.0180,60,60,United Kingdom\n";

/// Writes the demo config and decks to a fresh folder; returns the config path.
pub fn write() -> io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tandem-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (name, text) in [
        ("tandem.toml", CONFIG),
        ("customer.csv", CUSTOMER),
        ("vendor-a.csv", VENDOR_A),
        ("vendor-b.csv", VENDOR_B),
    ] {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(dir.join("tandem.toml"))
}
