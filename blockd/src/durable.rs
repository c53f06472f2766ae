//! The one crash-safe way blockd makes a file appear: write it under a temp
//! name, fsync it, rename it to its final name, fsync the directory.
//!
//! A file under its final name is therefore always complete and durable
//! content; a crash leaves at most temp files, which [`clean_temp_files`]
//! removes when the store opens. [`TempGuard`] removes the temp file when a
//! write fails part-way. The io_uring engine issues the same four steps as
//! one linked chain per file and uses this module for names, guards and its
//! fallback path.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Marker in every temp file name; final names never contain it.
pub const TEMP_MARK: &str = ".tmp-";

/// A fresh temp name next to `name` (unique within this host: process id
/// plus a counter).
pub fn temp_name(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{name}{TEMP_MARK}{}-{n}", std::process::id())
}

/// True for names made by [`temp_name`].
pub fn is_temp(name: &str) -> bool {
    name.contains(TEMP_MARK)
}

/// Removes its file on drop unless [`TempGuard::disarm`]ed (once the file
/// has been renamed away, or handed on).
#[derive(Debug)]
pub struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    /// Guards `path`.
    pub fn new(path: PathBuf) -> TempGuard {
        TempGuard { path: Some(path) }
    }

    /// Keeps the file.
    pub fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "could not remove temp file")
                }
            }
        }
    }
}

/// Creates `dir` if needed; when it had to be created, fsyncs its parent so
/// the new directory entry itself survives a crash.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    match dir.parent() {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// fsyncs a directory, making renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a new temp file in `dir` for final name `name`.
pub fn create_temp(dir: &Path, name: &str) -> io::Result<(File, String, TempGuard)> {
    let tmp = temp_name(name);
    let path = dir.join(&tmp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((file, tmp, TempGuard::new(path)))
}

/// The whole sequence with plain syscalls: used by the pread/pwrite engine
/// and to retry a file whose io_uring chain failed.
pub fn write_durable(dir: &Path, name: &str, parts: &[&[u8]]) -> io::Result<()> {
    ensure_dir(dir)?;
    let (file, tmp, mut guard) = create_temp(dir, name)?;
    let mut off = 0u64;
    for p in parts {
        file.write_all_at(p, off)?;
        off += p.len() as u64;
    }
    file.sync_all()?;
    fs::rename(dir.join(&tmp), dir.join(name))?;
    guard.disarm();
    sync_dir(dir)
}

/// Removes temp files left by a crash from `dir` and its subdirectories
/// (one level: the fragment prefix directories). Returns how many.
pub fn clean_temp_files(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for sub in entries {
        let sub = sub?;
        if !sub.file_type()?.is_dir() {
            continue;
        }
        for f in fs::read_dir(sub.path())? {
            let f = f?;
            if is_temp(&f.file_name().to_string_lossy()) {
                fs::remove_file(f.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_write_leaves_only_the_final_name() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        write_durable(&dir, "x.0", &[b"hello ", b"world"]).unwrap();
        assert_eq!(fs::read(dir.join("x.0")).unwrap(), b"hello world");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn guard_removes_unless_disarmed_and_cleanup_finds_temps() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("ab");
        fs::create_dir(&sub).unwrap();
        {
            let (_f, tmp, _g) = create_temp(&sub, "y.1").unwrap();
            assert!(sub.join(tmp).exists());
        }
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 0);
        let (_f, _tmp, mut g) = create_temp(&sub, "y.2").unwrap();
        g.disarm();
        drop(g);
        assert_eq!(clean_temp_files(d.path()).unwrap(), 1);
        assert_eq!(fs::read_dir(&sub).unwrap().count(), 0);
    }
}
