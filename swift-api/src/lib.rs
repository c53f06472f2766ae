//! The Swift object API (v1) over atoll's resource layer.
//!
//! Depends on archipelago, identity and db; never on blockd or another
//! frontend. Handlers parse and authorize the request, then translate it
//! into resource-layer calls and rows of the `swift_*` tables: an object is
//! a view (name, metadata, ETag) of a read-only resource, so COPY shares
//! the source's resource and moves no bytes.
//!
//! Invariants: an object row and its resource commit in one transaction, so
//! an interrupted upload leaves no visible object; container and account
//! counters change in the same transaction as the rows they count.

mod account;
mod auth;
mod bulk;
mod container;
mod cors;
mod error;
mod expirer;
pub mod http;
mod info;
mod listing;
mod object;
pub mod openapi;
#[cfg(test)]
mod parse_props;
mod quota;
mod range;
mod slo;
mod store;
mod tempauth;
mod tempurl;
mod util;
mod versions;

use std::sync::Arc;

use ::http::header::{HeaderName, HeaderValue};
use archipelago::Archipelago;
use identity::Identity;

pub use error::SwiftError;
pub use expirer::run_expirer;
pub use http::{serve, ListenerConfig};

use crate::http::{HttpRequest, Payload, Response};

/// Swift's constraints, advertised in `/info` and enforced on requests.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_file_size: u64,
    pub max_meta_name_length: usize,
    pub max_meta_value_length: usize,
    pub max_meta_count: usize,
    pub max_meta_overall_size: usize,
    pub max_header_size: usize,
    pub max_object_name_length: usize,
    pub max_container_name_length: usize,
    pub max_account_name_length: usize,
    pub container_listing_limit: usize,
    pub account_listing_limit: usize,
    pub max_manifest_segments: usize,
    pub max_manifest_size: usize,
    pub max_deletes_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // OpenStack Swift's defaults (swift.conf [swift-constraints]).
        Limits {
            max_file_size: 5_368_709_122,
            max_meta_name_length: 128,
            max_meta_value_length: 256,
            max_meta_count: 90,
            max_meta_overall_size: 4096,
            max_header_size: 8192,
            max_object_name_length: 1024,
            max_container_name_length: 256,
            max_account_name_length: 256,
            container_listing_limit: 10_000,
            account_listing_limit: 10_000,
            max_manifest_segments: 1000,
            max_manifest_size: 8 * 1024 * 1024,
            max_deletes_per_request: 10_000,
        }
    }
}

/// Configuration of the object-store frontend.
#[derive(Debug, Clone)]
pub struct SwiftConfig {
    /// Base URL clients reach this service at (`http://127.0.0.1:8080`),
    /// used for TempAuth's `X-Storage-Url`.
    pub public_url: String,
    /// Account name prefix in front of the project id.
    pub reseller_prefix: String,
    /// Roles that own their project's account (keystoneauth's
    /// `operator_roles`); `reader` may read it.
    pub operator_roles: Vec<String>,
    /// The role that owns every account and alone sets account quotas
    /// (keystoneauth's `reseller_admin_role`).
    pub reseller_admin_role: String,
    pub limits: Limits,
}

impl Default for SwiftConfig {
    fn default() -> Self {
        SwiftConfig {
            public_url: "http://127.0.0.1:8080".into(),
            reseller_prefix: "AUTH_".into(),
            operator_roles: DEFAULT_OPERATOR_ROLES.map(String::from).to_vec(),
            reseller_admin_role: DEFAULT_RESELLER_ADMIN_ROLE.into(),
            limits: Limits::default(),
        }
    }
}

/// Roles that own an account unless configured otherwise: Keystone's
/// admin and member, and Swift keystoneauth's `swiftoperator`.
pub const DEFAULT_OPERATOR_ROLES: [&str; 3] = ["admin", "member", "swiftoperator"];

/// keystoneauth's default `reseller_admin_role`.
pub const DEFAULT_RESELLER_ADMIN_ROLE: &str = "ResellerAdmin";

/// State shared by every Swift handler.
#[derive(Clone)]
pub struct Swift {
    pub(crate) arch: Archipelago,
    pub(crate) identity: Identity,
    pub(crate) cfg: Arc<SwiftConfig>,
}

impl Swift {
    pub fn new(arch: Archipelago, identity: Identity, cfg: SwiftConfig) -> Swift {
        Swift {
            arch,
            identity,
            cfg: Arc::new(cfg),
        }
    }

    pub(crate) fn db(&self) -> &db::Db {
        self.arch.db()
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.cfg.limits
    }
}

/// Answers one request: routes it, turns errors into Swift's error
/// responses, and stamps the transaction id on whatever goes out.
pub(crate) async fn handle(swift: &Swift, req: ::http::Request<hyper::body::Incoming>) -> Response {
    let (req, body) = http::split(req);
    let trans_id = util::new_trans_id();
    let span = tracing::debug_span!(
        "swift",
        trans_id = %trans_id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let mut resp = match tracing::Instrument::instrument(route(swift, &req, body), span).await {
        Ok(r) => r,
        Err(e) => e.error_response(),
    };
    // eventlet answers a client's explicit keep-alive in kind.
    if req
        .headers()
        .get(::http::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"keep-alive"))
    {
        resp.headers_mut().insert(
            ::http::header::CONNECTION,
            HeaderValue::from_static("keep-alive"),
        );
    }
    if resp.status() == ::http::StatusCode::UNAUTHORIZED {
        // Swift's realm is the path's second segment (the account), quoted.
        if let Ok(v) =
            HeaderValue::from_str(&format!("Swift realm=\"{}\"", realm(req.uri().path())))
        {
            resp.headers_mut()
                .insert(HeaderName::from_static("www-authenticate"), v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&trans_id) {
        let h = resp.headers_mut();
        h.insert(HeaderName::from_static("x-trans-id"), v.clone());
        h.insert(HeaderName::from_static("x-openstack-request-id"), v);
    }
    resp
}

/// The realm of a 401 as swob gives it: the decoded second path segment,
/// quoted again, or `unknown` for the auth paths and paths too short.
fn realm(raw_path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(raw_path).decode_utf8_lossy();
    let mut segs = decoded.trim_start_matches('/').splitn(3, '/');
    let (_version, realm) = (segs.next(), segs.next().unwrap_or(""));
    if realm.is_empty() || realm == "v1.0" || realm == "auth" {
        return "unknown".into();
    }
    util::py_quote(realm)
}

async fn route(swift: &Swift, req: &HttpRequest, body: Payload) -> Result<Response, SwiftError> {
    let path = req.uri().path();
    let get_or_head = matches!(req.method().as_str(), "GET" | "HEAD");
    match path {
        "/healthcheck" if get_or_head => Ok(info::healthcheck().await),
        "/info" if get_or_head => Ok(info::info(swift).await),
        "/auth/v1.0" | "/auth/v1.0/" | "/v1.0" if req.method().as_str() == "GET" => {
            tempauth::login(req, swift).await
        }
        // A version and no account: Swift's proxy finds no controller.
        "/v1" | "/v1/" | "/v1.0/" => Err(SwiftError::PreconditionMessage("Bad URL".into())),
        p if p.starts_with("/v1/") || p.starts_with("/v1.0/") => dispatch(req, body, swift).await,
        _ => Err(SwiftError::NotFound),
    }
}

/// Routes a `/v1/...` request by path depth and method.
async fn dispatch(req: &HttpRequest, body: Payload, swift: &Swift) -> Result<Response, SwiftError> {
    // eventlet refuses a header line longer than Swift's max_header_size.
    let max_line = swift.limits().max_header_size;
    if req
        .headers()
        .iter()
        .any(|(k, v)| k.as_str().len() + 2 + v.len() > max_line)
    {
        return Err(SwiftError::BadRequest("Header Line Too Long".into()));
    }
    let path = util::parse_path(req.uri().path(), swift.limits())?;
    if req.method().as_str() == "OPTIONS" {
        // Preflights come without a token (tempauth lets OPTIONS through).
        return Ok(cors::options(swift, req, &path).await);
    }
    let caller = auth::authenticate(swift, req, &path).await?;
    let reduced;
    let req = match &caller.tempurl {
        Some(_) => {
            reduced = req.with_query(&tempurl::served_query(req.query_string()));
            &reduced
        }
        None => req,
    };
    let mut resp = match route_v1(req, body, swift, &path, &caller).await {
        Ok(r) => r,
        Err(e) => e.error_response(),
    };
    if let Some(grant) = &caller.tempurl {
        tempurl::decorate(grant, req, &path, &mut resp);
    }
    cors::decorate(swift, req, &path, &mut resp).await;
    Ok(resp)
}

/// The handler of a `/v1/...` request by path depth and method.
async fn route_v1(
    req: &HttpRequest,
    body: Payload,
    swift: &Swift,
    path: &util::SwiftPath,
    caller: &auth::Caller,
) -> Result<Response, SwiftError> {
    let m = req.method().as_str().to_string();
    match (&path.container, &path.object, m.as_str()) {
        (None, None, "GET") => account::get(swift, req, path, caller, false).await,
        (None, None, "HEAD") => account::get(swift, req, path, caller, true).await,
        (None, None, "POST") => {
            if util::parse_query(req.query_string()).contains_key("bulk-delete") {
                bulk::delete(swift, req, path, caller, body).await
            } else {
                account::post(swift, req, path, caller).await
            }
        }
        (None, None, "PUT" | "DELETE") => Err(SwiftError::MethodNotAllowed),
        (Some(_), None, "GET") => container::get(swift, req, path, caller, false).await,
        (Some(_), None, "HEAD") => container::get(swift, req, path, caller, true).await,
        (Some(_), None, "PUT") => container::put(swift, req, path, caller).await,
        (Some(_), None, "POST") => container::post(swift, req, path, caller).await,
        (Some(_), None, "DELETE") => container::delete(swift, req, path, caller).await,
        (Some(_), Some(_), "GET") => object::get(swift, req, path, caller, false).await,
        (Some(_), Some(_), "HEAD") => object::get(swift, req, path, caller, true).await,
        (Some(_), Some(_), "PUT") => object::put(swift, req, path, caller, body).await,
        (Some(_), Some(_), "POST") => object::post(swift, req, path, caller).await,
        (Some(_), Some(_), "DELETE") => object::delete(swift, req, path, caller).await,
        (Some(_), Some(_), "COPY") => object::copy(swift, req, path, caller).await,
        _ => Err(SwiftError::MethodNotAllowed),
    }
}
