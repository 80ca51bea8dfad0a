//! The engine (DESIGN.md §1): one pinned shard per core, each with its own
//! mio poll, `SO_REUSEPORT` UDP socket, timer wheel and calls; lock-free
//! handoff queues between shards; a signal thread for reload and shutdown.
//! The only place in tandem with sockets and a clock.

pub mod clock;
pub mod demo;
pub mod io;
pub mod log;
pub mod metrics_http;
mod sched;
pub mod shard;
mod steer;

use crate::call::Core;
use crate::call::build::Local;
use crate::cdr::CdrWriter;
use crate::lrn::cache::LrnCache;
use crate::register::client::{owner_shard, settings_for};
use crate::routing::snapshot::{LoadError, Router};
use bytes::Bytes;
use clock::Clock;
use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use io::udp::UdpIo;
use mio::{Interest, Poll, Waker};
use shard::{Report, Shard};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Messages a shard's handoff queue holds.
const HANDOFF_CAPACITY: usize = 65_536;

/// A datagram passed to its owner shard.
pub type Handoff = (Bytes, SocketAddr, std::time::Instant);

/// What a side thread asks of a shard, over the shard's control queue.
pub enum Control {
    /// Send a copy of your counters (a metrics scrape).
    Scrape(crossbeam::channel::Sender<crate::metrics::ShardMetrics>),
    /// Registrar changes another shard made: apply them to your replica.
    Registrar(Arc<[crate::registrar::Event]>),
}

/// What every shard shares.
pub struct Shared {
    /// Handoff queue per shard: the datagram, its source, and when it was received.
    pub queues: Vec<ArrayQueue<Handoff>>,
    /// Waker per shard.
    pub wakers: Vec<Waker>,
    /// Per shard: about to block in (or blocked in) its poll. A handoff wakes
    /// the owner only then; an owner that is awake finds the queue on its own.
    pub asleep: Vec<CachePadded<AtomicBool>>,
    /// Graceful shutdown has begun.
    pub draining: AtomicBool,
    /// Monotonic ms at which calls still up are hung up.
    pub deadline_ms: AtomicU64,
    /// `[sip].user_agent_send_unregister`: remove upstream bindings on shutdown.
    pub send_unregister: bool,
    /// Control queue per shard (wake the shard after sending).
    pub control: Vec<crossbeam::channel::Sender<Control>>,
    /// Per shard, in a shutdown: its calls and unregisters are done.
    pub drained: Vec<AtomicBool>,
    /// Every shard is drained: all stop now, together.
    pub stopping: AtomicBool,
    /// Every shard has stopped: side threads end.
    pub stopped: AtomicBool,
}

impl Shared {
    /// Wakes every shard.
    pub fn wake_all(&self) {
        for w in &self.wakers {
            let _ = w.wake();
        }
    }
}

/// Why the engine could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configuration or a deck is bad.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Load(Vec<LoadError>),
    /// A socket, thread or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    let context = context.into();
    move |source| EngineError::Io { context, source }
}

/// Runs the switch until a graceful shutdown completes. `None`: the demo config.
pub fn run(config: Option<&Path>) -> Result<(), EngineError> {
    let path: PathBuf = match config {
        Some(p) => p.to_path_buf(),
        None => demo::write().map_err(io_err("writing the demo configuration"))?,
    };
    let router = Arc::new(Router::load(&path).map_err(EngineError::Load)?);
    let snap = router.snapshot();
    let cfg = &snap.config;
    let shards = match cfg.server.shards {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(u16::MAX as usize) as u16;
    let cdr_dir = cfg.resolve(&cfg.cdr.dir);
    let (sink, writer) =
        CdrWriter::start(&cdr_dir).map_err(io_err(format!("CDR folder {}", cdr_dir.display())))?;
    let local = Local {
        host: cfg.server.advertise.clone().unwrap_or_else(|| cfg.server.listen.ip().to_string()),
        port: cfg.server.listen.port(),
    };
    let lrn_cache = open_lrn_cache(cfg)?;
    // `tandem check` knows the shard count only when it is set; here it is known.
    let vendor_ports = cfg.server.vendor_ports(usize::from(shards)).map_err(|why| {
        io_err("[server].vendor_port_base")(std::io::Error::new(std::io::ErrorKind::InvalidInput, why))
    })?;
    let clock = Clock::new();
    // One nonce key for every shard's registrar: a challenge from one shard is answered to another.
    let registrar_secret = secret();
    let mut polls = Vec::new();
    let mut wakers = Vec::new();
    for _ in 0..shards {
        let poll = Poll::new().map_err(io_err("creating a poll"))?;
        wakers.push(Waker::new(poll.registry(), shard::WAKER).map_err(io_err("creating a waker"))?);
        polls.push(poll);
    }
    let (control, mut control_rx): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| crossbeam::channel::unbounded::<Control>()).unzip();
    let shared = Arc::new(Shared {
        queues: (0..shards).map(|_| ArrayQueue::new(HANDOFF_CAPACITY)).collect(),
        wakers,
        asleep: (0..shards).map(|_| CachePadded::new(AtomicBool::new(false))).collect(),
        draining: AtomicBool::new(false),
        deadline_ms: AtomicU64::new(u64::MAX),
        send_unregister: cfg.sip.user_agent_send_unregister,
        control,
        drained: (0..shards).map(|_| AtomicBool::new(false)).collect(),
        stopping: AtomicBool::new(false),
        stopped: AtomicBool::new(false),
    });
    let metrics = metrics_http::spawn(cfg.metrics.listen, Arc::clone(&shared), Arc::clone(&router), clock)
        .map_err(io_err(format!("metrics endpoint on {}", cfg.metrics.listen)))?;
    let mut registrations = settings_for(cfg, &local.host);
    let cores = core_ids(cfg);
    let mut handles = Vec::new();
    let sockets = bind_shared(cfg, shards)?;
    for (id, (poll, mut io)) in polls.into_iter().zip(sockets).enumerate() {
        poll.registry()
            .register(io.source(), shard::SOCKET, Interest::READABLE)
            .map_err(io_err("registering the socket"))?;
        // From the kernel's random source: two tandems started in the same
        // millisecond once minted the same Call-IDs and tags (time ^ pid seed).
        let seed = secret() ^ ((id as u64) << 48);
        let mut core = Core::new(id as u16, local.clone(), Arc::clone(&router), seed, clock.now())
            .with_registrar_secret(registrar_secret);
        let vendor_io = match vendor_ports.map(|base| base + id as u16) {
            Some(port) => {
                let addr = SocketAddr::new(cfg.server.listen.ip(), port);
                let mut io =
                    UdpIo::bind_own(addr).map_err(io_err(format!("binding the vendor port {addr}")))?;
                poll.registry()
                    .register(io.source(), shard::VENDOR_SOCKET, Interest::READABLE)
                    .map_err(io_err("registering the vendor socket"))?;
                core = core.with_vendor_port(port);
                Some(io)
            }
            None => None,
        };
        if let Some(cache) = &lrn_cache {
            core = core.with_lrn_cache(Arc::clone(cache));
        }
        // Each registration belongs to the shard its gateway's name hashes to (stable across reloads).
        let mine: Vec<_> =
            registrations.extract_if(.., |r| usize::from(owner_shard(&r.name, shards)) == id).collect();
        for settings in mine {
            core.add_registration(settings, clock.now());
        }
        core.start_options_checks(shards, clock.now());
        let control = control_rx.remove(0);
        let sh = Shard {
            id: id as u16,
            poll,
            io,
            vendor_io,
            core,
            shared: Arc::clone(&shared),
            clock,
            cdrs: sink.clone(),
            control,
        };
        let pin = cores.as_ref().and_then(|c| c.get(id % c.len().max(1)).copied());
        let priority = cfg.server.realtime_priority;
        let handle = std::thread::Builder::new()
            .name(format!("shard-{id}"))
            .spawn(move || {
                if let Some(core) = pin {
                    core_affinity::set_for_current(core);
                }
                if priority > 0
                    && let Err(e) = sched::set_fifo(priority)
                {
                    crate::warn!("realtime priority refused", shard = id, priority = priority, error = e);
                }
                sh.run()
            })
            .map_err(io_err("starting a shard"))?;
        handles.push(handle);
    }
    drop(sink);
    crate::info!(
        "started",
        listen = cfg.server.listen,
        advertise = local.host,
        shards = shards,
        config = path.display(),
        cdr_dir = cdr_dir.display(),
        metrics = metrics.addr
    );
    crate::shutdown::spawn_signal_thread(
        Arc::clone(&router),
        Arc::clone(&shared),
        clock,
        u64::from(cfg.sip.shutdown_deadline),
    )
    .map_err(io_err("starting the signal thread"))?;
    let reports: Vec<Report> = handles
        .into_iter()
        .filter_map(|h| match h.join() {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                crate::warn!("shard failed", error = e);
                None
            }
            Err(_) => {
                crate::warn!("shard panicked");
                None
            }
        })
        .collect();
    shared.stopped.store(true, std::sync::atomic::Ordering::Release);
    metrics.join();
    let mut latency = hdrhistogram::Histogram::<u64>::new(3).map_err(|e| EngineError::Io {
        context: "latency histogram".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut to_send = latency.clone();
    for r in &reports {
        let _ = latency.add(&r.invite_latency_us);
        let _ = to_send.add(&r.invite_to_send_us);
        crate::info!(
            "shard stopped",
            shard = r.id,
            answered = r.stats.calls_answered,
            failed = r.stats.calls_failed,
            handoffs = r.handoffs_out,
            handoffs_dropped = r.handoffs_dropped,
            parse_errors = r.stats.parse_errors
        );
    }
    let mut dips = hdrhistogram::Histogram::<u64>::new(3).map_err(|e| EngineError::Io {
        context: "dip histogram".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let total = |f: fn(&crate::call::Stats) -> u64| reports.iter().map(|r| f(&r.stats)).sum::<u64>();
    for r in &reports {
        let _ = dips.add(&r.dip_latency_ms);
    }
    crate::info!(
        "lrn",
        cache_hits = total(|s| s.lrn_cache_hits),
        cache_misses = total(|s| s.lrn_cache_misses),
        file_lookups = total(|s| s.lrn_file_lookups),
        dips = total(|s| s.lrn_dips),
        dips_shared = total(|s| s.lrn_dips_shared),
        answers = total(|s| s.lrn_answers),
        fallbacks = total(|s| s.lrn_fallbacks),
        dip_p50_ms = dips.value_at_quantile(0.5),
        dip_p99_ms = dips.value_at_quantile(0.99)
    );
    log_latency("invite latency", &latency);
    log_latency("invite latency to send", &to_send);
    let written = writer.finish().map_err(io_err("writing CDRs"))?;
    crate::info!("stopped", cdrs_written = written, cdr_dir = cdr_dir.display());
    Ok(())
}

/// Every shard's socket on `[server].listen`, steered by Call-ID when the kernel lets us.
fn bind_shared(cfg: &crate::config::Config, shards: u16) -> Result<Vec<UdpIo>, EngineError> {
    let mut listen = cfg.server.listen;
    if listen.port() != 0 {
        UdpIo::ensure_free(listen)
            .map_err(io_err(format!("binding {listen} (is another tandem running?)")))?;
    }
    let mut sockets = Vec::with_capacity(usize::from(shards));
    for _ in 0..shards {
        let socket = UdpIo::bind(listen).map_err(io_err(format!("binding {listen}")))?;
        // Port 0: the kernel picks one for the first shard; the others join it.
        listen = io::PacketIo::local_addr(&socket).map_err(io_err(format!("binding {listen}")))?;
        sockets.push(socket);
    }
    if shards > 1 && cfg.server.kernel_steering {
        let fds: Vec<_> = sockets.iter().map(UdpIo::fd).collect();
        match steer::attach(&fds) {
            Ok(verified) => crate::info!("kernel steering", shards = shards, verified_insns = verified),
            Err(e) => crate::warn!("kernel steering unavailable, shards hand over", error = e),
        }
    }
    Ok(sockets)
}

/// One latency log line: count, p50/p99/p99.9/max in µs.
fn log_latency(event: &str, h: &hdrhistogram::Histogram<u64>) {
    crate::info!(
        event,
        count = h.len(),
        p50_us = h.value_at_quantile(0.5),
        p99_us = h.value_at_quantile(0.99),
        p999_us = h.value_at_quantile(0.999),
        max_us = h.max()
    );
}

/// 64 unpredictable bits (the registrar's nonce and tag key): the kernel's
/// random source, else the standard library's randomly seeded hasher.
fn secret() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = [0u8; 8];
    let from_kernel =
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(clock::unix_ms() as u64);
    match from_kernel {
        Ok(()) => u64::from_le_bytes(bytes) ^ h.finish(),
        Err(_) => h.finish(),
    }
}

/// The shared LRN cache, when any LRN source is configured.
fn open_lrn_cache(cfg: &crate::config::Config) -> Result<Option<Arc<LrnCache>>, EngineError> {
    if cfg.lrn.source.is_empty() {
        return Ok(None);
    }
    let path = cfg.resolve(&cfg.lrn.cache);
    let cache = LrnCache::open(&path, u64::from(cfg.lrn.cache_slots)).map_err(|e| EngineError::Io {
        context: "LRN cache".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    crate::info!("lrn cache", path = path.display(), slots = cfg.lrn.cache_slots, warm = cache.reused);
    Ok(Some(Arc::new(cache)))
}

/// Cores to pin shards to: `[server].cores`, else 0.. when `pin_cores`.
fn core_ids(cfg: &crate::config::Config) -> Option<Vec<core_affinity::CoreId>> {
    let all = core_affinity::get_core_ids()?;
    match (&cfg.server.cores, cfg.server.pin_cores) {
        // In the order given: shard i runs on cores[i % len].
        (Some(list), _) => {
            let chosen: Vec<_> =
                list.iter().filter_map(|id| all.iter().find(|c| c.id == *id).copied()).collect();
            if chosen.len() < list.len() {
                crate::warn!(
                    "some [server].cores are not available to this process",
                    asked = format!("{list:?}")
                );
            }
            (!chosen.is_empty()).then_some(chosen)
        }
        (None, true) => Some(all),
        (None, false) => None,
    }
}

#[cfg(test)]
mod tests {
    /// Shard seeds come from here: two processes started in the same
    /// millisecond (or two calls in a row) must not get the same one.
    #[test]
    fn secrets_do_not_repeat() {
        let drawn: std::collections::HashSet<u64> = (0..1000).map(|_| super::secret()).collect();
        assert_eq!(drawn.len(), 1000);
    }
}
