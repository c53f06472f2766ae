//! The service catalog as entities: `/v3/services`, `/v3/endpoints`,
//! `/v3/regions`. The catalog comes from the configuration (one region,
//! every service on the three interfaces), so these are read-only; ids are
//! the stable ones tokens carry in their catalog.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{base_url, caller, collection_links, query, reader_caller};
use crate::config::Service;
use crate::dto::{
    CatalogServiceEntity, EndpointEntity, EndpointResponse, EndpointsResponse, ErrorResponse,
    RegionEntity, RegionResponse, RegionsResponse, SelfLink, ServiceResponse, ServicesResponse,
};
use crate::error::{Error, Result};
use crate::Identity;

/// The services with URL templates as configured (`$(project_id)s` for the
/// project).
fn services(id: &Identity) -> Vec<Service> {
    crate::admin::catalog(id)
}

fn service_json(base: &str, s: &Service) -> CatalogServiceEntity {
    CatalogServiceEntity {
        links: SelfLink {
            self_: format!("{base}/v3/services/{}", s.id),
        },
        id: s.id.clone(),
        service_type: s.service_type.clone(),
        name: s.name.clone(),
        enabled: true,
    }
}

fn endpoints(base: &str, region: &str, services: &[Service]) -> Vec<EndpointEntity> {
    services
        .iter()
        .flat_map(|s| {
            s.endpoints.iter().map(move |e| EndpointEntity {
                links: SelfLink {
                    self_: format!("{base}/v3/endpoints/{}", e.id),
                },
                id: e.id.clone(),
                interface: e.interface.into(),
                region: region.into(),
                region_id: region.into(),
                service_id: s.id.clone(),
                url: e.url.clone(),
                enabled: true,
            })
        })
        .collect()
}

fn region_json(base: &str, region: &str) -> RegionEntity {
    RegionEntity {
        links: SelfLink {
            self_: format!("{base}/v3/regions/{region}"),
        },
        id: region.into(),
        description: String::new(),
        parent_region_id: None,
    }
}

/// Catalog services (admin), optionally filtered by `type` and `name`.
#[utoipa::path(
    get,
    path = "/v3/services",
    tag = "catalog",
    params(
        ("type" = Option<String>, Query, description = "Service type"),
        ("name" = Option<String>, Query, description = "Service name"),
    ),
    responses(
        (status = 200, description = "Services", body = ServicesResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
    )
)]
pub(crate) async fn list_services(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_services").await?;
    let q = query(&req)?;
    let base = base_url(&req);
    let list = services(&id)
        .iter()
        .filter(|s| q.get("type").is_none_or(|t| *t == s.service_type))
        .filter(|s| q.get("name").is_none_or(|n| *n == s.name))
        .map(|s| service_json(&base, s))
        .collect();
    Ok(HttpResponse::Ok().json(ServicesResponse {
        services: list,
        links: collection_links(&req),
    }))
}

/// One catalog service (admin).
#[utoipa::path(
    get,
    path = "/v3/services/{service_id}",
    tag = "catalog",
    params(("service_id" = String, Path, description = "Service id")),
    responses(
        (status = 200, description = "The service", body = ServiceResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 404, description = "No such service", body = ErrorResponse),
    )
)]
pub(crate) async fn get_service(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:get_service").await?;
    let sid = path.into_inner();
    let all = services(&id);
    let s = all.iter().find(|s| s.id == sid).ok_or(Error::NotFound {
        kind: "service",
        id: sid,
    })?;
    Ok(HttpResponse::Ok().json(ServiceResponse {
        service: service_json(&base_url(&req), s),
    }))
}

/// Endpoints (admin), optionally filtered by `service_id`, `interface` and
/// `region_id`.
#[utoipa::path(
    get,
    path = "/v3/endpoints",
    tag = "catalog",
    params(
        ("service_id" = Option<String>, Query, description = "Service id"),
        ("interface" = Option<String>, Query, description = "public, internal or admin"),
        ("region_id" = Option<String>, Query, description = "Region id"),
    ),
    responses(
        (status = 200, description = "Endpoints", body = EndpointsResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
    )
)]
pub(crate) async fn list_endpoints(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_endpoints").await?;
    let q = query(&req)?;
    let region = id.catalog().region().to_string();
    let list = endpoints(&base_url(&req), &region, &services(&id))
        .into_iter()
        .filter(|e| q.get("service_id").is_none_or(|s| *s == e.service_id))
        .filter(|e| q.get("interface").is_none_or(|i| *i == e.interface))
        .filter(|e| q.get("region_id").is_none_or(|r| *r == e.region_id))
        .collect();
    Ok(HttpResponse::Ok().json(EndpointsResponse {
        endpoints: list,
        links: collection_links(&req),
    }))
}

/// One endpoint (admin).
#[utoipa::path(
    get,
    path = "/v3/endpoints/{endpoint_id}",
    tag = "catalog",
    params(("endpoint_id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 404, description = "No such endpoint", body = ErrorResponse),
    )
)]
pub(crate) async fn get_endpoint(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:get_endpoint").await?;
    let eid = path.into_inner();
    let region = id.catalog().region().to_string();
    let e = endpoints(&base_url(&req), &region, &services(&id))
        .into_iter()
        .find(|e| e.id == eid)
        .ok_or(Error::NotFound {
            kind: "endpoint",
            id: eid,
        })?;
    Ok(HttpResponse::Ok().json(EndpointResponse { endpoint: e }))
}

/// Regions: any authenticated caller, as Keystone's default policy allows.
#[utoipa::path(
    get,
    path = "/v3/regions",
    tag = "catalog",
    params(("parent_region_id" = Option<String>, Query, description = "Parent region")),
    responses(
        (status = 200, description = "Regions", body = RegionsResponse),
        (status = 401, description = "Token invalid", body = ErrorResponse),
    )
)]
pub(crate) async fn list_regions(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    caller(&req, &id).await?;
    let q = query(&req)?;
    // The one region has no parent: a parent filter matches nothing.
    let regions = if q.contains_key("parent_region_id") {
        Vec::new()
    } else {
        vec![region_json(&base_url(&req), id.catalog().region())]
    };
    Ok(HttpResponse::Ok().json(RegionsResponse {
        regions,
        links: collection_links(&req),
    }))
}

/// One region: any authenticated caller.
#[utoipa::path(
    get,
    path = "/v3/regions/{region_id}",
    tag = "catalog",
    params(("region_id" = String, Path, description = "Region id")),
    responses(
        (status = 200, description = "The region", body = RegionResponse),
        (status = 401, description = "Token invalid", body = ErrorResponse),
        (status = 404, description = "No such region", body = ErrorResponse),
    )
)]
pub(crate) async fn get_region(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    caller(&req, &id).await?;
    let rid = path.into_inner();
    if rid != id.catalog().region() {
        return Err(Error::NotFound {
            kind: "region",
            id: rid,
        });
    }
    Ok(HttpResponse::Ok().json(RegionResponse {
        region: region_json(&base_url(&req), &rid),
    }))
}
