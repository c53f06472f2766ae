//! Projects: `/v3/projects`, `/v3/auth/projects`, `/v3/users/{id}/projects`.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{admin_caller, base_url, caller, collection_links, parse_json, query, reader_caller};
use crate::dto::{
    CreateProjectRequest, ErrorResponse, Project, ProjectResponse, ProjectTags, ProjectsResponse,
    SelfLink, UpdateProjectRequest,
};
use crate::error::{Error, Result};
use crate::store::{self, ProjectRow, DEFAULT_DOMAIN_ID};
use crate::{admin, Identity};

pub(crate) fn project_json(base: &str, p: ProjectRow) -> Project {
    let tags = store::project_tags(&p);
    Project {
        links: SelfLink {
            self_: format!("{base}/v3/projects/{}", p.id),
        },
        parent_id: p.domain_id.clone(),
        id: p.id,
        name: p.name,
        domain_id: p.domain_id,
        description: p.description,
        enabled: p.enabled,
        is_domain: false,
        tags,
        options: serde_json::json!({}),
    }
}

fn projects_response(req: &HttpRequest, rows: Vec<ProjectRow>) -> HttpResponse {
    let base = base_url(req);
    HttpResponse::Ok().json(ProjectsResponse {
        projects: rows.into_iter().map(|p| project_json(&base, p)).collect(),
        links: collection_links(req),
    })
}

/// Projects the caller may scope to (holds a role on).
#[utoipa::path(
    get,
    path = "/v3/auth/projects",
    tag = "projects",
    params(("X-Auth-Token" = String, Header, description = "Caller's token")),
    responses(
        (status = 200, description = "Projects", body = ProjectsResponse),
        (status = 401, description = "Token invalid", body = ErrorResponse),
    )
)]
pub(crate) async fn auth_projects(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let rows = id
        .read(move |c| store::projects_of_user(c, &ctx.user_id))
        .await?;
    Ok(projects_response(
        &req,
        rows.into_iter().filter(|p| p.enabled).collect(),
    ))
}

/// Projects a user holds a role on: the user themself or an admin.
#[utoipa::path(
    get,
    path = "/v3/users/{user_id}/projects",
    tag = "projects",
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "Projects", body = ProjectsResponse),
        (status = 403, description = "Not the user nor admin", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    )
)]
pub(crate) async fn list_user_projects(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let uid = path.into_inner();
    if ctx.user_id != uid && !ctx.is_admin() && !ctx.is_system_reader() {
        return Err(Error::Forbidden {
            action: "identity:list_user_projects".into(),
        });
    }
    let rows = id
        .read(move |c| {
            store::user(c, &uid)?.ok_or_else(|| Error::NotFound {
                kind: "user",
                id: uid.clone(),
            })?;
            store::projects_of_user(c, &uid)
        })
        .await?;
    Ok(projects_response(&req, rows))
}

/// Keystone's tag filters on project lists, each a comma-separated list.
struct TagFilter {
    all: Option<Vec<String>>,
    any: Option<Vec<String>>,
    not_all: Option<Vec<String>>,
    not_any: Option<Vec<String>>,
}

impl TagFilter {
    fn from_query(q: &std::collections::HashMap<String, String>) -> TagFilter {
        let list = |k: &str| {
            q.get(k)
                .map(|v| v.split(',').map(str::to_string).collect::<Vec<_>>())
        };
        TagFilter {
            all: list("tags"),
            any: list("tags-any"),
            not_all: list("not-tags"),
            not_any: list("not-tags-any"),
        }
    }

    fn admits(&self, tags: &[String]) -> bool {
        let has = |t: &String| tags.contains(t);
        self.all.as_ref().is_none_or(|w| w.iter().all(has))
            && self.any.as_ref().is_none_or(|w| w.iter().any(has))
            && self.not_all.as_ref().is_none_or(|w| !w.iter().all(has))
            && self.not_any.as_ref().is_none_or(|w| !w.iter().any(has))
    }
}

/// All projects (admin), optionally filtered by `name` and `domain_id`.
#[utoipa::path(
    get,
    path = "/v3/projects",
    tag = "projects",
    params(
        ("name" = Option<String>, Query, description = "Exact name"),
        ("domain_id" = Option<String>, Query, description = "Domain id"),
        ("enabled" = Option<bool>, Query, description = "Only enabled (or disabled) projects"),
        ("tags" = Option<String>, Query, description = "Projects with all of these tags (comma-separated)"),
        ("tags-any" = Option<String>, Query, description = "Projects with any of these tags"),
        ("not-tags" = Option<String>, Query, description = "Projects without all of these tags"),
        ("not-tags-any" = Option<String>, Query, description = "Projects with none of these tags"),
    ),
    responses(
        (status = 200, description = "Projects", body = ProjectsResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
    )
)]
pub(crate) async fn list_projects(
    req: HttpRequest,
    id: web::Data<Identity>,
) -> Result<HttpResponse> {
    reader_caller(&req, &id, "identity:list_projects").await?;
    let q = query(&req)?;
    let enabled = super::enabled_filter(&q);
    let tags = TagFilter::from_query(&q);
    let mut rows = id
        .read(move |c| {
            store::list_projects(
                c,
                q.get("name").map(String::as_str),
                q.get("domain_id").map(String::as_str),
            )
        })
        .await?;
    rows.retain(|p| enabled.is_none_or(|e| p.enabled == e) && tags.admits(&store::project_tags(p)));
    Ok(projects_response(&req, rows))
}

/// One project: admins, or a token scoped to it.
#[utoipa::path(
    get,
    path = "/v3/projects/{project_id}",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = ProjectResponse),
        (status = 403, description = "Not allowed", body = ErrorResponse),
        (status = 404, description = "No such project", body = ErrorResponse),
    )
)]
pub(crate) async fn get_project(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let ctx = caller(&req, &id).await?;
    let pid = path.into_inner();
    if !ctx.is_admin() && !ctx.is_system_reader() && ctx.project_id.as_deref() != Some(pid.as_str())
    {
        return Err(Error::Forbidden {
            action: "identity:get_project".into(),
        });
    }
    let p = id
        .read(move |c| {
            store::project(c, &pid)?.ok_or(Error::NotFound {
                kind: "project",
                id: pid,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(ProjectResponse {
        project: project_json(&base_url(&req), p),
    }))
}

/// Creates a project (admin).
#[utoipa::path(
    post,
    path = "/v3/projects",
    tag = "projects",
    request_body = CreateProjectRequest,
    responses(
        (status = 201, description = "Created", body = ProjectResponse),
        (status = 400, description = "Malformed", body = ErrorResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn create_project(
    req: HttpRequest,
    id: web::Data<Identity>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_project").await?;
    let r: CreateProjectRequest = parse_json(&body)?;
    let p = r.project;
    let row = id
        .write(move |c| {
            let domain = p.domain_id.as_deref().unwrap_or(DEFAULT_DOMAIN_ID);
            let tags = p.tags.as_deref().map(store::encode_tags).transpose()?;
            let mut row =
                store::create_project(c, &p.name, domain, p.description.as_deref().unwrap_or(""))?;
            if p.enabled == Some(false) || tags.is_some() {
                row.enabled = p.enabled.unwrap_or(true);
                row.tags = tags.unwrap_or(row.tags);
                store::update_project(c, &row)?;
            }
            Ok(row)
        })
        .await?;
    tracing::info!(project_id = %row.id, "project created");
    Ok(HttpResponse::Created().json(ProjectResponse {
        project: project_json(&base_url(&req), row),
    }))
}

/// Deletes a project, its role assignments and tokens scoped to it (admin).
#[utoipa::path(
    delete,
    path = "/v3/projects/{project_id}",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 404, description = "No such project", body = ErrorResponse),
    )
)]
pub(crate) async fn delete_project(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:delete_project").await?;
    let pid = path.into_inner();
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            // The API names projects by id only, unlike the CLI.
            store::project(c, &pid)?.ok_or_else(|| Error::NotFound {
                kind: "project",
                id: pid.clone(),
            })?;
            admin::delete_project_tx(c, &pid, exp)
        })
        .await?;
    let p = id.apply(ch);
    tracing::info!(project_id = %p.id, "project deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Changes a project's name, description or enabled flag (admin).
/// Disabling it revokes the tokens scoped to it; its domain, parent and id
/// cannot change.
#[utoipa::path(
    patch,
    path = "/v3/projects/{project_id}",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = UpdateProjectRequest,
    responses(
        (status = 200, description = "Updated", body = ProjectResponse),
        (status = 400, description = "Malformed, or a field that cannot change", body = ErrorResponse),
        (status = 403, description = "Not admin", body = ErrorResponse),
        (status = 404, description = "No such project", body = ErrorResponse),
        (status = 409, description = "Name taken", body = ErrorResponse),
    )
)]
pub(crate) async fn update_project(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:update_project").await?;
    let pid = path.into_inner();
    let r: UpdateProjectRequest = parse_json(&body)?;
    let u = r.project;
    if u.id.as_ref().is_some_and(|i| *i != pid) {
        return Err(Error::BadRequest("Cannot change ID".into()));
    }
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            let cur = store::project(c, &pid)?.ok_or_else(|| Error::NotFound {
                kind: "project",
                id: pid.clone(),
            })?;
            if u.domain_id.as_ref().is_some_and(|d| *d != cur.domain_id) {
                return Err(Error::BadRequest(
                    "Update of `domain_id` is not allowed.".into(),
                ));
            }
            if u.parent_id.as_ref().is_some_and(|p| *p != cur.domain_id) {
                return Err(Error::BadRequest(
                    "Update of `parent_id` is not allowed.".into(),
                ));
            }
            if u.is_domain == Some(true) {
                return Err(Error::BadRequest(
                    "Update of `is_domain` is not allowed.".into(),
                ));
            }
            let changes = admin::ProjectChanges {
                name: u.name,
                description: u.description.map(Option::unwrap_or_default),
                enabled: u.enabled,
                tags: u.tags,
            };
            admin::update_project_tx(c, &pid, changes, exp)
        })
        .await?;
    let p = id.apply(ch);
    tracing::info!(project_id = %p.id, enabled = p.enabled, "project updated");
    Ok(HttpResponse::Ok().json(ProjectResponse {
        project: project_json(&base_url(&req), p),
    }))
}

// ---- tags ----

/// The project `pid` if the caller may read it: admins, system readers,
/// and tokens scoped to it (Keystone's identity:get_project).
async fn readable_project(
    req: &HttpRequest,
    id: &Identity,
    pid: String,
    action: &str,
) -> Result<ProjectRow> {
    let ctx = caller(req, id).await?;
    if !ctx.is_admin() && !ctx.is_system_reader() && ctx.project_id.as_deref() != Some(&pid) {
        return Err(Error::Forbidden {
            action: action.into(),
        });
    }
    existing_project(id, pid).await
}

async fn existing_project(id: &Identity, pid: String) -> Result<ProjectRow> {
    id.read(move |c| store::require_project(c, &pid)).await
}

/// Replaces a project's tags with `change(old tags)` (admin).
async fn set_tags(
    id: &Identity,
    pid: String,
    change: impl FnOnce(Vec<String>) -> Result<Vec<String>> + Send + 'static,
) -> Result<Vec<String>> {
    let exp = id.event_expiry_us();
    let ch = id
        .write(move |c| {
            let p = store::require_project(c, &pid)?;
            let tags = change(store::project_tags(&p))?;
            let changes = admin::ProjectChanges {
                tags: Some(tags),
                ..Default::default()
            };
            admin::update_project_tx(c, &pid, changes, exp)
        })
        .await?;
    Ok(store::project_tags(&id.apply(ch)))
}

/// A project's tags (admins, system readers, tokens scoped to it).
#[utoipa::path(
    get,
    path = "/v3/projects/{project_id}/tags",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "Tags", body = ProjectTags),
        (status = 404, description = "No such project", body = ErrorResponse),
    )
)]
pub(crate) async fn list_project_tags(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    let p = readable_project(&req, &id, path.into_inner(), "identity:list_project_tags").await?;
    Ok(HttpResponse::Ok().json(ProjectTags {
        tags: store::project_tags(&p),
    }))
}

/// Replaces a project's tags (admin).
#[utoipa::path(
    put,
    path = "/v3/projects/{project_id}/tags",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    request_body = ProjectTags,
    responses(
        (status = 200, description = "The new tags", body = ProjectTags),
        (status = 400, description = "A bad or repeated tag, or too many", body = ErrorResponse),
        (status = 404, description = "No such project", body = ErrorResponse),
    )
)]
pub(crate) async fn update_project_tags(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:update_project_tags").await?;
    let new = parse_json::<ProjectTags>(&body)?.tags;
    let tags = set_tags(&id, path.into_inner(), move |_| Ok(new)).await?;
    Ok(HttpResponse::Ok().json(ProjectTags { tags }))
}

/// Removes every tag of a project (admin).
#[utoipa::path(
    delete,
    path = "/v3/projects/{project_id}/tags",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such project", body = ErrorResponse))
)]
pub(crate) async fn delete_project_tags(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<String>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:delete_project_tags").await?;
    set_tags(&id, path.into_inner(), |_| Ok(Vec::new())).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn tag_not_found(tag: &str) -> Error {
    Error::NotFound {
        kind: "project tag",
        id: tag.into(),
    }
}

/// Checks a project tag: 204, or 404.
#[utoipa::path(
    get,
    path = "/v3/projects/{project_id}/tags/{tag}",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id"), ("tag" = String, Path, description = "Tag")),
    responses((status = 204, description = "Tagged"), (status = 404, description = "Not tagged", body = ErrorResponse))
)]
pub(crate) async fn check_project_tag(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (pid, tag) = path.into_inner();
    let p = readable_project(&req, &id, pid, "identity:get_project_tag").await?;
    if !store::project_tags(&p).contains(&tag) {
        return Err(tag_not_found(&tag));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Adds a tag to a project (admin); 201 with its URL.
#[utoipa::path(
    put,
    path = "/v3/projects/{project_id}/tags/{tag}",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id"), ("tag" = String, Path, description = "Tag")),
    responses(
        (status = 201, description = "Tagged", headers(("Location" = String, description = "The tag's URL"))),
        (status = 400, description = "A bad tag, or too many", body = ErrorResponse),
        (status = 404, description = "No such project", body = ErrorResponse),
    )
)]
pub(crate) async fn add_project_tag(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:create_project_tag").await?;
    let (pid, tag) = path.into_inner();
    let t = tag.clone();
    set_tags(&id, pid.clone(), move |mut tags| {
        if !tags.contains(&t) {
            tags.push(t);
        }
        Ok(tags)
    })
    .await?;
    let location = format!("{}{}", base_url(&req), req.path());
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish())
}

/// Removes a tag from a project (admin).
#[utoipa::path(
    delete,
    path = "/v3/projects/{project_id}/tags/{tag}",
    tag = "projects",
    params(("project_id" = String, Path, description = "Project id"), ("tag" = String, Path, description = "Tag")),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not tagged", body = ErrorResponse))
)]
pub(crate) async fn delete_project_tag(
    req: HttpRequest,
    id: web::Data<Identity>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    admin_caller(&req, &id, "identity:delete_project_tag").await?;
    let (pid, tag) = path.into_inner();
    set_tags(&id, pid, move |mut tags| {
        let before = tags.len();
        tags.retain(|t| *t != tag);
        if tags.len() == before {
            return Err(tag_not_found(&tag));
        }
        Ok(tags)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
