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
