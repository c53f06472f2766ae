//! Wire types of the volume API (serde + utoipa), shaped as Cinder's
//! responses. Fields that depend on the microversion or on the caller's
//! role go into a flattened `extra` map, so one type covers every version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// A hypermedia link.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Link {
    pub href: String,
    pub rel: String,
}

/// One API version as discovery lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Version {
    pub id: String,
    pub status: String,
    pub version: String,
    pub min_version: String,
    pub updated: String,
    pub links: Vec<Value>,
    #[serde(rename = "media-types")]
    pub media_types: Vec<Value>,
}

/// `GET /`, `GET /v3/`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VersionsResponse {
    pub versions: Vec<Version>,
}

/// An attachment as the volume view lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeAttachmentRef {
    pub id: String,
    pub attachment_id: String,
    pub volume_id: String,
    pub server_id: Option<String>,
    pub host_name: Option<String>,
    pub device: Option<String>,
    pub attached_at: Option<String>,
}

/// A volume, detailed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeView {
    pub id: String,
    pub status: String,
    pub size: i64,
    pub availability_zone: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_type: Option<String>,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub links: Vec<Link>,
    pub user_id: String,
    /// `"true"` or `"false"` (a string, as Cinder's).
    pub bootable: String,
    pub encrypted: bool,
    pub replication_status: Option<String>,
    pub consistencygroup_id: Option<String>,
    pub multiattach: bool,
    pub attachments: Vec<VolumeAttachmentRef>,
    /// Shown by GET (Cinder's tenant-attribute extension extends show and
    /// detail only), not in the answers to create and update.
    #[serde(
        rename = "os-vol-tenant-attr:tenant_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant_id: Option<String>,
    /// Version- and role-dependent fields (`volume_type_id` from 3.63,
    /// `consumes_quota` from 3.65, `volume_image_metadata`, admin fields).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

/// A volume in a summary listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeSummary {
    pub id: String,
    pub name: Option<String>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeResponse {
    pub volume: VolumeView,
}

/// `GET /volumes` and `/volumes/detail`; `count` from 3.45 with `with_count`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumesResponse {
    #[schema(value_type = Vec<Object>)]
    pub volumes: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_links: Option<Vec<Link>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

/// A snapshot, detailed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotView {
    pub id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub volume_id: String,
    pub status: String,
    pub size: i64,
    pub metadata: BTreeMap<String, String>,
    /// Shown by GET (Cinder's extended-snapshot-attributes extension),
    /// not in the answers to create and update.
    #[serde(
        rename = "os-extended-snapshot-attributes:progress",
        skip_serializing_if = "Option::is_none"
    )]
    pub progress: Option<String>,
    #[serde(
        rename = "os-extended-snapshot-attributes:project_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub project_id: Option<String>,
    /// `group_snapshot_id` (3.14), `user_id` (3.41), `consumes_quota` (3.65).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotResponse {
    pub snapshot: SnapshotView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SnapshotsResponse {
    pub snapshots: Vec<SnapshotView>,
    /// The next page, when `limit` cut the list short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshots_links: Option<Vec<Link>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

/// Where a host reaches an attached volume: an NBD export.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionInfo {
    /// Always `nbd`.
    pub driver_volume_type: String,
    pub data: ConnectionData,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionData {
    pub host: String,
    pub port: u16,
    /// Secret export name (32 random hex characters).
    pub export_name: String,
    /// `nbd://host:port/<export_name>`.
    pub uri: String,
    pub volume_id: String,
    /// `rw` or `ro`.
    pub access_mode: String,
}

/// An attachment (3.27+), detailed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: String,
    pub status: String,
    pub instance: Option<String>,
    pub volume_id: String,
    pub attached_at: String,
    pub detached_at: String,
    pub attach_mode: String,
    /// `{}` until a connector was given, then a [`ConnectionInfo`].
    #[schema(value_type = Object)]
    pub connection_info: Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentResponse {
    pub attachment: AttachmentView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentsResponse {
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<Value>,
}

/// A volume type and the storage policy behind it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeTypeView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    /// In show, list and create answers, not in update's (as Cinder).
    #[serde(
        rename = "os-volume-type-access:is_public",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_is_public: Option<bool>,
    /// In show and list answers only (always null: no QoS specs).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub qos_specs_id: Option<Option<String>>,
    pub extra_specs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeTypeResponse {
    pub volume_type: VolumeTypeView,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VolumeTypesResponse {
    pub volume_types: Vec<VolumeTypeView>,
}

/// `POST /volumes` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VolumeCreateRequest {
    #[schema(value_type = Object)]
    pub volume: Map<String, Value>,
}

/// `PUT /volumes/{id}` and `PUT /snapshots/{id}` bodies (one of the keys).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateRequest {
    #[schema(value_type = Object)]
    pub volume: Option<Map<String, Value>>,
    #[schema(value_type = Object)]
    pub snapshot: Option<Map<String, Value>>,
}

/// `POST /snapshots` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SnapshotCreateRequest {
    #[schema(value_type = Object)]
    pub snapshot: Map<String, Value>,
}

/// `POST /attachments` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AttachmentCreateRequest {
    pub attachment: AttachmentCreate,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AttachmentCreate {
    /// The volume to attach (Cinder's name for it).
    pub volume_uuid: String,
    pub instance_uuid: Option<String>,
    #[schema(value_type = Object)]
    pub connector: Option<Value>,
    /// `rw` or `ro` (3.54).
    pub mode: Option<String>,
}

/// `PUT /attachments/{id}` body.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AttachmentUpdateRequest {
    pub attachment: AttachmentUpdate,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AttachmentUpdate {
    #[schema(value_type = Object)]
    pub connector: Value,
}

/// A metadata map (`{"metadata": {...}}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MetadataBody {
    pub metadata: BTreeMap<String, String>,
}

/// One metadata item (`{"meta": {"k": "v"}}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MetaItemBody {
    pub meta: BTreeMap<String, String>,
}

/// A volume or snapshot action body: one key naming the action
/// (`os-extend`, `os-reserve`, `revert`, ...) and its arguments.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ActionRequest(pub Map<String, Value>);

/// `POST /types` body (documentation; validated against Cinder's schema).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VolumeTypeCreateRequest {
    pub volume_type: VolumeTypeCreate,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VolumeTypeCreate {
    pub name: String,
    pub description: Option<String>,
    /// `atoll:storage_policy` names the storage policy.
    pub extra_specs: Option<BTreeMap<String, String>>,
    #[serde(rename = "os-volume-type-access:is_public")]
    pub is_public: Option<bool>,
}

/// `PUT /types/{id}` body: at least one field.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VolumeTypeUpdateRequest {
    pub volume_type: VolumeTypeUpdate,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct VolumeTypeUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
}

/// A type's extra specs (`{"extra_specs": {...}}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExtraSpecsBody {
    pub extra_specs: BTreeMap<String, String>,
}

/// One extra spec (`{"key": "value"}`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ExtraSpecItem(pub BTreeMap<String, String>);
