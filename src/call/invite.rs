//! New calls and the vendor hunt: routing, B-leg attempts, failover, and
//! the INVITE responses that drive them.

use super::build::{self, Request, body_of};
use super::lrn::{Lookup, LrnInfo};
use super::state::{ALeg, Attempt, Call, Phase, Side};
use super::{Core, Now};
use crate::cdr::{Cdr, HangUp};
use crate::register::digest::{self, Challenge};
use crate::routing::decide::{Decision, Live, Outcome, decide};
use crate::routing::snapshot::{Occupancy, RoutingSnapshot, occupy, release};
use crate::sip::{self, HeaderName, Message, Scheme};
use crate::txn::{ClientEvent, ClientTxn, Kind, ServerTxn, T4, TIMEOUT_64T1};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// Timer C (RFC 3261 §16.6): longest ring after a provisional, ms.
pub const RING_TIMEOUT_MS: u64 = 180_000;
/// How long an ended call lingers at most to finish its transactions.
pub const LINGER_MS: u64 = TIMEOUT_64T1 + T4;

impl Core {
    pub(super) fn new_call(&mut self, msg: &Message<'_>, data: &Bytes, peer: SocketAddr, now: Now) {
        self.stats.calls_offered += 1;
        self.metrics.offered.record(now.ms / 1000);
        if self.draining {
            return self.reply(msg, peer, 503);
        }
        if msg.max_forwards().ok().flatten() == Some(0) {
            return self.reply(msg, peer, 483);
        }
        let Some(uri) = msg.request_uri() else { return };
        if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) {
            return self.reply(msg, peer, 416);
        }
        let dialed = uri.user_decoded().map(|u| String::from_utf8_lossy(&u).into_owned()).unwrap_or_default();
        if dialed.is_empty() {
            return self.reply(msg, peer, 484);
        }
        let snap = self.router.snapshot();
        let first = route(&snap, peer, &dialed, None, self.registered_user(peer, now), now);
        let number = match &first {
            Outcome::Route(d) | Outcome::NoRoute(d) | Outcome::NoCustomerRate(d) => d.number.clone(),
            _ => String::new(),
        };
        let new = NewCall { data: data.clone(), peer, dialed, snap };
        if let Some(customer) = customer_of(&first).filter(|_| super::requires_extension(msg)) {
            let decision = match &first {
                Outcome::Route(d) | Outcome::NoRoute(d) | Outcome::NoCustomerRate(d) => Some(d),
                _ => None,
            };
            return self.refuse_call(msg, &new, (customer, decision), 420, LrnInfo::none(), now);
        }
        match self.lrn_plan(&new.snap, &number, &first) {
            None => self.act(msg, new, first, LrnInfo::none(), now),
            Some((tn, sources)) => match self.lrn_now(&new.snap, tn, &sources, now) {
                Lookup::Done(info) => {
                    let registered = self.registered_user(peer, now);
                    let outcome =
                        route(&new.snap, peer, &new.dialed, info.lrn_text().as_deref(), registered, now);
                    self.act(msg, new, outcome, info, now);
                }
                Lookup::Dip(sources) => self.park(msg, new, first, tn, sources, now),
            },
        }
    }

    /// Acts on a routing outcome: start the hunt, or refuse with a CDR.
    fn act(&mut self, msg: &Message<'_>, new: NewCall, outcome: Outcome, lrn: LrnInfo, now: Now) {
        match outcome {
            Outcome::Route(d) => self.start_call(msg, new, d, lrn, None, now),
            Outcome::Forbidden => {
                self.stats.forbidden += 1;
                self.reply(msg, new.peer, 403)
            }
            Outcome::CustomerLimit { customer } => {
                self.refuse_call(msg, &new, (customer, None), 503, lrn, now)
            }
            Outcome::BadNumber { customer } => self.refuse_call(msg, &new, (customer, None), 484, lrn, now),
            Outcome::NoCustomerRate(d) | Outcome::NoRoute(d) => {
                self.refuse_call(msg, &new, (d.customer, Some(&d)), 404, lrn, now)
            }
        }
    }

    /// Refuses a customer's INVITE at once, with a failed call's CDR. Its
    /// Call-ID stays behind as a tomb until timer B would have run out at the
    /// caller, so that a copy of the INVITE (our answer was lost) is answered
    /// again instead of making a second CDR.
    fn refuse_call(
        &mut self,
        msg: &Message<'_>,
        new: &NewCall,
        (customer, decision): (usize, Option<&Decision>),
        status: u16,
        lrn: LrnInfo,
        now: Now,
    ) {
        self.reply(msg, new.peer, status);
        let tomb = super::tombs::Tomb {
            side: Side::A,
            branch: super::dialog::top_branch(msg).into(),
            cseq: msg.cseq().map_or(0, |c| c.seq),
            answered: false,
            ack: None,
            refused: status,
            until: now.ms + LINGER_MS,
        };
        self.tombs.lay(msg.call_id().unwrap_or_default(), tomb);
        self.stats.calls_failed += 1;
        let caller = caller_of(msg).unwrap_or_default();
        let mut cdr = a_cdr(msg, new.peer, &new.snap, customer, &new.dialed, caller, now);
        if let Some(d) = decision {
            rated(&mut cdr, d);
        }
        lrn.fill(&mut cdr);
        (cdr.end_ms, cdr.final_code, cdr.hangup) = (now.unix_ms, status, Some(HangUp::System));
        self.push_cdr(cdr);
    }

    /// The call waits on its shard for a dip; routing resumes with the answer.
    fn park(
        &mut self,
        msg: &Message<'_>,
        new: NewCall,
        first: Outcome,
        tn: u64,
        sources: Vec<usize>,
        now: Now,
    ) {
        match first {
            Outcome::Route(d) | Outcome::NoRoute(d) | Outcome::NoCustomerRate(d) => {
                self.start_call(msg, new, d, LrnInfo::none(), Some((tn, sources)), now)
            }
            other => self.act(msg, new, other, LrnInfo::none(), now),
        }
    }

    fn start_call(
        &mut self,
        msg: &Message<'_>,
        new: NewCall,
        d: Decision,
        lrn: LrnInfo,
        park: Option<(u64, Vec<usize>)>,
        now: Now,
    ) {
        let NewCall { data, peer, dialed, snap } = new;
        // Derived, not drawn: a CANCEL answered after the call is gone gets it too.
        let mut a = a_leg(msg, &data, peer, &self.tag_for(msg));
        a.txn.respond(100, build::response(msg, 100, "Trying", None, None, None), now.ms);
        let mut cdr = a_cdr(msg, peer, &snap, d.customer, &dialed, a.caller.clone(), now);
        rated(&mut cdr, &d);
        lrn.fill(&mut cdr);
        occupy(&snap.occupancy.customers[d.customer]);
        let max_forwards = msg.max_forwards().ok().flatten().unwrap_or(70).saturating_sub(1);
        let call = Call {
            generation: 0,
            slot: 0,
            customer: d.customer,
            snap,
            phase: Phase::Hunting,
            a,
            attempts: Vec::new(),
            candidates: d.candidates,
            next_candidate: 0,
            answered: None,
            best: None,
            max_forwards,
            invite_deadline: None,
            ring_deadline: None,
            talk_deadline: None,
            linger_until: None,
            byes: Vec::new(),
            relays: Vec::new(),
            cdr,
            scheduled: None,
            dialed,
            lrn,
            parked: park.as_ref().map(|(tn, _)| *tn),
            pdd_done: false,
        };
        let slot = self.insert(call);
        self.with_call(slot, now, |core, call| match park {
            Some((tn, sources)) => core.start_dip(call, tn, sources, now),
            None => core.hunt(call, now),
        });
    }

    /// Starts the hunt over the call's candidates.
    pub(super) fn hunt(&mut self, call: &mut Call, now: Now) {
        if !self.start_attempt(call, now) {
            let code = call.best.unwrap_or(503);
            self.fail(call, code, HangUp::System, now);
        }
    }

    /// Sends the INVITE to the next candidate with room; `false` when none is left.
    pub(super) fn start_attempt(&mut self, call: &mut Call, now: Now) -> bool {
        while let Some(cand) = call.candidates.get(call.next_candidate).cloned() {
            call.next_candidate += 1;
            let gw = &call.snap.config.routing_gateways[cand.gateway];
            let counter = &call.snap.occupancy.gateways[cand.gateway];
            if gw.max_calls > 0 && counter.load(std::sync::atomic::Ordering::Relaxed) >= gw.max_calls {
                call.note_failure(503);
                continue;
            }
            let (peer, name) = (gw.address, gw.name.get_ref().clone());
            let call_id = self.ids.call_id(&self.local.host);
            let b_number = crate::routing::decide::b_number(gw, &call.cdr.routed);
            let plain = build::sip_uri(&b_number, peer);
            let uri = match (&gw.lrn, gw.lrn_uri_params) {
                (Some(_), true) => {
                    call.lrn.uri_user(&b_number).map_or_else(|| plain.clone(), |u| build::sip_uri(&u, peer))
                }
                _ => plain.clone(),
            };
            let from = Call::b_from(&self.local, &call.a.caller, &self.ids.tag());
            let to = ["<", &plain, ">"].concat();
            let branch = self.ids.branch();
            let body = call.a.body.as_ref().map(|(t, b)| (t.as_str(), &b[..]));
            let invite = Request {
                method: "INVITE",
                uri: &uri,
                branch: &branch,
                from: &from,
                to: &to,
                call_id: &call_id,
                cseq: 1,
                max_forwards: call.max_forwards,
                body,
                credentials: None,
                route: "",
            }
            .build(&self.local_b);
            if !self.outbox.fits(&invite) {
                // The offer, not the vendor, is too large: every vendor would
                // get the same. RFC 3261 §21.4.11.
                call.best = Some(513);
                call.next_candidate = call.candidates.len();
                return false;
            }
            occupy(counter);
            let index = call.attempts.len() as u16;
            self.by_id.insert(call_id.clone().into_boxed_str(), (call.slot, Side::B(index)));
            call.attempts.push(Attempt {
                call_id,
                gateway: cand.gateway,
                peer,
                target: uri.clone(),
                uri,
                from,
                to,
                branch,
                invite_cseq: 1,
                challenges: 0,
                routes: String::new(),
                credentials: None,
                superseded: Vec::new(),
                next_cseq: 2,
                txn: ClientTxn::new(Kind::Invite, invite, now.ms),
                cancel: None,
                cancel_wanted: false,
                provisional: false,
                occupying: true,
                ack: None,
                killed: false,
                forks: Vec::new(),
                offer: None,
                remote_cseq: 0,
            });
            call.invite_deadline = Some(now.ms + u64::from(call.snap.config.sip.invite_timeout) * 1000);
            call.ring_deadline = None;
            self.metrics.gateway(&name).attempt(minute(now));
            call.cdr.gateways_tried.push(name);
            call.cdr.vendor_rate =
                cand.vendor_rate.as_ref().map(|p| (p.tariff.rate, p.tariff.initial, p.tariff.increment));
            self.stats.attempts += 1;
            if index > 0 {
                self.stats.failovers += 1;
            }
            return true;
        }
        false
    }

    /// A response to one of our INVITEs.
    pub(super) fn b_invite_response(&mut self, call: &mut Call, i: usize, msg: &Message<'_>, now: Now) {
        let status = msg.status().unwrap_or(0);
        let to_value = msg.header(HeaderName::To).map_or(&b""[..], |h| h.value);
        let current = call.current() == Some(i) && call.phase == Phase::Hunting;
        let att = &mut call.attempts[i];
        let request = att.txn.request().clone();
        let event = att.txn.handle_response(status, now.ms, || build::ack_for(&request, to_value));
        if (200..300).contains(&status) {
            return self.b_answer(call, i, msg, now);
        }
        let challenged = matches!(event, ClientEvent::Final(401 | 407)) && current && !att.cancel_wanted;
        if challenged && self.authenticate(call, i, msg, now) {
            return; // the same attempt goes on, with credentials
        }
        let att = &mut call.attempts[i];
        match event {
            ClientEvent::Provisional(s) => {
                att.provisional = true;
                if att.cancel_wanted && att.cancel.is_none() {
                    att.send_cancel(now);
                }
                // Any provisional, 100 included, hands over to Timer C: on
                // some routes ringing comes many seconds after the 100.
                if current && !att.cancel_wanted {
                    call.invite_deadline = None;
                    call.ring_deadline = Some(now.ms + RING_TIMEOUT_MS);
                    if s != 100 {
                        self.relay_to_a(call, msg, now);
                    }
                }
            }
            ClientEvent::Final(s) => {
                release_attempt(&call.snap, att);
                if current {
                    (call.invite_deadline, call.ring_deadline) = (None, None);
                    self.attempt_failed(call, s, HangUp::Callee, now);
                }
            }
            _ => self.stats.retransmissions += 1,
        }
    }

    /// Answers a vendor's digest challenge to our INVITE (RFC 3261 §22.2)
    /// with the gateway's credentials (`auth_user`, else its registration's): the INVITE
    /// again, same Call-ID, From tag, To and body, the next CSeq, a new branch,
    /// and `Authorization` (401) or `Proxy-Authorization` (407). Once per
    /// attempt, unless the new challenge says `stale=true`: a second one means
    /// the credentials were refused. `false` when it cannot be answered.
    fn authenticate(&mut self, call: &mut Call, i: usize, msg: &Message<'_>, now: Now) -> bool {
        let proxy = msg.status() == Some(407);
        let name = if proxy { HeaderName::ProxyAuthenticate } else { HeaderName::WwwAuthenticate };
        let Some(ch) = msg.auths(name).flatten().find_map(|a| Challenge::parse(&a).ok()) else {
            return false;
        };
        let att = &call.attempts[i];
        let gw = &call.snap.config.routing_gateways[att.gateway];
        let Some((user, password)) = gw.invite_credentials() else { return false };
        if att.challenges > 0 && !ch.stale || att.challenges >= 3 {
            return false;
        }
        let cseq = att.invite_cseq + 1;
        let req = digest::Request { method: "INVITE", uri: &att.uri, user, password };
        let cnonce = self.ids.branch();
        let value = digest::credentials(&ch, &req, 1, &cnonce);
        let header = if proxy { "Proxy-Authorization" } else { "Authorization" };
        let branch = self.ids.branch();
        let body = call.a.body.as_ref().map(|(t, b)| (t.as_str(), &b[..]));
        let invite = Request {
            method: "INVITE",
            uri: &att.uri,
            branch: &branch,
            from: &att.from,
            to: &att.to,
            call_id: &att.call_id,
            cseq,
            max_forwards: call.max_forwards,
            body,
            credentials: Some((header, &value)),
            route: "",
        }
        .build(&self.local_b);
        let att = &mut call.attempts[i];
        // The old transaction's ACK of the challenge leaves before it is
        // replaced, and stays for copies of the challenge.
        let mut ack = Bytes::new();
        while let Some(d) = att.txn.poll_transmit() {
            self.outbox.push_to(Side::B(i as u16), (d.clone(), att.peer));
            ack = d;
        }
        att.superseded.push((std::mem::take(&mut att.branch), ack));
        (att.branch, att.invite_cseq, att.next_cseq) = (branch, cseq, cseq + 1);
        att.credentials = Some((header, value));
        att.challenges += 1;
        att.provisional = false;
        att.txn = ClientTxn::new(Kind::Invite, invite, now.ms);
        call.invite_deadline = Some(now.ms + u64::from(call.snap.config.sip.invite_timeout) * 1000);
        call.ring_deadline = None; // a provisional to the challenged INVITE started it
        true
    }

    /// A 2xx from a vendor: the answer, a retransmission, or a late answer to hang up.
    fn b_answer(&mut self, call: &mut Call, i: usize, msg: &Message<'_>, now: Now) {
        let wanted = call.phase == Phase::Hunting && call.current() == Some(i);
        let answered_here = call.answered == Some(i);
        let att = &mut call.attempts[i];
        let kept = sip::NameAddr::parse(&att.to).ok().and_then(|t| t.tag);
        let tag = msg.to().ok().and_then(|t| t.tag);
        if (att.ack.is_some() || answered_here) && tag != kept {
            return self.end_fork(call, i, msg, now);
        }
        if let Some(ack) = &att.ack {
            self.outbox.push_to(Side::B(i as u16), (ack.clone(), att.peer));
            self.stats.retransmissions += 1;
            return;
        }
        if answered_here {
            // 2xx retransmitted before the caller's ACK: we are retransmitting to A.
            self.stats.retransmissions += 1;
            return;
        }
        let wanted = wanted && !att.cancel_wanted;
        att.to = msg.header(HeaderName::To).and_then(|h| h.value_str().ok()).unwrap_or_default().to_owned();
        if let Some(Ok(sip::Contact::Addr(c))) = msg.contacts().next() {
            att.target = c.uri_raw.to_owned();
        }
        att.routes = build::route_set(msg, true);
        if !wanted {
            return self.kill_attempt(call, i, now);
        }
        if call.a.body.is_none() {
            att.offer = build::body_of(msg).map(|(_, sdp)| Bytes::copy_from_slice(sdp));
        }
        if !self.relay_to_a(call, msg, now) {
            // The caller could never get this answer (its Vias and the
            // vendor's SDP exceed a datagram): the vendor's leg is hung up
            // and counts as failed, as a vendor error would.
            self.kill_attempt(call, i, now);
            return self.attempt_failed(call, 502, HangUp::System, now);
        }
        (call.phase, call.answered) = (Phase::Answered, Some(i));
        (call.invite_deadline, call.ring_deadline) = (None, None);
        let limit_ms = u64::from(call.snap.config.sip.max_call_duration) * 1000;
        if limit_ms > 0 {
            call.talk_deadline = Some(now.ms + limit_ms);
            self.talk_limits.insert((now.ms + limit_ms, call.slot, call.generation));
        }
        let gw = &call.snap.config.routing_gateways[att_gateway(call, i)];
        call.cdr.gateway = gw.name.get_ref().clone();
        call.cdr.b_call_id = call.attempts[i].call_id.clone();
        call.cdr.answer_ms = Some(now.unix_ms);
        self.stats.calls_answered += 1;
        self.metrics.gateway(&call.cdr.gateway).answer(minute(now));
    }

    /// ACK and BYE an attempt whose 2xx nobody wants any more.
    pub(super) fn kill_attempt(&mut self, call: &mut Call, i: usize, now: Now) {
        self.ack_2xx(call, i, None);
        let att = &mut call.attempts[i];
        att.killed = true;
        release_attempt(&call.snap, att);
        self.send_bye(call, Side::B(i as u16), now);
    }

    /// The current attempt failed with `status` (or 408 for a timeout): fail over or give up.
    /// `hangup` says who ended the attempt: the vendor's answer, or tandem's timer.
    pub(super) fn attempt_failed(&mut self, call: &mut Call, status: u16, hangup: HangUp, now: Now) {
        // A redirect tandem does not follow, a challenge it cannot answer, or
        // a refusal of the form of tandem's own request (its size, Request-URI
        // or extensions: 413, 414, 416, 420, 421, 423) says nothing about the
        // callee: the next vendor may do, and the caller must not get it (a
        // 3xx's Contact or a realm is the vendor's; a 420 would have the caller
        // retry without extensions it never asked for, RFC 3261 §8.1.3.5).
        // It counts as the vendor's failure: 503.
        let ours = matches!(status, 300..=399 | 401 | 407 | 413 | 414 | 416 | 420 | 421 | 423);
        let status = if ours { 503 } else { status };
        call.note_failure(status);
        let sip = &call.snap.config.sip;
        let busy = matches!(status, 486 | 600);
        let failover = matches!(status, 408 | 500..=599) || (busy && !sip.busy_stop_switch);
        if failover && self.start_attempt(call, now) {
            return;
        }
        let code = call.best.unwrap_or(status);
        self.fail(call, code, hangup, now);
    }

    /// No answer from the current attempt in time.
    pub(super) fn attempt_timed_out(&mut self, call: &mut Call, now: Now) {
        call.invite_deadline = None;
        // It sent no provisional (any would have stopped this timer):
        // abandoned, and CANCELled should it ring later.
        self.cancel_hunt(call, now);
        if call.snap.config.sip.user_agent_stop_switch_after_invite_timeout {
            call.note_failure(408);
            let code = call.best.unwrap_or(408);
            return self.fail(call, code, HangUp::System, now);
        }
        self.attempt_failed(call, 408, HangUp::System, now);
    }

    /// Relays a vendor's 18x or 2xx to the caller; `false` when it would not
    /// fit in a datagram (counted, not sent).
    fn relay_to_a(&mut self, call: &mut Call, msg: &Message<'_>, now: Now) -> bool {
        let status = msg.status().unwrap_or(0);
        let rsp = build::response_on(
            &call.a.response_head,
            status,
            &reason_of(msg),
            Some(&self.local),
            body_of(msg),
        );
        if !self.outbox.fits(&rsp) {
            return false;
        }
        if !call.pdd_done {
            call.pdd_done = true;
            let pdd = now.unix_ms.saturating_sub(call.cdr.setup_ms).max(1) as u64;
            let _ = self.metrics.post_dial_delay_ms.record(pdd);
        }
        call.a.txn.respond(status, rsp, now.ms);
        true
    }

    /// Ends an unanswered call with `code` to the caller.
    pub(super) fn fail(&mut self, call: &mut Call, code: u16, hangup: HangUp, now: Now) {
        let rsp = build::response_on(&call.a.response_head, code, build::reason(code), None, None);
        call.a.txn.respond(code, rsp, now.ms);
        self.stats.calls_failed += 1;
        self.end_call(call, code, hangup, now);
    }

    /// Writes the CDR and frees the call's capacity; the call lingers until its
    /// transactions finish.
    pub(super) fn end_call(&mut self, call: &mut Call, code: u16, hangup: HangUp, now: Now) {
        if call.phase == Phase::Ended {
            return;
        }
        call.phase = Phase::Ended;
        (call.invite_deadline, call.ring_deadline) = (None, None);
        call.linger_until = Some(now.ms + LINGER_MS);
        // Until its transactions only absorb (then tombs.rs takes over), keep only what they
        // hold, not the offer, the routing plan or the INVITE it was built from.
        (call.a.response_head, call.a.body, call.candidates) = (Bytes::new(), None, Vec::new());
        for att in &mut call.attempts {
            release_attempt(&call.snap, att);
        }
        release(&call.snap.occupancy.customers[call.customer]);
        let mut cdr = std::mem::take(&mut call.cdr);
        (cdr.end_ms, cdr.final_code, cdr.hangup) = (now.unix_ms, code, Some(hangup));
        if cdr.b_call_id.is_empty() {
            cdr.b_call_id = call.attempts.last().map(|a| a.call_id.clone()).unwrap_or_default();
            cdr.gateway = cdr.gateways_tried.last().cloned().unwrap_or_default();
        }
        if let Some(answered) = cdr.answer_ms {
            let talk = now.unix_ms.saturating_sub(answered).max(0) as u64;
            self.metrics.gateway(&cdr.gateway).ended(minute(now), talk);
        }
        self.push_cdr(cdr);
    }
}

/// What `new_call` carries while it decides.
pub(super) struct NewCall {
    data: Bytes,
    peer: SocketAddr,
    dialed: String,
    snap: Arc<RoutingSnapshot>,
}

/// The minute `now` falls in (monotonic), for the ASR/ACD window.
fn minute(now: Now) -> u64 {
    now.ms / 60_000
}

/// Routes with the live counters.
pub(super) fn route(
    snap: &RoutingSnapshot,
    peer: SocketAddr,
    number: &str,
    lrn: Option<&str>,
    registered: Option<&str>,
    now: Now,
) -> Outcome {
    let gateway_calls = Occupancy::snapshot(&snap.occupancy.gateways);
    let customer_calls = Occupancy::snapshot(&snap.occupancy.customers);
    let gateway_online = snap.occupancy.online();
    let live = Live {
        gateway_calls: &gateway_calls,
        gateway_online: &gateway_online,
        customer_calls: &customer_calls,
    };
    let req =
        crate::routing::decide::Request { source: peer, number, lrn, now: now.unix_ms / 1000, registered };
    decide(snap, &req, &live)
}

fn att_gateway(call: &Call, i: usize) -> usize {
    call.attempts[i].gateway
}

/// Stops counting an attempt against its gateway's max_calls.
pub(super) fn release_attempt(snap: &RoutingSnapshot, att: &mut Attempt) {
    if att.occupying {
        att.occupying = false;
        release(&snap.occupancy.gateways[att.gateway]);
    }
}

/// CANCEL for an attempt (RFC 3261 §9.1): same Request-URI, Call-ID, From,
/// To, CSeq number and branch as the INVITE.
/// The routing decision's side of a CDR: the number routed and the customer's rate.
fn rated(cdr: &mut Cdr, d: &Decision) {
    cdr.routed.clone_from(&d.number);
    cdr.customer_rate =
        d.customer_rate.as_ref().map(|p| (p.tariff.rate, p.tariff.initial, p.tariff.increment));
}

fn reason_of<'m>(msg: &Message<'m>) -> std::borrow::Cow<'m, str> {
    match msg.start() {
        sip::StartLine::Response { reason, .. } if !reason.is_empty() => String::from_utf8_lossy(reason),
        _ => build::reason(msg.status().unwrap_or(0)).into(),
    }
}

/// The calling number (A-leg From user) as tandem writes it, in the B-leg
/// From and the CDR: decoded, then escaped again for a URI.
fn caller_of(msg: &Message<'_>) -> Option<String> {
    let user = msg.from_uri().ok()?.user_decoded()?;
    Some(sip::escape_user(&user).into_owned())
}

/// The customer an outcome belongs to; none for a stranger.
fn customer_of(outcome: &Outcome) -> Option<usize> {
    match outcome {
        Outcome::Forbidden => None,
        Outcome::CustomerLimit { customer } | Outcome::BadNumber { customer } => Some(*customer),
        Outcome::NoCustomerRate(d) | Outcome::NoRoute(d) | Outcome::Route(d) => Some(d.customer),
    }
}

fn a_leg(msg: &Message<'_>, data: &Bytes, peer: SocketAddr, our_tag: &str) -> ALeg {
    let text = |name| msg.header(name).and_then(|h| h.value_str().ok()).unwrap_or_default().to_owned();
    let from = msg.from().ok();
    let target = match msg.contacts().next() {
        Some(Ok(sip::Contact::Addr(c))) => c.uri_raw.to_owned(),
        _ => from.map(|f| f.uri_raw.to_owned()).unwrap_or_default(),
    };
    let caller = caller_of(msg);
    let body = build::body_of(msg).map(|(t, b)| (t.to_owned(), data.slice_ref(b)));
    ALeg {
        call_id: msg.call_id().unwrap_or_default().to_owned(),
        peer,
        response_head: head_with_record_route(msg, our_tag),
        routes: build::route_set(msg, false),
        branch: msg.top_via().ok().and_then(|v| v.branch).unwrap_or_default().to_owned(),
        invite_cseq: msg.cseq().map_or(0, |c| c.seq),
        our_tag: our_tag.to_owned(),
        our_from: [&text(HeaderName::To), ";tag=", our_tag].concat(),
        from: text(HeaderName::From),
        target,
        txn: ServerTxn::new(Kind::Invite),
        next_cseq: 1,
        remote_cseq: msg.cseq().map_or(0, |c| c.seq),
        body,
        caller: caller.unwrap_or_default(),
        bye_after_ack: false,
    }
}

/// The head of every response to the caller's INVITE: with its Record-Route
/// headers copied, in order, as a response that makes a dialog must carry
/// them (RFC 3261 §12.1.1); the caller's proxies then stay on its route.
fn head_with_record_route(msg: &Message<'_>, our_tag: &str) -> Bytes {
    let head = sip::response_head(msg, Some(our_tag));
    let mut rr = msg.headers_named(HeaderName::RecordRoute).peekable();
    if rr.peek().is_none() {
        return head;
    }
    let mut buf = bytes::BytesMut::from(&head[..]);
    for h in rr {
        buf.extend_from_slice(b"Record-Route: ");
        buf.extend_from_slice(h.value);
        buf.extend_from_slice(b"\r\n");
    }
    buf.freeze()
}

fn a_cdr(
    msg: &Message<'_>,
    peer: SocketAddr,
    snap: &RoutingSnapshot,
    customer: usize,
    dialed: &str,
    caller: String,
    now: Now,
) -> Cdr {
    Cdr {
        a_call_id: msg.call_id().unwrap_or_default().to_owned(),
        customer: snap.config.mapping_gateways[customer].name.get_ref().clone(),
        source: build::addr_text(peer),
        caller,
        dialed: dialed.to_owned(),
        lrn_source: "none".into(),
        setup_ms: now.unix_ms,
        ..Cdr::default()
    }
}
