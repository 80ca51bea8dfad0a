//! `tandem lrn lookup -c FILE TN` and `tandem lrn stats -c FILE`: what the
//! shared LRN cache holds, read without disturbing the running switch.

use crate::config::Config;
use crate::lrn::cache::{Answer, CacheError, LrnCache};
use crate::lrn::nanp_tn;
use std::fmt::Write as _;

fn open(cfg: &Config) -> Result<LrnCache, String> {
    let path = cfg.resolve(&cfg.lrn.cache);
    LrnCache::open_existing(&path).map_err(|e| match &e {
        // The switch creates the cache when it starts with an LRN source.
        CacheError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            let why = if cfg.lrn.source.is_empty() {
                "this configuration has no [[lrn.source]], so the switch keeps none"
            } else {
                "the switch creates it when it starts with this configuration"
            };
            format!("{}: no LRN cache: {why}", path.display())
        }
        _ => e.to_string(),
    })
}

/// One number's cached answer.
pub fn lookup(cfg: &Config, number: &str, now: u32) -> Result<String, String> {
    let tn = nanp_tn(number).ok_or_else(|| format!("{number}: not a 10-digit NANP number"))?;
    let cache = open(cfg)?;
    let expiry = cache.expiry(tn);
    Ok(match (cache.get(tn, now), expiry) {
        (Some(Answer::Ported(l)), Some(e)) => format!("{tn}: ported, lrn {l}, expires in {} s\n", e - now),
        (Some(Answer::NotPorted), Some(e)) => format!("{tn}: not ported, expires in {} s\n", e - now),
        (None, Some(e)) if e <= now => format!("{tn}: expired {} s ago\n", now - e),
        _ => format!("{tn}: not cached\n"),
    })
}

/// Table usage.
pub fn stats(cfg: &Config, now: u32) -> Result<String, String> {
    let cache = open(cfg)?;
    let u = cache.usage(now);
    let mut s = String::new();
    let _ = writeln!(s, "cache {}", cfg.resolve(&cfg.lrn.cache).display());
    let _ = writeln!(s, "slots: {}", u.slots);
    let _ = writeln!(s, "live: {} ({:.2}% full)", u.live, u.live as f64 * 100.0 / u.slots as f64);
    let _ = writeln!(s, "ported: {}", u.ported);
    let _ = writeln!(s, "not ported: {}", u.live - u.ported);
    let _ = writeln!(s, "expired: {}", u.expired);
    Ok(s)
}
