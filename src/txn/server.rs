//! Server transactions (RFC 3261 §17.2, with RFC 6026's Accepted state):
//! answer request retransmissions with the last response, retransmit a
//! final response to INVITE until the ACK comes, and time out.

use super::{Kind, T1, T2, T4, TIMEOUT_64T1, earliest};
use bytes::Bytes;

/// Where a server transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Request received, no final answer yet.
    Proceeding,
    /// INVITE answered 2xx; the 2xx is retransmitted until the ACK
    /// (RFC 3261 §13.3.1.4, RFC 6026 §7.1).
    Accepted,
    /// Final answer sent (non-2xx for INVITE): retransmitting (G) / absorbing (J).
    Completed,
    /// INVITE: the ACK for a non-2xx arrived; absorbing ACK retransmissions (timer I).
    Confirmed,
    /// Done.
    Terminated,
}

/// What the owner learns from a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// Nothing to report.
    Nothing,
    /// A final answer to INVITE was never ACKed within 64·T1 (timer H / the 2xx timeout).
    NoAck,
}

/// One server transaction.
#[derive(Debug)]
pub struct ServerTxn {
    kind: Kind,
    state: ServerState,
    last: Option<Bytes>,
    outbox: Option<Bytes>,
    interval: u64,
    retransmit_at: Option<u64>,
    deadline: Option<u64>,
}

impl ServerTxn {
    /// A new transaction for a received request.
    pub fn new(kind: Kind) -> Self {
        ServerTxn {
            kind,
            state: ServerState::Proceeding,
            last: None,
            outbox: None,
            interval: T1,
            retransmit_at: None,
            deadline: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// The request came again: answer with the last response, if any.
    pub fn handle_retransmission(&mut self) {
        if matches!(self.state, ServerState::Proceeding | ServerState::Completed) {
            self.outbox = self.last.clone();
        }
    }

    /// The owner answers.
    pub fn respond(&mut self, status: u16, response: Bytes, now: u64) {
        if matches!(self.state, ServerState::Terminated | ServerState::Confirmed) {
            return;
        }
        self.outbox = Some(response.clone());
        self.last = Some(response);
        if status < 200 {
            return;
        }
        self.deadline = Some(now + TIMEOUT_64T1);
        self.state = match (self.kind, status) {
            (Kind::Invite, 200..=299) => ServerState::Accepted,
            _ => ServerState::Completed,
        };
        self.retransmit_at = (self.kind == Kind::Invite).then_some(now + T1);
    }

    /// An ACK for this INVITE transaction. Returns `true` when it acknowledges
    /// a 2xx (end to end: the owner passes it on), `false` when it is absorbed.
    pub fn handle_ack(&mut self, now: u64) -> bool {
        match self.state {
            ServerState::Accepted => {
                self.state = ServerState::Terminated;
                (self.retransmit_at, self.last) = (None, None);
                true
            }
            ServerState::Completed => {
                // Confirmed only absorbs ACKs: the response is never sent again.
                self.state = ServerState::Confirmed;
                (self.retransmit_at, self.last) = (None, None);
                self.deadline = Some(now + T4);
                false
            }
            _ => false,
        }
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: u64) -> ServerEvent {
        if self.deadline.is_some_and(|d| now >= d) {
            let no_ack = self.kind == Kind::Invite
                && matches!(self.state, ServerState::Accepted | ServerState::Completed);
            self.state = ServerState::Terminated;
            (self.retransmit_at, self.last) = (None, None);
            return if no_ack { ServerEvent::NoAck } else { ServerEvent::Nothing };
        }
        if self.retransmit_at.is_some_and(|t| now >= t) {
            self.outbox = self.last.clone();
            self.interval = (self.interval * 2).min(T2);
            self.retransmit_at = Some(now + self.interval);
        }
        ServerEvent::Nothing
    }

    /// A datagram to send now, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.take()
    }

    /// When [`ServerTxn::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            ServerState::Terminated => None,
            _ => earliest(self.retransmit_at, self.deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmitted_invite_gets_the_last_provisional() {
        let mut t = ServerTxn::new(Kind::Invite);
        t.handle_retransmission();
        assert_eq!(t.poll_transmit(), None);
        t.respond(100, Bytes::from_static(b"100"), 0);
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"100"[..]));
        t.handle_retransmission();
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"100"[..]));
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn non_2xx_retransmits_until_ack_then_absorbs() {
        let mut t = ServerTxn::new(Kind::Invite);
        t.respond(486, Bytes::from_static(b"486"), 0);
        t.poll_transmit();
        let mut at = Vec::new();
        while let Some(when) = t.poll_timeout() {
            if when > 10_000 {
                break;
            }
            t.handle_timeout(when);
            if t.poll_transmit().is_some() {
                at.push(when);
            }
        }
        assert_eq!(at, [500, 1500, 3500, 7500]);
        assert!(!t.handle_ack(8_000));
        assert_eq!(t.state(), ServerState::Confirmed);
        assert_eq!(t.poll_timeout(), Some(8_000 + T4));
    }

    #[test]
    fn unacked_2xx_reports_no_ack() {
        let mut t = ServerTxn::new(Kind::Invite);
        t.respond(200, Bytes::from_static(b"200"), 0);
        let mut event = ServerEvent::Nothing;
        while let Some(when) = t.poll_timeout() {
            event = t.handle_timeout(when);
        }
        assert_eq!(event, ServerEvent::NoAck);
        let mut t = ServerTxn::new(Kind::Invite);
        t.respond(200, Bytes::from_static(b"200"), 0);
        assert!(t.handle_ack(100));
        assert_eq!(t.state(), ServerState::Terminated);
    }

    #[test]
    fn non_invite_absorbs_for_timer_j() {
        let mut t = ServerTxn::new(Kind::NonInvite);
        t.respond(200, Bytes::from_static(b"200"), 0);
        t.poll_transmit();
        t.handle_retransmission();
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"200"[..]));
        assert_eq!(t.poll_timeout(), Some(TIMEOUT_64T1));
        assert_eq!(t.handle_timeout(TIMEOUT_64T1), ServerEvent::Nothing);
        assert_eq!(t.state(), ServerState::Terminated);
    }
}
