//! Finding a block's fragments and reading their headers: the first step
//! of every read, put, contains and repair.

use std::io;
use std::path::PathBuf;

use archipelago::BlockId;

use super::Shared;
use crate::engine::{Io, ReadReq};
use crate::error::BlockdError;
use crate::format::{self, FragmentHeader, HeaderError, HEADER_ALIGN};

/// A fragment whose header checked out.
#[derive(Debug, Clone)]
pub(crate) struct Frag {
    pub path: PathBuf,
    pub header: FragmentHeader,
}

/// What is known about one fragment index of a set.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    Good(Frag),
    Missing,
    Corrupt { path: PathBuf, why: String },
}

/// A block's fragment set as found on disk.
#[derive(Debug, Clone)]
pub(crate) struct BlockMeta {
    pub id: BlockId,
    /// A header of the set (the one most fragments agree with).
    pub set: FragmentHeader,
    /// One slot per fragment index `0..k+m`.
    pub slots: Vec<Slot>,
}

impl BlockMeta {
    pub fn k(&self) -> usize {
        usize::from(self.set.k)
    }

    pub fn n(&self) -> usize {
        self.slots.len()
    }

    pub fn good(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Good(_)))
            .count()
    }

    pub fn frag(&self, i: usize) -> Option<&Frag> {
        match &self.slots[i] {
            Slot::Good(f) => Some(f),
            _ => None,
        }
    }

    /// Indices of missing and of corrupt fragments.
    pub fn bad(&self) -> (Vec<usize>, Vec<usize>) {
        let pick = |want_missing: bool| {
            (0..self.n())
                .filter(|&i| match self.slots[i] {
                    Slot::Missing => want_missing,
                    Slot::Corrupt { .. } => !want_missing,
                    Slot::Good(_) => false,
                })
                .collect()
        };
        (pick(true), pick(false))
    }
}

/// Result of reading one header.
enum Found {
    Absent,
    Bad(String),
    Header(FragmentHeader),
}

/// Reads the headers at `paths`, concurrently; re-reads the rare header
/// longer than one page.
fn read_headers(io: &mut dyn Io, paths: &[PathBuf]) -> Vec<Found> {
    let reqs: Vec<ReadReq> = paths
        .iter()
        .map(|p| ReadReq {
            path: p.clone(),
            ranges: vec![(0, HEADER_ALIGN)],
        })
        .collect();
    let results = io.read(&reqs);
    let mut out = Vec::with_capacity(paths.len());
    let mut long = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        out.push(match r {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Found::Absent,
            Err(e) => Found::Bad(format!("read: {e}")),
            Ok(mut bufs) => {
                let buf = bufs.pop().unwrap_or_default();
                match FragmentHeader::decode(&buf) {
                    Ok(h) => Found::Header(h),
                    Err(HeaderError::Short)
                        if format::needed_len(&buf).is_some_and(|n| n > buf.len()) =>
                    {
                        let n = format::needed_len(&buf).unwrap_or(0).min(64 << 20);
                        long.push((
                            i,
                            ReadReq {
                                path: paths[i].clone(),
                                ranges: vec![(0, n)],
                            },
                        ));
                        Found::Absent
                    }
                    Err(e) => Found::Bad(format!("header: {e}")),
                }
            }
        });
    }
    if !long.is_empty() {
        let reqs: Vec<ReadReq> = long.iter().map(|(_, r)| r.clone()).collect();
        for ((i, _), r) in long.iter().zip(io.read(&reqs)) {
            out[*i] = match r.map(|mut b| b.pop().unwrap_or_default()) {
                Ok(buf) => FragmentHeader::decode(&buf)
                    .map_or_else(|e| Found::Bad(format!("header: {e}")), Found::Header),
                Err(e) => Found::Bad(format!("read: {e}")),
            };
        }
    }
    out
}

/// Classifies a header found for fragment `index` of `id`.
fn check(found: Found, id: &BlockId, index: usize) -> Found {
    match found {
        Found::Header(h) if h.block != *id => Found::Bad("header names another block".into()),
        Found::Header(h) if usize::from(h.index) != index => {
            Found::Bad("header names another index".into())
        }
        f => f,
    }
}

/// Looks for fragment `index` of `id` on devices other than its home.
fn search_elsewhere(
    io: &mut dyn Io,
    sh: &Shared,
    id: &BlockId,
    index: usize,
) -> Vec<(PathBuf, Found)> {
    let home = sh.layout.home(id, index);
    let paths: Vec<PathBuf> = (0..sh.layout.devices().len())
        .filter(|&d| d != home)
        .map(|d| sh.layout.path(d, id, index))
        .filter(|p| p.exists())
        .collect();
    if paths.is_empty() {
        return Vec::new();
    }
    let found = read_headers(io, &paths);
    paths
        .into_iter()
        .zip(found)
        .map(|(p, f)| (p, check(f, id, index)))
        .collect()
}

/// Finds the fragment set of `id`: [`BlockdError::NotFound`] when no file of
/// it exists anywhere, `Unrecoverable` when files exist but no header is
/// intact.
pub(crate) fn probe(io: &mut dyn Io, sh: &Shared, id: &BlockId) -> Result<BlockMeta, BlockdError> {
    let homes: Vec<PathBuf> = (0..sh.max_fragments)
        .map(|i| sh.layout.path(sh.layout.home(id, i), id, i))
        .collect();
    let mut at_home: Vec<(PathBuf, Found)> = homes
        .iter()
        .cloned()
        .zip(read_headers(io, &homes))
        .enumerate()
        .map(|(i, (p, f))| (p, check(f, id, i)))
        .collect();
    let mut any_file = at_home.iter().any(|(_, f)| !matches!(f, Found::Absent));
    // The reference header: the one most other intact headers agree with.
    let pick = |found: &[(PathBuf, Found)]| -> Option<FragmentHeader> {
        let hs: Vec<&FragmentHeader> = found
            .iter()
            .filter_map(|(_, f)| {
                if let Found::Header(h) = f {
                    Some(h)
                } else {
                    None
                }
            })
            .collect();
        hs.iter()
            .max_by_key(|h| {
                (
                    hs.iter().filter(|o| o.same_set(h)).count(),
                    std::cmp::Reverse(h.index),
                )
            })
            .map(|h| (*h).clone())
    };
    let mut set = pick(&at_home);
    if set.is_none() {
        let mut elsewhere = Vec::new();
        for i in 0..sh.max_fragments {
            elsewhere.extend(search_elsewhere(io, sh, id, i));
        }
        any_file |= !elsewhere.is_empty();
        set = pick(&elsewhere);
        at_home.extend(elsewhere);
    }
    let Some(set) = set else {
        return Err(if any_file {
            BlockdError::Unrecoverable {
                id: *id,
                reason: "no fragment has an intact header".into(),
            }
        } else {
            BlockdError::NotFound(*id)
        });
    };
    let n = usize::from(set.k) + usize::from(set.m);
    let mut slots = Vec::with_capacity(n);
    for i in 0..n {
        let candidates: Vec<&(PathBuf, Found)> = at_home
            .iter()
            .filter(|(p, _)| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy() == crate::layout::file_name(id, i))
            })
            .collect();
        slots.push(resolve(io, sh, id, i, &set, &candidates));
    }
    Ok(BlockMeta {
        id: *id,
        set,
        slots,
    })
}

/// Decides slot `i` from what was found for it, searching other devices
/// when nothing usable was found at home.
fn resolve(
    io: &mut dyn Io,
    sh: &Shared,
    id: &BlockId,
    i: usize,
    set: &FragmentHeader,
    found: &[&(PathBuf, Found)],
) -> Slot {
    let good = |p: &PathBuf, f: &Found| match f {
        Found::Header(h) if h.same_set(set) => Some(Slot::Good(Frag {
            path: p.clone(),
            header: h.clone(),
        })),
        _ => None,
    };
    if let Some(s) = found.iter().find_map(|(p, f)| good(p, f)) {
        return s;
    }
    let mut corrupt = found.iter().find_map(|(p, f)| match f {
        Found::Bad(why) => Some(Slot::Corrupt {
            path: p.clone(),
            why: why.clone(),
        }),
        Found::Header(_) => Some(Slot::Corrupt {
            path: p.clone(),
            why: "belongs to another encoding".into(),
        }),
        Found::Absent => None,
    });
    if i >= sh.max_fragments
        || found
            .iter()
            .all(|(p, _)| *p != sh.layout.path(sh.layout.home(id, i), id, i))
    {
        // Not probed at home yet (sets wider than the configured policies).
        let home = sh.layout.path(sh.layout.home(id, i), id, i);
        if let Some(f) = read_headers(io, std::slice::from_ref(&home)).pop() {
            let f = check(f, id, i);
            if let Some(s) = good(&home, &f) {
                return s;
            }
            if let Found::Bad(why) = f {
                corrupt.get_or_insert(Slot::Corrupt { path: home, why });
            }
        }
    }
    for (p, f) in search_elsewhere(io, sh, id, i) {
        if let Some(s) = good(&p, &f) {
            return s;
        }
    }
    corrupt.unwrap_or(Slot::Missing)
}
