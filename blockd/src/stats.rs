//! Counters an operator (and the tests) can read: how often reads had to
//! rebuild, what repair fixed, which writes failed after acknowledgement.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by every job.
#[derive(Debug, Default)]
pub struct Stats {
    pub degraded_reads: AtomicU64,
    pub fragments_missing_seen: AtomicU64,
    pub fragments_corrupt_seen: AtomicU64,
    pub fragment_writes_failed: AtomicU64,
    pub fragments_repaired: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Reads that found a missing or corrupt fragment and rebuilt around it.
    pub degraded_reads: u64,
    /// Missing fragments noticed by reads.
    pub fragments_missing_seen: u64,
    /// Corrupt fragments (bad header or chunk checksum) noticed by reads.
    pub fragments_corrupt_seen: u64,
    /// Fragment writes that failed (before or after the put was acknowledged).
    pub fragment_writes_failed: u64,
    /// Fragments rewritten by repair.
    pub fragments_repaired: u64,
}

impl Stats {
    /// Adds `n` to counter `c`.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            degraded_reads: g(&self.degraded_reads),
            fragments_missing_seen: g(&self.fragments_missing_seen),
            fragments_corrupt_seen: g(&self.fragments_corrupt_seen),
            fragment_writes_failed: g(&self.fragment_writes_failed),
            fragments_repaired: g(&self.fragments_repaired),
        }
    }
}
