//! The state of one B2BUA call: the A-leg (customer), its B-leg attempts
//! (vendors), our own BYEs and in-dialog relays.

use super::build::Local;
use super::{Now, Outbox};
use crate::cdr::Cdr;
use crate::routing::decide::Candidate;
use crate::routing::snapshot::RoutingSnapshot;
use crate::txn::{ClientState, ClientTxn, Kind, ServerState, ServerTxn, earliest};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// Which leg a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The customer leg.
    A,
    /// A vendor attempt, by index.
    B(u16),
}

/// Where the call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Trying vendors.
    Hunting,
    /// A vendor answered.
    Answered,
    /// Over; lingering only to finish transactions.
    Ended,
}

/// The customer leg.
#[derive(Debug)]
pub struct ALeg {
    pub call_id: String,
    pub peer: SocketAddr,
    /// What every response to the INVITE copies from it, our To tag included
    /// (`sip::response_head`), so that no response parses the INVITE again.
    pub response_head: Bytes,
    /// The dialog's route set towards the caller: its INVITE's Record-Route, in order.
    pub routes: String,
    pub branch: String,
    /// The INVITE's CSeq number: a higher one on this Call-ID is a new INVITE.
    pub invite_cseq: u32,
    /// Our To tag: an ACK for our answer carries it.
    pub our_tag: String,
    /// From value as received (their tag inside).
    pub from: String,
    /// To value as received with our tag added: the From of our requests to A.
    pub our_from: String,
    /// Where in-dialog requests to A go (its Contact URI).
    pub target: String,
    pub txn: ServerTxn,
    /// CSeq of the next request tandem sends to A.
    pub next_cseq: u32,
    /// The highest CSeq of A's requests in the dialog: a lower one gets 500 (§12.2.2).
    pub remote_cseq: u32,
    /// Content-Type and body of the INVITE (the offer relayed to vendors).
    pub body: Option<(String, Bytes)>,
    /// The caller's user part (A-leg From), used as the B-leg From user.
    pub caller: String,
    /// The call ended while our 2xx still waited for its ACK: our BYE waits
    /// too (RFC 3261 §15), until the ACK comes or the 2xx times out.
    pub bye_after_ack: bool,
}

/// One vendor attempt.
#[derive(Debug)]
pub struct Attempt {
    pub call_id: String,
    pub gateway: usize,
    pub peer: SocketAddr,
    pub uri: String,
    pub from: String,
    /// To as sent; after the answer, as received (with their tag).
    pub to: String,
    pub target: String,
    pub branch: String,
    /// The CSeq of its INVITE: 1, or higher once a digest challenge was answered.
    pub invite_cseq: u32,
    /// Digest challenges answered for this attempt.
    pub challenges: u8,
    /// The dialog's route set: the 2xx's Record-Route, reversed (§12.1.2).
    pub routes: String,
    /// The credentials its INVITE carried (header name, value): its ACK
    /// carries them too (§13.2.2.4).
    pub credentials: Option<(&'static str, String)>,
    /// INVITEs a challenge made it send again: their branch and the ACK of
    /// their challenge, sent again if the challenge is (§17.1.1.2, Timer D).
    pub superseded: Vec<(String, Bytes)>,
    pub next_cseq: u32,
    pub txn: ClientTxn,
    pub cancel: Option<ClientTxn>,
    /// CANCEL as soon as a provisional shows the INVITE arrived.
    pub cancel_wanted: bool,
    pub provisional: bool,
    /// Still counted against the gateway's max_calls.
    pub occupying: bool,
    /// Our ACK for its 2xx, re-sent when the 2xx is retransmitted.
    pub ack: Option<Bytes>,
    /// A late 2xx was ACKed and BYEd already.
    pub killed: bool,
    /// The highest CSeq of the vendor's requests in the dialog (§12.2.2).
    pub remote_cseq: u32,
    /// Dialogs a forking vendor side answered besides the one kept: their
    /// To tag and our ACK, sent again for each copy of their 2xx.
    pub forks: Vec<(String, Bytes)>,
    /// The SDP offer its 2xx carried when the caller's INVITE had none (late
    /// offer): the caller's ACK brings the answer; an ACK of ours must too.
    pub offer: Option<Bytes>,
}

/// A request relayed from one leg to the other within the dialog.
#[derive(Debug)]
pub struct Relay {
    pub from: Side,
    pub to: Side,
    pub method: String,
    /// The request as received (its response is built from it).
    pub request: Bytes,
    pub in_cseq: u32,
    pub server: ServerTxn,
    pub branch: String,
    pub out_cseq: u32,
    pub client: ClientTxn,
    /// A 2xx to a relayed re-INVITE waits for the requester's ACK.
    pub awaiting_ack: bool,
    /// The ACK relayed for that 2xx, and until when (64·T1, as long as the
    /// other side may repeat its 2xx): sent again for each copy (§13.2.2.4).
    pub ack: Option<(Bytes, u64)>,
    /// When it was relayed: a re-INVITE still unanswered 64·T1 later gets 408.
    pub started: u64,
    /// The requester CANCELled this re-INVITE: the CANCEL goes on once the
    /// other side has answered provisionally (RFC 3261 §9.1).
    pub cancel_wanted: bool,
    /// That CANCEL, its own non-INVITE transaction, and when it was sent.
    pub cancel: Option<(ClientTxn, u64)>,
}

impl Attempt {
    /// CANCELs its INVITE (§9.1): a copy of the INVITE's transaction fields,
    /// as for a relayed re-INVITE.
    pub fn send_cancel(&mut self, now: Now) {
        let cancel = super::build::cancel_for(self.txn.request());
        self.cancel = Some(ClientTxn::new(Kind::NonInvite, cancel, now.ms));
    }

    /// The credentials its INVITE carried, borrowed as a header (name, value).
    pub fn credentials_header(&self) -> Option<(&'static str, &str)> {
        self.credentials.as_ref().map(|(name, value)| (*name, value.as_str()))
    }
}

impl Relay {
    /// Sends the CANCEL its requester asked for, once the other side has
    /// answered provisionally (§9.1: not before), a copy of the relayed
    /// re-INVITE's transaction fields.
    pub fn send_cancel(&mut self, now: Now) {
        if self.cancel.is_none() && self.client.state() == ClientState::Proceeding {
            let cancel = super::build::cancel_for(self.client.request());
            self.cancel = Some((ClientTxn::new(Kind::NonInvite, cancel, now.ms), now.ms));
        }
    }

    /// When a relayed re-INVITE still unanswered gets 408: Timer B stops at
    /// a 1xx and relays have no Timer C. Once CANCELled, 64·T1 after the
    /// CANCEL (§9.1), and it gets 487 then. None once answered, or for others.
    pub fn invite_deadline(&self) -> Option<u64> {
        let from = self.cancel.as_ref().map_or(self.started, |(_, sent)| *sent);
        (self.method == "INVITE" && self.server.state() == ServerState::Proceeding)
            .then_some(from + crate::txn::TIMEOUT_64T1)
    }
}

/// One call.
#[derive(Debug)]
pub struct Call {
    pub generation: u32,
    pub slot: u32,
    pub snap: Arc<RoutingSnapshot>,
    pub customer: usize,
    pub phase: Phase,
    pub a: ALeg,
    pub attempts: Vec<Attempt>,
    pub candidates: Vec<Candidate>,
    pub next_candidate: usize,
    pub answered: Option<usize>,
    /// Most telling failure so far.
    pub best: Option<u16>,
    pub max_forwards: u8,
    pub invite_deadline: Option<u64>,
    pub ring_deadline: Option<u64>,
    /// The answer plus `max_call_duration`: then tandem hangs up both legs
    /// (kept in the core's `talk_limits`, not in the timer wheel).
    pub talk_deadline: Option<u64>,
    /// The end plus timer J (and T4): until then the call, or its tombs,
    /// answer a retransmitted BYE or CANCEL with the same 200, not a 481.
    pub linger_until: Option<u64>,
    /// Our BYEs: the leg, the branch (to match answers without parsing our
    /// own request again) and the transaction.
    pub byes: Vec<(Side, String, ClientTxn)>,
    pub relays: Vec<Relay>,
    pub cdr: Cdr,
    pub scheduled: Option<u64>,
    /// The Request-URI user part as received.
    pub dialed: String,
    /// The number portability answer used for this call.
    pub lrn: super::lrn::LrnInfo,
    /// Waiting for the dip of this number before routing.
    pub parked: Option<u64>,
    /// Post-dial delay recorded (first ringing or answer relayed).
    pub pdd_done: bool,
}

/// How telling a failure is, for the answer to the A-leg when every vendor
/// failed: busy beats a specific refusal beats a server error beats a timeout.
pub fn telling(code: u16) -> u8 {
    match code {
        486 | 600 | 603 => 6,
        404 | 484 | 485 | 604 => 5,
        408 => 2,
        400..=499 | 606..=699 => 4,
        500..=599 => 3,
        _ => 1,
    }
}

impl Call {
    /// The current attempt.
    pub fn current(&self) -> Option<usize> {
        self.attempts.len().checked_sub(1)
    }

    /// Remembers a failure if it is the most telling so far.
    pub fn note_failure(&mut self, code: u16) {
        if self.best.is_none_or(|b| telling(code) > telling(b)) {
            self.best = Some(code);
        }
    }

    /// The peer address of a side.
    pub fn peer(&self, side: Side) -> SocketAddr {
        match side {
            Side::A => self.a.peer,
            Side::B(i) => self.attempts.get(i as usize).map_or(self.a.peer, |t| t.peer),
        }
    }

    /// The earliest time anything in the call needs attention.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut t = earliest(self.a.txn.poll_timeout(), self.invite_deadline);
        t = earliest(t, self.ring_deadline);
        t = earliest(t, self.linger_until);
        for at in &self.attempts {
            t = earliest(t, at.txn.poll_timeout());
            t = earliest(t, at.cancel.as_ref().and_then(ClientTxn::poll_timeout));
        }
        for (_, _, b) in &self.byes {
            t = earliest(t, b.poll_timeout());
        }
        for r in &self.relays {
            t = earliest(earliest(t, r.server.poll_timeout()), r.client.poll_timeout());
            t = earliest(t, r.invite_deadline());
            t = earliest(t, r.cancel.as_ref().and_then(|(c, _)| c.poll_timeout()));
        }
        t
    }

    /// Every datagram the call's transactions want sent, with its destination.
    pub fn flush(&mut self, out: &mut Outbox) {
        while let Some(d) = self.a.txn.poll_transmit() {
            out.push_to(Side::A, (d, self.a.peer));
        }
        for (i, at) in self.attempts.iter_mut().enumerate() {
            let side = Side::B(i as u16);
            while let Some(d) = at.txn.poll_transmit() {
                out.push_to(side, (d, at.peer));
            }
            if let Some(c) = at.cancel.as_mut() {
                while let Some(d) = c.poll_transmit() {
                    out.push_to(side, (d, at.peer));
                }
            }
        }
        // Answers to the dialog's pending requests go before a BYE that ends it.
        for k in 0..self.relays.len() {
            let (from, to) = (self.relays[k].from, self.relays[k].to);
            let (back, forth) = (self.peer(from), self.peer(to));
            while let Some(d) = self.relays[k].server.poll_transmit() {
                out.push_to(from, (d, back));
            }
            while let Some(d) = self.relays[k].client.poll_transmit() {
                out.push_to(to, (d, forth));
            }
            while let Some(d) = self.relays[k].cancel.as_mut().and_then(|(c, _)| c.poll_transmit()) {
                out.push_to(to, (d, forth));
            }
        }
        for k in 0..self.byes.len() {
            let (side, peer) = (self.byes[k].0, self.peer(self.byes[k].0));
            while let Some(d) = self.byes[k].2.poll_transmit() {
                out.push_to(side, (d, peer));
            }
        }
    }

    /// Drops finished BYEs and relays. A non-INVITE client transaction that
    /// has its final answer only absorbs retransmissions of it (timer K);
    /// over UDP those are harmless strays, so a BYE in Completed is finished.
    pub fn prune(&mut self, now: u64) {
        self.byes.retain(|(_, _, b)| !b.settled());
        self.relays.retain(|r| {
            r.awaiting_ack
                || r.server.state() != ServerState::Terminated
                || r.client.state() != ClientState::Terminated
                || r.cancel.as_ref().is_some_and(|(c, _)| !c.settled())
                || r.ack.as_ref().is_some_and(|(_, until)| now < *until)
        });
    }

    /// Over, and its transactions at most absorb retransmissions (or the
    /// linger time is up): the call can give way to its tombs. A final
    /// answer sent to A and ACKed, a final answer from a vendor and ACKed,
    /// a CANCEL or BYE answered: each only waits for copies of what it saw.
    pub fn finished(&self, now: u64) -> bool {
        if self.phase != Phase::Ended {
            return false;
        }
        if self.linger_until.is_some_and(|t| now >= t) {
            return true;
        }
        let a_done = matches!(self.a.txn.state(), ServerState::Confirmed | ServerState::Terminated);
        // An attempt given up before any provisional may still answer late:
        // its 2xx must get a BYE that is retransmitted until answered, which
        // only the whole call sends. Such calls stay whole until the end.
        let b_done = self.attempts.iter().all(|t| {
            t.txn.settled()
                && t.cancel.as_ref().is_none_or(ClientTxn::settled)
                && !(t.cancel_wanted && !t.provisional && !t.killed)
        });
        a_done && b_done && self.byes.is_empty() && self.relays.is_empty()
    }

    /// The B-leg's From as tandem writes it: the caller's user at tandem's host.
    pub fn b_from(local: &Local, caller: &str, tag: &str) -> String {
        let user = if caller.is_empty() { "anonymous" } else { caller };
        ["<sip:", user, "@", &local.host, ">;tag=", tag].concat()
    }
}
