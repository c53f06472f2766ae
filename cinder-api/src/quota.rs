//! Quotas: Cinder's default per-project limits, checked inside the write
//! transaction that would exceed them (the single writer serializes the
//! check and the insert), and the usage `os-quota-sets` and `limits` show.

use crate::error::{CinderError, Result};

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

/// Refuses a new volume of `size` GiB beyond the project's quota.
pub fn check_volume(c: &mut db::Conn, q: &QuotaConfig, project: &str, size: i64) -> Result<()> {
    let u = usage(c, project)?;
    check_volume_usage(q, &u, size)
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
pub fn check_snapshot(c: &mut db::Conn, q: &QuotaConfig, project: &str, size: i64) -> Result<()> {
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
pub fn check_extend(c: &mut db::Conn, q: &QuotaConfig, project: &str, delta: i64) -> Result<()> {
    let u = usage(c, project)?;
    gigabytes_exceeded(q, &u, delta).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

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
