//! HTTP plumbing shared by the handlers: the response middleware (request
//! id, webob error bodies, `WWW-Authenticate`), the authenticated caller
//! extractor, and body/header helpers.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpRequest};
use tracing::Instrument;

use crate::error::{render, Format, GlanceError, KeystoneUnauthorized, Result, WebobError};
use crate::Glance;

/// Adds `x-openstack-request-id` to every response, renders webob error
/// bodies for the caller's `Accept`, and adds keystonemiddleware's
/// `WWW-Authenticate` to a 401.
pub(crate) async fn glance_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<BoxBody>> {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let fmt = Format::from_accept(
        req.headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty()),
    );
    let method = req.method().to_string();
    let auth_uri = req.app_data::<web::Data<Glance>>().map(|g| {
        g.identity
            .config()
            .public_url
            .trim_end_matches('/')
            .to_string()
    });
    let span = tracing::info_span!("glance", request_id = %request_id, method = %req.method(), path = %req.path());
    let res = next.call(req).instrument(span).await?;
    let webob = res.response().extensions().get::<WebobError>().cloned();
    let unauthorized = res
        .response()
        .extensions()
        .get::<KeystoneUnauthorized>()
        .is_some();
    let mut res = match webob {
        Some(parts) => res.map_body(move |head, _| {
            let (ctype, body) = render(&parts, fmt, &method);
            head.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
            BoxBody::new(body)
        }),
        _ => res.map_into_boxed_body(),
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-openstack-request-id"), v);
    }
    if unauthorized {
        if let Some(uri) = auth_uri {
            if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{uri}/v3\"")) {
                h.insert(WWW_AUTHENTICATE, v);
            }
        }
    }
    Ok(res)
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ctx: identity::AuthContext,
}

impl Caller {
    /// The project the token is scoped to ("" for an unscoped token, which
    /// owns nothing).
    pub fn project(&self) -> &str {
        self.ctx.project_id.as_deref().unwrap_or("")
    }

    /// Admin on a project: Glance's policies are project-scoped, so a
    /// system-scoped admin token administers identity, not images.
    pub fn is_admin(&self) -> bool {
        self.ctx.is_admin() && !self.ctx.system
    }

    /// Glance's default policy: writes need the member (or admin) role on
    /// a project; a reader may only read.
    pub fn require_write(&self, action: &str) -> Result<()> {
        if self.ctx.project_id.is_some() && (self.is_admin() || self.ctx.has_role("member")) {
            Ok(())
        } else {
            Err(forbidden_action(action))
        }
    }
}

/// Glance's message when policy refuses an action.
pub(crate) fn forbidden_action(action: &str) -> GlanceError {
    GlanceError::Forbidden(format!(
        "You are not authorized to complete {action} action."
    ))
}

impl FromRequest for Caller {
    type Error = GlanceError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = header(req, "x-auth-token").map(str::to_string);
        let glance = req.app_data::<web::Data<Glance>>().cloned();
        Box::pin(async move {
            let (Some(token), Some(glance)) = (token, glance) else {
                return Err(GlanceError::Unauthorized);
            };
            let ctx = glance
                .identity
                .validate(&token)
                .await
                .map_err(|_| GlanceError::Unauthorized)?;
            Ok(Caller { ctx })
        })
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

/// `scheme://host[:port]` as the client addressed us.
pub(crate) fn base_url(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

/// The media type of the request, without parameters, lowercased.
pub(crate) fn content_type(req: &HttpRequest) -> Option<String> {
    header(req, "content-type").map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Parses a JSON request body as Glance's deserializer does.
pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Value> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(GlanceError::BadRequest("Body expected in request.".into()));
    }
    serde_json::from_slice(body)
        .map_err(|_| GlanceError::BadRequest("Malformed JSON in request body.".into()))
}

/// A JSON body that must be an object.
pub(crate) fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
    match json_body(body)? {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(GlanceError::BadRequest(
            "Malformed JSON in request body.".into(),
        )),
    }
}

/// Glance's 404 for an image the caller may not see or that does not exist.
pub(crate) fn no_image(id: &str) -> GlanceError {
    GlanceError::NotFound(format!("No image found with ID {id}"))
}
