//! Rate-deck trie against `prefix-trie` and `fst` on the same deck (DESIGN.md §3).
//!
//! Deck: 3 M distinct random prefixes of 3–10 digits (length uniform, so 3–5 digits
//! are saturated). Numbers: 1 M random 11-digit numbers, walked in order so that each
//! batch of 1024 lookups touches fresh numbers. Every structure takes the ASCII number,
//! so packing it (prefix-trie) counts as part of its lookup.
//!
//! Heap bytes are counted by a global allocator and printed to stderr.
//!
//! `cargo bench --bench trie -- --warm-up-time 1 --measurement-time 3`

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use fst::raw::Output;
use prefix_trie::PrefixMap;
use tandem::routing::trie::{Trie, TrieBuilder};

const PREFIXES: usize = 3_000_000;
const NUMBERS: usize = 1 << 20;
const NUMBER_DIGITS: usize = 11;
const BATCH: usize = 1024;

/// Counts live heap bytes so the bench can report what each structure owns.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System` upholds the `GlobalAlloc` contract; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours: `layout` has a non-zero size.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours: `layout` has a non-zero size.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block from this allocator (so from `System`)
        // with the layout it was allocated with.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller passes a block from `System` with its layout and a valid
        // non-zero `new_size`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// splitmix64: a deterministic RNG without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    fn digits(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b'0' + self.below(10) as u8).collect()
    }
}

type Deck = Vec<(Vec<u8>, u32)>;

/// `n` distinct prefixes of 3–10 digits in random order, value id = position.
fn deck(n: usize, rng: &mut SplitMix) -> Deck {
    let mut seen = HashSet::with_capacity(n);
    let mut deck = Vec::with_capacity(n);
    while deck.len() < n {
        let len = 3 + rng.below(8) as usize;
        let prefix = rng.digits(len);
        if seen.insert(prefix.clone()) {
            deck.push((prefix, deck.len() as u32));
        }
    }
    deck
}

fn numbers(rng: &mut SplitMix) -> Vec<u8> {
    rng.digits(NUMBERS * NUMBER_DIGITS)
}

fn build_tandem(deck: &Deck) -> Trie {
    let mut builder = TrieBuilder::with_capacity(deck.len());
    for (prefix, value) in deck {
        builder.insert(prefix, *value).expect("deck is distinct digits");
    }
    builder.build()
}

/// A digit string as `prefix-trie`'s generic `(u64, bits)` prefix, 4 bits a digit.
fn nibbles(digits: &[u8]) -> (u64, u8) {
    let repr = digits.iter().enumerate().fold(0u64, |r, (i, &c)| r | u64::from(c - b'0') << (60 - 4 * i));
    (repr, 4 * digits.len() as u8)
}

fn build_prefix_trie(deck: &Deck) -> PrefixMap<(u64, u8), u32> {
    let mut map = PrefixMap::new();
    for (prefix, value) in deck {
        map.insert(nibbles(prefix), *value);
    }
    map
}

fn lpm_prefix_trie(map: &PrefixMap<(u64, u8), u32>, number: &[u8]) -> Option<(u32, usize)> {
    map.get_lpm(&nibbles(number)).map(|(p, &v)| (v, usize::from(p.1 / 4)))
}

fn build_fst(deck: &Deck) -> fst::Map<Vec<u8>> {
    let mut sorted: Vec<(&[u8], u64)> = deck.iter().map(|(p, v)| (p.as_slice(), u64::from(*v))).collect();
    sorted.sort_unstable();
    fst::Map::from_iter(sorted).expect("sorted distinct keys")
}

/// One walk down the FST, remembering the last final state: faster than probing
/// each prefix of the number with `get`.
fn lpm_fst(map: &fst::Map<Vec<u8>>, number: &[u8]) -> Option<(u32, usize)> {
    let fst = map.as_fst();
    let mut node = fst.root();
    let mut out = Output::zero();
    let mut best = None;
    for (i, &byte) in number.iter().enumerate() {
        let Some(t) = node.find_input(byte) else { break };
        let tr = node.transition(t);
        out = out.cat(tr.out);
        node = fst.node(tr.addr);
        if node.is_final() {
            best = Some((out.cat(node.final_output()).value() as u32, i + 1));
        }
    }
    best
}

/// Builds with `build`, printing time and the heap it kept.
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock by definition
fn measured<T>(name: &str, n: usize, build: impl FnOnce() -> T) -> T {
    let before = LIVE.load(Ordering::Relaxed);
    let start = Instant::now();
    let built = build();
    let elapsed = start.elapsed();
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    eprintln!(
        "{name:>12}: built in {elapsed:>8.2?}, heap {:>6.1} MB = {:>5.1} bytes/prefix",
        bytes as f64 / 1e6,
        bytes as f64 / n as f64
    );
    built
}

struct Fixture {
    deck: Deck,
    numbers: Vec<u8>,
    tandem: Trie,
    prefix_trie: PrefixMap<(u64, u8), u32>,
    fst: fst::Map<Vec<u8>>,
}

fn fixture() -> Fixture {
    let mut rng = SplitMix(0x7a4d_e3c1);
    let deck = deck(PREFIXES, &mut rng);
    let numbers = numbers(&mut rng);
    let tandem = measured("tandem", deck.len(), || build_tandem(&deck));
    eprintln!("{:>12}  heap_bytes() = {} ({:?})", "", tandem.heap_bytes(), tandem);
    let prefix_trie = measured("prefix-trie", deck.len(), || build_prefix_trie(&deck));
    let fst = measured("fst", deck.len(), || build_fst(&deck));
    let fixture = Fixture { deck, numbers, tandem, prefix_trie, fst };
    check(&fixture);
    fixture
}

/// The three structures must agree before their speed means anything.
fn check(f: &Fixture) {
    let mut hits = 0;
    for number in f.numbers.chunks_exact(NUMBER_DIGITS).take(100_000) {
        let ours = f.tandem.longest_match(number).map(|m| (m.value, m.len));
        assert_eq!(ours, lpm_prefix_trie(&f.prefix_trie, number));
        assert_eq!(ours, lpm_fst(&f.fst, number));
        hits += usize::from(ours.is_some());
    }
    eprintln!("{:>12}  agree on 100000 numbers, {hits} matched", "");
}

/// Runs `lookup` over the next `BATCH` numbers, wrapping around the pool.
fn batches<'a>(numbers: &'a [u8], mut lookup: impl FnMut(&[u8]) -> u32 + 'a) -> impl FnMut() -> u32 + 'a {
    let mut cursor = 0;
    move || {
        let mut sum = 0u32;
        let batch = &numbers[cursor * NUMBER_DIGITS..(cursor + BATCH) * NUMBER_DIGITS];
        for number in batch.chunks_exact(NUMBER_DIGITS) {
            sum = sum.wrapping_add(lookup(black_box(number)));
        }
        cursor = (cursor + BATCH) % NUMBERS;
        sum
    }
}

fn lookups(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("trie_lookup_3M");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut run = batches(&f.numbers, |n| f.tandem.longest_match(n).map_or(0, |m| m.value));
    group.bench_function("tandem", |b| b.iter(&mut run));
    let mut run = batches(&f.numbers, |n| lpm_prefix_trie(&f.prefix_trie, n).map_or(0, |m| m.0));
    group.bench_function("prefix-trie", |b| b.iter(&mut run));
    let mut run = batches(&f.numbers, |n| lpm_fst(&f.fst, n).map_or(0, |m| m.0));
    group.bench_function("fst", |b| b.iter(&mut run));
    group.finish();
}

fn builds(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("trie_build_3M");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    let deck = &f.deck;
    group.bench_function("tandem", |b| {
        b.iter_batched(|| (), |()| build_tandem(deck), BatchSize::PerIteration)
    });
    group.bench_function("prefix-trie", |b| {
        b.iter_batched(|| (), |()| build_prefix_trie(deck), BatchSize::PerIteration)
    });
    group.bench_function("fst", |b| b.iter_batched(|| (), |()| build_fst(deck), BatchSize::PerIteration));
    group.finish();
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    lookups(c, &f);
    builds(c, &f);
}

criterion_group!(trie, benches);
criterion_main!(trie);
