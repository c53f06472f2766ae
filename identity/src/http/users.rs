//! Users: `/v3/users`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{admin_caller, base_url, caller, collection_links, parse_json, query, reader_caller};
use crate::dto::{
    ChangePasswordRequest, CreateUserRequest, ErrorResponse, SelfLink, UpdateUserRequest, User,
    UserResponse, UsersResponse,
};
use crate::error::{Error, Result};
use crate::store::{self, NewUser, UserRow, DEFAULT_DOMAIN_ID};
use crate::{admin, password, Identity};

/// Members of a user body that are not further attributes.
const USER_FIELDS: [&str; 9] = [
    "id",
    "name",
    "domain_id",
    "default_project_id",
    "password",
    "enabled",
    "links",
    "options",
    "password_expires_at",
];

/// Longest JSON text of a user's further attributes.
const MAX_EXTRA: usize = 64 << 10;

/// The further attributes of a `{"user": {...}}` body (description, email,
/// anything outside Keystone's user schema), which Keystone keeps.
fn user_extra(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let v: serde_json::Value = parse_json(body)?;
    let mut m = match v.get("user") {
        Some(serde_json::Value::Object(m)) => m.clone(),
        _ => return Ok(serde_json::Map::new()),
    };
    m.retain(|k, _| !USER_FIELDS.contains(&k.as_str()));
    if serde_json::Value::Object(m.clone()).to_string().len() > MAX_EXTRA {
        return Err(Error::BadRequest(format!(
            "Invalid input for field 'user': attributes beyond the schema exceed {MAX_EXTRA} bytes"
        )));
    }
    Ok(m)
}

pub(crate) fn user_json(base: &str, u: UserRow) -> User {
    let extra = store::user_extra(&u);
    User {
        extra,
        links: SelfLink {
            self_: format!("{base}/v3/users/{}", u.id),
        },
        id: u.id,
        name: u.name,
        domain_id: u.domain_id,
        default_project_id: u.default_project_id,
        enabled: u.enabled,
        password_expires_at: None,
        options: serde_json::json!({}),
    }
}

/// All users (admin), optionally filtered by `name` and `domain_id`.
#[utoipa::path(
    get,
    path = "/v3/users",
    tag = "users",
    params(
        ("name" = Option<String>, Query, description = "Exact name"),
        ("domain_id" = Option<String>, Query, description = "Domain id"),
        ("enabled" = Option<bool>, Query, description = "Only enabled (or disabled) users"),
    ),
    responses(
        (status = 200, description = "Users", body = UsersResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
    )
)]
pub(crate) async fn list_users(req: HttpRequest, id: web::Data<Identity>) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_users").await?;
    let q = query(&req)?;
    let enabled = super::enabled_filter(&q);
    let mut rows = id
        .read(move |c| {
            store::list_users(
                c,
                q.get("name").map(String::as_str),
                q.get("domain_id").map(String::as_str),
            )
        })
        .await?;
    rows.retain(|u| enabled.is_none_or(|e| u.enabled == e));
    let base = base_url(&req);
    Ok(HttpResponse::Ok().json(UsersResponse {
        users: rows.into_iter().map(|u| user_json(&base, u)).collect(),
        links: collection_links(&req),
    }))
}

/// One user: admins, or the user themself.
#[utoipa::path(
    get,
    path = "/v3/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 403, description = "Not allowed", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    )
)]
pub(crate) async fn get_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let uid = path.into_inner();
    if !ctx.is_admin() && !ctx.is_system_reader() && ctx.user_id != uid {
        return Err(Error::Forbidden {
            action: "identity:get_user".into(),
        });
    }
    let u = id
        .read(move |c| {
            store::user(c, &uid)?.ok_or(Error::NotFound {
                kind: "user",
                id: uid,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(UserResponse {
        user: user_json(&base_url(&req), u),
    }))
}

/// Creates a user (admin).
#[utoipa::path(
    post,
    path = "/v3/users",
    tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserResponse),
        (status = 400, description = "Malformed", body = ErrorResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn create_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_user").await?;
    let r: CreateUserRequest = parse_json(&body)?;
    let extra = serde_json::Value::Object(user_extra(&body)?).to_string();
    let u = r.user;
    let password_hash = match u.password {
        Some(pw) => password::hash_async(pw).await?,
        None => String::new(),
    };
    let new = NewUser {
        name: u.name,
        domain_id: u.domain_id.unwrap_or_else(|| DEFAULT_DOMAIN_ID.into()),
        default_project_id: u.default_project_id,
        password_hash,
        enabled: u.enabled.unwrap_or(true),
        extra,
    };
    let row = id.write(move |c| store::create_user(c, new)).await?;
    tracing::info!(user_id = %row.id, "user created");
    Ok(HttpResponse::Created().json(UserResponse {
        user: user_json(&base_url(&req), row),
    }))
}

/// Deletes a user, their role assignments and tokens (admin).
#[utoipa::path(
    delete,
    path = "/v3/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    )
)]
pub(crate) async fn delete_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:delete_user").await?;
    let uid = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            store::user(c, &uid)?.ok_or_else(|| Error::NotFound {
                kind: "user",
                id: uid.clone(),
            })?;
            admin::delete_user_tx(c, &uid, exp)
        })
        .await?;
    let u = id.apply(ch);
    tracing::info!(user_id = %u.id, "user deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Changes a user's name, password, default project or enabled flag
/// (admin). A new password or disabling revokes the user's tokens; the
/// domain and id cannot change.
#[utoipa::path(
    patch,
    path = "/v3/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserResponse),
        (status = 400, description = "Malformed, or a field that cannot change", body = ErrorResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 404, description = "No such user or default project", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn update_user(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:update_user").await?;
    let uid = path.into_inner();
    let r: UpdateUserRequest = parse_json(&body)?;
    let extra = user_extra(&body)?;
    let u = r.user;
    if u.id.as_ref().is_some_and(|i| *i != uid) {
        return Err(Error::BadRequest("Cannot change user ID".into()));
    }
    // Hashing is slow on purpose: done before the transaction, not in it.
    let password_hash = match u.password {
        Some(Some(pw)) => Some(password::hash_async(pw).await?),
        Some(None) => Some(String::new()),
        None => None,
    };
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            let cur = store::user(c, &uid)?.ok_or_else(|| Error::NotFound {
                kind: "user",
                id: uid.clone(),
            })?;
            if u.domain_id.as_ref().is_some_and(|d| *d != cur.domain_id) {
                return Err(Error::BadRequest("Cannot change Domain ID".into()));
            }
            let changes = admin::UserChanges {
                name: u.name,
                default_project_id: u.default_project_id,
                enabled: u.enabled,
                password_hash,
                extra,
            };
            admin::update_user_tx(c, &uid, changes, exp)
        })
        .await?;
    let u = id.apply(ch);
    tracing::info!(user_id = %u.id, enabled = u.enabled, "user updated");
    Ok(HttpResponse::Ok().json(UserResponse {
        user: user_json(&base_url(&req), u),
    }))
}

/// A user changes their own password, proving the original one (no token
/// needed, as in Keystone, so a user whose password expired can still
/// change it). Revokes the user's tokens.
#[utoipa::path(
    post,
    path = "/v3/users/{user_id}/password",
    tag = "users",
    params(("user_id" = String, Path, description = "User id")),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Malformed", body = ErrorResponse),
        (status = 401, description = "Unknown or disabled user, or wrong original password", body = ErrorResponse),
    )
)]
pub(crate) async fn change_password(
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let uid = path.into_inner();
    let r: ChangePasswordRequest = parse_json(&body)?;
    let pc = r.user;
    let denied =
        |why: &str| Error::UnauthorizedMessage(format!("Error when changing user password: {why}"));
    let lookup = uid.clone();
    let user = id
        .read(move |c| {
            // A user of a disabled domain is disabled too, as Keystone's
            // assert_user_enabled has it.
            Ok(store::user(c, &lookup)?.map(|mut u| {
                u.enabled = u.enabled && crate::authn::domain_enabled(c, &u.domain_id);
                u
            }))
        })
        .await?;
    let Some(user) = user else {
        // The cost of a real check, so timing does not tell which ids exist.
        password::waste_a_verification(pc.original_password).await;
        return Err(denied("Invalid user / password"));
    };
    if !password::verify_async(user.password_hash.clone(), pc.original_password).await? {
        return Err(denied("Invalid user / password"));
    }
    if !user.enabled {
        return Err(denied("User is disabled"));
    }
    let hash = password::hash_async(pc.password).await?;
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            let changes = admin::UserChanges {
                password_hash: Some(hash),
                ..Default::default()
            };
            admin::update_user_tx(c, &uid, changes, exp)
        })
        .await?;
    let u = id.apply(ch);
    tracing::info!(user_id = %u.id, "password changed by the user");
    Ok(HttpResponse::NoContent().finish())
}
