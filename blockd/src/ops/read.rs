//! Reads: only the chunks of the data fragments that hold the range, and a
//! rebuild of just that column range from `k` other fragments when one of
//! them is missing or corrupt.

use std::collections::BTreeMap;
use std::ops::Range;

use archipelago::BlockId;
use bytes::{Bytes, BytesMut};

use super::probe::{probe, BlockMeta, Slot};
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
/// `i`; on failure marks the fragment corrupt in `meta`.
fn accept(
    meta: &mut BlockMeta,
    i: usize,
    chunks: &Range<usize>,
    span: (u64, u64),
    read: crate::engine::ReadResult,
) -> Option<Vec<u8>> {
    let f = meta.frag(i)?;
    let why = match read.map(|mut b| b.pop().unwrap_or_default()) {
        Ok(buf) if buf.len() as u64 != span.1 - span.0 => {
            format!("short payload ({} bytes)", buf.len())
        }
        Ok(buf) => match f.header.verify_chunks(chunks, &buf) {
            Ok(()) => return Some(buf),
            Err(c) => format!("checksum mismatch in chunk {c}"),
        },
        Err(e) => format!("read: {e}"),
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

/// Reads `len` bytes at `offset` of block `id` (clamped to its size).
pub(crate) fn read_range(
    io: &mut dyn Io,
    sh: &Shared,
    id: &BlockId,
    offset: u64,
    len: u64,
) -> Result<Bytes, BlockdError> {
    let mut meta = probe(io, sh, id)?;
    let (size, fl) = (meta.set.block_size, meta.set.fragment_len);
    let (start, end) = (offset.min(size), offset.saturating_add(len).min(size));
    if start == end {
        report(sh, &meta, false);
        return Ok(Bytes::new());
    }
    let mut pieces: Vec<Piece> = (start / fl..=(end - 1) / fl)
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
        .collect();
    // One batch for all data fragments involved.
    let mut reqs = Vec::new();
    let mut which = Vec::new();
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
    let mut out = BytesMut::with_capacity((end - start) as usize);
    for piece in &pieces {
        let buf = piece.data.as_deref().unwrap_or_default();
        let (a, b) = (
            (piece.want.0 - piece.span.0) as usize,
            (piece.want.1 - piece.span.0) as usize,
        );
        out.extend_from_slice(&buf[a..b]);
    }
    Ok(out.freeze())
}

/// Reads the whole block and checks it hashes to its id: the end-to-end
/// check behind the per-chunk checksums.
pub(crate) fn read_block(io: &mut dyn Io, sh: &Shared, id: &BlockId) -> Result<Bytes, BlockdError> {
    let data = read_range(io, sh, id, 0, u64::MAX)?;
    if BlockId::of(&data) != *id {
        return Err(BlockdError::Unrecoverable {
            id: *id,
            reason: "rebuilt data does not hash to the block id".into(),
        });
    }
    Ok(data)
}
