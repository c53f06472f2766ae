//! Application credentials: `/v3/users/{user_id}/application_credentials`.

use actix_web::{web, HttpRequest, HttpResponse};
use time::OffsetDateTime;

use super::{base_url, caller, collection_links, parse_json, query};
use crate::appcred::{self, AppCredRow};
use crate::dto::{
    AppCred, AppCredResponse, AppCredRole, AppCredsResponse, CreateAppCredRequest, ErrorResponse,
    SelfLink,
};
use crate::error::{Error, Result};
use crate::{password, store, AuthContext, Identity};

/// Keystone's expiry shape: `2026-11-21T06:35:04.123456` (UTC).
fn expiry_json(micros: i64) -> String {
    let t = super::tokens::keystone_time(micros.div_euclid(1_000_000));
    format!("{}{:06}", &t[..20], micros.rem_euclid(1_000_000))
}

/// Parses an ISO 8601 expiry into microseconds since the epoch; one
/// without offset is UTC, as Keystone reads it.
fn parse_expiry(s: &str) -> Result<i64> {
    use time::format_description::well_known::Iso8601;
    let bad = || {
        Error::BadRequest(format!(
            "Invalid input for field 'expires_at': {s:?} is not an ISO 8601 time"
        ))
    };
    let t = match OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        Ok(t) => t,
        Err(_) => time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
            .map_err(|_| bad())?
            .assume_utc(),
    };
    i64::try_from(t.unix_timestamp_nanos() / 1000).map_err(|_| bad())
}

fn cred_json(base: &str, row: AppCredRow, roles: Vec<store::RoleRow>) -> AppCred {
    AppCred {
        links: SelfLink {
            self_: format!(
                "{base}/v3/users/{}/application_credentials/{}",
                row.user_id, row.id
            ),
        },
        id: row.id,
        name: row.name,
        description: row.description,
        expires_at: row.expires_at.map(expiry_json),
        project_id: row.project_id,
        user_id: row.user_id,
        roles: roles
            .into_iter()
            .map(|r| AppCredRole {
                id: r.id,
                name: r.name,
                domain_id: None,
            })
            .collect(),
        unrestricted: row.unrestricted,
        access_rules: Vec::new(),
        secret: None,
    }
}

/// The caller, if it may read `uid`'s credentials: the user, an admin or a
/// system reader.
async fn reader_of(
    req: &HttpRequest,
    id: &Identity,
    uid: &str,
    action: &str,
) -> Result<AuthContext> {
    let ctx = caller(req, id).await?;
    if ctx.user_id != uid && !ctx.is_admin() && !ctx.is_system_reader() {
        return Err(Error::Forbidden {
            action: action.into(),
        });
    }
    Ok(ctx)
}

/// A restricted credential's token may not manage credentials (Keystone's
/// words).
fn unrestricted(ctx: &AuthContext) -> Result<()> {
    if ctx.restricted {
        return Err(Error::ForbiddenMessage(
            "Using method 'application_credential' is not allowed for managing additional \
             application credentials."
                .into(),
        ));
    }
    Ok(())
}

/// Creates an application credential for the caller on the caller's
/// project, delegating the given roles (default: all the token's); the
/// answer carries the secret, which is never shown again.
#[utoipa::path(
    post,
    path = "/v3/users/{user_id}/application_credentials",
    tag = "application credentials",
    params(("user_id" = String, Path, description = "User id (the caller's own)")),
    request_body = CreateAppCredRequest,
    responses(
        (status = 201, description = "Created, with its secret", body = AppCredResponse),
        (status = 400, description = "Malformed", body = ErrorResponse),
        (status = 403, description = "Not the caller's own, not project-scoped, or from a restricted credential", body = ErrorResponse),
        (status = 404, description = "A role the token does not hold", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn create_app_cred(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let uid = path.into_inner();
    if ctx.user_id != uid {
        return Err(Error::Forbidden {
            action: "identity:create_application_credential".into(),
        });
    }
    unrestricted(&ctx)?;
    let project_id = ctx.project_id.clone().ok_or_else(|| {
        Error::ForbiddenMessage(
            "An application credential is created with a project-scoped token.".into(),
        )
    })?;
    let n = parse_json::<CreateAppCredRequest>(&body)?.application_credential;
    if n.name.trim().is_empty() || n.name.chars().count() > 255 {
        return Err(Error::BadRequest(
            "Invalid input for field 'name': 1 to 255 characters".into(),
        ));
    }
    if n.access_rules.as_ref().is_some_and(|r| !r.is_empty()) {
        return Err(Error::BadRequest(
            "Invalid input for field 'access_rules': access rules are not supported".into(),
        ));
    }
    let expires_at = n.expires_at.as_deref().map(parse_expiry).transpose()?;
    if expires_at.is_some_and(|e| e <= db::now_micros()) {
        return Err(Error::BadRequest(
            "Invalid input for field 'expires_at': the expiry must be in the future".into(),
        ));
    }
    let secret = n.secret.clone().unwrap_or_else(appcred::generate_secret);
    if secret.is_empty() {
        return Err(Error::BadRequest(
            "Invalid input for field 'secret': an empty secret".into(),
        ));
    }
    let secret_hash = password::hash_async(secret.clone()).await?;
    let token_roles = ctx.roles.clone();
    let from_app_cred = ctx.application_credential.is_some();
    let wanted = n.roles.clone();
    let row = AppCredRow {
        id: store::new_id(),
        name: n.name.clone(),
        user_id: uid.clone(),
        project_id: project_id.clone(),
        description: n.description.clone(),
        secret_hash,
        expires_at,
        unrestricted: n.unrestricted.unwrap_or(false),
        roles: String::new(),
        created_at: OffsetDateTime::now_utc().unix_timestamp(),
    };
    let (row, roles) = id
        .write(move |c| {
            // Keystone's answer for a role the token does not hold; an
            // unknown role gets the same.
            let not_held = |_: &str| {
                Error::BadRequest(
                    "Invalid application credential: Cannot create an application credential \
                     with unassigned role"
                        .into(),
                )
            };
            // The token's roles as Keystone computes them when it validates
            // the token: what the user holds on the project now (a role
            // granted since issue counts), or for an unrestricted
            // credential's token only what that credential delegates.
            let held = if from_app_cred {
                token_roles.clone()
            } else {
                crate::context::expand_implied(&store::assigned_role_names(c, &uid, &project_id)?)
            };
            let mut roles: Vec<store::RoleRow> = Vec::new();
            match wanted {
                Some(list) if !list.is_empty() => {
                    for sel in list {
                        let r = match (&sel.id, &sel.name) {
                            (Some(rid), _) => store::role(c, rid)?,
                            (None, Some(name)) => store::list_roles(c, Some(name))?.pop(),
                            (None, None) => {
                                return Err(Error::BadRequest(
                                    "Invalid input for field 'roles': a role needs an id or a \
                                     name"
                                        .into(),
                                ))
                            }
                        };
                        let label = sel.id.or(sel.name).unwrap_or_default();
                        let r = r.ok_or_else(|| not_held(&label))?;
                        if !held.contains(&r.name) {
                            return Err(not_held(&r.id));
                        }
                        if !roles.contains(&r) {
                            roles.push(r);
                        }
                    }
                }
                _ => roles = store::roles_by_names(c, &token_roles)?,
            }
            let ids: Vec<&str> = roles.iter().map(|r| r.id.as_str()).collect();
            let mut row = row;
            row.roles = serde_json::Value::from(ids).to_string();
            appcred::insert(c, &row)?;
            Ok((row, roles))
        })
        .await?;
    tracing::info!(application_credential = %row.id, user_id = %row.user_id, "application credential created");
    let mut doc = cred_json(&base_url(&req), row, roles);
    doc.secret = Some(secret);
    Ok(HttpResponse::Created().json(AppCredResponse {
        application_credential: doc,
    }))
}

/// A user's application credentials (the user, an admin or a system
/// reader), optionally only the one named `name`.
#[utoipa::path(
    get,
    path = "/v3/users/{user_id}/application_credentials",
    tag = "application credentials",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("name" = Option<String>, Query, description = "Exact name"),
    ),
    responses((status = 200, description = "Credentials, without secrets", body = AppCredsResponse))
)]
pub(crate) async fn list_app_creds(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let uid = path.into_inner();
    reader_of(&req, &id, &uid, "identity:list_application_credentials").await?;
    let q = query(&req)?;
    let rows = id
        .read(move |c| {
            let rows = appcred::list(c, &uid, q.get("name").map(String::as_str))?;
            rows.into_iter()
                .map(|r| {
                    let roles = appcred::roles_of(c, &r.role_ids())?;
                    Ok((r, roles))
                })
                .collect::<Result<Vec<_>>>()
        })
        .await?;
    let base = base_url(&req);
    Ok(HttpResponse::Ok().json(AppCredsResponse {
        application_credentials: rows
            .into_iter()
            .map(|(r, roles)| cred_json(&base, r, roles))
            .collect(),
        links: collection_links(&req),
    }))
}

/// One application credential (the user, an admin or a system reader).
#[utoipa::path(
    get,
    path = "/v3/users/{user_id}/application_credentials/{application_credential_id}",
    tag = "application credentials",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("application_credential_id" = String, Path, description = "Credential id"),
    ),
    responses(
        (status = 200, description = "The credential, without secret", body = AppCredResponse),
        (status = 404, description = "No such credential", body = ErrorResponse),
    )
)]
pub(crate) async fn get_app_cred(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (uid, cid) = path.into_inner();
    reader_of(&req, &id, &uid, "identity:get_application_credential").await?;
    let (row, roles) = id
        .read(move |c| {
            let row = appcred::get(c, &uid, &cid)?;
            let roles = appcred::roles_of(c, &row.role_ids())?;
            Ok((row, roles))
        })
        .await?;
    Ok(HttpResponse::Ok().json(AppCredResponse {
        application_credential: cred_json(&base_url(&req), row, roles),
    }))
}

/// Deletes an application credential and revokes its tokens (the user or
/// an admin; not with a restricted credential's token).
#[utoipa::path(
    delete,
    path = "/v3/users/{user_id}/application_credentials/{application_credential_id}",
    tag = "application credentials",
    params(
        ("user_id" = String, Path, description = "User id"),
        ("application_credential_id" = String, Path, description = "Credential id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not allowed", body = ErrorResponse),
        (status = 404, description = "No such credential", body = ErrorResponse),
    )
)]
pub(crate) async fn delete_app_cred(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let (uid, cid) = path.into_inner();
    if ctx.user_id != uid && !ctx.is_admin() {
        return Err(Error::Forbidden {
            action: "identity:delete_application_credential".into(),
        });
    }
    unrestricted(&ctx)?;
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| appcred::delete_tx(c, &uid, &cid, exp))
        .await?;
    id.apply(ch);
    Ok(HttpResponse::NoContent().finish())
}
