//! Unit and property tests of the structured reply codec. Chunks are
//! decoded here by hand, from the spec's layout, not with the encoders.

use super::*;
use proptest::prelude::*;

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

/// One decoded chunk: (flags, type, cookie, payload).
type Chunk = (u16, u16, u64, Vec<u8>);

fn decode(segs: &[Bytes]) -> Vec<Chunk> {
    let wire: Vec<u8> = segs.iter().flat_map(|s| s.iter().copied()).collect();
    let mut out = Vec::new();
    let mut b = &wire[..];
    while !b.is_empty() {
        assert_eq!(be32(b), 0x668e_33ef, "chunk magic");
        let len = be32(&b[16..]) as usize;
        out.push((
            be16(&b[4..]),
            be16(&b[6..]),
            be64(&b[8..]),
            b[20..20 + len].to_vec(),
        ));
        b = &b[20 + len..];
    }
    out
}

/// Reassembles a READ of `len` bytes at `offset` from its chunks, checking
/// the spec's rules: no overlap, inside the request, DONE on the last
/// chunk only. `Err(error)` if an error chunk came.
fn reassemble(chunks: &[Chunk], offset: u64, len: usize) -> Result<Vec<u8>, u32> {
    let mut buf = vec![None; len];
    let mut error = None;
    for (i, (flags, kind, cookie, p)) in chunks.iter().enumerate() {
        assert_eq!(*cookie, 42);
        assert_eq!(flags & 1 == 1, i == chunks.len() - 1, "DONE only last");
        let (start, bytes): (u64, Vec<u8>) = match *kind {
            0 => {
                assert!(p.is_empty());
                continue;
            }
            1 => (be64(p), p[8..].to_vec()),
            2 => {
                assert_eq!(p.len(), 12);
                let n = be32(&p[8..]) as usize;
                assert!(n > 0);
                (be64(p), vec![0; n])
            }
            0x8001 | 0x8002 => {
                let e = be32(p);
                assert_ne!(e, 0);
                let m = be16(&p[4..]) as usize;
                assert!(std::str::from_utf8(&p[6..6 + m]).is_ok());
                error.get_or_insert(e);
                continue;
            }
            k => panic!("unexpected chunk type {k}"),
        };
        assert!(start >= offset && start + bytes.len() as u64 <= offset + len as u64);
        for (k, v) in bytes.into_iter().enumerate() {
            let slot = &mut buf[(start - offset) as usize + k];
            assert!(slot.is_none(), "overlapping chunks");
            *slot = Some(v);
        }
    }
    if let Some(e) = error {
        return Err(e);
    }
    Ok(buf
        .into_iter()
        .map(|b| b.expect("byte not covered"))
        .collect())
}

#[test]
fn chunk_header_layout() {
    let h = chunk_header(1, 5, 0x0102_0304_0506_0708, 12);
    assert_eq!(&h[..4], &[0x66, 0x8e, 0x33, 0xef]);
    assert_eq!(&h[4..8], &[0, 1, 0, 5]);
    assert_eq!(&h[8..16], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&h[16..], &[0, 0, 0, 12]);
    assert_eq!(&none_chunk(9)[4..8], &[0, 1, 0, 0]);
}

#[test]
fn hole_error_and_status_payloads() {
    let h = offset_hole(0, 1, 4096, 512);
    assert_eq!(h.len(), 32);
    assert_eq!(be32(&h[16..]), 12);
    assert_eq!(be64(&h[20..]), 4096);
    assert_eq!(be32(&h[28..]), 512);

    let e = error_chunk(1, 1, proto::EINVAL, "no");
    assert_eq!(be16(&e[6..]), 0x8001);
    assert_eq!(be32(&e[16..]), 8);
    assert_eq!(be32(&e[20..]), 22);
    assert_eq!(be16(&e[24..]), 2);
    assert_eq!(&e[26..], b"no");

    let e = error_offset_chunk(0, 1, proto::EIO, "", 77);
    assert_eq!(be16(&e[6..]), 0x8002);
    assert_eq!(be32(&e[16..]), 14);
    assert_eq!(be64(&e[26..]), 77);

    // A long message is cut to 4 KiB on a character boundary.
    let long = "é".repeat(3000);
    let e = error_chunk(1, 1, proto::EIO, &long);
    let m = be16(&e[24..]) as usize;
    assert!(m <= 4096 && std::str::from_utf8(&e[26..26 + m]).is_ok());

    let s = block_status_chunk(1, 1, 7, &[(4096, 3), (512, 0)]);
    assert_eq!(be32(&s[16..]), 4 + 16);
    assert_eq!(be32(&s[20..]), 7);
    assert_eq!(
        &s[24..],
        &[0, 0, 0x10, 0, 0, 0, 0, 3, 0, 0, 2, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        meta_context_reply(1, BASE_ALLOCATION),
        b"\0\0\0\x01base:allocation"
    );
}

#[test]
fn meta_request_parses_libnbd_style_set() {
    let r = MetaRequest {
        name: "vol".into(),
        queries: vec!["base:allocation".into(), "qemu:dirty-bitmap:x".into()],
    };
    let data = r.encode();
    assert_eq!(&data[..7], b"\0\0\0\x03vol");
    assert_eq!(MetaRequest::parse(&data), Some(r.clone()));
    assert!(r.wants_base_allocation(false));
    let other = MetaRequest {
        name: "vol".into(),
        queries: vec!["qemu:allocation-depth".into(), "base:".into()],
    };
    assert!(!other.wants_base_allocation(false), "base: selects nothing");
    assert!(other.wants_base_allocation(true), "base: lists base:*");
    let none = MetaRequest {
        name: "vol".into(),
        queries: vec![],
    };
    assert!(!none.wants_base_allocation(false));
    assert!(none.wants_base_allocation(true));
}

#[test]
fn meta_request_rejects_malformed() {
    assert_eq!(MetaRequest::parse(&[]), None);
    assert_eq!(MetaRequest::parse(&[0, 0, 0, 0]), None, "no query count");
    assert_eq!(MetaRequest::parse(&[0, 0, 0, 9, b'a', 0, 0, 0, 0]), None);
    // One query announced, none present.
    assert_eq!(MetaRequest::parse(&[0, 0, 0, 0, 0, 0, 0, 1]), None);
    // A huge count must not allocate.
    assert_eq!(
        MetaRequest::parse(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        None
    );
    // Query longer than the data.
    assert_eq!(
        MetaRequest::parse(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5, b'b']),
        None
    );
    // Trailing bytes.
    assert_eq!(MetaRequest::parse(&[0, 0, 0, 0, 0, 0, 0, 0, 1]), None);
    // Not UTF-8.
    assert_eq!(
        MetaRequest::parse(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff]),
        None
    );
}

#[test]
fn descriptors_flags_req_one_and_bounds() {
    let runs = [(1000u64, true), (3000, false), (500, true)];
    assert_eq!(
        descriptors(&runs, 4500, false),
        vec![(1000, 3), (3000, 0), (500, 3)]
    );
    assert_eq!(descriptors(&runs, 4500, true), vec![(1000, 3)]);
    // REQ_ONE never exceeds the request length.
    assert_eq!(descriptors(&[(8192, false)], 100, true), vec![(100, 0)]);
    // A run too long for 32 bits ends the list, truncated.
    assert_eq!(
        descriptors(&[(1 << 33, true), (5, false)], u32::MAX, false),
        vec![(u32::MAX, 3)]
    );
    assert_eq!(descriptors(&[], 10, false), vec![]);
}

#[test]
fn read_reply_sends_holes_as_holes() {
    let d = Bytes::from_static(&[7u8; 600]);
    let pieces = [
        Piece::Hole(512),
        Piece::Data(d.clone()),
        Piece::Data(d),
        Piece::Hole(100),
        Piece::Hole(300),
    ];
    let chunks = decode(&read_reply(42, 1000, &pieces, false));
    // hole, one data chunk for both data pieces, one merged hole.
    let kinds: Vec<u16> = chunks.iter().map(|c| c.1).collect();
    assert_eq!(kinds, vec![2, 1, 2]);
    assert_eq!(be64(&chunks[1].3), 1512);
    assert_eq!(chunks[1].3.len(), 8 + 1200);
    assert_eq!(be32(&chunks[2].3[8..]), 400);
    let got = reassemble(&chunks, 1000, 2112).unwrap();
    assert!(got[..512].iter().all(|&b| b == 0));
    assert!(got[512..1712].iter().all(|&b| b == 7));
    assert!(got[1712..].iter().all(|&b| b == 0));
}

#[test]
fn read_reply_df_sends_one_content_chunk() {
    let pieces = [Piece::Data(Bytes::from_static(b"abc")), Piece::Hole(5)];
    let chunks = decode(&read_reply(42, 0, &pieces, true));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].1, 1);
    assert_eq!(reassemble(&chunks, 0, 8).unwrap(), b"abc\0\0\0\0\0");
    // All hole: one hole chunk is one content chunk.
    let chunks = decode(&read_reply(42, 0, &[Piece::Hole(9)], true));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].1, 2);
    // A hole larger than the zero buffer travels as several slices.
    let big = [Piece::Data(Bytes::from_static(b"x")), Piece::Hole(3 << 20)];
    let chunks = decode(&read_reply(42, 0, &big, true));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].3.len(), 8 + 1 + (3 << 20));
}

#[test]
fn read_reply_errors() {
    let pieces = [
        Piece::Data(Bytes::from_static(b"ok")),
        Piece::Failed(4, proto::EIO),
        Piece::Hole(2),
    ];
    let chunks = decode(&read_reply(42, 10, &pieces, false));
    let kinds: Vec<u16> = chunks.iter().map(|c| c.1).collect();
    assert_eq!(kinds, vec![1, 0x8002, 2, 0]);
    let m = be16(&chunks[1].3[4..]) as usize;
    assert_eq!(be64(&chunks[1].3[6 + m..]), 12, "error offset");
    assert_eq!(reassemble(&chunks, 10, 8), Err(proto::EIO));
    let chunks = decode(&read_reply(42, 10, &pieces, true));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].1, 0x8001);
    // An empty read is a lone NONE chunk.
    let chunks = decode(&read_reply(42, 10, &[], false));
    assert_eq!(chunks, vec![(1, 0, 42, vec![])]);
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        (1usize..2000, any::<u8>()).prop_map(|(n, v)| Piece::Data(Bytes::from(vec![v; n]))),
        (1u64..5000).prop_map(Piece::Hole),
    ]
}

proptest! {
    #[test]
    fn read_reply_reassembles_to_the_pieces(pieces in proptest::collection::vec(piece(), 0..12),
                                            offset in 0u64..1 << 40, df in any::<bool>()) {
        let want: Vec<u8> = pieces.iter().flat_map(|p| match p {
            Piece::Data(d) => d.to_vec(),
            Piece::Hole(n) => vec![0; *n as usize],
            Piece::Failed(..) => unreachable!(),
        }).collect();
        let chunks = decode(&read_reply(42, offset, &pieces, df));
        let content = chunks.iter().filter(|c| c.1 == 1 || c.1 == 2).count();
        if df {
            prop_assert!(content <= 1);
        }
        prop_assert_eq!(reassemble(&chunks, offset, want.len()), Ok(want));
    }

    #[test]
    fn meta_request_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Some(r) = MetaRequest::parse(&data) {
            prop_assert_eq!(r.encode(), data);
        }
    }

    #[test]
    fn meta_request_roundtrip(name in "[a-z0-9-]{0,20}",
                              queries in proptest::collection::vec("[a-z:-]{0,20}", 0..5)) {
        let r = MetaRequest { name, queries };
        prop_assert_eq!(MetaRequest::parse(&r.encode()), Some(r));
    }

    #[test]
    fn descriptors_cover_at_most_the_runs(runs in proptest::collection::vec((1u64..1 << 34, any::<bool>()), 0..20),
                                          req_len in 1u32.., one in any::<bool>()) {
        let d = descriptors(&runs, req_len, one);
        let covered: u64 = d.iter().map(|x| x.0 as u64).sum();
        let total: u64 = runs.iter().map(|r| r.0).sum();
        prop_assert!(covered <= total);
        prop_assert!(d.iter().all(|x| x.0 > 0 && (x.1 == 0 || x.1 == 3)));
        prop_assert_eq!(d.is_empty(), runs.is_empty());
        if one {
            prop_assert!(d.len() <= 1 && covered <= req_len as u64);
        }
    }
}
