//! The volume API's one error type and its mapping to Cinder's status codes
//! and JSON fault bodies (`{"itemNotFound": {"code": 404, "message": ...}}`).
//! Only this file turns errors into HTTP; an unmapped core error is a
//! logged 500 (`computeFault`), its detail never sent to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Everything a volume API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CinderError {
    /// 400 `badRequest`: malformed input or a state that forbids the action
    /// (Cinder's `InvalidInput`, `InvalidVolume`, ...).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid token.
    #[error("unauthorized")]
    Unauthorized,
    /// 403 `forbidden`: policy refuses the caller.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `itemNotFound`.
    #[error("{0}")]
    NotFound(String),
    /// 405 `badMethod`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 406 (`computeFault`, as Cinder's Fault names it): microversion out
    /// of range.
    #[error("{0}")]
    NotAcceptable(String),
    /// 409 `conflictingRequest`.
    #[error("{0}")]
    Conflict(String),
    /// 413 `overLimit`: a quota would be exceeded.
    #[error("{0}")]
    OverLimit(String),
    /// Resource layer failure (logged 500).
    #[error(transparent)]
    Storage(#[from] archipelago::Error),
    /// Metadata store failure (logged 500).
    #[error(transparent)]
    Db(#[from] db::Error),
    /// Token validation failed for a reason other than a bad token.
    #[error(transparent)]
    Identity(identity::Error),
}

impl From<diesel::result::Error> for CinderError {
    fn from(e: diesel::result::Error) -> Self {
        CinderError::Db(db::Error::Query(e))
    }
}

impl From<serde_json::Error> for CinderError {
    fn from(e: serde_json::Error) -> Self {
        // Only our own stored JSON columns are parsed with `?`: a failure
        // there is corrupt metadata, not bad input.
        CinderError::Db(db::Error::Task(format!("stored JSON: {e}")))
    }
}

pub type Result<T, E = CinderError> = std::result::Result<T, E>;

impl CinderError {
    pub fn volume_not_found(id: &str) -> Self {
        CinderError::NotFound(format!("Volume {id} could not be found."))
    }
    pub fn snapshot_not_found(id: &str) -> Self {
        CinderError::NotFound(format!("Snapshot {id} could not be found."))
    }
    pub fn attachment_not_found(id: &str) -> Self {
        CinderError::NotFound(format!(
            "Volume attachment could not be found with filter: attachment_id = {id}."
        ))
    }
    /// Cinder's `InvalidVolume`.
    pub fn invalid_volume(reason: impl std::fmt::Display) -> Self {
        CinderError::BadRequest(format!("Invalid volume: {reason}"))
    }
    /// Cinder's `InvalidInput`.
    pub fn invalid_input(reason: impl std::fmt::Display) -> Self {
        CinderError::BadRequest(format!("Invalid input received: {reason}"))
    }
    /// Cinder's `InvalidSnapshot`.
    pub fn invalid_snapshot(reason: impl std::fmt::Display) -> Self {
        CinderError::BadRequest(format!("Invalid snapshot: {reason}"))
    }
    /// A policy refusal, worded as oslo.policy words it.
    pub fn policy(rule: &str) -> Self {
        CinderError::Forbidden(format!("Policy doesn't allow {rule} to be performed."))
    }

    fn fault_name(&self) -> &'static str {
        match self.status_code().as_u16() {
            400 => "badRequest",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "itemNotFound",
            405 => "badMethod",
            409 => "conflictingRequest",
            413 => "overLimit",
            _ => "computeFault",
        }
    }

    fn message(&self) -> String {
        use CinderError::*;
        match self {
            Storage(_) | Db(_) | Identity(_) => "The server has either erred or is incapable of \
                                                 performing the requested operation."
                .into(),
            MethodNotAllowed => "The server could not comply with the request since it is \
                                 either malformed or otherwise incorrect."
                .into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for CinderError {
    fn status_code(&self) -> StatusCode {
        use CinderError::*;
        match self {
            BadRequest(_) => StatusCode::BAD_REQUEST,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden(_) => StatusCode::FORBIDDEN,
            NotFound(_) => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Conflict(_) => StatusCode::CONFLICT,
            OverLimit(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Storage(archipelago::Error::Chunk(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Storage(_) | Db(_) | Identity(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "volume API request failed");
        }
        // keystonemiddleware, not Cinder, answers a missing token.
        let body = if matches!(self, CinderError::Unauthorized) {
            json!({"error": {"code": 401, "title": "Unauthorized",
                "message": "The request you have made requires authentication."}})
        } else {
            let name = if status == StatusCode::SERVICE_UNAVAILABLE {
                "serviceUnavailable"
            } else {
                self.fault_name()
            };
            json!({ name: {"code": status.as_u16(), "message": self.message()} })
        };
        HttpResponse::build(status).json(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: CinderError) -> (u16, serde_json::Value) {
        let r = e.error_response();
        let status = r.status().as_u16();
        let b = actix_web::body::to_bytes(r.into_body());
        let b = futures::executor::block_on(b).unwrap();
        (status, serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn errors_map_to_cinder_fault_bodies() {
        let (s, b) = body(CinderError::volume_not_found("v1"));
        assert_eq!(s, 404);
        assert_eq!(
            b,
            json!({"itemNotFound": {"code": 404, "message": "Volume v1 could not be found."}})
        );
        let (s, b) = body(CinderError::invalid_volume("busy"));
        assert_eq!(s, 400);
        assert_eq!(b["badRequest"]["message"], "Invalid volume: busy");
        let (s, b) = body(CinderError::OverLimit("quota".into()));
        assert_eq!((s, b["overLimit"]["code"].as_u64()), (413, Some(413)));
        let (s, b) = body(CinderError::NotAcceptable("Version 3.99 ...".into()));
        assert_eq!(s, 406);
        assert_eq!(b["computeFault"]["code"], 406);
        let (s, b) = body(CinderError::Unauthorized);
        assert_eq!(s, 401);
        assert_eq!(b["error"]["title"], "Unauthorized");
        let (s, b) = body(CinderError::policy("volume:create"));
        assert_eq!(s, 403);
        assert_eq!(
            b["forbidden"]["message"],
            "Policy doesn't allow volume:create to be performed."
        );
    }

    #[test]
    fn core_errors_are_500_without_detail() {
        let (s, b) = body(CinderError::Db(db::Error::Pool("secret detail".into())));
        assert_eq!(s, 500);
        let msg = b["computeFault"]["message"].as_str().unwrap();
        assert!(!msg.contains("secret"), "{msg}");
    }
}
