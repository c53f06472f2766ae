//! Reads through the write log: the resource's content with the volume's
//! pending ranges laid over it, so a read sees every acknowledged write.
//!
//! Order matters against a concurrent destage: the pending ranges are
//! looked up first, the resource read second. A destage committing in
//! between only makes the resource hold what the overlay applies again; a
//! range dropped from the index after its commit is still read through the
//! file handle the lookup took (a trimmed segment's open descriptor keeps
//! its bytes readable).

use archipelago::{Archipelago, Span};
use bytes::{Bytes, BytesMut};

use super::index::{Ext, Src};
use super::WriteLog;

/// The bytes of data ranges, read from the log files on the blocking pool.
/// Zero ranges come back as `None`.
pub async fn load(pieces: &[Ext]) -> archipelago::Result<Vec<Option<Bytes>>> {
    let reqs: Vec<(Src, usize)> = pieces
        .iter()
        .map(|p| (p.src.clone(), (p.end - p.start) as usize))
        .collect();
    tokio::task::spawn_blocking(move || {
        reqs.into_iter()
            .map(|(src, n)| match src {
                Src::Zero => Ok(None),
                Src::Mem(b) if b.len() >= n => Ok(Some(b.slice(..n))),
                Src::Mem(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "write log record shorter than indexed",
                )),
                Src::Data { file, at } => {
                    let mut b = vec![0u8; n];
                    let got = file.read_at(&mut b, at)?;
                    if got != n {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "write log record shorter than indexed",
                        ));
                    }
                    Ok(Some(Bytes::from(b)))
                }
            })
            .collect::<std::io::Result<Vec<_>>>()
    })
    .await
    .map_err(|e| archipelago::Error::Task(e.to_string()))?
    .map_err(|e| archipelago::Error::Task(format!("write log read: {e}")))
}

fn covers(pieces: &[Ext], start: u64, end: u64) -> bool {
    let mut at = start;
    for p in pieces {
        if p.start != at {
            return false;
        }
        at = p.end;
    }
    at == end
}

impl WriteLog {
    /// `read_at` with pending writes applied.
    pub async fn read_at(
        &self,
        arch: &Archipelago,
        rid: &str,
        offset: u64,
        len: u64,
    ) -> archipelago::Result<Bytes> {
        let end = offset + len;
        let pieces = self.pending(rid, offset, end);
        if pieces.is_empty() {
            return arch.read_at(rid, offset, len).await;
        }
        let mut out = if covers(&pieces, offset, end) {
            BytesMut::zeroed(len as usize)
        } else {
            let base = arch.read_at(rid, offset, len).await?;
            BytesMut::from(&base[..])
        };
        let data = load(&pieces).await?;
        for (p, d) in pieces.iter().zip(data) {
            let r = (p.start - offset) as usize..(p.end - offset) as usize;
            if r.end > out.len() {
                continue;
            }
            match d {
                Some(d) => out[r].copy_from_slice(&d),
                None => out[r].fill(0),
            }
        }
        Ok(out.freeze())
    }

    /// `read_sparse` with pending writes applied: pending data as data
    /// spans, pending zero ranges as holes.
    pub async fn read_sparse(
        &self,
        arch: &Archipelago,
        rid: &str,
        offset: u64,
        len: u64,
    ) -> archipelago::Result<Vec<Span>> {
        let end = offset + len;
        let pieces = self.pending(rid, offset, end);
        if pieces.is_empty() {
            return arch.read_sparse(rid, offset, len).await;
        }
        let base: Vec<Span> = if covers(&pieces, offset, end) {
            vec![(len, Ok(None))]
        } else {
            arch.read_sparse(rid, offset, len).await?
        };
        let data = load(&pieces).await?;
        let over: Vec<(u64, u64, Option<Bytes>)> = pieces
            .iter()
            .zip(data)
            .map(|(p, d)| (p.start, p.end, d))
            .collect();
        Ok(overlay_spans(base, offset, &over))
    }

    /// `extents` with pending writes applied: pending data is data,
    /// pending zeros a hole (they read as zeros and become holes or zeros
    /// inside a data block when destaged).
    pub async fn extents(
        &self,
        arch: &Archipelago,
        rid: &str,
        offset: u64,
        len: u64,
    ) -> archipelago::Result<Vec<(u64, bool)>> {
        let base = arch.extents(rid, offset, len).await?;
        let total: u64 = base.iter().map(|r| r.0).sum();
        let pieces = self.pending(rid, offset, offset + total);
        if pieces.is_empty() {
            return Ok(base);
        }
        let spans: Vec<Span> = base
            .into_iter()
            .map(|(n, hole)| (n, Ok((!hole).then(Bytes::new))))
            .collect();
        let over: Vec<(u64, u64, Option<Bytes>)> = pieces
            .iter()
            .map(|p| {
                let d = (!matches!(p.src, Src::Zero)).then(Bytes::new);
                (p.start, p.end, d)
            })
            .collect();
        let mut runs: Vec<(u64, bool)> = Vec::new();
        for (n, r) in overlay_spans(spans, offset, &over) {
            let hole = !matches!(r, Ok(Some(_)));
            match runs.last_mut() {
                Some((m, h)) if *h == hole => *m += n,
                _ => runs.push((n, hole)),
            }
        }
        Ok(runs)
    }
}

/// Lays `over` (ordered, non-overlapping `(start, end, data or zeros)`)
/// onto `base` spans starting at `offset`. Data spans are sliced; a data
/// span of empty bytes (as `extents` uses) stays empty. Adjacent holes
/// merge. A failed base span cut in pieces fails each piece with its
/// message (the error type is not `Clone`).
pub fn overlay_spans(
    base: Vec<Span>,
    offset: u64,
    over: &[(u64, u64, Option<Bytes>)],
) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let push = |out: &mut Vec<Span>, s: Span| {
        if s.0 == 0 {
            return;
        }
        match (out.last_mut(), s) {
            (Some((a, Ok(None))), (b, Ok(None))) => *a += b,
            (_, s) => out.push(s),
        }
    };
    let mut oi = 0;
    let mut at = offset;
    for (n, r) in base {
        let (s_start, s_end) = (at, at + n);
        at = s_end;
        let mut cur = s_start;
        let part = |a: u64, b: u64| -> Span {
            let k = b - a;
            let r = match &r {
                Ok(None) => Ok(None),
                Ok(Some(d)) if d.is_empty() => Ok(Some(Bytes::new())),
                Ok(Some(d)) => Ok(Some(
                    d.slice((a - s_start) as usize..(b - s_start) as usize),
                )),
                Err(e) => Err(archipelago::Error::Task(e.to_string())),
            };
            (k, r)
        };
        while cur < s_end {
            // Overlay pieces that start before the span's end.
            while oi < over.len() && over[oi].1 <= cur {
                oi += 1;
            }
            match over.get(oi) {
                Some(&(os, oe, ref d)) if os < s_end => {
                    if os > cur {
                        let s = part(cur, os);
                        push(&mut out, s);
                        cur = os;
                    }
                    let stop = oe.min(s_end);
                    let piece = match d {
                        None => Ok(None),
                        Some(d) if d.is_empty() => Ok(Some(Bytes::new())),
                        Some(d) => Ok(Some(d.slice((cur - os) as usize..(stop - os) as usize))),
                    };
                    push(&mut out, (stop - cur, piece));
                    cur = stop;
                }
                _ => {
                    let s = part(cur, s_end);
                    push(&mut out, s);
                    cur = s_end;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flat(spans: &[Span]) -> Vec<u8> {
        spans
            .iter()
            .flat_map(|(n, r)| match r {
                Ok(Some(d)) => d.to_vec(),
                _ => vec![0; *n as usize],
            })
            .collect()
    }

    proptest! {
        #[test]
        fn overlay_matches_a_byte_model(
            base_lens in proptest::collection::vec((1u64..300, any::<bool>()), 1..8),
            cuts in proptest::collection::vec((0u64..2000, 1u64..300, any::<bool>()), 0..6),
        ) {
            let offset = 1000;
            let mut base = Vec::new();
            let mut model = Vec::new();
            for (i, (n, hole)) in base_lens.iter().enumerate() {
                if *hole {
                    base.push((*n, Ok(None)));
                    model.extend(std::iter::repeat_n(0u8, *n as usize));
                } else {
                    let d: Vec<u8> = (0..*n).map(|j| (i as u8).wrapping_mul(31).wrapping_add(j as u8) | 1).collect();
                    model.extend_from_slice(&d);
                    base.push((*n, Ok(Some(Bytes::from(d)))));
                }
            }
            let total = model.len() as u64;
            // Non-overlapping, ordered pieces.
            let mut over = Vec::new();
            let mut last = offset;
            for (s, n, zero) in cuts {
                let s = offset + (s % total.max(1)).max(last - offset);
                let e = (s + n).min(offset + total);
                if s >= e { continue; }
                let d = (!zero).then(|| Bytes::from(vec![0xEE; (e - s) as usize]));
                for b in s..e { model[(b - offset) as usize] = if zero { 0 } else { 0xEE }; }
                over.push((s, e, d));
                last = e;
            }
            let got = overlay_spans(base, offset, &over);
            prop_assert_eq!(got.iter().map(|s| s.0).sum::<u64>(), total);
            prop_assert_eq!(flat(&got), model);
        }
    }
}
