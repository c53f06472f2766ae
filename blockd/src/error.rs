//! blockd's one error type, and its mapping onto archipelago's
//! [`ChunkError`] at the trait boundary.

use std::path::PathBuf;

use archipelago::{BlockId, ChunkError};

/// Everything that can go wrong in blockd.
#[derive(Debug, thiserror::Error)]
pub enum BlockdError {
    /// The configuration is inconsistent (bad policy, too few devices for a
    /// policy's placement limit, unknown engine name...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A named storage policy that the configuration does not define.
    #[error("unknown storage policy {0:?}")]
    UnknownPolicy(String),
    /// No fragment of the block was found.
    #[error("block {0} not found")]
    NotFound(BlockId),
    /// Fewer than `k` fragments are intact.
    #[error("block {id} cannot be reconstructed: {reason}")]
    Unrecoverable { id: BlockId, reason: String },
    /// Fewer than `c` fragments became durable.
    #[error("block {id}: only {durable} of the {needed} required fragments are durable: {reason}")]
    NotDurable {
        id: BlockId,
        durable: usize,
        needed: usize,
        reason: String,
    },
    /// A file system operation failed outside any one block's read or write
    /// (opening devices, scanning, deleting).
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The I/O workers are gone (the store was shut down).
    #[error("block store is shut down")]
    ShutDown,
}

impl BlockdError {
    /// Wraps an I/O error with what was being done and where.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> BlockdError {
        BlockdError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl From<BlockdError> for ChunkError {
    fn from(e: BlockdError) -> ChunkError {
        let msg = e.to_string();
        match e {
            BlockdError::NotFound(id) => ChunkError::NotFound(id),
            BlockdError::Unrecoverable { id, reason } => ChunkError::Unrecoverable(id, reason),
            BlockdError::NotDurable { id, .. } => ChunkError::NotDurable(id, msg),
            _ => ChunkError::Backend(msg),
        }
    }
}
