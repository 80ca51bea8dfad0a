//! The Prometheus endpoint: `GET /metrics` on `[metrics].listen`, served by
//! a side thread with its own mio poll (no async runtime; httparse reads the
//! request). A scrape asks every shard for its counters over its control
//! queue, so the shards keep plain counters and no shared atomics.

use super::clock::Clock;
use super::{Control, Shared};
use crate::metrics::{self, GatewayLive, Gauges, ShardMetrics};
use crate::routing::snapshot::{Occupancy, Router};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const LISTENER: Token = Token(0);
/// Requests larger than this are refused: a scrape request is a few hundred bytes.
const MAX_REQUEST: usize = 8192;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
/// How long a scrape waits for the shards.
const SCRAPE_WAIT: Duration = Duration::from_secs(1);
/// Poll timeout, so the stop flag is seen.
const TICK: Duration = Duration::from_millis(200);
/// A connection that has not sent a whole request (or taken the answer) in this long is
/// closed, so idle or slow clients cannot hold every slot.
const IDLE: Duration = Duration::from_secs(5);

/// The running endpoint.
pub struct Endpoint {
    /// The address bound (the real port when `listen` asked for port 0).
    pub addr: SocketAddr,
    thread: std::thread::JoinHandle<()>,
}

impl Endpoint {
    /// Waits for the thread after `shared.stopped` is set.
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Binds `listen` now (a bad address stops the start-up) and serves it on a thread.
pub fn spawn(
    listen: SocketAddr,
    shared: Arc<Shared>,
    router: Arc<Router>,
    clock: Clock,
) -> io::Result<Endpoint> {
    let mut listener = TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    let poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let server = Server { poll, listener, conns: HashMap::new(), next: 1, shared, router, clock };
    let thread = std::thread::Builder::new().name("metrics".into()).spawn(move || server.run())?;
    Ok(Endpoint { addr, thread })
}

struct Conn {
    opened: std::time::Instant,
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: HashMap<Token, Conn>,
    next: usize,
    shared: Arc<Shared>,
    router: Arc<Router>,
    clock: Clock,
}

impl Server {
    fn run(mut self) {
        let mut events = Events::with_capacity(64);
        while !self.shared.stopped.load(Ordering::Acquire) {
            if let Err(e) = self.poll.poll(&mut events, Some(TICK))
                && e.kind() != io::ErrorKind::Interrupted
            {
                crate::warn!("metrics endpoint stopped", error = e);
                return;
            }
            for ev in &events {
                match ev.token() {
                    LISTENER => self.accept(),
                    t => self.serve(t),
                }
            }
            self.close_idle();
            // mio is edge-triggered: connections left in the backlog while every slot was
            // taken raise no new event, so look again once slots may have freed.
            self.accept();
        }
    }

    fn close_idle(&mut self) {
        let stale: Vec<Token> =
            self.conns.iter().filter(|(_, c)| c.opened.elapsed() > IDLE).map(|(t, _)| *t).collect();
        for t in stale {
            if let Some(conn) = self.conns.remove(&t) {
                self.close(conn);
            }
        }
    }

    fn accept(&mut self) {
        while self.conns.len() < MAX_CONNECTIONS {
            let Ok((mut stream, _)) = self.listener.accept() else { return };
            let token = Token(self.next);
            self.next += 1;
            let interest = Interest::READABLE | Interest::WRITABLE;
            if self.poll.registry().register(&mut stream, token, interest).is_ok() {
                let opened = now();
                self.conns.insert(
                    token,
                    Conn { opened, stream, input: Vec::new(), output: Vec::new(), written: 0 },
                );
            }
        }
    }

    fn serve(&mut self, token: Token) {
        let Some(mut conn) = self.conns.remove(&token) else { return };
        if conn.output.is_empty() {
            match read_request(&mut conn) {
                Ok(false) => {
                    self.conns.insert(token, conn);
                    return;
                }
                Ok(true) => {
                    conn.output = match parse(&conn.input) {
                        Ok(path) => self.respond(path),
                        Err(status) => plain(status, ""),
                    }
                }
                Err(_) => return self.close(conn),
            }
        }
        match write_out(&mut conn) {
            Ok(false) => {
                self.conns.insert(token, conn);
            }
            _ => self.close(conn),
        }
    }

    fn close(&mut self, mut conn: Conn) {
        let _ = self.poll.registry().deregister(&mut conn.stream);
    }

    fn respond(&self, path: &str) -> Vec<u8> {
        match path {
            "/metrics" => {
                let body = self.scrape();
                response(200, "text/plain; version=0.0.4; charset=utf-8", body.as_bytes())
            }
            "/" => plain(200, "tandem: metrics at /metrics\n"),
            _ => plain(404, "not found; metrics are at /metrics\n"),
        }
    }

    /// Asks every shard for its counters, merges them and renders the text.
    fn scrape(&self) -> String {
        let (tx, rx) = crossbeam::channel::unbounded::<ShardMetrics>();
        let mut asked = 0;
        for (i, control) in self.shared.control.iter().enumerate() {
            if control.send(Control::Scrape(tx.clone())).is_ok() {
                let _ = self.shared.wakers[i].wake();
                asked += 1;
            }
        }
        drop(tx);
        let deadline = now() + SCRAPE_WAIT;
        let mut got = Vec::with_capacity(asked);
        while got.len() < asked {
            match rx.recv_deadline(deadline) {
                Ok(m) => got.push(m),
                Err(_) => break,
            }
        }
        got.sort_by_key(|m| m.shard);
        let now = self.clock.now();
        let answered = got.len();
        let merged = metrics::merge(got, now.ms / 60_000, now.ms / 1000);
        let mut text = metrics::render(&merged, &self.gauges(now.ms));
        text.push_str(&format!(
            "# HELP tandem_scrape_shards_answered Shards that answered this scrape in time (of tandem_shards).\n\
             # TYPE tandem_scrape_shards_answered gauge\ntandem_scrape_shards_answered {answered}\n\
             # HELP tandem_shards Shards running.\n# TYPE tandem_shards gauge\ntandem_shards {}\n",
            self.shared.control.len()
        ));
        text
    }

    fn gauges(&self, now_ms: u64) -> Gauges {
        let snap = self.router.snapshot();
        let cfg = &snap.config;
        let calls = Occupancy::snapshot(&snap.occupancy.gateways);
        let online = snap.occupancy.online();
        let gateways = cfg
            .routing_gateways
            .iter()
            .enumerate()
            .map(|(i, g)| GatewayLive {
                name: g.name.get_ref().clone(),
                online: online.get(i).copied().unwrap_or(true),
                checked: g.options_ping > 0,
                calls: calls.get(i).copied().unwrap_or(0),
            })
            .collect();
        let cust_calls = Occupancy::snapshot(&snap.occupancy.customers);
        let customers =
            cfg.mapping_gateways.iter().zip(cust_calls).map(|(c, n)| (c.name.get_ref().clone(), n)).collect();
        Gauges {
            gateways,
            customers,
            queue_depth: self.shared.queues.iter().map(|q| q.len()).collect(),
            draining: self.shared.draining.load(Ordering::Relaxed),
            uptime_s: now_ms / 1000,
        }
    }
}

#[allow(clippy::disallowed_methods)] // the engine owns the clock
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Reads what is there; `Ok(true)` once the request head is complete (or the peer closed).
fn read_request(conn: &mut Conn) -> io::Result<bool> {
    let mut buf = [0u8; 2048];
    loop {
        match conn.stream.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                conn.input.extend_from_slice(&buf[..n]);
                if conn.input.len() > MAX_REQUEST || memchr::memmem::find(&conn.input, b"\r\n\r\n").is_some()
                {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes what the socket takes; `Ok(true)` when all is written.
fn write_out(conn: &mut Conn) -> io::Result<bool> {
    while conn.written < conn.output.len() {
        match conn.stream.write(&conn.output[conn.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The path of a `GET`, or the status to answer with.
fn parse(input: &[u8]) -> Result<&str, u16> {
    if input.len() > MAX_REQUEST {
        return Err(431);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(input) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(400),
    }
    match (req.method, req.path) {
        (Some("GET"), Some(path)) => Ok(path.split('?').next().unwrap_or(path)),
        (Some(_), _) => Err(405),
        _ => Err(400),
    }
}

fn plain(status: u16, body: &str) -> Vec<u8> {
    response(status, "text/plain; charset=utf-8", body.as_bytes())
}

fn response(status: u16, ctype: &str, body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn requests() {
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("/metrics"));
        assert_eq!(parse(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Ok("/metrics"));
        assert_eq!(parse(b"POST /metrics HTTP/1.1\r\n\r\n"), Err(405));
        assert_eq!(parse(b"\x00\x01garbage\r\n\r\n"), Err(400));
        assert_eq!(parse(&vec![b'a'; 9000]), Err(431));
    }
}
