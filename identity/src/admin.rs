//! Operator operations on projects, users and role assignments, as the
//! `atoll admin` CLI runs them. They are blocking (the CLI has no runtime);
//! the HTTP API runs the same `*_tx` transaction bodies on the blocking pool.
//!
//! Projects, users and roles may be named by id or by name (in the default
//! domain). Changes that take rights away also revoke the tokens that carry
//! those rights: deleting a user or changing their password revokes all of
//! their tokens, deleting a project revokes tokens scoped to it, removing a
//! role revokes the user's tokens on that project. Other hosts notice within
//! `revocation_refresh_secs`.

use crate::config::Service;
use crate::context::BUILTIN_ROLES;
use crate::error::{Error, Result};
use crate::revoke::{self, Revocation};
use crate::store::{
    self, AssignmentRow, NewUser, ProjectRow, UserRow, DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME,
};
use crate::{password, Identity};
use db::Conn;

/// Name of the project and user bootstrap creates.
pub const ADMIN_NAME: &str = "admin";

/// A transaction's result plus the revocations it wrote, which the caller
/// adds to this host's memory once the transaction committed.
pub(crate) struct Changed<T> {
    pub value: T,
    pub revoked: Vec<Revocation>,
}

impl Identity {
    /// Makes committed revocations effective on this host and unwraps.
    pub(crate) fn apply<T>(&self, ch: Changed<T>) -> T {
        for r in ch.revoked {
            self.remember_revocation(r);
        }
        ch.value
    }
}

fn now_us() -> i64 {
    db::now_micros()
}

fn revoking<T>(c: &mut Conn, value: T, r: Revocation, expires_at_us: i64) -> Result<Changed<T>> {
    revoking_all(c, value, vec![r], expires_at_us)
}

/// Persists `revoked` in the caller's transaction and carries them with
/// `value` so [`Identity::apply`] makes them effective after commit.
pub(crate) fn revoking_all<T>(
    c: &mut Conn,
    value: T,
    revoked: Vec<Revocation>,
    expires_at_us: i64,
) -> Result<Changed<T>> {
    for r in &revoked {
        revoke::persist(c, r, expires_at_us)?;
    }
    Ok(Changed { value, revoked })
}

// ---- projects ----

/// Creates a project in the default domain.
pub fn create_project(id: &Identity, name: &str, description: &str) -> Result<ProjectRow> {
    id.write_blocking(|c| store::create_project(c, name, DEFAULT_DOMAIN_ID, description))
}

/// All projects, by name.
pub fn list_projects(id: &Identity) -> Result<Vec<ProjectRow>> {
    id.read_blocking(|c| store::list_projects(c, None, None))
}

pub(crate) fn delete_project_tx(
    c: &mut Conn,
    name_or_id: &str,
    exp_us: i64,
) -> Result<Changed<ProjectRow>> {
    let p = store::resolve_project(c, name_or_id)?;
    store::delete_project(c, &p.id)?;
    let r = Revocation::Project {
        project_id: p.id.clone(),
        at_us: now_us(),
    };
    revoking(c, p, r, exp_us)
}

/// Deletes a project, its role assignments, and the tokens scoped to it.
pub fn delete_project(id: &Identity, name_or_id: &str) -> Result<ProjectRow> {
    let exp = id.event_expiry_us();
    let ch = id.write_blocking(|c| delete_project_tx(c, name_or_id, exp))?;
    Ok(id.apply(ch))
}

/// Changes to a project; `None` keeps a field.
#[derive(Debug, Default)]
pub(crate) struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    /// The whole new tag list.
    pub tags: Option<Vec<String>>,
}

/// Applies `ch` to project `pid`. Disabling it revokes the tokens scoped
/// to it, as Keystone does.
pub(crate) fn update_project_tx(
    c: &mut Conn,
    pid: &str,
    ch: ProjectChanges,
    exp_us: i64,
) -> Result<Changed<ProjectRow>> {
    let mut p = store::project(c, pid)?.ok_or_else(|| Error::NotFound {
        kind: "project",
        id: pid.into(),
    })?;
    let was_enabled = p.enabled;
    if let Some(n) = ch.name {
        p.name = n;
    }
    if let Some(d) = ch.description {
        p.description = d;
    }
    if let Some(e) = ch.enabled {
        p.enabled = e;
    }
    if let Some(t) = ch.tags {
        p.tags = store::encode_tags(&t)?;
    }
    store::update_project(c, &p)?;
    if was_enabled && !p.enabled {
        let r = Revocation::Project {
            project_id: p.id.clone(),
            at_us: now_us(),
        };
        return revoking(c, p, r, exp_us);
    }
    Ok(Changed {
        value: p,
        revoked: Vec::new(),
    })
}

/// Changes to a domain; `None` keeps a field.
#[derive(Debug, Default)]
pub(crate) struct DomainChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Applies `ch` to domain `did`. Disabling it revokes the tokens of its
/// users and those scoped to its projects (logins are refused while it is
/// disabled).
pub(crate) fn update_domain_tx(
    c: &mut Conn,
    did: &str,
    ch: DomainChanges,
    exp_us: i64,
) -> Result<Changed<store::DomainRow>> {
    let mut d = store::domain(c, did)?;
    let disabling = d.enabled && ch.enabled == Some(false);
    if disabling && d.id == DEFAULT_DOMAIN_ID {
        return Err(Error::ForbiddenMessage(
            "The default domain holds the admin project and user; it cannot be disabled.".into(),
        ));
    }
    if let Some(n) = ch.name {
        d.name = n;
    }
    if let Some(t) = ch.description {
        d.description = t;
    }
    if let Some(e) = ch.enabled {
        d.enabled = e;
    }
    store::update_domain(c, &d)?;
    let revoked = if disabling {
        revoke_domain_members(c, &d.id, exp_us)?
    } else {
        Vec::new()
    };
    Ok(Changed { value: d, revoked })
}

/// Revokes the tokens of a domain's users and those scoped to its projects.
fn revoke_domain_members(c: &mut Conn, did: &str, exp_us: i64) -> Result<Vec<Revocation>> {
    let at_us = now_us();
    let (projects, users) = store::domain_members(c, did)?;
    let revoked: Vec<Revocation> = projects
        .into_iter()
        .map(|project_id| Revocation::Project { project_id, at_us })
        .chain(
            users
                .into_iter()
                .map(|user_id| Revocation::User { user_id, at_us }),
        )
        .collect();
    for r in &revoked {
        revoke::persist(c, r, exp_us)?;
    }
    Ok(revoked)
}

/// Deletes a disabled domain with its projects and users (Keystone refuses
/// an enabled one); their tokens were revoked when it was disabled.
pub(crate) fn delete_domain_tx(
    c: &mut Conn,
    did: &str,
    exp_us: i64,
) -> Result<Changed<store::DomainRow>> {
    let d = store::domain(c, did)?;
    if d.id == DEFAULT_DOMAIN_ID {
        return Err(Error::ForbiddenMessage(
            "The default domain cannot be deleted.".into(),
        ));
    }
    if d.enabled {
        return Err(Error::ForbiddenMessage(
            "Cannot delete a domain that is enabled, please disable it first.".into(),
        ));
    }
    // Disabling revoked these already; again here, so nothing issued in
    // between outlives what it was scoped to.
    let mut revoked = revoke_domain_members(c, &d.id, exp_us)?;
    // Members of its groups from other domains lose the roles the groups
    // gave them.
    let at_us = now_us();
    for g in crate::groups::list_groups(c, None, Some(&d.id))? {
        for user_id in crate::groups::member_ids(c, &g.id)? {
            let r = Revocation::User { user_id, at_us };
            revoke::persist(c, &r, exp_us)?;
            revoked.push(r);
        }
    }
    store::delete_domain(c, &d.id)?;
    Ok(Changed { value: d, revoked })
}

// ---- users ----

pub(crate) fn create_user_tx(
    c: &mut Conn,
    mut u: NewUser,
    project: Option<&str>,
) -> Result<UserRow> {
    if let Some(p) = project {
        u.default_project_id = Some(store::resolve_project(c, p)?.id);
    }
    store::create_user(c, u)
}

/// Creates a user in the default domain with `password` and, optionally, a
/// default project (by name or id).
pub fn create_user(
    id: &Identity,
    name: &str,
    password: &str,
    project: Option<&str>,
) -> Result<UserRow> {
    let hash = password::hash(password)?;
    let u = NewUser {
        name: name.into(),
        domain_id: DEFAULT_DOMAIN_ID.into(),
        default_project_id: None,
        password_hash: hash,
        enabled: true,
        extra: "{}".into(),
    };
    Ok(id
        .write_blocking(|c| create_user_tx(c, u, project))?
        .redacted())
}

/// All users, by name, without password hashes.
pub fn list_users(id: &Identity) -> Result<Vec<UserRow>> {
    Ok(id
        .read_blocking(|c| store::list_users(c, None, None))?
        .iter()
        .map(UserRow::redacted)
        .collect())
}

pub(crate) fn delete_user_tx(
    c: &mut Conn,
    name_or_id: &str,
    exp_us: i64,
) -> Result<Changed<UserRow>> {
    let u = store::resolve_user(c, name_or_id)?;
    store::delete_user(c, &u.id)?;
    let r = Revocation::User {
        user_id: u.id.clone(),
        at_us: now_us(),
    };
    revoking(c, u.redacted(), r, exp_us)
}

/// Deletes a user, their role assignments and all their tokens.
pub fn delete_user(id: &Identity, name_or_id: &str) -> Result<UserRow> {
    let exp = id.event_expiry_us();
    let ch = id.write_blocking(|c| delete_user_tx(c, name_or_id, exp))?;
    Ok(id.apply(ch))
}

/// Sets a user's password and revokes their tokens, as Keystone does.
pub fn set_password(id: &Identity, name_or_id: &str, new_password: &str) -> Result<UserRow> {
    let hash = password::hash(new_password)?;
    let exp = id.event_expiry_us();
    let ch = id.write_blocking(|c| {
        let u = store::resolve_user(c, name_or_id)?;
        store::set_password_hash(c, &u.id, &hash)?;
        let r = Revocation::User {
            user_id: u.id.clone(),
            at_us: now_us(),
        };
        revoking(c, u.redacted(), r, exp)
    })?;
    Ok(id.apply(ch))
}

/// Changes to a user; `None` keeps a field (`Some(None)` clears the
/// default project).
#[derive(Default)]
pub(crate) struct UserChanges {
    pub name: Option<String>,
    pub default_project_id: Option<Option<String>>,
    pub enabled: Option<bool>,
    /// A new password, already hashed.
    pub password_hash: Option<String>,
    /// Further attributes to set (merged over the stored ones, as
    /// Keystone merges an update into the user).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Applies `ch` to user `uid`. Disabling the user or setting a password
/// revokes all of the user's tokens, as Keystone does.
pub(crate) fn update_user_tx(
    c: &mut Conn,
    uid: &str,
    ch: UserChanges,
    exp_us: i64,
) -> Result<Changed<UserRow>> {
    let mut u = store::user(c, uid)?.ok_or_else(|| Error::NotFound {
        kind: "user",
        id: uid.into(),
    })?;
    let disabled = u.enabled && ch.enabled == Some(false);
    let new_password = ch.password_hash.is_some();
    if let Some(n) = ch.name {
        u.name = n;
    }
    if let Some(p) = ch.default_project_id {
        u.default_project_id = p;
    }
    if let Some(e) = ch.enabled {
        u.enabled = e;
    }
    if let Some(h) = ch.password_hash {
        u.password_hash = h;
    }
    if !ch.extra.is_empty() {
        let mut extra = store::user_extra(&u);
        extra.extend(ch.extra);
        u.extra = serde_json::Value::Object(extra).to_string();
    }
    store::update_user(c, &u)?;
    if disabled || new_password {
        let r = Revocation::User {
            user_id: u.id.clone(),
            at_us: now_us(),
        };
        return revoking(c, u.redacted(), r, exp_us);
    }
    Ok(Changed {
        value: u.redacted(),
        revoked: Vec::new(),
    })
}

// ---- role assignments ----

pub(crate) fn add_role_tx(
    c: &mut Conn,
    user: &str,
    project: &str,
    role: &str,
) -> Result<AssignmentRow> {
    let user = store::resolve_user(c, user)?.redacted();
    let project = store::resolve_project(c, project)?;
    let role = store::resolve_role(c, role)?;
    store::add_assignment(c, &user.id, &project.id, &role.id)?;
    Ok(AssignmentRow {
        user,
        project,
        role,
    })
}

/// Grants `role` on `project` to `user` (each by name or id); idempotent.
pub fn add_role(id: &Identity, user: &str, project: &str, role: &str) -> Result<AssignmentRow> {
    id.write_blocking(|c| add_role_tx(c, user, project, role))
}

pub(crate) fn remove_role_tx(
    c: &mut Conn,
    user: &str,
    project: &str,
    role: &str,
    exp_us: i64,
) -> Result<Changed<AssignmentRow>> {
    let user = store::resolve_user(c, user)?.redacted();
    let project = store::resolve_project(c, project)?;
    let role = store::resolve_role(c, role)?;
    store::remove_assignment(c, &user.id, &project.id, &role.id)?;
    let r = Revocation::Grant {
        user_id: user.id.clone(),
        project_id: project.id.clone(),
        at_us: now_us(),
    };
    revoking(
        c,
        AssignmentRow {
            user,
            project,
            role,
        },
        r,
        exp_us,
    )
}

/// Removes a grant and revokes the user's tokens on that project.
pub fn remove_role(id: &Identity, user: &str, project: &str, role: &str) -> Result<AssignmentRow> {
    let exp = id.event_expiry_us();
    let ch = id.write_blocking(|c| remove_role_tx(c, user, project, role, exp))?;
    Ok(id.apply(ch))
}

/// Grants `role` on the system to `user` (each by name or id); idempotent.
pub(crate) fn add_system_role_tx(
    c: &mut Conn,
    user: &str,
    role: &str,
) -> Result<store::SystemAssignmentRow> {
    let user = store::resolve_user(c, user)?.redacted();
    let role = store::resolve_role(c, role)?;
    store::add_system_assignment(c, &user.id, &role.id)?;
    Ok(store::SystemAssignmentRow { user, role })
}

/// Grants `role` on the system to `user`; idempotent.
pub fn add_system_role(
    id: &Identity,
    user: &str,
    role: &str,
) -> Result<store::SystemAssignmentRow> {
    id.write_blocking(|c| add_system_role_tx(c, user, role))
}

/// Removes a system grant and revokes the user's system-scoped tokens.
pub(crate) fn remove_system_role_tx(
    c: &mut Conn,
    user: &str,
    role: &str,
    exp_us: i64,
) -> Result<Changed<store::SystemAssignmentRow>> {
    let user = store::resolve_user(c, user)?.redacted();
    let role = store::resolve_role(c, role)?;
    store::remove_system_assignment(c, &user.id, &role.id)?;
    let r = Revocation::Grant {
        user_id: user.id.clone(),
        project_id: store::SYSTEM.into(),
        at_us: now_us(),
    };
    revoking(c, store::SystemAssignmentRow { user, role }, r, exp_us)
}

/// Removes a system grant and revokes the user's system-scoped tokens.
pub fn remove_system_role(
    id: &Identity,
    user: &str,
    role: &str,
) -> Result<store::SystemAssignmentRow> {
    let exp = id.event_expiry_us();
    let ch = id.write_blocking(|c| remove_system_role_tx(c, user, role, exp))?;
    Ok(id.apply(ch))
}

/// Refuses to rename or delete admin, member and reader: access rules and
/// bootstrap rely on those names.
fn not_builtin(r: &store::RoleRow) -> Result<()> {
    if BUILTIN_ROLES.contains(&r.name.as_str()) {
        return Err(Error::ForbiddenMessage(format!(
            "The role {} is built in: access rules rely on it, so it cannot be renamed or \
             deleted.",
            r.name
        )));
    }
    Ok(())
}

/// Creates a role (by name).
pub fn create_role(id: &Identity, name: &str) -> Result<store::RoleRow> {
    id.write_blocking(|c| store::create_role(c, name))
}

/// Revokes the tokens of every holder of role `role_id` on the projects
/// they hold it on: tokens carry role names, so a renamed or deleted role
/// must not live on in them.
fn revoke_holders(
    c: &mut Conn,
    holders: Vec<(String, String)>,
    exp_us: i64,
) -> Result<Vec<Revocation>> {
    let at_us = now_us();
    let mut revoked = Vec::new();
    for (user_id, project_id) in holders {
        let rv = Revocation::Grant {
            user_id,
            project_id,
            at_us,
        };
        revoke::persist(c, &rv, exp_us)?;
        revoked.push(rv);
    }
    Ok(revoked)
}

pub(crate) fn rename_role_tx(
    c: &mut Conn,
    role: &str,
    name: &str,
    exp_us: i64,
) -> Result<Changed<store::RoleRow>> {
    let mut r = store::resolve_role(c, role)?;
    not_builtin(&r)?;
    store::rename_role(c, &r.id, name)?;
    r.name = name.into();
    let holders = store::role_holders(c, &r.id)?;
    let revoked = revoke_holders(c, holders, exp_us)?;
    Ok(Changed { value: r, revoked })
}

pub(crate) fn delete_role_tx(
    c: &mut Conn,
    role: &str,
    exp_us: i64,
) -> Result<Changed<store::RoleRow>> {
    let r = store::resolve_role(c, role)?;
    not_builtin(&r)?;
    let holders = store::delete_role(c, &r.id)?;
    let revoked = revoke_holders(c, holders, exp_us)?;
    Ok(Changed { value: r, revoked })
}

/// Deletes a role (by name or id), its assignments and the tokens of the
/// users that held it on those projects.
pub fn delete_role(id: &Identity, role: &str) -> Result<store::RoleRow> {
    let exp = id.event_expiry_us();
    let ch = id.write_blocking(|c| delete_role_tx(c, role, exp))?;
    Ok(id.apply(ch))
}

/// Role assignments, optionally only those of a user and/or on a project.
pub fn list_role_assignments(
    id: &Identity,
    user: Option<&str>,
    project: Option<&str>,
) -> Result<Vec<AssignmentRow>> {
    id.read_blocking(|c| {
        let uid = user
            .map(|u| store::resolve_user(c, u))
            .transpose()?
            .map(|u| u.id);
        let pid = project
            .map(|p| store::resolve_project(c, p))
            .transpose()?
            .map(|p| p.id);
        let mut rows = store::list_assignments(c, uid.as_deref(), pid.as_deref(), None)?;
        for r in &mut rows {
            r.user = r.user.redacted();
        }
        Ok(rows)
    })
}

/// System role assignments, optionally of one user.
pub fn list_system_role_assignments(
    id: &Identity,
    user: Option<&str>,
) -> Result<Vec<store::SystemAssignmentRow>> {
    id.read_blocking(|c| {
        let uid = user
            .map(|u| store::resolve_user(c, u))
            .transpose()?
            .map(|u| u.id);
        let mut rows = store::list_system_assignments(c, uid.as_deref(), None)?;
        for r in &mut rows {
            r.user = r.user.redacted();
        }
        Ok(rows)
    })
}

/// All role names.
pub fn list_roles(id: &Identity) -> Result<Vec<store::RoleRow>> {
    id.read_blocking(|c| store::list_roles(c, None))
}

/// The configured catalog with URL placeholders left as written.
pub fn catalog(id: &Identity) -> Vec<Service> {
    id.catalog().render(Some("$(project_id)s"))
}

// ---- bootstrap ----

/// See [`Identity::bootstrap`].
pub(crate) fn bootstrap(id: &Identity, admin_password: Option<String>) -> Result<Option<String>> {
    let existing = id.read_blocking(|c| store::user_by_name(c, DEFAULT_DOMAIN_ID, ADMIN_NAME))?;
    // Hash outside the write transaction: hashing is slow on purpose.
    let (new_hash, generated) = match (&existing, admin_password) {
        (Some(u), Some(pw)) if password::verify(&u.password_hash, &pw) => (None, None),
        (Some(_), Some(pw)) => (Some(password::hash(&pw)?), None),
        (Some(_), None) => (None, None),
        (None, Some(pw)) => (Some(password::hash(&pw)?), None),
        (None, None) => {
            let pw = password::generate();
            (Some(password::hash(&pw)?), Some(pw))
        }
    };
    let created_user = id.write_blocking(|c| {
        use db::schema::{domains, roles};
        use diesel::prelude::*;
        // Insert-or-ignore everywhere: two hosts bootstrapping one database
        // at once both succeed and agree.
        diesel::insert_or_ignore_into(domains::table)
            .values((
                domains::id.eq(DEFAULT_DOMAIN_ID),
                domains::name.eq(DEFAULT_DOMAIN_NAME),
                domains::enabled.eq(true),
                domains::description.eq("The default domain"),
            ))
            .execute(c)?;
        for r in BUILTIN_ROLES {
            diesel::insert_or_ignore_into(roles::table)
                .values((roles::id.eq(store::new_id()), roles::name.eq(r)))
                .execute(c)?;
        }
        let project = match store::project_by_name(c, DEFAULT_DOMAIN_ID, ADMIN_NAME)? {
            Some(p) => p,
            None => store::create_project(
                c,
                ADMIN_NAME,
                DEFAULT_DOMAIN_ID,
                "Bootstrap project for initializing the cloud.",
            )?,
        };
        let (user, created) = match store::user_by_name(c, DEFAULT_DOMAIN_ID, ADMIN_NAME)? {
            Some(u) => {
                if let Some(h) = &new_hash {
                    store::set_password_hash(c, &u.id, h)?;
                }
                (u, false)
            }
            None => {
                let hash = new_hash.clone().ok_or_else(|| {
                    Error::Internal("admin user vanished during bootstrap".into())
                })?;
                let u = store::create_user(
                    c,
                    NewUser {
                        name: ADMIN_NAME.into(),
                        domain_id: DEFAULT_DOMAIN_ID.into(),
                        default_project_id: Some(project.id.clone()),
                        password_hash: hash,
                        enabled: true,
                        extra: "{}".into(),
                    },
                )?;
                (u, true)
            }
        };
        let admin_role = store::resolve_role(c, crate::context::ROLE_ADMIN)?;
        store::add_assignment(c, &user.id, &project.id, &admin_role.id)?;
        // As `keystone-manage bootstrap`: the admin also administers the
        // system (system-scoped tokens, e.g. for Tempest's system creds).
        store::add_system_assignment(c, &user.id, &admin_role.id)?;
        Ok(created)
    })?;
    if created_user || new_hash.is_some() {
        tracing::info!("identity bootstrap: admin user ready");
    }
    Ok(if created_user { generated } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::identity;

    #[test]
    fn bootstrap_is_idempotent() {
        let (_d, id) = identity();
        let before = (
            list_projects(&id).unwrap(),
            list_users(&id).unwrap(),
            list_roles(&id).unwrap(),
        );
        assert_eq!(id.bootstrap(Some("adminpw".into())).unwrap(), None);
        assert_eq!(
            id.bootstrap(None).unwrap(),
            None,
            "existing admin keeps its password"
        );
        let after = (
            list_projects(&id).unwrap(),
            list_users(&id).unwrap(),
            list_roles(&id).unwrap(),
        );
        assert_eq!(before, after);
        let names: Vec<_> = after.2.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["admin", "member", "reader"]);
        let a = list_role_assignments(&id, Some("admin"), Some("admin")).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].role.name, "admin");
    }

    #[test]
    fn bootstrap_generates_a_password_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = db::Db::open_sqlite(&dir.path().join("m.db"), 2).unwrap();
        let id = Identity::new(db, crate::IdentityConfig::default()).unwrap();
        let pw = id.bootstrap(None).unwrap().expect("generated");
        assert_eq!(id.bootstrap(None).unwrap(), None);
        let u = id
            .read_blocking(|c| store::user_by_name(c, "default", "admin"))
            .unwrap()
            .unwrap();
        assert!(password::verify(&u.password_hash, &pw));
        // A given password replaces it.
        id.bootstrap(Some("other".into())).unwrap();
        let u = id
            .read_blocking(|c| store::user_by_name(c, "default", "admin"))
            .unwrap()
            .unwrap();
        assert!(password::verify(&u.password_hash, "other"));
    }

    #[test]
    fn crud_and_errors() {
        let (_d, id) = identity();
        let p = create_project(&id, "test", "functional tests").unwrap();
        assert!(matches!(
            create_project(&id, "test", ""),
            Err(Error::Conflict { .. })
        ));
        assert!(matches!(
            create_project(&id, "a:b", ""),
            Err(Error::BadRequest(_))
        ));
        let u = create_user(&id, "tester3", "testing3", Some("test")).unwrap();
        assert_eq!(u.default_project_id.as_deref(), Some(p.id.as_str()));
        assert!(u.password_hash.is_empty(), "hash never leaves the store");
        assert!(matches!(
            create_user(&id, "x", "y", Some("nosuch")),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            add_role(&id, "tester3", "test", "nosuch"),
            Err(Error::NotFound { kind: "role", .. })
        ));
        add_role(&id, "tester3", "test", "member").unwrap();
        add_role(&id, "tester3", "test", "member").unwrap();
        assert_eq!(
            list_role_assignments(&id, Some("tester3"), None)
                .unwrap()
                .len(),
            1
        );
        remove_role(&id, "tester3", "test", "member").unwrap();
        assert!(matches!(
            remove_role(&id, "tester3", "test", "member"),
            Err(Error::AssignmentNotFound { .. })
        ));
        set_password(&id, "tester3", "new").unwrap();
        delete_project(&id, "test").unwrap();
        let u = id
            .read_blocking(|c| store::resolve_user(c, "tester3"))
            .unwrap();
        assert_eq!(u.default_project_id, None);
        delete_user(&id, &u.id).unwrap();
        assert!(matches!(
            delete_user(&id, "tester3"),
            Err(Error::NotFound { kind: "user", .. })
        ));
        assert_eq!(
            catalog(&id)[1].endpoints[0].url,
            "http://127.0.0.1:8080/v1/AUTH_$(project_id)s"
        );
    }
}
