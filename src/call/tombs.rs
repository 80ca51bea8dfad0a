//! What an ended call leaves behind until its linger time (64·T1 + T4 =
//! 37 s, so timers J and D run out) is up: its Call-IDs, so a retransmitted BYE or CANCEL still gets its 200
//! (RFC 3261 §17.2.2), a failure answer sent again gets its ACK again
//! (timer D), the INVITE sent again is absorbed, and anything else in the
//! dead dialog gets a 481. The whole call (legs, transactions, about 5 KB)
//! is freed as soon as its transactions only absorb: at 2000 calls per
//! second, holding it for the 37 s meant 74,000 calls and a heap that grew
//! a page at a time.

use super::state::Side;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

/// One Call-ID of an ended call.
#[derive(Debug)]
pub(super) struct Tomb {
    /// The leg the Call-ID names.
    pub side: Side,
    /// The A-leg INVITE's branch: a CANCEL must match it (empty on B legs).
    pub branch: Box<str>,
    /// A vendor leg's ACK for its failure answer, and where it goes: sent
    /// again if the answer is (timer D).
    pub ack: Option<(Bytes, SocketAddr)>,
}

/// Ended calls' Call-IDs in the order they were laid down.
#[derive(Debug, Default)]
pub(super) struct Tombs {
    by_id: HashMap<Arc<str>, Tomb>,
    /// (expiry, Call-ID). Expiries are nearly in order (each is its call's
    /// absorb time); one laid down late behind a later one waits for it,
    /// which only absorbs a little longer.
    fifo: VecDeque<(u64, Arc<str>)>,
}

impl Tombs {
    /// Keeps `call_id` until `until` (monotonic ms).
    pub fn lay(&mut self, call_id: &str, tomb: Tomb, until: u64) {
        let id: Arc<str> = Arc::from(call_id);
        self.by_id.insert(Arc::clone(&id), tomb);
        self.fifo.push_back((until, id));
    }

    pub fn get(&self, call_id: &str) -> Option<&Tomb> {
        self.by_id.get(call_id)
    }

    /// Forgets every Call-ID whose time is up.
    pub fn expire(&mut self, now: u64) {
        while let Some((until, _)) = self.fifo.front()
            && *until <= now
        {
            if let Some((_, id)) = self.fifo.pop_front() {
                self.by_id.remove(&id);
            }
        }
    }

    /// When the oldest expires.
    pub fn next_expiry(&self) -> Option<u64> {
        self.fifo.front().map(|(t, _)| *t)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tomb() -> Tomb {
        Tomb { side: Side::A, branch: "z9hG4bK1".into(), ack: None }
    }

    #[test]
    fn kept_until_their_time_then_forgotten_in_order() {
        let mut t = Tombs::default();
        t.lay("a@x", tomb(), 100);
        t.lay("b@x", tomb(), 150);
        assert_eq!(t.next_expiry(), Some(100));
        t.expire(99);
        assert!(t.get("a@x").is_some() && t.len() == 2);
        t.expire(100);
        assert!(t.get("a@x").is_none() && t.get("b@x").is_some());
        assert_eq!(t.next_expiry(), Some(150));
        t.expire(1_000);
        assert_eq!((t.len(), t.next_expiry()), (0, None));
    }
}
