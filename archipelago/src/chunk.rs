//! The seam between the resource layer and whatever stores block bytes.
//!
//! archipelago owns this trait; blockd implements it (local erasure-coded
//! devices today, remote cloud backends and SPDK later). The resource layer
//! only ever names blocks by id and never sees fragments, devices or codes.

use std::time::SystemTime;

use bytes::Bytes;

/// A block id: the BLAKE3 hash of the block's bytes (content addressing).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockId(pub [u8; 32]);

impl BlockId {
    /// Hashes `data` into its block id.
    pub fn of(data: &[u8]) -> BlockId {
        BlockId(*blake3::hash(data).as_bytes())
    }

    /// Lowercase hex form, used for file names and logs.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the 64-character hex form.
    pub fn from_hex(s: &str) -> Option<BlockId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(BlockId(out))
    }

    /// Parses the 32 raw bytes stored in the database.
    pub fn from_slice(b: &[u8]) -> Option<BlockId> {
        Some(BlockId(b.try_into().ok()?))
    }
}

impl std::fmt::Debug for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockId({})", &self.to_hex()[..16])
    }
}

impl std::fmt::Display for BlockId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Errors a chunk store reports to the resource layer.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// The store holds no block with this id (or too few fragments survive
    /// to tell it ever existed).
    #[error("block {0} not found")]
    NotFound(BlockId),
    /// Fragments exist but too few are intact to rebuild the block.
    #[error("block {0} cannot be reconstructed: {1}")]
    Unrecoverable(BlockId, String),
    /// The write could not be made durable on enough devices.
    #[error("block {0} could not be stored durably: {1}")]
    NotDurable(BlockId, String),
    /// An I/O or backend error that is not about one block.
    #[error("chunk store backend: {0}")]
    Backend(String),
}

/// One block as found by [`ChunkStore::list`], for garbage collection.
#[derive(Debug, Clone)]
pub struct StoredBlock {
    pub id: BlockId,
    /// When the block was last written; GC never deletes blocks younger
    /// than its grace period, which covers writes not yet committed.
    pub modified: SystemTime,
}

/// What a scrub/repair pass found and fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairReport {
    pub blocks_checked: u64,
    pub fragments_missing: u64,
    pub fragments_corrupt: u64,
    pub fragments_rewritten: u64,
    pub blocks_unrecoverable: u64,
}

/// Stores immutable blocks by id.
///
/// Contract every implementation keeps (and the conformance suite in
/// `archipelago::chunk::conformance` checks):
/// - `put` is idempotent and returns only once the block is durable under
///   the store's policy; a block that `put` acknowledged reads back
///   byte-identical after a crash of the process.
/// - `get`/`get_range` return exactly the stored bytes, rebuilding from
///   redundancy when parts are missing or corrupt.
/// - `delete` of an absent block succeeds.
#[async_trait::async_trait]
pub trait ChunkStore: Send + Sync + 'static {
    /// Stores `data` under `id` (`id == BlockId::of(&data)`), under the named
    /// storage policy, or the store's default when `policy` is `None`.
    async fn put(&self, id: BlockId, data: Bytes, policy: Option<&str>) -> Result<(), ChunkError>;

    /// Reads the whole block.
    async fn get(&self, id: BlockId) -> Result<Bytes, ChunkError>;

    /// Reads `len` bytes at `offset` of the block. Implementations should
    /// fetch only the fragments that hold the range.
    async fn get_range(&self, id: BlockId, offset: u64, len: u64) -> Result<Bytes, ChunkError> {
        let all = self.get(id).await?;
        let start = (offset as usize).min(all.len());
        let end = (offset.saturating_add(len) as usize).min(all.len());
        Ok(all.slice(start..end))
    }

    /// True when the block is stored (enough fragments exist to read it).
    async fn contains(&self, id: BlockId) -> Result<bool, ChunkError>;

    /// Removes the block and all its fragments. Absent blocks are not an error.
    async fn delete(&self, id: BlockId) -> Result<(), ChunkError>;

    /// Every block the store holds, for garbage collection.
    async fn list(&self) -> Result<Vec<StoredBlock>, ChunkError>;

    /// Checks every fragment and rewrites the missing or corrupt ones.
    async fn repair(&self) -> Result<RepairReport, ChunkError>;

    /// Room for block data under the named policy (the default when
    /// `None`), after the policy's redundancy; `None` when the store cannot
    /// tell.
    async fn capacity(&self, policy: Option<&str>) -> Result<Option<Capacity>, ChunkError> {
        let _ = policy;
        Ok(None)
    }
}

/// Bytes of block data a store holds room for, and of those still free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total: u64,
    pub free: u64,
}
