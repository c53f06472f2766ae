//! Zero-copy conversions between images and Swift objects.
//!
//! - **Register** (Synnefo's register): adding the location
//!   `swift://<account>/<container>/<object>` to a queued image makes it
//!   active on the object's own resource: one more reference on it, no byte
//!   read or written. Through a JSON patch `add /locations/-` or Glance
//!   2.17's `POST /v2/images/{id}/locations`. Only the account's owner
//!   (token project `P` for account `AUTH_P`) or an admin may register, and
//!   only a plain object (a large-object manifest's resource is the
//!   manifest, not the content).
//! - **Export** (atoll extension, `POST /v2/images/{id}/actions/export`):
//!   the image becomes an object of the caller's account pointing at the
//!   image's resource, with the account and container counters moved as a
//!   Swift PUT would.
//!
//! Data copies made by `copy-image` are also kept as locations
//! (`atoll://<store>/<resource>`), each holding a reference.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use db::images::{self, ImageRow};
use serde_json::{json, Value};

use crate::dto::{ExportRequest, ExportResult, LocationAdd};
use crate::error::{GlanceError, Result};
use crate::http::{forbidden_action, no_image, Caller};
use crate::images::{load_owned, load_visible};
use crate::Glance;

/// `swift://<account>/<container>/<object>` split in its parts.
pub fn parse_swift_url(url: &str) -> Result<(String, String, String)> {
    let bad = || {
        GlanceError::BadRequest(format!(
            "Invalid location {url}: expected swift://<account>/<container>/<object>"
        ))
    };
    let rest = url.strip_prefix("swift://").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, '/');
    let (a, c, o) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if a.is_empty() || c.is_empty() || o.is_empty() {
        return Err(bad());
    }
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| bad())
    };
    Ok((dec(a)?, dec(c)?, dec(o)?))
}

/// The resources of the `atoll://<store>/<resource>` data copies.
pub fn copy_resources(row: &ImageRow) -> Vec<String> {
    let locs: Vec<Value> = serde_json::from_str(&row.locations).unwrap_or_default();
    locs.iter()
        .filter_map(|l| l.get("url").and_then(Value::as_str))
        .filter_map(|u| u.strip_prefix("atoll://"))
        .filter_map(|r| r.split_once('/').map(|(_, rid)| rid.to_string()))
        .collect()
}

/// A location add checked against the caller, ready to apply in a
/// transaction.
pub struct Registration {
    url: String,
    account: String,
    container: String,
    object: String,
    validation: BTreeMap<String, Value>,
    metadata: BTreeMap<String, Value>,
}

/// Parses `loc` and checks the caller may register that object.
pub fn prepare(caller: &Caller, loc: LocationAdd) -> Result<Registration> {
    let (account, container, object) = parse_swift_url(&loc.url)?;
    let own_account = format!("AUTH_{}", caller.project());
    if !caller.is_admin() && account != own_account {
        return Err(forbidden_action("add_location"));
    }
    Ok(Registration {
        url: loc.url,
        account,
        container,
        object,
        validation: loc.validation_data.unwrap_or_default(),
        metadata: loc.metadata.unwrap_or_default(),
    })
}

/// Makes the queued `row` active on the registered object's resource,
/// inside the caller's transaction (the caller writes the row).
pub fn apply(c: &mut db::Conn, row: &mut ImageRow, reg: Registration) -> Result<()> {
    let Registration {
        url,
        account,
        container,
        object,
        validation,
        metadata,
    } = reg;
    if row.status != "queued" {
        return Err(GlanceError::Conflict(format!(
            "It's not allowed to add locations if image status is {}.",
            row.status
        )));
    }
    let now = db::now_micros();
    let obj = db::swift::object(c, &account, &container, &object)?
        .filter(|o| !o.expired(now))
        .ok_or_else(|| {
            GlanceError::BadRequest(format!("Invalid location {}: no such object", url))
        })?;
    if obj.is_manifest() {
        return Err(GlanceError::BadRequest(format!(
            "Invalid location {}: a large-object manifest cannot be registered \
                 without copying its segments",
            url
        )));
    }
    // The etag of a plain object is the MD5 of its content.
    if let Some(v) = validation.get("checksum").and_then(Value::as_str) {
        if v != obj.etag {
            return Err(GlanceError::BadRequest(
                "Conflicting values for checksum".into(),
            ));
        }
    }
    archipelago::meta::retain(c, &obj.resource_id).map_err(GlanceError::from)?;
    let policy = archipelago::meta::get_resource(c, &obj.resource_id)?.policy;
    row.resource_id = Some(obj.resource_id.clone());
    row.size = Some(obj.size);
    row.virtual_size = virtual_size(row, obj.size);
    row.checksum = Some(obj.etag.clone());
    row.os_hash_algo = validation
        .get("os_hash_algo")
        .and_then(Value::as_str)
        .map(str::to_string);
    row.os_hash_value = validation
        .get("os_hash_value")
        .and_then(Value::as_str)
        .map(str::to_string);
    row.store = Some(policy);
    let locs = json!([{ "url": url, "metadata": metadata }]);
    row.locations = locs.to_string();
    row.status = "active".into();
    row.updated_at = now;
    Ok(())
}

/// Makes the queued image `id` active on the Swift object `url` names.
pub async fn register(g: &Glance, caller: &Caller, id: &str, loc: LocationAdd) -> Result<()> {
    let reg = prepare(caller, loc)?;
    let id = id.to_string();
    g.db()
        .transaction(move |c| {
            let Some(mut row) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            apply(c, &mut row, reg)?;
            images::update(c, &row)?;
            Ok(())
        })
        .await
}

/// Glance's virtual size for formats whose data is the disk itself.
pub fn virtual_size(row: &ImageRow, size: i64) -> Option<i64> {
    match row.disk_format.as_deref() {
        Some("raw") | Some("iso") | None => Some(size),
        _ => None,
    }
}

/// `POST /v2/images/{image_id}/locations` (Glance 2.17): registers a Swift
/// object as the image's data.
#[utoipa::path(post, path = "/v2/images/{image_id}/locations", tag = "images",
    params(("image_id" = String, Path)), request_body = LocationAdd,
    responses((status = 202), (status = 400), (status = 403), (status = 404), (status = 409)))]
pub async fn add_location(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let v = crate::http::json_body(&body)?;
    let loc: LocationAdd = serde_json::from_value(v)
        .map_err(|_| GlanceError::BadRequest("Invalid location: 'url' is required".into()))?;
    let row = load_owned(&g, &caller, &path, "add_location").await?;
    register(&g, &caller, &row.id, loc).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `POST /v2/images/{image_id}/actions/export` (atoll extension): makes the
/// image an object `<container>/<object>` of the caller's account, sharing
/// the image's resource (no data copied). 201 with the object's address.
#[utoipa::path(post, path = "/v2/images/{image_id}/actions/export", tag = "atoll",
    params(("image_id" = String, Path)), request_body = ExportRequest,
    responses((status = 201, body = ExportResult), (status = 400), (status = 403),
              (status = 404, description = "no such image or container"),
              (status = 409, description = "image has no data")))]
pub async fn export(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_write("export_image")?;
    let v = crate::http::json_body(&body)?;
    let req: ExportRequest = serde_json::from_value(v).map_err(|_| {
        GlanceError::BadRequest("Export request requires a 'container' field.".into())
    })?;
    let row = load_visible(&g, &caller, &path).await?;
    if row.status == "deactivated" && !caller.is_admin() {
        return Err(GlanceError::Forbidden(
            "The requested image has been deactivated. Image data download is forbidden.".into(),
        ));
    }
    let (Some(rid), Some(etag), Some(size)) =
        (row.resource_id.clone(), row.checksum.clone(), row.size)
    else {
        return Err(GlanceError::Conflict(format!(
            "Image {} has no data to export",
            row.id
        )));
    };
    let object = req.object.unwrap_or_else(|| row.id.clone());
    if req.container.is_empty() || req.container.contains('/') || object.is_empty() {
        return Err(GlanceError::BadRequest(
            "Invalid container or object name".into(),
        ));
    }
    if req.container.len() > 256 || object.len() > 1024 {
        return Err(GlanceError::BadRequest(
            "Container or object name too long".into(),
        ));
    }
    let account = format!("AUTH_{}", caller.project());
    let mut meta = BTreeMap::new();
    meta.insert("X-Object-Meta-Glance-Image-Id".to_string(), row.id.clone());
    let obj = db::swift::ObjectRow {
        account: account.clone(),
        container: req.container.clone(),
        name: object.clone(),
        resource_id: rid.clone(),
        size,
        etag: etag.clone(),
        content_type: "application/octet-stream".into(),
        metadata: serde_json::to_string(&meta).unwrap_or_else(|_| "{}".into()),
        last_modified: db::now_micros(),
        delete_at: None,
        manifest: None,
        slo: false,
    };
    let container = req.container.clone();
    g.db()
        .transaction(move |c| {
            archipelago::meta::retain(c, &rid).map_err(GlanceError::from)?;
            match db::swift::insert_object(c, &obj)? {
                db::swift::Inserted::NoContainer => Err(GlanceError::NotFound(format!(
                    "Container {container} not found"
                ))),
                db::swift::Inserted::Done { replaced } => {
                    if let Some(old) = replaced {
                        archipelago::meta::release(c, &old.resource_id)?;
                    }
                    Ok(())
                }
            }
        })
        .await?;
    let url = format!("swift://{account}/{}/{object}", req.container);
    Ok(HttpResponse::Created().json(ExportResult {
        account,
        container: req.container,
        object,
        url,
        size,
        etag,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swift_urls() {
        assert_eq!(
            parse_swift_url("swift://AUTH_p/c/a/b%20c").unwrap(),
            ("AUTH_p".into(), "c".into(), "a/b c".into())
        );
        for bad in [
            "http://x/y/z",
            "swift://a/c",
            "swift://a//o",
            "swift:///c/o",
        ] {
            assert!(parse_swift_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn copies_are_found_in_locations() {
        let mut row = ImageRow::queued("i".into(), None, 0);
        row.locations =
            r#"[{"url":"swift://a/c/o","metadata":{}},{"url":"atoll://gold/r2","metadata":{}}]"#
                .into();
        assert_eq!(copy_resources(&row), ["r2"]);
    }
}
