//! Quotas: per-project limits, checked inside the write transaction that
//! would exceed them (the single writer serializes the check and the
//! insert), and the usage `os-quota-sets` and `limits` show. A project's
//! limits are the configured defaults, overridden by the `default` quota
//! class, overridden by the project's own (`volume_quota_limits`).

use diesel::prelude::*;

use crate::error::{CinderError, Result};
use db::schema::volume_quota_limits as ql;

/// Per-project limits (Cinder's defaults; -1 is unlimited).
#[derive(Debug, Clone)]
pub struct QuotaConfig {
    pub volumes: i64,
    pub snapshots: i64,
    /// GiB of volumes and snapshots together.
    pub gigabytes: i64,
    pub backups: i64,
    pub backup_gigabytes: i64,
    pub per_volume_gigabytes: i64,
    pub groups: i64,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            volumes: 10,
            snapshots: 10,
            gigabytes: 1000,
            backups: 10,
            backup_gigabytes: 1000,
            per_volume_gigabytes: -1,
            groups: 10,
        }
    }
}

/// The resources a quota set holds, in Cinder's order.
pub const RESOURCES: [&str; 7] = [
    "volumes",
    "snapshots",
    "gigabytes",
    "backups",
    "backup_gigabytes",
    "per_volume_gigabytes",
    "groups",
];

impl QuotaConfig {
    fn set(&mut self, resource: &str, v: i64) {
        match resource {
            "volumes" => self.volumes = v,
            "snapshots" => self.snapshots = v,
            "gigabytes" => self.gigabytes = v,
            "backups" => self.backups = v,
            "backup_gigabytes" => self.backup_gigabytes = v,
            "per_volume_gigabytes" => self.per_volume_gigabytes = v,
            "groups" => self.groups = v,
            _ => {}
        }
    }
}

fn project_scope(project: &str) -> String {
    format!("project:{project}")
}

fn class_scope(class: &str) -> String {
    format!("class:{class}")
}

/// Per-type limits (`volumes_<type>` -> limit); a key not present is
/// unlimited.
pub type TypeLimits = std::collections::BTreeMap<String, i64>;

/// The per-type prefixes of quota keys (`volumes_<type>`, ...).
pub const TYPE_PREFIXES: [&str; 3] = ["volumes_", "snapshots_", "gigabytes_"];

/// The limits of a project (`Some`) or of quota class `class`: the
/// configured ones, overridden by the `default` class, then by `class`,
/// then by the project's own, in one query.
pub fn limits(
    c: &mut db::Conn,
    cfg: &QuotaConfig,
    project: Option<&str>,
    class: &str,
) -> Result<(QuotaConfig, TypeLimits)> {
    let mut scopes = vec![class_scope("default")];
    if class != "default" {
        scopes.push(class_scope(class));
    }
    if let Some(p) = project {
        scopes.push(project_scope(p));
    }
    let mut rows: Vec<(String, String, i64)> = ql::table
        .filter(ql::scope.eq_any(&scopes))
        .select((ql::scope, ql::resource, ql::hard_limit))
        .load(c)?;
    // Later scopes override earlier ones.
    rows.sort_by_key(|(scope, ..)| scopes.iter().position(|s| s == scope));
    let (mut q, mut per_type) = (cfg.clone(), TypeLimits::new());
    for (_, r, v) in rows {
        if TYPE_PREFIXES.iter().any(|p| r.starts_with(p)) {
            per_type.insert(r, v);
        } else {
            q.set(&r, v);
        }
    }
    Ok((q, per_type))
}

/// Renames or drops (`to`: None) the per-type limits of a volume type.
pub fn rename_type(c: &mut db::Conn, from: &str, to: Option<&str>) -> Result<()> {
    for p in TYPE_PREFIXES {
        let old = format!("{p}{from}");
        match to {
            Some(t) => {
                diesel::update(ql::table.filter(ql::resource.eq(&old)))
                    .set(ql::resource.eq(format!("{p}{t}")))
                    .execute(c)?;
            }
            None => {
                diesel::delete(ql::table.filter(ql::resource.eq(&old))).execute(c)?;
            }
        }
    }
    Ok(())
}

/// Refuses going past a per-type limit of `vtype`: `volumes` more volumes,
/// `snapshots` more snapshots, `gib` more GiB.
pub fn check_type(
    c: &mut db::Conn,
    limits: &TypeLimits,
    project: &str,
    vtype: &str,
    volumes: i64,
    snapshots: i64,
    gib: i64,
) -> Result<()> {
    let limit = |k: &str| limits.get(&format!("{k}_{vtype}")).copied().unwrap_or(-1);
    let (lv, ls, lg) = (limit("volumes"), limit("snapshots"), limit("gigabytes"));
    if lv < 0 && ls < 0 && lg < 0 {
        return Ok(());
    }
    let (nv, vgb, ns, sgb) = db::volumes::type_usage(c, project, vtype)?;
    if volumes > 0 && lv >= 0 && nv + volumes > lv {
        return Err(CinderError::OverLimit(format!(
            "VolumeLimitExceeded: Maximum number of volumes allowed ({lv}) exceeded for quota \
             'volumes_{vtype}'."
        )));
    }
    if snapshots > 0 && ls >= 0 && ns + snapshots > ls {
        return Err(CinderError::OverLimit(format!(
            "SnapshotLimitExceeded: Maximum number of snapshots allowed ({ls}) exceeded for \
             quota 'snapshots_{vtype}'."
        )));
    }
    if gib > 0 && lg >= 0 && vgb + sgb + gib > lg {
        return Err(CinderError::OverLimit(format!(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
             gigabytes_{vtype} quota. Requested {gib}G, quota is {lg}G and {}G has been \
             consumed.",
            vgb + sgb
        )));
    }
    Ok(())
}

/// Parses an `os-quota-sets` / `os-quota-class-sets` update body's limits:
/// known resources only, integers from -1.
pub fn parse_limits(
    m: &serde_json::Map<String, serde_json::Value>,
    types: &[String],
) -> Result<Vec<(String, i64)>> {
    let known_type_key = |k: &str| {
        TYPE_PREFIXES.iter().any(|p| {
            k.strip_prefix(p)
                .is_some_and(|t| types.iter().any(|x| x == t))
        })
    };
    let bad: Vec<&str> = m
        .keys()
        .map(String::as_str)
        .filter(|k| !RESOURCES.contains(k) && !known_type_key(k))
        .collect();
    if !bad.is_empty() {
        return Err(CinderError::BadRequest(format!(
            "Bad key(s) in quota set: {}",
            bad.join(", ")
        )));
    }
    m.iter()
        .map(|(k, v)| {
            let n = match v {
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| CinderError::BadRequest(format!("{k} must be an integer.")))?;
            if n < -1 {
                return Err(CinderError::BadRequest(format!("{k} must be >= -1")));
            }
            if n > crate::schema::DB_MAX_INT {
                return Err(CinderError::BadRequest(format!(
                    "{k} must be <= {}",
                    crate::schema::DB_MAX_INT
                )));
            }
            Ok((k.clone(), n))
        })
        .collect()
}

/// Stores limits for a project (`class`: false) or a quota class.
pub fn store(c: &mut db::Conn, class: bool, name: &str, limits: &[(String, i64)]) -> Result<()> {
    let scope = if class {
        class_scope(name)
    } else {
        project_scope(name)
    };
    for (r, v) in limits {
        diesel::delete(ql::table.find((&scope, r))).execute(c)?;
        diesel::insert_into(ql::table)
            .values((
                ql::scope.eq(&scope),
                ql::resource.eq(r),
                ql::hard_limit.eq(v),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// Drops a project's own limits: it goes back to the defaults.
pub fn reset_project(c: &mut db::Conn, project: &str) -> Result<()> {
    diesel::delete(ql::table.filter(ql::scope.eq(project_scope(project)))).execute(c)?;
    Ok(())
}

/// A project's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub volumes: i64,
    pub snapshots: i64,
    pub gigabytes: i64,
}

pub fn usage(c: &mut db::Conn, project: &str) -> Result<Usage> {
    let (volumes, vgb) = db::volumes::volume_usage(c, project)?;
    let (snapshots, sgb) = db::volumes::snapshot_usage(c, project)?;
    Ok(Usage {
        volumes,
        snapshots,
        gigabytes: vgb + sgb,
    })
}

fn gigabytes_exceeded(q: &QuotaConfig, u: &Usage, size: i64) -> Option<CinderError> {
    (q.gigabytes >= 0 && u.gigabytes + size > q.gigabytes).then(|| {
        CinderError::OverLimit(format!(
            "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed \
             gigabytes quota. Requested {size}G, quota is {}G and {}G has been consumed.",
            q.gigabytes, u.gigabytes
        ))
    })
}

/// Refuses a new volume of `size` GiB and type `vtype` beyond the
/// project's quota.
pub fn check_volume(
    c: &mut db::Conn,
    q: &QuotaConfig,
    project: &str,
    vtype: &str,
    size: i64,
) -> Result<()> {
    let (q, per_type) = limits(c, q, Some(project), "default")?;
    let u = usage(c, project)?;
    check_volume_usage(&q, &u, size)?;
    check_type(c, &per_type, project, vtype, 1, 0, size)
}

/// The pure part of [`check_volume`].
pub fn check_volume_usage(q: &QuotaConfig, u: &Usage, size: i64) -> Result<()> {
    if q.per_volume_gigabytes >= 0 && size > q.per_volume_gigabytes {
        return Err(CinderError::OverLimit(format!(
            "VolumeSizeExceedsLimit: Requested volume size {size}G is larger than maximum \
             allowed limit {}G.",
            q.per_volume_gigabytes
        )));
    }
    if q.volumes >= 0 && u.volumes + 1 > q.volumes {
        return Err(CinderError::OverLimit(format!(
            "VolumeLimitExceeded: Maximum number of volumes allowed ({}) exceeded for quota \
             'volumes'.",
            q.volumes
        )));
    }
    gigabytes_exceeded(q, u, size).map_or(Ok(()), Err)
}

/// Refuses a new snapshot of `size` GiB beyond the project's quota.
pub fn check_snapshot(
    c: &mut db::Conn,
    q: &QuotaConfig,
    project: &str,
    vtype: &str,
    size: i64,
) -> Result<()> {
    let (q, per_type) = &limits(c, q, Some(project), "default")?;
    check_type(c, per_type, project, vtype, 0, 1, size)?;
    let u = usage(c, project)?;
    if q.snapshots >= 0 && u.snapshots + 1 > q.snapshots {
        return Err(CinderError::OverLimit(format!(
            "SnapshotLimitExceeded: Maximum number of snapshots allowed ({}) exceeded",
            q.snapshots
        )));
    }
    gigabytes_exceeded(q, &u, size).map_or(Ok(()), Err)
}

/// Refuses growing a volume by `delta` GiB beyond the gigabytes quota.
pub fn check_extend(
    c: &mut db::Conn,
    q: &QuotaConfig,
    project: &str,
    vtype: &str,
    delta: i64,
) -> Result<()> {
    let (q, per_type) = limits(c, q, Some(project), "default")?;
    let u = usage(c, project)?;
    gigabytes_exceeded(&q, &u, delta).map_or(Ok(()), Err)?;
    check_type(c, &per_type, project, vtype, 0, 0, delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_bodies_are_checked_like_cinder() {
        let types = vec!["gold".to_string()];
        let m = |v: serde_json::Value| v.as_object().unwrap().clone();
        let ok = parse_limits(
            &m(serde_json::json!({"volumes": 5, "gigabytes": "-1",
            "volumes_gold": 2})),
            &types,
        )
        .unwrap();
        assert_eq!(
            ok,
            vec![
                ("gigabytes".to_string(), -1),
                ("volumes".to_string(), 5),
                ("volumes_gold".to_string(), 2)
            ]
        );
        let bad = parse_limits(
            &m(serde_json::json!({"volumes_silver": 1, "cores": 2})),
            &types,
        )
        .unwrap_err();
        assert_eq!(
            bad.to_string(),
            "Bad key(s) in quota set: cores, volumes_silver"
        );
        assert_eq!(
            parse_limits(&m(serde_json::json!({"volumes": -2})), &types)
                .unwrap_err()
                .to_string(),
            "volumes must be >= -1"
        );
        assert!(parse_limits(&m(serde_json::json!({"volumes": "many"})), &types).is_err());
        assert!(parse_limits(&m(serde_json::json!({"volumes": 1.5})), &types).is_err());
    }

    #[test]
    fn volume_quota_counts_and_gigabytes() {
        let q = QuotaConfig::default();
        let u = Usage {
            volumes: 9,
            snapshots: 0,
            gigabytes: 990,
        };
        assert!(check_volume_usage(&q, &u, 10).is_ok());
        let e = check_volume_usage(&q, &u, 11).unwrap_err();
        assert!(
            e.to_string()
                .contains("Requested 11G, quota is 1000G and 990G"),
            "{e}"
        );
        let full = Usage { volumes: 10, ..u };
        assert!(matches!(
            check_volume_usage(&q, &full, 1),
            Err(CinderError::OverLimit(_))
        ));
        let unlimited = QuotaConfig {
            volumes: -1,
            gigabytes: -1,
            ..q
        };
        assert!(check_volume_usage(&unlimited, &full, 100_000).is_ok());
    }
}
