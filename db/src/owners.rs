//! Exclusive writer ownership of volumes (`volume_owners`).
//!
//! A host's NBD server claims a resource before it exports it for writing,
//! renews the claim while connections are open and releases it when the
//! last one closes. The claim is a lease: a host that crashed (or lost the
//! database) without releasing holds it only until `lease_until`, then any
//! host may take it over. Every call is one conditional statement or a
//! short sequence of them whose outcome does not depend on isolation level,
//! so the claim is atomic on SQLite and PostgreSQL alike.
//!
//! Leases compare wall clocks of different hosts: they must be kept in sync
//! (NTP) to well within the lease length, which is why the block daemon
//! renews far more often than the lease lasts.

use diesel::prelude::*;

use crate::{Conn, Result};

diesel::table! {
    volume_owners (resource_id) {
        resource_id -> Text,
        host_id -> Text,
        acquired_at -> BigInt,
        lease_until -> BigInt,
    }
}

/// One claim.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = volume_owners)]
pub struct OwnerRow {
    pub resource_id: String,
    pub host_id: String,
    pub acquired_at: i64,
    pub lease_until: i64,
}

/// The outcome of [`claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// `host` owns the resource until the given lease end.
    Granted,
    /// Another host holds a live claim.
    Held(OwnerRow),
}

/// Claims `resource_id` for `host` until `lease_until` (microseconds):
/// granted when nobody holds it, when `host` already does (a renewal that
/// keeps `acquired_at`), or when the holder's lease ended before `now`
/// (take-over). Run it in a write transaction.
pub fn claim(
    c: &mut Conn,
    resource_id: &str,
    host: &str,
    now: i64,
    lease_until: i64,
) -> Result<Claim> {
    use volume_owners::dsl as o;
    // Ours already: extend. Conditional on the holder, so a concurrent
    // take-over by another host is never overwritten.
    let renewed = diesel::update(
        o::volume_owners
            .find(resource_id)
            .filter(o::host_id.eq(host)),
    )
    .set(o::lease_until.eq(lease_until))
    .execute(c)?;
    if renewed == 1 {
        return Ok(Claim::Granted);
    }
    // Someone else's, expired: take over. The lease test is in the WHERE
    // clause, so of two hosts racing for it exactly one updates the row.
    let taken = diesel::update(
        o::volume_owners
            .find(resource_id)
            .filter(o::lease_until.lt(now)),
    )
    .set((
        o::host_id.eq(host),
        o::acquired_at.eq(now),
        o::lease_until.eq(lease_until),
    ))
    .execute(c)?;
    if taken == 1 {
        return Ok(Claim::Granted);
    }
    let row = OwnerRow {
        resource_id: resource_id.to_string(),
        host_id: host.to_string(),
        acquired_at: now,
        lease_until,
    };
    let inserted = diesel::insert_into(o::volume_owners)
        .values(&row)
        .on_conflict_do_nothing()
        .execute(c)?;
    if inserted == 1 {
        return Ok(Claim::Granted);
    }
    match holder(c, resource_id)? {
        Some(h) => Ok(Claim::Held(h)),
        // Released between our statements: the caller may simply retry.
        None => claim(c, resource_id, host, now, lease_until),
    }
}

/// Extends `host`'s claims on `resource_ids` to `lease_until`; returns the
/// ids it still holds. A missing id was taken over (or released): its
/// writer must stop.
pub fn renew(
    c: &mut Conn,
    host: &str,
    resource_ids: &[String],
    lease_until: i64,
) -> Result<Vec<String>> {
    use volume_owners::dsl as o;
    let mut held = Vec::with_capacity(resource_ids.len());
    // Bounded IN lists: SQLite limits bound parameters per statement.
    for ids in resource_ids.chunks(500) {
        diesel::update(
            o::volume_owners
                .filter(o::host_id.eq(host))
                .filter(o::resource_id.eq_any(ids)),
        )
        .set(o::lease_until.eq(lease_until))
        .execute(c)?;
        let mine: Vec<String> = o::volume_owners
            .filter(o::host_id.eq(host))
            .filter(o::resource_id.eq_any(ids))
            .select(o::resource_id)
            .load(c)?;
        held.extend(mine);
    }
    Ok(held)
}

/// Gives up `host`'s claim on `resource_id`; a claim another host took over
/// meanwhile is left alone. Returns whether a row went.
pub fn release(c: &mut Conn, resource_id: &str, host: &str) -> Result<bool> {
    use volume_owners::dsl as o;
    let n = diesel::delete(
        o::volume_owners
            .find(resource_id)
            .filter(o::host_id.eq(host)),
    )
    .execute(c)?;
    Ok(n == 1)
}

/// The current claim on `resource_id`, live or expired.
pub fn holder(c: &mut Conn, resource_id: &str) -> Result<Option<OwnerRow>> {
    Ok(volume_owners::table
        .find(resource_id)
        .select(OwnerRow::as_select())
        .first(c)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, crate::Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::open_sqlite(&dir.path().join("meta.db"), 2).unwrap();
        (dir, db)
    }

    #[test]
    fn claim_renew_release_and_take_over() {
        let (_d, db) = db();
        let tx = |f: &dyn Fn(&mut Conn) -> Result<Claim>| db.transaction_blocking(f).unwrap();
        assert_eq!(tx(&|c| claim(c, "r", "a", 100, 200)), Claim::Granted);
        // Same host again: granted, acquired_at kept, lease extended.
        assert_eq!(tx(&|c| claim(c, "r", "a", 150, 300)), Claim::Granted);
        let h = db.run_blocking(|c| holder(c, "r")).unwrap().unwrap();
        assert_eq!(
            (h.host_id.as_str(), h.acquired_at, h.lease_until),
            ("a", 100, 300)
        );
        // Another host while the lease runs: refused, told who holds it.
        match tx(&|c| claim(c, "r", "b", 299, 400)) {
            Claim::Held(h) => assert_eq!(h.host_id, "a"),
            g => panic!("b got {g:?}"),
        }
        // Renewal keeps it alive; b is still refused.
        let held = db
            .transaction_blocking(|c| renew(c, "a", &["r".into(), "gone".into()], 500))
            .unwrap();
        assert_eq!(held, vec!["r".to_string()]);
        assert!(matches!(
            tx(&|c| claim(c, "r", "b", 450, 600)),
            Claim::Held(_)
        ));
        // After the lease ended (a crash: no release), b takes over and a's
        // renewal reports the loss.
        assert_eq!(tx(&|c| claim(c, "r", "b", 501, 700)), Claim::Granted);
        let held = db
            .transaction_blocking(|c| renew(c, "a", &["r".into()], 800))
            .unwrap();
        assert!(held.is_empty());
        let h = db.run_blocking(|c| holder(c, "r")).unwrap().unwrap();
        assert_eq!(
            (h.host_id.as_str(), h.acquired_at, h.lease_until),
            ("b", 501, 700)
        );
        // a's late release does not drop b's claim; b's own does.
        assert!(!db.transaction_blocking(|c| release(c, "r", "a")).unwrap());
        assert!(db.transaction_blocking(|c| release(c, "r", "b")).unwrap());
        assert!(db.run_blocking(|c| holder(c, "r")).unwrap().is_none());
        assert_eq!(tx(&|c| claim(c, "r", "a", 900, 1000)), Claim::Granted);
    }
}
