//! Groups: `/v3/groups`, their members, and the roles granted to them on
//! projects (`/v3/projects/{p}/groups/{g}/roles`) and on the system
//! (`/v3/system/groups/{g}/roles`).

use actix_web::{web, HttpRequest, HttpResponse};

use super::roles::roles_response;
use super::users::user_json;
use super::{admin_caller, base_url, caller, collection_links, parse_json, query, reader_caller};
use crate::dto::{
    CreateGroupRequest, ErrorResponse, Group, GroupResponse, GroupsResponse, RolesResponse,
    SelfLink, UpdateGroupRequest, UsersResponse,
};
use crate::error::{Error, Result};
use crate::groups::{self, GroupRow};
use crate::store::{self, DEFAULT_DOMAIN_ID};
use crate::Identity;

fn group_json(base: &str, g: GroupRow) -> Group {
    Group {
        links: SelfLink {
            self_: format!("{base}/v3/groups/{}", g.id),
        },
        id: g.id,
        name: g.name,
        domain_id: g.domain_id,
        description: g.description,
    }
}

fn groups_response(req: &HttpRequest, rows: Vec<GroupRow>) -> HttpResponse {
    let base = base_url(req);
    HttpResponse::Ok().json(GroupsResponse {
        groups: rows.into_iter().map(|g| group_json(&base, g)).collect(),
        links: collection_links(req),
    })
}

/// Groups (admin, or a system reader), optionally filtered by `name` and
/// `domain_id`.
#[utoipa::path(
    get,
    path = "/v3/groups",
    tag = "groups",
    params(
        ("name" = Option<String>, Query, description = "Exact name"),
        ("domain_id" = Option<String>, Query, description = "Domain id"),
    ),
    responses(
        (status = 200, description = "Groups", body = GroupsResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
    )
)]
pub(crate) async fn list_groups(req: HttpRequest, id: web::Data<Identity>) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_groups").await?;
    let q = query(&req)?;
    let rows = id
        .read(move |c| {
            groups::list_groups(
                c,
                q.get("name").map(String::as_str),
                q.get("domain_id").map(String::as_str),
            )
        })
        .await?;
    Ok(groups_response(&req, rows))
}

/// Creates a group (admin); 409 if its name is taken in the domain.
#[utoipa::path(
    post,
    path = "/v3/groups",
    tag = "groups",
    request_body = CreateGroupRequest,
    responses(
        (status = 201, description = "Created", body = GroupResponse),
        (status = 400, description = "Malformed", body = ErrorResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn create_group(
    req: HttpRequest,
    id: web::Data<Identity>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_group").await?;
    let g = parse_json::<CreateGroupRequest>(&body)?.group;
    let row = id
        .write(move |c| {
            let domain = g.domain_id.as_deref().unwrap_or(DEFAULT_DOMAIN_ID);
            groups::create_group(c, &g.name, domain, g.description.as_deref().unwrap_or(""))
        })
        .await?;
    tracing::info!(group_id = %row.id, "group created");
    Ok(HttpResponse::Created().json(GroupResponse {
        group: group_json(&base_url(&req), row),
    }))
}

/// One group (admin, or a system reader).
#[utoipa::path(
    get,
    path = "/v3/groups/{group_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id")),
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 404, description = "No such group", body = ErrorResponse),
    )
)]
pub(crate) async fn get_group(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:get_group").await?;
    let gid = path.into_inner();
    let row = id.read(move |c| groups::group(c, &gid)).await?;
    Ok(HttpResponse::Ok().json(GroupResponse {
        group: group_json(&base_url(&req), row),
    }))
}

/// Renames a group or changes its description (admin).
#[utoipa::path(
    patch,
    path = "/v3/groups/{group_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id")),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, description = "Updated", body = GroupResponse),
        (status = 400, description = "Malformed, or a field that cannot change", body = ErrorResponse),
        (status = 404, description = "No such group", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn update_group(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:update_group").await?;
    let gid = path.into_inner();
    let u = parse_json::<UpdateGroupRequest>(&body)?.group;
    if u.id.as_ref().is_some_and(|i| *i != gid) {
        return Err(Error::BadRequest("Cannot change group ID".into()));
    }
    let row = id
        .write(move |c| {
            let mut row = groups::group(c, &gid)?;
            if u.domain_id.as_ref().is_some_and(|d| *d != row.domain_id) {
                return Err(Error::BadRequest("Cannot change Domain ID".into()));
            }
            if let Some(n) = u.name {
                row.name = n;
            }
            if let Some(d) = u.description {
                row.description = d;
            }
            groups::update_group(c, &row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Ok().json(GroupResponse {
        group: group_json(&base_url(&req), row),
    }))
}

/// Deletes a group with its memberships and grants; its members' tokens
/// are revoked (admin).
#[utoipa::path(
    delete,
    path = "/v3/groups/{group_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such group", body = ErrorResponse),
    )
)]
pub(crate) async fn delete_group(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:delete_group").await?;
    let gid = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| groups::delete_group_tx(c, &gid, exp))
        .await?;
    let g = id.apply(ch);
    tracing::info!(group_id = %g.id, "group deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// A group's members (admin, or a system reader).
#[utoipa::path(
    get,
    path = "/v3/groups/{group_id}/users",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id")),
    responses(
        (status = 200, description = "Members", body = UsersResponse),
        (status = 404, description = "No such group", body = ErrorResponse),
    )
)]
pub(crate) async fn list_group_users(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_users_in_group").await?;
    let gid = path.into_inner();
    let rows = id
        .read(move |c| {
            groups::group(c, &gid)?;
            groups::members(c, &gid)
        })
        .await?;
    let base = base_url(&req);
    Ok(HttpResponse::Ok().json(UsersResponse {
        users: rows
            .into_iter()
            .map(|u| user_json(&base, u.redacted()))
            .collect(),
        links: collection_links(&req),
    }))
}

/// Adds a user to a group (admin); adding twice is a no-op.
#[utoipa::path(
    put,
    path = "/v3/groups/{group_id}/users/{user_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Added"), (status = 404, description = "No such group or user", body = ErrorResponse))
)]
pub(crate) async fn add_group_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:add_user_to_group").await?;
    let (gid, uid) = path.into_inner();
    id.write(move |c| {
        groups::group(c, &gid)?;
        store::require_user(c, &uid)?;
        groups::add_member(c, &gid, &uid)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Checks that a user is in a group (admin, or a system reader): 204, or
/// 404.
#[utoipa::path(
    head,
    path = "/v3/groups/{group_id}/users/{user_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "A member"), (status = 404, description = "Not a member"))
)]
pub(crate) async fn check_group_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:check_user_in_group").await?;
    let (gid, uid) = path.into_inner();
    id.read(move |c| {
        groups::group(c, &gid)?;
        store::require_user(c, &uid)?;
        if groups::is_member(c, &gid, &uid)? {
            Ok(())
        } else {
            Err(groups::not_member(&gid, &uid))
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET` on a membership: the same check as `HEAD`.
#[utoipa::path(
    get,
    path = "/v3/groups/{group_id}/users/{user_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "A member"), (status = 404, description = "Not a member", body = ErrorResponse))
)]
pub(crate) async fn get_group_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    check_group_user(req, id, path).await
}

/// Removes a user from a group and revokes the user's tokens (admin).
#[utoipa::path(
    delete,
    path = "/v3/groups/{group_id}/users/{user_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not a member", body = ErrorResponse))
)]
pub(crate) async fn remove_group_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:remove_user_from_group").await?;
    let (gid, uid) = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            groups::group(c, &gid)?;
            store::require_user(c, &uid)?;
            groups::remove_member_tx(c, &gid, &uid, exp)
        })
        .await?;
    id.apply(ch);
    Ok(HttpResponse::NoContent().finish())
}

/// The groups a user belongs to (the user, an admin or a system reader).
#[utoipa::path(
    get,
    path = "/v3/users/{user_id}/groups",
    tag = "groups",
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Groups", body = GroupsResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    )
)]
pub(crate) async fn list_user_groups(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let uid = path.into_inner();
    if ctx.user_id != uid && !ctx.is_admin() && !ctx.is_system_reader() {
        return Err(Error::Forbidden {
            action: "identity:list_groups_for_user".into(),
        });
    }
    let rows = id
        .read(move |c| {
            store::require_user(c, &uid)?;
            groups::groups_of_user(c, &uid)
        })
        .await?;
    Ok(groups_response(&req, rows))
}

// ---- grants to groups ----

/// Checks that the project (when given), the group and the role (when
/// given) exist: 404 naming the first missing one.
fn grant_target(c: &mut db::Conn, pid: Option<&str>, gid: &str, rid: Option<&str>) -> Result<()> {
    if let Some(pid) = pid {
        store::require_project(c, pid)?;
    }
    groups::group(c, gid)?;
    if let Some(rid) = rid {
        store::require_role(c, rid)?;
    }
    Ok(())
}

async fn list_grants(
    req: HttpRequest,
    id: &Identity,
    pid: Option<String>,
    gid: String,
) -> Result<HttpResponse> {
    reader_caller(&req, id, "identity:list_grants").await?;
    let rows = id
        .read(move |c| {
            grant_target(c, pid.as_deref(), &gid, None)?;
            let system = Some(pid.is_none());
            Ok(
                groups::list_grants(c, Some(&gid), pid.as_deref(), None, system)?
                    .into_iter()
                    .map(|a| a.role)
                    .collect(),
            )
        })
        .await?;
    Ok(roles_response(&req, rows))
}

async fn create_grant(
    req: HttpRequest,
    id: &Identity,
    pid: Option<String>,
    gid: String,
    rid: String,
) -> Result<HttpResponse> {
    admin_caller(&req, id, "identity:create_grant").await?;
    id.write(move |c| {
        grant_target(c, pid.as_deref(), &gid, Some(&rid))?;
        groups::add_grant(c, &gid, pid.as_deref(), &rid)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn check_grant(
    req: HttpRequest,
    id: &Identity,
    pid: Option<String>,
    gid: String,
    rid: String,
) -> Result<HttpResponse> {
    reader_caller(&req, id, "identity:check_grant").await?;
    id.read(move |c| {
        grant_target(c, pid.as_deref(), &gid, Some(&rid))?;
        if groups::has_grant(c, &gid, pid.as_deref(), &rid)? {
            Ok(())
        } else {
            Err(Error::AssignmentNotFound {
                role_id: rid,
                user_id: gid,
                project_id: pid.unwrap_or_else(|| store::SYSTEM.into()),
            })
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn revoke_grant(
    req: HttpRequest,
    id: &Identity,
    pid: Option<String>,
    gid: String,
    rid: String,
) -> Result<HttpResponse> {
    admin_caller(&req, id, "identity:revoke_grant").await?;
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            grant_target(c, pid.as_deref(), &gid, Some(&rid))?;
            groups::remove_grant_tx(c, &gid, pid.as_deref(), &rid, exp)
        })
        .await?;
    id.apply(ch);
    Ok(HttpResponse::NoContent().finish())
}

/// Roles a group holds on a project (admin, or a system reader).
#[utoipa::path(
    get,
    path = "/v3/projects/{project_id}/groups/{group_id}/roles",
    tag = "groups",
    params(("project_id" = String, Path, description = "Project id"), ("group_id" = String, Path, description = "Group id")),
    responses((status = 200, description = "Roles", body = RolesResponse))
)]
pub(crate) async fn list_project_group_grants(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (pid, gid) = path.into_inner();
    list_grants(req, &id, Some(pid), gid).await
}

/// Grants a role on a project to a group (admin); idempotent.
#[utoipa::path(
    put,
    path = "/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}",
    tag = "groups",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("group_id" = String, Path, description = "Group id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Granted"), (status = 404, description = "Unknown id", body = ErrorResponse))
)]
pub(crate) async fn create_project_group_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (pid, gid, rid) = path.into_inner();
    create_grant(req, &id, Some(pid), gid, rid).await
}

/// Checks a group's grant on a project: 204, or 404.
#[utoipa::path(
    head,
    path = "/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}",
    tag = "groups",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("group_id" = String, Path, description = "Group id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Granted"), (status = 404, description = "Not granted"))
)]
pub(crate) async fn check_project_group_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (pid, gid, rid) = path.into_inner();
    check_grant(req, &id, Some(pid), gid, rid).await
}

/// Removes a group's grant on a project and revokes its members' tokens
/// there (admin).
#[utoipa::path(
    delete,
    path = "/v3/projects/{project_id}/groups/{group_id}/roles/{role_id}",
    tag = "groups",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("group_id" = String, Path, description = "Group id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not granted", body = ErrorResponse))
)]
pub(crate) async fn revoke_project_group_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    let (pid, gid, rid) = path.into_inner();
    revoke_grant(req, &id, Some(pid), gid, rid).await
}

/// Roles a group holds on the system (admin, or a system reader).
#[utoipa::path(
    get,
    path = "/v3/system/groups/{group_id}/roles",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id")),
    responses((status = 200, description = "Roles", body = RolesResponse))
)]
pub(crate) async fn list_system_group_grants(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    list_grants(req, &id, None, path.into_inner()).await
}

/// Grants a role on the system to a group (admin); idempotent.
#[utoipa::path(
    put,
    path = "/v3/system/groups/{group_id}/roles/{role_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204, description = "Granted"), (status = 404, description = "Unknown id", body = ErrorResponse))
)]
pub(crate) async fn create_system_group_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (gid, rid) = path.into_inner();
    create_grant(req, &id, None, gid, rid).await
}

/// Checks a group's grant on the system: 204, or 404.
#[utoipa::path(
    head,
    path = "/v3/system/groups/{group_id}/roles/{role_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204, description = "Granted"), (status = 404, description = "Not granted"))
)]
pub(crate) async fn check_system_group_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (gid, rid) = path.into_inner();
    check_grant(req, &id, None, gid, rid).await
}

/// `GET` on a group's system grant: the same check as `HEAD`.
#[utoipa::path(
    get,
    path = "/v3/system/groups/{group_id}/roles/{role_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204, description = "Granted"), (status = 404, description = "Not granted", body = ErrorResponse))
)]
pub(crate) async fn get_system_group_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (gid, rid) = path.into_inner();
    check_grant(req, &id, None, gid, rid).await
}

/// Removes a group's grant on the system and revokes its members'
/// system-scoped tokens (admin).
#[utoipa::path(
    delete,
    path = "/v3/system/groups/{group_id}/roles/{role_id}",
    tag = "groups",
    params(("group_id" = String, Path, description = "Group id"), ("role_id" = String, Path, description = "Role id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not granted", body = ErrorResponse))
)]
pub(crate) async fn revoke_system_group_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (gid, rid) = path.into_inner();
    revoke_grant(req, &id, None, gid, rid).await
}
