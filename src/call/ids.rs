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
    state: u64,
}

impl Ids {
    /// A generator for `shard`, seeded (the engine passes entropy; tests a constant).
    pub fn new(shard: u16, seed: u64) -> Self {
        Ids { shard, counter: 0, state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: unpredictable enough for tags, cheap enough per call.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The shard these identifiers belong to.
    pub fn shard(&self) -> u16 {
        self.shard
    }

    /// A Call-ID owned by this shard: `tdm<shard>-<counter>-<random>@<host>`.
    pub fn call_id(&mut self, host: &str) -> String {
        self.counter += 1;
        let random = self.next();
        format!("tdm{}-{:x}-{random:016x}@{host}", self.shard, self.counter)
    }

    /// A From/To tag.
    pub fn tag(&mut self) -> String {
        format!("{:016x}", self.next())
    }

    /// A Via branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
