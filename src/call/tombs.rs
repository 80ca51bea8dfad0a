//! What an ended call leaves behind until its linger time (64·T1 + T4 =
//! 37 s, so timers J and D run out) is up: its Call-IDs, so a retransmitted BYE or CANCEL still gets its 200
//! (RFC 3261 §17.2.2), a final answer sent again gets our ACK again
//! (timer D, or a 2xx whose ACK was lost), the INVITE sent again is
//! absorbed, and anything else in the dead dialog gets a 481. The whole call (legs, transactions, about 5 KB)
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
    /// The A-leg INVITE's CSeq number (0 on B legs): a higher one is a new INVITE.
    pub cseq: u32,
    /// Whether the call was answered (a dialog existed; A leg only).
    pub answered: bool,
    /// A vendor leg's ACK for its final answer, and where it goes: sent
    /// again when the answer is (timer D for a failure; a 2xx repeated
    /// because our ACK was lost).
    pub ack: Option<(Bytes, SocketAddr)>,
    /// The status of a customer's INVITE refused at once (404, 484, 503,
    /// 420), 0 for a call that started: a copy of that INVITE gets it again,
    /// without a second CDR.
    pub refused: u16,
    /// When it is forgotten (monotonic ms).
    pub until: u64,
}

/// Ended calls' Call-IDs in the order they were laid down.
#[derive(Debug, Default)]
pub(super) struct Tombs {
    by_id: HashMap<Arc<str>, Tomb>,
    /// (expiry, Call-ID) in the order laid down. Expiries are nearly in
    /// order, not quite (a call freed late may expire sooner than one freed
    /// before it): an entry waiting behind a later one is already ignored by
    /// `get`, and memory is freed when the later one's time comes.
    fifo: VecDeque<(u64, Arc<str>)>,
}

impl Tombs {
    /// Keeps `call_id` until `tomb.until` (monotonic ms).
    pub fn lay(&mut self, call_id: &str, tomb: Tomb) {
        let id: Arc<str> = Arc::from(call_id);
        let until = tomb.until;
        self.by_id.insert(Arc::clone(&id), tomb);
        self.fifo.push_back((until, id));
    }

    /// The tomb of `call_id`, unless its time is up.
    pub fn get(&self, call_id: &str, now: u64) -> Option<&Tomb> {
        self.by_id.get(call_id).filter(|t| t.until > now)
    }

    /// Forgets every Call-ID whose time is up, oldest first.
    pub fn expire(&mut self, now: u64) {
        while let Some((until, _)) = self.fifo.front()
            && *until <= now
        {
            let Some((until, id)) = self.fifo.pop_front() else { break };
            // The same Call-ID laid down again (a forged or reused one) has
            // its own, later entry: leave that tomb to it.
            if self.by_id.get(&id).is_some_and(|t| t.until == until) {
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

    fn tomb(until: u64) -> Tomb {
        Tomb {
            side: Side::A,
            branch: "z9hG4bK1".into(),
            cseq: 1,
            answered: false,
            ack: None,
            refused: 0,
            until,
        }
    }

    #[test]
    fn kept_until_their_time_then_forgotten_in_order() {
        let mut t = Tombs::default();
        t.lay("a@x", tomb(100));
        t.lay("b@x", tomb(150));
        assert_eq!(t.next_expiry(), Some(100));
        t.expire(99);
        assert!(t.get("a@x", 99).is_some() && t.len() == 2);
        t.expire(100);
        assert!(t.get("a@x", 100).is_none() && t.get("b@x", 100).is_some());
        assert_eq!(t.next_expiry(), Some(150));
        t.expire(1_000);
        assert_eq!((t.len(), t.next_expiry()), (0, None));
    }

    #[test]
    fn one_behind_a_later_one_answers_nothing_after_its_time() {
        let mut t = Tombs::default();
        t.lay("late@x", tomb(500));
        t.lay("soon@x", tomb(200));
        t.expire(300);
        assert_eq!(t.len(), 2, "still queued behind the later one");
        assert!(t.get("soon@x", 300).is_none(), "but its time is up");
        t.expire(500);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn a_call_id_laid_again_keeps_its_newer_tomb() {
        let mut t = Tombs::default();
        t.lay("a@x", tomb(100));
        t.lay("a@x", tomb(300));
        t.expire(100);
        assert!(t.get("a@x", 100).is_some(), "the first entry's expiry leaves the newer tomb");
        t.expire(300);
        assert_eq!((t.len(), t.next_expiry()), (0, None));
    }
}
