//! The resource layer's one error type.

use crate::chunk::ChunkError;

/// Errors of the resource layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No resource with this id exists.
    #[error("resource {0} not found")]
    NotFound(String),
    /// The operation needs a read-write resource (write, resize) and got a
    /// read-only one.
    #[error("resource {0} is read-only")]
    ReadOnly(String),
    /// An offset or length lies outside the resource.
    #[error("range {offset}+{len} outside resource of {size} bytes")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    /// The producer of an upload failed or went away; nothing was committed.
    #[error("upload aborted: {0}")]
    Aborted(String),
    /// Block bytes could not be stored or read.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// Metadata could not be read or written.
    #[error(transparent)]
    Db(#[from] db::Error),
    /// Persisted metadata breaks an invariant (e.g. a map entry naming a
    /// block row that does not exist).
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// A compute task (hashing, zero detection) panicked.
    #[error("internal task failed: {0}")]
    Task(String),
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Error::Db(db::Error::Query(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
