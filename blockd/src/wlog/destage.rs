//! The destager: turns a volume's pending ranges into new immutable blocks
//! and trims the log behind them.
//!
//! Per volume (under its destage lock, which `forget` also takes), per
//! dirty block: the block's current content (skipped when pending ranges
//! cover it whole) with the pending ranges laid over it becomes one block;
//! a batch of blocks commits in one transaction through
//! `Archipelago::destage_blocks`, which holds the new blocks against GC
//! until their map entries exist. Only then are the ranges dropped from the
//! index, and only where the same record still owns them (a write that
//! landed meanwhile stays pending). Then the log is trimmed up to the
//! oldest record any volume still needs.
//!
//! The background loop runs on its own thread and current-thread runtime
//! (never on the NBD or API runtimes) and works on one batch at a time, so
//! foreground requests only ever compete with one merge. A volume whose
//! resource is gone has its pending ranges dropped (deleting a volume frees
//! its log space).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use archipelago::{Archipelago, PendingWrites};
use bytes::BytesMut;
use tokio::sync::watch;

use super::index::Ext;
use super::overlay::load;
use super::WriteLog;

impl WriteLog {
    /// Destages up to `max_blocks` dirty blocks of `rid` that hold a record
    /// numbered `upto` or older; returns how many were committed.
    pub async fn destage_volume(
        &self,
        arch: &Archipelago,
        rid: &str,
        upto: u64,
        max_blocks: usize,
    ) -> archipelago::Result<usize> {
        let l = self.vol_lock(rid);
        let _g = l.lock().await;
        let row = match arch.info(rid).await {
            Ok(r) => r,
            Err(archipelago::Error::NotFound(_)) => {
                // Deleted: its pending writes have nowhere to go.
                self.with_vols(|v| v.remove(rid));
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let bs = row.block_size as u64;
        let all: Vec<Ext> = self.with_vols(|v| {
            v.get(rid)
                .map(|v| v.index.all().cloned().collect())
                .unwrap_or_default()
        });
        // Blocks holding an old enough record, oldest record first (the log
        // is trimmed from its oldest segment), up to the batch.
        let mut due: Vec<&Ext> = all.iter().filter(|e| e.seq <= upto).collect();
        due.sort_by_key(|e| e.seq);
        let mut chosen: BTreeMap<u64, ()> = BTreeMap::new();
        for e in due {
            for idx in e.start / bs..=(e.end - 1) / bs {
                if chosen.len() < max_blocks.max(1) || chosen.contains_key(&idx) {
                    chosen.insert(idx, ());
                }
            }
        }
        let mut blocks = Vec::with_capacity(chosen.len());
        let mut done: Vec<Ext> = Vec::new();
        for &idx in chosen.keys() {
            let bstart = idx * bs;
            if bstart >= row.size {
                continue;
            }
            let bend = (bstart + bs).min(row.size);
            let pieces = self.pending(rid, bstart, bend);
            if pieces.is_empty() {
                continue;
            }
            let covered: u64 = pieces.iter().map(|p| p.end - p.start).sum();
            let mut content = if covered == bend - bstart {
                BytesMut::zeroed((bend - bstart) as usize)
            } else {
                BytesMut::from(&arch.read_at(rid, bstart, bend - bstart).await?[..])
            };
            let data = load(&pieces).await?;
            for (p, d) in pieces.iter().zip(data) {
                let r = (p.start - bstart) as usize..(p.end - bstart) as usize;
                match d {
                    Some(d) => content[r].copy_from_slice(&d),
                    None => content[r].fill(0),
                }
            }
            blocks.push((idx, content.freeze()));
            done.extend(pieces);
        }
        if blocks.is_empty() {
            // Ranges past the resource's end (it cannot shrink, so only a
            // corrupt record) would never go: drop them.
            self.with_vols(|v| {
                if let Some(vol) = v.get_mut(rid) {
                    for e in all.iter().filter(|e| e.seq <= upto && e.start >= row.size) {
                        vol.index.remove_if_seq(e.start, e.end, e.seq);
                    }
                }
            });
            return Ok(0);
        }
        let n = blocks.len();
        let bytes: u64 = blocks.iter().map(|b| b.1.len() as u64).sum();
        arch.destage_blocks(rid, blocks).await?;
        self.shared
            .destaged_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        self.with_vols(|v| {
            if let Some(vol) = v.get_mut(rid) {
                for p in &done {
                    vol.index.remove_if_seq(p.start, p.end, p.seq);
                }
                if vol.index.is_empty() {
                    v.remove(rid);
                }
            }
        });
        Ok(n)
    }

    /// Destages every record of `rid` acknowledged before the call.
    pub async fn settle_volume(&self, arch: &Archipelago, rid: &str) -> archipelago::Result<()> {
        let upto = self.indexed_seq();
        loop {
            let left = self.with_vols(|v| {
                v.get(rid)
                    .is_some_and(|v| v.index.all().any(|e| e.seq <= upto))
            });
            if !left {
                break;
            }
            let n = self
                .destage_volume(arch, rid, upto, self.shared.cfg.destage_batch_blocks)
                .await?;
            if n == 0
                && self.with_vols(|v| {
                    v.get(rid)
                        .is_some_and(|v| v.index.all().any(|e| e.seq <= upto))
                })
            {
                return Err(archipelago::Error::Task(format!(
                    "write log: pending writes of {rid} cannot be destaged"
                )));
            }
        }
        let log = self.clone();
        let _ = tokio::task::spawn_blocking(move || log.trim()).await;
        Ok(())
    }

    /// The log is three quarters full: the destager runs unthrottled.
    fn urgent(&self) -> bool {
        (self.shared.space.available_permits() as u64) * 4 < self.shared.max_units()
    }

    /// One pass of the background policy: the volume holding the oldest
    /// record, if it is due (idle, too old, or the log is under pressure).
    /// Returns whether it did any work.
    pub async fn destage_once(&self, arch: &Archipelago) -> archipelago::Result<bool> {
        let free = self.shared.space.available_permits() as u64;
        let pressure = free * 2 < self.shared.max_units();
        let delay = self.shared.cfg.destage_delay;
        let old = self.shared.seq_older_than(self.shared.cfg.destage_max_age);
        // (oldest record, volume, destage up to): everything of an idle
        // volume or under pressure, else only records past the max age.
        let pick = self.with_vols(|v| {
            v.iter()
                .filter_map(|(rid, vol)| {
                    let min = vol.index.min_seq()?;
                    let upto = if pressure || vol.last.is_some_and(|t| t.elapsed() >= delay) {
                        u64::MAX
                    } else if min <= old {
                        old
                    } else {
                        return None;
                    };
                    Some((min, rid.clone(), upto))
                })
                .min()
        });
        let Some((_, rid, upto)) = pick else {
            return Ok(false);
        };
        let n = self
            .destage_volume(arch, &rid, upto, self.shared.cfg.destage_batch_blocks)
            .await?;
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.trim())
            .await
            .map_err(|e| archipelago::Error::Task(e.to_string()))?
            .map_err(|e| archipelago::Error::Task(format!("write log trim: {e}")))?;
        Ok(n > 0 || self.with_vols(|v| !v.contains_key(&rid)))
    }

    /// Starts the background destager on its own thread and runtime.
    pub fn start_destager(&self, arch: Archipelago) -> std::io::Result<Destager> {
        let (stop, mut stopped) = watch::channel(false);
        let log = self.clone();
        let thread = std::thread::Builder::new()
            .name("wlog-destage".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name("wlog-destage")
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(error = %e, "destager runtime failed to start");
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut backoff = Duration::from_millis(10);
                    loop {
                        if *stopped.borrow() {
                            break;
                        }
                        let t0 = Instant::now();
                        match log.destage_once(&arch).await {
                            Ok(true) => {
                                backoff = Duration::from_millis(10);
                                // Throttle: below three quarters full, rest
                                // as long as the batch took (half the disk
                                // time at most goes to merging, the rest to
                                // foreground IO); beyond it, full speed.
                                if !log.urgent() {
                                    let rest = t0.elapsed().min(Duration::from_secs(1));
                                    tokio::select! {
                                        _ = stopped.changed() => {}
                                        _ = tokio::time::sleep(rest) => {}
                                    }
                                }
                                continue;
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "destage failed; retrying");
                                backoff = (backoff * 2).min(Duration::from_secs(5));
                            }
                        }
                        let poll = log.shared.cfg.destage_delay.min(Duration::from_millis(100));
                        let wait = if backoff > Duration::from_millis(10) {
                            backoff
                        } else {
                            poll
                        };
                        tokio::select! {
                            _ = stopped.changed() => {}
                            _ = log.notify().notified() => {
                                // Records arrived: they are due only after
                                // the delay, unless the log fills up.
                                tokio::time::sleep(poll.min(wait)).await;
                            }
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                });
            })?;
        Ok(Destager {
            stop,
            thread: Some(thread),
            started: Instant::now(),
        })
    }
}

/// The running background destager; [`Destager::stop`] joins it.
pub struct Destager {
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    #[allow(dead_code)]
    started: Instant,
}

impl Destager {
    /// Stops after the batch in progress. Blocking (joins the thread).
    pub fn stop(mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Destager {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// The write log as archipelago's [`PendingWrites`]: settle destages the
/// volume now and waits; forget drops its records for good.
pub struct Settler {
    pub log: WriteLog,
    pub arch: Archipelago,
}

#[async_trait::async_trait]
impl PendingWrites for Settler {
    async fn settle(&self, rid: &str) -> archipelago::Result<()> {
        self.log.settle_volume(&self.arch, rid).await
    }
    async fn forget(&self, rid: &str) -> archipelago::Result<()> {
        self.log.forget(rid).await
    }
}

impl WriteLog {
    /// Registers this log with `arch` (settle before snapshot, clone and
    /// resize; forget before revert). The registration holds a clone of
    /// `arch`: the two live as long as each other, as they do in a server.
    pub fn attach_to(&self, arch: &Archipelago) -> bool {
        arch.set_pending_writes(Arc::new(Settler {
            log: self.clone(),
            arch: arch.clone(),
        }))
    }
}
