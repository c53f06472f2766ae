//! Erasure codes behind one small trait, so the store never names a library.
//!
//! Every code here is *systematic*: fragments `0..k` are plain slices of the
//! block and fragments `k..k+m` are parity. That is what lets a ranged read
//! touch only the data fragment holding the range. Codes work column-wise
//! (byte `i` of a parity fragment depends only on byte `i` of the data
//! fragments), so any byte range of a lost fragment can be rebuilt from the
//! same byte range of `k` others.
//!
//! The code used for a fragment is recorded in its header ([`CodeId`]); the
//! codes are not interchangeable on disk (their generator matrices differ).
//! ISA-L is the one used for writes: see `docs/formats/fragment.md` and the
//! `codec` benchmark for why.

mod isal;
mod replicate;
mod rse;

use std::sync::Arc;

pub use isal::IsalCodec;
pub use replicate::ReplicaCodec;
pub use rse::RseCodec;

/// Which code produced a fragment set; stored as one byte in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeId {
    /// `k == 1`: every fragment is a full copy of the block.
    Replicate = 0,
    /// ISA-L, Cauchy generator matrix over GF(2^8) (polynomial 0x11d).
    IsalCauchy = 1,
    /// The `reed-solomon-erasure` crate's Vandermonde-derived matrix.
    RsErasure = 2,
}

impl CodeId {
    /// Parses the header byte.
    pub fn from_u8(b: u8) -> Option<CodeId> {
        match b {
            0 => Some(CodeId::Replicate),
            1 => Some(CodeId::IsalCauchy),
            2 => Some(CodeId::RsErasure),
            _ => None,
        }
    }
}

/// A codec failure. Only reachable through a bug or bad arguments: the
/// store checks fragment counts before calling.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Fewer than `k` fragments were offered to rebuild from.
    #[error("need {need} fragments to reconstruct, have {have}")]
    TooFewFragments { need: usize, have: usize },
    /// Fragment counts or lengths do not match the code's shape.
    #[error("bad codec arguments: {0}")]
    BadArguments(String),
    /// The survivors' submatrix could not be inverted (cannot happen for
    /// Cauchy matrices; kept so a library's refusal is not a panic).
    #[error("decode matrix is singular")]
    Singular,
}

/// A systematic `k + m` erasure code.
pub trait Codec: Send + Sync {
    /// Number of data fragments.
    fn k(&self) -> usize;
    /// Number of parity fragments.
    fn m(&self) -> usize;
    /// The id recorded in fragment headers.
    fn id(&self) -> CodeId;

    /// Computes `m` parity fragments from `k` data fragments of equal length.
    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError>;

    /// Rebuilds fragments `wanted` (any indices in `0..k+m`) into `out` from
    /// the fragments present in `frags` (`frags.len() == k + m`, at least `k`
    /// of them `Some`, all of one length). Columns are independent, so the
    /// slices may be any same-offset sub-range of the fragments.
    fn reconstruct(
        &self,
        frags: &[Option<&[u8]>],
        wanted: &[usize],
        out: &mut [&mut [u8]],
    ) -> Result<(), CodecError>;
}

/// Builds the codec for a fragment set's `(code, k, m)` as read from a header
/// or chosen by a policy.
pub fn codec_for(code: CodeId, k: usize, m: usize) -> Result<Arc<dyn Codec>, CodecError> {
    if k == 0 || k + m > 255 {
        return Err(CodecError::BadArguments(format!("k={k} m={m}")));
    }
    Ok(match code {
        CodeId::Replicate if k == 1 => Arc::new(ReplicaCodec::new(m)),
        CodeId::Replicate => return Err(CodecError::BadArguments("replication needs k=1".into())),
        CodeId::IsalCauchy => Arc::new(IsalCodec::new(k, m)?),
        CodeId::RsErasure => Arc::new(RseCodec::new(k, m)?),
    })
}

/// Checks shapes shared by all codecs.
fn check_encode(
    k: usize,
    m: usize,
    data: &[&[u8]],
    parity: &[&mut [u8]],
) -> Result<usize, CodecError> {
    if data.len() != k || parity.len() != m {
        return Err(CodecError::BadArguments(format!(
            "expected {k}+{m} fragments, got {}+{}",
            data.len(),
            parity.len()
        )));
    }
    let len = data.first().map_or(0, |d| d.len());
    if data.iter().any(|d| d.len() != len) || parity.iter().any(|p| p.len() != len) {
        return Err(CodecError::BadArguments(
            "fragments differ in length".into(),
        ));
    }
    Ok(len)
}

/// Checks reconstruct arguments; returns the fragment length and the indices
/// of the first `k` present fragments (the ones decoded from).
fn check_reconstruct(
    k: usize,
    m: usize,
    frags: &[Option<&[u8]>],
    wanted: &[usize],
    out: &[&mut [u8]],
) -> Result<(usize, Vec<usize>), CodecError> {
    if frags.len() != k + m || wanted.len() != out.len() || wanted.iter().any(|&w| w >= k + m) {
        return Err(CodecError::BadArguments("fragment count or index".into()));
    }
    let sources: Vec<usize> = (0..k + m).filter(|&i| frags[i].is_some()).take(k).collect();
    if sources.len() < k {
        return Err(CodecError::TooFewFragments {
            need: k,
            have: sources.len(),
        });
    }
    let len = frags[sources[0]].map_or(0, |f| f.len());
    let same = |s: &[u8]| s.len() == len;
    if !frags.iter().flatten().all(|f| same(f)) || !out.iter().all(|o| same(o)) {
        return Err(CodecError::BadArguments(
            "fragments differ in length".into(),
        ));
    }
    Ok((len, sources))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(code: CodeId, k: usize, m: usize, len: usize, lost: &[usize], seed: u8) {
        let c = codec_for(code, k, m).unwrap();
        let data: Vec<Vec<u8>> = (0..k)
            .map(|i| {
                (0..len)
                    .map(|j| (j as u8).wrapping_mul(31).wrapping_add(i as u8 ^ seed))
                    .collect()
            })
            .collect();
        let mut parity = vec![vec![0u8; len]; m];
        {
            let d: Vec<&[u8]> = data.iter().map(|v| v.as_slice()).collect();
            let mut p: Vec<&mut [u8]> = parity.iter_mut().map(|v| v.as_mut_slice()).collect();
            c.encode(&d, &mut p).unwrap();
        }
        let all: Vec<Vec<u8>> = data.into_iter().chain(parity).collect();
        let frags: Vec<Option<&[u8]>> = (0..k + m)
            .map(|i| (!lost.contains(&i)).then(|| all[i].as_slice()))
            .collect();
        let mut out = vec![vec![0u8; len]; lost.len()];
        let mut o: Vec<&mut [u8]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
        c.reconstruct(&frags, lost, &mut o).unwrap();
        for (n, &i) in lost.iter().enumerate() {
            assert_eq!(out[n], all[i], "fragment {i} of {code:?} {k}+{m}");
        }
    }

    #[test]
    fn every_code_rebuilds_any_m_losses() {
        for code in [CodeId::IsalCauchy, CodeId::RsErasure] {
            for (a, b) in [(0, 1), (0, 4), (2, 3), (4, 5), (1, 5)] {
                roundtrip(code, 4, 2, 1000, &[a, b], 7);
            }
        }
        roundtrip(CodeId::Replicate, 1, 2, 999, &[0, 2], 1);
    }

    #[test]
    fn too_many_losses_is_an_error() {
        let c = codec_for(CodeId::IsalCauchy, 4, 2).unwrap();
        let buf = [0u8; 8];
        let frags = [
            Some(&buf[..]),
            Some(&buf[..]),
            Some(&buf[..]),
            None,
            None,
            None,
        ];
        let mut out = [0u8; 8];
        let r = c.reconstruct(&frags, &[3], &mut [&mut out[..]]);
        assert!(matches!(
            r,
            Err(CodecError::TooFewFragments { need: 4, have: 3 })
        ));
    }

    proptest! {
        #[test]
        fn isal_rebuilds_random_shapes(k in 1usize..8, m in 1usize..5, len in 0usize..3000,
                                       pick in any::<u64>(), seed in any::<u8>()) {
            let n = k + m;
            let nlost = (pick as usize % m) + 1;
            let mut lost: Vec<usize> = (0..n).collect();
            // Deterministic shuffle from `pick`, then keep `nlost`.
            for i in (1..n).rev() {
                lost.swap(i, (pick.rotate_left(i as u32) as usize) % (i + 1));
            }
            lost.truncate(nlost);
            let code = if k == 1 { CodeId::Replicate } else { CodeId::IsalCauchy };
            roundtrip(code, k, m, len, &lost, seed);
        }
    }
}
