//! Rows of the Cinder views (`volumes`, `volume_snapshots`,
//! `volume_attachments`) and their queries. A volume row points at a
//! read-write resource, a snapshot row at a read-only one; the resource layer
//! knows nothing of these rows. Metadata maps are JSON text columns.

use diesel::prelude::*;

use crate::schema::{volume_attachments, volume_snapshots, volumes};
use crate::{Conn, Result};

/// One volume as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = volumes, treat_none_as_null = true)]
pub struct VolumeRow {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB.
    pub size: i64,
    pub status: String,
    pub attach_status: String,
    pub availability_zone: String,
    pub volume_type: String,
    pub bootable: bool,
    pub readonly: bool,
    pub multiattach: bool,
    pub snapshot_id: Option<String>,
    pub source_volid: Option<String>,
    pub metadata: String,
    pub image_metadata: String,
    pub resource_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One volume snapshot as stored.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = volume_snapshots, treat_none_as_null = true)]
pub struct SnapshotRow {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub volume_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    /// GiB (the volume's size when taken).
    pub size: i64,
    pub status: String,
    pub metadata: String,
    pub resource_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Progress as last reported (`80%`); `None`: from the status.
    pub progress: Option<String>,
}

/// One attachment of a volume to a host or server.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = volume_attachments, treat_none_as_null = true)]
pub struct AttachmentRow {
    pub id: String,
    pub volume_id: String,
    pub project_id: String,
    pub instance_uuid: Option<String>,
    pub attached_host: Option<String>,
    pub mountpoint: Option<String>,
    pub attach_status: String,
    pub attach_mode: String,
    pub connector: Option<String>,
    pub connection_info: Option<String>,
    pub attach_time: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Column filters a volume listing pushes into SQL; the frontend applies
/// the rest (metadata, sort, marker, limit) to what comes back.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilter {
    /// `None` lists every project (admin `all_tenants`).
    pub project_id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub bootable: Option<bool>,
}

pub fn get_volume(c: &mut Conn, id: &str) -> Result<Option<VolumeRow>> {
    Ok(volumes::table
        .find(id)
        .select(VolumeRow::as_select())
        .first(c)
        .optional()?)
}

pub fn insert_volume(c: &mut Conn, row: &VolumeRow) -> Result<()> {
    diesel::insert_into(volumes::table).values(row).execute(c)?;
    Ok(())
}

/// Writes every column of an existing volume row.
pub fn update_volume(c: &mut Conn, row: &VolumeRow) -> Result<()> {
    diesel::update(volumes::table.find(&row.id))
        .set(row)
        .execute(c)?;
    Ok(())
}

pub fn delete_volume(c: &mut Conn, id: &str) -> Result<usize> {
    Ok(diesel::delete(volumes::table.find(id)).execute(c)?)
}

/// Volumes matching `f`, newest first.
pub fn list_volumes(c: &mut Conn, f: &VolumeFilter) -> Result<Vec<VolumeRow>> {
    let mut q = volumes::table.select(VolumeRow::as_select()).into_boxed();
    if let Some(p) = &f.project_id {
        q = q.filter(volumes::project_id.eq(p.clone()));
    }
    if let Some(n) = &f.name {
        q = q.filter(volumes::name.eq(n.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(volumes::status.eq(s.clone()));
    }
    if let Some(b) = f.bootable {
        q = q.filter(volumes::bootable.eq(b));
    }
    Ok(q.order((volumes::created_at.desc(), volumes::id.desc()))
        .load(c)?)
}

/// How many volumes a project holds and their total size in GiB.
pub fn volume_usage(c: &mut Conn, project_id: &str) -> Result<(i64, i64)> {
    let sizes: Vec<i64> = volumes::table
        .filter(volumes::project_id.eq(project_id))
        .select(volumes::size)
        .load(c)?;
    Ok((sizes.len() as i64, sizes.iter().sum()))
}

/// Volumes of type `volume_type` in a project: their number and GiB, and
/// their snapshots' number and GiB (Cinder's per-type quota usage).
pub fn type_usage(
    c: &mut Conn,
    project_id: &str,
    volume_type: &str,
) -> Result<(i64, i64, i64, i64)> {
    let vols: Vec<(String, i64)> = volumes::table
        .filter(volumes::project_id.eq(project_id))
        .filter(volumes::volume_type.eq(volume_type))
        .select((volumes::id, volumes::size))
        .load(c)?;
    let ids: Vec<&String> = vols.iter().map(|(id, _)| id).collect();
    let snaps: Vec<i64> = volume_snapshots::table
        .filter(volume_snapshots::volume_id.eq_any(ids))
        .select(volume_snapshots::size)
        .load(c)?;
    Ok((
        vols.len() as i64,
        vols.iter().map(|(_, s)| s).sum(),
        snaps.len() as i64,
        snaps.iter().sum(),
    ))
}

/// Every volume's (project, type, GiB) and every snapshot's (project, its
/// volume's type, GiB): what Cinder's `os-hosts` adds up per backend.
pub type HostUsage = (Vec<(String, String, i64)>, Vec<(String, String, i64)>);

/// See [`HostUsage`].
pub fn host_usage(c: &mut Conn) -> Result<HostUsage> {
    let vols = volumes::table
        .select((volumes::project_id, volumes::volume_type, volumes::size))
        .load(c)?;
    let snaps = volume_snapshots::table
        .inner_join(volumes::table.on(volumes::id.eq(volume_snapshots::volume_id)))
        .select((
            volume_snapshots::project_id,
            volumes::volume_type,
            volume_snapshots::size,
        ))
        .load(c)?;
    Ok((vols, snaps))
}

/// The state operators set on a service (`os-services`); a service with
/// no row is enabled and not frozen.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::schema::volume_services, treat_none_as_null = true)]
pub struct ServiceRow {
    pub host: String,
    pub binary: String,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub frozen: bool,
    pub updated_at: i64,
}

pub fn service_state(c: &mut Conn, host: &str, binary: &str) -> Result<Option<ServiceRow>> {
    use crate::schema::volume_services as vs;
    Ok(vs::table
        .find((host, binary))
        .select(ServiceRow::as_select())
        .first(c)
        .optional()?)
}

pub fn set_service_state(c: &mut Conn, row: &ServiceRow) -> Result<()> {
    use crate::schema::volume_services as vs;
    diesel::replace_into(vs::table).values(row).execute(c)?;
    Ok(())
}

pub fn get_snapshot(c: &mut Conn, id: &str) -> Result<Option<SnapshotRow>> {
    Ok(volume_snapshots::table
        .find(id)
        .select(SnapshotRow::as_select())
        .first(c)
        .optional()?)
}

pub fn insert_snapshot(c: &mut Conn, row: &SnapshotRow) -> Result<()> {
    diesel::insert_into(volume_snapshots::table)
        .values(row)
        .execute(c)?;
    Ok(())
}

pub fn update_snapshot(c: &mut Conn, row: &SnapshotRow) -> Result<()> {
    diesel::update(volume_snapshots::table.find(&row.id))
        .set(row)
        .execute(c)?;
    Ok(())
}

pub fn delete_snapshot(c: &mut Conn, id: &str) -> Result<usize> {
    Ok(diesel::delete(volume_snapshots::table.find(id)).execute(c)?)
}

/// Snapshots of one project (every project for `None`), newest first.
pub fn list_snapshots(c: &mut Conn, project_id: Option<&str>) -> Result<Vec<SnapshotRow>> {
    let mut q = volume_snapshots::table
        .select(SnapshotRow::as_select())
        .into_boxed();
    if let Some(p) = project_id {
        q = q.filter(volume_snapshots::project_id.eq(p.to_string()));
    }
    Ok(q.order((
        volume_snapshots::created_at.desc(),
        volume_snapshots::id.desc(),
    ))
    .load(c)?)
}

/// Snapshots of one volume, oldest first (the last is the latest).
pub fn snapshots_of_volume(c: &mut Conn, volume_id: &str) -> Result<Vec<SnapshotRow>> {
    Ok(volume_snapshots::table
        .filter(volume_snapshots::volume_id.eq(volume_id))
        .select(SnapshotRow::as_select())
        .order((
            volume_snapshots::created_at.asc(),
            volume_snapshots::id.asc(),
        ))
        .load(c)?)
}

/// How many snapshots a project holds and their total size in GiB.
pub fn snapshot_usage(c: &mut Conn, project_id: &str) -> Result<(i64, i64)> {
    let sizes: Vec<i64> = volume_snapshots::table
        .filter(volume_snapshots::project_id.eq(project_id))
        .select(volume_snapshots::size)
        .load(c)?;
    Ok((sizes.len() as i64, sizes.iter().sum()))
}

pub fn get_attachment(c: &mut Conn, id: &str) -> Result<Option<AttachmentRow>> {
    Ok(volume_attachments::table
        .find(id)
        .select(AttachmentRow::as_select())
        .first(c)
        .optional()?)
}

pub fn insert_attachment(c: &mut Conn, row: &AttachmentRow) -> Result<()> {
    diesel::insert_into(volume_attachments::table)
        .values(row)
        .execute(c)?;
    Ok(())
}

pub fn update_attachment(c: &mut Conn, row: &AttachmentRow) -> Result<()> {
    diesel::update(volume_attachments::table.find(&row.id))
        .set(row)
        .execute(c)?;
    Ok(())
}

pub fn delete_attachment(c: &mut Conn, id: &str) -> Result<usize> {
    Ok(diesel::delete(volume_attachments::table.find(id)).execute(c)?)
}

/// Attachments of one volume, oldest first.
pub fn attachments_of_volume(c: &mut Conn, volume_id: &str) -> Result<Vec<AttachmentRow>> {
    Ok(volume_attachments::table
        .filter(volume_attachments::volume_id.eq(volume_id))
        .select(AttachmentRow::as_select())
        .order((
            volume_attachments::created_at.asc(),
            volume_attachments::id.asc(),
        ))
        .load(c)?)
}

/// Attachments of one project (every project for `None`), newest first.
pub fn list_attachments(c: &mut Conn, project_id: Option<&str>) -> Result<Vec<AttachmentRow>> {
    let mut q = volume_attachments::table
        .select(AttachmentRow::as_select())
        .into_boxed();
    if let Some(p) = project_id {
        q = q.filter(volume_attachments::project_id.eq(p.to_string()));
    }
    Ok(q.order((
        volume_attachments::created_at.desc(),
        volume_attachments::id.desc(),
    ))
    .load(c)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(id: &str, project: &str, at: i64) -> VolumeRow {
        VolumeRow {
            id: id.into(),
            project_id: project.into(),
            user_id: "u".into(),
            name: Some(format!("n-{id}")),
            description: None,
            size: 2,
            status: "available".into(),
            attach_status: "detached".into(),
            availability_zone: "nova".into(),
            volume_type: "__DEFAULT__".into(),
            bootable: false,
            readonly: false,
            multiattach: false,
            snapshot_id: None,
            source_volid: None,
            metadata: "{}".into(),
            image_metadata: "{}".into(),
            resource_id: None,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn volume_rows_round_trip_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::open_sqlite(&dir.path().join("m.db"), 2).unwrap();
        db.transaction_blocking(|c| {
            insert_volume(c, &vol("a", "p1", 1))?;
            insert_volume(c, &vol("b", "p1", 2))?;
            insert_volume(c, &vol("c", "p2", 3))?;
            let mut b = get_volume(c, "b")?.unwrap();
            b.bootable = true;
            update_volume(c, &b)?;
            let p1 = list_volumes(
                c,
                &VolumeFilter {
                    project_id: Some("p1".into()),
                    ..Default::default()
                },
            )?;
            assert_eq!(
                p1.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
                ["b", "a"]
            );
            let boot = list_volumes(
                c,
                &VolumeFilter {
                    bootable: Some(true),
                    ..Default::default()
                },
            )?;
            assert_eq!(boot.len(), 1);
            assert_eq!(volume_usage(c, "p1")?, (2, 4));
            assert_eq!(delete_volume(c, "a")?, 1);
            assert!(get_volume(c, "a")?.is_none());
            Ok::<_, crate::Error>(())
        })
        .unwrap();
    }
}
