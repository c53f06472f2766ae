//! Replication as the degenerate systematic code `k = 1`: every fragment is
//! a copy of the block. Used for blocks too small to be worth splitting.

use super::{check_encode, check_reconstruct, CodeId, Codec, CodecError};

/// `1 + m` copies.
pub struct ReplicaCodec {
    m: usize,
}

impl ReplicaCodec {
    /// `m` extra copies, `m + 1` in all.
    pub fn new(m: usize) -> ReplicaCodec {
        ReplicaCodec { m }
    }
}

impl Codec for ReplicaCodec {
    fn k(&self) -> usize {
        1
    }

    fn m(&self) -> usize {
        self.m
    }

    fn id(&self) -> CodeId {
        CodeId::Replicate
    }

    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError> {
        check_encode(1, self.m, data, parity)?;
        for p in parity.iter_mut() {
            p.copy_from_slice(data[0]);
        }
        Ok(())
    }

    fn reconstruct(
        &self,
        frags: &[Option<&[u8]>],
        wanted: &[usize],
        out: &mut [&mut [u8]],
    ) -> Result<(), CodecError> {
        let (_, sources) = check_reconstruct(1, self.m, frags, wanted, out)?;
        let src = frags[sources[0]].unwrap_or_default();
        for o in out.iter_mut() {
            o.copy_from_slice(src);
        }
        Ok(())
    }
}
