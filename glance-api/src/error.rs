//! The image API's one error type and its mapping to Glance's status codes
//! and bodies.
//!
//! Glance raises webob exceptions, whose body depends on the request's
//! `Accept`: HTML for `*/*` or `text/html` (python-glanceclient sends
//! `*/*`), JSON `{"message", "code", "title"}` for `application/json`
//! (openstacksdk), plain text otherwise. [`GlanceError::error_response`]
//! cannot see the request, so it records the parts in the response's
//! extensions and the crate's middleware ([`crate::http`]) renders the body
//! the caller's `Accept` asks for. A 401 carries keystonemiddleware's JSON
//! body whatever the `Accept`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Everything an image request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GlanceError {
    /// 400: malformed body, query or patch.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token or a bad one (keystonemiddleware's body).
    #[error("unauthorized")]
    Unauthorized,
    /// 403: policy refuses, read-only attribute, protected image.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such image (or one the caller may not see), member, tag, route.
    #[error("{0}")]
    NotFound(String),
    /// 405: known path, other method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the image is in the wrong state for the operation.
    #[error("{0}")]
    Conflict(String),
    /// 413: the image exceeds `image_size_cap`.
    #[error("{0}")]
    TooLarge(String),
    /// 415: wrong `Content-Type` (with the `Accept-Patch` value for PATCH).
    #[error("{0}")]
    UnsupportedMediaType(String, Option<&'static str>),
    /// 416: a Range outside the image, with its size.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// The client went away in the middle of an upload (nothing committed).
    #[error("client disconnected")]
    ClientDisconnect,
    /// Resource layer failure: a logged 500.
    #[error(transparent)]
    Storage(#[from] archipelago::Error),
    /// Metadata store failure: a logged 500.
    #[error(transparent)]
    Db(#[from] db::Error),
}

impl From<diesel::result::Error> for GlanceError {
    fn from(e: diesel::result::Error) -> Self {
        GlanceError::Db(db::Error::Query(e))
    }
}

pub type Result<T, E = GlanceError> = std::result::Result<T, E>;

/// What the middleware needs to render a webob error body.
#[derive(Debug, Clone)]
pub(crate) struct WebobError {
    /// `404 Not Found`.
    pub status_line: String,
    /// `Not Found`.
    pub title: &'static str,
    /// The explanation (Glance's message, or webob's default).
    pub explanation: String,
}

/// Whether the 401 body and `WWW-Authenticate` header are wanted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeystoneUnauthorized;

impl GlanceError {
    fn title(&self) -> &'static str {
        match self.status_code() {
            StatusCode::BAD_REQUEST => "Bad Request",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not Found",
            StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported Media Type",
            StatusCode::RANGE_NOT_SATISFIABLE => "Requested Range Not Satisfiable",
            _ => "Internal Server Error",
        }
    }

    /// The explanation webob prints: Glance's message where it gives one,
    /// else webob's default for the status.
    fn explanation(&self) -> String {
        use GlanceError::*;
        match self {
            BadRequest(m) | Forbidden(m) | NotFound(m) | Conflict(m) | TooLarge(m) => m.clone(),
            UnsupportedMediaType(m, _) => m.clone(),
            MethodNotAllowed => "The server could not comply with the request since it is either \
                 malformed or otherwise incorrect."
                .into(),
            RangeNotSatisfiable(_) => "The Range requested is not available.".into(),
            Unauthorized => "The request you have made requires authentication.".into(),
            ClientDisconnect => "Client disconnected before sending all data to backend".into(),
            Storage(_) | Db(_) => "The server has either erred or is incapable of performing \
                                   the requested operation."
                .into(),
        }
    }
}

impl ResponseError for GlanceError {
    fn status_code(&self) -> StatusCode {
        use GlanceError::*;
        match self {
            BadRequest(_) | ClientDisconnect => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden(_) => StatusCode::FORBIDDEN,
            NotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) => StatusCode::CONFLICT,
            TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(..) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Storage(archipelago::Error::NotFound(_)) => StatusCode::NOT_FOUND,
            Storage(_) | Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Logged where handled: here, once, with the cause.
            tracing::error!(error = %self, "image request failed");
        }
        if let GlanceError::Unauthorized = self {
            let mut res = HttpResponse::Unauthorized().json(serde_json::json!({
                "error": {
                    "code": 401,
                    "title": "Unauthorized",
                    "message": "The request you have made requires authentication.",
                }
            }));
            res.extensions_mut().insert(KeystoneUnauthorized);
            return res;
        }
        let parts = WebobError {
            status_line: format!("{} {}", status.as_u16(), self.title()),
            title: self.title(),
            explanation: self.explanation(),
        };
        let mut b = HttpResponse::build(status);
        match self {
            GlanceError::UnsupportedMediaType(_, Some(accept_patch)) => {
                b.insert_header(("Accept-Patch", *accept_patch));
            }
            GlanceError::RangeNotSatisfiable(size) => {
                b.insert_header(("Content-Range", format!("bytes */{size}")));
            }
            _ => {}
        }
        // Plain text until the middleware knows what the client accepts.
        let (ctype, body) = render(&parts, Format::Plain);
        let mut res = b.content_type(ctype).body(body);
        res.extensions_mut().insert(parts);
        res
    }
}

/// The three bodies webob can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Html,
    Json,
    Plain,
}

impl Format {
    /// webob's choice between its offers `text/html` and `application/json`
    /// (in that order) for an `Accept` header; neither matching is plain.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Plain;
        };
        let mut best: Option<(f32, Format)> = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            let fmt = match range.as_str() {
                "*/*" | "text/*" | "text/html" => Format::Html,
                "application/*" | "application/json" => Format::Json,
                _ => continue,
            };
            // Equal quality: webob keeps its own offer order (HTML first).
            let better = match best {
                None => true,
                Some((bq, bf)) => q > bq || (q == bq && bf == Format::Json && fmt == Format::Html),
            };
            if better {
                best = Some((q, fmt));
            }
        }
        best.map(|(_, f)| f).unwrap_or(Format::Plain)
    }
}

/// webob's body for an exception raised with `explanation=` (no detail).
pub(crate) fn render(e: &WebobError, fmt: Format) -> (&'static str, String) {
    let body = format!("{}<br /><br />\n\n\n", e.explanation);
    match fmt {
        Format::Json => (
            "application/json",
            serde_json::json!({
                "message": body,
                "code": e.status_line,
                "title": e.title,
            })
            .to_string(),
        ),
        Format::Html => (
            "text/html; charset=UTF-8",
            format!(
                "<html>\n <head>\n  <title>{s}</title>\n </head>\n <body>\n  <h1>{s}</h1>\n  {b}\n </body>\n</html>",
                s = e.status_line,
                b = html_escape(&e.explanation) + "<br /><br />\n\n\n"
            ),
        ),
        Format::Plain => {
            // webob's strip_tags: newlines become spaces, then <br /> a newline.
            let stripped = body.replace('\n', " ").replace("<br /><br />", "\n\n");
            (
                "text/plain; charset=UTF-8",
                format!("{}\n\n{}", e.status_line, stripped),
            )
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_glance() {
        let cases: Vec<(GlanceError, u16)> = vec![
            (GlanceError::BadRequest("x".into()), 400),
            (GlanceError::Unauthorized, 401),
            (GlanceError::Forbidden("x".into()), 403),
            (GlanceError::NotFound("x".into()), 404),
            (GlanceError::Conflict("x".into()), 409),
            (GlanceError::TooLarge("x".into()), 413),
            (GlanceError::UnsupportedMediaType("x".into(), None), 415),
            (GlanceError::RangeNotSatisfiable(3), 416),
            (
                GlanceError::Storage(archipelago::Error::Corrupt("x".into())),
                500,
            ),
        ];
        for (e, code) in cases {
            assert_eq!(e.status_code().as_u16(), code, "{e:?}");
            assert_eq!(e.error_response().status().as_u16(), code);
        }
    }

    #[test]
    fn accept_picks_webob_format() {
        assert_eq!(Format::from_accept(Some("*/*")), Format::Html);
        assert_eq!(Format::from_accept(Some("application/json")), Format::Json);
        assert_eq!(
            Format::from_accept(Some("application/json, text/html;q=0.5")),
            Format::Json
        );
        assert_eq!(Format::from_accept(None), Format::Plain);
        assert_eq!(Format::from_accept(Some("image/png")), Format::Plain);
    }

    #[test]
    fn bodies_match_webob() {
        let e = WebobError {
            status_line: "404 Not Found".into(),
            title: "Not Found",
            explanation: "No image found with ID abc".into(),
        };
        let (_, json) = render(&e, Format::Json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["code"], "404 Not Found");
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["message"], "No image found with ID abc<br /><br />\n\n\n");
        let (_, plain) = render(&e, Format::Plain);
        assert_eq!(plain, "404 Not Found\n\nNo image found with ID abc\n\n   ");
        let (ct, html) = render(&e, Format::Html);
        assert!(ct.starts_with("text/html"));
        assert!(html.contains("<title>404 Not Found</title>"), "{html}");
    }
}
