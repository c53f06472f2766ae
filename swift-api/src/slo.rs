//! Static Large Objects: manifest PUT (`?multipart-manifest=put`), GET of
//! the assembled content or of the manifest, and DELETE with segments.
//! The manifest itself is kept as the object's (small) resource.

use std::collections::BTreeMap;

use crate::http::{HttpRequest, HttpResponse, Response};
use base64::Engine as _;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{Result, SwiftError};
use crate::range::Segment;
use crate::store::{self, ObjectRow};
use crate::{bulk, object, util, Swift};

/// One entry of a manifest as the client PUTs it.
#[derive(Debug, Deserialize)]
struct PutSegment {
    path: Option<String>,
    etag: Option<String>,
    size_bytes: Option<u64>,
    range: Option<String>,
    data: Option<String>,
}

/// One entry as stored and returned by `?multipart-manifest=get`: an
/// object segment, or a data segment (only `data`, base64, as in Swift).
#[derive(Debug, Serialize, Deserialize, Clone, Default)]
struct StoredSegment {
    #[serde(skip_serializing_if = "String::is_empty", default)]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    hash: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    bytes: Option<u64>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    content_type: String,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    last_modified: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    range: Option<String>,
    /// The segment is itself an SLO manifest (Swift's `sub_slo`).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    sub_slo: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    data: Option<String>,
}

/// How deep SLOs may nest (Swift refuses deeper manifests at GET time).
const MAX_NESTING: usize = 10;

/// Parses `a-b` against a segment size into (offset, len).
fn seg_range(r: &str, size: u64) -> Option<(u64, u64)> {
    match crate::range::parse(Some(&format!("bytes={r}")), size) {
        crate::range::Ranges::Some(v) if v.len() == 1 => Some((v[0].start, v[0].end - v[0].start)),
        _ => None,
    }
}

/// `/container/object` of a segment path. Taken literally, as Swift's SLO
/// does (it quotes the path for its subrequest): `%ff` is part of the name.
fn split(path: &str) -> Option<(String, String)> {
    let t = path.trim_start_matches('/');
    let (c, o) = t.split_once('/')?;
    (!c.is_empty() && !o.is_empty()).then(|| (c.to_string(), o.to_string()))
}

/// Swift's `parse_and_validate_input`: a JSON list of objects, each an
/// object segment (`path`, optional `etag`, `size_bytes`, `range`) or a
/// data segment (`data` alone); `size_bytes` may be a string. Structural
/// errors are reported for every index at once.
fn parse_manifest(raw: &[u8], cont: &str, name: &str) -> Result<Vec<PutSegment>> {
    let v: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|_| SwiftError::BadRequest("Manifest must be valid JSON.\n".into()))?;
    let serde_json::Value::Array(items) = v else {
        return Err(SwiftError::BadRequest("Manifest must be a list.\n".into()));
    };
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let serde_json::Value::Object(mut m) = item else {
            errors.push(format!("Index {i}: not a JSON object"));
            continue;
        };
        let allowed: &[&str] = if m.contains_key("path") {
            &["path", "etag", "size_bytes", "range"]
        } else if m.contains_key("data") {
            &["data"]
        } else {
            errors.push(format!(
                "Index {i}: expected keys to include one of 'path' or 'data'"
            ));
            continue;
        };
        let mut extra: Vec<String> = m
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| format!("\"{k}\""))
            .collect();
        if !extra.is_empty() {
            extra.sort();
            errors.push(format!("Index {i}: extraneous keys {}", extra.join(", ")));
            continue;
        }
        if let Some(serde_json::Value::String(n)) = m.get("size_bytes") {
            match n.trim().parse::<u64>() {
                Ok(n) => {
                    m.insert("size_bytes".into(), n.into());
                }
                Err(_) => {
                    errors.push(format!("Index {i}: invalid size_bytes"));
                    continue;
                }
            }
        }
        let seg: PutSegment = match serde_json::from_value(serde_json::Value::Object(m)) {
            Ok(s) => s,
            Err(_) => {
                errors.push(format!("Index {i}: invalid segment"));
                continue;
            }
        };
        if let Some(p) = &seg.path {
            match split(p) {
                None => {
                    errors.push(format!(
                        "Index {i}: path does not refer to an object. Path must be of the form /container/object."
                    ));
                    continue;
                }
                Some((c, o)) if c == cont && o == name => {
                    errors.push(format!(
                        "Index {i}: manifest must not include itself as a segment"
                    ));
                    continue;
                }
                Some(_) => {}
            }
        }
        out.push(seg);
    }
    if !errors.is_empty() {
        return Err(SwiftError::BadRequest(errors.join("\n")));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub async fn put_manifest(
    swift: &Swift,
    req: &HttpRequest,
    caller: &Caller,
    acct: &str,
    cont: &str,
    name: &str,
    raw: bytes::Bytes,
    mut meta: BTreeMap<String, String>,
    delete_at: Option<i64>,
) -> Result<Response> {
    let segs = parse_manifest(&raw, cont, name)?;
    if segs.is_empty() {
        return Err(SwiftError::BadRequest(
            "Manifest must contain at least one segment.".into(),
        ));
    }
    if segs.len() > swift.limits().max_manifest_segments {
        return Err(SwiftError::BadRequest(format!(
            "Too many segments; max {}",
            swift.limits().max_manifest_segments
        )));
    }
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut stored = Vec::new();
    let mut etag_src = String::new();
    let mut total = 0u64;
    for s in &segs {
        if let Some(d) = &s.data {
            // Inline bytes (Swift's data segment): no other keys allowed.
            if s.path.is_some() || s.etag.is_some() || s.size_bytes.is_some() || s.range.is_some() {
                return Err(SwiftError::BadRequest(
                    "Index 0: data segments may only carry data".into(),
                ));
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(d.as_bytes())
                .map_err(|_| SwiftError::BadRequest("Index 0: Invalid base64 data".into()))?;
            if raw.is_empty() {
                return Err(SwiftError::BadRequest(
                    "Index 0: too small; each segment must be at least 1 byte.".into(),
                ));
            }
            etag_src.push_str(&hex::encode(Md5::digest(&raw)));
            total += raw.len() as u64;
            stored.push(StoredSegment {
                data: Some(base64::engine::general_purpose::STANDARD.encode(&raw)),
                ..StoredSegment::default()
            });
            continue;
        }
        let Some(path) = &s.path else {
            errors.push(("?".into(), "Index 0: missing path".into()));
            continue;
        };
        let Some((sc, so)) = split(path) else {
            errors.push((path.clone(), "Invalid path".into()));
            continue;
        };
        let crow = {
            let (a, c) = (acct.to_string(), sc.clone());
            swift
                .db()
                .run(move |conn| Ok(store::container(conn, &a, &c)))
                .await??
        };
        if caller
            .require_read(
                swift,
                acct,
                &sc,
                crow.as_ref().and_then(|c| c.read_acl.as_deref()),
                false,
            )
            .is_err()
        {
            errors.push((path.clone(), "403 Forbidden".into()));
            continue;
        }
        let Some(row) = object::load(swift, acct, &sc, &so).await? else {
            errors.push((path.clone(), "404 Not Found".into()));
            continue;
        };
        // An SLO may name other SLOs (its content is theirs); a DLO
        // manifest is not a segment.
        if row.manifest.is_some() {
            errors.push((
                path.clone(),
                "Dynamic large objects cannot be segments".into(),
            ));
            continue;
        }
        if let Some(e) = &s.etag {
            if e.trim_matches('"').to_ascii_lowercase() != row.etag {
                errors.push((path.clone(), "Etag Mismatch".into()));
                continue;
            }
        }
        if let Some(n) = s.size_bytes {
            if n != row.size as u64 {
                errors.push((path.clone(), "Size Mismatch".into()));
                continue;
            }
        }
        // Swift normalises a range to `first-last` (its form in the stored
        // manifest and in the SLO's ETag) and drops one covering the
        // whole segment.
        let (len, range) = match &s.range {
            Some(r) => match seg_range(r, row.size as u64) {
                Some((0, len)) if len == row.size as u64 => (len, None),
                Some((off, len)) => (len, Some(format!("{}-{}", off, off + len - 1))),
                None => {
                    errors.push((path.clone(), "Unsatisfiable Range".into()));
                    continue;
                }
            },
            None => (row.size as u64, None),
        };
        match &range {
            Some(r) => etag_src.push_str(&format!("{}:{};", row.etag, r)),
            None => etag_src.push_str(&row.etag),
        }
        total += len;
        stored.push(StoredSegment {
            name: format!("/{sc}/{so}"),
            hash: row.etag.clone(),
            bytes: Some(row.size as u64),
            content_type: row.content_type.clone(),
            last_modified: util::iso_timestamp(row.last_modified),
            range,
            sub_slo: row.slo,
            data: None,
        });
    }
    if !errors.is_empty() {
        let body = errors
            .iter()
            .map(|(p, e)| format!("{p}, {e}\n"))
            .collect::<String>();
        return Err(SwiftError::BadRequest(format!("Errors:\n{body}")));
    }
    if total > swift.limits().max_file_size * 1000 {
        return Err(SwiftError::TooLarge("Your request is too large.".into()));
    }
    let slo_etag = hex::encode(Md5::digest(etag_src.as_bytes()));
    if let Some(e) = util::header(req.headers(), "etag") {
        if e.trim_matches('"').to_ascii_lowercase() != slo_etag {
            return Err(SwiftError::Unprocessable);
        }
    }
    let body = serde_json::to_vec(&stored).map_err(|e| SwiftError::BadRequest(e.to_string()))?;
    meta.insert(
        util::SLO_MANIFEST_ETAG.into(),
        hex::encode(Md5::digest(&body)),
    );
    let mut w = swift.arch.writer();
    w.write(bytes::Bytes::from(body)).await?;
    let staged = w.finish().await?;
    meta.remove("X-Object-Manifest");
    let now = db::now_micros();
    let ctype = util::header(req.headers(), "content-type")
        .map(str::to_string)
        .unwrap_or_else(|| util::guess_content_type(name));
    let row = ObjectRow {
        account: acct.to_string(),
        container: cont.to_string(),
        name: name.to_string(),
        resource_id: String::new(),
        size: total as i64,
        etag: slo_etag.clone(),
        content_type: ctype,
        metadata: util::meta_json(&meta),
        last_modified: now,
        delete_at,
        manifest: None,
        slo: true,
    };
    object::commit_new(swift, staged, row).await?;
    Ok(HttpResponse::Created()
        .insert_header(("ETag", format!("\"{slo_etag}\"")))
        .insert_header(("Last-Modified", util::http_date(now)))
        .insert_header(("X-Timestamp", util::x_timestamp(now)))
        .content_type("text/html; charset=UTF-8")
        .finish())
}

/// The stored manifest of an SLO row, as bytes.
pub async fn read_manifest(swift: &Swift, row: &ObjectRow) -> Result<bytes::Bytes> {
    let info = swift.arch.info(&row.resource_id).await?;
    Ok(swift.arch.read_at(&row.resource_id, 0, info.size).await?)
}

fn parse_stored(raw: &[u8]) -> Result<Vec<StoredSegment>> {
    serde_json::from_slice(raw).map_err(|e| {
        tracing::error!(error = %e, "stored SLO manifest does not parse");
        SwiftError::Storage(archipelago::Error::Corrupt("SLO manifest".into()))
    })
}

async fn stored_manifest(swift: &Swift, row: &ObjectRow) -> Result<Vec<StoredSegment>> {
    parse_stored(&read_manifest(swift, row).await?)
}

/// An SLO's content as reads need it, from one read of its manifest.
pub struct Content {
    /// The pieces, nested SLOs expanded.
    pub segments: Vec<Segment>,
    /// Bytes of each manifest entry: its parts, for `?part-number=`.
    pub parts: Vec<u64>,
    /// MD5 of the stored manifest (`X-Manifest-Etag`).
    pub manifest_etag: String,
}

/// The content of an SLO, checked against the manifest. A segment that is
/// gone, changed or unreadable for the caller makes the object unreadable
/// (409), as in Swift.
pub async fn content(swift: &Swift, caller: &Caller, row: &ObjectRow) -> Result<Content> {
    let raw = read_manifest(swift, row).await?;
    let mut readable = std::collections::HashSet::new();
    let entries = expand(
        swift,
        caller,
        &row.account,
        parse_stored(&raw)?,
        0,
        &mut readable,
    )
    .await?;
    Ok(Content {
        parts: entries
            .iter()
            .map(|e| e.iter().map(|s| s.len).sum())
            .collect(),
        segments: entries.into_iter().flatten().collect(),
        manifest_etag: hex::encode(Md5::digest(&raw)),
    })
}

/// The pieces of each manifest entry, with nested SLOs expanded.
fn expand<'a>(
    swift: &'a Swift,
    caller: &'a Caller,
    account: &'a str,
    entries: Vec<StoredSegment>,
    depth: usize,
    readable: &'a mut std::collections::HashSet<String>,
) -> futures::future::BoxFuture<'a, Result<Vec<Vec<Segment>>>> {
    Box::pin(async move {
        if depth > MAX_NESTING {
            return Err(SwiftError::Conflict);
        }
        let mut out = Vec::with_capacity(entries.len());
        for s in entries {
            if let Some(d) = &s.data {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(d.as_bytes())
                    .map_err(|_| {
                        SwiftError::Storage(archipelago::Error::Corrupt("SLO data segment".into()))
                    })?;
                out.push(vec![Segment {
                    resource_id: String::new(),
                    offset: 0,
                    len: raw.len() as u64,
                    inline: Some(bytes::Bytes::from(raw)),
                }]);
                continue;
            }
            let (c, o) = split(&s.name).ok_or(SwiftError::Conflict)?;
            // Swift's SLO reads each segment as the caller: every segment
            // container must be readable, not just the manifest's.
            if !readable.contains(&c) {
                let crow = object::container_row(swift, account, &c).await?;
                // A segment the caller may not read makes the whole
                // object unreadable: 409, as Swift's SLO answers.
                caller
                    .require_read(
                        swift,
                        account,
                        &c,
                        crow.as_ref().and_then(|r| r.read_acl.as_deref()),
                        false,
                    )
                    .map_err(|_| SwiftError::Conflict)?;
                readable.insert(c.clone());
            }
            let seg = object::load(swift, account, &c, &o)
                .await?
                .ok_or(SwiftError::Conflict)?;
            if seg.etag != s.hash {
                return Err(SwiftError::Conflict);
            }
            let size = seg.size as u64;
            let (offset, len) = match &s.range {
                Some(r) => seg_range(r, size).ok_or(SwiftError::Conflict)?,
                None => (0, size),
            };
            let pieces = if seg.slo {
                let sub = stored_manifest(swift, &seg).await?;
                expand(swift, caller, account, sub, depth + 1, readable)
                    .await?
                    .into_iter()
                    .flatten()
                    .collect()
            } else {
                vec![Segment {
                    resource_id: seg.resource_id,
                    offset: 0,
                    len: size,
                    inline: None,
                }]
            };
            out.push(slice(pieces, offset, len));
        }
        Ok(out)
    })
}

/// The pieces covering `len` bytes at `offset` of the concatenation of
/// `pieces`.
fn slice(pieces: Vec<Segment>, offset: u64, len: u64) -> Vec<Segment> {
    let (start, end) = (offset, offset + len);
    let mut at = 0u64;
    let mut out = Vec::new();
    for p in pieces {
        let (p_start, p_end) = (at, at + p.len);
        at = p_end;
        let (s, e) = (start.max(p_start), end.min(p_end));
        if s < e {
            out.push(Segment {
                resource_id: p.resource_id,
                offset: p.offset + (s - p_start),
                len: e - s,
                inline: p.inline,
            });
        }
    }
    out
}

/// The manifest as `?multipart-manifest=get` returns it (`format=raw`
/// gives the form a client PUTs).
pub fn manifest_for_get(raw: &[u8], put_format: bool) -> Result<Vec<u8>> {
    if !put_format {
        return Ok(raw.to_vec());
    }
    let segs: Vec<StoredSegment> = serde_json::from_slice(raw)
        .map_err(|_| SwiftError::Storage(archipelago::Error::Corrupt("SLO manifest".into())))?;
    let v: Vec<serde_json::Value> = segs
        .iter()
        .map(|s| {
            if let Some(d) = &s.data {
                return serde_json::json!({ "data": d });
            }
            let mut m = serde_json::json!({"path": s.name, "etag": s.hash, "size_bytes": s.bytes});
            if let Some(r) = &s.range {
                m["range"] = serde_json::Value::String(r.clone());
            }
            m
        })
        .collect();
    Ok(serde_json::to_vec(&v).unwrap_or_default())
}

/// `DELETE ?multipart-manifest=delete`: the segments, then the manifest.
pub async fn delete_with_segments(
    swift: &Swift,
    req: &HttpRequest,
    caller: &Caller,
    row: ObjectRow,
) -> Result<Response> {
    let mut paths: Vec<String> = stored_manifest(swift, &row)
        .await?
        .into_iter()
        .map(|s| s.name)
        .collect();
    paths.push(format!("/{}/{}", row.container, row.name));
    let report = bulk::delete_paths(swift, caller, &row.account, &paths).await?;
    Ok(bulk::respond(req, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_cuts_across_pieces() {
        let p = |id: &str, offset, len| Segment {
            resource_id: id.into(),
            offset,
            len,
            inline: None,
        };
        let pieces = vec![p("a", 0, 10), p("b", 5, 10), p("c", 0, 10)];
        let got: Vec<(String, u64, u64)> = slice(pieces, 8, 14)
            .into_iter()
            .map(|s| (s.resource_id, s.offset, s.len))
            .collect();
        assert_eq!(
            got,
            [("a".into(), 8, 2), ("b".into(), 5, 10), ("c".into(), 0, 2)]
        );
    }
}
