//! Structured logs: one line per event, `time level event key=value...`,
//! on standard error. Nothing is logged per packet.

use std::fmt::Display;

/// Writes one event line.
pub fn event(level: &str, event: &str, fields: &[(&str, &dyn Display)]) {
    let mut line = format!("{} {level} {event}", crate::cdr::rfc3339_ms(super::clock::unix_ms()));
    for (k, v) in fields {
        let v = v.to_string();
        if v.contains([' ', '"', '=']) || v.is_empty() {
            line.push_str(&format!(" {k}={v:?}"));
        } else {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    eprintln!("{line}");
}

/// `info` event.
#[macro_export]
macro_rules! info {
    ($event:expr $(, $k:ident = $v:expr)* $(,)?) => {
        $crate::engine::log::event("INFO", $event, &[$((stringify!($k), &$v as &dyn std::fmt::Display)),*])
    };
}

/// `warn` event.
#[macro_export]
macro_rules! warn {
    ($event:expr $(, $k:ident = $v:expr)* $(,)?) => {
        $crate::engine::log::event("WARN", $event, &[$((stringify!($k), &$v as &dyn std::fmt::Display)),*])
    };
}
