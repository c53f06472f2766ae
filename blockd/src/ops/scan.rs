//! Walking the devices (list) and removing a block's files (delete).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use archipelago::{BlockId, StoredBlock};

use super::Shared;
use crate::durable;
use crate::error::BlockdError;
use crate::layout::{is_prefix_dir, parse_name};

/// Every block with at least one fragment file, with the newest mtime of
/// its fragments. Temp files are not fragments and are skipped.
pub(crate) fn list(devices: &[PathBuf]) -> Result<Vec<StoredBlock>, BlockdError> {
    let mut seen: HashMap<BlockId, SystemTime> = HashMap::new();
    for dev in devices {
        let entries = match fs::read_dir(dev) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // a lost device
            Err(e) => return Err(BlockdError::io("listing", dev, e)),
        };
        for sub in entries {
            let sub = sub.map_err(|e| BlockdError::io("listing", dev, e))?;
            if !is_prefix_dir(&sub.path()) {
                continue;
            }
            scan_prefix(&sub.path(), &mut seen)?;
        }
    }
    let mut out: Vec<StoredBlock> = seen
        .into_iter()
        .map(|(id, modified)| StoredBlock { id, modified })
        .collect();
    out.sort_by_key(|b| b.id);
    Ok(out)
}

fn scan_prefix(dir: &Path, seen: &mut HashMap<BlockId, SystemTime>) -> Result<(), BlockdError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BlockdError::io("listing", dir, e)),
    };
    for f in entries {
        let f = f.map_err(|e| BlockdError::io("listing", dir, e))?;
        let Some((id, _)) = parse_name(&f.file_name().to_string_lossy()) else {
            continue;
        };
        let mtime = match f.metadata() {
            Ok(m) => m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue, // deleted meanwhile
            Err(e) => return Err(BlockdError::io("stat", f.path(), e)),
        };
        let e = seen.entry(id).or_insert(mtime);
        *e = (*e).max(mtime);
    }
    Ok(())
}

/// Removes every fragment of `id` on every device, then fsyncs the
/// directories so the removal survives a crash.
pub(crate) fn delete(sh: &Shared, id: &BlockId) -> Result<(), BlockdError> {
    sh.wait_writes(id);
    for dev in 0..sh.layout.devices().len() {
        let dir = sh.layout.dir(dev, id);
        let mut removed = false;
        for i in 0..sh.max_fragments.max(1) {
            let p = sh.layout.path(dev, id, i);
            match fs::remove_file(&p) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(BlockdError::io("removing", p, e)),
            }
        }
        if removed {
            durable::sync_dir(&dir).map_err(|e| BlockdError::io("syncing", &dir, e))?;
        }
    }
    Ok(())
}
