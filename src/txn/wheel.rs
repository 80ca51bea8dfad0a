//! A hashed timer wheel (Varghese & Lauck): O(1) insert and expiry for the
//! many short timers of a shard. Cancellation is lazy: the owner ignores a
//! key that no longer applies when it fires.

/// Milliseconds per slot.
pub const TICK_MS: u64 = 4;
const SLOTS: usize = 1024;

/// A timer wheel of keys `K`.
#[derive(Debug)]
pub struct Wheel<K> {
    slots: Vec<Vec<(u64, K)>>,
    /// The next tick to process.
    cursor: u64,
    len: usize,
    /// The earliest deadline, when known (inserts keep it; expiry forgets it).
    earliest: std::cell::Cell<Option<u64>>,
}

impl<K: Copy> Wheel<K> {
    /// An empty wheel starting at `now` (ms).
    pub fn new(now: u64) -> Self {
        Wheel {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            cursor: now / TICK_MS,
            len: 0,
            earliest: std::cell::Cell::new(None),
        }
    }

    /// Timers pending.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `key` for `deadline` (ms). A deadline in the past fires at the next expiry.
    pub fn insert(&mut self, deadline: u64, key: K) {
        let tick = (deadline / TICK_MS).max(self.cursor);
        self.slots[(tick as usize) % SLOTS].push((deadline, key));
        self.len += 1;
        if let Some(e) = self.earliest.get() {
            self.earliest.set(Some(e.min(deadline)));
        }
    }

    /// Moves every key due at `now` into `out`.
    pub fn expire(&mut self, now: u64, out: &mut Vec<K>) {
        let target = now / TICK_MS;
        if target >= self.cursor + SLOTS as u64 {
            // After a long pause one lap visits every slot.
            self.cursor = target - (SLOTS as u64 - 1);
        }
        // Ticks before the current one are over; the current one is visited
        // again next time, since later deadlines in it may not be due yet.
        while self.cursor < target {
            self.drain_slot(self.cursor, now, out);
            self.cursor += 1;
        }
        self.drain_slot(target.max(self.cursor), now, out);
    }

    fn drain_slot(&mut self, tick: u64, now: u64, out: &mut Vec<K>) {
        let slot = &mut self.slots[(tick as usize) % SLOTS];
        let before = slot.len();
        slot.retain(|&(deadline, key)| {
            let due = deadline <= now;
            if due {
                out.push(key);
            }
            !due
        });
        if slot.len() != before {
            self.len -= before - slot.len();
            self.earliest.set(None);
        }
    }

    /// The earliest pending deadline (ms): remembered, or found by scanning
    /// at most one lap after timers fired.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        if let Some(e) = self.earliest.get() {
            return Some(e);
        }
        let found = self.scan();
        self.earliest.set(found);
        found
    }

    fn scan(&self) -> Option<u64> {
        let mut best: Option<u64> = None;
        for i in 0..SLOTS as u64 {
            let slot = &self.slots[((self.cursor + i) as usize) % SLOTS];
            if let Some(min) = slot.iter().map(|e| e.0).min() {
                best = Some(best.map_or(min, |b| b.min(min)));
                // Entries in this slot due within this lap bound the answer.
                if min < (self.cursor + i + 1) * TICK_MS {
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_only_when_due() {
        let mut w = Wheel::new(0);
        w.insert(10, 'a');
        w.insert(5, 'b');
        w.insert(40_000, 'c'); // beyond one lap
        w.insert(0, 'd');
        let mut out = Vec::new();
        w.expire(4, &mut out);
        assert_eq!(out, ['d']);
        assert_eq!(w.next_deadline(), Some(5));
        w.expire(10, &mut out);
        assert_eq!(out, ['d', 'b', 'a']);
        assert_eq!(w.next_deadline(), Some(40_000));
        w.expire(39_999, &mut out);
        assert_eq!(out.len(), 3);
        w.expire(40_000, &mut out);
        assert_eq!(out, ['d', 'b', 'a', 'c']);
        assert!(w.is_empty());
    }

    #[test]
    fn remembered_earliest_follows_inserts_and_expiry() {
        let mut w = Wheel::new(0);
        w.insert(9_000, 1);
        assert_eq!(w.next_deadline(), Some(9_000));
        w.insert(7_000, 2);
        assert_eq!(w.next_deadline(), Some(7_000), "an earlier insert moves it");
        w.insert(8_000, 3);
        assert_eq!(w.next_deadline(), Some(7_000));
        let mut out = Vec::new();
        w.expire(7_000, &mut out);
        assert_eq!(
            (out, w.next_deadline()),
            (vec![2], Some(8_000)),
            "expiry forgets it; a scan finds the next"
        );
    }

    #[test]
    fn long_pause_fires_everything_due() {
        let mut w = Wheel::new(1_000);
        for i in 0..100u64 {
            w.insert(1_000 + i * 97, i);
        }
        let mut out = Vec::new();
        w.expire(1_000_000, &mut out);
        assert_eq!(out.len(), 100);
        assert_eq!(w.len(), 0);
        w.insert(1_000_010, 7);
        w.expire(1_000_010, &mut out);
        assert_eq!(out.len(), 101);
    }
}
