//! Attachments: the 3.27 attachments API and the legacy attach actions
//! (`os-reserve` ... `os-detach`). Giving an attachment a connector records
//! an NBD export (`db::exports`) whose secret name goes into
//! `connection_info`; detaching deletes it, and the block daemon drops the
//! connections of exports that disappear.

use actix_web::{web, HttpResponse};
use db::exports::ExportRow;
use db::volumes::{AttachmentRow, VolumeRow};
use serde_json::{json, Value};

use crate::dto::*;
use crate::error::{CinderError, Result};
use crate::http::{action_of, no_such_action, parse_valid, query, Caller};
use crate::microversion::features as mv;
use crate::views::{self, run, tx, visible_attachment, visible_volume};
use crate::{schema, state, Cinder, CinderConfig};

/// Path of an attachment route.
#[derive(Debug, serde::Deserialize)]
pub struct AttachmentPath {
    pub attachment_id: String,
}

/// A new attachment row in `status` for `vol`.
pub fn new_attachment(vol: &VolumeRow, instance: Option<String>, status: &str) -> AttachmentRow {
    let now = db::now_micros();
    AttachmentRow {
        id: uuid::Uuid::new_v4().hyphenated().to_string(),
        volume_id: vol.id.clone(),
        project_id: vol.project_id.clone(),
        instance_uuid: instance,
        attached_host: None,
        mountpoint: None,
        attach_status: status.into(),
        attach_mode: "null".into(),
        connector: None,
        connection_info: None,
        attach_time: None,
        created_at: now,
        updated_at: now,
    }
}

/// Exports `vol` for the connector of `att`: replaces any earlier export of
/// this attachment with a fresh secret name, records the connector and the
/// connection info on the attachment, and returns the connection info.
pub fn connect(
    c: &mut db::Conn,
    cfg: &CinderConfig,
    vol: &VolumeRow,
    att: &mut AttachmentRow,
    connector: &Value,
) -> Result<ConnectionInfo> {
    if !connector.is_object() {
        return Err(CinderError::BadRequest(
            "Invalid input for field/attribute connector. Value must be an object.".into(),
        ));
    }
    let rid = vol
        .resource_id
        .clone()
        .ok_or_else(|| CinderError::invalid_volume("volume has no data"))?;
    let asked = connector.get("mode").and_then(Value::as_str);
    let mode = if vol.readonly {
        "ro"
    } else if att.attach_mode == "ro" || att.attach_mode == "rw" {
        if att.attach_mode == "ro" {
            "ro"
        } else {
            "rw"
        }
    } else if asked == Some("ro") {
        "ro"
    } else {
        "rw"
    };
    db::exports::delete_for_attachment(c, &att.id)?;
    // Two v4 UUIDs' random bits: 32 hex characters nobody can guess.
    let name = uuid::Uuid::new_v4().simple().to_string();
    let ip = connector
        .get("ip")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    db::exports::insert(
        c,
        &ExportRow {
            name: name.clone(),
            resource_id: rid,
            volume_id: vol.id.clone(),
            attachment_id: att.id.clone(),
            client_ip: ip,
            readonly: mode == "ro",
            created_at: db::now_micros(),
        },
    )?;
    let info = ConnectionInfo {
        driver_volume_type: "nbd".into(),
        data: ConnectionData {
            host: cfg.nbd_host.clone(),
            port: cfg.nbd_port,
            uri: format!("nbd://{}:{}/{}", cfg.nbd_host, cfg.nbd_port, name),
            export_name: name,
            volume_id: vol.id.clone(),
            access_mode: mode.into(),
        },
    };
    att.attach_mode = mode.into();
    att.connector = Some(connector.to_string());
    att.connection_info = Some(serde_json::to_string(&info)?);
    att.attached_host = connector
        .get("host")
        .and_then(Value::as_str)
        .map(str::to_string);
    att.mountpoint = connector
        .get("mountpoint")
        .and_then(Value::as_str)
        .map(str::to_string);
    att.updated_at = db::now_micros();
    Ok(info)
}

/// Removes an attachment and its export, and settles the volume's status
/// on what remains attached.
pub fn detach(c: &mut db::Conn, vol: &mut VolumeRow, att_id: &str) -> Result<Vec<AttachmentRow>> {
    db::exports::delete_for_attachment(c, att_id)?;
    db::volumes::delete_attachment(c, att_id)?;
    let left = db::volumes::attachments_of_volume(c, &vol.id)?;
    settle(c, vol, &left)?;
    Ok(left)
}

/// Sets the volume's status from its attachments once no operation is in
/// flight: in-use while one is attached, else available.
pub fn settle(c: &mut db::Conn, vol: &mut VolumeRow, atts: &[AttachmentRow]) -> Result<()> {
    let attached = atts
        .iter()
        .filter(|a| a.attach_status == "attached")
        .count();
    let (status, attach_status) = state::settle(attached);
    vol.status = if attached == 0 && atts.iter().any(|a| a.attach_status == "reserved") {
        "reserved".into()
    } else {
        status.into()
    };
    vol.attach_status = attach_status.into();
    vol.updated_at = db::now_micros();
    db::volumes::update_volume(c, vol)?;
    Ok(())
}

/// Reserves a volume for an attachment (3.27); with a connector, also
/// exports it (`attaching` until `os-complete`).
#[utoipa::path(post, path = "/v3/{project_id}/attachments", tag = "attachments",
    request_body = AttachmentCreateRequest,
    responses((status = 200, body = AttachmentResponse), (status = 400, description = "Volume busy")))]
pub async fn create_attachment(
    caller: Caller,
    cinder: web::Data<Cinder>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_version(mv::NEW_ATTACH)?;
    caller.require_write("volume:attachment_create")?;
    let body: AttachmentCreateRequest =
        parse_valid(&body, &schema::bodies::attachment_create(caller.version))?;
    let a = body.attachment;
    let mode = if caller.at_least(mv::ATTACH_MODE_ARG) {
        match a.mode.as_deref() {
            None | Some("null") => "null",
            Some("rw") => "rw",
            Some("ro") => "ro",
            Some(m) => {
                return Err(CinderError::BadRequest(format!(
                    "Invalid input for field/attribute mode. Value: {m}."
                )))
            }
        }
    } else {
        "null"
    };
    let cfg = cinder.cfg.clone();
    let c2 = caller.clone();
    let att = tx(&cinder, move |c| {
        let mut vol = visible_volume(c, &c2, &a.volume_uuid)?;
        state::check_attachment_reserve(&vol.id, &vol.status, vol.multiattach)?;
        let mut att = new_attachment(&vol, a.instance_uuid.clone(), "reserved");
        att.attach_mode = mode.into();
        vol.status = "reserved".into();
        // Like Cinder's `if connector:`, an empty object is no connector
        // (cinderclient sends `{}` without --connect).
        let given = a
            .connector
            .as_ref()
            .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()));
        if let Some(conn) = given {
            connect(c, &cfg, &vol, &mut att, conn)?;
            att.attach_status = "attaching".into();
            vol.status = "attaching".into();
        }
        db::volumes::insert_attachment(c, &att)?;
        vol.updated_at = db::now_micros();
        db::volumes::update_volume(c, &vol)?;
        Ok(att)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AttachmentResponse {
        attachment: views::attachment_view(&att),
    }))
}

/// Gives a reserved attachment its connector: exports the volume and
/// returns the connection info.
#[utoipa::path(put, path = "/v3/{project_id}/attachments/{attachment_id}", tag = "attachments",
    request_body = AttachmentUpdateRequest, responses((status = 200, body = AttachmentResponse)))]
pub async fn update_attachment(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<AttachmentPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_version(mv::NEW_ATTACH)?;
    caller.require_write("volume:attachment_update")?;
    let body: AttachmentUpdateRequest = parse_valid(&body, &schema::bodies::attachment_update())?;
    let cfg = cinder.cfg.clone();
    let id = path.attachment_id.clone();
    let c2 = caller.clone();
    let att = tx(&cinder, move |c| {
        let mut att = visible_attachment(c, &c2, &id)?;
        let mut vol = visible_volume(c, &c2, &att.volume_id)?;
        if vol.status.contains("error") {
            return Err(CinderError::Conflict(format!(
                "Volume attachments can not be updated if the volume is in an error state. The \
                 Volume {} currently has a status of: {} ",
                vol.id, vol.status
            )));
        }
        connect(c, &cfg, &vol, &mut att, &body.attachment.connector)?;
        if att.attach_status != "attached" {
            att.attach_status = "attaching".into();
            vol.status = "attaching".into();
            vol.updated_at = db::now_micros();
            db::volumes::update_volume(c, &vol)?;
        }
        db::volumes::update_attachment(c, &att)?;
        Ok(att)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AttachmentResponse {
        attachment: views::attachment_view(&att),
    }))
}

/// `os-complete`: the host is connected; the volume becomes in-use.
#[utoipa::path(post, path = "/v3/{project_id}/attachments/{attachment_id}/action",
    tag = "attachments", request_body = ActionRequest,
    responses((status = 204, description = "Completed")))]
pub async fn attachment_action(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<AttachmentPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_version(mv::NEW_ATTACH)?;
    caller.require_write("volume:attachment_complete")?;
    let (name, _, _) = action_of(&body)?;
    if name != "os-complete" {
        return Err(no_such_action(&name));
    }
    let id = path.attachment_id.clone();
    tx(&cinder, move |c| {
        let mut att = visible_attachment(c, &caller, &id)?;
        let mut vol = visible_volume(c, &caller, &att.volume_id)?;
        att.attach_status = "attached".into();
        att.attach_time.get_or_insert(db::now_micros());
        att.updated_at = db::now_micros();
        db::volumes::update_attachment(c, &att)?;
        vol.status = "in-use".into();
        vol.attach_status = "attached".into();
        vol.updated_at = db::now_micros();
        db::volumes::update_volume(c, &vol)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes an attachment and its export; the volume becomes available when
/// nothing else is attached.
#[utoipa::path(delete, path = "/v3/{project_id}/attachments/{attachment_id}", tag = "attachments",
    responses((status = 200, body = AttachmentsResponse)))]
pub async fn delete_attachment(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<AttachmentPath>,
) -> Result<HttpResponse> {
    caller.require_version(mv::NEW_ATTACH)?;
    caller.require_write("volume:attachment_delete")?;
    let id = path.attachment_id.clone();
    let left = tx(&cinder, move |c| {
        let att = visible_attachment(c, &caller, &id)?;
        let mut vol = visible_volume(c, &caller, &att.volume_id)?;
        detach(c, &mut vol, &att.id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(AttachmentsResponse {
        attachments: left.iter().map(views::attachment_summary).collect(),
    }))
}

async fn list_rows(
    caller: &Caller,
    cinder: &Cinder,
    req: &actix_web::HttpRequest,
) -> Result<Vec<AttachmentRow>> {
    caller.require_version(mv::NEW_ATTACH)?;
    let q = query(req)?;
    let all = caller.is_admin()
        && q.get("all_tenants")
            .is_some_and(|v| crate::http::str_bool(v) != Some(false));
    let project = (!all).then(|| caller.project.clone());
    let rows = run(cinder, move |c| {
        Ok(db::volumes::list_attachments(c, project.as_deref())?)
    })
    .await?;
    Ok(rows
        .into_iter()
        .filter(|a| q.get("volume_id").is_none_or(|v| &a.volume_id == v))
        .filter(|a| q.get("status").is_none_or(|s| &a.attach_status == s))
        .filter(|a| {
            q.get("instance_id")
                .is_none_or(|i| a.instance_uuid.as_ref() == Some(i))
        })
        .collect())
}

/// Lists the caller's attachments (summary).
#[utoipa::path(get, path = "/v3/{project_id}/attachments", tag = "attachments",
    responses((status = 200, body = AttachmentsResponse)))]
pub async fn list_attachments(
    caller: Caller,
    req: actix_web::HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    let rows = list_rows(&caller, &cinder, &req).await?;
    Ok(HttpResponse::Ok().json(AttachmentsResponse {
        attachments: rows.iter().map(views::attachment_summary).collect(),
    }))
}

/// Lists the caller's attachments in detail.
#[utoipa::path(get, path = "/v3/{project_id}/attachments/detail", tag = "attachments",
    responses((status = 200, body = AttachmentsResponse)))]
pub async fn list_attachments_detail(
    caller: Caller,
    req: actix_web::HttpRequest,
    cinder: web::Data<Cinder>,
) -> Result<HttpResponse> {
    let rows = list_rows(&caller, &cinder, &req).await?;
    Ok(HttpResponse::Ok().json(AttachmentsResponse {
        attachments: rows
            .iter()
            .map(|a| json!(views::attachment_view(a)))
            .collect(),
    }))
}

/// Shows one attachment with its connection info.
#[utoipa::path(get, path = "/v3/{project_id}/attachments/{attachment_id}", tag = "attachments",
    responses((status = 200, body = AttachmentResponse)))]
pub async fn show_attachment(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<AttachmentPath>,
) -> Result<HttpResponse> {
    caller.require_version(mv::NEW_ATTACH)?;
    let id = path.attachment_id.clone();
    let att = run(&cinder, move |c| visible_attachment(c, &caller, &id)).await?;
    Ok(HttpResponse::Ok().json(AttachmentResponse {
        attachment: views::attachment_view(&att),
    }))
}
