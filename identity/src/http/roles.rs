//! Roles, grants, role assignments and domains.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    admin_caller, base_url, caller, collection_links, parse_json, query, query_flag, reader_caller,
};
use crate::dto::{
    AssignmentLinks, AssignmentScope, CreateDomainRequest, CreateRoleRequest, Domain, DomainRef,
    DomainResponse, DomainsResponse, ErrorResponse, NamedRef, Role, RoleAssignment,
    RoleAssignmentsResponse, RoleResponse, RolesResponse, SelfLink, SystemRef, UpdateDomainRequest,
    UpdateRoleRequest,
};
use crate::error::{Error, Result};
use crate::groups::{self, GroupAssignmentRow};
use crate::store::{self, AssignmentRow, DomainRow, RoleRow, SystemAssignmentRow};
use crate::{admin, Identity};

fn role_json(base: &str, r: RoleRow) -> Role {
    Role {
        links: SelfLink {
            self_: format!("{base}/v3/roles/{}", r.id),
        },
        id: r.id,
        name: r.name,
        domain_id: None,
        description: None,
        options: serde_json::json!({}),
    }
}

pub(crate) fn roles_response(req: &HttpRequest, rows: Vec<RoleRow>) -> HttpResponse {
    let base = base_url(req);
    HttpResponse::Ok().json(RolesResponse {
        roles: rows.into_iter().map(|r| role_json(&base, r)).collect(),
        links: collection_links(req),
    })
}

/// All roles (admin), optionally filtered by `name`.
#[utoipa::path(
    get,
    path = "/v3/roles",
    tag = "roles",
    params(("name" = Option<String>, Query, description = "Exact name")),
    responses(
        (status = 200, description = "Roles", body = RolesResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
    )
)]
pub(crate) async fn list_roles(req: HttpRequest, id: web::Data<Identity>) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_roles").await?;
    let q = query(&req)?;
    let rows = id
        .read(move |c| store::list_roles(c, q.get("name").map(String::as_str)))
        .await?;
    Ok(roles_response(&req, rows))
}

/// One role (admin).
#[utoipa::path(
    get,
    path = "/v3/roles/{role_id}",
    tag = "roles",
    params(("role_id" = String, Path, description = "Role id")),
    responses(
        (status = 200, description = "The role", body = RoleResponse),
        (status = 404, description = "No such role", body = ErrorResponse),
    )
)]
pub(crate) async fn get_role(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:get_role").await?;
    let rid = path.into_inner();
    let r = id
        .read(move |c| {
            store::role(c, &rid)?.ok_or(Error::NotFound {
                kind: "role",
                id: rid,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(RoleResponse {
        role: role_json(&base_url(&req), r),
    }))
}

/// Ids of a grant path, each checked to exist (404 naming the missing one).
fn grant_target(c: &mut db::Conn, pid: &str, uid: &str, rid: Option<&str>) -> Result<()> {
    store::require_project(c, pid)?;
    store::require_user(c, uid)?;
    if let Some(rid) = rid {
        store::require_role(c, rid)?;
    }
    Ok(())
}

/// Roles a user holds on a project (admin).
#[utoipa::path(
    get,
    path = "/v3/projects/{project_id}/users/{user_id}/roles",
    tag = "roles",
    params(("project_id" = String, Path, description = "Project id"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, description = "Roles", body = RolesResponse))
)]
pub(crate) async fn list_grants(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_grants").await?;
    let (pid, uid) = path.into_inner();
    let rows = id
        .read(move |c| {
            grant_target(c, &pid, &uid, None)?;
            Ok(store::list_assignments(c, Some(&uid), Some(&pid), None)?
                .into_iter()
                .map(|a| a.role)
                .collect())
        })
        .await?;
    Ok(roles_response(&req, rows))
}

/// Grants a role on a project to a user (admin); idempotent.
#[utoipa::path(
    put,
    path = "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
    tag = "roles",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "User id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Granted"), (status = 404, description = "Unknown id", body = ErrorResponse))
)]
pub(crate) async fn create_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_grant").await?;
    let (pid, uid, rid) = path.into_inner();
    id.write(move |c| {
        grant_target(c, &pid, &uid, Some(&rid))?;
        store::add_assignment(c, &uid, &pid, &rid)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Checks a grant (admin): 204 if it exists.
#[utoipa::path(
    head,
    path = "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
    tag = "roles",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "User id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Granted"), (status = 404, description = "Not granted"))
)]
pub(crate) async fn check_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:check_grant").await?;
    let (pid, uid, rid) = path.into_inner();
    id.read(move |c| {
        grant_target(c, &pid, &uid, Some(&rid))?;
        if store::list_assignments(c, Some(&uid), Some(&pid), Some(&rid))?.is_empty() {
            return Err(Error::AssignmentNotFound {
                role_id: rid,
                user_id: uid,
                project_id: pid,
            });
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a grant and revokes the user's tokens on the project (admin).
#[utoipa::path(
    delete,
    path = "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
    tag = "roles",
    params(
        ("project_id" = String, Path, description = "Project id"),
        ("user_id" = String, Path, description = "User id"),
        ("role_id" = String, Path, description = "Role id"),
    ),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not granted", body = ErrorResponse))
)]
pub(crate) async fn revoke_grant(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:revoke_grant").await?;
    let (pid, uid, rid) = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            grant_target(c, &pid, &uid, Some(&rid))?;
            admin::remove_role_tx(c, &uid, &pid, &rid, exp)
        })
        .await?;
    id.apply(ch);
    Ok(HttpResponse::NoContent().finish())
}

/// How role assignments are rendered: the domains (for names) and
/// whether names are wanted.
struct AssignmentView<'a> {
    base: String,
    domains: &'a [DomainRow],
    names: bool,
}

impl AssignmentView<'_> {
    fn dom(&self, id: &str) -> Option<DomainRef> {
        self.names.then(|| DomainRef {
            id: id.into(),
            name: self
                .domains
                .iter()
                .find(|d| d.id == id)
                .map(|d| d.name.clone())
                .unwrap_or_default(),
        })
    }

    fn named(&self, id: String, name: String, domain_id: Option<&str>) -> NamedRef {
        NamedRef {
            domain: domain_id.and_then(|d| self.dom(d)),
            name: self.names.then_some(name),
            id,
        }
    }

    fn project(&self, a: AssignmentRow) -> RoleAssignment {
        let base = &self.base;
        RoleAssignment {
            links: AssignmentLinks {
                assignment: format!(
                    "{base}/v3/projects/{}/users/{}/roles/{}",
                    a.project.id, a.user.id, a.role.id
                ),
                membership: None,
            },
            role: self.named(a.role.id, a.role.name, None),
            user: Some(self.named(a.user.id, a.user.name, Some(&a.user.domain_id))),
            group: None,
            scope: AssignmentScope {
                project: Some(self.named(a.project.id, a.project.name, Some(&a.project.domain_id))),
                system: None,
            },
        }
    }

    fn system(&self, a: SystemAssignmentRow) -> RoleAssignment {
        let base = &self.base;
        RoleAssignment {
            links: AssignmentLinks {
                assignment: format!("{base}/v3/system/users/{}/roles/{}", a.user.id, a.role.id),
                membership: None,
            },
            role: self.named(a.role.id, a.role.name, None),
            user: Some(self.named(a.user.id, a.user.name, Some(&a.user.domain_id))),
            group: None,
            scope: AssignmentScope {
                project: None,
                system: Some(SystemRef::ALL),
            },
        }
    }

    fn scope(&self, project: Option<store::ProjectRow>) -> AssignmentScope {
        match project {
            Some(p) => AssignmentScope {
                project: Some(self.named(p.id, p.name, Some(&p.domain_id))),
                system: None,
            },
            None => AssignmentScope {
                project: None,
                system: Some(SystemRef::ALL),
            },
        }
    }

    fn grant_link(&self, a: &GroupAssignmentRow) -> String {
        let base = &self.base;
        match &a.project {
            Some(p) => format!(
                "{base}/v3/projects/{}/groups/{}/roles/{}",
                p.id, a.group.id, a.role.id
            ),
            None => format!("{base}/v3/system/groups/{}/roles/{}", a.group.id, a.role.id),
        }
    }

    /// A group's own assignment.
    fn group(&self, a: GroupAssignmentRow) -> RoleAssignment {
        let assignment = self.grant_link(&a);
        RoleAssignment {
            links: AssignmentLinks {
                assignment,
                membership: None,
            },
            role: self.named(a.role.id, a.role.name, None),
            user: None,
            group: Some(self.named(a.group.id, a.group.name, Some(&a.group.domain_id))),
            scope: self.scope(a.project),
        }
    }

    /// What a group's assignment gives one member (`effective`).
    fn through_group(&self, a: &GroupAssignmentRow, u: &store::UserRow) -> RoleAssignment {
        RoleAssignment {
            links: AssignmentLinks {
                assignment: self.grant_link(a),
                membership: Some(format!(
                    "{}/v3/groups/{}/users/{}",
                    self.base, a.group.id, u.id
                )),
            },
            role: self.named(a.role.id.clone(), a.role.name.clone(), None),
            user: Some(self.named(u.id.clone(), u.name.clone(), Some(&u.domain_id))),
            group: None,
            scope: self.scope(a.project.clone()),
        }
    }
}

/// Role assignments (admin or system reader) of users and groups,
/// filtered by `user.id`, `group.id`, `role.id` and the scope
/// (`scope.project.id`, `scope.system`); `effective` replaces group
/// assignments by what they give each member; `include_names` adds names
/// as `openstack role assignment list --names` asks. Domain and inherited
/// assignments do not exist here, so filtering on them yields an empty
/// list.
#[utoipa::path(
    get,
    path = "/v3/role_assignments",
    tag = "roles",
    params(
        ("user.id" = Option<String>, Query, description = "User id"),
        ("group.id" = Option<String>, Query, description = "Group id"),
        ("scope.project.id" = Option<String>, Query, description = "Project id"),
        ("scope.system" = Option<String>, Query, description = "System assignments only (`all`)"),
        ("role.id" = Option<String>, Query, description = "Role id"),
        ("include_names" = Option<String>, Query, description = "Add names"),
        ("effective" = Option<String>, Query, description = "Expand group assignments to their members"),
    ),
    responses(
        (status = 200, description = "Assignments", body = RoleAssignmentsResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
    )
)]
pub(crate) async fn list_role_assignments(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_role_assignments").await?;
    let q = query(&req)?;
    let names = query_flag(&q, "include_names");
    let effective = query_flag(&q, "effective");
    let none_here = ["scope.domain.id", "scope.OS-INHERIT:inherited_to"]
        .iter()
        .any(|k| q.contains_key(*k));
    let want_system = !q.contains_key("scope.project.id");
    let want_project = !q.contains_key("scope.system");
    let scope = match (want_project, want_system) {
        (true, true) => None,
        (want_project, _) => Some(!want_project),
    };
    let by_group = q.contains_key("group.id");
    let by_user = q.contains_key("user.id");
    let (listing, domains) = if none_here {
        (Listing::default(), Vec::new())
    } else {
        id.read(move |c| {
            let get = |k: &str| q.get(k).map(String::as_str);
            let mut l = Listing::default();
            if !by_group {
                if want_project {
                    l.projects = store::list_assignments(
                        c,
                        get("user.id"),
                        get("scope.project.id"),
                        get("role.id"),
                    )?;
                }
                if want_system {
                    l.systems = store::list_system_assignments(c, get("user.id"), get("role.id"))?;
                }
            }
            // A user's own listing shows group grants only as what they
            // give the user (`effective`).
            if by_group || !by_user || effective {
                let grants = groups::list_grants(
                    c,
                    get("group.id"),
                    get("scope.project.id"),
                    get("role.id"),
                    scope,
                )?;
                for a in grants {
                    if effective && !by_group {
                        let members = groups::members(c, &a.group.id)?
                            .into_iter()
                            .filter(|u| get("user.id").is_none_or(|x| x == u.id))
                            .map(|u| u.redacted())
                            .collect();
                        l.expanded.push((a, members));
                    } else {
                        l.groups.push(a);
                    }
                }
            }
            Ok((l, store::list_domains(c)?))
        })
        .await?
    };
    let view = AssignmentView {
        base: base_url(&req),
        domains: &domains,
        names,
    };
    let mut role_assignments: Vec<RoleAssignment> = listing
        .projects
        .into_iter()
        .map(|a| view.project(a))
        .chain(listing.systems.into_iter().map(|a| view.system(a)))
        .chain(listing.groups.into_iter().map(|a| view.group(a)))
        .collect();
    for (a, members) in &listing.expanded {
        role_assignments.extend(members.iter().map(|u| view.through_group(a, u)));
    }
    Ok(HttpResponse::Ok().json(RoleAssignmentsResponse {
        role_assignments,
        links: collection_links(&req),
    }))
}

/// The rows of a role assignment listing.
#[derive(Default)]
struct Listing {
    projects: Vec<AssignmentRow>,
    systems: Vec<SystemAssignmentRow>,
    groups: Vec<GroupAssignmentRow>,
    /// Group assignments with the members they reach (`effective`).
    expanded: Vec<(GroupAssignmentRow, Vec<store::UserRow>)>,
}

fn domain_json(base: &str, d: DomainRow) -> Domain {
    Domain {
        links: SelfLink {
            self_: format!("{base}/v3/domains/{}", d.id),
        },
        description: d.description,
        id: d.id,
        name: d.name,
        enabled: d.enabled,
        tags: Vec::new(),
        options: serde_json::json!({}),
    }
}

/// All domains (admin).
#[utoipa::path(
    get,
    path = "/v3/domains",
    tag = "domains",
    params(
        ("name" = Option<String>, Query, description = "Exact name"),
        ("enabled" = Option<bool>, Query, description = "Only enabled (or disabled) domains"),
    ),
    responses((status = 200, description = "Domains", body = DomainsResponse), (status = 403, description = "Not admin", body = ErrorResponse))
)]
pub(crate) async fn list_domains(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_domains").await?;
    let q = query(&req)?;
    let enabled = super::enabled_filter(&q);
    let rows = id.read(store::list_domains).await?;
    let base = base_url(&req);
    Ok(HttpResponse::Ok().json(DomainsResponse {
        domains: rows
            .into_iter()
            .filter(|d| q.get("name").is_none_or(|n| *n == d.name))
            .filter(|d| enabled.is_none_or(|e| d.enabled == e))
            .map(|d| domain_json(&base, d))
            .collect(),
        links: collection_links(&req),
    }))
}

/// One domain (admins, and members of its projects).
#[utoipa::path(
    get,
    path = "/v3/domains/{domain_id}",
    tag = "domains",
    params(("domain_id" = String, Path, description = "Domain id")),
    responses((status = 200, description = "The domain", body = DomainResponse), (status = 404, description = "No such domain", body = ErrorResponse))
)]
pub(crate) async fn get_domain(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let did = path.into_inner();
    // Keystone's default policy: admins, and anyone whose token is scoped
    // to a project of this domain.
    let ctx = caller(&req, &id).await?;
    if !ctx.is_admin()
        && !ctx.is_system_reader()
        && ctx.project_domain_id.as_deref() != Some(did.as_str())
    {
        return Err(Error::Forbidden {
            action: "identity:get_domain".into(),
        });
    }
    let d = id.read(move |c| store::domain(c, &did)).await?;
    Ok(HttpResponse::Ok().json(DomainResponse {
        domain: domain_json(&base_url(&req), d),
    }))
}

/// Creates a global role (admin). Tokens carry role names, so a custom
/// role such as `swiftoperator` means what the services' configuration
/// says it means.
#[utoipa::path(
    post,
    path = "/v3/roles",
    tag = "roles",
    request_body = CreateRoleRequest,
    responses(
        (status = 201, description = "Created", body = RoleResponse),
        (status = 400, description = "Malformed, or a domain-specific role", body = ErrorResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn create_role(
    req: HttpRequest,
    id: web::Data<Identity>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_role").await?;
    let r: CreateRoleRequest = parse_json(&body)?;
    if r.role.domain_id.is_some() {
        return Err(Error::BadRequest(
            "Domain-specific roles are not supported: roles are global.".into(),
        ));
    }
    let name = r.role.name;
    let row = id.write(move |c| store::create_role(c, &name)).await?;
    tracing::info!(role_id = %row.id, name = %row.name, "role created");
    Ok(HttpResponse::Created().json(RoleResponse {
        role: role_json(&base_url(&req), row),
    }))
}

/// Renames a role (admin); the built-in admin, member and reader cannot be.
#[utoipa::path(
    patch,
    path = "/v3/roles/{role_id}",
    tag = "roles",
    params(("role_id" = String, Path, description = "Role id")),
    request_body = UpdateRoleRequest,
    responses(
        (status = 200, description = "Updated", body = RoleResponse),
        (status = 403, description = "Not admin, or a built-in role", body = ErrorResponse),
        (status = 404, description = "No such role", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn update_role(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:update_role").await?;
    let rid = path.into_inner();
    let r: UpdateRoleRequest = parse_json(&body)?;
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            let cur = store::role(c, &rid)?.ok_or_else(|| Error::NotFound {
                kind: "role",
                id: rid.clone(),
            })?;
            match r.role.name {
                Some(n) if n != cur.name => admin::rename_role_tx(c, &rid, &n, exp),
                _ => Ok(admin::Changed {
                    value: cur,
                    revoked: Vec::new(),
                }),
            }
        })
        .await?;
    let row = id.apply(ch);
    tracing::info!(role_id = %row.id, name = %row.name, "role updated");
    Ok(HttpResponse::Ok().json(RoleResponse {
        role: role_json(&base_url(&req), row),
    }))
}

/// Deletes a role and its assignments (admin), revoking the tokens of the
/// users that held it; the built-in roles cannot be deleted.
#[utoipa::path(
    delete,
    path = "/v3/roles/{role_id}",
    tag = "roles",
    params(("role_id" = String, Path, description = "Role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not admin, or a built-in role", body = ErrorResponse),
        (status = 404, description = "No such role", body = ErrorResponse),
    )
)]
pub(crate) async fn delete_role(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:delete_role").await?;
    let rid = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            store::role(c, &rid)?.ok_or_else(|| Error::NotFound {
                kind: "role",
                id: rid.clone(),
            })?;
            admin::delete_role_tx(c, &rid, exp)
        })
        .await?;
    let r = id.apply(ch);
    tracing::info!(role_id = %r.id, name = %r.name, "role deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Creates a domain (admin).
#[utoipa::path(
    post,
    path = "/v3/domains",
    tag = "domains",
    request_body = CreateDomainRequest,
    responses(
        (status = 201, description = "Created", body = DomainResponse),
        (status = 400, description = "Malformed", body = ErrorResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn create_domain(
    req: HttpRequest,
    id: web::Data<Identity>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_domain").await?;
    let r: CreateDomainRequest = parse_json(&body)?;
    let d = r.domain;
    let row = id
        .write(move |c| {
            store::create_domain(
                c,
                &d.name,
                d.description.as_deref().unwrap_or(""),
                d.enabled.unwrap_or(true),
            )
        })
        .await?;
    tracing::info!(domain_id = %row.id, name = %row.name, "domain created");
    Ok(HttpResponse::Created().json(DomainResponse {
        domain: domain_json(&base_url(&req), row),
    }))
}

/// Changes a domain's name, description or enabled flag (admin).
/// Disabling it refuses logins of its users and revokes their tokens and
/// those scoped to its projects.
#[utoipa::path(
    patch,
    path = "/v3/domains/{domain_id}",
    tag = "domains",
    params(("domain_id" = String, Path, description = "Domain id")),
    request_body = UpdateDomainRequest,
    responses(
        (status = 200, description = "Updated", body = DomainResponse),
        (status = 400, description = "Malformed", body = ErrorResponse),
        (status = 403, description = "Not admin, or disabling the default domain", body = ErrorResponse),
        (status = 404, description = "No such domain", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn update_domain(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:update_domain").await?;
    let did = path.into_inner();
    let r: UpdateDomainRequest = parse_json(&body)?;
    let u = r.domain;
    if u.id.as_ref().is_some_and(|i| *i != did) {
        return Err(Error::BadRequest("Cannot change ID".into()));
    }
    let changes = admin::DomainChanges {
        name: u.name,
        description: u.description.map(Option::unwrap_or_default),
        enabled: u.enabled,
    };
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| admin::update_domain_tx(c, &did, changes, exp))
        .await?;
    let d = id.apply(ch);
    tracing::info!(domain_id = %d.id, enabled = d.enabled, "domain updated");
    Ok(HttpResponse::Ok().json(DomainResponse {
        domain: domain_json(&base_url(&req), d),
    }))
}

/// Deletes a disabled domain with its projects and users (admin).
#[utoipa::path(
    delete,
    path = "/v3/domains/{domain_id}",
    tag = "domains",
    params(("domain_id" = String, Path, description = "Domain id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not admin, enabled, or the default domain", body = ErrorResponse),
        (status = 404, description = "No such domain", body = ErrorResponse),
    )
)]
pub(crate) async fn delete_domain(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:delete_domain").await?;
    let did = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| admin::delete_domain_tx(c, &did, exp))
        .await?;
    let d = id.apply(ch);
    tracing::info!(domain_id = %d.id, name = %d.name, "domain deleted");
    Ok(HttpResponse::NoContent().finish())
}
