//! The Swift frontend's one error type and its mapping to the status codes
//! and plain-text/HTML bodies OpenStack Swift answers with.

use http::StatusCode;

use crate::http::{HttpResponse, HttpResponseBuilder, Response};

/// Everything a Swift request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SwiftError {
    /// 400 with Swift's message as the body.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid token and no ACL granting anonymous access.
    #[error("unauthorized")]
    Unauthorized,
    /// 401 from a temporary URL that is malformed, expired or not signed
    /// for this request.
    #[error("temp url invalid")]
    TempUrlInvalid,
    /// 403: authenticated but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 405 (account PUT/DELETE: account management is off, as in Swift's default).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 (container not empty).
    #[error("conflict")]
    Conflict,
    /// 411: PUT without Content-Length or chunked transfer encoding.
    #[error("length required")]
    LengthRequired,
    /// 412: failed If-Match / If-Unmodified-Since, or a bad path encoding.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 412 with a message body (invalid UTF-8 names and similar).
    #[error("{0}")]
    PreconditionMessage(String),
    /// 413.
    #[error("{0}")]
    TooLarge(String),
    /// 416, with the resource size for `Content-Range: bytes */size`.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// 422: the body's MD5 differs from the client's ETag.
    #[error("unprocessable entity")]
    Unprocessable,
    /// 499: the client went away before the body was complete.
    #[error("client disconnected")]
    ClientDisconnect,
    /// 501.
    #[error("not implemented")]
    NotImplemented,
    /// 501 with Swift's message as the body.
    #[error("{0}")]
    NotImplementedMessage(String),
    /// Resource layer failure (a logged 500, or 503 when storage is unavailable).
    #[error(transparent)]
    Storage(#[from] archipelago::Error),
    /// Metadata store failure (a logged 500).
    #[error(transparent)]
    Db(#[from] db::Error),
}

impl From<diesel::result::Error> for SwiftError {
    fn from(e: diesel::result::Error) -> Self {
        SwiftError::Db(db::Error::Query(e))
    }
}

pub type Result<T, E = SwiftError> = std::result::Result<T, E>;

fn html(title: &str, text: &str) -> String {
    format!("<html><h1>{title}</h1><p>{text}</p></html>")
}

impl SwiftError {
    /// The HTTP status Swift answers this error with.
    pub fn status_code(&self) -> StatusCode {
        use SwiftError::*;
        match self {
            BadRequest(_) => StatusCode::BAD_REQUEST,
            Unauthorized | TempUrlInvalid => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict => StatusCode::CONFLICT,
            LengthRequired => StatusCode::LENGTH_REQUIRED,
            PreconditionFailed | PreconditionMessage(_) => StatusCode::PRECONDITION_FAILED,
            TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ClientDisconnect => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            NotImplemented | NotImplementedMessage(_) => StatusCode::NOT_IMPLEMENTED,
            Storage(archipelago::Error::NotFound(_)) => StatusCode::NOT_FOUND,
            Storage(archipelago::Error::Chunk(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Storage(_) | Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The whole response Swift gives for this error.
    pub fn error_response(&self) -> Response {
        self.response_with(HttpResponse::build(self.status_code()))
    }

    /// This error's answer built on `resp` (its status, and any headers
    /// the caller already set, such as an object's).
    pub fn response_with(&self, mut resp: HttpResponseBuilder) -> Response {
        use SwiftError::*;
        let status = self.status_code();
        let body = match self {
            BadRequest(m) | PreconditionMessage(m) | TooLarge(m) | NotImplementedMessage(m) => m.clone(),
            Unauthorized => html(
                "Unauthorized",
                "This server could not verify that you are authorized to access the document you requested.",
            ),
            TempUrlInvalid => "401 Unauthorized: Temp URL invalid\n".to_string(),
            Forbidden => html("Forbidden", "Access was denied to this resource."),
            NotFound => html("Not Found", "The resource could not be found."),
            MethodNotAllowed => html("Method Not Allowed", "The method is not allowed for this resource."),
            Conflict => html("Conflict", "There was a conflict when trying to complete your request."),
            LengthRequired => html("Length Required", "Length Required"),
            PreconditionFailed => html("Precondition Failed", "A precondition for this request was not met."),
            RangeNotSatisfiable(_) => html(
                "Requested Range Not Satisfiable",
                "The Range requested is not available.",
            ),
            Unprocessable => html("Unprocessable Entity", "Unable to process the contained instructions"),
            ClientDisconnect => html("Client Disconnect", "The client was disconnected during request."),
            NotImplemented => html("Not Implemented", "The requested method is not implemented."),
            Storage(archipelago::Error::NotFound(_)) => html("Not Found", "The resource could not be found."),
            Storage(_) | Db(_) => {
                tracing::error!(error = %self, "swift request failed");
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    html("Service Unavailable", "The server is currently unavailable. Please try again at a later time.")
                } else {
                    html("Internal Error", "The server has either erred or is incapable of performing the requested operation.")
                }
            }
        };
        resp.content_type("text/html; charset=UTF-8");
        if let RangeNotSatisfiable(size) = self {
            resp.insert_header(("Content-Range", format!("bytes */{size}")));
        }
        // A 401's WWW-Authenticate (its realm) is added where every answer
        // passes, in `handle`.
        resp.body(body)
    }
}
