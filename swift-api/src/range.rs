//! HTTP Range parsing and streaming object bodies assembled from segments
//! (plain objects have one; DLO and SLO manifests have many).

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use archipelago::Archipelago;

/// A byte range of the object, inclusive start, exclusive end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What a Range header asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranges {
    /// No header, or one Swift ignores (bad syntax): the whole object.
    Whole,
    /// Satisfiable ranges, in request order.
    Some(Vec<ByteRange>),
    /// Syntactically fine but none satisfiable: 416.
    Unsatisfiable,
}

/// Parses `bytes=a-b,c-,-n` against an object of `size` bytes.
pub fn parse(header: Option<&str>, size: u64) -> Ranges {
    let Some(h) = header else {
        return Ranges::Whole;
    };
    // swob: units before the first `=`, any case, whitespace allowed.
    let Some((units, spec)) = h.split_once('=') else {
        return Ranges::Whole;
    };
    if !units.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Whole;
    }
    let mut out = Vec::new();
    let mut any = false;
    for part in spec.split(',') {
        let part = part.trim();
        let Some((a, b)) = part.split_once('-') else {
            return Ranges::Whole;
        };
        let (a, b) = (a.trim(), b.trim());
        let r = if a.is_empty() {
            let Ok(n) = b.parse::<u64>() else {
                return Ranges::Whole;
            };
            if n == 0 {
                any = true;
                continue;
            }
            ByteRange {
                start: size.saturating_sub(n),
                end: size,
            }
        } else {
            let Ok(s) = a.parse::<u64>() else {
                return Ranges::Whole;
            };
            let e = if b.is_empty() {
                size
            } else {
                let Ok(e) = b.parse::<u64>() else {
                    return Ranges::Whole;
                };
                if e < s {
                    return Ranges::Whole;
                }
                (e + 1).min(size)
            };
            ByteRange { start: s, end: e }
        };
        any = true;
        if r.start < r.end {
            out.push(r);
        }
    }
    if out.is_empty() {
        if any {
            Ranges::Unsatisfiable
        } else {
            Ranges::Whole
        }
    } else {
        Ranges::Some(out)
    }
}

/// A piece of an object's content: `len` bytes at `offset` of a resource,
/// or of `inline` bytes (an SLO's data segment) when those are given.
#[derive(Debug, Clone)]
pub struct Segment {
    pub resource_id: String,
    pub offset: u64,
    pub len: u64,
    pub inline: Option<Bytes>,
}

/// Streams `range` of the concatenation of `segments`, opening each
/// segment's resource only when the stream reaches it.
pub fn stream_segments(
    arch: Archipelago,
    segments: Vec<Segment>,
    range: ByteRange,
) -> BoxStream<'static, Result<Bytes, archipelago::Error>> {
    let mut pieces = Vec::new();
    let mut pos = 0u64;
    for s in segments {
        let (seg_start, seg_end) = (pos, pos + s.len);
        pos = seg_end;
        let start = range.start.max(seg_start);
        let end = range.end.min(seg_end);
        if start < end {
            let off = s.offset + (start - seg_start);
            pieces.push((s.resource_id, s.inline, off, end - start));
        }
    }
    stream::iter(pieces)
        .flat_map(move |(rid, inline, off, len)| match inline {
            Some(b) => {
                let (from, to) = (off as usize, (off + len) as usize);
                stream::once(async move { Ok(b.slice(from..to)) }).boxed()
            }
            None => {
                let arch = arch.clone();
                stream::once(async move { arch.open(&rid, off, len).await })
                    .flat_map(|r| match r {
                        Ok(reader) => reader.into_stream().boxed(),
                        Err(e) => stream::once(async move { Err(e) }).boxed(),
                    })
                    .boxed()
            }
        })
        .boxed()
}

/// A `multipart/byteranges` body for several ranges.
pub fn multipart(
    arch: Archipelago,
    segments: Vec<Segment>,
    ranges: Vec<ByteRange>,
    size: u64,
    content_type: &str,
    boundary: &str,
) -> (u64, BoxStream<'static, Result<Bytes, archipelago::Error>>) {
    let mut len = 0u64;
    let mut parts: Vec<BoxStream<'static, Result<Bytes, archipelago::Error>>> = Vec::new();
    for (i, r) in ranges.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {}-{}/{size}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            r.start,
            r.end - 1
        );
        len += head.len() as u64 + (r.end - r.start);
        parts.push(stream::once(async move { Ok(Bytes::from(head)) }).boxed());
        parts.push(stream_segments(arch.clone(), segments.clone(), *r));
    }
    let tail = format!("\r\n--{boundary}--");
    len += tail.len() as u64;
    parts.push(stream::once(async move { Ok(Bytes::from(tail)) }).boxed());
    (len, stream::iter(parts).flatten().boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_like_swift() {
        let r = |s, e| ByteRange { start: s, end: e };
        assert_eq!(
            parse(Some("bytes=10-19"), 100),
            Ranges::Some(vec![r(10, 20)])
        );
        assert_eq!(parse(Some("bytes=-5"), 100), Ranges::Some(vec![r(95, 100)]));
        assert_eq!(
            parse(Some("bytes=90-"), 100),
            Ranges::Some(vec![r(90, 100)])
        );
        assert_eq!(
            parse(Some("bytes=90-200"), 100),
            Ranges::Some(vec![r(90, 100)])
        );
        assert_eq!(
            parse(Some("bytes=0-0,5-6"), 100),
            Ranges::Some(vec![r(0, 1), r(5, 7)])
        );
        for spaced in [
            "BYTES=0-9",
            "bytes = 0-9",
            "BYTES = 0 - 9",
            "bytes=0 - 9",
            "bytes=0-9 ",
        ] {
            assert_eq!(
                parse(Some(spaced), 100),
                Ranges::Some(vec![r(0, 10)]),
                "{spaced}"
            );
        }
        assert_eq!(parse(Some("parsecs=8-12"), 100), Ranges::Whole);
        assert_eq!(parse(Some("bytes=100-"), 100), Ranges::Unsatisfiable);
        assert_eq!(parse(Some("bytes=5-2"), 100), Ranges::Whole);
        assert_eq!(parse(Some("items=1-2"), 100), Ranges::Whole);
        assert_eq!(parse(None, 100), Ranges::Whole);
    }
}
