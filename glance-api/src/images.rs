//! Image records: create, list, show, update (JSON patch), delete,
//! deactivate and reactivate.

use actix_web::{web, HttpRequest, HttpResponse};
use db::images::{self, ImageRow};
use serde_json::Value;

use crate::dto::{self, ImageList, ImageView};
use crate::error::{GlanceError, Result};
use crate::http::{self, forbidden_action, no_image, Caller};
use crate::{locations, patch, query, Glance};

/// The image if `caller` may see it; 404 otherwise (Glance never tells a
/// project about images it cannot see).
pub(crate) async fn load_visible(g: &Glance, caller: &Caller, id: &str) -> Result<ImageRow> {
    let (id2, project, admin) = (
        id.to_string(),
        caller.ctx.project_id.clone(),
        caller.is_admin(),
    );
    let row = g
        .db()
        .run(move |c| {
            let Some(row) = images::get(c, &id2)? else {
                return Ok(None);
            };
            let ok = images::visible_to(c, &row, project.as_deref(), admin)?;
            Ok(ok.then_some(row))
        })
        .await?;
    row.ok_or_else(|| no_image(id))
}

/// The image if `caller` may change it: visible, and owned (or admin).
pub(crate) async fn load_owned(
    g: &Glance,
    caller: &Caller,
    id: &str,
    action: &str,
) -> Result<ImageRow> {
    caller.require_write(action)?;
    let row = load_visible(g, caller, id).await?;
    if !caller.is_admin() && row.owner.as_deref() != Some(caller.project()) {
        return Err(forbidden_action(action));
    }
    Ok(row)
}

pub(crate) fn image_response(status: actix_web::http::StatusCode, row: &ImageRow) -> HttpResponse {
    HttpResponse::build(status).json(dto::image_view(row))
}

/// Builds the new row of a create request, as Glance validates it.
pub(crate) fn new_image(
    body: serde_json::Map<String, Value>,
    caller: &Caller,
    now: i64,
) -> Result<ImageRow> {
    let id = match body.get("id") {
        None => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => s.to_lowercase(),
        Some(v) => {
            return Err(GlanceError::BadRequest(format!(
                "Provided object does not match schema 'image': {v} does not match the id pattern"
            )))
        }
    };
    let mut row = ImageRow::queued(id, Some(caller.project().to_string()), now);
    let mut props = serde_json::Map::new();
    for (k, v) in body {
        match k.as_str() {
            "id" => {}
            "direct_url" | "self" | "file" | "schema" | "stores" | "created_at" | "updated_at"
            | "status" | "checksum" | "size" | "virtual_size" | "os_hash_algo"
            | "os_hash_value" => {
                return Err(GlanceError::Forbidden(format!(
                    "Attribute '{k}' is read-only."
                )))
            }
            // Glance's image factory reserves `locations` at create time.
            "locations" => {
                return Err(GlanceError::Forbidden(
                    "Attribute 'locations' is reserved.".into(),
                ))
            }
            "owner" => {
                let owner = v.as_str().map(str::to_string);
                if !caller.is_admin() && owner.as_deref() != Some(caller.project()) {
                    return Err(GlanceError::Forbidden(format!(
                        "You are not permitted to create images owned by '{}'.",
                        owner.unwrap_or_default()
                    )));
                }
                row.owner = owner;
            }
            "visibility" if v.as_str() == Some("public") && !caller.is_admin() => {
                return Err(forbidden_action("publicize_image"));
            }
            "name" | "visibility" | "protected" | "os_hidden" | "min_ram" | "min_disk"
            | "container_format" | "disk_format" | "tags" => {
                patch::set_base(&mut row, &k, &v, caller.is_admin())?
            }
            // The create deserializer raises `HTTPForbidden(msg)`: detail form.
            _ if patch::is_reserved(&k) && k.chars().count() <= 255 => {
                return Err(GlanceError::Detail(
                    actix_web::http::StatusCode::FORBIDDEN,
                    format!("Attribute '{k}' is reserved."),
                ))
            }
            _ => {
                let s = patch::check_custom(&k, &v)?;
                props.insert(k, Value::String(s));
            }
        }
    }
    row.properties = Value::Object(props).to_string();
    Ok(row)
}

/// `POST /v2/images`
#[utoipa::path(post, path = "/v2/images", tag = "images",
    request_body(content = Object, description = "Image attributes and custom properties"),
    responses((status = 201, body = ImageView), (status = 400), (status = 403), (status = 409)))]
pub async fn create(
    g: web::Data<Glance>,
    caller: Caller,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_write("add_image")?;
    let body = http::json_object(&body)?;
    let row = new_image(body, &caller, db::now_micros())?;
    let r2 = row.clone();
    g.db()
        .transaction(move |c| images::insert(c, &r2))
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                GlanceError::Conflict(format!("Image with identifier {} already exists!", row.id))
            } else {
                e.into()
            }
        })?;
    let mut res = image_response(actix_web::http::StatusCode::CREATED, &row);
    if let Ok(v) = format!("/v2/images/{}", row.id).parse() {
        res.headers_mut()
            .insert(actix_web::http::header::LOCATION, v);
    }
    Ok(res)
}

/// `GET /v2/images`
#[utoipa::path(get, path = "/v2/images", tag = "images",
    params(("limit" = Option<u32>, Query, description = "Page size (25, at most 1000)"),
           ("marker" = Option<String>, Query, description = "Last id of the previous page"),
           ("sort" = Option<String>, Query, description = "`key:dir,...`"),
           ("sort_key" = Option<String>, Query), ("sort_dir" = Option<String>, Query),
           ("name" = Option<String>, Query), ("status" = Option<String>, Query),
           ("visibility" = Option<String>, Query), ("owner" = Option<String>, Query),
           ("member_status" = Option<String>, Query), ("tag" = Option<String>, Query),
           ("size_min" = Option<u64>, Query), ("size_max" = Option<u64>, Query),
           ("os_hidden" = Option<bool>, Query), ("protected" = Option<bool>, Query)),
    responses((status = 200, body = ImageList), (status = 400)))]
pub async fn list(
    g: web::Data<Glance>,
    caller: Caller,
    pairs: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse> {
    let q = query::parse(&pairs)?;
    let (project, admin) = (caller.project().to_string(), caller.is_admin());
    let (p2, marker) = (project.clone(), q.marker.clone());
    let (rows, members, marker_row) = g
        .db()
        .run(move |c| {
            let rows = images::list_candidates(c, Some(&p2), admin)?;
            let members = images::memberships_of(c, &p2)?;
            // Glance looks the marker up as an image of its own: it need
            // not pass the filters, but must exist and be visible.
            let marker_row: Result<Option<ImageRow>> = match marker {
                Some(m) => match images::get(c, &m)? {
                    None => Err(GlanceError::BadRequest(format!(
                        "No image found with ID {m}"
                    ))),
                    Some(r) if images::visible_to(c, &r, Some(&p2), admin)? => Ok(Some(r)),
                    Some(_) => Err(GlanceError::Forbidden(format!(
                        "Forbidding request, image {m} not visible"
                    ))),
                },
                None => Ok(None),
            };
            Ok((rows, members, marker_row))
        })
        .await?;
    let marker_row = marker_row?;
    let members = query::membership_map(members);
    let hits: Vec<ImageRow> = rows
        .into_iter()
        .filter(|r| {
            query::listable(
                r,
                &q,
                &project,
                admin,
                members.get(&r.id).map(String::as_str),
            ) && query::matches(r, &q)
        })
        .collect();
    let (page, full) = query::page(hits, &q, marker_row.as_ref());
    let first = match query::link_query(&pairs, None) {
        qs if qs.is_empty() => "/v2/images".to_string(),
        qs => format!("/v2/images?{qs}"),
    };
    let next = match (full, page.last()) {
        (true, Some(last)) => Some(format!(
            "/v2/images?{}",
            query::link_query(&pairs, Some(&last.id))
        )),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(ImageList {
        images: page.iter().map(dto::image_view).collect(),
        first,
        next,
        schema: "/v2/schemas/images".into(),
    }))
}

/// `GET /v2/images/{image_id}`
#[utoipa::path(get, path = "/v2/images/{image_id}", tag = "images",
    params(("image_id" = String, Path)),
    responses((status = 200, body = ImageView), (status = 404)))]
pub async fn show(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let row = load_visible(&g, &caller, &path).await?;
    Ok(image_response(actix_web::http::StatusCode::OK, &row))
}

/// `PATCH /v2/images/{image_id}` with a JSON patch; `add /locations/-`
/// registers a Swift object as the image's data (see [`locations`]).
#[utoipa::path(patch, path = "/v2/images/{image_id}", tag = "images",
    params(("image_id" = String, Path)),
    request_body(content = Vec<Object>, content_type = "application/openstack-images-v2.1-json-patch"),
    responses((status = 200, body = ImageView), (status = 400), (status = 403), (status = 404),
              (status = 409), (status = 415)))]
pub async fn update(
    g: web::Data<Glance>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let changes = patch::parse(http::content_type(&req).as_deref(), &body)?;
    let row = load_owned(&g, &caller, &path, "modify_image").await?;
    let mut new = row.clone();
    let applied = patch::apply(&mut new, &changes, caller.is_admin())?;
    // Checked before the transaction; applied inside it with the attribute
    // changes, so a refused registration leaves no attribute changed
    // (Glance saves a patch as one image).
    let regs = applied
        .locations
        .into_iter()
        .map(|loc| locations::prepare(&caller, loc))
        .collect::<Result<Vec<_>>>()?;
    new.updated_at = db::now_micros();
    let id = row.id.clone();
    let updated = g
        .db()
        .transaction(move |c| {
            // Only the attributes the patch changed are written over a row
            // that may have moved on (an upload finishing meanwhile).
            let Some(mut cur) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            cur.name = new.name;
            cur.visibility = new.visibility;
            cur.protected = new.protected;
            cur.os_hidden = new.os_hidden;
            cur.min_ram = new.min_ram;
            cur.min_disk = new.min_disk;
            cur.container_format = new.container_format;
            cur.disk_format = new.disk_format;
            cur.owner = new.owner;
            cur.tags = new.tags;
            cur.properties = new.properties;
            cur.updated_at = new.updated_at;
            for reg in regs {
                locations::apply(c, &mut cur, reg)?;
            }
            images::update(c, &cur)?;
            Ok::<_, GlanceError>(cur)
        })
        .await?;
    Ok(image_response(actix_web::http::StatusCode::OK, &updated))
}

/// The resources an image row holds references on.
pub(crate) fn held_resources(row: &ImageRow) -> Vec<String> {
    let mut out: Vec<String> = row
        .resource_id
        .iter()
        .chain(row.staging_resource_id.iter())
        .cloned()
        .collect();
    out.extend(locations::copy_resources(row));
    out
}

/// `DELETE /v2/images/{image_id}`
#[utoipa::path(delete, path = "/v2/images/{image_id}", tag = "images",
    params(("image_id" = String, Path)),
    responses((status = 204), (status = 403, description = "protected"), (status = 404)))]
pub async fn delete(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let row = load_owned(&g, &caller, &path, "delete_image").await?;
    let id = row.id.clone();
    g.db()
        .transaction(move |c| {
            let Some(cur) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            if cur.protected {
                return Err(GlanceError::Forbidden(format!(
                    "Image {id} is protected and cannot be deleted."
                )));
            }
            images::delete(c, &id)?;
            for rid in held_resources(&cur) {
                archipelago::meta::release(c, &rid)?;
            }
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_active_state(g: &Glance, caller: &Caller, id: &str, deactivate: bool) -> Result<()> {
    let action = if deactivate {
        "deactivate"
    } else {
        "reactivate"
    };
    let row = load_owned(g, caller, id, action).await?;
    let id = row.id.clone();
    g.db()
        .transaction(move |c| {
            let Some(mut cur) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            let (from, to) = if deactivate {
                ("active", "deactivated")
            } else {
                ("deactivated", "active")
            };
            if cur.status == to {
                return Ok(());
            }
            if cur.status != from {
                return Err(GlanceError::Forbidden(format!(
                    "Not allowed to {action} image in status '{}'",
                    cur.status
                )));
            }
            cur.status = to.into();
            cur.updated_at = db::now_micros();
            images::update(c, &cur)?;
            Ok(())
        })
        .await
}

/// `POST /v2/images/{image_id}/actions/deactivate`
#[utoipa::path(post, path = "/v2/images/{image_id}/actions/deactivate", tag = "images",
    params(("image_id" = String, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub async fn deactivate(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    set_active_state(&g, &caller, &path, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v2/images/{image_id}/actions/reactivate`
#[utoipa::path(post, path = "/v2/images/{image_id}/actions/reactivate", tag = "images",
    params(("image_id" = String, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub async fn reactivate(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    set_active_state(&g, &caller, &path, false).await?;
    Ok(HttpResponse::NoContent().finish())
}
