//! Hot reload under concurrent readers: readers never block, never see a mix
//! of two snapshots, and a bad deck leaves the old snapshot in service.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tandem::routing::decide::{Live, Outcome, Request, decide};
use tandem::routing::snapshot::{LoadError, Router};

const CONFIG: &str = r#"
[[mapping_gateway]]
name = "cust"
addresses = ["192.0.2.10"]
rate_deck = "cust.csv"

[[routing_gateway]]
name = "vendor"
address = "198.51.100.1:5060"
rate_deck = "vendor.csv"
"#;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-reload-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// Both decks carry the generation as their rate, so a mixed snapshot shows.
fn write_generation(dir: &Path, generation: u64) {
    let deck = format!("prefix,rate,initial,increment\n1,0.{generation:06},6,6\n");
    std::fs::write(dir.join("cust.csv"), &deck).expect("write");
    std::fs::write(dir.join("vendor.csv"), &deck).expect("write");
}

fn generation_seen(router: &Router) -> u64 {
    let snap = router.snapshot();
    let req = Request {
        source: "192.0.2.10:5060".parse().expect("addr"),
        number: "1212",
        lrn: None,
        now: 0,
        registered: None,
    };
    let Outcome::Route(d) = decide(&snap, &req, &Live::default()) else { panic!("no route") };
    let cust = d.customer_rate.expect("customer rate").tariff.rate;
    let vendor = d.candidates[0].vendor_rate.as_ref().expect("vendor rate").tariff.rate;
    assert_eq!(cust, vendor, "a reader saw decks from two different snapshots");
    (cust.0 / 1000) as u64
}

#[test]
fn readers_see_whole_snapshots_while_reloading() {
    let dir = dir();
    std::fs::write(dir.join("tandem.toml"), CONFIG).expect("write");
    write_generation(&dir, 1);
    let router = Arc::new(Router::load(&dir.join("tandem.toml")).expect("load"));
    let stop = Arc::new(AtomicBool::new(false));
    let latest = Arc::new(AtomicU64::new(1));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (router, stop, latest) = (Arc::clone(&router), Arc::clone(&stop), Arc::clone(&latest));
            std::thread::spawn(move || {
                let mut reads = 0u64;
                // Bounded: at most 2 M reads even if the writer never stops us.
                while !stop.load(Ordering::Relaxed) && reads < 2_000_000 {
                    let seen = generation_seen(&router);
                    assert!(seen <= latest.load(Ordering::Acquire), "saw a generation not yet published");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for generation in 2..=40 {
        write_generation(&dir, generation);
        latest.store(generation, Ordering::Release);
        router.reload().expect("reload");
        assert_eq!(generation_seen(&router), generation);
    }
    // A broken deck: the reload fails, names the file and line, the old snapshot stays.
    std::fs::write(dir.join("vendor.csv"), "prefix,rate,initial,increment\n1,zero,6,6\n").expect("write");
    let errors = router.reload().expect_err("bad deck must be refused");
    assert!(matches!(&errors[0], LoadError::Deck(e) if e.line == 2 && e.field == "rate"), "{errors:?}");
    assert_eq!(generation_seen(&router), 40);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    assert!(total > 0);
    let _ = std::fs::remove_dir_all(&dir);
}
