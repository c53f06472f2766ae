//! Reads: only the chunks of the data fragments that hold the range, and a
//! rebuild of just that column range from `k` other fragments when one of
//! them is missing or corrupt.
//!
//! Two caches sit in front (see `cache.rs`): the probe cache spares a read
//! of a healthy block from reading all `k + m` headers first, and the read
//! cache keeps verified units of small reads so a hot range costs no I/O
//! at all. Neither holds anything unverified, and a cached probe is only
//! trusted as far as the chunk checksums of the data it leads to.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use archipelago::BlockId;
use bytes::{Bytes, BytesMut};

use super::probe::{probe, BlockMeta, Frag, Slot};
use super::Shared;
use crate::codec::codec_for;
use crate::engine::{Io, ReadReq};
use crate::error::BlockdError;
use crate::stats::Stats;

/// The part of the requested range held by one data fragment.
struct Piece {
    frag: usize,
    /// Fragment-payload bytes wanted.
    want: (u64, u64),
    /// Whole checksum chunks covering `want`, and their byte span.
    chunks: Range<usize>,
    span: (u64, u64),
    data: Option<Vec<u8>>,
}

/// Checks a payload read of chunks `chunks` (bytes `span`) of fragment
/// `f`: the bytes, or why they cannot be used.
fn verify(
    f: &Frag,
    chunks: &Range<usize>,
    span: (u64, u64),
    read: crate::engine::ReadResult,
) -> Result<Vec<u8>, String> {
    match read.map(|mut b| b.pop().unwrap_or_default()) {
        Ok(buf) if buf.len() as u64 != span.1 - span.0 => {
            Err(format!("short payload ({} bytes)", buf.len()))
        }
        Ok(buf) => match f.header.verify_chunks(chunks, &buf) {
            Ok(()) => Ok(buf),
            Err(c) => Err(format!("checksum mismatch in chunk {c}")),
        },
        Err(e) => Err(format!("read: {e}")),
    }
}

/// [`verify`], marking the fragment corrupt in `meta` on failure.
fn accept(
    meta: &mut BlockMeta,
    i: usize,
    chunks: &Range<usize>,
    span: (u64, u64),
    read: crate::engine::ReadResult,
) -> Option<Vec<u8>> {
    let f = meta.frag(i)?;
    let why = match verify(f, chunks, span, read) {
        Ok(buf) => return Some(buf),
        Err(why) => why,
    };
    meta.slots[i] = Slot::Corrupt {
        path: f.path.clone(),
        why,
    };
    None
}

/// Reads `span` (payload bytes) of fragment `i` from every `i` in `frags`
/// and keeps the ones whose chunk checksums match; marks the others
/// corrupt in `meta`.
pub(crate) fn read_span(
    io: &mut dyn Io,
    meta: &mut BlockMeta,
    frags: &[usize],
    chunks: &Range<usize>,
    span: (u64, u64),
) -> Vec<(usize, Vec<u8>)> {
    let mut reqs = Vec::new();
    let mut which = Vec::new();
    for &i in frags {
        if let Some(f) = meta.frag(i) {
            let at = f.header.header_len() as u64 + span.0;
            reqs.push(ReadReq {
                path: f.path.clone(),
                ranges: vec![(at, (span.1 - span.0) as usize)],
            });
            which.push(i);
        }
    }
    let mut good = Vec::new();
    for (i, r) in which.into_iter().zip(io.read(&reqs)) {
        if let Some(buf) = accept(meta, i, chunks, span, r) {
            good.push((i, buf));
        }
    }
    good
}

/// Rebuilds fragments `wanted` over payload span `span` from the other
/// intact fragments. Returns the rebuilt buffers in `wanted` order.
pub(crate) fn rebuild_span(
    io: &mut dyn Io,
    meta: &mut BlockMeta,
    wanted: &[usize],
    chunks: &Range<usize>,
    span: (u64, u64),
) -> Result<Vec<Vec<u8>>, BlockdError> {
    let (k, n) = (meta.k(), meta.n());
    let sources: Vec<usize> = (0..n)
        .filter(|i| !wanted.contains(i) && meta.frag(*i).is_some())
        .collect();
    // Read k first (data fragments first: fewer bytes to decode through);
    // only if some fail verification, read the rest.
    let (first, rest) = sources.split_at(sources.len().min(k));
    let mut got = read_span(io, meta, first, chunks, span);
    if got.len() < k && !rest.is_empty() {
        got.extend(read_span(io, meta, rest, chunks, span));
    }
    if got.len() < k {
        return Err(BlockdError::Unrecoverable {
            id: meta.id,
            reason: format!("only {} of the {k} fragments needed are intact", got.len()),
        });
    }
    let len = (span.1 - span.0) as usize;
    let mut frags: Vec<Option<&[u8]>> = vec![None; n];
    for (i, b) in &got {
        frags[*i] = Some(b.as_slice());
    }
    let codec = codec_for(meta.set.code, k, n - k).map_err(|e| BlockdError::Unrecoverable {
        id: meta.id,
        reason: e.to_string(),
    })?;
    let mut out = vec![vec![0u8; len]; wanted.len()];
    let mut refs: Vec<&mut [u8]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
    codec
        .reconstruct(&frags, wanted, &mut refs)
        .map_err(|e| BlockdError::Unrecoverable {
            id: meta.id,
            reason: e.to_string(),
        })?;
    Ok(out)
}

/// Logs and counts the bad fragments a read ran into.
pub(crate) fn report(sh: &Shared, meta: &BlockMeta, rebuilt: bool) {
    let (missing, corrupt) = meta.bad();
    if missing.is_empty() && corrupt.is_empty() {
        return;
    }
    Stats::add(&sh.stats.fragments_missing_seen, missing.len() as u64);
    Stats::add(&sh.stats.fragments_corrupt_seen, corrupt.len() as u64);
    if rebuilt {
        Stats::add(&sh.stats.degraded_reads, 1);
    }
    for i in &corrupt {
        if let Slot::Corrupt { path, why } = &meta.slots[*i] {
            tracing::warn!(block = %meta.id, fragment = i, path = %path.display(), why, "corrupt fragment");
        }
    }
    if !missing.is_empty() {
        tracing::warn!(block = %meta.id, ?missing, rebuilt, "missing fragments; repair will rewrite them");
    }
}

/// The pieces (one per data fragment) holding block bytes `start..end`.
fn plan(meta: &BlockMeta, start: u64, end: u64) -> Vec<Piece> {
    let fl = meta.set.fragment_len;
    (start / fl..=(end - 1) / fl)
        .map(|j| {
            let base = j * fl;
            let want = (start.max(base) - base, end.min(base + fl) - base);
            let chunks = meta.set.chunks_for(want.0, want.1);
            let span = meta.set.chunk_span(&chunks);
            Piece {
                frag: j as usize,
                want,
                chunks,
                span,
                data: None,
            }
        })
        .collect()
}

/// One batch of reads for the pieces whose fragment is known good; the
/// piece index of each request.
fn requests(meta: &BlockMeta, pieces: &[Piece]) -> (Vec<ReadReq>, Vec<usize>) {
    let mut reqs = Vec::with_capacity(pieces.len());
    let mut which = Vec::with_capacity(pieces.len());
    for (p, piece) in pieces.iter().enumerate() {
        if let Some(f) = meta.frag(piece.frag) {
            let at = f.header.header_len() as u64 + piece.span.0;
            reqs.push(ReadReq {
                path: f.path.clone(),
                ranges: vec![(at, (piece.span.1 - piece.span.0) as usize)],
            });
            which.push(p);
        }
    }
    (reqs, which)
}

/// The requested bytes, cut from the pieces' chunk spans. With `exact`,
/// the result owns an allocation of just its own length (a cache entry is
/// charged by length); without, it may share a larger buffer read.
fn assemble(mut pieces: Vec<Piece>, len: u64, exact: bool) -> Bytes {
    let cut = |piece: &Piece| {
        let (a, b) = (
            (piece.want.0 - piece.span.0) as usize,
            (piece.want.1 - piece.span.0) as usize,
        );
        (a, b)
    };
    if let [piece] = pieces.as_mut_slice() {
        // One fragment holds it all (the common small read): hand out the
        // buffer read without another copy.
        let (a, b) = cut(piece);
        let buf = piece.data.take().unwrap_or_default();
        if exact && (a, b) != (0, buf.len()) {
            return Bytes::copy_from_slice(&buf[a..b]);
        }
        return Bytes::from(buf).slice(a..b);
    }
    let mut out = BytesMut::with_capacity(len as usize);
    for piece in &pieces {
        let (a, b) = cut(piece);
        out.extend_from_slice(&piece.data.as_deref().unwrap_or_default()[a..b]);
    }
    out.freeze()
}

/// Reads `len` bytes at `offset` of block `id` (clamped to its size),
/// trusting a cached probe when there is one: then only the fragment files
/// holding the range are opened. If any of them fails (gone, short, bad
/// checksum) the probe is dropped and the read is redone from a fresh one,
/// which rebuilds around the damage and reports it.
pub(crate) fn read_range(
    io: &mut dyn Io,
    sh: &Shared,
    id: &BlockId,
    offset: u64,
    len: u64,
    exact: bool,
) -> Result<Bytes, BlockdError> {
    match sh.probes.get(id) {
        Some(meta) => {
            Stats::add(&sh.stats.probe_hits, 1);
            if let Some(b) = read_known(io, &meta, offset, len, exact) {
                return Ok(b);
            }
            Stats::add(&sh.stats.probe_fallbacks, 1);
            sh.probes.invalidate(id);
        }
        None => Stats::add(&sh.stats.probe_misses, 1),
    }
    read_probed(io, sh, id, offset, len, exact)
}

/// A read over a cached probe of a healthy block; `None` as soon as any
/// fragment read does not check out (the caller starts over).
fn read_known(
    io: &mut dyn Io,
    meta: &BlockMeta,
    offset: u64,
    len: u64,
    exact: bool,
) -> Option<Bytes> {
    let size = meta.set.block_size;
    let (start, end) = (offset.min(size), offset.saturating_add(len).min(size));
    if start == end {
        return Some(Bytes::new());
    }
    let mut pieces = plan(meta, start, end);
    let (reqs, which) = requests(meta, &pieces);
    if which.len() != pieces.len() {
        return None;
    }
    for (p, r) in which.into_iter().zip(io.read(&reqs)) {
        let piece = &mut pieces[p];
        let f = meta.frag(piece.frag)?;
        piece.data = Some(verify(f, &piece.chunks, piece.span, r).ok()?);
    }
    Some(assemble(pieces, end - start, exact))
}

/// A read that probes the block first (every header), rebuilds what is
/// missing or corrupt, and caches the probe if every fragment it touched
/// checked out.
pub(crate) fn read_probed(
    io: &mut dyn Io,
    sh: &Shared,
    id: &BlockId,
    offset: u64,
    len: u64,
    exact: bool,
) -> Result<Bytes, BlockdError> {
    // Noted before the probe: a delete or repair meanwhile voids the insert.
    let epoch = sh.probes.epoch(id);
    let mut meta = probe(io, sh, id)?;
    let size = meta.set.block_size;
    let (start, end) = (offset.min(size), offset.saturating_add(len).min(size));
    if start == end {
        report(sh, &meta, false);
        remember(sh, meta, epoch);
        return Ok(Bytes::new());
    }
    let mut pieces = plan(&meta, start, end);
    // One batch for all data fragments involved.
    let (reqs, which) = requests(&meta, &pieces);
    for (p, r) in which.into_iter().zip(io.read(&reqs)) {
        let piece = &mut pieces[p];
        piece.data = accept(&mut meta, piece.frag, &piece.chunks, piece.span, r);
    }
    // Rebuild what failed, grouped by column span.
    let mut groups: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
    for (p, piece) in pieces.iter().enumerate() {
        if piece.data.is_none() {
            groups.entry(piece.span).or_default().push(p);
        }
    }
    let rebuilt = !groups.is_empty();
    for (span, ps) in groups {
        let wanted: Vec<usize> = ps.iter().map(|&p| pieces[p].frag).collect();
        let chunks = pieces[ps[0]].chunks.clone();
        let bufs = rebuild_span(io, &mut meta, &wanted, &chunks, span)
            .inspect_err(|_| report(sh, &meta, false))?;
        for (p, buf) in ps.into_iter().zip(bufs) {
            pieces[p].data = Some(buf);
        }
    }
    report(sh, &meta, rebuilt);
    let out = assemble(pieces, end - start, exact);
    remember(sh, meta, epoch);
    Ok(out)
}

/// Caches the probe of a block whose every fragment checked out (headers,
/// and the chunks this read verified); a damaged block is not cached, so
/// every read of it probes and reports until repair fixes it.
fn remember(sh: &Shared, meta: BlockMeta, epoch: u64) {
    if meta.good() == meta.n() {
        sh.probes.insert(meta.id, Arc::new(meta), 1, epoch);
    } else {
        sh.probes.invalidate(&meta.id);
    }
}

/// Reads `len` bytes at `offset` of block `id` through the read cache:
/// whole units (`sh.unit` bytes, aligned in the block) are read, verified,
/// kept, and the range is cut from them. The caller has checked that the
/// range is short enough (`cache_max_read`).
pub(crate) fn read_units(
    io: &mut dyn Io,
    sh: &Shared,
    id: &BlockId,
    offset: u64,
    len: u64,
) -> Result<Bytes, BlockdError> {
    let unit = sh.unit;
    let first = offset / unit;
    let epoch = sh.units.epoch(id);
    let last = (offset + len.max(1) - 1) / unit;
    let data = read_range(io, sh, id, first * unit, (last - first + 1) * unit, true)?;
    let skip = (offset - first * unit) as usize;
    if data.len() <= skip {
        return Ok(Bytes::new());
    }
    if first == last {
        // One unit, read `exact`: the entry can share the buffer without a
        // copy and still own just what it is charged for.
        if let Ok(u) = u32::try_from(first) {
            sh.units.insert((*id, u), data.clone(), data.len(), epoch);
        }
    } else {
        for (i, part) in data.chunks(unit as usize).enumerate() {
            // A copy per unit, so each entry owns exactly the memory it is
            // charged for (a slice would keep the whole read alive).
            let Ok(u) = u32::try_from(first + i as u64) else {
                break;
            };
            sh.units
                .insert((*id, u), Bytes::copy_from_slice(part), part.len(), epoch);
        }
    }
    let end = (skip + len as usize).min(data.len());
    Ok(data.slice(skip..end))
}

/// The range from the read cache alone, or `None` if a unit it needs is
/// not cached. Runs on the async side: memory only.
pub(crate) fn cached_range(sh: &Shared, id: &BlockId, offset: u64, len: u64) -> Option<Bytes> {
    let unit = sh.unit;
    let end = offset.checked_add(len)?;
    let (first, last) = (offset / unit, (end - 1) / unit);
    let mut parts = Vec::with_capacity((last - first + 1) as usize);
    for u in first..=last {
        let d = sh.units.get(&(*id, u32::try_from(u).ok()?))?;
        let short = (d.len() as u64) < unit;
        parts.push(d);
        if short {
            break; // the block ends in this unit
        }
    }
    let base = first * unit;
    let have = base + parts.iter().map(|d| d.len() as u64).sum::<u64>();
    let (start, stop) = (offset.min(have), end.min(have));
    if let [d] = parts.as_slice() {
        return Some(d.slice((start - base) as usize..(stop - base) as usize));
    }
    let mut out = BytesMut::with_capacity((stop - start) as usize);
    let mut at = base;
    for d in &parts {
        let (a, b) = (start.max(at), stop.min(at + d.len() as u64));
        if a < b {
            out.extend_from_slice(&d[(a - at) as usize..(b - at) as usize]);
        }
        at += d.len() as u64;
    }
    Some(out.freeze())
}

/// Reads the whole block and checks it hashes to its id: the end-to-end
/// check behind the per-chunk checksums.
///
/// It always probes afresh (every header): a whole-block read is large
/// next to a probe, and so header damage keeps being noticed and reported
/// by whole reads while small reads trust the probe cache.
pub(crate) fn read_block(io: &mut dyn Io, sh: &Shared, id: &BlockId) -> Result<Bytes, BlockdError> {
    let data = read_probed(io, sh, id, 0, u64::MAX, false)?;
    if BlockId::of(&data) != *id {
        return Err(BlockdError::Unrecoverable {
            id: *id,
            reason: "rebuilt data does not hash to the block id".into(),
        });
    }
    Ok(data)
}
