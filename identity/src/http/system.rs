//! System role assignments (`/v3/system/users/{user_id}/roles`) and
//! `/v3/auth/system`: roles held on the deployment as a whole, which
//! system-scoped tokens carry.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{admin_caller, caller, collection_links, reader_caller};
use crate::dto::{AuthSystemResponse, ErrorResponse, RolesResponse, SystemRef};
use crate::error::{Error, Result};
use crate::{admin, store, Identity};

/// Checks that the user (and the role, when given) exist: 404 naming the
/// missing one, before anything else is looked at.
fn target(c: &mut db::Conn, uid: &str, rid: Option<&str>) -> Result<()> {
    store::require_user(c, uid)?;
    if let Some(rid) = rid {
        store::require_role(c, rid)?;
    }
    Ok(())
}

/// Roles a user holds on the system (admin, or a system reader).
#[utoipa::path(
    get,
    path = "/v3/system/users/{user_id}/roles",
    tag = "roles",
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Roles", body = RolesResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    )
)]
pub(crate) async fn list_system_grants(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_system_grants_for_user").await?;
    let uid = path.into_inner();
    let rows = id
        .read(move |c| {
            target(c, &uid, None)?;
            Ok(store::list_system_assignments(c, Some(&uid), None)?
                .into_iter()
                .map(|a| a.role)
                .collect())
        })
        .await?;
    Ok(super::roles::roles_response(&req, rows))
}

/// Grants a role on the system to a user (admin); idempotent.
#[utoipa::path(
    put,
    path = "/v3/system/users/{user_id}/roles/{role_id}",
    tag = "roles",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Granted"), (status = 404, description = "Unknown id", body = ErrorResponse))
)]
pub(crate) async fn create_system_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_system_grant_for_user").await?;
    let (uid, rid) = path.into_inner();
    id.write(move |c| {
        target(c, &uid, Some(&rid))?;
        admin::add_system_role_tx(c, &uid, &rid)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Checks a system grant (admin, or a system reader): 204 if it exists.
#[utoipa::path(
    head,
    path = "/v3/system/users/{user_id}/roles/{role_id}",
    tag = "roles",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Granted"), (status = 404, description = "Not granted"))
)]
pub(crate) async fn check_system_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:check_system_grant_for_user").await?;
    let (uid, rid) = path.into_inner();
    id.read(move |c| {
        target(c, &uid, Some(&rid))?;
        if store::list_system_assignments(c, Some(&uid), Some(&rid))?.is_empty() {
            return Err(Error::AssignmentNotFound {
                role_id: rid,
                user_id: uid,
                project_id: store::SYSTEM.into(),
            });
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET` on a system grant: the same check as `HEAD`.
#[utoipa::path(
    get,
    path = "/v3/system/users/{user_id}/roles/{role_id}",
    tag = "roles",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Granted"), (status = 404, description = "Not granted", body = ErrorResponse))
)]
pub(crate) async fn get_system_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    check_system_grant(req, id, path).await
}

/// Removes a system grant and revokes the user's system-scoped tokens
/// (admin).
#[utoipa::path(
    delete,
    path = "/v3/system/users/{user_id}/roles/{role_id}",
    tag = "roles",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not granted", body = ErrorResponse))
)]
pub(crate) async fn revoke_system_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:revoke_system_grant_for_user").await?;
    let (uid, rid) = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            target(c, &uid, Some(&rid))?;
            admin::remove_system_role_tx(c, &uid, &rid, exp)
        })
        .await?;
    id.apply(ch);
    Ok(HttpResponse::NoContent().finish())
}

/// The systems the caller's user may scope a token to: `[{"all": true}]`
/// when it holds a role on the system, else none.
#[utoipa::path(
    get,
    path = "/v3/auth/system",
    tag = "tokens",
    params(("X-Auth-Token" = String, Header, description = "Caller's token")),
    responses(
        (status = 200, description = "Systems", body = AuthSystemResponse),
        (status = 401, description = "Token invalid", body = ErrorResponse),
    )
)]
pub(crate) async fn auth_system(req: HttpRequest, id: web::Data<Identity>) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let uid = ctx.user_id.clone();
    let roles = id.read(move |c| store::system_role_names(c, &uid)).await?;
    Ok(HttpResponse::Ok().json(AuthSystemResponse {
        system: if roles.is_empty() {
            Vec::new()
        } else {
            vec![SystemRef::ALL]
        },
        links: collection_links(&req),
    }))
}
