//! The packet-I/O seam (DESIGN.md §1): the event loop talks to a
//! [`PacketIo`], so a kernel-bypass backend (AF_XDP, DPDK) can replace the
//! UDP socket without touching the protocol core.

pub mod mem;
pub mod udp;

use bytes::Bytes;
use std::io;
use std::net::SocketAddr;

/// Datagrams received in one batch.
#[derive(Debug, Default)]
pub struct RxBatch {
    /// The datagrams and their sources.
    pub datagrams: Vec<(Bytes, SocketAddr)>,
}

/// A datagram transport.
pub trait PacketIo {
    /// Receives up to `max` datagrams into `batch` without blocking; returns
    /// how many arrived (0: none ready).
    ///
    /// The shard reads again only after its poll reports the source readable
    /// (edge-triggered) or when the last turn stopped at its batch limit, and a
    /// batch shorter than `max` tells it the source is empty: a backend must
    /// fill the batch whenever it has that many, and raise a readiness event
    /// for anything that arrives after it returned short.
    fn recv_batch(&mut self, batch: &mut RxBatch, max: usize) -> io::Result<usize>;

    /// Sends datagrams; returns how many went out. A datagram the network
    /// refuses (e.g. an unreachable peer) is skipped, not retried: SIP's own
    /// retransmissions cover loss. Datagrams the backend cannot take yet
    /// (a full send buffer) it keeps, and sends on a later call.
    fn send_batch(&mut self, out: &[(Bytes, SocketAddr)]) -> io::Result<usize>;

    /// Datagrams kept for a later `send_batch`.
    fn pending(&self) -> usize {
        0
    }

    /// Asks (or stops asking) to be woken when the backend can send again;
    /// only while datagrams are pending, so an idle socket costs no wake-ups.
    fn want_writable(
        &mut self,
        _registry: &mio::Registry,
        _token: mio::Token,
        _want: bool,
    ) -> io::Result<()> {
        Ok(())
    }

    /// The local address.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}
