//! HTTP Digest authentication with MD5 for SIP (RFC 2617, RFC 7616, RFC 3261
//! §22): answering a `WWW-Authenticate` (401) or `Proxy-Authenticate` (407)
//! challenge with `qop=auth` (nc, cnonce), or the legacy form without qop.

use crate::sip::Auth;
use md5::{Digest, Md5};
use std::fmt::Write as _;

/// A Digest challenge, as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`
    pub realm: String,
    /// `nonce`
    pub nonce: String,
    /// `opaque`, echoed back.
    pub opaque: Option<String>,
    /// Whether the server offers `qop=auth`.
    pub qop_auth: bool,
    /// `algorithm=MD5-sess`.
    pub sess: bool,
    /// `stale=true`: the nonce expired, the credentials were right.
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not the Digest scheme.
    #[error("not a Digest challenge")]
    NotDigest,
    /// An algorithm other than MD5 / MD5-sess.
    #[error("unsupported digest algorithm")]
    Algorithm,
    /// Only `auth-int` offered (needs the body; not supported for REGISTER).
    #[error("unsupported qop")]
    Qop,
    /// `realm` or `nonce` missing.
    #[error("challenge lacks realm or nonce")]
    Incomplete,
}

impl Challenge {
    /// Reads a challenge header value.
    pub fn parse(auth: &Auth<'_>) -> Result<Self, DigestError> {
        if !auth.is_digest() {
            return Err(DigestError::NotDigest);
        }
        let sess = match auth.param("algorithm").as_deref() {
            None => false,
            Some(a) if a.eq_ignore_ascii_case("MD5") => false,
            Some(a) if a.eq_ignore_ascii_case("MD5-sess") => true,
            Some(_) => return Err(DigestError::Algorithm),
        };
        let qop = auth.param("qop");
        let qop_auth =
            qop.as_deref().is_some_and(|q| q.split(',').any(|v| v.trim().eq_ignore_ascii_case("auth")));
        if qop.is_some() && !qop_auth {
            return Err(DigestError::Qop);
        }
        let realm = auth.param("realm").ok_or(DigestError::Incomplete)?.into_owned();
        let nonce = auth.param("nonce").ok_or(DigestError::Incomplete)?.into_owned();
        let stale = auth.param("stale").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        let opaque = auth.param("opaque").map(|o| o.into_owned());
        Ok(Challenge { realm, nonce, opaque, qop_auth, sess, stale })
    }
}

/// What a response is computed over.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The SIP method (`REGISTER`).
    pub method: &'a str,
    /// The digest-uri: the Request-URI.
    pub uri: &'a str,
    /// User name.
    pub user: &'a str,
    /// Password.
    pub password: &'a str,
}

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    h.finalize().iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The `response` value (RFC 2617 §3.2.2.1).
pub fn response(ch: &Challenge, req: &Request<'_>, nc: u32, cnonce: &str) -> String {
    let mut ha1 = md5_hex(&[req.user, &ch.realm, req.password]);
    if ch.sess {
        ha1 = md5_hex(&[&ha1, &ch.nonce, cnonce]);
    }
    let ha2 = md5_hex(&[req.method, req.uri]);
    if ch.qop_auth {
        md5_hex(&[&ha1, &ch.nonce, &format!("{nc:08x}"), cnonce, "auth", &ha2])
    } else {
        md5_hex(&[&ha1, &ch.nonce, &ha2])
    }
}

/// The full `Authorization` / `Proxy-Authorization` value.
pub fn credentials(ch: &Challenge, req: &Request<'_>, nc: u32, cnonce: &str) -> String {
    let resp = response(ch, req, nc, cnonce);
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{resp}\", algorithm={}",
        req.user,
        ch.realm,
        ch.nonce,
        req.uri,
        if ch.sess { "MD5-sess" } else { "MD5" }
    );
    if ch.qop_auth {
        let _ = write!(v, ", cnonce=\"{cnonce}\", qop=auth, nc={nc:08x}");
    }
    if let Some(o) = &ch.opaque {
        let _ = write!(v, ", opaque=\"{o}\"");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(text: &str) -> Challenge {
        Challenge::parse(&Auth::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn rfc2617_section_3_5_vector() {
        let ch = challenge(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        );
        let req =
            Request { method: "GET", uri: "/dir/index.html", user: "Mufasa", password: "Circle Of Life" };
        assert_eq!(response(&ch, &req, 1, "0a4f113b"), "6629fae49393a05397450978507c4ef1");
        let c = credentials(&ch, &req, 1, "0a4f113b");
        assert!(
            c.contains("qop=auth, nc=00000001") && c.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#),
            "{c}"
        );
    }

    #[test]
    fn legacy_and_sess_forms() {
        // RFC 2069 style (no qop): MD5(HA1:nonce:HA2), computed independently here.
        let ch = challenge(r#"Digest realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093""#);
        let req = Request { method: "REGISTER", uri: "sip:biloxi.com", user: "bob", password: "zanzibar" };
        let ha1 = md5_hex(&["bob", "biloxi.com", "zanzibar"]);
        let ha2 = md5_hex(&["REGISTER", "sip:biloxi.com"]);
        assert_eq!(response(&ch, &req, 1, "x"), md5_hex(&[&ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", &ha2]));
        assert!(!credentials(&ch, &req, 1, "x").contains("qop"));
        let sess = challenge(r#"Digest realm="r", nonce="n", qop="auth", algorithm=MD5-sess"#);
        let ha1s = md5_hex(&[&md5_hex(&["bob", "r", "zanzibar"]), "n", "c"]);
        let want = md5_hex(&[&ha1s, "n", "00000002", "c", "auth", &ha2]);
        assert_eq!(response(&sess, &req, 2, "c"), want);
    }

    #[test]
    fn challenges_we_cannot_answer() {
        let parse = |t: &str| Challenge::parse(&Auth::parse(t).unwrap());
        assert_eq!(parse(r#"Basic realm="x""#), Err(DigestError::NotDigest));
        assert_eq!(parse(r#"Digest realm="x", nonce="n", algorithm=SHA-256"#), Err(DigestError::Algorithm));
        assert_eq!(parse(r#"Digest realm="x", nonce="n", qop="auth-int""#), Err(DigestError::Qop));
        assert_eq!(parse(r#"Digest realm="x""#), Err(DigestError::Incomplete));
        assert!(parse(r#"Digest realm="x", nonce="n", stale=TRUE"#).unwrap().stale);
    }
}
