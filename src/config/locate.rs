//! Where in the file a problem is: byte offsets to lines and key paths, and
//! the checks that need more than one key (names, references).

use super::{Config, ConfigError, LrnKind};
use std::collections::HashMap;
use std::path::Path;
use toml::Spanned;

/// The 1-based line of `offset` and the key path written there
/// (`sip.user_agent_retry_delay`, `routing_gateway[1].name`).
pub fn at(src: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line_no = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = src[line_start..].lines().next().unwrap_or("");
    let table = table_path(&src[..line_start]);
    let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_owned());
    let path = match (table.is_empty(), key) {
        (_, None) if line.trim_start().starts_with('[') => header_path(&src[..line_start], line),
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{table}.{k}"),
        (_, None) => table,
    };
    (line_no, path)
}

/// The table the text before a line is in, `[[array]]` tables numbered.
fn table_path(before: &str) -> String {
    let Some(header) = before.lines().rev().find(|l| l.trim_start().starts_with('[')) else {
        return String::new();
    };
    let upto = before.rfind(header).unwrap_or(0);
    header_path(&before[..upto], header)
}

fn header_path(before: &str, header: &str) -> String {
    let h = header.trim();
    if let Some(name) = h.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
        let name = name.trim();
        let index = before.lines().filter(|l| array_header(l) == Some(name)).count();
        return format!("{name}[{index}]");
    }
    // A sub-table of an array entry (`[routing_gateway.register]`) belongs to the latest entry.
    let name = h.trim_start_matches('[').split(']').next().unwrap_or("").trim();
    match name.split_once('.') {
        Some((parent, child)) if before.lines().any(|l| array_header(l) == Some(parent)) => {
            let index = before.lines().filter(|l| array_header(l) == Some(parent)).count() - 1;
            format!("{parent}[{index}].{child}")
        }
        _ => name.to_owned(),
    }
}

fn array_header(line: &str) -> Option<&str> {
    line.trim().strip_prefix("[[").and_then(|r| r.split("]]").next()).map(str::trim)
}

/// Line numbers by offset, from one pass over the text: the checks name the
/// first line of every name and user, so a file of 10,000 customers must not
/// be counted from its start 10,000 times.
struct Lines(Vec<usize>);

impl Lines {
    fn new(src: &str) -> Self {
        Lines(memchr::memchr_iter(b'\n', src.as_bytes()).collect())
    }

    /// The 1-based line of `offset`.
    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// Cross-key checks over a parsed configuration.
pub struct Checker<'a> {
    src: &'a str,
    file: &'a Path,
    lines: Lines,
    errors: Vec<ConfigError>,
}

impl<'a> Checker<'a> {
    /// A checker for `src`, read from `file`.
    pub fn new(src: &'a str, file: &'a Path) -> Self {
        Checker { src, file, lines: Lines::new(src), errors: Vec::new() }
    }

    fn error<T>(&mut self, at: &Spanned<T>, message: String) {
        let (line, key) = self::at(self.src, at.span().start);
        self.errors.push(ConfigError { file: self.file.to_path_buf(), line, key, message });
    }

    /// Runs every check; returns the problems found, in file order.
    pub fn check(mut self, cfg: &Config) -> Vec<ConfigError> {
        self.unique_names("mapping gateway", cfg.mapping_gateways.iter().map(|g| &g.name));
        self.unique_names("routing gateway", cfg.routing_gateways.iter().map(|g| &g.name));
        self.unique_names("LRN source", cfg.lrn.source.iter().map(|s| &s.name));
        self.lrn_sources(cfg);
        self.lrn_references(cfg);
        self.shared_addresses(cfg);
        self.customer_identity(cfg);
        self.endpoint_expires(cfg);
        self.vendor_ports(cfg);
        self.invite_credentials(cfg);
        self.errors.sort_by_key(|e| e.line);
        self.errors
    }

    fn unique_names<'c>(&mut self, what: &str, names: impl Iterator<Item = &'c Spanned<String>>) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for name in names {
            if name.get_ref().is_empty() {
                self.error(name, format!("a {what} needs a non-empty name"));
            } else if let Some(first) = seen.get(name.get_ref().as_str()) {
                self.error(
                    name,
                    format!("duplicate {what} name \"{}\" (first on line {first})", name.get_ref()),
                );
            } else {
                seen.insert(name.get_ref(), self.lines.of(name.span().start));
            }
        }
    }

    fn lrn_sources(&mut self, cfg: &Config) {
        for s in &cfg.lrn.source {
            match s.kind.get_ref() {
                LrnKind::SipRedirect if s.address.is_none() => {
                    self.error(&s.kind, "a sip-redirect source needs `address`".into())
                }
                LrnKind::File if s.path.is_none() => self.error(&s.kind, "a file source needs `path`".into()),
                _ => {}
            }
        }
    }

    fn lrn_references(&mut self, cfg: &Config) {
        for g in &cfg.routing_gateways {
            let Some(lrn) = &g.lrn else { continue };
            for (i, name) in lrn.get_ref().iter().enumerate() {
                if !cfg.lrn.source.iter().any(|s| s.name.get_ref() == name) {
                    self.error(lrn, format!("no [[lrn.source]] named \"{name}\""));
                } else if lrn.get_ref().iter().take(i).any(|n| n == name) {
                    self.error(lrn, format!("\"{name}\" is listed twice"));
                }
            }
        }
    }

    /// A customer is known by its source addresses, its registration, or both.
    fn customer_identity(&mut self, cfg: &Config) {
        let mut users: HashMap<&str, usize> = HashMap::new();
        for g in &cfg.mapping_gateways {
            match (&g.user, &g.password) {
                (None, None) if g.addresses.is_empty() => {
                    self.error(&g.name, "needs `addresses`, or `user` and `password` to register".into())
                }
                (Some(u), None) => self.error(u, "`user` needs a `password`".into()),
                (None, Some(_)) => self.error(&g.name, "`password` needs a `user`".into()),
                (Some(u), Some(_)) if u.get_ref().is_empty() => {
                    self.error(u, "`user` must not be empty".into())
                }
                (Some(u), Some(_)) => {
                    if let Some(first) = users.insert(u.get_ref(), self.lines.of(u.span().start)) {
                        self.error(u, format!("user \"{}\" is also used on line {first}", u.get_ref()));
                    }
                }
                _ => {}
            }
        }
    }

    fn endpoint_expires(&mut self, cfg: &Config) {
        let sip = &cfg.sip;
        if let Some(realm) = &sip.realm
            && (realm.get_ref().is_empty() || realm.get_ref().contains(['"', '\\', '\r', '\n']))
        {
            let why =
                "must be non-empty, without quotes, backslashes or line breaks (it goes in a quoted string)";
            self.error(realm, why.into());
        }
        if sip.endpoint_register_min_expires > sip.endpoint_register_max_expires {
            let (line, key) = self
                .src
                .find("endpoint_register_min_expires")
                .map_or_else(|| (0, String::new()), |offset| at(self.src, offset));
            let message = format!(
                "sip.endpoint_register_min_expires ({}) exceeds sip.endpoint_register_max_expires ({})",
                sip.endpoint_register_min_expires, sip.endpoint_register_max_expires
            );
            self.errors.push(ConfigError { file: self.file.to_path_buf(), line, key, message });
        }
    }

    /// `[server].vendor_port_base`: one port per shard (at least one when
    /// `shards = 0`, which the host decides), all clear of the listen port.
    /// `auth_user` and `auth_password` go together.
    fn invite_credentials(&mut self, cfg: &Config) {
        for g in &cfg.routing_gateways {
            match (&g.auth_user, &g.auth_password) {
                (Some(u), None) => self.error(u, "`auth_user` needs an `auth_password`".into()),
                (None, Some(_)) => self.error(&g.name, "`auth_password` needs an `auth_user`".into()),
                _ => {}
            }
        }
    }

    fn vendor_ports(&mut self, cfg: &Config) {
        let Err(why) = cfg.server.vendor_ports(cfg.server.shards) else { return };
        let (line, key) =
            self.src.find("vendor_port_base").map_or_else(|| (0, String::new()), |o| at(self.src, o));
        let message = format!("server.vendor_port_base: {why}");
        self.errors.push(ConfigError { file: self.file.to_path_buf(), line, key, message });
    }

    /// Two customers may not claim the same source: the ACL would be ambiguous.
    fn shared_addresses(&mut self, cfg: &Config) {
        let mut owner = HashMap::new();
        for g in &cfg.mapping_gateways {
            for a in &g.addresses {
                if let Some(first) = owner.insert(a.canonical(), g.name.get_ref().clone())
                    && &first != g.name.get_ref()
                {
                    self.error(&g.name, format!("address {a} is also claimed by \"{first}\""));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_the_index_are_the_lines_counted() {
        for src in ["", "a", "a\n", "\n\nb\nc", "x = 1\n[[t]]\ny = 2\n\n", "é\nü\n"] {
            let lines = Lines::new(src);
            for offset in (0..=src.len()).filter(|&o| src.is_char_boundary(o)) {
                assert_eq!(lines.of(offset), at(src, offset).0, "{src:?} at {offset}");
            }
        }
    }
}
