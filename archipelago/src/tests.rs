//! Behaviour of the resource layer: uploads, layered maps, clone, snapshot,
//! copy-on-write and garbage collection, against a real SQLite database.

use bytes::Bytes;
use proptest::prelude::*;

use crate::testutil::setup;
use crate::{meta, Archipelago, Error};

async fn upload(arch: &Archipelago, data: &[u8], piece: usize) -> String {
    let mut w = arch.writer();
    for chunk in data.chunks(piece.max(1)) {
        w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    let staged = w.finish().await.unwrap();
    assert_eq!(staged.size, data.len() as u64);
    assert_eq!(
        staged.md5,
        hex::encode(<md5::Md5 as md5::Digest>::digest(data))
    );
    arch.commit::<_, Error, _>(staged, |_, rid| Ok(rid.to_string()))
        .await
        .unwrap()
}

async fn read_all(arch: &Archipelago, rid: &str) -> Vec<u8> {
    arch.read_at(rid, 0, u64::MAX).await.unwrap().to_vec()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + seed as usize) % 251) as u8 + 1)
        .collect()
}

/// The stream digests (and block ids) past the in-place threshold, where pieces go to the
/// digest thread in batches: every size around the thresholds and the batch
/// size, in small and large pieces, still gives the MD5 of the content.
#[tokio::test]
async fn stream_md5_is_right_across_the_batching_thresholds() {
    let (_d, arch, store) = setup(1 << 20);
    for len in [
        (64 << 10) - 1,
        (64 << 10) + 1,
        (1 << 20) + 7,
        (3 << 20) + 4099,
    ] {
        for piece in [999, 65_536, 300_001] {
            let data = pattern(len, (len % 200) as u8);
            let rid = upload(&arch, &data, piece).await;
            assert_eq!(read_all(&arch, &rid).await, data, "len {len} piece {piece}");
        }
    }
    // Block ids are hashed as the bytes arrive: each is still the BLAKE3
    // of its block.
    let blocks = store.blocks.lock().unwrap();
    assert!(!blocks.is_empty());
    for (id, (data, _)) in blocks.iter() {
        assert_eq!(*id, crate::BlockId::of(data));
    }
}

#[tokio::test]
async fn upload_round_trips_and_ranges_read_back() {
    let (_d, arch, _s) = setup(4096);
    let data = pattern(4096 * 5 + 123, 3);
    let rid = upload(&arch, &data, 1000).await;
    assert_eq!(read_all(&arch, &rid).await, data);
    for (off, len) in [(0, 1), (4095, 2), (5000, 9000), (20000, 10_000)] {
        let got = arch.read_at(&rid, off, len).await.unwrap();
        let end = ((off + len) as usize).min(data.len());
        assert_eq!(&got[..], &data[off as usize..end]);
    }
}

#[tokio::test]
async fn zero_blocks_become_holes_and_equal_blocks_are_stored_once() {
    let (_d, arch, store) = setup(4096);
    let mut data = vec![0u8; 4096 * 3];
    data.extend(pattern(4096, 1));
    data.extend(pattern(4096, 1));
    let rid = upload(&arch, &data, 4096).await;
    assert_eq!(read_all(&arch, &rid).await, data);
    assert_eq!(
        store.blocks.lock().unwrap().len(),
        1,
        "zeros not stored, duplicates once"
    );
}

#[tokio::test]
async fn small_blocks_stay_inline_and_never_reach_the_store() {
    let (_d, arch, store) = setup(4096);
    let rid = upload(&arch, b"hello", 5).await;
    assert_eq!(read_all(&arch, &rid).await, b"hello");
    assert!(store.blocks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn clone_then_write_is_copy_on_write() {
    let (_d, arch, _s) = setup(4096);
    let data = pattern(4096 * 4, 9);
    let image = upload(&arch, &data, 4096).await;
    let vol: String = arch
        .clone_rw::<_, Error, _>(&image, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    arch.write_at(&vol, 100, Bytes::from_static(b"XYZ"))
        .await
        .unwrap();
    let mut expect = data.clone();
    expect[100..103].copy_from_slice(b"XYZ");
    assert_eq!(read_all(&arch, &vol).await, expect);
    assert_eq!(read_all(&arch, &image).await, data, "parent unchanged");
    assert!(matches!(
        arch.write_at(&image, 0, Bytes::from_static(b"a")).await,
        Err(Error::ReadOnly(_))
    ));
}

#[tokio::test]
async fn snapshot_freezes_content_and_later_writes_do_not_reach_it() {
    let (_d, arch, _s) = setup(4096);
    let vol: String = arch
        .create_rw::<_, Error, _>(4096 * 3, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    assert_eq!(
        read_all(&arch, &vol).await,
        vec![0; 4096 * 3],
        "new volume reads zeros"
    );
    arch.write_at(&vol, 0, Bytes::from(pattern(5000, 1)))
        .await
        .unwrap();
    let snap: String = arch
        .snapshot::<_, Error, _>(&vol, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    let before = read_all(&arch, &vol).await;
    arch.write_at(&vol, 4000, Bytes::from(pattern(3000, 2)))
        .await
        .unwrap();
    arch.discard(&vol, 0, 4096).await.unwrap();
    assert_eq!(
        read_all(&arch, &snap).await,
        before,
        "snapshot unchanged by later writes"
    );
    let clone: String = arch
        .clone_rw::<_, Error, _>(&snap, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    assert_eq!(read_all(&arch, &clone).await, before);
    let now = read_all(&arch, &vol).await;
    assert_eq!(
        &now[..4096],
        &[0u8; 4096][..],
        "discarded block reads zeros"
    );
}

#[tokio::test]
async fn clone_and_snapshot_cost_does_not_grow_with_data() {
    let (_d, arch, _s) = setup(4096);
    let small = upload(&arch, &pattern(4096, 1), 4096).await;
    let big = upload(&arch, &pattern(4096 * 200, 2), 65536).await;
    let count = |arch: &Archipelago| {
        let arch = arch.clone();
        async move {
            arch.db()
                .run(|c| {
                    use diesel::prelude::*;
                    Ok(db::schema::map_entries::table
                        .count()
                        .get_result::<i64>(c)?)
                })
                .await
                .unwrap()
        }
    };
    let before = count(&arch).await;
    for src in [&small, &big] {
        let v: String = arch
            .clone_rw::<_, Error, _>(src, |_, r| Ok(r.to_string()))
            .await
            .unwrap();
        let _s: String = arch
            .snapshot::<_, Error, _>(&v, |_, r| Ok(r.to_string()))
            .await
            .unwrap();
    }
    assert_eq!(
        count(&arch).await,
        before,
        "clone and snapshot copy no map entries"
    );
}

#[tokio::test]
async fn gc_reclaims_only_unreferenced_blocks() {
    let (_d, arch, store) = setup(4096);
    let keep = upload(&arch, &pattern(4096 * 2, 1), 4096).await;
    let drop_me = upload(&arch, &pattern(4096 * 2, 2), 4096).await;
    let vol: String = arch
        .clone_rw::<_, Error, _>(&drop_me, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    arch.db()
        .transaction(move |c| meta::release(c, &drop_me))
        .await
        .unwrap();
    let r = arch.gc_with_grace(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(
        r.blocks_deleted, 0,
        "the clone still needs the released image's blocks"
    );
    assert_eq!(store.blocks.lock().unwrap().len(), 4);
    arch.db()
        .transaction(move |c| meta::release(c, &vol))
        .await
        .unwrap();
    let r = arch.gc_with_grace(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(r.blocks_deleted, 2);
    assert_eq!(store.blocks.lock().unwrap().len(), 2);
    assert_eq!(read_all(&arch, &keep).await, pattern(4096 * 2, 1));
}

#[tokio::test]
async fn abandoned_upload_leaves_orphans_that_gc_removes_after_grace() {
    let (_d, arch, store) = setup(4096);
    let mut w = arch.writer();
    w.write(Bytes::from(pattern(4096 * 3, 5))).await.unwrap();
    let staged = w.finish().await.unwrap();
    drop(staged); // the client went away before commit
    assert_eq!(store.blocks.lock().unwrap().len(), 3);
    let r = arch
        .gc_with_grace(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        r.orphans_deleted, 0,
        "young blocks are inside the grace period"
    );
    let r = arch.gc_with_grace(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(r.orphans_deleted, 3);
    assert!(store.blocks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn gc_never_deletes_a_block_a_writer_holds() {
    let (_d, arch, store) = setup(4096);
    let data = pattern(4096, 7);
    let mut w = arch.writer();
    w.write(Bytes::from(data.clone())).await.unwrap();
    let staged = w.finish().await.unwrap();
    // Uncommitted and past grace, but held by the staged upload.
    let r = arch.gc_with_grace(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(r.orphans_deleted, 0);
    assert_eq!(r.skipped_in_use, 1);
    let rid: String = arch
        .commit::<_, Error, _>(staged, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    arch.gc_with_grace(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(read_all(&arch, &rid).await, data);
    assert_eq!(store.blocks.lock().unwrap().len(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        vol: usize,
        off: u64,
        len: usize,
        seed: u8,
    },
    Discard {
        vol: usize,
        off: u64,
        len: u64,
    },
    Snapshot {
        vol: usize,
    },
    CloneSnap {
        snap: usize,
    },
    CloneVol {
        vol: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..8usize, 0..(4 * 512u64), 1..1500usize, any::<u8>())
            .prop_map(|(vol, off, len, seed)| Op::Write { vol, off, len, seed }),
        1 => (0..8usize, 0..(4 * 512u64), 1..1500u64).prop_map(|(vol, off, len)| Op::Discard { vol, off, len }),
        2 => (0..8usize).prop_map(|vol| Op::Snapshot { vol }),
        1 => (0..8usize).prop_map(|snap| Op::CloneSnap { snap }),
        1 => (0..8usize).prop_map(|vol| Op::CloneVol { vol }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any sequence of writes, discards, snapshots and clones reads back
    /// exactly as if every clone and snapshot were a full byte copy.
    #[test]
    fn layered_maps_behave_like_full_copies(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            const SIZE: u64 = 4 * 512 + 100;
            let (_d, arch, _s) = setup(512);
            let first: String = arch.create_rw::<_, Error, _>(SIZE, |_, r| Ok(r.to_string())).await.unwrap();
            let mut vols: Vec<(String, Vec<u8>)> = vec![(first, vec![0; SIZE as usize])];
            let mut snaps: Vec<(String, Vec<u8>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Write { vol, off, len, seed } => {
                        let n = vols.len();
                        let (rid, model) = &mut vols[vol % n];
                        let len = len.min((SIZE - off) as usize);
                        let data = pattern(len, seed);
                        arch.write_at(rid, off, Bytes::from(data.clone())).await.unwrap();
                        model[off as usize..off as usize + len].copy_from_slice(&data);
                    }
                    Op::Discard { vol, off, len } => {
                        let n = vols.len();
                        let (rid, model) = &mut vols[vol % n];
                        let end = (off + len).min(SIZE);
                        arch.discard(rid, off, len).await.unwrap();
                        model[off as usize..end as usize].fill(0);
                    }
                    Op::Snapshot { vol } => {
                        let (rid, model) = &vols[vol % vols.len()];
                        let s: String = arch.snapshot::<_, Error, _>(rid, |_, r| Ok(r.to_string())).await.unwrap();
                        snaps.push((s, model.clone()));
                    }
                    Op::CloneSnap { snap } if !snaps.is_empty() => {
                        let (rid, model) = &snaps[snap % snaps.len()];
                        let v: String = arch.clone_rw::<_, Error, _>(rid, |_, r| Ok(r.to_string())).await.unwrap();
                        vols.push((v, model.clone()));
                    }
                    Op::CloneSnap { .. } => {}
                    Op::CloneVol { vol } => {
                        let (rid, model) = vols[vol % vols.len()].clone();
                        let v: String = arch.clone_rw::<_, Error, _>(&rid, |_, r| Ok(r.to_string())).await.unwrap();
                        vols.push((v, model));
                    }
                }
            }
            for (rid, model) in vols.iter().chain(snaps.iter()) {
                assert_eq!(&read_all(&arch, rid).await, model, "resource {rid}");
            }
        });
    }
}

#[tokio::test]
async fn sha512_on_request_matches_both_in_place_and_threaded_and_policy_is_recorded() {
    use sha2::Digest as _;
    let (_d, arch, _s) = setup(4096);
    // Below and above the in-place hashing threshold (64 KiB).
    for len in [1000usize, 300_000] {
        let data = pattern(len, 9);
        let mut w = arch.writer().with_sha512().with_policy("gold");
        for chunk in data.chunks(7777) {
            w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let staged = w.finish().await.unwrap();
        assert_eq!(
            staged.sha512.as_deref(),
            Some(hex::encode(sha2::Sha512::digest(&data)).as_str())
        );
        assert_eq!(staged.policy, "gold");
        let rid = arch
            .commit::<_, Error, _>(staged, |_, rid| Ok(rid.to_string()))
            .await
            .unwrap();
        assert_eq!(arch.info(&rid).await.unwrap().policy, "gold");
    }
    let staged = arch.writer().finish().await.unwrap();
    assert_eq!(staged.sha512, None, "SHA-512 only when asked for");
}

#[tokio::test]
async fn grown_clone_reads_source_then_zeros_and_smaller_is_refused() {
    let (_d, arch, _s) = setup(4096);
    let data = pattern(4096 * 2 + 100, 9);
    let image = upload(&arch, &data, 4096).await;
    let opts = crate::CloneOptions {
        size: Some(4096 * 8),
        policy: Some("gold".into()),
    };
    let vol: String = arch
        .clone_rw_with::<_, Error, _>(&image, opts, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    let info = arch.info(&vol).await.unwrap();
    assert_eq!((info.size, info.policy.as_str()), (4096 * 8, "gold"));
    let got = read_all(&arch, &vol).await;
    assert_eq!(&got[..data.len()], &data[..]);
    assert!(got[data.len()..].iter().all(|b| *b == 0));
    // A write into the short last block keeps the source bytes before it.
    arch.write_at(&vol, 4096 * 2 + 200, Bytes::from_static(b"xy"))
        .await
        .unwrap();
    let got = read_all(&arch, &vol).await;
    assert_eq!(&got[..data.len()], &data[..]);
    assert_eq!(&got[4096 * 2 + 200..4096 * 2 + 202], b"xy");
    assert_eq!(read_all(&arch, &image).await, data, "source untouched");
    let small = crate::CloneOptions {
        size: Some(4096),
        policy: None,
    };
    let err = arch
        .clone_rw_with::<String, Error, _>(&image, small, |_, r| Ok(r.to_string()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OutOfRange { .. }), "{err:?}");
}

#[tokio::test]
async fn revert_brings_back_the_snapshot_and_keeps_the_resource_id() {
    let (_d, arch, _s) = setup(4096);
    let vol: String = arch
        .create_rw_with_policy::<_, Error, _>(4096 * 4, "silver", |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    let first = pattern(4096 * 4, 1);
    arch.write_at(&vol, 0, Bytes::from(first.clone()))
        .await
        .unwrap();
    let snap: String = arch
        .snapshot::<_, Error, _>(&vol, |_, r| Ok(r.to_string()))
        .await
        .unwrap();
    arch.write_at(&vol, 4096, Bytes::from(pattern(4096 * 2, 7)))
        .await
        .unwrap();
    assert_ne!(read_all(&arch, &vol).await, first);
    arch.revert_to(&vol, &snap).await.unwrap();
    assert_eq!(read_all(&arch, &vol).await, first);
    assert_eq!(arch.info(&vol).await.unwrap().policy, "silver");
    // Writes after the revert go to the volume only, never the snapshot.
    arch.write_at(&vol, 0, Bytes::from(vec![5u8; 4096]))
        .await
        .unwrap();
    assert_eq!(read_all(&arch, &snap).await, first);
    // Dropping the snapshot leaves the reverted volume readable.
    arch.db()
        .transaction::<_, Error, _>({
            let snap = snap.clone();
            move |c| meta::release(c, &snap)
        })
        .await
        .unwrap();
    let got = read_all(&arch, &vol).await;
    assert_eq!(&got[..4096], &[5u8; 4096][..]);
    assert_eq!(&got[4096..], &first[4096..]);
}
