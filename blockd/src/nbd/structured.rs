//! Structured replies and the `base:allocation` metadata context: pure
//! encoders for reply chunks, the parser of `NBD_OPT_{LIST,SET}_META_CONTEXT`
//! data, and the planning of a READ reply from data and hole pieces.
//!
//! Like [`super::proto`], nothing here does IO; everything is tested on
//! byte slices below. A reply is planned as a list of [`Bytes`] segments
//! (headers, then data slices without copying) that the connection's writer
//! sends back to back.

use bytes::Bytes;

use super::proto;

/// The one metadata context the server offers.
pub const BASE_ALLOCATION: &str = "base:allocation";
/// Its context id. Ids are transient and opaque to clients; any value works
/// while there is only one context.
pub const BASE_ALLOCATION_ID: u32 = 1;
/// Bytes of a structured reply chunk header.
pub const CHUNK_HEADER_LEN: usize = 20;
/// Error messages are strings, at most 4 KiB by the spec.
const MAX_MESSAGE: usize = 4096;

/// Zeros for holes inside a `DF` read, which must travel as data.
static ZEROS: [u8; 1 << 20] = [0; 1 << 20];

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The header of one structured reply chunk; `len` payload bytes follow.
pub fn chunk_header(flags: u16, kind: u16, cookie: u64, len: u32) -> [u8; CHUNK_HEADER_LEN] {
    let mut b = [0u8; CHUNK_HEADER_LEN];
    b[..4].copy_from_slice(&proto::STRUCTURED_REPLY_MAGIC.to_be_bytes());
    b[4..6].copy_from_slice(&flags.to_be_bytes());
    b[6..8].copy_from_slice(&kind.to_be_bytes());
    b[8..16].copy_from_slice(&cookie.to_be_bytes());
    b[16..].copy_from_slice(&len.to_be_bytes());
    b
}

/// The final chunk of a reply with nothing more to say: success unless an
/// error chunk came before it.
pub fn none_chunk(cookie: u64) -> [u8; CHUNK_HEADER_LEN] {
    chunk_header(proto::REPLY_FLAG_DONE, proto::REPLY_TYPE_NONE, cookie, 0)
}

/// Header and offset of an `OFFSET_DATA` chunk; `data_len` bytes follow.
pub fn offset_data_header(flags: u16, cookie: u64, offset: u64, data_len: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(CHUNK_HEADER_LEN + 8);
    b.extend_from_slice(&chunk_header(
        flags,
        proto::REPLY_TYPE_OFFSET_DATA,
        cookie,
        8 + data_len,
    ));
    b.extend_from_slice(&offset.to_be_bytes());
    b
}

/// An `OFFSET_HOLE` chunk: `len` bytes at `offset` read as zeros.
pub fn offset_hole(flags: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(CHUNK_HEADER_LEN + 12);
    b.extend_from_slice(&chunk_header(
        flags,
        proto::REPLY_TYPE_OFFSET_HOLE,
        cookie,
        12,
    ));
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b
}

fn error_payload(error: u32, msg: &str) -> Vec<u8> {
    let mut m = msg.as_bytes();
    if m.len() > MAX_MESSAGE {
        // Cut on a character boundary: the message must stay UTF-8.
        let mut n = MAX_MESSAGE;
        while !msg.is_char_boundary(n) {
            n -= 1;
        }
        m = &m[..n];
    }
    let mut b = Vec::with_capacity(6 + m.len() + 8);
    b.extend_from_slice(&error.to_be_bytes());
    b.extend_from_slice(&(m.len() as u16).to_be_bytes());
    b.extend_from_slice(m);
    b
}

/// An `ERROR` chunk: the request failed as a whole.
pub fn error_chunk(flags: u16, cookie: u64, error: u32, msg: &str) -> Vec<u8> {
    let p = error_payload(error, msg);
    let mut b = chunk_header(flags, proto::REPLY_TYPE_ERROR, cookie, p.len() as u32).to_vec();
    b.extend_from_slice(&p);
    b
}

/// An `ERROR_OFFSET` chunk: the bytes at `offset` could not be read.
pub fn error_offset_chunk(flags: u16, cookie: u64, error: u32, msg: &str, offset: u64) -> Vec<u8> {
    let mut p = error_payload(error, msg);
    p.extend_from_slice(&offset.to_be_bytes());
    let mut b = chunk_header(
        flags,
        proto::REPLY_TYPE_ERROR_OFFSET,
        cookie,
        p.len() as u32,
    )
    .to_vec();
    b.extend_from_slice(&p);
    b
}

/// A `BLOCK_STATUS` chunk for context `ctx`: (length, flags) descriptors.
pub fn block_status_chunk(flags: u16, cookie: u64, ctx: u32, descs: &[(u32, u32)]) -> Vec<u8> {
    let len = 4 + 8 * descs.len();
    let mut b = Vec::with_capacity(CHUNK_HEADER_LEN + len);
    b.extend_from_slice(&chunk_header(
        flags,
        proto::REPLY_TYPE_BLOCK_STATUS,
        cookie,
        len as u32,
    ));
    b.extend_from_slice(&ctx.to_be_bytes());
    for (l, f) in descs {
        b.extend_from_slice(&l.to_be_bytes());
        b.extend_from_slice(&f.to_be_bytes());
    }
    b
}

/// Data of an `NBD_REP_META_CONTEXT` reply.
pub fn meta_context_reply(id: u32, name: &str) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(name.as_bytes());
    b
}

/// The data of `NBD_OPT_LIST_META_CONTEXT` / `NBD_OPT_SET_META_CONTEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRequest {
    pub name: String,
    pub queries: Vec<String>,
}

impl MetaRequest {
    /// Parses the option data; `None` when lengths disagree or a string is
    /// not UTF-8 (answered with `NBD_REP_ERR_INVALID`).
    pub fn parse(data: &[u8]) -> Option<MetaRequest> {
        let (name, mut rest) = take_string(data)?;
        if rest.len() < 4 {
            return None;
        }
        let n = be32(rest) as usize;
        rest = &rest[4..];
        // Each query takes at least its 4-byte length: a count the data
        // cannot hold is malformed, and must not size an allocation.
        if n > rest.len() / 4 {
            return None;
        }
        let mut queries = Vec::with_capacity(n);
        for _ in 0..n {
            let (q, r) = take_string(rest)?;
            queries.push(q);
            rest = r;
        }
        rest.is_empty().then_some(MetaRequest { name, queries })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&(self.name.len() as u32).to_be_bytes());
        b.extend_from_slice(self.name.as_bytes());
        b.extend_from_slice(&(self.queries.len() as u32).to_be_bytes());
        for q in &self.queries {
            b.extend_from_slice(&(q.len() as u32).to_be_bytes());
            b.extend_from_slice(q.as_bytes());
        }
        b
    }

    /// Whether the queries name `base:allocation`. Listing also matches no
    /// query at all and the `base:` wildcard (the spec's MUSTs); selecting
    /// takes only the full name. Unknown namespaces and leaf names are
    /// ignored, not errors.
    pub fn wants_base_allocation(&self, listing: bool) -> bool {
        if listing && self.queries.is_empty() {
            return true;
        }
        self.queries
            .iter()
            .any(|q| q == BASE_ALLOCATION || (listing && q == "base:"))
    }
}

/// A u32-length-prefixed UTF-8 string and the bytes after it.
fn take_string(b: &[u8]) -> Option<(String, &[u8])> {
    if b.len() < 4 {
        return None;
    }
    let n = be32(b) as usize;
    let rest = &b[4..];
    if n > rest.len() {
        return None;
    }
    let s = std::str::from_utf8(&rest[..n]).ok()?.to_string();
    Some((s, &rest[n..]))
}

/// `base:allocation` descriptors from the resource layer's runs
/// `(length, is_hole)`, which start at the request offset. With `req_one`
/// only the first, cut to the request length; otherwise all of them (the
/// caller bounds their number). Lengths that would not fit 32 bits end the
/// list there: a reply may cover less than asked.
pub fn descriptors(runs: &[(u64, bool)], req_len: u32, req_one: bool) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(if req_one { 1 } else { runs.len() });
    for &(len, hole) in runs {
        let flags = if hole {
            proto::STATE_HOLE | proto::STATE_ZERO
        } else {
            0
        };
        let cap = if req_one {
            req_len as u64
        } else {
            u32::MAX as u64
        };
        let l = len.min(cap) as u32;
        if l == 0 {
            break;
        }
        out.push((l, flags));
        if req_one || l as u64 != len {
            break;
        }
    }
    out
}

/// One piece of a READ, in order and contiguous with the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Data(Bytes),
    Hole(u64),
    /// This many bytes could not be read: the NBD error value.
    Failed(u64, u32),
}

impl Piece {
    fn len(&self) -> u64 {
        match self {
            Piece::Data(d) => d.len() as u64,
            Piece::Hole(n) | Piece::Failed(n, _) => *n,
        }
    }
}

/// The structured reply to a READ at `offset` that produced `pieces`:
/// adjacent data pieces share one `OFFSET_DATA` chunk (their bytes are not
/// copied), holes become `OFFSET_HOLE` chunks so the client skips them, and
/// failed pieces `ERROR_OFFSET` chunks. With `df` (don't fragment) there is
/// at most one content chunk: holes travel as zeros inside it, and any
/// failure makes the whole reply one `ERROR` chunk. The last chunk carries
/// `REPLY_FLAG_DONE`. The READ length is at most the maximum payload, so
/// every length fits its 32-bit field.
pub fn read_reply(cookie: u64, offset: u64, pieces: &[Piece], df: bool) -> Vec<Bytes> {
    let failed = pieces.iter().find_map(|p| match p {
        Piece::Failed(_, e) => Some(*e),
        _ => None,
    });
    if let (true, Some(e)) = (df, failed) {
        let c = error_chunk(proto::REPLY_FLAG_DONE, cookie, e, "read failed");
        return vec![Bytes::from(c)];
    }
    let all_hole = pieces.iter().all(|p| matches!(p, Piece::Hole(_)));
    if df && !all_hole {
        let total: u64 = pieces.iter().map(Piece::len).sum();
        let mut out = vec![Bytes::from(offset_data_header(
            proto::REPLY_FLAG_DONE,
            cookie,
            offset,
            total as u32,
        ))];
        for p in pieces {
            match p {
                Piece::Data(d) => out.push(d.clone()),
                Piece::Hole(n) => out.extend(zeros(*n)),
                Piece::Failed(..) => unreachable!("handled above"),
            }
        }
        return out;
    }
    // (header, segments) per chunk; the DONE flag is set on the last one.
    let mut chunks: Vec<(Vec<u8>, Vec<Bytes>)> = Vec::new();
    let mut at = offset;
    let mut i = 0;
    while i < pieces.len() {
        match &pieces[i] {
            Piece::Data(_) => {
                let start = at;
                let mut segs = Vec::new();
                while let Some(Piece::Data(d)) = pieces.get(i) {
                    at += d.len() as u64;
                    segs.push(d.clone());
                    i += 1;
                }
                let n = (at - start) as u32;
                chunks.push((offset_data_header(0, cookie, start, n), segs));
            }
            Piece::Hole(_) => {
                let start = at;
                while let Some(Piece::Hole(n)) = pieces.get(i) {
                    at += n;
                    i += 1;
                }
                let n = (at - start) as u32;
                chunks.push((offset_hole(0, cookie, start, n), Vec::new()));
            }
            Piece::Failed(n, e) => {
                let c = error_offset_chunk(0, cookie, *e, "read failed", at);
                chunks.push((c, Vec::new()));
                at += n;
                i += 1;
            }
        }
    }
    let mut out = Vec::new();
    let last = chunks.len().checked_sub(1);
    for (k, (mut hdr, segs)) in chunks.into_iter().enumerate() {
        // A content chunk may end the reply only when no error chunk
        // follows; an error chunk may end it too. Flags are bytes 4..6.
        if Some(k) == last && failed.is_none() {
            hdr[4..6].copy_from_slice(&proto::REPLY_FLAG_DONE.to_be_bytes());
        }
        out.push(Bytes::from(hdr));
        out.extend(segs);
    }
    if last.is_none() || failed.is_some() {
        out.push(Bytes::copy_from_slice(&none_chunk(cookie)));
    }
    out
}

fn zeros(mut n: u64) -> Vec<Bytes> {
    let mut out = Vec::new();
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        out.push(Bytes::from_static(&ZEROS[..k]));
        n -= k as u64;
    }
    out
}

#[cfg(test)]
#[path = "structured_tests.rs"]
mod tests;
