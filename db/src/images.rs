//! Rows of the Glance views (`images`, `image_members`), shared by the image
//! API and by the volume API, which registers images (upload-to-image) and
//! reads them (volume from image) without depending on the image API.

use diesel::prelude::*;

use crate::schema::{image_members, images};
use crate::{Conn, Result};

/// One image as stored. JSON columns hold the custom properties (object),
/// the tags (array, insertion order) and the locations (array).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = images, treat_none_as_null = true)]
pub struct ImageRow {
    pub id: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub status: String,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub container_format: Option<String>,
    pub disk_format: Option<String>,
    pub min_ram: i32,
    pub min_disk: i32,
    pub properties: String,
    pub tags: String,
    pub locations: String,
    pub resource_id: Option<String>,
    pub staging_resource_id: Option<String>,
    pub store: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ImageRow {
    /// A new `queued` image with no data, private to `owner` (Glance's
    /// defaults: `shared` visibility since Ocata, not protected, not hidden).
    pub fn queued(id: String, owner: Option<String>, now: i64) -> ImageRow {
        ImageRow {
            id,
            name: None,
            owner,
            status: "queued".into(),
            visibility: "shared".into(),
            protected: false,
            os_hidden: false,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            size: None,
            virtual_size: None,
            container_format: None,
            disk_format: None,
            min_ram: 0,
            min_disk: 0,
            properties: "{}".into(),
            tags: "[]".into(),
            locations: "[]".into(),
            resource_id: None,
            staging_resource_id: None,
            store: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// One project an image is shared with.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = image_members)]
pub struct MemberRow {
    pub image_id: String,
    pub member: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The image, if it exists.
pub fn get(c: &mut Conn, id: &str) -> Result<Option<ImageRow>> {
    Ok(images::table
        .find(id)
        .select(ImageRow::as_select())
        .first(c)
        .optional()?)
}

/// Inserts a new image row.
pub fn insert(c: &mut Conn, row: &ImageRow) -> Result<()> {
    diesel::insert_into(images::table).values(row).execute(c)?;
    Ok(())
}

/// Writes every column of an existing image row.
pub fn update(c: &mut Conn, row: &ImageRow) -> Result<()> {
    diesel::update(images::table.find(&row.id))
        .set(row)
        .execute(c)?;
    Ok(())
}

/// The membership of `member` in `image_id`, if any.
pub fn member(c: &mut Conn, image_id: &str, member: &str) -> Result<Option<MemberRow>> {
    Ok(image_members::table
        .find((image_id, member))
        .select(MemberRow::as_select())
        .first(c)
        .optional()?)
}

/// True when `project` may see the image: its owner, a public or community
/// image, or a `shared` image with `project` as a member (any status; Glance
/// shows pending and rejected shares when asked directly). Admins see all.
pub fn visible_to(
    c: &mut Conn,
    row: &ImageRow,
    project: Option<&str>,
    admin: bool,
) -> Result<bool> {
    if admin || row.visibility == "public" || row.visibility == "community" {
        return Ok(true);
    }
    let Some(p) = project else { return Ok(false) };
    if row.owner.as_deref() == Some(p) {
        return Ok(true);
    }
    if row.visibility == "shared" {
        return Ok(member(c, &row.id, p)?.is_some());
    }
    Ok(false)
}

/// The images a listing may show `project`, before Glance's filters: all
/// of them for an admin; otherwise those it owns, public and community
/// ones, and those shared with it (whatever the member status: the
/// caller's `member_status` filter decides).
pub fn list_candidates(c: &mut Conn, project: Option<&str>, admin: bool) -> Result<Vec<ImageRow>> {
    let q = images::table.select(ImageRow::as_select()).into_boxed();
    if admin {
        return Ok(q.load(c)?);
    }
    let p = project.unwrap_or("").to_string();
    let shared = image_members::table
        .filter(image_members::member.eq(p.clone()))
        .select(image_members::image_id);
    Ok(q.filter(
        images::owner
            .eq(p)
            .or(images::visibility.eq_any(["public", "community"]))
            .or(images::id.eq_any(shared)),
    )
    .load(c)?)
}

/// The member statuses of `project` on every image shared with it.
pub fn memberships_of(c: &mut Conn, project: &str) -> Result<Vec<MemberRow>> {
    Ok(image_members::table
        .filter(image_members::member.eq(project))
        .select(MemberRow::as_select())
        .load(c)?)
}

/// The members of an image, oldest first.
pub fn members(c: &mut Conn, image_id: &str) -> Result<Vec<MemberRow>> {
    Ok(image_members::table
        .filter(image_members::image_id.eq(image_id))
        .order(image_members::created_at.asc())
        .select(MemberRow::as_select())
        .load(c)?)
}

/// Adds a member; a unique violation means it is a member already.
pub fn insert_member(c: &mut Conn, row: &MemberRow) -> Result<()> {
    diesel::insert_into(image_members::table)
        .values(row)
        .execute(c)?;
    Ok(())
}

/// Sets a member's status (`pending`, `accepted`, `rejected`).
pub fn set_member_status(
    c: &mut Conn,
    image_id: &str,
    member: &str,
    status: &str,
    now: i64,
) -> Result<()> {
    diesel::update(image_members::table.find((image_id, member)))
        .set((
            image_members::status.eq(status),
            image_members::updated_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// Removes a member; false when it was not one.
pub fn delete_member(c: &mut Conn, image_id: &str, member: &str) -> Result<bool> {
    Ok(diesel::delete(image_members::table.find((image_id, member))).execute(c)? == 1)
}

/// Deletes an image row and its members. The caller releases the image's
/// resources in the same transaction.
pub fn delete(c: &mut Conn, id: &str) -> Result<()> {
    diesel::delete(image_members::table.filter(image_members::image_id.eq(id))).execute(c)?;
    diesel::delete(images::table.find(id)).execute(c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_ownership_visibility_and_membership() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::open_sqlite(&dir.path().join("m.db"), 2).unwrap();
        db.run_blocking(|c| {
            let mk = |id: &str, owner: &str, vis: &str| {
                let mut r = ImageRow::queued(id.into(), Some(owner.into()), 1);
                r.visibility = vis.into();
                r
            };
            for r in [
                mk("own", "p1", "private"),
                mk("other-private", "p2", "private"),
                mk("pub", "p2", "public"),
                mk("comm", "p2", "community"),
                mk("shared-in", "p2", "shared"),
                mk("shared-out", "p2", "shared"),
            ] {
                insert(c, &r)?;
            }
            insert_member(
                c,
                &MemberRow {
                    image_id: "shared-in".into(),
                    member: "p1".into(),
                    status: "pending".into(),
                    created_at: 1,
                    updated_at: 1,
                },
            )?;
            let mut ids: Vec<String> = list_candidates(c, Some("p1"), false)?
                .into_iter()
                .map(|r| r.id)
                .collect();
            ids.sort();
            assert_eq!(ids, ["comm", "own", "pub", "shared-in"]);
            assert_eq!(list_candidates(c, Some("p1"), true)?.len(), 6);
            assert_eq!(memberships_of(c, "p1")?.len(), 1);
            set_member_status(c, "shared-in", "p1", "accepted", 2)?;
            assert_eq!(member(c, "shared-in", "p1")?.unwrap().status, "accepted");
            assert!(delete_member(c, "shared-in", "p1")?);
            assert!(!delete_member(c, "shared-in", "p1")?);
            delete(c, "own")?;
            assert!(get(c, "own")?.is_none());
            Ok(())
        })
        .unwrap();
    }
}
