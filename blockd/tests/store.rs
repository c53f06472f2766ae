//! LocalStore against real directories: the conformance suite, then fault
//! injection by deleting, corrupting and hiding fragment files.

use std::fs;
use std::path::{Path, PathBuf};

use archipelago::{BlockId, ChunkError, ChunkStore};
use blockd::{EngineKind, LocalStore, PolicyConfig, StoreConfig};
use bytes::Bytes;
use proptest::prelude::*;

fn config(root: &Path, engine: &str) -> StoreConfig {
    StoreConfig {
        io_engine: engine.into(),
        ..StoreConfig::with_root(root)
    }
}

fn open(root: &Path) -> LocalStore {
    LocalStore::open(config(root, "auto")).unwrap()
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

/// Fragment files of `id` on disk, by index.
fn fragments(store: &LocalStore, id: &BlockId) -> Vec<(usize, PathBuf)> {
    let hex = id.to_hex();
    let mut out = Vec::new();
    for d in store.devices() {
        let Ok(entries) = fs::read_dir(d.join(&hex[..2])) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(idx) = name.strip_prefix(&format!("{hex}.")) {
                if let Ok(i) = idx.parse() {
                    out.push((i, e.path()));
                }
            }
        }
    }
    out.sort();
    out
}

fn path_of(store: &LocalStore, id: &BlockId, i: usize) -> PathBuf {
    fragments(store, id)
        .into_iter()
        .find(|(j, _)| *j == i)
        .map(|(_, p)| p)
        .expect("fragment on disk")
}

fn flip_byte(path: &Path, at: u64) {
    let mut b = fs::read(path).unwrap();
    let at = (at as usize) % b.len();
    b[at] ^= 0x5a;
    fs::write(path, b).unwrap();
}

async fn put(store: &LocalStore, data: &Bytes) -> BlockId {
    let id = BlockId::of(data);
    store.put(id, data.clone(), None).await.unwrap();
    // put returns at c = 5 of 6; the checks below look at all six files.
    store.quiesce().await.unwrap();
    id
}

#[tokio::test]
async fn local_store_keeps_the_chunk_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    archipelago::conformance::run_chunk_store_conformance(&store).await;
}

#[tokio::test]
async fn sync_engine_keeps_the_contract_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(config(dir.path(), "sync")).unwrap();
    assert_eq!(store.io_engine(), EngineKind::Sync);
    archipelago::conformance::run_chunk_store_conformance(&store).await;
}

#[tokio::test]
async fn io_uring_is_used_when_the_kernel_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Informational: "auto" falls back silently; this machine's answer shows
    // in the test log.
    eprintln!("io engine on this machine: {:?}", store.io_engine());
    if let Ok(s) = LocalStore::open(config(&dir.path().join("u"), "uring")) {
        assert_eq!(s.io_engine(), EngineKind::Uring);
    }
}

#[tokio::test]
async fn a_4mib_block_is_six_fragments_on_six_devices() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = put(&store, &sample(4 << 20, 1)).await;
    let frags = fragments(&store, &id);
    assert_eq!(
        frags.iter().map(|f| f.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5]
    );
    let mut devs: Vec<_> = frags
        .iter()
        .map(|(_, p)| p.parent().unwrap().parent().unwrap().to_owned())
        .collect();
    devs.sort();
    devs.dedup();
    assert_eq!(devs.len(), 6, "x = 1: one fragment per device");
    // 1 MiB payload + one 4 KiB header page.
    assert_eq!(fs::metadata(&frags[0].1).unwrap().len(), (1 << 20) + 4096);
}

#[tokio::test]
async fn small_blocks_are_replicated() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample(100 << 10, 2);
    let id = put(&store, &data).await;
    let frags = fragments(&store, &id);
    assert_eq!(frags.len(), 3, "m + 1 copies below replicate_below");
    fs::remove_file(&frags[0].1).unwrap();
    fs::remove_file(&frags[2].1).unwrap();
    assert_eq!(store.get(id).await.unwrap(), data);
}

#[tokio::test]
async fn losing_any_m_fragments_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample((3 << 20) + 12345, 3);
    let id = put(&store, &data).await;
    let saved: Vec<(usize, Vec<u8>)> = fragments(&store, &id)
        .into_iter()
        .map(|(i, p)| (i, fs::read(p).unwrap()))
        .collect();
    for a in 0..6 {
        for b in a + 1..6 {
            let (pa, pb) = (path_of(&store, &id, a), path_of(&store, &id, b));
            fs::remove_file(&pa).unwrap();
            fs::remove_file(&pb).unwrap();
            assert_eq!(store.get(id).await.unwrap(), data, "lost {a} and {b}");
            let got = store.get_range(id, 1 << 20, 300_000).await.unwrap();
            assert_eq!(&got[..], &data[1 << 20..(1 << 20) + 300_000]);
            fs::write(&pa, &saved[a].1).unwrap();
            fs::write(&pb, &saved[b].1).unwrap();
        }
    }
    assert!(store.stats().degraded_reads >= 15);
}

#[tokio::test]
async fn corruption_in_any_fragment_is_detected_rebuilt_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample(4 << 20, 4);
    let id = put(&store, &data).await;
    for i in 0..6 {
        for at in [10u64, 60, 4096 + 5, 4096 + 700_000, (1 << 20) + 4000] {
            let p = path_of(&store, &id, i);
            let orig = fs::read(&p).unwrap();
            flip_byte(&p, at);
            let before = store.stats().fragments_corrupt_seen;
            assert_eq!(store.get(id).await.unwrap(), data, "fragment {i} byte {at}");
            let parity_payload = i >= 4 && at >= 4096;
            if parity_payload {
                // Reads never touch parity payloads; repair's scrub does.
                let r = store.repair().await.unwrap();
                assert_eq!(
                    (r.fragments_corrupt, r.fragments_rewritten),
                    (1, 1),
                    "fragment {i} byte {at}"
                );
                assert_eq!(fs::read(&p).unwrap(), orig, "repaired in place");
            } else {
                assert!(
                    store.stats().fragments_corrupt_seen > before,
                    "reported: fragment {i} byte {at}"
                );
                fs::write(&p, orig).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn a_ranged_read_touches_only_the_chunks_it_needs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample(4 << 20, 16);
    let id = put(&store, &data).await;
    // Damage fragment 2 and chunk 10 (bytes 640 KiB..704 KiB) of fragment 0.
    flip_byte(&path_of(&store, &id, 2), 4096 + 1000);
    flip_byte(&path_of(&store, &id, 0), 4096 + (10 << 16) + 5);
    let before = store.stats();
    // A few KiB inside chunk 1 of fragment 0: neither damage is read.
    let got = store.get_range(id, 70_000, 8192).await.unwrap();
    assert_eq!(&got[..], &data[70_000..78_192]);
    assert_eq!(store.stats(), before, "nothing damaged was touched");
    // Inside chunk 10 of fragment 0: found, rebuilt, reported.
    let off = (10 << 16) + 100;
    let got = store.get_range(id, off as u64, 4096).await.unwrap();
    assert_eq!(&got[..], &data[off..off + 4096]);
    let after = store.stats();
    assert_eq!(after.degraded_reads, before.degraded_reads + 1);
    assert_eq!(
        after.fragments_corrupt_seen,
        before.fragments_corrupt_seen + 1
    );
}

#[tokio::test]
async fn losing_m_plus_one_is_unrecoverable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = put(&store, &sample(2 << 20, 5)).await;
    for i in [0, 3, 5] {
        fs::remove_file(path_of(&store, &id, i)).unwrap();
    }
    assert!(matches!(
        store.get(id).await,
        Err(ChunkError::Unrecoverable(..))
    ));
    assert!(!store.contains(id).await.unwrap());
    let r = store.repair().await.unwrap();
    assert_eq!(r.blocks_unrecoverable, 1);
}

#[tokio::test]
async fn repair_rewrites_missing_and_corrupt_fragments() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample(4 << 20, 6);
    let id = put(&store, &data).await;
    let originals: Vec<Vec<u8>> = fragments(&store, &id)
        .into_iter()
        .map(|(_, p)| fs::read(p).unwrap())
        .collect();
    let lost = path_of(&store, &id, 1);
    fs::remove_file(&lost).unwrap();
    let bad = path_of(&store, &id, 4);
    flip_byte(&bad, 4096 + 123_456);
    let r = store.repair().await.unwrap();
    assert_eq!(
        (
            r.blocks_checked,
            r.fragments_missing,
            r.fragments_corrupt,
            r.fragments_rewritten
        ),
        (1, 1, 1, 2)
    );
    let now: Vec<Vec<u8>> = fragments(&store, &id)
        .into_iter()
        .map(|(_, p)| fs::read(p).unwrap())
        .collect();
    assert_eq!(now, originals, "rewritten byte for byte");
    let again = store.repair().await.unwrap();
    assert_eq!(again.fragments_rewritten, 0);
}

#[tokio::test]
async fn a_lost_device_is_read_around_and_recreated_by_repair() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let blocks: Vec<Bytes> = (0..5)
        .map(|s| sample((1 << 20) + s * 1000, 70 + s as u64))
        .collect();
    let mut ids = Vec::new();
    for b in &blocks {
        ids.push(put(&store, b).await);
    }
    fs::remove_dir_all(&store.devices()[2]).unwrap();
    for (id, b) in ids.iter().zip(&blocks) {
        assert_eq!(&store.get(*id).await.unwrap(), b);
    }
    let r = store.repair().await.unwrap();
    assert_eq!(r.fragments_missing, 5);
    assert_eq!(r.fragments_rewritten, 5);
    assert!(store.devices()[2].is_dir());
    for id in &ids {
        assert_eq!(fragments(&store, id).len(), 6);
    }
}

#[tokio::test]
async fn put_is_idempotent_and_rewrites_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample(1 << 20, 8);
    let id = put(&store, &data).await;
    put(&store, &data).await;
    assert_eq!(fragments(&store, &id).len(), 6);
    let gone = path_of(&store, &id, 5);
    fs::remove_file(&gone).unwrap();
    put(&store, &data).await;
    assert!(gone.exists(), "a re-put fills in the missing fragment");
    assert_eq!(store.get(id).await.unwrap(), data);
}

#[tokio::test]
async fn put_refuses_an_unknown_policy() {
    // (The id is the caller's hash of the data, by the ChunkStore
    // contract; put does not hash the block again. Reads verify it.)
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample(1 << 20, 9);
    assert!(matches!(
        store.put(BlockId::of(&data), data, Some("nope")).await,
        Err(ChunkError::Backend(_))
    ));
}

#[tokio::test]
async fn delete_removes_every_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let id = put(&store, &sample(4 << 20, 10)).await;
    assert_eq!(fragments(&store, &id).len(), 6);
    store.delete(id).await.unwrap();
    assert!(fragments(&store, &id).is_empty());
    assert!(matches!(store.get(id).await, Err(ChunkError::NotFound(_))));
}

#[tokio::test]
async fn a_crash_leaving_only_temp_files_leaves_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(1 << 20, 11);
    let id = BlockId::of(&data);
    let temps: Vec<PathBuf>;
    {
        let store = open(dir.path());
        // What a crash between write and rename leaves: temp names only.
        temps = store
            .devices()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let sub = d.join(&id.to_hex()[..2]);
                fs::create_dir_all(&sub).unwrap();
                let p = sub.join(blockd::durable::temp_name(&blockd::layout::file_name(
                    &id, i,
                )));
                fs::write(&p, &data[..4096]).unwrap();
                p
            })
            .collect();
        assert!(
            store.list().await.unwrap().is_empty(),
            "temp files are not blocks"
        );
        assert!(!store.contains(id).await.unwrap());
    }
    let store = open(dir.path());
    assert!(
        temps.iter().all(|p| !p.exists()),
        "temp files removed on open"
    );
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn writes_succeed_with_c_devices_and_fail_below() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::with_root(dir.path());
    cfg.policies.insert(
        "all".into(),
        PolicyConfig {
            c: Some(6),
            ..PolicyConfig::default()
        },
    );
    let store = LocalStore::open(cfg).unwrap();
    // A device path that is a file cannot take fragments.
    let broken = |i: usize| {
        let d = &store.devices()[i];
        fs::remove_dir_all(d).unwrap();
        fs::write(d, b"not a directory").unwrap();
    };
    broken(0);
    let a = sample(1 << 20, 12);
    let ia = put(&store, &a).await; // c = 5 of 6
    assert_eq!(fragments(&store, &ia).len(), 5);
    assert_eq!(store.get(ia).await.unwrap(), a);
    let b = sample(1 << 20, 13);
    let r = store.put(BlockId::of(&b), b.clone(), Some("all")).await;
    assert!(
        matches!(r, Err(ChunkError::NotDurable(..))),
        "c = 6 cannot be met: {r:?}"
    );
    broken(1);
    broken(2);
    let c = sample(1 << 20, 14);
    let ic = BlockId::of(&c);
    assert!(matches!(
        store.put(ic, c, None).await,
        Err(ChunkError::NotDurable(..))
    ));
    assert!(
        fragments(&store, &ic).is_empty(),
        "fewer than k durable: cleaned up"
    );
    assert!(store.stats().fragment_writes_failed >= 5);
}

#[tokio::test]
async fn shutdown_finishes_and_refuses_new_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = sample(1 << 20, 15);
    let id = put(&store, &data).await;
    store.shutdown();
    assert!(store.get(id).await.is_err());
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.get(id).await.unwrap(), data);
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_sizes_round_trip_and_ranges_match(
        len in 1usize..(4 << 20) + 1,
        seed in any::<u64>(),
        ranges in proptest::collection::vec((any::<u64>(), 0u64..300_000), 1..6),
        lose in proptest::option::of(0usize..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let store = open(dir.path());
            let data = sample(len, seed);
            let id = put(&store, &data).await;
            if let Some(i) = lose {
                let frags = fragments(&store, &id);
                let (_, p) = &frags[i % frags.len()];
                fs::remove_file(p).unwrap();
            }
            assert_eq!(store.get(id).await.unwrap(), data);
            for (off, n) in ranges {
                let off = off % len as u64;
                let got = store.get_range(id, off, n).await.unwrap();
                let end = (off + n).min(len as u64) as usize;
                assert_eq!(&got[..], &data[off as usize..end], "range {}+{}", off, n);
            }
        });
    }
}

/// Rough end-to-end timings, for humans: `cargo test -p blockd --test store
/// timings -- --ignored --nocapture`. Never a verdict (shared machines).
#[tokio::test]
#[ignore]
async fn timings() {
    for engine in ["uring", "sync"] {
        let dir = tempfile::tempdir().unwrap();
        let Ok(store) = LocalStore::open(config(dir.path(), engine)) else {
            continue;
        };
        let blocks: Vec<Bytes> = (0..16).map(|s| sample(4 << 20, 900 + s)).collect();
        let t = std::time::Instant::now();
        let mut ids = Vec::new();
        for b in &blocks {
            let id = BlockId::of(b);
            store.put(id, b.clone(), None).await.unwrap();
            ids.push(id);
        }
        let put = t.elapsed() / blocks.len() as u32;
        let t = std::time::Instant::now();
        for id in &ids {
            store.get(*id).await.unwrap();
        }
        let get = t.elapsed() / ids.len() as u32;
        let t = std::time::Instant::now();
        for (n, id) in ids.iter().enumerate() {
            store
                .get_range(*id, (n as u64 * 100_003) % (4 << 20), 4096)
                .await
                .unwrap();
        }
        let range = t.elapsed() / ids.len() as u32;
        eprintln!("{engine}: put 4 MiB {put:?}, get 4 MiB {get:?}, get_range 4 KiB {range:?}");
    }
}

/// Capacity is the device filesystem's space once (all six devices share
/// one filesystem here), times k/(k+m) of the policy.
#[tokio::test]
async fn capacity_counts_each_filesystem_once_after_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let cap = store
        .capacity(None)
        .await
        .unwrap()
        .expect("a local store knows its capacity");
    let out = std::process::Command::new("df")
        .args(["-B1", "--output=size"])
        .arg(dir.path())
        .output()
        .unwrap();
    let size: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // default policy: 4+2.
    let want = size / 6 * 4;
    assert!(
        cap.total.abs_diff(want) < (64 << 20),
        "{cap:?} vs df {size}"
    );
    assert!(cap.free > 0 && cap.free <= cap.total, "{cap:?}");
    assert!(matches!(
        store.capacity(Some("nope")).await,
        Err(ChunkError::Backend(_))
    ));
}
