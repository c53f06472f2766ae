//! `POST /volumes/{id}/action`: one JSON key names the action. Extend,
//! flags, admin status reset and force delete, revert (3.40), upload to
//! image, image metadata, and the legacy attach actions.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use db::volumes::VolumeRow;
use serde_json::{json, Map, Value};

use crate::attach::{connect, detach, new_attachment, settle};
use crate::dto::ActionRequest;
use crate::error::{CinderError, Result};
use crate::http::{action_of, no_such_action, parse_bool, parse_size, Caller};
use crate::microversion::features as mv;
use crate::views::{self, meta_map, meta_text, tx, visible_snapshot, visible_volume, GIB};
use crate::volumes::{destroy_volume, VolumePath};
use crate::{quota, schema, state, Cinder};

/// Runs one volume action.
#[utoipa::path(post, path = "/v3/{project_id}/volumes/{volume_id}/action", tag = "volume actions",
    request_body = ActionRequest,
    responses((status = 202, description = "Accepted"), (status = 200, description = "Done, with a body"),
        (status = 400, description = "Invalid state or input"), (status = 404, description = "No such volume")))]
pub async fn volume_action(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<VolumePath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    let (name, arg, whole) = action_of(&body)?;
    if name == "os-extend" {
        schema::validate(&schema::bodies::extend(), &whole)?;
    }
    let id = path.volume_id.clone();
    let cinder = cinder.get_ref();
    match name.as_str() {
        "os-extend" => extend(cinder, &caller, &id, &arg).await,
        "os-set_bootable" => {
            caller.require_write("volume:update")?;
            let b = parse_bool(field(&arg, "bootable")?, "bootable")?;
            update(cinder, &caller, &id, move |v| {
                v.bootable = b;
                Ok(())
            })
            .await?;
            Ok(HttpResponse::Ok().finish())
        }
        "os-update_readonly_flag" => {
            caller.require_write("volume:update_readonly_flag")?;
            let ro = parse_bool(field(&arg, "readonly")?, "readonly")?;
            update(cinder, &caller, &id, move |v| {
                v.readonly = ro;
                Ok(())
            })
            .await?;
            Ok(HttpResponse::Accepted().finish())
        }
        "os-reset_status" => reset_status(cinder, &caller, &id, &arg).await,
        "os-force_delete" => {
            caller.require_admin("volume_extension:volume_admin_actions:force_delete")?;
            destroy_volume(cinder, &caller, &id, false, true).await?;
            Ok(HttpResponse::Accepted().finish())
        }
        "os-force_detach" => force_detach(cinder, &caller, &id, &arg).await,
        "os-retype" => retype(cinder, &caller, &id, &arg).await,
        "revert" => revert(cinder, &caller, &id, &arg).await,
        "os-volume_upload_image" => upload_to_image(cinder, &caller, &id, &arg).await,
        "os-set_image_metadata" | "os-unset_image_metadata" | "os-show_image_metadata" => {
            image_metadata(cinder, &caller, &id, &name, &arg).await
        }
        "os-reserve"
        | "os-unreserve"
        | "os-begin_detaching"
        | "os-roll_detaching"
        | "os-initialize_connection"
        | "os-terminate_connection"
        | "os-attach"
        | "os-detach" => legacy_attach(cinder, &caller, &id, &name, arg).await,
        other => Err(no_such_action(other)),
    }
}

fn field<'a>(arg: &'a Value, name: &str) -> Result<&'a Value> {
    arg.get(name).ok_or_else(|| {
        CinderError::BadRequest(format!(
            "Invalid input for field/attribute {name}. '{name}' is a required property"
        ))
    })
}

/// Loads the volume, applies `f` and writes it back, in one transaction.
async fn update<F>(cinder: &Cinder, caller: &Caller, id: &str, f: F) -> Result<VolumeRow>
where
    F: FnOnce(&mut VolumeRow) -> Result<()> + Send + 'static,
{
    let caller = caller.clone();
    let id = id.to_string();
    tx(cinder, move |c| {
        let mut v = visible_volume(c, &caller, &id)?;
        f(&mut v)?;
        v.updated_at = db::now_micros();
        db::volumes::update_volume(c, &v)?;
        Ok(v)
    })
    .await
}

/// `os-retype`: a new type whose storage policy is the one the volume's
/// blocks are under is a metadata change; moving blocks to another policy
/// (Cinder's migration) is not offered, so such a retype is refused.
async fn retype(cinder: &Cinder, caller: &Caller, id: &str, arg: &Value) -> Result<HttpResponse> {
    caller.require_write("volume:retype")?;
    let new_type = field(arg, "new_type")?
        .as_str()
        .ok_or_else(|| CinderError::invalid_input("new_type must be a string"))?
        .to_string();
    match arg.get("migration_policy").and_then(Value::as_str) {
        None | Some("never") | Some("on-demand") => {}
        Some(p) => {
            return Err(CinderError::invalid_input(format!(
                "Invalid migration policy '{p}'"
            )))
        }
    }
    let (c2, i2, cfg) = (caller.clone(), id.to_string(), cinder.cfg.clone());
    tx(cinder, move |c| {
        let mut v = visible_volume(c, &c2, &i2)?;
        if v.status != "available" && v.status != "in-use" {
            return Err(CinderError::BadRequest(format!(
                "Invalid volume: Volume {} status must be available or in-use, but current \
                 status is: {}.",
                v.id, v.status
            )));
        }
        let t = crate::types::visible(c, &c2, &new_type)?.ok_or_else(|| {
            CinderError::NotFound(format!("Volume type {new_type} could not be found."))
        })?;
        if t.name == v.volume_type {
            return Err(CinderError::invalid_input(format!(
                "New volume_type same as original: {}.",
                t.name
            )));
        }
        let current = match &v.resource_id {
            Some(rid) => archipelago::meta::get_resource(c, rid)?.policy,
            None => cfg.volume_types[0].policy.clone(),
        };
        // The new type's per-type limits count this volume from now on.
        let (_, per_type) = crate::quota::limits(c, &cfg.quotas, Some(&v.project_id), "default")?;
        crate::quota::check_type(c, &per_type, &v.project_id, &t.name, 1, 0, v.size)?;
        let wanted = t.policy(&cfg);
        if wanted != current {
            return Err(CinderError::BadRequest(format!(
                "Invalid volume type: the volume's blocks are under storage policy {current} \
                 and type {} stores under {wanted}; moving blocks between policies is not \
                 offered.",
                t.name
            )));
        }
        v.volume_type = t.name;
        v.updated_at = db::now_micros();
        db::volumes::update_volume(c, &v)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `os-extend`: available volumes, and in-use ones from 3.42. The status
/// is `extending` while the resource grows (metadata only).
async fn extend(cinder: &Cinder, caller: &Caller, id: &str, arg: &Value) -> Result<HttpResponse> {
    caller.require_write("volume:extend")?;
    let new_size = parse_size(field(arg, "new_size")?, "new_size")?;
    let in_use_ok = caller.at_least(mv::EXTEND_IN_USE);
    let quotas = cinder.cfg.quotas.clone();
    let c2 = caller.clone();
    let i2 = id.to_string();
    let (rid, prev) = tx(cinder, move |c| {
        let mut v = visible_volume(c, &c2, &i2)?;
        state::check_extend(&v.id, &v.status, in_use_ok, v.size, new_size)?;
        quota::check_extend(c, &quotas, &v.project_id, &v.volume_type, new_size - v.size)?;
        let prev = std::mem::replace(&mut v.status, "extending".into());
        v.updated_at = db::now_micros();
        db::volumes::update_volume(c, &v)?;
        Ok((v.resource_id.clone().unwrap_or_default(), prev))
    })
    .await?;
    let grown = cinder.arch.resize(&rid, new_size as u64 * GIB).await;
    let ok = grown.is_ok();
    update(cinder, caller, id, move |v| {
        if ok {
            v.size = new_size;
            v.status = prev;
        } else {
            v.status = "error_extending".into();
        }
        Ok(())
    })
    .await?;
    grown?;
    Ok(HttpResponse::Accepted().finish())
}

async fn reset_status(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
    arg: &Value,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:volume_admin_actions:reset_status")?;
    let status = arg
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_string);
    let attach = arg
        .get("attach_status")
        .and_then(Value::as_str)
        .map(str::to_string);
    if status.is_none() && attach.is_none() {
        return Err(CinderError::BadRequest(
            "Must specify 'status', 'attach_status' or \
            'migration_status' for update."
                .into(),
        ));
    }
    if let Some(s) = &status {
        if !state::VOLUME_STATUSES.contains(&s.as_str()) {
            return Err(CinderError::BadRequest(format!(
                "Invalid input for field/attribute status. Value: {s}. '{s}' is not one of \
                 the valid statuses"
            )));
        }
    }
    if let Some(a) = &attach {
        if a != "attached" && a != "detached" {
            return Err(CinderError::BadRequest(format!(
                "Invalid input for field/attribute attach_status. Value: {a}."
            )));
        }
    }
    update(cinder, caller, id, move |v| {
        if let Some(s) = status {
            v.status = s;
        }
        if let Some(a) = attach {
            v.attach_status = a;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `os-force_detach` (admin): drops an attachment (the one named by
/// `attachment_id`, else the only one) and its NBD export whatever the
/// volume's status, and settles the status on what remains.
async fn force_detach(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
    arg: &Value,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:volume_admin_actions:force_detach")?;
    let want = arg
        .get("attachment_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let c2 = caller.clone();
    let i2 = id.to_string();
    tx(cinder, move |c| {
        let mut v = visible_volume(c, &c2, &i2)?;
        let atts = db::volumes::attachments_of_volume(c, &v.id)?;
        let target = match &want {
            Some(w) => atts.iter().find(|a| &a.id == w),
            None if atts.len() == 1 => atts.first(),
            None => None,
        };
        let Some(a) = target else {
            return Err(CinderError::attachment_not_found(
                want.as_deref().unwrap_or("None"),
            ));
        };
        detach(c, &mut v, &a.id.clone())?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `revert` (3.40): the volume goes back to its latest snapshot; the
/// resource is pointed at a fresh layer over the snapshot's map.
async fn revert(cinder: &Cinder, caller: &Caller, id: &str, arg: &Value) -> Result<HttpResponse> {
    caller.require_version(mv::VOLUME_REVERT)?;
    caller.require_write("volume:revert_to_snapshot")?;
    let snap_id = field(arg, "snapshot_id")?
        .as_str()
        .ok_or_else(|| CinderError::BadRequest("snapshot_id must be a string".into()))?
        .to_string();
    let c2 = caller.clone();
    let i2 = id.to_string();
    let (rid, srid) = tx(cinder, move |c| {
        let mut v = visible_volume(c, &c2, &i2)?;
        let s = visible_snapshot(c, &c2, &snap_id)?;
        if s.volume_id != v.id {
            return Err(CinderError::BadRequest(format!(
                "Specified snapshot {} is not the latest one of volume {}.",
                s.id, v.id
            )));
        }
        let latest = db::volumes::snapshots_of_volume(c, &v.id)?.pop();
        state::check_revert(
            &v.id,
            &v.status,
            &s.id,
            latest.as_ref().map(|l| l.id.as_str()),
        )?;
        v.status = "reverting".into();
        v.updated_at = db::now_micros();
        db::volumes::update_volume(c, &v)?;
        Ok((
            v.resource_id.clone().unwrap_or_default(),
            s.resource_id.clone().unwrap_or_default(),
        ))
    })
    .await?;
    let done = cinder.arch.revert_to(&rid, &srid).await;
    let ok = done.is_ok();
    update(cinder, caller, id, move |v| {
        v.status = if ok { "available" } else { "error" }.into();
        Ok(())
    })
    .await?;
    done?;
    Ok(HttpResponse::Accepted().finish())
}

/// Image properties Cinder keeps as image fields, not custom properties.
const CORE_IMAGE_KEYS: &[&str] = &[
    "image_id",
    "image_name",
    "checksum",
    "container_format",
    "disk_format",
    "min_disk",
    "min_ram",
    "size",
];

/// `os-volume_upload_image`: a snapshot of the volume becomes an active
/// Glance image in the same transaction; no data is copied. The image's
/// checksum and hash stay null: they are unknown without reading the data
/// (Glance allows that for images registered by location).
async fn upload_to_image(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
    arg: &Value,
) -> Result<HttpResponse> {
    caller.require_write("volume_extension:volume_actions:upload_image")?;
    let s = |k: &str| arg.get(k).and_then(Value::as_str).map(str::to_string);
    let image_name = s("image_name").ok_or_else(|| {
        CinderError::BadRequest(
            "Invalid input for field/attribute image_name. 'image_name' is a required property"
                .into(),
        )
    })?;
    let force = match arg.get("force") {
        None | Some(Value::Null) => false,
        Some(v) => parse_bool(v, "force")?,
    };
    let disk_format = s("disk_format").unwrap_or_else(|| "raw".into());
    let container_format = s("container_format").unwrap_or_else(|| "bare".into());
    if disk_format != "raw" {
        return Err(CinderError::invalid_input(format!(
            "disk_format {disk_format} would need a conversion that copies the data; only raw \
             images are made from volumes."
        )));
    }
    if container_format != "bare" {
        return Err(CinderError::invalid_input(format!(
            "Invalid container format {container_format}; only bare is supported."
        )));
    }
    let v31 = caller.at_least(crate::microversion::ApiVersion::new(3, 1));
    let visibility = if v31 { s("visibility") } else { None }.unwrap_or_else(|| "private".into());
    if !["public", "private", "shared", "community"].contains(&visibility.as_str()) {
        return Err(CinderError::invalid_input(format!(
            "Invalid visibility {visibility}."
        )));
    }
    if visibility == "public" && !caller.is_admin() {
        return Err(CinderError::policy(
            "volume_extension:volume_actions:upload_public",
        ));
    }
    let protected = match arg.get("protected").filter(|_| v31) {
        None | Some(Value::Null) => false,
        Some(v) => parse_bool(v, "protected")?,
    };
    let c2 = caller.clone();
    let i2 = id.to_string();
    let vol = views::run(cinder, move |c| visible_volume(c, &c2, &i2)).await?;
    let rid = vol.resource_id.clone().unwrap_or_default();
    let image_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let c2 = caller.clone();
    let i2 = id.to_string();
    let (iid, name) = (image_id.clone(), image_name.clone());
    let (dfmt, cfmt, vis) = (
        disk_format.clone(),
        container_format.clone(),
        visibility.clone(),
    );
    let vol = cinder
        .arch
        .snapshot(&rid, move |c, snap_rid| {
            let v = visible_volume(c, &c2, &i2)?;
            state::check_upload(&v.status, force)?;
            let policy = archipelago::meta::get_resource(c, snap_rid)?.policy;
            let now = db::now_micros();
            let mut img = db::images::ImageRow::queued(iid, Some(v.project_id.clone()), now);
            let props: BTreeMap<String, String> = meta_map(&v.image_metadata)
                .into_iter()
                .filter(|(k, _)| !CORE_IMAGE_KEYS.contains(&k.as_str()))
                .collect();
            img.name = Some(name);
            img.status = "active".into();
            img.visibility = vis;
            img.protected = protected;
            img.size = Some(v.size * GIB as i64);
            img.virtual_size = Some(v.size * GIB as i64);
            img.disk_format = Some(dfmt);
            img.container_format = Some(cfmt);
            img.min_disk = v.size as i32;
            img.properties = serde_json::to_string(&props)?;
            img.resource_id = Some(snap_rid.to_string());
            img.store = Some(policy);
            db::images::insert(c, &img)?;
            Ok::<_, CinderError>(v)
        })
        .await?;
    tracing::info!(volume = %vol.id, image = %image_id, "volume uploaded to image");
    let tname = vol.volume_type.clone();
    let vtype = views::run(cinder, move |c| crate::types::lookup(c, &tname))
        .await?
        .map(|t| json!(t.view(caller.is_admin())));
    let mut out = Map::new();
    out.insert("id".into(), json!(vol.id));
    out.insert(
        "updated_at".into(),
        json!(crate::http::timestamp(vol.updated_at)),
    );
    out.insert("status".into(), json!(vol.status));
    out.insert("display_description".into(), json!(vol.description));
    out.insert("size".into(), json!(vol.size));
    out.insert("volume_type".into(), vtype.unwrap_or(Value::Null));
    out.insert("image_id".into(), json!(image_id));
    out.insert("container_format".into(), json!(container_format));
    out.insert("disk_format".into(), json!(disk_format));
    out.insert("image_name".into(), json!(image_name));
    if v31 {
        out.insert("visibility".into(), json!(visibility));
        out.insert("protected".into(), json!(protected));
    }
    Ok(HttpResponse::Accepted().json(json!({"os-volume_upload_image": out})))
}

async fn image_metadata(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
    name: &str,
    arg: &Value,
) -> Result<HttpResponse> {
    if name == "os-show_image_metadata" {
        let (v, _) = views::load_volume(cinder, caller, id).await?;
        return Ok(HttpResponse::Ok().json(json!({"metadata": meta_map(&v.image_metadata)})));
    }
    caller.require_write("volume_extension:volume_image_metadata:set")?;
    if name == "os-set_image_metadata" {
        let m = crate::volumes::parse_metadata(Some(field(arg, "metadata")?))?;
        let v = update(cinder, caller, id, move |v| {
            let mut cur = meta_map(&v.image_metadata);
            cur.extend(m);
            v.image_metadata = meta_text(&cur);
            Ok(())
        })
        .await?;
        return Ok(HttpResponse::Ok().json(json!({"metadata": meta_map(&v.image_metadata)})));
    }
    let key = field(arg, "key")?.as_str().unwrap_or_default().to_string();
    let vid = id.to_string();
    update(cinder, caller, id, move |v| {
        let mut cur = meta_map(&v.image_metadata);
        if cur.remove(&key).is_none() {
            return Err(CinderError::NotFound(format!(
                "Glance metadata for volume {vid} with key {key} could not be found."
            )));
        }
        v.image_metadata = meta_text(&cur);
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().finish())
}

/// The pre-3.27 attach flow Nova and os-brick used: reserve, initialize
/// the connection (export), attach, and back.
async fn legacy_attach(
    cinder: &Cinder,
    caller: &Caller,
    id: &str,
    name: &str,
    arg: Value,
) -> Result<HttpResponse> {
    caller.require_write(&format!("volume_extension:volume_actions:{}", &name[3..]))?;
    let cfg = cinder.cfg.clone();
    let c2 = caller.clone();
    let i2 = id.to_string();
    let name = name.to_string();
    let info = tx(cinder, move |c| {
        let mut v = visible_volume(c, &c2, &i2)?;
        let atts = db::volumes::attachments_of_volume(c, &v.id)?;
        let pending = atts
            .iter()
            .rev()
            .find(|a| a.attach_status != "attached")
            .cloned();
        let mut info = None;
        match name.as_str() {
            "os-reserve" => v.status = state::check_reserve(&v.status, v.multiattach)?.into(),
            "os-unreserve" => {
                if v.status == "attaching" {
                    return settle(c, &mut v, &atts).map(|_| None);
                }
                return Ok(None);
            }
            "os-begin_detaching" => {
                state::check_begin_detaching(&v.status, v.attach_status == "attached")?;
                v.status = "detaching".into();
            }
            "os-roll_detaching" => {
                if v.status == "detaching" {
                    v.status = "in-use".into();
                }
            }
            "os-initialize_connection" => {
                let conn = arg
                    .get("connector")
                    .cloned()
                    .ok_or_else(|| CinderError::BadRequest("Must specify 'connector'".into()))?;
                let (mut a, fresh) = match pending {
                    Some(a) => (a, false),
                    None => (new_attachment(&v, None, "attaching"), true),
                };
                info = Some(connect(c, &cfg, &v, &mut a, &conn)?);
                if fresh {
                    db::volumes::insert_attachment(c, &a)?;
                } else {
                    db::volumes::update_attachment(c, &a)?;
                }
                return Ok(info);
            }
            "os-attach" => {
                let s = |k: &str| arg.get(k).and_then(Value::as_str).map(str::to_string);
                let mode = s("mode").unwrap_or_else(|| "rw".into());
                if v.readonly && mode != "ro" {
                    return Err(CinderError::BadRequest(format!(
                        "Invalid attaching mode '{mode}' for volume {}.",
                        v.id
                    )));
                }
                let (mut a, fresh) = match pending {
                    Some(a) => (a, false),
                    None => (new_attachment(&v, None, "attaching"), true),
                };
                a.instance_uuid = s("instance_uuid").or(a.instance_uuid);
                a.attached_host = s("host_name").or(a.attached_host);
                a.mountpoint = s("mountpoint").or(a.mountpoint);
                a.attach_mode = mode;
                a.attach_status = "attached".into();
                a.attach_time = Some(db::now_micros());
                if fresh {
                    db::volumes::insert_attachment(c, &a)?;
                } else {
                    db::volumes::update_attachment(c, &a)?;
                }
                v.status = "in-use".into();
                v.attach_status = "attached".into();
            }
            "os-detach" => {
                let want = arg.get("attachment_id").and_then(Value::as_str);
                let target = match want {
                    Some(w) => atts.iter().find(|a| a.id == w),
                    None if atts.len() == 1 => atts.first(),
                    None => None,
                };
                let Some(a) = target else {
                    return Err(CinderError::invalid_volume(
                        "Unable to detach volume: attachment_id is missing or unknown.",
                    ));
                };
                detach(c, &mut v, &a.id.clone())?;
                return Ok(None);
            }
            "os-terminate_connection" => {
                let conn = arg.get("connector").cloned().unwrap_or(Value::Null);
                let host = conn.get("host").and_then(Value::as_str);
                let ip = conn.get("ip").and_then(Value::as_str);
                for mut a in atts.iter().cloned() {
                    let ac: Value = a
                        .connector
                        .as_deref()
                        .and_then(|s| serde_json::from_str(s).ok())
                        .unwrap_or(Value::Null);
                    let same = (host.is_some() && ac.get("host").and_then(Value::as_str) == host)
                        || (ip.is_some() && ac.get("ip").and_then(Value::as_str) == ip);
                    if !same {
                        continue;
                    }
                    db::exports::delete_for_attachment(c, &a.id)?;
                    if a.attach_status == "attached" {
                        a.connection_info = None;
                        db::volumes::update_attachment(c, &a)?;
                    } else {
                        db::volumes::delete_attachment(c, &a.id)?;
                    }
                }
                let left = db::volumes::attachments_of_volume(c, &v.id)?;
                if v.status == "attaching" {
                    settle(c, &mut v, &left)?;
                }
                return Ok(None);
            }
            other => return Err(no_such_action(other)),
        }
        v.updated_at = db::now_micros();
        db::volumes::update_volume(c, &v)?;
        Ok(info)
    })
    .await?;
    Ok(match info {
        Some(i) => HttpResponse::Ok().json(json!({"connection_info": i})),
        None => HttpResponse::Accepted().finish(),
    })
}
