//! The routing snapshot: configuration plus every deck, built whole off the
//! hot path and swapped in atomically (DESIGN.md §3). Readers never block
//! and never see a mix of old and new.

use super::deck::{Deck, DeckError};
use crate::config::{self, AddrMatch, Config, ConfigError, LrnKind};
use crate::lrn::file::LrnFile;
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A configuration or deck problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// In the configuration file.
    Config(ConfigError),
    /// In a deck.
    Deck(DeckError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Config(e) => e.fmt(f),
            LoadError::Deck(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Everything a routing decision reads.
#[derive(Debug)]
pub struct RoutingSnapshot {
    /// The configuration.
    pub config: Config,
    /// Loaded decks; a file used by several gateways is loaded once.
    pub decks: Vec<Deck>,
    /// Deck index of each mapping gateway (customer), in config order.
    pub customer_deck: Vec<usize>,
    /// Deck index of each routing gateway (vendor), in config order.
    pub gateway_deck: Vec<usize>,
    /// Calls in progress, shared by every shard and carried across reloads by name.
    pub occupancy: Occupancy,
    /// `file` LRN sources by name, loaded (and reloaded) with the decks.
    pub lrn_files: HashMap<String, Arc<LrnFile>>,
    /// Which customer each source address belongs to.
    pub sources: Sources,
    /// Each routing gateway's place in name order: the routing order's tie-break.
    pub gateway_name_rank: Vec<u32>,
}

/// The customers' `addresses`, indexed: one hash lookup per INVITE whatever
/// the number of customers. An `ip:port` entry wins over a bare IP (the most
/// specific entry); IPv4-mapped IPv6 addresses (a dual-stack listener's view
/// of IPv4 peers) count as the IPv4 address they carry.
#[derive(Debug, Default)]
pub struct Sources {
    exact: HashMap<SocketAddr, usize>,
    by_ip: HashMap<IpAddr, usize>,
}

impl Sources {
    fn index(config: &Config) -> Self {
        let mut s = Sources::default();
        // The first customer in the file keeps an entry (the check refuses a shared one).
        for (i, c) in config.mapping_gateways.iter().enumerate() {
            for a in &c.addresses {
                match a.canonical() {
                    AddrMatch::IpPort(sa) => s.exact.entry(sa).or_insert(i),
                    AddrMatch::Ip(ip) => s.by_ip.entry(ip).or_insert(i),
                };
            }
        }
        s
    }

    /// The customer `source` belongs to by its `addresses`.
    pub fn customer(&self, source: SocketAddr) -> Option<usize> {
        let source = SocketAddr::new(source.ip().to_canonical(), source.port());
        self.exact.get(&source).or_else(|| self.by_ip.get(&source.ip())).copied()
    }
}

/// Current calls per customer and per vendor gateway. Touched once per call
/// setup and teardown, never per packet.
#[derive(Debug, Default)]
pub struct Occupancy {
    /// Per mapping gateway, in config order.
    pub customers: Vec<Arc<AtomicU32>>,
    /// Per routing gateway, in config order.
    pub gateways: Vec<Arc<AtomicU32>>,
    /// Per routing gateway: the OPTIONS check's verdict (written only when it
    /// changes, by the shard that checks the gateway).
    pub gateway_online: Vec<Arc<AtomicBool>>,
}

impl Occupancy {
    fn fresh(config: &Config) -> Self {
        let counters = |n: usize| (0..n).map(|_| Arc::new(AtomicU32::new(0))).collect();
        Occupancy {
            customers: counters(config.mapping_gateways.len()),
            gateways: counters(config.routing_gateways.len()),
            gateway_online: (0..config.routing_gateways.len())
                .map(|_| Arc::new(AtomicBool::new(true)))
                .collect(),
        }
    }

    /// Online state per routing gateway, for [`super::decide::Live`].
    pub fn online(&self) -> Vec<bool> {
        self.gateway_online.iter().map(|o| o.load(Ordering::Relaxed)).collect()
    }

    /// Current counts, for [`super::decide::Live`].
    pub fn snapshot(counters: &[Arc<AtomicU32>]) -> Vec<u32> {
        counters.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

/// Increments a counter.
pub fn occupy(c: &AtomicU32) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Decrements a counter (never below zero).
pub fn release(c: &AtomicU32) {
    let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
}

impl RoutingSnapshot {
    /// Reads the configuration and every deck it names.
    pub fn load(path: &Path) -> Result<Self, Vec<LoadError>> {
        let src = std::fs::read_to_string(path).map_err(|e| {
            let message = format!("cannot read: {e}");
            vec![LoadError::Config(ConfigError { file: path.into(), line: 0, key: String::new(), message })]
        })?;
        let cfg = config::parse(&src, path)
            .map_err(|es| es.into_iter().map(LoadError::Config).collect::<Vec<_>>())?;
        Self::build(cfg, &src)
    }

    /// Loads the decks of a parsed configuration (`src` is its text, for locating errors).
    pub fn build(config: Config, src: &str) -> Result<Self, Vec<LoadError>> {
        let mut paths: Vec<PathBuf> = Vec::new();
        let mut index: HashMap<PathBuf, usize> = HashMap::new();
        let mut deck_of = |p: PathBuf| {
            *index.entry(p.clone()).or_insert_with(|| {
                paths.push(p);
                paths.len() - 1
            })
        };
        let customer_deck: Vec<usize> =
            config.mapping_gateways.iter().map(|g| deck_of(config.resolve(g.rate_deck.get_ref()))).collect();
        let gateway_deck: Vec<usize> =
            config.routing_gateways.iter().map(|g| deck_of(config.resolve(g.rate_deck.get_ref()))).collect();
        let (decks, mut errors) = load_decks(&paths);
        let lrn_files = load_lrn_files(&config, &mut errors);
        if !errors.is_empty() {
            return Err(locate_missing(&config, src, errors));
        }
        let occupancy = Occupancy::fresh(&config);
        let sources = Sources::index(&config);
        let gateway_name_rank = name_rank(&config);
        Ok(RoutingSnapshot {
            config,
            decks,
            customer_deck,
            gateway_deck,
            occupancy,
            lrn_files,
            sources,
            gateway_name_rank,
        })
    }

    /// Takes over the live counters of `old` for customers and gateways that
    /// keep their names, so limits hold across a reload.
    pub fn adopt_counters(&mut self, old: &RoutingSnapshot) {
        let by_name = |names: Vec<&String>, counters: &[Arc<AtomicU32>]| -> HashMap<String, Arc<AtomicU32>> {
            names.into_iter().cloned().zip(counters.iter().cloned()).collect()
        };
        let cust = by_name(
            old.config.mapping_gateways.iter().map(|g| g.name.get_ref()).collect(),
            &old.occupancy.customers,
        );
        let gws = by_name(
            old.config.routing_gateways.iter().map(|g| g.name.get_ref()).collect(),
            &old.occupancy.gateways,
        );
        for (i, g) in self.config.mapping_gateways.iter().enumerate() {
            if let Some(c) = cust.get(g.name.get_ref()) {
                self.occupancy.customers[i] = Arc::clone(c);
            }
        }
        let online: HashMap<&String, &Arc<AtomicBool>> = old
            .config
            .routing_gateways
            .iter()
            .map(|g| g.name.get_ref())
            .zip(&old.occupancy.gateway_online)
            .collect();
        for (i, g) in self.config.routing_gateways.iter().enumerate() {
            if let Some(c) = gws.get(g.name.get_ref()) {
                self.occupancy.gateways[i] = Arc::clone(c);
            }
            // A gateway whose checks were turned off is online again.
            if let Some(o) = online.get(g.name.get_ref())
                && g.options_ping > 0
            {
                self.occupancy.gateway_online[i] = Arc::clone(o);
            }
        }
    }

    /// The deck of customer `i`.
    pub fn customer_deck(&self, i: usize) -> &Deck {
        &self.decks[self.customer_deck[i]]
    }

    /// The deck of vendor gateway `i`.
    pub fn gateway_deck(&self, i: usize) -> &Deck {
        &self.decks[self.gateway_deck[i]]
    }
}

/// Loads decks on up to two threads (the machine's cores); errors in file order.
fn load_decks(paths: &[PathBuf]) -> (Vec<Deck>, Vec<DeckError>) {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, paths.len().max(1));
    let chunk = paths.len().div_ceil(workers).max(1);
    let results: Vec<Result<Deck, Vec<DeckError>>> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| (part, s.spawn(move || part.iter().map(|p| Deck::load(p)).collect::<Vec<_>>())))
            .collect();
        handles.into_iter().flat_map(|(part, h)| h.join().unwrap_or_else(|_| panicked(part))).collect()
    });
    let (mut decks, mut errors) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(d) => decks.push(d),
            Err(e) => errors.extend(e),
        }
    }
    (decks, errors)
}

/// Loads every `file` LRN source; errors name the file and line.
fn load_lrn_files(config: &Config, errors: &mut Vec<DeckError>) -> HashMap<String, Arc<LrnFile>> {
    let mut out = HashMap::new();
    for s in config.lrn.source.iter().filter(|s| *s.kind.get_ref() == LrnKind::File) {
        let Some(p) = &s.path else { continue };
        match LrnFile::load(&config.resolve(p.get_ref())) {
            Ok(f) => {
                out.insert(s.name.get_ref().clone(), Arc::new(f));
            }
            Err(es) => errors.extend(es),
        }
    }
    out
}

/// Results for decks whose loader thread panicked: reported, never dropped,
/// so deck indexes stay aligned with paths.
fn panicked(part: &[PathBuf]) -> Vec<Result<Deck, Vec<DeckError>>> {
    let err =
        |p: &PathBuf| DeckError { file: p.clone(), line: 0, field: "", message: "loader failed".into() };
    part.iter().map(|p| Err(vec![err(p)])).collect()
}

fn name_rank(config: &Config) -> Vec<u32> {
    let gws = &config.routing_gateways;
    let mut by_name: Vec<usize> = (0..gws.len()).collect();
    by_name.sort_by(|&a, &b| gws[a].name.get_ref().cmp(gws[b].name.get_ref()));
    let mut rank = vec![0; gws.len()];
    for (r, &i) in by_name.iter().enumerate() {
        rank[i] = r as u32;
    }
    rank
}

/// An unreadable deck is reported at the config line that names it.
fn locate_missing(config: &Config, src: &str, errors: Vec<DeckError>) -> Vec<LoadError> {
    let named = config
        .mapping_gateways
        .iter()
        .map(|g| &g.rate_deck)
        .chain(config.routing_gateways.iter().map(|g| &g.rate_deck))
        .chain(config.lrn.source.iter().filter_map(|s| s.path.as_ref()));
    // Only the decks in error are located: locating reads the text before the line.
    let mut lines: HashMap<PathBuf, (usize, String)> = HashMap::new();
    for d in named {
        let path = config.resolve(d.get_ref());
        if !lines.contains_key(&path) && errors.iter().any(|e| e.file == path) {
            lines.insert(path, config::locate_at(src, d.span().start));
        }
    }
    errors
        .into_iter()
        .map(|e| match (e.line, lines.get(&e.file)) {
            (0, Some((line, key))) if e.message.starts_with("cannot read") => {
                LoadError::Config(ConfigError {
                    file: config.path.clone(),
                    line: *line,
                    key: key.clone(),
                    message: format!("{}: {}", e.file.display(), e.message),
                })
            }
            _ => LoadError::Deck(e),
        })
        .collect()
}

/// The live snapshot behind an `ArcSwap`.
pub struct Router {
    current: ArcSwap<RoutingSnapshot>,
    path: PathBuf,
}

impl Router {
    /// Loads the configuration at `path`.
    pub fn load(path: &Path) -> Result<Self, Vec<LoadError>> {
        let snap = RoutingSnapshot::load(path)?;
        Ok(Router { current: ArcSwap::from_pointee(snap), path: path.into() })
    }

    /// Wraps an already built snapshot.
    pub fn new(snap: RoutingSnapshot) -> Self {
        let path = snap.config.path.clone();
        Router { current: ArcSwap::from_pointee(snap), path }
    }

    /// The current snapshot; cheap, never blocks. Calls keep the one they started with.
    pub fn snapshot(&self) -> Arc<RoutingSnapshot> {
        self.current.load_full()
    }

    /// Rebuilds everything from the config file and swaps it in; on any
    /// error the old snapshot stays and the errors are returned.
    pub fn reload(&self) -> Result<Arc<RoutingSnapshot>, Vec<LoadError>> {
        let mut snap = RoutingSnapshot::load(&self.path)?;
        snap.adopt_counters(&self.current.load());
        let snap = Arc::new(snap);
        self.current.store(Arc::clone(&snap));
        Ok(snap)
    }
}
