//! Counters an operator (and the tests) can read: how often reads had to
//! rebuild, what repair fixed, which writes failed after acknowledgement,
//! and how the probe and read caches fare (kept apart in [`CacheStats`],
//! so the health counters above stay still while reads merely hit or miss).

use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::cache::CacheUsage;

/// Live counters, shared by every job.
#[derive(Debug, Default)]
pub struct Stats {
    pub degraded_reads: AtomicU64,
    pub fragments_missing_seen: AtomicU64,
    pub fragments_corrupt_seen: AtomicU64,
    pub fragment_writes_failed: AtomicU64,
    pub fragments_repaired: AtomicU64,
    pub probe_hits: AtomicU64,
    pub probe_misses: AtomicU64,
    pub probe_fallbacks: AtomicU64,
    pub read_hits: AtomicU64,
    pub read_misses: AtomicU64,
    pub read_bypassed: AtomicU64,
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

/// What the caches did since the store opened, and what they hold now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads that found their block's probe cached.
    pub probe_hits: u64,
    /// Reads that had to probe (read every fragment header).
    pub probe_misses: u64,
    /// Reads whose cached probe led to a bad fragment, so they dropped it
    /// and read again with a fresh probe (and reconstruction).
    pub probe_fallbacks: u64,
    /// Small reads served from the read cache alone.
    pub read_hits: u64,
    /// Small reads that went to disk and filled the read cache.
    pub read_misses: u64,
    /// Reads too long for the read cache (see `read_cache_max_read`).
    pub read_bypassed: u64,
    /// The probe cache now (weight = entries).
    pub probe: CacheUsage,
    /// The read cache now (weight = bytes of block data held).
    pub read: CacheUsage,
}

impl Stats {
    /// The cache counters, with the caches' current usage.
    pub fn cache_snapshot(&self, probe: CacheUsage, read: CacheUsage) -> CacheStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            probe_hits: g(&self.probe_hits),
            probe_misses: g(&self.probe_misses),
            probe_fallbacks: g(&self.probe_fallbacks),
            read_hits: g(&self.read_hits),
            read_misses: g(&self.read_misses),
            read_bypassed: g(&self.read_bypassed),
            probe,
            read,
        }
    }
}
