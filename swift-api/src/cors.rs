//! CORS as Swift's proxy does it, from container metadata:
//! `X-Container-Meta-Access-Control-Allow-Origin` (origins separated by
//! spaces, or `*`), `-Max-Age` and `-Expose-Headers`.
//!
//! - A preflight `OPTIONS` with `Origin` is answered from them: 401 when the
//!   origin or the requested method is not allowed, else 200 with the
//!   `Access-Control-Allow-*` headers.
//! - Any other request to a container or object that carries `Origin` gets
//!   `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers` on its
//!   answer, errors included, when the origin is allowed (strict mode, as
//!   `/info` advertises).

use std::collections::BTreeSet;

use http::header::{HeaderName, HeaderValue};

use crate::http::{HttpRequest, HttpResponse, Response};
use crate::util::{self, header, SwiftPath};
use crate::{store, Swift};

/// The methods a Swift path answers (the `Allow` header).
pub const ALLOW: &str = "HEAD, GET, PUT, POST, COPY, OPTIONS, DELETE";

/// Headers every CORS answer exposes: the simple response headers and
/// Swift's own.
const EXPOSE: &[&str] = &[
    "cache-control",
    "content-language",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
    "etag",
    "x-timestamp",
    "x-trans-id",
    "x-openstack-request-id",
];

/// A container's CORS settings.
#[derive(Debug, Default)]
struct Cors {
    allow_origin: Option<String>,
    max_age: Option<String>,
    expose_headers: Option<String>,
}

impl Cors {
    async fn of(swift: &Swift, account: &str, container: &str) -> Cors {
        let (a, c) = (account.to_string(), container.to_string());
        let row = swift
            .db()
            .run(move |conn| Ok(store::container(conn, &a, &c)))
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten();
        let Some(row) = row else {
            return Cors::default();
        };
        let mut m = util::meta_from_json(&row.metadata);
        let mut take = |k: &str| {
            m.remove(&format!("X-Container-Meta-Access-Control-{k}"))
                .filter(|v| !v.trim().is_empty())
        };
        Cors {
            allow_origin: take("Allow-Origin"),
            max_age: take("Max-Age"),
            expose_headers: take("Expose-Headers"),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        self.allow_origin
            .as_deref()
            .is_some_and(|a| a.split(' ').any(|o| o == "*" || o == origin))
    }

    fn wildcard(&self) -> bool {
        self.allow_origin.as_deref().map(str::trim) == Some("*")
    }
}

/// `OPTIONS`: the allowed methods, and for a preflight (with `Origin`) to a
/// container or object, the CORS answer.
pub async fn options(swift: &Swift, req: &HttpRequest, path: &SwiftPath) -> Response {
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("Allow", ALLOW));
    let (Some(origin), Some(container)) = (header(req.headers(), "origin"), &path.container) else {
        return resp.finish();
    };
    let cors = Cors::of(swift, &path.account, container).await;
    let method_ok = header(req.headers(), "access-control-request-method")
        .is_some_and(|m| ALLOW.split(", ").any(|a| a == m));
    if !cors.allows(origin) || !method_ok {
        let mut r = HttpResponse::build(http::StatusCode::UNAUTHORIZED);
        r.insert_header(("Allow", ALLOW));
        return r.finish();
    }
    let mut vary = vec!["Origin"];
    resp.insert_header((
        "Access-Control-Allow-Origin",
        if cors.wildcard() { "*" } else { origin },
    ));
    if let Some(age) = &cors.max_age {
        resp.insert_header(("Access-Control-Max-Age", age.clone()));
    }
    resp.insert_header(("Access-Control-Allow-Methods", ALLOW));
    // Swift allows whatever headers the preflight asks for.
    let asked: BTreeSet<&str> = header(req.headers(), "access-control-request-headers")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if !asked.is_empty() {
        resp.insert_header((
            "Access-Control-Allow-Headers",
            asked.into_iter().collect::<Vec<_>>().join(", "),
        ));
        vary.push("Access-Control-Request-Headers");
    }
    resp.insert_header(("Vary", vary.join(", ")));
    resp.finish()
}

/// Adds the CORS headers to the answer of a request with `Origin` to a
/// container or object whose container allows that origin.
pub async fn decorate(swift: &Swift, req: &HttpRequest, path: &SwiftPath, resp: &mut Response) {
    let (Some(origin), Some(container)) = (header(req.headers(), "origin"), &path.container) else {
        return;
    };
    let cors = Cors::of(swift, &path.account, container).await;
    if !cors.allows(origin) {
        return;
    }
    let h = resp.headers_mut();
    if !h.contains_key("access-control-expose-headers") {
        let mut expose: BTreeSet<String> = EXPOSE.iter().map(|s| s.to_string()).collect();
        for name in h.keys() {
            let n = name.as_str();
            if n.starts_with("x-container-meta-") || n.starts_with("x-object-meta-") {
                expose.insert(n.to_string());
            }
        }
        if let Some(extra) = &cors.expose_headers {
            expose.extend(
                extra
                    .split(' ')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty()),
            );
        }
        if let Ok(v) = HeaderValue::from_str(&expose.into_iter().collect::<Vec<_>>().join(", ")) {
            h.insert(HeaderName::from_static("access-control-expose-headers"), v);
        }
    }
    if !h.contains_key("access-control-allow-origin") {
        let value = if cors.wildcard() { "*" } else { origin };
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static("access-control-allow-origin"), v);
        }
        if !cors.wildcard() {
            h.append(http::header::VARY, HeaderValue::from_static("Origin"));
        }
    }
}
