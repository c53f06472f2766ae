//! An in-memory chunk store for the resource layer's unit tests (the real
//! store is blockd's; it runs the same conformance suite).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;

use crate::chunk::{BlockId, ChunkError, ChunkStore, RepairReport, StoredBlock};
use crate::{Archipelago, Config};

#[derive(Default)]
pub struct MemStore {
    pub blocks: Mutex<HashMap<BlockId, (Bytes, SystemTime)>>,
    pub puts: AtomicU64,
}

#[async_trait::async_trait]
impl ChunkStore for MemStore {
    async fn put(&self, id: BlockId, data: Bytes, _policy: Option<&str>) -> Result<(), ChunkError> {
        assert_eq!(id, BlockId::of(&data), "put with a wrong id");
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.blocks
            .lock()
            .unwrap()
            .insert(id, (data, SystemTime::now()));
        Ok(())
    }
    async fn get(&self, id: BlockId) -> Result<Bytes, ChunkError> {
        self.blocks
            .lock()
            .unwrap()
            .get(&id)
            .map(|b| b.0.clone())
            .ok_or(ChunkError::NotFound(id))
    }
    async fn contains(&self, id: BlockId) -> Result<bool, ChunkError> {
        Ok(self.blocks.lock().unwrap().contains_key(&id))
    }
    async fn delete(&self, id: BlockId) -> Result<(), ChunkError> {
        self.blocks.lock().unwrap().remove(&id);
        Ok(())
    }
    async fn list(&self) -> Result<Vec<StoredBlock>, ChunkError> {
        Ok(self
            .blocks
            .lock()
            .unwrap()
            .iter()
            .map(|(id, (_, t))| StoredBlock {
                id: *id,
                modified: *t,
            })
            .collect())
    }
    async fn repair(&self) -> Result<RepairReport, ChunkError> {
        Ok(RepairReport::default())
    }
}

/// A resource layer over a temp SQLite database and a [`MemStore`], with a
/// small block size so tests exercise many blocks cheaply.
pub fn setup(block_size: u32) -> (tempfile::TempDir, Archipelago, Arc<MemStore>) {
    let dir = tempfile::tempdir().unwrap();
    let db = db::Db::open_sqlite(&dir.path().join("meta.db"), 4).unwrap();
    let store = Arc::new(MemStore::default());
    let cfg = Config {
        block_size,
        inline_threshold: 64,
        ..Config::default()
    };
    (dir, Archipelago::new(db, store.clone(), cfg), store)
}

#[tokio::test]
async fn mem_store_keeps_the_contract() {
    crate::conformance::run_chunk_store_conformance(&MemStore::default()).await;
}
