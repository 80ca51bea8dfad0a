//! Registrations: tandem registering to upstream carriers (outbound, with
//! digest auth, refresh, retry, and unregister on shutdown).

pub mod client;
pub mod digest;
