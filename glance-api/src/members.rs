//! Image sharing: members of `shared` images. The owner adds and removes
//! members; a member accepts or rejects (its status decides whether the
//! image appears in its default listing); both may read the membership.

use actix_web::{web, HttpResponse};
use db::images::{self, MemberRow};

use crate::dto::{self, MemberCreate, MemberList, MemberUpdate, MemberView};
use crate::error::{GlanceError, Result};
use crate::http::{self, forbidden_action, Caller};
use crate::images::{load_owned, load_visible};
use crate::Glance;

fn no_member(image: &str, member: &str) -> GlanceError {
    GlanceError::NotFound(format!("Member {member} not found for image {image}"))
}

/// `POST /v2/images/{image_id}/members`
#[utoipa::path(post, path = "/v2/images/{image_id}/members", tag = "members",
    params(("image_id" = String, Path)), request_body = MemberCreate,
    responses((status = 200, body = MemberView), (status = 403), (status = 404), (status = 409)))]
pub async fn create(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let row = load_owned(&g, &caller, &path, "add_member").await?;
    let v = http::json_body(&body)?;
    let req: MemberCreate = serde_json::from_value(v)
        .map_err(|_| GlanceError::BadRequest("Member to be added not specified".into()))?;
    if req.member.is_empty() || req.member.len() > 255 {
        return Err(GlanceError::BadRequest(
            "Member to be added not specified".into(),
        ));
    }
    if row.visibility != "shared" {
        return Err(GlanceError::Forbidden(
            "Only shared images have members.".into(),
        ));
    }
    let now = db::now_micros();
    let m = MemberRow {
        image_id: row.id.clone(),
        member: req.member.clone(),
        status: "pending".into(),
        created_at: now,
        updated_at: now,
    };
    let m2 = m.clone();
    g.db()
        .transaction(move |c| images::insert_member(c, &m2))
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                GlanceError::Conflict(format!(
                    "Member {} already associated with image {}",
                    m.member, m.image_id
                ))
            } else {
                e.into()
            }
        })?;
    Ok(HttpResponse::Ok().json(dto::member_view(&m)))
}

/// `GET /v2/images/{image_id}/members`
#[utoipa::path(get, path = "/v2/images/{image_id}/members", tag = "members",
    params(("image_id" = String, Path)),
    responses((status = 200, body = MemberList), (status = 403), (status = 404)))]
pub async fn list(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let row = load_visible(&g, &caller, &path).await?;
    if row.visibility != "shared" {
        return Err(GlanceError::Forbidden(
            "Only shared images have members.".into(),
        ));
    }
    let id = row.id.clone();
    let mut members = g.db().run(move |c| images::members(c, &id)).await?;
    // A member sees only its own membership.
    let owner = caller.is_admin() || row.owner.as_deref() == Some(caller.project());
    if !owner {
        members.retain(|m| m.member == caller.project());
    }
    Ok(HttpResponse::Ok().json(MemberList {
        members: members.iter().map(dto::member_view).collect(),
        schema: "/v2/schemas/members".into(),
    }))
}

async fn load_member(
    g: &Glance,
    caller: &Caller,
    image: &str,
    member: &str,
) -> Result<(db::images::ImageRow, MemberRow)> {
    let row = load_visible(g, caller, image).await?;
    let owner = caller.is_admin() || row.owner.as_deref() == Some(caller.project());
    if !owner && member != caller.project() {
        return Err(no_member(image, member));
    }
    let (id, m) = (row.id.clone(), member.to_string());
    let found = g.db().run(move |c| images::member(c, &id, &m)).await?;
    let found = found.ok_or_else(|| no_member(image, member))?;
    Ok((row, found))
}

/// `GET /v2/images/{image_id}/members/{member_id}`
#[utoipa::path(get, path = "/v2/images/{image_id}/members/{member_id}", tag = "members",
    params(("image_id" = String, Path), ("member_id" = String, Path)),
    responses((status = 200, body = MemberView), (status = 404)))]
pub async fn show(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (image, member) = path.into_inner();
    let (_, m) = load_member(&g, &caller, &image, &member).await?;
    Ok(HttpResponse::Ok().json(dto::member_view(&m)))
}

/// `PUT /v2/images/{image_id}/members/{member_id}`: the member sets its
/// status.
#[utoipa::path(put, path = "/v2/images/{image_id}/members/{member_id}", tag = "members",
    params(("image_id" = String, Path), ("member_id" = String, Path)),
    request_body = MemberUpdate,
    responses((status = 200, body = MemberView), (status = 400), (status = 403), (status = 404)))]
pub async fn update(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (image, member) = path.into_inner();
    let v = http::json_body(&body)?;
    let req: MemberUpdate = serde_json::from_value(v)
        .map_err(|_| GlanceError::BadRequest("Status not specified".into()))?;
    if !["pending", "accepted", "rejected"].contains(&req.status.as_str()) {
        return Err(GlanceError::BadRequest(format!(
            "Invalid status: {}",
            req.status
        )));
    }
    let (_, mut m) = load_member(&g, &caller, &image, &member).await?;
    if member != caller.project() {
        return Err(forbidden_action("modify_member"));
    }
    caller.require_write("modify_member")?;
    let now = db::now_micros();
    let (i, mm, s) = (m.image_id.clone(), m.member.clone(), req.status.clone());
    g.db()
        .transaction(move |c| images::set_member_status(c, &i, &mm, &s, now))
        .await?;
    m.status = req.status;
    m.updated_at = now;
    Ok(HttpResponse::Ok().json(dto::member_view(&m)))
}

/// `DELETE /v2/images/{image_id}/members/{member_id}`
#[utoipa::path(delete, path = "/v2/images/{image_id}/members/{member_id}", tag = "members",
    params(("image_id" = String, Path), ("member_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn delete(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (image, member) = path.into_inner();
    let row = load_owned(&g, &caller, &image, "delete_member").await?;
    let (id, m) = (row.id.clone(), member.clone());
    let gone = g
        .db()
        .transaction(move |c| images::delete_member(c, &id, &m))
        .await?;
    if !gone {
        return Err(no_member(&image, &member));
    }
    Ok(HttpResponse::NoContent().finish())
}
