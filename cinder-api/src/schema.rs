//! Request-body validation as Cinder's `cinder/api/schemas` do it: the same
//! JSON schemas (Draft 4 keywords, checked in the schema's key order, first
//! error wins) and the same 400 wording, which comes from Python's
//! `jsonschema` and quotes values with Python's `repr`/`str`. Clients and
//! conformance suites compare these messages, so the wording is the point.
//!
//! Only the keywords Cinder's schemas use are modelled. The name and
//! description length checks are Cinder format checkers that raise
//! `InvalidInput`, so they answer "Invalid input received: ..." instead.

use serde_json::{Map, Value};

use crate::error::{CinderError, Result};

/// Cinder's `constants.DB_MAX_INT`.
pub const DB_MAX_INT: i64 = 0x7FFF_FFFF;

/// The metadata key pattern of `parameter_types.extra_specs`.
const META_KEY_RE: &str = "^[a-zA-Z0-9-_:. /]{1,255}$";

/// One schema node.
#[derive(Debug, Clone)]
pub enum S {
    /// Accepts anything.
    Any,
    /// `{'type': ['object', 'null']}` with no further rules.
    ObjOrNull,
    /// An object: properties in schema order, required keys, whether other
    /// keys are allowed, and an optional `anyOf` of single required keys.
    Obj {
        props: Vec<(&'static str, S)>,
        required: &'static [&'static str],
        additional: bool,
        any_of_required: &'static [&'static str],
    },
    /// A string (`null` allowed when `nullable`), with length bounds and an
    /// optional Cinder length format (`name`/`description`).
    Str {
        nullable: bool,
        min: Option<usize>,
        max: Option<usize>,
        length_format: Option<&'static str>,
    },
    /// `parameter_types.volume_size` (integer or digit string, 1..=DB_MAX_INT).
    Size { nullable: bool },
    /// `parameter_types.boolean` (and `optional_boolean` when nullable).
    Bool { nullable: bool },
    /// `parameter_types.uuid`.
    Uuid,
    /// `optional_uuid` / `uuid_allow_null`: `oneOf` null or a uuid.
    OptUuid,
    /// A string from a fixed set.
    Enum(&'static [&'static str]),
    /// `metadata_allows_null` (`nullable`) or `extra_specs`.
    Metadata { nullable: bool },
}

/// A validation failure, as Cinder formats it.
struct Failure {
    /// The last path element (`size`), none at the top.
    field: Option<String>,
    instance: Value,
    message: String,
}

type Check = std::result::Result<(), Failure>;

/// Validates `body` against `schema`, with Cinder's 400 on failure.
pub fn validate(schema: &S, body: &Value) -> Result<()> {
    match check(schema, body, None) {
        Ok(()) => Ok(()),
        Err(f) => Err(CinderError::BadRequest(match f.field {
            Some(field) => format!(
                "Invalid input for field/attribute {field}. Value: {}. {}",
                py_str(&f.instance),
                f.message
            ),
            None => f.message,
        })),
    }
}

fn fail(field: Option<&str>, v: &Value, message: String) -> Check {
    Err(Failure {
        field: field.map(str::to_string),
        instance: v.clone(),
        message,
    })
}

fn type_error(field: Option<&str>, v: &Value, types: &[&str]) -> Check {
    let list: Vec<String> = types.iter().map(|t| format!("'{t}'")).collect();
    fail(
        field,
        v,
        format!("{} is not of type {}", py_repr(v), list.join(", ")),
    )
}

fn check(s: &S, v: &Value, field: Option<&str>) -> Check {
    match s {
        S::Any => Ok(()),
        S::ObjOrNull => match v {
            Value::Object(_) | Value::Null => Ok(()),
            _ => type_error(field, v, &["object", "null"]),
        },
        S::Obj {
            props,
            required,
            additional,
            any_of_required,
        } => {
            let Value::Object(m) = v else {
                return type_error(field, v, &["object"]);
            };
            for (k, sub) in props {
                if let Some(x) = m.get(*k) {
                    check(sub, x, Some(k))?;
                }
            }
            for r in *required {
                if !m.contains_key(*r) {
                    return fail(field, v, format!("'{r}' is a required property"));
                }
            }
            if !additional {
                let extras: Vec<&String> = m
                    .keys()
                    .filter(|k| !props.iter().any(|(p, _)| p == k))
                    .collect();
                if !extras.is_empty() {
                    let list: Vec<String> = extras.iter().map(|e| py_str_repr(e)).collect();
                    let verb = if extras.len() == 1 { "was" } else { "were" };
                    return fail(
                        field,
                        v,
                        format!(
                            "Additional properties are not allowed ({} {verb} unexpected)",
                            list.join(", ")
                        ),
                    );
                }
            }
            if !any_of_required.is_empty() && !any_of_required.iter().any(|k| m.contains_key(*k)) {
                return fail(
                    field,
                    v,
                    format!("{} is not valid under any of the given schemas", py_repr(v)),
                );
            }
            Ok(())
        }
        S::Str {
            nullable,
            min,
            max,
            length_format,
        } => {
            let s = match v {
                Value::String(s) => s,
                Value::Null if *nullable => return Ok(()),
                _ if *nullable => return type_error(field, v, &["string", "null"]),
                _ => return type_error(field, v, &["string"]),
            };
            let n = s.chars().count();
            if min.is_some_and(|m| n < m) {
                return fail(field, v, format!("{} is too short", py_repr(v)));
            }
            if max.is_some_and(|m| n > m) {
                return fail(field, v, format!("{} is too long", py_repr(v)));
            }
            if let Some(name) = length_format {
                // Cinder's `_validate_string_length(..., remove_whitespaces)`:
                // InvalidInput, not a schema error.
                let len = s.trim().chars().count();
                if len > 255 {
                    return Err(Failure {
                        field: None,
                        instance: Value::Null,
                        message: format!(
                            "Invalid input received: {name} has {len} characters, more than 255."
                        ),
                    });
                }
            }
            Ok(())
        }
        S::Size { nullable } => {
            let n = match v {
                Value::Null if *nullable => return Ok(()),
                Value::Number(n) => match n.as_i64() {
                    Some(i) if !n.is_f64() => i,
                    _ => return size_type_error(field, v, *nullable),
                },
                Value::String(s) => {
                    if !s.bytes().all(|b| b.is_ascii_digit()) || s.is_empty() {
                        return fail(
                            field,
                            v,
                            format!("{} does not match '^[0-9]+$'", py_repr(v)),
                        );
                    }
                    // Digits beyond i64 are certainly above the maximum.
                    s.parse::<i64>().unwrap_or(i64::MAX)
                }
                _ => return size_type_error(field, v, *nullable),
            };
            if n < 1 {
                return fail(field, v, format!("{n} is less than the minimum of 1"));
            }
            if n > DB_MAX_INT {
                return fail(
                    field,
                    v,
                    format!("{n} is greater than the maximum of {DB_MAX_INT}"),
                );
            }
            Ok(())
        }
        S::Bool { nullable } => {
            let ok = match v {
                Value::Bool(_) => true,
                Value::Null => *nullable,
                Value::String(s) => BOOL_STRINGS.contains(&s.as_str()),
                _ => false,
            };
            if ok {
                return Ok(());
            }
            if *nullable {
                return fail(
                    field,
                    v,
                    format!("{} is not valid under any of the given schemas", py_repr(v)),
                );
            }
            if !matches!(v, Value::Bool(_) | Value::String(_)) {
                return type_error(field, v, &["boolean", "string"]);
            }
            let list: Vec<String> = BOOL_ENUM.iter().map(|s| s.to_string()).collect();
            fail(
                field,
                v,
                format!("{} is not one of [{}]", py_repr(v), list.join(", ")),
            )
        }
        S::Uuid => match v {
            Value::String(s) if is_uuid_like(s) => Ok(()),
            Value::String(_) => fail(field, v, format!("{} is not a 'uuid'", py_repr(v))),
            _ => type_error(field, v, &["string"]),
        },
        S::OptUuid => match v {
            Value::Null => Ok(()),
            Value::String(s) if is_uuid_like(s) => Ok(()),
            _ => fail(
                field,
                v,
                format!("{} is not valid under any of the given schemas", py_repr(v)),
            ),
        },
        S::Enum(allowed) => match v {
            Value::String(s) if allowed.contains(&s.as_str()) => Ok(()),
            Value::String(_) => {
                let list: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
                fail(
                    field,
                    v,
                    format!("{} is not one of [{}]", py_repr(v), list.join(", ")),
                )
            }
            _ => type_error(field, v, &["string"]),
        },
        S::Metadata { nullable } => {
            let m = match v {
                Value::Object(m) => m,
                Value::Null if *nullable => return Ok(()),
                _ if *nullable => return type_error(field, v, &["object", "null"]),
                _ => return type_error(field, v, &["object"]),
            };
            check_metadata(m, v, field)
        }
    }
}

fn check_metadata(m: &Map<String, Value>, v: &Value, field: Option<&str>) -> Check {
    let mut extras: Vec<&String> = Vec::new();
    for (k, x) in m {
        if !meta_key_ok(k) {
            extras.push(k);
            continue;
        }
        match x {
            Value::String(s) if s.chars().count() > 255 => {
                return fail(Some(k), x, format!("{} is too long", py_repr(x)));
            }
            Value::String(_) => {}
            _ => return type_error(Some(k), x, &["string"]),
        }
    }
    if extras.is_empty() {
        return Ok(());
    }
    extras.sort();
    let list: Vec<String> = extras.iter().map(|e| py_str_repr(e)).collect();
    let verb = if extras.len() == 1 { "does" } else { "do" };
    fail(
        field,
        v,
        format!(
            "{} {verb} not match any of the regexes: '{META_KEY_RE}'",
            list.join(", ")
        ),
    )
}

fn size_type_error(field: Option<&str>, v: &Value, nullable: bool) -> Check {
    if nullable {
        type_error(field, v, &["integer", "string", "null"])
    } else {
        type_error(field, v, &["integer", "string"])
    }
}

fn meta_key_ok(k: &str) -> bool {
    let n = k.chars().count();
    (1..=255).contains(&n)
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:. /".contains(c))
}

/// The strings `parameter_types.boolean` accepts.
const BOOL_STRINGS: &[&str] = &[
    "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t", "False", "FALSE",
    "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f",
];

/// The enum as Python prints it (booleans unquoted).
const BOOL_ENUM: &[&str] = &[
    "True", "'True'", "'TRUE'", "'true'", "'1'", "'ON'", "'On'", "'on'", "'YES'", "'Yes'", "'yes'",
    "'y'", "'t'", "False", "'False'", "'FALSE'", "'false'", "'0'", "'OFF'", "'Off'", "'off'",
    "'NO'", "'No'", "'no'", "'n'", "'f'",
];

/// `oslo_utils.uuidutils.is_uuid_like`: 32 hex digits once `urn:`,
/// `uuid:`, braces and hyphens are stripped.
pub fn is_uuid_like(s: &str) -> bool {
    let t = s
        .to_ascii_lowercase()
        .replace("urn:", "")
        .replace("uuid:", "")
        .replace(['{', '}', '-'], "");
    t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Python's `repr()` of a JSON value.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => py_str_repr(s),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// Python's `str()` of a JSON value (strings unquoted).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds a
/// single quote and no double quote.
fn py_str_repr(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// The schemas of Cinder's `cinder/api/schemas`, by request.
pub mod bodies {
    use super::S;
    use crate::microversion::ApiVersion;

    fn name() -> S {
        S::Str {
            nullable: true,
            min: None,
            max: None,
            length_format: Some("name"),
        }
    }
    fn description() -> S {
        S::Str {
            nullable: true,
            min: None,
            max: None,
            length_format: Some("description"),
        }
    }
    /// `name_allow_zero_min_length`, `nullable_string` and the like.
    fn str255() -> S {
        S::Str {
            nullable: true,
            min: Some(0),
            max: Some(255),
            length_format: None,
        }
    }
    /// The body's one top-level key (`required` names it again: a
    /// `'static` slice, so no allocation per request).
    fn top(
        key: &'static str,
        required: &'static [&'static str],
        inner: S,
        also: Vec<(&'static str, S)>,
    ) -> S {
        let mut props = vec![(key, inner)];
        props.extend(also);
        S::Obj {
            props,
            required,
            additional: false,
            any_of_required: &[],
        }
    }

    /// `volumes.create` (+ `group_id` 3.13, `backup_id` 3.47, closed 3.53).
    pub fn volume_create(v: ApiVersion) -> S {
        let mut props = vec![
            ("name", name()),
            ("description", description()),
            ("display_name", name()),
            ("display_description", description()),
            ("volume_type", str255()),
            ("metadata", S::Metadata { nullable: true }),
            ("snapshot_id", S::OptUuid),
            ("source_volid", S::OptUuid),
            ("consistencygroup_id", S::OptUuid),
            ("size", S::Size { nullable: true }),
            (
                "availability_zone",
                S::Str {
                    nullable: true,
                    min: Some(1),
                    max: Some(255),
                    length_format: None,
                },
            ),
            ("multiattach", S::Bool { nullable: true }),
            ("image_id", str255()),
            ("imageRef", str255()),
        ];
        if v.at_least(3, 13) {
            props.push(("group_id", str255()));
        }
        if v.at_least(3, 47) {
            props.push(("backup_id", S::OptUuid));
        }
        let inner = S::Obj {
            props,
            required: &[],
            additional: !v.at_least(3, 53),
            any_of_required: &[],
        };
        top(
            "volume",
            &["volume"],
            inner,
            vec![("OS-SCH-HNT:scheduler_hints", S::ObjOrNull)],
        )
    }

    /// `volumes.update` (`update_v353` needs one field).
    pub fn volume_update(v: ApiVersion) -> S {
        let inner = S::Obj {
            props: vec![
                ("name", name()),
                ("description", description()),
                ("display_name", name()),
                ("display_description", description()),
                ("metadata", S::Metadata { nullable: false }),
            ],
            required: &[],
            additional: false,
            any_of_required: if v.at_least(3, 53) {
                &[
                    "name",
                    "description",
                    "display_name",
                    "display_description",
                    "metadata",
                ]
            } else {
                &[]
            },
        };
        top("volume", &["volume"], inner, vec![])
    }

    fn snap_description() -> S {
        S::Str {
            nullable: true,
            min: Some(0),
            max: Some(255),
            length_format: None,
        }
    }

    /// `snapshots.create`.
    pub fn snapshot_create() -> S {
        let inner = S::Obj {
            props: vec![
                ("name", str255()),
                ("display_name", str255()),
                ("description", snap_description()),
                ("volume_id", S::OptUuid),
                ("force", S::Bool { nullable: false }),
                ("metadata", S::Metadata { nullable: true }),
            ],
            required: &["volume_id"],
            additional: false,
            any_of_required: &[],
        };
        top("snapshot", &["snapshot"], inner, vec![])
    }

    /// `snapshots.update`.
    pub fn snapshot_update() -> S {
        let inner = S::Obj {
            props: vec![
                ("name", str255()),
                ("description", snap_description()),
                ("display_name", str255()),
                ("display_description", snap_description()),
            ],
            required: &[],
            additional: false,
            any_of_required: &["name", "description", "display_name", "display_description"],
        };
        top("snapshot", &["snapshot"], inner, vec![])
    }

    /// `volume_actions.extend`.
    pub fn extend() -> S {
        let inner = S::Obj {
            props: vec![("new_size", S::Size { nullable: false })],
            required: &["new_size"],
            additional: false,
            any_of_required: &[],
        };
        top("os-extend", &["os-extend"], inner, vec![])
    }

    /// A volume type name: 1 to 255 characters (`nullable` in updates).
    fn type_name(nullable: bool) -> S {
        S::Str {
            nullable,
            min: Some(1),
            max: Some(255),
            length_format: None,
        }
    }

    /// `types.create`.
    pub fn volume_type_create() -> S {
        let inner = S::Obj {
            props: vec![
                ("name", type_name(false)),
                ("description", str255()),
                ("extra_specs", S::Metadata { nullable: true }),
                (
                    "os-volume-type-access:is_public",
                    S::Bool { nullable: false },
                ),
            ],
            required: &["name"],
            additional: false,
            any_of_required: &[],
        };
        top("volume_type", &["volume_type"], inner, vec![])
    }

    /// `types.update`.
    pub fn volume_type_update() -> S {
        let inner = S::Obj {
            props: vec![
                ("name", type_name(true)),
                ("description", str255()),
                ("is_public", S::Bool { nullable: false }),
            ],
            required: &[],
            additional: false,
            any_of_required: &[],
        };
        top("volume_type", &["volume_type"], inner, vec![])
    }

    /// `types_extra_specs.create`.
    pub fn extra_specs_create() -> S {
        top(
            "extra_specs",
            &["extra_specs"],
            S::Metadata { nullable: false },
            vec![],
        )
    }

    /// `attachments.create` (+ `mode` 3.54).
    pub fn attachment_create(v: ApiVersion) -> S {
        let mut props = vec![
            ("instance_uuid", S::Uuid),
            ("connector", S::ObjOrNull),
            ("volume_uuid", S::Uuid),
        ];
        if v.at_least(3, 54) {
            props.push(("mode", S::Enum(&["rw", "ro"])));
        }
        let inner = S::Obj {
            props,
            required: &["volume_uuid"],
            additional: false,
            any_of_required: &[],
        };
        top("attachment", &["attachment"], inner, vec![])
    }

    /// `attachments.update`.
    pub fn attachment_update() -> S {
        let inner = S::Obj {
            props: vec![(
                "connector",
                S::Obj {
                    props: vec![],
                    required: &[],
                    additional: true,
                    any_of_required: &[],
                },
            )],
            required: &["connector"],
            additional: false,
            any_of_required: &[],
        };
        top("attachment", &["attachment"], inner, vec![])
    }

    /// Accepts any body (actions whose schema Cinder leaves open).
    pub fn any() -> S {
        S::Any
    }
}

#[cfg(test)]
mod tests {
    use super::bodies::*;
    use super::*;
    use crate::microversion::ApiVersion;
    use serde_json::json;

    fn msg(s: &S, body: Value) -> String {
        match validate(s, &body) {
            Err(CinderError::BadRequest(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    const V30: ApiVersion = ApiVersion::new(3, 0);

    #[test]
    fn volume_create_messages_match_cinder() {
        let s = volume_create(V30);
        assert_eq!(
            msg(&s, json!({"volume": {"size": "#$%"}})),
            "Invalid input for field/attribute size. Value: #$%. '#$%' does not match '^[0-9]+$'"
        );
        assert_eq!(
            msg(&s, json!({"volume": {"size": "0"}})),
            "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1"
        );
        assert_eq!(
            msg(&s, json!({"volume": {"size": -1}})),
            "Invalid input for field/attribute size. Value: -1. -1 is less than the minimum of 1"
        );
        assert_eq!(
            msg(&s, json!({"volume": {"size": 1.5}})),
            "Invalid input for field/attribute size. Value: 1.5. 1.5 is not of type 'integer', \
             'string', 'null'"
        );
        assert_eq!(
            msg(&s, json!({"volume": {"size": 1, "snapshot_id": "nope"}})),
            "Invalid input for field/attribute snapshot_id. Value: nope. 'nope' is not valid \
             under any of the given schemas"
        );
        assert_eq!(
            msg(&s, json!({"volume": {"size": 1, "name": "x".repeat(256)}})),
            "Invalid input received: name has 256 characters, more than 255."
        );
        assert_eq!(
            msg(&s, json!({"volume": {"size": 1}, "x": 1})),
            "Additional properties are not allowed ('x' was unexpected)"
        );
        assert_eq!(msg(&s, json!({})), "'volume' is a required property");
        assert_eq!(
            msg(&s, json!({"volume": {"size": 1, "metadata": {"a": 1}}})),
            "Invalid input for field/attribute a. Value: 1. 1 is not of type 'string'"
        );
        assert!(validate(&s, &json!({"volume": {"size": "3", "bogus": 1}})).is_ok());
        assert_eq!(
            msg(
                &volume_create(ApiVersion::new(3, 53)),
                json!({"volume": {"size": 1, "bogus": 1}})
            ),
            // Keys print sorted (serde_json's map), where Python keeps the
            // request's order: the only difference left in these messages.
            "Invalid input for field/attribute volume. Value: {'bogus': 1, 'size': 1}. \
             Additional properties are not allowed ('bogus' was unexpected)"
        );
    }

    #[test]
    fn other_bodies() {
        assert_eq!(
            msg(&extend(), json!({"os-extend": {"new_size": null}})),
            "Invalid input for field/attribute new_size. Value: None. None is not of type \
             'integer', 'string'"
        );
        assert_eq!(
            msg(
                &volume_update(ApiVersion::new(3, 53)),
                json!({"volume": {}})
            ),
            "Invalid input for field/attribute volume. Value: {}. {} is not valid under any of \
             the given schemas"
        );
        assert_eq!(
            msg(
                &attachment_create(ApiVersion::new(3, 27)),
                json!({"attachment": {"volume_uuid": "abc"}})
            ),
            "Invalid input for field/attribute volume_uuid. Value: abc. 'abc' is not a 'uuid'"
        );
        assert_eq!(
            msg(&snapshot_create(), json!({"snapshot": {}})),
            "Invalid input for field/attribute snapshot. Value: {}. 'volume_id' is a required \
             property"
        );
        assert!(is_uuid_like("{12345678-1234-1234-1234-1234567890AB}"));
        assert!(!is_uuid_like("1234"));
        assert_eq!(py_repr(&json!("it's")), "\"it's\"");
    }
}
