//! The chunk store's operations as they run on an I/O worker thread. Each
//! takes the worker's [`Io`](crate::engine::Io) and the store's [`Shared`]
//! state; `store.rs` wraps them into async trait methods.

pub(crate) mod probe;
pub(crate) mod put;
pub(crate) mod read;
pub(crate) mod repair;
pub(crate) mod scan;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use archipelago::BlockId;

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
    /// Blocks whose first `put` is writing but not yet acknowledged: their
    /// files may already carry final names, but they are not durable
    /// under their policy yet, so `contains` says no.
    pub inflight: Mutex<HashMap<BlockId, usize>>,
}

impl Shared {
    fn inflight(&self) -> MutexGuard<'_, HashMap<BlockId, usize>> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a first write of `id` as started.
    pub fn begin_write(&self, id: BlockId) {
        *self.inflight().entry(id).or_insert(0) += 1;
    }

    /// Marks it ended (acknowledged or failed).
    pub fn end_write(&self, id: BlockId) {
        let mut m = self.inflight();
        if let Some(n) = m.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                m.remove(&id);
            }
        }
    }

    /// True while a first write of `id` is unacknowledged.
    pub fn writing(&self, id: &BlockId) -> bool {
        self.inflight().contains_key(id)
    }
}
