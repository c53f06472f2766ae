//! Group commit: one writer thread runs the write transactions of many
//! requests inside one SQLite transaction, so they share one WAL fsync.
//!
//! Each request's closure runs inside its own SAVEPOINT: a closure that
//! fails is rolled back alone and its caller gets its error; the others
//! commit. Callers learn their outcome only after COMMIT returned, so an
//! `Ok` is durable (synchronous=FULL).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use diesel::connection::SimpleConnection;

use crate::{Conn, Error};

/// What a job hands back after running: a function that reports its
/// outcome once the batch's fate is known (`Ok` = committed).
pub(crate) type Finish = Box<dyn FnOnce(Result<(), String>) + Send>;
pub(crate) type Job = Box<dyn FnOnce(&mut Conn) -> (bool, Finish) + Send>;

/// Most jobs folded into one transaction: bounds the work a failing COMMIT
/// can take down and the latency of the first job.
const MAX_BATCH: usize = 64;

pub(crate) fn spawn_writer(
    mut conn: crate::PooledConn,
    commits: Arc<AtomicU64>,
) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("db-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => batch.push(j),
                        Err(_) => break,
                    }
                }
                run_batch(&mut conn, batch, &commits);
            }
        })
        .expect("spawn db writer thread");
    tx
}

fn run_batch(conn: &mut Conn, batch: Vec<Job>, commits: &AtomicU64) {
    if let Err(e) = conn.batch_execute("BEGIN IMMEDIATE") {
        // Dropping the jobs drops their reply channels: each caller gets
        // a commit error.
        tracing::error!(error = %e, "cannot begin a write transaction");
        return;
    }
    let mut finishes = Vec::with_capacity(batch.len());
    for job in batch {
        if conn.batch_execute("SAVEPOINT job").is_err() {
            continue;
        }
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)));
        let (ok, finish) = match ran {
            Ok(r) => (r.0, Some(r.1)),
            Err(_) => {
                tracing::error!("a write transaction panicked; rolled back");
                (false, None)
            }
        };
        let end = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = conn.batch_execute(end) {
            tracing::error!(error = %e, "savepoint end failed");
        }
        finishes.extend(finish);
    }
    let outcome = conn.batch_execute("COMMIT").map_err(|e| e.to_string());
    if outcome.is_err() {
        let _ = conn.batch_execute("ROLLBACK");
    }
    // Before any caller hears back: whoever cached what it read before this
    // commit sees the count move (see `Db::generation`).
    commits.fetch_add(1, Ordering::SeqCst);
    for finish in finishes {
        finish(outcome.clone());
    }
}

/// Wraps a typed closure into a job whose result goes to `reply`.
pub(crate) fn job<T, E, F>(f: F, reply: tokio::sync::oneshot::Sender<Result<T, E>>) -> Job
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
    F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
{
    Box::new(move |conn: &mut Conn| {
        let r = f(conn);
        let ok = r.is_ok();
        let finish: Finish = Box::new(move |commit: Result<(), String>| {
            let out = match (commit, r) {
                (Ok(()), r) => r,
                (Err(_), Err(e)) => Err(e),
                (Err(msg), Ok(_)) => Err(E::from(Error::Commit(msg))),
            };
            let _ = reply.send(out);
        });
        (ok, finish)
    })
}
