//! [`LocalStore`]: the chunk store over local device directories, and its
//! `ChunkStore` implementation. Every method hands its work to the I/O
//! workers (or, for directory walks, tokio's blocking pool) and awaits the
//! reply, so the async executor never blocks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use archipelago::{BlockId, Capacity, ChunkError, ChunkStore, RepairReport, StoredBlock};
use bytes::Bytes;
use tokio::sync::oneshot;

use crate::cache::Cache;
use crate::codec::CodeId;
use crate::config::{self, Policy, StoreConfig};
use crate::durable;
use crate::engine::{Engine, EngineKind};
use crate::error::BlockdError;
use crate::layout::Layout;
use crate::ops::{self, Shared};
use crate::stats::{CacheStats, Stats, StatsSnapshot};

/// The erasure code new blocks are written with (ISA-L: see the `codec`
/// benchmark and `docs/formats/fragment.md`).
pub const WRITE_CODE: CodeId = CodeId::IsalCauchy;

/// Erasure-coded block storage on local directories, one failure domain
/// each.
pub struct LocalStore {
    shared: Arc<Shared>,
    engine: Engine,
}

impl LocalStore {
    /// Validates `config`, creates the root and device directories, removes
    /// temp files a crash left behind, and starts the I/O threads. Blocking:
    /// call it at startup (or from `spawn_blocking`).
    pub fn open(config: StoreConfig) -> Result<LocalStore, BlockdError> {
        let devices = config.device_dirs();
        if devices.is_empty() {
            return Err(BlockdError::Config("no devices".into()));
        }
        let policies = config::validate(&config, devices.len(), WRITE_CODE)?;
        for d in std::iter::once(&config.root).chain(&devices) {
            durable::ensure_dir(d).map_err(|e| BlockdError::io("creating", d, e))?;
        }
        for d in &devices {
            let n = durable::clean_temp_files(d).map_err(|e| BlockdError::io("cleaning", d, e))?;
            if n > 0 {
                tracing::info!(device = %d.display(), removed = n, "removed temp files left by a crash");
            }
        }
        let max_fragments = policies
            .values()
            .map(|p| usize::from(p.coded.k) + usize::from(p.coded.m))
            .max()
            .unwrap_or(1);
        let engine = Engine::start(config.io_threads, &config.io_engine, config.ring_entries)?;
        tracing::info!(engine = ?engine.kind(), threads = config.io_threads, devices = devices.len(), "block store open");
        let shared = Arc::new(Shared {
            layout: Layout::new(devices),
            policies,
            default_policy: config.default_policy,
            chunk_size: config.checksum_chunk,
            max_fragments,
            stats: Stats::default(),
            writes: Mutex::new(Default::default()),
            write_done: Default::default(),
            probes: Cache::new(config.probe_cache_entries, 64),
            units: Cache::new(
                usize::try_from(config.read_cache_bytes).unwrap_or(usize::MAX),
                4 << 20,
            ),
            unit: u64::from(config.read_cache_unit),
            cache_max_read: if config.read_cache_bytes == 0 {
                0
            } else {
                config.read_cache_max_read
            },
        });
        Ok(LocalStore { shared, engine })
    }

    /// The I/O method the workers use (io_uring unless the kernel refused).
    pub fn io_engine(&self) -> EngineKind {
        self.engine.kind()
    }

    /// The counters (degraded reads, repairs, failed writes).
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The cache counters and what the caches hold now.
    pub fn cache_stats(&self) -> CacheStats {
        let sh = &self.shared;
        sh.stats.cache_snapshot(sh.probes.usage(), sh.units.usage())
    }

    /// The device directories, in configuration order.
    pub fn devices(&self) -> &[PathBuf] {
        self.shared.layout.devices()
    }

    /// The validated policy named `name` (or the default).
    pub fn policy(&self, name: Option<&str>) -> Result<&Policy, BlockdError> {
        let name = name.unwrap_or(&self.shared.default_policy);
        self.shared
            .policies
            .get(name)
            .ok_or_else(|| BlockdError::UnknownPolicy(name.to_string()))
    }

    /// Room for block data under `policy`: the free and total space of the
    /// device filesystems (each filesystem counted once) times k/(k+m) of
    /// the policy's code.
    pub async fn capacity_of(&self, policy: Option<&str>) -> Result<Capacity, BlockdError> {
        let coded = self.policy(policy)?.coded;
        let devices = self.devices().to_vec();
        let (total, free) = tokio::task::spawn_blocking(move || fs_space(&devices))
            .await
            .map_err(|_| BlockdError::ShutDown)??;
        let share =
            |raw: u64| (raw as u128 * coded.k as u128 / (coded.k as u128 + coded.m as u128)) as u64;
        Ok(Capacity {
            total: share(total),
            free: share(free),
        })
    }

    /// Finishes queued I/O and joins the worker threads. Later calls fail
    /// with [`BlockdError::ShutDown`]. Also done on drop.
    pub fn shutdown(&self) {
        self.engine.shutdown();
    }

    /// Waits until every acknowledged put has finished writing its
    /// remaining fragments (the ones past `c`), so what is on disk is the
    /// whole set. For tests, benchmarks and orderly maintenance.
    pub async fn quiesce(&self) -> Result<(), BlockdError> {
        let sh = self.shared.clone();
        self.engine.run(move |_io| sh.wait_all_writes()).await
    }

    /// `put` with blockd's own error type.
    pub async fn put_block(
        &self,
        id: BlockId,
        data: Bytes,
        policy: Option<&str>,
    ) -> Result<(), BlockdError> {
        let scheme = self.policy(policy)?.scheme_for(data.len() as u64);
        let (tx, rx) = oneshot::channel();
        let sh = self.shared.clone();
        self.engine.submit(Box::new(move |io| {
            ops::put::put(io, &sh, id, data, scheme, tx)
        }))?;
        let r = rx.await.map_err(|_| BlockdError::ShutDown)?;
        // A put may have filled in fragments a cached probe knew elsewhere.
        self.shared.probes.invalidate(&id);
        r
    }

    /// `get_range` with blockd's own error type. A short read is served
    /// from the read cache when all of it is there (no I/O thread is
    /// involved: a few lookups under a shard lock), otherwise read by whole
    /// units on an I/O worker and cached; a long one goes straight to disk.
    pub async fn read_range(
        &self,
        id: BlockId,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, BlockdError> {
        let sh = self.shared.clone();
        // Unit indices are u32: offsets past 2^32 units (far beyond any
        // block) just read directly, and come back empty.
        let cacheable = offset
            .checked_add(len)
            .is_some_and(|e| (e - 1) / sh.unit <= u64::from(u32::MAX));
        if len == 0 || len > sh.cache_max_read || !cacheable {
            if len > 0 && sh.cache_max_read > 0 {
                Stats::add(&sh.stats.read_bypassed, 1);
            }
            return self
                .engine
                .run(move |io| ops::read::read_range(io, &sh, &id, offset, len, false))
                .await?;
        }
        if let Some(b) = ops::read::cached_range(&sh, &id, offset, len) {
            Stats::add(&sh.stats.read_hits, 1);
            return Ok(b);
        }
        Stats::add(&sh.stats.read_misses, 1);
        self.engine
            .run(move |io| ops::read::read_units(io, &sh, &id, offset, len))
            .await?
    }

    /// `repair` with blockd's own error type. Blocks are checked one at a
    /// time, so repair occupies at most one I/O worker and foreground reads
    /// and writes keep the others.
    pub async fn repair_all(&self) -> Result<RepairReport, BlockdError> {
        let mut report = RepairReport::default();
        for b in self.list_blocks().await? {
            let sh = self.shared.clone();
            let r = self
                .engine
                .run(move |io| {
                    let r = ops::repair::repair_block(io, &sh, &b.id);
                    // Fragments may have moved or been rewritten.
                    sh.probes.invalidate(&b.id);
                    r
                })
                .await?;
            report.blocks_checked += 1;
            report.fragments_missing += r.missing;
            report.fragments_corrupt += r.corrupt;
            report.fragments_rewritten += r.rewritten;
            report.blocks_unrecoverable += u64::from(r.unrecoverable);
        }
        Ok(report)
    }

    /// `list` with blockd's own error type. Lists every block with at least
    /// one fragment file, except first puts not yet acknowledged. That
    /// includes sets left with fewer than `k` fragments by a crash in the
    /// middle of a put (never acknowledged): GC is what reclaims those. The
    /// walk runs on tokio's blocking pool.
    pub async fn list_blocks(&self) -> Result<Vec<StoredBlock>, BlockdError> {
        let devices = self.devices().to_vec();
        let mut blocks = tokio::task::spawn_blocking(move || ops::scan::list(&devices))
            .await
            .map_err(|_| BlockdError::ShutDown)??;
        // A first put still short of `c` durable fragments is not stored yet.
        blocks.retain(|b| !self.shared.writing(&b.id));
        Ok(blocks)
    }
}

impl Drop for LocalStore {
    fn drop(&mut self) {
        self.engine.shutdown();
    }
}

/// Total and available bytes of the filesystems holding `dirs`, each
/// filesystem once. Blocking (statvfs).
fn fs_space(dirs: &[PathBuf]) -> Result<(u64, u64), BlockdError> {
    let mut seen = std::collections::HashSet::new();
    let (mut total, mut free) = (0u64, 0u64);
    for d in dirs {
        let path = std::ffi::CString::new(d.as_os_str().as_encoded_bytes())
            .map_err(|_| BlockdError::Config(format!("device path {} has a NUL", d.display())))?;
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is NUL-terminated and `st` is written by statvfs
        // before it is read (only when it returns 0).
        let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
        if rc != 0 {
            return Err(BlockdError::io(
                "statvfs",
                d.clone(),
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: statvfs returned 0, so it filled `st`.
        let st = unsafe { st.assume_init() };
        if !seen.insert(st.f_fsid) {
            continue;
        }
        total += st.f_blocks * st.f_frsize;
        free += st.f_bavail * st.f_frsize;
    }
    Ok((total, free))
}

#[async_trait::async_trait]
impl ChunkStore for LocalStore {
    async fn capacity(&self, policy: Option<&str>) -> Result<Option<Capacity>, ChunkError> {
        Ok(Some(self.capacity_of(policy).await?))
    }

    async fn put(&self, id: BlockId, data: Bytes, policy: Option<&str>) -> Result<(), ChunkError> {
        Ok(self.put_block(id, data, policy).await?)
    }

    async fn get(&self, id: BlockId) -> Result<Bytes, ChunkError> {
        let sh = self.shared.clone();
        Ok(self
            .engine
            .run(move |io| ops::read::read_block(io, &sh, &id))
            .await??)
    }

    async fn get_range(&self, id: BlockId, offset: u64, len: u64) -> Result<Bytes, ChunkError> {
        Ok(self.read_range(id, offset, len).await?)
    }

    async fn contains(&self, id: BlockId) -> Result<bool, ChunkError> {
        let sh = self.shared.clone();
        let r = self
            .engine
            .run(move |io| match ops::probe::probe(io, &sh, &id) {
                Ok(meta) => Ok(meta.good() >= meta.k() && !sh.writing(&id)),
                Err(BlockdError::NotFound(_) | BlockdError::Unrecoverable { .. }) => Ok(false),
                Err(e) => Err(e),
            })
            .await?;
        Ok(r?)
    }

    async fn delete(&self, id: BlockId) -> Result<(), ChunkError> {
        let sh = self.shared.clone();
        Ok(self
            .engine
            .run(move |_io| {
                let r = ops::scan::delete(&sh, &id);
                // After the files are gone; reads racing the delete see
                // the epoch move and do not cache what they found.
                sh.invalidate(&id);
                r
            })
            .await??)
    }

    async fn list(&self) -> Result<Vec<StoredBlock>, ChunkError> {
        Ok(self.list_blocks().await?)
    }

    async fn repair(&self) -> Result<RepairReport, ChunkError> {
        Ok(self.repair_all().await?)
    }
}
