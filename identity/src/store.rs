//! Queries on the identity tables. Every function takes a connection so the
//! caller chooses where it runs: [`db::Db::run`] / [`db::Db::transaction`] on
//! the blocking pool for HTTP handlers, the `_blocking` forms for the CLI.
//!
//! Ids are 32 lowercase hex characters (uuid v4, simple form), as Keystone's,
//! except the default domain, whose id is `default`.

use diesel::prelude::*;

use crate::error::{Error, Result};
use db::schema::{domains, projects, role_assignments, roles, system_role_assignments, users};
use db::Conn;

/// Id of the domain every project and user lives in unless told otherwise.
pub const DEFAULT_DOMAIN_ID: &str = "default";
/// Name of that domain.
pub const DEFAULT_DOMAIN_NAME: &str = "Default";

/// A domain row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = domains)]
pub struct DomainRow {
    /// Domain id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Disabled domains authenticate nobody.
    pub enabled: bool,
    /// Free text.
    pub description: String,
}

/// A project row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    /// Project id.
    pub id: String,
    /// Name, unique in its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Free text.
    pub description: String,
    /// Disabled projects cannot be scoped to.
    pub enabled: bool,
    /// Tags: a JSON array of strings (see [`project_tags`]).
    pub tags: String,
}

/// Most tags a project may carry (Keystone's limit).
pub const MAX_PROJECT_TAGS: usize = 80;

/// A project's tags (none if the stored text is not a JSON array of
/// strings, which only a hand-edited database holds).
pub fn project_tags(p: &ProjectRow) -> Vec<String> {
    serde_json::from_str(&p.tags).unwrap_or_default()
}

/// Checks one tag as Keystone does: 1 to 255 characters, no ',' or '/'.
pub fn check_tag(tag: &str) -> Result<()> {
    let n = tag.chars().count();
    if n == 0 || n > 255 || tag.contains([',', '/']) {
        return Err(Error::BadRequest(format!(
            "Invalid input for field 'tags': {tag:?} is not a tag (1 to 255 characters, \
             without ',' or '/')"
        )));
    }
    Ok(())
}

/// Checks a project's whole tag list and encodes it for the row: each tag
/// valid, none twice, at most [`MAX_PROJECT_TAGS`].
pub fn encode_tags(tags: &[String]) -> Result<String> {
    for t in tags {
        check_tag(t)?;
    }
    let distinct: std::collections::HashSet<&String> = tags.iter().collect();
    if distinct.len() != tags.len() {
        return Err(Error::BadRequest(
            "Invalid input for field 'tags': tags must be unique".into(),
        ));
    }
    if tags.len() > MAX_PROJECT_TAGS {
        return Err(Error::BadRequest(format!(
            "Invalid input for field 'tags': at most {MAX_PROJECT_TAGS} tags"
        )));
    }
    Ok(serde_json::Value::from(tags.to_vec()).to_string())
}

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// User id.
    pub id: String,
    /// Name, unique in its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Project an unscoped login lands in (and TempAuth's account of a user
    /// without roles).
    pub default_project_id: Option<String>,
    /// Argon2 PHC string; empty for a user without password.
    pub password_hash: String,
    /// Disabled users cannot authenticate.
    pub enabled: bool,
    /// Attributes beyond these (description, email, ...): a JSON object.
    pub extra: String,
}

impl UserRow {
    /// The row without its password hash, for debug output and listings.
    pub fn redacted(&self) -> UserRow {
        UserRow {
            password_hash: String::new(),
            ..self.clone()
        }
    }
}

/// A user's further attributes (an empty map if the stored text is not
/// a JSON object, which only a hand-edited database holds).
pub fn user_extra(u: &UserRow) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(&u.extra) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// A role row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
pub struct RoleRow {
    /// Role id.
    pub id: String,
    /// Unique name (`admin`, `member`, `reader`, ...).
    pub name: String,
}

/// A role assignment with the names of what it joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRow {
    /// The user.
    pub user: UserRow,
    /// The project.
    pub project: ProjectRow,
    /// The role.
    pub role: RoleRow,
}

/// A role a user holds on the system (the deployment as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemAssignmentRow {
    /// The user.
    pub user: UserRow,
    /// The role.
    pub role: RoleRow,
}

/// The target name of system assignments in messages and revocation keys
/// (never a project id: those are 32 hex characters).
pub const SYSTEM: &str = "system";

/// The project `id`; 404 naming it when there is none (API paths name
/// entities by id only).
pub fn require_project(c: &mut Conn, id: &str) -> Result<ProjectRow> {
    project(c, id)?.ok_or_else(|| Error::NotFound {
        kind: "project",
        id: id.into(),
    })
}

/// The user `id`; 404 naming it when there is none.
pub fn require_user(c: &mut Conn, id: &str) -> Result<UserRow> {
    user(c, id)?.ok_or_else(|| Error::NotFound {
        kind: "user",
        id: id.into(),
    })
}

/// The role `id`; 404 naming it when there is none.
pub fn require_role(c: &mut Conn, id: &str) -> Result<RoleRow> {
    role(c, id)?.ok_or_else(|| Error::NotFound {
        kind: "role",
        id: id.into(),
    })
}

/// A new random id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn opt<T>(r: QueryResult<T>) -> Result<Option<T>> {
    r.optional().map_err(Error::from)
}

// ---- domains ----

/// The domain with this id.
pub fn domain(c: &mut Conn, id: &str) -> Result<DomainRow> {
    opt(domains::table
        .find(id)
        .select(DomainRow::as_select())
        .first(c))?
    .ok_or_else(|| Error::NotFound {
        kind: "domain",
        id: id.into(),
    })
}

/// The domain with this name.
pub fn domain_by_name(c: &mut Conn, name: &str) -> Result<Option<DomainRow>> {
    opt(domains::table
        .filter(domains::name.eq(name))
        .select(DomainRow::as_select())
        .first(c))
}

/// All domains, by name.
pub fn list_domains(c: &mut Conn) -> Result<Vec<DomainRow>> {
    Ok(domains::table
        .order(domains::name)
        .select(DomainRow::as_select())
        .load(c)?)
}

/// Creates a domain; 409 if its name is taken.
pub fn create_domain(
    c: &mut Conn,
    name: &str,
    description: &str,
    enabled: bool,
) -> Result<DomainRow> {
    check_domain_name(name)?;
    domain_name_free(c, name, None)?;
    let row = DomainRow {
        id: new_id(),
        name: name.into(),
        enabled,
        description: description.into(),
    };
    diesel::insert_into(domains::table)
        .values(&row)
        .execute(c)?;
    Ok(row)
}

/// Saves a domain's name, description and enabled flag; 409 if the new
/// name is taken.
pub fn update_domain(c: &mut Conn, d: &DomainRow) -> Result<()> {
    check_domain_name(&d.name)?;
    domain_name_free(c, &d.name, Some(&d.id))?;
    diesel::update(domains::table.find(&d.id))
        .set((
            domains::name.eq(&d.name),
            domains::description.eq(&d.description),
            domains::enabled.eq(d.enabled),
        ))
        .execute(c)?;
    Ok(())
}

/// Ids of the projects and of the users of a domain.
pub fn domain_members(c: &mut Conn, id: &str) -> Result<(Vec<String>, Vec<String>)> {
    let p = projects::table
        .filter(projects::domain_id.eq(id))
        .select(projects::id)
        .load(c)?;
    let u = users::table
        .filter(users::domain_id.eq(id))
        .select(users::id)
        .load(c)?;
    Ok((p, u))
}

/// Deletes a domain with its projects, users and their role assignments.
pub fn delete_domain(c: &mut Conn, id: &str) -> Result<()> {
    let (projects_of, users_of) = domain_members(c, id)?;
    for p in &projects_of {
        delete_project(c, p)?;
    }
    for u in &users_of {
        delete_user(c, u)?;
    }
    crate::groups::delete_domain_groups(c, id)?;
    let n = diesel::delete(domains::table.find(id)).execute(c)?;
    if n == 0 {
        return Err(Error::NotFound {
            kind: "domain",
            id: id.into(),
        });
    }
    Ok(())
}

fn domain_name_free(c: &mut Conn, name: &str, except: Option<&str>) -> Result<()> {
    if domain_by_name(c, name)?.is_some_and(|d| Some(d.id.as_str()) != except) {
        return Err(Error::Conflict {
            kind: "domain",
            detail: format!("Duplicate entry found with name {name}."),
        });
    }
    Ok(())
}

/// Keystone's domain names: 1 to 64 characters.
fn check_domain_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > 64 || name.trim() != name {
        return Err(Error::BadRequest(format!(
            "Invalid input for field 'name': {name:?} must be 1 to 64 characters without \
             surrounding spaces."
        )));
    }
    Ok(())
}

// ---- projects ----

/// The project with this id, if any.
pub fn project(c: &mut Conn, id: &str) -> Result<Option<ProjectRow>> {
    opt(projects::table
        .find(id)
        .select(ProjectRow::as_select())
        .first(c))
}

/// The project named `name` in `domain_id`, if any.
pub fn project_by_name(c: &mut Conn, domain_id: &str, name: &str) -> Result<Option<ProjectRow>> {
    opt(projects::table
        .filter(projects::domain_id.eq(domain_id))
        .filter(projects::name.eq(name))
        .select(ProjectRow::as_select())
        .first(c))
}

/// A project by id, else by name in the default domain (the CLI's and
/// TempAuth's way of naming one).
pub fn resolve_project(c: &mut Conn, name_or_id: &str) -> Result<ProjectRow> {
    match project(c, name_or_id)? {
        Some(p) => Ok(p),
        None => project_by_name(c, DEFAULT_DOMAIN_ID, name_or_id)?.ok_or_else(|| Error::NotFound {
            kind: "project",
            id: name_or_id.into(),
        }),
    }
}

/// Projects, by name, optionally filtered by exact name and domain.
pub fn list_projects(
    c: &mut Conn,
    name: Option<&str>,
    domain_id: Option<&str>,
) -> Result<Vec<ProjectRow>> {
    let mut q = projects::table
        .select(ProjectRow::as_select())
        .order(projects::name)
        .into_boxed();
    if let Some(n) = name {
        q = q.filter(projects::name.eq(n.to_string()));
    }
    if let Some(d) = domain_id {
        q = q.filter(projects::domain_id.eq(d.to_string()));
    }
    Ok(q.load(c)?)
}

/// Creates a project; 409 if its name is taken in the domain.
pub fn create_project(
    c: &mut Conn,
    name: &str,
    domain_id: &str,
    description: &str,
) -> Result<ProjectRow> {
    check_project_name(name)?;
    domain(c, domain_id)?;
    if project_by_name(c, domain_id, name)?.is_some() {
        return Err(Error::Conflict {
            kind: "project",
            detail: format!("Duplicate entry found with name {name} at domain ID {domain_id}."),
        });
    }
    let row = ProjectRow {
        id: new_id(),
        name: name.into(),
        domain_id: domain_id.into(),
        description: description.into(),
        enabled: true,
        tags: "[]".into(),
    };
    diesel::insert_into(projects::table)
        .values(&row)
        .execute(c)?;
    Ok(row)
}

/// Deletes a project and its role assignments; users whose default project
/// it was lose that default rather than point at nothing.
pub fn delete_project(c: &mut Conn, id: &str) -> Result<()> {
    diesel::delete(role_assignments::table.filter(role_assignments::project_id.eq(id)))
        .execute(c)?;
    diesel::update(users::table.filter(users::default_project_id.eq(id)))
        .set(users::default_project_id.eq(None::<String>))
        .execute(c)?;
    let n = diesel::delete(projects::table.find(id)).execute(c)?;
    if n == 0 {
        return Err(Error::NotFound {
            kind: "project",
            id: id.into(),
        });
    }
    Ok(())
}

/// Saves a project's name, description, enabled flag and tags; 409 if the new
/// name is taken in its domain.
pub fn update_project(c: &mut Conn, p: &ProjectRow) -> Result<()> {
    check_project_name(&p.name)?;
    if project_by_name(c, &p.domain_id, &p.name)?.is_some_and(|o| o.id != p.id) {
        return Err(Error::Conflict {
            kind: "project",
            detail: format!(
                "Duplicate entry found with name {} at domain ID {}.",
                p.name, p.domain_id
            ),
        });
    }
    diesel::update(projects::table.find(&p.id))
        .set((
            projects::name.eq(&p.name),
            projects::description.eq(&p.description),
            projects::enabled.eq(p.enabled),
            projects::tags.eq(&p.tags),
        ))
        .execute(c)?;
    Ok(())
}

// ---- users ----

/// The user with this id, if any.
pub fn user(c: &mut Conn, id: &str) -> Result<Option<UserRow>> {
    opt(users::table.find(id).select(UserRow::as_select()).first(c))
}

/// The user named `name` in `domain_id`, if any.
pub fn user_by_name(c: &mut Conn, domain_id: &str, name: &str) -> Result<Option<UserRow>> {
    opt(users::table
        .filter(users::domain_id.eq(domain_id))
        .filter(users::name.eq(name))
        .select(UserRow::as_select())
        .first(c))
}

/// A user by id, else by name in the default domain.
pub fn resolve_user(c: &mut Conn, name_or_id: &str) -> Result<UserRow> {
    match user(c, name_or_id)? {
        Some(u) => Ok(u),
        None => user_by_name(c, DEFAULT_DOMAIN_ID, name_or_id)?.ok_or_else(|| Error::NotFound {
            kind: "user",
            id: name_or_id.into(),
        }),
    }
}

/// Users, by name, optionally filtered by exact name and domain.
pub fn list_users(
    c: &mut Conn,
    name: Option<&str>,
    domain_id: Option<&str>,
) -> Result<Vec<UserRow>> {
    let mut q = users::table
        .select(UserRow::as_select())
        .order(users::name)
        .into_boxed();
    if let Some(n) = name {
        q = q.filter(users::name.eq(n.to_string()));
    }
    if let Some(d) = domain_id {
        q = q.filter(users::domain_id.eq(d.to_string()));
    }
    Ok(q.load(c)?)
}

/// Fields of a new user; the password is hashed before the transaction so
/// the write lock is not held during hashing.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Name, unique in the domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Default project id, checked to exist.
    pub default_project_id: Option<String>,
    /// Argon2 hash, or empty for no password.
    pub password_hash: String,
    /// Whether the user may authenticate.
    pub enabled: bool,
    /// Further attributes: a JSON object.
    pub extra: String,
}

/// Creates a user; 409 if its name is taken in the domain.
pub fn create_user(c: &mut Conn, u: NewUser) -> Result<UserRow> {
    check_name(&u.name)?;
    domain(c, &u.domain_id)?;
    if let Some(p) = &u.default_project_id {
        project(c, p)?.ok_or_else(|| Error::NotFound {
            kind: "project",
            id: p.clone(),
        })?;
    }
    if user_by_name(c, &u.domain_id, &u.name)?.is_some() {
        return Err(Error::Conflict {
            kind: "user",
            detail: format!(
                "Duplicate entry found with name {} at domain ID {}.",
                u.name, u.domain_id
            ),
        });
    }
    let row = UserRow {
        id: new_id(),
        name: u.name,
        domain_id: u.domain_id,
        default_project_id: u.default_project_id,
        password_hash: u.password_hash,
        enabled: u.enabled,
        extra: u.extra,
    };
    diesel::insert_into(users::table).values(&row).execute(c)?;
    Ok(row)
}

/// Replaces a user's password hash.
pub fn set_password_hash(c: &mut Conn, user_id: &str, hash: &str) -> Result<()> {
    let n = diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(hash))
        .execute(c)?;
    if n == 0 {
        return Err(Error::NotFound {
            kind: "user",
            id: user_id.into(),
        });
    }
    Ok(())
}

/// Saves a user's name, default project, password hash and enabled flag;
/// 409 if the new name is taken in its domain, 404 if the default project
/// does not exist.
pub fn update_user(c: &mut Conn, u: &UserRow) -> Result<()> {
    check_name(&u.name)?;
    if let Some(p) = &u.default_project_id {
        project(c, p)?.ok_or_else(|| Error::NotFound {
            kind: "project",
            id: p.clone(),
        })?;
    }
    if user_by_name(c, &u.domain_id, &u.name)?.is_some_and(|o| o.id != u.id) {
        return Err(Error::Conflict {
            kind: "user",
            detail: format!(
                "Duplicate entry found with name {} at domain ID {}.",
                u.name, u.domain_id
            ),
        });
    }
    diesel::update(users::table.find(&u.id))
        .set((
            users::name.eq(&u.name),
            users::default_project_id.eq(&u.default_project_id),
            users::password_hash.eq(&u.password_hash),
            users::enabled.eq(u.enabled),
            users::extra.eq(&u.extra),
        ))
        .execute(c)?;
    Ok(())
}

/// Deletes a user and their role assignments.
pub fn delete_user(c: &mut Conn, id: &str) -> Result<()> {
    diesel::delete(role_assignments::table.filter(role_assignments::user_id.eq(id))).execute(c)?;
    diesel::delete(system_role_assignments::table.filter(system_role_assignments::user_id.eq(id)))
        .execute(c)?;
    let n = diesel::delete(users::table.find(id)).execute(c)?;
    if n == 0 {
        return Err(Error::NotFound {
            kind: "user",
            id: id.into(),
        });
    }
    Ok(())
}

// ---- roles ----

/// All roles, by name.
pub fn list_roles(c: &mut Conn, name: Option<&str>) -> Result<Vec<RoleRow>> {
    let mut q = roles::table
        .select(RoleRow::as_select())
        .order(roles::name)
        .into_boxed();
    if let Some(n) = name {
        q = q.filter(roles::name.eq(n.to_string()));
    }
    Ok(q.load(c)?)
}

/// The role with this id, if any.
pub fn role(c: &mut Conn, id: &str) -> Result<Option<RoleRow>> {
    opt(roles::table.find(id).select(RoleRow::as_select()).first(c))
}

/// A role by id, else by name.
pub fn resolve_role(c: &mut Conn, name_or_id: &str) -> Result<RoleRow> {
    if let Some(r) = role(c, name_or_id)? {
        return Ok(r);
    }
    opt(roles::table
        .filter(roles::name.eq(name_or_id))
        .select(RoleRow::as_select())
        .first(c))?
    .ok_or_else(|| Error::NotFound {
        kind: "role",
        id: name_or_id.into(),
    })
}

/// Roles with these names, in the order given; unknown names are skipped.
pub fn roles_by_names(c: &mut Conn, names: &[String]) -> Result<Vec<RoleRow>> {
    let rows: Vec<RoleRow> = roles::table
        .filter(roles::name.eq_any(names))
        .select(RoleRow::as_select())
        .load(c)?;
    Ok(names
        .iter()
        .filter_map(|n| rows.iter().find(|r| &r.name == n).cloned())
        .collect())
}

/// Creates a role; 409 if the name is taken.
pub fn create_role(c: &mut Conn, name: &str) -> Result<RoleRow> {
    check_role_name(name)?;
    role_name_free(c, name, None)?;
    let row = RoleRow {
        id: new_id(),
        name: name.into(),
    };
    diesel::insert_into(roles::table).values(&row).execute(c)?;
    Ok(row)
}

/// Renames a role; 409 if the name is taken.
pub fn rename_role(c: &mut Conn, id: &str, name: &str) -> Result<()> {
    check_role_name(name)?;
    role_name_free(c, name, Some(id))?;
    diesel::update(roles::table.find(id))
        .set(roles::name.eq(name))
        .execute(c)?;
    Ok(())
}

/// The (user, project) pairs that hold role `id`.
pub fn role_holders(c: &mut Conn, id: &str) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = role_assignments::table
        .filter(role_assignments::role_id.eq(id))
        .select((role_assignments::user_id, role_assignments::project_id))
        .load(c)?;
    let system: Vec<String> = system_role_assignments::table
        .filter(system_role_assignments::role_id.eq(id))
        .select(system_role_assignments::user_id)
        .load(c)?;
    out.extend(system.into_iter().map(|u| (u, SYSTEM.to_string())));
    out.extend(crate::groups::role_holders_via_groups(c, id)?);
    Ok(out)
}

/// Deletes a role and every assignment of it; returns the (user, project)
/// pairs that held it.
pub fn delete_role(c: &mut Conn, id: &str) -> Result<Vec<(String, String)>> {
    let holders = role_holders(c, id)?;
    diesel::delete(role_assignments::table.filter(role_assignments::role_id.eq(id))).execute(c)?;
    diesel::delete(system_role_assignments::table.filter(system_role_assignments::role_id.eq(id)))
        .execute(c)?;
    let n = diesel::delete(roles::table.find(id)).execute(c)?;
    if n == 0 {
        return Err(Error::NotFound {
            kind: "role",
            id: id.into(),
        });
    }
    Ok(holders)
}

fn role_name_free(c: &mut Conn, name: &str, except: Option<&str>) -> Result<()> {
    let taken = opt(roles::table
        .filter(roles::name.eq(name))
        .select(RoleRow::as_select())
        .first(c))?;
    if taken.is_some_and(|r| Some(r.id.as_str()) != except) {
        return Err(Error::Conflict {
            kind: "role",
            detail: format!("Duplicate entry found with name {name}."),
        });
    }
    Ok(())
}

fn check_role_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.trim() != name {
        return Err(Error::BadRequest(format!(
            "Invalid input for field 'name': {name:?} must be 1 to 255 characters without \
             surrounding spaces."
        )));
    }
    Ok(())
}

// ---- role assignments ----

/// Names of the roles `user_id` holds on `project_id`, directly or
/// through its groups, by name.
pub fn assigned_role_names(c: &mut Conn, user_id: &str, project_id: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = role_assignments::table
        .inner_join(roles::table)
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::project_id.eq(project_id))
        .select(roles::name)
        .load(c)?;
    names.extend(crate::groups::role_names_via_groups(
        c,
        user_id,
        Some(project_id),
    )?);
    names.sort();
    names.dedup();
    Ok(names)
}

/// Grants `role_id` on `project_id` to `user_id`; granting twice is a no-op.
pub fn add_assignment(c: &mut Conn, user_id: &str, project_id: &str, role_id: &str) -> Result<()> {
    diesel::insert_or_ignore_into(role_assignments::table)
        .values((
            role_assignments::user_id.eq(user_id),
            role_assignments::project_id.eq(project_id),
            role_assignments::role_id.eq(role_id),
        ))
        .execute(c)?;
    Ok(())
}

/// Removes a grant; 404 if it did not exist.
pub fn remove_assignment(
    c: &mut Conn,
    user_id: &str,
    project_id: &str,
    role_id: &str,
) -> Result<()> {
    let n =
        diesel::delete(role_assignments::table.find((user_id, project_id, role_id))).execute(c)?;
    if n == 0 {
        return Err(Error::AssignmentNotFound {
            role_id: role_id.into(),
            user_id: user_id.into(),
            project_id: project_id.into(),
        });
    }
    Ok(())
}

/// Assignments with their user, project and role, filtered by any of the three.
pub fn list_assignments(
    c: &mut Conn,
    user_id: Option<&str>,
    project_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<AssignmentRow>> {
    let mut q = role_assignments::table
        .inner_join(users::table)
        .inner_join(projects::table)
        .inner_join(roles::table)
        .select((
            UserRow::as_select(),
            ProjectRow::as_select(),
            RoleRow::as_select(),
        ))
        .order((users::name, projects::name, roles::name))
        .into_boxed();
    if let Some(u) = user_id {
        q = q.filter(role_assignments::user_id.eq(u.to_string()));
    }
    if let Some(p) = project_id {
        q = q.filter(role_assignments::project_id.eq(p.to_string()));
    }
    if let Some(r) = role_id {
        q = q.filter(role_assignments::role_id.eq(r.to_string()));
    }
    let rows: Vec<(UserRow, ProjectRow, RoleRow)> = q.load(c)?;
    Ok(rows
        .into_iter()
        .map(|(user, project, role)| AssignmentRow {
            user,
            project,
            role,
        })
        .collect())
}

/// Names of the roles `user_id` holds on the system, directly or through
/// its groups, by name.
pub fn system_role_names(c: &mut Conn, user_id: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = system_role_assignments::table
        .inner_join(roles::table)
        .filter(system_role_assignments::user_id.eq(user_id))
        .select(roles::name)
        .load(c)?;
    names.extend(crate::groups::role_names_via_groups(c, user_id, None)?);
    names.sort();
    names.dedup();
    Ok(names)
}

/// Grants `role_id` on the system to `user_id`; granting twice is a no-op.
pub fn add_system_assignment(c: &mut Conn, user_id: &str, role_id: &str) -> Result<()> {
    diesel::insert_or_ignore_into(system_role_assignments::table)
        .values((
            system_role_assignments::user_id.eq(user_id),
            system_role_assignments::role_id.eq(role_id),
        ))
        .execute(c)?;
    Ok(())
}

/// Removes a system grant; 404 if it did not exist.
pub fn remove_system_assignment(c: &mut Conn, user_id: &str, role_id: &str) -> Result<()> {
    let n = diesel::delete(system_role_assignments::table.find((user_id, role_id))).execute(c)?;
    if n == 0 {
        return Err(Error::AssignmentNotFound {
            role_id: role_id.into(),
            user_id: user_id.into(),
            project_id: SYSTEM.into(),
        });
    }
    Ok(())
}

/// System assignments with their user and role, filtered by either.
pub fn list_system_assignments(
    c: &mut Conn,
    user_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<SystemAssignmentRow>> {
    let mut q = system_role_assignments::table
        .inner_join(users::table)
        .inner_join(roles::table)
        .select((UserRow::as_select(), RoleRow::as_select()))
        .order((users::name, roles::name))
        .into_boxed();
    if let Some(u) = user_id {
        q = q.filter(system_role_assignments::user_id.eq(u.to_string()));
    }
    if let Some(r) = role_id {
        q = q.filter(system_role_assignments::role_id.eq(r.to_string()));
    }
    let rows: Vec<(UserRow, RoleRow)> = q.load(c)?;
    Ok(rows
        .into_iter()
        .map(|(user, role)| SystemAssignmentRow { user, role })
        .collect())
}

/// Projects on which `user_id` holds any role, by name.
pub fn projects_of_user(c: &mut Conn, user_id: &str) -> Result<Vec<ProjectRow>> {
    let via_groups = crate::groups::project_ids_via_groups(c, user_id)?;
    Ok(projects::table
        .filter(
            projects::id
                .eq_any(
                    role_assignments::table
                        .filter(role_assignments::user_id.eq(user_id))
                        .select(role_assignments::project_id),
                )
                .or(projects::id.eq_any(via_groups)),
        )
        .order(projects::name)
        .select(ProjectRow::as_select())
        .load(c)?)
}

/// Keystone's project names: at most 64 characters, besides [`check_name`].
fn check_project_name(name: &str) -> Result<()> {
    check_name(name)?;
    if name.chars().count() > 64 {
        return Err(Error::BadRequest(format!(
            "Invalid input for field 'name': {name:?} is too long (at most 64 characters)."
        )));
    }
    Ok(())
}

/// Names must be non-empty, short and free of `:` (TempAuth's separator).
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 || name.contains(':') || name.trim() != name {
        return Err(Error::BadRequest(format!(
            "Invalid input for field 'name': {name:?} must be 1 to 255 characters without ':' \
             or surrounding spaces."
        )));
    }
    Ok(())
}
