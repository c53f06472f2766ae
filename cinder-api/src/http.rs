//! Plumbing shared by the handler files: the middleware every response
//! passes through (request ids, microversion negotiation and echo, the
//! Keystone challenge on 401), the [`Caller`] extractor (token, project,
//! microversion) and body/query helpers with Cinder's 400 answers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, VARY, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use identity::AuthContext;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::error::{CinderError, Result};
use crate::microversion::{self, ApiVersion};
use crate::Cinder;

/// Header carrying the caller's token.
pub const AUTH_TOKEN: &str = "X-Auth-Token";

/// Adds Cinder's response headers and negotiates the microversion before
/// any handler runs; a bad version is answered here (400/406).
pub async fn cinder_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> actix_web::Result<ServiceResponse<BoxBody>> {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let span = tracing::info_span!("cinder", request_id = %request_id,
        method = %req.method(), path = %req.path());
    let header = req
        .headers()
        .get(microversion::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let identity_url = req
        .app_data::<web::Data<Cinder>>()
        .map(|c| {
            c.identity
                .config()
                .public_url
                .trim_end_matches('/')
                .to_string()
        })
        .unwrap_or_default();
    let (mut res, version) = match microversion::negotiate(header.as_deref()) {
        Ok(v) => {
            req.extensions_mut().insert(v);
            let res = next.call(req).instrument(span).await?.map_into_boxed_body();
            (res, v)
        }
        Err(e) => {
            let _g = span.enter();
            let resp = e.error_response();
            (req.into_response(resp), microversion::MIN)
        }
    };
    let unauthorized = res.status() == StatusCode::UNAUTHORIZED;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("x-openstack-request-id"), v.clone());
        h.insert(HeaderName::from_static("x-compute-request-id"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("volume {version}")) {
        h.insert(HeaderName::from_static("openstack-api-version"), v);
    }
    h.insert(VARY, HeaderValue::from_static("OpenStack-API-Version"));
    if unauthorized {
        if let Ok(v) = HeaderValue::from_str(&format!("Keystone uri=\"{identity_url}/v3\"")) {
            h.insert(WWW_AUTHENTICATE, v);
        }
    }
    Ok(res)
}

/// An authenticated request: who, in which project, at which microversion.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ctx: AuthContext,
    /// The token's project: every list and create is scoped to it.
    pub project: String,
    pub version: ApiVersion,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.ctx.is_admin()
    }

    /// Refuses readers (and role-less tokens) an action that writes.
    pub fn require_write(&self, rule: &str) -> Result<()> {
        if self.ctx.has_role(identity::context::ROLE_MEMBER) || self.is_admin() {
            Ok(())
        } else {
            Err(CinderError::policy(rule))
        }
    }

    pub fn require_admin(&self, rule: &str) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(CinderError::policy(rule))
        }
    }

    /// True when the caller may see a row owned by `project`.
    pub fn sees(&self, project: &str) -> bool {
        self.is_admin() || self.project == project
    }

    pub fn at_least(&self, v: ApiVersion) -> bool {
        self.version >= v
    }

    /// Refuses a route that exists only from `v` on, as Cinder's
    /// `VersionNotFoundForAPIMethod` (404).
    pub fn require_version(&self, v: ApiVersion) -> Result<()> {
        if self.version >= v {
            Ok(())
        } else {
            Err(CinderError::NotFound(format!(
                "API version {} is not supported on this method.",
                self.version
            )))
        }
    }
}

impl FromRequest for Caller {
    type Error = CinderError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let cinder = req
                .app_data::<web::Data<Cinder>>()
                .ok_or_else(|| CinderError::Db(db::Error::Task("no Cinder app data".into())))?
                .clone();
            let token = header(&req, AUTH_TOKEN).ok_or(CinderError::Unauthorized)?;
            let ctx = match cinder.identity.validate(token).await {
                Ok(c) => c,
                Err(identity::Error::Unauthorized) => return Err(CinderError::Unauthorized),
                Err(e) => return Err(CinderError::Identity(e)),
            };
            let project = ctx
                .project_id
                .clone()
                .ok_or_else(|| CinderError::policy("volume:get_all"))?;
            if let Some(p) = req.match_info().get("project_id") {
                if p != project {
                    return Err(CinderError::BadRequest("Malformed request url".into()));
                }
            }
            let version = req
                .extensions()
                .get::<ApiVersion>()
                .copied()
                .unwrap_or(microversion::MIN);
            tracing::debug!(project = %project, user = %ctx.user_id, %version, "caller");
            Ok(Caller {
                ctx,
                project,
                version,
            })
        })
    }
}

/// A header's value, if present, valid text and not blank.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `scheme://host[:port]` as the client addressed us.
pub fn base_url(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

/// The query string as a map (last value wins).
pub fn query(req: &HttpRequest) -> Result<HashMap<String, String>> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner().into_iter().collect())
        .map_err(|e| CinderError::BadRequest(format!("Invalid query string: {e}")))
}

/// Parses a JSON body into `T`; malformed JSON and a wrong shape are 400 as
/// Cinder words them ("Malformed request body" for JSON it cannot read).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            CinderError::BadRequest(format!("Invalid input for field/attribute: {e}"))
        }
        _ => malformed(),
    })
}

/// Cinder's answer to a body it cannot decode.
pub fn malformed() -> CinderError {
    CinderError::BadRequest("Malformed request body".into())
}

/// Parses a JSON body, validates it against one of Cinder's request
/// schemas (see [`crate::schema`]), then reads it as `T`.
pub fn parse_valid<T: DeserializeOwned>(body: &[u8], schema: &crate::schema::S) -> Result<T> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| malformed())?;
    crate::schema::validate(schema, &v)?;
    serde_json::from_value(v)
        .map_err(|e| CinderError::BadRequest(format!("Invalid input for field/attribute: {e}")))
}

/// The one action a `POST .../action` body names, as Cinder's
/// `action_peek_json`: exactly one top-level key, else a malformed body.
pub fn action_of(body: &[u8]) -> Result<(String, serde_json::Value, serde_json::Value)> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| malformed())?;
    let serde_json::Value::Object(m) = &v else {
        return Err(malformed());
    };
    if m.len() != 1 {
        return Err(malformed());
    }
    let (k, a) = m
        .iter()
        .next()
        .map(|(k, a)| (k.clone(), a.clone()))
        .ok_or_else(malformed)?;
    Ok((k, a, v))
}

/// Cinder's answer to an action name it does not know.
pub fn no_such_action(name: &str) -> CinderError {
    CinderError::BadRequest(format!(
        "There is no such action: {name}. Verify the request body and Content-Type header and \
         try again."
    ))
}

/// Cinder's boolean parsing (`oslo_utils.strutils.bool_from_string`
/// strict): true/false, yes/no, on/off, 1/0, t/f, y/n.
pub fn parse_bool(v: &serde_json::Value, field: &str) -> Result<bool> {
    let bad = || {
        CinderError::BadRequest(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not of type \
             'boolean', 'string'"
        ))
    };
    match v {
        serde_json::Value::Bool(b) => Ok(*b),
        serde_json::Value::String(s) => str_bool(s).ok_or_else(bad),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// A string boolean as Cinder's filters and flags read it.
pub fn str_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "t" | "y" => Some(true),
        "false" | "no" | "off" | "0" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// A size in GiB from a JSON value (an integer or a string of digits).
pub fn parse_size(v: &serde_json::Value, field: &str) -> Result<i64> {
    let n = match v {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 && n <= i32::MAX as i64 => Ok(n),
        _ => Err(CinderError::BadRequest(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not of type \
             'integer' or less than the minimum of 1"
        ))),
    }
}

/// Cinder's timestamp format (`2024-01-01T12:00:00.000000`), from micros.
pub fn timestamp(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
    );
    t.format(&f).unwrap_or_default()
}

/// Answers unknown methods on a known path.
pub async fn method_not_allowed() -> Result<actix_web::HttpResponse> {
    Err(CinderError::MethodNotAllowed)
}

/// Answers unknown paths with Cinder's 404 body.
pub async fn no_route() -> Result<actix_web::HttpResponse> {
    Err(CinderError::NotFound(
        "The resource could not be found.".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_flags() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000000");
        assert_eq!(timestamp(1_500_000), "1970-01-01T00:00:01.500000");
        assert_eq!(str_bool("True"), Some(true));
        assert_eq!(str_bool("0"), Some(false));
        assert_eq!(str_bool("maybe"), None);
        assert!(parse_bool(&serde_json::json!("yes"), "f").unwrap());
        assert!(parse_bool(&serde_json::json!([1]), "f").is_err());
        assert_eq!(parse_size(&serde_json::json!("3"), "size").unwrap(), 3);
        assert!(parse_size(&serde_json::json!(0), "size").is_err());
        assert!(parse_size(&serde_json::json!(1.5), "size").is_err());
    }
}
