//! The log proper: segment files, the group-commit threads, replay at
//! open, trimming, and the space budget.
//!
//! One thread owns appends. Callers queue records on a channel and wait on
//! a oneshot; the thread takes everything queued (up to a byte bound),
//! places it in the active segment and encodes it into one page-aligned
//! buffer. A writer thread writes the groups in order, and a sync thread
//! syncs (one fdatasync for every group written meanwhile), enters the
//! records into the index, and only then answers: every acknowledged write
//! is durable and visible to reads, and encoding, writing and syncing of
//! successive groups overlap. (With `durable_acks` off, a write without FUA
//! is indexed with its bytes in memory and answered once encoded, as NBD
//! allows for cached writes, and only FUA writes and FLUSH cause syncs.) A
//! failed write or sync poisons the log: an fsync error may have dropped
//! dirty pages, so nothing after it can be trusted.
//!
//! Segments are named by their first record's sequence number and hold a
//! gap-free run of sequence numbers; replay follows them in order and stops
//! at the first record that is torn, corrupt or out of sequence. Only a
//! prefix of segments is ever deleted (each removal made durable before the
//! next), so a `Forget` record always outlives the records it voids.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{oneshot, Notify, Semaphore};

use super::format::{self, Header, Kind, ALIGN, GROUP_ALIGN, HEADER_LEN, RID_LEN};
use super::index::{Src, VolIndex};
use super::io::{LogDir, LogFile};
use super::WlogConfig;

pub(crate) const SUFFIX: &str = ".wlog";
/// A prepared (zero-filled or recycled) file waiting to become a segment.
pub(crate) const SPARE_SUFFIX: &str = ".wlog-spare";
/// A spare being prepared; removed at open (never renamed, so never used).
const TMP_SUFFIX: &str = ".wlog-tmp";
/// Spares kept at most; a trimmed segment beyond them is deleted.
const MAX_SPARES: usize = 2;

pub(crate) fn seg_name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

/// One segment file.
pub(crate) struct Seg {
    pub name: String,
    pub first_seq: u64,
    pub file: Arc<dyn LogFile>,
    /// Bytes appended (the next write's offset).
    pub size: u64,
    /// Space units taken from the budget for it, returned on removal.
    pub units: u64,
}

/// A volume's pending ranges and when it was last written.
#[derive(Default)]
pub(crate) struct Vol {
    pub index: VolIndex,
    pub last: Option<Instant>,
}

/// A record waiting for the log thread.
pub(crate) struct Rec {
    pub rid: String,
    pub kind: Kind,
    pub offset: u64,
    pub len: u32,
    pub data: Bytes,
    pub fua: bool,
    pub units: u64,
    pub reply: oneshot::Sender<io::Result<u64>>,
}

pub(crate) enum Msg {
    Rec(Rec),
    Flush(oneshot::Sender<io::Result<()>>),
}

/// State shared by the log thread, the destager and callers.
pub(crate) struct Shared {
    pub dir: Arc<dyn LogDir>,
    pub cfg: WlogConfig,
    pub vols: Mutex<HashMap<String, Vol>>,
    pub segs: Mutex<VecDeque<Seg>>,
    /// Free log space in [`ALIGN`]-byte units: appenders wait here.
    pub space: Semaphore,
    pub tx: Mutex<Option<mpsc::Sender<Msg>>>,
    pub failed: AtomicBool,
    /// The newest sequence number entered into the index.
    pub indexed: AtomicU64,
    /// The newest sequence number acknowledged before its sync (cached
    /// acks), and the newest made durable: a FLUSH with nothing cached
    /// outstanding needs no trip to the log thread.
    pub acked_cached: AtomicU64,
    pub synced: AtomicU64,
    /// Wakes the destager when records arrive or a settle asks for it.
    pub dirty: Notify,
    pub vol_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Bytes written to log files (records and padding).
    pub log_bytes: AtomicU64,
    /// Bytes of new blocks written by the destager.
    pub destaged_bytes: AtomicU64,
    /// Names of spare files, ready to become segments.
    pub spares: Mutex<Vec<String>>,
    /// Next number for a spare's name.
    pub spare_next: AtomicU64,
    /// The thread preparing a spare, if one runs.
    pub prep: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// (newest sequence number, when it was indexed), one mark per
    /// [`MARK_EVERY`] at most: how old a record is, for the destager.
    pub marks: Mutex<VecDeque<(u64, Instant)>>,
    /// Moving average of group sizes (bytes; written by the log thread).
    pub(crate) group_avg: AtomicU64,
    /// Group buffers for reuse.
    pub(crate) bufs: Mutex<Vec<Aligned>>,
}

/// Spacing of the age marks.
pub(crate) const MARK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn max_units(&self) -> u64 {
        (self.cfg.max_bytes / ALIGN as u64).max(1)
    }

    /// Notes that records up to `seq` are indexed now.
    fn mark(&self, seq: u64) {
        let now = Instant::now();
        let mut m = lock(&self.marks);
        if m.back()
            .is_none_or(|&(_, t)| now.duration_since(t) >= MARK_EVERY)
        {
            m.push_back((seq, now));
        }
        // Keep one mark at least `destage_max_age` old, drop older ones.
        while m.len() > 1 && m[1].1.elapsed() >= self.cfg.destage_max_age {
            m.pop_front();
        }
    }

    /// The newest sequence number indexed at least `age` ago (0: none).
    pub fn seq_older_than(&self, age: std::time::Duration) -> u64 {
        lock(&self.marks)
            .iter()
            .take_while(|(_, t)| t.elapsed() >= age)
            .last()
            .map_or(0, |&(s, _)| s)
    }

    /// Records up to `last` are in the index now: readers, the age marks
    /// and the destager learn of them.
    fn indexed_upto(&self, last: u64) {
        self.indexed.store(last, Ordering::Release);
        self.mark(last);
        self.dirty.notify_one();
    }

    /// Enters a replayed or freshly written record into the index.
    fn apply(&self, h: &Header, rid: &str, src: Option<Src>) {
        let mut vols = lock(&self.vols);
        match h.kind {
            Kind::Forget => {
                vols.remove(rid);
            }
            Kind::Data | Kind::Zero => {
                let v = vols.entry(rid.to_string()).or_default();
                let src = src.unwrap_or(Src::Zero);
                v.index
                    .insert(h.offset, h.offset + h.len as u64, h.seq, src);
                v.last = Some(Instant::now());
            }
            Kind::Pad => {}
        }
    }

    /// The oldest sequence number some volume still needs.
    pub fn min_needed(&self) -> u64 {
        lock(&self.vols)
            .values()
            .filter_map(|v| v.index.min_seq())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Deletes the segments no pending range needs (a prefix, never the
    /// active one) and returns their space. Blocking: file removal.
    pub fn trim(&self) -> io::Result<usize> {
        let mut removed = 0;
        loop {
            // Records written but not indexed yet (waiting for their sync)
            // are needed too.
            let indexed = self.indexed.load(Ordering::Acquire);
            let need = self.min_needed().min(indexed.saturating_add(1));
            let victim = {
                let segs = lock(&self.segs);
                match (segs.front(), segs.get(1)) {
                    (Some(s), Some(next)) if next.first_seq <= need => Some(s.name.clone()),
                    _ => None,
                }
            };
            let Some(name) = victim else {
                return Ok(removed);
            };
            // Recycled only when nothing else holds the file: a reader that
            // looked up a pending range before it was destaged may still
            // read it, and must see the old bytes (an unlinked file keeps
            // them; a recycled one would not).
            let recycle = {
                let segs = lock(&self.segs);
                let f = &segs.front().expect("victim").file;
                Arc::strong_count(f) == 1
                    && lock(&self.spares).len() < MAX_SPARES
                    && f.len().unwrap_or(0) >= self.cfg.segment_bytes / 2
            };
            if recycle {
                let spare = self.spare_name();
                self.dir.rename(&name, &spare)?;
                lock(&self.spares).push(spare);
            } else {
                self.dir.remove(&name)?;
            }
            let seg = lock(&self.segs).pop_front().expect("front checked");
            self.space.add_permits(seg.units as usize);
            removed += 1;
        }
    }

    fn spare_name(&self) -> String {
        let n = self.spare_next.fetch_add(1, Ordering::Relaxed);
        format!("spare-{n:020}{SPARE_SUFFIX}")
    }

    /// A file for the segment `name`: a spare renamed (already written
    /// through, so syncs need no metadata), else a new empty file.
    fn new_segment(self: &Arc<Self>, name: &str) -> io::Result<Arc<dyn LogFile>> {
        let spare = lock(&self.spares).pop();
        let file = match spare {
            Some(sp) => {
                self.dir.rename(&sp, name)?;
                self.dir.open(name)?
            }
            None => self.dir.create(name)?,
        };
        Ok(file)
    }

    /// Prepares a spare on a thread of its own (zero-filling a segment
    /// takes a while; the log thread must not wait for it) unless one is
    /// ready or being made.
    pub fn want_spare(self: &Arc<Self>) {
        if !lock(&self.spares).is_empty() {
            return;
        }
        let mut prep = lock(&self.prep);
        if prep.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("wlog-prep".into())
            .spawn(move || {
                let spare = me.spare_name();
                let tmp = spare.replace(SPARE_SUFFIX, TMP_SUFFIX);
                let made = me
                    .dir
                    .prepare(&tmp, me.cfg.segment_bytes)
                    .and_then(|()| me.dir.rename(&tmp, &spare));
                match made {
                    Ok(()) => lock(&me.spares).push(spare),
                    Err(e) => {
                        tracing::warn!(error = %e, "write log: preparing a spare segment failed");
                        let _ = me.dir.remove(&tmp);
                    }
                }
            });
        match spawned {
            Ok(t) => *prep = Some(t),
            Err(e) => tracing::warn!(error = %e, "write log: no thread to prepare a spare"),
        }
    }
}

/// Replays every segment in `dir` into `shared`'s index: returns the next
/// sequence number. Segments past a break in the sequence are deleted:
/// they can only hold writes never acknowledged, or stale bytes.
pub(crate) fn replay(shared: &Arc<Shared>) -> io::Result<u64> {
    let listed = shared.dir.list()?;
    let mut spare_next = 0u64;
    for n in &listed {
        if n.ends_with(TMP_SUFFIX) {
            shared.dir.remove(n)?;
        } else if let Some(k) = n.strip_suffix(SPARE_SUFFIX) {
            let k = k.strip_prefix("spare-").and_then(|k| k.parse::<u64>().ok());
            spare_next = spare_next.max(k.map_or(0, |k| k + 1));
            let mut spares = lock(&shared.spares);
            if spares.len() < MAX_SPARES {
                spares.push(n.clone());
            } else {
                shared.dir.remove(n)?;
            }
        }
    }
    shared.spare_next.store(spare_next, Ordering::Relaxed);
    let mut names: Vec<(u64, String)> = listed
        .into_iter()
        .filter_map(|n| {
            let seq = n.strip_suffix(SUFFIX)?.parse().ok()?;
            Some((seq, n))
        })
        .collect();
    names.sort();
    let mut next: Option<u64> = None;
    let mut broken = false;
    let mut records = 0u64;
    for (first, name) in names {
        if broken || next.is_some_and(|n| n != first) {
            tracing::warn!(segment = %name, "write log segment after a break in sequence; deleting");
            shared.dir.remove(&name)?;
            broken = true;
            continue;
        }
        let file = shared.dir.open(&name)?;
        let len = file.len()? as usize;
        let mut buf = vec![0u8; len];
        let got = file.read_at(&mut buf, 0)?;
        buf.truncate(got);
        let mut pos = 0usize;
        let mut expect = first;
        while let Some((h, payload)) = format::decode(&buf[pos..]) {
            if h.seq != expect {
                break;
            }
            let rid = String::from_utf8_lossy(&h.rid).into_owned();
            let src = (h.kind == Kind::Data).then(|| Src::Data {
                file: file.clone(),
                at: (pos + payload.start) as u64,
            });
            shared.apply(&h, &rid, src);
            records += 1;
            pos += h.record_len();
            expect += 1;
        }
        if pos < buf.len() && buf[pos..].iter().any(|&b| b != 0) {
            // Past the last valid record: the unused end of a recycled or
            // zero-filled segment (old records, lower sequence numbers), or
            // a torn group, never acknowledged (acks follow the sync of the
            // whole group). Either way it is not replayed; the segment stays
            // read-only. A later segment continues the log only if it starts
            // at the next expected sequence number (checked above): every
            // group is synced before the next one is written, so a segment
            // is complete before its successor exists.
            tracing::info!(segment = %name, at = pos, len = buf.len(), "write log segment ends before its file");
        }
        let units = (pos as u64).div_ceil(ALIGN as u64);
        let charged = units.min(shared.space.available_permits() as u64);
        if let Ok(p) = shared.space.try_acquire_many(charged as u32) {
            p.forget();
        }
        lock(&shared.segs).push_back(Seg {
            name,
            first_seq: first,
            file,
            size: pos as u64,
            units: charged,
        });
        next = Some(expect);
    }
    let next = next.unwrap_or(1);
    shared.indexed.store(next - 1, Ordering::Release);
    // Appends always go to a segment of this run, named by its first
    // record. A segment from the last run whose first record never became
    // valid holds nothing: it gives way to the new one of the same name.
    let empty = lock(&shared.segs)
        .back()
        .is_some_and(|s| s.first_seq == next);
    if empty {
        let s = lock(&shared.segs).pop_back().expect("checked");
        shared.dir.remove(&s.name)?;
        shared.space.add_permits(s.units as usize);
    }
    let name = seg_name(next);
    let file = shared.new_segment(&name)?;
    lock(&shared.segs).push_back(Seg {
        name,
        first_seq: next,
        file,
        size: 0,
        units: 0,
    });
    if records > 0 {
        tracing::info!(records, next, "write log replayed");
    }
    Ok(next)
}

/// A buffer whose usable part starts on a page boundary (O_DIRECT needs
/// aligned memory), without unsafe code: over-allocate and offset. Reused
/// from group to group (zeroing 8 MiB per group showed in profiles), so
/// its bytes are whatever the last group left; `encode` writes every byte
/// of a record, padding included.
pub(crate) struct Aligned {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    /// A buffer of `len` bytes: a pooled one if one is large enough.
    fn take(shared: &Shared, len: usize) -> Aligned {
        let pooled = {
            let mut pool = lock(&shared.bufs);
            let i = pool.iter().position(|b| b.capacity() >= len);
            i.map(|i| pool.swap_remove(i))
        };
        match pooled {
            Some(mut b) => {
                b.len = len;
                b
            }
            None => {
                let raw = vec![0u8; len + GROUP_ALIGN];
                let start = raw.as_ptr().align_offset(GROUP_ALIGN);
                Aligned { raw, start, len }
            }
        }
    }
    fn capacity(&self) -> usize {
        self.raw.len() - self.start
    }
    /// Back to the pool, which keeps a few of at most a batch's size.
    fn give_back(self, shared: &Shared) {
        // A batch stops growing past max_batch_bytes, so one record
        // (an NBD request, at most 32 MiB) may overshoot it: keep buffers
        // up to twice the bound, drop rare larger ones.
        let limit = 2 * shared.cfg.max_batch_bytes + GROUP_ALIGN;
        let mut pool = lock(&shared.bufs);
        if pool.len() < POOLED_BUFS && self.capacity() <= limit {
            pool.push(self);
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// Average group size below which spares are prepared.
const SMALL_GROUPS: u64 = 1 << 20;

/// Group buffers kept for reuse: one being encoded, one queued, one being
/// written.
const POOLED_BUFS: usize = 3;

/// An encoded group on its way to the writer thread.
struct Encoded {
    /// The bytes and where they go (None: a FLUSH alone).
    write: Option<(Aligned, Arc<dyn LogFile>, u64)>,
    /// Cached records indexed with their bytes in memory: (volume, offset,
    /// len, seq, file offset of the payload), repointed once written.
    in_mem: Vec<(String, u64, u32, u64, u64)>,
    /// What the sync thread does once the group is written.
    then: Written,
}

/// A written group on its way to the sync thread.
struct Written {
    /// The segment written (None: a FLUSH alone).
    file: Option<Arc<dyn LogFile>>,
    /// The group's last sequence number (its pad included).
    last: u64,
    /// Records to enter into the index once synced (durable acks).
    entries: Vec<(Header, Option<Src>, String)>,
    /// Replies that wait for the sync.
    waiting: Vec<oneshot::Sender<io::Result<u64>>>,
    flushes: Vec<oneshot::Sender<io::Result<()>>>,
    /// Some reply waits: sync before answering.
    sync: bool,
    /// The group's place in the pipeline, freed when it is done.
    slot: Option<Slot>,
}

/// Groups in flight (encoded and not yet written, or waiting for their
/// sync) at most when replies wait for the disk. Two: one group fills
/// while the other is written and synced, so under load groups grow
/// instead of many tiny ones each paying a disk write. Cached writes,
/// answered once encoded, may run further ahead: up to
/// `writeback_bytes` of groups (see [`slots`]).
const IN_FLIGHT: usize = 2;

/// Places in the pipeline: [`IN_FLIGHT`], or with cached acks one per
/// `max_batch_bytes` of `writeback_bytes` (a page cache's dirty limit: a
/// burst is taken at memory speed and written behind), a group taking
/// one place per `max_batch_bytes` it holds.
fn slots(cfg: &super::WlogConfig) -> usize {
    if cfg.durable_acks {
        IN_FLIGHT
    } else {
        IN_FLIGHT.max(cfg.writeback_bytes / cfg.max_batch_bytes.max(1))
    }
}

/// Places in the pipeline held by one group; returned to the encoder
/// when dropped.
struct Slot {
    tx: mpsc::SyncSender<()>,
    held: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        for _ in 0..self.held {
            let _ = self.tx.try_send(());
        }
    }
}

/// The group-commit loop; runs on the log's own thread until every sender
/// is gone, finishing what was queued. It batches and encodes groups (and
/// answers cached writes); a writer thread writes them in order, and a
/// sync thread syncs, so encoding, writing and syncing of successive
/// groups overlap.
pub(crate) fn run(shared: Arc<Shared>, rx: mpsc::Receiver<Msg>, mut next: u64) {
    let max_batch = shared.cfg.max_batch_bytes.max(1);
    let (stx, srx) = mpsc::channel();
    // Unbounded: the pipeline slots below bound the groups in flight (and
    // so memory; cached writes wait unanswered while the disk is behind).
    let (wtx, wrx) = mpsc::channel::<Encoded>();
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new().name(name.into()).spawn(f)
    };
    let s2 = shared.clone();
    let syncer = spawn("wlog-sync", Box::new(move || sync_loop(s2, srx)));
    let s3 = shared.clone();
    let writer = spawn("wlog-write", Box::new(move || write_loop(s3, wrx, stx)));
    let (syncer, writer) = match (syncer, writer) {
        (Ok(s), Ok(w)) => (s, w),
        (s, w) => {
            let e = io::Error::other("write log: no thread to write or sync");
            tracing::error!("write log: no thread to write or sync; refusing writes");
            shared.failed.store(true, Ordering::Release);
            drop(wtx);
            for t in [s, w].into_iter().flatten() {
                let _ = t.join();
            }
            for m in rx {
                fail_msg(m, &e);
            }
            return;
        }
    };
    let n = slots(&shared.cfg);
    let (slot_tx, slots) = mpsc::sync_channel::<()>(n);
    for _ in 0..n {
        let _ = slot_tx.try_send(());
    }
    while let Ok(first) = rx.recv() {
        // Wait for a place in the pipeline before taking the rest of the
        // batch: what arrives meanwhile joins this group.
        if slots.recv().is_err() {
            break;
        }
        let mut slot = Slot {
            tx: slot_tx.clone(),
            held: 1,
        };
        let first_bytes = match &first {
            Msg::Rec(r) => r.data.len() + HEADER_LEN,
            Msg::Flush(_) => 0,
        };
        let mut batch = vec![first];
        let mut bytes = 0usize;
        while bytes < max_batch {
            match rx.try_recv() {
                Ok(m) => {
                    if let Msg::Rec(r) = &m {
                        bytes += r.data.len() + HEADER_LEN;
                    }
                    batch.push(m);
                }
                Err(_) => break,
            }
        }
        if !shared.cfg.durable_acks {
            // Cached groups are answered before they are written: their
            // bytes, not their number, are what writeback_bytes bounds.
            let weight = (first_bytes + bytes).div_ceil(max_batch).clamp(1, n);
            while slot.held < weight && slots.recv().is_ok() {
                slot.held += 1;
            }
        }
        match group(&shared, &mut next, batch) {
            Ok(Some(mut g)) => {
                g.then.slot = Some(slot);
                if let Err(mpsc::SendError(g)) = wtx.send(g) {
                    let e = io::Error::other("write log writer thread gone");
                    shared.failed.store(true, Ordering::Release);
                    fail_written(g.then, &e);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "write log failed; refusing writes from now on");
                shared.failed.store(true, Ordering::Release);
            }
        }
    }
    drop(wtx);
    let _ = writer.join();
    let _ = syncer.join();
}

/// The writer thread: writes each encoded group where it was placed, then
/// repoints cached records from memory to the file and hands the group to
/// the sync thread (in the order written).
fn write_loop(shared: Arc<Shared>, rx: mpsc::Receiver<Encoded>, stx: mpsc::Sender<Written>) {
    for g in rx {
        let Encoded {
            write,
            in_mem,
            then,
        } = g;
        if let Some((buf, file, at)) = write {
            let res = if shared.failed.load(Ordering::Acquire) {
                Err(io::Error::other("write log failed earlier"))
            } else {
                file.write_at(buf.bytes(), at)
            };
            buf.give_back(&shared);
            if let Err(e) = res {
                tracing::error!(error = %e, "write log write failed; refusing writes from now on");
                shared.failed.store(true, Ordering::Release);
                fail_written(then, &e);
                continue;
            }
            if !in_mem.is_empty() {
                let mut vols = lock(&shared.vols);
                for (rid, offset, len, seq, pat) in &in_mem {
                    if let Some(v) = vols.get_mut(rid) {
                        v.index
                            .written(*offset, offset + *len as u64, *seq, &file, *pat);
                    }
                }
            }
        }
        let mut then = then;
        if !then.sync {
            // Done once written (cached writes): the next group may go.
            then.slot = None;
        }
        if let Err(mpsc::SendError(w)) = stx.send(then) {
            let e = io::Error::other("write log sync thread gone");
            shared.failed.store(true, Ordering::Release);
            fail_written(w, &e);
        }
    }
}

fn copy_err(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

fn fail_msg(m: Msg, e: &io::Error) {
    match m {
        Msg::Rec(r) => {
            let _ = r.reply.send(Err(copy_err(e)));
        }
        Msg::Flush(f) => {
            let _ = f.send(Err(copy_err(e)));
        }
    }
}

fn fail_written(w: Written, e: &io::Error) {
    for r in w.waiting {
        let _ = r.send(Err(copy_err(e)));
    }
    for f in w.flushes {
        let _ = f.send(Err(copy_err(e)));
    }
}

/// The sync thread: takes every written group queued, syncs each segment
/// written since its last sync (in order; several after a roll) once one
/// of them has a reply waiting, then indexes and answers them in order.
/// A reply therefore follows a sync that began after its own group and
/// every earlier group were written: everything up to it is durable, and
/// replay (which stops at the first bad record) never drops it.
fn sync_loop(shared: Arc<Shared>, rx: mpsc::Receiver<Written>) {
    let mut dirty: Vec<Arc<dyn LogFile>> = Vec::new();
    let mut written = 0u64;
    let sync = |dirty: &mut Vec<Arc<dyn LogFile>>, written: u64| -> io::Result<()> {
        if shared.failed.load(Ordering::Acquire) {
            return Err(io::Error::other("write log failed earlier"));
        }
        for f in dirty.iter() {
            f.sync()?;
        }
        dirty.clear();
        shared.synced.fetch_max(written, Ordering::AcqRel);
        Ok(())
    };
    while let Ok(first) = rx.recv() {
        let mut items = vec![first];
        while let Ok(w) = rx.try_recv() {
            items.push(w);
        }
        for w in &items {
            if let Some(f) = &w.file {
                if !dirty.iter().any(|d| Arc::ptr_eq(d, f)) {
                    dirty.push(f.clone());
                }
                written = written.max(w.last);
            }
        }
        if !items.iter().any(|w| w.sync) {
            continue;
        }
        if let Err(e) = sync(&mut dirty, written) {
            tracing::error!(error = %e, "write log sync failed; refusing writes from now on");
            shared.failed.store(true, Ordering::Release);
            for w in items {
                fail_written(w, &e);
            }
            continue;
        }
        for w in items {
            if !w.entries.is_empty() {
                for (h, src, rid) in &w.entries {
                    shared.apply(h, rid, src.clone());
                }
                shared.indexed_upto(w.last);
            }
            for r in w.waiting {
                let _ = r.send(Ok(w.last));
            }
            for f in w.flushes {
                let _ = f.send(Ok(()));
            }
        }
    }
    // A clean stop leaves cached writes durable too.
    if !dirty.is_empty() {
        if let Err(e) = sync(&mut dirty, written) {
            tracing::error!(error = %e, "write log: final sync failed");
        }
    }
}

/// Makes the active segment ready for a write of `len` bytes: a new one
/// when the write would not fit in the current (or none exists yet).
fn active(shared: &Arc<Shared>, next: u64, len: u64) -> io::Result<(Arc<dyn LogFile>, u64)> {
    let full = match lock(&shared.segs).back() {
        Some(s) => s.size > 0 && s.size + len > shared.cfg.segment_bytes,
        None => true,
    };
    if full {
        let name = seg_name(next);
        let file = shared.new_segment(&name)?;
        let mut segs = lock(&shared.segs);
        segs.push_back(Seg {
            name,
            first_seq: next,
            file,
            size: 0,
            units: 0,
        });
    }
    let segs = lock(&shared.segs);
    let s = segs.back().expect("just ensured");
    Ok((s.file.clone(), s.size))
}

/// Encodes one group and places it in the active segment; cached acks go
/// out at once (their bytes indexed in memory), the rest travel with the
/// group to the writer and sync threads (`None`: nothing for them).
fn group(shared: &Arc<Shared>, next: &mut u64, batch: Vec<Msg>) -> io::Result<Option<Encoded>> {
    let mut recs = Vec::new();
    let mut flushes = Vec::new();
    for m in batch {
        match m {
            Msg::Rec(r) => recs.push(r),
            Msg::Flush(f) => flushes.push(f),
        }
    }
    let fail = |recs: Vec<Rec>, flushes: Vec<oneshot::Sender<io::Result<()>>>, e: &io::Error| {
        for r in recs {
            let _ = r.reply.send(Err(copy_err(e)));
        }
        for f in flushes {
            let _ = f.send(Err(copy_err(e)));
        }
    };
    if shared.failed.load(Ordering::Acquire) {
        let e = io::Error::other("write log failed earlier");
        fail(recs, flushes, &e);
        return Ok(None);
    }
    if recs.is_empty() {
        // A FLUSH alone: the sync thread syncs whatever was written
        // before it (every earlier group reached it first).
        return Ok(Some(Encoded {
            write: None,
            in_mem: Vec::new(),
            then: Written {
                file: None,
                last: 0,
                entries: Vec::new(),
                waiting: Vec::new(),
                flushes,
                sync: true,
                slot: None,
            },
        }));
    }
    let total: usize = recs
        .iter()
        .map(|r| {
            format::record_len(if r.kind == Kind::Data {
                r.data.len()
            } else {
                0
            })
        })
        .sum();
    let padded = total.div_ceil(GROUP_ALIGN) * GROUP_ALIGN;
    let (file, at) = match active(shared, *next, padded as u64) {
        Ok(x) => x,
        Err(e) => {
            fail(recs, flushes, &e);
            return Err(e);
        }
    };
    let mut buf = Aligned::take(shared, padded);
    let mut pos = 0usize;
    let mut entries = Vec::with_capacity(recs.len());
    for r in &recs {
        let h = Header {
            kind: r.kind,
            seq: *next,
            rid: format::rid_bytes(&r.rid).unwrap_or([0; RID_LEN]),
            offset: r.offset,
            len: r.len,
        };
        *next += 1;
        let n = h.record_len();
        format::encode(&h, &r.data, &mut buf.bytes_mut()[pos..pos + n]);
        let src = (r.kind == Kind::Data).then(|| Src::Data {
            file: file.clone(),
            at: at + (pos + HEADER_LEN) as u64,
        });
        entries.push((h, src));
        pos += n;
    }
    let mut pad_units = 0;
    if padded > total {
        let h = Header {
            kind: Kind::Pad,
            seq: *next,
            rid: [0; RID_LEN],
            offset: 0,
            len: (padded - total) as u32,
        };
        *next += 1;
        format::encode(&h, &[], &mut buf.bytes_mut()[pos..padded]);
        pad_units = ((padded - total) / ALIGN) as u64;
    }
    let last = *next - 1;
    // The segment is charged for every record's space (returned when it
    // is trimmed).
    let charged = {
        let p = shared.space.try_acquire_many(pad_units as u32).ok();
        let got = p.map(|p| {
            p.forget();
            pad_units
        });
        recs.iter().map(|r| r.units).sum::<u64>() + got.unwrap_or(0)
    };
    let size = {
        let mut segs = lock(&shared.segs);
        let s = segs.back_mut().expect("active segment");
        s.size = at + padded as u64;
        s.units += charged;
        s.size
    };
    // A log taking small groups gets a spare ready before it needs one:
    // writes into allocated, written blocks make each fdatasync a cache
    // flush (no allocation, no journal commit), which is most of a small
    // group's cost. Streams of large groups amortise allocation, and
    // zero-filling a segment beside them would halve their bandwidth. An
    // idle server never writes one.
    let avg = shared.group_avg.load(Ordering::Relaxed);
    let avg = (avg * 7 + padded as u64) / 8;
    shared.group_avg.store(avg, Ordering::Relaxed);
    if size >= shared.cfg.segment_bytes / 4 && avg < SMALL_GROUPS {
        shared.want_spare();
    }
    shared.log_bytes.fetch_add(padded as u64, Ordering::Relaxed);
    let mut then = Written {
        file: Some(file.clone()),
        last,
        entries: Vec::new(),
        waiting: Vec::new(),
        sync: !flushes.is_empty(),
        flushes,
        slot: None,
    };
    let mut in_mem = Vec::new();
    if shared.cfg.durable_acks {
        then.entries = entries
            .into_iter()
            .zip(&recs)
            .map(|((h, src), r)| (h, src, r.rid.clone()))
            .collect();
        then.waiting = recs.into_iter().map(|r| r.reply).collect();
        then.sync = true;
    } else {
        // A cached write is answered before its group is written, as a
        // page cache would: reads find its bytes in memory until the
        // writer thread has written them, and the client sends the next
        // writes meanwhile.
        for ((h, src), r) in entries.iter().zip(&recs) {
            let mem = src.as_ref().map(|_| Src::Mem(r.data.clone()));
            shared.apply(h, &r.rid, mem);
            if let Some(Src::Data { at, .. }) = src {
                in_mem.push((r.rid.clone(), h.offset, h.len, h.seq, *at));
            }
        }
        shared.indexed_upto(last);
        // Before any cached ack goes out: a FLUSH that follows one must
        // see it outstanding.
        shared.acked_cached.store(last, Ordering::Release);
        for (r, (h, _)) in recs.into_iter().zip(&entries) {
            if r.fua {
                then.waiting.push(r.reply);
                then.sync = true;
            } else {
                let _ = r.reply.send(Ok(h.seq));
            }
        }
    }
    Ok(Some(Encoded {
        write: Some((buf, file, at)),
        in_mem,
        then,
    }))
}
