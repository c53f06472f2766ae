//! Streaming upload of a new read-only resource.
//!
//! Bytes arrive in arbitrary pieces; they are cut into blocks, each hashed
//! (BLAKE3, its id) piece by piece as it is copied into its block buffer,
//! and stored while the next one is still being received. The MD5 of the
//! whole stream (Swift's ETag, Glance's checksum) is computed once, piece by
//! piece as it arrives, beside the block work; an upload that asks for it
//! ([`Writer::with_sha512`], Glance's `os_hash_value`) gets SHA-512 on the
//! same thread, so the data is still read once. Nothing is
//! visible until [`Archipelago::commit`] records the map in one transaction;
//! a dropped writer leaves only unreferenced blocks, which GC reclaims.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

use crate::chunk::BlockId;
use crate::digest::{self, Algo};
use crate::error::{Error, Result};
use crate::inflight::Hold;
use crate::{meta, Archipelago};

/// Below this, hashing a block takes microseconds: do it in place rather
/// than paying two thread hops.
const HASH_IN_PLACE: usize = 64 << 10;

/// The outcome of one block: its index, what it became, and the writer's
/// hold on its id (kept until commit so GC cannot take it).
struct BlockDone {
    idx: u64,
    block: Option<(BlockId, u32, Option<Bytes>)>,
    hold: Option<Hold>,
}

/// An upload in progress. Feed it with [`Writer::write`], then
/// [`Writer::finish`]; dropping it abandons the upload.
pub struct Writer {
    arch: Archipelago,
    buf: BytesMut,
    next_idx: u64,
    size: u64,
    pending: VecDeque<JoinHandle<Result<BlockDone>>>,
    done: Vec<BlockDone>,
    md5: Md5Feed,
    policy: String,
    /// BLAKE3 of the bytes in `buf`, fed as they are copied in (while they
    /// are in cache: twice the speed of hashing the 4 MiB block later).
    blk: blake3::Hasher,
    /// No non-zero byte in `buf` yet (an all-zero block is a hole).
    blk_zero: bool,
}

/// The digests of the whole stream: MD5 always, SHA-512 when asked for.
struct Digests {
    md5: digest::Hasher,
    sha512: Option<digest::Hasher>,
}

impl Digests {
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(s) = &mut self.sha512 {
            s.update(data);
        }
    }
}

/// The digests of the stream. Small uploads hash in place; past
/// [`HASH_IN_PLACE`] bytes a thread of the blocking pool takes the hasher
/// and is fed every received piece as it arrives (no copy: the pieces are
/// shared), so MD5, the one computation that cannot be parallelised, runs
/// without gaps beside the block work.
enum Md5Feed {
    InPlace(Box<Digests>),
    Thread {
        tx: tokio::sync::mpsc::Sender<Vec<Bytes>>,
        /// Pieces not yet handed over: sent once they reach
        /// [`MD5_BATCH`] bytes, so the thread is woken per MiB rather than
        /// per network read.
        batch: Vec<Bytes>,
        batched: usize,
        done: tokio::task::JoinHandle<Box<Digests>>,
    },
    Finished,
}

/// Batches queued for the MD5 thread: bounds memory when the network is
/// faster than MD5 (the upload then waits, which slows the client).
const MD5_QUEUE: usize = 2;

/// Bytes of received pieces handed to the MD5 thread at once.
const MD5_BATCH: usize = 1 << 20;

impl Md5Feed {
    async fn feed(&mut self, data: &Bytes, total_after: u64) -> Result<()> {
        match self {
            Md5Feed::InPlace(h) if total_after <= HASH_IN_PLACE as u64 => {
                h.update(data);
                Ok(())
            }
            Md5Feed::InPlace(_) => {
                let Md5Feed::InPlace(mut h) = std::mem::replace(self, Md5Feed::Finished) else {
                    unreachable!()
                };
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(MD5_QUEUE);
                let done = tokio::task::spawn_blocking(move || {
                    while let Some(batch) = rx.blocking_recv() {
                        for b in batch {
                            h.update(&b);
                        }
                    }
                    h
                });
                *self = Md5Feed::Thread {
                    tx,
                    batch: vec![data.clone()],
                    batched: data.len(),
                    done,
                };
                Ok(())
            }
            Md5Feed::Thread {
                tx, batch, batched, ..
            } => {
                batch.push(data.clone());
                *batched += data.len();
                if *batched < MD5_BATCH {
                    return Ok(());
                }
                *batched = 0;
                tx.send(std::mem::take(batch))
                    .await
                    .map_err(|e| Error::Task(e.to_string()))
            }
            Md5Feed::Finished => Err(Error::Task("upload already finished".into())),
        }
    }

    async fn finish(&mut self) -> Result<Box<Digests>> {
        match std::mem::replace(self, Md5Feed::Finished) {
            Md5Feed::InPlace(h) => Ok(h),
            Md5Feed::Thread {
                tx, batch, done, ..
            } => {
                if !batch.is_empty() {
                    tx.send(batch)
                        .await
                        .map_err(|e| Error::Task(e.to_string()))?;
                }
                drop(tx);
                done.await.map_err(|e| Error::Task(e.to_string()))
            }
            Md5Feed::Finished => Err(Error::Task("upload already finished".into())),
        }
    }
}

/// A fully uploaded resource, not yet visible. Commit it with
/// [`Archipelago::commit`]; dropping it abandons the blocks to GC.
pub struct StagedResource {
    pub size: u64,
    /// Lowercase hex MD5 of the whole content.
    pub md5: String,
    /// Lowercase hex SHA-512 of the whole content, when the writer was
    /// asked for it ([`Writer::with_sha512`]).
    pub sha512: Option<String>,
    /// Storage policy the blocks were stored under.
    pub policy: String,
    block_size: u32,
    blocks: Vec<BlockDone>,
}

impl StagedResource {
    /// Bytes that went to the chunk store (not inline, not holes).
    pub fn stored_blocks(&self) -> usize {
        self.blocks
            .iter()
            .filter(|b| matches!(&b.block, Some((_, _, None))))
            .count()
    }
}

impl Writer {
    pub(crate) fn new(arch: Archipelago) -> Writer {
        let bs = arch.cfg.block_size as usize;
        Writer {
            buf: BytesMut::with_capacity(bs.min(1 << 20)),
            next_idx: 0,
            size: 0,
            pending: VecDeque::new(),
            done: Vec::new(),
            md5: Md5Feed::InPlace(Box::new(Digests {
                md5: digest::Hasher::new(Algo::Md5),
                sha512: None,
            })),
            policy: arch.cfg.default_policy.clone(),
            arch,
            blk: blake3::Hasher::new(),
            blk_zero: true,
        }
    }

    /// The id of the block in `buf` (None: all zero), and a fresh hasher.
    fn take_block_id(&mut self) -> Option<BlockId> {
        let zero = std::mem::replace(&mut self.blk_zero, true);
        let id = BlockId(*self.blk.finalize().as_bytes());
        self.blk.reset();
        (!zero).then_some(id)
    }

    /// Also computes the SHA-512 of the content (beside the MD5, on the
    /// same thread). Call before the first write.
    pub fn with_sha512(mut self) -> Writer {
        if let Md5Feed::InPlace(d) = &mut self.md5 {
            d.sha512
                .get_or_insert_with(|| digest::Hasher::new(Algo::Sha512));
        }
        self
    }

    /// Stores the blocks under storage policy `policy` rather than the
    /// default one. Call before the first write.
    pub fn with_policy(mut self, policy: &str) -> Writer {
        self.policy = policy.to_string();
        self
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Appends bytes to the upload.
    pub async fn write(&mut self, mut data: Bytes) -> Result<()> {
        let bs = self.arch.cfg.block_size as usize;
        self.size += data.len() as u64;
        self.md5.feed(&data, self.size).await?;
        while !data.is_empty() {
            if self.buf.is_empty() && data.len() >= bs {
                // Whole block straight from the input: no copy.
                let block = data.split_to(bs);
                self.submit(block, None).await?;
                continue;
            }
            let take = (bs - self.buf.len()).min(data.len());
            if self.buf.capacity() - self.buf.len() < take {
                self.buf.reserve(bs - self.buf.len());
            }
            let piece = data.split_to(take);
            self.buf.extend_from_slice(&piece);
            self.blk.update(&piece);
            if self.blk_zero && !is_zero(&piece) {
                self.blk_zero = false;
            }
            if self.buf.len() == bs {
                let block = self.buf.split().freeze();
                let id = self.take_block_id();
                self.submit(block, Some(id)).await?;
            }
        }
        Ok(())
    }

    /// Stores a block. `known`: its id when computed while it was filled
    /// (inner None: all zero, a hole); else it is hashed here.
    async fn submit(&mut self, block: Bytes, known: Option<Option<BlockId>>) -> Result<()> {
        let idx = self.next_idx;
        self.next_idx += 1;
        let arch = self.arch.clone();
        if block.len() < HASH_IN_PLACE && self.pending.is_empty() {
            let done = store_block(arch, &self.policy, idx, block, known).await?;
            self.done.push(done);
            return Ok(());
        }
        // Waiting here stops reading from the client: back-pressure when
        // all uploads together have too many blocks in flight.
        let permit = self
            .arch
            .block_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let policy = self.policy.clone();
        let task = tokio::spawn(async move {
            let _permit = permit;
            store_block(arch, &policy, idx, block, known).await
        });
        self.pending.push_back(task);
        while self.pending.len() > self.arch.cfg.upload_parallelism {
            self.reap_one().await?;
        }
        Ok(())
    }

    async fn reap_one(&mut self) -> Result<()> {
        if let Some(t) = self.pending.pop_front() {
            let done = t.await.map_err(|e| Error::Task(e.to_string()))??;
            self.done.push(done);
        }
        Ok(())
    }

    /// Ends the upload: stores the last partial block and waits until every
    /// block is durable.
    pub async fn finish(mut self) -> Result<StagedResource> {
        if !self.buf.is_empty() {
            let block = self.buf.split().freeze();
            let id = self.take_block_id();
            self.submit(block, Some(id)).await?;
        }
        while !self.pending.is_empty() {
            self.reap_one().await?;
        }
        let d = self.md5.finish().await?;
        Ok(StagedResource {
            size: self.size,
            md5: d.md5.finish_hex(),
            sha512: d.sha512.map(digest::Hasher::finish_hex),
            policy: self.policy.clone(),
            block_size: self.arch.cfg.block_size,
            blocks: std::mem::take(&mut self.done),
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Abandoned upload: stop the block tasks we can; what they already
        // stored is unreferenced and GC reclaims it after the grace period.
        for t in &self.pending {
            t.abort();
        }
    }
}

/// The id of a block not hashed while it was filled (a whole block taken
/// straight from the input): in place when small, else off the executor.
/// `None` for an all-zero block (stored as a hole).
async fn hash_block(data: &Bytes) -> Result<Option<BlockId>> {
    if data.len() < HASH_IN_PLACE {
        return Ok(hash_or_zero(data));
    }
    let data = data.clone();
    tokio::task::spawn_blocking(move || hash_or_zero(&data))
        .await
        .map_err(|e| Error::Task(e.to_string()))
}

fn hash_or_zero(data: &[u8]) -> Option<BlockId> {
    if is_zero(data) {
        None
    } else {
        Some(BlockId::of(data))
    }
}

/// True when every byte is zero.
pub(crate) fn is_zero(data: &[u8]) -> bool {
    // OR 8 bytes at a time; chunks_exact vectorises well.
    let chunks = data.chunks_exact(8);
    let rest = chunks.remainder();
    let any = chunks.fold(0u64, |a, c| {
        a | u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]))
    });
    any == 0 && rest.iter().all(|b| *b == 0)
}

/// Hashes one block and makes it durable (chunk store or inline).
async fn store_block(
    arch: Archipelago,
    policy: &str,
    idx: u64,
    data: Bytes,
    known: Option<Option<BlockId>>,
) -> Result<BlockDone> {
    let len = data.len() as u32;
    let id = match known {
        Some(id) => id,
        None => hash_block(&data).await?,
    };
    let Some(id) = id else {
        return Ok(BlockDone {
            idx,
            block: None,
            hold: None,
        });
    };
    let hold = arch.inflight.hold(id).await;
    if len < arch.cfg.inline_threshold {
        return Ok(BlockDone {
            idx,
            block: Some((id, len, Some(data))),
            hold: Some(hold),
        });
    }
    // put is idempotent and writes only what is missing, so a block
    // stored before costs no data IO.
    arch.store.put(id, data, Some(policy)).await?;
    Ok(BlockDone {
        idx,
        block: Some((id, len, None)),
        hold: Some(hold),
    })
}

impl Archipelago {
    /// Makes a staged upload a resource, and runs `view` in the same
    /// transaction so the caller's view row (object, image...) appears
    /// together with it or not at all. The new resource has one reference:
    /// the view being created.
    pub async fn commit<T, E, F>(&self, staged: StagedResource, view: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + From<db::Error> + Send + 'static,
        F: FnOnce(&mut db::Conn, &str) -> Result<T, E> + Send + 'static,
    {
        let rid = crate::new_id();
        let StagedResource {
            size,
            block_size,
            blocks,
            policy,
            ..
        } = staged;
        let holds: Vec<Option<Hold>> = Vec::new();
        let (holds, rows) = blocks
            .into_iter()
            .fold((holds, Vec::new()), |(mut h, mut r), b| {
                h.push(b.hold);
                if let Some(bl) = b.block {
                    r.push((b.idx, bl));
                }
                (h, r)
            });
        let out = self
            .db
            .transaction(move |c| {
                let block_rows: Vec<(BlockId, u32, Option<&[u8]>)> = rows
                    .iter()
                    .map(|(_, (id, len, inline))| (*id, *len, inline.as_deref()))
                    .collect();
                meta::insert_blocks(c, &block_rows).map_err(E::from)?;
                let layer = meta::new_layer(c, None).map_err(E::from)?;
                let entries: Vec<(u64, Option<BlockId>)> = rows
                    .iter()
                    .map(|(idx, (id, _, _))| (*idx, Some(*id)))
                    .collect();
                meta::put_entries(c, layer, &entries).map_err(E::from)?;
                meta::insert_resource(c, &rid, meta::Kind::Ro, size, block_size, layer, &policy, 1)
                    .map_err(E::from)?;
                view(c, &rid)
            })
            .await;
        // Only now may GC consider these blocks: they are referenced or the
        // transaction failed and they are garbage.
        drop(holds);
        out
    }
}
