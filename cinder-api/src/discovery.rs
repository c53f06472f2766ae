//! Version discovery: `GET /` (no token, 300 Multiple Choices) and
//! `GET /v3/` (token required, 200), shaped as Cinder's versions document.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use crate::dto::{Version, VersionsResponse};
use crate::http::{base_url, Caller};
use crate::microversion::{MAX, MIN};

fn versions_body(req: &HttpRequest) -> VersionsResponse {
    VersionsResponse {
        versions: vec![Version {
            id: "v3.0".into(),
            status: "CURRENT".into(),
            version: MAX.to_string(),
            min_version: MIN.to_string(),
            updated: "2023-08-31T00:00:00Z".into(),
            links: vec![
                json!({"rel": "describedby", "type": "text/html",
                    "href": "https://docs.openstack.org/"}),
                json!({"rel": "self", "href": format!("{}/v3/", base_url(req))}),
            ],
            media_types: vec![json!({"base": "application/json",
                "type": "application/vnd.openstack.volume+json;version=3"})],
        }],
    }
}

/// Lists the API versions (3.0 .. 3.71 of v3).
#[utoipa::path(get, path = "/", tag = "discovery",
    responses((status = 300, description = "Available versions", body = VersionsResponse)))]
pub async fn versions(req: HttpRequest) -> HttpResponse {
    HttpResponse::MultipleChoices().json(versions_body(&req))
}

/// The same document under `/v3/` (and `/v3/{project_id}/`, where
/// keystoneauth looks), for authenticated callers.
#[utoipa::path(get, path = "/v3/", tag = "discovery",
    responses((status = 200, description = "Available versions", body = VersionsResponse),
        (status = 401, description = "No valid token")))]
pub async fn version_v3(_caller: Caller, req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(versions_body(&req))
}
