//! `/v3/auth/tokens` (issue, validate, check, revoke) and `/v3/auth/catalog`.

use actix_web::{web, HttpRequest, HttpResponse};
use time::OffsetDateTime;

use super::{caller, header, query, SUBJECT_TOKEN};
use crate::config::Service;
use crate::dto::{
    AuthRequest, CatalogEndpoint, CatalogEntry, CatalogResponse, DomainRef, ErrorResponse, RoleRef,
    SystemRef, Token, TokenAppCred, TokenProject, TokenResponse, TokenUser,
};
use crate::error::{Error, Result};
use crate::token::Claims;
use crate::{authn, store, AuthContext, Identity};

/// Keystone's timestamp shape: `2026-11-21T06:35:04.000000Z`.
pub(crate) fn keystone_time(secs: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub(crate) fn catalog_json(id: &Identity, services: Vec<Service>) -> Vec<CatalogEntry> {
    let region = id.catalog().region().to_string();
    services
        .into_iter()
        .map(|s| CatalogEntry {
            endpoints: s
                .endpoints
                .into_iter()
                .map(|e| CatalogEndpoint {
                    id: e.id,
                    interface: e.interface.into(),
                    region_id: region.clone(),
                    url: e.url,
                    region: region.clone(),
                })
                .collect(),
            id: s.id,
            service_type: s.service_type,
            name: s.name,
        })
        .collect()
}

/// The token document for `c`. Names of domains and role ids come from the
/// database; a user or project deleted since issue makes this `NotFound`.
pub(crate) async fn render_token(id: &Identity, c: &Claims, with_catalog: bool) -> Result<Token> {
    let cl = c.clone();
    let (user_domain, project_domain, roles) = id
        .read(move |conn| {
            let ud = store::domain(conn, &cl.udm)?;
            let pd = match &cl.pdm {
                Some(d) => Some(store::domain(conn, d)?),
                None => None,
            };
            let roles = store::roles_by_names(conn, &cl.roles)?;
            Ok((ud, pd, roles))
        })
        .await?;
    let dref = |d: store::DomainRow| DomainRef {
        id: d.id,
        name: d.name,
    };
    let scoped = c.pid.is_some() || c.sys;
    let project = match (&c.pid, &c.pnm, project_domain) {
        (Some(pid), Some(pnm), Some(pd)) => Some(TokenProject {
            domain: dref(pd),
            id: pid.clone(),
            name: pnm.clone(),
        }),
        _ => None,
    };
    Ok(Token {
        methods: c.mth.clone(),
        user: TokenUser {
            domain: dref(user_domain),
            id: c.sub.clone(),
            name: c.unm.clone(),
            password_expires_at: None,
        },
        audit_ids: c.to_context().audit_ids(),
        expires_at: keystone_time(c.exp),
        issued_at: keystone_time(c.iat),
        is_domain: project.is_some().then_some(false),
        project,
        system: c.sys.then_some(SystemRef::ALL),
        application_credential: match (&c.apc, &c.apn) {
            (Some(id), Some(name)) => Some(TokenAppCred {
                id: id.clone(),
                name: name.clone(),
                restricted: c.apr,
            }),
            _ => None,
        },
        roles: scoped.then(|| {
            roles
                .into_iter()
                .map(|r| RoleRef {
                    id: r.id,
                    name: r.name,
                })
                .collect()
        }),
        catalog: (scoped && with_catalog)
            .then(|| catalog_json(id, id.catalog().render(c.pid.as_deref()))),
    })
}

/// Authenticates with a password (or re-scopes a token) and issues a token.
#[utoipa::path(
    post,
    path = "/v3/auth/tokens",
    tag = "tokens",
    request_body = AuthRequest,
    params(("nocatalog" = Option<String>, Query, description = "Leave the catalog out")),
    responses(
        (status = 201, description = "Token issued", body = TokenResponse,
            headers(("X-Subject-Token" = String, description = "The new token"))),
        (status = 400, description = "Malformed request", body = ErrorResponse),
        (status = 401, description = "Authentication failed", body = ErrorResponse),
    )
)]
pub(crate) async fn issue_token(
    req: HttpRequest,
    id: web::Data<Identity>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let auth: AuthRequest = super::parse_json(&body)?;
    let (token, claims) = authn::authenticate(&id, auth).await?;
    let nocatalog = query(&req)?.contains_key("nocatalog");
    let doc = render_token(&id, &claims, !nocatalog).await?;
    Ok(HttpResponse::Created()
        .insert_header((SUBJECT_TOKEN, token))
        .json(TokenResponse { token: doc }))
}

/// The caller and the subject token's claims; the caller must be the
/// subject's user or an admin (Keystone's `service_admin_or_token_subject`).
async fn subject(
    req: &HttpRequest,
    id: &Identity,
    action: &str,
) -> Result<(AuthContext, Claims, String)> {
    let ctx = caller(req, id).await?;
    let token = header(req, SUBJECT_TOKEN)
        .ok_or(Error::TokenNotFound)?
        .to_string();
    let claims = id.validate_claims(&token).await.map_err(|e| match e {
        Error::Unauthorized => Error::TokenNotFound,
        other => other,
    })?;
    if claims.sub != ctx.user_id && !ctx.is_admin() {
        return Err(Error::Forbidden {
            action: action.into(),
        });
    }
    Ok((ctx, claims, token))
}

fn gone(e: Error) -> Error {
    match e {
        Error::NotFound { .. } => Error::TokenNotFound,
        other => other,
    }
}

/// Validates `X-Subject-Token` and describes it.
#[utoipa::path(
    get,
    path = "/v3/auth/tokens",
    tag = "tokens",
    params(
        ("X-Auth-Token" = String, Header, description = "Caller's token"),
        ("X-Subject-Token" = String, Header, description = "Token to validate"),
        ("nocatalog" = Option<String>, Query, description = "Leave the catalog out"),
    ),
    responses(
        (status = 200, description = "Valid", body = TokenResponse,
            headers(("X-Subject-Token" = String, description = "The validated token"))),
        (status = 401, description = "Caller's token invalid", body = ErrorResponse),
        (status = 403, description = "Neither admin nor the token's user", body = ErrorResponse),
        (status = 404, description = "Subject token invalid", body = ErrorResponse),
    )
)]
pub(crate) async fn validate_token(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    let (_, claims, token) = subject(&req, &id, "identity:validate_token").await?;
    let nocatalog = query(&req)?.contains_key("nocatalog");
    let doc = render_token(&id, &claims, !nocatalog).await.map_err(gone)?;
    Ok(HttpResponse::Ok()
        .insert_header((SUBJECT_TOKEN, token))
        .json(TokenResponse { token: doc }))
}

/// Checks `X-Subject-Token`: 200 if valid, 404 if not.
#[utoipa::path(
    head,
    path = "/v3/auth/tokens",
    tag = "tokens",
    params(
        ("X-Auth-Token" = String, Header, description = "Caller's token"),
        ("X-Subject-Token" = String, Header, description = "Token to check"),
    ),
    responses(
        (status = 200, description = "Valid"),
        (status = 401, description = "Caller's token invalid"),
        (status = 404, description = "Subject token invalid"),
    )
)]
pub(crate) async fn check_token(req: HttpRequest, id: web::Data<Identity>) -> Result<HttpResponse> {
    let (_, _, token) = subject(&req, &id, "identity:check_token").await?;
    Ok(HttpResponse::Ok()
        .insert_header((SUBJECT_TOKEN, token))
        .finish())
}

/// Revokes `X-Subject-Token` (and tokens re-scoped from it).
#[utoipa::path(
    delete,
    path = "/v3/auth/tokens",
    tag = "tokens",
    params(
        ("X-Auth-Token" = String, Header, description = "Caller's token"),
        ("X-Subject-Token" = String, Header, description = "Token to revoke"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Caller's token invalid", body = ErrorResponse),
        (status = 403, description = "Neither admin nor the token's user", body = ErrorResponse),
        (status = 404, description = "Subject token invalid", body = ErrorResponse),
    )
)]
pub(crate) async fn revoke_token(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    let (ctx, claims, _) = subject(&req, &id, "identity:revoke_token").await?;
    id.revoke_audit(claims.aid.clone(), claims.exp.saturating_mul(1_000_000))
        .await?;
    tracing::info!(by = %ctx.user_id, audit_id = %claims.aid, "token revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// The service catalog of the caller's project-scoped token.
#[utoipa::path(
    get,
    path = "/v3/auth/catalog",
    tag = "tokens",
    params(("X-Auth-Token" = String, Header, description = "Caller's token")),
    responses(
        (status = 200, description = "Catalog", body = CatalogResponse),
        (status = 401, description = "Token invalid", body = ErrorResponse),
        (status = 403, description = "Token is not project-scoped", body = ErrorResponse),
    )
)]
pub(crate) async fn auth_catalog(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let pid = ctx.project_id.as_deref().ok_or_else(|| {
        Error::ForbiddenMessage(
            "A project-scoped token is required to produce a service catalog.".into(),
        )
    })?;
    let catalog = catalog_json(&id, id.catalog().render(Some(pid)));
    Ok(HttpResponse::Ok().json(CatalogResponse { catalog }))
}
