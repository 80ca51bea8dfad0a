//! Path-compressed digit trie for rate-deck longest-prefix match (DESIGN.md §3).
//!
//! A deck is built once, then frozen and shared read-only by every shard, so the
//! layout is optimised for lookups and size, not for updates:
//!
//! - Every node is 8 bytes (`a: u32`, `meta: u32`) and lives in one `Vec`, addressed
//!   by `u32`. `meta` holds a 10-bit child bitmap (bit `d` = a child for digit `d`), a
//!   has-value flag and a run of up to [`LABEL_DIGITS`] digits packed as nibbles: the
//!   path compression of §3. Longer runs are chained through single-child nodes.
//! - The children of a node are one contiguous block starting at `a`, in digit order;
//!   the child for digit `d` is found with a popcount of the lower bitmap bits, so no
//!   node owns a `Vec` and a step costs one load.
//! - The value id of a leaf is `a` itself (a leaf has no children). An inner node
//!   with a value keeps it in an extra slot at the head of its child block, next to
//!   the children the walk is about to load anyway.
//! - Nodes are laid out breadth first, so the first levels share a few cache lines.
//! - A jump table resolves a number's first digits (up to [`MAX_JUMP_DIGITS`], sized
//!   to the deck) in one load, so a lookup goes straight to the deep levels. On a 3 M
//!   deck a lookup then costs one cache miss, plus one when it goes a level deeper.
//!
//! The trie maps a prefix to a `u32` value id; the caller keeps the values (the
//! "side array" of §3) and indexes it with [`Match::value`].

use std::collections::HashMap;
use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};

/// Digits a node's label holds inline; longer runs take a chain of nodes.
pub const LABEL_DIGITS: usize = 4;

/// Longest prefix the builder accepts: a key is packed into a `u128`, 4 bits a digit.
/// E.164 numbers have at most 15 digits, so this leaves room for tech prefixes.
pub const MAX_DIGITS: usize = 32;

/// Longest digit string the jump table resolves (10^6 entries of 12 bytes).
pub const MAX_JUMP_DIGITS: usize = 6;

/// Heap the jump table may take, per prefix: it is sized to the deck.
pub const JUMP_BYTES_PER_PREFIX: usize = 8;

/// Most prefixes one trie holds, so that node indices always fit a `u32`
/// (a prefix adds at most ten nodes).
pub const MAX_PREFIXES: usize = 1 << 26;

const BITMAP_MASK: u32 = 0x3ff;
const HAS_VALUE: u32 = 1 << 10;
const LEN_SHIFT: u32 = 11;
const LABEL_SHIFT: u32 = 16;
/// Returned by [`key_digit`] past the end of a key.
const END: u32 = u32::MAX;

/// Why a prefix was refused by [`TrieBuilder::insert`]; the deck loader reports it
/// and keeps the old snapshot in service (DESIGN.md §3, reload).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TrieError {
    /// The prefix had no digits: it would match every number.
    #[error("empty prefix")]
    Empty,
    /// The prefix holds a byte other than an ASCII digit.
    #[error("prefix {prefix:?} holds a non-digit")]
    NotDigit {
        /// The prefix as given (lossy UTF-8).
        prefix: String,
    },
    /// The prefix is longer than [`MAX_DIGITS`].
    #[error("prefix {prefix:?} is longer than {MAX_DIGITS} digits")]
    TooLong {
        /// The prefix as given.
        prefix: String,
    },
    /// The prefix was inserted before.
    #[error("duplicate prefix {prefix}, first inserted with value {first}")]
    Duplicate {
        /// The repeated prefix.
        prefix: String,
        /// The value id it was first inserted with.
        first: u32,
    },
    /// The builder already holds [`MAX_PREFIXES`] prefixes.
    #[error("more than {MAX_PREFIXES} prefixes")]
    TooMany,
}

/// A longest-prefix match: the value id of the matched prefix and its length in digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// Value id given to [`TrieBuilder::insert`] for the matched prefix.
    pub value: u32,
    /// Number of leading digits of the number that matched.
    pub len: usize,
}

/// Collects a deck's prefixes in any order, rejecting bad and duplicate ones as they
/// come (so the loader can name the offending line), then builds a [`Trie`].
#[derive(Debug, Default, Clone)]
pub struct TrieBuilder {
    /// Packed key (see [`pack`]) to value id.
    keys: HashMap<u128, u32, BuildHasherDefault<KeyHasher>>,
}

impl TrieBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `n` prefixes, to avoid rehashing a large deck.
    pub fn with_capacity(n: usize) -> Self {
        Self { keys: HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default()) }
    }

    /// Number of prefixes inserted so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was inserted yet.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds `prefix` (ASCII digits) with value id `value`.
    ///
    /// Errs on an empty prefix, a non-digit, a prefix longer than [`MAX_DIGITS`], and
    /// with [`TrieError::Duplicate`] (carrying the earlier value id) on a repeat.
    pub fn insert(&mut self, prefix: &[u8], value: u32) -> Result<(), TrieError> {
        let key = pack(prefix)?;
        if self.keys.len() >= MAX_PREFIXES {
            return Err(TrieError::TooMany);
        }
        match self.keys.entry(key) {
            Entry::Occupied(e) => Err(TrieError::Duplicate { prefix: lossy(prefix), first: *e.get() }),
            Entry::Vacant(e) => {
                e.insert(value);
                Ok(())
            }
        }
    }

    /// Freezes the deck into a compact [`Trie`].
    pub fn build(self) -> Trie {
        let len = self.keys.len();
        let mut keys: Vec<(u128, u32)> = self.keys.into_iter().collect();
        keys.sort_unstable_by_key(|&(key, _)| key);
        let mut nodes = Assembler::new(&keys).run();
        nodes.shrink_to_fit();
        Trie { nodes, len, ..Trie::default() }.with_jumps()
    }
}

/// An immutable deck: longest-prefix match in a handful of node loads (DESIGN.md §3).
#[derive(Clone, Default)]
pub struct Trie {
    /// Breadth-first node array; node 0 is the root.
    nodes: Vec<Node>,
    /// Walk state after the first `jump_digits` digits, indexed by their value.
    jumps: Vec<Jump>,
    /// How many leading digits `jumps` resolves.
    jump_digits: usize,
    /// Number of prefixes.
    len: usize,
}

impl Trie {
    /// The longest prefix of `number` present in the trie, with its value id and
    /// length. A non-digit byte in `number` ends the match there.
    pub fn longest_match(&self, number: &[u8]) -> Option<Match> {
        let Some(jump) = self.jump(number) else { return self.walk(number, 0, 0, Best::NONE) };
        let best = Best { value: jump.value, slot: false, len: jump.best_len() };
        if jump.is_resume() {
            return self.walk(number, jump.a, jump.pos(), best);
        }
        let node = Node { a: jump.a, meta: jump.meta & (BITMAP_MASK | HAS_VALUE) };
        match node.child(number.get(self.jump_digits)) {
            Some(child) => self.walk(number, child, self.jump_digits + 1, best),
            None => best.resolve(self),
        }
    }

    /// The node walk from node `index`, whose label starts at `pos` in `number`.
    fn walk(&self, number: &[u8], mut index: u32, mut pos: usize, mut best: Best) -> Option<Match> {
        while let Some(&node) = self.nodes.get(index as usize) {
            let Some(end) = node.match_label(number, pos) else { break };
            if node.has_value() {
                best = Best { value: node.a, slot: node.bitmap() != 0, len: end };
            }
            let Some(child) = node.child(number.get(end)) else { break };
            (index, pos) = (child, end + 1);
        }
        best.resolve(self)
    }

    /// The value id of exactly `prefix`, if it was inserted.
    pub fn get(&self, prefix: &[u8]) -> Option<u32> {
        let mut index = 0;
        let mut pos = 0;
        loop {
            let node = self.nodes.get(index as usize)?;
            pos = node.match_label(prefix, pos)?;
            if pos == prefix.len() {
                return self.value(index);
            }
            index = node.child(prefix.get(pos))?;
            pos += 1;
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the trie holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes the trie owns: nodes (value ids included) and the jump table.
    pub fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * size_of::<Node>() + self.jumps.capacity() * size_of::<Jump>()
    }

    /// Every `(prefix, value id)`, in lexicographic order of the prefix.
    pub fn iter(&self) -> impl Iterator<Item = (String, u32)> + '_ {
        Iter { trie: self, stack: vec![(0, String::new())] }
    }

    /// The value id stored at node `index`, if it has one.
    fn value(&self, index: u32) -> Option<u32> {
        let node = self.nodes.get(index as usize)?;
        if !node.has_value() {
            return None;
        }
        Some(self.nodes.get(node.value_slot(index) as usize)?.a)
    }

    /// The precomputed walk state for the first `jump_digits` digits of `number`.
    fn jump(&self, number: &[u8]) -> Option<&Jump> {
        let head = number.get(..self.jump_digits)?;
        let index = head.iter().try_fold(0, |acc, &byte| {
            let digit = byte.wrapping_sub(b'0');
            (digit < 10).then_some(acc * 10 + usize::from(digit))
        })?;
        self.jumps.get(index)
    }

    /// Fills `jumps`, sized to cost at most [`JUMP_BYTES_PER_PREFIX`].
    fn with_jumps(mut self) -> Self {
        let budget = self.len * JUMP_BYTES_PER_PREFIX;
        let fits = |k: &usize| 10usize.pow(*k as u32) * size_of::<Jump>() <= budget;
        self.jump_digits = (1..=MAX_JUMP_DIGITS).take_while(fits).last().unwrap_or(0);
        if self.jump_digits > 0 {
            let count = 10usize.pow(self.jump_digits as u32);
            self.jumps = (0..count).map(|i| self.jump_for(i)).collect();
        }
        self
    }

    /// Walks the `jump_digits` digits of `index` (leading zeros kept) as far as they go.
    fn jump_for(&self, index: usize) -> Jump {
        let digits = format!("{index:0width$}", width = self.jump_digits).into_bytes();
        let (mut index, mut pos, mut best) = (0, 0, Best::NONE);
        while let Some(&node) = self.nodes.get(index as usize) {
            if !node.label_starts(&digits, pos) {
                break;
            }
            let end = pos + node.label_len();
            if end > digits.len() {
                return Jump::resume(index, pos, best);
            }
            if node.has_value() {
                best = Best { value: self.value(index).unwrap_or(0), slot: false, len: end };
            }
            if end == digits.len() {
                return Jump::at_end(node, best);
            }
            let Some(child) = node.child(digits.get(end)) else { break };
            (index, pos) = (child, end + 1);
        }
        Jump::resume(u32::MAX, 0, best)
    }
}

/// Where the walk stands after a number's first `jump_digits` digits, precomputed per
/// digit string (a level-compressed root, as DIR-24-8 does for IP routes): a lookup
/// starts one load away from the deep, cache-missing levels instead of six. 12 bytes,
/// so the 10^6-entry table of a 3 M deck stays within the TLB's reach.
#[derive(Clone, Copy, Debug, Default)]
struct Jump {
    /// At a node's end: that node's `a` (its child block). Else the node to resume at.
    a: u32,
    /// Value id of the longest match so far (valid when the length is not 0).
    value: u32,
    /// Child bitmap and has-value flag of the node (as in [`Node`]), [`RESUME`],
    /// the match length at [`BEST_SHIFT`] and the resume position at [`POS_SHIFT`].
    meta: u32,
}

const RESUME: u32 = 1 << 15;
const BEST_SHIFT: u32 = 16;
const POS_SHIFT: u32 = 24;

impl Jump {
    /// The digits end exactly where `node`'s label does: continue with its children.
    fn at_end(node: Node, best: Best) -> Jump {
        let meta = node.meta & (BITMAP_MASK | HAS_VALUE) | (best.len as u32) << BEST_SHIFT;
        Jump { a: node.a, value: best.value, meta }
    }

    /// The digits end inside the label of node `index` (which starts at `pos`), or
    /// left the trie (`index` out of range): walk from there.
    fn resume(index: u32, pos: usize, best: Best) -> Jump {
        let meta = RESUME | (best.len as u32) << BEST_SHIFT | (pos as u32) << POS_SHIFT;
        Jump { a: index, value: best.value, meta }
    }

    fn is_resume(self) -> bool {
        self.meta & RESUME != 0
    }

    fn best_len(self) -> usize {
        ((self.meta >> BEST_SHIFT) & 0xff) as usize
    }

    fn pos(self) -> usize {
        (self.meta >> POS_SHIFT) as usize
    }
}

/// The best match so far: a value id, or (`slot`) the node holding it, read at the end.
#[derive(Clone, Copy)]
struct Best {
    value: u32,
    slot: bool,
    len: usize,
}

impl Best {
    const NONE: Best = Best { value: 0, slot: false, len: 0 };

    /// The match, reading the value id from its slot if needed.
    fn resolve(self, trie: &Trie) -> Option<Match> {
        if self.len == 0 {
            return None;
        }
        let value = if self.slot { trie.nodes.get(self.value as usize)?.a } else { self.value };
        Some(Match { value, len: self.len })
    }
}

impl std::fmt::Debug for Trie {
    /// Sizes only: a deck has millions of nodes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trie").field("len", &self.len).field("nodes", &self.nodes.len()).finish()
    }
}

/// One trie node; see the module doc for the encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Node {
    /// First child (inner node) or value id (leaf).
    a: u32,
    /// Bitmap, has-value flag, label length and label.
    meta: u32,
}

impl Node {
    fn bitmap(self) -> u32 {
        self.meta & BITMAP_MASK
    }

    fn has_value(self) -> bool {
        self.meta & HAS_VALUE != 0
    }

    fn label_len(self) -> usize {
        ((self.meta >> LEN_SHIFT) & 0x7) as usize
    }

    fn label_digit(self, k: usize) -> u32 {
        (self.meta >> (LABEL_SHIFT + 4 * k as u32)) & 0xf
    }

    /// Where this node's value id is: in the node for a leaf, else at the head of
    /// its child block.
    fn value_slot(self, index: u32) -> u32 {
        if self.bitmap() == 0 { index } else { self.a }
    }

    /// Position in `number` after this node's label, if `number` spells it at `pos`.
    /// Compares all [`LABEL_DIGITS`] lanes at once, then masks to the label length.
    fn match_label(self, number: &[u8], pos: usize) -> Option<usize> {
        let len = self.label_len();
        let mut diff = 0u64;
        for k in 0..LABEL_DIGITS {
            let digit = number.get(pos + k).map_or(0xff, |b| b.wrapping_sub(b'0'));
            diff |= u64::from(u32::from(digit) ^ self.label_digit(k)) << (8 * k);
        }
        let mask = (1u64 << (8 * len)) - 1;
        (diff & mask == 0).then_some(pos + len)
    }

    /// Whether `digits` from `pos` agree with this node's label as far as both go.
    fn label_starts(self, digits: &[u8], pos: usize) -> bool {
        let spelled = digits.get(pos..).unwrap_or_default();
        let same = |(k, &byte): (usize, &u8)| u32::from(byte.wrapping_sub(b'0')) == self.label_digit(k);
        spelled.iter().take(self.label_len()).enumerate().all(same)
    }

    /// Index of the child for the digit `byte`, if there is one.
    fn child(self, byte: Option<&u8>) -> Option<u32> {
        let digit = byte?.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        let bit = 1u32 << digit;
        if self.bitmap() & bit == 0 {
            return None;
        }
        Some(self.first_child() + (self.bitmap() & (bit - 1)).count_ones())
    }

    fn first_child(self) -> u32 {
        self.a + u32::from(self.has_value())
    }
}

/// Depth-first walk of the trie, children in digit order.
struct Iter<'a> {
    trie: &'a Trie,
    /// Nodes still to visit, with the digits spelled down to (not including) their label.
    stack: Vec<(u32, String)>,
}

impl Iterator for Iter<'_> {
    type Item = (String, u32);

    fn next(&mut self) -> Option<(String, u32)> {
        while let Some((index, mut path)) = self.stack.pop() {
            let node = *self.trie.nodes.get(index as usize)?;
            path.extend((0..node.label_len()).map(|k| digit_char(node.label_digit(k))));
            for digit in (0..10).rev() {
                if let Some(child) = node.child(Some(&(b'0' + digit))) {
                    self.stack.push((child, format!("{path}{}", char::from(b'0' + digit))));
                }
            }
            if let Some(value) = self.trie.value(index) {
                return Some((path, value));
            }
        }
        None
    }
}

fn digit_char(digit: u32) -> char {
    char::from_digit(digit, 10).unwrap_or('?')
}

/// A node still to fill: it sits at `index` and covers the sorted keys `lo..hi`, which
/// all share their first `pos` digits.
#[derive(Clone, Copy)]
struct Job {
    index: u32,
    lo: usize,
    hi: usize,
    pos: usize,
}

/// Lays the sorted keys out as nodes, breadth first.
struct Assembler<'k> {
    keys: &'k [(u128, u32)],
    nodes: Vec<Node>,
    queue: VecDeque<Job>,
}

impl<'k> Assembler<'k> {
    fn new(keys: &'k [(u128, u32)]) -> Self {
        let mut nodes = Vec::with_capacity(keys.len() * 3 / 2 + 1);
        nodes.push(Node::default());
        let queue = VecDeque::from([Job { index: 0, lo: 0, hi: keys.len(), pos: 0 }]);
        Self { keys, nodes, queue }
    }

    fn run(mut self) -> Vec<Node> {
        while let Some(job) = self.queue.pop_front() {
            if job.lo < job.hi {
                self.fill(job);
            }
        }
        self.nodes
    }

    fn digit(&self, k: usize, pos: usize) -> u32 {
        self.keys.get(k).map_or(END, |&(key, _)| key_digit(key, pos))
    }

    /// Sets the node of `job`: its label, value and child block.
    fn fill(&mut self, mut job: Job) {
        let mut meta = 0;
        let mut len = 0;
        while len < LABEL_DIGITS {
            let digit = self.digit(job.lo, job.pos);
            if digit > 9 || digit != self.digit(job.hi - 1, job.pos) {
                break;
            }
            meta |= digit << (LABEL_SHIFT + 4 * len as u32);
            len += 1;
            job.pos += 1;
        }
        meta |= (len as u32) << LEN_SHIFT;
        let value = (self.digit(job.lo, job.pos) == END).then(|| self.keys[job.lo].1);
        if value.is_some() {
            meta |= HAS_VALUE;
            job.lo += 1;
        }
        let node = match value {
            Some(value) if job.lo == job.hi => Node { a: value, meta },
            _ => self.children(job, value, meta),
        };
        self.nodes[job.index as usize] = node;
    }

    /// Appends the child block (value slot first) of an inner node and queues the children.
    fn children(&mut self, job: Job, value: Option<u32>, mut meta: u32) -> Node {
        let base = self.nodes.len() as u32;
        if let Some(value) = value {
            self.nodes.push(Node { a: value, meta: 0 });
        }
        let mut lo = job.lo;
        while lo < job.hi {
            let digit = self.digit(lo, job.pos);
            let hi = lo + self.keys[lo..job.hi].partition_point(|&(key, _)| key_digit(key, job.pos) == digit);
            meta |= 1 << digit;
            let index = self.nodes.len() as u32;
            self.nodes.push(Node::default());
            self.queue.push_back(Job { index, lo, hi, pos: job.pos + 1 });
            lo = hi;
        }
        Node { a: base, meta }
    }
}

/// Hashes a packed key with one multiply-xorshift round: a deck comes from the
/// operator, not the network, so SipHash's flood resistance is not worth its time
/// on a multi-million-line reload.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.write_u64((key >> 64) as u64 ^ (key as u64).rotate_left(29));
    }

    fn write_u64(&mut self, n: u64) {
        let x = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Packs a prefix into a `u128`, digit `i` as `digit + 1` in nibble `i` from the top,
/// so that integer order is lexicographic order and shorter keys sort first.
fn pack(prefix: &[u8]) -> Result<u128, TrieError> {
    if prefix.is_empty() {
        return Err(TrieError::Empty);
    }
    if !prefix.iter().all(u8::is_ascii_digit) {
        return Err(TrieError::NotDigit { prefix: lossy(prefix) });
    }
    if prefix.len() > MAX_DIGITS {
        return Err(TrieError::TooLong { prefix: lossy(prefix) });
    }
    let nibble = |(i, &c): (usize, &u8)| u128::from(c - b'0' + 1) << (124 - 4 * i);
    Ok(prefix.iter().enumerate().map(nibble).fold(0, |key, n| key | n))
}

/// Digit `i` of a packed key, or [`END`] past its end.
fn key_digit(key: u128, i: usize) -> u32 {
    if i >= MAX_DIGITS {
        return END;
    }
    (((key >> (124 - 4 * i)) & 0xf) as u32).wrapping_sub(1)
}

fn lossy(prefix: &[u8]) -> String {
    String::from_utf8_lossy(prefix).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(prefixes: &[(&str, u32)]) -> Trie {
        let mut builder = TrieBuilder::new();
        for &(prefix, value) in prefixes {
            builder.insert(prefix.as_bytes(), value).expect("valid prefix");
        }
        builder.build()
    }

    fn lpm(trie: &Trie, number: &str) -> Option<(u32, usize)> {
        trie.longest_match(number.as_bytes()).map(|m| (m.value, m.len))
    }

    #[test]
    fn empty() {
        let t = TrieBuilder::new().build();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(lpm(&t, "12345"), None);
        assert_eq!(lpm(&t, ""), None);
        assert_eq!(t.get(b"1"), None);
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn single() {
        let t = trie(&[("44", 7)]);
        assert_eq!(t.len(), 1);
        assert_eq!(lpm(&t, "44207"), Some((7, 2)));
        assert_eq!(lpm(&t, "44"), Some((7, 2)));
        assert_eq!(lpm(&t, "4"), None);
        assert_eq!(lpm(&t, "45"), None);
        assert_eq!(t.get(b"44"), Some(7));
        assert_eq!(t.get(b"4"), None);
        assert_eq!(t.get(b"442"), None);
    }

    #[test]
    fn nested() {
        let t = trie(&[("123", 3), ("1", 1), ("12", 2)]);
        assert_eq!(lpm(&t, "1"), Some((1, 1)));
        assert_eq!(lpm(&t, "12"), Some((2, 2)));
        assert_eq!(lpm(&t, "1234"), Some((3, 3)));
        assert_eq!(lpm(&t, "2"), None);
        assert_eq!(lpm(&t, "13"), Some((1, 1)));
        assert_eq!(t.get(b"12"), Some(2));
        assert_eq!(t.get(b"1234"), None);
    }

    #[test]
    fn path_compression_splits() {
        let t = trie(&[("12345", 1), ("123", 2), ("12399", 3)]);
        assert_eq!(lpm(&t, "1234567"), Some((1, 5)));
        assert_eq!(lpm(&t, "1234"), Some((2, 3)));
        assert_eq!(lpm(&t, "12399"), Some((3, 5)));
        assert_eq!(lpm(&t, "12398"), Some((2, 3)));
        assert_eq!(lpm(&t, "12"), None);
        assert_eq!(t.get(b"1234"), None);
        assert_eq!(t.get(b"12345"), Some(1));
    }

    #[test]
    fn long_runs_chain() {
        let long = "1234567890123456789";
        let t = trie(&[(long, 1), ("12345678901", 2)]);
        assert_eq!(lpm(&t, &format!("{long}0")), Some((1, long.len())));
        assert_eq!(lpm(&t, "123456789012"), Some((2, 11)));
        assert_eq!(lpm(&t, "1234567890"), None);
        assert_eq!(t.get(long.as_bytes()), Some(1));
    }

    #[test]
    fn duplicates_report_first_id() {
        let mut b = TrieBuilder::new();
        assert_eq!(b.insert(b"441", 5), Ok(()));
        let err = b.insert(b"441", 9);
        assert_eq!(err, Err(TrieError::Duplicate { prefix: "441".into(), first: 5 }));
        assert_eq!(b.build().get(b"441"), Some(5));
    }

    #[test]
    fn bad_prefixes_rejected() {
        let mut b = TrieBuilder::new();
        assert_eq!(b.insert(b"", 0), Err(TrieError::Empty));
        assert_eq!(b.insert(b"12a", 0), Err(TrieError::NotDigit { prefix: "12a".into() }));
        assert_eq!(b.insert(b"+1", 0), Err(TrieError::NotDigit { prefix: "+1".into() }));
        let long = "1".repeat(MAX_DIGITS + 1);
        assert_eq!(b.insert(long.as_bytes(), 0), Err(TrieError::TooLong { prefix: long }));
        assert!(b.insert("1".repeat(MAX_DIGITS).as_bytes(), 0).is_ok());
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn non_digits_in_number_end_match() {
        let t = trie(&[("1", 1), ("123", 3)]);
        assert_eq!(lpm(&t, "12a3"), Some((1, 1)));
        assert_eq!(lpm(&t, "1;npdi"), Some((1, 1)));
        assert_eq!(lpm(&t, "+1234"), None);
        assert_eq!(lpm(&t, "1\u{ff}"), Some((1, 1)));
        assert_eq!(t.get(b"1x"), None);
    }

    #[test]
    fn iter_in_lexicographic_order() {
        let t = trie(&[("2", 0), ("12", 1), ("1", 2), ("123", 3), ("13", 4), ("0999", 5)]);
        let all: Vec<(String, u32)> = t.iter().collect();
        let want = [("0999", 5), ("1", 2), ("12", 1), ("123", 3), ("13", 4), ("2", 0)];
        assert_eq!(all, want.map(|(p, v)| (p.to_string(), v)));
    }

    #[test]
    fn compact_and_shareable() {
        fn shareable<T: Send + Sync + Clone + std::fmt::Debug>() {}
        shareable::<Trie>();
        let t = trie(&[("1", 1), ("12", 2)]);
        assert!(t.heap_bytes() >= 3 * size_of::<Node>());
        assert_eq!(format!("{t:?}"), "Trie { len: 2, nodes: 3 }");
    }

    #[test]
    fn pack_orders_lexicographically() {
        let keys = ["0", "00", "01", "1", "12", "123", "13", "2", "9", "99"];
        let packed: Vec<u128> = keys.iter().map(|k| pack(k.as_bytes()).expect("digits")).collect();
        assert!(packed.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(key_digit(packed[5], 2), 3);
        assert_eq!(key_digit(packed[5], 3), END);
    }
}
