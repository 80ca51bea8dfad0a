//! The TOML configuration (SPEC.md §7): types, defaults, ranges, and errors
//! that name the file, the line and the key.
//!
//! Unknown keys are errors. Paths inside the file are relative to the file.

use crate::routing::money::Rate;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use toml::Spanned;

mod locate;
#[cfg(test)]
mod tests;

/// A configuration problem, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the problem concerns the whole file).
    pub line: usize,
    /// The key, as a path (`routing_gateway[2].max_minute_rate`).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.key.is_empty()) {
            (0, _) => write!(f, "{}: {}", self.file.display(), self.message),
            (l, true) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            (l, false) => write!(f, "{}:{l}: {}: {}", self.file.display(), self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this was read from (set by [`load`]); relative paths resolve against its folder.
    #[serde(skip)]
    pub path: PathBuf,
    /// `[server]`
    #[serde(default)]
    pub server: Server,
    /// `[sip]`: the VOS3000 parameters.
    #[serde(default)]
    pub sip: Sip,
    /// `[routing]`
    #[serde(default)]
    pub routing: Routing,
    /// `[cdr]`
    #[serde(default)]
    pub cdr: Cdr,
    /// `[metrics]`
    #[serde(default)]
    pub metrics: Metrics,
    /// `[lrn]`
    #[serde(default)]
    pub lrn: Lrn,
    /// `[[mapping_gateway]]`: customers.
    #[serde(default, rename = "mapping_gateway")]
    pub mapping_gateways: Vec<MappingGateway>,
    /// `[[routing_gateway]]`: vendors.
    #[serde(default, rename = "routing_gateway")]
    pub routing_gateways: Vec<RoutingGateway>,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Server {
    /// UDP address every shard binds (SO_REUSEPORT).
    pub listen: SocketAddr,
    /// Host written in Via/Contact; default: the listen host.
    pub advertise: Option<String>,
    /// Shards; 0 = one per available core.
    pub shards: usize,
    /// Pin shard i to core i.
    pub pin_cores: bool,
    /// Explicit cores for the shards, in order.
    pub cores: Option<Vec<usize>>,
    /// 0: off. Else shard i also binds `listen` address port `vendor_port_base + i`
    /// and talks to vendors from it, so their answers reach the owner shard directly.
    pub vendor_port_base: u16,
    /// 0: off. Else every shard thread runs under `SCHED_FIFO` at this
    /// priority: it preempts ordinary processes the moment a datagram wakes it.
    #[serde(deserialize_with = "within::<_, 0, 99>")]
    pub realtime_priority: u32,
    /// Let an eBPF program on the shards' socket group give each datagram to
    /// the socket of the shard that owns its Call-ID (no handoff); off, or
    /// refused by the kernel: the 4-tuple hash picks, and shards hand over.
    pub kernel_steering: bool,
}

impl Server {
    /// The first vendor port (shard i uses `vendor_port_base + i`), `None` when
    /// off, or why `shards` ports from `vendor_port_base` do not fit.
    pub fn vendor_ports(&self, shards: usize) -> Result<Option<u16>, String> {
        let (base, listen) = (u32::from(self.vendor_port_base), u32::from(self.listen.port()));
        let last = base + shards.max(1) as u32 - 1;
        match base {
            0 => Ok(None),
            _ if last <= 65_535 && !(base..=last).contains(&listen) => Ok(Some(self.vendor_port_base)),
            _ => Err(format!(
                "ports {base}-{last} (one per shard) must end by 65535 and leave out the listen port {listen}"
            )),
        }
    }
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: SocketAddr::from(([0, 0, 0, 0], 5060)),
            advertise: None,
            shards: 0,
            pin_cores: true,
            cores: None,
            vendor_port_base: 0,
            realtime_priority: 0,
            kernel_steering: true,
        }
    }
}

/// A registration period: `"auto"` (take what the server grants) or seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expire {
    /// Ask 3600 and adopt what the registrar grants.
    Auto,
    /// Ask this many seconds (20..=7200).
    Seconds(u32),
}

/// `user_agent_privacy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// No Privacy header.
    Ignore,
    /// `Privacy: id`.
    Id,
    /// `Privacy: none`.
    None,
}

/// `[sip]`: VOS3000 parameters, lower case without `SS_` (SPEC.md §2).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sip {
    /// SS_SIP_USER_AGENT_SEND_UNREGISTER
    pub user_agent_send_unregister: bool,
    /// SS_SIP_USER_AGENT_EXPIRE
    #[serde(deserialize_with = "expire")]
    pub user_agent_expire: Expire,
    /// SS_SIP_USER_AGENT_RETRY_DELAY, seconds.
    #[serde(deserialize_with = "within::<_, 30, 600>")]
    pub user_agent_retry_delay: u32,
    /// SS_SIP_USER_AGENT_PRIVACY
    pub user_agent_privacy: Privacy,
    /// SS_SIP_USER_AGENT_STOP_SWITCH_AFTER_INVITE_TIMEOUT
    pub user_agent_stop_switch_after_invite_timeout: bool,
    /// SS_ENDPOINT_REGISTER_REPLACE
    pub endpoint_register_replace: bool,
    /// SS_ENDPOINT_REGISTER_RETRY
    #[serde(deserialize_with = "within::<_, 1, 100>")]
    pub endpoint_register_retry: u32,
    /// SS_ENDPOINT_REGISTER_SUSPEND, seconds.
    #[serde(deserialize_with = "within::<_, 0, 86400>")]
    pub endpoint_register_suspend: u32,
    /// Shortest registration an endpoint may ask for (shorter: 423), seconds.
    #[serde(deserialize_with = "within::<_, 10, 86400>")]
    pub endpoint_register_min_expires: u32,
    /// Longest registration granted (longer requests are cut to this), seconds.
    #[serde(deserialize_with = "within::<_, 10, 86400>")]
    pub endpoint_register_max_expires: u32,
    /// Digest realm offered to registering endpoints; default: the advertised host.
    pub realm: Option<Spanned<String>>,
    /// Seconds without any answer from a gateway before failing over.
    #[serde(deserialize_with = "within::<_, 1, 300>")]
    pub invite_timeout: u32,
    /// Most gateways tried per call; 0 = no limit.
    #[serde(deserialize_with = "within::<_, 0, 1000>")]
    pub gateway_switch_limit: u32,
    /// 486/600 end the hunt.
    pub busy_stop_switch: bool,
    /// Seconds an answered call may last before tandem hangs up both legs
    /// (a BYE lost both ways, or a peer gone, would otherwise hold the call,
    /// its `max_calls` slots and its CDR for ever); 0 = no limit.
    #[serde(deserialize_with = "within::<_, 0, 604800>")]
    pub max_call_duration: u32,
    /// Seconds the shutdown waits for unregisters and calls.
    #[serde(deserialize_with = "within::<_, 0, 3600>")]
    pub shutdown_deadline: u32,
}

impl Default for Sip {
    fn default() -> Self {
        Sip {
            user_agent_send_unregister: true,
            user_agent_expire: Expire::Auto,
            user_agent_retry_delay: 60,
            user_agent_privacy: Privacy::Ignore,
            user_agent_stop_switch_after_invite_timeout: false,
            endpoint_register_replace: true,
            endpoint_register_retry: 6,
            endpoint_register_suspend: 180,
            endpoint_register_min_expires: 60,
            endpoint_register_max_expires: 3600,
            realm: None,
            invite_timeout: 4,
            gateway_switch_limit: 0,
            busy_stop_switch: true,
            max_call_duration: 7200,
            shutdown_deadline: 5,
        }
    }
}

/// How candidates are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Sort {
    /// Priority (lower first), then lowest rate.
    #[default]
    #[serde(rename = "priority")]
    Priority,
    /// Lowest rate, then priority.
    #[serde(rename = "lowest-rate")]
    LowestRate,
}

/// `[routing]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    /// Candidate order.
    pub sort: Sort,
}

/// `[cdr]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cdr {
    /// Folder for the hourly CSV files.
    pub dir: PathBuf,
}

impl Default for Cdr {
    fn default() -> Self {
        Cdr { dir: PathBuf::from("cdr") }
    }
}

/// `[metrics]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metrics {
    /// Prometheus endpoint address.
    pub listen: SocketAddr,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { listen: SocketAddr::from(([127, 0, 0, 1], 9060)) }
    }
}

/// `[lrn]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lrn {
    /// Shared-memory cache file.
    pub cache: PathBuf,
    /// Slots in the cache table.
    #[serde(deserialize_with = "within::<_, 1024, 268435456>")]
    pub cache_slots: u32,
    /// Seconds an answer is trusted.
    #[serde(deserialize_with = "within::<_, 1, 31536000>")]
    pub ttl: u32,
    /// Seconds a "not ported" answer is trusted.
    #[serde(deserialize_with = "within::<_, 1, 31536000>")]
    pub negative_ttl: u32,
    /// `[[lrn.source]]`
    pub source: Vec<LrnSource>,
}

impl Default for Lrn {
    fn default() -> Self {
        Lrn {
            cache: PathBuf::from("/dev/shm/tandem-lrn"),
            cache_slots: 1 << 20,
            ttl: 86400,
            negative_ttl: 3600,
            source: Vec::new(),
        }
    }
}

/// Kind of LRN source (SPEC.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum LrnKind {
    /// 302 + RFC 4694 rn/npdi.
    #[serde(rename = "sip-redirect")]
    SipRedirect,
    /// CSV `tn,lrn`.
    #[serde(rename = "file")]
    File,
}

/// `[[lrn.source]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrnSource {
    /// Name gateways refer to.
    pub name: Spanned<String>,
    /// Kind.
    pub kind: Spanned<LrnKind>,
    /// sip-redirect: the dip server.
    pub address: Option<SocketAddr>,
    /// sip-redirect: milliseconds before the dip counts as failed.
    #[serde(default = "default_timeout_ms", deserialize_with = "within::<_, 10, 10000>")]
    pub timeout_ms: u32,
    /// file: the CSV, relative to the config file.
    pub path: Option<Spanned<PathBuf>>,
}

fn default_timeout_ms() -> u32 {
    300
}

/// Which source addresses a customer sends from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrMatch {
    /// Any port from this IP.
    Ip(IpAddr),
    /// Exactly this IP and port.
    IpPort(SocketAddr),
}

impl AddrMatch {
    /// The same entry with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a
    /// dual-stack socket shows an IPv4 peer) written as the IPv4 address.
    pub fn canonical(self) -> AddrMatch {
        match self {
            AddrMatch::Ip(ip) => AddrMatch::Ip(ip.to_canonical()),
            AddrMatch::IpPort(sa) => AddrMatch::IpPort(SocketAddr::new(sa.ip().to_canonical(), sa.port())),
        }
    }

    /// `true` when `peer` matches.
    pub fn matches(&self, peer: SocketAddr) -> bool {
        match self {
            AddrMatch::Ip(ip) => peer.ip() == *ip,
            AddrMatch::IpPort(sa) => peer == *sa,
        }
    }
}

impl fmt::Display for AddrMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrMatch::Ip(ip) => write!(f, "{ip}"),
            AddrMatch::IpPort(sa) => write!(f, "{sa}"),
        }
    }
}

/// `[[mapping_gateway]]`: a customer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingGateway {
    /// Unique name.
    pub name: Spanned<String>,
    /// Source IPs or ip:port allowed (may be empty when the customer registers).
    #[serde(default, deserialize_with = "addr_matches")]
    pub addresses: Vec<AddrMatch>,
    /// Digest user of a customer that registers to tandem (endpoint registrar).
    pub user: Option<Spanned<String>>,
    /// Its password.
    pub password: Option<String>,
    /// The customer's rate deck (what tandem charges).
    pub rate_deck: Spanned<PathBuf>,
    /// Bill on the LRN when a dip happened.
    #[serde(default)]
    pub rate_by_lrn: bool,
    /// Dial plan: digits removed from the front of the dialed number...
    #[serde(default, deserialize_with = "digits")]
    pub strip_prefix: String,
    /// ...then digits added.
    #[serde(default, deserialize_with = "digits")]
    pub add_prefix: String,
    /// Concurrent calls; 0 = no limit.
    #[serde(default)]
    pub max_calls: u32,
}

/// `[[routing_gateway]]`: a vendor.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingGateway {
    /// Unique name.
    pub name: Spanned<String>,
    /// Where calls go.
    pub address: SocketAddr,
    /// The vendor's rate deck (what tandem pays).
    pub rate_deck: Spanned<PathBuf>,
    /// Only numbers with one of these prefixes; empty = all.
    #[serde(default, deserialize_with = "digit_list")]
    pub prefixes: Vec<String>,
    /// Prepended to the B-leg user part.
    #[serde(default, deserialize_with = "tech_prefix")]
    pub tech_prefix: String,
    /// Lower is tried first.
    #[serde(default)]
    pub priority: u32,
    /// Concurrent calls; 0 = no limit.
    #[serde(default)]
    pub max_calls: u32,
    /// Only tried when its deck rates the number.
    #[serde(default = "yes")]
    pub check_rate: bool,
    /// Skipped when its rate is above this.
    #[serde(default, deserialize_with = "opt_rate")]
    pub max_minute_rate: Option<Rate>,
    /// Skipped when customer rate − vendor rate is below this (may be negative).
    #[serde(default, deserialize_with = "opt_rate")]
    pub lowest_profit: Option<Rate>,
    /// LRN source names, tried in order (a string or a list); absent = LRN off.
    pub lrn: Option<Spanned<LrnNames>>,
    /// Put RFC 4694 `rn`/`npdi` in the B-leg Request-URI after a dip.
    #[serde(default = "yes")]
    pub lrn_uri_params: bool,
    /// Seconds between OPTIONS online checks; 0 = off.
    #[serde(default, deserialize_with = "within::<_, 0, 3600>")]
    pub options_ping: u32,
    /// Milliseconds an OPTIONS may go unanswered before the gateway is offline.
    #[serde(default = "default_options_timeout", deserialize_with = "within::<_, 100, 32000>")]
    pub options_timeout_ms: u32,
    /// A 5xx answer to OPTIONS marks the gateway offline (otherwise any answer is online).
    #[serde(default)]
    pub options_offline_on_5xx: bool,
    /// Outbound registration to this vendor.
    pub register: Option<Register>,
    /// Digest user for a vendor that challenges tandem's INVITEs (default:
    /// the registration's); with `auth_password`.
    pub auth_user: Option<Spanned<String>>,
    /// Its password.
    pub auth_password: Option<String>,
}

impl RoutingGateway {
    /// The credentials tandem answers a challenge to its INVITE with:
    /// `auth_user`/`auth_password`, else the registration's.
    pub fn invite_credentials(&self) -> Option<(&str, &str)> {
        match (&self.auth_user, &self.auth_password, &self.register) {
            (Some(u), Some(p), _) => Some((u.get_ref(), p)),
            (None, None, Some(r)) => Some((&r.user, &r.password)),
            _ => None,
        }
    }
}

fn yes() -> bool {
    true
}

/// A gateway's `lrn`: one source name, or several tried in order (a source
/// that fails or times out hands the number to the next).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LrnNames(pub Vec<String>);

impl<'de> Deserialize<'de> for LrnNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        let names = match Raw::deserialize(d)? {
            Raw::One(n) => vec![n],
            Raw::Many(v) => v,
        };
        if names.is_empty() || names.iter().any(String::is_empty) {
            return Err(de::Error::custom("must name at least one [[lrn.source]], none empty"));
        }
        Ok(LrnNames(names))
    }
}

impl LrnNames {
    /// The names, in the order they are tried.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

fn default_options_timeout() -> u32 {
    2000
}

/// `[routing_gateway.register]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Where REGISTER goes.
    pub proxy: SocketAddr,
    /// Registrar domain (R-URI, To/From host).
    pub domain: String,
    /// Authentication user.
    pub user: String,
    /// Password.
    pub password: String,
    /// Host in Contact; default: the server's advertised host.
    pub host: Option<String>,
    /// Overrides `[sip].user_agent_expire`.
    #[serde(default, deserialize_with = "opt_expire")]
    pub period: Option<Expire>,
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        line: 0,
        key: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse(&src, path).map_err(|mut errs| errs.remove(0))
}

/// Parses and checks configuration text; every semantic error is listed.
pub fn parse(src: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
    let (cfg, errors) = parse_all(src, path)?;
    if errors.is_empty() { Ok(cfg) } else { Err(errors) }
}

/// Parses configuration text. Text that is not TOML stops at its first
/// error; a value of the wrong type or range (`Err`) is listed with every
/// other such value; otherwise the configuration comes back with its
/// cross-key problems, so `tandem check` can go on to the decks and list
/// everything.
pub fn parse_all(src: &str, path: &Path) -> Result<(Config, Vec<ConfigError>), Vec<ConfigError>> {
    let error = |e: &toml::de::Error, text: &str| {
        let (line, key) = e.span().map(|s| locate::at(text, s.start)).unwrap_or_default();
        ConfigError { file: path.to_path_buf(), line, key, message: e.message().trim().to_owned() }
    };
    let mut e = match toml::from_str::<Config>(src) {
        Ok(mut cfg) => {
            cfg.path = path.to_path_buf();
            let errors = locate::Checker::new(src, path).check(&cfg);
            return Ok((cfg, errors));
        }
        Err(e) => e,
    };
    if let Err(e) = toml::from_str::<toml::Table>(src) {
        return Err(vec![error(&e, src)]);
    }
    // Each bad value's line is blanked (same length, so every offset stays)
    // and the text read again, to find the next one.
    let mut text = src.to_owned();
    let mut errors: Vec<ConfigError> = Vec::new();
    loop {
        let found = error(&e, &text);
        let blanked = e.span().and_then(|s| blank_value_line(&text, s.start));
        if !blanked_before(&found, &errors) {
            errors.push(found);
        }
        match blanked {
            Some(next) if errors.len() < MAX_VALUE_ERRORS => text = next,
            _ => return Err(errors),
        }
        e = match toml::from_str::<Config>(&text) {
            Ok(_) => return Err(errors),
            Err(e) => e,
        };
    }
}

/// A required key that `parse_all` blanked for its bad value is not
/// reported missing as well.
fn blanked_before(found: &ConfigError, errors: &[ConfigError]) -> bool {
    let Some(field) = found.message.strip_prefix("missing field ") else { return false };
    let field = field.trim_matches('`');
    errors.iter().any(|prior| prior.key == format!("{}.{field}", found.key) || prior.key == field)
}

/// The most bad values `parse_all` lists before it stops looking.
const MAX_VALUE_ERRORS: usize = 100;

/// `text` with the `key = value` line holding `offset` turned to spaces,
/// when that leaves it TOML; `None` for a table header or anything else.
fn blank_value_line(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line = &text[start..end];
    if line.trim_start().starts_with('[') || !line.contains('=') {
        return None;
    }
    let next = format!("{}{}{}", &text[..start], " ".repeat(line.len()), &text[end..]);
    toml::from_str::<toml::Table>(&next).is_ok().then_some(next)
}

/// The line and key path at a byte offset of configuration text.
pub fn locate_at(src: &str, offset: usize) -> (usize, String) {
    locate::at(src, offset)
}

impl Config {
    /// `p` resolved against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        match self.path.parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }
}

fn within<'de, D: Deserializer<'de>, const LO: u64, const HI: u64>(d: D) -> Result<u32, D::Error> {
    let v = u64::deserialize(d)?;
    if (LO..=HI).contains(&v) {
        Ok(v as u32)
    } else {
        Err(de::Error::custom(format!("must be {LO}..={HI}, got {v}")))
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExpireRaw {
    Text(String),
    Number(i64),
}

fn to_expire<E: de::Error>(raw: ExpireRaw) -> Result<Expire, E> {
    match raw {
        ExpireRaw::Text(t) if t == "auto" => Ok(Expire::Auto),
        ExpireRaw::Number(n) if (20..=7200).contains(&n) => Ok(Expire::Seconds(n as u32)),
        ExpireRaw::Text(t) => Err(E::custom(format!("must be \"auto\" or 20..=7200, got \"{t}\""))),
        ExpireRaw::Number(n) => Err(E::custom(format!("must be \"auto\" or 20..=7200, got {n}"))),
    }
}

fn expire<'de, D: Deserializer<'de>>(d: D) -> Result<Expire, D::Error> {
    to_expire(ExpireRaw::deserialize(d)?)
}

fn opt_expire<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Expire>, D::Error> {
    to_expire(ExpireRaw::deserialize(d)?).map(Some)
}

fn opt_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
    let v = f64::deserialize(d)?;
    Rate::from_f64(v).map(Some).ok_or_else(|| de::Error::custom(format!("not a usable amount: {v}")))
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn digits<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if is_digits(&s) { Ok(s) } else { Err(de::Error::custom(format!("must be digits only, got \"{s}\""))) }
}

fn digit_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    match v.iter().find(|s| s.is_empty() || !is_digits(s)) {
        Some(bad) => Err(de::Error::custom(format!("prefixes must be non-empty digits, got \"{bad}\""))),
        None => Ok(v),
    }
}

/// Tech prefixes may hold `#` and `*` as well as digits (a common carrier convention).
fn tech_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'#' || b == b'*') {
        Ok(s)
    } else {
        Err(de::Error::custom(format!("must be digits, # or * only, got \"{s}\"")))
    }
}

fn addr_matches<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AddrMatch>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    raw.iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map(AddrMatch::Ip)
                .or_else(|_| s.parse::<SocketAddr>().map(AddrMatch::IpPort))
                .map_err(|_| de::Error::custom(format!("\"{s}\" is not an IP or ip:port")))
        })
        .collect()
}
