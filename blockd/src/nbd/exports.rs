//! The export registry: which names a client may open, from where, and the
//! periodic re-check that ends connections whose export was removed.
//!
//! The source of truth is the `nbd_exports` table (`db::exports`), written by
//! the volume API on attach and cleared on detach. A client names an export
//! at `NBD_OPT_GO` / `NBD_OPT_INFO` / `NBD_OPT_EXPORT_NAME`; the row is read
//! then, so a freshly attached volume is reachable at once. Live connections
//! learn of a detach from one listing query per `recheck_interval` for the
//! whole server, published on a watch channel every connection subscribes
//! to; no connection queries the database on its own after its handshake.
//!
//! A read-write export also needs this host's claim on the volume
//! (`owners`): [`Registry::claim`] takes it at GO / EXPORT_NAME, and a lost
//! claim ends the connection like a detach does.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use archipelago::{Archipelago, Kind};
use tokio::sync::watch;

use super::owners::{Claim, ClaimError, Owners};
use super::proto;

/// An export a client has been granted, resolved to its resource.
#[derive(Debug, Clone)]
pub(crate) struct Export {
    pub name: String,
    pub attachment_id: String,
    pub resource_id: String,
    /// Export size, fixed at handshake (NBD cannot announce a resize).
    pub size: u64,
    pub block_size: u32,
    pub readonly: bool,
    /// When the row was seen: listings taken before this cannot revoke it.
    pub found_at: Instant,
}

impl Export {
    /// Transmission flags for this export; `structured` when the client
    /// negotiated structured replies (only then is `SEND_DF` offered).
    pub fn flags(&self, structured: bool) -> u16 {
        // CAN_MULTI_CONN: every write is committed to the shared resource
        // layer before its reply, so there is no per-connection cache and a
        // FLUSH on one connection covers writes acknowledged on any other.
        let mut f = proto::FLAG_HAS_FLAGS | proto::FLAG_SEND_FLUSH | proto::FLAG_CAN_MULTI_CONN;
        if self.readonly {
            f |= proto::FLAG_READ_ONLY;
        } else {
            f |= proto::FLAG_SEND_FUA | proto::FLAG_SEND_TRIM | proto::FLAG_SEND_WRITE_ZEROES;
        }
        if structured {
            f |= proto::FLAG_SEND_DF;
        }
        f
    }

    /// Preferred request size for `NBD_INFO_BLOCK_SIZE`: the resource's
    /// block size (writes of whole blocks avoid read-modify-write), a power
    /// of two between 4 KiB and the maximum payload.
    pub fn preferred_block(&self) -> u32 {
        let bs = self.block_size.clamp(4096, proto::MAX_PAYLOAD);
        if bs.is_power_of_two() {
            bs
        } else {
            4096
        }
    }

    fn key(&self) -> (String, String) {
        (self.name.clone(), self.attachment_id.clone())
    }
}

/// Why an export was not granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such export (or its resource is gone).
    Unknown,
    /// The export exists but not for this peer address.
    Policy,
    /// The lookup itself failed (database error).
    Failed,
    /// The volume is open for writing on another host.
    Busy,
}

/// One listing of live exports.
#[derive(Clone, Default)]
struct Snapshot {
    /// When the listing query started; `None` before the first one.
    taken: Option<Instant>,
    live: Arc<HashSet<(String, String)>>,
}

/// Looks exports up and publishes the periodic listing.
#[derive(Clone)]
pub(crate) struct Registry {
    arch: Archipelago,
    db: db::Db,
    live: Arc<watch::Sender<Snapshot>>,
    owners: Arc<Owners>,
}

impl Registry {
    pub fn new(arch: Archipelago, db: db::Db, owners: Arc<Owners>) -> Registry {
        let (tx, _) = watch::channel(Snapshot::default());
        Registry {
            arch,
            db,
            live: Arc::new(tx),
            owners,
        }
    }

    /// Takes this host's share of the writer claim that a read-write
    /// `export` needs before it opens; `None` for a read-only one (readers
    /// need no claim).
    pub async fn claim(&self, export: &Export) -> Result<Option<Claim>, Refusal> {
        if export.readonly {
            return Ok(None);
        }
        match self.owners.claim(&export.resource_id).await {
            Ok(c) => Ok(Some(c)),
            Err(e) => Err(self.refuse_claim(export, e)),
        }
    }

    /// What `NBD_OPT_INFO` must report for `export`: the refusal GO would
    /// meet, without taking the claim.
    pub async fn check_claim(&self, export: &Export) -> Result<(), Refusal> {
        if export.readonly {
            return Ok(());
        }
        match self.owners.held_elsewhere(&export.resource_id).await {
            Ok(None) => Ok(()),
            Ok(Some(host)) => Err(self.refuse_claim(export, ClaimError::Held { host })),
            Err(e) => Err(self.refuse_claim(export, e)),
        }
    }

    fn refuse_claim(&self, export: &Export, e: ClaimError) -> Refusal {
        match e {
            ClaimError::Held { host } => {
                tracing::warn!(attachment = %export.attachment_id, resource = %export.resource_id,
                    owner = %host, "volume is open for writing on another host; refused");
                Refusal::Busy
            }
            ClaimError::Failed => Refusal::Failed,
        }
    }

    /// Grants `name` to a client at `peer`, or says why not.
    pub async fn lookup(&self, name: &str, peer: IpAddr) -> Result<Export, Refusal> {
        if name.is_empty() {
            // No default export: every export has a secret name.
            return Err(Refusal::Unknown);
        }
        let n = name.to_string();
        let row = self
            .db
            .run(move |c| db::exports::get(c, &n))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "nbd export lookup failed");
                Refusal::Failed
            })?
            .ok_or(Refusal::Unknown)?;
        let found_at = Instant::now();
        if !peer_allowed(row.client_ip.as_deref(), peer) {
            // Logged by attachment id: the name is a secret.
            tracing::warn!(attachment = %row.attachment_id, %peer, "nbd client from a foreign address refused");
            return Err(Refusal::Policy);
        }
        let res = match self.arch.info(&row.resource_id).await {
            Ok(r) => r,
            Err(archipelago::Error::NotFound(_)) => {
                tracing::warn!(attachment = %row.attachment_id, resource = %row.resource_id, "nbd export names a missing resource");
                return Err(Refusal::Unknown);
            }
            Err(e) => {
                tracing::error!(error = %e, resource = %row.resource_id, "nbd export resource lookup failed");
                return Err(Refusal::Failed);
            }
        };
        Ok(Export {
            name: row.name,
            attachment_id: row.attachment_id,
            resource_id: row.resource_id,
            size: res.size,
            block_size: res.block_size,
            // A read-only resource (snapshot, image) can never take writes,
            // whatever the row says.
            readonly: row.readonly || res.kind == Kind::Ro,
            found_at,
        })
    }

    /// A watch that resolves once `export` is no longer listed, or once
    /// the writer `claim` it holds is lost.
    pub fn watch(&self, export: &Export, claim: Option<&Claim>) -> ExportWatch {
        ExportWatch {
            rx: self.live.subscribe(),
            key: export.key(),
            found_at: export.found_at,
            lost: claim.map(Claim::loss_signal),
        }
    }

    /// Lists live exports every `interval` while any connection watches,
    /// until `stop` resolves.
    pub async fn run_recheck(
        self,
        interval: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => {}
            }
            if self.live.receiver_count() == 0 {
                continue;
            }
            let started = Instant::now();
            match self.db.run(db::exports::list).await {
                Ok(rows) => {
                    let live = rows
                        .into_iter()
                        .map(|r| (r.name, r.attachment_id))
                        .collect();
                    self.live.send_replace(Snapshot {
                        taken: Some(started),
                        live: Arc::new(live),
                    });
                }
                // Keep serving on the last listing: a database hiccup must
                // not cut every VM's disk.
                Err(e) => tracing::warn!(error = %e, "nbd export re-check failed"),
            }
        }
    }
}

/// Whether a client at `peer` may use an export bound to `client_ip`.
pub(crate) fn peer_allowed(client_ip: Option<&str>, peer: IpAddr) -> bool {
    let Some(want) = client_ip else {
        return true;
    };
    match want.trim().parse::<IpAddr>() {
        // IPv4 clients may arrive as ::ffff:a.b.c.d on a dual-stack socket.
        Ok(w) => w.to_canonical() == peer.to_canonical(),
        // An unparsable address matches no peer: refusing is the safe side.
        Err(_) => false,
    }
}

/// Follows the listings for one connection's export, and its claim.
pub(crate) struct ExportWatch {
    rx: watch::Receiver<Snapshot>,
    key: (String, String),
    found_at: Instant,
    lost: Option<watch::Receiver<bool>>,
}

impl ExportWatch {
    /// Resolves when a listing taken after the handshake lacks the export,
    /// or the connection's writer claim is lost; never resolves if the
    /// server stops publishing. Cancel-safe: transmission polls it once per
    /// request header.
    pub async fn gone(&mut self) {
        let listing = Self::unlisted(&mut self.rx, &self.key, self.found_at);
        match &mut self.lost {
            None => listing.await,
            Some(lost) => tokio::select! {
                _ = listing => {}
                // An error (the claim's sender gone without a loss) disables
                // this branch: the listing still decides.
                Ok(_) = lost.wait_for(|l| *l) => {}
            },
        }
    }

    async fn unlisted(
        rx: &mut watch::Receiver<Snapshot>,
        key: &(String, String),
        found_at: Instant,
    ) {
        loop {
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
            let snap = rx.borrow_and_update().clone();
            let fresh = snap.taken.is_some_and(|t| t >= found_at);
            if fresh && !snap.live.contains(key) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_check() {
        let p: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(peer_allowed(None, p));
        assert!(peer_allowed(Some("127.0.0.1"), p));
        assert!(!peer_allowed(Some("10.9.9.9"), p));
        assert!(!peer_allowed(Some(""), p));
        assert!(!peer_allowed(Some("not-an-ip"), p));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(peer_allowed(Some("127.0.0.1"), mapped));
        assert!(peer_allowed(Some("::ffff:127.0.0.1"), p));
    }

    fn export(block_size: u32, readonly: bool) -> Export {
        Export {
            name: "n".into(),
            attachment_id: "a".into(),
            resource_id: "r".into(),
            size: 1 << 20,
            block_size,
            readonly,
            found_at: Instant::now(),
        }
    }

    #[test]
    fn flags_follow_readonly() {
        let rw = export(4 << 20, false).flags(false);
        assert_eq!(rw & proto::FLAG_SEND_DF, 0);
        assert_ne!(export(4 << 20, false).flags(true) & proto::FLAG_SEND_DF, 0);
        assert_eq!(rw & proto::FLAG_READ_ONLY, 0);
        assert_ne!(rw & proto::FLAG_SEND_WRITE_ZEROES, 0);
        assert_ne!(rw & proto::FLAG_CAN_MULTI_CONN, 0);
        let ro = export(4 << 20, true).flags(false);
        assert_ne!(ro & proto::FLAG_READ_ONLY, 0);
        assert_eq!(ro & (proto::FLAG_SEND_TRIM | proto::FLAG_SEND_FUA), 0);
        assert_ne!(ro & proto::FLAG_SEND_FLUSH, 0);
    }

    #[test]
    fn preferred_block_is_a_power_of_two_within_limits() {
        assert_eq!(export(4 << 20, false).preferred_block(), 4 << 20);
        assert_eq!(export(512, false).preferred_block(), 4096);
        assert_eq!(export(3 << 20, false).preferred_block(), 4096);
        assert_eq!(export(64 << 20, false).preferred_block(), 32 << 20);
    }

    #[tokio::test]
    async fn watch_ignores_listings_older_than_the_handshake() {
        let (tx, _) = watch::channel(Snapshot::default());
        let tx = Arc::new(tx);
        let before = Instant::now();
        let e = export(4096, false);
        let mut w = ExportWatch {
            rx: tx.subscribe(),
            key: e.key(),
            found_at: e.found_at,
            lost: None,
        };
        // A stale listing without the export must not cut it.
        tx.send_replace(Snapshot {
            taken: Some(before),
            live: Arc::new(HashSet::new()),
        });
        let r = tokio::time::timeout(Duration::from_millis(50), w.gone()).await;
        assert!(r.is_err(), "stale listing revoked the export");
        // A fresh listing with it keeps it.
        tx.send_replace(Snapshot {
            taken: Some(Instant::now()),
            live: Arc::new([e.key()].into_iter().collect()),
        });
        let r = tokio::time::timeout(Duration::from_millis(50), w.gone()).await;
        assert!(r.is_err(), "listed export revoked");
        // A fresh listing without it ends it.
        tx.send_replace(Snapshot {
            taken: Some(Instant::now()),
            live: Arc::new(HashSet::new()),
        });
        tokio::time::timeout(Duration::from_secs(1), w.gone())
            .await
            .expect("export not revoked");
    }
}
