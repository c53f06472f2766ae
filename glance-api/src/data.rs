//! Image data: upload (`PUT .../file`), download (`GET .../file`, with
//! Range), the interoperable import (`PUT .../stage` then `POST .../import`
//! with `glance-direct`, and `copy-image` to another store).
//!
//! Uploads stream into the resource layer with MD5 (`checksum`) and SHA-512
//! (`os_hash_value`) computed once on the way in; the image row turns
//! `active` in the same transaction that makes the resource visible. The
//! row is `saving` (or `uploading` while staging) during the transfer, so a
//! second upload is refused; a failed one puts it back to `queued`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use db::images::{self, ImageRow};
use futures::StreamExt;

use crate::dto::ImportRequest;
use crate::error::{GlanceError, Result};
use crate::http::{self, no_image, Caller};
use crate::images::{load_owned, load_visible};
use crate::{locations, Glance};

/// The store (storage policy) a request asks for, or the default.
fn chosen_store(g: &Glance, req: &HttpRequest) -> Result<String> {
    let q = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default();
    let asked = http::header(req, "x-image-meta-store")
        .map(str::to_string)
        .or_else(|| q.into_iter().find(|(k, _)| k == "store").map(|(_, v)| v));
    match asked {
        None => Ok(g.default_store()),
        Some(s) if g.cfg.stores.contains(&s) => Ok(s),
        Some(s) => Err(GlanceError::BadRequest(format!(
            "Store for identifier {s} not found"
        ))),
    }
}

/// Moves the image from `from` to `to` (the transfer's status), or 409.
async fn claim(g: &Glance, id: &str, from: &str, to: &'static str) -> Result<()> {
    let (id, from) = (id.to_string(), from.to_string());
    g.db()
        .transaction(move |c| {
            let Some(mut row) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            if row.status != from {
                return Err(GlanceError::Conflict(format!(
                    "Image status transition from {} to {to} is not allowed",
                    row.status
                )));
            }
            if to == "saving" {
                require_formats(&row)?;
            }
            row.status = to.into();
            row.updated_at = db::now_micros();
            images::update(c, &row)?;
            Ok(())
        })
        .await
}

/// Glance refuses to save data for an image whose disk and container
/// formats are not both set (its domain model raises, the API answers 400).
fn require_formats(row: &ImageRow) -> Result<()> {
    let missing: Vec<&str> = [
        ("disk_format", &row.disk_format),
        ("container_format", &row.container_format),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_none())
    .map(|(k, _)| k)
    .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(GlanceError::BadRequest(format!(
            "Property {one} must be set prior to saving data."
        ))),
        _ => Err(GlanceError::BadRequest(format!(
            "Properties {} must be set prior to saving data.",
            missing.join(", ")
        ))),
    }
}

/// Puts a failed transfer's image back to `queued`.
async fn unclaim(g: &Glance, id: &str, from: &'static str) {
    let id = id.to_string();
    let r = g
        .db()
        .transaction(move |c| {
            if let Some(mut row) = images::get(c, &id)? {
                if row.status == from {
                    row.status = "queued".into();
                    images::update(c, &row)?;
                }
            }
            Ok::<_, db::Error>(())
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "could not put a failed upload's image back to queued");
    }
}

/// Glance's deserializer check of an upload's or stage's media type; it
/// runs before the image is even looked up.
fn require_octet_stream(req: &HttpRequest) -> Result<()> {
    let ctype = http::content_type(req);
    if ctype.as_deref() == Some("application/octet-stream") {
        return Ok(());
    }
    Err(GlanceError::UnsupportedMediaType {
        content_type: http::header(req, "content-type")
            .unwrap_or_default()
            .to_string(),
        // Glance formats a missing type as Python's None.
        detail: format!(
            "Invalid content type {}",
            ctype.as_deref().unwrap_or("None")
        ),
        accept_patch: None,
    })
}

/// Streams the body into a new staged resource under `store`.
async fn receive(
    g: &Glance,
    req: &HttpRequest,
    mut body: web::Payload,
    store: &str,
) -> Result<archipelago::StagedResource> {
    let cap = g.cfg.image_size_cap;
    if let Some(len) = http::header(req, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        if len > cap {
            return Err(too_large(cap));
        }
    }
    let mut w = g.arch.writer().with_sha512().with_policy(store);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| GlanceError::ClientDisconnect)?;
        if w.len() + chunk.len() as u64 > cap {
            return Err(too_large(cap));
        }
        w.write(chunk).await?;
    }
    Ok(w.finish().await?)
}

fn too_large(cap: u64) -> GlanceError {
    GlanceError::TooLarge(format!(
        "The incoming image is too large: image size exceeds the limit of {cap} bytes"
    ))
}

/// Records staged data on the row and runs `finish` on it, in the
/// transaction that makes the resource visible.
async fn commit_data(
    g: &Glance,
    id: &str,
    staged: archipelago::StagedResource,
    expect: &'static str,
    finish: fn(&mut ImageRow, &str),
) -> Result<()> {
    let id = id.to_string();
    let (size, md5, sha512, policy) = (
        staged.size as i64,
        staged.md5.clone(),
        staged.sha512.clone(),
        staged.policy.clone(),
    );
    g.arch
        .commit(staged, move |c, rid| {
            let Some(mut row) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            if row.status != expect {
                // Deleted or changed while the data streamed in.
                return Err(GlanceError::Conflict(format!(
                    "Image {id} changed status to {} during upload",
                    row.status
                )));
            }
            row.size = Some(size);
            row.virtual_size = locations::virtual_size(&row, size);
            row.checksum = Some(md5);
            row.os_hash_algo = Some("sha512".into());
            row.os_hash_value = sha512;
            row.store = Some(policy);
            row.updated_at = db::now_micros();
            finish(&mut row, rid);
            images::update(c, &row)?;
            Ok(())
        })
        .await
}

/// `PUT /v2/images/{image_id}/file`
#[utoipa::path(put, path = "/v2/images/{image_id}/file", tag = "image data",
    params(("image_id" = String, Path), ("store" = Option<String>, Query)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 409, description = "image not queued"),
              (status = 413), (status = 415)))]
pub async fn upload(
    g: web::Data<Glance>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse> {
    require_octet_stream(&req)?;
    let row = load_owned(&g, &caller, &path, "upload_image").await?;
    let store = chosen_store(&g, &req)?;
    claim(&g, &row.id, "queued", "saving").await?;
    let out = async {
        let staged = receive(&g, &req, body, &store).await?;
        commit_data(&g, &row.id, staged, "saving", |r, rid| {
            r.resource_id = Some(rid.to_string());
            r.status = "active".into();
        })
        .await
    }
    .await;
    if out.is_err() {
        unclaim(&g, &row.id, "saving").await;
    }
    out?;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /v2/images/{image_id}/stage`
#[utoipa::path(put, path = "/v2/images/{image_id}/stage", tag = "image data",
    params(("image_id" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 409), (status = 413), (status = 415)))]
pub async fn stage(
    g: web::Data<Glance>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
) -> Result<HttpResponse> {
    require_octet_stream(&req)?;
    let row = load_owned(&g, &caller, &path, "upload_image").await?;
    claim(&g, &row.id, "queued", "uploading").await?;
    let store = g.default_store();
    let out = async {
        let staged = receive(&g, &req, body, &store).await?;
        commit_data(&g, &row.id, staged, "uploading", |r, rid| {
            r.staging_resource_id = Some(rid.to_string());
        })
        .await
    }
    .await;
    if out.is_err() {
        unclaim(&g, &row.id, "uploading").await;
    }
    out?;
    Ok(HttpResponse::NoContent().finish())
}

/// Copies a resource's bytes into a new resource under `policy`.
async fn rewrite(g: &Glance, rid: &str, policy: &str) -> Result<archipelago::StagedResource> {
    let reader = g.arch.open(rid, 0, u64::MAX).await?;
    let mut s = Box::pin(reader.into_stream());
    let mut w = g.arch.writer().with_policy(policy);
    while let Some(part) = s.next().await {
        w.write(part?).await?;
    }
    Ok(w.finish().await?)
}

/// `POST /v2/images/{image_id}/import`: `glance-direct` makes the staged
/// data the image's (no copy); `copy-image` adds a copy in other stores.
#[utoipa::path(post, path = "/v2/images/{image_id}/import", tag = "image data",
    params(("image_id" = String, Path)), request_body = ImportRequest,
    responses((status = 202), (status = 400), (status = 409)))]
pub async fn import(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let v = http::json_body(&body)?;
    if v.get("method").is_none() {
        return Err(GlanceError::BadRequest(
            "Import request requires a 'method' field.".into(),
        ));
    }
    let req: ImportRequest = serde_json::from_value(v)
        .map_err(|_| GlanceError::BadRequest("Malformed JSON in request body.".into()))?;
    let Some(method) = req.method.name.clone() else {
        return Err(GlanceError::BadRequest(
            "Import request requires a 'name' field.".into(),
        ));
    };
    let mut stores = req.stores.clone().unwrap_or_default();
    if req.all_stores == Some(true) {
        stores = g.cfg.stores.clone();
    }
    if let Some(s) = stores.iter().find(|s| !g.cfg.stores.contains(s)) {
        return Err(GlanceError::Conflict(format!("Store {s} is not available")));
    }
    match method.as_str() {
        "glance-direct" => {
            let row = load_owned(&g, &caller, &path, "import_image").await?;
            let target = stores.first().cloned();
            import_staged(&g, &row, target).await?;
        }
        "copy-image" => {
            // Copying to another store is an operator action in Glance.
            let row = load_visible(&g, &caller, &path).await?;
            if !caller.is_admin() {
                return Err(http::forbidden_action("copy_image"));
            }
            if row.status != "active" {
                return Err(GlanceError::Conflict(
                    "Only images with status active can be targeted for copying".into(),
                ));
            }
            if stores.is_empty() {
                return Err(GlanceError::BadRequest(
                    "copy-image needs 'stores' or 'all_stores'".into(),
                ));
            }
            copy_image(&g, &row, &stores).await?;
        }
        other => {
            return Err(GlanceError::BadRequest(format!(
                "Unknown import method name '{other}'."
            )))
        }
    }
    Ok(HttpResponse::Accepted().finish())
}

async fn import_staged(g: &Glance, row: &ImageRow, target: Option<String>) -> Result<()> {
    if row.status == "active" {
        return Err(GlanceError::Conflict(
            "Image with status active cannot be target for import".into(),
        ));
    }
    let Some(staged_rid) = row.staging_resource_id.clone() else {
        return Err(GlanceError::Conflict(
            "Image needs to be staged before 'glance-direct' method can be used".into(),
        ));
    };
    let current = row.store.clone().unwrap_or_else(|| g.default_store());
    if let Some(t) = target.filter(|t| *t != current) {
        // The staged bytes live under the default store: write them once
        // under the asked one and drop the staged copy.
        let staged = rewrite(g, &staged_rid, &t).await?;
        commit_data(g, &row.id, staged, "uploading", |r, rid| {
            r.resource_id = Some(rid.to_string());
            r.status = "active".into();
        })
        .await?;
        drop_staging(g, &row.id, &staged_rid).await;
        return Ok(());
    }
    let id = row.id.clone();
    g.db()
        .transaction(move |c| {
            let Some(mut cur) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            if cur.staging_resource_id.as_deref() != Some(staged_rid.as_str()) {
                return Err(GlanceError::Conflict("Image changed during import".into()));
            }
            // The staged resource's reference moves to the image: no copy.
            cur.resource_id = cur.staging_resource_id.take();
            cur.status = "active".into();
            cur.updated_at = db::now_micros();
            images::update(c, &cur)?;
            Ok(())
        })
        .await
}

async fn drop_staging(g: &Glance, id: &str, rid: &str) {
    let (id, rid) = (id.to_string(), rid.to_string());
    let r = g
        .db()
        .transaction(move |c| {
            if let Some(mut row) = images::get(c, &id)? {
                if row.staging_resource_id.as_deref() == Some(rid.as_str()) {
                    row.staging_resource_id = None;
                    images::update(c, &row)?;
                    archipelago::meta::release(c, &rid)?;
                }
            }
            Ok::<_, GlanceError>(())
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "could not drop a staged upload");
    }
}

async fn copy_image(g: &Glance, row: &ImageRow, stores: &[String]) -> Result<()> {
    let Some(rid) = row.resource_id.clone() else {
        return Err(GlanceError::Conflict("Image has no data".into()));
    };
    let have: Vec<String> = row
        .store
        .clone()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    for s in stores {
        if have.contains(s) {
            return Err(GlanceError::Conflict(format!(
                "Image is already present at store '{s}'"
            )));
        }
    }
    for s in stores {
        let staged = rewrite(g, &rid, s).await?;
        let (id, store) = (row.id.clone(), s.clone());
        g.arch
            .commit(staged, move |c, new_rid| {
                let Some(mut cur) = images::get(c, &id)? else {
                    return Err(no_image(&id));
                };
                let mut locs: Vec<serde_json::Value> =
                    serde_json::from_str(&cur.locations).unwrap_or_default();
                locs.push(serde_json::json!({
                    "url": format!("atoll://{store}/{new_rid}"),
                    "metadata": {"store": store},
                }));
                cur.locations = serde_json::Value::Array(locs).to_string();
                let mut list = cur.store.clone().unwrap_or_default();
                if !list.is_empty() {
                    list.push(',');
                }
                list.push_str(&store);
                cur.store = Some(list);
                cur.updated_at = db::now_micros();
                images::update(c, &cur)?;
                Ok::<_, GlanceError>(())
            })
            .await?;
    }
    Ok(())
}

/// One `bytes=` range against `size`: `Ok(None)` for no (or an ignored)
/// Range header, 416 for one outside the data.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let r = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => (start, end.min(size.saturating_sub(1))),
        (Ok(start), Err(_)) if b.is_empty() => (start, size.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() && n > 0 => {
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        _ => return Ok(None),
    };
    if r.0 >= size {
        return Err(GlanceError::RangeNotSatisfiable(size));
    }
    Ok(Some(r))
}

/// `GET /v2/images/{image_id}/file`
#[utoipa::path(get, path = "/v2/images/{image_id}/file", tag = "image data",
    params(("image_id" = String, Path), ("Range" = Option<String>, Header)),
    responses((status = 200, content_type = "application/octet-stream"),
              (status = 206), (status = 204, description = "image has no data"),
              (status = 403, description = "deactivated"), (status = 404), (status = 416)))]
pub async fn download(
    g: web::Data<Glance>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let row = load_visible(&g, &caller, &path).await?;
    if row.status == "deactivated" && !caller.is_admin() {
        return Err(GlanceError::Forbidden(
            "The requested image has been deactivated. Image data download is forbidden.".into(),
        ));
    }
    let Some(rid) = row.resource_id.clone() else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let size = row.size.unwrap_or(0) as u64;
    let range = parse_range(http::header(&req, "range"), size)?;
    let (off, len, status) = match range {
        Some((a, b)) => (a, b - a + 1, StatusCode::PARTIAL_CONTENT),
        None => (0, size, StatusCode::OK),
    };
    let reader = g.arch.open(&rid, off, len).await?;
    let mut res = HttpResponse::build(status);
    res.content_type("application/octet-stream")
        .no_chunking(len)
        .insert_header(("Accept-Ranges", "bytes"));
    match range {
        Some((a, b)) => {
            res.insert_header(("Content-Range", format!("bytes {a}-{b}/{size}")));
        }
        None => {
            if let Some(md5) = &row.checksum {
                res.insert_header(("Content-MD5", md5.clone()));
            }
        }
    }
    Ok(res.streaming(
        reader
            .into_stream()
            .map(|r| r.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10).unwrap(), None);
        assert_eq!(parse_range(Some("bytes=2-4"), 10).unwrap(), Some((2, 4)));
        assert_eq!(parse_range(Some("bytes=2-"), 10).unwrap(), Some((2, 9)));
        assert_eq!(parse_range(Some("bytes=-3"), 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range(Some("bytes=5-100"), 10).unwrap(), Some((5, 9)));
        assert!(parse_range(Some("bytes=10-"), 10).is_err());
        assert_eq!(parse_range(Some("bytes=4-2"), 10).unwrap(), None);
        assert_eq!(parse_range(Some("items=1-2"), 10).unwrap(), None);
    }

    #[test]
    fn saving_data_needs_both_formats() {
        let mut row = ImageRow::queued("i".into(), None, 0);
        let msg = require_formats(&row).unwrap_err().to_string();
        assert_eq!(
            msg,
            "Properties disk_format, container_format must be set prior to saving data."
        );
        row.disk_format = Some("raw".into());
        let msg = require_formats(&row).unwrap_err().to_string();
        assert_eq!(
            msg,
            "Property container_format must be set prior to saving data."
        );
        row.container_format = Some("bare".into());
        assert!(require_formats(&row).is_ok());
    }
}
