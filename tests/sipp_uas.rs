//! SIPp (Debian's `sip-tester`) places a call to a UAS written with tandem's
//! parser and builder over real UDP on loopback: every request SIPp sends
//! must parse and validate, and SIPp must accept every response we build.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)] // the test is the network and the clock

use bytes::BytesMut;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tandem::sip::{self, Method, response_to};

const SDP: &[u8] = b"v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

fn spawn_sipp(target: SocketAddr, calls: u32, dir: &std::path::Path) -> Child {
    Command::new("sipp")
        .args(["-sn", "uac", &target.to_string(), "-i", "127.0.0.1"])
        .args(["-p", &free_udp_port().to_string()])
        .args(["-m", &calls.to_string(), "-r", "10", "-l", "5", "-d", "100"])
        .args(["-timeout", "20s", "-timeout_error", "-nostdin", "-trace_err"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp is installed (scripts/test installs Debian's sip-tester)")
}

#[derive(Default, Debug)]
struct Seen {
    invites: u32,
    acks: u32,
    byes: u32,
}

/// Answers one datagram; returns the method seen.
fn answer(sock: &UdpSocket, datagram: &[u8], peer: SocketAddr, n: u32) -> Option<Method<'static>> {
    let msg = sip::parse(datagram).unwrap_or_else(|e| {
        panic!("SIPp sent what we cannot parse ({e}): {}", String::from_utf8_lossy(datagram))
    });
    msg.validate().unwrap_or_else(|e| {
        panic!("SIPp message fails validation ({e}): {}", String::from_utf8_lossy(datagram))
    });
    let tag = format!("uas{n}");
    let send = |status: u16, reason: &str, body: Option<&[u8]>| {
        let mut buf = BytesMut::new();
        let b = response_to(&mut buf, &msg, status, reason, Some(&tag));
        match body {
            Some(sdp) => b
                .header("Contact", &format!("<sip:uas@{}>", sock.local_addr().expect("addr")))
                .header("Content-Type", "application/sdp")
                .body(sdp),
            None => b.finish(),
        }
        sock.send_to(&buf, peer).expect("send");
    };
    match msg.method()? {
        Method::Invite => {
            send(100, "Trying", None);
            send(180, "Ringing", None);
            send(200, "OK", Some(SDP));
            Some(Method::Invite)
        }
        Method::Bye => {
            send(200, "OK", None);
            Some(Method::Bye)
        }
        Method::Ack => Some(Method::Ack),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn sipp_uac_calls_complete_against_tandem_messages() {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let dir = std::env::temp_dir().join(format!("tandem-sipp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let calls = 10;
    let mut sipp = spawn_sipp(sock.local_addr().expect("addr"), calls, &dir);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Seen::default();
    let mut buf = vec![0u8; 65_535];
    let status = loop {
        assert!(Instant::now() < deadline, "SIPp did not finish in 30 s: {seen:?}");
        if let Ok((n, peer)) = sock.recv_from(&mut buf) {
            match answer(&sock, &buf[..n], peer, seen.invites) {
                Some(Method::Invite) => seen.invites += 1,
                Some(Method::Ack) => seen.acks += 1,
                Some(Method::Bye) => seen.byes += 1,
                _ => {}
            }
        }
        if let Some(status) = sipp.try_wait().expect("wait sipp") {
            break status;
        }
    };
    let mut err = String::new();
    if let Some(mut e) = sipp.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "SIPp failed ({status}): {err}");
    assert_eq!((seen.invites, seen.acks, seen.byes), (calls, calls, calls), "{seen:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
