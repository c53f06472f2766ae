//! atoll's resource layer: sized, block-mapped byte arrays (resources) that
//! every view (Swift object, Glance image, Cinder volume and snapshot) points at.
//!
//! Depends on `db` only. It knows nothing of Swift, Glance or Cinder; block
//! bytes are reached through the [`ChunkStore`] trait, which blockd implements
//! and the binary hands in.
//!
//! Invariants (see `docs/formats/resources.md` for the persisted form):
//! - A resource's map is a chain of layers; the topmost entry for an index
//!   wins, an absent entry is a hole (zeros). Blocks are immutable and named
//!   by the BLAKE3 hash of their bytes; an all-zero block is never stored.
//! - Layers under a read-only resource never change. A read-write resource's
//!   top layer belongs to it alone, so writes never reach a parent
//!   (copy-on-write). Snapshot and clone add one layer: their cost does not
//!   depend on the data.
//! - A block referenced by any map entry is never deleted; unreferenced blocks
//!   are reclaimed by [`Archipelago::gc`] after a grace period.

pub mod chunk;
pub mod conformance;
mod destage;
pub mod digest;
mod error;
mod export_ops;
mod gc;
mod inflight;
mod mapcache;
#[cfg(test)]
mod mapcache_tests;
pub mod meta;
mod reader;
mod rw;
mod writer;

use std::sync::Arc;
use std::time::Duration;

pub use chunk::{BlockId, Capacity, ChunkError, ChunkStore, RepairReport, StoredBlock};
pub use destage::PendingWrites;
pub use error::{Error, Result};
pub use export_ops::Span;
pub use gc::GcReport;
pub use meta::{Kind, ResourceRow};
pub use reader::Reader;
pub use rw::CloneOptions;
pub use writer::{StagedResource, Writer};

/// Tunables of the resource layer; the binary fills them from its config.
#[derive(Debug, Clone)]
pub struct Config {
    /// Block size of new resources (bytes). Fixed per resource once created.
    pub block_size: u32,
    /// Blocks shorter than this are kept inline in the metadata store
    /// rather than becoming k+m tiny fragments.
    pub inline_threshold: u32,
    /// Blocks hashed and stored concurrently by one upload.
    pub upload_parallelism: usize,
    /// Blocks being hashed and stored by all uploads together: bounds the
    /// memory uploads hold (about this many blocks), whatever their number.
    pub max_blocks_in_flight: usize,
    /// Blocks fetched ahead by one streaming read.
    pub read_ahead: usize,
    /// Unreferenced blocks younger than this are left alone by GC: they may
    /// belong to a write not yet committed.
    pub gc_grace: Duration,
    /// Storage policy name recorded on new resources.
    pub default_policy: String,
    /// Memory, in bytes (an estimate: about 100 per cached block index, plus
    /// inline block data in full), for resolved maps of recently read
    /// resources, so repeated small reads skip the metadata store. Any
    /// write transaction invalidates every entry (see `mapcache.rs`), so it
    /// pays off for read-mostly periods. Default 32 MiB (about 300 000
    /// indices, i.e. 1.2 TiB of 4 MiB blocks); 0 disables.
    pub map_cache_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            block_size: 4 << 20,
            inline_threshold: 64 << 10,
            upload_parallelism: 6,
            max_blocks_in_flight: 24,
            read_ahead: 3,
            gc_grace: Duration::from_secs(3600),
            default_policy: "default".to_string(),
            map_cache_bytes: 32 << 20,
        }
    }
}

/// The resource layer: cheap to clone, shared by every frontend.
#[derive(Clone)]
pub struct Archipelago {
    pub(crate) db: db::Db,
    pub(crate) store: Arc<dyn ChunkStore>,
    pub(crate) cfg: Arc<Config>,
    pub(crate) inflight: inflight::Inflight,
    pub(crate) locks: rw::VolumeLocks,
    pub(crate) block_permits: Arc<tokio::sync::Semaphore>,
    /// Resolved maps of recently read resources (see `mapcache`).
    pub(crate) maps: Arc<mapcache::MapCache>,
    /// The volume write log in front of this layer, if any (see `destage`).
    pub(crate) pending: destage::PendingSlot,
}

impl Archipelago {
    pub fn new(db: db::Db, store: Arc<dyn ChunkStore>, cfg: Config) -> Archipelago {
        let permits = cfg.max_blocks_in_flight.max(1);
        Archipelago {
            db,
            store,
            maps: Arc::new(mapcache::MapCache::new(cfg.map_cache_bytes)),
            block_permits: Arc::new(tokio::sync::Semaphore::new(permits)),
            cfg: Arc::new(cfg),
            inflight: Default::default(),
            locks: Default::default(),
            pending: Default::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn db(&self) -> &db::Db {
        &self.db
    }

    /// Room for block data under storage policy `policy`, as the chunk
    /// store reports it (`None` when it cannot tell).
    pub async fn capacity(&self, policy: &str) -> Result<Option<Capacity>> {
        Ok(self.store.capacity(Some(policy)).await?)
    }

    /// Starts a streaming upload of a new read-only resource.
    pub fn writer(&self) -> Writer {
        Writer::new(self.clone())
    }

    /// The resource's row.
    pub async fn info(&self, rid: &str) -> Result<ResourceRow> {
        let rid = rid.to_string();
        self.db
            .run(move |c| Ok(meta::get_resource(c, &rid)))
            .await?
    }
}

/// A new random resource id (32 lowercase hex characters).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
