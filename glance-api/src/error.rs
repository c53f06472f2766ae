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
    /// 405: known path, other method; carries Glance's `Allow` list.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// 409: the image is in the wrong state for the operation.
    #[error("{0}")]
    Conflict(String),
    /// 413: the image exceeds `image_size_cap`.
    #[error("{0}")]
    TooLarge(String),
    /// 415: wrong `Content-Type`: the type sent, Glance's detail, and the
    /// `Accept-Patch` value for PATCH.
    #[error("{detail}")]
    UnsupportedMediaType {
        content_type: String,
        detail: String,
        accept_patch: Option<&'static str>,
    },
    /// 416: a Range outside the image, with its size.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// A 4xx Glance raises with its message as webob's positional `detail`
    /// (`HTTPForbidden(msg)`) rather than `explanation=msg`: the body then
    /// shows webob's default explanation for the status, then the message.
    #[error("{1}")]
    Detail(StatusCode, String),
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

/// webob's `body_template` of the exception: most use the standard one;
/// 405 and 415 have their own, built from the request's environ.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    /// `${explanation}<br /><br />\n${detail}\n${html_comment}\n`
    Standard { explanation: String, detail: String },
    /// `The method ${REQUEST_METHOD} is not allowed for this resource. <br /><br />\n${detail}`
    MethodNotAllowed,
    /// `The request media type ${CONTENT_TYPE} is not supported by this server.\n<br /><br />\n${detail}`
    MediaType {
        content_type: String,
        detail: String,
    },
}

/// What the middleware needs to render a webob error body.
#[derive(Debug, Clone)]
pub(crate) struct WebobError {
    /// `404 Not Found`.
    pub status_line: String,
    /// `Not Found`.
    pub title: &'static str,
    pub template: Template,
}

/// Whether the 401 body and `WWW-Authenticate` header are wanted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeystoneUnauthorized;

/// webob's title of a status (`HTTPRequestRangeNotSatisfiable` says
/// "Request Range", not the RFC's "Requested Range").
fn title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "Bad Request",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::GONE => "Gone",
        StatusCode::PAYLOAD_TOO_LARGE => "Request Entity Too Large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Unsupported Media Type",
        StatusCode::RANGE_NOT_SATISFIABLE => "Request Range Not Satisfiable",
        _ => "Internal Server Error",
    }
}

/// webob's class-level `explanation` of a status, byte for byte (the
/// `\r\n` are webob's).
fn default_explanation(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => {
            "The server could not comply with the request since\r\nit is either malformed or otherwise incorrect.\r\n"
        }
        StatusCode::FORBIDDEN => "Access was denied to this resource.",
        StatusCode::NOT_FOUND => "The resource could not be found.",
        StatusCode::CONFLICT => "There was a conflict when trying to complete your request.",
        StatusCode::GONE => "This resource is no longer available.  No forwarding address is given.",
        StatusCode::PAYLOAD_TOO_LARGE => "The body of your request was too large for this server.",
        StatusCode::RANGE_NOT_SATISFIABLE => "The Range requested is not available.",
        _ => "The server has either erred or is incapable of performing\r\nthe requested operation.\r\n",
    }
}

impl GlanceError {
    /// The webob template and arguments Glance's exception fills.
    fn template(&self) -> Template {
        use GlanceError::*;
        let std = |e: &str| Template::Standard {
            explanation: e.to_string(),
            detail: String::new(),
        };
        match self {
            BadRequest(m) | Forbidden(m) | NotFound(m) | Conflict(m) | TooLarge(m) => std(m),
            Detail(status, m) => Template::Standard {
                explanation: default_explanation(*status).into(),
                detail: m.clone(),
            },
            UnsupportedMediaType {
                content_type,
                detail,
                ..
            } => Template::MediaType {
                content_type: content_type.clone(),
                detail: detail.clone(),
            },
            MethodNotAllowed(_) => Template::MethodNotAllowed,
            Unauthorized => std("The request you have made requires authentication."),
            ClientDisconnect => std("Client disconnected before sending all data to backend"),
            RangeNotSatisfiable(_) | Storage(_) | Db(_) => {
                std(default_explanation(self.status_code()))
            }
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
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Conflict(_) => StatusCode::CONFLICT,
            TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Detail(status, _) => *status,
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
            status_line: format!("{} {}", status.as_u16(), title(status)),
            title: title(status),
            template: self.template(),
        };
        let mut b = HttpResponse::build(status);
        match self {
            GlanceError::UnsupportedMediaType {
                accept_patch: Some(accept_patch),
                ..
            } => {
                b.insert_header(("Accept-Patch", *accept_patch));
            }
            GlanceError::RangeNotSatisfiable(size) => {
                b.insert_header(("Content-Range", format!("bytes */{size}")));
            }
            GlanceError::MethodNotAllowed(allow) => {
                b.insert_header(("Allow", *allow));
            }
            _ => {}
        }
        // Plain text until the middleware knows what the client accepts.
        let (ctype, body) = render(&parts, Format::Plain, "");
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

/// webob's `_make_body`: the template filled with `escape`d arguments
/// (`method` is the request's, for 405's template).
fn make_body(t: &Template, method: &str, escape: fn(&str) -> String) -> String {
    match t {
        Template::Standard {
            explanation,
            detail,
        } => format!(
            "{}<br /><br />\n{}\n\n",
            escape(explanation),
            escape(detail)
        ),
        Template::MethodNotAllowed => format!(
            "The method {} is not allowed for this resource. <br /><br />\n",
            escape(method)
        ),
        Template::MediaType {
            content_type,
            detail,
        } => format!(
            "The request media type {} is not supported by this server.\n<br /><br />\n{}",
            escape(content_type),
            escape(detail)
        ),
    }
}

/// webob's body for `e` in format `fmt`.
pub(crate) fn render(e: &WebobError, fmt: Format, method: &str) -> (&'static str, String) {
    match fmt {
        Format::Json => (
            "application/json",
            serde_json::json!({
                "message": make_body(&e.template, method, str::to_string),
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
                b = make_body(&e.template, method, html_escape)
            ),
        ),
        Format::Plain => (
            "text/plain; charset=UTF-8",
            format!(
                "{}\n\n{}",
                e.status_line,
                strip_tags(&make_body(&e.template, method, str::to_string))
            ),
        ),
    }
}

/// webob's `strip_tags`: newlines become spaces, `\r` goes, each `<br…>`
/// becomes a newline, comments markers and other tags go.
fn strip_tags(s: &str) -> String {
    let s = s.replace('\n', " ").replace('\r', "");
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("<!--") {
            rest = after;
            continue;
        }
        match tail.find('>') {
            Some(j) => {
                if tail[..j].to_ascii_lowercase().starts_with("<br") {
                    out.push('\n');
                }
                rest = &tail[j + 1..];
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("-->", "")
}

/// webob's `html_escape`: Python's `html.escape(s, quote=True)`, then
/// non-ASCII as numeric character references.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("&#{};", c as u32)),
        }
    }
    out
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
            (GlanceError::MethodNotAllowed("GET"), 405),
            (GlanceError::Conflict("x".into()), 409),
            (GlanceError::Detail(StatusCode::CONFLICT, "x".into()), 409),
            (GlanceError::TooLarge("x".into()), 413),
            (
                GlanceError::UnsupportedMediaType {
                    content_type: "x".into(),
                    detail: "y".into(),
                    accept_patch: None,
                },
                415,
            ),
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

    fn parts(e: GlanceError) -> WebobError {
        e.error_response()
            .extensions()
            .get::<WebobError>()
            .cloned()
            .unwrap()
    }

    #[test]
    fn bodies_match_webob() {
        // HTTPNotFound(explanation=msg)
        let e = parts(GlanceError::NotFound("No image found with ID abc".into()));
        let (_, json) = render(&e, Format::Json, "GET");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["code"], "404 Not Found");
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["message"], "No image found with ID abc<br /><br />\n\n\n");
        let (_, plain) = render(&e, Format::Plain, "GET");
        assert_eq!(plain, "404 Not Found\n\nNo image found with ID abc\n\n   ");
        let (ct, html) = render(&e, Format::Html, "GET");
        assert_eq!(ct, "text/html; charset=UTF-8");
        assert_eq!(
            html,
            "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  \
             <h1>404 Not Found</h1>\n  No image found with ID abc<br /><br />\n\n\n\n \
             </body>\n</html>"
        );
    }

    #[test]
    fn detail_bodies_carry_webob_default_explanation() {
        // HTTPConflict(msg): positional, so detail under the default text.
        let e = parts(GlanceError::Detail(
            StatusCode::CONFLICT,
            "Property x does not exist.".into(),
        ));
        let (_, json) = render(&e, Format::Json, "PATCH");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["message"],
            "There was a conflict when trying to complete your request.<br /><br />\n\
             Property x does not exist.\n\n"
        );
        // 405 and 415 use their own templates.
        let e = parts(GlanceError::MethodNotAllowed("GET, PATCH, DELETE"));
        let (_, json) = render(&e, Format::Json, "PUT");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["message"],
            "The method PUT is not allowed for this resource. <br /><br />\n"
        );
        let e = parts(GlanceError::UnsupportedMediaType {
            content_type: "text/plain".into(),
            detail: "Invalid content type text/plain".into(),
            accept_patch: None,
        });
        let (_, plain) = render(&e, Format::Plain, "PUT");
        assert_eq!(
            plain,
            "415 Unsupported Media Type\n\nThe request media type text/plain is not \
             supported by this server. \n\n Invalid content type text/plain"
        );
    }

    #[test]
    fn escaping_and_tag_stripping_follow_webob() {
        assert_eq!(
            html_escape("a'<b>\"&é"),
            "a&#x27;&lt;b&gt;&quot;&amp;&#233;"
        );
        assert_eq!(strip_tags("a<br />b<i>c</i>\r\nd<!-- e -->"), "a\nbc d e ");
    }
}
