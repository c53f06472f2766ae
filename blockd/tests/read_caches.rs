//! The probe cache and the read cache: bounds, hits and misses,
//! invalidation on delete and repair, damage found behind a cached probe,
//! the conformance suite with small caches, and a property test that reads
//! through the caches equal reads without them.

use std::fs;
use std::path::{Path, PathBuf};

use archipelago::conformance::run_chunk_store_conformance;
use archipelago::{BlockId, ChunkError, ChunkStore};
use blockd::{LocalStore, StoreConfig};
use bytes::Bytes;
use proptest::prelude::*;

fn config(root: &Path, probes: usize, read_bytes: u64) -> StoreConfig {
    StoreConfig {
        probe_cache_entries: probes,
        read_cache_bytes: read_bytes,
        ..StoreConfig::with_root(root)
    }
}

fn open(root: &Path, probes: usize, read_bytes: u64) -> LocalStore {
    LocalStore::open(config(root, probes, read_bytes)).unwrap()
}

fn sample(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    Bytes::from(
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

/// The file of fragment `i` of `id`, wherever it is.
fn path_of(store: &LocalStore, id: &BlockId, i: usize) -> PathBuf {
    let hex = id.to_hex();
    store
        .devices()
        .iter()
        .map(|d| d.join(&hex[..2]).join(format!("{hex}.{i}")))
        .find(|p| p.exists())
        .expect("fragment on disk")
}

fn flip_byte(path: &Path, at: u64) {
    let mut b = fs::read(path).unwrap();
    b[at as usize] ^= 0x5a;
    fs::write(path, b).unwrap();
}

async fn put(store: &LocalStore, data: &Bytes) -> BlockId {
    let id = BlockId::of(data);
    store.put(id, data.clone(), None).await.unwrap();
    store.quiesce().await.unwrap();
    id
}

#[tokio::test]
async fn conformance_with_small_caches() {
    // Small enough that the suite's blocks evict each other.
    let dir = tempfile::tempdir().unwrap();
    run_chunk_store_conformance(&open(dir.path(), 2, 256 << 10)).await;
    let dir = tempfile::tempdir().unwrap();
    run_chunk_store_conformance(&open(dir.path(), 0, 0)).await;
}

#[tokio::test]
async fn a_hot_block_is_probed_once_and_its_units_hit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16, 8 << 20);
    let data = sample(4 << 20, 1);
    let id = put(&store, &data).await;
    let off = 3 << 20;
    for _ in 0..3 {
        let got = store.get_range(id, off, 4096).await.unwrap();
        assert_eq!(&got[..], &data[off as usize..off as usize + 4096]);
    }
    let s = store.cache_stats();
    assert_eq!((s.read_misses, s.read_hits), (1, 2));
    assert_eq!((s.probe_misses, s.probe_hits), (1, 0));
    // Another unit of the same block: a read-cache miss, a probe hit.
    let got = store.get_range(id, 100_000, 4096).await.unwrap();
    assert_eq!(&got[..], &data[100_000..104_096]);
    let s = store.cache_stats();
    assert_eq!((s.read_misses, s.probe_hits), (2, 1));
    assert_eq!(s.probe.entries, 1);
    assert_eq!((s.read.entries, s.read.weight), (2, 2 * 65536));
    // A read straddling two units, one of them cached.
    let got = store.get_range(id, 65536 - 100, 200).await.unwrap();
    assert_eq!(&got[..], &data[65536 - 100..65536 + 100]);
    // Served from memory: the fragment files are not even opened.
    for i in 0..6 {
        fs::remove_file(path_of(&store, &id, i)).unwrap();
    }
    let got = store.get_range(id, off + 10, 100).await.unwrap();
    assert_eq!(&got[..], &data[off as usize + 10..off as usize + 110]);
    assert_eq!(store.stats().degraded_reads, 0);
}

#[tokio::test]
async fn long_reads_bypass_the_read_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16, 8 << 20);
    let data = sample(4 << 20, 2);
    let id = put(&store, &data).await;
    let got = store.get_range(id, 1 << 20, 1 << 20).await.unwrap();
    assert_eq!(&got[..], &data[1 << 20..2 << 20]);
    assert_eq!(store.get(id).await.unwrap(), data);
    let s = store.cache_stats();
    assert_eq!(s.read_bypassed, 1);
    assert_eq!(s.read.entries, 0);
    // The ranged read cached the probe; the whole read probed afresh.
    assert_eq!((s.probe_misses, s.probe.entries), (1, 1));
}

#[tokio::test]
async fn memory_stays_within_the_configured_limits() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 1 << 20;
    let store = open(dir.path(), 3, limit);
    let mut blocks = Vec::new();
    for s in 0..6 {
        let data = sample((1 << 20) + s * 1000, 10 + s as u64);
        blocks.push((put(&store, &data).await, data));
    }
    for round in 0..2 {
        for (id, data) in &blocks {
            for u in 0..16u64 {
                let off = u * 65536 + round * 7;
                let got = store.get_range(*id, off, 4096).await.unwrap();
                assert_eq!(&got[..], &data[off as usize..off as usize + 4096]);
                let s = store.cache_stats();
                assert!(s.read.weight <= limit, "{s:?}");
                assert!(s.probe.entries <= 3, "{s:?}");
            }
        }
    }
    let s = store.cache_stats();
    assert_eq!(s.read.limit, limit);
    assert_eq!(s.read.weight, limit, "full, at 64 KiB a unit");
}

#[tokio::test]
async fn zero_disables_both_caches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 0, 0);
    let data = sample(4 << 20, 3);
    let id = put(&store, &data).await;
    for _ in 0..3 {
        let got = store.get_range(id, 5000, 4096).await.unwrap();
        assert_eq!(&got[..], &data[5000..9096]);
    }
    let s = store.cache_stats();
    assert_eq!((s.read_hits, s.read_misses, s.probe_hits), (0, 0, 0));
    assert_eq!((s.probe.entries, s.read.entries), (0, 0));
}

#[tokio::test]
async fn delete_forgets_the_block() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16, 8 << 20);
    let data = sample(4 << 20, 4);
    let id = put(&store, &data).await;
    store.get_range(id, 0, 4096).await.unwrap();
    assert_eq!(store.cache_stats().read.entries, 1);
    store.delete(id).await.unwrap();
    let s = store.cache_stats();
    assert_eq!((s.probe.entries, s.read.entries), (0, 0));
    assert!(matches!(
        store.get_range(id, 0, 4096).await,
        Err(ChunkError::NotFound(_))
    ));
    assert!(!store.contains(id).await.unwrap());
    // Stored again: read again from disk, correctly.
    let id = put(&store, &data).await;
    let got = store.get_range(id, 0, 4096).await.unwrap();
    assert_eq!(&got[..], &data[..4096]);
}

#[tokio::test]
async fn repair_forgets_the_probe() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16, 8 << 20);
    let data = sample(4 << 20, 5);
    let id = put(&store, &data).await;
    store.get_range(id, 0, 4096).await.unwrap();
    assert_eq!(store.cache_stats().probe.entries, 1);
    fs::remove_file(path_of(&store, &id, 1)).unwrap();
    let r = store.repair().await.unwrap();
    assert_eq!(r.fragments_rewritten, 1);
    assert_eq!(store.cache_stats().probe.entries, 0);
    // Verified bytes are still right: the block never changed.
    assert_eq!(store.cache_stats().read.entries, 1);
    let got = store.get_range(id, (1 << 20) + 5, 4096).await.unwrap();
    assert_eq!(&got[..], &data[(1 << 20) + 5..(1 << 20) + 4101]);
    assert_eq!(store.stats().degraded_reads, 0, "repaired before the read");
}

#[tokio::test]
async fn a_corrupt_chunk_behind_a_cached_probe_is_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16, 8 << 20);
    let data = sample(4 << 20, 6);
    let id = put(&store, &data).await;
    // The probe gets cached.
    store.get_range(id, 0, 4096).await.unwrap();
    // Chunk 5 of fragment 0 (block bytes 320 KiB..384 KiB).
    flip_byte(&path_of(&store, &id, 0), 4096 + (5 << 16) + 17);
    let before = store.stats();
    let off = (5 << 16) + 1000;
    let got = store.get_range(id, off as u64, 4096).await.unwrap();
    assert_eq!(&got[..], &data[off..off + 4096]);
    let after = store.stats();
    assert_eq!(after.degraded_reads, before.degraded_reads + 1);
    assert_eq!(
        after.fragments_corrupt_seen,
        before.fragments_corrupt_seen + 1
    );
    let s = store.cache_stats();
    assert_eq!(s.probe_fallbacks, 1);
    assert_eq!(s.probe.entries, 0, "a damaged block is not cached");
    // The rebuilt unit is cached (verified by the rebuild), so it reads
    // from memory; the whole-block read probes afresh and finds the damage
    // again, as every read of it will until repair.
    let got = store
        .get_range(id, (off + 8192) as u64, 8192)
        .await
        .unwrap();
    assert_eq!(&got[..], &data[off + 8192..off + 16384]);
    assert_eq!(store.get(id).await.unwrap(), data);
    assert_eq!(store.stats().degraded_reads, before.degraded_reads + 2);
    assert_eq!(store.repair().await.unwrap().fragments_rewritten, 1);
}

#[tokio::test]
async fn a_missing_fragment_behind_a_cached_probe_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16, 8 << 20);
    let data = sample(4 << 20, 7);
    let id = put(&store, &data).await;
    // The probe gets cached.
    store.get_range(id, 0, 4096).await.unwrap();
    fs::remove_file(path_of(&store, &id, 2)).unwrap();
    let off = (2 << 20) + 12345;
    let got = store.get_range(id, off as u64, 4096).await.unwrap();
    assert_eq!(&got[..], &data[off..off + 4096]);
    assert_eq!(store.stats().degraded_reads, 1);
    assert_eq!(store.stats().fragments_missing_seen, 1);
    assert_eq!(store.cache_stats().probe_fallbacks, 1);
}

#[tokio::test]
async fn header_damage_is_still_found_by_whole_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 16, 8 << 20);
    let data = sample(4 << 20, 8);
    let id = put(&store, &data).await;
    // The probe gets cached.
    store.get_range(id, 0, 4096).await.unwrap();
    flip_byte(&path_of(&store, &id, 5), 20); // a parity header
    assert_eq!(store.get(id).await.unwrap(), data);
    assert_eq!(store.stats().fragments_corrupt_seen, 1);
    assert_eq!(store.cache_stats().probe.entries, 0);
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Two stores over the same directories, one with (small, so evicting)
    /// caches and one without, return the same bytes for random ranges of
    /// random blocks, before and after a fragment goes missing.
    #[test]
    fn reads_through_the_caches_equal_reads_without(
        sizes in proptest::collection::vec(1usize..(4 << 20) + 1, 1..4),
        seed in any::<u64>(),
        ranges in proptest::collection::vec(
            (0usize..4, any::<u64>(), prop_oneof![1u64..9000, 1u64..300_000]),
            1..40,
        ),
        lose in proptest::option::of((0usize..4, 0usize..6, 0usize..40)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let cached = open(dir.path(), 2, 512 << 10);
            let plain = open(dir.path(), 0, 0);
            let mut blocks = Vec::new();
            for (n, &len) in sizes.iter().enumerate() {
                let data = sample(len, seed ^ n as u64);
                blocks.push((put(&cached, &data).await, data));
            }
            for (step, (b, off, n)) in ranges.into_iter().enumerate() {
                if let Some((lb, li, at)) = lose {
                    if at == step {
                        let (id, _) = &blocks[lb % blocks.len()];
                        let k = if blocks[lb % blocks.len()].1.len() < 256 << 10 { 3 } else { 6 };
                        fs::remove_file(path_of(&cached, id, li % k)).unwrap();
                    }
                }
                let (id, data) = &blocks[b % blocks.len()];
                // Mostly inside the block, sometimes past its end.
                let off = off % (data.len() as u64 + 70_000);
                let a = cached.get_range(*id, off, n).await.unwrap();
                let p = plain.get_range(*id, off, n).await.unwrap();
                let end = (off + n).min(data.len() as u64) as usize;
                let start = (off as usize).min(end);
                assert_eq!(&a[..], &p[..], "range {}+{}", off, n);
                assert_eq!(&a[..], &data[start..end], "range {}+{}", off, n);
            }
        });
    }
}
