//! The UDP backend: one non-blocking `SO_REUSEPORT` socket per shard, batched
//! with `recvmmsg`/`sendmmsg` (one syscall for up to 32 datagrams).
#![allow(unsafe_code)] // recvmmsg/sendmmsg have no safe wrapper in std
#![allow(clippy::disallowed_types)] // the engine owns the sockets

use super::{PacketIo, RxBatch};
use bytes::Bytes;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Datagrams per syscall.
pub const BATCH: usize = 32;
/// Receive buffer per datagram: the largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Datagrams held while the socket's send buffer is full.
const MAX_PENDING: usize = 65_536;

/// A shard's UDP socket.
pub struct UdpIo {
    socket: mio::net::UdpSocket,
    bufs: Vec<Vec<u8>>,
    /// Accepted for sending but refused with EAGAIN: sent when the socket is writable again.
    pending: VecDeque<(Bytes, SocketAddr)>,
    /// Datagrams dropped because `pending` was full.
    pub dropped: u64,
    /// Registered for writable events.
    writable: bool,
}

impl UdpIo {
    /// Binds `addr` with SO_REUSEPORT so every shard can bind the same port.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::bind_with(addr, true)
    }

    /// Binds `addr` for this socket alone: another process on the port is an
    /// error at start, not a silent split of the traffic (a shard's vendor port).
    pub fn bind_own(addr: SocketAddr) -> io::Result<Self> {
        Self::bind_with(addr, false)
    }

    fn bind_with(addr: SocketAddr, shared: bool) -> io::Result<Self> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        // SO_REUSEPORT only: SO_REUSEADDR would let a socket of any user bind
        // the same address and take datagrams; SO_REUSEPORT admits only sockets
        // of our own user, and `ensure_free` keeps other processes out of it.
        if shared {
            socket.set_reuse_port(true)?;
        }
        socket.set_nonblocking(true)?;
        // Best effort: the kernel caps these at net.core.{r,w}mem_max (see tuning/sysctl.conf).
        let _ = socket.set_recv_buffer_size(8 << 20);
        let _ = socket.set_send_buffer_size(8 << 20);
        socket.bind(&SockAddr::from(addr))?;
        let std_socket: std::net::UdpSocket = socket.into();
        Ok(UdpIo {
            socket: mio::net::UdpSocket::from_std(std_socket),
            bufs: vec![vec![0u8; MAX_DATAGRAM]; BATCH],
            pending: VecDeque::new(),
            dropped: 0,
            writable: false,
        })
    }

    /// Fails with `AddrInUse` when any socket holds `addr`, so that the
    /// shards' `SO_REUSEPORT` group is the first and only one on it: without
    /// this check a second process of the same user (another tandem) would
    /// join the group and silently take a share of the datagrams. A socket
    /// bound without `SO_REUSEPORT` conflicts with every other socket on the
    /// address, which is what the check binds (and closes at once).
    pub fn ensure_free(addr: SocketAddr) -> io::Result<()> {
        std::net::UdpSocket::bind(addr).map(drop)
    }

    /// The socket's descriptor (for kernel steering).
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.socket)
    }

    /// The mio source, for registration.
    pub fn source(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }
}

impl PacketIo for UdpIo {
    fn recv_batch(&mut self, batch: &mut RxBatch, max: usize) -> io::Result<usize> {
        let n = max.min(BATCH);
        let mut addrs: [MaybeUninit<libc::sockaddr_storage>; BATCH] = [MaybeUninit::zeroed(); BATCH];
        // On the stack: no allocation per receive.
        let mut iovecs = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH];
        for (v, b) in iovecs.iter_mut().zip(&mut self.bufs[..n]) {
            *v = libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() };
        }
        // SAFETY: mmsghdr is plain old data; all-zero is a valid empty header.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (i, m) in msgs[..n].iter_mut().enumerate() {
            m.msg_hdr.msg_name = addrs[i].as_mut_ptr().cast();
            m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            m.msg_hdr.msg_iov = &mut iovecs[i];
            m.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first n mmsghdrs point at live iovecs over buffers of
        // iov_len bytes and at sockaddr_storages of msg_namelen bytes, all of
        // which outlive the call; n <= BATCH, the length of `msgs`.
        let got = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(0) } else { Err(e) };
        }
        let got = got as usize;
        for (i, m) in msgs[..n].iter().enumerate().take(got) {
            let len = (m.msg_len as usize).min(MAX_DATAGRAM);
            // SAFETY: the kernel filled msg_namelen bytes of addrs[i], a
            // sockaddr_storage, which is what SockAddr::new expects.
            let addr = unsafe { SockAddr::new(addrs[i].assume_init(), m.msg_hdr.msg_namelen) };
            if let Some(peer) = addr.as_socket() {
                batch.datagrams.push((Bytes::copy_from_slice(&self.bufs[i][..len]), peer));
            }
        }
        Ok(got)
    }

    fn send_batch(&mut self, out: &[(Bytes, SocketAddr)]) -> io::Result<usize> {
        let room = MAX_PENDING.saturating_sub(self.pending.len());
        self.dropped += out.len().saturating_sub(room) as u64;
        self.pending.extend(out.iter().take(room).cloned());
        let mut sent = 0;
        while !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            self.pending.make_contiguous();
            let (done, blocked) = send_chunk(&self.socket, &self.pending.as_slices().0[..n])?;
            self.pending.drain(..done);
            sent += done;
            if blocked {
                break; // the socket's buffer is full: the rest waits for a writable event
            }
        }
        Ok(sent)
    }

    fn pending(&self) -> usize {
        self.pending.len()
    }

    fn want_writable(&mut self, registry: &mio::Registry, token: mio::Token, want: bool) -> io::Result<()> {
        if want == self.writable {
            return Ok(());
        }
        self.writable = want;
        let interest =
            if want { mio::Interest::READABLE | mio::Interest::WRITABLE } else { mio::Interest::READABLE };
        registry.reregister(&mut self.socket, token, interest)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// Sends what it can of `chunk`: how many went (or were skipped as
/// undeliverable), and whether the socket's buffer filled up.
fn send_chunk(socket: &mio::net::UdpSocket, chunk: &[(Bytes, SocketAddr)]) -> io::Result<(usize, bool)> {
    let chunk = &chunk[..chunk.len().min(BATCH)];
    let addrs: Vec<SockAddr> = chunk.iter().map(|(_, a)| SockAddr::from(*a)).collect();
    // On the stack: one allocation (the addresses) per sendmmsg instead of three.
    let mut iovecs = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH];
    for (v, (b, _)) in iovecs.iter_mut().zip(chunk) {
        *v = libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() };
    }
    // SAFETY: mmsghdr is plain old data; all-zero is a valid empty header.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    let msgs = &mut msgs[..chunk.len()];
    for (i, m) in msgs.iter_mut().enumerate() {
        m.msg_hdr.msg_name = addrs[i].as_ptr() as *mut libc::c_void;
        m.msg_hdr.msg_namelen = addrs[i].len();
        m.msg_hdr.msg_iov = &mut iovecs[i];
        m.msg_hdr.msg_iovlen = 1;
    }
    let mut done = 0;
    while done < msgs.len() {
        // SAFETY: msgs[done..] point at live iovecs over the Bytes in
        // `chunk` and at SockAddrs in `addrs`, all alive for the call; the
        // kernel only reads them (the iov_base cast to *mut is never written).
        let n = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                msgs[done..].as_mut_ptr(),
                (msgs.len() - done) as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok((done, true)),
                // One bad destination (e.g. ICMP unreachable reported late): skip it.
                _ => {
                    done += 1;
                    continue;
                }
            }
        }
        done += n as usize;
    }
    Ok((done, false))
}
