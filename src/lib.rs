//! tandem — a SIP class-4 softswitch core for wholesale carriers.
//!
//! # Architecture
//!
//! tandem is built as a packet engine around a protocol core that does no
//! I/O (see `docs/ARCHITECTURE.md` and `../shared/DESIGN.md`):
//!
//! - [`sip`]: zero-copy SIP parsing, typed header views, the message builder.
//! - [`cli`]: the operator commands behind `tandem` (`sip parse`, ...).
//!
//! The protocol core never reads the clock or touches a socket: `clippy.toml`
//! forbids `Instant::now`, `SystemTime::now` and `std::net::UdpSocket`
//! outside the engine.
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_code)]

pub mod call;
pub mod cdr;
pub mod cli;
pub mod config;
pub mod engine;
pub mod lrn;
pub mod metrics;
pub mod register;
pub mod registrar;
pub mod routing;
pub mod shutdown;
pub mod sip;
pub mod txn;
