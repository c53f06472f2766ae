//! The contract every [`ChunkStore`] keeps, as one suite that each
//! implementation's tests run (local devices, remote backends).
//!
//! Each check uses its own block contents, so the suite can run against a
//! store that already holds other blocks. It exercises only the trait:
//! fault injection (lost or corrupt fragments) belongs to each
//! implementation's own tests.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::chunk::{BlockId, ChunkError, ChunkStore};

fn sample(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

/// Runs the whole suite; panics with a message on the first broken rule.
pub async fn run_chunk_store_conformance(store: &dyn ChunkStore) {
    check_round_trips(store).await;
    check_range_clamping(store).await;
    check_delete_isolation(store).await;
    check_concurrent_puts(store).await;
    check_list_mtime(store).await;
    check_repair_of_healthy_store(store).await;
}

/// put/get/get_range/contains/list/delete and idempotence over a few sizes.
pub async fn check_round_trips(store: &dyn ChunkStore) {
    for (len, seed) in [(100 << 10, 1u8), (4 << 20, 2), ((1 << 20) + 7, 3)] {
        let data = sample(len, seed);
        let id = BlockId::of(&data);
        assert!(
            !store.contains(id).await.unwrap(),
            "fresh id must be absent"
        );
        match store.get(id).await {
            Err(ChunkError::NotFound(_)) => {}
            other => panic!("get of absent block must be NotFound, got {other:?}"),
        }
        store.put(id, data.clone(), None).await.unwrap();
        store
            .put(id, data.clone(), None)
            .await
            .expect("put is idempotent");
        assert!(store.contains(id).await.unwrap());
        assert_eq!(store.get(id).await.unwrap(), data, "round trip");
        for (off, n) in [
            (0u64, 1u64),
            (4095, 4097),
            (len as u64 - 10, 10),
            (len as u64 / 3, 70_000),
        ] {
            let n = n.min(len as u64 - off);
            let got = store.get_range(id, off, n).await.unwrap();
            assert_eq!(
                &got[..],
                &data[off as usize..(off + n) as usize],
                "range {off}+{n}"
            );
        }
        assert!(
            store.list().await.unwrap().iter().any(|b| b.id == id),
            "listed"
        );
        store.delete(id).await.unwrap();
        assert!(!store.contains(id).await.unwrap(), "deleted");
        assert!(
            !store.list().await.unwrap().iter().any(|b| b.id == id),
            "not listed after delete"
        );
        store
            .delete(id)
            .await
            .expect("deleting an absent block succeeds");
    }
}

/// `get_range` clamps to the block: past the end is empty, a long length is
/// cut at the end, a zero length is empty.
pub async fn check_range_clamping(store: &dyn ChunkStore) {
    let data = sample(300 << 10, 11);
    let id = BlockId::of(&data);
    store.put(id, data.clone(), None).await.unwrap();
    let len = data.len() as u64;
    assert!(
        store.get_range(id, len, 10).await.unwrap().is_empty(),
        "range at the end"
    );
    assert!(
        store
            .get_range(id, len + 5000, 10)
            .await
            .unwrap()
            .is_empty(),
        "range past the end"
    );
    assert!(
        store.get_range(id, 17, 0).await.unwrap().is_empty(),
        "empty range"
    );
    let tail = store.get_range(id, len - 100, 1 << 20).await.unwrap();
    assert_eq!(&tail[..], &data[data.len() - 100..], "range cut at the end");
    let all = store.get_range(id, 0, u64::MAX).await.unwrap();
    assert_eq!(all, data, "whole block as a range");
    store.delete(id).await.unwrap();
}

/// Deleting one block leaves others readable; a deleted block is NotFound.
pub async fn check_delete_isolation(store: &dyn ChunkStore) {
    let a = sample(200 << 10, 21);
    let b = sample(200 << 10, 22);
    let (ia, ib) = (BlockId::of(&a), BlockId::of(&b));
    store.put(ia, a.clone(), None).await.unwrap();
    store.put(ib, b.clone(), None).await.unwrap();
    store.delete(ia).await.unwrap();
    match store.get(ia).await {
        Err(ChunkError::NotFound(got)) => assert_eq!(got, ia, "NotFound names the block"),
        other => panic!("get after delete must be NotFound, got {other:?}"),
    }
    assert_eq!(
        store.get(ib).await.unwrap(),
        b,
        "neighbour survives a delete"
    );
    store.delete(ib).await.unwrap();
}

/// Concurrent puts of one block all succeed and leave one readable block.
pub async fn check_concurrent_puts(store: &dyn ChunkStore) {
    let data = sample((2 << 20) + 3, 31);
    let id = BlockId::of(&data);
    let puts = (0..4).map(|_| store.put(id, data.clone(), None));
    for r in futures::future::join_all(puts).await {
        r.expect("concurrent put of the same block");
    }
    assert!(store.contains(id).await.unwrap());
    assert_eq!(store.get(id).await.unwrap(), data);
    let listed = store
        .list()
        .await
        .unwrap()
        .iter()
        .filter(|b| b.id == id)
        .count();
    assert_eq!(listed, 1, "listed once");
    store.delete(id).await.unwrap();
}

/// `list` reports a plausible modification time, and a repeated put (a new
/// reference to the block) does not make it older: GC's grace period counts
/// from it.
pub async fn check_list_mtime(store: &dyn ChunkStore) {
    let data = sample(150 << 10, 41);
    let id = BlockId::of(&data);
    let before = SystemTime::now() - Duration::from_secs(5);
    store.put(id, data.clone(), None).await.unwrap();
    let mtime = |list: Vec<crate::chunk::StoredBlock>| {
        list.into_iter().find(|b| b.id == id).map(|b| b.modified)
    };
    let first = mtime(store.list().await.unwrap()).expect("listed");
    assert!(first >= before, "mtime not in the past");
    assert!(
        first <= SystemTime::now() + Duration::from_secs(5),
        "mtime not in the future"
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    store.put(id, data, None).await.unwrap();
    let second = mtime(store.list().await.unwrap()).expect("still listed");
    assert!(second >= first, "re-put must not age the block");
    store.delete(id).await.unwrap();
}

/// Repair of intact blocks finds nothing to fix.
pub async fn check_repair_of_healthy_store(store: &dyn ChunkStore) {
    let data = sample(1 << 20, 51);
    let id = BlockId::of(&data);
    store.put(id, data, None).await.unwrap();
    let r = store.repair().await.unwrap();
    assert_eq!(r.fragments_rewritten, 0, "nothing to rewrite: {r:?}");
    assert_eq!(r.blocks_unrecoverable, 0, "nothing lost: {r:?}");
    store.delete(id).await.unwrap();
}
