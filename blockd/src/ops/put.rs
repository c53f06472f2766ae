//! Writes: encode on the worker, write all fragments as one concurrent
//! batch, acknowledge once `c` are durable, let the rest finish.
//!
//! After the acknowledgement the same job keeps reaping the remaining
//! fragments' completions (the "background" part of the write); a fragment
//! that fails then is logged, counted and left for repair. A put that never
//! reaches `c` fails with `NotDurable`; if even `k` fragments did not make
//! it, the ones that did are removed (they could not be read anyway).

use std::fs::OpenOptions;
use std::time::SystemTime;

use archipelago::BlockId;
use bytes::Bytes;
use tokio::sync::oneshot;

use super::probe::{probe, BlockMeta, Slot};
use super::Shared;
use crate::codec::codec_for;
use crate::config::Scheme;
use crate::engine::{FileWrite, Io};
use crate::error::BlockdError;
use crate::format::{fragment_len, FragmentHeader};
use crate::stats::Stats;

/// Splits `data` into `k` data fragments (zero-padding the last) and
/// computes the `m` parity fragments.
pub(crate) fn encode(id: &BlockId, data: &Bytes, s: Scheme) -> Result<Vec<Bytes>, BlockdError> {
    let (k, m) = (usize::from(s.k), usize::from(s.m));
    let fl = fragment_len(data.len() as u64, s.k) as usize;
    let mut frags: Vec<Bytes> = (0..k)
        .map(|j| {
            let (a, b) = ((j * fl).min(data.len()), ((j + 1) * fl).min(data.len()));
            if b - a == fl {
                data.slice(a..b) // no copy for full data fragments
            } else {
                let mut v = vec![0u8; fl];
                v[..b - a].copy_from_slice(&data[a..b]);
                Bytes::from(v)
            }
        })
        .collect();
    let mut parity = vec![vec![0u8; fl]; m];
    let codec = codec_for(s.code, k, m).map_err(|e| BlockdError::Config(e.to_string()))?;
    {
        let d: Vec<&[u8]> = frags.iter().map(|b| b.as_ref()).collect();
        let mut p: Vec<&mut [u8]> = parity.iter_mut().map(|v| v.as_mut_slice()).collect();
        codec
            .encode(&d, &mut p)
            .map_err(|e| BlockdError::Unrecoverable {
                id: *id,
                reason: e.to_string(),
            })?;
    }
    frags.extend(parity.into_iter().map(Bytes::from));
    Ok(frags)
}

/// The file write for fragment `i` of an encoded block, at its home.
pub(crate) fn fragment_write(
    sh: &Shared,
    id: &BlockId,
    size: u64,
    s: Scheme,
    i: usize,
    payload: Bytes,
) -> FileWrite {
    let h = FragmentHeader::for_payload(
        *id,
        size,
        s.code,
        s.k,
        s.m,
        i as u8,
        sh.chunk_size,
        &payload,
    );
    let dev = sh.layout.home(id, i);
    FileWrite {
        dir: sh.layout.dir(dev, id),
        name: crate::layout::file_name(id, i),
        header: h.encode(),
        payload,
    }
}

/// Refreshes the mtime of every intact fragment: a put of a block that is
/// already stored is a new reference to it, and GC's grace period is
/// measured from the mtime.
fn touch(meta: &BlockMeta) {
    let now = SystemTime::now();
    for s in &meta.slots {
        if let Slot::Good(f) = s {
            if let Err(e) = OpenOptions::new()
                .write(true)
                .open(&f.path)
                .and_then(|file| file.set_modified(now))
            {
                tracing::warn!(path = %f.path.display(), error = %e, "could not refresh fragment mtime");
            }
        }
    }
}

/// Runs a put; sends the outcome on `reply` as soon as it is known.
pub(crate) fn put(
    io: &mut dyn Io,
    sh: &Shared,
    id: BlockId,
    data: Bytes,
    scheme: Scheme,
    reply: oneshot::Sender<Result<(), BlockdError>>,
) {
    // The caller hashed the data into `id` (ChunkStore contract); hashing
    // it again here would double the put path's hashing cost. Reads
    // verify reconstructed blocks against their id.
    debug_assert!(BlockId::of(&data) == id, "put with a wrong id");
    let size = data.len() as u64;
    // Which fragments to write: none if the block is stored (under any
    // policy); the missing ones if it is stored under this scheme but
    // degraded; all otherwise.
    let (to_write, already) = match probe(io, sh, &id) {
        Ok(meta) if meta.good() >= meta.k() => {
            touch(&meta);
            let same =
                meta.set.code == scheme.code && meta.set.k == scheme.k && meta.set.m == scheme.m;
            let todo: Vec<usize> = (0..meta.n()).filter(|&i| meta.frag(i).is_none()).collect();
            if !same || todo.is_empty() {
                let _ = reply.send(Ok(()));
                return;
            }
            (todo.clone(), meta.n() - todo.len())
        }
        _ => (
            (0..usize::from(scheme.k) + usize::from(scheme.m)).collect(),
            0,
        ),
    };
    let fresh = already == 0;
    let frags = match encode(&id, &data, scheme) {
        Ok(f) => f,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let files: Vec<FileWrite> = to_write
        .iter()
        .map(|&i| fragment_write(sh, &id, size, scheme, i, frags[i].clone()))
        .collect();
    drop(frags);
    sh.begin_write(id, fresh);
    let needed = usize::from(scheme.c);
    let mut durable = already;
    let mut written = Vec::new();
    let mut first_err: Option<String> = None;
    let mut reply = Some(reply);
    if durable >= needed {
        // Already durable under the policy (a re-put of a degraded block):
        // acknowledge now and fill in the missing fragments after.
        if let Some(tx) = reply.take() {
            let _ = tx.send(Ok(()));
        }
    }
    io.write_durable(&files, &mut |n, r| match r {
        Ok(()) => {
            durable += 1;
            written.push(files[n].dir.join(&files[n].name));
            if durable >= needed {
                if let Some(tx) = reply.take() {
                    if fresh {
                        sh.acked(id);
                    }
                    let _ = tx.send(Ok(()));
                }
            }
        }
        Err(e) => {
            Stats::add(&sh.stats.fragment_writes_failed, 1);
            let acked = reply.is_none();
            tracing::warn!(block = %id, fragment = to_write[n], error = %e, acked, "fragment write failed");
            first_err.get_or_insert_with(|| e.to_string());
        }
    });
    if let Some(tx) = reply.take() {
        if fresh {
            sh.acked(id);
        }
        if durable < usize::from(scheme.k) {
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
        }
        let reason = first_err.unwrap_or_else(|| "fragment writes failed".into());
        sh.end_write(id);
        let _ = tx.send(Err(BlockdError::NotDurable {
            id,
            durable,
            needed,
            reason,
        }));
        return;
    }
    sh.end_write(id);
}
