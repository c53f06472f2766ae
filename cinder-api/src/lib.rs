//! Cinder v3 volume API over the resource layer.
//!
//! A volume is a view of a read-write archipelago resource, a snapshot of a
//! read-only one. Volumes from images, snapshots and other volumes are thin
//! clones; snapshots and upload-to-image freeze the map. Attaching a volume
//! records an NBD export (`db::exports`) that the block daemon serves.
//! Depends on `archipelago`, `identity` and `db` only.
//!
//! Layout: [`configure`] is the route table; `http` holds the middleware
//! (request ids, microversion negotiation) and the [`http::Caller`]
//! extractor; one handler file per operation family (`discovery`,
//! `volumes`, `actions`, `attach`, `snapshots`, `metadata`, `info`);
//! `dto` the wire types; `error` the one error type and its Cinder fault
//! bodies; `state` the status transitions; `quota` the limits.
//!
//! Invariants: a volume row and its resource are created, cloned and
//! released in the same transaction; a status check and the status change
//! it guards run in one transaction; an NBD export row exists only for an
//! attachment that was given a connector and is not yet detached.

use actix_web::middleware::from_fn;
use actix_web::web;

pub mod actions;
pub mod attach;
pub mod discovery;
pub mod dto;
pub mod error;
pub mod filters;
pub mod hosts;
pub mod http;
pub mod info;
pub mod metadata;
pub mod microversion;
pub mod openapi;
pub mod quota;
pub mod schema;
pub mod services;
pub mod snapshots;
pub mod state;
pub mod types;
pub mod views;
pub mod volumes;

pub use quota::QuotaConfig;

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
    /// Per-project quotas (Cinder's defaults).
    pub quotas: QuotaConfig,
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
            quotas: QuotaConfig::default(),
        }
    }
}

/// The volume service: cheap to clone, one per process.
#[derive(Clone)]
pub struct Cinder {
    pub arch: archipelago::Archipelago,
    pub identity: identity::Identity,
    pub cfg: std::sync::Arc<CinderConfig>,
    /// Volume type name to id and storage policy, for volume views (see
    /// [`types`]).
    type_ids: types::TypeIds,
}

impl Cinder {
    pub fn new(
        arch: archipelago::Archipelago,
        identity: identity::Identity,
        cfg: CinderConfig,
    ) -> Cinder {
        let mut cfg = cfg;
        if cfg.volume_types.is_empty() {
            cfg.volume_types = CinderConfig::default().volume_types;
        }
        Cinder {
            arch,
            identity,
            cfg: std::sync::Arc::new(cfg),
            type_ids: Default::default(),
        }
    }

    /// Creates the configured volume types that are missing and loads the
    /// type cache. Blocking: call once at start, before serving.
    pub fn seed_types_blocking(&self) -> error::Result<()> {
        types::seed_blocking(self)
    }

    fn remember_types(&self, rows: &[types::TypeRow]) {
        let map = rows
            .iter()
            .map(|t| (t.name.clone(), (t.id.clone(), t.policy(&self.cfg))))
            .collect();
        *self.type_ids.write().unwrap_or_else(|p| p.into_inner()) = map;
    }

    /// The id and storage policy of the type named `name`, as last loaded
    /// on this host.
    pub(crate) fn type_of(&self, name: &str) -> (String, String) {
        self.type_ids
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .unwrap_or_else(|| {
                (
                    views::type_id(name),
                    self.cfg.volume_types[0].policy.clone(),
                )
            })
    }
}

/// Mounts the volume API's routes; the app must hold `web::Data<Cinder>`.
/// Every route exists with and without the `{project_id}` segment (3.67
/// made it optional); project-less paths are registered first so `/v3/types`
/// is not read as a project id.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .wrap(from_fn(http::cinder_headers))
            .route(web::get().to(discovery::versions))
            .default_service(web::to(http::method_not_allowed)),
    );
    let mut scope = web::scope("/v3");
    for prefix in ["", "/{project_id}"] {
        scope = routes(scope, prefix);
    }
    for p in ["", "/", "/{project_id}", "/{project_id}/"] {
        scope = scope.service(res(p).route(web::get().to(discovery::version_v3)));
    }
    cfg.service(
        scope
            .default_service(web::to(http::no_route))
            .wrap(from_fn(http::cinder_headers)),
    );
}

fn res(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(http::method_not_allowed))
}

fn routes(s: actix_web::Scope, p: &str) -> actix_web::Scope {
    use web::{delete, get, post, put};
    let r = |path: &str| res(&format!("{p}{path}"));
    s.service(
        r("/volumes")
            .route(get().to(volumes::list_volumes))
            .route(post().to(volumes::create_volume)),
    )
    .service(r("/volumes/detail").route(get().to(volumes::list_volumes_detail)))
    .service(
        r("/volumes/{volume_id}")
            .route(get().to(volumes::show_volume))
            .route(put().to(volumes::update_volume))
            .route(delete().to(volumes::delete_volume)),
    )
    .service(r("/volumes/{volume_id}/action").route(post().to(actions::volume_action)))
    .service(
        r("/volumes/{volume_id}/metadata")
            .route(get().to(metadata::volume_metadata))
            .route(post().to(metadata::update_volume_metadata))
            .route(put().to(metadata::replace_volume_metadata)),
    )
    .service(
        r("/volumes/{volume_id}/metadata/{key}")
            .route(get().to(metadata::show_volume_meta))
            .route(put().to(metadata::put_volume_meta))
            .route(delete().to(metadata::delete_volume_meta)),
    )
    .service(
        r("/snapshots")
            .route(get().to(snapshots::list_snapshots))
            .route(post().to(snapshots::create_snapshot)),
    )
    .service(r("/snapshots/detail").route(get().to(snapshots::list_snapshots_detail)))
    .service(
        r("/snapshots/{snapshot_id}")
            .route(get().to(snapshots::show_snapshot))
            .route(put().to(snapshots::update_snapshot))
            .route(delete().to(snapshots::delete_snapshot)),
    )
    .service(r("/snapshots/{snapshot_id}/action").route(post().to(snapshots::snapshot_action)))
    .service(
        r("/snapshots/{snapshot_id}/metadata")
            .route(get().to(metadata::snapshot_metadata))
            .route(post().to(metadata::update_snapshot_metadata))
            .route(put().to(metadata::replace_snapshot_metadata)),
    )
    .service(
        r("/snapshots/{snapshot_id}/metadata/{key}")
            .route(get().to(metadata::show_snapshot_meta))
            .route(put().to(metadata::put_snapshot_meta))
            .route(delete().to(metadata::delete_snapshot_meta)),
    )
    .service(
        r("/attachments")
            .route(get().to(attach::list_attachments))
            .route(post().to(attach::create_attachment)),
    )
    .service(r("/attachments/detail").route(get().to(attach::list_attachments_detail)))
    .service(
        r("/attachments/{attachment_id}")
            .route(get().to(attach::show_attachment))
            .route(put().to(attach::update_attachment))
            .route(delete().to(attach::delete_attachment)),
    )
    .service(r("/attachments/{attachment_id}/action").route(post().to(attach::attachment_action)))
    .service(r("/limits").route(get().to(info::limits)))
    .service(
        r("/os-quota-sets/{target}")
            .route(get().to(info::quota_set))
            .route(put().to(info::update_quota_set))
            .route(delete().to(info::delete_quota_set)),
    )
    .service(
        r("/os-quota-class-sets/{class}")
            .route(get().to(info::quota_class))
            .route(put().to(info::update_quota_class)),
    )
    .service(r("/os-quota-sets/{target}/defaults").route(get().to(info::quota_defaults)))
    .service(r("/os-availability-zone").route(get().to(info::availability_zones)))
    .service(
        r("/types")
            .route(get().to(types::list_types))
            .route(post().to(types::create_type)),
    )
    .service(r("/types/default").route(get().to(types::default_type)))
    .service(
        r("/types/{type_id}")
            .route(get().to(types::show_type))
            .route(put().to(types::update_type))
            .route(delete().to(types::delete_type)),
    )
    .service(r("/types/{type_id}/action").route(post().to(types::type_action)))
    .service(r("/types/{type_id}/os-volume-type-access").route(get().to(types::list_access)))
    .service(
        r("/types/{type_id}/extra_specs")
            .route(get().to(types::list_specs))
            .route(post().to(types::create_specs)),
    )
    .service(
        r("/types/{type_id}/extra_specs/{key}")
            .route(get().to(types::show_spec))
            .route(put().to(types::update_spec))
            .route(delete().to(types::delete_spec)),
    )
    .service(r("/os-services").route(get().to(info::services)))
    .service(r("/os-services/{action}").route(put().to(services::update_service)))
    .service(r("/os-hosts").route(get().to(hosts::list_hosts)))
    .service(r("/os-hosts/{host}").route(get().to(hosts::show_host)))
    .service(r("/scheduler-stats/get_pools").route(get().to(info::pools)))
    .service(r("/capabilities/{host}").route(get().to(info::capabilities)))
    .service(r("/extensions").route(get().to(info::extensions)))
}
