//! Static Large Objects: manifest PUT (`?multipart-manifest=put`), GET of
//! the assembled content or of the manifest, and DELETE with segments.
//! The manifest itself is kept as the object's (small) resource.

use std::collections::BTreeMap;

use crate::http::{HttpRequest, HttpResponse, Response};
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

/// One entry as stored and returned by `?multipart-manifest=get`.
#[derive(Debug, Serialize, Deserialize, Clone)]
struct StoredSegment {
    name: String,
    hash: String,
    bytes: u64,
    content_type: String,
    last_modified: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    range: Option<String>,
}

/// Parses `a-b` against a segment size into (offset, len).
fn seg_range(r: &str, size: u64) -> Option<(u64, u64)> {
    match crate::range::parse(Some(&format!("bytes={r}")), size) {
        crate::range::Ranges::Some(v) if v.len() == 1 => Some((v[0].start, v[0].end - v[0].start)),
        _ => None,
    }
}

fn split(path: &str) -> Option<(String, String)> {
    let dec = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let t = dec.trim_start_matches('/');
    let (c, o) = t.split_once('/')?;
    (!c.is_empty() && !o.is_empty()).then(|| (c.to_string(), o.to_string()))
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
    let segs: Vec<PutSegment> = serde_json::from_slice(&raw)
        .map_err(|_| SwiftError::BadRequest("Manifest must be valid JSON.\n".into()))?;
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
    let mut errors = Vec::new();
    let mut stored = Vec::new();
    let mut etag_src = String::new();
    let mut total = 0u64;
    for s in &segs {
        if s.data.is_some() {
            errors.push((
                "data segment".to_string(),
                "Data segments are not supported".to_string(),
            ));
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
        if row.slo || row.manifest.is_some() {
            errors.push((
                path.clone(),
                "Nested large objects are not supported".into(),
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
        let (len, range) = match &s.range {
            Some(r) => match seg_range(r, row.size as u64) {
                Some((_, len)) => (len, Some(r.clone())),
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
            bytes: row.size as u64,
            content_type: row.content_type.clone(),
            last_modified: util::iso_timestamp(row.last_modified),
            range,
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

async fn stored_manifest(swift: &Swift, row: &ObjectRow) -> Result<Vec<StoredSegment>> {
    let info = swift.arch.info(&row.resource_id).await?;
    let raw = swift.arch.read_at(&row.resource_id, 0, info.size).await?;
    serde_json::from_slice(&raw).map_err(|e| {
        tracing::error!(error = %e, "stored SLO manifest does not parse");
        SwiftError::Storage(archipelago::Error::Corrupt("SLO manifest".into()))
    })
}

/// The segments an SLO's content is made of, checked against the manifest.
/// A segment that is gone or changed makes the object unreadable (409), as
/// in Swift.
pub async fn segments(swift: &Swift, caller: &Caller, row: &ObjectRow) -> Result<Vec<Segment>> {
    let mut out = Vec::new();
    // Swift's SLO reads each segment as the caller: every segment
    // container must be readable, not just the manifest's.
    let mut readable: std::collections::HashSet<String> = std::collections::HashSet::new();
    for s in stored_manifest(swift, row).await? {
        let (c, o) = split(&s.name).ok_or(SwiftError::Conflict)?;
        if !readable.contains(&c) {
            let crow = object::container_row(swift, &row.account, &c).await?;
            caller.require_read(
                swift,
                &row.account,
                crow.as_ref().and_then(|r| r.read_acl.as_deref()),
                false,
            )?;
            readable.insert(c.clone());
        }
        let seg = object::load(swift, &row.account, &c, &o)
            .await?
            .ok_or(SwiftError::Conflict)?;
        if seg.etag != s.hash {
            return Err(SwiftError::Conflict);
        }
        let (offset, len) = match &s.range {
            Some(r) => seg_range(r, seg.size as u64).ok_or(SwiftError::Conflict)?,
            None => (0, seg.size as u64),
        };
        out.push(Segment {
            resource_id: seg.resource_id,
            offset,
            len,
        });
    }
    Ok(out)
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
