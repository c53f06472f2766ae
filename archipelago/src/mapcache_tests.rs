//! The resolved-map cache against the real write paths: every way a
//! resource's content or existence changes is seen by the next read, and
//! repeated reads are served from the cache.

use bytes::Bytes;

use crate::testutil::setup;
use crate::{Archipelago, Error};

const BS: u64 = 4096;

fn id(_c: &mut db::Conn, rid: &str) -> Result<String, Error> {
    Ok(rid.to_string())
}

fn fill(b: u8, n: u64) -> Bytes {
    Bytes::from(vec![b; n as usize])
}

/// Reads `rid` at `off` and checks it is all `want` and that the map is
/// now cached under the current generation (so the next read is a hit).
async fn read_is(arch: &Archipelago, rid: &str, off: u64, n: u64, want: u8) {
    let got = arch.read_at(rid, off, n).await.unwrap();
    assert!(got.iter().all(|&b| b == want), "{rid} @{off}: want {want}");
    let generation = arch.db.generation();
    assert!(
        arch.maps.get(rid, generation, off, n).is_some(),
        "{rid} @{off} cached"
    );
}

#[tokio::test]
async fn repeated_reads_hit_and_do_not_query() {
    let (_d, arch, _s) = setup(BS as u32);
    let rid = arch.create_rw(8 * BS, id).await.unwrap();
    arch.write_at(&rid, 0, fill(1, 8 * BS)).await.unwrap();
    read_is(&arch, &rid, 100, 3 * BS, 1).await;
    // Served without the metadata store: hand out a result while the
    // store could not answer (a resource the database does not hold).
    let g = arch.db.generation();
    let (size, bs, _, _, blocks) = arch.maps.get(&rid, g, 100, 3 * BS).unwrap();
    assert_eq!((size, bs, blocks.len()), (8 * BS, BS, 4));
    assert!(arch.map_cache_usage().0 > 0);
}

#[tokio::test]
async fn writes_discards_and_resizes_are_seen() {
    let (_d, arch, _s) = setup(BS as u32);
    let rid = arch.create_rw(8 * BS, id).await.unwrap();
    read_is(&arch, &rid, 0, 8 * BS, 0).await;
    arch.write_at(&rid, BS, fill(2, 2 * BS)).await.unwrap();
    read_is(&arch, &rid, BS, 2 * BS, 2).await;
    read_is(&arch, &rid, 0, BS, 0).await;
    arch.write_at(&rid, BS, fill(3, BS)).await.unwrap();
    read_is(&arch, &rid, BS, BS, 3).await;
    arch.discard(&rid, BS, BS).await.unwrap();
    read_is(&arch, &rid, BS, BS, 0).await;
    read_is(&arch, &rid, 2 * BS, BS, 2).await;
    arch.write_zeroes(&rid, 2 * BS, BS).await.unwrap();
    read_is(&arch, &rid, 2 * BS, BS, 0).await;
    // Grown: the new space reads (clamped size moved with it).
    arch.resize(&rid, 16 * BS).await.unwrap();
    assert_eq!(
        arch.read_at(&rid, 0, 1 << 30).await.unwrap().len(),
        16 * BS as usize
    );
    arch.write_at(&rid, 12 * BS, fill(4, BS)).await.unwrap();
    read_is(&arch, &rid, 12 * BS, BS, 4).await;
}

#[tokio::test]
async fn snapshot_clone_and_revert_are_seen() {
    let (_d, arch, _s) = setup(BS as u32);
    let vol = arch.create_rw(4 * BS, id).await.unwrap();
    arch.write_at(&vol, 0, fill(1, 4 * BS)).await.unwrap();
    read_is(&arch, &vol, 0, 4 * BS, 1).await;
    let snap = arch.snapshot(&vol, id).await.unwrap();
    read_is(&arch, &snap, 0, 4 * BS, 1).await;
    // The volume moved to a new top layer; writes land there.
    arch.write_at(&vol, 0, fill(2, BS)).await.unwrap();
    read_is(&arch, &vol, 0, BS, 2).await;
    read_is(&arch, &snap, 0, BS, 1).await;
    // Clone of the volume: both sides see their own later writes.
    let clone = arch.clone_rw(&vol, id).await.unwrap();
    read_is(&arch, &clone, 0, BS, 2).await;
    arch.write_at(&clone, 0, fill(3, BS)).await.unwrap();
    read_is(&arch, &clone, 0, BS, 3).await;
    read_is(&arch, &vol, 0, BS, 2).await;
    arch.write_at(&vol, BS, fill(4, BS)).await.unwrap();
    read_is(&arch, &vol, BS, BS, 4).await;
    read_is(&arch, &clone, BS, BS, 1).await;
    // Revert to the snapshot: the volume's cached map is stale at once.
    arch.revert_to(&vol, &snap).await.unwrap();
    read_is(&arch, &vol, 0, 2 * BS, 1).await;
}

#[tokio::test]
async fn a_released_resource_is_gone_for_readers() {
    let (_d, arch, _s) = setup(BS as u32);
    let vol = arch.create_rw(4 * BS, id).await.unwrap();
    arch.write_at(&vol, 0, fill(1, BS)).await.unwrap();
    read_is(&arch, &vol, 0, BS, 1).await;
    let v2 = vol.clone();
    arch.db
        .transaction(move |c| crate::meta::release(c, &v2))
        .await
        .unwrap();
    assert!(matches!(
        arch.read_at(&vol, 0, BS).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn disabled_cache_keeps_nothing() {
    let (_d, arch0, store) = setup(BS as u32);
    let cfg = crate::Config {
        map_cache_bytes: 0,
        ..(*arch0.cfg).clone()
    };
    let arch = Archipelago::new(arch0.db.clone(), store, cfg);
    let rid = arch.create_rw(4 * BS, id).await.unwrap();
    arch.write_at(&rid, 0, fill(1, BS)).await.unwrap();
    assert_eq!(arch.read_at(&rid, 0, BS).await.unwrap(), fill(1, BS));
    assert_eq!(arch.map_cache_usage(), (0, 0));
}
