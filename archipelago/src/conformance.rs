//! The contract every [`ChunkStore`] keeps, as one suite that each
//! implementation's tests run (local devices, remote backends).

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
