//! Volume operations that block exports (NBD today, vhost-user-blk later)
//! need beyond `write_at`/`read_at`/`discard`: zeroing a range, the
//! volume's sync point, and the sparse view of a range (which parts are
//! holes) that lets a client skip what reads as zeros.
//!
//! Durability contract, as exports rely on it: `write_at` and `discard`
//! commit their blocks and map entries before they return, so a write is
//! durable once its call returns and [`Archipelago::flush_volume`] has
//! nothing left to do. When writes land in a volume write log first (DESIGN,
//! "Volume write path"), `flush_volume` becomes the point where that log is
//! made durable, and exports already call it for FLUSH and FUA.

use std::collections::HashMap;

use bytes::Bytes;
use db::schema::map_entries;
use diesel::prelude::*;
use futures::stream::{self, StreamExt};

use crate::error::{Error, Result};
use crate::meta::{self, BlockRef, Kind};
use crate::Archipelago;

/// One piece of an [`Archipelago::read_sparse`] result: its length and
/// `Ok(Some(bytes))` for data, `Ok(None)` for bytes that read as zeros (a
/// hole in the map, or the part of a short block past its end), `Err` for
/// bytes that could not be read. Plain types: blockd matches on it and
/// this module is private to the crate.
pub type Span = (u64, Result<Option<Bytes>>);

impl Archipelago {
    /// Makes `len` bytes at `offset` of a read-write resource read as zeros.
    ///
    /// Whole blocks in the range become holes and partial blocks at its
    /// edges are rewritten with zeros (the same map `write_at` of zeros
    /// would leave, since an all-zero block is never stored: thin
    /// provisioning has no allocation to keep). Unlike `discard`, the range
    /// is checked: it must lie inside the resource.
    pub async fn write_zeroes(&self, rid: &str, offset: u64, len: u64) -> Result<()> {
        let row = self.info(rid).await?;
        if row.kind != Kind::Rw {
            return Err(Error::ReadOnly(rid.to_string()));
        }
        if offset.checked_add(len).is_none_or(|end| end > row.size) {
            return Err(Error::OutOfRange {
                offset,
                len,
                size: row.size,
            });
        }
        if len == 0 {
            return Ok(());
        }
        self.discard(rid, offset, len).await
    }

    /// Returns once every write to `rid` that returned before this call is
    /// durable. Today that holds already (see the module docs); the call
    /// checks that the resource still exists so a flush of a deleted
    /// volume fails instead of pretending.
    pub async fn flush_volume(&self, rid: &str) -> Result<()> {
        self.info(rid).await.map(|_| ())
    }

    /// The allocation of `len` bytes at `offset` (clamped to the resource)
    /// as runs `(length, is_hole)` in order, adjacent runs of the same kind
    /// merged. A block is data if the topmost map entry for its index names
    /// a block, a hole if that entry is NULL or absent (DESIGN: an all-zero
    /// block is never stored, so data runs are never all zeros as a whole).
    ///
    /// One metadata query, reading map entries only: no block is touched.
    /// Its cost grows with the blocks in the range, so callers serving
    /// untrusted requests bound `len`.
    pub async fn extents(&self, rid: &str, offset: u64, len: u64) -> Result<Vec<(u64, bool)>> {
        let rid = rid.to_string();
        let (bs, offset, len, data) = self
            .db
            .run(move |c| {
                Ok((|| {
                    let row = meta::get_resource(c, &rid)?;
                    let offset = offset.min(row.size);
                    let len = len.min(row.size - offset);
                    let bs = row.block_size as u64;
                    if len == 0 {
                        return Ok::<_, Error>((bs, offset, len, HashMap::new()));
                    }
                    let chain = meta::chain(c, row.layer_id)?;
                    let (first, last) = (offset / bs, (offset + len - 1) / bs);
                    let rows: Vec<(i64, i64, bool)> = map_entries::table
                        .filter(map_entries::layer_id.eq_any(&chain))
                        .filter(map_entries::idx.between(first as i64, last as i64))
                        .select((
                            map_entries::layer_id,
                            map_entries::idx,
                            map_entries::block_id.is_not_null(),
                        ))
                        .load(c)?;
                    Ok((bs, offset, len, topmost(&chain, rows)))
                })())
            })
            .await??;
        let mut runs: Vec<(u64, bool)> = Vec::new();
        let end = offset + len;
        let mut at = offset;
        while at < end {
            let idx = at / bs;
            let stop = ((idx + 1) * bs).min(end);
            let hole = !data.get(&idx).copied().unwrap_or(false);
            match runs.last_mut() {
                Some((n, h)) if *h == hole => *n += stop - at,
                _ => runs.push((stop - at, hole)),
            }
            at = stop;
        }
        Ok(runs)
    }

    /// Reads `len` bytes at `offset` (clamped to the resource) as data and
    /// hole spans, so a sparse export can say "zeros here" instead of
    /// sending them. One metadata query; blocks are fetched with the same
    /// bounded read-ahead as [`Archipelago::read_at`]. A block that cannot
    /// be read becomes a failed span of its range and the others are
    /// still returned; only a metadata failure fails the call.
    pub async fn read_sparse(&self, rid: &str, offset: u64, len: u64) -> Result<Vec<Span>> {
        let (_, bs, offset, len, mut blocks) = self.resolve_range(rid, offset, len).await?;
        let end = offset + len;
        let pieces: Vec<(u64, u64, Option<BlockRef>)> = if len == 0 {
            Vec::new()
        } else {
            (offset / bs..=(end - 1) / bs)
                .map(|idx| {
                    let start = (idx * bs).max(offset);
                    let stop = ((idx + 1) * bs).min(end);
                    (start - idx * bs, stop - start, blocks.remove(&idx))
                })
                .collect()
        };
        let arch = self.clone();
        let parts: Vec<Vec<Span>> = stream::iter(pieces)
            .map(move |(off, n, block)| {
                let arch = arch.clone();
                async move { read_block_sparse(&arch, block, off, n).await }
            })
            .buffered(self.cfg.read_ahead.max(1))
            .collect()
            .await;
        let mut out: Vec<Span> = Vec::new();
        for s in parts.into_iter().flatten() {
            match (out.last_mut(), s) {
                (Some((a, Ok(None))), (b, Ok(None))) => *a += b,
                (_, s) => out.push(s),
            }
        }
        Ok(out)
    }
}

/// For each index, whether the topmost layer's entry names a block.
fn topmost(chain: &[i64], rows: Vec<(i64, i64, bool)>) -> HashMap<u64, bool> {
    let depth_of: HashMap<i64, usize> = chain.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let mut best: HashMap<u64, (usize, bool)> = HashMap::new();
    for (layer, idx, present) in rows {
        let d = depth_of.get(&layer).copied().unwrap_or(usize::MAX);
        let e = best.entry(idx as u64).or_insert((usize::MAX, false));
        if d < e.0 {
            *e = (d, present);
        }
    }
    best.into_iter().map(|(i, (_, p))| (i, p)).collect()
}

/// `n` bytes at `off` within one block (or hole) as spans.
async fn read_block_sparse(
    arch: &Archipelago,
    block: Option<BlockRef>,
    off: u64,
    n: u64,
) -> Vec<Span> {
    let Some(b) = block else {
        return vec![(n, Ok(None))];
    };
    // A block shorter than the range (the last block of a resource that was
    // later extended) reads as zeros past its end.
    let have = (b.len as u64).saturating_sub(off).min(n);
    let mut out = Vec::with_capacity(2);
    if have > 0 {
        let data = match b.inline {
            Some(d) => Ok(d.slice(off as usize..(off + have) as usize)),
            None if off == 0 && have == b.len as u64 => arch.store.get(b.id).await,
            None => arch.store.get_range(b.id, off, have).await,
        };
        match data.map_err(Error::from) {
            Ok(d) if d.len() as u64 == have => out.push((have, Ok(Some(d)))),
            Ok(d) => {
                let e = Error::Corrupt(format!(
                    "block {} returned {} bytes, expected {have}",
                    b.id,
                    d.len()
                ));
                return vec![(n, Err(e))];
            }
            Err(e) => return vec![(n, Err(e))],
        }
    }
    if n > have {
        out.push((n - have, Ok(None)));
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::testutil::setup;

    #[tokio::test]
    async fn write_zeroes_makes_holes_and_zeroes_edges() {
        let (_d, arch, _s) = setup(4096);
        let rid = arch
            .create_rw(5 * 4096 + 100, |_c, rid| {
                Ok::<_, crate::Error>(rid.to_string())
            })
            .await
            .unwrap();
        let data = Bytes::from(vec![0xab; 5 * 4096 + 100]);
        arch.write_at(&rid, 0, data).await.unwrap();
        // From the middle of block 0 into the middle of block 3.
        arch.write_zeroes(&rid, 1000, 3 * 4096).await.unwrap();
        let got = arch.read_at(&rid, 0, 5 * 4096 + 100).await.unwrap();
        assert!(got[..1000].iter().all(|&b| b == 0xab));
        assert!(got[1000..1000 + 3 * 4096].iter().all(|&b| b == 0));
        assert!(got[1000 + 3 * 4096..].iter().all(|&b| b == 0xab));
        // Zeroing the short last block.
        arch.write_zeroes(&rid, 5 * 4096, 100).await.unwrap();
        let tail = arch.read_at(&rid, 5 * 4096, 100).await.unwrap();
        assert!(tail.iter().all(|&b| b == 0));
    }

    #[tokio::test]
    async fn write_zeroes_checks_range_and_kind() {
        let (_d, arch, _s) = setup(4096);
        let rid = arch
            .create_rw(8192, |_c, rid| Ok::<_, crate::Error>(rid.to_string()))
            .await
            .unwrap();
        assert!(matches!(
            arch.write_zeroes(&rid, 8000, 200).await,
            Err(crate::Error::OutOfRange { .. })
        ));
        assert!(matches!(
            arch.write_zeroes(&rid, u64::MAX, 2).await,
            Err(crate::Error::OutOfRange { .. })
        ));
        arch.write_zeroes(&rid, 8192, 0).await.unwrap();
        let snap = arch
            .snapshot(&rid, |_c, rid| Ok::<_, crate::Error>(rid.to_string()))
            .await
            .unwrap();
        assert!(matches!(
            arch.write_zeroes(&snap, 0, 10).await,
            Err(crate::Error::ReadOnly(_))
        ));
        arch.flush_volume(&rid).await.unwrap();
        assert!(matches!(
            arch.flush_volume("nope").await,
            Err(crate::Error::NotFound(_))
        ));
    }

    fn id(_c: &mut db::Conn, rid: &str) -> Result<String, crate::Error> {
        Ok(rid.to_string())
    }

    #[tokio::test]
    async fn extents_follow_the_layered_map_and_merge_runs() {
        let (_d, arch, _s) = setup(4096);
        let size = 10 * 4096 + 100;
        let rid = arch.create_rw(size, id).await.unwrap();
        assert_eq!(
            arch.extents(&rid, 0, size).await.unwrap(),
            vec![(size, true)]
        );
        for b in [1u64, 2, 5] {
            let data = Bytes::from(vec![b as u8; 4096]);
            arch.write_at(&rid, b * 4096, data).await.unwrap();
        }
        let want = vec![
            (4096, true),
            (8192, false),
            (8192, true),
            (4096, false),
            (4 * 4096 + 100, true),
        ];
        assert_eq!(arch.extents(&rid, 0, size).await.unwrap(), want);
        // Unaligned start and end inside blocks; clamped to the size.
        assert_eq!(
            arch.extents(&rid, 4096 + 10, 4096).await.unwrap(),
            vec![(4096, false)]
        );
        assert_eq!(
            arch.extents(&rid, 100, 9000).await.unwrap(),
            vec![(3996, true), (5004, false)]
        );
        assert_eq!(
            arch.extents(&rid, size - 50, 1 << 40).await.unwrap(),
            vec![(50, true)]
        );
        assert_eq!(arch.extents(&rid, size, 10).await.unwrap(), vec![]);
        // A clone sees its parent's blocks; a discard in the clone is an
        // explicit hole that hides the parent's block.
        let snap = arch.snapshot(&rid, id).await.unwrap();
        let clone = arch.clone_rw(&snap, id).await.unwrap();
        assert_eq!(arch.extents(&clone, 0, size).await.unwrap(), want);
        arch.discard(&clone, 4096, 4096).await.unwrap();
        arch.write_at(&clone, 9 * 4096, Bytes::from(vec![9u8; 4096]))
            .await
            .unwrap();
        assert_eq!(
            arch.extents(&clone, 0, size).await.unwrap(),
            vec![
                (8192, true),
                (4096, false),
                (8192, true),
                (4096, false),
                (3 * 4096, true),
                (4096, false),
                (100, true),
            ]
        );
        assert!(matches!(
            arch.extents("nope", 0, 1).await,
            Err(crate::Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn read_sparse_returns_data_and_merged_holes() {
        let (_d, arch, _s) = setup(4096);
        let size = 6 * 4096 + 100;
        let rid = arch.create_rw(size, id).await.unwrap();
        arch.write_at(&rid, 4096, Bytes::from(vec![1u8; 8192]))
            .await
            .unwrap();
        // The short tail block (100 bytes, above the inline threshold).
        arch.write_at(&rid, 6 * 4096, Bytes::from(vec![2u8; 100]))
            .await
            .unwrap();
        let spans = arch.read_sparse(&rid, 100, size).await.unwrap();
        let shape: Vec<(u64, Option<u8>)> = spans
            .iter()
            .map(|(n, r)| (*n, r.as_ref().unwrap().as_ref().map(|d| d[0])))
            .collect();
        assert_eq!(
            shape,
            vec![
                (3996, None),
                (4096, Some(1)),
                (4096, Some(1)),
                (3 * 4096, None),
                (100, Some(2)),
            ]
        );
        // The bytes are those read_at returns.
        let flat: Vec<u8> = spans
            .into_iter()
            .flat_map(|(n, r)| match r.unwrap() {
                Some(d) => d.to_vec(),
                None => vec![0; n as usize],
            })
            .collect();
        assert_eq!(flat, arch.read_at(&rid, 100, size).await.unwrap());
        assert!(arch.read_sparse(&rid, size, 5).await.unwrap().is_empty());
    }
}
