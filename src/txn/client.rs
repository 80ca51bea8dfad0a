//! Client transactions (RFC 3261 §17.1): retransmit the request until a
//! response or timeout; for INVITE, ACK a non-2xx final hop by hop and
//! absorb its retransmissions (timer D).

use super::{Kind, T1, T2, T4, TIMEOUT_64T1, TIMER_D, earliest};
use bytes::Bytes;

/// Where a client transaction is (RFC 3261 figures 5 and 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, no response (timers A, B).
    Calling,
    /// Non-INVITE sent, no response (timers E, F).
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; absorbing retransmissions (timers D, K).
    Completed,
    /// Done; the transaction can be dropped.
    Terminated,
}

/// What a call learns from its client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// Nothing new (retransmission absorbed, timer not due, ...).
    Nothing,
    /// A 1xx to pass up.
    Provisional(u16),
    /// The first final response to pass up.
    Final(u16),
    /// No final response within timer B/F.
    Timeout,
}

/// One client transaction.
#[derive(Debug)]
pub struct ClientTxn {
    kind: Kind,
    state: ClientState,
    request: Bytes,
    ack: Option<Bytes>,
    outbox: Option<Bytes>,
    interval: u64,
    retransmit_at: Option<u64>,
    deadline: u64,
}

impl ClientTxn {
    /// Starts a transaction: the request goes out at once.
    pub fn new(kind: Kind, request: Bytes, now: u64) -> Self {
        let state = if kind == Kind::Invite { ClientState::Calling } else { ClientState::Trying };
        ClientTxn {
            kind,
            state,
            outbox: Some(request.clone()),
            request,
            ack: None,
            interval: T1,
            retransmit_at: Some(now + T1),
            deadline: now + TIMEOUT_64T1,
        }
    }

    /// Current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// It has its final answer (or gave up): from now on it only absorbs
    /// copies of that answer (timers D, K), and sends nothing of its own.
    pub fn settled(&self) -> bool {
        matches!(self.state, ClientState::Completed | ClientState::Terminated)
    }

    /// The ACK a retransmitted failure answer gets, while that can happen.
    pub fn pending_ack(&self) -> Option<&Bytes> {
        self.ack.as_ref().filter(|_| self.state == ClientState::Completed)
    }

    /// The request as sent.
    pub fn request(&self) -> &Bytes {
        &self.request
    }

    /// A response for this transaction. `ack` builds the ACK for a non-2xx
    /// final answer to an INVITE (called at most once).
    pub fn handle_response(&mut self, status: u16, now: u64, ack: impl FnOnce() -> Bytes) -> ClientEvent {
        match (self.state, status) {
            (ClientState::Terminated, _) => ClientEvent::Nothing,
            (ClientState::Completed, _) => {
                // A retransmitted final answer: re-send the ACK (INVITE only).
                self.outbox = self.ack.clone();
                ClientEvent::Nothing
            }
            (_, 100..=199) => self.provisional(status, now),
            (_, _) => self.final_response(status, now, ack),
        }
    }

    fn provisional(&mut self, status: u16, now: u64) -> ClientEvent {
        if self.kind == Kind::Invite {
            // Timers A and B stop in Proceeding; the call's own ring timer (C) governs.
            self.retransmit_at = None;
            self.deadline = u64::MAX;
        } else if self.state == ClientState::Trying {
            self.interval = T2;
            self.retransmit_at = Some(now + T2);
        }
        self.state = ClientState::Proceeding;
        ClientEvent::Provisional(status)
    }

    fn final_response(&mut self, status: u16, now: u64, ack: impl FnOnce() -> Bytes) -> ClientEvent {
        self.retransmit_at = None;
        match (self.kind, status) {
            // 2xx to INVITE: the transaction ends; the ACK is end to end (the call's job).
            (Kind::Invite, 200..=299) => self.state = ClientState::Terminated,
            (Kind::Invite, _) => {
                let a = ack();
                self.outbox = Some(a.clone());
                self.ack = Some(a);
                self.state = ClientState::Completed;
                self.deadline = now + TIMER_D;
            }
            (Kind::NonInvite, _) => {
                self.state = ClientState::Completed;
                self.deadline = now + T4;
            }
        }
        ClientEvent::Final(status)
    }

    /// Time passed: retransmit (A/E) or give up (B/F) or finish (D/K).
    pub fn handle_timeout(&mut self, now: u64) -> ClientEvent {
        if self.state == ClientState::Terminated {
            return ClientEvent::Nothing;
        }
        if now >= self.deadline {
            let was_waiting =
                matches!(self.state, ClientState::Calling | ClientState::Trying | ClientState::Proceeding);
            self.state = ClientState::Terminated;
            self.retransmit_at = None;
            return if was_waiting { ClientEvent::Timeout } else { ClientEvent::Nothing };
        }
        if self.retransmit_at.is_some_and(|t| now >= t) {
            self.outbox = Some(self.request.clone());
            self.interval = match self.kind {
                Kind::Invite => self.interval * 2,
                Kind::NonInvite => (self.interval * 2).min(T2),
            };
            self.retransmit_at = Some(now + self.interval);
        }
        ClientEvent::Nothing
    }

    /// Stops retransmitting: the call gave up on this request. The
    /// transaction still takes an answer until timer B: a provisional lets
    /// the call CANCEL it (RFC 3261 §9.1: not before one), a failure gets
    /// its ACK.
    pub fn abandon(&mut self) {
        self.retransmit_at = None;
        self.outbox = None;
    }

    /// A datagram to send now, if any.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outbox.take()
    }

    /// When [`ClientTxn::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            ClientState::Terminated => None,
            _ => earliest(self.retransmit_at, (self.deadline != u64::MAX).then_some(self.deadline)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack() -> Bytes {
        Bytes::from_static(b"ACK")
    }

    #[test]
    fn invite_retransmits_with_doubling_until_timer_b() {
        let mut t = ClientTxn::new(Kind::Invite, Bytes::from_static(b"INVITE"), 0);
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"INVITE"[..]));
        let mut sent_at = Vec::new();
        let mut now = 0;
        while let Some(at) = t.poll_timeout() {
            now = at;
            if t.handle_timeout(now) == ClientEvent::Timeout {
                break;
            }
            if t.poll_transmit().is_some() {
                sent_at.push(now);
            }
        }
        assert_eq!(sent_at, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(now, 32_000);
        assert_eq!(t.state(), ClientState::Terminated);
    }

    #[test]
    fn invite_non_2xx_is_acked_and_retransmissions_reacked() {
        let mut t = ClientTxn::new(Kind::Invite, Bytes::from_static(b"INVITE"), 0);
        t.poll_transmit();
        assert_eq!(t.handle_response(100, 10, ack), ClientEvent::Provisional(100));
        assert_eq!(t.poll_timeout(), None, "timers A and B stop after a provisional");
        assert_eq!(t.handle_response(503, 20, ack), ClientEvent::Final(503));
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"ACK"[..]));
        assert_eq!(t.handle_response(503, 30, ack), ClientEvent::Nothing);
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"ACK"[..]));
        assert_eq!(t.poll_timeout(), Some(20 + TIMER_D));
        assert_eq!(t.handle_timeout(20 + TIMER_D), ClientEvent::Nothing);
        assert_eq!(t.state(), ClientState::Terminated);
    }

    #[test]
    fn an_abandoned_invite_is_quiet_but_still_takes_its_answer() {
        let mut t = ClientTxn::new(Kind::Invite, Bytes::from_static(b"INVITE"), 0);
        t.poll_transmit();
        t.abandon();
        assert_eq!(t.poll_timeout(), Some(TIMEOUT_64T1), "no timer A, timer B still runs");
        assert_eq!(t.handle_timeout(500), ClientEvent::Nothing);
        assert_eq!(t.poll_transmit(), None, "no retransmission");
        assert_eq!(t.handle_response(180, 600, ack), ClientEvent::Provisional(180));
        assert_eq!(t.handle_response(487, 700, ack), ClientEvent::Final(487));
        assert_eq!(t.poll_transmit().as_deref(), Some(&b"ACK"[..]), "its failure is ACKed");
        let mut quiet = ClientTxn::new(Kind::Invite, Bytes::from_static(b"INVITE"), 0);
        quiet.abandon();
        assert_eq!(quiet.handle_timeout(TIMEOUT_64T1), ClientEvent::Timeout);
        assert_eq!(quiet.state(), ClientState::Terminated);
    }

    #[test]
    fn invite_2xx_terminates_without_ack() {
        let mut t = ClientTxn::new(Kind::Invite, Bytes::from_static(b"INVITE"), 0);
        t.poll_transmit();
        assert_eq!(t.handle_response(200, 5, ack), ClientEvent::Final(200));
        assert_eq!(t.poll_transmit(), None);
        assert_eq!(t.state(), ClientState::Terminated);
    }

    #[test]
    fn non_invite_caps_at_t2_and_times_out() {
        let mut t = ClientTxn::new(Kind::NonInvite, Bytes::from_static(b"BYE"), 0);
        t.poll_transmit();
        let mut sent_at = Vec::new();
        while let Some(at) = t.poll_timeout() {
            if t.handle_timeout(at) == ClientEvent::Timeout {
                break;
            }
            if t.poll_transmit().is_some() {
                sent_at.push(at);
            }
        }
        assert_eq!(&sent_at[..5], [500, 1500, 3500, 7500, 11500]);
        assert!(sent_at.windows(2).all(|w| w[1] - w[0] <= T2));
        let mut t = ClientTxn::new(Kind::NonInvite, Bytes::from_static(b"BYE"), 0);
        assert_eq!(t.handle_response(200, 100, ack), ClientEvent::Final(200));
        assert_eq!(t.poll_timeout(), Some(100 + T4));
    }
}
