//! `os-services` actions (admin): disabling a service, and freezing a
//! volume backend (`atoll@<policy>`), as Cinder's scheduler and API honour
//! them. A disabled or frozen backend takes no new volume (a create ends
//! in `error`, as when Cinder's scheduler finds no valid backend); a
//! frozen one refuses volume deletes and snapshot creates and deletes
//! ("Modification operations are not allowed on frozen storage
//! backends.").

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::error::{CinderError, Result};
use crate::http::Caller;
use crate::Cinder;
use db::volumes::ServiceRow;

pub(crate) const VOLUME_BINARY: &str = "cinder-volume";

/// The volume backend of a storage policy.
pub(crate) fn backend_host(policy: &str) -> String {
    format!("atoll@{policy}")
}

/// A service's state: its row, or enabled and not frozen.
pub(crate) fn state(c: &mut db::Conn, host: &str, binary: &str) -> Result<ServiceRow> {
    Ok(
        db::volumes::service_state(c, host, binary)?.unwrap_or(ServiceRow {
            host: host.into(),
            binary: binary.into(),
            disabled: false,
            disabled_reason: None,
            frozen: false,
            updated_at: 0,
        }),
    )
}

/// Every service of this deployment (see `hosts::service_hosts`) with its
/// state, in one read.
pub(crate) async fn all_states(cinder: &Cinder) -> Result<Vec<(&'static str, String, ServiceRow)>> {
    let hosts = crate::hosts::service_hosts(cinder);
    crate::views::run(cinder, move |c| {
        hosts
            .into_iter()
            .map(|(b, h)| {
                let st = state(c, &h, b)?;
                Ok((b, h, st))
            })
            .collect()
    })
    .await
}

/// Cinder's `assert_not_frozen` for a resource on `policy`'s backend.
pub(crate) fn assert_not_frozen(c: &mut db::Conn, policy: &str) -> Result<()> {
    if state(c, &backend_host(policy), VOLUME_BINARY)?.frozen {
        return Err(CinderError::invalid_input(
            "Modification operations are not allowed on frozen storage backends.",
        ));
    }
    Ok(())
}

/// Whether the scheduler would place a new volume on `policy`'s backend.
pub(crate) fn takes_volumes(c: &mut db::Conn, policy: &str) -> Result<bool> {
    let s = state(c, &backend_host(policy), VOLUME_BINARY)?;
    Ok(!s.disabled && !s.frozen)
}

#[derive(Debug, serde::Deserialize)]
pub struct ActionPath {
    #[allow(dead_code)] // the URL's project, checked by `Caller`
    project_id: String,
    action: String,
}

fn bad(field: &str, value: &Value, why: &str) -> CinderError {
    CinderError::BadRequest(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

/// Checks a body against Cinder's schema for the action: only `allowed`
/// members, each a string of 1 to 255 characters (`cluster` may be null).
fn check_body(body: &Map<String, Value>, allowed: &[&str]) -> Result<()> {
    for (k, v) in body {
        if !allowed.contains(&k.as_str()) {
            return Err(CinderError::BadRequest(format!(
                "Additional properties are not allowed ('{k}' was unexpected)"
            )));
        }
        match v {
            Value::Null if k == "cluster" => {}
            Value::String(s) if (1..=255).contains(&s.chars().count()) => {
                if k == "disabled_reason" && s.trim().is_empty() {
                    return Err(bad(k, v, "It must not be only spaces."));
                }
            }
            Value::String(_) => return Err(bad(k, v, "It must be 1 to 255 characters.")),
            _ => return Err(bad(k, v, &format!("{v} is not of type 'string'"))),
        }
    }
    Ok(())
}

/// `PUT /os-services/{enable,disable,disable-log-reason,freeze,thaw}`.
#[utoipa::path(put, path = "/v3/{project_id}/os-services/{action}", tag = "info",
    request_body = crate::dto::ActionRequest,
    responses((status = 200, description = "Done"), (status = 400, description = "Bad body or host"),
        (status = 403, description = "Not admin"), (status = 404, description = "Unknown action or service")))]
pub async fn update_service(
    caller: Caller,
    cinder: web::Data<Cinder>,
    path: web::Path<ActionPath>,
    body: web::Bytes,
) -> Result<HttpResponse> {
    caller.require_admin("volume_extension:services:update")?;
    let action = path.into_inner().action;
    let body: Map<String, Value> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(CinderError::BadRequest(
                "Malformed request body: a JSON object is expected".into(),
            ))
        }
    };
    match action.as_str() {
        "enable" | "disable" | "disable-log-reason" => {
            let mut allowed = vec!["binary", "host", "cluster", "service"];
            if action == "disable-log-reason" {
                allowed.push("disabled_reason");
            }
            check_body(&body, &allowed)?;
            let get = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
            let (binary, service) = (get("binary"), get("service"));
            let Some(binary_key) = binary.clone().or_else(|| service.clone()) else {
                return Err(CinderError::BadRequest(
                    "'binary' is a required property".into(),
                ));
            };
            let host =
                get("host").ok_or_else(|| CinderError::invalid_input("Host field is missing."))?;
            let known = crate::hosts::service_hosts(&cinder)
                .into_iter()
                .any(|(b, h)| b == binary_key && h == host);
            if !known {
                return Err(CinderError::NotFound(format!(
                    "Service {binary_key} could not be found on host {host}."
                )));
            }
            let disabled = action != "enable";
            let reason = get("disabled_reason");
            let (h, b, r) = (host.clone(), binary_key.clone(), reason.clone());
            crate::views::tx(&cinder, move |c| {
                let mut s = state(c, &h, &b)?;
                s.disabled = disabled;
                // Enabling clears the reason; disabling without one keeps it.
                if !disabled {
                    s.disabled_reason = None;
                } else if r.is_some() {
                    s.disabled_reason = r;
                }
                s.updated_at = db::now_micros();
                db::volumes::set_service_state(c, &s)?;
                Ok(())
            })
            .await?;
            tracing::info!(host = %host, binary = %binary_key, disabled, "service state changed");
            let mut out = json!({
                "host": host, "service": service.unwrap_or_default(),
                "binary": binary.unwrap_or_default(),
                "status": if disabled { "disabled" } else { "enabled" }, "disabled": disabled,
            });
            if action == "disable-log-reason" {
                out["disabled_reason"] = json!(reason);
            }
            Ok(HttpResponse::Ok().json(out))
        }
        "freeze" | "thaw" => {
            check_body(&body, &["host", "cluster"])?;
            let host = body
                .get("host")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| CinderError::invalid_input("Host field is missing."))?;
            let known = crate::hosts::service_hosts(&cinder)
                .into_iter()
                .any(|(b, h)| b == VOLUME_BINARY && h == host);
            if !known {
                return Err(CinderError::invalid_input(format!(
                    "No service found with host={host}"
                )));
            }
            let freeze = action == "freeze";
            let h = host.clone();
            crate::views::tx(&cinder, move |c| {
                let mut s = state(c, &h, VOLUME_BINARY)?;
                if s.frozen == freeze {
                    // Cinder's conditional update finds nothing to change.
                    return Err(CinderError::invalid_input(format!(
                        "No service could be changed: frozen in ['{h}'] must be {} to failover.",
                        if freeze { "False" } else { "True" }
                    )));
                }
                s.frozen = freeze;
                s.updated_at = db::now_micros();
                db::volumes::set_service_state(c, &s)?;
                Ok(())
            })
            .await?;
            tracing::info!(host = %host, frozen = freeze, "volume backend frozen state changed");
            Ok(HttpResponse::Ok().finish())
        }
        _ => Err(CinderError::NotFound("Unknown action".into())),
    }
}
