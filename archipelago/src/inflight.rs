//! Coordination between writers and the garbage collector over block ids.
//!
//! A writer registers every block id it is about to reference before it
//! checks or writes the chunk store, and keeps it registered until its map
//! entries are committed. The collector only deletes an id it could mark as
//! "deleting" while no writer holds it, and a writer that meets a "deleting"
//! mark waits until the deletion is over (and then writes the block again).
//! Together with the grace period this makes GC safe against concurrent
//! uploads and clones within one process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::chunk::BlockId;

#[derive(Default)]
struct State {
    writers: HashMap<BlockId, usize>,
    deleting: HashMap<BlockId, Arc<Notify>>,
}

/// The registry shared by writers and the collector.
#[derive(Default, Clone)]
pub struct Inflight {
    state: Arc<Mutex<State>>,
}

impl Inflight {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a writer's use of `id`, waiting out a deletion in progress.
    pub async fn hold(&self, id: BlockId) -> Hold {
        loop {
            let wait = {
                let mut st = self.lock();
                match st.deleting.get(&id) {
                    Some(n) => n.clone(),
                    None => {
                        *st.writers.entry(id).or_insert(0) += 1;
                        return Hold {
                            registry: self.clone(),
                            id,
                        };
                    }
                }
            };
            // Enable before re-checking so a deletion that ends in between
            // still wakes us (notify_waiters only reaches enabled waiters).
            let notified = wait.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().deleting.contains_key(&id) {
                notified.await;
            }
        }
    }

    /// Marks `id` as being deleted, unless a writer holds it.
    pub fn try_delete(&self, id: BlockId) -> Option<DeleteMark> {
        let mut st = self.lock();
        if st.writers.contains_key(&id) || st.deleting.contains_key(&id) {
            return None;
        }
        st.deleting.insert(id, Arc::new(Notify::new()));
        Some(DeleteMark {
            registry: self.clone(),
            id,
        })
    }
}

/// A writer's registration of one block id; released on drop.
pub struct Hold {
    registry: Inflight,
    id: BlockId,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut st = self.registry.lock();
        if let Some(n) = st.writers.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                st.writers.remove(&self.id);
            }
        }
    }
}

/// The collector's exclusive mark on one block id; released on drop.
pub struct DeleteMark {
    registry: Inflight,
    id: BlockId,
}

impl Drop for DeleteMark {
    fn drop(&mut self) {
        let n = self.registry.lock().deleting.remove(&self.id);
        if let Some(n) = n {
            n.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collector_cannot_mark_a_held_block_and_writers_wait_for_deletion() {
        let reg = Inflight::default();
        let id = BlockId::of(b"x");
        let hold = reg.hold(id).await;
        assert!(
            reg.try_delete(id).is_none(),
            "a held block must not be deletable"
        );
        drop(hold);
        let mark = reg.try_delete(id).expect("free block can be marked");
        let reg2 = reg.clone();
        let waiter = tokio::spawn(async move {
            let _h = reg2.hold(id).await;
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiter.is_finished(),
            "writer must wait while the block is being deleted"
        );
        drop(mark);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("writer resumes after deletion")
            .unwrap();
    }
}
