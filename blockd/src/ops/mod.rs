//! The chunk store's operations as they run on an I/O worker thread. Each
//! takes the worker's [`Io`](crate::engine::Io) and the store's [`Shared`]
//! state; `store.rs` wraps them into async trait methods.

pub(crate) mod probe;
pub(crate) mod put;
pub(crate) mod read;
pub(crate) mod repair;
pub(crate) mod scan;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use archipelago::BlockId;
use bytes::Bytes;

use crate::cache::Cache;
use crate::config::Policy;
use crate::layout::Layout;
use crate::stats::Stats;

/// State every job reads; owned by the store behind an `Arc`.
pub(crate) struct Shared {
    pub layout: Layout,
    pub policies: BTreeMap<String, Policy>,
    pub default_policy: String,
    pub chunk_size: u32,
    /// Most fragments any policy writes: how many indices readers probe.
    pub max_fragments: usize,
    pub stats: Stats,
    /// Puts in progress, per block (see [`Writes`]).
    pub writes: Mutex<HashMap<BlockId, Writes>>,
    /// Signalled whenever a put job ends.
    pub write_done: Condvar,
    /// Probes of healthy blocks (see `read.rs`); dropped on delete, repair
    /// and put of the block.
    pub probes: Cache<BlockId, Arc<probe::BlockMeta>>,
    /// Verified block bytes by (block, unit index); dropped on delete.
    pub units: Cache<(BlockId, u32), Bytes>,
    /// Bytes per read-cache unit (a power of two).
    pub unit: u64,
    /// Longest read the read cache serves; 0 when it is disabled.
    pub cache_max_read: u64,
}

/// Puts of one block in progress.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Writes {
    /// Jobs still writing fragments (before or after acknowledging).
    pub running: usize,
    /// First writes not yet acknowledged: their files may already carry
    /// final names, but they are not durable under their policy yet, so
    /// `contains` says no.
    pub unacked: usize,
}

impl Shared {
    /// Forgets everything cached about `id`, which is being deleted. (Repair
    /// and put forget only the probe: the block's bytes never change.)
    pub fn invalidate(&self, id: &BlockId) {
        self.probes.invalidate(id);
        self.units.invalidate(id);
    }

    fn writes(&self) -> MutexGuard<'_, HashMap<BlockId, Writes>> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A put job starts writing `id`; `fresh` when the block was not stored.
    pub fn begin_write(&self, id: BlockId, fresh: bool) {
        let mut m = self.writes();
        let w = m.entry(id).or_default();
        w.running += 1;
        w.unacked += usize::from(fresh);
    }

    /// A fresh put of `id` was acknowledged (or failed).
    pub fn acked(&self, id: BlockId) {
        if let Some(w) = self.writes().get_mut(&id) {
            w.unacked = w.unacked.saturating_sub(1);
        }
    }

    /// A put job finished every fragment write it started.
    pub fn end_write(&self, id: BlockId) {
        let mut m = self.writes();
        if let Some(w) = m.get_mut(&id) {
            w.running -= 1;
            if w.running == 0 {
                m.remove(&id);
            }
        }
        self.write_done.notify_all();
    }

    /// True while a first write of `id` is unacknowledged.
    pub fn writing(&self, id: &BlockId) -> bool {
        self.writes().get(id).is_some_and(|w| w.unacked > 0)
    }

    /// Blocks (this worker thread) until no put at all is still writing.
    pub fn wait_all_writes(&self) {
        let mut m = self.writes();
        while !m.is_empty() {
            m = self.write_done.wait(m).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks (this worker thread) until no put of `id` is still writing,
    /// so a delete cannot be outrun by a fragment that an acknowledged put
    /// finishes after it.
    pub fn wait_writes(&self, id: &BlockId) {
        let mut m = self.writes();
        while m.contains_key(id) {
            m = self.write_done.wait(m).unwrap_or_else(|e| e.into_inner());
        }
    }
}
