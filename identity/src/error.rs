//! The crate's one error type and its mapping to Keystone's HTTP answers.
//!
//! Keystone answers every error with `{"error": {"code", "message", "title"}}`.
//! Authentication failures always carry the same masked message, whatever
//! went wrong (unknown user, wrong password, expired or revoked token), so a
//! caller learns nothing about which part was wrong; this mirrors Keystone
//! outside its `insecure_debug` mode. The `WWW-Authenticate` header of a 401
//! needs the request's host and is added by the HTTP middleware.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::dto::{ErrorBody, ErrorResponse};

/// Errors of the identity service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing or wrong credentials, or a bad, expired, tampered or revoked
    /// token (401).
    #[error("authentication required")]
    Unauthorized,
    /// A 401 Keystone words itself, e.g. a password change whose original
    /// password is wrong.
    #[error("unauthorized: {0}")]
    UnauthorizedMessage(String),
    /// The caller is authenticated but the policy `action` (for example
    /// `identity:list_projects`) needs a role it lacks (403).
    #[error("forbidden: {action}")]
    Forbidden {
        /// Keystone policy name of the refused action.
        action: String,
    },
    /// The caller may not do this for a reason Keystone words itself (403).
    #[error("forbidden: {0}")]
    ForbiddenMessage(String),
    /// The subject token of a validate or check request is not valid (404).
    #[error("subject token is not valid")]
    TokenNotFound,
    /// A named entity does not exist (404).
    #[error("could not find {kind}: {id}")]
    NotFound {
        /// Entity kind as Keystone names it: `project`, `user`, `role`, `domain`.
        kind: &'static str,
        /// The id or name the caller gave.
        id: String,
    },
    /// Something does not exist, in Keystone's own words (404).
    #[error("not found: {0}")]
    NotFoundMessage(String),
    /// A role assignment that was asked for does not exist (404).
    #[error("role assignment not found")]
    AssignmentNotFound {
        /// Role id.
        role_id: String,
        /// User id.
        user_id: String,
        /// Project id.
        project_id: String,
    },
    /// No route matches the URL (404).
    #[error("no such resource")]
    NoRoute,
    /// The route exists but not for this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request body or query is malformed or misses a field (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The entity would duplicate an existing name in its domain (409).
    #[error("conflict: {kind} {detail}")]
    Conflict {
        /// Entity kind: `project`, `user`.
        kind: &'static str,
        /// What clashed, in Keystone's words.
        detail: String,
    },
    /// The configuration handed in is unusable (never reaches HTTP).
    #[error("invalid identity configuration: {0}")]
    Config(String),
    /// The metadata store failed (500).
    #[error(transparent)]
    Db(#[from] db::Error),
    /// Anything else that is our fault: signing, hashing, a lost task (500).
    #[error("internal identity error: {0}")]
    Internal(String),
}

/// Shorthand for the crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Error::Db(db::Error::Query(e))
    }
}

impl Error {
    fn message(&self) -> String {
        match self {
            Error::Unauthorized => "The request you have made requires authentication.".into(),
            Error::Forbidden { action } => {
                format!("You are not authorized to perform the requested action: {action}.")
            }
            Error::ForbiddenMessage(m)
            | Error::UnauthorizedMessage(m)
            | Error::NotFoundMessage(m) => m.clone(),
            Error::TokenNotFound => "Failed to validate token".into(),
            Error::NotFound { kind, id } => format!("Could not find {kind}: {id}."),
            Error::AssignmentNotFound {
                role_id,
                user_id,
                project_id,
            } => format!(
                "Could not find role assignment with role: {role_id}, user or group: \
                 {user_id}, project, domain, or system: {project_id}."
            ),
            Error::NoRoute => "The resource could not be found.".into(),
            Error::MethodNotAllowed => "The method is not allowed for the requested URL.".into(),
            Error::BadRequest(m) => m.clone(),
            Error::Conflict { kind, detail } => {
                format!("Conflict occurred attempting to store {kind} - {detail}")
            }
            // Internal details go to the log, never to the client.
            Error::Config(_) | Error::Db(_) | Error::Internal(_) => {
                "An unexpected error prevented the server from fulfilling your request.".into()
            }
        }
    }

    fn title(&self) -> &'static str {
        match self.status_code() {
            StatusCode::BAD_REQUEST => "Bad Request",
            StatusCode::UNAUTHORIZED => "Unauthorized",
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not Found",
            StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed",
            StatusCode::CONFLICT => "Conflict",
            _ => "Internal Server Error",
        }
    }

    /// The Keystone JSON error body for this error.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            error: ErrorBody {
                code: self.status_code().as_u16(),
                message: self.message(),
                title: self.title().into(),
            },
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthorized | Error::UnauthorizedMessage(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } | Error::ForbiddenMessage(_) => StatusCode::FORBIDDEN,
            Error::TokenNotFound
            | Error::NotFound { .. }
            | Error::NotFoundMessage(_)
            | Error::AssignmentNotFound { .. }
            | Error::NoRoute => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Config(_) | Error::Db(_) | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.status_code().is_server_error() {
            // The one place an internal failure is logged: where it is answered.
            tracing::error!(error = %self, "identity request failed");
        }
        HttpResponse::build(self.status_code()).json(self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthorized_body_is_keystones() {
        let v = serde_json::to_value(Error::Unauthorized.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": 401,
                "message": "The request you have made requires authentication.",
                "title": "Unauthorized"}})
        );
    }

    #[test]
    fn internal_errors_hide_details() {
        let e = Error::Internal("key file /secret unreadable".into());
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.body().error.message.contains("secret"));
    }

    #[test]
    fn forbidden_names_the_policy() {
        let e = Error::Forbidden {
            action: "identity:list_user_projects".into(),
        };
        assert_eq!(
            e.body().error.message,
            "You are not authorized to perform the requested action: identity:list_user_projects."
        );
    }
}
