//! Request plumbing shared by the handlers: path parsing, names, metadata
//! headers and their limits, timestamps and transaction ids.

use std::collections::BTreeMap;

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use crate::error::{Result, SwiftError};
use crate::Limits;

/// The parts of a `/v1/<account>[/<container>[/<object>]]` path.
#[derive(Debug, Clone)]
pub struct SwiftPath {
    pub account: String,
    pub container: Option<String>,
    pub object: Option<String>,
}

/// Splits and percent-decodes the raw request path as Swift's split_path
/// does: the object part keeps its slashes.
pub fn parse_path(raw: &str, limits: &Limits) -> Result<SwiftPath> {
    // Swift sees the decoded PATH_INFO: decode first, then split, so an
    // encoded slash separates container and object as a plain one does.
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| SwiftError::PreconditionMessage("Invalid UTF8 or contains NULL".into()))?;
    if decoded.contains('\0') {
        return Err(SwiftError::PreconditionMessage(
            "Invalid UTF8 or contains NULL".into(),
        ));
    }
    let rest = decoded
        .strip_prefix("/v1/")
        .or_else(|| decoded.strip_prefix("/v1.0/"))
        .ok_or(SwiftError::NotFound)?;
    let mut parts = rest.splitn(3, '/');
    let decode = |s: &str| -> Result<String> { Ok(s.to_string()) };
    let account = decode(parts.next().unwrap_or(""))?;
    if account.is_empty() {
        return Err(SwiftError::NotFound);
    }
    let container = match parts.next() {
        None => None,
        Some("") => None,
        Some(c) => Some(decode(c)?),
    };
    let object = match parts.next() {
        None | Some("") => None,
        Some(o) => Some(decode(o)?),
    };
    if container.is_none() && object.is_some() {
        return Err(SwiftError::NotFound);
    }
    if let Some(c) = &container {
        if c.len() > limits.max_container_name_length {
            return Err(SwiftError::BadRequest(format!(
                "Container name length of {} longer than {}",
                c.len(),
                limits.max_container_name_length
            )));
        }
    }
    if let Some(o) = &object {
        if o.len() > limits.max_object_name_length {
            return Err(SwiftError::BadRequest(format!(
                "Object name length of {} longer than {}",
                o.len(),
                limits.max_object_name_length
            )));
        }
    }
    Ok(SwiftPath {
        account,
        container,
        object,
    })
}

/// Parses the query string into decoded key/value pairs (`?a&b=1`); a
/// repeated key keeps its last value.
pub fn parse_query(q: &str) -> BTreeMap<String, String> {
    query_pairs(q).collect()
}

/// The decoded key/value pairs of a query string, in order (`+` is a
/// space, as Python's `parse_qs` reads it).
pub fn query_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    q.split('&').filter(|p| !p.is_empty()).map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let dec = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        (dec(k), dec(v))
    })
}

/// Python's `urllib.parse.quote(s)` (Swift's `wsgi_quote`): letters,
/// digits, `_.-~` and `/` stay as they are.
pub fn py_quote(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, PY_QUOTE_SET).to_string()
}

/// What Python's `quote` escapes with its default `safe='/'`.
pub const PY_QUOTE_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// The Content-Type Swift guesses from an object name (Python's
/// `mimetypes`): mostly what `mime_guess` says, with Python's answer where
/// the two differ on common types.
pub fn guess_content_type(name: &str) -> String {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("wav") => "audio/x-wav".into(),
        _ => mime_guess::from_path(name)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_string(),
    }
}

pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // Swift's headers carry UTF-8 (names in X-Copy-From, metadata values),
    // which `to_str` refuses as non-ASCII.
    h.get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Title-cases a header name as Swift stores it: `x-object-meta-foo` ->
/// `X-Object-Meta-Foo`.
pub fn title_case(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Marks the stored key of an object metadata value that is not UTF-8:
/// Swift keeps such values' bytes, so the value is kept as Latin-1 (one
/// char per byte) and sent back as the same bytes.
pub const RAW_MARK: char = '\u{1}';

/// The header name and value bytes of a stored metadata entry (borrowed
/// but for the rare raw value).
pub fn meta_header<'a>(key: &'a str, value: &'a str) -> (&'a str, std::borrow::Cow<'a, [u8]>) {
    match key.strip_prefix(RAW_MARK) {
        Some(k) => (k, value.chars().map(|c| c as u32 as u8).collect()),
        None => (key, value.as_bytes().into()),
    }
}

/// A stored entry's name without the raw mark, and its value's length in
/// bytes as the client sent it.
fn meta_name_len<'a>(key: &'a str, value: &str) -> (&'a str, usize) {
    match key.strip_prefix(RAW_MARK) {
        Some(k) => (k, value.chars().count()),
        None => (key, value.len()),
    }
}

/// The value `X-Remove-*-Meta-*` headers collect to: NUL never comes in a
/// header, so it cannot be confused with an empty value, which an object
/// keeps (Swift stores `X-Object-Meta-Foo:` as an empty item) and an
/// account or container takes as removal.
pub const REMOVED: &str = "\u{0}";

/// Sets (or, given [`REMOVED`], removes) `key` in stored metadata,
/// dropping its twin in the other encoding.
pub fn set_meta(meta: &mut BTreeMap<String, String>, key: String, value: String) {
    let plain = key.trim_start_matches(RAW_MARK).to_string();
    meta.remove(&plain);
    meta.remove(&format!("{RAW_MARK}{plain}"));
    if value != REMOVED {
        meta.insert(key, value);
    }
}

/// Collects `<prefix><name>` metadata headers (and, for objects, the other
/// headers Swift keeps) into a map of title-cased names, checking Swift's
/// limits. `X-Remove-<kind>-Meta-*` headers become [`REMOVED`].
/// Account and container values must be UTF-8; object values may be any
/// bytes (kept under a [`RAW_MARK`]ed key).
pub fn collect_meta(
    h: &HeaderMap,
    kind: &str,
    extra_allowed: &[&str],
    limits: &Limits,
) -> Result<BTreeMap<String, String>> {
    let prefix = format!("x-{kind}-meta-");
    let remove_prefix = format!("x-remove-{kind}-meta-");
    let mut out = BTreeMap::new();
    for (name, value) in h.iter() {
        let n = name.as_str();
        let is_meta = n.starts_with(&prefix);
        if !is_meta && !n.starts_with(&remove_prefix) && !extra_allowed.contains(&n) {
            continue;
        }
        let (v, raw) = match std::str::from_utf8(value.as_bytes()) {
            Ok(v) => (v.to_string(), false),
            Err(_) if kind == "object" => {
                (value.as_bytes().iter().map(|&b| b as char).collect(), true)
            }
            Err(_) => {
                return Err(SwiftError::BadRequest(
                    "Metadata must be valid UTF-8".into(),
                ))
            }
        };
        let stored = |name: String| {
            if raw {
                format!("{RAW_MARK}{name}")
            } else {
                name
            }
        };
        if let Some(key) = n.strip_prefix(&prefix) {
            let len = if raw { v.chars().count() } else { v.len() };
            check_one_meta(key, len, &prefix, limits)?;
            out.insert(stored(title_case(n)), v.trim().to_string());
        } else if let Some(key) = n.strip_prefix(&remove_prefix) {
            out.insert(title_case(&format!("{prefix}{key}")), REMOVED.to_string());
        } else {
            out.insert(stored(title_case(n)), v);
        }
    }
    Ok(out)
}

fn check_one_meta(key: &str, value_len: usize, prefix: &str, limits: &Limits) -> Result<()> {
    if key.is_empty() {
        return Err(SwiftError::BadRequest(
            "Metadata name cannot be empty".into(),
        ));
    }
    if key.len() > limits.max_meta_name_length {
        return Err(SwiftError::BadRequest(format!(
            "Metadata name too long: {}{}",
            title_case(prefix),
            key
        )));
    }
    if value_len > limits.max_meta_value_length {
        return Err(SwiftError::BadRequest(format!(
            "Metadata value longer than {}: {}{}",
            limits.max_meta_value_length,
            title_case(prefix),
            key
        )));
    }
    Ok(())
}

/// Checks the count and total size of the metadata a resource would hold
/// after an update (Swift counts name and value bytes of user metadata).
pub fn check_meta_totals(
    meta: &BTreeMap<String, String>,
    kind: &str,
    limits: &Limits,
) -> Result<()> {
    let prefix = format!("X-{}-Meta-", title_case(kind));
    let mut count = 0;
    let mut size = 0;
    for (k, v) in meta {
        let (name, len) = meta_name_len(k, v);
        if let Some(key) = name.strip_prefix(&prefix) {
            if v.is_empty() || v == REMOVED {
                continue;
            }
            count += 1;
            size += key.len() + len;
        }
    }
    if count > limits.max_meta_count {
        return Err(SwiftError::BadRequest(format!(
            "Too many metadata items; max {}",
            limits.max_meta_count
        )));
    }
    if size > limits.max_meta_overall_size {
        return Err(SwiftError::BadRequest(format!(
            "Total metadata too large; max {}",
            limits.max_meta_overall_size
        )));
    }
    Ok(())
}

/// Applies an update to stored account or container metadata: empty
/// values remove keys, as removals do.
pub fn merge_meta(stored: &str, update: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = serde_json::from_str(stored).unwrap_or_default();
    for (k, v) in update {
        if v.is_empty() || v == REMOVED {
            m.remove(k);
        } else {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

pub fn meta_json(m: &BTreeMap<String, String>) -> String {
    let clean: BTreeMap<&String, &String> = m.iter().filter(|(_, v)| *v != REMOVED).collect();
    serde_json::to_string(&clean).unwrap_or_else(|_| "{}".into())
}

/// Keys the service keeps beside an object's metadata and never shows or
/// takes from clients (Swift's sysmeta).
pub const SYSMETA_PREFIX: &str = "X-Object-Sysmeta-";

/// The MD5 of an SLO's stored manifest (its `hash` in listings).
pub const SLO_MANIFEST_ETAG: &str = "X-Object-Sysmeta-Slo-Manifest-Etag";

/// The sysmeta entries of a stored metadata document.
pub fn sysmeta_from_json(s: &str) -> BTreeMap<String, String> {
    let mut m = meta_from_json(s);
    m.retain(|k, _| k.starts_with(SYSMETA_PREFIX));
    m
}

pub fn meta_from_json(s: &str) -> BTreeMap<String, String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// Swift's normalized timestamp (`1700000000.12345`) from microseconds.
pub fn x_timestamp(micros: i64) -> String {
    format!("{}.{:05}", micros / 1_000_000, (micros % 1_000_000) / 10)
}

/// HTTP date of a timestamp, rounded up to the next whole second as Swift
/// does so that If-Modified-Since with the returned value matches.
pub fn http_date(micros: i64) -> String {
    let secs = (micros + 999_999) / 1_000_000;
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64),
    )
}

/// Listing form of a timestamp: `2026-11-21T06:35:04.123450`.
pub fn iso_timestamp(micros: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// A new transaction id in Swift's shape: `tx<21 hex>-<10 hex time>`.
pub fn new_trans_id() -> String {
    let r = uuid::Uuid::new_v4().simple().to_string();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("tx{}-{:010x}", &r[..21], secs)
}

/// The project id behind an account name (`AUTH_<project_id>`).
pub fn account_project(account: &str, reseller_prefix: &str) -> Option<String> {
    account.strip_prefix(reseller_prefix).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_metadata_keeps_bytes_that_are_not_utf8() {
        let l = Limits::default();
        let mut h = HeaderMap::new();
        let raw = b"caf\xe9 \xff";
        h.insert(
            "x-object-meta-name",
            http::HeaderValue::from_bytes(raw).unwrap(),
        );
        h.insert(
            "x-object-meta-utf8",
            http::HeaderValue::from_str("plain").unwrap(),
        );
        let m = collect_meta(&h, "object", &[], &l).unwrap();
        let (k, v) = m.iter().find(|(k, _)| k.contains("Name")).unwrap();
        let (name, value) = meta_header(k, v);
        assert_eq!((name, &*value), ("X-Object-Meta-Name", &raw[..]));
        // 6 bytes as the client sent them, not the 8 of their Latin-1 text.
        check_meta_totals(&m, "object", &l).unwrap();
        let mut one = Limits {
            max_meta_overall_size: "Name".len() + raw.len() + "Utf8".len() + "plain".len(),
            ..Limits::default()
        };
        check_meta_totals(&m, "object", &one).unwrap();
        one.max_meta_overall_size -= 1;
        assert!(check_meta_totals(&m, "object", &one).is_err());
        // A later UTF-8 value replaces the raw one rather than joining it.
        let mut stored = m.clone();
        set_meta(&mut stored, "X-Object-Meta-Name".into(), "new".into());
        assert_eq!(
            stored.get("X-Object-Meta-Name").map(String::as_str),
            Some("new")
        );
        assert_eq!(stored.len(), 2);
        // Containers and accounts keep Swift's rule: UTF-8 only.
        let mut h = HeaderMap::new();
        h.insert(
            "x-container-meta-name",
            http::HeaderValue::from_bytes(raw).unwrap(),
        );
        assert!(collect_meta(&h, "container", &[], &l).is_err());
    }

    #[test]
    fn paths_split_like_swift() {
        let l = Limits::default();
        let p = parse_path("/v1/AUTH_a/c/o/with/slashes%20x", &l).unwrap();
        assert_eq!(p.account, "AUTH_a");
        assert_eq!(p.container.as_deref(), Some("c"));
        assert_eq!(p.object.as_deref(), Some("o/with/slashes x"));
        let p = parse_path("/v1/AUTH_a/", &l).unwrap();
        assert!(p.container.is_none());
        assert!(matches!(
            parse_path(&format!("/v1/AUTH_a/{}", "c".repeat(257)), &l),
            Err(SwiftError::BadRequest(_))
        ));
        assert!(matches!(
            parse_path("/v1/AUTH_a/c/%FF", &l),
            Err(SwiftError::PreconditionMessage(_))
        ));
    }

    #[test]
    fn timestamps_format_like_swift() {
        assert_eq!(x_timestamp(1_700_000_000_123_456), "1700000000.12345");
        assert_eq!(
            iso_timestamp(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456"
        );
        assert_eq!(
            http_date(1_700_000_000_000_001),
            "Tue, 14 Nov 2023 22:13:21 GMT"
        );
    }
}
