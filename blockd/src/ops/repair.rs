//! Repair of one block: read every fragment in full, verify every chunk,
//! rebuild the missing and corrupt ones and write them back home.

use archipelago::BlockId;
use bytes::Bytes;

use super::probe::{probe, Slot};
use super::put::fragment_write;
use super::read::{read_span, rebuild_span};
use super::Shared;
use crate::config::Scheme;
use crate::engine::Io;
use crate::error::BlockdError;
use crate::stats::Stats;

/// What repair found for one block.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockRepair {
    pub missing: u64,
    pub corrupt: u64,
    pub rewritten: u64,
    pub unrecoverable: bool,
}

/// Checks and repairs block `id`.
pub(crate) fn repair_block(io: &mut dyn Io, sh: &Shared, id: &BlockId) -> BlockRepair {
    // A put still finishing its last fragments is not damage.
    sh.wait_writes(id);
    let mut meta = match probe(io, sh, id) {
        Ok(m) => m,
        Err(BlockdError::NotFound(_)) => return BlockRepair::default(), // deleted meanwhile
        Err(e) => {
            tracing::error!(block = %id, error = %e, "block unrecoverable");
            return BlockRepair {
                unrecoverable: true,
                ..BlockRepair::default()
            };
        }
    };
    let all: Vec<usize> = (0..meta.n()).collect();
    let chunks = 0..meta.set.chunk_crcs.len();
    let span = (0, meta.set.fragment_len);
    let good = read_span(io, &mut meta, &all, &chunks, span);
    let (missing, corrupt) = meta.bad();
    let mut out = BlockRepair {
        missing: missing.len() as u64,
        corrupt: corrupt.len() as u64,
        ..BlockRepair::default()
    };
    let bad: Vec<usize> = missing.iter().chain(&corrupt).copied().collect();
    if bad.is_empty() {
        return out;
    }
    let rebuilt = match rebuild_span(io, &mut meta, &bad, &chunks, span) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(block = %id, error = %e, "block unrecoverable");
            out.unrecoverable = true;
            return out;
        }
    };
    // End-to-end check before writing anything: the data fragments, intact
    // or rebuilt, must hash to the id.
    let (k, size) = (meta.k(), meta.set.block_size as usize);
    let mut block = Vec::with_capacity(size + k);
    for j in 0..k {
        let src = good
            .iter()
            .find(|(i, _)| *i == j)
            .map(|(_, b)| b)
            .or_else(|| bad.iter().position(|&b| b == j).map(|p| &rebuilt[p]));
        block.extend_from_slice(src.map(|v| v.as_slice()).unwrap_or_default());
    }
    block.truncate(size);
    if BlockId::of(&block) != *id {
        tracing::error!(block = %id, "rebuilt block does not hash to its id; not rewriting");
        out.unrecoverable = true;
        return out;
    }
    let s = Scheme {
        code: meta.set.code,
        k: meta.set.k,
        m: meta.set.m,
        c: 0,
    };
    let files: Vec<_> = bad
        .iter()
        .zip(rebuilt)
        .map(|(&i, payload)| fragment_write(sh, id, size as u64, s, i, Bytes::from(payload)))
        .collect();
    io.write_durable(&files, &mut |n, r| match r {
        Ok(()) => {
            out.rewritten += 1;
            // A corrupt copy found away from home is now superseded.
            if let Slot::Corrupt { path, .. } = &meta.slots[bad[n]] {
                if *path != files[n].dir.join(&files[n].name) {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        Err(e) => tracing::warn!(block = %id, fragment = bad[n], error = %e, "repair write failed"),
    });
    Stats::add(&sh.stats.fragments_repaired, out.rewritten);
    tracing::info!(block = %id, missing = out.missing, corrupt = out.corrupt, rewritten = out.rewritten, "repaired block");
    out
}
