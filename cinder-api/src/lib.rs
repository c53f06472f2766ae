//! Cinder v3 volume API over the resource layer.
//!
//! A volume is a view of a read-write archipelago resource, a snapshot of a
//! read-only one. Volumes from images, snapshots and other volumes are thin
//! clones; snapshots and upload-to-image freeze the map. Attaching a volume
//! records an NBD export (`db::exports`) that the block daemon serves.
//! Depends on `archipelago`, `identity` and `db` only.

use actix_web::web;

pub mod openapi;

/// Settings the binary hands in.
#[derive(Debug, Clone)]
pub struct CinderConfig {
    /// Public base URL of this API (`http://127.0.0.1:8776`).
    pub public_url: String,
    /// Host and port of the NBD server, as put into `connection_info`.
    pub nbd_host: String,
    pub nbd_port: u16,
    /// The one availability zone volumes live in.
    pub availability_zone: String,
    /// Volume types offered, each naming a storage policy; the first is the
    /// default type.
    pub volume_types: Vec<VolumeTypeConfig>,
}

/// A volume type and the storage policy it maps to.
#[derive(Debug, Clone)]
pub struct VolumeTypeConfig {
    pub name: String,
    pub policy: String,
}

impl Default for CinderConfig {
    fn default() -> Self {
        CinderConfig {
            public_url: "http://127.0.0.1:8776".into(),
            nbd_host: "127.0.0.1".into(),
            nbd_port: 10809,
            availability_zone: "nova".into(),
            volume_types: vec![VolumeTypeConfig {
                name: "__DEFAULT__".into(),
                policy: "default".into(),
            }],
        }
    }
}

/// The volume service: cheap to clone, one per process.
#[derive(Clone)]
pub struct Cinder {
    pub arch: archipelago::Archipelago,
    pub identity: identity::Identity,
    pub cfg: std::sync::Arc<CinderConfig>,
}

impl Cinder {
    pub fn new(
        arch: archipelago::Archipelago,
        identity: identity::Identity,
        cfg: CinderConfig,
    ) -> Cinder {
        Cinder {
            arch,
            identity,
            cfg: std::sync::Arc::new(cfg),
        }
    }
}

/// Mounts the volume API's routes; the app must hold `web::Data<Cinder>`.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
