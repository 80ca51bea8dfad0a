//! One shard's event loop: receive a batch, give every message to its owner
//! shard (DESIGN.md §1), run the core, send a batch, fire timers.

use super::clock::Clock;
use super::io::{PacketIo, RxBatch};
use super::{Handoff, Shared};
use crate::call::{Core, Now, ids};
use crate::cdr::CdrSink;
use crate::sip;
use bytes::Bytes;
use mio::{Events, Poll, Token};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

/// The socket's token.
pub const SOCKET: Token = Token(0);
/// The shard's own vendor socket (`[server].vendor_port_base`).
pub const VENDOR_SOCKET: Token = Token(2);
/// The waker's token (handoffs, shutdown).
pub const WAKER: Token = Token(1);
/// Batches read per wakeup before timers and handoffs get their turn.
const RX_BATCHES_PER_TURN: usize = 16;
/// Longest sleep, so shutdown flags are seen promptly even when idle.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// A shard's state, moved into its thread.
pub struct Shard<I: PacketIo> {
    /// Index.
    pub id: u16,
    /// Its event poll (the socket and the waker are registered on it).
    pub poll: Poll,
    /// Its socket (or another backend).
    pub io: I,
    /// Its own vendor socket, when `[server].vendor_port_base` is set.
    pub vendor_io: Option<I>,
    /// Its calls.
    pub core: Core,
    /// State shared by every shard.
    pub shared: Arc<Shared>,
    /// The clock.
    pub clock: Clock,
    /// Where CDRs go.
    pub cdrs: CdrSink,
    /// Requests from side threads (metrics scrapes).
    pub control: crossbeam::channel::Receiver<super::Control>,
}

/// Marks the shard drained when its loop ends, however it ends (an I/O error,
/// a panic): the others wait for every shard to be drained before they stop,
/// and must not wait for one that is gone.
struct Gone {
    shared: Arc<Shared>,
    id: u16,
}

impl Drop for Gone {
    fn drop(&mut self) {
        self.shared.drained[usize::from(self.id)].store(true, Ordering::Release);
        self.shared.wake_all();
    }
}

/// What a shard did, reported when it stops.
#[derive(Clone, Debug)]
pub struct Report {
    /// The shard.
    pub id: u16,
    /// Messages handed to other shards.
    pub handoffs_out: u64,
    /// Handoffs dropped because the owner's queue was full.
    pub handoffs_dropped: u64,
    /// The core's counters.
    pub stats: crate::call::Stats,
    /// LRN dip latency (ms) on this shard.
    pub dip_latency_ms: hdrhistogram::Histogram<u64>,
    /// Microseconds from receiving a new INVITE to sending what it caused
    /// (100 Trying and the B-leg INVITE): until the send returns, so with
    /// the kernel's work for every datagram of the batch.
    pub invite_latency_us: hdrhistogram::Histogram<u64>,
    /// The same, until the send starts: the time in tandem's own code, the
    /// kernel's delivery of the batch left out (on loopback that includes
    /// the receiving side's work and waking it).
    pub invite_to_send_us: hdrhistogram::Histogram<u64>,
}

impl Report {
    fn new(id: u16) -> Self {
        let invite_latency_us = crate::metrics::histogram(10_000_000); // 1 µs..10 s
        let dip_latency_ms = crate::metrics::histogram(3_600_000); // 1 ms..1 h
        Report {
            id,
            handoffs_out: 0,
            handoffs_dropped: 0,
            stats: crate::call::Stats::default(),
            dip_latency_ms,
            invite_latency_us,
            invite_to_send_us: crate::metrics::histogram(10_000_000),
        }
    }
}

impl<I: PacketIo> Shard<I> {
    /// Runs until shutdown completes.
    pub fn run(mut self) -> io::Result<Report> {
        let _gone = Gone { shared: Arc::clone(&self.shared), id: self.id };
        let mut events = Events::with_capacity(64);
        let mut batch = RxBatch::default();
        let mut handoffs: Vec<Vec<Handoff>> = vec![Vec::new(); self.shared.queues.len()];
        let mut report = Report::new(self.id);
        let mut invites_in: Vec<Instant> = Vec::new();
        let mut shutdown = crate::shutdown::Drain::default();
        // Per socket (shared, vendor): it may hold datagrams not yet read, and the
        // poll is edge-triggered, so only a new arrival would raise a new event.
        let mut rx_more = [true, self.vendor_io.is_some()];
        loop {
            let now = self.clock.now();
            let timeout = self
                .core
                .poll_timeout()
                .map_or(MAX_SLEEP, |t| Duration::from_millis(t.saturating_sub(now.ms)));
            let asleep = &self.shared.asleep[usize::from(self.id)];
            asleep.store(true, Ordering::Relaxed);
            // Pairs with the fence in push_handoffs: either the producer sees
            // `asleep` and wakes us, or we see its handoff here and do not block.
            fence(Ordering::SeqCst);
            // Datagrams left in the socket raise no new edge: do not block on them.
            let timeout = if rx_more.contains(&true) || !self.shared.queues[usize::from(self.id)].is_empty() {
                Duration::ZERO
            } else {
                timeout.min(MAX_SLEEP)
            };
            let polled = self.poll.poll(&mut events, Some(timeout));
            asleep.store(false, Ordering::Relaxed);
            if let Err(e) = polled
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(e);
            }
            let now = self.clock.now();
            for (i, token) in [SOCKET, VENDOR_SOCKET].into_iter().enumerate() {
                if rx_more[i] || events.iter().any(|e| e.token() == token && e.is_readable()) {
                    rx_more[i] =
                        self.receive(token, &mut batch, &mut handoffs, &mut invites_in, &mut report, now)?;
                }
            }
            self.drain_control(&report);
            self.drain_handoffs(&mut invites_in, now);
            self.core.handle_timeout(now);
            // The drain step may add unregisters or BYEs: it runs before the send.
            let done = shutdown.step(&mut self.core, &self.shared, self.id, now);
            let sending = self.flush()?;
            record_latency(&mut invites_in, sending, &mut report);
            log_registrations(self.id, &mut self.core);
            for (gateway, online) in self.core.poll_gateway_events() {
                let state = if online { "online" } else { "offline" };
                crate::info!("gateway state", gateway = gateway, state = state, shard = self.id);
            }
            if done {
                break;
            }
        }
        report.stats = self.core.stats().clone();
        let _ = report.dip_latency_ms.add(self.core.dip_latency_ms());
        Ok(report)
    }

    /// Reads the socket `token` names; `Ok(true)` when it may hold more.
    fn receive(
        &mut self,
        token: Token,
        batch: &mut RxBatch,
        handoffs: &mut [Vec<Handoff>],
        invites_in: &mut Vec<Instant>,
        report: &mut Report,
        now: Now,
    ) -> io::Result<bool> {
        for _ in 0..RX_BATCHES_PER_TURN {
            batch.datagrams.clear();
            let io = if token == VENDOR_SOCKET { self.vendor_io.as_mut() } else { Some(&mut self.io) };
            let Some(io) = io else { return Ok(false) };
            let got = io.recv_batch(batch, super::io::udp::BATCH)?;
            if got == 0 {
                return Ok(false);
            }
            let received = wall_instant();
            // Registrar changes first: an INVITE may follow its REGISTER's 200 within microseconds.
            self.drain_control(report);
            for chunk in batch.datagrams.chunks(super::io::udp::BATCH) {
                self.dispatch(chunk, received, handoffs, invites_in, report, now)?;
            }
            // What this batch caused leaves now, not after the turn's other
            // batches: under load a turn reads up to RX_BATCHES_PER_TURN of them.
            let sending = self.flush()?;
            record_latency(invites_in, sending, report);
            if got < super::io::udp::BATCH {
                // A short batch emptied the socket: the next datagram raises a
                // new readiness event, so asking again would only get EAGAIN.
                return Ok(false);
            }
        }
        Ok(true) // the turn's share is read; the next turn polls without waiting and reads on
    }

    /// Hands other shards' datagrams over, then handles ours. Other shards'
    /// go first, so their owners work while we do ours. Only the owner parses
    /// a datagram whole; here a scan of its head up to the Call-ID picks the
    /// owner. Ours are then parsed and handled one at a time, in order, and
    /// what a new call's INVITE caused (100 Trying, the vendor's INVITE)
    /// leaves before the next datagram is handled: the time to the vendor's
    /// INVITE is the caller's post-dial delay. The order stays: an earlier
    /// datagram may free the capacity a new call needs (a BYE under
    /// `max_calls`) or end the transaction before it (the ACK of a 420 before
    /// the retry, RFC 3261 §8.1.3.5).
    fn dispatch(
        &mut self,
        chunk: &[(Bytes, SocketAddr)],
        received: Instant,
        handoffs: &mut [Vec<Handoff>],
        invites_in: &mut Vec<Instant>,
        report: &mut Report,
        now: Now,
    ) -> io::Result<()> {
        let shards = handoffs.len() as u16;
        debug_assert!(chunk.len() <= super::io::udp::BATCH, "a longer chunk would be cut short");
        let mut mine = [true; super::io::udp::BATCH];
        if shards > 1 {
            for ((data, peer), mine) in chunk.iter().zip(&mut mine) {
                let owner = sip::call_id_of(data).map_or(self.id, |id| ids::owner(id, shards));
                if owner != self.id {
                    handoffs[owner as usize].push((data.clone(), *peer, received));
                    *mine = false;
                }
            }
            self.push_handoffs(handoffs, report);
        }
        let mine = &mine[..chunk.len()];
        for (i, (data, peer)) in chunk.iter().enumerate() {
            if !mine[i] {
                continue;
            }
            let offered = self.core.stats().calls_offered;
            self.handle(data, *peer, received, invites_in, now);
            // A call it started, not a retransmission: a storm of copies
            // would otherwise cost a send each.
            if self.core.stats().calls_offered > offered && mine[i + 1..].contains(&true) {
                let sending = self.flush()?;
                record_latency(invites_in, sending, report);
            }
        }
        Ok(())
    }

    /// Parses one of our datagrams and runs the core on it.
    fn handle(
        &mut self,
        data: &Bytes,
        peer: SocketAddr,
        received: Instant,
        invites_in: &mut Vec<Instant>,
        now: Now,
    ) {
        match sip::parse(data) {
            Ok(msg) => {
                if is_new_invite(&msg) {
                    invites_in.push(received);
                }
                self.core.handle_message(&msg, data, peer, now);
            }
            Err(e) => self.core.handle_unparsable(data, &e, peer),
        }
    }

    fn drain_handoffs(&mut self, invites_in: &mut Vec<Instant>, now: Now) {
        while let Some((data, peer, received)) = self.shared.queues[self.id as usize].pop() {
            self.handle(&data, peer, received, invites_in, now);
        }
    }

    fn drain_control(&mut self, report: &Report) {
        while let Ok(c) = self.control.try_recv() {
            match c {
                super::Control::Scrape(reply) => {
                    let _ = reply.send(self.metrics(report));
                }
                super::Control::Registrar(events) => {
                    let now = self.clock.now();
                    for e in events.iter() {
                        self.core.apply_registrar_event(e, now);
                    }
                }
            }
        }
    }

    fn metrics(&self, report: &Report) -> crate::metrics::ShardMetrics {
        crate::metrics::ShardMetrics {
            shard: self.id,
            core: self.core.metrics(self.clock.now()),
            handoffs_out: report.handoffs_out,
            handoffs_dropped: report.handoffs_dropped,
            send_pending: (self.io.pending() + self.vendor_io.as_ref().map_or(0, PacketIo::pending)) as u64,
            routing_latency_us: report.invite_latency_us.clone(),
        }
    }

    /// Copies this shard's registrar changes to every other shard.
    fn share_registrar_events(&mut self) {
        let events = self.core.poll_registrar_events();
        if events.is_empty() {
            return;
        }
        let events: Arc<[crate::registrar::Event]> = events.into();
        for (i, control) in self.shared.control.iter().enumerate() {
            if i != usize::from(self.id)
                && control.send(super::Control::Registrar(Arc::clone(&events))).is_ok()
            {
                let _ = self.shared.wakers[i].wake();
            }
        }
    }

    /// Sends the outbox and hands over CDRs; returns when the send started.
    fn flush(&mut self) -> io::Result<Instant> {
        // Before the send: a peer that gets our 200 to its REGISTER may call at once.
        self.share_registrar_events();
        let sending = wall_instant();
        // Sent straight from the core's outbox; the drain empties it, keeping its room.
        send(&mut self.io, self.core.poll_transmit().as_slice(), &self.poll, SOCKET)?;
        if let Some(io) = self.vendor_io.as_mut() {
            send(io, self.core.poll_transmit_vendor().as_slice(), &self.poll, VENDOR_SOCKET)?;
        }
        for cdr in self.core.poll_cdr() {
            self.cdrs.send(cdr);
        }
        Ok(sending)
    }

    /// Queues every collected handoff on its owner and wakes each owner once.
    fn push_handoffs(&self, handoffs: &mut [Vec<Handoff>], report: &mut Report) {
        for (owner, queue) in handoffs.iter_mut().enumerate() {
            if queue.is_empty() {
                continue;
            }
            for item in queue.drain(..) {
                report.handoffs_out += 1;
                if self.shared.queues[owner].push(item).is_err() {
                    report.handoffs_dropped += 1;
                }
            }
            // At most one wake per owner per batch, and none if it is awake
            // (it drains its queue before it next blocks: see `run`).
            fence(Ordering::SeqCst);
            if self.shared.asleep[owner].load(Ordering::Relaxed) {
                let _ = self.shared.wakers[owner].wake();
            }
        }
    }
}

/// Sends `out` (and anything the socket refused before); watches for room when some is left.
fn send<I: PacketIo>(io: &mut I, out: &[(Bytes, SocketAddr)], poll: &Poll, token: Token) -> io::Result<()> {
    if !out.is_empty() || io.pending() > 0 {
        io.send_batch(out)?;
        let want = io.pending() > 0;
        io.want_writable(poll.registry(), token, want)?;
    }
    Ok(())
}

/// One log line per registration state change.
fn log_registrations(shard: u16, core: &mut Core) {
    use crate::register::client::Event;
    for (gateway, event) in core.poll_reg_events() {
        match event {
            Event::Registered(secs) => {
                crate::info!("registered", gateway = gateway, expires_s = secs, shard = shard)
            }
            Event::Failed(why) => {
                crate::warn!("registration failed", gateway = gateway, reason = why, shard = shard)
            }
            Event::Unregistered => crate::info!("unregistered", gateway = gateway, shard = shard),
            Event::UnregisterFailed(why) => {
                crate::warn!("unregister failed", gateway = gateway, reason = why, shard = shard)
            }
        }
    }
}

/// A new call's INVITE (no To tag yet).
fn is_new_invite(msg: &sip::Message<'_>) -> bool {
    msg.method() == Some(sip::Method::Invite) && msg.to().is_ok_and(|t| t.tag.is_none())
}

#[allow(clippy::disallowed_methods)] // the engine owns the clock
fn wall_instant() -> Instant {
    Instant::now()
}

/// Records, after the send, how long each new INVITE of this turn took.
fn record_latency(invites_in: &mut Vec<Instant>, sending: Instant, report: &mut Report) {
    if invites_in.is_empty() {
        return;
    }
    let sent = wall_instant();
    let us = |from: Instant, to: Instant| (to.saturating_duration_since(from).as_micros() as u64).max(1);
    for t in invites_in.drain(..) {
        let _ = report.invite_latency_us.record(us(t, sent));
        let _ = report.invite_to_send_us.record(us(t, sending));
    }
}
