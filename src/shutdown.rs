//! The shutdown coordinator (SPEC.md §6, DESIGN.md §5). The signal thread
//! flips the shared `draining` flag, sets the deadline and wakes every shard
//! (a second signal exits at once; SIGHUP reloads routing). Each shard then
//! runs [`Drain::step`] every turn: 503 for new INVITEs, `REGISTER Expires: 0`
//! for its registrations, calls left to finish until the deadline, then BYE
//! for what remains. A shard whose calls and unregisters are done keeps
//! answering (503 for new INVITEs, other shards' handoffs, late copies) until
//! every shard is done; then all stop together. The engine joins the shards,
//! flushes the CDRs and exits 0.

use crate::call::{Core, Now};
use crate::engine::Shared;
use crate::engine::clock::Clock;
use crate::register::client::State as RegState;
use crate::routing::snapshot::Router;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// After the last call ends in a shutdown, how long BYEs may take to be answered.
const BYE_GRACE_MS: u64 = 2_000;

/// A shard's progress through a graceful shutdown.
#[derive(Debug, Default)]
pub struct Drain {
    draining: bool,
    hung_up: bool,
    idle_since: Option<u64>,
}

impl Drain {
    /// Returns `true` when the shard may stop: its own work is done and so is
    /// every other shard's. A shard that stopped alone would leave the
    /// datagrams the kernel steers to it, and the handoffs of the others,
    /// unanswered while they drain.
    pub fn step(&mut self, core: &mut Core, shared: &Shared, shard: u16, now: Now) -> bool {
        let done = self.own_step(core, shared, now);
        if shared.stopping.load(Ordering::Acquire) {
            return true;
        }
        shared.drained[usize::from(shard)].store(done, Ordering::Release);
        if done && shared.drained.iter().all(|d| d.load(Ordering::Acquire)) {
            shared.stopping.store(true, Ordering::Release);
            shared.wake_all();
            return true;
        }
        false
    }

    /// Whether this shard's own calls and unregisters are done.
    fn own_step(&mut self, core: &mut Core, shared: &Shared, now: Now) -> bool {
        if !shared.draining.load(Ordering::Acquire) {
            return false;
        }
        if !self.draining {
            self.draining = true;
            core.set_draining();
            if shared.send_unregister {
                core.unregister_all(now);
            }
        }
        let deadline = shared.deadline_ms.load(Ordering::Acquire);
        if !self.hung_up && now.ms >= deadline {
            self.hung_up = true;
            core.hangup_all(now);
            for (gateway, state) in core.registrations() {
                if shared.send_unregister
                    && !matches!(state, RegState::Unregistered | RegState::UnregisterFailed)
                {
                    crate::warn!("unregister timed out", gateway = gateway);
                }
            }
        }
        let unregistering = shared.send_unregister && core.unregister_pending() > 0 && !self.hung_up;
        if core.active_calls() > 0 || unregistering {
            return false;
        }
        let since = *self.idle_since.get_or_insert(now.ms);
        core.held_calls() == 0 || now.ms >= since + BYE_GRACE_MS
    }
}

/// SIGHUP reloads; the first SIGTERM/SIGINT starts a graceful shutdown; a
/// second exits at once.
pub fn spawn_signal_thread(
    router: Arc<Router>,
    shared: Arc<Shared>,
    clock: Clock,
    deadline_s: u64,
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        for sig in signals.forever() {
            if sig == SIGHUP {
                match router.reload() {
                    Ok(s) => crate::info!("reloaded", decks = s.decks.len()),
                    Err(errors) => {
                        for e in errors {
                            crate::warn!("reload refused, old routing stays", error = e);
                        }
                    }
                }
                continue;
            }
            if shared.draining.swap(true, Ordering::AcqRel) {
                crate::warn!("second signal: exiting at once");
                std::process::exit(1);
            }
            let deadline = clock.now().ms + deadline_s * 1000;
            shared.deadline_ms.store(deadline, Ordering::Release);
            crate::info!("shutting down", deadline_s = deadline_s);
            shared.wake_all();
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::build::Local;
    use crate::routing::snapshot::RoutingSnapshot;
    use crossbeam::queue::ArrayQueue;
    use crossbeam::utils::CachePadded;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    fn shared(shards: usize, polls: &[mio::Poll]) -> Shared {
        Shared {
            queues: (0..shards).map(|_| ArrayQueue::new(4)).collect(),
            wakers: polls.iter().map(|p| mio::Waker::new(p.registry(), mio::Token(1)).unwrap()).collect(),
            asleep: (0..shards).map(|_| CachePadded::new(AtomicBool::new(false))).collect(),
            draining: AtomicBool::new(true),
            deadline_ms: AtomicU64::new(u64::MAX),
            send_unregister: false,
            control: (0..shards).map(|_| crossbeam::channel::unbounded().0).collect(),
            drained: (0..shards).map(|_| AtomicBool::new(false)).collect(),
            stopping: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        }
    }

    #[test]
    fn an_idle_shard_waits_for_the_others_and_then_all_stop() {
        let cfg = crate::engine::demo::write().unwrap();
        let router = Arc::new(Router::new(RoutingSnapshot::load(&cfg).unwrap()));
        let now = Now { ms: 1_000, unix_ms: 1_795_478_400_000 };
        let local = Local { host: "127.0.0.1".into(), port: 5060 };
        let mut core = Core::new(0, local, router, 7, now);
        let polls = [mio::Poll::new().unwrap(), mio::Poll::new().unwrap()];
        let shared = shared(2, &polls);
        let mut drain = Drain::default();
        // Shard 0 has nothing left; shard 1 still drains.
        assert!(!drain.step(&mut core, &shared, 0, now));
        assert!(shared.drained[0].load(Ordering::Acquire));
        assert!(!drain.step(&mut core, &shared, 0, now), "it keeps answering");
        // Shard 1 done (or gone): both stop, and a shard that comes back later stops too.
        shared.drained[1].store(true, Ordering::Release);
        assert!(drain.step(&mut core, &shared, 0, now));
        assert!(shared.stopping.load(Ordering::Acquire));
        shared.drained[1].store(false, Ordering::Release);
        assert!(Drain::default().step(&mut core, &shared, 1, now));
        let _ = std::fs::remove_dir_all(cfg.parent().unwrap());
    }
}
