//! Application credentials: a user delegates some of its roles on one
//! project to an application, which authenticates with the credential's
//! id (or name and user) and a secret shown once. Tokens issued for one
//! are scoped to its project with its roles, while the user still holds
//! them; deleting the credential revokes them.

use base64::Engine;
use diesel::prelude::*;
use rand::RngCore;

use crate::admin::{revoking_all, Changed};
use crate::error::{Error, Result};
use crate::revoke::Revocation;
use crate::store::{self, RoleRow};
use db::schema::application_credentials as ac;
use db::Conn;

/// An application credential row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ac)]
pub struct AppCredRow {
    /// Id.
    pub id: String,
    /// Name, unique among the user's credentials.
    pub name: String,
    /// The delegating user.
    pub user_id: String,
    /// The project the roles are held on.
    pub project_id: String,
    /// Free text.
    pub description: Option<String>,
    /// Argon2id hash of the secret.
    pub secret_hash: String,
    /// Microseconds since the epoch; `None`: never.
    pub expires_at: Option<i64>,
    /// May create and delete application credentials (and trusts).
    pub unrestricted: bool,
    /// JSON array of the delegated role ids.
    pub roles: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

impl AppCredRow {
    /// The delegated role ids.
    pub fn role_ids(&self) -> Vec<String> {
        serde_json::from_str(&self.roles).unwrap_or_default()
    }

    /// True once past its expiry (`now` in microseconds).
    pub fn expired(&self, now_us: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now_us)
    }
}

/// A fresh secret: 64 random bytes, URL-safe base64 without padding, as
/// Keystone generates them.
pub fn generate_secret() -> String {
    let mut b = [0u8; 64];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        kind: "application credential",
        id: id.into(),
    }
}

/// The credential `id` of user `uid`; 404 otherwise.
pub fn get(c: &mut Conn, uid: &str, id: &str) -> Result<AppCredRow> {
    ac::table
        .find(id)
        .filter(ac::user_id.eq(uid))
        .select(AppCredRow::as_select())
        .first(c)
        .optional()?
        .ok_or_else(|| not_found(id))
}

/// The credential `id`, whoever owns it (for authentication).
pub fn by_id(c: &mut Conn, id: &str) -> Result<Option<AppCredRow>> {
    Ok(ac::table
        .find(id)
        .select(AppCredRow::as_select())
        .first(c)
        .optional()?)
}

/// The credential named `name` of user `uid` (for authentication).
pub fn by_name(c: &mut Conn, uid: &str, name: &str) -> Result<Option<AppCredRow>> {
    Ok(ac::table
        .filter(ac::user_id.eq(uid))
        .filter(ac::name.eq(name))
        .select(AppCredRow::as_select())
        .first(c)
        .optional()?)
}

/// A user's credentials by name, optionally only the one named `name`.
pub fn list(c: &mut Conn, uid: &str, name: Option<&str>) -> Result<Vec<AppCredRow>> {
    let mut q = ac::table
        .filter(ac::user_id.eq(uid.to_string()))
        .select(AppCredRow::as_select())
        .order(ac::name)
        .into_boxed();
    if let Some(n) = name {
        q = q.filter(ac::name.eq(n.to_string()));
    }
    Ok(q.load(c)?)
}

/// Stores a new credential; 409 if the user has one of that name.
pub fn insert(c: &mut Conn, row: &AppCredRow) -> Result<()> {
    if by_name(c, &row.user_id, &row.name)?.is_some() {
        return Err(Error::Conflict {
            kind: "application_credential",
            detail: format!(
                "Duplicate entry found with name {} for user {}.",
                row.name, row.user_id
            ),
        });
    }
    diesel::insert_into(ac::table).values(row).execute(c)?;
    Ok(())
}

/// Deletes a credential and revokes the tokens issued for it.
pub(crate) fn delete_tx(c: &mut Conn, uid: &str, id: &str, exp_us: i64) -> Result<Changed<()>> {
    get(c, uid, id)?;
    diesel::delete(ac::table.find(id)).execute(c)?;
    revoking_all(c, (), vec![Revocation::Audit(id.into())], exp_us)
}

/// The rows of role ids, in order (unknown ids, of roles deleted since,
/// are left out).
pub fn roles_of(c: &mut Conn, ids: &[String]) -> Result<Vec<RoleRow>> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(r) = store::role(c, id)? {
            out.push(r);
        }
    }
    Ok(out)
}
