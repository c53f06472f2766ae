//! The OpenAPI description of the routes [`crate::configure`] mounts.

use utoipa::OpenApi;

/// OpenAPI document of the volume API; every handler is listed here.
#[derive(OpenApi)]
#[openapi(info(title = "atoll volume (Cinder v3)", version = "3.71"))]
pub struct ApiDoc;
