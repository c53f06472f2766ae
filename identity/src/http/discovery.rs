//! Version discovery: `GET /` and `GET /v3`.

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse};

use super::base_url;
use crate::dto::{Link, MediaType, Version, VersionResponse, VersionValues, VersionsResponse};

fn v3(req: &HttpRequest) -> Version {
    Version {
        id: "v3.14".into(),
        status: "stable".into(),
        updated: "2020-04-07T00:00:00Z".into(),
        links: vec![Link {
            rel: "self".into(),
            href: format!("{}/v3/", base_url(req)),
        }],
        media_types: vec![MediaType {
            base: "application/json".into(),
            media_type: "application/vnd.openstack.identity-v3+json".into(),
        }],
    }
}

/// Lists the API versions; 300 Multiple Choices pointing at v3, as Keystone.
#[utoipa::path(
    get,
    path = "/",
    tag = "discovery",
    responses((status = 300, description = "Available versions", body = VersionsResponse,
        headers(("Location" = String, description = "URL of the v3 API"))))
)]
pub(crate) async fn versions(req: HttpRequest) -> HttpResponse {
    let v = v3(&req);
    let location = v.links[0].href.clone();
    HttpResponse::MultipleChoices()
        .insert_header((LOCATION, location))
        .json(VersionsResponse {
            versions: VersionValues { values: vec![v] },
        })
}

/// Describes the v3 API (also served at `/v3/`).
#[utoipa::path(
    get,
    path = "/v3",
    tag = "discovery",
    responses((status = 200, description = "The v3 version document", body = VersionResponse))
)]
pub(crate) async fn version_v3(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(VersionResponse { version: v3(&req) })
}
