//! Glance v2 image API over the resource layer.
//!
//! An image is a view of a read-only archipelago resource: uploading data
//! makes a new resource, registering a Swift object or a volume snapshot
//! makes the image point at that resource with no data copied. Depends on
//! `archipelago`, `identity` and `db` only (never blockd, never another
//! frontend); image rows and the Swift rows it reads live in `db`.
//!
//! Layout: [`configure`] is the route table; one handler file per
//! operation family ([`images`], [`data`], [`members`], [`tags`],
//! [`locations`], [`discovery`]); [`patch`] and [`query`] are the pure
//! parsers of JSON patches and listing queries; [`dto`] the wire types;
//! [`error`] the one error type and Glance's error bodies.
//!
//! Invariants: every image holding data references its resource(s) once
//! (`resource_id`, `staging_resource_id`, and `atoll://` copy locations),
//! released when the image is deleted; an image is `active` only in the
//! transaction that records its resource; a project is told only about
//! images Glance would show it (others are 404).

use actix_web::middleware::from_fn;
use actix_web::web;

pub mod data;
pub mod discovery;
pub mod dto;
pub mod error;
mod http;
pub mod images;
pub mod locations;
pub mod members;
pub mod openapi;
pub mod patch;
pub mod query;
pub mod tags;

pub use error::GlanceError;
pub use http::Caller;

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
        mut cfg: GlanceConfig,
    ) -> Glance {
        // No configured policy list: the resource layer's default is the
        // one store.
        if cfg.stores.is_empty() {
            cfg.stores.push(arch.config().default_policy.clone());
        }
        Glance {
            arch,
            identity,
            cfg: std::sync::Arc::new(cfg),
        }
    }
}

impl Glance {
    pub(crate) fn db(&self) -> &db::Db {
        self.arch.db()
    }

    /// The default store: the first configured one.
    pub(crate) fn default_store(&self) -> String {
        self.cfg
            .stores
            .first()
            .cloned()
            .unwrap_or_else(|| self.arch.config().default_policy.clone())
    }
}

// Glance's keystonemiddleware runs before its router, so a wrong method or
// an unknown path answers 401 to a caller without a valid token.
async fn method_not_allowed(
    _caller: Caller,
    allow: &'static str,
) -> Result<actix_web::HttpResponse, GlanceError> {
    Err(GlanceError::MethodNotAllowed(allow))
}

async fn not_found(_caller: Caller) -> Result<actix_web::HttpResponse, GlanceError> {
    Err(GlanceError::NotFound(
        "The resource could not be found.".into(),
    ))
}

/// Mounts the image API's routes; the app must hold `web::Data<Glance>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use web::{delete, get, patch as patch_, post, put, resource};
    // A route with the methods Glance's router lists in its 405's `Allow`.
    let r = |path: &str, allow: &'static str| {
        resource(path).default_service(web::to(move |c: Caller| method_not_allowed(c, allow)))
    };
    cfg.service(
        web::scope("")
            .wrap(from_fn(http::glance_headers))
            // Glance's version negotiation answers these before any routing, for
            // any method.
            .service(resource("/").default_service(web::to(discovery::root)))
            .service(resource("/versions").default_service(web::to(discovery::versions)))
            .service(r("/v2/schemas/{name:.*}", "GET").route(get().to(discovery::schema)))
            .service(r("/v2/info/import", "GET").route(get().to(discovery::import_info)))
            .service(r("/v2/info/stores", "GET").route(get().to(discovery::stores_info)))
            .service(
                r("/v2/images", "GET, POST")
                    .route(get().to(images::list))
                    .route(post().to(images::create)),
            )
            .service(
                r("/v2/images/{image_id}", "GET, PATCH, DELETE")
                    .route(get().to(images::show))
                    .route(patch_().to(images::update))
                    .route(delete().to(images::delete)),
            )
            .service(
                r("/v2/images/{image_id}/file", "GET, PUT")
                    .route(get().to(data::download))
                    .route(put().to(data::upload)),
            )
            .service(r("/v2/images/{image_id}/stage", "PUT").route(put().to(data::stage)))
            .service(r("/v2/images/{image_id}/import", "POST").route(post().to(data::import)))
            .service(
                r("/v2/images/{image_id}/locations", "POST")
                    .route(post().to(locations::add_location)),
            )
            .service(
                r("/v2/images/{image_id}/actions/deactivate", "POST")
                    .route(post().to(images::deactivate)),
            )
            .service(
                r("/v2/images/{image_id}/actions/reactivate", "POST")
                    .route(post().to(images::reactivate)),
            )
            .service(
                r("/v2/images/{image_id}/actions/export", "POST")
                    .route(post().to(locations::export)),
            )
            .service(
                r("/v2/images/{image_id}/members", "GET, POST")
                    .route(get().to(members::list))
                    .route(post().to(members::create)),
            )
            .service(
                r(
                    "/v2/images/{image_id}/members/{member_id}",
                    "GET, PUT, DELETE",
                )
                .route(get().to(members::show))
                .route(put().to(members::update))
                .route(delete().to(members::delete)),
            )
            .service(
                r("/v2/images/{image_id}/tags/{tag}", "PUT, DELETE")
                    .route(put().to(tags::add))
                    .route(delete().to(tags::remove)),
            )
            .default_service(web::to(not_found)),
    );
}
