//! blockd's I/O threads: a fixed pool of worker threads, each owning one
//! io_uring (or, where the kernel refuses io_uring, doing plain
//! pread/pwrite). Work arrives as jobs over a channel and replies go back
//! through tokio oneshot channels, so nothing here ever blocks the async
//! executor. Erasure coding and checksumming run inside the jobs, on these
//! threads, next to the I/O they feed.
//!
//! Shutdown closes the channel; each worker finishes the jobs already queued
//! (and every I/O they started), then exits and is joined.

mod sync;
mod uring;

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::error::BlockdError;

pub use sync::SyncIo;
pub use uring::UringIo;

/// Which I/O method the workers ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// io_uring: one ring per worker thread.
    Uring,
    /// pread/pwrite/fsync syscalls on the same threads.
    Sync,
}

/// One file to make durable under `dir/name` (see [`crate::durable`]): the
/// header then the payload, back to back.
#[derive(Debug)]
pub struct FileWrite {
    pub dir: PathBuf,
    pub name: String,
    pub header: Vec<u8>,
    pub payload: Bytes,
}

/// Byte ranges `(offset, len)` to read from one file.
#[derive(Debug, Clone)]
pub struct ReadReq {
    pub path: PathBuf,
    pub ranges: Vec<(u64, usize)>,
}

/// The buffers read for one [`ReadReq`], one per range; a buffer is short
/// only where the file ends.
pub type ReadResult = io::Result<Vec<Vec<u8>>>;

/// What jobs may do: batches of durable writes and reads, issued
/// concurrently within a batch.
pub trait Io {
    /// The method in use.
    fn kind(&self) -> EngineKind;

    /// Writes every file crash-safely and concurrently; calls `done(i, r)`
    /// for file `i` as soon as it is durable (or failed), in completion
    /// order, so callers can acknowledge after the first `c`.
    fn write_durable(&mut self, files: &[FileWrite], done: &mut dyn FnMut(usize, io::Result<()>));

    /// Reads every range of every request concurrently.
    fn read(&mut self, reqs: &[ReadReq]) -> Vec<ReadResult>;
}

/// A unit of work for a worker thread.
pub type Job = Box<dyn FnOnce(&mut dyn Io) + Send>;

/// The worker pool.
pub struct Engine {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    kind: EngineKind,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking job is caught per job, so poison only means a panic while
    // merely holding the lock; the data (a channel end, handles) is intact.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    /// Starts `threads` workers. `mode` is `"auto"`, `"uring"` or `"sync"`.
    pub fn start(threads: usize, mode: &str, ring_entries: u32) -> Result<Engine, BlockdError> {
        let want_uring = match mode {
            "auto" => None,
            "uring" => Some(true),
            "sync" => Some(false),
            other => return Err(BlockdError::Config(format!("unknown io_engine {other:?}"))),
        };
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<EngineKind, String>>();
        let mut workers = Vec::new();
        for n in 0..threads {
            let rx = rx.clone();
            let ready = ready_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("blockd-io-{n}"))
                .spawn(move || worker(rx, ready, want_uring, ring_entries))
                .map_err(|e| BlockdError::io("spawning", "blockd-io thread", e))?;
            workers.push(spawned);
        }
        drop(ready_tx);
        let mut engine = Engine {
            tx: Mutex::new(Some(tx)),
            workers: Mutex::new(workers),
            kind: EngineKind::Sync,
        };
        let mut kind = None;
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(Ok(k)) => kind = Some(kind.unwrap_or(k)),
                Ok(Err(e)) => return Err(BlockdError::Config(e)),
                Err(_) => return Err(BlockdError::ShutDown),
            }
        }
        engine.kind = kind.unwrap_or(EngineKind::Sync);
        Ok(engine)
    }

    /// The I/O method in use.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// Queues `job`.
    pub fn submit(&self, job: Job) -> Result<(), BlockdError> {
        match &*lock(&self.tx) {
            Some(tx) => tx.send(job).map_err(|_| BlockdError::ShutDown),
            None => Err(BlockdError::ShutDown),
        }
    }

    /// Runs `f` on a worker and waits (asynchronously) for its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, BlockdError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Io) -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.submit(Box::new(move |io| {
            let _ = tx.send(f(io));
        }))?;
        rx.await.map_err(|_| BlockdError::ShutDown)
    }

    /// Stops accepting jobs, lets the workers finish the queued ones, and
    /// joins them. Blocks the calling thread; idempotent.
    pub fn shutdown(&self) {
        lock(&self.tx).take();
        let handles: Vec<_> = lock(&self.workers).drain(..).collect();
        for h in handles {
            if h.thread().id() == std::thread::current().id() {
                continue; // dropped from inside a job: that worker exits on its own
            }
            let _ = h.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn worker(
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    ready: mpsc::Sender<Result<EngineKind, String>>,
    want_uring: Option<bool>,
    ring_entries: u32,
) {
    let mut io: Box<dyn Io> = match want_uring {
        Some(false) => Box::new(SyncIo),
        _ => match UringIo::new(ring_entries) {
            Ok(u) => Box::new(u),
            Err(e) if want_uring.is_none() => {
                tracing::warn!(error = %e, "io_uring unavailable, using pread/pwrite");
                Box::new(SyncIo)
            }
            Err(e) => {
                let _ = ready.send(Err(format!("io_uring unavailable: {e}")));
                return;
            }
        },
    };
    let _ = ready.send(Ok(io.kind()));
    drop(ready);
    loop {
        let job = match lock(&rx).recv() {
            Ok(job) => job,
            Err(_) => break, // channel closed and drained: shutdown
        };
        // A bug in one job must not take the thread (and its queue share)
        // down; the job's reply channel drops and its caller sees ShutDown.
        if catch_unwind(AssertUnwindSafe(|| job(&mut *io))).is_err() {
            tracing::error!("blockd I/O job panicked");
        }
    }
}
