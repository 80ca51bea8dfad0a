//! `tandem check -c FILE`: the configuration, every deck and every LRN file,
//! with every problem listed.

use crate::config::{self, LrnKind};
use crate::routing::snapshot::{LoadError, RoutingSnapshot};
use std::fmt::Write as _;
use std::path::Path;

/// Checks everything the config names. `Ok` holds the summary to print,
/// `Err` every problem, one per line.
pub fn run(path: &Path) -> Result<String, Vec<String>> {
    let src =
        std::fs::read_to_string(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let (cfg, cfg_errors) = config::parse_all(&src, path).map_err(|es| strings(&es))?;
    let mut errors = strings(&cfg_errors);
    match RoutingSnapshot::build(cfg, &src) {
        Ok(snap) if errors.is_empty() => Ok(summary(&snap)),
        Ok(_) => Err(errors),
        Err(es) => {
            errors.extend(es.iter().map(LoadError::to_string));
            Err(errors)
        }
    }
}

fn strings<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn summary(snap: &RoutingSnapshot) -> String {
    let cfg = &snap.config;
    let mut s = String::new();
    let names = |v: Vec<&String>| v.into_iter().map(String::as_str).collect::<Vec<_>>().join(", ");
    let _ = writeln!(s, "config {}: ok", cfg.path.display());
    let _ = writeln!(
        s,
        "customers: {} ({})",
        cfg.mapping_gateways.len(),
        names(cfg.mapping_gateways.iter().map(|g| g.name.get_ref()).collect())
    );
    let _ = writeln!(
        s,
        "routing gateways: {} ({})",
        cfg.routing_gateways.len(),
        names(cfg.routing_gateways.iter().map(|g| g.name.get_ref()).collect())
    );
    let _ = writeln!(s, "lrn sources: {}", cfg.lrn.source.len());
    for d in &snap.decks {
        let _ = writeln!(
            s,
            "deck {}: {} rows, {} prefixes, trie {} bytes ({:.1} bytes/prefix), {} bytes with rows",
            d.path().display(),
            d.rows(),
            d.prefixes(),
            d.trie_bytes(),
            d.trie_bytes() as f64 / d.prefixes().max(1) as f64,
            d.heap_bytes()
        );
    }
    for src in cfg.lrn.source.iter().filter(|s| *s.kind.get_ref() == LrnKind::File) {
        let (Some(path), Some(f)) = (&src.path, snap.lrn_files.get(src.name.get_ref())) else { continue };
        let _ = writeln!(s, "lrn file {}: {} numbers", cfg.resolve(path.get_ref()).display(), f.len());
    }
    s
}
