//! Snapshots: create (O(1): the volume's map frozen into a read-only
//! resource), list, show, update, delete, and the admin reset-status action.

use actix_web::{web, HttpRequest, HttpResponse};
use db::volumes::SnapshotRow;
use serde_json::Value;

use crate::dto::*;
use crate::error::{CinderError, Result};
use crate::filters::{page, ListParams};
use crate::http::{action_of, no_such_action, parse_bool, parse_valid, query, Caller};
use crate::microversion::features as mv;
use crate::views::{self, meta_text, run, tx, visible_snapshot, visible_volume};
use crate::volumes::parse_metadata;
use crate::{quota, schema, state, Cinder};

/// Path of a snapshot route.
#[derive(Debug, serde::Deserialize)]
pub struct SnapshotPath {
    pub snapshot_id: String,
}

async fn list_rows(
    req: &HttpRequest,
    cinder: &Cinder,
    caller: &Caller,
) -> Result<(Vec<SnapshotRow>, usize, bool, ListParams)> {
    let p = ListParams::parse(&query(req)?)?;
    let project = if caller.is_admin() && p.all_tenants {
        p.project_id.clone()
    } else {
        Some(caller.project.clone())
    };
    let rows = run(cinder, move |c| {
        Ok(db::volumes::list_snapshots(c, project.as_deref())?)
    })
    .await?;
    let rows: Vec<SnapshotRow> = rows
        .into_iter()
        .filter(|s| p.name.as_ref().is_none_or(|n| s.name.as_ref() == Some(n)))
        .filter(|s| p.status.as_ref().is_none_or(|st| &s.status == st))
        .filter(|s| p.volume_id.as_ref().is_none_or(|v| &s.volume_id == v))
        .collect();
    let (rows, total, more) = page(rows, &p)?;
    Ok((rows, total, more, p))
}

fn list_response(
    req: &HttpRequest,
    caller: &Caller,
    (rows, total, more, p): (Vec<SnapshotRow>, usize, bool, ListParams),
    coll: &str,
) -> SnapshotsResponse {
    let links = more
        .then(|| crate::volumes::next_link(req, coll, rows.last().map(|r| r.id.as_str()), &p))
        .flatten();
    SnapshotsResponse {
        snapshots_links: links,
        snapshots: rows
            .iter()
            // The extension attributes are for detail (and show) only.
            .map(|s| {
                let view = views::snapshot_view(caller, s);
                if coll == "detail" {
                    view
                } else {
                    views::snapshot_written(view)
                }
            })
            .collect(),
        count: (p.with_count && caller.at_least(mv::COUNT_INFO)).then_some(total),
    }
}

/// Lists the caller's snapshots.
#[utoipa::path(get, path = "/v3/{project_id}/snapshots", tag = "snapshots",
    responses((status = 200, body = SnapshotsResponse)))]
pub async fn list_snapshots(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    let listed = list_rows(&req, &cinder, &caller).await?;
    Ok(HttpResponse::Ok().json(list_response(&req, &caller, listed, "snapshots")))
}

/// Lists the caller's snapshots in detail (filters `name`, `status`,
/// `volume_id`, `metadata`, `all_tenants`, `limit`/`marker`/`sort`).
#[utoipa::path(get, path = "/v3/{project_id}/snapshots/detail", tag = "snapshots",
    responses((status = 200, body = SnapshotsResponse)))]
pub async fn list_snapshots_detail(
    caller: Caller,
    req: HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    let listed = list_rows(&req, &cinder, &caller).await?;
    Ok(HttpResponse::Ok().json(list_response(&req, &caller, listed, "detail")))
}

/// Shows one snapshot.
#[utoipa::path(get, path = "/v3/{project_id}/snapshots/{snapshot_id}", tag = "snapshots",
    responses((status = 200, body = SnapshotResponse), (status = 404, description = "No such snapshot")))]
pub async fn show_snapshot(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SnapshotPath>,
) -> Result<HttpResponse> {
    let id = path.snapshot_id.clone();
    let c2 = caller.clone();
    let s = run(&cinder, move |c| visible_snapshot(c, &c2, &id)).await?;
    Ok(HttpResponse::Ok().json(SnapshotResponse {
        snapshot: views::snapshot_view(&caller, &s),
    }))
}

/// Snapshots a volume: available, or in-use with `force` (always from
/// 3.66). The volume's map is frozen; no data moves.
#[utoipa::path(post, path = "/v3/{project_id}/snapshots", tag = "snapshots",
    request_body = SnapshotCreateRequest,
    responses((status = 202, body = SnapshotResponse), (status = 400, description = "Volume busy")))]
pub async fn create_snapshot(
    caller: Caller,
    cinder: web::Data<Cinder>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_write("volume:create_snapshot")?;
    let body: SnapshotCreateRequest = parse_valid(&body, &schema::bodies::snapshot_create())?;
    let b = body.snapshot;
    let volume_id =
        match b.get("volume_id") {
            Some(Value::String(s)) => s.clone(),
            // Cinder's schema takes null and then finds no such volume.
            Some(Value::Null) => return Err(CinderError::volume_not_found("None")),
            _ => return Err(CinderError::BadRequest(
                "Invalid input for field/attribute snapshot. 'volume_id' is a required property"
                    .into(),
            )),
        };
    let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let name = s("name").or(s("display_name"));
    let description = s("description").or(s("display_description"));
    let metadata = parse_metadata(b.get("metadata"))?;
    let force = match b.get("force") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_bool(v, "force")?),
    };
    // From 3.66 in-use volumes need no flag, and `force=false` is refused.
    if force == Some(false) && caller.at_least(mv::SNAPSHOT_IN_USE) {
        return Err(CinderError::BadRequest(
            "Since microversion 3.66 the 'force' flag is invalid for this request.  For \
             backward compatability, however, when the 'force' flag is passed with a value \
             evaluating to True, it is silently ignored."
                .into(),
        ));
    }
    let force = force == Some(true) || caller.at_least(mv::SNAPSHOT_IN_USE);
    // Look the volume up first: its resource is what gets frozen.
    let c2 = caller.clone();
    let vid = volume_id.clone();
    let vol = run(&cinder, move |c| visible_volume(c, &c2, &vid)).await?;
    let policy = cinder.type_of(&vol.volume_type).1;
    run(&cinder, move |c| {
        crate::services::assert_not_frozen(c, &policy)
    })
    .await?;
    let rid = vol
        .resource_id
        .clone()
        .ok_or_else(|| CinderError::invalid_volume("volume has no data"))?;
    let now = db::now_micros();
    let row = SnapshotRow {
        id: uuid::Uuid::new_v4().hyphenated().to_string(),
        project_id: vol.project_id.clone(),
        user_id: caller.ctx.user_id.clone(),
        volume_id: vol.id.clone(),
        name,
        description,
        size: vol.size,
        status: "available".into(),
        metadata: meta_text(&metadata),
        resource_id: None,
        created_at: now,
        updated_at: now,
        progress: None,
    };
    let quotas = cinder.cfg.quotas.clone();
    let c2 = caller.clone();
    let row = cinder
        .arch
        .snapshot(&rid, move |c, snap_rid| {
            // Re-read the volume inside the transaction: the check and the
            // snapshot row commit together.
            let v = visible_volume(c, &c2, &volume_id)?;
            state::check_snapshot(&v.id, &v.status, force)?;
            quota::check_snapshot(c, &quotas, &v.project_id, &v.volume_type, v.size)?;
            let mut row = row;
            row.size = v.size;
            row.resource_id = Some(snap_rid.to_string());
            db::volumes::insert_snapshot(c, &row)?;
            Ok::<_, CinderError>(row)
        })
        .await?;
    tracing::info!(snapshot = %row.id, volume = %row.volume_id, "snapshot created");
    Ok(HttpResponse::Accepted().json(SnapshotResponse {
        snapshot: views::snapshot_written(views::snapshot_view(&caller, &row)),
    }))
}

/// Updates a snapshot's name or description.
#[utoipa::path(put, path = "/v3/{project_id}/snapshots/{snapshot_id}", tag = "snapshots",
    request_body = UpdateRequest, responses((status = 200, body = SnapshotResponse)))]
pub async fn update_snapshot(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SnapshotPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_write("volume:update_snapshot")?;
    let body: UpdateRequest = parse_valid(&body, &schema::bodies::snapshot_update())?;
    let b = body.snapshot.ok_or_else(|| {
        CinderError::BadRequest("Missing required element 'snapshot' in request body.".into())
    })?;
    let id = path.snapshot_id.clone();
    let c2 = caller.clone();
    let s = tx(&cinder, move |c| {
        let mut s = visible_snapshot(c, &c2, &id)?;
        let get = |k: &str| b.get(k).map(|v| v.as_str().map(str::to_string));
        if let Some(n) = get("name").or(get("display_name")) {
            s.name = n;
        }
        if let Some(d) = get("description").or(get("display_description")) {
            s.description = d;
        }
        s.updated_at = db::now_micros();
        db::volumes::update_snapshot(c, &s)?;
        Ok(s)
    })
    .await?;
    Ok(HttpResponse::Ok().json(SnapshotResponse {
        snapshot: views::snapshot_written(views::snapshot_view(&caller, &s)),
    }))
}

/// Deletes a snapshot and releases its resource (shared blocks stay).
#[utoipa::path(delete, path = "/v3/{project_id}/snapshots/{snapshot_id}", tag = "snapshots",
    responses((status = 202, description = "Deleted"), (status = 404, description = "No such snapshot")))]
pub async fn delete_snapshot(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SnapshotPath>,
) -> Result<HttpResponse> {
    caller.require_write("volume:delete_snapshot")?;
    destroy_snapshot(&cinder, &caller, &path.snapshot_id, false).await?;
    Ok(HttpResponse::Accepted().finish())
}

async fn destroy_snapshot(cinder: &Cinder, caller: &Caller, id: &str, force: bool) -> Result<()> {
    let id = id.to_string();
    let caller = caller.clone();
    let cin = cinder.clone();
    tx(cinder, move |c| {
        let s = visible_snapshot(c, &caller, &id)?;
        if let Some(v) = db::volumes::get_volume(c, &s.volume_id)? {
            crate::services::assert_not_frozen(c, &cin.type_of(&v.volume_type).1)?;
        }
        if !force && !matches!(s.status.as_str(), "available" | "error" | "error_deleting") {
            return Err(CinderError::invalid_snapshot(
                "Volume Snapshot status must be available or error and must not be part of a \
                 group.",
            ));
        }
        db::volumes::delete_snapshot(c, &s.id)?;
        if let Some(r) = &s.resource_id {
            archipelago::meta::release(c, r)?;
        }
        Ok(())
    })
    .await
}

/// Snapshot actions: `os-reset_status` and `os-force_delete` (admin), and
/// `os-update_snapshot_status` (the owner: Nova reports progress of a
/// snapshot it takes for the user).
#[utoipa::path(post, path = "/v3/{project_id}/snapshots/{snapshot_id}/action", tag = "snapshots",
    request_body = ActionRequest, responses((status = 202, description = "Done")))]
pub async fn snapshot_action(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<SnapshotPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (name, arg, _) = action_of(&body)?;
    match name.as_str() {
        "os-reset_status" => {
            caller.require_admin("volume_extension:snapshot_admin_actions:reset_status")?;
            let status = arg
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| CinderError::BadRequest("Must specify 'status'".into()))?;
            if !state::SNAPSHOT_STATUSES.contains(&status.as_str()) {
                return Err(CinderError::BadRequest(format!(
                    "Invalid input for field/attribute status. Value: {status}."
                )));
            }
            let id = path.snapshot_id.clone();
            tx(&cinder, move |c| {
                let mut s = visible_snapshot(c, &caller, &id)?;
                s.status = status;
                s.updated_at = db::now_micros();
                db::volumes::update_snapshot(c, &s)?;
                Ok(())
            })
            .await?;
        }
        "os-force_delete" => {
            caller.require_admin("volume_extension:snapshot_admin_actions:force_delete")?;
            destroy_snapshot(&cinder, &caller, &path.snapshot_id, true).await?;
        }
        "os-update_snapshot_status" => {
            caller.require_write("snapshot_extension:snapshot_actions:update_snapshot_status")?;
            let status = arg
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| CinderError::BadRequest("'status' must be specified.".into()))?;
            let progress = match arg.get("progress") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.chars().count() <= 255 => Some(p.clone()),
                Some(_) => {
                    return Err(CinderError::BadRequest(
                        "Invalid input for field/attribute progress.".into(),
                    ))
                }
            };
            let id = path.snapshot_id.clone();
            tx(&cinder, move |c| {
                let mut s = visible_snapshot(c, &caller, &id)?;
                if !state::snapshot_status_update_allowed(&s.status, &status) {
                    return Err(CinderError::BadRequest(format!(
                        "Provided snapshot status {status} not allowed for snapshot with \
                         status {}.",
                        s.status
                    )));
                }
                s.status = status;
                if progress.is_some() {
                    s.progress = progress;
                }
                s.updated_at = db::now_micros();
                db::volumes::update_snapshot(c, &s)?;
                Ok(())
            })
            .await?;
        }
        other => return Err(no_such_action(other)),
    }
    Ok(HttpResponse::Accepted().finish())
}
