//! The Keystone v3 HTTP API: routes, the header middleware every response
//! passes through, and helpers shared by the handler files
//! (`discovery`, `tokens`, `projects`, `users`, `roles`, `catalog`).
//!
//! Every response gets `x-openstack-request-id: req-<uuid>` and
//! `Vary: X-Auth-Token`; every 401 gets `WWW-Authenticate: Keystone
//! uri="<scheme>://<host>/v3"`, built from the request like Keystone's hrefs.

pub(crate) mod appcreds;
pub(crate) mod catalog;
pub(crate) mod discovery;
pub(crate) mod groups;
pub(crate) mod projects;
pub(crate) mod roles;
pub(crate) mod system;
pub(crate) mod tokens;
pub(crate) mod users;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, VARY, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpRequest};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::dto::CollectionLinks;
use crate::error::{Error, Result};
use crate::{AuthContext, Identity};

/// Header carrying the caller's token.
pub(crate) const AUTH_TOKEN: &str = "X-Auth-Token";
/// Header carrying the token being issued, validated or revoked.
pub(crate) const SUBJECT_TOKEN: &str = "X-Subject-Token";

/// Mounts the Keystone routes (`/` and `/v3/...`). Expects
/// `web::Data<Identity>` in the app data. Only these paths are claimed, so
/// the routes can share an `App` with other services.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .wrap(from_fn(keystone_headers))
            .route(web::get().to(discovery::versions))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::scope("/v3")
            .wrap(from_fn(keystone_headers))
            .service(res("").get(discovery::version_v3))
            .service(res("/").get(discovery::version_v3))
            .service(
                res("/auth/tokens")
                    .post(tokens::issue_token)
                    .get(tokens::validate_token)
                    .head(tokens::check_token)
                    .delete(tokens::revoke_token),
            )
            .service(res("/auth/catalog").get(tokens::auth_catalog))
            .service(res("/auth/projects").get(projects::auth_projects))
            .service(res("/auth/system").get(system::auth_system))
            .service(res("/system/users/{user_id}/roles").get(system::list_system_grants))
            .service(
                res("/system/users/{user_id}/roles/{role_id}")
                    .put(system::create_system_grant)
                    .get(system::get_system_grant)
                    .head(system::check_system_grant)
                    .delete(system::revoke_system_grant),
            )
            .service(
                res("/projects")
                    .get(projects::list_projects)
                    .post(projects::create_project),
            )
            .service(
                res("/projects/{project_id}")
                    .get(projects::get_project)
                    .patch(projects::update_project)
                    .delete(projects::delete_project),
            )
            .service(
                res("/projects/{project_id}/tags")
                    .get(projects::list_project_tags)
                    .put(projects::update_project_tags)
                    .delete(projects::delete_project_tags),
            )
            .service(
                res("/projects/{project_id}/tags/{tag}")
                    .get(projects::check_project_tag)
                    .head(projects::check_project_tag)
                    .put(projects::add_project_tag)
                    .delete(projects::delete_project_tag),
            )
            .service(res("/projects/{project_id}/users/{user_id}/roles").get(roles::list_grants))
            .service(
                res("/projects/{project_id}/users/{user_id}/roles/{role_id}")
                    .put(roles::create_grant)
                    .get(roles::check_grant)
                    .head(roles::check_grant)
                    .delete(roles::revoke_grant),
            )
            .service(
                res("/users")
                    .get(users::list_users)
                    .post(users::create_user),
            )
            .service(
                res("/users/{user_id}")
                    .get(users::get_user)
                    .patch(users::update_user)
                    .delete(users::delete_user),
            )
            .service(res("/users/{user_id}/password").post(users::change_password))
            .service(res("/users/{user_id}/projects").get(projects::list_user_projects))
            .service(res("/users/{user_id}/groups").get(groups::list_user_groups))
            .service(
                res("/users/{user_id}/application_credentials")
                    .get(appcreds::list_app_creds)
                    .post(appcreds::create_app_cred),
            )
            .service(
                res("/users/{user_id}/application_credentials/{application_credential_id}")
                    .get(appcreds::get_app_cred)
                    .delete(appcreds::delete_app_cred),
            )
            .service(
                res("/groups")
                    .get(groups::list_groups)
                    .post(groups::create_group),
            )
            .service(
                res("/groups/{group_id}")
                    .get(groups::get_group)
                    .patch(groups::update_group)
                    .delete(groups::delete_group),
            )
            .service(res("/groups/{group_id}/users").get(groups::list_group_users))
            .service(
                res("/groups/{group_id}/users/{user_id}")
                    .put(groups::add_group_user)
                    .get(groups::get_group_user)
                    .head(groups::check_group_user)
                    .delete(groups::remove_group_user),
            )
            .service(
                res("/projects/{project_id}/groups/{group_id}/roles")
                    .get(groups::list_project_group_grants),
            )
            .service(
                res("/projects/{project_id}/groups/{group_id}/roles/{role_id}")
                    .put(groups::create_project_group_grant)
                    .get(groups::check_project_group_grant)
                    .head(groups::check_project_group_grant)
                    .delete(groups::revoke_project_group_grant),
            )
            .service(res("/system/groups/{group_id}/roles").get(groups::list_system_group_grants))
            .service(
                res("/system/groups/{group_id}/roles/{role_id}")
                    .put(groups::create_system_group_grant)
                    .get(groups::get_system_group_grant)
                    .head(groups::check_system_group_grant)
                    .delete(groups::revoke_system_group_grant),
            )
            .service(
                res("/roles")
                    .get(roles::list_roles)
                    .post(roles::create_role),
            )
            .service(
                res("/roles/{role_id}")
                    .get(roles::get_role)
                    .patch(roles::update_role)
                    .delete(roles::delete_role),
            )
            .service(res("/role_assignments").get(roles::list_role_assignments))
            .service(
                res("/domains")
                    .get(roles::list_domains)
                    .post(roles::create_domain),
            )
            .service(
                res("/domains/{domain_id}")
                    .get(roles::get_domain)
                    .patch(roles::update_domain)
                    .delete(roles::delete_domain),
            )
            .service(res("/services").get(catalog::list_services))
            .service(res("/services/{service_id}").get(catalog::get_service))
            .service(res("/endpoints").get(catalog::list_endpoints))
            .service(res("/endpoints/{endpoint_id}").get(catalog::get_endpoint))
            .service(res("/regions").get(catalog::list_regions))
            .service(res("/regions/{region_id}").get(catalog::get_region))
            .default_service(web::to(no_route)),
    );
}

/// A resource whose unknown methods get Keystone's 405 body.
struct Res(actix_web::Resource);

fn res(path: &str) -> Res {
    Res(web::resource(path).default_service(web::to(method_not_allowed)))
}

macro_rules! method {
    ($name:ident, $route:ident) => {
        fn $name<F, Args>(self, handler: F) -> Res
        where
            F: actix_web::Handler<Args>,
            Args: actix_web::FromRequest + 'static,
            F::Output: actix_web::Responder + 'static,
        {
            Res(self.0.route(web::$route().to(handler)))
        }
    };
}

impl Res {
    method!(get, get);
    method!(post, post);
    method!(put, put);
    method!(patch, patch);
    method!(head, head);
    method!(delete, delete);
}

impl actix_web::dev::HttpServiceFactory for Res {
    fn register(self, config: &mut actix_web::dev::AppService) {
        self.0.register(config)
    }
}

async fn no_route() -> Result<actix_web::HttpResponse> {
    Err(Error::NoRoute)
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse> {
    Err(Error::MethodNotAllowed)
}

async fn keystone_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<BoxBody>> {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let base = base_url(req.request());
    let span = tracing::info_span!("keystone", request_id = %request_id, method = %req.method(), path = %req.path());
    // Handler and extractor errors arrive here already turned into
    // responses; an `Err` is actix's own failure and passes through.
    let mut res = next.call(req).instrument(span).await?.map_into_boxed_body();
    let unauthorized = res.status() == StatusCode::UNAUTHORIZED;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-openstack-request-id"), v);
    }
    h.insert(VARY, HeaderValue::from_static("X-Auth-Token"));
    if unauthorized {
        if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{base}/v3\"")) {
            h.insert(WWW_AUTHENTICATE, v);
        }
    }
    Ok(res)
}

/// `scheme://host[:port]` as the client addressed us (Host header, or a
/// Forwarded header from a proxy), the base of every href.
pub(crate) fn base_url(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

/// Links of a collection served at the request's path.
pub(crate) fn collection_links(req: &HttpRequest) -> CollectionLinks {
    CollectionLinks {
        next: None,
        self_: format!("{}{}", base_url(req), req.path()),
        previous: None,
    }
}

/// A header's value, if present and valid text.
pub(crate) fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Validates the caller's `X-Auth-Token`.
pub(crate) async fn caller(req: &HttpRequest, id: &Identity) -> Result<AuthContext> {
    let token = header(req, AUTH_TOKEN).ok_or(Error::Unauthorized)?;
    id.validate(token).await
}

/// Validates the caller's token and requires the admin role for `action`.
pub(crate) async fn admin_caller(
    req: &HttpRequest,
    id: &Identity,
    action: &str,
) -> Result<AuthContext> {
    let ctx = caller(req, id).await?;
    if !ctx.is_admin() {
        return Err(Error::Forbidden {
            action: action.into(),
        });
    }
    Ok(ctx)
}

/// Validates the caller's token and requires, for the read-only `action`,
/// the admin role or a system-scoped token holding reader (Keystone's
/// default policy for reading identity resources).
pub(crate) async fn reader_caller(
    req: &HttpRequest,
    id: &Identity,
    action: &str,
) -> Result<AuthContext> {
    let ctx = caller(req, id).await?;
    if !ctx.is_admin() && !ctx.is_system_reader() {
        return Err(Error::Forbidden {
            action: action.into(),
        });
    }
    Ok(ctx)
}

/// The query string as a map; a key without value maps to "".
pub(crate) fn query(req: &HttpRequest) -> Result<HashMap<String, String>> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| Error::BadRequest(format!("Invalid query string: {e}")))
}

/// A boolean query flag as Keystone reads it: present and not false/0/no.
pub(crate) fn query_flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        )
    })
}

/// The `enabled` filter of a list, as Keystone reads it: absent, or
/// false for `false`, `0`, `no`, `off`, `n`, `f` and true otherwise.
pub(crate) fn enabled_filter(q: &HashMap<String, String>) -> Option<bool> {
    q.get("enabled").map(|v| {
        !matches!(
            v.to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off" | "n" | "f"
        )
    })
}

/// Parses a JSON request body into `T` with Keystone's 400 answers.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            Error::BadRequest(format!("Invalid input for request body: {e}"))
        }
        _ => Error::BadRequest(
            "Expecting to find valid JSON in request body. The server could not comply with the \
             request since it is either malformed or otherwise incorrect. The client is assumed \
             to be in error."
                .into(),
        ),
    })
}
