//! SIP messages (RFC 3261): a zero-copy parser, typed views on demand and a
//! builder.
//!
//! [`parse`] borrows the datagram, reads the start line and indexes the
//! header lines (memchr for line ends and colons; compact and long names
//! classified case-insensitively). Nothing else is parsed until asked:
//! [`Message::top_via`], [`Message::from`], [`Message::cseq`] and the other
//! accessors parse one header when called. [`Message::validate`] runs the
//! checks a server makes before it processes a message.
//!
//! No input can panic the parser; every error is a [`ParseError`] whose
//! [`ParseError::reason`] is a reason phrase for a `400`.

mod addr;
mod build;
mod error;
mod header;
mod message;
mod params;
pub mod received;
pub(crate) mod scan;
mod typed;
mod uri;
mod via;

pub use addr::NameAddr;
pub use build::{Builder, response_head, response_to};
pub use error::{Invalid, ParseError};
pub use header::HeaderName;
pub use message::{
    Contact, Header, MAX_HEADERS, MAX_MESSAGE, MAX_UDP_PAYLOAD, Message, StartLine, call_id_of, parse,
    parse_to_answer,
};
pub use params::Params;
pub use typed::{Auth, CSeq, Method};
pub use uri::{Host, NumberPortability, Scheme, Uri, escape_user};
pub use via::Via;
