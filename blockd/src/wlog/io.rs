//! The write log's file IO, behind a small seam so tests can crash it.
//!
//! [`FsDir`] is the real thing (plain `pwrite`/`fdatasync`, optionally
//! O_DIRECT for writes). [`MemDir`] keeps files in memory, remembers which
//! bytes were synced, and can "crash" at a chosen sync: from then on every
//! call fails, and [`MemDir::after_crash`] yields what a restarted host
//! would find (synced bytes only, optionally plus torn prefixes of the
//! writes not yet synced, in any combination: a disk may persist a later
//! write and lose an earlier one).
//!
//! All calls block: they run on the log's own thread or on a blocking pool,
//! never on an async executor.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One log segment file.
#[allow(clippy::len_without_is_empty)] // a file length, not a collection
pub trait LogFile: Send + Sync + 'static {
    /// Writes all of `buf` at `off`.
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()>;
    /// Makes every byte written so far durable (fdatasync).
    fn sync(&self) -> io::Result<()>;
    /// Reads up to `buf.len()` bytes at `off`; fewer only at the end.
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
}

/// The directory of segment files.
pub trait LogDir: Send + Sync + 'static {
    /// Segment names, unsorted.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Creates an empty file and makes its name durable.
    fn create(&self, name: &str) -> io::Result<Arc<dyn LogFile>>;
    fn open(&self, name: &str) -> io::Result<Arc<dyn LogFile>>;
    /// Removes a file and makes the removal durable (so trims stay a
    /// prefix of the log across crashes).
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Renames a file and makes the rename durable (recycling a trimmed
    /// segment counts as its removal).
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Creates `name` holding `len` zero bytes that are written and durable,
    /// so later overwrites change no file metadata and an fdatasync is a
    /// plain cache flush (no journal commit). The name itself becomes
    /// durable only through a later [`LogDir::rename`].
    fn prepare(&self, name: &str, len: u64) -> io::Result<()>;
}

/// O_DIRECT: not in std, and the value differs between architectures.
#[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
const O_DIRECT: i32 = 0o200000;
#[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
const O_DIRECT: i32 = 0o40000;

/// Segment files in a local directory.
pub struct FsDir {
    dir: PathBuf,
    direct: bool,
}

impl FsDir {
    /// Opens (creating) `dir`; `direct` writes with O_DIRECT (reads stay
    /// buffered on a second descriptor: they are small and unaligned).
    pub fn open(dir: PathBuf, direct: bool) -> io::Result<FsDir> {
        std::fs::create_dir_all(&dir)?;
        Ok(FsDir { dir, direct })
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn file(&self, name: &str, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let path = self.dir.join(name);
        let mut o = OpenOptions::new();
        o.read(true).write(true).create(create);
        let reader = o.open(&path)?;
        let writer = if self.direct {
            let mut o = OpenOptions::new();
            o.write(true).custom_flags(O_DIRECT);
            match o.open(&path) {
                Ok(f) => Some(f),
                // tmpfs and some others refuse O_DIRECT: buffered it is.
                Err(e) if e.raw_os_error() == Some(22) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        Ok(Arc::new(FsFile { reader, writer }))
    }
}

struct FsFile {
    reader: File,
    writer: Option<File>,
}

impl LogFile for FsFile {
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        // O_DIRECT for every group: on the measured VM a buffered write
        // into pages not yet cached cost 25-45 ms per 8 MiB (page
        // allocation), the device write 5-6 ms; and the fdatasync that
        // follows is then a bare cache flush.
        self.writer
            .as_ref()
            .unwrap_or(&self.reader)
            .write_all_at(buf, off)
    }
    fn sync(&self) -> io::Result<()> {
        self.writer.as_ref().unwrap_or(&self.reader).sync_data()
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.reader.read_at(&mut buf[n..], off + n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.reader.metadata()?.len())
    }
}

impl LogDir for FsDir {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            if let Some(n) = e?.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        Ok(out)
    }
    fn create(&self, name: &str) -> io::Result<Arc<dyn LogFile>> {
        let f = self.file(name, true)?;
        self.sync_dir()?;
        Ok(f)
    }
    fn open(&self, name: &str) -> io::Result<Arc<dyn LogFile>> {
        self.file(name, false)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.dir.join(name))?;
        self.sync_dir()
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        std::fs::rename(self.dir.join(from), self.dir.join(to))?;
        self.sync_dir()
    }
    fn prepare(&self, name: &str, len: u64) -> io::Result<()> {
        let path = self.dir.join(name);
        let mut o = OpenOptions::new();
        o.write(true).create(true).truncate(true);
        // O_DIRECT where allowed: the zeros go straight to the device
        // instead of filling the page cache and one long flush at the end.
        let direct = self.direct && len.is_multiple_of(4096);
        if direct {
            o.custom_flags(O_DIRECT);
        }
        let f = match o.open(&path) {
            Ok(f) => f,
            Err(e) if direct && e.raw_os_error() == Some(22) => OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?,
            Err(e) => return Err(e),
        };
        // Real zeros, not fallocate: unwritten extents would turn every
        // first overwrite into a metadata change again. A page-aligned
        // slice of an over-allocated buffer (O_DIRECT needs the alignment).
        const CHUNK: usize = 1 << 20;
        let raw = vec![0u8; CHUNK + 4096];
        let start = raw.as_ptr().align_offset(4096);
        let zeros = &raw[start..start + CHUNK];
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(CHUNK as u64) as usize;
            f.write_all_at(&zeros[..n], off)?;
            off += n as u64;
        }
        f.sync_all()
    }
}

/// An in-memory file: its current bytes, its durable bytes, and the
/// writes not yet synced (for tearing).
#[derive(Default)]
pub struct MemFile {
    st: Mutex<MemState>,
    crash: Option<Arc<CrashCtl>>,
}

#[derive(Default, Clone)]
struct MemState {
    now: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<(u64, usize)>,
}

/// When to crash: at the `at`-th sync (counting every file's syncs).
#[derive(Default)]
pub struct CrashCtl {
    st: Mutex<(u64, Option<u64>, bool)>, // (syncs, crash at, crashed)
}

impl CrashCtl {
    fn dead(&self) -> bool {
        self.st.lock().unwrap().2
    }
    /// Counts a sync; true if it is the one that crashes.
    fn on_sync(&self) -> bool {
        let mut s = self.st.lock().unwrap();
        s.0 += 1;
        if s.1 == Some(s.0) {
            s.2 = true;
        }
        s.2
    }
    pub fn syncs(&self) -> u64 {
        self.st.lock().unwrap().0
    }
    pub fn crashed(&self) -> bool {
        self.dead()
    }
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash")
}

impl LogFile for MemFile {
    fn write_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        if self.crash.as_ref().is_some_and(|c| c.dead()) {
            return Err(crashed());
        }
        let mut s = self.st.lock().unwrap();
        let end = off as usize + buf.len();
        if s.now.len() < end {
            s.now.resize(end, 0);
        }
        s.now[off as usize..end].copy_from_slice(buf);
        s.unsynced.push((off, buf.len()));
        Ok(())
    }
    fn sync(&self) -> io::Result<()> {
        if self.crash.as_ref().is_some_and(|c| c.on_sync()) {
            return Err(crashed());
        }
        let mut s = self.st.lock().unwrap();
        s.durable = s.now.clone();
        s.unsynced.clear();
        Ok(())
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        let s = self.st.lock().unwrap();
        let off = (off as usize).min(s.now.len());
        let n = buf.len().min(s.now.len() - off);
        buf[..n].copy_from_slice(&s.now[off..off + n]);
        Ok(n)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.st.lock().unwrap().now.len() as u64)
    }
}

/// An in-memory directory of [`MemFile`]s sharing one crash control.
#[derive(Default, Clone)]
pub struct MemDir {
    files: Arc<Mutex<BTreeMap<String, Arc<MemFile>>>>,
    pub crash: Arc<CrashCtl>,
}

impl MemDir {
    /// A directory that crashes at its `at`-th sync (never if `None`).
    pub fn crashing_at(at: Option<u64>) -> MemDir {
        let d = MemDir::default();
        d.crash.st.lock().unwrap().1 = at;
        d
    }

    /// What a restarted host finds: each file's synced bytes; with `tear`
    /// above 0, each unsynced write is kept in part, as a disk that wrote
    /// some of each before power went: the `i`-th write of a file keeps
    /// the fraction `fract(tear + 0.618 i)` of its length, so some later
    /// writes survive whole while earlier ones are lost (0: none kept).
    pub fn after_crash(&self, tear: f64) -> MemDir {
        let out = MemDir::default();
        for (name, f) in self.files.lock().unwrap().iter() {
            let s = f.st.lock().unwrap().clone();
            let mut bytes = s.durable.clone();
            for (i, &(off, len)) in s.unsynced.iter().enumerate() {
                if tear <= 0.0 {
                    break;
                }
                let frac = (tear + 0.618_034 * i as f64).fract();
                let keep = ((len as f64) * frac) as usize;
                let (off, end) = (off as usize, off as usize + keep);
                if bytes.len() < end {
                    bytes.resize(end, 0);
                }
                bytes[off..end].copy_from_slice(&s.now[off..end]);
            }
            let nf = MemFile {
                st: Mutex::new(MemState {
                    now: bytes.clone(),
                    durable: bytes,
                    unsynced: Vec::new(),
                }),
                crash: Some(out.crash.clone()),
            };
            out.files.lock().unwrap().insert(name.clone(), Arc::new(nf));
        }
        out
    }
}

impl LogDir for MemDir {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.files.lock().unwrap().keys().cloned().collect())
    }
    fn create(&self, name: &str) -> io::Result<Arc<dyn LogFile>> {
        if self.crash.dead() {
            return Err(crashed());
        }
        let f = Arc::new(MemFile {
            st: Default::default(),
            crash: Some(self.crash.clone()),
        });
        self.files
            .lock()
            .unwrap()
            .insert(name.to_string(), f.clone());
        Ok(f)
    }
    fn open(&self, name: &str) -> io::Result<Arc<dyn LogFile>> {
        match self.files.lock().unwrap().get(name) {
            Some(f) => Ok(f.clone()),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        if self.crash.dead() {
            return Err(crashed());
        }
        self.files.lock().unwrap().remove(name);
        Ok(())
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        if self.crash.dead() {
            return Err(crashed());
        }
        let mut files = self.files.lock().unwrap();
        let f = files.remove(from).ok_or(io::ErrorKind::NotFound)?;
        files.insert(to.to_string(), f);
        Ok(())
    }
    fn prepare(&self, name: &str, len: u64) -> io::Result<()> {
        if self.crash.dead() {
            return Err(crashed());
        }
        let zeros = vec![0u8; len as usize];
        let f = Arc::new(MemFile {
            st: Mutex::new(MemState {
                now: zeros.clone(),
                durable: zeros,
                unsynced: Vec::new(),
            }),
            crash: Some(self.crash.clone()),
        });
        self.files.lock().unwrap().insert(name.to_string(), f);
        Ok(())
    }
}
