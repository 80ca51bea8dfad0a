//! Loading a 1 M-row rate deck from CSV (issue target: ≤ 1.5 s), the path a
//! SIGHUP reload takes for every deck.
#![allow(clippy::disallowed_methods)] // a bench reads the clock

use criterion::{Criterion, criterion_group, criterion_main};
use std::io::Write;
use tandem::routing::deck::Deck;

const ROWS: usize = 1_000_000;

fn write_deck(path: &std::path::Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create deck"));
    writeln!(out, "prefix,rate,initial,increment,effective,description").expect("write");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut seen = std::collections::HashSet::with_capacity(ROWS);
    while seen.len() < ROWS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 3 + (x % 8) as usize; // 3..=10 digits
        let prefix = format!("{:010}", x >> 20)[..len].to_owned();
        if seen.insert(prefix.clone()) {
            let rate = (x >> 40) % 100_000;
            writeln!(out, "{prefix},0.{rate:06},6,6,2026-01-01,route {len}").expect("write");
        }
    }
}

fn load(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("tandem-bench-deck-{}.csv", std::process::id()));
    write_deck(&path);
    let deck = Deck::load(&path).expect("deck loads");
    eprintln!(
        "deck: {} rows, {} prefixes, trie {} bytes ({:.1} B/prefix), {} bytes with rows",
        deck.rows(),
        deck.prefixes(),
        deck.trie_bytes(),
        deck.trie_bytes() as f64 / deck.prefixes() as f64,
        deck.heap_bytes()
    );
    let mut g = c.benchmark_group("deck");
    g.sample_size(10);
    g.bench_function("load_1m_rows_csv", |b| b.iter(|| Deck::load(&path).expect("deck loads")));
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, load);
criterion_main!(benches);
