//! Read-write resources (volumes): creation, clone, snapshot, writes with
//! copy-on-write, resize and discard.
//!
//! Clone and snapshot only add layers: a read-only resource keeps the layer
//! it had; a read-write resource that is snapshotted or cloned freezes its
//! top layer and continues on a new empty layer above it. Writes always go
//! to the writer's own top layer, so no other resource ever sees them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use db::schema::resources;
use diesel::prelude::*;

use crate::chunk::BlockId;
use crate::error::{Error, Result};
use crate::meta::{self, Kind};
use crate::writer::is_zero;
use crate::Archipelago;

/// One async lock per read-write resource, so read-modify-write of a block
/// by two writers cannot interleave.
#[derive(Default, Clone)]
pub(crate) struct VolumeLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl VolumeLocks {
    pub(crate) fn get(&self, rid: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(rid.to_string()).or_default().clone()
    }
}

impl Archipelago {
    /// Creates an empty (all holes) read-write resource of `size` bytes under
    /// the default policy and runs `view` in the same transaction.
    pub async fn create_rw<T, E, F>(&self, size: u64, view: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + From<db::Error> + Send + 'static,
        F: FnOnce(&mut db::Conn, &str) -> Result<T, E> + Send + 'static,
    {
        let policy = self.cfg.default_policy.clone();
        self.create_rw_with_policy(size, &policy, view).await
    }

    /// Creates an empty read-write resource whose blocks are stored under
    /// `policy` (a volume type's policy) and runs `view` in the same
    /// transaction.
    pub async fn create_rw_with_policy<T, E, F>(
        &self,
        size: u64,
        policy: &str,
        view: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + From<db::Error> + Send + 'static,
        F: FnOnce(&mut db::Conn, &str) -> Result<T, E> + Send + 'static,
    {
        let rid = crate::new_id();
        let bs = self.cfg.block_size;
        let policy = policy.to_string();
        self.db
            .transaction(move |c| {
                let layer = meta::new_layer(c, None).map_err(E::from)?;
                meta::insert_resource(c, &rid, Kind::Rw, size, bs, layer, &policy, 1)
                    .map_err(E::from)?;
                view(c, &rid)
            })
            .await
    }

    /// A new read-write resource starting with `src`'s content (thin clone).
    pub async fn clone_rw<T, E, F>(&self, src: &str, view: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + From<db::Error> + Send + 'static,
        F: FnOnce(&mut db::Conn, &str) -> Result<T, E> + Send + 'static,
    {
        self.clone_rw_with(src, CloneOptions::default(), view).await
    }

    /// A thin clone of `src` that may be larger than its source (the new
    /// space reads as zeros) and may store new writes under another policy;
    /// clone, growth and `view` commit in one transaction, so a crash never
    /// leaves a clone of the wrong size. A `size` below the source's is
    /// [`Error::OutOfRange`].
    pub async fn clone_rw_with<T, E, F>(
        &self,
        src: &str,
        opts: CloneOptions,
        view: F,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + From<db::Error> + Send + 'static,
        F: FnOnce(&mut db::Conn, &str) -> Result<T, E> + Send + 'static,
    {
        // Writes acknowledged to a client but still in a write log become
        // part of the map first, so the clone holds them.
        self.settle(src).await.map_err(E::from)?;
        let src = src.to_string();
        let rid = crate::new_id();
        let lock = self.locks.get(&src);
        // A read-write source is frozen: wait for its writes in progress.
        let _g = lock.lock().await;
        self.db
            .transaction(move |c| {
                let row = meta::get_resource(c, &src).map_err(E::from)?;
                let size = opts.size.unwrap_or(row.size);
                if size < row.size {
                    return Err(E::from(Error::OutOfRange {
                        offset: size,
                        len: 0,
                        size: row.size,
                    }));
                }
                let base = freeze(c, &src).map_err(E::from)?;
                let layer = meta::new_layer(c, Some(base)).map_err(E::from)?;
                let policy = opts.policy.unwrap_or(row.policy);
                meta::insert_resource(c, &rid, Kind::Rw, size, row.block_size, layer, &policy, 1)
                    .map_err(E::from)?;
                // Space past the source's end reads as zeros: holes there,
                // and the reader zero-fills a short last block.
                view(c, &rid)
            })
            .await
    }

    /// Points the read-write resource `rid` at a fresh copy-on-write layer
    /// above the read-only `snapshot`'s content (revert to snapshot). The
    /// resource keeps its id, size and policy, so views and exports naming it
    /// stay valid; its previous top layer is dropped if nothing else uses it.
    /// Space past the snapshot's size reads as zeros.
    pub async fn revert_to(&self, rid: &str, snapshot: &str) -> Result<()> {
        // Pending log writes belong to the content being replaced; they
        // must not be destaged (or replayed) on top of the reverted one.
        self.forget_pending(rid).await?;
        let rid = rid.to_string();
        let snapshot = snapshot.to_string();
        let lock = self.locks.get(&rid);
        let _g = lock.lock().await;
        self.db
            .transaction(move |c| {
                let row = meta::get_resource(c, &rid)?;
                if row.kind != Kind::Rw {
                    return Err(Error::ReadOnly(rid.clone()));
                }
                // Fails with NotFound before anything changes.
                meta::get_resource(c, &snapshot)?;
                let base = freeze(c, &snapshot)?;
                let layer = meta::new_layer(c, Some(base))?;
                diesel::update(resources::table.find(&rid))
                    .set(resources::layer_id.eq(layer))
                    .execute(c)?;
                meta::drop_layer_if_unused(c, row.layer_id)
            })
            .await
    }

    /// A new read-only resource holding `src`'s content as of now.
    pub async fn snapshot<T, E, F>(&self, src: &str, view: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + From<db::Error> + Send + 'static,
        F: FnOnce(&mut db::Conn, &str) -> Result<T, E> + Send + 'static,
    {
        // A snapshot holds every write acknowledged before it, including
        // those still in a write log.
        self.settle(src).await.map_err(E::from)?;
        let src = src.to_string();
        let rid = crate::new_id();
        let lock = self.locks.get(&src);
        // Wait for writes in progress so the snapshot holds all of them.
        let _g = lock.lock().await;
        self.db
            .transaction(move |c| {
                let base = freeze(c, &src).map_err(E::from)?;
                let row = meta::get_resource(c, &src).map_err(E::from)?;
                meta::insert_resource(
                    c,
                    &rid,
                    Kind::Ro,
                    row.size,
                    row.block_size,
                    base,
                    &row.policy,
                    1,
                )
                .map_err(E::from)?;
                view(c, &rid)
            })
            .await
    }

    /// Writes `data` at `offset` of a read-write resource. Durable on return.
    pub async fn write_at(&self, rid: &str, offset: u64, data: Bytes) -> Result<()> {
        let lock = self.locks.get(rid);
        let _g = lock.lock().await;
        let row = self.info(rid).await?;
        if row.kind != Kind::Rw {
            return Err(Error::ReadOnly(rid.to_string()));
        }
        let end = offset.saturating_add(data.len() as u64);
        if end > row.size {
            return Err(Error::OutOfRange {
                offset,
                len: data.len() as u64,
                size: row.size,
            });
        }
        let bs = row.block_size as u64;
        let mut entries = Vec::new();
        let mut block_rows = Vec::new();
        let mut holds = Vec::new();
        let mut pos = offset;
        while pos < end {
            let idx = pos / bs;
            let bstart = idx * bs;
            let blen = bs.min(row.size - bstart);
            let in_off = pos - bstart;
            let n = (blen - in_off).min(end - pos);
            let piece = data.slice((pos - offset) as usize..(pos - offset + n) as usize);
            let content = if in_off == 0 && n == blen {
                piece
            } else {
                // Copy-on-write: merge into the block's current content.
                let cur = self.read_at(rid, bstart, blen).await?;
                let mut b = BytesMut::from(&cur[..]);
                b[in_off as usize..(in_off + n) as usize].copy_from_slice(&piece);
                b.freeze()
            };
            let (entry, stored) = self.store_content(content, &row.policy).await?;
            if let Some((id, len, inline, hold)) = stored {
                block_rows.push((id, len, inline));
                holds.push(hold);
            }
            entries.push((idx, entry));
            pos += n;
        }
        self.commit_entries(rid, entries, block_rows).await?;
        drop(holds);
        Ok(())
    }

    /// Turns whole blocks inside the range into holes and zeroes the
    /// partial blocks at its edges (TRIM / WRITE_ZEROES).
    pub async fn discard(&self, rid: &str, offset: u64, len: u64) -> Result<()> {
        let row = self.info(rid).await?;
        let end = offset.saturating_add(len).min(row.size);
        let bs = row.block_size as u64;
        let first_full = offset.div_ceil(bs);
        let last_full = end / bs; // exclusive
        if first_full >= last_full {
            return self
                .write_at(rid, offset, Bytes::from(vec![0; (end - offset) as usize]))
                .await;
        }
        if offset < first_full * bs {
            self.write_at(
                rid,
                offset,
                Bytes::from(vec![0; (first_full * bs - offset) as usize]),
            )
            .await?;
        }
        if last_full * bs < end {
            self.write_at(
                rid,
                last_full * bs,
                Bytes::from(vec![0; (end - last_full * bs) as usize]),
            )
            .await?;
        }
        let lock = self.locks.get(rid);
        let _g = lock.lock().await;
        let entries = (first_full..last_full).map(|i| (i, None)).collect();
        self.commit_entries(rid, entries, Vec::new()).await
    }

    /// Grows a read-write resource; new space reads as zeros.
    pub async fn resize(&self, rid: &str, new_size: u64) -> Result<()> {
        // Pending writes were checked against the old size; settle them
        // before the size changes under them.
        self.settle(rid).await?;
        let rid = rid.to_string();
        self.db
            .transaction(move |c| {
                let row = meta::get_resource(c, &rid)?;
                if row.kind != Kind::Rw {
                    return Err(Error::ReadOnly(rid.clone()));
                }
                if new_size < row.size {
                    return Err(Error::OutOfRange {
                        offset: new_size,
                        len: 0,
                        size: row.size,
                    });
                }
                diesel::update(resources::table.find(&rid))
                    .set(resources::size.eq(new_size as i64))
                    .execute(c)?;
                Ok(())
            })
            .await
    }

    #[allow(clippy::type_complexity)]
    pub(crate) async fn store_content(
        &self,
        content: Bytes,
        policy: &str,
    ) -> Result<(
        Option<BlockId>,
        Option<(BlockId, u32, Option<Bytes>, crate::inflight::Hold)>,
    )> {
        let c2 = content.clone();
        let id = tokio::task::spawn_blocking(move || (!is_zero(&c2)).then(|| BlockId::of(&c2)))
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let Some(id) = id else {
            return Ok((None, None));
        };
        let hold = self.inflight.hold(id).await;
        let len = content.len() as u32;
        if len < self.cfg.inline_threshold {
            return Ok((Some(id), Some((id, len, Some(content), hold))));
        }
        // put is idempotent and writes only what is missing, so a block
        // stored before costs no data IO.
        self.store.put(id, content, Some(policy)).await?;
        Ok((Some(id), Some((id, len, None, hold))))
    }

    pub(crate) async fn commit_entries(
        &self,
        rid: &str,
        entries: Vec<(u64, Option<BlockId>)>,
        blocks: Vec<(BlockId, u32, Option<Bytes>)>,
    ) -> Result<()> {
        let rid = rid.to_string();
        self.db
            .transaction(move |c| {
                let row = meta::get_resource(c, &rid)?;
                let rows: Vec<_> = blocks
                    .iter()
                    .map(|(id, l, d)| (*id, *l, d.as_deref()))
                    .collect();
                meta::insert_blocks(c, &rows)?;
                meta::put_entries(c, row.layer_id, &entries)
            })
            .await
    }
}

/// How a thin clone differs from its source.
#[derive(Debug, Clone, Default)]
pub struct CloneOptions {
    /// Size of the clone in bytes; `None` keeps the source's.
    pub size: Option<u64>,
    /// Policy new writes are stored under; `None` keeps the source's.
    pub policy: Option<String>,
}

/// Returns a layer holding `src`'s current content that will never change
/// again. A read-write `src` moves on to a fresh top layer above it.
fn freeze(c: &mut db::Conn, src: &str) -> Result<i64> {
    let row = meta::get_resource(c, src)?;
    if row.kind == Kind::Ro {
        return Ok(row.layer_id);
    }
    let top = meta::new_layer(c, Some(row.layer_id))?;
    diesel::update(resources::table.find(src))
        .set(resources::layer_id.eq(top))
        .execute(c)?;
    Ok(row.layer_id)
}
