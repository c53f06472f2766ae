//! Swift's v1 authentication (`GET /auth/v1.0`), backed by the Keystone
//! users and projects of the identity service.

use crate::http::{HttpRequest, HttpResponse, Response};

use crate::error::SwiftError;
use crate::util::header;
use crate::Swift;

/// `GET /auth/v1.0` with `X-Auth-User: <project>:<user>` and `X-Auth-Key`.
#[utoipa::path(get, path = "/auth/v1.0", tag = "auth",
    params(("X-Auth-User" = String, Header, description = "project:user"), ("X-Auth-Key" = String, Header)),
    responses((status = 200, description = "X-Auth-Token, X-Storage-Token, X-Storage-Url, X-Auth-Token-Expires"),
        (status = 401, description = "Bad credentials")))]
pub async fn login(req: &HttpRequest, swift: &Swift) -> Result<Response, SwiftError> {
    let h = req.headers();
    let user = header(h, "x-auth-user").or_else(|| header(h, "x-storage-user"));
    let key = header(h, "x-auth-key").or_else(|| header(h, "x-storage-pass"));
    let (Some(user), Some(key)) = (user, key) else {
        return Err(SwiftError::Unauthorized);
    };
    let (token, ctx) = swift
        .identity
        .tempauth_login(user, key)
        .await
        .map_err(|e| {
            tracing::info!(error = %e, "tempauth login refused");
            SwiftError::Unauthorized
        })?;
    let project = ctx.project_id.clone().unwrap_or_default();
    let url = format!(
        "{}/v1/{}{}",
        swift.cfg.public_url, swift.cfg.reseller_prefix, project
    );
    let expires = (ctx.expires_at - time::OffsetDateTime::now_utc())
        .whole_seconds()
        .max(0);
    Ok(HttpResponse::Ok()
        .insert_header(("X-Auth-Token", token.clone()))
        .insert_header(("X-Storage-Token", token))
        .insert_header(("X-Storage-Url", url))
        .insert_header(("X-Auth-Token-Expires", expires.to_string()))
        .content_type("text/plain; charset=UTF-8")
        .finish())
}
