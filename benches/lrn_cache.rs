//! The shared-memory LRN cache at 10 M slots (issue targets: a hit ≤ 50 ns
//! median; the file ≤ 400 MB): hits and inserts of random numbers.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tandem::lrn::cache::{Answer, LrnCache};

const SLOTS: u64 = 10_000_000;
const FILLED: u64 = 5_000_000;

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random 10-digit NANP number.
fn tn(x: &mut u64) -> u64 {
    2_000_000_000 + splitmix(x) % 7_999_999_999
}

fn bench(c: &mut Criterion) {
    let dir =
        std::env::var_os("TANDEM_BENCH_SHM").map_or_else(|| std::path::PathBuf::from("/dev/shm"), Into::into);
    let path = dir.join(format!("tandem-bench-lrn-{}", std::process::id()));
    let cache = LrnCache::open(&path, SLOTS).expect("cache file");
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut seed = 1u64;
    let keys: Vec<u64> = (0..FILLED).map(|_| tn(&mut seed)).collect();
    for &k in &keys {
        cache.put(k, Answer::Ported(k ^ 1), u32::MAX, 0);
    }
    let found = keys.iter().filter(|&&k| cache.get(k, 1).is_some()).count();
    eprintln!(
        "lrn cache: {} slots, file {:.1} MB, {FILLED} inserted, {found} retrievable ({:.2}%)",
        cache.usage(1).slots,
        bytes as f64 / 1e6,
        found as f64 * 100.0 / FILLED as f64
    );
    let mut g = c.benchmark_group("lrn_cache");
    g.throughput(Throughput::Elements(1024));
    let mut pick = 7u64;
    g.bench_function("hit_x1024", |b| {
        b.iter_batched(
            || (0..1024).map(|_| keys[(splitmix(&mut pick) % FILLED) as usize]).collect::<Vec<_>>(),
            |batch| batch.iter().map(|&k| black_box(cache.get(k, 1)).is_some() as u32).sum::<u32>(),
            BatchSize::SmallInput,
        )
    });
    let mut fresh = 99u64;
    g.bench_function("insert_x1024", |b| {
        b.iter_batched(
            || (0..1024).map(|_| tn(&mut fresh)).collect::<Vec<_>>(),
            |batch| batch.iter().for_each(|&k| cache.put(k, Answer::NotPorted, u32::MAX, 0)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    drop(cache);
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, bench);
criterion_main!(benches);
