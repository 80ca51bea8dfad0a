//! Kernel steering (`[server].kernel_steering`): an eBPF program on the
//! shards' `SO_REUSEPORT` group gives each datagram to the socket of the
//! shard that owns its Call-ID, the same rule `ids::owner` applies
//! (DESIGN.md §1), so that shard reads it first hand.
//!
//! Without it the kernel picks a socket by a hash of the 4-tuple: one peer's
//! datagrams all reach one shard, which hands most of them over (a queue
//! push, a wake-up of the owner, a second hop of latency). The program is an
//! optimisation only: the receiving shard still checks the owner and hands
//! over whatever the program could not place (no Call-ID in the first
//! `SCAN_LIMIT` bytes, a folded Call-ID), so a wrong guess costs a handoff,
//! never a message.
//!
//! The program is written here as eBPF instructions: 161 of them, not
//! worth a BPF toolchain in the build. It needs `CAP_BPF`, and `CAP_PERFMON`
//! for its pointer arithmetic (or root); when the kernel refuses, the engine
//! logs why and runs with handoffs alone.
#![allow(unsafe_code)] // the bpf(2) and setsockopt(2) syscalls have no safe wrapper

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Payload bytes scanned for the Call-ID header: copied to the stack, whose
/// 512 bytes must also hold the map key. Call-IDs sit in the first few
/// hundred bytes (the start line, Via, From, To come before them).
const SCAN_LIMIT: i32 = 448;
/// Where the payload starts: `ctx` and `bpf_skb_load_bytes` count from the UDP header.
const UDP_HEADER: i32 = 8;
/// The map key for the helper (a u32), below the copy.
const KEY: i16 = -(SCAN_LIMIT as i16) - 8;
/// `sk_reuseport_md.len`: the datagram's length from its UDP header.
const MD_LEN: i16 = 16;

/// `SO_ATTACH_REUSEPORT_EBPF` (asm-generic/socket.h).
const SO_ATTACH_REUSEPORT_EBPF: libc::c_int = 52;
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: u32 = 20;
const BPF_PROG_TYPE_SK_REUSEPORT: u32 = 21;
/// Helper `bpf_skb_load_bytes(ctx, offset, to, len)`.
const HELPER_SKB_LOAD_BYTES: i32 = 26;
/// Helper `bpf_sk_select_reuseport(ctx, map, key, flags)`.
const HELPER_SK_SELECT_REUSEPORT: i32 = 82;
/// The program's verdict: deliver (to the selected socket, else by hash).
const SK_PASS: i32 = 1;

/// Steers the datagrams of the group `sockets` belong to: `sockets[i]` is
/// shard `i`'s socket, all bound to the same address with `SO_REUSEPORT`.
/// Returns how many instructions the kernel's verifier walked to accept the
/// program (its limit is 1,000,000; the start waits for the walk).
pub fn attach(sockets: &[BorrowedFd<'_>]) -> io::Result<u64> {
    if !cfg!(all(target_endian = "little", any(target_arch = "x86_64", target_arch = "aarch64"))) {
        // Instructions are encoded little-endian, and the socket option number is asm-generic's.
        return Err(io::Error::new(io::ErrorKind::Unsupported, "built for x86_64 and aarch64 only"));
    }
    let shards = u16::try_from(sockets.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if shards < 2 {
        return Ok(0); // one socket: nothing to steer
    }
    let map = create_map(u32::from(shards))?;
    for (i, socket) in sockets.iter().enumerate() {
        let key = i as u32;
        let value = socket.as_raw_fd() as u64;
        let mut attr = Attr::default();
        attr.put_u32(0, map.as_raw_fd() as u32);
        attr.put_u64(8, &key as *const u32 as u64);
        attr.put_u64(16, &value as *const u64 as u64);
        // SAFETY: the key and value the attr points to live until the call returns.
        unsafe { bpf(BPF_MAP_UPDATE_ELEM, &mut attr) }.map_err(|e| context(e, "adding a shard's socket"))?;
    }
    let (prog, verified) = load(&program(shards, map.as_raw_fd()))?;
    let fd = prog.as_raw_fd();
    // SAFETY: `fd` is an open program descriptor and the option value is a
    // c_int that lives through the call; the socket is borrowed, so open.
    let rc = unsafe {
        libc::setsockopt(
            sockets[0].as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_EBPF,
            (&fd as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(context(io::Error::last_os_error(), "attaching the program"));
    }
    // The group holds the program, and the program the map: both fds may close.
    Ok(verified)
}

fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// `union bpf_attr`, large enough for the commands used here; unused tail zero.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Default for Attr {
    fn default() -> Self {
        Attr([0; 128])
    }
}

impl Attr {
    fn put_u32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn put_u64(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }
}

/// bpf(2); returns the new descriptor for the commands that make one.
///
/// # Safety
/// Every pointer stored in `attr` must point to memory valid for what `cmd`
/// does with it (reads of the key, value, code and license; writes of the log,
/// up to the size given) until the call returns.
unsafe fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-filled bpf_attr of the size passed, and the
    // caller vouches for the pointers in it.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("bpf returned a bad descriptor"))?;
    // SAFETY: the kernel just returned `fd` as a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn create_map(entries: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::default();
    attr.put_u32(0, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
    attr.put_u32(4, 4); // key: u32 shard index
    attr.put_u32(8, 8); // value: u64 socket descriptor
    attr.put_u32(12, entries);
    // SAFETY: map creation reads no pointer from the attr.
    unsafe { bpf(BPF_MAP_CREATE, &mut attr) }
        .and_then(owned)
        .map_err(|e| context(e, "creating the socket map"))
}

/// Loads the program, with the verifier's closing statistics (log level 4)
/// to learn its cost; on refusal, again with its whole log for the reason.
fn load(insns: &[Insn]) -> io::Result<(OwnedFd, u64)> {
    let code: Vec<u64> = insns.iter().map(|i| i.encode()).collect();
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; 1 << 28];
    let mut attempt = |level: u32| {
        log.fill(0);
        let mut attr = Attr::default();
        attr.put_u32(0, BPF_PROG_TYPE_SK_REUSEPORT);
        attr.put_u32(4, code.len() as u32);
        attr.put_u64(8, code.as_ptr() as u64);
        attr.put_u64(16, license.as_ptr() as u64);
        attr.put_u32(24, level);
        attr.put_u32(28, log.len() as u32);
        attr.put_u64(32, log.as_mut_ptr() as u64);
        let name = b"tandem_steer"; // [a-zA-Z0-9_.], at most 15 bytes
        attr.0[48..48 + name.len()].copy_from_slice(name);
        // SAFETY: the code, license and log outlive the call, and the log's size is its length.
        let fd = unsafe { bpf(BPF_PROG_LOAD, &mut attr) }.and_then(owned);
        let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
        (fd, String::from_utf8_lossy(&log[..end]).into_owned())
    };
    let (fd, stats) = match attempt(4) {
        (Ok(fd), stats) => (fd, stats),
        (Err(_), _) => match attempt(1 | 4) {
            (Ok(fd), stats) => (fd, stats),
            (Err(e), text) => return Err(context(e, &format!("loading the program ({})", refusal(&text)))),
        },
    };
    Ok((fd, verified_insns(&stats).unwrap_or(0)))
}

/// The verifier's reason: its last line before the closing statistics.
fn refusal(log: &str) -> &str {
    const STATS: [&str; 3] = ["processed ", "verification time ", "stack depth "];
    let reason = |l: &&str| !l.is_empty() && !STATS.iter().any(|s| l.starts_with(s));
    log.lines().map(str::trim).rfind(reason).unwrap_or("no log")
}

/// `processed N insns` from the verifier's statistics.
fn verified_insns(log: &str) -> Option<u64> {
    log.split("processed ").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// One eBPF instruction.
#[derive(Clone, Copy, Debug)]
struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    fn encode(self) -> u64 {
        let regs = (self.dst & 0xf) | (self.src << 4);
        u64::from(self.code)
            | (u64::from(regs) << 8)
            | (u64::from(self.off as u16) << 16)
            | (u64::from(self.imm as u32) << 32)
    }
}

// Opcode parts (linux/bpf.h).
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const STX: u8 = 0x03;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const W: u8 = 0x00;
const B: u8 = 0x10;
const DW: u8 = 0x18;
const MEM: u8 = 0x60;
const IMM: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
const SUB: u8 = 0x10;
const AND: u8 = 0x50;
const MUL: u8 = 0x20;
const OR: u8 = 0x40;
const LSH: u8 = 0x60;
const MOD: u8 = 0x90;
const XOR: u8 = 0xa0;
const MOV: u8 = 0xb0;
const JA: u8 = 0x00;
const JEQ: u8 = 0x10;
const JGT: u8 = 0x20;
const JGE: u8 = 0x30;
const JNE: u8 = 0x50;
const JLE: u8 = 0xb0;
const JSLE: u8 = 0xd0;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
/// `src` of a 64-bit load whose immediate is a map descriptor.
const PSEUDO_MAP_FD: u8 = 1;

/// A jump target, bound to an instruction index later.
#[derive(Clone, Copy)]
struct Label(usize);

/// Instructions with forward and backward jumps to labels.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }
    fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(Insn { code, dst, src, off, imm });
    }
    fn mov(&mut self, dst: u8, src: u8) {
        self.op(ALU64 | MOV | X, dst, src, 0, 0);
    }
    fn imm(&mut self, alu: u8, dst: u8, imm: i32) {
        self.op(ALU64 | alu, dst, 0, 0, imm);
    }
    fn reg(&mut self, alu: u8, dst: u8, src: u8) {
        self.op(ALU64 | alu | X, dst, src, 0, 0);
    }
    fn load(&mut self, size: u8, dst: u8, src: u8, off: i16) {
        self.op(LDX | MEM | size, dst, src, off, 0);
    }
    fn ld64(&mut self, dst: u8, src: u8, v: u64) {
        self.op(LD | DW | IMM, dst, src, 0, v as u32 as i32);
        self.op(0, 0, 0, 0, (v >> 32) as u32 as i32);
    }
    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.op(code, dst, src, 0, imm);
    }
    fn jmp_imm(&mut self, op: u8, dst: u8, imm: i32, to: Label) {
        self.jump(JMP | op, dst, 0, imm, to);
    }
    fn jmp_reg(&mut self, op: u8, dst: u8, src: u8, to: Label) {
        self.jump(JMP | op | X, dst, src, 0, to);
    }
    fn goto(&mut self, to: Label) {
        self.jump(JMP | JA, 0, 0, 0, to);
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, label) in self.fixups {
            let target = self.labels[label.0].expect("every label used is bound") as i64;
            self.insns[at].off = i16::try_from(target - at as i64 - 1).expect("the program is short");
        }
        self.insns
    }
}

// Registers: r0-r5 scratch, r6 ctx, r7 scan position, r8 state, r9 hash, r10 frame.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;

// Scanner states (r8).
const SKIP_LINE: i32 = 0;
const LINE_START: i32 = 1;
const BEFORE_COLON: i32 = 2;
const BEFORE_VALUE: i32 = 3;
const VALUE: i32 = 4;

/// The steering program for `shards` sockets in map `map_fd`: scan the head
/// for `Call-ID`/`i` (any case, SP/HT before and after the colon), then pick
/// the owner as `ids::owner` does: the shard a `tdm<n>-` Call-ID names, else
/// FNV-1a of the value modulo `shards`. No Call-ID: no choice (the 4-tuple hash).
///
/// The payload's first `SCAN_LIMIT` bytes are copied to the stack with one
/// `bpf_skb_load_bytes`: unlike direct packet access, that also reads what
/// the driver left in page fragments. Offsets into the datagram count from
/// its UDP header, where `ctx` starts.
fn program(shards: u16, map_fd: i32) -> Vec<Insn> {
    let mut a = Asm::default();
    let [top, next, pass, select, done, sized] = [(); 6].map(|_| a.label());
    let [skip_line, line_start, before_colon, value] = [(); 4].map(|_| a.label());
    a.mov(R6, R1);
    payload_len(&mut a, R4);
    a.jmp_imm(JSLE, R4, 0, pass);
    a.jmp_imm(JLE, R4, SCAN_LIMIT, sized);
    a.imm(MOV, R4, SCAN_LIMIT);
    a.bind(sized);
    a.mov(R1, R6);
    a.imm(MOV, R2, UDP_HEADER);
    a.mov(R3, R10);
    a.imm(ADD, R3, -SCAN_LIMIT);
    a.op(JMP | CALL, 0, 0, 0, HELPER_SKB_LOAD_BYTES);
    a.jmp_imm(JNE, R0, 0, pass);
    a.imm(MOV, R7, 0); // the payload's first byte; the start line is skipped
    a.imm(MOV, R8, SKIP_LINE);
    a.ld64(R9, 0, 0xcbf2_9ce4_8422_2325); // FNV-1a offset basis
    a.bind(top);
    a.jmp_imm(JGE, R7, SCAN_LIMIT, pass);
    payload_len(&mut a, R2); // r2: the payload's length, for every bound below
    a.jmp_reg(JGE, R7, R2, pass);
    // r3: the byte's place in the frame; byte k ahead is at r3 - SCAN_LIMIT + k.
    a.mov(R3, R10);
    a.reg(ADD, R3, R7);
    ahead(&mut a, R0, 0);
    a.jmp_imm(JEQ, R8, VALUE, value);
    a.jmp_imm(JEQ, R8, SKIP_LINE, skip_line);
    a.jmp_imm(JEQ, R8, LINE_START, line_start);
    a.jmp_imm(JEQ, R8, BEFORE_COLON, before_colon);
    before_value(&mut a, shards, next, top, select);
    // VALUE: hash up to the first CR, LF, SP or HT.
    a.bind(value);
    for end in [b'\r', b'\n', b' ', b'\t'] {
        a.jmp_imm(JEQ, R0, i32::from(end), done);
    }
    a.reg(XOR, R9, R0);
    // × 0x100000001b3, the FNV prime, as (h << 40) + h × 0x1b3.
    a.mov(R1, R9);
    a.imm(LSH, R1, 40);
    a.imm(MUL, R9, 0x1b3);
    a.reg(ADD, R9, R1);
    a.goto(next);
    // SKIP_LINE: to the byte after the next LF.
    a.bind(skip_line);
    let lf = a.label();
    a.jmp_imm(JEQ, R0, i32::from(b'\n'), lf);
    skip_word(&mut a, top, next);
    a.bind(lf);
    a.imm(MOV, R8, LINE_START);
    a.goto(next);
    a.bind(line_start);
    header_name(&mut a, top, next, pass);
    // BEFORE_COLON: SP/HT, then the colon; anything else is another header.
    a.bind(before_colon);
    let [colon, other] = [(); 2].map(|_| a.label());
    a.jmp_imm(JEQ, R0, i32::from(b' '), next);
    a.jmp_imm(JEQ, R0, i32::from(b'\t'), next);
    a.jmp_imm(JEQ, R0, i32::from(b':'), colon);
    a.bind(other);
    a.imm(MOV, R8, SKIP_LINE);
    a.goto(top); // this byte again, as part of a line to skip (it may be the LF)
    a.bind(colon);
    a.imm(MOV, R8, BEFORE_VALUE);
    a.bind(next);
    a.imm(ADD, R7, 1);
    a.goto(top);
    // The hash chooses: r1 = hash % shards.
    a.bind(done);
    a.mov(R1, R9);
    a.imm(MOD, R1, i32::from(shards));
    // r1: the owner's index.
    a.bind(select);
    a.op(STX | MEM | W, R10, R1, KEY, 0);
    a.mov(R1, R6);
    a.ld64(R2, PSEUDO_MAP_FD, map_fd as u32 as u64);
    a.mov(R3, R10);
    a.imm(ADD, R3, i32::from(KEY));
    a.imm(MOV, R4, 0);
    a.op(JMP | CALL, 0, 0, 0, HELPER_SK_SELECT_REUSEPORT);
    // Whatever the helper said: deliver (a failed choice leaves the hash's).
    a.bind(pass);
    a.imm(MOV, R0, SK_PASS);
    a.op(JMP | EXIT, 0, 0, 0, 0);
    a.finish()
}

/// In SKIP_LINE at an 8-aligned byte that is not LF: when none of the 8
/// bytes from here is an LF either, skip them at once (most of a head is
/// lines to skip; byte by byte costs the kernel ~13 instructions a byte).
/// A word has a zero byte when (w - 0x01..01) & !w & 0x80..80 is not zero;
/// with w = bytes ^ 0x0a..0a, a zero byte is an LF.
fn skip_word(a: &mut Asm, top: Label, next: Label) {
    a.mov(R1, R7);
    a.imm(AND, R1, 7);
    a.jmp_imm(JNE, R1, 0, next);
    unless_ahead(a, 7, next);
    a.load(DW, R1, R3, -SCAN_LIMIT as i16);
    a.ld64(R4, 0, 0x0a0a_0a0a_0a0a_0a0a);
    a.reg(XOR, R1, R4);
    a.mov(R5, R1);
    a.ld64(R4, 0, 0x0101_0101_0101_0101);
    a.reg(SUB, R5, R4);
    a.imm(XOR, R1, -1);
    a.reg(AND, R5, R1);
    a.ld64(R4, 0, 0x8080_8080_8080_8080);
    a.reg(AND, R5, R4);
    a.jmp_imm(JNE, R5, 0, next);
    a.imm(ADD, R7, 8);
    a.goto(top);
}

/// `dst` = the payload's length (`ctx->len` less the UDP header; may be negative).
fn payload_len(a: &mut Asm, dst: u8) {
    a.load(W, dst, R6, MD_LEN);
    a.imm(ADD, dst, -UDP_HEADER);
}

/// Byte `k` ahead of the current one (r3 as `program` sets it).
fn ahead(a: &mut Asm, dst: u8, k: i16) {
    a.load(B, dst, R3, k - SCAN_LIMIT as i16);
}

/// Jumps to `to` unless bytes up to `k` ahead are in the copy: within the
/// payload (r2) and the buffer (a bound the verifier decides, no fork).
fn unless_ahead(a: &mut Asm, k: i32, to: Label) {
    a.mov(R5, R7);
    a.imm(ADD, R5, k + 1);
    a.jmp_reg(JGT, R5, R2, to);
    a.jmp_imm(JGT, R5, SCAN_LIMIT, to);
}

/// LINE_START, byte in r0: is this line's header `Call-ID` or `i`? Yes: skip
/// the name, then BEFORE_COLON. An empty line ends the head: pass.
fn header_name(a: &mut Asm, top: Label, next: Label, pass: Label) {
    let [compact, other] = [(); 2].map(|_| a.label());
    a.jmp_imm(JEQ, R0, i32::from(b'\r'), pass);
    a.jmp_imm(JEQ, R0, i32::from(b'\n'), pass);
    a.mov(R1, R0);
    a.imm(OR, R1, 0x20); // lower case; '-' is unchanged
    a.jmp_imm(JEQ, R1, i32::from(b'i'), compact);
    a.jmp_imm(JNE, R1, i32::from(b'c'), other);
    unless_ahead(a, 6, other);
    for (k, want) in b"all-id".iter().enumerate() {
        ahead(a, R1, k as i16 + 1);
        a.imm(OR, R1, 0x20);
        a.jmp_imm(JNE, R1, i32::from(*want), other);
    }
    a.imm(ADD, R7, 7);
    a.imm(MOV, R8, BEFORE_COLON);
    a.goto(top);
    a.bind(compact);
    a.imm(MOV, R8, BEFORE_COLON);
    a.goto(next);
    a.bind(other);
    a.imm(MOV, R8, SKIP_LINE);
    a.goto(next);
}

/// BEFORE_VALUE, byte in r0, length in r2: SP/HT are skipped; the first other
/// byte starts the value. A `tdm<1-4 digits>-` value names its shard (when
/// there is one of that number): select it with r1. Otherwise hash from here.
fn before_value(a: &mut Asm, shards: u16, next: Label, top: Label, select: Label) {
    let named = a.label();
    a.jmp_imm(JEQ, R0, i32::from(b' '), next);
    a.jmp_imm(JEQ, R0, i32::from(b'\t'), next);
    a.imm(MOV, R8, VALUE);
    unless_ahead(a, 7, top); // "tdm", up to 4 digits, "-" (a head goes on after its Call-ID)
    for (k, want) in b"tdm".iter().enumerate() {
        ahead(a, R1, k as i16);
        a.jmp_imm(JNE, R1, i32::from(*want), top);
    }
    a.imm(MOV, R5, 0);
    for k in 3..8 {
        ahead(a, R1, k);
        if k > 3 {
            a.jmp_imm(JEQ, R1, i32::from(b'-'), named);
        }
        if k == 7 {
            a.goto(top); // a fifth digit: not one of ours
            break;
        }
        a.imm(ADD, R1, -i32::from(b'0'));
        a.jmp_imm(JGT, R1, 9, top); // unsigned: below '0' wraps high
        a.imm(MUL, R5, 10);
        a.reg(ADD, R5, R1);
    }
    a.bind(named);
    a.jmp_imm(JGE, R5, i32::from(shards), top);
    a.mov(R1, R5);
    a.goto(select);
}

#[cfg(test)]
#[allow(clippy::disallowed_types)] // plain sockets play the group and its peers
mod tests {
    use super::*;
    use crate::call::ids;
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::AsFd;
    use std::time::Duration;

    /// One group at a time: binding port 0 with SO_REUSEPORT, a second group
    /// could be given the first one's port and join it.
    static ONE_GROUP: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn group(n: usize, at: &str) -> (Vec<UdpSocket>, SocketAddr) {
        let mut addr: SocketAddr = at.parse().expect("addr");
        let sockets: Vec<UdpSocket> = (0..n)
            .map(|_| {
                let s =
                    Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).expect("socket");
                s.set_reuse_port(true).expect("reuseport");
                s.bind(&SockAddr::from(addr)).expect("bind");
                let s: UdpSocket = s.into();
                addr = s.local_addr().expect("local addr"); // the others join this port
                s.set_nonblocking(true).expect("nonblocking");
                s
            })
            .collect();
        (sockets, addr)
    }

    /// Which socket of the group got `datagram` (each is sent alone and awaited).
    fn receiver(sockets: &[UdpSocket], to: SocketAddr, datagram: &[u8]) -> usize {
        let client = UdpSocket::bind(SocketAddr::new(to.ip(), 0)).expect("client");
        client.send_to(datagram, to).expect("send");
        let mut buf = vec![0u8; 65_536];
        for _ in 0..2000 {
            for (i, s) in sockets.iter().enumerate() {
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    assert_eq!(&buf[..n], datagram);
                    return i;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the datagram reached no socket within 2 s");
    }

    /// An OPTIONS with `pad` bytes of header before the Call-ID line, and
    /// after it as many as make it `total` bytes long (if it is longer).
    fn request(call_id_line: &str, pad: usize, total: usize) -> Vec<u8> {
        let head = format!(
            "OPTIONS sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK1\r\n\
             X-Pad: {}\r\nFrom: <sip:a@127.0.0.2>;tag=1\r\nTo: <sip:1@127.0.0.1>\r\n{call_id_line}\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n",
            "x".repeat(pad)
        );
        let tail = total.saturating_sub(head.len() + "X-Tail: \r\n\r\n".len());
        let tail = if tail > 0 { format!("X-Tail: {}\r\n", "y".repeat(tail)) } else { String::new() };
        format!("{head}{tail}\r\n").into_bytes()
    }

    /// A group of `n` sockets at `at` with the program attached (and the
    /// lock that keeps other tests' groups off its port until it is dropped).
    fn attached(n: usize, at: &str) -> (std::sync::MutexGuard<'static, ()>, Vec<UdpSocket>, SocketAddr) {
        let lock = ONE_GROUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (sockets, addr) = group(n, at);
        let fds: Vec<BorrowedFd<'_>> = sockets.iter().map(AsFd::as_fd).collect();
        match attach(&fds) {
            // The kernel's limit is 1,000,000: keep a wide margin (another
            // kernel may prune less), and the start-up short.
            Ok(verified) => assert!((1..600_000).contains(&verified), "verified in {verified} instructions"),
            // Only root (or CAP_BPF + CAP_PERFMON) may load it; others get a clear refusal.
            Err(e) if euid() != 0 => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
                panic!("kernel steering needs CAP_BPF and CAP_PERFMON; run the tests as root ({e})");
            }
            Err(e) => panic!("kernel steering refused as root: {e}"),
        }
        (lock, sockets, addr)
    }

    fn euid() -> u32 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(2)?.parse().ok())
            .unwrap_or(u32::MAX)
    }

    /// Sends each (Call-ID line, expected Call-ID) in every layout and checks
    /// it reached its owner; returns how many each shard got.
    fn steers(sockets: &[UdpSocket], addr: SocketAddr, forms: &[(String, &str)], layouts: &[(usize, usize)]) {
        let shards = sockets.len();
        let mut seen = vec![0; shards];
        for (line, expect) in forms {
            for &(pad, total) in layouts {
                let datagram = request(line, pad, total);
                let id = crate::sip::call_id_of(&datagram).expect("a Call-ID");
                if !expect.is_empty() {
                    assert_eq!(id, expect.as_bytes());
                }
                let owner = usize::from(ids::owner(id, shards as u16));
                let got = receiver(sockets, addr, &datagram);
                assert_eq!(got, owner, "{line} (pad {pad}, {} bytes)", datagram.len());
                seen[owner] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n > 0), "every shard owns some of them: {seen:?}");
    }

    #[test]
    fn every_datagram_reaches_the_shard_that_owns_its_call_id() {
        let shards = 3u16;
        let (_lock, sockets, addr) = attached(usize::from(shards), "127.0.0.1:0");
        let hashed = |id: &str| (ids::fnv1a(id.as_bytes()) % u64::from(shards)) as u16;
        // Named Call-IDs whose hash points elsewhere, so that only the name can place them.
        for (id, named) in [("tdm2-1f-00aa@10.0.0.1", 2), ("tdm0-5-1@h", 0), ("tdm0001-9-8@h", 1)] {
            assert_ne!(hashed(id), named, "{id} must not hash to its named shard");
            assert_eq!(ids::owner(id.as_bytes(), shards), named);
        }
        // Not ours, though they look it: hashed, to another shard than the digits say.
        for (id, digits) in [("tdm00001-1@h", 1), ("tdm1x-1@h", 1)] {
            assert_ne!(hashed(id), digits, "{id} must not hash to {digits}");
        }
        let mut forms: Vec<(String, &str)> = [
            ("Call-ID: a84b4c76e66710@pc33.atlanta.com", "a84b4c76e66710@pc33.atlanta.com"),
            ("call-id:  \t spaced@x", "spaced@x"),
            ("CALL-ID :upper@x", "upper@x"),
            ("i: compact@x", "compact@x"),
            ("I\t:\ttab@x", "tab@x"),
            ("Call-ID: tdm2-1f-00aa@10.0.0.1", "tdm2-1f-00aa@10.0.0.1"),
            ("Call-ID: tdm0-5-1@h", "tdm0-5-1@h"),
            ("Call-ID: tdm0001-9-8@h", "tdm0001-9-8@h"),
            ("Call-ID: tdm7-1-1@h", "tdm7-1-1@h"), // no shard 7: hashed
            ("Call-ID: tdm00001-1@h", "tdm00001-1@h"),
            ("Call-ID: tdm1x-1@h", "tdm1x-1@h"),
        ]
        .map(|(l, e)| (l.to_owned(), e))
        .to_vec();
        for n in 0..40 {
            let id = format!("{:x}-{n}@192.0.2.{n}", ids::fnv1a(&[n as u8; 3]));
            forms.push((format!("Call-ID: {id}"), ""));
        }
        // The Call-ID early and near the end of the scan; and datagrams whose
        // UDP length has LF or CR bytes (2562, 2565).
        steers(&sockets, addr, &forms, &[(0, 0), (57, 0), (250, 0), (0, 2562), (0, 2565)]);
    }

    #[test]
    fn large_datagrams_and_ipv6_are_steered_too() {
        // A large datagram's payload lies in page fragments (on loopback above
        // ~16 KB), out of direct packet access: the program copies it with
        // bpf_skb_load_bytes.
        let forms: Vec<(String, &str)> = (0..12).map(|n| (format!("Call-ID: big-{n}@x"), "")).collect();
        {
            let (_lock, sockets, addr) = attached(2, "127.0.0.1:0");
            steers(&sockets, addr, &forms, &[(200, 60_000)]);
        }
        if UdpSocket::bind("[::1]:0").is_ok() {
            let (_lock, sockets, addr) = attached(2, "[::1]:0");
            steers(&sockets, addr, &forms, &[(0, 0), (200, 30_000)]);
        }
    }

    #[test]
    fn datagrams_it_cannot_place_are_still_delivered() {
        let (_lock, sockets, addr) = attached(2, "127.0.0.1:0");
        let far = request("Call-ID: far@x", SCAN_LIMIT as usize, 0); // Call-ID after the scanned bytes
        for datagram in [&b"\r\n\r\n"[..], b"not sip at all", b"OPTIONS sip:x SIP/2.0\r\n\r\ni: x\r\n", &far]
        {
            receiver(&sockets, addr, datagram);
        }
    }

    #[test]
    fn the_verifiers_reason_is_the_line_before_its_statistics() {
        let log = "0: (bf) r6 = r1\n9: (0f) r4 += r7\nR4 pointer arithmetic prohibited\n\
                   verification time 20 usec\nstack depth 448\nprocessed 9 insns (limit 1000000)\n";
        assert_eq!(refusal(log), "R4 pointer arithmetic prohibited");
        assert_eq!(verified_insns(log), Some(9));
        assert_eq!(refusal(""), "no log");
    }
}
