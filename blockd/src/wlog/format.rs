//! Byte format of write-log records (`docs/formats/wlog.md`): a 64-byte
//! little-endian header, the payload, zero padding to [`ALIGN`]. Pure
//! encode/decode, so it is unit- and property-tested here.

/// `"WLOG"` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"WLOG");
pub const VERSION: u16 = 1;
pub const HEADER_LEN: usize = 64;
/// Every record starts and ends on this boundary (a sector), so a record
/// never shares a sector with the next group's first record.
pub const ALIGN: usize = 512;
/// Every group write starts and ends on this boundary (a page), so the log
/// can be written with O_DIRECT.
pub const GROUP_ALIGN: usize = 4096;
/// Bytes of a resource id (32 lowercase hex characters).
pub const RID_LEN: usize = 32;

/// What a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `len` bytes of data at `offset` follow the header.
    Data = 1,
    /// `len` bytes at `offset` read as zeros (TRIM, WRITE_ZEROES).
    Zero = 2,
    /// Every earlier record of the resource is void (revert, delete).
    Forget = 3,
    /// Filler up to the next group boundary; `len` is the record's total
    /// size including its header.
    Pad = 4,
}

impl Kind {
    fn from_u16(v: u16) -> Option<Kind> {
        Some(match v {
            1 => Kind::Data,
            2 => Kind::Zero,
            3 => Kind::Forget,
            4 => Kind::Pad,
            _ => return None,
        })
    }
}

/// A decoded header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub seq: u64,
    pub rid: [u8; RID_LEN],
    pub offset: u64,
    pub len: u32,
}

impl Header {
    /// Payload bytes stored after the header.
    pub fn payload_len(&self) -> usize {
        match self.kind {
            Kind::Data => self.len as usize,
            _ => 0,
        }
    }

    /// Total bytes the record occupies in the log.
    pub fn record_len(&self) -> usize {
        match self.kind {
            Kind::Pad => self.len as usize,
            _ => record_len(self.payload_len()),
        }
    }
}

/// Bytes a record with `payload` bytes of data occupies.
pub fn record_len(payload: usize) -> usize {
    (HEADER_LEN + payload).div_ceil(ALIGN) * ALIGN
}

/// A resource id as stored, or `None` if it is not [`RID_LEN`] bytes.
pub fn rid_bytes(rid: &str) -> Option<[u8; RID_LEN]> {
    rid.as_bytes().try_into().ok()
}

/// Writes the record (header, payload, zero padding) into `out`, which must
/// be exactly `h.record_len()` bytes; every byte of it is written.
pub fn encode(h: &Header, payload: &[u8], out: &mut [u8]) {
    debug_assert_eq!(payload.len(), h.payload_len());
    debug_assert_eq!(out.len(), h.record_len());
    out[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6..8].copy_from_slice(&(h.kind as u16).to_le_bytes());
    out[8..16].copy_from_slice(&h.seq.to_le_bytes());
    out[16..48].copy_from_slice(&h.rid);
    out[48..56].copy_from_slice(&h.offset.to_le_bytes());
    out[56..60].copy_from_slice(&h.len.to_le_bytes());
    out[HEADER_LEN..HEADER_LEN + payload.len()].copy_from_slice(payload);
    out[HEADER_LEN + payload.len()..].fill(0);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[..60]), payload);
    out[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `buf`: its header and payload range
/// within `buf`, or `None` if it is not a whole valid record (bad magic,
/// version, kind, CRC, or cut short): where a log scan stops.
pub fn decode(buf: &[u8]) -> Option<(Header, std::ops::Range<usize>)> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().unwrap());
    let u16_at = |i: usize| u16::from_le_bytes(buf[i..i + 2].try_into().unwrap());
    let u64_at = |i: usize| u64::from_le_bytes(buf[i..i + 8].try_into().unwrap());
    if u32_at(0) != MAGIC || u16_at(4) != VERSION {
        return None;
    }
    let h = Header {
        kind: Kind::from_u16(u16_at(6))?,
        seq: u64_at(8),
        rid: buf[16..48].try_into().unwrap(),
        offset: u64_at(48),
        len: u32_at(56),
    };
    let total = h.record_len();
    if total < HEADER_LEN || !total.is_multiple_of(ALIGN) || total > buf.len() {
        return None;
    }
    let payload = HEADER_LEN..HEADER_LEN + h.payload_len();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&buf[..60]), &buf[payload.clone()]);
    (crc == u32_at(60)).then_some((h, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(h: &Header, p: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; h.record_len()];
        encode(h, p, &mut out);
        out
    }

    #[test]
    fn layout_is_the_documented_one() {
        let h = Header {
            kind: Kind::Data,
            seq: 7,
            rid: [b'a'; 32],
            offset: 4096,
            len: 3,
        };
        let b = enc(&h, b"xyz");
        assert_eq!(b.len(), 512);
        assert_eq!(&b[0..4], b"WLOG");
        assert_eq!(&b[4..6], &[1, 0]);
        assert_eq!(&b[6..8], &[1, 0]);
        assert_eq!(&b[8..16], &7u64.to_le_bytes());
        assert_eq!(&b[64..67], b"xyz");
        assert!(b[67..].iter().all(|&x| x == 0));
        let (d, r) = decode(&b).unwrap();
        assert_eq!(d, h);
        assert_eq!(&b[r], b"xyz");
        assert_eq!(record_len(4096), 4608);
        assert_eq!(record_len(448), 512);
    }

    proptest! {
        #[test]
        fn roundtrip_and_any_flipped_bit_is_refused(
            kind in 1u16..4, seq in any::<u64>(), off in any::<u64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..2000),
            flip in any::<prop::sample::Index>(), bit in 0u8..8,
        ) {
            let kind = Kind::from_u16(kind).unwrap();
            let len = if kind == Kind::Data { payload.len() as u32 } else { 12345 };
            let payload = if kind == Kind::Data { payload } else { Vec::new() };
            let h = Header { kind, seq, rid: [b'f'; 32], offset: off, len };
            let mut b = enc(&h, &payload);
            let (d, r) = decode(&b).unwrap();
            prop_assert_eq!(&d, &h);
            prop_assert_eq!(&b[r], &payload[..]);
            // A flip inside header or payload is caught; the padding is
            // not covered (it carries nothing).
            let covered = HEADER_LEN + payload.len();
            let i = flip.index(covered);
            b[i] ^= 1 << bit;
            prop_assert!(decode(&b).is_none());
            // A record cut short is refused too.
            b[i] ^= 1 << bit;
            prop_assert!(decode(&b[..b.len() - 1]).is_none());
        }
    }
}
