//! Helpers shared by the black-box tests: `tandem run` as a child process
//! with its logs, SIPp as customer and vendors, raw UDP exchanges.
#![allow(dead_code, clippy::disallowed_types, clippy::disallowed_methods)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod kamailio;

pub const CUSTOMER_IP: &str = "127.0.0.2";

/// A TCP port free on 127.0.0.1 a moment ago (for the metrics endpoint).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn free_port(ip: &str) -> u16 {
    UdpSocket::bind((ip, 0)).expect("bind").local_addr().expect("addr").port()
}

#[derive(Clone, Copy)]
pub struct Vendor {
    pub ip: &'static str,
    pub port: u16,
}

pub struct Switch {
    pub child: Child,
    pub dir: PathBuf,
    pub port: u16,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Switch {
    /// Starts `tandem run` with a customer at 127.0.0.2 and `vendors` in priority order.
    pub fn start(name: &str, sip: &str, vendors: &[Vendor]) -> Switch {
        Switch::start_with(name, sip, vendors, "", "")
    }

    /// Like `start`, with `gateway_extra` in every `[[routing_gateway]]` and `tail` at the end.
    pub fn start_with(name: &str, sip: &str, vendors: &[Vendor], gateway_extra: &str, tail: &str) -> Switch {
        Switch::start_full(name, "", sip, vendors, gateway_extra, tail)
    }

    /// Like `start_with`, with `server_extra` lines in `[server]`.
    pub fn start_full(
        name: &str,
        server_extra: &str,
        sip: &str,
        vendors: &[Vendor],
        gateway_extra: &str,
        tail: &str,
    ) -> Switch {
        let dir = std::env::temp_dir().join(format!("tandem-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("tmp dir");
        std::fs::write(dir.join("cust.csv"), "prefix,rate,initial,increment\n1,0.02,6,6\n").expect("deck");
        std::fs::write(dir.join("v.csv"), "prefix,rate,initial,increment\n1,0.01,6,6\n").expect("deck");
        let port = free_port("127.0.0.1");
        let metrics = free_tcp_port();
        // Two shards unless the test names its own count.
        let shards = if server_extra.contains("shards =") { "" } else { "shards = 2\n" };
        let mut cfg = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n{shards}pin_cores = false\n{server_extra}\n\n[sip]\n{sip}\n\n[cdr]\ndir = \"cdr\"\n\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n\n\
             [[mapping_gateway]]\nname = \"cust\"\naddresses = [\"{CUSTOMER_IP}\"]\nrate_deck = \"cust.csv\"\n"
        );
        for (i, v) in vendors.iter().enumerate() {
            cfg.push_str(&format!(
                "\n[[routing_gateway]]\nname = \"v{}\"\naddress = \"{}:{}\"\nrate_deck = \"v.csv\"\npriority = {}\n{gateway_extra}\n",
                i + 1,
                v.ip,
                v.port,
                i + 1
            ));
        }
        cfg.push_str(tail);
        std::fs::write(dir.join("tandem.toml"), cfg).expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["run", "-c"])
            .arg(dir.join("tandem.toml"))
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tandem");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("logs").push(line);
            }
        });
        let sw = Switch { child, dir, port, logs };
        sw.wait_log("started", Duration::from_secs(10));
        sw
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn wait_log(&self, needle: &str, limit: Duration) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.logs.lock().expect("logs").iter().any(|l| l.contains(needle)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no {needle:?} in tandem's log: {:#?}", self.logs.lock().expect("logs"));
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// SIGTERM and wait (bounded) for a clean exit.
    pub fn stop(self) -> (ExitStatus, Vec<Vec<String>>) {
        self.signal(libc::SIGTERM);
        self.stop_after_signal()
    }

    /// Every CDR row (without headers) from the CDR folder.
    pub fn cdrs(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.dir.join("cdr")) else { return rows };
        for e in entries.flatten() {
            let mut rdr = csv::Reader::from_path(e.path()).expect("cdr file");
            rows.extend(
                rdr.records().map(|r| r.expect("cdr row").iter().map(str::to_owned).collect::<Vec<_>>()),
            );
        }
        rows
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CDR column index by name (docs/cdr.md).
pub fn col(name: &str) -> usize {
    tandem::cdr::HEADER.split(',').position(|c| c == name).expect("column")
}

pub fn scenario(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp").join(name).display().to_string()
}

/// Starts SIPp in `dir`; `args` after the common ones.
pub fn sipp(dir: &Path, args: &[&str]) -> Child {
    Command::new("sipp")
        .args(["-nostdin", "-timeout", "20s", "-timeout_error"])
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp is installed (scripts/test installs Debian's sip-tester)")
}

/// Waits (bounded) for SIPp to finish.
pub fn finish(mut child: Child) -> ExitStatus {
    exit_within(&mut child, Duration::from_secs(30), "SIPp did not finish in 30 s")
}

/// Waits for `child` to exit; past `limit` it is killed and the test fails with `what`.
pub fn exit_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("{what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn uas(dir: &Path, v: &Vendor, calls: u32, extra: &[&str]) -> Child {
    let port = v.port.to_string();
    let m = calls.to_string();
    let mut args = vec!["-i", v.ip, "-p", &port, "-m", &m];
    args.extend(extra);
    if !extra.contains(&"-sf") {
        args.extend(["-sn", "uas"]);
    }
    let child = sipp(dir, &args);
    std::thread::sleep(Duration::from_millis(300)); // let it bind before calls arrive
    child
}

pub fn uac(dir: &Path, sw: &Switch, calls: u32, extra: &[&str]) -> Child {
    let port = free_port(CUSTOMER_IP).to_string();
    let m = calls.to_string();
    let target = sw.addr();
    let mut args =
        vec![target.as_str(), "-i", CUSTOMER_IP, "-p", &port, "-m", &m, "-s", "12125551212", "-r", "20"];
    args.extend(extra);
    if !extra.contains(&"-sf") {
        args.extend(["-sn", "uac"]);
    }
    sipp(dir, &args)
}

/// `calls` calls from a SIPp caller (`uac_extra` added to its arguments)
/// through `sw` to a SIPp callee at `v`, both with their default scenarios,
/// in the working folder `name`; both must report every call successful.
pub fn sipp_calls(sw: &Switch, v: &Vendor, name: &str, calls: u32, uac_extra: &[&str]) {
    let dir = workdir(name);
    let callee = uas(&dir, v, calls, &[]);
    let caller = uac(&dir, sw, calls, uac_extra);
    assert!(finish(caller).success(), "caller SIPp reported failed calls");
    assert!(finish(callee).success(), "callee SIPp reported failed calls");
}

pub fn vendor(ip: &'static str) -> Vendor {
    Vendor { ip, port: free_port(ip) }
}

pub fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tandem-sipp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("dir");
    d
}

/// Sends one datagram from `from` and returns the first answer.
pub fn exchange(from: &UdpSocket, to: &str, msg: &str) -> String {
    from.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    from.send_to(msg.as_bytes(), to).expect("send");
    let mut buf = vec![0u8; 65_535];
    let (n, _) = from.recv_from(&mut buf).expect("an answer");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

pub fn invite_text(from: &UdpSocket, call_id: &str, cseq_method: &str) -> String {
    let me = from.local_addr().expect("addr");
    let sdp =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    format!(
        "INVITE sip:12125551212@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id}\r\nMax-Forwards: 70\r\n\
         From: \"Secret Caller\" <sip:2125550001@{me}>;tag=caller-tag-{call_id}\r\nTo: <sip:12125551212@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 {cseq_method}\r\nContact: <sip:caller@{me}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The ACK (RFC 3261 §17.1.1.3) for a non-2xx answer to [`invite_text`]'s INVITE; `to` is the answer's To line.
pub fn ack_text(from: &UdpSocket, call_id: &str, to: &str) -> String {
    let me = from.local_addr().expect("addr");
    format!(
        "ACK sip:12125551212@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-{call_id}\r\nMax-Forwards: 70\r\n\
         From: \"Secret Caller\" <sip:2125550001@{me}>;tag=caller-tag-{call_id}\r\n{to}\r\n\
         Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    )
}

impl Switch {
    /// Waits for the exit a signal already started.
    pub fn stop_after_signal(mut self) -> (ExitStatus, Vec<Vec<String>>) {
        let status = exit_within(&mut self.child, Duration::from_secs(20), "tandem did not stop within 20 s");
        let cdrs = self.cdrs();
        (status, cdrs)
    }
}

impl Switch {
    /// The metrics endpoint's address, from the `started` log line.
    pub fn metrics_addr(&self) -> String {
        self.wait_log("started", Duration::from_secs(10));
        let logs = self.logs.lock().expect("logs");
        let line = logs.iter().find(|l| l.contains(" started ")).expect("started line");
        let at = line.find("metrics=").expect("metrics= in the started line") + "metrics=".len();
        line[at..].split_whitespace().next().expect("address").to_owned()
    }

    /// `GET /metrics`: the body.
    pub fn scrape(&self) -> String {
        http_get(&self.metrics_addr(), "/metrics").1
    }
}

/// One HTTP/1.1 GET: (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The value of the series `name` (with its labels, exactly as written), if present.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The first INVITE that reaches `sock` within 3 s, if any.
pub fn invite_at(sock: &UdpSocket) -> Option<String> {
    invite_for(sock, "")
}

/// The first INVITE for `number` (skipping retransmissions of other calls) within 3 s.
pub fn invite_for(sock: &UdpSocket, number: &str) -> Option<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let end = Instant::now() + Duration::from_secs(3);
    let mut buf = vec![0u8; 65_535];
    while Instant::now() < end {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with(&format!("INVITE sip:{number}")) {
                return Some(text);
            }
        }
    }
    None
}

/// A response to a request given as text: Via, From, To (tagged), Call-ID and CSeq copied.
pub fn reply_to(req: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for line in req.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" | "t" if !line.contains("tag=") => out.push_str(&format!("{line};tag=peer\r\n")),
            "to" | "t" => out.push_str(&format!("{line}\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}
