//! Codec and hash throughput for one 4 MiB block on one core: the numbers
//! behind blockd's choice of ISA-L and crc32c (see docs/formats/fragment.md).
//!
//! Groups: `memcpy` (the reference), `encode` (4+2, 1 MiB fragments),
//! `reconstruct` (two data fragments lost), `hash` (BLAKE3, SHA-256, MD5,
//! crc32c). Run: `cargo bench -p blockd --bench codec`.

use std::hint::black_box;
use std::time::Duration;

use blockd::codec::{Codec, IsalCodec, RseCodec};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use reed_solomon_erasure::galois_8::ReedSolomon;
use sha2::Digest;

const BLOCK: usize = 4 << 20;
const K: usize = 4;
const M: usize = 2;
const FRAG: usize = BLOCK / K;

fn block() -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..BLOCK)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(BLOCK as u64));
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g
}

fn memcpy(c: &mut Criterion) {
    let src = block();
    let mut dst = vec![0u8; BLOCK];
    let mut g = group(c, "memcpy");
    g.bench_function("4MiB", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let data = block();
    let frags: Vec<&[u8]> = data.chunks(FRAG).collect();
    let mut parity = vec![vec![0u8; FRAG]; M];
    let codecs: [(&str, Box<dyn Codec>); 2] = [
        ("isa-l", Box::new(IsalCodec::new(K, M).unwrap())),
        (
            "reed-solomon-erasure",
            Box::new(RseCodec::new(K, M).unwrap()),
        ),
    ];
    let mut g = group(c, "encode_4+2");
    for (name, codec) in &codecs {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let mut p: Vec<&mut [u8]> = parity.iter_mut().map(|v| v.as_mut_slice()).collect();
                codec.encode(black_box(&frags), &mut p).unwrap();
            })
        });
    }
    g.finish();
}

fn reconstruct(c: &mut Criterion) {
    let data = block();
    let isal = IsalCodec::new(K, M).unwrap();
    let mut parity = vec![vec![0u8; FRAG]; M];
    {
        let d: Vec<&[u8]> = data.chunks(FRAG).collect();
        let mut p: Vec<&mut [u8]> = parity.iter_mut().map(|v| v.as_mut_slice()).collect();
        isal.encode(&d, &mut p).unwrap();
    }
    let mut g = group(c, "reconstruct_2_data_lost");
    // Survivors: data 2, 3 and both parities; fragments 0 and 1 rebuilt.
    let frags: Vec<Option<&[u8]>> = vec![
        None,
        None,
        Some(&data[2 * FRAG..3 * FRAG]),
        Some(&data[3 * FRAG..]),
        Some(&parity[0]),
        Some(&parity[1]),
    ];
    let mut out = vec![vec![0u8; FRAG]; 2];
    g.bench_function("isa-l", |b| {
        b.iter(|| {
            let mut o: Vec<&mut [u8]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
            isal.reconstruct(black_box(&frags), &[0, 1], &mut o)
                .unwrap();
        })
    });
    // reed-solomon-erasure rebuilds in place over (buffer, present) pairs:
    // called directly so its number carries no copies of ours.
    let rs = ReedSolomon::new(K, M).unwrap();
    let mut rse_parity = vec![vec![0u8; FRAG]; M];
    {
        let d: Vec<&[u8]> = data.chunks(FRAG).collect();
        rs.encode_sep(&d, &mut rse_parity).unwrap();
    }
    let mut shards: Vec<(Vec<u8>, bool)> = data
        .chunks(FRAG)
        .map(<[u8]>::to_vec)
        .chain(rse_parity)
        .map(|v| (v, true))
        .collect();
    g.bench_function("reed-solomon-erasure", |b| {
        b.iter(|| {
            shards[0].1 = false;
            shards[1].1 = false;
            rs.reconstruct_data(black_box(&mut shards)).unwrap();
        })
    });
    g.finish();
}

fn hashes(c: &mut Criterion) {
    let data = block();
    let mut g = group(c, "hash");
    g.bench_function("blake3", |b| {
        b.iter(|| black_box(blake3::hash(black_box(&data))))
    });
    g.bench_function("sha256", |b| {
        b.iter(|| black_box(sha2::Sha256::digest(black_box(&data))))
    });
    g.bench_function("md5", |b| {
        b.iter(|| black_box(md5::Md5::digest(black_box(&data))))
    });
    g.bench_function("crc32c", |b| {
        b.iter(|| black_box(crc32c::crc32c(black_box(&data))))
    });
    g.finish();
}

criterion_group!(benches, memcpy, encode, reconstruct, hashes);
criterion_main!(benches);
