//! Reading a resource: resolve the map once (through the resolved-map
//! cache, `mapcache.rs`), then stream block bytes with a bounded
//! read-ahead. Holes read as zeros without touching the store.

use std::collections::HashMap;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};

use crate::error::{Error, Result};
use crate::mapcache;
use crate::meta::{self, BlockRef};
use crate::Archipelago;

static ZERO_BUF: [u8; 1 << 20] = [0; 1 << 20];

/// A resolved range of a resource, ready to stream.
pub struct Reader {
    arch: Archipelago,
    size: u64,
    block_size: u64,
    offset: u64,
    len: u64,
    blocks: HashMap<u64, BlockRef>,
}

impl Archipelago {
    /// Resolves `len` bytes at `offset` of a resource (clamped to its size).
    pub async fn open(&self, rid: &str, offset: u64, len: u64) -> Result<Reader> {
        let (size, block_size, offset, len, blocks) = self.resolve_range(rid, offset, len).await?;
        Ok(Reader {
            arch: self.clone(),
            size,
            block_size,
            offset,
            len,
            blocks,
        })
    }

    /// The resource's size and block size, `offset` and `len` clamped to
    /// the size, and the map entries (holes absent) of the blocks they
    /// cover: from the resolved-map cache when it holds them under the
    /// current metadata generation, else from the metadata store (then
    /// cached). Every read path resolves through here.
    pub(crate) async fn resolve_range(
        &self,
        rid: &str,
        offset: u64,
        len: u64,
    ) -> Result<mapcache::Resolved> {
        // Noted before anything is read: a commit from here on voids it.
        let generation = self.db.generation();
        if let Some(hit) = self.maps.get(rid, generation, offset, len) {
            return Ok(hit);
        }
        let rid = rid.to_string();
        let maps = self.maps.clone();
        let db = self.db.clone();
        self.db
            .run(move |c| {
                Ok((|| {
                    let row = meta::get_resource(c, &rid)?;
                    let offset = offset.min(row.size);
                    let len = len.min(row.size - offset);
                    let bs = row.block_size as u64;
                    let blocks = if len == 0 {
                        HashMap::new()
                    } else {
                        let chain = meta::chain(c, row.layer_id)?;
                        let (first, last) = (offset / bs, (offset + len - 1) / bs);
                        let blocks = meta::resolve(c, &chain, first, last)?;
                        // Checked here, after the queries: a commit
                        // between them and now leaves the cache alone.
                        let now = db.generation();
                        maps.put(&rid, generation, now, row.size, bs, first..=last, &blocks);
                        blocks
                    };
                    Ok::<_, Error>((row.size, bs, offset, len, blocks))
                })())
            })
            .await?
    }

    /// What the resolved-map cache holds now: an estimate of its bytes
    /// (the figure `Config::map_cache_bytes` bounds) and the resources.
    pub fn map_cache_usage(&self) -> (usize, usize) {
        self.maps.usage()
    }

    /// Reads `len` bytes at `offset` into one buffer (for small reads).
    pub async fn read_at(&self, rid: &str, offset: u64, len: u64) -> Result<Bytes> {
        let reader = self.open(rid, offset, len).await?;
        let mut out = Vec::with_capacity(reader.len as usize);
        let mut s = Box::pin(reader.into_stream());
        while let Some(part) = s.next().await {
            out.extend_from_slice(&part?);
        }
        Ok(Bytes::from(out))
    }
}

impl Reader {
    /// Size of the whole resource.
    pub fn resource_size(&self) -> u64 {
        self.size
    }

    /// Bytes this reader yields.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes, in order, as a stream of pieces.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let Reader {
            arch,
            block_size,
            offset,
            len,
            mut blocks,
            ..
        } = self;
        let end = offset + len;
        let first = offset / block_size;
        let last = if len == 0 {
            first
        } else {
            (end - 1) / block_size + 1
        };
        let ahead = arch.cfg.read_ahead.max(1);
        let pieces = (first..last).map(move |idx| {
            let start = (idx * block_size).max(offset);
            let stop = ((idx + 1) * block_size).min(end);
            (start - idx * block_size, stop - start, blocks.remove(&idx))
        });
        stream::iter(pieces)
            .map(move |(off, n, block)| {
                let arch = arch.clone();
                async move { read_piece(&arch, block, off, n).await }
            })
            .buffered(ahead)
            .flat_map(|r| match r {
                Ok(parts) => stream::iter(parts.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(e) => stream::iter(vec![Err(e)]),
            })
    }
}

/// Reads `n` bytes at `off` within one block (or hole), as one or more pieces.
async fn read_piece(
    arch: &Archipelago,
    block: Option<BlockRef>,
    off: u64,
    n: u64,
) -> Result<Vec<Bytes>> {
    let Some(b) = block else {
        return Ok(zeros(n));
    };
    // A block shorter than the range (the last block of a resource that was
    // later extended) reads as zeros past its end.
    let have = (b.len as u64).saturating_sub(off).min(n);
    let mut out = Vec::with_capacity(2);
    if have > 0 {
        let data = match b.inline {
            Some(d) => d.slice(off as usize..(off + have) as usize),
            None if off == 0 && have == b.len as u64 => arch.store.get(b.id).await?,
            None => arch.store.get_range(b.id, off, have).await?,
        };
        if data.len() as u64 != have {
            return Err(Error::Corrupt(format!(
                "block {} returned {} bytes, expected {have}",
                b.id,
                data.len()
            )));
        }
        out.push(data);
    }
    out.extend(zeros(n - have));
    Ok(out)
}

fn zeros(mut n: u64) -> Vec<Bytes> {
    let mut out = Vec::new();
    while n > 0 {
        let k = n.min(ZERO_BUF.len() as u64) as usize;
        out.push(Bytes::from_static(&ZERO_BUF[..k]));
        n -= k as u64;
    }
    out
}
