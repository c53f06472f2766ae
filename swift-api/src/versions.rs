//! Object versioning in Swift's two legacy modes (`versioned_writes`): a
//! container with `X-Versions-Location` (stack mode) or
//! `X-History-Location` (history mode) keeps every overwritten object in
//! an archive container as `<3 hex digits of the name's length><name>/
//! <timestamp>`.
//!
//! - An upload (PUT, copy, manifest) over an existing object first
//!   archives the current version. Here that is one more row on the same
//!   resource, in the same transaction as the new object: no bytes are
//!   copied and no version is lost to a crash between the two steps.
//! - DELETE in stack mode removes the current version and restores the
//!   newest archived one in its place; in history mode it archives the
//!   current version, writes a zero-byte delete marker and removes the
//!   object.
//!
//! The archive container must exist (else 412, as Swift's failed sub-PUT
//! gives). Access to the archive follows from write access to the
//! versioned container, as Swift's pre-authorised sub-requests do.

use db::Conn;

use crate::error::{Result, SwiftError};
use crate::http::HttpRequest;
use crate::store::{self, ObjectRow};
use crate::util::{self, header};

/// Container keys kept beside the metadata, never shown as they are.
pub const SYSMETA_PREFIX: &str = "X-Container-Sysmeta-";

/// Container sysmeta holding the archive container's name.
pub const LOCATION: &str = "X-Container-Sysmeta-Versions-Location";
/// Container sysmeta holding the mode: `stack` or `history`.
pub const MODE: &str = "X-Container-Sysmeta-Versions-Mode";
/// The content type of history mode's delete markers.
pub const DELETE_MARKER: &str = "application/x-deleted;swift_versions_deleted=1";

/// The flags `/info` lists.
pub const FLAGS: [&str; 2] = ["x-versions-location", "x-history-location"];

/// What a container PUT or POST asks of versioning, as entries to merge
/// into the container's metadata (an empty value removes one).
pub fn container_update(req: &HttpRequest) -> Result<Vec<(String, String)>> {
    let h = req.headers();
    let mut versions = header(h, "x-versions-location");
    let mut history = header(h, "x-history-location");
    if let (Some(v), Some(hi)) = (versions, history) {
        if hi.is_empty() {
            history = None;
        } else if !v.is_empty() {
            return Err(SwiftError::BadRequest(
                "Only one of x-versions-location or x-history-location may be specified".into(),
            ));
        } else {
            versions = None;
        }
    }
    let set = match (versions, history) {
        (Some(v), _) => Some((v, "stack")),
        (None, Some(hi)) => Some((hi, "history")),
        (None, None) => None,
    };
    let remove = || {
        vec![
            (LOCATION.to_string(), String::new()),
            (MODE.to_string(), String::new()),
        ]
    };
    match set {
        Some(("", _)) => Ok(remove()),
        Some((loc, mode)) => {
            if loc.contains('/') {
                return Err(SwiftError::PreconditionMessage(
                    "Container name cannot contain slashes".into(),
                ));
            }
            Ok(vec![
                (LOCATION.to_string(), loc.to_string()),
                (MODE.to_string(), mode.to_string()),
            ])
        }
        None => {
            let asked = ["x-remove-versions-location", "x-remove-history-location"]
                .iter()
                .any(|n| header(h, n).is_some_and(|v| !v.is_empty()));
            Ok(if asked { remove() } else { Vec::new() })
        }
    }
}

/// The header a container GET or HEAD shows for its versioning, if any.
pub fn container_header(
    meta: &std::collections::BTreeMap<String, String>,
) -> Option<(&'static str, String)> {
    let loc = meta.get(LOCATION).filter(|l| !l.is_empty())?;
    let name = if meta.get(MODE).map(String::as_str) == Some("history") {
        "X-History-Location"
    } else {
        "X-Versions-Location"
    };
    Some((name, loc.clone()))
}

/// A versioned container's archive: (container name, history mode).
pub fn archive_of(c: &mut Conn, account: &str, container: &str) -> Result<Option<(String, bool)>> {
    let Some(row) = store::container(c, account, container)? else {
        return Ok(None);
    };
    let meta = util::meta_from_json(&row.metadata);
    let Some(loc) = meta.get(LOCATION).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    // Swift unquotes the stored value and keeps what precedes a slash.
    let name = percent_encoding::percent_decode_str(loc)
        .decode_utf8_lossy()
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let history = meta.get(MODE).map(String::as_str) == Some("history");
    Ok(Some((name, history)))
}

/// `<3 hex digits of the name's byte length><name>/`: all versions of one
/// object sort together, newest last.
pub fn prefix(object: &str) -> String {
    format!("{:03x}{object}/", object.len())
}

/// Puts `row` in the archive under `prefix(name) + timestamp`, sharing
/// its resource (one more reference).
fn archive_row(c: &mut Conn, archive: &str, row: &ObjectRow, stamp_micros: i64) -> Result<()> {
    if store::container(c, &row.account, archive)?.is_none() {
        return Err(SwiftError::PreconditionFailed);
    }
    let mut v = row.clone();
    v.container = archive.to_string();
    v.name = format!("{}{}", prefix(&row.name), util::x_timestamp(stamp_micros));
    // Named after the version's time, written now (Swift's copy drops
    // X-Timestamp).
    v.last_modified = db::now_micros();
    archipelago::meta::retain(c, &v.resource_id)?;
    store::put_object_unversioned(c, &v)
}

/// Before `account/container/name` is overwritten: archives its current
/// version when the container is versioned. Runs in the writer's
/// transaction.
pub fn before_overwrite(c: &mut Conn, account: &str, container: &str, name: &str) -> Result<()> {
    let Some((archive, _)) = archive_of(c, account, container)? else {
        return Ok(());
    };
    match store::object(c, account, container, name)? {
        Some(cur) if !cur.expired(db::now_micros()) => {
            let stamp = cur.last_modified;
            archive_row(c, &archive, &cur, stamp)
        }
        _ => Ok(()),
    }
}

/// The outcome of a versioned DELETE.
pub enum Deleted {
    /// The container is not versioned: delete as usual.
    NotVersioned,
    /// Done; `true` when something was deleted (else 404).
    Done(bool),
}

/// DELETE of `account/container/name` in a versioned container, in one
/// transaction: history mode archives and marks; stack mode restores the
/// newest archived version over the current one. `marker` is an empty
/// resource staged for history mode's delete marker (released when the
/// container turns out not to need it).
pub fn delete(
    c: &mut Conn,
    account: &str,
    container: &str,
    name: &str,
    marker: Option<&str>,
) -> Result<Deleted> {
    let versioning = archive_of(c, account, container)?;
    let history = matches!(versioning, Some((_, true)));
    if let (Some(rid), false) = (marker, history) {
        archipelago::meta::release(c, rid)?;
    }
    let Some((archive, history)) = versioning else {
        return Ok(Deleted::NotVersioned);
    };
    let now = db::now_micros();
    let current = store::object(c, account, container, name)?.filter(|r| !r.expired(now));
    if history {
        if let Some(cur) = &current {
            archive_row(c, &archive, cur, cur.last_modified)?;
        }
        // The mode changed since the caller looked: no marker to write.
        let Some(rid) = marker else {
            return Err(SwiftError::Conflict);
        };
        write_marker(c, account, &archive, name, now, rid)?;
        return Ok(Deleted::Done(remove_current(c, account, container, name)?));
    }
    // Stack mode: newest archived entries first.
    let versions = archived(c, account, &archive, name)?;
    let Some(newest) = versions.first() else {
        return Ok(Deleted::Done(remove_current(c, account, container, name)?));
    };
    if newest.content_type == DELETE_MARKER {
        if current.is_some() {
            // The object was written again after it was deleted: delete
            // that, and leave the history as it is.
            return Ok(Deleted::Done(remove_current(c, account, container, name)?));
        }
        // Deleted in history mode, since switched: bring back the version
        // before the marker (if one precedes the next marker) and drop
        // the marker.
        if let Some(prev) = versions
            .iter()
            .skip(1)
            .take_while(|v| v.content_type != DELETE_MARKER)
            .next()
        {
            restore(c, prev, container, name)?;
        }
        store::delete_object_row(c, newest)?;
        return Ok(Deleted::Done(true));
    }
    restore(c, newest, container, name)?;
    Ok(Deleted::Done(true))
}

/// The archived versions of `name`, newest first (live ones only).
fn archived(c: &mut Conn, account: &str, archive: &str, name: &str) -> Result<Vec<ObjectRow>> {
    let p = prefix(name);
    let now = db::now_micros();
    let mut rows = store::object_page(c, account, archive, None, None, &p, true, 10_000)?;
    rows.retain(|r| r.name.starts_with(&p) && !r.expired(now));
    Ok(rows)
}

/// Makes archived `version` the current object again and drops it from
/// the archive (its reference moves to the restored row).
fn restore(c: &mut Conn, version: &ObjectRow, container: &str, name: &str) -> Result<()> {
    let mut row = version.clone();
    row.container = container.to_string();
    row.name = name.to_string();
    row.last_modified = db::now_micros();
    archipelago::meta::retain(c, &row.resource_id)?;
    store::put_object_unversioned(c, &row)?;
    store::delete_object_row(c, version)
}

fn write_marker(
    c: &mut Conn,
    account: &str,
    archive: &str,
    name: &str,
    now: i64,
    rid: &str,
) -> Result<()> {
    if store::container(c, account, archive)?.is_none() {
        return Err(SwiftError::PreconditionFailed);
    }
    let row = ObjectRow {
        account: account.to_string(),
        container: archive.to_string(),
        name: format!("{}{}", prefix(name), util::x_timestamp(now)),
        resource_id: rid.to_string(),
        size: 0,
        etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
        content_type: DELETE_MARKER.into(),
        metadata: "{}".into(),
        last_modified: now,
        delete_at: None,
        manifest: None,
        slo: false,
    };
    store::put_object_unversioned(c, &row)
}

/// Deletes the current object; true when a live one was there.
pub fn remove_current(c: &mut Conn, account: &str, container: &str, name: &str) -> Result<bool> {
    match store::object(c, account, container, name)? {
        Some(row) => {
            let live = !row.expired(db::now_micros());
            store::delete_object_row(c, &row)?;
            Ok(live)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_sort_versions_together() {
        assert_eq!(prefix("o"), "001o/");
        assert_eq!(prefix("a/b"), "003a/b/");
        // Byte length, as Swift's WSGI strings count it.
        assert_eq!(prefix("\u{e9}"), "002\u{e9}/");
        assert_eq!(prefix(&"x".repeat(300)), format!("12c{}/", "x".repeat(300)));
    }
}
