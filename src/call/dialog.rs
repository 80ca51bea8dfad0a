//! Inside a call: ACK, CANCEL, BYE, requests relayed between the legs, the
//! responses to them, timers and shutdown.

use super::build::{self, Request, body_of};
use super::invite::release_attempt;
use super::state::{Call, Phase, Relay, Side};
use super::{Core, Now};
use crate::cdr::HangUp;
use crate::sip::{self, HeaderName, Message, Method};
use crate::txn::{ClientEvent, ClientTxn, Kind, ServerEvent, ServerState, ServerTxn};
use bytes::Bytes;
use std::net::SocketAddr;

/// The fields of an in-dialog request towards one leg, borrowed from it.
struct Route<'c> {
    uri: &'c str,
    from: &'c str,
    to: &'c str,
    call_id: &'c str,
    cseq: u32,
    /// The route set, as a `Route` value; empty: none.
    routes: &'c str,
    /// The INVITE's credentials, which the ACK of its 2xx repeats (§13.2.2.4).
    credentials: Option<(&'c str, &'c str)>,
}

impl Core {
    pub(super) fn in_dialog(
        &mut self,
        call: &mut Call,
        side: Side,
        msg: &Message<'_>,
        data: &Bytes,
        peer: SocketAddr,
        now: Now,
    ) {
        let has_to_tag = msg.to().map(|t| t.tag.is_some()).unwrap_or(false);
        // RFC 3261 §12.2.2: a request with a To tag belongs to this dialog only
        // if both tags are the dialog's; else 481. An ACK is matched by
        // on_ack (the ACK of a failure goes by its transaction's branch, §17.2.3).
        let ack = msg.method() == Some(Method::Ack);
        if has_to_tag && !ack && !tags_match(call, side, msg) {
            return self.reply_on(side, msg, peer, 481);
        }
        match (side, msg.method()) {
            (Side::A, Some(Method::Invite)) if !has_to_tag => {
                match repeat(&call.a.branch, call.a.invite_cseq, msg) {
                    Repeat::Retransmission => {
                        call.a.txn.handle_retransmission();
                        self.stats.retransmissions += 1;
                    }
                    Repeat::Stale => self.stats.retransmissions += 1,
                    Repeat::Merged => self.refuse(side, msg, peer, 482, 0),
                    // The retry of a call that failed (a higher CSeq, RFC 3261
                    // §8.1.3.5) while our final answer still waits for its ACK:
                    // the retry says the caller has that answer, so it stands
                    // in for the ACK, which was lost or is behind it.
                    Repeat::NewRequest
                        if call.phase == Phase::Ended
                            && call.answered.is_none()
                            && call.a.txn.state() == ServerState::Completed =>
                    {
                        call.a.txn.handle_ack(now.ms);
                        self.retry_as_new = true;
                    }
                    // RFC 3261 §14.2: an INVITE while an earlier one (with a lower
                    // CSeq) holds the Call-ID: 500 with Retry-After.
                    Repeat::NewRequest => self.refuse(side, msg, peer, 500, 5),
                }
            }
            // Our own B-leg INVITE come back (it keeps our Call-ID): the route
            // loops through tandem. Relaying it would turn it into a re-INVITE.
            (Side::B(_), Some(Method::Invite)) if !has_to_tag => self.refuse(side, msg, peer, 482, 0),
            (_, Some(Method::Ack)) => self.on_ack(call, side, msg, now),
            (Side::A, Some(Method::Cancel)) if top_branch(msg) == call.a.branch => {
                self.on_cancel(call, msg, peer, now)
            }
            (_, Some(Method::Cancel)) => self.cancel_relayed(call, side, msg, peer, now),
            (_, Some(Method::Bye)) => self.on_bye(call, side, msg, peer, now),
            (_, Some(Method::Invite | Method::Update | Method::Info | Method::Options)) => {
                self.relay_request(call, side, msg, data, peer, now)
            }
            // Nothing else crosses: a relayed request carries tandem's headers and
            // the body only, so a REFER, SUBSCRIBE, NOTIFY, PRACK or MESSAGE would
            // reach the other side without the headers that make it (Refer-To,
            // Event, RAck). Refused like outside a dialog (§8.2.1); the call goes on.
            (_, Some(Method::Other(_)) | None) => self.reply_on(side, msg, peer, 501),
            _ => self.reply_on(side, msg, peer, 405),
        }
    }

    fn on_ack(&mut self, call: &mut Call, side: Side, msg: &Message<'_>, now: Now) {
        let seq = msg.cseq().map_or(0, |c| c.seq);
        let relayed = |r: &Relay| r.from == side && r.method == "INVITE" && r.in_cseq == seq;
        if let Some(k) = call.relays.iter().position(relayed) {
            let r = &mut call.relays[k];
            // Its answer is not sent again (§17.2.1, RFC 6026), 2xx or not.
            r.server.handle_ack(now.ms);
            if !r.awaiting_ack {
                return; // the ACK of a failure is hop by hop; a repeated one, absorbed
            }
            r.awaiting_ack = false;
            let (to, out_cseq) = (r.to, r.out_cseq);
            let ack = self.request_to(call, to, "ACK", Some(out_cseq), body_of(msg));
            self.outbox.push_to(to, (ack.clone(), call.peer(to)));
            call.relays[k].ack = Some((ack, now.ms + crate::txn::TIMEOUT_64T1));
            return;
        }
        // Ours: the ACK of a failure has the INVITE's branch (RFC 3261
        // §17.2.3), the ACK of a 2xx our To tag (the dialog's) and the
        // INVITE's CSeq. The ACK of a 482 or 500 that refused a second INVITE
        // on this Call-ID has neither; that of a 420 to a re-INVITE has the
        // tag but the re-INVITE's CSeq.
        let ours = top_branch(msg) == call.a.branch
            || (msg.to().is_ok_and(|t| t.tag == Some(call.a.our_tag.as_str())) && seq == call.a.invite_cseq);
        if side != Side::A || !ours || !call.a.txn.handle_ack(now.ms) {
            return; // ACK for a non-2xx, absorbed by the transaction
        }
        if let Some(i) = call.answered
            && call.attempts[i].ack.is_none()
        {
            // Relayed, unless tandem ACKed the vendor itself (the call ended first).
            self.ack_2xx(call, i, body_of(msg));
        }
        if std::mem::take(&mut call.a.bye_after_ack) {
            self.send_bye(call, Side::A, now);
        }
    }

    fn on_cancel(&mut self, call: &mut Call, msg: &Message<'_>, peer: SocketAddr, now: Now) {
        let branch = top_branch(msg);
        if branch != call.a.branch {
            return self.reply(msg, peer, 481);
        }
        // §9.2: the same To tag as the INVITE's answer.
        self.answer(Side::A, msg, peer, 200, Some(&call.a.our_tag), 0);
        if call.phase == Phase::Hunting {
            self.cancel_hunt(call, now);
            self.fail(call, 487, HangUp::Caller, now);
        }
    }

    /// Stops the current attempt: CANCEL once it has rung, else stop
    /// retransmitting and CANCEL if it rings later.
    pub(super) fn cancel_hunt(&mut self, call: &mut Call, now: Now) {
        let Some(i) = call.current() else { return };
        let att = &mut call.attempts[i];
        att.cancel_wanted = true;
        if att.provisional && att.cancel.is_none() {
            att.send_cancel(now);
        } else if !att.provisional {
            att.txn.abandon();
        }
        release_attempt(&call.snap, att);
    }

    /// A request in the dialog of a call that has ended (RFC 3261 §17.2.2,
    /// §9.2): a retransmitted BYE, or a CANCEL of the INVITE, gets 200
    /// again; an ACK or the INVITE itself again is absorbed; the same INVITE
    /// through another branch (merged) gets 482; a new INVITE (higher CSeq)
    /// after an answered call gets 500 until the Call-ID is forgotten (the
    /// old dialog's stragglers must not reach a new call); anything else
    /// gets 481, as the dialog is gone. (A new INVITE after a call that was
    /// never answered does not get here: it starts a new call, see
    /// `Core::on_request`.)
    pub(super) fn after_end(
        &mut self,
        side: Side,
        branch_matches: bool,
        repeat: Repeat,
        retry_after_s: u64,
        msg: &sip::Message<'_>,
        peer: SocketAddr,
    ) {
        let has_to_tag = msg.to().is_ok_and(|t| t.tag.is_some());
        match msg.method() {
            Some(Method::Ack) => {}
            // A merged copy of the caller's INVITE, or our own B-leg INVITE come back.
            Some(Method::Invite) if !has_to_tag && (side != Side::A || repeat == Repeat::Merged) => {
                self.refuse(side, msg, peer, 482, 0)
            }
            Some(Method::Invite) if !has_to_tag && repeat == Repeat::NewRequest => {
                self.refuse(side, msg, peer, 500, retry_after_s)
            }
            Some(Method::Invite) if side == Side::A && !has_to_tag => self.stats.retransmissions += 1,
            Some(Method::Bye) => {
                self.stats.retransmissions += 1;
                self.reply_on(side, msg, peer, 200)
            }
            Some(Method::Cancel) if side == Side::A && branch_matches => {
                self.stats.retransmissions += 1;
                self.reply_on(side, msg, peer, 200)
            }
            _ => self.reply_on(side, msg, peer, 481),
        }
    }

    fn on_bye(&mut self, call: &mut Call, side: Side, msg: &Message<'_>, peer: SocketAddr, now: Now) {
        self.reply_on(side, msg, peer, 200);
        match call.phase {
            Phase::Answered if side == Side::A => {
                // A caller that hangs up on the confirmed dialog has our 2xx
                // (it ACKs before its BYE, §15; the ACK may be lost): stop sending it.
                call.a.txn.handle_ack(now.ms);
                end_pending_relays(call, now);
                let b = Side::B(call.answered.unwrap_or(0) as u16);
                self.send_bye(call, b, now);
                self.end_call(call, 200, HangUp::Caller, now);
            }
            Phase::Answered if call.answered.map(|i| Side::B(i as u16)) == Some(side) => {
                end_pending_relays(call, now);
                self.bye_caller(call, now);
                self.end_call(call, 200, HangUp::Callee, now);
            }
            Phase::Hunting if side == Side::A => {
                self.cancel_hunt(call, now);
                self.fail(call, 487, HangUp::Caller, now);
            }
            _ => {}
        }
    }

    /// Our BYE to the caller, once our 2xx has its ACK (RFC 3261 §15: not
    /// before it, unless the 2xx timed out); until then it waits (`on_ack`, `on_timer`).
    fn bye_caller(&mut self, call: &mut Call, now: Now) {
        if call.a.txn.state() == ServerState::Accepted {
            call.a.bye_after_ack = true;
        } else {
            self.send_bye(call, Side::A, now);
        }
    }

    /// Our own BYE to one leg.
    pub(super) fn send_bye(&mut self, call: &mut Call, side: Side, now: Now) {
        if let Side::B(i) = side {
            self.ack_before_bye(call, usize::from(i));
        }
        let branch = self.ids.branch();
        let bye = route_to(call, side, None).request("BYE", &branch, None, self.local_for(side));
        call.byes.push((side, branch, ClientTxn::new(Kind::NonInvite, bye, now.ms)));
    }

    /// The vendor's 2xx is ACKed before its dialog's BYE (RFC 3261
    /// §13.2.2.4, §15). Its ACK is the caller's, relayed (it may carry the
    /// SDP answer); a call that ends before the caller's ACK (lost, or never
    /// sent) gets one of ours. Kept, so copies of the 2xx are ACKed again,
    /// by the call's tombs after it ends.
    fn ack_before_bye(&mut self, call: &mut Call, i: usize) {
        if call.answered != Some(i) || call.attempts[i].ack.is_some() {
            return;
        }
        // Late offer: the ACK must answer it (RFC 3261 §13.2.2.4), and rejects every stream.
        let answer = call.attempts[i].offer.as_deref().map(|o| build::refusing_answer(o, &self.local_b.host));
        self.ack_2xx(call, i, answer.as_deref().map(|a| ("application/sdp", a)));
    }

    /// Sends attempt `i` the ACK of its 2xx (the B-leg INVITE's CSeq) with
    /// `body`, and keeps it for copies of that 2xx.
    pub(super) fn ack_2xx(&mut self, call: &mut Call, i: usize, body: Option<(&str, &[u8])>) {
        let cseq = call.attempts[i].invite_cseq;
        let ack = self.request_to(call, Side::B(i as u16), "ACK", Some(cseq), body);
        let att = &mut call.attempts[i];
        self.outbox.push_to(Side::B(i as u16), (ack.clone(), att.peer));
        att.ack = Some(ack);
    }

    /// A 2xx from another dialog than the one attempt `i` keeps (the vendor
    /// side forked): ACKed and hung up with a BYE (RFC 3261 §13.2.2.4), each
    /// on that dialog (its To tag, its Contact). Copies of that 2xx get the
    /// same ACK again and no second BYE.
    pub(super) fn end_fork(&mut self, call: &mut Call, i: usize, msg: &Message<'_>, now: Now) {
        let side = Side::B(i as u16);
        let tag = msg.to().ok().and_then(|t| t.tag).unwrap_or_default();
        let att = &mut call.attempts[i];
        if let Some((_, ack)) = att.forks.iter().find(|(t, _)| t == tag) {
            self.outbox.push_to(side, (ack.clone(), att.peer));
            self.stats.retransmissions += 1;
            return;
        }
        let to = msg.header(sip::HeaderName::To).and_then(|h| h.value_str().ok()).unwrap_or_default();
        let uri = match msg.contacts().next() {
            Some(Ok(sip::Contact::Addr(c))) => c.uri_raw,
            _ => att.target.as_str(),
        };
        let routes = build::route_set(msg, true);
        let credentials = att.credentials_header();
        let route = |cseq| Route {
            uri,
            from: &att.from,
            to,
            call_id: &att.call_id,
            cseq,
            routes: &routes,
            credentials,
        };
        let (ack_branch, bye_branch) = (self.ids.branch(), self.ids.branch());
        let local = self.local_for(side);
        let ack = route(att.invite_cseq).request("ACK", &ack_branch, None, local);
        let bye = route(att.invite_cseq + 1).request("BYE", &bye_branch, None, local);
        self.outbox.push_to(side, (ack.clone(), att.peer));
        att.forks.push((tag.to_owned(), ack));
        call.byes.push((side, bye_branch, ClientTxn::new(Kind::NonInvite, bye, now.ms)));
    }

    /// Builds an in-dialog request towards `side` (`cseq` None: the next one).
    pub(super) fn request_to(
        &mut self,
        call: &mut Call,
        side: Side,
        method: &str,
        cseq: Option<u32>,
        body: Option<(&str, &[u8])>,
    ) -> Bytes {
        let branch = self.ids.branch();
        route_to(call, side, cseq).request(method, &branch, body, self.local_for(side))
    }

    fn relay_request(
        &mut self,
        call: &mut Call,
        side: Side,
        msg: &Message<'_>,
        data: &Bytes,
        peer: SocketAddr,
        now: Now,
    ) {
        let branch = top_branch(msg);
        if let Some(r) = call.relays.iter_mut().find(|r| r.from == side && in_branch(&r.request, branch)) {
            r.server.handle_retransmission();
            self.stats.retransmissions += 1;
            return;
        }
        let Some(answered) = call.answered.filter(|_| call.phase == Phase::Answered) else {
            return self.reply_on(side, msg, peer, 481);
        };
        let to = if side == Side::A { Side::B(answered as u16) } else { Side::A };
        if side != Side::A && side != to.other(answered) {
            return self.reply_on(side, msg, peer, 481);
        }
        if super::requires_extension(msg) {
            return self.reply_on(side, msg, peer, 420);
        }
        let seq = msg.cseq().map_or(0, |c| c.seq);
        let remote_cseq = match side {
            Side::A => &mut call.a.remote_cseq,
            Side::B(i) => &mut call.attempts[i as usize].remote_cseq,
        };
        if seq < *remote_cseq {
            return self.reply_on(side, msg, peer, 500); // §12.2.2: out of order
        }
        *remote_cseq = seq;
        // §14.2: one re-INVITE at a time in a dialog. Another from the same side
        // gets 500 with Retry-After; one crossing ours (glare) gets 491.
        if msg.method() == Some(Method::Invite)
            && let Some(from) = call.relays.iter().find(|r| r.invite_deadline().is_some()).map(|r| r.from)
        {
            if from == side {
                return self.refuse(side, msg, peer, 500, 2);
            }
            return self.reply_on(side, msg, peer, 491);
        }
        let method = msg.method().map_or("", |m| m.as_str()).to_owned();
        if matches!(msg.method(), Some(Method::Invite | Method::Update)) {
            refresh_target(call, side, msg); // §12.2.2, RFC 3311 §5.2
        }
        let kind = if method == "INVITE" { Kind::Invite } else { Kind::NonInvite };
        let out_branch = self.ids.branch();
        let r = route_to(call, to, None);
        let (out, out_cseq) = (r.request(&method, &out_branch, body_of(msg), self.local_for(to)), r.cseq);
        if !self.outbox.fits(&out) {
            // The other side could never get it: refused at once, the session
            // unchanged (§14.1), instead of a timeout that ends the call.
            return self.reply_on(side, msg, peer, 513);
        }
        call.relays.push(Relay {
            from: side,
            to,
            method,
            request: data.clone(),
            in_cseq: msg.cseq().map_or(0, |c| c.seq),
            server: ServerTxn::new(kind),
            branch: out_branch,
            out_cseq,
            client: ClientTxn::new(kind, out, now.ms),
            awaiting_ack: false,
            ack: None,
            started: now.ms,
            cancel_wanted: false,
            cancel: None,
        });
        if kind == Kind::Invite
            && let Some(r) = call.relays.last_mut()
        {
            // §17.2.1: the other side may take longer than 200 ms; copies get it too.
            r.server.respond(100, build::response(msg, 100, "Trying", None, None, None), now.ms);
        }
    }

    /// A CANCEL that is not for the call's INVITE, for a request relayed from
    /// `side`: 200 while tandem still knows the request (§9.2; a repeated
    /// CANCEL after the final answer too). A re-INVITE still pending is then
    /// CANCELled on the other side, whose 487 comes back as usual; an UPDATE,
    /// INFO or OPTIONS runs its course (§9 cancels INVITEs only). For nothing
    /// known, 481.
    fn cancel_relayed(&mut self, call: &mut Call, side: Side, msg: &Message<'_>, peer: SocketAddr, now: Now) {
        let branch = top_branch(msg);
        let known = call.relays.iter_mut().find(|r| {
            r.from == side && in_branch(&r.request, branch) && r.server.state() != ServerState::Terminated
        });
        let Some(r) = known else { return self.reply_on(side, msg, peer, 481) };
        if r.method == "INVITE" && r.server.state() == ServerState::Proceeding {
            r.cancel_wanted = true;
            r.send_cancel(now);
        }
        self.reply_on(side, msg, peer, 200);
    }

    /// A response from the A side (to our BYE or a relayed request).
    pub(super) fn a_response(&mut self, call: &mut Call, msg: &Message<'_>, now: Now) {
        self.leg_response(call, Side::A, msg, now);
    }

    /// A response from a vendor attempt.
    pub(super) fn b_response(&mut self, call: &mut Call, i: usize, msg: &Message<'_>, now: Now) {
        let method = msg.cseq().map(|c| c.method);
        match method {
            Ok(Method::Invite) if call.attempts.get(i).is_some_and(|a| a.branch == top_branch(msg)) => {
                self.b_invite_response(call, i, msg, now)
            }
            Ok(Method::Cancel) if call.attempts.get(i).is_some_and(|a| a.branch == top_branch(msg)) => {
                let status = msg.status().unwrap_or(0);
                if let Some(c) = call.attempts.get_mut(i).and_then(|a| a.cancel.as_mut()) {
                    c.handle_response(status, now.ms, Bytes::new);
                }
            }
            Ok(Method::Invite)
                if call
                    .attempts
                    .get(i)
                    .is_some_and(|a| a.superseded.iter().any(|(b, _)| b == top_branch(msg))) =>
            {
                self.superseded_response(call, i, msg)
            }
            _ => self.leg_response(call, Side::B(i as u16), msg, now),
        }
    }

    /// A response to an INVITE a challenge replaced: a copy of the challenge
    /// gets its ACK again; a 2xx (a forking proxy's branch answered after all)
    /// is nobody's call: ACK and BYE.
    fn superseded_response(&mut self, call: &mut Call, i: usize, msg: &Message<'_>) {
        let status = msg.status().unwrap_or(0);
        let att = &call.attempts[i];
        let peer = att.peer;
        self.stats.retransmissions += 1;
        if (200..300).contains(&status) {
            return self.hang_up_2xx(msg, peer);
        }
        let ack = att.superseded.iter().find(|(b, _)| b == top_branch(msg)).map(|(_, ack)| ack.clone());
        if let (Some(ack), 300..) = (ack.filter(|a| !a.is_empty()), status) {
            self.outbox.push_to(Side::B(i as u16), (ack, peer));
        }
    }

    fn leg_response(&mut self, call: &mut Call, side: Side, msg: &Message<'_>, now: Now) {
        let status = msg.status().unwrap_or(0);
        let branch = top_branch(msg);
        if msg.cseq().is_ok_and(|c| c.method == Method::Cancel) {
            // The answer to our CANCEL of a relayed re-INVITE: it shares the
            // re-INVITE's branch, so the CSeq method tells them apart.
            let relay = call.relays.iter_mut().find(|r| r.to == side && r.branch == branch);
            match relay.and_then(|r| r.cancel.as_mut()) {
                Some((c, _)) => {
                    c.handle_response(status, now.ms, Bytes::new);
                }
                None => self.stats.stray_responses += 1,
            }
            return;
        }
        if let Some((_, _, bye)) = call.byes.iter_mut().find(|(s, b, _)| *s == side && b == branch) {
            bye.handle_response(status, now.ms, Bytes::new);
            return;
        }
        let Some(r) = call.relays.iter_mut().find(|r| r.to == side && r.branch == branch) else {
            self.stats.stray_responses += 1;
            return;
        };
        let to_value = msg.header(HeaderName::To).map_or(&b""[..], |h| h.value);
        let request = r.client.request().clone();
        let event = r.client.handle_response(status, now.ms, || build::ack_for(&request, to_value));
        if matches!(event, ClientEvent::Provisional(_)) && r.cancel_wanted {
            // Cancelled already: no ringing back to the requester, the CANCEL goes on.
            r.send_cancel(now);
            return;
        }
        if event == ClientEvent::Nothing && (200..300).contains(&status) {
            // A copy of the 2xx: our ACK again, once the requester's came (§13.2.2.4).
            if let Some((ack, _)) = r.ack.clone() {
                self.outbox.push_to(side, (ack, call.peer(side)));
            }
            return;
        }
        if !matches!(event, ClientEvent::Provisional(_) | ClientEvent::Final(_)) || status == 100 {
            return;
        }
        if r.server.state() != ServerState::Proceeding {
            // Answered already (487 when its dialog ended): nothing to relay. A
            // 2xx to such a re-INVITE is ACKed so that it is not repeated.
            if r.method == "INVITE" && (200..300).contains(&status) {
                let out_cseq = r.out_cseq;
                let ack = self.request_to(call, side, "ACK", Some(out_cseq), None);
                self.outbox.push_to(side, (ack, call.peer(side)));
            }
            return;
        }
        if (200..300).contains(&status) && matches!(r.method.as_str(), "INVITE" | "UPDATE") {
            refresh_target(call, side, msg);
        }
        let Some(r) = call.relays.iter_mut().find(|r| r.to == side && r.branch == branch) else { return };
        let Ok(req) = sip::parse(&r.request) else { return };
        // The answer goes back to the requester: our address on its side.
        // A target refresh's 2xx names our target on the requester's side (RFC 3311 §5.2).
        let contact = matches!(r.method.as_str(), "INVITE" | "UPDATE").then(|| self.local_for(r.from));
        let reason = String::from_utf8_lossy(match msg.start() {
            sip::StartLine::Response { reason, .. } => reason,
            sip::StartLine::Request { .. } => b"",
        });
        let rsp = build::response(&req, status, &reason, None, contact, body_of(msg));
        r.server.respond(status, rsp, now.ms);
        r.awaiting_ack = r.method == "INVITE" && (200..300).contains(&status);
        if matches!(status, 408 | 481) {
            // The requester terminates the dialog (RFC 3261 §12.2.1.2, §14.1),
            // and the other side has lost it or cannot be reached. The call
            // ends as when tandem hangs up: a BYE to each leg, and its CDR
            // stops counting now, not when someone notices.
            self.hangup(call, now);
        }
    }

    pub(super) fn on_timer(&mut self, call: &mut Call, now: Now) {
        call.scheduled = None;
        if call.a.txn.handle_timeout(now.ms) == ServerEvent::NoAck {
            // The caller never ACKed our 2xx (RFC 3261 §13.3.1.4): end both
            // legs; or, the call ended already, send the BYE that waited for it.
            if call.phase == Phase::Answered {
                self.hangup(call, now);
            } else if std::mem::take(&mut call.a.bye_after_ack) {
                self.send_bye(call, Side::A, now);
            }
        }
        let current = call.current();
        let mut timed_out = false;
        for (i, att) in call.attempts.iter_mut().enumerate() {
            let ev = att.txn.handle_timeout(now.ms);
            timed_out |= ev == ClientEvent::Timeout && Some(i) == current;
            if let Some(c) = att.cancel.as_mut() {
                c.handle_timeout(now.ms);
            }
        }
        let invite_due = call.invite_deadline.is_some_and(|d| now.ms >= d);
        if call.phase == Phase::Hunting && (timed_out || invite_due) {
            self.attempt_timed_out(call, now);
        }
        if call.phase == Phase::Hunting && call.ring_deadline.is_some_and(|d| now.ms >= d) {
            self.cancel_hunt(call, now);
            call.note_failure(408);
            self.fail(call, 408, HangUp::System, now);
        }
        for (_, _, bye) in &mut call.byes {
            bye.handle_timeout(now.ms);
        }
        self.relay_timers(call, now);
    }

    fn relay_timers(&mut self, call: &mut Call, now: Now) {
        let mut gone = false;
        for r in &mut call.relays {
            r.server.handle_timeout(now.ms);
            if let Some((c, _)) = r.cancel.as_mut() {
                c.handle_timeout(now.ms);
            }
            let timed_out = r.client.handle_timeout(now.ms) == ClientEvent::Timeout
                || r.invite_deadline().is_some_and(|t| now.ms >= t);
            // Only while unanswered: after a 487 (its dialog ended) nothing more.
            if timed_out
                && r.server.state() == ServerState::Proceeding
                && let Ok(req) = sip::parse(&r.request)
            {
                // A re-INVITE the other side only answered 1xx to ends too (Timer
                // B stops at a 1xx): else it would hold the dialog's next ones.
                // Cancelled, it counts as cancelled (§9.1) and the dialog stays.
                r.client.abandon();
                let (status, reason) =
                    if r.cancel_wanted { (487, "Request Terminated") } else { (408, "Request Timeout") };
                r.server.respond(status, build::response(&req, status, reason, None, None, None), now.ms);
                gone |= status == 408;
            }
        }
        if gone {
            self.hangup(call, now); // a 408 of ours ends the dialog, as one relayed does (leg_response)
        }
    }

    /// `max_call_duration` reached: nothing says whether both sides are still
    /// there (no session timer, no media), so a call whose BYE was lost ends here.
    pub(super) fn cut(&mut self, call: &mut Call, now: Now) {
        if call.phase == Phase::Answered {
            self.stats.calls_cut += 1;
            // The CDR ends at the limit, not when the timer ran: a millisecond
            // later would round the talk time up to a second more than the limit,
            // and the wall clock, read apart from the timers' clock, may say
            // a millisecond less.
            let limit_ms = i64::from(call.snap.config.sip.max_call_duration) * 1000;
            let unix_ms = call.cdr.answer_ms.map_or(now.unix_ms, |a| a + limit_ms);
            self.hangup(call, Now { unix_ms, ..now });
        }
    }

    /// Ends a call from tandem's side (shutdown, no ACK for 64·T1, a dialog gone,
    /// `max_call_duration`): BYE both legs when answered, 503 otherwise.
    pub(super) fn hangup(&mut self, call: &mut Call, now: Now) {
        match call.phase {
            Phase::Answered => {
                end_pending_relays(call, now);
                let b = Side::B(call.answered.unwrap_or(0) as u16);
                self.send_bye(call, b, now);
                self.bye_caller(call, now);
                self.end_call(call, 200, HangUp::System, now);
            }
            Phase::Hunting => {
                self.cancel_hunt(call, now);
                self.fail(call, 503, HangUp::System, now);
            }
            Phase::Ended => {}
        }
    }
}

impl Side {
    /// The leg opposite this one in an answered call.
    fn other(self, answered: usize) -> Side {
        match self {
            Side::A => Side::B(answered as u16),
            Side::B(_) => Side::A,
        }
    }
}

/// What an initial INVITE (no To tag) with a call's Call-ID is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Repeat {
    /// The call's INVITE again (same branch; or a peer without RFC 3261
    /// branches, whose copies cannot be told apart): absorbed.
    Retransmission,
    /// The same request (same CSeq) through another RFC 3261 branch: it
    /// looped or forked back to us. RFC 3261 §8.2.2.2: 482.
    Merged,
    /// A higher CSeq: a new request on the Call-ID (a retry, or a reused
    /// Call-ID).
    NewRequest,
    /// A lower CSeq: a late copy of an earlier request, absorbed.
    Stale,
}

/// Classifies `msg` against the call's INVITE (its top branch and CSeq).
pub(super) fn repeat(call_branch: &str, call_cseq: u32, msg: &Message<'_>) -> Repeat {
    let branch = top_branch(msg);
    let cseq = msg.cseq().map_or(call_cseq, |c| c.seq);
    if cseq > call_cseq {
        Repeat::NewRequest
    } else if cseq < call_cseq {
        Repeat::Stale
    } else if call_branch.starts_with("z9hG4bK") && branch.starts_with("z9hG4bK") && branch != call_branch {
        Repeat::Merged
    } else {
        Repeat::Retransmission
    }
}

pub(super) fn top_branch<'m>(msg: &Message<'m>) -> &'m str {
    msg.top_via().ok().and_then(|v| v.branch).unwrap_or_default()
}

/// The dialog ends: requests relayed and not yet answered get 487 (RFC 3261
/// §15.1.2) and are no longer sent on; a late answer to them relays nothing.
fn end_pending_relays(call: &mut Call, now: Now) {
    for r in call.relays.iter_mut().filter(|r| r.server.state() == ServerState::Proceeding) {
        if let Ok(req) = sip::parse(&r.request) {
            r.server.respond(487, build::response(&req, 487, "Request Terminated", None, None, None), now.ms);
        }
        r.client.abandon();
    }
}

/// Whether `msg`'s tags are those of the dialog on `side` (To: ours; From:
/// theirs, when known).
fn tags_match(call: &Call, side: Side, msg: &Message<'_>) -> bool {
    fn tag_of(value: &str) -> Option<&str> {
        sip::NameAddr::parse(value).ok()?.tag
    }
    let (ours, theirs) = match side {
        Side::A => (Some(call.a.our_tag.as_str()), tag_of(&call.a.from)),
        Side::B(i) => match call.attempts.get(i as usize) {
            Some(att) => (tag_of(&att.from), tag_of(&att.to)),
            None => return false,
        },
    };
    let to = msg.to().ok().and_then(|t| t.tag);
    let from = msg.from().ok().and_then(|f| f.tag);
    to == ours && theirs.is_none_or(|t| from == Some(t))
}

/// A target refresh (re-INVITE, UPDATE, or their 2xx) from `side`: its
/// Contact becomes where our requests to that side go.
fn refresh_target(call: &mut Call, side: Side, msg: &Message<'_>) {
    let Some(Ok(sip::Contact::Addr(c))) = msg.contacts().next() else { return };
    match side {
        Side::A => c.uri_raw.clone_into(&mut call.a.target),
        Side::B(i) => {
            if let Some(att) = call.attempts.get_mut(i as usize) {
                c.uri_raw.clone_into(&mut att.target);
            }
        }
    }
}

/// Whether `request`'s top Via carries `branch`.
fn in_branch(request: &[u8], branch: &str) -> bool {
    sip::parse(request)
        .ok()
        .and_then(|m| m.top_via().ok().and_then(|v| v.branch).map(|b| b == branch))
        .unwrap_or(false)
}

impl Route<'_> {
    /// The in-dialog request along this route.
    fn request(
        &self,
        method: &str,
        branch: &str,
        body: Option<(&str, &[u8])>,
        local: &build::Local,
    ) -> Bytes {
        Request {
            method,
            uri: self.uri,
            branch,
            from: self.from,
            to: self.to,
            call_id: self.call_id,
            cseq: self.cseq,
            max_forwards: 70,
            body,
            credentials: if method == "ACK" { self.credentials } else { None },
            route: self.routes,
        }
        .build(local)
    }
}

/// Request-URI, From, To, Call-ID and CSeq for a request towards `side`.
fn route_to(call: &mut Call, side: Side, cseq: Option<u32>) -> Route<'_> {
    match side {
        Side::A => {
            let a = &mut call.a;
            let seq = cseq.unwrap_or_else(|| {
                a.next_cseq += 1;
                a.next_cseq - 1
            });
            Route {
                uri: &a.target,
                from: &a.our_from,
                to: &a.from,
                call_id: &a.call_id,
                cseq: seq,
                routes: &a.routes,
                credentials: None,
            }
        }
        Side::B(i) => {
            let att = &mut call.attempts[i as usize];
            let seq = cseq.unwrap_or_else(|| {
                att.next_cseq += 1;
                att.next_cseq - 1
            });
            Route {
                uri: &att.target,
                from: &att.from,
                to: &att.to,
                call_id: &att.call_id,
                cseq: seq,
                routes: &att.routes,
                // Only the ACK of the INVITE that carried them: a re-INVITE's did not.
                credentials: (seq == att.invite_cseq).then(|| att.credentials_header()).flatten(),
            }
        }
    }
}
