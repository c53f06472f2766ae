//! Rows of the Swift views (`swift_accounts`, `swift_containers`,
//! `swift_objects`) and the queries more than one frontend needs: the object
//! API owns them, the image API reads an object to register it as an image
//! and writes one to export an image, without depending on the object API.
//!
//! Invariant kept by every writer here: an account's and a container's
//! `object_count`/`bytes_used` move with every object row inserted or
//! removed, in the same transaction. Releasing the resource a removed row
//! pointed at is the caller's job (this crate knows no resource layer).

use diesel::prelude::*;

use crate::schema::{swift_accounts as acc, swift_containers as con, swift_objects as obj};
use crate::{Conn, Result};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::swift_accounts)]
pub struct AccountRow {
    pub metadata: String,
    pub created_at: i64,
    pub container_count: i64,
    pub object_count: i64,
    pub bytes_used: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::swift_containers)]
pub struct ContainerRow {
    pub account: String,
    pub name: String,
    pub metadata: String,
    pub read_acl: Option<String>,
    pub write_acl: Option<String>,
    pub created_at: i64,
    pub put_timestamp: i64,
    pub object_count: i64,
    pub bytes_used: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::swift_objects)]
pub struct ObjectRow {
    pub account: String,
    pub container: String,
    pub name: String,
    pub resource_id: String,
    pub size: i64,
    /// Lowercase hex MD5 of the content for plain objects; for an SLO the
    /// MD5 of its segments' etags, and a DLO's row holds its manifest.
    pub etag: String,
    pub content_type: String,
    pub metadata: String,
    pub last_modified: i64,
    pub delete_at: Option<i64>,
    pub manifest: Option<String>,
    pub slo: bool,
}

impl ObjectRow {
    /// True once its X-Delete-At has passed: it reads as absent.
    pub fn expired(&self, now: i64) -> bool {
        self.delete_at.is_some_and(|d| d * 1_000_000 <= now)
    }

    /// True for large-object manifests (SLO or DLO): their resource is the
    /// manifest, not the content, and their etag is not the content's MD5.
    pub fn is_manifest(&self) -> bool {
        self.slo || self.manifest.is_some()
    }
}

pub fn account(c: &mut Conn, account: &str) -> Result<Option<AccountRow>> {
    Ok(acc::table
        .find(account)
        .select(AccountRow::as_select())
        .first(c)
        .optional()?)
}

/// Creates the account row on first use (Swift's account autocreate).
pub fn ensure_account(c: &mut Conn, account: &str) -> Result<()> {
    diesel::insert_or_ignore_into(acc::table)
        .values((
            acc::account.eq(account),
            acc::created_at.eq(crate::now_micros()),
        ))
        .execute(c)?;
    Ok(())
}

pub fn container(c: &mut Conn, account: &str, name: &str) -> Result<Option<ContainerRow>> {
    Ok(con::table
        .find((account, name))
        .select(ContainerRow::as_select())
        .first(c)
        .optional()?)
}

pub fn object(
    c: &mut Conn,
    account: &str,
    container: &str,
    name: &str,
) -> Result<Option<ObjectRow>> {
    Ok(obj::table
        .find((account, container, name))
        .select(ObjectRow::as_select())
        .first(c)
        .optional()?)
}

/// Moves a container's and its account's counters.
pub fn bump_counts(
    c: &mut Conn,
    account: &str,
    container: &str,
    objects: i64,
    bytes: i64,
) -> Result<()> {
    diesel::update(con::table.find((account, container)))
        .set((
            con::object_count.eq(con::object_count + objects),
            con::bytes_used.eq(con::bytes_used + bytes),
        ))
        .execute(c)?;
    diesel::update(acc::table.find(account))
        .set((
            acc::object_count.eq(acc::object_count + objects),
            acc::bytes_used.eq(acc::bytes_used + bytes),
        ))
        .execute(c)?;
    Ok(())
}

/// What [`insert_object`] did.
#[derive(Debug)]
pub enum Inserted {
    /// The container does not exist; nothing was written.
    NoContainer,
    /// The row is in; `replaced` is the object of the same name it took the
    /// place of, already removed: the caller releases its resource.
    Done { replaced: Option<Box<ObjectRow>> },
}

/// Writes an object row and moves the counters, replacing any object of
/// the same name. The caller holds a reference on `row.resource_id` for
/// this row.
pub fn insert_object(c: &mut Conn, row: &ObjectRow) -> Result<Inserted> {
    if container(c, &row.account, &row.container)?.is_none() {
        return Ok(Inserted::NoContainer);
    }
    let replaced = object(c, &row.account, &row.container, &row.name)?.map(Box::new);
    if let Some(old) = &replaced {
        remove_object(c, old)?;
    }
    diesel::insert_into(obj::table).values(row).execute(c)?;
    bump_counts(c, &row.account, &row.container, 1, row.size)?;
    Ok(Inserted::Done { replaced })
}

/// Removes an object row and moves the counters; the caller releases the
/// row's resource in the same transaction.
pub fn remove_object(c: &mut Conn, row: &ObjectRow) -> Result<()> {
    diesel::delete(obj::table.find((&row.account, &row.container, &row.name))).execute(c)?;
    bump_counts(c, &row.account, &row.container, -1, -row.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, size: i64) -> ObjectRow {
        ObjectRow {
            account: "AUTH_p".into(),
            container: "c".into(),
            name: name.into(),
            resource_id: "r".into(),
            size,
            etag: "e".into(),
            content_type: "application/octet-stream".into(),
            metadata: "{}".into(),
            last_modified: 0,
            delete_at: None,
            manifest: None,
            slo: false,
        }
    }

    #[test]
    fn insert_and_remove_move_the_counters() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::open_sqlite(&dir.path().join("m.db"), 2).unwrap();
        db.run_blocking(|c| {
            // Objects reference resources; none exist in this test.
            diesel::sql_query("PRAGMA foreign_keys = OFF").execute(c)?;
            assert!(matches!(
                insert_object(c, &row("a", 5))?,
                Inserted::NoContainer
            ));
            ensure_account(c, "AUTH_p")?;
            diesel::insert_into(con::table)
                .values((
                    con::account.eq("AUTH_p"),
                    con::name.eq("c"),
                    con::created_at.eq(0),
                    con::put_timestamp.eq(0),
                ))
                .execute(c)?;
            insert_object(c, &row("a", 5))?;
            let Inserted::Done { replaced } = insert_object(c, &row("a", 7))? else {
                panic!("container exists")
            };
            assert_eq!(replaced.map(|r| r.size), Some(5));
            insert_object(c, &row("b", 1))?;
            let ct = container(c, "AUTH_p", "c")?.unwrap();
            assert_eq!((ct.object_count, ct.bytes_used), (2, 8));
            remove_object(c, &row("b", 1))?;
            let a = account(c, "AUTH_p")?.unwrap();
            assert_eq!((a.object_count, a.bytes_used), (1, 7));
            Ok(())
        })
        .unwrap();
    }
}
