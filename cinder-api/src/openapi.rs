//! The OpenAPI description of the routes [`crate::configure`] mounts.

use utoipa::OpenApi;

use crate::{actions, attach, discovery, dto, info, metadata, snapshots, volumes};

/// OpenAPI document of the volume API; every handler is listed here.
#[derive(OpenApi)]
#[openapi(
    info(title = "atoll volume (Cinder v3)", version = "3.71"),
    paths(
        discovery::versions,
        discovery::version_v3,
        volumes::list_volumes,
        volumes::list_volumes_detail,
        volumes::create_volume,
        volumes::show_volume,
        volumes::update_volume,
        volumes::delete_volume,
        actions::volume_action,
        metadata::volume_metadata,
        metadata::update_volume_metadata,
        metadata::replace_volume_metadata,
        metadata::show_volume_meta,
        metadata::put_volume_meta,
        metadata::delete_volume_meta,
        snapshots::list_snapshots,
        snapshots::list_snapshots_detail,
        snapshots::create_snapshot,
        snapshots::show_snapshot,
        snapshots::update_snapshot,
        snapshots::delete_snapshot,
        snapshots::snapshot_action,
        metadata::snapshot_metadata,
        metadata::update_snapshot_metadata,
        metadata::replace_snapshot_metadata,
        metadata::show_snapshot_meta,
        metadata::put_snapshot_meta,
        metadata::delete_snapshot_meta,
        attach::list_attachments,
        attach::list_attachments_detail,
        attach::create_attachment,
        attach::show_attachment,
        attach::update_attachment,
        attach::delete_attachment,
        attach::attachment_action,
        info::limits,
        info::quota_set,
        info::quota_defaults,
        info::availability_zones,
        info::list_types,
        info::default_type,
        info::show_type,
        info::type_extra_specs,
        info::services,
        info::extensions,
    ),
    components(schemas(dto::ConnectionInfo, dto::ConnectionData, dto::VolumeView, dto::SnapshotView)),
    tags(
        (name = "discovery", description = "Version discovery"),
        (name = "volumes", description = "Volumes"),
        (name = "volume actions", description = "Volume actions"),
        (name = "metadata", description = "Volume and snapshot metadata"),
        (name = "snapshots", description = "Snapshots"),
        (name = "attachments", description = "Attachments (3.27+)"),
        (name = "types", description = "Volume types"),
        (name = "info", description = "Limits, quotas, zones, services"),
    )
)]
pub struct ApiDoc;
