//! Read-only service information: limits, quota sets, availability zones
//! and, for admins, services (a backend per storage policy).

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::error::{CinderError, Result};
use crate::http::{query, str_bool, timestamp, Caller};
use crate::views::run;
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

fn quota_body(cinder: &Cinder, types: &[String], id: &str, u: Option<quota::Usage>) -> Value {
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
    for t in types {
        // Per-type quotas are unlimited; usage is not split by type here.
        m.insert(format!("volumes_{t}"), item(-1, 0));
        m.insert(format!("snapshots_{t}"), item(-1, 0));
        m.insert(format!("gigabytes_{t}"), item(-1, 0));
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
    let types = crate::types::names(&cinder).await?;
    Ok(HttpResponse::Ok().json(quota_body(&cinder, &types, &target, u)))
}

/// The default quotas.
#[utoipa::path(get, path = "/v3/{project_id}/os-quota-sets/{target}/defaults", tag = "info",
    responses((status = 200, description = "Default quota set")))]
pub async fn quota_defaults(
    _caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<QuotaPath>,
) -> Result<HttpResponse> {
    let types = crate::types::names(&cinder).await?;
    Ok(HttpResponse::Ok().json(quota_body(&cinder, &types, &path.target, None)))
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

/// The services of this deployment (admin only).
#[utoipa::path(get, path = "/v3/{project_id}/os-services", tag = "info",
    responses((status = 200, description = "Services"), (status = 403, description = "Not admin")))]
pub async fn services(
    caller: Caller,
    req: actix_web::HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:services:index")?;
    let q = query(&req)?;
    let now = timestamp(db::now_micros());
    let zone = &cinder.cfg.availability_zone;
    let svc = |binary: &str, host: &str| {
        json!({"binary": binary, "host": host, "zone": zone, "status": "enabled",
            "state": "up", "updated_at": now, "disabled_reason": null})
    };
    // One volume backend per storage policy (the configured types name
    // each policy once).
    let mut list = vec![svc("cinder-scheduler", "atoll")];
    for t in &cinder.cfg.volume_types {
        list.push(svc("cinder-volume", &format!("atoll@{}", t.policy)));
    }
    // A host filter matches the host and its backends (`host@backend`),
    // as Cinder's does.
    list.retain(|s| {
        let host = s["host"].as_str().unwrap_or_default();
        q.get("binary").is_none_or(|b| s["binary"] == b.as_str())
            && q.get("host").is_none_or(|h| {
                host == h
                    || host
                        .strip_prefix(h.as_str())
                        .is_some_and(|r| r.starts_with('@'))
            })
    });
    Ok(HttpResponse::Ok().json(json!({"services": list})))
}

/// API extensions (none beyond the core v3 API).
#[utoipa::path(get, path = "/v3/{project_id}/extensions", tag = "info",
    responses((status = 200, description = "Extensions")))]
pub async fn extensions(_caller: Caller) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({"extensions": []})))
}
