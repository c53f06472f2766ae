//! Identity for atoll: the subset of OpenStack Keystone v3 that the real
//! clients use, and the TempAuth login Swift's v1 clients use.
//!
//! - [`Identity`] is the service: it authenticates users (password, token
//!   re-scope, TempAuth), issues and validates tokens, and revokes them.
//! - [`configure`] mounts the Keystone HTTP API (version discovery,
//!   `/v3/auth/tokens`, catalog, projects, users, roles, role assignments,
//!   domains); [`openapi::ApiDoc`] describes it.
//! - [`admin`] holds the operator's project/user/role operations used by the
//!   `atoll admin` CLI.
//!
//! Depends on `db` only. Invariants:
//!
//! - Tokens are HS256 JWTs signed with a key stored in the database, so every
//!   host sharing it verifies every token; validation needs no query (see
//!   [`token`] for the claims and [`revoke`] for revocation).
//! - Passwords are stored as Argon2id hashes and hashed off the executor;
//!   tokens and passwords are never logged.
//! - Database queries run on `db`'s blocking pool, never on the executor.
//! - Every error reaching HTTP has Keystone's status and JSON body
//!   ([`error`]).

pub mod admin;
pub mod appcred;
pub mod config;
pub mod context;
pub mod dto;
pub mod error;
pub mod groups;
mod http;
pub mod openapi;
pub mod password;
pub mod revoke;
pub mod store;
pub mod token;

mod authn;

use std::sync::Arc;
use std::time::Duration;

pub use config::{CatalogService, IdentityConfig};
pub use context::AuthContext;
pub use error::{Error, Result};
pub use http::configure;

use config::Catalog;
use revoke::{Revocation, Revocations};
use token::{Claims, Signer};

/// The identity service; cheap to clone (one shared inner state).
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    db: db::Db,
    cfg: IdentityConfig,
    catalog: Catalog,
    signer: Signer,
    revocations: Revocations,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Builds the service, loading the token signing key from the `settings`
    /// table (creating it on a fresh database). Blocking: call it before the
    /// server starts, or from the CLI.
    pub fn new(db: db::Db, cfg: IdentityConfig) -> Result<Identity> {
        cfg.validate()?;
        let key = token::load_or_create_key(&db)?;
        Ok(Identity {
            inner: Arc::new(Inner {
                catalog: Catalog::new(&cfg),
                signer: Signer::new(&key),
                revocations: Revocations::new(Duration::from_secs(cfg.revocation_refresh_secs)),
                db,
                cfg,
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &IdentityConfig {
        &self.inner.cfg
    }

    pub(crate) fn db(&self) -> &db::Db {
        &self.inner.db
    }

    /// Runs read queries on the blocking pool.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut db::Conn) -> Result<T> + Send + 'static,
    {
        // `Db::run` speaks `db::Error`; carry ours through as the value.
        self.inner.db.run(move |c| Ok(f(c))).await?
    }

    /// Runs `f` as one write transaction on the blocking pool.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut db::Conn) -> Result<T> + Send + 'static,
    {
        self.inner.db.transaction(f).await
    }

    /// [`Identity::read`] for callers already off the executor (the CLI).
    pub(crate) fn read_blocking<T>(&self, f: impl FnOnce(&mut db::Conn) -> Result<T>) -> Result<T> {
        self.inner.db.run_blocking(move |c| Ok(f(c)))?
    }

    /// [`Identity::write`] for callers already off the executor (the CLI).
    pub(crate) fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut db::Conn) -> Result<T>,
    ) -> Result<T> {
        self.inner.db.transaction_blocking(f)
    }

    /// Creates, if missing, the default domain, the roles admin, member and
    /// reader, the `admin` project and the `admin` user holding the admin role
    /// on it. With `admin_password`, the admin user's password is set to it
    /// (as `keystone-manage bootstrap` does); without, a new admin user gets a
    /// generated password, which is returned. Idempotent and blocking.
    pub fn bootstrap(&self, admin_password: Option<String>) -> Result<Option<String>> {
        admin::bootstrap(self, admin_password)
    }

    /// Checks a token's signature, expiry and revocation, and returns whom it
    /// stands for. Any failure is [`Error::Unauthorized`].
    pub async fn validate(&self, token: &str) -> Result<AuthContext> {
        Ok(self.validate_claims(token).await?.to_context())
    }

    pub(crate) async fn validate_claims(&self, token: &str) -> Result<Claims> {
        let claims = self.inner.signer.verify(token)?;
        if self
            .inner
            .revocations
            .is_revoked(&self.inner.db, &claims)
            .await?
        {
            return Err(Error::Unauthorized);
        }
        Ok(claims)
    }

    /// Blocking form of [`Identity::validate`], for tools without a runtime.
    pub fn validate_blocking(&self, token: &str) -> Result<AuthContext> {
        let claims = self.inner.signer.verify(token)?;
        if self
            .inner
            .revocations
            .is_revoked_blocking(&self.inner.db, &claims)?
        {
            return Err(Error::Unauthorized);
        }
        Ok(claims.to_context())
    }

    /// Swift TempAuth login: `user_spec` is `project:user` (project and user
    /// by name in the default domain), `key` the user's password. Succeeds if
    /// the password matches and the user holds a role on the project or has it
    /// as default project; the latter gets a token without roles, reaching the
    /// account only through container ACLs (Swift's `test:tester3`).
    pub async fn tempauth_login(
        &self,
        user_spec: &str,
        key: &str,
    ) -> Result<(String, AuthContext)> {
        authn::tempauth_login(self, user_spec, key).await
    }

    /// Revokes the token with this audit id (and tokens re-scoped from it)
    /// until `expires_at_us`, the token's own expiry in microseconds.
    pub(crate) async fn revoke_audit(&self, audit_id: String, expires_at_us: i64) -> Result<()> {
        let r = Revocation::Audit(audit_id);
        let rr = r.clone();
        self.db()
            .transaction(move |c| revoke::persist(c, &rr, expires_at_us))
            .await?;
        self.inner.revocations.remember(r);
        Ok(())
    }

    /// Revocation row expiry for events: no token issued before now outlives
    /// now + TTL (re-scoped tokens keep their parent's expiry).
    pub(crate) fn event_expiry_us(&self) -> i64 {
        db::now_micros() + self.inner.cfg.token_ttl_secs as i64 * 1_000_000
    }

    pub(crate) fn remember_revocation(&self, r: Revocation) {
        self.inner.revocations.remember(r);
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.inner.signer
    }

    pub(crate) fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// A fresh database and identity service with bootstrap done; the admin
    /// password is `adminpw`.
    pub(crate) fn identity() -> (tempfile::TempDir, Identity) {
        let dir = tempfile::tempdir().unwrap();
        let db = db::Db::open_sqlite(&dir.path().join("meta.db"), 4).unwrap();
        let id = Identity::new(db, IdentityConfig::default()).unwrap();
        id.bootstrap(Some("adminpw".into())).unwrap();
        (dir, id)
    }
}
