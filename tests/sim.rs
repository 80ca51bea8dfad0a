//! A seeded simulation: several shards of tandem's core, a calling customer
//! and two vendors, all sans-IO over the in-memory network with loss,
//! duplication, reordering and delay, on a virtual clock. 10,000 calls of
//! mixed outcomes; every call must end in a final state, one CDR per call,
//! nothing left behind in any shard.

use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use tandem::call::build::{Local, ack_for};
use tandem::call::{Core, Now, ids};
use tandem::cdr::Cdr;
use tandem::engine::io::mem::{Faults, MemIo, MemNet};
use tandem::routing::snapshot::{Router, RoutingSnapshot};
use tandem::sip::{self, Builder, HeaderName, Message, Method, response_to};
use tandem::txn::{ClientEvent, ClientState, ClientTxn, Kind, ServerState, ServerTxn};

const CALLS: usize = 10_000;
const SHARDS: u16 = 3;
const HOLD_MS: u64 = 2_000;
const SDP: &[u8] =
    b"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// What a call's number asks the vendors to do (last digit of the call index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// v1 answers, the caller hangs up.
    Normal,
    /// v1 answers, the callee hangs up.
    CalleeHangup,
    /// v1 refuses 503, v2 answers.
    Failover,
    /// v1 is busy: the hunt ends with 486.
    Busy,
    /// v1 rings; the caller cancels.
    Cancel,
}

fn plan_of(number: &str) -> Plan {
    match number.as_bytes().last().map(|d| d - b'0') {
        Some(6) => Plan::CalleeHangup,
        Some(7) => Plan::Failover,
        Some(8) => Plan::Busy,
        Some(9) => Plan::Cancel,
        _ => Plan::Normal,
    }
}

#[allow(clippy::too_many_arguments)] // a request's fields, spelled out
fn request(
    method: &str,
    uri: &str,
    via: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    body: &[u8],
) -> Bytes {
    let mut buf = BytesMut::new();
    let b = Builder::request(&mut buf, method, uri)
        .header("Via", via)
        .header("Max-Forwards", "70")
        .header("From", from)
        .header("To", to)
        .header("Call-ID", call_id)
        .header("CSeq", &format!("{cseq} {method}"))
        .header("Contact", "<sip:ep@10.0.0.2:5060>");
    if body.is_empty() {
        b.finish()
    } else {
        b.header("Content-Type", "application/sdp").body(body)
    }
    buf.freeze()
}

fn reply(req: &Message<'_>, status: u16, tag: &str) -> Bytes {
    let mut buf = BytesMut::new();
    let b = response_to(&mut buf, req, status, "X", Some(tag)).header("Contact", "<sip:gw@10.0.0.3:5060>");
    if status == 200 && req.method() == Some(Method::Invite) {
        b.body(SDP)
    } else {
        b.finish()
    }
    buf.freeze()
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    Ended,
    Refused(u16),
    TimedOut,
}

struct UacCall {
    index: usize,
    number: String,
    call_id: String,
    plan: Plan,
    invite: ClientTxn,
    bye: Option<ClientTxn>,
    cancel: Option<ClientTxn>,
    to: Option<String>,
    hangup_at: Option<u64>,
    cancel_at: Option<u64>,
    outcome: Option<Outcome>,
}

impl UacCall {
    /// Over, with nothing left to retransmit (responses still get ACKed via lookup).
    fn settled(&self) -> bool {
        let quiet = |t: &ClientTxn| matches!(t.state(), ClientState::Completed | ClientState::Terminated);
        self.outcome.is_some()
            && self.hangup_at.is_none()
            && (self.cancel_at.is_none() || self.cancel.is_some())
            && quiet(&self.invite)
            && self.bye.as_ref().is_none_or(quiet)
            && self.cancel.as_ref().is_none_or(quiet)
    }
}

/// The customer: places calls and plays its part of each plan.
struct Uac {
    io: MemIo,
    calls: Vec<UacCall>,
    /// Calls that may still have timers to run.
    active: Vec<usize>,
    by_id: HashMap<String, usize>,
    tandem: SocketAddr,
}

impl Uac {
    fn start(&mut self, i: usize, now: u64) {
        let call_id = format!("sim-{i}@10.0.0.2");
        let number = format!("1212555{i:04}");
        let invite = request(
            "INVITE",
            &format!("sip:{number}@10.0.0.1"),
            &format!("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-i{i}"),
            &format!("<sip:2125550000@10.0.0.2>;tag=a{i}"),
            &format!("<sip:{number}@10.0.0.1>"),
            &call_id,
            1,
            SDP,
        );
        self.by_id.insert(call_id.clone(), self.calls.len());
        self.active.push(self.calls.len());
        let txn = ClientTxn::new(Kind::Invite, invite, now);
        self.calls.push(UacCall {
            index: i,
            plan: plan_of(&number),
            number,
            call_id,
            invite: txn,
            bye: None,
            cancel: None,
            to: None,
            hangup_at: None,
            cancel_at: None,
            outcome: None,
        });
    }

    fn in_dialog(&self, c: &UacCall, method: &str, cseq: u32, branch: &str) -> Bytes {
        let i = c.index;
        let to = c.to.clone().unwrap_or_else(|| "<sip:x@10.0.0.1>".into());
        request(
            method,
            "sip:10.0.0.1:5060",
            &format!("SIP/2.0/UDP 10.0.0.2:5060;branch={branch}"),
            &format!("<sip:2125550000@10.0.0.2>;tag=a{i}"),
            &to,
            &c.call_id,
            cseq,
            &[],
        )
    }

    fn handle(&mut self, data: &Bytes, now: u64) {
        let Ok(msg) = sip::parse(data) else { return };
        let Some(&k) = msg.call_id().ok().and_then(|id| self.by_id.get(id)) else { return };
        if msg.is_request() {
            // tandem's BYE (callee hung up): answer every copy.
            let rsp = reply(&msg, 200, "unused");
            self.io.send_to(rsp, self.tandem);
            let c = &mut self.calls[k];
            if msg.method() == Some(Method::Bye) && c.outcome.is_none() {
                c.outcome = Some(Outcome::Ended);
            }
            return;
        }
        let status = msg.status().unwrap_or(0);
        let to_value = msg.header(HeaderName::To).map(|h| h.value.to_vec()).unwrap_or_default();
        match msg.cseq().map(|c| c.method) {
            Ok(Method::Invite) => self.invite_response(k, status, &to_value, now),
            Ok(Method::Bye) => {
                let c = &mut self.calls[k];
                if let Some(b) = c.bye.as_mut()
                    && let ClientEvent::Final(_) = b.handle_response(status, now, Bytes::new)
                {
                    c.outcome.get_or_insert(Outcome::Ended);
                }
            }
            Ok(Method::Cancel) => {
                if let Some(t) = self.calls[k].cancel.as_mut() {
                    t.handle_response(status, now, Bytes::new);
                }
            }
            _ => {}
        }
    }

    fn invite_response(&mut self, k: usize, status: u16, to_value: &[u8], now: u64) {
        let sent = self.calls[k].invite.request().clone();
        let ev = self.calls[k].invite.handle_response(status, now, || ack_for(&sent, to_value));
        let c = &mut self.calls[k];
        if (200..300).contains(&status) {
            // Every 2xx (retransmissions too) gets an ACK, end to end.
            c.to = Some(String::from_utf8_lossy(to_value).into_owned());
            let ack = self.in_dialog(&self.calls[k], "ACK", 1, &format!("z9hG4bK-ack{k}-{now}"));
            self.io.send_to(ack, self.tandem);
            let c = &mut self.calls[k];
            if c.hangup_at.is_none() && c.outcome.is_none() && c.plan != Plan::CalleeHangup {
                c.hangup_at = Some(now + HOLD_MS);
            }
            return;
        }
        match ev {
            // The caller hangs up on hearing ringback, or after 3 s of silence
            // (a lost 180 is never retransmitted without 100rel).
            ClientEvent::Provisional(180) if c.plan == Plan::Cancel => c.cancel_at = Some(now),
            ClientEvent::Provisional(_) if c.plan == Plan::Cancel => {
                c.cancel_at.get_or_insert(now + 3_000);
            }
            ClientEvent::Final(s) => {
                c.outcome.get_or_insert(Outcome::Refused(s));
            }
            _ => {}
        }
    }

    fn send_cancel(c: &mut UacCall, now: u64) {
        // CANCEL: the INVITE's Request-URI, Via branch, From, To and CSeq number.
        let (i, number) = (c.index, c.number.clone());
        let cancel = request(
            "CANCEL",
            &format!("sip:{number}@10.0.0.1"),
            &format!("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-i{i}"),
            &format!("<sip:2125550000@10.0.0.2>;tag=a{i}"),
            &format!("<sip:{number}@10.0.0.1>"),
            &c.call_id,
            1,
            &[],
        );
        c.cancel = Some(ClientTxn::new(Kind::NonInvite, cancel, now));
    }

    fn timers(&mut self, now: u64) {
        for idx in 0..self.active.len() {
            let k = self.active[idx];
            let c = &mut self.calls[k];
            if c.cancel.is_none() && c.outcome.is_none() && c.cancel_at.is_some_and(|t| now >= t) {
                Self::send_cancel(c, now);
            }
            if self.calls[k].invite.handle_timeout(now) == ClientEvent::Timeout {
                self.calls[k].outcome.get_or_insert(Outcome::TimedOut);
            }
            if self.calls[k].hangup_at.is_some_and(|t| now >= t) && self.calls[k].bye.is_none() {
                self.calls[k].hangup_at = None;
                let bye = self.in_dialog(&self.calls[k], "BYE", 2, &format!("z9hG4bK-bye{k}"));
                self.calls[k].bye = Some(ClientTxn::new(Kind::NonInvite, bye, now));
            }
            let c = &mut self.calls[k];
            if let Some(b) = c.bye.as_mut()
                && b.handle_timeout(now) == ClientEvent::Timeout
            {
                c.outcome.get_or_insert(Outcome::Ended);
            }
            if let Some(t) = c.cancel.as_mut() {
                t.handle_timeout(now);
            }
        }
    }

    fn flush(&mut self) {
        for &k in &self.active {
            let c = &mut self.calls[k];
            for t in [Some(&mut c.invite), c.bye.as_mut(), c.cancel.as_mut()].into_iter().flatten() {
                while let Some(d) = t.poll_transmit() {
                    self.io.send_to(d, self.tandem);
                }
            }
        }
        let calls = &self.calls;
        self.active.retain(|&k| !calls[k].settled());
    }
}

struct UasCall {
    txn: ServerTxn,
    invite: Bytes,
    tag: String,
    bye: Option<ClientTxn>,
    bye_at: Option<u64>,
}

/// A vendor: answers per the call's plan.
struct Uas {
    io: MemIo,
    index: usize,
    calls: HashMap<String, UasCall>,
    /// Calls that may still have timers to run.
    active: HashSet<String>,
    tandem: SocketAddr,
}

impl Uas {
    fn handle(&mut self, data: &Bytes, now: u64) {
        let Ok(msg) = sip::parse(data) else { return };
        let Ok(call_id) = msg.call_id() else { return };
        let call_id = call_id.to_owned();
        if !msg.is_request() {
            if let Some(b) = self.calls.get_mut(&call_id).and_then(|c| c.bye.as_mut()) {
                b.handle_response(msg.status().unwrap_or(0), now, Bytes::new);
            }
            return;
        }
        match msg.method() {
            Some(Method::Invite) => self.invite(&msg, data, call_id, now),
            Some(Method::Ack) => {
                if let Some(c) = self.calls.get_mut(&call_id) {
                    c.txn.handle_ack(now);
                    let number = sip::parse(&c.invite)
                        .ok()
                        .and_then(|m| m.request_uri().and_then(|u| u.user.map(str::to_owned)));
                    if number.is_some_and(|n| plan_of(&n) == Plan::CalleeHangup)
                        && c.bye_at.is_none()
                        && c.bye.is_none()
                    {
                        c.bye_at = Some(now + HOLD_MS);
                    }
                }
            }
            Some(Method::Cancel) => {
                self.io.send_to(reply(&msg, 200, "c"), self.tandem);
                if let Some(c) = self.calls.get_mut(&call_id)
                    && let Ok(inv) = sip::parse(&c.invite.clone())
                {
                    c.txn.respond(487, reply(&inv, 487, &c.tag), now);
                }
            }
            _ => self.io.send_to(reply(&msg, 200, "b"), self.tandem),
        }
    }

    fn invite(&mut self, msg: &Message<'_>, data: &Bytes, call_id: String, now: u64) {
        if let Some(c) = self.calls.get_mut(&call_id) {
            c.txn.handle_retransmission();
            return;
        }
        let number = msg.request_uri().and_then(|u| u.user).unwrap_or_default().to_owned();
        let tag = format!("v{}-{}", self.index, self.calls.len());
        let mut txn = ServerTxn::new(Kind::Invite);
        let plan = plan_of(&number);
        let status = match (self.index, plan) {
            (0, Plan::Failover) => 503,
            (0, Plan::Busy) => 486,
            (_, Plan::Cancel) => 180,
            _ => 200,
        };
        txn.respond(180, reply(msg, 180, &tag), now);
        if status != 180 {
            txn.respond(status, reply(msg, status, &tag), now);
        }
        self.active.insert(call_id.clone());
        self.calls.insert(call_id, UasCall { txn, invite: data.clone(), tag, bye: None, bye_at: None });
    }

    fn timers(&mut self, now: u64) {
        for id in &self.active {
            let Some(c) = self.calls.get_mut(id) else { continue };
            c.txn.handle_timeout(now);
            if c.bye_at.is_some_and(|t| now >= t) {
                c.bye_at = None;
                if let Ok(inv) = sip::parse(&c.invite.clone()) {
                    let from =
                        inv.header(HeaderName::To).and_then(|h| h.value_str().ok()).unwrap_or_default();
                    let to =
                        inv.header(HeaderName::From).and_then(|h| h.value_str().ok()).unwrap_or_default();
                    let uri = inv.contacts().next().and_then(|c| match c {
                        Ok(sip::Contact::Addr(a)) => Some(a.uri_raw.to_owned()),
                        _ => None,
                    });
                    let bye = request(
                        "BYE",
                        &uri.unwrap_or_else(|| "sip:10.0.0.1".into()),
                        &format!("SIP/2.0/UDP 10.0.0.3:5060;branch=z9hG4bK-vb{}", c.tag),
                        &format!("{from};tag={}", c.tag),
                        to,
                        inv.call_id().unwrap_or_default(),
                        2,
                        &[],
                    );
                    c.bye = Some(ClientTxn::new(Kind::NonInvite, bye, now));
                }
            }
            if let Some(b) = c.bye.as_mut() {
                b.handle_timeout(now);
            }
        }
    }

    fn flush(&mut self) {
        for id in &self.active {
            let Some(c) = self.calls.get_mut(id) else { continue };
            while let Some(d) = c.txn.poll_transmit() {
                self.io.send_to(d, self.tandem);
            }
            if let Some(b) = c.bye.as_mut() {
                while let Some(d) = b.poll_transmit() {
                    self.io.send_to(d, self.tandem);
                }
            }
        }
        let calls = &self.calls;
        self.active.retain(|id| calls.get(id).is_some_and(|c| !c.settled()));
    }
}

impl UasCall {
    /// Nothing left to retransmit. A callee-hangup call stays until its BYE is answered.
    fn settled(&self) -> bool {
        let quiet = |t: &ClientTxn| matches!(t.state(), ClientState::Completed | ClientState::Terminated);
        matches!(self.txn.state(), ServerState::Terminated | ServerState::Confirmed)
            && self.bye_at.is_none()
            && self.bye.as_ref().is_none_or(quiet)
    }
}

const CONFIG: &str = r#"
[sip]
invite_timeout = 4

[[mapping_gateway]]
name = "cust"
addresses = ["10.0.0.2"]
rate_deck = "cust.csv"

[[routing_gateway]]
name = "v1"
address = "10.0.0.3:5060"
rate_deck = "v.csv"
priority = 1

[[routing_gateway]]
name = "v2"
address = "10.0.0.4:5060"
rate_deck = "v.csv"
priority = 2
"#;

fn router() -> Arc<Router> {
    let dir = std::env::temp_dir().join(format!("tandem-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("cust.csv"), "prefix,rate,initial,increment\n1,0.02,6,6\n").expect("deck");
    std::fs::write(dir.join("v.csv"), "prefix,rate,initial,increment\n1,0.01,6,6\n").expect("deck");
    std::fs::write(dir.join("t.toml"), CONFIG).expect("config");
    let snap = RoutingSnapshot::load(&dir.join("t.toml")).expect("config loads");
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(Router::new(snap))
}

#[test]
fn ten_thousand_calls_over_a_lossy_network_on_three_shards() {
    let faults = Faults { loss: 0.02, duplicate: 0.02, reorder: 0.02, max_delay_ms: 20 };
    let net = MemNet::new(0x5eed, faults);
    let tandem_addr = addr("10.0.0.1:5060");
    let tandem_io = net.bind(tandem_addr);
    let router = router();
    let local = Local { host: "10.0.0.1".into(), port: 5060 };
    let t0 = Now { ms: 0, unix_ms: 1_795_478_400_000 };
    let mut cores: Vec<Core> =
        (0..SHARDS).map(|s| Core::new(s, local.clone(), Arc::clone(&router), 1 + u64::from(s), t0)).collect();
    let mut uac = Uac {
        io: net.bind(addr("10.0.0.2:5060")),
        calls: Vec::new(),
        active: Vec::new(),
        by_id: HashMap::new(),
        tandem: tandem_addr,
    };
    let mut vendors: Vec<Uas> = [("10.0.0.3:5060", 0), ("10.0.0.4:5060", 1)]
        .iter()
        .map(|(a, i)| Uas {
            io: net.bind(addr(a)),
            index: *i,
            calls: HashMap::new(),
            active: HashSet::new(),
            tandem: tandem_addr,
        })
        .collect();
    let mut cdrs: Vec<Cdr> = Vec::new();
    let mut handoffs = 0u64;
    // 200 calls per second, then quiet until everything settles.
    let end = (CALLS as u64) * 5 + 120_000;
    let mut now = 0u64;
    let mut started = 0usize;
    while now <= end {
        net.advance_to(now);
        let at = Now { ms: now, unix_ms: t0.unix_ms + now as i64 };
        while let Some((data, peer)) = tandem_io.recv() {
            // The kernel spreads by 4-tuple (SO_REUSEPORT); the owner rule regroups by Call-ID.
            let kernel = (ids::fnv1a(peer.to_string().as_bytes()) % u64::from(SHARDS)) as u16;
            let owner = sip::call_id_of(&data).map_or(kernel, |id| ids::owner(id, SHARDS));
            handoffs += u64::from(owner != kernel);
            cores[owner as usize].handle_datagram(&data, peer, at);
        }
        for core in &mut cores {
            core.handle_timeout(at);
            for (d, to) in core.poll_transmit() {
                tandem_io.send_to(d, to);
            }
            cdrs.extend(core.poll_cdr());
        }
        while started < CALLS && (started as u64) * 5 <= now {
            uac.start(started, now);
            started += 1;
        }
        while let Some((d, _)) = uac.io.recv() {
            uac.handle(&d, now);
        }
        uac.timers(now);
        uac.flush();
        for v in &mut vendors {
            while let Some((d, _)) = v.io.recv() {
                v.handle(&d, now);
            }
            v.timers(now);
            v.flush();
        }
        now += 5;
    }
    // Every call reached a final state.
    let unfinished: Vec<&str> =
        uac.calls.iter().filter(|c| c.outcome.is_none()).map(|c| c.call_id.as_str()).collect();
    assert!(
        unfinished.is_empty(),
        "{} calls never finished, e.g. {:?}",
        unfinished.len(),
        &unfinished[..unfinished.len().min(5)]
    );
    // One CDR per call, no duplicates, none for calls tandem never saw.
    let ids: HashSet<&str> = cdrs.iter().map(|c| c.a_call_id.as_str()).collect();
    assert_eq!(ids.len(), cdrs.len(), "duplicate CDRs");
    assert_eq!(cdrs.len(), CALLS, "one CDR per call");
    // Nothing left behind in any shard.
    for (i, core) in cores.iter().enumerate() {
        assert_eq!(core.held_calls(), 0, "shard {i} still holds calls");
        assert_eq!(core.ended_call_ids(), 0, "shard {i} still holds ended calls' Call-IDs");
    }
    // Outcomes match the plans for the great majority (loss can turn a few into timeouts).
    let expected = |c: &UacCall| {
        matches!(
            (c.plan, c.outcome),
            (Plan::Busy, Some(Outcome::Refused(486)))
                | (Plan::Cancel, Some(Outcome::Refused(487)))
                | (Plan::Normal | Plan::CalleeHangup | Plan::Failover, Some(Outcome::Ended))
        )
    };
    let good = uac.calls.iter().filter(|c| expected(c)).count();
    assert!(good * 100 >= CALLS * 97, "only {good} of {CALLS} calls ended as planned");
    let by_code = |code: u16| cdrs.iter().filter(|c| c.final_code == code).count();
    let failed_over = cdrs.iter().filter(|c| c.gateways_tried.len() == 2 && c.final_code == 200).count();
    assert!(failed_over * 100 >= CALLS * 9, "failovers: {failed_over}");
    assert!(by_code(486) * 100 >= CALLS * 9 && by_code(487) * 100 >= CALLS * 9);
    assert!(handoffs > 0, "the owner rule moved messages between shards");
    let [sent, lost, dup] = net.counts();
    eprintln!(
        "sim: {sent} datagrams, {lost} lost, {dup} duplicated, {handoffs} handoffs, {good} calls as planned"
    );
}
