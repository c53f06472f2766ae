//! Service information: limits, quota sets and classes (admins set
//! them), availability zones and, for admins, services (a backend per
//! storage policy).

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
    let (p, cfg) = (caller.project.clone(), cinder.cfg.quotas.clone());
    let (u, q) = run(&cinder, move |c| {
        Ok((
            quota::usage(c, &p)?,
            quota::limits(c, &cfg, Some(&p), "default")?.0,
        ))
    })
    .await?;
    let q = &q;
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

/// A quota set as Cinder shows it: the limits of a project (`project`)
/// or of a quota class, with usage when `usage` (and a project), its id
/// when given, and the per-type keys of every volume type.
async fn quota_view(
    cinder: &Cinder,
    project: Option<String>,
    class: String,
    id: Option<String>,
    usage: bool,
) -> Result<Map<String, Value>> {
    let cfg = cinder.cfg.quotas.clone();
    let types = crate::types::names(cinder).await?;
    run(cinder, move |c| {
        let (q, per_type) = quota::limits(c, &cfg, project.as_deref(), &class)?;
        let u = match (&project, usage) {
            (Some(p), true) => Some(quota::usage(c, p)?),
            _ => None,
        };
        let item = |limit: i64, used: i64| match u {
            Some(_) => json!({"limit": limit, "in_use": used, "reserved": 0}),
            None => json!(limit),
        };
        let u0 = u.unwrap_or_default();
        let mut m = Map::new();
        if let Some(id) = &id {
            m.insert("id".into(), json!(id));
        }
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
        for t in &types {
            let (nv, vgb, ns, sgb) = match (&project, usage) {
                (Some(p), true) => db::volumes::type_usage(c, p, t)?,
                _ => (0, 0, 0, 0),
            };
            let limit = |k: &str| per_type.get(&format!("{k}_{t}")).copied().unwrap_or(-1);
            m.insert(format!("volumes_{t}"), item(limit("volumes"), nv));
            m.insert(format!("snapshots_{t}"), item(limit("snapshots"), ns));
            m.insert(
                format!("gigabytes_{t}"),
                item(limit("gigabytes"), vgb + sgb),
            );
        }
        Ok(m)
    })
    .await
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
    let m = quota_view(
        &cinder,
        Some(target.clone()),
        "default".into(),
        Some(target),
        usage,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "quota_set": m })))
}

/// The default quotas.
#[utoipa::path(get, path = "/v3/{project_id}/os-quota-sets/{target}/defaults", tag = "info",
    responses((status = 200, description = "Default quota set")))]
pub async fn quota_defaults(
    _caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<QuotaPath>,
) -> Result<HttpResponse> {
    let m = quota_view(
        &cinder,
        None,
        "default".into(),
        Some(path.target.clone()),
        false,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "quota_set": m })))
}

/// The `quota_set` / `quota_class_set` object of an update body.
fn limits_of(body: &[u8], key: &str, types: &[String]) -> Result<Vec<(String, i64)>> {
    let v: Value = serde_json::from_slice(body).map_err(|_| crate::http::malformed())?;
    let m = v.get(key).and_then(Value::as_object).ok_or_else(|| {
        CinderError::BadRequest(format!("Missing required element '{key}' in request body."))
    })?;
    let mut m = m.clone();
    // Keys Cinder ignores here (cinderclient sends tenant_id), and its flag
    // for checking limits against usage, which atoll never does on update.
    for k in ["skip_validation", "tenant_id", "id", "class_name"] {
        m.remove(k);
    }
    quota::parse_limits(&m, types)
}

/// Sets a project's limits (admin); the answer holds all of them.
#[utoipa::path(put, path = "/v3/{project_id}/os-quota-sets/{target}", tag = "info",
    request_body = crate::dto::ActionRequest,
    responses((status = 200, description = "Quota set"), (status = 400, description = "Bad key or value"),
        (status = 403, description = "Not admin")))]
pub async fn update_quota_set(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<QuotaPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:quotas:update")?;
    let types = crate::types::names(&cinder).await?;
    let limits = limits_of(&body, "quota_set", &types)?;
    let t = path.target.clone();
    crate::views::tx(&cinder, move |c| quota::store(c, false, &t, &limits)).await?;
    let m = quota_view(
        &cinder,
        Some(path.target.clone()),
        "default".into(),
        None,
        false,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "quota_set": m })))
}

/// Drops a project's own limits (admin): the defaults apply again.
#[utoipa::path(delete, path = "/v3/{project_id}/os-quota-sets/{target}", tag = "info",
    responses((status = 200, description = "Reset"), (status = 403, description = "Not admin")))]
pub async fn delete_quota_set(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<QuotaPath>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:quotas:delete")?;
    let t = path.target.clone();
    crate::views::tx(&cinder, move |c| quota::reset_project(c, &t)).await?;
    Ok(HttpResponse::Ok().finish())
}

#[derive(Debug, serde::Deserialize)]
pub struct ClassPath {
    pub class: String,
}

/// A quota class's limits (admin); `default` holds every project's
/// defaults.
#[utoipa::path(get, path = "/v3/{project_id}/os-quota-class-sets/{class}", tag = "info",
    responses((status = 200, description = "Quota class set"), (status = 403, description = "Not admin")))]
pub async fn quota_class(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<ClassPath>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:quota_classes")?;
    let m = quota_view(
        &cinder,
        None,
        path.class.clone(),
        Some(path.class.clone()),
        false,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "quota_class_set": m })))
}

/// Sets a quota class's limits (admin).
#[utoipa::path(put, path = "/v3/{project_id}/os-quota-class-sets/{class}", tag = "info",
    request_body = crate::dto::ActionRequest,
    responses((status = 200, description = "Quota class set"), (status = 400, description = "Bad key or value"),
        (status = 403, description = "Not admin")))]
pub async fn update_quota_class(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<ClassPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:quota_classes:update")?;
    let types = crate::types::names(&cinder).await?;
    let limits = limits_of(&body, "quota_class_set", &types)?;
    let k = path.class.clone();
    crate::views::tx(&cinder, move |c| quota::store(c, true, &k, &limits)).await?;
    let m = quota_view(&cinder, None, path.class.clone(), None, false).await?;
    Ok(HttpResponse::Ok().json(json!({ "quota_class_set": m })))
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
    let mut list: Vec<Value> = crate::services::all_states(&cinder)
        .await?
        .into_iter()
        .map(|(binary, host, st)| {
            let mut v = json!({"binary": binary, "host": host, "zone": zone,
                "status": if st.disabled { "disabled" } else { "enabled" },
                "state": "up", "updated_at": now, "disabled_reason": st.disabled_reason});
            if caller.at_least(crate::microversion::features::CLUSTER_SUPPORT) {
                v["cluster"] = Value::Null;
            }
            if binary == crate::services::VOLUME_BINARY {
                v["replication_status"] = json!("disabled");
                v["active_backend_id"] = Value::Null;
                v["frozen"] = json!(st.frozen);
                if caller.at_least(crate::microversion::features::BACKEND_STATE_REPORT) {
                    v["backend_state"] = json!("up");
                }
            }
            v
        })
        .collect();
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

/// One pool per storage policy (`atoll@<policy>#<policy>`), with its
/// capacity when `detail` (admin).
#[utoipa::path(get, path = "/v3/{project_id}/scheduler-stats/get_pools", tag = "info",
    params(("detail" = Option<bool>, Query, description = "Include capabilities")),
    responses((status = 200, description = "Pools"), (status = 403, description = "Not admin")))]
pub async fn pools(
    caller: Caller,
    req: actix_web::HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    caller.require_admin("scheduler_extension:scheduler_stats:get_pools")?;
    let detail = query(&req)?
        .get("detail")
        .is_some_and(|v| str_bool(v) == Some(true));
    let mut out = Vec::new();
    for policy in policies(&cinder) {
        let name = format!("atoll@{policy}#{policy}");
        if !detail {
            out.push(json!({ "name": name }));
            continue;
        }
        let cap = cinder.arch.capacity(&policy).await?;
        let gib = |b: u64| (b as f64 / (1u64 << 30) as f64 * 100.0).round() / 100.0;
        let (total, free) = match cap {
            Some(c) => (json!(gib(c.total)), json!(gib(c.free))),
            None => (json!("unknown"), json!("unknown")),
        };
        let now = timestamp(db::now_micros());
        out.push(json!({"name": name, "capabilities": {
            "updated": now, "timestamp": now, "QoS_support": false,
            "total_capacity_gb": total, "free_capacity_gb": free,
            "volume_backend_name": policy, "driver_version": env!("CARGO_PKG_VERSION"),
            "reserved_percentage": 0, "storage_protocol": "nbd", "vendor_name": "atoll",
            "thin_provisioning_support": true, "multiattach": false}}));
    }
    Ok(HttpResponse::Ok().json(json!({ "pools": out })))
}

/// The storage policies, each once, the default first.
pub(crate) fn policies(cinder: &Cinder) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in &cinder.cfg.volume_types {
        if !out.contains(&t.policy) {
            out.push(t.policy.clone());
        }
    }
    out
}

#[derive(Debug, serde::Deserialize)]
pub struct HostPath {
    pub host: String,
}

/// A backend's capabilities (admin); the host is `atoll@<policy>`.
#[utoipa::path(get, path = "/v3/{project_id}/capabilities/{host}", tag = "info",
    responses((status = 200, description = "Capabilities"), (status = 404, description = "No such backend")))]
pub async fn capabilities(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<HostPath>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:capabilities")?;
    let host = path.host.split('#').next().unwrap_or_default();
    let policy = host
        .strip_prefix("atoll@")
        .filter(|p| policies(&cinder).iter().any(|x| x == p))
        .ok_or_else(|| {
            CinderError::NotFound(format!("Service {} could not be found.", path.host))
        })?;
    Ok(HttpResponse::Ok().json(json!({
        "namespace": format!("OS::Storage::Capabilities::{host}"),
        "vendor_name": "atoll", "volume_backend_name": policy, "pool_name": null,
        "driver_version": env!("CARGO_PKG_VERSION"), "storage_protocol": "nbd",
        "display_name": null, "description": null, "visibility": null,
        "replication_targets": [], "properties": {}})))
}
