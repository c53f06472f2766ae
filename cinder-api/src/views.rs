//! Rows to wire types, and the lookups every handler file shares: a row the
//! caller may not see is reported exactly like one that does not exist.

use std::collections::BTreeMap;

use actix_web::HttpRequest;
use db::volumes::{AttachmentRow, SnapshotRow, VolumeRow};
use serde_json::{json, Map, Value};

use crate::dto::*;
use crate::error::{CinderError, Result};
use crate::http::{base_url, timestamp, Caller};
use crate::microversion::features as mv;
use crate::Cinder;

/// Bytes in a GiB: Cinder sizes are whole GiB.
pub const GIB: u64 = 1 << 30;

/// A JSON metadata column as a map.
pub fn meta_map(s: &str) -> BTreeMap<String, String> {
    serde_json::from_str(s).unwrap_or_default()
}

pub fn meta_text(m: &BTreeMap<String, String>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

/// The id of a configured volume type: stable across restarts and hosts,
/// derived from its name (a UUID-shaped FNV-1a 128 hash), so every host
/// seeds the same rows.
pub fn type_id(name: &str) -> String {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in name.bytes() {
        h ^= b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    let mut bytes = h.to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8: custom
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

fn links(req: &HttpRequest, project: &str, coll: &str, id: &str) -> Vec<Link> {
    let base = base_url(req);
    vec![
        Link {
            href: format!("{base}/v3/{project}/{coll}/{id}"),
            rel: "self".into(),
        },
        Link {
            href: format!("{base}/{project}/{coll}/{id}"),
            rel: "bookmark".into(),
        },
    ]
}

pub fn volume_summary(req: &HttpRequest, v: &VolumeRow) -> VolumeSummary {
    VolumeSummary {
        id: v.id.clone(),
        name: v.name.clone(),
        links: links(req, &v.project_id, "volumes", &v.id),
    }
}

/// A volume as Cinder answers a create or an update with it: the view
/// without the attributes its API extensions add to show and detail only
/// (tenant, host and migration attributes, image metadata).
pub fn volume_written(mut view: VolumeView) -> VolumeView {
    view.tenant_id = None;
    for k in [
        "os-vol-host-attr:host",
        "os-vol-mig-status-attr:migstat",
        "os-vol-mig-status-attr:name_id",
        "volume_image_metadata",
    ] {
        view.extra.remove(k);
    }
    view
}

pub fn volume_view(
    req: &HttpRequest,
    cinder: &Cinder,
    caller: &Caller,
    v: &VolumeRow,
    atts: &[AttachmentRow],
) -> VolumeView {
    let attachments = atts
        .iter()
        .filter(|a| a.attach_status == "attached")
        .map(|a| VolumeAttachmentRef {
            id: v.id.clone(),
            attachment_id: a.id.clone(),
            volume_id: v.id.clone(),
            server_id: a.instance_uuid.clone(),
            host_name: if caller.is_admin() {
                a.attached_host.clone()
            } else {
                None
            },
            device: a.mountpoint.clone(),
            attached_at: a.attach_time.map(timestamp),
        })
        .collect();
    let mut extra = Map::new();
    let image_meta = meta_map(&v.image_metadata);
    if !image_meta.is_empty() {
        extra.insert("volume_image_metadata".into(), json!(image_meta));
    }
    if caller.is_admin() {
        extra.insert("migration_status".into(), Value::Null);
        // The backend is the storage policy, which a retype keeps.
        let (_, policy) = cinder.type_of(&v.volume_type);
        extra.insert(
            "os-vol-host-attr:host".into(),
            json!(format!("atoll@{policy}#{policy}")),
        );
        extra.insert("os-vol-mig-status-attr:migstat".into(), Value::Null);
        extra.insert("os-vol-mig-status-attr:name_id".into(), Value::Null);
    }
    let ver = caller.version;
    if ver >= mv::GROUP_VOLUME {
        extra.insert("group_id".into(), Value::Null);
    }
    if caller.is_admin() && ver >= mv::PROVIDER_ID {
        extra.insert("provider_id".into(), json!(v.resource_id));
    }
    if ver >= mv::SHARED_TARGETS {
        // Every NBD export is its own target: never shared.
        extra.insert("shared_targets".into(), json!(false));
        extra.insert("service_uuid".into(), json!(type_id("atoll-volume")));
    }
    if caller.is_admin() && ver >= mv::CLUSTER_NAME {
        extra.insert("cluster_name".into(), Value::Null);
    }
    if ver >= mv::VOLUME_TYPE_ID {
        extra.insert(
            "volume_type_id".into(),
            json!(cinder.type_of(&v.volume_type).0),
        );
    }
    if ver >= mv::USE_QUOTA {
        extra.insert("consumes_quota".into(), json!(true));
    }
    VolumeView {
        id: v.id.clone(),
        status: v.status.clone(),
        size: v.size,
        availability_zone: v.availability_zone.clone(),
        created_at: timestamp(v.created_at),
        updated_at: Some(timestamp(v.updated_at)),
        name: v.name.clone(),
        description: v.description.clone(),
        volume_type: Some(v.volume_type.clone()),
        snapshot_id: v.snapshot_id.clone(),
        source_volid: v.source_volid.clone(),
        metadata: meta_map(&v.metadata),
        links: links(req, &v.project_id, "volumes", &v.id),
        user_id: v.user_id.clone(),
        bootable: v.bootable.to_string(),
        encrypted: false,
        replication_status: None,
        consistencygroup_id: None,
        multiattach: v.multiattach,
        attachments,
        tenant_id: Some(v.project_id.clone()),
        extra,
    }
}

pub fn snapshot_view(caller: &Caller, s: &SnapshotRow) -> SnapshotView {
    let mut extra = Map::new();
    if caller.version >= crate::microversion::ApiVersion::new(3, 14) {
        extra.insert("group_snapshot_id".into(), Value::Null);
    }
    if caller.version >= mv::SNAPSHOT_USER_ID {
        extra.insert("user_id".into(), json!(s.user_id));
    }
    if caller.version >= mv::USE_QUOTA {
        extra.insert("consumes_quota".into(), json!(true));
    }
    SnapshotView {
        id: s.id.clone(),
        created_at: timestamp(s.created_at),
        updated_at: Some(timestamp(s.updated_at)),
        name: s.name.clone(),
        description: s.description.clone(),
        volume_id: s.volume_id.clone(),
        status: s.status.clone(),
        size: s.size,
        metadata: meta_map(&s.metadata),
        progress: Some(s.progress.clone().unwrap_or_else(|| {
            if s.status == "available" {
                "100%".into()
            } else {
                "0%".into()
            }
        })),
        project_id: Some(s.project_id.clone()),
        extra,
    }
}

/// A snapshot as Cinder answers its create, update or plain listing:
/// without the attributes its extended-snapshot-attributes extension adds
/// to show and detail.
pub fn snapshot_written(mut view: SnapshotView) -> SnapshotView {
    view.progress = None;
    view.project_id = None;
    view
}

pub fn attachment_view(a: &AttachmentRow) -> AttachmentView {
    AttachmentView {
        id: a.id.clone(),
        status: a.attach_status.clone(),
        instance: a.instance_uuid.clone(),
        volume_id: a.volume_id.clone(),
        attached_at: a.attach_time.map(timestamp).unwrap_or_default(),
        detached_at: String::new(),
        attach_mode: a.attach_mode.clone(),
        connection_info: a
            .connection_info
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| json!({})),
    }
}

pub fn attachment_summary(a: &AttachmentRow) -> Value {
    json!({"id": a.id, "status": a.attach_status, "instance": a.instance_uuid,
        "volume_id": a.volume_id})
}

/// The volume `id` if the caller may see it, else Cinder's 404.
pub fn visible_volume(c: &mut db::Conn, caller: &Caller, id: &str) -> Result<VolumeRow> {
    match db::volumes::get_volume(c, id)? {
        Some(v) if caller.sees(&v.project_id) => Ok(v),
        _ => Err(CinderError::volume_not_found(id)),
    }
}

pub fn visible_snapshot(c: &mut db::Conn, caller: &Caller, id: &str) -> Result<SnapshotRow> {
    match db::volumes::get_snapshot(c, id)? {
        Some(s) if caller.sees(&s.project_id) => Ok(s),
        _ => Err(CinderError::snapshot_not_found(id)),
    }
}

pub fn visible_attachment(c: &mut db::Conn, caller: &Caller, id: &str) -> Result<AttachmentRow> {
    match db::volumes::get_attachment(c, id)? {
        Some(a) if caller.sees(&a.project_id) => Ok(a),
        _ => Err(CinderError::attachment_not_found(id)),
    }
}

/// A volume with its attachments, read in one go.
pub async fn load_volume(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
) -> Result<(VolumeRow, Vec<AttachmentRow>)> {
    let caller = caller.clone();
    let id = id.to_string();
    run(cinder, move |c| {
        let v = visible_volume(c, &caller, &id)?;
        let a = db::volumes::attachments_of_volume(c, &v.id)?;
        Ok((v, a))
    })
    .await
}

/// Runs read queries on the blocking pool with this crate's error type.
pub async fn run<T, F>(cinder: &Cinder, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut db::Conn) -> Result<T> + Send + 'static,
{
    // Carry our error through db's closure type, then take it back out.
    let out: std::sync::Arc<std::sync::Mutex<Option<CinderError>>> = Default::default();
    let o2 = out.clone();
    let r = cinder
        .arch
        .db()
        .run(move |c| match f(c) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                *o2.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Ok(None)
            }
        })
        .await?;
    match r {
        Some(v) => Ok(v),
        None => Err(out
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| CinderError::Db(db::Error::Task("lost error".into())))),
    }
}

/// Runs a write transaction with this crate's error type.
pub async fn tx<T, F>(cinder: &Cinder, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut db::Conn) -> Result<T> + Send + 'static,
{
    cinder.arch.db().transaction(f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ids_are_stable_uuids() {
        let a = type_id("__DEFAULT__");
        assert_eq!(a, type_id("__DEFAULT__"));
        assert_ne!(a, type_id("gold"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
