//! The resolved-map cache: for each recently read resource, its size,
//! block size and the resolved map entries (block or hole) of the block
//! indices read, so repeated small reads of a volume (a VM's random reads
//! over NBD) skip the metadata store: measured, the blocking-pool hop and
//! the four queries of a resolution were about half of the server's CPU
//! per 4 KiB NBD read once the chunk store's caches were in place.
//!
//! Correctness rests on one number, [`db::Db::generation`], which moves
//! after every write transaction of this process and before its caller
//! hears back. An entry is stamped with the generation noted *before* the
//! queries that filled it and is used only while the generation has not
//! moved, so no write, snapshot, clone, revert, resize, destage, release
//! or GC that returned before a read began can be missed by that read:
//! each of them commits a transaction. The price is coarseness (any
//! commit empties the cache in effect); a finer, per-resource scheme needs
//! every one of those paths to report the resources it touched.
//!
//! Bounded by an estimate of the bytes held (`Config::map_cache_bytes`);
//! inline block data counts in full. Whole resources are evicted, oldest
//! first, when a new entry would not fit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use crate::meta::BlockRef;

/// Bytes charged per cached map index (key, `BlockRef`, table slack).
const PER_INDEX: usize = 96;
/// Bytes charged per cached resource (its id, fields, table).
const PER_RESOURCE: usize = 256;

/// A range of a resource as resolved: `(size, block_size, offset, len,
/// blocks)`, offset and len clamped to the size, blocks by index (holes
/// absent), as `meta::resolve` returns them.
pub(crate) type Resolved = (u64, u64, u64, u64, HashMap<u64, BlockRef>);

struct Entry {
    generation: u64,
    size: u64,
    block_size: u64,
    /// Resolved indices: `Some` a block, `None` a hole.
    blocks: HashMap<u64, Option<BlockRef>>,
    weight: usize,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Resource ids in insertion order (ids may repeat after
    /// re-insertion; stale ones are skipped when evicting).
    order: VecDeque<String>,
    used: usize,
}

/// The cache; one per [`crate::Archipelago`], shared by its clones.
pub(crate) struct MapCache {
    limit: usize,
    inner: Mutex<Inner>,
}

fn index_weight(b: &Option<BlockRef>) -> usize {
    PER_INDEX
        + b.as_ref()
            .and_then(|b| b.inline.as_ref())
            .map_or(0, |d| d.len())
}

impl MapCache {
    /// A cache of about `limit` bytes; 0 disables it.
    pub fn new(limit: usize) -> MapCache {
        MapCache {
            limit,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.limit > 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Updates keep the fields consistent step by step; a panic while
        // holding the lock (allocation failure) leaves usable state.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `len` bytes at `offset` of `rid` if every index they cover is cached
    /// under generation `generation`.
    pub fn get(&self, rid: &str, generation: u64, offset: u64, len: u64) -> Option<Resolved> {
        let inner = self.lock();
        let e = inner.entries.get(rid)?;
        if e.generation != generation {
            return None;
        }
        let offset = offset.min(e.size);
        let len = len.min(e.size - offset);
        let mut out = HashMap::new();
        if len > 0 {
            for idx in offset / e.block_size..=(offset + len - 1) / e.block_size {
                if let Some(b) = e.blocks.get(&idx)? {
                    out.insert(idx, b.clone());
                }
            }
        }
        Some((e.size, e.block_size, offset, len, out))
    }

    /// Records what a resolution noted under `generation` found for indices
    /// `first..=last` (`blocks` holds the non-holes among them). Dropped if
    /// a write committed since (the generation is no longer `current`).
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        &self,
        rid: &str,
        generation: u64,
        current: u64,
        size: u64,
        block_size: u64,
        indices: std::ops::RangeInclusive<u64>,
        blocks: &HashMap<u64, BlockRef>,
    ) {
        if !self.enabled() || generation != current || block_size == 0 {
            return;
        }
        let mut inner = self.lock();
        let stale = inner
            .entries
            .get(rid)
            .is_some_and(|e| e.generation != generation || e.size != size);
        if stale {
            if let Some(old) = inner.entries.remove(rid) {
                inner.used -= old.weight;
            }
        }
        if !inner.entries.contains_key(rid) {
            inner.entries.insert(
                rid.to_string(),
                Entry {
                    generation,
                    size,
                    block_size,
                    blocks: HashMap::new(),
                    weight: PER_RESOURCE,
                },
            );
            inner.order.push_back(rid.to_string());
            inner.used += PER_RESOURCE;
        }
        let mut added = 0;
        if let Some(e) = inner.entries.get_mut(rid) {
            for idx in indices {
                let b = blocks.get(&idx).cloned();
                let w = index_weight(&b);
                if let Some(old) = e.blocks.insert(idx, b) {
                    added -= index_weight(&old) as isize;
                }
                added += w as isize;
            }
            e.weight = (e.weight as isize + added) as usize;
        }
        inner.used = (inner.used as isize + added) as usize;
        self.evict(&mut inner, rid);
    }

    /// Evicts whole resources, oldest first, until the bound holds; `keep`
    /// (the one just filled) goes last, and alone if even it is too big.
    fn evict(&self, inner: &mut Inner, keep: &str) {
        let mut spared = 0;
        while inner.used > self.limit && spared <= inner.order.len() {
            let Some(rid) = inner.order.pop_front() else {
                break;
            };
            if rid == keep && inner.entries.len() > 1 {
                inner.order.push_back(rid);
                spared += 1;
                continue;
            }
            if let Some(e) = inner.entries.remove(&rid) {
                inner.used -= e.weight;
            }
        }
        // Ids left in `order` whose entry is gone are skipped above; keep
        // the queue from growing without bound on re-insertions.
        if inner.order.len() > 2 * inner.entries.len() + 16 {
            let Inner { entries, order, .. } = &mut *inner;
            let mut seen = std::collections::HashSet::new();
            order.retain(|r| entries.contains_key(r) && seen.insert(r.clone()));
        }
    }

    /// Bytes charged now, and resources held.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.used, inner.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::BlockId;

    fn block(n: u8) -> BlockRef {
        BlockRef {
            id: BlockId([n; 32]),
            len: 4096,
            inline: None,
        }
    }

    fn blocks(idx: &[u64]) -> HashMap<u64, BlockRef> {
        idx.iter().map(|&i| (i, block(i as u8))).collect()
    }

    #[test]
    fn hit_only_for_the_same_generation_and_cached_indices() {
        let c = MapCache::new(1 << 20);
        c.put("r", 5, 5, 10 * 4096, 4096, 0..=3, &blocks(&[1, 2]));
        let (size, bs, off, len, got) = c.get("r", 5, 4096, 8192).unwrap();
        assert_eq!((size, bs, off, len), (40960, 4096, 4096, 8192));
        assert_eq!(got.len(), 2);
        // Index 0 is a cached hole, 4 was never resolved.
        assert_eq!(c.get("r", 5, 0, 100).unwrap().4.len(), 0);
        assert!(c.get("r", 5, 3 * 4096, 4097).is_none());
        assert!(c.get("r", 6, 4096, 10).is_none(), "a commit since");
        // Clamped to the size, as a resolution is.
        let (_, _, off, len, _) = c.get("r", 5, 1 << 30, 10).unwrap();
        assert_eq!((off, len), (40960, 0));
    }

    #[test]
    fn a_resolution_that_raced_a_commit_is_not_kept() {
        let c = MapCache::new(1 << 20);
        c.put("r", 5, 6, 4096, 4096, 0..=0, &blocks(&[0]));
        assert_eq!(c.usage().1, 0);
    }

    #[test]
    fn newer_generation_replaces_the_entry() {
        let c = MapCache::new(1 << 20);
        c.put("r", 1, 1, 8192, 4096, 0..=1, &blocks(&[0, 1]));
        c.put("r", 2, 2, 8192, 4096, 0..=0, &blocks(&[]));
        assert!(
            c.get("r", 2, 4096, 1).is_none(),
            "index 1 was not re-resolved"
        );
        assert_eq!(c.get("r", 2, 0, 1).unwrap().4.len(), 0);
        let (used, n) = c.usage();
        assert_eq!((used, n), (PER_RESOURCE + PER_INDEX, 1));
    }

    #[test]
    fn bytes_stay_within_the_bound() {
        let limit = 4 * PER_RESOURCE + 40 * PER_INDEX;
        let c = MapCache::new(limit);
        for r in 0..20u64 {
            let rid = format!("r{r}");
            c.put(&rid, 1, 1, 1 << 30, 4096, 0..=15, &blocks(&[1, 5, 9]));
            assert!(c.usage().0 <= limit, "{:?}", c.usage());
            assert!(c.get(&rid, 1, 0, 4096).is_some(), "the newest is kept");
        }
        // Re-filling one resource many times does not grow the queue.
        for _ in 0..1000 {
            c.put("r19", 1, 1, 1 << 30, 4096, 0..=15, &blocks(&[1]));
        }
        assert!(c.lock().order.len() < 64);
        // Inline data counts in full.
        let mut big = blocks(&[]);
        big.insert(
            0,
            BlockRef {
                inline: Some(bytes::Bytes::from(vec![1; 60_000])),
                ..block(0)
            },
        );
        c.put("fat", 1, 1, 4096, 4096, 0..=0, &big);
        assert!(c.usage().0 <= limit);
        assert!(c.get("fat", 1, 0, 1).is_none(), "larger than the cache");
    }

    #[test]
    fn zero_disables() {
        let c = MapCache::new(0);
        c.put("r", 1, 1, 4096, 4096, 0..=0, &blocks(&[0]));
        assert!(c.get("r", 1, 0, 1).is_none());
    }
}
