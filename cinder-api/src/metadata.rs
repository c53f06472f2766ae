//! User metadata of volumes and snapshots: show all, merge (`POST`),
//! replace (`PUT`), and per-key show, set and delete.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};

use crate::dto::{MetaItemBody, MetadataBody};
use crate::error::{CinderError, Result};
use crate::http::{parse_json, Caller};
use crate::views::{meta_map, meta_text, run, tx, visible_snapshot, visible_volume};
use crate::volumes::parse_metadata;
use crate::Cinder;

/// Which row's metadata a route works on.
#[derive(Clone)]
enum Target {
    Volume(String),
    Snapshot(String),
}

#[derive(Debug, serde::Deserialize)]
pub struct VolumeKeyPath {
    pub volume_id: String,
    pub key: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct SnapshotKeyPath {
    pub snapshot_id: String,
    pub key: String,
}

fn read(c: &mut db::Conn, caller: &Caller, t: &Target) -> Result<BTreeMap<String, String>> {
    Ok(match t {
        Target::Volume(id) => meta_map(&visible_volume(c, caller, id)?.metadata),
        Target::Snapshot(id) => meta_map(&visible_snapshot(c, caller, id)?.metadata),
    })
}

/// Applies `f` to the metadata and stores it, in one transaction.
async fn modify<F>(
    cinder: &Cinder,
    caller: &Caller,
    t: Target,
    f: F,
) -> Result<BTreeMap<String, String>>
where
    F: FnOnce(&mut BTreeMap<String, String>) -> Result<()> + Send + 'static,
{
    let rule = match t {
        Target::Volume(_) => "volume:update_volume_metadata",
        Target::Snapshot(_) => "volume:update_snapshot_metadata",
    };
    caller.require_write(rule)?;
    let caller = caller.clone();
    tx(cinder, move |c| {
        let now = db::now_micros();
        match t {
            Target::Volume(id) => {
                let mut v = visible_volume(c, &caller, &id)?;
                let mut m = meta_map(&v.metadata);
                f(&mut m)?;
                v.metadata = meta_text(&m);
                v.updated_at = now;
                db::volumes::update_volume(c, &v)?;
                Ok(m)
            }
            Target::Snapshot(id) => {
                let mut s = visible_snapshot(c, &caller, &id)?;
                let mut m = meta_map(&s.metadata);
                f(&mut m)?;
                s.metadata = meta_text(&m);
                s.updated_at = now;
                db::volumes::update_snapshot(c, &s)?;
                Ok(m)
            }
        }
    })
    .await
}

async fn show_all(cinder: &Cinder, caller: &Caller, t: Target) -> Result<HttpResponse> {
    let caller = caller.clone();
    let m = run(cinder, move |c| read(c, &caller, &t)).await?;
    Ok(HttpResponse::Ok().json(MetadataBody { metadata: m }))
}

fn body_metadata(body: &[u8]) -> Result<BTreeMap<String, String>> {
    let v: serde_json::Value = parse_json(body)?;
    let m = v.get("metadata").ok_or_else(|| {
        CinderError::BadRequest("Malformed request body: 'metadata' is required".into())
    })?;
    parse_metadata(Some(m))
}

async fn merge(
    cinder: &Cinder,
    caller: &Caller,
    t: Target,
    body: &[u8],
    replace: bool,
) -> Result<HttpResponse> {
    let new = body_metadata(body)?;
    let m = modify(cinder, caller, t, move |m| {
        if replace {
            m.clear();
        }
        m.extend(new);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(MetadataBody { metadata: m }))
}

async fn show_key(
    cinder: &Cinder,
    caller: &Caller,
    t: Target,
    key: String,
) -> Result<HttpResponse> {
    let caller = caller.clone();
    let m = run(cinder, move |c| read(c, &caller, &t)).await?;
    let v = m
        .get(&key)
        .ok_or_else(|| CinderError::NotFound(format!("Metadata key {key} could not be found.")))?;
    Ok(HttpResponse::Ok().json(MetaItemBody {
        meta: [(key, v.clone())].into(),
    }))
}

async fn put_key(
    cinder: &Cinder,
    caller: &Caller,
    t: Target,
    key: String,
    body: &[u8],
) -> Result<HttpResponse> {
    let v: serde_json::Value = parse_json(body)?;
    let meta = parse_metadata(v.get("meta"))?;
    if meta.len() != 1 {
        return Err(CinderError::BadRequest(
            "Request body contains too many items".into(),
        ));
    }
    if !meta.contains_key(&key) {
        return Err(CinderError::BadRequest(
            "Request body and URI mismatch".into(),
        ));
    }
    let m2 = meta.clone();
    modify(cinder, caller, t, move |m| {
        m.extend(m2);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(MetaItemBody { meta }))
}

async fn delete_key(
    cinder: &Cinder,
    caller: &Caller,
    t: Target,
    key: String,
) -> Result<HttpResponse> {
    modify(cinder, caller, t, move |m| {
        m.remove(&key)
            .map(|_| ())
            .ok_or_else(|| CinderError::NotFound(format!("Metadata key {key} could not be found.")))
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// Shows a volume's metadata.
#[utoipa::path(get, path = "/v3/{project_id}/volumes/{volume_id}/metadata", tag = "metadata",
    responses((status = 200, body = MetadataBody)))]
pub async fn volume_metadata(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<crate::volumes::VolumePath>,
) -> Result<HttpResponse> {
    show_all(&cinder, &caller, Target::Volume(path.volume_id.clone())).await
}

/// Merges keys into a volume's metadata.
#[utoipa::path(post, path = "/v3/{project_id}/volumes/{volume_id}/metadata", tag = "metadata",
    request_body = MetadataBody, responses((status = 200, body = MetadataBody)))]
pub async fn update_volume_metadata(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<crate::volumes::VolumePath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    merge(
        &cinder,
        &caller,
        Target::Volume(path.volume_id.clone()),
        &body,
        false,
    )
    .await
}

/// Replaces a volume's metadata.
#[utoipa::path(put, path = "/v3/{project_id}/volumes/{volume_id}/metadata", tag = "metadata",
    request_body = MetadataBody, responses((status = 200, body = MetadataBody)))]
pub async fn replace_volume_metadata(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<crate::volumes::VolumePath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    merge(
        &cinder,
        &caller,
        Target::Volume(path.volume_id.clone()),
        &body,
        true,
    )
    .await
}

/// Shows one key of a volume's metadata.
#[utoipa::path(get, path = "/v3/{project_id}/volumes/{volume_id}/metadata/{key}", tag = "metadata",
    responses((status = 200, body = MetaItemBody)))]
pub async fn show_volume_meta(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<VolumeKeyPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    show_key(&cinder, &caller, Target::Volume(p.volume_id), p.key).await
}

/// Sets one key of a volume's metadata.
#[utoipa::path(put, path = "/v3/{project_id}/volumes/{volume_id}/metadata/{key}", tag = "metadata",
    request_body = MetaItemBody, responses((status = 200, body = MetaItemBody)))]
pub async fn put_volume_meta(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<VolumeKeyPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    put_key(&cinder, &caller, Target::Volume(p.volume_id), p.key, &body).await
}

/// Deletes one key of a volume's metadata.
#[utoipa::path(delete, path = "/v3/{project_id}/volumes/{volume_id}/metadata/{key}", tag = "metadata",
    responses((status = 200, description = "Deleted")))]
pub async fn delete_volume_meta(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<VolumeKeyPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    delete_key(&cinder, &caller, Target::Volume(p.volume_id), p.key).await
}

/// Shows a snapshot's metadata.
#[utoipa::path(get, path = "/v3/{project_id}/snapshots/{snapshot_id}/metadata", tag = "metadata",
    responses((status = 200, body = MetadataBody)))]
pub async fn snapshot_metadata(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<crate::snapshots::SnapshotPath>,
) -> Result<HttpResponse> {
    show_all(&cinder, &caller, Target::Snapshot(path.snapshot_id.clone())).await
}

/// Merges keys into a snapshot's metadata.
#[utoipa::path(post, path = "/v3/{project_id}/snapshots/{snapshot_id}/metadata", tag = "metadata",
    request_body = MetadataBody, responses((status = 200, body = MetadataBody)))]
pub async fn update_snapshot_metadata(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<crate::snapshots::SnapshotPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    merge(
        &cinder,
        &caller,
        Target::Snapshot(path.snapshot_id.clone()),
        &body,
        false,
    )
    .await
}

/// Replaces a snapshot's metadata.
#[utoipa::path(put, path = "/v3/{project_id}/snapshots/{snapshot_id}/metadata", tag = "metadata",
    request_body = MetadataBody, responses((status = 200, body = MetadataBody)))]
pub async fn replace_snapshot_metadata(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<crate::snapshots::SnapshotPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    merge(
        &cinder,
        &caller,
        Target::Snapshot(path.snapshot_id.clone()),
        &body,
        true,
    )
    .await
}

/// Shows one key of a snapshot's metadata.
#[utoipa::path(get, path = "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}", tag = "metadata",
    responses((status = 200, body = MetaItemBody)))]
pub async fn show_snapshot_meta(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SnapshotKeyPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    show_key(&cinder, &caller, Target::Snapshot(p.snapshot_id), p.key).await
}

/// Sets one key of a snapshot's metadata.
#[utoipa::path(put, path = "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}", tag = "metadata",
    request_body = MetaItemBody, responses((status = 200, body = MetaItemBody)))]
pub async fn put_snapshot_meta(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SnapshotKeyPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    put_key(
        &cinder,
        &caller,
        Target::Snapshot(p.snapshot_id),
        p.key,
        &body,
    )
    .await
}

/// Deletes one key of a snapshot's metadata.
#[utoipa::path(delete, path = "/v3/{project_id}/snapshots/{snapshot_id}/metadata/{key}", tag = "metadata",
    responses((status = 200, description = "Deleted")))]
pub async fn delete_snapshot_meta(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SnapshotKeyPath>,
) -> Result<HttpResponse> {
    let p = path.into_inner();
    delete_key(&cinder, &caller, Target::Snapshot(p.snapshot_id), p.key).await
}
