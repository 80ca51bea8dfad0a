//! SIP transactions over UDP (RFC 3261 §17), sans-IO: inputs are
//! `handle_*(..., now)`, outputs are `poll_transmit()` and `poll_timeout()`.
//! Times are milliseconds on the shard's monotonic clock.
//!
//! Timers (RFC 3261 Table 4), UDP values:
//! A/E retransmit from T1 doubling (E capped at T2), B/F/H/J = 64·T1,
//! D = 32 s, G from T1 doubling capped at T2, I/K = T4.

mod client;
mod server;
pub mod wheel;

pub use client::{ClientEvent, ClientState, ClientTxn};
pub use server::{ServerEvent, ServerState, ServerTxn};

/// RTT estimate (RFC 3261 §17.1.1.1), ms.
pub const T1: u64 = 500;
/// Longest retransmit interval for non-INVITE requests and INVITE responses, ms.
pub const T2: u64 = 4_000;
/// Longest time a message stays in the network, ms.
pub const T4: u64 = 5_000;
/// Timers B, F, H, J: 64·T1.
pub const TIMEOUT_64T1: u64 = 64 * T1;
/// Timer D for UDP: at least 32 s.
pub const TIMER_D: u64 = 32_000;

/// INVITE or not: the two transaction families of RFC 3261 §17.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// INVITE transactions (timers A, B, D / G, H, I).
    Invite,
    /// Everything else except ACK (timers E, F, K / J).
    NonInvite,
}

/// The earlier of two optional deadlines.
pub fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
