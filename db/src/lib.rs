//! Metadata store for atoll: the diesel schema, embedded migrations and a
//! connection pool whose queries never run on the async executor.
//!
//! Depends on no other atoll crate. Every crate above it (identity,
//! archipelago, the frontends) writes its queries against [`schema`] and runs
//! them through [`Db::run`] or [`Db::transaction`], which hop onto a bounded
//! blocking pool. SQLite (bundled, WAL, `synchronous=FULL`) is the embedded
//! default; a transaction that returned `Ok` is on disk.

pub mod exports;
mod group;
pub mod images;
pub mod owners;
pub mod schema;
pub mod swift;
pub mod volumes;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tokio::sync::Semaphore;

pub use diesel;

/// The connection type every query is written against.
pub type Conn = SqliteConnection;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Errors of the metadata store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed; `NotFound` is reported through this variant too.
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be taken from the pool.
    #[error("database pool: {0}")]
    Pool(String),
    /// Migrations could not be applied on open.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// The write batch this transaction was part of failed to commit.
    #[error("database commit failed: {0}")]
    Commit(String),
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl Error {
    /// True when the query found no row.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Query(diesel::result::Error::NotFound))
    }

    /// True when the query broke a UNIQUE or PRIMARY KEY constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Error::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the writer; synchronous=FULL fsyncs the
        // WAL at every commit so an acknowledged write survives power loss.
        // busy_timeout first: connections open concurrently and the
        // journal-mode switch needs the lock for a moment.
        conn.batch_execute(
            "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -16000;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

pub(crate) type PooledConn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// A handle on the metadata store; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<SqliteConnection>>,
    // Bounds the blocking threads busy with queries so a burst of requests
    // cannot take every blocking thread of the runtime.
    permits: Arc<Semaphore>,
    // SQLite has one writer: write transactions go to one thread that
    // commits them in groups (see `group`).
    writer: std::sync::mpsc::Sender<group::Job>,
    // Write transactions ended (committed or not): see `generation`.
    commits: Arc<AtomicU64>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

impl Db {
    /// Opens (creating if needed) the SQLite database at `path` and applies
    /// pending migrations. Blocking: call before the runtime serves requests.
    pub fn open_sqlite(path: &Path, max_connections: u32) -> Result<Db> {
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(max_connections.max(2))
            .connection_timeout(Duration::from_secs(30))
            .connection_customizer(Box::new(Pragmas))
            .build(manager)
            .map_err(|e| Error::Pool(e.to_string()))?;
        let mut conn = pool.get().map_err(|e| Error::Pool(e.to_string()))?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(|e| Error::Migration(e.to_string()))?;
        let commits = Arc::new(AtomicU64::new(0));
        let writer = group::spawn_writer(conn, commits.clone());
        Ok(Db {
            pool,
            permits: Arc::new(Semaphore::new(max_connections.max(2) as usize)),
            writer,
            commits,
        })
    }

    /// A number that changes whenever a write transaction of this `Db` may
    /// have changed something: it moves after every COMMIT (or failed
    /// one) and before the writer hears back. A cache of what was read
    /// notes it before its queries and trusts the result only while it is
    /// unchanged. Writes go through [`Db::transaction`] or
    /// [`Db::transaction_blocking`] (`run` is for reads), so nothing this
    /// process writes escapes it; another process writing the same
    /// database would (today's SQLite database has one).
    pub fn generation(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    fn conn(&self) -> Result<PooledConn> {
        self.pool.get().map_err(|e| Error::Pool(e.to_string()))
    }

    /// Runs read queries on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Runs `f` in a write transaction: all of its changes commit
    /// together, or none do. Concurrent transactions share one commit
    /// (group commit); `Ok` is returned only once that commit is durable.
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<Error> + Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(group::job(f, tx))
            .map_err(|_| E::from(Error::Commit("writer thread stopped".into())))?;
        rx.await
            .map_err(|_| E::from(Error::Commit("write transaction abandoned".into())))?
    }

    /// The blocking form of [`Db::transaction`], for code already on a
    /// blocking thread (the admin CLI, background workers).
    pub fn transaction_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<Error>,
        F: FnOnce(&mut Conn) -> Result<T, E>,
    {
        let mut conn = self.conn()?;
        let r = conn.immediate_transaction(|c| f(c).map_err(TxError::Inner));
        self.commits.fetch_add(1, Ordering::SeqCst);
        r.map_err(|e| match e {
            TxError::Inner(e) => e,
            TxError::Db(e) => E::from(Error::Query(e)),
        })
    }

    /// The blocking form of [`Db::run`].
    pub fn run_blocking<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        f(&mut conn)
    }
}

enum TxError<E> {
    Inner(E),
    Db(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e)
    }
}

/// Microseconds since the Unix epoch: the unit of every timestamp column.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::prelude::*;

    #[tokio::test]
    async fn generation_moves_with_every_write_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("meta.db"), 4).unwrap();
        let g0 = db.generation();
        db.run(|c| Ok(schema::settings::table.count().get_result::<i64>(c)?))
            .await
            .unwrap();
        assert_eq!(db.generation(), g0, "reads leave it");
        db.transaction(|c| {
            diesel::insert_into(schema::settings::table)
                .values((
                    schema::settings::key.eq("g"),
                    schema::settings::value.eq("1"),
                ))
                .execute(c)
                .map_err(Error::from)
        })
        .await
        .unwrap();
        let g1 = db.generation();
        assert!(g1 > g0, "moved before the writer heard back");
        let db2 = db.clone();
        tokio::task::spawn_blocking(move || {
            db2.transaction_blocking(|c| {
                diesel::delete(schema::settings::table)
                    .execute(c)
                    .map_err(Error::from)
            })
        })
        .await
        .unwrap()
        .unwrap();
        assert!(db.generation() > g1);
    }

    #[tokio::test]
    async fn transaction_commits_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("meta.db"), 4).unwrap();
        let r: Result<(), Error> = db
            .transaction(|c| {
                diesel::insert_into(schema::settings::table)
                    .values((
                        schema::settings::key.eq("a"),
                        schema::settings::value.eq("1"),
                    ))
                    .execute(c)?;
                Err(Error::Task("abort".into()))
            })
            .await;
        assert!(r.is_err());
        let n: i64 = db
            .run(|c| Ok(schema::settings::table.count().get_result(c)?))
            .await
            .unwrap();
        assert_eq!(n, 0, "a failed transaction must leave nothing behind");
        db.transaction(|c| {
            diesel::insert_into(schema::settings::table)
                .values((
                    schema::settings::key.eq("a"),
                    schema::settings::value.eq("1"),
                ))
                .execute(c)
                .map_err(Error::from)
        })
        .await
        .unwrap();
        let v: String = db
            .run(|c| {
                Ok(schema::settings::table
                    .select(schema::settings::value)
                    .first(c)?)
            })
            .await
            .unwrap();
        assert_eq!(v, "1");
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;
    use diesel::prelude::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_transaction_in_a_group_does_not_undo_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("meta.db"), 4).unwrap();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.transaction(move |c| {
                    diesel::insert_into(schema::settings::table)
                        .values((
                            schema::settings::key.eq(format!("k{i}")),
                            schema::settings::value.eq("v"),
                        ))
                        .execute(c)?;
                    if i % 5 == 0 {
                        return Err(Error::Task("refused".into()));
                    }
                    Ok(i)
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 40);
        let keys: Vec<String> = db
            .run(|c| {
                Ok(schema::settings::table
                    .select(schema::settings::key)
                    .load(c)?)
            })
            .await
            .unwrap();
        assert_eq!(
            keys.len(),
            40,
            "exactly the successful transactions are stored"
        );
        assert!(keys.iter().all(|k| k[1..].parse::<i32>().unwrap() % 5 != 0));
    }
}
