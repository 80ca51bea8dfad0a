//! The Via header (RFC 3261 §20.42, §18.2.1 `received`, RFC 3581 `rport`).

use super::error::Invalid;
use super::params::Params;
use super::scan::{find_byte, is_lws, is_token, parse_decimal, trim, trim_start};
use super::uri::{Host, parse_host, parse_ipv6};

/// One Via value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'a str,
    /// Protocol version, normally `2.0`.
    pub version: &'a str,
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `SCTP`, ...).
    pub transport: &'a str,
    /// sent-by host.
    pub host: Host<'a>,
    /// sent-by host as written (IPv6 in brackets).
    pub host_raw: &'a str,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// All parameters.
    pub params: Params<'a>,
    /// `branch`.
    pub branch: Option<&'a str>,
    /// `received`.
    pub received: Option<&'a str>,
    /// `rport`: `Some(None)` when present without a value (a request for it).
    pub rport: Option<Option<u16>>,
    /// `maddr`.
    pub maddr: Option<&'a str>,
}

impl<'a> Via<'a> {
    /// Parses one Via value (already split from the comma-separated list).
    pub fn parse(s: &'a str) -> Result<Self, Invalid> {
        let s = trim(s);
        // Nearly every Via starts `SIP/2.0/`: skip the general sent-protocol parse.
        let (protocol, version, s) = match s.strip_prefix("SIP/2.0/") {
            Some(rest) => (&s[..3], &s[4..7], rest),
            None => {
                let (protocol, s) = slash_field(s)?;
                let (version, s) = slash_field(s)?;
                (protocol, version, s)
            }
        };
        let (transport, s) = token_prefix(trim_start(s))?;
        if !s.as_bytes().first().is_some_and(|&b| is_lws(b)) {
            return Err(Invalid);
        }
        let (sent_by, params) = Params::split(trim_start(s));
        let (host_raw, port) = sent_by_parts(trim(sent_by))?;
        let mut via = Via {
            protocol,
            version,
            transport,
            host: parse_host(host_raw)?,
            host_raw,
            port,
            params,
            branch: None,
            received: None,
            rport: None,
            maddr: None,
        };
        via.known_params()?;
        Ok(via)
    }

    /// Checks every parameter and picks out the ones tandem uses, in one pass.
    fn known_params(&mut self) -> Result<(), Invalid> {
        let mut params = self.params.iter();
        while let Some(param) = params.next_header_param() {
            let (name, value) = param?;
            let known = matches!(name.len(), 3 | 5 | 6 | 8);
            if !known {
                continue;
            }
            if name.eq_ignore_ascii_case("branch") {
                self.branch = Some(value.filter(|v| is_token(v)).ok_or(Invalid)?);
            } else if name.eq_ignore_ascii_case("received") {
                // RFC 5118 §4.5: an IPv6 `received` may come with or without brackets.
                let ok = |v: &&str| parse_host(v).is_ok() || parse_ipv6(v).is_ok();
                self.received = Some(value.filter(ok).ok_or(Invalid)?);
            } else if name.eq_ignore_ascii_case("maddr") {
                self.maddr = Some(value.filter(|v| parse_host(v).is_ok()).ok_or(Invalid)?);
            } else if name.eq_ignore_ascii_case("rport") {
                self.rport = Some(match value {
                    None => None,
                    Some(v) => Some(parse_decimal(v, 65535).ok_or(Invalid)? as u16),
                });
            } else if name.eq_ignore_ascii_case("ttl") {
                parse_decimal(value.ok_or(Invalid)?, 255).ok_or(Invalid)?;
            }
        }
        Ok(())
    }

    /// `true` when the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261(&self) -> bool {
        self.branch.is_some_and(|b| b.starts_with("z9hG4bK"))
    }
}

/// A token followed by `SLASH` (SWS "/" SWS).
fn slash_field(s: &str) -> Result<(&str, &str), Invalid> {
    let (tok, rest) = token_prefix(trim_start(s))?;
    let rest = trim_start(rest).strip_prefix('/').ok_or(Invalid)?;
    Ok((tok, rest))
}

fn token_prefix(s: &str) -> Result<(&str, &str), Invalid> {
    let end = s.bytes().position(|b| !super::scan::is_token_byte(b)).unwrap_or(s.len());
    if end == 0 {
        return Err(Invalid);
    }
    Ok((&s[..end], &s[end..]))
}

/// `host [COLON port]`, where COLON may have LWS around it.
fn sent_by_parts(s: &str) -> Result<(&str, Option<u16>), Invalid> {
    let b = s.as_bytes();
    let split = if b.first() == Some(&b'[') {
        find_byte(b, b']').map(|e| e + 1).ok_or(Invalid)?
    } else {
        b.iter().position(|&c| c == b':' || is_lws(c)).unwrap_or(b.len())
    };
    let (host, rest) = (&s[..split], trim(&s[split..]));
    if rest.is_empty() {
        return Ok((host, None));
    }
    let port = trim(rest.strip_prefix(':').ok_or(Invalid)?);
    let port = parse_decimal(port, 65535).ok_or(Invalid)? as u16;
    Ok((host, Some(port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport").unwrap();
        assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "UDP"));
        assert_eq!(v.host_raw, "192.0.2.1");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch, Some("z9hG4bK776"));
        assert_eq!(v.rport, Some(None));
        assert!(v.is_rfc3261());
    }

    #[test]
    fn tortuous() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.branch, Some("390skdjuw"));
        let v = Via::parse(" SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239").unwrap();
        assert_eq!(v.branch, Some("z9hG4bK30239"));
        let v = Via::parse("SIP/2.0/TCP [2001:db8::9:1] : 5061 ;received=[2001:db8::9:255]").unwrap();
        assert_eq!(v.host_raw, "[2001:db8::9:1]");
        assert_eq!(v.port, Some(5061));
    }

    #[test]
    fn bad() {
        for bad in [
            "SIP/2.0/UDP 192.0.2.15;;",
            "SIP/2.0/UDP",
            "SIP/2.0 host",
            "SIP/2.0/UDP h:70000",
            "SIP/2.0/UDP h;branch",
            "SIP/2.0/UDP h;rport=x",
            "",
            "SIP/2.0/UDPhost",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }
}
