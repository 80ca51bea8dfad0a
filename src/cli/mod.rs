//! Operator commands. Each returns data; `main.rs` prints it and sets the
//! exit status.

pub mod sip_parse;
