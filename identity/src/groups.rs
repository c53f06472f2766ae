//! Groups: their rows, their members and the roles granted to them, on a
//! project or on the system. A member holds every role its groups hold
//! (see `store::assigned_role_names`). Queries take a connection, as in
//! `store`; the `_tx` functions also record the token revocations a change
//! needs, as in `admin`.

use diesel::prelude::*;

use crate::admin::{revoking_all, Changed};
use crate::error::{Error, Result};
use crate::revoke::Revocation;
use crate::store::{self, ProjectRow, RoleRow, UserRow, SYSTEM};
use db::schema::{
    group_members as gm, group_role_assignments as gra, identity_groups as g, projects, roles,
    system_group_role_assignments as sgra, users,
};
use db::Conn;

/// A group row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = g)]
pub struct GroupRow {
    /// Group id.
    pub id: String,
    /// Name, unique in its domain.
    pub name: String,
    /// Owning domain.
    pub domain_id: String,
    /// Free text.
    pub description: String,
}

/// A role granted to a group, on a project or (`project: None`) the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAssignmentRow {
    /// The group.
    pub group: GroupRow,
    /// The project, or `None` for the system.
    pub project: Option<ProjectRow>,
    /// The role.
    pub role: RoleRow,
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        kind: "group",
        id: id.into(),
    }
}

/// The group `id`; 404 if there is none.
pub fn group(c: &mut Conn, id: &str) -> Result<GroupRow> {
    g::table
        .find(id)
        .select(GroupRow::as_select())
        .first(c)
        .optional()?
        .ok_or_else(|| not_found(id))
}

/// Groups by name, optionally filtered by exact name and domain.
pub fn list_groups(
    c: &mut Conn,
    name: Option<&str>,
    domain_id: Option<&str>,
) -> Result<Vec<GroupRow>> {
    let mut q = g::table
        .select(GroupRow::as_select())
        .order(g::name)
        .into_boxed();
    if let Some(n) = name {
        q = q.filter(g::name.eq(n.to_string()));
    }
    if let Some(d) = domain_id {
        q = q.filter(g::domain_id.eq(d.to_string()));
    }
    Ok(q.load(c)?)
}

/// 409 if `name` is taken in the domain by a group other than `except`.
fn name_free(c: &mut Conn, domain_id: &str, name: &str, except: Option<&str>) -> Result<()> {
    let other: Option<String> = g::table
        .filter(g::domain_id.eq(domain_id))
        .filter(g::name.eq(name))
        .select(g::id)
        .first(c)
        .optional()?;
    if other.is_some_and(|o| Some(o.as_str()) != except) {
        return Err(Error::Conflict {
            kind: "group",
            detail: format!("Duplicate entry found with name {name} at domain ID {domain_id}."),
        });
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(Error::BadRequest(
            "Invalid input for field 'name': a group name is 1 to 255 characters".into(),
        ));
    }
    Ok(())
}

/// Creates a group in `domain_id` (checked to exist); 409 on a taken name.
pub fn create_group(
    c: &mut Conn,
    name: &str,
    domain_id: &str,
    description: &str,
) -> Result<GroupRow> {
    check_name(name)?;
    store::domain(c, domain_id)?;
    name_free(c, domain_id, name, None)?;
    let row = GroupRow {
        id: store::new_id(),
        name: name.into(),
        domain_id: domain_id.into(),
        description: description.into(),
    };
    diesel::insert_into(g::table).values(&row).execute(c)?;
    Ok(row)
}

/// Saves a group's name and description; 409 on a taken name.
pub fn update_group(c: &mut Conn, row: &GroupRow) -> Result<()> {
    check_name(&row.name)?;
    name_free(c, &row.domain_id, &row.name, Some(&row.id))?;
    diesel::update(g::table.find(&row.id))
        .set((g::name.eq(&row.name), g::description.eq(&row.description)))
        .execute(c)?;
    Ok(())
}

/// Ids of a group's members.
pub fn member_ids(c: &mut Conn, gid: &str) -> Result<Vec<String>> {
    Ok(gm::table
        .filter(gm::group_id.eq(gid))
        .select(gm::user_id)
        .load(c)?)
}

/// A group's members, by name.
pub fn members(c: &mut Conn, gid: &str) -> Result<Vec<UserRow>> {
    Ok(gm::table
        .inner_join(users::table)
        .filter(gm::group_id.eq(gid))
        .order(users::name)
        .select(UserRow::as_select())
        .load(c)?)
}

/// The groups `uid` belongs to, by name.
pub fn groups_of_user(c: &mut Conn, uid: &str) -> Result<Vec<GroupRow>> {
    Ok(gm::table
        .inner_join(g::table)
        .filter(gm::user_id.eq(uid))
        .order(g::name)
        .select(GroupRow::as_select())
        .load(c)?)
}

/// Whether `uid` is a member of `gid`.
pub fn is_member(c: &mut Conn, gid: &str, uid: &str) -> Result<bool> {
    Ok(gm::table.find((gid, uid)).count().get_result::<i64>(c)? > 0)
}

/// Adds `uid` to `gid`; adding twice is a no-op.
pub fn add_member(c: &mut Conn, gid: &str, uid: &str) -> Result<()> {
    diesel::insert_or_ignore_into(gm::table)
        .values((gm::group_id.eq(gid), gm::user_id.eq(uid)))
        .execute(c)?;
    Ok(())
}

/// Keystone's answer for a user that is not in a group.
pub fn not_member(gid: &str, uid: &str) -> Error {
    Error::NotFoundMessage(format!("'{uid}' not found in '{gid}'"))
}

/// Removes `uid` from `gid` and revokes the user's tokens (their roles
/// through the group are gone); 404 if not a member.
pub(crate) fn remove_member_tx(
    c: &mut Conn,
    gid: &str,
    uid: &str,
    exp_us: i64,
) -> Result<Changed<()>> {
    let n = diesel::delete(gm::table.find((gid, uid))).execute(c)?;
    if n == 0 {
        return Err(not_member(gid, uid));
    }
    let r = Revocation::User {
        user_id: uid.into(),
        at_us: db::now_micros(),
    };
    revoking_all(c, (), vec![r], exp_us)
}

/// Deletes a group with its memberships and grants, revoking the tokens
/// of its members.
pub(crate) fn delete_group_tx(c: &mut Conn, gid: &str, exp_us: i64) -> Result<Changed<GroupRow>> {
    let row = group(c, gid)?;
    let at_us = db::now_micros();
    let revoked = member_ids(c, gid)?
        .into_iter()
        .map(|user_id| Revocation::User { user_id, at_us })
        .collect();
    delete_group(c, gid)?;
    revoking_all(c, row, revoked, exp_us)
}

/// Deletes a group, its memberships and its grants (no revocation: for a
/// domain deletion, which revokes on its own).
pub fn delete_group(c: &mut Conn, gid: &str) -> Result<()> {
    diesel::delete(gm::table.filter(gm::group_id.eq(gid))).execute(c)?;
    diesel::delete(gra::table.filter(gra::group_id.eq(gid))).execute(c)?;
    diesel::delete(sgra::table.filter(sgra::group_id.eq(gid))).execute(c)?;
    diesel::delete(g::table.find(gid)).execute(c)?;
    Ok(())
}

/// Grants `rid` on `pid` (or, `None`, on the system) to `gid`; idempotent.
pub fn add_grant(c: &mut Conn, gid: &str, pid: Option<&str>, rid: &str) -> Result<()> {
    match pid {
        Some(pid) => diesel::insert_or_ignore_into(gra::table)
            .values((
                gra::group_id.eq(gid),
                gra::project_id.eq(pid),
                gra::role_id.eq(rid),
            ))
            .execute(c)?,
        None => diesel::insert_or_ignore_into(sgra::table)
            .values((sgra::group_id.eq(gid), sgra::role_id.eq(rid)))
            .execute(c)?,
    };
    Ok(())
}

fn no_grant(gid: &str, pid: Option<&str>, rid: &str) -> Error {
    Error::AssignmentNotFound {
        role_id: rid.into(),
        user_id: gid.into(),
        project_id: pid.unwrap_or(SYSTEM).into(),
    }
}

/// Whether `gid` holds `rid` on `pid` (or the system).
pub fn has_grant(c: &mut Conn, gid: &str, pid: Option<&str>, rid: &str) -> Result<bool> {
    let n: i64 = match pid {
        Some(pid) => gra::table.find((gid, pid, rid)).count().get_result(c)?,
        None => sgra::table.find((gid, rid)).count().get_result(c)?,
    };
    Ok(n > 0)
}

/// Removes a group grant and revokes its members' tokens on that project
/// (or their system-scoped tokens); 404 if it did not exist.
pub(crate) fn remove_grant_tx(
    c: &mut Conn,
    gid: &str,
    pid: Option<&str>,
    rid: &str,
    exp_us: i64,
) -> Result<Changed<()>> {
    let n = match pid {
        Some(pid) => diesel::delete(gra::table.find((gid, pid, rid))).execute(c)?,
        None => diesel::delete(sgra::table.find((gid, rid))).execute(c)?,
    };
    if n == 0 {
        return Err(no_grant(gid, pid, rid));
    }
    let at_us = db::now_micros();
    let target = pid.unwrap_or(SYSTEM);
    let revoked = member_ids(c, gid)?
        .into_iter()
        .map(|user_id| Revocation::Grant {
            user_id,
            project_id: target.into(),
            at_us,
        })
        .collect();
    revoking_all(c, (), revoked, exp_us)
}

/// Group grants with their group, project and role, filtered by group,
/// project, role; `system` picks system grants, project grants or both
/// (`None`).
pub fn list_grants(
    c: &mut Conn,
    gid: Option<&str>,
    pid: Option<&str>,
    rid: Option<&str>,
    system: Option<bool>,
) -> Result<Vec<GroupAssignmentRow>> {
    let mut out = Vec::new();
    if system != Some(true) {
        let mut q = gra::table
            .inner_join(g::table)
            .inner_join(projects::table)
            .inner_join(roles::table)
            .select((
                GroupRow::as_select(),
                ProjectRow::as_select(),
                RoleRow::as_select(),
            ))
            .order((g::name, projects::name, roles::name))
            .into_boxed();
        if let Some(x) = gid {
            q = q.filter(gra::group_id.eq(x.to_string()));
        }
        if let Some(x) = pid {
            q = q.filter(gra::project_id.eq(x.to_string()));
        }
        if let Some(x) = rid {
            q = q.filter(gra::role_id.eq(x.to_string()));
        }
        let rows: Vec<(GroupRow, ProjectRow, RoleRow)> = q.load(c)?;
        out.extend(
            rows.into_iter()
                .map(|(group, project, role)| GroupAssignmentRow {
                    group,
                    project: Some(project),
                    role,
                }),
        );
    }
    if system != Some(false) && pid.is_none() {
        let mut q = sgra::table
            .inner_join(g::table)
            .inner_join(roles::table)
            .select((GroupRow::as_select(), RoleRow::as_select()))
            .order((g::name, roles::name))
            .into_boxed();
        if let Some(x) = gid {
            q = q.filter(sgra::group_id.eq(x.to_string()));
        }
        if let Some(x) = rid {
            q = q.filter(sgra::role_id.eq(x.to_string()));
        }
        let rows: Vec<(GroupRow, RoleRow)> = q.load(c)?;
        out.extend(rows.into_iter().map(|(group, role)| GroupAssignmentRow {
            group,
            project: None,
            role,
        }));
    }
    Ok(out)
}

/// Names of the roles `uid` holds on `pid` (or, `None`, the system)
/// through its groups.
pub fn role_names_via_groups(c: &mut Conn, uid: &str, pid: Option<&str>) -> Result<Vec<String>> {
    let mine = gm::table
        .filter(gm::user_id.eq(uid.to_string()))
        .select(gm::group_id);
    Ok(match pid {
        Some(pid) => gra::table
            .inner_join(roles::table)
            .filter(gra::group_id.eq_any(mine))
            .filter(gra::project_id.eq(pid.to_string()))
            .select(roles::name)
            .distinct()
            .load(c)?,
        None => sgra::table
            .inner_join(roles::table)
            .filter(sgra::group_id.eq_any(mine))
            .select(roles::name)
            .distinct()
            .load(c)?,
    })
}

/// Ids of the projects `uid` holds a role on through its groups.
pub fn project_ids_via_groups(c: &mut Conn, uid: &str) -> Result<Vec<String>> {
    let mine = gm::table
        .filter(gm::user_id.eq(uid.to_string()))
        .select(gm::group_id);
    Ok(gra::table
        .filter(gra::group_id.eq_any(mine))
        .select(gra::project_id)
        .distinct()
        .load(c)?)
}

/// (user, project id or [`SYSTEM`]) pairs holding role `rid` through a
/// group, for revocations when the role changes.
pub fn role_holders_via_groups(c: &mut Conn, rid: &str) -> Result<Vec<(String, String)>> {
    let on_projects: Vec<(String, String)> = gra::table
        .inner_join(gm::table.on(gm::group_id.eq(gra::group_id)))
        .filter(gra::role_id.eq(rid))
        .select((gm::user_id, gra::project_id))
        .load(c)?;
    let on_system: Vec<String> = sgra::table
        .inner_join(gm::table.on(gm::group_id.eq(sgra::group_id)))
        .filter(sgra::role_id.eq(rid))
        .select(gm::user_id)
        .load(c)?;
    Ok(on_projects
        .into_iter()
        .chain(on_system.into_iter().map(|u| (u, SYSTEM.to_string())))
        .collect())
}

/// Deletes every group of a domain.
pub fn delete_domain_groups(c: &mut Conn, domain_id: &str) -> Result<()> {
    let ids: Vec<String> = g::table
        .filter(g::domain_id.eq(domain_id))
        .select(g::id)
        .load(c)?;
    for gid in ids {
        delete_group(c, &gid)?;
    }
    Ok(())
}
