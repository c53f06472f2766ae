//! The fragment file format: a checksummed header, then the payload.
//!
//! Byte-level description in `docs/formats/fragment.md`; keep the two in
//! step. All integers little-endian. The payload is checksummed per
//! `chunk_size` bytes (crc32c) so a ranged read verifies only the chunks it
//! touches; the header has its own crc32c so a torn or foreign header is
//! never trusted.

use archipelago::BlockId;

use crate::codec::CodeId;

/// First 8 bytes of every fragment file.
pub const MAGIC: [u8; 8] = *b"ATOLFRAG";
/// Format version written by this code.
pub const VERSION: u16 = 1;
/// Header sizes are multiples of this, so the payload starts aligned (the
/// way O_DIRECT would need it) and the common header is one page.
pub const HEADER_ALIGN: usize = 4096;
/// Bytes before the chunk checksum table.
const FIXED_LEN: usize = 80;

/// What a fragment header says. `chunk_crcs` covers the payload of this
/// fragment only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentHeader {
    pub block: BlockId,
    pub block_size: u64,
    pub code: CodeId,
    pub k: u8,
    pub m: u8,
    pub index: u8,
    pub fragment_len: u64,
    pub chunk_size: u32,
    pub chunk_crcs: Vec<u32>,
}

/// Why a header was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HeaderError {
    #[error("too short")]
    Short,
    #[error("bad magic")]
    Magic,
    #[error("unsupported version {0}")]
    Version(u16),
    #[error("header checksum mismatch")]
    Checksum,
    #[error("inconsistent field: {0}")]
    Field(&'static str),
}

/// Length of each data fragment (and so of every fragment) for a block of
/// `size` bytes split `k` ways; the last data fragment is zero-padded.
pub fn fragment_len(size: u64, k: u8) -> u64 {
    size.div_ceil(u64::from(k))
}

impl FragmentHeader {
    /// Builds the header for `payload`, computing its chunk checksums.
    #[allow(clippy::too_many_arguments)]
    pub fn for_payload(
        block: BlockId,
        block_size: u64,
        code: CodeId,
        k: u8,
        m: u8,
        index: u8,
        chunk_size: u32,
        payload: &[u8],
    ) -> FragmentHeader {
        let chunk_crcs = payload
            .chunks(chunk_size as usize)
            .map(crc32c::crc32c)
            .collect();
        FragmentHeader {
            block,
            block_size,
            code,
            k,
            m,
            index,
            fragment_len: payload.len() as u64,
            chunk_size,
            chunk_crcs,
        }
    }

    /// Bytes the header occupies on disk (the payload's file offset).
    pub fn header_len(&self) -> usize {
        header_len_for(self.chunk_crcs.len())
    }

    /// Serialises to exactly `header_len()` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.header_len());
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes()); // flags, none defined
        b.extend_from_slice(&(self.header_len() as u32).to_le_bytes());
        b.extend_from_slice(&self.block.0);
        b.extend_from_slice(&self.block_size.to_le_bytes());
        b.extend_from_slice(&[self.code as u8, self.k, self.m, self.index]);
        b.extend_from_slice(&self.fragment_len.to_le_bytes());
        b.extend_from_slice(&self.chunk_size.to_le_bytes());
        b.extend_from_slice(&(self.chunk_crcs.len() as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes()); // reserved, keeps the table 8-aligned
        debug_assert_eq!(b.len(), FIXED_LEN);
        for c in &self.chunk_crcs {
            b.extend_from_slice(&c.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b.resize(self.header_len(), 0);
        b
    }

    /// Parses and checks a header from the start of a fragment file. `buf`
    /// may be longer than the header (the rest is ignored) or shorter (then
    /// [`HeaderError::Short`] with [`needed_len`] telling how much to read).
    pub fn decode(buf: &[u8]) -> Result<FragmentHeader, HeaderError> {
        if buf.len() < FIXED_LEN {
            return Err(HeaderError::Short);
        }
        if buf[0..8] != MAGIC {
            return Err(HeaderError::Magic);
        }
        let u16_at = |o: usize| u16::from_le_bytes([buf[o], buf[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(buf[o..o + 4].try_into().unwrap_or_default());
        let u64_at = |o: usize| u64::from_le_bytes(buf[o..o + 8].try_into().unwrap_or_default());
        let version = u16_at(8);
        if version != VERSION {
            return Err(HeaderError::Version(version));
        }
        let nchunks = u32_at(72) as usize;
        if nchunks > (1 << 24) {
            return Err(HeaderError::Field("chunk count"));
        }
        let crc_at = FIXED_LEN + 4 * nchunks;
        if buf.len() < crc_at + 4 {
            return Err(HeaderError::Short);
        }
        if crc32c::crc32c(&buf[..crc_at]) != u32_at(crc_at) {
            return Err(HeaderError::Checksum);
        }
        let h = FragmentHeader {
            block: BlockId(buf[16..48].try_into().map_err(|_| HeaderError::Short)?),
            block_size: u64_at(48),
            code: CodeId::from_u8(buf[56]).ok_or(HeaderError::Field("code"))?,
            k: buf[57],
            m: buf[58],
            index: buf[59],
            fragment_len: u64_at(60),
            chunk_size: u32_at(68),
            chunk_crcs: (0..nchunks).map(|i| u32_at(FIXED_LEN + 4 * i)).collect(),
        };
        h.validate(u32_at(12) as usize)?;
        Ok(h)
    }

    /// Cross-field checks: a header whose crc matches but whose fields
    /// contradict each other was written by a bug, not by us.
    fn validate(&self, stored_header_len: usize) -> Result<(), HeaderError> {
        if self.k == 0 || u16::from(self.k) + u16::from(self.m) > 255 {
            return Err(HeaderError::Field("k/m"));
        }
        if self.index >= self.k + self.m {
            return Err(HeaderError::Field("index"));
        }
        if (self.code == CodeId::Replicate) != (self.k == 1) {
            return Err(HeaderError::Field("code"));
        }
        if self.fragment_len != fragment_len(self.block_size, self.k) {
            return Err(HeaderError::Field("fragment length"));
        }
        if self.chunk_size == 0
            || self.chunk_crcs.len() as u64
                != self.fragment_len.div_ceil(u64::from(self.chunk_size))
        {
            return Err(HeaderError::Field("chunks"));
        }
        if stored_header_len != self.header_len() {
            return Err(HeaderError::Field("header length"));
        }
        Ok(())
    }

    /// True when `other` describes a fragment of the same encoding of the
    /// same block (all fields but the index and checksums agree).
    pub fn same_set(&self, other: &FragmentHeader) -> bool {
        self.block == other.block
            && self.block_size == other.block_size
            && self.code == other.code
            && self.k == other.k
            && self.m == other.m
            && self.chunk_size == other.chunk_size
    }

    /// Chunk indices covering payload bytes `[start, end)`.
    pub fn chunks_for(&self, start: u64, end: u64) -> std::ops::Range<usize> {
        let cs = u64::from(self.chunk_size);
        if end <= start {
            return 0..0;
        }
        (start / cs) as usize..end.div_ceil(cs) as usize
    }

    /// Payload byte range of chunks `chunks`.
    pub fn chunk_span(&self, chunks: &std::ops::Range<usize>) -> (u64, u64) {
        let cs = u64::from(self.chunk_size);
        let start = chunks.start as u64 * cs;
        let end = (chunks.end as u64 * cs).min(self.fragment_len);
        (start, end.max(start))
    }

    /// Checks `data`, which holds payload chunks `chunks`; returns the
    /// index of the first chunk whose checksum differs.
    pub fn verify_chunks(&self, chunks: &std::ops::Range<usize>, data: &[u8]) -> Result<(), usize> {
        let cs = self.chunk_size as usize;
        for (n, piece) in data.chunks(cs).enumerate() {
            let i = chunks.start + n;
            if self.chunk_crcs.get(i) != Some(&crc32c::crc32c(piece)) {
                return Err(i);
            }
        }
        Ok(())
    }
}

/// On-disk header length for a fragment of `nchunks` checksum chunks.
pub fn header_len_for(nchunks: usize) -> usize {
    (FIXED_LEN + 4 * nchunks + 4).next_multiple_of(HEADER_ALIGN)
}

/// How many bytes must be read to decode the header whose first bytes are
/// `buf` (for headers longer than one [`HEADER_ALIGN`] page).
pub fn needed_len(buf: &[u8]) -> Option<usize> {
    (buf.len() >= 16).then(|| u32::from_le_bytes([buf[12], buf[13], buf[14], buf[15]]) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(payload: &[u8], chunk: u32) -> FragmentHeader {
        FragmentHeader::for_payload(
            BlockId([7; 32]),
            payload.len() as u64 * 4,
            CodeId::IsalCauchy,
            4,
            2,
            5,
            chunk,
            payload,
        )
    }

    #[test]
    fn header_roundtrips_and_is_one_page_for_4mib_blocks() {
        let p = vec![3u8; 1 << 20];
        let h = sample(&p, 64 << 10);
        let b = h.encode();
        assert_eq!(b.len(), 4096);
        assert_eq!(FragmentHeader::decode(&b).unwrap(), h);
        assert_eq!(h.verify_chunks(&(0..16), &p), Ok(()));
    }

    #[test]
    fn any_flipped_byte_is_rejected() {
        let h = sample(&[1, 2, 3, 4, 5], 2);
        let b = h.encode();
        let used = FIXED_LEN + 4 * h.chunk_crcs.len() + 4;
        for i in 0..used {
            let mut c = b.clone();
            c[i] ^= 0x40;
            assert!(FragmentHeader::decode(&c).is_err(), "byte {i}");
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = FragmentHeader::decode(&buf);
        }
    }
}
