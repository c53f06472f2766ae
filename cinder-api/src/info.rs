//! Read-only service information: limits, quota sets, availability zones,
//! volume types (each naming a storage policy) and, for admins, services.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::dto::*;
use crate::error::{CinderError, Result};
use crate::http::{query, str_bool, timestamp, Caller};
use crate::views::{self, run};
use crate::{quota, Cinder};

/// Absolute limits and the caller's usage.
#[utoipa::path(get, path = "/v3/{project_id}/limits", tag = "info",
    responses((status = 200, description = "Limits")))]
pub async fn limits(caller: Caller, cinder: web::Data<Cinder>) -> Result<HttpResponse> {
    let p = caller.project.clone();
    let u = run(&cinder, move |c| quota::usage(c, &p)).await?;
    let q = &cinder.cfg.quotas;
    Ok(
        HttpResponse::Ok().json(json!({"limits": {"rate": [], "absolute": {
        "totalSnapshotsUsed": u.snapshots, "maxTotalBackups": q.backups,
        "maxTotalVolumeGigabytes": q.gigabytes, "maxTotalSnapshots": q.snapshots,
        "maxTotalBackupGigabytes": q.backup_gigabytes, "totalBackupGigabytesUsed": 0,
        "maxTotalVolumes": q.volumes, "totalVolumesUsed": u.volumes, "totalBackupsUsed": 0,
        "totalGigabytesUsed": u.gigabytes}}})),
    )
}

#[derive(Debug, serde::Deserialize)]
pub struct QuotaPath {
    pub target: String,
}

fn quota_body(cinder: &Cinder, id: &str, u: Option<quota::Usage>) -> Value {
    let q = &cinder.cfg.quotas;
    let item = |limit: i64, used: i64| match u {
        Some(_) => json!({"limit": limit, "in_use": used, "reserved": 0}),
        None => json!(limit),
    };
    let u0 = u.unwrap_or_default();
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("volumes".into(), item(q.volumes, u0.volumes));
    m.insert("snapshots".into(), item(q.snapshots, u0.snapshots));
    m.insert("gigabytes".into(), item(q.gigabytes, u0.gigabytes));
    m.insert("backups".into(), item(q.backups, 0));
    m.insert("backup_gigabytes".into(), item(q.backup_gigabytes, 0));
    m.insert(
        "per_volume_gigabytes".into(),
        item(q.per_volume_gigabytes, 0),
    );
    m.insert("groups".into(), item(q.groups, 0));
    for t in &cinder.cfg.volume_types {
        // Per-type quotas are unlimited; usage is not split by type here.
        m.insert(format!("volumes_{}", t.name), item(-1, 0));
        m.insert(format!("snapshots_{}", t.name), item(-1, 0));
        m.insert(format!("gigabytes_{}", t.name), item(-1, 0));
    }
    json!({"quota_set": m})
}

/// A project's quotas; with `usage=True`, limit, in_use and reserved.
#[utoipa::path(get, path = "/v3/{project_id}/os-quota-sets/{target}", tag = "info",
    params(("usage" = Option<bool>, Query, description = "Include usage")),
    responses((status = 200, description = "Quota set")))]
pub async fn quota_set(
    caller: Caller,
    req: actix_web::HttpRequest,
    cinder: web::Data<Cinder>,
    path: web::Path<QuotaPath>,
) -> Result<HttpResponse> {
    let target = path.target.clone();
    if target != caller.project && !caller.is_admin() {
        return Err(CinderError::policy("volume_extension:quotas:show"));
    }
    let usage = query(&req)?
        .get("usage")
        .is_some_and(|v| str_bool(v) == Some(true));
    let u = if usage {
        let t = target.clone();
        Some(run(&cinder, move |c| quota::usage(c, &t)).await?)
    } else {
        None
    };
    Ok(HttpResponse::Ok().json(quota_body(&cinder, &target, u)))
}

/// The default quotas.
#[utoipa::path(get, path = "/v3/{project_id}/os-quota-sets/{target}/defaults", tag = "info",
    responses((status = 200, description = "Default quota set")))]
pub async fn quota_defaults(
    _caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<QuotaPath>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(quota_body(&cinder, &path.target, None)))
}

/// The one availability zone.
#[utoipa::path(get, path = "/v3/{project_id}/os-availability-zone", tag = "info",
    responses((status = 200, description = "Zones")))]
pub async fn availability_zones(
    _caller: Caller,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({"availabilityZoneInfo": [
        {"zoneName": cinder.cfg.availability_zone, "zoneState": {"available": true}}]})))
}

/// The volume types; the first configured is the default.
#[utoipa::path(get, path = "/v3/{project_id}/types", tag = "types",
    responses((status = 200, body = VolumeTypesResponse)))]
pub async fn list_types(_caller: Caller, cinder: web::Data<Cinder>) -> Result<HttpResponse> {
    let types = cinder
        .cfg
        .volume_types
        .iter()
        .enumerate()
        .map(|(i, t)| views::type_view(t, i == 0))
        .collect();
    Ok(HttpResponse::Ok().json(VolumeTypesResponse {
        volume_types: types,
    }))
}

/// The default volume type.
#[utoipa::path(get, path = "/v3/{project_id}/types/default", tag = "types",
    responses((status = 200, body = VolumeTypeResponse)))]
pub async fn default_type(_caller: Caller, cinder: web::Data<Cinder>) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(VolumeTypeResponse {
        volume_type: views::type_view(&cinder.cfg.volume_types[0], true),
    }))
}

#[derive(Debug, serde::Deserialize)]
pub struct TypePath {
    pub type_id: String,
}

fn find(cinder: &Cinder, id: &str) -> Result<VolumeTypeView> {
    let t = views::find_type(cinder, id)
        .ok_or_else(|| CinderError::NotFound(format!("Volume type {id} could not be found.")))?;
    Ok(views::type_view(
        t,
        t.name == cinder.cfg.volume_types[0].name,
    ))
}

/// One volume type, by id or name.
#[utoipa::path(get, path = "/v3/{project_id}/types/{type_id}", tag = "types",
    responses((status = 200, body = VolumeTypeResponse), (status = 404, description = "No such type")))]
pub async fn show_type(
    _caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(VolumeTypeResponse {
        volume_type: find(&cinder, &path.type_id)?,
    }))
}

/// A volume type's extra specs (its storage policy among them).
#[utoipa::path(get, path = "/v3/{project_id}/types/{type_id}/extra_specs", tag = "types",
    responses((status = 200, description = "Extra specs")))]
pub async fn type_extra_specs(
    _caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
) -> Result<HttpResponse> {
    let t = find(&cinder, &path.type_id)?;
    Ok(HttpResponse::Ok().json(json!({"extra_specs": t.extra_specs})))
}

/// The services of this deployment (admin only).
#[utoipa::path(get, path = "/v3/{project_id}/os-services", tag = "info",
    responses((status = 200, description = "Services"), (status = 403, description = "Not admin")))]
pub async fn services(caller: Caller, cinder: web::Data<Cinder>) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:services:index")?;
    let now = timestamp(db::now_micros());
    let zone = &cinder.cfg.availability_zone;
    let svc = |binary: &str, host: &str| {
        json!({"binary": binary, "host": host, "zone": zone, "status": "enabled",
            "state": "up", "updated_at": now, "disabled_reason": null})
    };
    let mut list = vec![svc("cinder-scheduler", "atoll")];
    for t in &cinder.cfg.volume_types {
        list.push(svc("cinder-volume", &format!("atoll@{}", t.name)));
    }
    Ok(HttpResponse::Ok().json(json!({"services": list})))
}

/// API extensions (none beyond the core v3 API).
#[utoipa::path(get, path = "/v3/{project_id}/extensions", tag = "info",
    responses((status = 200, description = "Extensions")))]
pub async fn extensions(_caller: Caller) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({"extensions": []})))
}
