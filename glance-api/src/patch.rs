//! Image update by JSON patch (`application/openstack-images-v2.1-json-patch`
//! and the older v2.0 form), parsed and applied as Glance does: which
//! attributes are read-only or reserved, which ops a path allows, and the
//! status code of each refusal.
//!
//! Applying is pure: it changes a copy of the row and returns the location
//! additions, which the handler turns into a registration (they touch
//! another view's rows).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use db::images::ImageRow;
use serde_json::Value;

use crate::dto::{self, LocationAdd, SNAPSHOT_PROPERTY};
use crate::error::{GlanceError, Result};

pub const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";
pub const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";
/// `Accept-Patch` of a 415.
pub const ACCEPT_PATCH: &str =
    "application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch";

const READ_ONLY: &[&str] = &[
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
    "stores",
];
const RESERVED: &[&str] = &["location", "deleted", "deleted_at"];
const RESERVED_NS: &str = "os_glance";
const BASE: &[&str] = &[
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "min_ram",
    "min_disk",
    "container_format",
    "disk_format",
    "owner",
    "tags",
    "locations",
];
pub const CONTAINER_FORMATS: &[&str] = &[
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];
pub const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
pub const VISIBILITIES: &[&str] = &["community", "public", "private", "shared"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    Replace,
}

/// One parsed change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub op: Op,
    pub path: Vec<String>,
    pub value: Option<Value>,
    /// Sent as the v2.0 (draft 4) patch: `add` of a present property conflicts.
    pub v20: bool,
}

/// Checks an attribute name the way Glance does for create and patch.
pub fn check_attribute(name: &str) -> Result<()> {
    if READ_ONLY.contains(&name) {
        return Err(GlanceError::Forbidden(format!(
            "Attribute '{name}' is read-only."
        )));
    }
    if is_reserved(name) {
        return Err(GlanceError::Forbidden(format!(
            "Attribute '{name}' is reserved."
        )));
    }
    Ok(())
}

fn bad(msg: impl Into<String>) -> GlanceError {
    GlanceError::BadRequest(msg.into())
}

/// Parses a patch body sent with media type `ctype`.
pub fn parse(ctype: Option<&str>, body: &[u8]) -> Result<Vec<Change>> {
    let draft = match ctype {
        Some(PATCH_V21) => 10,
        Some(PATCH_V20) => 4,
        _ => {
            return Err(GlanceError::UnsupportedMediaType {
                content_type: ctype.unwrap_or_default().to_string(),
                detail: format!("Image PATCH expects Content-Type one of: {ACCEPT_PATCH}"),
                accept_patch: Some(ACCEPT_PATCH),
            })
        }
    };
    let Value::Array(raw) = crate::http::json_body(body)? else {
        return Err(bad(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let mut out = Vec::with_capacity(raw.len());
    for item in raw {
        let Value::Object(obj) = item else {
            return Err(bad("Operations must be JSON objects."));
        };
        let (op, pointer) = if draft == 10 {
            let op = match obj.get("op").and_then(Value::as_str) {
                None => {
                    return Err(bad("Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace."))
                }
                Some("add") => Op::Add,
                Some("remove") => Op::Remove,
                Some("replace") => Op::Replace,
                Some(other) => {
                    return Err(bad(format!("Invalid operation: `{other}`. It must be one of the following: add, remove, replace.")))
                }
            };
            let Some(path) = obj.get("path").and_then(Value::as_str) else {
                return Err(bad("Unable to find 'path' in JSON Schema change"));
            };
            (op, path.to_string())
        } else {
            let found: Vec<(Op, &str)> = [
                (Op::Add, "add"),
                (Op::Remove, "remove"),
                (Op::Replace, "replace"),
            ]
            .into_iter()
            .filter(|(_, k)| obj.contains_key(*k))
            .collect();
            match found.as_slice() {
                [(op, k)] => (
                    *op,
                    obj[*k].as_str().unwrap_or_default().to_string(),
                ),
                [] => return Err(bad("Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".")),
                _ => return Err(bad("Operation objects must contain only one member named \"add\", \"remove\", or \"replace\".")),
            }
        };
        let path = decode_pointer(&pointer)?;
        let depth_ok = match (path[0].as_str(), op) {
            ("locations", Op::Add | Op::Remove) => path.len() == 2,
            _ => path.len() == 1,
        };
        if !depth_ok {
            return Err(bad(format!(
                "Invalid JSON pointer for this resource: '/{}'",
                path.join("/")
            )));
        }
        let value = if op == Op::Remove {
            None
        } else {
            Some(obj.get("value").cloned().ok_or_else(|| {
                bad(format!(
                    "Operation \"{}\" requires a member named \"value\".",
                    match op {
                        Op::Add => "add",
                        _ => "replace",
                    }
                ))
            })?)
        };
        check_attribute(&path[0])?;
        out.push(Change {
            op,
            path,
            value,
            v20: draft == 4,
        });
    }
    Ok(out)
}

/// Glance's limited JSON pointer: `/a` or `/a/b`, `~0`/`~1` escapes.
fn decode_pointer(p: &str) -> Result<Vec<String>> {
    if !p.starts_with('/') {
        return Err(bad(format!("Pointer `{p}` does not start with \"/\".")));
    }
    if p.len() > 1 && p.ends_with('/') {
        return Err(bad(format!("Pointer `{p}` end with \"/\".")));
    }
    if p[1..].split('/').any(|s| s.trim().is_empty()) {
        return Err(bad(format!("Pointer `{p}` contains adjacent \"/\".")));
    }
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.peek(), Some('0') | Some('1')) {
            return Err(bad(format!(
                "Pointer `{p}` contains \"~\" not part of a recognized escape sequence."
            )));
        }
    }
    Ok(p[1..]
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~").trim().to_string())
        .collect())
}

/// What applying a patch leaves for the handler to do.
#[derive(Debug, Default)]
pub struct Applied {
    /// Locations to add (registration of Swift objects).
    pub locations: Vec<LocationAdd>,
}

fn opt_string(name: &str, v: &Value, max: usize) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max => Ok(Some(s.clone())),
        Value::String(_) => Err(bad(format!(
            "Provided object does not match schema '{name}': value is too long"
        ))),
        _ => Err(bad(format!(
            "Provided object does not match schema 'image': {v} is not of type 'null', 'string'"
        ))),
    }
}

fn enum_value(name: &str, v: &Value, allowed: &[&str], nullable: bool) -> Result<Option<String>> {
    match v {
        Value::Null if nullable => Ok(None),
        Value::String(s) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
        _ => Err(bad(format!(
            "Invalid value '{}' for {name}: not one of {allowed:?}",
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        ))),
    }
}

fn bool_value(v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| {
        bad(format!(
            "Provided object does not match schema 'image': {v} is not of type 'boolean'"
        ))
    })
}

fn int_value(v: &Value) -> Result<i32> {
    v.as_i64()
        .filter(|n| *n >= 0 && *n <= i32::MAX as i64)
        .map(|n| n as i32)
        .ok_or_else(|| {
            bad(format!(
                "Provided object does not match schema 'image': {v} is not of type 'integer'"
            ))
        })
}

/// Sets one base attribute (add and replace mean the same for these).
pub fn set_base(row: &mut ImageRow, name: &str, v: &Value, admin: bool) -> Result<()> {
    match name {
        "name" => row.name = opt_string("name", v, 255)?,
        "visibility" => {
            let vis = enum_value("visibility", v, VISIBILITIES, false)?.unwrap_or_default();
            if vis == "public" && !admin && row.visibility != "public" {
                return Err(crate::http::forbidden_action("publicize_image"));
            }
            row.visibility = vis;
        }
        "protected" => row.protected = bool_value(v)?,
        "os_hidden" => row.os_hidden = bool_value(v)?,
        "min_ram" => row.min_ram = int_value(v)?,
        "min_disk" => row.min_disk = int_value(v)?,
        "container_format" | "disk_format" => {
            let allowed = if name == "disk_format" {
                DISK_FORMATS
            } else {
                CONTAINER_FORMATS
            };
            let val = enum_value(name, v, allowed, true)?;
            let cur = if name == "disk_format" {
                &mut row.disk_format
            } else {
                &mut row.container_format
            };
            if *cur != val && row.status != "queued" {
                return Err(GlanceError::Forbidden(format!(
                    "Attribute {name} can be only replaced for a queued image."
                )));
            }
            *cur = val;
        }
        "owner" => {
            if !admin {
                return Err(GlanceError::Detail(
                    StatusCode::FORBIDDEN,
                    "Owner can't be updated by non admin.".into(),
                ));
            }
            row.owner = opt_string("owner", v, 255)?;
        }
        "tags" => {
            let Value::Array(items) = v else {
                return Err(bad("Invalid tags: not an array"));
            };
            let mut tags: Vec<String> = Vec::new();
            for t in items {
                let t = t
                    .as_str()
                    .filter(|t| t.chars().count() <= 255)
                    .ok_or_else(|| bad(format!("Invalid tag {t}")))?;
                if !tags.iter().any(|x| x == t) {
                    tags.push(t.to_string());
                }
            }
            row.tags = serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into());
        }
        _ => return Err(bad(format!("Unknown attribute {name}"))),
    }
    Ok(())
}

/// Validates a custom property's name and value.
pub fn check_custom(name: &str, v: &Value) -> Result<String> {
    if name.chars().count() > 255 {
        return Err(bad(
            "Custom property should not be greater than 255 characters.",
        ));
    }
    check_attribute(name)?;
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(bad(format!(
            "Provided object does not match schema 'image': {v} is not of type 'string'"
        ))),
    }
}

/// Glance raises these with the message as webob's detail
/// (`HTTPConflict(msg)`), so the body keeps webob's default explanation.
fn no_property(name: &str) -> GlanceError {
    GlanceError::Detail(
        StatusCode::CONFLICT,
        format!("Property {name} does not exist."),
    )
}

/// True for the names Glance reserves (`location`, `deleted`,
/// `deleted_at`, the `os_glance` namespace).
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || name.starts_with(RESERVED_NS)
}

/// Applies parsed changes to `row`.
pub fn apply(row: &mut ImageRow, changes: &[Change], admin: bool) -> Result<Applied> {
    let mut props: BTreeMap<String, Value> = dto::properties(row);
    let mut out = Applied::default();
    for ch in changes {
        let name = ch.path[0].as_str();
        if name == "locations" {
            match (ch.op, ch.value.as_ref()) {
                (Op::Add, Some(v)) => {
                    let loc: LocationAdd = serde_json::from_value(v.clone()).map_err(|_| {
                        bad("Invalid location: a location needs a 'url' and 'metadata'")
                    })?;
                    out.locations.push(loc);
                }
                (Op::Replace, Some(Value::Array(v))) if v.is_empty() => {
                    return Err(GlanceError::Detail(
                        StatusCode::FORBIDDEN,
                        "Cannot set locations to empty list.".into(),
                    ))
                }
                _ => {
                    return Err(GlanceError::Forbidden(
                        "It's not allowed to update or remove locations of an image whose data \
                         is registered."
                            .into(),
                    ))
                }
            }
            continue;
        }
        // `image_type=snapshot` is the snapshot marker seen through the
        // name Nova uses: writing or removing it converts the image.
        if name == "image_type" {
            match ch.value.as_ref() {
                Some(Value::String(s)) if s == "snapshot" => {
                    props.remove("image_type");
                    props.insert(SNAPSHOT_PROPERTY.into(), Value::String("yes".into()));
                    continue;
                }
                None if props.contains_key(SNAPSHOT_PROPERTY) => {
                    props.remove(SNAPSHOT_PROPERTY);
                    props.remove("image_type");
                    continue;
                }
                Some(_) => {
                    props.remove(SNAPSHOT_PROPERTY);
                }
                None => {}
            }
        }
        if BASE.contains(&name) {
            match (ch.op, ch.value.as_ref()) {
                (Op::Remove, _) => {
                    return Err(GlanceError::Detail(
                        StatusCode::FORBIDDEN,
                        format!("Property {name} may not be removed."),
                    ))
                }
                (_, Some(v)) => set_base(row, name, v, admin)?,
                (_, None) => unreachable!("parse gives add and replace a value"),
            }
            continue;
        }
        match (ch.op, ch.value.as_ref()) {
            (Op::Remove, _) => {
                if props.remove(name).is_none() {
                    return Err(no_property(name));
                }
            }
            (Op::Add, Some(v)) => {
                let s = check_custom(name, v)?;
                // Draft-10 add replaces an existing property; draft 4 conflicts.
                if ch.v20 && props.contains_key(name) {
                    return Err(GlanceError::Detail(
                        StatusCode::CONFLICT,
                        format!("Property {name} already present."),
                    ));
                }
                props.insert(name.to_string(), Value::String(s));
            }
            (Op::Replace, Some(v)) => {
                let s = check_custom(name, v)?;
                if !props.contains_key(name) {
                    return Err(no_property(name));
                }
                props.insert(name.to_string(), Value::String(s));
            }
            (_, None) => unreachable!("parse gives add and replace a value"),
        }
    }
    row.properties = serde_json::to_string(&props).unwrap_or_else(|_| "{}".into());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(body: &str) -> Result<Vec<Change>> {
        parse(Some(PATCH_V21), body.as_bytes())
    }

    fn code(e: GlanceError) -> u16 {
        use actix_web::ResponseError;
        e.status_code().as_u16()
    }

    #[test]
    fn parses_both_drafts() {
        let c = p(r#"[{"op":"replace","path":"/name","value":"x"}]"#).unwrap();
        assert_eq!(c[0].op, Op::Replace);
        assert_eq!(c[0].path, ["name"]);
        let c = parse(Some(PATCH_V20), br#"[{"add":"/k~1v","value":"1"}]"#).unwrap();
        assert_eq!((c[0].op, c[0].path[0].as_str()), (Op::Add, "k/v"));
        let c = p(
            r#"[{"op":"add","path":"/locations/-","value":{"url":"swift://a/b/c","metadata":{}}}]"#,
        )
        .unwrap();
        assert_eq!(c[0].path, ["locations", "-"]);
    }

    #[test]
    fn rejects_what_glance_rejects() {
        assert_eq!(
            code(parse(Some("application/json"), b"[]").unwrap_err()),
            415
        );
        assert_eq!(code(parse(None, b"[]").unwrap_err()), 415);
        assert_eq!(code(p("{}").unwrap_err()), 400);
        assert_eq!(code(p("not json").unwrap_err()), 400);
        assert_eq!(code(p("[1]").unwrap_err()), 400);
        assert_eq!(
            code(p(r#"[{"op":"move","path":"/a","value":1}]"#).unwrap_err()),
            400
        );
        assert_eq!(
            code(p(r#"[{"op":"add","path":"a","value":"1"}]"#).unwrap_err()),
            400
        );
        assert_eq!(
            code(p(r#"[{"op":"add","path":"/a/b","value":"1"}]"#).unwrap_err()),
            400
        );
        assert_eq!(code(p(r#"[{"op":"add","path":"/a"}]"#).unwrap_err()), 400);
        assert_eq!(
            code(p(r#"[{"op":"add","path":"/a~2","value":"1"}]"#).unwrap_err()),
            400
        );
        for ro in ["status", "checksum", "size", "id", "os_hash_value"] {
            let body = format!(r#"[{{"op":"replace","path":"/{ro}","value":"x"}}]"#);
            assert_eq!(code(p(&body).unwrap_err()), 403, "{ro}");
        }
        assert_eq!(
            code(p(r#"[{"op":"add","path":"/os_glance_x","value":"1"}]"#).unwrap_err()),
            403
        );
        assert_eq!(
            code(p(r#"[{"op":"add","path":"/deleted","value":"1"}]"#).unwrap_err()),
            403
        );
    }

    #[test]
    fn applies_base_and_custom_properties() {
        let mut row = ImageRow::queued("i".into(), Some("p".into()), 0);
        let ch = p(r#"[{"op":"replace","path":"/name","value":"n"},
                       {"op":"replace","path":"/protected","value":true},
                       {"op":"add","path":"/os_distro","value":"debian"},
                       {"op":"replace","path":"/tags","value":["a","a","b"]},
                       {"op":"replace","path":"/visibility","value":"community"}]"#)
        .unwrap();
        apply(&mut row, &ch, false).unwrap();
        assert_eq!(row.name.as_deref(), Some("n"));
        assert!(row.protected);
        assert_eq!(row.visibility, "community");
        assert_eq!(row.tags, r#"["a","b"]"#);
        assert_eq!(dto::properties(&row)["os_distro"], "debian");
        // Replace and remove of a missing property conflict.
        let e = apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/nope","value":"1"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 409);
        let e = apply(
            &mut row,
            &p(r#"[{"op":"remove","path":"/nope"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 409);
        // Base properties cannot be removed; values are typed.
        let e = apply(
            &mut row,
            &p(r#"[{"op":"remove","path":"/name"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 403);
        let e = apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/protected","value":"yes"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 400);
        let e = apply(
            &mut row,
            &p(r#"[{"op":"add","path":"/k","value":3}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 400);
        // Only an admin publicizes or changes the owner.
        let e = apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/visibility","value":"public"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 403);
        apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/visibility","value":"public"}]"#).unwrap(),
            true,
        )
        .unwrap();
        let e = apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/owner","value":"x"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 403);
    }

    #[test]
    fn snapshot_marker_converts_both_ways() {
        let mut row = ImageRow::queued("i".into(), None, 0);
        apply(
            &mut row,
            &p(r#"[{"op":"add","path":"/EXCLUDE_ALL_TASKS","value":"yes"}]"#).unwrap(),
            false,
        )
        .unwrap();
        assert!(dto::is_snapshot(&dto::properties(&row)));
        apply(
            &mut row,
            &p(r#"[{"op":"remove","path":"/image_type"}]"#).unwrap(),
            false,
        )
        .unwrap();
        assert!(!dto::is_snapshot(&dto::properties(&row)));
        apply(
            &mut row,
            &p(r#"[{"op":"add","path":"/image_type","value":"snapshot"}]"#).unwrap(),
            false,
        )
        .unwrap();
        let props = dto::properties(&row);
        assert!(dto::is_snapshot(&props) && !props.contains_key("image_type"));
        apply(
            &mut row,
            &p(r#"[{"op":"remove","path":"/EXCLUDE_ALL_TASKS"}]"#).unwrap(),
            false,
        )
        .unwrap();
        assert!(!dto::is_snapshot(&dto::properties(&row)));
    }

    #[test]
    fn format_changes_only_while_queued() {
        let mut row = ImageRow::queued("i".into(), None, 0);
        apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/disk_format","value":"raw"}]"#).unwrap(),
            false,
        )
        .unwrap();
        row.status = "active".into();
        let e = apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/disk_format","value":"qcow2"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 403);
        let e = apply(
            &mut row,
            &p(r#"[{"op":"replace","path":"/disk_format","value":"floppy"}]"#).unwrap(),
            false,
        );
        assert_eq!(code(e.unwrap_err()), 400);
    }
}
