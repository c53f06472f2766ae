//! Reed-Solomon through the pure-Rust `reed-solomon-erasure` crate (with its
//! SIMD C kernel). Kept as the measured alternative to ISA-L and to read any
//! fragment set written with it.

use reed_solomon_erasure::galois_8::ReedSolomon;

use super::{check_encode, check_reconstruct, CodeId, Codec, CodecError};

/// `k + m` Reed-Solomon from `reed-solomon-erasure`.
pub struct RseCodec {
    rs: ReedSolomon,
}

impl RseCodec {
    /// Builds the code; `k >= 1`, `m >= 1`, `k + m <= 256`.
    pub fn new(k: usize, m: usize) -> Result<RseCodec, CodecError> {
        let rs = ReedSolomon::new(k, m).map_err(|e| CodecError::BadArguments(format!("{e:?}")))?;
        Ok(RseCodec { rs })
    }
}

impl Codec for RseCodec {
    fn k(&self) -> usize {
        self.rs.data_shard_count()
    }

    fn m(&self) -> usize {
        self.rs.parity_shard_count()
    }

    fn id(&self) -> CodeId {
        CodeId::RsErasure
    }

    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError> {
        let len = check_encode(self.k(), self.m(), data, parity)?;
        if len == 0 {
            return Ok(());
        }
        self.rs
            .encode_sep(data, parity)
            .map_err(|e| CodecError::BadArguments(format!("{e:?}")))
    }

    fn reconstruct(
        &self,
        frags: &[Option<&[u8]>],
        wanted: &[usize],
        out: &mut [&mut [u8]],
    ) -> Result<(), CodecError> {
        let (len, _) = check_reconstruct(self.k(), self.m(), frags, wanted, out)?;
        if len == 0 {
            return Ok(());
        }
        // The crate rebuilds in place into owned shards: copy in, copy out.
        let mut shards: Vec<Option<Vec<u8>>> =
            frags.iter().map(|f| f.map(<[u8]>::to_vec)).collect();
        let data_only = wanted.iter().all(|&w| w < self.k());
        let r = if data_only {
            self.rs.reconstruct_data(&mut shards)
        } else {
            self.rs.reconstruct(&mut shards)
        };
        r.map_err(|e| CodecError::BadArguments(format!("{e:?}")))?;
        for (o, &w) in out.iter_mut().zip(wanted) {
            o.copy_from_slice(shards[w].as_deref().unwrap_or_default());
        }
        Ok(())
    }
}
