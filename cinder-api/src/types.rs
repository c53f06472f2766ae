//! Volume types, as Cinder's `types`, `types_extra_specs` and
//! `volume_type_access` APIs manage them: rows of `volume_types`, each
//! naming the storage policy its volumes are stored under in the extra spec
//! `atoll:storage_policy` (the default policy without one); private types
//! with the projects that may use them.
//!
//! The configured types (`__DEFAULT__` for the default policy, one per
//! other policy) are created at start when missing. Volumes name their type
//! (`volumes.volume_type`), so a rename rewrites those names in the same
//! transaction; the name-to-id cache behind volume views is refreshed after
//! every change on this host.

use std::collections::{BTreeMap, HashMap};

use actix_web::{web, HttpRequest, HttpResponse};
use db::schema::{volume_type_projects as vtp, volume_types as vt, volumes};
use diesel::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::dto::{
    ActionRequest, ExtraSpecItem, ExtraSpecsBody, VolumeTypeCreateRequest, VolumeTypeResponse,
    VolumeTypeUpdateRequest, VolumeTypeView, VolumeTypesResponse,
};
use crate::error::{CinderError, Result};
use crate::http::{action_of, parse_valid, query, str_bool, Caller};
use crate::schema::bodies;
use crate::views::{run, tx, type_id};
use crate::{Cinder, CinderConfig};

/// The extra spec naming a type's storage policy.
pub const POLICY_SPEC: &str = "atoll:storage_policy";

/// Extra specs Cinder shows to callers other than admins.
const USER_VISIBLE_SPECS: [&str; 3] = [
    "RESKEY:availability_zones",
    "multiattach",
    "replication_enabled",
];

/// A `volume_types` row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = vt)]
pub struct TypeRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_public: bool,
    /// JSON object of string values.
    pub extra_specs: String,
    pub created_at: i64,
}

impl TypeRow {
    pub fn specs(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.extra_specs).unwrap_or_default()
    }

    /// The storage policy its volumes are stored under.
    pub fn policy(&self, cfg: &CinderConfig) -> String {
        self.specs()
            .remove(POLICY_SPEC)
            .unwrap_or_else(|| cfg.volume_types[0].policy.clone())
    }

    /// The extra specs `admin` or not may see: Cinder shows other callers
    /// only the user-visible ones.
    pub fn visible_specs(&self, admin: bool) -> BTreeMap<String, String> {
        let mut specs = self.specs();
        if !admin {
            specs.retain(|k, _| USER_VISIBLE_SPECS.contains(&k.as_str()));
        }
        specs
    }

    /// As show and list answer it.
    pub fn view(&self, admin: bool) -> VolumeTypeView {
        VolumeTypeView {
            id: self.id.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            is_public: self.is_public,
            access_is_public: Some(self.is_public),
            qos_specs_id: Some(None),
            extra_specs: self.visible_specs(admin),
        }
    }

    /// As create answers it: without `qos_specs_id`.
    fn created_view(&self) -> VolumeTypeView {
        VolumeTypeView {
            qos_specs_id: None,
            ..self.view(true)
        }
    }

    /// As update answers it: without `qos_specs_id` and the access flag.
    fn updated_view(&self) -> VolumeTypeView {
        VolumeTypeView {
            access_is_public: None,
            qos_specs_id: None,
            ..self.view(true)
        }
    }
}

/// The id of the default type (the first configured, `__DEFAULT__`).
pub fn default_id(cinder: &Cinder) -> String {
    type_id(&cinder.cfg.volume_types[0].name)
}

/// Creates the configured types that are missing. Blocking: at start.
pub fn seed_blocking(cinder: &Cinder) -> Result<()> {
    let now = db::now_micros();
    let rows: Vec<TypeRow> = cinder
        .cfg
        .volume_types
        .iter()
        .enumerate()
        .map(|(i, t)| TypeRow {
            id: type_id(&t.name),
            name: t.name.clone(),
            description: Some(if i == 0 {
                "Default Volume Type".into()
            } else {
                format!("Volumes stored under policy {}", t.policy)
            }),
            is_public: true,
            extra_specs: json!({"volume_backend_name": "atoll", POLICY_SPEC: t.policy}).to_string(),
            created_at: now,
        })
        .collect();
    cinder.arch.db().transaction_blocking(|c| -> Result<()> {
        for r in &rows {
            // By id: a renamed configured type is not created again.
            if vt::table.find(&r.id).count().get_result::<i64>(c)? == 0
                && vt::table
                    .filter(vt::name.eq(&r.name))
                    .count()
                    .get_result::<i64>(c)?
                    == 0
            {
                diesel::insert_into(vt::table).values(r).execute(c)?;
            }
        }
        Ok(())
    })?;
    let all = cinder.arch.db().run_blocking(|c| Ok(load_all(c)?))?;
    cinder.remember_types(&all);
    Ok(())
}

fn load_all(c: &mut db::Conn) -> QueryResult<Vec<TypeRow>> {
    vt::table
        .order((vt::created_at, vt::name))
        .select(TypeRow::as_select())
        .load(c)
}

/// The type with this id, else this name.
pub fn lookup(c: &mut db::Conn, name_or_id: &str) -> Result<Option<TypeRow>> {
    let by_id = vt::table
        .find(name_or_id)
        .select(TypeRow::as_select())
        .first(c)
        .optional()?;
    if by_id.is_some() {
        return Ok(by_id);
    }
    Ok(vt::table
        .filter(vt::name.eq(name_or_id))
        .select(TypeRow::as_select())
        .first(c)
        .optional()?)
}

/// True when a volume names the type.
fn in_use(c: &mut db::Conn, name: &str) -> Result<bool> {
    Ok(volumes::table
        .filter(volumes::volume_type.eq(name))
        .count()
        .get_result::<i64>(c)?
        > 0)
}

fn has_access(c: &mut db::Conn, type_id: &str, project: &str) -> Result<bool> {
    Ok(vtp::table
        .find((type_id, project))
        .count()
        .get_result::<i64>(c)?
        > 0)
}

/// The type named or identified `name_or_id` if the caller may use it:
/// public, or private with access for the caller's project (admins see
/// all). Others are reported as missing.
pub fn visible(c: &mut db::Conn, caller: &Caller, name_or_id: &str) -> Result<Option<TypeRow>> {
    let Some(t) = lookup(c, name_or_id)? else {
        return Ok(None);
    };
    if t.is_public || caller.is_admin() || has_access(c, &t.id, &caller.project)? {
        Ok(Some(t))
    } else {
        Ok(None)
    }
}

fn not_found(id: &str) -> CinderError {
    CinderError::NotFound(format!("Volume type {id} could not be found."))
}

async fn find(cinder: &Cinder, caller: &Caller, id: &str) -> Result<TypeRow> {
    let (caller, key) = (caller.clone(), id.to_string());
    run(cinder, move |c| visible(c, &caller, &key))
        .await?
        .ok_or_else(|| not_found(id))
}

/// After a change: the name-to-id cache volume views read.
async fn refresh(cinder: &Cinder) -> Result<()> {
    let all = run(cinder, |c| Ok(load_all(c)?)).await?;
    cinder.remember_types(&all);
    Ok(())
}

/// Names of every type (per-type quota keys).
pub async fn names(cinder: &Cinder) -> Result<Vec<String>> {
    let all = run(cinder, |c| Ok(load_all(c)?)).await?;
    Ok(all.into_iter().map(|t| t.name).collect())
}

#[derive(Debug, Deserialize)]
pub struct TypePath {
    pub type_id: String,
}

#[derive(Debug, Deserialize)]
pub struct SpecPath {
    pub type_id: String,
    pub key: String,
}

// ---- types ----

/// Volume types: public ones and private ones the caller's project may
/// use; admins choose with `is_public` (`true` by default, `false` only
/// private, `none` all).
#[utoipa::path(get, path = "/v3/{project_id}/types", tag = "types",
    params(("is_public" = Option<String>, Query, description = "true (default), false or none (admins)")),
    responses((status = 200, body = VolumeTypesResponse)))]
pub async fn list_types(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    let q = query(&req)?;
    let want: Option<bool> = if !caller.is_admin() {
        Some(true)
    } else {
        match q.get("is_public").map(|v| v.to_ascii_lowercase()) {
            None => Some(true),
            Some(v) if v == "none" => None,
            Some(v) => Some(str_bool(&v).ok_or_else(|| {
                CinderError::invalid_input(format!("Invalid is_public filter [{v}]"))
            })?),
        }
    };
    let project = caller.project.clone();
    let rows = run(&cinder, move |c| {
        let all = load_all(c)?;
        let mut out = Vec::new();
        for t in all {
            let keep = match want {
                None => true,
                Some(true) => t.is_public || has_access(c, &t.id, &project)?,
                Some(false) => !t.is_public,
            };
            if keep {
                out.push(t);
            }
        }
        Ok(out)
    })
    .await?;
    Ok(HttpResponse::Ok().json(VolumeTypesResponse {
        volume_types: rows.iter().map(|t| t.view(caller.is_admin())).collect(),
    }))
}

/// The default volume type.
#[utoipa::path(get, path = "/v3/{project_id}/types/default", tag = "types",
    responses((status = 200, body = VolumeTypeResponse)))]
pub async fn default_type(caller: Caller, cinder: web::Data<Cinder>) -> Result<HttpResponse> {
    let t = find(&cinder, &caller, &default_id(&cinder)).await?;
    Ok(HttpResponse::Ok().json(VolumeTypeResponse {
        volume_type: t.view(caller.is_admin()),
    }))
}

/// One volume type, by id or name.
#[utoipa::path(get, path = "/v3/{project_id}/types/{type_id}", tag = "types",
    responses((status = 200, body = VolumeTypeResponse), (status = 404, description = "No such type")))]
pub async fn show_type(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
) -> Result<HttpResponse> {
    let t = find(&cinder, &caller, &path.type_id).await?;
    Ok(HttpResponse::Ok().json(VolumeTypeResponse {
        volume_type: t.view(caller.is_admin()),
    }))
}

/// Refuses a storage policy this deployment does not have.
fn check_specs(cinder: &Cinder, specs: &BTreeMap<String, String>) -> Result<()> {
    if let Some(p) = specs.get(POLICY_SPEC) {
        if !cinder.cfg.volume_types.iter().any(|t| &t.policy == p) {
            let known: Vec<&str> = cinder
                .cfg
                .volume_types
                .iter()
                .map(|t| t.policy.as_str())
                .collect();
            return Err(CinderError::invalid_input(format!(
                "{POLICY_SPEC} names no storage policy: {p} (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

fn specs_of(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn exists(name: &str) -> CinderError {
    CinderError::Conflict(format!("Volume Type {name} already exists."))
}

/// Creates a volume type (admin). Its storage policy is the extra spec
/// `atoll:storage_policy` (the default policy without one).
#[utoipa::path(post, path = "/v3/{project_id}/types", tag = "types",
    request_body = VolumeTypeCreateRequest, responses((status = 200, body = VolumeTypeResponse), (status = 400, description = "Invalid"),
        (status = 403, description = "Not admin"), (status = 409, description = "Name taken")))]
pub async fn create_type(
    caller: Caller,
    cinder: web::Data<Cinder>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:types_manage")?;
    let v: Value = parse_valid(&body, &bodies::volume_type_create())?;
    let t = &v["volume_type"];
    let name = t["name"].as_str().unwrap_or_default().trim().to_string();
    if name.is_empty() {
        return Err(CinderError::invalid_input(
            "Volume type name can not be empty.",
        ));
    }
    let specs = specs_of(t.get("extra_specs"));
    check_specs(&cinder, &specs)?;
    let row = TypeRow {
        id: uuid::Uuid::new_v4().hyphenated().to_string(),
        name: name.clone(),
        description: t
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        is_public: t
            .get("os-volume-type-access:is_public")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        extra_specs: serde_json::to_string(&specs)?,
        created_at: db::now_micros(),
    };
    let r2 = row.clone();
    tx(&cinder, move |c| {
        if lookup(c, &r2.name)?.is_some() {
            return Err(exists(&r2.name));
        }
        diesel::insert_into(vt::table).values(&r2).execute(c)?;
        Ok(())
    })
    .await?;
    refresh(&cinder).await?;
    tracing::info!(type_id = %row.id, name = %row.name, "volume type created");
    Ok(HttpResponse::Ok().json(VolumeTypeResponse {
        volume_type: row.created_view(),
    }))
}

/// Renames a type, changes its description or makes it public or private
/// (admin). Volumes of a renamed type carry the new name.
#[utoipa::path(put, path = "/v3/{project_id}/types/{type_id}", tag = "types",
    request_body = VolumeTypeUpdateRequest, responses((status = 200, body = VolumeTypeResponse), (status = 400, description = "Invalid"),
        (status = 404, description = "No such type"), (status = 409, description = "Name taken")))]
pub async fn update_type(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:types_manage")?;
    let v: Value = parse_valid(&body, &bodies::volume_type_update())?;
    let t = &v["volume_type"];
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string());
    let description = t.get("description").map(|d| d.as_str().map(str::to_string));
    let is_public = t.get("is_public").and_then(Value::as_bool);
    if name.is_none() && description.is_none() && is_public.is_none() {
        return Err(CinderError::BadRequest(
            "Specify volume type name, description, is_public or a combination thereof.".into(),
        ));
    }
    if name.as_deref() == Some("") {
        return Err(CinderError::invalid_input(
            "Volume type name can not be empty.",
        ));
    }
    let id = path.type_id.clone();
    let row = tx(&cinder, move |c| {
        let mut row = lookup(c, &id)?.ok_or_else(|| not_found(&id))?;
        if let Some(n) = name.filter(|n| *n != row.name) {
            if lookup(c, &n)?.is_some() {
                return Err(exists(&n));
            }
            diesel::update(volumes::table.filter(volumes::volume_type.eq(&row.name)))
                .set(volumes::volume_type.eq(&n))
                .execute(c)?;
            crate::quota::rename_type(c, &row.name, Some(&n))?;
            row.name = n;
        }
        if let Some(d) = description {
            row.description = d;
        }
        if let Some(p) = is_public {
            row.is_public = p;
        }
        diesel::update(vt::table.find(&row.id))
            .set((
                vt::name.eq(&row.name),
                vt::description.eq(&row.description),
                vt::is_public.eq(row.is_public),
            ))
            .execute(c)?;
        Ok(row)
    })
    .await?;
    refresh(&cinder).await?;
    tracing::info!(type_id = %row.id, name = %row.name, "volume type updated");
    Ok(HttpResponse::Ok().json(VolumeTypeResponse {
        volume_type: row.updated_view(),
    }))
}

/// Deletes a type no volume uses (admin); the default type stays.
#[utoipa::path(delete, path = "/v3/{project_id}/types/{type_id}", tag = "types",
    responses((status = 202, description = "Deleted"), (status = 400, description = "In use or the default"),
        (status = 404, description = "No such type")))]
pub async fn delete_type(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:types_manage")?;
    let id = path.type_id.clone();
    let default = default_id(&cinder);
    tx(&cinder, move |c| {
        let row = lookup(c, &id)?.ok_or_else(|| not_found(&id))?;
        if row.id == default {
            return Err(CinderError::BadRequest(
                "Default volume type can not be deleted.".into(),
            ));
        }
        if in_use(c, &row.name)? {
            return Err(CinderError::BadRequest(
                "Target volume type is still in use.".into(),
            ));
        }
        diesel::delete(vtp::table.filter(vtp::type_id.eq(&row.id))).execute(c)?;
        diesel::delete(vt::table.find(&row.id)).execute(c)?;
        crate::quota::rename_type(c, &row.name, None)?;
        Ok(())
    })
    .await?;
    refresh(&cinder).await?;
    tracing::info!(type_id = %path.type_id, "volume type deleted");
    Ok(HttpResponse::Accepted().finish())
}

// ---- extra specs ----

/// A type's extra specs (its storage policy among them).
#[utoipa::path(get, path = "/v3/{project_id}/types/{type_id}/extra_specs", tag = "types",
    responses((status = 200, body = ExtraSpecsBody)))]
pub async fn list_specs(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
) -> Result<HttpResponse> {
    let t = find(&cinder, &caller, &path.type_id).await?;
    Ok(HttpResponse::Ok().json(json!({"extra_specs": t.visible_specs(caller.is_admin())})))
}

/// One extra spec.
#[utoipa::path(get, path = "/v3/{project_id}/types/{type_id}/extra_specs/{key}", tag = "types",
    responses((status = 200, body = ExtraSpecItem), (status = 404, description = "No such spec")))]
pub async fn show_spec(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SpecPath>,
) -> Result<HttpResponse> {
    let t = find(&cinder, &caller, &path.type_id).await?;
    let v = t
        .visible_specs(caller.is_admin())
        .remove(&path.key)
        .ok_or_else(|| no_spec(&t.id, &path.key))?;
    Ok(HttpResponse::Ok().json(json!({ path.key.clone(): v })))
}

fn no_spec(id: &str, key: &str) -> CinderError {
    CinderError::NotFound(format!(
        "Volume Type {id} has no extra specs with key {key}."
    ))
}

/// Changes a type's extra specs in one transaction (admin only).
async fn change_specs(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
    f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()> + Send + 'static,
) -> Result<()> {
    caller.require_admin("volume_extension:types_extra_specs:update")?;
    let id = id.to_string();
    tx(cinder, move |c| {
        let row = lookup(c, &id)?.ok_or_else(|| not_found(&id))?;
        // As Cinder (allow_inuse_volume_type_modification off): besides,
        // a changed storage policy would no longer be where the type's
        // volumes are.
        if in_use(c, &row.name)? {
            return Err(CinderError::BadRequest(
                "Volume Type is currently in use.".into(),
            ));
        }
        let mut specs = row.specs();
        f(&mut specs)?;
        diesel::update(vt::table.find(&row.id))
            .set(vt::extra_specs.eq(serde_json::to_string(&specs)?))
            .execute(c)?;
        Ok(())
    })
    .await?;
    refresh(cinder).await
}

/// Adds or changes extra specs (admin).
#[utoipa::path(post, path = "/v3/{project_id}/types/{type_id}/extra_specs", tag = "types",
    request_body = ExtraSpecsBody,
    responses((status = 200, body = ExtraSpecsBody), (status = 400, description = "Invalid")))]
pub async fn create_specs(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:types_extra_specs:create")?;
    let v: Value = parse_valid(&body, &bodies::extra_specs_create())?;
    let new = specs_of(v.get("extra_specs"));
    check_specs(&cinder, &new)?;
    let n2 = new.clone();
    change_specs(&cinder, &caller, &path.type_id, move |s| {
        s.extend(n2);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "extra_specs": new })))
}

/// Sets one extra spec (admin); the body names the same key as the URL.
#[utoipa::path(put, path = "/v3/{project_id}/types/{type_id}/extra_specs/{key}", tag = "types",
    request_body = ExtraSpecItem,
    responses((status = 200, body = ExtraSpecItem), (status = 400, description = "Invalid")))]
pub async fn update_spec(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SpecPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:types_extra_specs:update")?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| crate::http::malformed())?;
    let Some(m) = v.as_object() else {
        return Err(crate::http::malformed());
    };
    if m.len() > 1 {
        return Err(CinderError::BadRequest(
            "Request body contains too many items.".into(),
        ));
    }
    let Some(val) = m.get(&path.key) else {
        return Err(CinderError::BadRequest(
            "Request body and URI mismatch".into(),
        ));
    };
    let val = val
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| val.to_string());
    let one = BTreeMap::from([(path.key.clone(), val.clone())]);
    check_specs(&cinder, &one)?;
    change_specs(&cinder, &caller, &path.type_id, move |s| {
        s.extend(one);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ path.key.clone(): val })))
}

/// Removes one extra spec (admin).
#[utoipa::path(delete, path = "/v3/{project_id}/types/{type_id}/extra_specs/{key}", tag = "types",
    responses((status = 202, description = "Removed"), (status = 404, description = "No such spec")))]
pub async fn delete_spec(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SpecPath>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:types_extra_specs:delete")?;
    let (id, key) = (path.type_id.clone(), path.key.clone());
    change_specs(&cinder, &caller, &path.type_id, move |s| {
        s.remove(&key).map(|_| ()).ok_or_else(|| no_spec(&id, &key))
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

// ---- access to private types ----

/// The projects that may use a private type (admin).
#[utoipa::path(get, path = "/v3/{project_id}/types/{type_id}/os-volume-type-access", tag = "types",
    responses((status = 200, description = "Access list"), (status = 404, description = "Public or no such type")))]
pub async fn list_access(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:volume_type_access")?;
    let id = path.type_id.clone();
    let list = run(&cinder, move |c| {
        let row = lookup(c, &id)?.ok_or_else(|| not_found(&id))?;
        if row.is_public {
            return Err(CinderError::NotFound(
                "Access list not available for public volume types.".into(),
            ));
        }
        let projects: Vec<String> = vtp::table
            .filter(vtp::type_id.eq(&row.id))
            .order(vtp::project_id)
            .select(vtp::project_id)
            .load(c)?;
        Ok(projects
            .into_iter()
            .map(|p| json!({"volume_type_id": row.id, "project_id": p}))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "volume_type_access": list })))
}

/// `addProjectAccess` / `removeProjectAccess` on a private type (admin).
#[utoipa::path(post, path = "/v3/{project_id}/types/{type_id}/action", tag = "types",
    request_body = ActionRequest, responses((status = 202, description = "Done"), (status = 400, description = "Public type or bad body"),
        (status = 404, description = "No such type or access"), (status = 409, description = "Access exists")))]
pub async fn type_action(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<TypePath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (action, args, _) = action_of(&body)?;
    let add = match action.as_str() {
        "addProjectAccess" => true,
        "removeProjectAccess" => false,
        _ => return Err(crate::http::no_such_action(&action)),
    };
    caller.require_admin(if add {
        "volume_extension:volume_type_access:addProjectAccess"
    } else {
        "volume_extension:volume_type_access:removeProjectAccess"
    })?;
    let project = args
        .get("project")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && p.len() <= 255)
        .ok_or_else(|| {
            CinderError::BadRequest("Missing required element 'project' in request body.".into())
        })?
        .to_string();
    let id = path.type_id.clone();
    tx(&cinder, move |c| {
        let row = lookup(c, &id)?.ok_or_else(|| not_found(&id))?;
        if row.is_public {
            return Err(CinderError::BadRequest(
                "Invalid volume type: Type access modification is not applicable to public \
                 volume type."
                    .into(),
            ));
        }
        let has = has_access(c, &row.id, &project)?;
        if add {
            if has {
                return Err(CinderError::Conflict(format!(
                    "Volume type access for {} / {project} combination already exists.",
                    row.id
                )));
            }
            diesel::insert_into(vtp::table)
                .values((vtp::type_id.eq(&row.id), vtp::project_id.eq(&project)))
                .execute(c)?;
        } else {
            if !has {
                return Err(CinderError::NotFound(format!(
                    "Volume type access not found for {} / {project} combination.",
                    row.id
                )));
            }
            diesel::delete(vtp::table.find((&row.id, &project))).execute(c)?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Name to (id, storage policy) of every type, as last loaded on this host.
pub(crate) type TypeIds = std::sync::Arc<std::sync::RwLock<HashMap<String, (String, String)>>>;
