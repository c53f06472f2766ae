//! The OpenAPI description of the routes [`crate::configure`] mounts.

use utoipa::OpenApi;

/// OpenAPI document of the image API; every handler is listed here.
#[derive(OpenApi)]
#[openapi(info(title = "atoll image (Glance v2)", version = "2.17"))]
pub struct ApiDoc;
