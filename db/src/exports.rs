//! NBD exports of attached volumes. The volume API writes a row when it
//! attaches a volume to a connector and deletes it on detach; the block
//! daemon's NBD server accepts a client only for a live row whose
//! `client_ip` matches the peer, so a detached volume's export is gone.

use diesel::prelude::*;

use crate::schema::nbd_exports;
use crate::{Conn, Result};

/// One live export.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = nbd_exports)]
pub struct ExportRow {
    /// The export name clients ask for: a random secret.
    pub name: String,
    pub resource_id: String,
    pub volume_id: String,
    pub attachment_id: String,
    /// Peer address allowed to connect; `None` allows any peer.
    pub client_ip: Option<String>,
    pub readonly: bool,
    pub created_at: i64,
}

/// The export named `name`, if it is live.
pub fn get(c: &mut Conn, name: &str) -> Result<Option<ExportRow>> {
    Ok(nbd_exports::table
        .find(name)
        .select(ExportRow::as_select())
        .first(c)
        .optional()?)
}

/// Every live export.
pub fn list(c: &mut Conn) -> Result<Vec<ExportRow>> {
    Ok(nbd_exports::table
        .select(ExportRow::as_select())
        .order(nbd_exports::name)
        .load(c)?)
}

/// The exports of one volume (one per attachment).
pub fn of_volume(c: &mut Conn, volume_id: &str) -> Result<Vec<ExportRow>> {
    Ok(nbd_exports::table
        .filter(nbd_exports::volume_id.eq(volume_id))
        .select(ExportRow::as_select())
        .load(c)?)
}

pub fn insert(c: &mut Conn, row: &ExportRow) -> Result<()> {
    diesel::insert_into(nbd_exports::table)
        .values(row)
        .execute(c)?;
    Ok(())
}

/// Removes the export of an attachment; returns how many rows went.
pub fn delete_for_attachment(c: &mut Conn, attachment_id: &str) -> Result<usize> {
    Ok(
        diesel::delete(nbd_exports::table.filter(nbd_exports::attachment_id.eq(attachment_id)))
            .execute(c)?,
    )
}
