//! A bounded, sharded, weighted CLOCK cache: the building block of the
//! store's probe cache (block id → its fragments' paths and headers) and
//! read cache ((block id, unit) → verified block bytes).
//!
//! Why CLOCK rather than LRU: a hit only sets a flag (no list splicing), so
//! the critical section of a lookup is a hash probe and a clone. Entries
//! carry a weight (1 per entry for the probe cache, bytes for the read
//! cache) and a shard evicts, sweeping its hand, until the new entry fits.
//!
//! Every key belongs to one block, and all keys of a block land in the same
//! shard (chosen by the block id, itself a uniform hash), so invalidating a
//! block is one shard's business. Each shard has an epoch, bumped by every
//! invalidation: a reader notes the epoch before it goes to disk and its
//! insert is dropped if the epoch moved meanwhile, so a read that raced a
//! delete cannot bring the deleted block back into the cache.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use archipelago::BlockId;

/// A key of the cache: it names the block it belongs to.
pub(crate) trait BlockKey: Hash + Eq + Clone {
    fn block(&self) -> &BlockId;
}

impl BlockKey for BlockId {
    fn block(&self) -> &BlockId {
        self
    }
}

impl BlockKey for (BlockId, u32) {
    fn block(&self) -> &BlockId {
        &self.0
    }
}

struct Slot<K, V> {
    key: K,
    value: V,
    weight: usize,
    referenced: bool,
}

/// One shard: slots swept by the clock hand, an index, and the weight held.
struct Shard<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Option<Slot<K, V>>>,
    free: Vec<usize>,
    hand: usize,
    used: usize,
    limit: usize,
    epoch: u64,
}

impl<K: BlockKey, V: Clone> Shard<K, V> {
    fn new(limit: usize) -> Self {
        Shard {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
            used: 0,
            limit,
            epoch: 0,
        }
    }

    fn take(&mut self, at: usize) {
        if let Some(s) = self.slots[at].take() {
            self.index.remove(&s.key);
            self.used -= s.weight;
            self.free.push(at);
        }
    }

    /// Evicts one entry: the first one the hand finds not referenced since
    /// it last passed (clearing the flags it passes). Terminates within two
    /// sweeps because it clears what it skips.
    fn evict_one(&mut self) {
        let n = self.slots.len();
        for _ in 0..2 * n + 1 {
            let at = self.hand;
            self.hand = (self.hand + 1) % n;
            match &mut self.slots[at] {
                Some(s) if s.referenced => s.referenced = false,
                Some(_) => return self.take(at),
                None => {}
            }
        }
    }

    fn insert(&mut self, key: K, value: V, weight: usize) {
        if let Some(&at) = self.index.get(&key) {
            self.take(at);
        }
        while self.used + weight > self.limit && !self.index.is_empty() {
            self.evict_one();
        }
        let slot = Slot {
            key: key.clone(),
            value,
            weight,
            // New entries start cold: a one-time read (a scan) is the first
            // thing evicted, a re-read one survives a sweep.
            referenced: false,
        };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at] = Some(slot);
                at
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.index.insert(key, at);
        self.used += weight;
    }
}

/// A sharded cache holding at most `limit` total weight.
pub(crate) struct Cache<K, V> {
    shards: Vec<Mutex<Shard<K, V>>>,
}

/// Point-in-time figures of one cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUsage {
    /// Entries held.
    pub entries: u64,
    /// Weight held (entries for the probe cache, bytes for the read cache).
    pub weight: u64,
    /// The configured bound on `weight`.
    pub limit: u64,
}

impl<K: BlockKey, V: Clone> Cache<K, V> {
    /// A cache bounded by `limit` total weight; 0 disables it (every lookup
    /// misses, every insert is dropped). Small limits get one shard so the
    /// bound is not split into shards too small to hold anything.
    pub fn new(limit: usize, min_shard: usize) -> Self {
        let n = if limit >= 16 * min_shard.max(1) {
            16
        } else {
            1
        };
        Cache {
            shards: (0..n).map(|_| Mutex::new(Shard::new(limit / n))).collect(),
        }
    }

    fn shard(&self, id: &BlockId) -> MutexGuard<'_, Shard<K, V>> {
        // Block ids are BLAKE3 hashes: any byte is uniform.
        lock(&self.shards[usize::from(id.0[31]) % self.shards.len()])
    }

    /// The value under `key`, marking it recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut sh = self.shard(key.block());
        let at = *sh.index.get(key)?;
        let s = sh.slots[at].as_mut()?;
        s.referenced = true;
        Some(s.value.clone())
    }

    /// The epoch of `id`'s shard: note it before reading from disk and
    /// pass it to [`Cache::insert`].
    pub fn epoch(&self, id: &BlockId) -> u64 {
        self.shard(id).epoch
    }

    /// Inserts (or replaces) `key`, evicting as needed, unless its block was
    /// invalidated since `epoch` was noted or `weight` alone exceeds what a
    /// shard may hold. Returns whether it was inserted.
    pub fn insert(&self, key: K, value: V, weight: usize, epoch: u64) -> bool {
        let mut sh = self.shard(key.block());
        if sh.epoch != epoch || weight > sh.limit {
            return false;
        }
        sh.insert(key, value, weight);
        true
    }

    /// Drops every entry of block `id` and moves its shard's epoch on, so
    /// reads already under way do not re-insert what they found.
    pub fn invalidate(&self, id: &BlockId) {
        let mut sh = self.shard(id);
        sh.epoch += 1;
        let doomed: Vec<usize> = sh
            .index
            .iter()
            .filter(|(k, _)| k.block() == id)
            .map(|(_, &at)| at)
            .collect();
        for at in doomed {
            sh.take(at);
        }
    }

    /// Entries and weight held, and the bound.
    pub fn usage(&self) -> CacheUsage {
        let mut u = CacheUsage::default();
        for s in &self.shards {
            let s = lock(s);
            u.entries += s.index.len() as u64;
            u.weight += s.used as u64;
            u.limit += s.limit as u64;
        }
        u
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding a shard lock except on allocation
    // failure; the shard's fields stay consistent step by step.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> BlockId {
        let mut b = [0u8; 32];
        b[0] = n;
        // Same shard for all test ids unless a test says otherwise.
        BlockId(b)
    }

    #[test]
    fn hit_miss_and_replace() {
        let c: Cache<BlockId, u32> = Cache::new(10, 1);
        assert_eq!(c.get(&id(1)), None);
        assert!(c.insert(id(1), 7, 1, c.epoch(&id(1))));
        assert_eq!(c.get(&id(1)), Some(7));
        assert!(c.insert(id(1), 8, 1, c.epoch(&id(1))));
        assert_eq!(c.get(&id(1)), Some(8));
        assert_eq!(c.usage().entries, 1);
        assert_eq!(c.usage().weight, 1);
    }

    #[test]
    fn weight_stays_within_the_bound_and_evicts() {
        let c: Cache<(BlockId, u32), Vec<u8>> = Cache::new(1000, 1000);
        for u in 0..100u32 {
            let e = c.epoch(&id(1));
            assert!(c.insert((id(1), u), vec![0; 100], 100, e));
            assert!(c.usage().weight <= 1000);
        }
        assert_eq!(c.usage().entries, 10);
        // The last ones inserted are there, the first ones are gone.
        assert!(c.get(&(id(1), 99)).is_some());
        assert!(c.get(&(id(1), 0)).is_none());
        // Heavier than the whole cache: refused, nothing evicted.
        assert!(!c.insert((id(1), 500), vec![0; 2000], 2000, c.epoch(&id(1))));
        assert_eq!(c.usage().entries, 10);
    }

    #[test]
    fn referenced_entries_survive_a_sweep() {
        let c: Cache<BlockId, u32> = Cache::new(3, 1);
        for n in 0..3 {
            c.insert(id(n), u32::from(n), 1, c.epoch(&id(n)));
        }
        // 0 is hot; 1 and 2 were read once (at insert) only.
        assert!(c.get(&id(0)).is_some());
        c.insert(id(3), 3, 1, c.epoch(&id(3)));
        assert!(c.get(&id(0)).is_some(), "hot entry kept");
        assert!(c.get(&id(3)).is_some());
        assert_eq!(c.usage().entries, 3);
    }

    #[test]
    fn invalidate_drops_a_blocks_entries_and_stale_inserts() {
        let c: Cache<(BlockId, u32), u32> = Cache::new(100, 1);
        let e = c.epoch(&id(1));
        for u in 0..4 {
            c.insert((id(1), u), u, 1, e);
        }
        c.insert((id(2), 0), 9, 1, c.epoch(&id(2)));
        let before = c.epoch(&id(1)); // a read starts
        c.invalidate(&id(1)); // a delete runs meanwhile
        assert!(!c.insert((id(1), 5), 5, 1, before), "stale insert dropped");
        for u in 0..6 {
            assert_eq!(c.get(&(id(1), u)), None);
        }
        assert_eq!(c.get(&(id(2), 0)), Some(9), "other blocks untouched");
        assert!(c.insert((id(1), 0), 0, 1, c.epoch(&id(1))));
    }

    #[test]
    fn zero_disables() {
        let c: Cache<BlockId, u32> = Cache::new(0, 1);
        assert!(!c.insert(id(1), 1, 1, c.epoch(&id(1))));
        assert_eq!(c.get(&id(1)), None);
    }

    #[test]
    fn sharded_bound_holds_across_shards() {
        let c: Cache<BlockId, u32> = Cache::new(1600, 10);
        for n in 0..5000u32 {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&n.to_le_bytes());
            b[31] = (n % 251) as u8;
            let k = BlockId(b);
            c.insert(k, n, 1, c.epoch(&k));
        }
        let u = c.usage();
        assert!(u.weight <= 1600 && u.entries > 1000, "{u:?}");
    }
}
