//! `tandem sip parse FILE...`: one JSON object per captured message.
//!
//! The field set is a stable interface for operators' scripts: add fields,
//! never rename or remove them.

use crate::sip::{self, Contact, Message, NameAddr};
use serde::Serialize;

/// The JSON summary of one message.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// The file the message came from.
    pub file: String,
    /// `true` when the message parses and passes [`Message::validate`].
    pub valid: bool,
    /// `"request"` or `"response"`, when the start line parsed.
    pub kind: Option<&'static str>,
    /// The request method.
    pub method: Option<String>,
    /// The response status code.
    pub status: Option<u16>,
    /// The Request-URI as written.
    pub request_uri: Option<String>,
    /// Call-ID.
    pub call_id: Option<String>,
    /// CSeq.
    pub cseq: Option<CSeqJson>,
    /// From.
    pub from: Option<AddrJson>,
    /// To.
    pub to: Option<AddrJson>,
    /// Every Via value, top first.
    pub via: Vec<ViaJson>,
    /// Every Contact value.
    pub contact: Vec<ContactJson>,
    /// The body length (Content-Length, or the rest of the datagram).
    pub content_length: Option<usize>,
    /// The reason phrase of the first error, or null.
    pub error: Option<&'static str>,
}

/// CSeq in JSON.
#[derive(Debug, Serialize)]
pub struct CSeqJson {
    /// Sequence number.
    pub seq: u32,
    /// Method.
    pub method: String,
}

/// From/To in JSON.
#[derive(Debug, Serialize)]
pub struct AddrJson {
    /// URI as written.
    pub uri: String,
    /// Tag, if any.
    pub tag: Option<String>,
}

/// A Via value in JSON.
#[derive(Debug, Serialize)]
pub struct ViaJson {
    /// Transport as written.
    pub transport: String,
    /// sent-by host as written.
    pub host: String,
    /// sent-by port.
    pub port: Option<u16>,
    /// branch parameter.
    pub branch: Option<String>,
}

/// A Contact value in JSON.
#[derive(Debug, Serialize)]
pub struct ContactJson {
    /// URI as written, or `*`.
    pub uri: String,
    /// `expires` parameter.
    pub expires: Option<u32>,
}

/// Summarizes one captured message. Fields are filled as far as they parse;
/// `valid` is false and `error` set at the first fault.
pub fn summarize(file: &str, bytes: &[u8]) -> Summary {
    let mut s = Summary { file: file.to_owned(), ..Summary::default() };
    let msg = match sip::parse(bytes) {
        Ok(m) => m,
        Err(e) => {
            s.error = Some(e.reason());
            return s;
        }
    };
    fill(&mut s, &msg);
    match msg.validate() {
        Ok(()) => s.valid = true,
        Err(e) => s.error = Some(e.reason()),
    }
    s
}

fn fill(s: &mut Summary, msg: &Message<'_>) {
    s.kind = Some(if msg.is_request() { "request" } else { "response" });
    s.method = msg.method().map(|m| m.as_str().to_owned());
    s.status = msg.status();
    s.request_uri = msg.request_uri_raw().map(str::to_owned);
    s.call_id = msg.call_id().ok().map(str::to_owned);
    s.cseq = msg.cseq().ok().map(|c| CSeqJson { seq: c.seq, method: c.method.as_str().to_owned() });
    s.from = msg.from().ok().as_ref().map(addr);
    s.to = msg.to().ok().as_ref().map(addr);
    s.via = msg
        .vias()
        .map_while(Result::ok)
        .map(|v| ViaJson {
            transport: v.transport.to_owned(),
            host: v.host_raw.to_owned(),
            port: v.port,
            branch: v.branch.map(str::to_owned),
        })
        .collect();
    s.contact = msg.contacts().map_while(Result::ok).map(contact).collect();
    s.content_length = Some(msg.body().len());
}

fn addr(a: &NameAddr<'_>) -> AddrJson {
    AddrJson { uri: a.uri_raw.to_owned(), tag: a.tag.map(str::to_owned) }
}

fn contact(c: Contact<'_>) -> ContactJson {
    match c {
        Contact::Wildcard => ContactJson { uri: "*".to_owned(), expires: None },
        Contact::Addr(a) => ContactJson { uri: a.uri_raw.to_owned(), expires: a.expires() },
    }
}
