//! Wire types of the image API (serde + utoipa) and the image view Glance
//! renders from a row.

use std::collections::BTreeMap;

use db::images::{ImageRow, MemberRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The property that marks an image as a snapshot (Synnefo's meaning: the
/// image is deployed as it is, no customization task runs on it).
pub const SNAPSHOT_PROPERTY: &str = "EXCLUDE_ALL_TASKS";

/// One image as Glance shows it. Custom properties appear as top-level
/// string members beside the base attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub visibility: String,
    pub protected: bool,
    pub os_hidden: bool,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub owner: Option<String>,
    pub size: Option<i64>,
    pub virtual_size: Option<i64>,
    pub container_format: Option<String>,
    pub disk_format: Option<String>,
    pub min_ram: i32,
    pub min_disk: i32,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
    #[serde(rename = "self")]
    pub self_: String,
    pub file: String,
    pub schema: String,
    /// Store (atoll storage policy) holding the data, once there is data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stores: Option<String>,
    /// Custom properties; `image_type` is `snapshot` for snapshots.
    #[serde(flatten)]
    pub properties: BTreeMap<String, Value>,
}

/// `GET /v2/images`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImageList {
    pub images: Vec<ImageView>,
    pub first: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    pub schema: String,
}

/// One member of a shared image.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub image_id: String,
    pub member_id: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub schema: String,
}

/// `GET /v2/images/{id}/members`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
    pub schema: String,
}

/// `POST /v2/images/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MemberCreate {
    /// Project to share the image with.
    pub member: String,
}

/// `PUT /v2/images/{id}/members/{member}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MemberUpdate {
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
}

/// `POST /v2/images/{id}/import`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportRequest {
    pub method: ImportMethod,
    /// Stores to import into (copy-image: the stores to copy to).
    #[serde(default)]
    pub stores: Option<Vec<String>>,
    #[serde(default)]
    pub all_stores: Option<bool>,
    #[serde(default)]
    pub all_stores_must_succeed: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportMethod {
    /// `glance-direct` or `copy-image`.
    pub name: Option<String>,
}

/// `POST /v2/images/{id}/locations` (Glance 2.17) and the value of a
/// JSON-patch `add /locations/-`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LocationAdd {
    /// `swift://<account>/<container>/<object>`: an object of the caller's
    /// account that becomes the image's data without a copy.
    pub url: String,
    #[serde(default)]
    pub validation_data: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, Value>>,
}

/// `POST /v2/images/{id}/actions/export` (atoll extension).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExportRequest {
    /// Existing container of the caller's account.
    pub container: String,
    /// Object name; the image's id when absent.
    #[serde(default)]
    pub object: Option<String>,
}

/// The object an export made.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportResult {
    pub account: String,
    pub container: String,
    pub object: String,
    /// `swift://<account>/<container>/<object>`.
    pub url: String,
    pub size: i64,
    pub etag: String,
}

/// `GET /v2/info/stores`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoresInfo {
    pub stores: Vec<StoreInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoreInfo {
    pub id: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
}

/// Glance's timestamp form (`2026-11-21T05:26:41Z`) of microseconds.
pub fn timestamp(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_default()
}

/// The custom properties of a row as stored (an object of strings).
pub fn properties(row: &ImageRow) -> BTreeMap<String, Value> {
    serde_json::from_str(&row.properties).unwrap_or_default()
}

pub fn tags(row: &ImageRow) -> Vec<String> {
    serde_json::from_str(&row.tags).unwrap_or_default()
}

/// True when the image is a snapshot.
pub fn is_snapshot(props: &BTreeMap<String, Value>) -> bool {
    props.contains_key(SNAPSHOT_PROPERTY)
}

/// The view of a row. `image_type` shows `snapshot` for a snapshot (it is
/// derived from [`SNAPSHOT_PROPERTY`], so it can never disagree with it).
pub fn image_view(row: &ImageRow) -> ImageView {
    let mut props = properties(row);
    if is_snapshot(&props) {
        props.insert("image_type".into(), Value::String("snapshot".into()));
    }
    // Staged data is not the image's yet: Glance records only its size at
    // stage time, the hashes and virtual size once the import finishes.
    let staged = row.status == "uploading";
    let unless_staged = |v: &Option<String>| if staged { None } else { v.clone() };
    ImageView {
        id: row.id.clone(),
        name: row.name.clone(),
        status: row.status.clone(),
        visibility: row.visibility.clone(),
        protected: row.protected,
        os_hidden: row.os_hidden,
        checksum: unless_staged(&row.checksum),
        os_hash_algo: unless_staged(&row.os_hash_algo),
        os_hash_value: unless_staged(&row.os_hash_value),
        owner: row.owner.clone(),
        size: row.size,
        virtual_size: if staged { None } else { row.virtual_size },
        container_format: row.container_format.clone(),
        disk_format: row.disk_format.clone(),
        min_ram: row.min_ram,
        min_disk: row.min_disk,
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
        tags: tags(row),
        self_: format!("/v2/images/{}", row.id),
        file: format!("/v2/images/{}/file", row.id),
        schema: "/v2/schemas/image".into(),
        stores: row.resource_id.as_ref().and(row.store.clone()),
        properties: props,
    }
}

pub fn member_view(m: &MemberRow) -> MemberView {
    MemberView {
        image_id: m.image_id.clone(),
        member_id: m.member.clone(),
        status: m.status.clone(),
        created_at: timestamp(m.created_at),
        updated_at: timestamp(m.updated_at),
        schema: "/v2/schemas/member".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_flattens_properties_and_marks_snapshots() {
        let mut row = ImageRow::queued("i1".into(), Some("p".into()), 1_700_000_000_000_000);
        row.properties = r#"{"os_distro":"debian","EXCLUDE_ALL_TASKS":"yes"}"#.into();
        row.tags = r#"["a","b"]"#.into();
        let v = serde_json::to_value(image_view(&row)).unwrap();
        assert_eq!(v["os_distro"], "debian");
        assert_eq!(v["image_type"], "snapshot");
        assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
        assert_eq!(v["self"], "/v2/images/i1");
        assert_eq!(v["created_at"], "2023-11-14T22:13:20Z");
        assert!(v.get("stores").is_none(), "no data, no store");
        row.properties = "{}".into();
        let v = serde_json::to_value(image_view(&row)).unwrap();
        assert!(v.get("image_type").is_none());
        // Staged: the size shows, the hashes wait for the import.
        row.status = "uploading".into();
        row.size = Some(5);
        row.virtual_size = Some(5);
        row.checksum = Some("c".into());
        row.os_hash_algo = Some("sha512".into());
        row.os_hash_value = Some("h".into());
        let v = serde_json::to_value(image_view(&row)).unwrap();
        assert_eq!(v["size"], 5);
        for k in ["checksum", "os_hash_algo", "os_hash_value", "virtual_size"] {
            assert!(v[k].is_null(), "{k}");
        }
        row.status = "active".into();
        let v = serde_json::to_value(image_view(&row)).unwrap();
        assert_eq!(v["checksum"], "c");
    }
}
