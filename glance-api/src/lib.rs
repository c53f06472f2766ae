//! Glance v2 image API over the resource layer.
//!
//! An image is a view of a read-only archipelago resource: uploading data
//! makes a new resource, registering a Swift object or a volume snapshot
//! makes the image point at that resource with no data copied. Depends on
//! `archipelago`, `identity` and `db` only (never blockd, never another
//! frontend); image rows and the Swift rows it reads live in `db`.

use actix_web::web;

pub mod openapi;

/// Settings the binary hands in.
#[derive(Debug, Clone)]
pub struct GlanceConfig {
    /// Public base URL of this API (`http://127.0.0.1:9292`).
    pub public_url: String,
    /// Storage policies offered as Glance stores; the first is the default.
    pub stores: Vec<String>,
    /// Largest image accepted, in bytes (Glance's `image_size_cap`).
    pub image_size_cap: u64,
}

impl Default for GlanceConfig {
    fn default() -> Self {
        GlanceConfig {
            public_url: "http://127.0.0.1:9292".into(),
            stores: vec!["default".into()],
            image_size_cap: 1 << 40,
        }
    }
}

/// The image service: cheap to clone, one per process.
#[derive(Clone)]
pub struct Glance {
    pub arch: archipelago::Archipelago,
    pub identity: identity::Identity,
    pub cfg: std::sync::Arc<GlanceConfig>,
}

impl Glance {
    pub fn new(
        arch: archipelago::Archipelago,
        identity: identity::Identity,
        cfg: GlanceConfig,
    ) -> Glance {
        Glance {
            arch,
            identity,
            cfg: std::sync::Arc::new(cfg),
        }
    }
}

/// Mounts the image API's routes; the app must hold `web::Data<Glance>`.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
