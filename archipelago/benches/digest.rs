//! Whole-stream digests: libcrypto (what the upload path uses) against the
//! RustCrypto crates, over one 4 MiB piece, one core. Run with
//! `cargo bench -p archipelago --bench digest`.

use archipelago::digest::{Algo, Hasher};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use md5::Digest as _;

fn digests(c: &mut Criterion) {
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut g = c.benchmark_group("digest");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function("md5/libcrypto", |b| {
        b.iter(|| {
            let mut h = Hasher::new(Algo::Md5);
            h.update(&data);
            h.finish()
        })
    });
    g.bench_function("md5/md-5 (asm)", |b| b.iter(|| md5::Md5::digest(&data)));
    g.bench_function("sha512/libcrypto", |b| {
        b.iter(|| {
            let mut h = Hasher::new(Algo::Sha512);
            h.update(&data);
            h.finish()
        })
    });
    g.bench_function("sha512/sha2", |b| b.iter(|| sha2::Sha512::digest(&data)));
    g.finish();
}

criterion_group!(benches, digests);
criterion_main!(benches);
