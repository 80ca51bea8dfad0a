//! An in-memory network for the simulator and tests: every endpoint is a
//! queue; a seeded RNG injects loss, duplication, reordering and delay
//! (the smoltcp fault-injector idea, behind the same [`PacketIo`] trait).

use super::{PacketIo, RxBatch};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Fault rates, each in 0.0..=1.0, and the largest delay.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Chance a datagram is lost.
    pub loss: f64,
    /// Chance a datagram is delivered twice.
    pub duplicate: f64,
    /// Chance a datagram is held back behind later ones.
    pub reorder: f64,
    /// Most extra delay, ms (each datagram gets a uniform share).
    pub max_delay_ms: u64,
}

#[derive(Debug)]
struct Inner {
    now: u64,
    rng: u64,
    faults: Faults,
    /// Datagrams in flight, by delivery time.
    flight: BTreeMap<(u64, u64), (Bytes, SocketAddr, SocketAddr)>,
    seq: u64,
    inboxes: HashMap<SocketAddr, VecDeque<(Bytes, SocketAddr)>>,
    /// Datagrams sent, lost, duplicated.
    pub counts: [u64; 3],
}

/// The shared network.
#[derive(Clone, Debug)]
pub struct MemNet {
    inner: Arc<Mutex<Inner>>,
}

impl MemNet {
    /// A network with `faults`, seeded for reproducibility.
    pub fn new(seed: u64, faults: Faults) -> Self {
        let inner = Inner {
            now: 0,
            rng: seed | 1,
            faults,
            flight: BTreeMap::new(),
            seq: 0,
            inboxes: HashMap::new(),
            counts: [0; 3],
        };
        MemNet { inner: Arc::new(Mutex::new(inner)) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An endpoint bound to `addr`.
    pub fn bind(&self, addr: SocketAddr) -> MemIo {
        self.lock().inboxes.entry(addr).or_default();
        MemIo { net: self.clone(), addr }
    }

    /// Advances the network clock, delivering everything due.
    pub fn advance_to(&self, now: u64) {
        let mut n = self.lock();
        n.now = now;
        while let Some((&(at, seq), _)) = n.flight.first_key_value() {
            if at > now {
                break;
            }
            let Some((data, from, to)) = n.flight.remove(&(at, seq)) else { break };
            // Unbound destinations drop silently, like an unreachable host.
            if let Some(q) = n.inboxes.get_mut(&to) {
                q.push_back((data, from));
            }
        }
    }

    /// The earliest pending delivery.
    pub fn next_delivery(&self) -> Option<u64> {
        self.lock().flight.first_key_value().map(|(&(at, _), _)| at)
    }

    /// Datagrams sent, lost and duplicated so far.
    pub fn counts(&self) -> [u64; 3] {
        self.lock().counts
    }
}

impl Inner {
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn send(&mut self, data: Bytes, from: SocketAddr, to: SocketAddr) {
        self.counts[0] += 1;
        if self.random() < self.faults.loss {
            self.counts[1] += 1;
            return;
        }
        let copies = if self.random() < self.faults.duplicate { 2 } else { 1 };
        self.counts[2] += copies - 1;
        for _ in 0..copies {
            let mut delay = (self.random() * self.faults.max_delay_ms as f64) as u64;
            if self.random() < self.faults.reorder {
                delay += self.faults.max_delay_ms.max(1) * 2;
            }
            self.seq += 1;
            let key = (self.now + delay, self.seq);
            self.flight.insert(key, (data.clone(), from, to));
        }
    }
}

/// One endpoint of a [`MemNet`].
#[derive(Clone, Debug)]
pub struct MemIo {
    net: MemNet,
    addr: SocketAddr,
}

impl MemIo {
    /// Sends one datagram.
    pub fn send_to(&self, data: Bytes, to: SocketAddr) {
        self.net.lock().send(data, self.addr, to);
    }

    /// Takes the next received datagram.
    pub fn recv(&self) -> Option<(Bytes, SocketAddr)> {
        self.net.lock().inboxes.get_mut(&self.addr).and_then(VecDeque::pop_front)
    }
}

impl PacketIo for MemIo {
    fn recv_batch(&mut self, batch: &mut RxBatch, max: usize) -> io::Result<usize> {
        let mut n = self.net.lock();
        let Some(q) = n.inboxes.get_mut(&self.addr) else { return Ok(0) };
        let take = q.len().min(max);
        batch.datagrams.extend(q.drain(..take));
        Ok(take)
    }

    fn send_batch(&mut self, out: &[(Bytes, SocketAddr)]) -> io::Result<usize> {
        let mut n = self.net.lock();
        for (data, to) in out {
            n.send(data.clone(), self.addr, *to);
        }
        Ok(out.len())
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_seeded_and_bounded() {
        let faults = Faults { loss: 0.1, duplicate: 0.1, reorder: 0.1, max_delay_ms: 20 };
        let run = || {
            let net = MemNet::new(7, faults);
            let (a, b) = (net.bind("10.0.0.1:1".parse().unwrap()), net.bind("10.0.0.2:1".parse().unwrap()));
            for i in 0..1000u32 {
                a.send_to(Bytes::from(i.to_string()), "10.0.0.2:1".parse().unwrap());
            }
            net.advance_to(1_000);
            let mut got = Vec::new();
            while let Some((d, _)) = b.recv() {
                got.push(d);
            }
            (got, net.counts())
        };
        let (first, counts) = run();
        assert_eq!(first, run().0, "same seed, same network");
        assert!((50..150).contains(&counts[1]), "{counts:?}");
        assert_eq!(first.len() as u64, 1000 - counts[1] + counts[2]);
    }
}
