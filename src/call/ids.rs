//! Identifiers tandem mints (Call-IDs, tags, branches) and the ownership
//! rule that maps every message to one shard (DESIGN.md §1).

/// Prefix of Call-IDs tandem generates: `tdm<shard>-...`.
const PREFIX: &[u8] = b"tdm";

/// The shard that owns a Call-ID: the one encoded in tandem's own Call-IDs,
/// a hash of anyone else's. Every message of a dialog shares its Call-ID,
/// so one rule routes all of them with no lookup.
pub fn owner(call_id: &[u8], shards: u16) -> u16 {
    if shards <= 1 {
        return 0;
    }
    if let Some(shard) = encoded_shard(call_id)
        && shard < shards
    {
        return shard;
    }
    (fnv1a(call_id) % u64::from(shards)) as u16
}

/// Whether tandem minted this Call-ID (it then names one of our vendor legs).
pub fn is_ours(call_id: &str) -> bool {
    encoded_shard(call_id.as_bytes()).is_some()
}

fn encoded_shard(call_id: &[u8]) -> Option<u16> {
    let rest = call_id.strip_prefix(PREFIX)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 4 || rest.get(digits) != Some(&b'-') {
        return None;
    }
    rest[..digits].iter().try_fold(0u16, |n, d| n.checked_mul(10)?.checked_add(u16::from(d - b'0')))
}

/// FNV-1a: fast, and stable across runs and shards.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Mints identifiers for one shard.
#[derive(Debug)]
pub struct Ids {
    shard: u16,
    counter: u64,
    /// Secret: every identifier is drawn from it (see `next`).
    seed: u64,
    draws: u64,
    /// Keys the To tags of stateless answers (see `tag_for`).
    key: u64,
}

impl Ids {
    /// A generator for `shard`, seeded (the engine passes entropy; tests a constant).
    pub fn new(shard: u16, seed: u64) -> Self {
        let mut ids = Ids { shard, counter: 0, seed, draws: 0, key: 0 };
        ids.key = ids.next();
        ids
    }

    /// SipHash of the secret seed and a draw count. RFC 3261 §19.3 asks
    /// tags to be cryptographically random: a plain generator's outputs
    /// (xorshift, before) give its state away, and with it every Call-ID,
    /// tag and branch to come. About 20 ns a draw, a few draws a call.
    fn next(&mut self) -> u64 {
        use std::hash::Hasher;
        self.draws += 1;
        let mut h = std::hash::DefaultHasher::new();
        h.write_u64(self.seed);
        h.write_u64(self.draws);
        h.finish()
    }

    /// The shard these identifiers belong to.
    pub fn shard(&self) -> u16 {
        self.shard
    }

    /// A Call-ID owned by this shard: `tdm<shard>-<counter>-<random>@<host>`
    /// (counter in hex). Written by hand: several per call, and the
    /// formatting machinery cost more than the rest of minting.
    pub fn call_id(&mut self, host: &str) -> String {
        self.counter += 1;
        let random = self.next();
        let mut s = String::with_capacity(44 + host.len());
        s.push_str("tdm");
        s.push_str(itoa::Buffer::new().format(self.shard));
        s.push('-');
        push_hex(&mut s, self.counter, 1);
        s.push('-');
        push_hex(&mut s, random, 16);
        s.push('@');
        s.push_str(host);
        s
    }

    /// A From/To tag: 16 hex digits.
    pub fn tag(&mut self) -> String {
        let mut s = String::with_capacity(16);
        push_hex(&mut s, self.next(), 16);
        s
    }

    /// The To tag of a stateless answer to the request `parts` identify
    /// (Call-ID, From tag, branch, CSeq): the same for every copy of that
    /// request (RFC 3261 §8.2.7), unlike any other request's.
    pub fn tag_for(&self, parts: &[&[u8]]) -> String {
        use std::hash::Hasher;
        let mut h = std::hash::DefaultHasher::new();
        h.write_u64(self.key);
        for p in parts {
            h.write(p);
            h.write_u8(0xff); // not in any of them: ("ab","c") differs from ("a","bc")
        }
        let mut s = String::with_capacity(16);
        push_hex(&mut s, h.finish(), 16);
        s
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        let mut s = String::with_capacity(23);
        s.push_str("z9hG4bK");
        push_hex(&mut s, self.next(), 16);
        s
    }
}

/// Lower-case hex of `v`, zero-padded to at least `width` digits (as `{:0width$x}`).
fn push_hex(out: &mut String, v: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - v.leading_zeros() as usize / 4).max(width);
    for i in (0..digits).rev() {
        let nibble = if i < 16 { (v >> (i * 4)) & 0xf } else { 0 };
        out.push(char::from(DIGITS[nibble as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_what_format_writes() {
        for v in [0, 1, 0xf, 0x10, 0xdead_beef, u64::MAX, 1 << 60] {
            for width in [1, 16] {
                let mut s = String::new();
                push_hex(&mut s, v, width);
                assert_eq!(s, format!("{v:0width$x}"));
            }
        }
        let mut ids = Ids::new(12, 7);
        let id = ids.call_id("h");
        let (counter, random) = (1u64, Ids::new(12, 7).next());
        assert_eq!(id, format!("tdm12-{counter:x}-{random:016x}@h"));
        assert_eq!(ids.tag().len(), 16);
        assert!(ids.branch().starts_with("z9hG4bK") && ids.branch().len() == 23);
    }

    #[test]
    fn own_ids_map_to_their_shard() {
        let mut ids = Ids::new(3, 42);
        let id = ids.call_id("192.0.2.1");
        assert!(id.starts_with("tdm3-1-"));
        assert_eq!(owner(id.as_bytes(), 4), 3);
        assert_eq!(owner(id.as_bytes(), 1), 0);
    }

    #[test]
    fn foreign_ids_hash_evenly_and_stably() {
        let mut counts = [0u32; 4];
        for i in 0..4000 {
            counts[owner(format!("{i}@customer.example").as_bytes(), 4) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
        assert_eq!(owner(b"abc@x", 4), owner(b"abc@x", 4));
        // A look-alike beyond the shard count is hashed, never out of range.
        assert!(owner(b"tdm9-1-2@x", 4) < 4);
        assert!(owner(b"tdm-1@x", 4) < 4);
    }

    #[test]
    fn ids_differ() {
        let mut ids = Ids::new(0, 7);
        assert_ne!(ids.tag(), ids.tag());
        assert!(ids.branch().starts_with("z9hG4bK"));
    }
}
