//! The LRN cache (DESIGN.md §4): a fixed-size open-addressing table in a
//! memory-mapped file, read and written by every shard without locks. Each
//! slot is guarded by a sequence counter (a seqlock: odd while a writer is
//! inside); readers copy the slot and retry when the counter moved, so a
//! torn entry is never returned. Because it is a file (under /dev/shm by
//! default) it survives a restart, and operator tools can read it.
#![allow(unsafe_code)] // the shared-memory layout: see the SAFETY comments

use memmap2::MmapMut;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

const MAGIC: u64 = u64::from_le_bytes(*b"TNDMLRN1");
const VERSION: u32 = 1;
/// Header bytes before the first slot (one cache line, keeps slots aligned).
const HEADER: usize = 64;
/// Slots probed from a key's home slot.
pub const MAX_PROBE: usize = 8;
/// Reader retries on a slot being written before giving up on it.
const READ_RETRIES: usize = 16;

/// Flag: a "not ported" answer (the number is its own LRN).
const NOT_PORTED: u32 = 1;

/// One slot: 32 bytes, every field atomic so concurrent access is defined.
#[repr(C, align(32))]
struct Slot {
    seq: AtomicU32,
    flags: AtomicU32,
    key: AtomicU64,
    lrn: AtomicU64,
    expires: AtomicU32,
    _pad: AtomicU32,
}

const SLOT: usize = std::mem::size_of::<Slot>();

/// A cached answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Ported: the LRN (10 digits).
    Ported(u64),
    /// Not ported.
    NotPorted,
}

/// Why a cache file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file could not be opened, sized or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The cache file.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// Slot count out of range.
    #[error("cache_slots must be in 1024..=268435456, got {0}")]
    Slots(u64),
}

/// Usage figures for operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Slots in the table.
    pub slots: u64,
    /// Slots holding an unexpired answer.
    pub live: u64,
    /// Of those, ported numbers.
    pub ported: u64,
    /// Slots holding an expired answer.
    pub expired: u64,
}

/// The mapped table.
pub struct LrnCache {
    map: MmapMut,
    slots: u64,
    /// Whether an existing file's contents were kept (a warm start).
    pub reused: bool,
}

impl LrnCache {
    /// Opens `path`, creating or recreating it when absent, foreign, damaged
    /// or of another size: its contents are trusted only when the header matches.
    pub fn open(path: &Path, slots: u64) -> Result<Self, CacheError> {
        if !(1024..=1 << 28).contains(&slots) {
            return Err(CacheError::Slots(slots));
        }
        let io_err = |source| CacheError::Io { path: path.display().to_string(), source };
        let len = HEADER as u64 + slots * SLOT as u64;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_err)?;
        let actual = file.metadata().map_err(io_err)?.len();
        let reused = actual == len && {
            let mut head = [0u8; HEADER];
            std::io::Read::read_exact(&mut &file, &mut head).is_ok() && header_ok(&head, slots)
        };
        if !reused {
            // A truncated and re-extended file reads as zeros: no page is touched
            // before the huge-page advice below.
            file.set_len(0).map_err(io_err)?;
            file.set_len(len).map_err(io_err)?;
        }
        // SAFETY: the file is ours and sized to `len`; the map lives as long as
        // `self`. Other tandem processes may map it too, which is the point:
        // every access to slots goes through atomics.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(io_err)?;
        // Best effort, before the first touch: huge pages cut TLB misses on a table
        // of hundreds of MB (tmpfs needs `huge=advise`: docs/tuning.md).
        let _ = map.advise(memmap2::Advice::HugePage);
        if !reused {
            write_header(&mut map, slots);
            map.flush_range(0, HEADER).map_err(io_err)?;
        }
        Ok(LrnCache { map, slots, reused })
    }

    /// Opens an existing cache file for an operator tool: its header decides
    /// the size, and a file without a valid header is refused, never recreated.
    pub fn open_existing(path: &Path) -> Result<Self, CacheError> {
        let io_err = |source| CacheError::Io { path: path.display().to_string(), source };
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(io_err)?;
        // SAFETY: as in `open`; the header is validated before any slot is read.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(io_err)?;
        let slots = map.get(16..24).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
        if !slots.is_power_of_two()
            || !header_ok(&map, slots)
            || map.len() as u64 != HEADER as u64 + slots * SLOT as u64
        {
            let e = io::Error::new(io::ErrorKind::InvalidData, "not a tandem LRN cache (bad header)");
            return Err(io_err(e));
        }
        Ok(LrnCache { map, slots, reused: true })
    }

    #[inline]
    fn slots(&self) -> &[Slot] {
        let bytes = &self.map[HEADER..];
        // SAFETY: the map is page-aligned and HEADER is 64, so slots start
        // 32-byte aligned; the length is slots × 32 (checked at open); Slot is
        // repr(C) of atomics, for which every bit pattern (zero included) is valid.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<Slot>(), bytes.len() / SLOT) }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        // A multiplicative hash spreads consecutive numbers; the multiply-shift
        // range reduction maps it onto any table size (no power of two needed).
        let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((u128::from(h) * u128::from(self.slots)) >> 64) as usize
    }

    /// The answer for `tn` if cached and not expired at `now` (Unix seconds).
    ///
    /// Other keys are skipped on their key word alone: a key read during a
    /// write can only turn a hit into a miss, which a cache may do. Only the
    /// slot holding `tn` is checked against its sequence counter. The short,
    /// inlined path lets the CPU keep several lookups' cache misses in flight.
    #[inline]
    pub fn get(&self, tn: u64, now: u32) -> Option<Answer> {
        let (slots, home) = (self.slots(), self.home(tn));
        for i in 0..MAX_PROBE {
            let slot = &slots[at(slots.len(), home, i)];
            let before = slot.seq.load(Ordering::Acquire);
            match slot.key.load(Ordering::Relaxed) {
                0 => return None, // an empty slot ends the probe chain
                key if key != tn => continue,
                _ => {}
            }
            let fields = (
                slot.flags.load(Ordering::Relaxed),
                slot.lrn.load(Ordering::Relaxed),
                slot.expires.load(Ordering::Relaxed),
            );
            let (flags, lrn, expires) = if unchanged(slot, before) {
                fields
            } else {
                match read_contended(slot)? {
                    (key, flags, lrn, expires) if key == tn => (flags, lrn, expires),
                    _ => return None,
                }
            };
            return (expires > now).then_some(if flags & NOT_PORTED != 0 {
                Answer::NotPorted
            } else {
                Answer::Ported(lrn)
            });
        }
        None
    }

    /// Stores an answer until `expires` (Unix seconds). The slot chosen is the
    /// key's own, an empty one, an expired one, or the one expiring first.
    pub fn put(&self, tn: u64, answer: Answer, expires: u32, now: u32) {
        let slots = self.slots();
        let home = self.home(tn);
        let mut victim: Option<(usize, u32)> = None;
        for i in 0..MAX_PROBE {
            let at = at(slots.len(), home, i);
            let Some((key, _, _, exp)) = read(&slots[at]) else { continue };
            if key == tn || key == 0 {
                victim = Some((at, 0));
                break;
            }
            let rank = if exp <= now { 0 } else { exp };
            if victim.is_none_or(|(_, r)| rank < r) {
                victim = Some((at, rank));
            }
        }
        if let Some((at, _)) = victim {
            write(&slots[at], tn, answer, expires);
        }
    }

    /// When the cached answer for `tn` expires (Unix seconds), if cached.
    pub fn expiry(&self, tn: u64) -> Option<u32> {
        let (slots, home) = (self.slots(), self.home(tn));
        (0..MAX_PROBE)
            .filter_map(|i| read(&slots[at(slots.len(), home, i)]))
            .find(|(key, ..)| *key == tn)
            .map(|(.., exp)| exp)
    }

    /// Counts slots (an operator tool's view; walks the whole table).
    pub fn usage(&self, now: u32) -> Usage {
        let mut u = Usage { slots: self.slots, ..Usage::default() };
        for slot in self.slots() {
            match read(slot) {
                Some((0, ..)) | None => {}
                Some((_, flags, _, exp)) if exp > now => {
                    u.live += 1;
                    u.ported += u64::from(flags & NOT_PORTED == 0);
                }
                Some(_) => u.expired += 1,
            }
        }
        u
    }
}

/// Probe `i` from `home` in a table of `n` slots (wrapping at the end).
#[inline(always)]
fn at(n: usize, home: usize, i: usize) -> usize {
    let j = home + i;
    if j >= n { j - n } else { j }
}

/// A consistent copy of a slot `(key, flags, lrn, expires)`, or `None` if
/// writers kept it busy through every retry.
#[inline(always)]
fn read(slot: &Slot) -> Option<(u64, u32, u64, u32)> {
    let before = slot.seq.load(Ordering::Acquire);
    let copy = copy(slot);
    if unchanged(slot, before) {
        return Some(copy);
    }
    read_contended(slot)
}

/// After reading a slot's fields: no writer was inside when the counter read
/// `before`, and none has been since, so the fields are one consistent entry.
#[inline(always)]
fn unchanged(slot: &Slot, before: u32) -> bool {
    fence(Ordering::Acquire);
    before & 1 == 0 && slot.seq.load(Ordering::Relaxed) == before
}

/// `read` when a writer was inside: spin and retry.
#[cold]
#[inline(never)]
fn read_contended(slot: &Slot) -> Option<(u64, u32, u64, u32)> {
    for _ in 0..READ_RETRIES {
        let before = slot.seq.load(Ordering::Acquire);
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let copy = copy(slot);
        if unchanged(slot, before) {
            return Some(copy);
        }
    }
    None
}

#[inline(always)]
fn copy(slot: &Slot) -> (u64, u32, u64, u32) {
    (
        slot.key.load(Ordering::Relaxed),
        slot.flags.load(Ordering::Relaxed),
        slot.lrn.load(Ordering::Relaxed),
        slot.expires.load(Ordering::Relaxed),
    )
}

/// Writes a slot under its sequence counter; gives up if another writer holds it.
fn write(slot: &Slot, key: u64, answer: Answer, expires: u32) {
    let seq = slot.seq.load(Ordering::Relaxed);
    if seq & 1 == 1 || slot.seq.compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed).is_err()
    {
        return; // another shard is writing this slot right now; a cache may skip a store
    }
    fence(Ordering::Release);
    let (flags, lrn) = match answer {
        Answer::Ported(l) => (0, l),
        Answer::NotPorted => (NOT_PORTED, 0),
    };
    slot.key.store(key, Ordering::Relaxed);
    slot.flags.store(flags, Ordering::Relaxed);
    slot.lrn.store(lrn, Ordering::Relaxed);
    slot.expires.store(expires, Ordering::Relaxed);
    slot.seq.store(seq + 2, Ordering::Release);
}

fn header_ok(map: &[u8], slots: u64) -> bool {
    let u64_at = |o: usize| map.get(o..o + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let u32_at = |o: usize| map.get(o..o + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    u64_at(0) == Some(MAGIC)
        && u32_at(8) == Some(VERSION)
        && u32_at(12) == Some(SLOT as u32)
        && u64_at(16) == Some(slots)
        && u64_at(24) == Some(HEADER as u64 + slots * SLOT as u64)
}

fn write_header(map: &mut [u8], slots: u64) {
    map[0..8].copy_from_slice(&MAGIC.to_le_bytes());
    map[8..12].copy_from_slice(&VERSION.to_le_bytes());
    map[12..16].copy_from_slice(&(SLOT as u32).to_le_bytes());
    map[16..24].copy_from_slice(&slots.to_le_bytes());
    map[24..32].copy_from_slice(&(HEADER as u64 + slots * SLOT as u64).to_le_bytes());
}

#[cfg(test)]
mod tests;
