//! The object-store API description (dumped by `atoll openapi`).

use utoipa::OpenApi;

use crate::{account, bulk, container, info, object, tempauth};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "atoll object-store (OpenStack Swift v1)",
        description = "Swift object API over atoll's resource layer."
    ),
    paths(
        info::healthcheck,
        info::info,
        tempauth::login,
        account::get,
        account::post,
        bulk::delete,
        container::get,
        container::put,
        container::post,
        container::delete,
        object::get,
        object::put,
        object::post,
        object::delete,
        object::copy,
    )
)]
pub struct ApiDoc;
