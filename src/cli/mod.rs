//! Operator commands. Each returns data; `main.rs` prints it and sets the
//! exit status.

pub mod check;
pub mod live;
pub mod lrn;
pub mod route;
pub mod sip_parse;
