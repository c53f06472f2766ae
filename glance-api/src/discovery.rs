//! Version discovery (`GET /`, `GET /versions`), the JSON schemas the
//! clients fetch and validate against, and `/v2/info/import|stores`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::dto::{StoreInfo, StoresInfo};
use crate::error::{GlanceError, Result};
use crate::http::{base_url, Caller};
use crate::Glance;

/// The newest minor version implemented (the locations API of 2.17).
pub const CURRENT: u32 = 17;

/// Glance's versions document: v2.0..v2.17 (no v2.14 or v2.16, which Glance
/// never released), hrefs built from the request's Host.
pub fn versions_doc(base: &str) -> serde_json::Value {
    let href = format!("{base}/v2/");
    let versions: Vec<serde_json::Value> = (0..=CURRENT)
        .rev()
        .filter(|m| *m != 14 && *m != 16)
        .map(|m| {
            json!({
                "id": format!("v2.{m}"),
                "status": if m == CURRENT { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": href}],
            })
        })
        .collect();
    json!({ "versions": versions })
}

/// `GET /`: 300 Multiple Choices with the versions.
#[utoipa::path(get, path = "/", tag = "discovery", responses((status = 300)))]
pub async fn root(req: HttpRequest) -> HttpResponse {
    HttpResponse::build(StatusCode::MULTIPLE_CHOICES).json(versions_doc(&base_url(&req)))
}

/// `GET /versions`: 200 with the versions.
#[utoipa::path(get, path = "/versions", tag = "discovery", responses((status = 200)))]
pub async fn versions(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(versions_doc(&base_url(&req)))
}

fn schema_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "image" => include_str!("../schemas/image.json"),
        "images" => include_str!("../schemas/images.json"),
        "member" => include_str!("../schemas/member.json"),
        "members" => include_str!("../schemas/members.json"),
        "metadefs/namespace" => include_str!("../schemas/metadefs-namespace.json"),
        "metadefs/resource_type" => include_str!("../schemas/metadefs-resource_type.json"),
        _ => return None,
    })
}

/// `GET /v2/schemas/{name}` (image, images, member, members, and the
/// metadefs schemas python-glanceclient asks for).
#[utoipa::path(get, path = "/v2/schemas/{name}", tag = "discovery",
    params(("name" = String, Path)), responses((status = 200), (status = 404)))]
pub async fn schema(_caller: Caller, req: HttpRequest) -> Result<HttpResponse> {
    let name = req.match_info().query("name");
    let text = schema_text(name)
        .ok_or_else(|| GlanceError::NotFound("The resource could not be found.".into()))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(text))
}

/// `GET /v2/info/import`
#[utoipa::path(get, path = "/v2/info/import", tag = "discovery", responses((status = 200)))]
pub async fn import_info(_caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": ["glance-direct", "copy-image"],
        }
    }))
}

/// `GET /v2/info/stores`: atoll's storage policies, the first the default.
#[utoipa::path(get, path = "/v2/info/stores", tag = "discovery",
    responses((status = 200, body = StoresInfo)))]
pub async fn stores_info(g: web::Data<Glance>, _caller: Caller) -> HttpResponse {
    let stores = g
        .cfg
        .stores
        .iter()
        .enumerate()
        .map(|(i, s)| StoreInfo {
            id: s.clone(),
            description: format!("atoll storage policy {s}"),
            default: (i == 0).then_some(true),
        })
        .collect();
    HttpResponse::Ok().json(StoresInfo { stores })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_glance() {
        let v = versions_doc("http://h:1");
        let ids: Vec<&str> = v["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 16);
        assert!(ids.contains(&"v2.0") && ids.contains(&"v2.17") && !ids.contains(&"v2.14"));
        assert_eq!(v["versions"][0]["status"], "CURRENT");
        assert_eq!(v["versions"][0]["links"][0]["href"], "http://h:1/v2/");
    }

    #[test]
    fn schemas_are_json() {
        for n in ["image", "images", "member", "members", "metadefs/namespace"] {
            let v: serde_json::Value = serde_json::from_str(schema_text(n).unwrap()).unwrap();
            assert!(v["name"].is_string(), "{n}");
        }
    }
}
