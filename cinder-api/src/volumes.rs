//! Volume CRUD: list (summary and detail), create (empty, from an image, a
//! snapshot or another volume, all thin), show, update, delete.

use actix_web::{web, HttpRequest, HttpResponse};
use archipelago::CloneOptions;
use db::volumes::{VolumeFilter, VolumeRow};
use serde_json::{json, Map, Value};

use crate::dto::*;
use crate::error::{CinderError, Result};
use crate::filters::{page, ListParams};
use crate::http::{base_url, parse_bool, parse_size, parse_valid, query, Caller};
use crate::microversion::features as mv;
use crate::views::{self, meta_map, meta_text, run, visible_snapshot, visible_volume, GIB};
use crate::{quota, schema, Cinder};

async fn list_rows(
    req: &HttpRequest,
    cinder: &Cinder,
    caller: &Caller,
) -> Result<(Vec<VolumeRow>, usize, bool, ListParams)> {
    let p = ListParams::parse(&query(req)?)?;
    let project = if caller.is_admin() && p.all_tenants {
        p.project_id.clone()
    } else {
        Some(caller.project.clone())
    };
    let f = VolumeFilter {
        project_id: project,
        name: p.name.clone(),
        status: p.status.clone(),
        bootable: p.bootable,
    };
    let rows = run(cinder, move |c| Ok(db::volumes::list_volumes(c, &f)?)).await?;
    let (rows, total, more) = page(rows, &p)?;
    Ok((rows, total, more, p))
}

pub(crate) fn next_link(
    req: &HttpRequest,
    coll: &str,
    last: Option<&str>,
    p: &ListParams,
) -> Option<Vec<Link>> {
    let last = last?;
    Some(vec![Link {
        href: format!(
            "{}{}?limit={}&marker={last}",
            base_url(req),
            req.path()
                .trim_end_matches('/')
                .trim_end_matches(coll)
                .to_string()
                + coll,
            p.limit.unwrap_or(crate::filters::MAX_LIMIT)
        ),
        rel: "next".into(),
    }])
}

/// Lists the caller's volumes (id, name, links).
#[utoipa::path(get, path = "/v3/{project_id}/volumes", tag = "volumes",
    responses((status = 200, body = VolumesResponse)))]
pub async fn list_volumes(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    let (rows, total, more, p) = list_rows(&req, &cinder, &caller).await?;
    let links = more
        .then(|| next_link(&req, "volumes", rows.last().map(|r| r.id.as_str()), &p))
        .flatten();
    let volumes = rows
        .iter()
        .map(|v| json!(views::volume_summary(&req, v)))
        .collect();
    Ok(HttpResponse::Ok().json(VolumesResponse {
        volumes,
        volumes_links: links,
        count: (p.with_count && caller.at_least(mv::COUNT_INFO)).then_some(total),
    }))
}

/// Lists the caller's volumes in detail; filters `name`, `status`,
/// `metadata`, `bootable`, `all_tenants` (admin), `limit`/`marker`/`sort`,
/// `with_count` (3.45).
#[utoipa::path(get, path = "/v3/{project_id}/volumes/detail", tag = "volumes",
    responses((status = 200, body = VolumesResponse)))]
pub async fn list_volumes_detail(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    let (rows, total, more, p) = list_rows(&req, &cinder, &caller).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let atts = run(&cinder, move |c| {
        let mut out = Vec::new();
        for id in ids {
            out.push(db::volumes::attachments_of_volume(c, &id)?);
        }
        Ok(out)
    })
    .await?;
    let links = more
        .then(|| next_link(&req, "detail", rows.last().map(|r| r.id.as_str()), &p))
        .flatten();
    let volumes = rows
        .iter()
        .zip(atts.iter())
        .map(|(v, a)| json!(views::volume_view(&req, &cinder, &caller, v, a)))
        .collect();
    Ok(HttpResponse::Ok().json(VolumesResponse {
        volumes,
        volumes_links: links,
        count: (p.with_count && caller.at_least(mv::COUNT_INFO)).then_some(total),
    }))
}

/// Shows one volume.
#[utoipa::path(get, path = "/v3/{project_id}/volumes/{volume_id}", tag = "volumes",
    responses((status = 200, body = VolumeResponse), (status = 404, description = "No such volume")))]
pub async fn show_volume(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
    path: web::Path<VolumePath>,
) -> Result<HttpResponse> {
    let (v, a) = views::load_volume(&cinder, &caller, &path.volume_id).await?;
    Ok(HttpResponse::Ok().json(VolumeResponse {
        volume: views::volume_view(&req, &cinder, &caller, &v, &a),
    }))
}

/// Path of a volume route (the project segment is optional from 3.67).
#[derive(Debug, serde::Deserialize)]
pub struct VolumePath {
    pub volume_id: String,
}

fn opt_str(m: &Map<String, Value>, keys: &[&str]) -> Result<Option<String>> {
    for k in keys {
        match m.get(*k) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(s.clone())),
            Some(other) => {
                return Err(CinderError::BadRequest(format!(
                    "Invalid input for field/attribute {k}. Value: {other}. {other} is not of \
                     type 'string'"
                )))
            }
        }
    }
    Ok(None)
}

/// Metadata from a request body: string keys of 1..=255 chars, string values.
pub fn parse_metadata(v: Option<&Value>) -> Result<std::collections::BTreeMap<String, String>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Default::default());
    };
    let Value::Object(m) = v else {
        return Err(CinderError::BadRequest(format!(
            "Invalid input for field/attribute metadata. Value: {v}. {v} is not of type 'object'"
        )));
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(CinderError::BadRequest(format!(
                "Invalid input for field/attribute metadata. Value: {k}. Metadata key must be \
                 1-255 characters long"
            )));
        }
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => {
                return Err(CinderError::BadRequest(format!(
                    "Invalid input for field/attribute metadata. Value: {other}. {other} is \
                     not of type 'string'"
                )))
            }
        };
        if s.chars().count() > 255 {
            return Err(CinderError::BadRequest(
                "Invalid input for field/attribute metadata. Metadata value must be at most 255 \
                 characters long"
                    .into(),
            ));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

/// Where a new volume's content comes from.
enum Source {
    Empty,
    /// `boot`: the bootable flag and image metadata the new volume takes
    /// over (from the snapshot's volume, or the source volume), as Cinder
    /// copies them.
    Snapshot {
        id: String,
        resource: String,
        boot: (bool, String),
    },
    Volume {
        id: String,
        resource: String,
        boot: (bool, String),
    },
    Image {
        resource: String,
        meta: std::collections::BTreeMap<String, String>,
    },
}

/// Creates a volume: empty, or a thin clone of an image (`imageRef`), a
/// snapshot (`snapshot_id`) or a volume (`source_volid`), grown to `size`.
/// Clone, growth and the volume row commit together; no byte is copied.
#[utoipa::path(post, path = "/v3/{project_id}/volumes", tag = "volumes",
    request_body = VolumeCreateRequest,
    responses((status = 202, body = VolumeResponse), (status = 400, description = "Bad input"),
        (status = 413, description = "Quota exceeded")))]
pub async fn create_volume(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_write("volume:create")?;
    let body: VolumeCreateRequest =
        parse_valid(&body, &schema::bodies::volume_create(caller.version))?;
    let b = body.volume;
    let name = opt_str(&b, &["name", "display_name"])?;
    let description = opt_str(&b, &["description", "display_description"])?;
    let metadata = parse_metadata(b.get("metadata"))?;
    let snapshot_id = opt_str(&b, &["snapshot_id"])?;
    let source_volid = opt_str(&b, &["source_volid"])?;
    let image_ref = opt_str(&b, &["imageRef", "image_id"])?;
    // Cinder removed the flag: multiattach comes from the volume type.
    let multiattach = match b.get("multiattach") {
        None | Some(Value::Null) => false,
        Some(v) => parse_bool(v, "multiattach")?,
    };
    if multiattach {
        return Err(CinderError::BadRequest(
            "multiattach parameter has been removed. The default behavior is to use multiattach \
             enabled volume types. Contact your administrator to create a multiattach enabled \
             volume type and use it to create multiattach volumes."
                .into(),
        ));
    }
    if let Some(az) = opt_str(&b, &["availability_zone"])? {
        if az != cinder.cfg.availability_zone {
            return Err(CinderError::invalid_input(format!(
                "Availability zone '{az}' is invalid."
            )));
        }
    }
    if [&snapshot_id, &source_volid, &image_ref]
        .iter()
        .filter(|x| x.is_some())
        .count()
        > 1
    {
        return Err(CinderError::invalid_input(
            "Only one of imageRef, snapshot_id or source_volid may be given.",
        ));
    }
    let size = match b.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_size(v, "size")?),
    };
    let mut type_name = opt_str(&b, &["volume_type"])?;
    // Resolve the source and its size (GiB) under the caller's visibility.
    let (source, src_size, src_type) = {
        let caller = caller.clone();
        let (snap, vol, img) = (snapshot_id.clone(), source_volid.clone(), image_ref.clone());
        run(&cinder, move |c| resolve_source(c, &caller, snap, vol, img)).await?
    };
    let size = match (size, &source) {
        (Some(s), _) => s,
        (None, Source::Empty) => {
            return Err(CinderError::BadRequest(
                "Invalid input for field/attribute size. Value: None. None is not of type \
                 'integer', 'string'"
                    .into(),
            ))
        }
        (None, _) => src_size,
    };
    if size < src_size {
        return Err(CinderError::invalid_input(match &source {
            Source::Snapshot { .. } => format!(
                "Volume size '{size}'GB cannot be smaller than the snapshot size \
                 {src_size}GB. They must be >= original snapshot size."
            ),
            Source::Volume { .. } => format!(
                "Volume size '{size}'GB cannot be smaller than original volume size \
                 {src_size}GB. They must be >= original volume size."
            ),
            _ => {
                format!("Size of specified image {src_size}GB is larger than volume size {size}GB.")
            }
        }));
    }
    // An explicit type must be one the caller may use; a clone keeps its
    // source's type; else the default type.
    let vtype = {
        let caller = caller.clone();
        let explicit = type_name.take();
        let default = crate::types::default_id(&cinder);
        run(&cinder, move |c| match (explicit, src_type) {
            (Some(t), _) => crate::types::visible(c, &caller, &t)?.ok_or_else(|| {
                CinderError::NotFound(format!("Volume type with name {t} could not be found."))
            }),
            (None, Some(t)) => crate::types::lookup(c, &t)?.ok_or_else(|| {
                CinderError::NotFound(format!("Volume type with name {t} could not be found."))
            }),
            (None, None) => crate::types::lookup(c, &default)?.ok_or_else(|| {
                CinderError::NotFound("The default volume type could not be found.".into())
            }),
        })
        .await?
    };
    let now = db::now_micros();
    let mut row = VolumeRow {
        id: uuid::Uuid::new_v4().hyphenated().to_string(),
        project_id: caller.project.clone(),
        user_id: caller.ctx.user_id.clone(),
        name,
        description,
        size,
        status: "available".into(),
        attach_status: "detached".into(),
        availability_zone: cinder.cfg.availability_zone.clone(),
        volume_type: vtype.name.clone(),
        bootable: false,
        readonly: false,
        multiattach,
        snapshot_id: None,
        source_volid: None,
        metadata: meta_text(&metadata),
        image_metadata: "{}".into(),
        resource_id: None,
        created_at: now,
        updated_at: now,
    };
    let resource = match source {
        Source::Empty => None,
        Source::Snapshot { id, resource, boot } => {
            row.snapshot_id = Some(id);
            (row.bootable, row.image_metadata) = boot;
            Some(resource)
        }
        Source::Volume { id, resource, boot } => {
            row.source_volid = Some(id);
            (row.bootable, row.image_metadata) = boot;
            Some(resource)
        }
        Source::Image { resource, meta } => {
            row.bootable = true;
            row.image_metadata = meta_text(&meta);
            Some(resource)
        }
    };
    let quotas = cinder.cfg.quotas.clone();
    let type_id = vtype.id.clone();
    let policy = vtype.policy(&cinder.cfg);
    let p2 = policy.clone();
    if !run(&cinder, move |c| crate::services::takes_volumes(c, &p2)).await? {
        // Cinder's scheduler finds no valid backend: the volume exists, in
        // error, holding no data (and counts against the quota, as there).
        tracing::warn!(volume = %row.id, policy = %policy, "no valid backend: backend disabled or frozen");
        let row = views::tx(&cinder, move |c| {
            let mut row = row;
            let t = crate::types::lookup(c, &type_id)?.ok_or_else(|| {
                CinderError::NotFound(format!("Volume type {type_id} could not be found."))
            })?;
            row.volume_type = t.name;
            row.status = "error".into();
            row.bootable = false;
            row.image_metadata = "{}".into();
            quota::check_volume(c, &quotas, &row.project_id, &row.volume_type, row.size)?;
            db::volumes::insert_volume(c, &row)?;
            Ok(row)
        })
        .await?;
        return Ok(HttpResponse::Accepted().json(VolumeResponse {
            volume: views::volume_written(views::volume_view(&req, &cinder, &caller, &row, &[])),
        }));
    }
    let view = move |c: &mut db::Conn, rid: &str| -> Result<VolumeRow> {
        // The type as it is now, in this transaction: renamed or deleted
        // since it was looked up, the volume must not name a stale one.
        let t = crate::types::lookup(c, &type_id)?.ok_or_else(|| {
            CinderError::NotFound(format!("Volume type {type_id} could not be found."))
        })?;
        row.volume_type = t.name;
        quota::check_volume(c, &quotas, &row.project_id, &row.volume_type, row.size)?;
        row.resource_id = Some(rid.to_string());
        db::volumes::insert_volume(c, &row)?;
        Ok(row)
    };
    let bytes = size as u64 * GIB;
    let row = match resource {
        None => {
            cinder
                .arch
                .create_rw_with_policy(bytes, &policy, view)
                .await?
        }
        Some(src) => {
            let opts = CloneOptions {
                size: Some(bytes),
                policy: Some(policy),
            };
            cinder.arch.clone_rw_with(&src, opts, view).await?
        }
    };
    tracing::info!(volume = %row.id, size = row.size, "volume created");
    Ok(HttpResponse::Accepted().json(VolumeResponse {
        volume: views::volume_written(views::volume_view(&req, &cinder, &caller, &row, &[])),
    }))
}

/// Finds the source a create names and its size in GiB and volume type.
fn resolve_source(
    c: &mut db::Conn,
    caller: &Caller,
    snap: Option<String>,
    vol: Option<String>,
    img: Option<String>,
) -> Result<(Source, i64, Option<String>)> {
    if let Some(id) = snap {
        let s = visible_snapshot(c, caller, &id)?;
        if s.status != "available" {
            return Err(CinderError::invalid_snapshot(
                "Originating snapshot status must be one of 'available' values",
            ));
        }
        let resource = s
            .resource_id
            .clone()
            .ok_or_else(|| CinderError::snapshot_not_found(&id))?;
        let src = db::volumes::get_volume(c, &s.volume_id)?;
        let boot = src
            .as_ref()
            .map(|v| (v.bootable, v.image_metadata.clone()))
            .unwrap_or((false, "{}".into()));
        let vtype = src.map(|v| v.volume_type);
        return Ok((Source::Snapshot { id, resource, boot }, s.size, vtype));
    }
    if let Some(id) = vol {
        let v = visible_volume(c, caller, &id)?;
        if !matches!(v.status.as_str(), "available" | "in-use") {
            return Err(CinderError::invalid_volume(format!(
                "Unable to clone volumes that are in an error state or not available: {}",
                v.status
            )));
        }
        let resource = v
            .resource_id
            .clone()
            .ok_or_else(|| CinderError::volume_not_found(&id))?;
        let boot = (v.bootable, v.image_metadata.clone());
        return Ok((
            Source::Volume { id, resource, boot },
            v.size,
            Some(v.volume_type),
        ));
    }
    if let Some(image_ref) = img {
        let image = find_image(c, caller, &image_ref)?;
        let id = image.id.clone();
        let resource = match (&image.status[..], &image.resource_id) {
            ("active", Some(r)) => r.clone(),
            _ => {
                return Err(CinderError::invalid_input(format!(
                    "Image {id} is not active."
                )))
            }
        };
        let bytes = image.virtual_size.or(image.size).unwrap_or(0).max(0) as u64;
        let gib = (bytes.div_ceil(GIB) as i64)
            .max(image.min_disk as i64)
            .max(1);
        let mut meta = meta_map(&image.properties);
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                meta.insert(k.to_string(), v);
            }
        };
        put("image_id", Some(image.id.clone()));
        put("image_name", image.name.clone());
        put("checksum", image.checksum.clone());
        put("container_format", image.container_format.clone());
        put("disk_format", image.disk_format.clone());
        put("min_disk", Some(image.min_disk.to_string()));
        put("min_ram", Some(image.min_ram.to_string()));
        put("size", image.size.map(|s| s.to_string()));
        return Ok((Source::Image { resource, meta }, gib, None));
    }
    Ok((Source::Empty, 1, None))
}

/// The image an `imageRef` names, as Cinder's `_image_uuid_from_ref`: the
/// last path segment of a URL or an id, else an image name the caller sees
/// (several with that name: 409); anything else is 400.
fn find_image(c: &mut db::Conn, caller: &Caller, image_ref: &str) -> Result<db::images::ImageRow> {
    let (project, admin) = (Some(caller.project.as_str()), caller.is_admin());
    let uuid = image_ref.rsplit('/').next().unwrap_or(image_ref);
    if schema::is_uuid_like(uuid) {
        if let Some(image) = db::images::get(c, uuid)? {
            if db::images::visible_to(c, &image, project, admin)? {
                return Ok(image);
            }
        }
    }
    let mut named: Vec<_> = db::images::list_candidates(c, project, admin)?
        .into_iter()
        .filter(|i| i.name.as_deref() == Some(image_ref))
        .collect();
    if named.len() > 1 {
        return Err(CinderError::Conflict(format!(
            "Multiple matches found for '{image_ref}', use an ID to be more specific."
        )));
    }
    named.pop().ok_or_else(|| {
        CinderError::BadRequest(
            "Invalid image identifier or unable to access requested image.".into(),
        )
    })
}

/// Updates a volume's name, description or metadata.
#[utoipa::path(put, path = "/v3/{project_id}/volumes/{volume_id}", tag = "volumes",
    request_body = UpdateRequest, responses((status = 200, body = VolumeResponse)))]
pub async fn update_volume(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
    path: web::Path<VolumePath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_write("volume:update")?;
    let body: UpdateRequest = parse_valid(&body, &schema::bodies::volume_update(caller.version))?;
    let b = body.volume.ok_or_else(|| {
        CinderError::BadRequest("Missing required element 'volume' in request body.".into())
    })?;
    let name = opt_str(&b, &["name", "display_name"])?;
    let description = opt_str(&b, &["description", "display_description"])?;
    let metadata = match b.get("metadata") {
        Some(m) => Some(parse_metadata(Some(m))?),
        None => None,
    };
    let id = path.volume_id.clone();
    let c2 = caller.clone();
    let (v, a) = views::tx(&cinder, move |c| {
        let mut v = visible_volume(c, &c2, &id)?;
        if b.contains_key("name") || b.contains_key("display_name") {
            v.name = name;
        }
        if b.contains_key("description") || b.contains_key("display_description") {
            v.description = description;
        }
        if let Some(m) = metadata {
            v.metadata = meta_text(&m);
        }
        v.updated_at = db::now_micros();
        db::volumes::update_volume(c, &v)?;
        let a = db::volumes::attachments_of_volume(c, &v.id)?;
        Ok((v, a))
    })
    .await?;
    Ok(HttpResponse::Ok().json(VolumeResponse {
        volume: views::volume_written(views::volume_view(&req, &cinder, &caller, &v, &a)),
    }))
}

/// Deletes a volume: refused while attached, in a busy status or while it
/// has snapshots, unless `cascade=true` (its snapshots go too).
#[utoipa::path(delete, path = "/v3/{project_id}/volumes/{volume_id}", tag = "volumes",
    params(("cascade" = Option<bool>, Query, description = "Delete the snapshots too")),
    responses((status = 202, description = "Deleted"), (status = 400, description = "Busy")))]
pub async fn delete_volume(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
    path: web::Path<VolumePath>,
) -> Result<HttpResponse> {
    caller.require_write("volume:delete")?;
    let q = query(&req)?;
    let cascade = q
        .get("cascade")
        .is_some_and(|v| crate::http::str_bool(v) == Some(true));
    let force = q
        .get("force")
        .is_some_and(|v| crate::http::str_bool(v) == Some(true));
    if force {
        caller.require_admin("volume:force_delete")?;
    }
    destroy_volume(&cinder, &caller, &path.volume_id, cascade, force).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Deletes the volume row, its snapshots (cascade), attachments and exports
/// (force), and releases every resource, in one transaction.
pub async fn destroy_volume(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
    cascade: bool,
    force: bool,
) -> Result<()> {
    let caller = caller.clone();
    let id = id.to_string();
    let cin = cinder.clone();
    views::tx(cinder, move |c| {
        let v = visible_volume(c, &caller, &id)?;
        // A volume never placed on a backend (created in error) has none
        // to be frozen, as in Cinder.
        if v.resource_id.is_some() {
            crate::services::assert_not_frozen(c, &cin.type_of(&v.volume_type).1)?;
        }
        let snaps = db::volumes::snapshots_of_volume(c, &v.id)?;
        crate::state::check_delete(
            &v.status,
            v.attach_status == "attached",
            !snaps.is_empty(),
            cascade,
            force,
        )?;
        for s in snaps {
            db::volumes::delete_snapshot(c, &s.id)?;
            if let Some(r) = &s.resource_id {
                archipelago::meta::release(c, r)?;
            }
        }
        for a in db::volumes::attachments_of_volume(c, &v.id)? {
            db::exports::delete_for_attachment(c, &a.id)?;
            db::volumes::delete_attachment(c, &a.id)?;
        }
        db::volumes::delete_volume(c, &v.id)?;
        if let Some(r) = &v.resource_id {
            archipelago::meta::release(c, r)?;
        }
        tracing::info!(volume = %v.id, "volume deleted");
        Ok(())
    })
    .await
}
