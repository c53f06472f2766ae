//! Image sharing: members of `shared` images. The owner adds and removes
//! members; a member accepts or rejects (its status decides whether the
//! image appears in its default listing); both may read the membership.

use actix_web::{web, HttpResponse};
use db::images::{self, ImageRow, MemberRow};
use serde_json::Value;

use crate::dto::{self, MemberCreate, MemberList, MemberUpdate, MemberView};
use crate::error::{GlanceError, Result};
use crate::http::{self, forbidden_action, Caller};
use crate::images::load_visible;
use crate::Glance;

fn no_member(image: &str, member: &str) -> GlanceError {
    GlanceError::NotFound(format!(
        "{member} not found in the member list of the image {image}."
    ))
}

/// The image as the member API looks it up: its own 404 message.
async fn lookup_image(g: &Glance, caller: &Caller, id: &str) -> Result<ImageRow> {
    load_visible(g, caller, id).await.map_err(|e| match e {
        GlanceError::NotFound(_) => GlanceError::NotFound(format!("Image {id} not found.")),
        e => e,
    })
}

/// Glance checks `visibility == shared` before any policy, and reports it
/// in each operation's own words.
fn require_shared(row: &ImageRow, refusal: impl FnOnce(&str) -> GlanceError) -> Result<()> {
    if row.visibility == "shared" {
        Ok(())
    } else {
        Err(refusal("Only shared images have members."))
    }
}

/// Glance's member policies (`add_member`, `delete_member`): the image's
/// owner with a write role, or an admin.
fn require_owner(caller: &Caller, row: &ImageRow, action: &str) -> Result<()> {
    caller.require_write(action)?;
    if caller.is_admin() || row.owner.as_deref() == Some(caller.project()) {
        Ok(())
    } else {
        Err(forbidden_action(action))
    }
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
    // The body is read first: Glance's deserializer runs before the lookup.
    let member = member_of_body(&body)?;
    let row = lookup_image(&g, &caller, &path).await?;
    require_shared(&row, |_| {
        GlanceError::Forbidden(format!(
            "Not allowed to create members for image {}.",
            row.id
        ))
    })?;
    require_owner(&caller, &row, "add_member")?;
    let req = MemberCreate { member };
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
                    "Member {} is duplicated for image {}",
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
    let row = lookup_image(&g, &caller, &path).await?;
    require_shared(&row, |why| {
        GlanceError::Forbidden(format!(
            "Not allowed to list members for image {}: {why}",
            row.id
        ))
    })?;
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
    row: ImageRow,
    member: &str,
) -> Result<(ImageRow, MemberRow)> {
    let image = row.id.clone();
    let image = image.as_str();
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
    let row = lookup_image(&g, &caller, &image).await?;
    // Glance turns its refusals here into 404s, not to leak the image.
    require_shared(&row, |why| GlanceError::NotFound(why.into()))?;
    let (_, m) = load_member(&g, &caller, row, &member).await?;
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
    let status = status_of_body(&body)?;
    let row = lookup_image(&g, &caller, &image).await?;
    require_shared(&row, |_| {
        GlanceError::Forbidden(format!("Not allowed to update members for image {image}."))
    })?;
    let (_, mut m) = load_member(&g, &caller, row, &member).await?;
    if member != caller.project() {
        return Err(forbidden_action("modify_member"));
    }
    caller.require_write("modify_member")?;
    // The domain model validates the status last, as Glance's does.
    if !["pending", "accepted", "rejected"].contains(&status.as_str()) {
        return Err(GlanceError::BadRequest(
            "Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\".".into(),
        ));
    }
    let req = MemberUpdate { status };
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
    let row = lookup_image(&g, &caller, &image).await?;
    require_shared(&row, |_| {
        GlanceError::Forbidden(format!("Not allowed to delete members for image {image}."))
    })?;
    require_owner(&caller, &row, "delete_member")?;
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

/// `{"member": "..."}` as Glance's deserializer reads it.
fn member_of_body(body: &[u8]) -> Result<String> {
    let bad = |m: &str| GlanceError::BadRequest(m.into());
    match http::json_body(body)? {
        Value::Object(o) => match o.get("member") {
            None => Err(bad("Member to be added not specified")),
            Some(Value::Null) | Some(Value::Bool(false)) => Err(bad("Member can't be empty")),
            Some(Value::String(s)) if s.is_empty() => Err(bad("Member can't be empty")),
            Some(Value::String(s)) if s.chars().count() <= 255 => Ok(s.clone()),
            Some(_) => Err(bad("Member to be added not specified")),
        },
        _ => Err(bad(
            "Expected a member in the form: {\"member\": \"image_id\"}",
        )),
    }
}

/// `{"status": "..."}` as Glance's deserializer reads it.
fn status_of_body(body: &[u8]) -> Result<String> {
    let bad = |m: &str| GlanceError::BadRequest(m.into());
    match http::json_body(body)? {
        Value::Object(o) => match o.get("status") {
            None => Err(bad("Status not specified")),
            Some(Value::String(s)) => Ok(s.clone()),
            // Not one of the three: the domain model's refusal.
            Some(_) => Err(bad(
                "Incorrect request: Status must be \"pending\", \"accepted\" or \"rejected\".",
            )),
        },
        _ => Err(bad(
            "Expected a status in the form: {\"status\": \"status\"}",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_as_glance_reads_them() {
        assert_eq!(member_of_body(br#"{"member":"p2"}"#).unwrap(), "p2");
        let msg = |r: Result<String>| r.unwrap_err().to_string();
        assert_eq!(
            msg(member_of_body(b"{}")),
            "Member to be added not specified"
        );
        assert_eq!(
            msg(member_of_body(br#"{"member":""}"#)),
            "Member can't be empty"
        );
        assert_eq!(
            msg(member_of_body(b"[1]")),
            "Expected a member in the form: {\"member\": \"image_id\"}"
        );
        assert_eq!(msg(status_of_body(b"{}")), "Status not specified");
        assert_eq!(
            status_of_body(br#"{"status":"accepted"}"#).unwrap(),
            "accepted"
        );
    }
}
