//! Real-time scheduling for shard threads (`[server].realtime_priority`).
//!
//! Under the default policy a shard woken by a datagram waits its turn behind
//! whatever else the core runs (on a shared host: load generators, backups),
//! and can be preempted in the middle of a batch. `SCHED_FIFO` makes it run
//! at once and keeps it running until it sleeps again. The price is fewer
//! datagrams per wakeup, so more CPU per call (docs/tuning.md).
#![allow(unsafe_code)] // sched_setscheduler has no safe wrapper in std

use std::io;

/// Puts the calling thread under `SCHED_FIFO` at `priority` (1..=99).
/// Needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` of at least `priority`.
pub fn set_fifo(priority: u32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::try_from(priority).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is
    // the calling thread, so no other thread's state is touched.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's policy.
    fn policy() -> i32 {
        // SAFETY: no arguments but pid 0, the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn fifo_is_set_on_the_calling_thread_only_or_refused_with_a_reason() {
        let before = policy();
        let (result, inside) = std::thread::spawn(|| (set_fifo(1), policy())).join().expect("thread");
        match result {
            Ok(()) => assert_eq!(inside, libc::SCHED_FIFO),
            // Without CAP_SYS_NICE or RLIMIT_RTPRIO: refused, and the thread keeps its policy.
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
                assert_eq!(inside, before);
            }
        }
        assert_eq!(policy(), before, "the test's own thread is untouched");
    }

    #[test]
    fn a_priority_out_of_range_is_an_error() {
        let e = std::thread::spawn(|| set_fifo(100)).join().expect("thread").expect_err("100 > 99");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}");
    }
}
