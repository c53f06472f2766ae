//! `os-hosts` (admin): the services as hosts, and a volume backend's usage
//! per project. One backend (`atoll@<policy>`) per storage policy.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::{CinderError, Result};
use crate::http::{query, timestamp, Caller};
use crate::Cinder;

/// The services of this deployment as (binary, host): one scheduler, one
/// volume backend per storage policy.
pub(crate) fn service_hosts(cinder: &Cinder) -> Vec<(&'static str, String)> {
    let mut out = vec![("cinder-scheduler", "atoll".to_string())];
    for p in crate::info::policies(cinder) {
        out.push(("cinder-volume", format!("atoll@{p}")));
    }
    out
}

/// Every service as a host (admin), optionally only one `service` binary.
#[utoipa::path(get, path = "/v3/{project_id}/os-hosts", tag = "info",
    params(("service" = Option<String>, Query, description = "Only hosts running this binary")),
    responses((status = 200, description = "Hosts"), (status = 403, description = "Not admin")))]
pub async fn list_hosts(
    caller: Caller,
    req: actix_web::HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:hosts")?;
    let q = query(&req)?;
    let now = timestamp(db::now_micros());
    let zone = &cinder.cfg.availability_zone;
    let hosts: Vec<_> = crate::services::all_states(&cinder)
        .await?
        .into_iter()
        .filter(|(binary, _, _)| q.get("service").is_none_or(|s| s == binary))
        .map(|(binary, host, st)| {
            json!({"host_name": host, "service": binary, "zone": zone,
                "service-status": "available",
                "service-state": if st.disabled { "disabled" } else { "enabled" },
                "last-update": now})
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "hosts": hosts })))
}

#[derive(Debug, serde::Deserialize)]
pub struct HostPath {
    #[allow(dead_code)] // the URL's project, checked by `Caller`
    project_id: String,
    host: String,
}

/// What a volume backend holds (admin): the total, then each project's
/// volumes and snapshots, counts and GiB as strings (Cinder's shape).
#[utoipa::path(get, path = "/v3/{project_id}/os-hosts/{host}", tag = "info",
    responses((status = 200, description = "Usage"), (status = 403, description = "Not admin"),
        (status = 404, description = "Not a volume backend")))]
pub async fn show_host(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<HostPath>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:hosts")?;
    let host = path.into_inner().host;
    let policy = host
        .strip_prefix("atoll@")
        .filter(|p| crate::info::policies(&cinder).iter().any(|x| x == p))
        .ok_or_else(|| CinderError::NotFound(format!("Host {host} could not be found.")))?
        .to_string();
    let (vols, snaps) = crate::views::tx(&cinder, |c| Ok(db::volumes::host_usage(c)?)).await?;
    // (volumes, GiB, snapshots, GiB) per project, on this backend only.
    let mut per: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for (project, vtype, size) in vols {
        if cinder.type_of(&vtype).1 == policy {
            let e = per.entry(project).or_default();
            e[0] += 1;
            e[1] += size;
        }
    }
    for (project, vtype, size) in snaps {
        if cinder.type_of(&vtype).1 == policy {
            let e = per.entry(project).or_default();
            e[2] += 1;
            e[3] += size;
        }
    }
    let mut total = [0i64; 4];
    for v in per.values() {
        for i in 0..4 {
            total[i] += v[i];
        }
    }
    let entry = |project: &str, v: &[i64; 4]| {
        json!({"resource": {"host": host, "project": project,
            "volume_count": v[0].to_string(), "total_volume_gb": v[1].to_string(),
            "snapshot_count": v[2].to_string(), "total_snapshot_gb": v[3].to_string()}})
    };
    let mut out = vec![entry("(total)", &total)];
    out.extend(per.iter().map(|(p, v)| entry(p, v)));
    Ok(HttpResponse::Ok().json(json!({ "host": out })))
}
