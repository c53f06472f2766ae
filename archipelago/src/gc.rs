//! Garbage collection of blocks no map references.
//!
//! Safe against crashes: a block's row is deleted (in a transaction that
//! re-checks it is unreferenced) before its bytes, so a crash in between
//! leaves only stored bytes without a row, which the next pass finds by
//! listing the store. Safe against concurrent writers: see `inflight`; and
//! blocks younger than the grace period are never touched, which covers
//! writes whose map is not yet committed.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use db::schema::{blocks, map_entries};
use diesel::prelude::*;

use crate::chunk::BlockId;
use crate::error::Result;
use crate::Archipelago;

/// What one collection pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Unreferenced block rows deleted (with their stored bytes).
    pub blocks_deleted: u64,
    /// Stored blocks that had no row at all (abandoned uploads) deleted.
    pub orphans_deleted: u64,
    /// Candidates skipped because a writer holds them right now.
    pub skipped_in_use: u64,
}

impl Archipelago {
    /// One collection pass with the configured grace period.
    pub async fn gc(&self) -> Result<GcReport> {
        self.gc_with_grace(self.cfg.gc_grace).await
    }

    /// One collection pass; `grace` overrides the configured period.
    pub async fn gc_with_grace(&self, grace: Duration) -> Result<GcReport> {
        let mut report = GcReport::default();
        let cutoff = db::now_micros() - grace.as_micros() as i64;

        // 1. Rows nobody references.
        let candidates: Vec<(Vec<u8>, bool)> = self
            .db
            .run(move |c| {
                let referenced = map_entries::table
                    .filter(map_entries::block_id.eq(blocks::id.nullable()))
                    .select(map_entries::idx);
                Ok(blocks::table
                    .filter(blocks::created_at.lt(cutoff))
                    .filter(diesel::dsl::not(diesel::dsl::exists(referenced)))
                    .select((blocks::id, blocks::inline_data.is_null()))
                    .load(c)?)
            })
            .await?;
        for (raw, in_store) in candidates {
            let Some(id) = BlockId::from_slice(&raw) else {
                continue;
            };
            let Some(_mark) = self.inflight.try_delete(id) else {
                report.skipped_in_use += 1;
                continue;
            };
            let deleted = self
                .db
                .transaction(move |c| {
                    let referenced = map_entries::table
                        .filter(map_entries::block_id.eq(&raw[..]))
                        .count()
                        .get_result::<i64>(c)?;
                    if referenced > 0 {
                        return Ok::<bool, db::Error>(false);
                    }
                    diesel::delete(blocks::table.find(&raw[..])).execute(c)?;
                    Ok(true)
                })
                .await?;
            if deleted {
                if in_store {
                    self.store.delete(id).await?;
                }
                report.blocks_deleted += 1;
            }
        }

        // 2. Stored blocks without a row: uploads that never committed.
        let stored = self.store.list().await?;
        let old: Vec<BlockId> = stored
            .into_iter()
            .filter(|b| {
                SystemTime::now()
                    .duration_since(b.modified)
                    .map(|age| age >= grace)
                    .unwrap_or(false)
            })
            .map(|b| b.id)
            .collect();
        let known: HashSet<Vec<u8>> = {
            let ids: Vec<Vec<u8>> = old.iter().map(|b| b.0.to_vec()).collect();
            self.db
                .run(move |c| {
                    let mut known = HashSet::new();
                    for part in ids.chunks(500) {
                        let rows: Vec<Vec<u8>> = blocks::table
                            .filter(blocks::id.eq_any(part))
                            .select(blocks::id)
                            .load(c)?;
                        known.extend(rows);
                    }
                    Ok(known)
                })
                .await?
        };
        for id in old {
            if known.contains(&id.0[..]) {
                continue;
            }
            let Some(_mark) = self.inflight.try_delete(id) else {
                report.skipped_in_use += 1;
                continue;
            };
            // Re-check under the mark: a writer may have committed a row
            // between our query and the mark.
            let raw = id.0.to_vec();
            let has_row = self
                .db
                .run(move |c| Ok(blocks::table.find(&raw[..]).count().get_result::<i64>(c)? > 0))
                .await?;
            if !has_row {
                self.store.delete(id).await?;
                report.orphans_deleted += 1;
            }
        }
        Ok(report)
    }
}
