//! blockd: atoll's block daemon. This crate holds its chunk store,
//! [`LocalStore`], which implements archipelago's
//! [`ChunkStore`](archipelago::ChunkStore) over local device directories.
//!
//! # Role
//! A block (64 KiB to 4 MiB of immutable, content-addressed bytes) is
//! stored under a policy `(k, m, c, x)` as Open vStorage's ALBA defines it:
//! `k` data and `m` Reed-Solomon parity fragments, `put` acknowledged once
//! `c` are durable, at most `x` fragments per device (failure domain).
//! Small blocks can be replicated instead ([`PolicyConfig::replicate_below`]).
//! The code is systematic, so ranged reads touch only the data fragments that
//! hold the range; a missing or corrupt fragment is rebuilt around on read
//! and rewritten by repair.
//!
//! # Dependencies
//! archipelago (the trait it implements) and db only; never a frontend.
//! Configuration arrives as a [`StoreConfig`] value: this crate never reads
//! files or the environment.
//!
//! # Invariants
//! - A fragment file under its final name is complete and fsynced: it is
//!   written under a temp name, fsynced, renamed and its directory fsynced
//!   ([`durable`]). Temp files never count as fragments and are removed at
//!   open.
//! - Every fragment's header carries a crc32c, and its payload a crc32c per
//!   `checksum_chunk` bytes; nothing unverified is returned. Whole-block
//!   reads are also checked against the BLAKE3 block id.
//! - I/O, erasure coding and checksums run on blockd's own worker threads
//!   ([`engine`]), never on the async executor.
//! - Fragment `i` of a block lives on the device that rendezvous hashing
//!   ranks `i`-th for it ([`layout`]).
//! - The caches (probes of healthy blocks, verified bytes of small reads)
//!   hold only what was verified, are bounded by configuration, and forget
//!   a block when it is deleted (and its probe when it is repaired or
//!   rewritten); a cached probe that meets a bad fragment is dropped and
//!   the read is redone from a fresh probe.
//!
//! Byte layout of fragments: `docs/formats/fragment.md`.

mod cache;
pub mod codec;
mod config;
pub mod durable;
pub mod engine;
mod error;
pub mod format;
pub mod layout;
pub mod nbd;
mod ops;
mod stats;
mod store;
pub mod wlog;

pub use config::{Policy, PolicyConfig, Scheme, StoreConfig};
pub use engine::EngineKind;
pub use error::BlockdError;
pub use stats::{CacheStats, CacheUsage, StatsSnapshot};
pub use store::{LocalStore, WRITE_CODE};
