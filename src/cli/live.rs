//! What the running switch knows and a config file does not: gateway
//! online state, current calls, ASR and ACD. `tandem route` reads them from
//! the switch's own metrics endpoint (`[metrics].listen`), so the command
//! and the dashboards agree.

use serde::Serialize;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long `tandem route` waits for the switch.
const TIMEOUT: Duration = Duration::from_millis(1500);

/// One gateway's live figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GatewayLive {
    /// Gateway name.
    pub gateway: String,
    /// OPTIONS verdict (always true when the check is off).
    pub online: bool,
    /// Current calls.
    pub calls: u32,
    /// Answer-seizure ratio over the last 15 minutes.
    pub asr_15m: Option<f64>,
    /// ASR since start.
    pub asr_start: Option<f64>,
    /// Average call duration over the last 15 minutes, s.
    pub acd_15m_s: Option<f64>,
    /// ACD since start, s.
    pub acd_start_s: Option<f64>,
}

/// The switch's live state, as read from its metrics.
#[derive(Clone, Debug, Default)]
pub struct LiveState {
    /// By gateway name.
    pub gateways: HashMap<String, GatewayLive>,
    /// Current calls by customer name.
    pub customers: HashMap<String, u32>,
}

/// Reads `/metrics` from the switch at `addr`; `None` when it does not answer.
pub fn fetch(addr: SocketAddr) -> Option<LiveState> {
    let addr = match addr.ip() {
        ip if ip.is_unspecified() && addr.is_ipv4() => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    };
    if addr.port() == 0 {
        return None;
    }
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT).ok()?;
    s.set_read_timeout(Some(TIMEOUT)).ok()?;
    s.set_write_timeout(Some(TIMEOUT)).ok()?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| parse(body))
}

/// Picks the gateway and customer series out of the exposition text.
pub fn parse(text: &str) -> LiveState {
    let mut live = LiveState::default();
    for (name, labels, value) in text.lines().filter_map(series) {
        let label = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if name == "tandem_customer_calls" {
            if let Some(c) = label("customer") {
                live.customers.insert(c, value as u32);
            }
            continue;
        }
        let Some(gw) = label("gateway") else { continue };
        let e = live
            .gateways
            .entry(gw.clone())
            .or_insert_with(|| GatewayLive { gateway: gw, ..Default::default() });
        match (name, label("window").as_deref()) {
            ("tandem_gateway_online", _) => e.online = value > 0.0,
            ("tandem_gateway_calls", _) => e.calls = value as u32,
            ("tandem_gateway_asr", Some("15m")) => e.asr_15m = Some(value),
            ("tandem_gateway_asr", Some("start")) => e.asr_start = Some(value),
            ("tandem_gateway_acd_seconds", Some("15m")) => e.acd_15m_s = Some(value),
            ("tandem_gateway_acd_seconds", Some("start")) => e.acd_start_s = Some(value),
            _ => {}
        }
    }
    live
}

/// Label (name, value) pairs of one series.
type Labels = Vec<(String, String)>;

/// `name{k="v",...} value` → parts; comments and malformed lines → `None`.
fn series(line: &str) -> Option<(&str, Labels, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.trim().parse().ok()?;
    let Some((name, rest)) = series.split_once('{') else { return Some((series, Vec::new(), value)) };
    let mut labels = Vec::new();
    let mut chars = rest.strip_suffix('}')?.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut v = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => v.push('\n'),
                    Some(o) => v.push(o),
                    None => return None,
                },
                '"' => break,
                c => v.push(c),
            }
        }
        labels.push((key.trim_start_matches(',').to_owned(), v));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some((name, labels, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_gateway_and_customer_series() {
        let text = "# HELP x y\n# TYPE tandem_gateway_online gauge\n\
            tandem_gateway_online{gateway=\"v\\\"1\"} 0\n\
            tandem_gateway_calls{gateway=\"v\\\"1\"} 7\n\
            tandem_gateway_asr{gateway=\"v\\\"1\",window=\"15m\"} 0.5\n\
            tandem_gateway_acd_seconds{gateway=\"v\\\"1\",window=\"start\"} 61.5\n\
            tandem_customer_calls{customer=\"c\"} 3\nbroken{gateway=\"x 1\n";
        let live = parse(text);
        let g = &live.gateways["v\"1"];
        assert!(!g.online);
        assert_eq!((g.calls, g.asr_15m, g.acd_start_s, g.asr_start), (7, Some(0.5), Some(61.5), None));
        assert_eq!(live.customers["c"], 3);
        assert_eq!(live.gateways.len(), 1);
    }
}
