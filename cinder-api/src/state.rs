//! Volume and attachment status transitions, as Cinder's volume API checks
//! them (conditional updates on `status`). Pure functions: the handlers call
//! them inside the write transaction that applies the new status, so two
//! racing requests cannot both pass a check.

use crate::error::{CinderError, Result};

/// Every status a volume can show.
pub const VOLUME_STATUSES: &[&str] = &[
    "creating",
    "available",
    "reserved",
    "attaching",
    "detaching",
    "in-use",
    "maintenance",
    "deleting",
    "awaiting-transfer",
    "error",
    "error_deleting",
    "backing-up",
    "restoring-backup",
    "error_backing-up",
    "error_restoring",
    "error_extending",
    "downloading",
    "uploading",
    "retyping",
    "extending",
    "reverting",
];

/// Statuses `os-reset_status` accepts for snapshots.
pub const SNAPSHOT_STATUSES: &[&str] = &[
    "creating",
    "available",
    "deleting",
    "error",
    "error_deleting",
    "restoring",
    "unmanaging",
    "backing-up",
];

/// Whether `os-update_snapshot_status` may move a snapshot from `current`
/// to `new` (Cinder's table: a snapshot being created may become
/// available or fail; one being deleted may fail to be deleted).
pub fn snapshot_status_update_allowed(current: &str, new: &str) -> bool {
    match current {
        "creating" => matches!(new, "creating" | "available" | "error"),
        "deleting" => matches!(new, "deleting" | "error_deleting"),
        _ => false,
    }
}

/// A volume may be deleted (without force) in these statuses.
const DELETABLE: &[&str] = &[
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];

/// Checks a delete; `force` (admin `os-force_delete`) skips the status
/// check only: as in Cinder, an attached volume is never deleted (detach
/// or force-detach it first) and snapshots go only with `cascade`.
pub fn check_delete(
    status: &str,
    attached: bool,
    has_snapshots: bool,
    cascade: bool,
    force: bool,
) -> Result<()> {
    let status_ok = force || DELETABLE.contains(&status);
    let snaps_ok = cascade || !has_snapshots;
    if status_ok && !attached && snaps_ok {
        return Ok(());
    }
    // Cinder's `build_or_str` of no expected status is empty, hence the
    // double space of a forced delete's message.
    let expected = if force {
        String::new()
    } else {
        format!("status must be {} and", DELETABLE.join(" or "))
    };
    Err(CinderError::invalid_volume(format!(
        "Volume {expected} must not be migrating, attached, belong to a group, have \
         snapshots, awaiting a transfer, or be disassociated from snapshots after volume \
         transfer."
    )))
}

/// `os-reserve`: available (or in-use when multiattach) becomes attaching.
pub fn check_reserve(status: &str, multiattach: bool) -> Result<&'static str> {
    let ok = status == "available" || (multiattach && status == "in-use");
    if ok {
        return Ok("attaching");
    }
    let expected = if multiattach {
        "available or in-use"
    } else {
        "available"
    };
    Err(CinderError::invalid_volume(format!(
        "Volume status must be {expected} to reserve, but the status is {status}."
    )))
}

/// A new attachment (3.27 `POST /attachments`): available (or in-use /
/// reserved when multiattach) becomes reserved.
pub fn check_attachment_reserve(id: &str, status: &str, multiattach: bool) -> Result<()> {
    if status.contains("error") {
        return Err(CinderError::invalid_volume(format!(
            "Volume attachments can not be created if the volume is in an error state. The \
             Volume {id} currently has a status of: {status} "
        )));
    }
    let ok = matches!(status, "available" | "downloading")
        || (multiattach && matches!(status, "in-use" | "reserved" | "attaching"));
    if ok {
        return Ok(());
    }
    let expected = if multiattach {
        "available or in-use or downloading"
    } else {
        "available or downloading"
    };
    Err(CinderError::invalid_volume(format!(
        "Volume {id} status must be {expected} to reserve, but the current status is {status}."
    )))
}

/// `os-begin_detaching`: in-use and attached becomes detaching.
pub fn check_begin_detaching(status: &str, attached: bool) -> Result<()> {
    if status == "in-use" && attached {
        return Ok(());
    }
    Err(CinderError::invalid_volume(
        "Unable to detach volume. Volume status must be 'in-use' and attach_status must be \
         'attached' to detach.",
    ))
}

/// `os-extend`: available, or in-use from 3.42 on; the new size must grow.
/// The size is checked first, and the status message prints the expected
/// status as the Python dict Cinder formats into it.
pub fn check_extend(
    id: &str,
    status: &str,
    in_use_allowed: bool,
    size: i64,
    new_size: i64,
) -> Result<()> {
    if new_size <= size {
        return Err(CinderError::invalid_input(format!(
            "New size for extend must be greater than current size. (current: {size}, \
             extended: {new_size})."
        )));
    }
    // Cinder picks the attached path only for in-use volumes from 3.42.
    let expected = if in_use_allowed && status == "in-use" {
        "in-use"
    } else {
        "available"
    };
    if status != expected {
        return Err(CinderError::invalid_volume(format!(
            "Volume {id} status must be '{{'status': '{expected}'}}' to extend, currently \
             {status}."
        )));
    }
    Ok(())
}

/// Snapshot creation: available always; in-use with `force` or from 3.66.
pub fn check_snapshot(id: &str, status: &str, force: bool) -> Result<()> {
    // Cinder's `_create_snapshot_in_db_validate` runs before the status test.
    match status {
        "maintenance" => {
            return Err(CinderError::invalid_volume(
                "The snapshot cannot be created when the volume is in maintenance mode.",
            ))
        }
        "error" => {
            return Err(CinderError::invalid_volume(
                "The snapshot cannot be created when the volume is in error status.",
            ))
        }
        _ => {}
    }
    if status == "available" || (status == "in-use" && force) {
        return Ok(());
    }
    let expected = if force {
        "available, in-use"
    } else {
        "available"
    };
    Err(CinderError::invalid_volume(format!(
        "Volume {id} status must be {expected}, but current status is: {status}."
    )))
}

/// Upload to image: available, or in-use with `force`.
pub fn check_upload(status: &str, force: bool) -> Result<()> {
    if status == "available" || (status == "in-use" && force) {
        return Ok(());
    }
    Err(CinderError::invalid_volume(format!(
        "Volume status must be available or in-use (with force), but current status is: \
         {status}."
    )))
}

/// Revert (3.40): the volume must be available and the snapshot its latest.
pub fn check_revert(vol_id: &str, status: &str, snap_id: &str, latest: Option<&str>) -> Result<()> {
    if latest != Some(snap_id) {
        return Err(CinderError::BadRequest(format!(
            "Specified snapshot {snap_id} is not the latest one of volume {vol_id}."
        )));
    }
    if status != "available" {
        return Err(CinderError::invalid_volume(format!(
            "Can't revert volume {vol_id} to its latest snapshot {snap_id}. Volume's status \
             must be 'available'."
        )));
    }
    Ok(())
}

/// The status a volume settles in once an attachment went away or never
/// completed: in-use while another attachment is attached.
pub fn settle(attached_left: usize) -> (&'static str, &'static str) {
    if attached_left > 0 {
        ("in-use", "attached")
    } else {
        ("available", "detached")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_rules() {
        assert!(check_delete("available", false, false, false, false).is_ok());
        assert!(check_delete("error", false, false, false, false).is_ok());
        assert!(check_delete("in-use", true, false, false, false).is_err());
        assert!(check_delete("available", false, true, false, false).is_err());
        assert!(check_delete("available", false, true, true, false).is_ok());
        assert_eq!(
            check_delete("in-use", true, false, false, true)
                .unwrap_err()
                .to_string(),
            "Invalid volume: Volume  must not be migrating, attached, belong to a group, have \
             snapshots, awaiting a transfer, or be disassociated from snapshots after volume \
             transfer."
        );
        assert!(check_delete("attaching", false, false, false, true).is_ok());
        assert!(check_delete("attaching", false, false, false, false).is_err());
        assert!(check_delete("available", false, true, false, true).is_err());
    }

    #[test]
    fn attach_rules() {
        assert_eq!(check_reserve("available", false).unwrap(), "attaching");
        assert!(check_reserve("in-use", false).is_err());
        assert!(check_reserve("in-use", true).is_ok());
        assert!(check_attachment_reserve("v", "available", false).is_ok());
        let e = check_attachment_reserve("v", "in-use", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid volume: Volume v status must be available or downloading to reserve, but \
             the current status is in-use."
        );
        assert!(check_attachment_reserve("v", "reserved", false).is_err());
        assert!(check_attachment_reserve("v", "reserved", true).is_ok());
        assert!(check_attachment_reserve("v", "error", true).is_err());
        assert!(check_begin_detaching("in-use", true).is_ok());
        assert!(check_begin_detaching("available", false).is_err());
        assert_eq!(settle(0), ("available", "detached"));
        assert_eq!(settle(2), ("in-use", "attached"));
    }

    #[test]
    fn extend_snapshot_upload_revert_rules() {
        assert!(check_extend("v", "available", false, 1, 2).is_ok());
        assert!(check_extend("v", "available", false, 2, 2).is_err());
        assert_eq!(
            check_extend("v", "in-use", false, 1, 2)
                .unwrap_err()
                .to_string(),
            "Invalid volume: Volume v status must be '{'status': 'available'}' to extend, \
             currently in-use."
        );
        assert!(check_extend("v", "in-use", true, 1, 2).is_ok());
        // size first, as Cinder
        assert!(check_extend("v", "in-use", false, 2, 1)
            .unwrap_err()
            .to_string()
            .starts_with("Invalid input received: New size"));
        assert_eq!(
            check_snapshot("v", "error", true).unwrap_err().to_string(),
            "Invalid volume: The snapshot cannot be created when the volume is in error status."
        );
        assert_eq!(
            check_snapshot("v", "attaching", true)
                .unwrap_err()
                .to_string(),
            "Invalid volume: Volume v status must be available, in-use, but current status is: \
             attaching."
        );
        assert!(check_snapshot("v", "in-use", false).is_err());
        assert!(check_snapshot("v", "in-use", true).is_ok());
        assert!(check_snapshot("v", "attaching", true).is_err());
        assert!(check_upload("in-use", false).is_err());
        assert!(check_upload("in-use", true).is_ok());
        assert!(check_revert("v", "available", "s2", Some("s2")).is_ok());
        assert!(check_revert("v", "available", "s1", Some("s2")).is_err());
        assert!(check_revert("v", "in-use", "s2", Some("s2")).is_err());
        assert!(check_revert("v", "available", "s1", None).is_err());
    }
}
