//! NBD export of attached volumes (newstyle fixed handshake).
//!
//! Which volume a client may reach is decided by `db::exports`: the volume
//! API writes a row per attachment and deletes it on detach. A client gets
//! an export only by its secret name and only from the connector address it
//! was attached for.
//!
//! Layout:
//! - [`proto`]: wire constants and the pure codec (unit and property tests).
//! - `handshake`: option haggling up to the chosen export and the
//!   negotiated session (structured replies, `base:allocation`).
//! - `structured`: structured reply chunks and metadata context codec.
//! - `transmission`: pipelined requests and replies of one connection.
//! - `exports`: export lookup, the connector check, and the periodic
//!   re-check that closes connections of detached volumes.
//! - `owners`: this host's writer claims (`db::owners`): a read-write
//!   export opens only while this host owns the volume.
//!
//! Invariants: nothing here blocks the runtime it runs on (the database
//! through `Db::run`, block IO on the chunk store's threads); a reply to a
//! write is sent only once the resource layer made it durable; a malformed
//! stream ends its own connection only; a volume is exported for writing
//! by one host at a time, and its claim is released only after the last
//! connection drained its requests. The protocol subset is described in
//! `docs/formats/nbd.md`.

mod exports;
mod handshake;
mod owners;
pub mod proto;
pub mod structured;
mod transmission;

use std::future::Future;
use std::time::Duration;

use archipelago::Archipelago;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use exports::Registry;
use owners::Owners;

/// A client has this long to choose an export; an idle half-open handshake
/// must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the NBD server.
#[derive(Debug, Clone)]
pub struct NbdConfig {
    /// How often live connections re-check that their export still exists.
    pub recheck_interval: std::time::Duration,
    /// This host's id in `volume_owners`: stable across restarts, so a
    /// restarted host takes its own claims back at once.
    pub host_id: String,
    /// How long a writer claim lasts without renewal (renewed every
    /// quarter of it): how long a crashed host blocks its volumes.
    pub owner_lease: std::time::Duration,
    /// The volume write log: writes, trims and zeroes go through it and
    /// reads overlay it. `None`: every write goes to the resource layer.
    pub write_log: Option<crate::wlog::WriteLog>,
}

impl Default for NbdConfig {
    fn default() -> Self {
        NbdConfig {
            recheck_interval: std::time::Duration::from_millis(500),
            // Unique per server value: the binary sets a stable one.
            host_id: format!("host-{}", archipelago::new_id()),
            owner_lease: std::time::Duration::from_secs(20),
            write_log: None,
        }
    }
}

/// Serves NBD clients on `listener` until `shutdown` resolves. Then it
/// stops accepting, lets every connection finish the requests it has read,
/// and returns once all are closed.
pub async fn serve(
    arch: Archipelago,
    db: db::Db,
    cfg: NbdConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settle = cfg.write_log.clone().map(|w| (w, arch.clone()));
    let owners = Owners::new(db.clone(), cfg.host_id.clone(), cfg.owner_lease, settle);
    let registry = Registry::new(arch.clone(), db, owners.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let renewal = {
        let mut stop = stop_rx.clone();
        tokio::spawn(owners.run_renewal(async move {
            let _ = stop.wait_for(|s| *s).await;
        }))
    };
    let recheck = {
        let mut stop = stop_rx.clone();
        tokio::spawn(
            registry
                .clone()
                .run_recheck(cfg.recheck_interval, async move {
                    let _ = stop.wait_for(|s| *s).await;
                }),
        )
    };
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            r = listener.accept() => match r {
                Ok((sock, peer)) => {
                    // Replies are small and latency-bound.
                    let _ = sock.set_nodelay(true);
                    let span = tracing::info_span!("nbd", %peer);
                    conns.spawn(
                        connection(sock, peer, registry.clone(), arch.clone(), cfg.write_log.clone(), stop_rx.clone())
                            .instrument(span),
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: transient, and
                    // connected clients keep being served.
                    tracing::warn!(error = %e, "nbd accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!(connections = conns.len(), "nbd server stopping");
    stop_tx.send_replace(true);
    while conns.join_next().await.is_some() {}
    let _ = recheck.await;
    let _ = renewal.await;
    Ok(())
}

/// One client from accept to close.
async fn connection(
    mut sock: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    registry: Registry,
    arch: Archipelago,
    wlog: Option<crate::wlog::WriteLog>,
    mut stop: watch::Receiver<bool>,
) {
    let negotiated = tokio::select! {
        _ = stop.wait_for(|s| *s) => return,
        r = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            handshake::negotiate(&mut sock, peer.ip(), &registry),
        ) => r,
    };
    let opened = match negotiated {
        Ok(Ok(Some(e))) => e,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "nbd handshake ended");
            return;
        }
        Err(_) => {
            tracing::debug!("nbd handshake timed out");
            return;
        }
    };
    let handshake::Opened {
        export,
        session,
        claim,
    } = opened;
    tracing::info!(attachment = %export.attachment_id, resource = %export.resource_id,
        size = export.size, readonly = export.readonly, structured = session.structured,
        block_status = session.base_allocation.is_some(), "nbd export opened");
    let watch = registry.watch(&export, claim.as_ref());
    transmission::run(sock, export, session, arch, wlog, watch, stop).await;
    // Only now, with every request read on this connection answered, may
    // another host take the volume over.
    if let Some(c) = claim {
        c.release().await;
    }
}
