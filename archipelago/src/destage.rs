//! The seam between the resource layer and a volume write log that sits in
//! front of it (blockd's `wlog`), and the one call a destager needs.
//!
//! archipelago knows nothing of blockd: the log registers itself through the
//! consumer-owned [`PendingWrites`] trait. Before an operation that must see
//! every acknowledged write of a volume (snapshot, clone, resize) the layer
//! asks the log to `settle` it (make its pending writes part of the map);
//! before one that replaces the content wholesale (revert) it asks the log
//! to `forget` them. Without a registered log both are no-ops.
//!
//! [`Archipelago::destage_blocks`] stores a set of whole blocks under the
//! volume's policy and commits all their map entries in one transaction,
//! holding every new block against GC (`inflight`) until the commit.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::meta::Kind;
use crate::Archipelago;

/// Writes acknowledged to a client but not yet in a resource's map. Owned
/// by the consumer of this seam (archipelago), implemented by the write log.
#[async_trait::async_trait]
pub trait PendingWrites: Send + Sync + 'static {
    /// Returns once every write to `rid` acknowledged before the call is
    /// part of `rid`'s map.
    async fn settle(&self, rid: &str) -> Result<()>;
    /// Drops every pending write to `rid` (its content is being replaced or
    /// it is gone); returns once they can never reappear, not even after a
    /// crash and replay.
    async fn forget(&self, rid: &str) -> Result<()>;
}

/// The optional registration, shared by every clone of an [`Archipelago`].
pub(crate) type PendingSlot = Arc<OnceLock<Arc<dyn PendingWrites>>>;

impl Archipelago {
    /// Registers the volume write log. Once only: a second call is ignored
    /// (and returns false), since two logs in front of one layer would each
    /// hide the other's writes.
    pub fn set_pending_writes(&self, p: Arc<dyn PendingWrites>) -> bool {
        self.pending.set(p).is_ok()
    }

    pub(crate) async fn settle(&self, rid: &str) -> Result<()> {
        match self.pending.get() {
            Some(p) => p.settle(rid).await,
            None => Ok(()),
        }
    }

    pub(crate) async fn forget_pending(&self, rid: &str) -> Result<()> {
        match self.pending.get() {
            Some(p) => p.forget(rid).await,
            None => Ok(()),
        }
    }

    /// Replaces whole blocks of the read-write resource `rid`: each
    /// `(index, content)` becomes a new immutable block (or a hole when all
    /// zeros) under the resource's policy, and all map entries commit in one
    /// transaction. `content` must be exactly the block's length (the last
    /// block of a resource may be short). Durable on return.
    pub async fn destage_blocks(&self, rid: &str, blocks: Vec<(u64, Bytes)>) -> Result<()> {
        let row = self.info(rid).await?;
        if row.kind != Kind::Rw {
            return Err(Error::ReadOnly(rid.to_string()));
        }
        let bs = row.block_size as u64;
        for (idx, b) in &blocks {
            let start = idx.saturating_mul(bs);
            let want = bs.min(row.size.saturating_sub(start));
            if start >= row.size || b.len() as u64 != want {
                return Err(Error::OutOfRange {
                    offset: start,
                    len: b.len() as u64,
                    size: row.size,
                });
            }
        }
        // Serialises with write_at/discard of the same volume (the old,
        // unlogged path) and with snapshot's freeze.
        let lock = self.locks.get(rid);
        let _g = lock.lock().await;
        let mut entries = Vec::with_capacity(blocks.len());
        let mut rows = Vec::new();
        let mut holds = Vec::new();
        for (idx, content) in blocks {
            let (entry, stored) = self.store_content(content, &row.policy).await?;
            if let Some((id, len, inline, hold)) = stored {
                rows.push((id, len, inline));
                holds.push(hold);
            }
            entries.push((idx, entry));
        }
        self.commit_entries(rid, entries, rows).await?;
        // Only now may GC consider the new blocks: their entries exist.
        drop(holds);
        Ok(())
    }
}
