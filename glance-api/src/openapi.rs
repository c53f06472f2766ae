//! The OpenAPI description of the routes [`crate::configure`] mounts.

use utoipa::OpenApi;

/// OpenAPI document of the image API; every handler is listed here.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "atoll image (Glance v2)",
        version = "2.17",
        description = "Glance v2 over atoll's resource layer. Extensions: \
            `POST /v2/images/{image_id}/actions/export` makes an image an object of the \
            caller's Swift account without copying data; adding the location \
            `swift://<account>/<container>/<object>` (JSON patch `add /locations/-` or \
            `POST /v2/images/{image_id}/locations`) makes a queued image active on an \
            existing object's data without copying it. A snapshot is an image with the \
            property `EXCLUDE_ALL_TASKS` (shown as `image_type: snapshot`)."
    ),
    paths(
        crate::discovery::root,
        crate::discovery::versions,
        crate::discovery::schema,
        crate::discovery::import_info,
        crate::discovery::stores_info,
        crate::images::create,
        crate::images::list,
        crate::images::show,
        crate::images::update,
        crate::images::delete,
        crate::images::deactivate,
        crate::images::reactivate,
        crate::data::upload,
        crate::data::download,
        crate::data::stage,
        crate::data::import,
        crate::locations::add_location,
        crate::locations::export,
        crate::members::create,
        crate::members::list,
        crate::members::show,
        crate::members::update,
        crate::members::delete,
        crate::tags::add,
        crate::tags::remove,
    ),
    components(schemas(
        crate::dto::ImageView,
        crate::dto::ImageList,
        crate::dto::MemberView,
        crate::dto::MemberList,
        crate::dto::MemberCreate,
        crate::dto::MemberUpdate,
        crate::dto::ImportRequest,
        crate::dto::ImportMethod,
        crate::dto::LocationAdd,
        crate::dto::ExportRequest,
        crate::dto::ExportResult,
        crate::dto::StoresInfo,
        crate::dto::StoreInfo,
    ))
)]
pub struct ApiDoc;
