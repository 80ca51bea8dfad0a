//! One routing decision (`routing::decide`) on a carrier-sized configuration:
//! 5,000 customers with two source entries each (a bare IP and an `ip:port`)
//! and 20 vendors on one deck, or 500 vendors. The customer is found by source address for
//! every INVITE, so that lookup must not grow with the customer count. Also
//! loading that configuration, as a start or a SIGHUP reload does.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use tandem::routing::decide::{Live, Request, decide};
use tandem::routing::snapshot::RoutingSnapshot;

const CUSTOMERS: u32 = 5_000;

fn customer_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + i) // 10.0.0.0 + i
}

/// Writes the configuration (with `vendors` vendors, every one rating the
/// number) and its deck; returns the config file's path.
fn write_config(vendors: u32) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-bench-decide-{}-{vendors}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("d.csv"), "prefix,rate,initial,increment\n1,0.02,6,6\n1212,0.01,6,6\n")
        .expect("deck");
    let mut cfg = String::new();
    for i in 0..CUSTOMERS {
        let ip = customer_ip(i);
        let port_ip = customer_ip(CUSTOMERS + i);
        let _ = write!(
            cfg,
            "[[mapping_gateway]]\nname = \"c{i}\"\naddresses = [\"{ip}\", \"{port_ip}:5060\"]\nrate_deck = \"d.csv\"\n\n"
        );
    }
    for i in 0..vendors {
        let _ = write!(
            cfg,
            "[[routing_gateway]]\nname = \"v{i}\"\naddress = \"198.51.{}.{}:5060\"\nrate_deck = \"d.csv\"\npriority = {}\nlowest_profit = -1.0\n\n",
            100 + i / 250,
            1 + i % 250,
            i % 3
        );
    }
    std::fs::write(dir.join("t.toml"), cfg).expect("config");
    dir.join("t.toml")
}

fn bench(c: &mut Criterion) {
    let path = write_config(20);
    let snap = RoutingSnapshot::load(&path).expect("config loads");
    let many = write_config(500);
    let many_snap = RoutingSnapshot::load(&many).expect("config loads");
    let mut g = c.benchmark_group("decide");
    // What a start or a SIGHUP reload costs: parse, check, load the deck, index.
    g.sample_size(10);
    g.bench_function("load_5000_customers", |b| b.iter(|| RoutingSnapshot::load(black_box(&path))));
    g.sample_size(100);
    let cases = [
        ("first_customer_ip", &snap, SocketAddr::from((customer_ip(0), 5060))),
        ("last_customer_ip", &snap, SocketAddr::from((customer_ip(CUSTOMERS - 1), 5060))),
        ("last_customer_ip_port", &snap, SocketAddr::from((customer_ip(2 * CUSTOMERS - 1), 5060))),
        ("500_vendors", &many_snap, SocketAddr::from((customer_ip(0), 5060))),
    ];
    for (name, snap, source) in cases {
        let req = Request { source, number: "12125551212", lrn: None, now: 0, registered: None };
        g.bench_function(name, |b| b.iter(|| decide(black_box(snap), black_box(&req), &Live::default())));
    }
    g.finish();
    for p in [path, many] {
        if let Some(dir) = p.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
