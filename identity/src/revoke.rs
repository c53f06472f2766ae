//! Token revocation: persisted in `token_revocations`, checked in memory.
//!
//! Each row's `audit_id` column holds one of these keys (ids are hex, audit
//! ids URL-safe base64, so none contains `:`):
//!
//! | key | revokes |
//! |---|---|
//! | `<audit id>` | the token with that audit id and tokens re-scoped from it |
//! | `<application credential id>` | every token issued for that application credential |
//! | `user:<user id>:<T>` | every token of the user with `iat_us <= T` |
//! | `project:<project id>:<T>` | every token scoped to the project with `iat_us <= T` |
//! | `grant:<user id>:<project id>:<T>` | the user's tokens on that project with `iat_us <= T` |
//! | `grant:<user id>:system:<T>` | the user's system-scoped tokens with `iat_us <= T` |
//!
//! `T` is microseconds since the epoch. `expires_at` (microseconds) is when no
//! token the row matches can still be alive; rows past it are deleted whenever
//! a new revocation is written, and ignored when loading.
//!
//! Every host keeps all live rows in memory and re-reads them every
//! `revocation_refresh_secs`, so validation stays a lookup; a revocation made
//! on this host enters its memory before the revoking call returns.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use diesel::prelude::*;

use crate::error::{Error, Result};
use crate::token::Claims;
use db::schema::token_revocations as tr;

/// One revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Revocation {
    Audit(String),
    User {
        user_id: String,
        at_us: i64,
    },
    Project {
        project_id: String,
        at_us: i64,
    },
    Grant {
        user_id: String,
        project_id: String,
        at_us: i64,
    },
}

impl Revocation {
    pub(crate) fn key(&self) -> String {
        match self {
            Revocation::Audit(a) => a.clone(),
            Revocation::User { user_id, at_us } => format!("user:{user_id}:{at_us}"),
            Revocation::Project { project_id, at_us } => format!("project:{project_id}:{at_us}"),
            Revocation::Grant {
                user_id,
                project_id,
                at_us,
            } => {
                format!("grant:{user_id}:{project_id}:{at_us}")
            }
        }
    }

    pub(crate) fn parse(key: &str) -> Option<Revocation> {
        let parts: Vec<&str> = key.split(':').collect();
        let t = |s: &str| s.parse::<i64>().ok();
        match parts.as_slice() {
            [a] => Some(Revocation::Audit(a.to_string())),
            ["user", u, at] => Some(Revocation::User {
                user_id: u.to_string(),
                at_us: t(at)?,
            }),
            ["project", p, at] => Some(Revocation::Project {
                project_id: p.to_string(),
                at_us: t(at)?,
            }),
            ["grant", u, p, at] => Some(Revocation::Grant {
                user_id: u.to_string(),
                project_id: p.to_string(),
                at_us: t(at)?,
            }),
            _ => None,
        }
    }
}

#[derive(Default)]
struct State {
    audit: HashSet<String>,
    // Latest event time per user / project / (user, project).
    users: HashMap<String, i64>,
    projects: HashMap<String, i64>,
    grants: HashMap<(String, String), i64>,
    loaded: Option<Instant>,
}

impl State {
    fn add(&mut self, r: Revocation) {
        let later = |slot: &mut i64, at: i64| *slot = (*slot).max(at);
        match r {
            Revocation::Audit(a) => {
                self.audit.insert(a);
            }
            Revocation::User { user_id, at_us } => {
                later(self.users.entry(user_id).or_default(), at_us)
            }
            Revocation::Project { project_id, at_us } => {
                later(self.projects.entry(project_id).or_default(), at_us)
            }
            Revocation::Grant {
                user_id,
                project_id,
                at_us,
            } => later(self.grants.entry((user_id, project_id)).or_default(), at_us),
        }
    }

    fn revokes(&self, c: &Claims) -> bool {
        if c.audit_ids().any(|a| self.audit.contains(a)) {
            return true;
        }
        // Deleting an application credential revokes its tokens: the event
        // is keyed by the credential's id, as an audit id would be.
        if c.apc.as_ref().is_some_and(|a| self.audit.contains(a)) {
            return true;
        }
        let hit = |t: Option<&i64>| t.is_some_and(|&t| c.iat_us <= t);
        if hit(self.users.get(&c.sub)) {
            return true;
        }
        if let Some(p) = &c.pid {
            if hit(self.projects.get(p)) || hit(self.grants.get(&(c.sub.clone(), p.clone()))) {
                return true;
            }
        }
        if c.sys {
            let key = (c.sub.clone(), crate::store::SYSTEM.to_string());
            if hit(self.grants.get(&key)) {
                return true;
            }
        }
        false
    }
}

/// The in-memory revocation list of one host.
pub(crate) struct Revocations {
    state: RwLock<State>,
    // Single-flight for refreshes: one request re-reads, the others wait.
    refreshing: tokio::sync::Mutex<()>,
    refresh_every: Duration,
}

impl Revocations {
    pub(crate) fn new(refresh_every: Duration) -> Revocations {
        Revocations {
            state: RwLock::new(State::default()),
            refreshing: tokio::sync::Mutex::new(()),
            refresh_every,
        }
    }

    fn stale(&self) -> bool {
        let s = self.state.read().unwrap_or_else(|p| p.into_inner());
        s.loaded.is_none_or(|t| t.elapsed() >= self.refresh_every)
    }

    /// True if `c` is revoked, re-reading the table first when it is stale.
    pub(crate) async fn is_revoked(&self, db: &db::Db, c: &Claims) -> Result<bool> {
        if self.stale() {
            let _g = self.refreshing.lock().await;
            if self.stale() {
                let rows = db.run(load_live).await?;
                self.replace(rows);
            }
        }
        Ok(self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .revokes(c))
    }

    /// Blocking form of [`Revocations::is_revoked`] for the CLI.
    pub(crate) fn is_revoked_blocking(&self, db: &db::Db, c: &Claims) -> Result<bool> {
        if self.stale() {
            let rows = db.run_blocking(load_live)?;
            self.replace(rows);
        }
        Ok(self
            .state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .revokes(c))
    }

    fn replace(&self, rows: Vec<String>) {
        let mut fresh = State {
            loaded: Some(Instant::now()),
            ..State::default()
        };
        for k in rows {
            match Revocation::parse(&k) {
                Some(r) => fresh.add(r),
                None => tracing::warn!(key = %k, "ignoring unparseable token revocation row"),
            }
        }
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = fresh;
    }

    /// Records a revocation made by this host: it applies here at once.
    pub(crate) fn remember(&self, r: Revocation) {
        self.state.write().unwrap_or_else(|p| p.into_inner()).add(r);
    }
}

fn load_live(c: &mut db::Conn) -> db::Result<Vec<String>> {
    Ok(tr::table
        .filter(tr::expires_at.gt(db::now_micros()))
        .select(tr::audit_id)
        .load::<String>(c)?)
}

/// Writes a revocation row (inside the caller's transaction) and drops the
/// rows that can no longer match a live token.
pub(crate) fn persist(c: &mut db::Conn, r: &Revocation, expires_at_us: i64) -> Result<()> {
    diesel::delete(tr::table.filter(tr::expires_at.le(db::now_micros()))).execute(c)?;
    diesel::insert_or_ignore_into(tr::table)
        .values((tr::audit_id.eq(r.key()), tr::expires_at.eq(expires_at_us)))
        .execute(c)
        .map_err(Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::tests::claims;

    #[test]
    fn keys_round_trip() {
        for r in [
            Revocation::Audit("bwwt0ENAS6y-8HQBdHxOLQ".into()),
            Revocation::User {
                user_id: "ab".into(),
                at_us: 5,
            },
            Revocation::Project {
                project_id: "cd".into(),
                at_us: 6,
            },
            Revocation::Grant {
                user_id: "ab".into(),
                project_id: "cd".into(),
                at_us: 7,
            },
        ] {
            assert_eq!(Revocation::parse(&r.key()), Some(r));
        }
        assert_eq!(Revocation::parse("user:x:notanumber"), None);
    }

    #[test]
    fn events_match_only_older_tokens() {
        let c = claims(60);
        let mut s = State::default();
        assert!(!s.revokes(&c));
        s.add(Revocation::User {
            user_id: "u1".into(),
            at_us: c.iat_us - 1,
        });
        assert!(!s.revokes(&c), "a token issued after the event survives it");
        s.add(Revocation::Grant {
            user_id: "u1".into(),
            project_id: "p1".into(),
            at_us: c.iat_us,
        });
        assert!(s.revokes(&c));
        let mut s = State::default();
        s.add(Revocation::Project {
            project_id: "p1".into(),
            at_us: c.iat_us + 1,
        });
        assert!(s.revokes(&c));
        let mut s = State::default();
        let mut child = claims(60);
        child.acid = Some(c.aid.clone());
        s.add(Revocation::Audit(c.aid.clone()));
        assert!(
            s.revokes(&c) && s.revokes(&child),
            "revoking a token revokes its re-scopes"
        );
    }
}
