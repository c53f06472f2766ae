//! One writer host per volume: this host's claims in `volume_owners`.
//!
//! A read-write export opens only once this host holds the volume's claim
//! (`db::owners`). Every connection of this host to the same volume shares
//! one claim: the first one takes it in the database, later ones only count
//! themselves in, and the last one to close releases it. Why a claim at
//! all: a host's write path (write log, caches) is private to it, so a
//! second host writing the same resource would lose or reorder writes.
//!
//! The claim is a lease. A renewal task extends every held claim each
//! quarter lease. A claim that could not be renewed in time (the database
//! is unreachable) or that another host took over is *lost*: the
//! connections holding it are told through a watch channel and close (see
//! `ExportWatch`), because past the lease another host may start writing.
//! A host that crashed without releasing blocks the volume only until its
//! lease ends.
//!
//! Hand-over: this host's write log holds acknowledged writes no other host
//! can read, so before the last connection releases the claim the volume's
//! pending writes are destaged into its map (`WriteLog::settle_volume`). If
//! that fails the claim is kept (and renewed) rather than let another host
//! read the volume without them. A crashed host's pending writes are
//! replayed only when it restarts; a take-over after its lease ran out does
//! not see them (the log is local to the host).
//!
//! Locking: a std mutex guards the two small maps and is never held across
//! an await; the claim of one volume is serialized by that volume's async
//! mutex, so two handshakes for the same volume never both go to the
//! database, and a release never races a new claim.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use archipelago::Archipelago;
use tokio::sync::watch;

use crate::wlog::WriteLog;

/// Why a claim was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// Another host holds a live claim.
    Held { host: String },
    /// The database could not be asked.
    Failed,
}

/// This host's claims; shared by all connections of one server.
pub(crate) struct Owners {
    db: db::Db,
    host: String,
    lease: Duration,
    /// The write log whose pending writes of a volume must reach its map
    /// before the claim goes.
    settle: Option<(WriteLog, Archipelago)>,
    /// Per volume: connections counted in, serialized claim and release.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Claims held in the database: what the renewal task extends.
    active: Mutex<HashMap<String, Active>>,
}

#[derive(Default)]
struct Slot {
    conns: usize,
    /// The current claim's loss signal; `None` before the first claim.
    lost: Option<watch::Receiver<bool>>,
}

struct Active {
    lost: watch::Sender<bool>,
    /// Past this instant the claim may have expired in the database: the
    /// lease minus a margin for clock skew and the renewal's own duration.
    valid_until: Instant,
}

/// One connection's share of a volume's claim. Give it back with
/// [`Claim::release`]; dropping it releases from a spawned task.
pub(crate) struct Claim {
    owners: Arc<Owners>,
    rid: String,
    lost: watch::Receiver<bool>,
    released: bool,
}

impl Claim {
    /// A receiver of the loss signal, for the connection's export watch.
    pub fn loss_signal(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Gives this connection's share back; the last share releases the
    /// claim in the database.
    pub async fn release(mut self) {
        self.released = true;
        self.owners.clone().leave(&self.rid).await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        // A connection task that panicked or was cancelled: give the share
        // back anyway, or the volume stays claimed until the server stops.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (owners, rid) = (self.owners.clone(), self.rid.clone());
            rt.spawn(async move { owners.leave(&rid).await });
        }
    }
}

impl Owners {
    pub fn new(
        db: db::Db,
        host: String,
        lease: Duration,
        settle: Option<(WriteLog, Archipelago)>,
    ) -> Arc<Owners> {
        Arc::new(Owners {
            db,
            host,
            lease,
            settle,
            slots: Mutex::new(HashMap::new()),
            active: Mutex::new(HashMap::new()),
        })
    }

    fn lease_end(&self) -> (i64, i64) {
        let now = db::now_micros();
        (now, now + self.lease.as_micros() as i64)
    }

    fn margin(&self) -> Duration {
        self.lease / 4
    }

    /// Takes (or joins) this host's claim on `rid`.
    pub async fn claim(self: &Arc<Self>, rid: &str) -> Result<Claim, ClaimError> {
        let slot = {
            let mut slots = self.slots.lock().unwrap();
            slots.entry(rid.to_string()).or_default().clone()
        };
        let mut s = slot.lock().await;
        let live = s.conns > 0 && s.lost.as_ref().is_some_and(|l| !*l.borrow());
        if !live {
            let started = Instant::now();
            let (now, until) = self.lease_end();
            let (r, h) = (rid.to_string(), self.host.clone());
            let got = self
                .db
                .transaction(move |c| db::owners::claim(c, &r, &h, now, until))
                .await;
            match got {
                Ok(db::owners::Claim::Granted) => {
                    let (tx, rx) = watch::channel(false);
                    let valid_until = started + self.lease - self.margin();
                    let a = Active {
                        lost: tx,
                        valid_until,
                    };
                    self.active.lock().unwrap().insert(rid.to_string(), a);
                    s.lost = Some(rx);
                }
                Ok(db::owners::Claim::Held(row)) => {
                    drop(s);
                    self.forget_if_idle(rid);
                    return Err(ClaimError::Held { host: row.host_id });
                }
                Err(e) => {
                    tracing::error!(error = %e, resource = rid, "volume claim failed");
                    drop(s);
                    self.forget_if_idle(rid);
                    return Err(ClaimError::Failed);
                }
            }
        }
        s.conns += 1;
        let lost = s.lost.clone().expect("a live slot has a claim");
        Ok(Claim {
            owners: self.clone(),
            rid: rid.to_string(),
            lost,
            released: false,
        })
    }

    /// Whether another host holds a live claim on `rid` (for `NBD_OPT_INFO`,
    /// which must answer as GO would without taking anything).
    pub async fn held_elsewhere(&self, rid: &str) -> Result<Option<String>, ClaimError> {
        let r = rid.to_string();
        let row = self
            .db
            .run(move |c| db::owners::holder(c, &r))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, resource = rid, "volume owner lookup failed");
                ClaimError::Failed
            })?;
        let now = db::now_micros();
        Ok(row
            .filter(|o| o.host_id != self.host && o.lease_until >= now)
            .map(|o| o.host_id))
    }

    /// One connection of `rid` closed; the last one releases the claim.
    async fn leave(self: Arc<Self>, rid: &str) {
        let slot = self.slots.lock().unwrap().get(rid).cloned();
        let Some(slot) = slot else {
            tracing::error!(resource = rid, "volume claim released twice");
            return;
        };
        let mut s = slot.lock().await;
        s.conns = s.conns.saturating_sub(1);
        let lost = s.lost.as_ref().is_none_or(|l| *l.borrow());
        if s.conns == 0 && !lost {
            if let Some((wlog, arch)) = &self.settle {
                if let Err(e) = wlog.settle_volume(arch, rid).await {
                    // Keep the claim (the renewal task still extends it):
                    // another host must not read the volume without the
                    // writes only this host's log holds. The next close of
                    // a connection tries again.
                    tracing::error!(error = %e, resource = rid,
                        "volume's pending writes not destaged; keeping its claim");
                    return;
                }
            }
        }
        if s.conns == 0 {
            self.active.lock().unwrap().remove(rid);
            let (r, h) = (rid.to_string(), self.host.clone());
            match self
                .db
                .transaction(move |c| db::owners::release(c, &r, &h))
                .await
            {
                Ok(true) => tracing::debug!(resource = rid, "volume claim released"),
                Ok(false) => tracing::warn!(resource = rid, "volume claim was already gone"),
                // The lease runs out on its own; only a take-over waits.
                Err(e) => tracing::warn!(error = %e, resource = rid, "volume claim release failed"),
            }
            s.lost = None;
        }
        drop(s);
        self.forget_if_idle(rid);
    }

    /// Drops the slot of `rid` when no connection and no waiter uses it.
    /// The map's own reference is the only one exactly when nobody cloned
    /// it (clones are taken under the same mutex).
    fn forget_if_idle(&self, rid: &str) {
        let mut slots = self.slots.lock().unwrap();
        if slots.get(rid).is_some_and(|s| Arc::strong_count(s) == 1) {
            slots.remove(rid);
        }
    }

    /// Renews this host's claims every quarter lease until `stop` resolves;
    /// signals the ones lost.
    pub async fn run_renewal(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(self.lease / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {}
            }
            self.renew_once().await;
        }
    }

    async fn renew_once(&self) {
        let ids: Vec<String> = self.active.lock().unwrap().keys().cloned().collect();
        if !ids.is_empty() {
            let started = Instant::now();
            let (_, until) = self.lease_end();
            let host = self.host.clone();
            let asked = ids.clone();
            let r = self
                .db
                .transaction(move |c| db::owners::renew(c, &host, &asked, until))
                .await;
            match r {
                Ok(held) => {
                    let held: std::collections::HashSet<String> = held.into_iter().collect();
                    let mut active = self.active.lock().unwrap();
                    for id in &ids {
                        let Some(a) = active.get_mut(id) else {
                            continue; // released meanwhile
                        };
                        if held.contains(id) {
                            a.valid_until = started + self.lease - self.margin();
                        } else {
                            tracing::error!(resource = %id, "volume claim taken over by another host; closing its connections");
                            a.lost.send_replace(true);
                        }
                    }
                }
                // Keep the claims while the lease lasts: the check below
                // cuts them only once another host could take over.
                Err(e) => tracing::warn!(error = %e, "volume claim renewal failed"),
            }
        }
        let now = Instant::now();
        for (id, a) in self.active.lock().unwrap().iter() {
            if now >= a.valid_until && !*a.lost.borrow() {
                tracing::error!(resource = %id, "volume claim not renewed in time; closing its connections");
                a.lost.send_replace(true);
            }
        }
    }
}
