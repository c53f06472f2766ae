//! Queries on the `swift_*` tables. Functions take a connection so handlers
//! compose them with resource-layer calls in one transaction.

use std::collections::BTreeMap;

use db::schema::{swift_accounts as acc, swift_containers as con, swift_objects as obj};
use db::Conn;
use diesel::prelude::*;

use crate::error::{Result, SwiftError};

// The rows and basic lookups live in `db::swift`, shared with the image
// API (register an object as an image, export an image as an object).
pub use db::swift::{AccountRow, ContainerRow, ObjectRow};

pub fn account(c: &mut Conn, account: &str) -> Result<Option<AccountRow>> {
    Ok(db::swift::account(c, account)?)
}

pub fn container(c: &mut Conn, account: &str, name: &str) -> Result<Option<ContainerRow>> {
    Ok(db::swift::container(c, account, name)?)
}

pub fn object(
    c: &mut Conn,
    account: &str,
    container: &str,
    name: &str,
) -> Result<Option<ObjectRow>> {
    Ok(db::swift::object(c, account, container, name)?)
}

/// Creates the account row on first use (Swift's account autocreate).
pub fn ensure_account(c: &mut Conn, account: &str) -> Result<()> {
    Ok(db::swift::ensure_account(c, account)?)
}

pub fn set_account_meta(c: &mut Conn, account: &str, meta: &str) -> Result<()> {
    diesel::update(acc::table.find(account))
        .set(acc::metadata.eq(meta))
        .execute(c)?;
    Ok(())
}

pub fn container_required(c: &mut Conn, account: &str, name: &str) -> Result<ContainerRow> {
    container(c, account, name)?.ok_or(SwiftError::NotFound)
}

/// Creates a container; returns false when it existed already.
pub fn create_container(
    c: &mut Conn,
    account: &str,
    name: &str,
    meta: &str,
    read_acl: Option<&str>,
    write_acl: Option<&str>,
) -> Result<bool> {
    ensure_account(c, account)?;
    let now = db::now_micros();
    let n = diesel::insert_or_ignore_into(con::table)
        .values((
            con::account.eq(account),
            con::name.eq(name),
            con::metadata.eq(meta),
            con::read_acl.eq(read_acl),
            con::write_acl.eq(write_acl),
            con::created_at.eq(now),
            con::put_timestamp.eq(now),
        ))
        .execute(c)?;
    if n == 1 {
        diesel::update(acc::table.find(account))
            .set(acc::container_count.eq(acc::container_count + 1))
            .execute(c)?;
    }
    Ok(n == 1)
}

pub fn update_container(c: &mut Conn, row: &ContainerRow) -> Result<()> {
    diesel::update(con::table.find((&row.account, &row.name)))
        .set((
            con::metadata.eq(&row.metadata),
            con::read_acl.eq(&row.read_acl),
            con::write_acl.eq(&row.write_acl),
            con::put_timestamp.eq(db::now_micros()),
        ))
        .execute(c)?;
    Ok(())
}

/// Deletes an empty container; `Conflict` when it holds objects.
pub fn delete_container(c: &mut Conn, account: &str, name: &str) -> Result<()> {
    container_required(c, account, name)?;
    // Expired objects are gone for clients (listings and reads skip them)
    // even before the expirer reaches them: reap them here, so a container
    // holding only those is empty, as it would be once reaped.
    let now = db::now_micros();
    let expired: Vec<ObjectRow> = obj::table
        .filter(obj::account.eq(account).and(obj::container.eq(name)))
        .filter(obj::delete_at.le(now / 1_000_000))
        .select(ObjectRow::as_select())
        .load(c)?;
    for r in expired.iter().filter(|r| r.expired(now)) {
        delete_object_row(c, r)?;
    }
    let row = container_required(c, account, name)?;
    let live: i64 = obj::table
        .filter(obj::account.eq(account).and(obj::container.eq(name)))
        .count()
        .get_result(c)?;
    if live > 0 || row.object_count > 0 {
        return Err(SwiftError::Conflict);
    }
    diesel::delete(con::table.find((account, name))).execute(c)?;
    diesel::update(acc::table.find(account))
        .set(acc::container_count.eq(acc::container_count - 1))
        .execute(c)?;
    Ok(())
}

/// Writes an object row, replacing (and releasing the resource of) any
/// object of the same name. The caller has already taken a reference on
/// `row.resource_id` for this row.
pub fn put_object(c: &mut Conn, row: &ObjectRow) -> Result<()> {
    // A versioned container keeps the version being replaced.
    crate::versions::before_overwrite(c, &row.account, &row.container, &row.name)?;
    put_object_unversioned(c, row)
}

/// [`put_object`] without archiving what it replaces (versioning's own
/// writes).
pub fn put_object_unversioned(c: &mut Conn, row: &ObjectRow) -> Result<()> {
    match db::swift::insert_object(c, row)? {
        db::swift::Inserted::NoContainer => Err(SwiftError::NotFound),
        db::swift::Inserted::Done { replaced } => {
            if let Some(old) = replaced {
                archipelago::meta::release(c, &old.resource_id)?;
            }
            Ok(())
        }
    }
}

/// Removes an object row and drops its reference on the resource.
pub fn delete_object_row(c: &mut Conn, row: &ObjectRow) -> Result<()> {
    db::swift::remove_object(c, row)?;
    archipelago::meta::release(c, &row.resource_id)?;
    Ok(())
}

pub fn update_object_meta(
    c: &mut Conn,
    row: &ObjectRow,
    meta: &BTreeMap<String, String>,
    content_type: &str,
    delete_at: Option<i64>,
    manifest: Option<&str>,
) -> Result<()> {
    diesel::update(obj::table.find((&row.account, &row.container, &row.name)))
        .set((
            obj::metadata.eq(crate::util::meta_json(meta)),
            obj::content_type.eq(content_type),
            obj::delete_at.eq(delete_at),
            obj::manifest.eq(manifest),
            obj::last_modified.eq(db::now_micros()),
        ))
        .execute(c)?;
    Ok(())
}

/// Objects whose X-Delete-At has passed, for the expirer.
pub fn expired_objects(c: &mut Conn, now_secs: i64, limit: i64) -> Result<Vec<ObjectRow>> {
    Ok(obj::table
        .filter(obj::delete_at.le(now_secs))
        .select(ObjectRow::as_select())
        .limit(limit)
        .load(c)?)
}

/// One page of object rows in name order, for listings.
#[allow(clippy::too_many_arguments)]
pub fn object_page(
    c: &mut Conn,
    account: &str,
    container: &str,
    after: Option<&str>,
    before: Option<&str>,
    prefix: &str,
    reverse: bool,
    limit: i64,
) -> Result<Vec<ObjectRow>> {
    let mut q = obj::table
        .filter(obj::account.eq(account).and(obj::container.eq(container)))
        .select(ObjectRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(obj::name.gt(a.to_string()));
    }
    if let Some(b) = before {
        q = q.filter(obj::name.lt(b.to_string()));
    }
    if !prefix.is_empty() {
        q = q.filter(obj::name.ge(prefix.to_string()));
        if let Some(end) = prefix_end(prefix) {
            q = q.filter(obj::name.lt(end));
        }
    }
    q = if reverse {
        q.order(obj::name.desc())
    } else {
        q.order(obj::name.asc())
    };
    Ok(q.limit(limit).load(c)?)
}

/// One page of container rows in name order, for account listings.
#[allow(clippy::too_many_arguments)]
pub fn container_page(
    c: &mut Conn,
    account: &str,
    after: Option<&str>,
    before: Option<&str>,
    prefix: &str,
    reverse: bool,
    limit: i64,
) -> Result<Vec<ContainerRow>> {
    let mut q = con::table
        .filter(con::account.eq(account))
        .select(ContainerRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(con::name.gt(a.to_string()));
    }
    if let Some(b) = before {
        q = q.filter(con::name.lt(b.to_string()));
    }
    if !prefix.is_empty() {
        q = q.filter(con::name.ge(prefix.to_string()));
        if let Some(end) = prefix_end(prefix) {
            q = q.filter(con::name.lt(end));
        }
    }
    q = if reverse {
        q.order(con::name.desc())
    } else {
        q.order(con::name.asc())
    };
    Ok(q.limit(limit).load(c)?)
}

/// The smallest string greater than every string starting with `prefix`.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}
